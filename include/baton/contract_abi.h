/* SPDX-License-Identifier: MIT */
#ifndef BATON_CONTRACT_ABI_H
#define BATON_CONTRACT_ABI_H

/**
 * DOC: contract records (an ABI)
 *
 * Declaring a schema or a driver (see schema.h and driver.h) places
 * fixed-size records in the ELF section "baton_contracts" of the binary.
 * `baton contracts`, `baton plan` and `baton schema` read them from the file
 * with libelf, without running the program; the runtime registry decodes the
 * same records, so the two views cannot differ.
 *
 * THE LAYOUT BELOW IS A CONTRACT between a binary and every baton tool that
 * will ever read it.  Records carry no pointers (a pointer means nothing in a
 * file that is not running).  They are in the byte order of the binary's ELF
 * class.  Records of one object are linked by @owner, the C identifier of the
 * declared schema or driver, because the linker keeps neither the order of
 * records nor their adjacency across objects.  Do not change a field; add a
 * new @kind or bump BATON_CONTRACT_ABI and teach the reader both.
 *
 * The alignment is on the type, so sizeof is a multiple of it and the
 * records of one array never have padding between them.  Compilers may
 * still align a whole array more strictly (gcc aligns large arrays to 32
 * bytes on x86-64), so the linker can leave zeros between the arrays of two
 * declarations: a reader skips 8-byte words of zeros between records.  A
 * record never starts with zeros, since it starts with @magic.
 */

#include <stdint.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

#define BATON_CONTRACT_SECTION	"baton_contracts"
#define BATON_CONTRACT_MAGIC	0x4e435442u	/* "BTCN" read as little-endian */
#define BATON_CONTRACT_ABI	1

#define BATON_CONTRACT_NAME_MAX	64	/* including the NUL */
#define BATON_CONTRACT_TYPE_MAX	24
#define BATON_CONTRACT_GUID_STRLEN 37	/* 36 characters and the NUL */

enum baton_contract_kind {
	BATON_REC_SCHEMA = 1,	/* a schema: name, version, field count */
	BATON_REC_FIELD = 2,	/* one field of the schema named by owner */
	BATON_REC_DRIVER = 3,	/* a driver: name, priority, table sizes */
	BATON_REC_ID = 4,	/* one id-table entry of the driver owner */
	BATON_REC_ACCEPT = 5,	/* one accepted schema of the driver owner */
};

enum baton_accept_via {
	BATON_VIA_NATIVE = 1,
	BATON_VIA_CONVERTER = 2,
};

struct baton_contract_schema_rec {
	char name[BATON_CONTRACT_NAME_MAX];
	uint32_t version;
	uint32_t n_fields;
	char pinned_guid[BATON_CONTRACT_GUID_STRLEN]; /* "" when not pinned */
};

struct baton_contract_field_rec {
	uint32_t index;		/* position in declaration order */
	uint32_t offset;
	uint32_t size;
	uint32_t count;		/* 0 for a scalar, elements for an array */
	char name[BATON_CONTRACT_NAME_MAX];
	char type[BATON_CONTRACT_TYPE_MAX];	/* element type: "u8" ... "s64" */
};

struct baton_contract_driver_rec {
	char name[BATON_CONTRACT_NAME_MAX];	/* informational only */
	int32_t priority;
	uint32_t n_ids;
	uint32_t n_accepts;
};

struct baton_contract_id_rec {
	uint32_t index;
	uint32_t vendor;
	uint32_t device;
	uint32_t subvendor;
	uint32_t subdevice;
	uint32_t class_code;
	uint32_t class_mask;
};

struct baton_contract_accept_rec {
	uint32_t index;
	uint32_t via;				/* enum baton_accept_via */
	char schema[BATON_CONTRACT_NAME_MAX];	/* owner of the accepted schema */
	char target[BATON_CONTRACT_NAME_MAX];	/* converter: owner of the result */
};

struct __attribute__((aligned(8))) baton_contract_rec {
	uint32_t magic;
	uint16_t abi;
	uint16_t kind;
	char owner[BATON_CONTRACT_NAME_MAX];
	union {
		struct baton_contract_schema_rec schema;
		struct baton_contract_field_rec field;
		struct baton_contract_driver_rec driver;
		struct baton_contract_id_rec id;
		struct baton_contract_accept_rec accept;
	} u;
};

BATON__STATIC_ASSERT(sizeof(struct baton_contract_rec) % 8 == 0,
	       "contract records must tile the section without padding");

BATON__END_DECLS

#endif /* BATON_CONTRACT_ABI_H */
