/* SPDX-License-Identifier: MIT */
#ifndef KVCACHE_PARK_H
#define KVCACHE_PARK_H

/**
 * DOC: parking kvcache's worker threads for an update
 *
 * For an update the main thread holds every worker between two batches
 * of events (kv_park_all()), touches the clients alone, and lets them go
 * again (kv_unpark_all()) - or never, when the update hands over.  Each
 * worker brackets a batch with kv_park_enter() and kv_park_leave(), and
 * is in one of three states, one atomic word each:
 *
 *  - idle: between two batches, most often asleep in epoll_wait();
 *  - busy: serving a batch;
 *  - parked: claimed by the main thread.
 *
 * The main thread claims an idle worker with one compare-and-swap, without
 * waking it or waiting for it to get a CPU: a worker that wakes finds
 * itself parked before it touches anything, and sleeps until unparked.
 * Only a busy worker is waited for, to the end of its batch.  Waking every
 * worker and waiting for each to say it had stopped cost an update's
 * prepare 0.3-2 ms on two busy cores, all of it with the clients held.
 *
 * The compare-and-swap that claims an idle worker, and its leaving a
 * batch, order what the worker wrote in the batch before what the main
 * thread reads parked (sequentially consistent atomics); unparking orders
 * the main thread's writes before the worker's next batch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define KV_PARK_MAX	64	/* workers */

/**
 * struct kv_park - the parking of N workers
 * @n:      the workers, at most KV_PARK_MAX
 * @state:  each worker's: idle, busy or parked
 * @park:   the main thread is parking them, or has
 * @stop:   kv_park_enter() says stop from now on
 * @lock:   for the two waits below
 * @left:   a busy worker left its batch while @park was set
 * @go:     the workers are unparked, or told to stop
 */
struct kv_park {
	unsigned int n;
	atomic_uint state[KV_PARK_MAX];
	atomic_bool park;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t left;
	pthread_cond_t go;
};

/**
 * kv_park_init() - @n workers, all idle
 * @p: the parking
 * @n: the workers, 1 to KV_PARK_MAX
 *
 * Return: 0, or -EINVAL for another @n.
 */
int kv_park_init(struct kv_park *p, unsigned int n);

/** kv_park_destroy() - undo kv_park_init(); no worker may be in it. */
void kv_park_destroy(struct kv_park *p);

/**
 * kv_park_enter() - worker @i is about to serve a batch
 * @p: the parking
 * @i: the worker
 *
 * Waits while @i is parked.
 *
 * Return: true: serve it, and call kv_park_leave() after; false: the
 * workers are stopping (kv_park_stop()), return.
 */
bool kv_park_enter(struct kv_park *p, unsigned int i);

/** kv_park_leave() - worker @i has served its batch; it is idle again. */
void kv_park_leave(struct kv_park *p, unsigned int i);

/**
 * kv_park_all() - park every worker between two batches
 * @p: the parking
 *
 * Claims each idle worker at once and waits for each busy one to finish its
 * batch.  When it returns no worker runs a batch until kv_unpark_all().
 * Idempotent.  The main thread's only.
 */
void kv_park_all(struct kv_park *p);

/** kv_unpark_all() - let every worker serve again; nothing if none is parked. */
void kv_unpark_all(struct kv_park *p);

/**
 * kv_park_stop() - every kv_park_enter() from now on returns false, a
 * parked worker's too; a worker asleep elsewhere (epoll_wait()) must be
 * woken by the caller.
 */
void kv_park_stop(struct kv_park *p);

#endif
