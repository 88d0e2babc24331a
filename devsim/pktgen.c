// SPDX-License-Identifier: MIT
/**
 * DOC: pktgen
 *
 * A NIC that only receives: at RATE packets per second it writes 64-byte
 * descriptors into a ring in the client's DMA memory and publishes how many
 * it wrote in a page the client maps (BAR2), then interrupts.  The driver
 * publishes how many it consumed in the same page.  Its point is to make
 * loss visible: every packet carries a sequence number that is never
 * reused, not even after a reset, so a packet lost anywhere is a gap.
 *
 * BAR0 (4 KiB, trapped):
 *   0x00 ID 0x70677631 (RO)       0x04 CTRL, bit 0 enable
 *   0x08 RING_IOVA lo, 0x0c hi     0x10 RING_ENTRIES (power of two <= 65536;
 *                                       other values are ignored)
 *   0x14 RATE packets/s            0x18 STATUS (RO), bit 0: the ring is not
 *                                       inside a writable DMA mapping, or
 *                                       not aligned for its descriptors
 *   0x20 GENERATED u64 (RO)        0x28 DROPPED u64 (RO)
 * BAR2 (4 KiB, mmappable memfd): u32 HEAD at 0 (device: packets written,
 * free-running), u32 TAIL at 64 (driver: packets consumed, free-running).
 *
 * Each 1 ms tick, while enabled, configured and not paused, the device makes
 * RATE x elapsed packets (the fraction carried to the next tick; a stall
 * longer than 100 ms is not made up).  It is ticked only when a packet is
 * due (at 200 packets/s, one tick in five) or something changed it (a
 * client's message, a pause); generation counts from the first tick after
 * it was enabled, resumed or given a new RATE.  A packet goes to slot HEAD % entries
 * if the ring has room (HEAD - TAIL < entries), else it is dropped; either
 * way it used a sequence number.  The descriptor's bytes are stored before
 * HEAD is published with a release store, and TAIL is read with an acquire
 * load, so a driver on another CPU sees whole descriptors.
 *
 * Reset (client gone, DEVICE_RESET): the packets written but not consumed
 * are counted in lost_on_reset, then every register goes to power-on values
 * (RATE to the --device rate).  The status socket's counters are over the
 * whole devsim process; the GENERATED/DROPPED registers restart at 0.
 *
 * Injected faults (struct devsim_faults), for tests of whoever counts the
 * packets: loss=SEQ uses the sequence number without writing the packet
 * (counted in skipped); dup=SEQ writes the packet into two slots (the
 * second copy counted in repeated); reset=SEQ stops generating after the
 * packet, waits until the driver has consumed the ring, and resets the
 * device as DEVICE_RESET would, so that nothing is lost with it.  So, over
 * devsim's life:
 *
 *	generated = written - repeated + dropped + skipped
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "devsim.h"

#define PKTGEN_ID 0x70677631u
#define PKTGEN_BAR_SIZE 4096u
#define PKTGEN_MAX_ENTRIES 65536u
#define PKTGEN_HEAD_OFF 0
#define PKTGEN_TAIL_OFF 64
#define PKTGEN_DESC_DONE 0x1u
#define PKTGEN_DATA_LEN 48
#define PKTGEN_MAX_STALL_NS 100000000ull

enum {
	PKTGEN_REG_ID = 0x00,
	PKTGEN_REG_CTRL = 0x04,
	PKTGEN_REG_RING_LO = 0x08,
	PKTGEN_REG_RING_HI = 0x0c,
	PKTGEN_REG_ENTRIES = 0x10,
	PKTGEN_REG_RATE = 0x14,
	PKTGEN_REG_STATUS = 0x18,
	PKTGEN_REG_GENERATED = 0x20,
	PKTGEN_REG_DROPPED = 0x28,
};

#define PKTGEN_CTRL_ENABLE 0x1u
#define PKTGEN_STATUS_DMA_ERROR 0x1u

/* The descriptor, as the driver reads it from the ring. */
struct pktgen_desc {
	uint64_t seq;
	uint32_t len;
	uint32_t flags;
	uint8_t data[PKTGEN_DATA_LEN];
};
_Static_assert(sizeof(struct pktgen_desc) == 64, "descriptors are 64 bytes");

struct pktgen {
	/* Registers. */
	uint32_t ctrl;
	uint64_t ring_iova;
	uint32_t entries;
	uint32_t rate;
	uint32_t status;
	uint64_t reg_generated, reg_dropped;
	uint32_t head;		/* ours; the page's copy is only published */

