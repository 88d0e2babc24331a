/* SPDX-License-Identifier: MIT */
#ifndef KVCACHE_PROTOCOL_H
#define KVCACHE_PROTOCOL_H

/**
 * DOC: kvcache protocol: memcached's protocols, one connection at a time
 *
 * What memcached 1.6 speaks, as its doc/protocol.txt and binary protocol
 * describe it, answered with memcached's exact lines:
 *  - text: get, gets, gat, gats, set, add, replace, append, prepend, cas,
 *    delete, incr, decr, touch, flush_all, verbosity, stats (with the
 *    groups settings, items, slabs, sizes, conns, reset, detail), version,
 *    quit, with noreply and multi-key gets;
 *  - the meta commands: mg, ms, md, ma, mn, me, with memcached 1.6.18's
 *    flags, stale items (md I, ms I) and recache wins (N, R; W, X, Z)
 *    included; l is refused on a v1 store, which keeps no access time
 *    ("CLIENT_ERROR invalid flag", memcached's answer to a flag it does
 *    not know);
 *  - binary: every opcode of memcached's binary protocol but SASL, which
 *    is answered as memcached without SASL answers it (unknown command).
 * A command that starts with the byte 0x80 is binary, anything else text.
 * Anything else is "ERROR".
 *
 * A connection is a struct kv_conn: the bytes received and not yet
 * executed, the bytes answered and not yet sent, and two flags.  The
 * parser keeps nothing else between calls: it executes a command only once
 * all of it - the line, and for a storage command its data block - has
 * arrived, and leaves a partial command where it is.  So a command split
 * across any number of reads, or many commands in one read, come out the
 * same, and a connection's whole state is what struct kv_conn_state
 * describes, which is what a live update preserves with the socket.
 *
 * Everything is bounded:
 *  - a command line is at most KV_LINE_MAX bytes; a longer one is answered
 *    "CLIENT_ERROR line too long" and the connection is closed, since where
 *    the next command starts cannot be known (a binary request whose
 *    lengths contradict each other likewise);
 *  - a data block longer than any item (KV_VALUE_MAX) is answered
 *    "SERVER_ERROR object too large for cache" and discarded as it arrives
 *    ("swallowed", as memcached does), so the input never holds it;
 *  - hence the input never exceeds KV_IN_MAX;
 *  - commands are executed only while less than KV_OUT_HIGH bytes of answer
 *    wait to be sent (the server stops reading meanwhile), and a get whose
 *    answer would take the output past KV_OUT_MAX is answered "SERVER_ERROR
 *    out of memory writing get response" instead, as memcached does.
 *
 * Where the protocol text leaves a choice, kvcache makes memcached's: a
 * command line may end in "\n" as well as "\r\n" (a data block must end in
 * "\r\n", else "CLIENT_ERROR bad data chunk" and the item is not stored);
 * "delete <key> 0" is accepted; a set that fails for lack of room or size
 * also deletes the key's old value, so that it is not served stale; keys
 * are any bytes but space, control characters included.  Two choices are
 * kvcache's own: noreply silences the answers that report an outcome
 * (STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, a number)
 * but never an error, since a client that got a command wrong must hear it
 * (verbosity excepted, as memccapable wants it); and a storage command
 * refused for its line (a bad key, a wrong number of words) whose byte
 * count could still be read swallows its data block, so that the data is
 * never taken for commands.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define KV_LINE_MAX	8192		/* a command line, "\r\n" included */
#define KV_IN_MAX	(KV_LINE_MAX + KV_VALUE_MAX + 2)
#define KV_OUT_HIGH	(256 * 1024)
#define KV_OUT_MAX	(16 * 1024 * 1024)

/* Items whose meta marks (struct kv_proto's @meta) are remembered at once */
#define KV_META_SLOTS	16384

/* How a command holds what connections share (struct kv_proto). */
enum kv_lock {
	KV_UNLOCKED,
	KV_SHARED,	/* a get, set or delete: beside others, with its
			 * key's stripe when the store has them */
	KV_EXCLUSIVE,	/* everything else: alone */
};

/**
 * struct kv_proto - what every connection of a server shares
 * @store:       the items
 * @version:     the text of "VERSION" and of "STAT version"
 * @started:     when the process started (for "STAT uptime")
 * @curr_conns:  open connections, kept by the server
 * @total_conns: connections accepted since the process started
 * @max_conns:   the server's connection limit (0: memcached's 1024)
 * @threads:     worker threads (0: one)
 * @port:        the TCP port, for "stats settings"
 * @verbosity:   as "verbosity" set it
 * @flush_at:    when a delayed flush_all is due, 0 for none
 * @cmd_flush, @cmd_touch, @cmd_meta, @touch_hits, @touch_misses: counters
 *               kept by the process (the region keeps the others)
 * @meta:        what the meta flags h, I, N and R remember of an item
 *               (fetched, stale, win token sent), which the preserved item
 *               region has no room for: one slot per cas, KV_META_SLOTS of
 *               them, direct-mapped (a slot holds the cas and its bits); a
 *               stale or token mark takes its slot from any other, a
 *               fetched mark only from another fetched one.  The process's
 *               own: an update resets it (every item reads as never
 *               fetched, not stale, no token sent)
 * @lock:        with connections served by several threads: takes (or
 *               lets go of, KV_UNLOCKED) what they share - the store and
 *               this struct - for one command; kv_conn_process() calls it
 *               with KV_SHARED for a get, a set and a delete, which then
 *               take their key's stripe (kv_store_lock_key()) when the
 *               store has them (@store's @locks) and no conversion is
 *               under way; without, a get is served by
 *               kv_store_get_shared() beside other gets (or, when it must
 *               write, lets go and takes it again KV_EXCLUSIVE), and a set
 *               or delete takes it KV_EXCLUSIVE.  KV_EXCLUSIVE for any
 *               other command, and KV_UNLOCKED after each - and between
 *               two keys of a get of many.  NULL with one thread.
 * @try_exclusive: with @lock, optional: takes what they share alone if no
 *               one holds it, without waiting; true when taken.  A get
 *               that must only mark its item used tries this, and reads
 *               the item unmarked when it fails (kv_store_get_unmarked()).
 */
