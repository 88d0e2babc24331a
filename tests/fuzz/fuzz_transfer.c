// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the receiving end of socket mode's transfer
 * (lib/host/socket.c: baton_transfer_recv()), which a new process runs on
 * what the old one sends it - a sender that may be confused, or not the
 * old version at all.  Whatever arrives, the receiver must return every
 * fd the header announced and the image's, all open and distinct, or an
 * error and nothing: every fd it received closed (the fd count after the
 * input is the one before), no memory kept (LeakSanitizer).
 *
 * Each input is the messages on a real SOCK_SEQPACKET socketpair, sent
 * before the receiver reads and followed by the sender's close, so that a
 * receiver waiting for more gets the end instead of a hang.
 *
 * Input: records (at most MAX_MSGS), each
 *
 *     ctl (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first): one message of len bytes, with
 * fd_counts[ctl & 7] fds (SCM_RIGHTS; the kernel takes at most 253 in
 * one message, the receiver at most 250 per batch).  A message the socket
 * has no room for ends the input.
 *
 * Seeds: tests/fuzz/corpus-transfer/ (tests/fuzz/gen_corpora.py
 * transfer): transfers of 0, 3 and 600 fds as baton_transfer_send() makes
 * them, and each way of getting them wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 64
#define MAX_FDS 253

static const int fd_counts[8] = { 0, 1, 2, 3, 100, 250, 251, 253 };

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "fuzz_transfer: %s\n", what);
	abort();
}

/* One message of @nfds copies of @fd; false when the socket has no room. */
static bool send_msg(int sock, const uint8_t *p, size_t len, int nfds, int fd)
{
	int fds[MAX_FDS];

	/* The same fd nfds times: each arrives as an fd of its own. */
	for (int i = 0; i < nfds; i++)
		fds[i] = fd;
	return fuzz_sendmsg(sock, p, len, fds, (size_t)nfds, MSG_DONTWAIT) >= 0;
}

static void check_received(int image_fd, const int *fds, size_t n)
{
	if (image_fd < 0 || fcntl(image_fd, F_GETFD) < 0)
		die("the image fd is not open");
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0 || fcntl(fds[i], F_GETFD) < 0 || fds[i] == image_fd)
			die("a received fd is not open, or is the image's");
		for (size_t j = 0; j < i; j++)
			if (fds[j] == fds[i])
				die("an fd received twice");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before = fuzz_count_fds(0), sv[2], payload, image_fd = -1, *fds = NULL, err;
	size_t off = 0, n = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	payload = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (payload < 0)
		die("/dev/null");
	for (int msgs = 0; msgs < MAX_MSGS && off + 3 <= size; msgs++) {
		unsigned int ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (!send_msg(sv[0], data + off, len, fd_counts[ctl & 7], payload))
			break;
		off += len;
	}
	close(payload);
	close(sv[0]);

	err = baton_transfer_recv(sv[1], &image_fd, &fds, &n);
	if (err > 0 || (err < 0 && fds))
		die("an error that left something behind");
	if (!err) {
		check_received(image_fd, fds, n);
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		close(image_fd);
		free(fds);
	}
	close(sv[1]);
	if (fuzz_count_fds(0) != before && fuzz_count_fds(1))
		die("fds open after the input that were not before");
	return 0;
}
