// SPDX-License-Identifier: MIT
/**
 * DOC: a kernel update: the program's side and the agent's
 *
 * Across a kexec the kernel's Live Update Orchestrator carries memfds and
 * nothing else (docs/luo.md).  So a program carries its image and its
 * regions - memfds both - and drops every other fd: sockets, pipes,
 * eventfds, vfio-user connections, VFIO fds, memfds preserved as plain
 * fds.  A device's fds are those of the session named after its address
 * (the convention demo-host follows); a device that would lose any
 * follows its orphan policy after the kexec, and a mandatory one refuses
 * the kexec before anything is frozen.
 *
 * The program, asked over its control socket ({"cmd":"kexec"}):
 *
 *   preflight  answers what the kexec keeps and drops and the plan a
 *              restore would make, touching nothing
 *   handover   the same preflight, then the update's path (update.c):
 *              PREPARE, the keeper, FREEZE, the image; then, in place of
 *              an exec, one line of JSON (what it hands over, and the
 *              command line to start it again with) and the image and
 *              each region's memfd over the connection, as socket mode
 *              sends them (socket.c).  Then it waits, frozen: the machine
 *              reboots into the next kernel, or the agent writes anything
 *              or hangs up, or the deadline passes - and the program
 *              unwinds as after a failed socket-mode update (unfreezes,
 *              the keeper leaves) and answers {"outcome":"resumed"}.
 *
 * The agent (baton kexec) puts what it received in a LUO session and
 * kexecs; in the next boot it starts each program again with
 * baton_kexec_start(): a new process given one end of a socketpair, as
 * socket mode starts a new version, with BATON_KEXEC set, which receives
 * the image and the regions' memfds, restores through restore.c (the
 * regions mapped again, no other fd expected, a device whose fds were
 * dropped planned by its orphan policy) and answers 'F' once it has taken
 * over, or 'E' and why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/json.h>

#include "host/host-internal.h"

/* The agent's line, and its answer to the program's, are at most this. */
#define LINE_MAX_BYTES (1u << 20)

/* ---- The program's side ---- */

/* The region memfds are the fds a kexec keeps; every other one is dropped. */
static bool carried(const struct preserved_fd *f)
{
	return (f->token & BATON_TOKEN_HOST) && !(f->token & BATON_TOKEN_CONTROL);
}

/* How many fds of the session named after @dev's address a kexec drops. */
static size_t device_dropped(const struct baton_host *host,
			     const struct baton_device *dev)
{
	char name[BATON_PCI_ADDR_STRLEN];
	size_t n = 0;

	baton_pci_addr_format(&dev->info.addr, name);
	for (size_t k = 0; k < host->n_sessions; k++) {
		const struct baton_session *s = host->sessions[k];

		if (strcmp(s->name, name))
			continue;
		for (size_t i = 0; i < s->n_fds; i++)
			n += !carried(&s->fds[i]);
	}
	return n;
}

struct kexec_plan {
	struct baton_image_device *records;
	struct baton_decision *decisions;
	size_t n;
	char why[256];
};

static void plan_free(struct kexec_plan *kp)
{
	free(kp->records);
	free(kp->decisions);
}

/*
 * The plan the restore after the kexec would make: this program's own
 * drivers, the same binary; a device whose fds are dropped by its orphan
 * policy.  -BATON_ERR_REFUSED, and why, when a mandatory one is not bound.
 */
