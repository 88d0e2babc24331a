/* SPDX-License-Identifier: MIT */
#ifndef BATON_LIB_IMAGE_INTERNAL_H
#define BATON_LIB_IMAGE_INTERNAL_H

/*
 * What the image reader and packer share (lib/image/); not installed.
 * It lives in header.c.
 */

#include <stddef.h>

#include <baton/error.h>

/**
 * baton_image_check_fdt() - check that a tree is a well-formed FDT
 * @fdt:  the tree, 8-byte aligned
 * @len:  the bytes available at @fdt
 * @diag: may be NULL
 *
 * fdt_check_full(), guarded against what libfdt 1.6.1 itself does not
 * survive: a buffer shorter than an FDT header, trees older than FDT
 * version 17, and property lengths that wrap its offsets around.
 *
 * Return: 0 or -BATON_ERR_BADTREE.
 */
int baton_image_check_fdt(const void *fdt, size_t len,
			  struct baton_diag *diag);

#endif /* BATON_LIB_IMAGE_INTERNAL_H */
