// SPDX-License-Identifier: MIT
/**
 * DOC: kvcache protocol: parsing and answering
 *
 * kv_conn_process() looks at the input from its start.  A command that
 * begins with the byte 0x80 is a binary protocol request (a 24-byte header,
 * then extras, key and value); anything else is a text command line, split
 * on spaces as memcached splits it, and for a storage command the data
 * block after it.  A command that is not all there yet is left in the
 * input, and @need records how many bytes it takes, so that a large data
 * block arriving in many reads is parsed once.  Executed commands are
 * dropped from the input when the call returns.
 *
 * Whatever a command line gets wrong, a data block whose length it gave is
 * swallowed rather than read as commands: a client's data is never
 * executed.  Only a line whose length cannot be read leaves what follows
 * to be read as commands, as memcached does, since nothing says where the
 * data would end.
 *
 * While commands run, the output is only appended to (it is compacted when
 * kv_conn_process() starts), so a get can take back the part of its answer
 * it already wrote when a later key fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "protocol.h"

#define KV_TOKENS_MAX	24	/* memcached's: what a meta command may take */
#define KV_REL_MAX	(60 * 60 * 24 * 30)	/* exptime: relative up to 30 days */
#define KV_OPAQUE_MAX	32	/* a meta command's O token */

struct token {
	const char *s;
	size_t len;
};

/* A command line's first tokens, and how many tokens it has in all. */
struct command {
	struct token tok[KV_TOKENS_MAX];
	size_t n;
	const char *end;
};

static bool tok_is(const struct token *t, const char *word)
{
	return t->len == strlen(word) && !memcmp(t->s, word, t->len);
}

/* The next space-separated token from *@p; false at the end of the line. */
static bool next_token(const char **p, const char *end, struct token *t)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return false;
	t->s = s;
	while (s < end && *s != ' ')
		s++;
	t->len = s - t->s;
	*p = s;
	return true;
}

static void tokenize(const char *line, size_t len, struct command *cmd)
{
	const char *p = line;
	struct token t;

	cmd->end = line + len;
	cmd->n = 0;
	while (next_token(&p, cmd->end, &t)) {
		if (cmd->n < KV_TOKENS_MAX)
			cmd->tok[cmd->n] = t;
		cmd->n++;
	}
}

/*
 * Keys: 1 to 250 bytes, as memcached takes them: a text key is whatever
 * lies between spaces, control characters included (memcaslap's keys begin
 * with 0x10 bytes); a binary key may be any bytes.
 */
static bool key_ok(const struct token *t)
{
	return t->len && t->len <= KV_KEY_MAX;
}

