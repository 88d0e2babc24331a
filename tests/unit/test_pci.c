// SPDX-License-Identifier: MIT
/* PCI addresses and id-table matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <baton/pci.h>
#include <baton/error.h>

static void test_addr_parse_format(void **state)
{
	struct baton_pci_addr a;
	char buf[BATON_PCI_ADDR_STRLEN];

	(void)state;
	assert_int_equal(baton_pci_addr_parse("0000:00:04.0", &a), 0);
	assert_int_equal(a.domain, 0);
	assert_int_equal(a.bus, 0);
	assert_int_equal(a.dev, 4);
	assert_int_equal(a.fn, 0);
	assert_int_equal(baton_pci_addr_parse("ABCD:EF:1f.7", &a), 0);
	assert_int_equal(a.domain, 0xabcd);
	assert_int_equal(a.bus, 0xef);
	assert_int_equal(a.dev, 0x1f);
	assert_int_equal(a.fn, 7);
	assert_string_equal(baton_pci_addr_format(&a, buf), "abcd:ef:1f.7");
}

static void test_addr_rejects(void **state)
{
	static const char *const bad[] = {
		"", "0000:00:04", "0000:00:04.0 ", "0000:00:04.8", "0000:00:20.0",
		"000:00:04.0", "0000-00:04.0", "0000:00:04:0", "g000:00:04.0",
		"0000:0x:04.0", "00000:00:04.0", "0000:00:4.0",
	};
	struct baton_pci_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(baton_pci_addr_parse(bad[i], &a),
				 -BATON_ERR_BADVALUE);
}

static void test_addr_order(void **state)
{
	struct baton_pci_addr a, b;

	(void)state;
	baton_pci_addr_parse("0000:00:1f.7", &a);
	baton_pci_addr_parse("0000:01:00.0", &b);
	assert_true(baton_pci_addr_cmp(&a, &b) < 0);
	assert_true(baton_pci_addr_cmp(&b, &a) > 0);
	assert_int_equal(baton_pci_addr_cmp(&a, &a), 0);
}

static void test_match(void **state)
{
	const struct baton_pci_ids ids = {
		.vendor = 0x1234, .device = 0x11e8, .subvendor = 0x1af4,
		.subdevice = 0x1100, .class_code = 0x00ff00,
	};
	struct baton_pci_match m = {
		.vendor = 0x1234, .device = 0x11e8, .subvendor = BATON_ANY_ID,
		.subdevice = BATON_ANY_ID,
	};

	(void)state;
	assert_true(baton_pci_match(&m, &ids));
	m.device = 0x11e9;
	assert_false(baton_pci_match(&m, &ids));
	m.device = BATON_ANY_ID;
	m.subvendor = 0x1af4;
	assert_true(baton_pci_match(&m, &ids));
	m.subdevice = 0x1101;
	assert_false(baton_pci_match(&m, &ids));
	m.subdevice = BATON_ANY_ID;
	/* Class under a mask: base class 0x00 matches, 0x02 does not. */
	m.class_code = 0x000000;
	m.class_mask = 0xff0000;
	assert_true(baton_pci_match(&m, &ids));
	m.class_code = 0x020000;
	assert_false(baton_pci_match(&m, &ids));
	m.class_mask = 0;
	assert_true(baton_pci_match(&m, &ids));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_format),
		cmocka_unit_test(test_addr_rejects),
		cmocka_unit_test(test_addr_order),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
