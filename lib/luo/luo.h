/* SPDX-License-Identifier: MIT */
#ifndef BATON_LUO_H
#define BATON_LUO_H

/**
 * DOC: Baton's client of the kernel's Live Update Orchestrator
 *
 * Linux 6.19 and later can carry file descriptors across a kexec: a
 * process opens /dev/liveupdate, creates named **sessions**, preserves fds
 * in them under 64-bit **tokens**, and reboots into the next kernel with
 * kexec while it still holds the session fds.  In the next boot it
 * retrieves each session by name (once), each fd by its token, and
 * FINISHes the session, which releases what the kernel kept.  Today the
 * kernel preserves memfds only (contents, size, file position and seals;
 * not the name, nor close-on-exec); anything else is refused with ENOENT.
 *
 * The rules this client is built around:
 *
 *  - **One opener.**  /dev/liveupdate can be open once in the whole system
 *    (a second open is EBUSY, in the same process too).  In Baton the agent
 *    (`baton kexec`) is that opener; programs never open it.  After the
 *    kexec the agent retrieves a program's session and may hand the
 *    session's fd to the program (baton_luo_session_adopt()): session fds
 *    need no /dev/liveupdate.
 *  - **Outgoing sessions live as long as their fd.**  Closing a session
 *    created in this boot unpreserves everything in it; one that is still
 *    open when the kernel reboots with kexec is carried.  The agent holds
 *    them until reboot() does not return.
 *  - **Incoming sessions are retrieved once.**  Closing a retrieved
 *    session makes the kernel finish it, as FINISH would.
 *
 * Errors: every function returns >= 0 or -errno as the kernel said it
 * (include/baton/error.h: what the system says is passed on, never
 * renamed); baton_luo_why() says what that errno means for the call that
 * failed, for the one line a tool prints.  Arguments the kernel would
 * refuse (a name too long) are refused here first, with the errno the
 * kernel would give.
 *
 * This client is internal to libbaton (its tools and tests link it): the
 * single-open rule makes it an agent's interface, not a program's, and the
 * kernel's uAPI is young (7.x), so Baton keeps the freedom to follow it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "luo/uapi.h"

/* Where the kernel's LUO device is. */
#define BATON_LUO_DEVICE "/dev/liveupdate"

struct baton_luo;
struct baton_luo_session;

/**
 * enum baton_luo_op - the call an error came from, for baton_luo_why()
 * @BATON_LUO_OPEN:             opening /dev/liveupdate
 * @BATON_LUO_CREATE_SESSION:   creating a session
 * @BATON_LUO_RETRIEVE_SESSION: retrieving a session after the kexec
 * @BATON_LUO_PRESERVE_FD:      preserving an fd in a session
 * @BATON_LUO_RETRIEVE_FD:      retrieving an fd after the kexec
 * @BATON_LUO_FINISH:           finishing a retrieved session
 * @BATON_LUO_GET_NAME:         asking a session fd for its name
 */
enum baton_luo_op {
	BATON_LUO_OPEN,
	BATON_LUO_CREATE_SESSION,
	BATON_LUO_RETRIEVE_SESSION,
	BATON_LUO_PRESERVE_FD,
	BATON_LUO_RETRIEVE_FD,
	BATON_LUO_FINISH,
	BATON_LUO_GET_NAME,
};

/**
 * baton_luo_open() - open the LUO device, as the one process that may
 * @path: the device, or NULL for BATON_LUO_DEVICE
 * @out:  the handle, on success
 *
 * Return: 0, or -errno of open(): -ENOENT (no LUO in this kernel, or it
 * was not enabled at boot), -EBUSY (another opener holds it), -EIO (the
 * kernel could not read what the previous kernel preserved), -EACCES,
 * -ENOMEM.
 */
int baton_luo_open(const char *path, struct baton_luo **out);

/**
 * baton_luo_close() - let /dev/liveupdate go
 * @luo: the handle, or NULL
 *
 * Sessions already created or retrieved stay as they are: they hold
 * themselves.
 */
void baton_luo_close(struct baton_luo *luo);

/**
 * baton_luo_fd() - the device's fd
 * @luo: the handle
 *
 * Return: the fd, owned by @luo.
 */
int baton_luo_fd(const struct baton_luo *luo);

/**
 * baton_luo_session_create() - a new session, to carry fds across the kexec
 * @luo:  the device
 * @name: 1 to 63 bytes, unique in this boot; the next boot finds it by it
 * @out:  the session, on success
 *
 * Return: 0, -EINVAL (empty name), -ENAMETOOLONG (64 bytes or more),
 * -EEXIST (a session of this name exists in this boot), -ENOMEM, -EMFILE,
 * or another -errno of the kernel.
 */
int baton_luo_session_create(struct baton_luo *luo, const char *name,
			     struct baton_luo_session **out);

/**
 * baton_luo_session_retrieve() - a session the previous boot preserved
 * @luo:  the device
 * @name: the name it was created with
 * @out:  the session, on success
 *
 * Return: 0, -ENOENT (no such session came across), -EINVAL (retrieved
 * already in this boot: a session is retrieved once), -ENAMETOOLONG, or
 * another -errno of the kernel.
 */
int baton_luo_session_retrieve(struct baton_luo *luo, const char *name,
			       struct baton_luo_session **out);

