// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for kvcache's protocol parser (examples/kvcache/
 * protocol.c): any byte stream a client sends, read in any pieces, must
 * be answered or refused within the bounds protocol.h promises, with the
 * store behind it (a fresh v2 region per input) never damaged by a client:
 *
 *  - the input held never exceeds KV_IN_MAX, the unsent answer KV_OUT_MAX;
 *  - kv_conn_input() takes what kv_conn_room() offers, no more;
 *  - a connection saved and restored (kv_conn_save(), kv_conn_restore(),
 *    what an update does with it) goes on;
 *  - a connection that is closing takes nothing more and finishes once its
 *    answers are read;
 *  - after the input, kv_store_check() passes: whatever the commands, the
 *    region is whole.
 *
 * Input: byte 0 sets how the stream is cut: (byte 0 & 0x7f) + 1 bytes per
 * read, and with bit 7 the connection is saved and restored after every
 * read.  The rest is the stream.  The client reads every answer as soon
 * as it is there.
 *
 * Seeds: tests/fuzz/corpus-kvprotocol/ (tests/fuzz/gen_corpora.py
 * kvprotocol): memcached's commands as its clients write them, text and
 * binary, with data blocks, noreply, bad lengths, a line too long.
 */
#define _GNU_SOURCE
#define FUZZ_NAME "fuzz_kvprotocol"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "store.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION KV_REGION_MIN
#define NOW 1000
#define MAX_ROUNDS 100000

static uint8_t *region;

static void teardown(void)
{
	free(region);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	region = aligned_alloc(8, REGION);
	if (!region)
		die("aligned_alloc");
	atexit(teardown);
	return 0;
}

/* The client reads every answer there is. */
static void read_answers(struct kv_conn *c)
{
	size_t len;

	kv_conn_output(c, &len);
	if (len > KV_OUT_MAX)
		die("%zu bytes of answer waiting", len);
	kv_conn_sent(c, len);
}

static void save_restore(struct kv_conn *c)
{
	struct kv_conn_state s;
	struct kv_conn again;

	kv_conn_save(c, &s);
	if (kv_conn_restore(&again, &s))
		die("a saved connection is refused");
	kv_conn_release(c);
	*c = again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_store st = { 0 };
	struct kv_proto p = { .store = &st, .version = "1.6.21", .started = NOW - 60 };
	struct kv_conn c;
	size_t piece, off = 1;
	bool restore;
	int rounds = 0;

	if (!size)
		return 0;
	piece = (data[0] & 0x7f) + 1u;
	restore = data[0] & 0x80;
	memset(region, 0, REGION);
	if (kv_store_format(&st, &kv_store_v2_ops, region, REGION))
		die("format: %s", st.err.msg);
	if (kv_conn_restore(&c, NULL))
		die("a new connection is refused");
	while (!kv_conn_finished(&c)) {
		size_t room = kv_conn_room(&c), n = size - off;

		if (++rounds > MAX_ROUNDS)
			die("no end after %d rounds", MAX_ROUNDS);
		if (n > piece)
			n = piece;
		if (n > room)
			n = room;
		if (c.closing && room)
			die("a closing connection offers room");
		if (kv_conn_input(&c, data + off, n))
			die("%zu bytes refused with %zu of room", n, room);
		off += n;
		if (c.in_len > KV_IN_MAX)
			die("%zu bytes of input held", c.in_len);
		if (kv_conn_process(&p, &c, NOW))
			break;		/* -ENOMEM: the server closes */
		read_answers(&c);
		if (restore)
			save_restore(&c);
		if (off == size && !c.closing && kv_conn_room(&c))
			break;		/* all sent, all answered */
	}
	kv_conn_release(&c);
	if (kv_store_check(&st))
		die("the region is damaged: %s", st.err.msg);
	return 0;
}
