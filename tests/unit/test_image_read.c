// SPDX-License-Identifier: MIT
/*
 * baton_image_parse(): one test per rejection rule, each asserting the
 * exact error code and the exact node and property diag->where names, and
 * the rules' positive side (defaults, ignored properties and trailing
 * bytes, unaligned buffers, tree order).
 *
 * Header cases patch a packed image.  Tree cases build a tree with libfdt's
 * sequential-write API and baton_image_pack(): a small valid image (two
 * fds, two regions, two devices) in which the second node of each kind
 * takes per-test changes to its properties or its name.
 */
#include <dirent.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"

/* A property to write; a NULL val leaves out a property the node has by
 * default; an empty one is val "" and len 0. */
struct prop {
	const char *name;
	const void *val;
	int len;
};

#define BE32(v) (uint8_t)((v) >> 24), (uint8_t)((v) >> 16), \
		(uint8_t)((v) >> 8), (uint8_t)(v)
#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, \
		   sizeof((const uint8_t[]){ __VA_ARGS__ })
#define STR(s) s, sizeof(s)
#define OMIT(n) { n, NULL, 0 }
#define FLAG(n) { n, "", 0 }
#define COUNT(...) (sizeof((const struct prop[]){ __VA_ARGS__ }) / \
		    sizeof(struct prop))
#define PROPS(...) (const struct prop[]){ __VA_ARGS__ }, COUNT(__VA_ARGS__)

/* Changes to the base image: to the root, and to fd@1, region@2, device@1. */
struct variant {
	const struct prop *root, *fd, *region, *device;
	size_t n_root, n_fd, n_region, n_device;
	const char *fd_name, *region_name, *device_name;
	const char *extra_root_child;	/* an empty node after the others */
};

#define VARIANT(...) (&(const struct variant){ __VA_ARGS__ })
#define ROOT(...) .root = (const struct prop[]){ __VA_ARGS__ }, \
		  .n_root = COUNT(__VA_ARGS__)
#define FD(...) .fd = (const struct prop[]){ __VA_ARGS__ }, \
		.n_fd = COUNT(__VA_ARGS__)
#define REGION(...) .region = (const struct prop[]){ __VA_ARGS__ }, \
		    .n_region = COUNT(__VA_ARGS__)
#define DEVICE(...) .device = (const struct prop[]){ __VA_ARGS__ }, \
		    .n_device = COUNT(__VA_ARGS__)

static const uint8_t guid_a[16] = {
	0x62, 0x75, 0x19, 0xa5, 0xfb, 0xc7, 0x59, 0xd8,
	0x9d, 0x45, 0x92, 0x93, 0x8b, 0x4c, 0xa3, 0x13,
};

static const struct prop root_base[] = {
	{ "compatible", STR("baton,image-v1") },
	{ "program", STR("test-program") },
};

static const struct prop fd0_base[] = {
	{ "token", BYTES(BE32(0), BE32(0x10)) },
	{ "kind", STR("memfd") },
};

static const struct prop fd1_base[] = {
	{ "token", BYTES(BE32(0x01020304), BE32(0x05060708)) },
	{ "kind", STR("vfio-device") },
};

static const struct prop region0_base[] = {
	{ "fd", BYTES(BE32(0)) },
	{ "size", BYTES(BE32(0), BE32(0x1000)) },
	{ "label", STR("ring") },
};

static const struct prop region1_base[] = {
	{ "fd", BYTES(BE32(1)) },
	{ "size", BYTES(BE32(1), BE32(0x2000)) },
};

/* Every property a device can have. */
static const struct prop device0_base[] = {
	{ "bus", STR("pci") },
	{ "address", STR("0000:00:01.0") },
	{ "ids", BYTES(BE32(0x1234), BE32(0x11e8), BE32(0x1af4),
		       BE32(0x1100), BE32(0x00ff00)) },
	{ "schema", guid_a, sizeof(guid_a) },
	{ "schema-name", STR("edu-state") },
	{ "schema-version", BYTES(BE32(3)) },
	{ "state", BYTES(1, 2, 3, 4, 5) },
	{ "state-crc", BYTES(BE32(0x53518fab)) },
	{ "fds", BYTES(BE32(1), BE32(0)) },
	{ "regions", BYTES(BE32(2)) },
	{ "orphan", STR("reset") },
	FLAG("mandatory"),
};

/* Only the required ones. */
static const struct prop device1_base[] = {
	{ "bus", STR("pci") },
	{ "address", STR("0000:0a:1f.7") },
	{ "ids", BYTES(BE32(1), BE32(2), BE32(3), BE32(4), BE32(5)) },
	{ "schema", guid_a, sizeof(guid_a) },
};

#define TREE_MAX 8192

static const struct prop *find_prop(const struct prop *p, size_t n,
				    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	return NULL;
}

static void put_prop(void *fdt, const struct prop *p)
{
	if (p->val)
		assert_int_equal(fdt_property(fdt, p->name, p->val, p->len), 0);
}

/*
 * @base's properties, each replaced by the first of @over with its name,
 * then the rest of @over: a second one with a name makes a duplicate.
 */
static void put_props(void *fdt, const struct prop *base, size_t n_base,
		      const struct prop *over, size_t n_over)
{
	for (size_t i = 0; i < n_base; i++) {
		const struct prop *o = find_prop(over, n_over, base[i].name);

		put_prop(fdt, o ? o : &base[i]);
	}
	for (size_t i = 0; i < n_over; i++)
		if (!find_prop(base, n_base, over[i].name) ||
		    find_prop(over, n_over, over[i].name) != &over[i])
			put_prop(fdt, &over[i]);
}

static void put_node(void *fdt, const char *name, const struct prop *base,
		     size_t n_base, const struct prop *over, size_t n_over)
{
	assert_int_equal(fdt_begin_node(fdt, name), 0);
	put_props(fdt, base, n_base, over, n_over);
	assert_int_equal(fdt_end_node(fdt), 0);
}

static void *pack(void *fdt, size_t *len)
{
	void *img;

	assert_int_equal(fdt_finish(fdt), 0);
	assert_int_equal(baton_image_pack(fdt, fdt_totalsize(fdt), 7, &img,
					  len), 0);
	free(fdt);
	return img;
}

static void *new_tree(void)
{
	void *fdt = malloc(TREE_MAX);

	assert_non_null(fdt);
	assert_int_equal(fdt_create(fdt, TREE_MAX), 0);
	assert_int_equal(fdt_finish_reservemap(fdt), 0);
	return fdt;
}

#define N(a) a, BATON_ARRAY_SIZE(a)

/* A tree whose root is begun, with the root's properties. */
static void *tree_with_root(void)
{
	void *fdt = new_tree();

	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	return fdt;
}

static void *build(const struct variant *v, size_t *len)
{
	void *fdt = new_tree();

	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), v->root, v->n_root);

	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	put_node(fdt, "fd@0", N(fd0_base), NULL, 0);
	put_node(fdt, v->fd_name ? v->fd_name : "fd@1", N(fd1_base),
		 v->fd, v->n_fd);
	assert_int_equal(fdt_end_node(fdt), 0);

	assert_int_equal(fdt_begin_node(fdt, "regions"), 0);
	put_node(fdt, "region@0", N(region0_base), NULL, 0);
	put_node(fdt, v->region_name ? v->region_name : "region@2",
		 N(region1_base), v->region, v->n_region);
	assert_int_equal(fdt_end_node(fdt), 0);

	assert_int_equal(fdt_begin_node(fdt, "devices"), 0);
	put_node(fdt, "device@0", N(device0_base), NULL, 0);
	put_node(fdt, v->device_name ? v->device_name : "device@1",
		 N(device1_base), v->device, v->n_device);
	assert_int_equal(fdt_end_node(fdt), 0);

	if (v->extra_root_child)
		put_node(fdt, v->extra_root_child, NULL, 0, NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	return pack(fdt, len);
}

/* Parsing @img fails with exactly @err at exactly @where. */
static void expect_err_at(const void *img, size_t len, int err,
			  const char *where, const char *what)
{
	struct baton_diag diag = { 0 };
	struct baton_image *out = (struct baton_image *)&diag;

	assert_int_equal(baton_image_parse(img, len, &out, &diag), -err);
	assert_null(out);
	assert_int_equal(diag.err, err);
	assert_string_equal(diag.where, where);
	if (what && !strstr(diag.what, what))
		fail_msg("\"%s\" does not contain \"%s\"", diag.what, what);
	/* The same answer without a diag to fill. */
	assert_int_equal(baton_image_parse(img, len, &out, NULL), -err);
}

static void expect_variant(const struct variant *v, int err,
			   const char *where, const char *what)
{
	size_t len;
	void *img = build(v, &len);

	expect_err_at(img, len, err, where, what);
	free(img);
}

