// SPDX-License-Identifier: MIT
/**
 * DOC: a kernel module tree as a contract source
 *
 * depmod has already done the hard part: its indexes (modules.alias.bin,
 * modules.dep.bin) map every alias of every module, including the
 * "liveupdate:G<hex>" aliases of the schemas a module accepts, to the
 * module, and each module to its file and what it depends on.  libkmod
 * reads them, as modprobe does, and reads a module's .modinfo from its file
 * whether the file is a .ko, a .ko.xz (Debian 13, sid) or a .ko.zst
 * (Ubuntu).  So a tree is read in three steps, each through libkmod:
 *
 *   1. the alias index names the modules that have a liveupdate alias
 *      (kmod_dump_index(): libkmod has no lookup by prefix);
 *   2. modules.dep.bin gives each one's file (kmod_module_get_path());
 *   3. its .modinfo (kmod_module_get_info()) says what it declares: its
 *      "alias=" entries, pci: ones the id table and liveupdate: ones the
 *      schemas it accepts, "liveupdate_writes=<hex>" the schema it writes,
 *      and an optional "liveupdate_priority=<n>".
 *
 * Steps 2 and 3 take the modules step 1 hands to add_module(), however
 * found: the readers of one schema are kmod_module_new_from_lookup(ctx,
 * "liveupdate:G<hex>", &list) and add_module() on each, whoever wrote the
 * alias (baton_liveupdate.h's macros today, a kernel's own table later).
 * Step 3 runs libkmod in a child process (read_infos()).
 *
 * A module becomes one driver contract: name and owner the module's name
 * (as the kernel spells it, '-' as '_'), ids from its pci aliases, accepts
 * from its liveupdate aliases.  An accepted GUID equal to the written one is
 * native; any other is read through the module's own converter into the
 * written one.  A module that accepts schemas but declares none written
 * reads them all natively.  Schemas are known by GUID only: a module tree
 * carries no layouts.
 *
 * Nothing a module says is trusted: a liveupdate alias that is not 32 hex
 * digits, or module info that does not parse, is an error naming the
 * module's file; so is a file libkmod cannot read (not ELF, a truncated
 * .ko.xz), with the errno it gave.  pci aliases this reader cannot turn
 * into an id-table entry (a wildcard inside a field) are ignored; they
 * cannot select a preserved device.  The indexes themselves are depmod's
 * binary tries, parsed by libkmod as modprobe and udev parse them: Baton
 * checks that they open and are indexes, and what comes out of them.
 *
 * libkmod is given no configuration: what the host's modprobe.d says
 * (aliases, options, blacklists, install commands) has no say in which
 * module reads a schema, nor in how bind loads it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <baton/kernel.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define ALIAS_LU "liveupdate:G"

struct module {
	char name[64];
	struct kmod_module *kmod;
	struct baton_pci_match *ids;
	size_t n_ids, cap_ids;
	uint8_t (*accepts)[BATON_GUID_SIZE];
	size_t n_accepts, cap_accepts;
	uint8_t writes[BATON_GUID_SIZE];
	bool have_writes;
	int32_t priority;
};

struct kmods {
	struct kmod_ctx *ctx;
	char last[128];		/* libkmod's last error message, "" if none */
};

struct tree {
	const char *dir;
	struct kmods *kmod;
	struct module *mods;
	size_t n, cap;
	struct baton_diag *diag;
};

static void free_tree(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		kmod_module_unref(t->mods[i].kmod);
		free(t->mods[i].ids);
		free(t->mods[i].accepts);
	}
	free(t->mods);
}

void baton_kernel_module_name(const char *s, size_t len, char out[64])
{
	size_t i;

	for (i = 0; i < len && i < 63; i++)
		out[i] = s[i] == '-' ? '_' : s[i];
	out[i] = '\0';
}

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

static int modules_open(const char *dir, struct kmods **out)
{
	/* An empty list, not NULL: NULL would read the host's modprobe.d. */
	static const char *const no_config[] = { NULL };
	struct kmods *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ctx = kmod_new(dir, no_config);
	if (!m->ctx) {
		free(m);
		return -ENOMEM;
	}
	kmod_set_log_fn(m->ctx, kmod_log, m);
	*out = m;
	return 0;
}

