// SPDX-License-Identifier: MIT
/**
 * DOC: devsim status socket
 *
 * DIR/status.sock answers one JSON line per request line, on as many
 * requests as the client sends, until it closes:
 *
 *   status                     {"paused":false,"ticks":N,"device_ticks":N,
 *                              "devices":[{...}, ...]}: ticks, the 1 ms
 *                              timer's; device_ticks, the devices ticked
 *                              (only those with work: devsim.h)
 *   pause / resume             the status, after generation stopped/started
 *   wait-generated N MS        the status once every enabled pktgen device
 *                              has generated >= N packets, or
 *                              {"error":"timeout"} after MS milliseconds
 *   anything else              {"error":"unknown request"}
 *
 * A wait does not block the loop: the connection stops reading (its next
 * requests stay queued in the socket) and devsim_status_tick() answers it
 * after the tick that satisfies it or the first one past its deadline.
 * Replies are sent without blocking; a client whose socket buffer is full
 * is disconnected.  A connection that fails while the loop is handling
 * other fds is only marked and freed by devsim_status_reap(), so no event
 * already returned by epoll_wait() can point at freed memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "devsim.h"

#define STATUS_LINE_MAX 256

struct status_conn {
	struct devsim_watch watch;
	struct devsim *sim;
	struct status_conn *next;
	char line[STATUS_LINE_MAX];
	size_t len;
	bool waiting;
	bool dead;
	uint64_t wait_n;
	uint64_t wait_deadline_ns;
};

struct devsim_status {
	struct devsim_watch listen;
	struct devsim *sim;
	char *path;
	struct status_conn *conns;
};

struct json_object *devsim_status_json(struct devsim *sim)
{
	struct json_object *root = json_object_new_object();
	struct json_object *devs = json_object_new_array();

	json_object_object_add(root, "paused", json_object_new_boolean(sim->paused));
	json_object_object_add(root, "ticks", json_object_new_int64((int64_t)sim->ticks));
	json_object_object_add(root, "device_ticks", json_object_new_int64((int64_t)sim->dev_ticks));
	for (unsigned int i = 0; i < sim->ndevs; i++) {
		struct devsim_dev *dev = &sim->devs[i];
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "address", json_object_new_string(dev->name));
		json_object_object_add(d, "type", json_object_new_string(dev->type->name));
		json_object_object_add(d, "connected",
				       json_object_new_boolean(devsim_dev_connected(dev)));
		json_object_object_add(d, "resets", json_object_new_int64((int64_t)dev->resets));
		dev->type->status(dev, d);
		json_object_array_add(devs, d);
	}
	json_object_object_add(root, "devices", devs);
	return root;
}

/* Send one JSON line and drop @obj; on failure the connection dies. */
static void send_json(struct status_conn *c, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);
	struct iovec iov[2] = { { (void *)s, len }, { "\n", 1 } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	do
		n = sendmsg(c->watch.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len + 1)
		c->dead = true;
	json_object_put(obj);
}

static void send_error(struct status_conn *c, const char *what)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(what));
	send_json(c, o);
}

static bool wait_done(struct devsim *sim, uint64_t n)
{
	for (unsigned int i = 0; i < sim->ndevs; i++) {
		const struct devsim_dev *dev = &sim->devs[i];

		if (devsim_pktgen_enabled(dev) && devsim_pktgen_generated(dev) < n)
			return false;
	}
	return true;
}

static void set_reading(struct status_conn *c, bool on)
{
	if (devsim_watch_mod(c->sim, &c->watch, on ? EPOLLIN : 0))
		c->dead = true;
}

/* Answer the pending wait if it is over; whether it was. */
static bool check_wait(struct status_conn *c)
{
	if (wait_done(c->sim, c->wait_n))
		send_json(c, devsim_status_json(c->sim));
	else if (devsim_now_ns() >= c->wait_deadline_ns)
		send_error(c, "timeout");
	else
		return false;
	c->waiting = false;
	return true;
}

/*
 * "reset ADDR": the device resets as if something else had reset it (a
 * function-level reset), its client still connected: what a driver that
 * takes a device over must notice (tests/integration/test_demo.sh).
 */
static void reset_device(struct status_conn *c, const char *addr)
{
	for (unsigned int i = 0; i < c->sim->ndevs; i++)
		if (!strcmp(c->sim->devs[i].name, addr)) {
			devsim_dev_reset(&c->sim->devs[i]);
			send_json(c, devsim_status_json(c->sim));
			return;
		}
	send_error(c, "no such device");
}

