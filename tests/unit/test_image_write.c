// SPDX-License-Identifier: MIT
/*
 * baton_image_write() and baton_image_pack(): what is written parses back
 * equal, field by field; what would not parse back is refused; the packer
 * takes only well-formed trees.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"

static const uint8_t state0[] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4 };

/* An image using every field, in storage the tests may change. */
struct fixture {
	struct baton_image img;
	struct baton_image_fd fds[3];
	struct baton_image_region regions[2];
	struct baton_image_device devices[3];
	uint32_t dev0_fds[2], dev0_regions[1], dev2_fds[1];
};

static void fixture_init(struct fixture *f)
{
	/* The default session spelt both ways, and a named one. */
	static const struct baton_image_fd fds[] = {
		{ .index = 0, .token = 0x100, .kind = BATON_FD_MEMFD },
		{ .index = 1, .token = UINT64_MAX, .session = "vm0",
		  .kind = BATON_FD_VFIO_CONTAINER },
		{ .index = 0xa, .token = 0, .session = "",
		  .kind = BATON_FD_OTHER },
	};
	static const struct baton_image_region regions[] = {
		{ 0, 0, 0x200000, "rx ring" },
		{ 0xffffffff, 0xa, 1ull << 40, "" },
	};

	memset(f, 0, sizeof(*f));
	memcpy(f->fds, fds, sizeof(fds));
	memcpy(f->regions, regions, sizeof(regions));
	f->dev0_fds[0] = 0xa;
	f->dev0_fds[1] = 0;
	f->dev0_regions[0] = 0xffffffff;
	f->dev2_fds[0] = 1;

	f->devices[0] = (struct baton_image_device){
		.index = 0,
		.bus = "pci",
		.addr = { 0x0000, 0x00, 0x04, 0 },
		.ids = { 0x1234, 0x11e8, 0x1af4, 0x1100, 0x00ff00 },
		.schema = { 0x62, 0x75, 0x19, 0xa5, 0xfb, 0xc7, 0x59, 0xd8,
			    0x9d, 0x45, 0x92, 0x93, 0x8b, 0x4c, 0xa3, 0x13 },
		.schema_name = "edu-state",
		.schema_version = 1,
		.state = state0,
		.state_size = sizeof(state0),
		.n_fds = 2,
		.fds = f->dev0_fds,
		.n_regions = 1,
		.regions = f->dev0_regions,
		.orphan = BATON_ORPHAN_RESET,
		.mandatory = true,
	};
	/* Nothing optional. */
	f->devices[1] = (struct baton_image_device){
		.index = 7,
		.bus = "pci",
		.addr = { 0xffff, 0xff, 0x1f, 7 },
		.ids = { 0xffffffff, 0, 1, 2, 0xffffff },
	};
	f->devices[2] = (struct baton_image_device){
		.index = 3,
		.bus = "pci",
		.addr = { 0x0001, 0x02, 0x03, 4 },
		.schema_version = 0xfffffffe,
		.state = "",
		.state_size = 0,
		.n_fds = 1,
		.fds = f->dev2_fds,
		.mandatory = true,
	};

	f->img = (struct baton_image){
		.format_version = BATON_IMAGE_FORMAT_VERSION,
		.generation = 0x0123456789abcdefull,
		.program = "demo-host v1",
		.exec_path = "/usr/libexec/demo-host-v1",
		.n_fds = 3,
		.fds = f->fds,
		.n_regions = 2,
		.regions = f->regions,
		.n_devices = 3,
		.devices = f->devices,
	};
}

static void assert_str_or_null_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_device_equal(const struct baton_image_device *a,
				const struct baton_image_device *b)
{
	assert_int_equal(a->index, b->index);
	assert_string_equal(a->bus, b->bus);
	assert_int_equal(baton_pci_addr_cmp(&a->addr, &b->addr), 0);
	assert_int_equal(a->ids.vendor, b->ids.vendor);
	assert_int_equal(a->ids.device, b->ids.device);
	assert_int_equal(a->ids.subvendor, b->ids.subvendor);
	assert_int_equal(a->ids.subdevice, b->ids.subdevice);
	assert_int_equal(a->ids.class_code, b->ids.class_code);
	assert_memory_equal(a->schema, b->schema, BATON_GUID_SIZE);
	assert_str_or_null_equal(a->schema_name, b->schema_name);
	assert_int_equal(a->schema_version, b->schema_version);
	assert_int_equal(!a->state, !b->state);
	assert_int_equal(a->state_size, b->state_size);
	if (a->state_size)
		assert_memory_equal(a->state, b->state, a->state_size);
	assert_int_equal(a->n_fds, b->n_fds);
	if (a->n_fds)
		assert_memory_equal(a->fds, b->fds,
				    a->n_fds * sizeof(*a->fds));
	assert_int_equal(a->n_regions, b->n_regions);
	if (a->n_regions)
		assert_memory_equal(a->regions, b->regions,
				    a->n_regions * sizeof(*a->regions));
	assert_int_equal(a->orphan, b->orphan);
	assert_int_equal(a->mandatory, b->mandatory);
}