static struct baton_image *parse_ok(const void *img, size_t len)
{
	struct baton_diag diag = { 0 };
	struct baton_image *out = NULL;
	int err = baton_image_parse(img, len, &out, &diag);

	if (err)
		fail_msg("parse: %s (%s)", diag.what, diag.where);
	assert_non_null(out);
	return out;
}

/* Recompute the tree CRC, to get past it to a later check. */
static void reseal(uint8_t *img)
{
	uint64_t size = baton_get_be64(img + BATON_IMAGE_OFF_TREE_SIZE);

	baton_put_be32(img + BATON_IMAGE_OFF_TREE_CRC,
		       baton_crc32c(img + BATON_IMAGE_HEADER_SIZE, size));
}

/* ------------------------------------------------------------------ */
/* The base image and the rules' positive side */

static void test_base_image(void **state)
{
	const struct baton_image_device *d;
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(), &len);
	img = parse_ok(buf, len);

	assert_int_equal(img->format_version, 1);
	assert_int_equal(img->generation, 7);
	assert_string_equal(img->program, "test-program");

	assert_int_equal(img->n_fds, 2);
	assert_int_equal(img->fds[0].index, 0);
	assert_int_equal(img->fds[0].token, 0x10);
	assert_int_equal(img->fds[0].kind, BATON_FD_MEMFD);
	assert_int_equal(img->fds[1].index, 1);
	assert_true(img->fds[1].token == 0x0102030405060708ull);
	assert_int_equal(img->fds[1].kind, BATON_FD_VFIO_DEVICE);

	assert_int_equal(img->n_regions, 2);
	assert_int_equal(img->regions[0].fd, 0);
	assert_int_equal(img->regions[0].size, 0x1000);
	assert_string_equal(img->regions[0].label, "ring");
	assert_int_equal(img->regions[1].index, 2);
	assert_int_equal(img->regions[1].fd, 1);
	assert_true(img->regions[1].size == 0x100002000ull);

	assert_int_equal(img->n_devices, 2);
	d = &img->devices[0];
	assert_int_equal(d->index, 0);
	assert_string_equal(d->bus, "pci");
	assert_int_equal(d->addr.domain, 0);
	assert_int_equal(d->addr.bus, 0);
	assert_int_equal(d->addr.dev, 1);
	assert_int_equal(d->addr.fn, 0);
	assert_int_equal(d->ids.vendor, 0x1234);
	assert_int_equal(d->ids.device, 0x11e8);
	assert_int_equal(d->ids.subvendor, 0x1af4);
	assert_int_equal(d->ids.subdevice, 0x1100);
	assert_int_equal(d->ids.class_code, 0x00ff00);
	assert_memory_equal(d->schema, guid_a, 16);
	assert_string_equal(d->schema_name, "edu-state");
	assert_int_equal(d->schema_version, 3);
	assert_int_equal(d->state_size, 5);
	assert_memory_equal(d->state, ((const uint8_t[]){ 1, 2, 3, 4, 5 }), 5);
	assert_int_equal(d->n_fds, 2);
	assert_int_equal(d->fds[0], 1);
	assert_int_equal(d->fds[1], 0);
	assert_int_equal(d->n_regions, 1);
	assert_int_equal(d->regions[0], 2);
	assert_int_equal(d->orphan, BATON_ORPHAN_RESET);
	assert_true(d->mandatory);

	d = &img->devices[1];
	assert_int_equal(d->addr.bus, 0x0a);
	assert_int_equal(d->addr.dev, 0x1f);
	assert_int_equal(d->addr.fn, 7);
	assert_int_equal(d->ids.class_code, 5);

	baton_image_free(img);
	free(buf);
}

static void test_defaults(void **state)
{
	const struct baton_image_device *d;
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(), &len);
	img = parse_ok(buf, len);
	assert_string_equal(img->fds[0].session, "");
	assert_string_equal(img->fds[1].session, "");
	assert_string_equal(img->regions[1].label, "");
	d = &img->devices[1];
	assert_null(d->schema_name);
	assert_int_equal(d->schema_version, 0);
	assert_null(d->state);
	assert_int_equal(d->state_size, 0);
	assert_int_equal(d->n_fds, 0);
	assert_null(d->fds);
	assert_int_equal(d->n_regions, 0);
	assert_null(d->regions);
	assert_int_equal(d->orphan, BATON_ORPHAN_QUARANTINE);
	assert_false(d->mandatory);
	baton_image_free(img);
	free(buf);
}

static void test_explicit_values(void **state)
{
	const struct baton_image_device *d;
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(DEVICE({ "orphan", STR("quarantine") },
				   { "state", BYTES() },
				   { "state-crc", BYTES(BE32(0)) },
				   { "fds", BYTES() })), &len);
	img = parse_ok(buf, len);
	d = &img->devices[1];
	assert_int_equal(d->orphan, BATON_ORPHAN_QUARANTINE);
	/* An empty state is present; an empty list is absent. */
	assert_non_null(d->state);
	assert_int_equal(d->state_size, 0);
	assert_int_equal(d->n_fds, 0);
	assert_null(d->fds);
	baton_image_free(img);
	free(buf);
}

static void test_containers_optional(void **state)
{
	struct baton_image *img;
	void *fdt = new_tree();
	size_t len;
	void *buf;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	buf = pack(fdt, &len);
	img = parse_ok(buf, len);
	assert_int_equal(img->n_fds, 0);
	assert_null(img->fds);
	assert_int_equal(img->n_regions, 0);
	assert_int_equal(img->n_devices, 0);
	baton_image_free(img);
	free(buf);
}

static void test_unknown_ignored(void **state)
{
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(ROOT({ "future-root", BYTES(1, 2, 3) }),
			    FD({ "future-fd", STR("x") }),
			    REGION({ "future-region", BYTES() }),
			    DEVICE({ "future-device", BYTES(BE32(9)) }),
			    .extra_root_child = "future-node"), &len);
	img = parse_ok(buf, len);
	assert_int_equal(img->n_fds, 2);
	assert_int_equal(img->n_devices, 2);
	baton_image_free(img);
	free(buf);
}

static void test_trailing_bytes_ignored(void **state)
{
	struct baton_image *img;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = build(VARIANT(), &len);
	buf = realloc(buf, len + 100);
	assert_non_null(buf);
	memset(buf + len, 0xa5, 100);
	img = parse_ok(buf, len + 100);
	assert_int_equal(img->n_devices, 2);
	baton_image_free(img);
	free(buf);
}

/* Hex unit addresses, in tree order, whatever their order of value. */
static void test_tree_order(void **state)
{
	static const char *const names[] = { "fd@1f", "fd@2", "fd@A0" };
	static const uint32_t units[] = { 0x1f, 2, 0xa0 };
	struct baton_image *img;
	void *fdt = new_tree();
	size_t len;
	void *buf;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	for (int i = 0; i < 3; i++) {
		uint8_t token[8] = { 0, 0, 0, 0, 0, 0, 0, 9 - i };

		put_node(fdt, names[i], N(fd0_base),
			 PROPS({ "token", token, 8 }));
	}
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	buf = pack(fdt, &len);
	img = parse_ok(buf, len);
	assert_int_equal(img->n_fds, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(img->fds[i].index, units[i]);
		assert_int_equal(img->fds[i].token, 9 - i);
	}
	baton_image_free(img);
	free(buf);
}

/*
 * The fast path grows its arrays as the walk meets the children, x4: at
 * 1,025 devices, room for 4,096.  What the parse hands back is sized to
 * what it holds - malloc's own count of each block says so - and not to
 * the room it grew into (a new version's heap holds it in the blackout).
 */
static void test_arrays_fit(void **state)
{
	enum { N_DEV = 1025, FDS = 3 };
	struct baton_image in = { .program = "test-program" }, *img;
	char (*sessions)[BATON_PCI_ADDR_STRLEN];
	uint32_t *refs;
	size_t len;
	void *buf;

	(void)state;
	in.n_fds = N_DEV * FDS;
	in.fds = calloc(in.n_fds, sizeof(*in.fds));
	in.n_devices = N_DEV;
	in.devices = calloc(N_DEV, sizeof(*in.devices));
	sessions = calloc(N_DEV, sizeof(*sessions));
	refs = calloc(N_DEV * FDS, sizeof(*refs));
	assert_non_null(in.fds);
	assert_non_null(in.devices);
	assert_non_null(sessions);
	assert_non_null(refs);
	for (size_t i = 0; i < N_DEV; i++) {
		struct baton_image_device *d = &in.devices[i];

		d->index = (uint32_t)i;
		d->addr = (struct baton_pci_addr){ .bus = (uint8_t)(1 + i / 32),
						   .dev = (uint8_t)(i % 32) };
		baton_pci_addr_format(&d->addr, sessions[i]);
		memcpy(d->schema, guid_a, sizeof(d->schema));
		for (size_t k = 0; k < FDS; k++) {
			struct baton_image_fd *fd = &in.fds[i * FDS + k];

			fd->index = (uint32_t)(i * FDS + k);
			fd->token = 1 + k;
			fd->session = sessions[i];
			refs[i * FDS + k] = fd->index;
		}
		d->n_fds = FDS;
		d->fds = &refs[i * FDS];
	}
	assert_int_equal(baton_image_write(&in, &buf, &len), 0);
	img = parse_ok(buf, len);
	assert_int_equal(img->n_devices, N_DEV);
	assert_int_equal(img->n_fds, N_DEV * FDS);
	/* Usable size: the request rounded up to malloc's 16 bytes. */
	assert_true(malloc_usable_size(img->devices) < N_DEV * sizeof(*img->devices) + 64);
	assert_true(malloc_usable_size(img->fds) < N_DEV * FDS * sizeof(*img->fds) + 64);
	for (size_t i = 0; i < N_DEV; i++)
		assert_int_equal(img->devices[i].fds[2], i * FDS + 2);
	baton_image_free(img);
	free(buf);
	free(refs);
	free(sessions);
	free(in.devices);
	free(in.fds);
}

