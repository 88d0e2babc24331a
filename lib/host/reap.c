// SPDX-License-Identifier: MIT
/**
 * DOC: children told to go, reaped from the loop
 *
 * Three of the host's children end on their own time: after an exec-mode
 * update the keeper, told 'D' after FINISH, tears down its copy of the
 * program's address space and fd table (2-30 ms at 1,024 devices), and
 * the holder of the old address space (mm.c), told to go after FINISH,
 * frees what the previous version had in use (~40 ms a GiB); and a
 * socket-mode new process that said it could not restore exits (socket.c:
 * over a second, a sanitizer's leak check under load).  Waited for, each
 * would hold the program's loop - the last one, a program rolling back;
 * so once told to go a child is put here, and the loop reaps it:
 *
 *	baton_reap_later()   polled every 10 ms on one timer, reaped when it
 *			     has exited, SIGKILLed if still there at its
 *			     deadline (it only frees memory by then)
 *	exec                 an update that starts meanwhile does not wait
 *			     for them (back-to-back updates of a program with
 *			     GiBs in use): those still there at its execve()
 *			     stay our children, and cross it named in
 *			     BATON_REAP ("PID:DEADLINE_NS,..."), for the next
 *			     binary to go on polling - or for the previous
 *			     one, when the update goes back
 *	baton_reap_adopt()   the new version takes them on: only its own
 *			     children still running (waitpid() says so), each
 *			     by its deadline at the latest, so that a stale or
 *			     forged variable has it reap nothing of anyone
 *			     else's, nor wait longer than the bound
 *	baton_reap_all()     the host's end: what is left is given until
 *			     its deadline, REAP_END_NS at most, then killed
 *
 * Polled rather than watched on a pidfd: a pidfd would be one more fd in
 * the program's table while they go, which a program counting its fds
 * across an update (the fault matrix does) would take for a leak.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host-internal.h"

#define REAP_POLL_NS	(10 * 1000000ull)
/* The longest a child told to go is waited for: the holder freeing GiBs. */
#define REAP_MAX_NS	(10 * 1000000000ull)
/* The longest the host's end waits for them all, before it kills them. */
#define REAP_END_NS	(2 * 1000000000ull)
#define REAP_ENV	"BATON_REAP"
#define HOLDER_ENV	"BATON_MM_HOLDER"	/* mm.c adopts it */

