// SPDX-License-Identifier: MIT
/**
 * DOC: the new version's heap, faulted in on another CPU (or before the go)
 *
 * An exec-mode new version starts with an empty heap, and its restore
 * fills it inside the blackout: the image (read in, restore.c) and its
 * parse, the plan, the sessions, the devices and their drivers' structs,
 * ~2 KB a device in demo-host, each page first written to a page fault
 * that allocates and clears a page (~1-2.5 us each on the VMs measured
 * here: ~600 of them, ~0.6-1.5 ms, at 1,024 devices).  The work is the
 * kernel's, and needs no more than the address: so, once the handover
 * says how many fds came (a measure of the devices: ~3 a device) and how
 * long the image is, the heap is grown by what the restore will take,
 * untouched, and a prefaulter - a clone of ours sharing the address
 * space, like mm.c's holder - faults it in with MADV_POPULATE_WRITE, in
 * order, on the other CPU, while this one parses and restores.
 * Populating changes no byte (the pages were zero and stay zero): the
 * restore's own writes and the prefaulter's can meet on a page in any
 * order.  It stops when the restore is over, whatever is left
 * faulting in as before, and is reaped before baton_host_create() returns
 * (or execs the previous version back): no process is left, and a
 * program's waitpid(-1) never sees it (no exit signal).  Where the heap's
 * blocks are huge pages, this thread faults each in itself, a fault a
 * block, and nothing is left for a prefaulter (warm pages, below).
 *
 * Growing the heap: glibc's malloc raises its mmap threshold to the size
 * of an mmapped block freed (and its trim threshold to twice that), so a
 * block of twice the size freed, then one of the size, moves the program
 * break by that much and leaves it, as the top of the heap, to the
 * allocations that follow - the restore's big arrays included, which
 * would otherwise each have been an mmap() of fresh pages.  The program
 * keeps the threshold glibc set, as it would after freeing any block that
 * size.  Whether the break moved is checked: another allocator (ASan's,
 * valgrind's) or a program that fixed the threshold (mallopt()) leaves it
 * where it was, and nothing is prefaulted.  Nor on one CPU, where it
 * would only take turns with the restore, nor for a few devices (less
 * than PREFAULT_MIN), nor where there are no raw system calls here
 * (raw-syscall.h) or the kernel has no MADV_POPULATE_WRITE (before Linux
 * 5.14: the first call fails and it stops).
 *
 * Huge pages: populated or not, each 4 KiB page's first touch by the new
 * process costs more again under a hypervisor that keeps its own tables
 * of the guest's (~5.5 us a page on this VM: 1,024 populated heap pages
 * took 5.6 ms to write once, 2.9 ms with 512 of them in one transparent
 * huge page), and a new process's tables are all new.  So the heap is
 * grown to whole 2 MiB blocks, marked MADV_HUGEPAGE before anything
 * touches them, and the top of the heap below the first boundary is held
 * in a block of its own (hold_head(); never touched, freed when the
 * prefaulter stops), so that what the restore allocates next starts in a
 * huge page.
 * Where the kernel has no transparent huge pages for the program (THP
 * "never", pages other than 4 KiB) the pages stay 4 KiB and the held
 * block is address space only; under glibc's MALLOC_PERTURB_, which
 * writes every block handed out, the grown heap is touched before it
 * could be marked.
 *
 * Warm pages: where the hypervisor takes back the memory a guest frees
 * (free page reporting: this VM reports free blocks of 2 MiB and up),
 * the first touch of a page it no longer backs is a fault in the host for
 * each 4 KiB of it, and a huge page's clearing took 4-7 ms instead of
 * 0.1-0.2, in the blackout, in 15-60% of the updates at 1,024 devices -
 * whichever page the kernel picked.  So exec mode's old version, at the
 * update's start while the program serves, faults in as many huge pages
 * as the new version's heap will take (the same estimate, the image's
 * share guessed from the fds), kept from the keeper and any other child a
 * fork makes, and frees them just before FREEZE (baton_prefault_warm()).
 * A CPU's freed pages go on its own lists, and the last freed is handed
 * out first: so the new version's main thread, on the CPU the exec
 * started on, faults a page of each whole block itself (the block, where
 * it is a huge page) and takes the old version's, ~5 ms after they were
 * freed; the prefaulter, on the other CPU, would take that one's (the
 * kernel's kmem:mm_page_alloc events say which page went where).  At
 * 1,024 devices, 50 updates each way taking turns in blocks of ten
 * against the build without either: a stall in 2 against 8; the median,
 * which no stall reached either way, 6.94 against 6.79 ms - the main
 * thread clears the second block itself, ~0.15 ms.  Where the host takes
 * nothing back it costs the update's start the populate, ~0.3 ms at 1,024
 * devices.  With every whole block a huge page in already there is
 * nothing left worth a prefaulter, and none is cloned (blocks_resident()):
 * the phase's median 0.49 against 0.63 ms, the blackout's 6.16 against
 * 6.46, 50 updates each way at 1,024 devices.
 *
 * Socket mode's new version restores in a process of its own too, but
 * has the PREPARE image - and the number of fds it names - while the
 * program still serves: there the same heap is grown, marked and faulted
 * in at once, once it has planned (baton_prefault_now()), with no clone,
 * before the commit holds the program.
 *
 * Started once the image is parsed instead, the prefaulter had less of a
 * head start: at 1,024 devices, taking turns with the build before it
 * (12 rounds, load 4-14), the blackout's median was 0.43 ms longer
 * paired, where started before the parse it was 0.27 ms shorter; nor
 * does it help at nice 19, where it got too little of the other CPU to
 * keep ahead (the devices phase still had 79 of its 186 faults).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host-internal.h"
#include "host/raw-syscall.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PREFAULT_PER_FD		640u		/* demo-host's restore, measured */
#define PREFAULT_IMAGE_PER_FD	256u		/* its image: 652 KiB for 3,078 fds */
#define PREFAULT_MIN		(256u << 10)	/* below: a few devices, not worth a clone */
#define PREFAULT_MAX		(8u << 20)	/* x2 under glibc's 32 MiB threshold cap */
#define PREFAULT_CHUNK		(64u << 10)	/* between looks at the stop word */
#define PREFAULT_STACK		(16u << 10)
#define PREFAULT_HUGE		(2u << 20)	/* a PMD's span, 4 KiB pages */

