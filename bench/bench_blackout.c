// SPDX-License-Identifier: MIT
/*
 * Blackout against preserved memory in use, both modes, against its floor
 * and against a copy-based handover, all in one run.
 *
 *   bench_blackout [--csv FILE] [--sizes MIB,...] [--no-copy] [--exec-only] [--hot]
 *   bench_blackout --floor DEVICES MIB     (for bench_devices.sh)
 *
 * Baton: baton_host_update() of this binary into itself with one
 * preserved region of the size and one device, measured by the new
 * version from FREEZE to FINISH.  Before each update the region is in
 * use: written once, and its page tables filled again in each version
 * (MADV_POPULATE_WRITE) - what a program that uses its memory has, and
 * what an exec must tear down.
 *
 * The floor: a bare exec() of this same binary that inherits the memfd,
 * mapped and in use as above, and maps it again - the least an in-place
 * update holding that memory can cost; it pays the old address space's
 * teardown inside the exec, as any exec does.  With --floor, it also
 * inherits 3 fds per device (a device's connection, interrupt and page)
 * and the memory is the devices' DMA pool: bench_devices.sh's floor.
 *
 * Copy: the memory written into a pipe by one process and read into fresh
 * memory by another - what a handover that copies costs.  Measured fewer
 * times than the others (it takes seconds at 8 GiB), and skipped when
 * there is not room for two copies.
 *
 * Caches: before each update, and each link of the floor before its exec,
 * every link reads through the same WORK_MIB of other memory (a memfd of
 * this driver's, not preserved): the rest of a program's work, which
 * leaves the CPUs' caches - and a hypervisor's tables of the guest's -
 * as cold at 1 MiB as the populate of 8 GiB leaves them.  Without it the
 * small rows met an exec path still warm from the link before, and the
 * ratio between sizes measured how much the bench's own populate
 * evicted rather than what the memory's size costs the blackout.
 * --hot leaves it out: the best case, a program that does nothing else.
 *
 * Each chain runs as a succession of execs (or, in socket mode, of new
 * processes) from one start; every link writes its sample (ns) to a pipe
 * this driver reads.  The rows are measured in ROUNDS interleaved rounds
 * (a chain of RUNS / ROUNDS links per row each), so that a load that comes
 * and goes on a shared machine weighs on every row alike, not on the rows
 * it happened to meet.  --exec-only leaves socket mode out.  Output:
 * medians, their ratios, and with --csv one
 * row per point (mode,devices,memory_mib,touched,baton_ms,floor_ms,
 * copy_ms,cold_ms,series) appended to FILE, the header first if it is new;
 * series is "memory" here, "devices" for bench_devices.sh's rows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton/host.h>

#define RUNS		15
#define ROUNDS		3	/* interleaved: a load that comes and goes hits every row */
#define COPY_RUNS	3	/* 1 past 1 GiB: a copy of 8 GiB takes tens of seconds */
#define TOKEN_REPORT	1
#define WORK_MIB	256	/* past any CPU's last-level cache */

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

/* In use: every page written once, then each process's page tables full. */
static void use(void *p, size_t size, bool first)
{
	if (first)
		memset(p, 0xa5, size);
	else if (madvise(p, size, MADV_POPULATE_WRITE))
		memset(p, 0xa5, size);	/* before Linux 5.14 */
}

/*
 * The program's other work, before its update: a read of every cache line
 * of the driver's work memfd (BENCH_WORK names it, as /proc/PID/fd/N: a
 * socket-mode link does not inherit our fds), mapped for the read alone.
 */
static void other_work(void)
{
	const char *path = getenv("BENCH_WORK");
	const size_t size = (size_t)WORK_MIB << 20;
	volatile const char *p;
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		exit(3);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		exit(3);
	for (size_t i = 0; i < size; i += 64)
		(void)p[i];
	munmap((void *)p, size);
}

/* The argv of a link: self --link KIND MODE SIZE LEFT REPORT_FD. */
enum { A_KIND = 2, A_MODE, A_SIZE, A_LEFT, A_FD, A_N };

