// SPDX-License-Identifier: MIT
/**
 * DOC: opening a VFIO device for a driver
 *
 * baton_vfio_open(): the device found in sysfs (sysfs.c), opened through
 * the interface asked for (type1.c, iommufd.c) - vfio-pci resets it now,
 * its first opener - and its bus mastering turned on, which vfio-pci
 * leaves off.  From then on the device's fds are what keeps it: they go
 * from version to version, and it is never opened again while the
 * program lives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "backends/vfio/vfio-internal.h"

/* The config space's command register, and its bus master bit. */
#define PCI_COMMAND		0x04
#define PCI_COMMAND_MASTER	0x4

/*
 * vfio-pci enables the device with bus mastering off: the driver turns it
 * on, as pci_set_master() does for a kernel driver, or no DMA gets out.
 */
static int enable_bus_master(struct baton_devio *io)
{
	uint16_t cmd;
	int err = baton_devio_region_read(io, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
					  &cmd, sizeof(cmd));

	if (err || (cmd & PCI_COMMAND_MASTER))
		return err;
	cmd |= PCI_COMMAND_MASTER;
	return baton_devio_region_write(io, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
					&cmd, sizeof(cmd));
}

bool devio_has_vfio(void)
{
	return true;
}

int vfio_open_at(const char *sysfs, const char *dev, const struct baton_pci_addr *addr,
		 enum baton_devio_backend backend, struct baton_devio **out)
{
	struct vfio_where *where;
	int err;

	if (!addr || !out || (backend != BATON_DEVIO_VFIO_TYPE1 &&
			      backend != BATON_DEVIO_VFIO_IOMMUFD))
		return -EINVAL;
	/* Two paths: too much for the stack of a deep caller. */
	where = malloc(sizeof(*where));
	if (!where)
		return -ENOMEM;
	err = vfio_locate(sysfs, dev, addr, backend, where);
	if (!err)
		err = backend == BATON_DEVIO_VFIO_TYPE1 ?
		      vfio_type1_open(dev, where, addr, out) :
		      vfio_iommufd_open(dev, where, out);
	free(where);
	if (!err) {
		err = enable_bus_master(*out);
		if (err)
			baton_devio_close(*out);
	}
	return err;
}

int baton_vfio_open(const struct baton_pci_addr *addr,
		    enum baton_devio_backend backend, struct baton_devio **out)
{
	return vfio_open_at("/sys", "/dev", addr, backend, out);
}
