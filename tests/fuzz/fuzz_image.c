// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the image reader.  Any input must parse or be
 * refused with an error that names itself in the diag, without reading
 * outside the input (the sanitizers watch that).  An input that parses must
 * write back, and what is written must parse again to the same counts: the
 * writer validates through the reader, so a parsed image it refused would
 * mean the two disagree on the format.
 *
 * The reader's fast path (each container child decoded as the walk meets
 * it) must answer as the rules' order does (baton_image_parse_in_order()):
 * the same error, or an image that writes the same bytes.
 *
 * Each input is tried twice: as it is, and with the tree CRC the header
 * should have, so that mutations of the tree reach the tree rules instead
 * of stopping at BADCRC.  The second copy sits at an odd address, which
 * also exercises the reader's copy of a misaligned tree.
 *
 * Seeds: tests/fuzz/corpus/ (see its README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <baton/image.h>

#include "image/image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @img (or @err) as the rules' order reads @data; @buf, @len: @img written. */
static void same_in_order(const uint8_t *data, size_t size, int err,
			  const void *buf, size_t len)
{
	struct baton_image *slow;
	void *slow_buf;
	size_t slow_len;

	if (baton_image_parse_in_order(data, size, &slow, NULL) != err)
		abort();
	if (err)
		return;
	if (baton_image_write(slow, &slow_buf, &slow_len) || slow_len != len ||
	    memcmp(slow_buf, buf, len))
		abort();
	free(slow_buf);
	baton_image_free(slow);
}

static void check(const uint8_t *data, size_t size)
{
	struct baton_diag diag = { 0 };
	struct baton_image *img, *again;
	void *buf;
	size_t len;
	int err;

	err = baton_image_parse(data, size, &img, &diag);
	if (err) {
		if (img || diag.err != -err || !diag.what[0])
			abort();
		same_in_order(data, size, err, NULL, 0);
		return;
	}

	if (baton_image_write(img, &buf, &len))
		abort();
	same_in_order(data, size, 0, buf, len);
	if (baton_image_parse(buf, len, &again, NULL))
		abort();
	if (again->generation != img->generation ||
	    strcmp(again->program, img->program) ||
	    again->n_fds != img->n_fds ||
	    again->n_regions != img->n_regions ||
	    again->n_devices != img->n_devices)
		abort();

	baton_image_free(again);
	free(buf);
	baton_image_free(img);
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy, *img;
	uint64_t tree_size;
	uint32_t crc;

	check(data, size);

	if (size < BATON_IMAGE_HEADER_SIZE)
		return 0;
	tree_size = be(data + BATON_IMAGE_OFF_TREE_SIZE, 8);
	if (tree_size > size - BATON_IMAGE_HEADER_SIZE)
		return 0;
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	img = copy + 1;
	memcpy(img, data, size);
	crc = baton_crc32c(img + BATON_IMAGE_HEADER_SIZE, tree_size);
	for (int i = 0; i < 4; i++)
		img[BATON_IMAGE_OFF_TREE_CRC + i] = crc >> (24 - 8 * i);
	check(img, size);
	free(copy);
	return 0;
}
