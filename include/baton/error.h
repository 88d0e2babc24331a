/* SPDX-License-Identifier: MIT */
#ifndef BATON_ERROR_H
#define BATON_ERROR_H

/**
 * DOC: errors
 *
 * Every libbaton function returns >= 0 on success or a negative error
 * code of one of two kinds, whose ranges never overlap:
 *
 *  - -errno, below BATON_ERR_BASE: what the system said (ENOMEM, EMFILE,
 *    ENOENT, EPIPE...), passed on as it came, never renamed.  A driver's
 *    ops return these too, and the host passes them on.
 *  - -BATON_ERR_*, from BATON_ERR_BASE up: what Baton itself found wrong:
 *    a corrupt image, a bad contract record, a refused update.
 *
 * baton_strerror() names both kinds.  Functions that read untrusted input
 * (images, ELF files) also fill a struct baton_diag saying *where* the
 * input was wrong, so a tool can print one line: "<what> (<where>)"; the
 * update fills its report's @why with the device, driver and operation
 * that failed.
 */

#include <errno.h>
#include <stddef.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/* Above any errno the kernel can return (MAX_ERRNO is 4095). */
#define BATON_ERR_BASE 4096

enum baton_err {
	BATON_OK = 0,

	/* ---- Image header ---- */
	/* The buffer is shorter than the header, or than the tree the header
	 * announces; or the announced tree size is zero. */
	BATON_ERR_TRUNCATED = BATON_ERR_BASE + 1,
	/* The first 8 bytes are not "BATONIMG". */
	BATON_ERR_BADMAGIC,
	/* format_version is not one this reader understands (only 1). */
	BATON_ERR_BADVERSION,
	/* header_size is not 64, flags are set, or reserved bytes are not 0. */
	BATON_ERR_BADHEADER,
	/* The CRC32C of the tree bytes differs from tree_crc32c. */
	BATON_ERR_BADCRC,

	/* ---- Image tree ---- */
	/* The tree is not a well-formed flattened device tree
	 * (fdt_check_full failed). */
	BATON_ERR_BADTREE,
	/* The root node's compatible is not "baton,image-v1". */
	BATON_ERR_BADCOMPAT,
	/* A required node or property is absent. */
	BATON_ERR_MISSING,
	/* A property has the wrong length or an unparsable value. */
	BATON_ERR_BADVALUE,
	/* Two nodes claim the same index, address or token. */
	BATON_ERR_DUPLICATE,
	/* A device or region refers to an fd or region that does not exist. */
	BATON_ERR_BADREF,
	/* A device's state bytes do not match its state-crc. */
	BATON_ERR_STATECRC,

	/* ---- Contracts ---- */
	/* The file is not an ELF object libelf can read. */
	BATON_ERR_ELF,
	/* The ELF file has no baton_contracts section. */
	BATON_ERR_NOCONTRACTS,
	/* A contract record is malformed, inconsistent or dangling. */
	BATON_ERR_BADCONTRACT,
	/* A pinned schema GUID is not a valid UUID string. */
	BATON_ERR_BADGUID,

	/* ---- Binding ---- */
	/* Two drivers are equally able to take a device: neither does. */
	BATON_ERR_CONFLICT,

	/* ---- Updates ---- */
	/* The update was refused before anything was frozen: the preflight
	 * or the dry run said the target would not take the program over. */
	BATON_ERR_REFUSED,
	/* The update was given up after FREEZE; the previous version goes on
	 * (this process, unwound, or another one the keeper started). */
	BATON_ERR_ABORTED,
	/* The new version restored, but the previous one owns the program
	 * now: exit without touching anything. */
	BATON_ERR_ABANDONED,

	BATON_ERR_MAX
};

/**
 * baton_strerror() - a short phrase for an error code
 * @err: an errno value or a BATON_ERR_* code, positive or negative
 *
 * Return: a static string: the C library's description of an errno
 * value, Baton's of its own codes; "unknown error" for anything else.
 */
const char *baton_strerror(int err);

/**
 * struct baton_diag - where untrusted input went wrong
 * @err:   the error code (positive), 0 when nothing went wrong
 * @what:  what is wrong, more specific than baton_strerror() when known
 * @where: the node path and property, or the record, that is wrong
 */
struct baton_diag {
	int err;
	char what[160];
	char where[160];
};

BATON__END_DECLS

#endif /* BATON_ERROR_H */
