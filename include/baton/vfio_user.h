/* SPDX-License-Identifier: MIT */
#ifndef BATON_VFIO_USER_H
#define BATON_VFIO_USER_H

/**
 * DOC: vfio-user client
 *
 * A driver reaches a device emulated in another process (devsim, or any
 * vfio-user server) through one Unix stream socket.  baton_vfu_connect()
 * opens it and negotiates the protocol version; every other call is one
 * synchronous request: the message is sent and the call waits, at most
 * BATON_VFU_TIMEOUT_MS unless changed, for the reply with the same
 * message id.  A handle is not thread-safe: one thread at a time.
 *
 * The device lives as long as the server sees the socket open.  Closing it
 * (baton_vfu_close()) makes the server reset the device as vfio-pci does on
 * last close: registers to power-on values, DMA mappings and interrupt
 * eventfds dropped.  To keep a device across a live update the program hands
 * the socket's fd to its next version and calls baton_vfu_forget(); the next
 * version wraps the fd with baton_vfu_adopt(), which does not negotiate again
 * (the server would refuse a second VERSION) and so does not disturb it.
 *
 * Errors: every function returns 0 or a negative errno; none is a
 * BATON_ERR_* code.
 *  - -EINVAL: a bad argument (NULL, count 0, offset overflow); or the
 *    server's own EINVAL, see below.
 *  - -ENOMEM: allocation failed.
 *  - When the server answered with an error reply: its errno, negated
 *    (-EINVAL for an access outside a region, -ENOTSUP for what it does
 *    not implement, -EEXIST for an overlapping DMA mapping...); -EPROTO if
 *    that reply carries no errno, or a number beyond any errno.
 *  - -ETIMEDOUT: no reply in time.  -EPIPE or -ECONNRESET: the server went
 *    away.  -EPROTO: the server sent something malformed.  After any of
 *    these the handle is unusable, every later call failing with the same
 *    code: the stream is at an unknown position (a late reply could not be
 *    told apart).  Any other -errno: the socket call that failed said so.
 *  - -EMFILE: the reply came, but the fd it carried did not, because the
 *    caller's fd table is full (RLIMIT_NOFILE); the handle stays usable.
 *  - -EPROTO also for a read's reply, whole, that does not echo the access
 *    asked (region, offset, count): the handle stays usable.
 *
 * Reads may also be sent without waiting, through the device handle
 * (baton_devio_read_submit(), <baton/devio.h>): up to 16 requests in
 * flight, their replies matched by message id.  baton_vfu_forget() first
 * reads the replies still due, so that the next holder never reads them.
 */

#include <stdbool.h>
#include <stdint.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/* How long a request waits for its reply unless baton_vfu_set_timeout(). */
#define BATON_VFU_TIMEOUT_MS 5000

struct baton_vfu;

/**
 * struct baton_vfu_region - what the server says about one region
 * @size:   bytes; 0 for a region the device does not have (an unused BAR)
 * @offset: the offset to give mmap() with @fd
 * @flags:  VFIO_REGION_INFO_FLAG_READ, _WRITE, _MMAP (<linux/vfio.h>)
 * @fd:     an fd to mmap() the region through, owned by the caller; -1
 *          when the region is not mappable
 */
struct baton_vfu_region {
	uint64_t size;
	uint64_t offset;
	uint32_t flags;
	int fd;
};

/* ---- Connections ---- */

/**
 * baton_vfu_connect() - connect to a vfio-user server and negotiate
 * @path: the server's Unix socket
 * @out:  the new handle, on success
 *
 * Sends VFIO_USER_VERSION 0.1 and checks the server's answer; learns the
 * largest transfer the server accepts (region accesses larger than that
 * are split).
 *
 * Return: 0; -EINVAL (@path or @out NULL), -ENAMETOOLONG (@path too long
 * for a socket address), -ENOMEM, the -errno of socket() or connect()
 * (-ENOENT: no such socket, -ECONNREFUSED: no server listens on it), or
 * the negotiation's error (as any request; -EPROTO for an answer that is
 * not 0.x).
 */
int baton_vfu_connect(const char *path, struct baton_vfu **out);

/**
 * baton_vfu_adopt() - wrap a connection negotiated by someone else
 * @fd:  a connected vfio-user socket, e.g. preserved by the previous version
 *       of the program; the handle owns it from now on, also on failure
 * @out: the new handle, on success
 *
 * Sends nothing: the server keeps the device exactly as the previous holder
 * left it.  The transfer limit is not known, so the default is assumed.
 *
 * Return: 0; -EINVAL (@fd negative: then nothing is closed), -ENOMEM.
 */
int baton_vfu_adopt(int fd, struct baton_vfu **out);

/**
 * baton_vfu_fd() - the connection's socket
 * @vfu: the handle
 *
 * For handing the connection to the next program version (with
 * baton_vfu_forget() afterwards).  Still owned by the handle.
 *
 * Return: the fd.
 */
int baton_vfu_fd(const struct baton_vfu *vfu);

/**
 * baton_vfu_set_timeout() - change how long requests wait for replies
 * @vfu: the handle
 * @ms:  milliseconds, > 0
 *
 * Return: 0, or -EINVAL for @ms <= 0.
 */
int baton_vfu_set_timeout(struct baton_vfu *vfu, int ms);

/**
 * baton_vfu_close() - close the connection and free the handle
 * @vfu: the handle, or NULL
 *
 * If no other process holds the socket, the server resets the device.
 */
void baton_vfu_close(struct baton_vfu *vfu);