/* One link of the floor chain: map what we inherited, in use, exec on. */
static int floor_link(char **argv, size_t size, int left, int report)
{
	int fd = atoi(getenv("BENCH_MEMFD"));
	const char *t0 = getenv("BENCH_T0");
	char num[32], left_s[16];
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 3;
	(void)*(volatile char *)p;
	if (t0)
		put_sample(report, now_ns() - strtoull(t0, NULL, 10));
	if (!left)
		return 0;
	use(p, size, false);
	other_work();
	snprintf(left_s, sizeof(left_s), "%d", left - 1);
	argv[A_LEFT] = left_s;
	snprintf(num, sizeof(num), "%" PRIu64, now_ns());
	setenv("BENCH_T0", num, 1);
	execv("/proc/self/exe", argv);
	return 3;
}

/* One link of the update chain, in either mode. */
static int baton_link(char **argv, bool socket_mode, size_t size, int left, int report)
{
	const struct baton_host_opts opts = { .program = "bench", .argv = argv };
	const struct baton_device_info info = {
		.addr = { 0, 0, 0x10, 0 }, .ids = { 0x1234, 0xbe4c, 0, 0, 0 },
		.orphan = BATON_ORPHAN_QUARANTINE, .mandatory = true,
	};
	struct baton_update_report rep = { 0 };
	struct baton_update_opts up = {
		.target = "/proc/self/exe",
		.mode = socket_mode ? BATON_MODE_SOCKET : BATON_MODE_EXEC,
		.report = &rep,
	};
	struct baton_host *host;
	struct baton_region *r;
	struct baton_device *dev;
	char left_s[16];
	int err;

	if (baton_host_create(&opts, &host) || baton_host_region(host, "mem", size, &r))
		return 3;
	if (baton_host_take_over(host))
		return 3;
	if (baton_host_restored(host)) {
		report = baton_host_take_fd(host, TOKEN_REPORT);
		put_sample(report, baton_host_last_update(host)->blackout_ns);
	} else if (baton_host_add_device(host, &info, &dev) ||
		   baton_host_preserve_fd(host, TOKEN_REPORT, report, BATON_FD_PIPE)) {
		return 3;
	}
	if (!left) {
		baton_host_destroy(host);
		return 0;
	}
	use(baton_region_base(r), size, !baton_host_restored(host));
	other_work();
	snprintf(left_s, sizeof(left_s), "%d", left - 1);
	argv[A_LEFT] = left_s;
	up.argv = argv;
	err = baton_host_update(host, &up);
	/* Socket mode: the next link runs; this one lets go and leaves. */
	if (err == BATON_HANDED_OVER) {
		baton_update_report_release(&rep);
		baton_host_destroy(host);
		return 0;
	}
	/* Why, for the chain's "a link failed". */
	fprintf(stderr, "bench_blackout: link %d: the update: %s%s%s\n", left,
		baton_strerror(err), *rep.why ? ": " : "", rep.why);
	baton_update_report_release(&rep);
	return 3;
}

/* The copy chain's one link: SIZE bytes through a pipe into fresh memory. */
static uint64_t copy_once(size_t size)
{
	const size_t chunk = 1u << 20;
	int p[2], status;
	uint64_t t0;
	char *src;
	pid_t pid;

	if (pipe(p))
		exit(3);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	/* The reader first, so that it does not inherit the source. */
	pid = fork();
	if (!pid) {
		char *dst = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t got = 0;

		close(p[1]);
		while (dst != MAP_FAILED && got < size) {
			ssize_t n = read(p[0], dst + got, size - got < chunk ? size - got : chunk);

			if (n <= 0)
				_exit(3);
			got += (size_t)n;
		}
		_exit(dst == MAP_FAILED ? 3 : 0);
	}
	close(p[0]);
	src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED)
		exit(3);
	memset(src, 0xa5, size);
	t0 = now_ns();
	for (size_t done = 0; done < size;) {
		ssize_t n = write(p[1], src + done, size - done < chunk ? size - done : chunk);

		if (n <= 0)
			exit(3);
		done += (size_t)n;
	}
	close(p[1]);
	waitpid(pid, &status, 0);
	munmap(src, size);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		exit(3);
	return now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Fds a device holds, for the floor of bench_devices.sh: 3 a device. */