/**
 * baton_luo_session_adopt() - take over a session fd another process opened
 * @fd:       the session's fd (for example received over a Unix socket);
 *            owned by the session from now on, also on failure
 * @incoming: true for a session retrieved after the kexec, false for one
 *            created in this boot
 * @out:      the session, on success
 *
 * The session's name is asked from the kernel, which also proves @fd is a
 * session.
 *
 * Return: 0, -EBADF, -ENOTTY or -EINVAL (@fd is no LUO session), -ENOMEM.
 */
int baton_luo_session_adopt(int fd, bool incoming,
			    struct baton_luo_session **out);

/**
 * baton_luo_session_close() - close a session's fd and free it
 * @s: the session, or NULL
 *
 * For an outgoing session this unpreserves every fd in it: the next boot
 * will not see it.  For an incoming one the kernel finishes it.
 */
void baton_luo_session_close(struct baton_luo_session *s);

/**
 * baton_luo_session_name() - the session's name
 * @s: the session
 *
 * Return: the name it was created or retrieved with (or the kernel's, for
 * an adopted one), owned by @s.
 */
const char *baton_luo_session_name(const struct baton_luo_session *s);

/**
 * baton_luo_session_kernel_name() - ask the kernel for the session's name
 * @s:    the session
 * @name: BATON_LUO_NAME_SIZE bytes, filled NUL-terminated on success
 *
 * Return: 0 or -errno of the kernel.
 */
int baton_luo_session_kernel_name(const struct baton_luo_session *s,
				  char name[BATON_LUO_NAME_SIZE]);

/**
 * baton_luo_session_fd() - the session's fd
 * @s: the session
 *
 * Return: the fd, owned by @s (dup it to hand it on).
 */
int baton_luo_session_fd(const struct baton_luo_session *s);

/**
 * baton_luo_session_incoming() - whether @s came from the previous boot
 * @s: the session
 *
 * Return: true for a retrieved (or adopted incoming) session.
 */
bool baton_luo_session_incoming(const struct baton_luo_session *s);

/**
 * baton_luo_preserve_fd() - carry @fd across the next kexec under @token
 * @s:     an outgoing session
 * @fd:    the fd; the caller keeps it (the kernel takes its own reference)
 * @token: unique in @s; the next boot retrieves the fd by it
 *
 * The kernel preserves the file as it is now and keeps following it: a
 * memfd's contents written later are carried too, until the reboot.
 *
 * Return: 0, -EINVAL (an incoming session), -ENOENT (the kernel cannot
 * preserve this kind of file: only memfds today), -EEXIST (@token is taken
 * in @s), -EBUSY (the file is preserved in another session), -EBADF,
 * -ENOSPC (the session is full), -ENOMEM, or another -errno of the file's
 * handler.
 */
int baton_luo_preserve_fd(struct baton_luo_session *s, int fd, uint64_t token);

/**
 * baton_luo_retrieve_fd() - an fd the previous boot preserved, by token
 * @s:     an incoming session
 * @token: the token it was preserved under
 *
 * Retrieving the same token again returns a new fd for the same file.
 *
 * Return: a new fd, close-on-exec and the caller's; or -EINVAL (an
 * outgoing session), -ENOENT (no fd of that token), -EMFILE, or the error
 * the file's handler gave (which every later retrieve of it repeats).
 */
int baton_luo_retrieve_fd(struct baton_luo_session *s, uint64_t token);

/**
 * baton_luo_finish() - tell the kernel the session's fds are restored
 * @s: an incoming session
 *
 * Retrieves what was not retrieved yet, then releases what the kernel
 * kept; fds already retrieved stay valid.  On failure everything stays
 * preserved, and finish may be tried again.
 *
 * Return: 0, -EINVAL (an outgoing session), -EBUSY (a handler cannot
 * release its file yet), or another -errno of the kernel.
 */
int baton_luo_finish(struct baton_luo_session *s);

/**
 * baton_luo_why() - what an errno from a LUO call means, in words
 * @op:  the call that failed
 * @err: its errno, positive or negative
 *
 * Return: a static phrase specific to @op where the kernel's errno has a
 * meaning of its own there (EBUSY from open is another opener, ENOENT from
 * PRESERVE_FD a file the kernel cannot preserve), else strerror's.
 */
const char *baton_luo_why(enum baton_luo_op op, int err);

/**
 * baton_luo_holder() - which process holds the LUO device open
 * @proc:     the proc filesystem, or NULL for /proc
 * @device:   the device node, or NULL for BATON_LUO_DEVICE
 * @pid:      the holder's pid, on success
 * @comm:     its command name (/proc/PID/comm), on success; "?" if that
 *            could not be read
 * @comm_len: the size of @comm, at least 2
 *
 * For the words of an EBUSY from baton_luo_open(): every process's open
 * files are looked at, matched on @device's device number; this process
 * is left out.  Processes that may not be looked into are skipped.
 *
 * Return: 0, -ESRCH (no process seen holding it), -ENOTTY (@device is no
 * character device), -EINVAL, or -errno of stat() or of opening @proc.
 */
int baton_luo_holder(const char *proc, const char *device, pid_t *pid,
		     char *comm, size_t comm_len);

/*
 * For tests: every ioctl this client makes goes through this function
 * (ioctl(2) by default), so a test can stand in for the kernel and check
 * what is asked of it.  It returns what ioctl(2) does: -1 with errno set,
 * or >= 0.
 */
extern int (*baton_luo_ioctl)(int fd, unsigned long request, void *arg);

#endif /* BATON_LUO_H */
