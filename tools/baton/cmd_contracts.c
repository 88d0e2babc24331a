// SPDX-License-Identifier: MIT
/*
 * baton contracts BINARY: the drivers a binary declares and the schemas
 * they accept, read from its ELF file without running it.
 */
#include <stdio.h>

#include "cli.h"

static const char usage[] = "baton contracts BINARY [--json]";

static void print_id(const char *sep, uint32_t id, int digits)
{
	if (id == BATON_ANY_ID)
		printf("%s%s", sep, "any");
	else
		printf("%s%0*x", sep, digits, id);
}

static void print_text(const char *path, const struct baton_contracts *set)
{
	char guid[BATON_CONTRACT_GUID_STRLEN];

	printf("%s: %zu driver%s, %zu schema%s\n", path, set->n_drivers,
	       set->n_drivers == 1 ? "" : "s", set->n_schemas,
	       set->n_schemas == 1 ? "" : "s");
	for (size_t i = 0; i < set->n_drivers; i++) {
		const struct baton_contract *c = &set->drivers[i];

		printf("driver %s  priority %d\n", c->name, c->priority);
		for (size_t j = 0; j < c->n_ids; j++) {
			const struct baton_pci_match *m = &c->ids[j];

			print_id("  matches ", m->vendor, 4);
			print_id(":", m->device, 4);
			print_id(" sub ", m->subvendor, 4);
			print_id(":", m->subdevice, 4);
			printf(" class %06x/%06x\n", m->class_code, m->class_mask);
		}
		for (size_t j = 0; j < c->n_accepts; j++) {
			const struct baton_accept_desc *a = &c->accepts[j];

			printf("  accepts %s v%u  %s  ", a->schema->name,
			       a->schema->version,
			       baton_guid_format(a->schema->guid, guid));
			if (a->via == BATON_VIA_NATIVE)
				puts("native");
			else
				printf("converter to %s v%u\n", a->target->name,
				       a->target->version);
		}
	}
}

static void print_json(const struct baton_contracts *set)
{
	json_object *root = json_object_new_object();
	json_object *drivers = json_object_new_array();
	json_object *schemas = json_object_new_array();

	for (size_t i = 0; i < set->n_drivers; i++)
		json_object_array_add(drivers, cli_json_contract(&set->drivers[i]));
	for (size_t i = 0; i < set->n_schemas; i++)
		json_object_array_add(schemas, cli_json_schema(&set->schemas[i]));
	json_object_object_add(root, "drivers", drivers);
	json_object_object_add(root, "schemas", schemas);
	cli_json_print(root);
}

static int run(int argc, char **argv)
{
	struct baton_contracts *set;
	bool json;
	int first, err;

	first = cli_parse(argc, argv, usage, &json, NULL, NULL, NULL, NULL);
	if (first < 0)
		return EXIT_INVALID;
	if (argc - first != 1)
		return cli_usage(usage, "contracts takes one BINARY");
	err = cli_load_contracts(argv[first], &set);
	if (err)
		return err;
	if (json)
		print_json(set);
	else
		print_text(argv[first], set);
	baton_contracts_free(set);
	return EXIT_OK;
}

const struct cli_cmd cmd_contracts = { "contracts", run, usage };
