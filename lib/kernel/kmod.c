// SPDX-License-Identifier: MIT
/**
 * DOC: libkmod, in a child process
 *
 * Everything Baton asks libkmod of a module tree runs in a child process
 * that writes back what libkmod said; the caller checks it.  A module tree
 * is input, and libkmod trusts it the way modprobe does: libkmod 30
 * (Debian 12) asserts, and so aborts, on some malformed ELF files (a
 * section-name index past the section count), and follows the offsets of
 * depmod's binary tries as they are written.  A child that dies of a tree
 * is a tree that is not well formed, said as such; the program goes on.
 *
 * baton_kmod_read_tree() forks one child per tree, which
 *
 *   1. dumps the alias index (kmod_dump_index(): libkmod has no lookup by
 *      prefix) and takes the modules with a "liveupdate:G" alias;
 *   2. for each, its file from modules.dep.bin (kmod_module_get_path());
 *   3. for each, its .modinfo (kmod_module_get_info()), from a .ko, a .ko.xz
 *      or a .ko.zst alike.
 *
 * Step 1 hands each module to add_module(): the readers of one schema
 * would be kmod_module_new_from_lookup(ctx, "liveupdate:G<hex>", &list)
 * and add_module() on each, whoever wrote the alias.  The child writes
 * records to a pipe, each a type byte, a length (uint32_t) and the
 * payload: 'H' the dump's result (an int); per module 'B' its name and
 * file ("" when modules.dep.bin lacks it), then 'I' kmod_module_get_info()'s
 * result (an int), libkmod's last message and the "key\0value\0" pairs.
 * A 'B' with no 'I' after it names the module the child died reading.
 *
 * baton_kernel_load_module() forks one child per module to load.
 *
 * libkmod is given no configuration: what the host's modprobe.d says
 * (aliases, options, blacklists, install commands) has no say in which
 * module reads a schema, nor in how it is loaded.
 *
 * And libkmod is opened in the child (dlopen()), not linked: a program
 * linked with libbaton.so would otherwise load it, and libcrypto, libzstd
 * and liblzma with it, at every start - 2.7 ms of each fork and exec on
 * these machines (OpenSSL's start-up most of it), inside an exec-mode
 * update's blackout, for the kernel path alone.  A child that cannot open
 * it says so (-ELIBACC).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define ALIAS_LU "liveupdate:G"
/* The most a child may say about a tree: Linux's largest .modinfo ~100 KiB. */
#define KMOD_SAID_MAX (4 << 20)

#define LIBKMOD_FUNCTIONS(X) \
	X(kmod_new) X(kmod_unref) X(kmod_set_log_fn) X(kmod_dump_index) \
	X(kmod_list_next) X(kmod_module_new_from_name) X(kmod_module_ref) \
	X(kmod_module_unref) X(kmod_module_get_name) X(kmod_module_get_path) \
	X(kmod_module_get_info) X(kmod_module_info_get_key) \
	X(kmod_module_info_get_value) X(kmod_module_info_free_list) \
	X(kmod_module_probe_insert_module)

/* libkmod's functions, as the child's dlopen() found them. */
static struct {
	LIBKMOD_FUNCTIONS(BATON_DL_MEMBER)
} libkmod;
static const char *const libkmod_names[] = { LIBKMOD_FUNCTIONS(BATON_DL_NAME) };

/* Fills libkmod; -ELIBACC, dlerror()'s words in @why, when it cannot. */
static int kmod_open_library(char *why, size_t len)
{
	if (!BATON_DLOPEN_TABLE(BATON_KMOD_SONAME, libkmod, libkmod_names,
				why, len))
		return -ELIBACC;
	return 0;
}

/* The child's libkmod: a context on the tree, and its last error message. */
struct kmods {
	struct kmod_ctx *ctx;
	char last[128];
	struct kmod_module **mods;	/* step 1's modules, each once */
	size_t n;
};

static void kmod_log(void *data, int priority, const char *file, int line,
		     const char *fn, const char *format, va_list args)
	__attribute__((format(printf, 6, 0)));

