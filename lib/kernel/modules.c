// SPDX-License-Identifier: MIT
/**
 * DOC: a kernel module tree as a contract source
 *
 * depmod has already done the hard part: its indexes (modules.alias.bin,
 * modules.dep.bin) map every alias of every module, including the
 * "liveupdate:G<hex>" aliases of the schemas a module accepts, to the
 * module, and each module to its file.  libkmod reads them as modprobe
 * does, and a module's .modinfo from its file, a .ko, a .ko.xz (Debian 13,
 * sid) or a .ko.zst (Ubuntu) alike: in a child process (kmod.c), which
 * says, for each module with a liveupdate alias, its file and its module
 * info.  What a module declares there: "alias=" entries, pci: ones its id
 * table and liveupdate: ones the schemas it accepts,
 * "liveupdate_writes=<hex>" the schema it writes, and an optional
 * "liveupdate_priority=<n>".
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
 * .ko.xz), with the errno it gave, and one libkmod died reading.  pci
 * aliases this reader cannot turn into an id-table entry (a wildcard
 * inside a field) are ignored; they cannot select a preserved device.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <baton/kernel.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define ALIAS_LU "liveupdate:G"

struct module {
	char name[64];
	struct baton_pci_match *ids;
	size_t n_ids, cap_ids;
	uint8_t (*accepts)[BATON_GUID_SIZE];
	size_t n_accepts, cap_accepts;
	uint8_t writes[BATON_GUID_SIZE];
	bool have_writes;
	int32_t priority;
};

struct tree {
	const char *dir;
	struct module *mods;
	size_t n, cap;
	struct baton_diag *diag;
};

static void free_tree(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
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
 * -errno; @last, its last message): it opens the file, decompresses a
 * .ko.xz or .ko.zst whole, then parses the ELF image.
 */
static int unreadable(struct tree *t, const char *path, int err, const char *last)
{
	const char *dot = strrchr(path, '.');
	bool compressed = dot && strcmp(dot, ".ko");

	if (err != ENOEXEC && err != EINVAL)
		return baton_diag_set(t->diag, err, path, "%s%s%s", strerror(err),
				      last[0] ? ": " : "", last);
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

/*
 * What @km, as the child read it, declares, into a new module of @t: ids,
 * accepted schemas, written schema, priority.  @died is the signal the
 * child died of, or 0; @late, whether it was killed for taking too long.
 */
static int read_module(struct tree *t, const struct baton_kmod_module *km, int died,
		       bool late)
{
	/* No .modinfo at all comes as NULL, 0: no end to compute. */
	const char *p = km->info, *end = p ? p + km->info_len : p;
	char name[64], where[4200];
	struct module *mod;
	int err = 0;

	if (!km->path[0]) {
		/* libkmod says only that it found no file: find why. */
		snprintf(where, sizeof(where), "%s/modules.dep.bin", t->dir);
		return access(where, R_OK) ? baton_diag_set(t->diag, errno, where, NULL) :
		       baton_diag_set(t->diag, ENOENT, where, "module %.64s is not listed",
				      km->name);
	}
	if (!km->said && died)
		return baton_diag_set(t->diag, BATON_ERR_ELF, km->path,
				      "libkmod died reading its .modinfo (%s): not a well-formed module",
				      strsignal(died));
	if (!km->said && late)
		return baton_diag_set(t->diag, BATON_ERR_ELF, km->path,
				      "libkmod did not finish reading its .modinfo in %d ms",
				      baton_kmod_read_ms);
	if (!km->said)
		return baton_diag_set(t->diag, EIO, km->path,
				      "reading its .modinfo in a child process failed");
	if (km->err < 0)
		return unreadable(t, km->path, -km->err, km->last);
	baton_kernel_module_name(km->name, strlen(km->name), name);
	mod = find_module(t, name);
	if (!mod)
		return -ENOMEM;
	snprintf(where, sizeof(where), "%s: .modinfo", km->path);
	/* Pairs of strings; the child's record ends in a NUL. */
	while (p < end && !err) {
		const char *value = p + strlen(p) + 1;

		if (value >= end)
			break;
		err = modinfo_entry(t, mod, p, value, where);
		p = value + strlen(value) + 1;
	}
	return err;
}

/*
 * The modules libkmod found in the tree, into @t, or what went wrong:
 * the alias index first, then each module in turn.
 */
static int read_tree(struct tree *t)
{
	struct baton_kmod_tree kt;
	char path[4096];
	int err, fd;

	err = baton_kmod_read_tree(t->dir, &kt);
	if (err == -EFBIG)
		err = baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, t->dir,
				     "its modules declare more than 4 MiB of module info");
	else if (err)
		err = baton_diag_set(t->diag, -err, t->dir, "running libkmod: %s",
				     strerror(-err));
	snprintf(path, sizeof(path), "%s/modules.alias.bin", t->dir);
	if (!err && kt.dump_err == -ELIBACC)
		err = baton_diag_set(t->diag, ELIBACC, t->dir,
				     "reading it needs libkmod (%s), which cannot be opened",
				     BATON_KMOD_SONAME);
	else if (!err && kt.dump_err && kt.died)
		err = baton_diag_set(t->diag, BATON_ERR_BADVALUE, path,
				     "libkmod died reading it (%s): not a depmod index",
				     strsignal(kt.died));
	else if (!err && kt.dump_err && kt.late)
		err = baton_diag_set(t->diag, BATON_ERR_BADVALUE, path,
				     "libkmod did not finish reading it in %d ms: not a depmod index",
				     baton_kmod_read_ms);
	else if (!err && kt.dump_err && kt.failed)
		err = baton_diag_set(t->diag, EIO, path, "reading it in a child process failed");
	else if (!err && kt.dump_err) {
		/* libkmod says -ENOSYS for any index it cannot use: find why. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		err = fd < 0 ? baton_diag_set(t->diag, errno, path, NULL) :
		      baton_diag_set(t->diag, BATON_ERR_BADVALUE, path,
				     "not a depmod index (run depmod on the tree)");
		if (fd >= 0)
			close(fd);
	}
	for (size_t i = 0; !err && i < kt.n; i++)
		err = read_module(t, &kt.mods[i], kt.died, kt.late);
	/* Every module it named said its piece, but it did not end well. */
	if (!err && (kt.died || kt.late || kt.failed))
		err = baton_diag_set(t->diag, EIO, t->dir,
				     "the child reading the tree with libkmod failed");
	baton_kmod_tree_free(&kt);
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
	int err;

	set = calloc(1, sizeof(*set));
	err = set ? read_tree(&t) : -ENOMEM;
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
	*out = set;
	return 0;

err_tree:
	free_tree(&t);
	baton_contracts_free(set);
	if (err == -ENOMEM)
		baton_diag_set(diag, ENOMEM, NULL, NULL);
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
