// SPDX-License-Identifier: MIT
/**
 * DOC: decoding contract records
 *
 * Records (contract_abi.h) arrive in any order, possibly several copies of
 * one schema's records (each object that includes a schema header emits
 * them), possibly in the other byte order, and possibly hostile: they come
 * out of a file.  Decoding goes in four passes over a private copy:
 *
 *  1. Normalise and check every record on its own: byte order, magic, ABI,
 *     kind, and that every string is terminated inside its field.
 *  2. Sort by (owner, kind, index) so each object's records are adjacent,
 *     and drop exact duplicates.
 *  3. Build schemas: count and order of fields, known types, sizes that
 *     agree with types, no overlap; derive each GUID; parse pins.
 *  4. Build drivers: ids and accepts, each accept resolved to a schema, a
 *     converter's target accepted natively by the same driver.
 *
 * Anything that does not fit is -BATON_ERR_BADCONTRACT with the record's
 * owner and kind in the diagnostic; nothing is half-decoded.
 */
#include <byteswap.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <baton/contracts.h>

#include "internal.h"

static const struct {
	const char *name;
	uint32_t size;
} field_types[] = {
	{ "u8", 1 }, { "u16", 2 }, { "u32", 4 }, { "u64", 8 },
	{ "s8", 1 }, { "s16", 2 }, { "s32", 4 }, { "s64", 8 },
};

static const char *kind_name(uint16_t kind)
{
	switch (kind) {
	case BATON_REC_SCHEMA: return "schema";
	case BATON_REC_FIELD: return "field";
	case BATON_REC_DRIVER: return "driver";
	case BATON_REC_ID: return "id";
	case BATON_REC_ACCEPT: return "accept";
	}
	return "record";
}

