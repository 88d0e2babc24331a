// SPDX-License-Identifier: MIT
/*
 * What one version tells the next (lib/host/handover.c): every field comes
 * back as it was written - arguments with any byte in them, empty ones
 * included - the reader clears the environment, and a malformed value is
 * an error, never a guess.  Also the keeper's edits in place, the commit
 * cell (lib/host/keeper.c) only the first version to claim it wins, and
 * what the new version makes of what it was told (lib/host/restore.c): the
 * fds it was handed must be the ones the image lists, and the image a
 * sealed memfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

extern char **environ;

/* Make @env the process's environment, as an exec would. */
static void become(const struct baton_env *env)
{
	clearenv();
	for (size_t i = 0; env->vars[i]; i++) {
		char *name = strdup(env->vars[i]), *eq = strchr(name, '=');

		*eq = '\0';
		setenv(name, eq + 1, 1);
		free(name);
	}
}

static void test_round_trip(void **state)
{
	char *argv[] = { "/usr/bin/prog", "", "two words", "a\x1f" "b", "x:5:y", NULL };
	/* Every number of digits a fd may have, 0 and the largest. */
	int fds[] = { 3, 17, 0, 1023, 9, 10, 99, 100, 65536, INT_MAX },
	    close_fds[] = { 950, 4 }, originals[] = { 900, 0, 7 };
	struct baton_handover hv, back;
	struct baton_env env;

	(void)state;
	baton_handover_init(&hv);
	hv.image_fd = 9;
	hv.fds = fds;
	hv.n_fds = BATON_ARRAY_SIZE(fds);
	hv.keeper_fd = 5;
	hv.cell_fd = 6;
	hv.keeper_pid = 4242;
	hv.held_ns = 1234567890ull;	/* the past: FREEZE after the commit */
	hv.freeze_ns = 12345678901ull;
	hv.deadline_ns = UINT64_MAX;
	hv.prev_argv = argv;
	hv.rollback = true;
	snprintf(hv.why, sizeof(hv.why), "the new version died: \"really\"");
	hv.force = true;
	hv.orphan = BATON_OVERRIDE_RESET;
	hv.close_fds = close_fds;
	hv.n_close_fds = 2;
	hv.originals = originals;
	hv.n_originals = 3;
	assert_int_equal(baton_handover_env(&hv, NULL, &env), 0);
	become(&env);
	baton_handover_free_env(&env);
	/* As the systemd protocol writes them: decimal, comma-separated. */
	assert_string_equal(getenv("BATON_FDS"), "3,17,0,1023,9,10,99,100,65536,2147483647");
	assert_string_equal(getenv("BATON_CLOSE_FDS"), "950,4");

	assert_int_equal(baton_handover_read(&back), 0);
	assert_int_equal(back.role, BATON_ROLE_RESTORE);
	assert_int_equal(back.image_fd, 9);
	assert_int_equal(back.n_fds, BATON_ARRAY_SIZE(fds));
	assert_memory_equal(back.fds, fds, sizeof(fds));
	assert_int_equal(back.keeper_fd, 5);
	assert_int_equal(back.cell_fd, 6);
	assert_int_equal(back.keeper_pid, 4242);
	assert_true(back.held_ns == 1234567890ull);
	assert_true(back.freeze_ns == 12345678901ull);
	assert_true(back.deadline_ns == UINT64_MAX);
	for (int i = 0; argv[i]; i++)
		assert_string_equal(back.prev_argv[i], argv[i]);
	assert_null(back.prev_argv[5]);
	assert_true(back.rollback);
	assert_string_equal(back.why, "the new version died: \"really\"");
	assert_true(back.force);
	assert_int_equal(back.orphan, BATON_OVERRIDE_RESET);
	assert_int_equal(back.n_close_fds, 2);
	assert_memory_equal(back.close_fds, close_fds, sizeof(close_fds));
	assert_int_equal(back.n_originals, 3);
	assert_memory_equal(back.originals, originals, sizeof(originals));
	/* Read once: nothing the program starts later sees it. */
	assert_null(getenv("BATON_IMAGE_FD"));
	assert_null(getenv("BATON_PREV_ARGV"));
	baton_handover_release(&back);
}

/* A handover of the image at 9, FREEZE past, and the two lists a fd. */
static void with_lists(struct baton_handover *hv, int *fds, size_t n_fds, int *originals,
		       size_t n_originals)
{
	baton_handover_init(hv);
	hv->image_fd = 9;
	hv->fds = fds;
	hv->n_fds = n_fds;
	hv->originals = originals;
	hv->n_originals = n_originals;
	hv->freeze_ns = 12345678901ull;
}

