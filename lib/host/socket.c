// SPDX-License-Identifier: MIT
/**
 * DOC: socket mode, both sides
 *
 * In socket mode the new version is a new process, started before FREEZE
 * so that neither its start (the fd table copied, the exec, ld.so, main)
 * nor the fds' passage is in the blackout.  The commit (update.c) starts
 * it once its copies of the preserved fds exist and the keeper holds them:
 * it inherits those copies at their numbers, named by BATON_FDS as an exec
 * would carry them (handover.c), with one end of a SOCK_SEQPACKET
 * socketpair, the keeper's channel and the commit cell; it is told
 * everything but the image and FREEZE's time.  Then, on the socket:
 *
 *	old -> new   plan              + the PREPARE image's memfd
 *	new -> old   ready             it parsed and planned on that image
 *	                               (restore.c); it waits, bounded by the
 *	                               update's deadline
 *	old -> new   go, FREEZE's time  after FREEZE, with the FREEZE image:
 *	             + the image memfd  the same memfd unless a state changed
 *	                               as a device froze (then planned on
 *	                               again, in the blackout)
 *	new -> old   'F' or 'E' and why
 *
 * So the parse and the plan are out of the blackout too.  The old process
 * freezes nothing until the new one is ready: one that dies, hangs, fails
 * ('E' and why: its plan) or says anything else first is killed and
 * reaped, and the update given up before FREEZE.  Whatever fails after, before the go,
 * unfrozen.  The new one checks each image message - its size, its
 * magic, one fd, no FREEZE before the go, and in the go a FREEZE after the
 * commit and not yet to come - and a go that does not come
 * (the old process gave up, died, or the deadline passed) is an error that
 * names which.  Like an exec, the new process also inherits what the
 * program made without close-on-exec below the highest number it is given;
 * above it nothing.
 *
 * The new process restores and, when the program says it has taken over,
 * wins the commit cell, FINISHes and answers 'F' (after FINISH, so that
 * the old process's exit runs after the blackout); a failure answers 'E'
 * and why.
 * The old process holds everything, frozen, until then: 'F' (or the cell
 * saying NEW) means it exits touching nothing (BATON_HANDED_OVER); 'E', the
 * new process's death or the deadline mean it takes the cell for ABORTED,
 * kills the new process, waits for it to be gone - only then may it drive
 * the devices again - and goes on.
 *
 * The transfer below - the image and fds with SCM_RIGHTS, in batches - is
 * what baton kexec's agent and the program it starts use (kexec.c):
 *
 *	header  magic, the number of fds to follow   + the image memfd
 *	batch   the number of fds it carries         + up to 250 fds
 *	...     (the kernel takes at most 253 in one message)
 *
 * in image order.  The receiver checks every count and truncation flag and
 * closes whatever it received when anything is off, so a confused or
 * hostile sender costs it nothing but an error; fds cut off because its
 * own fd table is full are -EMFILE, said with the count and the limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host-internal.h"

#define TRANSFER_MAGIC 0x42544658u	/* "BTFX" */
/*
 * How long a new process that said it failed has to exit before it is
 * killed: reaped from the program's loop meanwhile (reap.c), not waited
 * for - its exit, a sanitizer's leak check under load, took over a second.
 */
#define EXIT_WAIT_MS 5000

struct transfer_header {
	uint32_t magic;
	uint32_t n_fds;
};

/* ---- The transfer ---- */

static int send_fds(int sock, const void *data, size_t len, const int *fds,
		    size_t n)
{
	char control[CMSG_SPACE(sizeof(int) * BATON_FDS_PER_MSG)];
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n)
		baton_scm_attach_fds(&msg, control, fds, n);
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int baton_transfer_send(int sock, int image_fd, const int *fds, size_t n)
{
	const struct transfer_header h = { TRANSFER_MAGIC, (uint32_t)n };
	int err = send_fds(sock, &h, sizeof(h), &image_fd, 1);

	for (size_t done = 0; !err && done < n; done += BATON_FDS_PER_MSG) {
		uint32_t batch = (uint32_t)(n - done < BATON_FDS_PER_MSG ?
					    n - done : BATON_FDS_PER_MSG);

		err = send_fds(sock, &batch, sizeof(batch), fds + done, batch);
	}
	return err;
}

