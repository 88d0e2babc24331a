// SPDX-License-Identifier: MIT
/**
 * DOC: kvcache protocol: parsing and answering
 *
 * kv_conn_process() looks at the input from its start: a command line,
 * split on spaces as memcached splits it, and for a storage command the
 * data block after it.  A command that is not all there yet is left in the
 * input, and @need records how many bytes it takes, so that a large data
 * block arriving in many reads is parsed once.  Executed commands are
 * dropped from the input when the call returns.
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
#include <unistd.h>

#include "protocol.h"

#define KV_TOKENS_MAX	8	/* the most any command but get takes */
#define KV_REL_MAX	(60 * 60 * 24 * 30)	/* exptime: relative up to 30 days */

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

/* Keys: 1 to 250 bytes, no control characters, no whitespace. */
static bool key_ok(const struct token *t)
{
	if (!t->len || t->len > KV_KEY_MAX)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if ((uint8_t)t->s[i] <= ' ' || t->s[i] == 0x7f)
			return false;
	return true;
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

static int reply(struct kv_conn *c, const char *line)
{
	return out_printf(c, "%s\r\n", line);
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

static int do_get(struct kv_proto *p, struct kv_conn *c,
		  const struct command *cmd, bool with_cas, uint64_t now)
{
	const char *s = cmd->tok[0].s + cmd->tok[0].len;
	size_t mark = c->out_len;
	struct kv_item_ref it;
	struct token key;
	int ret;

	if (cmd->n < 2)
		return reply(c, "ERROR");
	while (next_token(&s, cmd->end, &key)) {
		char head[320];
		int len;

		if (!key_ok(&key)) {
			c->out_len = mark;
			return reply(c, BAD_FORMAT);
		}
		ret = kv_store_get(p->store, key.s, key.len, now, &it);
		if (ret == KV_NOT_FOUND)
			continue;
		if (ret) {
			c->out_len = mark;
			return answer(c, ret, false, NULL);
		}
		len = snprintf(head, sizeof(head), "VALUE %.*s %" PRIu32 " %"
			       PRIu32, (int)it.nkey, it.key, it.flags, it.nbytes);
		if (with_cas)
			len += snprintf(head + len, sizeof(head) - len, " %"
					PRIu64, it.cas);
		len += snprintf(head + len, sizeof(head) - len, "\r\n");
		/* Room for this item and for the final END. */
		if (pending(c) + len + it.nbytes + 2 + 5 > KV_OUT_MAX) {
			c->out_len = mark;
			return reply(c, "SERVER_ERROR out of memory writing "
				     "get response");
		}
		ret = out_add(c, head, len);
		if (!ret)
			ret = out_add(c, it.data, it.nbytes);
		if (!ret)
			ret = out_add(c, "\r\n", 2);
		if (ret)
			return ret;
	}
	return reply(c, "END");
}

/*
 * set, add, cas.  Return: bytes consumed; 0 when the data block is not all
 * there (@c->need says how much is); -ENOMEM.
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
	const uint8_t *data = buf + line;
	int64_t exptime;
	size_t used;
	int ret;

	if (cmd->n != want && !noreply)
		return reply(c, "ERROR") ?: (long)line;
	if (!parse_u64(&cmd->tok[4], INT32_MAX, &bytes))
		return reply(c, BAD_FORMAT) ?: (long)line;
	if (!key_ok(key) || !parse_u64(&cmd->tok[2], UINT32_MAX, &flags) ||
	    !parse_exptime(&cmd->tok[3], &exptime) ||
	    (mode == KV_CAS && !parse_u64(&cmd->tok[5], UINT64_MAX, &cas))) {
		c->swallow = bytes + 2;
		return reply(c, BAD_FORMAT) ?: (long)line;
	}
	if (bytes > KV_VALUE_MAX) {
		/* The block is never buffered: it is discarded as it comes. */
		c->swallow = bytes + 2;
		used = line;
		ret = -E2BIG;
	} else if (avail < line + bytes + 2) {
		c->need = line + bytes + 2;
		return 0;
	} else if (data[bytes] != '\r' || data[bytes + 1] != '\n') {
		return reply(c, "CLIENT_ERROR bad data chunk") ?:
		       (long)(line + bytes + 2);
	} else {
		used = line + bytes + 2;
		ret = kv_store_put(p->store, mode, key->s, key->len, flags,
				   expiry(exptime, now), data, bytes, cas, now);
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

	if (cmd->n < 2)
		return reply(c, "ERROR");
	/* "delete <key> 0" is the old form with a hold time, still accepted. */
	if (!(cmd->n == 2 || (cmd->n == 3 && (zero || noreply)) ||
	      (cmd->n == 4 && zero && noreply)))
		return reply(c, "CLIENT_ERROR bad command line format.  "
			     "Usage: delete <key> [noreply]");
	if (!key_ok(&cmd->tok[1]))
		return reply(c, BAD_FORMAT);
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

struct stat_line {
	const char *name;
	uint64_t value;
};

static int do_stats(struct kv_proto *p, struct kv_conn *c, uint64_t now)
{
	struct kv_stats s;
	int ret;

	kv_store_stats(p->store, &s);
	const struct stat_line lines[] = {
		{ "pid", (uint64_t)getpid() },
		{ "uptime", now - p->started },
		{ "time", now },
		{ "pointer_size", sizeof(void *) * 8 },
		{ "curr_connections", p->curr_conns },
		{ "total_connections", p->total_conns },
		{ "cmd_get", s.get_hits + s.get_misses },
		{ "cmd_set", s.cmd_set },
		{ "get_hits", s.get_hits },
		{ "get_misses", s.get_misses },
		{ "delete_misses", s.delete_misses },
		{ "delete_hits", s.delete_hits },
		{ "incr_misses", s.incr_misses },
		{ "incr_hits", s.incr_hits },
		{ "decr_misses", s.decr_misses },
		{ "decr_hits", s.decr_hits },
		{ "cas_misses", s.cas_misses },
		{ "cas_hits", s.cas_hits },
		{ "cas_badval", s.cas_badval },
		{ "limit_maxbytes", s.limit_maxbytes },
		{ "threads", 1 },
		{ "bytes", s.bytes },
		{ "curr_items", s.curr_items },
		{ "total_items", s.total_items },
		{ "evictions", s.evictions },
		{ "reclaimed", s.reclaimed },
	};

	ret = out_printf(c, "STAT version %s\r\n", p->version);
	for (size_t i = 0; !ret && i < sizeof(lines) / sizeof(lines[0]); i++)
		ret = out_printf(c, "STAT %s %" PRIu64 "\r\n", lines[i].name,
				 lines[i].value);
	return ret ? ret : reply(c, "END");
}

/*
 * Execute the command at the start of @buf (@avail bytes).  Return: bytes
 * consumed; 0 when it is not all there (@c->need is set); -ENOMEM.
 */
static long execute(struct kv_proto *p, struct kv_conn *c, const uint8_t *buf,
		    size_t avail, uint64_t now)
{
	const uint8_t *eol = memchr(buf, '\n',
				    avail < KV_LINE_MAX ? avail : KV_LINE_MAX);
	const struct token *verb;
	struct command cmd;
	size_t line, len;
	int ret;

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

	if (!cmd.n)
		ret = reply(c, "ERROR");
	else if (tok_is(verb, "get") || tok_is(verb, "gets"))
		ret = do_get(p, c, &cmd, verb->len == 4, now);
	else if (tok_is(verb, "set") && cmd.n >= 5)
		return do_update(p, c, &cmd, KV_SET, buf, line, avail, now);
	else if (tok_is(verb, "add") && cmd.n >= 5)
		return do_update(p, c, &cmd, KV_ADD, buf, line, avail, now);
	else if (tok_is(verb, "cas") && cmd.n >= 6)
		return do_update(p, c, &cmd, KV_CAS, buf, line, avail, now);
	else if (tok_is(verb, "delete"))
		ret = do_delete(p, c, &cmd, now);
	else if (tok_is(verb, "incr") || tok_is(verb, "decr"))
		ret = do_arith(p, c, &cmd, verb->s[0] == 'i', now);
	else if (tok_is(verb, "stats") && cmd.n == 1)
		ret = do_stats(p, c, now);
	else if (tok_is(verb, "version") && cmd.n == 1)
		ret = out_printf(c, "VERSION %s\r\n", p->version);
	else if (tok_is(verb, "quit") && cmd.n == 1)
		ret = 0, c->closing = true;
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