/*
 * Written in runs for a reader that reads them (its dry run said so): each
 * ascending run of consecutive numbers FIRST-LAST, the rest as before,
 * and read back the same lists - as are one number a fd, which the keeper
 * and a rollback still write.
 */
static void test_fd_runs(void **state)
{
	int fds[] = { 5, 7, 12, 13, 14, 3088, 3089, 3090, 3091, 2, 1, 0,
		      INT_MAX - 1, INT_MAX },
	    originals[] = { 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 3, 4 };
	const char *written[][2] = {
		{ "5,7,12-14,3088-3091,2,1,0,2147483646-2147483647",
		  "0,0,9-18,3-4" },
		{ "5,7,12,13,14,3088,3089,3090,3091,2,1,0,2147483646,2147483647",
		  "0,0,9,10,11,12,13,14,15,16,17,18,3,4" },
	};
	struct baton_handover hv, back;
	struct baton_env env;

	(void)state;
	for (int runs = 1; runs >= 0; runs--) {
		with_lists(&hv, fds, BATON_ARRAY_SIZE(fds), originals, BATON_ARRAY_SIZE(originals));
		hv.fd_runs = runs;
		assert_int_equal(baton_handover_env(&hv, NULL, &env), 0);
		become(&env);
		baton_handover_free_env(&env);
		assert_string_equal(getenv("BATON_FDS"), written[!runs][0]);
		assert_string_equal(getenv("BATON_ORIGINAL_FDS"), written[!runs][1]);
		assert_int_equal(baton_handover_read(&back), 0);
		assert_int_equal(back.n_fds, BATON_ARRAY_SIZE(fds));
		assert_memory_equal(back.fds, fds, sizeof(fds));
		assert_int_equal(back.n_originals, BATON_ARRAY_SIZE(originals));
		assert_memory_equal(back.originals, originals, sizeof(originals));
		baton_handover_release(&back);
	}
}

/*
 * The marked fds, listed in the exec's environment before FREEZE and made
 * again in place just before the exec (update.c, linger.c): one number a
 * fd even to a reader of runs, so that any sublist fits where the list
 * was; none, and there is no variable at all - an empty list is no list.
 */
static void test_close_fds_patched(void **state)
{
	int fds[] = { 3 }, originals[] = { 900 }, close_fds[] = { 950, 11, 12, 13, 4 },
	    kept[] = { 11, 13, 4 };
	struct baton_handover hv, back;
	struct baton_env env;
	size_t n = 0;

	(void)state;
	clearenv();
	with_lists(&hv, fds, 1, originals, 1);
	hv.fd_runs = true;
	hv.close_fds = close_fds;
	hv.n_close_fds = BATON_ARRAY_SIZE(close_fds);
	assert_int_equal(baton_handover_env(&hv, NULL, &env), 0);
	for (size_t i = 0; env.vars[i]; i++)
		if (!strncmp(env.vars[i], "BATON_CLOSE_FDS=", 16))
			assert_string_equal(env.vars[i], "BATON_CLOSE_FDS=950,11,12,13,4");
	baton_handover_patch_close_fds(&env, kept, BATON_ARRAY_SIZE(kept));
	become(&env);
	assert_int_equal(baton_handover_read(&back), 0);
	assert_int_equal(back.n_close_fds, BATON_ARRAY_SIZE(kept));
	assert_memory_equal(back.close_fds, kept, sizeof(kept));
	baton_handover_release(&back);

	baton_handover_patch_close_fds(&env, NULL, 0);
	become(&env);
	assert_null(getenv("BATON_CLOSE_FDS"));
	assert_int_equal(baton_handover_read(&back), 0);
	assert_int_equal(back.n_close_fds, 0);
	assert_int_equal(back.n_fds, 1);
	baton_handover_release(&back);
	/* Only it is gone: all the others are still there, once. */
	while (env.vars[n])
		n++;
	assert_int_equal(n, env.n_own - 1);
	/* Its variable is still the environment's to free (ASan, valgrind). */
	baton_handover_free_env(&env);
}

