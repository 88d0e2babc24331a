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
 * 2. The tree's structure (fdt.c, in the one walk below) and its
 *    totalsize, which must be the header's tree_size.
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
 * The tree is walked once (walk_tree()): each token is checked as it
 * comes, and the root's known properties are noted.  On the fast path
 * each child of a container is decoded as the walk meets it (read_child():
 * its properties taken in one loop, baton_fdt_props(), then the same
 * checks as below), and what must be unique across a container is checked
 * at its end.  Whatever the fast path refuses - an error, or a reference
 * to a container it has not read yet - the slow path reads again from the
 * start, to say the first rule broken in the order above: the walk notes
 * where each child of a container begins, then the checks run in their
 * order, whatever the order of the tree, each child's known properties
 * read again from the tree when its turn comes (child_props(): only the
 * tags, the walk having checked every length and name).  The fast path
 * accepts only what the slow one would, with the same result: the same
 * checks on each child, in a different order.  Every property is used
 * only through the length the walk checked for it.
 * Values that must be unique are checked in one pass when they come in
 * order (unit addresses ascending; fds in runs of one session, sessions
 * in order of name, as a host writes them), hashed in tree order
 * otherwise; a hostile image whose values collide falls back to sorting
 * them, so that it costs O(n log n) comparisons at worst.  A comparison of
 * two fd sessions, the one string in a value, reads no more than the
 * shorter name.  The order the fds, regions (by index) and devices (by
 * address) were found in is kept with the image, for the restore's
 * lookups (baton_image_find_fd() and friends), so that nothing is sorted
 * twice.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"
#include "image-internal.h"

/*
 * A container's children by unit address, for the reader's references
 * and, kept with the image, for the restore's (baton_image_find_fd()).
 */
struct units {
	uint32_t *units;	/* in tree order */
	uint32_t *order;	/* positions by unit; NULL: units increase in
				 * tree order, as writers number them */
	size_t n;
};

/* What baton_image_parse() allocates behind the struct it returns. */
struct parsed_image {
	struct baton_image img;
	void *tree_copy;	/* the tree, when the caller's was misaligned */
	uint32_t *refs;		/* each device's fds then regions, in order */
	struct units fds, regions;
	uint32_t *by_addr;	/* device positions by address; NULL: in order */
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

struct prop_spec {
	const char *name;
	size_t len;		/* strlen(name) */
	bool required;
};

#define PROP(name, required) { name, sizeof(name) - 1, required }

enum { ROOT_COMPATIBLE, ROOT_PROGRAM, ROOT_EXEC_PATH, ROOT_PROPS };

static const struct prop_spec root_spec[ROOT_PROPS] = {
	/* Required too, but refused as BADCOMPAT, before anything else. */
	[ROOT_COMPATIBLE] = PROP("compatible", false),
	[ROOT_PROGRAM] = PROP("program", true),
	[ROOT_EXEC_PATH] = PROP("exec-path", false),
};

enum { FD_TOKEN, FD_KIND, FD_SESSION, FD_PROPS };

static const struct prop_spec fd_spec[FD_PROPS] = {
	[FD_TOKEN] = PROP("token", true),
	[FD_KIND] = PROP("kind", true),
	[FD_SESSION] = PROP("session", false),
};

enum { REGION_FD, REGION_SIZE, REGION_LABEL, REGION_PROPS };

static const struct prop_spec region_spec[REGION_PROPS] = {
	[REGION_FD] = PROP("fd", true),
	[REGION_SIZE] = PROP("size", true),
	[REGION_LABEL] = PROP("label", false),
};

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
	[DEV_BUS] = PROP("bus", true),
	[DEV_ADDRESS] = PROP("address", true),
	[DEV_IDS] = PROP("ids", true),
	[DEV_SCHEMA] = PROP("schema", true),
	[DEV_SCHEMA_NAME] = PROP("schema-name", false),
	[DEV_SCHEMA_VERSION] = PROP("schema-version", false),
	[DEV_STATE] = PROP("state", false),
	[DEV_STATE_CRC] = PROP("state-crc", false),
	[DEV_FDS] = PROP("fds", false),
	[DEV_REGIONS] = PROP("regions", false),
	[DEV_ORPHAN] = PROP("orphan", false),
	[DEV_MANDATORY] = PROP("mandatory", false),
};

struct prop {
	const void *val;	/* NULL when absent */
	int len;
};

/*
 * Which of a node's known properties a name is (-1: none), by the name's
 * offset in the strings block: writers store each name once, so the
 * properties of a thousand nodes look up a dozen names.
 */
#define SPEC_CACHE_SLOTS 32

struct spec_cache {
	uint32_t nameoff[SPEC_CACHE_SLOTS];	/* + 1; 0 is an empty slot */
	int8_t index[SPEC_CACHE_SLOTS];
};

/* A node, as a message names it. */
struct record {
	const char *name;	/* <kind>@<hex>, NUL-terminated */
	int name_len;
	const char *dup;	/* the first known property seen twice */
};

/*
 * A child of a container, as the walk found it: where it begins, and no
 * more.  Its properties are read again from the tree when its turn comes
 * (child_props()): kept meanwhile, they took 200 bytes a device, pages of
 * a new heap that the new version faulted in one by one (~1.2 us each
 * here), where 8 bytes a child do.
 */
