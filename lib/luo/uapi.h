/* SPDX-License-Identifier: MIT */
#ifndef BATON_LUO_UAPI_H
#define BATON_LUO_UAPI_H

/**
 * DOC: the kernel's LUO ABI, as Baton uses it
 *
 * The Live Update Orchestrator's userspace ABI (Linux 6.19 on,
 * include/uapi/linux/liveupdate.h), written down here because the C
 * library headers of the distributions Baton builds on do not carry it.
 * These are facts of the kernel's ABI, not a copy of its header: ioctl
 * numbers, struct sizes and member offsets.  They are a contract with the
 * kernel and must not change; the VM test (tests/vm/luo_abi_check.c)
 * compiles this header beside the kernel's own and fails on any
 * difference.
 *
 * The rules the kernel applies to every one of these calls:
 *
 *  - the ioctl numbers are _IO(0xBA, nr): no size or direction is encoded,
 *    the argument is a pointer;
 *  - every argument struct begins with a u32 @size that the caller sets to
 *    the size of the struct it knows; the kernel accepts a shorter one
 *    down to its last mandatory member, and a longer one if the part it
 *    does not know is zero (else E2BIG);
 *  - /dev/liveupdate takes CREATE_SESSION and RETRIEVE_SESSION; every
 *    other call is made on a session's fd.  PRESERVE_FD is for a session
 *    created in this boot (outgoing), RETRIEVE_FD and FINISH for one
 *    retrieved from the previous boot (incoming); the wrong kind is EINVAL.
 *  - the fds the kernel returns are close-on-exec.
 */

#include <stdint.h>
#include <sys/ioctl.h>

/* The ioctl type of /dev/liveupdate and its sessions. */
#define BATON_LUO_IOCTL_TYPE 0xBA

/* A session name's room, its terminating NUL included: at most 63 bytes. */
#define BATON_LUO_NAME_SIZE 64

/* Command numbers on /dev/liveupdate. */
#define BATON_LUO_CMD_CREATE_SESSION	0x00
#define BATON_LUO_CMD_RETRIEVE_SESSION	0x01
/* Command numbers on a session's fd. */
#define BATON_LUO_CMD_PRESERVE_FD	0x40
#define BATON_LUO_CMD_RETRIEVE_FD	0x41
#define BATON_LUO_CMD_FINISH		0x42
#define BATON_LUO_CMD_GET_NAME		0x43

/* CREATE_SESSION and RETRIEVE_SESSION: @name in, the session's @fd out. */
struct baton_luo_session_args {
	uint32_t size;
	int32_t fd;
	uint8_t name[BATON_LUO_NAME_SIZE];
};

/* PRESERVE_FD: @fd and @token in.  RETRIEVE_FD: @token in, a new @fd out. */
struct baton_luo_fd_args {
	uint32_t size;
	int32_t fd;
	uint64_t token __attribute__((aligned(8)));
};

/* FINISH: @reserved must be zero. */
struct baton_luo_finish_args {
	uint32_t size;
	uint32_t reserved;
};

/* GET_NAME: @reserved must be zero; the whole @name out, NUL-terminated. */
struct baton_luo_name_args {
	uint32_t size;
	uint32_t reserved;
	uint8_t name[BATON_LUO_NAME_SIZE];
};

#define BATON_LUO_IOC_CREATE_SESSION \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_CREATE_SESSION)
#define BATON_LUO_IOC_RETRIEVE_SESSION \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_RETRIEVE_SESSION)
#define BATON_LUO_IOC_PRESERVE_FD \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_PRESERVE_FD)
#define BATON_LUO_IOC_RETRIEVE_FD \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_RETRIEVE_FD)
#define BATON_LUO_IOC_FINISH \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_FINISH)
#define BATON_LUO_IOC_GET_NAME \
	_IO(BATON_LUO_IOCTL_TYPE, BATON_LUO_CMD_GET_NAME)

/* The sizes the kernel's ABI fixes (x86-64 and every other Linux ABI). */
_Static_assert(sizeof(struct baton_luo_session_args) == 72, "LUO ABI");
_Static_assert(sizeof(struct baton_luo_fd_args) == 16, "LUO ABI");
_Static_assert(sizeof(struct baton_luo_finish_args) == 8, "LUO ABI");
_Static_assert(sizeof(struct baton_luo_name_args) == 72, "LUO ABI");

#endif /* BATON_LUO_UAPI_H */
