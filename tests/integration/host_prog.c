// SPDX-License-Identifier: MIT
/*
 * A program that lives through updates: built as host-prog-v1 and
 * host-prog-v2 (HOST_PROG_VERSION).  It keeps a 1 MiB region with a
 * pattern, a pipe with unread bytes, an eventfd with a count, a mandatory
 * "counter" device and an optional "scratch" device.  v2 renames the
 * counter's driver to "tally", writes counter-state v2 and reads v1 through
 * a converter; v2 has no driver for scratch.
 *
 *   host-prog-vN [--update-to BINARY [--at-generation N] [--force]]
 *                [--fail preserve|freeze|close|close-early|reuse|reuse-early|
 *                        reuse-inheritable|reuse-region|close-linger]
 *                [--control PATH] [--close-after-finish] [--no-dry-run]
 *                [-- ARGS FOR BINARY]
 *
 * With --control, it serves its control socket until killed: updates then
 * come from `baton update` (tests/integration/test_control.sh).
 *   HOST_PROG_FAIL_RESTORE=1: the v2 driver refuses to restore
 *   HOST_PROG_FAIL_RESTORE_COMPLETE=1: the v2 driver's restore() takes
 *     the device, its restore_complete() then fails
 *   HOST_PROG_FAIL_VALIDATE=1: the v2 driver's validator rejects every state
 *   HOST_PROG_SLOW_VALIDATE_MS=N: the v2 driver's validator takes N ms
 *   HOST_PROG_DRY_RUN_REFUSE=1: v2's dry-run hook refuses, naming each
 *     region of the image it was given, with its size
 *   HOST_PROG_OWN=fail|kill|hang: v2's own restore work fails (it rolls
 *     back), dies or never ends
 *   HOST_PROG_KILL_RESTORE=1, HOST_PROG_HANG_RESTORE=1: the v2 driver dies
 *     (SIGKILL) or never returns in restore
 *   HOST_PROG_DROP_FD=1: v2, started by an update, drops the
 *     last fd number from BATON_FDS before Baton reads it, as a buggy or
 *     hostile previous version would hand over one fd short
 *   HOST_PROG_EXIT_EARLY=1, HOST_PROG_HOSTILE=1: v2, started by a socket-
 *     mode update, exits 3 before it has planned, or says something else
 *     than that it has, with an fd (HOST_PROG_HOSTILE=E: that it failed);
 *     HOST_PROG_HANG_EARLY=1: it never gets that far
 *   HOST_PROG_HOLD_EXIT=FIFO: v2, its start failed, waits for a line (or
 *     end of file) on FIFO before it exits, as a slow exit would, and
 *     then says "exit-released"
 *   HOST_PROG_HOLD_LOOP=FIFO: v2 with --control, once it listens, waits
 *     for a line (or end of file) on FIFO before its loop turns
 *   HOST_PROG_RESIDENT_MIB=N: v1 keeps N MiB of anonymous memory, every
 *     page written, which an exec-mode update leaves to baton-mm to free
 *   HOST_PROG_STARTED=PATH: v2, started by a socket-mode update, writes
 *     "started" to PATH first thing
 *   --fail close: the counter's freeze() closes the "extra" session's
 *     eventfd, preserved, as a buggy driver would after the preflight
 *   --fail reuse: the same, and /dev/null opened at its number, as the
 *     next open() of that program would have it (not another eventfd:
 *     all eventfds share one inode, which fstat() cannot tell apart);
 *     --fail reuse-early: the same at the first preserve(), before the
 *     dry run; --fail close-early: the eventfd closed there (nothing
 *     opened at its number); --fail reuse-inheritable: /dev/null opened
 *     there without close-on-exec, at freeze(); --fail reuse-region:
 *     /dev/null opened at the number of the "data" region's memfd, at
 *     freeze(); --fail close-linger: the counter's freeze() closes the
 *     marked epoll at 950 (--close-after-finish), as a program may
 *   v1 keeps that eventfd at 900; every start reports what 900 is just
 *     before baton_host_take_over() ("orig_before") and after ("orig"):
 *     "closed", "eventfd", "other", "-inheritable" after either without
 *     close-on-exec.  HOST_PROG_ORIG_INHERIT=1: v1 makes it without
 *     close-on-exec; HOST_PROG_TAKE_ORIG=1: a restored version opens
 *     /dev/null at 900 if it is free, before baton_host_take_over()
 *   HOST_PROG_PEER=1: v1 opens a pipe, preserves its read end and keeps
 *     its write end (close-on-exec) for itself, a connection it does not
 *     hand over; a restored version reports whether the read end is at
 *     end of file before baton_host_take_over() ("peer": "eof", "open",
 *     "" without): in exec mode no process may hold the write end by then
 *     - the keeper closed its copy before FREEZE (lib/host/keeper.c)
 *   --mode socket: a socket-mode update (a new process);
 *   --timeout-ms N: its deadline; --extra-fds N: N more eventfds preserved,
 *     to cross the kernel's limit of fds in one SCM_RIGHTS message
 *   --orphan-reset: devices the target cannot take are reset, not
 *     quarantined
 *   --hotplug: after starting or restoring, add a second counter device,
 *     which no image holds: it is probed cold
 *   --remove-devices: after starting, remove scratch, then counter, and
 *     report after each: the shared regions go with their last user
 *   HOST_PROG_CHECK_MM=1: before taking over, see whether the exec-mode
 *     update's baton-mm still holds the old address space ("mm_held")
 *   --close-after-finish: an epoll fd at 950 (two fds registered in it),
 *     marked with baton_host_close_after_finish(); every start reports
 *     what 950 is just before baton_host_take_over() ("linger_before")
 *     and after ("linger"): "closed", "epoll", "epoll-inheritable" (no
 *     close-on-exec) or "other", and the cold start what marking a closed
 *     fd and a preserved one answered ("linger_errors")
 *   --no-dry-run: the update skips its dry run
 *   --dry-run: the update stops before its commit ("dry-run" when it
 *     would have gone ahead, else "update-failed")
 *   HOST_PROG_EXTRA_KIND=KIND: the "extra" session's eventfd is recorded
 *     as that fd kind (vfio-group, iommufd), as a VFIO device's would be:
 *     the dry run then wants the target's VFIO backend.  Built as
 *     host-prog-v2-novfio, v2 is linked with a libbaton without it.
 *
 * Both devices use the shared region "pool"; the counter alone uses
 * "counter-dma" (baton_device_region(), the kernel's FLB).  A session
 * "extra" holds one more eventfd, holding 7, under the same token as the
 * default session's.
 *
 * It updates only at generation N (default 0, a cold start), and not when
 * it came back after a failed update, so that a version that comes back,
 * with the same arguments, does not try again.
 *
 * Every start prints one JSON line saying what it found; the tests check
 * those lines (tests/integration/test_host.sh).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <baton/host.h>

/* The counter's state as restored said it was frozen: it came from the
 * FREEZE image (1), not the PREPARE one (0); -1 not restored. */
