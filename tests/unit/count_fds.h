/* SPDX-License-Identifier: MIT */
/*
 * The number of fds this process has open, for the tests that check that
 * nothing leaked: the directory's own fd is not counted.
 */
#ifndef BATON_TEST_COUNT_FDS_H
#define BATON_TEST_COUNT_FDS_H

#include <dirent.h>

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = -1;

	while (d && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

#endif
