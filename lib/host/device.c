// SPDX-License-Identifier: MIT
/**
 * DOC: devices and their drivers
 *
 * A device is what a driver declared with BATON_DRIVER() drives: the
 * program finds it (a vfio-user socket, a VFIO group) and adds it; the host
 * binds it to a driver and keeps it in the order it came, which is the
 * order updates serialize, freeze and unwind in.
 *
 * A device with no preserved state is probed cold by id table, with the
 * planner's own rules (baton_plan_probe(): highest priority, a tie binds
 * nothing), on a first start and after a restore alike; a device the image
 * holds comes back through restore.c, bound by schema.  A quarantined
 * device - no driver of this version reads its state - stays in the host
 * with no driver: its record, state and regions are carried to the next
 * version untouched.
 *
 * A device goes one way only, baton_device_free(): its driver's remove()
 * (which must never reset it), then the regions it used lose a user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <baton/contracts.h>

#include "host/host-internal.h"

const struct baton_schema *baton_driver_written(const struct baton_driver *drv)
{
	for (size_t i = 0; i < drv->n_accepts; i++)
		if (drv->accepts[i].via == BATON_VIA_NATIVE)
			return drv->accepts[i].schema;
	return NULL;
}

const struct baton_driver *baton_runtime_driver(const struct baton_contract *c)
{
	const struct baton_driver *const *drivers;
	size_t n;

	drivers = baton_drivers(&n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(drivers[i]->owner, c->owner))
			return drivers[i];
	return NULL;
}

const char *baton_device_name(const struct baton_device *dev, char *buf, size_t len)
{
	char addr[BATON_PCI_ADDR_STRLEN];

	snprintf(buf, len, "%s (%s)", baton_pci_addr_format(&dev->info.addr, addr),
		 dev->drv ? dev->drv->name : "quarantined");
	return buf;
}

struct baton_device *baton_device_new(struct baton_host *host,
				      const struct baton_device_info *info)
{
	struct baton_device *dev = calloc(1, sizeof(*dev));

	if (dev) {
		dev->host = host;
		dev->info = *info;
	}
	return dev;
}

int baton_device_use(struct baton_device *dev, struct baton_region *region)
{
	for (size_t i = 0; i < dev->n_uses; i++)
		if (dev->uses[i] == region)
			return 0;
	if (baton_grow((void **)&dev->uses, &dev->cap_uses, dev->n_uses,
		       sizeof(*dev->uses)))
		return -ENOMEM;
	dev->uses[dev->n_uses++] = region;
	region->shared = true;
	region->users++;
	return 0;
}

int baton_device_attach(struct baton_host *host, struct baton_device *dev)
{
	int err = baton_grow((void **)&host->devices, &host->cap_devices,
			     host->n_devices, sizeof(*host->devices));

	if (!err)
		host->devices[host->n_devices++] = dev;
	return err;
}

void baton_device_free(struct baton_device *dev, bool remove, bool release)
{
	if (remove && dev->drv && dev->drv->ops && dev->drv->ops->remove)
		dev->drv->ops->remove(dev);
	for (size_t i = 0; i < dev->n_uses; i++)
		if (--dev->uses[i]->users == 0 && release)
			baton_region_drop(dev->uses[i]);
	free(dev->uses);
	free(dev->schema_name);
	free(dev->state);
	free(dev);
}

int baton_device_region(struct baton_device *dev, const char *label,
			size_t size, struct baton_region **out)
{
	struct baton_region *r = baton_region_find(dev->host, label);
	bool created = false;
	int err;

	if (r && !r->shared)
		return -BATON_ERR_DUPLICATE;
	if (r && r->size != size)
		return -ERANGE;
	if (!r) {
		err = baton_host_region(dev->host, label, size, &r);
		if (err)
			return err;
		r->shared = true;
		created = true;
	}
	err = baton_device_use(dev, r);
	if (err) {
		if (created)
			baton_region_drop(r);
		return err;
	}
	*out = r;
	return 0;
}

int baton_host_add_device(struct baton_host *host,
			  const struct baton_device_info *info,
			  struct baton_device **out)
{
	struct baton_device *dev = baton_host_device(host, &info->addr);
	const struct baton_contract *chosen;
	int err;

	if (!baton_reserved_clear(info->reserved, sizeof(info->reserved)))
		return -EINVAL;
	if (dev) {
		*out = dev;
		return 0;
	}
	if (host->sealed)
		return -EBUSY;
	err = baton_plan_probe(host->contracts, &info->ids, &chosen);
	if (err)
		return err;
	dev = baton_device_new(host, info);
	if (!dev)
		return -ENOMEM;
	dev->drv = baton_runtime_driver(chosen);
	err = dev->drv->ops && dev->drv->ops->probe ? dev->drv->ops->probe(dev) : 0;
	if (err) {
		baton_device_free(dev, false, true);
		return err;
	}
	err = baton_device_attach(host, dev);
	if (err) {
		baton_device_free(dev, true, true);
		return err;
	}
	*out = dev;
	return 0;
}

void baton_device_remove(struct baton_device *dev, bool release)
{
	struct baton_host *host = dev->host;

	/* Order is kept: updates walk devices in it, and back. */
	baton_remove_ptr((void **)host->devices, &host->n_devices, dev);
	baton_device_index_reset(host);
	baton_device_free(dev, true, release);
}

