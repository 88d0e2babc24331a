/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Baton live update convention for Linux PCI drivers.
 *
 * This header is for out-of-tree (or in-tree) kernel modules.  It is not
 * part of Baton's userspace API and is never included by Baton itself.
 */
#ifndef BATON_LIVEUPDATE_H
#define BATON_LIVEUPDATE_H

/**
 * DOC: Baton live update convention for kernel drivers
 *
 * A PCI driver whose devices keep running across a kexec hands its
 * per-device state to the next kernel as a *schema*: a declared layout
 * identified by a GUID, written here as 32 lowercase hex digits without
 * dashes.  The GUID is derived from the layout (see docs/schemas.md), so a
 * change to the layout gives a new GUID.  The driver's *name* is never part
 * of what crosses the kexec: after the kexec, Baton binds a preserved device
 * to whichever module declares that it reads the device's schema, whatever
 * that module or its driver is called on the new kernel.
 *
 * What a driver author writes:
 *
 *  - BATON_LU_WRITES(hex) once: the schema this module writes.  It becomes
 *    module info ``liveupdate_writes=<hex>`` and, since a driver reads what
 *    it writes, also the module alias ``liveupdate:G<hex>``.
 *  - BATON_LU_ACCEPTS(hex) for each older schema the module still reads,
 *    through its own converter: the module alias ``liveupdate:G<hex>``.
 *  - BATON_LU_PRIORITY(n), optional: ``liveupdate_priority=<n>``; among
 *    several modules that read a schema the same way (natively, or through
 *    a converter), the higher priority wins.  Default 0.
 *  - In probe(), after the device is usable: baton_lu_add() with a
 *    &struct baton_lu_ops whose save() serializes the device's state and
 *    whose restore() takes it back (converting it when it is in an accepted
 *    older schema).  In remove(), first thing: baton_lu_remove().
 *
 * What Baton reads:
 *
 *  - Before kexec, on the running kernel: the device attributes
 *    ``/sys/bus/pci/devices/ADDR/liveupdate_schema`` (the GUID this driver
 *    writes for the device) and ``liveupdate_state`` (the state, at most
 *    %BATON_LU_STATE_MAX bytes; reading it calls save()).
 *  - Before kexec, from the *target* kernel's module tree, through
 *    libkmod: depmod's alias index names the modules with
 *    ``liveupdate:G<hex>`` aliases, and each one's ``.modinfo`` (of a .ko,
 *    .ko.xz or .ko.zst) gives those aliases, the ``pci:`` aliases of its
 *    id table, ``liveupdate_writes`` and ``liveupdate_priority``.  A
 *    schema accepted by a module is *native* when it equals the schema the
 *    module writes, and read *through a converter* otherwise.
 *  - After kexec, in early userspace: Baton loads the chosen module, finds
 *    the driver it registered, binds the device to it with
 *    ``driver_override``, writes the record's schema GUID to
 *    ``liveupdate_schema`` and then the whole state to ``liveupdate_state``
 *    in a single write at offset 0, which calls restore().
 *
 * Schema GUIDs in the macros must be string literals of exactly 32
 * lowercase hex digits; the macros check the length when compiling.
 *
 * The header needs <linux/pci.h> and friends, which it includes.  Include
 * it from one .c file of a module: the sysfs callbacks are static.
 */

#include <linux/build_bug.h>
#include <linux/device.h>
#include <linux/errno.h>
/* hex2bin(): <linux/kernel.h> until 7.x moved it to a header of its own. */
#if __has_include(<linux/hex.h>)
#include <linux/hex.h>
#endif
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/types.h>
#include <linux/version.h>

/* Largest state a driver hands out or takes back: one sysfs page. */
#define BATON_LU_STATE_MAX 4096

/* Length of a schema GUID in hex, and in bytes. */
#define BATON_LU_GUID_HEX_LEN 32
#define BATON_LU_GUID_LEN 16

