// SPDX-License-Identifier: MIT
/*
 * kvcache's memcached protocols (examples/kvcache/protocol.c): every text
 * and meta command and its exact answers (memcached 1.6.18's), the binary
 * protocol, noreply, the same script fed at once and
 * byte by byte, pipelining, the bounds (long lines, long keys, huge data
 * blocks, huge answers), bad data blocks, and a connection saved in the
 * middle of a command and restored elsewhere.
 */
#include <errno.h>
#include <inttypes.h>
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
/* store.c's KV_EVICT_TRIES: the LRU tail items an eviction looks at */
#define KV_EVICT_TRIES_TEST	5

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
	expect(f, "delete b 0 x\r\n", "CLIENT_ERROR bad command line "
	       "format.  Usage: delete <key> [noreply]\r\n");
	expect(f, "delete b 0 noreply x\r\n", "ERROR\r\n");
	expect(f, "delete\r\n", "ERROR\r\n");
	/* More words than delete ever takes: memcached's ERROR. */
	expect(f, "delete a b c d e f g h i j k noreply\r\n", "ERROR\r\n");
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
	/* Not the last word, or misspelt: not noreply, and the data block
	 * whose length was given is still data, not a command. */
	expect(f, "set a 0 0 1 norepl\r\nx\r\n", "ERROR\r\n");
}

