// SPDX-License-Identifier: MIT
/**
 * DOC: image reader
 *
 * baton_image_parse() validates a whole image before it returns anything,
 * and stops at the first problem with one message naming the node and the
 * property ("/devices/device@2: state-crc").  The checks, in the order they
 * are applied (docs/image-format.md is the normative list):
 *
 * 1. The header (baton_image_tree()).
 * 2. The tree's structure (baton_image_check_fdt()) and its totalsize,
 *    which must be the header's tree_size.
 * 3. The root: no known property twice, compatible exactly
 *    "baton,image-v1", program present and a string.
 * 4. The root's fds, regions and devices children, each optional and at
 *    most once.  Other children of the root are ignored.
 * 5. /fds, then /regions, then /devices (each refers only to the ones
 *    before it).  For each: every child is named <kind>@<hex>; no two share
 *    a unit address; then every child in tree order - no known property
 *    twice, required properties present, then each property in the order
 *    of the node's prop_spec table below; then values that must be unique
 *    across children (fd tokens within a session, device addresses).
 *
 * Properties this reader does not know are ignored, so later writers may
 * add optional ones without a new format version.
 *
 * Nothing is read outside the buffer: libfdt checks the structure, and
 * every property is used only through the length libfdt returns for it.
 * Keys that must be unique are sorted rather than hashed, so a hostile
 * image costs O(n log n) comparisons at worst.  A comparison of two fd
 * sessions, the one string in a key, reads no more than the shorter name.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"
#include "image-internal.h"

/* What baton_image_parse() allocates behind the struct it returns. */
struct parsed_image {
	struct baton_image img;
	void *tree_copy;	/* the tree, when the caller's was misaligned */
	uint32_t *refs;		/* each device's fds then regions, in order */
};

/*
 * A value that must be unique, and the position in tree order of its node.
 * A non-NULL @name is part of the value: an fd's token need only be unique
 * within its session, so two fds repeat only if both token and session do.
 */
struct key {
	uint64_t key;
	const char *name;	/* NULL: the value is @key alone */
	size_t pos;
};

/* /fds, /regions or /devices while it is read. */
struct container {
	const char *path;	/* "/fds" */
	const char *child;	/* "fd": children are fd@<hex> */
	int off;		/* -1 when the node is absent */
	size_t n;
	int *nodes;		/* the children's offsets, in tree order */
	uint32_t *units;	/* their unit addresses, in tree order */
	struct key *sorted;	/* the unit addresses, sorted, for lookups */
};

struct reader {
	const void *fdt;
	struct baton_diag *diag;
	struct parsed_image *pi;
	struct container fds, regions, devices;
	size_t n_refs, cap_refs;
};

struct prop_spec {
	const char *name;
	bool required;
};

struct prop {
	const void *val;	/* NULL when absent */
	int len;
};

/* A node being read: where it is, and its known properties. */
struct node {
	const struct reader *r;
	const char *parent;		/* "" for the root, "/fds", ... */
	int off;
	const struct prop_spec *spec;
	struct prop *props;
};

static struct parsed_image *to_parsed(struct baton_image *img)
{
	return (struct parsed_image *)((char *)img -
				       offsetof(struct parsed_image, img));
}

/* The name of @off, never NULL. */
static const char *name_of(const struct reader *r, int off, int *len)
{
	const char *name = fdt_get_name(r->fdt, off, len);

	if (!name)
		*len = 0;
	return name ? name : "";
}

/* Record @err at @n and property @prop (NULL: the node itself). */
static int __attribute__((format(printf, 4, 5)))
node_err(const struct node *n, const char *prop, int err, const char *fmt,
	 ...)
{
	char where[sizeof(n->r->diag->where)], what[sizeof(n->r->diag->what)];
	const char *name;
	int len;
	va_list ap;

	if (!n->r->diag)
		return -err;
	name = name_of(n->r, n->off, &len);
	snprintf(where, sizeof(where), "%s/%.*s%s%s", n->parent, len, name,
		 prop ? ": " : "", prop ? prop : "");
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return baton_diag_set(n->r->diag, err, where, "%s", what);
}

