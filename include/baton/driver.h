/* SPDX-License-Identifier: MIT */
#ifndef BATON_DRIVER_H
#define BATON_DRIVER_H

/**
 * DOC: drivers
 *
 * A driver declares which devices it can drive (an id table, as the kernel's
 * struct pci_device_id) and which preserved state it can read (accepted
 * schemas).  Its name is for people only: no decision ever depends on it.
 *
 *	BATON_DRIVER(nicx_driver, "nicx", 10, &nicx_ops,
 *		BATON_MATCH_DEVICE(0x1b36, 0x0100),
 *		BATON_ACCEPT(pktgen_state_v2),
 *		BATON_ACCEPT_CONVERTED(pktgen_state_v1, pktgen_state_v2,
 *				       pktgen_v1_to_v2));
 *
 * reads: driver `nicx_driver` matches 1b36:0100, reads pktgen-state v2
 * natively and pktgen-state v1 through the converter pktgen_v1_to_v2, which
 * turns a v1 payload into a v2 one.  The declaration
 *
 *  - places pointer-free contract records in the ELF section
 *    "baton_contracts", so `baton contracts BINARY` and `baton plan` can read
 *    the binary's contracts without running it, and
 *  - registers the driver when the program starts (a constructor), so the
 *    running program plans from exactly the same records.
 *
 * Higher priority wins among candidates of the same kind (native beats
 * converter first); equal priority is a conflict and binds nothing.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <baton/contract_abi.h>
#include <baton/error.h>
#include <baton/pci.h>
#include <baton/preprocessor.h>
#include <baton/schema.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/* The driver operations are the runtime's business (host.h). */
struct baton_driver_ops;

/**
 * typedef baton_convert_fn - turn a payload of an older schema into a newer
 * @from:     the preserved payload, @from_len bytes (already CRC-checked)
 * @to:       the output buffer, @to_len bytes (sizeof the target struct),
 *            zeroed by the caller
 *
 * Return: 0, or a negative code when @from cannot be converted: -EINVAL
 * for lengths that are not the two schemas' sizes, -BATON_ERR_BADVALUE for
 * a payload it finds wrong, or whatever -errno its own work met.
 */
typedef int (*baton_convert_fn)(const void *from, size_t from_len,
				void *to, size_t to_len);

/**
 * struct baton_accept - an accepted schema, as the running program sees it
 * @via:     BATON_VIA_NATIVE or BATON_VIA_CONVERTER
 * @schema:  the schema accepted
 * @target:  the schema the converter produces (== @schema when native)
 * @convert: the converter, NULL when native
 */
struct baton_accept {
	uint32_t via;
	const struct baton_schema *schema;
	const struct baton_schema *target;
	baton_convert_fn convert;
};

/**
 * struct baton_driver - a declared driver
 * @owner:      the C identifier it was declared with
 * @name:       informational
 * @ops:        runtime operations
 * @contract:   its contract records (driver, ids, accepts)
 * @n_contract: their number
 * @accepts:    accepted schemas, @n_accepts of them
 * @n_accepts:  their number
 * @reserved:   zero (version.h); BATON_DRIVER() leaves it so
 */
struct baton_driver {
	const char *owner;
	const char *name;
	const struct baton_driver_ops *ops;
	const struct baton_contract_rec *contract;
	size_t n_contract;
	const struct baton_accept *accepts;
	size_t n_accepts;
	uint64_t reserved[4];
};

/* ---- Driver declaration items ---- */

/**
 * BATON_MATCH_ID() - an id-table entry, for BATON_DRIVER()'s list
 * @vendor:     vendor id, or BATON_ANY_ID
 * @device:     device id, or BATON_ANY_ID
 * @subvendor:  subsystem vendor id, or BATON_ANY_ID
 * @subdevice:  subsystem device id, or BATON_ANY_ID
 * @class_code: class code (0xBBSSPP), compared under @class_mask
 * @class_mask: which bits of the class code must be equal; 0 for any class
 *
 * Matched as baton_pci_match() does.
 */
