// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the kernel path's readers: the module tree
 * (lib/kernel/modules.c: the .modinfo of modules, plain, .ko.xz and
 * .ko.zst, read through libkmod) and sysfs (lib/kernel/sysfs.c: the
 * attributes of PCI devices, the driver links, the modules' drivers), each
 * a tree of files the readers find on disk.  Each input is written as such
 * a tree in a scratch directory, and the readers run on it as `baton plan
 * --modules`, `baton kernel save` and `baton kernel bind` run them:
 *
 *  - baton_contracts_read_modules(): a set, or an error that says what;
 *    a set's accepts point into the set, each module is one driver;
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
 * The tree's depmod indexes are fixed: tests/fuzz/kernel-index/
 * (gen_corpora.py kernel makes them with depmod) names edu_lu in
 * extra/edu_lu.ko, edu_next in extra/edu_next.ko.xz, edu_zst in
 * extra/edu_zst.ko.zst and edu_link in extra/edu_link.ko.  libkmod
 * parses them in a child given 30 s, and a hostile index can hold it
 * there, longer than a fuzzer's timeout: they are not fuzzed, what the
 * modules say is.
 *
 * Input: records, each
 *
 *     file (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first): len bytes appended to the file
 * files[file % NFILES] below, made with its directories when first
 * written.  A file no record names does not exist.  The "driver" entries
 * are symbolic links, as sysfs's are, to ../../drivers/NAME, and
 * edu_link.ko one to NAME in its own directory (itself: a loop), NAME the
 * record's bytes (up to a NUL, '/' made '_'): bind writes through the
 * former (driver/unbind), and all must stay in the scratch tree.
 *
 * Seeds: tests/fuzz/corpus-kernel/ (tests/fuzz/gen_corpora.py kernel): a
 * tree as depmod, the compiler (.modinfo), xz, zstd and the kernel write
 * them - the one tests/integration/test_kernel.sh builds - and edge cases.
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
const char *__asan_default_options(void);

/*
 * Each input forks (libkmod reads the modules' .modinfo in a child), and a
 * fork copies the page tables of all the target holds: with ASan's 256 MiB
 * quarantine of freed memory, 5 times slower than with 4 MiB.  Freed
 * memory is still poisoned; it is reused sooner.
 */
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=4";
}

#define DEV_A "sys/bus/pci/devices/0000:00:04.0/"
#define DEV_B "sys/bus/pci/devices/0000:00:05.0/"

static const char *const files[] = {
	"modules/extra/edu_lu.ko",
	"modules/extra/edu_next.ko.xz",
	"modules/extra/edu_zst.ko.zst",
	"modules/extra/edu_link.ko",
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

static const char *const indexes[] = { "modules.alias.bin", "modules.dep.bin" };
#define NINDEXES (sizeof(indexes) / sizeof(indexes[0]))

static char root[PATH_MAX];
static struct { char *bytes; size_t len; } index_file[NINDEXES];

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
	if (!strcmp(strrchr(rel, '/'), "/driver") ||
	    !strcmp(strrchr(rel, '/'), "/edu_link.ko")) {
		const char *dir = strcmp(strrchr(rel, '/'), "/driver") ? "" : "../../drivers/";
		size_t dlen = strlen(dir);

		tlen = strnlen((const char *)p, len < 255 ? len : 255);
		snprintf(target, sizeof(target), "%s%.*s", dir, (int)tlen, p);
		for (char *t = target + dlen; *t; t++)
			if (*t == '/')
				*t = '_';
		/* A second one is not made; an empty name is none. */
		if (target[dlen] && symlink(target, path) && errno != EEXIST)
			die("symlink", path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		die("write", path);
	close(fd);
}

/* The fixed depmod index @i, in the tree's modules directory. */
static void put_index(size_t i)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/modules/%s", root, indexes[i]);
	mkdirs(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, index_file[i].bytes, index_file[i].len) !=
		      (ssize_t)index_file[i].len)
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
	for (size_t i = 0; i < NINDEXES; i++) {
		char path[PATH_MAX];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", FUZZ_KERNEL_INDEX, indexes[i]);
		f = fopen(path, "re");
		if (!f || fseek(f, 0, SEEK_END) || (long)(index_file[i].len = (size_t)ftell(f)) < 0 ||
		    fseek(f, 0, SEEK_SET) || !(index_file[i].bytes = malloc(index_file[i].len)) ||
		    fread(index_file[i].bytes, 1, index_file[i].len, f) != index_file[i].len)
			die("reading the fixed index", path);
		fclose(f);
	}
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

	for (size_t i = 0; i < NINDEXES; i++)
		put_index(i);
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

	img = save(sys, NULL, 0, 0);
	baton_image_free(save(sys, both, 2, 1));
	if (img && set)
		bind_all(img, set, sys, mods);
	baton_image_free(img);
	baton_contracts_free(set);
	clean();
	return 0;
}
