// SPDX-License-Identifier: MIT
/**
 * DOC: devsim vfio-user server
 *
 * Each device listens on DIR/DDDD:BB:DD.F.sock.  Lifecycle of a client:
 *
 *  1. accept: if the device already has a client the new connection is
 *     closed at once (logged): one owner per device, as with vfio-pci.
 *  2. The first message must be VFIO_USER_VERSION; anything else before it
 *     is answered EINVAL.  Major 0 is the only one; another gets ENOTSUP
 *     and the connection closes, as the spec says.
 *  3. Commands are read into a per-connection buffer and framed by the
 *     header's size: several messages in one read and one message over
 *     several reads both work.  A size below the header or above
 *     VFIO_USER_MAX_MSG_SIZE cannot be framed, so the connection closes.
 *  4. On close (EOF, error, a client that does not read its replies) the
 *     device is reset: registers to power-on values, DMA mappings unmapped,
 *     eventfds closed, resets += 1.
 *
 * File descriptors arrive as SCM_RIGHTS.  The kernel delivers a message's
 * fds with the read that ends inside (or at the end of) the bytes they were
 * sent with, so they are attributed to the message holding the last byte of
 * that read.  A handler takes the fds it expects; the rest are closed.
 * Every request is validated completely before it changes anything, and a
 * bad one gets an error reply with the errno the spec or VFIO would give.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/pci_regs.h>

#include "devsim.h"
#include "internal.h"
#include "backends/vfio-user/protocol.h"

/* More pending fds than this without a message to own them: hostile. */
#define CONN_MAX_PENDING_FDS 32
#define CONN_BUF_MIN (64u << 10)
/* At most this many DMA windows per client (max_dma_maps). */
#define DEVSIM_MAX_DMA_MAPS 64

struct pending_fd {
	int fd;
	uint64_t pos;	/* stream offset of the last byte read with it */
};

struct devsim_conn {
	struct devsim_watch watch;
	struct devsim_dev *dev;
	bool negotiated;
	bool dead;		/* a reply could not be sent: close after dispatch */
	uint8_t *buf;
	size_t len, cap;
	uint64_t base;		/* stream offset of buf[0] */
	struct pending_fd fds[CONN_MAX_PENDING_FDS];
	unsigned int nfds;
};

/* A request being handled: its header, payload and fds. */
struct request {
	struct devsim_conn *conn;
	const struct vfio_user_header *hdr;
	const uint8_t *payload;
	size_t len;
	int fds[CONN_MAX_PENDING_FDS];
	unsigned int nfds;
	bool replied;
};

/* ---- Replies ---- */

static void send_reply(struct request *req, uint32_t error,
		       const struct iovec *body, int nbody, int fd)
{
	struct devsim_conn *conn = req->conn;
	char control[CMSG_SPACE(sizeof(int))];
	struct vfio_user_header h = {
		.msg_id = req->hdr->msg_id,
		.cmd = req->hdr->cmd,
		.size = sizeof(h),
		.flags = VFIO_USER_F_TYPE_REPLY | (error ? VFIO_USER_F_ERROR : 0),
		.error = error,
	};
	struct iovec iov[3] = { { &h, sizeof(h) } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 1 };
	size_t total;
	ssize_t n;

	req->replied = true;
	if (req->hdr->flags & VFIO_USER_F_NO_REPLY) {
		if (error)
			devsim_log("%s: command %u failed (errno %u), no reply asked",
				   conn->dev->name, req->hdr->cmd, error);
		return;
	}
	for (int i = 0; i < nbody; i++) {
		iov[i + 1] = body[i];
		h.size += (uint32_t)body[i].iov_len;
	}
	msg.msg_iovlen = (size_t)nbody + 1;
	if (fd >= 0)
		baton_scm_attach_fds(&msg, control, &fd, 1);
	total = h.size;
	/*
	 * Never block the loop on one client: a reply that does not fit in the
	 * socket buffer means the client stopped reading, and it loses the
	 * connection rather than stalling every other device.
	 */
	do
		n = sendmsg(conn->watch.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)total) {
		if (n < 0)
			devsim_log("%s: reply: %m", conn->dev->name);
		else
			devsim_log("%s: client does not read its replies", conn->dev->name);
		conn->dead = true;
	}
}

static void reply_error(struct request *req, int error)
{
	send_reply(req, (uint32_t)error, NULL, 0, -1);
}

