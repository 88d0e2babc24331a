// SPDX-License-Identifier: MIT
/*
 * The kernel path's parsers: depmod's pci aliases as id-table entries,
 * 32-hex-digit GUIDs, module names; and the errors of save and of the
 * module-tree reader, which must be the system's own.  The flows (save,
 * plan --modules, bind) are tested on a fake sysfs in
 * tests/integration/test_kernel.sh and on a real kernel in tests/vm.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <baton/kernel.h>

#include "kernel/kernel-internal.h"

static void test_pci_alias_exact(void **state)
{
	struct baton_pci_match m;

	(void)state;
	assert_true(baton_kernel_parse_pci_alias(
		"pci:v00001234d000011E8sv00001AF4sd00001100bc00scFFi00*", &m));
	assert_int_equal(m.vendor, 0x1234);
	assert_int_equal(m.device, 0x11e8);
	assert_int_equal(m.subvendor, 0x1af4);
	assert_int_equal(m.subdevice, 0x1100);
	assert_int_equal(m.class_code, 0x00ff00);
	assert_int_equal(m.class_mask, 0xffffff);
}

static void test_pci_alias_wildcards(void **state)
{
	const struct baton_pci_ids xhci = {
		.vendor = 0x8086, .device = 0xa36d, .subvendor = 0x1028,
		.subdevice = 0x0869, .class_code = 0x0c0330,
	};
	struct baton_pci_match m;

	(void)state;
	assert_true(baton_kernel_parse_pci_alias(
		"pci:v00001234d000011E8sv*sd*bc*sc*i*", &m));
	assert_int_equal(m.subvendor, BATON_ANY_ID);
	assert_int_equal(m.subdevice, BATON_ANY_ID);
	assert_int_equal(m.class_mask, 0);
	/* A class match, as xhci_pci declares it. */
	assert_true(baton_kernel_parse_pci_alias("pci:v*d*sv*sd*bc0Csc03i30*", &m));
	assert_int_equal(m.vendor, BATON_ANY_ID);
	assert_int_equal(m.class_code, 0x0c0330);
	assert_int_equal(m.class_mask, 0xffffff);
	assert_true(baton_pci_match(&m, &xhci));
	/* Base class only. */
	assert_true(baton_kernel_parse_pci_alias("pci:v*d*sv*sd*bc02sc*i*", &m));
	assert_int_equal(m.class_code, 0x020000);
	assert_int_equal(m.class_mask, 0xff0000);
}

