// SPDX-License-Identifier: MIT
/**
 * DOC: socket mode, both sides
 *
 * In socket mode the new version is a new process, started with the
 * update - at its start, before the dry run, while the program serves -
 * so that neither its start (the exec, ld.so, main) nor its first parse
 * is in the commit, which holds the program, nor in the blackout.  It is
 * started with posix_spawn() and nothing of the program's but stdin,
 * stdout and stderr: one end of a SOCK_SEQPACKET socketpair is its fd 3,
 * and every other fd of the program, close-on-exec or not, stays behind
 * (the preserved ones come at the commit, as copies; anything else the
 * program made is not the new version's).  It is told the update's
 * --force and --orphan and a first deadline, the update's start plus two
 * timeouts (the dry run's, and as long again for the commit to come).
 * Then, on the socket:
 *
 *	old -> new   plan              + the PREPARE image's memfd, at the
 *	                               update's start
 *	new -> old   planned           it parsed and planned on it
 *	                               (restore.c), grew its fd table and
 *	                               faulted its restore's heap in
 *	                               (prefault.c)
 *	old -> new   commit: its start, after the keeper's fork, before
 *	             its deadline,     FREEZE; then the commit's image and
 *	             the keeper's pid  copies of the preserved fds as a
 *	             + keeper, cell    transfer (below)
 *	new -> old   ready             it planned on the commit's image; it
 *	                               waits, bounded by the update's deadline
 *	old -> new   go, FREEZE's time  after FREEZE, with the FREEZE image:
 *	             + the image memfd  the commit's memfd unless a state
 *	                               changed as a device froze (then planned
 *	                               on again, in the blackout)
 *	new -> old   'F' or 'E' and why
 *
 * The commit asks for "planned" at its start, before anything is touched:
 * a new process that died, failed ('E' and why: its plan), said anything
 * else or had not planned by its first deadline is killed and reaped, and
 * the update refused.  Afterwards the old process freezes nothing until
 * the new one is ready: one that dies, hangs, fails or says anything else
 * first is killed and reaped, and the update given up before FREEZE.  An
 * update that never commits (the dry run refuses, the client hung up) or
 * whose commit fails kills and reaps it too (baton_socket_end()), before
 * the program goes on and before any device is unfrozen.  The new one
 * checks each message - its size, its magic, its fds, times in order, no
 * FREEZE before the go, and in the go a FREEZE after the commit and not
 * yet to come - and a message that does not come (the old process gave
 * up, died, or the deadline passed) is an error that names which.  The
 * fds it receives land at its lowest free numbers, in image order, open
 * and close-on-exec: nothing is checked or set again a fd.
 *
 * The new process restores and, when the program says it has taken over,
 * wins the commit cell, FINISHes and answers 'F' (after FINISH, so that
 * the old process's exit runs after the blackout); a failure answers 'E'
 * and why.
 * The old process holds everything, frozen, until then, its thread
 * SCHED_BATCH while it waits (woken by 'F', it does not take the new
 * version's CPU): 'F' (or the cell saying NEW) means it exits touching
 * nothing (BATON_HANDED_OVER); 'E', the new process's death or the
 * deadline mean it takes the cell for ABORTED, kills the new process,
 * waits for it to be gone - only then may it drive the devices again -
 * and goes on, SCHED_OTHER again.
 *
 * The transfer below - the image and fds with SCM_RIGHTS, in batches - is
 * what the commit sends the new process after its commit message, and
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

#define PLANNED_MAGIC 0x4254504eu	/* "BTPN": planned on the PREPARE image */
#define READY_MAGIC 0x42545259u	/* "BTRY": planned on the commit's, ready */
#define PLAN_MAGIC 0x4254504cu	/* "BTPL": the PREPARE image, to plan on */
#define COMMIT_MAGIC 0x4254434du	/* "BTCM" */
#define GO_MAGIC 0x4254474fu	/* "BTGO" */

/* The new process's fd for its socket: the one number it is given. */
#define CHANNEL_FD 3
/* From the update's start, how long the new process waits for the commit,
 * in the update's timeouts: the dry run's, and as long again. */
#define EARLY_TIMEOUTS 2u

struct ready {
	uint32_t magic;
};

/*
 * The commit, with the keeper's channel and the commit cell; the image
 * and the copies follow as a transfer.  Sent whole: no padding.
 */
