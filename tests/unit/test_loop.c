// SPDX-License-Identifier: MIT
/*
 * The host's event loop (lib/host/loop.c): a dispatch takes the events
 * that wait, one at a time, and ends after a step that called the
 * program's prepare hook.  A program that parks its threads in the hook
 * (examples/kvcache) unparks them when the dispatch returns; a dry run's
 * report waiting behind that step would otherwise commit in the same
 * dispatch, the threads parked all through the dry run.  Deterministic
 * where kvcache-hold could only catch it by timing.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/host-internal.h"

/* An event that waits; taking it calls the prepare hook if @prepares. */
struct step {
	struct watch w;
	struct baton_host *host;
	bool prepares;
	int runs;
};

static void step_ready(struct watch *w, uint32_t events)
{
	struct step *s = container_of(w, struct step, w);
	uint64_t v;

	(void)events;
	(void)!read(w->fd, &v, sizeof(v));
	s->runs++;
	if (s->prepares)
		s->host->prepared++;	/* as update.c's prepare() counts it */
}

/* @n steps on a new loop, each with an event waiting. */
static struct baton_host *loop_with(struct step *steps, size_t n, bool prepares)
{
	struct baton_host *host = calloc(1, sizeof(*host));

	assert_non_null(host);
	host->epfd = host->timerfd = -1;
	assert_int_equal(baton_loop_init(host), 0);
	for (size_t i = 0; i < n; i++) {
		steps[i] = (struct step){ .host = host, .prepares = prepares };
		steps[i].w = (struct watch){ eventfd(1, EFD_CLOEXEC), step_ready };
		assert_true(steps[i].w.fd >= 0);
		assert_int_equal(baton_loop_add(host, &steps[i].w, EPOLLIN), 0);
	}
	return host;
}

static void loop_free(struct baton_host *host, struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(steps[i].w.fd);
	baton_loop_free(host);
	free(host);
}

static void test_ends_after_prepare(void **state)
{
	struct step steps[2];
	struct baton_host *host = loop_with(steps, 2, true);

	(void)state;
	assert_int_equal(baton_host_dispatch(host), 0);
	assert_int_equal(steps[0].runs + steps[1].runs, 1);
	/* The next dispatch takes the one left. */
	assert_int_equal(baton_host_dispatch(host), 0);
	assert_int_equal(steps[0].runs, 1);
	assert_int_equal(steps[1].runs, 1);
	loop_free(host, steps, 2);
}

static void test_takes_all_otherwise(void **state)
{
	struct step steps[3];
	struct baton_host *host = loop_with(steps, 3, false);

	(void)state;
	assert_int_equal(baton_host_dispatch(host), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(steps[i].runs, 1);
	loop_free(host, steps, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ends_after_prepare),
		cmocka_unit_test(test_takes_all_otherwise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
