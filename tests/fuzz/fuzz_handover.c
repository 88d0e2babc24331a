// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what one version tells the next in the
 * environment (lib/host/handover.c), read by every process an update
 * starts before anything else: baton_handover_read() on an environment
 * built from the input.  Nothing read is trusted: any value must be read
 * or refused, and
 *
 *  - refused leaves nothing: the handover as baton_handover_init() makes
 *    it, no memory held;
 *  - either way, no BATON_* variable is left in the environment;
 *  - what is read, written back (baton_handover_env(), as the old version
 *    does), patched as the keeper patches it (baton_handover_patch(), a
 *    FREEZE_NS and a reason from the input) and as the old version
 *    patches its fds to close just before its exec (every other one
 *    kept, baton_handover_patch_close_fds()), and read again, is the
 *    same handover but for the patches.
 *
 * Input: records, each
 *
 *     var (1 byte), len (1 byte), len bytes
 *
 * (fewer if the input ends first): the variable names[var % NNAMES] set
 * to the bytes, up to the first NUL (an environment cannot hold one); a
 * later record of the same variable replaces it.  The last two names are
 * not the handover's: they must be left alone.  The patch takes its
 * freeze_ns from the first 8 bytes after the last whole record and its
 * reason from the rest.
 *
 * Seeds: tests/fuzz/corpus-handover/ (tests/fuzz/gen_corpora.py
 * handover): the environments an exec-mode update, a socket-mode one, a
 * dry run and the keeper's restart give, and values out of range.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

static const char *const names[] = {
	"BATON_IMAGE_FD", "BATON_FDS", "BATON_HANDOVER_FD", "BATON_DRY_RUN",
	"BATON_KEEPER_FD", "BATON_CELL_FD", "BATON_KEEPER_PID",
	"BATON_FREEZE_NS", "BATON_DEADLINE_NS", "BATON_PREV_ARGV",
	"BATON_ROLLBACK", "BATON_ROLLBACK_WHY", "BATON_FORCE", "BATON_ORPHAN",
	"BATON_CLOSE_FDS", "BATON_ORIGINAL_FDS", "BATON_IMAGE_FDS",
	"FUZZ_HANDOVER_OTHER",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
#define NOT_OURS 2

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "fuzz_handover: %s\n", what);
	abort();
}

static void check_environment_clean(void)
{
	for (size_t i = 0; i < NNAMES - NOT_OURS; i++)
		if (getenv(names[i]))
			die("a handover variable is left in the environment");
}

static bool same_argv(char **a, char **b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return a[i] == b[i];
}

static void check_same(const struct baton_handover *a, const struct baton_handover *b)
{
	if (a->role != b->role || a->image_fd != b->image_fd ||
	    a->channel_fd != b->channel_fd || a->report_fd != b->report_fd ||
	    a->keeper_fd != b->keeper_fd || a->cell_fd != b->cell_fd ||
	    a->keeper_pid != b->keeper_pid || a->deadline_ns != b->deadline_ns ||
	    a->rollback != b->rollback || a->force != b->force ||
	    a->orphan != b->orphan)
		die("a field read back is not the one written");
	if (a->n_fds != b->n_fds || !a->fds != !b->fds ||
	    (a->n_fds && memcmp(a->fds, b->fds, a->n_fds * sizeof(*a->fds))))
		die("the fds read back are not the ones written");
	if (a->n_close_fds != b->n_close_fds || !a->close_fds != !b->close_fds ||
	    (a->n_close_fds && memcmp(a->close_fds, b->close_fds,
				      a->n_close_fds * sizeof(*a->close_fds))))
		die("the fds to close read back are not the ones written");
	if (a->n_originals != b->n_originals || !a->originals != !b->originals ||
	    (a->n_originals && memcmp(a->originals, b->originals,
				      a->n_originals * sizeof(*a->originals))))
		die("the original fds read back are not the ones written");
	if (!same_argv(a->prev_argv, b->prev_argv))
		die("the previous argv read back is not the one written");
}

/* What the keeper's patch makes of @why in the room the writer left. */
static void patched_why(const char *why, char out[256])
{
	size_t len = strnlen(why, 255);

	memcpy(out, why, len);
	while (len && out[len - 1] == ' ')
		len--;
	out[len] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct baton_handover hv, again, init;
	struct baton_env env;
	static char vars[NNAMES][32 + 256];
	char why[256] = "", expect[256];
	size_t kept = 0;
	uint64_t freeze_ns = 0;
	bool in_order;
	size_t off = 0;
	int err;

	while (off + 2 <= size) {
		size_t var = data[off] % NNAMES, len = data[off + 1];

		if (len > size - off - 2)
			break;
		/*
		 * putenv() of our own buffer: glibc's setenv() keeps every
		 * value it was given, and millions of inputs would be memory.
		 */
		snprintf(vars[var], sizeof(vars[var]), "%s=%.*s", names[var],
			 (int)strnlen((const char *)data + off + 2, len), data + off + 2);
		if (putenv(vars[var]))
			die("putenv");
		off += 2 + len;
	}
	if (size - off >= 8) {
		memcpy(&freeze_ns, data + off, 8);
		off += 8;
	}
	if (size > off) {
		size_t len = size - off < sizeof(why) - 1 ? size - off : sizeof(why) - 1;

		memcpy(why, data + off, len);
		why[len] = '\0';
	}

	err = baton_handover_read(&hv);
	check_environment_clean();
	if (err) {
		baton_handover_init(&init);
		if (err > 0)
			die("a positive error");
		/* Field by field: the padding of a struct is anyone's. */
		check_same(&hv, &init);
		if (hv.freeze_ns || hv.why[0])
			die("a refused handover that is not empty");
		goto out;
	}

	if (baton_handover_env(&hv, NULL, &env))
		die("baton_handover_env");
	baton_handover_patch(&env, freeze_ns, why);
	for (size_t i = 0; i < hv.n_close_fds; i += 2)
		hv.close_fds[kept++] = hv.close_fds[i];
	baton_handover_patch_close_fds(&env, hv.close_fds, kept);
	hv.n_close_fds = kept;
	if (!kept) {
		free(hv.close_fds);
		hv.close_fds = NULL;
	}
	/* The inherited ones are there already: putenv() keeps them. */
	for (size_t i = 0; env.vars[i]; i++)
		if (putenv(env.vars[i]))
			die("putenv");
	/*
	 * The keeper's FREEZE must fall in order - after the commit's start,
	 * not after now, not after the deadline - or the reader refuses it
	 * (handover.c): refused exactly then.
	 */
	in_order = !freeze_ns || (hv.held_ns <= freeze_ns && freeze_ns <= baton_now_ns() &&
				  (!hv.deadline_ns || freeze_ns <= hv.deadline_ns));
	err = baton_handover_read(&again);
	check_environment_clean();
	if (err && in_order)
		die("what was written back is refused");
	if (!err && !in_order)
		die("a FREEZE out of order is taken");
	if (err)
		goto out_env;
	check_same(&hv, &again);
	if (again.freeze_ns != freeze_ns)
		die("the keeper's freeze_ns is not read back");
	patched_why(hv.rollback ? why : "", expect);
	if (strcmp(again.why, expect))
		die("the keeper's reason is not read back");
	baton_handover_release(&again);
out_env:
	baton_handover_free_env(&env);
	baton_handover_release(&hv);
out:
	for (size_t i = NNAMES - NOT_OURS; i < NNAMES; i++)
		unsetenv(names[i]);
	return 0;
}