struct child {
	uint32_t off;		/* its FDT_BEGIN_NODE in the structure block */
	uint32_t name_len;
};

struct reader;
struct node;

/* /fds, /regions or /devices while it is read. */
struct container {
	const char *path;	/* "/fds" */
	const char *child;	/* "fd": children are fd@<hex> */
	size_t child_len;	/* strlen(child) */
	const struct prop_spec *spec;
	size_t n_props;		/* in spec */
	/* Decode child @i, whose unit address is read, into the image. */
	int (*read)(struct reader *r, size_t i, const struct node *n);
	/* Once all are read: what must be unique across them. */
	int (*finish)(struct reader *r);
	void *items;		/* the image's fds, regions or devices */
	size_t item_size;
	struct spec_cache cache;
	bool present;
	size_t n, cap;
	struct child *kids;	/* the children, in tree order (slow path) */
	size_t cap_items;	/* of *items and ix.units */
	struct units ix;	/* their unit addresses */
};

struct reader {
	struct baton_diag *diag;
	struct parsed_image *pi;
	const uint8_t *s;	/* the structure block, checked by the walk */
	const char *strings;	/* the strings block */
	struct container fds, regions, devices;
	struct record root;
	struct prop root_props[ROOT_PROPS];
	struct spec_cache root_cache;
	struct record twice;	/* the first container seen a second time */
	size_t n_refs, cap_refs;
	bool fast;		/* each child decoded as the walk meets it */
};

/* A node being read: where it is, and its known properties. */
struct node {
	const struct reader *r;
	const char *parent;		/* "" for the root, "/fds", ... */
	const struct record *rec;
	const struct prop_spec *spec;
	const struct prop *props;
};

static struct parsed_image *to_parsed(struct baton_image *img)
{
	return (struct parsed_image *)((char *)img -
				       offsetof(struct parsed_image, img));
}

static const struct parsed_image *parsed(const struct baton_image *img)
{
	return (const struct parsed_image *)((const char *)img -
					     offsetof(struct parsed_image, img));
}

/* Record @err at @n and property @prop (NULL: the node itself). */
static int __attribute__((format(printf, 4, 5)))
node_err(const struct node *n, const char *prop, int err, const char *fmt,
	 ...)
{
	char where[sizeof(n->r->diag->where)], what[sizeof(n->r->diag->what)];
	va_list ap;

	if (!n->r->diag)
		return -err;
	snprintf(where, sizeof(where), "%s/%.*s%s%s", n->parent,
		 n->rec->name_len, n->rec->name, prop ? ": " : "",
		 prop ? prop : "");
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return baton_diag_set(n->r->diag, err, where, "%s", what);
}

static int nomem(const struct reader *r)
{
	return baton_diag_set(r->diag, ENOMEM, NULL, NULL);
}

/*
 * Note a property of a node whose known properties are @props: libfdt
 * would see the first of two alike, another reader perhaps the last, so
 * the first repeated is noted, to be refused.
 */
static inline void note_prop(const struct prop_spec *spec, size_t count,
			     struct spec_cache *cache, struct prop *props,
			     const char **dup, uint32_t nameoff,
			     const char *name, const void *val, uint32_t len)
{
	size_t slot = nameoff % SPEC_CACHE_SLOTS, name_len;
	int i;

	if (cache->nameoff[slot] == nameoff + 1) {
		i = cache->index[slot];
	} else {
		/* The walk found it NUL-terminated in the strings block. */
		name_len = strlen(name);
		for (i = 0; (size_t)i < count; i++)
			if (spec[i].len == name_len &&
			    !memcmp(spec[i].name, name, name_len))
				break;
		if ((size_t)i == count)
			i = -1;
		cache->nameoff[slot] = nameoff + 1;
		cache->index[slot] = (int8_t)i;
	}
	if (i < 0)
		return;
	if (props[i].val) {
		if (!*dup)
			*dup = spec[i].name;
		return;
	}
	props[i].val = val;
	props[i].len = (int)len;
}

/* A new child of @c, whose properties come next. */
static int add_record(struct reader *r, struct container *c,
		      const struct baton_fdt_token *t)
{
	if (c->n == c->cap) {
		/* x4: a thousand devices' records moved 3 times, not 8. */
		size_t want = c->cap ? 4 * c->cap : 16;
		struct child *kids = reallocarray(c->kids, want, sizeof(*kids));

		if (!kids)
			return nomem(r);
		c->kids = kids;
		c->cap = want;
	}
	c->kids[c->n++] = (struct child){ .off = (uint32_t)t->off,
					  .name_len = (uint32_t)t->name_len };
	return 0;
}

/* The container a child of the root named @t is, or NULL. */
static struct container *find_container(struct reader *r,
					const struct baton_fdt_token *t)
{
	struct container *all[] = { &r->fds, &r->regions, &r->devices };

	for (size_t i = 0; i < BATON_ARRAY_SIZE(all); i++) {
		const char *want = all[i]->path + 1;

		if (t->name_len != strlen(want) ||
		    memcmp(t->name, want, t->name_len))
			continue;
		if (!all[i]->present) {
			all[i]->present = true;
			return all[i];
		}
		/* Refused after the root's checks, as the rules order it. */
		if (!r->twice.name) {
			r->twice.name = t->name;
			r->twice.name_len = (int)t->name_len;
		}
		return NULL;
	}
	return NULL;
}

