// SPDX-License-Identifier: MIT
/*
 * The restore's lookups of an image's references (lib/host/image-index.c):
 * indices are any unique u32, in any order, and a reference to nothing is
 * an error, never a read out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "host/host-internal.h"

/* fds and regions out of index order, devices out of address order. */
static struct baton_image_fd fds[] = {
	{ .index = 70, .session = "0000:00:10.0" },
	{ .index = 3, .session = "0000:00:10.0" },	/* region 9's memfd */
	{ .index = 0xffffffff, .session = "0000:00:04.0" },
	{ .index = 12, .session = "0000:00:10.0" },
	{ .index = 5, .session = "" },			/* region 1's memfd */
};
static struct baton_image_region regions[] = {
	{ .index = 9, .fd = 3 }, { .index = 1, .fd = 5 },
};
static struct baton_image_device devices[] = {
	{ .index = 0, .addr = { .dev = 0x10 } },
	{ .index = 1, .addr = { .bus = 0, .dev = 4 } },
	{ .index = 2, .addr = { .domain = 1, .dev = 1, .fn = 2 } },
};
static const struct baton_image img = {
	.fds = fds, .n_fds = 5, .regions = regions, .n_regions = 2,
	.devices = devices, .n_devices = 3,
};

static void test_lookups(void **state)
{
	struct image_index ix;

	(void)state;
	assert_int_equal(baton_image_index_build(&img, &ix), 0);
	assert_int_equal(baton_image_index_fd(&ix, 70), 0);
	assert_int_equal(baton_image_index_fd(&ix, 3), 1);
	assert_int_equal(baton_image_index_fd(&ix, 0xffffffff), 2);
	assert_int_equal(baton_image_index_fd(&ix, 12), 3);
	assert_int_equal(baton_image_index_fd(&ix, 5), 4);
	assert_int_equal(baton_image_index_region(&ix, 9), 0);
	assert_int_equal(baton_image_index_region(&ix, 1), 1);
	/* Each flag is its own fd's: a region's memfd, or not. */
	assert_true(ix.region_fd[1] && ix.region_fd[4]);
	assert_false(ix.region_fd[0] || ix.region_fd[2] || ix.region_fd[3]);
	baton_image_index_free(&ix);
}

static void test_misses(void **state)
{
	static const uint32_t absent[] = { 0, 4, 6, 13, 71, 0xfffffffe };
	struct image_index ix;

	(void)state;
	assert_int_equal(baton_image_index_build(&img, &ix), 0);
	for (size_t i = 0; i < sizeof(absent) / sizeof(*absent); i++) {
		assert_int_equal(baton_image_index_fd(&ix, absent[i]), -EBADMSG);
		assert_int_equal(baton_image_index_region(&ix, absent[i]), -EBADMSG);
	}
	assert_int_equal(baton_image_index_region(&ix, 3), -EBADMSG);
	baton_image_index_free(&ix);
}

static void test_region_fd_missing(void **state)
{
	struct baton_image_region bad[] = { { .index = 1, .fd = 4 } };
	struct baton_image broken = img;
	struct image_index ix;

	(void)state;
	broken.regions = bad;
	broken.n_regions = 1;
	assert_int_equal(baton_image_index_build(&broken, &ix), -EBADMSG);
}

/* A session is a device's when it is its address in canonical form. */
static void test_session_device(void **state)
{
	struct image_index ix;

	(void)state;
	assert_int_equal(baton_image_index_build(&img, &ix), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:10.0"), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:04.0"), 1);
	assert_int_equal(baton_image_index_session_device(&ix, "0001:00:01.2"), 2);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:05.0"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "ffff:ff:1f.7"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, ""), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "kv"), -ENOENT);
	/* Not an address: no device's. */
	assert_int_equal(baton_image_index_session_device(&ix, "0001:00:01.2 "), -ENOENT);
	devices[2].addr.domain = 0xabcd;
	baton_image_index_free(&ix);
	assert_int_equal(baton_image_index_build(&img, &ix), 0);
	assert_int_equal(baton_image_index_session_device(&ix, "ABCD:00:01.2"), -ENOENT);
	assert_int_equal(baton_image_index_session_device(&ix, "abcd:00:01.2"), 2);
	baton_image_index_free(&ix);
}

static void test_empty(void **state)
{
	const struct baton_image none = { 0 };
	struct image_index ix;

	(void)state;
	assert_int_equal(baton_image_index_build(&none, &ix), 0);
	assert_int_equal(baton_image_index_fd(&ix, 0), -EBADMSG);
	assert_int_equal(baton_image_index_region(&ix, 0), -EBADMSG);
	assert_int_equal(baton_image_index_session_device(&ix, "0000:00:00.0"), -ENOENT);
	baton_image_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_region_fd_missing),
		cmocka_unit_test(test_session_device),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
