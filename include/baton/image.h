/* SPDX-License-Identifier: MIT */
#ifndef BATON_IMAGE_H
#define BATON_IMAGE_H

/**
 * DOC: handover image
 *
 * The image is what one version of a program leaves to the next: which fds
 * it hands over, which memory regions live in them, and one record per
 * preserved device (address, ids, schema GUID, state payload, orphan
 * policy).  Each fd belongs to a named session (the kernel LUO's: a set of
 * fds preserved together; "" is the default session) and carries a 64-bit
 * token, by which the next version asks for it, unique within its session.
 * Its byte layout is image_abi.h and docs/image-format.md.
 *
 * Reading: baton_image_parse() validates the whole image once, up front -
 * header, CRC, the tree's structure, every node and property, every reference -
 * and only then returns a decoded struct baton_image.  It never reads
 * outside the buffer, whatever the input.  Strings and state in the result
 * point into the caller's buffer (or, if the tree in it is not 8-byte
 * aligned, into a copy the image owns), so they are valid while both the
 * buffer and the image live.
 *
 * Writing: fill a struct baton_image and call baton_image_write(), which
 * checks its result with the reader.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/error.h>
#include <baton/image_abi.h>
#include <baton/pci.h>
#include <baton/schema.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

enum baton_fd_kind {
	BATON_FD_MEMFD,
	BATON_FD_SOCKET,
	BATON_FD_PIPE,
	BATON_FD_EVENTFD,
	BATON_FD_VFIO_DEVICE,
	BATON_FD_VFIO_CONTAINER,
	BATON_FD_OTHER,
	/*
	 * Added after OTHER so that no earlier value changes; readers that
	 * predate them refuse an image holding one (docs/image-format.md).
	 */
	BATON_FD_VFIO_GROUP,		/* type1: /dev/vfio/N */
	BATON_FD_IOMMUFD,		/* /dev/iommu */
};

/* What happens to a preserved device no driver accepts. */
enum baton_orphan {
	BATON_ORPHAN_QUARANTINE,	/* untouched, unbound, fds held, no reset */
	BATON_ORPHAN_RESET,		/* state dropped, device reset, cold probe */
};

/* fds { fd@N { token; kind; session; } } */
struct baton_image_fd {
	uint32_t index;
	uint64_t token;		/* unique within the session */
	/*
	 * The session the fd belongs to; "" is the default session.  The
	 * reader sets "" when the property is absent; the writer takes NULL
	 * as "" and writes no property for either, so that an image without
	 * sessions is one that readers predating them know.
	 */
	const char *session;
	enum baton_fd_kind kind;
};

/* regions { region@N { fd; size; label; } } */
struct baton_image_region {
	uint32_t index;
	uint32_t fd;		/* index of an fd node */
	uint64_t size;
	const char *label;	/* "" when absent; NULL is written as "" */
};

/* devices { device@N { ... } } */
struct baton_image_device {
	uint32_t index;
	const char *bus;			/* "pci" (also when NULL) */
	struct baton_pci_addr addr;
	struct baton_pci_ids ids;
	uint8_t schema[BATON_GUID_SIZE];
	const char *schema_name;		/* NULL when absent */
	uint32_t schema_version;		/* 0 when absent */
	const void *state;			/* NULL when absent */
	uint32_t state_size;
	size_t n_fds;
	uint32_t *fds;				/* fd indices */
	size_t n_regions;
	uint32_t *regions;			/* region indices */
	enum baton_orphan orphan;
	bool mandatory;
};

struct baton_image {
	uint32_t format_version;
	uint64_t generation;
	const char *program;
	const char *exec_path;		/* the binary that wrote it; NULL if absent */
	size_t n_fds;
	struct baton_image_fd *fds;
	size_t n_regions;
	struct baton_image_region *regions;
	size_t n_devices;
	struct baton_image_device *devices;
};

