// SPDX-License-Identifier: MIT
/**
 * DOC: kvload - a closed-loop memcached load generator that measures latency
 *
 *   kvload --port P [--conns C] [--threads T] [--seconds S] [--keys K]
 *          [--value BYTES] [--sets PERCENT] [--preload] [--slow US]
 *
 * C connections spread over T threads (one epoll loop each); every
 * connection sends one request, waits for its whole answer, and sends the
 * next: "get key" or, PERCENT of the time, "set key" with a BYTES-long
 * value, keys drawn uniformly from K.  Each request's latency, from the
 * send to the last byte of its answer, goes into a histogram (1 us buckets
 * up to 100 ms, then the tail counted as such), so that the longest stall
 * a client sees during a live update shows as the maximum.  --preload
 * first sets every key (pipelined, noreply, then a get to wait for them).
 * --slow US prints each request that took US microseconds or more on
 * stderr, "slow CONN SENT_NS NS": CONN is its connection's place in the
 * order they were dialled (a server that gives connections out round
 * robin, as kvcache does to its workers, gives CONN % N to one worker),
 * SENT_NS when it was sent (CLOCK_MONOTONIC), NS how long it took - so
 * that what each client waited through an update can be placed on the
 * update's BATON_TRACE phases, not only the longest request of the run.
 *
 * Prints one line:
 *   ops=N ops_s=X p50_us=A p99_us=B max_us=C errors=E misses=M max_at_ns=T
 * T: when the longest request was sent (CLOCK_MONOTONIC, as BATON_TRACE
 * notes an update's phases), to find where in an update it waited.
 * errors: answers that are neither a value, END nor STORED, and closed
 * connections; misses: gets of a preloaded key that found nothing.
 * Exits 1 when anything failed to connect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US		100000		/* 1 us buckets up to 100 ms */
#define MAX_CONNS	1024
#define BUF		(64 * 1024)

struct opts {
	unsigned int port, conns, threads, seconds, keys, value, sets;
	bool preload;
	uint64_t slow_ns;		/* --slow: 0, none */
};

struct conn {
	int fd;
	unsigned int id;		/* dialled @id-th */
	uint64_t sent_ns;
	bool is_set;
	size_t in_len;
	char in[BUF];
	unsigned int seed;
};

struct worker {
	pthread_t thread;
	const struct opts *o;
	struct conn *conns;
	unsigned int n;
	uint64_t deadline_ns;
	uint64_t ops, errors, misses, over;
	uint64_t max_ns, max_at;
	uint32_t *hist;
};

