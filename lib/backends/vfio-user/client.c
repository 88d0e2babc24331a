// SPDX-License-Identifier: MIT
/**
 * DOC: vfio-user client
 *
 * The implementation of include/baton/vfio_user.h.  A handle is a socket,
 * the next message id, the server's transfer limit, and the requests in
 * flight (struct vfu_pending: one, until the handle's first submitted
 * read makes room for VFU_MAX_PENDING, their replies within
 * VFU_PENDING_BYTES - a program holds a handle a device, a thousand of
 * them restored at once, and sixteen slots each cost the restore a page
 * fault a device).  A request is sent whole with one sendmsg()
 * (fds attached, so they travel with the message's first byte); a reply
 * is read header first, then exactly the payload it announces, into the
 * request of the same message id and command.  Each call is one such
 * exchange done to completion before it returns; reads a driver submits
 * (vfu_submit_read(), baton_devio_read_submit()) are sent without waiting
 * and their replies read by vfu_collect_reads() - or by a call that finds
 * them first - so that several devices' reads are in flight together.
 * A read's reply must echo the access it answers.  The socket itself
 * stays blocking (another process may share it after an update); every
 * wait is a poll() bounded by the deadline of the call (or collect), and
 * each syscall uses MSG_DONTWAIT.  Forgetting a handle first collects
 * what it submitted: the next holder must not read those replies.
 *
 * A reply that is not for a request in flight is read and dropped; a
 * command from the server (DMA_READ/WRITE: we only share memory by fd) is
 * answered ENOTSUP.  Anything that leaves the byte stream at an unknown
 * position (a timeout mid-reply, a malformed header, EOF) marks the handle
 * broken: every request in flight and every later call fails at once with
 * the same -errno instead of reading some other message's bytes as a reply.  A reply that arrives
 * whole but without its fd, because our fd table is full, fails with
 * -EMFILE and leaves the handle usable: a region without its fd would
 * otherwise look like a region that has none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/vfio_user.h>
#include <linux/vfio.h>

#include "internal.h"
#include "backends/devio-internal.h"
#include "backends/vfio-user/protocol.h"

/*
 * At most this many requests in flight on a connection, whose replies
 * take at most this many bytes together: well inside a Unix socket's
 * buffer (208 KiB by default), since devsim drops a client whose reply it
 * cannot send whole.  One request alone may have a larger reply.
 */
#define VFU_MAX_PENDING 16
#define VFU_PENDING_BYTES (32u << 10)

/* A request sent, its reply not yet read. */
struct vfu_pending {
	bool used;
	bool done;		/* its reply was read: @err says how it went */
	bool submitted;		/* vfu_submit_read()'s: nobody waits for it */
	uint16_t msg_id;
	uint16_t cmd;
	int err;
	uint32_t bytes;		/* the reply's size, header included */
	int nrep;
	struct iovec rep[4];	/* where the reply's payload goes */
	size_t *rep_got;	/* if not NULL: the payload may be shorter */
	int *rep_fd;		/* if not NULL: gets the reply's fd */
	/* A REGION_READ: what was asked, and the reply's echo of it. */
	struct vfio_user_region_access access, echo;
};

struct baton_vfu {
	int fd;
	uint16_t next_id;
	uint32_t max_xfer;	/* the largest count one access may carry */
	int timeout_ms;
	int broken;		/* errno that made the stream unusable, or 0 */
	bool fds_cut;		/* the kernel dropped fds of the message being read */
	struct vfu_pending *pending;	/* &one, or VFU_MAX_PENDING on the heap */
	struct vfu_pending one;
	unsigned int max_pending;
	unsigned int n_pending;
	uint32_t pending_bytes;	/* their replies' sizes */
	int read_err;		/* the first failure of a submitted read, or 0 */
};

/* What we accept; we never send more than the server announced. */
static const char version_json[] =
	"{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":65536}}";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for @events until @deadline; 0 when ready, else errno ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Drop @done bytes from the front of an iovec array. */
