// SPDX-License-Identifier: MIT
/*
 * The prefaulter (lib/host/prefault.c): over a range this process is
 * writing to meanwhile, it faults every page in and changes no byte - what
 * was written before it started, and what is written while it runs, is
 * there after - and once stopped it is reaped: no child is left.  Started
 * for a restore, it grows the heap and what the restore allocates next
 * lands in transparent huge pages (the kernel's smaps says so).  Skipped
 * (77) where it cannot run: valgrind (a clone that shares the address
 * space is no thread it knows), a kernel without MADV_POPULATE_WRITE, an
 * architecture without raw system calls here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGES 1024u

static size_t page;

/* How many of @n pages at @p are resident. */
static size_t resident(const char *p, size_t n)
{
	unsigned char vec[PAGES];
	size_t in = 0;

	assert_int_equal(mincore((void *)p, n * page, vec), 0);
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	return in;
}

static void test_populates_without_writing(void **state)
{
	struct baton_host host = { 0 };
	char *p = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pidfd;

	(void)state;
	assert_ptr_not_equal(p, MAP_FAILED);
	/* Before it starts: every third page. */
	for (size_t i = 0; i < PAGES; i += 3)
		p[i * page + 7] = (char)(i | 1);
	assert_true(baton_prefault_range(&host, p + 1, PAGES * page - 1));
	assert_true(host.prefaulter > 0);
	/* One at a time. */
	assert_false(baton_prefault_range(&host, p, page));
	/* While it runs: the others, from the far end. */
	for (size_t i = PAGES; i-- > 0;)
		if (i % 3)
			p[i * page + 11] = (char)(i | 1);
	/*
	 * Until it has been over the whole range and exited by itself, not
	 * only until every page is resident: with the writes above done
	 * before it got a CPU, they alone made every page resident, and a
	 * prefaulter that dropped pages was stopped before it had run.
	 */
	pidfd = (int)syscall(SYS_pidfd_open, host.prefaulter, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 10000), 1);
	close(pidfd);
	baton_prefault_stop(&host);
	assert_int_equal(host.prefaulter, 0);
	assert_null(host.prefault_stack);
	/* The first page is not whole in the range: left alone. */
	assert_true(resident(p, PAGES) >= PAGES - 1);
	for (size_t i = 0; i < PAGES; i++) {
		size_t at = i % 3 ? 11 : 7;

		assert_int_equal(p[i * page + at], (char)(i | 1));
		assert_int_equal(p[i * page + (at == 7 ? 11 : 7)], 0);
	}
	/* Reaped: no child of ours is left, whatever its exit signal. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG | __WALL), -1);
	assert_int_equal(errno, ECHILD);
	munmap(p, PAGES * page);
}

/* Whether this kernel gives a process transparent huge pages at all. */
static bool thp_on(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return line[0] && !strstr(line, "[never]");
}

/* The kB of huge pages smaps counts in the mapping that holds @p. */
static long anon_huge_kb(const void *p)
{
	unsigned long lo, hi;
	char line[256];
	bool in = false;
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Over a range holding a whole 2 MiB block: a huge page there, where the
 * kernel has them (a hypervisor's tables then fill once for it, not 512
 * times). */
static void test_range_in_huge_pages(void **state)
{
	struct baton_host host = { 0 };
	const size_t huge = 2u << 20;
	char *p = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *block = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
	int pidfd;

	(void)state;
	assert_ptr_not_equal(p, MAP_FAILED);
	assert_true(baton_prefault_range(&host, p, 2 * huge));
	pidfd = (int)syscall(SYS_pidfd_open, host.prefaulter, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 10000), 1);
	close(pidfd);
	baton_prefault_stop(&host);
	assert_int_equal(resident(block, huge / page), huge / page);
	if (thp_on())
		assert_true(anon_huge_kb(block) >= 2048);
	munmap(p, 2 * huge);
}

/*
 * Started for a restore of 4,096 fds: the heap grown, and the restore's
 * next block at a 2 MiB boundary - the top below it held - in memory the
 * kernel backs with a huge page; its bytes as written.
 */
