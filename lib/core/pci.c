// SPDX-License-Identifier: MIT
/*
 * PCI addresses and id matching: see include/baton/pci.h.
 */

#include <baton/pci.h>

#include "internal.h"

/* Parse exactly @digits hex digits at @s; -1 if any is not hex. */
static long hex_field(const char *s, int digits)
{
	long v = 0;

	for (int i = 0; i < digits; i++) {
		int d = baton_hex_digit(s[i]);

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

int baton_pci_addr_parse(const char *s, struct baton_pci_addr *out)
{
	long domain, bus, dev, fn;

	/* Check the length first, so no field read can run past the NUL. */
	if (strnlen(s, BATON_PCI_ADDR_STRLEN) != BATON_PCI_ADDR_STRLEN - 1)
		return -BATON_ERR_BADVALUE;
	if (s[4] != ':' || s[7] != ':' || s[10] != '.')
		return -BATON_ERR_BADVALUE;
	domain = hex_field(s, 4);
	bus = hex_field(s + 5, 2);
	dev = hex_field(s + 8, 2);
	fn = hex_field(s + 11, 1);
	if (domain < 0 || bus < 0 || dev < 0 || dev > 31 || fn < 0 || fn > 7)
		return -BATON_ERR_BADVALUE;
	out->domain = (uint16_t)domain;
	out->bus = (uint8_t)bus;
	out->dev = (uint8_t)dev;
	out->fn = (uint8_t)fn;
	return 0;
}

/* @digits lowercase hex digits of @v at @p. */
static void put_hex(char *p, unsigned int v, int digits)
{
	while (digits--) {
		p[digits] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	}
}

/*
 * By hand, not with snprintf(): a restore formats a device's address for
 * each fd its driver takes from the device's session, a thousand devices
 * in the blackout.
 */
char *baton_pci_addr_format(const struct baton_pci_addr *a, char *buf)
{
	put_hex(buf, a->domain, 4);
	buf[4] = ':';
	put_hex(buf + 5, a->bus, 2);
	buf[7] = ':';
	put_hex(buf + 8, a->dev & 0x1f, 2);
	buf[10] = '.';
	put_hex(buf + 11, a->fn & 7, 1);
	buf[12] = '\0';
	return buf;
}

static uint32_t addr_key(const struct baton_pci_addr *a)
{
	return (uint32_t)a->domain << 16 | (uint32_t)a->bus << 8 |
	       (uint32_t)(a->dev & 0x1f) << 3 | (a->fn & 7);
}

int baton_pci_addr_cmp(const struct baton_pci_addr *a,
		       const struct baton_pci_addr *b)
{
	uint32_t ka = addr_key(a), kb = addr_key(b);

	return ka < kb ? -1 : ka > kb;
}

static bool id_match(uint32_t want, uint32_t have)
{
	return want == BATON_ANY_ID || want == have;
}

bool baton_pci_match(const struct baton_pci_match *m,
		     const struct baton_pci_ids *ids)
{
	return id_match(m->vendor, ids->vendor) &&
	       id_match(m->device, ids->device) &&
	       id_match(m->subvendor, ids->subvendor) &&
	       id_match(m->subdevice, ids->subdevice) &&
	       ((m->class_code ^ ids->class_code) & m->class_mask) == 0;
}