static int restored_frozen = -1;

/* HOST_PROG_CHECK_MM: 1 held, 0 gone, -1 no holder (or not asked). */
static int mm_held = -1;

#define PIPE_BYTES "unread bytes\n"
#define REGION_SIZE (1u << 20)
#define POOL_SIZE (64u << 10)
#define COUNTER_DMA_SIZE 4096u
#define TOKEN_PIPE_R 1
#define TOKEN_PIPE_W 2
#define TOKEN_EVENTFD 3
#define TOKEN_PEER_R 4
#define TOKEN_EXTRA 1000	/* + i: the i-th extra eventfd, holding i + 1 */

static const char *fail_op;

/* --close-after-finish: the epoll's number, and what start() saw. */
#define LINGER_FD 950
static bool linger;
static const char *linger_before = "", *linger_errors = "";
static const char *peer = "";
/* Where v1 keeps the "extra" session's eventfd, and what it was in this
 * process just before baton_host_take_over(). */
#define ORIG_FD 900
static const char *orig_before = "";
/* How BATON_FDS came, as execve() passed it: "runs" (a FIRST-LAST in
 * it), "numbers", or "" (not set). */
static const char *fds_listed = "";

/* HOST_PROG_EXTRA_KIND, or eventfd. */
static enum baton_fd_kind extra_kind(void)
{
	const char *want = getenv("HOST_PROG_EXTRA_KIND"), *name;

	for (int k = 0; want && (name = baton_fd_kind_name(k)); k++)
		if (!strcmp(want, name))
			return k;
	return BATON_FD_EVENTFD;
}

BATON_SCHEMA(counter_state_v1, "counter-state", 1,
	BATON_FIELD(u64, count),
	BATON_FIELD(u32, frozen));

BATON_SCHEMA(counter_state_v2, "counter-state", 2,
	BATON_FIELD(u64, count),
	BATON_FIELD(u32, frozen),
	BATON_FIELD(u32, converted));

BATON_SCHEMA(scratch_state_v1, "scratch-state", 1,
	BATON_FIELD(u32, word));

#if HOST_PROG_VERSION == 1
typedef struct counter_state_v1 counter_state;
#else
typedef struct counter_state_v2 counter_state;
#endif

/* The "extra" session's eventfd, which --fail close|reuse closes at
 * freeze(), and the "data" region's memfd (--fail reuse-region). */
static int extra_fd = -1, data_fd = -1;

static int fail_if(const char *op)
{
	return fail_op && !strcmp(fail_op, op) ? -EIO : 0;
}

static int counter_probe(struct baton_device *dev)
{
	counter_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->count = 100;
	baton_device_set_priv(dev, s);
	return 0;
}

/* @fd closed and /dev/null opened at its number (with @flags: O_CLOEXEC
 * or 0), in one step, as the program's next open() would have it. */
static int reuse_fd(int fd, int flags)
{
	int other = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (other < 0 || dup3(other, fd, flags) < 0)
		return -errno;
	close(other);
	return 0;
}

