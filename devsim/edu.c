// SPDX-License-Identifier: MIT
/**
 * DOC: edu
 *
 * QEMU's educational device (docs/specs/edu.rst), register for register, so
 * that a driver written for it works here.  BAR0 is 1 MiB of trapped
 * registers.  What differs, and why:
 *
 *  - The factorial and the DMA complete within the write that starts them
 *    (there is no vCPU to keep running meanwhile), so status bit 0x01 and
 *    DMA command bit 0x01 already read 0 afterwards.
 *  - QEMU aborts the whole VM on a DMA outside the 4 KiB buffer; here the
 *    transfer is not done and DMA command bit 0x08 (DMA_ERROR) is set until
 *    the next command.  The RAM side is an IOVA the client lent with
 *    DMA_MAP; QEMU's 28-bit DMA mask is not emulated.
 *  - A 4-byte write at +4 of the 64-bit DMA registers sets their high half,
 *    which QEMU ignores, for drivers that only make 32-bit accesses.
 *
 * Interrupts go to MSI (index 1) if the client set an eventfd there, else
 * to INTx (index 0), each time a raise leaves the interrupt status non-zero.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "devsim.h"

#define EDU_BAR_SIZE (1u << 20)
#define EDU_IDENT 0x010000edu

enum {
	EDU_REG_IDENT = 0x00,
	EDU_REG_LIVENESS = 0x04,
	EDU_REG_FACTORIAL = 0x08,
	EDU_REG_STATUS = 0x20,
	EDU_REG_IRQ_STATUS = 0x24,
	EDU_REG_IRQ_RAISE = 0x60,
	EDU_REG_IRQ_ACK = 0x64,
	EDU_REG_DMA_SRC = 0x80,
	EDU_REG_DMA_DST = 0x88,
	EDU_REG_DMA_COUNT = 0x90,
	EDU_REG_DMA_CMD = 0x98,
};

#define EDU_STATUS_COMPUTING 0x01u
#define EDU_STATUS_IRQFACT 0x80u
#define EDU_IRQ_FACT 0x00000001u
#define EDU_IRQ_DMA 0x00000100u
#define EDU_DMA_RUN 0x1u
#define EDU_DMA_TO_RAM 0x2u
#define EDU_DMA_IRQ 0x4u
#define EDU_DMA_ERROR 0x8u

#define EDU_DMA_START 0x40000u
#define EDU_DMA_SIZE 4096u

struct edu {
	uint32_t liveness;	/* stored inverted, as read back */
	uint32_t fact;
	uint32_t status;
	uint32_t irq_status;
	uint64_t dma_src, dma_dst, dma_count, dma_cmd;
	uint8_t dma_buf[EDU_DMA_SIZE];
	/* For the status socket, over the process's lifetime. */
	uint64_t factorials, dmas, dma_errors, irqs;
};

static struct edu *edu_of(struct devsim_dev *dev)
{
	return dev->priv;
}

static void edu_raise(struct devsim_dev *dev, uint32_t bits)
{
	struct edu *e = edu_of(dev);

	e->irq_status |= bits;
	if (!e->irq_status)
		return;
	e->irqs++;
	devsim_irq(dev);
}

static uint32_t factorial(uint32_t n)
{
	uint32_t r = 1;

	/* 34! and above have 32 factors of two: 0 modulo 2^32, as QEMU's loop
	 * would find after up to 2^32 multiplications. */
	if (n >= 34)
		return 0;
	while (n > 1)
		r *= n--;
	return r;
}

/* Does [addr, addr + count) lie in the device's DMA buffer? */
static bool in_buffer(uint64_t addr, uint64_t count)
{
	return addr >= EDU_DMA_START && addr - EDU_DMA_START <= EDU_DMA_SIZE &&
	       count <= EDU_DMA_SIZE - (addr - EDU_DMA_START);
}

static void edu_dma(struct devsim_dev *dev)
{
	struct edu *e = edu_of(dev);
	bool to_ram = e->dma_cmd & EDU_DMA_TO_RAM;
	uint64_t dev_addr = to_ram ? e->dma_src : e->dma_dst;
	uint64_t ram_addr = to_ram ? e->dma_dst : e->dma_src;
	uint8_t *ram = NULL;

	e->dma_cmd &= ~(uint64_t)(EDU_DMA_RUN | EDU_DMA_ERROR);
	if (e->dma_count && in_buffer(dev_addr, e->dma_count))
		ram = devsim_dma(dev, ram_addr, e->dma_count, to_ram);
	if (!ram) {
		e->dma_cmd |= EDU_DMA_ERROR;
		e->dma_errors++;
		devsim_log("%s: DMA of %llu bytes between 0x%llx and 0x%llx aborted",
			   dev->name, (unsigned long long)e->dma_count,
			   (unsigned long long)e->dma_src,
			   (unsigned long long)e->dma_dst);
		return;
	}
	if (to_ram)
		memcpy(ram, e->dma_buf + (dev_addr - EDU_DMA_START), e->dma_count);
	else
		memcpy(e->dma_buf + (dev_addr - EDU_DMA_START), ram, e->dma_count);
	e->dmas++;
	if (e->dma_cmd & EDU_DMA_IRQ)
		edu_raise(dev, EDU_IRQ_DMA);
}

