// SPDX-License-Identifier: MIT
/**
 * DOC: handing fds to another process (socket mode)
 *
 * In socket mode the next version is a new process, and everything it
 * inherits comes over a SOCK_SEQPACKET socketpair with SCM_RIGHTS: first
 * one message with a header (magic, the number of fds to follow) and the
 * image memfd, then the image's fds in image order, BATON_FDS_PER_MSG at a
 * time (the kernel refuses more than SCM_MAX_FD, 253, in one message), each
 * message saying how many it carries.  The receiver checks every count and
 * every truncation flag, and closes whatever it received when anything is
 * off, so a confused or hostile sender costs it nothing but an error.
 *
 * Then the new version answers with one byte: 'F' when it has restored
 * and finished (the old one must now exit without touching anything), 'E'
 * when it failed (the old one unfreezes and goes on).  No answer - the new
 * process crashed or the deadline passed - counts as 'E'.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "host/host-internal.h"

#define TRANSFER_MAGIC 0x42544658u	/* "BTFX" */

struct transfer_header {
	uint32_t magic;
	uint32_t n_fds;
};

static int send_fds(int sock, const void *data, size_t len, const int *fds,
		    size_t n)
{
	char control[CMSG_SPACE(sizeof(int) * BATON_FDS_PER_MSG)];
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	baton_scm_attach_fds(&msg, control, fds, n);
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -BATON_ERR_IO;
	return 0;
}

int baton_transfer_send(int sock, int image_fd, const int *fds, size_t n)
{
	const struct transfer_header h = { TRANSFER_MAGIC, (uint32_t)n };
	int err = send_fds(sock, &h, sizeof(h), &image_fd, 1);

	for (size_t done = 0; !err && done < n; done += BATON_FDS_PER_MSG) {
		uint32_t batch = (uint32_t)(n - done < BATON_FDS_PER_MSG ?
					    n - done : BATON_FDS_PER_MSG);

		err = send_fds(sock, &batch, sizeof(batch), fds + done, batch);
	}
	return err;
}

/* One message: its payload in @data (exactly @len bytes), its fds appended. */
static int recv_fds(int sock, void *data, size_t len, int *fds, size_t max,
		    size_t *got)
{
	char control[CMSG_SPACE(sizeof(int) * BATON_FDS_PER_MSG)];
	struct iovec iov = { data, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	bool extra = false;
	ssize_t n;

	*got = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		size_t carried = baton_scm_take_fds(&msg, fds, max);

		*got = carried < max ? carried : max;
		extra = carried > max;	/* more than announced: refuse */
	}
	if (n != (ssize_t)len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -BATON_ERR_IO;
	return extra ? -BATON_ERR_BADVALUE : 0;
}

int baton_transfer_recv(int sock, int *image_fd, int **fds, size_t *n)
{
	struct transfer_header h;
	size_t got, total = 0;
	int err;

	*fds = NULL;
	err = recv_fds(sock, &h, sizeof(h), image_fd, 1, &got);
	if (!err && (got != 1 || h.magic != TRANSFER_MAGIC || h.n_fds > (1u << 20)))
		err = -BATON_ERR_BADVALUE;
	if (err) {
		if (got)
			close(*image_fd);
		return err;
	}
	*fds = calloc(h.n_fds + 1, sizeof(**fds));
	if (!*fds) {
		close(*image_fd);
		return -BATON_ERR_NOMEM;
	}
	while (!err && total < h.n_fds) {
		uint32_t batch;

		err = recv_fds(sock, &batch, sizeof(batch), *fds + total,
			       h.n_fds - total, &got);
		if (!err && (batch != got || !got))
			err = -BATON_ERR_BADVALUE;
		total += got;	/* kept, even on error, to be closed below */
	}
	if (err) {
		for (size_t i = 0; i < total; i++)
			close((*fds)[i]);
		free(*fds);
		*fds = NULL;
		close(*image_fd);
		return err;
	}
	*n = total;
	return 0;
}