#define BATON_LU__CHECK_HEX(hex)						\
	static_assert(sizeof(hex) == BATON_LU_GUID_HEX_LEN + 1,			\
		      "a liveupdate schema GUID is 32 hex digits: " hex)

/**
 * BATON_LU_WRITES() - declare the schema this module writes
 * @hex: the schema GUID, a string literal of 32 lowercase hex digits
 *
 * Emits module info ``liveupdate_writes=<hex>`` and the module alias
 * ``liveupdate:G<hex>``: a driver reads (natively) what it writes.  Use it
 * once per module, at file scope.
 */
#define BATON_LU_WRITES(hex)							\
	BATON_LU__CHECK_HEX(hex);						\
	MODULE_INFO(liveupdate_writes, hex);					\
	MODULE_ALIAS("liveupdate:G" hex)

/**
 * BATON_LU_ACCEPTS() - declare a further schema this module reads
 * @hex: the schema GUID, a string literal of 32 lowercase hex digits
 *
 * Emits the module alias ``liveupdate:G<hex>``.  The module's restore()
 * must convert state in this schema into the one it writes.  Use it once
 * per accepted schema, at file scope.
 */
#define BATON_LU_ACCEPTS(hex)							\
	BATON_LU__CHECK_HEX(hex);						\
	MODULE_ALIAS("liveupdate:G" hex)

/**
 * BATON_LU_PRIORITY() - rank this module among equal candidates
 * @n: a decimal integer literal (may be negative); 0 when not declared
 *
 * Emits module info ``liveupdate_priority=<n>``.
 */
#define BATON_LU_PRIORITY(n)							\
	MODULE_INFO(liveupdate_priority, __stringify(n))

/**
 * struct baton_lu_ops - how a driver hands its state out and takes it back
 * @save:    serialize the device's state, now, into @buf (at most @max bytes,
 *           %BATON_LU_STATE_MAX); return the length or a negative errno.
 *           Called for each read of ``liveupdate_state`` at offset 0.
 * @restore: take back state in schema @guid (16 bytes, the GUID announced
 *           through ``liveupdate_schema``, or the schema written for the
 *           device when none was announced).  Convert it when @guid is an
 *           older accepted schema.  Return 0, or a negative errno (-EINVAL
 *           for a schema or payload the driver cannot read) which the
 *           writer of ``liveupdate_state`` sees.
 * @accepts: optional, NULL-terminated: every schema (32 hex digits) the
 *           driver reads, the written one included; the same literals the
 *           module passes to BATON_LU_WRITES() and BATON_LU_ACCEPTS().  A
 *           write of any other GUID to ``liveupdate_schema`` fails with
 *           -EINVAL.  When NULL, only the schema written for the device is
 *           accepted.
 *
 * save() and restore() are called in process context, serialized per
 * device, and never after baton_lu_remove() returns.
 */
struct baton_lu_ops {
	ssize_t (*save)(struct pci_dev *pdev, void *buf, size_t max);
	int (*restore)(struct pci_dev *pdev, const u8 guid[BATON_LU_GUID_LEN],
		       const void *buf, size_t len);
	const char *const *accepts;
};

/*
 * Everything below is the implementation: per-device data lives in a devres
 * entry of the PCI device, found again from the sysfs callbacks.
 */

struct baton_lu__dev {
	const struct baton_lu_ops *ops;
	struct mutex lock;		/* serializes save/restore/announce */
	u8 written[BATON_LU_GUID_LEN];
	u8 announced[BATON_LU_GUID_LEN];
	bool have_announced;
	bool files;			/* the sysfs files exist */
	size_t snap_len;		/* the last save(), served to reads */
	u8 snap[BATON_LU_STATE_MAX];
};

