/* SPDX-License-Identifier: MIT */
#ifndef BATON_CLI_H
#define BATON_CLI_H

/*
 * Conventions of every `baton` command:
 *  - exit 0: success or a positive verdict; 1: a negative verdict;
 *    2: invalid input or usage;
 *  - an error is one line on stderr: "baton: <file>: <what> (<where>)";
 *  - --json prints one JSON document on stdout instead of text.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include <baton/baton.h>
#include <baton/json.h>

enum {
	EXIT_OK = 0,
	EXIT_VERDICT = 1,
	EXIT_INVALID = 2,
};

/* A subcommand: @run gets argv with argv[0] == @name. */
struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

extern const struct cli_cmd cmd_inspect;
extern const struct cli_cmd cmd_contracts;
extern const struct cli_cmd cmd_plan;
extern const struct cli_cmd cmd_schema;
extern const struct cli_cmd cmd_image;
extern const struct cli_cmd cmd_kernel;
extern const struct cli_cmd cmd_status;
extern const struct cli_cmd cmd_update;
extern const struct cli_cmd cmd_demo;
extern const struct cli_cmd cmd_kexec;

/*
 * Parse the options common to all commands (--json, --help) and those in
 * @extra ("o:" style getopt string for short options, each also accepted as
 * a long option through @longopts).  Sets *@json.  Returns the index of the
 * first operand, or -1 after printing a usage error.
 */
struct option;
int cli_parse(int argc, char **argv, const char *usage, bool *json,
	      const struct option *longopts, const char *shortopts,
	      void (*on_opt)(int opt, const char *arg, void *ctx), void *ctx);

/* Print "baton: <file>: <what> (<where>)" and return EXIT_INVALID. */
int cli_fail(const char *file, const struct baton_diag *diag);
/* Print "baton: <file>: <message>" and return EXIT_INVALID. */
int cli_failf(const char *file, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print a usage error and return EXIT_INVALID. */
int cli_usage(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Read a whole file; 0 or EXIT_INVALID after printing the error. */
int cli_read_file(const char *path, void **buf, size_t *len);
/* Write a whole file; 0 or EXIT_INVALID after printing the error. */
int cli_write_file(const char *path, const void *buf, size_t len);

/* Write @text and a final newline to @path; 0 or EXIT_INVALID. */
int cli_write_lines(const char *path, const char *text);
/* --orphan quarantine|reset (NULL: none); 0 or EXIT_INVALID after usage. */
int cli_orphan(const char *usage, const char *arg,
	       enum baton_orphan_override *out);
/* Load and validate an image file; 0 or EXIT_INVALID after the error. */
int cli_load_image(const char *path, void **buf, struct baton_image **img);
/* Load a binary's contracts; 0 or EXIT_INVALID after the error. */
int cli_load_contracts(const char *path, struct baton_contracts **set);

/* Print @obj to stdout, pretty, and release it. */
void cli_json_print(json_object *obj);

json_object *cli_json_guid(const uint8_t guid[BATON_GUID_SIZE]);
/* A PCI id as a lowercase hex string ("%0<digits>x"), "any" for ANY. */
json_object *cli_json_id(uint32_t id, int digits);
/* {vendor, device, subvendor, subdevice, class} as hex strings. */
json_object *cli_json_ids(uint32_t vendor, uint32_t device, uint32_t subvendor,
			  uint32_t subdevice, uint32_t class_code);
/* The accepts and ids of a contract, as `baton contracts --json` shows. */
json_object *cli_json_contract(const struct baton_contract *c);
/* A schema with its layout, as `baton contracts --json` and lock files show. */
json_object *cli_json_schema(const struct baton_schema_desc *s);
/* "pktgen-state v1" or the GUID when the name is unknown. */
const char *cli_schema_label(const char *name, uint32_t version,
			     const uint8_t guid[BATON_GUID_SIZE],
			     char *buf, size_t len);

/*
 * Read from @fd into @buf (NUL-terminated) until a newline, waiting at most
 * @timeout_ms for each read.  1: a line (and maybe more) is in @buf, or
 * @len - 1 bytes without one, for the caller to judge; 0: the peer closed
 * first; -1: the wait ran out.
 */
int cli_read_line(int fd, int timeout_ms, char *buf, size_t len);

/*
 * Send @request, one line, to the Unix socket at @path and read one line
 * of JSON back within @timeout_ms (client.c).  0, or EXIT_INVALID after
 * printing what went wrong.
 */
int cli_ask(const char *path, const char *request, int timeout_ms,
	    json_object **answer);
int cli_ask_json(const char *path, json_object *request, int timeout_ms,
		 json_object **answer);
/*
 * JSON from another process (a program's answer, a report, a session's
 * contents), parsed: NULL if it is not JSON.  Every control character in
 * its string values becomes '?', so that what baton prints of
 * it can neither move the operator's terminal nor split one line of error
 * into several.
 */
json_object *cli_parse_untrusted(const char *text);
/* @o's member @key as a string (NULL if absent or not a string), or as is. */
const char *cli_json_str(json_object *o, const char *key);
json_object *cli_json_member(json_object *o, const char *key);

#endif /* BATON_CLI_H */
