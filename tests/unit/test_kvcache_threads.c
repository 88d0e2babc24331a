// SPDX-License-Identifier: MIT
/*
 * kvcache's store and protocol served by several threads at once, as
 * kvcache --threads N serves them, built with ThreadSanitizer: each
 * thread is a connection that sets, gets (one key and many), deletes,
 * increments and asks meta gets of keys the others use too, under a
 * reader-writer lock taken (and tried) the way kvcache.c's kv_proto_lock()
 * and kv_proto_try_exclusive() do and the store's stripes (gets side by
 * side during the conversion, and after it gets, sets and deletes each
 * with its key's stripe; everything else alone), while the main thread takes
 * a v1 region's items over a step at a time, as kvcache-v2's main loop
 * does after a live update.  TSan fails the test on a data race; then
 * every answer must be one the protocol gives, the region must check
 * whole (kv_store_check()), and the counters must add up.
 *
 * No live update runs here: TSan cannot follow the clone(CLONE_VM) of
 * lib/host/mm.c, so the update path stays out.  meson runs it only when
 * the compiler has TSan and no other sanitizer is on; otherwise it is
 * skipped (exit 77).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_threaded.h"

#define REGION		(8u << 20)
#define THREADS		4
#define ROUNDS		3000
#define KEYS		64
#define V1_ITEMS	2000

/* A race fails the test however it is run, not only under meson. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1 exitcode=66";
}

static atomic_uint sets;

/* And its kv_proto_try_exclusive(). */
static bool proto_try_exclusive(struct kv_proto *p)
{
	(void)p;
	return !pthread_rwlock_trywrlock(&lock);
}

/*
 * The commands of a client, and the answers each may get (one that starts
 * with '^' is a prefix, a value's first line); incr's any.
 */
enum op { SET, GET, GET_MANY, DELETE, INCR, MG, N_OPS };
static const char *const answers[N_OPS][2] = {
	[SET] = { "STORED\r\n" },
	[GET] = { "END\r\n", "^VALUE k" },
	[GET_MANY] = { "^VALUE old" },	/* v1's items, taken over or not */
	[DELETE] = { "DELETED\r\n", "NOT_FOUND\r\n" },
	[MG] = { "EN\r\n", "^VA 4 " },
};

static void expect(const char *cmd, const char *out, enum op op)
{
	for (int i = 0; i < 2 && answers[op][i]; i++) {
		const char *want = answers[op][i];

		if (want[0] == '^' ? !strncmp(out, want + 1, strlen(want + 1)) :
		    !strcmp(out, want))
			return;
	}
	if (answers[op][0])
		FAIL("%s answered %s\n", cmd, out);
}

static void *client(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	char cmd[256], out[8192];
	struct kv_conn c;

	if (kv_conn_restore(&c, NULL)) {
		FAIL("no connection\n");
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		unsigned int k = rand_r(&seed) % KEYS, v = rand_r(&seed) % V1_ITEMS;
		enum op op = rand_r(&seed) % N_OPS;

		switch (op) {
		case SET:
			snprintf(cmd, sizeof(cmd), "set k%u 0 0 4\r\nv%03u\r\n", k, k);
			atomic_fetch_add(&sets, 1);
			break;
		case GET:
			snprintf(cmd, sizeof(cmd), "get k%u\r\n", k);
			break;
		case GET_MANY:
			/* Held one key at a time. */
			snprintf(cmd, sizeof(cmd), "get old%u k%u old%u\r\n", v, k,
				 (v + 1) % V1_ITEMS);
			break;
		case DELETE:
			snprintf(cmd, sizeof(cmd), "delete k%u\r\n", k);
			break;
		case INCR:
			snprintf(cmd, sizeof(cmd), "incr n%u 1\r\n", k % 4);
			break;
		default:
			snprintf(cmd, sizeof(cmd), "mg k%u v h t\r\n", k);
			break;
		}
		run(&c, cmd, strlen(cmd), out, sizeof(out));
		expect(cmd, out, op);
	}
	kv_conn_release(&c);
	return NULL;
}

int main(void)
{
	void *old, *region;
	struct kv_store v1, st;
	pthread_t t[THREADS];
	struct kv_stats s;
	char key[32];
	int ret = 1;

	if (posix_memalign(&old, 4096, REGION) ||
	    posix_memalign(&region, 4096, 2 * REGION))
		return 1;
	/* A v1 region's items, to be taken over while the clients run. */
	if (kv_store_format(&v1, &kv_store_v1_ops, old, REGION))
		return 1;
	for (int i = 0; i < V1_ITEMS; i++) {
		snprintf(key, sizeof(key), "old%d", i);
		if (kv_store_put(&v1, KV_SET, key, strlen(key), 0, 0, "was v1", 6, 0, NOW))
			return 1;
	}
	if (kv_store_format(&st, &kv_store_v2_ops, region, 2 * REGION) ||
	    kv_store_adopt_v1(&st, old, REGION, true))
		return 1;
	/* Stripes as kvcache.c's: used once the conversion is over. */
	serve(&st, THREADS);
	proto.try_exclusive = proto_try_exclusive;
	for (int i = 0; i < 4; i++) {
		struct kv_conn c;
		char out[64];

		snprintf(key, sizeof(key), "set n%d 0 0 1\r\n0\r\n", i);
		if (kv_conn_restore(&c, NULL))
			return 1;
		run(&c, key, strlen(key), out, sizeof(out));
		kv_conn_release(&c);
	}

	for (uintptr_t i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, client, (void *)(i + 1)))
			return 1;
	/* The main loop's conversion, a step at a time beside the clients. */
	do {
		pthread_rwlock_wrlock(&lock);
		ret = kv_store_migrate_step(&st, 16, NOW);
		pthread_rwlock_unlock(&lock);
	} while (ret == 1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	if (ret)
		FAIL("the conversion ended with %d: %s\n", ret, st.src_err.msg);
	if (kv_store_check(&st))
		FAIL("the region does not check: %s\n", st.err.msg);
	kv_store_stats(&st, &s);
	/* Four counters set first, then every set the clients made. */
	if (s.cmd_set < atomic_load(&sets) + 4 || s.curr_items < V1_ITEMS)
		FAIL("%" PRIu64 " sets counted of %u, %" PRIu64 " items of at "
		     "least %d\n", s.cmd_set, atomic_load(&sets) + 4,
		     s.curr_items, V1_ITEMS);
	free(region);
	free(old);
	if (atomic_load(&failures))
		return 1;
	printf("%d threads x %d commands beside a conversion of %d items: "
	       "no race, every answer right, the region whole\n", THREADS,
	       ROUNDS, V1_ITEMS);
	return 0;
}
