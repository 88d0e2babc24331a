// SPDX-License-Identifier: MIT
/*
 * What every `baton` command shares: option parsing, the one-line error
 * format, file I/O, and JSON helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *file, const struct baton_diag *diag)
{
	if (diag->where[0])
		fprintf(stderr, "baton: %s: %s (%s)\n", file, diag->what,
			diag->where);
	else
		fprintf(stderr, "baton: %s: %s\n", file, diag->what);
	return EXIT_INVALID;
}

int cli_failf(const char *file, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "baton: %s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_INVALID;
}

int cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("baton: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", usage);
	return EXIT_INVALID;
}

int cli_parse(int argc, char **argv, const char *usage, bool *json,
	      const struct option *longopts, const char *shortopts,
	      void (*on_opt)(int opt, const char *arg, void *ctx), void *ctx)
{
	struct option all[16];
	char shorts[32];
	size_t n = 0;
	int opt;

	all[n++] = (struct option){ "json", no_argument, NULL, 'J' };
	all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (const struct option *o = longopts; o && o->name && n < 15; o++)
		all[n++] = *o;
	all[n] = (struct option){ 0 };
	snprintf(shorts, sizeof(shorts), "h%s", shortopts ? shortopts : "");

	*json = false;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
		switch (opt) {
		case 'J':
			*json = true;
			break;
		case 'h':
			printf("usage: %s\n", usage);
			exit(EXIT_OK);
		case '?':
			cli_usage(usage, "unknown option or missing argument: %s",
				  argv[optind - 1]);
			return -1;
		default:
			on_opt(opt, optarg, ctx);
		}
	}
	return optind;
}

int cli_read_file(const char *path, void **buf, size_t *len)
{
	struct stat st;
	ssize_t got;
	size_t done = 0;
	uint8_t *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_failf(path, "%s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cli_failf(path, "not a regular file");
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p) {
		close(fd);
		return cli_failf(path, "out of memory");
	}
	while (done < (size_t)st.st_size) {
		got = read(fd, p + done, (size_t)st.st_size - done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(p);
			close(fd);
			return cli_failf(path, "read: %s",
					 got < 0 ? strerror(errno) : "file shrank");
		}
		done += (size_t)got;
	}
	close(fd);
	*buf = p;
	*len = done;
	return 0;
}

int cli_write_file(const char *path, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t put;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cli_failf(path, "%s", strerror(errno));
	while (len) {
		put = write(fd, p, len);
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0) {
			close(fd);
			return cli_failf(path, "write: %s", strerror(errno));
		}
		p += put;
		len -= (size_t)put;
	}
	if (close(fd) < 0)
		return cli_failf(path, "close: %s", strerror(errno));
	return 0;
}

int cli_write_lines(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 2);
	int err;

	if (!buf)
		return cli_failf(path, "out of memory");
	memcpy(buf, text, len);
	buf[len] = '\n';
	err = cli_write_file(path, buf, len + 1);
	free(buf);
	return err;
}

int cli_orphan(const char *usage, const char *arg,
	       enum baton_orphan_override *out)
{
	*out = BATON_OVERRIDE_NONE;
	if (!arg)
		return 0;
	if (!strcmp(arg, "quarantine"))
		*out = BATON_OVERRIDE_QUARANTINE;
	else if (!strcmp(arg, "reset"))
		*out = BATON_OVERRIDE_RESET;
	else
		return cli_usage(usage, "--orphan is quarantine or reset, not '%s'", arg);
	return 0;
}

int cli_load_image(const char *path, void **buf, struct baton_image **img)
{
	struct baton_diag diag = { 0 };
	size_t len;
	int err;

	err = cli_read_file(path, buf, &len);
	if (err)
		return err;
	if (baton_image_parse(*buf, len, img, &diag) < 0) {
		free(*buf);
		return cli_fail(path, &diag);
	}
	return 0;
}

int cli_load_contracts(const char *path, struct baton_contracts **set)
{
	struct baton_diag diag = { 0 };

	if (baton_contracts_read_elf(path, set, &diag) < 0)
		return cli_fail(path, &diag);
	return 0;
}

void cli_json_print(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

json_object *cli_json_guid(const uint8_t guid[BATON_GUID_SIZE])
{
	char buf[BATON_CONTRACT_GUID_STRLEN];

	return json_object_new_string(baton_guid_format(guid, buf));
}

json_object *cli_json_id(uint32_t id, int digits)
{
	char buf[16];

	if (id == BATON_ANY_ID)
		return json_object_new_string("any");
	snprintf(buf, sizeof(buf), "%0*x", digits, id);
	return json_object_new_string(buf);
}

json_object *cli_json_ids(uint32_t vendor, uint32_t device, uint32_t subvendor,
			  uint32_t subdevice, uint32_t class_code)
{
	json_object *ids = json_object_new_object();

	json_object_object_add(ids, "vendor", cli_json_id(vendor, 4));
	json_object_object_add(ids, "device", cli_json_id(device, 4));
	json_object_object_add(ids, "subvendor", cli_json_id(subvendor, 4));
	json_object_object_add(ids, "subdevice", cli_json_id(subdevice, 4));
	json_object_object_add(ids, "class", cli_json_id(class_code, 6));
	return ids;
}

json_object *cli_json_contract(const struct baton_contract *c)
{
	json_object *drv = json_object_new_object();
	json_object *ids = json_object_new_array();
	json_object *accepts = json_object_new_array();

	json_object_object_add(drv, "name", json_object_new_string(c->name));
	json_object_object_add(drv, "priority", json_object_new_int(c->priority));
	for (size_t i = 0; i < c->n_ids; i++) {
		const struct baton_pci_match *m = &c->ids[i];
		json_object *id = cli_json_ids(m->vendor, m->device, m->subvendor,
					       m->subdevice, m->class_code);

		json_object_object_add(id, "class_mask", cli_json_id(m->class_mask, 6));
		json_object_array_add(ids, id);
	}
	for (size_t i = 0; i < c->n_accepts; i++) {
		const struct baton_accept_desc *a = &c->accepts[i];
		json_object *acc = json_object_new_object();
		bool native = a->via == BATON_VIA_NATIVE;

		json_object_object_add(acc, "schema", cli_json_guid(a->schema->guid));
		json_object_object_add(acc, "schema_name",
				       json_object_new_string(a->schema->name));
		json_object_object_add(acc, "schema_version",
				       json_object_new_int64(a->schema->version));
		json_object_object_add(acc, "via", json_object_new_string(
					       native ? "native" : "converter"));
		if (!native)
			json_object_object_add(acc, "to", cli_json_guid(a->target->guid));
		json_object_array_add(accepts, acc);
	}
	json_object_object_add(drv, "ids", ids);
	json_object_object_add(drv, "accepts", accepts);
	return drv;
}

const char *cli_schema_label(const char *name, uint32_t version,
			     const uint8_t guid[BATON_GUID_SIZE],
			     char *buf, size_t len)
{
	char g[BATON_CONTRACT_GUID_STRLEN];

	if (name)
		snprintf(buf, len, "%s v%u", name, version);
	else
		snprintf(buf, len, "%s", baton_guid_format(guid, g));
	return buf;
}

json_object *cli_json_schema(const struct baton_schema_desc *s)
{
	json_object *o = json_object_new_object();
	json_object *fields = json_object_new_array();

	json_object_object_add(o, "schema", cli_json_guid(s->guid));
	json_object_object_add(o, "schema_name", json_object_new_string(s->name));
	json_object_object_add(o, "schema_version", json_object_new_int64(s->version));
	json_object_object_add(o, "pinned", json_object_new_boolean(s->pinned));
	for (size_t i = 0; i < s->n_fields; i++) {
		json_object *f = json_object_new_object();

		json_object_object_add(f, "name", json_object_new_string(s->fields[i].name));
		json_object_object_add(f, "type", json_object_new_string(s->fields[i].type));
		json_object_object_add(f, "offset", json_object_new_int64(s->fields[i].offset));
		json_object_object_add(f, "size", json_object_new_int64(s->fields[i].size));
		json_object_array_add(fields, f);
	}
	json_object_object_add(o, "fields", fields);
	return o;
}