/* A decimal number of 1 to 20 digits, no sign, at most @max. */
static bool parse_u64(const struct token *t, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!t->len || t->len > 20)
		return false;
	for (size_t i = 0; i < t->len; i++) {
		unsigned int d = (uint8_t)t->s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* exptime: a signed 32-bit decimal, as memcached reads it. */
static bool parse_exptime(const struct token *t, int64_t *out)
{
	struct token digits = *t;
	uint64_t v;

	if (t->len && t->s[0] == '-') {
		digits.s++;
		digits.len--;
		if (!parse_u64(&digits, (uint64_t)INT32_MAX + 1, &v))
			return false;
		*out = -(int64_t)v;
		return true;
	}
	if (!parse_u64(&digits, INT32_MAX, &v))
		return false;
	*out = v;
	return true;
}

/*
 * An exptime as the store keeps it (absolute, 0 never): up to 30 days is
 * relative to @now, more is a Unix time, negative has already passed.
 */
static uint64_t expiry(int64_t exptime, uint64_t now)
{
	if (exptime < 0)
		return 1;
	if (exptime > 0 && exptime <= KV_REL_MAX)
		return now + exptime;
	return exptime;
}

/* What a meta command's t flag shows: seconds left, -1 for never. */
static int64_t ttl_left(uint64_t exptime, uint64_t now)
{
	if (!exptime)
		return -1;
	return exptime > now ? (int64_t)(exptime - now) : 0;
}

static size_t pending(const struct kv_conn *c)
{
	return c->out_len - c->out_off;
}

static int out_add(struct kv_conn *c, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *out;

		while (cap < c->out_len + len)
			cap *= 2;
		out = realloc(c->out, cap);
		if (!out)
			return -ENOMEM;
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int out_printf(struct kv_conn *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return out_add(c, line, (size_t)len < sizeof(line) ? (size_t)len :
							     sizeof(line) - 1);
}

/* Without printf: a get's answers are written with the store held. */
static int reply(struct kv_conn *c, const char *line)
{
	return out_add(c, line, strlen(line)) ?: out_add(c, "\r\n", 2);
}

#define BAD_FORMAT "CLIENT_ERROR bad command line format"

/*
 * The answer to a store result: @ok for KV_OK; outcomes are silent with
 * @noreply, errors never are.
 */
static int answer(struct kv_conn *c, int ret, bool noreply, const char *ok)
{
	switch (ret) {
	case KV_OK:
		return noreply ? 0 : reply(c, ok);
	case KV_NOT_STORED:
		return noreply ? 0 : reply(c, "NOT_STORED");
	case KV_EXISTS:
		return noreply ? 0 : reply(c, "EXISTS");
	case KV_NOT_FOUND:
		return noreply ? 0 : reply(c, "NOT_FOUND");
	case -E2BIG:
		return reply(c, "SERVER_ERROR object too large for cache");
	case -ENOMEM:
		return reply(c, "SERVER_ERROR out of memory storing object");
	case -EDOM:
		return reply(c, "CLIENT_ERROR cannot increment or decrement "
			     "non-numeric value");
	default:
		return reply(c, "SERVER_ERROR item store damaged");
	}
}

/*
 * Hold the shared state as @how says, letting go of how it was held - and
 * of a key's stripe (hold_key()) in any case.
 */
static void hold(struct kv_proto *p, struct kv_conn *c, enum kv_lock how)
{
	if (c->stripe) {
		kv_store_unlock_stripe(p->store, (int)c->stripe - 1);
		c->stripe = 0;
	}
	if (!p->lock || c->held == how)
		return;
	if (c->held != KV_UNLOCKED)
		p->lock(p, KV_UNLOCKED);
	if (how != KV_UNLOCKED)
		p->lock(p, how);
	c->held = how;
}

/*
 * With the store held shared: the stripe of @key too, so that the command
 * gets, puts or deletes @key beside other workers using other keys
 * (kv_store_lock_key()).  Return: false when keys cannot be used apart now
 * (one thread, a conversion under way, the store held otherwise).
 */
static bool hold_key(struct kv_proto *p, struct kv_conn *c, const char *key,
		     size_t nkey)
{
	int stripe;

	if (!p->lock || c->held != KV_SHARED)
		return false;
	stripe = kv_store_lock_key(p->store, key, nkey);
	if (stripe < 0)
		return false;
	c->stripe = (unsigned int)stripe + 1;
	return true;
}

/*
 * Before a command, held: a flush_all with a delay is due - memcached
 * invalidates, at that time, every item stored before it, which is every
 * item there is then.
 */
static void flush_due(struct kv_proto *p, struct kv_conn *c, uint64_t now)
{
	if (p->flush_at && now >= p->flush_at) {
		hold(p, c, KV_EXCLUSIVE);
		p->flush_at = 0;
		kv_store_flush(p->store);
	}
}

/*
 * What kvcache remembers of an item for the meta flags, in struct
 * kv_proto's @meta: a slot is the item's cas shifted up 8 bits and these
 * marks.  The process's, not the region's: the item layout is a contract
 * between versions and has no room for them.
 */
#define META_FETCHED	1u	/* h: hit before */
#define META_STALE	2u	/* md I, ms I: answered X */
#define META_TOKEN	4u	/* a W was sent: answered Z */

static bool meta_slot_is(uint64_t slot, uint64_t cas)
{
	return slot >> 8 == (cas & (UINT64_MAX >> 8));
}

/* The marks of the item with @cas; beside other readers too. */
static unsigned int meta_marks(struct kv_proto *p, uint64_t cas)
{
	uint64_t v = __atomic_load_n(&p->meta[cas % KV_META_SLOTS],
				     __ATOMIC_RELAXED);

	return meta_slot_is(v, cas) ? (unsigned int)(v & 0xff) : 0;
}

/*
 * Set @set and clear @clear in the marks of the item with @cas, atomically
 * (a get marks its item fetched beside other gets).  The slot of another
 * item is taken, unless that one is stale or sent a token and this sets
 * neither: losing a fetched mark costs an h1, losing the others a recache.
 */
static void meta_mark(struct kv_proto *p, uint64_t cas, unsigned int set,
		      unsigned int clear)
{
	uint64_t *slot = &p->meta[cas % KV_META_SLOTS];
	uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED), want;

	do {
		if (meta_slot_is(v, cas))
			want = (v & ~(uint64_t)clear) | set;
		else if ((v & (META_STALE | META_TOKEN)) &&
			 !(set & (META_STALE | META_TOKEN)))
			return;
		else
			want = cas << 8 | set;
		if (want == v)
			return;
	} while (!__atomic_compare_exchange_n(slot, &v, want, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
}

/*
 * kv_store_get(), beside other readers when the command holds it so: with
 * its key's stripe, beside every other key's user.  Without (a conversion
 * under way), beside other gets only, and a get that must write takes the
 * store alone - at once if no one holds it; else,
 * when all it must write is its item's used mark, it reads the item
 * unmarked and a later get marks it: waiting for every other reader to let
 * go held up each client of its worker, once a minute for every key in
 * use (memcached's gets only flag the item for its LRU thread).
 */
static int find_item(struct kv_proto *p, struct kv_conn *c, const char *key,
		     size_t nkey, uint64_t now, struct kv_item_ref *it)
{
	if (hold_key(p, c, key, nkey))
		return kv_store_get(p->store, key, nkey, now, it);
	if (c->held == KV_SHARED) {
		int ret = kv_store_get_shared(p->store, key, nkey, now, it);

		if (ret == -EAGAIN && p->try_exclusive) {
			hold(p, c, KV_UNLOCKED);
			if (p->try_exclusive(p)) {
				c->held = KV_EXCLUSIVE;
				return kv_store_get(p->store, key, nkey, now, it);
			}
			hold(p, c, KV_SHARED);
			ret = kv_store_get_unmarked(p->store, key, nkey, now, it);
		}
		if (ret != -EAGAIN)
			return ret;
		hold(p, c, KV_EXCLUSIVE);
	}
	return kv_store_get(p->store, key, nkey, now, it);
}

/* A get's: the item found is marked fetched (mg's h). */
static int get_item(struct kv_proto *p, struct kv_conn *c, const char *key,
		    size_t nkey, uint64_t now, struct kv_item_ref *it)
{
	int ret = find_item(p, c, key, nkey, now, it);

	if (ret == KV_OK)
		meta_mark(p, it->cas, META_FETCHED, 0);
	return ret;
}

static void count_touch(struct kv_proto *p, int ret)
{
	if (ret == KV_OK)
		p->touch_hits++;
	else if (ret == KV_NOT_FOUND)
		p->touch_misses++;
}

/* The last word is "noreply" (looked for only where a command has one). */
static bool last_is_noreply(const struct command *cmd)
{
	return cmd->n > 1 && cmd->n <= KV_TOKENS_MAX &&
	       tok_is(&cmd->tok[cmd->n - 1], "noreply");
}

/* @v in decimal at @p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char digits[20];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = digits[--n];
	return p;
}

/*
 * "VALUE key flags bytes [cas]\r\ndata\r\n" for one item of a get.
 * Formatted by hand: it is written with the store held, beside other
 * gets, and snprintf() took half that hold (a set waits for every get to
 * let go).
 */
static int get_value(struct kv_conn *c, const struct kv_item_ref *it,
		     bool with_cas)
{
	char head[sizeof("VALUE  \r\n") + KV_KEY_MAX + 3 * 21];
	char *e = head;
	size_t len;
	int ret;

	memcpy(e, "VALUE ", 6);
	e += 6;
	memcpy(e, it->key, it->nkey);	/* at most KV_KEY_MAX: the store's */
	e += it->nkey;
	*e++ = ' ';
	e = put_u64(e, it->flags);
	*e++ = ' ';
	e = put_u64(e, it->nbytes);
	if (with_cas) {
		*e++ = ' ';
		e = put_u64(e, it->cas);
	}
	*e++ = '\r';
	*e++ = '\n';
	len = (size_t)(e - head);
	/* Room for this item and for the final END. */
	if (pending(c) + len + it->nbytes + 2 + 5 > KV_OUT_MAX)
		return -EMSGSIZE;
	ret = out_add(c, head, len);
	if (!ret)
		ret = out_add(c, it->data, it->nbytes);
	if (!ret)
		ret = out_add(c, "\r\n", 2);
	return ret;
}

/* get, gets, and with @touch gat and gats: "gat <exptime> <key>*". */
static int do_get(struct kv_proto *p, struct kv_conn *c,
		  const struct command *cmd, bool with_cas, bool touch,
		  uint64_t now)
{
	const char *s = cmd->tok[0].s + cmd->tok[0].len;
	size_t mark = c->out_len;
	struct kv_item_ref it;
	uint64_t exp = 0;
	struct token key;
	int ret;

	if (cmd->n < 2)
		return reply(c, "ERROR");
	if (touch) {
		int64_t exptime;

		if (!parse_exptime(&cmd->tok[1], &exptime))
			return reply(c, "CLIENT_ERROR invalid exptime argument");
		exp = expiry(exptime, now);
		next_token(&s, cmd->end, &key);
		p->cmd_touch++;
	}
	for (bool first = true; next_token(&s, cmd->end, &key); first = false) {
		if (!key_ok(&key)) {
			c->out_len = mark;
			return reply(c, BAD_FORMAT);
		}
		/*
		 * The store is held one key at a time, as memcached's item
		 * locks do: others get in between two keys, and a get of many
		 * keys (that a conversion takes over one by one) never holds
		 * every other command up for all of them.
		 */
		if (!first) {
			hold(p, c, KV_UNLOCKED);
			hold(p, c, touch ? KV_EXCLUSIVE : KV_SHARED);
		}
		if (touch) {
			ret = kv_store_touch(p->store, key.s, key.len, exp, now);
			count_touch(p, ret);
			if (ret == KV_NOT_FOUND)
				continue;
		}
		ret = get_item(p, c, key.s, key.len, now, &it);
		if (ret == KV_NOT_FOUND)
			continue;
		if (!ret)
			ret = get_value(c, &it, with_cas);
		if (ret == -EMSGSIZE) {
			c->out_len = mark;
			return reply(c, "SERVER_ERROR out of memory writing "
				     "get response");
		}
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			c->out_len = mark;
			return answer(c, ret, false, NULL);
		}
	}
	return reply(c, "END");
}

/*
 * A data block of @bytes after a line of @line bytes, and in @used how
 * much of the input the command takes.  Return: 0 when it is all there and
 * ends in "\r\n"; 1 when it is not all there yet (@c->need says how much
 * is); -E2BIG when it is larger than any item (it is then swallowed);
 * -EBADMSG when it does not end in "\r\n", answered "bad data chunk";
 * -ENOMEM.  On 0 and -E2BIG the command holds @key's stripe
 * (hold_key()), or the store alone when it cannot or @key is NULL: not
 * before (execute()), so that a client sending the line and the block
 * apart holds no other connection up in between.
 */
static int data_block(struct kv_proto *p, struct kv_conn *c,
		      const struct token *key, const uint8_t *buf, size_t line,
		      size_t avail, uint64_t bytes, size_t *used, uint64_t now)
{
	int ret = 0;

	*used = line + bytes + 2;
	if (bytes > KV_VALUE_MAX) {
		/* The block is never buffered: it is discarded as it comes. */
		c->swallow = bytes + 2;
		*used = line;
		ret = -E2BIG;
	} else if (avail < *used) {
		c->need = *used;
		return 1;
	} else if (buf[line + bytes] != '\r' || buf[line + bytes + 1] != '\n') {
		return reply(c, "CLIENT_ERROR bad data chunk") ?: -EBADMSG;
	}
	hold(p, c, key && p->store->locks ? KV_SHARED : KV_EXCLUSIVE);
	flush_due(p, c, now);
	if (c->held == KV_SHARED && !hold_key(p, c, key->s, key->len))
		hold(p, c, KV_EXCLUSIVE);
	return ret;
}

/*
 * set, add, replace, append, prepend, cas.  Return: bytes consumed; 0 when
 * the data block is not all there (@c->need says how much is); -ENOMEM.
 */
static long do_update(struct kv_proto *p, struct kv_conn *c,
		      const struct command *cmd, enum kv_mode mode,
		      const uint8_t *buf, size_t line, size_t avail,
		      uint64_t now)
{
	size_t want = mode == KV_CAS ? 6 : 5;
	const struct token *key = &cmd->tok[1];
	bool noreply = cmd->n == want + 1 && tok_is(&cmd->tok[want], "noreply");
	uint64_t flags, bytes, cas = 0;
	int64_t exptime;
	size_t used;
	int ret;

	if (cmd->n < 5 || !parse_u64(&cmd->tok[4], INT32_MAX, &bytes))
		return reply(c, cmd->n < want ? "ERROR" : BAD_FORMAT) ?:
		       (long)line;
	/* The length is known: whatever else is wrong, the block is data. */
	if (cmd->n != want && !noreply) {
		c->swallow = bytes + 2;
		return reply(c, "ERROR") ?: (long)line;
	}
	if (!key_ok(key) || !parse_u64(&cmd->tok[2], UINT32_MAX, &flags) ||
	    !parse_exptime(&cmd->tok[3], &exptime) ||
	    (mode == KV_CAS && !parse_u64(&cmd->tok[5], UINT64_MAX, &cas))) {
		c->swallow = bytes + 2;
		return reply(c, BAD_FORMAT) ?: (long)line;
	}
	ret = data_block(p, c, key, buf, line, avail, bytes, &used, now);
	if (ret == 1)
		return 0;
	if (ret == -EBADMSG || ret == -ENOMEM)
		return ret == -ENOMEM ? ret : (long)used;
	/* -EAGAIN: what it would evict is in stripes other workers hold;
	 * then again with the store alone, where that cannot be. */
	for (int tries = 0; !ret || (ret == -EAGAIN && tries == 1); tries++) {
		if (tries)
			hold(p, c, KV_EXCLUSIVE);
		ret = kv_store_put(p->store, mode, key->s, key->len, flags,
				   expiry(exptime, now), buf + line, bytes,
				   cas, now);
		if (ret != -EAGAIN)
			break;
	}
	/* As memcached: a set that did not happen must not leave the old
	 * value to be served as if it had. */
	if ((ret == -E2BIG || ret == -ENOMEM) && mode == KV_SET)
		kv_store_delete(p->store, key->s, key->len, now);
	return answer(c, ret, noreply, "STORED") ?: (long)used;
}

static int do_delete(struct kv_proto *p, struct kv_conn *c,
		     const struct command *cmd, uint64_t now)
{
	bool noreply = (cmd->n == 3 || cmd->n == 4) &&
		       tok_is(&cmd->tok[cmd->n - 1], "noreply");
	bool zero = cmd->n > 2 && tok_is(&cmd->tok[2], "0");

	if (cmd->n < 2 || cmd->n > 4)
		return reply(c, "ERROR");
	/* "delete <key> 0" is the old form with a hold time, still accepted. */
	if (!(cmd->n == 2 || (cmd->n == 3 && (zero || noreply)) ||
	      (cmd->n == 4 && zero && noreply)))
		return reply(c, "CLIENT_ERROR bad command line format.  "
			     "Usage: delete <key> [noreply]");
	if (!key_ok(&cmd->tok[1]))
		return reply(c, BAD_FORMAT);
	if (!hold_key(p, c, cmd->tok[1].s, cmd->tok[1].len))
		hold(p, c, KV_EXCLUSIVE);
	return answer(c, kv_store_delete(p->store, cmd->tok[1].s,
					 cmd->tok[1].len, now),
		      noreply, "DELETED");
}

static int do_arith(struct kv_proto *p, struct kv_conn *c,
		    const struct command *cmd, bool incr, uint64_t now)
{
	bool noreply = cmd->n == 4 && tok_is(&cmd->tok[3], "noreply");
	uint64_t delta, value;
	int ret;

	if (cmd->n != 3 && !noreply)
		return reply(c, "ERROR");
	if (!key_ok(&cmd->tok[1]))
		return reply(c, BAD_FORMAT);
	if (!parse_u64(&cmd->tok[2], UINT64_MAX, &delta))
		return reply(c, "CLIENT_ERROR invalid numeric delta argument");
	ret = kv_store_arith(p->store, cmd->tok[1].s, cmd->tok[1].len, incr,
			     delta, now, &value);
	if (ret == KV_OK && !noreply)
		return out_printf(c, "%" PRIu64 "\r\n", value);
	return answer(c, ret, noreply, NULL);
}

/* touch <key> <exptime> [noreply] */
static int do_touch(struct kv_proto *p, struct kv_conn *c,
		    const struct command *cmd, uint64_t now)
{
	bool noreply = cmd->n == 4 && tok_is(&cmd->tok[3], "noreply");
	int64_t exptime;
	int ret;

	if (cmd->n != 3 && !noreply)
		return reply(c, "ERROR");
	if (!key_ok(&cmd->tok[1]))
		return reply(c, BAD_FORMAT);
	if (!parse_exptime(&cmd->tok[2], &exptime))
		return reply(c, "CLIENT_ERROR invalid exptime argument");
	p->cmd_touch++;
	ret = kv_store_touch(p->store, cmd->tok[1].s, cmd->tok[1].len,
			     expiry(exptime, now), now);
	count_touch(p, ret);
	if (ret == KV_OK)	/* a hit, for mg's h, as memcached's */
		meta_mark(p, p->store->last_cas, META_FETCHED, 0);
	return answer(c, ret, noreply, "TOUCHED");
}

/* flush_all [delay] [noreply] */
static int do_flush(struct kv_proto *p, struct kv_conn *c,
		    const struct command *cmd, uint64_t now)
{
	bool noreply = last_is_noreply(cmd);
	size_t args = cmd->n - 1 - noreply;
	int64_t delay = 0;

	if (args > 1)
		return reply(c, "ERROR");
	if (args && !parse_exptime(&cmd->tok[1], &delay))
		return reply(c, "CLIENT_ERROR invalid exptime argument");
	p->cmd_flush++;
	if (delay > 0) {
		p->flush_at = expiry(delay, now);
	} else {
		p->flush_at = 0;
		if (kv_store_flush(p->store))
			return answer(c, -EBADMSG, false, NULL);
	}
	return noreply ? 0 : reply(c, "OK");
}

/*
 * verbosity <level> [noreply]: kvcache logs nothing per request, so the
 * level is only kept, for "stats settings".  As memcached: a bare
 * "verbosity" is an error, a level that is not a number a client error,
 * words after the level ignored, and noreply silences even the errors.
 */
static int do_verbosity(struct kv_proto *p, struct kv_conn *c,
			const struct command *cmd)
{
	bool noreply = last_is_noreply(cmd);
	uint64_t level;

	if (cmd->n == 1)
		return reply(c, "ERROR");
	if (!parse_u64(&cmd->tok[1], UINT32_MAX, &level))
		return noreply ? 0 : reply(c, BAD_FORMAT);
	p->verbosity = level;
	return noreply ? 0 : reply(c, "OK");
}

/* ---- stats ---- */

/*
 * Where stats go: text lines "STAT name value", or binary packets (one per
 * stat, then an empty one).
 */
struct stats_out {
	struct kv_conn *c;
	bool binary;
	uint32_t opaque;
	int ret;
};

static int bin_response(struct kv_conn *c, uint8_t opcode, uint16_t status,
			uint32_t opaque, uint64_t cas, const void *extras,
			uint8_t extlen, const void *key, uint16_t keylen,
			const void *value, uint32_t vlen);

__attribute__((format(printf, 3, 4)))
static void emit(struct stats_out *o, const char *name, const char *fmt, ...)
{
	char value[128];
	va_list ap;
	int len;

	if (o->ret)
		return;
	va_start(ap, fmt);
	len = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(value))
		len = 0;
	if (o->binary)
		o->ret = bin_response(o->c, 0x10, 0, o->opaque, 0, NULL, 0,
				      name, strlen(name), value, len);
	else
		o->ret = out_printf(o->c, "STAT %s %.*s\r\n", name, len, value);
}

#define STAT_U64(o, name, v) emit(o, name, "%" PRIu64, (uint64_t)(v))

static void stats_general(struct kv_proto *p, struct stats_out *o,
			  uint64_t now)
{
	struct rusage ru = { 0 };
	struct kv_stats s;

	kv_store_stats(p->store, &s);
	getrusage(RUSAGE_SELF, &ru);
	STAT_U64(o, "pid", getpid());
	STAT_U64(o, "uptime", now - p->started);
	STAT_U64(o, "time", now);
	emit(o, "version", "%s", p->version);
	STAT_U64(o, "pointer_size", sizeof(void *) * 8);
	emit(o, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec,
	     (long)ru.ru_utime.tv_usec);
	emit(o, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec,
	     (long)ru.ru_stime.tv_usec);
	STAT_U64(o, "max_connections", p->max_conns ? p->max_conns : 1024);
	STAT_U64(o, "curr_connections", p->curr_conns);
	STAT_U64(o, "total_connections", p->total_conns);
	STAT_U64(o, "cmd_get", s.get_hits + s.get_misses);
	STAT_U64(o, "cmd_set", s.cmd_set);
	STAT_U64(o, "cmd_flush", p->cmd_flush);
	STAT_U64(o, "cmd_touch", p->cmd_touch);
	STAT_U64(o, "cmd_meta", p->cmd_meta);
	STAT_U64(o, "get_hits", s.get_hits);
	STAT_U64(o, "get_misses", s.get_misses);
	STAT_U64(o, "delete_misses", s.delete_misses);
	STAT_U64(o, "delete_hits", s.delete_hits);
	STAT_U64(o, "incr_misses", s.incr_misses);
	STAT_U64(o, "incr_hits", s.incr_hits);
	STAT_U64(o, "decr_misses", s.decr_misses);
	STAT_U64(o, "decr_hits", s.decr_hits);
	STAT_U64(o, "cas_misses", s.cas_misses);
	STAT_U64(o, "cas_hits", s.cas_hits);
	STAT_U64(o, "cas_badval", s.cas_badval);
	STAT_U64(o, "touch_hits", p->touch_hits);
	STAT_U64(o, "touch_misses", p->touch_misses);
	STAT_U64(o, "limit_maxbytes", s.limit_maxbytes);
	STAT_U64(o, "threads", p->threads ? p->threads : 1);
	STAT_U64(o, "bytes", s.bytes);
	STAT_U64(o, "curr_items", s.curr_items);
	STAT_U64(o, "total_items", s.total_items);
	STAT_U64(o, "evictions", s.evictions);
	STAT_U64(o, "reclaimed", s.reclaimed);
}

/* "stats reset", either protocol: the region's counters and ours. */
static void stats_reset(struct kv_proto *p)
{
	kv_store_reset_stats(p->store);
	p->cmd_flush = p->cmd_touch = p->cmd_meta = 0;
	p->touch_hits = p->touch_misses = 0;
}

static void stats_settings(struct kv_proto *p, struct stats_out *o)
{
	struct kv_stats s;

	kv_store_stats(p->store, &s);
	STAT_U64(o, "maxbytes", s.limit_maxbytes);
	STAT_U64(o, "maxconns", p->max_conns ? p->max_conns : 1024);
	STAT_U64(o, "tcpport", p->port);
	STAT_U64(o, "udpport", 0);
	emit(o, "inter", "127.0.0.1");
	STAT_U64(o, "verbosity", p->verbosity);
	emit(o, "evictions", "on");
	emit(o, "growth_factor", "1.25");
	STAT_U64(o, "num_threads", p->threads ? p->threads : 1);
	emit(o, "cas_enabled", "yes");
	emit(o, "binding_protocol", "auto-negotiate");
	emit(o, "auth_enabled_sasl", "no");
	emit(o, "auth_enabled_ascii", "no");
	STAT_U64(o, "item_size_max", KV_ITEM_SIZE_MAX);
	emit(o, "flush_enabled", "yes");
}

/* Per size class, numbered from 1 as memcached numbers them. */
static void stats_classes(struct kv_proto *p, struct stats_out *o, bool slabs)
{
	const struct kv_region *r = p->store->base;
	uint64_t active = 0, pages = 0;
	char name[64];

	for (uint32_t i = 0; i < r->n_classes && i < KV_MAX_CLASSES; i++) {
		const struct kv_class *k = &r->classes[i];
		uint64_t per_page = k->chunk_size ?
				    KV_PAGE_SIZE / k->chunk_size : 0;

		if (!k->pages)
			continue;
		active++;
		pages += k->pages;
#define CLASS_STAT(what, v) do {					\
	snprintf(name, sizeof(name), "%s%" PRIu32 ":" what,		\
		 slabs ? "" : "items:", i + 1);				\
	STAT_U64(o, name, v);						\
} while (0)
		if (slabs) {
			CLASS_STAT("chunk_size", k->chunk_size);
			CLASS_STAT("chunks_per_page", per_page);
			CLASS_STAT("total_pages", k->pages);
			CLASS_STAT("total_chunks", per_page * k->pages);
			CLASS_STAT("used_chunks", k->items);
			CLASS_STAT("free_chunks", k->free_count);
			CLASS_STAT("free_chunks_end", kv_class_uncut(r, k));
		} else if (k->items) {
			CLASS_STAT("number", k->items);
			CLASS_STAT("number_hot", 0);
			CLASS_STAT("number_warm", 0);
			CLASS_STAT("number_cold", k->items);
			CLASS_STAT("evicted", 0);
		}
#undef CLASS_STAT
	}
	if (slabs) {
		STAT_U64(o, "active_slabs", active);
		STAT_U64(o, "total_malloced", pages * KV_PAGE_SIZE);
	}
}