static int nomem(const struct reader *r)
{
	return baton_diag_set(r->diag, ENOMEM, NULL, NULL);
}

/* libfdt failing on a tree baton_image_check_fdt() accepted. */
static int fdt_err(const struct node *n, int err)
{
	return node_err(n, NULL, BATON_ERR_BADTREE, "malformed device tree: %s",
			fdt_strerror(err));
}

/*
 * Collect @n's known properties, refusing one that appears twice: libfdt
 * would see the first, another reader perhaps the last.
 */
static int collect_props(const struct node *n, size_t count)
{
	const char *name;
	const void *val;
	int off, len;

	memset(n->props, 0, count * sizeof(*n->props));
	fdt_for_each_property_offset(off, n->r->fdt, n->off) {
		val = fdt_getprop_by_offset(n->r->fdt, off, &name, &len);
		if (!val)
			return fdt_err(n, len);
		for (size_t i = 0; i < count; i++) {
			if (strcmp(name, n->spec[i].name))
				continue;
			if (n->props[i].val)
				return node_err(n, name, BATON_ERR_DUPLICATE,
						"property '%s' appears twice",
						name);
			n->props[i].val = val;
			n->props[i].len = len;
			break;
		}
	}
	if (off != -FDT_ERR_NOTFOUND)
		return fdt_err(n, off);
	return 0;
}

static int require_props(const struct node *n, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (n->spec[i].required && !n->props[i].val)
			return node_err(n, n->spec[i].name, BATON_ERR_MISSING,
					"missing required property '%s'",
					n->spec[i].name);
	return 0;
}

static int read_props(const struct node *n, size_t count)
{
	int err = collect_props(n, count);

	return err ? err : require_props(n, count);
}

/* One string: NUL-terminated within its length, no NUL before the end. */
static bool is_string(const struct prop *p)
{
	const char *s = p->val;

	return p->len > 0 && memchr(s, '\0', p->len) == s + p->len - 1;
}

/* The getters leave *@out alone when the (optional) property is absent. */
static int get_string(const struct node *n, int i, const char **out)
{
	const struct prop *p = &n->props[i];

	if (!p->val)
		return 0;
	if (!is_string(p))
		return node_err(n, n->spec[i].name, BATON_ERR_BADVALUE,
				"'%s' is not a single NUL-terminated string",
				n->spec[i].name);
	*out = p->val;
	return 0;
}

static int get_bytes(const struct node *n, int i, int len, const void **out)
{
	const struct prop *p = &n->props[i];

	if (!p->val)
		return 0;
	if (p->len != len)
		return node_err(n, n->spec[i].name, BATON_ERR_BADVALUE,
				"'%s' is %d bytes, expected %d",
				n->spec[i].name, p->len, len);
	*out = p->val;
	return 0;
}

static int get_u32(const struct node *n, int i, uint32_t *out)
{
	const void *v = NULL;
	int err = get_bytes(n, i, sizeof(uint32_t), &v);

	if (!err && v)
		*out = baton_get_be32(v);
	return err;
}

static int get_u64(const struct node *n, int i, uint64_t *out)
{
	const void *v = NULL;
	int err = get_bytes(n, i, sizeof(uint64_t), &v);

	if (!err && v)
		*out = baton_get_be64(v);
	return err;
}

/*
 * Order values by key, then by name (NULL sorting as ""); 0 when they are
 * the same value.  The one comparison the fast path, the sort and the
 * search for runs all use, so that they cannot disagree on what repeats.
 */