static void modules_close(struct kmods *m)
{
	if (!m)
		return;
	kmod_unref(m->ctx);
	free(m);
}

/* The module @name in @t, added if new; NULL when out of memory. */
static struct module *find_module(struct tree *t, const char *name)
{
	struct module *grown;

	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->mods[i].name, name))
			return &t->mods[i];
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 32;

		grown = realloc(t->mods, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		t->mods = grown;
		t->cap = cap;
	}
	memset(&t->mods[t->n], 0, sizeof(t->mods[t->n]));
	snprintf(t->mods[t->n].name, sizeof(t->mods[t->n].name), "%s", name);
	return &t->mods[t->n++];
}

/*
 * @kmod among the modules of @t to read (once, whatever names it twice),
 * with the file modules.dep.bin gives it: step 2.  Steps 1 and 3 do not
 * care which lookup found it.
 */
static int add_module(struct tree *t, struct kmod_module *kmod)
{
	const char *modname = kmod_module_get_name(kmod);
	char name[64], where[4200];
	struct module *mod;

	baton_kernel_module_name(modname, strlen(modname), name);
	mod = find_module(t, name);
	if (!mod)
		return -ENOMEM;
	if (mod->kmod)
		return 0;
	mod->kmod = kmod_module_ref(kmod);
	if (kmod_module_get_path(kmod))
		return 0;
	/* libkmod says only that it found no file: find why. */
	snprintf(where, sizeof(where), "%s/modules.dep.bin", t->dir);
	return access(where, R_OK) ? baton_diag_set(t->diag, errno, where, NULL) :
	       baton_diag_set(t->diag, ENOENT, where, "module %s is not listed", name);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *grown;

	if (n < *cap)
		return 0;
	grown = realloc(*arr, (*cap ? 2 * *cap : 4) * size);
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	*cap = *cap ? 2 * *cap : 4;
	return 0;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int baton_kernel_parse_guid(const char *s, size_t len, uint8_t out[BATON_GUID_SIZE])
{
	if (len != 2 * BATON_GUID_SIZE)
		return -BATON_ERR_BADGUID;
	for (size_t i = 0; i < BATON_GUID_SIZE; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -BATON_ERR_BADGUID;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * One field of a pci alias: @prefix, then '*' (any) or exactly @digits hex
 * digits.  Returns the characters consumed, 0 when the field does not fit.
 */
static size_t alias_field(const char *s, const char *prefix, int digits,
			  uint32_t *value, bool *any)
{
	size_t plen = strlen(prefix);
	char buf[9];

	if (strncmp(s, prefix, plen))
		return 0;
	s += plen;
	if (*s == '*') {
		*any = true;
		*value = 0;
		return plen + 1;
	}
	for (int i = 0; i < digits; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	memcpy(buf, s, (size_t)digits);
	buf[digits] = '\0';
	*any = false;
	*value = (uint32_t)strtoul(buf, NULL, 16);
	return plen + (size_t)digits;
}

/*
 * "pci:v00001234d000011E8sv*sd*bc*sc*i*" as depmod writes the entries of a
 * struct pci_device_id; false for a pattern that is not one of those.
 */
bool baton_kernel_parse_pci_alias(const char *s, struct baton_pci_match *m)
{
	static const struct { const char *prefix; int digits; } fields[] = {
		{ "v", 8 }, { "d", 8 }, { "sv", 8 }, { "sd", 8 },
		{ "bc", 2 }, { "sc", 2 }, { "i", 2 },
	};
	uint32_t v[7];
	bool any[7];

	if (strncmp(s, "pci:", 4))
		return false;
	s += 4;
	for (size_t f = 0; f < 7; f++) {
		size_t used = alias_field(s, fields[f].prefix, fields[f].digits,
					  &v[f], &any[f]);

		if (!used)
			return false;
		s += used;
	}
	/* depmod ends every pattern with one wildcard; nothing else may follow. */
	if (*s == '*')
		s++;
	if (*s)
		return false;
	m->vendor = any[0] ? BATON_ANY_ID : v[0];
	m->device = any[1] ? BATON_ANY_ID : v[1];
	m->subvendor = any[2] ? BATON_ANY_ID : v[2];
	m->subdevice = any[3] ? BATON_ANY_ID : v[3];
	m->class_code = v[4] << 16 | v[5] << 8 | v[6];
	m->class_mask = (any[4] ? 0 : 0xff0000) | (any[5] ? 0 : 0xff00) |
			(any[6] ? 0 : 0xff);
	return true;
}

/*
 * Why libkmod could not read a module's file (kmod_module_get_info()'s
 * -errno), in words: it opens the file, decompresses a .ko.xz or .ko.zst
 * whole, then parses the ELF image.
 */
static int unreadable(struct tree *t, const char *path, int err)
{
	const char *dot = strrchr(path, '.');
	bool compressed = dot && strcmp(dot, ".ko");

	if (err != ENOEXEC && err != EINVAL)
		return baton_diag_set(t->diag, err, path, "%s%s%s", strerror(err),
				      t->kmod->last[0] ? ": " : "", t->kmod->last);
	return baton_diag_set(t->diag, BATON_ERR_ELF, path,
			      "cannot read its .modinfo (%s): %s", strerror(err),
			      compressed ? "a truncated or corrupt compressed module, or no ELF module inside" :
					   "not an ELF module");
}

/* One "key=value" of a module's .modinfo into @mod; @where names it. */
static int modinfo_entry(struct tree *t, struct module *mod, const char *key,
			 const char *value, const char *where)
{
	struct baton_pci_match m;
	char *end;
	long prio;

	if (!strcmp(key, "alias") && !strncmp(value, ALIAS_LU, strlen(ALIAS_LU))) {
		const char *hex = value + strlen(ALIAS_LU);

		if (grow((void **)&mod->accepts, &mod->cap_accepts, mod->n_accepts,
			 sizeof(*mod->accepts)))
			return -ENOMEM;
		if (baton_kernel_parse_guid(hex, strlen(hex), mod->accepts[mod->n_accepts]) < 0)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
					      "alias %.100s is not liveupdate:G and 32 hex digits",
					      value);
		mod->n_accepts++;
	} else if (!strcmp(key, "alias") && baton_kernel_parse_pci_alias(value, &m)) {
		if (grow((void **)&mod->ids, &mod->cap_ids, mod->n_ids, sizeof(*mod->ids)))
			return -ENOMEM;
		mod->ids[mod->n_ids++] = m;
	} else if (!strcmp(key, "liveupdate_writes")) {
		if (baton_kernel_parse_guid(value, strlen(value), mod->writes) < 0)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
					      "liveupdate_writes=%.100s is not 32 hex digits",
					      value);
		mod->have_writes = true;
	} else if (!strcmp(key, "liveupdate_priority")) {
		errno = 0;
		prio = strtol(value, &end, 10);
		if (errno || !*value || *end || prio < INT32_MIN || prio > INT32_MAX)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
					      "liveupdate_priority=%.100s is not a number",
					      value);
		mod->priority = (int32_t)prio;
	}
	return 0;
}

/* The most module info read from a tree's modules: Linux's largest are ~100 KiB. */
#define MODINFO_MAX (4 << 20)

/*
 * The child's side of read_infos(): for each module in turn, the result of
 * kmod_module_get_info() (an int), the length of what follows (a size_t),
 * libkmod's last message and the module's "key\0value\0" pairs, to @fd.
 */
static void __attribute__((noreturn)) info_child(struct tree *t, int fd)
{
	static const int fatal[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	FILE *f = fdopen(fd, "w");

	/* Whatever the program does with them, a crash here is the child's death. */
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
	for (size_t m = 0; f && m < t->n; m++) {
		struct kmod_list *info = NULL, *l;
		char *rec = NULL;
		size_t len = 0;
		FILE *r = open_memstream(&rec, &len);
		int n;

		if (!r)
			break;
		t->kmod->last[0] = '\0';
		n = kmod_module_get_info(t->mods[m].kmod, &info);
		fwrite(t->kmod->last, 1, strlen(t->kmod->last) + 1, r);
		kmod_list_foreach(l, info) {
			const char *key = kmod_module_info_get_key(l);
			const char *value = kmod_module_info_get_value(l);

			fwrite(key, 1, strlen(key) + 1, r);
			value = value ? value : "";
			fwrite(value, 1, strlen(value) + 1, r);
		}
		kmod_module_info_free_list(info);
		if (fclose(r))
			break;
		fwrite(&n, sizeof(n), 1, f);
		fwrite(&len, sizeof(len), 1, f);
		fwrite(rec, 1, len, f);
		free(rec);
		if (fflush(f))
			break;
	}
	/* _exit(): nothing of the parent's (atexit, stdio) runs twice. */
	_exit(!f || ferror(f) ? 1 : 0);
}

/*
 * The .modinfo of every module of @t, read by libkmod in one child
 * process, into *@out (info_child()'s records, @t->n of them when all went
 * well): libkmod 30 asserts, and so aborts, on some malformed ELF files (a
 * section index past the section count), and a module is input.  Returns
 * 0, or the child's wait status when it died (a signal, or an exit that is
 * not 0); -errno when it could not be run.
 */
static int read_infos(struct tree *t, char **out, size_t *len)
{
	size_t cap = 0, got = 0;
	int fds[2], status;
	char *buf = NULL;
	ssize_t r = 1;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return baton_diag_set(t->diag, errno, "pipe2", NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return baton_diag_set(t->diag, errno, "fork", NULL);
	}
	if (!pid) {
		close(fds[0]);
		info_child(t, fds[1]);
	}
	close(fds[1]);
	while (got <= MODINFO_MAX && r > 0) {
		if (got == cap) {
			char *grown = realloc(buf, cap ? 2 * cap : 4096);

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			buf = grown;
			cap = cap ? 2 * cap : 4096;
		}
		r = read(fds[0], buf + got, cap - got);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EINTR)
			r = 1;
		else if (r < 0)
			r = -errno;
	}
	/* Closed first: a child still writing gets EPIPE, not a wait. */
	close(fds[0]);
	/*
	 * A program that ignores SIGCHLD has its children reaped for it
	 * (ECHILD): then the records say how far the child got.
	 */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = 0;
			break;
		}
	*out = buf;
	*len = got;
	if (r < 0)
		return baton_diag_set(t->diag, (int)-r, t->dir, NULL);
	/* Past MODINFO_MAX the records end early: the module is named then. */
	return got > MODINFO_MAX || (WIFEXITED(status) && !WEXITSTATUS(status)) ? 0 : status;
}

