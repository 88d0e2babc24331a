// SPDX-License-Identifier: MIT
/*
 * Version 2 of the test program's drivers: the pktgen driver is renamed
 * nicx and writes pktgen-state v2, reading v1 state through a converter;
 * edu is unchanged; the legacy driver is gone.
 */
#include <errno.h>
#include <string.h>

#include <baton/driver.h>

#include "schemas.h"

int pktgen_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len);

int pktgen_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len)
{
	const struct pktgen_state_v1 *v1 = from;
	struct pktgen_state_v2 *v2 = to;

	if (from_len != sizeof(*v1) || to_len != sizeof(*v2))
		return -EINVAL;
	v2->next_seq = v1->next_seq;
	v2->ring_head = v1->ring_head;
	v2->ring_size = v1->ring_size;
	v2->rx_packets = v1->rx_packets;
	memcpy(v2->mac, v1->mac, sizeof(v2->mac));
	v2->rx_dropped = 0;
	v2->rx_bytes = 0;
	return 0;
}

BATON_DRIVER(nicx_driver, "nicx", 10, NULL,
	BATON_MATCH_DEVICE(TEST_VENDOR, TEST_DEVICE_PKTGEN),
	BATON_ACCEPT(pktgen_state_v2),
	BATON_ACCEPT_CONVERTED(pktgen_state_v1, pktgen_state_v2,
			       pktgen_v1_to_v2));

BATON_DRIVER(edu_driver, "edu", 0, NULL,
	BATON_MATCH_DEVICE(TEST_VENDOR, TEST_DEVICE_EDU),
	BATON_ACCEPT(edu_state_v1));
