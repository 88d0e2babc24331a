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
 * Load @module from the tree @dir and what it depends on (modules.dep.bin),
 * through libkmod, which decompresses .ko.xz and .ko.zst files; a module
 * already loaded counts as loaded.  0 or -errno, with what failed in @why.
 */
int baton_kernel_load_module(const char *dir, const char *module, char *why,
			     size_t len);

/* The schema desc of @guid in @set, added (by GUID only) if new. */
const struct baton_schema_desc *baton_kernel_schema(struct baton_contracts *set,
						    const uint8_t guid[BATON_GUID_SIZE]);

#endif /* BATON_KERNEL_INTERNAL_H */
