/* SPDX-License-Identifier: MIT */
#ifndef BATON_SCHEMA_H
#define BATON_SCHEMA_H

/**
 * DOC: schemas
 *
 * A schema is the layout of the state a driver preserves for a device.  It
 * is declared once:
 *
 *	BATON_SCHEMA(pktgen_state_v1, "pktgen-state", 1,
 *		BATON_FIELD(u64, next_seq),
 *		BATON_FIELD(u32, ring_head),
 *		BATON_ARRAY(u8, mac, 6));
 *
 * which defines `struct pktgen_state_v1` with those members, its field table
 * (name, type, offset, size) and the object `pktgen_state_v1_schema`, and
 * places the schema's contract records in the binary (contract_abi.h).  The
 * struct and the table come from the same list, so they cannot drift.
 *
 * The schema's GUID is a name-based (v5, SHA-1) UUID in a fixed Baton
 * namespace over the canonical layout (name, version, each field's name,
 * type, offset and size); docs/schemas.md defines both exactly.  Adding,
 * removing, retyping or moving a field therefore changes the GUID.
 * BATON_SCHEMA_PINNED() fixes the GUID instead; `baton schema check` then
 * reports a pin that no longer matches the layout.
 *
 * Field types are fixed-width integers: u8 u16 u32 u64 s8 s16 s32 s64, or
 * arrays of them.  State is the raw bytes of the struct in the host's byte
 * order: a live update stays on one machine.
 *
 * Declare a schema in exactly one header; the records it emits in each
 * object that includes it are identical and readers merge them.
 */

#include <stddef.h>
#include <stdint.h>

#include <baton/contract_abi.h>
#include <baton/error.h>
#include <baton/preprocessor.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

typedef uint8_t baton_type_u8;
typedef uint16_t baton_type_u16;
typedef uint32_t baton_type_u32;
typedef uint64_t baton_type_u64;
typedef int8_t baton_type_s8;
typedef int16_t baton_type_s16;
typedef int32_t baton_type_s32;
typedef int64_t baton_type_s64;

#define BATON_GUID_SIZE 16

/* The namespace of derived schema GUIDs (docs/schemas.md). */
#define BATON_SCHEMA_NAMESPACE "6becb1b0-440c-54ec-b528-066cb3124f38"

/**
 * BATON_FIELD() - a field of a schema, for BATON_SCHEMA()'s list
 * @type: u8 u16 u32 u64 s8 s16 s32 or s64
 * @name: the struct member's name
 */
#define BATON_FIELD(type, name) (type, name, , 0)

/**
 * BATON_ARRAY() - an array field of a schema, for BATON_SCHEMA()'s list
 * @type:  the element type, as for BATON_FIELD()
 * @name:  the struct member's name
 * @count: the number of elements
 */
#define BATON_ARRAY(type, name, count) (type, name, [count], 1)

/**
 * struct baton_schema - a declared schema, as the running program sees it
 * @owner:     the C identifier it was declared with
 * @contract:  its contract records: the schema record, then one per field
 * @n_contract: number of records
 * @size:      sizeof the struct
 */
struct baton_schema {
	const char *owner;
	const struct baton_contract_rec *contract;
	size_t n_contract;
	size_t size;
};

/**
 * BATON_SCHEMA() - declare a schema: a state layout and its GUID
 * @tag:     a C identifier: the struct's tag, and the schema's owner in
 *           contract records; at most 63 characters
 * @name:    the schema's name, a string of at most 63 characters
 * @version: its version, an unsigned integer
 * @...:     its fields, BATON_FIELD() and BATON_ARRAY(), 1 to 64 of them
 *
 * Defines `struct tag`, with the fields as members in the order given,
 * and `tag_schema` (a static struct baton_schema) for BATON_ACCEPT() and
 * baton_schema_describe(), and places the schema's contract records in
 * the binary.  The GUID is derived from the layout (docs/schemas.md).
 */
#define BATON_SCHEMA(tag, name, version, ...) \
	BATON__SCHEMA(tag, name, version, "", __VA_ARGS__)

/**
 * BATON_SCHEMA_PINNED() - declare a schema whose GUID is fixed
 * @tag:     as for BATON_SCHEMA()
 * @name:    as for BATON_SCHEMA()
 * @version: as for BATON_SCHEMA()
 * @guid:    the GUID, a string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 * @...:     the fields, as for BATON_SCHEMA()
 *
 * As BATON_SCHEMA(), but images carry @guid instead of the derived GUID:
 * for a layout that must keep a GUID it was given elsewhere.  A @guid that
 * does not parse fails decoding (-BATON_ERR_BADGUID); `baton schema check`
 * reports a pin that no longer matches the layout.
 */
#define BATON_SCHEMA_PINNED(tag, name, version, guid, ...) \
	BATON__SCHEMA(tag, name, version, guid, __VA_ARGS__)

/* ---- Implementation of the declaration macros ---- */

#define BATON__MEMBER(c, i, item) BATON__APPLY(BATON__MEMBER_, (c, BATON__UNPAREN item))
#define BATON__MEMBER_(c, ftype, fname, dims, is_array) baton_type_##ftype fname dims;

