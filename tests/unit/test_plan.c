// SPDX-License-Identifier: MIT
/*
 * The binding planner: one test per rule of include/baton/plan.h, on
 * contract sets and records built by hand, asserting exact actions and
 * exact driver and accept pointers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/plan.h>

#include "internal.h"

#define VENDOR		0x1234
#define DEV_PKTGEN	0x5050
#define DEV_EDU		0x11e8
#define DEV_OTHER	0x7777
#define CLASS_ETH	0x020000	/* network controller, ethernet */

#define GUID(b) { (b), 0x5a, 0x01, 0x02, 0x03, 0x04, 0x50, 0x06, \
		  0x87, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, (b) }

static struct baton_schema_desc pktgen_v1 = {
	.owner = "pktgen_state_v1", .name = "pktgen-state", .version = 1,
	.guid = GUID(0xa1),
};
static struct baton_schema_desc pktgen_v2 = {
	.owner = "pktgen_state_v2", .name = "pktgen-state", .version = 2,
	.guid = GUID(0xa2),
};
static struct baton_schema_desc edu_v1 = {
	.owner = "edu_state_v1", .name = "edu-state", .version = 1,
	.guid = GUID(0xe1),
};
/* Pinned to pktgen-state v1's GUID under another name. */
static struct baton_schema_desc pktgen_alias = {
	.owner = "pktgen_alias_v1", .name = "pktgen-alias", .version = 1,
	.guid = GUID(0xa1),
};
/* Accepted by nobody. */
static struct baton_schema_desc lost_v1 = {
	.owner = "lost_state_v1", .name = "lost-state", .version = 1,
	.guid = GUID(0x77),
};

#define NATIVE(s)		{ .schema = (s), .target = (s), .via = BATON_VIA_NATIVE }
#define CONVERTED(from, to)	{ .schema = (from), .target = (to), .via = BATON_VIA_CONVERTER }
#define MATCH_DEVICE(v, d)	{ (v), (d), BATON_ANY_ID, BATON_ANY_ID, 0, 0 }

#define DRIVER(o, n, prio, idtab, acctab) {				\
	.owner = o, .name = n, .priority = (prio),			\
	.n_ids = BATON_ARRAY_SIZE(idtab), .ids = (idtab),		\
	.n_accepts = BATON_ARRAY_SIZE(acctab), .accepts = (acctab),	\
}

#define SET(drvs) { .n_drivers = BATON_ARRAY_SIZE(drvs), .drivers = (drvs) }

static struct baton_pci_match ids_pktgen[] = { MATCH_DEVICE(VENDOR, DEV_PKTGEN) };
static struct baton_pci_match ids_edu[] = { MATCH_DEVICE(VENDOR, DEV_EDU) };

static struct baton_accept_desc acc_p1[] = { NATIVE(&pktgen_v1) };
static struct baton_accept_desc acc_p2_conv_p1[] = {
	NATIVE(&pktgen_v2),
	CONVERTED(&pktgen_v1, &pktgen_v2),
};
static struct baton_accept_desc acc_conv_p1[] = { CONVERTED(&pktgen_v1, &pktgen_v2) };
static struct baton_accept_desc acc_edu[] = { NATIVE(&edu_v1) };

/*
 * A record of @vendor:@device carrying schema @s, or, when @s is NULL, the
 * GUID @guid and no schema name (as an image may).
 */
static struct baton_image_device record(uint32_t vendor, uint32_t device,
					const struct baton_schema_desc *s,
					const uint8_t *guid)
{
	static uint8_t next_dev;
	struct baton_image_device d = {
		.bus = "pci",
		.addr = { .domain = 0, .bus = 3, .dev = next_dev++ & 31 },
		.ids = {
			.vendor = vendor, .device = device,
			.subvendor = 0x1af4, .subdevice = 0x1100,
			.class_code = CLASS_ETH,
		},
		.orphan = BATON_ORPHAN_QUARANTINE,
	};

	memcpy(d.schema, guid ? guid : s->guid, BATON_GUID_SIZE);
	if (s) {
		d.schema_name = s->name;
		d.schema_version = s->version;
	}
	return d;
}

static struct baton_decision plan1(const struct baton_image_device *dev,
				   const struct baton_contracts *set,
				   const struct baton_plan_opts *opts)
{
	struct baton_decision d;

	memset(&d, 0xa5, sizeof(d));
	assert_int_equal(baton_plan(dev, 1, set, opts, &d), 0);
	assert_ptr_equal(d.device, dev);
	assert_non_null(memchr(d.reason, '\0', sizeof(d.reason)));
	return d;
}

static void assert_contains(const char *s, const char *word)
{
	if (!strstr(s, word))
		fail_msg("\"%s\" does not contain \"%s\"", s, word);
}