static void test_roles(void **state)
{
	struct baton_handover hv;

	(void)state;
	clearenv();
	assert_int_equal(baton_handover_read(&hv), 0);
	assert_int_equal(hv.role, BATON_ROLE_COLD);
	setenv("BATON_IMAGE_FD", "3", 1);
	setenv("BATON_DRY_RUN", "4", 1);
	assert_int_equal(baton_handover_read(&hv), 0);
	assert_int_equal(hv.role, BATON_ROLE_DRY_RUN);
	setenv("BATON_HANDOVER_FD", "3", 1);
	assert_int_equal(baton_handover_read(&hv), 0);
	assert_int_equal(hv.role, BATON_ROLE_RECEIVE);
}

/* The environment an update writes for @hv: early, and read as @hv.role. */
static bool starts_early(const struct baton_handover *hv,
			 enum baton_role role)
{
	struct baton_env env;
	struct baton_handover back;
	bool early;

	assert_int_equal(baton_handover_env(hv, NULL, &env), 0);
	become(&env);
	early = baton_host_early_start();
	/* Only read, not taken: baton_handover_read() still finds it all. */
	assert_int_equal(baton_handover_read(&back), 0);
	assert_int_equal(back.role, role);
	baton_handover_release(&back);
	baton_handover_free_env(&env);
	return early;
}

/* Only a socket-mode update's new version starts ahead of the blackout. */
static void test_early_start(void **state)
{
	struct baton_handover hv;

	(void)state;
	clearenv();
	assert_false(baton_host_early_start());
	baton_handover_init(&hv);
	hv.image_fd = 3;
	hv.deadline_ns = UINT64_MAX;
	assert_false(starts_early(&hv, BATON_ROLE_RESTORE));
	hv.report_fd = 4;
	assert_false(starts_early(&hv, BATON_ROLE_DRY_RUN));
	hv.report_fd = -1;
	hv.image_fd = -1;
	hv.channel_fd = 3;
	assert_true(starts_early(&hv, BATON_ROLE_RECEIVE));
	hv.kexec = true;
	assert_false(starts_early(&hv, BATON_ROLE_RECEIVE));
}

static void test_malformed(void **state)
{
	static const char *const bad[][2] = {
		{ "BATON_IMAGE_FD", "" },
		{ "BATON_IMAGE_FD", "-1" },
		{ "BATON_IMAGE_FD", "3x" },
		{ "BATON_IMAGE_FD", "2147483648" },
		{ "BATON_FDS", "3,,4" },
		{ "BATON_FDS", "3,4," },
		{ "BATON_FDS", ",3" },
		{ "BATON_FDS", "3;4" },
		/* Runs ascend, and end. */
		{ "BATON_FDS", "5-5" },
		{ "BATON_FDS", "5-4" },
		{ "BATON_FDS", "5-" },
		{ "BATON_FDS", "-5" },
		{ "BATON_FDS", "3-5-7" },
		{ "BATON_FDS", "3,-5" },
		{ "BATON_FDS", "3-2147483648" },
		/* A few bytes that name more fds than a process has: refused
		 * before anything is allocated for them. */
		{ "BATON_FDS", "0-2147483647" },
		{ "BATON_FDS", "0-600000,0-600000" },
		{ "BATON_ORIGINAL_FDS", "3-1" },
		{ "BATON_CLOSE_FDS", "950," },
		{ "BATON_CLOSE_FDS", "-1" },
		{ "BATON_ORIGINAL_FDS", "900,-1" },
		{ "BATON_FREEZE_NS", "18446744073709551616" },
		{ "BATON_PREV_ARGV", "5:abc" },
		{ "BATON_PREV_ARGV", "3abc" },
		{ "BATON_PREV_ARGV", "99999999999999999999999:x" },
		{ "BATON_PREV_ARGV", "" },
		{ "BATON_ORPHAN", "sometimes" },
		/* A flag is "1" or not set: the writer writes nothing else. */
		{ "BATON_FDS_CHECKED", "yes" },
		{ "BATON_ROLLBACK", "" },
		{ "BATON_KEXEC", "0" },
	};
	struct baton_handover hv;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clearenv();
		setenv("BATON_IMAGE_FD", "3", 1);
		setenv(bad[i][0], bad[i][1], 1);
		assert_true(baton_handover_read(&hv) < 0);
		/* Nothing half-read is left to use, nor in the environment. */
		assert_null(hv.fds);
		assert_null(hv.prev_argv);
		assert_int_equal(hv.role, BATON_ROLE_COLD);
		assert_null(getenv(bad[i][0]));
	}
}

