// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for kvcache's item region as a new version finds it
 * (examples/kvcache/store.c): a region the previous process wrote, which
 * this one maps and must not trust.  Each input is a damage done to a real
 * region - one written by the store itself, v1 or v2, with items in two
 * size classes, an expired one, a deleted one, a number - and the region is
 * then taken over as kvcache takes it over.
 *
 * A v2 region (and a v1 one with the input's bit 3) is attached by its own
 * version:
 *
 *  - kv_store_attach() (and with the input's bit 2, kv_store_check()),
 *    then gets, a set, an incr, a delete and the stats: every answer an
 *    outcome or an error, never a read outside the region (ASan watches
 *    the region's bounds: it is malloc'd to its exact size);
 *  - once kv_store_check() has passed, no operation may find damage
 *    (-EBADMSG): the check is what a dry run trusts.
 *
 * A v1 region is then converted as kvcache-v2 converts it, lazily, after
 * the take-over: kv_region_v2_size_for_v1() (refused exactly when
 * kv_store_adopt_v1() refuses), a fresh v2 store adopting it, then the
 * input's requests - gets, sets, adds, deletes, incrs, decrs, appends,
 * touches, a flush_all, an update (the v2 region attached again and the
 * v1 one adopted again, as the next version does) - interleaved with
 * kv_store_migrate_step()s, and steps until the conversion ends (within
 * one step per v1 chunk: each takes an item or ends it).  Damage found in
 * the v1 region on the way is dropped and logged (store.h: src_dropped,
 * src_twins, src_err, which kvcache prints); what is checked, beside the
 * sanitizers and LeakSanitizer:
 *
 *  - no request and no step ever finds damage in the v2 store (-EBADMSG,
 *    broken), and kv_store_check() passes on it once the conversion ends;
 *  - a model of the cache: once a request has named a key, v1 never
 *    speaks for it again (what a client set, deleted or read is what it
 *    reads back: nothing comes back from the v1 region behind it);
 *  - if the v1 region passes kv_store_check() as v1 when adopted, the
 *    conversion finds no damage at all, every v1 item comes over with its
 *    key, value, flags, exptime and cas (of a key held twice, the copy
 *    first in its hash chain), the v2 store ends with exactly the model's
 *    items, and the v1 region ends a valid, empty v1 region;
 *  - if it does not, every item the input left intact (its bytes not
 *    patched, its key not yet named by a request) reads back with its
 *    value, or the conversion reports damage (src_err, src_dropped,
 *    src_twins) by the time it ends.
 *
 * The only excuse for a lost item is room: a v2 eviction, or a v1 item
 * dropped for want of a chunk (src_dropped with no src_err); the v2 store
 * is sized so that neither happens with the template's items.
 *
 * Input: byte 0: bit 0 picks the v1 region, else v2; bit 1 attaches with
 * a size one page short of the region's (it must be refused); bit 2 runs
 * kv_store_check() first; bit 3 serves a v1 region with v1 before the
 * conversion.  Byte 1: the number of patches that follow, each
 *
 *     offset (3 bytes, little endian, modulo the region's size), len (1
 *     byte), len bytes
 *
 * written over the region (fewer if the input ends first).  The region's
 * header, page table and hash table are in its first bytes, the items in
 * the pages after: the seeds patch each.  Then, for v1, requests of two
 * bytes each, OP and ARG: OP's low 3 bits the request, bit 3 its variant,
 * its high 4 bits the key (k0 to k11, n, new, x, y):
 *
 *     0 migrate step of ARG % 16 + 1 items    4 incr ARG (decr)
 *     1 get                                   5 append ARG % 32 bytes (prepend)
 *     2 set ARG bytes, flags ARG (add)        6 touch: ARG < 128 expired,
 *     3 delete                                  255 never, else later
 *     7 update (flush_all if ARG < 16)
 *
 * Seeds: tests/fuzz/corpus-kvregion/ (tests/fuzz/gen_corpora.py kvregion).
 */
#define _GNU_SOURCE
#define FUZZ_NAME "fuzz_kvregion"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION (3 * (size_t)KV_PAGE_SIZE)
/* The v2 store's configured size: room for the template's items in any
 * class and for the requests' own, so that nothing is evicted. */
#define V2_WANT (32 * (size_t)KV_PAGE_SIZE)
#define NOW 1000
#define MAX_REQUESTS 1024
#define MAX_ENTRIES 256
#define N_KEYS 16

static uint8_t *templates[2], *work, *v2base;
static size_t v2size;
static const char *const keys[N_KEYS] = {
	"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10",
	"k11", "n", "new", "x", "y",
};

/* Where the template v1 region keeps each item: what "intact" means. */
struct tmpl_item {
	uint64_t off, end;	/* header to the value's end */
	const struct kv_item_v1 *it;
};
static struct tmpl_item tmpl[N_KEYS];

/* A region as kvcache leaves one: items of two classes, a hole, a number. */
static void fill(uint8_t *base, const struct kv_store_ops *ops)
{
	static char value[5000];
	struct kv_store st = { 0 };
	char key[16];

	memset(value, 'v', sizeof(value));
	if (kv_store_format(&st, ops, base, REGION))
		die("format: %s", st.err.msg);
	for (int i = 0; i < 12; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);

		if (kv_store_put(&st, KV_SET, key, (size_t)n, (uint32_t)i,
				 i == 5 ? 1 : 0, value, i < 6 ? 10 : 3000, 0, NOW))
			die("put %s: %s", key, st.err.msg);
	}
	if (kv_store_put(&st, KV_SET, "n", 1, 0, 0, "12345", 5, 0, NOW) ||
	    kv_store_delete(&st, "k3", 2, NOW))
		die("setup: %s", st.err.msg);
}

static void teardown(void)
{
	free(templates[0]);
	free(templates[1]);
	free(work);
	free(v2base);
}

/* The items of a v1 region that passed kv_store_check(), chain by chain. */
static void walk_chains(const uint8_t *base,
			void (*visit)(const struct kv_item_v1 *it, uint64_t off))
{
	const struct kv_region *r = (const void *)base;
	const uint64_t *buckets = (const void *)(base + r->buckets_off);

	for (uint64_t b = 0; b < r->n_buckets; b++)
		for (uint64_t off = buckets[b]; off;
		     off = ((const struct kv_item_v1 *)(base + off))->h_next)
			visit((const void *)(base + off), off);
}

static void record_template(const struct kv_item_v1 *it, uint64_t off)
{
	for (int k = 0; k < N_KEYS; k++)
		if (strlen(keys[k]) == it->nkey &&
		    !memcmp(it + 1, keys[k], it->nkey)) {
			tmpl[k].off = off;
			tmpl[k].end = off + sizeof(*it) + it->nkey + it->nbytes;
			tmpl[k].it = it;
		}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kv_store st = { 0 };

	(void)argc;
	(void)argv;
	for (int v = 0; v < 2; v++) {
		/* Zeroed, as a fresh memfd is: what format() leaves alone. */
		templates[v] = aligned_alloc(8, REGION);
		if (!templates[v])
			die("aligned_alloc");
		memset(templates[v], 0, REGION);
		fill(templates[v], v ? &kv_store_v1_ops : &kv_store_v2_ops);
	}
	if (kv_store_attach(&st, &kv_store_v1_ops, templates[1], REGION) ||
	    kv_store_check(&st))
		die("the template v1 region: %s", st.err.msg);
	walk_chains(templates[1], record_template);
	work = aligned_alloc(8, REGION);
	v2size = kv_region_v2_size_for_v1(templates[1], REGION, V2_WANT,
					  &st.err);
	v2base = aligned_alloc(4096, v2size);
	if (!work || !v2size || !v2base)
		die("aligned_alloc");
	memset(v2base, 0, v2size);
	atexit(teardown);
	return 0;
}

/* An operation's result after a passing check: anything but damage. */
static void after_check(bool checked, int err, const struct kv_store *st,
			const char *op)
{
	if (checked && err == -EBADMSG)
		die("%s found damage kv_store_check() passed: %s", op, st->err.msg);
}

static void operate(struct kv_store *st, bool checked)
{
	struct kv_item_ref ref;
	struct kv_stats stats;
	uint64_t value;
	char key[16];

	for (int i = 0; i < 12; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);

		after_check(checked, kv_store_get(st, key, (size_t)n, NOW, &ref), st, "get");
	}
	after_check(checked, kv_store_put(st, KV_SET, "new", 3, 7, 0, "value", 5, 0, NOW),
		    st, "set");
	after_check(checked, kv_store_arith(st, "n", 1, true, 1, NOW, &value), st, "incr");
	after_check(checked, kv_store_delete(st, "k1", 2, NOW), st, "delete");
	kv_store_stats(st, &stats);
}

