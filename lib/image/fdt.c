// SPDX-License-Identifier: MIT
/**
 * DOC: one walk over a flattened tree
 *
 * The image reader checks and decodes its tree in a single pass over the
 * structure block: baton_fdt_open() checks the FDT header, and each
 * baton_fdt_next() returns the next token (a node beginning, a property,
 * a node's end, the end), after checking it; a walker may take the
 * properties that come next in one loop instead (baton_fdt_props(), in
 * image-internal.h to be inlined), each checked the same way.  libfdt is
 * used only for its header check; its walks check every byte of a node's name and every
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
	/*
	 * A name is whole when a NUL follows it in the block: when it begins
	 * before the block's last NUL.  One comparison a property, then
	 * (baton_fdt_name_whole()), where a memchr() a name was.
	 */
	for (w->names_end = size_strings;
	     w->names_end && w->strings[w->names_end - 1]; w->names_end--)
		;
	return 0;
}

/* What is wrong with the name at @nameoff, if anything. */
static int name_err(const struct baton_fdt_walk *w, uint32_t nameoff)
{
	if (baton_fdt_name_whole(w, nameoff))
		return 0;
	return nameoff >= w->strings_size ? -FDT_ERR_BADOFFSET :
					    -FDT_ERR_TRUNCATED;
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
		err = name_err(w, t->nameoff);
		if (err)
			return err;
		t->name = w->strings + t->nameoff;
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

/* What a walker that reads a node's properties later, or never, calls. */
static void skip(void *ctx, const struct baton_fdt_prop *p)
{
	(void)ctx;
	(void)p;
}

void baton_fdt_skip_props(struct baton_fdt_walk *w)
{
	baton_fdt_props(w, skip, NULL);
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
