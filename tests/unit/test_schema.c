// SPDX-License-Identifier: MIT
/*
 * Schemas: one declaration gives the struct and its field table; GUIDs are
 * derived from the canonical layout.  The golden values below were also
 * computed independently (Python's uuid.uuid5 over the canonical text,
 * docs/schemas.md): a change to the canonical form must fail here, because
 * it would silently re-key every image in the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <baton/schema.h>

#include "../drivers/schemas.h"

static void assert_guid(const uint8_t guid[BATON_GUID_SIZE], const char *want)
{
	char buf[BATON_CONTRACT_GUID_STRLEN];

	assert_string_equal(baton_guid_format(guid, buf), want);
}

static struct baton_schema_desc *describe(const struct baton_schema *s)
{
	struct baton_schema_desc *d = NULL;

	assert_int_equal(baton_schema_describe(s, &d), 0);
	assert_non_null(d);
	return d;
}

static void test_golden_guids(void **state)
{
	static const struct {
		const struct baton_schema *schema;
		const char *guid;
	} golden[] = {
		{ &pktgen_state_v1_schema, "3f7174ac-46a9-57ec-b761-b29cdbf15055" },
		{ &pktgen_state_v2_schema, "21df2dbf-a1ae-5f1a-93b2-24395398b445" },
		{ &edu_state_v1_schema, "627519a5-fbc7-59d8-9d45-92938b4ca313" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		struct baton_schema_desc *d = describe(golden[i].schema);

		assert_false(d->pinned);
		assert_guid(d->guid, golden[i].guid);
		assert_memory_equal(d->guid, d->derived, BATON_GUID_SIZE);
		baton_schema_desc_free(d);
	}
}

static void test_canonical_layout(void **state)
{
	struct baton_schema_desc *d = describe(&pktgen_state_v1_schema);
	char buf[512];
	int len;

	(void)state;
	len = baton_schema_layout(d, buf, sizeof(buf));
	assert_string_equal(buf,
		"baton-schema-v1\n"
		"name=pktgen-state\n"
		"version=1\n"
		"field=next_seq:u64:0:8\n"
		"field=ring_head:u32:8:4\n"
		"field=ring_size:u32:12:4\n"
		"field=rx_packets:u64:16:8\n"
		"field=mac:u8[6]:24:6\n");
	assert_int_equal(len, strlen(buf));
	/* A short buffer still reports the full length, and stays terminated. */
	assert_int_equal(baton_schema_layout(d, buf, 10), len);
	assert_int_equal(strlen(buf), 9);
	assert_int_equal(baton_schema_layout(d, NULL, 0), len);
	baton_schema_desc_free(d);
}

/* The struct and the table come from one list: they agree on everything. */
static void test_struct_matches_table(void **state)
{
	struct baton_schema_desc *d = describe(&pktgen_state_v2_schema);

	(void)state;
	assert_int_equal(d->n_fields, 8);
	assert_string_equal(d->fields[0].name, "next_seq");
	assert_int_equal(d->fields[0].offset, offsetof(struct pktgen_state_v2, next_seq));
	assert_int_equal(d->fields[0].size, sizeof(((struct pktgen_state_v2 *)0)->next_seq));
	assert_string_equal(d->fields[4].name, "mac");
	assert_string_equal(d->fields[4].type, "u8[6]");
	assert_int_equal(d->fields[4].offset, offsetof(struct pktgen_state_v2, mac));
	assert_string_equal(d->fields[7].name, "rx_bytes");
	assert_string_equal(d->fields[7].type, "u64");
	assert_int_equal(d->fields[7].offset, offsetof(struct pktgen_state_v2, rx_bytes));
	assert_int_equal(pktgen_state_v2_schema.size, sizeof(struct pktgen_state_v2));
	assert_string_equal(d->name, "pktgen-state");
	assert_int_equal(d->version, 2);
	assert_string_equal(d->owner, "pktgen_state_v2");
	baton_schema_desc_free(d);
}

/* Every part of the layout feeds the GUID. */
static void test_any_change_changes_guid(void **state)
{
	struct baton_schema_desc *d = describe(&edu_state_v1_schema);
	uint8_t base[BATON_GUID_SIZE], g[BATON_GUID_SIZE];

	(void)state;
	memcpy(base, d->guid, sizeof(base));
	d->version = 2;
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	d->version = 1;
	d->fields[1].offset = 8;
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	d->fields[1].offset = 4;
	strcpy(d->fields[1].type, "s32");
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	strcpy(d->fields[1].type, "u32");
	strcpy(d->fields[1].name, "fact");
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	strcpy(d->fields[1].name, "factorial");
	strcpy(d->name, "edu-stat");
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	strcpy(d->name, "edu-state");
	d->n_fields--;
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_not_equal(g, base, sizeof(g));
	d->n_fields++;
	/* Restored: the same GUID again. */
	assert_int_equal(baton_schema_derive_guid(d, g), 0);
	assert_memory_equal(g, base, sizeof(g));
	baton_schema_desc_free(d);
}

static void test_pinned(void **state)
{
	struct baton_schema_desc *d = describe(&legacy_state_v1_schema);

	(void)state;
	assert_true(d->pinned);
	assert_guid(d->guid, "5e1f4b2a-9c3d-4e8f-a7b6-0d2c1e3f4a5b");
	assert_guid(d->derived, "544bd53a-2752-5bc3-a069-3f5522de8aa8");
	baton_schema_desc_free(d);
}

static void test_guid_text(void **state)
{
	static const char *const bad[] = {
		"", "3f7174ac-46a9-57ec-b761-b29cdbf1505",
		"3f7174ac-46a9-57ec-b761-b29cdbf150555",
		"3f7174ac-46a9-57ec-b761_b29cdbf15055",
		"3f7174ac-46a9-57ec-b761-b29cdbf1505g",
	};
	uint8_t g[BATON_GUID_SIZE];

	(void)state;
	assert_int_equal(baton_guid_parse("3F7174AC-46A9-57EC-B761-B29CDBF15055", g), 0);
	assert_guid(g, "3f7174ac-46a9-57ec-b761-b29cdbf15055");
	assert_int_equal(g[0], 0x3f);
	assert_int_equal(g[15], 0x55);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(baton_guid_parse(bad[i], g), -BATON_ERR_BADGUID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_guids),
		cmocka_unit_test(test_canonical_layout),
		cmocka_unit_test(test_struct_matches_table),
		cmocka_unit_test(test_any_change_changes_guid),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_guid_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
