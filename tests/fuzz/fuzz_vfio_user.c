// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the vfio-user client (lib/backends/vfio-user/
 * client.c) against a hostile server: whatever a server sends, the client
 * must return 0 or an errno - never a Baton code, never a crash - keep no
 * fd it does not hand out, and hand out only the fd of a mappable
 * region's info (the sanitizers and the fd count watch the rest).
 *
 * Each input is one connection.  The server end is a thread of this
 * process that accepts on a real Unix socket, writes the input's byte
 * stream - some chunks with fds - half-closes, and reads whatever the
 * client sends until the client closes.  The client, in the fuzzer's own
 * thread, connects with baton_vfu_connect() (the VERSION negotiation
 * reads the first reply) and makes the input's calls one after another,
 * each reading its reply from the stream; where the stream ends, the
 * client sees EOF, never a wait (it waits only for bytes not yet sent,
 * and the server sends them all at once).
 *
 * Input: byte 0 % 17 is the number of calls, the next bytes are the calls
 * (each op % 10: device_info, region_info, region_read, region_write,
 * read32 - with the high bit set, 20 reads submitted (vfu_submit_read(),
 * up to 16 in flight) and then collected -, write64, dma_map of a memfd,
 * dma_unmap, set_irq with an eventfd or none, reset; the high bits pick
 * the region and the size: 4, 8, 4096 or 65544 bytes, more than one
 * transfer); then the server's records,
 * each
 *
 *     ctl (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first), one sendmsg each; ctl & 3 picks the
 * fds sent with it: none, a memfd (a region's), an eventfd, or nine (more
 * than the client's max_msg_fds: the kernel must drop what does not fit).
 *
 * Seeds: tests/fuzz/corpus-vfio-user/ (tests/fuzz/gen_corpora.py
 * vfio-user): the replies devsim gives for each call, with the message
 * ids the client uses, and hostile variations: errors, Baton codes as
 * errno, server commands, wrong ids, short and long payloads, fds.
 */
#define _GNU_SOURCE
#define FUZZ_NAME "fuzz_vfio_user"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <baton/error.h>
#include <baton/vfio_user.h>
#include <linux/vfio.h>

#include "fuzz.h"
#include "backends/devio-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CALLS 16
#define BIG (64u * 1024 + 8)

static char dir[PATH_MAX], sock_path[PATH_MAX];
static int listener = -1;
static uint8_t *big;

static void teardown(void)
{
	if (listener >= 0)
		close(listener);
	unlink(sock_path);
	rmdir(dir);
	free(big);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz_vfio_user.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock_path, sizeof(sock_path), "%s/device.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(listener, 4))
		die("listen %s: %s", sock_path, strerror(errno));
	big = calloc(1, BIG);
	if (!big)
		die("calloc");
	atexit(teardown);
	return 0;
}

/* ---- The server ---- */

struct server {
	pthread_t thread;
	const uint8_t *data;	/* the records */
	size_t size;
};

static int make_fd(int kind)
{
	int fd = kind ? eventfd(0, EFD_CLOEXEC) : memfd_create("fuzz-bar", MFD_CLOEXEC);

	if (fd < 0 || (!kind && ftruncate(fd, 4096)))
		die("fd kind %d: %s", kind, strerror(errno));
	return fd;
}

static void send_record(int sock, const uint8_t *p, size_t len, unsigned int ctl)
{
	int fds[9], n = 0;

	switch (ctl & 3) {
	case 1:
		fds[n++] = make_fd(0);
		break;
	case 2:
		fds[n++] = make_fd(1);
		break;
	case 3:
		for (n = 0; n < 9; n++)
			fds[n] = make_fd(n & 1);
		break;
	}
	while (len) {
		ssize_t put = fuzz_sendmsg(sock, p, len, fds, (size_t)n, 0);

		if (put < 0)
			break;		/* the client closed: the rest is not read */
		for (int i = 0; i < n; i++)
			close(fds[i]);
		n = 0;	/* they went with the first byte */
		p += put;
		len -= (size_t)put;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static void *serve(void *arg)
{
	const struct server *s = arg;
	int sock = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	size_t off = 0;
	char sink[4096];

	if (sock < 0)
		die("accept: %s", strerror(errno));
	while (off + 3 <= s->size) {
		unsigned int ctl = s->data[off];
		size_t len = (size_t)s->data[off + 1] | (size_t)s->data[off + 2] << 8;

		off += 3;
		if (len > s->size - off)
			len = s->size - off;
		if (len)
			send_record(sock, s->data + off, len, ctl);
		off += len;
	}
	shutdown(sock, SHUT_WR);
	/* What the client sends, until it closes; fds it sends are closed. */
	for (;;) {
		char control[CMSG_SPACE(sizeof(int) * 16)];
		struct iovec iov = { sink, sizeof(sink) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control, .msg_controllen = sizeof(control),
		};
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				close(fd);
			}
		}
		if (n <= 0)
			break;
	}
	close(sock);
	return NULL;
}

/* ---- The client ---- */

static void check(int err, const char *call)
{
	if (err > 0 || (err < 0 && -err >= BATON_ERR_BASE))
		die("%s returned %d", call, err);
}

/* Reads op 4 with its high bit submits before collecting them all. */
#define PIPELINED 20

static void do_call(struct baton_vfu *vfu, uint8_t op, int memfd, int evfd)
{
	static uint32_t words[PIPELINED];
	static const uint32_t sizes[] = { 4, 8, 4096, BIG };
	uint32_t index = (op >> 4) & 7, count = sizes[op >> 6];
	struct baton_vfu_region r;
	uint32_t n32 = 0, n_irqs = 0;

	switch (op % 10) {
	case 0:
		check(baton_vfu_device_info(vfu, &n32, &n_irqs), "device_info");
		break;
	case 1:
		r.fd = -1;
		check(baton_vfu_region_info(vfu, index, &r), "region_info");
		if (r.fd >= 0 && !(r.flags & VFIO_REGION_INFO_FLAG_MMAP))
			die("an fd for a region that cannot be mapped");
		if (r.fd >= 0)
			close(r.fd);
		break;
	case 2:
		check(baton_vfu_region_read(vfu, index, 0x10, big, count), "region_read");
		break;
	case 3:
		check(baton_vfu_region_write(vfu, index, 0x10, big, count), "region_write");
		break;
	case 4:
		if (!(op & 0x80)) {
			check(baton_vfu_read32(vfu, index, 0, &n32), "read32");
			break;
		}
		/* Reads in flight together, more than fit at once. */
		for (unsigned int i = 0; i < PIPELINED; i++)
			check(vfu_submit_read(vfu, index, 4 * i, &words[i], 4), "submit_read");
		check(vfu_collect_reads(vfu), "collect_reads");
		break;
	case 5:
		check(baton_vfu_write64(vfu, index, 8, 0x1234), "write64");
		break;
	case 6:
		check(baton_vfu_dma_map(vfu, 0x100000, 4096, memfd, 0, op & 0x80),
		      "dma_map");
		break;
	case 7:
		check(baton_vfu_dma_unmap(vfu, 0x100000, 4096), "dma_unmap");
		break;
	case 8:
		check(baton_vfu_set_irq(vfu, index, op & 0x80 ? -1 : evfd), "set_irq");
		break;
	case 9:
		check(baton_vfu_reset(vfu), "reset");
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = fuzz_count_fds(0), memfd, evfd, err;
	struct server s = { 0 };
	struct baton_vfu *vfu = NULL;
	size_t n_calls;

	if (!size)
		return 0;
	n_calls = data[0] % (MAX_CALLS + 1);
	if (size < 1 + n_calls)
		return 0;
	s.data = data + 1 + n_calls;
	s.size = size - 1 - n_calls;
	if (pthread_create(&s.thread, NULL, serve, &s))
		die("pthread_create");
	memfd = make_fd(0);
	evfd = make_fd(1);

	/* Our listener is there: any error is the negotiation's, any errno. */
	err = baton_vfu_connect(sock_path, &vfu);
	check(err, "connect");
	if (!err != (vfu != NULL))
		die("connect: %d and a handle %p", err, (void *)vfu);
	for (size_t i = 0; vfu && i < n_calls; i++)
		do_call(vfu, data[1 + i], memfd, evfd);
	/* Refused negotiation or not, the connection was made and is closed. */
	baton_vfu_close(vfu);
	pthread_join(s.thread, NULL);
	close(memfd);
	close(evfd);
	if (fuzz_count_fds(0) != fds)
		die("%d fds open after the input, %d before", fuzz_count_fds(1), fds);
	return 0;
}