/*
 * @a and @b decode to the same image: the writer writes every field of
 * every node, references included, in the order the parse found them.
 */
static void assert_same_image(const struct baton_image *a,
			      const struct baton_image *b)
{
	void *buf_a, *buf_b;
	size_t len_a, len_b;

	assert_int_equal(baton_image_write(a, &buf_a, &len_a), 0);
	assert_int_equal(baton_image_write(b, &buf_b, &len_b), 0);
	assert_int_equal(len_a, len_b);
	assert_memory_equal(buf_a, buf_b, len_a);
	free(buf_b);
	free(buf_a);
}

/*
 * The containers in any order: the reader reads each as the walk meets
 * it, and a device's references to fds and regions not read yet send it
 * back to reading in the rules' order (which reads a child's properties
 * again from the tree, past a NOP among them): the same image.
 */
static void test_containers_any_order(void **state)
{
	struct baton_image *in_order, *out_of_order;
	void *fdt = new_tree(), *a, *b;
	size_t len_a, len_b;

	(void)state;
	a = build(VARIANT(), &len_a);
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_begin_node(fdt, "devices"), 0);
	put_node(fdt, "device@0", N(device0_base), NULL, 0);
	put_node(fdt, "device@1", N(device1_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, "regions"), 0);
	put_node(fdt, "region@0", N(region0_base), NULL, 0);
	put_node(fdt, "region@2", N(region1_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	put_node(fdt, "fd@0", N(fd0_base), NULL, 0);
	put_node(fdt, "fd@1", N(fd1_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	b = pack(fdt, &len_b);

	in_order = parse_ok(a, len_a);
	out_of_order = parse_ok(b, len_b);
	assert_same_image(in_order, out_of_order);
	baton_image_free(out_of_order);

	/* A NOP among device@0's properties, where its schema-name was. */
	fdt = (uint8_t *)b + BATON_IMAGE_HEADER_SIZE;
	assert_int_equal(fdt_nop_property(fdt, fdt_path_offset(fdt, "/devices/device@0"),
					  "schema-name"), 0);
	reseal(b);
	out_of_order = parse_ok(b, len_b);
	assert_null(out_of_order->devices[0].schema_name);
	out_of_order->devices[0].schema_name = in_order->devices[0].schema_name;
	assert_same_image(in_order, out_of_order);

	baton_image_free(out_of_order);
	baton_image_free(in_order);
	free(b);
	free(a);
}

/* Results point into the caller's buffer when it is aligned... */
static void test_aligned_points_into_buffer(void **state)
{
	struct baton_image *img;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = build(VARIANT(), &len);
	img = parse_ok(buf, len);
	assert_true((const uint8_t *)img->program > buf);
	assert_true((const uint8_t *)img->program < buf + len);
	baton_image_free(img);
	free(buf);
}

/* ...and into a copy the image owns when it is not. */
static void test_unaligned_buffer(void **state)
{
	struct baton_image *img;
	uint8_t *buf, *odd;
	size_t len;

	(void)state;
	buf = build(VARIANT(), &len);
	for (int shift = 1; shift < 8; shift++) {
		odd = malloc(len + shift);
		assert_non_null(odd);
		memcpy(odd + shift, buf, len);
		img = parse_ok(odd + shift, len);
		assert_string_equal(img->program, "test-program");
		assert_memory_equal(img->devices[0].state,
				    ((const uint8_t[]){ 1, 2, 3, 4, 5 }), 5);
		assert_false((const uint8_t *)img->program >= odd &&
			     (const uint8_t *)img->program < odd + len + shift);
		baton_image_free(img);
		free(odd);
	}
	free(buf);
}

static void test_free_null(void **state)
{
	(void)state;
	baton_image_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Header */

static void *base_image(size_t *len)
{
	return build(VARIANT(), len);
}

static void test_header_truncated(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	expect_err_at(img, BATON_IMAGE_HEADER_SIZE - 1, BATON_ERR_TRUNCATED,
		      "header", "shorter than its 64-byte header");
	expect_err_at(img, 0, BATON_ERR_TRUNCATED, "header", NULL);
	free(img);
}

static void test_header_magic(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	img[7] = 'g';
	expect_err_at(img, len, BATON_ERR_BADMAGIC, "header: magic", NULL);
	free(img);
}

static void test_header_version(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	baton_put_be32(img + BATON_IMAGE_OFF_VERSION, 2);
	expect_err_at(img, len, BATON_ERR_BADVERSION, "header: format_version",
		      "format version 2");
	baton_put_be32(img + BATON_IMAGE_OFF_VERSION, 0);
	expect_err_at(img, len, BATON_ERR_BADVERSION, "header: format_version",
		      NULL);
	free(img);
}

static void test_header_size(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	baton_put_be32(img + BATON_IMAGE_OFF_HEADER_SIZE, 128);
	expect_err_at(img, len, BATON_ERR_BADHEADER, "header: header_size",
		      "header_size 128");
	free(img);
}

static void test_header_flags(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	baton_put_be32(img + BATON_IMAGE_OFF_FLAGS, 0x80000000);
	expect_err_at(img, len, BATON_ERR_BADHEADER, "header: flags", NULL);
	free(img);
}

static void test_header_reserved(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	for (int i = 0; i < BATON_IMAGE_RESERVED_LEN; i++) {
		img[BATON_IMAGE_OFF_RESERVED + i] = 1;
		expect_err_at(img, len, BATON_ERR_BADHEADER,
			      "header: reserved", NULL);
		img[BATON_IMAGE_OFF_RESERVED + i] = 0;
	}
	free(img);
}

static void test_header_tree_size_zero(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE, 0);
	expect_err_at(img, len, BATON_ERR_TRUNCATED, "header: tree_size",
		      "tree_size is 0");
	free(img);
}

static void test_header_tree_beyond_data(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	/* One byte short. */
	expect_err_at(img, len - 1, BATON_ERR_TRUNCATED, "header: tree_size",
		      NULL);
	expect_err_at(img, BATON_IMAGE_HEADER_SIZE, BATON_ERR_TRUNCATED,
		      "header: tree_size", NULL);
	/* Sizes that would wrap 64 + tree_size or a pointer. */
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE, UINT64_MAX);
	expect_err_at(img, len, BATON_ERR_TRUNCATED, "header: tree_size",
		      NULL);
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE, UINT64_MAX - 63);
	expect_err_at(img, len, BATON_ERR_TRUNCATED, "header: tree_size",
		      NULL);
	free(img);
}

static void test_header_crc(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	img[len - 1] ^= 1;
	expect_err_at(img, len, BATON_ERR_BADCRC, "header: tree_crc32c",
		      "tree CRC32C mismatch: stored 0x");
	img[len - 1] ^= 1;
	img[BATON_IMAGE_OFF_TREE_CRC] ^= 0x10;
	expect_err_at(img, len, BATON_ERR_BADCRC, "header: tree_crc32c", NULL);
	free(img);
}

/* With every header field wrong, they are reported in the documented order. */
static void test_header_order(void **state)
{
	uint8_t *img, good[BATON_IMAGE_HEADER_SIZE];
	size_t len;

	(void)state;
	img = base_image(&len);
	memcpy(good, img, sizeof(good));

	img[0] = 'X';
	baton_put_be32(img + BATON_IMAGE_OFF_VERSION, 9);
	baton_put_be32(img + BATON_IMAGE_OFF_HEADER_SIZE, 65);
	baton_put_be32(img + BATON_IMAGE_OFF_FLAGS, 1);
	img[BATON_IMAGE_OFF_RESERVED + 23] = 1;
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE, 0);
	img[BATON_IMAGE_OFF_TREE_CRC] ^= 0xff;

	expect_err_at(img, len, BATON_ERR_BADMAGIC, "header: magic", NULL);
	img[0] = good[0];
	expect_err_at(img, len, BATON_ERR_BADVERSION, "header: format_version",
		      NULL);
	memcpy(img + 8, good + 8, 4);
	expect_err_at(img, len, BATON_ERR_BADHEADER, "header: header_size",
		      NULL);
	memcpy(img + 12, good + 12, 4);
	expect_err_at(img, len, BATON_ERR_BADHEADER, "header: flags", NULL);
	memcpy(img + 28, good + 28, 4);
	expect_err_at(img, len, BATON_ERR_BADHEADER, "header: reserved", NULL);
	img[BATON_IMAGE_OFF_RESERVED + 23] = 0;
	expect_err_at(img, len, BATON_ERR_TRUNCATED, "header: tree_size",
		      NULL);
	memcpy(img + 16, good + 16, 8);
	expect_err_at(img, len, BATON_ERR_BADCRC, "header: tree_crc32c", NULL);
	memcpy(img + 24, good + 24, 4);
	baton_image_free(parse_ok(img, len));
	free(img);
}

