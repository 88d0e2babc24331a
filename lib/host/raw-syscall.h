// SPDX-License-Identifier: MIT
/*
 * System calls without libc, for code running on a clone() of ours that
 * shares our address space but is no thread libc set up (mm.c's holder,
 * prefault.c's prefaulter): no errno, no TLS, no cancellation point.
 * HAVE_RAW_SYSCALL where such a clone runs here: this architecture has
 * them here (x86-64, arm64), and the build is not ThreadSanitizer's.
 *
 * ThreadSanitizer takes clone() for a fork and runs its fork bookkeeping
 * in the child as well, which with CLONE_VM shares the parent's thread
 * state: whichever of the two comes second fails a check and exits (66) -
 * the holder, or the program itself (kvcache --threads 4, in most of its
 * exec-mode updates).  A TSan build has no holder (exec mode pays the
 * teardown inside the blackout there) and no prefaulter.
 *
 * valgrind runs no clone() of that kind either: it reports "Unsupported
 * clone() flags" and ends the program.  A program run under it starts no
 * such clone (valgrind_runs_us(), read when one would start).
 */
#ifndef BATON_RAW_SYSCALL_H
#define BATON_RAW_SYSCALL_H

#include <stdbool.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

static inline bool valgrind_runs_us(void)
{
#ifdef RUNNING_ON_VALGRIND
	return RUNNING_ON_VALGRIND;
#else
	return false;
#endif
}

#if defined(__SANITIZE_THREAD__)
#define BATON_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BATON_TSAN 1
#endif
#endif

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(BATON_TSAN)
#define HAVE_RAW_SYSCALL 1

static inline long raw4(long n, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile ("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			  : "rcx", "r11", "memory");
	return ret;
#else
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;

	__asm__ volatile ("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
			  : "memory");
	return x0;
#endif
}

static inline long raw3(long n, long a, long b, long c)
{
	return raw4(n, a, b, c, 0);
}
#endif

#endif /* BATON_RAW_SYSCALL_H */
