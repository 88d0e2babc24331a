// SPDX-License-Identifier: GPL-2.0
/*
 * edu_next: module B of Baton's VM test, the driver on the kernel *after*
 * the kexec.  Another name than the driver it replaces (edu_lu), and a newer
 * state layout: it writes schema S2, reads S2 natively and reads S1 through
 * a converter.  Baton must bind a preserved edu whose record says S1 to this
 * module, found by its schema alias alone.
 *
 * Its probe does not touch the device: a preserved device keeps running,
 * and restore() takes the state back.
 *
 * It declares its schemas both ways: to Baton (BATON_LU_*, the module
 * aliases and module info Baton's planner reads, for any kernel) and, on a
 * kernel with Baton's patch series (kernel/patches), to the PCI core
 * (DECLARE_PCI_LIVE_UPDATE_SCHEMAS), which then binds a device preserved in
 * S1 or S2 to this driver by itself and to no driver without them; probe()
 * asks the core whether the device was preserved (pci_live_update_schema())
 * and takes it over as it is.  What it restored, and whether the
 * device registers still hold the values the state says the old driver left
 * there, is readable in the device's edu_next_state attribute.
 *
 * The schemas, their GUIDs derived by Baton's canonical layout
 * (docs/schemas.md: version-5 UUID, namespace
 * 6becb1b0-440c-54ec-b528-066cb3124f38, over the text below):
 *
 * S1 = cfaf9865199f52d1a1f2614671dbfd9c, struct edu_state_s1:
 *	baton-schema-v1
 *	name=edu-lu-state
 *	version=2
 *	field=magic:u32:0:4
 *	field=counter:u32:4:4
 *	field=liveness:u32:8:4
 *	field=fact_in:u32:12:4
 *	field=fact_out:u32:16:4
 *
 * S2 = 2fb19ddfcd6b5990a419325e440ba4df, struct edu_state_s2:
 *	baton-schema-v1
 *	name=edu-lu-state
 *	version=3
 *	field=magic:u32:0:4
 *	field=flags:u32:4:4
 *	field=counter:u64:8:8
 *	field=liveness:u32:16:4
 *	field=fact_in:u32:20:4
 *	field=fact_out:u32:24:4
 *	field=restores:u32:28:4
 */
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uuid.h>

#include <baton/kernel/baton_liveupdate.h>

#define EDU_S1 "cfaf9865199f52d1a1f2614671dbfd9c"
#define EDU_S2 "2fb19ddfcd6b5990a419325e440ba4df"

BATON_LU_WRITES(EDU_S2);
BATON_LU_ACCEPTS(EDU_S1);
BATON_LU_PRIORITY(10);

#ifdef DECLARE_PCI_LIVE_UPDATE_SCHEMAS
/* The same two, for the PCI core: S2 (written) first, then S1. */
DECLARE_PCI_LIVE_UPDATE_SCHEMAS(edu_next_schemas,
	GUID_INIT(0x2fb19ddf, 0xcd6b, 0x5990,
		  0xa4, 0x19, 0x32, 0x5e, 0x44, 0x0b, 0xa4, 0xdf),
	GUID_INIT(0xcfaf9865, 0x199f, 0x52d1,
		  0xa1, 0xf2, 0x61, 0x46, 0x71, 0xdb, 0xfd, 0x9c));
#endif

#define EDU_STATE_MAGIC 0xed57a7e0u

#define EDU_REG_ID	 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_FACT	 0x08

/* S1 */
struct edu_state_s1 {
	u32 magic;
	u32 counter;
	u32 liveness;
	u32 fact_in;
	u32 fact_out;
};

#define EDU_FLAG_FROM_S1 0x1	/* converted from S1 */

/* S2 */
struct edu_state_s2 {
	u32 magic;
	u32 flags;
	u64 counter;
	u32 liveness;
	u32 fact_in;
	u32 fact_out;
	u32 restores;
};

static_assert(sizeof(struct edu_state_s1) == 20);
static_assert(sizeof(struct edu_state_s2) == 32);

struct edu_next {
	void __iomem *bar;
	struct edu_state_s2 st;
	bool restored;
	bool converted;
	char from[BATON_LU_GUID_HEX_LEN + 1];
	u32 reg_liveness;		/* what the device held at restore */
	u32 reg_fact;
	bool device_intact;
	/* What the PCI core said at probe (kernel/patches), "" if nothing */
	char probe_schema[UUID_STRING_LEN + 1];
	u32 probe_liveness;		/* what the device held at probe */
	u32 probe_fact;
};

static void s1_to_s2(const struct edu_state_s1 *in, struct edu_state_s2 *out)
{
	memset(out, 0, sizeof(*out));
	out->magic = in->magic;
	out->flags = EDU_FLAG_FROM_S1;
	out->counter = in->counter;
	out->liveness = in->liveness;
	out->fact_in = in->fact_in;
	out->fact_out = in->fact_out;
}

static bool guid_is(const u8 guid[16], const char *hex)
{
	u8 g[16];

	return !hex2bin(g, hex, sizeof(g)) && !memcmp(g, guid, sizeof(g));
}

static ssize_t edu_next_save(struct pci_dev *pdev, void *buf, size_t max)
{
	struct edu_next *e = pci_get_drvdata(pdev);

	if (max < sizeof(e->st))
		return -ENOSPC;
	memcpy(buf, &e->st, sizeof(e->st));
	return sizeof(e->st);
}

