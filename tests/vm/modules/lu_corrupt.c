// SPDX-License-Identifier: GPL-2.0
/*
 * lu_corrupt: the hostile case of Baton's VM test of its kernel patch
 * series (kernel/patches).  Loaded before a kexec, it damages the PCI live
 * update schema records on their way to the next kernel, which must refuse
 * them with a clear message and keep every device away from every driver
 * until userspace says otherwise.
 *
 * The records are one page that the PCI core preserved with Kexec HandOver
 * and registered as the subtree "pci-live-update"; KHO's debugfs shows it
 * as the blob kho/out/sub_fdts/pci-live-update, whose wrapper points at the
 * page itself.  how=truncate makes the tree claim more bytes than KHO
 * carries; how=garbage overwrites its header.  Nothing else is touched,
 * and the module unloads.
 *
 * It builds on any kernel (debugfs only); loading it where the records do
 * not exist fails with -ENOENT.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/string.h>

static char *how = "truncate";
module_param(how, charp, 0444);
MODULE_PARM_DESC(how, "truncate (the default) or garbage");

static const char *const lu_corrupt_path[] = {
	"kho", "out", "sub_fdts", "pci-live-update",
};

static int __init lu_corrupt_init(void)
{
	struct debugfs_blob_wrapper *blob;
	struct dentry *d = NULL, *parent = NULL;
	__be32 *header;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lu_corrupt_path); i++) {
		d = debugfs_lookup(lu_corrupt_path[i], parent);
		dput(parent);
		if (!d)
			return -ENOENT;
		parent = d;
	}
	blob = d_inode(d)->i_private;
	header = blob->data;
	dput(d);
	if (!strcmp(how, "truncate")) {
		/* fdt_header.totalsize, big-endian: a page more than there is */
		header[1] = cpu_to_be32(be32_to_cpu(header[1]) + 4096);
	} else if (!strcmp(how, "garbage")) {
		memset(header, 0xa5, 64);
	} else {
		return -EINVAL;
	}
	pr_info("lu_corrupt: damaged the PCI live update records (%s)\n", how);
	return 0;
}

static void __exit lu_corrupt_exit(void)
{
}

module_init(lu_corrupt_init);
module_exit(lu_corrupt_exit);

MODULE_DESCRIPTION("Baton VM test: damages the PCI live update schema records before a kexec");
MODULE_LICENSE("GPL");
