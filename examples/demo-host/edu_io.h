/* SPDX-License-Identifier: MIT */
#ifndef DEMO_EDU_IO_H
#define DEMO_EDU_IO_H

/*
 * QEMU's edu device (its docs/specs/edu.rst; devsim emulates it register
 * for register) as a driver reaches it through <baton/devio.h>: the
 * registers of BAR 0, and the two things it does on its own time - a
 * factorial (QEMU computes it in a thread) and a DMA (QEMU runs it 100 ms
 * after it is asked; devsim before it answers) - waited for with a bound.
 * Shared by demo-host's edu driver and the VM test's vfio-edu, with the
 * driver callbacks they have in common (struct edu_dev).
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/vfio.h>

#include <baton/devio.h>
#include <baton/host.h>

#define EDU_IDENT		0x00	/* 0xRRrr00ed: major, minor, 0, 0xed */
#define EDU_LIVENESS		0x04	/* reads back the inverse of what was written */
#define EDU_FACTORIAL		0x08
#define EDU_STATUS		0x20
#define EDU_STATUS_COMPUTING	0x01
#define EDU_IRQ_STATUS		0x24
#define EDU_IRQ_ACK		0x64
#define EDU_IRQ_DMA		0x100
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_COUNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_START		0x1
#define EDU_DMA_TO_RAM		0x2
#define EDU_DMA_IRQ		0x4
#define EDU_DMA_BUFFER		0x40000	/* the device's 4 KiB buffer, as DMA sees it */

/* How long the device may take; TCG is slow. */
#define EDU_DONE_WITHIN_MS	5000

static inline int edu_rd(struct baton_devio *io, uint64_t reg, uint32_t *val)
{
	return baton_devio_read32(io, VFIO_PCI_BAR0_REGION_INDEX, reg, val);
}

static inline int edu_wr(struct baton_devio *io, uint64_t reg, uint32_t val)
{
	return baton_devio_write32(io, VFIO_PCI_BAR0_REGION_INDEX, reg, val);
}

static inline int64_t edu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t edu_now_ms(void)
{
	return edu_now_us() / 1000;
}

/* Until the bits @busy of register @reg are clear, at most
 * EDU_DONE_WITHIN_MS: 0, -ETIMEDOUT, or the access's error. */
static inline int edu_wait_clear(struct baton_devio *io, uint64_t reg, uint32_t busy)
{
	const int64_t deadline = edu_now_ms() + EDU_DONE_WITHIN_MS;
	uint32_t v;
	int err;

	while (!(err = edu_rd(io, reg, &v)) && (v & busy))
		if (edu_now_ms() > deadline)
			return -ETIMEDOUT;
	return err;
}

/*
 * One DMA of @count bytes from @src to @dst (EDU_DMA_TO_RAM in @cmd: from
 * the device's buffer to an IOVA), waited for.  QEMU's edu aborts the
 * whole machine on a copy of its entire buffer (its range check is off by
 * one): @count stays below 4 KiB.
 */
static inline int edu_dma(struct baton_devio *io, uint64_t src, uint64_t dst,
			  uint32_t count, uint32_t cmd)
{
	return baton_devio_write64(io, VFIO_PCI_BAR0_REGION_INDEX, EDU_DMA_SRC, src) ?:
	       baton_devio_write64(io, VFIO_PCI_BAR0_REGION_INDEX, EDU_DMA_DST, dst) ?:
	       baton_devio_write64(io, VFIO_PCI_BAR0_REGION_INDEX, EDU_DMA_COUNT, count) ?:
	       edu_wr(io, EDU_DMA_CMD, cmd | EDU_DMA_START) ?:
	       edu_wait_clear(io, EDU_DMA_CMD, EDU_DMA_START);
}

/*
 * What both drivers' private data (baton_device_priv()) starts with: the
 * handle, and where the driver's state (its schema's struct) is.
 */
struct edu_dev {
	struct baton_devio *io;
	void *state;
	size_t state_size;
};

/*
 * A driver's private data of @size bytes, zeroed, whose state is
 * @state_size bytes at @state_offset; NULL when out of memory.
 */
static inline void *edu_dev_new(size_t size, size_t state_offset, size_t state_size)
{
	struct edu_dev *d = calloc(1, size);

	if (d) {
		d->state = (char *)d + state_offset;
		d->state_size = state_size;
	}
	return d;
}

/*
 * PREPARE: the state, and whether the device's DMA mappings could change
 * hands (type1: the freeze tried and undone, baton_devio_freeze_check()),
 * so that what the kernel would refuse at FREEZE refuses the update now.
 */
static inline int edu_dev_preserve(struct baton_device *dev, void *state, size_t size)
{
	struct edu_dev *d = baton_device_priv(dev);

	if (size != d->state_size)
		return -EINVAL;
	memcpy(state, d->state, size);
	return baton_devio_freeze_check(d->io);
}

/* type1 takes this process's address of the DMA memory back from the
 * kernel (docs/vfio.md); the device's DMA goes on. */
static inline int edu_dev_freeze(struct baton_device *dev)
{
	struct edu_dev *d = baton_device_priv(dev);

	return baton_devio_freeze(d->io);
}

static inline void edu_dev_unfreeze(struct baton_device *dev)
{
	struct edu_dev *d = baton_device_priv(dev);

	baton_devio_thaw(d->io);
}

#endif /* DEMO_EDU_IO_H */
