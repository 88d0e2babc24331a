// SPDX-License-Identifier: MIT
/**
 * DOC: socket mode, both sides
 *
 * In socket mode the new version is a new process.  The old one starts the
 * target with one end of a SOCK_SEQPACKET socketpair as fd 3 (and the
 * keeper's channel and the commit cell as 4 and 5), tells the keeper about
 * it, and sends everything over the socket with SCM_RIGHTS:
 *
 *	header  magic, the number of fds to follow   + the image memfd
 *	batch   the number of fds it carries         + up to 250 fds
 *	...     (the kernel takes at most 253 in one message)
 *
 * in image order.  The receiver checks every count and truncation flag and
 * closes whatever it received when anything is off, so a confused or
 * hostile sender costs it nothing but an error; fds cut off because its
 * own fd table is full are -EMFILE, said with the count and the limit.
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host-internal.h"

#define TRANSFER_MAGIC 0x42544658u	/* "BTFX" */
#define EXIT_WAIT_MS 1000

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
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
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

/* ---- The old process's side ---- */

struct answer {
	char type;			/* 'F' or 'E' */
	char why[255];
};

/*
 * Start the target with @sock, @cell and @keeper as its fds 3, 4 and 5,
 * and nothing else.  posix_spawn() rather than fork(): it copies nothing of
 * this process's address space, which fork() copied (a thousand devices'
 * mappings, the heap's page tables) for the exec to throw away, inside
 * the blackout.
 */
static int spawn(const struct update *u, int sock, int cell, int keeper,
		 char **env, pid_t *pid)
{
	int fds[3] = { sock, cell, keeper }, err = 0;
	posix_spawn_file_actions_t fa;

	err = baton_fault(BATON_FAULT_SPAWN);
	if (err)
		return err;
	/* Out of the way of 3, 4 and 5, and gone at the exec. */
	for (int i = 0; i < 3; i++)
		if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
			err = -errno;
	if (err)
		goto out;
	/* glibc's init cannot fail, nor is destroy() defined after one that did. */
	err = -posix_spawn_file_actions_init(&fa);
	if (err)
		goto out;
	for (int i = 0; !err && i < 3; i++)
		err = -posix_spawn_file_actions_adddup2(&fa, fds[i], 3 + i);
	if (!err)
		err = -posix_spawn_file_actions_addclosefrom_np(&fa, 6) ?:
		      -posix_spawn(pid, u->target, &fa, NULL, u->argv, env);
	posix_spawn_file_actions_destroy(&fa);
out:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
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

/* Wait for the new process's answer, its death or the deadline. */
static void await_answer(struct update *u, int sock, int pidfd, struct answer *a)
{
	for (;;) {
		uint64_t now = baton_now_ns();
		struct pollfd p[2] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
		};
		ssize_t n;

		if (now >= u->deadline_ns)
			return;
		if (poll(p, 2, (int)((u->deadline_ns - now) / 1000000) + 1) < 0 &&
		    errno != EINTR)
			return;
		if (p[0].revents) {
			n = recv(sock, a, sizeof(*a) - 1, MSG_DONTWAIT);
			if (n > 0)
				return;
			if (n == 0)
				return;		/* it closed the socket: dead, or gave up */
		}
		if (p[1].revents)
			return;
	}
}

int baton_socket_handover(struct update *u, const struct image_parts *p)
{
	struct baton_host *host = u->host;
	struct baton_handover hv;
	struct baton_env env = { 0 };
	struct answer a = { 0 };
	int sv[2] = { -1, -1 }, pidfd = -1, status = 0, keeper, cell, err;
	pid_t pid;

	baton_handover_init(&hv);
	baton_keeper_fds(u, &keeper, &cell, &hv.keeper_pid);
	hv.channel_fd = 3;
	hv.cell_fd = 4;
	hv.keeper_fd = 5;
	hv.freeze_ns = u->freeze_ns;
	hv.held_ns = u->held_ns;
	hv.deadline_ns = u->deadline_ns;
	hv.force = u->force;
	hv.orphan = u->orphan;
	err = baton_handover_env(&hv, &env);
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		err = -errno;
	if (!err)
		err = spawn(u, sv[1], cell, keeper, env.vars, &pid);
	if (err) {
		spawn_failed(u, err);
		goto out;
	}
	u->new_started = true;
	close(sv[1]);
	sv[1] = -1;
	pidfd = pidfd_open(pid, 0);
	err = pidfd < 0 ? -errno : baton_keeper_new_process(u, pidfd);
	if (!err)
		err = baton_transfer_send(sv[0], u->image_fd, p->numbers, p->img.n_fds) ?:
		      baton_fault(BATON_FAULT_SENT);
	if (!err)
		await_answer(u, sv[0], pidfd, &a);

	if (a.type == 'F' || baton_keeper_cell(u) == BATON_CELL_NEW ||
	    !baton_keeper_abort(u)) {
		/* It took over (or the keeper is bringing the program back). */
		err = BATON_HANDED_OVER;
		host->handed_over = true;
		goto out;
	}
	/* One that said it failed is on its way out: let it exit, a while. */
	if (a.type == 'E' && pidfd >= 0)
		poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, EXIT_WAIT_MS);
	if (pidfd >= 0)
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	else
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
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
	err = -BATON_ERR_ABORTED;
out:
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	baton_handover_free_env(&env);
	return err;
}

/* ---- The new process's side ---- */

int baton_socket_receive(struct baton_handover *hv, struct baton_diag *why)
{
	struct rlimit rl = { 0 };
	size_t n = 0;
	int err;

	err = baton_transfer_recv(hv->channel_fd, &hv->image_fd, &hv->fds, &n);
	if (!err) {
		hv->n_fds = n;
		return 0;
	}
	/* What was received is closed again: what is open is ours. */
	if (err == -EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		return baton_diag_set(why, EMFILE, NULL, "receiving the image and fds: %s: "
				      "%zu fds to receive with %zu open, over the limit of "
				      "%llu (RLIMIT_NOFILE)", baton_strerror(err), n,
				      baton_fds_open(rl.rlim_cur), (unsigned long long)rl.rlim_cur);
	return baton_diag_set(why, -err, NULL, "receiving the image and fds: %s",
			      baton_strerror(err));
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