/*
 * The times must be in the order they were taken in - the commit's start,
 * FREEZE, then the reading - or the new version would report a blackout
 * (or a hold) of some 584 years: now - a later time, wrapped.  And FREEZE
 * comes before the update's deadline, or FINISH's own (the time left from
 * FREEZE to it) wraps too.
 */
static void test_times_out_of_order(void **state)
{
	static const char *const bad[][3] = {
		{ "18446744073709551615", "", "" },	/* FREEZE to come */
		{ "2000", "3000", "" },			/* held from after FREEZE */
		{ "3000", "", "2000" },			/* frozen past the deadline */
	};
	struct baton_handover hv;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clearenv();
		setenv("BATON_IMAGE_FD", "3", 1);
		setenv("BATON_FREEZE_NS", bad[i][0], 1);
		if (*bad[i][1])
			setenv("BATON_HELD_NS", bad[i][1], 1);
		if (*bad[i][2])
			setenv("BATON_DEADLINE_NS", bad[i][2], 1);
		assert_int_equal(baton_handover_read(&hv), -EINVAL);
		assert_int_equal(hv.role, BATON_ROLE_COLD);
		assert_null(getenv("BATON_HELD_NS"));
	}
	/* Held and frozen at once; or FREEZE never came (a version the
	 * keeper brought back before it): then no figure is reported. */
	clearenv();
	setenv("BATON_FREEZE_NS", "3000", 1);
	setenv("BATON_HELD_NS", "3000", 1);
	assert_int_equal(baton_handover_read(&hv), 0);
	assert_true(hv.held_ns == 3000 && hv.freeze_ns == 3000);
	setenv("BATON_FREEZE_NS", "0", 1);
	setenv("BATON_HELD_NS", "3000", 1);
	assert_int_equal(baton_handover_read(&hv), 0);
}

/* baton_linger_adopt() refuses @hv, -EINVAL, saying @what. */
static void assert_refused(const struct baton_handover *hv, const char *what)
{
	struct baton_diag why = { 0 };

	assert_int_equal(baton_linger_adopt(hv, &why), -EINVAL);
	assert_non_null(strstr(why.what, what));
}

/*
 * The marked fds an exec carries (lib/host/linger.c): listed at the commit
 * less any it hands over; just before the exec only those still open,
 * still the file marked and still close-on-exec, in their order, with
 * close-on-exec cleared - an inheritable one is the program's, left as it
 * is; and an exec that fails sets it back on them.  The witness is
 * fcntl(), not the list.
 */
static void test_linger_cross(void **state)
{
	struct baton_host *host = calloc(1, sizeof(*host));
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC),
	    c = eventfd(0, EFD_CLOEXEC), d = eventfd(0, EFD_CLOEXEC),
	    image = eventfd(0, EFD_CLOEXEC), null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	const int marked[] = { a, image, b, c, d };
	struct baton_handover hv;

	(void)state;
	assert_non_null(host);
	assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0 && image >= 0 && null >= 0);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(marked); i++)
		assert_int_equal(baton_host_close_after_finish(host, marked[i]), 0);
	baton_handover_init(&hv);
	hv.image_fd = image;
	assert_int_equal(baton_linger_plan(host, &hv), 0);
	assert_int_equal(hv.n_close_fds, 4);
	assert_int_equal(hv.close_fds[0], a);
	assert_int_equal(hv.close_fds[1], b);
	assert_int_equal(hv.close_fds[2], c);
	assert_int_equal(hv.close_fds[3], d);

	/* At freeze(): b another file at its number, c inheritable, d closed. */
	assert_int_equal(dup3(null, b, O_CLOEXEC), b);
	assert_int_equal(fcntl(c, F_SETFD, 0), 0);
	close(d);
	baton_linger_cross(host, hv.close_fds, &hv.n_close_fds);
	assert_int_equal(hv.n_close_fds, 1);
	assert_int_equal(hv.close_fds[0], a);
	assert_int_equal(fcntl(a, F_GETFD), 0);
	assert_int_equal(fcntl(b, F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(c, F_GETFD), 0);
	assert_int_equal(fcntl(image, F_GETFD), FD_CLOEXEC);
	baton_linger_keep(hv.close_fds, hv.n_close_fds);
	assert_int_equal(fcntl(a, F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(c, F_GETFD), 0);
	free(hv.close_fds);

	/* None left to cross: no list, so no variable (an empty one is
	 * refused by every reader). */
	host->n_lingering = 2;		/* a and the image */
	hv.fds = &a;
	hv.n_fds = 1;
	assert_int_equal(baton_linger_plan(host, &hv), 0);
	assert_null(hv.close_fds);
	assert_int_equal(hv.n_close_fds, 0);

	free(host->lingering);
	free(host);
	close(a);
	close(b);
	close(c);
	close(image);
	close(null);
}

/*
 * The fds to close after FINISH: each open, none handed over, none twice
 * (a second close() would close whatever took the number meanwhile, a
 * worker's socket say), none a standard stream.
 */
static void test_close_fds_checked(void **state)
{
	struct baton_handover hv;
	struct baton_diag why = { 0 };
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);
	int good[] = { a, b }, twice[] = { a, b, a }, stdio[] = { a, 2 };
	int handed[] = { b };

	(void)state;
	assert_true(a > 2 && b > 2);
	baton_handover_init(&hv);
	hv.close_fds = good;
	hv.n_close_fds = 2;
	assert_int_equal(baton_linger_adopt(&hv, &why), 0);
	hv.close_fds = twice;
	hv.n_close_fds = 3;
	assert_refused(&hv, "twice");
	hv.close_fds = stdio;
	hv.n_close_fds = 2;
	assert_refused(&hv, "standard");
	hv.close_fds = good;
	hv.n_close_fds = 2;
	hv.fds = handed;
	hv.n_fds = 1;
	assert_int_equal(baton_linger_adopt(&hv, &why), -EINVAL);
	close(b);
	hv.n_fds = 0;
	assert_int_equal(baton_linger_adopt(&hv, &why), -EBADF);
	close(a);
}

