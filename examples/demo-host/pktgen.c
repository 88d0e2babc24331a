// SPDX-License-Identifier: MIT
/*
 * The driver of devsim's pktgen, a NIC-like device (docs/devsim.md): it
 * writes sequence-numbered packets into an RX ring in our DMA memory,
 * advances HEAD in a shared page and raises an interrupt; we consume up to
 * HEAD and publish TAIL.
 *
 * Version 1 calls the driver "pktgen" and writes pktgen-state v1.  Version
 * 2 renamed it "nicx", added counters to its state (pktgen-state v2: it
 * checks every payload) and reads v1 through a converter.  Driver names
 * are never part of the contract; the schema is.
 *
 * Across an update:
 *  - the rings live in one region all pktgen devices share ("pktgen-dma",
 *    baton_device_region(): preserved with the first, released with the
 *    last), DMA-mapped into each device at IOVA 0;
 *  - the connection and the interrupt eventfd are preserved fds, so the
 *    device never sees a close and is never reset;
 *  - freeze() only stops consuming: the device keeps writing packets into
 *    the ring through the blackout; the new version's finish() consumes
 *    them from the TAIL the old one left.  Nothing is lost unless the ring
 *    fills up, and then the device counts the drops itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "demo_host.h"

/* BAR0 registers and the BAR2 page (docs/devsim.md). */
#define PKTGEN_ID		0x00
#define PKTGEN_ID_VALUE		0x70677631
#define PKTGEN_CTRL		0x04
#define PKTGEN_CTRL_ENABLE	0x1
#define PKTGEN_RING_IOVA	0x08
#define PKTGEN_RING_ENTRIES	0x10
#define PKTGEN_PAGE_HEAD	0	/* u32 index into the BAR2 page */
#define PKTGEN_PAGE_TAIL	16	/* offset 64 */
#define PKTGEN_PAGE_SIZE	4096

/* An RX descriptor, as the device writes it. */
struct pktgen_desc {
	uint64_t seq;
	uint32_t len;
	uint32_t flags;
	uint8_t data[48];
};

/*
 * The pool all rings live in: a header page that says how it is laid out
 * - read by the next version, which inherits the pool - then one ring per
 * slot.  A ring is 65536 entries (4 MiB: 3.3 s at the default 20000
 * packets/s, far longer than an update keeps the driver from consuming,
 * even on a loaded machine running sanitizer builds) while the pool has up
 * to 64 slots; with more devices each ring is smaller, so that the rings
 * stay within POOL_RINGS_MAX (1,024 devices: 4096 entries each).  A device
 * DMA-maps only its own ring.
 */
#define MAX_DEVICES	1024u		/* slots: a state's slot is below this */
#define MIN_SLOTS	8u
#define MAX_ENTRIES	65536u
#define POOL_RINGS_MAX	(256u << 20)
#define POOL_HEADER	4096u
#define POOL_MAGIC	0x706b7031u	/* "pkp1" */
#define POOL_LABEL	"pktgen-dma"

struct pool_header {
	uint32_t magic;
	uint32_t slots;
	uint32_t entries;
};

/*
 * A device's frozen flag is a bit here, by its slot, not in its struct
 * pktgen: FREEZE comes after the update has forked its keeper, and a
 * write to a page the keeper shares copies the page (a fault and 4 KiB,
 * ~3 us here).  The devices' structs lie on ~120 pages of the heap at
 * 1,024 devices; these bits on one.
 */
static struct {
	struct baton_region *region;	/* NULL until the first device */
	uint32_t slots, entries;
	uint8_t used[MAX_DEVICES / 8];	/* slots taken */
	uint8_t frozen[MAX_DEVICES / 8]; /* their devices not to be drained */
} pool;

static size_t ring_bytes(void)
{
	return (size_t)pool.entries * sizeof(struct pktgen_desc);
}

/* Where slot @slot's ring is, in the pool and at the device's IOVA. */
static uint64_t ring_offset(uint32_t slot)
{
	return POOL_HEADER + (uint64_t)slot * ring_bytes();
}