	uint64_t last_ns;
	uint64_t credit;	/* rate x ns not yet turned into packets */
	bool idle;		/* not generating at the last tick: count from the next */
	uint64_t next_seq;	/* never reset */
	bool reset_pending;	/* reset=SEQ is past: reset once drained */

	/* For the status socket, over the process's lifetime. */
	uint64_t generated, written, dropped, lost_on_reset;
	uint64_t skipped, repeated;	/* loss= and dup= */
};

static struct pktgen *pg_of(const struct devsim_dev *dev)
{
	return dev->priv;
}

static uint32_t *shared_u32(const struct devsim_dev *dev, unsigned int off)
{
	return (uint32_t *)(dev->regions[VFIO_PCI_BAR2_REGION_INDEX].mem + off);
}

static uint32_t load_tail(const struct devsim_dev *dev)
{
	return __atomic_load_n(shared_u32(dev, PKTGEN_TAIL_OFF), __ATOMIC_ACQUIRE);
}

bool devsim_pktgen_enabled(const struct devsim_dev *dev)
{
	return dev->type == &devsim_pktgen && (pg_of(dev)->ctrl & PKTGEN_CTRL_ENABLE);
}

uint64_t devsim_pktgen_generated(const struct devsim_dev *dev)
{
	return pg_of(dev)->generated;
}

static void fill(struct pktgen_desc *d, uint64_t seq)
{
	for (int i = 0; i < PKTGEN_DATA_LEN; i++)
		d->data[i] = (uint8_t)(seq + (uint64_t)i);
	d->len = PKTGEN_DATA_LEN;
	d->flags = PKTGEN_DESC_DONE;
	d->seq = seq;
}

/* Write @seq into the next slot if the ring has room; whether it had. */
static bool put(struct devsim_dev *dev, struct pktgen_desc *ring, uint32_t tail,
		uint64_t seq)
{
	struct pktgen *p = pg_of(dev);

	if ((uint32_t)(p->head - tail) >= p->entries)
		return false;
	fill(&ring[p->head & (p->entries - 1)], seq);
	p->head++;
	p->written++;
	return true;
}

/* Whether @seq is among the @n from @first (@seq 0, no fault, never is). */
static bool among(uint64_t seq, uint64_t first, uint64_t n)
{
	return seq >= first && seq - first < n;
}

/*
 * @n packets the full ring cannot take, in one go however many (RATE may
 * be 2^32 - 1): each uses its sequence number, up to a reset=SEQ.
 */
static void drop(struct devsim_dev *dev, uint64_t n)
{
	const struct devsim_faults *f = &dev->faults;
	struct pktgen *p = pg_of(dev);
	const uint64_t first = p->next_seq;
	uint64_t skipped;

	if (among(f->reset, first, n)) {
		n = f->reset - first + 1;
		p->reset_pending = true;
	}
	skipped = among(f->loss, first, n);
	p->next_seq += n;
	p->generated += n;
	p->reg_generated += n;
	p->skipped += skipped;
	p->dropped += n - skipped;
	p->reg_dropped += n - skipped;
}

/*
 * When @p, generating, next has a packet to make: the first time its
 * credit reaches a whole packet (the ticks before make none, so they are
 * skipped: ~1 in 5 ticks has work for a device at 200 packets/s), but
 * within half the stall bound, so that skipping never loses credit.
 */
static uint64_t next_packet_ns(const struct pktgen *p, uint64_t now_ns)
{
	const uint64_t need = 1000000000ull - p->credit;
	const uint64_t wait = (need + p->rate - 1) / p->rate;

	return now_ns + (wait < PKTGEN_MAX_STALL_NS / 2 ? wait : PKTGEN_MAX_STALL_NS / 2);
}