/*
 * The previous version's own numbers of the preserved fds: one per fd
 * handed over, none a standard stream, a fd handed over, a marked one or
 * there twice; one not open is no error (the program closed it).  Made
 * close-on-exec; after FINISH only those still their copy's file close.
 */
static void test_originals_checked(void **state)
{
	struct baton_handover hv;
	struct baton_diag why = { 0 };
	int copy1 = eventfd(0, EFD_CLOEXEC), orig1 = dup(copy1);
	int copy2 = eventfd(0, EFD_CLOEXEC), orig2 = eventfd(0, 0);
	int copy3 = eventfd(0, EFD_CLOEXEC), orig3 = dup(copy3);
	int fds[] = { copy1, copy2, copy3 }, good[] = { orig1, orig2, orig3 };
	int gone[] = { orig1, 0, 1000 }, stdio[] = { orig1, 1, 0 };
	int handed[] = { orig1, copy1, 0 }, twice[] = { orig1, orig1, 0 };
	int marked[] = { orig2 };
	const struct { int *originals; const char *what; } bad[] = {
		{ stdio, "standard" }, { handed, "handed over" }, { twice, "twice" },
	};

	(void)state;
	assert_true(orig1 > 2 && orig2 > 2 && orig3 > 2);
	baton_handover_init(&hv);
	hv.fds = fds;
	hv.n_fds = 3;
	hv.originals = good;
	hv.n_originals = 2;
	assert_refused(&hv, "BATON_ORIGINAL_FDS lists 2");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hv.originals = bad[i].originals;
		hv.n_originals = 3;
		assert_refused(&hv, bad[i].what);
	}
	hv.originals = good;
	hv.close_fds = marked;
	hv.n_close_fds = 1;
	assert_refused(&hv, "twice");
	hv.close_fds = NULL;
	hv.n_close_fds = 0;
	hv.originals = gone;
	assert_int_equal(baton_linger_adopt(&hv, &why), 0);
	fcntl(orig1, F_SETFD, 0);
	hv.originals = good;
	assert_int_equal(baton_linger_adopt(&hv, &why), 0);
	assert_int_equal(fcntl(orig1, F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(orig2, F_GETFD), FD_CLOEXEC);

	/* orig2 is another file than its copy; copy3 closed, so orig3 is
	 * left to the keeper's copy to tell: there is none here. */
	close(copy3);
	hv.originals = malloc(sizeof(good));
	memcpy(hv.originals, good, sizeof(good));
	baton_linger_check(&hv);
	assert_int_equal(hv.n_originals, 1);
	baton_linger_close(&hv);
	assert_true(fcntl(orig1, F_GETFD) < 0);
	assert_int_equal(fcntl(orig2, F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(copy1, F_GETFD), FD_CLOEXEC);
	close(copy1);
	close(copy2);
	close(orig2);
	close(orig3);
}

static void test_stale_variables_dropped(void **state)
{
	struct baton_handover hv;
	struct baton_env env;
	size_t n = 0;

	(void)state;
	clearenv();
	setenv("BATON_ROLLBACK", "1", 1);	/* left by some earlier update */
	setenv("BATON_FAULT", "kept", 1);	/* not a handover variable */
	setenv("HOME", "/root", 1);
	baton_handover_init(&hv);
	hv.image_fd = 3;
	assert_int_equal(baton_handover_env(&hv, NULL, &env), 0);
	for (size_t i = 0; env.vars[i]; i++) {
		n++;
		assert_true(strncmp(env.vars[i], "BATON_ROLLBACK=", 15));
	}
	/* BATON_IMAGE_FD, BATON_FREEZE_NS; then BATON_FAULT and HOME. */
	assert_int_equal(n, 4);
	baton_handover_free_env(&env);

	/* Another's variables come in after ours, copied, and replace the
	 * process's own of the same name - not one that begins alike. */
	setenv("BATON_REAP", "1:2", 1);
	setenv("BATON_REAPER", "kept", 1);
	{
		char reap[] = "BATON_REAP=7:8", holder[] = "BATON_MM_HOLDER=9";
		char *extra[] = { reap, holder, NULL };

		assert_int_equal(baton_handover_env(&hv, extra, &env), 0);
		reap[11] = '0';
	}
	n = 0;
	while (env.vars[n])
		n++;
	assert_int_equal(n, 7);
	assert_string_equal(env.vars[2], "BATON_REAP=7:8");
	assert_string_equal(env.vars[3], "BATON_MM_HOLDER=9");
	become(&env);
	baton_handover_free_env(&env);
	assert_string_equal(getenv("BATON_REAPER"), "kept");
	assert_string_equal(getenv("HOME"), "/root");
}

static void test_keeper_patch(void **state)
{
	struct baton_handover hv, back;
	struct baton_env env;

	(void)state;
	clearenv();
	baton_handover_init(&hv);
	hv.image_fd = 3;
	hv.rollback = true;
	assert_int_equal(baton_handover_env(&hv, NULL, &env), 0);
	baton_handover_patch(&env, 987654321, "the old version died during the update");
	become(&env);
	baton_handover_free_env(&env);
	assert_int_equal(baton_handover_read(&back), 0);
	assert_true(back.freeze_ns == 987654321);
	assert_string_equal(back.why, "the old version died during the update");
}

/* ---- The commit cell: the first to swing it from LIVE owns the program;
 * a version that comes after it has been swung does not ---- */

static void test_commit_cell(void **state)
{
	static const struct {
		uint32_t was;
		enum baton_cell_state asks;
		int err;
		uint32_t is;
	} cases[] = {
		/* (Winning, from LIVE, tells a keeper: the integration tests
		 * have one.)  Given up by the old version or the keeper: too late. */
		{ BATON_CELL_ABORTED, BATON_CELL_NEW, -BATON_ERR_ABANDONED, BATON_CELL_ABORTED },
		/* The other version took over first. */
		{ BATON_CELL_NEW, BATON_CELL_PREV, -BATON_ERR_ABANDONED, BATON_CELL_NEW },
		{ BATON_CELL_PREV, BATON_CELL_NEW, -BATON_ERR_ABANDONED, BATON_CELL_PREV },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct baton_handover hv;
		uint32_t *cell;

		baton_handover_init(&hv);
		hv.cell_fd = memfd_create("cell", MFD_CLOEXEC);
		assert_true(hv.cell_fd >= 0);
		assert_int_equal(ftruncate(hv.cell_fd, 4096), 0);
		cell = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, hv.cell_fd, 0);
		assert_true(cell != MAP_FAILED);
		*cell = cases[i].was;
		if (baton_keeper_commit(&hv, cases[i].asks) != cases[i].err || *cell != cases[i].is)
			fail_msg("cell %u, version asks %u: expected %d and cell %u, got cell %u",
				 cases[i].was, cases[i].asks, cases[i].err, cases[i].is, *cell);
		munmap(cell, 4096);
		close(hv.cell_fd);
	}
}

