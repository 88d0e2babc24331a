/* SPDX-License-Identifier: MIT */
#ifndef BATON_LUO_INTERNAL_H
#define BATON_LUO_INTERNAL_H

/* Shared by lib/luo's files; not for the rest of the library. */

/*
 * One LUO ioctl through baton_luo_ioctl, retried on EINTR: 0 or -errno
 * (-EIO if the call failed without saying why).
 */
int baton_luo_call(int fd, unsigned long request, void *arg);

#endif /* BATON_LUO_INTERNAL_H */
