// SPDX-License-Identifier: MIT
/*
 * Blackout of an exec-mode update against its floor, and against the size
 * of preserved memory.
 *
 * The floor is a bare exec() of this same binary that inherits a memfd and
 * maps it again: the least any in-place update can cost.  The update is
 * baton_host_update() of this binary into itself with one preserved region
 * of the same size and one device, measured by the host from FREEZE to
 * FINISH.  Each runs as a chain of execs in one process; every link writes
 * its sample (ns) to a pipe this driver reads.  Preserved memory is
 * touched once, so it is resident; it must not change the blackout, since
 * nothing is copied.
 *
 * Output: medians per size, in one run, and their ratios.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton/host.h>

#define RUNS 21
#define TOKEN_REPORT 1

BATON_SCHEMA(bench_state_v1, "bench-state", 1, BATON_FIELD(u64, ticks));

static int bench_preserve(struct baton_device *dev, void *state, size_t size)
{
	(void)dev;
	memset(state, 0, size);
	return 0;
}

static const struct baton_driver_ops bench_ops = { .preserve = bench_preserve };

BATON_DRIVER(bench_driver, "bench", 0, &bench_ops,
	BATON_MATCH_DEVICE(0x1234, 0xbe4c),
	BATON_ACCEPT(bench_state_v1));

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_sample(int fd, uint64_t ns)
{
	if (write(fd, &ns, sizeof(ns)) != sizeof(ns))
		exit(3);
}

/* One link of the floor chain: map what we inherited, report, exec on. */
static int floor_link(char **argv, size_t size, int left, int report)
{
	int fd = atoi(getenv("BENCH_MEMFD"));
	const char *t0 = getenv("BENCH_T0");
	char num[32], left_s[16];
	volatile uint8_t *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 3;
	(void)p[0];
	if (t0)
		put_sample(report, now_ns() - strtoull(t0, NULL, 10));
	if (!left)
		return 0;
	munmap((void *)p, size);
	snprintf(left_s, sizeof(left_s), "%d", left - 1);
	argv[4] = left_s;
	snprintf(num, sizeof(num), "%" PRIu64, now_ns());
	setenv("BENCH_T0", num, 1);
	execv("/proc/self/exe", argv);
	return 3;
}

/* One link of the update chain. */
static int baton_link(char **argv, size_t size, int left, int report)
{
	const struct baton_host_opts opts = { .program = "bench", .argv = argv };
	const struct baton_device_info info = {
		.addr = { 0, 0, 0x10, 0 }, .ids = { 0x1234, 0xbe4c, 0, 0, 0 },
		.orphan = BATON_ORPHAN_QUARANTINE, .mandatory = true,
	};
	struct baton_update_opts up = { .target = "/proc/self/exe" };
	struct baton_host *host;
	struct baton_region *r;
	struct baton_device *dev;
	char left_s[16];

	if (baton_host_create(&opts, &host) || baton_host_region(host, "mem", size, &r))
		return 3;
	if (baton_host_take_over(host))
		return 3;
	if (baton_host_restored(host)) {
		report = baton_host_take_fd(host, TOKEN_REPORT);
		put_sample(report, baton_host_last_update(host)->blackout_ns);
	} else {
		memset(baton_region_base(r), 0xa5, size);	/* resident */
		if (baton_host_add_device(host, &info, &dev) ||
		    baton_host_preserve_fd(host, TOKEN_REPORT, report, BATON_FD_PIPE))
			return 3;
	}
	if (!left)
		return 0;
	snprintf(left_s, sizeof(left_s), "%d", left - 1);
	argv[4] = left_s;
	up.argv = argv;
	baton_host_update(host, &up);
	return 3;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Run a chain of RUNS links; return the median sample. */
static uint64_t chain(const char *self, const char *kind, size_t size)
{
	char size_s[32], runs_s[16], fd_s[16], memfd_s[16];
	uint64_t samples[RUNS];
	int p[2], memfd = -1, status;
	size_t got = 0;
	pid_t pid;

	if (pipe(p))
		exit(3);
	if (!strcmp(kind, "floor")) {
		memfd = memfd_create("bench", 0);
		if (memfd < 0 || ftruncate(memfd, (off_t)size))
			exit(3);
		void *m = mmap(NULL, size, PROT_WRITE, MAP_SHARED, memfd, 0);

		if (m == MAP_FAILED)
			exit(3);
		memset(m, 0xa5, size);	/* resident */
		munmap(m, size);
		snprintf(memfd_s, sizeof(memfd_s), "%d", memfd);
		setenv("BENCH_MEMFD", memfd_s, 1);
	}
	snprintf(size_s, sizeof(size_s), "%zu", size);
	snprintf(runs_s, sizeof(runs_s), "%d", RUNS);
	snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
	pid = fork();
	if (!pid) {
		close(p[0]);
		execl(self, self, "--link", kind, size_s, runs_s, fd_s, (char *)NULL);
		_exit(3);
	}
	close(p[1]);
	if (memfd >= 0)
		close(memfd);
	while (got < RUNS && read(p[0], &samples[got], sizeof(samples[0])) ==
	       sizeof(samples[0]))
		got++;
	close(p[0]);
	waitpid(pid, &status, 0);
	unsetenv("BENCH_MEMFD");
	unsetenv("BENCH_T0");
	if (got != RUNS || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_blackout: %s chain gave %zu of %d samples\n",
			kind, got, RUNS);
		exit(1);
	}
	qsort(samples, RUNS, sizeof(samples[0]), cmp_u64);
	return samples[RUNS / 2];
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1u << 20, 256u << 20, 1u << 30 };
	uint64_t floor_ns[3], baton_ns[3];
	char self[4096];
	ssize_t n;

	if (argc == 6 && !strcmp(argv[1], "--link")) {
		size_t size = strtoull(argv[3], NULL, 10);
		int left = atoi(argv[4]), report = atoi(argv[5]);

		/* Each link execs the next with its own argv, argv[4] counted down. */
		return !strcmp(argv[2], "floor") ?
		       floor_link(argv, size, left, report) :
		       baton_link(argv, size, left, report);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 3;
	self[n] = '\0';
	printf("baton blackout, exec mode: median of %d updates per row, one run\n\n", RUNS);
	printf("%12s %14s %14s %8s\n", "preserved", "floor exec ms", "baton ms", "ratio");
	for (int i = 0; i < 3; i++) {
		floor_ns[i] = chain(self, "floor", sizes[i]);
		baton_ns[i] = chain(self, "baton", sizes[i]);
		printf("%9zu MiB %14.3f %14.3f %7.2fx\n", sizes[i] >> 20,
		       floor_ns[i] / 1e6, baton_ns[i] / 1e6,
		       (double)baton_ns[i] / (double)floor_ns[i]);
	}
	printf("\nmeasure: blackout 1 MiB: %.3f ms (floor %.3f ms)\n",
	       baton_ns[0] / 1e6, floor_ns[0] / 1e6);
	printf("measure: blackout 1 GiB / 1 MiB: %.2fx (nothing is copied: ~1x)\n",
	       (double)baton_ns[2] / (double)baton_ns[0]);
	return 0;
}
