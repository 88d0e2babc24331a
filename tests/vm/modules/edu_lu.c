// SPDX-License-Identifier: GPL-2.0
/*
 * edu_lu: module A of Baton's VM test, the driver running *before* the
 * kexec.  It binds QEMU's edu device (1234:11e8), leaves state in the
 * device's registers and in its own per-device struct, and hands that state
 * out through Baton's liveupdate_state attribute in schema S1.
 *
 * For the devices named in the old_schema parameter it writes the older
 * schema S0 instead, which no module on the next kernel reads: Baton must
 * quarantine such a device (leave it unbound, untouched).
 *
 * It declares S1 both ways: to Baton (BATON_LU_WRITES) and, on a kernel
 * with Baton's patch series (kernel/patches), to the PCI core
 * (DECLARE_PCI_LIVE_UPDATE_SCHEMAS).
 *
 * The schemas, their GUIDs derived by Baton's canonical layout
 * (docs/schemas.md: version-5 UUID, namespace
 * 6becb1b0-440c-54ec-b528-066cb3124f38, over the text below):
 *
 * S0 = 0971a83dda7d5960adc9f25822656e03, struct edu_lu_state_v1:
 *	baton-schema-v1
 *	name=edu-lu-state
 *	version=1
 *	field=magic:u32:0:4
 *	field=counter:u32:4:4
 *	field=liveness:u32:8:4
 *
 * S1 = cfaf9865199f52d1a1f2614671dbfd9c, struct edu_lu_state_v2:
 *	baton-schema-v1
 *	name=edu-lu-state
 *	version=2
 *	field=magic:u32:0:4
 *	field=counter:u32:4:4
 *	field=liveness:u32:8:4
 *	field=fact_in:u32:12:4
 *	field=fact_out:u32:16:4
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include <baton/kernel/baton_liveupdate.h>

#define EDU_S0 "0971a83dda7d5960adc9f25822656e03"
#define EDU_S1 "cfaf9865199f52d1a1f2614671dbfd9c"

BATON_LU_WRITES(EDU_S1);

#ifdef DECLARE_PCI_LIVE_UPDATE_SCHEMAS
/* The same, for the PCI core of a kernel with kernel/patches. */
DECLARE_PCI_LIVE_UPDATE_SCHEMAS(edu_lu_schemas,
	GUID_INIT(0xcfaf9865, 0x199f, 0x52d1,
		  0xa1, 0xf2, 0x61, 0x46, 0x71, 0xdb, 0xfd, 0x9c));
#endif

/* The magic says "edu state", not which driver wrote it. */
#define EDU_STATE_MAGIC 0xed57a7e0u

/* edu registers (QEMU docs/specs/edu.rst) */
#define EDU_REG_ID	 0x00
#define EDU_REG_LIVENESS 0x04	/* reads back the inverse of what was written */
#define EDU_REG_FACT	 0x08	/* write n, read n! once computing clears */
#define EDU_REG_STATUS	 0x20
#define EDU_STATUS_COMPUTING 0x01

/* S0 */
struct edu_lu_state_v1 {
	u32 magic;
	u32 counter;
	u32 liveness;
};

/* S1 */
struct edu_lu_state_v2 {
	u32 magic;
	u32 counter;
	u32 liveness;
	u32 fact_in;
	u32 fact_out;
};

static_assert(sizeof(struct edu_lu_state_v1) == 12);
static_assert(sizeof(struct edu_lu_state_v2) == 20);

static char *old_schema[8];
static int n_old_schema;
module_param_array(old_schema, charp, &n_old_schema, 0444);
MODULE_PARM_DESC(old_schema,
		 "PCI addresses for which the driver writes the older schema S0");

struct edu_lu {
	struct pci_dev *pdev;
	void __iomem *bar;
	bool old;			/* writes S0 for this device */
	struct edu_lu_state_v2 st;
};

static bool edu_lu_is_old(struct pci_dev *pdev)
{
	int i;

	for (i = 0; i < n_old_schema; i++)
		if (old_schema[i] && !strcmp(old_schema[i], pci_name(pdev)))
			return true;
	return false;
}

static int edu_wait_fact(void __iomem *bar)
{
	int i;

	for (i = 0; i < 10000; i++) {
		if (!(ioread32(bar + EDU_REG_STATUS) & EDU_STATUS_COMPUTING))
			return 0;
		usleep_range(50, 100);
	}
	return -ETIMEDOUT;
}

/* Leave state in the device: values that only survive if nobody resets or
 * reinitialises it. */
static int edu_lu_setup(struct edu_lu *e)
{
	struct pci_dev *pdev = e->pdev;
	u32 bus = pdev->bus->number;
	int i, err;

	e->st.magic = EDU_STATE_MAGIC;
	/* A few liveness checks; the last value stays in the register. */
	for (i = 0; i < 3; i++) {
		u32 v = 0xba700000u | (bus << 8) | i;

		iowrite32(v, e->bar + EDU_REG_LIVENESS);
		if (ioread32(e->bar + EDU_REG_LIVENESS) != ~v)
			return -EIO;
		e->st.liveness = v;
		e->st.counter++;
	}
	e->st.fact_in = 8 + (bus & 3);
	iowrite32(e->st.fact_in, e->bar + EDU_REG_FACT);
	err = edu_wait_fact(e->bar);
	if (err)
		return err;
	e->st.fact_out = ioread32(e->bar + EDU_REG_FACT);
	return 0;
}