static char *value_buf;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int dial(unsigned int port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int send_request(const struct opts *o, struct conn *c)
{
	char line[128];
	unsigned int key = rand_r(&c->seed) % o->keys;
	int len;

	c->is_set = (unsigned int)(rand_r(&c->seed) % 100) < o->sets;
	if (c->is_set)
		len = snprintf(line, sizeof(line), "set kvload:%u 0 0 %u\r\n",
			       key, o->value);
	else
		len = snprintf(line, sizeof(line), "get kvload:%u\r\n", key);
	c->sent_ns = now_ns();
	c->in_len = 0;
	if (send_all(c->fd, line, len))
		return -1;
	if (c->is_set && (send_all(c->fd, value_buf, o->value) ||
			  send_all(c->fd, "\r\n", 2)))
		return -1;
	return 0;
}

/*
 * Whether @c holds a whole answer: 1 yes, 0 not yet, -1 not an answer.
 * A get's answer ends in "END\r\n" (the value's length is in its VALUE
 * line, so a value holding "END" is not mistaken for it).
 */
static int answer_done(struct conn *c, bool *miss)
{
	char *eol = memchr(c->in, '\n', c->in_len);
	unsigned long bytes;
	size_t head;

	if (!eol)
		return 0;
	head = eol - c->in + 1;
	if (c->is_set)
		return head == 8 && !memcmp(c->in, "STORED\r\n", 8) ? 1 : -1;
	if (head == 5 && !memcmp(c->in, "END\r\n", 5)) {
		*miss = true;
		return 1;
	}
	if (sscanf(c->in, "VALUE %*s %*u %lu", &bytes) != 1)
		return -1;
	if (c->in_len < head + bytes + 2 + 5)
		return 0;
	return !memcmp(c->in + head + bytes + 2, "END\r\n", 5) ? 1 : -1;
}

/* A request of @c sent at @sent (CLOCK_MONOTONIC ns), answered @ns later. */
static void record(struct worker *w, const struct conn *c, uint64_t sent,
		   uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (w->o->slow_ns && ns >= w->o->slow_ns)
		fprintf(stderr, "slow %u %" PRIu64 " %" PRIu64 "\n", c->id,
			sent, ns);
	if (us < HIST_US)
		w->hist[us]++;
	else
		w->over++;
	if (ns > w->max_ns) {
		w->max_ns = ns;
		w->max_at = sent;
	}
	w->ops++;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (unsigned int i = 0; i < w->n; i++) {
		struct conn *c = &w->conns[i];

		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd,
			  &(struct epoll_event){ .events = EPOLLIN, .data.ptr = c });
		if (send_request(w->o, c))
			w->errors++;
	}
	while (now_ns() < w->deadline_ns) {
		int n = epoll_wait(ep, ev, 64, 100);

		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			bool miss = false;
			ssize_t got;
			int done;

			got = recv(c->fd, c->in + c->in_len,
				   sizeof(c->in) - c->in_len - 1, 0);
			if (got <= 0) {
				if (got < 0 && errno == EINTR)
					continue;
				w->errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->in_len += got;
			c->in[c->in_len] = '\0';
			done = answer_done(c, &miss);
			if (!done)
				continue;
			if (done < 0)
				w->errors++;
			w->misses += miss && w->o->preload;
			record(w, c, c->sent_ns, now_ns() - c->sent_ns);
			if (send_request(w->o, c)) {
				w->errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	close(ep);
	return NULL;
}

/* Set every key, pipelined with noreply, then wait for a get's answer. */
static int preload(const struct opts *o)
{
	int fd = dial(o->port);
	char line[128], end[6] = "";
	size_t got = 0;

	if (fd < 0)
		return -1;
	for (unsigned int k = 0; k < o->keys; k++) {
		int len = snprintf(line, sizeof(line),
				   "set kvload:%u 0 0 %u noreply\r\n", k, o->value);

		if (send_all(fd, line, len) || send_all(fd, value_buf, o->value) ||
		    send_all(fd, "\r\n", 2))
			return -1;
	}
	if (send_all(fd, "get kvload:none\r\n", 17))
		return -1;
	while (got < 5) {
		ssize_t n = recv(fd, end + got, 5 - got, 0);

		if (n <= 0)
			return -1;
		got += n;
	}
	close(fd);
	return strcmp(end, "END\r\n") ? -1 : 0;
}

static uint64_t percentile(const uint32_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(total * p), seen = 0;

	for (uint64_t us = 0; us < HIST_US; us++) {
		seen += hist[us];
		if (seen > want)
			return us;
	}
	return HIST_US;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value", required_argument, NULL, 'v' },
		{ "sets", required_argument, NULL, 'S' },
		{ "preload", no_argument, NULL, 'P' },
		{ "slow", required_argument, NULL, 'l' },
		{ 0 }
	};
	struct opts o = { 0, 16, 2, 5, 10000, 100, 10, false, 0 };
	struct worker *w;
	uint32_t *hist;
	uint64_t ops = 0, errors = 0, misses = 0, over = 0, max_ns = 0, t0;
	uint64_t max_at = 0;
	unsigned int dialled = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned int v = opt == 'P' ? 0 : (unsigned int)atoi(optarg);

		switch (opt) {
		case 'p': o.port = v; break;
		case 'c': o.conns = v; break;
		case 't': o.threads = v; break;
		case 's': o.seconds = v; break;
		case 'k': o.keys = v; break;
		case 'v': o.value = v; break;
		case 'S': o.sets = v; break;
		case 'P': o.preload = true; break;
		case 'l': o.slow_ns = v * 1000ull; break;
		default:
			fprintf(stderr, "usage: kvload --port P [--conns C] "
				"[--threads T] [--seconds S] [--keys K] "
				"[--value BYTES] [--sets PERCENT] [--preload] "
				"[--slow US]\n");
			return 2;
		}
	}
	if (!o.port || !o.conns || o.conns > MAX_CONNS || !o.threads ||
	    o.threads > o.conns || !o.keys || o.value > BUF / 2 || o.sets > 100) {
		fprintf(stderr, "kvload: bad arguments\n");
		return 2;
	}
	value_buf = malloc(o.value + 1);
	w = calloc(o.threads, sizeof(*w));
	hist = calloc(HIST_US, sizeof(*hist));
	if (!value_buf || !w || !hist)
		return 1;
	memset(value_buf, 'v', o.value);
	if (o.preload && preload(&o)) {
		fprintf(stderr, "kvload: preloading 127.0.0.1:%u failed\n", o.port);
		return 1;
	}
	t0 = now_ns();
	for (unsigned int i = 0; i < o.threads; i++) {
		w[i].o = &o;
		w[i].n = o.conns / o.threads + (i < o.conns % o.threads);
		w[i].conns = calloc(w[i].n, sizeof(struct conn));
		w[i].hist = calloc(HIST_US, sizeof(uint32_t));
		w[i].deadline_ns = t0 + o.seconds * 1000000000ull;
		if (!w[i].conns || !w[i].hist)
			return 1;
		for (unsigned int j = 0; j < w[i].n; j++) {
			w[i].conns[j].fd = dial(o.port);
			w[i].conns[j].id = dialled++;
			w[i].conns[j].seed = i * 7919 + j;
			if (w[i].conns[j].fd < 0) {
				fprintf(stderr, "kvload: connect: %s\n",
					strerror(errno));
				return 1;
			}
		}
	}
	for (unsigned int i = 0; i < o.threads; i++)
		pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
	for (unsigned int i = 0; i < o.threads; i++) {
		pthread_join(w[i].thread, NULL);
		for (uint64_t us = 0; us < HIST_US; us++)
			hist[us] += w[i].hist[us];
		ops += w[i].ops;
		errors += w[i].errors;
		misses += w[i].misses;
		over += w[i].over;
		if (w[i].max_ns > max_ns) {
			max_ns = w[i].max_ns;
			max_at = w[i].max_at;
		}
	}
	printf("ops=%" PRIu64 " ops_s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64
	       " max_us=%" PRIu64 " errors=%" PRIu64 " misses=%" PRIu64
	       " max_at_ns=%" PRIu64 "\n",
	       ops, ops / (double)o.seconds, percentile(hist, ops, 0.50),
	       percentile(hist, ops, 0.99), max_ns / 1000, errors, misses,
	       max_at);
	(void)over;
	return 0;
}