static int read_child(struct reader *r, struct container *c,
		      struct baton_fdt_walk *w, const struct baton_fdt_token *t);
static int finish_container(struct reader *r, struct container *c);

/*
 * The one walk: check every token, note the root's known properties and,
 * for each child of a container, where it begins (slow path) or the child
 * itself, decoded (fast path, read_child()).  Deeper nodes and other
 * children of the root are walked over.
 */
static int walk_tree(struct reader *r, struct baton_fdt_walk *w)
{
	struct baton_fdt_token t;
	struct container *c = NULL;	/* open at depth 2, if one */
	int err;

	for (;;) {
		err = baton_fdt_next(w, &t);
		if (err)
			return err;
		switch (t.tag) {
		case FDT_BEGIN_NODE:
			if (t.depth == 2)
				c = find_container(r, &t);
			else if (t.depth == 3 && c && r->fast)
				err = read_child(r, c, w, &t);
			else if (t.depth == 3 && c)
				err = add_record(r, c, &t);
			/* Only the root's properties are noted now. */
			if (t.depth > 1)
				baton_fdt_skip_props(w);
			break;
		case FDT_PROP:
			if (t.depth == 1)
				note_prop(root_spec, ROOT_PROPS, &r->root_cache,
					  r->root_props, &r->root.dup,
					  t.nameoff, t.name, t.val, t.len);
			break;
		case FDT_END_NODE:
			if (t.depth == 2 && c && r->fast)
				err = finish_container(r, c);
			if (t.depth == 2)
				c = NULL;
			break;
		default:	/* FDT_END */
			return 0;
		}
		if (err)
			return err;
	}
}