static void hold_device_fds(unsigned devices)
{
	for (unsigned i = 0; i < 3 * devices; i++)
		if (eventfd(0, 0) < 0)
			exit(3);
}

/* Run a chain of @runs links of @kind in @mode; their samples into @samples. */
static void chain(const char *self, const char *kind, const char *mode, size_t size,
		  unsigned devices, int runs, uint64_t *samples)
{
	char size_s[32], runs_s[16], fd_s[16], memfd_s[16];
	int p[2], memfd = -1, status;
	size_t got = 0;
	pid_t pid;

	if (pipe(p))
		exit(3);
	if (!strcmp(kind, "floor")) {
		void *m;

		memfd = memfd_create("bench", 0);
		if (memfd < 0 || ftruncate(memfd, (off_t)size))
			exit(3);
		m = mmap(NULL, size, PROT_WRITE, MAP_SHARED, memfd, 0);
		if (m == MAP_FAILED)
			exit(3);
		use(m, size, true);
		munmap(m, size);
		snprintf(memfd_s, sizeof(memfd_s), "%d", memfd);
		setenv("BENCH_MEMFD", memfd_s, 1);
	}
	snprintf(size_s, sizeof(size_s), "%zu", size);
	snprintf(runs_s, sizeof(runs_s), "%d", runs);
	snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
	pid = fork();
	if (!pid) {
		close(p[0]);
		hold_device_fds(devices);
		execl(self, self, "--link", kind, mode, size_s, runs_s, fd_s, (char *)NULL);
		_exit(3);
	}
	close(p[1]);
	if (memfd >= 0)
		close(memfd);
	while (got < (size_t)runs && read(p[0], &samples[got], sizeof(samples[0])) ==
	       sizeof(samples[0]))
		got++;
	close(p[0]);
	/* Socket mode's links are each other's children: we are their subreaper. */
	while (waitpid(-1, &status, 0) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			got = 0;
	unsetenv("BENCH_MEMFD");
	unsetenv("BENCH_T0");
	if (got != (size_t)runs) {
		fprintf(stderr, "bench_blackout: %s %s chain at %zu MiB: a link failed\n",
			kind, mode, size >> 20);
		exit(1);
	}
}

/* The memory of the links' other work, written once; BENCH_WORK names it. */
static void share_work(void)
{
	const size_t size = (size_t)WORK_MIB << 20;
	int fd = memfd_create("bench-work", MFD_CLOEXEC);
	char path[64];
	void *m;

	if (fd < 0 || ftruncate(fd, (off_t)size))
		exit(3);
	m = mmap(NULL, size, PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		exit(3);
	memset(m, 0x5a, size);
	munmap(m, size);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), fd);
	setenv("BENCH_WORK", path, 1);
}

/* Room for two copies of @size (the copy benchmark's peak), and some. */
static bool room_for_copy(size_t size)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kib = 0;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib * 1024 > 2ull * size + (2ull << 30);
}

