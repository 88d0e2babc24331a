// SPDX-License-Identifier: MIT
/*
 * What the fuzzers (tests/fuzz/) found, one test per bug, each named after
 * it; the input that found it is kept in the target's corpus as
 * regress-*.bin.  Undefined behaviour that does no visible harm on a
 * normal build (a NULL given to qsort() or memcpy() with a zero count)
 * shows under UBSan: `make check-asan` runs these with halt_on_error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <baton/contracts.h>
#include <baton/kernel.h>

#include "internal.h"

static char root[PATH_MAX];

static void path_of(char *out, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", root, rel);

	assert_true(n > 0 && n < PATH_MAX);
}

/* @rel under the scratch root, with its directories. */
static void put(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		assert_true(!mkdir(path, 0700) || errno == EEXIST);
		*p = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void put_text(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

/*
 * An ELF relocatable whose one section besides the names is @section, of
 * @type (SHT_PROGBITS with @data, or SHT_NOBITS of @size): a module file,
 * or an object with contracts.
 */
static void put_elf(const char *rel, const char *section, uint32_t type,
		    const void *data, size_t size)
{
	char names[64], path[PATH_MAX];
	size_t len = strlen(section);
	Elf_Data *d;
	Elf64_Ehdr *eh;
	Elf64_Shdr *sh;
	Elf_Scn *scn;
	Elf *e;
	int fd;

	put(rel, "", 0);
	path_of(path, rel);
	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	assert_non_null(e);
	eh = elf64_newehdr(e);
	assert_non_null(eh);
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	eh->e_type = ET_REL;
	eh->e_version = EV_CURRENT;

	/* The names: "", the section's, ".shstrtab". */
	names[0] = '\0';
	memcpy(names + 1, section, len + 1);
	memcpy(names + 2 + len, ".shstrtab", sizeof(".shstrtab"));

	scn = elf_newscn(e);
	d = elf_newdata(scn);
	d->d_buf = type == SHT_NOBITS ? NULL : (void *)data;
	d->d_size = size;
	d->d_type = ELF_T_BYTE;
	d->d_align = 1;
	sh = elf64_getshdr(scn);
	sh->sh_name = 1;
	sh->sh_type = type;
	sh->sh_flags = SHF_ALLOC;

	scn = elf_newscn(e);
	d = elf_newdata(scn);
	d->d_buf = names;
	d->d_size = 2 + len + sizeof(".shstrtab");
	d->d_type = ELF_T_BYTE;
	d->d_align = 1;
	sh = elf64_getshdr(scn);
	sh->sh_name = (Elf64_Word)(2 + len);
	sh->sh_type = SHT_STRTAB;
	eh->e_shstrndx = (Elf64_Half)elf_ndxscn(scn);

	assert_true(elf_update(e, ELF_C_WRITE) > 0);
	elf_end(e);
	close(fd);
}

static int make_root(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(root, sizeof(root), "%s/test_fuzz_found.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(root) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int remove_root(void **state)
{
	(void)state;
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define S1 "3f7174ac46a957ecb761b29cdbf15055"

/* ---- lib/kernel ---- */

/*
 * fuzz_kernel, regress-save-no-device.bin: a sysfs with PCI devices of
 * which none declares a schema left scan_devices() with no list, which it
 * gave qsort() (its base must not be NULL).
 */
static void test_kernel_save_no_device_declares(void **state)
{
	const struct baton_kernel_save_opts opts = { .sysfs = root };
	struct baton_diag diag = { 0 };
	void *img = NULL;
	size_t len = 0;

	(void)state;
	put_text("bus/pci/devices/0000:00:04.0/vendor", "0x1234\n");
	assert_int_equal(baton_kernel_save(&opts, &img, &len, &diag), -ENODEV);
	assert_null(img);
}

/* The module tree under the scratch root, made by depmod (kmod's). */
#define MODS "lib/modules/0.0.0"

static void depmod(char *mods)
{
	char *const argv[] = { "depmod", "-b", root, "0.0.0", NULL };
	int status;
	pid_t pid;

	assert_int_equal(posix_spawnp(&pid, "depmod", NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && !WEXITSTATUS(status));
	path_of(mods, MODS);
}

/*
 * fuzz_kernel, regress-module-no-ids.bin: a module with a liveupdate
 * alias and no pci alias has no ids; building its contract copied from
 * its NULL id list (memcpy() of zero bytes from NULL).
 */
static void test_kernel_module_without_ids(void **state)
{
	static const char info[] = "liveupdate_writes=" S1 "\0alias=liveupdate:G" S1;
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char mods[PATH_MAX];

	(void)state;
	put_elf(MODS "/extra/edu_lu.ko", ".modinfo", SHT_PROGBITS, info, sizeof(info));
	depmod(mods);
	assert_int_equal(baton_contracts_read_modules(mods, &set, &diag), 0);
	assert_int_equal(set->n_drivers, 1);
	assert_int_equal(set->drivers[0].n_ids, 0);
	assert_int_equal(set->drivers[0].n_accepts, 1);
	baton_contracts_free(set);
}

/*
 * fuzz_kernel, regress-modinfo-nobits.bin: a .modinfo section of type
 * NOBITS has a size and no bytes: libelf gave the reader Baton had then a
 * NULL buffer, to which it added the size.  libkmod reads .modinfo now,
 * and finds no module info there: a module the index names for a
 * liveupdate alias that it no longer declares is no driver.
 */
static void test_kernel_modinfo_nobits(void **state)
{
	static const char info[] = "alias=liveupdate:G" S1;
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char mods[PATH_MAX];

	(void)state;
	put_elf(MODS "/extra/edu_lu.ko", ".modinfo", SHT_PROGBITS, info, sizeof(info));
	depmod(mods);
	put_elf(MODS "/extra/edu_lu.ko", ".modinfo", SHT_NOBITS, NULL, 64);
	assert_int_equal(baton_contracts_read_modules(mods, &set, &diag), 0);
	assert_int_equal(set->n_drivers, 0);
	baton_contracts_free(set);
}

/* ---- lib/contracts ---- */

/*
 * fuzz_contracts, regress-no-records.o: a baton_contracts section with no
 * records (empty, or libelf gives none of its bytes) left the reader no
 * buffer, which the decoder copied from (memcpy() of zero bytes from
 * NULL).  No records is an empty set.
 */
static void test_contracts_section_without_records(void **state)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char path[PATH_MAX];

	(void)state;
	put_elf("empty.o", BATON_CONTRACT_SECTION, SHT_PROGBITS, "", 0);
	path_of(path, "empty.o");
	assert_int_equal(baton_contracts_read_elf(path, &set, &diag), 0);
	assert_int_equal(set->n_drivers, 0);
	assert_int_equal(set->n_schemas, 0);
	baton_contracts_free(set);
	/* And the decoder handed nothing at all. */
	assert_int_equal(baton_contracts_decode(NULL, 0, 0, &set, &diag), 0);
	assert_int_equal(set->n_drivers, 0);
	baton_contracts_free(set);
}

/*
 * Found writing fuzz_control, which lets a client name any target: the
 * preflight reads the target's contracts, and open() of a FIFO waits for
 * a writer - a client naming one held the program for ever.  Only a
 * regular file is read; the alarm fails the test instead of hanging it.
 */
static void test_contracts_target_not_a_file(void **state)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char path[PATH_MAX];

	(void)state;
	path_of(path, "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(baton_contracts_read_elf(path, &set, &diag), -BATON_ERR_ELF);
	assert_int_equal(baton_contracts_read_elf(root, &set, &diag), -BATON_ERR_ELF);
	assert_int_equal(baton_contracts_read_elf("/dev/null", &set, &diag), -BATON_ERR_ELF);
	alarm(0);
	assert_null(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kernel_save_no_device_declares,
						make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_kernel_module_without_ids,
						make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_kernel_modinfo_nobits,
						make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_contracts_section_without_records,
						make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_contracts_target_not_a_file,
						make_root, remove_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
