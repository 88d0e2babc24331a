// SPDX-License-Identifier: MIT
/**
 * DOC: the driver registry
 *
 * BATON_DRIVER() registers each driver from a constructor, before main().
 * The registry keeps the pointers in registration order; it is not locked,
 * so drivers registered by hand must be registered before threads start.
 * Contracts of the running program are decoded from the very records the
 * declarations placed in the binary, so the running program and
 * `baton contracts BINARY` see the same contracts by construction.
 */
#include <errno.h>
#include <stdlib.h>

#include <baton/contracts.h>
#include <baton/driver.h>
#include <baton/host.h>	/* struct baton_driver_ops: its reserved space */

#include "internal.h"

static const struct baton_driver **registry;
static size_t registry_len, registry_cap;

int baton_driver_register(const struct baton_driver *drv)
{
	const struct baton_driver **grown;

	if (!baton_reserved_clear(drv->reserved, sizeof(drv->reserved)) ||
	    (drv->ops && !baton_reserved_clear(drv->ops->reserved, sizeof(drv->ops->reserved))))
		return -EINVAL;
	for (size_t i = 0; i < registry_len; i++)
		if (registry[i] == drv)
			return 0;
	if (registry_len == registry_cap) {
		size_t cap = registry_cap ? 2 * registry_cap : 16;

		grown = realloc(registry, cap * sizeof(*registry));
		if (!grown)
			return -ENOMEM;
		registry = grown;
		registry_cap = cap;
	}
	registry[registry_len++] = drv;
	return 0;
}

const struct baton_driver *const *baton_drivers(size_t *n)
{
	*n = registry_len;
	return registry;
}

static int append(struct baton_contract_rec **all, size_t *n,
		  const struct baton_contract_rec *recs, size_t count)
{
	struct baton_contract_rec *grown;

	grown = realloc(*all, (*n + count) * sizeof(**all));
	if (!grown)
		return -ENOMEM;
	memcpy(grown + *n, recs, count * sizeof(*recs));
	*all = grown;
	*n += count;
	return 0;
}

int baton_contracts_from_registry(struct baton_contracts **out,
				  struct baton_diag *diag)
{
	struct baton_contract_rec *all = NULL;
	size_t n = 0;
	int err = 0;

	/* Schemas shared by several drivers are appended more than once;
	 * the decoder merges identical copies. */
	for (size_t i = 0; i < registry_len && !err; i++) {
		const struct baton_driver *d = registry[i];

		err = append(&all, &n, d->contract, d->n_contract);
		for (size_t j = 0; j < d->n_accepts && !err; j++) {
			const struct baton_accept *a = &d->accepts[j];

			err = append(&all, &n, a->schema->contract,
				     a->schema->n_contract);
			if (!err && a->target != a->schema)
				err = append(&all, &n, a->target->contract,
					     a->target->n_contract);
		}
	}
	if (!err)
		err = baton_contracts_decode(all, n, 0, out, diag);
	else
		baton_diag_set(diag, ENOMEM, NULL, NULL);
	free(all);
	return err;
}

/* A declared schema decodes like any contract records: the same decoder. */
int baton_schema_describe(const struct baton_schema *schema,
			  struct baton_schema_desc **out)
{
	struct baton_contracts *set;
	struct baton_schema_desc *desc;
	int err;

	err = baton_contracts_decode(schema->contract, schema->n_contract, 0,
				     &set, NULL);
	if (err < 0)
		return err;
	if (set->n_schemas != 1) {
		baton_contracts_free(set);
		return -BATON_ERR_BADCONTRACT;
	}
	desc = malloc(sizeof(*desc));
	if (!desc) {
		baton_contracts_free(set);
		return -ENOMEM;
	}
	/* Take the schema out of the set: the set no longer frees its fields. */
	*desc = set->schemas[0];
	set->schemas[0].fields = NULL;
	set->schemas[0].n_fields = 0;
	baton_contracts_free(set);
	*out = desc;
	return 0;
}
