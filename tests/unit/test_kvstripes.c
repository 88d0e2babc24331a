// SPDX-License-Identifier: MIT
/*
 * kvcache's store used by several threads a key's stripe at a time
 * (kv_store_lock_key()), as kvcache --threads N uses it: each thread is a
 * connection that sets, gets and deletes keys the others set too - every
 * other command one of a few hot keys, so that two threads meet on one
 * key all the time - in a region so small that nearly every set evicts,
 * so that evictions take items out of stripes other threads use.  A witness checks the result:
 *
 *  - every value a get answers is whole and its key's: it says which key,
 *    thread and set made it, and the rest of its bytes follow from that;
 *  - at the end, each key holds nothing or the last value the thread that
 *    wrote it set there (not one that thread deleted or overwrote since);
 *  - once every key is deleted, none is found: no key was stored twice;
 *  - the region checks whole (kv_store_check()) and counts no item.
 *
 * Threads meet on a key by chance, however hot it is.  Before them, each
 * command that writes a key runs while the test holds that key's stripe,
 * and must wait for it: it is seen asleep in futex() before the stripe is
 * let go, and it never answers while the stripe is held.
 *
 * Built twice: as a unit test (valgrind, and ASan in a sanitizer build),
 * and with ThreadSanitizer (suite tsan), which fails it on any data race.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kv_threaded.h"

#define REGION		(3u << 20)	/* two 1 MiB pages of items */
#define THREADS		4
#define KEYS		16384		/* twice what two pages hold */
#define HOT_KEYS	8
#define VALUE		200
#ifndef ROUNDS
#define ROUNDS		40000
#endif

/* The set of each thread's last value of each key, 0 after it deleted. */
static uint32_t last[THREADS][KEYS];

/* Thread @t's set @seq of key @k: "k<k> t<t> s<seq> " then filler. */
static void make_value(char *v, unsigned int k, unsigned int t, uint32_t seq)
{
	int n = snprintf(v, VALUE + 1, "k%u t%u s%" PRIu32 " ", k, t, seq);

	for (int i = n; i < VALUE; i++)
		v[i] = (char)('a' + (k * 7 + t * 3 + seq + (unsigned int)i) % 26);
}

/*
 * What a get of key @k answered: END, or a whole value of @k.  Return its
 * writer and set in @t and @seq, false when there is none.
 */
static bool check_value(unsigned int k, const char *out, unsigned int *t,
			uint32_t *seq)
{
	char head[64], want[VALUE + 1];
	unsigned int vk;
	int n;

	if (!strcmp(out, "END\r\n"))
		return false;
	n = snprintf(head, sizeof(head), "VALUE k%u 0 %d\r\n", k, VALUE);
	if (strncmp(out, head, (size_t)n) ||
	    sscanf(out + n, "k%u t%u s%" SCNu32, &vk, t, seq) != 3 ||
	    vk != k || *t >= THREADS) {
		FAIL("get k%u answered %.60s\n", k, out);
		return false;
	}
	make_value(want, k, *t, *seq);
	if (memcmp(out + n, want, VALUE) ||
	    strcmp(out + n + VALUE, "\r\nEND\r\n")) {
		FAIL("get k%u: a torn value %.*s\n", k, VALUE, out + n);
		return false;
	}
	return true;
}

/* One command of waits_for_stripe(), run by a thread of its own. */
struct blocked {
	const char *cmd;
	char out[64];
	atomic_int tid;
	atomic_bool answered;
};

static void *run_blocked(void *arg)
{
	struct blocked *b = arg;
	struct kv_conn c;

	atomic_store(&b->tid, (int)syscall(SYS_gettid));
	if (kv_conn_restore(&c, NULL)) {
		FAIL("no connection\n");
		atomic_store(&b->answered, true);
		return NULL;
	}
	run(&c, b->cmd, strlen(b->cmd), b->out, sizeof(b->out));
	atomic_store(&b->answered, true);
	kv_conn_release(&c);
	return NULL;
}

/* Whether thread @tid is in futex() now: asleep on a lock. */
static bool in_futex(int tid)
{
	char path[64], line[32];
	bool ret = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(line, sizeof(line), f))
		ret = atoi(line) == SYS_futex;
	fclose(f);
	return ret;
}

/*
 * Run @cmd, which writes @key, on a worker while this thread holds the
 * store shared and @key's stripe, as another worker using @key would: the
 * command must wait for the stripe (seen in futex() within 10 s), not
 * answer @want before it is let go.
 */
static void waits_for_stripe(struct kv_store *st, const char *key,
			     const char *cmd, const char *want)
{
	const struct timespec poll = { .tv_nsec = 100000 };
	struct blocked b = { .cmd = cmd };
	bool waited = false;
	pthread_t th;
	int stripe;

	proto_lock(&proto, KV_SHARED);
	stripe = kv_store_lock_key(st, key, strlen(key));
	if (stripe < 0) {
		FAIL("%s: no stripe (%d)\n", key, stripe);
		proto_lock(&proto, KV_UNLOCKED);
		return;
	}
	if (pthread_create(&th, NULL, run_blocked, &b)) {
		FAIL("no thread\n");
		kv_store_unlock_stripe(st, stripe);
		proto_lock(&proto, KV_UNLOCKED);
		return;
	}
	for (int i = 0; i < 100000 && !atomic_load(&b.answered); i++) {
		int tid = atomic_load(&b.tid);

		if (tid && in_futex(tid)) {
			waited = true;
			break;
		}
		nanosleep(&poll, NULL);
	}
	if (atomic_load(&b.answered))
		FAIL("%.*s answered while another worker held %s's stripe\n",
		     (int)strcspn(cmd, "\r"), cmd, key);
	else if (!waited)
		FAIL("%.*s neither answered nor waited in 10 s\n",
		     (int)strcspn(cmd, "\r"), cmd);
	kv_store_unlock_stripe(st, stripe);
	proto_lock(&proto, KV_UNLOCKED);
	pthread_join(th, NULL);
	if (strcmp(b.out, want))
		FAIL("%.*s answered %s after the stripe was let go\n",
		     (int)strcspn(cmd, "\r"), cmd, b.out);
}

