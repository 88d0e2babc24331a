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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

/* Send one request line, read one answer line within @timeout_ms. */
static int ask(const char *path, json_object *req, int timeout_ms,
	       json_object **answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char buf[1 << 16];
	size_t len = 0;
	int fd, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cli_failf(path, "socket path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = cli_failf(path, "cannot connect: %s", strerror(errno));
		goto out;
	}
	if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0) {
		err = cli_failf(path, "cannot send: %s", strerror(errno));
		goto out;
	}
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, timeout_ms) != 1) {
			err = cli_failf(path, "no answer within %d ms", timeout_ms);
			goto out;
		}
		got = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = cli_failf(path, "the program closed the connection without an answer");
			goto out;
		}
		len += (size_t)got;
		buf[len] = '\0';
	}
	*answer = json_tokener_parse(buf);
	if (!*answer)
		err = cli_failf(path, "the answer is not JSON");
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

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
	err = ask(a.socket, req, 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	if (str(ans, "error")) {
		err = cli_failf(a.socket, "%s", str(ans, "error"));
	} else if (json) {
		cli_json_print(json_object_get(ans));
	} else {
		printf("%s: %s, generation %s, program \"%s\"\n", a.socket,
		       str(ans, "state"), json_object_get_string(member(ans, "generation")),
		       str(ans, "program"));
		arr = member(ans, "devices");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			json_object *d = json_object_array_get_idx(arr, i);

			printf("  device %s  %s  schema %s\n", str(d, "address"),
			       str(d, "driver") ? str(d, "driver") : "(quarantined)",
			       str(d, "schema"));
		}
		arr = member(ans, "regions");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			json_object *r = json_object_array_get_idx(arr, i);

			int users = json_object_get_int(member(r, "users"));

			printf("  region \"%s\"  %s bytes", str(r, "label"),
			       json_object_get_string(member(r, "size")));
			if (users)
				printf("  shared by %d device%s", users, users > 1 ? "s" : "");
			putchar('\n');
		}
		arr = member(ans, "sessions");
		printf("  preserved fds: %zu\n", arr ? json_object_array_length(arr) : 0);
	}
	json_object_put(ans);
	return err;
}

static void print_update(json_object *ans)
{
	json_object *arr = member(ans, "decisions"), *blackout = member(ans, "blackout_ms");

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *d = json_object_array_get_idx(arr, i);

		printf("  %s  %-10s %-10s %s\n", str(d, "address"), str(d, "action"),
		       str(d, "driver") ? str(d, "driver") : "-", str(d, "reason"));
	}
	printf("%s", str(ans, "outcome"));
	if (blackout)
		printf(": blackout %.3f ms, generation %s, now \"%s\"",
		       json_object_get_double(blackout),
		       json_object_get_string(member(ans, "generation")),
		       str(ans, "program"));
	if (str(ans, "error"))
		printf(": %s", str(ans, "error"));
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
	err = ask(a.socket, req, (int)timeout * 2000 + 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	if (str(ans, "error") && !str(ans, "outcome")) {
		err = cli_failf(a.socket, "%s", str(ans, "error"));
		json_object_put(ans);
		return err;
	}
	outcome = str(ans, "outcome");
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
