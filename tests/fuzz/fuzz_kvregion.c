// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for kvcache's item region as a new version finds it
 * (examples/kvcache/store.c): a region the previous process wrote, which
 * this one maps and must not trust.  Each input is a damage done to a real
 * region - one written by the store itself, v1 or v2, with items in two
 * size classes, an expired one, a deleted one, a number - and the region is
 * then taken over as kvcache takes it over:
 *
 *  - kv_store_attach() (and with the input's bit 2, kv_store_check()),
 *    then gets, a set, an incr, a delete and the stats: every answer an
 *    outcome or an error, never a read outside the region (ASan watches
 *    the region's bounds: it is malloc'd to its exact size);
 *  - once kv_store_check() has passed, no operation may find damage
 *    (-EBADMSG): the check is what a dry run trusts;
 *  - a v1 region is also converted as kvcache-v2 converts it
 *    (kv_region_convert_v1_to_v2(): validated, then rebuilt), and a region
 *    it builds must attach and pass kv_store_check() as v2.
 *
 * Input: byte 0: bit 0 picks the v1 region, else v2; bit 1 attaches with
 * a size one page short of the region's (it must be refused); bit 2 runs
 * kv_store_check() first.  Then patches, each
 *
 *     offset (3 bytes, little endian, modulo the region's size), len (1
 *     byte), len bytes
 *
 * written over the region (fewer if the input ends first).  The region's
 * header, page table and hash table are in its first bytes, the items in
 * the pages after: the seeds patch each.
 *
 * Seeds: tests/fuzz/corpus-kvregion/ (tests/fuzz/gen_corpora.py kvregion).
 */
#define _GNU_SOURCE
#define FUZZ_NAME "fuzz_kvregion"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION (3 * (size_t)KV_PAGE_SIZE)
#define NOW 1000

static uint8_t *templates[2], *work, *converted;

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
	free(converted);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
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
	work = aligned_alloc(8, REGION);
	converted = aligned_alloc(8, REGION);
	if (!work || !converted)
		die("aligned_alloc");
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

static void convert(void)
{
	struct kv_store st = { 0 };
	struct kv_err err = { 0 };
	size_t needed = 0;

	if (kv_region_convert_v1_to_v2(work, REGION, NULL, 0, &needed, &err))
		return;
	if (needed > REGION)
		return;
	memset(converted, 0, REGION);
	if (kv_region_convert_v1_to_v2(work, REGION, converted, REGION, &needed, &err))
		return;		/* a key twice: found only building */
	if (kv_store_attach(&st, &kv_store_v2_ops, converted, REGION) ||
	    kv_store_check(&st))
		die("the converted region does not pass as v2: %s", st.err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_store st = { 0 };
	bool v1, short_map, check, checked = false;
	size_t off = 1;
	int err;

	if (!size)
		return 0;
	v1 = data[0] & 1;
	short_map = data[0] & 2;
	check = data[0] & 4;
	memcpy(work, templates[v1], REGION);
	while (off + 4 <= size) {
		size_t at = ((size_t)data[off] | (size_t)data[off + 1] << 8 |
			     (size_t)data[off + 2] << 16) % REGION;
		size_t len = data[off + 3];

		off += 4;
		if (len > size - off)
			len = size - off;
		if (len > REGION - at)
			len = REGION - at;
		memcpy(work + at, data + off, len);
		off += len;
	}

	err = kv_store_attach(&st, v1 ? &kv_store_v1_ops : &kv_store_v2_ops, work,
			      short_map ? REGION - KV_PAGE_SIZE : REGION);
	if (!err && short_map)
		die("attached a region mapped a page short of its size");
	if (!err && check)
		checked = !kv_store_check(&st);
	if (!err)
		operate(&st, checked);
	if (v1)
		convert();
	return 0;
}
