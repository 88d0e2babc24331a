// SPDX-License-Identifier: MIT
/*
 * kvcache's parking of its workers for an update (examples/kvcache/park.h),
 * with a worker that sleeps where kvcache's sleep in epoll_wait() - in a
 * read() of a pipe - and a "main thread" that parks it:
 *
 *  - a worker asleep between two batches is parked without running: the
 *    park returns while it still sleeps;
 *  - woken while parked, it serves nothing until unparked;
 *  - a worker inside a batch is waited for: the park returns only once
 *    it has left the batch;
 *  - a parked worker told to stop returns false.
 *
 * Every wait is bounded (WAIT_S): a park that waits for what it should not
 * fails the test rather than hang it.  Built as a unit test (valgrind, and
 * ASan in a sanitizer build) and with ThreadSanitizer (suite tsan).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "park.h"

#define WAIT_S	20

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);	\
		exit(1);						\
	}								\
} while (0)

static struct kv_park park;

/* A worker: enters a batch, waits in it for @in_batch, leaves, sleeps in
 * a read of @poll (its epoll_wait()), enters again, counts, leaves. */
struct worker {
	pthread_t thread;
	atomic_int tid;
	int in_batch[2];	/* written: leave the first batch */
	int poll[2];		/* written: wake from the "poll" */
	atomic_int phase;	/* 1 in its first batch, 2 polling, 3 woken,
				 * 4 in its second batch, 5 done, -1 stopped */
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char c;

	atomic_store(&w->tid, gettid());
	if (!kv_park_enter(&park, 0)) {
		atomic_store(&w->phase, -1);
		return NULL;
	}
	atomic_store(&w->phase, 1);
	CHECK(read(w->in_batch[0], &c, 1) == 1);
	kv_park_leave(&park, 0);
	atomic_store(&w->phase, 2);
	CHECK(read(w->poll[0], &c, 1) == 1);
	atomic_store(&w->phase, 3);
	if (!kv_park_enter(&park, 0)) {
		atomic_store(&w->phase, -1);
		return NULL;
	}
	atomic_store(&w->phase, 4);
	kv_park_leave(&park, 0);
	atomic_store(&w->phase, 5);
	return NULL;
}

/* WAIT_S from now (CLOCK_REALTIME, as pthread_timedjoin_np() takes it). */
static struct timespec deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	return ts;
}

static bool before(const struct timespec *end)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec < end->tv_sec ||
	       (ts.tv_sec == end->tv_sec && ts.tv_nsec < end->tv_nsec);
}

/* Whether thread @tid is asleep (state S in /proc). */
static bool sleeping(int tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Until @w's phase is @phase and its thread sleeps, WAIT_S at most. */
static void wait_asleep(struct worker *w, int phase)
{
	struct timespec end = deadline();

	while (!(atomic_load(&w->phase) == phase && sleeping(atomic_load(&w->tid)))) {
		/* Not past it: a parked worker's phase stays. */
		CHECK(atomic_load(&w->phase) <= phase);
		CHECK(before(&end));
		sched_yield();
	}
}

static void wait_phase(struct worker *w, int phase)
{
	struct timespec end = deadline();

	while (atomic_load(&w->phase) != phase) {
		CHECK(before(&end));
		sched_yield();
	}
}

static void worker_start(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	CHECK(!pipe(w->in_batch) && !pipe(w->poll));
	CHECK(!pthread_create(&w->thread, NULL, worker_run, w));
}

static void worker_join(struct worker *w)
{
	struct timespec end = deadline();

	CHECK(!pthread_timedjoin_np(w->thread, NULL, &end));
	close(w->in_batch[0]);
	close(w->in_batch[1]);
	close(w->poll[0]);
	close(w->poll[1]);
}

/* The main thread's park, in a thread of its own so that it can be timed. */
struct parker {
	pthread_t thread;
	atomic_int tid;
	atomic_bool done;
};

static void *parker_run(void *arg)
{
	struct parker *p = arg;

	atomic_store(&p->tid, gettid());
	kv_park_all(&park);
	atomic_store(&p->done, true);
	return NULL;
}

static void park_timed(void)
{
	struct parker p = { 0 };
	struct timespec end = deadline();
	int err;

	CHECK(!pthread_create(&p.thread, NULL, parker_run, &p));
	err = pthread_timedjoin_np(p.thread, NULL, &end);
	if (err == ETIMEDOUT)
		fprintf(stderr, "the park waited %d s for a worker asleep "
			"between two batches\n", WAIT_S);
	CHECK(!err && atomic_load(&p.done));
}

/*
 * A worker asleep in its poll: parked where it sleeps, without running;
 * woken, it sleeps in its enter, not in its batch.
 */
static void park_asleep(struct worker *w)
{
	char c = 1;

	CHECK(!kv_park_init(&park, 1));
	worker_start(w);
	wait_phase(w, 1);
	CHECK(write(w->in_batch[1], &c, 1) == 1);
	wait_asleep(w, 2);
	park_timed();
	CHECK(atomic_load(&w->phase) == 2);
	kv_park_all(&park);		/* idempotent */
	CHECK(write(w->poll[1], &c, 1) == 1);
	wait_asleep(w, 3);
	CHECK(atomic_load(&w->phase) == 3);
}

/* ...and unparked, it serves its batch. */
static void test_idle_claimed(void)
{
	struct worker w;

	park_asleep(&w);
	kv_unpark_all(&park);
	wait_phase(&w, 5);
	worker_join(&w);
	kv_park_destroy(&park);
}

/* Inside a batch: waited for, to its end. */
static void test_busy_waited(void)
{
	struct parker p = { 0 };
	struct timespec end;
	struct worker w;
	char c = 1;

	CHECK(!kv_park_init(&park, 1));
	worker_start(&w);
	wait_asleep(&w, 1);
	CHECK(!pthread_create(&p.thread, NULL, parker_run, &p));
	end = deadline();
	while (!atomic_load(&p.done) &&
	       !(atomic_load(&p.tid) && sleeping(atomic_load(&p.tid)))) {
		CHECK(before(&end));
		sched_yield();
	}
	if (atomic_load(&p.done))
		fprintf(stderr, "the park returned with a worker inside its batch\n");
	CHECK(!atomic_load(&p.done));
	CHECK(write(w.in_batch[1], &c, 1) == 1);
	end = deadline();
	CHECK(!pthread_timedjoin_np(p.thread, NULL, &end));
	CHECK(atomic_load(&p.done));
	CHECK(write(w.poll[1], &c, 1) == 1);
	wait_asleep(&w, 3);
	kv_unpark_all(&park);
	wait_phase(&w, 5);
	worker_join(&w);
	kv_park_destroy(&park);
}

/* Parked, then stopped: it returns without serving. */
static void test_stop_parked(void)
{
	struct worker w;

	park_asleep(&w);
	kv_park_stop(&park);
	worker_join(&w);
	CHECK(atomic_load(&w.phase) == -1);
	kv_park_destroy(&park);
}

int main(void)
{
	CHECK(kv_park_init(&park, 0) == -EINVAL);
	CHECK(kv_park_init(&park, KV_PARK_MAX + 1) == -EINVAL);
	test_idle_claimed();
	test_busy_waited();
	test_stop_parked();
	printf("kvpark: ok\n");
	return 0;
}