static int counter_preserve(struct baton_device *dev, void *state, size_t size)
{
	if (size != sizeof(counter_state))
		return -EINVAL;
	memcpy(state, baton_device_priv(dev), size);
	if (fail_if("reuse-early") && reuse_fd(extra_fd, O_CLOEXEC))
		return -errno;
	if (fail_if("close-early") && extra_fd >= 0) {
		close(extra_fd);
		extra_fd = -1;
	}
	return fail_if("preserve");
}

static int counter_freeze(struct baton_device *dev)
{
	counter_state *s = baton_device_priv(dev);

	if (fail_if("freeze"))
		return -EIO;
	if (fail_if("close") && extra_fd >= 0) {
		close(extra_fd);
		extra_fd = -1;
	}
	if (fail_if("reuse") && reuse_fd(extra_fd, O_CLOEXEC))
		return -errno;
	if (fail_if("reuse-inheritable") && reuse_fd(extra_fd, 0))
		return -errno;
	if (fail_if("reuse-region") && reuse_fd(data_fd, O_CLOEXEC))
		return -errno;
	if (fail_if("close-linger"))
		close(LINGER_FD);
	s->frozen = 1;
	return 0;
}

static void counter_unfreeze(struct baton_device *dev)
{
	counter_state *s = baton_device_priv(dev);

	s->frozen = 0;
}

static int counter_restore(struct baton_device *dev, const void *state, size_t size)
{
	counter_state *s;

	if (HOST_PROG_VERSION == 2 && getenv("HOST_PROG_FAIL_RESTORE"))
		return -EIO;
	if (HOST_PROG_VERSION == 2 && getenv("HOST_PROG_KILL_RESTORE"))
		raise(SIGKILL);
	if (HOST_PROG_VERSION == 2 && getenv("HOST_PROG_HANG_RESTORE"))
		for (;;)
			pause();	/* a driver stuck for good, on purpose */
	if (size != sizeof(*s))
		return -EINVAL;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, state, size);
	restored_frozen = (int)s->frozen;
	baton_device_set_priv(dev, s);
	return 0;
}

static int counter_restore_complete(struct baton_device *dev)
{
	(void)dev;
	return HOST_PROG_VERSION == 2 && getenv("HOST_PROG_FAIL_RESTORE_COMPLETE") ? -EIO : 0;
}

static int counter_validate(const void *state, size_t size)
{
	const char *slow = getenv("HOST_PROG_SLOW_VALIDATE_MS");

	if (HOST_PROG_VERSION == 2 && getenv("HOST_PROG_FAIL_VALIDATE"))
		return -BATON_ERR_BADVALUE;
	if (HOST_PROG_VERSION == 2 && slow)
		poll(NULL, 0, atoi(slow));	/* a validator that takes its time */
	return size == sizeof(counter_state) ? 0 : -EINVAL;
	(void)state;
}

static void counter_finish(struct baton_device *dev)
{
	counter_state *s = baton_device_priv(dev);

	s->frozen = 0;
}

static void counter_remove(struct baton_device *dev)
{
	free(baton_device_priv(dev));
	baton_device_set_priv(dev, NULL);
}

static const struct baton_driver_ops counter_ops = {
	.probe = counter_probe,
	.preserve = counter_preserve,
	.freeze = counter_freeze,
	.unfreeze = counter_unfreeze,
	.restore = counter_restore,
	.validate = counter_validate,
	.finish = counter_finish,
	.remove = counter_remove,
	.restore_complete = counter_restore_complete,
};

#if HOST_PROG_VERSION == 1
BATON_DRIVER(counter_driver, "counter", 0, &counter_ops,
	BATON_MATCH_DEVICE(0x1234, 0xc0de),
	BATON_ACCEPT(counter_state_v1));

static const struct baton_driver_ops scratch_ops = { 0 };

BATON_DRIVER(scratch_driver, "scratch", 0, &scratch_ops,
	BATON_MATCH_DEVICE(0x1234, 0x5c4a),
	BATON_ACCEPT(scratch_state_v1));
#else
int counter_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len);

int counter_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len)
{
	const struct counter_state_v1 *v1 = from;
	struct counter_state_v2 *v2 = to;

	if (from_len != sizeof(*v1) || to_len != sizeof(*v2))
		return -EINVAL;
	v2->count = v1->count;
	v2->frozen = v1->frozen;
	v2->converted = 1;
	return 0;
}

BATON_DRIVER(tally_driver, "tally", 0, &counter_ops,
	BATON_MATCH_DEVICE(0x1234, 0xc0de),
	BATON_ACCEPT(counter_state_v2),
	BATON_ACCEPT_CONVERTED(counter_state_v1, counter_state_v2, counter_v1_to_v2));
