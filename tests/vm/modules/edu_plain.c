// SPDX-License-Identifier: GPL-2.0
/*
 * edu_plain: module C of Baton's VM test.  An ordinary driver for QEMU's
 * edu device (1234:11e8) that declares no live update schema: the driver
 * plain id matching would pick, which must never get a preserved device.
 * On a kernel with Baton's patch series (kernel/patches) the PCI core
 * refuses it a preserved device by itself; elsewhere Baton's quarantine
 * override does.
 *
 * Like most drivers it initialises the device in probe(), overwriting the
 * registers a preserved device still holds, so if it ever bound a preserved
 * device the test would see that too.  The number of devices it bound is
 * /sys/module/edu_plain/parameters/bound.
 */
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>

#define EDU_REG_ID	 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_FACT	 0x08

static int bound;
module_param(bound, int, 0444);
MODULE_PARM_DESC(bound, "devices this driver bound (read-only)");

static int edu_plain_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	void __iomem *bar;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	bar = pcim_iomap(pdev, 0, 0);
	if (!bar)
		return -ENOMEM;
	if ((ioread32(bar + EDU_REG_ID) & 0xff) != 0xed)
		return -ENODEV;
	/* Cold initialisation. */
	iowrite32(0, bar + EDU_REG_LIVENESS);
	iowrite32(0, bar + EDU_REG_FACT);
	bound++;
	dev_info(&pdev->dev, "bound (cold init)\n");
	return 0;
}

static void edu_plain_remove(struct pci_dev *pdev)
{
	bound--;
}

static const struct pci_device_id edu_plain_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, edu_plain_ids);

static struct pci_driver edu_plain_driver = {
	.name = "edu_plain",
	.id_table = edu_plain_ids,
	.probe = edu_plain_probe,
	.remove = edu_plain_remove,
};
module_pci_driver(edu_plain_driver);

MODULE_DESCRIPTION("Baton VM test: edu driver without a live update schema");
MODULE_LICENSE("GPL");
