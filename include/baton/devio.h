/* SPDX-License-Identifier: MIT */
#ifndef BATON_DEVIO_H
#define BATON_DEVIO_H

/**
 * DOC: device I/O, whatever the backend
 *
 * A driver reaches its PCI device through a struct baton_devio: regions
 * (the config space, the BARs) read and written, memory mapped for the
 * device's DMA at an IOVA, interrupts routed to eventfds, a reset.  Two
 * backends implement it, and a driver written against this header runs
 * unchanged on either:
 *
 *  - vfio-user (<baton/vfio_user.h>): a device emulated in another process
 *    (devsim), one socket; baton_devio_vfu() wraps a connection;
 *  - the kernel's VFIO (<baton/vfio.h>): a real device bound to vfio-pci,
 *    through the type1 container and group, or through the iommufd cdev.
 *
 * Lifecycle across a live update.  The device lives as long as its fds
 * are open somewhere: closing the last one makes vfio-pci (or the
 * vfio-user server) reset it.  The holder:
 *
 *  1. preserves every fd of baton_devio_fds(), and the IOVA, size and
 *     memfd of each DMA mapping (its image state, its regions), and asks
 *     baton_devio_freeze_check() whether step 2 would be allowed;
 *  2. calls baton_devio_freeze() once nothing will start a DMA mapping
 *     change any more: type1 forgets this process's addresses of the
 *     mapped memory (VFIO_DMA_UNMAP_FLAG_VADDR; the IOMMU mappings and the
 *     device's DMA stay); the others do nothing.  An update that does not
 *     happen is undone by baton_devio_thaw();
 *  3. after the handover, lets go with baton_devio_forget(), which closes
 *     nothing.
 *
 * The next version calls baton_devio_adopt() (baton_vfio_adopt(), which
 * checks they are the device's) with the same fds in the same order
 * (nothing is sent to the device, nothing reset), and
 * baton_devio_dma_adopt() once for each mapping the previous version
 * made: the mapping is not made again - type1 is given this process's
 * address of the memory (VFIO_DMA_MAP_FLAG_VADDR), iommufd moves the
 * pinned-page accounting to this process (IOMMU_IOAS_CHANGE_PROCESS, done
 * by baton_devio_adopt()), vfio-user needs nothing.  docs/vfio.md says
 * what the kernel does meanwhile.
 *
 * A handle is not thread-safe.  Errors: 0 or a negative errno, as the
 * backend's calls return them (<baton/vfio_user.h>, <baton/vfio.h>);
 * -EINVAL for a bad argument, checked here before any backend sees it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <baton/image.h>
#include <baton/pci.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

struct baton_devio;
struct baton_vfu;

/* Which implementation a handle uses. */
enum baton_devio_backend {
	BATON_DEVIO_VFIO_USER = 1,	/* one socket */
	BATON_DEVIO_VFIO_TYPE1 = 2,	/* device, group, container */
	BATON_DEVIO_VFIO_IOMMUFD = 3,	/* device cdev, /dev/iommu */
};

/* The most fds a handle has (type1's device, group and container). */
#define BATON_DEVIO_MAX_FDS 3

/**
 * struct baton_devio_region - one region of the device
 * @size:     bytes; 0 for a region the device does not have (an unused BAR)
 * @offset:   the offset to give mmap() with @fd
 * @flags:    VFIO_REGION_INFO_FLAG_READ, _WRITE, _MMAP (<linux/vfio.h>)
 * @fd:       an fd to mmap() the region through, owned by the caller; -1
 *            when the region is not mappable
 * @reserved: zero
 */
struct baton_devio_region {
	uint64_t size;
	uint64_t offset;
	uint32_t flags;
	int fd;
	uint64_t reserved[2];
};

/* ---- Handles ---- */

/**
 * baton_devio_vfu() - a vfio-user connection as a device handle
 * @vfu: the connection; the handle owns it from now on, also on failure
 * @out: the new handle, on success
 *
 * Return: 0; -EINVAL (@vfu or @out NULL: then nothing is closed), -ENOMEM.
 */
int baton_devio_vfu(struct baton_vfu *vfu, struct baton_devio **out);

