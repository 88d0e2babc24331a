// SPDX-License-Identifier: MIT
/**
 * DOC: schema GUIDs
 *
 * A schema's GUID is derived from its canonical layout, a short text that
 * names everything a reader of the state depends on and nothing else:
 *
 *	baton-schema-v1\n
 *	name=<name>\n
 *	version=<decimal>\n
 *	field=<name>:<type>:<offset>:<size>\n	(one per field, in order)
 *
 * The GUID is the name-based (version 5, SHA-1) UUID of those bytes in the
 * namespace BATON_SCHEMA_NAMESPACE.  docs/schemas.md is the normative text;
 * tests/unit/test_schema.c pins golden values so that any change to this
 * form fails a test instead of silently re-keying every image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include <baton/schema.h>

#include "internal.h"

int baton_schema_layout(const struct baton_schema_desc *s, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	/* snprintf semantics: keep counting once the buffer is full. */
#define EMIT(...)							\
	do {								\
		n = snprintf(used < len ? buf + used : NULL,		\
			     used < len ? len - used : 0, __VA_ARGS__);	\
		if (n < 0)						\
			return -errno;					\
		used += (size_t)n;					\
	} while (0)

	EMIT("baton-schema-v1\nname=%s\nversion=%u\n", s->name, s->version);
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct baton_field_desc *f = &s->fields[i];

		EMIT("field=%s:%s:%u:%u\n", f->name, f->type, f->offset, f->size);
	}
#undef EMIT
	return used > INT32_MAX ? -EOVERFLOW : (int)used;
}

int baton_schema_derive_guid(const struct baton_schema_desc *s,
			     uint8_t out[BATON_GUID_SIZE])
{
	uint8_t ns[BATON_GUID_SIZE];
	char *text;
	int len;

	len = baton_schema_layout(s, NULL, 0);
	if (len < 0)
		return len;
	text = malloc((size_t)len + 1);
	if (!text)
		return -ENOMEM;
	baton_schema_layout(s, text, (size_t)len + 1);
	baton_guid_parse(BATON_SCHEMA_NAMESPACE, ns);
	uuid_generate_sha1(out, ns, text, (size_t)len);
	free(text);
	return 0;
}

void baton_schema_desc_free(struct baton_schema_desc *s)
{
	if (!s)
		return;
	free(s->fields);
	free(s);
}
