// SPDX-License-Identifier: MIT
/*
 * Preserved fds: into an outgoing session by token before the kexec, out
 * of the incoming one by the same token after it.  The kernel decides what
 * it can carry (memfds today), so nothing is refused here on the fd's
 * kind: the kernel's answer is the truth, and baton_luo_why() words it.
 */
#include <errno.h>

#include "internal.h"
#include "luo/luo.h"
#include "luo/luo-internal.h"

int baton_luo_preserve_fd(struct baton_luo_session *s, int fd, uint64_t token)
{
	struct baton_luo_fd_args args = {
		.size = sizeof(args), .fd = fd, .token = token,
	};

	if (baton_luo_session_incoming(s))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return baton_luo_call(baton_luo_session_fd(s), BATON_LUO_IOC_PRESERVE_FD,
			      &args);
}

int baton_luo_retrieve_fd(struct baton_luo_session *s, uint64_t token)
{
	struct baton_luo_fd_args args = {
		.size = sizeof(args), .fd = -1, .token = token,
	};
	int err;

	if (!baton_luo_session_incoming(s))
		return -EINVAL;
	err = baton_luo_call(baton_luo_session_fd(s), BATON_LUO_IOC_RETRIEVE_FD,
			     &args);
	if (err)
		return err;
	if (args.fd < 0)
		return -EIO;	/* the kernel said yes and gave no fd */
	return args.fd;
}
