// SPDX-License-Identifier: MIT
/**
 * DOC: the keeper, and who owns the program
 *
 * From FREEZE until a version has taken over, something other than the two
 * versions holds every preserved fd and an untouched image, so that a
 * crash, a hang or a SIGKILL of either version at any instant brings back
 * a running program with nothing lost and no device reset.  That is the
 * keeper: a child the old version forks at the commit, once the copies
 * are made (update.c), and which says it is ready ('R') when it has
 * closed what it does not hold.  The old version reads that only just
 * before FREEZE: the keeper's closing runs on the other core meanwhile,
 * while the old version makes ready for FREEZE (exec mode's originals,
 * socket mode's new process), not in a wait of its own.
 *
 *  - It inherits a copy of the fd table and closes all but the preserved
 *    fds (the commit's copies of them, update.c), the image built just
 *    before (the PREPARE image, which the FREEZE image replaces if any
 *    driver's state changed when it froze) and what an exec would carry
 *    (fds without close-on-exec: stdin, stdout, stderr...).  Holding them
 *    is what keeps the devices: a vfio-user or VFIO device is reset when
 *    its last fd closes.  The program's own numbers of the preserved
 *    fds it leaves open too: the same files as the copies, so holding
 *    them keeps nothing else open, and closing them (~2 us each, 3,076
 *    at 1,024 devices) was most of what the program waited for; a version
 *    it starts does not get them (close-on-exec), as after an exec.  The
 *    commit's thread is the only one running between the copies and the
 *    fork (a program's threads are parked in its prepare hook), so those
 *    numbers are still the preserved files.  What it holds is a bitmap
 *    of numbers, made before the fork: one look a number.
 *  - Which version owns the program is one word in a shared page, the
 *    cell, that every party changes only by compare-and-swap from LIVE:
 *    to NEW or PREV by the version that takes over (the new one, or the
 *    previous one coming back), to ABORTED by whoever gives the update up.
 *    The first to swing it decides; the others read it.  So no two
 *    processes ever both drive the devices, whoever dies when.
 *  - It watches the old process (a pidfd: in exec mode the same process
 *    becomes the new version), in socket mode the new one too, and the
 *    deadline, and when the owner is gone it execs the binary that owns
 *    the program - the previous one, or the new one if it had taken over
 *    but died before FINISH - with the untouched image and every fd:
 *
 *	cell     | the owner died           | the deadline passed
 *	---------+--------------------------+------------------------------
 *	LIVE     | ABORTED; previous binary | ABORTED; kill both; previous
 *	NEW/PREV | that binary again        | kill it; that binary again
 *	ABORTED  | previous binary          | kill both; previous binary
 *
 *    In socket mode, while the old process lives it is the one that gives
 *    up on a failed new one and goes on; the keeper steps in only when it
 *    is gone, or a second after the deadline.
 *  - It leaves when told: 'D' from the version that finished, 'A' from an
 *    old version that went on.  A version that took over but does not
 *    finish in as long again is killed and started again.  In socket mode
 *    an old process still there at 'D' (stopped, or stuck in a thread of
 *    its own, after it had sent everything) has until FINISH's deadline to
 *    exit, and is then killed: it would hold the old fds and memory for
 *    ever, and it owns nothing any more.  Meanwhile the keeper is named
 *    baton-let-go: the update is over.  In exec mode it is the new
 *    version's child, reaped from the loop as it exits (its exit tears
 *    down a copy of the program's memory and fds, 2-30 ms at 1,024
 *    devices, not to be waited for after FINISH; reap.c): named to the
 *    next binary if the next update execs first, killed at the host's
 *    end.
 *
 * The keeper is forked from a program that may have threads, so between
 * fork() and its exit or exec it makes only system calls: everything it
 * may need - the fds to keep, both binaries' argv and environment - is
 * made before the fork, and the two numbers it learns later are written in
 * place (baton_handover_patch()).
 *
 * Messages on its channel (SOCK_SEQPACKET): 'I' freeze_ns deadline_ns
 * [+ the FREEZE image], 'N' [+ a pidfd of the new process], 'C' and the
 * deadline of FINISH (taken over), 'D', 'A'.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/host-internal.h"

/* In socket mode the old process has this long past the deadline. */
#define KEEPER_GRACE_NS 1000000000ull
#define CELL_SIZE 4096
#define REAP_MS 2000

