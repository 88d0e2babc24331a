// SPDX-License-Identifier: MIT
/*
 * The driver of devsim's legacy device, in version 1 only: version 2 has
 * no driver for it.  Its state (legacy-state v1) is what it wrote into the
 * device's scratch register.  Under version 2 the device is quarantined:
 * nobody drives it, but its connection stays open, so it is not reset, and
 * its record goes on to a later version that may read it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_host.h"

#define LEGACY_ID		0x00
#define LEGACY_ID_VALUE		0x6c656731
#define LEGACY_SCRATCH		0x04

BATON_SCHEMA(legacy_state_v1, "legacy-state", 1,
	BATON_FIELD(u32, scratch));

struct legacy {
	struct baton_devio *io;
	struct legacy_state_v1 s;
};

static int legacy_probe(struct baton_device *dev)
{
	const struct baton_pci_addr *addr = &baton_device_info(dev)->addr;
	struct baton_session *session;
	struct legacy *l = calloc(1, sizeof(*l));
	uint32_t id;
	int err;

	if (!l)
		return -ENOMEM;
	l->io = demo_probing;
	l->s.scratch = 0x5c000000u | (uint32_t)addr->bus << 8 | addr->dev << 3 | addr->fn;
	err = baton_devio_read32(l->io, VFIO_PCI_BAR0_REGION_INDEX, LEGACY_ID, &id);
	if (!err && id != LEGACY_ID_VALUE)
		err = -BATON_ERR_BADVALUE;
	if (!err)
		err = baton_devio_write32(l->io, VFIO_PCI_BAR0_REGION_INDEX,
					  LEGACY_SCRATCH, l->s.scratch) ?:
		      demo_session(dev, &session) ?:
		      demo_preserve_connection(session, l->io);
	if (err) {
		free(l);
		return err;
	}
	demo_probing = NULL;
	baton_device_set_priv(dev, l);
	return 0;
}

static int legacy_preserve(struct baton_device *dev, void *state, size_t size)
{
	struct legacy *l = baton_device_priv(dev);

	if (size != sizeof(l->s))
		return -EINVAL;
	memcpy(state, &l->s, size);
	return 0;
}

static int legacy_validate(const void *state, size_t size)
{
	(void)state;
	return size == sizeof(struct legacy_state_v1) ? 0 : -EINVAL;
}

static int legacy_restore(struct baton_device *dev, const void *state, size_t size)
{
	struct baton_session *session;
	struct legacy *l;
	uint32_t scratch;
	bool fresh;
	int err;

	err = legacy_validate(state, size);
	if (err)
		return err;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memcpy(&l->s, state, size);
	err = demo_session(dev, &session) ?: demo_connection(session, dev, &l->io, &fresh);
	if (err)
		goto err_free;
	err = baton_devio_read32(l->io, VFIO_PCI_BAR0_REGION_INDEX, LEGACY_SCRATCH, &scratch);
	if (!err && (fresh || scratch != l->s.scratch))
		err = -BATON_ERR_BADVALUE;	/* reset since: not the device we were given */
	if (err)
		goto err_io;
	baton_device_set_priv(dev, l);
	return 0;

err_io:
	demo_release_connection(l->io, fresh);
err_free:
	free(l);
	return err;
}

static void legacy_remove(struct baton_device *dev)
{
	struct legacy *l = baton_device_priv(dev);

	if (!l)
		return;
	baton_devio_forget(l->io);
	free(l);
	baton_device_set_priv(dev, NULL);
}

static const struct baton_driver_ops legacy_ops = {
	.probe = legacy_probe,
	.preserve = legacy_preserve,
	.restore = legacy_restore,
	.validate = legacy_validate,
	.remove = legacy_remove,
};

BATON_DRIVER(legacy_driver, "legacy", 0, &legacy_ops,
	BATON_MATCH_DEVICE(0x1234, 0xba71),
	BATON_ACCEPT(legacy_state_v1));
