// SPDX-License-Identifier: MIT
/**
 * DOC: the control socket's server
 *
 * One request per connection, one JSON object per line each way
 * (docs/control-protocol.md).  The socket is created 0600 and every peer's
 * credentials are checked, because whoever can ask for an update can make
 * the program exec any binary.
 *
 * Every client is a watch in the host's loop (loop.c), so the program is
 * never held by one: a request is read as it arrives, within one deadline
 * for the whole request (not per read), at most REQUEST_MAX bytes, fds
 * sent with it closed; an answer is written as the client takes it, within
 * a deadline too; any number of clients are served side by side.  When the
 * fd table is full, a reserve fd is given up to accept the connection and
 * tell the client so, instead of leaving it in the backlog for ever.
 *
 * An update request outlives the process that received it.  Its
 * connection is kept as a host fd (BATON_TOKEN_REPLY), so it crosses the
 * exec with everything else, and the version that ends up running answers
 * on it once it has taken over (baton_control_report()) - or the old
 * version answers, if the update was refused, aborted or came back.  While
 * the dry run runs, the program serves; a client that hangs up before
 * FREEZE gives the update up.  The listening socket crosses too
 * (BATON_TOKEN_LISTEN): clients never see it go away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/json.h>

#include "host/host-internal.h"

#define REQUEST_MAX		(64u << 10)
#define REQUEST_TIMEOUT_MS	2000
#define REPLY_TIMEOUT_MS	5000
#define ACCEPT_MAX		16
#define BACKLOG			128

enum client_state { READING, UPDATING, WRITING };

struct client {
	struct watch w;
	struct control *ctl;
	struct client *prev, *next;
	enum client_state state;
	bool denied;			/* not our user, nor root */
	bool gone;			/* hung up while its update ran */
	uint64_t deadline_ns;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	char mode[8];			/* of its update: "exec" or "socket" */
};

struct control {
	struct baton_host *host;
	struct watch listener;
	struct timer sweep;		/* at the earliest client's deadline */
	int reserve;			/* given up to refuse a client at EMFILE */
	struct client *clients;
};

static const uint32_t reading_events = EPOLLIN | EPOLLRDHUP;

/* ---- Clients ---- */

static void client_free(struct client *c)
{
	struct control *ctl = c->ctl;

	if (c->w.fd >= 0) {
		baton_loop_del(ctl->host, &c->w);
		if (!ctl->host->handed_over)
			close(c->w.fd);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	free(c);
}

/* Write what the client takes now; the rest when it is writable. */
static void flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t put = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
				   MSG_NOSIGNAL | MSG_DONTWAIT);

		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0 && errno == EAGAIN)
			return;
		if (put < 0)
			break;		/* gone: it loses its answer, nothing else */
		c->out_off += (size_t)put;
	}
	client_free(c);
}

/* The answer, written when the loop finds the client writable; false if
 * there was no memory for it, and the client is gone. */
static bool queue_reply(struct client *c, json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);

	c->state = WRITING;
	c->out_len = strlen(text) + 1;
	c->out = malloc(c->out_len);
	if (c->out) {
		memcpy(c->out, text, c->out_len - 1);
		c->out[c->out_len - 1] = '\n';
	}
	json_object_put(obj);
	if (!c->out) {
		client_free(c);
		return false;
	}
	c->deadline_ns = baton_now_ns() + REPLY_TIMEOUT_MS * 1000000ull;
	baton_loop_mod(c->ctl->host, &c->w, EPOLLOUT);
	baton_loop_arm(c->ctl->host, &c->ctl->sweep, c->deadline_ns);
	return true;
}

static void reply(struct client *c, json_object *obj)
{
	if (queue_reply(c, obj))
		flush(c);
}

static json_object *error_json(const char *what)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(what));
	return o;
}

static struct client *client_new(struct control *ctl, int fd)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ctl = ctl;
	c->w.fd = fd;
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	return c;
}

/* ---- Requests ---- */

