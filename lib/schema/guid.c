// SPDX-License-Identifier: MIT
/*
 * GUID text form: the canonical 8-4-4-4-12 UUID string, read in either
 * case, always written in lowercase (RFC 9562).
 */
#include <string.h>

#include <uuid/uuid.h>

#include <baton/schema.h>

#include "internal.h"

int baton_guid_parse(const char *s, uint8_t out[BATON_GUID_SIZE])
{
	/* uuid_parse() reads 36 characters; make sure they are there. */
	if (strnlen(s, BATON_CONTRACT_GUID_STRLEN) != BATON_CONTRACT_GUID_STRLEN - 1)
		return -BATON_ERR_BADGUID;
	if (uuid_parse(s, out) != 0)
		return -BATON_ERR_BADGUID;
	return 0;
}

char *baton_guid_format(const uint8_t guid[BATON_GUID_SIZE], char *buf)
{
	uuid_unparse_lower(guid, buf);
	return buf;
}