void baton_child_reap(pid_t pid, int kill_after_ms)
{
	struct pollfd p = { .fd = pidfd_open(pid, 0), .events = POLLIN };

	if (p.fd >= 0) {
		if (poll(&p, 1, kill_after_ms) != 1)
			kill(pid, SIGKILL);
		close(p.fd);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Gone, or not ours after all: either way not ours to poll. */
static bool reaped(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) != 0;
}

static void reap_poll(struct timer *t, uint64_t now)
{
	struct baton_host *host = (struct baton_host *)((char *)t -
		offsetof(struct baton_host, reap_timer));
	size_t kept = 0;

	for (size_t i = 0; i < host->n_reaping; i++) {
		struct baton_reaping *c = &host->reaping[i];

		if (reaped(c->pid))
			continue;
		if (now >= c->kill_ns)
			kill(c->pid, SIGKILL);
		host->reaping[kept++] = *c;
	}
	host->n_reaping = kept;
	if (kept)
		baton_loop_arm(host, t, now + REAP_POLL_NS);
}

/**
 * baton_reap_later() - reap a child told to go from the host's loop
 * @host: the host whose child it is
 * @pid: the child, already told to go
 * @kill_ns: CLOCK_MONOTONIC time after which it is SIGKILLed
 *
 * A child already gone is reaped now.  With every slot taken (children
 * that outlive their deadline faster than updates come: never, short of
 * a kernel that does not deliver SIGKILL), the oldest is waited for.
 */
void baton_reap_later(struct baton_host *host, pid_t pid, uint64_t kill_ns)
{
	uint64_t now = baton_now_ns();

	if (pid <= 0 || reaped(pid))
		return;
	if (host->n_reaping == BATON_ARRAY_SIZE(host->reaping)) {
		const struct baton_reaping *old = &host->reaping[0];

		baton_child_reap(old->pid, old->kill_ns > now ?
				 (int)((old->kill_ns - now) / 1000000) : 0);
		host->n_reaping--;
		memmove(host->reaping, host->reaping + 1,
			host->n_reaping * sizeof(*host->reaping));
	}
	host->reaping[host->n_reaping++] = (struct baton_reaping){
		.pid = pid,
		.kill_ns = kill_ns < now + REAP_MAX_NS ? kill_ns : now + REAP_MAX_NS,
	};
	host->reap_timer.fire = reap_poll;
	baton_loop_arm(host, &host->reap_timer, now + REAP_POLL_NS);
}

/*
 * "BATON_MM_HOLDER=PID" and "BATON_REAP=PID:DEADLINE_NS,...", those there
 * are, into @vars, each malloc'd, then NULL.  -ENOMEM, none made.
 */
static int reap_vars(const struct baton_host *host, pid_t holder, char *vars[3])
{
	size_t n = 0, len = 0;
	char *list = NULL;
	FILE *f;

	vars[0] = vars[1] = vars[2] = NULL;
	if (holder > 0) {
		/* Left undefined by a failed asprintf(): not ours to free. */
		if (asprintf(&list, HOLDER_ENV "=%d", (int)holder) < 0)
			return -ENOMEM;
		vars[n++] = list;
		list = NULL;
	}
	if (!host->n_reaping)
		return 0;
	f = open_memstream(&list, &len);
	if (!f)
		goto nomem;
	fputs(REAP_ENV "=", f);
	for (size_t i = 0; i < host->n_reaping; i++)
		fprintf(f, "%s%d:%" PRIu64, i ? "," : "", (int)host->reaping[i].pid,
			host->reaping[i].kill_ns);
	if (fclose(f)) {
		free(list);
		goto nomem;
	}
	vars[n] = list;
	return 0;
nomem:
	free(vars[0]);
	vars[0] = NULL;
	return -ENOMEM;
}

/**
 * baton_reap_env() - an exec's environment that names our children
 * @host: the host about to exec
 * @holder: the holder of the address space the exec leaves (mm.c), still
 *	to be told to go after the next FINISH; 0 for none
 * @hv: the handover the exec carries
 * @out: its environment (baton_handover_env()), with BATON_MM_HOLDER and
 *	BATON_REAP for the next binary of this process to take on
 *
 * The update's exec, made before FREEZE, and a failed restore's going
 * back.
 *
 * Return: 0, or -ENOMEM (nothing made).
 */
int baton_reap_env(const struct baton_host *host, pid_t holder,
		   const struct baton_handover *hv, struct baton_env *out)
{
	char *vars[3];
	int err = reap_vars(host, holder, vars) ?: baton_handover_env(hv, vars, out);

	for (int i = 0; i < 3; i++)
		free(vars[i]);
	return err;
}

/**
 * baton_reap_adopt() - take on the children the previous binary named
 * @host: the new host
 * @restored: whether this binary was started by an exec of the update
 *	(or of its going back); any other start only drops the variable
 *
 * Read once and removed, so that no child of the program inherits it.
 * An entry that does not parse ends the list: what came before it is
 * taken on.
 */
void baton_reap_adopt(struct baton_host *host, bool restored)
{
	const char *s = getenv(REAP_ENV);
	char *copy = s && restored ? strdup(s) : NULL;

	unsetenv(REAP_ENV);
	for (char *p = copy, *end; p && *p; p = *end ? end + 1 : end) {
		long pid = strtol(p, &end, 10);
		unsigned long long kill_ns;

		if (end == p || *end != ':' || pid <= 0 || pid > INT32_MAX)
			break;
		p = end + 1;
		errno = 0;
		kill_ns = strtoull(p, &end, 10);
		if (end == p || errno || (*end && *end != ','))
			break;
		/* Only our own child, still there: waitpid() tells. */
		baton_reap_later(host, (pid_t)pid, kill_ns);
	}
	free(copy);
}

/**
 * baton_reap_all() - the host's end: reap every child left
 * @host: the host going away
 *
 * Each is given until its deadline, and all of them REAP_END_NS at most:
 * killed at once, one still writing a sanitizer's report would lose it.
 */
void baton_reap_all(struct baton_host *host)
{
	uint64_t end = baton_now_ns() + REAP_END_NS;

	baton_loop_disarm(host, &host->reap_timer);
	while (host->n_reaping) {
		const struct baton_reaping *r = &host->reaping[--host->n_reaping];
		uint64_t until = r->kill_ns < end ? r->kill_ns : end, now = baton_now_ns();

		baton_child_reap(r->pid, until > now ? (int)((until - now) / 1000000) : 0);
	}
}