/*
 * The stats of @group (NULL: the general ones).  Return: 0, 1 for a group
 * kvcache does not have, or -ENOMEM.
 */
static int stats_group(struct kv_proto *p, struct stats_out *o,
		       const struct token *group, uint64_t now)
{
	if (!group)
		stats_general(p, o, now);
	else if (tok_is(group, "settings"))
		stats_settings(p, o);
	else if (tok_is(group, "items"))
		stats_classes(p, o, false);
	else if (tok_is(group, "slabs"))
		stats_classes(p, o, true);
	else if (tok_is(group, "sizes"))
		emit(o, "sizes_status", "disabled");
	else if (tok_is(group, "conns"))
		;	/* no per-connection detail is kept */
	else
		return 1;
	return o->ret;
}

static int do_stats(struct kv_proto *p, struct kv_conn *c,
		    const struct command *cmd, uint64_t now)
{
	struct stats_out o = { .c = c };
	size_t mark = c->out_len;
	int ret;

	if (cmd->n == 2 && tok_is(&cmd->tok[1], "reset")) {
		stats_reset(p);
		return reply(c, "RESET");
	}
	if (cmd->n >= 2 && tok_is(&cmd->tok[1], "detail")) {
		if (cmd->n == 3 && (tok_is(&cmd->tok[2], "on") ||
				    tok_is(&cmd->tok[2], "off")))
			return reply(c, "OK");
		if (cmd->n == 3 && tok_is(&cmd->tok[2], "dump"))
			return reply(c, "END");
		return reply(c, "CLIENT_ERROR usage: stats detail on|off|dump");
	}
	ret = cmd->n > 2 ? 1 : stats_group(p, &o, cmd->n == 2 ? &cmd->tok[1] :
					   NULL, now);
	if (ret == 1) {
		c->out_len = mark;
		return reply(c, "ERROR");
	}
	return ret ?: reply(c, "END");
}

