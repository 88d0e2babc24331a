// SPDX-License-Identifier: MIT
/*
 * baton plan IMAGE BINARY | baton plan IMAGE --modules DIR
 *
 * What the binary (or the kernel whose module tree is DIR) would do with
 * every preserved device of the image, decided by the same planner the
 * binary runs at restore, from the contracts in its file (or in
 * modules.alias and the modules' info).  A preflight: exit 0 when every
 * mandatory device would be bound, natively or by converter; 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>

#include "cli.h"

static const char usage[] =
	"baton plan IMAGE (BINARY | --modules DIR) [--orphan quarantine|reset] [--json]";

struct plan_args {
	const char *orphan;
	const char *modules;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct plan_args *args = ctx;

	if (opt == 'O')
		args->orphan = arg;
	else if (opt == 'M')
		args->modules = arg;
}

static void print_json(const struct baton_decision *d, size_t n, bool ok)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "ok", json_object_new_boolean(ok));
	json_object_object_add(root, "decisions", baton_decisions_json(d, n));
	cli_json_print(root);
}

static void print_text(const char *image, const char *binary,
		       const struct baton_image *img,
		       const struct baton_decision *d, size_t n, bool ok)
{
	char addr[BATON_PCI_ADDR_STRLEN], label[96];
	size_t mandatory = 0, refused = 0;

	printf("plan: %s (\"%s\", generation %llu) -> %s\n", image, img->program,
	       (unsigned long long)img->generation, binary);
	for (size_t i = 0; i < n; i++) {
		const struct baton_image_device *dev = d[i].device;
		bool bound = d[i].action == BATON_ACTION_BIND ||
			     d[i].action == BATON_ACTION_CONVERT;

		mandatory += dev->mandatory;
		refused += dev->mandatory && !bound;
		printf("  %s  %-10s %-10s %-18s %s%s\n",
		       baton_pci_addr_format(&dev->addr, addr),
		       baton_action_name(d[i].action),
		       d[i].driver ? d[i].driver->name : "-",
		       cli_schema_label(dev->schema_name, dev->schema_version,
					dev->schema, label, sizeof(label)),
		       d[i].reason, dev->mandatory ? " [mandatory]" : "");
	}
	if (ok)
		printf("ok: every mandatory device binds (%zu of %zu)\n",
		       mandatory, mandatory);
	else
		printf("refused: %zu of %zu mandatory device%s would not bind\n",
		       refused, mandatory, mandatory == 1 ? "" : "s");
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "orphan", required_argument, NULL, 'O' },
		{ "modules", required_argument, NULL, 'M' },
		{ 0 },
	};
	struct plan_args args = { 0 };
	struct baton_plan_opts opts = { .orphan = BATON_OVERRIDE_NONE };
	struct baton_contracts *set;
	struct baton_decision *d;
	struct baton_image *img;
	const char *target;
	bool json, ok;
	void *buf;
	int first, err;

	first = cli_parse(argc, argv, usage, &json, longopts, "", on_opt, &args);
	if (first < 0)
		return EXIT_INVALID;
	if (argc - first != (args.modules ? 1 : 2))
		return cli_usage(usage, "plan takes an IMAGE and a BINARY or --modules DIR");
	if (cli_orphan(usage, args.orphan, &opts.orphan))
		return EXIT_INVALID;
	target = args.modules ? args.modules : argv[first + 1];
	err = cli_load_image(argv[first], &buf, &img);
	if (err)
		return err;
	if (args.modules) {
		struct baton_diag diag = { 0 };

		if (baton_contracts_read_modules(args.modules, &set, &diag) < 0)
			err = cli_fail(args.modules, &diag);
	} else {
		err = cli_load_contracts(target, &set);
	}
	if (err)
		goto out_image;
	d = calloc(img->n_devices ? img->n_devices : 1, sizeof(*d));
	if (!d || baton_plan(img->devices, img->n_devices, set, &opts, d) < 0) {
		err = cli_failf(argv[first], "out of memory");
		goto out_plan;
	}
	ok = baton_plan_ok(d, img->n_devices);
	if (json)
		print_json(d, img->n_devices, ok);
	else
		print_text(argv[first], target, img, d, img->n_devices, ok);
	err = ok ? EXIT_OK : EXIT_VERDICT;
out_plan:
	free(d);
	baton_contracts_free(set);
out_image:
	baton_image_free(img);
	free(buf);
	return err;
}

const struct cli_cmd cmd_plan = { "plan", run, usage };