static void test_pci_alias_rejects(void **state)
{
	static const char *const bad[] = {
		"usb:v1234p5678d*", "pci:v1234d11E8sv*sd*bc*sc*i*",
		"pci:v00001234d000011E8sv*sd*bc*sc*", "pci:v0000123*d*sv*sd*bc*sc*i*",
		"pci:v00001234d000011E8sv*sd*bc*sc*i*x", "pci:", "",
		"pci:v00001234d000011E8sv*sd*bc*sc*i*0",
	};
	struct baton_pci_match m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (baton_kernel_parse_pci_alias(bad[i], &m))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_guid_hex(void **state)
{
	const char *hex = "3f7174ac46a957ecb761b29cdbf15055";
	uint8_t g[BATON_GUID_SIZE], want[BATON_GUID_SIZE];

	(void)state;
	assert_int_equal(baton_kernel_parse_guid(hex, strlen(hex), g), 0);
	assert_int_equal(baton_guid_parse("3f7174ac-46a9-57ec-b761-b29cdbf15055", want), 0);
	assert_memory_equal(g, want, sizeof(g));
	assert_int_equal(baton_kernel_parse_guid("3F7174AC46A957ECB761B29CDBF15055", 32, g), 0);
	assert_memory_equal(g, want, sizeof(g));
	assert_int_equal(baton_kernel_parse_guid(hex, 31, g), -BATON_ERR_BADGUID);
	assert_int_equal(baton_kernel_parse_guid("3f7174ac-46a9-57ec-b761-b29cdbf15055", 36, g),
			 -BATON_ERR_BADGUID);
	assert_int_equal(baton_kernel_parse_guid("3f7174ac46a957ecb761b29cdbf1505g", 32, g),
			 -BATON_ERR_BADGUID);
}

static void test_module_name(void **state)
{
	char name[64];

	(void)state;
	baton_kernel_module_name("edu-next.ko", 8, name);
	assert_string_equal(name, "edu_next");
}

/* ---- errors: a fake sysfs and module tree in a temporary directory ---- */

#define DEV "bus/pci/devices/0000:01:00.0"

static char root[32];

static void put_bytes(const char *rel, const void *bytes, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void put(const char *rel, const char *text)
{
	put_bytes(rel, text, strlen(text));
}

static void mkdir_in(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int make_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/baton-test-kernel-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	mkdir_in("bus");
	mkdir_in("bus/pci");
	mkdir_in("bus/pci/devices");
	mkdir_in(DEV);
	put(DEV "/vendor", "0x1234\n");
	put(DEV "/device", "0x11e8\n");
	put(DEV "/subsystem_vendor", "0x1af4\n");
	put(DEV "/subsystem_device", "0x1100\n");
	put(DEV "/class", "0x00ff00\n");
	put(DEV "/liveupdate_schema", "3f7174ac46a957ecb761b29cdbf15055\n");
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int remove_root(void **state)
{
	(void)state;
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Save the one device, or @n_addrs of @addrs when @addrs is given. */
static int save(const char *const *addrs, size_t n_addrs,
		const char *mandatory, struct baton_diag *diag)
{
	static const char *const one[] = { "0000:01:00.0" };
	struct baton_kernel_save_opts opts = {
		.sysfs = root,
		.addrs = addrs ? addrs : one,
		.n_addrs = addrs ? n_addrs : 1,
		.mandatory = &mandatory,
		.n_mandatory = mandatory != NULL,
	};
	size_t len;
	void *img = NULL;
	int err;

	memset(diag, 0, sizeof(*diag));
	err = baton_kernel_save(&opts, &img, &len, diag);
	free(img);
	return err;
}

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && !strcmp(s + n - m, end);
}

static void test_save_errno(void **state)
{
	static const char *const none[] = { NULL };
	char state_big[BATON_KERNEL_STATE_MAX + 2] = { 0 };
	struct baton_kernel_save_opts scan = { .sysfs = root };
	struct baton_diag diag;
	char path[PATH_MAX];
	size_t len;
	void *img;

	(void)state;
	assert_int_equal(save(NULL, 0, NULL, &diag), 0);

	/* A missing attribute is ENOENT, a directory where one is EISDIR. */
	snprintf(path, sizeof(path), "%s/" DEV "/device", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(save(NULL, 0, NULL, &diag), -ENOENT);
	assert_int_equal(diag.err, ENOENT);
	assert_true(ends_with(diag.where, DEV "/device"));
	mkdir_in(DEV "/device");
	assert_int_equal(save(NULL, 0, NULL, &diag), -EISDIR);
	assert_int_equal(rmdir(path), 0);
	put(DEV "/device", "0x11e8\n");

	/* Not one device to record, or a mandatory one not recorded. */
	assert_int_equal(save(none, 0, NULL, &diag), -ENODEV);
	assert_int_equal(save(NULL, 0, "0000:02:00.0", &diag), -ENODEV);
	assert_string_equal(diag.where, "0000:02:00.0");

	/* One byte more than a driver may hand out. */
	memset(state_big, 'x', BATON_KERNEL_STATE_MAX + 1);
	put(DEV "/liveupdate_state", state_big);
	assert_int_equal(save(NULL, 0, NULL, &diag), -EFBIG);
	state_big[BATON_KERNEL_STATE_MAX] = '\0';
	put(DEV "/liveupdate_state", state_big);
	assert_int_equal(save(NULL, 0, NULL, &diag), 0);

	/* Scanning a root without bus/pci/devices. */
	snprintf(path, sizeof(path), "%s/nowhere", root);
	scan.sysfs = path;
	memset(&diag, 0, sizeof(diag));
	assert_int_equal(baton_kernel_save(&scan, &img, &len, &diag), -ENOENT);
	assert_true(ends_with(diag.where, "/nowhere/bus/pci/devices"));
}

/* The PCI core's record: absent on a kernel without the series, read back, checked. */
static void test_record(void **state)
{
	char out[BATON_KERNEL_RECORD_STRLEN];
	struct baton_diag diag = { 0 };

	(void)state;
	strcpy(out, "stale");
	assert_int_equal(baton_kernel_record(root, "0000:01:00.0", out, &diag), 0);
	assert_string_equal(out, "");
	assert_int_equal(baton_kernel_record(root, "0000:09:00.0", out, &diag), 0);

	put(DEV "/live_update_schema", "none\n");
	assert_int_equal(baton_kernel_record(root, "0000:01:00.0", out, &diag), 1);
	assert_string_equal(out, "none");
	put(DEV "/live_update_schema", "cfaf9865-199f-4ae8-9c43-2f5ac4f2a1b7\n");
	assert_int_equal(baton_kernel_record(root, "0000:01:00.0", out, &diag), 1);
	assert_string_equal(out, "cfaf9865-199f-4ae8-9c43-2f5ac4f2a1b7");

	/* What the kernel says is checked like any input, and so is the address. */
	put(DEV "/live_update_schema", "\033[2J\n");
	assert_int_equal(baton_kernel_record(root, "0000:01:00.0", out, &diag),
			 -BATON_ERR_BADVALUE);
	assert_string_equal(out, "");
	assert_int_equal(baton_kernel_record(root, "01:00", out, &diag),
			 -BATON_ERR_BADVALUE);
}

static void test_read_modules_errno(void **state)
{
	struct baton_contracts *set;
	struct baton_diag diag = { 0 };
	char path[PATH_MAX];

	(void)state;
	assert_int_equal(baton_contracts_read_modules(root, &set, &diag), -ENOENT);
	assert_true(ends_with(diag.where, "/modules.alias.bin"));

	/* modules.alias where depmod's index should be. */
	put("modules.alias.bin", "alias liveupdate:G3f7174ac46a957ecb761b29cdbf15055 edu\n");
	memset(&diag, 0, sizeof(diag));
	assert_int_equal(baton_contracts_read_modules(root, &set, &diag),
			 -BATON_ERR_BADVALUE);
	assert_string_equal(diag.what, "not a depmod index (run depmod on the tree)");

	/*
	 * depmod's index is libkmod's to parse, in a child: one whose root
	 * is a child of itself kills it (the recursion overflows its stack),
	 * one whose root's prefix runs past the end holds libkmod 30 in a
	 * loop until it is killed.  Big-endian, as depmod writes them: the
	 * magic, the version, the root's offset and flags.
	 */
	{
		static const unsigned char cycle[] = {
			0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0x20, 0, 0, 12,
			'a', 'a', 0x20, 0, 0, 12,
		};
		static const unsigned char endless[] = {
			0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0x40, 0, 0, 12,
		};
		int saved = baton_kmod_read_ms;

		put_bytes("modules.alias.bin", cycle, sizeof(cycle));
		memset(&diag, 0, sizeof(diag));
		assert_int_equal(baton_contracts_read_modules(root, &set, &diag),
				 -BATON_ERR_BADVALUE);
		assert_non_null(strstr(diag.what, "libkmod died reading it ("));
		baton_kmod_read_ms = 300;
		put_bytes("modules.alias.bin", endless, sizeof(endless));
		memset(&diag, 0, sizeof(diag));
		assert_int_equal(baton_contracts_read_modules(root, &set, &diag),
				 -BATON_ERR_BADVALUE);
		assert_string_equal(diag.what, "libkmod did not finish reading it in 300 ms: "
				    "not a depmod index");
		baton_kmod_read_ms = saved;
	}

	/* A link to itself. */
	snprintf(path, sizeof(path), "%s/modules.alias.bin", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("modules.alias.bin", path), 0);
	memset(&diag, 0, sizeof(diag));
	assert_int_equal(baton_contracts_read_modules(root, &set, &diag), -ELOOP);
	assert_true(ends_with(diag.where, "/modules.alias.bin"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_alias_exact),
		cmocka_unit_test(test_pci_alias_wildcards),
		cmocka_unit_test(test_pci_alias_rejects),
		cmocka_unit_test(test_guid_hex),
		cmocka_unit_test(test_module_name),
		cmocka_unit_test_setup_teardown(test_save_errno, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_record, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_read_modules_errno, make_root,
						remove_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
