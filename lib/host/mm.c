// SPDX-License-Identifier: MIT
/**
 * DOC: the old address space, torn down outside the blackout
 *
 * An exec-mode update replaces the program's address space inside
 * execve(), and the kernel frees the old one there, page table entry by
 * entry: ~40 ms a GiB of memory in use, inside the blackout, however
 * little of it the next version needs copied (nothing is).  The kernel
 * frees an address space when its last user goes.  So at the update's
 * start, after the preflight and while the program still serves (in the
 * commit, which holds it, the start took 0.05-1.9 ms, a wait for the child
 * to get a CPU), the old version starts a holder: a process sharing its
 * address space (CLONE_VM), holding no file, asleep.  At execve() the
 * program's address space then has a user left and is not freed; the
 * kernel wakes the holder - it clears the word set_tid_address() named and
 * wakes its futex whenever a task leaves an address space others still
 * use, as for vfork() - and the holder, now alone in the old address
 * space, waits on until the new version's FINISH: the new version sends it
 * SIGTERM once the blackout is over, and only then does it free the old
 * address space, on its own time: a slice at a time, asleep between slices
 * as long as it worked (holder_unmap_slowly()), then its exit frees what
 * is left; at nice 10 (a tenth of a CPU against the new version, when they
 * share one) and SCHED_BATCH, whatever the program's policy.  A batch task
 * does not preempt on waking: at nice 10 alone, woken by the SIGTERM, it
 * took the CPU it shared with the new version's main thread right after
 * FINISH (the kill() returned 1.3-2.3 ms later) while the clients the
 * update held waited to be answered; the exec wakes it too, inside the
 * blackout.  Freed as soon as the exec is done, the teardown competed with
 * the new version's restore for the CPUs and their caches: 1.1-2x the
 * blackout at 8 GiB in use, on two cores.  The new version reaps it: its
 * pid comes in BATON_MM_HOLDER; the host reaps it from its loop (reap.c)
 * once it has gone, and never leaves it behind.  A new version that dies,
 * or never finishes, does not keep it: it leaves when its parent is no
 * longer the program, or when the update's deadline has passed.
 *
 * The holder runs in the program's address space without a thread of its
 * own as libc sees it: it uses no libc function, no errno, no TLS - raw
 * system calls only, on a stack of its own.  Where there are no raw
 * system calls here (other than x86-64 and arm64), in a ThreadSanitizer
 * build, and under valgrind (raw-syscall.h), there is no holder, and exec
 * mode pays the teardown as before.  An update that does not exec
 * wakes it itself.  It blocks every signal from its first instruction (the
 * program's handlers are in its address space, for a thread libc set up):
 * the new version's SIGTERM is taken with sigtimedwait().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/host-internal.h"
#include "host/raw-syscall.h"

#define HOLDER_STACK	(64u << 10)
#define REAP_MS		10000	/* then it is killed: it only frees memory */

#ifdef HAVE_RAW_SYSCALL
#define HAVE_HOLDER 1

/*
 * Nonzero while the program has not exec'd; execve() clears it and wakes
 * the futex on it (set_tid_address()).  Shared, being in the one address
 * space.
 */
static uint32_t holder_word;
static uint64_t holder_deadline_ns;	/* the dry run's, then the update's */
static unsigned long holder_stack;	/* its lowest address */

#define HOLDER_STARTING	1	/* it still has our fds */
#define HOLDER_STOP	2	/* no exec: the program goes on in this address space */
#define HOLDER_NICE	10
#define HOLDER_ASLEEP	3	/* it holds no fd, and waits */
static const char holder_name[] = "baton-mm";

__attribute__((no_sanitize("address", "undefined")))
static uint64_t holder_now_ns(void)
{
	struct timespec now;

	raw3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&now, 0);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* The program is still its parent, and the update's deadline has not passed. */
__attribute__((no_sanitize("address", "undefined")))
static bool holder_needed(long parent)
{
	if (raw3(SYS_getppid, 0, 0, 0) != parent)
		return false;	/* it died: nobody will exec, or tell us */
	/* Past the update's deadline no exec comes, and no FINISH. */
	return holder_now_ns() <= __atomic_load_n(&holder_deadline_ns, __ATOMIC_ACQUIRE);
}

