// SPDX-License-Identifier: MIT
/**
 * DOC: fds that linger until FINISH
 *
 * An exec-mode update closes the program's close-on-exec fds inside
 * execve(), in the blackout, and each costs: the kernel tears an epoll fd
 * down registration by registration (~1.4 ms of CPU for demo-host's 1,026
 * at 1,024 devices), and flushes every other file it closes (~0.25 us a
 * fd: ~0.8 ms for the 3,076 preserved fds' own numbers at 1,024 devices,
 * whose files cross anyway, as the commit's copies).  Two kinds of fd
 * cross the exec instead, and the new version closes them after FINISH:
 *
 *   marked    a fd the program marked with baton_host_close_after_finish()
 *             (BATON_CLOSE_FDS): still open, still the file marked and
 *             still close-on-exec just before the exec
 *   original  the program's own number of each preserved fd
 *             (BATON_ORIGINAL_FDS, one per BATON_FDS, image order, 0 for
 *             one the exec keeps: not close-on-exec at the commit).  The
 *             program, or a driver at freeze(), may close or reuse such a
 *             number after the commit, so it is closed only while it is
 *             still the file its copy is - kcmp(KCMP_FILE): a number a
 *             close-on-exec fd took was closed by the exec and may be the
 *             new version's own by then; one an inheritable fd took is the
 *             program's (it reaches the new version close-on-exec: that
 *             one cannot tell it from its own without a call a fd).
 *             Without kcmp(), here or of the keeper (ENOSYS, EPERM:
 *             decided at the commit, before FREEZE), the exec closes them,
 *             as before.
 *
 * and then:
 *
 *   the old version  if the target's dry run said its library closes them
 *                    (dryrun.c: "closes_after_finish", "closes_originals";
 *                    without a dry run, or one older, they close at the
 *                    exec as before): at the commit, once the keeper forked
 *                    (whose restart must not carry them), each original
 *                    that is close-on-exec has it cleared, out of the
 *                    blackout (baton_linger_uncloexec()); the marked
 *                    fds not handed over nor preserved are listed in the
 *                    exec's environment, made before FREEZE
 *                    (baton_linger_plan()); just before the exec each of
 *                    them still open, still the file marked and still
 *                    close-on-exec has it cleared, and the list is made
 *                    again in place of those (baton_linger_cross()).  An
 *                    update that does not exec sets it again on each of
 *                    them (baton_linger_keep())
 *                    and on each original still its copy's file
 *                    (baton_linger_recloexec()): the program keeps the fds
 *                    it had, as they were
 *   the new version  checks each number is not a standard stream, listed
 *                    once and none of the fds handed over (what crosses an
 *                    exec is checked like any input), and each marked one
 *                    open; makes them close-on-exec again, the originals
 *                    in a close_range() a run of numbers, so that no child
 *                    it starts before FINISH inherits them
 *                    (baton_linger_adopt()); after FINISH, before the
 *                    keeper is done, keeps each original only if kcmp()
 *                    says it is still the file of the keeper's copy at its
 *                    BATON_FDS number (baton_linger_check(); not our copy:
 *                    a reset device's region is closed by then), and
 *                    closes them (baton_linger_close()); going back to the
 *                    previous version it passes them on, an original only
 *                    while still its file (baton_linger_pass_back())
 *
 * A marked fd stays the program's: it may go on using it, or close it - a
 * mark on a fd that is closed, or names another file, or was made
 * inheritable by the time of the exec is simply not acted on.  One case
 * kcmp() cannot tell: an original a driver closed after the commit, whose
 * number the new version filled before FINISH with a dup() of that same
 * preserved file, is closed.  Socket mode needs none of this: the old
 * process closes its fds when it exits, after FINISH; nor does a kexec,
 * after which nothing of the old process is left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include "host/host-internal.h"

/* Whether our fd @a and @pid's fd @b are one open file: 1, 0, or -errno
 * (-EBADF: either closed). */
static int same_file(int a, pid_t pid, int b)
{
	long r = syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, a, b);

	return r < 0 ? -errno : r == 0;
}

/*
 * Whether @hv's i-th original is still the file of its copy - the
 * keeper's, at the same number: ours may be closed by now (a region the
 * restore dropped), the keeper holds its own until it is done.  Without a
 * keeper to ask, ours.
 */
static bool still_copy(const struct baton_handover *hv, size_t i)
{
	int same = hv->keeper_pid > 0 ?
		   same_file(hv->originals[i], hv->keeper_pid, hv->fds[i]) : -ESRCH;

	if (same < 0)
		same = same_file(hv->originals[i], getpid(), hv->fds[i]);
	return same == 1;
}