/*
 * Sent whole between versions, so its layout is a protocol: the padding
 * after @type is spelled out, so that no uninitialised byte crosses.
 */
struct message {
	char type;
	char zero[7];
	uint64_t freeze_ns;
	uint64_t deadline_ns;
};

/* A binary the keeper may start, all made before the fork. */
struct restart {
	const char *path;
	char *const *argv;
	struct baton_env env;
};

struct baton_keeper {
	pid_t pid;
	int channel;			/* ours; the keeper has the other end */
	int cell_fd;
	_Atomic uint32_t *cell;

	/* What the keeper process uses: its copy of these. */
	enum baton_update_mode mode;
	int *keep;			/* the fd numbers it holds and carries */
	size_t n_keep;
	/* A bit a number below n_bits: it holds that fd (@keep, and the
	 * program's own numbers of the preserved ones). */
	unsigned long *held;
	size_t n_bits;
	int image_num;			/* where the image is, in it and here */
	int pidfd_old;
	int peer;			/* its end of the channel */
	uint64_t deadline_ns;
	bool batch;			/* it made itself SCHED_BATCH */
	struct restart prev, next;
};

static const char *const why_died = "the new version died before it took over";
static const char *const why_late = "the new version did not take over in time";
static const char *const why_old = "the old version died during the update";

/* ---- Waiting only to go ---- */

bool baton_sched_batch(void)
{
	return sched_getscheduler(0) == SCHED_OTHER &&
	       !sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 });
}

void baton_sched_other(void)
{
	sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){ 0 });
}

/* ---- The cell ---- */

static bool cell_swap(_Atomic uint32_t *cell, enum baton_cell_state to)
{
	uint32_t expected = BATON_CELL_LIVE;

	return atomic_compare_exchange_strong(cell, &expected, (uint32_t)to);
}

