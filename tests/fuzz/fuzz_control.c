// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the control socket's server (lib/host/control.c)
 * as a program runs it: a host made in this process listens on a real
 * Unix socket, and each input is one client's connection, its bytes sent
 * in chunks, some with fds (SCM_RIGHTS), the host's loop dispatched
 * (baton_host_dispatch(), zero timeout) until the server answers and
 * closes, or closes without a word.  What the server promises a client
 * (docs/control-protocol.md) is checked:
 *
 *  - at most one answer, one line, a JSON object with "error",
 *    "outcome" or "state"; then the connection is closed.  A request that
 *    ends in a newline is answered; one cut short (the client half-closes
 *    first) is not; 64 KiB without a newline is "request too long";
 *  - every fd sent with a request is closed: the harness is the server's
 *    process too, so the fd count after the input is the one before;
 *  - nothing is left of the connection or its update: no update running,
 *    no reply fd kept for the next version (BATON_TOKEN_REPLY).
 *
 * Updates: the input can ask for one, naming any target.  Nothing may be
 * forked or exec'd from the fuzzer, so the program refuses every update
 * in its prepare hook (struct baton_host_opts), as a real program may:
 * baton_update_start() runs the preflight (the target's contracts read
 * from its ELF file, every device planned against them) and then
 * PREPARE, which fails, so the update is "refused" before the dry run
 * forks (a dry_run request too: it goes as far as the dry run).  So
 * the whole request path runs for real - the parse, the options, the
 * reply fd kept and dropped, the preflight's file reading and the plan,
 * the answer with its decisions - and stops exactly where a process would
 * be started.  fork() and execve() are replaced in this binary by ones
 * that abort, so that a path around the hook would be a crash, not a
 * process.  (Stopping below the update, at the JSON parse, would leave
 * out the preflight, which reads a file a client names.)  The seeds name
 * /proc/self/exe, this binary, which declares the driver of the host's
 * device, and files that are not ELF.
 *
 * Input: records, each
 *
 *     ctl (1 byte), len (2 bytes, little endian), len bytes
 *
 * (fewer if the input ends first), each one sendmsg on the connection.
 * ctl & 3 picks the fds sent with it: none, a pipe's read end, three
 * (a memfd, an eventfd, a socket), or 20 (more than the server's control
 * buffer holds: the kernel must drop the rest, not the server leak them).
 * ctl & 0x10: the host's loop runs after the record (else the bytes pile
 * up); 0x20: before it, another client connects and hangs up at once;
 * 0x40: after it, 16 KiB of spaces follow (no newline), so that the 64 KiB
 * limit is reached from inputs of libFuzzer's max_len.  After the last
 * record, and the loop run, the client half-closes, and the loop runs until the server has
 * closed the connection, at most MAX_ROUNDS rounds (a hang is a crash).
 *
 * Seeds: tests/fuzz/corpus-control/ (tests/fuzz/gen_corpora.py).
 */
#define _GNU_SOURCE
#define FUZZ_NAME "fuzz_control"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/driver.h>
#include <baton/host.h>

#include "host/host-internal.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUNDS 10000
#define ANSWER_MAX (1u << 20)
#define PAD_LEN (16u << 10)

/* A device for the status and the plan to talk about. */
BATON_SCHEMA(fuzz_state_v1, "fuzz-control-state", 1,
	BATON_FIELD(u64, counter));

BATON_DRIVER(fuzz_driver, "fuzz-control", 0, NULL,
	BATON_MATCH_DEVICE(0x1234, 0xf022),
	BATON_ACCEPT(fuzz_state_v1));

static struct baton_host *host;
static char dir[PATH_MAX], sock_path[PATH_MAX];
static char *answer;

/* Nothing in this process may start one: see the top of this file. */
pid_t fork(void)
{
	die("fork() called: an update went past its prepare hook");
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	(void)argv;
	(void)envp;
	die("execve(%s) called", path);
}

static int refuse_update(struct baton_host *h, void *arg)
{
	(void)h;
	(void)arg;
	return -EIO;
}

static void teardown(void)
{
	baton_host_destroy(host);
	host = NULL;
	unlink(sock_path);
	rmdir(dir);
	free(answer);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *const args[] = { "fuzz_control", NULL };
	const struct baton_host_opts opts = {
		.program = "fuzz-control v1",
		.argv = args,
		.prepare = refuse_update,
	};
	const struct baton_device_info info = {
		.addr = { 0, 0, 0x10, 0 },
		.ids = { 0x1234, 0xf022, 0, 0, 0 },
		.mandatory = true,
	};
	const char *tmp = getenv("TMPDIR");
	struct baton_region *region;
	struct baton_device *dev;
	int err;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz_control.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
	answer = malloc(ANSWER_MAX + 1);
	err = answer ? baton_host_create(&opts, &host) : -ENOMEM;
	if (!err)
		err = baton_host_listen(host, sock_path);
	if (!err)
		err = baton_host_region(host, "data", 4096, &region);
	if (!err)
		err = baton_host_add_device(host, &info, &dev);
	if (!err)
		err = baton_host_preserve_fd(host, 7, eventfd(0, EFD_CLOEXEC),
					     BATON_FD_EVENTFD);
	if (err)
		die("setup: %s", baton_strerror(err));
	atexit(teardown);
	return 0;
}

/* ---- The client ---- */

struct client {
	int sock;
	size_t len;		/* of the answer so far */
	bool eof;		/* the server closed */
};