static void reply_ok(struct request *req, const void *body, size_t len)
{
	struct iovec iov = { (void *)body, len };

	send_reply(req, 0, &iov, len ? 1 : 0, -1);
}

/* Take the request's first fd, if any: the handler now owns it. */
static int take_fd(struct request *req)
{
	for (unsigned int i = 0; i < req->nfds; i++) {
		int fd = req->fds[i];

		if (fd >= 0) {
			req->fds[i] = -1;
			return fd;
		}
	}
	return -1;
}

static unsigned int count_fds(const struct request *req)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < req->nfds; i++)
		n += req->fds[i] >= 0;
	return n;
}

/* ---- Device state shared by all types ---- */

void *devsim_dma(struct devsim_dev *dev, uint64_t iova, uint64_t len, bool write)
{
	if (!len || iova + len < iova)
		return NULL;
	for (unsigned int i = 0; i < dev->ndma; i++) {
		const struct devsim_dma_map *m = &dev->dma[i];

		if (iova >= m->iova && iova - m->iova <= m->size &&
		    len <= m->size - (iova - m->iova)) {
			if (write && !m->writable)
				return NULL;
			return m->addr + (iova - m->iova);
		}
	}
	return NULL;
}

static int irq_fd(const struct devsim_dev *dev)
{
	int fd = dev->irq_fd[VFIO_PCI_MSI_IRQ_INDEX];

	return fd >= 0 ? fd : dev->irq_fd[VFIO_PCI_INTX_IRQ_INDEX];
}

/*
 * Write 1 to each of @n devices' eventfds that can take it.  The eventfd
 * is the client's, blocking if the client made it so, and a write that
 * would take its counter past the maximum then blocks the whole loop.
 * Write only when POLLOUT says 1 more fits; otherwise the counter is
 * saturated, the client has interrupts pending, and this one merges with
 * them (the kernel's eventfd_signal() never blocks either).  Only the
 * client itself, writing its eventfd between the poll and the write, could
 * still make the write block.  One poll() for them all.
 *
 * With @merge, an interrupt still pending - the eventfd not read since it
 * was last written (POLLIN) - is not written again, as an interrupt
 * controller does not raise a pending interrupt twice: the driver, which
 * reads its eventfd before it looks at what the device published, has yet
 * to see this too.  The fence orders what the device published before
 * the look at the counter.
 */
