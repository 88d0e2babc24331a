/* SPDX-License-Identifier: MIT */
/*
 * What the tests of kvcache's store under worker threads share
 * (test_kvcache_threads.c, test_kvstripes.c): kvcache.c's store lock
 * without the server around it, a failure count any thread adds to, and
 * one command run on a connection to its last answer byte.
 */
#ifndef KV_THREADED_H
#define KV_THREADED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"

#define NOW		1700000000ull

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct kv_locks locks;
static struct kv_proto proto;
static atomic_uint failures;

#define FAIL(...) do {							\
	fprintf(stderr, __VA_ARGS__);					\
	atomic_fetch_add(&failures, 1);					\
} while (0)

/* What kvcache.c's kv_proto_lock() does. */
static void proto_lock(struct kv_proto *p, enum kv_lock how)
{
	(void)p;
	switch (how) {
	case KV_SHARED:
		pthread_rwlock_rdlock(&lock);
		break;
	case KV_EXCLUSIVE:
		pthread_rwlock_wrlock(&lock);
		break;
	case KV_UNLOCKED:
		pthread_rwlock_unlock(&lock);
		break;
	}
}

/* @st served as kvcache.c serves it with @threads workers: its lock
 * stripes, and the store lock above. */
static void serve(struct kv_store *st, unsigned int threads)
{
	kv_locks_init(&locks);
	st->locks = &locks;
	proto.store = st;
	proto.version = "test";
	proto.threads = threads;
	proto.lock = proto_lock;
}

/* Feed @cmd (@len bytes) to @c, execute it, and take every answer byte
 * out, into @out as a string (what fits of @size). */
static void run(struct kv_conn *c, const char *cmd, size_t len, char *out,
		size_t size)
{
	const void *data;
	size_t n, got = 0;

	if (kv_conn_input(c, cmd, len) || kv_conn_process(&proto, c, NOW)) {
		FAIL("%.20s: not executed\n", cmd);
		return;
	}
	while ((data = kv_conn_output(c, &n)) && n) {
		if (got + n < size) {
			memcpy(out + got, data, n);
			got += n;
		}
		kv_conn_sent(c, n);
	}
	out[got] = '\0';
}

#endif