/*
 * What module @m declares, from its record of read_infos() at *@off in
 * @buf (@len bytes), into @t->mods[@m]: ids, accepted schemas, written
 * schema, priority.  @status is the child's, for a record that is not
 * whole.
 */
static int read_module(struct tree *t, size_t m, const char *buf, size_t len,
		       size_t *off, int status)
{
	struct module *mod = &t->mods[m];
	const char *path = kmod_module_get_path(mod->kmod), *p, *end;
	char where[4200];
	size_t size;
	int err = 0, n;

	if (len - *off < sizeof(n) + sizeof(size) ||
	    (memcpy(&size, buf + *off + sizeof(n), sizeof(size)),
	     size > len - *off - sizeof(n) - sizeof(size))) {
		if (*off + sizeof(n) + sizeof(size) > MODINFO_MAX || len > MODINFO_MAX)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, path,
					      "module info beyond %d bytes", MODINFO_MAX);
		if (status > 0 && WIFSIGNALED(status))
			return baton_diag_set(t->diag, BATON_ERR_ELF, path,
					      "libkmod died reading its .modinfo (%s): not a well-formed module",
					      strsignal(WTERMSIG(status)));
		return baton_diag_set(t->diag, EIO, path,
				      "reading its .modinfo in a child process failed");
	}
	memcpy(&n, buf + *off, sizeof(n));
	p = buf + *off + sizeof(n) + sizeof(size);
	end = p + size;
	*off += sizeof(n) + sizeof(size) + size;
	/* libkmod's last message, then the pairs; each string ends in a NUL. */
	if (!size || end[-1])
		return baton_diag_set(t->diag, EIO, path, "a malformed record from the child");
	snprintf(t->kmod->last, sizeof(t->kmod->last), "%s", p);
	if (n < 0)
		return unreadable(t, path, -n);
	snprintf(where, sizeof(where), "%s: .modinfo", path);
	for (p += strlen(p) + 1; p < end && !err;) {
		const char *value = p + strlen(p) + 1;

		if (value >= end)
			break;
		err = modinfo_entry(t, mod, p, value, where);
		p = value + strlen(value) + 1;
	}
	return err;
}