#endif

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = -1;	/* the directory's own fd */

	while (d && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static bool region_ok(const struct baton_region *r)
{
	const uint8_t *p = baton_region_base(r);

	for (size_t i = 0; i < baton_region_size(r); i += 4093)
		if (p[i] != (uint8_t)(i * 31))
			return false;
	return true;
}

/* A shared region's users, or -1 when it is gone; -2 when its bytes are not
 * what setup() wrote. */
static int shared_users(struct baton_host *host, const char *label)
{
	const struct baton_region *r = baton_host_find_region(host, label);

	if (!r)
		return -1;
	return region_ok(r) ? (int)baton_region_users(r) : -2;
}

/* How many extra eventfds this process holds, each with its count intact. */
static int extra_fds_ok(struct baton_host *host)
{
	int n = 0;

	for (;; n++) {
		int fd = baton_host_take_fd(host, TOKEN_EXTRA + (uint64_t)n);
		uint64_t v;

		if (fd < 0)
			return n;
		if (read(fd, &v, sizeof(v)) != sizeof(v) || v != (uint64_t)n + 1 ||
		    write(fd, &v, sizeof(v)) != sizeof(v))
			return -1;
	}
}

static const struct baton_pci_addr counter_addr = { 0, 0, 0x10, 0 };
static const struct baton_pci_addr scratch_addr = { 0, 0, 0x11, 0 };
static const struct baton_pci_addr hotplug_addr = { 0, 0, 0x12, 0 };

/* The count of the counter-driven device at @addr, or -1 when absent. */
static long long device_count(struct baton_host *host,
			      const struct baton_pci_addr *addr)
{
	struct baton_device *dev = baton_host_device(host, addr);
	counter_state *s = dev ? baton_device_priv(dev) : NULL;

	return s ? (long long)s->count : -1;
}

enum fd_kind { KIND_EPOLL, KIND_EVENTFD, KIND_OTHER };

/* What @fd is now: "closed", or its kind, "-inheritable" after it
 * without close-on-exec; "other" when it is not an fd of @kind. */
static const char *fd_state(int fd, enum fd_kind kind)
{
	static const char *const links[] = { "anon_inode:[eventpoll]", "anon_inode:[eventfd]" };
	static const char *const states[][2] = {
		{ "epoll", "epoll-inheritable" },
		{ "eventfd", "eventfd-inheritable" },
		{ "other", "other-inheritable" },
	};
	char path[32], link[64];
	int flags = fcntl(fd, F_GETFD);
	ssize_t n;

	if (flags < 0)
		return "closed";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (strcmp(link, links[kind]))
		kind = KIND_OTHER;
	return states[kind][!(flags & FD_CLOEXEC)];
}

static const char *linger_state(void)
{
	return fd_state(LINGER_FD, KIND_EPOLL);
}

static const char *orig_state(void)
{
	return fd_state(ORIG_FD, KIND_EVENTFD);
}

/* An epoll at LINGER_FD watching two of the program's fds, marked. */
static int linger_setup(struct baton_host *host, int watch1, int watch2)
{
	static char errors[128];
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), fd;

	if (ep < 0 || (fd = fcntl(ep, F_DUPFD_CLOEXEC, LINGER_FD)) != LINGER_FD)
		return -1;
	close(ep);
	if (epoll_ctl(fd, EPOLL_CTL_ADD, watch1, &ev) ||
	    epoll_ctl(fd, EPOLL_CTL_ADD, watch2, &ev) ||
	    baton_host_close_after_finish(host, fd))
		return -1;
	snprintf(errors, sizeof(errors), "%s|%s",
		 baton_strerror(baton_host_close_after_finish(host, LINGER_FD + 1)),
		 baton_strerror(baton_host_close_after_finish(host, watch1)));
	linger_errors = errors;
	return 0;
}

/* One JSON line on what this process holds. */
/* @s as the inside of a JSON string: it has only printable ASCII. */
/*
 * The main thread's clear_child_tid, libc's (pthread_join() waits on it)
 * at the start: an exec-mode update points it at its holder's word just
 * before execve() (lib/host/mm.c), and must put it back when the exec
 * fails.  "same", "changed", or "unknown" (no PR_GET_TID_ADDRESS).
 */
static int *tid_address_at_start;
static bool tid_address_known;

static const char *tid_address_state(void)
{
	int *now = NULL;	/* valgrind does not know prctl() wrote it */

	if (!tid_address_known || prctl(PR_GET_TID_ADDRESS, &now, 0, 0, 0))
		return "unknown";
	return now == tid_address_at_start ? "same" : "changed";
}

/*
 * The scheduling policy of the thread that ran the update: socket mode
 * makes it SCHED_BATCH while it waits for the new process's answer
 * (lib/host/socket.c), and the keeper makes itself SCHED_BATCH
 * (lib/host/keeper.c); a program that goes on, or that the keeper starts
 * again, must run as it ran.
 */
static const char *policy_name(void)
{
	switch (sched_getscheduler(0)) {
	case SCHED_OTHER:
		return "other";
	case SCHED_BATCH:
		return "batch";
	case SCHED_IDLE:
		return "idle";
	case SCHED_FIFO:
		return "fifo";
	case SCHED_RR:
		return "rr";
	default:
		return "unknown";
	}
}