/* One message: its payload in @data (exactly @len bytes), its fds appended. */
static int recv_fds(int sock, void *data, size_t len, int *fds, size_t max,
		    size_t *got)
{
	char control[CMSG_SPACE(sizeof(int) * BATON_FDS_PER_MSG)];
	struct iovec iov = { data, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	bool extra = false;
	ssize_t n;

	*got = 0;
	n = baton_scm_recv(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	*got = baton_scm_take_fds(&msg, fds, max);
	extra = *got > max;	/* more than announced: refuse */
	if (extra)
		*got = max;
	if (n == 0)
		return -ECONNRESET;
	/*
	 * Fds cut off because our table is full (the kernel installs what it
	 * can and says no more) are not a malformed message: say so.
	 */
	if (n == (ssize_t)len && (msg.msg_flags & MSG_CTRUNC) &&
	    baton_fd_table_full())
		return -EMFILE;
	if (n != (ssize_t)len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || extra)
		return -EBADMSG;
	return 0;
}

int baton_transfer_recv(int sock, int *image_fd, int **fds, size_t *n)
{
	struct transfer_header h;
	size_t got, total = 0;
	int err;

	*fds = NULL;
	err = recv_fds(sock, &h, sizeof(h), image_fd, 1, &got);
	if (!err && (got != 1 || h.magic != TRANSFER_MAGIC || h.n_fds > (1u << 20)))
		err = -EBADMSG;
	if (err) {
		if (got)
			close(*image_fd);
		if (err == -EMFILE)	/* the header came whole: it counts them */
			*n = 1 + (h.magic == TRANSFER_MAGIC ? h.n_fds : 0);
		return err;
	}
	*fds = calloc(h.n_fds + 1, sizeof(**fds));
	if (!*fds) {
		close(*image_fd);
		return -ENOMEM;
	}
	while (!err && total < h.n_fds) {
		uint32_t batch;

		err = recv_fds(sock, &batch, sizeof(batch), *fds + total,
			       h.n_fds - total, &got);
		if (!err && (batch != got || !got))
			err = -EBADMSG;
		total += got;	/* kept, even on error, to be closed below */
	}
	if (err) {
		for (size_t i = 0; i < total; i++)
			close((*fds)[i]);
		free(*fds);
		*fds = NULL;
		close(*image_fd);
		if (err == -EMFILE)
			*n = h.n_fds + 1;
		return err;
	}
	*n = total;
	return 0;
}

/* ---- Ready and go ---- */

#define READY_MAGIC 0x42545259u	/* "BTRY" */
#define PLAN_MAGIC 0x4254504cu	/* "BTPL": the PREPARE image, to plan on */
#define GO_MAGIC 0x4254474fu	/* "BTGO" */

struct ready {
	uint32_t magic;
};

/*
 * The image, with its memfd: to plan on (PLAN_MAGIC, no FREEZE yet) or
 * the go (GO_MAGIC, FREEZE's time).  Sent whole: no padding, so no
 * uninitialised byte crosses.
 */
struct go {
	uint32_t magic;
	uint32_t zero;
	uint64_t freeze_ns;
};

/* ---- The old process's side ---- */

struct answer {
	char type;			/* 'F' or 'E' */
	char why[255];
};

/*
 * Start the target with @sock, the cell and the keeper's channel at their
 * own numbers, and the commit's copies: made without close-on-exec, they
 * are inherited where they are, and nothing above the highest of them.
 * posix_spawn() rather than fork(): it copies nothing of this process's
 * address space, which fork() copied (a thousand devices' mappings, the
 * heap's page tables) for the exec to throw away.
 */
static int spawn(const struct update *u, int sock, char **env, pid_t *pid)
{
	int own[3] = { sock }, top = sock, err;
	posix_spawn_file_actions_t fa;
	pid_t keeper_pid;

	baton_keeper_fds(u, &own[1], &own[2], &keeper_pid);
	for (size_t i = 0; i < u->n_copies; i++)
		top = u->copies[i] > top ? u->copies[i] : top;
	for (int i = 1; i < 3; i++)
		top = own[i] > top ? own[i] : top;
	/* glibc's init cannot fail, nor is destroy() defined after one that did. */
	err = -posix_spawn_file_actions_init(&fa);
	if (err)
		return err;
	/* A dup2() onto itself clears close-on-exec, in the child only. */
	for (int i = 0; !err && i < 3; i++)
		err = -posix_spawn_file_actions_adddup2(&fa, own[i], own[i]);
	if (!err)
		err = -posix_spawn_file_actions_addclosefrom_np(&fa, top + 1) ?:
		      -posix_spawn(pid, u->target, &fa, NULL, u->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	return err;
}

/* Why the new process could not be started: a full fd table with its limit. */
static void spawn_failed(struct update *u, int err)
{
	struct rlimit rl;

	if (err == -EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		baton_update_why(u, "starting the new version: %s: the fd table is full, "
				 "at the limit of %llu (RLIMIT_NOFILE)", baton_strerror(err),
				 (unsigned long long)rl.rlim_cur);
	else
		baton_update_why(u, "starting the new version: %s", baton_strerror(err));
}

/*
 * Wait until the socket has something to read, the new process is gone or
 * the deadline passed: true for the first.
 */
static bool await_new(const struct update *u)
{
	for (;;) {
		uint64_t now = baton_now_ns();
		struct pollfd p[2] = {
			{ .fd = u->new_sock, .events = POLLIN },
			{ .fd = u->new_pidfd, .events = POLLIN },
		};

		if (now >= u->deadline_ns)
			return false;
		if (poll(p, 2, (int)((u->deadline_ns - now) / 1000000) + 1) < 0 &&
		    errno != EINTR)
			return false;
		if (p[0].revents)
			return true;
		if (p[1].revents)
			return false;
	}
}

/* Kill the new process, and wait until it is gone; *@status how it ended. */
static void kill_new(struct update *u, int *status)
{
	if (u->new_pid <= 0)
		return;
	if (u->new_pidfd >= 0)
		pidfd_send_signal(u->new_pidfd, SIGKILL, NULL, 0);
	else
		kill(u->new_pid, SIGKILL);
	while (waitpid(u->new_pid, status, 0) < 0 && errno == EINTR)
		;
	u->new_pid = 0;
}

/* The new process said why it failed: it exits on its own, reaped later. */
static void let_new_go(struct update *u)
{
	baton_reap_later(u->host, u->new_pid, baton_now_ns() + EXIT_WAIT_MS * 1000000ull);
	u->new_pid = 0;
}

void baton_socket_end(struct update *u, bool kill)
{
	int status;

	if (kill)
		kill_new(u, &status);
	u->new_pid = 0;
	if (u->new_pidfd >= 0)
		close(u->new_pidfd);
	if (u->new_sock >= 0)
		close(u->new_sock);
	u->new_pidfd = u->new_sock = -1;
}

/*
 * One message of at most @size bytes and no fd, without waiting: its
 * length, -ECONNRESET when the socket closed, -EBADMSG when it was longer
 * or came with fds (closed).
 */
static ssize_t recv_plain(int sock, void *buf, size_t size)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, size };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	ssize_t n;

	n = baton_scm_recv(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (baton_scm_take_fds(&msg, NULL, 0) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EBADMSG;
	return n ? n : -ECONNRESET;
}

/*
 * The new process was not ready - it said @a instead (its 'E' and why,
 * or anything else), or nothing (@a NULL): kill it, reap it, say why.
 */
static int not_ready(struct update *u, const struct answer *a)
{
	bool late = baton_now_ns() >= u->deadline_ns;
	int status = 0;

	kill_new(u, &status);
	if (a && a->type == 'E')
		baton_update_why(u, "the new version could not restore: %s", a->why);
	else if (a)
		baton_update_why(u, "the new version said something other than that it was ready");
	else if (WIFEXITED(status))
		baton_update_why(u, "the new version exited (status %d) before it was ready",
				 WEXITSTATUS(status));
	else if (WTERMSIG(status) != SIGKILL)
		baton_update_why(u, "the new version died (signal %d) before it was ready",
				 WTERMSIG(status));
	else if (late)
		baton_update_why(u, "the new version was not ready within %u ms", u->timeout_ms);
	else
		baton_update_why(u, "the new version was killed before it was ready");
	baton_socket_end(u, false);
	return a ? -EBADMSG : late ? -ETIMEDOUT : -ECHILD;
}

int baton_socket_start(struct update *u)
{
	struct baton_handover hv;
	const struct go plan = { .magic = PLAN_MAGIC };
	struct baton_env env = { 0 };
	struct answer a = { 0 };
	struct ready r;
	int sv[2] = { -1, -1 }, keeper, cell, err;
	ssize_t n;

	baton_handover_init(&hv);
	baton_keeper_fds(u, &keeper, &cell, &hv.keeper_pid);
	hv.keeper_fd = keeper;
	hv.cell_fd = cell;
	hv.fds = u->copies;
	hv.n_fds = u->n_copies;
	hv.fds_checked = true;		/* the copies, by the commit */
	hv.held_ns = u->held_ns;
	hv.deadline_ns = u->deadline_ns;
	hv.force = u->force;
	hv.orphan = u->orphan;
	err = baton_fault(BATON_FAULT_SPAWN);
	if (!err && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		err = -errno;
	hv.channel_fd = sv[1];
	if (!err)
		err = baton_handover_env(&hv, &env) ?:
		      spawn(u, sv[1], env.vars, &u->new_pid);
	baton_handover_free_env(&env);
	if (sv[1] >= 0)
		close(sv[1]);
	u->new_sock = sv[0];
	if (err) {
		u->new_pid = 0;
		spawn_failed(u, err);
		baton_socket_end(u, false);
		return err;
	}
	baton_trace("spawned");
	u->new_pidfd = pidfd_open(u->new_pid, 0);
	err = u->new_pidfd < 0 ? -errno : baton_keeper_new_process(u, u->new_pidfd);
	if (err) {
		baton_update_why(u, "starting the new version: %s", baton_strerror(err));
		baton_socket_end(u, true);
		return err;
	}
	/* The PREPARE image, planned on while it starts (the go says
	 * whether the FREEZE image is another). */
	err = send_fds(u->new_sock, &plan, sizeof(plan), &u->image_fd, 1);
	if (err && err != -EPIPE) {
		baton_update_why(u, "starting the new version: %s", baton_strerror(err));
		baton_socket_end(u, true);
		return err;
	}
	if (!await_new(u))
		return not_ready(u, NULL);
	n = recv_plain(u->new_sock, &a, sizeof(a) - 1);
	if (n == -ECONNRESET)
		return not_ready(u, NULL);
	memcpy(&r, &a, sizeof(r));
	if (n != sizeof(r) || r.magic != READY_MAGIC)
		return not_ready(u, &a);
	baton_trace("ready");
	return 0;
}

/* Wait for the new process's answer, its death or the deadline. */
static void await_answer(struct update *u, struct answer *a)
{
	while (await_new(u)) {
		ssize_t n = recv_plain(u->new_sock, a, sizeof(*a) - 1);

		if (n == -EBADMSG)
			a->type = 0;	/* not an answer */
		if (n != -EAGAIN)
			return;		/* an answer; or it closed the socket: dead, or gave up */
	}
}

int baton_socket_handover(struct update *u)
{
	const struct go go = { .magic = GO_MAGIC, .freeze_ns = u->freeze_ns };
	struct baton_host *host = u->host;
	struct answer a = { 0 };
	int status = 0, err;

	u->new_started = true;
	err = send_fds(u->new_sock, &go, sizeof(go), &u->image_fd, 1);
	if (err) {
		/* It hung up: what it said first, if anything, says why. */
		(void)recv_plain(u->new_sock, &a, sizeof(a) - 1);
	} else {
		/*
		 * The go is out: the new process decides now, whatever fails
		 * here - giving up at once would race its take-over for the
		 * cell, a race it wins when it restores fast.
		 */
		err = baton_fault(BATON_FAULT_SENT);
		await_answer(u, &a);
	}

	if (a.type == 'F' || baton_keeper_cell(u) == BATON_CELL_NEW ||
	    !baton_keeper_abort(u)) {
		/* It took over (or the keeper is bringing the program back). */
		host->handed_over = true;
		baton_socket_end(u, false);
		return BATON_HANDED_OVER;
	}
	/* One that said it failed is on its way out: the program need not wait. */
	if (a.type == 'E')
		let_new_go(u);
	else
		kill_new(u, &status);
	baton_socket_end(u, false);
	if (a.type == 'E')
		baton_update_why(u, "the new version could not restore: %s", a.why);
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		baton_update_why(u, "the new version died (signal %d) before it took over",
				 WTERMSIG(status));
	else if (err)
		baton_update_why(u, "handing over to the new version: %s",
				 baton_strerror(err));
	else if (baton_now_ns() >= u->deadline_ns)
		baton_update_why(u, "the new version did not take over within %u ms",
				 u->timeout_ms);
	else
		baton_update_why(u, "the new version exited (status %d) before it took over",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return -BATON_ERR_ABORTED;
}

/* ---- The new process's side ---- */

/*
 * One image message of @magic, waited for until the deadline: its memfd in
 * *@fd, its FREEZE time (none before the go) in *@freeze_ns.  *@what says
 * what was being done, for the error.
 */
static int recv_image(const struct baton_handover *hv, uint32_t magic, int *fd,
		      uint64_t *freeze_ns, const char **what)
{
	struct pollfd p = { .fd = hv->channel_fd, .events = POLLIN };
	struct go go = { 0 };
	size_t got = 0;
	int err = 0;

	*fd = -1;
	*what = magic == GO_MAGIC ? "waiting for the go" : "waiting for the image";
	for (;;) {
		uint64_t now = baton_now_ns();
		int n;

		if (hv->deadline_ns && now >= hv->deadline_ns)
			return -ETIMEDOUT;
		n = poll(&p, 1, hv->deadline_ns ?
			 (int)((hv->deadline_ns - now) / 1000000) + 1 : -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			break;
	}
	*what = "receiving the image";
	err = recv_fds(hv->channel_fd, &go, sizeof(go), fd, 1, &got);
	if (!err && (got != 1 || go.magic != magic || go.zero ||
		     !go.freeze_ns != (magic == PLAN_MAGIC)))
		err = -EBADMSG;
	if (err && got)
		close(*fd);
	if (err)
		*fd = -1;
	*freeze_ns = go.freeze_ns;
	return err;
}

/* @err while doing @what, @n fds to receive, in words in @why. */
static int receive_failed(int err, const char *what, size_t n, struct baton_diag *why)
{
	struct rlimit rl = { 0 };

	/* What was received is closed again: what is open is ours. */
	if (err == -EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		return baton_diag_set(why, EMFILE, NULL, "%s: %s: %zu fd%s to receive with %zu "
				      "open, over the limit of %llu (RLIMIT_NOFILE)", what,
				      baton_strerror(err), n, n == 1 ? "" : "s",
				      baton_fds_open(rl.rlim_cur), (unsigned long long)rl.rlim_cur);
	if (err == -ECONNRESET)
		return baton_diag_set(why, ECONNRESET, NULL, "%s: the previous version "
				      "gave the update up, or died", what);
	if (err == -ETIMEDOUT)
		return baton_diag_set(why, ETIMEDOUT, NULL, "%s: no %s by the update's "
				      "deadline", what, strstr(what, "go") ? "go" : "image");
	return baton_diag_set(why, -err, NULL, "%s: %s", what, baton_strerror(err));
}

int baton_socket_await_go(struct baton_handover *hv, int *image_fd, struct baton_diag *why)
{
	const struct ready r = { READY_MAGIC };
	const char *what = "telling the previous version we are ready";
	uint64_t freeze_ns = 0;
	int err = 0;

	*image_fd = -1;
	if (send(hv->channel_fd, &r, sizeof(r), MSG_NOSIGNAL) < 0)
		err = errno == EPIPE ? -ECONNRESET : -errno;
	err = err ?: baton_fault(BATON_FAULT_START);
	err = err ?: recv_image(hv, GO_MAGIC, image_fd, &freeze_ns, &what);
	if (!err) {
		hv->freeze_ns = freeze_ns;
		err = baton_handover_check_times(hv);
		if (err) {
			close(*image_fd);
			*image_fd = -1;
		}
	}
	return err ? receive_failed(err, what, 1, why) : 0;
}

/*
 * Socket mode: the PREPARE image first, parsed and planned on while the
 * old process still runs; then ready, and the go.  The FREEZE image is the
 * same memfd unless a driver's state changed as it froze: only then is it
 * planned on again, inside the blackout.
 */
static int receive_and_plan(struct baton_host *host, struct incoming *in,
			    struct baton_diag *why)
{
	struct baton_handover *hv = &in->hv;
	const char *what;
	struct stat planned, now;
	uint64_t none;
	int fd, err;

	err = recv_image(hv, PLAN_MAGIC, &hv->image_fd, &none, &what);
	if (err)
		return receive_failed(err, what, 1, why);
	err = baton_restore_plan(host, in, why) ?:
	      baton_socket_await_go(hv, &fd, why);
	if (err)
		return err;
	if (fstat(fd, &now) || fstat(hv->image_fd, &planned)) {
		err = -errno;
		close(fd);
		return receive_failed(err, "the image", 1, why);
	}
	if (now.st_dev == planned.st_dev && now.st_ino == planned.st_ino) {
		close(fd);
		return 0;
	}
	baton_restore_unplan(in);
	close(hv->image_fd);
	hv->image_fd = fd;
	return baton_restore_plan(host, in, why);
}

int baton_socket_receive(struct baton_host *host, struct incoming *in,
			 struct baton_diag *why)
{
	struct baton_handover *hv = &in->hv;
	size_t n = 1;
	int err;

	if (!hv->kexec)
		return receive_and_plan(host, in, why);
	/* After a kexec: the image and the regions' memfds, from the agent. */
	err = baton_fault(BATON_FAULT_START) ?:
	      baton_transfer_recv(hv->channel_fd, &hv->image_fd, &hv->fds, &n);
	if (!err)
		hv->n_fds = n;
	return err ? receive_failed(err, "receiving the image and fds", n, why) : 0;
}

void baton_socket_answer(struct baton_handover *hv, int err, const char *why)
{
	struct answer a = { err ? 'E' : 'F', "" };

	if (hv->channel_fd < 0)
		return;
	snprintf(a.why, sizeof(a.why), "%s", why ? why : baton_strerror(err));
	(void)!send(hv->channel_fd, &a, 1 + strlen(a.why), MSG_NOSIGNAL);
	close(hv->channel_fd);
	hv->channel_fd = -1;
}
