// SPDX-License-Identifier: MIT
/**
 * DOC: the host's event fd
 *
 * The program polls one fd for the host, baton_host_fd(), and calls
 * baton_host_dispatch() when it is readable.  It is an epoll fd holding
 * whatever the host waits for - the control socket and its clients, a dry
 * run's report and exit - each a struct watch whose ready() does one
 * bounded step: a read of what is there, a write of what fits, never a
 * wait; and a timerfd for the earliest of the armed timers, each a
 * deadline whose fire() does the same.  So the program's own loop is
 * never held by the host except for the blackout of an update.
 *
 * Events are taken one at a time, so that a step that ends another watch
 * (a client whose update ended) never leaves a stale event behind; a
 * dispatch takes at most DISPATCH_MAX of them, and the program's other fds
 * get their turn.  It ends after a step that ran the program's prepare
 * hook: a program that parks its threads there (examples/kvcache) unparks
 * them when the dispatch returns, and the dry run's report, if it came
 * meanwhile, would otherwise run the commit in the same dispatch, the
 * threads parked all through the dry run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "host/host-internal.h"

#define DISPATCH_MAX 64

/* The timerfd: for the earliest armed timer; 0 disarms it. */
static void program(struct baton_host *host)
{
	struct itimerspec its = { 0 };
	uint64_t at = 0;

	for (struct timer *t = host->timers; t; t = t->next)
		if (!at || t->at < at)
			at = t->at;
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	timerfd_settime(host->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_timer(struct watch *w, uint32_t events)
{
	struct baton_host *host = container_of(w, struct baton_host, timer_watch);
	uint64_t expirations, now = baton_now_ns();
	struct timer *due;

	(void)events;
	(void)!read(w->fd, &expirations, sizeof(expirations));
	/* One at a time: a timer that fires may arm or disarm others. */
	for (;;) {
		due = NULL;
		for (struct timer *t = host->timers; t && !due; t = t->next)
			if (t->at <= now)
				due = t;
		if (!due)
			break;
		baton_loop_disarm(host, due);
		due->fire(due, now);
	}
	program(host);
}

void baton_loop_arm(struct baton_host *host, struct timer *t, uint64_t at)
{
	if (t->at && t->at <= at)
		return;
	if (!t->at) {
		t->next = host->timers;
		host->timers = t;
	}
	/* 0 means disarmed: a deadline at 0 is one long past. */
	t->at = at ? at : 1;
	program(host);
}

void baton_loop_disarm(struct baton_host *host, struct timer *t)
{
	for (struct timer **p = &host->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->at = 0;
	t->next = NULL;
}

int baton_loop_init(struct baton_host *host)
{
	host->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (host->epfd < 0)
		return -errno;
	host->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (host->timerfd < 0)
		return -errno;
	host->timer_watch = (struct watch){ host->timerfd, on_timer };
	return baton_loop_add(host, &host->timer_watch, EPOLLIN);
}

void baton_loop_free(struct baton_host *host)
{
	if (host->timerfd >= 0)
		close(host->timerfd);
	if (host->epfd >= 0)
		close(host->epfd);
	host->timerfd = host->epfd = -1;
}

int baton_loop_add(struct baton_host *host, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(host->epfd, EPOLL_CTL_ADD, w->fd, &ev) ? -errno : 0;
}

int baton_loop_mod(struct baton_host *host, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(host->epfd, EPOLL_CTL_MOD, w->fd, &ev) ? -errno : 0;
}

void baton_loop_del(struct baton_host *host, struct watch *w)
{
	epoll_ctl(host->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int baton_host_fd(const struct baton_host *host)
{
	return host->epfd;
}

int baton_host_dispatch(struct baton_host *host)
{
	uint64_t prepared = host->prepared;

	for (int i = 0; i < DISPATCH_MAX && !host->handed_over &&
	     host->prepared == prepared; i++) {
		struct epoll_event ev;
		struct watch *w;
		int n = epoll_wait(host->epfd, &ev, 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		w = ev.data.ptr;
		w->ready(w, ev.events);
	}
	return host->handed_over ? BATON_HANDED_OVER : 0;
}