/* ---- meta commands ---- */

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode base64 @t into @out (KV_KEY_MAX bytes).  Return: the length, 0
 * for input that is not base64 or decodes to no key or too long a one. */
static size_t b64_decode(const struct token *t, char *out)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0;

	if (!t->len || t->len % 4)
		return 0;
	for (size_t i = 0; i < t->len; i++) {
		const char *v;

		if (t->s[i] == '=') {
			if (++pad > 2 || i < t->len - 2)
				return 0;
			continue;
		}
		if (pad)
			return 0;
		v = memchr(b64_chars, t->s[i], 64);
		if (!v)
			return 0;
		acc = acc << 6 | (uint32_t)(v - b64_chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == KV_KEY_MAX)
				return 0;
			out[n++] = (char)(acc >> bits);
		}
	}
	return n;
}

/*
 * The flags memcached 1.6.18 takes on every meta command (its parser is
 * shared): one a command has no use for is ignored, any other letter is
 * "CLIENT_ERROR invalid flag".
 */
#define META_FLAGS	"bcfhklqstuvCDFIJLMNOPRT"

/*
 * A meta command's flags: one letter each, some with a token after it.
 * @tok[i] is the flag's token (its letter first), @at[letter] its index
 * plus one, @num[i] its number for the flags that take one (C, D, F, J, N,
 * R, T; 0 when it is bad), parsed once by meta_parse().
 */
struct meta {
	const struct command *cmd;
	uint8_t at[128];
	union {
		uint64_t u;
		int64_t e;	/* N, R, T: an exptime */
	} num[KV_TOKENS_MAX];
	struct token key;	/* decoded, when the b flag is set */
	char keybuf[KV_KEY_MAX];
	bool quiet;
	int marks;	/* mg: the item's marks before it (h), else -1 */
};

static const struct token *mflag(const struct meta *m, char letter)
{
	return m->at[(uint8_t)letter] ? &m->cmd->tok[m->at[(uint8_t)letter] - 1] :
					NULL;
}

/* A flag's number (meta_parse() has checked it); @out stays as it is
 * when the flag is not given. */
static void mflag_u64(const struct meta *m, char letter, uint64_t *out)
{
	if (m->at[(uint8_t)letter])
		*out = m->num[m->at[(uint8_t)letter] - 1].u;
}

static void mflag_exptime(const struct meta *m, char letter, int64_t *out)
{
	if (m->at[(uint8_t)letter])
		*out = m->num[m->at[(uint8_t)letter] - 1].e;
}

/*
 * Flag @i's number, into @num[i], checked as memcached's parser checks it
 * on every meta command, whether the command uses the flag or not: a bad
 * one sets *@bad to the error it answers (so that of several the last is
 * answered), or for F *@bad_f (F's is answered only when there is no
 * other).
 */
static void meta_number(struct meta *m, size_t i, const char **bad,
			bool *bad_f)
{
	const struct token *t = &m->cmd->tok[i];
	struct token num = { t->s + 1, t->len - 1 };

	m->num[i].u = 0;
	switch (t->s[0]) {
	case 'C':
		if (!parse_u64(&num, UINT64_MAX, &m->num[i].u))
			*bad = "CLIENT_ERROR bad token in command line format";
		break;
	case 'N': case 'R': case 'T':
		if (!parse_exptime(&num, &m->num[i].e))
			*bad = "CLIENT_ERROR bad token in command line format";
		break;
	case 'D':
		if (!parse_u64(&num, UINT64_MAX, &m->num[i].u))
			*bad = "CLIENT_ERROR invalid numeric delta value";
		break;
	case 'J':
		if (!parse_u64(&num, UINT64_MAX, &m->num[i].u))
			*bad = "CLIENT_ERROR invalid numeric initial value";
		break;
	case 'F':
		*bad_f |= !parse_u64(&num, UINT64_MAX, &m->num[i].u);
		break;
	}
}

/*
 * Parse the flags from token @first on, each one of META_FLAGS.  Return
 * NULL, or the client error to answer (md and ma, @one_error, have one
 * message for a flag unknown or given twice, or a bad number, as
 * memcached's).
 */
static const char *meta_parse(struct meta *m, const struct command *cmd,
			      size_t first, bool one_error)
{
	const char *bad = NULL;
	bool bad_f = false;

	memset(m->at, 0, sizeof(m->at));
	m->cmd = cmd;
	if (cmd->n > KV_TOKENS_MAX)
		return BAD_FORMAT;
	m->key = cmd->tok[1];
	if (!key_ok(&m->key))
		return BAD_FORMAT;
	for (size_t i = first; i < cmd->n; i++) {
		uint8_t f = (uint8_t)cmd->tok[i].s[0];

		if (f >= 128 || !strchr(META_FLAGS, f) || !f || (one_error && m->at[f]))
			return one_error ? "CLIENT_ERROR invalid or duplicate flag" :
					   "CLIENT_ERROR invalid flag";
		if (m->at[f])
			return "CLIENT_ERROR duplicate flag";
		m->at[f] = i + 1;
		if (f == 'O' && cmd->tok[i].len - 1 > KV_OPAQUE_MAX)
			return "CLIENT_ERROR opaque token too long";
		meta_number(m, i, &bad, &bad_f);
	}
	/* A bad number is answered once every letter is known to be a flag. */
	if (bad || bad_f)
		return one_error ? "CLIENT_ERROR invalid or duplicate flag" :
		       bad ?: "CLIENT_ERROR bad command line format";
	m->quiet = m->at['q'];
	m->marks = -1;
	if (m->at['b']) {
		m->key.len = b64_decode(&cmd->tok[1], m->keybuf);
		m->key.s = m->keybuf;
		if (!m->key.len)
			return "CLIENT_ERROR error decoding key";
	}
	return NULL;
}

/*
 * The flags a meta answer returns, in the order they were asked: k (with
 * b after it when the key was base64), O, and with an item, c, f, s, t.
 */
