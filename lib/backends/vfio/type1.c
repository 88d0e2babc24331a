// SPDX-License-Identifier: MIT
/**
 * DOC: VFIO type1: a group in a container of its own
 *
 * Open: the container (/dev/vfio/vfio), which must speak VFIO_API_VERSION
 * and have the type1v2 IOMMU; the group (/dev/vfio/N), which must be
 * viable (every device in it bound to vfio-pci or to nothing); the group
 * into the container, the IOMMU set, and then VFIO_UPDATE_VADDR and
 * VFIO_UNMAP_ALL asked for (without them the mappings could not change
 * hands, and better know it now than at the update); then the device fd
 * from the group.  The handle's fds are device,
 * group, container, in that order.
 *
 * DMA: the memfd is mapped shared in this process, and that address is
 * what the kernel pins and maps (VFIO_IOMMU_MAP_DMA).  Across a live
 * update the IOMMU mappings stay in the container; only the address is
 * this process's, so it is taken back before the handover
 * (VFIO_DMA_UNMAP_FLAG_VADDR with VFIO_DMA_UNMAP_FLAG_ALL: all of them,
 * or none) and the next version supplies its own (VFIO_DMA_MAP_FLAG_VADDR,
 * baton_devio_dma_adopt()), which also moves the pinned pages' accounting
 * to it.  In between the device's DMA goes on: its pages are pinned and
 * mapped; only the kernel's own pinning of more pages would wait, which
 * no vfio-pci device does.  Whether the kernel would take the freeze is
 * asked in PREPARE by trying it and undoing it at once
 * (baton_devio_freeze_check()); a freeze it refuses anyway gives every
 * address back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "backends/vfio/vfio-internal.h"

enum { FD_DEVICE, FD_GROUP, FD_CONTAINER };

static int container_fd(const struct baton_devio *io)
{
	return io->fds[FD_CONTAINER];
}

/* The handle's own shared mapping of @m's memory, for the kernel to pin. */
static int map_memory(struct devio_dma *m)
{
	int prot = PROT_READ | (m->writable ? PROT_WRITE : 0);
	void *p = mmap(NULL, m->size, prot, MAP_SHARED, m->fd, (off_t)m->offset);

	if (p == MAP_FAILED)
		return -errno;
	m->vaddr = p;
	return 0;
}

static void unmap_memory(struct devio_dma *m)
{
	if (m->vaddr)
		munmap(m->vaddr, m->size);
	m->vaddr = NULL;
}

/* VFIO_IOMMU_MAP_DMA of @m: a new mapping, or with @vaddr_only its address. */
static int map_dma(const struct baton_devio *io, const struct devio_dma *m,
		   bool vaddr_only)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.vaddr = (uintptr_t)m->vaddr,
		.iova = m->iova,
		.size = m->size,
	};

	if (vaddr_only)
		map.flags = VFIO_DMA_MAP_FLAG_VADDR;
	else
		map.flags = VFIO_DMA_MAP_FLAG_READ |
			    (m->writable ? VFIO_DMA_MAP_FLAG_WRITE : 0);
	return ioctl(container_fd(io), VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int type1_dma_map(struct baton_devio *io, struct devio_dma *m)
{
	int err = map_memory(m) ?: map_dma(io, m, false);

	if (err)
		unmap_memory(m);
	return err;
}

static int type1_dma_adopt(struct baton_devio *io, struct devio_dma *m)
{
	int err = map_memory(m) ?: map_dma(io, m, true);

	if (err)
		unmap_memory(m);
	return err;
}

static int unmap_dma(const struct baton_devio *io, uint64_t iova, uint64_t size,
		     uint32_t flags)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .flags = flags, .iova = iova, .size = size,
	};

	return ioctl(container_fd(io), VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

static int type1_dma_unmap(struct baton_devio *io, struct devio_dma *m)
{
	int err = unmap_dma(io, m->iova, m->size, 0);

	if (!err)
		unmap_memory(m);
	return err;
}

/*
 * A container whose IOMMU is set and can hand its mappings over.  Asked
 * before VFIO_SET_IOMMU, type1 says it has no VFIO_UPDATE_VADDR: the
 * answer depends on the groups in it (none may be an mdev's).
 */
static int check_handover(int container)
{
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR) <= 0 ||
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL) <= 0)
		return -EOPNOTSUPP;
	return 0;
}

/*
 * Our addresses back, as they were: the handle kept its mappings.  Each
 * is given whatever the others say; the first error other than @ok.
 */
static int supply_all(struct baton_devio *io, int ok)
{
	int err = 0;

	for (size_t i = 0; i < io->n_dma; i++) {
		int e = map_dma(io, &io->dma[i], true);

		if (e && e != ok && !err)
			err = e;
	}
	return err;
}

static int invalidate_all(struct baton_devio *io)
{
	return unmap_dma(io, 0, 0, VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_ALL);
}

static int type1_freeze(struct baton_devio *io)
{
	int err = 0;

	/* With no mapping the kernel would say EINVAL: nothing to take. */
	if (io->n_dma)
		err = invalidate_all(io);
	/*
	 * Refused, all or none: nothing of ours changed, but an address
	 * invalidated behind our back (-EINVAL) is given back, so that the
	 * program goes on as if nothing happened and a later freeze works.
	 */
	if (err)
		supply_all(io, -EINVAL);
	else
		vfio_of(io)->frozen = true;
	return err;
}

