// SPDX-License-Identifier: MIT
/**
 * DOC: image header
 *
 * The 64-byte header in front of the tree (include/baton/image_abi.h,
 * docs/image-format.md) and what the reader, writer and packer share:
 *
 * - baton_image_tree() checks the header, in this order, and stops at the
 *   first problem: the buffer holds a whole header (TRUNCATED), magic
 *   (BADMAGIC), format_version (BADVERSION), header_size (BADHEADER), flags
 *   and reserved bytes (BADHEADER), tree_size non-zero and within the buffer
 *   (TRUNCATED), tree CRC32C (BADCRC).  Bytes after the tree are ignored.
 * - baton_image_pack() puts a header in front of a tree whose structure
 *   baton_image_check_fdt() (fdt.c) accepts; the writer lays out its tree
 *   and hands it to the packer.
 * - The names of fd kinds and orphan policies, which are the strings the
 *   tree stores; the reader maps strings back through these functions, so
 *   each name is spelled once.
 */
#include <errno.h>
#include <stdlib.h>

#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"
#include "image-internal.h"

static const char *const fd_kind_names[] = {
	[BATON_FD_MEMFD] = "memfd",
	[BATON_FD_SOCKET] = "socket",
	[BATON_FD_PIPE] = "pipe",
	[BATON_FD_EVENTFD] = "eventfd",
	[BATON_FD_VFIO_DEVICE] = "vfio-device",
	[BATON_FD_VFIO_CONTAINER] = "vfio-container",
	[BATON_FD_OTHER] = "other",
	[BATON_FD_VFIO_GROUP] = "vfio-group",
	[BATON_FD_IOMMUFD] = "iommufd",
};

static const char *const orphan_names[] = {
	[BATON_ORPHAN_QUARANTINE] = "quarantine",
	[BATON_ORPHAN_RESET] = "reset",
};

/**
 * baton_fd_kind_name() - the name an fd kind has in the image
 * @kind: the kind
 *
 * Return: "memfd", "socket", ...; NULL when @kind is out of range.
 */
const char *baton_fd_kind_name(enum baton_fd_kind kind)
{
	if ((unsigned int)kind >= BATON_ARRAY_SIZE(fd_kind_names))
		return NULL;
	return fd_kind_names[kind];
}

/**
 * baton_orphan_name() - the name an orphan policy has in the image
 * @orphan: the policy
 *
 * Return: "quarantine" or "reset"; NULL when @orphan is out of range.
 */
const char *baton_orphan_name(enum baton_orphan orphan)
{
	if ((unsigned int)orphan >= BATON_ARRAY_SIZE(orphan_names))
		return NULL;
	return orphan_names[orphan];
}

/* Index of the first non-zero reserved byte, or -1. */
static int reserved_nonzero(const uint8_t *hdr)
{
	for (int i = 0; i < BATON_IMAGE_RESERVED_LEN; i++)
		if (hdr[BATON_IMAGE_OFF_RESERVED + i])
			return i;
	return -1;
}

/**
 * baton_image_tree() - locate the tree of an image after checking the header
 * @buf:      the image
 * @len:      its length
 * @tree:     set to the tree inside @buf
 * @tree_len: set to the tree's size
 * @diag:     may be NULL
 *
 * Return: 0, -BATON_ERR_TRUNCATED, -BATON_ERR_BADMAGIC,
 * -BATON_ERR_BADVERSION, -BATON_ERR_BADHEADER or -BATON_ERR_BADCRC.
 */
