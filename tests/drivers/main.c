// SPDX-License-Identifier: MIT
/*
 * A program whose only content is its drivers: it prints what its registry
 * holds, which must be what `baton contracts` reads from its file.
 */
#include <stdio.h>

#include <baton/contracts.h>

int main(void)
{
	struct baton_contracts *set;
	struct baton_diag diag = { 0 };
	char guid[BATON_CONTRACT_GUID_STRLEN];

	if (baton_contracts_from_registry(&set, &diag) < 0) {
		fprintf(stderr, "registry: %s (%s)\n", diag.what, diag.where);
		return 2;
	}
	for (size_t i = 0; i < set->n_drivers; i++) {
		const struct baton_contract *c = &set->drivers[i];

		for (size_t j = 0; j < c->n_accepts; j++)
			printf("%s %d %s %s\n", c->name, c->priority,
			       baton_guid_format(c->accepts[j].schema->guid, guid),
			       c->accepts[j].via == BATON_VIA_NATIVE ?
			       "native" : "converter");
	}
	baton_contracts_free(set);
	return 0;
}
