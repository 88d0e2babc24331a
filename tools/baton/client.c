// SPDX-License-Identifier: MIT
/*
 * Asking a Unix socket one thing: a program's control socket
 * (docs/control-protocol.md) or devsim's status socket (docs/devsim.md).
 * Both answer a request line with one line of JSON.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

int cli_read_line(int fd, int timeout_ms, char *buf, size_t len)
{
	size_t got = 0;

	buf[0] = '\0';
	while (got < len - 1 && !memchr(buf, '\n', got)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return 1;
}

/*
 * An answer grows with the program: a status or an update lists every
 * device, so a host with a thousand devices answers in hundreds of KiB.
 * Read up to the newline, growing, within ANSWER_MAX.
 */
#define ANSWER_MAX (64u << 20)

/* 1 and the line in *@out, 0 closed first, -1 no data for @timeout_ms,
 * -EFBIG beyond ANSWER_MAX, -ENOMEM. */
static int read_answer(int fd, int timeout_ms, char **out)
{
	size_t got = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (got + 1 >= cap) {
			char *grown;

			if (cap >= ANSWER_MAX) {
				free(buf);
				return -EFBIG;
			}
			cap = cap ? 2 * cap : 1 << 16;
			grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				return -ENOMEM;
			}
			buf = grown;
		}
		if (poll(&p, 1, timeout_ms) != 1) {
			free(buf);
			return -1;
		}
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return 0;
		}
		if (memchr(buf + got, '\n', (size_t)n)) {
			buf[got + (size_t)n] = '\0';
			*out = buf;
			return 1;
		}
		got += (size_t)n;
	}
}

int cli_ask(const char *path, const char *request, int timeout_ms,
	    json_object **answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL;
	int fd, got, err = 0, send_err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cli_failf(path, "socket path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = cli_failf(path, "cannot connect: %s", strerror(errno));
		goto out;
	}
	/* A program that died must not take us with it: no SIGPIPE. */
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		send_err = errno;
	/*
	 * Read even when the send failed: a server that refuses a client may
	 * answer and close without reading (EPIPE here), and its answer says
	 * why.  The send's error only when no answer came.
	 */
	got = read_answer(fd, timeout_ms, &buf);
	if (got != 1 && send_err)
		err = cli_failf(path, "cannot send: %s", strerror(send_err));
	else if (got == -EFBIG)
		err = cli_failf(path, "the answer is longer than %u MiB", ANSWER_MAX >> 20);
	else if (got < 0)
		err = cli_failf(path, got == -ENOMEM ? "out of memory" :
				"no answer within %d ms", timeout_ms);
	else if (got == 0)
		err = cli_failf(path, "the program closed the connection without an answer");
	if (err)
		goto out;
	*answer = cli_parse_untrusted(buf);
	if (!*answer)
		err = cli_failf(path, "the answer is not JSON");
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

int cli_ask_json(const char *path, json_object *request, int timeout_ms,
		 json_object **answer)
{
	return cli_ask(path, json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN),
		       timeout_ms, answer);
}

/*
 * The length of the character at @s, @left bytes on (1 for a byte that is
 * not UTF-8: a stray continuation byte, an overlong form, a surrogate, a
 * sequence cut short), and whether it prints: not a control character -
 * C0, DEL, or C1 (U+0080-U+009F, which some terminals obey as they do ESC
 * sequences: U+009B is CSI).
 */
static size_t char_at(const unsigned char *s, size_t left, bool *prints)
{
	uint32_t cp;
	size_t n;

	*prints = false;
	if (s[0] < 0x80) {
		*prints = s[0] >= 0x20 && s[0] != 0x7f;
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 1;
	if (n > left)
		return 1;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 1;
	*prints = cp >= 0xa0;
	return n;
}

/*
 * Every string in @o, recursively, each character that does not print
 * made one '?': what a program says reaches the operator's terminal.
 */
static void clean_strings(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const unsigned char *s = (const unsigned char *)json_object_get_string(o);
		size_t len = (size_t)json_object_get_string_len(o), i = 0, n, out;
		unsigned char *c;
		bool prints = true;

		for (; i < len; i += n) {
			n = char_at(s + i, len - i, &prints);
			if (!prints)
				break;
		}
		/* Not strndup(): a string may hold a NUL (\u0000) before its end. */
		if (i == len || !(c = malloc(len + 1)))
			return;
		memcpy(c, s, i);
		for (out = i; i < len; i += n) {
			n = char_at(s + i, len - i, &prints);
			if (prints) {
				memcpy(c + out, s + i, n);
				out += n;
			} else {
				c[out++] = '?';
			}
		}
		c[out] = '\0';
		json_object_set_string_len(o, (const char *)c, (int)out);
		free(c);
		return;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			clean_strings(json_object_array_get_idx(o, i));
		return;
	case json_type_object: {
		json_object_object_foreach(o, key, v) {
			(void)key;
			clean_strings(v);
		}
		return;
	}
	default:
		return;
	}
}

json_object *cli_parse_untrusted(const char *text)
{
	json_object *o = json_tokener_parse(text);

	if (o)
		clean_strings(o);
	return o;
}

const char *cli_json_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

json_object *cli_json_member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}