static void test_baton_image_tree(void **state)
{
	const void *tree;
	size_t len, tree_len;
	uint8_t *img = base_image(&len);

	(void)state;
	assert_int_equal(baton_image_tree(img, len, &tree, &tree_len, NULL),
			 0);
	assert_ptr_equal(tree, img + BATON_IMAGE_HEADER_SIZE);
	assert_int_equal(tree_len, len - BATON_IMAGE_HEADER_SIZE);
	assert_int_equal(baton_image_tree(img, len - 1, &tree, &tree_len,
					  NULL), -BATON_ERR_TRUNCATED);
	free(img);
}

/* ------------------------------------------------------------------ */
/* Tree structure */

/* A header around arbitrary tree bytes, with a correct CRC. */
static uint8_t *wrap(const void *tree, size_t tree_len, size_t *len)
{
	uint8_t *img = calloc(1, BATON_IMAGE_HEADER_SIZE + tree_len);

	assert_non_null(img);
	memcpy(img, BATON_IMAGE_MAGIC, BATON_IMAGE_MAGIC_LEN);
	baton_put_be32(img + BATON_IMAGE_OFF_VERSION, 1);
	baton_put_be32(img + BATON_IMAGE_OFF_HEADER_SIZE, 64);
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE, tree_len);
	memcpy(img + BATON_IMAGE_HEADER_SIZE, tree, tree_len);
	reseal(img);
	*len = BATON_IMAGE_HEADER_SIZE + tree_len;
	return img;
}

static void test_tree_not_fdt(void **state)
{
	uint8_t junk[256];
	uint8_t *img;
	size_t len;

	(void)state;
	memset(junk, 0x42, sizeof(junk));
	img = wrap(junk, sizeof(junk), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", "FDT_ERR_BADMAGIC");
	free(img);
}

/* Shorter than an FDT header: refused without reading past the buffer. */
static void test_tree_too_short(void **state)
{
	static const uint8_t magic[] = { 0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8 };
	uint8_t *img;
	size_t len;

	(void)state;
	img = wrap(magic, sizeof(magic), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/",
		      "shorter than an FDT header");
	free(img);
}

static void test_tree_truncated(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	/* tree_size says less than the FDT's totalsize. */
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE,
		       len - BATON_IMAGE_HEADER_SIZE - 8);
	reseal(img);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", "FDT_ERR_TRUNCATED");
	free(img);
}

static void test_tree_totalsize(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	img = realloc(img, len + 8);
	assert_non_null(img);
	memset(img + len, 0, 8);
	baton_put_be64(img + BATON_IMAGE_OFF_TREE_SIZE,
		       len + 8 - BATON_IMAGE_HEADER_SIZE);
	reseal(img);
	expect_err_at(img, len + 8, BATON_ERR_BADTREE, "/",
		      "differs from the header's tree_size");
	free(img);
}

/*
 * Before version 16 names were paths; libfdt 1.6.1's fdt_check_full()
 * crashes on some of those trees, so they are refused before it looks.
 */
static void test_tree_old_version(void **state)
{
	static const uint32_t versions[] = { 16, 2 };
	size_t len;
	uint8_t *img = base_image(&len);
	uint8_t *fdt = img + BATON_IMAGE_HEADER_SIZE;

	(void)state;
	for (size_t i = 0; i < BATON_ARRAY_SIZE(versions); i++) {
		/* struct fdt_header's version and last_comp_version */
		baton_put_be32(fdt + 20, versions[i]);
		baton_put_be32(fdt + 24, versions[i]);
		reseal(img);
		expect_err_at(img, len, BATON_ERR_BADTREE, "/",
			      "expected at least 17");
	}
	free(img);
}

/*
 * A property length that wraps libfdt 1.6.1's offsets back onto the
 * property, or behind it, would make fdt_check_full() loop for ever.
 */
static void test_tree_wrapping_length(void **state)
{
	static const uint32_t lens[] = { 0xfffffff4, 0xfffffff0, 0x80000000 };
	size_t len;
	uint8_t *img = base_image(&len);
	uint8_t *fdt = img + BATON_IMAGE_HEADER_SIZE;
	uint8_t *prop;
	int off;

	(void)state;
	/* The root's first property: tag, then len, then name offset. */
	off = fdt_first_property_offset(fdt, 0);
	assert_true(off > 0);
	prop = fdt + fdt_off_dt_struct(fdt) + off;
	assert_int_equal(baton_get_be32(prop), FDT_PROP);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(lens); i++) {
		baton_put_be32(prop + 4, lens[i]);
		reseal(img);
		expect_err_at(img, len, BATON_ERR_BADTREE, "/",
			      "malformed device tree");
	}
	free(img);
}

/*
 * A device's properties are walked over in one pass and read later
 * (baton_fdt_skip_props()): each is checked all the same, its length
 * against what is left and its name within the strings block.
 */
static void test_tree_child_prop_checked(void **state)
{
	static const uint32_t lens[] = { 0xfffffff4, 0x80000000 };
	size_t len;
	uint8_t *img = base_image(&len);
	uint8_t *fdt = img + BATON_IMAGE_HEADER_SIZE;
	uint8_t *prop;
	char what[64];
	int off;

	(void)state;
	off = fdt_first_property_offset(fdt, fdt_path_offset(fdt, "/devices/device@0"));
	assert_true(off > 0);
	prop = fdt + fdt_off_dt_struct(fdt) + off;
	assert_int_equal(baton_get_be32(prop), FDT_PROP);
	/* Refused where it is, not where its length would lead. */
	snprintf(what, sizeof(what), "FDT_ERR_TRUNCATED at offset %d ", off);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(lens); i++) {
		baton_put_be32(prop + 4, lens[i]);
		reseal(img);
		expect_err_at(img, len, BATON_ERR_BADTREE, "/", what);
	}
	free(img);

	img = base_image(&len);
	fdt = img + BATON_IMAGE_HEADER_SIZE;
	prop = fdt + fdt_off_dt_struct(fdt) + off;
	baton_put_be32(prop + 8, fdt_size_dt_strings(fdt));
	reseal(img);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", "FDT_ERR_BADOFFSET");
	free(img);
}

