// SPDX-License-Identifier: MIT
/*
 * The driver of an edu device (QEMU's educational PCI device, which devsim
 * emulates register for register): the same in both versions, schema
 * edu-state v1, and the same on devsim and on QEMU's own edu through VFIO
 * (<baton/devio.h>; the device's registers and waits: edu_io.h).
 *
 * At probe it proves the device works - liveness, a factorial, a DMA round
 * trip through a region of ours - and keeps what the device must still
 * show afterwards.  restore() reads the registers back - the read started
 * there, checked in restore_complete() once every device's is in flight:
 * a device that was reset in between would have lost them, and the
 * restore fails rather than drive a device that is not in the state it
 * was handed over in.
 * Its DMA mapping is the previous version's, adopted, not made again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "demo_host.h"
#include "edu_io.h"

#define EDU_IDENT_VALUE		0x010000ed

#define DMA_BYTES	4096u
#define DMA_IOVA	0x100000u	/* well inside edu's 28-bit DMA mask */
#define LIVENESS	0x5eed1e55u
#define FACTORIAL_OF	10u

BATON_SCHEMA(edu_state_v1, "edu-state", 1,
	BATON_FIELD(u32, liveness),
	BATON_FIELD(u32, factorial_of),
	BATON_FIELD(u32, factorial),
	BATON_FIELD(u32, dma_bytes));

struct edu {
	struct edu_dev d;	/* first: edu_io.h's callbacks find it there */
	struct edu_state_v1 s;
	uint32_t regs[2];	/* restore(): EDU_LIVENESS, EDU_FACTORIAL read back */
};

static struct edu *edu_new(void)
{
	return edu_dev_new(sizeof(struct edu), offsetof(struct edu, s), sizeof(struct edu_state_v1));
}

static int rd(struct edu *e, uint64_t reg, uint32_t *val)
{
	return edu_rd(e->d.io, reg, val);
}

static int wr(struct edu *e, uint64_t reg, uint32_t val)
{
	return edu_wr(e->d.io, reg, val);
}

static int dma(struct edu *e, uint64_t src, uint64_t dst, uint32_t cmd)
{
	return edu_dma(e->d.io, src, dst, DMA_BYTES / 2, cmd);
}

/* Liveness, a factorial, and half our region through the device's buffer
 * into the other half. */
static int exercise(struct edu *e, struct baton_device *dev)
{
	struct baton_region *r;
	uint32_t ident, live, status, fact;
	uint8_t *mem;
	int err;

	err = rd(e, EDU_IDENT, &ident);
	if (err)
		return err;
	if (ident != EDU_IDENT_VALUE)
		return -BATON_ERR_BADVALUE;
	err = baton_device_region(dev, "edu-dma", DMA_BYTES, &r);
	if (err)
		return err;
	mem = baton_region_base(r);
	for (uint32_t i = 0; i < DMA_BYTES / 2; i++)
		mem[i] = (uint8_t)(i * 7);
	err = wr(e, EDU_LIVENESS, LIVENESS) ?: rd(e, EDU_LIVENESS, &live) ?:
	      wr(e, EDU_FACTORIAL, FACTORIAL_OF) ?:
	      edu_wait_clear(e->d.io, EDU_STATUS, EDU_STATUS_COMPUTING) ?:
	      rd(e, EDU_STATUS, &status) ?:
	      rd(e, EDU_FACTORIAL, &fact) ?:
	      baton_devio_dma_map(e->d.io, DMA_IOVA, DMA_BYTES, baton_region_fd(r), 0, true) ?:
	      dma(e, DMA_IOVA, EDU_DMA_BUFFER, 0) ?:
	      dma(e, EDU_DMA_BUFFER, DMA_IOVA + DMA_BYTES / 2, EDU_DMA_TO_RAM);
	if (err)
		return err;
	if (live != ~LIVENESS || (status & EDU_STATUS_COMPUTING) || fact != 3628800 ||
	    memcmp(mem, mem + DMA_BYTES / 2, DMA_BYTES / 2))
		return -BATON_ERR_BADVALUE;
	e->s = (struct edu_state_v1){ LIVENESS, FACTORIAL_OF, fact, DMA_BYTES / 2 };
	return 0;
}

