// SPDX-License-Identifier: MIT
/* Version 1 of the test program's drivers. */
#include <baton/driver.h>

#include "schemas.h"

BATON_DRIVER(pktgen_driver, "pktgen", 0, NULL,
	BATON_MATCH_DEVICE(TEST_VENDOR, TEST_DEVICE_PKTGEN),
	BATON_ACCEPT(pktgen_state_v1));

BATON_DRIVER(edu_driver, "edu", 0, NULL,
	BATON_MATCH_DEVICE(TEST_VENDOR, TEST_DEVICE_EDU),
	BATON_ACCEPT(edu_state_v1));

BATON_DRIVER(legacy_driver, "legacy", 0, NULL,
	BATON_MATCH_ID(TEST_VENDOR, TEST_DEVICE_LEGACY, BATON_ANY_ID,
		       BATON_ANY_ID, 0x020000, 0xff0000),
	BATON_ACCEPT(legacy_state_v1));
