// SPDX-License-Identifier: MIT
/*
 * kvcache's memcached text protocol (examples/kvcache/protocol.c): every
 * command and its exact answers, noreply, the same script fed at once and
 * byte by byte, pipelining, the bounds (long lines, long keys, huge data
 * blocks, huge answers), bad data blocks, and a connection saved in the
 * middle of a command and restored elsewhere.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "protocol.h"

#define NOW	1700000000ull
#define REGION	(8u << 20)

struct fixture {
	void *region;
	struct kv_store store;
	struct kv_proto proto;
	struct kv_conn conn;
	uint64_t now;
	char *out;		/* everything answered so far */
	size_t out_len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(posix_memalign(&f->region, 4096, REGION), 0);
	assert_int_equal(kv_store_format(&f->store, KV_STORE_NATIVE, f->region,
					 REGION), 0);
	f->proto.store = &f->store;
	f->proto.version = "9.9.9-test";
	f->proto.started = NOW - 5;
	f->proto.curr_conns = 1;
	f->proto.total_conns = 3;
	f->now = NOW;
	assert_int_equal(kv_conn_restore(&f->conn, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kv_conn_release(&f->conn);
	free(f->region);
	free(f->out);
	free(f);
	return 0;
}

/* Collect what the connection answered, as a server sends it. */
static void drain(struct fixture *f)
{
	const void *data;
	size_t len;

	data = kv_conn_output(&f->conn, &len);
	if (!len)
		return;
	f->out = realloc(f->out, f->out_len + len + 1);
	assert_non_null(f->out);
	memcpy(f->out + f->out_len, data, len);
	f->out_len += len;
	f->out[f->out_len] = '\0';
	kv_conn_sent(&f->conn, len);
}

/* Feed @len bytes in pieces of @step, as reads would deliver them. */
static void feed_in(struct fixture *f, const void *data, size_t len,
		    size_t step)
{
	const uint8_t *p = data;

	while (len) {
		size_t n = len < step ? len : step;

		if (n > kv_conn_room(&f->conn))
			n = kv_conn_room(&f->conn);
		assert_true(n > 0);
		assert_int_equal(kv_conn_input(&f->conn, p, n), 0);
		assert_int_equal(kv_conn_process(&f->proto, &f->conn, f->now),
				 0);
		drain(f);
		/* Answers drained: commands held back may run now. */
		assert_int_equal(kv_conn_process(&f->proto, &f->conn, f->now),
				 0);
		drain(f);
		p += n;
		len -= n;
	}
}

static void feed(struct fixture *f, const char *data)
{
	feed_in(f, data, strlen(data), SIZE_MAX);
}

/* Forget the answers so far. */
static void reset_out(struct fixture *f)
{
	f->out_len = 0;
	if (f->out)
		f->out[0] = '\0';
}

static void expect(struct fixture *f, const char *in, const char *out)
{
	reset_out(f);
	feed(f, in);
	assert_string_equal(f->out ? f->out : "", out);
}

static void test_storage(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 5 0 3\r\nabc\r\n", "STORED\r\n");
	expect(f, "get a\r\n", "VALUE a 5 3\r\nabc\r\nEND\r\n");
	expect(f, "gets a\r\n", "VALUE a 5 3 1\r\nabc\r\nEND\r\n");
	expect(f, "add a 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
	expect(f, "add b 4294967295 0 0\r\n\r\n", "STORED\r\n");
	expect(f, "get b a missing\r\n",
	       "VALUE b 4294967295 0\r\n\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
	expect(f, "get missing\r\n", "END\r\n");
	/* Data blocks may hold anything, "\r\n" and NUL included. */
	reset_out(f);
	feed_in(f, "set bin 0 0 6\r\n\r\n\0\r\nx\r\nget bin\r\n", 32, SIZE_MAX);
	assert_int_equal(f->out_len, 36);
	assert_memory_equal(f->out, "STORED\r\nVALUE bin 0 6\r\n\r\n\0\r\nx\r\n"
			    "END\r\n", 36);
}

static void test_cas(void **state)
{
	struct fixture *f = *state;

	expect(f, "cas a 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n");
	expect(f, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
	expect(f, "gets a\r\n", "VALUE a 0 1 1\r\nx\r\nEND\r\n");
	expect(f, "cas a 0 0 1 2\r\ny\r\n", "EXISTS\r\n");
	expect(f, "cas a 7 0 1 1\r\ny\r\n", "STORED\r\n");
	expect(f, "gets a\r\n", "VALUE a 7 1 2\r\ny\r\nEND\r\n");
	expect(f, "cas a 0 0 1 x\r\ny\r\n",
	       "CLIENT_ERROR bad command line format\r\n");
	expect(f, "cas a 0 0 1\r\n", "ERROR\r\n");
}

static void test_delete(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 0 0 1\r\nx\r\nset b 0 0 1\r\nx\r\n",
	       "STORED\r\nSTORED\r\n");
	expect(f, "delete a\r\n", "DELETED\r\n");
	expect(f, "delete a\r\n", "NOT_FOUND\r\n");
	/* The old form with a hold time of 0 is still accepted. */
	expect(f, "delete b 0\r\n", "DELETED\r\n");
	expect(f, "delete b 5\r\n", "CLIENT_ERROR bad command line format.  "
	       "Usage: delete <key> [noreply]\r\n");
	expect(f, "delete b 0 noreply x\r\n", "CLIENT_ERROR bad command line "
	       "format.  Usage: delete <key> [noreply]\r\n");
	expect(f, "delete\r\n", "ERROR\r\n");
	expect(f, "delete a b c d e f g h i j k noreply\r\n", "CLIENT_ERROR bad "
	       "command line format.  Usage: delete <key> [noreply]\r\n");
}

static void test_incr_decr(void **state)
{
	struct fixture *f = *state;

	expect(f, "incr n 1\r\n", "NOT_FOUND\r\n");
	expect(f, "set n 3 0 2\r\n10\r\n", "STORED\r\n");
	expect(f, "incr n 5\r\n", "15\r\n");
	expect(f, "decr n 3\r\n", "12\r\n");
	expect(f, "decr n 100\r\n", "0\r\n");
	expect(f, "get n\r\n", "VALUE n 3 1\r\n0\r\nEND\r\n");
	expect(f, "set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
	expect(f, "incr n 2\r\n", "1\r\n");
	expect(f, "incr n 18446744073709551615\r\n", "0\r\n");
	expect(f, "incr n 18446744073709551616\r\n",
	       "CLIENT_ERROR invalid numeric delta argument\r\n");
	expect(f, "incr n -1\r\n",
	       "CLIENT_ERROR invalid numeric delta argument\r\n");
	expect(f, "set s 0 0 3\r\nabc\r\n", "STORED\r\n");
	expect(f, "incr s 1\r\n", "CLIENT_ERROR cannot increment or "
	       "decrement non-numeric value\r\n");
	expect(f, "decr s 1\r\n", "CLIENT_ERROR cannot increment or "
	       "decrement non-numeric value\r\n");
	expect(f, "incr n\r\n", "ERROR\r\n");
	expect(f, "incr n 1 2\r\n", "ERROR\r\n");
}

static void test_noreply(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 0 0 1 noreply\r\nx\r\n", "");
	expect(f, "add a 0 0 1 noreply\r\ny\r\n", "");
	expect(f, "cas a 0 0 1 99 noreply\r\ny\r\n", "");
	expect(f, "set n 0 0 1 noreply\r\n1\r\nincr n 4 noreply\r\n"
	       "decr n 1 noreply\r\n", "");
	expect(f, "delete a noreply\r\ndelete a noreply\r\n"
	       "delete n 0 noreply\r\n", "");
	expect(f, "get a n\r\n", "END\r\n");
	/* Errors are never silent. */
	expect(f, "set s 0 0 1 noreply\r\nx\r\nincr s 1 noreply\r\n",
	       "CLIENT_ERROR cannot increment or decrement non-numeric "
	       "value\r\n");
	/* (The "\r\n" after the 3 bytes taken is then an empty command.) */
	expect(f, "set s 0 0 1 noreply\r\nxyz\r\n",
	       "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
	/* Not the last word, or misspelt: not noreply. */
	expect(f, "set a 0 0 1 norepl\r\nx\r\n", "ERROR\r\nERROR\r\n");
}

static void test_other_commands(void **state)
{
	struct fixture *f = *state;

	expect(f, "version\r\n", "VERSION 9.9.9-test\r\n");
	expect(f, "version x\r\n", "ERROR\r\n");
	expect(f, "bogus\r\n", "ERROR\r\n");
	expect(f, "GET a\r\n", "ERROR\r\n");	/* names are case-sensitive */
	expect(f, "\r\n", "ERROR\r\n");
	expect(f, "get\r\n", "ERROR\r\n");
	expect(f, "stats items\r\n", "ERROR\r\n");
	/* More words than any command takes. */
	expect(f, "set a 0 0 1 noreply x y z w v noreply\r\n", "ERROR\r\n");
	expect(f, "incr a 1 noreply x y z w v noreply\r\n", "ERROR\r\n");
	expect(f, "cas a 0 0 1 1 noreply x y z w v noreply\r\n", "ERROR\r\n");
	/* A line may end in a bare "\n", as memcached allows. */
	expect(f, "set a 0 0 1\nx\r\nget a\n", "STORED\r\nVALUE a 0 1\r\nx\r\n"
	       "END\r\n");
	expect(f, "get    a   \r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
}

static void test_stats(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 0 0 1\r\nx\r\nget a b\r\n",
	       "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
	reset_out(f);
	feed(f, "stats\r\n");
	assert_non_null(strstr(f->out, "STAT version 9.9.9-test\r\n"));
	assert_non_null(strstr(f->out, "STAT uptime 5\r\n"));
	assert_non_null(strstr(f->out, "STAT time 1700000000\r\n"));
	assert_non_null(strstr(f->out, "STAT curr_connections 1\r\n"));
	assert_non_null(strstr(f->out, "STAT total_connections 3\r\n"));
	assert_non_null(strstr(f->out, "STAT cmd_get 2\r\n"));
	assert_non_null(strstr(f->out, "STAT get_hits 1\r\n"));
	assert_non_null(strstr(f->out, "STAT get_misses 1\r\n"));
	assert_non_null(strstr(f->out, "STAT cmd_set 1\r\n"));
	assert_non_null(strstr(f->out, "STAT curr_items 1\r\n"));
	assert_non_null(strstr(f->out, "STAT threads 1\r\n"));
	assert_int_equal(strncmp(f->out, "STAT ", 5), 0);
	assert_string_equal(f->out + f->out_len - 5, "END\r\n");
}

static void test_expiry(void **state)
{
	struct fixture *f = *state;

	expect(f, "set r 0 10 1\r\nx\r\nset n 0 -1 1\r\nx\r\n"
	       "set abs 0 1700000100 1\r\nx\r\nset old 0 2592001 1\r\nx\r\n",
	       "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n");
	/* Negative, or a Unix time past: expired at once. */
	expect(f, "get n old\r\n", "END\r\n");
	f->now = NOW + 9;
	expect(f, "get r\r\n", "VALUE r 0 1\r\nx\r\nEND\r\n");
	f->now = NOW + 10;
	expect(f, "get r abs\r\n", "VALUE abs 0 1\r\nx\r\nEND\r\n");
	f->now = NOW + 100;
	expect(f, "get abs\r\n", "END\r\n");
	expect(f, "set x 0 2147483648 1\r\nx\r\n",
	       "CLIENT_ERROR bad command line format\r\n");
}

static void test_bad_lines(void **state)
{
	struct fixture *f = *state;
	char line[400];

	/* A bad line whose byte count is known skips its data block. */
	expect(f, "set a 4294967296 0 1\r\nx\r\nget a\r\n",
	       "CLIENT_ERROR bad command line format\r\nEND\r\n");
	expect(f, "set a 0 x 1\r\nx\r\nversion\r\n",
	       "CLIENT_ERROR bad command line format\r\nVERSION 9.9.9-test\r\n");
	/* When it is not, the data is read as a command. */
	expect(f, "set a 0 0 -1\r\nx\r\n",
	       "CLIENT_ERROR bad command line format\r\nERROR\r\n");
	expect(f, "set a 0 0 2147483648\r\n",
	       "CLIENT_ERROR bad command line format\r\n");

	/* Keys: 250 bytes at most, no control characters. */
	memset(line, 'k', sizeof(line));
	memcpy(line, "set ", 4);
	strcpy(line + 4 + 251, " 0 0 1\r\nx\r\n");
	expect(f, line, "CLIENT_ERROR bad command line format\r\n");
	strcpy(line + 4 + 250, " 0 0 1\r\nx\r\n");
	expect(f, line, "STORED\r\n");
	memcpy(line, "get ", 4);
	strcpy(line + 4 + 250, "\r\n");
	reset_out(f);
	feed(f, line);
	assert_int_equal(strncmp(f->out, "VALUE kkk", 9), 0);
	strcpy(line + 4 + 251, "\r\n");
	expect(f, line, "CLIENT_ERROR bad command line format\r\n");
	expect(f, "set a\tb 0 0 1\r\nx\r\n",
	       "CLIENT_ERROR bad command line format\r\n");
	/* A bad key takes back what a get already answered. */
	expect(f, "set a 0 0 1\r\nx\r\nget a \x01\r\n",
	       "STORED\r\nCLIENT_ERROR bad command line format\r\n");
	expect(f, "delete \x7f\r\n", "CLIENT_ERROR bad command line format\r\n");
	expect(f, "incr \x1b 1\r\n", "CLIENT_ERROR bad command line format\r\n");
}

static void test_bad_data(void **state)
{
	struct fixture *f = *state;

	/* The block is as long as announced, then "\r\n", or nothing is
	 * stored; the stream goes on after the announced length. */
	expect(f, "set a 0 0 3\r\nabcXYget a\r\n",
	       "CLIENT_ERROR bad data chunk\r\nEND\r\n");
	expect(f, "set a 0 0 3\r\nabc\nXget a\r\n",
	       "CLIENT_ERROR bad data chunk\r\nEND\r\n");
	expect(f, "set a 0 0 1\r\nx\r\nset a 0 0 1\r\nxy\r\n",
	       "STORED\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n");
	expect(f, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
}

static void test_huge_value(void **state)
{
	struct fixture *f = *state;
	size_t len = KV_VALUE_MAX + 1;
	char *data = malloc(len + 2);
	char line[64];

	assert_non_null(data);
	memset(data, 'h', len);
	memcpy(data + len, "\r\n", 2);
	expect(f, "set big 0 0 1\r\nx\r\n", "STORED\r\n");

	/* Too large for any item: refused, swallowed as it comes, and the
	 * old value goes, as memcached does. */
	snprintf(line, sizeof(line), "set big 0 0 %zu\r\n", len);
	reset_out(f);
	feed(f, line);
	assert_string_equal(f->out,
			    "SERVER_ERROR object too large for cache\r\n");
	feed_in(f, data, len + 2, 65536);
	assert_true(f->conn.in_len < 65536);
	expect(f, "get big\r\n", "END\r\n");

	/* The largest value (with a 1-byte key) is stored, whole, from many
	 * reads. */
	snprintf(line, sizeof(line), "set b 0 0 %zu\r\n", len - 1);
	reset_out(f);
	feed(f, line);
	data[len - 1] = '\r';
	data[len] = '\n';
	feed_in(f, data, len + 1, 1000);
	assert_string_equal(f->out, "STORED\r\n");
	reset_out(f);
	feed(f, "get b\r\n");
	assert_int_equal(f->out_len, strlen("VALUE b 0 1048319\r\n") +
			 len - 1 + 2 + 5);
	free(data);
}

/* The whole protocol script of the tests above, as one byte stream. */
static const char script[] =
	"set a 5 0 3\r\nabc\r\nget a b\r\ngets a\r\nadd a 0 0 1\r\nx\r\n"
	"cas a 0 0 1 1\r\nz\r\nset n 0 0 2 noreply\r\n10\r\nincr n 5\r\n"
	"decr n 100\r\nincr a 1\r\ndelete a\r\ndelete a\r\n"
	"set d 0 0 4\r\nabcXY\r\nbogus line\r\nversion\r\n"
	"set x 0 0 2\nhi\r\nget a n x\r\n";
static const char answers[] =
	"STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nVALUE a 5 3 1\r\nabc\r\nEND\r\n"
	"NOT_STORED\r\nSTORED\r\n15\r\n0\r\n"
	"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
	"DELETED\r\nNOT_FOUND\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n"
	"ERROR\r\nVERSION 9.9.9-test\r\nSTORED\r\n"
	"VALUE n 0 1\r\n0\r\nVALUE x 0 2\r\nhi\r\nEND\r\n";

static void test_pipelined(void **state)
{
	struct fixture *f = *state;

	expect(f, script, answers);
}

static void test_byte_by_byte(void **state)
{
	struct fixture *f = *state;

	feed_in(f, script, strlen(script), 1);
	assert_string_equal(f->out, answers);
}

static void test_line_too_long(void **state)
{
	struct fixture *f = *state;
	char *line = malloc(KV_LINE_MAX + 1);

	assert_non_null(line);
	memset(line, 'g', KV_LINE_MAX);
	line[KV_LINE_MAX] = '\0';
	expect(f, "version\r\n", "VERSION 9.9.9-test\r\n");
	reset_out(f);
	feed_in(f, line, KV_LINE_MAX - 1, 4096);
	assert_null(f->out ? strstr(f->out, "ERROR") : NULL);
	feed_in(f, line, 1, 1);
	assert_string_equal(f->out, "CLIENT_ERROR line too long\r\n");
	/* Nothing more is read or executed; the server closes it. */
	assert_true(kv_conn_finished(&f->conn));
	assert_int_equal(kv_conn_room(&f->conn), 0);
	assert_int_equal(kv_conn_input(&f->conn, "v", 1), -EINVAL);
	free(line);
}

static void test_quit(void **state)
{
	struct fixture *f = *state;

	assert_false(kv_conn_finished(&f->conn));
	expect(f, "version\r\nquit\r\nversion\r\n", "VERSION 9.9.9-test\r\n");
	assert_true(kv_conn_finished(&f->conn));
	assert_int_equal(f->conn.in_len, 0);
	expect(f, "", "");
}

/* A get answer larger than KV_OUT_HIGH holds the next commands back. */
static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	size_t len = 300 * 1024, n;
	char *data = malloc(len + 2);
	char line[64];

	assert_non_null(data);
	memset(data, 'p', len);
	memcpy(data + len, "\r\n", 2);
	snprintf(line, sizeof(line), "set p 0 0 %zu\r\n", len);
	feed(f, line);
	feed_in(f, data, len + 2, SIZE_MAX);

	assert_int_equal(kv_conn_input(&f->conn, "get p\r\nversion\r\n", 16), 0);
	assert_int_equal(kv_conn_process(&f->proto, &f->conn, f->now), 0);
	kv_conn_output(&f->conn, &n);
	assert_int_equal(n, strlen("VALUE p 0 307200\r\n") + len + 2 + 5);
	assert_int_equal(kv_conn_room(&f->conn), 0);
	assert_int_equal(f->conn.in_len, 9);	/* "version\r\n" waits */
	kv_conn_sent(&f->conn, n);
	assert_int_equal(kv_conn_process(&f->proto, &f->conn, f->now), 0);
	kv_conn_output(&f->conn, &n);
	assert_int_equal(n, strlen("VERSION 9.9.9-test\r\n"));
	assert_true(kv_conn_room(&f->conn) > 0);

	/* One get whose answer would pass KV_OUT_MAX is refused whole. */
	reset_out(f);
	kv_conn_sent(&f->conn, n);
	n = (KV_OUT_MAX / len + 1) * 2;
	memset(data, 0, len);
	memcpy(data, "get", 3);
	for (size_t i = 0; i < n / 2; i++)
		memcpy(data + 3 + 2 * i, " p", 2);
	memcpy(data + 3 + n, "\r\n", 3);
	expect(f, data, "SERVER_ERROR out of memory writing get response\r\n");
	expect(f, "version\r\n", "VERSION 9.9.9-test\r\n");
	free(data);
}

/* A connection preserved mid-command goes on where it was. */
static void test_save_restore(void **state)
{
	struct fixture *f = *state;
	struct kv_conn_state s;
	struct kv_conn moved;
	char *copy;

	/* Half a set in the input, an answer not yet sent. */
	assert_int_equal(kv_conn_input(&f->conn, "version\r\nset k 0 0 5\r\nab",
				       24), 0);
	assert_int_equal(kv_conn_process(&f->proto, &f->conn, f->now), 0);
	kv_conn_save(&f->conn, &s);
	assert_int_equal(s.in_len, 15);
	assert_int_equal(s.out_len, strlen("VERSION 9.9.9-test\r\n"));
	assert_false(s.closing);

	assert_int_equal(kv_conn_restore(&moved, &s), 0);
	kv_conn_release(&f->conn);
	f->conn = moved;
	feed(f, "cde\r\nget k\r\n");
	assert_string_equal(f->out, "VERSION 9.9.9-test\r\nSTORED\r\n"
			    "VALUE k 0 5\r\nabcde\r\nEND\r\n");

	/* A data block being swallowed stays swallowed. */
	reset_out(f);
	copy = malloc(KV_VALUE_MAX + 64);
	assert_non_null(copy);
	snprintf(copy, 64, "set k 0 0 %d\r\n", KV_VALUE_MAX + 1);
	feed(f, copy);
	feed_in(f, "xyz", 3, 3);
	kv_conn_save(&f->conn, &s);
	assert_int_equal(s.swallow, KV_VALUE_MAX + 3 - 3);
	assert_int_equal(kv_conn_restore(&moved, &s), 0);
	kv_conn_release(&f->conn);
	f->conn = moved;
	memset(copy, 'x', KV_VALUE_MAX);
	strcpy(copy + KV_VALUE_MAX, "get k\r\n");
	feed_in(f, copy, strlen(copy), 100000);
	assert_string_equal(f->out, "SERVER_ERROR object too large for cache"
			    "\r\nEND\r\n");
	free(copy);

	/* State beyond the bounds is refused. */
	s.in_len = KV_IN_MAX + 1;
	assert_int_equal(kv_conn_restore(&moved, &s), -EINVAL);
	s.in_len = 0;
	s.out_len = KV_OUT_MAX + 1;
	assert_int_equal(kv_conn_restore(&moved, &s), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_storage),
		T(test_cas),
		T(test_delete),
		T(test_incr_decr),
		T(test_noreply),
		T(test_other_commands),
		T(test_stats),
		T(test_expiry),
		T(test_bad_lines),
		T(test_bad_data),
		T(test_huge_value),
		T(test_pipelined),
		T(test_byte_by_byte),
		T(test_line_too_long),
		T(test_quit),
		T(test_backpressure),
		T(test_save_restore),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