static uint64_t pktgen_tick(struct devsim_dev *dev, uint64_t now_ns)
{
	const struct devsim_faults *f = &dev->faults;
	struct pktgen *p = pg_of(dev);
	struct pktgen_desc *ring;
	uint64_t dt = p->idle ? 0 : now_ns - p->last_ns, n;
	uint32_t tail, head = p->head;

	p->last_ns = now_ns;
	if (p->reset_pending) {
		/* Paused or not: the driver may drain while devsim is paused. */
		if (load_tail(dev) == p->head)
			devsim_dev_reset(dev);
		return 0;
	}
	/*
	 * Not generating: nothing to do until a register write or a pause's
	 * end, which wake the device; it then counts from that tick on.
	 */
	if (!(p->ctrl & PKTGEN_CTRL_ENABLE) || !p->entries || !p->rate ||
	    dev->sim->paused) {
		p->idle = true;
		p->credit = 0;
		return UINT64_MAX;
	}
	ring = devsim_dma(dev, p->ring_iova,
			  (uint64_t)p->entries * sizeof(*ring), true);
	/* A client's ring where descriptors cannot be stored is its error. */
	if (!ring || (uintptr_t)ring % _Alignof(struct pktgen_desc)) {
		p->status |= PKTGEN_STATUS_DMA_ERROR;
		p->idle = true;
		p->credit = 0;
		return 0;
	}
	p->idle = false;
	p->status &= ~PKTGEN_STATUS_DMA_ERROR;
	if (dt > PKTGEN_MAX_STALL_NS)
		dt = PKTGEN_MAX_STALL_NS;
	p->credit += (uint64_t)p->rate * dt;
	n = p->credit / 1000000000ull;
	p->credit %= 1000000000ull;

	tail = load_tail(dev);
	for (; n && !p->reset_pending; n--) {
		const uint64_t seq = p->next_seq;

		if ((uint32_t)(p->head - tail) >= p->entries) {
			drop(dev, n);
			break;
		}
		p->next_seq++;
		p->generated++;
		p->reg_generated++;
		if (seq == f->loss)
			p->skipped++;
		else if (put(dev, ring, tail, seq) && seq == f->dup &&
			 put(dev, ring, tail, seq))
			p->repeated++;
		p->reset_pending = seq == f->reset;
	}
	if (p->head != head) {
		__atomic_store_n(shared_u32(dev, PKTGEN_HEAD_OFF), p->head,
				 __ATOMIC_RELEASE);
		devsim_irq(dev);
	}
	if (p->reset_pending) {
		p->credit = 0;
		return 0;
	}
	return next_packet_ns(p, now_ns);
}

static uint64_t pktgen_reg(struct pktgen *p, uint64_t off)
{
	switch (off) {
	case PKTGEN_REG_ID:
		return PKTGEN_ID;
	case PKTGEN_REG_CTRL:
		return p->ctrl;
	case PKTGEN_REG_RING_LO:
		return (uint32_t)p->ring_iova;
	case PKTGEN_REG_RING_HI:
		return p->ring_iova >> 32;
	case PKTGEN_REG_ENTRIES:
		return p->entries;
	case PKTGEN_REG_RATE:
		return p->rate;
	case PKTGEN_REG_STATUS:
		return p->status;
	case PKTGEN_REG_GENERATED:
		return (uint32_t)p->reg_generated;
	case PKTGEN_REG_GENERATED + 4:
		return p->reg_generated >> 32;
	case PKTGEN_REG_DROPPED:
		return (uint32_t)p->reg_dropped;
	case PKTGEN_REG_DROPPED + 4:
		return p->reg_dropped >> 32;
	default:
		return 0;
	}
}

/* Registers are 32 bits; a 64-bit access is two, low half first. */
static uint64_t pktgen_read(struct devsim_dev *dev, uint32_t region,
			    uint64_t off, unsigned int size)
{
	struct pktgen *p = pg_of(dev);
	uint64_t dword;

	(void)region;
	if (size == 8)
		return pktgen_reg(p, off) | pktgen_reg(p, off + 4) << 32;
	dword = pktgen_reg(p, off & ~3ull);
	return dword >> (8 * (off & 3));
}

static void pktgen_write32(struct devsim_dev *dev, uint64_t off, uint32_t val)
{
	struct pktgen *p = pg_of(dev);

	switch (off) {
	case PKTGEN_REG_CTRL:
		if ((val & PKTGEN_CTRL_ENABLE) && !(p->ctrl & PKTGEN_CTRL_ENABLE))
			p->credit = 0;
		p->ctrl = val & PKTGEN_CTRL_ENABLE;
		break;
	case PKTGEN_REG_RING_LO:
		p->ring_iova = (p->ring_iova & ~0xffffffffull) | val;
		break;
	case PKTGEN_REG_RING_HI:
		p->ring_iova = (p->ring_iova & 0xffffffffull) | (uint64_t)val << 32;
		break;
	case PKTGEN_REG_ENTRIES:
		if (val && val <= PKTGEN_MAX_ENTRIES && !(val & (val - 1)))
			p->entries = val;
		break;
	case PKTGEN_REG_RATE:
		/* The new rate from the next tick: none of the skipped ones at it. */
		p->rate = val;
		p->idle = true;
		break;
	}
}