/* The writer's NULL session is the reader's "". */
static const char *session_of(const struct baton_image_fd *fd)
{
	return fd->session ? fd->session : "";
}

static void assert_image_equal(const struct baton_image *a,
			       const struct baton_image *b)
{
	assert_int_equal(b->format_version, BATON_IMAGE_FORMAT_VERSION);
	assert_true(a->generation == b->generation);
	assert_string_equal(a->program, b->program);
	if (a->exec_path)
		assert_string_equal(a->exec_path, b->exec_path);
	else
		assert_null(b->exec_path);

	assert_int_equal(a->n_fds, b->n_fds);
	for (size_t i = 0; i < a->n_fds; i++) {
		assert_int_equal(a->fds[i].index, b->fds[i].index);
		assert_true(a->fds[i].token == b->fds[i].token);
		assert_string_equal(session_of(&a->fds[i]), b->fds[i].session);
		assert_int_equal(a->fds[i].kind, b->fds[i].kind);
	}
	assert_int_equal(a->n_regions, b->n_regions);
	for (size_t i = 0; i < a->n_regions; i++) {
		assert_int_equal(a->regions[i].index, b->regions[i].index);
		assert_int_equal(a->regions[i].fd, b->regions[i].fd);
		assert_true(a->regions[i].size == b->regions[i].size);
		assert_string_equal(a->regions[i].label, b->regions[i].label);
	}
	assert_int_equal(a->n_devices, b->n_devices);
	for (size_t i = 0; i < a->n_devices; i++)
		assert_device_equal(&a->devices[i], &b->devices[i]);
}

/* Write @img, parse it back, compare every field. */
static void round_trip(const struct baton_image *img)
{
	struct baton_diag diag = { 0 };
	struct baton_image *back;
	void *buf;
	size_t len;
	int err;

	assert_int_equal(baton_image_write(img, &buf, &len), 0);
	err = baton_image_parse(buf, len, &back, &diag);
	if (err)
		fail_msg("parse: %s (%s)", diag.what, diag.where);
	assert_image_equal(img, back);
	baton_image_free(back);
	free(buf);
}

static void test_round_trip(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	round_trip(&f.img);
}

static void test_header_written(void **state)
{
	struct fixture f;
	uint8_t *buf;
	size_t len;

	(void)state;
	fixture_init(&f);
	assert_int_equal(baton_image_write(&f.img, (void **)&buf, &len), 0);
	assert_memory_equal(buf, "BATONIMG", 8);
	assert_int_equal(baton_get_be32(buf + BATON_IMAGE_OFF_VERSION), 1);
	assert_int_equal(baton_get_be32(buf + BATON_IMAGE_OFF_HEADER_SIZE), 64);
	assert_true(baton_get_be64(buf + BATON_IMAGE_OFF_TREE_SIZE) ==
		    len - 64);
	assert_int_equal(baton_get_be32(buf + BATON_IMAGE_OFF_TREE_CRC),
			 baton_crc32c(buf + 64, len - 64));
	assert_int_equal(baton_get_be32(buf + BATON_IMAGE_OFF_FLAGS), 0);
	assert_true(baton_get_be64(buf + BATON_IMAGE_OFF_GENERATION) ==
		    0x0123456789abcdefull);
	for (int i = 0; i < BATON_IMAGE_RESERVED_LEN; i++)
		assert_int_equal(buf[BATON_IMAGE_OFF_RESERVED + i], 0);
	assert_int_equal(fdt_totalsize(buf + 64), len - 64);
	free(buf);
}