/* -EINVAL from supply_all(): this one was not frozen; fine. */
static int type1_thaw(struct baton_devio *io)
{
	int err = supply_all(io, -EINVAL);

	if (!err)
		vfio_of(io)->frozen = false;
	return err;
}

/*
 * The freeze tried and undone (baton_devio_freeze_check()): after a
 * freeze the kernel accepted, every address must be taken back exactly.
 */
static int type1_freeze_check(struct baton_devio *io)
{
	int err = check_handover(container_fd(io));

	if (err || !io->n_dma || vfio_of(io)->frozen)
		return err;
	err = invalidate_all(io);
	if (err) {
		supply_all(io, -EINVAL);
		return err;
	}
	return supply_all(io, 0);
}

/*
 * Forgetting a handle whose addresses the kernel still has (a restore that
 * failed after adopting, or a holder that never froze) takes them back
 * first: whoever holds the fds next can then supply its own.  Closing
 * takes the mappings with the container.
 */
static void type1_release(struct baton_devio *io, bool forget)
{
	if (forget && io->n_dma && !vfio_of(io)->frozen)
		invalidate_all(io);
	for (size_t i = 0; i < io->n_dma; i++)
		unmap_memory(&io->dma[i]);
	if (!forget)
		vfio_close_fds(io->fds, io->n_fds);
	vfio_dev_free(io);
}

static const struct devio_ops type1_ops = {
	.region_info = vfio_region_info,
	.region_read = vfio_region_read,
	.region_write = vfio_region_write,
	.dma_map = type1_dma_map,
	.dma_unmap = type1_dma_unmap,
	.dma_adopt = type1_dma_adopt,
	.freeze = type1_freeze,
	.freeze_check = type1_freeze_check,
	.thaw = type1_thaw,
	.set_irq = vfio_set_irq,
	.unmask_irq = vfio_unmask_irq,
	.reset = vfio_reset,
	.release = type1_release,
};

/* A container of our API with the type1v2 IOMMU: -EOPNOTSUPP otherwise. */
static int check_container(int container)
{
	int v = ioctl(container, VFIO_GET_API_VERSION);

	if (v < 0)
		return errno == EINVAL ? -ENOTTY : -errno;
	if (v != VFIO_API_VERSION)
		return -ENOTTY;
	return ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ?
	       0 : -EOPNOTSUPP;
}

/* The three fds as a handle (owned by it on success, still the caller's
 * on failure). */
static int wrap(const int fds[3], struct baton_devio **out)
{
	struct baton_devio *io = devio_new(BATON_DEVIO_VFIO_TYPE1, &type1_ops);
	int err = io ? vfio_dev_new(io, fds[FD_DEVICE]) : -ENOMEM;

	if (err) {
		free(io);
		return err;
	}
	io->n_fds = 3;
	memcpy(io->fds, fds, 3 * sizeof(*fds));
	io->kinds[FD_DEVICE] = BATON_FD_VFIO_DEVICE;
	io->kinds[FD_GROUP] = BATON_FD_VFIO_GROUP;
	io->kinds[FD_CONTAINER] = BATON_FD_VFIO_CONTAINER;
	*out = io;
	return 0;
}

int vfio_type1_open(const char *dev, const struct vfio_where *where,
		    const struct baton_pci_addr *addr, struct baton_devio **out)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], name[BATON_PCI_ADDR_STRLEN];
	int fds[3] = { -1, -1, -1 };
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/vfio/vfio", dev) >= sizeof(path))
		return -ENAMETOOLONG;
	fds[FD_CONTAINER] = open(path, O_RDWR | O_CLOEXEC);
	if (fds[FD_CONTAINER] < 0)
		return -errno;
	err = check_container(fds[FD_CONTAINER]);
	if (err)
		goto out;
	fds[FD_GROUP] = open(where->group, O_RDWR | O_CLOEXEC);
	if (fds[FD_GROUP] < 0) {
		err = -errno;
		goto out;
	}
	if (ioctl(fds[FD_GROUP], VFIO_GROUP_GET_STATUS, &status)) {
		err = -errno;
		goto out;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		err = -EBUSY;	/* a device of the group has another driver */
		goto out;
	}
	if (ioctl(fds[FD_GROUP], VFIO_GROUP_SET_CONTAINER, &fds[FD_CONTAINER]) ||
	    ioctl(fds[FD_CONTAINER], VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		err = -errno;
		goto out;
	}
	err = check_handover(fds[FD_CONTAINER]);
	if (err)
		goto out;
	fds[FD_DEVICE] = ioctl(fds[FD_GROUP], VFIO_GROUP_GET_DEVICE_FD,
			       baton_pci_addr_format(addr, name));
	if (fds[FD_DEVICE] < 0) {
		err = -errno;
		goto out;
	}
	err = wrap(fds, out);
	if (!err)
		return 0;

out:
	vfio_close_fds(fds, 3);
	return err;
}

int vfio_type1_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		     struct baton_devio **out)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int err;

	(void)n;	/* 3, checked by baton_devio_adopt() */
	err = vfio_check_fds("/sys", "/dev", BATON_DEVIO_VFIO_TYPE1, fds, want) ?:
	      check_container(fds[FD_CONTAINER]) ?: check_handover(fds[FD_CONTAINER]);
	if (!err && ioctl(fds[FD_GROUP], VFIO_GROUP_GET_STATUS, &status))
		err = errno == EINVAL ? -ENOTTY : -errno;
	if (!err && !(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET))
		err = -ENOTTY;	/* a group, but not one in a container */
	return err ? err : wrap(fds, out);
}
