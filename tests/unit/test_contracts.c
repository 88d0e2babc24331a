// SPDX-License-Identifier: MIT
/*
 * Contract records: what BATON_DRIVER()/BATON_SCHEMA() emit, read back from
 * the registry and from the ELF files of tests/drivers, and a decoder that
 * refuses every malformed record.  This program links the v2 drivers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <byteswap.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <baton/contracts.h>
#include <baton/driver.h>

#include "../drivers/schemas.h"

extern const struct baton_driver nicx_driver, edu_driver;

#define V1 BATON_TEST_DRIVERS_DIR "/test-drivers-v1"
#define V2 BATON_TEST_DRIVERS_DIR "/test-drivers-v2"

static struct baton_contracts *read_elf(const char *path)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };

	if (baton_contracts_read_elf(path, &set, &diag) < 0)
		fail_msg("%s: %s (%s)", path, diag.what, diag.where);
	return set;
}

static const struct baton_contract *driver(const struct baton_contracts *set,
					   const char *name)
{
	for (size_t i = 0; i < set->n_drivers; i++)
		if (!strcmp(set->drivers[i].name, name))
			return &set->drivers[i];
	return NULL;
}

static void assert_schemas_equal(const struct baton_schema_desc *a,
				 const struct baton_schema_desc *b)
{
	assert_string_equal(a->owner, b->owner);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->version, b->version);
	assert_memory_equal(a->guid, b->guid, BATON_GUID_SIZE);
	assert_int_equal(a->n_fields, b->n_fields);
	assert_memory_equal(a->fields, b->fields, a->n_fields * sizeof(*a->fields));
}

static void assert_drivers_equal(const struct baton_contracts *a,
				 const struct baton_contracts *b)
{
	assert_int_equal(a->n_drivers, b->n_drivers);
	for (size_t i = 0; i < a->n_drivers; i++) {
		const struct baton_contract *x = &a->drivers[i], *y = &b->drivers[i];

		assert_string_equal(x->owner, y->owner);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->priority, y->priority);
		assert_int_equal(x->n_ids, y->n_ids);
		assert_memory_equal(x->ids, y->ids, x->n_ids * sizeof(*x->ids));
		assert_int_equal(x->n_accepts, y->n_accepts);
		for (size_t j = 0; j < x->n_accepts; j++) {
			assert_int_equal(x->accepts[j].via, y->accepts[j].via);
			assert_schemas_equal(x->accepts[j].schema, y->accepts[j].schema);
			assert_schemas_equal(x->accepts[j].target, y->accepts[j].target);
		}
	}
}

static void assert_sets_equal(const struct baton_contracts *a,
			      const struct baton_contracts *b)
{
	assert_int_equal(a->n_schemas, b->n_schemas);
	for (size_t i = 0; i < a->n_schemas; i++)
		assert_schemas_equal(&a->schemas[i], &b->schemas[i]);
	assert_drivers_equal(a, b);
}

static void test_registry(void **state)
{
	const struct baton_driver *const *drivers;
	size_t n;
	int seen = 0;

	(void)state;
	drivers = baton_drivers(&n);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		seen |= (drivers[i] == &nicx_driver) | (drivers[i] == &edu_driver) << 1;
	assert_int_equal(seen, 3);
	/* Registering again is a no-op. */
	assert_int_equal(baton_driver_register(&nicx_driver), 0);
	baton_drivers(&n);
	assert_int_equal(n, 2);
	assert_int_equal(nicx_driver.n_accepts, 2);
	assert_non_null(nicx_driver.accepts[1].convert);
	assert_null(nicx_driver.accepts[0].convert);
}

/* The running program and `baton contracts` on its file agree. */
static void test_registry_equals_elf(void **state)
{
	struct baton_contracts *mine, *file;
	struct baton_diag diag = { 0 };

	(void)state;
	assert_int_equal(baton_contracts_from_registry(&mine, &diag), 0);
	file = read_elf(V2);
	assert_drivers_equal(mine, file);
	/* The file also holds schemas no driver reads (schemas.h declares
	 * four); the registry knows those its drivers accept. */
	assert_int_equal(mine->n_schemas, 3);
	assert_int_equal(file->n_schemas, 4);
	for (size_t i = 0; i < mine->n_schemas; i++)
		assert_schemas_equal(&mine->schemas[i], baton_contracts_schema(
				     file, mine->schemas[i].owner));
	baton_contracts_free(mine);
	baton_contracts_free(file);
}

