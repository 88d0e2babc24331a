/* SPDX-License-Identifier: MIT */
#ifndef BATON_ERROR_H
#define BATON_ERROR_H

/**
 * DOC: errors
 *
 * Every libbaton function returns >= 0 on success or a negative
 * BATON_ERR_* code.  baton_strerror() turns a code into a short phrase.
 * Functions that read untrusted input (images, ELF files) also fill a
 * struct baton_diag saying *where* the input was wrong, so a tool can print
 * one line: "<what> (<where>)".
 */

#include <stddef.h>

enum baton_err {
	BATON_OK = 0,

	/* ---- Image header ---- */
	/* The buffer is shorter than the header, or than the tree the header
	 * announces; or the announced tree size is zero. */
	BATON_ERR_TRUNCATED = 1,
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

	/* ---- Environment ---- */
	/* Memory allocation failed. */
	BATON_ERR_NOMEM,
	/* A system call failed; errno has the reason. */
	BATON_ERR_IO,
	/* An argument is out of range or inconsistent (caller's bug). */
	BATON_ERR_INVAL,
	/* A result does not fit the buffer or limit it must fit. */
	BATON_ERR_RANGE,

	/* ---- Updates ---- */
	/* The preflight found a mandatory device the target would not bind. */
	BATON_ERR_REFUSED,

	BATON_ERR_MAX
};

/**
 * baton_strerror() - a short phrase for an error code
 * @err: a BATON_ERR_* code, positive or negative
 *
 * Return: a static string; "unknown error" for codes out of range.
 */
const char *baton_strerror(int err);

/**
 * struct baton_diag - where untrusted input went wrong
 * @err:   the BATON_ERR_* code (positive), 0 when nothing went wrong
 * @what:  what is wrong, more specific than baton_strerror() when known
 * @where: the node path and property, or the record, that is wrong
 */
struct baton_diag {
	int err;
	char what[160];
	char where[160];
};

#endif /* BATON_ERROR_H */
