// SPDX-License-Identifier: MIT
/*
 * baton kernel save [--sysfs ROOT] -o IMAGE [--mandatory ADDR]... [ADDR...]
 * baton kernel bind IMAGE [--sysfs ROOT] [--modules DIR] [--orphan quarantine|reset]
 *
 * The kernel path (include/baton/kernel.h, docs/kernel.md): save the
 * preserved PCI devices before kexec; bind them by schema after it, in
 * early userspace, before anything else loads a driver.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <baton/kernel.h>

#include "cli.h"

static const char usage[] =
	"baton kernel save [--sysfs ROOT] -o IMAGE [--mandatory ADDR]... [ADDR...] [--json] | "
	"baton kernel bind IMAGE [--sysfs ROOT] [--modules DIR] "
	"[--orphan quarantine|reset] [--json]";

#define MAX_MANDATORY 256

struct kernel_args {
	const char *sysfs;
	const char *modules;
	const char *output;
	const char *orphan;
	const char *mandatory[MAX_MANDATORY];
	size_t n_mandatory;
	bool too_many;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct kernel_args *a = ctx;

	switch (opt) {
	case 'S': a->sysfs = arg; break;
	case 'M': a->modules = arg; break;
	case 'o': a->output = arg; break;
	case 'O': a->orphan = arg; break;
	case 'm':
		if (a->n_mandatory < MAX_MANDATORY)
			a->mandatory[a->n_mandatory++] = arg;
		else
			a->too_many = true;
		break;
	}
}

/*
 * The PCI core's record of @addr on a kernel with Baton's patch series
 * (docs/kernel.md), NULL on one without it or when it cannot be read.
 */
static const char *kernel_record(const char *sysfs, const char *addr,
				 char out[BATON_KERNEL_RECORD_STRLEN])
{
	return baton_kernel_record(sysfs, addr, out, NULL) == 1 ? out : NULL;
}

static void print_saved(const struct baton_image *img, const char *output,
			const char *sysfs, bool json)
{
	char addr[BATON_PCI_ADDR_STRLEN], guid[BATON_CONTRACT_GUID_STRLEN];
	char record[BATON_KERNEL_RECORD_STRLEN];
	json_object *root, *devices;
	const char *rec;

	if (!json) {
		printf("%s: saved %zu device%s\n", output, img->n_devices,
		       img->n_devices == 1 ? "" : "s");
		for (size_t i = 0; i < img->n_devices; i++) {
			const struct baton_image_device *d = &img->devices[i];

			printf("  %s  %04x:%04x  schema %s  state %u bytes%s\n",
			       baton_pci_addr_format(&d->addr, addr), d->ids.vendor,
			       d->ids.device, baton_guid_format(d->schema, guid),
			       d->state_size, d->mandatory ? "  mandatory" : "");
			rec = kernel_record(sysfs, addr, record);
			if (rec)
				printf("    recorded in the kernel (live_update_schema %s)\n",
				       rec);
		}
		return;
	}
	root = json_object_new_object();
	devices = json_object_new_array();
	json_object_object_add(root, "output", json_object_new_string(output));
	for (size_t i = 0; i < img->n_devices; i++) {
		const struct baton_image_device *d = &img->devices[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "address", json_object_new_string(
			baton_pci_addr_format(&d->addr, addr)));
		json_object_object_add(o, "schema", cli_json_guid(d->schema));
		json_object_object_add(o, "state_size", json_object_new_int64(d->state_size));
		json_object_object_add(o, "mandatory", json_object_new_boolean(d->mandatory));
		rec = kernel_record(sysfs, addr, record);
		json_object_object_add(o, "kernel_record",
				       rec ? json_object_new_string(rec) : NULL);
		json_object_array_add(devices, o);
	}
	json_object_object_add(root, "devices", devices);
	cli_json_print(root);
}

static int save(int argc, char **argv, const struct kernel_args *a, bool json)
{
	struct baton_kernel_save_opts opts = {
		.sysfs = a->sysfs,
		.addrs = argc ? (const char *const *)argv : NULL,
		.n_addrs = (size_t)argc,
		.mandatory = a->mandatory,
		.n_mandatory = a->n_mandatory,
	};
	struct baton_diag diag = { 0 };
	struct baton_image *img;
	size_t len;
	void *buf;
	int err;

	if (!a->output || a->modules || a->orphan)
		return cli_usage(usage, "kernel save takes -o IMAGE, and no --modules or --orphan");
	if (baton_kernel_save(&opts, &buf, &len, &diag) < 0)
		return cli_fail(opts.sysfs ? opts.sysfs : "/sys", &diag);
	err = cli_write_file(a->output, buf, len);
	if (baton_image_parse(buf, len, &img, &diag) == 0) {
		/* No image, no preserved device: the kernel's records go too. */
		if (err)
			baton_kernel_release(opts.sysfs, img);
		else
			print_saved(img, a->output, opts.sysfs, json);
		baton_image_free(img);
	}
	free(buf);
	return err;
}