/* ---- The new version's restore ---- */

/*
 * The program is linked with tests/drivers' v2 set, as programs have
 * drivers; the image has no device, so they are not used.
 */

/* An image of generation 5 listing two fds: token 1 in the default
 * session, token 2 in session "s". */
static struct baton_image_fd image_fds[] = {
	{ .index = 0, .token = 1, .session = "", .kind = BATON_FD_EVENTFD },
	{ .index = 1, .token = 2, .session = "s", .kind = BATON_FD_EVENTFD },
};
static const struct baton_image image = {
	.format_version = BATON_IMAGE_FORMAT_VERSION,
	.generation = 5,
	.program = "test_handover",
	.n_fds = 2,
	.fds = image_fds,
};

/* Handed fds as an exec leaves them: not close-on-exec. */
static bool inherit_plain;

/* Start as a new version would, on @image_fd and BATON_FDS=@list, with the
 * variable @flag set to 1 when given; returns what baton_host_create() did. */
static int start_listing(int image_fd, const char *list, const char *flag,
			 struct baton_host **host)
{
	const struct baton_host_opts opts = { .program = "test_handover v2",
					      .exec_path = "/nonexistent" };
	char num[16];

	clearenv();
	snprintf(num, sizeof(num), "%d", image_fd);
	setenv("BATON_IMAGE_FD", num, 1);
	setenv("BATON_FDS", list, 1);
	if (flag)
		setenv(flag, "1", 1);
	*host = NULL;
	return baton_host_create(&opts, host);
}

