// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the kernel path's readers: the module tree
 * (lib/kernel/modules.c: modules.alias, modules.dep, the .modinfo of .ko
 * files) and sysfs (lib/kernel/sysfs.c: the attributes of PCI devices,
 * the driver links, the modules' drivers), each a tree of files the
 * readers find on disk.  Each input is written as such a tree in a
 * scratch directory, and the readers run on it as `baton plan --modules`,
 * `baton kernel save` and `baton kernel bind` run them:
 *
 *  - baton_contracts_read_modules(): a set, or an error that says what;
 *    a set's accepts point into the set, each module is one driver;
 *  - baton_kernel_module_path() of both modules, the list modprobe
 *    would load;
 *  - baton_kernel_save() of every device that declares a schema, and of
 *    both by name, one of them mandatory: an image that parses, or an
 *    error that says what;
 *  - with an image and a set, baton_kernel_bind() on the scratch sysfs
 *    (which it writes: driver_override, drivers_probe, the state back):
 *    one result per record, each a terminated string.
 *
 * Nothing outside the scratch directory is read or written; modules are
 * never loaded (bind loads them only under /sys).
 *
 * Input: records, each
 *
 *     file (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first): len bytes appended to the file
 * files[file % NFILES] below, made with its directories when first
 * written.  A file no record names does not exist.  The "driver" entries
 * are symbolic links, as sysfs's are, to ../../drivers/NAME, NAME the
 * record's bytes (up to a NUL, '/' made '_'): bind writes through them
 * (driver/unbind), and must stay in the scratch tree.
 *
 * Seeds: tests/fuzz/corpus-kernel/ (tests/fuzz/gen_corpora.py kernel): a
 * tree as depmod, the compiler (.modinfo) and the kernel write them - the
 * one tests/integration/test_kernel.sh builds - and edge cases.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <baton/image.h>
#include <baton/kernel.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEV_A "sys/bus/pci/devices/0000:00:04.0/"
#define DEV_B "sys/bus/pci/devices/0000:00:05.0/"

static const char *const files[] = {
	"modules/modules.alias",
	"modules/modules.dep",
	"modules/extra/edu_lu.ko",
	"modules/extra/edu_next.ko",
	DEV_A "vendor", DEV_A "device", DEV_A "subsystem_vendor",
	DEV_A "subsystem_device", DEV_A "class", DEV_A "liveupdate_schema",
	DEV_A "liveupdate_state", DEV_A "driver",
	DEV_B "vendor", DEV_B "device", DEV_B "subsystem_vendor",
	DEV_B "subsystem_device", DEV_B "class", DEV_B "liveupdate_schema",
	DEV_B "liveupdate_state", DEV_B "driver",
	/* A device whose name is not an address. */
	"sys/bus/pci/devices/edu/liveupdate_schema",
	/* The driver the module registered, and where probes are asked. */
	"sys/module/edu_next/drivers/pci:edu_next/bind",
	"sys/bus/pci/drivers_probe",
	DEV_A "reset",
	DEV_A "driver_override",
	DEV_B "driver_override",
	"sys/bus/pci/drivers/edu_lu/unbind",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char root[PATH_MAX];

static void __attribute__((noreturn)) die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_kernel: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void mkdirs(char *path)
{
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			die("mkdir", path);
		*p = '/';
	}
}

static void put(unsigned int file, const uint8_t *p, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *rel = files[file % NFILES];
	size_t tlen;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkdirs(path);
	if (!strcmp(strrchr(rel, '/'), "/driver")) {
		tlen = strnlen((const char *)p, len < 255 ? len : 255);
		snprintf(target, sizeof(target), "../../drivers/%.*s", (int)tlen, p);
		for (char *t = target + strlen("../../drivers/"); *t; t++)
			if (*t == '/')
				*t = '_';
		/* A second one is not made. */
		if (symlink(target, path) && errno != EEXIST)
			die("symlink", path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		die("write", path);
	close(fd);
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level && remove(path))
		die("remove", path);
	return 0;
}

static void clean(void)
{
	if (nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS))
		die("nftw", root);
}

static void teardown(void)
{
	clean();
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "%s/fuzz_kernel.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		die("mkdtemp", strerror(errno));
	atexit(teardown);
	return 0;
}

static void check_error(int err, const struct baton_diag *diag)
{
	if (err < 0 && (diag->err != -err || !diag->what[0]))
		die("an error that does not say what", diag->what);
}

static void check_set(const struct baton_contracts *set)
{
	for (size_t i = 0; i < set->n_drivers; i++) {
		const struct baton_contract *c = &set->drivers[i];

		if (strnlen(c->owner, sizeof(c->owner)) == sizeof(c->owner) ||
		    (i && strcmp(set->drivers[i - 1].owner, c->owner) >= 0))
			die("drivers not one per module, in order", NULL);
		for (size_t j = 0; j < c->n_accepts; j++) {
			const struct baton_accept_desc *a = &c->accepts[j];

			if (a->schema < set->schemas ||
			    a->schema >= set->schemas + set->n_schemas ||
			    a->target < set->schemas ||
			    a->target >= set->schemas + set->n_schemas)
				die("an accept outside the set", c->owner);
		}
	}
}

static void module_path(const char *dir, const char *module)
{
	struct baton_diag diag = { 0 };
	char *path, **deps;
	size_t n_deps;

	baton_kernel_module_path(dir, module, &path, &deps, &n_deps, &diag);
	for (size_t i = 0; i < n_deps; i++)
		free(deps[i]);
	free(deps);
	free(path);
}

static struct baton_image *save(const char *sys, const char *const *addrs,
				size_t n_addrs, size_t n_mandatory)
{
	const struct baton_kernel_save_opts opts = {
		.sysfs = sys, .addrs = addrs, .n_addrs = n_addrs,
		.mandatory = addrs, .n_mandatory = n_mandatory,
	};
	struct baton_diag diag = { 0 };
	struct baton_image *img = NULL;
	void *buf = NULL;
	size_t len = 0;
	int err;

	err = baton_kernel_save(&opts, &buf, &len, &diag);
	check_error(err, &diag);
	if (!err && baton_image_parse(buf, len, &img, &diag))
		die("save wrote an image that does not parse", diag.what);
	free(buf);
	return img;
}

static void bind_all(const struct baton_image *img, const struct baton_contracts *set,
		 const char *sys, const char *mods)
{
	const struct baton_kernel_bind_opts opts = { .sysfs = sys, .modules = mods };
	struct baton_kernel_result *results;
	struct baton_diag diag = { 0 };
	int err;

	results = calloc(img->n_devices + 1, sizeof(*results));
	if (!results)
		die("calloc", NULL);
	err = baton_kernel_bind(img, set, &opts, results, &diag);
	check_error(err, &diag);
	for (size_t i = 0; !err && i < img->n_devices; i++)
		if (strnlen(results[i].result, sizeof(results[i].result)) ==
		    sizeof(results[i].result) || !results[i].result[0])
			die("a result that does not say", NULL);
	free(results);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const both[] = { "0000:00:04.0", "0000:00:05.0" };
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char mods[PATH_MAX], sys[PATH_MAX];
	struct baton_image *img;
	size_t off = 0;
	int err;

	while (off + 3 <= size) {
		unsigned int file = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;

		off += 3;
		if (len > size - off)
			len = size - off;
		put(file, data + off, len);
		off += len;
	}
	snprintf(mods, sizeof(mods), "%s/modules", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);

	err = baton_contracts_read_modules(mods, &set, &diag);
	check_error(err, &diag);
	if (!err)
		check_set(set);
	module_path(mods, "edu_lu");
	module_path(mods, "edu_next");

	img = save(sys, NULL, 0, 0);
	baton_image_free(save(sys, both, 2, 1));
	if (img && set)
		bind_all(img, set, sys, mods);
	baton_image_free(img);
	baton_contracts_free(set);
	clean();
	return 0;
}