static void test_tree_two_roots(void **state)
{
	void *fdt = tree_with_root();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	assert_int_equal(fdt_property_string(fdt, "program", "hidden"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
	/* baton_image_pack() refuses it too; wrap it by hand. */
	assert_int_equal(baton_image_pack(fdt, fdt_totalsize(fdt), 0,
					  (void **)&img, &len),
			 -BATON_ERR_BADTREE);
	img = wrap(fdt, fdt_totalsize(fdt), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", NULL);
	free(img);
	free(fdt);
}

static void test_tree_named_root(void **state)
{
	void *fdt = new_tree();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, "root"), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
	img = wrap(fdt, fdt_totalsize(fdt), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", NULL);
	free(img);
	free(fdt);
}

/*
 * A property after a subnode: libfdt's property walk stops at the subnode
 * and would not see it, another reader would.
 */
static void test_tree_property_after_node(void **state)
{
	void *fdt = tree_with_root();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, "other"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_property_string(fdt, "exec-path", "/hidden"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
	img = wrap(fdt, fdt_totalsize(fdt), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", "FDT_ERR_BADSTRUCTURE");
	free(img);
	free(fdt);
}

/*
 * A child's value refused, and a malformed tree after it: the tree's
 * structure is the first rule, so that is what is said, though the
 * child came first in the walk.
 */
static void test_structure_before_values(void **state)
{
	void *fdt = new_tree();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	put_node(fdt, "fd@0", N(fd0_base), PROPS({ "kind", STR("nope") }));
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_property_string(fdt, "exec-path", "/hidden"), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_finish(fdt), 0);
	img = wrap(fdt, fdt_totalsize(fdt), &len);
	expect_err_at(img, len, BATON_ERR_BADTREE, "/", "FDT_ERR_BADSTRUCTURE");
	free(img);
	free(fdt);
}

/*
 * A block whose header says it ends a little early: the structure block
 * before its FDT_END, the strings block before the last name's NUL.
 */
static void test_tree_block_cut(void **state)
{
	/* struct fdt_header's size_dt_strings and size_dt_struct */
	static const struct { int field, by; } cuts[] = { { 32, 1 }, { 36, 4 } };

	(void)state;
	for (size_t i = 0; i < BATON_ARRAY_SIZE(cuts); i++) {
		size_t len;
		uint8_t *img = base_image(&len);
		uint8_t *fdt = img + BATON_IMAGE_HEADER_SIZE;

		/* Both blocks end where the tree does, nothing after them. */
		assert_int_equal(fdt_off_dt_strings(fdt) + fdt_size_dt_strings(fdt),
				 fdt_totalsize(fdt));
		baton_put_be32(fdt + cuts[i].field,
			       baton_get_be32(fdt + cuts[i].field) - cuts[i].by);
		reseal(img);
		expect_err_at(img, len, BATON_ERR_BADTREE, "/",
			      "FDT_ERR_TRUNCATED");
		free(img);
	}
}

/* NOPs, which is what libfdt leaves of a deleted property or node. */
static void test_tree_nops_skipped(void **state)
{
	struct baton_image *out;
	size_t len;
	uint8_t *img = base_image(&len);
	uint8_t *fdt = img + BATON_IMAGE_HEADER_SIZE;

	(void)state;
	assert_int_equal(fdt_nop_property(fdt, 0, "program"), 0);
	assert_int_equal(fdt_nop_node(fdt, fdt_path_offset(fdt, "/regions")),
			 0);
	reseal(img);
	expect_err_at(img, len, BATON_ERR_MISSING, "/: program", NULL);

	free(img);
	img = base_image(&len);
	fdt = img + BATON_IMAGE_HEADER_SIZE;
	assert_int_equal(fdt_nop_node(fdt, fdt_path_offset(fdt, "/devices")),
			 0);
	reseal(img);
	assert_int_equal(baton_image_parse(img, len, &out, NULL), 0);
	assert_int_equal(out->n_fds, 2);
	assert_int_equal(out->n_regions, 2);
	assert_int_equal(out->n_devices, 0);
	baton_image_free(out);
	free(img);

	/* Among a device's properties: those after it are read all the same. */
	img = base_image(&len);
	fdt = img + BATON_IMAGE_HEADER_SIZE;
	assert_int_equal(fdt_nop_property(fdt, fdt_path_offset(fdt, "/devices/device@0"),
					  "schema-name"), 0);
	reseal(img);
	assert_int_equal(baton_image_parse(img, len, &out, NULL), 0);
	assert_null(out->devices[0].schema_name);
	assert_int_equal(out->devices[0].schema_version, 3);
	assert_int_equal(out->devices[0].n_fds, 2);
	assert_int_equal(out->devices[0].orphan, BATON_ORPHAN_RESET);
	assert_true(out->devices[0].mandatory);
	baton_image_free(out);
	free(img);
}

/* ------------------------------------------------------------------ */
/* Root */

static void test_compatible_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT(OMIT("compatible"))), BATON_ERR_BADCOMPAT,
		       "/: compatible", "no compatible");
}

static void test_compatible_wrong(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT({ "compatible", STR("baton,image-v2") })),
		       BATON_ERR_BADCOMPAT, "/: compatible",
		       "compatible is \"baton,image-v2\", expected \"baton,image-v1\"");
	/* A string list is not exactly the one string. */
	expect_variant(VARIANT(ROOT({ "compatible",
				      STR("baton,image-v1\0other") })),
		       BATON_ERR_BADCOMPAT, "/: compatible", NULL);
	expect_variant(VARIANT(ROOT({ "compatible", STR("baton,image-v") })),
		       BATON_ERR_BADCOMPAT, "/: compatible", NULL);
}

/* Refused as BADCOMPAT before any other rule is looked at. */
static void test_compatible_first(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT({ "compatible", STR("vendor,board") },
				    OMIT("program")),
			       DEVICE(OMIT("bus"))),
		       BATON_ERR_BADCOMPAT, "/: compatible", NULL);
}

static void test_program_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT(OMIT("program"))), BATON_ERR_MISSING,
		       "/: program", "missing required property 'program'");
}

static void test_program_not_string(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT({ "program", BYTES('a', 'b') })),
		       BATON_ERR_BADVALUE, "/: program",
		       "not a single NUL-terminated string");
}

static void test_root_duplicate_property(void **state)
{
	(void)state;
	expect_variant(VARIANT(ROOT({ "program", STR("a") },
				    { "program", STR("b") })),
		       BATON_ERR_DUPLICATE, "/: program", "appears twice");
}

static void test_container_twice(void **state)
{
	(void)state;
	expect_variant(VARIANT(.extra_root_child = "devices"),
		       BATON_ERR_DUPLICATE, "/devices", "appears twice");
}

/* ------------------------------------------------------------------ */
/* Children of the containers */

static void test_unexpected_node(void **state)
{
	(void)state;
	expect_variant(VARIANT(.fd_name = "file@1"), BATON_ERR_BADVALUE,
		       "/fds/file@1", "unexpected node 'file@1' in /fds");
	expect_variant(VARIANT(.fd_name = "fd"), BATON_ERR_BADVALUE,
		       "/fds/fd", "unexpected node");
	expect_variant(VARIANT(.fd_name = "fd@"), BATON_ERR_BADVALUE,
		       "/fds/fd@", "unexpected node");
	expect_variant(VARIANT(.fd_name = "fd@1g"), BATON_ERR_BADVALUE,
		       "/fds/fd@1g", "unexpected node");
	expect_variant(VARIANT(.fd_name = "fd@0x1"), BATON_ERR_BADVALUE,
		       "/fds/fd@0x1", "unexpected node");
	expect_variant(VARIANT(.fd_name = "fd@123456789"), BATON_ERR_BADVALUE,
		       "/fds/fd@123456789", "unexpected node");
	expect_variant(VARIANT(.region_name = "device@1"), BATON_ERR_BADVALUE,
		       "/regions/device@1", "expected region@<hex index>");
	expect_variant(VARIANT(.device_name = "dev@1"), BATON_ERR_BADVALUE,
		       "/devices/dev@1", "expected device@<hex index>");
}

/* Unit addresses compare as numbers: fd@00 is fd@0. */
static void test_duplicate_index(void **state)
{
	(void)state;
	expect_variant(VARIANT(.fd_name = "fd@00"), BATON_ERR_DUPLICATE,
		       "/fds/fd@00", "unit address 0x0 already used by /fds/fd@0");
	expect_variant(VARIANT(.region_name = "region@0"), BATON_ERR_DUPLICATE,
		       "/regions/region@0", "already used by /regions/region@0");
	expect_variant(VARIANT(.device_name = "device@0"), BATON_ERR_DUPLICATE,
		       "/devices/device@0", "already used by /devices/device@0");
}

/* Of several repeats, the first node in tree order that repeats one. */
static void test_first_duplicate_reported(void **state)
{
	static const char *const names[] = {
		"fd@5", "fd@7", "fd@3", "fd@07", "fd@3", "fd@5",
	};
	void *fdt = new_tree();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(names); i++)
		put_node(fdt, names[i], N(fd0_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	img = pack(fdt, &len);
	expect_err_at(img, len, BATON_ERR_DUPLICATE, "/fds/fd@07",
		      "already used by /fds/fd@7");
	free(img);
}

/* ------------------------------------------------------------------ */
/* fds */

static void test_fd_token_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD(OMIT("token"))), BATON_ERR_MISSING,
		       "/fds/fd@1: token", NULL);
}

static void test_fd_kind_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD(OMIT("kind"))), BATON_ERR_MISSING,
		       "/fds/fd@1: kind", NULL);
}