#define BATON__FIELD_REC(c, i, item) BATON__APPLY(BATON__FIELD_REC_, (c, i, BATON__UNPAREN item))
#define BATON__FIELD_REC_(c, i, ftype, fname, dims, is_array)			\
	{									\
		.magic = BATON_CONTRACT_MAGIC,					\
		.abi = BATON_CONTRACT_ABI,					\
		.kind = BATON_REC_FIELD,					\
		.owner = #c,							\
		.u.field = {							\
			.index = (i),						\
			.offset = offsetof(struct c, fname),			\
			.size = sizeof(((struct c *)0)->fname),			\
			.count = (is_array) ? sizeof(((struct c *)0)->fname) /	\
					      sizeof(baton_type_##ftype) : 0,	\
			.name = #fname,						\
			.type = #ftype,						\
		},								\
	},

#define BATON__SCHEMA(tag, sname, sversion, pin, ...)				\
	struct tag {								\
		BATON__FOREACH(BATON__MEMBER, tag, __VA_ARGS__)			\
	};									\
	BATON__STATIC_ASSERT(sizeof(#tag) <= BATON_CONTRACT_NAME_MAX &&		\
		       sizeof(sname) <= BATON_CONTRACT_NAME_MAX,		\
		       "schema identifier or name too long");			\
	static const struct baton_contract_rec tag##__contract[]		\
		__attribute__((used, section(BATON_CONTRACT_SECTION))) = {	\
		{								\
			.magic = BATON_CONTRACT_MAGIC,				\
			.abi = BATON_CONTRACT_ABI,				\
			.kind = BATON_REC_SCHEMA,				\
			.owner = #tag,						\
			.u.schema = {						\
				.name = sname,					\
				.version = (sversion),				\
				.n_fields = BATON__NARG(__VA_ARGS__),		\
				.pinned_guid = pin,				\
			},							\
		},								\
		BATON__FOREACH(BATON__FIELD_REC, tag, __VA_ARGS__)		\
	};									\
	static const struct baton_schema tag##_schema				\
		__attribute__((unused)) = {					\
		.owner = #tag,							\
		.contract = tag##__contract,					\
		.n_contract = sizeof(tag##__contract) / sizeof(tag##__contract[0]), \
		.size = sizeof(struct tag),					\
	}

/* ---- Decoded schemas ---- */

/**
 * struct baton_field_desc - one field of a decoded schema
 * @type: canonical type: "u32", or "u8[16]" for an array
 */
struct baton_field_desc {
	char name[BATON_CONTRACT_NAME_MAX];
	char type[BATON_CONTRACT_TYPE_MAX + 16];
	uint32_t offset;
	uint32_t size;
};

/**
 * struct baton_schema_desc - a schema decoded from contract records
 * @owner:   the C identifier it was declared with (links driver records)
 * @guid:    the GUID images carry: the pin when pinned, else @derived
 * @derived: the GUID derived from the layout
 * @pinned:  whether the declaration pins @guid
 */
struct baton_schema_desc {
	char owner[BATON_CONTRACT_NAME_MAX];
	char name[BATON_CONTRACT_NAME_MAX];
	uint32_t version;
	size_t n_fields;
	struct baton_field_desc *fields;
	uint8_t guid[BATON_GUID_SIZE];
	uint8_t derived[BATON_GUID_SIZE];
	int pinned;
};

/**
 * baton_schema_layout() - the canonical layout string of a schema
 * @s:   the schema (name, version, fields)
 * @buf: output, NUL-terminated; may be NULL when @len is 0
 * @len: size of @buf
 *
 * Return: the length of the canonical string (without NUL), as snprintf
 * does; the string is complete only when the return is < @len.  -EOVERFLOW
 * when the length would not fit an int32_t, or snprintf's -errno.
 */
int baton_schema_layout(const struct baton_schema_desc *s, char *buf, size_t len);

/**
 * baton_schema_derive_guid() - the GUID a layout derives
 * @s:   the schema
 * @out: 16 bytes
 *
 * Return: 0, -ENOMEM, or an error of baton_schema_layout().
 */
int baton_schema_derive_guid(const struct baton_schema_desc *s,
			     uint8_t out[BATON_GUID_SIZE]);

/**
 * baton_schema_describe() - decode a declared schema of this program
 * @schema: a `tag##_schema` object from BATON_SCHEMA()
 * @out:    the decoded schema, free with baton_schema_desc_free()
 *
 * Return: 0, -ENOMEM, -BATON_ERR_BADCONTRACT or -BATON_ERR_BADGUID.
 */
int baton_schema_describe(const struct baton_schema *schema,
			  struct baton_schema_desc **out);

/**
 * baton_schema_desc_free() - free a schema baton_schema_describe() returned
 * @s: the schema, or NULL
 */
void baton_schema_desc_free(struct baton_schema_desc *s);

/**
 * baton_guid_parse() - read a GUID in its text form
 * @s:   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", hex digits in either case,
 *       nothing after
 * @out: 16 bytes
 *
 * Return: 0, or -BATON_ERR_BADGUID when @s is not of that form.
 */
int baton_guid_parse(const char *s, uint8_t out[BATON_GUID_SIZE]);

/**
 * baton_guid_format() - the text form of a GUID, lowercase
 * @guid: 16 bytes
 * @buf:  at least BATON_CONTRACT_GUID_STRLEN bytes
 *
 * Return: @buf.
 */
char *baton_guid_format(const uint8_t guid[BATON_GUID_SIZE], char *buf);

BATON__END_DECLS

#endif /* BATON_SCHEMA_H */