static void print_json_text(const char *s)
{
	for (; *s; s++)
		printf(*s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
}

static void report(struct baton_host *host, struct baton_region *r,
		   const char *event, int err, const char *why)
{
	const struct baton_update_result *last = baton_host_last_update(host);
	struct baton_device *counter = baton_host_device(host, &counter_addr);
	struct baton_device *scratch = baton_host_device(host, &scratch_addr);
	counter_state *s = counter ? baton_device_priv(counter) : NULL;
	int pipe_r = baton_host_take_fd(host, TOKEN_PIPE_R);
	int efd = baton_host_take_fd(host, TOKEN_EVENTFD);
	struct baton_session *extra;
	int pipe_bytes = -1;
	uint64_t events = 0, extra_events = 0;

	if (!baton_host_session(host, "extra", &extra)) {
		int fd = baton_session_take_fd(extra, TOKEN_EVENTFD);

		if (read(fd, &extra_events, sizeof(extra_events)) == sizeof(extra_events))
			(void)!write(fd, &extra_events, sizeof(extra_events));
	}

	ioctl(pipe_r, FIONREAD, &pipe_bytes);
	/* Read the count and put it back: looking must not change it. */
	if (read(efd, &events, sizeof(events)) == sizeof(events))
		(void)!write(efd, &events, sizeof(events));

	printf("{\"event\":\"%s\",\"version\":%d,\"pid\":%d,\"error\":%d,"
	       "\"restored\":%s,\"generation\":%llu,\"rolled_back\":%s,"
	       "\"region_inherited\":%s,\"region_ok\":%s,\"pipe_bytes\":%d,"
	       "\"eventfd\":%llu,\"count\":%lld,\"frozen\":%d,\"restored_frozen\":%d,\"converted\":%d,"
	       "\"scratch\":\"%s\",\"blackout_us\":%llu,\"fds\":%d,"
	       "\"extra_fds\":%d,\"pool_users\":%d,\"counter_dma_users\":%d,"
	       "\"hotplug\":%lld,\"session_eventfd\":%llu,\"mm_held\":%d,"
	       "\"linger_before\":\"%s\",\"linger\":\"%s\",\"linger_errors\":\"%s\","
	       "\"orig_before\":\"%s\",\"orig\":\"%s\",\"peer\":\"%s\","
	       "\"tid_address\":\"%s\",\"policy\":\"%s\",\"fds_listed\":\"%s\"",
	       event, HOST_PROG_VERSION, (int)getpid(), err,
	       baton_host_restored(host) ? "true" : "false",
	       (unsigned long long)baton_host_generation(host),
	       last && last->rolled_back ? "true" : "false",
	       baton_region_inherited(r) ? "true" : "false",
	       region_ok(r) ? "true" : "false", pipe_bytes,
	       (unsigned long long)events, s ? (long long)s->count : -1LL,
	       s ? (int)s->frozen : -1, restored_frozen,
#if HOST_PROG_VERSION == 2
	       s ? (int)s->converted : -1,
#else
	       -1,
#endif
	       !scratch ? "absent" : baton_device_driver(scratch) ?
	       baton_device_driver(scratch)->name : "quarantined",
	       last ? (unsigned long long)(last->blackout_ns / 1000) : 0ULL,
	       count_fds(), extra_fds_ok(host), shared_users(host, "pool"),
	       shared_users(host, "counter-dma"), device_count(host, &hotplug_addr),
	       (unsigned long long)extra_events, mm_held, linger_before,
	       linger ? linger_state() : "", linger_errors, orig_before, orig_state(), peer,
	       tid_address_state(), policy_name(), fds_listed);
	/* The error in words, and the update's reason: the tests read both. */
	printf(",\"error_text\":\"%s\",\"why\":\"", err ? baton_strerror(err) : "");
	print_json_text(why ? why : "");
	printf("\"}\n");
	fflush(stdout);
}

/* @dev uses the shared region @label; the first user fills it. */
static int use_region(struct baton_device *dev, const char *label, size_t size)
{
	struct baton_region *r;

	if (baton_device_region(dev, label, size, &r))
		return -1;
	if (baton_region_users(r) == 1)
		for (size_t i = 0; i < size; i++)
			((uint8_t *)baton_region_base(r))[i] = (uint8_t)(i * 31);
	return 0;
}

/* First start: make everything the later versions must find. */
static int setup(struct baton_host *host, struct baton_region **r, int extra)
{
	const struct baton_device_info counter = {
		.addr = counter_addr, .ids = { 0x1234, 0xc0de, 0, 0, 0xff0000 },
		.orphan = BATON_ORPHAN_QUARANTINE, .mandatory = true,
	};
	const struct baton_device_info scratch = {
		.addr = scratch_addr, .ids = { 0x1234, 0x5c4a, 0, 0, 0xff0000 },
		.orphan = BATON_ORPHAN_QUARANTINE,
	};
	struct baton_session *session;
	struct baton_device *dev;
	uint64_t five = 5;
	int p[2], efd, seven;

	if (baton_host_region(host, "data", REGION_SIZE, r))
		return -1;
	for (size_t i = 0; i < REGION_SIZE; i++)
		((uint8_t *)baton_region_base(*r))[i] = (uint8_t)(i * 31);
	if (pipe2(p, O_CLOEXEC) || write(p[1], PIPE_BYTES, strlen(PIPE_BYTES)) < 0)
		return -1;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || write(efd, &five, sizeof(five)) != sizeof(five))
		return -1;
	for (int i = 0; i < extra; i++) {
		uint64_t v = (uint64_t)i + 1;
		int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (e < 0 || write(e, &v, sizeof(v)) != sizeof(v) ||
		    baton_host_preserve_fd(host, TOKEN_EXTRA + (uint64_t)i, e,
					   BATON_FD_EVENTFD))
			return -1;
	}
	seven = extra_fd = eventfd(7, EFD_CLOEXEC | EFD_NONBLOCK);
	/* High, so that nothing opened after a close takes its number;
	 * where it fits under the limit. */
	if (seven >= 0) {
		int high = fcntl(seven, getenv("HOST_PROG_ORIG_INHERIT") ? F_DUPFD :
				 F_DUPFD_CLOEXEC, ORIG_FD);

		if (high >= 0) {
			close(seven);
			seven = extra_fd = high;
		}
	}
	if (seven < 0 || baton_host_session(host, "extra", &session) ||
	    baton_session_preserve_fd(session, TOKEN_EVENTFD, seven, extra_kind()))
		return -1;
	if (baton_host_preserve_fd(host, TOKEN_PIPE_R, p[0], BATON_FD_PIPE) ||
	    baton_host_preserve_fd(host, TOKEN_PIPE_W, p[1], BATON_FD_PIPE) ||
	    baton_host_preserve_fd(host, TOKEN_EVENTFD, efd, BATON_FD_EVENTFD))
		return -1;
	if (linger && linger_setup(host, p[0], efd))
		return -1;
	/* The write end stays ours, never closed: only an exec closes it. */
	if (getenv("HOST_PROG_PEER") &&
	    (pipe2(p, O_CLOEXEC | O_NONBLOCK) ||
	     baton_host_preserve_fd(host, TOKEN_PEER_R, p[0], BATON_FD_PIPE)))
		return -1;
	if (baton_host_add_device(host, &counter, &dev) ||
	    use_region(dev, "pool", POOL_SIZE) ||
	    use_region(dev, "counter-dma", COUNTER_DMA_SIZE) ||
	    baton_host_add_device(host, &scratch, &dev) ||
	    use_region(dev, "pool", POOL_SIZE))
		return -1;
	/* Asking again is not a second use. */
	return use_region(dev, "pool", POOL_SIZE);
}