static void request(struct status_conn *c, const char *line)
{
	struct devsim *sim = c->sim;
	uint64_t n, ms;
	char extra;

	if (!strcmp(line, "status")) {
		send_json(c, devsim_status_json(sim));
	} else if (!strcmp(line, "pause") || !strcmp(line, "resume")) {
		sim->paused = line[0] == 'p';
		/* Every device sees it at the next tick. */
		for (unsigned int i = 0; i < sim->ndevs; i++)
			sim->devs[i].tick_at = 0;
		send_json(c, devsim_status_json(sim));
	} else if (!strncmp(line, "reset ", 6)) {
		reset_device(c, line + 6);
	} else if (sscanf(line, "wait-generated %" SCNu64 " %" SCNu64 " %c",
			  &n, &ms, &extra) == 2 && ms <= 3600000) {
		c->waiting = true;
		c->wait_n = n;
		c->wait_deadline_ns = devsim_now_ns() + ms * 1000000;
		if (!check_wait(c))
			set_reading(c, false);
	} else {
		send_error(c, "unknown request");
	}
}

/* Handle the complete lines in the buffer, up to a wait. */
static void process_lines(struct status_conn *c)
{
	char *nl;

	while (!c->dead && !c->waiting &&
	       (nl = memchr(c->line, '\n', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->line) + 1;

		*nl = '\0';
		if (nl > c->line && nl[-1] == '\r')
			nl[-1] = '\0';
		request(c, c->line);
		memmove(c->line, c->line + used, c->len - used);
		c->len -= used;
	}
	if (!c->dead && !c->waiting && c->len == sizeof(c->line)) {
		send_error(c, "request too long");
		c->dead = true;
	}
}

static void conn_free(struct devsim_status *st, struct status_conn *c)
{
	struct status_conn **pp;

	for (pp = &st->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	devsim_watch_del(c->sim, &c->watch);
	close(c->watch.fd);
	free(c);
}

static void conn_handle(struct devsim_watch *w, uint32_t events)
{
	struct status_conn *c = (struct status_conn *)w;
	ssize_t n;

	/* Not reading during a wait, but a client that hangs up is gone. */
	if (c->waiting && (events & (EPOLLHUP | EPOLLERR)))
		c->dead = true;
	if (c->dead || c->waiting)
		return;
	n = recv(w->fd, c->line + c->len, sizeof(c->line) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->dead = true;
		return;
	}
	c->len += (size_t)n;
	process_lines(c);
}

static void listen_handle(struct devsim_watch *w, uint32_t events)
{
	struct devsim_status *st = (struct devsim_status *)w;
	struct status_conn *c;
	int fd;

	(void)events;
	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->sim = st->sim;
	c->watch.fd = fd;
	c->watch.handle = conn_handle;
	if (devsim_watch_add(st->sim, &c->watch, EPOLLIN)) {
		free(c);
		close(fd);
		return;
	}
	c->next = st->conns;
	st->conns = c;
}

void devsim_status_tick(struct devsim *sim)
{
	for (struct status_conn *c = sim->status->conns; c; c = c->next) {
		if (c->dead || !c->waiting || !check_wait(c))
			continue;
		/* Requests sent after the wait, already buffered, go on now. */
		process_lines(c);
		if (!c->waiting)
			set_reading(c, true);
	}
}

void devsim_status_reap(struct devsim *sim)
{
	struct status_conn *c, *next;

	for (c = sim->status->conns; c; c = next) {
		next = c->next;
		if (c->dead)
			conn_free(sim->status, c);
	}
}

int devsim_status_init(struct devsim *sim, const char *dir, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct devsim_status *st;
	int fd, len;

	len = path ? snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) :
	      snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/status.sock", dir);
	if (len < 0 || (size_t)len >= sizeof(sa.sun_path)) {
		devsim_log("%s: path too long for a socket", path ? path : dir);
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		goto err;
	st->sim = sim;
	st->path = strdup(sa.sun_path);
	if (!st->path)
		goto err_free;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto err_path;
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16))
		goto err_sock;
	st->listen.fd = fd;
	st->listen.handle = listen_handle;
	if (devsim_watch_add(sim, &st->listen, EPOLLIN))
		goto err_unlink;
	sim->status = st;
	return 0;

err_unlink:
	unlink(sa.sun_path);
err_sock:
	close(fd);
err_path:
	free(st->path);
err_free:
	free(st);
err:
	devsim_log("%s: %m", sa.sun_path);
	return -1;
}

void devsim_status_fini(struct devsim *sim)
{
	struct devsim_status *st = sim->status;

	if (!st)
		return;
	while (st->conns)
		conn_free(st, st->conns);
	devsim_watch_del(sim, &st->listen);
	close(st->listen.fd);
	unlink(st->path);
	free(st->path);
	free(st);
	sim->status = NULL;
}
