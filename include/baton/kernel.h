/* SPDX-License-Identifier: MIT */
#ifndef BATON_KERNEL_H
#define BATON_KERNEL_H

/**
 * DOC: the kernel path
 *
 * The same contracts and planner bind preserved PCI devices to *kernel*
 * drivers after a kexec.  A kernel driver declares the schemas it accepts as
 * module aliases "liveupdate:G<32 hex digits>" (so depmod lists them in
 * modules.alias) and the schema it writes as module info
 * "liveupdate_writes=<32 hex digits>" (include/baton/kernel/
 * baton_liveupdate.h is the header for module authors; docs/kernel.md the
 * convention).  Its PCI devices expose "liveupdate_schema" and
 * "liveupdate_state" in sysfs.
 *
 *  - baton_contracts_read_modules(): a kernel module tree as a contract set:
 *    one driver per module with liveupdate aliases, its id table from its
 *    pci: aliases; an accepted GUID equal to the written one is native, any
 *    other is read through the module's converter into the written one.
 *  - baton_kernel_save(): before kexec, an image of the devices to preserve.
 *  - baton_kernel_bind(): after kexec, in early userspace, bind each device
 *    to the module its schema selects, the driver name resolved on this
 *    boot, never carried across.
 *
 * A kernel with Baton's patch series (kernel/patches) has its own record
 * of each device's schema, /sys/bus/pci/devices/ADDR/live_update_schema,
 * and binds a preserved device only to a driver that reads it: save writes
 * the records there, bind loads the modules and reports what the kernel
 * decided.  Without that attribute both work through driver_override.
 *
 * Every sysfs path is taken under a root directory ("/sys" on a real
 * system), so the logic runs against a fake tree in tests.
 */

#include <stdbool.h>
#include <stddef.h>

#include <baton/contracts.h>
#include <baton/error.h>
#include <baton/image.h>
#include <baton/plan.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

/* The override that no driver matches: what quarantine leaves behind. */
#define BATON_KERNEL_QUARANTINE "baton-quarantine"
/* Largest liveupdate_state a driver may hand out (one sysfs page). */
#define BATON_KERNEL_STATE_MAX 4096
/* A PCI core record as read: a GUID's 36 characters, "none" or "lost". */
#define BATON_KERNEL_RECORD_STRLEN 37

/**
 * baton_contracts_read_modules() - a kernel module tree's contracts
 * @dir:  /lib/modules/VERSION as depmod left it (modules.alias.bin,
 *        modules.dep.bin); its modules may be .ko, .ko.xz or .ko.zst
 * @out:  the contract set, free with baton_contracts_free()
 * @diag: where it went wrong, may be NULL
 *
 * Read through libkmod, in a child process given at most 30 s: the alias
 * index names the modules with liveupdate aliases, and each one's
 * .modinfo what it declares.
 *
 * Return: 0, -errno from opening a file of the tree (-ENOENT: missing,
 * -ELOOP, -EACCES...), -ENOENT also for a module with liveupdate aliases
 * that modules.dep.bin does not list, -BATON_ERR_BADVALUE (modules.alias.bin
 * is not a depmod index, or one libkmod died on or did not get through),
 * -BATON_ERR_BADCONTRACT (a malformed liveupdate
 * alias or module info), -BATON_ERR_ELF (a module file libkmod cannot
 * read: not ELF, a truncated or corrupt compressed module, or one libkmod
 * died reading), -EIO (the child reading them failed), -ENOMEM.
 */
int baton_contracts_read_modules(const char *dir, struct baton_contracts **out,
				 struct baton_diag *diag);

/**
 * struct baton_kernel_save_opts - which devices to record
 * @sysfs:       the sysfs root, "/sys" when NULL
 * @addrs:       devices to record; NULL means every PCI device whose driver
 *               exposes liveupdate_schema
 * @n_addrs:     their number
 * @mandatory:   devices whose records are mandatory, @n_mandatory of them
 * @n_mandatory: their number
 * @reserved:    zero (version.h)
 */
struct baton_kernel_save_opts {
	const char *sysfs;
	const char *const *addrs;
	size_t n_addrs;
	const char *const *mandatory;
	size_t n_mandatory;
	uint64_t reserved[4];
};

/**
 * baton_kernel_save() - record preserved devices in an image
 * @opts:  what to record
 * @out:   a malloc'd image, free with free()
 * @len:   its length
 * @diag:  where it went wrong, may be NULL
 *
 * Each record has the device's ids from sysfs, the schema its driver writes
 * (liveupdate_schema) and its state (liveupdate_state, when readable).
 * On a kernel with Baton's patch series the schema is also written to each
 * device's live_update_schema, for all devices or none: when one is
 * refused, or the image cannot be made, those written are cleared (the
 * null GUID) before returning.
 *
 * Return: 0, -errno from reading sysfs (-ENOENT: a named device or
 * attribute is missing, -EACCES...), -BATON_ERR_BADVALUE (an attribute
 * does not parse), -ENODEV (no device to record, or a mandatory device not
 * among those recorded), -EFBIG (a state beyond BATON_KERNEL_STATE_MAX),
 * -EINVAL (@opts->reserved is not zero), -ENOMEM, -errno from a
 * live_update_schema the kernel refused (-EOPNOTSUPP: KHO is not enabled,
 * -EPERM...), or what baton_image_write() returns.
 */
