// SPDX-License-Identifier: MIT
/**
 * DOC: whose fds these are, before an adopt trusts them
 *
 * A previous version hands its device's fds over by token; nothing but
 * the tokens says which fd is what, and a mix-up (two devices' fds
 * swapped, a group given where the container goes) would have the next
 * version drive, map for and thaw the wrong device.  So before anything
 * is sent to them, each fd is checked to be the node it must be, by the
 * device number the kernel gives it (st_rdev), which a process cannot
 * forge:
 *
 *  - the device is the expected one: the kernel names the device behind
 *    a VFIO device fd in /proc/self/fdinfo (vfio-device-syspath, from
 *    Linux 6.9; before, the group or cdev below stands for it), and that
 *    address must be the one the caller expects, when it says one;
 *  - type1: the container is /dev/vfio/vfio, the group is that device's
 *    group (/dev/vfio/N, N its iommu_group);
 *  - iommufd: the device fd is that device's cdev
 *    (/dev/vfio/devices/vfioN), the iommufd is /dev/iommu.
 *
 * What is left unchecked, for want of a kernel interface saying it: that
 * the container is the one the group is in, and the iommufd the one the
 * cdev is bound to.  A wrong one has no mapping at the IOVA: the first
 * baton_devio_dma_adopt() fails (-ENOENT, or the IOAS lookup -ENOTTY).
 *
 * The roots of sysfs and /dev are parameters, as in sysfs.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "backends/vfio/vfio-internal.h"

#define SYSPATH_KEY "vfio-device-syspath:"

/* The address the kernel gives for VFIO device fd @fd: 0, -ENODATA when
 * it gives none (before 6.9, or no /proc), -ENOTTY when what it names is
 * no PCI device. */
static int fd_addr(int fd, struct baton_pci_addr *addr)
{
	char path[64], line[PATH_MAX + 32];
	int err = -ENODATA;
	const char *base;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)	/* no /proc: the kernel says nothing here either */
		return errno == ENOENT ? -ENODATA : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, SYSPATH_KEY, strlen(SYSPATH_KEY)))
			continue;
		line[strcspn(line, "\n")] = '\0';
		base = strrchr(line, '/');
		err = base && !baton_pci_addr_parse(base + 1, addr) ? 0 : -ENOTTY;
		break;
	}
	fclose(f);
	return err;
}

/* 0 if @fd is the character device @dir/@name is, else @mismatch (also
 * when there is no such node: then @fd cannot be it). */
static int same_node(int fd, const char *dir, const char *name, int mismatch)
{
	char path[PATH_MAX];
	struct stat a, b;

	if ((size_t)snprintf(path, sizeof(path), "%s%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	if (fstat(fd, &a))
		return -errno;
	if (!S_ISCHR(a.st_mode))
		return mismatch;
	if (stat(path, &b))
		return errno == ENOENT ? mismatch : -errno;
	return S_ISCHR(b.st_mode) && a.st_rdev == b.st_rdev ? 0 : mismatch;
}

int vfio_check_fds(const char *sysfs, const char *dev, enum baton_devio_backend backend,
		   const int *fds, const struct baton_pci_addr *want)
{
	bool type1 = backend == BATON_DEVIO_VFIO_TYPE1;
	struct baton_pci_addr got;
	struct vfio_where *where;
	int err;

	/* The second fd is type1's group or /dev/iommu; the third the container. */
	err = type1 ? same_node(fds[2], dev, "/vfio/vfio", -ENOTTY) :
		      same_node(fds[1], dev, "/iommu", -ENOTTY);
	if (err)
		return err;
	err = fd_addr(fds[0], &got);
	if (err == -ENODATA && want)
		got = *want;
	else if (err == -ENODATA)
		return 0;	/* no address to check the nodes against */
	else if (err)
		return err;
	else if (want && baton_pci_addr_cmp(want, &got))
		return -ENODEV;	/* another device's */
	where = malloc(sizeof(*where));
	if (!where)
		return -ENOMEM;
	err = vfio_locate(sysfs, dev, &got, backend, where);
	if (!err)
		err = type1 ? same_node(fds[1], where->group, "", -ENODEV) :
			      same_node(fds[0], where->cdev, "", -ENODEV);
	free(where);
	return err;
}