static void test_v1(void **state)
{
	struct baton_contracts *set = read_elf(V1);
	const struct baton_contract *legacy;

	(void)state;
	assert_int_equal(set->n_drivers, 3);
	/* Sorted by owner, whatever the link order. */
	assert_string_equal(set->drivers[0].owner, "edu_driver");
	assert_string_equal(set->drivers[1].owner, "legacy_driver");
	assert_string_equal(set->drivers[2].owner, "pktgen_driver");
	legacy = driver(set, "legacy");
	assert_non_null(legacy);
	assert_int_equal(legacy->n_ids, 1);
	assert_int_equal(legacy->ids[0].vendor, TEST_VENDOR);
	assert_int_equal(legacy->ids[0].subvendor, BATON_ANY_ID);
	assert_int_equal(legacy->ids[0].class_code, 0x020000);
	assert_int_equal(legacy->ids[0].class_mask, 0xff0000);
	assert_true(legacy->accepts[0].schema->pinned);
	assert_int_equal(set->n_schemas, 4);
	baton_contracts_free(set);
}

/* v2 renames the pktgen driver; the schema it reads is what carries over. */
static void test_renamed_driver(void **state)
{
	struct baton_contracts *v1 = read_elf(V1), *v2 = read_elf(V2);
	const struct baton_contract *pktgen = driver(v1, "pktgen");
	const struct baton_contract *nicx = driver(v2, "nicx");

	(void)state;
	assert_non_null(pktgen);
	assert_non_null(nicx);
	assert_null(driver(v2, "pktgen"));
	assert_null(driver(v2, "legacy"));
	assert_int_equal(nicx->priority, 10);
	assert_int_equal(nicx->n_accepts, 2);
	assert_int_equal(nicx->accepts[0].via, BATON_VIA_NATIVE);
	assert_string_equal(nicx->accepts[0].schema->owner, "pktgen_state_v2");
	assert_int_equal(nicx->accepts[1].via, BATON_VIA_CONVERTER);
	assert_memory_equal(nicx->accepts[1].schema->guid,
			    pktgen->accepts[0].schema->guid, BATON_GUID_SIZE);
	assert_ptr_equal(nicx->accepts[1].target, nicx->accepts[0].schema);
	baton_contracts_free(v1);
	baton_contracts_free(v2);
}

static int run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, NULL) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_elf_errors(void **state)
{
	char stripped[] = "/tmp/baton-test-nocontracts-XXXXXX";
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	int fd;

	(void)state;
	assert_int_equal(baton_contracts_read_elf("/nonexistent/binary", &set, &diag),
			 -ENOENT);
	assert_string_equal(diag.what, "No such file or directory");
	memset(&diag, 0, sizeof(diag));
	assert_int_equal(baton_contracts_read_elf(BATON_SOURCE_DIR "/meson.build",
						  &set, &diag), -BATON_ERR_ELF);
	assert_string_equal(diag.what, "not an ELF file");

	fd = mkstemp(stripped);
	assert_true(fd >= 0);
	close(fd);
	char *argv[] = { "objcopy", "--remove-section", BATON_CONTRACT_SECTION,
			 V2, stripped, NULL };
	assert_int_equal(run(argv), 0);
	memset(&diag, 0, sizeof(diag));
	assert_int_equal(baton_contracts_read_elf(stripped, &set, &diag),
			 -BATON_ERR_NOCONTRACTS);
	assert_string_equal(diag.where, "section baton_contracts");
	unlink(stripped);
	assert_null(set);
}

/*
 * `test_contracts nolibelf` (meson's contracts_nolibelf): run where
 * LD_LIBRARY_PATH names a directory whose libelf.so.1 lacks one of the
 * functions libbaton uses (tests/unit/nolibelf/).  libbaton opens
 * libelf when it first reads a file: until then it is not loaded at all,
 * and then reading says why it could not, in the dynamic linker's words,
 * every time, while the rest of the library works.
 */
