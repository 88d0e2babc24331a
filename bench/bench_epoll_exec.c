// SPDX-License-Identifier: MIT
/*
 * What an epoll fd closed inside execve() costs the exec, against one left
 * open across it (baton_host_close_after_finish(): closed after FINISH).
 *
 *   bench_epoll_exec [REGISTRATIONS [PAIRS]]     (default 1026 and 41)
 *
 * A process holds REGISTRATIONS eventfds, inherited across the exec as a
 * device's fds are, all registered in one epoll fd, and execs this binary,
 * which notes the time at its first instruction of main(): the epoll is
 * close-on-exec (the kernel tears it down inside execve(), one
 * registration at a time) or not (it crosses, and would be closed later).
 * Both the wall time and the CPU time of the exec are measured - the CPU
 * time (CLOCK_THREAD_CPUTIME_ID, which an exec does not reset) is what the
 * exec itself did, however busy the machine.  The two kinds alternate,
 * PAIRS of each; the medians and their difference are printed.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static double median_us(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[n / 2] / 1e3;
}

/* In a child: the fds, the epoll, the exec; the exec's wall and CPU ns back
 * on @out. */
static void link_exec(const char *self, int n, bool cloexec, int out)
{
	char wall[24], cpu[24], fd[12];
	int ep = epoll_create1(cloexec ? EPOLL_CLOEXEC : 0);

	for (int i = 0; ep >= 0 && i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		int e = eventfd(0, 0);

		if (e < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev))
			_exit(1);
	}
	snprintf(fd, sizeof(fd), "%d", out);
	snprintf(wall, sizeof(wall), "%llu", (unsigned long long)now(CLOCK_MONOTONIC));
	snprintf(cpu, sizeof(cpu), "%llu", (unsigned long long)now(CLOCK_THREAD_CPUTIME_ID));
	execl(self, self, "--link", wall, cpu, fd, (char *)NULL);
	_exit(1);
}

static int measure(const char *self, int n, bool cloexec, uint64_t *wall, uint64_t *cpu)
{
	uint64_t got[2];
	int p[2], status;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		link_exec(self, n, cloexec, p[1]);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], got, sizeof(got)) != sizeof(got)) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	*wall = got[0];
	*cpu = got[1];
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t (*v)[4], *col = NULL;
	double m[4];
	int n = 1026, pairs = 41;

	if (argc == 5 && !strcmp(argv[1], "--link")) {
		uint64_t got[2] = {
			now(CLOCK_MONOTONIC) - strtoull(argv[2], NULL, 10),
			now(CLOCK_THREAD_CPUTIME_ID) - strtoull(argv[3], NULL, 10),
		};

		return write(atoi(argv[4]), got, sizeof(got)) != sizeof(got);
	}
	if (argc > 1)
		n = atoi(argv[1]);
	if (argc > 2)
		pairs = atoi(argv[2]);
	if (n < 0 || pairs < 1 || argc > 3) {
		fprintf(stderr, "usage: bench_epoll_exec [REGISTRATIONS [PAIRS]]\n");
		return 2;
	}
	v = calloc((size_t)pairs, sizeof(*v));
	for (int i = 0; v && i < pairs; i++)
		if (measure("/proc/self/exe", n, true, &v[i][0], &v[i][1]) ||
		    measure("/proc/self/exe", n, false, &v[i][2], &v[i][3])) {
			fprintf(stderr, "bench_epoll_exec: a link failed\n");
			return 1;
		}
	col = calloc((size_t)pairs, sizeof(*col));
	if (!v || !col)
		return 1;
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < pairs; i++)
			col[i] = v[i][k];
		m[k] = median_us(col, (size_t)pairs);
	}
	printf("epoll of %d registrations, %d pairs, medians:\n", n, pairs);
	printf("  closed inside execve():  wall %8.1f us  cpu %8.1f us\n", m[0], m[1]);
	printf("  left open across it:     wall %8.1f us  cpu %8.1f us\n", m[2], m[3]);
	printf("  difference:              wall %8.1f us  cpu %8.1f us\n",
	       m[0] - m[2], m[1] - m[3]);
	free(col);
	free(v);
	return 0;
}
