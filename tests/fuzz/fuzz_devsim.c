// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for devsim's vfio-user server (devsim/server.c and the
 * device types).  Any byte stream a client sends must get replies or a
 * closed connection, never a crash: the sanitizers watch memory, and the
 * harness checks what devsim promises a client (docs/devsim.md):
 *
 *  - every complete command gets exactly one reply, in order, echoing its
 *    msg_id and cmd (none for NO_REPLY or a message that is not a command),
 *    unless devsim closes the connection, after which nothing more comes;
 *  - a reply is framed sanely: a REPLY, an error reply has an errno and no
 *    payload, a success reply no errno;
 *  - when the client closes, the device is reset: no client, no DMA
 *    mapping, no interrupt eventfd; and a new client is served again;
 *  - no fd leaks from one input to the next (LeakSanitizer does memory).
 *
 * One devsim (an edu, a pktgen and a legacy device, the status socket) is
 * set up once per process, in a temporary directory under $TMPDIR (/tmp).  Each input is one
 * client session on a real device socket, driven without sleeps: the
 * harness calls devsim's dispatch with a zero timeout until nothing moves,
 * and ticks the device types on a virtual clock (1 ms per tick).
 *
 * Input: byte 0 picks the target (value % 4: edu, pktgen, legacy, or the
 * status socket); then records, each
 *
 *     ctl (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first).  Each record is one sendmsg of its bytes
 * to the device socket, processed by devsim before the next one.  ctl & 7
 * picks the fds sent with it (SCM_RIGHTS):
 *
 *     0 none
 *     1 a 1 MiB memfd sealed with F_SEAL_SHRINK (what DMA_MAP wants)
 *     2 a 64 KiB memfd, not sealed
 *     3 an eventfd (what SET_IRQS wants), blocking as clients make them
 *     4 a blocking eventfd whose counter is at its maximum: one more write
 *       blocks, so devsim must not write it as a client would
 *     5 a pipe's read end
 *     6 an eventfd, 9 times (more than max_msg_fds)
 *     7 a 64 KiB memfd sealed against writes too
 *
 * (one of each kind per input, so a DMA mapping made with kind 1 shows the
 * same memory to the next one) *
 * and the other bits of ctl do more around the record:
 *
 *     0x10 before it, connect again and close the old connection at once
 *     0x20 before it, a second client connects (devsim must refuse it)
 *     0x40 after it, complete the message being sent with zero bytes, so
 *          that messages larger than libFuzzer's max_len are reached
 *     0x80 after it, tick the devices (1 ms)
 *
 * After the last record the devices tick three times more, then the
 * client closes.  On the status socket only the fds and ticks apply.
 *
 * With FUZZ_DEVSIM_TRACE set, devsim's log and a line per reply go to
 * stderr, to see what an input does.
 *
 * Seeds: tests/fuzz/corpus-devsim/ (see its README.md and
 * tests/fuzz/gen_devsim_corpus.py).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devsim.h"
#include "backends/vfio-user/protocol.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDEVS 3
/* Rounds of dispatch without quiescence before the harness calls it a hang. */
#define MAX_ROUNDS 100000
#define TICK_NS 1000000ull
/* The largest reply: REGION_READ of max_data_xfer_size bytes. */
#define MAX_REPLY (sizeof(struct vfio_user_header) + \
		   sizeof(struct vfio_user_region_access) + VFIO_USER_MAX_DATA_XFER)
#define MAX_EXPECT 4096

static const struct {
	const struct devsim_type *type;
	const char *addr;
} devices[NDEVS] = {
	{ &devsim_edu, "0000:00:04.0" },
	{ &devsim_pktgen, "0000:00:05.0" },
	{ &devsim_legacy, "0000:00:06.0" },
};

static struct devsim sim = { .epfd = -1 };
static char dir[PATH_MAX];
static uint64_t vclock;
static bool trace;		/* FUZZ_DEVSIM_TRACE: print each reply */