static int meta_flags(struct kv_conn *c, const struct meta *m,
		      const struct kv_item_ref *it, uint64_t cas,
		      uint64_t now)
{
	const struct command *cmd = m->cmd;
	int ret = 0;

	for (size_t i = 2; !ret && i < cmd->n; i++) {
		const struct token *t = &cmd->tok[i];

		switch (t->s[0]) {
		case 'k':
			ret = out_printf(c, " k%.*s%s", (int)cmd->tok[1].len,
					 cmd->tok[1].s, m->at['b'] ? " b" : "");
			break;
		case 'O':
			ret = out_printf(c, " %.*s", (int)t->len, t->s);
			break;
		case 'c':
			if (it || cas)
				ret = out_printf(c, " c%" PRIu64, it ? it->cas :
						 cas);
			break;
		case 'f':
			if (it)
				ret = out_printf(c, " f%" PRIu32, it->flags);
			break;
		case 's':
			if (it)
				ret = out_printf(c, " s%" PRIu32, it->nbytes);
			break;
		case 't':
			if (it)
				ret = out_printf(c, " t%" PRId64,
						 ttl_left(it->exptime, now));
			break;
		case 'h':
			if (it && m->marks >= 0)
				ret = out_printf(c, " h%d", m->marks &
						 META_FETCHED);
			break;
		case 'l':
			if (it && m->marks >= 0)
				ret = out_printf(c, " l%" PRIu64,
						 now > it->last_access ?
						 now - it->last_access : 0);
			break;
		}
	}
	return ret;
}

/* "<code> <flags>\r\n" */
static int meta_status(struct kv_conn *c, const struct meta *m,
		       const char *code, const struct kv_item_ref *it,
		       uint64_t cas, uint64_t now)
{
	return out_add(c, code, 2) ?: meta_flags(c, m, it, cas, now) ?:
	       out_add(c, "\r\n", 2);
}

/* Whether the store knows when each item was last used (mg's l). */
static bool keeps_time(const struct kv_proto *p)
{
	return ((const struct kv_region *)p->store->base)->item_version >= 2;
}

/* mg's W, X and Z, after the other flags, as memcached orders them. */
static int meta_wins(struct kv_conn *c, unsigned int marks, bool won)
{
	return (marks & META_TOKEN ? out_add(c, " Z", 2) : 0) ?:
	       (marks & META_STALE ? out_add(c, " X", 2) : 0) ?:
	       (won ? out_add(c, " W", 2) : 0);
}

/*
 * mg <key> <flags>*.  T touches the item after the answer is made: its t
 * shows the ttl the item had, as memcached's does.  N creates a missing
 * item, empty, with its token's ttl; the client that created it, and the
 * first to ask R of an item with less than R's token of ttl left, or to
 * find it stale (md I), wins: W, and Z to everyone after until the item
 * changes.  h and l say how the item was before this mg, which (unless u)
 * marks it fetched.
 */
static int do_mg(struct kv_proto *p, struct kv_conn *c,
		 const struct command *cmd, uint64_t now)
{
	int64_t ttl = 0, vivify = 0, recache = 0;
	bool created = false, won;
	struct kv_item_ref it;
	unsigned int marks;
	const char *err;
	struct meta m;
	int ret;

	if (cmd->n < 2)
		return reply(c, "ERROR");
	err = meta_parse(&m, cmd, 2, false);
	if (!err && mflag(&m, 'l') && !keeps_time(p))
		err = "CLIENT_ERROR invalid flag";
	if (err)
		return reply(c, err);
	mflag_exptime(&m, 'T', &ttl);
	mflag_exptime(&m, 'N', &vivify);
	mflag_exptime(&m, 'R', &recache);
	ret = kv_store_get(p->store, m.key.s, m.key.len, now, &it);
	if (ret == KV_NOT_FOUND && mflag(&m, 'N')) {
		ret = kv_store_put(p->store, KV_ADD, m.key.s, m.key.len, 0,
				   expiry(vivify, now), "", 0, 0, now) ?:
		      kv_store_get(p->store, m.key.s, m.key.len, now, &it);
		created = ret == KV_OK;
	}
	if (ret == KV_NOT_FOUND)
		return m.quiet ? 0 : meta_status(c, &m, "EN", NULL, 0, now);
	if (ret)
		return answer(c, ret, false, NULL);
	marks = created ? 0 : meta_marks(p, it.cas);
	m.marks = (int)marks;
	won = created || (marks & (META_STALE | META_TOKEN)) == META_STALE ||
	      (mflag(&m, 'R') && !(marks & META_TOKEN) && it.exptime &&
	       it.exptime < expiry(recache, now));
	if (!mflag(&m, 'v'))
		ret = out_add(c, "HD", 2) ?: meta_flags(c, &m, &it, 0, now) ?:
		      meta_wins(c, marks, won) ?: out_add(c, "\r\n", 2);
	else if (pending(c) + it.nbytes + 512 > KV_OUT_MAX)
		return reply(c, "SERVER_ERROR out of memory writing get "
			     "response");
	else
		ret = out_printf(c, "VA %" PRIu32, it.nbytes) ?:
		      meta_flags(c, &m, &it, 0, now) ?:
		      meta_wins(c, marks, won) ?: out_add(c, "\r\n", 2) ?:
		      out_add(c, it.data, it.nbytes) ?: out_add(c, "\r\n", 2);
	if (ret)
		return ret;
	meta_mark(p, it.cas, (won ? META_TOKEN : 0) |
		  (mflag(&m, 'u') ? 0 : META_FETCHED), 0);
	if (mflag(&m, 'T'))
		kv_store_touch(p->store, m.key.s, m.key.len, expiry(ttl, now),
			       now);
	return 0;
}

/*
 * Replace the item of @m's key whose cas is @cas, with a new cas, marked
 * stale and with @marks, for md I and ms I.  @data is not in the region.
 * Return: as kv_store_put().
 */
static int store_stale(struct kv_proto *p, const struct meta *m,
		       uint32_t flags, uint64_t exptime, const void *data,
		       uint32_t nbytes, uint64_t cas, unsigned int marks,
		       uint64_t now)
{
	int ret = kv_store_put(p->store, KV_CAS, m->key.s, m->key.len, flags,
			       exptime, data, nbytes, cas, now);

	if (ret == KV_OK)
		meta_mark(p, p->store->last_cas, marks | META_STALE,
			  (unsigned int)~(marks | META_STALE));
	return ret;
}

/* ms <key> <datalen> <flags>*\r\n<data>\r\n */
static long do_ms(struct kv_proto *p, struct kv_conn *c,
		  const struct command *cmd, const uint8_t *buf, size_t line,
		  size_t avail, uint64_t now)
{
	enum kv_mode mode = KV_SET;
	uint64_t bytes, flags = 0, cas = 0;
	struct kv_item_ref old;
	const struct token *mt;
	const char *err;
	int64_t ttl = 0;
	struct meta m;
	size_t used;
	int ret;

	if (cmd->n < 3 || !parse_u64(&cmd->tok[2], INT32_MAX, &bytes))
		return reply(c, cmd->n < 2 ? "ERROR" : BAD_FORMAT) ?:
		       (long)line;
	err = meta_parse(&m, cmd, 3, false);
	/* F is cut to 32 bits, as memcached's. */
	mflag_u64(&m, 'F', &flags);
	mflag_u64(&m, 'C', &cas);
	mflag_exptime(&m, 'T', &ttl);
	mt = mflag(&m, 'M');
	if (!err && mt) {
		switch (mt->len == 2 ? mt->s[1] : 0) {
		case 'E': case 'e': mode = KV_ADD; break;
		case 'A': case 'a': mode = KV_APPEND; break;
		case 'P': case 'p': mode = KV_PREPEND; break;
		case 'R': case 'r': mode = KV_REPLACE; break;
		case 'S': case 's': mode = KV_SET; break;
		default: err = "CLIENT_ERROR invalid mode for ms M token";
		}
	}
	if (err) {
		c->swallow = bytes + 2;
		return reply(c, err) ?: (long)line;
	}
	ret = data_block(p, c, NULL, buf, line, avail, bytes, &used, now);
	if (ret == 1)
		return 0;
	if (ret == -EBADMSG || ret == -ENOMEM)
		return ret == -ENOMEM ? ret : (long)used;
	/* I with a cas older than the item's: stored, stale, its ttl kept. */
	if (!ret && mflag(&m, 'I') && mflag(&m, 'C') && mode == KV_SET &&
	    kv_store_get(p->store, m.key.s, m.key.len, now, &old) == KV_OK &&
	    cas < old.cas)
		ret = store_stale(p, &m, (uint32_t)flags, old.exptime,
				  buf + line, (uint32_t)bytes, old.cas,
				  meta_marks(p, old.cas) & META_TOKEN, now);
	else if (!ret)
		ret = kv_store_put(p->store, mode, m.key.s, m.key.len,
				   (uint32_t)flags, expiry(ttl, now), buf + line,
				   (uint32_t)bytes, cas, now);
	/* As memcached's ms, in every mode (its text set, only a set): one
	 * that found no room must not leave the old value to be served. */
	if (ret == -E2BIG || ret == -ENOMEM)
		kv_store_delete(p->store, m.key.s, m.key.len, now);
	line = used;
	switch (ret) {
	case KV_OK:
		if (m.quiet)
			return line;
		return meta_status(c, &m, "HD", NULL, p->store->last_cas, now) ?:
		       (long)line;
	case KV_NOT_STORED:
		return meta_status(c, &m, "NS", NULL, 0, now) ?: (long)line;
	case KV_EXISTS:
		return meta_status(c, &m, "EX", NULL, 0, now) ?: (long)line;
	case KV_NOT_FOUND:
		/* As memcached's: append and prepend need an item first. */
		return meta_status(c, &m, mode == KV_APPEND ||
				   mode == KV_PREPEND ? "NS" : "NF", NULL, 0,
				   now) ?: (long)line;
	default:
		return answer(c, ret, false, NULL) ?: (long)line;
	}
}

/*
 * md <key> <flags>*.  With I the item is not removed but marked stale,
 * with a new cas (and T's ttl, if given): the next mg wins its recache.
 */
