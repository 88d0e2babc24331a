// SPDX-License-Identifier: MIT
/*
 * /dev/liveupdate: opening it, as the one process in the system that may,
 * and the one place every LUO ioctl is made.  The kernel lets a single
 * open file exist at a time, so a handle is never duplicated here: the
 * agent opens it once and keeps it until it reboots (or gives up).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "luo/luo.h"
#include "luo/luo-internal.h"

struct baton_luo {
	int fd;
};

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

int (*baton_luo_ioctl)(int fd, unsigned long request, void *arg) = sys_ioctl;

int baton_luo_call(int fd, unsigned long request, void *arg)
{
	int rc;

	do
		rc = baton_luo_ioctl(fd, request, arg);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

int baton_luo_open(const char *path, struct baton_luo **out)
{
	struct baton_luo *luo;
	int err;

	luo = calloc(1, sizeof(*luo));
	if (!luo)
		return -ENOMEM;
	luo->fd = open(path ? path : BATON_LUO_DEVICE, O_RDWR | O_CLOEXEC);
	if (luo->fd < 0) {
		err = -errno;
		goto err_free;
	}
	*out = luo;
	return 0;

err_free:
	free(luo);
	return err;
}

void baton_luo_close(struct baton_luo *luo)
{
	if (!luo)
		return;
	close(luo->fd);
	free(luo);
}

int baton_luo_fd(const struct baton_luo *luo)
{
	return luo->fd;
}