/* ---- The lazy conversion, against a model of the cache ---- */

enum { UNKNOWN, ABSENT, PRESENT };

/*
 * What a key must read back as.  @soft: known from the template, the
 * input having left its bytes alone; damage found elsewhere may still
 * drop it (then the conversion must say so).  Otherwise exact: set by a
 * request, or by a v1 region that passed its check.
 */
struct entry {
	char key[KV_KEY_MAX];
	uint16_t nkey;
	uint8_t state;
	bool soft;
	uint8_t *value;
	uint32_t nbytes, flags;
	uint64_t exptime, cas;
};

static struct conv {
	struct kv_store st;
	struct entry e[MAX_ENTRIES];
	unsigned int n;
	bool clean;		/* the v1 region passed kv_store_check() */
	bool overflow;		/* more keys than the model holds */
	bool damage;		/* src_err was set at some point */
	bool flushed;
	uint64_t evictions;	/* the v2 counter, as adopted */
	uint64_t twins, dropped;	/* before the last update */
	char owed[200];		/* a soft entry's mismatch: damage is owed */
} cv;

static uint64_t twins(void)
{
	return cv.twins + cv.st.src_twins;
}

static uint64_t dropped(void)
{
	return cv.dropped + cv.st.src_dropped;
}

/* Items may be lost for want of room, and only so. */
static bool lossy(void)
{
	struct kv_stats s;

	kv_store_stats(&cv.st, &s);
	return s.evictions != cv.evictions || (dropped() && !cv.damage);
}