static void test_bind_native(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
		DRIVER("pktgen_driver", "pktgen", 0, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_EDU, &edu_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[0]);
	assert_ptr_equal(d.accept, &acc_edu[0]);
	assert_string_equal(d.reason, "bound to edu: reads edu-state v1 natively");
}

static void test_convert(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device v1 = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_image_device v2 = record(VENDOR, DEV_PKTGEN, &pktgen_v2, NULL);
	struct baton_decision d = plan1(&v1, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_CONVERT);
	assert_ptr_equal(d.driver, &drivers[0]);
	assert_ptr_equal(d.accept, &acc_p2_conv_p1[1]);
	assert_string_equal(d.reason, "bound to nicx by converter from "
			    "pktgen-state v1 to pktgen-state v2");

	/* The same driver reads its own schema natively. */
	d = plan1(&v2, &set, NULL);
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[0]);
	assert_ptr_equal(d.accept, &acc_p2_conv_p1[0]);
}

static void test_native_beats_converter(void **state)
{
	/* The converter's driver has the higher priority, and still loses. */
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 100, ids_pktgen, acc_conv_p1),
		DRIVER("pktgen_driver", "pktgen", -5, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[1]);
	assert_ptr_equal(d.accept, &acc_p1[0]);
}

static void test_priority(void **state)
{
	static struct baton_accept_desc conv[] = { CONVERTED(&pktgen_v1, &pktgen_v2) };
	struct baton_contract natives[] = {
		DRIVER("a_driver", "a", 3, ids_pktgen, acc_p1),
		DRIVER("b_driver", "b", 7, ids_pktgen, acc_p1),
		DRIVER("c_driver", "c", -2, ids_pktgen, acc_p1),
	};
	struct baton_contract converters[] = {
		DRIVER("a_driver", "a", 1, ids_pktgen, acc_conv_p1),
		DRIVER("b_driver", "b", 0, ids_pktgen, conv),
	};
	struct baton_contracts set = SET(natives);
	struct baton_contracts conv_set = SET(converters);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &natives[1]);
	assert_ptr_equal(d.accept, &acc_p1[0]);

	/* Among converters too. */
	d = plan1(&dev, &conv_set, NULL);
	assert_int_equal(d.action, BATON_ACTION_CONVERT);
	assert_ptr_equal(d.driver, &converters[0]);
	assert_ptr_equal(d.accept, &acc_conv_p1[0]);
}

static void test_conflict(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p1),
		DRIVER("pktgen_driver", "pktgen", 10, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_CONFLICT);
	assert_null(d.driver);
	assert_null(d.accept);
	assert_string_equal(d.reason, "2 drivers accept pktgen-state v1 natively "
			    "at priority 10: nicx, pktgen — nothing bound");
}

static void test_conflict_converters(void **state)
{
	static struct baton_accept_desc conv[] = { CONVERTED(&pktgen_v1, &pktgen_v2) };
	struct baton_contract drivers[] = {
		DRIVER("x_driver", "x", 2, ids_pktgen, acc_conv_p1),
		DRIVER("y_driver", "y", 2, ids_pktgen, conv),
		/* Loses on priority: not part of the tie, not named. */
		DRIVER("z_driver", "z", 1, ids_pktgen, conv),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_CONFLICT);
	assert_null(d.driver);
	assert_string_equal(d.reason, "2 drivers accept pktgen-state v1 by converter "
			    "at priority 2: x, y — nothing bound");
}

/* A tie below the best candidate is no conflict. */
static void test_tie_below_winner(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("a_driver", "a", 1, ids_pktgen, acc_p1),
		DRIVER("b_driver", "b", 1, ids_pktgen, acc_p1),
		DRIVER("c_driver", "c", 2, ids_pktgen, acc_p1),
		DRIVER("d_driver", "d", 9, ids_pktgen, acc_conv_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[2]);
}

/* A driver accepting one GUID twice does not conflict with itself. */
static void test_accepted_twice(void **state)
{
	static struct baton_accept_desc twice[] = {
		CONVERTED(&pktgen_v1, &pktgen_v2),
		NATIVE(&pktgen_v1),
		CONVERTED(&pktgen_v1, &pktgen_v2),
	};
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 0, ids_pktgen, twice),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[0]);
	assert_ptr_equal(d.accept, &twice[1]);
}

/* Two schemas pinned to one GUID, both read natively: still one candidate. */
static void test_accepted_twice_natively(void **state)
{
	static struct baton_accept_desc twice[] = {
		NATIVE(&pktgen_v1),
		NATIVE(&pktgen_alias),
	};
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 0, ids_pktgen, twice),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[0]);
	assert_ptr_equal(d.accept, &twice[0]);
}

