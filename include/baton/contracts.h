/* SPDX-License-Identifier: MIT */
#ifndef BATON_CONTRACTS_H
#define BATON_CONTRACTS_H

/**
 * DOC: contract sets
 *
 * A contract set is what the planner binds against: the drivers of one
 * program (or one kernel's module tree), each with its id table and the
 * GUIDs it accepts, and the schemas those GUIDs come from.  A set is
 * decoded from contract records (contract_abi.h), found either in an ELF
 * file (baton_contracts_read_elf) or in this program's registry
 * (baton_contracts_from_registry).  Both go through one decoder, which
 * trusts nothing: every string must be terminated, every link must resolve,
 * every count must match, a schema declared twice must be declared alike.
 */

#include <stddef.h>
#include <stdint.h>

#include <baton/contract_abi.h>
#include <baton/error.h>
#include <baton/pci.h>
#include <baton/schema.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/**
 * struct baton_accept_desc - one schema a driver accepts
 * @schema: the accepted schema (its GUID is what images are matched on)
 * @target: the schema a converter produces; == @schema when native
 * @via:    BATON_VIA_NATIVE or BATON_VIA_CONVERTER
 */
struct baton_accept_desc {
	const struct baton_schema_desc *schema;
	const struct baton_schema_desc *target;
	uint32_t via;
};

/**
 * struct baton_contract - one driver's contract
 * @owner:    the C identifier it was declared with
 * @name:     informational
 */
struct baton_contract {
	char owner[BATON_CONTRACT_NAME_MAX];
	char name[BATON_CONTRACT_NAME_MAX];
	int32_t priority;
	size_t n_ids;
	struct baton_pci_match *ids;
	size_t n_accepts;
	struct baton_accept_desc *accepts;
};

/**
 * struct baton_contracts - a decoded contract set
 * @drivers: sorted by owner, so output does not depend on link order
 * @schemas: sorted by (name, version, owner)
 */
struct baton_contracts {
	size_t n_drivers;
	struct baton_contract *drivers;
	size_t n_schemas;
	struct baton_schema_desc *schemas;
};

/**
 * baton_contracts_decode() - decode contract records into a set
 * @recs:   the records, in any order
 * @n:      their number
 * @swap:   whether the records are in the other byte order than this host
 * @out:    the set, free with baton_contracts_free()
 * @diag:   where a bad record is, may be NULL
 *
 * Return: 0, -BATON_ERR_BADCONTRACT, -BATON_ERR_BADGUID or -ENOMEM.
 */
int baton_contracts_decode(const struct baton_contract_rec *recs, size_t n,
			   int swap, struct baton_contracts **out,
			   struct baton_diag *diag);

/**
 * baton_contracts_read_elf() - read a binary's contracts from its file
 * @path: an ELF executable, shared object or relocatable object
 * @out:  the set, free with baton_contracts_free()
 * @diag: where it went wrong, may be NULL
 *
 * The binary is never executed.  A file with no "baton_contracts" section
 * is an error (-BATON_ERR_NOCONTRACTS): a binary without drivers should not
 * be the target of a live update by mistake.
 *
 * libelf is opened (dlopen(), "libelf.so.1") the first time a file is
 * read, so that a program linked with libbaton does not load it at start.
 *
 * Return: 0, the -errno of opening @path (-ENOENT, -EACCES, -EMFILE...;
 * -EMFILE too when no fd was left to open libelf with), -ELIBACC (libelf
 * could not be opened: @diag says why), -BATON_ERR_ELF
 * (libelf cannot read it), -BATON_ERR_NOCONTRACTS, or an error of
 * baton_contracts_decode().
 */
int baton_contracts_read_elf(const char *path, struct baton_contracts **out,
			     struct baton_diag *diag);

/**
 * baton_contracts_from_registry() - the contracts of this running program
 * @out:  the set of every registered driver, free with baton_contracts_free()
 * @diag: where it went wrong, may be NULL
 *
 * Return: as baton_contracts_decode().
 */
int baton_contracts_from_registry(struct baton_contracts **out,
				  struct baton_diag *diag);

/**
 * baton_contracts_free() - free a contract set
 * @set: the set, or NULL
 */
void baton_contracts_free(struct baton_contracts *set);

/**
 * baton_contracts_schema() - look a schema of a set up by its owner
 * @set:   the set
 * @owner: the C identifier the schema was declared with
 *
 * Return: the schema, owned by @set, or NULL when @set has none of that
 * owner.
 */
const struct baton_schema_desc *
baton_contracts_schema(const struct baton_contracts *set, const char *owner);

BATON__END_DECLS

#endif /* BATON_CONTRACTS_H */
