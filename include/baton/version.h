/* SPDX-License-Identifier: MIT */
#ifndef BATON_VERSION_H
#define BATON_VERSION_H

/**
 * DOC: version and ABI
 *
 * libbaton's version is MAJOR.MINOR.PATCH, as the BATON_VERSION_* macros
 * give it to a program when it is built and baton_version() gives it when
 * the program runs.  A program built against one version runs with any
 * later one of the same MAJOR: its soname is libbaton.so.MAJOR, and
 * within a MAJOR nothing is removed or changed, only added (docs/abi.md):
 *
 *  - Every function the library exports is declared in these headers,
 *    and every function declared here is exported, under one version
 *    node of the library's version script (lib/libbaton.map).  Nothing
 *    else is exported.
 *  - Structs a program allocates and the library reads or fills (options,
 *    results, a driver's ops) end in reserved space, which new members
 *    take, so the size and the offsets of the others never change.  A
 *    program zeroes what it passes (a designated initializer does); the
 *    library refuses an input whose reserved space is not zero with
 *    -EINVAL - a program built against a later version, using a member
 *    this library does not know, is told so instead of being ignored -
 *    and zeroes the reserved space of what it fills.
 *  - Structs the library allocates and returns (struct baton_image,
 *    struct baton_contracts...) are read through their documented members
 *    only, and freed by the library.
 *
 * The headers are C11 and can be included from C++.
 */

/* The version this program is built against. */
#define BATON_VERSION_MAJOR 0
#define BATON_VERSION_MINOR 1
#define BATON_VERSION_PATCH 0

/**
 * BATON_VERSION_ENCODE() - one number for a version
 * @major: MAJOR, 0-255
 * @minor: MINOR, 0-255
 * @patch: PATCH, 0-255
 *
 * Numbers are ordered as the versions are: compare them with < and >.
 * BATON_VERSION is this header's version so encoded.
 */
#define BATON_VERSION_ENCODE(major, minor, patch) \
	(((major) << 16) | ((minor) << 8) | (patch))
#define BATON_VERSION \
	BATON_VERSION_ENCODE(BATON_VERSION_MAJOR, BATON_VERSION_MINOR, BATON_VERSION_PATCH)

/*
 * Plumbing for the headers: C linkage for C++ callers, and the default
 * visibility that makes a declared function exported when the library,
 * built with hidden visibility, defines it.
 */
#ifdef __cplusplus
#define BATON__BEGIN_DECLS \
	_Pragma("GCC visibility push(default)") extern "C" {
#define BATON__END_DECLS } _Pragma("GCC visibility pop")
#define BATON__STATIC_ASSERT static_assert
#else
#define BATON__BEGIN_DECLS _Pragma("GCC visibility push(default)")
#define BATON__END_DECLS _Pragma("GCC visibility pop")
#define BATON__STATIC_ASSERT _Static_assert
#endif

BATON__BEGIN_DECLS

/**
 * baton_version() - the version of the library the program runs with
 *
 * What the program was built against is BATON_VERSION; what it runs with
 * may be later (same MAJOR).  A program that needs something added in a
 * later MINOR checks at run time:
 *
 *     if (baton_version() < BATON_VERSION_ENCODE(0, 2, 0))
 *             ... do without it ...
 *
 * Return: BATON_VERSION_ENCODE(major, minor, patch) of the library.
 */
unsigned int baton_version(void);

BATON__END_DECLS

#endif /* BATON_VERSION_H */
