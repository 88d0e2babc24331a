// SPDX-License-Identifier: MIT
/**
 * DOC: the control socket
 *
 * One request per connection, one JSON object per line each way
 * (docs/control-protocol.md).  The socket is the program's own: it is
 * created 0600 and every peer's credentials are checked, because whoever
 * can ask for an update can make the program exec any binary.
 *
 * An update request outlives the process that received it.  Its connection
 * is kept as a host fd (BATON_TOKEN_REPLY), so it crosses the exec with
 * everything else, and the new version answers on it after FINISH
 * (baton_control_report()) - or the old version answers, if the update
 * never left, or came back.  The listening socket crosses too
 * (BATON_TOKEN_LISTEN): clients never see it go away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/host.h>
#include <baton/json.h>

#include "internal.h"
#include "host/host-internal.h"

#define REQUEST_MAX	4096
#define REQUEST_TIMEOUT_MS 2000

int baton_host_listen(struct baton_host *host, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int fd, err;

	if (baton_host_kept_fd(host, BATON_TOKEN_LISTEN) >= 0)
		return 0;	/* inherited from the previous version */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -BATON_ERR_RANGE;
	strcpy(sa.sun_path, path);
	/* A socket left by a program that died is in the way; nothing else is. */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -BATON_ERR_IO;
	/* bind() creates the file with the umask's mode: make it 0600. */
	old_mask = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (err || listen(fd, 16)) {
		close(fd);
		return -BATON_ERR_IO;
	}
	err = baton_host_keep_fd(host, BATON_TOKEN_LISTEN, fd, BATON_FD_SOCKET);
	if (err)
		close(fd);
	return err;
}

void baton_control_close(struct baton_host *host)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int fd = baton_host_kept_fd(host, BATON_TOKEN_LISTEN);

	if (fd < 0)
		return;
	/* The path is the socket's own: an inherited socket knows it too. */
	if (!getsockname(fd, (struct sockaddr *)&sa, &len) &&
	    len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0])
		unlink(sa.sun_path);
	baton_host_drop_fd(host, BATON_TOKEN_LISTEN);
	close(fd);
}

int baton_host_fd(const struct baton_host *host)
{
	return baton_host_kept_fd(host, BATON_TOKEN_LISTEN);
}

static void reply(int fd, json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);

	/* A client that went away loses its answer, nothing else. */
	if (write(fd, text, len) == (ssize_t)len)
		(void)!write(fd, "\n", 1);
	json_object_put(obj);
}

static json_object *status_json(const struct baton_host *host)
{
	json_object *o = json_object_new_object();
	json_object *devices = json_object_new_array();
	json_object *regions = json_object_new_array();
	json_object *sessions = json_object_new_array();
	char addr[BATON_PCI_ADDR_STRLEN], guid[BATON_CONTRACT_GUID_STRLEN];

	json_object_object_add(o, "state", json_object_new_string("running"));
	json_object_object_add(o, "generation", json_object_new_uint64(host->generation));
	json_object_object_add(o, "program", json_object_new_string(host->program));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_device *dev = host->devices[i];
		json_object *d = json_object_new_object();
		struct baton_schema_desc *desc = NULL;

		json_object_object_add(d, "address", json_object_new_string(
			baton_pci_addr_format(&dev->info.addr, addr)));
		json_object_object_add(d, "driver", dev->drv ?
			json_object_new_string(dev->drv->name) : NULL);
		if (dev->drv && !baton_schema_describe(baton_driver_written(dev->drv), &desc)) {
			json_object_object_add(d, "schema", json_object_new_string(
				baton_guid_format(desc->guid, guid)));
			json_object_object_add(d, "schema_name", json_object_new_string(desc->name));
			json_object_object_add(d, "schema_version", json_object_new_int64(desc->version));
			baton_schema_desc_free(desc);
		} else {
			json_object_object_add(d, "schema", json_object_new_string(
				baton_guid_format(dev->schema, guid)));
			json_object_object_add(d, "schema_name", dev->schema_name ?
				json_object_new_string(dev->schema_name) : NULL);
			json_object_object_add(d, "schema_version", dev->schema_name ?
				json_object_new_int64(dev->schema_version) : NULL);
		}
		json_object_array_add(devices, d);
	}
	for (size_t i = 0; i < host->n_regions; i++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "label", json_object_new_string(host->regions[i]->label));
		json_object_object_add(r, "size", json_object_new_uint64(host->regions[i]->size));
		json_object_object_add(r, "users", json_object_new_int((int)host->regions[i]->users));
		json_object_array_add(regions, r);
	}
	/* Each session with the program's fds in it; the host's own are not. */
	for (size_t k = 0; k < host->n_sessions; k++) {
		json_object *fds = json_object_new_array(), *s;

		for (size_t i = 0; i < host->n_fds; i++) {
			const struct preserved_fd *p = &host->fds[i];
			json_object *f;

			if (p->session != host->sessions[k] || (p->token & BATON_TOKEN_HOST))
				continue;
			f = json_object_new_object();
			json_object_object_add(f, "token", json_object_new_uint64(p->token));
			json_object_object_add(f, "kind", json_object_new_string(
				baton_fd_kind_name(p->kind)));
			json_object_array_add(fds, f);
		}
		if (!json_object_array_length(fds)) {
			json_object_put(fds);
			continue;
		}
		s = json_object_new_object();
		json_object_object_add(s, "name", json_object_new_string(host->sessions[k]->name));
		json_object_object_add(s, "fds", fds);
		json_object_array_add(sessions, s);
	}
	json_object_object_add(o, "devices", devices);
	json_object_object_add(o, "regions", regions);
	json_object_object_add(o, "sessions", sessions);
	return o;
}

static json_object *error_json(const char *what)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(what));
	return o;
}