static void test_other_commands(void **state)
{
	struct fixture *f = *state;

	expect(f, "version\r\n", "VERSION 9.9.9-test\r\n");
	/* memcached 1.6 answers whatever follows. */
	expect(f, "version x\r\n", "VERSION 9.9.9-test\r\n");
	expect(f, "bogus\r\n", "ERROR\r\n");
	expect(f, "GET a\r\n", "ERROR\r\n");	/* names are case-sensitive */
	expect(f, "\r\n", "ERROR\r\n");
	expect(f, "get\r\n", "ERROR\r\n");
	expect(f, "stats bogus\r\n", "ERROR\r\n");
	expect(f, "shutdown\r\n", "ERROR: shutdown not enabled\r\n");
	/* More words than any command takes; the data is swallowed. */
	expect(f, "set a 0 0 1 noreply x y z w v noreply\r\nx\r\n",
	       "ERROR\r\n");
	expect(f, "incr a 1 noreply x y z w v noreply\r\n", "ERROR\r\n");
	expect(f, "cas a 0 0 1 1 noreply x y z w v noreply\r\nx\r\n",
	       "ERROR\r\n");
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
	/* A bad key takes back what a get already answered. */
	memset(line, 'k', sizeof(line));
	memcpy(line, "get a ", 6);
	strcpy(line + 6 + 251, "\r\n");
	expect(f, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
	expect(f, line, "CLIENT_ERROR bad command line format\r\n");
	/* Control characters are key bytes, as memcached takes them
	 * (memcaslap's keys begin with 0x10). */
	expect(f, "set a\tb 0 0 1\r\nx\r\nget a\tb\r\n",
	       "STORED\r\nVALUE a\tb 0 1\r\nx\r\nEND\r\n");
	expect(f, "set \x10\x10k 0 0 1\r\ny\r\nget \x10\x10k\r\n",
	       "STORED\r\nVALUE \x10\x10k 0 1\r\ny\r\nEND\r\n");
	expect(f, "delete \x7f\r\n", "NOT_FOUND\r\n");
	expect(f, "incr \x1b 1\r\n", "NOT_FOUND\r\n");
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

/* replace, append, prepend: only on a present item; append and prepend
 * keep its flags and exptime. */
static void test_replace_append_prepend(void **state)
{
	struct fixture *f = *state;

	expect(f, "replace r 0 0 1\r\nx\r\nappend r 0 0 1\r\nx\r\n"
	       "prepend r 0 0 1\r\nx\r\nget r\r\n",
	       "NOT_STORED\r\nNOT_STORED\r\nNOT_STORED\r\nEND\r\n");
	expect(f, "set r 5 0 1\r\nb\r\nappend r 9 0 2\r\ncd\r\n"
	       "prepend r 0 0 1\r\na\r\nreplace r 3 0 2 noreply\r\nxy\r\n"
	       "append r 0 0 1 noreply\r\nz\r\nget r\r\n",
	       "STORED\r\nSTORED\r\nSTORED\r\nVALUE r 3 3\r\nxyz\r\nEND\r\n");
	/* Each of the five stores gave it a new cas. */
	expect(f, "gets r\r\n", "VALUE r 3 3 5\r\nxyz\r\nEND\r\n");
}

/*
 * The data block of a storage command is data, whatever it holds: the
 * issue's "append x 0 0 13\r\ndelete victim\r\n" deleted victim.
 */
static void test_data_never_executed(void **state)
{
	struct fixture *f = *state;

	expect(f, "set victim 0 0 1\r\nv\r\n", "STORED\r\n");
	expect(f, "append x 0 0 13\r\ndelete victim\r\n", "NOT_STORED\r\n");
	expect(f, "prepend x 0 0 13\r\ndelete victim\r\n", "NOT_STORED\r\n");
	expect(f, "replace x 0 0 13\r\ndelete victim\r\n", "NOT_STORED\r\n");
	/* A line wrong but for its length: answered, the block swallowed. */
	expect(f, "set x 0 0 13 a b\r\ndelete victim\r\n", "ERROR\r\n");
	expect(f, "append x y 0 13\r\ndelete victim\r\n",
	       "CLIENT_ERROR bad command line format\r\n");
	expect(f, "ms x 13 Z\r\ndelete victim\r\n",
	       "CLIENT_ERROR invalid flag\r\n");
	expect(f, "get victim\r\n", "VALUE victim 0 1\r\nv\r\nEND\r\n");
}

static void test_touch_gat(void **state)
{
	struct fixture *f = *state;

	expect(f, "touch t 10\r\n", "NOT_FOUND\r\n");
	expect(f, "set t 2 10 1\r\nx\r\ntouch t 100\r\ntouch t 100 noreply\r\n",
	       "STORED\r\nTOUCHED\r\n");
	expect(f, "touch t\r\n", "ERROR\r\n");
	expect(f, "touch t x\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
	f->now = NOW + 50;
	expect(f, "get t\r\n", "VALUE t 2 1\r\nx\r\nEND\r\n");
	expect(f, "gat 10 t missing\r\n", "VALUE t 2 1\r\nx\r\nEND\r\n");
	expect(f, "gats 10 t\r\n", "VALUE t 2 1 1\r\nx\r\nEND\r\n");
	expect(f, "gat\r\n", "ERROR\r\n");
	expect(f, "gat 1\r\n", "END\r\n");
	expect(f, "gat x t\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
	f->now = NOW + 60;
	expect(f, "get t\r\n", "END\r\n");
}

static void test_flush_all(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 0 0 1\r\nx\r\nset b 0 0 1\r\nx\r\nflush_all\r\n"
	       "get a b\r\n", "STORED\r\nSTORED\r\nOK\r\nEND\r\n");
	expect(f, "set a 0 0 1\r\nx\r\nflush_all noreply\r\nget a\r\n",
	       "STORED\r\nEND\r\n");
	/* Delayed: everything stored before the time goes then. */
	expect(f, "set a 0 0 1\r\nx\r\nflush_all 10\r\nset b 0 0 1\r\nx\r\n"
	       "get a\r\n", "STORED\r\nOK\r\nSTORED\r\nVALUE a 0 1\r\nx\r\n"
	       "END\r\n");
	f->now = NOW + 10;
	expect(f, "get a b\r\n", "END\r\n");
	expect(f, "flush_all x\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
	expect(f, "flush_all 1 2 3\r\n", "ERROR\r\n");
	expect(f, "flush_all 0\r\nflush_all -1\r\n", "OK\r\nOK\r\n");
}

/* A server's lock, as a log: "S" shared, "X" exclusive, "-" let go. */
static char lock_log[256];

static void log_lock(struct kv_proto *p, enum kv_lock how)
{
	size_t n = strlen(lock_log);

	(void)p;
	assert_true(n + 1 < sizeof(lock_log));
	lock_log[n] = "-SX"[how];
	lock_log[n + 1] = '\0';
}

/* struct kv_proto's @try_exclusive, logged: "T" taken, "t" not. */
static bool try_ok;

static bool log_try(struct kv_proto *p)
{
	size_t n = strlen(lock_log);

	(void)p;
	assert_true(n + 1 < sizeof(lock_log));
	lock_log[n] = try_ok ? 'T' : 't';
	lock_log[n + 1] = '\0';
	return try_ok;
}

/*
 * A get that must mark its item used takes the store alone if it can at
 * once, and otherwise answers it from the shared hold, unmarked; one that
 * must remove an expired item waits for the store all the same.
 */
static void test_lock_try(void **state)
{
	struct fixture *f = *state;

	f->proto.lock = log_lock;
	f->proto.try_exclusive = log_try;
	expect(f, "set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n",
	       "STORED\r\nSTORED\r\n");
	f->now = NOW + 60;
	lock_log[0] = '\0';
	try_ok = false;
	expect(f, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
	assert_string_equal(lock_log, "S-tS-");
	/* Still unmarked: the next get tries again, and marks it. */
	lock_log[0] = '\0';
	try_ok = true;
	expect(f, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
	assert_string_equal(lock_log, "S-T-");
	lock_log[0] = '\0';
	expect(f, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
	assert_string_equal(lock_log, "S-");
	/* Expired: removed, by a get that waits for the store if it must. */
	expect(f, "set e 0 1 1\r\nz\r\n", "STORED\r\n");
	f->now = NOW + 62;
	lock_log[0] = '\0';
	try_ok = false;
	expect(f, "get e\r\n", "END\r\n");
	assert_string_equal(lock_log, "S-tS-X-");
}

/* The stripes other workers hold (test_lock_stripes()), let go of when
 * one takes the store alone, as they must for it to be taken. */
static struct kv_locks stripes;
static int others[KV_EVICT_TRIES_TEST];
static int n_others;

static void stripe_lock(struct kv_proto *p, enum kv_lock how)
{
	log_lock(p, how);
	if (how == KV_EXCLUSIVE)
		while (n_others)
			kv_store_unlock_stripe(p->store, others[--n_others]);
}

/*
 * With the store's stripes: gets, sets and deletes hold the store shared
 * and their key's stripe; a set whose eviction finds the LRU tail's
 * stripes all held by others takes the store alone and stores then.
 */
static void test_lock_stripes(void **state)
{
	struct fixture *f = *state;
	size_t big = 600 * 1024;	/* one item a page */
	char key[16], *cmd = malloc(big + 64);
	struct kv_stats st;
	int n;

	assert_non_null(cmd);
	kv_locks_init(&stripes);
	f->store.locks = &stripes;
	f->proto.lock = stripe_lock;
	lock_log[0] = '\0';
	expect(f, "set a 0 0 1\r\nx\r\nget a\r\ndelete a\r\nincr a 1\r\n",
	       "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nDELETED\r\nNOT_FOUND\r\n");
	assert_string_equal(lock_log, "S-S-S-X-");
	/* Every page taken: "a"'s class has one, the others an item of the
	 * largest class each. */
	kv_store_stats(&f->store, &st);
	assert_true(st.limit_maxbytes / KV_PAGE_SIZE > KV_EVICT_TRIES_TEST + 1);
	for (uint64_t i = 0; i < st.limit_maxbytes / KV_PAGE_SIZE - 1; i++) {
		n = snprintf(cmd, 64, "set big%" PRIu64 " 0 0 %zu\r\n", i,
			     big);
		memset(cmd + n, 'v', big);
		strcpy(cmd + n + big, "\r\n");
		expect(f, cmd, "STORED\r\n");
	}
	/* The oldest ones' stripes held by others: the set goes alone. */
	for (int i = 0; i < KV_EVICT_TRIES_TEST; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		others[n_others++] = kv_store_lock_key(&f->store, key,
						       strlen(key));
		assert_true(others[n_others - 1] >= 0);
	}
	lock_log[0] = '\0';
	n = snprintf(cmd, 64, "set new 0 0 %zu\r\n", big);
	memset(cmd + n, 'w', big);
	strcpy(cmd + n + big, "\r\n");
	expect(f, cmd, "STORED\r\n");
	assert_string_equal(lock_log, "S-X-");
	assert_int_equal(n_others, 0);
	expect(f, "get big0\r\n", "END\r\n");
	free(cmd);
}

/*
 * With worker threads (struct kv_proto's @lock): a get holds the store
 * shared, and alone once it must write (an item to mark used, a delayed
 * flush_all due), one key at a time; every other command alone; let go
 * after each command.
 */
static void test_lock(void **state)
{
	struct fixture *f = *state;

	f->proto.lock = log_lock;
	lock_log[0] = '\0';
	expect(f, "set a 0 0 1\r\nx\r\nget a\r\nget a\r\n",
	       "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
	       "VALUE a 0 1\r\nx\r\nEND\r\n");
	assert_string_equal(lock_log, "X-S-S-");
	/* "a" is no longer the most recently used: a minute later, marked. */
	lock_log[0] = '\0';
	expect(f, "set b 0 0 1\r\ny\r\n", "STORED\r\n");
	f->now = NOW + 60;
	reset_out(f);
	feed(f, "gets a\r\n");
	assert_true(strncmp(f->out, "VALUE a 0 1 ", 12) == 0);
	assert_string_equal(lock_log, "X-S-X-");
	/* A get of many keys: held one key at a time, each as a get ("b",
	 * unused for a minute, is marked used alone). */
	lock_log[0] = '\0';
	expect(f, "get a nope b\r\n", "VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n");
	assert_string_equal(lock_log, "S-S-S-X-");
	lock_log[0] = '\0';
	expect(f, "gat 0 a b\r\n", "VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n");
	assert_string_equal(lock_log, "X-X-");
	/* A delayed flush_all comes due under a get. */
	lock_log[0] = '\0';
	expect(f, "flush_all 10\r\n", "OK\r\n");
	f->now = NOW + 70;
	expect(f, "get b\r\n", "END\r\n");
	assert_string_equal(lock_log, "X-S-X-");
	/* A storage command holds the store once its data block is all
	 * there, not while it waits for the rest (a client sending the line
	 * and the block apart); one whose line is bad, or whose block is too
	 * large, for no more than the answer needs. */
	lock_log[0] = '\0';
	expect(f, "set c 0 0 2\r\n", "");
	expect(f, "z", "");
	assert_string_equal(lock_log, "");
	expect(f, "z\r\n", "STORED\r\n");
	assert_string_equal(lock_log, "X-");
	expect(f, "ms c 1\r\n", "");
	assert_string_equal(lock_log, "X-");
	expect(f, "y\r\n", "HD\r\n");
	assert_string_equal(lock_log, "X-X-");
	lock_log[0] = '\0';
	expect(f, "set c 0 0 x\r\nms c 1 Fx\r\ny\r\n",
	       "CLIENT_ERROR bad command line format\r\n"
	       "CLIENT_ERROR bad command line format\r\n");
	assert_string_equal(lock_log, "");
	expect(f, "set c 0 0 2000000\r\n", "SERVER_ERROR object too large for cache\r\n");
	assert_string_equal(lock_log, "X-");
	f->proto.lock = NULL;
}

static void test_verbosity(void **state)
{
	struct fixture *f = *state;

	expect(f, "verbosity\r\n", "ERROR\r\n");
	expect(f, "verbosity 1\r\nverbosity 1 2\r\n", "OK\r\nOK\r\n");
	expect(f, "verbosity foo bar my\r\n",
	       "CLIENT_ERROR bad command line format\r\n");
	expect(f, "verbosity noreply\r\nverbosity 0 noreply\r\n", "");
	assert_int_equal(f->proto.verbosity, 0);
}

static void test_stats_groups(void **state)
{
	struct fixture *f = *state;

	expect(f, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
	reset_out(f);
	feed(f, "stats settings\r\n");
	assert_non_null(strstr(f->out, "STAT maxbytes 7368704\r\n"));
	assert_string_equal(f->out + f->out_len - 5, "END\r\n");
	reset_out(f);
	feed(f, "stats items\r\n");
	assert_non_null(strstr(f->out, "STAT items:1:number 1\r\n"));
	reset_out(f);
	feed(f, "stats slabs\r\n");
	assert_non_null(strstr(f->out, "STAT 1:used_chunks 1\r\n"));
	assert_non_null(strstr(f->out, "STAT active_slabs 1\r\n"));
	expect(f, "stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n");
	expect(f, "stats detail\r\n",
	       "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
	expect(f, "stats detail dump\r\nstats detail on\r\n", "END\r\nOK\r\n");
	expect(f, "get a\r\nstats reset\r\n",
	       "VALUE a 0 1\r\nx\r\nEND\r\nRESET\r\n");
	reset_out(f);
	feed(f, "stats\r\n");
	assert_non_null(strstr(f->out, "STAT get_hits 0\r\n"));
	assert_non_null(strstr(f->out, "STAT curr_items 1\r\n"));
}

/* The meta commands, answers as memcached 1.6.18 gives them. */
static void test_meta(void **state)
{
	struct fixture *f = *state;
	const char *line;
	char *hits;

	expect(f, "mn\r\nmg\r\nmg foo\r\nmg foo v q\r\nmn\r\n",
	       "MN\r\nERROR\r\nEN\r\nMN\r\n");
	expect(f, "ms foo 2\r\nhi\r\nmg foo v\r\nmg foo\r\n",
	       "HD\r\nVA 2\r\nhi\r\nHD\r\n");
	expect(f, "mg foo k v c f t s O123 q\r\n",
	       "VA 2 kfoo c1 f0 t-1 s2 O123\r\nhi\r\n");
	expect(f, "mg zz k O5\r\n", "EN kzz O5\r\n");
	expect(f, "mg foo v X\r\nmg foo v v\r\nmd foo k k\r\nma foo x\r\n",
	       "CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n"
	       "CLIENT_ERROR invalid or duplicate flag\r\n"
	       "CLIENT_ERROR invalid or duplicate flag\r\n");
	expect(f, "mg foo O123456789012345678901234567890123\r\n",
	       "CLIENT_ERROR opaque token too long\r\n");
	/* ms: modes, flags, ttl, cas. */
	expect(f, "ms k2 2 T0 F5 c\r\nhi\r\nms k2 2 MA\r\nxx\r\n"
	       "mg k2 v f c\r\n", "HD c2\r\nHD\r\nVA 4 f5 c3\r\nhixx\r\n");
	expect(f, "ms k3 2 ME\r\nxx\r\nms k3 2 ME\r\nyy\r\nms k4 2 MR\r\nab\r\n"
	       "ms k2 2 MP\r\nzz\r\nmg k2 v\r\n",
	       "HD\r\nNS\r\nNS\r\nHD\r\nVA 6\r\nzzhixx\r\n");
	expect(f, "ms k2 2 MX\r\nzz\r\nms k2 2 C1\r\nzz\r\nms k2 2 q\r\nab\r\n"
	       "ms k2 2 q C1\r\nab\r\nmn\r\n",
	       "CLIENT_ERROR invalid mode for ms M token\r\nEX\r\nEX\r\nMN\r\n");
	/* t shows the ttl from before the T of the same command. */
	expect(f, "ms k5 2 T100\r\n12\r\nmg k5 t T200\r\nmg k5 t\r\n",
	       "HD\r\nHD t100\r\nHD t200\r\n");
	expect(f, "ms k2\r\nms k2 abc\r\n",
	       "CLIENT_ERROR bad command line format\r\n"
	       "CLIENT_ERROR bad command line format\r\n");
	/* base64 keys. */
	expect(f, "ms YWJj 2 k O7 b\r\nhi\r\nmg YWJj b k v\r\nmg abc k\r\n"
	       "mg a=== b\r\n", "HD kYWJj b O7\r\nVA 2 kYWJj b\r\nhi\r\n"
	       "HD kabc\r\nCLIENT_ERROR error decoding key\r\n");
	/* md */
	expect(f, "md k3 q\r\nmd k3\r\nmd zz q O1 k\r\nmd k5 C1\r\nmn\r\n",
	       "NF\r\nNF O1 kzz\r\nEX\r\nMN\r\n");
	/* ma */
	expect(f, "ma n\r\nma n N0 J10 D3 v t\r\nma n v\r\nma n MD D20 v\r\n"
	       "ma n M+ q\r\nma n v MX\r\nma foo\r\nmn\r\n",
	       "NF\r\nVA 2 t-1\r\n10\r\nVA 2\r\n11\r\nVA 1\r\n0\r\n"
	       "CLIENT_ERROR invalid mode for ma M token\r\n"
	       "CLIENT_ERROR cannot increment or decrement non-numeric value"
	       "\r\nMN\r\n");
	/* me: a look - the item neither marked used (la) nor fetched, no get
	 * counted; cmd_meta counts each with a key, as memcached 1.6.18 */
	f->now = NOW + 3;
	reset_out(f);
	feed(f, "stats\r\n");
	assert_non_null(strstr(f->out, "STAT cmd_meta 0\r\n"));
	assert_non_null(hits = strstr(f->out, "STAT get_hits "));
	hits = strndup(hits, strcspn(hits, "\r"));
	reset_out(f);
	feed(f, "me n\r\nme n\r\nme missing\r\nme\r\nme n n\r\n");
	assert_int_equal(strncmp(f->out, "ME n exp=-1 la=3 cas=", 21), 0);
	line = strstr(f->out, "\r\n") + 2;
	assert_int_equal(strncmp(line, f->out, (size_t)(line - f->out)), 0);
	assert_non_null(strstr(f->out, " fetch=no cls=1 size="));
	assert_string_equal(strstr(line, "\r\n") + 2,
			    "EN\r\nCLIENT_ERROR bad command line format\r\n"
			    "CLIENT_ERROR bad command line format\r\n");
	reset_out(f);
	feed(f, "stats\r\n");
	assert_non_null(strstr(f->out, "STAT cmd_meta 3\r\n"));
	assert_non_null(strstr(f->out, hits));
	free(hits);
	/* fetched by mg, and not by me */
	expect(f, "mg n\r\n", "HD\r\n");
	reset_out(f);
	feed(f, "me n\r\n");
	assert_non_null(strstr(f->out, " la=0 "));
	assert_non_null(strstr(f->out, " fetch=yes "));
	expect(f, "stats reset\r\n", "RESET\r\n");
	reset_out(f);
	feed(f, "stats\r\n");
	assert_non_null(strstr(f->out, "STAT cmd_meta 0\r\n"));
}

/*
 * The meta flags' item marks, where time passes or slots meet (the answers
 * themselves are compared with memcached's by kvcache_vs_memcached.py).
 */
static void test_meta_marks(void **state)
{
	struct fixture *f = *state;
	struct kv_region *r = f->region;

	/* l: seconds since the item was used before this mg. */
	expect(f, "ms k 1 T100\r\nz\r\n", "HD\r\n");
	f->now = NOW + 5;
	expect(f, "mg k l h\r\nmg k l h\r\n", "HD l5 h0\r\nHD l0 h1\r\n");
	/* R: won once the ttl left (40 s) is below its token. */
	f->now = NOW + 60;
	expect(f, "mg k R30 t\r\nmg k R50 t\r\nmg k R50\r\n",
	       "HD t40\r\nHD t40 W\r\nHD Z\r\n");
	/* N's ttl, and the item it made expires with it. */
	expect(f, "mg n N10 s\r\n", "HD s0 W\r\n");
	f->now = NOW + 71;
	expect(f, "mg n\r\n", "EN\r\n");
	/*
	 * Two items in one slot (cas KV_META_SLOTS apart): a fetched mark
	 * does not take the slot of a stale one, which stays stale; a stale
	 * mark takes any.
	 */
	expect(f, "ms a 1\r\nz\r\nmd a I\r\n", "HD\r\nHD\r\n");
	r->next_cas += KV_META_SLOTS - 1;
	expect(f, "ms b 1\r\nz\r\nmg b\r\nmg b h\r\nmg a h\r\n",
	       "HD\r\nHD\r\nHD h0\r\nHD h0 X W\r\n");
	r->next_cas += KV_META_SLOTS - 1;
	expect(f, "md b I\r\nmg a\r\nmg b\r\n", "HD\r\nHD\r\nHD X W\r\n");
}

/* ---- binary ---- */

/* A binary request: header, extras, key, value. */
static size_t bin_req(uint8_t *buf, uint8_t op, const void *extras,
		      uint8_t extlen, const char *key, const void *value,
		      uint32_t vlen, uint32_t opaque, uint64_t cas)
{
	size_t keylen = key ? strlen(key) : 0;
	uint32_t body = extlen + keylen + vlen;

	memset(buf, 0, 24);
	buf[0] = 0x80;
	buf[1] = op;
	buf[2] = keylen >> 8;
	buf[3] = keylen;
	buf[4] = extlen;
	for (int i = 0; i < 4; i++) {
		buf[8 + i] = body >> (24 - 8 * i);
		buf[12 + i] = opaque >> (24 - 8 * i);
	}
	for (int i = 0; i < 8; i++)
		buf[16 + i] = cas >> (56 - 8 * i);
	if (extlen)
		memcpy(buf + 24, extras, extlen);
	if (keylen)
		memcpy(buf + 24 + extlen, key, keylen);
	if (vlen)
		memcpy(buf + 24 + extlen + keylen, value, vlen);
	return 24 + body;
}

struct bin_res {
	uint8_t magic, op, extlen;
	uint16_t keylen, status;
	uint32_t body, opaque;
	uint64_t cas;
	const uint8_t *extras, *key, *value;
	uint32_t vlen;
};

/* The answer at @off of what was answered; its size. */
static size_t bin_res(struct fixture *f, size_t off, struct bin_res *r)
{
	const uint8_t *p = (const uint8_t *)f->out + off;

	assert_true(off + 24 <= f->out_len);
	r->magic = p[0];
	r->op = p[1];
	r->keylen = p[2] << 8 | p[3];
	r->extlen = p[4];
	r->status = p[6] << 8 | p[7];
	r->body = (uint32_t)p[8] << 24 | p[9] << 16 | p[10] << 8 | p[11];
	r->opaque = (uint32_t)p[12] << 24 | p[13] << 16 | p[14] << 8 | p[15];
	r->cas = 0;
	for (int i = 0; i < 8; i++)
		r->cas = r->cas << 8 | p[16 + i];
	assert_true(off + 24 + r->body <= f->out_len);
	r->extras = p + 24;
	r->key = r->extras + r->extlen;
	r->value = r->key + r->keylen;
	r->vlen = r->body - r->extlen - r->keylen;
	assert_int_equal(r->magic, 0x81);
	return 24 + r->body;
}

static void bin_feed(struct fixture *f, const uint8_t *buf, size_t len)
{
	reset_out(f);
	feed_in(f, buf, len, SIZE_MAX);
}

static void test_binary(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], ext[20] = { 0 };
	struct bin_res r;
	size_t n, off;
	uint64_t cas;

	/* set (flags 0xdeadbeef), get, getk; a missing getq says nothing. */
	ext[0] = 0xde, ext[1] = 0xad, ext[2] = 0xbe, ext[3] = 0xef;
	n = bin_req(buf, 0x01, ext, 8, "k", "value", 5, 7, 0);
	n += bin_req(buf + n, 0x00, NULL, 0, "k", NULL, 0, 8, 0);
	n += bin_req(buf + n, 0x0c, NULL, 0, "k", NULL, 0, 9, 0);
	n += bin_req(buf + n, 0x09, NULL, 0, "missing", NULL, 0, 10, 0);
	n += bin_req(buf + n, 0x0a, NULL, 0, NULL, NULL, 0, 11, 0);
	bin_feed(f, buf, n);
	off = bin_res(f, 0, &r);
	assert_int_equal(r.op, 0x01);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.opaque, 7);
	assert_true(r.cas != 0);
	cas = r.cas;
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x00);
	assert_int_equal(r.extlen, 4);
	assert_memory_equal(r.extras, "\xde\xad\xbe\xef", 4);
	assert_int_equal(r.keylen, 0);
	assert_int_equal(r.vlen, 5);
	assert_memory_equal(r.value, "value", 5);
	assert_int_equal(r.cas, cas);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x0c);
	assert_int_equal(r.keylen, 1);
	assert_memory_equal(r.key, "k", 1);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x0a);
	assert_int_equal(r.opaque, 11);
	assert_int_equal(off, f->out_len);

	/* set with a stale cas: exists; add on a present key: exists;
	 * replace on a missing one: not found; both with memcached's text. */
	n = bin_req(buf, 0x01, ext, 8, "k", "v2", 2, 1, cas + 1);
	n += bin_req(buf + n, 0x02, ext, 8, "k", "v3", 2, 2, 0);
	n += bin_req(buf + n, 0x03, ext, 8, "nope", "v3", 2, 3, 0);
	bin_feed(f, buf, n);
	off = bin_res(f, 0, &r);
	assert_int_equal(r.status, 0x02);
	assert_int_equal(r.cas, 0);
	assert_int_equal(r.vlen, strlen("Data exists for key."));
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x02);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x01);
	assert_memory_equal(r.value, "Not found", 9);

	/* append, prepend; then the text get sees them. */
	n = bin_req(buf, 0x0e, NULL, 0, "k", " world", 6, 1, 0);
	n += bin_req(buf + n, 0x1a, NULL, 0, "k", ">", 1, 2, 0);
	bin_feed(f, buf, n);
	off = bin_res(f, 0, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(off, f->out_len);	/* prependq: silent */
	expect(f, "get k\r\n", "VALUE k 3735928559 12\r\n>value world\r\n"
	       "END\r\n");

	/* incr: missing with exptime all ones is not found, else created
	 * with the initial value; non-numeric refused. */
	memset(ext, 0, sizeof(ext));
	ext[7] = 5;			/* delta */
	ext[15] = 40;			/* initial */
	memset(ext + 16, 0xff, 4);
	n = bin_req(buf, 0x05, ext, 20, "n", NULL, 0, 1, 0);
	memset(ext + 16, 0, 4);
	n += bin_req(buf + n, 0x05, ext, 20, "n", NULL, 0, 2, 0);
	n += bin_req(buf + n, 0x05, ext, 20, "n", NULL, 0, 3, 0);
	n += bin_req(buf + n, 0x06, ext, 20, "k", NULL, 0, 4, 0);
	bin_feed(f, buf, n);
	off = bin_res(f, 0, &r);
	assert_int_equal(r.status, 0x01);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.vlen, 8);
	assert_int_equal(r.value[7], 40);
	off += bin_res(f, off, &r);
	assert_int_equal(r.value[7], 45);
	assert_true(r.cas != 0);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x06);

	/* delete, touch, version, stat (ends with an empty packet), SASL
	 * (unknown, as memcached without it), verbosity, flush. */
	n = bin_req(buf, 0x04, NULL, 0, "n", NULL, 0, 1, 0);
	n += bin_req(buf + n, 0x04, NULL, 0, "n", NULL, 0, 2, 0);
	memset(ext, 0, 4);
	ext[3] = 100;
	n += bin_req(buf + n, 0x1c, ext, 4, "k", NULL, 0, 3, 0);
	n += bin_req(buf + n, 0x0b, NULL, 0, NULL, NULL, 0, 4, 0);
	n += bin_req(buf + n, 0x20, NULL, 0, NULL, NULL, 0, 5, 0);
	n += bin_req(buf + n, 0x1b, ext, 4, NULL, NULL, 0, 6, 0);
	n += bin_req(buf + n, 0x08, NULL, 0, NULL, NULL, 0, 7, 0);
	n += bin_req(buf + n, 0x00, NULL, 0, "k", NULL, 0, 8, 0);
	bin_feed(f, buf, n);
	off = bin_res(f, 0, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.cas, 0);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x01);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x1c);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.extlen, 4);
	assert_int_equal(r.vlen, 0);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x0b);
	assert_memory_equal(r.value, "9.9.9-test", r.vlen);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x81);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x1b);
	assert_int_equal(f->proto.verbosity, 100);
	off += bin_res(f, off, &r);
	assert_int_equal(r.op, 0x08);
	off += bin_res(f, off, &r);
	assert_int_equal(r.status, 0x01);
	assert_int_equal(off, f->out_len);

	n = bin_req(buf, 0x10, NULL, 0, NULL, NULL, 0, 1, 0);
	bin_feed(f, buf, n);
	off = 0;
	do {
		off += bin_res(f, off, &r);
		assert_int_equal(r.status, 0);
	} while (r.keylen);
	assert_int_equal(off, f->out_len);

	/* quit answers, then nothing more is executed. */
	n = bin_req(buf, 0x07, NULL, 0, NULL, NULL, 0, 1, 0);
	n += bin_req(buf + n, 0x0a, NULL, 0, NULL, NULL, 0, 2, 0);
	bin_feed(f, buf, n);
	assert_int_equal(bin_res(f, 0, &r), f->out_len);
	assert_int_equal(r.op, 0x07);
	assert_true(kv_conn_finished(&f->conn));
}

