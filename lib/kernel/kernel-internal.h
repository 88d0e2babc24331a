/* SPDX-License-Identifier: MIT */
#ifndef BATON_KERNEL_INTERNAL_H
#define BATON_KERNEL_INTERNAL_H

/* Shared by the module-tree reader and the sysfs binder; not installed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/contracts.h>
#include <baton/pci.h>

/* The kernel's spelling of a module name: '-' becomes '_'. */
void baton_kernel_module_name(const char *s, size_t len, char out[64]);

/* 32 hex digits, no dashes; 0 or -BATON_ERR_BADGUID. */
int baton_kernel_parse_guid(const char *s, size_t len,
			    uint8_t out[BATON_GUID_SIZE]);

/* A depmod pci: alias as an id-table entry; false if it is not one. */
bool baton_kernel_parse_pci_alias(const char *s, struct baton_pci_match *m);

/*
 * The file of @module in @dir/modules.dep (relative to @dir) and the files
 * it depends on, in the order modules.dep lists them (load them in reverse).
 * The caller frees them, also on failure: then they hold what was read.
 * 0, -errno of opening modules.dep, -ENOENT (not listed) or -ENOMEM.
 */
int baton_kernel_module_path(const char *dir, const char *module, char **path,
			     char ***deps, size_t *n_deps, struct baton_diag *diag);

/* The schema desc of @guid in @set, added (by GUID only) if new. */
const struct baton_schema_desc *baton_kernel_schema(struct baton_contracts *set,
						    const uint8_t guid[BATON_GUID_SIZE]);

#endif /* BATON_KERNEL_INTERNAL_H */