static void test_fd_token_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "token", BYTES(BE32(1)) })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: token",
		       "'token' is 4 bytes, expected 8");
	expect_variant(VARIANT(FD({ "token", BYTES(0, 0, 0, 0, 0, 0, 0, 0,
						    1) })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: token", NULL);
}

static void test_fd_kind_unknown(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "kind", STR("dmabuf") })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind",
		       "unknown fd kind \"dmabuf\"");
	expect_variant(VARIANT(FD({ "kind", STR("") })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind", NULL);
}

static void test_fd_kind_not_string(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "kind", BYTES('p', 'i', 'p', 'e') })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind",
		       "not a single NUL-terminated string");
	expect_variant(VARIANT(FD({ "kind", STR("pipe\0pipe") })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind", NULL);
	expect_variant(VARIANT(FD({ "kind", BYTES() })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind", NULL);
}

static void test_fd_every_kind(void **state)
{
	struct baton_image *img;
	const char *name;
	size_t len;
	void *buf;

	(void)state;
	for (int k = 0; (name = baton_fd_kind_name(k)); k++) {
		buf = build(VARIANT(FD({ "kind", name, strlen(name) + 1 })),
			    &len);
		img = parse_ok(buf, len);
		assert_int_equal(img->fds[1].kind, k);
		baton_image_free(img);
		free(buf);
	}
	assert_null(baton_fd_kind_name(BATON_FD_IOMMUFD + 1));
	assert_string_equal(baton_fd_kind_name(BATON_FD_VFIO_CONTAINER),
			    "vfio-container");
	/* After OTHER, so that no earlier value changed (the ABI). */
	assert_int_equal(BATON_FD_OTHER, 6);
	assert_string_equal(baton_fd_kind_name(BATON_FD_VFIO_GROUP), "vfio-group");
	assert_string_equal(baton_fd_kind_name(BATON_FD_IOMMUFD), "iommufd");
}

static void test_fd_duplicate_token(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "token", BYTES(BE32(0), BE32(0x10)) })),
		       BATON_ERR_DUPLICATE, "/fds/fd@1: token",
		       "token 0x0000000000000010 already used by /fds/fd@0");
}

static void test_fd_session(void **state)
{
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(FD({ "session", STR("dev0") })), &len);
	img = parse_ok(buf, len);
	assert_string_equal(img->fds[0].session, "");
	assert_string_equal(img->fds[1].session, "dev0");
	assert_true(img->fds[1].token == 0x0102030405060708ull);
	assert_int_equal(img->fds[1].kind, BATON_FD_VFIO_DEVICE);
	baton_image_free(img);
	free(buf);
}

static void test_fd_session_not_string(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "session", BYTES('d', 'e', 'v') })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: session",
		       "'session' is not a single NUL-terminated string");
	expect_variant(VARIANT(FD({ "session", STR("dev0\0dev1") })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: session", NULL);
	expect_variant(VARIANT(FD({ "session", BYTES() })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: session", NULL);
	/* After kind, in the order of the table. */
	expect_variant(VARIANT(FD({ "session", BYTES() },
				  { "kind", STR("dmabuf") })),
		       BATON_ERR_BADVALUE, "/fds/fd@1: kind", NULL);
	expect_variant(VARIANT(FD({ "session", STR("a") },
				  { "session", STR("b") })),
		       BATON_ERR_DUPLICATE, "/fds/fd@1: session",
		       "property 'session' appears twice");
}

/* fd@0's token, 0x10, in another session, or in the default one spelt "". */
static void test_fd_token_across_sessions(void **state)
{
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(FD({ "token", BYTES(BE32(0), BE32(0x10)) },
			       { "session", STR("dev0") })), &len);
	img = parse_ok(buf, len);
	assert_true(img->fds[0].token == img->fds[1].token);
	baton_image_free(img);
	free(buf);

	expect_variant(VARIANT(FD({ "token", BYTES(BE32(0), BE32(0x10)) },
				  { "session", STR("") })),
		       BATON_ERR_DUPLICATE, "/fds/fd@1: token",
		       "token 0x0000000000000010 already used by /fds/fd@0");
}

/* A tree of fds only: fd@<i> with tokens[i] and, unless NULL, sessions[i]. */
static void *build_fds(const uint64_t *tokens, size_t n,
		       const char *const *sessions, size_t *len)
{
	void *fdt = new_tree();
	char name[16];

	assert_int_equal(fdt_begin_node(fdt, ""), 0);
	put_props(fdt, N(root_base), NULL, 0);
	assert_int_equal(fdt_begin_node(fdt, "fds"), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "fd@%zx", i);
		assert_int_equal(fdt_begin_node(fdt, name), 0);
		assert_int_equal(fdt_property_u64(fdt, "token", tokens[i]), 0);
		assert_int_equal(fdt_property_string(fdt, "kind", "memfd"), 0);
		if (sessions[i])
			assert_int_equal(fdt_property_string(fdt, "session",
							     sessions[i]), 0);
		assert_int_equal(fdt_end_node(fdt), 0);
	}
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	return pack(fdt, len);
}

/* Those fds parse, or fail with exactly @err at @where (if @err). */
static void expect_fds(const uint64_t *tokens, size_t n,
		       const char *const *sessions, int err, const char *where,
		       const char *what)
{
	size_t len;
	void *img = build_fds(tokens, n, sessions, &len);

	if (err)
		expect_err_at(img, len, err, where, what);
	else
		baton_image_free(parse_ok(img, len));
	free(img);
}

static void test_fd_duplicate_token_in_session(void **state)
{
	static const uint64_t tokens[] = { 0x10, 0x10, 0x10 };
	static const char *const sessions[] = { "dev0", "dev1", "dev0" };

	(void)state;
	expect_fds(N(tokens), sessions, BATON_ERR_DUPLICATE, "/fds/fd@2: token",
		   "token 0x0000000000000010 in session \"dev0\" already used by /fds/fd@0");
}

/*
 * Of several repeated (token, session) pairs, the first node in tree order
 * that repeats one - here not the one that sorts first - and the node it
 * repeats.
 */
static void test_fd_first_duplicate_token_reported(void **state)
{
	static const uint64_t tokens[] = { 1, 1, 2, 1, 2, 2, 1 };
	static const char *const sessions[] = { "a", "b", "a", NULL, "b",
						"a", "b" };

	(void)state;
	expect_fds(N(tokens), sessions, BATON_ERR_DUPLICATE, "/fds/fd@5: token",
		   "token 0x0000000000000002 in session \"a\" already used by /fds/fd@2");
}

/*
 * Writers usually go in order, and the reader then skips the sort: the
 * session is part of what must increase, so a pair repeated next to
 * itself is still caught, and sessions out of order under one token are
 * still sorted.
 */
static void test_fd_sessions_in_order(void **state)
{
	static const uint64_t increasing[] = { 1, 1, 1, 2, 3 };
	static const char *const increasing_s[] = { NULL, "a", "b", "a", "" };
	static const uint64_t repeat[] = { 1, 1, 1, 2 };
	static const char *const repeat_s[] = { NULL, "a", "a", "a" };
	static const uint64_t backwards[] = { 1, 1, 1 };
	static const char *const backwards_s[] = { "b", "a", NULL };
	static const char *const apart_s[] = { "b", "a", "b" };

	(void)state;
	expect_fds(N(increasing), increasing_s, 0, NULL, NULL);
	expect_fds(N(repeat), repeat_s, BATON_ERR_DUPLICATE, "/fds/fd@2: token",
		   "token 0x0000000000000001 in session \"a\" already used by /fds/fd@1");
	expect_fds(N(backwards), backwards_s, 0, NULL, NULL);
	/* Tokens in order, a repeated pair apart: only sorting brings them together. */
	expect_fds(N(backwards), apart_s, BATON_ERR_DUPLICATE, "/fds/fd@2: token",
		   "token 0x0000000000000001 in session \"b\" already used by /fds/fd@0");
}

/*
 * As a host writes them: each session's fds together, sessions in order of
 * name, tokens in the order they were preserved.  A repeat is found within
 * its session, the first in tree order, against its first occurrence; a
 * session longer than the reader compares pairwise still has its repeats
 * found.
 */
static void test_fd_sessions_grouped(void **state)
{
	static const uint64_t ok[] = { 2, 1, 2, 3, 1, 2, 3, 1 };
	static const char *const ok_s[] = { NULL, "", "0000:01:00.0", "0000:01:00.0",
					    "0000:01:00.0", "0000:01:01.0",
					    "0000:01:01.0", "0000:01:01.0" };
	static const uint64_t twice[] = { 2, 1, 2, 3, 2, 2, 3, 3 };
	uint64_t many[40];
	const char *many_s[40];

	(void)state;
	expect_fds(N(ok), ok_s, 0, NULL, NULL);
	/* fd@4 repeats fd@2; fd@7 repeats fd@6, later. */
	expect_fds(N(twice), ok_s, BATON_ERR_DUPLICATE, "/fds/fd@4: token",
		   "token 0x0000000000000002 in session \"0000:01:00.0\" already "
		   "used by /fds/fd@2");
	for (size_t i = 0; i < BATON_ARRAY_SIZE(many); i++) {
		many[i] = 100 - i;
		many_s[i] = "kv";
	}
	expect_fds(N(many), many_s, 0, NULL, NULL);
	many[39] = 100 - 1;
	expect_fds(N(many), many_s, BATON_ERR_DUPLICATE, "/fds/fd@27: token",
		   "token 0x0000000000000063 in session \"kv\" already used by /fds/fd@1");
}

/* A long session is cut short in the message, not what follows it. */
static void test_fd_duplicate_token_long_session(void **state)
{
	static const uint64_t tokens[] = { 7, 7 };
	char name[201], want[128];
	const char *const sessions[] = { name, name };

	(void)state;
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(want, sizeof(want), "in session \"%.64s...\" already used by /fds/fd@0",
		 name);
	expect_fds(N(tokens), sessions, BATON_ERR_DUPLICATE, "/fds/fd@1: token",
		   want);
}

static void test_fd_duplicate_property(void **state)
{
	(void)state;
	expect_variant(VARIANT(FD({ "kind", STR("pipe") },
				  { "kind", STR("memfd") })),
		       BATON_ERR_DUPLICATE, "/fds/fd@1: kind",
		       "property 'kind' appears twice");
}

/* ------------------------------------------------------------------ */
/* regions */

static void test_region_fd_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION(OMIT("fd"))), BATON_ERR_MISSING,
		       "/regions/region@2: fd", NULL);
}