static int value_cmp(const struct key *x, const struct key *y)
{
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (!x->name && !y->name)
		return 0;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* Then by position, so that a run of equal values is in tree order. */
static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = value_cmp(x, y);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Sort @keys and find the first node, in tree order, whose key an earlier
 * node already has.  Return: whether there is one; then *@later is its
 * position and *@earlier that of the first node with the same key.
 */
static bool find_repeat(struct key *keys, size_t n, size_t *later,
			size_t *earlier)
{
	bool found = false;
	size_t i;

	/*
	 * Writers usually go in order: then one pass is enough.  Strictly
	 * increasing values are sorted and have no repeat.
	 */
	for (i = 1; i < n && value_cmp(&keys[i - 1], &keys[i]) < 0; i++)
		;
	if (i < n)
		qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 1; i < n; i++) {
		if (value_cmp(&keys[i], &keys[i - 1]))
			continue;
		/* keys[i - 1] heads the run: a later one is no earlier. */
		if (!found || keys[i].pos < *later) {
			*later = keys[i].pos;
			*earlier = keys[i - 1].pos;
			found = true;
		}
	}
	return found;
}

static bool has_unit(const struct container *c, uint32_t unit)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->sorted[mid].key == unit)
			return true;
		if (c->sorted[mid].key < unit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Parse <child>@<1 to 8 hex digits>; the name is NUL-terminated. */
static int unit_address(const struct node *n, const struct container *c,
			uint32_t *unit)
{
	size_t prefix = strlen(c->child), digits;
	const char *name;
	int len;

	name = name_of(n->r, n->off, &len);
	digits = (size_t)len > prefix + 1 ? len - prefix - 1 : 0;
	if (digits < 1 || digits > 8 || memcmp(name, c->child, prefix) ||
	    name[prefix] != '@' ||
	    strspn(name + prefix + 1, "0123456789abcdefABCDEF") != digits)
		return node_err(n, NULL, BATON_ERR_BADVALUE,
				"unexpected node '%.*s' in %s, expected %s@<hex index>",
				len, name, c->path, c->child);
	*unit = strtoul(name + prefix + 1, NULL, 16);
	return 0;
}

/* What is already taken by another node: "<what> already used by <node>". */
static int repeat_err(const struct reader *r, const struct container *c,
		      size_t later, size_t earlier, const char *prop,
		      const char *what)
{
	const struct node n = { .r = r, .parent = c->path,
				.off = c->nodes[later] };
	const char *name;
	int len;

	name = name_of(r, c->nodes[earlier], &len);
	return node_err(&n, prop, BATON_ERR_DUPLICATE,
			"%s already used by %s/%.*s", what, c->path, len,
			name);
}

static int check_ref(const struct node *n, const char *prop,
		     const struct container *c, uint32_t unit)
{
	if (has_unit(c, unit))
		return 0;
	return node_err(n, prop, BATON_ERR_BADREF,
			"refers to %s/%s@%x, which does not exist",
			c->path, c->child, unit);
}

/* Room for one more child in @c's arrays, which hold *@cap. */
static int grow_children(struct reader *r, struct container *c, size_t *cap)
{
	size_t want = *cap ? 2 * *cap : 16;
	int *nodes = realloc(c->nodes, want * sizeof(*nodes));
	uint32_t *units;
	struct key *sorted;

	if (!nodes)
		return nomem(r);
	c->nodes = nodes;
	units = realloc(c->units, want * sizeof(*units));
	if (!units)
		return nomem(r);
	c->units = units;
	sorted = realloc(c->sorted, want * sizeof(*sorted));
	if (!sorted)
		return nomem(r);
	c->sorted = sorted;
	*cap = want;
	return 0;
}

/*
 * Read the children of @c, which must have no two alike unit addresses.
 * One walk: the arrays grow as the children come (walking the tree is
 * most of what a parse costs, and a walk to count them first was a fifth
 * of it).
 */
static int read_children(struct reader *r, struct container *c)
{
	struct node n = { .r = r, .parent = c->path };
	size_t later, earlier, cap = 0, i;
	char what[32];
	int off, err;

	if (c->off < 0)
		return 0;
	fdt_for_each_subnode(off, r->fdt, c->off) {
		i = c->n;
		if (i == cap) {
			err = grow_children(r, c, &cap);
			if (err)
				return err;
		}
		n.off = off;
		err = unit_address(&n, c, &c->units[i]);
		if (err)
			return err;
		c->nodes[i] = off;
		c->sorted[i] = (struct key){ .key = c->units[i], .pos = i };
		c->n++;
	}

	if (!find_repeat(c->sorted, c->n, &later, &earlier))
		return 0;
	snprintf(what, sizeof(what), "unit address 0x%x", c->units[later]);
	return repeat_err(r, c, later, earlier, NULL, what);
}

/* The root's containers; each may be absent, none may appear twice. */
static int find_containers(struct reader *r)
{
	struct container *all[] = { &r->fds, &r->regions, &r->devices };
	struct node n = { .r = r, .parent = "" };
	const char *name;
	int off, len;

	fdt_for_each_subnode(off, r->fdt, 0) {
		name = name_of(r, off, &len);
		for (size_t i = 0; i < BATON_ARRAY_SIZE(all); i++) {
			const char *want = all[i]->path + 1;

			if ((size_t)len != strlen(want) ||
			    memcmp(name, want, len))
				continue;
			if (all[i]->off >= 0) {
				n.off = off;
				return node_err(&n, NULL, BATON_ERR_DUPLICATE,
						"node '%s' appears twice",
						want);
			}
			all[i]->off = off;
		}
	}
	return 0;
}

enum { ROOT_COMPATIBLE, ROOT_PROGRAM, ROOT_EXEC_PATH, ROOT_PROPS };

static const struct prop_spec root_spec[ROOT_PROPS] = {
	/* Required too, but refused as BADCOMPAT, before anything else. */
	[ROOT_COMPATIBLE] = { "compatible", false },
	[ROOT_PROGRAM] = { "program", true },
	[ROOT_EXEC_PATH] = { "exec-path", false },
};

static int read_root(struct reader *r)
{
	struct prop props[ROOT_PROPS];
	const struct node n = { r, "", 0, root_spec, props };
	const struct prop *compat = &props[ROOT_COMPATIBLE];
	int err;

	err = collect_props(&n, ROOT_PROPS);
	if (err)
		return err;
	if (!compat->val)
		return node_err(&n, "compatible", BATON_ERR_BADCOMPAT,
				"no compatible, expected \"%s\"",
				BATON_IMAGE_COMPATIBLE);
	if (!is_string(compat))
		return node_err(&n, "compatible", BATON_ERR_BADCOMPAT,
				"compatible is not a single string, expected \"%s\"",
				BATON_IMAGE_COMPATIBLE);
	if (strcmp(compat->val, BATON_IMAGE_COMPATIBLE))
		return node_err(&n, "compatible", BATON_ERR_BADCOMPAT,
				"compatible is \"%s\", expected \"%s\"",
				(const char *)compat->val,
				BATON_IMAGE_COMPATIBLE);

	err = require_props(&n, ROOT_PROPS) ?:
	      get_string(&n, ROOT_PROGRAM, &r->pi->img.program);
	if (!err && props[ROOT_EXEC_PATH].val)
		err = get_string(&n, ROOT_EXEC_PATH, &r->pi->img.exec_path);
	return err;
}

enum { FD_TOKEN, FD_KIND, FD_SESSION, FD_PROPS };

static const struct prop_spec fd_spec[FD_PROPS] = {
	[FD_TOKEN] = { "token", true },
	[FD_KIND] = { "kind", true },
	[FD_SESSION] = { "session", false },
};

static int get_fd_kind(const struct node *n, enum baton_fd_kind *out)
{
	const char *s = NULL, *name;
	int err = get_string(n, FD_KIND, &s);

	if (err)
		return err;
	for (int k = 0; (name = baton_fd_kind_name(k)); k++) {
		if (!strcmp(s, name)) {
			*out = k;
			return 0;
		}
	}
	return node_err(n, "kind", BATON_ERR_BADVALUE,
			"unknown fd kind \"%s\"", s);
}

static int read_fd(struct reader *r, size_t i)
{
	struct baton_image_fd *fd = &r->pi->img.fds[i];
	struct prop props[FD_PROPS];
	const struct node n = { r, r->fds.path, r->fds.nodes[i], fd_spec,
				props };

	fd->index = r->fds.units[i];
	fd->session = "";
	return read_props(&n, FD_PROPS) ?:
	       get_u64(&n, FD_TOKEN, &fd->token) ?:
	       get_fd_kind(&n, &fd->kind) ?:
	       get_string(&n, FD_SESSION, &fd->session);
}

/* Enough of a session's name to recognise it, and room left for the node. */
#define SESSION_SHOWN 64

/* "token 0x... already used by ...", naming the session unless default. */
static int token_repeat_err(const struct reader *r, size_t later,
			    size_t earlier)
{
	const struct baton_image_fd *fd = &r->pi->img.fds[later];
	char what[sizeof(r->diag->what)];
	size_t len = strlen(fd->session);

	if (!len)
		snprintf(what, sizeof(what), "token 0x%016llx",
			 (unsigned long long)fd->token);
	else
		snprintf(what, sizeof(what),
			 "token 0x%016llx in session \"%.*s%s\"",
			 (unsigned long long)fd->token, SESSION_SHOWN,
			 fd->session, len > SESSION_SHOWN ? "..." : "");
	return repeat_err(r, &r->fds, later, earlier, "token", what);
}

static int read_fds(struct reader *r)
{
	struct baton_image *img = &r->pi->img;
	struct container *c = &r->fds;
	struct key *tokens;
	size_t later, earlier;
	int err;

	err = read_children(r, c);
	if (err || !c->n)
		return err;
	img->fds = calloc(c->n, sizeof(*img->fds));
	tokens = calloc(c->n, sizeof(*tokens));
	if (!img->fds || !tokens) {
		err = nomem(r);
		goto out;
	}
	img->n_fds = c->n;

	for (size_t i = 0; i < c->n; i++) {
		err = read_fd(r, i);
		if (err)
			goto out;
		/* Unique within a session: (token, session) is the value. */
		tokens[i].key = img->fds[i].token;
		tokens[i].name = img->fds[i].session;
		tokens[i].pos = i;
	}
	if (find_repeat(tokens, c->n, &later, &earlier))
		err = token_repeat_err(r, later, earlier);
out:
	free(tokens);
	return err;
}

enum { REGION_FD, REGION_SIZE, REGION_LABEL, REGION_PROPS };

static const struct prop_spec region_spec[REGION_PROPS] = {
	[REGION_FD] = { "fd", true },
	[REGION_SIZE] = { "size", true },
	[REGION_LABEL] = { "label", false },
};

static int read_region(struct reader *r, size_t i)
{
	struct baton_image_region *rg = &r->pi->img.regions[i];
	struct prop props[REGION_PROPS];
	const struct node n = { r, r->regions.path, r->regions.nodes[i],
				region_spec, props };

	rg->index = r->regions.units[i];
	rg->label = "";
	return read_props(&n, REGION_PROPS) ?:
	       get_u32(&n, REGION_FD, &rg->fd) ?:
	       check_ref(&n, "fd", &r->fds, rg->fd) ?:
	       get_u64(&n, REGION_SIZE, &rg->size) ?:
	       get_string(&n, REGION_LABEL, &rg->label);
}

static int read_regions(struct reader *r)
{
	struct baton_image *img = &r->pi->img;
	struct container *c = &r->regions;
	int err;

	err = read_children(r, c);
	if (err || !c->n)
		return err;
	img->regions = calloc(c->n, sizeof(*img->regions));
	if (!img->regions)
		return nomem(r);
	img->n_regions = c->n;

	for (size_t i = 0; i < c->n; i++) {
		err = read_region(r, i);
		if (err)
			return err;
	}
	return 0;
}

enum {
	DEV_BUS,
	DEV_ADDRESS,
	DEV_IDS,
	DEV_SCHEMA,
	DEV_SCHEMA_NAME,
	DEV_SCHEMA_VERSION,
	DEV_STATE,
	DEV_STATE_CRC,
	DEV_FDS,
	DEV_REGIONS,
	DEV_ORPHAN,
	DEV_MANDATORY,
	DEV_PROPS
};

static const struct prop_spec device_spec[DEV_PROPS] = {
	[DEV_BUS] = { "bus", true },
	[DEV_ADDRESS] = { "address", true },
	[DEV_IDS] = { "ids", true },
	[DEV_SCHEMA] = { "schema", true },
	[DEV_SCHEMA_NAME] = { "schema-name", false },
	[DEV_SCHEMA_VERSION] = { "schema-version", false },
	[DEV_STATE] = { "state", false },
	[DEV_STATE_CRC] = { "state-crc", false },
	[DEV_FDS] = { "fds", false },
	[DEV_REGIONS] = { "regions", false },
	[DEV_ORPHAN] = { "orphan", false },
	[DEV_MANDATORY] = { "mandatory", false },
};

/* ids = <vendor device subvendor subdevice class>, 20 bytes */
#define IDS_SIZE (5 * sizeof(uint32_t))

static int get_bus(const struct node *n, const char **bus)
{
	int err = get_string(n, DEV_BUS, bus);

	if (err || !strcmp(*bus, "pci"))
		return err;
	return node_err(n, "bus", BATON_ERR_BADVALUE,
			"unknown bus \"%s\", expected \"pci\"", *bus);
}

static int get_address(const struct node *n, struct baton_pci_addr *addr)
{
	const char *s = NULL;
	int err = get_string(n, DEV_ADDRESS, &s);

	if (err || !baton_pci_addr_parse(s, addr))
		return err;
	return node_err(n, "address", BATON_ERR_BADVALUE,
			"address \"%s\" is not of the form DDDD:BB:DD.F", s);
}

static int get_ids(const struct node *n, struct baton_pci_ids *ids)
{
	const void *p = NULL;
	const uint8_t *v;
	int err = get_bytes(n, DEV_IDS, IDS_SIZE, &p);

	if (err)
		return err;
	v = p;
	ids->vendor = baton_get_be32(v);
	ids->device = baton_get_be32(v + 4);
	ids->subvendor = baton_get_be32(v + 8);
	ids->subdevice = baton_get_be32(v + 12);
	ids->class_code = baton_get_be32(v + 16);
	return 0;
}

static int get_schema(const struct node *n, uint8_t *schema)
{
	const void *v = NULL;
	int err = get_bytes(n, DEV_SCHEMA, BATON_GUID_SIZE, &v);

	if (!err)
		memcpy(schema, v, BATON_GUID_SIZE);
	return err;
}

/* state and state-crc come together, and agree. */
static int get_state(const struct node *n, struct baton_image_device *d)
{
	const struct prop *state = &n->props[DEV_STATE];
	uint32_t stored = 0, computed;
	int err;

	if (state->val && !n->props[DEV_STATE_CRC].val)
		return node_err(n, "state-crc", BATON_ERR_MISSING,
				"'state' without 'state-crc'");
	if (!state->val && n->props[DEV_STATE_CRC].val)
		return node_err(n, "state", BATON_ERR_MISSING,
				"'state-crc' without 'state'");
	if (!state->val)
		return 0;
	err = get_u32(n, DEV_STATE_CRC, &stored);
	if (err)
		return err;
	computed = baton_crc32c(state->val, state->len);
	if (stored != computed)
		return node_err(n, "state-crc", BATON_ERR_STATECRC,
				"state-crc mismatch: stored 0x%08x, computed 0x%08x",
				stored, computed);
	d->state = state->val;
	d->state_size = state->len;
	return 0;
}

/* Room for @count more entries in the pool of device references. */
static int reserve_refs(struct reader *r, size_t count)
{
	size_t cap = r->cap_refs ? r->cap_refs : 64;
	uint32_t *refs;

	if (r->cap_refs - r->n_refs >= count)
		return 0;
	while (cap - r->n_refs < count)
		cap *= 2;
	refs = realloc(r->pi->refs, cap * sizeof(*refs));
	if (!refs)
		return nomem(r);
	r->pi->refs = refs;
	r->cap_refs = cap;
	return 0;
}

/*
 * A list of indices into @target, appended to the pool; link_refs() points
 * the device at them once the pool has stopped moving.
 */
static int get_refs(struct reader *r, const struct node *n, int i,
		    const struct container *target, size_t *count)
{
	const struct prop *p = &n->props[i];
	const char *name = n->spec[i].name;
	size_t k, len;
	uint32_t unit;
	int err;

	if (!p->val)
		return 0;
	if (p->len % sizeof(uint32_t))
		return node_err(n, name, BATON_ERR_BADVALUE,
				"'%s' is %d bytes, not a multiple of 4",
				name, p->len);
	len = p->len / sizeof(uint32_t);
	err = reserve_refs(r, len);
	if (err)
		return err;
	for (k = 0; k < len; k++) {
		unit = baton_get_be32((const uint8_t *)p->val + 4 * k);
		err = check_ref(n, name, target, unit);
		if (err)
			return err;
		r->pi->refs[r->n_refs++] = unit;
	}
	*count = len;
	return 0;
}

static int get_orphan(const struct node *n, enum baton_orphan *out)
{
	const char *s = NULL, *name;
	int err = get_string(n, DEV_ORPHAN, &s);

	if (err || !s)
		return err;
	for (int k = 0; (name = baton_orphan_name(k)); k++) {
		if (!strcmp(s, name)) {
			*out = k;
			return 0;
		}
	}
	return node_err(n, "orphan", BATON_ERR_BADVALUE,
			"unknown orphan policy \"%s\"", s);
}

static int get_mandatory(const struct node *n, bool *mandatory)
{
	const struct prop *p = &n->props[DEV_MANDATORY];

	if (p->val && p->len)
		return node_err(n, "mandatory", BATON_ERR_BADVALUE,
				"'mandatory' is a flag, expected 0 bytes, not %d",
				p->len);
	*mandatory = p->val != NULL;
	return 0;
}

static int read_device(struct reader *r, size_t i)
{
	struct baton_image_device *d = &r->pi->img.devices[i];
	struct prop props[DEV_PROPS];
	const struct node n = { r, r->devices.path, r->devices.nodes[i],
				device_spec, props };

	d->index = r->devices.units[i];
	d->orphan = BATON_ORPHAN_QUARANTINE;
	return read_props(&n, DEV_PROPS) ?:
	       get_bus(&n, &d->bus) ?:
	       get_address(&n, &d->addr) ?:
	       get_ids(&n, &d->ids) ?:
	       get_schema(&n, d->schema) ?:
	       get_string(&n, DEV_SCHEMA_NAME, &d->schema_name) ?:
	       get_u32(&n, DEV_SCHEMA_VERSION, &d->schema_version) ?:
	       get_state(&n, d) ?:
	       get_refs(r, &n, DEV_FDS, &r->fds, &d->n_fds) ?:
	       get_refs(r, &n, DEV_REGIONS, &r->regions, &d->n_regions) ?:
	       get_orphan(&n, &d->orphan) ?:
	       get_mandatory(&n, &d->mandatory);
}

/* Any one-to-one packing will do: the key is only compared for equality. */
static uint64_t addr_key(const struct baton_pci_addr *a)
{
	return (uint64_t)a->domain << 24 | (uint64_t)a->bus << 16 |
	       (uint64_t)a->dev << 8 | a->fn;
}

static int read_devices(struct reader *r)
{
	struct baton_image *img = &r->pi->img;
	struct container *c = &r->devices;
	char what[48], addr[BATON_PCI_ADDR_STRLEN];
	struct key *addrs;
	size_t later, earlier;
	int err;

	err = read_children(r, c);
	if (err || !c->n)
		return err;
	img->devices = calloc(c->n, sizeof(*img->devices));
	addrs = calloc(c->n, sizeof(*addrs));
	if (!img->devices || !addrs) {
		err = nomem(r);
		goto out;
	}
	img->n_devices = c->n;

	for (size_t i = 0; i < c->n; i++) {
		err = read_device(r, i);
		if (err)
			goto out;
		addrs[i].key = addr_key(&img->devices[i].addr);
		addrs[i].pos = i;
	}
	if (find_repeat(addrs, c->n, &later, &earlier)) {
		snprintf(what, sizeof(what), "address %s",
			 baton_pci_addr_format(&img->devices[later].addr,
					       addr));
		err = repeat_err(r, c, later, earlier, "address", what);
	}
out:
	free(addrs);
	return err;
}

/* Point each device at its references, now that the pool is complete. */
static void link_refs(struct reader *r)
{
	struct baton_image *img = &r->pi->img;
	size_t pos = 0;

	for (size_t i = 0; i < img->n_devices; i++) {
		struct baton_image_device *d = &img->devices[i];

		d->fds = d->n_fds ? &r->pi->refs[pos] : NULL;
		pos += d->n_fds;
		d->regions = d->n_regions ? &r->pi->refs[pos] : NULL;
		pos += d->n_regions;
	}
}

static void release_reader(struct reader *r)
{
	struct container *all[] = { &r->fds, &r->regions, &r->devices };

	for (size_t i = 0; i < BATON_ARRAY_SIZE(all); i++) {
		free(all[i]->nodes);
		free(all[i]->units);
		free(all[i]->sorted);
	}
}

/**
 * baton_image_parse() - validate and decode an image
 * @buf:  the image bytes (header and tree)
 * @len:  their number; bytes after the tree are ignored
 * @out:  set to the decoded image, or to NULL on error
 * @diag: what is wrong and where, may be NULL
 *
 * Strings and state in *@out point into the tree: into @buf when the tree
 * in it is 8-byte aligned (as it is in any malloc'd or mapped buffer),
 * otherwise into a copy the image owns.  Either way they stay valid while
 * both @buf and *@out live.
 *
 * Return: 0 or a negative BATON_ERR_*; see include/baton/image.h.
 */
int baton_image_parse(const void *buf, size_t len, struct baton_image **out,
		      struct baton_diag *diag)
{
	struct reader r = {
		.diag = diag,
		.fds = { .path = "/fds", .child = "fd", .off = -1 },
		.regions = { .path = "/regions", .child = "region", .off = -1 },
		.devices = { .path = "/devices", .child = "device", .off = -1 },
	};
	const void *tree;
	size_t tree_len;
	int err;

	*out = NULL;
	err = baton_image_tree(buf, len, &tree, &tree_len, diag);
	if (err)
		return err;
	r.pi = calloc(1, sizeof(*r.pi));
	if (!r.pi)
		return nomem(&r);

	/* libfdt refuses trees that are not 8-byte aligned. */
	if ((uintptr_t)tree % 8) {
		r.pi->tree_copy = malloc(tree_len);
		if (!r.pi->tree_copy) {
			err = nomem(&r);
			goto err_free;
		}
		tree = memcpy(r.pi->tree_copy, tree, tree_len);
	}
	r.fdt = tree;

	err = baton_image_check_fdt(tree, tree_len, diag);
	if (err)
		goto err_free;
	if (fdt_totalsize(tree) != tree_len) {
		err = baton_diag_set(diag, BATON_ERR_BADTREE, "/",
				     "FDT totalsize %u differs from the header's tree_size %zu",
				     fdt_totalsize(tree), tree_len);
		goto err_free;
	}

	r.pi->img.format_version = BATON_IMAGE_FORMAT_VERSION;
	r.pi->img.generation = baton_get_be64((const uint8_t *)buf +
					      BATON_IMAGE_OFF_GENERATION);
	err = read_root(&r) ?: find_containers(&r) ?: read_fds(&r) ?:
	      read_regions(&r) ?: read_devices(&r);
	if (err)
		goto err_free;
	link_refs(&r);

	release_reader(&r);
	*out = &r.pi->img;
	return 0;

err_free:
	release_reader(&r);
	baton_image_free(&r.pi->img);
	return err;
}

/**
 * baton_image_free() - free an image baton_image_parse() returned
 * @img: the image, or NULL
 */
void baton_image_free(struct baton_image *img)
{
	struct parsed_image *pi;

	if (!img)
		return;
	pi = to_parsed(img);
	free(img->fds);
	free(img->regions);
	free(img->devices);
	free(pi->refs);
	free(pi->tree_copy);
	free(pi);
}