/*
 * The modules the alias index gives a liveupdate alias, each once, in
 * @t->mods.  libkmod writes the index as modules.alias's lines ("alias
 * PATTERN MODULE"), which a memfd takes.
 */
static int list_lu_modules(struct tree *t)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	int fd, err;
	FILE *f;

	snprintf(path, sizeof(path), "%s/modules.alias.bin", t->dir);
	fd = memfd_create("modules.alias", MFD_CLOEXEC);
	if (fd < 0)
		return baton_diag_set(t->diag, errno, "memfd_create", NULL);
	err = kmod_dump_index(t->kmod->ctx, KMOD_INDEX_MODULES_ALIAS, fd);
	if (err < 0) {
		/* libkmod says -ENOSYS for any index it cannot use: find why. */
		int probe = open(path, O_RDONLY | O_CLOEXEC);

		err = probe < 0 ? baton_diag_set(t->diag, errno, path, NULL) :
		      baton_diag_set(t->diag, BATON_ERR_BADVALUE, path,
				     "not a depmod index (run depmod on the tree)");
		if (probe >= 0)
			close(probe);
		close(fd);
		return err;
	}
	f = lseek(fd, 0, SEEK_SET) ? NULL : fdopen(fd, "re");
	if (!f) {
		err = baton_diag_set(t->diag, errno, path, NULL);
		close(fd);
		return err;
	}
	while (!err && getline(&line, &cap, f) > 0) {
		char *pattern = line + strlen("alias "), *modname;
		struct kmod_module *kmod;

		/* "alias PATTERN MODULE\n"; only liveupdate patterns matter. */
		if (strncmp(line, "alias " ALIAS_LU, strlen("alias " ALIAS_LU)) ||
		    !(modname = strchr(pattern, ' ')))
			continue;
		modname++;
		modname[strcspn(modname, " \n")] = '\0';
		err = kmod_module_new_from_name(t->kmod->ctx, modname, &kmod);
		if (!err) {
			err = add_module(t, kmod);
			kmod_module_unref(kmod);
		}
	}
	free(line);
	fclose(f);
	return err;
}