/* The bin_attribute callbacks took a const attribute from 6.13 on, first as
 * read_new/write_new, then (6.18) under their old names. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#define BATON_LU__BIN_CONST const
#else
#define BATON_LU__BIN_CONST
#endif

static inline int baton_lu__parse(const char *s, size_t len,
				  u8 out[BATON_LU_GUID_LEN])
{
	size_t i;

	if (len == BATON_LU_GUID_HEX_LEN + 1 && s[BATON_LU_GUID_HEX_LEN] == '\n')
		len--;
	if (len != BATON_LU_GUID_HEX_LEN)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EINVAL;
	return hex2bin(out, s, BATON_LU_GUID_LEN);
}

static void baton_lu__release(struct device *dev, void *res);

static inline struct baton_lu__dev *baton_lu__find(struct device *dev)
{
	return devres_find(dev, baton_lu__release, NULL, NULL);
}

static inline bool baton_lu__accepts(const struct baton_lu__dev *lu,
				     const u8 guid[BATON_LU_GUID_LEN])
{
	const char *const *a;
	u8 g[BATON_LU_GUID_LEN];

	if (!lu->ops->accepts)
		return memcmp(guid, lu->written, BATON_LU_GUID_LEN) == 0;
	for (a = lu->ops->accepts; *a; a++)
		if (!baton_lu__parse(*a, strlen(*a), g) &&
		    !memcmp(g, guid, BATON_LU_GUID_LEN))
			return true;
	return false;
}

static ssize_t __maybe_unused
liveupdate_schema_show(struct device *dev, struct device_attribute *attr,
		       char *buf)
{
	struct baton_lu__dev *lu = baton_lu__find(dev);

	if (!lu)
		return -ENODEV;
	return sysfs_emit(buf, "%*phN\n", BATON_LU_GUID_LEN, lu->written);
}

static ssize_t __maybe_unused
liveupdate_schema_store(struct device *dev, struct device_attribute *attr,
			const char *buf, size_t count)
{
	struct baton_lu__dev *lu = baton_lu__find(dev);
	u8 guid[BATON_LU_GUID_LEN];

	if (!lu)
		return -ENODEV;
	if (baton_lu__parse(buf, count, guid))
		return -EINVAL;
	if (!baton_lu__accepts(lu, guid))
		return -EINVAL;
	mutex_lock(&lu->lock);
	memcpy(lu->announced, guid, sizeof(guid));
	lu->have_announced = true;
	mutex_unlock(&lu->lock);
	return count;
}

static struct device_attribute baton_lu__schema_attr __maybe_unused =
	__ATTR(liveupdate_schema, 0644, liveupdate_schema_show,
	       liveupdate_schema_store);

static ssize_t __maybe_unused
baton_lu__state_read(struct file *file, struct kobject *kobj,
		     BATON_LU__BIN_CONST struct bin_attribute *attr,
		     char *buf, loff_t off, size_t count)
{
	struct device *dev = kobj_to_dev(kobj);
	struct baton_lu__dev *lu = baton_lu__find(dev);
	ssize_t ret;

	if (!lu)
		return -ENODEV;
	mutex_lock(&lu->lock);
	if (off == 0) {
		/* A read from the start takes a fresh snapshot; reads further
		 * on serve the same snapshot, so small reads see one state. */
		ret = lu->ops->save(to_pci_dev(dev), lu->snap, sizeof(lu->snap));
		if (ret < 0) {
			lu->snap_len = 0;
			goto out;
		}
		if (ret > (ssize_t)sizeof(lu->snap)) {
			lu->snap_len = 0;
			ret = -EOVERFLOW;
			goto out;
		}
		lu->snap_len = ret;
	}
	if (off < 0 || (size_t)off >= lu->snap_len) {
		ret = 0;
		goto out;
	}
	ret = min_t(size_t, count, lu->snap_len - (size_t)off);
	memcpy(buf, lu->snap + off, ret);
out:
	mutex_unlock(&lu->lock);
	return ret;
}

static ssize_t __maybe_unused
baton_lu__state_write(struct file *file, struct kobject *kobj,
		      BATON_LU__BIN_CONST struct bin_attribute *attr,
		      char *buf, loff_t off, size_t count)
{
	struct device *dev = kobj_to_dev(kobj);
	struct baton_lu__dev *lu = baton_lu__find(dev);
	const u8 *guid;
	int err;

	if (!lu)
		return -ENODEV;
	/* The whole payload, in one write, from the start. */
	if (off != 0)
		return -EINVAL;
	mutex_lock(&lu->lock);
	guid = lu->have_announced ? lu->announced : lu->written;
	err = lu->ops->restore(to_pci_dev(dev), guid, buf, count);
	/* An announcement covers one state write. */
	lu->have_announced = false;
	mutex_unlock(&lu->lock);
	return err ? err : (ssize_t)count;
}

