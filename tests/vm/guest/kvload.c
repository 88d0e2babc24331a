// SPDX-License-Identifier: MIT
/*
 * kvload: a memcached text-protocol client for the VM's luo-programs
 * scenario, static so that the guest needs no library for it.
 *
 *   kvload set PORT MIB    store MIB MiB of items: key k<i>, VALUE_SIZE
 *                          bytes each, every byte a function of i and its
 *                          offset, so that a check needs nothing kept;
 *                          all but a batch's last set with noreply
 *   kvload check PORT MIB  get every one back over a new connection and
 *                          compare byte for byte
 *
 * Requests go BATCH at a time.  Prints one JSON line: {"items":N,"bytes":B,"ok":N,"missing":N,"bad":N,"ms":T}.
 * Exit 0 when every item was stored or came back equal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 4000

static int sock;
static char inbuf[1 << 16];
static size_t in_len, in_off;

static void die(const char *what)
{
	fprintf(stderr, "kvload: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void send_all(const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(sock, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send");
		p += n;
		len -= (size_t)n;
	}
}

static int getbyte(void)
{
	if (in_off == in_len) {
		ssize_t n;

		do
			n = recv(sock, inbuf, sizeof(inbuf), 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			die("recv");
		in_len = (size_t)n;
		in_off = 0;
	}
	return (unsigned char)inbuf[in_off++];
}

static void read_line(char *buf, size_t len)
{
	size_t n = 0;
	int c;

	while ((c = getbyte()) != '\n')
		if (n + 1 < len)
			buf[n++] = (char)c;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
}

static void value_of(uint32_t i, unsigned char *v)
{
	uint32_t x = i * 2654435761u + 1;

	for (size_t k = 0; k < VALUE_SIZE; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[k] = (unsigned char)x;
	}
}

/* A batch of requests goes in one send, and its answers are read after:
 * under TCG a round trip an item would take minutes for 64 MiB. */
#define BATCH 32

static unsigned char msg[BATCH * (VALUE_SIZE + 64)];

static void set_batch(uint32_t first, uint32_t n, unsigned long *ok, unsigned long *bad)
{
	static unsigned char v[VALUE_SIZE];
	size_t len = 0;
	char line[256];

	/* All but the last with noreply: one answer a batch, so that the
	 * server's answers are not held back by Nagle one by one. */
	for (uint32_t i = first; i < first + n; i++) {
		value_of(i, v);
		len += (size_t)sprintf((char *)msg + len, "set k%u 0 0 %d%s\r\n", i, VALUE_SIZE,
				       i + 1 < first + n ? " noreply" : "");
		memcpy(msg + len, v, VALUE_SIZE);
		memcpy(msg + len + VALUE_SIZE, "\r\n", 2);
		len += VALUE_SIZE + 2;
	}
	send_all((const char *)msg, len);
	/* The server answers in order: the batch's last item stored means the
	 * ones before it were taken (check reads every one back). */
	read_line(line, sizeof(line));
	if (!strcmp(line, "STORED"))
		*ok += n;
	else
		*bad += n;
}

/* One get for the batch; the answer lists the items found, in order. */
static void check_batch(uint32_t first, uint32_t n, unsigned long *ok,
			unsigned long *bad, unsigned long *missing)
{
	static unsigned char want[VALUE_SIZE], got[VALUE_SIZE + 2];
	size_t len = (size_t)sprintf((char *)msg, "get");
	unsigned long found = 0;
	char line[256];
	unsigned k;
	int size;

	for (uint32_t i = first; i < first + n; i++)
		len += (size_t)sprintf((char *)msg + len, " k%u", i);
	len += (size_t)sprintf((char *)msg + len, "\r\n");
	send_all((const char *)msg, len);
	for (;;) {
		read_line(line, sizeof(line));
		if (!strcmp(line, "END"))
			break;
		if (sscanf(line, "VALUE k%u 0 %d", &k, &size) != 2 || size != VALUE_SIZE ||
		    k < first || k >= first + n) {
			fprintf(stderr, "kvload: unexpected: %s\n", line);
			exit(2);
		}
		for (size_t b = 0; b < VALUE_SIZE + 2; b++)
			got[b] = (unsigned char)getbyte();
		value_of(k, want);
		found++;
		if (!memcmp(got, want, VALUE_SIZE))
			(*ok)++;
		else
			(*bad)++;
	}
	*missing += n - found;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long ok = 0, missing = 0, bad = 0, n;
	struct timespec t0, t1;
	bool set;

	if (argc != 4 || (strcmp(argv[1], "set") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: kvload set|check PORT MIB\n");
		return 2;
	}
	set = !strcmp(argv[1], "set");
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* At least MIB MiB of values. */
	n = (strtoul(argv[3], NULL, 10) * (1ul << 20) + VALUE_SIZE - 1) / VALUE_SIZE;
	sock = socket(AF_INET, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	/* One send a batch: nothing for Nagle to hold back. */
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < n; i += BATCH) {
		uint32_t b = n - i < BATCH ? (uint32_t)(n - i) : BATCH;

		if (set)
			set_batch(i, b, &ok, &bad);
		else
			check_batch(i, b, &ok, &bad, &missing);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"items\":%lu,\"bytes\":%lu,\"ok\":%lu,\"missing\":%lu,\"bad\":%lu,\"ms\":%ld}\n",
	       n, n * VALUE_SIZE, ok, missing, bad,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return ok == n ? 0 : 1;
}