/**
 * baton_vfu_forget() - free the handle, leave the socket open
 * @vfu: the handle, or NULL
 *
 * For a program that has handed baton_vfu_fd() to another holder (its next
 * version) which keeps the device alive; the fd is no longer this handle's
 * to close.
 */
void baton_vfu_forget(struct baton_vfu *vfu);

/* ---- Device description ---- */

/**
 * baton_vfu_device_info() - VFIO_USER_DEVICE_GET_INFO
 * @vfu:         the handle
 * @num_regions: set to the region count (9 for a PCI device); may be NULL
 * @num_irqs:    set to the interrupt type count; may be NULL
 *
 * Return: 0, -EINVAL, or a request's error (see the top of this file).
 */
int baton_vfu_device_info(struct baton_vfu *vfu, uint32_t *num_regions,
			  uint32_t *num_irqs);

/**
 * baton_vfu_region_info() - VFIO_USER_DEVICE_GET_REGION_INFO
 * @vfu:   the handle
 * @index: region index: VFIO_PCI_BAR0_REGION_INDEX..., the config space is
 *         VFIO_PCI_CONFIG_REGION_INDEX
 * @out:   filled on success; @out->fd is the caller's to close
 *
 * Return: 0, -EINVAL (also the server's, for an index the device does not
 * have), or a request's error.
 */
int baton_vfu_region_info(struct baton_vfu *vfu, uint32_t index,
			  struct baton_vfu_region *out);

/* ---- Region access ---- */

/**
 * baton_vfu_region_read() - VFIO_USER_REGION_READ
 * @vfu:    the handle
 * @index:  region index
 * @offset: byte offset in the region
 * @buf:    @count bytes to fill
 * @count:  > 0; register accesses use the register's width (4 or 8)
 *
 * Return: 0, -EINVAL (also the server's, for an access outside the
 * region), or a request's error.
 */
int baton_vfu_region_read(struct baton_vfu *vfu, uint32_t index,
			  uint64_t offset, void *buf, uint32_t count);

/**
 * baton_vfu_region_write() - VFIO_USER_REGION_WRITE
 * @vfu:    the handle
 * @index:  region index
 * @offset: byte offset in the region
 * @buf:    @count bytes to write
 * @count:  > 0
 *
 * Return: as baton_vfu_region_read().
 */
int baton_vfu_region_write(struct baton_vfu *vfu, uint32_t index,
			   uint64_t offset, const void *buf, uint32_t count);

/**
 * baton_vfu_read32() - read a 32-bit register
 * @vfu:    the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    set to the value
 *
 * Return: as baton_vfu_region_read().
 */
int baton_vfu_read32(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		     uint32_t *val);

/**
 * baton_vfu_write32() - write a 32-bit register
 * @vfu:    the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    the value
 *
 * Return: as baton_vfu_region_write().
 */
int baton_vfu_write32(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		      uint32_t val);

/**
 * baton_vfu_write64() - write a 64-bit register in one access
 * @vfu:    the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    the value
 *
 * Return: as baton_vfu_region_write().
 */
int baton_vfu_write64(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		      uint64_t val);

/**
 * baton_vfu_read64() - read a 64-bit register in one access
 * @vfu:    the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    set to the value
 *
 * Return: as baton_vfu_region_read().
 */
int baton_vfu_read64(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		     uint64_t *val);

/* ---- DMA, interrupts, reset ---- */

/**
 * baton_vfu_dma_map() - VFIO_USER_DMA_MAP: let the device reach memory
 * @vfu:      the handle
 * @iova:     the address the device will use for the memory's first byte
 * @size:     bytes, > 0
 * @fd:       a file the server mmap()s (a memfd); the server gets its own
 *            copy, the caller keeps @fd.  -1 sends no fd: devsim refuses
 *            that with ENOTSUP, since it does not do DMA over the socket.
 * @offset:   where the memory starts in @fd (page aligned)
 * @writable: whether the device may write (it may always read)
 *
 * Return: 0, -EINVAL (also the server's, when @fd is too short), the
 * server's -EEXIST when the range overlaps a mapping, or a request's error.
 */
int baton_vfu_dma_map(struct baton_vfu *vfu, uint64_t iova, uint64_t size,
		      int fd, uint64_t offset, bool writable);

/**
 * baton_vfu_dma_unmap() - VFIO_USER_DMA_UNMAP
 * @vfu:  the handle
 * @iova: exactly a mapping's @iova
 * @size: exactly its @size
 *
 * When this returns the server no longer touches the memory.
 *
 * Return: 0, -EINVAL (also the server's, when no mapping matches
 * exactly), or a request's error.
 */
int baton_vfu_dma_unmap(struct baton_vfu *vfu, uint64_t iova, uint64_t size);

/**
 * baton_vfu_set_irq() - route vector 0 of an interrupt type to an eventfd
 * @vfu:     the handle
 * @index:   VFIO_PCI_INTX_IRQ_INDEX or VFIO_PCI_MSI_IRQ_INDEX
 * @eventfd: the server writes 1 to it on each interrupt; the caller keeps
 *           it.  -1 disables the interrupt type.
 *
 * Return: 0, -EINVAL (also the server's, for a type with no vectors, or a
 * file that is not an eventfd), or a request's error.
 */
int baton_vfu_set_irq(struct baton_vfu *vfu, uint32_t index, int eventfd);

/**
 * baton_vfu_reset() - VFIO_USER_DEVICE_RESET
 * @vfu: the handle
 *
 * The same reset the server does when the connection closes, but the
 * connection stays.
 *
 * Return: 0, -EINVAL, or a request's error.
 */
int baton_vfu_reset(struct baton_vfu *vfu);

BATON__END_DECLS

#endif /* BATON_VFIO_USER_H */
