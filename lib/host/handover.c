// SPDX-License-Identifier: MIT
/**
 * DOC: what one version tells the next
 *
 * Everything a process started by an update needs besides the image - the
 * way the systemd protocol passes LISTEN_FDS - travels in its environment,
 * as the fields of one struct baton_handover, written by
 * baton_handover_env() and read by baton_handover_read(), both driven by
 * the one table below:
 *
 *   BATON_IMAGE_FD      the sealed image memfd
 *   BATON_FDS           each image fd's number, in image order: inherited
 *                       at it across exec (socket mode receives them)
 *   BATON_HANDOVER_FD   socket mode: the socket the images, the keeper,
 *                       the cell, the fds and FREEZE's time come on
 *                       (socket.c)
 *   BATON_DRY_RUN       a dry run: where the report goes
 *   BATON_KEEPER_FD, BATON_CELL_FD, BATON_KEEPER_PID
 *                       the keeper's channel, the commit cell, the keeper
 *   BATON_FREEZE_NS     CLOCK_MONOTONIC at FREEZE: the blackout's start
 *                       (socket mode: 0, the process starts before it)
 *   BATON_HELD_NS       ...at the commit's start: the program's hold's
 *                       (socket mode: 0, it comes with the commit)
 *   BATON_DEADLINE_NS   when the new version must have taken over
 *                       (socket mode: until the commit comes, which
 *                       brings the update's own)
 *   BATON_PREV_ARGV     how to start the previous binary again (each
 *                       argument as LENGTH:BYTES, so any byte may be in it)
 *   BATON_ROLLBACK, BATON_ROLLBACK_WHY
 *                       the previous version, coming back, and why
 *   BATON_FORCE, BATON_ORPHAN
 *                       the update's --force and --orphan, so the new
 *                       version plans as the preflight did
 *   BATON_KEXEC         started after a kexec (kexec.c): only the image
 *                       and the regions' memfds come on BATON_HANDOVER_FD
 *   BATON_FDS_CHECKED   every fd of BATON_FDS is the previous version's
 *                       copy, made and checked at its commit (update.c)
 *   BATON_CLOSE_FDS     the previous version's own fds that crossed the
 *                       exec only to be closed after FINISH, out of the
 *                       blackout (linger.c)
 *   BATON_ORIGINAL_FDS  the previous version's own number of each file of
 *                       BATON_FDS, image order, 0 where its exec kept it:
 *                       closed after FINISH while still that file (linger.c)
 *
 * A list of fds is their numbers, comma-separated, each ascending run of
 * consecutive numbers written FIRST-LAST ("5,7,12-14,3088-6160") where
 * the reader's library reads runs: its dry run says so ("fd_runs":true,
 * dryrun.c), and only the exec of a target that did is written so, and
 * not BATON_CLOSE_FDS, a few fds made again in place.
 * Whatever else starts a binary - the keeper, a rollback to the previous
 * one - writes one number an fd, as a library older than runs reads.  A
 * list of 3,078 fds at 1,024 devices is five runs, where one number a fd
 * was 15 KB that execve() copied inside the blackout (~0.35 ms with
 * BATON_ORIGINAL_FDS, perf) and the new version parsed again.  The reader
 * takes either, up to HANDOVER_FDS_MAX fds a list.
 *
 * An exec-mode commit makes its exec's whole environment before FREEZE,
 * once the keeper has forked (update.c): from the fork on, each page the
 * old version writes is a copy, a fault, and inside the blackout it
 * writes only what it learns there, in place - FREEZE's time, as the
 * keeper does (baton_handover_patch()), and the marked fds that may still
 * cross (baton_handover_patch_close_fds()).  Variables that are not the
 * handover's own, such as the children the next binary is to reap
 * (reap.c), come in with it, and replace any the process inherited.
 *
 * The reader removes them from the environment, so that nothing the
 * program starts later mistakes itself for a new version; the writer
 * drops any the process inherited.  Nothing read is trusted: a number out
 * of range, a malformed list, a flag other than "1" or times out of order
 * (BATON_HELD_NS after BATON_FREEZE_NS, or FREEZE still to come) is an
 * error, not a guess.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/host-internal.h"

extern char **environ;

/* fs.nr_open's default: no process has more fds open unless it is raised. */
#define HANDOVER_FDS_MAX (1u << 20)

