/* SPDX-License-Identifier: MIT */
#ifndef BATON_VFIO_INTERNAL_H
#define BATON_VFIO_INTERNAL_H

/*
 * What the files of lib/backends/vfio share: sysfs.c finds a device's
 * group or cdev, device.c drives the device fd (regions, interrupts,
 * reset) for both interfaces, type1.c and iommufd.c make and keep the DMA
 * mappings.  The roots of sysfs and /dev are parameters, for the tests'
 * fixture trees.
 */

#include <limits.h>
#include <linux/vfio.h>

#include <baton/vfio.h>

#include "backends/devio-internal.h"

/* The backend's part of a handle. */
struct vfio_dev {
	int device;
	uint32_t ioas_id;		/* iommufd: the one IOAS */
	bool frozen;			/* type1: the kernel has none of our addresses */
	struct vfio_region_cache {
		bool known;
		uint32_t flags;
		uint64_t size;
		uint64_t offset;
	} regions[VFIO_PCI_NUM_REGIONS];
};

/* Where a device's VFIO nodes are, under the /dev root given. */
struct vfio_where {
	char group[PATH_MAX];		/* type1: /dev/vfio/N */
	char cdev[PATH_MAX];		/* iommufd: /dev/vfio/devices/vfioN */
};

int vfio_locate(const char *sysfs, const char *dev, const struct baton_pci_addr *addr,
		enum baton_devio_backend backend, struct vfio_where *where);
int vfio_list_at(const char *sysfs, struct baton_pci_addr *addrs, size_t max);
int vfio_open_at(const char *sysfs, const char *dev, const struct baton_pci_addr *addr,
		 enum baton_devio_backend backend, struct baton_devio **out);

/* identity.c: 0 if @fds are @want's device's (or one device's, @want
 * NULL); -ENOTTY for an fd of the wrong kind, -ENODEV for another
 * device's. */
int vfio_check_fds(const char *sysfs, const char *dev, enum baton_devio_backend backend,
		   const int *fds, const struct baton_pci_addr *want);

int vfio_type1_open(const char *dev, const struct vfio_where *where,
		    const struct baton_pci_addr *addr, struct baton_devio **out);
int vfio_iommufd_open(const char *dev, const struct vfio_where *where,
		      struct baton_devio **out);

/* device.c: a handle's vfio_dev for @device (a PCI device, checked). */
int vfio_dev_new(struct baton_devio *io, int device);
void vfio_dev_free(struct baton_devio *io);
static inline struct vfio_dev *vfio_of(const struct baton_devio *io)
{
	return io->priv;
}

int vfio_region_info(struct baton_devio *io, uint32_t index,
		     struct baton_devio_region *out);
int vfio_region_read(struct baton_devio *io, uint32_t index, uint64_t offset,
		     void *buf, uint32_t count);
int vfio_region_write(struct baton_devio *io, uint32_t index, uint64_t offset,
		      const void *buf, uint32_t count);
int vfio_set_irq(struct baton_devio *io, uint32_t index, int eventfd);
int vfio_unmask_irq(struct baton_devio *io, uint32_t index);
int vfio_reset(struct baton_devio *io);

/* Close what of @fds is >= 0 (an open that failed half way). */
void vfio_close_fds(const int *fds, unsigned int n);

#endif /* BATON_VFIO_INTERNAL_H */