/*
 * The program's own restore work, between baton_host_create() and
 * baton_host_take_over(): HOST_PROG_OWN=fail|kill|hang makes it fail (the
 * program gives up: baton_host_roll_back()), die or never end, in a new
 * version 2 only.
 */
static void own_restore_work(struct baton_host *host)
{
	const char *own = getenv("HOST_PROG_OWN");

	if (HOST_PROG_VERSION != 2 || !own || !baton_host_restored(host) ||
	    baton_host_last_update(host)->rolled_back)
		return;
	if (!strcmp(own, "kill"))
		raise(SIGKILL);
	if (!strcmp(own, "hang"))
		for (;;)
			pause();
	if (!strcmp(own, "fail")) {
		int err = baton_host_roll_back(host, "host-prog v2 gave up its own restore");

		printf("{\"event\":\"rolled-back-itself\",\"version\":%d,\"error\":%d}\n",
		       HOST_PROG_VERSION, err);
		exit(1);
	}
}

/* v2 given the FIFO named by @var: a line, or end of file, on it. */
static bool hold(const char *var)
{
	const char *fifo = getenv(var);
	char c;
	int fd = fifo && HOST_PROG_VERSION == 2 ? open(fifo, O_RDONLY | O_CLOEXEC) : -1;

	if (fd < 0)
		return false;
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	close(fd);
	return true;
}

/* HOST_PROG_HOLD_EXIT: held; then say so. */
static void hold_exit(void)
{
	if (hold("HOST_PROG_HOLD_EXIT"))
		printf("{\"event\":\"exit-released\",\"version\":%d}\n", HOST_PROG_VERSION);
}

/* HOST_PROG_DROP_FD: the dry run, which has no fds, is left alone. */
static void drop_last_fd(void)
{
	const char *fds = getenv("BATON_FDS");
	char *copy, *comma;

	if (!fds || getenv("BATON_DRY_RUN") || !(copy = strdup(fds)))
		return;
	comma = strrchr(copy, ',');
	*(comma ? comma : copy) = '\0';
	setenv("BATON_FDS", copy, 1);
	free(copy);
}

/*
 * Socket mode's new process, started with the update, before it has
 * planned (socket.c): HOST_PROG_EXIT_EARLY exits 3 at once,
 * HOST_PROG_HANG_EARLY never goes on; HOST_PROG_HOSTILE says something
 * other than "planned" on the handover socket, with an fd attached (=E: that
 * it failed, "no thanks"), and goes on as if it had not.
 */