/* The same image, the same bytes. */
static void test_deterministic(void **state)
{
	struct fixture f;
	void *a, *b;
	size_t la, lb;

	(void)state;
	fixture_init(&f);
	assert_int_equal(baton_image_write(&f.img, &a, &la), 0);
	assert_int_equal(baton_image_write(&f.img, &b, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
}

static void test_empty_image(void **state)
{
	const struct baton_image img = { .program = "" };

	(void)state;
	round_trip(&img);
}

/* A NULL bus is "pci" and a NULL label "", as the reader reports them. */
static void test_null_defaults(void **state)
{
	struct baton_image *back;
	struct fixture f;
	void *buf;
	size_t len;

	(void)state;
	fixture_init(&f);
	f.devices[1].bus = NULL;
	f.regions[0].label = NULL;
	assert_int_equal(baton_image_write(&f.img, &buf, &len), 0);
	assert_int_equal(baton_image_parse(buf, len, &back, NULL), 0);
	assert_string_equal(back->devices[1].bus, "pci");
	assert_string_equal(back->regions[0].label, "");
	assert_string_equal(back->fds[0].session, "");
	baton_image_free(back);
	free(buf);
}

/*
 * The default session is the absent property, however the caller spells
 * it, so that an image without sessions is what older readers know.
 */
static void test_session_written_only_when_named(void **state)
{
	static const char *const fd_paths[] = { "/fds/fd@0", "/fds/fd@1",
						"/fds/fd@a" };
	const void *prop;
	struct fixture f;
	uint8_t *buf;
	size_t len;
	int plen, off;

	(void)state;
	fixture_init(&f);
	assert_int_equal(baton_image_write(&f.img, (void **)&buf, &len), 0);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(fd_paths); i++) {
		off = fdt_path_offset(buf + 64, fd_paths[i]);
		assert_true(off >= 0);
		prop = fdt_getprop(buf + 64, off, "session", &plen);
		if (i == 1) {
			assert_non_null(prop);
			assert_int_equal(plen, sizeof("vm0"));
			assert_memory_equal(prop, "vm0", sizeof("vm0"));
		} else {
			assert_null(prop);
		}
	}
	free(buf);
}

/* A session name far longer than the rest of the image put together. */
static void test_long_session(void **state)
{
	enum { LEN = 64 * 1024 };
	char *name = malloc(LEN + 1);
	struct fixture f;

	(void)state;
	assert_non_null(name);
	memset(name, 's', LEN);
	name[LEN] = '\0';
	fixture_init(&f);
	f.fds[0].session = name;
	round_trip(&f.img);
	free(name);
}

static void expect_refused(const struct baton_image *img)
{
	void *buf = (void *)img;
	size_t len = 1;

	assert_int_equal(baton_image_write(img, &buf, &len), -EINVAL);
	/* Nothing handed back. */
	assert_ptr_equal(buf, img);
	assert_int_equal(len, 1);
}

static void test_refuses_dangling_region_fd(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.regions[1].fd = 2;
	expect_refused(&f.img);
}

static void test_refuses_dangling_device_fd(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.dev2_fds[0] = 99;
	expect_refused(&f.img);
}

static void test_refuses_dangling_device_region(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	/* fd 1 exists; region 1 does not. */
	f.dev0_regions[0] = 1;
	expect_refused(&f.img);
}

static void test_refuses_duplicate_token(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	/* fd@0's NULL session and fd@a's "" are both the default one. */
	f.fds[2].token = f.fds[0].token;
	expect_refused(&f.img);
}

/* Tokens are unique within a session: the reader's rule, the writer's. */
static void test_refuses_duplicate_token_in_session(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.fds[0].session = "vm0";
	f.fds[0].token = f.fds[1].token;
	expect_refused(&f.img);
}

static void test_same_token_across_sessions(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	/* fd@1 is in "vm0", fd@0 and fd@a in the default session. */
	f.fds[1].token = f.fds[0].token;
	round_trip(&f.img);
	f.fds[2].session = "vm1";
	f.fds[2].token = f.fds[0].token;
	round_trip(&f.img);
}

static void test_refuses_duplicate_index(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.devices[2].index = f.devices[0].index;
	expect_refused(&f.img);
	fixture_init(&f);
	f.fds[1].index = 0;
	expect_refused(&f.img);
}

static void test_refuses_duplicate_address(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.devices[2].addr = f.devices[0].addr;
	expect_refused(&f.img);
}

static void test_refuses_unwritable(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.img.program = NULL;
	expect_refused(&f.img);

	fixture_init(&f);
	f.fds[0].kind = BATON_FD_IOMMUFD + 1;
	expect_refused(&f.img);

	fixture_init(&f);
	f.devices[0].orphan = BATON_ORPHAN_RESET + 1;
	expect_refused(&f.img);

	fixture_init(&f);
	f.devices[0].addr.dev = 32;
	expect_refused(&f.img);

	fixture_init(&f);
	f.devices[0].addr.fn = 8;
	expect_refused(&f.img);

	fixture_init(&f);
	f.devices[1].state_size = 4;
	expect_refused(&f.img);

	fixture_init(&f);
	f.devices[1].bus = "usb";
	expect_refused(&f.img);
}

/*
 * 10k devices, each with state and references, and 1k fds in four
 * sessions, not in order, that share each token: unique only as (token,
 * session) pairs, which the reader must sort to check.
 */
static void test_large(void **state)
{
	enum { N_DEV = 10000, N_FD = 1000, N_REGION = 100 };
	static const char *const sessions[] = { "vm1", "", "vm0", "net" };
	struct baton_image_device *devs = calloc(N_DEV, sizeof(*devs));
	struct baton_image_region *regions = calloc(N_REGION, sizeof(*regions));
	struct baton_image_fd *fds = calloc(N_FD, sizeof(*fds));
	uint32_t *refs = calloc(N_DEV * 3, sizeof(*refs));
	uint8_t payload[64];
	struct baton_image img = {
		.generation = 3,
		.program = "large",
		.n_fds = N_FD, .fds = fds,
		.n_regions = N_REGION, .regions = regions,
		.n_devices = N_DEV, .devices = devs,
	};

	(void)state;
	assert_non_null(devs);
	assert_non_null(regions);
	assert_non_null(fds);
	assert_non_null(refs);
	for (int i = 0; i < (int)sizeof(payload); i++)
		payload[i] = i * 3;
	for (uint32_t i = 0; i < N_FD; i++)
		fds[i] = (struct baton_image_fd){ .index = i,
			.token = 0x1000 + i / 4, .session = sessions[i % 4],
			.kind = i % 7 };
	for (uint32_t i = 0; i < N_REGION; i++)
		regions[i] = (struct baton_image_region){
			i, i * 10, (uint64_t)i << 21, "ring" };
	for (uint32_t i = 0; i < N_DEV; i++) {
		struct baton_image_device *d = &devs[i];

		refs[3 * i] = i % N_FD;
		refs[3 * i + 1] = (i * 7) % N_FD;
		refs[3 * i + 2] = i % N_REGION;
		*d = (struct baton_image_device){
			.index = N_DEV - i,
			.bus = "pci",
			.addr = { i >> 13, (i >> 5) & 0xff, i & 0x1f, 0 },
			.ids = { 0x1234, 0x5050, 0, 0, 0x020000 },
			.schema_name = "pktgen-state",
			.schema_version = 1,
			.state = payload,
			.state_size = 1 + i % sizeof(payload),
			.n_fds = 2,
			.fds = &refs[3 * i],
			.n_regions = 1,
			.regions = &refs[3 * i + 2],
			.orphan = i % 2,
			.mandatory = i % 3 == 0,
		};
		d->schema[0] = i;
	}
	round_trip(&img);
	free(devs);
	free(regions);
	free(fds);
	free(refs);
}

/*
 * fds with the longest kind and index take more than the writer's first
 * guess at the tree's size: it must try again with more room.
 */
static void test_first_guess_too_small(void **state)
{
	enum { N_FD = 4000 };
	struct baton_image_fd *fds = calloc(N_FD, sizeof(*fds));
	struct baton_image img = {
		.program = "many fds", .n_fds = N_FD, .fds = fds,
	};

	(void)state;
	assert_non_null(fds);
	for (uint32_t i = 0; i < N_FD; i++)
		fds[i] = (struct baton_image_fd){ .index = 0xf0000000 + i,
			.token = i, .kind = BATON_FD_VFIO_CONTAINER };
	round_trip(&img);
	free(fds);
}

/* ------------------------------------------------------------------ */
/* baton_image_pack() */

static void *small_dtb(size_t *len)
{
	enum { SIZE = 512 };
	void *fdt = malloc(SIZE);

	assert_non_null(fdt);
	assert_int_equal(fdt_create(fdt, SIZE), 0);
	assert_int_equal(fdt_finish_reservemap(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	assert_int_equal(fdt_property_string(fdt, "compatible",
					     BATON_IMAGE_COMPATIBLE), 0);
	assert_int_equal(fdt_property_string(fdt, "program", "packed"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
	*len = fdt_totalsize(fdt);
	return fdt;
}

static void test_pack(void **state)
{
	struct baton_image *img;
	size_t dtb_len, len;
	void *dtb, *buf;

	(void)state;
	dtb = small_dtb(&dtb_len);
	assert_int_equal(baton_image_pack(dtb, dtb_len, 99, &buf, &len), 0);
	assert_int_equal(len, 64 + dtb_len);
	assert_memory_equal((uint8_t *)buf + 64, dtb, dtb_len);
	assert_int_equal(baton_image_parse(buf, len, &img, NULL), 0);
	assert_int_equal(img->generation, 99);
	assert_string_equal(img->program, "packed");
	baton_image_free(img);
	free(buf);
	free(dtb);
}

/* A dtb read from a file may sit anywhere and be followed by anything. */
static void test_pack_unaligned_with_trailing_bytes(void **state)
{
	struct baton_image *img;
	size_t dtb_len, len;
	uint8_t *odd;
	void *dtb, *buf;

	(void)state;
	dtb = small_dtb(&dtb_len);
	odd = malloc(dtb_len + 3 + 16);
	assert_non_null(odd);
	memcpy(odd + 3, dtb, dtb_len);
	memset(odd + 3 + dtb_len, 0xee, 16);
	assert_int_equal(baton_image_pack(odd + 3, dtb_len + 16, 1, &buf,
					  &len), 0);
	assert_int_equal(len, 64 + dtb_len);
	assert_int_equal(baton_image_parse(buf, len, &img, NULL), 0);
	baton_image_free(img);
	free(buf);
	free(odd);
	free(dtb);
}

static void test_pack_not_dtb(void **state)
{
	static const char text[] = "/dts-v1/; / { compatible = \"x\"; };";
	uint8_t zeros[64] = { 0 };
	size_t dtb_len, len = 1;
	uint8_t *dtb;
	void *buf = NULL;

	(void)state;
	assert_int_equal(baton_image_pack(text, sizeof(text), 1, &buf, &len),
			 -BATON_ERR_BADTREE);
	assert_int_equal(baton_image_pack(zeros, sizeof(zeros), 1, &buf,
					  &len), -BATON_ERR_BADTREE);
	assert_int_equal(baton_image_pack(zeros, 0, 1, &buf, &len),
			 -BATON_ERR_BADTREE);
	/* A real tree, cut short. */
	dtb = small_dtb(&dtb_len);
	assert_int_equal(baton_image_pack(dtb, dtb_len - 1, 1, &buf, &len),
			 -BATON_ERR_BADTREE);
	assert_int_equal(baton_image_pack(dtb, 20, 1, &buf, &len),
			 -BATON_ERR_BADTREE);
	/* Well-formed, but of a version libfdt 1.6.1 handles unsafely. */
	baton_put_be32(dtb + 20, 16);
	assert_int_equal(baton_image_pack(dtb, dtb_len, 1, &buf, &len),
			 -BATON_ERR_BADTREE);
	assert_null(buf);
	assert_int_equal(len, 1);
	free(dtb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_header_written),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_empty_image),
		cmocka_unit_test(test_null_defaults),
		cmocka_unit_test(test_session_written_only_when_named),
		cmocka_unit_test(test_long_session),
		cmocka_unit_test(test_refuses_dangling_region_fd),
		cmocka_unit_test(test_refuses_dangling_device_fd),
		cmocka_unit_test(test_refuses_dangling_device_region),
		cmocka_unit_test(test_refuses_duplicate_token),
		cmocka_unit_test(test_refuses_duplicate_token_in_session),
		cmocka_unit_test(test_same_token_across_sessions),
		cmocka_unit_test(test_refuses_duplicate_index),
		cmocka_unit_test(test_refuses_duplicate_address),
		cmocka_unit_test(test_refuses_unwritable),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_first_guess_too_small),
		cmocka_unit_test(test_pack),
		cmocka_unit_test(test_pack_unaligned_with_trailing_bytes),
		cmocka_unit_test(test_pack_not_dtb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