static int plan_kexec(struct baton_host *host, struct kexec_plan *kp)
{
	char addr[BATON_PCI_ADDR_STRLEN];
	int err;

	kp->n = host->n_devices;
	err = baton_serialize_records(host, &kp->records);
	if (err)
		return err;
	kp->decisions = calloc(kp->n + 1, sizeof(*kp->decisions));
	if (!kp->decisions)
		return -ENOMEM;
	err = baton_plan(kp->records, kp->n, host->contracts, NULL, kp->decisions);
	if (err)
		return err;
	for (size_t i = 0; i < kp->n; i++) {
		size_t lost = device_dropped(host, host->devices[i]);

		if (lost)
			baton_restore_dropped(&kp->decisions[i], lost);
	}
	for (size_t i = 0; i < kp->n; i++) {
		const struct baton_decision *d = &kp->decisions[i];

		if (!d->device->mandatory || d->action == BATON_ACTION_BIND ||
		    d->action == BATON_ACTION_CONVERT)
			continue;
		snprintf(kp->why, sizeof(kp->why),
			 "mandatory %s would not be bound after a kexec (%s): %s",
			 baton_pci_addr_format(&d->device->addr, addr),
			 baton_action_name(d->action), d->reason);
		return -BATON_ERR_REFUSED;
	}
	return 0;
}

/* What the agent needs to know, and what the kexec keeps and drops. */
static json_object *answer_json(struct baton_host *host, const char *outcome,
				const struct kexec_plan *kp)
{
	json_object *o = json_object_new_object();
	json_object *argv = json_object_new_array();
	json_object *keeps = json_object_new_array();
	json_object *drops = json_object_new_array();
	struct stat st;

	json_object_object_add(o, "outcome", json_object_new_string(outcome));
	if (kp->why[0])
		json_object_object_add(o, "error", json_object_new_string(kp->why));
	json_object_object_add(o, "program", json_object_new_string(host->program));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "generation", json_object_new_uint64(host->generation));
	json_object_object_add(o, "exec", json_object_new_string(host->exec_path));
	for (size_t i = 0; host->argv[i]; i++)
		json_object_array_add(argv, json_object_new_string(host->argv[i]));
	json_object_object_add(o, "argv", argv);
	for (size_t i = 0; i < host->n_regions; i++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "label", json_object_new_string(host->regions[i]->label));
		json_object_object_add(r, "size", json_object_new_uint64(host->regions[i]->size));
		/* The agent has no memfd yet at the preflight: this is a claim. */
		if (!fstat(host->regions[i]->fd, &st))
			json_object_object_add(r, "allocated",
					       json_object_new_uint64((uint64_t)st.st_blocks * 512));
		json_object_array_add(keeps, r);
	}
	for (size_t k = 0; k < host->n_sessions; k++) {
		const struct baton_session *s = host->sessions[k];

		for (size_t i = 0; i < s->n_fds; i++) {
			const struct preserved_fd *f = &s->fds[i];
			json_object *d;

			if (carried(f))
				continue;
			d = json_object_new_object();
			json_object_object_add(d, "session", json_object_new_string(s->name));
			json_object_object_add(d, "token", json_object_new_uint64(f->token));
			json_object_object_add(d, "kind", json_object_new_string(
				(f->token & BATON_TOKEN_CONTROL) ? "control socket" :
				baton_fd_kind_name(f->kind)));
			json_object_array_add(drops, d);
		}
	}
	json_object_object_add(o, "keeps", keeps);
	json_object_object_add(o, "drops", drops);
	json_object_object_add(o, "decisions", baton_decisions_json(kp->decisions, kp->n));
	return o;
}

/* All of @len bytes on @fd, which may be non-blocking, by @deadline_ns. */
static int send_all(int fd, const char *p, size_t len, uint64_t deadline_ns)
{
	while (len) {
		ssize_t put = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		uint64_t now = baton_now_ns();

		if (put < 0 && errno == EAGAIN && now < deadline_ns) {
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1,
			     (int)((deadline_ns - now) / 1000000) + 1);
			continue;
		}
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0)
			return -errno;
		p += put;
		len -= (size_t)put;
	}
	return 0;
}

static int send_line(int fd, json_object *o, uint64_t deadline_ns)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);

	return send_all(fd, text, strlen(text), deadline_ns) ?:
	       send_all(fd, "\n", 1, deadline_ns);
}

struct kexec_request {
	int fd;				/* the agent's connection */
	struct kexec_plan plan;
};

