// SPDX-License-Identifier: MIT
/**
 * DOC: the dry run, both sides
 *
 * Before anything is frozen, the target binary itself is started in
 * dry-run mode against a sealed copy of the image as PREPARE made it, and
 * nothing else: no region, no fd, no device, so it cannot touch anything.
 * Its baton_host_create() reads the image, plans it against its own drivers
 * as a restore would, decodes every payload it would bind with the
 * driver's validator, asks the program's dry-run hook (what else it would
 * need: the memory of the regions the image lists, say), writes one line
 * of JSON and exits:
 *
 *	{"ok":true|false,"why":"...","decisions":[...]}
 *
 * The old version's side runs while the program keeps serving: the report
 * socket and the child's pidfd are watched by the host's event loop, and a
 * deadline bounds it.  The verdict is read only when the report has ended
 * and the child has exited, so its exit status is known too; a child that
 * could not even start says why on the report socket (an 'E' and the
 * errno) instead of a JSON line.  No report, a report that is not JSON, or
 * "ok":false refuses the update, with the reason.
 *
 * The report also lists the device backends the target's library has
 * ("backends":["vfio-user","vfio-type1","vfio-iommufd"]).  An image whose
 * fds are a VFIO group or container (type1's) or an iommufd is refused
 * when the target lacks that backend, or does not say (a library older
 * than the list): its restore could not adopt the device, and that is
 * better known before FREEZE than after the handover.  And it says
 * whether that library closes the fds the program marked with
 * baton_host_close_after_finish() ("closes_after_finish":true), and the
 * preserved fds' own numbers, each only while still its copy's file
 * ("closes_originals":true): only then do they cross the exec (linger.c).
 * And whether it reads a list of fds in runs ("fd_runs":true): only then
 * are the exec's written so (handover.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/json.h>

#include "backends/devio-internal.h"
#include "host/host-internal.h"

/* A report names every device: room for a fleet host's thousands. */
#define REPORT_MAX (64u << 20)
#define REPORT_CHUNK (64u << 10)

struct dry_run {
	struct update *u;
	pid_t pid;
	struct watch report;		/* our end of the report socket */
	struct watch exit;		/* the child's pidfd */
	struct timer deadline;
	bool report_ended, exited;
	int status;			/* as waitpid() has it */
	char *buf;
	size_t len, cap;
	/* Per backend, an fd of the image that needs it ("" for none). */
	char needs[BATON_DEVIO_VFIO_IOMMUFD + 1][96];
};

static void dry_run_close(struct dry_run *d)
{
	struct baton_host *host = d->u->host;

	baton_loop_disarm(host, &d->deadline);
	if (d->report.fd >= 0) {
		baton_loop_del(host, &d->report);
		close(d->report.fd);
		d->report.fd = -1;
	}
	if (d->exit.fd >= 0) {
		baton_loop_del(host, &d->exit);
		close(d->exit.fd);
		d->exit.fd = -1;
	}
}

void baton_dry_run_free(struct update *u)
{
	struct dry_run *d = u->dry;

	if (!d)
		return;
	if (!d->exited) {
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	dry_run_close(d);
	free(d->buf);
	free(d);
	u->dry = NULL;
}

/* The backend an fd of @kind needs: type1's group and container, an
 * iommufd.  A device fd is either's; a socket may be vfio-user's, which
 * every library has. */
static enum baton_devio_backend fd_backend(enum baton_fd_kind kind)
{
	switch (kind) {
	case BATON_FD_VFIO_GROUP:
	case BATON_FD_VFIO_CONTAINER:
		return BATON_DEVIO_VFIO_TYPE1;
	case BATON_FD_IOMMUFD:
		return BATON_DEVIO_VFIO_IOMMUFD;
	default:
		return 0;
	}
}

static void note_needs(struct dry_run *d, const struct baton_image *img)
{
	for (size_t i = 0; i < img->n_fds; i++) {
		const struct baton_image_fd *f = &img->fds[i];
		enum baton_devio_backend b = fd_backend(f->kind);

		if (b && !d->needs[b][0])
			snprintf(d->needs[b], sizeof(d->needs[b]),
				 "fd 0x%" PRIx64 " (%s)%s%s", f->token,
				 baton_fd_kind_name(f->kind),
				 f->session && f->session[0] ? " of session " : "",
				 f->session ? f->session : "");
	}
}

static bool lists(json_object *list, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(list, i));

		if (s && !strcmp(s, name))
			return true;
	}
	return false;
}