/**
 * baton_devio_adopt() - wrap the fds of a device the previous holder kept
 * @backend: the backend that opened them
 * @fds:     baton_devio_fds() of that holder, in its order; the handle
 *           owns them on success.  On failure they stay open and the
 *           caller's: a restore that fails leaves them to the version
 *           that comes back
 * @n:       how many: 1 (vfio-user), 3 (type1), 2 (iommufd)
 * @out:     the new handle, on success
 *
 * Nothing reaches the device.  iommufd moves the accounting of the pages
 * its mappings pin to this process (IOMMU_IOAS_CHANGE_PROCESS).  VFIO:
 * the fds are checked first to be what their places want and of one
 * device; baton_vfio_adopt() also checks which device (<baton/vfio.h>).
 *
 * Return: 0; -EINVAL (an unknown @backend, @n not its count, a negative
 * fd), -ENOMEM, -ENOTTY (an fd is not what the
 * backend needs), -ENODEV (VFIO: the fds are not of one device),
 * -EOPNOTSUPP (a library built without VFIO), or the kernel's -errno.
 */
int baton_devio_adopt(enum baton_devio_backend backend, const int *fds,
		      unsigned int n, struct baton_devio **out);

/**
 * baton_devio_backend() - the handle's backend
 * @io: the handle
 *
 * Return: its enum baton_devio_backend.
 */
enum baton_devio_backend baton_devio_backend(const struct baton_devio *io);

/**
 * baton_devio_fds() - the fds that keep the device alive
 * @io:    the handle
 * @fds:   filled with up to BATON_DEVIO_MAX_FDS fds, still the handle's
 * @kinds: filled with what each is, for baton_session_preserve_fd(); may
 *         be NULL
 *
 * Return: how many (1 to BATON_DEVIO_MAX_FDS).
 */
unsigned int baton_devio_fds(const struct baton_devio *io,
			     int fds[BATON_DEVIO_MAX_FDS],
			     enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS]);

/**
 * baton_devio_close() - close every fd and free the handle
 * @io: the handle, or NULL
 *
 * The device's DMA mappings go; if nobody else holds its fds, vfio-pci
 * (or the server) resets it.
 */
void baton_devio_close(struct baton_devio *io);

/**
 * baton_devio_forget() - free the handle, leave the device's fds open
 * @io: the handle, or NULL
 *
 * For a holder that has handed baton_devio_fds() to its next version.
 * The memory mappings the handle made for type1 are unmapped (the
 * IOMMU's mappings stay).
 */
void baton_devio_forget(struct baton_devio *io);

/* ---- Regions ---- */

/**
 * baton_devio_region_info() - what one region is
 * @io:    the handle
 * @index: VFIO_PCI_BAR0_REGION_INDEX..., VFIO_PCI_CONFIG_REGION_INDEX
 * @out:   filled on success; @out->fd is the caller's to close
 *
 * Return: 0, -EINVAL (also for an index the device does not have), or the
 * backend's error.
 */
int baton_devio_region_info(struct baton_devio *io, uint32_t index,
			    struct baton_devio_region *out);

/**
 * baton_devio_region_read() - read @count bytes of a region
 * @io:     the handle
 * @index:  region index
 * @offset: byte offset in the region
 * @buf:    @count bytes to fill
 * @count:  > 0; register accesses use the register's width (4 or 8)
 *
 * Return: 0, -EINVAL (also for an access outside the region), -EIO (a
 * short access), or the backend's error.
 */
int baton_devio_region_read(struct baton_devio *io, uint32_t index,
			    uint64_t offset, void *buf, uint32_t count);

/**
 * baton_devio_read_submit() - start a region read, its result collected later
 * @io:     the handle
 * @index:  region index
 * @offset: byte offset in the region
 * @buf:    @count bytes, filled by the time baton_devio_read_complete()
 *          returns; it must stay valid until then
 * @count:  > 0; register accesses use the register's width (4 or 8)
 *
 * For reads that need not be waited for one by one - a driver's restore()
 * proving its device was not reset, inside the blackout: vfio-user sends
 * the request and returns without waiting for the reply, so that every
 * device's reads are in flight together and each costs no round trip of
 * its own (the host calls each driver's restore_complete() once every
 * restore() has been called, struct baton_driver_ops).  At most 16
 * requests are in flight on a connection: a further one first waits for
 * the oldest replies.  Other calls on @io may come between: a reply that
 * arrives while one waits goes to its read.  The kernel's VFIO backends
 * read at once (a pread(), no process to wait for).
 *
 * Return: 0 when the read started; -EINVAL; or, vfio-user, the error that
 * lost the connection (-ETIMEDOUT, -EPIPE...), the read not started.  The
 * read's own result is baton_devio_read_complete()'s.
 */