static int bad(struct baton_diag *diag, const struct baton_contract_rec *r,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(struct baton_diag *diag, const struct baton_contract_rec *r,
	       const char *fmt, ...)
{
	char where[160], what[160];
	va_list ap;

	snprintf(where, sizeof(where), "%s record of %s", kind_name(r->kind),
		 r->owner);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return baton_diag_set(diag, BATON_ERR_BADCONTRACT, where, "%s", what);
}

static void swap_rec(struct baton_contract_rec *r)
{
	r->magic = bswap_32(r->magic);
	r->abi = bswap_16(r->abi);
	r->kind = bswap_16(r->kind);
	switch (r->kind) {
	case BATON_REC_SCHEMA:
		r->u.schema.version = bswap_32(r->u.schema.version);
		r->u.schema.n_fields = bswap_32(r->u.schema.n_fields);
		break;
	case BATON_REC_FIELD:
		r->u.field.index = bswap_32(r->u.field.index);
		r->u.field.offset = bswap_32(r->u.field.offset);
		r->u.field.size = bswap_32(r->u.field.size);
		r->u.field.count = bswap_32(r->u.field.count);
		break;
	case BATON_REC_DRIVER:
		r->u.driver.priority = (int32_t)bswap_32((uint32_t)r->u.driver.priority);
		r->u.driver.n_ids = bswap_32(r->u.driver.n_ids);
		r->u.driver.n_accepts = bswap_32(r->u.driver.n_accepts);
		break;
	case BATON_REC_ID: {
		uint32_t *w = &r->u.id.index;

		for (size_t i = 0; i < sizeof(r->u.id) / sizeof(*w); i++)
			w[i] = bswap_32(w[i]);
		break;
	}
	case BATON_REC_ACCEPT:
		r->u.accept.index = bswap_32(r->u.accept.index);
		r->u.accept.via = bswap_32(r->u.accept.via);
		break;
	}
}

#define TERMINATED(field) baton_terminated(field, sizeof(field))

/* Pass 1: one record on its own. */
static int check_rec(const struct baton_contract_rec *r, struct baton_diag *diag)
{
	char what[64];

	if (r->magic != BATON_CONTRACT_MAGIC || r->abi != BATON_CONTRACT_ABI) {
		snprintf(what, sizeof(what), "magic %#x abi %u", r->magic, r->abi);
		return baton_diag_set(diag, BATON_ERR_BADCONTRACT, "contract section",
				      "record with unknown %s", what);
	}
	if (!TERMINATED(r->owner) || !r->owner[0])
		return baton_diag_set(diag, BATON_ERR_BADCONTRACT, "contract section",
				      "record owner not a terminated string");
	switch (r->kind) {
	case BATON_REC_SCHEMA:
		if (!TERMINATED(r->u.schema.name) || !r->u.schema.name[0] ||
		    !TERMINATED(r->u.schema.pinned_guid))
			return bad(diag, r, "unterminated or empty name");
		return 0;
	case BATON_REC_FIELD:
		if (!TERMINATED(r->u.field.name) || !r->u.field.name[0] ||
		    !TERMINATED(r->u.field.type))
			return bad(diag, r, "unterminated or empty field name");
		return 0;
	case BATON_REC_DRIVER:
		if (!TERMINATED(r->u.driver.name))
			return bad(diag, r, "unterminated driver name");
		return 0;
	case BATON_REC_ID:
		return 0;
	case BATON_REC_ACCEPT:
		if (!TERMINATED(r->u.accept.schema) || !TERMINATED(r->u.accept.target))
			return bad(diag, r, "unterminated schema reference");
		if (r->u.accept.via != BATON_VIA_NATIVE &&
		    r->u.accept.via != BATON_VIA_CONVERTER)
			return bad(diag, r, "unknown accept kind");
		return 0;
	}
	return baton_diag_set(diag, BATON_ERR_BADCONTRACT, "contract section",
			      "record of unknown kind %u", r->kind);
}

static uint32_t rec_index(const struct baton_contract_rec *r)
{
	switch (r->kind) {
	case BATON_REC_FIELD: return r->u.field.index;
	case BATON_REC_ID: return r->u.id.index;
	case BATON_REC_ACCEPT: return r->u.accept.index;
	}
	return 0;
}

static int rec_cmp(const void *pa, const void *pb)
{
	const struct baton_contract_rec *a = pa, *b = pb;
	int c = strcmp(a->owner, b->owner);
	uint32_t ia, ib;

	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	ia = rec_index(a);
	ib = rec_index(b);
	if (ia != ib)
		return ia < ib ? -1 : 1;
	return memcmp(&a->u, &b->u, sizeof(a->u));
}

/*
 * Records of one object with one kind and index must be identical copies.
 * Compare the meaningful bytes only: padding in a record is whatever the
 * compiler left there.
 */
static int same_rec(const struct baton_contract_rec *a,
		    const struct baton_contract_rec *b)
{
	if (strcmp(a->owner, b->owner) || a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case BATON_REC_SCHEMA:
		return !strcmp(a->u.schema.name, b->u.schema.name) &&
		       a->u.schema.version == b->u.schema.version &&
		       a->u.schema.n_fields == b->u.schema.n_fields &&
		       !strcmp(a->u.schema.pinned_guid, b->u.schema.pinned_guid);
	case BATON_REC_FIELD:
		return a->u.field.index == b->u.field.index &&
		       a->u.field.offset == b->u.field.offset &&
		       a->u.field.size == b->u.field.size &&
		       a->u.field.count == b->u.field.count &&
		       !strcmp(a->u.field.name, b->u.field.name) &&
		       !strcmp(a->u.field.type, b->u.field.type);
	case BATON_REC_DRIVER:
		return !strcmp(a->u.driver.name, b->u.driver.name) &&
		       a->u.driver.priority == b->u.driver.priority &&
		       a->u.driver.n_ids == b->u.driver.n_ids &&
		       a->u.driver.n_accepts == b->u.driver.n_accepts;
	case BATON_REC_ID:
		return !memcmp(&a->u.id, &b->u.id, sizeof(a->u.id));
	case BATON_REC_ACCEPT:
		return a->u.accept.index == b->u.accept.index &&
		       a->u.accept.via == b->u.accept.via &&
		       !strcmp(a->u.accept.schema, b->u.accept.schema) &&
		       !strcmp(a->u.accept.target, b->u.accept.target);
	}
	return 0;
}

/* Pass 2: drop identical copies; a differing copy is a conflict. */
static int dedup(struct baton_contract_rec *recs, size_t *n,
		 struct baton_diag *diag)
{
	size_t out = 0;

	for (size_t i = 0; i < *n; i++) {
		if (out && !strcmp(recs[out - 1].owner, recs[i].owner) &&
		    recs[out - 1].kind == recs[i].kind &&
		    rec_index(&recs[out - 1]) == rec_index(&recs[i])) {
			if (!same_rec(&recs[out - 1], &recs[i]))
				return bad(diag, &recs[i],
					   "declared twice, differently");
			continue;
		}
		recs[out++] = recs[i];
	}
	*n = out;
	return 0;
}

/* The first record after @i (sorted) of @owner with @kind, counted. */
static size_t run_of(const struct baton_contract_rec *recs, size_t n, size_t i,
		     const char *owner, uint16_t kind)
{
	size_t j = i;

	while (j < n && recs[j].kind == kind && !strcmp(recs[j].owner, owner))
		j++;
	return j - i;
}

static int field_type(const struct baton_contract_field_rec *f,
		      struct baton_field_desc *out)
{
	for (size_t t = 0; t < BATON_ARRAY_SIZE(field_types); t++) {
		if (strcmp(f->type, field_types[t].name))
			continue;
		if (f->count == 0) {
			if (f->size != field_types[t].size)
				return -1;
			snprintf(out->type, sizeof(out->type), "%s", f->type);
		} else {
			if ((uint64_t)f->count * field_types[t].size != f->size)
				return -1;
			snprintf(out->type, sizeof(out->type), "%s[%u]",
				 f->type, f->count);
		}
		return 0;
	}
	return -1;
}

/* Pass 3: a schema record and the @n_fields field records that follow it. */
static int build_schema(const struct baton_contract_rec *s,
			const struct baton_contract_rec *fields, size_t n_fields,
			struct baton_schema_desc *out, struct baton_diag *diag)
{
	uint64_t end = 0;
	int err;

	memset(out, 0, sizeof(*out));
	memcpy(out->owner, s->owner, sizeof(out->owner));
	memcpy(out->name, s->u.schema.name, sizeof(out->name));
	out->version = s->u.schema.version;
	if (n_fields != s->u.schema.n_fields || n_fields == 0)
		return bad(diag, s, "field records missing or extra");
	out->fields = calloc(n_fields, sizeof(*out->fields));
	if (!out->fields)
		return -ENOMEM;
	out->n_fields = n_fields;
	for (size_t i = 0; i < n_fields; i++) {
		const struct baton_contract_field_rec *f = &fields[i].u.field;
		struct baton_field_desc *d = &out->fields[i];

		if (f->index != i)
			return bad(diag, &fields[i], "field %s out of sequence",
				   f->name);
		if (field_type(f, d) < 0)
			return bad(diag, &fields[i],
				   "field %s: unknown type or size", f->name);
		/* Declaration order is offset order; fields never overlap. */
		if (f->offset < end)
			return bad(diag, &fields[i], "field %s overlaps", f->name);
		end = (uint64_t)f->offset + f->size;
		memcpy(d->name, f->name, sizeof(d->name));
		d->offset = f->offset;
		d->size = f->size;
	}
	err = baton_schema_derive_guid(out, out->derived);
	if (err < 0)
		return err;
	if (s->u.schema.pinned_guid[0]) {
		out->pinned = 1;
		if (baton_guid_parse(s->u.schema.pinned_guid, out->guid) < 0)
			return bad(diag, s, "pinned GUID \"%s\" is not a UUID",
				   s->u.schema.pinned_guid);
	} else {
		memcpy(out->guid, out->derived, sizeof(out->guid));
	}
	return 0;
}

static int schema_cmp(const void *pa, const void *pb)
{
	const struct baton_schema_desc *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	if (a->version != b->version)
		return a->version < b->version ? -1 : 1;
	return strcmp(a->owner, b->owner);
}

const struct baton_schema_desc *
baton_contracts_schema(const struct baton_contracts *set, const char *owner)
{
	for (size_t i = 0; i < set->n_schemas; i++)
		if (!strcmp(set->schemas[i].owner, owner))
			return &set->schemas[i];
	return NULL;
}

/* Two declarations of one name and version must describe one layout. */
static int check_schema_names(const struct baton_contracts *set,
			      struct baton_diag *diag)
{
	for (size_t i = 1; i < set->n_schemas; i++) {
		const struct baton_schema_desc *a = &set->schemas[i - 1];
		const struct baton_schema_desc *b = &set->schemas[i];
		char where[160];

		if (strcmp(a->name, b->name) || a->version != b->version)
			continue;
		if (!memcmp(a->guid, b->guid, BATON_GUID_SIZE))
			continue;
		snprintf(where, sizeof(where), "schemas %s and %s", a->owner,
			 b->owner);
		return baton_diag_set(diag, BATON_ERR_BADCONTRACT, where,
				      "%s v%u declared twice with different layouts",
				      a->name, a->version);
	}
	return 0;
}

static int build_accept(const struct baton_contracts *set,
			const struct baton_contract_rec *r,
			struct baton_accept_desc *out, struct baton_diag *diag)
{
	const struct baton_contract_accept_rec *a = &r->u.accept;

	out->via = a->via;
	out->schema = baton_contracts_schema(set, a->schema);
	out->target = baton_contracts_schema(set, a->target);
	if (!out->schema)
		return bad(diag, r, "accepts undeclared schema %s", a->schema);
	if (!out->target)
		return bad(diag, r, "converts to undeclared schema %s", a->target);
	if (a->via == BATON_VIA_NATIVE && out->schema != out->target)
		return bad(diag, r, "native accept of %s names another target",
			   a->schema);
	return 0;
}

/* A converter must produce a schema its driver reads natively. */
static int check_converters(const struct baton_contract *c,
			    const struct baton_contract_rec *drv,
			    struct baton_diag *diag)
{
	for (size_t i = 0; i < c->n_accepts; i++) {
		const struct baton_accept_desc *a = &c->accepts[i];
		bool found = a->via == BATON_VIA_NATIVE;

		for (size_t j = 0; j < c->n_accepts && !found; j++)
			found = c->accepts[j].via == BATON_VIA_NATIVE &&
				c->accepts[j].schema == a->target;
		if (!found)
			return bad(diag, drv,
				   "converter target %s is not accepted natively",
				   a->target->owner);
	}
	return 0;
}

/* Pass 4: a driver record and the id and accept records that follow it. */
static int build_driver(const struct baton_contracts *set,
			const struct baton_contract_rec *d,
			const struct baton_contract_rec *ids, size_t n_ids,
			const struct baton_contract_rec *acc, size_t n_acc,
			struct baton_contract *out, struct baton_diag *diag)
{
	int err;

	memcpy(out->owner, d->owner, sizeof(out->owner));
	memcpy(out->name, d->u.driver.name, sizeof(out->name));
	out->priority = d->u.driver.priority;
	if (n_ids != d->u.driver.n_ids || n_acc != d->u.driver.n_accepts)
		return bad(diag, d, "id or accept records missing or extra");
	out->ids = calloc(n_ids ? n_ids : 1, sizeof(*out->ids));
	out->accepts = calloc(n_acc ? n_acc : 1, sizeof(*out->accepts));
	if (!out->ids || !out->accepts)
		return -ENOMEM;
	out->n_ids = n_ids;
	out->n_accepts = n_acc;
	for (size_t i = 0; i < n_ids; i++) {
		const struct baton_contract_id_rec *r = &ids[i].u.id;

		out->ids[i] = (struct baton_pci_match){
			.vendor = r->vendor, .device = r->device,
			.subvendor = r->subvendor, .subdevice = r->subdevice,
			.class_code = r->class_code, .class_mask = r->class_mask,
		};
	}
	for (size_t i = 0; i < n_acc; i++) {
		err = build_accept(set, &acc[i], &out->accepts[i], diag);
		if (err < 0)
			return err;
	}
	return check_converters(out, d, diag);
}

static int driver_cmp(const void *pa, const void *pb)
{
	const struct baton_contract *a = pa, *b = pb;

	return strcmp(a->owner, b->owner);
}

/* Count the records of each kind, to size the arrays. */
static void count_kinds(const struct baton_contract_rec *recs, size_t n,
			size_t *n_schemas, size_t *n_drivers)
{
	*n_schemas = *n_drivers = 0;
	for (size_t i = 0; i < n; i++) {
		*n_schemas += recs[i].kind == BATON_REC_SCHEMA;
		*n_drivers += recs[i].kind == BATON_REC_DRIVER;
	}
}

/*
 * Walk the sorted records object by object.  Within an owner, kinds sort
 * SCHEMA < FIELD < DRIVER < ID < ACCEPT, so a schema is followed by its
 * fields and a driver by its ids and accepts.  Schemas are built in the
 * first walk and drivers in the second, because an accept may name a
 * schema whose owner sorts after the driver.
 */
static int build_set(const struct baton_contract_rec *recs, size_t n,
		     struct baton_contracts *set, struct baton_diag *diag)
{
	size_t i, k, nf, ni, na;
	int err;

	for (i = 0; i < n; i += 1 + nf) {
		const struct baton_contract_rec *r = &recs[i];

		nf = 0;
		if (r->kind == BATON_REC_SCHEMA) {
			nf = run_of(recs, n, i + 1, r->owner, BATON_REC_FIELD);
			err = build_schema(r, r + 1, nf,
					   &set->schemas[set->n_schemas++], diag);
			if (err < 0)
				return err;
		} else if (r->kind == BATON_REC_DRIVER) {
			ni = run_of(recs, n, i + 1, r->owner, BATON_REC_ID);
			na = run_of(recs, n, i + 1 + ni, r->owner, BATON_REC_ACCEPT);
			nf = ni + na;
		} else {
			/* A field, id or accept with no schema or driver before it. */
			return bad(diag, r, "belongs to no declared object");
		}
	}
	qsort(set->schemas, set->n_schemas, sizeof(*set->schemas), schema_cmp);
	err = check_schema_names(set, diag);
	if (err < 0)
		return err;

	for (i = 0; i < n; i++) {
		const struct baton_contract_rec *r = &recs[i];

		if (r->kind != BATON_REC_DRIVER)
			continue;
		ni = run_of(recs, n, i + 1, r->owner, BATON_REC_ID);
		na = run_of(recs, n, i + 1 + ni, r->owner, BATON_REC_ACCEPT);
		k = set->n_drivers++;
		err = build_driver(set, r, r + 1, ni, r + 1 + ni, na,
				   &set->drivers[k], diag);
		if (err < 0)
			return err;
	}
	qsort(set->drivers, set->n_drivers, sizeof(*set->drivers), driver_cmp);
	return 0;
}

int baton_contracts_decode(const struct baton_contract_rec *recs, size_t n,
			   int swap, struct baton_contracts **out,
			   struct baton_diag *diag)
{
	struct baton_contract_rec *copy = NULL;
	struct baton_contracts *set;
	size_t n_schemas, n_drivers;
	int err = -ENOMEM;

	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	copy = malloc((n ? n : 1) * sizeof(*copy));
	if (!copy)
		goto err_set;
	/* A section of nothing but padding has no records, and no buffer. */
	if (n)
		memcpy(copy, recs, n * sizeof(*copy));
	for (size_t i = 0; i < n; i++) {
		if (swap)
			swap_rec(&copy[i]);
		err = check_rec(&copy[i], diag);
		if (err < 0)
			goto err_set;
	}
	qsort(copy, n, sizeof(*copy), rec_cmp);
	err = dedup(copy, &n, diag);
	if (err < 0)
		goto err_set;

	count_kinds(copy, n, &n_schemas, &n_drivers);
	err = -ENOMEM;
	set->schemas = calloc(n_schemas ? n_schemas : 1, sizeof(*set->schemas));
	set->drivers = calloc(n_drivers ? n_drivers : 1, sizeof(*set->drivers));
	if (!set->schemas || !set->drivers)
		goto err_set;
	err = build_set(copy, n, set, diag);
	if (err < 0)
		goto err_set;
	free(copy);
	*out = set;
	return 0;

err_set:
	baton_contracts_free(set);
	free(copy);
	if (err == -ENOMEM)
		baton_diag_set(diag, ENOMEM, NULL, NULL);
	return err;
}

void baton_contracts_free(struct baton_contracts *set)
{
	if (!set)
		return;
	for (size_t i = 0; set->schemas && i < set->n_schemas; i++)
		free(set->schemas[i].fields);
	for (size_t i = 0; set->drivers && i < set->n_drivers; i++) {
		free(set->drivers[i].ids);
		free(set->drivers[i].accepts);
	}
	free(set->schemas);
	free(set->drivers);
	free(set);
}