static _Atomic uint32_t *cell_map(int fd)
{
	void *p = mmap(NULL, CELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- The keeper process: system calls only ---- */

static void say(const char *what)
{
	static const char prefix[] = "baton-keeper: ";

	(void)!write(2, prefix, sizeof(prefix) - 1);
	(void)!write(2, what, strlen(what));
	(void)!write(2, "\n", 1);
}

static bool dead(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return pidfd < 0 || (poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
}

static void kill_and_wait(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0)
		return;
	pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Socket mode, the new version finished: the old process exits, or is
 * killed at FINISH's deadline.  (It is our parent: not ours to wait for.) */
static void let_old_go(const struct baton_keeper *k)
{
	struct pollfd p = { .fd = k->pidfd_old, .events = POLLIN };
	uint64_t now = now_ns();
	int ms = k->deadline_ns > now ? (int)((k->deadline_ns - now) / 1000000) + 1 : 0;

	while (poll(&p, 1, ms) < 0 && errno == EINTR)
		;
	if (!dead(k->pidfd_old))
		pidfd_send_signal(k->pidfd_old, SIGKILL, NULL, 0);
}

#define BITS_PER_WORD (8 * sizeof(unsigned long))

static bool held(const struct baton_keeper *k, int fd)
{
	return (size_t)fd < k->n_bits &&
	       (k->held[(size_t)fd / BITS_PER_WORD] >> ((size_t)fd % BITS_PER_WORD) & 1);
}

/*
 * The size of our fd table, from /proc/self/status's "FDSize:": every
 * number open is below it.  0 when it cannot be read.
 */
static int fd_table_size(void)
{
	static const char key[] = "\nFDSize:";
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC), size = 0;
	ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	const char *p;

	if (fd >= 0)
		close(fd);
	if (got <= 0)
		return 0;
	buf[got] = '\0';
	p = strstr(buf, key);
	for (p = p ? p + sizeof(key) - 1 : "", p += strspn(p, " \t"); *p >= '0' && *p <= '9'; p++)
		size = size * 10 + (*p - '0');
	return size;
}

/*
 * Close every fd but those held and those exec would have carried (no
 * close-on-exec), so that a version the keeper starts has what an exec
 * would have given it.  One F_GETFD a number below the table's size not
 * held, not a walk of /proc/self/fd: that instantiates a dentry an fd,
 * ~3 us each, and the table holds the program's fds and the commit's
 * copies.
 */
static void close_unkept(const struct baton_keeper *k)
{
	struct rlimit rl;
	int size = fd_table_size();

	/* Unreadable: every number the limit allows. */
	if (!size && !getrlimit(RLIMIT_NOFILE, &rl))
		size = rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur;
	for (int fd = 0; fd < size; fd++) {
		int flags;

		if (held(k, fd))
			continue;
		flags = fcntl(fd, F_GETFD);
		if (flags >= 0 && (flags & FD_CLOEXEC))
			close(fd);
	}
}

__attribute__((noreturn))
static void restart(struct baton_keeper *k, struct restart *r, uint64_t freeze_ns,
		    const char *why)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	baton_handover_patch(&r->env, freeze_ns, why);
	/* What the binary needs crosses exec; the keeper's own do not. */
	for (size_t i = 0; i < k->n_keep; i++)
		if (k->keep[i] > 2)
			fcntl(k->keep[i], F_SETFD, 0);
	close(k->peer);
	close(k->pidfd_old);
	close(k->cell_fd);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	/* The program runs as it ran: a policy crosses exec. */
	if (k->batch)
		baton_sched_other();
	execve(r->path, r->argv, r->env.vars);
	say("cannot start the program again: exec failed");
	_exit(127);
}

/* One message; false when the channel is closed or broken. */
static bool receive(struct baton_keeper *k, struct message *m, int *fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	ssize_t n;

	*fd = -1;
	n = baton_scm_recv(k->peer, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n > 0)
		baton_scm_take_fds(&msg, fd, 1);
	return n == (ssize_t)sizeof(*m);
}

__attribute__((noreturn))
static void keeper_main(struct baton_keeper *k)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	uint64_t freeze_ns = 0;
	int pidfd_new = -1;
	bool channel_open = true, got_image = false;

	prctl(PR_SET_NAME, "baton-keeper");
	/*
	 * Woken, it is not to take a shared CPU from the program: each
	 * message of the update wakes it, the last one after FINISH to exit
	 * and tear down its copy of the program's memory and fds, and the
	 * new version's main thread, which sent it, waited for that (0.5-0.9
	 * ms, one CPU shared) before it could answer a client.  A batch task
	 * does not preempt on waking; it still has the program's nice.
	 */
	k->batch = baton_sched_batch();
	/* A signal meant for the program's terminal is not for the keeper. */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	close_unkept(k);
	/* The old version waits for this: until now we held every fd it
	 * had, and a device whose connection it closes must see it close. */
	send(k->peer, "R", 1, MSG_NOSIGNAL);

	for (;;) {
		uint64_t now = now_ns(), deadline = k->deadline_ns +
			(k->mode == BATON_MODE_SOCKET ? KEEPER_GRACE_NS : 0);
		struct pollfd p[3] = {
			{ .fd = channel_open ? k->peer : -1, .events = POLLIN },
			{ .fd = k->pidfd_old, .events = POLLIN },
			{ .fd = pidfd_new, .events = POLLIN },
		};
		uint32_t state;
		bool old_dead, new_dead, late, news;
		struct message m;
		int fd;

		late = now >= deadline;
		if (!late && poll(p, 3, (int)((deadline - now) / 1000000) + 1) < 0 &&
		    errno != EINTR)
			_exit(1);
		/*
		 * Deaths first, then the messages: what a process sent before
		 * it died ('D' from a version that finished and exited) is
		 * then surely read before its death is acted on.
		 */
		old_dead = dead(k->pidfd_old);
		new_dead = k->mode == BATON_MODE_EXEC ? old_dead :
			   pidfd_new >= 0 && dead(pidfd_new);
		state = atomic_load(k->cell);
		late = now_ns() >= deadline;
		news = false;
		while (channel_open) {
			if (!receive(k, &m, &fd)) {
				/* Closed: every holder of the other end is gone. */
				channel_open = errno == EAGAIN || errno == EINTR;
				break;
			}
			news = true;
			if (m.type == 'D' && k->mode == BATON_MODE_SOCKET) {
				/* No longer the update's keeper: what watches it
				 * (ps, a test killing processes) sees the update over. */
				prctl(PR_SET_NAME, "baton-let-go");
				let_old_go(k);
			}
			if (m.type == 'D' || m.type == 'A')
				_exit(0);
			if (m.type == 'C') {
				/* Taken over: FINISH has as long again. */
				k->deadline_ns = m.deadline_ns;
			} else if (m.type == 'I') {
				got_image = true;
				freeze_ns = m.freeze_ns;
				k->deadline_ns = m.deadline_ns;
				if (fd >= 0) {
					dup2(fd, k->image_num);
					close(fd);
				}
			} else if (m.type == 'N' && fd >= 0 && pidfd_new < 0) {
				pidfd_new = fd;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		if (news)
			continue;	/* look again, with what we learnt */

		switch (state) {
		case BATON_CELL_NEW:
		case BATON_CELL_PREV:
			/* It took over, and died or is stuck before FINISH: it
			 * owns the program; start it again. */
			if (new_dead || late) {
				kill_and_wait(k->mode == BATON_MODE_EXEC ? k->pidfd_old : pidfd_new);
				restart(k, state == BATON_CELL_NEW ? &k->next : &k->prev,
					freeze_ns, NULL);
			}
			break;
		case BATON_CELL_ABORTED:
			/* The old version was going on, and is gone or stuck. */
			if (old_dead || late) {
				kill_and_wait(pidfd_new);
				kill_and_wait(k->pidfd_old);
				restart(k, &k->prev, freeze_ns, why_old);
			}
			break;
		case BATON_CELL_LIVE:
			if (k->mode == BATON_MODE_SOCKET && !late &&
			    !(old_dead && (pidfd_new < 0 || new_dead)))
				break;	/* the old process decides, or the new one may yet */
			if (k->mode == BATON_MODE_EXEC && !old_dead && !late)
				break;
			if (!cell_swap(k->cell, BATON_CELL_ABORTED))
				break;	/* taken over just now: look again */
			kill_and_wait(pidfd_new);
			kill_and_wait(k->pidfd_old);
			/* In exec mode, the same process is the new version
			 * once the keeper has the final image. */
			restart(k, &k->prev, freeze_ns, late ? why_late :
				(k->mode == BATON_MODE_EXEC ? got_image : !old_dead) ?
				why_died : why_old);
		}
	}
}

/* ---- The old version's side ---- */

static void restart_free(struct restart *r)
{
	baton_handover_free_env(&r->env);
}

static void keeper_free(struct baton_keeper *k)
{
	if (!k)
		return;
	if (k->channel >= 0)
		close(k->channel);
	if (k->cell)
		munmap(k->cell, CELL_SIZE);
	if (k->cell_fd >= 0)
		close(k->cell_fd);
	restart_free(&k->prev);
	restart_free(&k->next);
	free(k->keep);
	free(k->held);
	free(k);
}

/* The bitmap of what the keeper holds: @keep and @originals (or NULL). */
static int mark_held(struct baton_keeper *k, const int *originals, size_t n)
{
	int max = 0;

	for (size_t i = 0; i < k->n_keep; i++)
		max = k->keep[i] > max ? k->keep[i] : max;
	for (size_t i = 0; originals && i < n; i++)
		max = originals[i] > max ? originals[i] : max;
	k->n_bits = (size_t)max + 1;
	k->held = calloc(k->n_bits / BITS_PER_WORD + 1, sizeof(*k->held));
	if (!k->held)
		return -ENOMEM;
	for (size_t i = 0; i < k->n_keep + (originals ? n : 0); i++) {
		size_t fd = (size_t)(i < k->n_keep ? k->keep[i] : originals[i - k->n_keep]);

		k->held[fd / BITS_PER_WORD] |= 1ul << (fd % BITS_PER_WORD);
	}
	return 0;
}

/* The two binaries the keeper may start, with the image and fds it holds. */
static int make_restarts(struct update *u, struct baton_keeper *k,
			 const int *numbers, size_t n)
{
	struct baton_handover hv;
	int err;

	baton_handover_init(&hv);
	hv.image_fd = k->image_num;
	hv.fds = (int *)numbers;
	hv.n_fds = n;
	hv.held_ns = u->held_ns;
	hv.force = u->force;
	hv.orphan = u->orphan;
	hv.prev_argv = u->host->argv;
	err = baton_handover_env(&hv, NULL, &k->next.env);
	k->next.path = u->target;
	k->next.argv = u->argv;
	hv.prev_argv = NULL;
	hv.rollback = true;
	if (!err)
		err = baton_handover_env(&hv, NULL, &k->prev.env);
	k->prev.path = u->host->exec_path;
	k->prev.argv = u->host->argv;
	return err;
}

int baton_keeper_ready(struct update *u)
{
	struct baton_keeper *k = u->keeper;
	struct pollfd p = { .fd = k->channel, .events = POLLIN };
	char r = 0;
	int n;

	do
		n = poll(&p, 1, REAP_MS);
	while (n < 0 && errno == EINTR);
	if (n != 1 || recv(k->channel, &r, 1, MSG_DONTWAIT) != 1 || r != 'R')
		return n == 0 ? -ETIMEDOUT : -ECHILD;
	return 0;
}

int baton_keeper_start(struct update *u, const int *numbers, const int *originals,
		       size_t n)
{
	struct baton_keeper *k = calloc(1, sizeof(*k));
	int sv[2] = { -1, -1 }, err;

	if (!k)
		return -ENOMEM;
	k->channel = k->cell_fd = k->pidfd_old = -1;
	k->mode = u->mode;
	k->image_num = u->image_fd;
	k->deadline_ns = u->deadline_ns;
	k->keep = calloc(n + 8, sizeof(*k->keep));
	err = k->keep ? make_restarts(u, k, numbers, n) : -ENOMEM;
	if (err)
		goto err_keeper;
	k->cell_fd = memfd_create("baton-cell", MFD_CLOEXEC);
	if (k->cell_fd < 0 || ftruncate(k->cell_fd, CELL_SIZE) < 0 ||
	    !(k->cell = cell_map(k->cell_fd)) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (k->pidfd_old = pidfd_open(getpid(), 0)) < 0) {
		err = -errno;
		goto err_fds;
	}
	atomic_store(k->cell, BATON_CELL_LIVE);
	k->channel = sv[0];
	k->peer = sv[1];
	memcpy(k->keep, numbers, n * sizeof(*k->keep));
	k->n_keep = n;
	for (int fd = 0; fd <= 2; fd++)
		k->keep[k->n_keep++] = fd;
	k->keep[k->n_keep++] = k->image_num;
	k->keep[k->n_keep++] = k->cell_fd;
	k->keep[k->n_keep++] = k->peer;
	k->keep[k->n_keep++] = k->pidfd_old;
	err = mark_held(k, originals, n);
	if (err)
		goto err_fds;

	k->pid = fork();
	if (k->pid < 0) {
		err = -errno;
		goto err_fds;
	}
	if (!k->pid)
		keeper_main(k);
	close(k->peer);
	close(k->pidfd_old);
	u->keeper = k;
	return 0;

err_fds:
	if (sv[1] >= 0)
		close(sv[1]);
	if (k->pidfd_old >= 0)
		close(k->pidfd_old);
err_keeper:
	keeper_free(k);
	return err;
}

static int send_message(int channel, const struct message *m, int fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0)
		baton_scm_attach_fds(&msg, control, &fd, 1);
	while (sendmsg(channel, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int baton_keeper_handover(struct update *u, int image_fd)
{
	const struct message m = {
		.type = 'I', .freeze_ns = u->freeze_ns, .deadline_ns = u->deadline_ns,
	};

	return send_message(u->keeper->channel, &m, image_fd);
}

int baton_keeper_new_process(struct update *u, int pidfd)
{
	const struct message m = { .type = 'N' };

	return send_message(u->keeper->channel, &m, pidfd);
}

enum baton_cell_state baton_keeper_cell(const struct update *u)
{
	return (enum baton_cell_state)atomic_load(u->keeper->cell);
}

bool baton_keeper_abort(struct update *u)
{
	return cell_swap(u->keeper->cell, BATON_CELL_ABORTED);
}

void baton_keeper_release(struct update *u, bool went_on)
{
	struct baton_keeper *k = u->keeper;
	const struct message m = { .type = 'A' };

	if (!k)
		return;
	if (went_on) {
		send_message(k->channel, &m, -1);
		baton_child_reap(k->pid, REAP_MS);
	}
	keeper_free(k);
	u->keeper = NULL;
}

void baton_keeper_fds(const struct update *u, int *channel, int *cell, pid_t *pid)
{
	*channel = u->keeper->channel;
	*cell = u->keeper->cell_fd;
	*pid = u->keeper->pid;
}

/* ---- The new version's side ---- */

int baton_keeper_commit(struct baton_handover *hv, enum baton_cell_state state)
{
	struct message m = { .type = 'C' };
	_Atomic uint32_t *cell;
	bool won;

	if (hv->cell_fd < 0)
		return 0;	/* no keeper: nobody else can own the program */
	cell = cell_map(hv->cell_fd);
	if (!cell)
		return -errno;
	won = cell_swap(cell, state);
	munmap(cell, CELL_SIZE);
	if (!won)
		return -BATON_ERR_ABANDONED;
	/* FINISH gets as long as the update had from FREEZE to here. */
	m.deadline_ns = baton_now_ns() + (hv->deadline_ns - hv->freeze_ns);
	send_message(hv->keeper_fd, &m, -1);
	return 0;
}

void baton_keeper_done(struct baton_host *host, struct baton_handover *hv)
{
	const struct message m = { .type = 'D' };

	if (hv->keeper_fd >= 0) {
		send_message(hv->keeper_fd, &m, -1);
		close(hv->keeper_fd);
	}
	if (hv->cell_fd >= 0)
		close(hv->cell_fd);
	/*
	 * Exec mode: the keeper is our child (the old version forked it).
	 * Its exit tears down its copy of the program's address space and fd
	 * table (2-30 ms at 1,024 devices): reaped from the loop, not waited
	 * for here, after FINISH, where the program's loop would wait.
	 */
	if (hv->keeper_pid > 0)
		baton_reap_later(host, hv->keeper_pid, baton_now_ns() + REAP_MS * 1000000ull);
	hv->keeper_fd = hv->cell_fd = -1;
	hv->keeper_pid = 0;
}