static bool mapped_libelf(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "/libelf") != NULL;
	fclose(f);
	return found;
}

static void test_elf_no_libelf(void **state)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };

	(void)state;
	assert_false(mapped_libelf());
	for (int i = 0; i < 2; i++) {
		memset(&diag, 0, sizeof(diag));
		assert_int_equal(baton_contracts_read_elf(V2, &set, &diag), -ELIBACC);
		assert_null(set);
		assert_string_equal(diag.where, "libelf.so.1");
		assert_non_null(strstr(diag.what, "undefined symbol: gelf_getshdr"));
	}
	/* This program's own contracts need no file, nor libelf. */
	assert_int_equal(baton_contracts_from_registry(&set, &diag), 0);
	assert_non_null(driver(set, "nicx"));
	baton_contracts_free(set);
}

static int run_nolibelf(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_no_libelf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * `test_contracts fdfull` (contracts_fdfull): libelf not opened yet, and
 * one fd left, which the file to read takes - libelf then has none to be
 * opened with: -EMFILE, said as such, not a library missing.  With fds
 * again, the next read opens it and reads: the failure was not kept.
 */
static void test_elf_fd_table_full(void **state)
{
	struct rlimit old, low;
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };
	int fds[64], n = 0;

	(void)state;
	assert_false(mapped_libelf());
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	assert_true(n > 0 && n < 64 && errno == EMFILE);
	close(fds[--n]);

	assert_int_equal(baton_contracts_read_elf(V2, &set, &diag), -EMFILE);
	assert_null(set);
	assert_string_equal(diag.what, "Too many open files");
	assert_false(mapped_libelf());

	while (n)
		close(fds[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	set = read_elf(V2);
	assert_non_null(driver(set, "nicx"));
	baton_contracts_free(set);
	assert_true(mapped_libelf());
}

static int run_fdfull(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_fd_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ---- Hostile records ---- */

static struct baton_contract_rec recs[64];
static size_t n_recs;

static void add(const struct baton_contract_rec *r, size_t n)
{
	assert_true(n_recs + n <= sizeof(recs) / sizeof(recs[0]));
	memcpy(&recs[n_recs], r, n * sizeof(*r));
	n_recs += n;
}

/* nicx and the two schemas it reads: a complete, valid set. */
static int gather(void **state)
{
	(void)state;
	n_recs = 0;
	add(nicx_driver.contract, nicx_driver.n_contract);
	add(pktgen_state_v1_schema.contract, pktgen_state_v1_schema.n_contract);
	add(pktgen_state_v2_schema.contract, pktgen_state_v2_schema.n_contract);
	return 0;
}

static struct baton_contract_rec *find(uint16_t kind, const char *owner,
				       uint32_t index)
{
	for (size_t i = 0; i < n_recs; i++) {
		struct baton_contract_rec *r = &recs[i];
		uint32_t idx = kind == BATON_REC_FIELD ? r->u.field.index :
			       kind == BATON_REC_ID ? r->u.id.index :
			       kind == BATON_REC_ACCEPT ? r->u.accept.index : 0;

		if (r->kind == kind && !strcmp(r->owner, owner) && idx == index)
			return r;
	}
	fail_msg("no record %u of %s", kind, owner);
	return NULL;
}

static void remove_rec(struct baton_contract_rec *r)
{
	size_t i = (size_t)(r - recs);

	memmove(&recs[i], &recs[i + 1], (n_recs - i - 1) * sizeof(*r));
	n_recs--;
}

static void assert_decode_fails(int err, const char *what)
{
	struct baton_contracts *set = NULL;
	struct baton_diag diag = { 0 };

	assert_int_equal(baton_contracts_decode(recs, n_recs, 0, &set, &diag), err);
	assert_null(set);
	if (!strstr(diag.what, what))
		fail_msg("diag \"%s\" (%s) lacks \"%s\"", diag.what, diag.where, what);
}

static void test_valid_set_decodes(void **state)
{
	struct baton_contracts *set = NULL, *twice = NULL;

	(void)state;
	assert_int_equal(baton_contracts_decode(recs, n_recs, 0, &set, NULL), 0);
	assert_int_equal(set->n_drivers, 1);
	assert_int_equal(set->n_schemas, 2);
	/* Copies of the same records (one per object) merge. */
	add(recs, n_recs);
	assert_int_equal(baton_contracts_decode(recs, n_recs, 0, &twice, NULL), 0);
	assert_sets_equal(set, twice);
	baton_contracts_free(set);
	baton_contracts_free(twice);
}

static void test_swapped_byte_order(void **state)
{
	struct baton_contracts *set = NULL, *swapped = NULL;

	(void)state;
	assert_int_equal(baton_contracts_decode(recs, n_recs, 0, &set, NULL), 0);
	for (size_t i = 0; i < n_recs; i++) {
		struct baton_contract_rec *r = &recs[i];
		uint32_t *words;
		size_t n_words = 0;

		/* Swap every integer as a big-endian compiler would have stored it. */
		switch (r->kind) {
		case BATON_REC_SCHEMA:
			r->u.schema.version = bswap_32(r->u.schema.version);
			r->u.schema.n_fields = bswap_32(r->u.schema.n_fields);
			break;
		case BATON_REC_FIELD:
			words = &r->u.field.index;
			n_words = 4;
			break;
		case BATON_REC_DRIVER:
			r->u.driver.priority = (int32_t)bswap_32((uint32_t)r->u.driver.priority);
			r->u.driver.n_ids = bswap_32(r->u.driver.n_ids);
			r->u.driver.n_accepts = bswap_32(r->u.driver.n_accepts);
			break;
		case BATON_REC_ID:
			words = &r->u.id.index;
			n_words = 7;
			break;
		case BATON_REC_ACCEPT:
			words = &r->u.accept.index;
			n_words = 2;
			break;
		}
		for (size_t w = 0; w < n_words; w++)
			words[w] = bswap_32(words[w]);
		r->magic = bswap_32(r->magic);
		r->abi = bswap_16(r->abi);
		r->kind = bswap_16(r->kind);
	}
	assert_int_equal(baton_contracts_decode(recs, n_recs, 1, &swapped, NULL), 0);
	assert_sets_equal(set, swapped);
	baton_contracts_free(set);
	baton_contracts_free(swapped);
}

static void test_bad_magic(void **state)
{
	(void)state;
	recs[2].magic ^= 1;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "unknown magic");
}

static void test_bad_abi(void **state)
{
	(void)state;
	recs[0].abi = BATON_CONTRACT_ABI + 1;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "abi");
}

static void test_unterminated_owner(void **state)
{
	(void)state;
	memset(recs[1].owner, 'x', sizeof(recs[1].owner));
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "owner not a terminated string");
}

