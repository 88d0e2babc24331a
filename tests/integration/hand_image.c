// SPDX-License-Identifier: MIT
/*
 * hand-image [--unsealed] FILE PROGRAM [ARGS...]: exec PROGRAM as if an
 * update handed it FILE as its image - in a memfd, sealed unless
 * --unsealed, named by BATON_IMAGE_FD, with no fds.  For testing what a new
 * version does with an image it must not trust.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int seal = 1, arg = 1, in, fd;
	char buf[65536], num[16];
	ssize_t n;

	if (arg < argc && !strcmp(argv[arg], "--unsealed")) {
		seal = 0;
		arg++;
	}
	if (argc - arg < 2) {
		fprintf(stderr, "usage: hand-image [--unsealed] FILE PROGRAM [ARGS...]\n");
		return 2;
	}
	in = open(argv[arg], O_RDONLY);
	fd = memfd_create("image", MFD_ALLOW_SEALING);
	if (in < 0 || fd < 0)
		return 2;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			return 2;
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
			  F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return 2;
	snprintf(num, sizeof(num), "%d", fd);
	setenv("BATON_IMAGE_FD", num, 1);
	setenv("BATON_FDS", "", 1);
	execv(argv[arg + 1], argv + arg + 1);
	perror("exec");
	return 2;
}
