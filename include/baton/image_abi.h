/* SPDX-License-Identifier: MIT */
#ifndef BATON_IMAGE_ABI_H
#define BATON_IMAGE_ABI_H

/**
 * DOC: handover image, format v1 (an ABI)
 *
 * THE LAYOUT BELOW IS A CONTRACT between a running version of a program and
 * the next one, which may be built years apart.  docs/image-format.md is its
 * full specification.  All integers are big-endian.
 *
 *   offset size
 *        0    8  magic "BATONIMG"
 *        8    4  format_version (1)
 *       12    4  header_size (64)
 *       16    8  tree_size: bytes of flattened device tree after the header
 *       24    4  tree_crc32c: CRC32C (Castagnoli) of those bytes
 *       28    4  flags (0)
 *       32    8  generation: how many updates the program has been through
 *       40   24  reserved (0)
 *       64       the tree: a flattened device tree (DTB), tree_size bytes
 *
 * Changing this header or the meaning of a node or property needs a new
 * format_version; a reader refuses versions it does not know.  New optional
 * properties may be added without one: readers ignore properties they do
 * not know.
 */

#include <stdint.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

#define BATON_IMAGE_MAGIC		"BATONIMG"
#define BATON_IMAGE_MAGIC_LEN		8
#define BATON_IMAGE_FORMAT_VERSION	1
#define BATON_IMAGE_HEADER_SIZE		64
#define BATON_IMAGE_COMPATIBLE		"baton,image-v1"

#define BATON_IMAGE_OFF_MAGIC		0
#define BATON_IMAGE_OFF_VERSION		8
#define BATON_IMAGE_OFF_HEADER_SIZE	12
#define BATON_IMAGE_OFF_TREE_SIZE	16
#define BATON_IMAGE_OFF_TREE_CRC	24
#define BATON_IMAGE_OFF_FLAGS		28
#define BATON_IMAGE_OFF_GENERATION	32
#define BATON_IMAGE_OFF_RESERVED	40
#define BATON_IMAGE_RESERVED_LEN	24

BATON__END_DECLS

#endif /* BATON_IMAGE_ABI_H */
