/* SPDX-License-Identifier: MIT */
#ifndef BATON_PCI_H
#define BATON_PCI_H

/**
 * DOC: PCI identity
 *
 * A preserved device is known by its bus address ("DDDD:BB:DD.F", the form
 * sysfs uses) and by its ids (vendor, device, subsystem vendor, subsystem
 * device, 24-bit class code).  A driver's id table matches ids the way the
 * kernel's struct pci_device_id does: each of the four ids either equals the
 * device's or is BATON_ANY_ID, and the class matches under a mask.
 */

#include <stdbool.h>
#include <stdint.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

#define BATON_ANY_ID 0xffffffffu

/* "DDDD:BB:DD.F" and its terminating NUL */
#define BATON_PCI_ADDR_STRLEN 13

struct baton_pci_addr {
	uint16_t domain;
	uint8_t bus;
	uint8_t dev;	/* 0..31 */
	uint8_t fn;	/* 0..7 */
};

struct baton_pci_ids {
	uint32_t vendor;
	uint32_t device;
	uint32_t subvendor;
	uint32_t subdevice;
	uint32_t class_code;	/* base class, subclass, prog-if: 0xBBSSPP */
};

struct baton_pci_match {
	uint32_t vendor;
	uint32_t device;
	uint32_t subvendor;
	uint32_t subdevice;
	uint32_t class_code;
	uint32_t class_mask;
};

/**
 * baton_pci_addr_parse() - parse "DDDD:BB:DD.F"
 * @s:   NUL-terminated string; exactly 4, 2, 2 and 1 hex digits, either case
 * @out: filled on success
 *
 * Return: 0, or -BATON_ERR_BADVALUE when @s is not of that form or the
 * device or function number is out of range.
 */
int baton_pci_addr_parse(const char *s, struct baton_pci_addr *out);

/**
 * baton_pci_addr_format() - the canonical lowercase form of an address
 * @a:   the address
 * @buf: at least BATON_PCI_ADDR_STRLEN bytes
 *
 * Return: @buf.
 */
char *baton_pci_addr_format(const struct baton_pci_addr *a, char *buf);

/**
 * baton_pci_addr_cmp() - order two addresses, for sorting and equality
 * @a: an address
 * @b: another
 *
 * Domain first, then bus, device and function.  Only the low 5 bits of the
 * device number and the low 3 of the function count, as in a real address.
 *
 * Return: < 0, 0 or > 0 as @a sorts before, equal to or after @b.
 */
int baton_pci_addr_cmp(const struct baton_pci_addr *a,
		       const struct baton_pci_addr *b);

/**
 * baton_pci_match() - whether an id-table entry matches a device's ids
 * @m:   the entry: each id or BATON_ANY_ID, a class code and mask
 * @ids: the device's ids
 *
 * Return: true when each of the four ids of @m is BATON_ANY_ID or equal to
 * the device's, and the class codes agree under @m->class_mask.
 */
bool baton_pci_match(const struct baton_pci_match *m,
		     const struct baton_pci_ids *ids);

BATON__END_DECLS

#endif /* BATON_PCI_H */