#define SLICE_MIN	(4ul << 20)
#define SLICES_MAX	1024	/* a mapping's, however large it is */
#define SLICE_BUSY_NS	1000000	/* of unmapping, then as long asleep */
#define MAPS_MAX	256	/* mappings freed a slice at a time; exit frees the rest */

/*
 * The mappings of the address space (/proc/self/maps: the holder's own,
 * the old program's) of SLICE_MIN or more that a page can be in (not
 * PROT_NONE: the reservations of allocators and sanitizers, terabytes of
 * address space with nothing to free), other than the one that holds
 * @code; how many, at most @max.  Parsed as it is read, a character at a
 * time: no libc here, nothing copied.
 */
__attribute__((no_sanitize("address", "undefined"), no_stack_protector))
static int holder_mappings(unsigned long (*maps)[2], int max, unsigned long code)
{
	static const char path[] = "/proc/self/maps";
	char buf[4096] __attribute__((uninitialized));
	unsigned long field[2] = { 0, 0 };
	int n = 0, state = 0;
	bool access = false;
	long fd, got;

	fd = raw4(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	while (n < max && (got = raw3(SYS_read, fd, (long)buf, sizeof(buf))) > 0) {
		for (long i = 0; i < got && n < max; i++) {
			char c = buf[i];

			if (state < 2 && c == (state ? ' ' : '-')) {
				state++;
			} else if (state < 2) {
				unsigned long d = c >= 'a' ? (unsigned long)(c - 'a' + 10) :
							     (unsigned long)(c - '0');
				field[state] = field[state] << 4 | (d & 0xf);
			} else if (state < 5) {
				access |= c != '-';	/* "rwx": any of them */
				state++;
			} else if (c == '\n') {
				if (access && field[1] - field[0] >= SLICE_MIN &&
				    !(code >= field[0] && code < field[1])) {
					maps[n][0] = field[0];
					maps[n][1] = field[1];
					n++;
				}
				field[0] = field[1] = 0;
				access = false;
				state = 0;
			}
		}
	}
	raw3(SYS_close, fd, 0, 0);
	return n;
}

/*
 * Unmap [@at, @end) a slice at a time, asleep once *@busy (how long it
 * has unmapped since it last slept) reaches SLICE_BUSY_NS, as long.  A
 * slice is SLICE_MIN, or a SLICES_MAX-th of the range if that is more:
 * address space never touched costs next to nothing to unmap, and a huge
 * mapping is seldom in use throughout (a sanitizer's shadow: 14 TiB).
 */
__attribute__((no_sanitize("address", "undefined"), no_stack_protector))
static void holder_unmap(unsigned long at, unsigned long end, uint64_t *busy)
{
	unsigned long slice = ((end - at) / SLICES_MAX + SLICE_MIN - 1) & ~(SLICE_MIN - 1);

	while (at < end) {
		unsigned long len = end - at < slice ? end - at : slice;
		uint64_t t = holder_now_ns();

		if (raw3(SYS_munmap, (long)at, (long)len, 0))
			return;	/* hugetlb, misaligned: exit frees it */
		at += len;
		*busy += holder_now_ns() - t;
		if (*busy >= SLICE_BUSY_NS) {
			const struct timespec rest = { 0, (long)*busy };

			raw4(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, (long)&rest, 0);
			*busy = 0;
		}
	}
}

/*
 * Free the old address space a slice at a time, asleep as long as it has
 * worked between two: what its exit would do in one pass, with the CPU
 * left to others every millisecond.  On a kernel without preemption
 * (PREEMPT_NONE, as here) the exit's teardown of a 256 MiB cache kept a
 * CPU 10-15 ms, the new version's threads runnable behind it, and a CPU
 * that busy is seldom balanced: kvcache's clients waited 40-60 ms right
 * after FINISH.  Kept: the holder's stack (@stack, HOLDER_STACK bytes -
 * the kernel may have merged it into the mapping beside it) and the
 * mapping of its code; exit frees them, and what did not fit the table.
 */
__attribute__((no_sanitize("address", "undefined"), no_stack_protector))
static void holder_unmap_slowly(unsigned long stack)
{
	unsigned long maps[MAPS_MAX][2] __attribute__((uninitialized));
	uint64_t busy = 0;
	int n;

	n = holder_mappings(maps, MAPS_MAX, (unsigned long)holder_unmap_slowly);
	for (int i = 0; i < n; i++) {
		unsigned long at = maps[i][0], end = maps[i][1];

		if (stack >= end || stack + HOLDER_STACK <= at) {
			holder_unmap(at, end, &busy);
			continue;
		}
		if (at < stack)
			holder_unmap(at, stack, &busy);
		if (stack + HOLDER_STACK < end)
			holder_unmap(stack + HOLDER_STACK, end, &busy);
	}
}

/*
 * The holder: hold the address space and nothing else, until the exec,
 * and then until the new version's FINISH.  Named baton-mm (what a
 * process list shows: a test's reap logs it, if the program dies before
 * reaping it); after the exec, when the address space is its alone, it
 * blanks argv[0] there too, so that nothing takes it for the program by
 * its command line.
 */
__attribute__((no_sanitize("address", "undefined")))
static int holder(void *arg)
{
	const struct timespec tick = { 0, 100000000 };
	const long parent = raw3(SYS_getppid, 0, 0, 0);
	const uint64_t finish = 1ull << (SIGTERM - 1);	/* the kernel's sigset */
	const struct sched_param batch = { 0 };
	uint32_t w = HOLDER_STARTING;
	char *argv0 = arg;

	/*
	 * Our copies of the program's fds first, at once: a connection the
	 * program closes at FREEZE must close for real (devsim resets the
	 * device); only then may the program go on, and we wait, idle.
	 */
	raw3(SYS_close_range, 0, 0xffffffffl, 0);
	raw3(SYS_prctl, PR_SET_NAME, (long)holder_name, 0);
	raw3(SYS_setpriority, PRIO_PROCESS, 0, HOLDER_NICE);
	raw3(SYS_sched_setscheduler, 0, SCHED_BATCH, (long)&batch);
	__atomic_compare_exchange_n(&holder_word, &w, HOLDER_ASLEEP, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	raw3(SYS_futex, (long)&holder_word, FUTEX_WAKE, 1);
	/*
	 * Every 100 ms it looks whether it is still needed: a program killed
	 * before its exec wakes nobody, and its address space is then the
	 * holder's alone - to free, by exiting, like any other.
	 */
	while ((w = __atomic_load_n(&holder_word, __ATOMIC_ACQUIRE)) == HOLDER_ASLEEP &&
	       holder_needed(parent))
		raw4(SYS_futex, (long)&holder_word, FUTEX_WAIT, HOLDER_ASLEEP, (long)&tick);
	if (w == 0) {
		/* Exec'd: the old address space is ours; freed after FINISH. */
		if (argv0)
			argv0[0] = '\0';
		while (holder_needed(parent) &&
		       raw4(SYS_rt_sigtimedwait, (long)&finish, 0, (long)&tick,
			    sizeof(finish)) != SIGTERM)
			;
		holder_unmap_slowly(holder_stack);
	}
	raw3(SYS_exit, 0, 0, 0);
	return 0;
}
#endif

int baton_mm_holder_start(struct update *u, uint64_t deadline_ns)
{
#ifdef HAVE_HOLDER
	sigset_t all, mask;
	void *stack;
	pid_t pid;
	int err;

	/* It reads the deadline where we write it, in our one address space. */
	__atomic_store_n(&holder_deadline_ns, deadline_ns, __ATOMIC_RELEASE);
	if (u->holder > 0 || valgrind_runs_us())
		return 0;
	stack = mmap(NULL, HOLDER_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	holder_stack = (unsigned long)stack;
	__atomic_store_n(&holder_word, HOLDER_STARTING, __ATOMIC_RELEASE);
	/*
	 * Every signal blocked from its first instruction: a handler of the
	 * program's would run on its stack, without the thread libc expects.
	 * No CLONE_FILES: it closes its copy of the table, ours stays as is.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &mask);
	pid = clone(holder, (char *)stack + HOLDER_STACK, CLONE_VM | SIGCHLD,
		    program_invocation_name);
	err = -errno;
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		munmap(stack, HOLDER_STACK);
		return err;
	}
	/*
	 * Until it has closed its copies of our fds.  Then its one job,
	 * freeing the old address space, runs at nice 10 and SCHED_BATCH: on
	 * a busy machine it would otherwise compete with the new version for
	 * a CPU, inside the blackout and right after it.  Not SCHED_IDLE:
	 * under a steady load that starved it for seconds, gigabytes not
	 * freed, across update after update; a batch task has its nice's
	 * share, and only gives up preempting when it wakes.
	 */
	while (__atomic_load_n(&holder_word, __ATOMIC_ACQUIRE) == HOLDER_STARTING) {
		const struct timespec tick = { 0, 100000000 };

		syscall(SYS_futex, &holder_word, FUTEX_WAIT, HOLDER_STARTING, &tick, NULL, 0);
		/* Gone before it said so (killed): no holder, then. */
		if (waitpid(pid, NULL, WNOHANG) != 0) {
			munmap(stack, HOLDER_STACK);
			return -ECHILD;
		}
	}
	u->holder = pid;
	u->holder_stack = stack;
#else
	(void)u;
	(void)deadline_ns;
#endif
	return 0;
}

/*
 * The thread's clear_child_tid is libc's (the word pthread_join() waits
 * on): kept, to be put back should the exec fail.  A kernel that cannot
 * say what it is (PR_GET_TID_ADDRESS needs CONFIG_CHECKPOINT_RESTORE) gets
 * no holder through the exec: its old address space is freed inside it.
 */
static int *libc_tid_address;

void baton_mm_holder_arm(struct update *u)
{
#ifdef HAVE_HOLDER
	if (u->holder <= 0)
		return;
	if (prctl(PR_GET_TID_ADDRESS, &libc_tid_address, 0, 0, 0)) {
		baton_mm_holder_stop(u);
		return;
	}
	syscall(SYS_set_tid_address, &holder_word);
#else
	(void)u;
#endif
}

void baton_mm_holder_disarm(struct update *u)
{
#ifdef HAVE_HOLDER
	if (u->holder > 0)
		syscall(SYS_set_tid_address, libc_tid_address);
#else
	(void)u;
#endif
}

void baton_clone_reap(pid_t *pid, void **stack, size_t stack_size, int flags)
{
	while (waitpid(*pid, NULL, flags) < 0 && errno == EINTR)
		;
	munmap(*stack, stack_size);
	*pid = 0;
	*stack = NULL;
}

void baton_mm_holder_stop(struct update *u)
{
#ifdef HAVE_HOLDER
	if (u->holder <= 0)
		return;
	/* It shares our address space: its exit frees nothing, and is quick. */
	__atomic_store_n(&holder_word, HOLDER_STOP, __ATOMIC_RELEASE);
	syscall(SYS_futex, &holder_word, FUTEX_WAKE, 1, NULL, NULL, 0);
	baton_clone_reap(&u->holder, &u->holder_stack, HOLDER_STACK, 0);
#else
	(void)u;
#endif
}

/* ---- The new version's side: let it go after FINISH, and reap it. ---- */

void baton_mm_holder_adopt(struct baton_host *host, bool restored)
{
	const char *s = getenv("BATON_MM_HOLDER");
	char *end;
	long pid;

	if (!s)
		return;
	pid = strtol(s, &end, 10);
	/* Read once, whatever the start: a child never inherits it. */
	unsetenv("BATON_MM_HOLDER");
	if (!restored)
		return;
	/* Only our own child, still there: a stale variable names another. */
	if (*end || pid <= 0 || pid > INT32_MAX || waitpid((pid_t)pid, NULL, WNOHANG) != 0)
		return;
	host->holder = (pid_t)pid;
}

void baton_mm_holder_release(struct baton_host *host)
{
	if (host->holder <= 0)
		return;
	/* FINISH is over (or this version gives up): it may free the memory. */
	kill(host->holder, SIGTERM);
	baton_reap_later(host, host->holder, baton_now_ns() + REAP_MS * 1000000ull);
	host->holder = 0;
}