/* libkmod's own words for what failed, kept to be added to Baton's. */
static void kmod_log(void *data, int priority, const char *file, int line,
		     const char *fn, const char *format, va_list args)
{
	struct kmods *m = data;
	size_t n;

	(void)priority;
	(void)file;
	(void)line;
	(void)fn;
	vsnprintf(m->last, sizeof(m->last), format, args);
	n = strlen(m->last);
	while (n && m->last[n - 1] == '\n')
		m->last[--n] = '\0';
}

/* What a child holds of libkmod, let go before it exits (valgrind counts). */
static void kmods_close(struct kmods *m)
{
	for (size_t i = 0; i < m->n; i++)
		libkmod.kmod_module_unref(m->mods[i]);
	free(m->mods);
	libkmod.kmod_unref(m->ctx);
}

/*
 * A context on @dir: 0, -ELIBACC (libkmod cannot be opened: @why says
 * why) or -ENOMEM.
 */
static int kmods_open(struct kmods *m, const char *dir, char *why, size_t len)
{
	/* An empty list, not NULL: NULL would read the host's modprobe.d. */
	static const char *const no_config[] = { NULL };
	int err;

	memset(m, 0, sizeof(*m));
	err = kmod_open_library(why, len);
	if (err)
		return err;
	m->ctx = libkmod.kmod_new(dir, no_config);
	if (!m->ctx)
		return -ENOMEM;
	libkmod.kmod_set_log_fn(m->ctx, kmod_log, m);
	return 0;
}

/* @kmod among the modules to read, once however often it is named. */
static void add_module(struct kmods *m, struct kmod_module *kmod)
{
	struct kmod_module **grown;

	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(libkmod.kmod_module_get_name(m->mods[i]), libkmod.kmod_module_get_name(kmod)))
			return;
	grown = realloc(m->mods, (m->n + 1) * sizeof(*grown));
	if (!grown)
		_exit(1);
	m->mods = grown;
	m->mods[m->n++] = libkmod.kmod_module_ref(kmod);
}

static void record(FILE *out, char type, const void *payload, size_t len)
{
	uint32_t n = (uint32_t)len;

	fputc(type, out);
	fwrite(&n, sizeof(n), 1, out);
	fwrite(payload, 1, len, out);
	if (fflush(out))
		_exit(1);
}

