// SPDX-License-Identifier: MIT
/**
 * DOC: devsim event loop
 *
 * The pieces of the loop that do not depend on how devsim was started:
 * logging, the clock, registering fds with the epoll set, one tick of the
 * device types and one round of events.  main.c adds the options, the
 * signalfd and the 1 ms timerfd; the fuzzer (tests/fuzz/fuzz_devsim.c)
 * drives the same functions with a zero timeout and a clock of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>

#include "devsim.h"

bool devsim_log_quiet;

void devsim_log(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (devsim_log_quiet) {
		char line[256];

		/* Still format it: a bad argument shows in the sanitizers. */
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		errno = saved;
		return;
	}
	fputs("devsim: ", stderr);
	va_start(ap, fmt);
	errno = saved;	/* for %m */
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = saved;
}

uint64_t devsim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int devsim_watch_add(struct devsim *sim, struct devsim_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(sim->epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

int devsim_watch_mod(struct devsim *sim, struct devsim_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(sim->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void devsim_watch_del(struct devsim *sim, struct devsim_watch *w)
{
	epoll_ctl(sim->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void devsim_tick(struct devsim *sim, uint64_t now_ns)
{
	sim->ticks++;
	sim->irq_batch = true;
	for (unsigned int i = 0; i < sim->ndevs; i++) {
		struct devsim_dev *dev = &sim->devs[i];

		if (!dev->type->tick || dev->tick_at > now_ns)
			continue;
		sim->dev_ticks++;
		dev->tick_at = dev->type->tick(dev, now_ns);
	}
	devsim_irq_flush(sim);
	sim->irq_batch = false;
	devsim_status_tick(sim);
}

int devsim_dispatch(struct devsim *sim, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(sim->epfd, evs, 32, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct devsim_watch *w = evs[i].data.ptr;

		w->handle(w, evs[i].events);
	}
	devsim_status_reap(sim);
	return n;
}