#define BATON_MATCH_ID(vendor, device, subvendor, subdevice, class_code, class_mask) \
	(ID, vendor, device, subvendor, subdevice, class_code, class_mask)

/**
 * BATON_MATCH_DEVICE() - match a vendor and device id, any subsystem or class
 * @vendor: vendor id
 * @device: device id
 */
#define BATON_MATCH_DEVICE(vendor, device) \
	BATON_MATCH_ID(vendor, device, BATON_ANY_ID, BATON_ANY_ID, 0, 0)

/**
 * BATON_MATCH_CLASS() - match any device of a class
 * @class_code: class code (0xBBSSPP)
 * @class_mask: which of its bits must be equal
 */
#define BATON_MATCH_CLASS(class_code, class_mask) \
	BATON_MATCH_ID(BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, \
		       class_code, class_mask)

/**
 * BATON_ACCEPT() - a schema the driver reads natively
 * @schema: the tag of a BATON_SCHEMA()
 *
 * The driver's first BATON_ACCEPT() is also the schema it writes: the
 * state its preserve() fills and its restore() gets.
 */
#define BATON_ACCEPT(schema) (NATIVE, schema, schema, NULL)

/**
 * BATON_ACCEPT_CONVERTED() - an older schema the driver reads by converting
 * @from: the tag of the schema accepted
 * @to:   the tag of the schema @fn produces, which the same driver must
 *        accept natively (the contract decoder refuses it otherwise)
 * @fn:   a baton_convert_fn from @from's payload to @to's
 */
#define BATON_ACCEPT_CONVERTED(from, to, fn) (CONVERTER, from, to, fn)

/**
 * BATON_DRIVER() - declare a driver: its id table and accepted schemas
 * @tag:   a C identifier: the name of the struct baton_driver defined, and
 *         the driver's owner in contract records; at most 63 characters
 * @dname: the driver's name, for people only; at most 63 characters
 * @prio:  its priority among candidates of the same kind (an int32_t)
 * @dops:  its struct baton_driver_ops (host.h), or NULL
 * @...:   BATON_MATCH_*() and BATON_ACCEPT*() items, at most 64 in all
 *
 * Defines `const struct baton_driver tag`, places the driver's contract
 * records in the binary's "baton_contracts" section, and registers the
 * driver when the program starts (baton_driver_register(), from a
 * constructor, which aborts the program if it cannot: a driver planned by
 * its contracts but missing at run time would quarantine the devices it
 * was meant to take).  An example opens this header.
 */