struct commit {
	uint32_t magic;
	int32_t keeper_pid;
	uint64_t held_ns;
	uint64_t deadline_ns;
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
 * Start the target with @sock as its fd 3, and stdin, stdout and stderr:
 * nothing else of this process's crosses, whether it has close-on-exec or
 * not (its fds are not the new version's business until the commit hands
 * it the copies).  posix_spawn() rather than fork(): it copies nothing of
 * this process's address space, which fork() copied (a thousand devices'
 * mappings, the heap's page tables) for the exec to throw away.
 */
static int spawn(const struct update *u, int sock, char **env, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int err;

	/* glibc's init cannot fail, nor is destroy() defined after one that did. */
	err = -posix_spawn_file_actions_init(&fa);
	if (err)
		return err;
	/* A dup2() onto itself clears close-on-exec, in the child only. */
	err = -posix_spawn_file_actions_adddup2(&fa, sock, CHANNEL_FD) ?:
	      -posix_spawn_file_actions_addclosefrom_np(&fa, CHANNEL_FD + 1) ?:
	      -posix_spawn(pid, u->target, &fa, NULL, u->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	return err;
}

/* Why the new process could not be started: a full fd table with its limit. */
static void spawn_failed(struct update *u, int err)
{
	char limit[96];

	baton_update_why(u, "starting the new version: %s%s", baton_strerror(err),
			 baton_fd_limit_why(err, limit, sizeof(limit)));
}

/*
 * Wait until the socket has something to read, the new process is gone or
 * @deadline passed: true for the first.
 */
static bool await_new(const struct update *u, uint64_t deadline)
{
	for (;;) {
		uint64_t now = baton_now_ns();
		struct pollfd p[2] = {
			{ .fd = u->new_sock, .events = POLLIN },
			{ .fd = u->new_pidfd, .events = POLLIN },
		};

		if (now >= deadline)
			return false;
		if (poll(p, 2, (int)((deadline - now) / 1000000) + 1) < 0 &&
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
 * The new process did not say @magic - it said @a instead (its 'E' and
 * why, or anything else), or nothing (@a NULL) by @deadline, @ms after it
 * was asked: kill it, reap it, say why.
 */
static int not_ready(struct update *u, uint32_t magic, uint64_t deadline,
		     unsigned int ms, const struct answer *a)
{
	bool planned = magic == PLANNED_MAGIC, late = baton_now_ns() >= deadline;
	const char *what = planned ? "it had planned" : "it was ready";
	int status = 0;

	kill_new(u, &status);
	if (a && a->type == 'E')
		baton_update_why(u, "the new version could not restore: %s", a->why);
	else if (a)
		baton_update_why(u, "the new version said something other than that %s", what);
	else if (WIFEXITED(status))
		baton_update_why(u, "the new version exited (status %d) before %s",
				 WEXITSTATUS(status), what);
	else if (WTERMSIG(status) != SIGKILL)
		baton_update_why(u, "the new version died (signal %d) before %s",
				 WTERMSIG(status), what);
	else if (late)
		baton_update_why(u, "the new version %s within %u ms",
				 planned ? "had not planned" : "was not ready", ms);
	else
		baton_update_why(u, "the new version was killed before %s", what);
	baton_socket_end(u, false);
	return a ? -EBADMSG : late ? -ETIMEDOUT : -ECHILD;
}

/* The new process's @magic, by @deadline (@ms); else it is gone, and why said. */
static int await_word(struct update *u, uint32_t magic, uint64_t deadline,
		      unsigned int ms)
{
	struct answer a = { 0 };
	struct ready r;
	ssize_t n;

	if (!await_new(u, deadline))
		return not_ready(u, magic, deadline, ms, NULL);
	n = recv_plain(u->new_sock, &a, sizeof(a) - 1);
	if (n == -ECONNRESET)
		return not_ready(u, magic, deadline, ms, NULL);
	memcpy(&r, &a, sizeof(r));
	if (n != sizeof(r) || r.magic != magic)
		return not_ready(u, magic, deadline, ms, &a);
	return 0;
}

int baton_socket_start(struct update *u)
{
	const struct go plan = { .magic = PLAN_MAGIC };
	struct baton_handover hv;
	struct baton_env env = { 0 };
	int sv[2] = { -1, -1 }, err = 0;

	baton_handover_init(&hv);
	hv.channel_fd = CHANNEL_FD;
	/* Until the commit's own deadline comes with the fds. */
	u->early_deadline_ns = baton_now_ns() + EARLY_TIMEOUTS * u->timeout_ms * 1000000ull;
	hv.deadline_ns = u->early_deadline_ns;
	hv.force = u->force;
	hv.orphan = u->orphan;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		err = -errno;
	if (!err)
		err = baton_handover_env(&hv, NULL, &env) ?:
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
	err = u->new_pidfd < 0 ? -errno :
	      send_fds(u->new_sock, &plan, sizeof(plan), &u->image_fd, 1);
	if (err == -ENOSYS && u->new_pidfd < 0) {
		baton_update_why(u, "starting the new version: pidfd_open(): %s (%s)",
				 baton_strerror(err), BATON_PIDFD_NEEDS);
		baton_socket_end(u, true);
		return err;
	}
	/* Gone already (EPIPE): the commit finds out how, and says so. */
	if (err && err != -EPIPE) {
		baton_update_why(u, "starting the new version: %s", baton_strerror(err));
		baton_socket_end(u, true);
		return err;
	}
	return 0;
}

int baton_socket_planned(struct update *u)
{
	int err = await_word(u, PLANNED_MAGIC, u->early_deadline_ns, EARLY_TIMEOUTS * u->timeout_ms);

	if (!err)
		baton_trace("new-planned");
	return err;
}

int baton_socket_commit(struct update *u)
{
	struct commit c = {
		.magic = COMMIT_MAGIC, .held_ns = u->held_ns, .deadline_ns = u->deadline_ns,
	};
	int own[2], err;
	pid_t keeper_pid;

	baton_keeper_fds(u, &own[0], &own[1], &keeper_pid);
	c.keeper_pid = (int32_t)keeper_pid;
	err = baton_fault(BATON_FAULT_SPAWN) ?:
	      baton_keeper_new_process(u, u->new_pidfd);
	if (!err) {
		err = send_fds(u->new_sock, &c, sizeof(c), own, 2) ?:
		      baton_fault(BATON_FAULT_TRANSFER) ?:
		      baton_transfer_send(u->new_sock, u->image_fd, u->copies, u->n_copies);
		/* Gone (EPIPE): its death, below, says how. */
		err = err == -EPIPE ? 0 : err;
	}
	if (err) {
		baton_update_why(u, "handing the new version its fds: %s", baton_strerror(err));
		baton_socket_end(u, true);
		return err;
	}
	baton_trace("sent-fds");
	err = await_word(u, READY_MAGIC, u->deadline_ns, u->timeout_ms);
	if (!err)
		baton_trace("ready");
	return err;
}

/* Wait for the new process's answer, its death or the deadline. */
static void await_answer(struct update *u, struct answer *a)
{
	while (await_new(u, u->deadline_ns)) {
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
	bool batch = false;

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
		/*
		 * Told 'F', this thread wakes only to let the program exit,
		 * and the exit tears down its address space: woken as a
		 * SCHED_OTHER task it took the CPU it shared with the new
		 * version's main thread, right after FINISH, for up to 7 ms
		 * before the new version answered the clients the update
		 * held.  Back to SCHED_OTHER when the program goes on here.
		 */
		batch = baton_sched_batch();
		await_answer(u, &a);
	}

	if (a.type == 'F' || baton_keeper_cell(u) == BATON_CELL_NEW ||
	    !baton_keeper_abort(u)) {
		/* It took over (or the keeper is bringing the program back). */
		host->handed_over = true;
		baton_socket_end(u, false);
		return BATON_HANDED_OVER;
	}
	if (batch)
		baton_sched_other();
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

/* Wait until the channel has something to read, bounded by the deadline. */
static int await_channel(const struct baton_handover *hv)
{
	struct pollfd p = { .fd = hv->channel_fd, .events = POLLIN };

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
			return 0;
	}
}

/*
 * One image message of @magic, waited for until the deadline: its memfd in
 * *@fd, its FREEZE time (none before the go) in *@freeze_ns.  *@what says
 * what was being done, for the error.
 */
static int recv_image(const struct baton_handover *hv, uint32_t magic, int *fd,
		      uint64_t *freeze_ns, const char **what)
{
	struct go go = { 0 };
	size_t got = 0;
	int err;

	*fd = -1;
	*what = magic == GO_MAGIC ? "waiting for the go" : "waiting for the image";
	err = await_channel(hv);
	if (err)
		return err;
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

/*
 * The commit: the times, the keeper and the cell into @hv, then the
 * commit's image (*@image_fd) and copies (@hv's fds: each received at the
 * lowest free number, open and close-on-exec).  *@n the fds to receive,
 * for an EMFILE's numbers.
 */
static int recv_commit(struct baton_handover *hv, int *image_fd, size_t *n,
		       const char **what)
{
	struct commit c = { 0 };
	int own[2] = { -1, -1 }, err;
	size_t got = 0;

	*n = 2;
	*what = "waiting for the commit";
	err = await_channel(hv);
	if (err)
		return err;
	*what = "receiving the commit";
	err = recv_fds(hv->channel_fd, &c, sizeof(c), own, 2, &got);
	if (!err && (got != 2 || c.magic != COMMIT_MAGIC || c.keeper_pid <= 0 ||
		     !c.held_ns || c.held_ns > baton_now_ns() || c.deadline_ns < c.held_ns))
		err = -EBADMSG;
	if (err) {
		for (size_t i = 0; i < got; i++)
			close(own[i]);
		return err;
	}
	hv->keeper_fd = own[0];
	hv->cell_fd = own[1];
	hv->keeper_pid = c.keeper_pid;
	hv->held_ns = c.held_ns;
	hv->deadline_ns = c.deadline_ns;
	*what = "receiving the image and fds";
	*n = 1;
	err = baton_transfer_recv(hv->channel_fd, image_fd, &hv->fds, n);
	if (err)
		return err;
	hv->n_fds = *n;
	return 0;
}

/* Say @magic to the previous version. */
static int tell(const struct baton_handover *hv, uint32_t magic)
{
	const struct ready r = { magic };

	if (send(hv->channel_fd, &r, sizeof(r), MSG_NOSIGNAL) < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	return 0;
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
				      "deadline", what, strstr(what, "go") ? "go" :
				      strstr(what, "commit") ? "commit" : "image");
	return baton_diag_set(why, -err, NULL, "%s: %s", what, baton_strerror(err));
}

int baton_socket_await_go(struct baton_handover *hv, int *image_fd, struct baton_diag *why)
{
	const char *what = "telling the previous version we are ready";
	uint64_t freeze_ns = 0;
	int err;

	*image_fd = -1;
	err = tell(hv, READY_MAGIC) ?:
	      baton_fault(BATON_FAULT_START) ?:
	      recv_image(hv, GO_MAGIC, image_fd, &freeze_ns, &what);
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
 * @fd, the next image: the one planned on (the same memfd: sealed, so the
 * same bytes) keeps the plan; another is planned on again.
 */
static int replan(struct baton_host *host, struct incoming *in, int fd,
		  struct baton_diag *why)
{
	struct baton_handover *hv = &in->hv;
	struct stat planned, now;
	int err;

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

/*
 * Grow this process's fd table now, while it has one thread, to what it
 * will hold at its own next update's commit: the @n fds it is about to
 * receive, their copies then, and room for the program's own.  Started
 * with four fds, its table is the kernel's smallest (64); grown later,
 * with the program's threads sharing it, expand_fdtable() waits for an RCU
 * grace period - in that commit's hold, 7-20 ms measured here under load.
 */
static void grow_fd_table(int fd, size_t n)
{
	struct rlimit rl;
	rlim_t want = 4 * (rlim_t)n + 256;
	int top;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (want >= rl.rlim_cur)
		want = rl.rlim_cur - 1;
	top = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
	if (top >= 0)
		close(top);
}

/*
 * Socket mode: the PREPARE image first, parsed and planned on while the
 * old process still serves, then planned; the commit, its image planned
 * on again (in the hold), ready, and the go.  The FREEZE image is the
 * commit's memfd unless a driver's state changed as it froze: only then is
 * it planned on again, inside the blackout.
 */
static int receive_and_plan(struct baton_host *host, struct incoming *in,
			    struct baton_diag *why)
{
	struct baton_handover *hv = &in->hv;
	const char *what;
	uint64_t none;
	size_t n = 1;
	int fd, err;

	err = recv_image(hv, PLAN_MAGIC, &hv->image_fd, &none, &what);
	if (err)
		return receive_failed(err, what, 1, why);
	err = baton_restore_plan(host, in, why);
	if (err)
		return err;
	grow_fd_table(hv->channel_fd, in->image->n_fds);
	/* The restore's heap too, while the program serves. */
	in->heap_grown = baton_prefault_now(in->image->n_fds, in->image_len);
	if (in->heap_grown)
		baton_trace("prefault");
	what = "telling the previous version we have planned";
	err = tell(hv, PLANNED_MAGIC) ?: recv_commit(hv, &fd, &n, &what);
	if (err)
		return receive_failed(err, what, n, why);
	baton_trace("received-fds");
	return replan(host, in, fd, why) ?:
	       baton_socket_await_go(hv, &fd, why) ?:
	       replan(host, in, fd, why);
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