static void iov_advance(struct iovec **iov, int *n, size_t done)
{
	while (*n && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

/*
 * Send all of @iov (modified), with @fd (if >= 0) attached to the first
 * byte.  Returns 0 or -1 with errno.
 */
static int send_all(struct baton_vfu *vfu, struct iovec *iov, int n, int fd,
		    int64_t deadline)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr msg;
	ssize_t done;

	while (n) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		if (fd >= 0)
			baton_scm_attach_fds(&msg, control, &fd, 1);
		done = sendmsg(vfu->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || wait_fd(vfu->fd, POLLOUT, deadline))
				return -1;
			continue;
		}
		/* The fd went with the bytes that were accepted. */
		fd = -1;
		iov_advance(&iov, &n, (size_t)done);
	}
	return 0;
}

/* The first fd that arrives goes to *@keep if it is still -1. */
static void take_first_fd(const struct msghdr *msg, int *keep)
{
	int fd;

	if (baton_scm_take_fds(msg, &fd, keep && *keep < 0 ? 1 : 0) &&
	    keep && *keep < 0)
		*keep = fd;
}

/*
 * Fill all of @iov (modified).  The first fd that arrives goes to *@fd if
 * @fd is not NULL and still -1; every other one is closed.  Returns 0, or
 * -1 with errno (ECONNRESET at EOF).
 */
static int recv_all(struct baton_vfu *vfu, struct iovec *iov, int n, int *fd,
		    int64_t deadline)
{
	char control[CMSG_SPACE(sizeof(int) * VFIO_USER_MAX_MSG_FDS)];
	struct msghdr msg;
	ssize_t done;

	while (n) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		done = recvmsg(vfu->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || wait_fd(vfu->fd, POLLIN, deadline))
				return -1;
			continue;
		}
		take_first_fd(&msg, fd);
		if (msg.msg_flags & MSG_CTRUNC)
			vfu->fds_cut = true;
		if (done == 0) {
			errno = ECONNRESET;
			return -1;
		}
		iov_advance(&iov, &n, (size_t)done);
	}
	return 0;
}

/* Read and drop @len bytes of a message that is not for us. */
static int discard(struct baton_vfu *vfu, size_t len, int64_t deadline)
{
	char scratch[4096];

	while (len) {
		struct iovec iov = { scratch, len < sizeof(scratch) ? len : sizeof(scratch) };

		if (recv_all(vfu, &iov, 1, NULL, deadline))
			return -1;
		len -= sizeof(scratch) < len ? sizeof(scratch) : len;
	}
	return 0;
}