static void test_unterminated_name(void **state)
{
	(void)state;
	memset(find(BATON_REC_FIELD, "pktgen_state_v1", 2)->u.field.name, 'x',
	       BATON_CONTRACT_NAME_MAX);
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "unterminated");
}

static void test_unknown_kind(void **state)
{
	(void)state;
	recs[0].kind = 99;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "unknown kind 99");
}

static void test_missing_field(void **state)
{
	(void)state;
	remove_rec(find(BATON_REC_FIELD, "pktgen_state_v2", 3));
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "missing or extra");
}

static void test_field_out_of_sequence(void **state)
{
	(void)state;
	find(BATON_REC_FIELD, "pktgen_state_v2", 3)->u.field.index = 9;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "field mac out of sequence");
}

static void test_extra_field(void **state)
{
	(void)state;
	find(BATON_REC_SCHEMA, "pktgen_state_v1", 0)->u.schema.n_fields++;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "missing or extra");
}

static void test_unknown_type(void **state)
{
	(void)state;
	strcpy(find(BATON_REC_FIELD, "pktgen_state_v1", 0)->u.field.type, "f64");
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "unknown type or size");
}

static void test_size_disagrees_with_type(void **state)
{
	(void)state;
	find(BATON_REC_FIELD, "pktgen_state_v1", 4)->u.field.count = 5;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "unknown type or size");
}

