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

#include <baton/error.h>

/* Tags are 4-byte aligned from the start of the structure block. */
static inline size_t baton_fdt_align(size_t off)
{
	return (off + 3) & ~(size_t)3;
}

/* Property names already checked, by their offset in the strings block. */
#define BATON_FDT_NAMES 64

struct baton_fdt_name {
	bool known;
	uint32_t nameoff;
	uint32_t len;
};

/* A walk over a tree's structure block (fdt.c); read only through calls. */
struct baton_fdt_walk {
	const uint8_t *s;		/* the structure block */
	size_t size;
	const char *strings;		/* the strings block */
	size_t strings_size;
	size_t off;			/* the next tag */
	unsigned int depth;		/* of the open node; 0: none */
	bool rooted;			/* the root has begun */
	bool after_child;		/* the open node has had a subnode */
	struct baton_diag *diag;
	struct baton_fdt_name names[BATON_FDT_NAMES];
};

/* One token: FDT_BEGIN_NODE, FDT_PROP, FDT_END_NODE or FDT_END. */
struct baton_fdt_token {
	uint32_t tag;
	unsigned int depth;	/* of the node it begins, ends or is in */
	size_t off;		/* in the structure block, for messages */
	const char *name;	/* BEGIN_NODE, PROP: NUL-terminated */
	uint32_t nameoff;	/* PROP: the name's offset in the strings block */
	size_t name_len;
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

#endif /* BATON_LIB_IMAGE_INTERNAL_H */