/* Read what the server wrote; whether anything (or EOF) came. */
static bool drain(struct client *c)
{
	bool any = false;

	while (!c->eof) {
		ssize_t n = recv(c->sock, answer + c->len, ANSWER_MAX - c->len,
				 MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			break;
		/*
		 * A server that closes with bytes of ours unread resets the
		 * connection, after what it wrote has been read: the close.
		 */
		if (n < 0 && errno != ECONNRESET)
			die("recv: %s", strerror(errno));
		any = true;
		if (n <= 0) {
			c->eof = true;
			break;
		}
		c->len += (size_t)n;
		if (c->len == ANSWER_MAX)
			die("an answer of %u bytes or more", ANSWER_MAX);
	}
	return any;
}

/*
 * Run the host's loop until the client gets nothing more.  Everything is
 * in this process, so what the server can do is ready at once; a few
 * rounds more let a step that makes another (an accept, then the read)
 * run.
 */
static void settle(struct client *c)
{
	for (int round = 0, quiet = 0; round < MAX_ROUNDS; round++) {
		baton_host_dispatch(host);
		quiet = c && drain(c) ? 0 : quiet + 1;
		if (quiet > 3)
			return;
	}
	die("the server did not settle in %d rounds", MAX_ROUNDS);
}

static int make_fd(int kind)
{
	int fd = -1, sv[2];

	switch (kind) {
	case 0:
		fd = memfd_create("fuzz-control", MFD_CLOEXEC);
		break;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case 2:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			break;
		close(sv[1]);
		fd = sv[0];
		break;
	}
	if (fd < 0)
		die("fd kind %d: %s", kind, strerror(errno));
	return fd;
}

/* The fds a record carries: made, sent, closed here (the server's are copies). */
static int record_fds(unsigned int ctl, int *fds)
{
	int p[2];

	switch (ctl & 3) {
	case 1:
		if (pipe2(p, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		close(p[1]);
		fds[0] = p[0];
		return 1;
	case 2:
		for (int i = 0; i < 3; i++)
			fds[i] = make_fd(i);
		return 3;
	case 3:
		fds[0] = make_fd(1);
		for (int i = 1; i < 20; i++)
			fds[i] = fds[0];
		return 20;
	}
	return 0;
}

static void client_send(struct client *c, const uint8_t *p, size_t len,
			const int *fds, int nfds)
{
	while (len && !c->eof) {
		ssize_t n = fuzz_sendmsg(c->sock, p, len, fds, (size_t)nfds, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			settle(c);	/* full: let the server read */
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;		/* it answered and closed */
		if (n < 0)
			die("sendmsg: %s", strerror(errno));
		nfds = 0;	/* they went with the first byte */
		p += n;
		len -= (size_t)n;
	}
}

static int client_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect %s: %s", sock_path, strerror(errno));
	return fd;
}

/* ---- What the server owes the client ---- */

static void check_answer(const struct client *c, bool asked, bool too_long)
{
	json_object *obj;
	char *nl;

	if (!c->eof)
		die("the connection is still open");
	if (!c->len) {
		if (asked || too_long)
			die("a request%s got no answer", too_long ? " too long" : "");
		return;
	}
	answer[c->len] = '\0';
	nl = memchr(answer, '\n', c->len);
	if (!nl || nl != answer + c->len - 1)
		die("the answer is not one line: %s", answer);
	*nl = '\0';
	obj = json_tokener_parse(answer);
	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !(json_object_object_get_ex(obj, "error", NULL) ||
	      json_object_object_get_ex(obj, "outcome", NULL) ||
	      json_object_object_get_ex(obj, "state", NULL)))
		die("not an answer: %s", answer);
	if (too_long && !asked && !strstr(answer, "request too long"))
		die("64 KiB without a newline answered %s", answer);
	json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char pad[PAD_LEN];
	int fds = fuzz_count_fds(0);
	struct client c = { .sock = client_connect() };
	size_t off = 0, sent = 0;
	bool asked = false;

	if (!pad[0])
		memset(pad, ' ', sizeof(pad));
	while (off + 3 <= size && !c.eof) {
		unsigned int ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		int rfds[20], n;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (ctl & 0x20)
			close(client_connect());
		n = record_fds(ctl, rfds);
		/* Bytes within the 64 KiB the server reads: a newline asks. */
		if (sent < (64u << 10) &&
		    memchr(data + off, '\n', len < (64u << 10) - sent ? len : (64u << 10) - sent))
			asked = true;
		/* No bytes, no message: a stream socket sends no fds alone. */
		if (len)
			client_send(&c, data + off, len, rfds, n);
		for (int i = 0; i < n && (i == 0 || rfds[i] != rfds[0]); i++)
			close(rfds[i]);
		sent += len;
		off += len;
		if (ctl & 0x40) {
			client_send(&c, (const uint8_t *)pad, sizeof(pad), NULL, 0);
			sent += sizeof(pad);
		}
		if (ctl & 0x10)
			settle(&c);
	}
	/*
	 * The server sees all of it before the client half-closes: a client
	 * that hangs up before its update is handled is not served
	 * (handle_update()), and a half-close looks the same to the server.
	 */
	settle(&c);
	shutdown(c.sock, SHUT_WR);
	for (int round = 0; !c.eof; round++) {
		if (round == MAX_ROUNDS)
			die("the connection is still open after %d rounds", MAX_ROUNDS);
		baton_host_dispatch(host);
		drain(&c);
	}
	close(c.sock);
	/* The clients that hung up at once: the server sees them go. */
	settle(NULL);
	check_answer(&c, asked, sent >= (64u << 10));

	if (host->update)
		die("an update is still running");
	if (baton_host_kept_fd(host, BATON_TOKEN_REPLY) >= 0)
		die("the update's reply fd is still kept");
	if (fuzz_count_fds(0) != fds)
		die("%d fds open after the input, %d before", fuzz_count_fds(1), fds);
	return 0;
}