/* Step 1, from the alias index's lines, "alias PATTERN MODULE". */
static int list_lu_modules(struct kmods *m)
{
	char *line = NULL;
	size_t cap = 0;
	int fd, err;
	FILE *f;

	fd = memfd_create("modules.alias", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = libkmod.kmod_dump_index(m->ctx, KMOD_INDEX_MODULES_ALIAS, fd);
	f = err || lseek(fd, 0, SEEK_SET) ? NULL : fdopen(fd, "re");
	if (!f) {
		close(fd);
		return err ? err : -errno;
	}
	while (getline(&line, &cap, f) > 0) {
		char *modname = line + strlen("alias " ALIAS_LU);
		struct kmod_module *kmod;

		if (strncmp(line, "alias " ALIAS_LU, strlen("alias " ALIAS_LU)) ||
		    !(modname = strchr(modname, ' ')))
			continue;
		modname++;
		modname[strcspn(modname, " \n")] = '\0';
		if (libkmod.kmod_module_new_from_name(m->ctx, modname, &kmod))
			_exit(1);
		add_module(m, kmod);
		libkmod.kmod_module_unref(kmod);
	}
	free(line);
	fclose(f);
	return 0;
}

/* Step 3 for @kmod: its 'I' record. */
static void info_record(struct kmods *m, struct kmod_module *kmod, FILE *out)
{
	struct kmod_list *info = NULL, *l;
	char *rec = NULL;
	size_t len = 0;
	FILE *r = open_memstream(&rec, &len);
	int n;

	if (!r)
		_exit(1);
	m->last[0] = '\0';
	n = libkmod.kmod_module_get_info(kmod, &info);
	fwrite(&n, sizeof(n), 1, r);
	fwrite(m->last, 1, strlen(m->last) + 1, r);
	for (l = info; l; l = libkmod.kmod_list_next(info, l)) {
		const char *key = libkmod.kmod_module_info_get_key(l);
		const char *value = libkmod.kmod_module_info_get_value(l);

		fwrite(key, 1, strlen(key) + 1, r);
		value = value ? value : "";
		fwrite(value, 1, strlen(value) + 1, r);
	}
	libkmod.kmod_module_info_free_list(info);
	if (fclose(r))
		_exit(1);
	record(out, 'I', rec, len);
	free(rec);
}

/* The child of baton_kmod_read_tree(): steps 1 to 3, as records. */
static void read_child(const char *dir, const void *arg, FILE *out)
{
	char why[128];
	struct kmods m;
	int err;

	(void)arg;
	/* The parent names the library; dlerror()'s words stay here. */
	err = kmods_open(&m, dir, why, sizeof(why));
	if (err == -ELIBACC)
		record(out, 'H', &err, sizeof(err));
	if (err)
		_exit(1);
	err = list_lu_modules(&m);
	record(out, 'H', &err, sizeof(err));
	for (size_t i = 0; !err && i < m.n; i++) {
		const char *name = libkmod.kmod_module_get_name(m.mods[i]);
		const char *path = libkmod.kmod_module_get_path(m.mods[i]);
		size_t nlen = strlen(name) + 1, plen = path ? strlen(path) + 1 : 1;
		char *b = malloc(nlen + plen);

		if (!b)
			_exit(1);
		memcpy(b, name, nlen);
		memcpy(b + nlen, path ? path : "", plen);
		record(out, 'B', b, nlen + plen);
		free(b);
		if (path)
			info_record(&m, m.mods[i], out);
	}
	kmods_close(&m);
}

/* The time a child may take to read a tree: a real one takes well under 1 s. */
int baton_kmod_read_ms = 30000;

/*
 * Run @child(@dir, @arg) in a child process, what it writes (at most
 * KMOD_SAID_MAX bytes; more kills it) into *@buf, *@len, for at most @ms
 * milliseconds (-1: no bound; past it, it is killed and *@late set).
 * Returns the child's wait status, or -errno when it could not be run.
 */
static int in_child(void (*child)(const char *dir, const void *arg, FILE *out),
		    const char *dir, const void *arg, int ms, char **buf, size_t *len,
		    bool *late)
{
	static const int fatal[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	size_t cap = 0, got = 0;
	int fds[2], status = 0;
	struct timespec start;
	ssize_t r = 1;
	pid_t pid;

	*buf = NULL;
	*len = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return (int)r;
	}
	if (!pid) {
		FILE *out = fdopen(fds[1], "w");

		close(fds[0]);
		/* Whatever the program does with them, a crash is the child's death. */
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], SIG_DFL);
		if (!out)
			_exit(1);
		child(dir, arg, out);
		/* _exit(): nothing of the parent's (atexit, stdio) runs twice. */
		_exit(fclose(out) ? 1 : 0);
	}
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	*late = false;
	while (r > 0 && got <= KMOD_SAID_MAX) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		struct timespec now;
		long left = -1;

		if (ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		}
		if (ms >= 0 && left > 0 && poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (ms >= 0 && (left <= 0 || !pfd.revents)) {
			*late = true;
			break;
		}
		if (got == cap) {
			char *grown = realloc(*buf, cap ? 2 * cap : 4096);

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			*buf = grown;
			cap = cap ? 2 * cap : 4096;
		}
		r = read(fds[0], *buf + got, cap - got);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0)
			r = errno == EINTR ? 1 : -errno;
	}
	/* Too long, too much, or we could not listen: nothing more to say. */
	if (r != 0)
		kill(pid, SIGKILL);
	close(fds[0]);
	/*
	 * A program that ignores SIGCHLD has its children reaped for it
	 * (ECHILD): then what it wrote says how far it got.
	 */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = 0;
			break;
		}
	*len = got;
	return r < 0 ? (int)r : status;
}