static void note_damage(void)
{
	if (!cv.st.src_err.msg[0])
		return;
	if (cv.clean)
		die("the conversion found damage in a v1 region kv_store_check() "
		    "passed: %s", cv.st.src_err.msg);
	cv.damage = true;
}

static struct entry *entry_for(const char *key, size_t nkey)
{
	struct entry *e;

	for (unsigned int i = 0; i < cv.n; i++)
		if (cv.e[i].nkey == nkey && !memcmp(cv.e[i].key, key, nkey))
			return &cv.e[i];
	if (cv.n == MAX_ENTRIES) {
		cv.overflow = true;
		return NULL;
	}
	e = &cv.e[cv.n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, nkey);
	e->nkey = (uint16_t)nkey;
	e->state = UNKNOWN;
	return e;
}

static void set_value(struct entry *e, const void *value, uint32_t nbytes,
		      uint32_t flags, uint64_t exptime, uint64_t cas)
{
	uint8_t *copy = malloc(nbytes ? nbytes : 1);

	if (!copy)
		die("malloc");
	memcpy(copy, value, nbytes);
	free(e->value);
	e->value = copy;
	e->nbytes = nbytes;
	e->flags = flags;
	e->exptime = exptime;
	e->cas = cas;
	e->soft = false;
	e->state = exptime && exptime <= NOW ? ABSENT : PRESENT;
}

static void set_absent(struct entry *e)
{
	free(e->value);
	e->value = NULL;
	e->state = ABSENT;
	e->soft = false;
}