static void test_region_size_missing(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION(OMIT("size"))), BATON_ERR_MISSING,
		       "/regions/region@2: size", NULL);
}

static void test_region_fd_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION({ "fd", BYTES(0, 0, 0, 0, 0, 0, 0, 1) })),
		       BATON_ERR_BADVALUE, "/regions/region@2: fd",
		       "'fd' is 8 bytes, expected 4");
}

static void test_region_size_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION({ "size", BYTES(BE32(0x1000)) })),
		       BATON_ERR_BADVALUE, "/regions/region@2: size",
		       "'size' is 4 bytes, expected 8");
}

static void test_region_label_not_string(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION({ "label", BYTES('r', 'x') })),
		       BATON_ERR_BADVALUE, "/regions/region@2: label", NULL);
}

static void test_region_fd_dangling(void **state)
{
	(void)state;
	expect_variant(VARIANT(REGION({ "fd", BYTES(BE32(2)) })),
		       BATON_ERR_BADREF, "/regions/region@2: fd",
		       "refers to /fds/fd@2, which does not exist");
}

/* No fds container at all: every fd reference dangles. */
static void test_region_without_fds(void **state)
{
	void *fdt = tree_with_root();
	uint8_t *img;
	size_t len;

	(void)state;
	assert_int_equal(fdt_begin_node(fdt, "regions"), 0);
	put_node(fdt, "region@0", N(region0_base), NULL, 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	assert_int_equal(fdt_end_node(fdt), 0);
	img = pack(fdt, &len);
	expect_err_at(img, len, BATON_ERR_BADREF, "/regions/region@0: fd",
		      NULL);
	free(img);
}

/* ------------------------------------------------------------------ */
/* devices */

static void test_device_required(void **state)
{
	static const char *const required[] = {
		"bus", "address", "ids", "schema",
	};
	char where[64];

	(void)state;
	for (size_t i = 0; i < BATON_ARRAY_SIZE(required); i++) {
		snprintf(where, sizeof(where), "/devices/device@1: %s",
			 required[i]);
		expect_variant(VARIANT(DEVICE(OMIT(required[i]))),
			       BATON_ERR_MISSING, where,
			       "missing required property");
	}
}

/* Missing comes before wrong: all present first, then each in order. */
static void test_device_check_order(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "bus", STR("usb") }, OMIT("schema"))),
		       BATON_ERR_MISSING, "/devices/device@1: schema", NULL);
	expect_variant(VARIANT(DEVICE({ "orphan", STR("never") },
				      { "bus", STR("usb") })),
		       BATON_ERR_BADVALUE, "/devices/device@1: bus", NULL);
}

static void test_device_bus(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "bus", STR("usb") })),
		       BATON_ERR_BADVALUE, "/devices/device@1: bus",
		       "unknown bus \"usb\"");
	expect_variant(VARIANT(DEVICE({ "bus", STR("pc\0i") })),
		       BATON_ERR_BADVALUE, "/devices/device@1: bus",
		       "not a single NUL-terminated string");
	expect_variant(VARIANT(DEVICE({ "bus", BYTES('p', 'c', 'i') })),
		       BATON_ERR_BADVALUE, "/devices/device@1: bus", NULL);
}

static void test_device_address_malformed(void **state)
{
	static const char *const bad[] = {
		"0000:00:02", "0000:00:20.0", "0000:00:02.8", "00:02.0",
		"0000:00:02.0 ", "g000:00:02.0", "0000-00-02-0", "",
	};

	(void)state;
	for (size_t i = 0; i < BATON_ARRAY_SIZE(bad); i++)
		expect_variant(VARIANT(DEVICE({ "address", bad[i],
						strlen(bad[i]) + 1 })),
			       BATON_ERR_BADVALUE,
			       "/devices/device@1: address",
			       "is not of the form DDDD:BB:DD.F");
}

static void test_device_address_duplicate(void **state)
{
	(void)state;
	/* Numerically equal, spelt differently. */
	expect_variant(VARIANT(DEVICE({ "address", STR("0000:00:01.0") })),
		       BATON_ERR_DUPLICATE, "/devices/device@1: address",
		       "address 0000:00:01.0 already used by /devices/device@0");
	expect_variant(VARIANT(DEVICE({ "address", STR("0000:00:01.0") }),
			       .device_name = "device@ab"),
		       BATON_ERR_DUPLICATE, "/devices/device@ab: address", NULL);
}

static void test_device_address_case(void **state)
{
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	buf = build(VARIANT(DEVICE({ "address", STR("ABCD:EF:1A.3") })), &len);
	img = parse_ok(buf, len);
	assert_int_equal(img->devices[1].addr.domain, 0xabcd);
	assert_int_equal(img->devices[1].addr.bus, 0xef);
	assert_int_equal(img->devices[1].addr.dev, 0x1a);
	assert_int_equal(img->devices[1].addr.fn, 3);
	baton_image_free(img);
	free(buf);
}

static void test_device_ids_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "ids", BYTES(BE32(1), BE32(2),
						     BE32(3), BE32(4)) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: ids",
		       "'ids' is 16 bytes, expected 20");
	expect_variant(VARIANT(DEVICE({ "ids", BYTES(BE32(1), BE32(2),
						     BE32(3), BE32(4), BE32(5),
						     BE32(6)) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: ids", NULL);
}

static void test_device_schema_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "schema", guid_a, 15 })),
		       BATON_ERR_BADVALUE, "/devices/device@1: schema",
		       "'schema' is 15 bytes, expected 16");
	expect_variant(VARIANT(DEVICE({ "schema", STR("0123456789abcdef") })),
		       BATON_ERR_BADVALUE, "/devices/device@1: schema",
		       "'schema' is 17 bytes, expected 16");
}

static void test_device_schema_name(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "schema-name", BYTES('e', 'd', 'u') })),
		       BATON_ERR_BADVALUE, "/devices/device@1: schema-name",
		       NULL);
}

static void test_device_schema_version(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "schema-version",
					BYTES(BE32(0), BE32(1)) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: schema-version",
		       "'schema-version' is 8 bytes, expected 4");
}

static void test_device_state_without_crc(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "state", BYTES(1, 2, 3) })),
		       BATON_ERR_MISSING, "/devices/device@1: state-crc",
		       "'state' without 'state-crc'");
}

static void test_device_crc_without_state(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "state-crc", BYTES(BE32(0)) })),
		       BATON_ERR_MISSING, "/devices/device@1: state",
		       "'state-crc' without 'state'");
}

static void test_device_state_crc_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "state", BYTES(1, 2, 3, 4, 5) },
				      { "state-crc", BYTES(0x53, 0x51, 0x8f) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: state-crc",
		       "'state-crc' is 3 bytes, expected 4");
}

static void test_device_state_crc_mismatch(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "state", BYTES(1, 2, 3, 4, 6) },
				      { "state-crc", BYTES(BE32(0x53518fab)) })),
		       BATON_ERR_STATECRC, "/devices/device@1: state-crc",
		       "state-crc mismatch: stored 0x53518fab, computed 0x");
}

static void test_device_state_crc_match(void **state)
{
	const uint8_t payload[] = { 0xde, 0xad, 0xbe, 0xef };
	uint8_t crc[4];
	struct baton_image *img;
	size_t len;
	void *buf;

	(void)state;
	baton_put_be32(crc, baton_crc32c(payload, sizeof(payload)));
	buf = build(VARIANT(DEVICE({ "state", payload, sizeof(payload) },
				   { "state-crc", crc, 4 })), &len);
	img = parse_ok(buf, len);
	assert_int_equal(img->devices[1].state_size, 4);
	assert_memory_equal(img->devices[1].state, payload, 4);
	baton_image_free(img);
	free(buf);
}

static void test_device_refs_length(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "fds", BYTES(0, 0, 0, 0, 0, 1) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: fds",
		       "'fds' is 6 bytes, not a multiple of 4");
	expect_variant(VARIANT(DEVICE({ "regions", BYTES(0, 0, 1) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: regions", NULL);
}

static void test_device_fds_dangling(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "fds", BYTES(BE32(0), BE32(1),
						     BE32(0x1000)) })),
		       BATON_ERR_BADREF, "/devices/device@1: fds",
		       "refers to /fds/fd@1000, which does not exist");
}