int baton_kmod_read_tree(const char *dir, struct baton_kmod_tree *tree)
{
	struct baton_kmod_module *mod = NULL;
	size_t len, off = 0;
	int status;

	memset(tree, 0, sizeof(*tree));
	status = in_child(read_child, dir, NULL, baton_kmod_read_ms, &tree->buf, &len,
			  &tree->late);
	if (status < 0)
		return status;
	if (len > KMOD_SAID_MAX)
		return -EFBIG;
	tree->died = WIFSIGNALED(status) && !tree->late ? WTERMSIG(status) : 0;
	tree->failed = !tree->died && !tree->late &&
		       (!WIFEXITED(status) || WEXITSTATUS(status));
	tree->dump_err = 1;	/* until an 'H' says */
	while (len - off >= 1 + sizeof(uint32_t)) {
		char type = tree->buf[off], *p;
		uint32_t n;

		memcpy(&n, tree->buf + off + 1, sizeof(n));
		if (n > len - off - 1 - sizeof(n))
			break;
		p = tree->buf + off + 1 + sizeof(n);
		off += 1 + sizeof(n) + n;
		if (type == 'H' && n == sizeof(int)) {
			memcpy(&tree->dump_err, p, sizeof(int));
		} else if (type == 'B' && n >= 2 && !p[n - 1] && memchr(p, '\0', n - 1)) {
			struct baton_kmod_module *grown;

			grown = realloc(tree->mods, (tree->n + 1) * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			tree->mods = grown;
			mod = memset(&tree->mods[tree->n++], 0, sizeof(*mod));
			mod->name = p;
			mod->path = p + strlen(p) + 1;
		} else if (type == 'I' && mod && !mod->said && n > sizeof(int) && !p[n - 1]) {
			memcpy(&mod->err, p, sizeof(int));
			mod->last = p + sizeof(int);
			mod->info = mod->last + strlen(mod->last) + 1;
			mod->info_len = (size_t)(p + n - mod->info);
			mod->said = true;
		} else {
			break;	/* not what the child writes */
		}
	}
	return 0;
}

void baton_kmod_tree_free(struct baton_kmod_tree *tree)
{
	free(tree->mods);
	free(tree->buf);
}

struct load_arg {
	const char *module;
};

/* Writes the result (an int) and what failed, a string. */
static void load_child(const char *dir, const void *arg, FILE *out)
{
	const struct load_arg *a = arg;
	struct kmod_module *kmod = NULL;
	char why[160] = "", lib[128];
	struct kmods m;
	int err;

	err = kmods_open(&m, dir, lib, sizeof(lib));
	if (err == -ENOMEM)
		_exit(1);
	if (err)
		snprintf(why, sizeof(why), "loading module %s: %s", a->module, lib);
	else
		err = libkmod.kmod_module_new_from_name(m.ctx, a->module, &kmod);
	if (!err && !libkmod.kmod_module_get_path(kmod)) {
		err = -ENOENT;
		snprintf(why, sizeof(why), "module %s is not in %s/modules.dep.bin",
			 a->module, dir);
	} else if (!err) {
		/*
		 * What it depends on first (modules.dep.bin), each file read
		 * and decompressed by libkmod; one already loaded counts as
		 * loaded.
		 */
		err = libkmod.kmod_module_probe_insert_module(kmod, KMOD_PROBE_IGNORE_COMMAND,
						      NULL, NULL, NULL, NULL);
	}
	if (err && !why[0])
		snprintf(why, sizeof(why), "loading module %s: %s%s%s", a->module,
			 strerror(-err), m.last[0] ? ": " : "", m.last);
	fwrite(&err, sizeof(err), 1, out);
	fwrite(why, 1, strlen(why) + 1, out);
	fflush(out);
	if (m.ctx) {
		libkmod.kmod_module_unref(kmod);
		kmods_close(&m);
	}
}

int baton_kernel_load_module(const char *dir, const char *module, char *why,
			     size_t len)
{
	const struct load_arg a = { .module = module };
	size_t got = 0;
	bool late;
	char *buf;
	int status, err = -EIO;

	/* Unbounded: a module's init may take its time (firmware, devices). */
	status = in_child(load_child, dir, &a, -1, &buf, &got, &late);
	if (status < 0) {
		err = status;
		snprintf(why, len, "loading module %s: %s", module, strerror(-err));
	} else if (WIFSIGNALED(status)) {
		snprintf(why, len, "loading module %s: libkmod died (%s)", module,
			 strsignal(WTERMSIG(status)));
	} else if (got > sizeof(err) && !buf[got - 1]) {
		memcpy(&err, buf, sizeof(err));
		if (err)
			snprintf(why, len, "%s", buf + sizeof(err));
	} else {
		snprintf(why, len, "loading module %s: the child that loads it failed",
			 module);
	}
	free(buf);
	return err;
}