static bool bit_get(const uint8_t *map, uint32_t slot)
{
	return map[slot / 8] & (1u << (slot % 8));
}

static void bit_set(uint8_t *map, uint32_t slot, bool on)
{
	if (on)
		map[slot / 8] |= (uint8_t)(1u << (slot % 8));
	else
		map[slot / 8] &= (uint8_t)~(1u << (slot % 8));
}

static bool slot_used(uint32_t slot)
{
	return bit_get(pool.used, slot);
}

/* Taken, and frozen or not. */
static void slot_set(uint32_t slot, bool used, bool frozen)
{
	bit_set(pool.used, slot, used);
	bit_set(pool.frozen, slot, frozen);
}

/*
 * The pool, made by the first device of a cold start for as many slots as
 * devsim's directory has devices; or the one there is (inherited, or made
 * by an earlier device), as its header describes it.
 */
static int pool_use(struct baton_device *dev, struct baton_region **out)
{
	struct baton_region *r = baton_host_find_region(baton_device_host(dev), POOL_LABEL);
	const struct pool_header *h;
	size_t size;
	int err;

	if (r) {
		size = baton_region_size(r);
	} else {
		uint32_t slots = demo_device_count, entries = MAX_ENTRIES;

		slots = slots < MIN_SLOTS ? MIN_SLOTS : slots > MAX_DEVICES ? MAX_DEVICES : slots;
		while ((uint64_t)slots * entries * sizeof(struct pktgen_desc) > POOL_RINGS_MAX)
			entries /= 2;
		size = POOL_HEADER + (size_t)slots * entries * sizeof(struct pktgen_desc);
		err = baton_device_region(dev, POOL_LABEL, size, &r);
		if (err)
			return err;
		*(struct pool_header *)baton_region_base(r) =
			(struct pool_header){ POOL_MAGIC, slots, entries };
		goto described;
	}
	err = baton_device_region(dev, POOL_LABEL, size, &r);
	if (err)
		return err;
described:
	h = baton_region_base(r);
	if (size < POOL_HEADER || h->magic != POOL_MAGIC || !h->slots ||
	    h->slots > MAX_DEVICES || h->entries < 64 || h->entries > MAX_ENTRIES ||
	    (h->entries & (h->entries - 1)) ||
	    size != POOL_HEADER + (size_t)h->slots * h->entries * sizeof(struct pktgen_desc))
		return -BATON_ERR_BADVALUE;	/* the device still uses it: left as it is */
	pool.region = r;
	pool.slots = h->slots;
	pool.entries = h->entries;
	*out = r;
	return 0;
}

BATON_SCHEMA(pktgen_state_v1, "pktgen-state", 1,
	BATON_FIELD(u64, next_seq),
	BATON_FIELD(u64, received),
	BATON_FIELD(u64, lost),
	BATON_FIELD(u64, duplicated),
	BATON_FIELD(u32, tail),
	BATON_FIELD(u32, slot));

#if DEMO_HOST_VERSION == 1
typedef struct pktgen_state_v1 pktgen_state;
#else
BATON_SCHEMA(pktgen_state_v2, "pktgen-state", 2,
	BATON_FIELD(u64, next_seq),
	BATON_FIELD(u64, received),
	BATON_FIELD(u64, lost),
	BATON_FIELD(u64, duplicated),
	BATON_FIELD(u32, tail),
	BATON_FIELD(u32, slot),
	BATON_FIELD(u64, bad_payload),
	BATON_FIELD(u64, reconnects));
typedef struct pktgen_state_v2 pktgen_state;
#endif

struct pktgen {
	struct baton_device *dev;
	struct baton_devio *io;
	struct baton_region *pool;
	uint32_t *page;			/* BAR2, mapped; NULL until attached */
	int irq;
	int page_fd;			/* BAR2's memfd, preserved: no round trip at restore */
	bool resumed;			/* finished, not drained yet */
	bool head_went_back;		/* the device was reset under us */
	pktgen_state s;
};