/* The server sent a command: we serve none, so say so and go on. */
static int refuse_command(struct baton_vfu *vfu, const struct vfio_user_header *cmd,
			  int64_t deadline)
{
	struct vfio_user_header h = {
		.msg_id = cmd->msg_id,
		.cmd = cmd->cmd,
		.size = sizeof(h),
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error = ENOTSUP,
	};
	struct iovec iov = { &h, sizeof(h) };

	if (discard(vfu, cmd->size - sizeof(*cmd), deadline))
		return -1;
	if (cmd->flags & VFIO_USER_F_NO_REPLY)
		return 0;
	return send_all(vfu, &iov, 1, -1, deadline);
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/*
 * Whether the reply just read fills @p's iovecs: exactly, or, with
 * @p->rep_got, at most.
 */
static bool reply_fits(const struct vfu_pending *p, size_t body)
{
	size_t want = iov_total(p->rep, p->nrep);

	return p->rep_got ? body <= want : body == want;
}

/* Whether a request of @msg_id, whatever its command, waits for its reply. */
static bool id_in_flight(const struct baton_vfu *vfu, uint16_t msg_id)
{
	for (unsigned int i = 0; i < vfu->max_pending; i++)
		if (vfu->pending[i].used && !vfu->pending[i].done &&
		    vfu->pending[i].msg_id == msg_id)
			return true;
	return false;
}

/* The request of @msg_id and @cmd still waiting for its reply, or NULL. */
static struct vfu_pending *find_pending(struct baton_vfu *vfu, uint16_t msg_id,
					uint16_t cmd)
{
	for (unsigned int i = 0; i < vfu->max_pending; i++) {
		struct vfu_pending *p = &vfu->pending[i];

		if (p->used && !p->done && p->msg_id == msg_id && p->cmd == cmd)
			return p;
	}
	return NULL;
}

static void release(struct baton_vfu *vfu, struct vfu_pending *p)
{
	vfu->n_pending--;
	vfu->pending_bytes -= p->bytes;
	p->used = false;
}

/*
 * @p's reply has been read, and @err is how it went: a submitted read's
 * error is kept for vfu_collect_reads() and its slot is free at once; a
 * call() takes its own result.
 */
static void complete(struct baton_vfu *vfu, struct vfu_pending *p, int err)
{
	/* A read's reply echoes the access it answers (the spec says so). */
	if (!err && p->cmd == VFIO_USER_REGION_READ &&
	    memcmp(&p->access, &p->echo, sizeof(p->access)))
		err = -EPROTO;
	p->err = err;
	p->done = true;
	if (!p->submitted)
		return;
	if (err && !vfu->read_err)
		vfu->read_err = err;
	release(vfu, p);
}

/*
 * The stream is lost (@err, an errno): every request still waiting fails
 * with it, and so does every later call.
 */
static int lose_stream(struct baton_vfu *vfu, int err)
{
	vfu->broken = err;
	for (unsigned int i = 0; i < vfu->max_pending; i++)
		if (vfu->pending[i].used && !vfu->pending[i].done)
			complete(vfu, &vfu->pending[i], -err);
	return -err;
}

/*
 * Read one message and deal with it: a reply goes to the request waiting
 * for it (its message id and command), a command is refused, anything
 * else is dropped.  Returns 0, or -1 with errno when the stream is lost.
 */
static int receive_one(struct baton_vfu *vfu, int64_t deadline)
{
	struct vfio_user_header r;
	struct iovec hv = { &r, sizeof(r) }, in[4];
	struct vfu_pending *p;
	int fd = -1;
	size_t body;

	/* An fd comes with the first byte: the header's. */
	vfu->fds_cut = false;
	if (recv_all(vfu, &hv, 1, &fd, deadline))
		goto err;
	if (r.size < sizeof(r) || r.size > VFIO_USER_MAX_MSG_SIZE) {
		errno = EPROTO;
		goto err;
	}
	body = r.size - sizeof(r);
	if ((r.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND) {
		if (fd >= 0)
			close(fd);
		return refuse_command(vfu, &r, deadline);
	}
	p = (r.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY ?
	    find_pending(vfu, r.msg_id, r.cmd) : NULL;
	if (!p || (r.flags & VFIO_USER_F_ERROR)) {
		if (fd >= 0)
			close(fd);
		if (discard(vfu, body, deadline))
			return -1;
		/* Only an errno is passed on, never a Baton code. */
		if (p)
			complete(vfu, p, !r.error || r.error >= BATON_ERR_BASE ?
				 -EPROTO : -(int)r.error);
		return 0;
	}
	if (!reply_fits(p, body)) {
		errno = EPROTO;
		goto err;
	}
	memcpy(in, p->rep, sizeof(*in) * (size_t)p->nrep);
	/* Trim the reply iovecs to the body when it may be short. */
	for (int i = 0, left = (int)body; p->rep_got && i < p->nrep; i++) {
		if (in[i].iov_len > (size_t)left)
			in[i].iov_len = (size_t)left;
		left -= (int)in[i].iov_len;
	}
	if (recv_all(vfu, in, p->nrep, &fd, deadline))
		goto err;
	if (p->rep_got)
		*p->rep_got = body;
	/*
	 * The reply came whole, but not its fd: the stream is still in step,
	 * so the request fails and the handle stays usable.
	 */
	if (vfu->fds_cut) {
		if (fd >= 0)
			close(fd);
		complete(vfu, p, baton_fd_table_full() ? -EMFILE : -EPROTO);
		return 0;
	}
	if (p->rep_fd)
		*p->rep_fd = fd;
	else if (fd >= 0)
		close(fd);
	complete(vfu, p, 0);
	return 0;

err:
	if (fd >= 0) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

/*
 * Until one more request of @bytes of reply may be in flight: at most
 * max_pending requests, and replies that fit in the socket's buffer
 * together (devsim drops a client whose reply it cannot send whole).
 */
static int make_room(struct baton_vfu *vfu, uint32_t bytes, int64_t deadline)
{
	while (vfu->n_pending == vfu->max_pending ||
	       (vfu->n_pending && vfu->pending_bytes + bytes > VFU_PENDING_BYTES))
		if (receive_one(vfu, deadline))
			return -1;
	return 0;
}

/*
 * Send one request: @req/@nreq its payload, @fd attached if >= 0; its
 * reply goes to @rep/@nrep (exactly, or at most with @rep_got, which then
 * gets the length), its fd to @rep_fd (-1 for none) if not NULL.  A
 * REGION_READ gives its @access: the reply's echo of it goes to the slot
 * and is checked, the data to @rep.  Returns the request's slot, or NULL
 * with vfu->broken set.
 */
static struct vfu_pending *send_request(struct baton_vfu *vfu, uint16_t cmd,
					const struct iovec *req, int nreq, int fd,
					const struct iovec *rep, int nrep,
					size_t *rep_got, int *rep_fd,
					const struct vfio_user_region_access *access,
					int64_t deadline)
{
	struct vfio_user_header h = {
		.cmd = cmd,
		.size = (uint32_t)(sizeof(h) + iov_total(req, nreq)),
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	uint32_t bytes = (uint32_t)(sizeof(h) + iov_total(rep, nrep));
	struct vfu_pending *p = vfu->pending;
	struct iovec out[4];

	if (make_room(vfu, bytes, deadline)) {
		lose_stream(vfu, errno);
		return NULL;
	}
	while (p->used)
		p++;
	/* Ids are unique among the requests in flight: 16 of 65,536. */
	do
		h.msg_id = vfu->next_id++;
	while (id_in_flight(vfu, h.msg_id));
	*p = (struct vfu_pending){
		.used = true, .msg_id = h.msg_id, .cmd = cmd,
		.rep_got = rep_got, .rep_fd = rep_fd, .bytes = bytes,
	};
	if (access) {
		p->access = *access;
		p->rep[p->nrep++] = (struct iovec){ &p->echo, sizeof(p->echo) };
		p->bytes += sizeof(p->echo);
	}
	if (nrep)
		memcpy(p->rep + p->nrep, rep, sizeof(*rep) * (size_t)nrep);
	p->nrep += nrep;
	if (rep_fd)
		*rep_fd = -1;
	vfu->n_pending++;
	vfu->pending_bytes += p->bytes;
	out[0] = (struct iovec){ &h, sizeof(h) };
	if (nreq)
		memcpy(out + 1, req, sizeof(*req) * (size_t)nreq);
	if (send_all(vfu, out, nreq + 1, fd, deadline)) {
		lose_stream(vfu, errno);
		release(vfu, p);
		return NULL;
	}
	return p;
}

/*
 * One exchange, as send_request() describes its arguments, waited for:
 * replies to submitted reads that arrive first go to them.
 */
static int call(struct baton_vfu *vfu, uint16_t cmd, const struct iovec *req,
		int nreq, int fd, const struct iovec *rep, int nrep,
		size_t *rep_got, int *rep_fd,
		const struct vfio_user_region_access *access)
{
	int64_t deadline;
	struct vfu_pending *p;
	int err;

	if (vfu->broken)
		return -vfu->broken;
	if (nreq > 3 || nrep > 3)
		return -EINVAL;
	deadline = now_ms() + vfu->timeout_ms;
	p = send_request(vfu, cmd, req, nreq, fd, rep, nrep, rep_got, rep_fd, access,
			 deadline);
	if (!p)
		return -vfu->broken;
	while (!p->done)
		if (receive_one(vfu, deadline))
			lose_stream(vfu, errno);
	err = p->err;
	if (err && rep_fd && *rep_fd >= 0) {
		close(*rep_fd);
		*rep_fd = -1;
	}
	release(vfu, p);
	return err;
}

static void vfu_free(struct baton_vfu *vfu)
{
	if (vfu->pending != &vfu->one)
		free(vfu->pending);
	free(vfu);
}

int vfu_new(int fd, struct baton_vfu **out)
{
	struct baton_vfu *vfu = calloc(1, sizeof(*vfu));

	if (!vfu)
		return -ENOMEM;
	vfu->fd = fd;
	vfu->pending = &vfu->one;
	vfu->max_pending = 1;
	vfu->next_id = 1;
	vfu->max_xfer = VFIO_USER_MAX_DATA_XFER;
	vfu->timeout_ms = BATON_VFU_TIMEOUT_MS;
	*out = vfu;
	return 0;
}

/* Take max_data_xfer_size from the server's capabilities, if it says. */
static int parse_version_json(struct baton_vfu *vfu, const char *data, size_t len)
{
	struct json_object *root, *caps, *v;
	int64_t xfer;

	if (len == 0)
		return 0;
	if (data[len - 1] != '\0')
		return -1;
	root = json_tokener_parse(data);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -1;
	}
	if (json_object_object_get_ex(root, "capabilities", &caps) &&
	    json_object_object_get_ex(caps, "max_data_xfer_size", &v)) {
		xfer = json_object_get_int64(v);
		/* Never more than we can receive, nor more than asked for. */
		if (xfer > 0 && (uint64_t)xfer < vfu->max_xfer)
			vfu->max_xfer = (uint32_t)xfer;
	}
	json_object_put(root);
	return 0;
}

static int negotiate(struct baton_vfu *vfu)
{
	struct vfio_user_version v = { VFIO_USER_MAJOR, VFIO_USER_MINOR }, rv;
	char data[512];
	struct iovec req[2] = {
		{ &v, sizeof(v) },
		{ (void *)version_json, sizeof(version_json) },
	};
	struct iovec rep[2] = { { &rv, sizeof(rv) }, { data, sizeof(data) } };
	size_t got;
	int err;

	err = call(vfu, VFIO_USER_VERSION, req, 2, -1, rep, 2, &got, NULL, NULL);
	if (err)
		return err;
	if (got < sizeof(rv) || rv.major != VFIO_USER_MAJOR ||
	    rv.minor > VFIO_USER_MINOR ||
	    parse_version_json(vfu, data, got - sizeof(rv)))
		return -EPROTO;
	return 0;
}

int baton_vfu_connect(const char *path, struct baton_vfu **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct baton_vfu *vfu;
	int fd, err;

	if (!path || !out)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto err_close;
	}
	err = vfu_new(fd, &vfu);
	if (err)
		goto err_close;
	err = negotiate(vfu);
	if (err)
		goto err_free;
	*out = vfu;
	return 0;

err_free:
	vfu_free(vfu);
err_close:
	close(fd);
	return err;
}

int baton_vfu_adopt(int fd, struct baton_vfu **out)
{
	int err;

	if (fd < 0 || !out)
		return -EINVAL;
	err = vfu_new(fd, out);
	if (err)
		close(fd);
	return err;
}

int baton_vfu_fd(const struct baton_vfu *vfu)
{
	return vfu ? vfu->fd : -1;
}

int baton_vfu_set_timeout(struct baton_vfu *vfu, int ms)
{
	if (!vfu || ms <= 0)
		return -EINVAL;
	vfu->timeout_ms = ms;
	return 0;
}

void baton_vfu_close(struct baton_vfu *vfu)
{
	if (!vfu)
		return;
	close(vfu->fd);
	vfu_free(vfu);
}

void baton_vfu_forget(struct baton_vfu *vfu)
{
	if (!vfu)
		return;
	/* The next holder must not take our reads' replies for its own. */
	vfu_collect_reads(vfu);
	vfu_free(vfu);
}

int baton_vfu_device_info(struct baton_vfu *vfu, uint32_t *num_regions,
			  uint32_t *num_irqs)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct iovec req = { &info, sizeof(info) }, rep = { &info, sizeof(info) };
	int err;

	if (!vfu)
		return -EINVAL;
	err = call(vfu, VFIO_USER_DEVICE_GET_INFO, &req, 1, -1, &rep, 1, NULL, NULL, NULL);
	if (err)
		return err;
	if (num_regions)
		*num_regions = info.num_regions;
	if (num_irqs)
		*num_irqs = info.num_irqs;
	return 0;
}

int baton_vfu_region_info(struct baton_vfu *vfu, uint32_t index,
			  struct baton_vfu_region *out)
{
	struct vfio_user_region_info info = { .argsz = sizeof(info), .index = index };
	struct iovec req = { &info, sizeof(info) }, rep = { &info, sizeof(info) };
	int err, fd = -1;

	if (!vfu || !out)
		return -EINVAL;
	err = call(vfu, VFIO_USER_DEVICE_GET_REGION_INFO, &req, 1, -1, &rep, 1,
		   NULL, &fd, NULL);
	if (err)
		return err;
	/* An fd is only meaningful, and only kept, for a mappable region. */
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) && fd >= 0) {
		close(fd);
		fd = -1;
	}
	*out = (struct baton_vfu_region){
		.size = info.size,
		.offset = info.offset,
		.flags = info.flags,
		.fd = fd,
	};
	return 0;
}

