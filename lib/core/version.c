// SPDX-License-Identifier: MIT
/*
 * The library's version, as it was built: what a program runs with, which
 * may be later than the BATON_VERSION it was built against.
 */
#include <baton/version.h>

unsigned int baton_version(void)
{
	return BATON_VERSION;
}
