// SPDX-License-Identifier: MIT
/**
 * DOC: fault injection, for the tests of the promise
 *
 * The promise - a failed update leaves the program running with nothing
 * lost - is tested by making each phase fail in each way that can happen
 * (tests/integration/fault_matrix.py, which writes docs/reliability.md).
 * Like the kernel's fail_* knobs, the points are in the code itself and do
 * nothing unless asked:
 *
 *   BATON_FAULT=PHASE:FAULT[@old|@new][,...]   BATON_FAULT_ONCE=PATH
 *
 * PHASE is one of the names below; FAULT is error (the phase fails with
 * EIO), nomem (with ENOMEM), emfile (the fd table is made full there, so
 * the phase's next fd fails for real), kill (SIGKILL), hang (the process
 * never returns), stop (the process writes its pid and a newline to the
 * FIFO BATON_FAULT_NOTIFY and stops itself with SIGSTOP, for a test to do
 * something at exactly that point - kill another process, hang up a
 * client - and continue it) or hold (the same word on BATON_FAULT_NOTIFY,
 * then the calling thread alone waits until a line, or end of file, comes
 * on the FIFO BATON_FAULT_RELEASE: the program's other threads run on, for
 * a test of what they do meanwhile; a line that begins with "error" makes
 * the phase fail with EIO then, for a failure at a moment the test picks).  @old and @new pick the process
 * that started the update or one an update started (the dry run's too);
 * without, either.  With BATON_FAULT_ONCE the fault fires in the first process to
 * create PATH, and in no other: a version the keeper brings back is not
 * killed again.  Several faults, comma-separated, pin several processes
 * at once (the fault matrix stops the new process at START and the old one
 * once it has sent everything, so that the old one dies at a known point);
 * each fires once, the first at PATH, the second at PATH.1, and so on; at
 * one phase in one process the first that names it counts.  BATON_FAULT
 * is read when the host is created (baton_host_create()), not at each
 * point: the points inside the blackout are passed once a device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host/host-internal.h"

static const char *const phase_names[BATON_FAULT_PHASES] = {
	[BATON_FAULT_PREFLIGHT] = "preflight",
	[BATON_FAULT_PREPARE] = "prepare",
	[BATON_FAULT_DRY_RUN] = "dry-run",
	[BATON_FAULT_COMMIT] = "commit",
	[BATON_FAULT_FREEZE] = "freeze",
	[BATON_FAULT_IMAGE] = "image",
	[BATON_FAULT_HANDOVER] = "handover",
	[BATON_FAULT_SPAWN] = "spawn",
	[BATON_FAULT_TRANSFER] = "transfer",
	[BATON_FAULT_SENT] = "sent",
	[BATON_FAULT_START] = "start",
	[BATON_FAULT_RESTORE] = "restore",
	[BATON_FAULT_TAKE_OVER] = "take-over",
	[BATON_FAULT_FINISH] = "finish",
};

/* Whether this process was started by an update: set at create. */
static bool started_by_update;

/*
 * BATON_FAULT, read when a host is created: a point a device is passed
 * once per device inside the blackout, and getenv() walks the whole
 * environment (0.39 us a call among 49 variables here: 0.4 ms a phase at
 * 1,024 devices).  NULL: no fault asked for.
 */
static char *fault_spec;

void baton_fault_set_new(bool is_new)
{
	const char *spec = getenv("BATON_FAULT");

	started_by_update = is_new;
	free(fault_spec);
	fault_spec = spec ? strdup(spec) : NULL;
}

/* The fd table is full from here on: the next fd number is the limit. */
static void fill_fd_table(void)
{
	struct rlimit rl;
	int next = dup(0);

	if (next < 0 || getrlimit(RLIMIT_NOFILE, &rl))
		return;
	close(next);
	rl.rlim_cur = (rlim_t)next;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Say where we are, on BATON_FAULT_NOTIFY: our pid and a newline. */
static void notify(void)
{
	const char *fifo = getenv("BATON_FAULT_NOTIFY");
	char line[16];
	int fd, len;

	fd = fifo ? open(fifo, O_WRONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
		(void)!write(fd, line, (size_t)len);
		close(fd);
	}
}

/*
 * This thread waits for the test's word on BATON_FAULT_RELEASE: -EIO when
 * it is "error", else 0 (end of file too: the test is gone, go on).
 */
static int hold_here(void)
{
	const char *fifo = getenv("BATON_FAULT_RELEASE");
	char word[5] = "";
	ssize_t n = 0;
	int fd;

	notify();
	fd = fifo ? open(fifo, O_RDONLY | O_CLOEXEC) : -1;
	while (fd >= 0 && (n = read(fd, word, sizeof(word))) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		close(fd);
	return n == sizeof(word) && !memcmp(word, "error", sizeof(word)) ? -EIO : 0;
}

static bool is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !strncmp(s, word, len);
}

/*
 * The fault word the @len bytes of one "PHASE:FAULT[@SIDE]" at @spec plant
 * at the phase @name in this process, its length in @wlen; or NULL.
 */
static const char *planted(const char *spec, size_t len, const char *name,
			   size_t *wlen)
{
	size_t n = strlen(name);
	const char *fault, *side;

	if (len <= n || strncmp(spec, name, n) || spec[n] != ':')
		return NULL;
	fault = spec + n + 1;
	side = memchr(fault, '@', len - n - 1);
	*wlen = side ? (size_t)(side - fault) : len - n - 1;
	if (side && !is(side, len - (size_t)(side - spec),
			started_by_update ? "@new" : "@old"))
		return NULL;
	return fault;
}

/* Whether fault @i fires here: this process is the first to create its
 * BATON_FAULT_ONCE file (PATH for the first fault, PATH.1 for the second...). */
static bool first_here(size_t i)
{
	const char *once = getenv("BATON_FAULT_ONCE");
	char path[4096];
	int fd;

	if (!once)
		return true;
	if (i)
		snprintf(path, sizeof(path), "%s.%zu", once, i);
	else
		snprintf(path, sizeof(path), "%s", once);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int baton_fault(enum baton_fault_phase phase)
{
	const char *spec = fault_spec, *fault = NULL;
	size_t len = 0, i;

	for (i = 0; spec && !fault; i++) {
		size_t n = strcspn(spec, ",");

		fault = planted(spec, n, phase_names[phase], &len);
		spec = spec[n] ? spec + n + 1 : NULL;
	}
	if (!fault || !first_here(i - 1))
		return 0;
	if (is(fault, len, "kill"))
		raise(SIGKILL);
	if (is(fault, len, "hang"))
		for (;;)
			pause();
	if (is(fault, len, "stop")) {
		notify();
		raise(SIGSTOP);
		return 0;
	}
	if (is(fault, len, "hold"))
		return hold_here();
	if (is(fault, len, "emfile")) {
		fill_fd_table();
		return 0;
	}
	return is(fault, len, "nomem") ? -ENOMEM : -EIO;
}
