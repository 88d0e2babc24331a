// SPDX-License-Identifier: MIT
/*
 * baton schema lock BINARY [-o FILE]
 * baton schema check BINARY LOCKFILE
 *
 * The lock file records every schema a released binary declares: name,
 * version, GUID and field layout.  `check` fails (exit 1) when a schema of
 * the same name and version now has another layout or GUID - state written
 * by the released binary would no longer be read the way it was written.
 * The fix is a new version (and a converter), never an edit in place.
 * A pinned GUID is the case a GUID alone cannot catch: the pin stays while
 * the layout moves under it; the recorded layout catches it.
 *
 * baton schema guid NAME VERSION FIELD:TYPE:OFFSET:SIZE...
 *
 * The GUID of a layout written out by hand: for code that cannot use
 * BATON_SCHEMA(), such as a kernel module (docs/kernel.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"baton schema lock BINARY [-o FILE] [--json] | "
	"baton schema check BINARY LOCKFILE [--json] | "
	"baton schema guid NAME VERSION FIELD:TYPE:OFFSET:SIZE... [--json]";

#define LOCK_KEY "baton_schema_lock"
#define LOCK_VERSION 1

struct schema_args {
	const char *output;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct schema_args *args = ctx;

	if (opt == 'o')
		args->output = arg;
}

static int lock(const char *binary, const struct schema_args *args, bool json)
{
	struct baton_contracts *set;
	json_object *root, *schemas;
	const char *text;
	int err;

	err = cli_load_contracts(binary, &set);
	if (err)
		return err;
	root = json_object_new_object();
	schemas = json_object_new_array();
	json_object_object_add(root, LOCK_KEY, json_object_new_int(LOCK_VERSION));
	for (size_t i = 0; i < set->n_schemas; i++)
		json_object_array_add(schemas, cli_json_schema(&set->schemas[i]));
	json_object_object_add(root, "schemas", schemas);
	/* A lock file is read by people in review: pretty, one trailing newline. */
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!args->output) {
		puts(text);
	} else {
		err = cli_write_lines(args->output, text);
		if (!err && json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "output",
					       json_object_new_string(args->output));
			json_object_object_add(o, "schemas",
					       json_object_new_int64(set->n_schemas));
			cli_json_print(o);
		} else if (!err) {
			printf("%s: locked %zu schema%s of %s\n", args->output,
			       set->n_schemas, set->n_schemas == 1 ? "" : "s",
			       binary);
		}
	}
	json_object_put(root);
	baton_contracts_free(set);
	return err;
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool int_field(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* Every lock entry has name, version, GUID and well-formed fields. */
static bool lock_entry_valid(json_object *e)
{
	json_object *fields;
	int64_t n;

	if (!str_field(e, "schema_name") || !str_field(e, "schema") ||
	    !int_field(e, "schema_version", &n) ||
	    !json_object_object_get_ex(e, "fields", &fields) ||
	    !json_object_is_type(fields, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		json_object *f = json_object_array_get_idx(fields, i);

		if (!str_field(f, "name") || !str_field(f, "type") ||
		    !int_field(f, "offset", &n) || !int_field(f, "size", &n))
			return false;
	}
	return true;
}

static json_object *lock_find(json_object *locked, const char *name,
			      uint32_t version)
{
	for (size_t i = 0; i < json_object_array_length(locked); i++) {
		json_object *e = json_object_array_get_idx(locked, i);
		int64_t v;

		int_field(e, "schema_version", &v);
		if (!strcmp(str_field(e, "schema_name"), name) && v == version)
			return e;
	}
	return NULL;
}

static json_object *lock_field(json_object *fields, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		json_object *f = json_object_array_get_idx(fields, i);

		if (!strcmp(str_field(f, "name"), name))
			return f;
	}
	return NULL;
}

static void add_change(json_object *changes, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_change(json_object *changes, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_array_add(changes, json_object_new_string(buf));
}

/* What differs between a schema and its lock entry, as sentences. */
static json_object *diff(const struct baton_schema_desc *s, json_object *e)
{
	json_object *changes = json_object_new_array();
	char guid[BATON_CONTRACT_GUID_STRLEN];
	json_object *fields;
	bool layout_changed = false;

	json_object_object_get_ex(e, "fields", &fields);
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct baton_field_desc *f = &s->fields[i];
		json_object *l = lock_field(fields, f->name);
		int64_t off, size;

		if (!l) {
			add_change(changes, "field %s added", f->name);
			continue;
		}
		int_field(l, "offset", &off);
		int_field(l, "size", &size);
		if (strcmp(str_field(l, "type"), f->type))
			add_change(changes, "field %s: type %s -> %s", f->name,
				   str_field(l, "type"), f->type);
		if (off != f->offset)
			add_change(changes, "field %s: offset %lld -> %u", f->name,
				   (long long)off, f->offset);
		if (size != f->size)
			add_change(changes, "field %s: size %lld -> %u", f->name,
				   (long long)size, f->size);
	}
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		const char *name = str_field(json_object_array_get_idx(fields, i),
					     "name");
		bool found = false;

		for (size_t j = 0; j < s->n_fields && !found; j++)
			found = !strcmp(s->fields[j].name, name);
		if (!found)
			add_change(changes, "field %s removed", name);
	}
	layout_changed = json_object_array_length(changes) > 0;
	baton_guid_format(s->guid, guid);
	if (strcmp(guid, str_field(e, "schema")))
		add_change(changes, "GUID %s -> %s", str_field(e, "schema"), guid);
	else if (layout_changed && s->pinned)
		add_change(changes, "layout changed under pinned GUID %s", guid);
	return changes;
}