static void swap(size_t *a, size_t *b)
{
	size_t t = *a;

	*a = *b;
	*b = t;
}

/* The next order of @a in lexicographic order; false after the last. */
static bool next_permutation(size_t *a, size_t n)
{
	size_t i = n - 1, j = n - 1;

	while (i > 0 && a[i - 1] >= a[i])
		i--;
	if (i == 0)
		return false;
	while (a[j] <= a[i - 1])
		j--;
	swap(&a[i - 1], &a[j]);
	for (j = n - 1; i < j; i++, j--)
		swap(&a[i], &a[j]);
	return true;
}

/*
 * Plan @dev against every order of @base and check every order gives the
 * same action, driver (by owner), accept and reason.
 */
static void check_order_independent(const struct baton_contract *base, size_t n,
				    const struct baton_image_device *dev,
				    enum baton_action want, const char *want_owner)
{
	struct baton_contract perm[6];
	struct baton_contracts set = { .n_drivers = n, .drivers = perm };
	size_t order[6];
	char first_reason[sizeof(((struct baton_decision *)0)->reason)] = "";
	size_t runs = 0;

	assert_true(n <= BATON_ARRAY_SIZE(perm));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	do {
		struct baton_decision d;

		for (size_t i = 0; i < n; i++)
			perm[i] = base[order[i]];
		d = plan1(dev, &set, NULL);
		assert_int_equal(d.action, want);
		if (want_owner) {
			assert_non_null(d.driver);
			assert_string_equal(d.driver->owner, want_owner);
			assert_true(d.driver >= perm && d.driver < perm + n);
		} else {
			assert_null(d.driver);
		}
		if (!runs++)
			strcpy(first_reason, d.reason);
		else
			assert_string_equal(d.reason, first_reason);
	} while (next_permutation(order, n));
}

static void test_order_independent(void **state)
{
	static struct baton_accept_desc conv_hi[] = { CONVERTED(&pktgen_v1, &pktgen_v2) };
	const struct baton_contract tie[] = {
		DRIVER("zeta_driver", "zeta", 4, ids_pktgen, acc_p1),
		DRIVER("alpha_driver", "alpha", 4, ids_pktgen, acc_p1),
		DRIVER("mid_driver", "mid", 3, ids_pktgen, acc_p1),
		DRIVER("conv_driver", "conv", 50, ids_pktgen, conv_hi),
		DRIVER("edu_driver", "edu", 4, ids_edu, acc_edu),
	};
	const struct baton_contract unique[] = {
		DRIVER("zeta_driver", "zeta", 4, ids_pktgen, acc_p1),
		DRIVER("alpha_driver", "alpha", 5, ids_pktgen, acc_p1),
		DRIVER("mid_driver", "mid", 3, ids_pktgen, acc_p1),
		DRIVER("conv_driver", "conv", 50, ids_pktgen, conv_hi),
	};
	/* Only the ids differ: the set lists both for the reason. */
	const struct baton_contract orphan[] = {
		DRIVER("zeta_driver", "zeta", 4, ids_edu, acc_p1),
		DRIVER("alpha_driver", "alpha", 4, ids_edu, acc_p1),
		DRIVER("mid_driver", "mid", 3, ids_pktgen, acc_edu),
		DRIVER("beta_driver", "beta", 3, ids_pktgen, acc_edu),
	};
	/*
	 * Same names, one GUID under two schema names: the reason names the
	 * schema as the first driver by (name, owner) does.
	 */
	static struct baton_accept_desc acc_alias[] = { NATIVE(&pktgen_alias) };
	struct baton_contract same_name[] = {
		DRIVER("y_nic", "nic", 1, ids_pktgen, acc_p1),
		DRIVER("x_nic", "nic", 1, ids_pktgen, acc_alias),
		DRIVER("z_nic", "nic", 1, ids_pktgen, acc_p1),
	};
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d;

	(void)state;
	check_order_independent(tie, BATON_ARRAY_SIZE(tie), &dev,
				BATON_ACTION_CONFLICT, NULL);
	check_order_independent(same_name, BATON_ARRAY_SIZE(same_name), &dev,
				BATON_ACTION_CONFLICT, NULL);
	{
		struct baton_contracts set = SET(same_name);

		d = plan1(&dev, &set, NULL);
		assert_string_equal(d.reason, "3 drivers accept pktgen-alias v1 "
				    "natively at priority 1: nic, nic, nic — "
				    "nothing bound");
	}
	check_order_independent(unique, BATON_ARRAY_SIZE(unique), &dev,
				BATON_ACTION_BIND, "alpha_driver");
	check_order_independent(orphan, BATON_ARRAY_SIZE(orphan), &dev,
				BATON_ACTION_QUARANTINE, NULL);
}