static int access_args_ok(const struct baton_vfu *vfu, const void *buf,
			  uint64_t offset, uint32_t count)
{
	return vfu && buf && count && offset + count >= offset;
}

int baton_vfu_region_read(struct baton_vfu *vfu, uint32_t index,
			  uint64_t offset, void *buf, uint32_t count)
{
	if (!access_args_ok(vfu, buf, offset, count))
		return -EINVAL;
	while (count) {
		uint32_t n = count < vfu->max_xfer ? count : vfu->max_xfer;
		struct vfio_user_region_access a = { offset, index, n };
		struct iovec req = { &a, sizeof(a) }, rep = { buf, n };
		int err;

		err = call(vfu, VFIO_USER_REGION_READ, &req, 1, -1, &rep, 1, NULL, NULL, &a);
		if (err)
			return err;
		buf = (char *)buf + n;
		offset += n;
		count -= n;
	}
	return 0;
}

int vfu_submit_read(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		    void *buf, uint32_t count)
{
	int64_t deadline;

	if (!access_args_ok(vfu, buf, offset, count))
		return -EINVAL;
	/* The first read submitted: room for more in flight.  No slot is
	 * referred to between calls, so the one slot moves as it is. */
	if (vfu->pending == &vfu->one) {
		struct vfu_pending *more = calloc(VFU_MAX_PENDING, sizeof(*more));

		if (!more)
			return -ENOMEM;
		more[0] = vfu->one;
		vfu->pending = more;
		vfu->max_pending = VFU_MAX_PENDING;
	}
	deadline = now_ms() + vfu->timeout_ms;
	while (count) {
		uint32_t n = count < vfu->max_xfer ? count : vfu->max_xfer;
		struct vfio_user_region_access a = { offset, index, n };
		struct iovec req = { &a, sizeof(a) }, rep = { buf, n };
		struct vfu_pending *p;

		if (vfu->broken)
			return -vfu->broken;
		p = send_request(vfu, VFIO_USER_REGION_READ, &req, 1, -1, &rep, 1, NULL,
				 NULL, &a, deadline);
		if (!p)
			return -vfu->broken;
		p->submitted = true;
		buf = (char *)buf + n;
		offset += n;
		count -= n;
	}
	return 0;
}