static uint64_t *dma_reg(struct edu *e, uint64_t off)
{
	switch (off & ~7ull) {
	case EDU_REG_DMA_SRC:
		return &e->dma_src;
	case EDU_REG_DMA_DST:
		return &e->dma_dst;
	case EDU_REG_DMA_COUNT:
		return &e->dma_count;
	case EDU_REG_DMA_CMD:
		return &e->dma_cmd;
	default:
		return NULL;
	}
}

static uint64_t edu_read(struct devsim_dev *dev, uint32_t region, uint64_t off,
			 unsigned int size)
{
	struct edu *e = edu_of(dev);
	uint64_t *reg;

	(void)region;
	if (off < 0x80) {
		if (size != 4)
			return ~0ull;
		switch (off) {
		case EDU_REG_IDENT:
			return EDU_IDENT;
		case EDU_REG_LIVENESS:
			return e->liveness;
		case EDU_REG_FACTORIAL:
			return e->fact;
		case EDU_REG_STATUS:
			return e->status;
		case EDU_REG_IRQ_STATUS:
			return e->irq_status;
		default:
			return ~0ull;
		}
	}
	reg = dma_reg(e, off);
	if (!reg || (size != 4 && size != 8))
		return ~0ull;
	return off & 4 ? *reg >> 32 : *reg;
}

static void edu_write(struct devsim_dev *dev, uint32_t region, uint64_t off,
		      unsigned int size, uint64_t val)
{
	struct edu *e = edu_of(dev);
	uint64_t *reg;

	(void)region;
	if (off < 0x80) {
		if (size != 4)
			return;
		switch (off) {
		case EDU_REG_LIVENESS:
			e->liveness = ~(uint32_t)val;
			break;
		case EDU_REG_FACTORIAL:
			if (e->status & EDU_STATUS_COMPUTING)
				break;
			e->fact = factorial((uint32_t)val);
			e->factorials++;
			if (e->status & EDU_STATUS_IRQFACT)
				edu_raise(dev, EDU_IRQ_FACT);
			break;
		case EDU_REG_STATUS:
			e->status = (e->status & ~EDU_STATUS_IRQFACT) |
				    ((uint32_t)val & EDU_STATUS_IRQFACT);
			break;
		case EDU_REG_IRQ_RAISE:
			edu_raise(dev, (uint32_t)val);
			break;
		case EDU_REG_IRQ_ACK:
			e->irq_status &= ~(uint32_t)val;
			break;
		}
		return;
	}
	reg = dma_reg(e, off);
	if (!reg || (size != 4 && size != 8))
		return;
	if (off & 4)
		*reg = (*reg & 0xffffffffull) | (uint64_t)(uint32_t)val << 32;
	else
		*reg = size == 4 ? (uint32_t)val : val;
	if (reg == &e->dma_cmd && !(off & 4) && (val & EDU_DMA_RUN))
		edu_dma(dev);
}

static void edu_reset(struct devsim_dev *dev)
{
	struct edu *e = edu_of(dev);

	e->liveness = 0;
	e->fact = 0;
	e->status = 0;
	e->irq_status = 0;
	e->dma_src = e->dma_dst = e->dma_count = e->dma_cmd = 0;
	memset(e->dma_buf, 0, sizeof(e->dma_buf));
}

static int edu_init(struct devsim_dev *dev)
{
	dev->priv = calloc(1, sizeof(struct edu));
	if (!dev->priv)
		return -1;
	dev->regions[VFIO_PCI_BAR0_REGION_INDEX] = (struct devsim_region){
		.size = EDU_BAR_SIZE,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1,
	};
	return 0;
}

static void edu_fini(struct devsim_dev *dev)
{
	free(dev->priv);
	dev->priv = NULL;
}

static void edu_status(struct devsim_dev *dev, struct json_object *obj)
{
	struct edu *e = edu_of(dev);

	json_object_object_add(obj, "factorials", json_object_new_int64((int64_t)e->factorials));
	json_object_object_add(obj, "dmas", json_object_new_int64((int64_t)e->dmas));
	json_object_object_add(obj, "dma_errors", json_object_new_int64((int64_t)e->dma_errors));
	json_object_object_add(obj, "irqs", json_object_new_int64((int64_t)e->irqs));
	json_object_object_add(obj, "irq_status", json_object_new_int64(e->irq_status));
}

const struct devsim_type devsim_edu = {
	.name = "edu",
	.vendor = 0x1234,
	.device = 0x11e8,
	.class_code = 0x00ff00,
	.init = edu_init,
	.fini = edu_fini,
	.reset = edu_reset,
	.read = edu_read,
	.write = edu_write,
	.status = edu_status,
};
