// SPDX-License-Identifier: MIT
/*
 * Baton's LUO ABI (lib/luo/uapi.h) against the kernel's own header, the
 * include/uapi/linux/liveupdate.h of the kernel the VM test builds: every
 * ioctl number, struct size and member offset Baton uses must be the
 * kernel's.  tests/vm/run compiles this with that header on the include
 * path; a difference fails the compile.  Nothing runs.
 */
#include <linux/liveupdate.h>

#include "luo/uapi.h"

#include "abi_check.h"

SAME(BATON_LUO_IOCTL_TYPE, LIVEUPDATE_IOCTL_TYPE);
SAME(BATON_LUO_NAME_SIZE, LIVEUPDATE_SESSION_NAME_LENGTH);

SAME(BATON_LUO_IOC_CREATE_SESSION, LIVEUPDATE_IOCTL_CREATE_SESSION);
SAME(BATON_LUO_IOC_RETRIEVE_SESSION, LIVEUPDATE_IOCTL_RETRIEVE_SESSION);
SAME(BATON_LUO_IOC_PRESERVE_FD, LIVEUPDATE_SESSION_PRESERVE_FD);
SAME(BATON_LUO_IOC_RETRIEVE_FD, LIVEUPDATE_SESSION_RETRIEVE_FD);
SAME(BATON_LUO_IOC_FINISH, LIVEUPDATE_SESSION_FINISH);
SAME(BATON_LUO_IOC_GET_NAME, LIVEUPDATE_SESSION_GET_NAME);

SAME(sizeof(struct baton_luo_session_args),
     sizeof(struct liveupdate_ioctl_create_session));
SAME_MEMBER(baton_luo_session_args, size, liveupdate_ioctl_create_session, size);
SAME_MEMBER(baton_luo_session_args, fd, liveupdate_ioctl_create_session, fd);
SAME_MEMBER(baton_luo_session_args, name, liveupdate_ioctl_create_session, name);
SAME(sizeof(struct baton_luo_session_args),
     sizeof(struct liveupdate_ioctl_retrieve_session));
SAME_MEMBER(baton_luo_session_args, size, liveupdate_ioctl_retrieve_session, size);
SAME_MEMBER(baton_luo_session_args, fd, liveupdate_ioctl_retrieve_session, fd);
SAME_MEMBER(baton_luo_session_args, name, liveupdate_ioctl_retrieve_session, name);

SAME(sizeof(struct baton_luo_fd_args), sizeof(struct liveupdate_session_preserve_fd));
SAME_MEMBER(baton_luo_fd_args, size, liveupdate_session_preserve_fd, size);
SAME_MEMBER(baton_luo_fd_args, fd, liveupdate_session_preserve_fd, fd);
SAME_MEMBER(baton_luo_fd_args, token, liveupdate_session_preserve_fd, token);
SAME(sizeof(struct baton_luo_fd_args), sizeof(struct liveupdate_session_retrieve_fd));
SAME_MEMBER(baton_luo_fd_args, size, liveupdate_session_retrieve_fd, size);
SAME_MEMBER(baton_luo_fd_args, fd, liveupdate_session_retrieve_fd, fd);
SAME_MEMBER(baton_luo_fd_args, token, liveupdate_session_retrieve_fd, token);

SAME(sizeof(struct baton_luo_finish_args), sizeof(struct liveupdate_session_finish));
SAME_MEMBER(baton_luo_finish_args, size, liveupdate_session_finish, size);
SAME_MEMBER(baton_luo_finish_args, reserved, liveupdate_session_finish, reserved);

SAME(sizeof(struct baton_luo_name_args), sizeof(struct liveupdate_session_get_name));
SAME_MEMBER(baton_luo_name_args, size, liveupdate_session_get_name, size);
SAME_MEMBER(baton_luo_name_args, reserved, liveupdate_session_get_name, reserved);
SAME_MEMBER(baton_luo_name_args, name, liveupdate_session_get_name, name);