static int do_md(struct kv_proto *p, struct kv_conn *c,
		 const struct command *cmd, uint64_t now)
{
	struct kv_item_ref it;
	uint64_t cas = 0;
	int64_t ttl = 0;
	const char *err;
	struct meta m;
	void *copy;
	int ret = KV_OK;

	if (cmd->n < 2)
		return reply(c, "ERROR");
	err = meta_parse(&m, cmd, 2, true);
	if (err)
		return reply(c, err);
	mflag_u64(&m, 'C', &cas);
	mflag_exptime(&m, 'T', &ttl);
	if (mflag(&m, 'C') || mflag(&m, 'I')) {
		ret = kv_store_get(p->store, m.key.s, m.key.len, now, &it);
		if (ret == KV_OK && mflag(&m, 'C') && it.cas != cas)
			return meta_status(c, &m, "EX", NULL, 0, now);
	}
	if (mflag(&m, 'I') && ret == KV_OK) {
		/* The value is in the region, which the put may reuse. */
		copy = malloc(it.nbytes ? it.nbytes : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, it.data, it.nbytes);
		ret = store_stale(p, &m, it.flags, mflag(&m, 'T') ?
				  expiry(ttl, now) : it.exptime, copy,
				  it.nbytes, it.cas,
				  meta_marks(p, it.cas) & META_FETCHED, now);
		free(copy);
	} else if (!mflag(&m, 'I')) {
		ret = kv_store_delete(p->store, m.key.s, m.key.len, now);
	}
	if (ret == KV_OK)
		return m.quiet ? 0 : meta_status(c, &m, "HD", NULL, 0, now);
	if (ret == KV_NOT_FOUND)
		return meta_status(c, &m, "NF", NULL, 0, now);
	return answer(c, ret, false, NULL);
}

/* ma <key> <flags>* */
static int do_ma(struct kv_proto *p, struct kv_conn *c,
		 const struct command *cmd, uint64_t now)
{
	uint64_t delta = 1, initial = 0, cas = 0, value;
	const struct token *mt;
	struct kv_item_ref it;
	int64_t vivify = 0, ttl = 0;
	bool incr = true;
	const char *err;
	struct meta m;
	char digits[24];
	int ret, len;

	if (cmd->n < 2)
		return reply(c, "ERROR");
	err = meta_parse(&m, cmd, 2, true);
	mflag_u64(&m, 'D', &delta);
	mflag_u64(&m, 'J', &initial);
	mflag_u64(&m, 'C', &cas);
	mflag_exptime(&m, 'N', &vivify);
	mflag_exptime(&m, 'T', &ttl);
	mt = mflag(&m, 'M');
	if (!err && mt) {
		switch (mt->len == 2 ? mt->s[1] : 0) {
		case 'I': case 'i': case '+': incr = true; break;
		case 'D': case 'd': case '-': incr = false; break;
		default: err = "CLIENT_ERROR invalid mode for ma M token";
		}
	}
	if (err)
		return reply(c, err);
	if (mflag(&m, 'C')) {
		ret = kv_store_get(p->store, m.key.s, m.key.len, now, &it);
		if (ret == KV_OK && it.cas != cas)
			return meta_status(c, &m, "EX", NULL, 0, now);
	}
	ret = kv_store_arith(p->store, m.key.s, m.key.len, incr, delta, now,
			     &value);
	if (ret == KV_NOT_FOUND && mflag(&m, 'N')) {
		/* Created with the initial value, as memcached does. */
		value = initial;
		len = snprintf(digits, sizeof(digits), "%" PRIu64, value);
		ret = kv_store_put(p->store, KV_ADD, m.key.s, m.key.len, 0,
				   expiry(vivify, now), digits, len, 0, now);
		if (ret == KV_NOT_STORED)
			ret = KV_NOT_FOUND;
	}
	if (ret == KV_NOT_FOUND)
		return meta_status(c, &m, "NF", NULL, 0, now);
	if (ret)
		return answer(c, ret, false, NULL);
	/* The item as it is now, for its cas and ttl. */
	ret = kv_store_get(p->store, m.key.s, m.key.len, now, &it);
	if (ret)
		return answer(c, ret == KV_NOT_FOUND ? -EBADMSG : ret, false,
			      NULL);
	if (!mflag(&m, 'v')) {
		ret = m.quiet ? 0 : meta_status(c, &m, "HD", &it, 0, now);
	} else {
		len = snprintf(digits, sizeof(digits), "%" PRIu64, value);
		ret = out_printf(c, "VA %d", len) ?:
		      meta_flags(c, &m, &it, 0, now) ?:
		      out_printf(c, "\r\n%s\r\n", digits);
	}
	/* As mg: the t flag showed the ttl before this T. */
	if (!ret && mflag(&m, 'T'))
		kv_store_touch(p->store, m.key.s, m.key.len, expiry(ttl, now),
			       now);
	return ret;
}

/*
 * me <key>: memcached's debug line for an item, read as memcached reads
 * it - neither marked fetched or used, nor counted a get (cmd_meta counts
 * it, as in memcached 1.6.18).  fetch= is the h mark; exp= the seconds
 * left, as memcached prints them since it stopped printing them negated
 * (1.6.18: -100 for an item with 100 s left); cls= and size= are kvcache's
 * own slab class and bytes.
 */
static int do_me(struct kv_proto *p, struct kv_conn *c,
		 const struct command *cmd, uint64_t now)
{
	struct kv_item_ref it;
	int ret;

	if (cmd->n != 2 || !key_ok(&cmd->tok[1]))
		return reply(c, BAD_FORMAT);
	p->cmd_meta++;
	ret = kv_store_peek(p->store, cmd->tok[1].s, cmd->tok[1].len, now, &it);
	if (ret == KV_NOT_FOUND)
		return reply(c, "EN");
	if (ret)
		return answer(c, ret, false, NULL);
	return out_printf(c, "ME %.*s exp=%" PRId64 " la=%" PRIu64 " cas=%"
			  PRIu64 " fetch=%s cls=%u size=%" PRIu32 "\r\n",
			  (int)it.nkey, it.key, ttl_left(it.exptime, now),
			  it.last_access && now > it.last_access ?
			  now - it.last_access : 0, it.cas,
			  meta_marks(p, it.cas) & META_FETCHED ? "yes" : "no",
			  it.slab_class + 1u, it.size);
}

/* ---- the binary protocol ---- */

#define BIN_REQ		0x80
#define BIN_RES		0x81
#define BIN_HDR		24

enum {
	BIN_OK = 0x00,
	BIN_ENOENT = 0x01,
	BIN_EEXISTS = 0x02,
	BIN_E2BIG = 0x03,
	BIN_EINVAL = 0x04,
	BIN_NOT_STORED = 0x05,
	BIN_DELTA_BADVAL = 0x06,
	BIN_UNKNOWN = 0x81,
	BIN_ENOMEM = 0x82,
	BIN_EINTERNAL = 0x84,
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	while (bytes--) {
		p[bytes] = (uint8_t)v;
		v >>= 8;
	}
}

static int bin_response(struct kv_conn *c, uint8_t opcode, uint16_t status,
			uint32_t opaque, uint64_t cas, const void *extras,
			uint8_t extlen, const void *key, uint16_t keylen,
			const void *value, uint32_t vlen)
{
	uint8_t h[BIN_HDR] = { BIN_RES, opcode };

	put_be(h + 2, keylen, 2);
	h[4] = extlen;
	put_be(h + 6, status, 2);
	put_be(h + 8, (uint64_t)extlen + keylen + vlen, 4);
	put_be(h + 12, opaque, 4);
	put_be(h + 16, cas, 8);
	return out_add(c, h, sizeof(h)) ?: out_add(c, extras, extlen) ?:
	       out_add(c, key, keylen) ?: out_add(c, value, vlen);
}

/* An error answer, with memcached's text as its value. */
static int bin_error(struct kv_conn *c, uint8_t opcode, uint32_t opaque,
		     int status)
{
	const char *text;

	switch (status) {
	case BIN_ENOENT: text = "Not found"; break;
	case BIN_EEXISTS: text = "Data exists for key."; break;
	case BIN_E2BIG: text = "Too large."; break;
	case BIN_EINVAL: text = "Invalid arguments"; break;
	case BIN_NOT_STORED: text = "Not stored."; break;
	case BIN_DELTA_BADVAL:
		text = "Non-numeric server-side value for incr or decr";
		break;
	case BIN_UNKNOWN: text = "Unknown command"; break;
	case BIN_ENOMEM: text = "Out of memory"; break;
	default: text = "Item store damaged"; break;
	}
	return bin_response(c, opcode, status, opaque, 0, NULL, 0, NULL, 0,
			    text, strlen(text));
}

/* A store result as a binary status. */
static int bin_status(int ret)
{
	switch (ret) {
	case KV_OK: return BIN_OK;
	case KV_NOT_STORED: return BIN_NOT_STORED;
	case KV_EXISTS: return BIN_EEXISTS;
	case KV_NOT_FOUND: return BIN_ENOENT;
	case -E2BIG: return BIN_E2BIG;
	case -ENOMEM: return BIN_ENOMEM;
	case -EDOM: return BIN_DELTA_BADVAL;
	case -EINVAL: return BIN_EINVAL;
	default: return BIN_EINTERNAL;
	}
}

/* One binary request, all of it in @buf: header @h, then the body. */
struct bin_req {
	uint8_t opcode;
	uint32_t opaque;
	uint64_t cas;
	const uint8_t *extras;
	uint8_t extlen;
	const char *key;
	uint16_t keylen;
	const uint8_t *value;
	uint32_t vlen;
};