static json_object *status_json(const char *name, int64_t version,
				const char *status, json_object *changes)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "schema_name", json_object_new_string(name));
	json_object_object_add(o, "schema_version", json_object_new_int64(version));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "changes", changes ? changes :
			       json_object_new_array());
	return o;
}

static void print_status(json_object *st)
{
	json_object *changes;
	int64_t version;

	int_field(st, "schema_version", &version);
	json_object_object_get_ex(st, "changes", &changes);
	printf("  %-8s %s v%lld\n", str_field(st, "status"),
	       str_field(st, "schema_name"), (long long)version);
	for (size_t i = 0; i < json_object_array_length(changes); i++)
		printf("           %s\n", json_object_get_string(
			       json_object_array_get_idx(changes, i)));
}

static int check(const char *binary, const char *lockfile, bool json)
{
	json_object *root, *locked, *results, *ver;
	struct baton_contracts *set;
	bool ok = true;
	int err;

	root = json_object_from_file(lockfile);
	if (!root)
		return cli_failf(lockfile, "not a JSON lock file: %s",
				 json_util_get_last_err());
	if (!json_object_object_get_ex(root, LOCK_KEY, &ver) ||
	    json_object_get_int(ver) != LOCK_VERSION ||
	    !json_object_object_get_ex(root, "schemas", &locked) ||
	    !json_object_is_type(locked, json_type_array)) {
		json_object_put(root);
		return cli_failf(lockfile, "not a baton schema lock file (" LOCK_KEY ")");
	}
	for (size_t i = 0; i < json_object_array_length(locked); i++) {
		if (!lock_entry_valid(json_object_array_get_idx(locked, i))) {
			json_object_put(root);
			return cli_failf(lockfile, "malformed entry (schemas[%zu])", i);
		}
	}
	err = cli_load_contracts(binary, &set);
	if (err) {
		json_object_put(root);
		return err;
	}

	results = json_object_new_array();
	for (size_t i = 0; i < set->n_schemas; i++) {
		const struct baton_schema_desc *s = &set->schemas[i];
		json_object *e = lock_find(locked, s->name, s->version);
		json_object *changes;

		if (!e) {
			json_object_array_add(results, status_json(s->name,
					      s->version, "new", NULL));
			continue;
		}
		changes = diff(s, e);
		if (json_object_array_length(changes))
			ok = false;
		json_object_array_add(results, status_json(s->name, s->version,
				      json_object_array_length(changes) ?
				      "changed" : "same", changes));
	}
	for (size_t i = 0; i < json_object_array_length(locked); i++) {
		json_object *e = json_object_array_get_idx(locked, i);
		const char *name = str_field(e, "schema_name");
		bool found = false;
		int64_t version;

		int_field(e, "schema_version", &version);
		for (size_t j = 0; j < set->n_schemas && !found; j++)
			found = !strcmp(set->schemas[j].name, name) &&
				set->schemas[j].version == version;
		if (!found)
			json_object_array_add(results, status_json(name, version,
					      "removed", NULL));
	}

	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "schemas", json_object_get(results));
		cli_json_print(o);
	} else {
		printf("schema check: %s against %s\n", binary, lockfile);
		for (size_t i = 0; i < json_object_array_length(results); i++)
			print_status(json_object_array_get_idx(results, i));
		puts(ok ? "ok: no locked schema changed" :
		     "changed: a locked schema has another layout or GUID; "
		     "declare a new version instead");
	}
	json_object_put(results);
	json_object_put(root);
	baton_contracts_free(set);
	return ok ? EXIT_OK : EXIT_VERDICT;
}