int baton_kernel_save(const struct baton_kernel_save_opts *opts, void **out,
		      size_t *len, struct baton_diag *diag);

/**
 * struct baton_kernel_result - what binding did to one device
 * @decision:       the planner's decision
 * @module:         the module loaded for BIND/CONVERT, else ""
 * @driver:         the driver name found on this boot, else ""
 * @result:         "bound", "quarantined", "reset", "absent", or what failed
 * @bound:          the device ended bound to @driver
 * @state_restored: the record's state was written back to the driver
 * @reserved:       zeroed by the library (version.h)
 */
struct baton_kernel_result {
	struct baton_decision decision;
	char module[64];
	char driver[64];
	char result[160];
	bool bound;
	bool state_restored;
	uint64_t reserved[4];
};

/**
 * struct baton_kernel_bind_opts
 * @sysfs:   the sysfs root, "/sys" when NULL
 * @modules: the module tree the contracts were read from, where the
 *           module files are loaded from
 * @orphan:  overrides the records' orphan policy
 * @reserved: zero (version.h)
 */
struct baton_kernel_bind_opts {
	const char *sysfs;
	const char *modules;
	enum baton_orphan_override orphan;
	uint64_t reserved[4];
};

/**
 * baton_kernel_bind() - bind preserved devices after kexec
 * @img:       the image saved before kexec
 * @contracts: the module tree's contracts (baton_contracts_read_modules());
 *             the decisions in @results point into it and into @img
 * @opts:      where sysfs and the modules are
 * @results: @img->n_devices results, in record order
 * @diag:    where it went wrong, may be NULL
 *
 * First writes BATON_KERNEL_QUARANTINE to driver_override of every recorded
 * device that is present, so no driver can claim one while the others are
 * handled; then plans against the module tree; then for each BIND or
 * CONVERT loads the module (and what it depends on), finds the driver it
 * registered (/sys/module/M/drivers/pci:NAME), points driver_override at
 * it, probes, and hands the state back through liveupdate_schema and
 * liveupdate_state.  QUARANTINE and CONFLICT leave the override in place;
 * RESET clears it, resets the function and probes it cold.
 *
 * On a kernel with Baton's patch series, for a device that holds a record
 * there (live_update_schema is a GUID or "lost", not "none") the kernel
 * decides: nothing writes its driver_override;
 * for BIND and CONVERT the module is loaded, its probe binds the device or
 * the kernel refuses it, and the result says which driver the device has
 * and its record (baton_kernel_record()); RESET writes the null GUID to the
 * record instead of clearing the override.
 *
 * A failure binding one device is reported in its result and does not stop
 * the others.
 *
 * Return: 0 when every device was handled as planned (check
 * baton_plan_ok() on the decisions for the verdict), or a negative error
 * when the plan itself could not be made (-EINVAL: @opts->reserved is not
 * zero).
 */
int baton_kernel_bind(const struct baton_image *img,
		      const struct baton_contracts *contracts,
		      const struct baton_kernel_bind_opts *opts,
		      struct baton_kernel_result *results,
		      struct baton_diag *diag);

/**
 * baton_kernel_record() - the PCI core's record of a device's schema
 * @sysfs: the sysfs root, "/sys" when NULL
 * @addr:  the device, DDDD:BB:DD.F
 * @out:   the record as the kernel says it: a GUID ("cfaf9865-199f-..."),
 *         "none", or "lost" (the records that came across the kexec could
 *         not be read); "" when the kernel keeps none
 * @diag:  where it went wrong, may be NULL
 *
 * Return: 1 when the kernel has Baton's patch series (the device has
 * live_update_schema), 0 when it does not, -errno from reading it, or
 * -BATON_ERR_BADVALUE when @addr is not a PCI address or the record holds
 * none of the three.
 */
int baton_kernel_record(const char *sysfs, const char *addr,
			char out[BATON_KERNEL_RECORD_STRLEN],
			struct baton_diag *diag);

/**
 * baton_kernel_release() - clear the PCI core's records of saved devices
 * @sysfs: the sysfs root, "/sys" when NULL
 * @img:   the image baton_kernel_save() made
 *
 * For a save the caller abandons after baton_kernel_save() succeeded (its
 * image could not be stored): each device of @img that has
 * live_update_schema gets the null GUID, last first, so none is preserved
 * for a kexec the caller was told failed.  Best effort; nothing to do on a
 * kernel without Baton's patch series.
 */
void baton_kernel_release(const char *sysfs, const struct baton_image *img);

BATON__END_DECLS

#endif /* BATON_KERNEL_H */
