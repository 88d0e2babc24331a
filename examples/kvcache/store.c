// SPDX-License-Identifier: MIT
/**
 * DOC: kvcache item store: the region
 *
 * A region (layout KV_LAYOUT), every offset counted from its base:
 *
 *   struct kv_region   magic, layout, geometry, size classes, statistics
 *   page table         one byte per page: the page's size class, or
 *                      KV_PAGE_FREE for a page no class has taken yet
 *   hash table         n_buckets offsets: the first item of each chain
 *   arena              n_pages pages of KV_PAGE_SIZE bytes, 4 KiB aligned
 *
 * The geometry - where each part starts, how many pages and buckets, the
 * chunk size of each class - is a function of the region's size alone
 * (geometry()).  Attaching recomputes it and requires the header to agree,
 * which checks every offset in the header at once; changing how it is
 * computed is a new KV_LAYOUT.
 *
 * Pages go to classes in order (pages_used only grows).  A class cuts its
 * newest page into chunks one at a time, from the page's start, when its
 * free list is empty (struct kv_class's @uncut is the next to cut), so
 * every chunk of a used page is either not cut yet (at or after its
 * class's @uncut, in its newest page), free, on its class's free list, or
 * an item, in one hash chain and on its class's LRU list.  A chunk records
 * its state and class; zeroed memory is never a valid chunk, and a chunk
 * not cut yet is never one, whatever its bytes.
 *
 * Key and value bytes (together at most KV_ITEM_DATA_MAX, memcached's
 * largest item) leave a page room for an item header of up to
 * KV_HEADER_ROOM bytes, so an item that fits one version's page fits the
 * next version's as long as its header stays within that room: conversion
 * never meets an item it cannot place.
 *
 * This file is compiled once per item version; KV_ITEM is that version's
 * header.  The code that validates and walks lists reads the fields every
 * version shares through struct kv_item_v1, so it serves the v2 build's
 * converter for v1 regions too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store.h"

#if !defined(KVCACHE_VERSION) || (KVCACHE_VERSION != 1 && KVCACHE_VERSION != 2)
#error "compile store.c with -DKVCACHE_VERSION=1 or -DKVCACHE_VERSION=2"
#endif

#if KVCACHE_VERSION == 1
#define KV_ITEM struct kv_item_v1
#define KV_OPS kv_store_v1_ops
#else
#define KV_ITEM struct kv_item_v2
#define KV_OPS kv_store_v2_ops
/* v2 appends to v1: the shared fields are where v1 has them. */
_Static_assert(offsetof(struct kv_item_v2, last_access) ==
	       sizeof(struct kv_item_v1), "kv_item_v2 must extend kv_item_v1");
#endif

#define KV_CHUNK_MIN	96
#define KV_BUCKET_MIN	256

_Static_assert(sizeof(KV_ITEM) <= KV_HEADER_ROOM, "item header too large");

struct kv_geometry {
	uint64_t n_pages;
	uint64_t page_table_off;
	uint64_t buckets_off;
	uint64_t n_buckets;
	uint64_t arena_off;
	uint32_t n_classes;
	uint32_t chunk_size[KV_MAX_CLASSES];
};