int vfu_collect_reads(struct baton_vfu *vfu)
{
	int64_t deadline = now_ms() + vfu->timeout_ms;
	int err;

	/* Outside call(), only submitted reads are in flight. */
	while (vfu->n_pending)
		if (receive_one(vfu, deadline))
			lose_stream(vfu, errno);
	err = vfu->read_err;
	vfu->read_err = 0;
	return err;
}

int baton_vfu_region_write(struct baton_vfu *vfu, uint32_t index,
			   uint64_t offset, const void *buf, uint32_t count)
{
	if (!access_args_ok(vfu, buf, offset, count))
		return -EINVAL;
	while (count) {
		uint32_t n = count < vfu->max_xfer ? count : vfu->max_xfer;
		struct vfio_user_region_access a = { offset, index, n }, ra;
		struct iovec req[2] = { { &a, sizeof(a) }, { (void *)buf, n } };
		struct iovec rep = { &ra, sizeof(ra) };
		int err;

		err = call(vfu, VFIO_USER_REGION_WRITE, req, 2, -1, &rep, 1, NULL, NULL, NULL);
		if (err)
			return err;
		buf = (const char *)buf + n;
		offset += n;
		count -= n;
	}
	return 0;
}

int baton_vfu_read32(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		     uint32_t *val)
{
	return baton_vfu_region_read(vfu, index, offset, val, sizeof(*val));
}

