// SPDX-License-Identifier: MIT
/*
 * Unix sockets, for every sender and reader in the tree: fds over
 * SCM_RIGHTS (socket-mode handover, the keeper, the vfio-user client,
 * devsim) and writes.  Whatever a reader does not take is closed here, so
 * that a peer that sends more than asked for cannot make it leak fds; and
 * every write is MSG_NOSIGNAL, so that a peer that hangs up cannot kill
 * the writer with SIGPIPE; and a peer's hang-up is not let hide what it
 * said before it (baton_scm_recv()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

void baton_scm_attach_fds(struct msghdr *msg, void *control, const int *fds,
			  size_t n)
{
	struct cmsghdr *c;

	memset(control, 0, CMSG_SPACE(sizeof(int) * n));
	msg->msg_control = control;
	msg->msg_controllen = CMSG_SPACE(sizeof(int) * n);
	c = CMSG_FIRSTHDR(msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
}

size_t baton_scm_take_fds(const struct msghdr *msg, int *fds, size_t max)
{
	size_t total = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++, total++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (total < max)
				fds[total] = fd;
			else
				close(fd);
		}
	}
	return total;
}

ssize_t baton_scm_recv(int sock, struct msghdr *msg, int flags)
{
	bool reset = false;
	ssize_t n;

	for (;;) {
		n = recvmsg(sock, msg, flags);
		if (n >= 0 || (errno != EINTR && (errno != ECONNRESET || reset)))
			return n;
		/* A reset is said once: what the peer sent before comes next. */
		reset = reset || errno == ECONNRESET;
	}
}

bool baton_fd_table_full(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd >= 0)
		close(fd);
	return fd < 0 && errno == EMFILE;
}

size_t baton_fds_open(size_t limit)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	if (!d)
		return errno == EMFILE ? limit : 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0;	/* ".", ".." and the directory's own */
}

const char *baton_fd_limit_why(int err, char *buf, size_t size)
{
	struct rlimit rl;

	buf[0] = '\0';
	if (err == -EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		snprintf(buf, size, ": the fd table is full, at the limit of %llu "
			 "(RLIMIT_NOFILE)", (unsigned long long)rl.rlim_cur);
	return buf;
}

int baton_send_all(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t put = send(fd, buf, len, MSG_NOSIGNAL);

		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0)
			return -errno;
		buf = (const char *)buf + put;
		len -= (size_t)put;
	}
	return 0;
}
