// SPDX-License-Identifier: MIT
/**
 * DOC: device I/O, the backend-neutral part
 *
 * The implementation of include/baton/devio.h that every backend shares:
 * arguments checked once here, the table of the handle's DMA mappings
 * (what the device sees at which IOVA, and where in the caller's memfd -
 * what type1 needs to hand its addresses over, and what unmap checks
 * against),
 * and the dispatch to the backend's struct devio_ops.  A mapping enters
 * the table only when the backend made (or adopted) it, and leaves it only
 * when the backend undid it; closing the handle drops the table with the
 * backend's fds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <baton/vfio.h>

#include "internal.h"
#include "backends/devio-internal.h"

/* Config space: the ids, the revision and class, the subsystem ids. */
#define PCI_ID		0x00
#define PCI_CLASS	0x08
#define PCI_SUBSYS	0x2c

struct baton_devio *devio_new(enum baton_devio_backend backend,
			      const struct devio_ops *ops)
{
	struct baton_devio *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->ops = ops;
	io->backend = backend;
	for (unsigned int i = 0; i < BATON_DEVIO_MAX_FDS; i++)
		io->fds[i] = -1;
	return io;
}

static const char *const backend_names[] = {
	[BATON_DEVIO_VFIO_USER] = "vfio-user",
	[BATON_DEVIO_VFIO_TYPE1] = "vfio-type1",
	[BATON_DEVIO_VFIO_IOMMUFD] = "vfio-iommufd",
};

const char *devio_backend_name(enum baton_devio_backend backend)
{
	return (unsigned int)backend < BATON_ARRAY_SIZE(backend_names) ?
	       backend_names[backend] : NULL;
}

bool devio_backend_built(enum baton_devio_backend backend)
{
	return backend == BATON_DEVIO_VFIO_USER ||
	       (devio_backend_name(backend) && devio_has_vfio());
}

/* baton_devio_adopt(), and baton_vfio_adopt() with the device's address. */
static int adopt(enum baton_devio_backend backend, const int *fds, unsigned int n,
		 const struct baton_pci_addr *want, struct baton_devio **out)
{
	static const unsigned int count[] = {
		[BATON_DEVIO_VFIO_USER] = 1,
		[BATON_DEVIO_VFIO_TYPE1] = 3,
		[BATON_DEVIO_VFIO_IOMMUFD] = 2,
	};

	if (!fds || !out || backend < BATON_DEVIO_VFIO_USER ||
	    backend > BATON_DEVIO_VFIO_IOMMUFD || n != count[backend])
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] < 0)
			return -EINVAL;
	switch (backend) {
	case BATON_DEVIO_VFIO_USER:
		return devio_vfu_adopt(fds, n, out);
	case BATON_DEVIO_VFIO_TYPE1:
		return vfio_type1_adopt(fds, n, want, out);
	default:
		return vfio_iommufd_adopt(fds, n, want, out);
	}
}

int baton_devio_adopt(enum baton_devio_backend backend, const int *fds,
		      unsigned int n, struct baton_devio **out)
{
	return adopt(backend, fds, n, NULL, out);
}

int baton_vfio_adopt(const struct baton_pci_addr *addr, enum baton_devio_backend backend,
		     const int *fds, unsigned int n, struct baton_devio **out)
{
	if (!addr || backend == BATON_DEVIO_VFIO_USER)
		return -EINVAL;
	return adopt(backend, fds, n, addr, out);
}

enum baton_devio_backend baton_devio_backend(const struct baton_devio *io)
{
	return io->backend;
}

unsigned int baton_devio_fds(const struct baton_devio *io,
			     int fds[BATON_DEVIO_MAX_FDS],
			     enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS])
{
	memcpy(fds, io->fds, io->n_fds * sizeof(*fds));
	if (kinds)
		memcpy(kinds, io->kinds, io->n_fds * sizeof(*kinds));
	return io->n_fds;
}

static void devio_free(struct baton_devio *io, bool forget)
{
	if (!io)
		return;
	io->ops->release(io, forget);
	free(io->dma);
	free(io);
}

void baton_devio_close(struct baton_devio *io)
{
	devio_free(io, false);
}

void baton_devio_forget(struct baton_devio *io)
{
	devio_free(io, true);
}

