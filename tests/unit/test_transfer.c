// SPDX-License-Identifier: MIT
/*
 * The fd transfer (lib/host/socket.c; baton kexec's): batches beyond the
 * kernel's per-message limit arrive in order; a confused or hostile sender
 * gets an error and leaks nothing into the receiver.  Socket mode's go: a
 * hostile old process, or none, is refused the same way.
 *
 * Every wait is bounded and says what it waited for: the sockets time out
 * after WAIT_S (a receiver that waits for fds nobody announced fails the
 * test saying so, instead of hanging it), and an alarm ends the program,
 * naming the case, if anything else never returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

#include "count_fds.h"

/* How long a receive may wait for a message; the whole program's bound. */
#define WAIT_S 2
#define ALARM_S 20

static const char *current = "setup";	/* the case running, for the alarm */

static void on_alarm(int sig)
{
	static const char what[] = "test_transfer: no answer within 20 s, in: ";

	(void)sig;
	(void)!write(STDOUT_FILENO, what, sizeof(what) - 1);
	(void)!write(STDOUT_FILENO, current, strlen(current));
	(void)!write(STDOUT_FILENO, "\n", 1);
	_exit(1);
}

/* A connected pair whose sends and receives give up after WAIT_S. */
static void pair(int sv[2])
{
	const struct timeval bound = { .tv_sec = WAIT_S };

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &bound,
					    sizeof(bound)), 0);
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDTIMEO, &bound,
					    sizeof(bound)), 0);
	}
}

/* A receive that timed out waited for a message nobody sends. */
static void not_waited(int err, const char *what)
{
	if (err == -EAGAIN)
		fail_msg("%s: the receiver waited %d s for a message the sender never "
			 "announced, instead of refusing what it had", what, WAIT_S);
}

