// SPDX-License-Identifier: MIT
/*
 * jsonget: the guest's JSON parser (static, json-c), for what Baton prints
 * with --json: the guest has busybox and no jq.
 *
 *   jsonget FILE             FILE must hold one JSON value and nothing
 *                            else; printed back on one line
 *   jsonget FILE KEY|N...    the value at that path (a key of an object,
 *                            an index of an array): a string as it is,
 *                            anything else as JSON on one line
 *
 * Exit 0; 1 if FILE is not one JSON value (what json-c said, and where,
 * on stderr), 2 on a usage or read error, 3 if the path leads nowhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (n + 1 < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (!buf) {
			fclose(f);
			return NULL;
		}
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	struct json_tokener *tok;
	json_object *root, *v;
	size_t len, end;
	char *text;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: jsonget FILE [KEY|N]...\n");
		return 2;
	}
	text = slurp(argv[1], &len);
	if (!text) {
		fprintf(stderr, "jsonget: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	tok = json_tokener_new();
	if (!tok) {
		free(text);
		return 2;
	}
	root = json_tokener_parse_ex(tok, text, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	/* NULL with success is the value null. */
	if (json_tokener_get_error(tok) != json_tokener_success) {
		fprintf(stderr, "jsonget: %s: not JSON: %s at byte %zu\n", argv[1],
			json_tokener_error_desc(json_tokener_get_error(tok)), end);
		goto out;
	}
	/* One value, then whitespace only (the parse ends past the NUL). */
	for (size_t i = end > len ? len : end; i < len; i++)
		if (!strchr(" \t\r\n", text[i])) {
			fprintf(stderr, "jsonget: %s: more than one JSON value: byte %zu\n",
				argv[1], i);
			goto out;
		}
	v = root;
	for (int i = 2; i < argc; i++) {
		char *e;
		long idx = strtol(argv[i], &e, 10);

		if (json_object_is_type(v, json_type_array) && !*e && idx >= 0)
			v = json_object_array_get_idx(v, (size_t)idx);
		else if (!json_object_object_get_ex(v, argv[i], &v))
			v = NULL;
		if (!v) {
			fprintf(stderr, "jsonget: %s: no %s\n", argv[1], argv[i]);
			rc = 3;
			goto out;
		}
	}
	puts(json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	rc = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	free(text);
	return rc;
}