static int bin_get(struct kv_proto *p, struct kv_conn *c,
		   const struct bin_req *r, bool quiet, bool with_key,
		   bool touch, uint64_t now)
{
	struct kv_item_ref it;
	uint8_t flags[4];
	int ret = KV_OK;

	if (touch) {
		if (r->extlen != 4 || r->vlen)
			return bin_error(c, r->opcode, r->opaque, BIN_EINVAL);
		p->cmd_touch++;
		ret = kv_store_touch(p->store, r->key, r->keylen,
				     expiry((int32_t)be32(r->extras), now), now);
		count_touch(p, ret);
	} else if (r->extlen || r->vlen) {
		return bin_error(c, r->opcode, r->opaque, BIN_EINVAL);
	}
	if (ret == KV_OK)
		ret = get_item(p, c, r->key, r->keylen, now, &it);
	if (ret == KV_NOT_FOUND && quiet)
		return 0;
	if (ret == KV_NOT_FOUND && with_key)
		return bin_response(c, r->opcode, BIN_ENOENT, r->opaque, 0,
				    NULL, 0, r->key, r->keylen, NULL, 0);
	if (ret)
		return bin_error(c, r->opcode, r->opaque, bin_status(ret));
	if (pending(c) + BIN_HDR + 4 + it.nkey + it.nbytes > KV_OUT_MAX)
		return bin_error(c, r->opcode, r->opaque, BIN_ENOMEM);
	put_be(flags, it.flags, 4);
	/* A touch answers the flags and cas, without the value. */
	return bin_response(c, r->opcode, BIN_OK, r->opaque, it.cas, flags, 4,
			    with_key ? it.key : NULL, with_key ? it.nkey : 0,
			    r->opcode == 0x1c ? NULL : it.data,
			    r->opcode == 0x1c ? 0 : it.nbytes);
}

static int bin_store(struct kv_proto *p, struct kv_conn *c,
		     const struct bin_req *r, enum kv_mode mode, bool quiet,
		     uint64_t now)
{
	bool concat = mode == KV_APPEND || mode == KV_PREPEND;
	uint32_t flags = 0;
	int64_t exptime = 0;
	int ret;

	if (concat ? r->extlen != 0 : r->extlen != 8)
		return bin_error(c, r->opcode, r->opaque, BIN_EINVAL);
	if (!concat) {
		flags = be32(r->extras);
		exptime = (int32_t)be32(r->extras + 4);
	}
	ret = kv_store_put(p->store, mode, r->key, r->keylen, flags,
			   expiry(exptime, now), r->value, r->vlen, r->cas, now);
	if ((ret == -E2BIG || ret == -ENOMEM) && mode == KV_SET)
		kv_store_delete(p->store, r->key, r->keylen, now);
	/* A set or add with no item to compare against: memcached's answers. */
	if (ret == KV_NOT_STORED && mode == KV_ADD)
		ret = KV_EXISTS;
	if (ret == KV_NOT_STORED && mode == KV_REPLACE)
		ret = KV_NOT_FOUND;
	if (ret == KV_OK)
		return quiet ? 0 : bin_response(c, r->opcode, BIN_OK, r->opaque,
						p->store->last_cas, NULL, 0,
						NULL, 0, NULL, 0);
	return bin_error(c, r->opcode, r->opaque, bin_status(ret));
}

static int bin_arith(struct kv_proto *p, struct kv_conn *c,
		     const struct bin_req *r, bool incr, bool quiet,
		     uint64_t now)
{
	uint64_t delta, initial, value;
	uint32_t exptime;
	uint8_t body[8];
	char digits[24];
	int ret, len;

	if (r->extlen != 20 || r->vlen)
		return bin_error(c, r->opcode, r->opaque, BIN_EINVAL);
	delta = be64(r->extras);
	initial = be64(r->extras + 8);
	exptime = be32(r->extras + 16);
	if (r->cas) {
		struct kv_item_ref it;

		ret = kv_store_get(p->store, r->key, r->keylen, now, &it);
		if (ret == KV_OK && it.cas != r->cas)
			return bin_error(c, r->opcode, r->opaque, BIN_EEXISTS);
	}
	ret = kv_store_arith(p->store, r->key, r->keylen, incr, delta, now,
			     &value);
	/* Missing: created with the initial value unless exptime is all ones. */
	if (ret == KV_NOT_FOUND && exptime != UINT32_MAX) {
		value = initial;
		len = snprintf(digits, sizeof(digits), "%" PRIu64, value);
		ret = kv_store_put(p->store, KV_ADD, r->key, r->keylen, 0,
				   expiry((int32_t)exptime, now), digits, len, 0,
				   now);
		if (ret == KV_NOT_STORED)
			ret = KV_NOT_FOUND;
	}
	if (ret)
		return bin_error(c, r->opcode, r->opaque, bin_status(ret));
	if (quiet)
		return 0;
	put_be(body, value, 8);
	return bin_response(c, r->opcode, BIN_OK, r->opaque, p->store->last_cas,
			    NULL, 0, NULL, 0, body, 8);
}

static int bin_stat(struct kv_proto *p, struct kv_conn *c,
		    const struct bin_req *r, uint64_t now)
{
	struct stats_out o = { .c = c, .binary = true, .opaque = r->opaque };
	struct token group = { r->key, r->keylen };
	size_t mark = c->out_len;
	int ret;

	if (r->keylen && tok_is(&group, "reset")) {
		stats_reset(p);
		ret = 0;
	} else {
		ret = stats_group(p, &o, r->keylen ? &group : NULL, now);
	}
	if (ret == 1) {
		c->out_len = mark;
		return bin_error(c, r->opcode, r->opaque, BIN_ENOENT);
	}
	return ret ?: bin_response(c, r->opcode, BIN_OK, r->opaque, 0, NULL, 0,
				   NULL, 0, NULL, 0);
}

/* Execute one complete request.  Return 0 or -ENOMEM. */
/* The storage opcodes: each, its quiet twin, and what it stores as. */
static const struct {
	uint8_t op, quiet;
	enum kv_mode mode;
} bin_stores[] = {
	{ 0x01, 0x11, KV_SET },
	{ 0x02, 0x12, KV_ADD },
	{ 0x03, 0x13, KV_REPLACE },
	{ 0x0e, 0x19, KV_APPEND },
	{ 0x0f, 0x1a, KV_PREPEND },
};

static int bin_dispatch(struct kv_proto *p, struct kv_conn *c,
			const struct bin_req *r, uint64_t now)
{
	uint8_t op = r->opcode;
	bool has_key = r->keylen > 0;
	int ret;

	for (size_t i = 0; i < sizeof(bin_stores) / sizeof(bin_stores[0]); i++)
		if (op == bin_stores[i].op || op == bin_stores[i].quiet)
			return has_key ? bin_store(p, c, r, bin_stores[i].mode,
						   op == bin_stores[i].quiet, now) :
			       bin_error(c, op, r->opaque, BIN_EINVAL);
	switch (op) {
	case 0x00: case 0x09: case 0x0c: case 0x0d:	/* get, q, k, kq */
		if (!has_key)
			break;
		return bin_get(p, c, r, op == 0x09 || op == 0x0d,
			       op == 0x0c || op == 0x0d, false, now);
	case 0x1c: case 0x1d: case 0x1e: case 0x23: case 0x24:
		/* touch, gat, gatq, gatk, gatkq */
		if (!has_key)
			break;
		return bin_get(p, c, r, op == 0x1e || op == 0x24,
			       op == 0x23 || op == 0x24, true, now);
	case 0x04: case 0x14: {				/* delete, deleteq */
		if (!has_key || r->extlen || r->vlen)
			break;
		if (r->cas) {
			struct kv_item_ref it;

			ret = kv_store_get(p->store, r->key, r->keylen, now, &it);
			if (ret == KV_OK && it.cas != r->cas)
				return bin_error(c, op, r->opaque, BIN_EEXISTS);
		}
		ret = kv_store_delete(p->store, r->key, r->keylen, now);
		if (ret == KV_OK)
			return op == 0x14 ? 0 :
			       bin_response(c, op, BIN_OK, r->opaque, 0, NULL, 0,
					    NULL, 0, NULL, 0);
		return bin_error(c, op, r->opaque, bin_status(ret));
	}
	case 0x05: case 0x15: case 0x06: case 0x16:	/* incr, decr (q) */
		if (!has_key)
			break;
		return bin_arith(p, c, r, op == 0x05 || op == 0x15,
				 op == 0x15 || op == 0x16, now);
	case 0x07: case 0x17:				/* quit, quitq */
		if (has_key || r->extlen || r->vlen)
			break;
		c->closing = true;
		return op == 0x17 ? 0 : bin_response(c, op, BIN_OK, r->opaque, 0,
						     NULL, 0, NULL, 0, NULL, 0);
	case 0x08: case 0x18: {				/* flush, flushq */
		int64_t delay = 0;

		if (has_key || r->vlen || (r->extlen && r->extlen != 4))
			break;
		if (r->extlen)
			delay = (int32_t)be32(r->extras);
		p->cmd_flush++;
		if (delay > 0) {
			p->flush_at = expiry(delay, now);
		} else {
			p->flush_at = 0;
			if (kv_store_flush(p->store))
				return bin_error(c, op, r->opaque, BIN_EINTERNAL);
		}
		return op == 0x18 ? 0 : bin_response(c, op, BIN_OK, r->opaque, 0,
						     NULL, 0, NULL, 0, NULL, 0);
	}
	case 0x0a:					/* noop */
		return bin_response(c, op, BIN_OK, r->opaque, 0, NULL, 0, NULL,
				    0, NULL, 0);
	case 0x0b:					/* version */
		return bin_response(c, op, BIN_OK, r->opaque, 0, NULL, 0, NULL,
				    0, p->version, strlen(p->version));
	case 0x10:					/* stat */
		return bin_stat(p, c, r, now);
	case 0x1b:					/* verbosity */
		if (r->extlen != 4 || has_key || r->vlen)
			break;
		p->verbosity = be32(r->extras);
		return bin_response(c, op, BIN_OK, r->opaque, 0, NULL, 0, NULL,
				    0, NULL, 0);
	default:
		/* SASL among them: memcached without SASL does not know it. */
		return bin_error(c, op, r->opaque, BIN_UNKNOWN);
	}
	return bin_error(c, op, r->opaque, BIN_EINVAL);
}