__attribute__((format(printf, 2, 0)))
static void kv_verrf(struct kv_err *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

__attribute__((format(printf, 2, 3)))
static void kv_errf(struct kv_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kv_verrf(err, fmt, ap);
	va_end(ap);
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

/*
 * The layout of a region of @size bytes.  One hash bucket per KiB (a load
 * factor near one for items of about a KiB) up to what a 32-bit hash
 * reaches, chunk sizes growing by 1.25 as memcached's default -f.
 * Return: 0, or -EINVAL when @size cannot hold a single page.
 */
static int geometry(uint64_t size, struct kv_geometry *g)
{
	uint32_t chunk = KV_CHUNK_MIN;

	if (size < KV_REGION_MIN)
		return -EINVAL;
	g->n_buckets = KV_BUCKET_MIN;
	while (g->n_buckets * 2 <= size / 1024 && g->n_buckets < (1ull << 31))
		g->n_buckets *= 2;
	g->page_table_off = round_up(sizeof(struct kv_region), 8);
	g->buckets_off = round_up(g->page_table_off + size / KV_PAGE_SIZE, 8);
	g->arena_off = round_up(g->buckets_off + g->n_buckets * 8, 4096);
	g->n_pages = (size - g->arena_off) / KV_PAGE_SIZE;
	g->n_classes = 0;
	while (chunk <= KV_PAGE_SIZE / 2 && g->n_classes < KV_MAX_CLASSES - 1) {
		g->chunk_size[g->n_classes++] = chunk;
		chunk = round_up(chunk + chunk / 4, 8);
	}
	g->chunk_size[g->n_classes++] = KV_PAGE_SIZE;
	return 0;
}

/* The class whose chunks hold @total bytes, or -1 when none does. */
static int class_for(const struct kv_region *r, uint64_t total)
{
	for (uint32_t c = 0; c < r->n_classes; c++)
		if (r->classes[c].chunk_size >= total)
			return c;
	return -1;
}

static uint64_t chunks_per_page(const struct kv_class *k)
{
	return KV_PAGE_SIZE / k->chunk_size;
}

static uint32_t key_hash(const char *key, size_t nkey)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a, then a mixer */

	for (size_t i = 0; i < nkey; i++) {
		h ^= (uint8_t)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/*
 * Validate the header and page table of a region that is meant to hold
 * kvcache-item v@version items of @item_hdr bytes.  O(pages).
 */
static int region_validate(const void *base, size_t size, uint32_t version,
			   uint32_t item_hdr, struct kv_err *err)
{
	const struct kv_region *r = base;
	uint64_t pages[KV_MAX_CLASSES] = { 0 };
	uint64_t newest[KV_MAX_CLASSES] = { 0 };
	const uint8_t *table;
	struct kv_geometry g;
	uint64_t items = 0;

	if ((uintptr_t)base % 8) {
		kv_errf(err, "region at %p is not 8-byte aligned", base);
		return -EINVAL;
	}
	if (size < sizeof(*r)) {
		kv_errf(err, "%zu bytes cannot hold a region header (%zu)",
			size, sizeof(*r));
		return -EBADMSG;
	}
	if (memcmp(r->magic, KV_MAGIC, sizeof(r->magic))) {
		kv_errf(err, "not a kvcache region (bad magic)");
		return -EBADMSG;
	}
	if (r->layout != KV_LAYOUT || r->hdr_size != sizeof(*r)) {
		kv_errf(err, "region layout %" PRIu32 " with a %" PRIu32
			"-byte header; this build reads layout %d (%zu bytes)",
			r->layout, r->hdr_size, KV_LAYOUT, sizeof(*r));
		return -EBADMSG;
	}
	if (r->item_version != version) {
		kv_errf(err, "region holds kvcache-item v%" PRIu32
			", this build reads v%" PRIu32, r->item_version, version);
		return -EPROTO;
	}
	if (r->item_hdr_size != item_hdr) {
		kv_errf(err, "region says kvcache-item v%" PRIu32 " headers are %"
			PRIu32 " bytes; they are %" PRIu32, version,
			r->item_hdr_size, item_hdr);
		return -EBADMSG;
	}
	if (r->region_size > size) {
		kv_errf(err, "region of %" PRIu64 " bytes, only %zu mapped",
			r->region_size, size);
		return -EBADMSG;
	}
	if (geometry(r->region_size, &g) || r->page_size != KV_PAGE_SIZE ||
	    r->n_pages != g.n_pages || r->page_table_off != g.page_table_off ||
	    r->buckets_off != g.buckets_off || r->n_buckets != g.n_buckets ||
	    r->arena_off != g.arena_off || r->n_classes != g.n_classes ||
	    r->pages_used > r->n_pages) {
		kv_errf(err, "region geometry does not match its size of %"
			PRIu64 " bytes", r->region_size);
		return -EBADMSG;
	}

	table = (const uint8_t *)base + r->page_table_off;
	for (uint64_t p = 0; p < r->n_pages; p++) {
		if (p < r->pages_used ? table[p] >= r->n_classes :
					table[p] != KV_PAGE_FREE) {
			kv_errf(err, "page %" PRIu64 " (of %" PRIu64 " used) has "
				"class %u", p, r->pages_used, table[p]);
			return -EBADMSG;
		}
		if (p < r->pages_used) {
			pages[table[p]]++;
			newest[table[p]] = p;
		}
	}

	for (uint32_t c = 0; c < r->n_classes; c++) {
		const struct kv_class *k = &r->classes[c];
		uint64_t chunks;

		if (k->chunk_size != g.chunk_size[c] || k->pages != pages[c]) {
			kv_errf(err, "class %" PRIu32 ": %" PRIu32 "-byte chunks "
				"in %" PRIu32 " pages; expected %" PRIu32
				" bytes in %" PRIu64, c, k->chunk_size, k->pages,
				g.chunk_size[c], pages[c]);
			return -EBADMSG;
		}
		if (k->uncut &&
		    (!k->pages || k->uncut < r->arena_off ||
		     (k->uncut - r->arena_off) / KV_PAGE_SIZE != newest[c] ||
		     (k->uncut - r->arena_off) % KV_PAGE_SIZE % k->chunk_size ||
		     !kv_class_uncut(r, k))) {
			kv_errf(err, "class %" PRIu32 ": its next chunk to cut, at %#"
				PRIx64 ", is not a chunk of its newest page", c,
				k->uncut);
			return -EBADMSG;
		}
		chunks = pages[c] * chunks_per_page(k) - kv_class_uncut(r, k);
		if (k->items > chunks || k->free_count != chunks - k->items ||
		    !k->items != !k->lru_head || !k->items != !k->lru_tail ||
		    !k->free_count != !k->free_head) {
			kv_errf(err, "class %" PRIu32 ": %" PRIu64 " items and %"
				PRIu64 " free chunks in %" PRIu64 " chunks cut, or "
				"list ends that disagree", c, k->items,
				k->free_count, chunks);
			return -EBADMSG;
		}
		items += k->items;
	}
	if (items != r->stats.curr_items) {
		kv_errf(err, "%" PRIu64 " items in the classes, %" PRIu64
			" counted", items, r->stats.curr_items);
		return -EBADMSG;
	}
	return 0;
}

static const char *state_name(uint8_t state)
{
	switch (state) {
	case KV_CHUNK_FREE:
		return "free";
	case KV_CHUNK_ITEM:
		return "an item";
	default:
		return "neither free nor an item";
	}
}

/*
 * The chunk at @off of a validated region, which must be in @state: inside
 * the used arena, on a chunk boundary of its page's class, of that class,
 * and, for an item of @item_hdr header bytes, with its key and value inside
 * the chunk.  NULL, with @err set, when it is not.
 */
static const struct kv_item_v1 *chunk_at(const struct kv_region *r,
					 uint64_t off, uint8_t state,
					 uint32_t item_hdr, struct kv_err *err)
{
	const uint8_t *base = (const uint8_t *)r;
	const struct kv_item_v1 *it;
	uint64_t rel, in_page, uncut;
	uint32_t cls, chunk;

	/* Acquire: take_page() cut the pages below before it counted them. */
	if (off < r->arena_off ||
	    off - r->arena_off >= __atomic_load_n(&r->pages_used,
						  __ATOMIC_ACQUIRE) *
				  KV_PAGE_SIZE) {
		kv_errf(err, "offset %#" PRIx64 " is outside the used arena", off);
		return NULL;
	}
	rel = off - r->arena_off;
	cls = base[r->page_table_off + rel / KV_PAGE_SIZE];
	chunk = r->classes[cls].chunk_size;
	in_page = rel % KV_PAGE_SIZE;
	if (in_page % chunk || in_page + chunk > KV_PAGE_SIZE) {
		kv_errf(err, "offset %#" PRIx64 " is not a chunk of its page "
			"(class %" PRIu32 ", %" PRIu32 " bytes)", off, cls, chunk);
		return NULL;
	}
	/* In the page @uncut is in (it is at most @in_page below @off), and
	 * not below it.  Acquire: class_pop() cut the chunk before it moved
	 * @uncut past it. */
	uncut = __atomic_load_n(&r->classes[cls].uncut, __ATOMIC_ACQUIRE);
	if (uncut && off >= uncut && off - uncut <= in_page) {
		kv_errf(err, "chunk at %#" PRIx64 " is not cut yet (class %"
			PRIu32 " cuts at %#" PRIx64 ")", off, cls, uncut);
		return NULL;
	}
	it = (const struct kv_item_v1 *)(base + off);
	if (it->state != state || it->slab_class != cls) {
		kv_errf(err, "chunk at %#" PRIx64 " is %s of class %u; expected "
			"%s of class %" PRIu32, off, state_name(it->state),
			it->slab_class, state_name(state), cls);
		return NULL;
	}
	if (state == KV_CHUNK_ITEM &&
	    (!it->nkey || it->nkey > KV_KEY_MAX ||
	     it->nkey + (uint64_t)it->nbytes > KV_ITEM_DATA_MAX ||
	     item_hdr + it->nkey + (uint64_t)it->nbytes > chunk)) {
		kv_errf(err, "item at %#" PRIx64 ": a %u-byte key and a %"
			PRIu32 "-byte value do not fit its %" PRIu32
			"-byte chunk", off, it->nkey, it->nbytes, chunk);
		return NULL;
	}
	return it;
}

/*
 * Walk class @c's LRU list from least to most recently used, checking each
 * item and both directions of every link, and call @visit (when not NULL)
 * on each.  The walk is bounded by the class's item count.
 */
static int walk_lru(const struct kv_region *r, uint32_t c, uint32_t item_hdr,
		    int (*visit)(const struct kv_item_v1 *it, void *arg),
		    void *arg, struct kv_err *err)
{
	const struct kv_class *k = &r->classes[c];
	uint64_t off = k->lru_tail, older = 0, n = 0;
	int ret;

	while (off) {
		const struct kv_item_v1 *it;

		it = chunk_at(r, off, KV_CHUNK_ITEM, item_hdr, err);
		if (!it)
			return -EBADMSG;
		if (it->slab_class != c || it->lru_next != older ||
		    ++n > k->items) {
			kv_errf(err, "LRU list of class %" PRIu32 " is broken at "
				"%#" PRIx64, c, off);
			return -EBADMSG;
		}
		if (visit) {
			ret = visit(it, arg);
			if (ret)
				return ret;
		}
		older = off;
		off = it->lru_prev;
	}
	if (n != k->items || k->lru_head != older) {
		kv_errf(err, "LRU list of class %" PRIu32 " holds %" PRIu64
			" of its %" PRIu64 " items", c, n, k->items);
		return -EBADMSG;
	}
	return 0;
}

/* ---- The native build's operations ---- */

static struct kv_region *region(const struct kv_store *st)
{
	return st->base;
}

static char *item_key(KV_ITEM *it)
{
	return (char *)(it + 1);
}

static char *item_data(KV_ITEM *it)
{
	return item_key(it) + it->nkey;
}

static uint64_t item_size(const KV_ITEM *it)
{
	return sizeof(*it) + it->nkey + (uint64_t)it->nbytes;
}

/* ---- Several threads (struct kv_locks) ---- */

static void alloc_lock(struct kv_store *st)
{
	if (st->locks)
		pthread_mutex_lock(&st->locks->alloc);
}

static void alloc_unlock(struct kv_store *st)
{
	if (st->locks)
		pthread_mutex_unlock(&st->locks->alloc);
}

/* The stripe of the keys of @hash's bucket. */
static unsigned int stripe_of(const struct kv_store *st, uint32_t hash)
{
	return hash & (region(st)->n_buckets - 1) & (KV_STRIPES - 1);
}

/*
 * For an eviction by a thread holding the stripe of @mine (or the store
 * alone, when no stripe is held by anyone): take the stripe of @hash too,
 * without waiting - waiting for it inside @alloc could deadlock with its
 * holder waiting for @alloc.  Return: whether @hash's item may be taken.
 */
static bool stripe_try(struct kv_store *st, uint32_t hash, uint32_t mine)
{
	unsigned int s = stripe_of(st, hash);

	return !st->locks || s == stripe_of(st, mine) ||
	       !pthread_mutex_trylock(&st->locks->stripe[s].m);
}

static void stripe_done(struct kv_store *st, uint32_t hash, uint32_t mine)
{
	unsigned int s = stripe_of(st, hash);

	if (st->locks && s != stripe_of(st, mine))
		pthread_mutex_unlock(&st->locks->stripe[s].m);
}

/* A counter of the region's, which threads holding other stripes count
 * too. */
#define STAT_ADD(st, name, n)						\
	__atomic_fetch_add(&region(st)->stats.name, (n), __ATOMIC_RELAXED)

static uint64_t curr_items(const struct kv_store *st)
{
	return __atomic_load_n(&region(st)->stats.curr_items, __ATOMIC_RELAXED);
}

static bool is_broken(const struct kv_store *st)
{
	return __atomic_load_n(&st->broken, __ATOMIC_ACQUIRE);
}

/* Damage found: the store is broken; with threads, the first says why. */
static int damaged(struct kv_store *st, const struct kv_err *err)
{
	if (st->locks)
		pthread_mutex_lock(&st->locks->err);
	if (!st->locks || !is_broken(st))
		st->err = *err;
	__atomic_store_n(&st->broken, true, __ATOMIC_RELEASE);
	if (st->locks)
		pthread_mutex_unlock(&st->locks->err);
	return -EBADMSG;
}

__attribute__((format(printf, 2, 3)))
static int corrupt(struct kv_store *st, const char *fmt, ...)
{
	struct kv_err err;
	va_list ap;

	va_start(ap, fmt);
	kv_verrf(&err, fmt, ap);
	va_end(ap);
	return damaged(st, &err);
}

/* The chunk at @off, in @state; NULL, the store broken, when it is not. */
static void *chunk(struct kv_store *st, uint64_t off, uint8_t state)
{
	struct kv_err err;

	if (!chunk_at(region(st), off, state, sizeof(KV_ITEM), &err)) {
		damaged(st, &err);
		return NULL;
	}
	return (uint8_t *)st->base + off;
}

static uint64_t *bucket(struct kv_store *st, uint32_t hash)
{
	struct kv_region *r = region(st);

	return (uint64_t *)((uint8_t *)st->base + r->buckets_off) +
	       (hash & (r->n_buckets - 1));
}

/*
 * The next item of a hash chain.  A chain cannot hold more items than the
 * store does: counting the steps ends a loop in a damaged region.
 */
static KV_ITEM *chain_step(struct kv_store *st, uint64_t off, uint64_t *steps)
{
	if (++*steps > curr_items(st)) {
		corrupt(st, "hash chain longer than the %" PRIu64 " items "
			"(a loop?) at %#" PRIx64, curr_items(st), off);
		return NULL;
	}
	return chunk(st, off, KV_CHUNK_ITEM);
}

/*
 * The item of @key in its hash chain.  With @quiet, nothing is written:
 * damage gives -EAGAIN, for a caller holding the store only to read (it
 * looks again with the store to itself, and that records the damage).
 */
static int find_in(struct kv_store *st, const char *key, size_t nkey,
		   uint32_t hash, bool quiet, KV_ITEM **out, uint64_t *out_off)
{
	const struct kv_region *r = region(st);
	uint64_t off = *bucket(st, hash), steps = 0, items = curr_items(st);
	struct kv_err err;

	while (off) {
		KV_ITEM *it;

		if (quiet)
			it = ++steps > items ? NULL :
			     (KV_ITEM *)chunk_at(r, off, KV_CHUNK_ITEM,
						 sizeof(KV_ITEM), &err);
		else
			it = chain_step(st, off, &steps);
		if (!it)
			return quiet ? -EAGAIN : -EBADMSG;
		if (it->hash == hash && it->nkey == nkey &&
		    !memcmp(item_key(it), key, nkey)) {
			*out = it;
			*out_off = off;
			return KV_OK;
		}
		off = it->h_next;
	}
	return KV_NOT_FOUND;
}

static int find(struct kv_store *st, const char *key, size_t nkey,
		uint32_t hash, KV_ITEM **out, uint64_t *out_off)
{
	return find_in(st, key, nkey, hash, false, out, out_off);
}

static int lru_remove(struct kv_store *st, KV_ITEM *it, uint64_t off)
{
	struct kv_class *k = &region(st)->classes[it->slab_class];
	KV_ITEM *prev = NULL, *next = NULL;

	if (it->lru_prev && !(prev = chunk(st, it->lru_prev, KV_CHUNK_ITEM)))
		return -EBADMSG;
	if (it->lru_next && !(next = chunk(st, it->lru_next, KV_CHUNK_ITEM)))
		return -EBADMSG;
	if ((prev ? prev->lru_next : k->lru_head) != off ||
	    (next ? next->lru_prev : k->lru_tail) != off)
		return corrupt(st, "LRU neighbours of %#" PRIx64 " do not "
			       "point back at it", off);
	if (prev)
		prev->lru_next = it->lru_next;
	else
		k->lru_head = it->lru_next;
	if (next)
		next->lru_prev = it->lru_prev;
	else
		k->lru_tail = it->lru_prev;
	it->lru_prev = 0;
	it->lru_next = 0;
	return 0;
}

static int lru_push(struct kv_store *st, KV_ITEM *it, uint64_t off)
{
	struct kv_class *k = &region(st)->classes[it->slab_class];
	KV_ITEM *head;

	it->lru_prev = 0;
	it->lru_next = k->lru_head;
	if (k->lru_head) {
		head = chunk(st, k->lru_head, KV_CHUNK_ITEM);
		if (!head)
			return -EBADMSG;
		head->lru_prev = off;
	} else {
		k->lru_tail = off;
	}
	k->lru_head = off;
	return 0;
}

/* Mark an item used: the head of its LRU list; v2 also records when. */
static int touch(struct kv_store *st, KV_ITEM *it, uint64_t off, uint64_t now)
{
	int ret;

#if KVCACHE_VERSION >= 2
	it->last_access = now;
#else
	(void)now;
#endif
	if (region(st)->classes[it->slab_class].lru_head == off)
		return 0;
	ret = lru_remove(st, it, off);
	return ret ? ret : lru_push(st, it, off);
}

static int link_item(struct kv_store *st, KV_ITEM *it, uint64_t off)
{
	struct kv_region *r = region(st);
	uint64_t *head = bucket(st, it->hash);
	int ret;

	ret = lru_push(st, it, off);
	if (ret)
		return ret;
	it->h_next = *head;
	*head = off;
	r->classes[it->slab_class].items++;
	STAT_ADD(st, curr_items, 1);
	STAT_ADD(st, bytes, item_size(it));
	return 0;
}

/* Take an item out of its chain and LRU list and free its chunk. */
static int unlink_item(struct kv_store *st, KV_ITEM *it, uint64_t off)
{
	struct kv_region *r = region(st);
	struct kv_class *k = &r->classes[it->slab_class];
	uint64_t *slot = bucket(st, it->hash), steps = 0;
	int ret;

	while (*slot != off) {
		KV_ITEM *prev;

		if (!*slot)
			return corrupt(st, "item at %#" PRIx64 " is not in its "
				       "hash chain", off);
		prev = chain_step(st, *slot, &steps);
		if (!prev)
			return -EBADMSG;
		slot = &prev->h_next;
	}
	ret = lru_remove(st, it, off);
	if (ret)
		return ret;
	*slot = it->h_next;
	k->items--;
	STAT_ADD(st, curr_items, -1);
	STAT_ADD(st, bytes, -item_size(it));

	it->state = KV_CHUNK_FREE;
	it->h_next = k->free_head;
	k->free_head = off;
	k->free_count++;
	return 0;
}

/* unlink_item(), by a thread holding the item's stripe (or the store). */
static int unlink_locked(struct kv_store *st, KV_ITEM *it, uint64_t off)
{
	int ret;

	alloc_lock(st);
	ret = unlink_item(st, it, off);
	alloc_unlock(st);
	return ret;
}

#if KVCACHE_VERSION >= 2
static void pull(struct kv_store *st, const char *key, size_t nkey,
		 uint32_t hash, uint64_t now);
static bool src_holds(const struct kv_store *st, const char *key, size_t nkey,
		      uint32_t hash);
#endif

/*
 * find(), where an expired item is removed and not found.  Every operation
 * on a key comes here first: during a conversion, the key's v1 item is
 * taken over first, so that the v1 region is never seen behind this one.
 */
static int find_live(struct kv_store *st, const char *key, size_t nkey,
		     uint32_t hash, uint64_t now, KV_ITEM **out,
		     uint64_t *out_off)
{
	int ret;

#if KVCACHE_VERSION >= 2
	if (st->src)
		pull(st, key, nkey, hash, now);
#endif
	ret = find(st, key, nkey, hash, out, out_off);

	if (ret != KV_OK || !(*out)->exptime || (*out)->exptime > now)
		return ret;
	ret = unlink_locked(st, *out, *out_off);
	return ret ? ret : KV_NOT_FOUND;
}

/*
 * Give class @c the next unused page, to be cut as it is used: the page is
 * not written here - a set that needs a chunk writes the chunk's first
 * 4 KiB page, not all 257 of them.
 */
static int take_page(struct kv_store *st, uint32_t c)
{
	struct kv_region *r = region(st);
	struct kv_class *k = &r->classes[c];
	uint64_t page;

	if (r->pages_used == r->n_pages)
		return -ENOMEM;
	page = r->pages_used;
	((uint8_t *)st->base)[r->page_table_off + page] = c;
	k->pages++;
	__atomic_store_n(&k->uncut, r->arena_off + page * KV_PAGE_SIZE,
			 __ATOMIC_RELAXED);
	/* Release: chunk_at() reads the page as its class's once counted. */
	__atomic_store_n(&r->pages_used, page + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Cut class @c's next chunk from its newest page, into @off. */
static void cut(struct kv_store *st, uint32_t c, uint64_t *off)
{
	struct kv_region *r = region(st);
	struct kv_class *k = &r->classes[c];
	struct kv_item_v1 *ch = (void *)((uint8_t *)st->base + k->uncut);
	uint64_t next = kv_class_uncut(r, k) > 1 ? k->uncut + k->chunk_size : 0;

	memset(ch, 0, sizeof(*ch));
	ch->state = KV_CHUNK_FREE;
	ch->slab_class = c;
	*off = k->uncut;
	/* Release: chunk_at() takes the chunk as cut once @uncut is past. */
	__atomic_store_n(&k->uncut, next, __ATOMIC_RELEASE);
}

/* A free chunk of class @c, without evicting: -ENOMEM when there is none. */
static int class_pop(struct kv_store *st, uint32_t c, uint64_t *off)
{
	struct kv_class *k = &region(st)->classes[c];
	struct kv_item_v1 *ch;
	int ret;

	if (!k->free_head) {
		if (!k->uncut) {
			ret = take_page(st, c);
			if (ret)
				return ret;
		}
		cut(st, c, off);
		return 0;
	}
	ch = chunk(st, k->free_head, KV_CHUNK_FREE);
	if (!ch)
		return -EBADMSG;
	*off = k->free_head;
	k->free_head = ch->h_next;
	k->free_count--;
	if (!k->free_count != !k->free_head)
		return corrupt(st, "free list of class %" PRIu32 " does not "
			       "match its count", c);
	return 0;
}

/* Items an eviction looks at, from the tail up, for one no other thread
 * holds (memcached's lru_pull_tail() looks at 5). */
#define KV_EVICT_TRIES	5

/*
 * A chunk for an item of @data bytes of key and value, evicting the LRU
 * tail of its class when the class has no free chunk and no page is left;
 * with @alloc held, by a thread holding the stripe of @hash or the store.
 * Return: 0, -E2BIG, -ENOMEM, -EBADMSG, or -EAGAIN when the last
 * KV_EVICT_TRIES items are all in stripes other threads hold.
 */
static int alloc(struct kv_store *st, uint32_t hash, uint64_t data,
		 uint64_t now, uint64_t *off)
{
	struct kv_region *r = region(st);
	uint64_t victim;
	uint32_t victim_hash;
	KV_ITEM *tail = NULL;
	int c, ret;

	if (data > KV_ITEM_DATA_MAX)
		return -E2BIG;
	/* Found: the largest class holds KV_ITEM_DATA_MAX and any header. */
	c = class_for(r, sizeof(KV_ITEM) + data);
	ret = class_pop(st, c, off);
	if (ret != -ENOMEM)
		return ret;
	victim = r->classes[c].lru_tail;
	if (!victim)
		return -ENOMEM;
	for (int i = 0; victim && i < KV_EVICT_TRIES; i++) {
		tail = chunk(st, victim, KV_CHUNK_ITEM);
		if (!tail)
			return -EBADMSG;
		if (stripe_try(st, tail->hash, hash))
			break;
		victim = tail->lru_prev;
		tail = NULL;
	}
	if (!tail)
		return -EAGAIN;
	/* Read with its stripe held: a touch changes it with only that. */
	if (tail->exptime && tail->exptime <= now)
		STAT_ADD(st, reclaimed, 1);
	else
		STAT_ADD(st, evictions, 1);
	victim_hash = tail->hash;
	ret = unlink_item(st, tail, victim);
	stripe_done(st, victim_hash, hash);
	return ret ? ret : class_pop(st, c, off);
}

/* Write an item into the free chunk at @off, not yet linked. */
static KV_ITEM *write_item(struct kv_store *st, uint64_t off, const char *key,
			   size_t nkey, uint32_t hash, uint32_t flags,
			   uint64_t exptime, const void *data, uint32_t nbytes,
			   uint64_t cas, uint64_t last_access)
{
	KV_ITEM *it = (KV_ITEM *)((uint8_t *)st->base + off);

	it->h_next = 0;
	it->cas = cas;
	it->exptime = exptime;
	it->flags = flags;
	it->nbytes = nbytes;
	it->hash = hash;
	it->nkey = nkey;
	it->state = KV_CHUNK_ITEM;
#if KVCACHE_VERSION >= 2
	it->last_access = last_access;
#else
	(void)last_access;
#endif
	memcpy(item_key(it), key, nkey);
	memcpy(item_data(it), data, nbytes);
	return it;
}

/* Store a new item for @key, replacing any, with a new cas. */
static int replace(struct kv_store *st, const char *key, size_t nkey,
		   uint32_t hash, uint32_t flags, uint64_t exptime,
		   const void *data, uint32_t nbytes, uint64_t now)
{
	struct kv_region *r = region(st);
	uint64_t off, old_off, cas = 0;
	KV_ITEM *it, *old;
	int ret;

	alloc_lock(st);
	ret = alloc(st, hash, nkey + (uint64_t)nbytes, now, &off);
	alloc_unlock(st);
	if (ret)
		return ret;
	/* The copy outside @alloc: no other thread can reach the chunk. */
	it = write_item(st, off, key, nkey, hash, flags, exptime, data, nbytes,
			0, now);
	/* Only now: making room may have evicted the item being replaced. */
	ret = find(st, key, nkey, hash, &old, &old_off);
	alloc_lock(st);
	if (ret == KV_OK)
		ret = unlink_item(st, old, old_off);
	if (ret >= 0) {
		it->cas = cas = ++r->next_cas;
		ret = link_item(st, it, off);
	}
	alloc_unlock(st);
	if (ret)
		return ret;
	STAT_ADD(st, total_items, 1);
	__atomic_store_n(&st->last_cas, cas, __ATOMIC_RELAXED);
	return KV_OK;
}

/* The common entry checks: the store is usable and the key is a key. */
static int usable(struct kv_store *st, size_t nkey)
{
	if (is_broken(st))
		return -EBADMSG;
	return nkey && nkey <= KV_KEY_MAX ? 0 : -EINVAL;
}

static void handle_init(struct kv_store *st, void *base)
{
	st->base = base;
	st->locks = NULL;
	st->broken = false;
	st->err.msg[0] = '\0';
	st->src = NULL;
	st->src_twins = st->src_dropped = 0;
	st->src_err.msg[0] = '\0';
}

/*
 * Zero [@base, @base + @len) without touching what is zero already.  The
 * program's regions are fresh memfds, all zeroes: writing zeroes faulted
 * in every page of the index (a 1 GiB region's 8 MiB of buckets, 2,048
 * faults: ~24 ms of a v1 -> v2 update's blackout).  Punching the pages out
 * of the shared memory behind them (MADV_REMOVE) makes them read as zeroes
 * for every process that maps them, as the writes would, and faults none
 * in; memory that is not shared (a test's, a fuzzer's) is written.
 */
static void zero_index(void *base, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t whole = (uintptr_t)base % page ? 0 : len / page * page;

	if (whole && madvise(base, whole, MADV_REMOVE))
		whole = 0;
	memset((uint8_t *)base + whole, 0, len - whole);
}

static int store_format(struct kv_store *st, void *base, size_t size)
{
	struct kv_region *r = base;
	struct kv_geometry g;

	handle_init(st, base);
	if ((uintptr_t)base % 8) {
		kv_errf(&st->err, "region at %p is not 8-byte aligned", base);
		return -EINVAL;
	}
	if (geometry(size, &g)) {
		kv_errf(&st->err, "a region of %zu bytes is below the minimum "
			"of %zu", size, KV_REGION_MIN);
		return -EINVAL;
	}
	/* The arena is left as it is: pages are cut when a class takes them. */
	zero_index(base, g.arena_off);
	memcpy(r->magic, KV_MAGIC, sizeof(r->magic));
	r->layout = KV_LAYOUT;
	r->hdr_size = sizeof(*r);
	r->item_version = KVCACHE_VERSION;
	r->item_hdr_size = sizeof(KV_ITEM);
	r->region_size = size;
	r->page_size = KV_PAGE_SIZE;
	r->n_pages = g.n_pages;
	r->page_table_off = g.page_table_off;
	r->buckets_off = g.buckets_off;
	r->n_buckets = g.n_buckets;
	r->arena_off = g.arena_off;
	r->n_classes = g.n_classes;
	for (uint32_t c = 0; c < g.n_classes; c++)
		r->classes[c].chunk_size = g.chunk_size[c];
	r->stats.limit_maxbytes = g.n_pages * KV_PAGE_SIZE;
	memset((uint8_t *)base + g.page_table_off, KV_PAGE_FREE, g.n_pages);
	return 0;
}

static int store_attach(struct kv_store *st, void *base, size_t size)
{
	handle_init(st, base);
	return region_validate(base, size, KVCACHE_VERSION, sizeof(KV_ITEM),
			       &st->err);
}

static int store_check(struct kv_store *st)
{
	struct kv_region *r = region(st);
	uint64_t linked = 0;
	int ret;

	if (st->broken)
		return -EBADMSG;
	for (uint32_t c = 0; c < r->n_classes; c++) {
		const struct kv_class *k = &r->classes[c];
		uint64_t off = k->free_head, n = 0;

		ret = walk_lru(r, c, sizeof(KV_ITEM), NULL, NULL, &st->err);
		if (ret) {
			st->broken = true;
			return ret;
		}
		for (; off; n++) {
			const struct kv_item_v1 *ch = chunk(st, off, KV_CHUNK_FREE);

			if (!ch)
				return -EBADMSG;
			if (ch->slab_class != c || n == k->free_count)
				return corrupt(st, "free list of class %" PRIu32
					       " is broken at %#" PRIx64, c, off);
			off = ch->h_next;
		}
		if (n != k->free_count)
			return corrupt(st, "free list of class %" PRIu32 " holds %"
				       PRIu64 " of its %" PRIu64 " chunks", c, n,
				       k->free_count);
	}
	for (uint64_t b = 0; b < r->n_buckets; b++) {
		uint64_t off = *bucket(st, b);

		while (off) {
			KV_ITEM *it = chain_step(st, off, &linked);

			if (!it)
				return -EBADMSG;
			if (it->hash != key_hash(item_key(it), it->nkey) ||
			    (it->hash & (r->n_buckets - 1)) != b)
				return corrupt(st, "item at %#" PRIx64 " is in "
					       "hash chain %" PRIu64 " with a "
					       "wrong hash", off, b);
			off = it->h_next;
		}
	}
	if (linked != r->stats.curr_items)
		return corrupt(st, "%" PRIu64 " items in hash chains, %" PRIu64
			       " on LRU lists", linked, r->stats.curr_items);
	return 0;
}

/*
 * Whether an item found by a reader is due to be marked used.  Moving it
 * to the head of its LRU list writes the list, which readers cannot do
 * together: as memcached (ITEM_UPDATE_INTERVAL), an item used within the
 * last KV_BUMP_INTERVAL seconds stays where it is, so that gets of the
 * same items read the store side by side.  v1 keeps no time: only the
 * head of its list is left alone.
 */
#define KV_BUMP_INTERVAL	60

static bool bump_due(struct kv_store *st, const KV_ITEM *it, uint64_t off,
		     uint64_t now)
{
	if (region(st)->classes[it->slab_class].lru_head == off)
		return false;
#if KVCACHE_VERSION >= 2
	return it->last_access + KV_BUMP_INTERVAL <= now;
#else
	(void)now;
	return true;
#endif
}

/*
 * A get's touch().  With threads, as with readers (bump_due()): an item
 * used within the last KV_BUMP_INTERVAL seconds stays where it is, so that
 * gets of the same items seldom wait for @alloc.
 */
static int mark_used(struct kv_store *st, KV_ITEM *it, uint64_t off,
		     uint64_t now)
{
	int ret;

	if (!st->locks)
		return touch(st, it, off, now);
#if KVCACHE_VERSION >= 2
	if (it->last_access + KV_BUMP_INTERVAL > now)
		return 0;
#endif
	alloc_lock(st);
	ret = touch(st, it, off, now);
	alloc_unlock(st);
	return ret;
}

/* How get() reads. */
#define GET_SHARED	1u	/* beside other readers: see below */
#define GET_UNMARKED	2u	/* an item due to be marked used is left so */
#define GET_PEEK	4u	/* no get: neither marked used nor counted */

/*
 * A get; GET_SHARED: beside other readers, writing nothing but the
 * counters (atomically, as the other readers count too), and -EAGAIN for
 * whatever must write more.
 */
static int get(struct kv_store *st, const char *key, size_t nkey,
	       uint64_t now, unsigned int how, struct kv_item_ref *out)
{
	const bool shared = how & GET_SHARED, counted = !(how & GET_PEEK);
	struct kv_stats *stats = &region(st)->stats;
	uint32_t hash = key_hash(key, nkey);
	uint64_t off;
	KV_ITEM *it;
	int ret;

	ret = usable(st, nkey);
	if (ret)
		return ret;
	/* A conversion under way takes the key's v1 item over first. */
#if KVCACHE_VERSION >= 2
	if (shared && st->src && src_holds(st, key, nkey, hash))
		return -EAGAIN;
#endif
	ret = shared ? find_in(st, key, nkey, hash, true, &it, &off) :
		       find_live(st, key, nkey, hash, now, &it, &off);
	if (ret == KV_NOT_FOUND && counted)
		__atomic_fetch_add(&stats->get_misses, 1, __ATOMIC_RELAXED);
	if (ret)
		return ret;
	/* Expired: to be removed; or to be marked used. */
	if (shared && ((it->exptime && it->exptime <= now) ||
		       (!(how & GET_UNMARKED) && bump_due(st, it, off, now))))
		return -EAGAIN;
#if KVCACHE_VERSION >= 2
	/* Before this get marks it used: meta's l flag and me show it. */
	out->last_access = it->last_access;
#else
	out->last_access = 0;
#endif
	ret = shared || !counted ? 0 : mark_used(st, it, off, now);
	if (ret)
		return ret;
	if (counted)
		__atomic_fetch_add(&stats->get_hits, 1, __ATOMIC_RELAXED);
	out->key = item_key(it);
	out->nkey = it->nkey;
	out->data = item_data(it);
	out->nbytes = it->nbytes;
	out->flags = it->flags;
	out->exptime = it->exptime;
	out->cas = it->cas;
	out->size = item_size(it);
	out->slab_class = it->slab_class;
	return KV_OK;
}

static int store_get(struct kv_store *st, const char *key, size_t nkey,
		     uint64_t now, struct kv_item_ref *out)
{
	return get(st, key, nkey, now, 0, out);
}

static int store_get_shared(struct kv_store *st, const char *key,
			    size_t nkey, uint64_t now, bool unmarked,
			    struct kv_item_ref *out)
{
	return get(st, key, nkey, now, GET_SHARED | (unmarked ? GET_UNMARKED : 0), out);
}

static int store_peek(struct kv_store *st, const char *key, size_t nkey,
		      uint64_t now, struct kv_item_ref *out)
{
	return get(st, key, nkey, now, GET_PEEK, out);
}

/* @old's value with @data added at its end (@append) or start. */
static int concat(struct kv_store *st, KV_ITEM *old, const char *key,
		  size_t nkey, uint32_t hash, bool append, const void *data,
		  uint32_t nbytes, uint64_t now)
{
	uint64_t total = old->nbytes + (uint64_t)nbytes;
	uint8_t *value;
	int ret;

	/* The item on its own was not too large; the two together are not
	 * stored, as memcached does not store them. */
	if (kv_item_too_large(nkey, old->flags, total))
		return KV_NOT_STORED;
	/* A copy: making room for the new item may evict the old one. */
	value = malloc(total ? total : 1);
	if (!value)
		return -ENOMEM;
	memcpy(value + (append ? 0 : nbytes), item_data(old), old->nbytes);
	memcpy(value + (append ? old->nbytes : 0), data, nbytes);
	ret = replace(st, key, nkey, hash, old->flags, old->exptime, value,
		      (uint32_t)total, now);
	free(value);
	return ret;
}

static int store_put(struct kv_store *st, enum kv_mode mode, const char *key,
		     size_t nkey, uint32_t flags, uint64_t exptime,
		     const void *data, uint32_t nbytes, uint64_t cas,
		     uint64_t now)
{
	uint32_t hash = key_hash(key, nkey);
	bool want_cas = mode == KV_CAS || (cas && mode != KV_ADD);
	uint64_t off;
	KV_ITEM *old;
	int ret;

	ret = usable(st, nkey);
	if (ret)
		return ret;
	/* Before the key is looked up, as memcached allocates first: an add
	 * of a key that exists is too large before it is not stored. */
	if (kv_item_too_large(nkey, flags, nbytes))
		return -E2BIG;
	ret = find_live(st, key, nkey, hash, now, &old, &off);
	if (ret < 0)
		return ret;
	STAT_ADD(st, cmd_set, 1);
	if (mode == KV_ADD && ret == KV_OK)
		return KV_NOT_STORED;
	if (want_cas && ret == KV_NOT_FOUND) {
		STAT_ADD(st, cas_misses, 1);
		return KV_NOT_FOUND;
	}
	if (want_cas && old->cas != cas) {
		STAT_ADD(st, cas_badval, 1);
		return KV_EXISTS;
	}
	if (mode != KV_SET && mode != KV_ADD && ret == KV_NOT_FOUND)
		return KV_NOT_STORED;
	if (mode == KV_APPEND || mode == KV_PREPEND)
		ret = concat(st, old, key, nkey, hash, mode == KV_APPEND, data,
			     nbytes, now);
	else
		ret = replace(st, key, nkey, hash, flags, exptime, data, nbytes,
			      now);
	if (ret == KV_OK && want_cas)
		STAT_ADD(st, cas_hits, 1);
	/* To be put again with the store alone: counted then. */
	if (ret == -EAGAIN)
		STAT_ADD(st, cmd_set, -1);
	return ret;
}

static int store_remove(struct kv_store *st, const char *key, size_t nkey,
			uint64_t now)
{
	uint64_t off;
	KV_ITEM *it;
	int ret;

	ret = usable(st, nkey);
	if (ret)
		return ret;
	ret = find_live(st, key, nkey, key_hash(key, nkey), now, &it, &off);
	if (ret == KV_NOT_FOUND)
		STAT_ADD(st, delete_misses, 1);
	if (ret)
		return ret;
	ret = unlink_locked(st, it, off);
	if (ret)
		return ret;
	STAT_ADD(st, delete_hits, 1);
	return KV_OK;
}

/* The value of a decimal string of 1 to 20 digits that fits 64 bits. */
static int parse_counter(const char *s, uint32_t n, uint64_t *value)
{
	uint64_t v = 0;

	if (!n || n > 20)
		return -EDOM;
	for (uint32_t i = 0; i < n; i++) {
		unsigned int d = (uint8_t)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EDOM;
		v = v * 10 + d;
	}
	*value = v;
	return 0;
}

static int store_arith(struct kv_store *st, const char *key, size_t nkey,
		       bool incr, uint64_t delta, uint64_t now,
		       uint64_t *value)
{
	struct kv_region *r = region(st);
	struct kv_stats *stats = &r->stats;
	uint32_t hash = key_hash(key, nkey);
	char digits[24], copy[KV_KEY_MAX];
	uint64_t off, v;
	KV_ITEM *it;
	int ret, len;

	ret = usable(st, nkey);
	if (ret)
		return ret;
	ret = find_live(st, key, nkey, hash, now, &it, &off);
	if (ret == KV_NOT_FOUND)
		__atomic_fetch_add(incr ? &stats->incr_misses :
				   &stats->decr_misses, 1, __ATOMIC_RELAXED);
	if (ret)
		return ret;
	ret = parse_counter(item_data(it), it->nbytes, &v);
	if (ret)
		return ret;
	/* Increments wrap at 2^64, as memcached's; decrements stop at 0. */
	v = incr ? v + delta : (delta > v ? 0 : v - delta);
	len = snprintf(digits, sizeof(digits), "%" PRIu64, v);

	if (sizeof(*it) + it->nkey + (uint64_t)len <=
	    r->classes[it->slab_class].chunk_size) {
		/* In place: the length under @alloc, which LRU neighbours
		 * check the item's by (chunk_at()). */
		alloc_lock(st);
		STAT_ADD(st, bytes, (uint64_t)len - it->nbytes);
		it->nbytes = len;
		memcpy(item_data(it), digits, len);
		it->cas = ++r->next_cas;
		__atomic_store_n(&st->last_cas, it->cas, __ATOMIC_RELAXED);
		ret = touch(st, it, off, now);
		alloc_unlock(st);
	} else {
		/* The key lives in the chunk that replace() frees. */
		memcpy(copy, key, nkey);
		ret = replace(st, copy, nkey, hash, it->flags, it->exptime,
			      digits, len, now);
	}
	if (ret)
		return ret;
	__atomic_fetch_add(incr ? &stats->incr_hits : &stats->decr_hits, 1,
			   __ATOMIC_RELAXED);
	*value = v;
	return KV_OK;
}

static void store_stats(const struct kv_store *st, struct kv_stats *out)
{
	*out = region(st)->stats;
	/* The items still in the v1 region are the cache's too. */
	if (st->src) {
		out->curr_items += ((const struct kv_region *)st->src)->stats.curr_items;
		out->bytes += ((const struct kv_region *)st->src)->stats.bytes;
	}
}

static int store_touch(struct kv_store *st, const char *key, size_t nkey,
		       uint64_t exptime, uint64_t now)
{
	uint64_t off;
	KV_ITEM *it;
	int ret;

	ret = usable(st, nkey);
	if (ret)
		return ret;
	ret = find_live(st, key, nkey, key_hash(key, nkey), now, &it, &off);
	if (ret)
		return ret;
	it->exptime = exptime;
	__atomic_store_n(&st->last_cas, it->cas, __ATOMIC_RELAXED);
	alloc_lock(st);
	ret = touch(st, it, off, now);
	alloc_unlock(st);
	return ret;
}

static int store_lock_key(struct kv_store *st, const char *key, size_t nkey)
{
	unsigned int s;

	if (!st->locks || st->src)
		return -EAGAIN;
	s = stripe_of(st, key_hash(key, nkey));
	pthread_mutex_lock(&st->locks->stripe[s].m);
	return (int)s;
}

static int store_flush(struct kv_store *st)
{
	struct kv_region *r = region(st);

	if (st->broken)
		return -EBADMSG;
	/* The v1 items not yet taken over go too: the conversion is over. */
	st->src = NULL;
	for (uint32_t c = 0; c < r->n_classes; c++) {
		/* Bounded: each step frees an item, or finds damage. */
		while (r->classes[c].lru_tail) {
			uint64_t off = r->classes[c].lru_tail;
			KV_ITEM *it = chunk(st, off, KV_CHUNK_ITEM);
			int ret;

			if (!it)
				return -EBADMSG;
			ret = unlink_item(st, it, off);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static void store_reset_stats(struct kv_store *st)
{
	struct kv_stats *s = &region(st)->stats;
	struct kv_stats keep = {
		.curr_items = s->curr_items,
		.bytes = s->bytes,
		.limit_maxbytes = s->limit_maxbytes,
	};

	*s = keep;
}

const struct kv_store_ops KV_OPS = {
	.format = store_format,
	.attach = store_attach,
	.check = store_check,
	.get = store_get,
	.get_shared = store_get_shared,
	.peek = store_peek,
	.put = store_put,
	.remove = store_remove,
	.arith = store_arith,
	.stats = store_stats,
	.touch = store_touch,
	.flush = store_flush,
	.reset_stats = store_reset_stats,
	.lock_key = store_lock_key,
};

#if KVCACHE_VERSION >= 2
/* ---- v1 -> v2, lazily ---- */

size_t kv_region_v2_size_for_v1(const void *old_base, size_t old_size,
				size_t want, struct kv_err *err)
{
	const struct kv_region *old = old_base;
	struct kv_geometry g;
	uint64_t pages = 0;
	size_t size;

	err->msg[0] = '\0';
	if (region_validate(old_base, old_size, 1, sizeof(struct kv_item_v1),
			    err))
		return 0;
	/*
	 * A v2 header is 8 bytes longer, which takes an item at most one
	 * class up (classes grow by more than 8 bytes, and the largest holds
	 * any item): the items of v1 class c need at most the pages of class
	 * c + 1's size.  O(classes), without looking at a single item.
	 */
	for (uint32_t c = 0; c < old->n_classes; c++) {
		uint32_t up = c + 1 < old->n_classes ? c + 1 : c;
		uint64_t per_page = chunks_per_page(&old->classes[up]);

		pages += (old->classes[c].items + per_page - 1) / per_page;
	}
	size = want > old->region_size ? want : old->region_size;
	while (geometry(size, &g) || g.n_pages < pages)
		size += KV_PAGE_SIZE;
	return size;
}

/* The v1 item at @off of the source region, validated; NULL if damaged. */
static struct kv_item_v1 *src_item(struct kv_store *st, uint64_t off)
{
	return (struct kv_item_v1 *)chunk_at(st->src, off, KV_CHUNK_ITEM,
					     sizeof(struct kv_item_v1),
					     &st->src_err);
}

/* Damage in the v1 region: the items not yet taken over are dropped. */
static int src_fail(struct kv_store *st)
{
	st->src_dropped += ((struct kv_region *)st->src)->stats.curr_items;
	st->src = NULL;
	return -EBADMSG;
}

static uint64_t *src_bucket(const struct kv_store *st, uint32_t hash)
{
	struct kv_region *r = st->src;

	return (uint64_t *)((uint8_t *)st->src + r->buckets_off) +
	       (hash & (r->n_buckets - 1));
}

/*
 * Take the v1 item at @off out of the v1 region, as unlink_item() does
 * for a native item, leaving the region valid for the next version that
 * adopts it (an update during the conversion).
 */
static int src_unlink(struct kv_store *st, struct kv_item_v1 *it, uint64_t off)
{
	struct kv_region *r = st->src;
	struct kv_class *k = &r->classes[it->slab_class];
	uint64_t *slot = src_bucket(st, it->hash), steps = 0;
	struct kv_item_v1 *prev = NULL, *next = NULL;
	uint64_t size;

	while (*slot != off) {
		struct kv_item_v1 *p;

		if (!*slot || ++steps > r->stats.curr_items) {
			kv_errf(&st->src_err, "v1 item at %#" PRIx64 " is not "
				"in its hash chain", off);
			return src_fail(st);
		}
		p = src_item(st, *slot);
		if (!p)
			return src_fail(st);
		slot = &p->h_next;
	}
	if ((it->lru_prev && !(prev = src_item(st, it->lru_prev))) ||
	    (it->lru_next && !(next = src_item(st, it->lru_next))))
		return src_fail(st);
	if ((prev ? prev->lru_next : k->lru_head) != off ||
	    (next ? next->lru_prev : k->lru_tail) != off) {
		kv_errf(&st->src_err, "LRU neighbours of v1 item %#" PRIx64
			" do not point back at it", off);
		return src_fail(st);
	}
	/*
	 * The header's counts agree with each other (region_validate()), not
	 * necessarily with the lists: a list holding more items than its
	 * class counts would wrap the counts, or leave items on a list its
	 * class says is empty, and the next version, after an update, would
	 * refuse the region - and with it every update.
	 */
	if (!k->items || (k->items == 1) != (!prev && !next)) {
		kv_errf(&st->src_err, "v1 class %u counts %" PRIu64 " items, "
			"its LRU list holds another number", it->slab_class,
			k->items);
		return src_fail(st);
	}
	*(prev ? &prev->lru_next : &k->lru_head) = it->lru_next;
	*(next ? &next->lru_prev : &k->lru_tail) = it->lru_prev;
	*slot = it->h_next;
	k->items--;
	r->stats.curr_items--;
	size = sizeof(*it) + it->nkey + (uint64_t)it->nbytes;
	r->stats.bytes -= size < r->stats.bytes ? size : r->stats.bytes;
	it->state = KV_CHUNK_FREE;
	it->lru_prev = it->lru_next = 0;
	it->h_next = k->free_head;
	k->free_head = off;
	k->free_count++;
	return 0;
}

/*
 * Take one v1 item over: into this store unless it has expired or its key
 * is here already (an earlier copy won), then out of the v1 region.  The
 * key and value stay where they are until then: unlinking writes only the
 * header.
 */
static int src_move(struct kv_store *st, struct kv_item_v1 *it, uint64_t off,
		    uint64_t now)
{
	const char *key = (const char *)(it + 1);
	uint32_t hash = key_hash(key, it->nkey);
	uint64_t to, dup_off;
	KV_ITEM *dup;
	int ret;

	if (it->exptime && it->exptime <= now) {
		region(st)->stats.reclaimed++;
	} else if (find(st, key, it->nkey, hash, &dup, &dup_off) == KV_OK) {
		st->src_twins++;
	} else {
		ret = alloc(st, hash, it->nkey + (uint64_t)it->nbytes, now,
			    &to);
		if (!ret)
			ret = link_item(st, write_item(st, to, key, it->nkey,
						       hash, it->flags,
						       it->exptime,
						       key + it->nkey,
						       it->nbytes, it->cas, 0),
					to);
		if (ret == -EBADMSG)
			return ret;
		/* -ENOMEM: nothing of its class to evict; it is dropped. */
		if (ret)
			st->src_dropped++;
	}
	return src_unlink(st, it, off);
}

/*
 * Whether the v1 region may still hold @key: its hash chain walked,
 * bounded, writing nothing, beside other readers.  Damage counts as may:
 * the caller then takes the store to itself, and pull() records it.
 */
static bool src_holds(const struct kv_store *st, const char *key, size_t nkey,
		      uint32_t hash)
{
	const struct kv_region *r = st->src;
	uint64_t off = *src_bucket(st, hash), steps = 0;
	struct kv_err err;

	while (off) {
		const struct kv_item_v1 *it;

		it = chunk_at(r, off, KV_CHUNK_ITEM, sizeof(*it), &err);
		if (!it || ++steps > r->stats.curr_items)
			return true;
		if (it->hash == hash && it->nkey == nkey &&
		    !memcmp(it + 1, key, nkey))
			return true;
		off = it->h_next;
	}
	return false;
}

/*
 * Every copy of @key in the v1 region: the first comes over, the rest go,
 * even when the first does not come (expired, or no room): an older copy
 * of a key is never served in place of its last stored one.
 */
static void pull(struct kv_store *st, const char *key, size_t nkey,
		 uint32_t hash, uint64_t now)
{
	for (bool first = true; st->src; first = false) {
		uint64_t off = *src_bucket(st, hash), steps = 0;
		struct kv_item_v1 *it = NULL;

		while (off) {
			it = src_item(st, off);
			if (!it || ++steps > ((struct kv_region *)st->src)->stats.curr_items) {
				if (it)
					kv_errf(&st->src_err, "v1 hash chain "
						"longer than its items at %#"
						PRIx64, off);
				src_fail(st);
				return;
			}
			if (it->hash == hash && it->nkey == nkey &&
			    !memcmp(it + 1, key, nkey))
				break;
			off = it->h_next;
		}
		if (!off)
			return;
		if (!first)
			st->src_twins++;
		if (first ? src_move(st, it, off, now) : src_unlink(st, it, off))
			return;
	}
}

int kv_store_adopt_v1(struct kv_store *st, void *old_base, size_t old_size,
		      bool fresh)
{
	const struct kv_region *old = old_base;
	struct kv_region *r = region(st);
	uint64_t limit = r->stats.limit_maxbytes;
	int ret;

	st->src = NULL;
	st->src_twins = st->src_dropped = 0;
	ret = region_validate(old_base, old_size, 1, sizeof(struct kv_item_v1),
			      &st->src_err);
	if (ret)
		return ret;
	if (fresh) {
		/* The counters and the cas sequence carry over; taking the
		 * items over counts these again. */
		r->stats = old->stats;
		r->stats.limit_maxbytes = limit;
		r->stats.curr_items = 0;
		r->stats.bytes = 0;
		r->next_cas = old->next_cas;
	}
	if (old->stats.curr_items)
		st->src = old_base;
	return 0;
}

int kv_store_migrate_step(struct kv_store *st, unsigned int max, uint64_t now)
{
	for (unsigned int n = 0; st->src && n < max; n++) {
		struct kv_region *old = st->src;
		struct kv_item_v1 *it;
		uint64_t tail;
		uint32_t c = 0;

		while (c < old->n_classes && !old->classes[c].lru_tail)
			c++;
		if (c == old->n_classes) {
			if (old->stats.curr_items) {
				kv_errf(&st->src_err, "v1 region counts %" PRIu64
					" items its classes do not hold",
					old->stats.curr_items);
				return src_fail(st);
			}
			st->src = NULL;
			break;
		}
		it = src_item(st, old->classes[c].lru_tail);
		if (!it)
			return src_fail(st);
		/*
		 * Taken by its key, as a client's request would take it: of a
		 * key the v1 region holds twice, the same copy wins either
		 * way (the first in its hash chain, the last stored).  Each
		 * step removes the tail, or the region is damaged.
		 */
		tail = old->classes[c].lru_tail;
		if (it->hash != key_hash((const char *)(it + 1), it->nkey)) {
			/* No request can find it: dropped, the rest go on. */
			kv_errf(&st->src_err, "v1 item at %#" PRIx64 " is not "
				"stored under its key's hash", tail);
			st->src_dropped++;
			if (src_unlink(st, it, tail))
				return -EBADMSG;
			continue;
		}
		pull(st, (const char *)(it + 1), it->nkey, it->hash, now);
		if (st->src && old->classes[c].lru_tail == tail) {
			kv_errf(&st->src_err, "v1 item at %#" PRIx64 " is not "
				"found by its key", tail);
			return src_fail(st);
		}
	}
	if (!st->src)
		return st->src_err.msg[0] ? -EBADMSG : 0;
	return 1;
}
#endif