/* BAR2's memfd, asked of the device (a round trip), into @p->page_fd. */
static int get_page_fd(struct pktgen *p)
{
	struct baton_devio_region r;
	int err;

	err = baton_devio_region_info(p->io, VFIO_PCI_BAR2_REGION_INDEX, &r);
	if (err)
		return err;
	if (r.fd < 0 || r.size < PKTGEN_PAGE_SIZE || r.offset) {
		if (r.fd >= 0)
			close(r.fd);
		return -BATON_ERR_BADVALUE;
	}
	p->page_fd = r.fd;
	return 0;
}

static int map_page(struct pktgen *p)
{
	void *page = mmap(NULL, PKTGEN_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  p->page_fd, 0);

	if (page == MAP_FAILED)
		return -errno;
	p->page = page;
	return 0;
}

static void consume(void *arg);
static void resumed_init(void);

/*
 * What a restored device needs before it is drained, and not before: its
 * BAR2 page mapped, its interrupt in the loop.  Neither needs the device
 * quiet, so a restore leaves both to the first drain after FINISH, out of
 * the blackout (a mapping and an epoll_ctl a device, two thirds of a
 * restore).  The interrupts that come meanwhile wait in the eventfd.
 */
static int attach(struct pktgen *p)
{
	int err = p->page ? 0 : map_page(p);

	if (!err)
		err = demo_watch(p->irq, consume, p);
	/* Resumed in this same process (an update that failed): watched already. */
	return err == -EEXIST ? 0 : err;
}

/*
 * A device fresh from power-on (cold start, or reset because the previous
 * version dropped its connection): our DMA memory, our interrupt, our ring.
 */
static int start_device(struct pktgen *p)
{
	const uint64_t iova = ring_offset(p->s.slot);
	uint32_t id;
	int err;

	err = baton_devio_read32(p->io, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_ID, &id);
	if (err)
		return err;
	if (id != PKTGEN_ID_VALUE)
		return -BATON_ERR_BADVALUE;
	p->s.tail = 0;
	memset((char *)baton_region_base(p->pool) + iova, 0, ring_bytes());
	return baton_devio_dma_map(p->io, iova, ring_bytes(), baton_region_fd(p->pool),
				   iova, true) ?:
	       baton_devio_set_irq(p->io, VFIO_PCI_MSI_IRQ_INDEX, p->irq) ?:
	       baton_devio_write64(p->io, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_RING_IOVA, iova) ?:
	       baton_devio_write32(p->io, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_RING_ENTRIES,
				   pool.entries) ?:
	       baton_devio_write32(p->io, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_CTRL,
				   PKTGEN_CTRL_ENABLE);
}

/* Preserve what the next version takes: the pool is a shared region. */
static int preserve_fds(struct pktgen *p)
{
	struct baton_session *s;
	int err = demo_session(p->dev, &s) ?:
		  baton_session_preserve_fd(s, DEMO_FD_IRQ, p->irq, BATON_FD_EVENTFD) ?:
		  baton_session_preserve_fd(s, DEMO_FD_PAGE, p->page_fd, BATON_FD_MEMFD);

	if (err || demo_drop_connections)
		return err;
	return demo_preserve_connection(s, p->io);
}

static void free_pktgen(struct pktgen *p)
{
	if (p->page)
		munmap(p->page, PKTGEN_PAGE_SIZE);
	free(p);
}

/* The first slot free, or MAX_DEVICES. */
static uint32_t free_slot(void)
{
	uint32_t slot = 0;

	while (slot < pool.slots && slot_used(slot))
		slot++;
	return slot < pool.slots ? slot : MAX_DEVICES;
}

