// SPDX-License-Identifier: MIT
/*
 * What one version tells the next (lib/host/handover.c): every field comes
 * back as it was written - arguments with any byte in them, empty ones
 * included - the reader clears the environment, and a malformed value is
 * an error, never a guess.  Also the keeper's edits in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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
	int fds[] = { 3, 17, 1023 };
	struct baton_handover hv, back;
	struct baton_env env;

	(void)state;
	baton_handover_init(&hv);
	hv.image_fd = 9;
	hv.fds = fds;
	hv.n_fds = 3;
	hv.keeper_fd = 5;
	hv.cell_fd = 6;
	hv.keeper_pid = 4242;
	hv.freeze_ns = 123456789012345ull;
	hv.deadline_ns = UINT64_MAX;
	hv.prev_argv = argv;
	hv.rollback = true;
	snprintf(hv.why, sizeof(hv.why), "the new version died: \"really\"");
	hv.force = true;
	hv.orphan = BATON_OVERRIDE_RESET;
	assert_int_equal(baton_handover_env(&hv, &env), 0);
	become(&env);
	baton_handover_free_env(&env);

	assert_int_equal(baton_handover_read(&back), 0);
	assert_int_equal(back.role, BATON_ROLE_RESTORE);
	assert_int_equal(back.image_fd, 9);
	assert_int_equal(back.n_fds, 3);
	assert_memory_equal(back.fds, fds, sizeof(fds));
	assert_int_equal(back.keeper_fd, 5);
	assert_int_equal(back.cell_fd, 6);
	assert_int_equal(back.keeper_pid, 4242);
	assert_true(back.freeze_ns == 123456789012345ull);
	assert_true(back.deadline_ns == UINT64_MAX);
	for (int i = 0; argv[i]; i++)
		assert_string_equal(back.prev_argv[i], argv[i]);
	assert_null(back.prev_argv[5]);
	assert_true(back.rollback);
	assert_string_equal(back.why, "the new version died: \"really\"");
	assert_true(back.force);
	assert_int_equal(back.orphan, BATON_OVERRIDE_RESET);
	/* Read once: nothing the program starts later sees it. */
	assert_null(getenv("BATON_IMAGE_FD"));
	assert_null(getenv("BATON_PREV_ARGV"));
	baton_handover_release(&back);
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
		{ "BATON_FREEZE_NS", "18446744073709551616" },
		{ "BATON_PREV_ARGV", "5:abc" },
		{ "BATON_PREV_ARGV", "3abc" },
		{ "BATON_PREV_ARGV", "99999999999999999999999:x" },
		{ "BATON_PREV_ARGV", "" },
		{ "BATON_ORPHAN", "sometimes" },
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
	assert_int_equal(baton_handover_env(&hv, &env), 0);
	for (size_t i = 0; env.vars[i]; i++) {
		n++;
		assert_true(strncmp(env.vars[i], "BATON_ROLLBACK=", 15));
	}
	/* BATON_IMAGE_FD, BATON_FREEZE_NS; then BATON_FAULT and HOME. */
	assert_int_equal(n, 4);
	baton_handover_free_env(&env);
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
	assert_int_equal(baton_handover_env(&hv, &env), 0);
	baton_handover_patch(&env, 987654321, "the old version died during the update");
	become(&env);
	baton_handover_free_env(&env);
	assert_int_equal(baton_handover_read(&back), 0);
	assert_true(back.freeze_ns == 987654321);
	assert_string_equal(back.why, "the old version died during the update");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_stale_variables_dropped),
		cmocka_unit_test(test_keeper_patch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
