// SPDX-License-Identifier: MIT
/**
 * DOC: one walk over a flattened tree
 *
 * The image reader checks and decodes its tree in a single pass over the
 * structure block: baton_fdt_open() checks the FDT header, and each
 * baton_fdt_next() returns the next token (a node beginning, a property,
 * a node's end, the end), after checking it.  libfdt is used only for its
 * header check; its walks check every byte of a node's name and every
 * offset once per call, and a reader built on them walked the tree four
 * times (two thirds of a parse's instructions).
 *
 * Nothing is trusted: every length is compared with what is left of its
 * block, in 64-bit arithmetic, before anything is read; a tree that ends
 * early, nests badly, has two roots, a named root, a property outside a
 * node or after a node's first subnode, or a property name outside the
 * strings block is refused.  Offsets only move forward, so a walk ends.
 *
 * Lifecycle: open, then next until FDT_END or an error; the walk holds no
 * memory, and the tree must not change under it.
 */
#include <limits.h>
#include <string.h>

#include <libfdt.h>

#include "internal.h"
#include "image-internal.h"

static int walk_err(struct baton_diag *diag, int fdt_err, size_t off)
{
	return baton_diag_set(diag, BATON_ERR_BADTREE, "/",
			      "malformed device tree: %s at offset %zu of the structure block",
			      fdt_strerror(fdt_err), off);
}

static int header_err(struct baton_diag *diag, int fdt_err)
{
	return baton_diag_set(diag, BATON_ERR_BADTREE, "/",
			      "malformed device tree: %s",
			      fdt_strerror(fdt_err));
}

/* A block of @size bytes at @off, inside the tree's @total bytes. */
static bool block_fits(uint32_t off, uint32_t size, uint32_t total)
{
	return (uint64_t)off + size <= total;
}

int baton_fdt_open(struct baton_fdt_walk *w, const void *fdt, size_t len,
		   struct baton_diag *diag)
{
	uint32_t total, off_struct, size_struct, off_strings, size_strings;
	int err;

	memset(w, 0, sizeof(*w));
	w->diag = diag;
	/* fdt_check_header() reads a whole version 17 header. */
	if (len < FDT_V17_SIZE)
		return baton_diag_set(diag, BATON_ERR_BADTREE, "/",
				      "tree is %zu bytes, shorter than an FDT header",
				      len);
	err = fdt_check_header(fdt);
	if (err)
		return header_err(diag, err);
	/*
	 * Before version 16 node names were full paths, and libfdt 1.6.1's
	 * fdt_check_full() dereferences NULL on a root name without a '/'.
	 * dtc and libfdt write version 17.
	 */
	if (fdt_version(fdt) < 17)
		return baton_diag_set(diag, BATON_ERR_BADTREE, "/",
				      "FDT version %u, expected at least 17",
				      fdt_version(fdt));
	total = fdt_totalsize(fdt);
	if (total > len)
		return header_err(diag, -FDT_ERR_TRUNCATED);
	/* The memory reservation block is ignored, but must be whole. */
	err = fdt_num_mem_rsv(fdt);
	if (err < 0)
		return header_err(diag, err);

	/* fdt_check_header() checks these too; this walk relies on them. */
	off_struct = fdt_off_dt_struct(fdt);
	size_struct = fdt_size_dt_struct(fdt);
	off_strings = fdt_off_dt_strings(fdt);
	size_strings = fdt_size_dt_strings(fdt);
	if (!block_fits(off_struct, size_struct, total) ||
	    !block_fits(off_strings, size_strings, total) || total > INT_MAX)
		return header_err(diag, -FDT_ERR_TRUNCATED);

	w->s = (const uint8_t *)fdt + off_struct;
	w->size = size_struct;
	w->strings = (const char *)fdt + off_strings;
	w->strings_size = size_strings;
	return 0;
}

/* Writers share one string among the properties of one name. */
static bool name_known(const struct baton_fdt_walk *w, uint32_t nameoff)
{
	const struct baton_fdt_name *seen = &w->names[nameoff % BATON_FDT_NAMES];

	return seen->known && seen->nameoff == nameoff;
}

/* The name at @nameoff in the strings block; its length in *@len. */
static int prop_name(struct baton_fdt_walk *w, uint32_t nameoff,
		     const char **name, size_t *len)
{
	struct baton_fdt_name *seen = &w->names[nameoff % BATON_FDT_NAMES];
	const char *end;

	if (name_known(w, nameoff)) {
		*name = w->strings + nameoff;
		*len = seen->len;
		return 0;
	}
	if (nameoff >= w->strings_size)
		return -FDT_ERR_BADOFFSET;
	end = memchr(w->strings + nameoff, '\0', w->strings_size - nameoff);
	if (!end)
		return -FDT_ERR_TRUNCATED;
	*name = w->strings + nameoff;
	*len = end - *name;
	*seen = (struct baton_fdt_name){ .known = true, .nameoff = nameoff,
					 .len = (uint32_t)*len };
	return 0;
}