#ifdef HAVE_RAW_SYSCALL
static struct {
	uintptr_t start, end;	/* page-aligned */
	uint32_t stop;
	void *filler;		/* hold_head()'s, until stopped */
} range;

static const char prefaulter_name[] = "baton-prefault";

/*
 * The prefaulter: populate the range in order, until told to stop.  Named
 * (what a process list shows, and a test's reap logs one left behind).
 */
__attribute__((no_sanitize("address", "undefined")))
static int prefaulter(void *arg)
{
	(void)arg;
	raw3(SYS_prctl, PR_SET_NAME, (long)prefaulter_name, 0);
	for (uintptr_t at = range.start; at < range.end &&
	     !__atomic_load_n(&range.stop, __ATOMIC_ACQUIRE); at += PREFAULT_CHUNK) {
		uintptr_t len = range.end - at < PREFAULT_CHUNK ? range.end - at : PREFAULT_CHUNK;

		if (raw3(SYS_madvise, (long)at, (long)len, MADV_POPULATE_WRITE) < 0)
			break;
	}
	raw3(SYS_exit, 0, 0, 0);
	return 0;
}

/* @at, or the next 2 MiB boundary above it. */
static uintptr_t huge_up(uintptr_t at)
{
	return (at + PREFAULT_HUGE - 1) & ~(uintptr_t)(PREFAULT_HUGE - 1);
}

/*
 * The whole 2 MiB blocks of [@start, @end) in huge pages where the kernel
 * has them: before anything touches them (a block with a 4 KiB page in it
 * stays in 4 KiB pages).
 */
static void mark_huge(uintptr_t start, uintptr_t end)
{
	uintptr_t from = huge_up(start), to = end & ~(uintptr_t)(PREFAULT_HUGE - 1);

	if (sysconf(_SC_PAGESIZE) == 4096 && from < to)
		madvise((void *)from, to - from, MADV_HUGEPAGE);
}

/* The bytes of the top of glibc's heap, below the break; 0 if unknown. */
static size_t top_size(void)
{
#ifdef __GLIBC__
#if __GLIBC_PREREQ(2, 33)
	return mallinfo2().keepcost;
#endif
#endif
	return 0;
}

/*
 * Move the program break, untouched, to the end of the whole 2 MiB blocks
 * that hold @bytes from the first boundary above it: its new span, or
 * false.  The block cut from the top starts where the top does, below the
 * break, and glibc writes the new top's header where it ends: so it is as
 * much longer, and the header lands past the span (inside it, it would
 * keep the block it fell in out of a huge page for good).
 */
