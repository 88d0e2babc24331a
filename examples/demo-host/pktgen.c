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

/* 65536 entries (4 MiB): at the default 20000 packets/s a ring covers
 * 3.3 s, far longer than an update keeps the driver from consuming, even
 * on a loaded machine running sanitizer builds. */
#define RING_ENTRIES	65536u
#define RING_BYTES	(RING_ENTRIES * sizeof(struct pktgen_desc))
#define MAX_DEVICES	8u
#define POOL_LABEL	"pktgen-dma"
#define POOL_BYTES	(MAX_DEVICES * RING_BYTES)

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
	struct baton_vfu *vfu;
	struct baton_region *pool;
	uint32_t *page;			/* BAR2, mapped */
	int irq;
	bool frozen;
	bool head_went_back;		/* the device was reset under us */
	pktgen_state s;
};

static uint32_t slots_used;

static int map_page(struct pktgen *p)
{
	struct baton_vfu_region r;
	void *page;
	int err;

	err = baton_vfu_region_info(p->vfu, VFIO_PCI_BAR2_REGION_INDEX, &r);
	if (err)
		return err;
	if (r.fd < 0 || r.size < PKTGEN_PAGE_SIZE) {
		if (r.fd >= 0)
			close(r.fd);
		return -BATON_ERR_BADVALUE;
	}
	page = mmap(NULL, PKTGEN_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    r.fd, (off_t)r.offset);
	err = page == MAP_FAILED ? -errno : 0;	/* before close() can change it */
	close(r.fd);
	if (err)
		return err;
	p->page = page;
	return 0;
}

static void consume(void *arg);

/*
 * A device fresh from power-on (cold start, or reset because the previous
 * version dropped its connection): our DMA memory, our interrupt, our ring.
 */
static int start_device(struct pktgen *p)
{
	const uint64_t iova = (uint64_t)p->s.slot * RING_BYTES;
	uint32_t id;
	int err;

	err = baton_vfu_read32(p->vfu, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_ID, &id);
	if (err)
		return err;
	if (id != PKTGEN_ID_VALUE)
		return -BATON_ERR_BADVALUE;
	p->s.tail = 0;
	memset((char *)baton_region_base(p->pool) + iova, 0, RING_BYTES);
	return baton_vfu_dma_map(p->vfu, 0, POOL_BYTES, baton_region_fd(p->pool), 0, true) ?:
	       baton_vfu_set_irq(p->vfu, VFIO_PCI_MSI_IRQ_INDEX, p->irq) ?:
	       baton_vfu_write64(p->vfu, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_RING_IOVA, iova) ?:
	       baton_vfu_write32(p->vfu, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_RING_ENTRIES,
				 RING_ENTRIES) ?:
	       baton_vfu_write32(p->vfu, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_CTRL,
				 PKTGEN_CTRL_ENABLE);
}

/* Preserve what the next version takes: the pool is a shared region. */
static int preserve_fds(struct pktgen *p)
{
	int err = demo_preserve_fd(p->dev, DEMO_FD_IRQ, p->irq, BATON_FD_EVENTFD);

	if (err || demo_drop_connections)
		return err;
	return demo_preserve_fd(p->dev, DEMO_FD_CONNECTION, baton_vfu_fd(p->vfu),
				BATON_FD_SOCKET);
}

static void free_pktgen(struct pktgen *p)
{
	if (p->page)
		munmap(p->page, PKTGEN_PAGE_SIZE);
	free(p);
}

static int pktgen_probe(struct baton_device *dev)
{
	struct pktgen *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->dev = dev;
	p->vfu = demo_probing;
	demo_probing = NULL;
	p->irq = -1;
	p->s.next_seq = 1;
	p->s.slot = (uint32_t)__builtin_ctz(~slots_used);
	err = -ENOSPC;	/* every ring of the pool is taken */
	if (p->s.slot >= MAX_DEVICES)
		goto err_free;
	err = baton_device_region(dev, POOL_LABEL, POOL_BYTES, &p->pool);
	if (err)
		goto err_free;
	p->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = p->irq < 0 ? -errno : map_page(p);
	if (err)
		goto err_irq;
	err = start_device(p) ?: preserve_fds(p) ?: demo_watch(p->irq, consume, p);
	if (err)
		goto err_irq;
	slots_used |= 1u << p->s.slot;
	baton_device_set_priv(dev, p);
	return 0;

err_irq:
	if (p->irq >= 0)
		close(p->irq);
err_free:
	/* The connection stays with discovery, which closes it. */
	demo_probing = p->vfu;
	free_pktgen(p);
	return err;
}

