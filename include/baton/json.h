/* SPDX-License-Identifier: MIT */
#ifndef BATON_JSON_H
#define BATON_JSON_H

/**
 * DOC: Baton's objects as JSON
 *
 * The forms the control protocol (docs/control-protocol.md) and `baton
 * ... --json` print, for a program that builds its own control plane on
 * them.  They are json-c objects: include this header only if you use
 * json-c; <baton/baton.h> does not.  Each function returns a new object,
 * released with json_object_put().
 */

#include <stddef.h>

#include <json-c/json.h>

#include <baton/plan.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/**
 * baton_decisions_json() - a plan's decisions, one object each
 * @d: the decisions, from baton_plan()
 * @n: their number
 *
 * Return: [{"address", "action", "driver" (null when none), "schema" (the
 * record's GUID), "mandatory", "reason"}], in the order of @d.
 */
json_object *baton_decisions_json(const struct baton_decision *d, size_t n);

BATON__END_DECLS

#endif /* BATON_JSON_H */