void baton_linger_uncloexec(struct update *u)
{
	int fd;
	pid_t keeper;

	/* No fd is -1: a kcmp() there and allowed, here and of the keeper,
	 * says so (EBADF); without, the exec closes them, as before. */
	baton_keeper_fds(u, &fd, &fd, &keeper);
	if (same_file(-1, getpid(), -1) != -EBADF ||
	    (keeper > 0 && same_file(-1, keeper, -1) != -EBADF)) {
		free(u->originals);
		u->originals = NULL;
		return;
	}
	for (size_t i = 0; i < u->n_copies; i++) {
		int flags = fcntl(u->originals[i], F_GETFD);

		if (flags < 0 || !(flags & FD_CLOEXEC))
			u->originals[i] = 0;
		else
			fcntl(u->originals[i], F_SETFD, flags & ~FD_CLOEXEC);
	}
}

void baton_linger_recloexec(struct update *u)
{
	for (size_t i = 0; u->originals && i < u->n_copies; i++)
		if (u->originals[i] && same_file(u->originals[i], getpid(), u->copies[i]) == 1)
			fcntl(u->originals[i], F_SETFD, FD_CLOEXEC);
	free(u->originals);
	u->originals = NULL;
}

/* Whether @fd is one of the fds @hv hands over, or the image, keeper, cell. */
static bool handed(const struct baton_handover *hv, int fd)
{
	if (fd == hv->image_fd || fd == hv->keeper_fd || fd == hv->cell_fd ||
	    fd == hv->channel_fd)
		return true;
	for (size_t i = 0; i < hv->n_fds; i++)
		if (hv->fds[i] == fd)
			return true;
	return false;
}

/* Whether @fd is preserved: the next version takes it, so it stays open. */
static bool preserved(const struct baton_host *host, int fd)
{
	for (size_t i = 0; i < host->n_regions; i++)
		if (host->regions[i]->fd == fd)
			return true;
	for (size_t k = 0; k < host->n_sessions; k++)
		for (size_t i = 0; i < host->sessions[k]->n_fds; i++)
			if (host->sessions[k]->fds[i].fd == fd)
				return true;
	return false;
}

int baton_host_close_after_finish(struct baton_host *host, int fd)
{
	struct fd_id id;
	int err;

	if (!host || fd <= STDERR_FILENO)
		return -EINVAL;
	if (host->sealed)
		return -EBUSY;
	err = baton_fd_id(fd, &id);
	if (err)
		return err;
	if (preserved(host, fd))
		return -EINVAL;
	for (size_t i = 0; i < host->n_lingering; i++)
		if (host->lingering[i].fd == fd) {
			host->lingering[i].id = id;
			return 0;
		}
	err = baton_grow((void **)&host->lingering, &host->cap_lingering,
			 host->n_lingering + 1, sizeof(*host->lingering));
	if (err)
		return err;
	host->lingering[host->n_lingering++] = (struct lingering){ fd, id };
	return 0;
}

int baton_linger_plan(const struct baton_host *host, struct baton_handover *hv)
{
	int *fds = calloc(host->n_lingering + 1, sizeof(*fds));
	size_t n = 0;

	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; i < host->n_lingering; i++)
		if (!handed(hv, host->lingering[i].fd) &&
		    !preserved(host, host->lingering[i].fd))
			fds[n++] = host->lingering[i].fd;
	/* None: no variable, rather than an empty list no reader takes. */
	if (!n) {
		free(fds);
		fds = NULL;
	}
	hv->close_fds = fds;
	hv->n_close_fds = n;
	return 0;
}

void baton_linger_cross(const struct baton_host *host, int *fds, size_t *n)
{
	size_t k = 0, kept = 0;

	/* @fds is a sublist of the marks, in their order: one pass. */
	for (size_t i = 0; i < host->n_lingering && k < *n; i++) {
		const struct lingering *l = &host->lingering[i];
		struct fd_id now;

		if (l->fd != fds[k])
			continue;
		k++;
		if (baton_fd_id(l->fd, &now) || !baton_fd_id_same(&l->id, &now) ||
		    fcntl(l->fd, F_GETFD) != FD_CLOEXEC)
			continue;
		fcntl(l->fd, F_SETFD, 0);
		fds[kept++] = l->fd;
	}
	*n = kept;
}

void baton_linger_keep(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
}

/* Whether @fd is set in @bits, a bit a number from 0 to @max. */
static bool in_set(const uint64_t *bits, int max, int fd)
{
	return fd >= 0 && fd <= max && (bits[fd >> 6] >> (fd & 63) & 1);
}

/*
 * The originals, checked as any input and made close-on-exec again, in a
 * close_range() a run of consecutive numbers: one that is a handover fd,
 * or a marked one, would be closed under the new version; one listed
 * twice, closed twice.  A number that is not open is no error: the
 * program closed it after the commit, and kcmp() tells after FINISH.  One
 * bit a number, not a sort: 3,076 of them at 1,024 devices, in the
 * blackout, in two ascending runs (the regions' memfds, the sessions').
 */
