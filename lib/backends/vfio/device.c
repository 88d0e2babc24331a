// SPDX-License-Identifier: MIT
/**
 * DOC: a VFIO device fd, whichever interface opened it
 *
 * What type1 and iommufd share once the device fd is open: the region
 * table (VFIO_DEVICE_GET_REGION_INFO, asked once per region and cached,
 * since a region's place in the fd never changes while it is open),
 * register access with pread()/pwrite() at the region's offset (vfio-pci
 * turns an aligned 4- or 8-byte access into one of that width, or two of
 * 4 before Linux 6.11), interrupts (VFIO_DEVICE_SET_IRQS with an eventfd
 * per type's vector 0, and INTx's unmask after it fired) and
 * VFIO_DEVICE_RESET.
 *
 * The fd is checked to be a VFIO PCI device when the handle is made
 * (VFIO_DEVICE_GET_INFO), so an adopted fd that is anything else is
 * refused before it is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "backends/vfio/vfio-internal.h"

void vfio_close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int vfio_dev_new(struct baton_devio *io, int device)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_dev *v;

	if (ioctl(device, VFIO_DEVICE_GET_INFO, &info))
		return errno == EINVAL ? -ENOTTY : -errno;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions < VFIO_PCI_CONFIG_REGION_INDEX + 1)
		return -ENOTTY;	/* not a PCI device: what would we drive? */
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->device = device;
	io->priv = v;
	return 0;
}

void vfio_dev_free(struct baton_devio *io)
{
	free(io->priv);
	io->priv = NULL;
}

/* The region's cached info, asked for the first time if need be. */
static int region(struct baton_devio *io, uint32_t index,
		  const struct vfio_region_cache **out)
{
	struct vfio_dev *v = vfio_of(io);
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };
	struct vfio_region_cache *c;

	if (index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	c = &v->regions[index];
	if (!c->known) {
		if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &info))
			return -errno;
		*c = (struct vfio_region_cache){
			.known = true, .flags = info.flags,
			.size = info.size, .offset = info.offset,
		};
	}
	*out = c;
	return 0;
}

int vfio_region_info(struct baton_devio *io, uint32_t index,
		     struct baton_devio_region *out)
{
	const struct vfio_region_cache *c = NULL;
	int err = region(io, index, &c);

	if (err)
		return err;
	out->size = c->size;
	out->offset = c->offset;
	out->flags = c->flags;
	if (c->size && (c->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		/* The caller's to close, as a vfio-user server's fd is. */
		out->fd = fcntl(vfio_of(io)->device, F_DUPFD_CLOEXEC, 0);
		if (out->fd < 0)
			return -errno;
	}
	return 0;
}

/* Where [@offset, +@count) of region @index is in the device fd. */
static int place(struct baton_devio *io, uint32_t index, uint64_t offset,
		 uint32_t count, uint32_t need, off_t *pos)
{
	const struct vfio_region_cache *c = NULL;
	int err = region(io, index, &c);

	if (err)
		return err;
	if (!(c->flags & need) || offset > c->size || count > c->size - offset)
		return -EINVAL;
	*pos = (off_t)(c->offset + offset);
	return 0;
}

/* One pread() or pwrite() of [@offset, +@count) of region @index. */
static int access_region(struct baton_devio *io, uint32_t index, uint64_t offset,
			 void *buf, uint32_t count, bool write)
{
	ssize_t n;
	off_t pos;
	int err = place(io, index, offset, count, write ? VFIO_REGION_INFO_FLAG_WRITE :
			VFIO_REGION_INFO_FLAG_READ, &pos);

	if (err)
		return err;
	n = write ? pwrite(vfio_of(io)->device, buf, count, pos) :
		    pread(vfio_of(io)->device, buf, count, pos);
	if (n < 0)
		return -errno;
	return (size_t)n == count ? 0 : -EIO;
}

int vfio_region_read(struct baton_devio *io, uint32_t index, uint64_t offset,
		     void *buf, uint32_t count)
{
	return access_region(io, index, offset, buf, count, false);
}

int vfio_region_write(struct baton_devio *io, uint32_t index, uint64_t offset,
		      const void *buf, uint32_t count)
{
	/* pwrite() only reads it. */
	return access_region(io, index, offset, (void *)buf, count, true);
}

int vfio_set_irq(struct baton_devio *io, uint32_t index, int eventfd)
{
	/* The header and one eventfd: vfio_irq_set ends in a flexible array. */
	uint32_t buf[(sizeof(struct vfio_irq_set) + sizeof(int32_t)) / sizeof(uint32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t fd = eventfd;

	if (index != VFIO_PCI_INTX_IRQ_INDEX && index != VFIO_PCI_MSI_IRQ_INDEX)
		return -EINVAL;
	*set = (struct vfio_irq_set){
		.argsz = sizeof(buf),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = index, .start = 0, .count = 1,
	};
	memcpy(set->data, &fd, sizeof(fd));
	if (eventfd < 0) {
		/* Disabling a type: no data, count 0. */
		set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
		set->count = 0;
		set->argsz = sizeof(*set);
	}
	return ioctl(vfio_of(io)->device, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

int vfio_unmask_irq(struct baton_devio *io, uint32_t index)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		.index = index, .start = 0, .count = 1,
	};

	if (index != VFIO_PCI_INTX_IRQ_INDEX && index != VFIO_PCI_MSI_IRQ_INDEX)
		return -EINVAL;
	/* Only INTx is masked when it fires (and MSI cannot be unmasked). */
	if (index != VFIO_PCI_INTX_IRQ_INDEX)
		return 0;
	return ioctl(vfio_of(io)->device, VFIO_DEVICE_SET_IRQS, &set) ? -errno : 0;
}

int vfio_reset(struct baton_devio *io)
{
	return ioctl(vfio_of(io)->device, VFIO_DEVICE_RESET) ? -errno : 0;
}
