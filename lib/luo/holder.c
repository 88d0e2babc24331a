// SPDX-License-Identifier: MIT
/*
 * Who holds /dev/liveupdate, when opening it says EBUSY.  The kernel lets
 * one open file of it exist in the whole system, and an init may be that
 * opener (systemd from v261 opens it at boot and at shutdown), so "busy"
 * alone leaves a user guessing: the holder is found the way fuser(1) finds
 * one, by every process's open files under /proc, matched on the device
 * number (the node's path may differ from one mount namespace to another).
 * Used once, after the open failed; a process that closes or exits while
 * it is looked for is skipped, and processes this one may not look into
 * are too, so "not found" is a possible answer, never a wrong one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luo/luo.h"

/* A directory name that is a pid: digits only, and not too many. */
static pid_t pid_of(const char *name)
{
	char *end;
	long v;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	errno = 0;
	v = strtol(name, &end, 10);
	if (*end || errno || v <= 0 || v > 0x7fffffff)
		return 0;
	return (pid_t)v;
}

/* Whether one of @pid's open files is the character device @rdev. */
static bool holds(int proc_fd, pid_t pid, dev_t rdev)
{
	char path[64];
	struct dirent *e;
	bool found = false;
	int dfd;
	DIR *d;

	snprintf(path, sizeof(path), "%d/fd", (int)pid);
	dfd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return false;
	}
	while (!found && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		/* Follows the link to the file itself, as the process has it. */
		found = !fstatat(dirfd(d), e->d_name, &st, 0) && S_ISCHR(st.st_mode) &&
			st.st_rdev == rdev;
	}
	closedir(d);
	return found;
}

/* @pid's comm, one line, without its newline; "?" if unreadable. */
static void comm_of(int proc_fd, pid_t pid, char *comm, size_t len)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%d/comm", (int)pid);
	fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, len - 1);
		close(fd);
	}
	if (n <= 0) {
		snprintf(comm, len, "?");
		return;
	}
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

int baton_luo_holder(const char *proc, const char *device, pid_t *pid,
		     char *comm, size_t comm_len)
{
	struct stat st;
	struct dirent *e;
	pid_t self = getpid();
	int proc_fd, err = -ESRCH;
	DIR *d;

	if (!comm || comm_len < 2)
		return -EINVAL;
	if (stat(device ? device : BATON_LUO_DEVICE, &st))
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENOTTY;
	proc_fd = open(proc ? proc : "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0)
		return -errno;
	d = fdopendir(proc_fd);
	if (!d) {
		err = -errno;
		close(proc_fd);
		return err;
	}
	while ((e = readdir(d))) {
		pid_t p = pid_of(e->d_name);

		if (!p || p == self || !holds(dirfd(d), p, st.st_rdev))
			continue;
		*pid = p;
		comm_of(dirfd(d), p, comm, comm_len);
		err = 0;
		break;
	}
	closedir(d);
	return err;
}
