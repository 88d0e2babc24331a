/* SPDX-License-Identifier: MIT */
#ifndef BATON_TEST_SCHEMAS_H
#define BATON_TEST_SCHEMAS_H

/*
 * The state layouts of the test drivers.  Their GUIDs are pinned as golden
 * values in tests/unit/test_schema.c and written into the example images:
 * a change to the canonical form or to a layout here must fail that test.
 */

#include <baton/schema.h>

#define TEST_VENDOR		0x1234
#define TEST_DEVICE_EDU		0x11e8	/* QEMU's edu */
#define TEST_DEVICE_PKTGEN	0x5050
#define TEST_DEVICE_LEGACY	0x1e9a

BATON_SCHEMA(pktgen_state_v1, "pktgen-state", 1,
	BATON_FIELD(u64, next_seq),
	BATON_FIELD(u32, ring_head),
	BATON_FIELD(u32, ring_size),
	BATON_FIELD(u64, rx_packets),
	BATON_ARRAY(u8, mac, 6));

BATON_SCHEMA(pktgen_state_v2, "pktgen-state", 2,
	BATON_FIELD(u64, next_seq),
	BATON_FIELD(u32, ring_head),
	BATON_FIELD(u32, ring_size),
	BATON_FIELD(u64, rx_packets),
	BATON_ARRAY(u8, mac, 6),
	BATON_ARRAY(u8, pad, 2),
	BATON_FIELD(u64, rx_dropped),
	BATON_FIELD(u64, rx_bytes));

BATON_SCHEMA(edu_state_v1, "edu-state", 1,
	BATON_FIELD(u32, liveness),
	BATON_FIELD(u32, factorial),
	BATON_FIELD(u64, dma_iova),
	BATON_FIELD(u32, irq_count),
	BATON_FIELD(u32, flags));

BATON_SCHEMA_PINNED(legacy_state_v1, "legacy-state", 1,
	"5e1f4b2a-9c3d-4e8f-a7b6-0d2c1e3f4a5b",
	BATON_FIELD(u32, mode),
	BATON_FIELD(u32, counter));

#endif /* BATON_TEST_SCHEMAS_H */