static bool grow_heap(size_t bytes, uintptr_t *start, uintptr_t *end)
{
	uintptr_t before = (uintptr_t)sbrk(0), after;
	size_t span, want;
	void *volatile p;

	if (before == (uintptr_t)-1)
		return false;
	span = huge_up(huge_up(before) + bytes) - before;
	want = span + top_size();
	/* Volatile: a compiler may drop a malloc() whose block is only freed. */
	p = malloc(2 * want);
	/* Freed mmapped, it raises the threshold to twice @want, and the
	 * trim threshold to four times: the top stays... */
	free(p);
	/* ...and this one comes from the top of the heap, moved by as much. */
	p = malloc(want);
	free(p);
	after = (uintptr_t)sbrk(0);
	if (after == (uintptr_t)-1 || after < before + span)
		return false;
	*start = before;
	*end = after;
	return true;
}

/*
 * Hold the top of the heap below @boundary in a block of its own, never
 * touched, so that the next block malloc() cuts from the top starts
 * there: whether it does (glibc's chunk layout, checked rather than
 * assumed).
 */
static bool hold_head(uintptr_t boundary)
{
	/* Where the top starts: a first block there says (volatile, as in
	 * grow_heap(): a malloc() only freed may be dropped). */
	void *volatile p = malloc(PREFAULT_HUGE / 2);
	uintptr_t at = (uintptr_t)p;

	free(p);
	if (!p || at >= boundary)
		return false;
	/* Its chunk [at - 16, boundary): the request that makes it so. */
	p = malloc(boundary - at + sizeof(size_t));
	if (p && (uintptr_t)p == at &&
	    at + malloc_usable_size(p) - sizeof(size_t) == boundary) {
		range.filler = p;
		return true;
	}
	free(p);
	return false;
}

/* @range: the whole pages of [@start, @end); whether there are any. */
static bool set_range(uintptr_t start, uintptr_t end)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	range.start = (start + page - 1) & ~(page - 1);
	range.end = end & ~(page - 1);
	return range.start < range.end;
}

/*
 * Whether the whole 2 MiB blocks of @range are in already: huge pages,
 * which heap_for_restore() faulted from this thread, leave the prefaulter
 * nothing worth a clone (~0.15 ms); what follows the last is the top's
 * few pages.
 */
static bool blocks_resident(void)
{
	const uintptr_t to = range.end & ~(uintptr_t)(PREFAULT_HUGE - 1);
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec[PREFAULT_MAX / 4096];
	size_t n;

	if (range.start >= to || (to - range.start) / page > sizeof(vec) ||
	    mincore((void *)range.start, to - range.start, vec))
		return false;
	n = (to - range.start) / page;
	for (size_t i = 0; i < n; i++)
		if (!(vec[i] & 1))
			return false;
	return true;
}