int main(int argc, char **argv)
{
	size_t sizes[8] = { 1u << 20, 1ull << 30, 8ull << 30 }, n_sizes = 3;
	uint64_t floors[8][RUNS], samples[8][2][RUNS], copy_ns[8] = { 0 };
	const char *csv_path = NULL;
	uint64_t b1[2] = { 0, 0 };
	bool copy = true, exec_only = false, hot = false;
	char self[4096];
	FILE *csv = NULL;
	ssize_t n;

	if (argc == A_N && !strcmp(argv[1], "--link")) {
		size_t size = strtoull(argv[A_SIZE], NULL, 10);
		int left = atoi(argv[A_LEFT]), report = atoi(argv[A_FD]);

		return !strcmp(argv[A_KIND], "floor") ?
		       floor_link(argv, size, left, report) :
		       baton_link(argv, !strcmp(argv[A_MODE], "socket"), size, left, report);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 3;
	self[n] = '\0';
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (argc == 4 && !strcmp(argv[1], "--floor")) {
		uint64_t ns[RUNS];

		chain(self, "floor", "exec", strtoull(argv[3], NULL, 10) << 20,
		      (unsigned)atoi(argv[2]), RUNS, ns);
		printf("%.3f\n", median(ns, RUNS) / 1e6);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
			csv_path = argv[++i];
		} else if (!strcmp(argv[i], "--no-copy")) {
			copy = false;
		} else if (!strcmp(argv[i], "--exec-only")) {
			exec_only = true;
		} else if (!strcmp(argv[i], "--hot")) {
			hot = true;
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *s = argv[++i], *tok, *save = NULL;

			for (n_sizes = 0; n_sizes < 8 && (tok = strtok_r(s, ",", &save)); s = NULL)
				sizes[n_sizes++] = strtoull(tok, NULL, 10) << 20;
		} else {
			fprintf(stderr, "usage: bench_blackout [--csv FILE] [--sizes MIB,...] [--no-copy] [--exec-only] [--hot]\n"
				"       bench_blackout --floor DEVICES MIB\n");
			return 2;
		}
	}
	if (!hot)
		share_work();
	if (csv_path && !(csv = fopen(csv_path, "ae")))
		return 3;
	if (csv && ftell(csv) == 0)
		fprintf(csv, "mode,devices,memory_mib,touched,baton_ms,floor_ms,copy_ms,"
			"cold_ms,series\n");
	printf("baton blackout against memory in use: median of %d updates per row, "
	       "%d rounds of %d interleaved (copy: of %d, 1 past 1 GiB), one run\n\n",
	       RUNS, ROUNDS, RUNS / ROUNDS, COPY_RUNS);
	/*
	 * Round after round over every row, a chain of RUNS / ROUNDS links
	 * each: on a shared machine the load changes by the minute, and rows
	 * measured one after the other would be compared across it.
	 */
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < n_sizes; i++) {
			const int per = RUNS / ROUNDS, copy_runs = sizes[i] > (1ull << 30) ? 1 : COPY_RUNS;
			uint64_t copies[COPY_RUNS];

			chain(self, "floor", "exec", sizes[i], 0, per, &floors[i][round * per]);
			for (int m = 0; m < (exec_only ? 1 : 2); m++)
				chain(self, "baton", m ? "socket" : "exec", sizes[i], 0, per,
				      &samples[i][m][round * per]);
			if (round || !copy || !room_for_copy(sizes[i]))
				continue;
			for (int r = 0; r < copy_runs; r++)
				copies[r] = copy_once(sizes[i]);
			copy_ns[i] = median(copies, (size_t)copy_runs);
		}
	}
	printf("%-7s %10s %10s %10s %8s %12s %10s\n", "mode", "memory", "floor ms",
	       "baton ms", "ratio", "vs 1st size", "copy ms");
	for (size_t i = 0; i < n_sizes; i++) {
		const uint64_t floor_ns = median(floors[i], RUNS);

		for (int m = 0; m < (exec_only ? 1 : 2); m++) {
			const char *mode = m ? "socket" : "exec";
			const uint64_t ns = median(samples[i][m], RUNS);
			char copy_s[32] = "";

			if (!i)
				b1[m] = ns;
			if (copy_ns[i])
				snprintf(copy_s, sizeof(copy_s), "%.3f", copy_ns[i] / 1e6);
			printf("%-7s %6zu MiB %10.3f %10.3f %7.2fx %11.2fx %10s\n", mode,
			       sizes[i] >> 20, floor_ns / 1e6, ns / 1e6,
			       (double)ns / (double)floor_ns, (double)ns / (double)b1[m],
			       copy_ns[i] ? copy_s : copy ? "no room" : "-");
			if (csv)
				fprintf(csv, "%s,1,%zu,1,%.3f,%.3f,%s,,memory\n", mode,
					sizes[i] >> 20, ns / 1e6, floor_ns / 1e6, copy_s);
		}
	}
	if (csv)
		fclose(csv);
	return 0;
}