/* One driver contract from a module; its schemas go to @set->schemas. */
static int build_contract(const struct module *mod, struct baton_contracts *set,
			  struct baton_contract *c)
{
	snprintf(c->owner, sizeof(c->owner), "%s", mod->name);
	snprintf(c->name, sizeof(c->name), "%s", mod->name);
	c->priority = mod->priority;
	c->ids = calloc(mod->n_ids ? mod->n_ids : 1, sizeof(*c->ids));
	c->accepts = calloc(mod->n_accepts, sizeof(*c->accepts));
	if (!c->ids || !c->accepts)
		return -ENOMEM;
	/* A module with no pci alias has no ids, and mod->ids is NULL. */
	if (mod->n_ids)
		memcpy(c->ids, mod->ids, mod->n_ids * sizeof(*c->ids));
	c->n_ids = mod->n_ids;
	for (size_t i = 0; i < mod->n_accepts; i++) {
		struct baton_accept_desc *a = &c->accepts[c->n_accepts++];
		bool native = !mod->have_writes ||
			      !memcmp(mod->accepts[i], mod->writes, BATON_GUID_SIZE);

		a->via = native ? BATON_VIA_NATIVE : BATON_VIA_CONVERTER;
		a->schema = baton_kernel_schema(set, mod->accepts[i]);
		a->target = native ? a->schema : baton_kernel_schema(set, mod->writes);
	}
	return 0;
}

static int driver_cmp(const void *pa, const void *pb)
{
	const struct baton_contract *a = pa, *b = pb;

	return strcmp(a->owner, b->owner);
}

