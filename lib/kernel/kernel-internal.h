/* SPDX-License-Identifier: MIT */
#ifndef BATON_KERNEL_INTERNAL_H
#define BATON_KERNEL_INTERNAL_H

/* Shared by the module-tree reader and the sysfs binder; not installed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include <baton/contracts.h>
#include <baton/image.h>
#include <baton/pci.h>

/* The sysfs tree a caller named, or the real one when it named none. */
static inline const char *baton_kernel_root(const char *sysfs)
{
	return sysfs ? sysfs : "/sys";
}

/* The kernel's spelling of a module name: '-' becomes '_'. */
void baton_kernel_module_name(const char *s, size_t len, char out[64]);

/* 32 hex digits, no dashes; 0 or -BATON_ERR_BADGUID. */
int baton_kernel_parse_guid(const char *s, size_t len,
			    uint8_t out[BATON_GUID_SIZE]);

/* A depmod pci: alias as an id-table entry; false if it is not one. */
bool baton_kernel_parse_pci_alias(const char *s, struct baton_pci_match *m);

/* The library the children open (dlopen()): libkmod2's, Debian's and kmod's. */
#define BATON_KMOD_SONAME "libkmod.so.2"

/* One module of a tree as libkmod read it, in a child (lib/kernel/kmod.c). */
struct baton_kmod_module {
	const char *name;	/* as the alias index names it */
	const char *path;	/* its file; "" when modules.dep.bin lacks it */
	bool said;		/* the child read its .modinfo: what follows */
	int err;		/* kmod_module_get_info()'s -errno, or 0 */
	const char *last;	/* libkmod's last message, "" if none */
	const char *info;	/* "key\0value\0" pairs, @info_len bytes */
	size_t info_len;
};

/* What the child said of a tree; the strings point into @buf. */
struct baton_kmod_tree {
	int dump_err;		/* the alias index: 0, or < 0 when unusable;
				 * -ELIBACC: libkmod could not be opened */
	struct baton_kmod_module *mods;
	size_t n;
	int died;		/* the signal the child died of, or 0 */
	bool late;		/* it took too long (baton_kmod_read_ms), killed */
	bool failed;		/* it exited but not 0 (out of memory) */
	char *buf;
};

/*
 * The modules of the tree @dir with a liveupdate:G alias, their files and
 * their .modinfo (.ko, .ko.xz, .ko.zst), read by libkmod in a child
 * process.  When the child died or was late, the last module without its
 * info is the one it was reading, or the index when there is none.  0, -errno
 * when the child could not be run, -EFBIG when it said more than 4 MiB.
 * Free with baton_kmod_tree_free(), also on failure.
 */
int baton_kmod_read_tree(const char *dir, struct baton_kmod_tree *tree);
/* How long that child may take, in ms: 30 s; tests shorten it. */
extern int baton_kmod_read_ms;
void baton_kmod_tree_free(struct baton_kmod_tree *tree);

/*
 * Load @module from the tree @dir and what it depends on (modules.dep.bin),
 * through libkmod in a child process, which decompresses .ko.xz and .ko.zst
 * files; a module already loaded counts as loaded.  0 or -errno, with
 * what failed in @why.
 */
int baton_kernel_load_module(const char *dir, const char *module, char *why,
			     size_t len);

/* The schema desc of @guid in @set, added (by GUID only) if new. */
const struct baton_schema_desc *baton_kernel_schema(struct baton_contracts *set,
						    const uint8_t guid[BATON_GUID_SIZE]);

/* sysfs, as lib/kernel/sysfs.c reads and writes it: ROOT/bus/pci/devices/ADDR[/ATTR]. */
void baton_kernel_dev_path(char *out, size_t len, const char *root,
			   const char *addr, const char *attr);
/* A whole attribute, at most @len bytes: bytes read or -errno. */
ssize_t baton_kernel_read_file(const char *path, void *buf, size_t len);
/* An attribute in one write(), as sysfs wants: 0 or -errno. */
int baton_kernel_write_file(const char *path, const void *buf, size_t len);

/* The PCI core's record, live_update_schema (lib/kernel/inkernel.c). */
/* It has a record the kernel binds by: a GUID or "lost", not "none". */
bool baton_inkernel_holds(const char *root, const char *addr);
/* Write @guid as the device's record: 0 or -errno. */
int baton_inkernel_write(const char *root, const char *addr,
			 const uint8_t guid[BATON_GUID_SIZE]);
/*
 * Record the schema of each device of @img that has live_update_schema,
 * all or none: on a failure the records written are cleared again.  0 or
 * -errno, said in @diag.
 */
int baton_inkernel_record(const char *root, const struct baton_image *img,
			  struct baton_diag *diag);
/* Clear the records of @img's first @n devices, last first. */
void baton_inkernel_clear(const char *root, const struct baton_image *img,
			  size_t n);

#endif /* BATON_KERNEL_INTERNAL_H */
