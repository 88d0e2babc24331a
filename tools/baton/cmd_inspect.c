// SPDX-License-Identifier: MIT
/*
 * baton inspect IMAGE: validate an image and print what it holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char usage[] = "baton inspect IMAGE [--json]";

static json_object *index_array(const uint32_t *v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int64(v[i]));
	return a;
}

static json_object *device_json(const struct baton_image_device *d)
{
	json_object *o = json_object_new_object();
	char addr[BATON_PCI_ADDR_STRLEN];

	json_object_object_add(o, "address", json_object_new_string(
				       baton_pci_addr_format(&d->addr, addr)));
	json_object_object_add(o, "bus", json_object_new_string(d->bus));
	json_object_object_add(o, "ids", cli_json_ids(d->ids.vendor, d->ids.device,
			       d->ids.subvendor, d->ids.subdevice, d->ids.class_code));
	json_object_object_add(o, "schema", cli_json_guid(d->schema));
	json_object_object_add(o, "schema_name", d->schema_name ?
			       json_object_new_string(d->schema_name) : NULL);
	json_object_object_add(o, "schema_version",
			       json_object_new_int64(d->schema_version));
	json_object_object_add(o, "state_size", json_object_new_int64(d->state_size));
	json_object_object_add(o, "orphan", json_object_new_string(
				       baton_orphan_name(d->orphan)));
	json_object_object_add(o, "mandatory", json_object_new_boolean(d->mandatory));
	json_object_object_add(o, "fds", index_array(d->fds, d->n_fds));
	json_object_object_add(o, "regions", index_array(d->regions, d->n_regions));
	return o;
}

static void print_json(const struct baton_image *img)
{
	json_object *root = json_object_new_object();
	json_object *devices = json_object_new_array();
	json_object *fds = json_object_new_array();
	json_object *regions = json_object_new_array();

	json_object_object_add(root, "format_version",
			       json_object_new_int64(img->format_version));
	json_object_object_add(root, "generation",
			       json_object_new_uint64(img->generation));
	json_object_object_add(root, "program", json_object_new_string(img->program));
	for (size_t i = 0; i < img->n_devices; i++)
		json_object_array_add(devices, device_json(&img->devices[i]));
	for (size_t i = 0; i < img->n_fds; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "index", json_object_new_int64(img->fds[i].index));
		json_object_object_add(o, "token", json_object_new_uint64(img->fds[i].token));
		/* Always there: "" is the default session, not a missing one. */
		json_object_object_add(o, "session",
				       json_object_new_string(img->fds[i].session));
		json_object_object_add(o, "kind", json_object_new_string(
					       baton_fd_kind_name(img->fds[i].kind)));
		json_object_array_add(fds, o);
	}
	for (size_t i = 0; i < img->n_regions; i++) {
		const struct baton_image_region *r = &img->regions[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "index", json_object_new_int64(r->index));
		json_object_object_add(o, "fd", json_object_new_int64(r->fd));
		json_object_object_add(o, "size", json_object_new_uint64(r->size));
		json_object_object_add(o, "label", json_object_new_string(r->label));
		json_object_array_add(regions, o);
	}
	json_object_object_add(root, "devices", devices);
	json_object_object_add(root, "fds", fds);
	json_object_object_add(root, "regions", regions);
	cli_json_print(root);
}

/* References as the node names they point at: "fd@a", hex like the tree. */
static void print_refs(const char *node, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("  %s@%x", node, v[i]);
}

static void print_text(const char *path, const struct baton_image *img)
{
	char addr[BATON_PCI_ADDR_STRLEN], label[96];

	printf("%s: baton image format %u, generation %" PRIu64 ", program \"%s\"\n",
	       path, img->format_version, img->generation, img->program);
	printf("fds: %zu\n", img->n_fds);
	for (size_t i = 0; i < img->n_fds; i++) {
		const struct baton_image_fd *fd = &img->fds[i];

		printf("  fd@%x  token %#018" PRIx64 "  %s", fd->index,
		       fd->token, baton_fd_kind_name(fd->kind));
		/* The default session goes unsaid, as in the tree. */
		if (*fd->session)
			printf("  session \"%s\"", fd->session);
		putchar('\n');
	}
	printf("regions: %zu\n", img->n_regions);
	for (size_t i = 0; i < img->n_regions; i++) {
		const struct baton_image_region *r = &img->regions[i];

		printf("  region@%x  fd %u  %" PRIu64 " bytes  \"%s\"\n",
		       r->index, r->fd, r->size, r->label);
	}
	printf("devices: %zu\n", img->n_devices);
	for (size_t i = 0; i < img->n_devices; i++) {
		const struct baton_image_device *d = &img->devices[i];

		printf("  %s  %s %04x:%04x sub %04x:%04x class %06x\n",
		       baton_pci_addr_format(&d->addr, addr), d->bus,
		       d->ids.vendor, d->ids.device, d->ids.subvendor,
		       d->ids.subdevice, d->ids.class_code);
		printf("    schema %s", cli_schema_label(d->schema_name,
		       d->schema_version, d->schema, label, sizeof(label)));
		if (d->schema_name)
			printf(" (%s)", baton_guid_format(d->schema, label));
		printf("\n    state %u bytes  orphan %s%s", d->state_size,
		       baton_orphan_name(d->orphan),
		       d->mandatory ? "  mandatory" : "");
		print_refs("fd", d->fds, d->n_fds);
		print_refs("region", d->regions, d->n_regions);
		putchar('\n');
	}
}

static int run(int argc, char **argv)
{
	struct baton_image *img;
	void *buf;
	bool json;
	int first, err;

	first = cli_parse(argc, argv, usage, &json, NULL, NULL, NULL, NULL);
	if (first < 0)
		return EXIT_INVALID;
	if (argc - first != 1)
		return cli_usage(usage, "inspect takes one IMAGE");
	err = cli_load_image(argv[first], &buf, &img);
	if (err)
		return err;
	if (json)
		print_json(img);
	else
		print_text(argv[first], img);
	baton_image_free(img);
	free(buf);
	return EXIT_OK;
}

const struct cli_cmd cmd_inspect = { "inspect", run, usage };