static void test_many_fds_in_order(void **state)
{
	enum { N = 600 };
	int sv[2], fds[N], image, *got, before, err;
	size_t n;

	(void)state;
	pair(sv);
	for (int i = 0; i < N; i++) {
		/* Non-blocking: an fd received twice reads empty, at once. */
		fds[i] = eventfd((unsigned)i + 1, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(fds[i] >= 0);
	}
	image = eventfd(7777, EFD_CLOEXEC);
	before = count_fds();
	current = "600 fds in order";
	assert_int_equal(baton_transfer_send(sv[0], image, fds, N), 0);
	err = baton_transfer_recv(sv[1], &image, &got, &n);
	not_waited(err, current);
	assert_int_equal(err, 0);
	assert_int_equal(n, N);
	assert_int_equal(count_fds(), before + N + 1);
	for (int i = 0; i < N; i++) {
		uint64_t v;

		assert_int_equal(read(got[i], &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, (uint64_t)i + 1);
		close(got[i]);
		close(fds[i]);
	}
	free(got);
	close(image);
	close(sv[0]);
	close(sv[1]);
}

/* Send one raw message: @data, with @n copies of @fd attached. */
static void send_raw(int sock, const void *data, size_t len, int fd, size_t n)
{
	char control[CMSG_SPACE(sizeof(int) * 8)] = { 0 };
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		for (size_t i = 0; i < n; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
	}
	assert_true(sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0);
}

struct hostile {
	const char *what;
	uint32_t header[2];
	size_t header_fds;
	uint32_t batch;
	size_t batch_fds;
	bool close_early;
};

static void test_hostile_senders(void **state)
{
	static const struct hostile cases[] = {
		{ "bad magic", { 0x12345678, 1 }, 1, 1, 1, false },
		{ "no image fd", { 0x42544658, 1 }, 0, 1, 1, false },
		{ "two image fds", { 0x42544658, 1 }, 2, 1, 1, false },
		{ "absurd count", { 0x42544658, 1u << 30 }, 1, 1, 1, false },
		{ "batch says 2, carries 1", { 0x42544658, 2 }, 1, 2, 1, false },
		{ "batch carries more than announced", { 0x42544658, 1 }, 1, 3, 3, false },
		{ "empty batch", { 0x42544658, 1 }, 1, 0, 0, false },
		{ "sender dies mid-way", { 0x42544658, 5 }, 1, 1, 1, true },
	};
	int probe = eventfd(0, EFD_CLOEXEC);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hostile *h = &cases[i];
		int sv[2], image = -1, *got = NULL, before = count_fds(), err;
		size_t n = 0;

		current = h->what;
		pair(sv);
		send_raw(sv[0], h->header, sizeof(h->header), probe, h->header_fds);
		send_raw(sv[0], &h->batch, sizeof(h->batch), probe, h->batch_fds);
		if (h->close_early)
			close(sv[0]);
		err = baton_transfer_recv(sv[1], &image, &got, &n);
		not_waited(err, h->what);
		if (err == 0)
			fail_msg("%s: accepted", h->what);
		assert_null(got);
		if (!h->close_early)
			close(sv[0]);
		close(sv[1]);
		/* Whatever arrived was closed again. */
		if (count_fds() != before)
			fail_msg("%s: %d fds leaked", h->what, count_fds() - before);
	}
	close(probe);
}

/*
 * Socket mode's go (socket.c): the new process says it is ready, then
 * takes the image and FREEZE's time only as the old process sends them -
 * one message, its magic, one fd, a FREEZE after the commit, before the
 * deadline and not in the future - and a go that never comes, because the
 * old process hung up or the deadline passed, is said as such.
 */
struct go {
	uint32_t magic;
	uint32_t zero;
	uint64_t freeze_ns;
};

struct bad_go {
	const char *what;
	struct go go;
	size_t len;			/* of the message; 0: nothing sent */
	size_t fds;
	bool hang_up;			/* the old process closes its end */
	int err;			/* 0: any error */
	const char *says;		/* in the reason, when set */
};

#define GO_MAGIC 0x4254474fu
#define NOW_MINUS(ms) (baton_now_ns() - (ms) * 1000000ull)

static int receive_go(int sv[2], const struct bad_go *b, uint64_t held_ns,
		      uint64_t deadline_ns, struct baton_handover *hv,
		      struct baton_diag *why)
{
	uint32_t ready = 0;
	int probe = eventfd(0, EFD_CLOEXEC), err;

	baton_handover_init(hv);
	hv->channel_fd = sv[1];
	hv->held_ns = held_ns;
	hv->deadline_ns = deadline_ns;
	if (b->len)
		send_raw(sv[0], &b->go, b->len, probe, b->fds);
	close(probe);
	if (b->hang_up)
		close(sv[0]);
	err = baton_socket_await_go(hv, &hv->image_fd, why);
	if (!b->hang_up) {
		/* It said it was ready first: what the old process waits for. */
		assert_int_equal(recv(sv[0], &ready, sizeof(ready), MSG_DONTWAIT), sizeof(ready));
		assert_int_equal(ready, 0x42545259u);
		close(sv[0]);
	}
	close(sv[1]);
	return err;
}

static void test_go(void **state)
{
	const uint64_t held = NOW_MINUS(50), later = baton_now_ns() + 60000000000ull;
	const struct bad_go cases[] = {
		{ "bad magic", { 0x12345678, 0, NOW_MINUS(10) }, sizeof(struct go), 1, false, -EBADMSG, NULL },
		{ "the image to plan on again", { 0x4254504c, 0, 0 }, sizeof(struct go), 1, false, -EBADMSG, NULL },
		{ "no image fd", { GO_MAGIC, 0, NOW_MINUS(10) }, sizeof(struct go), 0, false, -EBADMSG, NULL },
		{ "two image fds", { GO_MAGIC, 0, NOW_MINUS(10) }, sizeof(struct go), 2, false, -EBADMSG, NULL },
		{ "padding not zero", { GO_MAGIC, 7, NOW_MINUS(10) }, sizeof(struct go), 1, false, -EBADMSG, NULL },
		{ "short", { GO_MAGIC, 0, NOW_MINUS(10) }, 8, 1, false, -EBADMSG, NULL },
		{ "no FREEZE", { GO_MAGIC, 0, 0 }, sizeof(struct go), 1, false, -EBADMSG, NULL },
		{ "FREEZE before the commit", { GO_MAGIC, 0, NOW_MINUS(100) }, sizeof(struct go), 1, false, -EINVAL, NULL },
		{ "FREEZE to come", { GO_MAGIC, 0, NOW_MINUS(0) + 60000000000ull }, sizeof(struct go), 1, false, -EINVAL, NULL },
		{ "the old process hung up", { 0 }, 0, 0, true, -ECONNRESET,
		  "telling the previous version we are ready: the previous version gave the "
		  "update up, or died" },
	};
	const struct bad_go good = { "good", { GO_MAGIC, 0, NOW_MINUS(10) }, sizeof(struct go), 1, false, 0, NULL };
	const struct bad_go none = { "no go by the deadline", { 0 }, 0, 0, false, -ETIMEDOUT,
				     "waiting for the go: no go by the update's deadline" };
	struct baton_handover hv;
	struct baton_diag why;
	int sv[2], before = count_fds(), err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_go *b = &cases[i];

		current = b->what;
		memset(&why, 0, sizeof(why));
		pair(sv);
		err = receive_go(sv, b, held, later, &hv, &why);
		if (err != b->err)
			fail_msg("%s: %d, not %d", b->what, err, b->err);
		assert_int_equal(hv.image_fd, -1);
		if (b->says && strcmp(why.what, b->says))
			fail_msg("%s: said \"%s\"", b->what, why.what);
		if (count_fds() != before)
			fail_msg("%s: %d fds leaked", b->what, count_fds() - before);
	}
	/* The deadline bounds the wait: 100 ms from now, nothing comes. */
	current = none.what;
	memset(&why, 0, sizeof(why));
	pair(sv);
	err = receive_go(sv, &none, held, baton_now_ns() + 100000000ull, &hv, &why);
	assert_int_equal(err, none.err);
	assert_string_equal(why.what, none.says);
	assert_int_equal(count_fds(), before);

	current = good.what;
	pair(sv);
	err = receive_go(sv, &good, held, later, &hv, &why);
	assert_int_equal(err, 0);
	assert_true(hv.image_fd >= 0);
	assert_int_equal(hv.freeze_ns, good.go.freeze_ns);
	close(hv.image_fd);
	assert_int_equal(count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_fds_in_order),
		cmocka_unit_test(test_hostile_senders),
		cmocka_unit_test(test_go),
	};
	struct sigaction alarm_action = { .sa_handler = on_alarm };
	struct rlimit rl;

	/* 600 fds and their copies: more than a soft limit of 1024 allows,
	 * and less than any hard limit; raise it, as the programs that hand
	 * over that many fds must. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigaction(SIGALRM, &alarm_action, NULL);
	alarm(ALARM_S);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