static ssize_t edu_lu_save(struct pci_dev *pdev, void *buf, size_t max)
{
	struct edu_lu *e = pci_get_drvdata(pdev);

	if (e->old) {
		struct edu_lu_state_v1 s = {
			.magic = e->st.magic,
			.counter = e->st.counter,
			.liveness = e->st.liveness,
		};

		if (max < sizeof(s))
			return -ENOSPC;
		memcpy(buf, &s, sizeof(s));
		return sizeof(s);
	}
	if (max < sizeof(e->st))
		return -ENOSPC;
	memcpy(buf, &e->st, sizeof(e->st));
	return sizeof(e->st);
}

static int edu_lu_restore(struct pci_dev *pdev, const u8 guid[16],
			  const void *buf, size_t len)
{
	struct edu_lu *e = pci_get_drvdata(pdev);
	u8 s1[16];
	struct edu_lu_state_v2 s;

	if (hex2bin(s1, EDU_S1, sizeof(s1)) || memcmp(guid, s1, sizeof(s1)))
		return -EINVAL;
	if (len != sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (s.magic != EDU_STATE_MAGIC)
		return -EINVAL;
	e->st = s;
	e->old = false;
	dev_info(&pdev->dev, "restored S1 state, counter %u\n", s.counter);
	return 0;
}

static const char *const edu_lu_accepts[] = { EDU_S1, NULL };

static const struct baton_lu_ops edu_lu_ops = {
	.save = edu_lu_save,
	.restore = edu_lu_restore,
	.accepts = edu_lu_accepts,
};

/* What the driver holds, for the test to compare after the kexec. */
static ssize_t edu_lu_state_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct edu_lu *e = dev_get_drvdata(dev);

	return sysfs_emit(buf,
			  "{\"schema\":\"%s\",\"magic\":%u,\"counter\":%u,"
			  "\"liveness\":%u,\"fact_in\":%u,\"fact_out\":%u}\n",
			  e->old ? EDU_S0 : EDU_S1, e->st.magic, e->st.counter,
			  e->st.liveness, e->st.fact_in, e->st.fact_out);
}
static DEVICE_ATTR_RO(edu_lu_state);

static struct attribute *edu_lu_attrs[] = {
	&dev_attr_edu_lu_state.attr,
	NULL,
};
ATTRIBUTE_GROUPS(edu_lu);

static int edu_lu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu_lu *e;
	int err;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	err = pci_enable_device(pdev);
	if (err)
		goto free;
	err = pci_request_regions(pdev, KBUILD_MODNAME);
	if (err)
		goto disable;
	e->bar = pci_iomap(pdev, 0, 0);
	if (!e->bar) {
		err = -ENOMEM;
		goto release;
	}
	if ((ioread32(e->bar + EDU_REG_ID) & 0xff) != 0xed) {
		err = -ENODEV;
		goto unmap;
	}
	/* A DMA-capable driver masters the bus; the test reads the bit back
	 * after the kexec (the kernel clears it on the way out). */
	pci_set_master(pdev);
	pci_set_drvdata(pdev, e);
	err = edu_lu_setup(e);
	if (err)
		goto unmap;
	e->old = edu_lu_is_old(pdev);
	err = baton_lu_add(pdev, &edu_lu_ops, e->old ? EDU_S0 : EDU_S1);
	if (err)
		goto unmap;
	dev_info(&pdev->dev, "bound, writes %s, liveness %#x, %u! = %u\n",
		 e->old ? "S0" : "S1", e->st.liveness, e->st.fact_in,
		 e->st.fact_out);
	return 0;
unmap:
	pci_iounmap(pdev, e->bar);
release:
	pci_release_regions(pdev);
disable:
	pci_disable_device(pdev);
free:
	kfree(e);
	return err;
}

static void edu_lu_remove(struct pci_dev *pdev)
{
	struct edu_lu *e = pci_get_drvdata(pdev);

	baton_lu_remove(pdev);
	pci_iounmap(pdev, e->bar);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(e);
}

static const struct pci_device_id edu_lu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, edu_lu_ids);

static struct pci_driver edu_lu_driver = {
	.name = "edu_lu",
	.id_table = edu_lu_ids,
	.probe = edu_lu_probe,
	.remove = edu_lu_remove,
	.dev_groups = edu_lu_groups,
#ifdef DECLARE_PCI_LIVE_UPDATE_SCHEMAS
	PCI_LIVE_UPDATE(edu_lu_schemas),
#endif
};
module_pci_driver(edu_lu_driver);

MODULE_DESCRIPTION("Baton VM test: edu driver that writes schema S1");
MODULE_LICENSE("GPL");
