// SPDX-License-Identifier: MIT
/*
 * baton status --socket PATH
 * baton update --socket PATH --to BINARY [--mode exec|socket] [--dry-run]
 *              [--timeout SEC] [--orphan quarantine|reset] [--force]
 *
 * Clients of a running program's control socket (docs/control-protocol.md).
 * An update's answer comes from whichever version ends up running: the new
 * one once it has restored, or the old one if the update was refused,
 * failed, or came back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char status_usage[] = "baton status --socket PATH [--json]";
static const char update_usage[] =
	"baton update --socket PATH --to BINARY [--mode exec|socket] [--dry-run] "
	"[--timeout SEC] [--orphan quarantine|reset] [--force] [--json]";

struct control_args {
	const char *socket;
	const char *to;
	const char *mode;
	const char *orphan;
	const char *timeout;
	bool dry_run;
	bool force;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct control_args *a = ctx;

	switch (opt) {
	case 's': a->socket = arg; break;
	case 't': a->to = arg; break;
	case 'm': a->mode = arg; break;
	case 'O': a->orphan = arg; break;
	case 'T': a->timeout = arg; break;
	case 'd': a->dry_run = true; break;
	case 'f': a->force = true; break;
	}
}

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "to", required_argument, NULL, 't' },
	{ "mode", required_argument, NULL, 'm' },
	{ "orphan", required_argument, NULL, 'O' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "dry-run", no_argument, NULL, 'd' },
	{ "force", no_argument, NULL, 'f' },
	{ 0 },
};

static int run_status(int argc, char **argv)
{
	struct control_args a = { 0 };
	json_object *req, *ans = NULL, *arr;
	bool json;
	int first, err;

	first = cli_parse(argc, argv, status_usage, &json, longopts, "", on_opt, &a);
	if (first < 0)
		return EXIT_INVALID;
	if (argc != first || !a.socket || a.to || a.mode || a.orphan || a.timeout ||
	    a.dry_run || a.force)
		return cli_usage(status_usage, "status takes --socket PATH only");
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("status"));
	err = cli_ask_json(a.socket, req, 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	if (cli_json_str(ans, "error")) {
		err = cli_failf(a.socket, "%s", cli_json_str(ans, "error"));
	} else if (json) {
		cli_json_print(json_object_get(ans));
	} else {
		printf("%s: %s, generation %s, program \"%s\"\n", a.socket,
		       cli_json_str(ans, "state"), json_object_get_string(cli_json_member(ans, "generation")),
		       cli_json_str(ans, "program"));
		arr = cli_json_member(ans, "devices");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			json_object *d = json_object_array_get_idx(arr, i);

			const char *name = cli_json_str(d, "schema_name");

			printf("  device %s  %s  schema ", cli_json_str(d, "address"),
			       cli_json_str(d, "driver") ? cli_json_str(d, "driver") : "(quarantined)");
			if (name)
				printf("%s v%d (%s)\n", name,
				       json_object_get_int(cli_json_member(d, "schema_version")),
				       cli_json_str(d, "schema"));
			else
				printf("%s\n", cli_json_str(d, "schema"));
		}
		arr = cli_json_member(ans, "regions");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			json_object *r = json_object_array_get_idx(arr, i);

			int users = json_object_get_int(cli_json_member(r, "users"));

			printf("  region \"%s\"  %s bytes", cli_json_str(r, "label"),
			       json_object_get_string(cli_json_member(r, "size")));
			if (users)
				printf("  shared by %d device%s", users, users > 1 ? "s" : "");
			putchar('\n');
		}
		arr = cli_json_member(ans, "sessions");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			json_object *s = json_object_array_get_idx(arr, i);
			const char *name = cli_json_str(s, "name");
			json_object *fds = cli_json_member(s, "fds");

			printf("  session \"%s\"%s  %zu preserved fd%s\n", name ? name : "",
			       name && !name[0] ? " (default)" : "",
			       fds ? json_object_array_length(fds) : 0,
			       fds && json_object_array_length(fds) == 1 ? "" : "s");
		}
	}
	json_object_put(ans);
	return err;
}

static void print_update(json_object *ans)
{
	json_object *arr = cli_json_member(ans, "decisions"), *blackout = cli_json_member(ans, "blackout_ms");
	json_object *held = cli_json_member(ans, "held_ms");

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *d = json_object_array_get_idx(arr, i);

		printf("  %s  %-10s %-10s %s\n", cli_json_str(d, "address"), cli_json_str(d, "action"),
		       cli_json_str(d, "driver") ? cli_json_str(d, "driver") : "-", cli_json_str(d, "reason"));
	}
	printf("%s", cli_json_str(ans, "outcome"));
	if (blackout)
		printf(": blackout %.3f ms", json_object_get_double(blackout));
	if (blackout && held)
		printf(" (the program held %.3f ms)", json_object_get_double(held));
	if (blackout)
		printf(", generation %s, now \"%s\"",
		       json_object_get_string(cli_json_member(ans, "generation")),
		       cli_json_str(ans, "program"));
	if (cli_json_str(ans, "error"))
		printf(": %s", cli_json_str(ans, "error"));
	putchar('\n');
}

static int run_update(int argc, char **argv)
{
	struct control_args a = { 0 };
	json_object *req, *ans = NULL;
	char target[4096];
	long timeout = 30;
	bool json;
	int first, err;
	const char *outcome;

	first = cli_parse(argc, argv, update_usage, &json, longopts, "", on_opt, &a);
	if (first < 0)
		return EXIT_INVALID;
	if (argc != first || !a.socket || !a.to)
		return cli_usage(update_usage, "update takes --socket PATH and --to BINARY");
	if (a.mode && strcmp(a.mode, "exec") && strcmp(a.mode, "socket"))
		return cli_usage(update_usage, "--mode is exec or socket, not '%s'", a.mode);
	if (a.orphan && strcmp(a.orphan, "quarantine") && strcmp(a.orphan, "reset"))
		return cli_usage(update_usage, "--orphan is quarantine or reset, not '%s'", a.orphan);
	if (a.timeout) {
		char *end;

		timeout = strtol(a.timeout, &end, 10);
		if (*end || timeout <= 0 || timeout > 3600)
			return cli_usage(update_usage, "--timeout takes 1 to 3600 seconds");
	}
	/* The program execs the target: give it a path that means the same there. */
	if (!realpath(a.to, target))
		return cli_failf(a.to, "%s", strerror(errno));
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("update"));
	json_object_object_add(req, "target", json_object_new_string(target));
	json_object_object_add(req, "mode", json_object_new_string(a.mode ? a.mode : "exec"));
	/* The program gives the new version (dry run, socket-mode restore) as long. */
	json_object_object_add(req, "timeout_ms", json_object_new_int64(timeout * 1000));
	json_object_object_add(req, "dry_run", json_object_new_boolean(a.dry_run));
	json_object_object_add(req, "force", json_object_new_boolean(a.force));
	if (a.orphan)
		json_object_object_add(req, "orphan", json_object_new_string(a.orphan));
	/* Our wait covers the dry run's and the restore's, and some slack. */
	err = cli_ask_json(a.socket, req, (int)timeout * 2000 + 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	if (cli_json_str(ans, "error") && !cli_json_str(ans, "outcome")) {
		err = cli_failf(a.socket, "%s", cli_json_str(ans, "error"));
		json_object_put(ans);
		return err;
	}
	outcome = cli_json_str(ans, "outcome");
	err = outcome && (!strcmp(outcome, "updated") || !strcmp(outcome, "dry-run")) ?
	      EXIT_OK : EXIT_VERDICT;
	if (json)
		cli_json_print(json_object_get(ans));
	else
		print_update(ans);
	json_object_put(ans);
	return err;
}

const struct cli_cmd cmd_status = { "status", run_status, status_usage };
const struct cli_cmd cmd_update = { "update", run_update, update_usage };
