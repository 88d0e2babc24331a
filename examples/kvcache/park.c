// SPDX-License-Identifier: MIT
/**
 * DOC: parking kvcache's worker threads (park.h)
 *
 * kv_park_init() makes the states, all idle; the workers enter and leave
 * their batches for as long as they run; the main thread parks and
 * unparks them around an update; kv_park_stop() ends them, and
 * kv_park_destroy() follows once they are joined.
 */
#include <errno.h>

#include "park.h"

enum { KV_IDLE, KV_BUSY, KV_PARKED };

int kv_park_init(struct kv_park *p, unsigned int n)
{
	if (!n || n > KV_PARK_MAX)
		return -EINVAL;
	p->n = n;
	for (unsigned int i = 0; i < KV_PARK_MAX; i++)
		atomic_init(&p->state[i], KV_IDLE);
	atomic_init(&p->park, false);
	atomic_init(&p->stop, false);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->left, NULL);
	pthread_cond_init(&p->go, NULL);
	return 0;
}

void kv_park_destroy(struct kv_park *p)
{
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->left);
	pthread_mutex_destroy(&p->lock);
}

bool kv_park_enter(struct kv_park *p, unsigned int i)
{
	unsigned int idle = KV_IDLE;

	while (!atomic_load(&p->stop) &&
	       !atomic_compare_exchange_strong(&p->state[i], &idle, KV_BUSY)) {
		/* Parked while it slept: it waits, having touched nothing. */
		pthread_mutex_lock(&p->lock);
		while (atomic_load(&p->state[i]) == KV_PARKED &&
		       !atomic_load(&p->stop))
			pthread_cond_wait(&p->go, &p->lock);
		pthread_mutex_unlock(&p->lock);
		idle = KV_IDLE;
	}
	if (atomic_load(&p->stop)) {
		/* Serving nothing more: idle for whoever parks it. */
		idle = KV_BUSY;
		atomic_compare_exchange_strong(&p->state[i], &idle, KV_IDLE);
		return false;
	}
	return true;
}

void kv_park_leave(struct kv_park *p, unsigned int i)
{
	atomic_store(&p->state[i], KV_IDLE);
	/*
	 * The main thread sets @park before it reads a state: if it read
	 * this one busy, this sees @park set, and tells it (under the lock,
	 * so not before it waits).
	 */
	if (atomic_load(&p->park)) {
		pthread_mutex_lock(&p->lock);
		pthread_cond_broadcast(&p->left);
		pthread_mutex_unlock(&p->lock);
	}
}

void kv_park_all(struct kv_park *p)
{
	atomic_store(&p->park, true);
	pthread_mutex_lock(&p->lock);
	for (unsigned int i = 0; i < p->n; i++) {
		for (;;) {
			unsigned int was = KV_IDLE;

			if (atomic_compare_exchange_strong(&p->state[i], &was,
							   KV_PARKED) ||
			    was == KV_PARKED)
				break;
			/* Busy: to the end of its batch. */
			pthread_cond_wait(&p->left, &p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void kv_unpark_all(struct kv_park *p)
{
	if (!atomic_load(&p->park))
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->park, false);
	for (unsigned int i = 0; i < p->n; i++)
		atomic_store(&p->state[i], KV_IDLE);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
}

void kv_park_stop(struct kv_park *p)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
}
