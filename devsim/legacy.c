// SPDX-License-Identifier: MIT
/**
 * DOC: legacy
 *
 * The simplest device: a scratch register and a count of writes to it, for
 * a driver the next program version no longer has (the planner's orphan
 * path).  BAR0, 4 KiB, trapped, 32-bit registers:
 *
 *   0x00 ID 0x6c656731 (RO)   0x04 SCRATCH (RW)   0x08 WRITES (RO)
 *
 * A reset clears SCRATCH and WRITES: a driver that finds its value still
 * there knows the device was not reset.
 */
#include <stdlib.h>

#include <json-c/json.h>

#include "devsim.h"

#define LEGACY_ID 0x6c656731u
#define LEGACY_BAR_SIZE 4096u

enum {
	LEGACY_REG_ID = 0x00,
	LEGACY_REG_SCRATCH = 0x04,
	LEGACY_REG_WRITES = 0x08,
};

struct legacy {
	uint32_t scratch;
	uint32_t writes;
};

static uint64_t legacy_read(struct devsim_dev *dev, uint32_t region,
			    uint64_t off, unsigned int size)
{
	struct legacy *l = dev->priv;

	(void)region;
	if (size != 4)
		return ~0ull;
	switch (off) {
	case LEGACY_REG_ID:
		return LEGACY_ID;
	case LEGACY_REG_SCRATCH:
		return l->scratch;
	case LEGACY_REG_WRITES:
		return l->writes;
	default:
		return 0;
	}
}

static void legacy_write(struct devsim_dev *dev, uint32_t region, uint64_t off,
			 unsigned int size, uint64_t val)
{
	struct legacy *l = dev->priv;

	(void)region;
	if (size == 4 && off == LEGACY_REG_SCRATCH) {
		l->scratch = (uint32_t)val;
		l->writes++;
	}
}

static void legacy_reset(struct devsim_dev *dev)
{
	struct legacy *l = dev->priv;

	l->scratch = 0;
	l->writes = 0;
}

static int legacy_init(struct devsim_dev *dev)
{
	dev->priv = calloc(1, sizeof(struct legacy));
	if (!dev->priv)
		return -1;
	dev->regions[VFIO_PCI_BAR0_REGION_INDEX] = (struct devsim_region){
		.size = LEGACY_BAR_SIZE,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1,
	};
	return 0;
}

static void legacy_fini(struct devsim_dev *dev)
{
	free(dev->priv);
	dev->priv = NULL;
}

static void legacy_status(struct devsim_dev *dev, struct json_object *obj)
{
	struct legacy *l = dev->priv;

	json_object_object_add(obj, "scratch", json_object_new_int64(l->scratch));
	json_object_object_add(obj, "writes", json_object_new_int64(l->writes));
}

const struct devsim_type devsim_legacy = {
	.name = "legacy",
	.vendor = 0x1234,
	.device = 0xba71,
	.class_code = 0xff0000,
	.init = legacy_init,
	.fini = legacy_fini,
	.reset = legacy_reset,
	.read = legacy_read,
	.write = legacy_write,
	.status = legacy_status,
};