/* Whether the target has every backend the image's fds need. */
static int check_backends(struct dry_run *d, json_object *report)
{
	struct update *u = d->u;
	json_object *list = NULL;

	for (unsigned int b = BATON_DEVIO_VFIO_TYPE1; b <= BATON_DEVIO_VFIO_IOMMUFD; b++) {
		const char *name = devio_backend_name(b);

		if (!d->needs[b][0])
			continue;
		if (!json_object_object_get_ex(report, "backends", &list) ||
		    !json_object_is_type(list, json_type_array)) {
			baton_update_why(u, "the dry run of %s does not say which device "
					 "backends it has (its libbaton predates the list), and "
					 "the image holds %s", u->target, d->needs[b]);
			return -BATON_ERR_REFUSED;
		}
		if (!lists(list, name)) {
			baton_update_why(u, "%s has no %s device backend (it has %s), and "
					 "the image holds %s", u->target, name,
					 json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN),
					 d->needs[b]);
			return -BATON_ERR_REFUSED;
		}
	}
	return 0;
}

/* What the report says, once it has ended and the child has exited. */
static int verdict(struct dry_run *d)
{
	struct update *u = d->u;
	json_object *report, *ok, *why;
	int code, err = -BATON_ERR_REFUSED;
	char limit[96];

	if (d->len > 0 && d->buf[0] == 'E' && d->len == 1 + sizeof(code)) {
		memcpy(&code, d->buf + 1, sizeof(code));
		baton_update_why(u, "the dry run of %s could not start: %s%s",
				 u->target, baton_strerror(code),
				 baton_fd_limit_why(-abs(code), limit, sizeof(limit)));
		return err;
	}
	report = d->len ? json_tokener_parse(d->buf) : NULL;
	if (!report) {
		baton_update_why(u, "the dry run of %s gave %s (%s %d)", u->target,
				 d->len ? "a report that is not JSON" : "no report",
				 WIFSIGNALED(d->status) ? "signal" : "exit status",
				 WIFSIGNALED(d->status) ? WTERMSIG(d->status) :
				 WEXITSTATUS(d->status));
		return err;
	}
	if (json_object_object_get_ex(report, "ok", &ok) &&
	    json_object_get_boolean(ok) && WIFEXITED(d->status) &&
	    !WEXITSTATUS(d->status)) {
		err = check_backends(d, report);
		u->target_closes = json_object_object_get_ex(report, "closes_after_finish",
							     &ok) &&
				   json_object_get_boolean(ok);
		u->target_closes_originals = json_object_object_get_ex(report,
								       "closes_originals",
								       &ok) &&
					     json_object_get_boolean(ok);
		u->target_reads_fd_runs = json_object_object_get_ex(report, "fd_runs", &ok) &&
					  json_object_get_boolean(ok);
	} else {
		baton_update_why(u, "dry run: %s",
				 json_object_object_get_ex(report, "why", &why) &&
				 json_object_get_string_len(why) ?
				 json_object_get_string(why) : "not ok");
	}
	json_object_put(report);
	return err;
}

/* One bounded read of the report; its end when the child closed it. */
static int read_report(struct dry_run *d)
{
	ssize_t got;

	if (d->cap - d->len < REPORT_CHUNK + 1) {
		size_t cap = d->cap ? 2 * d->cap : 2 * REPORT_CHUNK;
		char *grown;

		if (cap > REPORT_MAX)
			return -EMSGSIZE;
		grown = realloc(d->buf, cap);
		if (!grown)
			return -ENOMEM;
		d->buf = grown;
		d->cap = cap;
	}
	got = recv(d->report.fd, d->buf + d->len, REPORT_CHUNK, MSG_DONTWAIT);
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	d->len += (size_t)got;
	d->buf[d->len] = '\0';
	d->report_ended = got == 0;
	return 0;
}

static void reap(struct dry_run *d)
{
	pid_t got;

	do
		got = waitpid(d->pid, &d->status, WNOHANG);
	while (got < 0 && errno == EINTR);
	/* ECHILD: the program reaps its children itself; it did exit. */
	d->exited = got == d->pid || (got < 0 && errno == ECHILD);
}

/* Whether it is over; then @*err is the verdict. */
static bool step(struct dry_run *d, int *err)
{
	*err = 0;
	if (!d->report_ended) {
		*err = read_report(d);
		if (*err) {
			baton_update_why(d->u, "reading the dry run's report: %s",
					 baton_strerror(*err));
			return true;
		}
	}
	if (!d->exited)
		reap(d);
	if (!d->report_ended || !d->exited)
		return false;
	*err = verdict(d);
	return true;
}