/*
 * The binary request at the start of @buf.  Return: bytes consumed; 0 when
 * it is not all there (@c->need is set); -ENOMEM.
 */
static long execute_binary(struct kv_proto *p, struct kv_conn *c,
			   const uint8_t *buf, size_t avail, uint64_t now)
{
	struct bin_req r;
	uint32_t body;
	int ret;

	if (avail < BIN_HDR) {
		c->need = BIN_HDR;
		return 0;
	}
	r.opcode = buf[1];
	r.keylen = be16(buf + 2);
	r.extlen = buf[4];
	body = be32(buf + 8);
	r.opaque = be32(buf + 12);
	r.cas = be64(buf + 16);
	/* Framing that cannot be right: where the next request starts is
	 * unknowable, so the connection ends, as memcached ends it. */
	if ((uint64_t)r.keylen + r.extlen > body) {
		c->closing = true;
		return bin_error(c, r.opcode, r.opaque, BIN_EINVAL) ?:
		       (long)avail;
	}
	r.vlen = body - r.keylen - r.extlen;
	if (r.keylen > KV_KEY_MAX || r.vlen > KV_VALUE_MAX) {
		/* Answered, and the body discarded as it comes. */
		c->swallow = body;
		return bin_error(c, r.opcode, r.opaque, r.keylen > KV_KEY_MAX ?
				 BIN_EINVAL : BIN_E2BIG) ?: BIN_HDR;
	}
	if (avail < BIN_HDR + (size_t)body) {
		c->need = BIN_HDR + (size_t)body;
		return 0;
	}
	r.extras = buf + BIN_HDR;
	r.key = (const char *)r.extras + r.extlen;
	r.value = (const uint8_t *)r.key + r.keylen;
	/* get, getq, getk, getkq: beside other gets. */
	hold(p, c, r.opcode == 0x00 || r.opcode == 0x09 || r.opcode == 0x0c ||
		   r.opcode == 0x0d ? KV_SHARED : KV_EXCLUSIVE);
	flush_due(p, c, now);
	ret = bin_dispatch(p, c, &r, now);
	return ret ? ret : (long)(BIN_HDR + body);
}

/* ---- dispatch ---- */

/*
 * Execute the command at the start of @buf (@avail bytes).  Return: bytes
 * consumed; 0 when it is not all there (@c->need is set); -ENOMEM.
 */
/* The text storage commands, and how each stores. */
static const struct {
	const char *verb;
	enum kv_mode mode;
} storage[] = {
	{ "set", KV_SET }, { "add", KV_ADD }, { "replace", KV_REPLACE },
	{ "append", KV_APPEND }, { "prepend", KV_PREPEND }, { "cas", KV_CAS },
};

static long execute(struct kv_proto *p, struct kv_conn *c, const uint8_t *buf,
		    size_t avail, uint64_t now)
{
	const uint8_t *eol;
	const struct token *verb;
	struct command cmd;
	size_t line, len;
	bool get, shared;
	int ret;

	if (buf[0] == BIN_REQ)
		return execute_binary(p, c, buf, avail, now);
	eol = memchr(buf, '\n', avail < KV_LINE_MAX ? avail : KV_LINE_MAX);
	if (!eol) {
		if (avail < KV_LINE_MAX) {
			c->need = avail + 1;
			return 0;
		}
		/* Where the next command starts is unknowable. */
		c->closing = true;
		return reply(c, "CLIENT_ERROR line too long") ?: (long)avail;
	}
	line = eol - buf + 1;
	len = line - 1;
	if (len && buf[len - 1] == '\r')
		len--;
	tokenize((const char *)buf, len, &cmd);
	verb = &cmd.tok[0];
	get = cmd.n && (tok_is(verb, "get") || tok_is(verb, "gets"));
	/* With the store's stripes, delete takes its key's (do_delete()). */
	shared = get || (p->store->locks && cmd.n && tok_is(verb, "delete"));
	/* The storage commands hold the store once their data block is all
	 * there (data_block()); every other command from here. */
	for (size_t i = 0; cmd.n && !get && i < sizeof(storage) / sizeof(*storage); i++)
		if (tok_is(verb, storage[i].verb))
			return do_update(p, c, &cmd, storage[i].mode, buf, line,
					 avail, now);
	if (cmd.n && tok_is(verb, "ms"))
		return do_ms(p, c, &cmd, buf, line, avail, now);
	hold(p, c, shared ? KV_SHARED : KV_EXCLUSIVE);
	flush_due(p, c, now);

	if (!cmd.n)
		ret = reply(c, "ERROR");
	else if (tok_is(verb, "get") || tok_is(verb, "gets"))
		ret = do_get(p, c, &cmd, verb->len == 4, false, now);
	else if (tok_is(verb, "gat") || tok_is(verb, "gats"))
		ret = do_get(p, c, &cmd, verb->len == 4, true, now);
	else if (tok_is(verb, "mg"))
		ret = do_mg(p, c, &cmd, now);
	else if (tok_is(verb, "delete"))
		ret = do_delete(p, c, &cmd, now);
	else if (tok_is(verb, "md"))
		ret = do_md(p, c, &cmd, now);
	else if (tok_is(verb, "incr") || tok_is(verb, "decr"))
		ret = do_arith(p, c, &cmd, verb->s[0] == 'i', now);
	else if (tok_is(verb, "ma"))
		ret = do_ma(p, c, &cmd, now);
	else if (tok_is(verb, "touch"))
		ret = do_touch(p, c, &cmd, now);
	else if (tok_is(verb, "mn"))
		ret = reply(c, "MN");
	else if (tok_is(verb, "me"))
		ret = do_me(p, c, &cmd, now);
	else if (tok_is(verb, "stats"))
		ret = do_stats(p, c, &cmd, now);
	else if (tok_is(verb, "flush_all"))
		ret = do_flush(p, c, &cmd, now);
	else if (tok_is(verb, "verbosity"))
		ret = do_verbosity(p, c, &cmd);
	/* memcached 1.6 answers version whatever follows, and quits so. */
	else if (tok_is(verb, "version"))
		ret = out_printf(c, "VERSION %s\r\n", p->version);
	else if (tok_is(verb, "quit"))
		ret = 0, c->closing = true;
	else if (tok_is(verb, "shutdown"))
		ret = reply(c, "ERROR: shutdown not enabled");
	else
		ret = reply(c, "ERROR");
	return ret ? ret : (long)line;
}

int kv_conn_process(struct kv_proto *p, struct kv_conn *c, uint64_t now)
{
	size_t pos = 0;
	long ret = 0;

	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, pending(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	while (!c->closing && c->out_len < KV_OUT_HIGH && pos < c->in_len) {
		size_t avail = c->in_len - pos;

		if (c->swallow) {
			size_t n = c->swallow < avail ? c->swallow : avail;

			pos += n;
			c->swallow -= n;
			continue;
		}
		if (avail < c->need)
			break;
		ret = execute(p, c, c->in + pos, avail, now);
		hold(p, c, KV_UNLOCKED);
		if (ret <= 0)
			break;
		pos += ret;
		c->need = 0;
	}
	/* After quit, or a line too long, nothing more is executed. */
	if (c->closing)
		pos = c->in_len;
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	return ret < 0 ? (int)ret : 0;
}

static int in_grow(struct kv_conn *c, size_t len)
{
	size_t cap = c->in_cap ? c->in_cap : 16384;
	uint8_t *in;

	if (len <= c->in_cap)
		return 0;
	while (cap < len)
		cap *= 2;
	if (cap > KV_IN_MAX)
		cap = KV_IN_MAX;
	in = realloc(c->in, cap);
	if (!in)
		return -ENOMEM;
	c->in = in;
	c->in_cap = cap;
	return 0;
}

int kv_conn_restore(struct kv_conn *c, const struct kv_conn_state *s)
{
	memset(c, 0, sizeof(*c));
	if (!s)
		return 0;
	if (s->in_len > KV_IN_MAX || s->out_len > KV_OUT_MAX)
		return -EINVAL;
	if (in_grow(c, s->in_len) || out_add(c, s->out, s->out_len)) {
		kv_conn_release(c);
		return -ENOMEM;
	}
	if (s->in_len)
		memcpy(c->in, s->in, s->in_len);
	c->in_len = s->in_len;
	c->swallow = s->swallow;
	c->closing = s->closing;
	return 0;
}

void kv_conn_save(const struct kv_conn *c, struct kv_conn_state *s)
{
	s->in = c->in;
	s->in_len = c->in_len;
	s->out_len = pending(c);
	s->out = s->out_len ? c->out + c->out_off : NULL;
	s->swallow = c->swallow;
	s->closing = c->closing;
}

void kv_conn_release(struct kv_conn *c)
{
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

size_t kv_conn_room(const struct kv_conn *c)
{
	if (c->closing || pending(c) >= KV_OUT_HIGH)
		return 0;
	return KV_IN_MAX - c->in_len;
}

int kv_conn_input(struct kv_conn *c, const void *data, size_t len)
{
	int ret;

	if (len > kv_conn_room(c))
		return -EINVAL;
	ret = in_grow(c, c->in_len + len);
	if (ret || !len)
		return ret;
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return 0;
}

const void *kv_conn_output(const struct kv_conn *c, size_t *len)
{
	*len = pending(c);
	return *len ? c->out + c->out_off : NULL;
}

void kv_conn_sent(struct kv_conn *c, size_t n)
{
	c->out_off += n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

bool kv_conn_finished(const struct kv_conn *c)
{
	return c->closing && !pending(c);
}