int baton_contracts_read_modules(const char *dir, struct baton_contracts **out,
				 struct baton_diag *diag)
{
	struct tree t = { .dir = dir, .diag = diag };
	struct baton_contracts *set;
	size_t n_lu = 0, n_guids = 0;
	int err, status;

	set = calloc(1, sizeof(*set));
	err = set ? modules_open(dir, &t.kmod) : -ENOMEM;
	if (err)
		goto err_tree;
	err = list_lu_modules(&t);
	if (!err && t.n) {
		size_t len = 0, off = 0;
		char *infos = NULL;

		status = read_infos(&t, &infos, &len);
		err = status < 0 ? status : 0;
		for (size_t i = 0; !err && i < t.n; i++)
			err = read_module(&t, i, infos, len, &off, status);
		free(infos);
	}
	if (err)
		goto err_tree;

	/* Schemas are interned by GUID: the set owns one desc per GUID. */
	for (size_t i = 0; i < t.n; i++) {
		n_lu += t.mods[i].n_accepts > 0;
		n_guids += t.mods[i].n_accepts + 1;
	}
	err = -ENOMEM;
	set->drivers = calloc(n_lu ? n_lu : 1, sizeof(*set->drivers));
	set->schemas = calloc(n_guids ? n_guids : 1, sizeof(*set->schemas));
	if (!set->drivers || !set->schemas)
		goto err_tree;
	for (size_t i = 0; i < t.n; i++) {
		/* The index named it; its own .modinfo declares no schema. */
		if (!t.mods[i].n_accepts)
			continue;
		err = build_contract(&t.mods[i], set, &set->drivers[set->n_drivers++]);
		if (err)
			goto err_tree;
	}
	qsort(set->drivers, set->n_drivers, sizeof(*set->drivers), driver_cmp);
	free_tree(&t);
	modules_close(t.kmod);
	*out = set;
	return 0;

err_tree:
	free_tree(&t);
	modules_close(t.kmod);
	baton_contracts_free(set);
	if (err == -ENOMEM)
		baton_diag_set(diag, ENOMEM, NULL, NULL);
	return err;
}

int baton_kernel_load_module(const char *dir, const char *module, char *why,
			     size_t len)
{
	struct kmods *m = NULL;
	struct kmod_module *kmod = NULL;
	int err;

	err = modules_open(dir, &m);
	if (!err)
		err = kmod_module_new_from_name(m->ctx, module, &kmod);
	if (err) {
		snprintf(why, len, "loading module %s: %s", module, strerror(-err));
		goto out;
	}
	if (!kmod_module_get_path(kmod)) {
		err = -ENOENT;
		snprintf(why, len, "module %s is not in %s/modules.dep.bin", module, dir);
		goto out;
	}
	/*
	 * What it depends on first (modules.dep.bin), each file read and
	 * decompressed by libkmod; one already loaded counts as loaded.
	 */
	err = kmod_module_probe_insert_module(kmod, KMOD_PROBE_IGNORE_COMMAND, NULL,
					      NULL, NULL, NULL);
	if (err)
		snprintf(why, len, "loading module %s: %s%s%s", module, strerror(-err),
			 m->last[0] ? ": " : "", m->last);
out:
	kmod_module_unref(kmod);
	modules_close(m);
	return err;
}

const struct baton_schema_desc *baton_kernel_schema(struct baton_contracts *set,
						    const uint8_t guid[BATON_GUID_SIZE])
{
	struct baton_schema_desc *s;

	for (size_t i = 0; i < set->n_schemas; i++)
		if (!memcmp(set->schemas[i].guid, guid, BATON_GUID_SIZE))
			return &set->schemas[i];
	/* The caller sized the array for every GUID it can intern. */
	s = &set->schemas[set->n_schemas++];
	memset(s, 0, sizeof(*s));
	memcpy(s->guid, guid, BATON_GUID_SIZE);
	memcpy(s->derived, guid, BATON_GUID_SIZE);
	s->pinned = 1;
	for (size_t i = 0; i < BATON_GUID_SIZE; i++)
		snprintf(s->owner + 2 * i, sizeof(s->owner) - 2 * i, "%02x", guid[i]);
	return s;
}
