// SPDX-License-Identifier: MIT
/*
 * A raw vfio-user client for devsim's hostile-input tests: it speaks the
 * wire format by hand (no client library) so it can send what the library
 * never would.  Also asks devsim's status socket, for the shell script.
 *
 *   devsim_client status STATUS_SOCK REQUEST   print the JSON reply line
 *   devsim_client hangup STATUS_SOCK REQUEST   send the request and close
 *                                              without reading the reply
 *   devsim_client hostile DEVICE_SOCK SCENARIO exit 0 if devsim answered as
 *                                              it must (see scenarios[])
 *   devsim_client probe DEVICE_SOCK STATUS_SOCK connect and negotiate, then
 *                                              print the status meanwhile
 *
 * Every wait is bounded (5 s); a failure prints one line on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "backends/vfio-user/protocol.h"

#define WAIT_MS 5000

static const char *scenario;

static int __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "devsim_client: %s: ", scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_bytes(int sock, const void *buf, size_t len, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Build a command in @buf; returns its size. */
static size_t build(uint8_t *buf, uint16_t id, uint16_t cmd, const void *payload,
		    size_t len)
{
	struct vfio_user_header h = {
		.msg_id = id, .cmd = cmd, .size = (uint32_t)(sizeof(h) + len),
	};

	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	return sizeof(h) + len;
}

static int send_cmd(int sock, uint16_t id, uint16_t cmd, const void *payload,
		    size_t len, int fd)
{
	uint8_t buf[512];

	return send_bytes(sock, buf, build(buf, id, cmd, payload, len), fd);
}

static int read_full(int sock, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) != 1)
			return -1;
		n = read(sock, (char *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/*
 * Read one reply to @id; its payload into @body (up to @max).  Returns the
 * errno of an error reply, 0 for success, -1 if nothing sane came.
 */
static int reply(int sock, uint16_t id, void *body, size_t max)
{
	struct vfio_user_header h;
	uint8_t scratch[4096];
	size_t len;

	if (read_full(sock, &h, sizeof(h)))
		return -1;
	if ((h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY ||
	    h.msg_id != id || h.size < sizeof(h) || h.size - sizeof(h) > sizeof(scratch))
		return -1;
	len = h.size - sizeof(h);
	if (read_full(sock, scratch, len))
		return -1;
	if (h.flags & VFIO_USER_F_ERROR)
		return len ? -1 : (int)h.error;
	if (body)
		memcpy(body, scratch, len < max ? len : max);
	return 0;
}

/* devsim closed the connection: EOF (or a reset) within the bound. */
static bool closed_by_peer(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char c;

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	return read(sock, &c, 1) <= 0;
}

static int send_version(int sock, uint16_t id)
{
	struct {
		struct vfio_user_version v;
		char json[3];
	} __attribute__((packed)) v = { { VFIO_USER_MAJOR, VFIO_USER_MINOR }, "{}" };

	return send_cmd(sock, id, VFIO_USER_VERSION, &v, sizeof(v), -1);
}

static int version(int sock, uint16_t id)
{
	return send_version(sock, id) ? -1 : reply(sock, id, NULL, 0);
}

static int device_info(int sock, uint16_t id)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };

	if (send_cmd(sock, id, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), -1))
		return -1;
	if (reply(sock, id, &info, sizeof(info)))
		return -1;
	return info.num_regions == VFIO_PCI_NUM_REGIONS ? 0 : -1;
}

/* ---- Scenarios: each returns the process's exit status ---- */

static int truncated_header(int sock)
{
	return send_bytes(sock, "\x01\x00\x04\x00\x20\x00\x00", 7, -1) ? fail("send") : 0;
}

static int bad_size(int sock, uint32_t size)
{
	struct vfio_user_header h = { .msg_id = 1, .cmd = VFIO_USER_VERSION, .size = size };

	if (send_bytes(sock, &h, sizeof(h), -1))
		return fail("send");
	return closed_by_peer(sock) ? 0 : fail("size %u did not close the connection", size);
}

static int size_small(int sock)
{
	return bad_size(sock, 8);
}

static int size_huge(int sock)
{
	return bad_size(sock, 0x40000000);
}

static int expect_errno_then_usable(int sock, uint16_t cmd, const void *p,
				    size_t len, int fd, int want)
{
	int err;

	if (version(sock, 1))
		return fail("VERSION refused");
	if (send_cmd(sock, 2, cmd, p, len, fd))
		return fail("send");
	err = reply(sock, 2, NULL, 0);
	if (err != want)
		return fail("command %u: errno %d, expected %d", cmd, err, want);
	return device_info(sock, 3) ? fail("connection unusable afterwards") : 0;
}

static int unknown_command(int sock)
{
	return expect_errno_then_usable(sock, 99, NULL, 0, -1, ENOTSUP);
}

static int dma_read(int sock)
{
	uint64_t p[2] = { 0x1000, 8 };

	return expect_errno_then_usable(sock, VFIO_USER_DMA_READ, p, sizeof(p), -1, ENOTSUP);
}