/*
 * "u32", "s8", "u8[6]": an element type, and a count that agrees with @size,
 * written exactly as the canonical form writes it (no "u8[06]").
 */
static bool type_fits(const char *type, uint32_t size)
{
	unsigned bits, count = 0;
	char sign, canon[40];

	if (sscanf(type, "%c%u[%u]", &sign, &bits, &count) < 2 ||
	    (sign != 'u' && sign != 's') ||
	    (bits != 8 && bits != 16 && bits != 32 && bits != 64))
		return false;
	if (strchr(type, '['))
		snprintf(canon, sizeof(canon), "%c%u[%u]", sign, bits, count);
	else
		snprintf(canon, sizeof(canon), "%c%u", sign, bits);
	return !strcmp(canon, type) && (strchr(type, '[') ? count : 1) &&
	       (uint64_t)(count ? count : 1) * bits / 8 == size;
}

static int guid(int argc, char **argv, bool json)
{
	struct baton_schema_desc desc = { 0 };
	char text[BATON_CONTRACT_GUID_STRLEN], hex[33];
	unsigned long version;
	uint8_t g[BATON_GUID_SIZE];
	char *end;
	int err = EXIT_OK;

	errno = 0;
	version = strtoul(argv[1], &end, 10);
	if (errno || *end || !*argv[1] || version > UINT32_MAX ||
	    strlen(argv[0]) >= sizeof(desc.name))
		return cli_usage(usage, "schema guid takes a NAME and a decimal VERSION");
	snprintf(desc.name, sizeof(desc.name), "%s", argv[0]);
	desc.version = (uint32_t)version;
	desc.n_fields = (size_t)argc - 2;
	desc.fields = calloc(desc.n_fields, sizeof(*desc.fields));
	if (!desc.fields)
		return cli_failf(argv[0], "out of memory");
	for (size_t i = 0; i < desc.n_fields; i++) {
		struct baton_field_desc *f = &desc.fields[i];
		int used = 0;

		if (sscanf(argv[2 + i], "%63[^:]:%39[^:]:%u:%u%n", f->name, f->type,
			   &f->offset, &f->size, &used) != 4 || argv[2 + i][used] ||
		    !type_fits(f->type, f->size) ||
		    (i && f->offset < desc.fields[i - 1].offset + desc.fields[i - 1].size)) {
			err = cli_usage(usage, "field '%s' is not NAME:TYPE:OFFSET:SIZE "
					"in order, with a type u8..s64 or u8[N] of that size",
					argv[2 + i]);
			goto out;
		}
	}
	if (baton_schema_derive_guid(&desc, g) < 0) {
		err = cli_failf(argv[0], "out of memory");
		goto out;
	}
	baton_guid_format(g, text);
	for (size_t i = 0; i < BATON_GUID_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", g[i]);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "schema", json_object_new_string(text));
		json_object_object_add(o, "hex", json_object_new_string(hex));
		cli_json_print(o);
	} else {
		printf("%s\n%s\n", text, hex);
	}
out:
	free(desc.fields);
	return err;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct schema_args args = { 0 };
	bool json;
	int first;

	first = cli_parse(argc, argv, usage, &json, longopts, "o:", on_opt, &args);
	if (first < 0)
		return EXIT_INVALID;
	if (argc - first == 2 && !strcmp(argv[first], "lock"))
		return lock(argv[first + 1], &args, json);
	if (argc - first == 3 && !strcmp(argv[first], "check") && !args.output)
		return check(argv[first + 1], argv[first + 2], json);
	if (argc - first >= 4 && !strcmp(argv[first], "guid") && !args.output)
		return guid(argc - first - 1, argv + first + 1, json);
	return cli_usage(usage, "schema takes lock, check or guid");
}

const struct cli_cmd cmd_schema = { "schema", run, usage };
