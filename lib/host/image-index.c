// SPDX-License-Identifier: MIT
/**
 * DOC: the image's references, looked up in O(log n)
 *
 * An image refers to its nodes by index (a region's fd, a device's fds and
 * regions), and an index is any unique u32, not a position
 * (docs/image-format.md).  A restore resolves every reference once: with a
 * scan each, a program with a region a device (1,024 devices, 3,072 fds,
 * 1,024 regions) paid devices x regions and regions x fds comparisons, and
 * after a kexec devices x fds string comparisons.
 *
 * baton_image_index_build() runs once a restore, after the parse: the
 * fds' and regions' (index, position) pairs sorted by index (only checked
 * when already in order, as a host numbers them when it serializes), the
 * devices' positions sorted by address, and a flag an fd saying it is a
 * region's memfd.  Lookups are binary searches.  The reader already
 * refused a reference to nothing (BADREF); a miss here is still -EBADMSG,
 * never a read out of bounds.  baton_image_index_free() frees it with the
 * restore's other state (baton_incoming_free()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/host-internal.h"

static int slot_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct image_slot *)a)->index;
	uint32_t y = ((const struct image_slot *)b)->index;

	return (x > y) - (x < y);
}

/* By index: checked in one pass, sorted only when they are not. */
static void sort_slots(struct image_slot *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (s[i - 1].index >= s[i].index) {
			qsort(s, n, sizeof(*s), slot_cmp);
			return;
		}
}

static ssize_t find_slot(const struct image_slot *s, size_t n, uint32_t index)
{
	const struct image_slot key = { .index = index };
	const struct image_slot *hit = bsearch(&key, s, n, sizeof(*s), slot_cmp);

	return hit ? (ssize_t)hit->pos : -EBADMSG;
}

ssize_t baton_image_index_fd(const struct image_index *ix, uint32_t index)
{
	return find_slot(ix->fds, ix->img->n_fds, index);
}

ssize_t baton_image_index_region(const struct image_index *ix, uint32_t index)
{
	return find_slot(ix->regions, ix->img->n_regions, index);
}

/* Image device positions *@a and *@b, by address. */
static int device_cmp(const void *a, const void *b, void *img)
{
	const struct baton_image_device *d = ((const struct baton_image *)img)->devices;

	return baton_pci_addr_cmp(&d[*(const uint32_t *)a].addr,
				  &d[*(const uint32_t *)b].addr);
}

ssize_t baton_image_index_session_device(const struct image_index *ix,
					 const char *session)
{
	const struct baton_image *img = ix->img;
	char name[BATON_PCI_ADDR_STRLEN];
	struct baton_pci_addr addr;
	size_t lo = 0, hi = img->n_devices;

	if (baton_pci_addr_parse(session, &addr))
		return -ENOENT;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct baton_image_device *d = &img->devices[ix->devices[mid]];
		int c = baton_pci_addr_cmp(&d->addr, &addr);

		if (!c)
			/* A session is named by the canonical form only. */
			return strcmp(baton_pci_addr_format(&d->addr, name), session) ?
			       -ENOENT : (ssize_t)ix->devices[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int baton_image_index_build(const struct baton_image *img, struct image_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->img = img;
	ix->fds = calloc(img->n_fds ? img->n_fds : 1, sizeof(*ix->fds));
	ix->regions = calloc(img->n_regions ? img->n_regions : 1, sizeof(*ix->regions));
	ix->region_fd = calloc(img->n_fds ? img->n_fds : 1, sizeof(*ix->region_fd));
	ix->devices = calloc(img->n_devices ? img->n_devices : 1, sizeof(*ix->devices));
	if (!ix->fds || !ix->regions || !ix->region_fd || !ix->devices) {
		baton_image_index_free(ix);
		return -ENOMEM;
	}
	for (size_t i = 0; i < img->n_fds; i++)
		ix->fds[i] = (struct image_slot){ img->fds[i].index, (uint32_t)i };
	for (size_t i = 0; i < img->n_regions; i++)
		ix->regions[i] = (struct image_slot){ img->regions[i].index, (uint32_t)i };
	sort_slots(ix->fds, img->n_fds);
	sort_slots(ix->regions, img->n_regions);
	for (size_t i = 0; i < img->n_regions; i++) {
		ssize_t k = baton_image_index_fd(ix, img->regions[i].fd);

		if (k < 0) {
			baton_image_index_free(ix);
			return -EBADMSG;
		}
		ix->region_fd[k] = true;
	}
	for (size_t i = 0; i < img->n_devices; i++)
		ix->devices[i] = (uint32_t)i;
	qsort_r(ix->devices, img->n_devices, sizeof(*ix->devices), device_cmp,
		(void *)img);
	return 0;
}

void baton_image_index_free(struct image_index *ix)
{
	free(ix->fds);
	free(ix->regions);
	free(ix->region_fd);
	free(ix->devices);
	memset(ix, 0, sizeof(*ix));
}
