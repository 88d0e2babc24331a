// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the contract reader: a binary's ELF section
 * baton_contracts as `baton contracts`, `baton plan` and the preflight
 * read it (lib/contracts/elf.c), and the decoder under it
 * (lib/contracts/decode.c), whose input is a file the update is about to
 * exec - hostile, for all it knows.  Any input must decode or be refused
 * with an error that names itself, without reading outside the input or
 * leaking (the sanitizers watch that), and a set that decodes must hold
 * together:
 *
 *  - every name is terminated inside its field;
 *  - every accept points at a schema of the set, a converter's target too,
 *    and a converter's target is accepted natively by the same driver;
 *  - baton_contracts_schema() finds each schema by its owner;
 *  - the order of the records does not matter: the same records backwards
 *    decode to the same set, or fail too (a linker may lay them out in any
 *    order, and the contract must not depend on it).
 *
 * Input: an ELF file (it starts with \x7fELF): written to a memfd and read
 * by baton_contracts_read_elf() through /proc/self/fd, as a file on disk
 * is.  Anything else: byte 0's low bit says whether the records are in
 * the other byte order, the rest is records, as the section holds them,
 * handed to baton_contracts_decode().
 *
 * Seeds: tests/fuzz/corpus-contracts/ (tests/fuzz/gen_contracts_corpus.sh):
 * the test drivers' objects as the compiler writes them, little- and
 * big-endian, with only their contract section or whole, and their raw
 * records.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "fuzz_contracts: %s\n", what);
	abort();
}

static bool terminated(const char *s, size_t max)
{
	return strnlen(s, max) < max;
}

static bool in_set(const struct baton_contracts *set,
		   const struct baton_schema_desc *s)
{
	return s >= set->schemas && s < set->schemas + set->n_schemas;
}

static void check_set(const struct baton_contracts *set)
{
	for (size_t i = 0; i < set->n_schemas; i++) {
		const struct baton_schema_desc *s = &set->schemas[i];

		if (!terminated(s->owner, sizeof(s->owner)) ||
		    !terminated(s->name, sizeof(s->name)))
			die("a schema's name is not terminated");
		if (baton_contracts_schema(set, s->owner) != s)
			die("a schema its owner does not find");
	}
	for (size_t i = 0; i < set->n_drivers; i++) {
		const struct baton_contract *c = &set->drivers[i];

		if (!terminated(c->owner, sizeof(c->owner)) ||
		    !terminated(c->name, sizeof(c->name)))
			die("a driver's name is not terminated");
		for (size_t j = 0; j < c->n_accepts; j++) {
			const struct baton_accept_desc *a = &c->accepts[j];
			bool native = false;

			if (!in_set(set, a->schema))
				die("an accept outside the set");
			if (a->via == BATON_VIA_NATIVE)
				continue;
			if (a->via != BATON_VIA_CONVERTER || !in_set(set, a->target))
				die("a converter without a target in the set");
			for (size_t k = 0; k < c->n_accepts; k++)
				native |= c->accepts[k].via == BATON_VIA_NATIVE &&
					  c->accepts[k].schema == a->target;
			if (!native)
				die("a converter's target the driver does not read natively");
		}
	}
}

/* The same set, as far as the planner can tell. */
static void check_same(const struct baton_contracts *a,
		       const struct baton_contracts *b)
{
	if (a->n_schemas != b->n_schemas || a->n_drivers != b->n_drivers)
		die("the records backwards decode to another set");
	for (size_t i = 0; i < a->n_schemas; i++)
		if (memcmp(a->schemas[i].guid, b->schemas[i].guid, BATON_GUID_SIZE) ||
		    strcmp(a->schemas[i].owner, b->schemas[i].owner))
			die("the records backwards decode to other schemas");
	for (size_t i = 0; i < a->n_drivers; i++)
		if (strcmp(a->drivers[i].owner, b->drivers[i].owner) ||
		    a->drivers[i].n_ids != b->drivers[i].n_ids ||
		    a->drivers[i].n_accepts != b->drivers[i].n_accepts ||
		    a->drivers[i].priority != b->drivers[i].priority)
			die("the records backwards decode to other drivers");
}

static void check_error(int err, const struct baton_contracts *set,
			const struct baton_diag *diag)
{
	if (err >= 0)
		return;
	if (set || diag->err != -err || !diag->what[0])
		die("an error that does not say what");
}

static void fuzz_elf(const uint8_t *data, size_t size)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	char path[64];
	int fd, err;

	fd = memfd_create("fuzz-contracts", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		die("memfd");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err = baton_contracts_read_elf(path, &set, &diag);
	close(fd);
	check_error(err, set, &diag);
	if (!err)
		check_set(set);
	baton_contracts_free(set);
}

static void fuzz_records(const uint8_t *data, size_t size)
{
	const size_t rec = sizeof(struct baton_contract_rec);
	struct baton_contracts *set = NULL, *back = NULL;
	struct baton_diag diag = { 0 };
	struct baton_contract_rec *recs, *rev;
	size_t n = (size - 1) / rec;
	bool swap = data[0] & 1;
	int err, err_back;

	/* Aligned copies, as elf.c hands them over; malloc(0) may be NULL. */
	recs = malloc(n * rec + 1);
	rev = malloc(n * rec + 1);
	if (!recs || !rev)
		die("malloc");
	memcpy(recs, data + 1, n * rec);
	for (size_t i = 0; i < n; i++)
		memcpy(&rev[i], &recs[n - 1 - i], rec);
	err = baton_contracts_decode(recs, n, swap, &set, &diag);
	check_error(err, set, &diag);
	err_back = baton_contracts_decode(rev, n, swap, &back, NULL);
	if (!err != !err_back)
		die("the records backwards decode where they did not, or not where they did");
	if (!err) {
		check_set(set);
		check_same(set, back);
	}
	/* The decoder works on a private copy: the input is untouched. */
	if (memcmp(recs, data + 1, n * rec))
		die("the decoder wrote to its input");
	baton_contracts_free(set);
	baton_contracts_free(back);
	free(recs);
	free(rev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 4 && !memcmp(data, "\177ELF", 4))
		fuzz_elf(data, size);
	else if (size)
		fuzz_records(data, size);
	return 0;
}