static void *client(void *arg)
{
	unsigned int self = (unsigned int)(uintptr_t)arg, seed = self + 1;
	char cmd[VALUE + 64], out[VALUE + 128];
	unsigned int t;
	struct kv_conn c;
	uint32_t seq;

	if (kv_conn_restore(&c, NULL)) {
		FAIL("no connection\n");
		return NULL;
	}
	for (uint32_t i = 1; i <= ROUNDS; i++) {
		/* Every other command on one of a few hot keys: two threads
		 * setting one key at once is then the common case, not a
		 * rare one a quiet machine may never schedule. */
		unsigned int k = (unsigned int)rand_r(&seed) % (i % 2 ? KEYS : HOT_KEYS);
		unsigned int op = (unsigned int)rand_r(&seed) % 20;
		int n;

		if (op < 11) {
			n = snprintf(cmd, sizeof(cmd), "set k%u 0 0 %d\r\n", k,
				     VALUE);
			make_value(cmd + n, k, self, i);
			memcpy(cmd + n + VALUE, "\r\n", 2);
			run(&c, cmd, (size_t)n + VALUE + 2, out, sizeof(out));
			if (strcmp(out, "STORED\r\n"))
				FAIL("set k%u answered %s\n", k, out);
			else
				last[self][k] = i;
		} else if (op < 19) {
			n = snprintf(cmd, sizeof(cmd), "get k%u\r\n", k);
			run(&c, cmd, (size_t)n, out, sizeof(out));
			check_value(k, out, &t, &seq);
		} else {
			n = snprintf(cmd, sizeof(cmd), "delete k%u\r\n", k);
			run(&c, cmd, (size_t)n, out, sizeof(out));
			if (strcmp(out, "DELETED\r\n") &&
			    strcmp(out, "NOT_FOUND\r\n"))
				FAIL("delete k%u answered %s\n", k, out);
			last[self][k] = 0;
		}
	}
	kv_conn_release(&c);
	return NULL;
}

int main(void)
{
	char cmd[64], out[VALUE + 128];
	pthread_t th[THREADS];
	struct kv_conn c;
	struct kv_store st;
	struct kv_stats s;
	unsigned int t;
	void *region;
	uint32_t seq;

	if (posix_memalign(&region, 4096, REGION) ||
	    kv_store_format(&st, &kv_store_v2_ops, region, REGION))
		return 1;
	serve(&st, THREADS);
	waits_for_stripe(&st, "k1", "set k1 0 0 1\r\nx\r\n", "STORED\r\n");
	waits_for_stripe(&st, "k1", "delete k1\r\n", "DELETED\r\n");
	for (uintptr_t i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, client, (void *)i))
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	if (st.broken)
		FAIL("the store found damage: %s\n", st.err.msg);
	if (kv_conn_restore(&c, NULL))
		return 1;
	for (unsigned int k = 0; k < KEYS; k++) {
		int n = snprintf(cmd, sizeof(cmd), "get k%u\r\n", k);

		run(&c, cmd, (size_t)n, out, sizeof(out));
		if (check_value(k, out, &t, &seq) && seq != last[t][k])
			FAIL("k%u holds set %" PRIu32 " of thread %u, whose "
			     "last is %" PRIu32 "\n", k, seq, t, last[t][k]);
		n = snprintf(cmd, sizeof(cmd), "delete k%u\r\n", k);
		run(&c, cmd, (size_t)n, out, sizeof(out));
	}
	for (unsigned int k = 0; k < KEYS; k++) {
		int n = snprintf(cmd, sizeof(cmd), "get k%u\r\n", k);

		run(&c, cmd, (size_t)n, out, sizeof(out));
		if (strcmp(out, "END\r\n"))
			FAIL("k%u found again after its delete: %.40s\n", k, out);
	}
	kv_conn_release(&c);
	if (kv_store_check(&st))
		FAIL("the region does not check: %s\n", st.err.msg);
	kv_store_stats(&st, &s);
	if (s.curr_items || s.bytes)
		FAIL("%" PRIu64 " items of %" PRIu64 " bytes counted, none "
		     "left\n", s.curr_items, s.bytes);
	if (!s.evictions)
		FAIL("no eviction: the test tests less than it says\n");
	free(region);
	if (atomic_load(&failures))
		return 1;
	printf("%d threads x %d commands on %d keys, %" PRIu64 " evictions: "
	       "every value whole, every key's last, none twice\n", THREADS,
	       ROUNDS, KEYS, s.evictions);
	return 0;
}