void baton_host_remove_device(struct baton_device *dev)
{
	baton_device_remove(dev, true);
}

/*
 * Devices by address, a hash index over host->devices[0..n): a program
 * looking up each of a thousand devices (to find those it does not have
 * yet, as it starts) does a lookup each, not a scan.  Devices are only
 * appended, so the index catches up with those added since; a removal
 * drops it, and the next lookup builds it again.
 */
static size_t addr_hash(const struct baton_pci_addr *a)
{
	uint64_t k = (uint64_t)a->domain << 16 | (uint64_t)a->bus << 8 |
		     (uint64_t)a->dev << 3 | a->fn;

	return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32);
}

static struct baton_device **index_slot(const struct device_index *ix,
					const struct baton_pci_addr *addr)
{
	size_t i = addr_hash(addr) & ix->mask;

	while (ix->slots[i] && baton_pci_addr_cmp(&ix->slots[i]->info.addr, addr))
		i = (i + 1) & ix->mask;
	return &ix->slots[i];
}

void baton_device_index_reset(struct baton_host *host)
{
	free(host->device_index.slots);
	memset(&host->device_index, 0, sizeof(host->device_index));
}

/* Index every device added since; false when out of memory (then scan). */
static bool index_catch_up(struct baton_host *host)
{
	struct device_index *ix = &host->device_index;

	if (ix->n > host->n_devices)	/* removed without a reset: start again */
		baton_device_index_reset(host);
	if (2 * host->n_devices > ix->mask + 1 || !ix->slots) {
		size_t size = 16;

		while (size < 2 * host->n_devices + 2)
			size *= 2;
		baton_device_index_reset(host);
		ix->slots = calloc(size, sizeof(*ix->slots));
		if (!ix->slots)
			return false;
		ix->mask = size - 1;
	}
	for (; ix->n < host->n_devices; ix->n++) {
		struct baton_device **slot = index_slot(ix, &host->devices[ix->n]->info.addr);

		/* Two at one address: the first is the one a scan finds. */
		if (!*slot)
			*slot = host->devices[ix->n];
	}
	return true;
}

struct baton_device *baton_host_device(const struct baton_host *host,
				       const struct baton_pci_addr *addr)
{
	/* The index is a cache: a lookup may update it. */
	struct baton_host *h = (struct baton_host *)host;

	if (index_catch_up(h))
		return *index_slot(&h->device_index, addr);
	for (size_t i = 0; i < host->n_devices; i++)
		if (!baton_pci_addr_cmp(&host->devices[i]->info.addr, addr))
			return host->devices[i];
	return NULL;
}

struct baton_device *baton_host_next_device(const struct baton_host *host,
					    const struct baton_device *prev)
{
	size_t i = 0;

	if (prev) {
		while (i < host->n_devices && host->devices[i] != prev)
			i++;
		i++;
	}
	return i < host->n_devices ? host->devices[i] : NULL;
}

const struct baton_device_info *baton_device_info(const struct baton_device *dev)
{
	return &dev->info;
}

const struct baton_driver *baton_device_driver(const struct baton_device *dev)
{
	return dev->drv;
}

struct baton_host *baton_device_host(const struct baton_device *dev)
{
	return dev->host;
}

void *baton_device_priv(const struct baton_device *dev)
{
	return dev->priv;
}

void baton_device_set_priv(struct baton_device *dev, void *priv)
{
	dev->priv = priv;
}