static int pktgen_probe(struct baton_device *dev)
{
	struct pktgen *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->dev = dev;
	p->io = demo_probing;
	demo_probing = NULL;
	p->irq = p->page_fd = -1;
	p->s.next_seq = 1;
	err = pool_use(dev, &p->pool);
	if (err)
		goto err_free;
	p->s.slot = free_slot();
	err = -ENOSPC;	/* every ring of the pool is taken */
	if (p->s.slot >= MAX_DEVICES)
		goto err_free;
	p->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = p->irq < 0 ? -errno : get_page_fd(p) ?: map_page(p);
	if (err)
		goto err_irq;
	err = start_device(p) ?: preserve_fds(p) ?: attach(p);
	if (err)
		goto err_irq;
	slot_set(p->s.slot, true, false);
	baton_device_set_priv(dev, p);
	resumed_init();
	return 0;

err_irq:
	if (p->irq >= 0)
		close(p->irq);
	if (p->page_fd >= 0)
		close(p->page_fd);
err_free:
	/* The connection stays with discovery, which closes it. */
	demo_probing = p->io;
	free_pktgen(p);
	return err;
}

/* Take in every packet up to HEAD, and give the slots back. */
static void drain(struct pktgen *p)
{
	const struct pktgen_desc *ring = (const void *)
		((char *)baton_region_base(p->pool) + ring_offset(p->s.slot));
	uint32_t head = __atomic_load_n(&p->page[PKTGEN_PAGE_HEAD], __ATOMIC_ACQUIRE);

	/*
	 * More than a ring ahead is not packets: HEAD went back to 0, the
	 * device was reset and its ring is gone.  Consuming up to it would
	 * read the ring round and round, four billion stale packets.
	 */
	if ((uint32_t)(head - p->s.tail) > pool.entries) {
		p->head_went_back = true;
		return;
	}
	while (p->s.tail != head) {
		const struct pktgen_desc *d = &ring[p->s.tail % pool.entries];

		if (d->seq < p->s.next_seq) {
			p->s.duplicated++;
		} else {
			p->s.lost += d->seq - p->s.next_seq;
			p->s.next_seq = d->seq + 1;
			p->s.received++;
		}
#if DEMO_HOST_VERSION >= 2
		for (size_t i = 0; i < sizeof(d->data); i++) {
			if (d->data[i] != (uint8_t)(d->seq + i)) {
				p->s.bad_payload++;
				break;
			}
		}
#endif
		p->s.tail++;
	}
	__atomic_store_n(&p->page[PKTGEN_PAGE_TAIL], p->s.tail, __ATOMIC_RELEASE);
}