#define BATON_DRIVER(tag, dname, prio, dops, ...)				\
	BATON__STATIC_ASSERT(sizeof(#tag) <= BATON_CONTRACT_NAME_MAX &&		\
		       sizeof(dname) <= BATON_CONTRACT_NAME_MAX,		\
		       "driver identifier or name too long");			\
	static const struct baton_contract_rec tag##__contract[]		\
		__attribute__((used, section(BATON_CONTRACT_SECTION))) = {	\
		{								\
			.magic = BATON_CONTRACT_MAGIC,				\
			.abi = BATON_CONTRACT_ABI,				\
			.kind = BATON_REC_DRIVER,				\
			.owner = #tag,						\
			.u.driver = {						\
				.name = dname,					\
				.priority = (prio),				\
				.n_ids = 0 BATON__FOREACH(BATON__COUNT_IDS, tag, __VA_ARGS__), \
				.n_accepts = 0 BATON__FOREACH(BATON__COUNT_ACCEPTS, tag, __VA_ARGS__), \
			},							\
		},								\
		BATON__FOREACH(BATON__DRIVER_REC, tag, __VA_ARGS__)		\
	};									\
	static const struct baton_accept tag##__accepts[] = {			\
		BATON__FOREACH(BATON__ACCEPT_RT, tag, __VA_ARGS__)		\
		{ 0 }								\
	};									\
	const struct baton_driver tag = {					\
		.owner = #tag,							\
		.name = dname,							\
		.ops = (dops),							\
		.contract = tag##__contract,					\
		.n_contract = sizeof(tag##__contract) / sizeof(tag##__contract[0]), \
		.accepts = tag##__accepts,					\
		.n_accepts = sizeof(tag##__accepts) / sizeof(tag##__accepts[0]) - 1, \
	};									\
	__attribute__((constructor)) static void tag##__register(void)		\
	{									\
		/* Unregistered, it would be planned by contracts but never \
		 * run: a program that cannot register must not go on. */	\
		if (baton_driver_register(&tag))				\
			abort();						\
	}

/* ---- The registry of this program's drivers ---- */

/**
 * baton_driver_register() - add a driver to this program's registry
 * @drv: the driver, which must live as long as the program (BATON_DRIVER()
 *       makes it static)
 *
 * Called by BATON_DRIVER()'s constructor; call it directly only for a
 * driver built at run time.  Registering the same driver twice is a no-op.
 *
 * Return: 0, -EINVAL (the reserved space of @drv or of its ops is not
 * zero: built against a later libbaton), or -ENOMEM.
 */
int baton_driver_register(const struct baton_driver *drv);

/**
 * baton_drivers() - the registered drivers, in registration order
 * @n: set to their number
 *
 * Return: an array of @n drivers, owned by the registry and valid until the
 * next baton_driver_register(); NULL when there are none.
 */
const struct baton_driver *const *baton_drivers(size_t *n);

/* ---- Implementation of the declaration macros ---- */

#define BATON__KIND(c, i, item, what) \
	BATON__APPLY(BATON__KIND_, (c, i, what, BATON__UNPAREN item))
#define BATON__KIND_(c, i, what, kind, ...) BATON__##what##_##kind(c, i, __VA_ARGS__)

#define BATON__COUNT_IDS(c, i, item) BATON__KIND(c, i, item, NIDS)
#define BATON__NIDS_ID(c, i, ...) + 1
#define BATON__NIDS_NATIVE(c, i, ...)
#define BATON__NIDS_CONVERTER(c, i, ...)

#define BATON__COUNT_ACCEPTS(c, i, item) BATON__KIND(c, i, item, NACC)
#define BATON__NACC_ID(c, i, ...)
#define BATON__NACC_NATIVE(c, i, ...) + 1
#define BATON__NACC_CONVERTER(c, i, ...) + 1

#define BATON__DRIVER_REC(c, i, item) BATON__KIND(c, i, item, REC)
#define BATON__REC_ID(c, i, v, d, sv, sd, cls, mask)				\
	{									\
		.magic = BATON_CONTRACT_MAGIC,					\
		.abi = BATON_CONTRACT_ABI,					\
		.kind = BATON_REC_ID,						\
		.owner = #c,							\
		.u.id = { .index = (i), .vendor = (v), .device = (d),		\
			  .subvendor = (sv), .subdevice = (sd),			\
			  .class_code = (cls), .class_mask = (mask) },		\
	},
#define BATON__REC_ACCEPT(c, i, via_kind, from, to)				\
	{									\
		.magic = BATON_CONTRACT_MAGIC,					\
		.abi = BATON_CONTRACT_ABI,					\
		.kind = BATON_REC_ACCEPT,					\
		.owner = #c,							\
		.u.accept = { .index = (i), .via = (via_kind),			\
			      .schema = #from, .target = #to },			\
	},
#define BATON__REC_NATIVE(c, i, from, to, fn) \
	BATON__REC_ACCEPT(c, i, BATON_VIA_NATIVE, from, to)
#define BATON__REC_CONVERTER(c, i, from, to, fn) \
	BATON__REC_ACCEPT(c, i, BATON_VIA_CONVERTER, from, to)

#define BATON__ACCEPT_RT(c, i, item) BATON__KIND(c, i, item, RT)
#define BATON__RT_ID(c, i, ...)
#define BATON__RT_NATIVE(c, i, from, to, fn) \
	{ BATON_VIA_NATIVE, &from##_schema, &to##_schema, NULL },
#define BATON__RT_CONVERTER(c, i, from, to, fn) \
	{ BATON_VIA_CONVERTER, &from##_schema, &to##_schema, fn },

BATON__END_DECLS

#endif /* BATON_DRIVER_H */