static void irq_write(struct devsim_dev *const *devs, unsigned int n, bool merge)
{
	static const uint64_t one = 1;
	struct pollfd p[DEVSIM_IRQ_BATCH];

	if (!n)
		return;
	for (unsigned int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = irq_fd(devs[i]),
					.events = POLLOUT | (merge ? POLLIN : 0) };
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (poll(p, n, 0) <= 0)
		return;
	for (unsigned int i = 0; i < n; i++)
		if ((p[i].revents & (POLLOUT | POLLIN)) == POLLOUT &&
		    write(p[i].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			devsim_log("%s: irq eventfd: %m", devs[i]->name);
}

bool devsim_irq(struct devsim_dev *dev)
{
	struct devsim *sim = dev->sim;

	if (irq_fd(dev) < 0)
		return false;
	if (!sim->irq_batch) {
		irq_write(&dev, 1, false);
		return true;
	}
	sim->irqs[sim->n_irqs++] = dev;
	if (sim->n_irqs == DEVSIM_IRQ_BATCH)
		devsim_irq_flush(sim);
	return true;
}

void devsim_irq_flush(struct devsim *sim)
{
	irq_write(sim->irqs, sim->n_irqs, true);
	sim->n_irqs = 0;
}

static void dma_unmap_one(struct devsim_dma_map *m)
{
	munmap(m->addr, m->size);
}

static void dma_drop_all(struct devsim_dev *dev)
{
	for (unsigned int i = 0; i < dev->ndma; i++)
		dma_unmap_one(&dev->dma[i]);
	free(dev->dma);
	dev->dma = NULL;
	dev->ndma = 0;
}

static void irq_drop_all(struct devsim_dev *dev)
{
	for (int i = 0; i < DEVSIM_NUM_IRQS; i++) {
		if (dev->irq_fd[i] >= 0)
			close(dev->irq_fd[i]);
		dev->irq_fd[i] = -1;
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void config_power_on(struct devsim_dev *dev)
{
	uint8_t *c = dev->config;

	memset(c, 0, DEVSIM_CONFIG_SIZE);
	put16(c + PCI_VENDOR_ID, dev->type->vendor);
	put16(c + PCI_DEVICE_ID, dev->type->device);
	c[PCI_REVISION_ID] = 0x01;
	c[PCI_CLASS_PROG] = (uint8_t)dev->type->class_code;
	c[PCI_CLASS_DEVICE] = (uint8_t)(dev->type->class_code >> 8);
	c[PCI_CLASS_DEVICE + 1] = (uint8_t)(dev->type->class_code >> 16);
	/* QEMU's subsystem ids, which edu drivers written for QEMU expect. */
	put16(c + PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
	put16(c + PCI_SUBSYSTEM_ID, 0x1100);
	c[PCI_INTERRUPT_PIN] = 0x01;	/* INTA */
}

void devsim_dev_reset(struct devsim_dev *dev)
{
	dma_drop_all(dev);
	irq_drop_all(dev);
	/* The type may account for what the reset throws away: before power-on. */
	dev->type->reset(dev);
	config_power_on(dev);
	dev->resets++;
	dev->tick_at = 0;
}

bool devsim_dev_connected(const struct devsim_dev *dev)
{
	return dev->conn != NULL;
}

/* ---- Config space: 256 bytes, only the command register writable ---- */

#define PCI_COMMAND_WRITABLE 0x0547u

static void config_read(struct devsim_dev *dev, uint64_t off, uint8_t *buf,
			uint32_t count)
{
	memcpy(buf, dev->config + off, count);
}

static void config_write(struct devsim_dev *dev, uint64_t off,
			 const uint8_t *buf, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		uint64_t at = off + i;
		unsigned int mask;

		if (at != PCI_COMMAND && at != PCI_COMMAND + 1)
			continue;
		mask = (PCI_COMMAND_WRITABLE >> (8 * (at - PCI_COMMAND))) & 0xff;
		dev->config[at] = (uint8_t)((dev->config[at] & ~mask) | (buf[i] & mask));
	}
}

/*
 * A trapped access of any length, as naturally aligned pieces of at most
 * 8 bytes: the type sees the accesses a CPU would make.
 */
static void trapped_access(struct devsim_dev *dev, uint32_t region,
			   uint64_t off, uint8_t *buf, uint32_t count, bool write)
{
	while (count) {
		unsigned int size = 8;
		uint64_t val = 0;

		while (size > count || off % size)
			size /= 2;
		if (write) {
			memcpy(&val, buf, size);
			dev->type->write(dev, region, off, size, val);
		} else {
			val = dev->type->read(dev, region, off, size);
			memcpy(buf, &val, size);
		}
		off += size;
		buf += size;
		count -= size;
	}
}

/* ---- Commands ---- */

static void handle_version(struct request *req)
{
	static const char caps[] =
		"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":65536,"
		"\"max_dma_maps\":64,\"pgsizes\":4096}}";
	struct vfio_user_version v;
	struct iovec body[2];

	if (req->conn->negotiated)
		return reply_error(req, EINVAL);
	if (req->len < sizeof(v))
		return reply_error(req, EINVAL);
	memcpy(&v, req->payload, sizeof(v));
	if (v.major != VFIO_USER_MAJOR) {
		devsim_log("%s: client speaks vfio-user %u.%u, closing",
			   req->conn->dev->name, v.major, v.minor);
		reply_error(req, ENOTSUP);
		req->conn->dead = true;
		return;
	}
	if (req->len > sizeof(v)) {
		const char *json = (const char *)req->payload + sizeof(v);
		size_t jlen = req->len - sizeof(v);
		struct json_object *o;

		if (json[jlen - 1] != '\0' || strlen(json) != jlen - 1)
			return reply_error(req, EINVAL);
		o = json_tokener_parse(json);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return reply_error(req, EINVAL);
		}
		/* Every capability a client may announce only limits what we
		 * send, and we send at most one fd and no DMA commands. */
		json_object_put(o);
	}
	if (v.minor > VFIO_USER_MINOR)
		v.minor = VFIO_USER_MINOR;
	req->conn->negotiated = true;
	body[0] = (struct iovec){ &v, sizeof(v) };
	body[1] = (struct iovec){ (void *)caps, sizeof(caps) };
	send_reply(req, 0, body, 2, -1);
}

static void handle_dma_map(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	struct vfio_user_dma_map m;
	struct devsim_dma_map *maps;
	struct stat st;
	void *addr;
	int fd, prot, seals, err;

	if (req->len != sizeof(m))
		return reply_error(req, EINVAL);
	memcpy(&m, req->payload, sizeof(m));
	if (m.argsz < sizeof(m) ||
	    m.flags & ~(VFIO_USER_DMA_READ_FLAG | VFIO_USER_DMA_WRITE_FLAG) ||
	    !m.size || m.addr + m.size < m.addr || m.size > SIZE_MAX ||
	    m.offset % (uint64_t)sysconf(_SC_PAGESIZE) || m.offset > (uint64_t)LLONG_MAX)
		return reply_error(req, EINVAL);
	/* Without an fd the server would need DMA_READ/WRITE messages. */
	if (count_fds(req) != 1)
		return reply_error(req, count_fds(req) ? EINVAL : ENOTSUP);
	for (unsigned int i = 0; i < dev->ndma; i++) {
		const struct devsim_dma_map *o = &dev->dma[i];

		if (m.addr < o->iova + o->size && o->iova < m.addr + m.size)
			return reply_error(req, EEXIST);
	}
	if (dev->ndma >= DEVSIM_MAX_DMA_MAPS)
		return reply_error(req, ENOSPC);
	fd = take_fd(req);
	/*
	 * A mapping past the end of a file would SIGBUS the emulator on first
	 * touch: refuse what is too short now, and a file the client could
	 * shrink later - only a memfd sealed with F_SEAL_SHRINK cannot.
	 */
	seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    seals < 0 || !(seals & F_SEAL_SHRINK) ||
	    (uint64_t)st.st_size < m.offset ||
	    (uint64_t)st.st_size - m.offset < m.size) {
		close(fd);
		return reply_error(req, EINVAL);
	}
	prot = PROT_READ | (m.flags & VFIO_USER_DMA_WRITE_FLAG ? PROT_WRITE : 0);
	addr = mmap(NULL, m.size, prot, MAP_SHARED, fd, (off_t)m.offset);
	err = errno;
	/* The mapping holds the file; the fd itself is no longer needed. */
	close(fd);
	if (addr == MAP_FAILED)
		return reply_error(req, err);
	maps = realloc(dev->dma, sizeof(*maps) * (dev->ndma + 1));
	if (!maps) {
		munmap(addr, m.size);
		return reply_error(req, ENOMEM);
	}
	dev->dma = maps;
	maps[dev->ndma++] = (struct devsim_dma_map){
		.iova = m.addr,
		.size = m.size,
		.addr = addr,
		.writable = m.flags & VFIO_USER_DMA_WRITE_FLAG,
	};
	reply_ok(req, NULL, 0);
}

static void handle_dma_unmap(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	struct vfio_user_dma_unmap u;

	if (req->len != sizeof(u))
		return reply_error(req, EINVAL);
	memcpy(&u, req->payload, sizeof(u));
	if (u.argsz < sizeof(u))
		return reply_error(req, EINVAL);
	/* Dirty bitmaps and unmap-all are not implemented. */
	if (u.flags)
		return reply_error(req, ENOTSUP);
	for (unsigned int i = 0; i < dev->ndma; i++) {
		if (dev->dma[i].iova != u.addr || dev->dma[i].size != u.size)
			continue;
		dma_unmap_one(&dev->dma[i]);
		dev->dma[i] = dev->dma[--dev->ndma];
		return reply_ok(req, &u, sizeof(u));
	}
	reply_error(req, EINVAL);
}

static void handle_device_info(struct request *req)
{
	struct vfio_user_device_info info;

	if (req->len < sizeof(info))
		return reply_error(req, EINVAL);
	memcpy(&info, req->payload, sizeof(info));
	if (info.argsz < sizeof(info))
		return reply_error(req, EINVAL);
	info = (struct vfio_user_device_info){
		.argsz = sizeof(info),
		.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
		.num_regions = DEVSIM_NUM_REGIONS,
		.num_irqs = DEVSIM_NUM_IRQS,
	};
	reply_ok(req, &info, sizeof(info));
}

static void handle_region_info(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	struct vfio_user_region_info info;
	const struct devsim_region *r;
	struct iovec body;

	if (req->len < sizeof(info))
		return reply_error(req, EINVAL);
	memcpy(&info, req->payload, sizeof(info));
	if (info.argsz < sizeof(info) || info.index >= DEVSIM_NUM_REGIONS)
		return reply_error(req, EINVAL);
	r = &dev->regions[info.index];
	info = (struct vfio_user_region_info){
		.argsz = sizeof(info),
		.flags = r->flags,
		.index = info.index,
		.size = r->size,
	};
	body = (struct iovec){ &info, sizeof(info) };
	send_reply(req, 0, &body, 1,
		   r->flags & VFIO_REGION_INFO_FLAG_MMAP ? r->fd : -1);
}

static void handle_irq_info(struct request *req)
{
	struct vfio_user_irq_info info;
	uint32_t index;

	if (req->len < sizeof(info))
		return reply_error(req, EINVAL);
	memcpy(&info, req->payload, sizeof(info));
	if (info.argsz < sizeof(info) || info.index >= DEVSIM_NUM_IRQS)
		return reply_error(req, EINVAL);
	index = info.index;
	info = (struct vfio_user_irq_info){ .argsz = sizeof(info), .index = index };
	if (index == VFIO_PCI_INTX_IRQ_INDEX || index == VFIO_PCI_MSI_IRQ_INDEX) {
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		info.count = 1;
	}
	reply_ok(req, &info, sizeof(info));
}

static void handle_set_irqs(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	const uint32_t data = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_DATA_EVENTFD;
	struct vfio_user_irq_set s;
	uint32_t vectors;
	unsigned int nfds = count_fds(req);
	int fd;

	if (req->len < sizeof(s))
		return reply_error(req, EINVAL);
	memcpy(&s, req->payload, sizeof(s));
	if (s.flags & ~(data | VFIO_IRQ_SET_ACTION_TYPE_MASK) ||
	    __builtin_popcount(s.flags & data) != 1 ||
	    __builtin_popcount(s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) != 1 ||
	    s.index >= DEVSIM_NUM_IRQS || s.argsz < sizeof(s))
		return reply_error(req, EINVAL);
	if (!(s.flags & VFIO_IRQ_SET_ACTION_TRIGGER))
		return reply_error(req, ENOTSUP);	/* no masking */
	vectors = s.index == VFIO_PCI_INTX_IRQ_INDEX ||
		  s.index == VFIO_PCI_MSI_IRQ_INDEX;

	if (s.flags & VFIO_IRQ_SET_DATA_NONE) {
		if (req->len != sizeof(s) || nfds)
			return reply_error(req, EINVAL);
		if (s.start == 0 && s.count == 0) {
			/* Disable the whole type. */
			if (dev->irq_fd[s.index] >= 0)
				close(dev->irq_fd[s.index]);
			dev->irq_fd[s.index] = -1;
			return reply_ok(req, NULL, 0);
		}
		if (s.start != 0 || s.count != 1 || !vectors)
			return reply_error(req, EINVAL);
		/* The client triggers the interrupt itself. */
		devsim_irq(dev);
		return reply_ok(req, NULL, 0);
	}
	if (s.start > vectors || s.count > vectors - s.start)
		return reply_error(req, EINVAL);
	if (s.flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (req->len != sizeof(s) + s.count || nfds)
			return reply_error(req, EINVAL);
		if (s.count && req->payload[sizeof(s)])
			devsim_irq(dev);
		return reply_ok(req, NULL, 0);
	}
	/* DATA_EVENTFD: one fd per vector, or none to unassign. */
	if (req->len != sizeof(s) || (nfds && nfds != s.count))
		return reply_error(req, EINVAL);
	if (s.count == 0)
		return reply_ok(req, NULL, 0);
	fd = take_fd(req);
	if (fd >= 0) {
		char link[64], path[32];
		ssize_t n;

		/* Writing 8 bytes to anything else (a file...) would corrupt it. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]"))) {
			close(fd);
			return reply_error(req, EINVAL);
		}
	}
	if (dev->irq_fd[s.index] >= 0)
		close(dev->irq_fd[s.index]);
	dev->irq_fd[s.index] = fd;
	reply_ok(req, NULL, 0);
}

/* Check a REGION_READ/WRITE; 0 or the errno to answer. */
static int check_access(struct devsim_dev *dev,
			const struct vfio_user_region_access *a, bool write)
{
	const struct devsim_region *r;

	if (a->region >= DEVSIM_NUM_REGIONS || !a->count ||
	    a->count > VFIO_USER_MAX_DATA_XFER)
		return EINVAL;
	r = &dev->regions[a->region];
	if (!(r->flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return EINVAL;
	if (a->offset > r->size || a->count > r->size - a->offset)
		return EINVAL;
	return 0;
}

static void region_access(struct devsim_dev *dev,
			  const struct vfio_user_region_access *a, uint8_t *buf,
			  bool write)
{
	struct devsim_region *r = &dev->regions[a->region];

	if (a->region == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (write)
			config_write(dev, a->offset, buf, a->count);
		else
			config_read(dev, a->offset, buf, a->count);
	} else if (r->mem) {
		if (write)
			memcpy(r->mem + a->offset, buf, a->count);
		else
			memcpy(buf, r->mem + a->offset, a->count);
	} else {
		trapped_access(dev, a->region, a->offset, buf, a->count, write);
	}
}

static void handle_region_read(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	struct vfio_user_region_access a;
	struct iovec body[2];
	uint8_t *data;
	int err;

	if (req->len != sizeof(a))
		return reply_error(req, EINVAL);
	memcpy(&a, req->payload, sizeof(a));
	err = check_access(dev, &a, false);
	if (err)
		return reply_error(req, err);
	data = malloc(a.count);
	if (!data)
		return reply_error(req, ENOMEM);
	region_access(dev, &a, data, false);
	body[0] = (struct iovec){ &a, sizeof(a) };
	body[1] = (struct iovec){ data, a.count };
	send_reply(req, 0, body, 2, -1);
	free(data);
}

static void handle_region_write(struct request *req)
{
	struct devsim_dev *dev = req->conn->dev;
	struct vfio_user_region_access a;
	uint8_t *data;
	int err;

	if (req->len < sizeof(a))
		return reply_error(req, EINVAL);
	memcpy(&a, req->payload, sizeof(a));
	if (req->len - sizeof(a) != a.count)
		return reply_error(req, EINVAL);
	err = check_access(dev, &a, true);
	if (err)
		return reply_error(req, err);
	/* The payload is not aligned for the device's accesses: copy it. */
	data = malloc(a.count);
	if (!data)
		return reply_error(req, ENOMEM);
	memcpy(data, req->payload + sizeof(a), a.count);
	region_access(dev, &a, data, true);
	free(data);
	reply_ok(req, &a, sizeof(a));
}

static void handle_reset(struct request *req)
{
	if (req->len)
		return reply_error(req, EINVAL);
	devsim_log("%s: reset by the client", req->conn->dev->name);
	devsim_dev_reset(req->conn->dev);
	reply_ok(req, NULL, 0);
}

static void dispatch(struct request *req)
{
	const struct vfio_user_header *h = req->hdr;
	struct devsim_conn *conn = req->conn;

	/* What the client does may give the device work: its next tick. */
	conn->dev->tick_at = 0;
	if ((h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND) {
		/* We send no commands, so no reply can be expected: drop it. */
		devsim_log("%s: unexpected message type %u, dropped", conn->dev->name,
			   h->flags & VFIO_USER_F_TYPE_MASK);
		return;
	}
	if (h->cmd == VFIO_USER_VERSION)
		return handle_version(req);
	if (!conn->negotiated)
		return reply_error(req, EINVAL);

	switch (h->cmd) {
	case VFIO_USER_DMA_MAP:
		return handle_dma_map(req);
	case VFIO_USER_DMA_UNMAP:
		return handle_dma_unmap(req);
	case VFIO_USER_DEVICE_GET_INFO:
		return handle_device_info(req);
	case VFIO_USER_DEVICE_GET_REGION_INFO:
		return handle_region_info(req);
	case VFIO_USER_DEVICE_GET_IRQ_INFO:
		return handle_irq_info(req);
	case VFIO_USER_DEVICE_SET_IRQS:
		return handle_set_irqs(req);
	case VFIO_USER_REGION_READ:
		return handle_region_read(req);
	case VFIO_USER_REGION_WRITE:
		return handle_region_write(req);
	case VFIO_USER_DEVICE_RESET:
		return handle_reset(req);
	default:
		/* DMA_READ/WRITE go the other way; the rest are not implemented. */
		return reply_error(req, ENOTSUP);
	}
}

/* ---- Connections ---- */

static void conn_close(struct devsim_conn *conn)
{
	struct devsim_dev *dev = conn->dev;

	devsim_watch_del(dev->sim, &conn->watch);
	close(conn->watch.fd);
	for (unsigned int i = 0; i < conn->nfds; i++)
		close(conn->fds[i].fd);
	free(conn->buf);
	free(conn);
	dev->conn = NULL;
	devsim_dev_reset(dev);
}

/* Hand the message at the front of the buffer to its handler. */
static void conn_message(struct devsim_conn *conn, const struct vfio_user_header *h)
{
	struct request req = {
		.conn = conn,
		.hdr = h,
		.payload = conn->buf + sizeof(*h),
		.len = h->size - sizeof(*h),
	};
	uint64_t end = conn->base + h->size;
	unsigned int kept = 0, stray = 0;

	for (unsigned int i = 0; i < conn->nfds; i++) {
		if (conn->fds[i].pos < end)
			req.fds[req.nfds++] = conn->fds[i].fd;
		else
			conn->fds[kept++] = conn->fds[i];
	}
	conn->nfds = kept;

	dispatch(&req);
	for (unsigned int i = 0; i < req.nfds; i++) {
		if (req.fds[i] < 0)
			continue;
		close(req.fds[i]);
		stray++;
	}
	if (stray)
		devsim_log("%s: closed %u fd(s) sent with command %u",
			   conn->dev->name, stray, h->cmd);
}

/* Frame and handle every complete message; false to close the connection. */
static bool conn_process(struct devsim_conn *conn)
{
	size_t off = 0;

	while (!conn->dead && conn->len - off >= sizeof(struct vfio_user_header)) {
		struct vfio_user_header h;

		memcpy(&h, conn->buf + off, sizeof(h));
		if (h.size < sizeof(h) || h.size > VFIO_USER_MAX_MSG_SIZE) {
			devsim_log("%s: message size %u cannot be framed, closing",
				   conn->dev->name, h.size);
			return false;
		}
		if (conn->len - off < h.size) {
			if (h.size > conn->cap) {
				uint8_t *nb;

				/* Compact first so the buffer grows only to one message. */
				memmove(conn->buf, conn->buf + off, conn->len - off);
				conn->len -= off;
				conn->base += off;
				off = 0;
				nb = realloc(conn->buf, h.size);
				if (!nb) {
					devsim_log("%s: out of memory, closing", conn->dev->name);
					return false;
				}
				conn->buf = nb;
				conn->cap = h.size;
			}
			break;
		}
		/* Handlers see the message at the buffer's start. */
		if (off) {
			memmove(conn->buf, conn->buf + off, conn->len - off);
			conn->len -= off;
			conn->base += off;
			off = 0;
		}
		conn_message(conn, &h);
		off = h.size;
	}
	memmove(conn->buf, conn->buf + off, conn->len - off);
	conn->len -= off;
	conn->base += off;
	return !conn->dead;
}

static void conn_handle(struct devsim_watch *w, uint32_t events)
{
	struct devsim_conn *conn = (struct devsim_conn *)w;
	char control[CMSG_SPACE(sizeof(int) * VFIO_USER_MAX_MSG_FDS)];
	struct iovec iov = { conn->buf + conn->len, conn->cap - conn->len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	int got[CONN_MAX_PENDING_FDS];
	size_t room, carried;
	ssize_t n;

	(void)events;
	if (!iov.iov_len) {
		/* conn_process() always leaves room; a full buffer is a bug. */
		devsim_log("%s: receive buffer full, closing", conn->dev->name);
		return conn_close(conn);
	}
	n = recvmsg(w->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			devsim_log("%s: %m", conn->dev->name);
		if (conn->len)
			devsim_log("%s: client left in the middle of a message",
				   conn->dev->name);
		devsim_log("%s: client disconnected, device reset", conn->dev->name);
		return conn_close(conn);
	}
	conn->len += (size_t)n;
	if (msg.msg_flags & MSG_CTRUNC)
		devsim_log("%s: too many fds in one message, extra ones dropped",
			   conn->dev->name);
	room = CONN_MAX_PENDING_FDS - conn->nfds;
	carried = baton_scm_take_fds(&msg, got, room);
	for (size_t i = 0; i < carried && i < room; i++)
		conn->fds[conn->nfds++] = (struct pending_fd){
			.fd = got[i],
			.pos = conn->base + conn->len - 1,
		};
	if (carried > room)
		conn->dead = true;
	if (conn->dead) {
		devsim_log("%s: fds sent without messages, closing", conn->dev->name);
		return conn_close(conn);
	}
	if (!conn_process(conn)) {
		devsim_log("%s: connection closed, device reset", conn->dev->name);
		conn_close(conn);
	}
}

static bool conn_hung_up(const struct devsim_conn *conn)
{
	struct pollfd p = { .fd = conn->watch.fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void listen_handle(struct devsim_watch *w, uint32_t events)
{
	struct devsim_dev *dev = (struct devsim_dev *)((char *)w -
						      offsetof(struct devsim_dev, listen));
	struct devsim_conn *conn;
	int fd;

	(void)events;
	/*
	 * The client closed and connected again before the loop saw the close:
	 * leave the new connection queued until the old one's reset is done
	 * (its EOF is ready too), or it would be refused as a second client.
	 */
	if (dev->conn && conn_hung_up(dev->conn))
		return;
	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			devsim_log("%s: accept: %m", dev->name);
		return;
	}
	if (dev->conn) {
		devsim_log("%s: already has a client, second connection refused",
			   dev->name);
		close(fd);
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (conn)
		conn->buf = malloc(CONN_BUF_MIN);
	if (!conn || !conn->buf) {
		devsim_log("%s: out of memory, connection refused", dev->name);
		if (conn)
			free(conn);
		close(fd);
		return;
	}
	conn->cap = CONN_BUF_MIN;
	conn->dev = dev;
	conn->watch.fd = fd;
	conn->watch.handle = conn_handle;
	if (devsim_watch_add(dev->sim, &conn->watch, EPOLLIN)) {
		devsim_log("%s: epoll: %m", dev->name);
		free(conn->buf);
		free(conn);
		close(fd);
		return;
	}
	dev->conn = conn;
	devsim_log("%s: client connected", dev->name);
}

/* ---- Setup ---- */

int devsim_dev_init(struct devsim *sim, struct devsim_dev *dev, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, len;

	dev->sim = sim;
	dev->listen.fd = -1;
	for (int i = 0; i < DEVSIM_NUM_IRQS; i++)
		dev->irq_fd[i] = -1;
	for (int i = 0; i < DEVSIM_NUM_REGIONS; i++)
		dev->regions[i].fd = -1;
	dev->regions[VFIO_PCI_CONFIG_REGION_INDEX] = (struct devsim_region){
		.size = DEVSIM_CONFIG_SIZE,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1,
	};
	if (dev->type->init(dev)) {
		devsim_log("%s: %m", dev->name);
		return -1;
	}
	dev->type->reset(dev);
	config_power_on(dev);

	/*
	 * Bound and listening under a hidden name first, then renamed: a
	 * client that sees the socket appear (inotify) never connects to
	 * one that does not listen yet.
	 */
	len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.%s.sock", dir, dev->name);
	if (len < 0 || (size_t)len >= sizeof(sa.sun_path)) {
		devsim_log("%s/%s.sock: path too long for a socket", dir, dev->name);
		errno = ENAMETOOLONG;
		goto err_fini;
	}
	dev->sock_path = malloc((size_t)len);
	if (!dev->sock_path)
		goto err_fini;
	snprintf(dev->sock_path, (size_t)len, "%s/%s.sock", dir, dev->name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto err_path;
	/* Socket files left by a previous run that did not exit cleanly. */
	unlink(sa.sun_path);
	unlink(dev->sock_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
	    rename(sa.sun_path, dev->sock_path)) {
		devsim_log("%s: %m", sa.sun_path);
		unlink(sa.sun_path);
		goto err_sock;
	}
	dev->listen.fd = fd;
	dev->listen.handle = listen_handle;
	if (devsim_watch_add(sim, &dev->listen, EPOLLIN))
		goto err_unlink;
	return 0;

err_unlink:
	unlink(dev->sock_path);
	dev->listen.fd = -1;
err_sock:
	close(fd);
err_path:
	free(dev->sock_path);
	dev->sock_path = NULL;
err_fini:
	if (dev->type->fini)
		dev->type->fini(dev);
	return -1;
}

void devsim_dev_fini(struct devsim_dev *dev)
{
	if (dev->conn) {
		struct devsim_conn *conn = dev->conn;

		devsim_watch_del(dev->sim, &conn->watch);
		close(conn->watch.fd);
		for (unsigned int i = 0; i < conn->nfds; i++)
			close(conn->fds[i].fd);
		free(conn->buf);
		free(conn);
		dev->conn = NULL;
	}
	dma_drop_all(dev);
	irq_drop_all(dev);
	if (dev->listen.fd >= 0) {
		devsim_watch_del(dev->sim, &dev->listen);
		close(dev->listen.fd);
		unlink(dev->sock_path);
	}
	free(dev->sock_path);
	if (dev->type->fini)
		dev->type->fini(dev);
}
