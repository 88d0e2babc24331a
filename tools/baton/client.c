// SPDX-License-Identifier: MIT
/*
 * Asking a Unix socket one thing: a program's control socket
 * (docs/control-protocol.md) or devsim's status socket (docs/devsim.md).
 * Both answer a request line with one line of JSON.
 */
#include <errno.h>
#include <poll.h>
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

static bool is_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/* Control characters out of every string in @o, recursively. */
static void clean_strings(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const char *s = json_object_get_string(o);
		int len = json_object_get_string_len(o), i = 0;
		char *c;

		while (i < len && !is_control(s[i]))
			i++;
		/* Not strndup(): a string may hold a NUL (\u0000) before its end. */
		if (i == len || !(c = malloc((size_t)len + 1)))
			return;
		memcpy(c, s, (size_t)len + 1);
		for (; i < len; i++)
			if (is_control(c[i]))
				c[i] = '?';
		json_object_set_string_len(o, c, len);
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