static void before_ready(void)
{
	const char *fd = getenv("BATON_HANDOVER_FD");
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { "Xjunk", 5 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	if (HOST_PROG_VERSION != 2 || !fd || getenv("BATON_KEXEC"))
		return;
	if (getenv("HOST_PROG_STARTED")) {
		FILE *f = fopen(getenv("HOST_PROG_STARTED"), "w");

		if (f)
			fputs("started", f), fclose(f);
	}
	if (getenv("HOST_PROG_EXIT_EARLY"))
		exit(3);
	while (getenv("HOST_PROG_HANG_EARLY"))
		pause();
	if (!getenv("HOST_PROG_HOSTILE"))
		return;
	if (!strcmp(getenv("HOST_PROG_HOSTILE"), "E")) {
		/* Says it failed, as a plan that failed would, and goes on. */
		(void)!send(atoi(fd), "Eno thanks", 10, MSG_NOSIGNAL);
		return;
	}
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &(int){ 0 }, sizeof(int));
	(void)!sendmsg(atoi(fd), &msg, MSG_NOSIGNAL);
}

/* HOST_PROG_DRY_RUN_REFUSE: what the hook was given, as its reason. */
static int dry_run(struct baton_host *host, const struct baton_image *image,
		   void *arg)
{
	char seen[BATON_REFUSAL_MAX] = "regions:";
	size_t len = strlen(seen);

	(void)arg;
	if (HOST_PROG_VERSION != 2 || !getenv("HOST_PROG_DRY_RUN_REFUSE"))
		return 0;
	for (size_t i = 0; i < image->n_regions && len < sizeof(seen); i++)
		len += snprintf(seen + len, sizeof(seen) - len, " %s %" PRIu64,
				image->regions[i].label, image->regions[i].size);
	return baton_host_refuse(host, "%s", seen);
}

/*
 * Whether the baton-mm named by BATON_MM_HOLDER (lib/host/mm.c) is still
 * there 200 ms after this version started, before FINISH: it must hold the
 * old address space until then; one that let go at the exec has exited by
 * then.
 */
static void check_mm_holder(const char *pid)
{
	struct pollfd p = { .events = POLLIN };

	if (!*pid || !getenv("HOST_PROG_CHECK_MM"))
		return;
	p.fd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
	if (p.fd < 0)
		return;
	mm_held = poll(&p, 1, 200) == 0;
	close(p.fd);
}

/* HOST_PROG_RESIDENT_MIB: the memory v1 keeps in use until its exec. */
static int keep_resident(void)
{
	const char *mib = getenv("HOST_PROG_RESIDENT_MIB");
	size_t size;
	void *p;

	if (HOST_PROG_VERSION != 1 || !mib)
		return 0;
	size = strtoul(mib, NULL, 10) << 20;
	if (!size)
		return 0;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	memset(p, 0x5a, size);
	return 0;
}