/* The token at @off; *@next is where the one after it begins. */
static int read_token(struct baton_fdt_walk *w, size_t off,
		      struct baton_fdt_token *t, size_t *next)
{
	size_t left = off <= w->size ? w->size - off : 0;
	const char *end;
	uint32_t len;
	int err;

	if (left < FDT_TAGSIZE)
		return -FDT_ERR_TRUNCATED;
	t->tag = baton_get_be32(w->s + off);
	t->off = off;
	switch (t->tag) {
	case FDT_BEGIN_NODE:
		t->name = (const char *)w->s + off + FDT_TAGSIZE;
		end = memchr(t->name, '\0', left - FDT_TAGSIZE);
		if (!end)
			return -FDT_ERR_TRUNCATED;
		t->name_len = end - t->name;
		*next = baton_fdt_align(off + FDT_TAGSIZE + t->name_len + 1);
		return 0;
	case FDT_PROP:
		if (left < sizeof(struct fdt_property))
			return -FDT_ERR_TRUNCATED;
		len = baton_get_be32(w->s + off + 4);
		if (len > left - sizeof(struct fdt_property))
			return -FDT_ERR_TRUNCATED;
		t->nameoff = baton_get_be32(w->s + off + 8);
		err = prop_name(w, t->nameoff, &t->name, &t->name_len);
		if (err)
			return err;
		t->val = w->s + off + sizeof(struct fdt_property);
		t->len = len;
		*next = baton_fdt_align(off + sizeof(struct fdt_property) + len);
		return 0;
	case FDT_END_NODE:
	case FDT_NOP:
	case FDT_END:
		*next = off + FDT_TAGSIZE;
		return 0;
	default:
		return -FDT_ERR_BADSTRUCTURE;
	}
}

/* Whether @t may come where the walk stands; moves the walk's depth. */
static bool token_fits(struct baton_fdt_walk *w,
		       const struct baton_fdt_token *t)
{
	switch (t->tag) {
	case FDT_BEGIN_NODE:
		/* One root, unnamed, first; a node's properties come first. */
		if (!w->depth && (w->rooted || t->name_len))
			return false;
		w->rooted = true;
		w->after_child = false;
		w->depth++;
		return true;
	case FDT_PROP:
		return w->depth && !w->after_child;
	case FDT_END_NODE:
		if (!w->depth)
			return false;
		w->depth--;
		w->after_child = true;
		return true;
	case FDT_NOP:
		return w->depth > 0;
	default:	/* FDT_END */
		return w->rooted && !w->depth;
	}
}

/* After FDT_END the walk is over: calling again is a caller's bug. */
int baton_fdt_next(struct baton_fdt_walk *w, struct baton_fdt_token *t)
{
	size_t next;
	int err;

	do {
		err = read_token(w, w->off, t, &next);
		if (err)
			return walk_err(w->diag, err, w->off);
		t->depth = w->depth;
		if (!token_fits(w, t))
			return walk_err(w->diag, -FDT_ERR_BADSTRUCTURE, w->off);
		if (t->tag == FDT_BEGIN_NODE)
			t->depth = w->depth;
		w->off = next;
	} while (t->tag == FDT_NOP);
	return 0;
}

/*
 * What a walker that needs only where a node's properties end gets: each
 * property checked as read_token() checks it, its contents not returned.
 * At the first token that is not a property or a NOP, or is not right,
 * the walk stays on it, for baton_fdt_next() to return or refuse: at the
 * same offset, with the same error.
 */
void baton_fdt_skip_props(struct baton_fdt_walk *w)
{
	const char *name;
	size_t left, name_len;
	uint32_t tag, len, nameoff;

	/* Properties may come here (token_fits()). */
	if (!w->depth || w->after_child)
		return;
	for (;;) {
		left = w->off <= w->size ? w->size - w->off : 0;
		if (left < sizeof(struct fdt_property))
			return;
		tag = baton_get_be32(w->s + w->off);
		if (tag == FDT_NOP) {
			w->off += FDT_TAGSIZE;
			continue;
		}
		len = baton_get_be32(w->s + w->off + 4);
		nameoff = baton_get_be32(w->s + w->off + 8);
		if (tag != FDT_PROP || len > left - sizeof(struct fdt_property) ||
		    (!name_known(w, nameoff) &&
		     prop_name(w, nameoff, &name, &name_len)))
			return;
		w->off = baton_fdt_align(w->off + sizeof(struct fdt_property) + len);
	}
}

int baton_image_check_fdt(const void *fdt, size_t len,
			  struct baton_diag *diag)
{
	struct baton_fdt_walk w;
	struct baton_fdt_token t;
	int err = baton_fdt_open(&w, fdt, len, diag);

	while (!err) {
		err = baton_fdt_next(&w, &t);
		if (!err && t.tag == FDT_END)
			break;
	}
	return err;
}
