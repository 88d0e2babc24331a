/* SPDX-License-Identifier: MIT */
#ifndef BATON_VFIO_H
#define BATON_VFIO_H

/**
 * DOC: the kernel's VFIO, as a device I/O backend
 *
 * A PCI device bound to vfio-pci, driven from userspace through the same
 * struct baton_devio as a vfio-user device (<baton/devio.h>).  Two kernel
 * interfaces, chosen by the caller:
 *
 *  - BATON_DEVIO_VFIO_TYPE1: the device's IOMMU group /dev/vfio/N in a
 *    container /dev/vfio/vfio of its own with the type1v2 IOMMU.  A live
 *    update hands the container's mappings over with VFIO_UPDATE_VADDR,
 *    which the container must have (Linux 5.12 on; checked at open).
 *  - BATON_DEVIO_VFIO_IOMMUFD: the device's cdev /dev/vfio/devices/vfioN
 *    bound to an iommufd /dev/iommu of its own, attached to one IOAS.  DMA
 *    memory is mapped by file (IOMMU_IOAS_MAP_FILE, Linux 6.13 on), so a
 *    mapping outlives the process that made it.
 *
 * vfio-pci resets a device when its first user opens it and when its last
 * user closes it (docs/vfio.md): a device is opened once, when it is first
 * driven, and from then on its fds travel from version to version
 * (baton_devio_fds(), baton_vfio_adopt()).
 *
 * Errors, besides those of <baton/devio.h>: -ENOENT (no such PCI device),
 * -ENODEV (the device is not bound to vfio-pci), -EOPNOTSUPP (in no IOMMU
 * group; no VFIO cdev on this kernel; a container without type1v2 or
 * VFIO_UPDATE_VADDR), -EBUSY (another process has the group or the
 * device open), -EACCES, and the -errno of the kernel's calls.
 */

#include <stddef.h>
#include <baton/devio.h>
#include <baton/pci.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/**
 * baton_vfio_open() - open a device bound to vfio-pci
 * @addr:    the device
 * @backend: BATON_DEVIO_VFIO_TYPE1 or BATON_DEVIO_VFIO_IOMMUFD
 * @out:     the new handle, on success
 *
 * Finds the device's group or cdev in sysfs, opens it with a container or
 * an iommufd of its own, and the device (which vfio-pci resets now, being
 * its first opener).  DMA mappings are added with baton_devio_dma_map().
 *
 * Return: 0, -EINVAL (a NULL argument, another @backend), or an error of
 * the top of this file.
 */
int baton_vfio_open(const struct baton_pci_addr *addr,
		    enum baton_devio_backend backend, struct baton_devio **out);

/**
 * baton_vfio_adopt() - wrap a device's fds the previous holder kept
 * @addr:    the device they must be
 * @backend: BATON_DEVIO_VFIO_TYPE1 or BATON_DEVIO_VFIO_IOMMUFD
 * @fds:     as for baton_devio_adopt(), which this is but for the check:
 *           on failure they stay open and the caller's
 * @n:       3 (type1) or 2 (iommufd)
 * @out:     the new handle, on success
 *
 * Before anything is sent to them, the fds must be @addr's: the device
 * fd the one the kernel names @addr (its fdinfo, Linux 6.9 on), type1's
 * group @addr's group and its container /dev/vfio/vfio; iommufd's device
 * fd @addr's cdev and its iommufd /dev/iommu.  baton_devio_adopt() checks
 * as much without an address: that the fds are of one device.  Not
 * checked (no kernel interface says it): that the container holds the
 * group, or the iommufd the cdev's binding; with another one the first
 * baton_devio_dma_adopt() fails.
 *
 * Return: as baton_devio_adopt() (-EINVAL also for a NULL @addr or
 * BATON_DEVIO_VFIO_USER), -ENOTTY (an fd is not of the kind its place
 * wants: a group where the container goes), -ENODEV (an fd is another
 * device's).
 */
int baton_vfio_adopt(const struct baton_pci_addr *addr, enum baton_devio_backend backend,
		     const int *fds, unsigned int n, struct baton_devio **out);

/**
 * baton_vfio_list() - the PCI devices bound to vfio-pci
 * @addrs: filled with up to @max addresses, in address order
 * @max:   room in @addrs; 0 only counts
 *
 * Return: how many there are (more than @max when they did not all fit),
 * or a negative errno (-ENOENT: no PCI bus in sysfs).
 */
int baton_vfio_list(struct baton_pci_addr *addrs, size_t max);

BATON__END_DECLS

#endif /* BATON_VFIO_H */