static int edu_next_restore(struct pci_dev *pdev, const u8 guid[16],
			    const void *buf, size_t len)
{
	struct edu_next *e = pci_get_drvdata(pdev);
	struct edu_state_s2 st;
	bool converted;

	if (guid_is(guid, EDU_S2)) {
		if (len != sizeof(st))
			return -EINVAL;
		memcpy(&st, buf, sizeof(st));
		converted = false;
	} else if (guid_is(guid, EDU_S1)) {
		struct edu_state_s1 old;

		if (len != sizeof(old))
			return -EINVAL;
		memcpy(&old, buf, sizeof(old));
		s1_to_s2(&old, &st);
		converted = true;
	} else {
		return -EINVAL;
	}
	if (st.magic != EDU_STATE_MAGIC)
		return -EINVAL;
	st.restores++;
	/* The kexec cleared bus mastering on the way out; a driver taking a
	 * running device back turns it on again. */
	pci_set_master(pdev);
	e->st = st;
	e->restored = true;
	e->converted = converted;
	snprintf(e->from, sizeof(e->from), "%*phN", 16, guid);
	/* The device kept running: its registers must still say what the
	 * state says the previous driver left in them. */
	e->reg_liveness = ioread32(e->bar + EDU_REG_LIVENESS);
	e->reg_fact = ioread32(e->bar + EDU_REG_FACT);
	e->device_intact = e->reg_liveness == ~st.liveness &&
			   e->reg_fact == st.fact_out;
	dev_info(&pdev->dev,
		 "restored state from %s%s: counter %llu, registers %s\n",
		 e->from, converted ? " (converted S1 -> S2)" : "",
		 (unsigned long long)st.counter,
		 e->device_intact ? "intact" : "NOT intact");
	return 0;
}

static const char *const edu_next_accepts[] = { EDU_S2, EDU_S1, NULL };

static const struct baton_lu_ops edu_next_ops = {
	.save = edu_next_save,
	.restore = edu_next_restore,
	.accepts = edu_next_accepts,
};

static ssize_t edu_next_state_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct edu_next *e = dev_get_drvdata(dev);

	/* The registers as they are now, as well as at restore(). */
	return sysfs_emit(buf,
			  "{\"restored\":%s,\"from_schema\":\"%s\",\"converted\":%s,"
			  "\"magic_ok\":%s,\"flags\":%u,\"counter\":%llu,"
			  "\"liveness\":%u,\"fact_in\":%u,\"fact_out\":%u,"
			  "\"restores\":%u,\"reg_liveness\":%u,\"reg_fact\":%u,"
			  "\"device_intact\":%s,\"reg_liveness_now\":%u,"
			  "\"reg_fact_now\":%u,\"probe_schema\":\"%s\","
			  "\"probe_reg_liveness\":%u,\"probe_reg_fact\":%u}\n",
			  e->restored ? "true" : "false", e->from,
			  e->converted ? "true" : "false",
			  e->st.magic == EDU_STATE_MAGIC ? "true" : "false",
			  e->st.flags, (unsigned long long)e->st.counter,
			  e->st.liveness, e->st.fact_in, e->st.fact_out,
			  e->st.restores, e->reg_liveness, e->reg_fact,
			  e->device_intact ? "true" : "false",
			  ioread32(e->bar + EDU_REG_LIVENESS),
			  ioread32(e->bar + EDU_REG_FACT), e->probe_schema,
			  e->probe_liveness, e->probe_fact);
}
static DEVICE_ATTR_RO(edu_next_state);

static struct attribute *edu_next_attrs[] = {
	&dev_attr_edu_next_state.attr,
	NULL,
};
ATTRIBUTE_GROUPS(edu_next);

/*
 * On a kernel with the patch series the PCI core says whether the device
 * came through the kexec, and in which schema (one of ours, or the core
 * would not have bound it here): take it over as it is, registers and all.
 */
static void edu_next_take_over(struct pci_dev *pdev, struct edu_next *e)
{
#ifdef DECLARE_PCI_LIVE_UPDATE_SCHEMAS
	const guid_t *schema = pci_live_update_schema(pdev);

	if (!schema)
		return;
	snprintf(e->probe_schema, sizeof(e->probe_schema), "%pUl", schema);
	e->probe_liveness = ioread32(e->bar + EDU_REG_LIVENESS);
	e->probe_fact = ioread32(e->bar + EDU_REG_FACT);
	/* The kexec cleared bus mastering on the way out. */
	pci_set_master(pdev);
	dev_info(&pdev->dev, "preserved in schema %s: taken over as it is\n",
		 e->probe_schema);
#endif
}

static int edu_next_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu_next *e;
	int err;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
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
	/* No device initialisation here: the state comes back through
	 * restore(); a cold device simply keeps an empty state. */
	edu_next_take_over(pdev, e);
	pci_set_drvdata(pdev, e);
	err = baton_lu_add(pdev, &edu_next_ops, EDU_S2);
	if (err)
		goto unmap;
	dev_info(&pdev->dev, "bound, writes S2, reads S2 and S1\n");
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

static void edu_next_remove(struct pci_dev *pdev)
{
	struct edu_next *e = pci_get_drvdata(pdev);

	baton_lu_remove(pdev);
	pci_iounmap(pdev, e->bar);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(e);
}

static const struct pci_device_id edu_next_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, edu_next_ids);

static struct pci_driver edu_next_driver = {
	.name = "edu_next",
	.id_table = edu_next_ids,
	.probe = edu_next_probe,
	.remove = edu_next_remove,
	.dev_groups = edu_next_groups,
#ifdef DECLARE_PCI_LIVE_UPDATE_SCHEMAS
	PCI_LIVE_UPDATE(edu_next_schemas),
#endif
};
module_pci_driver(edu_next_driver);

MODULE_DESCRIPTION("Baton VM test: edu driver that writes S2 and reads S1");
MODULE_LICENSE("GPL");