static int adopt_originals(const struct baton_handover *hv, struct baton_diag *why)
{
	const int own[] = { hv->image_fd, hv->keeper_fd, hv->cell_fd, hv->channel_fd };
	uint64_t *bits;
	int max = 0, clash = -1, err = 0;

	if (hv->n_originals != hv->n_fds)
		return baton_diag_set(why, EINVAL, NULL, "BATON_ORIGINAL_FDS lists %zu "
				      "fds, BATON_FDS %zu", hv->n_originals, hv->n_fds);
	for (size_t i = 0; i < hv->n_originals; i++) {
		if (hv->originals[i] && hv->originals[i] <= STDERR_FILENO)
			return baton_diag_set(why, EINVAL, NULL, "fd %d, to close after "
					      "FINISH, is a standard stream", hv->originals[i]);
		if (hv->originals[i] > max)
			max = hv->originals[i];
	}
	bits = calloc(((size_t)max >> 6) + 1, sizeof(*bits));
	if (!bits)
		return baton_diag_set(why, ENOMEM, NULL, NULL);
	for (size_t i = 0; !err && i < hv->n_originals; i++) {
		int fd = hv->originals[i];

		if (fd && in_set(bits, max, fd))
			err = baton_diag_set(why, EINVAL, NULL, "fd %d, to close after "
					     "FINISH, is listed twice", fd);
		bits[fd >> 6] |= fd ? 1ull << (fd & 63) : 0;
	}
	for (size_t i = 0; i < hv->n_fds && clash < 0; i++)
		if (in_set(bits, max, hv->fds[i]))
			clash = hv->fds[i];
	for (size_t i = 0; i < BATON_ARRAY_SIZE(own) && clash < 0; i++)
		if (in_set(bits, max, own[i]))
			clash = own[i];
	if (!err && clash >= 0)
		err = baton_diag_set(why, EINVAL, NULL, "fd %d, to close after FINISH, "
				     "is also one handed over", clash);
	for (size_t i = 0; !err && i < hv->n_close_fds; i++)
		if (in_set(bits, max, hv->close_fds[i]))
			err = baton_diag_set(why, EINVAL, NULL, "fd %d, to close after "
					     "FINISH, is listed twice", hv->close_fds[i]);
	/* From the first number of each run; an older kernel without
	 * CLOSE_RANGE_CLOEXEC (EINVAL), one call a fd. */
	for (size_t i = 0; !err && i < hv->n_originals; i++) {
		int first = hv->originals[i], last = first;

		if (!first || in_set(bits, max, first - 1))
			continue;
		while (in_set(bits, max, last + 1))
			last++;
		if (close_range((unsigned)first, (unsigned)last, CLOSE_RANGE_CLOEXEC) &&
		    errno == EINVAL)
			for (int fd = first; fd <= last; fd++)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	free(bits);
	return err;
}

int baton_linger_adopt(const struct baton_handover *hv, struct baton_diag *why)
{
	for (size_t i = 0; i < hv->n_close_fds; i++) {
		int fd = hv->close_fds[i];

		if (fd <= STDERR_FILENO)
			return baton_diag_set(why, EINVAL, NULL, "fd %d, to close after FINISH, "
					      "is a standard stream", fd);
		if (handed(hv, fd))
			return baton_diag_set(why, EINVAL, NULL, "fd %d, to close after FINISH, "
					      "is also one handed over", fd);
		/* Closed twice, the second would close what took the number. */
		for (size_t j = 0; j < i; j++)
			if (hv->close_fds[j] == fd)
				return baton_diag_set(why, EINVAL, NULL, "fd %d, to close "
						      "after FINISH, is listed twice", fd);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return baton_diag_set(why, EBADF, NULL, "fd %d, to close after FINISH, "
					      "is not open", fd);
	}
	return hv->n_originals ? adopt_originals(hv, why) : 0;
}

/*
 * Pass on to the previous version, in place, what it closes after its
 * FINISH in our place: close-on-exec cleared, and an original no longer
 * its copy's file left out (the number is ours, or the program's).
 */
void baton_linger_pass_back(struct baton_handover *hv)
{
	for (size_t i = 0; i < hv->n_close_fds; i++)
		fcntl(hv->close_fds[i], F_SETFD, 0);
	/* Not one a fd handed over (refused before baton_linger_adopt()):
	 * nothing says which is which. */
	if (hv->n_originals != hv->n_fds)
		hv->n_originals = 0;
	for (size_t i = 0; i < hv->n_originals; i++) {
		if (hv->originals[i] && !still_copy(hv, i))
			hv->originals[i] = 0;
		if (hv->originals[i])
			fcntl(hv->originals[i], F_SETFD, 0);
	}
}

void baton_linger_check(struct baton_handover *hv)
{
	size_t n = 0;

	for (size_t i = 0; i < hv->n_originals; i++)
		if (hv->originals[i] && still_copy(hv, i))
			hv->originals[n++] = hv->originals[i];
	hv->n_originals = n;
}

void baton_linger_close(struct baton_handover *hv)
{
	for (size_t i = 0; i < hv->n_close_fds; i++)
		close(hv->close_fds[i]);
	/* A close_range() a run of numbers. */
	baton_serialize_close_copies(hv->originals, hv->n_originals);
	free(hv->close_fds);
	free(hv->originals);
	hv->close_fds = NULL;
	hv->originals = NULL;
	hv->n_close_fds = 0;
	hv->n_originals = 0;
}