static bool matches(const struct entry *e, const struct kv_item_ref *ref)
{
	return ref->nkey == e->nkey && !memcmp(ref->key, e->key, e->nkey) &&
	       ref->nbytes == e->nbytes &&
	       !memcmp(ref->data, e->value, e->nbytes) &&
	       ref->flags == e->flags && ref->exptime == e->exptime &&
	       ref->cas == e->cas;
}

static void no_damage(int ret, const char *op, const struct entry *e)
{
	if (ret == -EBADMSG || cv.st.broken)
		die("%s %.*s found damage in the v2 store: %s", op,
		    e ? (int)e->nkey : 0, e ? e->key : "", cv.st.err.msg);
}

/* A get's answer against the model; the model then holds what it read. */
static void judge_get(struct entry *e, int ret, const struct kv_item_ref *ref,
		      const char *when)
{
	bool ok;

	no_damage(ret, "get", e);
	if (ret != KV_OK && ret != KV_NOT_FOUND)
		die("get %.*s: %d", (int)e->nkey, e->key, ret);
	note_damage();
	if (e->state == PRESENT)
		ok = ret == KV_OK && matches(e, ref);
	else
		ok = e->state == UNKNOWN || ret == KV_NOT_FOUND;
	if (!ok && e->state == PRESENT && ret == KV_NOT_FOUND && lossy())
		ok = true;
	if (!ok && e->soft) {
		ok = true;
		if (!cv.owed[0])
			snprintf(cv.owed, sizeof(cv.owed), "%s, intact item %.*s "
				 "read back %s", when, (int)e->nkey, e->key,
				 ret == KV_OK ? "with another value" : "missing");
	}
	if (!ok)
		die("%s, get %.*s: %s, the model has it %s (%" PRIu64 " twins, %"
		    PRIu64 " dropped: %s)", when, (int)e->nkey, e->key,
		    ret == KV_OK ? (e->state == PRESENT ? "another value" : "found")
				 : "not found",
		    e->state == PRESENT ? "with its value" : "absent", twins(),
		    dropped(), cv.st.src_err.msg);
	if (ret == KV_OK)
		set_value(e, ref->data, ref->nbytes, ref->flags, ref->exptime,
			  ref->cas);
	else
		set_absent(e);
}

static void get_and_judge(struct entry *e, const char *when)
{
	struct kv_item_ref ref;
	int ret = kv_store_get(&cv.st, e->key, e->nkey, NOW, &ref);

	judge_get(e, ret, &ref, when);
}

/* The model as a v1 region that passed its check gives it: of a key held
 * twice, the copy first in its hash chain. */
static void model_item(const struct kv_item_v1 *it, uint64_t off)
{
	struct entry *e = entry_for((const char *)(it + 1), it->nkey);

	(void)off;
	if (!e || e->state != UNKNOWN)
		return;
	set_value(e, (const char *)(it + 1) + it->nkey, it->nbytes, it->flags,
		  it->exptime, it->cas);
}

/*
 * The patch at @*off of the input, clipped to the input and the region:
 * where it goes and how long it is, @*off moved to its bytes.  False when
 * the input has none left.
 */
static bool next_patch(const uint8_t *data, size_t size, size_t *off,
		       size_t *at, size_t *len)
{
	if (*off + 4 > size)
		return false;
	*at = ((size_t)data[*off] | (size_t)data[*off + 1] << 8 |
	       (size_t)data[*off + 2] << 16) % REGION;
	*len = data[*off + 3];
	*off += 4;
	if (*len > size - *off)
		*len = size - *off;
	if (*len > REGION - *at)
		*len = REGION - *at;
	return true;
}

/* Whether a patch of the input wrote over [@off, @end). */
static bool patched(const uint8_t *data, size_t size, unsigned int npatch,
		    uint64_t off, uint64_t end)
{
	size_t p = 2, at, len;

	for (unsigned int i = 0; i < npatch &&
	     next_patch(data, size, &p, &at, &len); i++, p += len)
		if (len && at < end && at + len > off)
			return true;
	return false;
}