int main(int argc, char **argv)
{
	const struct baton_host_opts opts = {
		.program = HOST_PROG_VERSION == 1 ? "host-prog v1" : "host-prog v2",
		.argv = argv,
		.dry_run = dry_run,
	};
	const char *target = NULL;
	char **target_argv = NULL;
	unsigned long at_generation = 0;
	bool force = false, no_dry_run = false, dry_run_only = false;
	const char *control = NULL;
	enum baton_update_mode mode = BATON_MODE_EXEC;
	unsigned timeout_ms = 0;
	char mm_pid[16];
	int extra = 0;
	enum baton_orphan_override orphan = BATON_OVERRIDE_NONE;
	bool remove_devices = false, hotplug = false;
	struct baton_host *host;
	struct baton_region *r;
	int err, i;

	if (getenv("BATON_FDS"))
		fds_listed = strchr(getenv("BATON_FDS"), '-') ? "runs" : "numbers";
	if (HOST_PROG_VERSION == 2 && getenv("HOST_PROG_DROP_FD"))
		drop_last_fd();
	before_ready();
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--update-to") && i + 1 < argc)
			target = argv[++i];
		else if (!strcmp(argv[i], "--at-generation") && i + 1 < argc)
			at_generation = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--fail") && i + 1 < argc)
			fail_op = argv[++i];
		else if (!strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--control") && i + 1 < argc)
			control = argv[++i];
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = !strcmp(argv[++i], "socket") ? BATON_MODE_SOCKET : BATON_MODE_EXEC;
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--extra-fds") && i + 1 < argc)
			extra = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--orphan-reset"))
			orphan = BATON_OVERRIDE_RESET;
		else if (!strcmp(argv[i], "--remove-devices"))
			remove_devices = true;
		else if (!strcmp(argv[i], "--hotplug"))
			hotplug = true;
		else if (!strcmp(argv[i], "--close-after-finish"))
			linger = true;
		else if (!strcmp(argv[i], "--no-dry-run"))
			no_dry_run = true;
		else if (!strcmp(argv[i], "--dry-run"))
			dry_run_only = true;
	}
	if (target) {
		/* The target's argv: its path, then what follows "--". */
		int rest = i < argc ? argc - i - 1 : 0;

		target_argv = calloc((size_t)rest + 2, sizeof(*target_argv));
		if (!target_argv)
			return 1;
		target_argv[0] = (char *)target;
		for (int k = 0; k < rest; k++)
			target_argv[k + 1] = argv[i + 1 + k];
	}
	if (keep_resident())
		return 1;
	tid_address_known = !prctl(PR_GET_TID_ADDRESS, &tid_address_at_start, 0, 0, 0);
	/* baton_host_create() takes it out of the environment. */
	snprintf(mm_pid, sizeof(mm_pid), "%s", getenv("BATON_MM_HOLDER") ?: "");
	err = baton_host_create(&opts, &host);
	if (err) {
		printf("{\"event\":\"create-failed\",\"version\":%d,\"error_text\":\"%s\"}\n",
		       HOST_PROG_VERSION, baton_strerror(err));
		free(target_argv);
		hold_exit();
		return 1;
	}
	if (baton_host_restored(host)) {
		if (baton_host_region(host, "data", REGION_SIZE, &r))
			return 1;
	} else if (setup(host, &r, extra)) {
		return 1;
	}
	data_fd = baton_region_fd(r);
	if (hotplug) {
		const struct baton_device_info info = {
			.addr = hotplug_addr, .ids = { 0x1234, 0xc0de, 0, 0, 0xff0000 },
			.orphan = BATON_ORPHAN_QUARANTINE,
		};
		struct baton_device *dev;

		if (baton_host_add_device(host, &info, &dev))
			return 1;
	}
	own_restore_work(host);
	check_mm_holder(mm_pid);
	if (linger)
		linger_before = linger_state();
	/* The new version's own fd at v1's number of the eventfd, which a
	 * driver closed at freeze(): the number is free after the exec. */
	if (baton_host_restored(host) && getenv("HOST_PROG_TAKE_ORIG") &&
	    fcntl(ORIG_FD, F_GETFD) < 0 && reuse_fd(ORIG_FD, O_CLOEXEC))
		return 1;
	orig_before = orig_state();
	if (baton_host_restored(host) && getenv("HOST_PROG_PEER")) {
		struct pollfd pf = { .fd = baton_host_take_fd(host, TOKEN_PEER_R) };

		peer = poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP) ? "eof" : "open";
	}
	err = baton_host_take_over(host);
	if (err) {
		printf("{\"event\":\"take-over-failed\",\"version\":%d,\"error\":%d}\n",
		       HOST_PROG_VERSION, err);
		baton_host_destroy(host);
		return 1;
	}
	report(host, r, baton_host_restored(host) ? "restored" : "started", 0,
	       baton_host_last_update(host) ? baton_host_last_update(host)->why : NULL);
	if (remove_devices) {
		baton_host_remove_device(baton_host_device(host, &scratch_addr));
		report(host, r, "removed-scratch", 0, NULL);
		baton_host_remove_device(baton_host_device(host, &counter_addr));
		printf("{\"event\":\"removed-counter\",\"fds\":%d,\"pool_users\":%d,"
		       "\"counter_dma_users\":%d}\n", count_fds(),
		       shared_users(host, "pool"), shared_users(host, "counter-dma"));
		baton_host_destroy(host);
		return 0;
	}
	/* A version that came back does not try again: it would fail again. */
	if (target && baton_host_generation(host) == at_generation &&
	    !(baton_host_last_update(host) && baton_host_last_update(host)->rolled_back)) {
		struct baton_device *counter = baton_host_device(host, &counter_addr);
		counter_state *s = baton_device_priv(counter);
		struct baton_update_report rep = { 0 };
		const struct baton_update_opts up = {
			.mode = mode, .target = target, .argv = target_argv,
			.orphan = orphan, .force = force, .timeout_ms = timeout_ms,
			.no_dry_run = no_dry_run, .dry_run = dry_run_only,
			.report = &rep };

		/* Work done since start must survive the update too. */
		s->count++;
		err = baton_host_update(host, &up);
		if (err == BATON_HANDED_OVER) {
			/* The new process has it all: touch nothing, go. */
			printf("{\"event\":\"handed-over\",\"version\":%d,\"pid\":%d}\n",
			       HOST_PROG_VERSION, (int)getpid());
			baton_update_report_release(&rep);
			baton_host_destroy(host);
			free(target_argv);
			return 0;
		}
		report(host, r, !err && dry_run_only ? "dry-run" : "update-failed",
		       err, rep.why);
		baton_update_report_release(&rep);
	}
	if (control) {
		if (baton_host_listen(host, control))
			return 1;
		report(host, r, "listening", 0, NULL);
		hold("HOST_PROG_HOLD_LOOP");
		for (;;) {
			struct pollfd p = { .fd = baton_host_fd(host), .events = POLLIN };

			if (poll(&p, 1, -1) == 1 && baton_host_dispatch(host))
				break;	/* handed over, or the socket broke */
		}
	}
	baton_host_destroy(host);
	free(target_argv);
	return 0;
}