static void pktgen_write(struct devsim_dev *dev, uint32_t region, uint64_t off,
			 unsigned int size, uint64_t val)
{
	(void)region;
	if (size == 8) {
		pktgen_write32(dev, off, (uint32_t)val);
		pktgen_write32(dev, off + 4, (uint32_t)(val >> 32));
	} else if (size == 4) {
		pktgen_write32(dev, off, (uint32_t)val);
	}
	/* Narrower writes are ignored, as by many real devices. */
}

static void pktgen_reset(struct devsim_dev *dev)
{
	struct pktgen *p = pg_of(dev);
	uint32_t pending;

	if (p->ctrl & PKTGEN_CTRL_ENABLE) {
		pending = p->head - load_tail(dev);
		/* A TAIL the driver pushed past HEAD is not a count of packets. */
		p->lost_on_reset += pending <= p->entries ? pending : 0;
	}
	p->ctrl = 0;
	p->ring_iova = 0;
	p->entries = 0;
	p->rate = dev->rate;
	p->status = 0;
	p->reg_generated = p->reg_dropped = 0;
	p->head = 0;
	p->credit = 0;
	p->idle = true;
	p->reset_pending = false;
	memset(dev->regions[VFIO_PCI_BAR2_REGION_INDEX].mem, 0, PKTGEN_BAR_SIZE);
}

static int pktgen_init(struct devsim_dev *dev)
{
	struct devsim_region *bar2 = &dev->regions[VFIO_PCI_BAR2_REGION_INDEX];
	struct pktgen *p;
	void *mem;
	int fd;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->next_seq = 1;
	p->last_ns = devsim_now_ns();
	fd = memfd_create("pktgen-bar2", MFD_CLOEXEC);
	if (fd < 0)
		goto err_free;
	if (ftruncate(fd, PKTGEN_BAR_SIZE))
		goto err_close;
	mem = mmap(NULL, PKTGEN_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		goto err_close;

	dev->priv = p;
	dev->regions[VFIO_PCI_BAR0_REGION_INDEX] = (struct devsim_region){
		.size = PKTGEN_BAR_SIZE,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1,
	};
	*bar2 = (struct devsim_region){
		.size = PKTGEN_BAR_SIZE,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP,
		.fd = fd,
		.mem = mem,
	};
	return 0;

err_close:
	close(fd);
err_free:
	free(p);
	return -1;
}

static void pktgen_fini(struct devsim_dev *dev)
{
	struct devsim_region *bar2 = &dev->regions[VFIO_PCI_BAR2_REGION_INDEX];

	munmap(bar2->mem, PKTGEN_BAR_SIZE);
	close(bar2->fd);
	bar2->mem = NULL;
	bar2->fd = -1;
	free(dev->priv);
	dev->priv = NULL;
}

static void pktgen_status(struct devsim_dev *dev, struct json_object *obj)
{
	struct pktgen *p = pg_of(dev);

	json_object_object_add(obj, "enabled",
			       json_object_new_boolean(p->ctrl & PKTGEN_CTRL_ENABLE));
	json_object_object_add(obj, "generated", json_object_new_int64((int64_t)p->generated));
	json_object_object_add(obj, "written", json_object_new_int64((int64_t)p->written));
	json_object_object_add(obj, "dropped", json_object_new_int64((int64_t)p->dropped));
	json_object_object_add(obj, "lost_on_reset",
			       json_object_new_int64((int64_t)p->lost_on_reset));
	json_object_object_add(obj, "skipped", json_object_new_int64((int64_t)p->skipped));
	json_object_object_add(obj, "repeated", json_object_new_int64((int64_t)p->repeated));
	json_object_object_add(obj, "head", json_object_new_int64(p->head));
	json_object_object_add(obj, "tail", json_object_new_int64(load_tail(dev)));
	json_object_object_add(obj, "rate", json_object_new_int64(p->rate));
	json_object_object_add(obj, "dma_error",
			       json_object_new_boolean(p->status & PKTGEN_STATUS_DMA_ERROR));
}

const struct devsim_type devsim_pktgen = {
	.name = "pktgen",
	.vendor = 0x1234,
	.device = 0xba70,
	.class_code = 0x020000,
	.init = pktgen_init,
	.fini = pktgen_fini,
	.reset = pktgen_reset,
	.read = pktgen_read,
	.write = pktgen_write,
	.tick = pktgen_tick,
	.status = pktgen_status,
};