int baton_image_tree(const void *buf, size_t len, const void **tree,
		     size_t *tree_len, struct baton_diag *diag)
{
	const uint8_t *hdr = buf;
	uint32_t version, header_size, flags, stored, computed;
	uint64_t size;
	int reserved;

	if (len < BATON_IMAGE_HEADER_SIZE)
		return baton_diag_set(diag, BATON_ERR_TRUNCATED, "header",
				      "image is %zu bytes, shorter than its %d-byte header",
				      len, BATON_IMAGE_HEADER_SIZE);
	if (memcmp(hdr + BATON_IMAGE_OFF_MAGIC, BATON_IMAGE_MAGIC,
		   BATON_IMAGE_MAGIC_LEN))
		return baton_diag_set(diag, BATON_ERR_BADMAGIC, "header: magic",
				      "magic is not \"%s\"", BATON_IMAGE_MAGIC);

	version = baton_get_be32(hdr + BATON_IMAGE_OFF_VERSION);
	if (version != BATON_IMAGE_FORMAT_VERSION)
		return baton_diag_set(diag, BATON_ERR_BADVERSION,
				      "header: format_version",
				      "format version %u, this reader knows only %d",
				      version, BATON_IMAGE_FORMAT_VERSION);

	header_size = baton_get_be32(hdr + BATON_IMAGE_OFF_HEADER_SIZE);
	if (header_size != BATON_IMAGE_HEADER_SIZE)
		return baton_diag_set(diag, BATON_ERR_BADHEADER,
				      "header: header_size",
				      "header_size %u, expected %d",
				      header_size, BATON_IMAGE_HEADER_SIZE);

	flags = baton_get_be32(hdr + BATON_IMAGE_OFF_FLAGS);
	if (flags)
		return baton_diag_set(diag, BATON_ERR_BADHEADER,
				      "header: flags",
				      "flags 0x%08x, expected 0", flags);
	reserved = reserved_nonzero(hdr);
	if (reserved >= 0)
		return baton_diag_set(diag, BATON_ERR_BADHEADER,
				      "header: reserved",
				      "reserved byte %d is 0x%02x, expected 0",
				      reserved,
				      hdr[BATON_IMAGE_OFF_RESERVED + reserved]);

	/* Compare against what is left, so a huge tree_size cannot wrap. */
	size = baton_get_be64(hdr + BATON_IMAGE_OFF_TREE_SIZE);
	if (size == 0)
		return baton_diag_set(diag, BATON_ERR_TRUNCATED,
				      "header: tree_size", "tree_size is 0");
	if (size > len - BATON_IMAGE_HEADER_SIZE)
		return baton_diag_set(diag, BATON_ERR_TRUNCATED,
				      "header: tree_size",
				      "tree_size %llu exceeds the %zu bytes after the header",
				      (unsigned long long)size,
				      len - BATON_IMAGE_HEADER_SIZE);

	stored = baton_get_be32(hdr + BATON_IMAGE_OFF_TREE_CRC);
	computed = baton_crc32c(hdr + BATON_IMAGE_HEADER_SIZE, size);
	if (stored != computed)
		return baton_diag_set(diag, BATON_ERR_BADCRC,
				      "header: tree_crc32c",
				      "tree CRC32C mismatch: stored 0x%08x, computed 0x%08x",
				      stored, computed);

	*tree = hdr + BATON_IMAGE_HEADER_SIZE;
	*tree_len = size;
	return 0;
}

/* The header of an image whose tree is already in place after it. */
static void put_header(uint8_t *hdr, size_t tree_len, uint64_t generation)
{
	memset(hdr, 0, BATON_IMAGE_HEADER_SIZE);
	memcpy(hdr + BATON_IMAGE_OFF_MAGIC, BATON_IMAGE_MAGIC,
	       BATON_IMAGE_MAGIC_LEN);
	baton_put_be32(hdr + BATON_IMAGE_OFF_VERSION,
		       BATON_IMAGE_FORMAT_VERSION);
	baton_put_be32(hdr + BATON_IMAGE_OFF_HEADER_SIZE,
		       BATON_IMAGE_HEADER_SIZE);
	baton_put_be64(hdr + BATON_IMAGE_OFF_TREE_SIZE, tree_len);
	baton_put_be32(hdr + BATON_IMAGE_OFF_TREE_CRC,
		       baton_crc32c(hdr + BATON_IMAGE_HEADER_SIZE, tree_len));
	baton_put_be64(hdr + BATON_IMAGE_OFF_GENERATION, generation);
}

/**
 * baton_image_pack() - wrap a flattened device tree in an image header
 * @dtb:        the tree, at any alignment
 * @dtb_len:    its size; bytes after the tree's totalsize are dropped
 * @generation: the header's generation
 * @out:        set to a malloc'd image
 * @len:        set to its length
 *
 * Only the tree's structure is checked (baton_image_check_fdt()),
 * so fixtures that break the image's other rules can be built on purpose.
 *
 * Return: 0, -BATON_ERR_BADTREE, -ENOMEM.
 */
int baton_image_pack(const void *dtb, size_t dtb_len, uint64_t generation,
		     void **out, size_t *len)
{
	uint8_t *img;
	size_t tree_len;

	if (dtb_len > SIZE_MAX - BATON_IMAGE_HEADER_SIZE)
		return -BATON_ERR_BADTREE;
	/* The copy also gives libfdt the 8-byte alignment it requires. */
	img = malloc(BATON_IMAGE_HEADER_SIZE + dtb_len);
	if (!img)
		return -ENOMEM;
	memcpy(img + BATON_IMAGE_HEADER_SIZE, dtb, dtb_len);

	if (baton_image_check_fdt(img + BATON_IMAGE_HEADER_SIZE, dtb_len,
				  NULL)) {
		free(img);
		return -BATON_ERR_BADTREE;
	}
	tree_len = fdt_totalsize(img + BATON_IMAGE_HEADER_SIZE);
	put_header(img, tree_len, generation);

	*out = img;
	*len = BATON_IMAGE_HEADER_SIZE + tree_len;
	return 0;
}