/*
 * The v1 image names no driver: a v1 record goes to whichever driver
 * accepts its GUID for its ids, whatever that driver is called.
 */
static void test_renamed_driver(void **state)
{
	struct baton_contract v1_set[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
		DRIVER("pktgen_driver", "pktgen", 10, ids_pktgen, acc_p2_conv_p1),
	};
	struct baton_contract v2_set[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
	};
	struct baton_contracts a = SET(v1_set), b = SET(v2_set);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision da = plan1(&dev, &a, NULL);
	struct baton_decision db = plan1(&dev, &b, NULL);

	(void)state;
	assert_int_equal(da.action, BATON_ACTION_CONVERT);
	assert_int_equal(db.action, BATON_ACTION_CONVERT);
	assert_ptr_equal(da.driver, &v1_set[1]);
	assert_ptr_equal(db.driver, &v2_set[1]);
	assert_ptr_equal(da.accept, &acc_p2_conv_p1[1]);
	assert_ptr_equal(db.accept, da.accept);
	assert_contains(da.reason, "pktgen by converter");
	assert_contains(db.reason, "nicx by converter");
}

static void test_ids_without_guid(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &lost_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_null(d.driver);
	assert_null(d.accept);
	assert_string_equal(d.reason, "1 driver matches ids 1234:5050 but none accepts "
			    "lost-state v1: nicx — quarantine (the record's policy)");

	dev.orphan = BATON_ORPHAN_RESET;
	d = plan1(&dev, &set, NULL);
	assert_int_equal(d.action, BATON_ACTION_RESET);
	assert_null(d.driver);
	assert_contains(d.reason, "— reset (the record's policy)");
}

static void test_guid_without_ids(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_OTHER, &edu_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_null(d.driver);
	assert_string_equal(d.reason, "no driver matches ids 1234:7777; edu-state v1 is "
			    "accepted only by drivers for other ids: edu — "
			    "quarantine (the record's policy)");

	/* Both: some drivers match the ids, others accept the schema. */
	dev = record(VENDOR, DEV_PKTGEN, &edu_v1, NULL);
	dev.orphan = BATON_ORPHAN_RESET;
	d = plan1(&dev, &set, NULL);
	assert_int_equal(d.action, BATON_ACTION_RESET);
	assert_string_equal(d.reason, "1 driver matches ids 1234:5050 but none accepts "
			    "edu-state v1: nicx; drivers for other ids accept it: "
			    "edu — reset (the record's policy)");
}

