// SPDX-License-Identifier: MIT
/**
 * DOC: image writer
 *
 * baton_image_write() lays a struct baton_image out as a tree with libfdt's
 * sequential-write API, puts the header in front of it with
 * baton_image_pack(), and parses the result back with baton_image_parse().
 * The reader is the only validator: an image that breaks one of its rules
 * (a dangling reference, a repeated index or address, a token repeated
 * within one session, a bus other than "pci") is refused with
 * -EINVAL rather than handed to the next version, and whatever
 * the writer returns, the reader accepts.
 *
 * The writer itself refuses only what it could not even write down: a
 * missing program, an fd kind or orphan policy out of range, a PCI address
 * whose device or function does not fit "DDDD:BB:DD.F", state bytes with
 * no pointer.
 *
 * Properties with a default are written only when they differ from it
 * (an fd's session, schema-name, schema-version, state and state-crc, fds,
 * regions, mandatory), except orphan, which is always written so that a
 * dump of the tree shows every device's policy.  The three containers are
 * always written, even empty.  A NULL bus is written as "pci", a NULL label
 * as "", and a NULL session, like "", not at all: the default session is
 * the absent property, so images without sessions read the same in
 * readers that predate them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <libfdt.h>

#include <baton/image.h>

#include "internal.h"

/* "device@ffffffff" and its NUL */
#define NODE_NAME_MAX 16

/* What the tree cannot express; the rest is left to the reader. */
static int check_writable(const struct baton_image *img)
{
	if (!img->program)
		return -EINVAL;
	for (size_t i = 0; i < img->n_fds; i++)
		if (!baton_fd_kind_name(img->fds[i].kind))
			return -EINVAL;
	for (size_t i = 0; i < img->n_devices; i++) {
		const struct baton_image_device *d = &img->devices[i];

		if (!baton_orphan_name(d->orphan) || d->addr.dev > 31 ||
		    d->addr.fn > 7 || (!d->state && d->state_size))
			return -EINVAL;
	}
	return 0;
}

/*
 * A little more than the tree will take, so that one pass usually does;
 * the fixed parts are per-node tags, names and property headers.
 */
static size_t estimate(const struct baton_image *img)
{
	size_t size = 1024 + strlen(img->program) +
		      (img->exec_path ? strlen(img->exec_path) : 0);

	for (size_t i = 0; i < img->n_fds; i++)
		size += 64 + (img->fds[i].session ?
			      16 + strlen(img->fds[i].session) : 0);
	for (size_t i = 0; i < img->n_regions; i++)
		size += 96 + (img->regions[i].label ?
			      strlen(img->regions[i].label) : 0);
	for (size_t i = 0; i < img->n_devices; i++) {
		const struct baton_image_device *d = &img->devices[i];

		size += 384 + d->state_size +
			sizeof(uint32_t) * (d->n_fds + d->n_regions) +
			(d->schema_name ? strlen(d->schema_name) : 0);
	}
	return size;
}

/* A property of big-endian cells; @n is small enough, estimate() saw it. */
static int put_cells(void *fdt, const char *name, const uint32_t *v,
		     size_t n)
{
	void *p;
	int err;

	err = fdt_property_placeholder(fdt, name, n * sizeof(uint32_t), &p);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		baton_put_be32((uint8_t *)p + i * sizeof(uint32_t), v[i]);
	return 0;
}

static int put_flag(void *fdt, const char *name)
{
	void *p;

	return fdt_property_placeholder(fdt, name, 0, &p);
}

static int write_fd(void *fdt, const struct baton_image_fd *fd)
{
	char name[NODE_NAME_MAX];
	int err;

	snprintf(name, sizeof(name), "fd@%x", fd->index);
	err = fdt_begin_node(fdt, name) ?:
	      fdt_property_u64(fdt, "token", fd->token) ?:
	      fdt_property_string(fdt, "kind", baton_fd_kind_name(fd->kind));
	if (!err && fd->session && *fd->session)
		err = fdt_property_string(fdt, "session", fd->session);
	return err ?: fdt_end_node(fdt);
}

static int write_region(void *fdt, const struct baton_image_region *rg)
{
	char name[NODE_NAME_MAX];

	snprintf(name, sizeof(name), "region@%x", rg->index);
	return fdt_begin_node(fdt, name) ?:
	       fdt_property_u32(fdt, "fd", rg->fd) ?:
	       fdt_property_u64(fdt, "size", rg->size) ?:
	       fdt_property_string(fdt, "label", rg->label ? rg->label : "") ?:
	       fdt_end_node(fdt);
}