/*
 * HANDOVER, in place of an exec (update.c calls it, the keeper holding
 * everything and the devices frozen): the line, the image and the
 * regions' memfds to the agent, then wait.  Returns only if the machine
 * did not reboot: the update then unwinds.
 */
static int kexec_handover(struct update *u, const struct image_parts *p)
{
	struct kexec_request *kr = u->done_arg;
	json_object *o = answer_json(u->host, "handing-over", &kr->plan);
	int *fds = calloc(p->img.n_regions + 1, sizeof(*fds));
	uint64_t now;
	char byte;
	int err;

	json_object_object_add(o, "image_generation",
			       json_object_new_uint64(p->img.generation));
	/* What is left of it: none once it passed, not a wrapped count. */
	now = baton_now_ns();
	json_object_object_add(o, "deadline_ms", json_object_new_uint64(
		now < u->deadline_ns ? (u->deadline_ns - now) / 1000000 : 0));
	err = fds ? send_line(kr->fd, o, u->deadline_ns) : -ENOMEM;
	json_object_put(o);
	/* The regions' memfds lead the image's fds, in region order. */
	for (size_t i = 0; !err && i < p->img.n_regions; i++)
		for (size_t k = 0; k < p->img.n_fds; k++)
			if (p->img.fds[k].index == p->img.regions[i].fd)
				fds[i] = u->copies[k];
	if (!err)
		err = baton_transfer_send(kr->fd, u->image_fd, fds, p->img.n_regions);
	free(fds);
	if (err) {
		baton_update_why(u, "handing over to the agent: %s", baton_strerror(err));
		return err;
	}
	baton_trace("handed-over");
	baton_trace_flush();
	/* Frozen, holding everything, until the reboot - or not. */
	for (;;) {
		struct pollfd pf = { .fd = kr->fd, .events = POLLIN | POLLRDHUP };
		ssize_t got;

		now = baton_now_ns();
		if (now >= u->deadline_ns) {
			baton_update_why(u, "no kexec within %u ms", u->timeout_ms);
			return -ETIMEDOUT;
		}
		if (poll(&pf, 1, (int)((u->deadline_ns - now) / 1000000) + 1) <= 0)
			continue;
		got = recv(kr->fd, &byte, 1, MSG_DONTWAIT);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		baton_update_why(u, got > 0 ? "the agent resumed the program" :
				 "the agent hung up before the kexec");
		return -ECANCELED;
	}
}

json_object *baton_kexec_request(struct baton_host *host, int fd, bool handover,
				 unsigned timeout_ms)
{
	struct kexec_request kr = { .fd = fd };
	struct baton_update_opts opts = {
		.mode = BATON_MODE_SOCKET, .target = host->exec_path,
		.no_dry_run = true, .timeout_ms = timeout_ms,
	};
	json_object *out;
	struct update *u;
	int err;

	err = plan_kexec(host, &kr.plan);
	if (err && err != -BATON_ERR_REFUSED)
		snprintf(kr.plan.why, sizeof(kr.plan.why), "planning: %s",
			 baton_strerror(err));
	if (err || !handover) {
		out = answer_json(host, err ? "refused" : "preflight", &kr.plan);
		plan_free(&kr.plan);
		return out;
	}
	/*
	 * The same binary starts after the kexec: the update's preflight
	 * reads its contracts, and no dry run is needed.  No exec either:
	 * kexec_handover() in its place.
	 */
	u = baton_update_new(host, &opts);
	if (!u) {
		plan_free(&kr.plan);
		return NULL;
	}
	u->handover = kexec_handover;
	u->done_arg = &kr;
	err = baton_update_start(u);
	if (!err)
		err = baton_update_commit(u);
	host->update = NULL;
	snprintf(kr.plan.why, sizeof(kr.plan.why), "%s",
		 u->report->why[0] ? u->report->why : baton_strerror(err));
	out = answer_json(host, u->frozen_once ? "resumed" : "refused", &kr.plan);
	baton_update_free(u);
	plan_free(&kr.plan);
	return out;
}