static void test_nothing_matches(void **state)
{
	static const uint8_t guid[BATON_GUID_SIZE] = {
		0x5e, 0x1f, 0x4b, 0x2a, 0x9c, 0x3d, 0x4e, 0x8f,
		0xa7, 0xb6, 0x0d, 0x2c, 0x1e, 0x3f, 0x4a, 0x5b,
	};
	struct baton_contract drivers[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(0x8086, 0x10d3, &lost_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_string_equal(d.reason, "no driver matches ids 8086:10d3 or accepts "
			    "lost-state v1 — quarantine (the record's policy)");

	/* An image without schema names: the GUID names the schema. */
	dev = record(0x8086, 0x10d3, NULL, guid);
	d = plan1(&dev, &set, NULL);
	assert_string_equal(d.reason, "no driver matches ids 8086:10d3 or accepts "
			    "schema 5e1f4b2a-9c3d-4e8f-a7b6-0d2c1e3f4a5b — "
			    "quarantine (the record's policy)");
}

/* Numbers in reasons read as printf's %04x and %u would write them. */
static void test_reason_numbers(void **state)
{
	struct baton_contracts set = { 0 };
	struct baton_image_device dev = record(0x1, 0xfffffffe, &lost_v1, NULL);
	struct baton_decision d;

	(void)state;
	dev.schema_version = 0;
	d = plan1(&dev, &set, NULL);
	assert_string_equal(d.reason, "no driver matches ids 0001:fffffffe or accepts "
			    "lost-state v0 — quarantine (the record's policy)");
	dev = record(0x10000, 0, &lost_v1, NULL);
	dev.schema_version = 4294967295u;
	d = plan1(&dev, &set, NULL);
	assert_string_equal(d.reason, "no driver matches ids 10000:0000 or accepts "
			    "lost-state v4294967295 — quarantine (the record's policy)");
	dev.schema_version = 1000;
	d = plan1(&dev, &set, NULL);
	assert_contains(d.reason, " v1000 — ");
}

static void test_class_and_wildcards(void **state)
{
	/* Any ethernet controller, whatever its vendor. */
	static struct baton_pci_match eth_class[] = {
		{ BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID,
		  CLASS_ETH, 0xffff00 },
	};
	/* Any device of one vendor, one subsystem only. */
	static struct baton_pci_match vendor_sub[] = {
		{ VENDOR, BATON_ANY_ID, 0x1af4, 0x1100, 0, 0 },
	};
	/* Storage class only: never matches an ethernet device. */
	static struct baton_pci_match nvme_class[] = {
		{ BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID,
		  0x010802, 0xffffff },
	};
	struct baton_contract by_class[] = {
		DRIVER("eth_driver", "eth", 0, eth_class, acc_p1),
		DRIVER("nvme_driver", "nvme", 9, nvme_class, acc_p1),
	};
	struct baton_contract by_vendor[] = {
		DRIVER("sub_driver", "sub", 0, vendor_sub, acc_p1),
	};
	static struct baton_pci_match both[] = {
		MATCH_DEVICE(0x8086, 0x10d3),
		{ BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID,
		  CLASS_ETH, 0xff0000 },
	};
	static struct baton_pci_match subclass[] = {
		{ BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID, BATON_ANY_ID,
		  0x000000, 0x00ffff },
	};
	struct baton_contract by_subclass[] = {
		DRIVER("sub_driver", "sub", 0, subclass, acc_p1),
	};
	struct baton_contract multi[] = {
		DRIVER("multi_driver", "multi", 0, both, acc_p1),
	};
	struct baton_contracts cs = SET(by_class), vs = SET(by_vendor);
	struct baton_contracts ms = SET(multi), ss = SET(by_subclass);
	struct baton_image_device dev = record(0x8086, 0x10d3, &pktgen_v1, NULL);
	struct baton_decision d;

	(void)state;
	dev.ids.class_code = CLASS_ETH | 0x01;	/* prog-if is masked out */
	d = plan1(&dev, &cs, NULL);
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &by_class[0]);

	dev.ids.class_code = 0x010802;
	d = plan1(&dev, &cs, NULL);
	assert_ptr_equal(d.driver, &by_class[1]);

	dev.ids.class_code = 0x030000;
	d = plan1(&dev, &cs, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "no driver matches ids 8086:10d3");

	dev = record(VENDOR, 0xbeef, &pktgen_v1, NULL);
	d = plan1(&dev, &vs, NULL);
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &by_vendor[0]);

	dev.ids.subdevice = 0x1101;
	d = plan1(&dev, &vs, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "no driver matches");

	/* The id index finds wildcard entries for the reason too. */
	dev = record(0x8086, 0x10d3, &edu_v1, NULL);
	d = plan1(&dev, &cs, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "1 driver matches ids 8086:10d3 but none accepts "
			"edu-state v1: eth");

	/* By subclass and prog-if only, whatever the base class. */
	d = plan1(&dev, &ss, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "1 driver matches ids 8086:10d3 but none accepts "
			"edu-state v1: sub —");

	/* A driver matching by two entries is one driver. */
	d = plan1(&dev, &ms, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "1 driver matches ids 8086:10d3 but none accepts "
			"edu-state v1: multi —");
}

static void test_override(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_plan_opts q = { .orphan = BATON_OVERRIDE_QUARANTINE };
	struct baton_plan_opts r = { .orphan = BATON_OVERRIDE_RESET };
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d;

	(void)state;
	dev.orphan = BATON_ORPHAN_QUARANTINE;
	d = plan1(&dev, &set, &r);
	assert_int_equal(d.action, BATON_ACTION_RESET);
	assert_contains(d.reason, "— reset (policy overridden)");
	d = plan1(&dev, &set, &q);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "— quarantine (policy overridden)");

	dev.orphan = BATON_ORPHAN_RESET;
	d = plan1(&dev, &set, &q);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	d = plan1(&dev, &set, &r);
	assert_int_equal(d.action, BATON_ACTION_RESET);

	/* An override never touches a record that has a driver. */
	dev = record(VENDOR, DEV_EDU, &edu_v1, NULL);
	d = plan1(&dev, &set, &r);
	assert_int_equal(d.action, BATON_ACTION_BIND);
	assert_ptr_equal(d.driver, &drivers[0]);
}