static const char *field(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) &&
	       json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static bool flag(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) && json_object_get_boolean(v);
}

static unsigned timeout_ms(json_object *req)
{
	json_object *v;
	int64_t ms = 0;

	if (json_object_object_get_ex(req, "timeout_ms", &v))
		ms = json_object_get_int64(v);
	return ms > 0 && ms <= 3600000 ? (unsigned)ms : 0;
}

static json_object *status_json(const struct baton_host *host)
{
	json_object *o = json_object_new_object();
	json_object *devices = json_object_new_array();
	json_object *regions = json_object_new_array();
	json_object *sessions = json_object_new_array();
	char addr[BATON_PCI_ADDR_STRLEN], guid[BATON_CONTRACT_GUID_STRLEN];

	json_object_object_add(o, "state", json_object_new_string(
		host->update ? "updating" : "running"));
	json_object_object_add(o, "generation", json_object_new_uint64(host->generation));
	json_object_object_add(o, "program", json_object_new_string(host->program));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_device *dev = host->devices[i];
		const struct baton_schema_desc *desc = dev->drv ? baton_contracts_schema(
			host->contracts, baton_driver_written(dev->drv)->owner) : NULL;
		json_object *d = json_object_new_object();

		json_object_object_add(d, "address", json_object_new_string(
			baton_pci_addr_format(&dev->info.addr, addr)));
		json_object_object_add(d, "driver", dev->drv ?
			json_object_new_string(dev->drv->name) : NULL);
		json_object_object_add(d, "schema", json_object_new_string(
			baton_guid_format(desc ? desc->guid : dev->schema, guid)));
		json_object_object_add(d, "schema_name", desc || dev->schema_name ?
			json_object_new_string(desc ? desc->name : dev->schema_name) : NULL);
		json_object_object_add(d, "schema_version", desc || dev->schema_name ?
			json_object_new_int64(desc ? desc->version : dev->schema_version) : NULL);
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
		const struct baton_session *s = host->sessions[k];
		json_object *fds = json_object_new_array(), *so;

		for (size_t i = 0; i < s->n_fds; i++) {
			json_object *f;

			if (s->fds[i].token & BATON_TOKEN_HOST)
				continue;
			f = json_object_new_object();
			json_object_object_add(f, "token", json_object_new_uint64(s->fds[i].token));
			json_object_object_add(f, "kind", json_object_new_string(
				baton_fd_kind_name(s->fds[i].kind)));
			json_object_array_add(fds, f);
		}
		if (!json_object_array_length(fds)) {
			json_object_put(fds);
			continue;
		}
		so = json_object_new_object();
		json_object_object_add(so, "name", json_object_new_string(s->name));
		json_object_object_add(so, "fds", fds);
		json_object_array_add(sessions, so);
	}
	json_object_object_add(o, "devices", devices);
	json_object_object_add(o, "regions", regions);
	json_object_object_add(o, "sessions", sessions);
	return o;
}

static json_object *outcome_json(const char *outcome, const char *mode,
				 const char *error)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "outcome", json_object_new_string(outcome));
	json_object_object_add(o, "mode", json_object_new_string(mode));
	if (error && error[0])
		json_object_object_add(o, "error", json_object_new_string(error));
	return o;
}