enum field_type { FD, FDS, U64, PID, FLAG, ARGV, TEXT, ORPHAN };

struct field {
	const char *name;
	enum field_type type;
	size_t offset;
	size_t count;			/* FDS: where the number of them goes */
	/* FDS: in runs, FIRST-LAST, to a reader that reads them.  Not the
	 * marked fds: few, and made again in place just before the exec
	 * when one may no longer cross (one number a fd: a sublist fits). */
	bool runs;
};

#define FIELD(name, type, member) { name, type, offsetof(struct baton_handover, member), 0, false }
#define FDS_FIELD(name, member, n, runs) { name, FDS, offsetof(struct baton_handover, member), \
					   offsetof(struct baton_handover, n), runs }

static const struct field fields[] = {
	FIELD("BATON_IMAGE_FD", FD, image_fd),
	FDS_FIELD("BATON_FDS", fds, n_fds, true),
	FIELD("BATON_HANDOVER_FD", FD, channel_fd),
	FIELD("BATON_DRY_RUN", FD, report_fd),
	FIELD("BATON_KEEPER_FD", FD, keeper_fd),
	FIELD("BATON_CELL_FD", FD, cell_fd),
	FIELD("BATON_KEEPER_PID", PID, keeper_pid),
	FIELD("BATON_FREEZE_NS", U64, freeze_ns),
	FIELD("BATON_HELD_NS", U64, held_ns),
	FIELD("BATON_DEADLINE_NS", U64, deadline_ns),
	FIELD("BATON_PREV_ARGV", ARGV, prev_argv),
	FIELD("BATON_ROLLBACK", FLAG, rollback),
	FIELD("BATON_ROLLBACK_WHY", TEXT, why),
	FIELD("BATON_FORCE", FLAG, force),
	FIELD("BATON_ORPHAN", ORPHAN, orphan),
	FIELD("BATON_KEXEC", FLAG, kexec),
	FIELD("BATON_FDS_CHECKED", FLAG, fds_checked),
	FDS_FIELD("BATON_CLOSE_FDS", close_fds, n_close_fds, false),
	FDS_FIELD("BATON_ORIGINAL_FDS", originals, n_originals, true),
};

static const char *const orphan_names[] = {
	[BATON_OVERRIDE_NONE] = "",
	[BATON_OVERRIDE_QUARANTINE] = "quarantine",
	[BATON_OVERRIDE_RESET] = "reset",
};

void baton_handover_init(struct baton_handover *hv)
{
	*hv = (struct baton_handover){
		.image_fd = -1, .channel_fd = -1, .report_fd = -1,
		.keeper_fd = -1, .cell_fd = -1,
	};
}

void baton_handover_release(struct baton_handover *hv)
{
	free(hv->fds);
	free(hv->close_fds);
	free(hv->originals);
	baton_free_argv(hv->prev_argv);
	hv->fds = NULL;
	hv->close_fds = NULL;
	hv->originals = NULL;
	hv->prev_argv = NULL;
}

/* ---- Reading ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	if (end)
		*end = p;
	else if (*p)
		return -EINVAL;
	return 0;
}

/*
 * One item of a list at @s, "N" or "N-M" (M above N): its first and last
 * number, @s moved past it and its comma.
 */
static int parse_fd_run(const char **s, uint64_t *first, uint64_t *last)
{
	int err = parse_u64(*s, INT_MAX, first, s);

	*last = *first;
	if (!err && **s == '-') {
		(*s)++;
		err = parse_u64(*s, INT_MAX, last, s);
		if (!err && *last <= *first)
			err = -EINVAL;
	}
	if (!err && **s && *(*s)++ != ',')
		err = -EINVAL;
	/* No empty item, at the end either. */
	if (!err && !**s && (*s)[-1] == ',')
		err = -EINVAL;
	return err;
}