/* The sockets and their directory, also when a check fails. */
static void remove_dir(void)
{
	char path[PATH_MAX];

	if (!dir[0])
		return;
	for (unsigned int i = 0; i < sim.ndevs; i++)
		if (sim.devs[i].sock_path)
			unlink(sim.devs[i].sock_path);
	snprintf(path, sizeof(path), "%s/status.sock", dir);
	unlink(path);
	rmdir(dir);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	remove_dir();
	fputs("fuzz_devsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- The client ---- */

struct expect {
	uint16_t msg_id;
	uint16_t cmd;
};

struct client {
	int sock;
	bool raw;		/* the status socket: no vfio-user framing */
	bool eof;		/* devsim closed the connection */
	/* What was sent, framed as devsim frames it. */
	uint8_t hdr[sizeof(struct vfio_user_header)];
	size_t hdr_have;
	uint64_t body_left;
	bool unframeable;	/* devsim will close when it gets here */
	struct expect expect[MAX_EXPECT];
	size_t nexpect, replied;
	bool overflow;		/* more commands than expect[] holds */
	/* Replies received, not yet complete. */
	uint8_t rbuf[MAX_REPLY];
	size_t rlen;
};

static struct client client;

static void sent_bytes(struct client *c, const uint8_t *p, size_t n)
{
	while (n && !c->raw && !c->unframeable) {
		if (c->hdr_have < sizeof(c->hdr)) {
			size_t k = sizeof(c->hdr) - c->hdr_have;

			if (k > n)
				k = n;
			memcpy(c->hdr + c->hdr_have, p, k);
			c->hdr_have += k;
			p += k;
			n -= k;
			if (c->hdr_have == sizeof(c->hdr)) {
				struct vfio_user_header h;

				memcpy(&h, c->hdr, sizeof(h));
				if (h.size < sizeof(h) || h.size > VFIO_USER_MAX_MSG_SIZE) {
					c->unframeable = true;
					return;
				}
				c->body_left = h.size - sizeof(h);
			}
		} else {
			size_t k = c->body_left < n ? (size_t)c->body_left : n;

			p += k;
			n -= k;
			c->body_left -= k;
		}
		if (c->hdr_have == sizeof(c->hdr) && !c->body_left) {
			struct vfio_user_header h;

			memcpy(&h, c->hdr, sizeof(h));
			c->hdr_have = 0;
			if ((h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
			    (h.flags & VFIO_USER_F_NO_REPLY))
				continue;
			if (c->nexpect == MAX_EXPECT) {
				c->overflow = true;
				continue;
			}
			c->expect[c->nexpect++] = (struct expect){ h.msg_id, h.cmd };
		}
	}
}

static void got_reply(struct client *c, const struct vfio_user_header *h)
{
	if ((h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY)
		die("a reply of type %u", h->flags & VFIO_USER_F_TYPE_MASK);
	if (h->flags & VFIO_USER_F_ERROR) {
		if (!h->error || h->size != sizeof(*h))
			die("error reply to command %u: errno %u, size %u",
			    h->cmd, h->error, h->size);
	} else if (h->error) {
		die("success reply to command %u with errno %u", h->cmd, h->error);
	}
	if (trace)
		fprintf(stderr, "reply %u cmd %u: %s %u bytes\n", h->msg_id, h->cmd,
			h->flags & VFIO_USER_F_ERROR ? strerror((int)h->error) : "ok",
			h->size);
	if (c->overflow)
		return;
	if (c->replied == c->nexpect)
		die("reply to command %u (msg_id %u) that was not sent",
		    h->cmd, h->msg_id);
	if (c->expect[c->replied].msg_id != h->msg_id ||
	    c->expect[c->replied].cmd != h->cmd)
		die("reply (%u, cmd %u) out of order: expected (%u, cmd %u)",
		    h->msg_id, h->cmd, c->expect[c->replied].msg_id,
		    c->expect[c->replied].cmd);
	c->replied++;
}

/* Read what devsim sent; whether anything (or EOF) came. */
static bool drain(struct client *c)
{
	bool any = false;

	while (!c->eof) {
		char control[CMSG_SPACE(sizeof(int) * 16)];
		struct iovec iov = { c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control, .msg_controllen = sizeof(control),
		};
		size_t off = 0;
		ssize_t n;

		n = recvmsg(c->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EAGAIN)
			break;
		any = true;
		if (n <= 0) {
			if (n < 0 && errno != ECONNRESET)
				die("recvmsg: %s", strerror(errno));
			/* A reply cut short by the close is allowed: it is the close. */
			c->eof = true;
			break;
		}
		/* The pktgen BAR2 fd of REGION_INFO: not kept. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
		if (c->raw)
			continue;	/* JSON lines: not checked */
		c->rlen += (size_t)n;
		while (c->rlen - off >= sizeof(struct vfio_user_header)) {
			struct vfio_user_header h;

			memcpy(&h, c->rbuf + off, sizeof(h));
			if (h.size < sizeof(h) || h.size > MAX_REPLY)
				die("reply to command %u of size %u", h.cmd, h.size);
			if (c->rlen - off < h.size)
				break;
			got_reply(c, &h);
			off += h.size;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return any;
}

/* Run devsim and the client until neither has anything left to do. */
static void settle(struct client *c)
{
	for (int round = 0; round < MAX_ROUNDS; round++) {
		int n = devsim_dispatch(&sim, 0);

		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		if (!(c->sock >= 0 && drain(c)) && !n)
			return;
	}
	die("devsim did not settle in %d rounds", MAX_ROUNDS);
}

static void tick(struct client *c)
{
	vclock += TICK_NS;
	devsim_tick(&sim, vclock);
	settle(c);
}

/* Connect to @path; devsim has not accepted yet. */
static void client_connect(struct client *c, const char *path, bool raw)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, offsetof(struct client, rbuf));
	c->rlen = 0;
	c->raw = raw;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect %s: %s", sa.sun_path, strerror(errno));
}

/* The device is as a reset leaves it, with no client or a new one. */
static void check_reset(struct devsim_dev *dev)
{
	if (dev->ndma || dev->dma)
		die("%s: %u DMA mappings after the reset", dev->name, dev->ndma);
	for (int i = 0; i < DEVSIM_NUM_IRQS; i++)
		if (dev->irq_fd[i] >= 0)
			die("%s: IRQ %d eventfd kept after the reset", dev->name, i);
}

/* What devsim owed the client when the session ends. */
static void check_session(const struct client *c)
{
	if (c->raw || c->eof)
		return;
	if (c->unframeable)
		die("a message that cannot be framed left the connection open");
	if (!c->overflow && c->replied != c->nexpect)
		die("%zu of %zu commands answered, and the connection is open",
		    c->replied, c->nexpect);
}

static void client_open(struct client *c, struct devsim_dev *dev)
{
	client_connect(c, dev->sock_path, false);
	settle(c);
	if (!dev->conn)
		die("%s: the connection was not accepted", dev->name);
}

/* Close the client; devsim must notice and reset the device. */
static void client_close(struct client *c, struct devsim_dev *dev)
{
	uint64_t resets = dev ? dev->resets : 0;

	check_session(c);
	close(c->sock);
	c->sock = -1;
	settle(c);
	if (!dev)
		return;
	if (dev->conn)
		die("%s: still connected after the client closed", dev->name);
	if (dev->resets != resets + !c->eof)
		die("%s: %llu resets on close", dev->name,
		    (unsigned long long)(dev->resets - resets));
	check_reset(dev);
}

/*
 * Connect again, then close the old connection, before devsim sees either:
 * the new connection must wait for the old one's reset (listen_handle()),
 * not be refused as a second client.
 */
static void client_reconnect(struct client *c, struct devsim_dev *dev)
{
	uint64_t resets = dev->resets;
	bool was_open = !c->eof;
	int old = c->sock;

	check_session(c);
	client_connect(c, dev->sock_path, false);
	close(old);
	settle(c);
	if (!dev->conn)
		die("%s: the new connection was refused", dev->name);
	if (dev->resets != resets + was_open)
		die("%s: %llu resets on reconnect", dev->name,
		    (unsigned long long)(dev->resets - resets));
	check_reset(dev);
}

/* A second client while the first is connected: closed at once. */
static void second_client(struct devsim_dev *dev)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct devsim_conn *first = dev->conn;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	char byte;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dev->sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect %s: %s", sa.sun_path, strerror(errno));
	settle(&client);
	if (dev->conn != first || recv(fd, &byte, 1, MSG_DONTWAIT) != 0)
		die("%s: a second client was not refused", dev->name);
	close(fd);
}

/* Send all of @p with @fds; false if devsim closed the connection. */
static bool client_send(struct client *c, const uint8_t *p, size_t len,
			const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * 9)];

	while (len && !c->eof) {
		struct iovec iov = { (void *)p, len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (nfds) {
			struct cmsghdr *cm;

			memset(control, 0, sizeof(control));
			msg.msg_control = control;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		n = sendmsg(c->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN) {
				/* The socket is full: let devsim read. */
				settle(c);
				continue;
			}
			if (errno != EPIPE && errno != ECONNRESET)
				die("sendmsg: %s", strerror(errno));
			settle(c);
			return false;
		}
		nfds = 0;	/* they went with the first byte */
		sent_bytes(c, p, (size_t)n);
		p += n;
		len -= (size_t)n;
	}
	settle(c);
	return !c->eof;
}

/* ---- The fds records carry, made once per input when first used ---- */

enum {
	FD_SEALED, FD_UNSEALED, FD_EVENT, FD_FULL_EVENT, FD_PIPE_R, FD_PIPE_W,
	FD_WSEALED, NFDKINDS
};

static int fdpool[NFDKINDS];

static int make_memfd(size_t size, unsigned int seals)
{
	int fd = memfd_create("fuzz-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) ||
	    (seals && fcntl(fd, F_ADD_SEALS, seals)))
		die("memfd: %s", strerror(errno));
	return fd;
}

static int pool_fd(int kind)
{
	if (fdpool[kind] >= 0)
		return fdpool[kind];
	switch (kind) {
	case FD_SEALED:
		fdpool[kind] = make_memfd(1u << 20, F_SEAL_SHRINK);
		break;
	case FD_UNSEALED:
		fdpool[kind] = make_memfd(64u << 10, 0);
		break;
	case FD_EVENT:
		fdpool[kind] = eventfd(0, EFD_CLOEXEC);
		break;
	case FD_FULL_EVENT: {
		uint64_t max = 0xfffffffffffffffeull;

		fdpool[kind] = eventfd(0, EFD_CLOEXEC);
		if (fdpool[kind] >= 0 && write(fdpool[kind], &max, sizeof(max)) != sizeof(max))
			die("eventfd: %s", strerror(errno));
		break;
	}
	case FD_WSEALED:
		fdpool[kind] = make_memfd(64u << 10,
					  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
		break;
	case FD_PIPE_R:
	case FD_PIPE_W: {
		int p[2];

		if (pipe2(p, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		fdpool[FD_PIPE_R] = p[0];
		fdpool[FD_PIPE_W] = p[1];
		break;
	}
	}
	if (fdpool[kind] < 0)
		die("fd kind %d: %s", kind, strerror(errno));
	return fdpool[kind];
}

static int record_fds(unsigned int ctl, int *fds)
{
	switch (ctl & 7) {
	case 1:
		fds[0] = pool_fd(FD_SEALED);
		return 1;
	case 2:
		fds[0] = pool_fd(FD_UNSEALED);
		return 1;
	case 3:
		fds[0] = pool_fd(FD_EVENT);
		return 1;
	case 4:
		fds[0] = pool_fd(FD_FULL_EVENT);
		return 1;
	case 5:
		fds[0] = pool_fd(FD_PIPE_R);
		return 1;
	case 6:
		for (int i = 0; i < 9; i++)
			fds[i] = pool_fd(FD_EVENT);
		return 9;
	case 7:
		fds[0] = pool_fd(FD_WSEALED);
		return 1;
	default:
		return 0;
	}
}

static void pool_close(void)
{
	for (int i = 0; i < NFDKINDS; i++) {
		if (fdpool[i] >= 0)
			close(fdpool[i]);
		fdpool[i] = -1;
	}
}

/* ---- A new client after the session: the device serves again ---- */

static void probe(struct devsim_dev *dev)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_version v;
		char json[3];
	} __attribute__((packed)) ver = {
		{ .msg_id = 1, .cmd = VFIO_USER_VERSION, .size = sizeof(ver) },
		{ VFIO_USER_MAJOR, VFIO_USER_MINOR }, "{}",
	};
	struct {
		struct vfio_user_header h;
		struct vfio_user_device_info info;
	} info = {
		{ .msg_id = 2, .cmd = VFIO_USER_DEVICE_GET_INFO, .size = sizeof(info) },
		{ .argsz = sizeof(info.info) },
	};

	client_open(&client, dev);
	if (!client_send(&client, (const uint8_t *)&ver, sizeof(ver), NULL, 0) ||
	    !client_send(&client, (const uint8_t *)&info, sizeof(info), NULL, 0) ||
	    client.replied != 2)
		die("%s: a new client is not served after the session", dev->name);
	client_close(&client, dev);
}

/* ---- libFuzzer ---- */

static void teardown(void)
{
	pool_close();
	devsim_status_fini(&sim);
	for (unsigned int i = 0; i < sim.ndevs; i++)
		devsim_dev_fini(&sim.devs[i]);
	free(sim.devs);
	sim.devs = NULL;
	sim.ndevs = 0;
	if (sim.epfd >= 0)
		close(sim.epfd);
	sim.epfd = -1;
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_DEVSIM_TRACE") != NULL;
	devsim_log_quiet = !trace;
	/*
	 * The harness is devsim's client and devsim at once, and hands devsim
	 * pipes whose other end it may have closed.  That devsim's own sends
	 * never raise SIGPIPE is tests/integration/test_devsim.sh's to check,
	 * on the real binary; here a SIGPIPE would end the run for nothing.
	 */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NFDKINDS; i++)
		fdpool[i] = -1;
	snprintf(dir, sizeof(dir), "%s/fuzz_devsim.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "fuzz_devsim: mkdtemp %s: %s\n", dir, strerror(errno));
		abort();
	}
	sim.epfd = epoll_create1(EPOLL_CLOEXEC);
	sim.devs = calloc(NDEVS, sizeof(*sim.devs));
	if (sim.epfd < 0 || !sim.devs)
		die("setup: %s", strerror(errno));
	for (int i = 0; i < NDEVS; i++) {
		struct devsim_dev *dev = &sim.devs[i];

		dev->type = devices[i].type;
		if (baton_pci_addr_parse(devices[i].addr, &dev->addr))
			die("bad address %s", devices[i].addr);
		baton_pci_addr_format(&dev->addr, dev->name);
		dev->rate = DEVSIM_DEFAULT_RATE;
		if (devsim_dev_init(&sim, dev, dir))
			die("%s: device setup failed", dev->name);
		sim.ndevs++;
	}
	if (devsim_status_init(&sim, dir, NULL))
		die("status socket setup failed");
	atexit(teardown);
	vclock = devsim_now_ns();
	return 0;
}

/* The status socket as a fourth target: lines, not vfio-user. */
static void status_session(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];
	size_t off = 1;

	snprintf(path, sizeof(path), "%s/status.sock", dir);
	client_connect(&client, path, true);
	settle(&client);
	while (off + 3 <= size && !client.eof) {
		unsigned int ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		int rfds[9];

		off += 3;
		if (len > size - off)
			len = size - off;
		if (len)
			client_send(&client, data + off, len, rfds, record_fds(ctl, rfds));
		off += len;
		if (ctl & 0x80)
			tick(&client);
	}
	tick(&client);
	client_close(&client, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zeros[64u << 10];
	struct devsim_dev *dev;
	size_t off = 1;
	int fds = fuzz_count_fds(0);

	if (!size)
		return 0;
	if (data[0] % (NDEVS + 1) == NDEVS) {
		status_session(data, size);
		goto out;
	}
	dev = &sim.devs[data[0] % (NDEVS + 1)];
	client_open(&client, dev);
	while (off + 3 <= size) {
		unsigned int ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		int rfds[9];
		int n;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (ctl & 0x10)
			client_reconnect(&client, dev);
		if (client.eof)
			break;
		if (ctl & 0x20)
			second_client(dev);
		n = record_fds(ctl, rfds);
		/* No bytes, no message: a stream socket sends no fds alone. */
		if (len)
			client_send(&client, data + off, len, rfds, n);
		off += len;
		/* Complete the message with zeros: larger ones than max_len. */
		while ((ctl & 0x40) && !client.eof && !client.unframeable &&
		       client.hdr_have == sizeof(client.hdr) && client.body_left) {
			size_t k = client.body_left < sizeof(zeros) ?
				   (size_t)client.body_left : sizeof(zeros);

			client_send(&client, zeros, k, NULL, 0);
		}
		if (ctl & 0x80)
			tick(&client);
	}
	for (int i = 0; i < 3; i++)
		tick(&client);
	client_close(&client, dev);
	probe(dev);
out:
	pool_close();
	if (fuzz_count_fds(0) != fds)
		die("%d fds open after the input, %d before", fuzz_count_fds(1), fds);
	return 0;
}
