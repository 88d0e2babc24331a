// SPDX-License-Identifier: MIT
/*
 * Small helpers every part of the library uses: the clock deadlines are
 * kept on, arrays that grow, copies of argument vectors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t baton_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int baton_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t want = *cap ? *cap : 4;
	void *grown;

	if (n < *cap)
		return 0;
	while (want <= n)
		want *= 2;
	grown = realloc(*arr, want * size);
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	*cap = want;
	return 0;
}

char **baton_dup_argv(char *const *argv)
{
	size_t n = 0;
	char **copy;

	while (argv && argv[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; copy && i < n; i++) {
		copy[i] = strdup(argv[i]);
		if (!copy[i]) {
			baton_free_argv(copy);
			return NULL;
		}
	}
	return copy;
}

void baton_free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

void baton_remove_ptr(void **arr, size_t *n, const void *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (arr[i] != p)
			continue;
		memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(*arr));
		(*n)--;
		return;
	}
}

bool baton_reserved_clear(const void *reserved, size_t size)
{
	const unsigned char *p = reserved;

	for (size_t i = 0; i < size; i++)
		if (p[i])
			return false;
	return true;
}
