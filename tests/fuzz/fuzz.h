/* SPDX-License-Identifier: MIT */
#ifndef BATON_FUZZ_H
#define BATON_FUZZ_H

/*
 * What the fuzz targets share: counting the process's fds (each target
 * checks that an input leaves none open it did not find), and sending
 * bytes with fds over a socket.  A failure here is the harness's, not the
 * code's under test: it aborts, which libFuzzer reports as a crash.
 */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef FUZZ_NAME
/* The harness's own verdict, named: FUZZ_NAME is defined by the target. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs(FUZZ_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
#endif

/*
 * Count per input, not once: libFuzzer starts a symbolizer between inputs
 * (to name a function an input covered first), whose pipes stay open.
 * With @list, say what each is (a leak's report).
 */
static inline int fuzz_count_fds(int list)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		perror("/proc/self/fd");
		abort();
	}
	while ((e = readdir(d))) {
		char path[PATH_MAX], link[PATH_MAX];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		n++;
		if (!list)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		fprintf(stderr, "fd %s: %s\n", e->d_name, link);
	}
	closedir(d);
	return n;
}

/* One sendmsg() of @len bytes with @n fds (at most 253, the kernel's limit). */
static inline ssize_t fuzz_sendmsg(int sock, const void *p, size_t len,
				   const int *fds, size_t n, int flags)
{
	char control[CMSG_SPACE(sizeof(int) * 253)];
	struct iovec iov = { (void *)p, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n) {
		struct cmsghdr *cm;

		memset(control, 0, CMSG_SPACE(sizeof(int) * n));
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
}

#endif /* BATON_FUZZ_H */