static void test_release_absent(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
		DRIVER("pktgen_driver", "pktgen", 0, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device devs[] = {
		record(VENDOR, DEV_EDU, &edu_v1, NULL),
		record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL),
		record(VENDOR, DEV_OTHER, &lost_v1, NULL),
	};
	/* Unsorted, with a device that has no record. */
	struct baton_pci_addr present[] = {
		{ .domain = 1, .bus = 0, .dev = 0, .fn = 0 },
		devs[1].addr,
		{ .domain = 0, .bus = 0, .dev = 2, .fn = 1 },
	};
	struct baton_plan_opts opts = { .present = present, .n_present = 3 };
	struct baton_decision d[3];

	(void)state;
	devs[2].orphan = BATON_ORPHAN_RESET;

	assert_int_equal(baton_plan(devs, 3, &set, &opts, d), 0);
	assert_int_equal(d[0].action, BATON_ACTION_RELEASE);
	assert_null(d[0].driver);
	assert_null(d[0].accept);
	assert_string_equal(d[0].reason, "device not present: its preserved "
			    "state and fds are released");
	assert_int_equal(d[1].action, BATON_ACTION_BIND);
	assert_ptr_equal(d[1].driver, &drivers[1]);
	/* Absence comes first, whatever the orphan policy. */
	assert_int_equal(d[2].action, BATON_ACTION_RELEASE);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(d[i].device, &devs[i]);

	/* NULL: every device is present. */
	opts.present = NULL;
	assert_int_equal(baton_plan(devs, 3, &set, &opts, d), 0);
	assert_int_equal(d[0].action, BATON_ACTION_BIND);
	assert_int_equal(d[1].action, BATON_ACTION_BIND);
	assert_int_equal(d[2].action, BATON_ACTION_RESET);

	/* An empty list: no device is. */
	opts.present = present;
	opts.n_present = 0;
	assert_int_equal(baton_plan(devs, 3, &set, &opts, d), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(d[i].action, BATON_ACTION_RELEASE);
}

static void test_plan_ok(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device devs[] = {
		record(VENDOR, DEV_EDU, &edu_v1, NULL),		/* bind */
		record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL),	/* convert */
		record(VENDOR, DEV_OTHER, &lost_v1, NULL),	/* quarantine */
	};
	struct baton_decision d[3];

	(void)state;
	devs[0].mandatory = devs[1].mandatory = true;
	assert_int_equal(baton_plan(devs, 3, &set, NULL, d), 0);
	assert_int_equal(d[0].action, BATON_ACTION_BIND);
	assert_int_equal(d[1].action, BATON_ACTION_CONVERT);
	assert_int_equal(d[2].action, BATON_ACTION_QUARANTINE);
	assert_true(baton_plan_ok(d, 3));

	devs[2].mandatory = true;
	assert_false(baton_plan_ok(d, 3));
	assert_true(baton_plan_ok(d, 2));

	/* Every unbound action fails a mandatory record. */
	for (int a = BATON_ACTION_QUARANTINE; a <= BATON_ACTION_RELEASE; a++) {
		d[2].action = a;
		assert_false(baton_plan_ok(d, 3));
	}
	d[2].action = BATON_ACTION_BIND;
	assert_true(baton_plan_ok(d, 3));
	assert_true(baton_plan_ok(NULL, 0));
}