static void test_device_regions_dangling(void **state)
{
	(void)state;
	/* fd@1 exists, region@1 does not: indices are per container. */
	expect_variant(VARIANT(DEVICE({ "regions", BYTES(BE32(1)) })),
		       BATON_ERR_BADREF, "/devices/device@1: regions",
		       "refers to /regions/region@1, which does not exist");
	expect_variant(VARIANT(DEVICE({ "fds", BYTES(BE32(2)) })),
		       BATON_ERR_BADREF, "/devices/device@1: fds",
		       "refers to /fds/fd@2, which does not exist");
}

static void test_device_orphan(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "orphan", STR("ignore") })),
		       BATON_ERR_BADVALUE, "/devices/device@1: orphan",
		       "unknown orphan policy \"ignore\"");
	expect_variant(VARIANT(DEVICE({ "orphan", BYTES(1) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: orphan", NULL);
	assert_string_equal(baton_orphan_name(BATON_ORPHAN_RESET), "reset");
	assert_null(baton_orphan_name(BATON_ORPHAN_RESET + 1));
}

static void test_device_mandatory_not_flag(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "mandatory", BYTES(BE32(1)) })),
		       BATON_ERR_BADVALUE, "/devices/device@1: mandatory",
		       "'mandatory' is a flag");
}

static void test_device_duplicate_property(void **state)
{
	(void)state;
	expect_variant(VARIANT(DEVICE({ "state", BYTES(1) },
				      { "state-crc", BYTES(BE32(0)) },
				      { "state", BYTES(2) })),
		       BATON_ERR_DUPLICATE, "/devices/device@1: state", NULL);
}

/* ------------------------------------------------------------------ */
/* Hostile input: nothing read outside the buffer (run under ASan). */

static void test_every_truncation(void **state)
{
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	for (size_t n = 0; n < len; n++) {
		/* A buffer of exactly n bytes, so ASan sees any overrun. */
		uint8_t *cut = malloc(n ? n : 1);
		struct baton_image *out;

		memcpy(cut, img, n);
		assert_true(baton_image_parse(cut, n, &out, NULL) < 0);
		free(cut);
	}
	free(img);
}

/* Flip each bit of the tree in turn, past the CRC: clean verdicts only. */
static void test_every_bit_flip(void **state)
{
	struct baton_image *out;
	size_t len;
	uint8_t *img = base_image(&len);

	(void)state;
	for (size_t i = BATON_IMAGE_HEADER_SIZE; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			img[i] ^= 1 << bit;
			reseal(img);
			if (baton_image_parse(img, len, &out, NULL) == 0)
				baton_image_free(out);
			img[i] ^= 1 << bit;
		}
	}
	reseal(img);
	baton_image_free(parse_ok(img, len));
	free(img);
}

/*
 * The fuzzer's seeds, including inputs it once crashed on: valid-* parse,
 * bad-* are refused, and neither reads outside its buffer.
 */
static void test_fuzz_corpus(void **state)
{
	const char *dir_name = BATON_SOURCE_DIR "/tests/fuzz/corpus";
	struct dirent *e;
	int seen = 0;
	DIR *dir;

	(void)state;
	dir = opendir(dir_name);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		struct baton_image *img;
		char path[512];
		uint8_t *buf;
		long len;
		FILE *f;
		int err;

		if (!strstr(e->d_name, ".img"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_name, e->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		len = ftell(f);
		rewind(f);
		buf = malloc(len);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, len, f), len);
		fclose(f);

		err = baton_image_parse(buf, len, &img, NULL);
		if (!strncmp(e->d_name, "valid-", 6)) {
			if (err)
				fail_msg("%s: %s", e->d_name,
					 baton_strerror(err));
			baton_image_free(img);
		} else if (!err) {
			fail_msg("%s parses", e->d_name);
		}
		free(buf);
		seen++;
	}
	closedir(dir);
	assert_true(seen >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_image),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit_values),
		cmocka_unit_test(test_containers_optional),
		cmocka_unit_test(test_unknown_ignored),
		cmocka_unit_test(test_trailing_bytes_ignored),
		cmocka_unit_test(test_tree_order),
		cmocka_unit_test(test_containers_any_order),
		cmocka_unit_test(test_aligned_points_into_buffer),
		cmocka_unit_test(test_unaligned_buffer),
		cmocka_unit_test(test_arrays_fit),
		cmocka_unit_test(test_free_null),

		cmocka_unit_test(test_header_truncated),
		cmocka_unit_test(test_header_magic),
		cmocka_unit_test(test_header_version),
		cmocka_unit_test(test_header_size),
		cmocka_unit_test(test_header_flags),
		cmocka_unit_test(test_header_reserved),
		cmocka_unit_test(test_header_tree_size_zero),
		cmocka_unit_test(test_header_tree_beyond_data),
		cmocka_unit_test(test_header_crc),
		cmocka_unit_test(test_header_order),
		cmocka_unit_test(test_baton_image_tree),

		cmocka_unit_test(test_tree_not_fdt),
		cmocka_unit_test(test_tree_too_short),
		cmocka_unit_test(test_tree_truncated),
		cmocka_unit_test(test_tree_totalsize),
		cmocka_unit_test(test_tree_old_version),
		cmocka_unit_test(test_tree_wrapping_length),
		cmocka_unit_test(test_tree_two_roots),
		cmocka_unit_test(test_tree_named_root),
		cmocka_unit_test(test_tree_property_after_node),
		cmocka_unit_test(test_structure_before_values),
		cmocka_unit_test(test_tree_block_cut),
		cmocka_unit_test(test_tree_nops_skipped),
		cmocka_unit_test(test_tree_child_prop_checked),

		cmocka_unit_test(test_compatible_missing),
		cmocka_unit_test(test_compatible_wrong),
		cmocka_unit_test(test_compatible_first),
		cmocka_unit_test(test_program_missing),
		cmocka_unit_test(test_program_not_string),
		cmocka_unit_test(test_root_duplicate_property),
		cmocka_unit_test(test_container_twice),

		cmocka_unit_test(test_unexpected_node),
		cmocka_unit_test(test_duplicate_index),
		cmocka_unit_test(test_first_duplicate_reported),

		cmocka_unit_test(test_fd_token_missing),
		cmocka_unit_test(test_fd_kind_missing),
		cmocka_unit_test(test_fd_token_length),
		cmocka_unit_test(test_fd_kind_unknown),
		cmocka_unit_test(test_fd_kind_not_string),
		cmocka_unit_test(test_fd_every_kind),
		cmocka_unit_test(test_fd_duplicate_token),
		cmocka_unit_test(test_fd_session),
		cmocka_unit_test(test_fd_session_not_string),
		cmocka_unit_test(test_fd_token_across_sessions),
		cmocka_unit_test(test_fd_duplicate_token_in_session),
		cmocka_unit_test(test_fd_first_duplicate_token_reported),
		cmocka_unit_test(test_fd_sessions_in_order),
		cmocka_unit_test(test_fd_sessions_grouped),
		cmocka_unit_test(test_fd_duplicate_token_long_session),
		cmocka_unit_test(test_fd_duplicate_property),

		cmocka_unit_test(test_region_fd_missing),
		cmocka_unit_test(test_region_size_missing),
		cmocka_unit_test(test_region_fd_length),
		cmocka_unit_test(test_region_size_length),
		cmocka_unit_test(test_region_label_not_string),
		cmocka_unit_test(test_region_fd_dangling),
		cmocka_unit_test(test_region_without_fds),

		cmocka_unit_test(test_device_required),
		cmocka_unit_test(test_device_check_order),
		cmocka_unit_test(test_device_bus),
		cmocka_unit_test(test_device_address_malformed),
		cmocka_unit_test(test_device_address_duplicate),
		cmocka_unit_test(test_device_address_case),
		cmocka_unit_test(test_device_ids_length),
		cmocka_unit_test(test_device_schema_length),
		cmocka_unit_test(test_device_schema_name),
		cmocka_unit_test(test_device_schema_version),
		cmocka_unit_test(test_device_state_without_crc),
		cmocka_unit_test(test_device_crc_without_state),
		cmocka_unit_test(test_device_state_crc_length),
		cmocka_unit_test(test_device_state_crc_mismatch),
		cmocka_unit_test(test_device_state_crc_match),
		cmocka_unit_test(test_device_refs_length),
		cmocka_unit_test(test_device_fds_dangling),
		cmocka_unit_test(test_device_regions_dangling),
		cmocka_unit_test(test_device_orphan),
		cmocka_unit_test(test_device_mandatory_not_flag),
		cmocka_unit_test(test_device_duplicate_property),

		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_fuzz_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