static int write_device(void *fdt, const struct baton_image_device *d)
{
	const uint32_t ids[] = {
		d->ids.vendor, d->ids.device, d->ids.subvendor,
		d->ids.subdevice, d->ids.class_code,
	};
	char name[NODE_NAME_MAX], addr[BATON_PCI_ADDR_STRLEN];
	int err;

	snprintf(name, sizeof(name), "device@%x", d->index);
	err = fdt_begin_node(fdt, name) ?:
	      fdt_property_string(fdt, "bus", d->bus ? d->bus : "pci") ?:
	      fdt_property_string(fdt, "address",
				  baton_pci_addr_format(&d->addr, addr)) ?:
	      put_cells(fdt, "ids", ids, BATON_ARRAY_SIZE(ids)) ?:
	      fdt_property(fdt, "schema", d->schema, BATON_GUID_SIZE);
	if (!err && d->schema_name)
		err = fdt_property_string(fdt, "schema-name", d->schema_name);
	if (!err && d->schema_version)
		err = fdt_property_u32(fdt, "schema-version",
				       d->schema_version);
	if (!err && d->state)
		err = fdt_property(fdt, "state", d->state, d->state_size) ?:
		      fdt_property_u32(fdt, "state-crc",
				       baton_crc32c(d->state, d->state_size));
	if (!err && d->n_fds)
		err = put_cells(fdt, "fds", d->fds, d->n_fds);
	if (!err && d->n_regions)
		err = put_cells(fdt, "regions", d->regions, d->n_regions);
	if (!err)
		err = fdt_property_string(fdt, "orphan",
					  baton_orphan_name(d->orphan));
	if (!err && d->mandatory)
		err = put_flag(fdt, "mandatory");
	return err ?: fdt_end_node(fdt);
}

/* Return: 0 or a libfdt error, -FDT_ERR_NOSPACE when @size is too small. */
static int build_tree(const struct baton_image *img, void *fdt, int size)
{
	int err;

	err = fdt_create(fdt, size) ?:
	      fdt_finish_reservemap(fdt) ?:
	      fdt_begin_node(fdt, "") ?:
	      fdt_property_string(fdt, "compatible", BATON_IMAGE_COMPATIBLE) ?:
	      fdt_property_string(fdt, "program", img->program);
	if (!err && img->exec_path)
		err = fdt_property_string(fdt, "exec-path", img->exec_path);
	err = err ?: fdt_begin_node(fdt, "fds");
	for (size_t i = 0; !err && i < img->n_fds; i++)
		err = write_fd(fdt, &img->fds[i]);
	err = err ?: fdt_end_node(fdt) ?: fdt_begin_node(fdt, "regions");
	for (size_t i = 0; !err && i < img->n_regions; i++)
		err = write_region(fdt, &img->regions[i]);
	err = err ?: fdt_end_node(fdt) ?: fdt_begin_node(fdt, "devices");
	for (size_t i = 0; !err && i < img->n_devices; i++)
		err = write_device(fdt, &img->devices[i]);
	return err ?: fdt_end_node(fdt) ?: fdt_end_node(fdt) ?:
	       fdt_finish(fdt);
}

/* The tree alone, in a malloc'd buffer: a first guess, doubled as needed. */
static int layout(const struct baton_image *img, void **tree)
{
	size_t size;
	void *fdt;
	int err;

	for (size = estimate(img);; size *= 2) {
		if (size > INT_MAX)
			return -EFBIG;
		fdt = malloc(size);
		if (!fdt)
			return -ENOMEM;
		err = build_tree(img, fdt, size);
		if (!err) {
			*tree = fdt;
			return 0;
		}
		free(fdt);
		/* Any other error: @img cannot be laid out as a tree. */
		if (err != -FDT_ERR_NOSPACE)
			return -EINVAL;
	}
}

/**
 * baton_image_write() - serialize an image
 * @img: the image; format_version is ignored, the writer writes version 1
 * @out: set to a malloc'd buffer with header and tree, free with free()
 * @len: set to its length
 *
 * Return: 0; -EINVAL when @img would not parse back equal; -EFBIG when
 * the tree would exceed libfdt's 2 GiB; -ENOMEM.
 */
int baton_image_write(const struct baton_image *img, void **out, size_t *len)
{
	struct baton_image *check;
	void *tree, *buf;
	size_t buf_len;
	int err;

	err = check_writable(img);
	if (err)
		return err;
	err = layout(img, &tree);
	if (err)
		return err;
	err = baton_image_pack(tree, fdt_totalsize(tree), img->generation,
			       &buf, &buf_len);
	free(tree);
	if (err)
		return err == -ENOMEM ? err : -EINVAL;

	err = baton_image_parse(buf, buf_len, &check, NULL);
	if (err) {
		free(buf);
		return err == -ENOMEM ? err : -EINVAL;
	}
	baton_image_free(check);

	*out = buf;
	*len = buf_len;
	return 0;
}
