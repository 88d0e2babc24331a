// SPDX-License-Identifier: MIT
/**
 * DOC: phase timestamps, for the benchmarks
 *
 * Where an update's blackout goes is measured, not guessed: with
 *
 *   BATON_TRACE=PATH
 *
 * in the environment, the host notes the time (CLOCK_MONOTONIC) at each
 * phase boundary of an update - the old version's commit (the program's
 * prepare hook, the states, the image, the keeper's fork), FREEZE, image
 * and HANDOVER, the new version's start, its prefaulter's (prefault.c,
 * at scale), image parse, plan, fds, regions,
 * device restores, take over and FINISH - and appends them to PATH, one
 * line each, "NS PID PHASE MINFLT": MINFLT is the process's minor page
 * faults so far (getrusage()), so that what a phase spent faulting memory
 * in - a new process's heap, say - is counted, not guessed.  Notes are
 * kept in memory and written once per process and side (just before exec,
 * after FINISH), so that the trace costs the blackout a clock read and a
 * getrusage() a phase, not a write.  Both versions
 * append to the same file; bench/bench_devices.sh turns it into the
 * phase breakdown in docs/performance.md.  Without BATON_TRACE nothing is
 * noted.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host/host-internal.h"

#define TRACE_MAX 64

/*
 * Within one page: the notes the commit writes after the keeper's fork
 * make it the old version's own, so that one written in the blackout is
 * not the first write to a page the keeper shares, a fault the trace
 * would count against the phase (tests/integration/test_host.sh).
 */
static struct {
	int on;				/* 0: not looked yet, 1: on, -1: off */
	size_t n;
	struct { uint64_t ns; long minflt; const char *phase; } notes[TRACE_MAX];
} trace __attribute__((aligned(2048)));

_Static_assert(sizeof(trace) <= 2048, "the notes fit in one page");

void baton_trace(const char *phase)
{
	struct rusage ru;

	if (!trace.on)
		trace.on = getenv("BATON_TRACE") ? 1 : -1;
	if (trace.on < 0 || trace.n == TRACE_MAX)
		return;
	trace.notes[trace.n].ns = baton_now_ns();
	trace.notes[trace.n].minflt = getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_minflt;
	trace.notes[trace.n++].phase = phase;
}

void baton_trace_flush(void)
{
	const char *path = getenv("BATON_TRACE");
	char line[128];
	int fd;

	if (trace.on <= 0 || !trace.n || !path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	for (size_t i = 0; fd >= 0 && i < trace.n; i++) {
		int len = snprintf(line, sizeof(line), "%llu %d %s %ld\n",
				   (unsigned long long)trace.notes[i].ns, (int)getpid(),
				   trace.notes[i].phase, trace.notes[i].minflt);

		/* One write a line, O_APPEND: lines of two processes never mix. */
		if (write(fd, line, (size_t)len) != len)
			break;
	}
	if (fd >= 0)
		close(fd);
	trace.n = 0;
}
