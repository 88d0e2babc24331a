// SPDX-License-Identifier: MIT
/**
 * DOC: preserved memory regions
 *
 * A region is a memfd, its size sealed, mapped shared.  Across an update
 * the memfd itself travels (exec keeps it open, socket mode sends it), and
 * the next version maps the same pages again: nothing is ever copied,
 * whatever the size.  The image names each region's label, size and fd.
 *
 * Memory devices share - a DMA pool, a ring two drivers agree on - is a
 * region devices ask for with baton_device_region(), the kernel's FLB
 * (file-lifecycle-bound object) for memory: preserved with its first user,
 * released with its last.  Device records name the regions they use, so a
 * restored device uses them again and a quarantined one keeps them alive.
 *
 * After a kexec a device whose fds the reboot dropped is reset, and its
 * driver probes it again when it reappears: the shared regions it used
 * stay, unused, for that probe (restore.c), and an update that starts
 * before any driver took them back lets them go
 * (baton_region_drop_unused()): a region no record names would come back
 * as the program's own.
 *
 * A region goes one way only, baton_region_drop(): unmapped, its memfd
 * closed, forgotten.  The keeper and a socket-mode old process hold their
 * own copies of the memfd, so dropping a region in a new version that does
 * not take over costs the version that comes back nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/host-internal.h"

struct baton_region *baton_region_find(const struct baton_host *host,
				       const char *label)
{
	for (size_t i = 0; i < host->n_regions; i++)
		if (!strcmp(host->regions[i]->label, label))
			return host->regions[i];
	return NULL;
}

/* A region of @size under @label around @fd (taken over), mapped and listed. */
static int region_add(struct baton_host *host, const char *label, size_t size,
		      int fd, struct baton_region **out)
{
	struct baton_region *r;
	int err;

	if (host->sealed)
		return -EBUSY;
	err = baton_grow((void **)&host->regions, &host->cap_regions,
			 host->n_regions, sizeof(*host->regions));
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->host = host;
	r->size = size;
	r->fd = fd;
	r->token = BATON_TOKEN_HOST | host->region_seq++;
	r->label = strdup(label);
	if (!r->label) {
		err = -ENOMEM;
		goto err_region;
	}
	r->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		err = -errno;
		goto err_label;
	}
	host->regions[host->n_regions++] = r;
	*out = r;
	return 0;

err_label:
	free(r->label);
err_region:
	free(r);
	return err;
}

int baton_host_region(struct baton_host *host, const char *label, size_t size,
		      struct baton_region **out)
{
	struct baton_region *r = baton_region_find(host, label);
	int fd, err;

	if (r) {
		if (r->size != size)
			return -ERANGE;
		*out = r;
		return 0;
	}
	if (!size)
		return -EINVAL;
	/*
	 * The size is sealed: the next version maps exactly what this one
	 * had, and nobody holding the fd can shrink it under a mapping.
	 */
	fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = region_add(host, label, size, fd, out);
	if (err)
		close(fd);
	return err;
}

int baton_region_adopt(struct baton_host *host, const char *label, size_t size,
		       int fd, bool shared, struct baton_region **out)
{
	int err = region_add(host, label, size, fd, out);

	if (!err) {
		(*out)->inherited = true;
		(*out)->shared = shared;
	}
	return err;
}

struct baton_region *baton_host_find_region(const struct baton_host *host,
					    const char *label)
{
	return baton_region_find(host, label);
}

void baton_region_drop(struct baton_region *region)
{
	struct baton_host *host = region->host;

	/* Order is kept: it is the image's, and status lists it. */
	baton_remove_ptr((void **)host->regions, &host->n_regions, region);
	munmap(region->base, region->size);
	close(region->fd);
	free(region->label);
	free(region);
}

void baton_region_drop_unused(struct baton_host *host)
{
	for (size_t i = host->n_regions; i-- > 0;)
		if (host->regions[i]->shared && !host->regions[i]->users)
			baton_region_drop(host->regions[i]);
}

void baton_region_release(struct baton_region *region)
{
	/* A shared region goes with its last user, not before. */
	if (!region->shared)
		baton_region_drop(region);
}

void *baton_region_base(const struct baton_region *region)
{
	return region->base;
}

int baton_region_fd(const struct baton_region *region)
{
	return region->fd;
}

size_t baton_region_size(const struct baton_region *region)
{
	return region->size;
}

unsigned baton_region_users(const struct baton_region *region)
{
	return region->users;
}

bool baton_region_inherited(const struct baton_region *region)
{
	return region->inherited;
}
