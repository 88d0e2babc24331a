// SPDX-License-Identifier: MIT
/*
 * The control socket's server (lib/host/control.c), in one process: the
 * test is the client and runs the host's loop itself.  A request too long
 * is answered so; fds a client sends along are closed, not kept; a line
 * that is not a request gets an error; status answers; an update the
 * program's prepare hook refuses tells the client why, in the program's
 * words, bounded and cleaned (baton_host_refuse()).
 *
 * Every wait is bounded (WAIT_MS) and says what it waited for.  The
 * program is linked with tests/drivers' v2 set, as programs have drivers.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <baton/baton.h>

#include "count_fds.h"
#include "internal.h"

#define WAIT_MS 5000

struct server {
	char dir[64];
	char path[96];
	struct baton_host *host;
};

/* The prepare hook of the refusal tests: what it says, and returns. */
static const char *refusal;
static int refusal_err;

static int refuse(struct baton_host *host, void *arg)
{
	(void)arg;
	if (refusal) {
		/* The first reason counts. */
		assert_int_equal(baton_host_refuse(host, "%s", refusal), -BATON_ERR_REFUSED);
		assert_int_equal(baton_host_refuse(host, "a second reason"), -BATON_ERR_REFUSED);
	}
	return refusal_err;
}

static int setup(void **state)
{
	const struct baton_host_opts opts = {
		.program = "test_control_socket",
		.prepare = refuse,
	};
	struct server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	clearenv();
	snprintf(s->dir, sizeof(s->dir), "/tmp/test_control_socket.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/ctl", s->dir);
	assert_int_equal(baton_host_create(&opts, &s->host), 0);
	assert_int_equal(baton_host_listen(s->host, s->path), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;

	baton_host_destroy(s->host);
	rmdir(s->dir);
	free(s);
	return 0;
}

static int client(const struct server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * Send @len bytes of @data (with @n_fds fds along the first part) while
 * running the host's loop, then read one answer line into @out; fails,
 * saying so, when the program does not answer within WAIT_MS.
 */
static void ask(const struct server *s, int fd, const char *data, size_t len,
		const int *fds, size_t n_fds, char *out, size_t out_len,
		const char *what)
{
	size_t sent = 0, got = 0;

	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		struct pollfd p[2] = {
			{ .fd = baton_host_fd(s->host), .events = POLLIN },
			{ .fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0) },
		};

		assert_true(poll(p, 2, 10) >= 0);
		if (p[0].revents)
			assert_int_equal(baton_host_dispatch(s->host), 0);
		if (sent < len && (p[1].revents & POLLOUT)) {
			char control[CMSG_SPACE(sizeof(int) * 8)];
			struct iovec iov = { (char *)data + sent, len - sent };
			struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
			ssize_t put;

			if (!sent && n_fds)
				baton_scm_attach_fds(&msg, control, fds, n_fds);
			put = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (put > 0)
				sent += (size_t)put;
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = recv(fd, out + got, out_len - 1 - got, MSG_DONTWAIT);

			if (n <= 0)
				fail_msg("%s: the program closed the connection without an answer",
					 what);
			got += (size_t)n;
			out[got] = '\0';
			if (strchr(out, '\n'))
				return;
		}
	}
	fail_msg("%s: no answer within %d ms (%zu of %zu bytes sent)", what, WAIT_MS,
		 sent, len);
}

static void test_status(void **state)
{
	const struct server *s = *state;
	char out[4096];
	int fd = client(s);

	ask(s, fd, "{\"cmd\":\"status\"}\n", 17, NULL, 0, out, sizeof(out), "status");
	assert_non_null(strstr(out, "\"program\":\"test_control_socket\""));
	close(fd);
}

static void test_not_a_request(void **state)
{
	const struct server *s = *state;
	char out[4096];
	int fd = client(s);

	ask(s, fd, "status\n", 7, NULL, 0, out, sizeof(out), "garbage");
	assert_string_equal(out, "{\"error\":\"expected one JSON object with \\\"cmd\\\" on a line\"}\n");
	close(fd);
}

static void test_too_long(void **state)
{
	const struct server *s = *state;
	size_t len = (64 << 10) + 4096;	/* more than a request may be */
	char *line = malloc(len), out[4096];
	int fd = client(s);

	assert_non_null(line);
	memset(line, ' ', len);
	ask(s, fd, line, len, NULL, 0, out, sizeof(out), "a line of 68 KiB");
	assert_string_equal(out, "{\"error\":\"request too long\"}\n");
	free(line);
	close(fd);
}

static void test_fds_closed(void **state)
{
	const struct server *s = *state;
	int fd = client(s), p[2], before;
	char out[4096];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	before = count_fds();
	/* The program is this process: what it keeps shows in our fd table. */
	ask(s, fd, "{\"cmd\":\"status\"}\n", 17, p, 2, out, sizeof(out), "status with 2 fds");
	if (count_fds() != before)
		fail_msg("the fds sent with a request were kept: %d more open",
			 count_fds() - before);
	close(p[0]);
	close(p[1]);
	close(fd);
}

/* An update of this program to itself, which its prepare hook refuses. */
static void refused(const struct server *s, const char *why, int err, char *out,
		    size_t out_len)
{
	char *self = realpath("/proc/self/exe", NULL), req[4096];
	int fd = client(s);

	assert_non_null(self);
	/*
	 * Socket mode: an exec-mode update starts the holder of the address
	 * space (mm.c) before the prepare hook, a clone(CLONE_VM) valgrind
	 * cannot run (make check-valgrind runs this test).
	 */
	snprintf(req, sizeof(req), "{\"cmd\":\"update\",\"target\":\"%s\","
		 "\"mode\":\"socket\"}\n", self);
	free(self);

	refusal = why;
	refusal_err = err;
	ask(s, fd, req, strlen(req), NULL, 0, out, out_len, "an update its prepare refuses");
	close(fd);
	assert_non_null(strstr(out, "\"outcome\":\"refused\""));
}

static void test_refused_why(void **state)
{
	const struct server *s = *state;
	char out[4096], why[400], want[512];

	/* Outside a prepare hook there is nothing to refuse. */
	assert_int_equal(baton_host_refuse(s->host, "no update"), -EINVAL);

	refused(s, "the item region is damaged: bad magic", -BATON_ERR_REFUSED, out, sizeof(out));
	if (!strstr(out, "\"error\":\"the program's prepare: the item region is "
			 "damaged: bad magic\""))
		fail_msg("not the program's reason: %s", out);

	/* Control characters, escapes, bytes above ASCII: '?'; cut at 199. */
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	memcpy(why, "bad\x1b[2J\r\n\t\xc3\xa9\x7f\"\\", 15);
	refused(s, why, -EBADMSG, out, sizeof(out));
	snprintf(want, sizeof(want), "\"error\":\"the program's prepare: bad?[2J??????\\\"\\\\%.*s\"",
		 BATON_REFUSAL_MAX - 1 - 15, why + 15);
	if (!strstr(out, want))
		fail_msg("the reason was not cleaned and cut: %s", out);

	/* No reason given: the hook's error code, in words. */
	refused(s, NULL, -EBADMSG, out, sizeof(out));
	if (!strstr(out, "\"error\":\"the program's prepare: Bad message\""))
		fail_msg("not the hook's error: %s", out);
	refusal = NULL;
	refusal_err = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_why, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