int baton_devio_region_info(struct baton_devio *io, uint32_t index,
			    struct baton_devio_region *out)
{
	if (!io || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	return io->ops->region_info(io, index, out);
}

static bool access_ok(const struct baton_devio *io, const void *buf,
		      uint64_t offset, uint32_t count)
{
	return io && buf && count && offset + count > offset;
}

int baton_devio_region_read(struct baton_devio *io, uint32_t index,
			    uint64_t offset, void *buf, uint32_t count)
{
	if (!access_ok(io, buf, offset, count))
		return -EINVAL;
	return io->ops->region_read(io, index, offset, buf, count);
}

int baton_devio_read_submit(struct baton_devio *io, uint32_t index,
			    uint64_t offset, void *buf, uint32_t count)
{
	int err;

	if (!access_ok(io, buf, offset, count))
		return -EINVAL;
	if (io->ops->read_submit)
		return io->ops->read_submit(io, index, offset, buf, count);
	/* No round trip to save (VFIO: a pread): done now, told at complete. */
	err = io->ops->region_read(io, index, offset, buf, count);
	if (err && !io->read_err)
		io->read_err = err;
	return 0;
}

int baton_devio_read_complete(struct baton_devio *io)
{
	int err;

	if (!io)
		return -EINVAL;
	err = io->ops->read_complete ? io->ops->read_complete(io) : io->read_err;
	io->read_err = 0;
	return err;
}

int baton_devio_region_write(struct baton_devio *io, uint32_t index,
			     uint64_t offset, const void *buf, uint32_t count)
{
	if (!access_ok(io, buf, offset, count))
		return -EINVAL;
	return io->ops->region_write(io, index, offset, buf, count);
}

int baton_devio_read32(struct baton_devio *io, uint32_t index, uint64_t offset,
		       uint32_t *val)
{
	return baton_devio_region_read(io, index, offset, val, sizeof(*val));
}

int baton_devio_write32(struct baton_devio *io, uint32_t index, uint64_t offset,
			uint32_t val)
{
	return baton_devio_region_write(io, index, offset, &val, sizeof(val));
}

int baton_devio_write64(struct baton_devio *io, uint32_t index, uint64_t offset,
			uint64_t val)
{
	return baton_devio_region_write(io, index, offset, &val, sizeof(val));
}

int baton_devio_pci_ids(struct baton_devio *io, struct baton_pci_ids *ids)
{
	uint32_t id, class, subsys;
	int err;

	if (!io || !ids)
		return -EINVAL;
	err = baton_devio_read32(io, VFIO_PCI_CONFIG_REGION_INDEX, PCI_ID, &id) ?:
	      baton_devio_read32(io, VFIO_PCI_CONFIG_REGION_INDEX, PCI_CLASS, &class) ?:
	      baton_devio_read32(io, VFIO_PCI_CONFIG_REGION_INDEX, PCI_SUBSYS, &subsys);
	if (err)
		return err;
	*ids = (struct baton_pci_ids){
		.vendor = id & 0xffff, .device = id >> 16,
		.subvendor = subsys & 0xffff, .subdevice = subsys >> 16,
		.class_code = class >> 8,
	};
	return 0;
}

struct devio_dma *devio_find_dma(struct baton_devio *io, uint64_t iova, uint64_t size)
{
	for (size_t i = 0; i < io->n_dma; i++)
		if (io->dma[i].iova == iova && io->dma[i].size == size)
			return &io->dma[i];
	return NULL;
}

/* Does [@iova, +@size) overlap a mapping of the table? */
static bool overlaps(const struct baton_devio *io, uint64_t iova, uint64_t size)
{
	for (size_t i = 0; i < io->n_dma; i++) {
		const struct devio_dma *m = &io->dma[i];

		if (iova < m->iova + m->size && m->iova < iova + size)
			return true;
	}
	return false;
}

/*
 * Map or adopt: the new entry is checked, and joins the table when @op
 * (the backend's map or adopt, NULL for none) succeeds.
 */
static int add_dma(struct baton_devio *io, uint64_t iova, uint64_t size, int fd,
		   uint64_t offset, bool writable,
		   int (*op)(struct baton_devio *, struct devio_dma *))
{
	long page = sysconf(_SC_PAGESIZE);
	struct devio_dma m = {
		.iova = iova, .size = size, .offset = offset, .fd = fd,
		.writable = writable,
	};
	int err;

	if (!io || fd < 0 || !size || ((iova | size | offset) & (uint64_t)(page - 1)) ||
	    iova + size < iova || offset + size < offset)
		return -EINVAL;
	if (overlaps(io, iova, size))
		return -EEXIST;
	err = baton_grow((void **)&io->dma, &io->cap_dma, io->n_dma, sizeof(m));
	if (err)
		return err;
	err = op ? op(io, &m) : 0;
	if (err)
		return err;
	m.fd = -1;	/* the caller's: the backends need it only now */
	io->dma[io->n_dma++] = m;
	return 0;
}

int baton_devio_dma_map(struct baton_devio *io, uint64_t iova, uint64_t size,
			int fd, uint64_t offset, bool writable)
{
	return add_dma(io, iova, size, fd, offset, writable, io ? io->ops->dma_map : NULL);
}

int baton_devio_dma_adopt(struct baton_devio *io, uint64_t iova, uint64_t size,
			  int fd, uint64_t offset, bool writable)
{
	return add_dma(io, iova, size, fd, offset, writable,
		       io ? io->ops->dma_adopt : NULL);
}

int baton_devio_dma_unmap(struct baton_devio *io, uint64_t iova, uint64_t size)
{
	struct devio_dma *m;
	int err;

	if (!io)
		return -EINVAL;
	m = devio_find_dma(io, iova, size);
	if (!m)
		return -EINVAL;
	err = io->ops->dma_unmap(io, m);
	if (err)
		return err;
	*m = io->dma[--io->n_dma];
	return 0;
}

int baton_devio_freeze(struct baton_devio *io)
{
	if (!io)
		return -EINVAL;
	return io->ops->freeze ? io->ops->freeze(io) : 0;
}

int baton_devio_freeze_check(struct baton_devio *io)
{
	if (!io)
		return -EINVAL;
	return io->ops->freeze_check ? io->ops->freeze_check(io) : 0;
}

int baton_devio_thaw(struct baton_devio *io)
{
	if (!io)
		return -EINVAL;
	return io->ops->thaw ? io->ops->thaw(io) : 0;
}

int baton_devio_set_irq(struct baton_devio *io, uint32_t index, int eventfd)
{
	if (!io || eventfd < -1)
		return -EINVAL;
	return io->ops->set_irq(io, index, eventfd);
}

int baton_devio_unmask_irq(struct baton_devio *io, uint32_t index)
{
	if (!io)
		return -EINVAL;
	return io->ops->unmask_irq ? io->ops->unmask_irq(io, index) : 0;
}

int baton_devio_reset(struct baton_devio *io)
{
	if (!io)
		return -EINVAL;
	return io->ops->reset(io);
}
