// SPDX-License-Identifier: MIT
/*
 * Children told to go, reaped from the host's loop (lib/host/reap.c): one
 * that exits is reaped, one still there at its deadline is killed, and
 * what crosses an exec in BATON_REAP is taken on only for our own
 * children - a forged entry naming another process has it neither
 * waited for nor killed.  The witness is waitpid() and kill(pid, 0), not
 * the host's own bookkeeping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

static struct baton_host *new_host(void)
{
	struct baton_host *host = calloc(1, sizeof(*host));

	assert_non_null(host);
	host->epfd = host->timerfd = -1;
	assert_int_equal(baton_loop_init(host), 0);
	return host;
}

static void free_host(struct baton_host *host)
{
	baton_reap_all(host);
	baton_loop_free(host);
	free(host);
}

/* A child that exits when @fd, the read end of a pipe whose write end is
 * @wfd, ends; -1: never. */
static pid_t child(int fd, int wfd)
{
	pid_t parent = getpid(), pid = fork();
	char c;

	assert_true(pid >= 0);
	if (!pid) {
		/* Gone with its parent, whatever a failed assertion skipped. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd < 0)
			for (;;)
				pause();
		close(wfd);
		_exit(read(fd, &c, 1) == 0 ? 0 : 1);
	}
	return pid;
}

/* Run the loop until nothing is left to reap, bounded (~3 s). */
static void loop_until_reaped(struct baton_host *host)
{
	for (int i = 0; i < 300 && host->n_reaping; i++) {
		struct pollfd p = { .fd = host->epfd, .events = POLLIN };

		assert_true(poll(&p, 1, 10) >= 0);
		assert_int_equal(baton_host_dispatch(host), 0);
	}
	assert_int_equal(host->n_reaping, 0);
}

/* Running, not killed: a zombie is what our kill would leave of it, its
 * parent not reaping it. */
static bool running(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state && state != 'Z' && state != 'X';
}

static void assert_reaped(pid_t pid)
{
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_reaped_once_gone(void **state)
{
	struct baton_host *host = new_host();
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = child(p[0], p[1]);
	close(p[0]);
	baton_reap_later(host, pid, baton_now_ns() + 5000000000ull);
	assert_int_equal(host->n_reaping, 1);
	close(p[1]);		/* told to go */
	loop_until_reaped(host);
	assert_reaped(pid);
	free_host(host);
}

static void test_killed_at_deadline(void **state)
{
	struct baton_host *host = new_host();
	pid_t pid = child(-1, -1);

	(void)state;
	baton_reap_later(host, pid, baton_now_ns());
	loop_until_reaped(host);
	assert_reaped(pid);
	free_host(host);
}

/*
 * The reap variables of the environment baton_reap_env() makes for an
 * exec of an empty handover, in their order, copied into @vars (then
 * NULL): those it names, and no other of those names.
 */
static void reap_env_vars(struct baton_host *host, pid_t holder, char *vars[3])
{
	struct baton_handover hv;
	struct baton_env env;
	size_t n = 0;

	baton_handover_init(&hv);
	assert_int_equal(baton_reap_env(host, holder, &hv, &env), 0);
	for (size_t i = 0; env.vars[i]; i++)
		if (!strncmp(env.vars[i], "BATON_MM_HOLDER=", 16) ||
		    !strncmp(env.vars[i], "BATON_REAP=", 11)) {
			assert_true(n < 2);
			vars[n] = strdup(env.vars[i]);
			assert_non_null(vars[n++]);
		}
	while (n < 3)
		vars[n++] = NULL;
	baton_handover_free_env(&env);
}

static void free_vars(char *vars[3])
{
	for (int i = 0; i < 3; i++)
		free(vars[i]);
}

/* Across an exec: both variables made for its environment, in order. */
static void test_cross_and_adopt(void **state)
{
	struct baton_host *host = new_host(), *next = new_host();
	uint64_t kill_ns = baton_now_ns() + 5000000000ull;
	pid_t a = child(-1, -1), b = child(-1, -1);
	char want[128], *vars[3];

	(void)state;
	baton_reap_later(host, a, kill_ns);
	baton_reap_later(host, b, kill_ns + 1);
	/* One the process inherited is replaced, not passed on beside. */
	setenv("BATON_REAP", "1:2", 1);
	reap_env_vars(host, 1234, vars);
	unsetenv("BATON_REAP");
	assert_string_equal(vars[0], "BATON_MM_HOLDER=1234");
	snprintf(want, sizeof(want), "BATON_REAP=%d:%" PRIu64 ",%d:%" PRIu64, (int)a,
		 kill_ns, (int)b, kill_ns + 1);
	assert_string_equal(vars[1], want);
	assert_null(vars[2]);
	free_vars(vars);
	/* Without a holder, the list alone; with no child either, nothing. */
	reap_env_vars(host, 0, vars);
	assert_string_equal(vars[0], want);
	assert_null(vars[1]);

	/* The next binary, in this process: the same children, by the same
	 * deadlines; the variable is gone once read. */
	assert_int_equal(putenv(vars[0]), 0);
	host->n_reaping = 0;	/* the exec leaves the old host behind */
	baton_reap_adopt(next, true);
	assert_null(getenv("BATON_REAP"));
	free_vars(vars);
	assert_int_equal(next->n_reaping, 2);
	assert_int_equal(next->reaping[0].pid, a);
	assert_true(next->reaping[0].kill_ns == kill_ns);
	assert_int_equal(next->reaping[1].pid, b);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	loop_until_reaped(next);
	assert_reaped(a);
	assert_reaped(b);
	free_host(next);
	reap_env_vars(host, 0, vars);
	assert_null(vars[0]);
	free_host(host);
}

/*
 * A forged or stale list: a process that is not our child (a grandchild
 * here) is neither waited for nor killed, though its deadline has passed;
 * a deadline past the bound is cut to it; an entry that does not parse
 * ends the list; a start that is not a restore takes on nothing.
 */
static void test_adopt_trusts_nothing(void **state)
{
	struct baton_host *host = new_host();
	int p[2], gp[2];
	pid_t mine = child(-1, -1), middle, grandchild;
	char list[256];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(gp), 0);
	middle = fork();
	assert_true(middle >= 0);
	if (!middle) {
		pid_t g;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		g = child(-1, -1);

		close(p[1]);
		_exit(write(gp[1], &g, sizeof(g)) == sizeof(g) && read(p[0], list, 1) >= 0 ? 0 : 1);
	}
	close(gp[1]);
	assert_int_equal(read(gp[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	close(gp[0]);

	snprintf(list, sizeof(list), "%d:0,%d:18446744073709551615,%d:x,%d:0",
		 (int)grandchild, (int)mine, (int)mine, (int)mine);
	setenv("BATON_REAP", list, 1);
	baton_reap_adopt(host, false);
	assert_null(getenv("BATON_REAP"));
	assert_int_equal(host->n_reaping, 0);

	setenv("BATON_REAP", list, 1);
	baton_reap_adopt(host, true);
	assert_int_equal(host->n_reaping, 1);
	assert_int_equal(host->reaping[0].pid, mine);
	assert_true(host->reaping[0].kill_ns <= baton_now_ns() + 10000000000ull);
	/* Its deadline passed: killed and reaped by the loop; not the other. */
	host->reaping[0].kill_ns = 0;
	loop_until_reaped(host);
	assert_reaped(mine);
	assert_true(running(grandchild));

	kill(grandchild, SIGKILL);
	close(p[1]);
	close(p[0]);
	assert_int_equal(waitpid(middle, NULL, 0), middle);
	free_host(host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaped_once_gone),
		cmocka_unit_test(test_killed_at_deadline),
		cmocka_unit_test(test_cross_and_adopt),
		cmocka_unit_test(test_adopt_trusts_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