static void test_start_in_huge_pages(void **state)
{
	struct baton_host host = { 0 };
	const size_t len = 1u << 20;
	char *p;

	(void)state;
	/* One CPU, or a sanitizer's allocator (the heap does not move). */
	if (!baton_prefault_start(&host, 4096, 0))
		skip();
	p = malloc(len);
	assert_non_null(p);
	/* Its chunk's header at the boundary, then the block. */
	assert_int_equal((uintptr_t)p % (2u << 20), 2 * sizeof(size_t));
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(i * 7);
	baton_prefault_stop(&host);
	assert_int_equal(host.prefaulter, 0);
	if (thp_on())
		assert_true(anon_huge_kb(p) >= 2048);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], (char)(i * 7));
	free(p);
}

/*
 * With an image to read in as well, the restore outgrows one 2 MiB block:
 * the heap is grown by whole blocks, each in a huge page, and a block
 * that spans two of them is in huge pages to its end.  Huge pages from
 * the start, they need no prefaulter.
 */
static void test_start_whole_blocks(void **state)
{
	struct baton_host host = { 0 };
	const size_t huge = 2u << 20, len = 2 * huge - 4096;
	char *p;

	(void)state;
	/* 2.6 MB for the fds and 1 MiB of image: two blocks, the last
	 * one's end in the block below. */
	if (!baton_prefault_start(&host, 4096, huge / 2))
		skip();
	p = malloc(len);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % huge, 2 * sizeof(size_t));
	/* Both blocks faulted in from this thread, where they are huge
	 * pages: nothing left for a prefaulter, and none was cloned. */
	if (anon_huge_kb(p) >= 4096)
		assert_int_equal(host.prefaulter, 0);
	memset(p, 0x3c, len);
	baton_prefault_stop(&host);
	assert_int_equal(host.prefaulter, 0);
	if (thp_on()) {
		/* One mapping to the block's end, both its 2 MiB in huge pages. */
		assert_int_equal(anon_huge_kb(p), anon_huge_kb(p + len - 1));
		assert_true(anon_huge_kb(p) >= 4096);
	}
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], 0x3c);
	free(p);
}

/*
 * Socket mode's, before the go: the same heap, faulted in at once - the
 * next block at the boundary, resident, in a huge page - and its held
 * block let go with the rest.
 */
static void test_now_in_huge_pages(void **state)
{
	struct baton_host host = { 0 };
	const size_t len = 1u << 20;
	char *p, *top, *from;
	size_t n;

	(void)state;
	/* A sanitizer's allocator: the heap does not move. */
	if (!baton_prefault_now(4096, 0))
		skip();
	p = malloc(len);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % (2u << 20), 2 * sizeof(size_t));
	/* Resident to the break before anything writes it (glibc's header
	 * of the top alone would fault the first huge page in). */
	top = (char *)sbrk(0);
	from = (char *)((uintptr_t)p & ~(page - 1));
	n = (size_t)(top - from) / page < PAGES ? (size_t)(top - from) / page : PAGES;
	assert_true(n > (2u << 20) / page);
	assert_int_equal(resident(from, n), n);
	if (thp_on())
		assert_true(anon_huge_kb(p) >= 2048);
	memset(p, 0x5a, len);
	baton_prefault_stop(&host);
	assert_int_equal(host.prefaulter, 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], 0x5a);
	free(p);
}

/* Stopped at once: it ends within its chunk, and is reaped. */
static void test_stops(void **state)
{
	struct baton_host host = { 0 };
	size_t len = 64u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)state;
	assert_ptr_not_equal(p, MAP_FAILED);
	assert_true(baton_prefault_range(&host, p, len));
	baton_prefault_stop(&host);
	assert_int_equal(host.prefaulter, 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG | __WALL), -1);
	/* A range with no whole page: nothing to start. */
	assert_false(baton_prefault_range(&host, p + 1, page - 2));
	assert_int_equal(host.prefaulter, 0);
	munmap(p, len);
}