int baton_devio_read_submit(struct baton_devio *io, uint32_t index,
			    uint64_t offset, void *buf, uint32_t count);

/**
 * baton_devio_read_complete() - wait for every read submitted on @io
 * @io: the handle
 *
 * Waits, at most the connection's timeout (BATON_VFU_TIMEOUT_MS), for
 * the replies of the reads baton_devio_read_submit() started since the
 * last call; every one has its reply, or has failed, when it returns.
 * The buffers of reads that failed hold nothing meaningful.
 *
 * Return: 0 when every read succeeded; else the first failure, as
 * baton_devio_region_read() reports it (the server's -errno, -ETIMEDOUT,
 * -EPROTO for a reply that does not answer the read - also one that does
 * not echo its region, offset and count...), -EINVAL for a NULL @io.
 */
int baton_devio_read_complete(struct baton_devio *io);

/**
 * baton_devio_region_write() - write @count bytes of a region
 * @io:     the handle
 * @index:  region index
 * @offset: byte offset in the region
 * @buf:    @count bytes to write
 * @count:  > 0
 *
 * Return: as baton_devio_region_read().
 */
int baton_devio_region_write(struct baton_devio *io, uint32_t index,
			     uint64_t offset, const void *buf, uint32_t count);

/**
 * baton_devio_read32() - read a 32-bit register
 * @io:     the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    set to the value
 *
 * Return: as baton_devio_region_read().
 */
int baton_devio_read32(struct baton_devio *io, uint32_t index, uint64_t offset,
		       uint32_t *val);

/**
 * baton_devio_write32() - write a 32-bit register
 * @io:     the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    the value
 *
 * Return: as baton_devio_region_write().
 */
int baton_devio_write32(struct baton_devio *io, uint32_t index, uint64_t offset,
			uint32_t val);

/**
 * baton_devio_write64() - write a 64-bit register in one access
 * @io:     the handle
 * @index:  region index
 * @offset: the register's offset
 * @val:    the value
 *
 * Kernels before 6.11 split it into two 4-byte accesses, low first.
 *
 * Return: as baton_devio_region_write().
 */
int baton_devio_write64(struct baton_devio *io, uint32_t index, uint64_t offset,
			uint64_t val);

/**
 * baton_devio_pci_ids() - the device's identity, from its config space
 * @io:  the handle
 * @ids: filled on success: vendor, device, subsystem ids, class code
 *
 * Return: as baton_devio_region_read().
 */
int baton_devio_pci_ids(struct baton_devio *io, struct baton_pci_ids *ids);

/* ---- DMA ---- */

/**
 * baton_devio_dma_map() - let the device reach memory at @iova
 * @io:       the handle
 * @iova:     the address the device uses for the memory's first byte
 * @size:     bytes, > 0, page aligned as @iova and @offset are
 * @fd:       the memory: a memfd (preserved, to outlive this process); the
 *            caller keeps it
 * @offset:   where the memory starts in @fd
 * @writable: whether the device may write (it may always read)
 *
 * vfio-user: the server maps @fd itself.  type1: the handle maps @fd
 * shared and gives the kernel that address (the pages are pinned).
 * iommufd: the mapping names the file (IOMMU_IOAS_MAP_FILE), not an
 * address of this process.
 *
 * Return: 0, -EINVAL, -EEXIST (the range overlaps a mapping), -ENOMEM, or
 * the backend's error.
 */
int baton_devio_dma_map(struct baton_devio *io, uint64_t iova, uint64_t size,
			int fd, uint64_t offset, bool writable);

/**
 * baton_devio_dma_unmap() - undo baton_devio_dma_map()
 * @io:   the handle
 * @iova: exactly a mapping's @iova
 * @size: exactly its @size
 *
 * When this returns the device no longer reaches the memory.
 *
 * Return: 0, -EINVAL (no mapping is exactly that), or the backend's error.
 */
int baton_devio_dma_unmap(struct baton_devio *io, uint64_t iova, uint64_t size);

/**
 * baton_devio_dma_adopt() - take over a mapping the previous holder made
 * @io:       a handle from baton_devio_adopt()
 * @iova:     the mapping's @iova, as it was made
 * @size:     its @size
 * @fd:       the same memory (the preserved memfd), the caller keeps it
 * @offset:   where the memory starts in @fd
 * @writable: as it was made
 *
 * Maps nothing for the device: its mapping stayed.  type1 maps @fd in
 * this process and hands the kernel the new address
 * (VFIO_DMA_MAP_FLAG_VADDR); the others only record the mapping, which
 * baton_devio_dma_unmap() and the next handover then know.
 *
 * Return: 0, -EINVAL, -EEXIST (the handle knows a mapping there already),
 * -ENOENT (type1: the kernel has no mapping there), -ENOMEM, or the
 * kernel's -errno (type1: -EINVAL when the mapping there is not exactly
 * this one or was not frozen).
 */
