// SPDX-License-Identifier: MIT
/*
 * The kernel path's parsers: depmod's pci aliases as id-table entries,
 * 32-hex-digit GUIDs, module names.  The flows (save, plan --modules, bind)
 * are tested on a fake sysfs in tests/integration/test_kernel.sh and on a
 * real kernel in tests/vm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_alias_exact),
		cmocka_unit_test(test_pci_alias_wildcards),
		cmocka_unit_test(test_pci_alias_rejects),
		cmocka_unit_test(test_guid_hex),
		cmocka_unit_test(test_module_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
