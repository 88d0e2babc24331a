// SPDX-License-Identifier: MIT
/*
 * A release gone wrong, for `baton schema check`: pktgen-state v1 gained a
 * field without a new version, and legacy-state v1 changed its layout under
 * its pinned GUID.  Checked against the lock of test-drivers-v1, both must
 * be reported.
 */
#include <baton/driver.h>

BATON_SCHEMA(pktgen_state_v1, "pktgen-state", 1,
	BATON_FIELD(u64, next_seq),
	BATON_FIELD(u32, ring_head),
	BATON_FIELD(u32, ring_size),
	BATON_FIELD(u64, rx_packets),
	BATON_ARRAY(u8, mac, 6),
	BATON_FIELD(u16, vlan));

BATON_SCHEMA_PINNED(legacy_state_v1, "legacy-state", 1,
	"5e1f4b2a-9c3d-4e8f-a7b6-0d2c1e3f4a5b",
	BATON_FIELD(u64, mode),
	BATON_FIELD(u32, counter));

BATON_DRIVER(pktgen_driver, "pktgen", 0, NULL,
	BATON_MATCH_DEVICE(0x1234, 0x5050),
	BATON_ACCEPT(pktgen_state_v1));

BATON_DRIVER(legacy_driver, "legacy", 0, NULL,
	BATON_MATCH_DEVICE(0x1234, 0x1e9a),
	BATON_ACCEPT(legacy_state_v1));