struct kv_proto {
	struct kv_store *store;
	const char *version;
	uint64_t started;
	uint32_t curr_conns;
	uint64_t total_conns;
	uint32_t max_conns;
	uint32_t threads;
	uint32_t port;
	uint32_t verbosity;
	uint64_t flush_at;
	uint64_t cmd_flush;
	uint64_t cmd_touch;
	uint64_t cmd_meta;
	uint64_t touch_hits;
	uint64_t touch_misses;
	uint64_t meta[KV_META_SLOTS];
	void (*lock)(struct kv_proto *p, enum kv_lock how);
	bool (*try_exclusive)(struct kv_proto *p);
};

/**
 * struct kv_conn - one connection's protocol state
 * @in:      received bytes not yet executed: @in_len of them
 * @out:     answer bytes; those from @out_off to @out_len are unsent
 * @swallow: bytes of a refused data block still to discard
 * @closing: quit, or an error the stream cannot recover from: execute
 *           nothing more, close once the answers are sent
 * @in_cap, @out_cap: allocated sizes
 * @need:    bytes @in must hold before the next command can be complete;
 *           derived, so that a large data block is not parsed again at
 *           every read
 * @held:    how the command being executed holds the shared state
 * @stripe:  with @held KV_SHARED, the stripe of the key it uses, plus one
 *           (kv_store_lock_key()); 0 for none
 *
 * Preserved across an update: the unexecuted input, the unsent output,
 * @swallow and @closing (struct kv_conn_state).  The rest is rebuilt.
 */
struct kv_conn {
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	uint64_t swallow;
	bool closing;
	size_t need;
	enum kv_lock held;
	unsigned int stripe;
};

/**
 * struct kv_conn_state - a connection's state as the runtime preserves it
 * @in:      received, not executed: @in_len bytes, at most KV_IN_MAX
 * @out:     answered, not sent: @out_len bytes, at most KV_OUT_MAX
 * @swallow: bytes of a refused data block still to discard
 * @closing: close once @out is sent
 */
struct kv_conn_state {
	const void *in;
	size_t in_len;
	const void *out;
	size_t out_len;
	uint64_t swallow;
	bool closing;
};

/**
 * kv_conn_restore() - set up a connection, new or preserved
 * @c: the connection to set up
 * @s: its preserved state, or NULL for a new connection
 *
 * Run kv_conn_process() next: the input may hold complete commands.
 *
 * Return: 0, -EINVAL when @s exceeds the bounds above (nothing is set up),
 * or -ENOMEM.
 */
int kv_conn_restore(struct kv_conn *c, const struct kv_conn_state *s);

/**
 * kv_conn_save() - a connection's state, to preserve
 * @c: the connection
 * @s: its state; the buffers point into @c, valid until @c changes
 */
void kv_conn_save(const struct kv_conn *c, struct kv_conn_state *s);

/**
 * kv_conn_release() - free a connection's buffers
 * @c: the connection
 */
void kv_conn_release(struct kv_conn *c);

/**
 * kv_conn_room() - how many bytes kv_conn_input() takes now
 * @c: the connection
 *
 * Return: 0 while the connection should not be read: closing, or its
 * answers are waiting to be sent.
 */
size_t kv_conn_room(const struct kv_conn *c);

/**
 * kv_conn_input() - append received bytes
 * @c:    the connection
 * @data: the bytes
 * @len:  how many, at most kv_conn_room()
 *
 * Return: 0, -EINVAL (more than kv_conn_room()), or -ENOMEM.
 */
int kv_conn_input(struct kv_conn *c, const void *data, size_t len);

/**
 * kv_conn_process() - execute every complete command received
 * @p:   the shared state
 * @c:   the connection
 * @now: the time, Unix seconds
 *
 * Return: 0, or -ENOMEM when an answer could not be allocated; the
 * connection should then be closed.
 */
int kv_conn_process(struct kv_proto *p, struct kv_conn *c, uint64_t now);

/**
 * kv_conn_output() - the answers waiting to be sent
 * @c:   the connection
 * @len: how many bytes
 *
 * Return: the first of them.
 */
const void *kv_conn_output(const struct kv_conn *c, size_t *len);

/**
 * kv_conn_sent() - drop answer bytes that were sent
 * @c: the connection
 * @n: how many, at most what kv_conn_output() reported
 */
void kv_conn_sent(struct kv_conn *c, size_t n);

/**
 * kv_conn_finished() - whether the connection is done and can be closed
 * @c: the connection
 *
 * Return: true once it is closing and every answer has been sent.
 */
bool kv_conn_finished(const struct kv_conn *c);

#endif /* KVCACHE_PROTOCOL_H */