/* Take in every packet up to HEAD, and give the slots back. */
static void drain(struct pktgen *p)
{
	const struct pktgen_desc *ring = (const void *)
		((char *)baton_region_base(p->pool) + (size_t)p->s.slot * RING_BYTES);
	uint32_t head = __atomic_load_n(&p->page[PKTGEN_PAGE_HEAD], __ATOMIC_ACQUIRE);

	/*
	 * More than a ring ahead is not packets: HEAD went back to 0, the
	 * device was reset and its ring is gone.  Consuming up to it would
	 * read the ring round and round, four billion stale packets.
	 */
	if ((uint32_t)(head - p->s.tail) > RING_ENTRIES) {
		p->head_went_back = true;
		return;
	}
	while (p->s.tail != head) {
		const struct pktgen_desc *d = &ring[p->s.tail % RING_ENTRIES];

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
	if (!p->frozen)
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

	p->frozen = true;
	if (demo_drop_connections) {
		/* What a program without Baton does: the connection dies with it. */
		baton_vfu_close(p->vfu);
		p->vfu = NULL;
	}
	return 0;
}

static void pktgen_unfreeze(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	p->frozen = false;
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
	struct pktgen *p;
	bool fresh;
	int err;

	err = check_state(state, size);
	if (err)
		return err;
	/* Two devices' states naming one ring: one of them is not ours. */
	if (slots_used & (1u << ((const pktgen_state *)state)->slot))
		return -BATON_ERR_DUPLICATE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dev = dev;
	memcpy(&p->s, state, size);
	p->frozen = true;
	/* Already ours: the device's record names the regions it uses. */
	err = baton_device_region(dev, POOL_LABEL, POOL_BYTES, &p->pool);
	if (err)
		goto err_free;
	p->irq = demo_take_fd(dev, DEMO_FD_IRQ);
	if (p->irq < 0) {
		err = p->irq;
		goto err_free;
	}
	err = demo_connection(dev, &p->vfu, &fresh);
	if (err)
		goto err_free;
	err = map_page(p);
	if (!err && fresh) {
#if DEMO_HOST_VERSION >= 2
		p->s.reconnects++;
#endif
		err = start_device(p);
		if (!err && !demo_drop_connections)
			err = demo_preserve_fd(dev, DEMO_FD_CONNECTION, baton_vfu_fd(p->vfu),
					       BATON_FD_SOCKET);
	}
	if (!err)
		err = demo_watch(p->irq, consume, p);
	if (err)
		goto err_vfu;
	slots_used |= 1u << p->s.slot;
	baton_device_set_priv(dev, p);
	return 0;

err_vfu:
	/* A preserved connection goes back untouched to whoever comes next. */
	demo_release_connection(p->vfu, fresh);
err_free:
	free_pktgen(p);
	return err;
}

static void pktgen_finish(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);

	p->frozen = false;
	drain(p);
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
	slots_used &= ~(1u << p->s.slot);
	if (p->vfu)
		baton_vfu_forget(p->vfu);
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
	if (!p->vfu)
		return true;
	if (baton_vfu_read32(p->vfu, VFIO_PCI_BAR0_REGION_INDEX, PKTGEN_CTRL, &ctrl))
		return true;	/* nor does it answer as it did */
	return !(ctrl & PKTGEN_CTRL_ENABLE);
}

json_object *demo_pktgen_stats(struct baton_device *dev)
{
	struct pktgen *p = baton_device_priv(dev);
	json_object *o = json_object_new_object();

	drain(p);
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