static void request(const uint8_t op, const uint8_t arg)
{
	const char *key = keys[op >> 4];
	size_t nkey = strlen(key);
	struct entry *e = entry_for(key, nkey);
	bool variant = op & 8, learn = false, was_soft;
	struct kv_item_ref ref;
	uint8_t was;
	uint8_t buf[300];
	uint64_t value;
	int ret;

	if (!e)
		return;
	was = e->state;
	was_soft = e->soft;
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('a' + (i + arg) % 26);
	switch (op & 7) {
	case 0:
		ret = kv_store_migrate_step(&cv.st, arg % 16 + 1, NOW);
		no_damage(ret == -EBADMSG ? 0 : ret, "step", NULL);
		if (ret == -EBADMSG && !cv.st.src_err.msg[0])
			die("a step found damage and does not say which");
		if (ret != 0 && ret != 1 && ret != -EBADMSG)
			die("a step returned %d", ret);
		note_damage();
		return;
	case 1:
		ret = kv_store_get(&cv.st, key, nkey, NOW, &ref);
		judge_get(e, ret, &ref, "a request");
		return;
	case 2:
		ret = kv_store_put(&cv.st, variant ? KV_ADD : KV_SET, key, nkey,
				   arg, 0, buf, arg, 0, NOW);
		no_damage(ret, variant ? "add" : "set", e);
		if (ret == KV_OK)
			set_value(e, buf, arg, arg, 0, cv.st.last_cas);
		else if (ret == KV_NOT_STORED && variant && !e->soft &&
			 e->state == ABSENT)
			die("add %s: not stored, the key is absent", key);
		else if (ret == KV_NOT_STORED)
			learn = true;
		else if (ret != -ENOMEM)
			die("set %s: %d", key, ret);
		break;
	case 3:
		ret = kv_store_delete(&cv.st, key, nkey, NOW);
		no_damage(ret, "delete", e);
		if (ret != KV_OK && ret != KV_NOT_FOUND)
			die("delete %s: %d", key, ret);
		if (!e->soft && ((ret == KV_OK && e->state == ABSENT) ||
				 (ret == KV_NOT_FOUND && e->state == PRESENT &&
				  !lossy())))
			die("delete %s: %d against the model", key, ret);
		set_absent(e);
		break;
	case 4:
		ret = kv_store_arith(&cv.st, key, nkey, !variant, arg, NOW, &value);
		no_damage(ret, variant ? "decr" : "incr", e);
		if (ret == KV_OK && e->state == PRESENT && !e->soft) {
			char digits[24];
			int len = snprintf(digits, sizeof(digits), "%" PRIu64, value);

			set_value(e, digits, (uint32_t)len, e->flags, e->exptime,
				  cv.st.last_cas);
		} else {
			learn = true;
		}
		break;
	case 5:
		ret = kv_store_put(&cv.st, variant ? KV_PREPEND : KV_APPEND, key,
				   nkey, 0, 0, buf, arg % 32, 0, NOW);
		no_damage(ret, "append", e);
		if (ret == KV_OK && e->state == PRESENT && !e->soft) {
			uint32_t n = arg % 32;
			uint8_t *v = malloc(e->nbytes + n + 1);

			if (!v)
				die("malloc");
			memcpy(v + (variant ? n : 0), e->value, e->nbytes);
			memcpy(v + (variant ? 0 : e->nbytes), buf, n);
			set_value(e, v, e->nbytes + n, e->flags, e->exptime,
				  cv.st.last_cas);
			free(v);
		} else {
			learn = true;
		}
		break;
	case 6: {
		uint64_t exptime = arg < 128 ? NOW - 1 - arg :
				   arg == 255 ? 0 : NOW + arg;

		ret = kv_store_touch(&cv.st, key, nkey, exptime, NOW);
		no_damage(ret, "touch", e);
		if (ret == KV_OK && e->state == PRESENT && !e->soft) {
			e->exptime = exptime;
			if (exptime && exptime <= NOW)
				set_absent(e);
		} else {
			learn = true;
		}
		break;
	}
	case 7:
		if (arg < 16) {
			if (kv_store_flush(&cv.st))
				die("flush_all: %s", cv.st.err.msg);
			for (unsigned int i = 0; i < cv.n; i++)
				set_absent(&cv.e[i]);
			cv.flushed = true;
			return;
		} else {
			/* The next version: its own region, the v1 one again. */
			bool migrating = kv_store_migrating(&cv.st);

			note_damage();
			cv.twins += cv.st.src_twins;
			cv.dropped += cv.st.src_dropped;
			if (kv_store_attach(&cv.st, &kv_store_v2_ops, v2base, v2size))
				die("the v2 region, attached again: %s", cv.st.err.msg);
			/* Whatever damage it has met, a conversion under
			 * way leaves the v1 region's header valid: the next
			 * version validates it before it takes over, and
			 * refuses the update otherwise. */
			if (migrating &&
			    kv_store_adopt_v1(&cv.st, work, REGION, false))
				die("the v1 region, adopted again: %s",
				    cv.st.src_err.msg);
			return;
		}
	}
	/* Deleted, flushed or expired in v2: nothing brings it back; and what
	 * the model has, an incr, an append or a touch finds. */
	if (ret == KV_OK && was == ABSENT && !was_soft && (op & 7) >= 4)
		die("request %u on %s succeeded, the model has it absent",
		    op & 7, key);
	if ((ret == KV_NOT_FOUND || ret == KV_NOT_STORED) && was == PRESENT &&
	    !was_soft && (op & 7) >= 4 && !lossy())
		die("request %u on %s: %s, the model has it", op & 7, key,
		    ret == KV_NOT_FOUND ? "not found" : "not stored");
	note_damage();
	if (learn) {
		e->state = UNKNOWN;
		e->soft = false;
		get_and_judge(e, "a request's outcome");
	}
}

