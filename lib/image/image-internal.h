/* SPDX-License-Identifier: MIT */
#ifndef BATON_LIB_IMAGE_INTERNAL_H
#define BATON_LIB_IMAGE_INTERNAL_H

/*
 * What the image reader and packer share (lib/image/); not installed.
 * baton_image_check_fdt() and the walk live in fdt.c.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libfdt_env.h>	/* fdt.h needs its types first */
#include <fdt.h>

#include <baton/error.h>

#include "internal.h"

/* Tags are 4-byte aligned from the start of the structure block. */
static inline size_t baton_fdt_align(size_t off)
{
	return (off + 3) & ~(size_t)3;
}

/* A walk over a tree's structure block (fdt.c); read only through calls. */
struct baton_fdt_walk {
	const uint8_t *s;		/* the structure block */
	size_t size;
	const char *strings;		/* the strings block */
	size_t strings_size;
	size_t names_end;		/* past its last NUL; 0: none */
	size_t off;			/* the next tag */
	unsigned int depth;		/* of the open node; 0: none */
	bool rooted;			/* the root has begun */
	bool after_child;		/* the open node has had a subnode */
	struct baton_diag *diag;
};

/* One token: FDT_BEGIN_NODE, FDT_PROP, FDT_END_NODE or FDT_END. */
struct baton_fdt_token {
	uint32_t tag;
	unsigned int depth;	/* of the node it begins, ends or is in */
	size_t off;		/* in the structure block, for messages */
	const char *name;	/* BEGIN_NODE, PROP: NUL-terminated */
	uint32_t nameoff;	/* PROP: the name's offset in the strings block */
	size_t name_len;	/* BEGIN_NODE */
	const void *val;	/* PROP: its value, len bytes */
	uint32_t len;
};

/**
 * baton_fdt_open() - check a tree's header and start a walk over it
 * @w:    the walk
 * @fdt:  the tree
 * @len:  the bytes available at @fdt
 * @diag: may be NULL
 *
 * Checks what libfdt's fdt_check_header() checks, that the tree is of
 * version 17 or later, fits @len, and has a whole memory reservation
 * block; the structure is checked as baton_fdt_next() walks it.
 *
 * Return: 0 or -BATON_ERR_BADTREE.
 */
int baton_fdt_open(struct baton_fdt_walk *w, const void *fdt, size_t len,
		   struct baton_diag *diag);

/**
 * baton_fdt_next() - the next token of a walk, checked; NOPs are skipped
 * @w: the walk
 * @t: the token
 *
 * Return: 0 or -BATON_ERR_BADTREE (the walk is then over).
 */
int baton_fdt_next(struct baton_fdt_walk *w, struct baton_fdt_token *t);

/*
 * Whether a property's name at @nameoff is in the strings block and
 * NUL-terminated there: whether it begins before the block's last NUL.
 */
static inline bool baton_fdt_name_whole(const struct baton_fdt_walk *w,
					uint32_t nameoff)
{
	return nameoff < w->names_end;
}

/* A property, as baton_fdt_props() gives it. */
struct baton_fdt_prop {
	uint32_t nameoff;	/* its name, NUL-terminated in the strings block */
	uint32_t len;
	const void *val;	/* len bytes */
};

/**
 * baton_fdt_props() - the properties that come next in a walk, checked
 * @w:   the walk, in a node whose properties come next
 * @fn:  called with @ctx and each property
 * @ctx: for @fn
 *
 * For a walker that reads a node's properties in one loop, without a
 * token each (inlined, with @fn: the walk's offset stays in a register).
 * Each is checked as baton_fdt_next() checks it - its length within the
 * block, its name whole in the strings block - NOPs among them walked
 * over.  At the first token that
 * is not a property or a NOP, or is not right, the walk stays on it, for
 * baton_fdt_next() to return or refuse: at the same offset, with the same
 * error.
 */
static inline void baton_fdt_props(struct baton_fdt_walk *w,
				   void (*fn)(void *ctx,
					      const struct baton_fdt_prop *p),
				   void *ctx)
{
	const uint8_t *s = w->s;
	size_t off = w->off, size = w->size, left;
	struct baton_fdt_prop p;
	uint32_t tag;

	/* Properties may come here (token_fits() in fdt.c). */
	if (!w->depth || w->after_child)
		return;
	for (;;) {
		left = off <= size ? size - off : 0;
		if (left < sizeof(struct fdt_property))
			break;
		tag = baton_get_be32(s + off);
		if (tag == FDT_NOP) {
			off += FDT_TAGSIZE;
			continue;
		}
		p.len = baton_get_be32(s + off + 4);
		p.nameoff = baton_get_be32(s + off + 8);
		if (tag != FDT_PROP || p.len > left - sizeof(struct fdt_property) ||
		    !baton_fdt_name_whole(w, p.nameoff))
			break;
		p.val = s + off + sizeof(struct fdt_property);
		fn(ctx, &p);
		off = baton_fdt_align(off + sizeof(struct fdt_property) + p.len);
	}
	w->off = off;
}

/**
 * baton_fdt_skip_props() - walk over the properties that come next
 * @w: the walk, in a node whose properties come next
 *
 * Checks each as baton_fdt_next() would, and returns nothing of them: for
 * a walker that reads them later, or never.  A token that is not a
 * property, or not a right one, is left for baton_fdt_next().
 */
void baton_fdt_skip_props(struct baton_fdt_walk *w);

/**
 * baton_image_check_fdt() - check that a tree is a well-formed FDT
 * @fdt:  the tree, 8-byte aligned
 * @len:  the bytes available at @fdt
 * @diag: may be NULL
 *
 * baton_fdt_open(), then a whole walk: what the reader checks of a tree's
 * structure, for the packer.
 *
 * Return: 0 or -BATON_ERR_BADTREE.
 */
int baton_image_check_fdt(const void *fdt, size_t len,
			  struct baton_diag *diag);

/*
 * baton_image_parse() without its fast path: the walk, then each rule in
 * the order docs/image-format.md gives.  For fuzz_image, which holds the
 * two to the same answer for every input.
 */
int baton_image_parse_in_order(const void *buf, size_t len, struct baton_image **out,
			       struct baton_diag *diag);

#endif /* BATON_LIB_IMAGE_INTERNAL_H */
