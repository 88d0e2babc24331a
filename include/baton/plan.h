/* SPDX-License-Identifier: MIT */
#ifndef BATON_PLAN_H
#define BATON_PLAN_H

/**
 * DOC: the binding planner
 *
 * baton_plan() decides, for every preserved device record, what the next
 * version does with it.  It is a pure function of its inputs, used three
 * ways: by the new version at restore, statically before an update against
 * the target binary's contracts (`baton plan`), and in a dry run.
 *
 * For each record, in order:
 *
 *  1. If the device is not present, RELEASE its preserved resources.
 *  2. Candidates are drivers whose id table matches the record's ids AND
 *     whose accepted schemas contain the record's schema GUID.
 *  3. A native accept beats a converter; then higher priority wins.  Two
 *     best candidates of equal kind and priority are a CONFLICT: nothing is
 *     bound, and the reason names them.  Driver names never break a tie.
 *  4. The winner gives BIND (native) or CONVERT (through its converter).
 *  5. No candidate: the record's orphan policy, QUARANTINE or RESET, unless
 *     the caller overrides it.
 *
 * Candidates are found through a hash index from GUID to the drivers that
 * accept it, so planning is linear in records plus accepts, not their
 * product.
 */

#include <stdbool.h>
#include <stddef.h>

#include <baton/contracts.h>
#include <baton/image.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

enum baton_action {
	BATON_ACTION_BIND,
	BATON_ACTION_CONVERT,
	BATON_ACTION_QUARANTINE,
	BATON_ACTION_RESET,
	BATON_ACTION_CONFLICT,
	BATON_ACTION_RELEASE,
};

enum baton_orphan_override {
	BATON_OVERRIDE_NONE,		/* follow each record's orphan policy */
	BATON_OVERRIDE_QUARANTINE,
	BATON_OVERRIDE_RESET,
};

/**
 * struct baton_plan_opts - inputs besides records and contracts
 * @orphan:    overrides every record's orphan policy unless NONE
 * @present:   the devices present now; NULL means every recorded device is
 *             present (a preflight on the machine that will run the update)
 * @n_present: their number
 * @reserved:  zero (version.h)
 */
struct baton_plan_opts {
	enum baton_orphan_override orphan;
	const struct baton_pci_addr *present;
	size_t n_present;
	uint64_t reserved[4];
};

/**
 * struct baton_decision - what happens to one record
 * @device:  the record (an element of the records passed in)
 * @action:  what happens
 * @driver:  the driver for BIND and CONVERT, else NULL
 * @accept:  the accept that matched, for BIND and CONVERT, else NULL
 * @reason:  one line for people
 */
struct baton_decision {
	const struct baton_image_device *device;
	enum baton_action action;
	const struct baton_contract *driver;
	const struct baton_accept_desc *accept;
	char reason[192];
};

/**
 * baton_plan() - decide what happens to every record
 * @devices:   the records, @n of them
 * @n:         their number
 * @contracts: the drivers that may take them; NULL is an empty set
 * @opts:      may be NULL for defaults
 * @out:       @n decisions, in record order
 *
 * Decisions point into @devices and @contracts, which must outlive them.
 * No decision depends on the order of the drivers in @contracts.
 *
 * Return: 0, -EINVAL (@opts->reserved is not zero) or -ENOMEM (for the
 * index), leaving @out untouched.
 */
int baton_plan(const struct baton_image_device *devices, size_t n,
	       const struct baton_contracts *contracts,
	       const struct baton_plan_opts *opts,
	       struct baton_decision *out);

/**
 * baton_plan_probe() - the driver for a device with no preserved state
 * @contracts: the drivers that may take it; NULL is an empty set
 * @ids:       the device's ids
 * @out:       the driver, an element of @contracts
 *
 * A cold probe, by the rules of baton_plan() without a schema: the drivers
 * whose id table matches @ids, the highest priority winning; two at the
 * same priority are a conflict and neither is chosen.
 *
 * Return: 0, -ENOENT (no driver's id table matches @ids) or
 * -BATON_ERR_CONFLICT.
 */
int baton_plan_probe(const struct baton_contracts *contracts,
		     const struct baton_pci_ids *ids,
		     const struct baton_contract **out);

/**
 * baton_plan_ok() - whether every mandatory record would be bound
 * @d: the decisions, from baton_plan()
 * @n: their number
 *
 * Return: true when each decision for a mandatory record is BIND or CONVERT.
 */
bool baton_plan_ok(const struct baton_decision *d, size_t n);

/**
 * baton_action_name() - the lowercase name of an action
 * @action: the action
 *
 * Return: "bind", "convert", "quarantine", "reset", "conflict" or
 * "release"; NULL for a value out of range.
 */
const char *baton_action_name(enum baton_action action);

BATON__END_DECLS

#endif /* BATON_PLAN_H */
