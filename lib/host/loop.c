// SPDX-License-Identifier: MIT
/**
 * DOC: the host's event fd
 *
 * The program polls one fd for the host, baton_host_fd(), and calls
 * baton_host_dispatch() when it is readable.  It is an epoll fd holding
 * whatever the host waits for - the control socket and its clients, a dry
 * run's report and exit, a timerfd for the earliest deadline - each a
 * struct watch whose ready() does one bounded step: a read of what is
 * there, a write of what fits, never a wait.  So the program's own loop is
 * never held by the host except for the blackout of an update.
 *
 * Events are taken one at a time, so that a step that ends another watch
 * (a client whose update ended) never leaves a stale event behind; a
 * dispatch takes at most DISPATCH_MAX of them, and the program's other fds
 * get their turn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "host/host-internal.h"

#define DISPATCH_MAX 64

static void on_timer(struct watch *w, uint32_t events)
{
	struct baton_host *host = container_of(w, struct baton_host, timer_watch);
	uint64_t expirations, now = baton_now_ns();

	(void)events;
	(void)!read(w->fd, &expirations, sizeof(expirations));
	host->wake_ns = 0;
	baton_control_expire(host, now);
	if (host->update)
		baton_dry_run_expire(host->update, now);
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

void baton_loop_wake_at(struct baton_host *host, uint64_t ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) },
	};

	if (host->wake_ns && host->wake_ns <= ns)
		return;
	host->wake_ns = ns;
	/* 0 would disarm it: a deadline already past fires at once. */
	if (!ns)
		its.it_value.tv_nsec = 1;
	timerfd_settime(host->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int baton_host_fd(const struct baton_host *host)
{
	return host->epfd;
}

int baton_host_dispatch(struct baton_host *host)
{
	for (int i = 0; i < DISPATCH_MAX && !host->handed_over; i++) {
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
