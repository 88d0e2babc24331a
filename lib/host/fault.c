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
 *   BATON_FAULT=PHASE:FAULT[@old|@new]   BATON_FAULT_ONCE=PATH
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
 * a test of what they do meanwhile).  @old and @new pick the process
 * that started the update or one an update started (the dry run's too);
 * without, either.  With BATON_FAULT_ONCE the fault fires in the first process to
 * create PATH, and in no other: a version the keeper brings back is not
 * killed again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
	[BATON_FAULT_START] = "start",
	[BATON_FAULT_RESTORE] = "restore",
	[BATON_FAULT_TAKE_OVER] = "take-over",
	[BATON_FAULT_FINISH] = "finish",
};

/* Whether this process was started by an update: set at create. */
static bool started_by_update;

void baton_fault_set_new(bool is_new)
{
	started_by_update = is_new;
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

/* This thread waits for the test's word on BATON_FAULT_RELEASE. */
static void hold_here(void)
{
	const char *fifo = getenv("BATON_FAULT_RELEASE");
	char c;
	int fd;

	notify();
	fd = fifo ? open(fifo, O_RDONLY | O_CLOEXEC) : -1;
	/* A byte, or end of file (the test is gone): go on either way. */
	while (fd >= 0 && read(fd, &c, 1) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		close(fd);
}

static bool is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !strncmp(s, word, len);
}

int baton_fault(enum baton_fault_phase phase)
{
	const char *spec = getenv("BATON_FAULT"), *once = getenv("BATON_FAULT_ONCE");
	const char *name = phase_names[phase], *fault, *side;
	size_t len = strlen(name);
	int fd;

	if (!spec || strncmp(spec, name, len) || spec[len] != ':')
		return 0;
	fault = spec + len + 1;
	side = strchr(fault, '@');
	if (side && strcmp(side, started_by_update ? "@new" : "@old"))
		return 0;
	if (once) {
		fd = open(once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return 0;
		close(fd);
	}
	len = side ? (size_t)(side - fault) : strlen(fault);
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
	if (is(fault, len, "hold")) {
		hold_here();
		return 0;
	}
	if (is(fault, len, "emfile")) {
		fill_fd_table();
		return 0;
	}
	return is(fault, len, "nomem") ? -ENOMEM : -EIO;
}