/* The prefaulter over @range, marked: true if started. */
static bool clone_prefaulter(struct baton_host *host)
{
	sigset_t all, mask;
	void *stack;
	pid_t pid;

	stack = mmap(NULL, PREFAULT_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return false;
	__atomic_store_n(&range.stop, 0, __ATOMIC_RELEASE);
	/*
	 * Every signal blocked from its first instruction, as the holder's;
	 * our fd table and cwd shared, not copied (~3 fds a device).  No exit
	 * signal: only a wait for it by its pid (__WALL) reaps it.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &mask);
	pid = clone(prefaulter, (char *)stack + PREFAULT_STACK,
		    CLONE_VM | CLONE_FILES | CLONE_FS, NULL);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		munmap(stack, PREFAULT_STACK);
		return false;
	}
	host->prefaulter = pid;
	host->prefault_stack = stack;
	return true;
}
#endif

bool baton_prefault_range(struct baton_host *host, void *start, size_t len)
{
#ifdef HAVE_RAW_SYSCALL
	if (host->prefaulter > 0 || !set_range((uintptr_t)start, (uintptr_t)start + len))
		return false;
	mark_huge(range.start, range.end);
	return clone_prefaulter(host);
#else
	(void)host;
	(void)start;
	(void)len;
	return false;
#endif
}

#ifdef HAVE_RAW_SYSCALL
/* @n_fds fds at @per bytes a fd, at most PREFAULT_MAX. */
static size_t per_fd(size_t n_fds, size_t per)
{
	return n_fds < PREFAULT_MAX / per ? n_fds * per : PREFAULT_MAX;
}

/* The bytes a restore of @n_fds fds and an image of @image_len bytes will
 * take in the heap, at most PREFAULT_MAX. */
static size_t restore_bytes(size_t n_fds, size_t image_len)
{
	size_t bytes = per_fd(n_fds, PREFAULT_PER_FD);

	return image_len < PREFAULT_MAX - bytes ? bytes + image_len : PREFAULT_MAX;
}

/* Whether this process may run on two CPUs or more: else the new version's
 * restore would only take turns with its prefaulter. */
static bool two_cpus(void)
{
	cpu_set_t cpus;

	return !sched_getaffinity(0, sizeof(cpus), &cpus) && CPU_COUNT(&cpus) >= 2;
}

/*
 * The heap a restore of @n_fds fds and an image of @image_len bytes will
 * take, grown untouched to whole 2 MiB blocks from the first boundary
 * above the top, the blocks marked huge and the restore's next block
 * starting at the first of them: the span to fault in, or false (a few
 * devices, or not glibc's heap).  A restore that outgrew the last whole
 * block would go on in 4 KiB pages, each first touch costing as above:
 * 0.7-0.9 ms at 1,024 devices, where the image read into the heap (652
 * KiB) and the restore's 1.9 MB took 0.5 MiB past the one block they had.
 */
static bool heap_for_restore(size_t n_fds, size_t image_len, uintptr_t *start,
			     uintptr_t *end)
{
	size_t bytes = restore_bytes(n_fds, image_len);
	uintptr_t huge_start;

	if (bytes < PREFAULT_MIN || !grow_heap(bytes, start, end))
		return false;
	mark_huge(*start, *end);
	huge_start = huge_up(*start);
	if (huge_start + PREFAULT_HUGE <= *end && hold_head(huge_start))
		*start = huge_start;
	return true;
}
#endif

bool baton_prefault_start(struct baton_host *host, size_t n_fds, size_t image_len)
{
#ifdef HAVE_RAW_SYSCALL
	uintptr_t start, end;

	if (host->prefaulter > 0 || !two_cpus() ||
	    !heap_for_restore(n_fds, image_len, &start, &end))
		return false;
	/*
	 * A page of each whole block from this thread, as hold_head() did the
	 * first: the whole block where it is a huge page, taken from this
	 * CPU's lists - where the old version freed its warm ones - and not
	 * the prefaulter's CPU's.
	 */
	for (uintptr_t at = huge_up(start) + PREFAULT_HUGE; at + PREFAULT_HUGE <= end;
	     at += PREFAULT_HUGE)
		madvise((void *)at, 1, MADV_POPULATE_WRITE);
	/* Marked already, before hold_head() touched the heap. */
	if (set_range(start, end) && (blocks_resident() || clone_prefaulter(host)))
		return true;
	free(range.filler);
	range.filler = NULL;
	return false;
#else
	(void)host;
	(void)n_fds;
	(void)image_len;
	return false;
#endif
}

bool baton_prefault_now(size_t n_fds, size_t image_len)
{
#ifdef HAVE_RAW_SYSCALL
	uintptr_t start, end;

	if (!heap_for_restore(n_fds, image_len, &start, &end))
		return false;
	/* Before Linux 5.14 it fails: the pages fault in as before. */
	madvise((void *)start, end - start, MADV_POPULATE_WRITE);
	return true;
#else
	(void)n_fds;
	(void)image_len;
	return false;
#endif
}

void baton_prefault_stop(struct baton_host *host)
{
#ifdef HAVE_RAW_SYSCALL
	/* Never touched, by the prefaulter either: free at any time. */
	free(range.filler);
	range.filler = NULL;
	if (host->prefaulter <= 0)
		return;
	/* It finishes the chunk it is in (~16 pages), then exits. */
	__atomic_store_n(&range.stop, 1, __ATOMIC_RELEASE);
	baton_clone_reap(&host->prefaulter, &host->prefault_stack, PREFAULT_STACK, __WALL);
#else
	(void)host;
#endif
}

void baton_prefault_warm(struct update *u, size_t n_fds)
{
#ifdef HAVE_RAW_SYSCALL
	size_t bytes = restore_bytes(n_fds, per_fd(n_fds, PREFAULT_IMAGE_PER_FD));
	size_t blocks = huge_up(bytes), len;
	uintptr_t first;
	void *map;

	/* What the new version's heap_for_restore() grows, and only then. */
	if (u->warm || bytes < PREFAULT_MIN || !two_cpus())
		return;
	len = blocks + PREFAULT_HUGE;		/* room to align */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return;
	first = huge_up((uintptr_t)map);
	mark_huge(first, first + blocks);
	/* The keeper forks after this: shared with it, the pages would not
	 * be freed at FREEZE.  Before Linux 5.14 there is no populate: none. */
	if (madvise(map, len, MADV_DONTFORK) ||
	    madvise((void *)first, blocks, MADV_POPULATE_WRITE)) {
		munmap(map, len);
		return;
	}
	u->warm = map;
	u->warm_len = len;
#else
	(void)u;
	(void)n_fds;
#endif
}

void baton_prefault_warm_free(struct update *u)
{
	if (!u->warm)
		return;
	munmap(u->warm, u->warm_len);
	u->warm = NULL;
	u->warm_len = 0;
}
