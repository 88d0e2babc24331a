// SPDX-License-Identifier: MIT
/*
 * Socket mode's fd transfer (lib/host/socket.c): batches beyond the
 * kernel's per-message limit arrive in order; a confused or hostile sender
 * gets an error and leaks nothing into the receiver.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = -1;

	while (d && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_many_fds_in_order(void **state)
{
	enum { N = 600 };
	int sv[2], fds[N], image, *got, before;
	size_t n;

	(void)state;
	pair(sv);
	for (int i = 0; i < N; i++) {
		fds[i] = eventfd((unsigned)i + 1, EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	image = eventfd(7777, EFD_CLOEXEC);
	before = count_fds();
	assert_int_equal(baton_transfer_send(sv[0], image, fds, N), 0);
	assert_int_equal(baton_transfer_recv(sv[1], &image, &got, &n), 0);
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
		int sv[2], image = -1, *got = NULL, before = count_fds();
		size_t n = 0;

		pair(sv);
		send_raw(sv[0], h->header, sizeof(h->header), probe, h->header_fds);
		send_raw(sv[0], &h->batch, sizeof(h->batch), probe, h->batch_fds);
		if (h->close_early)
			close(sv[0]);
		if (baton_transfer_recv(sv[1], &image, &got, &n) == 0)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_fds_in_order),
		cmocka_unit_test(test_hostile_senders),
	};
	struct rlimit rl;

	/* 600 fds and their copies: more than a soft limit of 1024 allows,
	 * and less than any hard limit; raise it, as the programs that hand
	 * over that many fds must. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