static int region_beyond(int sock)
{
	struct vfio_user_region_access a = {
		.offset = 254, .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 4,
	};

	return expect_errno_then_usable(sock, VFIO_USER_REGION_READ, &a, sizeof(a), -1, EINVAL);
}

static int region_write_short(int sock)
{
	/* count says 8 bytes follow; only 2 do. */
	struct {
		struct vfio_user_region_access a;
		uint8_t data[2];
	} __attribute__((packed)) w = { { 0, 0, 8 }, { 1, 2 } };

	return expect_errno_then_usable(sock, VFIO_USER_REGION_WRITE, &w, sizeof(w), -1, EINVAL);
}

static int dma_map_nofd(int sock)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m), .flags = 3, .addr = 0x10000, .size = 4096,
	};

	return expect_errno_then_usable(sock, VFIO_USER_DMA_MAP, &m, sizeof(m), -1, ENOTSUP);
}

static int set_irqs_short(int sock)
{
	uint32_t s[2] = { 20, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER };

	return expect_errno_then_usable(sock, VFIO_USER_DEVICE_SET_IRQS, s, sizeof(s), -1, EINVAL);
}

static int stray_fd(int sock)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	int efd = eventfd(0, EFD_CLOEXEC), err;

	/* An fd nobody asked for is closed, the command answered. */
	err = expect_errno_then_usable(sock, VFIO_USER_DEVICE_GET_INFO, &info,
				       sizeof(info), efd, 0);
	close(efd);
	return err;
}

/*
 * An interrupt into an eventfd the client filled to its maximum: a write of
 * 1 to it blocks (the client made it blocking), and devsim is one thread,
 * so it must not write - found by tests/fuzz/fuzz_devsim.c.  The edu's
 * raise register interrupts; its write must still be answered.
 */
static int irq_full(int sock)
{
	const uint64_t max = 0xfffffffffffffffeull;
	struct vfio_user_irq_set s = {
		.argsz = sizeof(s),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
	};
	struct {
		struct vfio_user_region_access a;
		uint32_t val;
	} __attribute__((packed)) raise = {
		{ .offset = 0x60, .region = VFIO_PCI_BAR0_REGION_INDEX, .count = 4 }, 1,
	};
	int efd = eventfd(0, EFD_CLOEXEC), err = 1;
	uint64_t count;

	if (efd < 0 || write(efd, &max, sizeof(max)) != sizeof(max))
		return fail("eventfd: %s", strerror(errno));
	if (version(sock, 1))
		fail("VERSION refused");
	else if (send_cmd(sock, 2, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), efd) ||
		 reply(sock, 2, NULL, 0))
		fail("SET_IRQS with an eventfd refused");
	else if (send_cmd(sock, 3, VFIO_USER_REGION_WRITE, &raise, sizeof(raise), -1) ||
		 reply(sock, 3, NULL, 0))
		fail("an interrupt into a full eventfd blocked devsim");
	else if (read(efd, &count, sizeof(count)) != sizeof(count) || count != max)
		fail("the full eventfd changed");
	else
		err = device_info(sock, 4) ? fail("connection unusable afterwards") : 0;
	close(efd);
	return err;
}

static int mid_message(int sock)
{
	uint8_t buf[64], payload[48] = { 0 };
	size_t n;

	if (version(sock, 1))
		return fail("VERSION refused");
	n = build(buf, 2, VFIO_USER_DEVICE_GET_INFO, payload, sizeof(payload));
	return send_bytes(sock, buf, n - 30, -1) ? fail("send") : 0;
}

static int before_version(int sock)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	int err;

	if (send_cmd(sock, 1, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), -1))
		return fail("send");
	err = reply(sock, 1, NULL, 0);
	if (err != EINVAL)
		return fail("GET_INFO before VERSION: errno %d, expected EINVAL", err);
	if (version(sock, 2))
		return fail("VERSION refused afterwards");
	if (version(sock, 3) != EINVAL)
		return fail("a second VERSION was accepted");
	return device_info(sock, 4) ? fail("GET_INFO after VERSION") : 0;
}

static int bad_major(int sock)
{
	struct vfio_user_version v = { 1, 0 };

	if (send_cmd(sock, 1, VFIO_USER_VERSION, &v, sizeof(v), -1))
		return fail("send");
	if (reply(sock, 1, NULL, 0) != ENOTSUP)
		return fail("major 1 not refused with ENOTSUP");
	return closed_by_peer(sock) ? 0 : fail("connection stayed open");
}

static int bad_json(int sock)
{
	struct {
		struct vfio_user_version v;
		char json[4];
	} __attribute__((packed)) v = { { 0, 1 }, { '{', '"', '}', 'x' } };

	if (send_cmd(sock, 1, VFIO_USER_VERSION, &v, sizeof(v), -1))
		return fail("send");
	if (reply(sock, 1, NULL, 0) != EINVAL)
		return fail("unterminated JSON accepted");
	return version(sock, 2) || device_info(sock, 3) ? fail("unusable afterwards") : 0;
}