int baton_devio_dma_adopt(struct baton_devio *io, uint64_t iova, uint64_t size,
			  int fd, uint64_t offset, bool writable);

/**
 * baton_devio_freeze() - make the DMA mappings ready to change hands
 * @io: the handle
 *
 * type1: every mapping's address in this process is invalidated
 * (VFIO_DMA_UNMAP_FLAG_VADDR); the device's DMA goes on, only a new
 * pinning (mdev, another group) would wait until the next version supplies
 * the address.  Others: nothing.  Map or unmap nothing after this until
 * baton_devio_thaw().
 *
 * Return: 0, or the kernel's -errno: then every mapping has its address,
 * as before (type1 gives each its address again, in case one had been
 * invalidated behind the handle's back - the one reason besides an
 * emulated device's group that the kernel refuses).
 */
int baton_devio_freeze(struct baton_devio *io);

/**
 * baton_devio_freeze_check() - whether baton_devio_freeze() would be allowed
 * @io: the handle
 *
 * For a driver's preserve(), in PREPARE: what the kernel would refuse at
 * FREEZE is then known before anything is frozen.  type1: the container
 * must have VFIO_UPDATE_VADDR and VFIO_UNMAP_ALL, and the freeze is tried
 * and undone at once - every address invalidated, then each of the
 * handle's mappings given its address again - so that the kernel says
 * whether it takes the invalidation (-EBUSY: an emulated device's group
 * is in the container; -EINVAL: an address was invalid already) and
 * whether its mappings are the handle's (-ENOENT: the kernel has none at
 * one of the handle's IOVAs; -EINVAL: one is not exactly the handle's).
 * The device's DMA goes on meanwhile, as in the update's own window.
 * Each address is given back whatever the kernel said.  Others, and a
 * handle frozen already (preserve() runs again after FREEZE): 0.
 *
 * Return: 0, -EOPNOTSUPP, or the kernel's -errno.
 */
int baton_devio_freeze_check(struct baton_devio *io);

/**
 * baton_devio_thaw() - undo baton_devio_freeze(): the update did not happen
 * @io: the handle
 *
 * Return: 0, or the kernel's -errno.
 */
int baton_devio_thaw(struct baton_devio *io);

/* ---- Interrupts, reset ---- */

/**
 * baton_devio_set_irq() - route vector 0 of an interrupt type to an eventfd
 * @io:      the handle
 * @index:   VFIO_PCI_INTX_IRQ_INDEX or VFIO_PCI_MSI_IRQ_INDEX
 * @eventfd: signalled on each interrupt; the caller keeps it.  -1 disables
 *           the interrupt type.
 *
 * The eventfd stays routed while the device's fds stay open: a preserved
 * eventfd keeps receiving interrupts in the next version.
 *
 * Return: 0, -EINVAL, or the backend's error.
 */
int baton_devio_set_irq(struct baton_devio *io, uint32_t index, int eventfd);

/**
 * baton_devio_unmask_irq() - let vector 0 of an interrupt type fire again
 * @io:    the handle
 * @index: VFIO_PCI_INTX_IRQ_INDEX or VFIO_PCI_MSI_IRQ_INDEX
 *
 * vfio-pci masks INTx, a level-triggered line, each time it fires: the
 * driver quiets the device (acknowledges the interrupt in the device's
 * registers) and then unmasks, or no further INTx reaches the eventfd.
 * MSI is never masked that way, nor is anything on vfio-user (devsim
 * does not mask): this is then a no-op.  A driver that may be given
 * either calls it after each interrupt whatever the type.
 *
 * Return: 0, -EINVAL, or the kernel's -errno.
 */
int baton_devio_unmask_irq(struct baton_devio *io, uint32_t index);

/**
 * baton_devio_reset() - reset the device, keeping the handle
 * @io: the handle
 *
 * Return: 0, -ENOTTY (VFIO: the device has no reset), or the backend's
 * error.
 */
int baton_devio_reset(struct baton_devio *io);

BATON__END_DECLS

#endif /* BATON_DEVIO_H */
