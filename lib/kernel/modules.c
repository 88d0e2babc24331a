// SPDX-License-Identifier: MIT
/**
 * DOC: a kernel module tree as a contract source
 *
 * depmod has already done the hard part: modules.alias lists every alias of
 * every module, including the "liveupdate:G<hex>" aliases of the schemas a
 * module accepts and the "pci:v...d...sv...sd...bc..sc..i.." aliases of its
 * id table.  modules.dep maps module names to files.  The schema a module
 * writes is module info ("liveupdate_writes=<hex>"), read from the .modinfo
 * section of its file with libelf, as is an optional
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
 * Nothing in these files is trusted: a liveupdate alias that is not 32 hex
 * digits, or module info that does not parse, is an error naming the line.
 * pci aliases this reader cannot turn into an id-table entry (a wildcard
 * inside a field) are ignored; they cannot select a preserved device.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <baton/kernel.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define ALIAS_LU "liveupdate:G"

struct module {
	char name[64];
	char *path;			/* from modules.dep, relative to dir */
	struct baton_pci_match *ids;
	size_t n_ids, cap_ids;
	uint8_t (*accepts)[BATON_GUID_SIZE];
	size_t n_accepts, cap_accepts;
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
		free(t->mods[i].path);
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

static struct module *find_module(struct tree *t, const char *name, bool add)
{
	struct module *grown;

	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->mods[i].name, name))
			return &t->mods[i];
	if (!add)
		return NULL;
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

static int read_aliases(struct tree *t)
{
	char path[4096], line[1024], where[4200];
	unsigned lineno = 0;
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/modules.alias", t->dir);
	f = fopen(path, "re");
	if (!f)
		return baton_diag_set(t->diag, errno, path, NULL);
	while (!err && fgets(line, sizeof(line), f)) {
		char pattern[512], modname[128], name[64];
		struct baton_pci_match m;
		struct module *mod;

		lineno++;
		if (sscanf(line, "alias %511s %127s", pattern, modname) != 2)
			continue;
		baton_kernel_module_name(modname, strlen(modname), name);
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!strncmp(pattern, ALIAS_LU, strlen(ALIAS_LU))) {
			const char *hex = pattern + strlen(ALIAS_LU);

			mod = find_module(t, name, true);
			if (!mod || grow((void **)&mod->accepts, &mod->cap_accepts,
					 mod->n_accepts, sizeof(*mod->accepts))) {
				err = baton_diag_set(t->diag, ENOMEM, NULL, NULL);
				break;
			}
			if (baton_kernel_parse_guid(hex, strlen(hex),
						    mod->accepts[mod->n_accepts]) < 0)
				err = baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
						     "alias %s is not liveupdate:G and 32 hex digits",
						     pattern);
			else
				mod->n_accepts++;
		} else if (baton_kernel_parse_pci_alias(pattern, &m)) {
			mod = find_module(t, name, true);
			if (!mod || grow((void **)&mod->ids, &mod->cap_ids,
					 mod->n_ids, sizeof(*mod->ids))) {
				err = baton_diag_set(t->diag, ENOMEM, NULL, NULL);
				break;
			}
			mod->ids[mod->n_ids++] = m;
		}
	}
	fclose(f);
	return err;
}

int baton_kernel_module_path(const char *dir, const char *module, char **path,
			     char ***deps, size_t *n_deps, struct baton_diag *diag)
{
	char file[4096], line[4096], name[64];
	int err = -ENOENT;	/* until the module's line is found */
	FILE *f;

	/* Set before anything can fail: the caller frees them in any case. */
	*path = NULL;
	*deps = NULL;
	*n_deps = 0;
	snprintf(file, sizeof(file), "%s/modules.dep", dir);
	f = fopen(file, "re");
	if (!f)
		return baton_diag_set(diag, errno, file, NULL);
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *base, *tok, *save;

		if (!colon)
			continue;
		*colon = '\0';
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		baton_kernel_module_name(base, strcspn(base, "."), name);
		if (strcmp(name, module))
			continue;
		*path = strdup(line);
		err = *path ? 0 : -ENOMEM;
		for (tok = strtok_r(colon + 1, " \t\n", &save); tok && !err;
		     tok = strtok_r(NULL, " \t\n", &save)) {
			char **grown = realloc(*deps, (*n_deps + 1) * sizeof(*grown));

			if (grown)
				*deps = grown;
			if (!grown || !(grown[*n_deps] = strdup(tok))) {
				err = -ENOMEM;
				break;
			}
			(*n_deps)++;
		}
		break;
	}
	fclose(f);
	if (err == -ENOENT)
		baton_diag_set(diag, ENOENT, file, "module %s is not listed",
			       module);
	return err;
}

