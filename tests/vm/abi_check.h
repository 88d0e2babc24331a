/* SPDX-License-Identifier: MIT */
/*
 * The assertions of the uAPI checks (luo_abi_check.c, vfio_abi_check.c):
 * a constant, or a member's offset and size, equal in Baton's header and
 * in the kernel's; a difference fails the compile, naming both.
 */
#ifndef BATON_TESTS_VM_ABI_CHECK_H
#define BATON_TESTS_VM_ABI_CHECK_H

#include <stddef.h>

#define SAME(a, b) _Static_assert((a) == (b), #a " != " #b)
#define SAME_MEMBER(bt, bm, kt, km)					\
	SAME(offsetof(struct bt, bm), offsetof(struct kt, km));	\
	SAME(sizeof(((struct bt *)0)->bm), sizeof(((struct kt *)0)->km))

#endif