/* The node @n's first known property seen twice, if one. */
static int refuse_dup(const struct node *n)
{
	if (!n->rec->dup)
		return 0;
	return node_err(n, n->rec->dup, BATON_ERR_DUPLICATE,
			"property '%s' appears twice", n->rec->dup);
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
	return refuse_dup(n) ?: require_props(n, count);
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

/* Order names, NULL sorting as "". */
static int name_cmp(const struct key *x, const struct key *y)
{
	if (!x->name && !y->name)
		return 0;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/*
 * Order values by key, then by name; 0 when they are the same value.  The
 * one comparison the fast path, the sort and the search for runs all use,
 * so that they cannot disagree on what repeats.
 */
static int value_cmp(const struct key *x, const struct key *y)
{
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return name_cmp(x, y);
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

/* @c's child @i, as messages name it; no properties yet. */
static struct node child_node(const struct reader *r, const struct container *c,
			      size_t i, struct record *rec)
{
	const struct child *k = &c->kids[i];

	*rec = (struct record){ .name = (const char *)r->s + k->off + FDT_TAGSIZE,
				.name_len = (int)k->name_len };
	return (struct node){ .r = r, .parent = c->path, .rec = rec,
			      .spec = c->spec };
}

/*
 * @c's child @i with its known properties, read again from the tree into
 * @props (n_props of them, zeroed by the caller, whose array has a size
 * the compiler knows: no call to memset() a child): the walk checked
 * every token and length, and a node's properties come before its first
 * subnode, NOPs among them.
 */
static struct node child_props(struct reader *r, struct container *c,
			       size_t i, struct record *rec, struct prop *props)
{
	struct node n = child_node(r, c, i, rec);
	size_t off = baton_fdt_align(c->kids[i].off + FDT_TAGSIZE +
				     c->kids[i].name_len + 1);
	uint32_t tag, len, nameoff;

	while ((tag = baton_get_be32(r->s + off)) == FDT_PROP || tag == FDT_NOP) {
		if (tag == FDT_NOP) {
			off += FDT_TAGSIZE;
			continue;
		}
		len = baton_get_be32(r->s + off + 4);
		nameoff = baton_get_be32(r->s + off + 8);
		note_prop(c->spec, c->n_props, &c->cache, props, &rec->dup,
			  nameoff, r->strings + nameoff,
			  r->s + off + sizeof(struct fdt_property), len);
		off = baton_fdt_align(off + sizeof(struct fdt_property) + len);
	}
	n.props = props;
	return n;
}

/* Of the value key_cmp() compares: the same for values it finds equal. */
static uint64_t value_hash(const struct key *k)
{
	uint64_t h = (k->key ^ 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;

	for (const unsigned char *p = (const void *)(k->name ? k->name : "");
	     *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;	/* FNV-1a */
	return h ^ h >> 32;
}

enum { REPEAT_NONE, REPEAT_FOUND, REPEAT_UNSURE };

/* The longest run of one name grouped_repeat() compares pairwise. */
#define GROUP_MAX 16

/*
 * A host's fds: each session's together (a few tokens, in the order they
 * were preserved) and sessions made in order of name (devices probed in
 * order of address).  A (token, session) then repeats only within its
 * session's run, so each token is compared with those before it in its
 * run, in tree order: the first found is the first repeat, against its
 * first occurrence.  REPEAT_UNSURE when the sessions do not run so, or a
 * run is longer than GROUP_MAX.  On the fds themselves, not on keys: an
 * array of those, 24 bytes a fd, was 18 pages at 1,024 devices that a new
 * process's heap faulted in only to free them.
 */
static int grouped_repeat(const struct baton_image_fd *fds, size_t n, size_t *later,
			  size_t *earlier)
{
	size_t start = 0;

	for (size_t i = 1; i < n; i++) {
		int c = strcmp(fds[start].session, fds[i].session);

		if (c > 0)
			return REPEAT_UNSURE;
		if (c < 0)
			start = i;
		else if (i - start >= GROUP_MAX)
			return REPEAT_UNSURE;
		for (size_t k = start; k < i; k++)
			if (fds[k].token == fds[i].token) {
				*later = i;
				*earlier = k;
				return REPEAT_FOUND;
			}
	}
	return REPEAT_NONE;
}

/*
 * Look for a repeat with a hash table, in tree order: the first value
 * found already in the table is the first repeat, and the one in the table
 * is its first occurrence.  REPEAT_UNSURE when the table cannot be had, or
 * when the values collide more than hashing honest ones would: a hostile
 * image gets the sort instead.
 */
static int hashed_repeat(const struct key *keys, size_t n, size_t *later,
			 size_t *earlier)
{
	size_t cap = 16, mask, budget = 4 * n + 64, slot;
	uint32_t *table;	/* position + 1; 0 is an empty slot */
	int ret = REPEAT_NONE;

	while (cap < 2 * n)
		cap *= 2;
	if (n > UINT32_MAX - 1)
		return REPEAT_UNSURE;
	table = calloc(cap, sizeof(*table));
	if (!table)
		return REPEAT_UNSURE;
	mask = cap - 1;
	for (size_t i = 0; i < n && ret == REPEAT_NONE; i++) {
		for (slot = value_hash(&keys[i]) & mask; table[slot];
		     slot = (slot + 1) & mask) {
			if (!value_cmp(&keys[table[slot] - 1], &keys[i])) {
				*later = i;
				*earlier = table[slot] - 1;
				ret = REPEAT_FOUND;
				break;
			}
			if (!budget--) {
				ret = REPEAT_UNSURE;
				break;
			}
		}
		table[slot] = (uint32_t)i + 1;
	}
	free(table);
	return ret;
}

/*
 * Sort @keys and find the first node, in tree order, whose key an earlier
 * node already has.
 */
static bool sorted_repeat(struct key *keys, size_t n, size_t *later,
			  size_t *earlier)
{
	bool found = false;

	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < n; i++) {
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

/*
 * Find the first node, in tree order, whose value an earlier node already
 * has; @keys are in tree order (keys[i].pos == i), and are left sorted if
 * @sort.  Return: whether there is one; then *@later is its position and
 * *@earlier that of the first node with the same value.
 */
static bool find_repeat(struct key *keys, size_t n, bool sort, size_t *later,
			size_t *earlier)
{
	size_t i;

	/*
	 * Writers usually go in order: then one pass is enough.  Strictly
	 * increasing values are sorted and have no repeat.
	 */
	for (i = 1; i < n && value_cmp(&keys[i - 1], &keys[i]) < 0; i++)
		;
	if (i >= n)
		return false;
	if (!sort) {
		int found = hashed_repeat(keys, n, later, earlier);

		if (found != REPEAT_UNSURE)
			return found == REPEAT_FOUND;
	}
	return sorted_repeat(keys, n, later, earlier);
}

/* The position of the child of unit address @unit, or -1. */
static ssize_t unit_find(const struct units *u, uint32_t unit)
{
	size_t lo = 0, hi = u->n;

	/* Writers usually number children 0, 1, ... in tree order. */
	if (unit < u->n && u->units[unit] == unit)
		return unit;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t pos = u->order ? u->order[mid] : mid;

		if (u->units[pos] == unit)
			return (ssize_t)pos;
		if (u->units[pos] < unit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * The order find_repeat() left @keys in, as positions, kept for lookups:
 * none when it is tree order (writers go in order; find_repeat() sorts
 * only the others).
 */
static int keep_order(const struct reader *r, const struct key *keys,
		      size_t n, uint32_t **order)
{
	size_t i;

	for (i = 0; i < n && keys[i].pos == i; i++)
		;
	if (i == n)
		return 0;
	*order = malloc(n * sizeof(**order));
	if (!*order)
		return nomem(r);
	for (i = 0; i < n; i++)
		(*order)[i] = (uint32_t)keys[i].pos;
	return 0;
}

/* What is already taken by another node: "<what> already used by <node>". */
static int repeat_err(const struct reader *r, const struct container *c,
		      size_t later, size_t earlier, const char *prop,
		      const char *what)
{
	struct record rec, first;
	struct node n;

	/* The fast path keeps no children to name: the slow one says it. */
	if (r->fast)
		return -BATON_ERR_DUPLICATE;
	n = child_node(r, c, later, &rec);
	child_node(r, c, earlier, &first);
	return node_err(&n, prop, BATON_ERR_DUPLICATE,
			"%s already used by %s/%.*s", what, c->path,
			first.name_len, first.name);
}

static int check_ref(const struct node *n, const char *prop,
		     const struct container *c, uint32_t unit)
{
	if (unit_find(&c->ix, unit) >= 0)
		return 0;
	return node_err(n, prop, BATON_ERR_BADREF,
			"refers to %s/%s@%x, which does not exist",
			c->path, c->child, unit);
}

/* Parse <child>@<1 to 8 hex digits>. */
static int unit_address(const struct node *n, const struct container *c,
			uint32_t *unit)
{
	size_t prefix = c->child_len, len = n->rec->name_len, i;
	const char *name = n->rec->name;
	uint32_t v = 0;
	int digit;

	if (len < prefix + 2 || len > prefix + 9 || name[prefix] != '@')
		goto bad;
	/* A few bytes: a call to memcmp() was a third of this. */
	for (i = 0; i < prefix; i++)
		if (name[i] != c->child[i])
			goto bad;
	for (i = prefix + 1; i < len; i++) {
		digit = baton_hex_digit(name[i]);
		if (digit < 0)
			goto bad;
		v = v << 4 | (uint32_t)digit;
	}
	*unit = v;
	return 0;
bad:
	return node_err(n, NULL, BATON_ERR_BADVALUE,
			"unexpected node '%.*s' in %s, expected %s@<hex index>",
			(int)len, name, c->path, c->child);
}

/*
 * Room in @c for children [@first, @first + @count): their unit addresses
 * and the image's items, these zeroed.  x4: a thousand devices moved 3
 * times, not 8.
 */
static int reserve_items(struct reader *r, struct container *c, size_t first,
			 size_t count)
{
	size_t want = first + count, cap;
	uint32_t *units;
	void *items;

	if (want > c->cap_items) {
		cap = c->cap_items ? 4 * c->cap_items : 16;
		if (cap < want)
			cap = want;
		items = reallocarray(c->items, cap, c->item_size);
		if (!items)
			return nomem(r);
		c->items = items;
		units = reallocarray(c->ix.units, cap, sizeof(*units));
		if (!units)
			return nomem(r);
		c->ix.units = units;
		c->cap_items = cap;
	}
	memset((char *)c->items + first * c->item_size, 0, count * c->item_size);
	return 0;
}

/*
 * The children's unit addresses must be unique: their order is kept for
 * the lookups of references that follow, the reader's and the restore's.
 */
static int units_unique(struct reader *r, struct container *c)
{
	struct key *keys;
	size_t later, earlier, i;
	char what[32];
	int err;

	c->ix.n = c->n;
	/*
	 * Writers number children 0, 1, ... in tree order: then there is no
	 * repeat and no order to keep, and no keys are made (find_repeat()'s
	 * first pass, without their pages in a new process's heap).
	 */
	for (i = 1; i < c->n && c->ix.units[i - 1] < c->ix.units[i]; i++)
		;
	if (i >= c->n)
		return 0;
	keys = reallocarray(NULL, c->n, sizeof(*keys));
	if (!keys)
		return nomem(r);
	for (i = 0; i < c->n; i++)
		keys[i] = (struct key){ .key = c->ix.units[i], .pos = i };
	if (!find_repeat(keys, c->n, true, &later, &earlier)) {
		err = keep_order(r, keys, c->n, &c->ix.order);
	} else {
		snprintf(what, sizeof(what), "unit address 0x%x",
			 c->ix.units[later]);
		err = repeat_err(r, c, later, earlier, NULL, what);
	}
	free(keys);
	return err;
}

/* Slow path: every child's unit address, then whether they repeat. */
static int read_children(struct reader *r, struct container *c)
{
	int err;

	if (!c->n)
		return 0;
	err = reserve_items(r, c, 0, c->n);
	for (size_t i = 0; !err && i < c->n; i++) {
		struct record rec;
		const struct node n = child_node(r, c, i, &rec);

		err = unit_address(&n, c, &c->ix.units[i]);
	}
	return err ?: units_unique(r, c);
}

static int read_root(struct reader *r)
{
	const struct prop *props = r->root_props;
	const struct node n = { r, "", &r->root, root_spec, props };
	const struct prop *compat = &props[ROOT_COMPATIBLE];
	int err;

	err = refuse_dup(&n);
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

/* A container seen a second time, refused after the root's checks. */
static int refuse_twice(const struct reader *r)
{
	const struct node n = { .r = r, .parent = "", .rec = &r->twice };

	if (!r->twice.name)
		return 0;
	return node_err(&n, NULL, BATON_ERR_DUPLICATE,
			"node '%.*s' appears twice", r->twice.name_len,
			r->twice.name);
}

static int get_fd_kind(const struct node *n, enum baton_fd_kind *out)
{
	const char *s = NULL, *name;
	int err = get_string(n, FD_KIND, &s);

	if (err)
		return err;
	for (int k = 0; (name = baton_fd_kind_name(k)); k++) {
		/* The first letter tells most kinds apart, without a call. */
		if (name[0] == s[0] && !strcmp(s, name)) {
			*out = k;
			return 0;
		}
	}
	return node_err(n, "kind", BATON_ERR_BADVALUE,
			"unknown fd kind \"%s\"", s);
}

static struct baton_image_fd *fd_item(const struct reader *r, size_t i)
{
	return (struct baton_image_fd *)r->fds.items + i;
}

static int read_fd(struct reader *r, size_t i, const struct node *n)
{
	struct baton_image_fd *fd = fd_item(r, i);

	fd->index = r->fds.ix.units[i];
	fd->session = "";
	return read_props(n, FD_PROPS) ?:
	       get_u64(n, FD_TOKEN, &fd->token) ?:
	       get_fd_kind(n, &fd->kind) ?:
	       get_string(n, FD_SESSION, &fd->session);
}

/* Enough of a session's name to recognise it, and room left for the node. */
#define SESSION_SHOWN 64

/* "token 0x... already used by ...", naming the session unless default. */
static int token_repeat_err(const struct reader *r, size_t later,
			    size_t earlier)
{
	const struct baton_image_fd *fd = fd_item(r, later);
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

/*
 * Unique within a session: (token, session) is the value.  As hosts write
 * them, found on the fds themselves; else keys are made, hashed or sorted.
 */
static int finish_fds(struct reader *r)
{
	size_t n = r->fds.n, later, earlier;
	struct key *tokens;
	int err = 0, found = grouped_repeat(fd_item(r, 0), n, &later, &earlier);

	if (found != REPEAT_UNSURE)
		return found == REPEAT_FOUND ? token_repeat_err(r, later, earlier) : 0;
	tokens = reallocarray(NULL, n, sizeof(*tokens));
	if (!tokens)
		return nomem(r);
	for (size_t i = 0; i < n; i++)
		tokens[i] = (struct key){ .key = fd_item(r, i)->token,
					  .name = fd_item(r, i)->session,
					  .pos = i };
	if (find_repeat(tokens, n, false, &later, &earlier))
		err = token_repeat_err(r, later, earlier);
	free(tokens);
	return err;
}

static struct baton_image_region *region_item(const struct reader *r,
					      size_t i)
{
	return (struct baton_image_region *)r->regions.items + i;
}

static int read_region(struct reader *r, size_t i, const struct node *n)
{
	struct baton_image_region *rg = region_item(r, i);

	rg->index = r->regions.ix.units[i];
	rg->label = "";
	return read_props(n, REGION_PROPS) ?:
	       get_u32(n, REGION_FD, &rg->fd) ?:
	       check_ref(n, "fd", &r->fds, rg->fd) ?:
	       get_u64(n, REGION_SIZE, &rg->size) ?:
	       get_string(n, REGION_LABEL, &rg->label);
}

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

static struct baton_image_device *device_item(const struct reader *r,
					      size_t i)
{
	return (struct baton_image_device *)r->devices.items + i;
}

static int read_device(struct reader *r, size_t i, const struct node *n)
{
	struct baton_image_device *d = device_item(r, i);

	d->index = r->devices.ix.units[i];
	d->orphan = BATON_ORPHAN_QUARANTINE;
	return read_props(n, DEV_PROPS) ?:
	       get_bus(n, &d->bus) ?:
	       get_address(n, &d->addr) ?:
	       get_ids(n, &d->ids) ?:
	       get_schema(n, d->schema) ?:
	       get_string(n, DEV_SCHEMA_NAME, &d->schema_name) ?:
	       get_u32(n, DEV_SCHEMA_VERSION, &d->schema_version) ?:
	       get_state(n, d) ?:
	       get_refs(r, n, DEV_FDS, &r->fds, &d->n_fds) ?:
	       get_refs(r, n, DEV_REGIONS, &r->regions, &d->n_regions) ?:
	       get_orphan(n, &d->orphan) ?:
	       get_mandatory(n, &d->mandatory);
}

/*
 * One-to-one, and in baton_pci_addr_cmp()'s order: the devices' order by
 * address is kept for baton_image_find_device().
 */
static uint64_t addr_key(const struct baton_pci_addr *a)
{
	return (uint64_t)a->domain << 24 | (uint64_t)a->bus << 16 |
	       (uint64_t)a->dev << 8 | a->fn;
}

/* Addresses are unique; their order is kept. */
static int finish_devices(struct reader *r)
{
	struct container *c = &r->devices;
	char what[48], addr[BATON_PCI_ADDR_STRLEN];
	struct key *addrs;
	size_t later, earlier, i;
	int err;

	/* In order of address, as hosts probe them: as units_unique(). */
	for (i = 1; i < c->n && addr_key(&device_item(r, i - 1)->addr) <
				 addr_key(&device_item(r, i)->addr); i++)
		;
	if (i >= c->n)
		return 0;
	addrs = reallocarray(NULL, c->n, sizeof(*addrs));
	if (!addrs)
		return nomem(r);
	for (i = 0; i < c->n; i++)
		addrs[i] = (struct key){ .key = addr_key(&device_item(r, i)->addr),
					 .pos = i };
	if (find_repeat(addrs, c->n, true, &later, &earlier)) {
		snprintf(what, sizeof(what), "address %s",
			 baton_pci_addr_format(&device_item(r, later)->addr,
					       addr));
		err = repeat_err(r, c, later, earlier, "address", what);
	} else {
		err = keep_order(r, addrs, c->n, &r->pi->by_addr);
	}
	free(addrs);
	return err;
}

/* A child's known properties, as baton_fdt_props() gives them. */
struct noting {
	struct container *c;
	const char *strings;
	struct prop *props;
	struct record *rec;
};

static void note_child_prop(void *ctx, const struct baton_fdt_prop *p)
{
	struct noting *to = ctx;

	note_prop(to->c->spec, to->c->n_props, &to->c->cache, to->props,
		  &to->rec->dup, p->nameoff, to->strings + p->nameoff, p->val,
		  p->len);
}

/*
 * Fast path: @c's child at @t, its properties noted as the walk goes over
 * them (checked as baton_fdt_next() checks them) and decoded into the
 * image at once.  Any error leaves the image to the slow path, which finds
 * it again in the rules' order and says what it is.
 */
static int read_child(struct reader *r, struct container *c,
		      struct baton_fdt_walk *w, const struct baton_fdt_token *t)
{
	struct prop props[DEV_PROPS] = { 0 };	/* the most a node knows */
	struct record rec = { .name = t->name, .name_len = (int)t->name_len };
	const struct node n = { .r = r, .parent = c->path, .rec = &rec,
				.spec = c->spec, .props = props };
	struct noting to = { c, w->strings, props, &rec };
	size_t i = c->n;
	int err;

	baton_fdt_props(w, note_child_prop, &to);
	err = reserve_items(r, c, i, 1);
	if (err)
		return err;
	c->n++;
	return unit_address(&n, c, &c->ix.units[i]) ?: c->read(r, i, &n);
}

/*
 * The fast path's items at their number: grown x4 as the walk met them,
 * 1,025 devices had room for 4,096 (~420 KB of the image's 136-byte
 * records), which a new version's heap held, prefaulted, between the
 * parse and what its restore allocates next.  Shrunk in place (glibc
 * moves nothing), that room is the restore's.
 */
static void fit_items(struct container *c)
{
	void *items;
	uint32_t *units;

	if (c->cap_items == c->n)
		return;
	items = reallocarray(c->items, c->n, c->item_size);
	if (items)
		c->items = items;
	units = reallocarray(c->ix.units, c->n, sizeof(*units));
	if (units)
		c->ix.units = units;
	/* A shrink that failed leaves more room than that: still room. */
	c->cap_items = c->n;
}

/* @c's children, all read: no unit address, and no unique value, twice. */
static int finish_container(struct reader *r, struct container *c)
{
	if (!c->n)
		return 0;
	fit_items(c);
	return units_unique(r, c) ?: (c->finish ? c->finish(r) : 0);
}

/*
 * Slow path: /fds, /regions or /devices in the rules' order - every
 * child's unit address, whether they repeat, each child, then the values
 * unique across them.
 */
static int read_container(struct reader *r, struct container *c)
{
	int err = read_children(r, c);

	for (size_t i = 0; !err && i < c->n; i++) {
		struct record rec;
		struct prop props[DEV_PROPS] = { 0 };
		const struct node n = child_props(r, c, i, &rec, props);

		err = c->read(r, i, &n);
	}
	if (err || !c->n || !c->finish)
		return err;
	return c->finish(r);
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
		free(all[i]->kids);
		free(all[i]->items);
		free(all[i]->ix.units);
		free(all[i]->ix.order);
	}
}

#define CONTAINER(path_, child_, spec_, read_, finish_, type_) {		\
	.path = path_, .child = child_, .child_len = sizeof(child_) - 1,	\
	.spec = spec_, .n_props = BATON_ARRAY_SIZE(spec_), .read = read_,	\
	.finish = finish_, .item_size = sizeof(type_) }

/* A reader of @pi's tree, fast (no error said) or slow (read_tree()). */
static void reader_init(struct reader *r, struct parsed_image *pi,
			struct baton_diag *diag, bool fast)
{
	*r = (struct reader){
		.diag = diag,
		.pi = pi,
		.fast = fast,
		.root = { .name = "" },
		.fds = CONTAINER("/fds", "fd", fd_spec, read_fd,
				 finish_fds, struct baton_image_fd),
		.regions = CONTAINER("/regions", "region", region_spec,
				     read_region, NULL,
				     struct baton_image_region),
		.devices = CONTAINER("/devices", "device", device_spec,
				     read_device, finish_devices,
				     struct baton_image_device),
	};
}

/*
 * Check and decode the tree.  The fast path decodes each container's
 * children as the one walk meets them, and says no error (its diag is
 * NULL): what it refuses, the slow path reads again from the start - the
 * walk, then each rule in the order docs/image-format.md gives - to say
 * the first thing wrong.  Both run the same checks on each child; only
 * when they run differs.  A reference from a child to a container the
 * fast path has not read yet (the tree out of the rules' order) finds
 * nothing, and is left to the slow path too.
 */
static int read_tree(struct reader *r, const void *tree, size_t tree_len)
{
	struct baton_fdt_walk walk;
	int err;

	err = baton_fdt_open(&walk, tree, tree_len, r->diag) ?:
	      walk_tree(r, &walk);
	r->s = walk.s;
	r->strings = walk.strings;
	if (err)
		return err;
	if (fdt_totalsize(tree) != tree_len)
		return baton_diag_set(r->diag, BATON_ERR_BADTREE, "/",
				      "FDT totalsize %u differs from the header's tree_size %zu",
				      fdt_totalsize(tree), tree_len);
	err = read_root(r) ?: refuse_twice(r);
	if (err || r->fast)
		return err;
	return read_container(r, &r->fds) ?: read_container(r, &r->regions) ?:
	       read_container(r, &r->devices);
}

static int parse(const void *buf, size_t len, struct baton_image **out,
		 struct baton_diag *diag, bool fast_first);

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
	return parse(buf, len, out, diag, true);
}

int baton_image_parse_in_order(const void *buf, size_t len, struct baton_image **out,
			       struct baton_diag *diag)
{
	return parse(buf, len, out, diag, false);
}

static int parse(const void *buf, size_t len, struct baton_image **out,
		 struct baton_diag *diag, bool fast_first)
{
	struct baton_image *img;
	struct parsed_image *pi;
	struct reader r;
	const void *tree;
	size_t tree_len;
	int err;

	*out = NULL;
	err = baton_image_tree(buf, len, &tree, &tree_len, diag);
	if (err)
		return err;
	pi = calloc(1, sizeof(*pi));
	if (!pi)
		return baton_diag_set(diag, ENOMEM, NULL, NULL);
	img = &pi->img;

	/* libfdt's header check refuses trees that are not 8-byte aligned. */
	if ((uintptr_t)tree % 8) {
		pi->tree_copy = malloc(tree_len);
		if (!pi->tree_copy) {
			err = baton_diag_set(diag, ENOMEM, NULL, NULL);
			goto err_free;
		}
		tree = memcpy(pi->tree_copy, tree, tree_len);
	}

	img->format_version = BATON_IMAGE_FORMAT_VERSION;
	img->generation = baton_get_be64((const uint8_t *)buf +
					 BATON_IMAGE_OFF_GENERATION);
	reader_init(&r, pi, fast_first ? NULL : diag, fast_first);
	err = read_tree(&r, tree, tree_len);
	if (err && fast_first) {
		/* What is wrong, said: from the start, in the rules' order. */
		release_reader(&r);
		free(pi->refs);
		free(pi->by_addr);
		pi->refs = pi->by_addr = NULL;
		reader_init(&r, pi, diag, false);
		err = read_tree(&r, tree, tree_len);
	}
	if (err)
		goto err_release;
	img->fds = r.fds.items;
	img->n_fds = r.fds.n;
	img->regions = r.regions.items;
	img->n_regions = r.regions.n;
	img->devices = r.devices.items;
	img->n_devices = r.devices.n;
	r.fds.items = r.regions.items = r.devices.items = NULL;
	link_refs(&r);
	/* The image keeps the fds' and regions' order for its lookups. */
	pi->fds = r.fds.ix;
	pi->regions = r.regions.ix;
	r.fds.ix = r.regions.ix = (struct units){ 0 };

	release_reader(&r);
	*out = img;
	return 0;

err_release:
	release_reader(&r);
err_free:
	baton_image_free(img);
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
	free(pi->fds.units);
	free(pi->fds.order);
	free(pi->regions.units);
	free(pi->regions.order);
	free(pi->by_addr);
	free(pi);
}

/**
 * baton_image_find_fd() - the position of an image's fd of index @index
 * @img:   an image baton_image_parse() returned
 * @index: the fd's index, as references give it
 *
 * Return: its position in @img->fds, or -EBADMSG if it has none.
 */
ssize_t baton_image_find_fd(const struct baton_image *img, uint32_t index)
{
	ssize_t pos = unit_find(&parsed(img)->fds, index);

	return pos < 0 ? -EBADMSG : pos;
}

/**
 * baton_image_find_region() - the position of an image's region of index @index
 * @img:   an image baton_image_parse() returned
 * @index: the region's index
 *
 * Return: its position in @img->regions, or -EBADMSG if it has none.
 */
ssize_t baton_image_find_region(const struct baton_image *img, uint32_t index)
{
	ssize_t pos = unit_find(&parsed(img)->regions, index);

	return pos < 0 ? -EBADMSG : pos;
}

/**
 * baton_image_find_device() - the position of an image's device at @addr
 * @img:  an image baton_image_parse() returned
 * @addr: the device's address
 *
 * Return: its position in @img->devices, or -ENOENT if it has none.
 */
ssize_t baton_image_find_device(const struct baton_image *img,
				const struct baton_pci_addr *addr)
{
	const uint32_t *by_addr = parsed(img)->by_addr;
	size_t lo = 0, hi = img->n_devices;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t pos = by_addr ? by_addr[mid] : mid;
		int c = baton_pci_addr_cmp(&img->devices[pos].addr, addr);

		if (!c)
			return (ssize_t)pos;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}