static void test_overlapping_fields(void **state)
{
	(void)state;
	find(BATON_REC_FIELD, "pktgen_state_v1", 1)->u.field.offset = 4;
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "overlaps");
}

static void test_undeclared_schema(void **state)
{
	(void)state;
	strcpy(find(BATON_REC_ACCEPT, "nicx_driver", 2)->u.accept.schema,
	       "pktgen_state_v0");
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "undeclared schema pktgen_state_v0");
}

static void test_converter_target_not_native(void **state)
{
	struct baton_contract_rec *acc = find(BATON_REC_ACCEPT, "nicx_driver", 1);

	(void)state;
	/* nicx now reads v2 by converter only: nothing it reads natively. */
	acc->u.accept.via = BATON_VIA_CONVERTER;
	strcpy(acc->u.accept.schema, "pktgen_state_v1");
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "not accepted natively");
}

static void test_native_names_other_target(void **state)
{
	(void)state;
	strcpy(find(BATON_REC_ACCEPT, "nicx_driver", 1)->u.accept.target,
	       "pktgen_state_v1");
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "names another target");
}

static void test_missing_id(void **state)
{
	(void)state;
	remove_rec(find(BATON_REC_ID, "nicx_driver", 0));
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "missing or extra");
}

static void test_orphan_record(void **state)
{
	(void)state;
	remove_rec(find(BATON_REC_DRIVER, "nicx_driver", 0));
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "belongs to no declared object");
}

static void test_conflicting_copies(void **state)
{
	struct baton_contract_rec copy = *find(BATON_REC_DRIVER, "nicx_driver", 0);

	(void)state;
	copy.u.driver.priority = 11;
	add(&copy, 1);
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "declared twice, differently");
}

static void test_same_name_other_layout(void **state)
{
	(void)state;
	/* Another object declares "pktgen-state" v1 with a different layout. */
	add(edu_state_v1_schema.contract, edu_state_v1_schema.n_contract);
	for (size_t i = n_recs - edu_state_v1_schema.n_contract; i < n_recs; i++) {
		strcpy(recs[i].owner, "other_pktgen");
		if (recs[i].kind == BATON_REC_SCHEMA) {
			strcpy(recs[i].u.schema.name, "pktgen-state");
			recs[i].u.schema.version = 1;
		}
	}
	assert_decode_fails(-BATON_ERR_BADCONTRACT,
			    "pktgen-state v1 declared twice with different layouts");
}

static void test_bad_pin(void **state)
{
	(void)state;
	strcpy(find(BATON_REC_SCHEMA, "pktgen_state_v1", 0)->u.schema.pinned_guid,
	       "not-a-guid");
	assert_decode_fails(-BATON_ERR_BADCONTRACT, "is not a UUID");
}

#define HOSTILE(t) cmocka_unit_test_setup(t, gather)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_registry_equals_elf),
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_renamed_driver),
		cmocka_unit_test(test_elf_errors),
		HOSTILE(test_valid_set_decodes),
		HOSTILE(test_swapped_byte_order),
		HOSTILE(test_bad_magic),
		HOSTILE(test_bad_abi),
		HOSTILE(test_unterminated_owner),
		HOSTILE(test_unterminated_name),
		HOSTILE(test_unknown_kind),
		HOSTILE(test_missing_field),
		HOSTILE(test_field_out_of_sequence),
		HOSTILE(test_extra_field),
		HOSTILE(test_unknown_type),
		HOSTILE(test_size_disagrees_with_type),
		HOSTILE(test_overlapping_fields),
		HOSTILE(test_undeclared_schema),
		HOSTILE(test_converter_target_not_native),
		HOSTILE(test_native_names_other_target),
		HOSTILE(test_missing_id),
		HOSTILE(test_orphan_record),
		HOSTILE(test_conflicting_copies),
		HOSTILE(test_same_name_other_layout),
		HOSTILE(test_bad_pin),
	};

	if (argc == 2 && !strcmp(argv[1], "nolibelf"))
		return run_nolibelf();
	if (argc == 2 && !strcmp(argv[1], "fdfull"))
		return run_fdfull();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