int baton_vfu_read64(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		     uint64_t *val)
{
	return baton_vfu_region_read(vfu, index, offset, val, sizeof(*val));
}

int baton_vfu_write32(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		      uint32_t val)
{
	return baton_vfu_region_write(vfu, index, offset, &val, sizeof(val));
}

int baton_vfu_write64(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		      uint64_t val)
{
	return baton_vfu_region_write(vfu, index, offset, &val, sizeof(val));
}

int baton_vfu_dma_map(struct baton_vfu *vfu, uint64_t iova, uint64_t size,
		      int fd, uint64_t offset, bool writable)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_USER_DMA_READ_FLAG |
			 (writable ? VFIO_USER_DMA_WRITE_FLAG : 0),
		.offset = offset,
		.addr = iova,
		.size = size,
	};
	struct iovec req = { &m, sizeof(m) };

	if (!vfu || !size || iova + size < iova)
		return -EINVAL;
	return call(vfu, VFIO_USER_DMA_MAP, &req, 1, fd, NULL, 0, NULL, NULL, NULL);
}

int baton_vfu_dma_unmap(struct baton_vfu *vfu, uint64_t iova, uint64_t size)
{
	struct vfio_user_dma_unmap u = {
		.argsz = sizeof(u), .addr = iova, .size = size,
	}, ru;
	struct iovec req = { &u, sizeof(u) }, rep = { &ru, sizeof(ru) };

	if (!vfu || !size)
		return -EINVAL;
	return call(vfu, VFIO_USER_DMA_UNMAP, &req, 1, -1, &rep, 1, NULL, NULL, NULL);
}

int baton_vfu_set_irq(struct baton_vfu *vfu, uint32_t index, int eventfd)
{
	struct vfio_user_irq_set s = {
		.argsz = sizeof(s),
		.index = index,
	};
	struct iovec req = { &s, sizeof(s) };

	if (!vfu)
		return -EINVAL;
	if (eventfd >= 0) {
		s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		s.count = 1;
	} else {
		/* start 0, count 0, DATA_NONE: every vector of the type off. */
		s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	}
	return call(vfu, VFIO_USER_DEVICE_SET_IRQS, &req, 1, eventfd, NULL, 0,
		    NULL, NULL, NULL);
}

int baton_vfu_reset(struct baton_vfu *vfu)
{
	if (!vfu)
		return -EINVAL;
	return call(vfu, VFIO_USER_DEVICE_RESET, NULL, 0, -1, NULL, 0, NULL, NULL, NULL);
}
