// SPDX-License-Identifier: MIT
/*
 * The restore's lookups of an image's references (baton_image_find_fd()
 * and friends in lib/image/read.c, lib/host/image-index.c): indices are
 * any unique u32, in any order, and devices in any order of address; the
 * parse keeps the order it found them in, and a reference to nothing is an
 * error, never a read out of bounds.  Each image here is written and
 * parsed back, as a restore gets it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>

#include "host/host-internal.h"

/* fds and regions out of index order, devices out of address order. */
static struct baton_image_fd fds[] = {
	{ .index = 70, .token = 1, .session = "0000:00:10.0" },
	{ .index = 3, .token = 2, .session = "0000:00:10.0" },	/* region 9's memfd */
	{ .index = 0xffffffff, .token = 1, .session = "0000:00:04.0" },
	{ .index = 12, .token = 3, .session = "0000:00:10.0" },
	{ .index = 5, .token = 1, .session = "" },		/* region 1's memfd */
};
static struct baton_image_region regions[] = {
	{ .index = 9, .fd = 3, .size = 4096 }, { .index = 1, .fd = 5, .size = 4096 },
};
static struct baton_image_device devices[] = {
	{ .index = 0, .addr = { .dev = 0x10 } },
	{ .index = 1, .addr = { .bus = 0, .dev = 4 } },
	{ .index = 2, .addr = { .domain = 1, .dev = 1, .fn = 2 } },
};
static const struct baton_image img = {
	.program = "test", .fds = fds, .n_fds = 5, .regions = regions,
	.n_regions = 2, .devices = devices, .n_devices = 3,
};

/* @hand, written and parsed back; *@buf holds what it points into. */
static struct baton_image *parsed(const struct baton_image *hand, void **buf)
{
	struct baton_image *out;
	size_t len;

	assert_int_equal(baton_image_write(hand, buf, &len), 0);
	assert_int_equal(baton_image_parse(*buf, len, &out, NULL), 0);
	return out;
}

static void release(struct baton_image *parsed_img, void *buf)
{
	baton_image_free(parsed_img);
	free(buf);
}

static void test_lookups(void **state)
{
	struct image_index ix;
	void *buf;
	struct baton_image *p = parsed(&img, &buf);

	(void)state;
	assert_int_equal(baton_image_find_fd(p, 70), 0);
	assert_int_equal(baton_image_find_fd(p, 3), 1);
	assert_int_equal(baton_image_find_fd(p, 0xffffffff), 2);
	assert_int_equal(baton_image_find_fd(p, 12), 3);
	assert_int_equal(baton_image_find_fd(p, 5), 4);
	assert_int_equal(baton_image_find_region(p, 9), 0);
	assert_int_equal(baton_image_find_region(p, 1), 1);
	assert_int_equal(baton_image_index_build(p, &ix), 0);
	/* Each flag is its own fd's: a region's memfd, or not. */
	assert_true(ix.region_fd[1] && ix.region_fd[4]);
	assert_false(ix.region_fd[0] || ix.region_fd[2] || ix.region_fd[3]);
	baton_image_index_free(&ix);
	release(p, buf);
}

/* Numbered 0, 1, ... in order, as a host writes them: found where they are. */
static void test_in_order(void **state)
{
	struct baton_image_fd in_fds[64];
	struct baton_image_device in_devs[40];
	struct baton_image in = { .program = "test", .fds = in_fds, .n_fds = 64,
				  .devices = in_devs, .n_devices = 40 };
	void *buf;
	struct baton_image *p;

	(void)state;
	for (uint32_t i = 0; i < 64; i++)
		in_fds[i] = (struct baton_image_fd){ .index = i, .token = i + 1, .session = "" };
	for (uint32_t i = 0; i < 40; i++)
		in_devs[i] = (struct baton_image_device){
			.index = i, .addr = { .bus = (uint8_t)(i / 32), .dev = (uint8_t)(i % 32) } };
	p = parsed(&in, &buf);
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(baton_image_find_fd(p, i), i);
	for (uint32_t i = 0; i < 40; i++)
		assert_int_equal(baton_image_find_device(p, &in_devs[i].addr), i);
	assert_int_equal(baton_image_find_fd(p, 64), -EBADMSG);
	assert_int_equal(baton_image_find_device(p, &(struct baton_pci_addr){ .bus = 1, .dev = 8 }),
			 -ENOENT);
	release(p, buf);
}

static void test_misses(void **state)
{
	static const uint32_t absent[] = { 0, 4, 6, 13, 71, 0xfffffffe };
	void *buf;
	struct baton_image *p = parsed(&img, &buf);

	(void)state;
	for (size_t i = 0; i < sizeof(absent) / sizeof(*absent); i++) {
		assert_int_equal(baton_image_find_fd(p, absent[i]), -EBADMSG);
		assert_int_equal(baton_image_find_region(p, absent[i]), -EBADMSG);
	}
	assert_int_equal(baton_image_find_region(p, 3), -EBADMSG);
	release(p, buf);
}

/* A session is a device's when it is its address in canonical form. */
static void test_session_device(void **state)
{
	struct image_index ix;
	void *buf;
	struct baton_image *p = parsed(&img, &buf);

	(void)state;
	assert_int_equal(baton_image_index_build(p, &ix), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:10.0"), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:04.0"), 1);
	assert_int_equal(baton_image_index_session_device(&ix, "0001:00:01.2"), 2);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:05.0"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "ffff:ff:1f.7"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, ""), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "kv"), -ENOENT);
	/* Not an address: no device's. */
	assert_int_equal(baton_image_index_session_device(&ix, "0001:00:01.2 "), -ENOENT);
	baton_image_index_free(&ix);
	release(p, buf);
	devices[2].addr.domain = 0xabcd;
	p = parsed(&img, &buf);
	assert_int_equal(baton_image_index_build(p, &ix), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "ABCD:00:01.2"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "abcd:00:01.2"), 2);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:04.0"), 1);
	baton_image_index_free(&ix);
	release(p, buf);
	devices[2].addr.domain = 1;
}

static void test_empty(void **state)
{
	const struct baton_image none = { .program = "test" };
	struct image_index ix;
	void *buf;
	struct baton_image *p = parsed(&none, &buf);

	(void)state;
	assert_int_equal(baton_image_index_build(p, &ix), 0);
	assert_int_equal(baton_image_find_fd(p, 0), -EBADMSG);
	assert_int_equal(baton_image_find_region(p, 0), -EBADMSG);
	assert_int_equal(baton_image_find_device(p, &(struct baton_pci_addr){ 0 }), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:00.0"), -ENOENT);
	baton_image_index_free(&ix);
	release(p, buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_session_device),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
