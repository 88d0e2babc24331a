// SPDX-License-Identifier: MIT
/*
 * baton image pack DTB -o IMAGE [--generation N]
 * baton image unpack IMAGE -o DTB
 *
 * Between device tree source and images: `dtc` turns DTS into a DTB, pack
 * puts the image header on it, unpack takes the tree back out for `dtc -I
 * dtb -O dts`.  Pack checks only that the tree is well formed
 * (fdt_check_full), and unpack only the header, so that broken-on-purpose
 * fixtures can be made and examined; `baton inspect` checks everything.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"baton image pack DTB -o IMAGE [--generation N] [--json] | "
	"baton image unpack IMAGE -o DTB [--json]";

struct image_args {
	const char *output;
	const char *generation;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct image_args *args = ctx;

	if (opt == 'o')
		args->output = arg;
	else if (opt == 'g')
		args->generation = arg;
}

static void report(bool json, const char *verb, const char *in,
		   const char *out, size_t len)
{
	json_object *o;

	if (!json) {
		printf("%s: %s %zu bytes from %s\n", out, verb, len, in);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "input", json_object_new_string(in));
	json_object_object_add(o, "output", json_object_new_string(out));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)len));
	cli_json_print(o);
}

static int pack(const char *in, const struct image_args *args, bool json)
{
	struct baton_diag diag = { 0 };
	unsigned long long generation = 0;
	size_t dtb_len, len;
	void *dtb, *img;
	char *end;
	int err;

	if (args->generation) {
		errno = 0;
		generation = strtoull(args->generation, &end, 0);
		if (errno || *end || !*args->generation || args->generation[0] == '-')
			return cli_usage(usage, "--generation takes a number, not '%s'",
					 args->generation);
	}
	err = cli_read_file(in, &dtb, &dtb_len);
	if (err)
		return err;
	err = baton_image_pack(dtb, dtb_len, generation, &img, &len);
	free(dtb);
	if (err < 0) {
		diag.err = -err;
		snprintf(diag.what, sizeof(diag.what), "%s", baton_strerror(err));
		return cli_fail(in, &diag);
	}
	err = cli_write_file(args->output, img, len);
	free(img);
	if (!err)
		report(json, "packed", in, args->output, len);
	return err;
}

static int unpack(const char *in, const struct image_args *args, bool json)
{
	struct baton_diag diag = { 0 };
	const void *tree;
	size_t len, tree_len;
	void *buf;
	int err;

	err = cli_read_file(in, &buf, &len);
	if (err)
		return err;
	if (baton_image_tree(buf, len, &tree, &tree_len, &diag) < 0) {
		free(buf);
		return cli_fail(in, &diag);
	}
	err = cli_write_file(args->output, tree, tree_len);
	free(buf);
	if (!err)
		report(json, "unpacked", in, args->output, tree_len);
	return err;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "generation", required_argument, NULL, 'g' },
		{ 0 },
	};
	struct image_args args = { 0 };
	bool json;
	int first;

	first = cli_parse(argc, argv, usage, &json, longopts, "o:", on_opt, &args);
	if (first < 0)
		return EXIT_INVALID;
	if (argc - first != 2 || !args.output)
		return cli_usage(usage, "image takes pack or unpack, one input and -o OUTPUT");
	if (!strcmp(argv[first], "pack"))
		return pack(argv[first + 1], &args, json);
	if (!strcmp(argv[first], "unpack") && !args.generation)
		return unpack(argv[first + 1], &args, json);
	return cli_usage(usage, "image takes pack or unpack");
}

const struct cli_cmd cmd_image = { "image", run, usage };
