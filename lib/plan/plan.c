// SPDX-License-Identifier: MIT
/**
 * DOC: how the planner finds candidates
 *
 * The rules are in include/baton/plan.h.  This file makes them cheap at
 * fleet-host scale (100k records, 1k drivers) by never pairing every record
 * with every driver.  Once per call it builds:
 *
 *  - a GUID index: an open-addressing table from schema GUID to the chain
 *    of (driver, accept) pairs that accept it, one pair per driver (a driver
 *    that accepts a GUID twice keeps its better accept, so it cannot tie
 *    with itself).  A record's candidates are the drivers on its GUID's
 *    chain whose id table matches, so a record costs the length of one
 *    chain, not the number of drivers;
 *  - an id index: the same table keyed by (vendor, device, base class),
 *    where vendor and device may be BATON_ANY_ID as in the id table, and
 *    the base class is "any" unless the entry's class mask covers it.
 *    Only a record without a candidate uses it, to say in its reason which
 *    drivers match its ids: eight probes, {v, any} x {d, any} x {its base
 *    class, any}, visit every id entry that can match.  Keying by base
 *    class keeps match-by-class entries (any vendor, any device) from
 *    piling up in one bucket that every such record would scan;
 *  - a set of the P present bus addresses, 8 bytes a slot: at fleet scale
 *    it is the largest table and every record probes it at a random place,
 *    so it is kept small enough to stay in cache.
 *
 * Cost: O(total accepts + total id entries + P) to build, then per record
 * O(candidates on its GUID chain x ids per driver), plus, for a record left
 * without a candidate, the id entries in its eight buckets.  Memory is
 * linear in accepts, id entries, drivers and P.
 *
 * Nothing in a decision depends on the order of drivers in the set: the
 * winner is unique or there is a conflict, and the drivers a reason names
 * are listed in name order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <baton/plan.h>

#include "internal.h"

/* Index keys: a GUID, or (vendor, device, class) padded with zeroes. */
#define KEY_SIZE	BATON_GUID_SIZE

/* A reason names at most this many drivers, then says how many more. */
#define NAMES_LISTED	3

struct index_entry {
	const struct baton_contract *drv;
	union {
		const struct baton_accept_desc *accept;	/* GUID index */
		const struct baton_pci_match *id;	/* id index */
	};
	const struct index_entry *next;
};

struct index_slot {
	uint8_t key[KEY_SIZE];
	struct index_entry *head;	/* NULL: the slot is free */
};

/* Entries are preallocated, so chains can link them by pointer. */
struct index {
	size_t mask;
	struct index_slot *slots;
	struct index_entry *entries;
	size_t n_entries;
};

/* Slots hold an address key + 1, so that 0 marks a free slot. */
struct addr_set {
	size_t mask;
	uint64_t *slots;
};

struct planner {
	const struct baton_contracts *set;
	enum baton_orphan_override orphan;
	struct index guids;
	struct index ids;
	size_t *stamp;			/* per driver: last record + 1 that listed it */
	const struct index_entry **listed;	/* the drivers one reason names */
	bool all_present;
	struct addr_set present;
};

#define REASON_SIZE	sizeof(((struct baton_decision *)0)->reason)

/* The reason being written; it stops growing when full. */
struct reason {
	char *buf;
	size_t len;
	bool full;
};

/* calloc() that does not mistake an empty table for a failed allocation. */
static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/*
 * Derived GUIDs are uniformly random, but pinned GUIDs are chosen by people
 * (sequential ones happen), and id and address keys are small numbers: mix
 * every bit so that keys differing anywhere spread.
 */