static int parse_fds(const char *s, int **out, size_t *n_out)
{
	uint64_t first, last;
	size_t n = 0;
	int *fds;
	int err;

	/* Counted first: a run names many fds in a few bytes. */
	for (const char *p = s; *p; n += (size_t)(last - first + 1)) {
		err = parse_fd_run(&p, &first, &last);
		if (err)
			return err;
		if (last - first + 1 > HANDOVER_FDS_MAX - n)
			return -E2BIG;
	}
	fds = calloc(n ? n : 1, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	*n_out = 0;
	while (*s) {
		parse_fd_run(&s, &first, &last);
		for (uint64_t fd = first; fd <= last; fd++)
			fds[(*n_out)++] = (int)fd;
	}
	*out = fds;
	return 0;
}

/* "LENGTH:BYTES" per argument, end to end. */
static int parse_argv(const char *s, char ***out)
{
	size_t n = 0, cap = 0;
	char **argv = NULL;
	int err = 0;

	while (!err && *s) {
		uint64_t len;

		err = parse_u64(s, SIZE_MAX, &len, &s);
		if (!err && (*s++ != ':' || strnlen(s, len) < len))
			err = -EINVAL;
		if (!err)
			err = baton_grow((void **)&argv, &cap, n + 1, sizeof(*argv));
		if (!err && !(argv[n] = strndup(s, len)))
			err = -ENOMEM;
		if (!err) {
			argv[++n] = NULL;
			s += len;
		}
	}
	if (err || !argv) {
		baton_free_argv(argv);
		return err ? err : -EINVAL;
	}
	*out = argv;
	return 0;
}

static int read_field(struct baton_handover *hv, const struct field *f, const char *s)
{
	void *at = (char *)hv + f->offset;
	uint64_t v;
	int err = 0;

	switch (f->type) {
	case FD:
		err = parse_u64(s, INT_MAX, &v, NULL);
		if (!err)
			*(int *)at = (int)v;
		return err;
	case PID:
		err = parse_u64(s, INT_MAX, &v, NULL);
		if (!err)
			*(pid_t *)at = (pid_t)v;
		return err;
	case U64:
		return parse_u64(s, UINT64_MAX, at, NULL);
	case FLAG:
		/* "1", as written: anything else is no more a "no" than a "yes". */
		if (strcmp(s, "1"))
			return -EINVAL;
		*(bool *)at = true;
		return 0;
	case FDS:
		return parse_fds(s, at, (size_t *)((char *)hv + f->count));
	case ARGV:
		return parse_argv(s, at);
	case TEXT: {
		size_t len = strnlen(s, sizeof(hv->why) - 1);

		/* Written padded, so that the keeper could write over it. */
		while (len && s[len - 1] == ' ')
			len--;
		memcpy(at, s, len);
		((char *)at)[len] = '\0';
		return 0;
	}
	case ORPHAN:
		for (size_t i = 0; i < BATON_ARRAY_SIZE(orphan_names); i++)
			if (!strcmp(s, orphan_names[i]))
				return *(enum baton_orphan_override *)at = i, 0;
		return -EINVAL;
	}
	return -EINVAL;
}

/*
 * The times, in the order they were taken: the commit's start, FREEZE,
 * now.  Out of it, the blackout and the hold reported at FINISH would be
 * now minus a later time: some 584 years.  FREEZE also comes before the
 * update's deadline, or FINISH's (the time from FREEZE to it, keeper.c)
 * would wrap the same way.  (No FREEZE: a version the keeper brought back
 * before it, or socket mode's new process before its go; no figure.)
 */
int baton_handover_check_times(const struct baton_handover *hv)
{
	if (hv->freeze_ns &&
	    (hv->held_ns > hv->freeze_ns || hv->freeze_ns > baton_now_ns() ||
	     (hv->deadline_ns && hv->deadline_ns < hv->freeze_ns)))
		return -EINVAL;
	return 0;
}

/* Who a process is, from which of the variables its update gave it. */
static enum baton_role role_of(bool report, bool channel, bool image)
{
	if (report)
		return BATON_ROLE_DRY_RUN;
	if (channel)
		return BATON_ROLE_RECEIVE;
	return image ? BATON_ROLE_RESTORE : BATON_ROLE_COLD;
}

/* A socket-mode update's new version, not one a kexec started: nobody
 * waits to give that one a go. */
bool baton_host_early_start(void)
{
	return role_of(getenv("BATON_DRY_RUN"), getenv("BATON_HANDOVER_FD"),
		       getenv("BATON_IMAGE_FD")) == BATON_ROLE_RECEIVE &&
	       !getenv("BATON_KEXEC");
}

int baton_handover_read(struct baton_handover *hv)
{
	int err = 0;

	baton_handover_init(hv);
	for (size_t i = 0; i < BATON_ARRAY_SIZE(fields); i++) {
		const char *s = getenv(fields[i].name);

		if (s && !err)
			err = read_field(hv, &fields[i], s);
		unsetenv(fields[i].name);
	}
	err = err ?: baton_handover_check_times(hv);
	if (err) {
		baton_handover_release(hv);
		baton_handover_init(hv);
		return err;
	}
	hv->role = role_of(hv->report_fd >= 0, hv->channel_fd >= 0,
			   hv->image_fd >= 0);
	return 0;
}

/* ---- Writing ---- */

/* "NAME=" and each argument as LENGTH:BYTES, end to end. */
static char *format_argv(const char *name, char *const *argv)
{
	size_t len = strlen(name) + 2;
	char *s, *p;

	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 24;
	p = s = malloc(len);
	if (s)
		p += sprintf(p, "%s=", name);
	for (size_t i = 0; s && argv[i]; i++)
		p += sprintf(p, "%zu:%s", strlen(argv[i]), argv[i]);
	return s;
}

/*
 * @v in decimal at @p, no terminator; the end.  One a fd at 1,024 devices
 * is 3,076 numbers inside the blackout: sprintf() cost ten times this.
 */
static char *put_int(char *p, int v)
{
	unsigned int u = v < 0 ? 0u - (unsigned int)v : (unsigned int)v;
	char digits[10];
	size_t n = 0;

	if (v < 0)
		*p++ = '-';
	do
		digits[n++] = (char)('0' + u % 10);
	while (u /= 10);
	while (n)
		*p++ = digits[--n];
	return p;
}

/* "NAME=" and the numbers, comma-separated; with @runs, each run of
 * consecutive ones as FIRST-LAST. */
static char *format_fds(const char *name, const int *fds, size_t n, bool runs)
{
	size_t len = strlen(name);
	char *s = malloc(len + 1 + n * 12 + 1), *p = s;

	if (!s)
		return NULL;
	p = mempcpy(p, name, len);
	*p++ = '=';
	for (size_t i = 0, j; i < n; i = j + 1) {
		if (i)
			*p++ = ',';
		p = put_int(p, fds[i]);
		for (j = i; runs && j + 1 < n && fds[j] < INT_MAX && fds[j + 1] == fds[j] + 1; j++)
			;
		if (j > i) {
			*p++ = '-';
			p = put_int(p, fds[j]);
		}
	}
	*p = '\0';
	return s;
}

/* @f's variable, "NAME=VALUE", malloc'd; NULL with *@set false when unset. */
static char *format_field(const struct baton_handover *hv, const struct field *f,
			  bool *set)
{
	const void *at = (const char *)hv + f->offset;
	const char *name = f->name;
	char *s = NULL;

	*set = true;
	switch (f->type) {
	case FD:
		if ((*set = *(const int *)at >= 0) &&
		    asprintf(&s, "%s=%d", name, *(const int *)at) < 0)
			s = NULL;
		break;
	case PID:
		if ((*set = *(const pid_t *)at > 0) &&
		    asprintf(&s, "%s=%d", name, (int)*(const pid_t *)at) < 0)
			s = NULL;
		break;
	case U64:
		/* Fixed width: the keeper writes its own value in place. */
		if ((*set = *(const uint64_t *)at != 0 || !strcmp(name, "BATON_FREEZE_NS")) &&
		    asprintf(&s, "%s=%020" PRIu64, name, *(const uint64_t *)at) < 0)
			s = NULL;
		break;
	case FLAG:
		if ((*set = *(const bool *)at) && asprintf(&s, "%s=1", name) < 0)
			s = NULL;
		break;
	case FDS:
		if ((*set = *(int *const *)at != NULL))
			s = format_fds(name, *(int *const *)at,
				       *(const size_t *)((const char *)hv + f->count),
				       hv->fd_runs && f->runs);
		break;
	case ARGV:
		if ((*set = hv->prev_argv != NULL))
			s = format_argv(name, hv->prev_argv);
		break;
	case TEXT:
		/* Room for any reason, so that the keeper can write its own. */
		if ((*set = hv->rollback) && asprintf(&s, "%s=%-*s", name,
						      (int)sizeof(hv->why) - 1, hv->why) < 0)
			s = NULL;
		break;
	case ORPHAN:
		if ((*set = hv->orphan != BATON_OVERRIDE_NONE) &&
		    asprintf(&s, "%s=%s", name, orphan_names[hv->orphan]) < 0)
			s = NULL;
		break;
	}
	return s;
}

void baton_handover_free_env(struct baton_env *env)
{
	for (size_t i = 0; env->own && i < env->n_own; i++)
		free(env->own[i]);
	free(env->own);
	free(env->vars);
	*env = (struct baton_env){ 0 };
}

/* Whether variables @a and @b ("NAME=VALUE", or a bare name) have one name. */
static bool same_name(const char *a, const char *b)
{
	while (*a && *a != '=' && *a == *b)
		a++, b++;
	return (!*a || *a == '=') && (!*b || *b == '=');
}

static bool is_handover_var(const char *var, char *const *extra)
{
	for (size_t i = 0; i < BATON_ARRAY_SIZE(fields); i++)
		if (same_name(var, fields[i].name))
			return true;
	for (size_t i = 0; extra && extra[i]; i++)
		if (same_name(var, extra[i]))
			return true;
	return false;
}

int baton_handover_env(const struct baton_handover *hv, char *const *extra,
		       struct baton_env *out)
{
	size_t n_env = 0, n_extra = 0, k;

	/* A program that called clearenv() has none at all. */
	while (environ && environ[n_env])
		n_env++;
	while (extra && extra[n_extra])
		n_extra++;
	*out = (struct baton_env){
		.own = calloc(BATON_ARRAY_SIZE(fields) + n_extra, sizeof(*out->own)),
		.vars = calloc(BATON_ARRAY_SIZE(fields) + n_extra + n_env + 1,
			       sizeof(*out->vars)),
	};
	if (!out->own || !out->vars)
		goto nomem;
	/* Ours first, owned; then the inherited, less any stale handover. */
	for (size_t i = 0; i < BATON_ARRAY_SIZE(fields); i++) {
		bool set;
		char *var = format_field(hv, &fields[i], &set);

		if (!set)
			continue;
		if (!var)
			goto nomem;
		out->own[out->n_own++] = var;
	}
	for (size_t i = 0; i < n_extra; i++) {
		if (!(out->own[out->n_own] = strdup(extra[i])))
			goto nomem;
		out->n_own++;
	}
	memcpy(out->vars, out->own, out->n_own * sizeof(*out->vars));
	k = out->n_own;
	for (size_t i = 0; i < n_env; i++)
		if (!is_handover_var(environ[i], extra))
			out->vars[k++] = environ[i];
	return 0;
nomem:
	baton_handover_free_env(out);
	return -ENOMEM;
}

/* The value of @name's variable in @env, to be written in place, or NULL. */
static char *env_value(struct baton_env *env, const char *name)
{
	for (size_t i = 0; i < env->n_own; i++)
		if (same_name(env->own[i], name))
			return env->own[i] + strlen(name) + 1;
	return NULL;
}

/*
 * The keeper's edits to an environment made before it forked: a number
 * and a reason it learns later, written over the room left for them.
 * Async-signal-safe: the keeper may be the child of a threaded program.
 */
void baton_handover_patch(struct baton_env *env, uint64_t freeze_ns,
			  const char *why)
{
	char *p = env_value(env, "BATON_FREEZE_NS");
	char *t = env_value(env, "BATON_ROLLBACK_WHY");

	for (int i = 19; p && i >= 0; i--, freeze_ns /= 10)
		p[i] = (char)('0' + freeze_ns % 10);
	for (size_t i = 0; t && why && t[i]; i++)
		t[i] = *why ? *why++ : ' ';
}

void baton_handover_patch_close_fds(struct baton_env *env, const int *fds, size_t n)
{
	static const char name[] = "BATON_CLOSE_FDS";
	char *p = env_value(env, name), *var;
	size_t i = 0;

	if (!p)
		return;
	if (n) {
		/* One number a fd, as it was made: no longer than it was. */
		for (size_t k = 0; k < n; k++) {
			if (k)
				*p++ = ',';
			p = put_int(p, fds[k]);
		}
		*p = '\0';
		return;
	}
	/* None: an empty list is no list to a reader, so no variable. */
	var = p - sizeof(name);
	while (env->vars[i] && env->vars[i] != var)
		i++;
	for (; env->vars[i]; i++)
		env->vars[i] = env->vars[i + 1];
}