static void convert_lazily(const uint8_t *data, size_t size, unsigned int npatch,
			   size_t ops, bool served, size_t mapped)
{
	struct kv_store v1 = { 0 };
	struct kv_err err = { "" };
	uint64_t steps = 0, bound;
	struct kv_stats s;
	unsigned int present = 0;
	size_t need;
	int ret;

	memset(&cv, 0, sizeof(cv));
	need = kv_region_v2_size_for_v1(work, mapped, V2_WANT, &err);
	cv.clean = !kv_store_attach(&v1, &kv_store_v1_ops, work, mapped) &&
		   !kv_store_check(&v1);
	if (!need) {
		if (cv.clean)
			die("kv_region_v2_size_for_v1() refused a region that passes "
			    "kv_store_check(): %s", err.msg);
		if (mapped == REGION &&
		    !kv_store_attach(&v1, &kv_store_v1_ops, work, mapped))
			die("kv_region_v2_size_for_v1() refused a region v1 "
			    "attaches: %s", err.msg);
		return;	/* the update is refused: v1 stays */
	}
	if (mapped != REGION)
		die("kv_region_v2_size_for_v1() took a region mapped short");
	if (need > v2size)
		die("a v2 region of %zu bytes for a v1 region of %zu", need, REGION);
	if (kv_store_format(&cv.st, &kv_store_v2_ops, v2base, v2size))
		die("format v2: %s", cv.st.err.msg);
	if (kv_store_adopt_v1(&cv.st, work, REGION, true))
		die("kv_store_adopt_v1() refused what kv_region_v2_size_for_v1() "
		    "took: %s", cv.st.src_err.msg);
	kv_store_stats(&cv.st, &s);
	cv.evictions = s.evictions;
	bound = ((struct kv_region *)work)->pages_used *
		(KV_PAGE_SIZE / 96) + 2;

	if (cv.clean) {
		walk_chains(work, model_item);
	} else if (!served) {
		for (int k = 0; k < 12; k++) {
			struct entry *e = entry_for(keys[k], strlen(keys[k]));
			const struct kv_item_v1 *it = tmpl[k].it;

			if (!it || patched(data, size, npatch, tmpl[k].off, tmpl[k].end))
				continue;
			set_value(e, (const char *)(it + 1) + it->nkey, it->nbytes,
				  it->flags, it->exptime, it->cas);
			e->soft = true;
		}
	}

	for (size_t i = 0; i + 1 < ops && i / 2 < MAX_REQUESTS; i += 2)
		request(data[size - ops + i], data[size - ops + i + 1]);

	while ((ret = kv_store_migrate_step(&cv.st, 1, NOW)) == 1)
		if (++steps > bound)
			die("the conversion does not end: %" PRIu64 " steps for "
			    "%" PRIu64 " chunks", steps, bound - 2);
	if (ret == -EBADMSG && !cv.st.src_err.msg[0])
		die("a step found damage and does not say which");
	note_damage();
	if (kv_store_migrating(&cv.st))
		die("the conversion ended with the v1 region still adopted");
	/* Ended with no damage found, the v1 region is valid still (and
	 * empty, when it was checked); what it says it lost are items the
	 * region could hold: counts that disagree with the lists never wrap. */
	if (!cv.damage && kv_store_attach(&v1, &kv_store_v1_ops, work, REGION))
		die("the v1 region after a conversion that found no damage: %s",
		    v1.err.msg);
	if (dropped() + twins() > bound - 2)
		die("the conversion reports %" PRIu64 " items dropped and %"
		    PRIu64 " twins, of a v1 region of %" PRIu64 " chunks",
		    dropped(), twins(), bound - 2);

	for (unsigned int i = 0; i < cv.n; i++) {
		get_and_judge(&cv.e[i], "the conversion done");
		present += cv.e[i].state == PRESENT;
	}
	if (cv.owed[0] && !cv.damage && !twins() && !dropped())
		die("%s, and the conversion reported no damage", cv.owed);
	if (kv_store_check(&cv.st))
		die("the v2 store after the conversion: %s", cv.st.err.msg);
	kv_store_stats(&cv.st, &s);
	if (cv.clean && !cv.overflow && !lossy() && s.curr_items != present)
		die("the v2 store holds %" PRIu64 " items, the model %u",
		    s.curr_items, present);
	if (cv.clean && !cv.flushed &&
	    (kv_store_attach(&v1, &kv_store_v1_ops, work, REGION) ||
	     kv_store_check(&v1) ||
	     ((struct kv_region *)work)->stats.curr_items))
		die("the v1 region after the conversion: %s (%" PRIu64 " items)",
		    v1.err.msg, ((struct kv_region *)work)->stats.curr_items);
	for (unsigned int i = 0; i < cv.n; i++)
		free(cv.e[i].value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_store st = { 0 };
	bool v1, short_map, check, serve, checked = false;
	unsigned int npatch = 0, i;
	size_t off = 2, at, len;
	int err;

	if (!size)
		return 0;
	v1 = data[0] & 1;
	short_map = data[0] & 2;
	check = data[0] & 4;
	serve = !v1 || (data[0] & 8);
	if (size > 1)
		npatch = data[1];
	memcpy(work, templates[v1], REGION);
	for (i = 0; i < npatch && next_patch(data, size, &off, &at, &len);
	     i++, off += len)
		memcpy(work + at, data + off, len);

	if (serve) {
		err = kv_store_attach(&st, v1 ? &kv_store_v1_ops : &kv_store_v2_ops,
				      work, short_map ? REGION - KV_PAGE_SIZE : REGION);
		if (!err && short_map)
			die("attached a region mapped a page short of its size");
		if (!err && check)
			checked = !kv_store_check(&st);
		if (!err)
			operate(&st, checked);
	}
	if (v1)
		convert_lazily(data, size, npatch, off < size ? size - off : 0,
			       serve, short_map ? REGION - KV_PAGE_SIZE : REGION);
	return 0;
}
