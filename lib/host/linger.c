// SPDX-License-Identifier: MIT
/**
 * DOC: fds that linger until FINISH
 *
 * An exec-mode update closes the program's close-on-exec fds inside
 * execve(), in the blackout, and some cost: the kernel tears an epoll fd
 * down registration by registration (~1.4 ms of CPU for demo-host's 1,026
 * at 1,024 devices).  A program marks such a fd with
 * baton_host_close_after_finish(), and then:
 *
 *   the old version  just before its exec (baton_linger_cross()), if the
 *                    target's dry run said its library closes them
 *                    (dryrun.c; without a dry run, or one older, they
 *                    close at the exec as before), each marked fd still
 *                    open, still the file marked and still close-on-exec
 *                    has close-on-exec cleared, and its number goes in
 *                    BATON_CLOSE_FDS; an exec that fails sets it again
 *                    (baton_linger_keep())
 *   the new version  checks each number is open, not a standard stream,
 *                    listed once and none of the fds handed over (what
 *                    crosses an exec is checked like any input), makes it
 *                    close-on-exec again, so that
 *                    no child it starts before FINISH inherits it
 *                    (baton_linger_adopt()), and closes it just after
 *                    FINISH (baton_linger_close()); going back to the
 *                    previous version it passes them on, as it came
 *
 * The fd stays the program's: it may go on using it, or close it - a mark
 * on a fd that is closed, or names another file, or was made inheritable
 * by the time of the exec is simply not acted on.  Socket mode needs none
 * of this: the old process closes its fds when it exits, after FINISH;
 * nor does a kexec, after which nothing of the old process is left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "host/host-internal.h"

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

int baton_linger_cross(const struct baton_host *host, struct baton_handover *hv)
{
	int *fds = calloc(host->n_lingering + 1, sizeof(*fds));
	size_t n = 0;

	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; i < host->n_lingering; i++) {
		const struct lingering *l = &host->lingering[i];
		struct fd_id now;

		if (handed(hv, l->fd) || preserved(host, l->fd) ||
		    baton_fd_id(l->fd, &now) || !baton_fd_id_same(&l->id, &now) ||
		    fcntl(l->fd, F_GETFD) != FD_CLOEXEC)
			continue;
		fcntl(l->fd, F_SETFD, 0);
		fds[n++] = l->fd;
	}
	hv->close_fds = fds;
	hv->n_close_fds = n;
	return 0;
}

void baton_linger_keep(struct baton_handover *hv)
{
	for (size_t i = 0; i < hv->n_close_fds; i++)
		fcntl(hv->close_fds[i], F_SETFD, FD_CLOEXEC);
	free(hv->close_fds);
	hv->close_fds = NULL;
	hv->n_close_fds = 0;
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
	return 0;
}

void baton_linger_close(struct baton_handover *hv)
{
	for (size_t i = 0; i < hv->n_close_fds; i++)
		close(hv->close_fds[i]);
	free(hv->close_fds);
	hv->close_fds = NULL;
	hv->n_close_fds = 0;
}
