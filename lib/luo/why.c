// SPDX-License-Identifier: MIT
/*
 * The kernel's errnos, in the words of the LUO call that got them.  An
 * errno alone says little here (ENOENT from open is a kernel without LUO,
 * from PRESERVE_FD a file the kernel cannot carry, from RETRIEVE_SESSION
 * a session that did not come across), so a tool prints this phrase; the
 * code it returns stays the errno (include/baton/error.h).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "luo/luo.h"

struct why {
	enum baton_luo_op op;
	int err;
	const char *text;
};

static const struct why whys[] = {
	{ BATON_LUO_OPEN, ENOENT,
	  "absent: this kernel has no Live Update Orchestrator, or it was not "
	  "enabled at boot (liveupdate=on)" },
	{ BATON_LUO_OPEN, EBUSY,
	  "another process holds it open, and only one may (an init such as "
	  "systemd opens it too)" },
	{ BATON_LUO_OPEN, EIO,
	  "the kernel could not read the sessions the previous kernel preserved" },
	{ BATON_LUO_OPEN, EACCES, "not allowed to open it" },
	{ BATON_LUO_OPEN, EPERM, "not allowed to open it" },
	{ BATON_LUO_CREATE_SESSION, EEXIST,
	  "a session of this name exists in this boot already" },
	{ BATON_LUO_CREATE_SESSION, EINVAL, "the session name is empty" },
	{ BATON_LUO_CREATE_SESSION, ENAMETOOLONG,
	  "the session name is longer than 63 bytes" },
	{ BATON_LUO_CREATE_SESSION, ENOTTY, "not a Live Update Orchestrator device" },
	{ BATON_LUO_RETRIEVE_SESSION, ENOENT,
	  "no session of this name came from the previous kernel" },
	{ BATON_LUO_RETRIEVE_SESSION, EINVAL,
	  "the session was retrieved already in this boot (once only)" },
	{ BATON_LUO_RETRIEVE_SESSION, ENAMETOOLONG,
	  "the session name is longer than 63 bytes" },
	{ BATON_LUO_RETRIEVE_SESSION, ENOTTY, "not a Live Update Orchestrator device" },
	{ BATON_LUO_PRESERVE_FD, ENOENT,
	  "the kernel cannot preserve this kind of file across kexec "
	  "(it carries memfds only)" },
	{ BATON_LUO_PRESERVE_FD, EEXIST, "the token is taken in this session" },
	{ BATON_LUO_PRESERVE_FD, EBUSY,
	  "the file is preserved in another session already" },
	{ BATON_LUO_PRESERVE_FD, EBADF, "not an open file descriptor" },
	{ BATON_LUO_PRESERVE_FD, ENOSPC, "the session holds as many files as it can" },
	{ BATON_LUO_PRESERVE_FD, EINVAL,
	  "the session came from the previous kernel: fds are preserved in a "
	  "session created in this boot" },
	{ BATON_LUO_RETRIEVE_FD, ENOENT, "no file of this token in the session" },
	{ BATON_LUO_RETRIEVE_FD, EINVAL,
	  "the session was created in this boot: fds are retrieved from one "
	  "the previous kernel preserved" },
	{ BATON_LUO_FINISH, EBUSY,
	  "a preserved file cannot be released yet; the session stays preserved" },
	{ BATON_LUO_FINISH, EINVAL,
	  "the session was created in this boot: only a retrieved one is finished" },
	{ BATON_LUO_GET_NAME, ENOTTY, "not a Live Update Orchestrator session" },
	{ BATON_LUO_GET_NAME, EINVAL, "not a Live Update Orchestrator session" },
};

const char *baton_luo_why(enum baton_luo_op op, int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < BATON_ARRAY_SIZE(whys); i++)
		if (whys[i].op == op && whys[i].err == err)
			return whys[i].text;
	/* A session call on something else answers ENOTTY whatever it is. */
	if (err == ENOTTY && op != BATON_LUO_OPEN)
		return "not a Live Update Orchestrator session";
	return baton_strerror(err);
}
