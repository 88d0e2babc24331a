// SPDX-License-Identifier: MIT
/**
 * DOC: finding VFIO devices in sysfs
 *
 * A PCI device is /sys/bus/pci/devices/DDDD:BB:DD.F; it is usable through
 * VFIO when its driver link names vfio-pci.  type1 reaches it through its
 * IOMMU group: the iommu_group link's last component is N, the group's
 * node /dev/vfio/N.  iommufd reaches it through its cdev: the one entry of
 * its vfio-dev directory, vfioN, node /dev/vfio/devices/vfioN (a kernel
 * without VFIO_DEVICE_CDEV has no such directory).  Nothing read here is
 * trusted further than its shape: a group must be a decimal number, a
 * cdev "vfio" and one.
 *
 * The roots (/sys, /dev) are parameters of the internal functions, which
 * the tests point at fixture trees.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "backends/vfio/vfio-internal.h"

#define VFIO_PCI_DRIVER "vfio-pci"


/* @s is a non-empty decimal number of at most 9 digits. */
static bool decimal(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n && n <= 9 && !s[n];
}

/* The last component of the link @dir/@name into @out, or -errno. */
static int link_target(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

/* The device's directory, and whether vfio-pci drives it. */
static int device_dir(const char *sysfs, const struct baton_pci_addr *addr,
		      char *dir, size_t len)
{
	char name[BATON_PCI_ADDR_STRLEN], driver[NAME_MAX + 1];
	int err;

	if ((size_t)snprintf(dir, len, "%s/bus/pci/devices/%s", sysfs,
			     baton_pci_addr_format(addr, name)) >= len)
		return -ENAMETOOLONG;
	if (access(dir, F_OK))
		return -errno;
	err = link_target(dir, "driver", driver, sizeof(driver));
	if (err == -ENOENT || (!err && strcmp(driver, VFIO_PCI_DRIVER)))
		return -ENODEV;	/* no driver, or another one */
	return err;
}

/* The one vfioN in @dir/vfio-dev. */
static int find_cdev(const char *dir, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = -EOPNOTSUPP;

	if ((size_t)snprintf(path, sizeof(path), "%s/vfio-dev", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -EOPNOTSUPP : -errno;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "vfio", 4) || !decimal(de->d_name + 4))
			continue;
		if (strlen(de->d_name) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(out, de->d_name);
		err = 0;
		break;
	}
	closedir(d);
	return err;
}

int vfio_locate(const char *sysfs, const char *dev, const struct baton_pci_addr *addr,
		enum baton_devio_backend backend, struct vfio_where *where)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];
	int err = device_dir(sysfs, addr, dir, sizeof(dir));
	size_t n;

	if (err)
		return err;
	memset(where, 0, sizeof(*where));
	if (backend == BATON_DEVIO_VFIO_TYPE1) {
		err = link_target(dir, "iommu_group", name, sizeof(name));
		if (err == -ENOENT || (!err && !decimal(name)))
			return -EOPNOTSUPP;	/* no IOMMU: no group to open */
		if (err)
			return err;
		n = (size_t)snprintf(where->group, sizeof(where->group), "%s/vfio/%s",
				     dev, name);
		return n >= sizeof(where->group) ? -ENAMETOOLONG : 0;
	}
	err = find_cdev(dir, name, sizeof(name));
	if (err)
		return err;
	n = (size_t)snprintf(where->cdev, sizeof(where->cdev), "%s/vfio/devices/%s",
			     dev, name);
	return n >= sizeof(where->cdev) ? -ENAMETOOLONG : 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return baton_pci_addr_cmp(a, b);
}

int vfio_list_at(const char *sysfs, struct baton_pci_addr *addrs, size_t max)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (!addrs && max)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/bus/pci/devices", sysfs) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct baton_pci_addr a;

		if (baton_pci_addr_parse(de->d_name, &a) ||
		    device_dir(sysfs, &a, dir, sizeof(dir)))
			continue;
		if (n < max)
			addrs[n] = a;
		if (++n > INT_MAX)
			break;
	}
	closedir(d);
	if (max)
		qsort(addrs, n < max ? n : max, sizeof(*addrs), addr_cmp);
	return (int)n;
}

int baton_vfio_list(struct baton_pci_addr *addrs, size_t max)
{
	return vfio_list_at("/sys", addrs, max);
}