/**
 * baton_image_parse() - validate and decode an image
 * @buf:  the image bytes (header and tree); must outlive *@out
 * @len:  their number; bytes after the tree are ignored
 * @out:  the decoded image, free with baton_image_free(); NULL on error
 * @diag: what is wrong and where (node and property), may be NULL; the
 *        first error recorded in it is kept, so pass it zeroed
 *
 * The rules, and the order they are checked in, are those of
 * docs/image-format.md.
 *
 * Return: 0; -BATON_ERR_TRUNCATED, -BATON_ERR_BADMAGIC,
 * -BATON_ERR_BADVERSION, -BATON_ERR_BADHEADER, -BATON_ERR_BADCRC (header);
 * -BATON_ERR_BADTREE, -BATON_ERR_BADCOMPAT, -BATON_ERR_MISSING,
 * -BATON_ERR_BADVALUE, -BATON_ERR_DUPLICATE, -BATON_ERR_BADREF,
 * -BATON_ERR_STATECRC (tree); -ENOMEM.
 */
int baton_image_parse(const void *buf, size_t len, struct baton_image **out,
		      struct baton_diag *diag);

/**
 * baton_image_free() - free an image baton_image_parse() returned
 * @img: the image, or NULL
 *
 * The buffer it was parsed from is the caller's, and is left alone.
 */
void baton_image_free(struct baton_image *img);

/**
 * baton_image_write() - serialize an image
 * @img: the image; indices must be unique, fd tokens unique within each
 *       session, and references must resolve; program must not be NULL;
 *       format_version is ignored (the writer writes version 1)
 * @out: a malloc'd buffer with header and tree, free with free()
 * @len: its length
 *
 * The result always parses back to an equal image with baton_image_parse():
 * the writer parses it before returning it.
 *
 * Return: 0, -EINVAL (@img would not parse back), -EFBIG (the tree would
 * exceed libfdt's 2 GiB), -ENOMEM.
 */
int baton_image_write(const struct baton_image *img, void **out, size_t *len);

/**
 * baton_image_pack() - wrap a flattened device tree in an image header
 * @dtb, @dtb_len: the tree, at any alignment; only its structure is
 *                 checked (as the reader checks it, FDT version 17), so fixtures
 *                 that break other rules can be built on purpose; bytes
 *                 after its totalsize are dropped
 * @generation:    the header's generation
 * @out, @len:     a malloc'd image
 *
 * Return: 0, -BATON_ERR_BADTREE, -ENOMEM.
 */
int baton_image_pack(const void *dtb, size_t dtb_len, uint64_t generation,
		     void **out, size_t *len);

/**
 * baton_image_tree() - locate the tree of an image after checking the header
 * @buf, @len: the image
 * @tree, @tree_len: set to the tree inside @buf
 * @diag: may be NULL
 *
 * Checks magic, version, header size, flags, reserved bytes, tree size and
 * tree CRC; not the tree itself.
 *
 * Return: 0 or a header error of baton_image_parse().
 */
int baton_image_tree(const void *buf, size_t len, const void **tree,
		     size_t *tree_len, struct baton_diag *diag);

/**
 * baton_fd_kind_name() - the name an fd kind has in the image
 * @kind: the kind
 *
 * Return: "memfd", "socket", "pipe", "eventfd", "vfio-device",
 * "vfio-container" or "other"; NULL for a value out of range.
 */
const char *baton_fd_kind_name(enum baton_fd_kind kind);

/**
 * baton_orphan_name() - the name an orphan policy has in the image
 * @orphan: the policy
 *
 * Return: "quarantine" or "reset"; NULL for a value out of range.
 */
const char *baton_orphan_name(enum baton_orphan orphan);

/**
 * baton_crc32c() - the CRC32C of a buffer, as the image header carries it
 * @buf: the bytes
 * @len: their number
 *
 * Castagnoli, reflected, initial value and final xor ~0, as in iSCSI and
 * ext4; each call starts afresh (there is no running CRC to pass in).
 *
 * Return: the CRC.
 */
uint32_t baton_crc32c(const void *buf, size_t len);

BATON__END_DECLS

#endif /* BATON_IMAGE_H */
