// SPDX-License-Identifier: MIT
/**
 * DOC: VFIO through iommufd: a device cdev bound to an iommufd of its own
 *
 * Open: /dev/iommu and the device's cdev (/dev/vfio/devices/vfioN); the
 * device bound to the iommufd (VFIO_DEVICE_BIND_IOMMUFD: from here the
 * device fd works), one IOAS allocated, the device attached to it.  The
 * handle's fds are device, iommufd, in that order.
 *
 * DMA: IOMMU_IOAS_MAP_FILE maps the memfd's pages by file at a fixed
 * IOVA: the mapping refers to the file, not to an address of this
 * process, and outlives it as long as the iommufd is open somewhere.  So
 * a live update hands over the fds and nothing else; the next version
 * finds the IOAS (the one object of that type in its iommufd) and takes
 * the pinned pages' accounting over with IOMMU_IOAS_CHANGE_PROCESS, which
 * the kernel allows only for mappings by file - the reason this backend
 * makes no other kind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "backends/vfio/uapi.h"
#include "backends/vfio/vfio-internal.h"

enum { FD_DEVICE, FD_IOMMUFD };

/*
 * The highest object id where adopt looks for the IOAS: a handle's
 * iommufd holds its device (id 1), its IOAS and the page table the attach
 * made, in the order they were made.
 */
#define MAX_OBJECT_ID 16

static int iommufd_of(const struct baton_devio *io)
{
	return io->fds[FD_IOMMUFD];
}

static int iommufd_dma_map(struct baton_devio *io, struct devio_dma *m)
{
	struct baton_iommu_ioas_map_file map = {
		.size = sizeof(map),
		.flags = BATON_IOMMU_IOAS_MAP_FIXED_IOVA | BATON_IOMMU_IOAS_MAP_READABLE |
			 (m->writable ? BATON_IOMMU_IOAS_MAP_WRITEABLE : 0),
		.ioas_id = vfio_of(io)->ioas_id,
		.fd = m->fd,
		.start = m->offset,
		.length = m->size,
		.iova = m->iova,
	};

	return ioctl(iommufd_of(io), BATON_IOMMU_IOAS_MAP_FILE, &map) ? -errno : 0;
}

static int iommufd_dma_unmap(struct baton_devio *io, struct devio_dma *m)
{
	struct baton_iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = vfio_of(io)->ioas_id,
		.iova = m->iova,
		.length = m->size,
	};

	return ioctl(iommufd_of(io), BATON_IOMMU_IOAS_UNMAP, &unmap) ? -errno : 0;
}

static void iommufd_release(struct baton_devio *io, bool forget)
{
	if (!forget)
		vfio_close_fds(io->fds, io->n_fds);
	vfio_dev_free(io);
}

static const struct devio_ops iommufd_ops = {
	.region_info = vfio_region_info,
	.region_read = vfio_region_read,
	.region_write = vfio_region_write,
	.dma_map = iommufd_dma_map,
	.dma_unmap = iommufd_dma_unmap,
	.set_irq = vfio_set_irq,
	.unmask_irq = vfio_unmask_irq,
	.reset = vfio_reset,
	.release = iommufd_release,
};

/* The two fds as a handle (owned by it on success, still the caller's on
 * failure). */
static int wrap(const int fds[2], uint32_t ioas_id, struct baton_devio **out)
{
	struct baton_devio *io = devio_new(BATON_DEVIO_VFIO_IOMMUFD, &iommufd_ops);
	int err = io ? vfio_dev_new(io, fds[FD_DEVICE]) : -ENOMEM;

	if (err) {
		free(io);
		return err;
	}
	vfio_of(io)->ioas_id = ioas_id;
	io->n_fds = 2;
	memcpy(io->fds, fds, 2 * sizeof(*fds));
	io->kinds[FD_DEVICE] = BATON_FD_VFIO_DEVICE;
	io->kinds[FD_IOMMUFD] = BATON_FD_IOMMUFD;
	*out = io;
	return 0;
}

int vfio_iommufd_open(const char *dev, const struct vfio_where *where,
		      struct baton_devio **out)
{
	struct baton_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct baton_vfio_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct baton_vfio_attach_pt attach = { .argsz = sizeof(attach) };
	char path[PATH_MAX];
	int fds[2] = { -1, -1 };
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/iommu", dev) >= sizeof(path))
		return -ENAMETOOLONG;
	fds[FD_IOMMUFD] = open(path, O_RDWR | O_CLOEXEC);
	if (fds[FD_IOMMUFD] < 0)
		return -errno;
	fds[FD_DEVICE] = open(where->cdev, O_RDWR | O_CLOEXEC);
	if (fds[FD_DEVICE] < 0) {
		err = -errno;
		goto out;
	}
	bind.iommufd = fds[FD_IOMMUFD];
	if (ioctl(fds[FD_DEVICE], BATON_VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(fds[FD_IOMMUFD], BATON_IOMMU_IOAS_ALLOC, &alloc)) {
		err = -errno;
		goto out;
	}
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(fds[FD_DEVICE], BATON_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		err = -errno;
		goto out;
	}
	err = wrap(fds, alloc.out_ioas_id, out);
	if (!err)
		return 0;
out:
	vfio_close_fds(fds, 2);
	return err;
}

/* The IOAS of @iommufd: the first id that answers as one. */
static int find_ioas(int iommufd, uint32_t *id)
{
	for (uint32_t i = 1; i <= MAX_OBJECT_ID; i++) {
		struct baton_iommu_ioas_iova_ranges r = { .size = sizeof(r), .ioas_id = i };

		/* No room for the ranges: an IOAS says EMSGSIZE, or 0. */
		if (!ioctl(iommufd, BATON_IOMMU_IOAS_IOVA_RANGES, &r) || errno == EMSGSIZE) {
			*id = i;
			return 0;
		}
		if (errno != ENOENT)
			return errno == EINVAL || errno == ENOTTY ? -ENOTTY : -errno;
	}
	return -ENOTTY;	/* an iommufd without an IOAS: not one we made */
}

int vfio_iommufd_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		       struct baton_devio **out)
{
	struct baton_iommu_ioas_change_process change = { .size = sizeof(change) };
	uint32_t ioas_id = 0;
	int err;

	(void)n;	/* 2, checked by baton_devio_adopt() */
	err = vfio_check_fds("/sys", "/dev", BATON_DEVIO_VFIO_IOMMUFD, fds, want) ?:
	      find_ioas(fds[FD_IOMMUFD], &ioas_id) ?: wrap(fds, ioas_id, out);
	if (err)
		return err;
	/* The pinned pages are this process's to account for from now on. */
	if (ioctl(fds[FD_IOMMUFD], BATON_IOMMU_IOAS_CHANGE_PROCESS, &change)) {
		err = -errno;
		baton_devio_forget(*out);	/* closes nothing */
		*out = NULL;
	}
	return err;
}