static struct bin_attribute baton_lu__state_attr __maybe_unused = {
	.attr = { .name = "liveupdate_state", .mode = 0600 },
	.size = BATON_LU_STATE_MAX,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 18, 0)
	.read_new = baton_lu__state_read,
	.write_new = baton_lu__state_write,
#else
	.read = baton_lu__state_read,
	.write = baton_lu__state_write,
#endif
};

static void __maybe_unused baton_lu__release(struct device *dev, void *res)
{
	struct baton_lu__dev *lu = res;

	/* Removing the files waits for callbacks in progress; after this no
	 * save() or restore() runs and the entry can be freed. */
	if (lu->files) {
		device_remove_bin_file(dev, &baton_lu__state_attr);
		device_remove_file(dev, &baton_lu__schema_attr);
		lu->files = false;
	}
	mutex_destroy(&lu->lock);
}

/**
 * baton_lu_add() - expose a device's live update attributes
 * @pdev:        the device, from probe()
 * @ops:         how the driver saves and restores its state; must outlive
 *               the device's binding (static const, typically)
 * @written_hex: the schema (32 lowercase hex digits) the driver writes for
 *               this device: usually the one given to BATON_LU_WRITES(),
 *               but a driver may write an older schema for some devices
 *
 * Creates ``liveupdate_schema`` and ``liveupdate_state`` in the device's
 * sysfs directory.  The data is device-managed: it goes away when the
 * driver is unbound even without baton_lu_remove(), but a driver whose
 * save() or restore() uses data freed in remove() must call
 * baton_lu_remove() before freeing it.
 *
 * Context: process context, typically probe().
 * Return: 0; -EINVAL for a malformed GUID or missing ops; -EEXIST when the
 * device already has them; -ENOMEM; or the error creating the files.
 */
static inline int baton_lu_add(struct pci_dev *pdev,
			       const struct baton_lu_ops *ops,
			       const char *written_hex)
{
	struct device *dev = &pdev->dev;
	struct baton_lu__dev *lu;
	int err;

	if (!ops || !ops->save || !ops->restore || !written_hex)
		return -EINVAL;
	if (baton_lu__find(dev))
		return -EEXIST;
	lu = devres_alloc(baton_lu__release, sizeof(*lu), GFP_KERNEL);
	if (!lu)
		return -ENOMEM;
	mutex_init(&lu->lock);
	lu->ops = ops;
	if (baton_lu__parse(written_hex, strlen(written_hex), lu->written)) {
		mutex_destroy(&lu->lock);
		devres_free(lu);
		return -EINVAL;
	}
	/* Registered before the files exist, so the callbacks find it. */
	devres_add(dev, lu);
	err = device_create_file(dev, &baton_lu__schema_attr);
	if (err)
		goto fail;
	err = device_create_bin_file(dev, &baton_lu__state_attr);
	if (err) {
		device_remove_file(dev, &baton_lu__schema_attr);
		goto fail;
	}
	lu->files = true;
	return 0;
fail:
	devres_release(dev, baton_lu__release, NULL, NULL);
	return err;
}

/**
 * baton_lu_remove() - remove a device's live update attributes
 * @pdev: the device given to baton_lu_add()
 *
 * Removes the attributes and waits for a save() or restore() in progress.
 * Harmless when baton_lu_add() was not called or failed.
 *
 * Context: process context, typically the start of remove().
 */
static inline void baton_lu_remove(struct pci_dev *pdev)
{
	devres_release(&pdev->dev, baton_lu__release, NULL, NULL);
}

#endif /* BATON_LIVEUPDATE_H */
