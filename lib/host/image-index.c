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
 * The parse already found the fds and regions in order of index, and the
 * devices in order of address (it looks for repeats in that order), and
 * keeps that order with the image: baton_image_find_fd(),
 * baton_image_find_region() and baton_image_find_device() are binary
 * searches in it, and a restore sorts nothing again.  What is left here
 * is the restore's own: baton_image_index_build(), once a restore after
 * the parse, flags each fd that is a region's memfd, and
 * baton_image_index_session_device() tells which device a session names.
 * The reader already refused a reference to nothing (BADREF); a miss here
 * is still an error, never a read out of bounds.  baton_image_index_free()
 * frees it with the restore's other state (baton_incoming_free()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/host-internal.h"

ssize_t baton_image_index_session_device(const struct image_index *ix,
					 const char *session)
{
	char name[BATON_PCI_ADDR_STRLEN];
	struct baton_pci_addr addr;
	ssize_t i;

	if (baton_pci_addr_parse(session, &addr))
		return -ENOENT;
	i = baton_image_find_device(ix->img, &addr);
	/* A session is named by the canonical form only. */
	if (i < 0 || strcmp(baton_pci_addr_format(&ix->img->devices[i].addr, name), session))
		return -ENOENT;
	return i;
}

int baton_image_index_build(const struct baton_image *img, struct image_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->img = img;
	ix->region_fd = calloc(img->n_fds ? img->n_fds : 1, sizeof(*ix->region_fd));
	if (!ix->region_fd)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_regions; i++) {
		ssize_t k = baton_image_find_fd(img, img->regions[i].fd);

		if (k < 0) {
			baton_image_index_free(ix);
			return -EBADMSG;
		}
		ix->region_fd[k] = true;
	}
	return 0;
}

void baton_image_index_free(struct image_index *ix)
{
	free(ix->region_fd);
	memset(ix, 0, sizeof(*ix));
}