/* Three messages in one write, then one message a byte at a time. */
static int framing(int sock)
{
	struct vfio_user_version v = { 0, 1 };
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfio_user_region_access a = {
		.offset = 0, .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 4,
	};
	struct {
		struct vfio_user_region_access a;
		uint16_t ids[2];
	} rd;
	uint8_t buf[256];
	size_t n = 0;

	n += build(buf + n, 1, VFIO_USER_VERSION, &v, sizeof(v));
	n += build(buf + n, 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
	n += build(buf + n, 3, VFIO_USER_REGION_READ, &a, sizeof(a));
	if (send_bytes(sock, buf, n, -1))
		return fail("send");
	if (reply(sock, 1, NULL, 0) || reply(sock, 2, &info, sizeof(info)) ||
	    reply(sock, 3, &rd, sizeof(rd)))
		return fail("coalesced messages not all answered");
	if (info.num_regions != VFIO_PCI_NUM_REGIONS || rd.ids[0] != 0x1234)
		return fail("wrong answers to coalesced messages");
	n = build(buf, 4, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
	for (size_t i = 0; i < n; i++)
		if (send_bytes(sock, buf + i, 1, -1))
			return fail("send");
	return reply(sock, 4, NULL, 0) ? fail("split message not answered") : 0;
}

static int second_connection(int sock, const char *path)
{
	int other;

	if (version(sock, 1))
		return fail("VERSION refused");
	other = connect_to(path);
	if (other < 0)
		return fail("connect: %s", strerror(errno));
	if (!closed_by_peer(other)) {
		close(other);
		return fail("second connection not closed");
	}
	close(other);
	return device_info(sock, 2) ? fail("first connection broken") : 0;
}

/* A command, then the close before its reply (main() closes). */
static int hangup(int sock)
{
	return send_version(sock, 1) ? fail("send") : 0;
}

static const struct {
	const char *name;
	int (*run)(int sock);
} scenarios[] = {
	{ "truncated-header", truncated_header },
	{ "size-small", size_small },
	{ "size-huge", size_huge },
	{ "unknown-command", unknown_command },
	{ "dma-read", dma_read },
	{ "region-beyond", region_beyond },
	{ "region-write-short", region_write_short },
	{ "dma-map-nofd", dma_map_nofd },
	{ "set-irqs-short", set_irqs_short },
	{ "stray-fd", stray_fd },
	{ "irq-full", irq_full },
	{ "mid-message", mid_message },
	{ "before-version", before_version },
	{ "bad-major", bad_major },
	{ "bad-json", bad_json },
	{ "framing", framing },
	{ "hangup", hangup },
};

static int status(const char *path, const char *req)
{
	char buf[8192];
	size_t len = 0;
	int sock = connect_to(path);

	if (sock < 0)
		return fail("%s: %s", path, strerror(errno));
	if (send_bytes(sock, req, strlen(req), -1) || send_bytes(sock, "\n", 1, -1))
		return fail("send");
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 15000) != 1)
			return fail("no reply");
		n = read(sock, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return fail("connection closed");
		len += (size_t)n;
	}
	close(sock);
	fwrite(buf, 1, len, stdout);
	return 0;
}

static int status_hangup(const char *path, const char *req)
{
	int sock = connect_to(path), ret = 0;

	if (sock < 0)
		return fail("%s: %s", path, strerror(errno));
	if (send_bytes(sock, req, strlen(req), -1) || send_bytes(sock, "\n", 1, -1))
		ret = fail("send");
	close(sock);
	return ret;
}

int main(int argc, char **argv)
{
	int sock, ret;

	if (argc != 4)
		goto usage;
	scenario = argv[1];
	if (!strcmp(argv[1], "status"))
		return status(argv[2], argv[3]);
	if (!strcmp(argv[1], "hangup"))
		return status_hangup(argv[2], argv[3]);
	if (!strcmp(argv[1], "probe")) {
		/* Status while connected: devsim has finished with the last client. */
		sock = connect_to(argv[2]);
		if (sock < 0)
			return fail("%s: %s", argv[2], strerror(errno));
		ret = version(sock, 1) ? fail("VERSION refused") : status(argv[3], "status");
		close(sock);
		return ret;
	}
	if (strcmp(argv[1], "hostile"))
		goto usage;
	scenario = argv[3];
	sock = connect_to(argv[2]);
	if (sock < 0)
		return fail("%s: %s", argv[2], strerror(errno));
	if (!strcmp(scenario, "second-connection")) {
		ret = second_connection(sock, argv[2]);
		close(sock);
		return ret;
	}
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenarios[i].name, scenario))
			continue;
		ret = scenarios[i].run(sock);
		close(sock);
		return ret;
	}
	close(sock);
usage:
	fprintf(stderr, "usage: devsim_client status|hangup SOCK REQUEST | "
		"hostile SOCK SCENARIO | probe SOCK STATUS_SOCK\n");
	return 2;
}
