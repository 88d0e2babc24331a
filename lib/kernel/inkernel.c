// SPDX-License-Identifier: MIT
/**
 * DOC: the PCI core's record of a preserved device (kernel/patches)
 *
 * A kernel with Baton's patch series (kernel/patches, docs/kernel.md "In
 * the kernel itself") keeps, for each PCI device, the schema of the state
 * it preserves across a kexec: /sys/bus/pci/devices/ADDR/
 * live_update_schema, an attribute of the PCI core, not of a driver.  Its
 * presence is how Baton tells such a kernel from one without the series.
 *
 *  - write a GUID (the form %pUl prints, which is baton_guid_format()'s):
 *    the device is preserved, the record crosses the kexec in KHO, and in
 *    the next kernel only a driver that reads that schema may bind it;
 *  - write the null GUID: the record is gone;
 *  - read: the GUID, "none" (no record) or "lost" (the records that came
 *    across the kexec could not be read: no driver binds the device).
 *
 * baton_kernel_save() records each device it saved there, all or none: a
 * record it cannot write, or a failure after them, clears the records it
 * had written, last first.  baton_kernel_bind() leaves a device to the
 * kernel when it holds a record (a GUID or "lost"), and only reads it back
 * to report what the kernel decided; a device with no record ("none": the
 * previous kernel carried none) or one Baton cannot read is blocked with
 * driver_override, as on any kernel.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <baton/kernel.h>
#include <baton/schema.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define RECORD "live_update_schema"

int baton_inkernel_write(const char *root, const char *addr,
			 const uint8_t guid[BATON_GUID_SIZE])
{
	char path[PATH_MAX], text[BATON_CONTRACT_GUID_STRLEN + 1];

	baton_guid_format(guid, text);
	strcat(text, "\n");
	baton_kernel_dev_path(path, sizeof(path), root, addr, RECORD);
	return baton_kernel_write_file(path, text, strlen(text));
}

int baton_kernel_record(const char *sysfs, const char *addr,
			char out[BATON_KERNEL_RECORD_STRLEN],
			struct baton_diag *diag)
{
	char path[PATH_MAX], buf[64];
	uint8_t guid[BATON_GUID_SIZE];
	struct baton_pci_addr pci;
	ssize_t n;

	out[0] = '\0';
	if (baton_pci_addr_parse(addr, &pci) < 0)
		return baton_diag_set(diag, BATON_ERR_BADVALUE, addr,
				      "not a PCI address DDDD:BB:DD.F");
	baton_kernel_dev_path(path, sizeof(path), baton_kernel_root(sysfs), addr,
			      RECORD);
	n = baton_kernel_read_file(path, buf, sizeof(buf) - 1);
	/* No attribute: a kernel without the series, or no such device. */
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return baton_diag_set(diag, (int)-n, path, NULL);
	while (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	/* What crosses from the kernel is checked like any other input. */
	if (strcmp(buf, "none") && strcmp(buf, "lost") &&
	    (n != BATON_CONTRACT_GUID_STRLEN - 1 || baton_guid_parse(buf, guid) < 0))
		return baton_diag_set(diag, BATON_ERR_BADVALUE, path,
				      "not a GUID, \"none\" or \"lost\": \"%.40s\"", buf);
	memcpy(out, buf, (size_t)n + 1);
	return 1;
}

bool baton_inkernel_holds(const char *root, const char *addr)
{
	char record[BATON_KERNEL_RECORD_STRLEN];

	return baton_kernel_record(root, addr, record, NULL) == 1 &&
	       strcmp(record, "none");
}

int baton_inkernel_record(const char *root, const struct baton_image *img,
			  struct baton_diag *diag)
{
	char addr[BATON_PCI_ADDR_STRLEN], path[PATH_MAX];
	size_t done = 0;
	int err = 0;

	for (; done < img->n_devices; done++) {
		baton_pci_addr_format(&img->devices[done].addr, addr);
		err = baton_inkernel_write(root, addr, img->devices[done].schema);
		if (err == -ENOENT)
			err = 0;	/* this kernel keeps no record of it */
		if (err)
			break;
	}
	if (!err)
		return 0;
	baton_kernel_dev_path(path, sizeof(path), root, addr, RECORD);
	baton_diag_set(diag, -err, path, "%s: the kernel did not take the record%s",
		       strerror(-err), err == -EOPNOTSUPP ?
		       " (Kexec HandOver is off: boot with kho=on)" : "");
	baton_inkernel_clear(root, img, done);
	return err;
}

void baton_inkernel_clear(const char *root, const struct baton_image *img,
			  size_t n)
{
	static const uint8_t null_guid[BATON_GUID_SIZE];
	char addr[BATON_PCI_ADDR_STRLEN];

	/* Best effort: the error that made us undo is the one reported. */
	while (n--) {
		baton_pci_addr_format(&img->devices[n].addr, addr);
		baton_inkernel_write(root, addr, null_guid);
	}
}

void baton_kernel_release(const char *sysfs, const struct baton_image *img)
{
	baton_inkernel_clear(baton_kernel_root(sysfs), img, img->n_devices);
}