static void timed_out(struct dry_run *d)
{
	baton_update_why(d->u, "the dry run of %s gave no report within %u ms",
			 d->u->target, d->u->timeout_ms);
}

/* The host's loop saw the report or the child's exit. */
static void on_ready(struct dry_run *d)
{
	struct update *u = d->u;
	int err;

	if (baton_now_ns() >= u->dry_deadline_ns) {
		timed_out(d);
		baton_dry_run_free(u);
		u->dry_run_done(u, -BATON_ERR_REFUSED);
	} else if (step(d, &err)) {
		baton_dry_run_free(u);
		u->dry_run_done(u, err);
	}
}

static void on_report(struct watch *w, uint32_t events)
{
	(void)events;
	on_ready(container_of(w, struct dry_run, report));
}

static void on_exit_(struct watch *w, uint32_t events)
{
	struct dry_run *d = container_of(w, struct dry_run, exit);

	(void)events;
	/* Readable until reaped: stop watching once it has exited. */
	reap(d);
	if (d->exited)
		baton_loop_del(d->u->host, &d->exit);
	on_ready(d);
}

static void on_deadline(struct timer *t, uint64_t now)
{
	(void)now;
	on_ready(container_of(t, struct dry_run, deadline));
}

int baton_dry_run_wait(struct update *u)
{
	struct dry_run *d = u->dry;
	int err;

	while (!step(d, &err)) {
		uint64_t now = baton_now_ns();
		struct pollfd p[2] = {
			{ .fd = d->report_ended ? -1 : d->report.fd, .events = POLLIN },
			{ .fd = d->exited ? -1 : d->exit.fd, .events = POLLIN },
		};

		if (now >= u->dry_deadline_ns ||
		    (poll(p, 2, (int)((u->dry_deadline_ns - now) / 1000000) + 1) < 0 &&
		     errno != EINTR)) {
			timed_out(d);
			err = -BATON_ERR_REFUSED;
			break;
		}
	}
	baton_dry_run_free(u);
	return err;
}

/*
 * The child: the image as fd 3, the report as fd 4, stdout to /dev/null,
 * nothing else, then the target.  It may be the child of a threaded
 * program: system calls only.  A failure is reported as 'E' and the errno.
 */