static const char *modules_dir(const struct kernel_args *a, char *buf, size_t len)
{
	struct utsname uts;

	if (a->modules)
		return a->modules;
	uname(&uts);
	snprintf(buf, len, "/lib/modules/%s", uts.release);
	return buf;
}

static void print_bound(const struct baton_kernel_result *r, size_t n, bool ok,
			const char *sysfs, bool json)
{
	char addr[BATON_PCI_ADDR_STRLEN], record[BATON_KERNEL_RECORD_STRLEN];
	const char *rec;
	json_object *root, *decisions;

	if (!json) {
		for (size_t i = 0; i < n; i++) {
			const struct baton_decision *d = &r[i].decision;

			printf("  %s  %-10s %-12s %s\n    %s\n",
			       baton_pci_addr_format(&d->device->addr, addr),
			       baton_action_name(d->action),
			       r[i].module[0] ? r[i].module : "-", r[i].result,
			       d->reason);
		}
		puts(ok ? "ok: every mandatory device is bound" :
		     "failed: a mandatory device is not bound");
		return;
	}
	root = json_object_new_object();
	decisions = json_object_new_array();
	json_object_object_add(root, "ok", json_object_new_boolean(ok));
	for (size_t i = 0; i < n; i++) {
		const struct baton_decision *d = &r[i].decision;
		json_object *o = json_object_new_object();

		json_object_object_add(o, "address", json_object_new_string(
			baton_pci_addr_format(&d->device->addr, addr)));
		json_object_object_add(o, "action", json_object_new_string(
			baton_action_name(d->action)));
		json_object_object_add(o, "driver", r[i].driver[0] ?
			json_object_new_string(r[i].driver) : NULL);
		json_object_object_add(o, "module", r[i].module[0] ?
			json_object_new_string(r[i].module) : NULL);
		json_object_object_add(o, "schema", cli_json_guid(d->device->schema));
		json_object_object_add(o, "mandatory",
			json_object_new_boolean(d->device->mandatory));
		json_object_object_add(o, "reason", json_object_new_string(d->reason));
		json_object_object_add(o, "result", json_object_new_string(r[i].result));
		json_object_object_add(o, "bound", json_object_new_boolean(r[i].bound));
		json_object_object_add(o, "state_restored",
			json_object_new_boolean(r[i].state_restored));
		rec = kernel_record(sysfs, addr, record);
		json_object_object_add(o, "kernel_record",
				       rec ? json_object_new_string(rec) : NULL);
		json_object_array_add(decisions, o);
	}
	json_object_object_add(root, "decisions", decisions);
	cli_json_print(root);
}

static int bind(const char *image, const struct kernel_args *a, bool json)
{
	struct baton_kernel_bind_opts opts = { .sysfs = a->sysfs };
	struct baton_kernel_result *results = NULL;
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	struct baton_image *img;
	char dir[300];
	bool ok = true;
	void *buf;
	int err;

	if (a->output || a->n_mandatory)
		return cli_usage(usage, "kernel bind takes no -o or --mandatory");
	if (cli_orphan(usage, a->orphan, &opts.orphan))
		return EXIT_INVALID;
	opts.modules = modules_dir(a, dir, sizeof(dir));
	err = cli_load_image(image, &buf, &img);
	if (err)
		return err;
	if (baton_contracts_read_modules(opts.modules, &set, &diag) < 0) {
		err = cli_fail(opts.modules, &diag);
		goto out;
	}
	results = calloc(img->n_devices + 1, sizeof(*results));
	if (!results) {
		err = cli_failf(image, "out of memory");
		goto out;
	}
	if (baton_kernel_bind(img, set, &opts, results, &diag) < 0) {
		err = cli_fail(image, &diag);
		goto out;
	}
	for (size_t i = 0; i < img->n_devices; i++)
		ok &= !img->devices[i].mandatory || results[i].bound;
	print_bound(results, img->n_devices, ok, opts.sysfs, json);
	err = ok ? EXIT_OK : EXIT_VERDICT;
out:
	free(results);
	baton_contracts_free(set);
	baton_image_free(img);
	free(buf);
	return err;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sysfs", required_argument, NULL, 'S' },
		{ "modules", required_argument, NULL, 'M' },
		{ "output", required_argument, NULL, 'o' },
		{ "orphan", required_argument, NULL, 'O' },
		{ "mandatory", required_argument, NULL, 'm' },
		{ 0 },
	};
	struct kernel_args args = { 0 };
	bool json;
	int first;

	first = cli_parse(argc, argv, usage, &json, longopts, "o:", on_opt, &args);
	if (first < 0)
		return EXIT_INVALID;
	if (args.too_many)
		return cli_usage(usage, "at most %d --mandatory devices", MAX_MANDATORY);
	if (argc - first >= 1 && !strcmp(argv[first], "save"))
		return save(argc - first - 1, argv + first + 1, &args, json);
	if (argc - first == 2 && !strcmp(argv[first], "bind"))
		return bind(argv[first + 1], &args, json);
	return cli_usage(usage, "kernel takes save or bind");
}

const struct cli_cmd cmd_kernel = { "kernel", run, usage };