static void consume(void *arg)
{
	struct pktgen *p = arg;
	uint64_t n;

	if (read(p->irq, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (!bit_get(pool.frozen, p->s.slot))
		drain(p);
}

static int pktgen_preserve(struct baton_device *dev, void *state, size_t size)
{
	struct pktgen *p = baton_device_priv(dev);

	if (size != sizeof(p->s))
		return -EINVAL;
	memcpy(state, &p->s, size);
	return 0;
}

/* Stop consuming; the device goes on writing into the ring. */
static int pktgen_freeze(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	bit_set(pool.frozen, p->s.slot, true);
	if (demo_drop_connections) {
		/* What a program without Baton does: the connection dies with it. */
		baton_devio_close(p->io);
		p->io = NULL;
	}
	return 0;
}

static void pktgen_unfreeze(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	bit_set(pool.frozen, p->s.slot, false);
	drain(p);
}

static int check_state(const pktgen_state *s, size_t size)
{
	if (size != sizeof(*s))
		return -EINVAL;
	if (s->slot >= MAX_DEVICES || !s->next_seq ||
	    s->received + s->lost > s->next_seq)
		return -BATON_ERR_BADVALUE;
	return 0;
}

static int pktgen_validate(const void *state, size_t size)
{
	return check_state(state, size);
}

static int pktgen_restore(struct baton_device *dev, const void *state, size_t size)
{
	struct baton_session *session;
	struct pktgen *p;
	bool fresh, page_inherited = false;
	int err;

	err = check_state(state, size);
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dev = dev;
	p->page_fd = -1;
	memcpy(&p->s, state, size);
	/* Already ours: the device's record names the regions it uses. */
	err = pool_use(dev, &p->pool);
	if (err)
		goto err_free;
	err = -BATON_ERR_BADVALUE;
	if (p->s.slot >= pool.slots)
		goto err_free;
	/* Two devices' states naming one ring: one of them is not ours. */
	err = -BATON_ERR_DUPLICATE;
	if (slot_used(p->s.slot))
		goto err_free;
	err = demo_session(dev, &session);
	if (err)
		goto err_free;
	p->irq = baton_session_take_fd(session, DEMO_FD_IRQ);
	if (p->irq < 0) {
		err = p->irq;
		goto err_free;
	}
	err = demo_connection(session, dev, &p->io, &fresh);
	if (err)
		goto err_free;
	/*
	 * The BAR2 page's memfd came with the device: no round trip to the
	 * device, and attach() maps it after FINISH.  A reset (a fresh
	 * connection) zeroes the page but keeps the memfd, as a BAR stays
	 * where it is; only a version that did not preserve it asks for it.
	 */
	p->page_fd = baton_session_take_fd(session, DEMO_FD_PAGE);
	page_inherited = p->page_fd >= 0;
	err = page_inherited ? 0 : get_page_fd(p);
	if (!err && fresh) {
#if DEMO_HOST_VERSION >= 2
		p->s.reconnects++;
#endif
		err = start_device(p);
		if (!err && !demo_drop_connections)
			err = demo_preserve_connection(session, p->io);
	}
	if (!err && !page_inherited)
		err = baton_session_preserve_fd(session, DEMO_FD_PAGE, p->page_fd, BATON_FD_MEMFD);
	if (err)
		goto err_io;
	slot_set(p->s.slot, true, true);	/* until FINISH */
	baton_device_set_priv(dev, p);
	resumed_init();
	return 0;

err_io:
	/* A preserved connection goes back untouched to whoever comes next;
	 * so does the page's memfd, which only a fresh one made. */
	demo_release_connection(p->io, fresh);
	if (!page_inherited && p->page_fd >= 0)
		close(p->page_fd);
err_free:
	free_pktgen(p);
	return err;
}

/*
 * After FINISH: the update is over, and a device that cannot be attached
 * is this driver's failure, not the update's - said, and left undrained
 * (its packets wait in the ring, and the device counts what overflows).
 */
static void attach_drain(struct pktgen *p)
{
	char name[BATON_PCI_ADDR_STRLEN];
	int err = attach(p);

	if (!err) {
		drain(p);
		return;
	}
	fprintf(stderr, "pktgen %s: cannot attach after the update: %s\n",
		baton_pci_addr_format(&baton_device_info(p->dev)->addr, name),
		baton_strerror(err));
}

/*
 * FINISH resumes a device and ends the blackout; what came in meanwhile is
 * drained just after it, in the program's loop, not inside it: the devices
 * finished are listed, and one eventfd wakes the loop for all of them.
 */
static struct {
	int fd;				/* -1 until the first finish() */
	struct pktgen **list;
	size_t n, cap;
} resumed = { .fd = -1 };

static void drain_resumed(void *arg)
{
	uint64_t n;

	(void)arg;
	if (read(resumed.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	for (size_t i = 0; i < resumed.n; i++) {
		resumed.list[i]->resumed = false;
		attach_drain(resumed.list[i]);
	}
	resumed.n = 0;
}

/* Made with the first device, probed or restored: one fd the program has
 * whether it started cold or was updated. */
static void resumed_init(void)
{
	if (resumed.fd >= 0)
		return;
	resumed.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (resumed.fd >= 0 && demo_watch(resumed.fd, drain_resumed, NULL)) {
		close(resumed.fd);
		resumed.fd = -1;
	}
}

static void pktgen_finish(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	bit_set(pool.frozen, p->s.slot, false);
	if (resumed.n == resumed.cap) {
		size_t cap = resumed.cap ? 2 * resumed.cap : 64;
		struct pktgen **l = reallocarray(resumed.list, cap, sizeof(*l));

		if (l) {
			resumed.list = l;
			resumed.cap = cap;
		}
	}
	/* Without the eventfd or the memory: drained here, as it was. */
	if (resumed.fd < 0 || resumed.n == resumed.cap) {
		attach_drain(p);
		return;
	}
	p->resumed = true;
	resumed.list[resumed.n++] = p;
	if (resumed.n == 1)
		eventfd_write(resumed.fd, 1);
}

/*
 * Let go without a reset: the connection is left open (closing it is what
 * resets the device), and the fds stay where the host has them, for a
 * version that comes back.
 */
static void pktgen_remove(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	if (!p)
		return;
	demo_unwatch(p->irq);
	slot_set(p->s.slot, false, false);
	for (size_t i = 0; p->resumed && i < resumed.n; i++) {
		if (resumed.list[i] == p) {
			resumed.list[i] = resumed.list[--resumed.n];
			break;
		}
	}
	if (p->io)
		baton_devio_forget(p->io);
	free_pktgen(p);
	baton_device_set_priv(dev, NULL);
}

static const struct baton_driver_ops pktgen_ops = {
	.probe = pktgen_probe,
	.preserve = pktgen_preserve,
	.freeze = pktgen_freeze,
	.unfreeze = pktgen_unfreeze,
	.restore = pktgen_restore,
	.validate = pktgen_validate,
	.finish = pktgen_finish,
	.remove = pktgen_remove,
};

#if DEMO_HOST_VERSION == 1
BATON_DRIVER(pktgen_driver, "pktgen", 0, &pktgen_ops,
	BATON_MATCH_DEVICE(0x1234, 0xba70),
	BATON_ACCEPT(pktgen_state_v1));
#else
int pktgen_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len);

int pktgen_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len)
{
	const struct pktgen_state_v1 *v1 = from;
	struct pktgen_state_v2 *v2 = to;

	if (from_len != sizeof(*v1) || to_len != sizeof(*v2))
		return -EINVAL;
	*v2 = (struct pktgen_state_v2){
		.next_seq = v1->next_seq, .received = v1->received,
		.lost = v1->lost, .duplicated = v1->duplicated,
		.tail = v1->tail, .slot = v1->slot,
	};
	return 0;
}

BATON_DRIVER(nicx_driver, "nicx", 0, &pktgen_ops,
	BATON_MATCH_DEVICE(0x1234, 0xba70),
	BATON_ACCEPT(pktgen_state_v2),
	BATON_ACCEPT_CONVERTED(pktgen_state_v1, pktgen_state_v2, pktgen_v1_to_v2));
#endif

bool demo_is_pktgen(struct baton_device *dev)
{
	return baton_device_driver(dev) && baton_device_driver(dev)->ops == &pktgen_ops;
}

/*
 * Whether the device is no longer as we set it up: a reset since we last
 * started it clears CTRL's enable bit, and HEAD goes back to 0.
 */
static bool device_reset(struct pktgen *p)
{
	uint32_t ctrl;

	if (p->head_went_back)
		return true;
	/* The control run closed the connection: the device was reset. */
	if (!p->io)
		return true;
	if (baton_devio_read32(p->io, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_CTRL, &ctrl))
		return true;	/* nor does it answer as it did */
	return !(ctrl & PKTGEN_CTRL_ENABLE);
}

json_object *demo_pktgen_stats(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);
	json_object *o = json_object_new_object();

	attach_drain(p);
	json_object_object_add(o, "device_reset", json_object_new_boolean(device_reset(p)));
	json_object_object_add(o, "received", json_object_new_uint64(p->s.received));
	json_object_object_add(o, "lost", json_object_new_uint64(p->s.lost));
	json_object_object_add(o, "duplicated", json_object_new_uint64(p->s.duplicated));
	json_object_object_add(o, "next_seq", json_object_new_uint64(p->s.next_seq));
#if DEMO_HOST_VERSION >= 2
	json_object_object_add(o, "bad_payload", json_object_new_uint64(p->s.bad_payload));
	json_object_object_add(o, "reconnects", json_object_new_uint64(p->s.reconnects));
#endif
	return o;
}