__attribute__((noreturn))
static void child(const struct update *u, int image_fd, int report_fd,
		  int devnull, char **env)
{
	char msg[1 + sizeof(int)] = { 'E' };
	int moved, err;

	/* Out of the way of 3 and 4 first, whatever numbers they had. */
	if ((image_fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
	    (moved = fcntl(report_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
	    dup2(image_fd, 3) < 0 || dup2(moved, 4) < 0 ||
	    (devnull >= 0 && dup2(devnull, 1) < 0))
		goto fail;
	report_fd = 4;
	/* The program's own fds are not the dry run's business. */
	close_range(5, ~0U, 0);
	execve(u->target, u->argv, env);
fail:
	err = errno;
	memcpy(msg + 1, &err, sizeof(err));
	(void)!send(report_fd, msg, sizeof(msg), MSG_NOSIGNAL);
	_exit(127);
}

int baton_dry_run_start(struct update *u)
{
	struct baton_host *host = u->host;
	struct baton_handover hv;
	struct baton_env env = { 0 };
	struct image_parts p;
	struct dry_run *d;
	int image_fd = -1, sv[2] = { -1, -1 }, devnull = -1, err;
	bool no_pidfd = false;
	char limit[96];

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->u = u;
	d->report.fd = d->exit.fd = -1;
	d->report.ready = on_report;
	d->exit.ready = on_exit_;
	d->deadline.fire = on_deadline;
	err = baton_fault(BATON_FAULT_DRY_RUN) ?:
	      baton_serialize_image(host, u->report->records, u->states,
				    host->generation + 1, &p);
	if (err)
		goto err_dry;
	note_needs(d, &p.img);
	image_fd = baton_serialize_write(&p.img);
	baton_serialize_free_image(&p);
	if (image_fd < 0) {
		err = image_fd;
		goto err_dry;
	}
	baton_handover_init(&hv);
	hv.image_fd = 3;
	hv.report_fd = 4;
	hv.force = u->force;
	hv.orphan = u->orphan;
	err = baton_handover_env(&hv, NULL, &env);
	if (err)
		goto err_image;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		goto err_env;
	}
	d->pid = fork();
	if (d->pid < 0) {
		err = -errno;
		goto err_env;
	}
	if (!d->pid)
		child(u, image_fd, sv[1], devnull, env.vars);
	d->report.fd = sv[0];
	sv[0] = -1;
	d->exit.fd = pidfd_open(d->pid, 0);
	if (d->exit.fd < 0) {
		err = -errno;
		/* Linux before 5.3, or valgrind before 3.20 (it does not know
		 * the call): said as such, not as a start that failed. */
		if (err == -ENOSYS)
			no_pidfd = true;
		goto err_child;
	}
	u->dry = d;
	u->dry_deadline_ns = baton_now_ns() + u->timeout_ms * 1000000ull;
	if (u->done) {
		/* Asked over the control socket: the program serves meanwhile. */
		err = baton_loop_add(host, &d->report, EPOLLIN) ?:
		      baton_loop_add(host, &d->exit, EPOLLIN);
		if (err)
			goto err_child;
		baton_loop_arm(host, &d->deadline, u->dry_deadline_ns);
	}
	err = 0;
	goto out;

err_child:
	u->dry = d;
	baton_dry_run_free(u);
	d = NULL;
out:
err_env:
	baton_handover_free_env(&env);
err_image:
	close(image_fd);
err_dry:
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	if (devnull >= 0)
		close(devnull);
	if (err && d)
		free(d);
	if (no_pidfd)
		baton_update_why(u, "the dry run of %s: pidfd_open(): %s (%s)",
				 u->target, baton_strerror(err), BATON_PIDFD_NEEDS);
	else if (err)
		baton_update_why(u, "the dry run of %s could not start: %s%s",
				 u->target, baton_strerror(err),
				 baton_fd_limit_why(err, limit, sizeof(limit)));
	return err;
}

/* ---- The target's side ---- */

static void send_report(int fd, json_object *out)
{
	const char *text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);

	/* The old version may have given up on us: no SIGPIPE. */
	baton_send_all(fd, text, strlen(text));
	baton_send_all(fd, "\n", 1);
}

/* The device backends this library has: what the old version checks the
 * image's fds against. */
static json_object *backends_json(void)
{
	json_object *list = json_object_new_array();

	for (unsigned int b = BATON_DEVIO_VFIO_USER; b <= BATON_DEVIO_VFIO_IOMMUFD; b++)
		if (devio_backend_built(b))
			json_object_array_add(list, json_object_new_string(devio_backend_name(b)));
	return list;
}

void baton_dry_run_report(struct baton_host *host, struct baton_handover *hv)
{
	struct incoming in = { .hv = *hv };
	struct baton_diag why = { 0 };
	json_object *out;
	size_t n = 0;
	int err;

	err = baton_fault(BATON_FAULT_DRY_RUN) ?: baton_restore_plan(host, &in, &why);
	if (!err)
		n = in.image->n_devices;
	else if (!why.what[0])
		baton_diag_set(&why, -err, NULL, "the image: %s", baton_strerror(err));
	for (size_t i = 0; !err && i < n; i++) {
		const struct baton_decision *d = &in.decisions[i];
		const struct baton_driver *drv;
		const void *state;
		char addr[BATON_PCI_ADDR_STRLEN];
		size_t size;
		void *buf;

		if (d->action != BATON_ACTION_BIND && d->action != BATON_ACTION_CONVERT)
			continue;
		err = baton_restore_state(d, &drv, &state, &size, &buf);
		if (!err && drv->ops && drv->ops->validate)
			err = drv->ops->validate(state, size);
		free(buf);
		if (err)
			baton_diag_set(&why, -err, NULL, "%s: %s cannot read its state (%s)",
				       baton_pci_addr_format(&d->device->addr, addr),
				       drv ? drv->name : "the driver", baton_strerror(err));
	}
	if (!err && host->dry_run) {
		char refusal[BATON_REFUSAL_MAX] = "";

		host->refusal = refusal;
		err = host->dry_run(host, in.image, host->arg);
		host->refusal = NULL;
		if (err)
			baton_diag_set(&why, -err, NULL, "the program: %s",
				       refusal[0] ? refusal : baton_strerror(err));
	}
	out = json_object_new_object();
	json_object_object_add(out, "ok", json_object_new_boolean(!err));
	json_object_object_add(out, "why", json_object_new_string(why.what));
	json_object_object_add(out, "decisions", baton_decisions_json(in.decisions, n));
	json_object_object_add(out, "backends", backends_json());
	json_object_object_add(out, "closes_after_finish", json_object_new_boolean(true));
	json_object_object_add(out, "closes_originals", json_object_new_boolean(true));
	json_object_object_add(out, "fd_runs", json_object_new_boolean(true));
	send_report(hv->report_fd, out);
	json_object_put(out);
	_exit(err ? 1 : 0);
}