static void test_empty(void **state)
{
	struct baton_contracts none = { 0 };
	struct baton_contract drivers[] = {
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_EDU, &edu_v1, NULL);
	struct baton_decision d;

	(void)state;
	assert_int_equal(baton_plan(NULL, 0, &set, NULL, NULL), 0);
	assert_int_equal(baton_plan(NULL, 0, NULL, NULL, NULL), 0);

	d = plan1(&dev, &none, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_string_equal(d.reason, "no driver matches ids 1234:11e8 or accepts "
			    "edu-state v1 — quarantine (the record's policy)");
	d = plan1(&dev, NULL, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);

	/* A driver with empty tables takes nothing. */
	drivers[0].n_ids = 0;
	d = plan1(&dev, &set, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	drivers[0].n_ids = 1;
	drivers[0].n_accepts = 0;
	d = plan1(&dev, &set, NULL);
	assert_int_equal(d.action, BATON_ACTION_QUARANTINE);
	assert_contains(d.reason, "1 driver matches ids 1234:11e8 but none accepts");
}

static void test_many_named(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("e_driver", "e", 1, ids_pktgen, acc_p1),
		DRIVER("d_driver", "d", 1, ids_pktgen, acc_p1),
		DRIVER("c_driver", "c", 1, ids_pktgen, acc_p1),
		DRIVER("b_driver", "b", 1, ids_pktgen, acc_p1),
		DRIVER("a_driver", "a", 1, ids_pktgen, acc_p1),
		/* No name: the owner stands for it. */
		DRIVER("0_anon", "", 1, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);
	struct baton_decision d = plan1(&dev, &set, NULL);

	(void)state;
	assert_int_equal(d.action, BATON_ACTION_CONFLICT);
	assert_string_equal(d.reason, "6 drivers accept pktgen-state v1 natively at "
			    "priority 1: 0_anon, a, b and 3 more — nothing bound");
}

/* Whether @s is valid UTF-8 (no overlong or surrogate checks needed here). */
static bool utf8_valid(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		int more = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 :
			   *p >= 0xc0 ? 1 : -1;

		if (more < 0)
			return false;
		for (p++; more; more--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static void test_reason_truncated(void **state)
{
	struct baton_contract drivers[3] = {
		DRIVER("a_driver", "", 1, ids_pktgen, acc_p1),
		DRIVER("b_driver", "", 1, ids_pktgen, acc_p1),
		DRIVER("c_driver", "", 1, ids_pktgen, acc_p1),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device dev = record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL);

	(void)state;
	/* Shift by one byte at a time so the cut lands inside a character. */
	for (size_t shift = 0; shift < 4; shift++) {
		for (size_t i = 0; i < BATON_ARRAY_SIZE(drivers); i++) {
			char *name = drivers[i].name;
			size_t len = 0;

			memset(name, 0, sizeof(drivers[i].name));
			name[len++] = (char)('a' + i);
			memset(name + len, '-', shift);
			len += shift;
			/* "é" is two bytes, "€" three: fill to the limit. */
			while (len + 3 < sizeof(drivers[i].name) - 1) {
				memcpy(name + len, i % 2 ? "€" : "é", i % 2 ? 3 : 2);
				len += i % 2 ? 3 : 2;
			}
		}
		struct baton_decision d = plan1(&dev, &set, NULL);

		assert_int_equal(d.action, BATON_ACTION_CONFLICT);
		assert_true(strlen(d.reason) < sizeof(d.reason));
		assert_true(strlen(d.reason) > sizeof(d.reason) - 4);
		assert_true(utf8_valid(d.reason));
		assert_contains(d.reason, "3 drivers accept pktgen-state v1 natively");
	}
}

static void test_action_name(void **state)
{
	(void)state;
	assert_string_equal(baton_action_name(BATON_ACTION_BIND), "bind");
	assert_string_equal(baton_action_name(BATON_ACTION_CONVERT), "convert");
	assert_string_equal(baton_action_name(BATON_ACTION_QUARANTINE), "quarantine");
	assert_string_equal(baton_action_name(BATON_ACTION_RESET), "reset");
	assert_string_equal(baton_action_name(BATON_ACTION_CONFLICT), "conflict");
	assert_string_equal(baton_action_name(BATON_ACTION_RELEASE), "release");
	assert_null(baton_action_name(BATON_ACTION_RELEASE + 1));
	assert_null(baton_action_name((enum baton_action)-1));
}

/* Many records and drivers at once: decisions in record order. */
static void test_many_records(void **state)
{
	enum { N_DRV = 40, N_REC = 400 };
	struct baton_contract *drivers = calloc(N_DRV, sizeof(*drivers));
	struct baton_pci_match *ids = calloc(N_DRV, sizeof(*ids));
	struct baton_image_device *devs = calloc(N_REC, sizeof(*devs));
	struct baton_decision *d = calloc(N_REC, sizeof(*d));
	struct baton_contracts set = { .n_drivers = N_DRV, .drivers = drivers };

	(void)state;
	assert_non_null(drivers);
	assert_non_null(ids);
	assert_non_null(devs);
	assert_non_null(d);
	for (size_t i = 0; i < N_DRV; i++) {
		struct baton_pci_match m = MATCH_DEVICE(VENDOR, 0x1000 + (uint32_t)i);

		ids[i] = m;
		snprintf(drivers[i].owner, sizeof(drivers[i].owner), "drv%zu", i);
		drivers[i].n_ids = 1;
		drivers[i].ids = &ids[i];
		/* Everyone accepts pktgen v1: one long chain. */
		drivers[i].n_accepts = 1;
		drivers[i].accepts = acc_p1;
	}
	for (size_t i = 0; i < N_REC; i++) {
		devs[i] = record(VENDOR, 0x1000 + (uint32_t)(i % (N_DRV + 1)),
				 &pktgen_v1, NULL);
		devs[i].addr.domain = (uint16_t)i;
	}
	assert_int_equal(baton_plan(devs, N_REC, &set, NULL, d), 0);
	for (size_t i = 0; i < N_REC; i++) {
		size_t want = i % (N_DRV + 1);

		assert_ptr_equal(d[i].device, &devs[i]);
		if (want == N_DRV) {
			assert_int_equal(d[i].action, BATON_ACTION_QUARANTINE);
			assert_contains(d[i].reason, "and 37 more");
		} else {
			assert_int_equal(d[i].action, BATON_ACTION_BIND);
			assert_ptr_equal(d[i].driver, &drivers[want]);
		}
	}
	free(d);
	free(devs);
	free(ids);
	free(drivers);
}

/*
 * Allocation failure, run as its own test (`test_plan nomem`: meson's
 * plan_nomem): the program interposes malloc(), calloc() and free() to
 * fail the n-th allocation and count what is still allocated.
 * AddressSanitizer and valgrind own the allocator themselves; there the
 * test says so and exits 77, which meson reports as skipped, not passed
 * (valgrind still checks for leaks on the success path, in the tests
 * above).
 */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifndef HAVE_ASAN
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void __libc_free(void *p);

static bool faults_armed;
static long allocs_left;	/* when armed: allocations that still succeed */
static long allocs_live;	/* when armed: allocated and not yet freed */

static bool alloc_fails(void)
{
	if (!faults_armed)
		return false;
	if (allocs_left == 0)
		return true;
	allocs_left--;
	return false;
}

void *malloc(size_t size)
{
	void *p = alloc_fails() ? NULL : __libc_malloc(size);

	allocs_live += faults_armed && p;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = alloc_fails() ? NULL : __libc_calloc(n, size);

	allocs_live += faults_armed && p;
	return p;
}

void free(void *p)
{
	allocs_live -= faults_armed && p;
	__libc_free(p);
}

/* Whether the malloc() above is the one the program gets (not valgrind's). */
static bool interposed(void)
{
	/* Called through a volatile pointer: the compiler may not elide it. */
	void *(*volatile alloc)(size_t) = malloc;
	void *p;

	allocs_left = 0;
	faults_armed = true;
	p = alloc(16);
	faults_armed = false;
	free(p);
	return !p;
}

static void test_nomem(void **state)
{
	struct baton_contract drivers[] = {
		DRIVER("nicx_driver", "nicx", 10, ids_pktgen, acc_p2_conv_p1),
		DRIVER("edu_driver", "edu", 0, ids_edu, acc_edu),
	};
	struct baton_contracts set = SET(drivers);
	struct baton_image_device devs[] = {
		record(VENDOR, DEV_EDU, &edu_v1, NULL),
		record(VENDOR, DEV_PKTGEN, &pktgen_v1, NULL),
		record(VENDOR, DEV_OTHER, &lost_v1, NULL),
	};
	struct baton_pci_addr present[] = { devs[2].addr, devs[0].addr };
	struct baton_plan_opts opts = { .present = present, .n_present = 2 };
	struct baton_decision d[3], untouched;
	long n;
	int err;

	(void)state;
	memset(&untouched, 0x5c, sizeof(untouched));
	for (n = 0;; n++) {
		for (size_t i = 0; i < 3; i++)
			d[i] = untouched;
		allocs_left = n;
		allocs_live = 0;
		faults_armed = true;
		err = baton_plan(devs, 3, &set, &opts, d);
		faults_armed = false;
		assert_int_equal(allocs_live, 0);
		if (!err)
			break;
		assert_int_equal(err, -ENOMEM);
		for (size_t i = 0; i < 3; i++)
			assert_memory_equal(&d[i], &untouched, sizeof(untouched));
	}
	/* Every allocation was failed once before the call got through. */
	assert_true(n >= 7);
	assert_int_equal(d[0].action, BATON_ACTION_BIND);
	assert_int_equal(d[1].action, BATON_ACTION_RELEASE);
	assert_int_equal(d[2].action, BATON_ACTION_QUARANTINE);
}
#endif

/* `test_plan nomem`: the allocation failures alone (see above). */
static int run_nomem(void)
{
#ifdef HAVE_ASAN
	printf("# skipped: AddressSanitizer owns the allocator\n");
	return 77;
#else
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nomem),
	};

	if (!interposed()) {
		printf("# skipped: malloc() is not ours (valgrind?)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_native),
		cmocka_unit_test(test_convert),
		cmocka_unit_test(test_native_beats_converter),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_conflict_converters),
		cmocka_unit_test(test_tie_below_winner),
		cmocka_unit_test(test_accepted_twice),
		cmocka_unit_test(test_accepted_twice_natively),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_renamed_driver),
		cmocka_unit_test(test_ids_without_guid),
		cmocka_unit_test(test_guid_without_ids),
		cmocka_unit_test(test_nothing_matches),
		cmocka_unit_test(test_reason_numbers),
		cmocka_unit_test(test_class_and_wildcards),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_release_absent),
		cmocka_unit_test(test_plan_ok),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_many_named),
		cmocka_unit_test(test_reason_truncated),
		cmocka_unit_test(test_action_name),
		cmocka_unit_test(test_many_records),
	};

	if (argc == 2 && !strcmp(argv[1], "nomem"))
		return run_nomem();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