/* ---- The agent's side ---- */

int baton_kexec_read_line(int fd, uint64_t deadline_ns, char **out)
{
	size_t got = 0, cap = 256;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	/* A byte at a time: what follows the line is the transfer. */
	for (;;) {
		uint64_t now = baton_now_ns();
		ssize_t n;

		if (now >= deadline_ns) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1,
			 (int)((deadline_ns - now) / 1000000) + 1) <= 0)
			continue;
		n = recv(fd, buf + got, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -ECONNRESET;
		}
		if (buf[got] == '\n')
			break;
		if (++got + 1 >= cap) {
			char *grown = cap < LINE_MAX_BYTES ? realloc(buf, cap * 2) : NULL;

			if (!grown) {
				free(buf);
				return cap < LINE_MAX_BYTES ? -ENOMEM : -EMSGSIZE;
			}
			buf = grown;
			cap *= 2;
		}
	}
	buf[got] = '\0';
	*out = buf;
	return 0;
}

/*
 * The program started again: its output to @out (when given: the agent's
 * own is no program's after a kexec), stdin from /dev/null, fd 3 its end
 * of the socket, then exec.  Both fds are moved above 3 first, so that
 * neither is closed by the other's dup2().
 */
__attribute__((noreturn))
static void start_child(const char *path, char *const *argv, int out, int sock,
			bool handover)
{
	static char kexec_env[] = "BATON_KEXEC=1", fd_env[] = "BATON_HANDOVER_FD=3";
	int in;

	if (out >= 0) {
		in = open("/dev/null", O_RDONLY);
		if ((out = fcntl(out, F_DUPFD, 10)) < 0 || in < 0 || dup2(in, 0) < 0 ||
		    dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
	}
	if (handover) {
		if ((sock = fcntl(sock, F_DUPFD, 10)) < 0 || dup2(sock, 3) < 0)
			_exit(127);
		putenv(kexec_env);
		putenv(fd_env);
	}
	close_range(handover ? 4 : 3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execv(path, argv);
	_exit(127);
}

int baton_kexec_start(const char *path, char *const *argv, int out_fd, int image_fd,
		      const int *fds, size_t n, unsigned timeout_ms,
		      pid_t *pid, char *why, size_t why_len)
{
	uint64_t deadline_ns = baton_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char answer[256] = "";
	int sv[2] = { -1, -1 }, err = 0;
	ssize_t got = 0;

	why[0] = '\0';
	if (image_fd >= 0 &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		err = -errno;
		goto out;
	}
	if (!*pid)
		start_child(path, argv, out_fd, sv[1], image_fd >= 0);
	if (image_fd < 0)
		return 0;	/* a cold start: nothing to hand it */
	close(sv[1]);
	sv[1] = -1;
	err = baton_transfer_send(sv[0], image_fd, fds, n);
	/* 'F' once it has taken over, 'E' and why; nothing if it died. */
	while (!err) {
		uint64_t now = baton_now_ns();
		int r;

		if (now >= deadline_ns) {
			err = -ETIMEDOUT;
			break;
		}
		r = poll(&(struct pollfd){ .fd = sv[0], .events = POLLIN }, 1,
			 (int)((deadline_ns - now) / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			err = -errno;
		if (r <= 0)
			continue;
		got = recv(sv[0], answer, sizeof(answer) - 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		break;
	}
	if (!err && got > 0 && answer[0] == 'F')
		goto out;
	if (!err && got > 1 && answer[0] == 'E') {
		answer[got] = '\0';
		snprintf(why, why_len, "%s", answer + 1);
		err = -BATON_ERR_REFUSED;
	} else {
		snprintf(why, why_len, "%s", err ? baton_strerror(err) :
			 "it exited before it took over");
		err = err ? err : -ECHILD;
	}
	/* It gave up, or died, or is late: gone before the cold start. */
	kill(*pid, SIGKILL);
	while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	return err;
}