static int edu_probe(struct baton_device *dev)
{
	struct baton_session *session;
	struct edu *e = edu_new();
	int err;

	if (!e)
		return -ENOMEM;
	e->d.io = demo_probing;
	err = exercise(e, dev) ?: demo_session(dev, &session);
	if (!err)
		err = demo_preserve_connection(session, e->d.io);
	if (err) {
		free(e);
		return err;
	}
	demo_probing = NULL;
	baton_device_set_priv(dev, e);
	return 0;
}

static int edu_validate(const void *state, size_t size)
{
	const struct edu_state_v1 *s = state;

	if (size != sizeof(*s))
		return -EINVAL;
	return s->factorial_of <= 12 && s->dma_bytes <= DMA_BYTES / 2 ?
	       0 : -BATON_ERR_BADVALUE;
}

static int edu_restore(struct baton_device *dev, const void *state, size_t size)
{
	struct baton_session *session;
	struct baton_region *r;
	struct edu *e;
	bool fresh;
	int err;

	err = edu_validate(state, size);
	if (err)
		return err;
	e = edu_new();
	if (!e)
		return -ENOMEM;
	memcpy(&e->s, state, size);
	err = demo_session(dev, &session) ?: demo_connection(session, dev, &e->d.io, &fresh);
	if (err)
		goto err_free;
	/* The device still reaches our region where it did: we say where it
	 * is in this process, nothing is mapped for the device. */
	err = fresh ? -BATON_ERR_BADVALUE :
	      baton_device_region(dev, "edu-dma", DMA_BYTES, &r) ?:
	      baton_devio_dma_adopt(e->d.io, DMA_IOVA, DMA_BYTES, baton_region_fd(r), 0, true);
	if (err)
		goto err_io;
	/*
	 * What the device showed the previous version, it must show us: the
	 * two registers side by side in one read (the device sees two 4-byte
	 * accesses), started here and checked by edu_restore_complete() once
	 * every device's read is in flight: no round trip of its own inside
	 * the blackout.
	 */
	err = baton_devio_read_submit(e->d.io, VFIO_PCI_BAR0_REGION_INDEX, EDU_LIVENESS,
				      e->regs, sizeof(e->regs));
	if (err)
		goto err_io;
	baton_device_set_priv(dev, e);
	return 0;

err_io:
	demo_release_connection(e->d.io, fresh);
err_free:
	free(e);
	return err;
}

/* A device reset in between would have lost the registers: then the
 * restore fails, and edu_remove() lets go. */
static int edu_restore_complete(struct baton_device *dev)
{
	struct edu *e = baton_device_priv(dev);
	int err = baton_devio_read_complete(e->d.io);

	if (!err && (e->regs[0] != ~e->s.liveness || e->regs[1] != e->s.factorial))
		err = -BATON_ERR_BADVALUE;
	return err;
}

/* Let go without a reset: the connection stays open (see pktgen_remove()). */
static void edu_remove(struct baton_device *dev)
{
	struct edu *e = baton_device_priv(dev);

	if (!e)
		return;
	baton_devio_forget(e->d.io);
	free(e);
	baton_device_set_priv(dev, NULL);
}

static const struct baton_driver_ops edu_ops = {
	.probe = edu_probe,
	.preserve = edu_dev_preserve,
	.freeze = edu_dev_freeze,
	.unfreeze = edu_dev_unfreeze,
	.restore = edu_restore,
	.validate = edu_validate,
	.remove = edu_remove,
	.restore_complete = edu_restore_complete,
};

BATON_DRIVER(edu_driver, "edu", 0, &edu_ops,
	BATON_MATCH_DEVICE(0x1234, 0x11e8),
	BATON_ACCEPT(edu_state_v1));