static json_object *outcome_json(const char *outcome, const char *mode)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "outcome", json_object_new_string(outcome));
	json_object_object_add(o, "mode", json_object_new_string(mode));
	return o;
}

static const char *field(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) &&
	       json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t timeout_ms(json_object *req)
{
	json_object *v;
	int64_t ms = 0;

	if (json_object_object_get_ex(req, "timeout_ms", &v))
		ms = json_object_get_int64(v);
	return ms > 0 && ms <= 3600000 ? ms : 0;
}

static bool flag(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) && json_object_get_boolean(v);
}

/* The target runs with this program's arguments, under its own name. */
static char **target_argv(const struct baton_host *host, const char *target)
{
	size_t n = 0;
	char **argv;

	while (host->argv[n])
		n++;
	argv = calloc(n + 2, sizeof(*argv));
	if (!argv)
		return NULL;
	argv[0] = (char *)target;
	for (size_t i = 1; i < n; i++)
		argv[i] = host->argv[i];
	return argv;
}

/* Return: BATON_HANDED_OVER when the new process has taken over. */
static int handle_update(struct baton_host *host, int conn, json_object *req)
{
	struct baton_update_report report = { 0 };
	struct baton_update_opts opts = { .report = &report };
	const char *mode = field(req, "mode") ? field(req, "mode") : "exec";
	const char *orphan = field(req, "orphan");
	json_object *out;
	char **argv;
	int err;

	opts.target = field(req, "target");
	opts.force = flag(req, "force");
	opts.dry_run = flag(req, "dry_run");
	if (!opts.target)
		return reply(conn, error_json("update needs a target")), 0;
	if (!strcmp(mode, "socket"))
		opts.mode = BATON_MODE_SOCKET;
	else if (strcmp(mode, "exec"))
		return reply(conn, error_json("mode is exec or socket")), 0;
	if (orphan && !strcmp(orphan, "quarantine"))
		opts.orphan = BATON_OVERRIDE_QUARANTINE;
	else if (orphan && !strcmp(orphan, "reset"))
		opts.orphan = BATON_OVERRIDE_RESET;
	else if (orphan)
		return reply(conn, error_json("orphan is quarantine or reset")), 0;
	argv = target_argv(host, opts.target);
	if (!argv)
		return reply(conn, error_json("out of memory")), 0;
	opts.timeout_ms = (unsigned)timeout_ms(req);
	opts.argv = argv;

	/* The connection crosses the exec: the new version answers on it. */
	fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
	err = opts.dry_run ? 0 : baton_host_keep_fd(host, BATON_TOKEN_REPLY, conn,
						     BATON_FD_SOCKET);
	if (!err)
		err = baton_host_update(host, &opts);
	baton_host_drop_fd(host, BATON_TOKEN_REPLY);
	if (err == BATON_HANDED_OVER) {
		/* The new process answers; this one only lets go. */
		baton_update_report_release(&report);
		free(argv);
		return err;
	}

	/* Still here: a dry run, or the update did not happen. */
	if (opts.dry_run && !err)
		out = outcome_json("dry-run", mode);
	else
		out = outcome_json(err == -BATON_ERR_REFUSED || opts.dry_run ?
				   "refused" : "rolled-back", mode);
	if (err)
		json_object_object_add(out, "error", json_object_new_string(
			report.why[0] ? report.why : baton_strerror(err)));
	json_object_object_add(out, "decisions",
			       baton_decisions_json(report.decisions, report.n));
	reply(conn, out);
	baton_update_report_release(&report);
	free(argv);
	return 0;
}

/* Read one line, bounded in size and time: a slow client cannot hold us. */
static json_object *read_request(int conn)
{
	char buf[REQUEST_MAX + 1];
	size_t len = 0;

	while (len < REQUEST_MAX) {
		struct pollfd p = { .fd = conn, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, REQUEST_TIMEOUT_MS) != 1)
			return NULL;
		got = read(conn, buf + len, REQUEST_MAX - len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return NULL;
		len += (size_t)got;
		buf[len] = '\0';
		if (memchr(buf, '\n', len))
			return json_tokener_parse(buf);
	}
	return NULL;
}

int baton_host_dispatch(struct baton_host *host)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	json_object *req;
	const char *cmd;
	int conn, ret = 0;

	conn = accept4(baton_host_fd(host), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -BATON_ERR_IO;
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		reply(conn, error_json("permission denied"));
		close(conn);
		return 0;
	}
	req = read_request(conn);
	cmd = req ? field(req, "cmd") : NULL;
	if (!cmd)
		reply(conn, error_json("expected one JSON object with \"cmd\" on a line"));
	else if (!strcmp(cmd, "status"))
		reply(conn, status_json(host));
	else if (!strcmp(cmd, "update"))
		ret = handle_update(host, conn, req);
	else
		reply(conn, error_json("unknown cmd"));
	json_object_put(req);
	close(conn);
	return ret;
}

void baton_control_report(struct baton_host *host, const char *mode)
{
	int conn = baton_host_kept_fd(host, BATON_TOKEN_REPLY);
	const struct baton_update_result *last = &host->last;
	json_object *out;

	if (conn < 0)
		return;
	out = outcome_json(last->rolled_back ? "rolled-back" : "updated", mode);
	json_object_object_add(out, "generation", json_object_new_uint64(host->generation));
	json_object_object_add(out, "program", json_object_new_string(host->program));
	json_object_object_add(out, "blackout_ms",
			       json_object_new_double(last->blackout_ns / 1e6));
	json_object_object_add(out, "decisions",
			       baton_decisions_json(last->decisions, last->n_decisions));
	reply(conn, out);
	baton_host_drop_fd(host, BATON_TOKEN_REPLY);
	close(conn);
}