/*
 * The old version's warm pages, for a restore of 4,096 fds: whole 2 MiB
 * blocks, resident (mincore() says), in huge pages where the kernel has
 * them, in no child a fork makes (the keeper forks after them: it would
 * keep them from being freed), and gone once freed.  A few fds, none.
 */
static void test_warm(void **state)
{
	const size_t huge = 2u << 20;
	struct update u = { 0 }, few = { 0 };
	unsigned char vec;
	siginfo_t info = { 0 };
	uintptr_t first;
	pid_t pid;

	(void)state;
	baton_prefault_warm(&few, 16);
	assert_null(few.warm);
	baton_prefault_warm(&u, 4096);
	if (!u.warm)
		skip();		/* one CPU */
	first = ((uintptr_t)u.warm + huge - 1) & ~(uintptr_t)(huge - 1);
	assert_true(u.warm_len >= 2 * huge + huge);
	assert_int_equal(resident((char *)first, 2 * huge / page), 2 * huge / page);
	if (thp_on())
		assert_true(anon_huge_kb((void *)first) >= 4096);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(mincore((void *)first, page, &vec) == -1 && errno == ENOMEM ? 0 : 1);
	assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED), 0);
	assert_int_equal(info.si_code, CLD_EXITED);
	assert_int_equal(info.si_status, 0);
	baton_prefault_warm_free(&u);
	assert_null(u.warm);
	assert_int_equal(mincore((void *)first, page, &vec), -1);
	assert_int_equal(errno, ENOMEM);
	baton_prefault_warm_free(&u);
}

/*
 * The heap's tests, each in a process of its own, as a new version's
 * restore is: glibc's thresholds, once raised by one, leave the next
 * nothing to move.
 */
static const struct CMUnitTest heap_tests[] = {
	cmocka_unit_test(test_start_in_huge_pages),
	cmocka_unit_test(test_start_whole_blocks),
	cmocka_unit_test(test_now_in_huge_pages),
};

/* Run the heap test named @state as "test_prefault heap NAME": passed, or skipped. */
static void test_alone(void **state)
{
	char *argv[] = { "test_prefault", "heap", *state, NULL };
	siginfo_t info = { 0 };
	pid_t pid = fork();
	int pidfd;

	assert_true(pid >= 0);
	if (!pid) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	assert_true(pidfd >= 0);
	/* Bounded: a prefaulter that never stopped would hold it. */
	if (poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 60000) != 1)
		kill(pid, SIGKILL);
	close(pidfd);
	assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED), 0);
	assert_int_equal(info.si_code, CLD_EXITED);
	if (info.si_status == 77)
		skip();
	assert_int_equal(info.si_status, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_populates_without_writing),
		cmocka_unit_test(test_stops),
		cmocka_unit_test(test_range_in_huge_pages),
		cmocka_unit_test(test_warm),
		cmocka_unit_test_prestate(test_alone, "test_start_in_huge_pages"),
		cmocka_unit_test_prestate(test_alone, "test_start_whole_blocks"),
		cmocka_unit_test_prestate(test_alone, "test_now_in_huge_pages"),
	};
	const char *preload = getenv("LD_PRELOAD");
	void *q;

	page = (size_t)sysconf(_SC_PAGESIZE);
	q = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (preload && strstr(preload, "vgpreload")) {
		printf("# skipped: under valgrind\n");
		return 77;
	}
	if (q == MAP_FAILED || madvise(q, page, MADV_POPULATE_WRITE)) {
		printf("# skipped: no MADV_POPULATE_WRITE here\n");
		return 77;
	}
	munmap(q, page);
#if !defined(__x86_64__) && !defined(__aarch64__)
	printf("# skipped: no raw system calls on this architecture\n");
	return 77;
#endif
	if (argc == 3 && !strcmp(argv[1], "heap")) {
		for (size_t i = 0; i < sizeof(heap_tests) / sizeof(heap_tests[0]); i++)
			if (!strcmp(heap_tests[i].name, argv[2]))
				return _cmocka_run_group_tests(argv[2], &heap_tests[i], 1,
							       NULL, NULL) ? 1 : 0;
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
