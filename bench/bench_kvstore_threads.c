// SPDX-License-Identifier: MIT
/*
 * kvcache's store and protocol served by N threads in one process, no
 * sockets: how many commands a second they get through with the store's
 * lock stripes (kv_store_lock_key(): gets, sets and deletes of different
 * stripes side by side) and without them (sets alone, gets side by side:
 * the store before stripes), taking turns, so that what the network and
 * the scheduler add to bench_kvcache.sh's figures is left out.
 *
 * Each thread is a connection running kvload's mix: 90 % gets and 10 %
 * sets of 100-byte values over 10,000 preloaded keys.  The lock is
 * kvcache.c's: a reader-writer lock (spinning is left out).
 *
 * usage: bench_kvstore_threads [THREADS [SECONDS [ROUNDS]]]  (4 1 5)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"

#define NOW	1700000000ull
#define REGION	(64u << 20)
#define KEYS	10000
#define VALUE	100

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct kv_proto proto;
static atomic_bool stop;

static int (*const lock_op[])(pthread_rwlock_t *) = {
	[KV_UNLOCKED] = pthread_rwlock_unlock,
	[KV_SHARED] = pthread_rwlock_rdlock,
	[KV_EXCLUSIVE] = pthread_rwlock_wrlock,
};

static void proto_lock(struct kv_proto *p, enum kv_lock how)
{
	(void)p;
	lock_op[how](&lock);
}

static bool proto_try_exclusive(struct kv_proto *p)
{
	(void)p;
	return !pthread_rwlock_trywrlock(&lock);
}

/* Execute @len bytes of @cmd on @c and throw the answer away. */
static void run(struct kv_conn *c, const char *cmd, size_t len)
{
	const void *data;
	size_t n;

	if (kv_conn_input(c, cmd, len) || kv_conn_process(&proto, c, NOW)) {
		fprintf(stderr, "bench_kvstore_threads: %.20s failed\n", cmd);
		exit(1);
	}
	while ((data = kv_conn_output(c, &n)) && n)
		kv_conn_sent(c, n);
}

static size_t set_cmd(char *cmd, unsigned int k)
{
	int n = sprintf(cmd, "set key%u 0 0 %d\r\n", k, VALUE);

	memset(cmd + n, 'v', VALUE);
	memcpy(cmd + n + VALUE, "\r\n", 2);
	return (size_t)n + VALUE + 2;
}

static void *client(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	char cmd[VALUE + 64];
	uint64_t *done = arg;
	struct kv_conn c;

	if (kv_conn_restore(&c, NULL))
		exit(1);
	*done = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int k = (unsigned int)rand_r(&seed) % KEYS;

		if (rand_r(&seed) % 10)
			run(&c, cmd, (size_t)sprintf(cmd, "get key%u\r\n", k));
		else
			run(&c, cmd, set_cmd(cmd, k));
		++*done;
	}
	kv_conn_release(&c);
	return NULL;
}

/* Commands a second of @threads clients over @secs seconds. */
static double measure(unsigned int threads, double secs)
{
	uint64_t done[64] = { 0 };
	struct timespec ts = { (time_t)secs,
			       (long)((secs - (time_t)secs) * 1e9) };
	pthread_t t[64];
	uint64_t sum = 0;

	atomic_store(&stop, false);
	for (unsigned int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, client, &done[i]))
			exit(1);
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		sum += done[i];
	}
	return (double)sum / secs;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned int threads = argc > 1 ? (unsigned int)atoi(argv[1]) : 4;
	double secs = argc > 2 ? atof(argv[2]) : 1;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	double with[64], without[64], ratio[64];
	static struct kv_locks locks;
	struct kv_store st;
	struct kv_conn c;
	char cmd[VALUE + 64];
	void *region;

	if (!threads || threads > 64 || secs <= 0 || rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: bench_kvstore_threads [THREADS [SECONDS [ROUNDS]]]\n");
		return 2;
	}
	if (posix_memalign(&region, 4096, REGION) ||
	    kv_store_format(&st, &kv_store_v2_ops, region, REGION))
		return 1;
	kv_locks_init(&locks);
	proto.store = &st;
	proto.version = "bench";
	if (kv_conn_restore(&c, NULL))
		return 1;
	for (unsigned int k = 0; k < KEYS; k++)
		run(&c, cmd, set_cmd(cmd, k));
	kv_conn_release(&c);
	proto.threads = threads;
	proto.lock = proto_lock;
	proto.try_exclusive = proto_try_exclusive;
	for (int r = 0; r < rounds; r++) {
		/* Taking turns, each going first every other round. */
		for (int i = 0; i < 2; i++) {
			bool stripes = (r + i) % 2;

			st.locks = stripes ? &locks : NULL;
			*(stripes ? &with[r] : &without[r]) =
				measure(threads, secs);
		}
		ratio[r] = with[r] / without[r];
		printf("round %d: %.0f commands/s with stripes, %.0f without "
		       "(%.2fx)\n", r + 1, with[r], without[r], ratio[r]);
	}
	qsort(with, (size_t)rounds, sizeof(*with), cmp);
	qsort(without, (size_t)rounds, sizeof(*without), cmp);
	qsort(ratio, (size_t)rounds, sizeof(*ratio), cmp);
	printf("%u threads, %d rounds of %.1f s, medians: %.0f commands/s with "
	       "stripes, %.0f without; the rounds' own ratios %.2fx\n", threads,
	       rounds, secs, with[rounds / 2], without[rounds / 2],
	       ratio[rounds / 2]);
	free(region);
	return 0;
}
