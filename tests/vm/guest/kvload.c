// SPDX-License-Identifier: MIT
/*
 * kvload: a memcached text-protocol client for the VM's luo-programs
 * scenario, static so that the guest needs no library for it.
 *
 *   kvload set PORT MIB    store MIB MiB of items: key k<i>, VALUE_SIZE
 *                          bytes each, every byte a function of i and its
 *                          offset, so that a check needs nothing kept
 *   kvload check PORT MIB  get every one back over a new connection and
 *                          compare byte for byte
 *
 * Prints one JSON line: {"items":N,"bytes":B,"ok":N,"missing":N,"bad":N,"ms":T}.
 * Exit 0 when every item was stored or came back equal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static unsigned char want[VALUE_SIZE], got[VALUE_SIZE + 2], msg[VALUE_SIZE + 64];
	unsigned long ok = 0, missing = 0, bad = 0, n;
	struct timespec t0, t1;
	bool set;
	char line[256];

	if (argc != 4 || (strcmp(argv[1], "set") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: kvload set|check PORT MIB\n");
		return 2;
	}
	set = !strcmp(argv[1], "set");
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = strtoul(argv[3], NULL, 10) * (1ul << 20) / VALUE_SIZE;
	sock = socket(AF_INET, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < n; i++) {
		int len;

		value_of(i, want);
		if (set) {
			/* One send a request: Nagle would hold a second. */
			len = snprintf((char *)msg, sizeof(msg), "set k%u 0 0 %d\r\n", i,
				       VALUE_SIZE);
			memcpy(msg + len, want, VALUE_SIZE);
			memcpy(msg + len + VALUE_SIZE, "\r\n", 2);
			send_all((const char *)msg, (size_t)len + VALUE_SIZE + 2);
			read_line(line, sizeof(line));
			if (!strcmp(line, "STORED"))
				ok++;
			else
				bad++;
			continue;
		}
		len = snprintf(line, sizeof(line), "get k%u\r\n", i);
		send_all(line, (size_t)len);
		read_line(line, sizeof(line));
		if (!strcmp(line, "END")) {
			missing++;
			continue;
		}
		char expect[64];

		snprintf(expect, sizeof(expect), "VALUE k%u 0 %d", i, VALUE_SIZE);
		if (strcmp(line, expect)) {
			fprintf(stderr, "kvload: k%u: %s\n", i, line);
			exit(2);
		}
		for (size_t k = 0; k < VALUE_SIZE + 2; k++)
			got[k] = (unsigned char)getbyte();
		read_line(line, sizeof(line));
		if (!memcmp(got, want, VALUE_SIZE) && strcmp(line, "END") == 0)
			ok++;
		else
			bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"items\":%lu,\"bytes\":%lu,\"ok\":%lu,\"missing\":%lu,\"bad\":%lu,\"ms\":%ld}\n",
	       n, n * VALUE_SIZE, ok, missing, bad,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return ok == n ? 0 : 1;
}