/* Binary requests split anywhere, too large, or framed impossibly. */
static void test_binary_bounds(void **state)
{
	struct fixture *f = *state;
	size_t len = KV_VALUE_MAX + 1, n;
	uint8_t *buf = calloc(1, len + 4096), ext[8] = { 0 }, *value;
	struct bin_res r;

	assert_non_null(buf);
	n = bin_req(buf, 0x01, ext, 8, "split", "abc", 3, 1, 0);
	reset_out(f);
	feed_in(f, buf, n, 1);
	bin_res(f, 0, &r);
	assert_int_equal(r.status, 0);

	/* Too large: answered E2BIG, the value swallowed, not executed. */
	n = bin_req(buf, 0x01, ext, 8, "big", NULL, 0, 2, 0);
	buf[8] = (8 + 3 + len) >> 24;
	buf[9] = (8 + 3 + len) >> 16;
	buf[10] = (8 + 3 + len) >> 8;
	buf[11] = (uint8_t)(8 + 3 + len);
	memset(buf + n, 0x80, len);	/* would look like requests */
	n += len;
	n += bin_req(buf + n, 0x0a, NULL, 0, NULL, NULL, 0, 3, 0);
	reset_out(f);
	feed_in(f, buf, n, 65536);
	n = bin_res(f, 0, &r);
	assert_int_equal(r.status, 0x03);
	bin_res(f, n, &r);
	assert_int_equal(r.op, 0x0a);

	/* The largest value memcached takes with flags (4 bytes less than
	 * without), and a byte more. */
	value = malloc(KV_VALUE_MAX);
	assert_non_null(value);
	memset(value, 'v', KV_VALUE_MAX);
	ext[3] = 7;
	for (uint32_t more = 0; more <= 1; more++) {
		n = bin_req(buf, 0x01, ext, 8, "m", value,
			    KV_VALUE_MAX - 4 + more, 5, 0);
		bin_feed(f, buf, n);
		bin_res(f, 0, &r);
		assert_int_equal(r.status, more ? 0x03 : 0);
	}
	free(value);

	/* A key longer than the body: the connection ends. */
	n = bin_req(buf, 0x00, NULL, 0, "k", NULL, 0, 4, 0);
	buf[11] = 0;
	bin_feed(f, buf, n);
	bin_res(f, 0, &r);
	assert_int_equal(r.status, 0x04);
	assert_true(kv_conn_finished(&f->conn));
	free(buf);
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
		T(test_replace_append_prepend),
		T(test_data_never_executed),
		T(test_touch_gat),
		T(test_flush_all),
		T(test_lock),
		T(test_lock_try),
		T(test_lock_stripes),
		T(test_verbosity),
		T(test_stats_groups),
		T(test_meta),
		T(test_meta_marks),
		T(test_binary),
		T(test_binary_bounds),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