static size_t mix(uint64_t lo, uint64_t hi)
{
	uint64_t h = (lo ^ (hi * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (size_t)(h ^ h >> 32);
}

static size_t key_hash(const uint8_t key[KEY_SIZE])
{
	uint64_t lo, hi;

	memcpy(&lo, key, sizeof(lo));
	memcpy(&hi, key + sizeof(lo), sizeof(hi));
	return mix(lo, hi);
}

/*
 * Slots for @n keys: a power of two, at least twice @n, so every probe
 * sequence reaches a free slot.  0 when that does not fit a size_t.
 */
static size_t table_slots(size_t n)
{
	size_t n_slots = 1;

	if (n > SIZE_MAX / 4)
		return 0;
	while (n_slots < 2 * n)
		n_slots <<= 1;
	return n_slots;
}

static int index_init(struct index *ix, size_t n_entries)
{
	size_t n_slots = table_slots(n_entries);

	if (!n_slots)
		return -ENOMEM;
	ix->mask = n_slots - 1;
	ix->n_entries = 0;
	ix->slots = zalloc(n_slots, sizeof(*ix->slots));
	ix->entries = zalloc(n_entries, sizeof(*ix->entries));
	if (!ix->slots || !ix->entries) {
		free(ix->slots);
		free(ix->entries);
		return -ENOMEM;
	}
	return 0;
}

static void index_free(struct index *ix)
{
	free(ix->slots);
	free(ix->entries);
}

/* The slot holding @key, or the free slot where it belongs. */
static struct index_slot *index_probe(const struct index *ix,
				      const uint8_t key[KEY_SIZE])
{
	size_t i = key_hash(key) & ix->mask;

	while (ix->slots[i].head && memcmp(ix->slots[i].key, key, KEY_SIZE))
		i = (i + 1) & ix->mask;
	return &ix->slots[i];
}

static const struct index_entry *index_find(const struct index *ix,
					    const uint8_t key[KEY_SIZE])
{
	return index_probe(ix, key)->head;
}

/* Put a new entry for @drv at the head of @slot's chain; fill in the item. */
static struct index_entry *index_push(struct index *ix, struct index_slot *slot,
				      const uint8_t key[KEY_SIZE],
				      const struct baton_contract *drv)
{
	struct index_entry *e = &ix->entries[ix->n_entries++];

	if (!slot->head)
		memcpy(slot->key, key, KEY_SIZE);
	e->drv = drv;
	e->next = slot->head;
	slot->head = e;
	return e;
}

/* @cls: 0 for any class, else 1 + the base class. */
static void id_key(uint32_t vendor, uint32_t device, uint32_t cls,
		   uint8_t key[KEY_SIZE])
{
	memset(key, 0, KEY_SIZE);
	memcpy(key, &vendor, sizeof(vendor));
	memcpy(key + 4, &device, sizeof(device));
	memcpy(key + 8, &cls, sizeof(cls));
}

static uint32_t base_class(uint32_t class_code)
{
	return 1 + (class_code >> 16 & 0xff);
}

static bool is_native(const struct baton_accept_desc *a)
{
	return a->via == BATON_VIA_NATIVE;
}

static int build_guid_index(struct planner *p, size_t n_accepts)
{
	const struct baton_contracts *set = p->set;
	int err;

	err = index_init(&p->guids, n_accepts);
	if (err)
		return err;
	for (size_t d = 0; d < set->n_drivers; d++) {
		const struct baton_contract *drv = &set->drivers[d];

		for (size_t i = 0; i < drv->n_accepts; i++) {
			const struct baton_accept_desc *a = &drv->accepts[i];
			struct index_slot *slot;
			struct index_entry *head;

			slot = index_probe(&p->guids, a->schema->guid);
			/*
			 * A driver's accepts go in one after another, so a
			 * second accept of the same GUID by this driver finds
			 * its first at the head of the chain.
			 */
			head = slot->head;
			if (head && head->drv == drv) {
				if (is_native(a) && !is_native(head->accept))
					head->accept = a;
				continue;
			}
			index_push(&p->guids, slot, a->schema->guid, drv)->accept = a;
		}
	}
	return 0;
}

static int build_id_index(struct planner *p, size_t n_ids)
{
	const struct baton_contracts *set = p->set;
	uint8_t key[KEY_SIZE];
	int err;

	err = index_init(&p->ids, n_ids);
	if (err)
		return err;
	for (size_t d = 0; d < set->n_drivers; d++) {
		const struct baton_contract *drv = &set->drivers[d];

		for (size_t i = 0; i < drv->n_ids; i++) {
			const struct baton_pci_match *m = &drv->ids[i];

			id_key(m->vendor, m->device,
			       (m->class_mask & 0xff0000) == 0xff0000 ?
			       base_class(m->class_code) : 0, key);
			index_push(&p->ids, index_probe(&p->ids, key), key,
				   drv)->id = m;
		}
	}
	return 0;
}

static uint64_t addr_key(const struct baton_pci_addr *a)
{
	return ((uint64_t)a->domain << 24 | (uint64_t)a->bus << 16 |
		(uint64_t)a->dev << 8 | a->fn) + 1;
}

/* The slot holding @key, or the free slot where it belongs. */
static uint64_t *addr_probe(const struct addr_set *set, uint64_t key)
{
	size_t i = mix(key, 0) & set->mask;

	while (set->slots[i] && set->slots[i] != key)
		i = (i + 1) & set->mask;
	return &set->slots[i];
}

static int build_present_set(struct planner *p,
			     const struct baton_plan_opts *opts)
{
	size_t n_slots = table_slots(opts->n_present);

	if (!n_slots)
		return -ENOMEM;
	p->present.mask = n_slots - 1;
	p->present.slots = calloc(n_slots, sizeof(*p->present.slots));
	if (!p->present.slots)
		return -ENOMEM;
	for (size_t i = 0; i < opts->n_present; i++) {
		uint64_t key = addr_key(&opts->present[i]);

		*addr_probe(&p->present, key) = key;
	}
	return 0;
}

static bool is_present(const struct planner *p, const struct baton_pci_addr *a)
{
	uint64_t key;

	if (p->all_present)
		return true;
	key = addr_key(a);
	return *addr_probe(&p->present, key) == key;
}

static bool ids_match(const struct baton_contract *drv,
		      const struct baton_pci_ids *ids)
{
	for (size_t i = 0; i < drv->n_ids; i++)
		if (baton_pci_match(&drv->ids[i], ids))
			return true;
	return false;
}

static int priority_cmp(const struct baton_contract *a,
			const struct baton_contract *b)
{
	return (a->priority > b->priority) - (a->priority < b->priority);
}

/* Native beats converter, then higher priority; never the name. */
static int rank_cmp(const struct index_entry *a, const struct index_entry *b)
{
	bool na = is_native(a->accept), nb = is_native(b->accept);

	if (na != nb)
		return na ? 1 : -1;
	return priority_cmp(a->drv, b->drv);
}

/*
 * A candidate compared with the best so far (@c > 0: better): whether it
 * becomes the best; @ties counts the best's equals, itself included.
 */
static bool beats(int c, size_t *ties)
{
	if (c > 0)
		*ties = 1;
	else if (!c)
		(*ties)++;
	return c > 0;
}

static const char *drv_name(const struct baton_contract *drv)
{
	return drv->name[0] ? drv->name : drv->owner;
}

/* The order drivers are named in: by name, then owner. */
static int drv_cmp(const struct baton_contract *a, const struct baton_contract *b)
{
	int c = strcmp(drv_name(a), drv_name(b));

	if (!c)
		c = strcmp(a->owner, b->owner);
	/* Identical strings print alike; any order between them will do. */
	if (!c)
		c = (a > b) - (a < b);
	return c;
}

/* The first of @listed in name order after @prev (NULL: the very first). */
static const struct index_entry *next_by_name(const struct index_entry **listed,
					      size_t n,
					      const struct index_entry *prev)
{
	const struct index_entry *next = NULL;

	for (size_t i = 0; i < n; i++) {
		if (prev && drv_cmp(listed[i]->drv, prev->drv) <= 0)
			continue;
		if (!next || drv_cmp(listed[i]->drv, next->drv) < 0)
			next = listed[i];
	}
	return next;
}

/*
 * The length of the longest prefix of @s[0..@len) that does not end inside
 * a UTF-8 sequence: names come from contracts and images, and a reason cut
 * in the middle of a character is not valid text any more.
 */
static size_t utf8_cut(const char *s, size_t len)
{
	size_t start = len, need;
	uint8_t lead;

	while (start && ((uint8_t)s[start - 1] & 0xc0) == 0x80)
		start--;
	if (!start)
		return len;
	lead = (uint8_t)s[start - 1];
	if (lead < 0xc0)
		return len;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	return len - (start - 1) < need ? start - 1 : len;
}

static void reason_puts(struct reason *r, const char *s)
{
	size_t room = REASON_SIZE - 1 - r->len, len;

	if (r->full)
		return;
	len = strlen(s);
	if (len > room) {
		len = room;
		r->full = true;
	}
	memcpy(r->buf + r->len, s, len);
	r->len += len;
	if (r->full)
		r->len = utf8_cut(r->buf, r->len);
	r->buf[r->len] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void reason_add(struct reason *r, const char *fmt, ...)
{
	/* One byte more than fits, so reason_puts() sees the overflow. */
	char piece[REASON_SIZE + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(piece, sizeof(piece), fmt, ap);
	va_end(ap);
	reason_puts(r, piece);
}

/*
 * @v in @base (10 or 16, lowercase), @digits digits at least, as printf's
 * %0*u and %0*x write it: by hand, since a restore plans every device in
 * the blackout, and vsnprintf() twice a device (a schema's versions) was
 * most of the planner's time at 1,024 devices.
 */
static void reason_num(struct reason *r, uint32_t v, unsigned int base, int digits)
{
	char buf[16], *p = buf + sizeof(buf);

	*--p = '\0';
	do {
		*--p = "0123456789abcdef"[v % base];
		v /= base;
	} while (v || buf + sizeof(buf) - 1 - p < digits);
	reason_puts(r, p);
}

/*
 * A schema as the contracts name it, else as the record does, else by GUID.
 * Contracts read from a kernel's module tree know schemas by GUID only.
 */
static void reason_schema(struct reason *r, const struct baton_image_device *dev,
			  const struct baton_schema_desc *s)
{
	char guid[BATON_CONTRACT_GUID_STRLEN];

	if (s && s->name[0]) {
		reason_puts(r, s->name);
		reason_puts(r, " v");
		reason_num(r, s->version, 10, 1);
	} else if (s && memcmp(s->guid, dev->schema, BATON_GUID_SIZE)) {
		reason_puts(r, "schema ");
		reason_puts(r, baton_guid_format(s->guid, guid));
	} else if (dev->schema_name) {
		reason_puts(r, dev->schema_name);
		reason_puts(r, " v");
		reason_num(r, dev->schema_version, 10, 1);
	} else {
		reason_puts(r, "schema ");
		reason_puts(r, baton_guid_format(dev->schema, guid));
	}
}

static void reason_names(struct reason *r, const struct index_entry **listed,
			 size_t n)
{
	const struct index_entry *e = NULL;

	for (size_t k = 0; k < n && k < NAMES_LISTED; k++) {
		e = next_by_name(listed, n, e);
		if (k)
			reason_puts(r, ", ");
		reason_puts(r, drv_name(e->drv));
	}
	if (n > NAMES_LISTED)
		reason_add(r, " and %zu more", n - NAMES_LISTED);
}

static void reason_ids(struct reason *r, const struct baton_pci_ids *ids)
{
	reason_puts(r, "ids ");
	reason_num(r, ids->vendor, 16, 4);
	reason_puts(r, ":");
	reason_num(r, ids->device, 16, 4);
}

/* List the drivers whose id table matches @ids; return their number. */
static size_t list_id_matches(struct planner *p, const struct baton_pci_ids *ids,
			      size_t stamp)
{
	const uint32_t vendors[] = { ids->vendor, BATON_ANY_ID };
	const uint32_t devices[] = { ids->device, BATON_ANY_ID };
	const uint32_t classes[] = { base_class(ids->class_code), 0 };
	uint8_t key[KEY_SIZE];
	size_t n = 0;

	/* {v, any} x {d, any} x {base class, any}, the bits of k. */
	for (size_t k = 0; k < 8; k++) {
		const struct index_entry *e;

		id_key(vendors[k & 1], devices[k >> 1 & 1], classes[k >> 2], key);
		for (e = index_find(&p->ids, key); e; e = e->next) {
			size_t i = (size_t)(e->drv - p->set->drivers);

			/* One driver may match by several entries. */
			if (p->stamp[i] == stamp || !baton_pci_match(e->id, ids))
				continue;
			p->stamp[i] = stamp;
			p->listed[n++] = e;
		}
	}
	return n;
}

static void plan_orphan(struct planner *p, const struct baton_image_device *dev,
			const struct index_entry *chain, size_t stamp,
			struct baton_decision *out, struct reason *r)
{
	enum baton_orphan policy = dev->orphan;
	size_t n_ids, n_guid = 0;

	if (p->orphan == BATON_OVERRIDE_QUARANTINE)
		policy = BATON_ORPHAN_QUARANTINE;
	else if (p->orphan == BATON_OVERRIDE_RESET)
		policy = BATON_ORPHAN_RESET;
	/* Anything but an explicit reset leaves the device alone. */
	out->action = policy == BATON_ORPHAN_RESET ? BATON_ACTION_RESET :
						     BATON_ACTION_QUARANTINE;

	n_ids = list_id_matches(p, &dev->ids, stamp);
	if (!n_ids) {
		reason_puts(r, "no driver matches ");
		reason_ids(r, &dev->ids);
		if (!chain) {
			reason_puts(r, " or accepts ");
			reason_schema(r, dev, NULL);
		}
	} else {
		reason_add(r, "%zu %s ", n_ids,
			   n_ids == 1 ? "driver matches" : "drivers match");
		reason_ids(r, &dev->ids);
		reason_puts(r, " but none accepts ");
		reason_schema(r, dev, NULL);
		reason_puts(r, ": ");
		reason_names(r, p->listed, n_ids);
	}

	/* Every driver on the chain failed the ids, or it would be a candidate. */
	for (; chain; chain = chain->next)
		p->listed[n_guid++] = chain;
	if (n_guid) {
		if (!n_ids) {
			reason_puts(r, "; ");
			reason_schema(r, dev, NULL);
			reason_puts(r, " is accepted only by drivers for other ids: ");
		} else {
			reason_puts(r, "; drivers for other ids accept it: ");
		}
		reason_names(r, p->listed, n_guid);
	}
	reason_puts(r, " — ");
	reason_puts(r, baton_action_name(out->action));
	reason_puts(r, p->orphan == BATON_OVERRIDE_NONE ?
		    " (the record's policy)" : " (policy overridden)");
}

static void plan_conflict(struct planner *p, const struct baton_image_device *dev,
			  const struct index_entry *chain,
			  const struct index_entry *best,
			  struct baton_decision *out, struct reason *r)
{
	const struct index_entry *first;
	size_t n = 0;

	for (; chain; chain = chain->next)
		if (ids_match(chain->drv, &dev->ids) && !rank_cmp(chain, best))
			p->listed[n++] = chain;
	/* Name the schema as the first listed driver does, for stable text. */
	first = next_by_name(p->listed, n, NULL);
	out->action = BATON_ACTION_CONFLICT;
	reason_add(r, "%zu drivers accept ", n);
	reason_schema(r, dev, first->accept->schema);
	reason_add(r, " %s at priority %" PRId32 ": ",
		   is_native(best->accept) ? "natively" : "by converter",
		   best->drv->priority);
	reason_names(r, p->listed, n);
	reason_puts(r, " — nothing bound");
}

static void plan_one(struct planner *p, const struct baton_image_device *dev,
		     size_t stamp, struct baton_decision *out)
{
	struct reason r = { .buf = out->reason };
	const struct index_entry *chain, *e, *best = NULL;
	size_t ties = 0;

	out->device = dev;
	out->driver = NULL;
	out->accept = NULL;
	out->reason[0] = '\0';

	if (!is_present(p, &dev->addr)) {
		out->action = BATON_ACTION_RELEASE;
		reason_puts(&r, "device not present: its preserved state and fds are released");
		return;
	}

	chain = index_find(&p->guids, dev->schema);
	for (e = chain; e; e = e->next)
		if (ids_match(e->drv, &dev->ids) && beats(best ? rank_cmp(e, best) : 1, &ties))
			best = e;

	if (!best) {
		plan_orphan(p, dev, chain, stamp, out, &r);
	} else if (ties > 1) {
		plan_conflict(p, dev, chain, best, out, &r);
	} else if (is_native(best->accept)) {
		out->action = BATON_ACTION_BIND;
		out->driver = best->drv;
		out->accept = best->accept;
		reason_puts(&r, "bound to ");
		reason_puts(&r, drv_name(best->drv));
		reason_puts(&r, ": reads ");
		reason_schema(&r, dev, best->accept->schema);
		reason_puts(&r, " natively");
	} else {
		out->action = BATON_ACTION_CONVERT;
		out->driver = best->drv;
		out->accept = best->accept;
		reason_puts(&r, "bound to ");
		reason_puts(&r, drv_name(best->drv));
		reason_puts(&r, " by converter from ");
		reason_schema(&r, dev, best->accept->schema);
		reason_puts(&r, " to ");
		reason_schema(&r, dev, best->accept->target);
	}
}

/**
 * baton_plan() - decide what happens to every record
 * @devices:   the records, @n of them
 * @contracts: the drivers that may take them; NULL is an empty set
 * @opts:      may be NULL for defaults
 * @out:       @n decisions, in record order
 *
 * See the DOC comments of plan.h (the rules) and of this file (the cost).
 *
 * Return: 0, or -ENOMEM, in which case @out is untouched.
 */
int baton_plan(const struct baton_image_device *devices, size_t n,
	       const struct baton_contracts *contracts,
	       const struct baton_plan_opts *opts,
	       struct baton_decision *out)
{
	static const struct baton_contracts no_contracts;
	static const struct baton_plan_opts no_opts;
	struct planner p = { .set = contracts ? contracts : &no_contracts };
	size_t n_accepts = 0, n_ids = 0;
	int err;

	if (!opts)
		opts = &no_opts;
	if (!baton_reserved_clear(opts->reserved, sizeof(opts->reserved)))
		return -EINVAL;
	p.orphan = opts->orphan;
	for (size_t d = 0; d < p.set->n_drivers; d++) {
		n_accepts += p.set->drivers[d].n_accepts;
		n_ids += p.set->drivers[d].n_ids;
	}

	err = build_guid_index(&p, n_accepts);
	if (err)
		goto err_guids;
	err = build_id_index(&p, n_ids);
	if (err)
		goto err_ids;
	p.all_present = !opts->present;
	if (!p.all_present) {
		err = build_present_set(&p, opts);
		if (err)
			goto err_present;
	}
	err = -ENOMEM;
	p.stamp = zalloc(p.set->n_drivers, sizeof(*p.stamp));
	if (!p.stamp)
		goto err_stamp;
	p.listed = zalloc(p.set->n_drivers, sizeof(*p.listed));
	if (!p.listed)
		goto err_listed;

	for (size_t i = 0; i < n; i++)
		plan_one(&p, &devices[i], i + 1, &out[i]);
	err = 0;

	free(p.listed);
err_listed:
	free(p.stamp);
err_stamp:
	free(p.present.slots);
err_present:
	index_free(&p.ids);
err_ids:
	index_free(&p.guids);
err_guids:
	return err;
}

/**
 * baton_plan_probe() - the driver for a device with no preserved state
 * @contracts: the drivers that may take it; NULL is an empty set
 * @ids:       the device's ids
 * @out:       the winner
 *
 * See plan.h: the rules of baton_plan() without a schema.
 *
 * Return: 0, -ENOENT (no id table matches) or -BATON_ERR_CONFLICT.
 */
int baton_plan_probe(const struct baton_contracts *contracts,
		     const struct baton_pci_ids *ids,
		     const struct baton_contract **out)
{
	const struct baton_contract *best = NULL;
	size_t ties = 0;

	for (size_t i = 0; contracts && i < contracts->n_drivers; i++) {
		const struct baton_contract *drv = &contracts->drivers[i];

		if (ids_match(drv, ids) && beats(best ? priority_cmp(drv, best) : 1, &ties))
			best = drv;
	}
	if (!best)
		return -ENOENT;
	if (ties > 1)
		return -BATON_ERR_CONFLICT;
	*out = best;
	return 0;
}

/**
 * baton_plan_ok() - whether every mandatory record would be bound
 * @d: decisions from baton_plan()
 * @n: their number
 *
 * Return: true when each decision for a mandatory record is BIND or CONVERT.
 */
bool baton_plan_ok(const struct baton_decision *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].device->mandatory &&
		    d[i].action != BATON_ACTION_BIND &&
		    d[i].action != BATON_ACTION_CONVERT)
			return false;
	return true;
}

/**
 * baton_action_name() - the lowercase name of an action
 * @action: the action
 *
 * Return: "bind", "convert", ...; NULL for a value out of range.
 */
const char *baton_action_name(enum baton_action action)
{
	static const char *const names[] = {
		[BATON_ACTION_BIND] = "bind",
		[BATON_ACTION_CONVERT] = "convert",
		[BATON_ACTION_QUARANTINE] = "quarantine",
		[BATON_ACTION_RESET] = "reset",
		[BATON_ACTION_CONFLICT] = "conflict",
		[BATON_ACTION_RELEASE] = "release",
	};

	if ((unsigned int)action >= BATON_ARRAY_SIZE(names))
		return NULL;
	return names[action];
}