/* Whether the client is still connected: it hangs up by closing. */
static bool wanted(struct update *u)
{
	struct client *c = u->done_arg;
	char byte;

	return !c->gone && recv(c->w.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

static void update_done(struct update *u, int err)
{
	struct client *c = u->done_arg;
	struct baton_host *host = u->host;
	const char *outcome;
	json_object *out;

	baton_host_drop_fd(host, BATON_TOKEN_REPLY);
	if (err == BATON_HANDED_OVER || (err == -ECANCELED && c->gone)) {
		/* The new process answers; or nobody is there to hear it. */
		baton_update_free(u);
		client_free(c);
		return;
	}
	if (!err)
		outcome = u->dry_run_only ? "dry-run" : "updated";
	else if (!u->frozen_once)
		outcome = "refused";
	else
		outcome = u->new_started ? "rolled-back" : "aborted";
	out = outcome_json(outcome, c->mode, err ? (u->report->why[0] ?
			   u->report->why : baton_strerror(err)) : NULL);
	json_object_object_add(out, "decisions",
			       baton_decisions_json(u->report->decisions, u->report->n));
	baton_update_free(u);
	reply(c, out);
}

static void handle_update(struct client *c, json_object *req)
{
	struct baton_host *host = c->ctl->host;
	struct baton_update_opts opts = { 0 };
	const char *mode = field(req, "mode") ? field(req, "mode") : "exec";
	const char *orphan = field(req, "orphan");
	struct update *u;
	int err;

	opts.target = field(req, "target");
	opts.force = flag(req, "force");
	opts.dry_run = flag(req, "dry_run");
	opts.timeout_ms = timeout_ms(req);
	if (!opts.target)
		return reply(c, error_json("update needs a target"));
	if (!strcmp(mode, "socket"))
		opts.mode = BATON_MODE_SOCKET;
	else if (strcmp(mode, "exec"))
		return reply(c, error_json("mode is exec or socket"));
	snprintf(c->mode, sizeof(c->mode), "%s", mode);
	if (orphan && !strcmp(orphan, "quarantine"))
		opts.orphan = BATON_OVERRIDE_QUARANTINE;
	else if (orphan && !strcmp(orphan, "reset"))
		opts.orphan = BATON_OVERRIDE_RESET;
	else if (orphan)
		return reply(c, error_json("orphan is quarantine or reset"));
	u = baton_update_new(host, &opts);
	if (!u)
		return reply(c, error_json(baton_strerror(-ENOMEM)));
	u->done = update_done;
	u->wanted = wanted;
	u->done_arg = c;
	/* A client that gave up before we read it is not served. */
	if (!wanted(u)) {
		baton_update_free(u);
		return client_free(c);
	}
	c->state = UPDATING;
	baton_loop_mod(host, &c->w, EPOLLRDHUP);
	/* The connection crosses the exec: the new version answers on it. */
	err = opts.dry_run ? 0 : baton_session_add(baton_session_default(host),
						    BATON_TOKEN_REPLY, c->w.fd,
						    BATON_FD_SOCKET, NULL);
	if (!err)
		err = baton_update_start(u);
	if (err)
		update_done(u, err);
	else if (!u->dry)
		baton_update_continue(u);
}

/*
 * A kernel update (kexec.c): the preflight answers at once; a handover
 * holds the program until the agent lets it go on, or the machine reboots.
 */
static void handle_kexec(struct client *c, json_object *req)
{
	const char *phase = field(req, "phase");
	bool handover = phase && !strcmp(phase, "handover");
	json_object *out;

	if (!phase || (!handover && strcmp(phase, "preflight")))
		return reply(c, error_json("phase is preflight or handover"));
	out = baton_kexec_request(c->ctl->host, c->w.fd, handover, timeout_ms(req));
	reply(c, out ? out : error_json(baton_strerror(-ENOMEM)));
}

static void handle_request(struct client *c)
{
	json_object *req;
	const char *cmd;

	if (c->denied)
		return reply(c, error_json("permission denied"));
	req = json_tokener_parse(c->in);
	cmd = req ? field(req, "cmd") : NULL;
	if (!cmd)
		reply(c, error_json("expected one JSON object with \"cmd\" on a line"));
	else if (!strcmp(cmd, "status"))
		reply(c, status_json(c->ctl->host));
	else if (!strcmp(cmd, "update"))
		handle_update(c, req);
	else if (!strcmp(cmd, "kexec"))
		handle_kexec(c, req);
	else
		reply(c, error_json("unknown cmd"));
	json_object_put(req);
}

/* One read: what is there, fds sent along closed, the line complete or not. */
static void read_request(struct client *c)
{
	char control[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = { c->in + c->in_len, REQUEST_MAX - c->in_len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	ssize_t got = recvmsg(c->w.fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (got > 0)
		baton_scm_take_fds(&msg, NULL, 0);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0)
		return client_free(c);	/* hung up before asking: nothing to say */
	c->in_len += (size_t)got;
	c->in[c->in_len] = '\0';
	if (memchr(c->in + c->in_len - (size_t)got, '\n', (size_t)got))
		return handle_request(c);
	if (c->in_len == REQUEST_MAX)
		reply(c, error_json("request too long"));
}

static void on_client(struct watch *w, uint32_t events)
{
	struct client *c = container_of(w, struct client, w);

	switch (c->state) {
	case READING:
		read_request(c);
		break;
	case UPDATING:
		/* Whatever it does now, only a hangup matters (before FREEZE). */
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			c->gone = true;
			baton_loop_mod(c->ctl->host, &c->w, 0);
		}
		break;
	case WRITING:
		flush(c);
		break;
	}
}

/* ---- Accepting ---- */

static void refuse(struct control *ctl, int err)
{
	static const char emfile[] = "{\"error\":\"the program has no fd left "
				     "to serve a client: Too many open files\"}\n";
	int fd;

	if (ctl->reserve < 0)
		return;
	close(ctl->reserve);
	fd = accept4(ctl->listener.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0) {
		(void)!send(fd, emfile, sizeof(emfile) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
	}
	ctl->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	(void)err;
}

static void on_listener(struct watch *w, uint32_t events)
{
	struct control *ctl = container_of(w, struct control, listener);

	(void)events;
	for (int i = 0; i < ACCEPT_MAX; i++) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *c;
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			refuse(ctl, errno);
			continue;
		}
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			return;
		c = client_new(ctl, fd);
		if (c)
			c->in = malloc(REQUEST_MAX + 1);
		if (!c || !c->in || baton_loop_add(ctl->host, &c->w, reading_events)) {
			if (c)
				client_free(c);
			else
				close(fd);
			continue;
		}
		c->w.ready = on_client;
		c->denied = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
			    (cred.uid != geteuid() && cred.uid != 0);
		c->deadline_ns = baton_now_ns() + REQUEST_TIMEOUT_MS * 1000000ull;
		baton_loop_arm(ctl->host, &ctl->sweep, c->deadline_ns);
	}
}

/*
 * Clients past their deadline are answered so, or let go; the sweep comes
 * again at the earliest deadline left, armed once: the newest clients come
 * first, so arming at each would set the timerfd again for every client.
 */
static void sweep(struct timer *t, uint64_t now)
{
	struct control *ctl = container_of(t, struct control, sweep);
	struct client *c, *next;
	uint64_t first = 0;

	for (c = ctl->clients; c; c = next) {
		next = c->next;
		if (c->state == UPDATING)
			continue;
		if (c->deadline_ns > now)
			first = first && first < c->deadline_ns ? first : c->deadline_ns;
		else if (c->state == READING)
			reply(c, error_json("no request within 2000 ms"));
		else
			client_free(c);
	}
	if (first)
		baton_loop_arm(ctl->host, &ctl->sweep, first);
}

static int control_init(struct baton_host *host, int listen_fd)
{
	struct control *ctl;
	int err;

	if (host->control)
		return 0;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->host = host;
	ctl->listener = (struct watch){ listen_fd, on_listener };
	ctl->sweep.fire = sweep;
	ctl->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	err = baton_loop_add(host, &ctl->listener, EPOLLIN);
	if (err) {
		if (ctl->reserve >= 0)
			close(ctl->reserve);
		free(ctl);
		return err;
	}
	host->control = ctl;
	return 0;
}

int baton_host_listen(struct baton_host *host, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = baton_host_kept_fd(host, BATON_TOKEN_LISTEN), err;
	struct stat st;
	mode_t old_mask;

	if (fd >= 0)
		return control_init(host, fd);	/* inherited from the previous version */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A socket left by a program that died is in the way; nothing else is. */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* bind() creates the file with the umask's mode: make it 0600. */
	old_mask = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old_mask);
	if (!err && listen(fd, BACKLOG))
		err = -errno;
	if (!err)
		err = baton_session_add(baton_session_default(host), BATON_TOKEN_LISTEN,
					fd, BATON_FD_SOCKET, NULL);
	if (!err)
		err = control_init(host, fd);
	if (err) {
		baton_host_drop_fd(host, BATON_TOKEN_LISTEN);
		close(fd);
	}
	return err;
}

/* ---- Across an update ---- */

int baton_control_adopt(struct baton_host *host)
{
	int listen_fd = baton_host_kept_fd(host, BATON_TOKEN_LISTEN);
	int reply_fd = baton_host_kept_fd(host, BATON_TOKEN_REPLY);
	struct client *c;
	int err;

	if (listen_fd < 0)
		return 0;
	err = control_init(host, listen_fd);
	if (err || reply_fd < 0)
		return err;
	c = client_new(host->control, reply_fd);
	if (!c)
		return -ENOMEM;
	c->w.ready = on_client;
	c->state = UPDATING;
	snprintf(c->mode, sizeof(c->mode), "%s",
		 host->incoming->hv.role == BATON_ROLE_RECEIVE ? "socket" : "exec");
	return baton_loop_add(host, &c->w, 0);
}

void baton_control_report(struct baton_host *host, const char *outcome,
			  const char *why)
{
	struct control *ctl = host->control;
	const struct incoming *in = host->incoming;
	struct client *c = ctl ? ctl->clients : NULL;
	json_object *out;

	/* The client of the update: the only one that came with the image. */
	while (c && (c->state != UPDATING || c->w.fd != baton_host_kept_fd(host, BATON_TOKEN_REPLY)))
		c = c->next;
	baton_host_drop_fd(host, BATON_TOKEN_REPLY);
	if (!c)
		return;
	out = outcome_json(outcome, c->mode, why);
	json_object_object_add(out, "generation", json_object_new_uint64(host->generation));
	json_object_object_add(out, "program", json_object_new_string(host->program));
	json_object_object_add(out, "blackout_ms",
			       json_object_new_double((double)host->last.blackout_ns / 1e6));
	if (host->last.held_ns)
		json_object_object_add(out, "held_ms",
				       json_object_new_double((double)host->last.held_ns / 1e6));
	json_object_object_add(out, "decisions", baton_decisions_json(in->decisions,
				in->image->n_devices));
	/*
	 * Written from the program's loop, once it turns again, not now: the
	 * program answers the clients the update held first.  Written here,
	 * right after FINISH, the answer woke its client (`baton update`),
	 * which took the CPU it shared with the program to read and print it
	 * and exit, ~1 ms the program's own clients waited.
	 */
	queue_reply(c, out);
}

/*
 * The answers not yet written, each tried once more: before an update,
 * whose exec would close their connections, and at the host's end.
 */
void baton_control_flush(struct baton_host *host)
{
	struct control *ctl = host->control;

	for (struct client *c = ctl ? ctl->clients : NULL, *next; c; c = next) {
		next = c->next;
		if (c->state == WRITING)
			flush(c);
	}
}

void baton_control_free(struct baton_host *host)
{
	struct control *ctl = host->control;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int fd;

	if (!ctl)
		return;
	baton_loop_disarm(host, &ctl->sweep);
	baton_control_flush(host);
	while (ctl->clients)
		client_free(ctl->clients);
	if (ctl->reserve >= 0)
		close(ctl->reserve);
	fd = ctl->listener.fd;
	/* After a handover the path and the socket are the new process's. */
	if (!host->handed_over) {
		if (!getsockname(fd, (struct sockaddr *)&sa, &len) &&
		    len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0])
			unlink(sa.sun_path);
		baton_host_drop_fd(host, BATON_TOKEN_LISTEN);
		close(fd);
	}
	free(ctl);
	host->control = NULL;
}