/* "key=value" from the .modinfo section of a module file, into @value. */
static int read_modinfo(const struct tree *t, const struct module *mod,
			const char *key, char *value, size_t len)
{
	size_t klen = strlen(key), shstrndx;
	char path[4096];
	Elf_Scn *scn = NULL;
	Elf *elf = NULL;
	int fd, err = 0;

	value[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", t->dir, mod->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return baton_diag_set(t->diag, errno, path, NULL);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx)) {
		err = baton_diag_set(t->diag, BATON_ERR_ELF, path,
				     "not an ELF module (compressed modules are not read)");
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		Elf_Data *data = NULL;
		GElf_Shdr shdr;
		const char *name;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		name = elf_strptr(elf, shstrndx, shdr.sh_name);
		if (!name || strcmp(name, ".modinfo"))
			continue;
		while ((data = elf_rawdata(scn, data)) != NULL) {
			const char *p = data->d_buf, *end;

			/* A NOBITS section has a size and no bytes. */
			if (!p || !data->d_size)
				continue;
			end = p + data->d_size;
			/* NUL-separated strings; the last one may be unterminated. */
			while (p && p < end) {
				const char *nul = memchr(p, '\0', (size_t)(end - p));
				size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

				if (n > klen && !strncmp(p, key, klen) && p[klen] == '=')
					snprintf(value, len, "%.*s", (int)(n - klen - 1),
						 p + klen + 1);
				p = nul ? nul + 1 : NULL;
			}
		}
	}
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}

/* One driver contract from a module; its schemas go to @set->schemas. */
static int build_contract(const struct tree *t, const struct module *mod,
			  struct baton_contracts *set, struct baton_contract *c)
{
	uint8_t writes[BATON_GUID_SIZE];
	char value[128], where[4200], *end;
	bool have_writes = false;
	long prio = 0;
	int err;

	snprintf(where, sizeof(where), "%s/%s: .modinfo", t->dir, mod->path);
	err = read_modinfo(t, mod, "liveupdate_writes", value, sizeof(value));
	if (!err && value[0]) {
		if (baton_kernel_parse_guid(value, strlen(value), writes) < 0)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
					      "liveupdate_writes=%s is not 32 hex digits",
					      value);
		have_writes = true;
	}
	if (!err)
		err = read_modinfo(t, mod, "liveupdate_priority", value, sizeof(value));
	if (err)
		return err;
	if (value[0]) {
		errno = 0;
		prio = strtol(value, &end, 10);
		if (errno || *end || prio < INT32_MIN || prio > INT32_MAX)
			return baton_diag_set(t->diag, BATON_ERR_BADCONTRACT, where,
					      "liveupdate_priority=%s is not a number",
					      value);
	}

	snprintf(c->owner, sizeof(c->owner), "%s", mod->name);
	snprintf(c->name, sizeof(c->name), "%s", mod->name);
	c->priority = (int32_t)prio;
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
		bool native = !have_writes ||
			      !memcmp(mod->accepts[i], writes, BATON_GUID_SIZE);

		a->via = native ? BATON_VIA_NATIVE : BATON_VIA_CONVERTER;
		a->schema = baton_kernel_schema(set, mod->accepts[i]);
		a->target = native ? a->schema : baton_kernel_schema(set, writes);
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
	char **deps;
	size_t n_deps;
	int err;

	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	err = read_aliases(&t);
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
		struct module *mod = &t.mods[i];

		if (!mod->n_accepts)
			continue;
		err = baton_kernel_module_path(dir, mod->name, &mod->path, &deps,
					       &n_deps, diag);
		for (size_t d = 0; d < n_deps; d++)
			free(deps[d]);
		free(deps);
		if (err)
			goto err_tree;
		err = build_contract(&t, mod, set, &set->drivers[set->n_drivers++]);
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
