// SPDX-License-Identifier: MIT
/*
 * baton - inspect handover images and binaries' contracts, and plan a live
 * update before it happens.  See README.md and docs/cli.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd *const commands[] = {
	&cmd_inspect, &cmd_contracts, &cmd_plan, &cmd_schema, &cmd_image,
	&cmd_kernel, &cmd_kexec, &cmd_status, &cmd_update, &cmd_demo,
};

static void usage(FILE *out)
{
	fputs("usage: baton COMMAND [ARGS] [--json]\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i]->usage);
	fputs("\nexit status: 0 success, 1 negative verdict, 2 invalid input or usage\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_INVALID;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i]->name))
			return commands[i]->run(argc - 1, argv + 1);
	fprintf(stderr, "baton: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_INVALID;
}
