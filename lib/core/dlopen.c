// SPDX-License-Identifier: MIT
/**
 * DOC: libraries opened when first needed
 *
 * A library only one path of Baton uses (libelf to read a file's
 * contracts, libkmod to read a module tree) is opened with dlopen() there,
 * not linked: every program linked with libbaton.so would otherwise load
 * it at each start, and an exec-mode update's new version starts inside
 * the blackout.  Its functions are looked up into a table of pointers,
 * all of them or none, so that a library of the wrong version is said
 * once, by name, rather than met as a crash at the first missing call.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/**
 * baton_dlopen_table() - open @soname and look up each of @names
 * @soname: the library, as dlopen() takes it
 * @names: the @n functions to look up
 * @table: @n function pointers, filled in the order of @names
 * @n: how many
 * @why: where dlerror()'s words go when it fails
 * @len: the size of @why
 *
 * Lookup stops at the first function missing, so that dlerror() names it.
 * On failure @table is all NULL and the library is closed again.
 *
 * Return: the handle for dlclose(), or NULL with @why filled.
 */
void *baton_dlopen_table(const char *soname, const char *const *names,
			 void *table, size_t n, char *why, size_t len)
{
	void *so = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *said;
	void *fn = so;

	for (size_t i = 0; fn && i < n; i++) {
		fn = dlsym(so, names[i]);
		/* A function pointer kept as dlsym() gave it (POSIX). */
		memcpy((char *)table + i * sizeof(fn), &fn, sizeof(fn));
	}
	if (fn)
		return so;
	said = dlerror();
	snprintf(why, len, "%s", said ? said : soname);
	memset(table, 0, n * sizeof(fn));
	if (so)
		dlclose(so);
	return NULL;
}