/* A program that names no binary comes back to its own, by its real path. */
static void test_own_exec_path(void **state)
{
	const struct baton_host_opts opts = { .program = "test_handover" };
	char *real = realpath("/proc/self/exe", NULL);
	struct baton_host *host = NULL;

	(void)state;
	clearenv();
	assert_non_null(real);
	assert_int_equal(baton_host_create(&opts, &host), 0);
	assert_string_equal(host->exec_path, real);
	baton_host_destroy(host);
	free(real);
}

/* ...handed @n eventfds (their values 1, 2...). */
static int start_new_version(int image_fd, int *fds, size_t n, bool rollback,
			     struct baton_host **host)
{
	char list[64] = "";

	for (size_t i = 0; i < n; i++) {
		fds[i] = eventfd((unsigned)i + 1, inherit_plain ? 0 : EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
			 i ? "," : "", fds[i]);
	}
	return start_listing(image_fd, list, rollback ? "BATON_ROLLBACK" : NULL, host);
}

static void close_all(int image_fd, const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* The handed fds are the program's, failed restore or not. */
		assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
		close(fds[i]);
	}
	close(image_fd);
}

static uint64_t value(int fd)
{
	uint64_t v = 0;

	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	return v;
}

static void test_restore_fds(void **state)
{
	struct baton_session *s;
	struct baton_host *host;
	int fds[2], more[5], image_fd;

	(void)state;
	for (int rollback = 0; rollback < 2; rollback++) {
		image_fd = baton_serialize_write(&image);
		assert_true(image_fd >= 0);
		assert_int_equal(start_new_version(image_fd, fds, 2, rollback, &host), 0);
		assert_true(baton_host_restored(host));
		/* Coming back from a failed update's image: it did not happen. */
		assert_int_equal(baton_host_generation(host), rollback ? 4 : 5);
		/* Each fd into its session, by token. */
		assert_int_equal(value(baton_host_take_fd(host, 1)), 1);
		assert_int_equal(baton_host_session(host, "s", &s), 0);
		assert_int_equal(value(baton_session_take_fd(s, 2)), 2);
		assert_int_equal(baton_host_take_over(host), 0);
		/*
		 * "s" was made with room for the one fd the image lists for
		 * it: more preserved in it move to an array of their own,
		 * which grows, and every fd is still found by its token.
		 */
		for (uint64_t t = 3; t < 3 + BATON_ARRAY_SIZE(more); t++) {
			more[t - 3] = eventfd((unsigned int)t, EFD_CLOEXEC);
			assert_int_equal(baton_session_preserve_fd(s, t, more[t - 3],
								   BATON_FD_EVENTFD), 0);
		}
		assert_int_equal(baton_session_unpreserve_fd(s, 2), 0);
		assert_int_equal(baton_session_take_fd(s, 2), -ENOENT);
		for (uint64_t t = 3; t < 3 + BATON_ARRAY_SIZE(more); t++)
			assert_int_equal(value(baton_session_take_fd(s, t)), t);
		baton_host_destroy(host);
		close_all(-1, fds, 2);
		close_all(-1, more, BATON_ARRAY_SIZE(more));
	}
}

static void test_restore_fd_count(void **state)
{
	struct baton_host *host;
	int fds[3], image_fd;

	(void)state;
	/* More fds than the image lists, and fewer: not what was preserved. */
	for (size_t n = 1; n <= 3; n += 2) {
		image_fd = baton_serialize_write(&image);
		assert_true(image_fd >= 0);
		if (start_new_version(image_fd, fds, n, false, &host) != -EBADF)
			fail_msg("handed %zu fds for an image that lists 2: not refused", n);
		assert_null(host);
		close_all(image_fd, fds, n);
	}
}

/*
 * Inherited fds come without close-on-exec, and leave restore with it,
 * whether their numbers follow each other or not.
 */
static void test_restore_fds_cloexec(void **state)
{
	struct baton_host *host;
	int fds[2], image_fd, gap, free_slot;

	(void)state;
	inherit_plain = true;
	for (int spread = 0; spread < 2; spread++) {
		image_fd = baton_serialize_write(&image);
		assert_true(image_fd >= 0);
		/*
		 * A gap between the two, two runs of numbers: the first takes
		 * the free slot, the second goes past the gap.
		 */
		free_slot = spread ? eventfd(0, EFD_CLOEXEC) : -1;
		gap = spread ? eventfd(0, EFD_CLOEXEC) : -1;
		if (spread)
			close(free_slot);
		assert_int_equal(start_new_version(image_fd, fds, 2, false, &host),
				 0);
		if (spread)
			assert_int_equal(fds[1] - fds[0], 2);
		for (size_t i = 0; i < 2; i++)
			assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
		baton_host_destroy(host);
		close_all(-1, fds, 2);
		if (gap >= 0)
			close(gap);
	}
	inherit_plain = false;
}

/* A number the image's fds were handed as, closed before the restore. */
/*
 * BATON_FDS naming a fd that is not open; or one number twice, or the
 * image's own fd, which would give two preserved fds one file (a driver
 * closing one would close the other's): refused, the last two whether or
 * not the previous version says it checked them.
 */
static void test_restore_fd_list_refused(void **state)
{
	struct baton_host *host;
	char list[32];
	int image_fd, fd;

	(void)state;
	image_fd = baton_serialize_write(&image);
	assert_true(image_fd >= 0);
	fd = eventfd(1, 0);
	assert_true(fd >= 0);
	/* High enough that nothing the restore opens takes it. */
	close(1000);
	snprintf(list, sizeof(list), "%d,1000", fd);
	assert_int_equal(start_listing(image_fd, list, NULL, &host), -EBADF);
	assert_null(host);
	for (int checked = 0; checked < 2; checked++) {
		snprintf(list, sizeof(list), "%d,%d", fd, fd);
		assert_int_equal(start_listing(image_fd, list, checked ? "BATON_FDS_CHECKED" :
					       NULL, &host), -EINVAL);
		snprintf(list, sizeof(list), "%d,%d", fd, image_fd);
		assert_int_equal(start_listing(image_fd, list, checked ? "BATON_FDS_CHECKED" :
					       NULL, &host), -EINVAL);
		assert_null(host);
	}
	close(fd);
	close(image_fd);
}

static void test_restore_unsealed(void **state)
{
	struct baton_host *host;
	int fds[2], image_fd;
	size_t len;
	void *buf;

	(void)state;
	/* The right image, in a memfd anyone holding it could still change. */
	assert_int_equal(baton_image_write(&image, &buf, &len), 0);
	image_fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(image_fd >= 0);
	assert_int_equal(write(image_fd, buf, len), (ssize_t)len);
	free(buf);
	assert_int_equal(start_new_version(image_fd, fds, 2, false, &host), -EPERM);
	close_all(image_fd, fds, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fd_runs),
		cmocka_unit_test(test_close_fds_patched),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_early_start),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_times_out_of_order),
		cmocka_unit_test(test_linger_cross),
		cmocka_unit_test(test_close_fds_checked),
		cmocka_unit_test(test_originals_checked),
		cmocka_unit_test(test_stale_variables_dropped),
		cmocka_unit_test(test_keeper_patch),
		cmocka_unit_test(test_commit_cell),
		cmocka_unit_test(test_restore_fds),
		cmocka_unit_test(test_restore_fd_count),
		cmocka_unit_test(test_restore_fds_cloexec),
		cmocka_unit_test(test_restore_fd_list_refused),
		cmocka_unit_test(test_restore_unsealed),
		cmocka_unit_test(test_own_exec_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
