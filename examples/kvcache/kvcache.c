// SPDX-License-Identifier: MIT
/**
 * DOC: kvcache - a memcached-compatible cache server, Baton's example
 *
 *   kvcache-v1 --port P --memory MiB [--threads N] [--control PATH]
 *
 * One epoll loop (or N worker threads and a main loop, see "worker
 * threads" below), non-blocking sockets, on 127.0.0.1:P (0 lets the kernel
 * choose; the port is printed on stdout when the server listens, as
 * "kvcache-vN: listening on 127.0.0.1:P").  It speaks memcached 1.6's
 * protocols (protocol.h) and keeps its items in one memory region of
 * --memory MiB (store.h).  SIGINT and SIGTERM stop it cleanly.
 * examples/kvcache/README.md is the user's guide.
 *
 * What a live update preserves, and what startup therefore takes over
 * instead of creating - the seam to Baton's runtime:
 *
 *  - the item region: kv_server_adopt_region() with a region a previous
 *    version formatted (it is validated), or a new one to format.  A v2
 *    server given a v1 region makes a v2 region and takes the v1 items
 *    over lazily once it has taken over (kv_adopt_items(), store.h); the
 *    v1 region is written to only from then on, so that until then the
 *    update can roll back, and v1 comes back on it;
 *  - the listening socket: kv_server_adopt_listener();
 *  - every client connection: its socket and its struct kv_conn_state
 *    (input not yet executed, answers not yet sent, a data block being
 *    swallowed, closing), kv_server_adopt_connection().  kv_conn_save()
 *    gives that state for each client on the server's list.
 *
 * A cold start goes through the same functions: it makes a region, a
 * listening socket and, as clients arrive, connections with no state, and
 * adopts them.
 *
 * Baton (the "Live update" section below): the item region and the
 * listening socket are preserved from the start, and every connection from
 * the moment it is accepted (by token); the item store is a device whose
 * schema is the item header, so `baton update` refuses a version that
 * cannot read the items; at PREPARE the connections' pending bytes go into
 * a "connections" region.  --control PATH is the control socket `baton
 * update --socket PATH` talks to.
 *
 * Clients are limited to KV_MAX_CLIENTS, memcached's default; beyond it,
 * and when the process runs out of fds, the server stops accepting until a
 * client leaves, and new clients wait in the listen backlog rather than
 * being refused.
 */
#define _GNU_SOURCE	/* accept4, fallocate */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <baton/host.h>

#include "park.h"
#include "protocol.h"
#include "store.h"

#ifndef KVCACHE_RELEASE
#error "build with -DKVCACHE_RELEASE=\"x.y.z\""
#endif

#define KV_STR_(x) #x
#define KV_STR(x) KV_STR_(x)
#define KV_NAME "kvcache-v" KV_STR(KVCACHE_VERSION)

#define KV_MAX_CLIENTS	1024
#define KV_MAX_THREADS	KV_PARK_MAX
#define KV_READ_CHUNK	65536
#define KV_LINGER_MAX	(1024 * 1024)
#define KV_EVENTS	64
#define KV_SPIN_NS	20000	/* kv_take()'s spin, at most */
/* v1 items converted in one hold of the store (~50 us) */
#define KV_CONVERT_STEP	32
#define KV_DRAIN_STEP	(4u << 20)	/* v1 memory given back between two */
#define KV_PREFAULT_STEP (2u << 20)	/* mapped ahead a loop: ~0.15 ms in a VM */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23		/* Linux 5.14; older C libraries lack it */
#endif

/**
 * struct kv_client - one client connection
 * @fd:     its socket (preserved)
 * @conn:   its protocol state (preserved as struct kv_conn_state)
 * @events: the epoll events it is registered for
 * @eof:    the client shut down its side: answer what it sent, then close
 * @lingering: answered and shut down for writing; what the client still
 *          sends is read and dropped until it closes
 * @dropped: bytes dropped while lingering
 * @epfd:   the event loop of the thread that serves it (one only, so that
 *          its buffers need no lock)
 */
struct kv_client {
	int fd;
	int epfd;		/* the epoll of the thread that serves it */
	uint64_t token;
	struct kv_conn conn;
	uint32_t events;
	bool eof;
	bool lingering;
	size_t dropped;
	struct kv_client *prev, *next;
};

/**
 * struct kv_server - the process
 * @epfd:         the event loop
 * @sigfd:        SIGINT and SIGTERM
 * @listen_fd:    the listening socket (preserved), -1 before adoption
 * @accepting:    the listener is polled for new clients
 * @store:        the item region (preserved)
 * @proto:        what the connections share
 * @clients:      every connection
 * @control_path: the runtime's control socket, from --control
 * @told_damage:  the store's damage has been reported on stderr (by
 *                whichever thread let go of the store first after it)
 * @stop:         leave the loop
 */
struct kv_server {
	struct baton_host *host;
	uint64_t next_token;
	int epfd;
	int sigfd;
	int listen_fd;
	bool accepting;
	struct kv_store store;
	struct kv_proto proto;
	struct kv_client *clients;
	const char *control_path;
	atomic_bool told_damage;
	bool stop;
	/* Clients are served once this version has taken over: until then
	 * the previous one may come back and execute their input itself. */
	bool serving;
	/* What the previous version left that this one no longer needs: let
	 * go of only once taken over, since until then it may come back. */
	struct baton_region *spent[2];
	/* v2: the v1 item region being converted, lazily, once taken over;
	 * @fresh: the v2 region was made for it (counters carry over). */
	struct baton_region *source;
	bool fresh;
	/* The converted v1 region, its memory given back a step at a time
	 * (freeing it at once stalls the loop for ~0.5 ms per MiB used);
	 * @drain_off: how far. */
	struct baton_region *drain;
	uint64_t drain_off;
	/* Once taken over, the item regions' pages in use - [0] this
	 * version's, [1] the v1 one being converted - mapped ahead of the
	 * clients and the conversion, a step at a time (kv_prefault()). */
	struct kv_prefault {
		char *base;
		size_t off, end;
	} prefault[2];
	bool prefault_failed;		/* no MADV_POPULATE_WRITE here */
	char why[160];			/* why this version cannot start */
	size_t memory;			/* --memory, in bytes */
	struct kv_threads *threads;	/* -t N > 1: the workers */
	uint64_t held_budget_ns;	/* serve_held()'s */
};

/**
 * DOC: worker threads (-t N)
 *
 * With one thread (the default) the main loop does everything.  With N > 1,
 * N workers serve the clients, each its own epoll loop over its share of
 * them (given round robin as they arrive, or as an update hands them over),
 * and the main thread accepts, runs the control socket and converts.  Each
 * client is served by one thread only, so its buffers need no lock; the
 * store, the shared protocol state and the list of clients are behind
 * @lock, a reader-writer lock held one command at a time, and a get of
 * many keys one key at a time (struct kv_proto's @lock).  Gets, sets
 * (set, add, replace, append, prepend, cas) and deletes hold it shared
 * and, inside, their key's stripe of the store (@locks, kv_store_lock_key()),
 * as memcached's item locks: commands on keys of other stripes run side
 * by side, the slab allocator and LRU lists behind the store's own short
 * lock.  During a conversion gets hold it shared without stripes
 * (kv_store_get_shared()) and sets alone; every other command holds it
 * alone; the sockets' reads and writes run in parallel.  Readers go first
 * (glibc's default): a
 * writer waiting on a reader that lost its CPU would otherwise hold up
 * every get behind it, which on busy cores cost more than it saved (a
 * writer still gets in between two commands: every worker lets go of the
 * lock after each, to read and write its sockets).  A thread that finds
 * it taken spins a little before it sleeps (kv_take()).  The locks live in
 * the process, not in the item region: the region's layout is the same
 * with one thread or many.  Only the main thread calls the Baton host: a worker that
 * closes a client hands its fd and token to the main thread (@dead), which
 * unpreserves and closes them.
 *
 * For an update the workers are parked (kv_park(), park.h): the program's
 * prepare hook runs on the main thread, parks every worker between two
 * batches of events - one asleep in epoll_wait() is claimed where it
 * sleeps, only one serving a batch is waited for - and only then saves
 * the connections; FREEZE and HANDOVER follow
 * with the workers still parked, and whatever happens next - the exec, the
 * exit after a socket-mode handover, or the update given up - no worker
 * touches anything meanwhile.  The main loop unparks them when the
 * dispatch returns, which it does after each step that ran the hook: after
 * the update's start, so that they serve through the dry run, and after
 * the commit when the update did not hand over.  They cannot park later:
 * the keeper, forked before FREEZE, holds the image made from the saved
 * connections, and an old version that served on after it and then died
 * would be brought back from a snapshot replaying what it had answered.
 * The new version gives the connections out to its own workers again,
 * whatever their number.
 */
struct kv_worker {
	struct kv_server *srv;
	pthread_t thread;
	unsigned int id;	/* in struct kv_park */
	int epfd;
	int evfd;		/* wakes the worker: stop */
	bool started;
};

/* A client an update held, and what it has sent (serve_held()). */
struct held {
	size_t backlog;
	struct kv_client *cl;
	int epfd;		/* its thread's: cl->epfd */
};

struct kv_threads {
	unsigned int n;
	unsigned int next;		/* the worker the next client goes to */
	struct kv_worker w[KV_MAX_THREADS];
	pthread_rwlock_t lock;		/* the store, the protocol, the list */
	struct kv_locks locks;		/* the store's, within @lock shared */
	atomic_uint waiting;		/* workers waiting for @lock */
	struct kv_park park;
	int evfd;			/* wakes the main thread: @dead */
	struct kv_client *dead;		/* closed by workers, for the main */
	/* The held clients serve_held() left to the workers, smallest
	 * backlog first: @n_held of @held; the last worker to have served
	 * its own (@held_refs) frees it. */
	struct held *held;
	size_t n_held;
	atomic_uint held_refs;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Take @lock shared or alone; spin a little before sleeping.  A command
 * holds it for a microsecond or two, and a worker that sleeps for it
 * waits for the kernel to wake it and then for a CPU - on busy cores
 * milliseconds, during which every client of that worker waits too: those
 * sleeps were kvcache's p99 (memcached's gets take no lock a set holds).
 * Spinning is bounded (KV_SPIN_NS) for a holder that lost its CPU.  While
 * it waits, a worker counts in @waiting, which kv_idle() reads.
 */
static void kv_take(struct kv_threads *t, bool alone)
{
	int (*try)(pthread_rwlock_t *) = alone ? pthread_rwlock_trywrlock :
						  pthread_rwlock_tryrdlock;
	uint64_t until = 0;

	if (!try(&t->lock))
		return;
	atomic_fetch_add(&t->waiting, 1);
	for (unsigned int i = 1; try(&t->lock); i++) {
		cpu_relax();
		if (i % 16)
			continue;
		if (!until) {
			until = mono_ns() + KV_SPIN_NS;
		} else if (mono_ns() > until) {
			if (alone)
				pthread_rwlock_wrlock(&t->lock);
			else
				pthread_rwlock_rdlock(&t->lock);
			break;
		}
	}
	atomic_fetch_sub(&t->waiting, 1);
}

static void kv_lock(struct kv_server *srv)
{
	if (srv->threads)
		kv_take(srv->threads, true);
}

#if KVCACHE_VERSION >= 2
/*
 * Whether the main thread may take the lock for a step of background work
 * (the conversion) now: not while a worker waits for it.  A mutex is not
 * fair - the thread that lets it go takes it back before a waiter wakes -
 * and a step after step took it back for over a second at a time: a client
 * always goes first.
 */
static bool kv_idle(struct kv_server *srv)
{
	return !srv->threads || !atomic_load(&srv->threads->waiting);
}
#endif

static void kv_unlock(struct kv_server *srv)
{
	if (srv->threads)
		pthread_rwlock_unlock(&srv->threads->lock);
}

/* Say once, on stderr, that the store was found damaged. */
static void tell_damage(struct kv_server *srv)
{
	if (__atomic_load_n(&srv->store.broken, __ATOMIC_ACQUIRE) &&
	    !atomic_exchange(&srv->told_damage, true))
		fprintf(stderr, KV_NAME ": item store damaged: %s\n",
			srv->store.err.msg);
}

/* struct kv_proto's @lock, with worker threads: a command's hold. */
static void kv_proto_lock(struct kv_proto *p, enum kv_lock how)
{
	struct kv_server *srv = (struct kv_server *)
		((char *)p - offsetof(struct kv_server, proto));

	switch (how) {
	case KV_SHARED:
		kv_take(srv->threads, false);
		break;
	case KV_EXCLUSIVE:
		kv_lock(srv);
		break;
	case KV_UNLOCKED:
		tell_damage(srv);
		kv_unlock(srv);
		break;
	}
}

/* struct kv_proto's @try_exclusive: the store alone, if no one holds it. */
static bool kv_proto_try_exclusive(struct kv_proto *p)
{
	struct kv_server *srv = (struct kv_server *)
		((char *)p - offsetof(struct kv_server, proto));

	return !pthread_rwlock_trywrlock(&srv->threads->lock);
}

static uint64_t now(void)
{
	return (uint64_t)time(NULL);
}


static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int server_init(struct kv_server *srv, const char *control_path)
{
	sigset_t mask;

	memset(srv, 0, sizeof(*srv));
	srv->epfd = -1;
	srv->sigfd = -1;
	srv->listen_fd = -1;
	srv->control_path = control_path;
	srv->proto.store = &srv->store;
	/* The memcached release whose protocol kvcache speaks, then its own
	 * name: clients (libmemcached, memccapable) choose the behaviour
	 * they expect by the number, and refuse a version they cannot parse. */
	srv->proto.version = "1.6.18-" KV_NAME "-baton" KVCACHE_RELEASE;
	srv->proto.started = now();

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		return -errno;
	srv->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->sigfd < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sigfd,
		      &(struct epoll_event){ .events = EPOLLIN,
					     .data.ptr = &srv->sigfd }))
		return -errno;
	return 0;
}

/**
 * kv_server_adopt_region() - serve the items of a region
 * @srv:       the server
 * @base:      the region, mapped shared and writable
 * @size:      its size
 * @formatted: it holds items already (a previous version's region): attach
 *             to it and validate it; otherwise it is new: format it
 *
 * Return: 0; -EPROTO when the region holds another item version (a v2
 * server takes a v1 region's items over into its own region, lazily:
 * kv_store_adopt_v1()); -EBADMSG for a damaged region; -EINVAL for one too
 * small.
 * The reason is printed on stderr.
 */
static int kv_server_adopt_region(struct kv_server *srv, void *base,
				  size_t size, bool formatted)
{
	int ret;

	if (formatted)
		ret = kv_store_attach(&srv->store, KV_STORE_NATIVE, base, size);
	else
		ret = kv_store_format(&srv->store, KV_STORE_NATIVE, base, size);
	if (ret)
		fprintf(stderr, KV_NAME ": item region: %s\n",
			srv->store.err.msg);
	return ret;
}

static int listener_poll(struct kv_server *srv, bool on)
{
	struct epoll_event ev = {
		.events = on ? EPOLLIN : 0,
		.data.ptr = &srv->listen_fd,
	};

	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listen_fd, &ev))
		return -errno;
	srv->accepting = on;
	return 0;
}

/**
 * kv_server_adopt_listener() - accept clients on a listening socket
 * @srv: the server
 * @fd:  a listening TCP socket; the server owns it from now on, and
 *       closes it when this fails
 *
 * Return: 0; -ENOTSOCK or -EINVAL when @fd is not a listening stream
 * socket; another -errno.
 */
static int kv_server_adopt_listener(struct kv_server *srv, int fd)
{
	int type = 0, listening = 0, ret;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) {
		ret = -errno;
		goto err;
	}
	ret = type == SOCK_STREAM && listening ? set_nonblock(fd) : -EINVAL;
	if (ret)
		goto err;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd,
		      &(struct epoll_event){ .events = EPOLLIN,
					     .data.ptr = &srv->listen_fd })) {
		ret = -errno;
		goto err;
	}
	srv->listen_fd = fd;
	srv->accepting = true;
	return 0;
err:
	close(fd);
	return ret;
}

/* The main thread: unpreserve and close what workers closed. */
static void clients_bury(struct kv_server *srv)
{
	struct kv_client *cl, *next;
	uint64_t v;

	if (!srv->threads)
		return;
	(void)!read(srv->threads->evfd, &v, sizeof(v));
	kv_lock(srv);
	cl = srv->threads->dead;
	srv->threads->dead = NULL;
	kv_unlock(srv);
	for (; cl; cl = next) {
		next = cl->next;
		baton_host_unpreserve_fd(srv->host, cl->token);
		close(cl->fd);
		free(cl);
	}
	/* A place is free again; the backlog has been waiting for it. */
	if (!srv->accepting && srv->listen_fd >= 0)
		listener_poll(srv, true);
}

static void client_close(struct kv_server *srv, struct kv_client *cl)
{
	epoll_ctl(cl->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	kv_conn_release(&cl->conn);
	kv_lock(srv);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		srv->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	srv->proto.curr_conns--;
	if (srv->threads) {
		/* The host is the main thread's: it lets go of the fd. */
		cl->next = srv->threads->dead;
		srv->threads->dead = cl;
		kv_unlock(srv);
		(void)!write(srv->threads->evfd, &(uint64_t){ 1 }, 8);
		return;
	}
	baton_host_unpreserve_fd(srv->host, cl->token);
	close(cl->fd);
	free(cl);
	/* A place is free again; the backlog has been waiting for it. */
	if (!srv->accepting && srv->listen_fd >= 0)
		listener_poll(srv, true);
}

/* Send what can be sent now. */
static int client_write(struct kv_client *cl)
{
	const void *data;
	size_t len;
	ssize_t n;

	while ((data = kv_conn_output(&cl->conn, &len))) {
		n = send(cl->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		kv_conn_sent(&cl->conn, n);
	}
	return 0;
}

/* Read once, as much as the connection takes. */
static int client_read(struct kv_client *cl)
{
	uint8_t buf[KV_READ_CHUNK];
	size_t room = kv_conn_room(&cl->conn);
	ssize_t n;

	if (!room || cl->eof)
		return 0;
	do
		n = read(cl->fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (!n) {
		cl->eof = true;
		return 0;
	}
	return kv_conn_input(&cl->conn, buf, n);
}

/*
 * Read and drop what a finished client still sends.  Closing a socket
 * with unread input resets the connection, which can destroy the last
 * answer (say, "line too long") before the client reads it; so the server
 * shuts its side down and waits for the client's, up to KV_LINGER_MAX
 * bytes.  Return: 0 to go on waiting, or an error to close now.
 */
static int client_linger(struct kv_client *cl)
{
	uint8_t buf[KV_READ_CHUNK];
	ssize_t n;

	do
		n = read(cl->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (!n)
		return -ECONNRESET;
	cl->dropped += n;
	return cl->dropped > KV_LINGER_MAX ? -EMSGSIZE : 0;
}

/*
 * Everything a client's events call for: read, execute, answer - again
 * while answers drain and commands remain - then close it, linger, or
 * poll it for what it waits on.
 */
static void client_serve(struct kv_server *srv, struct kv_client *cl,
			 uint32_t events)
{
	struct epoll_event ev = { .data.ptr = cl };
	size_t before, queued, unsent;
	int ret = 0;

	if (cl->lingering) {
		if (client_linger(cl))
			client_close(srv, cl);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		ret = client_read(cl);
	while (!ret) {
		before = cl->conn.in_len;
		/* Answers up to KV_OUT_HIGH stop the commands behind them:
		 * once those answers are out, the commands go on - no event
		 * will say they are there. */
		kv_conn_output(&cl->conn, &queued);
		/* Each command takes the lock (kv_proto_lock()) as it needs. */
		ret = kv_conn_process(&srv->proto, &cl->conn, now());
		if (!srv->threads)
			tell_damage(srv);
		if (!ret)
			ret = client_write(cl);
		kv_conn_output(&cl->conn, &unsent);
		if (unsent || (cl->conn.in_len == before && queued < KV_OUT_HIGH))
			break;
	}
	kv_conn_output(&cl->conn, &unsent);
	if (ret || (cl->eof && !unsent) ||
	    (kv_conn_finished(&cl->conn) && shutdown(cl->fd, SHUT_WR))) {
		client_close(srv, cl);
		return;
	}
	cl->lingering = kv_conn_finished(&cl->conn);
	if (cl->lingering)
		ev.events = EPOLLIN;
	else
		ev.events = (kv_conn_room(&cl->conn) && !cl->eof ? EPOLLIN : 0) |
			    (unsent ? EPOLLOUT : 0);
	if (ev.events != cl->events) {
		if (epoll_ctl(cl->epfd, EPOLL_CTL_MOD, cl->fd, &ev)) {
			client_close(srv, cl);
			return;
		}
		cl->events = ev.events;
	}
}

/**
 * kv_server_adopt_connection() - serve a client connection
 * @srv:   the server
 * @fd:    a connected stream socket; the server owns it from now on, and
 *         closes it when this fails
 * @state: what the previous version left of the connection, or NULL for a
 *         new one; copied
 * @token: the token the previous version preserved it under, 0 for a new
 *         connection (it gets one: every connection is preserved)
 *
 * Pending input is executed and pending answers sent right away, or, before
 * this version has taken over, once it has.
 *
 * Return: 0; -EINVAL when @fd is not a stream socket or @state is beyond
 * the protocol's bounds; -ENOMEM; another -errno; an error of
 * baton_host_preserve_fd().
 */
static int kv_server_adopt_connection(struct kv_server *srv, int fd,
				      const struct kv_conn_state *state,
				      uint64_t token)
{
	int type = 0, ret;
	socklen_t len = sizeof(type);
	struct kv_client *cl;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) {
		ret = -errno;
		goto err_fd;
	}
	ret = type == SOCK_STREAM ? set_nonblock(fd) : -EINVAL;
	if (ret)
		goto err_fd;
	/* As memcached: an answer goes out at once, never held back for the
	 * acknowledgement of the one before (Nagle). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		ret = -ENOMEM;
		goto err_fd;
	}
	cl->fd = fd;
	/* Preserved from the start: an update can come at any moment. */
	cl->token = token ? token : srv->next_token++;
	ret = baton_host_preserve_fd(srv->host, cl->token, fd, BATON_FD_SOCKET);
	if (!ret)
		ret = kv_conn_restore(&cl->conn, state);
	if (ret)
		goto err_client;
	cl->events = EPOLLIN;
	cl->epfd = srv->epfd;
	if (srv->threads) {
		struct kv_threads *t = srv->threads;

		cl->epfd = t->w[t->next++ % t->n].epfd;
	}
	/* On the list before its thread can see it. */
	kv_lock(srv);
	cl->next = srv->clients;
	if (cl->next)
		cl->next->prev = cl;
	srv->clients = cl;
	srv->proto.curr_conns++;
	srv->proto.total_conns++;
	kv_unlock(srv);
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd,
		      &(struct epoll_event){ .events = cl->events,
					     .data.ptr = cl })) {
		ret = -errno;
		client_close(srv, cl);
		clients_bury(srv);
		return ret;
	}
	/* A worker serves it from its first event on. */
	if (srv->serving && !srv->threads)
		client_serve(srv, cl, 0);
	return 0;

err_client:
	baton_host_unpreserve_fd(srv->host, cl->token);
	free(cl);
err_fd:
	close(fd);
	return ret;
}

static void accept_clients(struct kv_server *srv)
{
	for (int i = 0; i < KV_EVENTS; i++) {
		int fd, ret;

		if (srv->proto.curr_conns >= KV_MAX_CLIENTS) {
			listener_poll(srv, false);
			return;
		}
		fd = accept4(srv->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Until a client leaves and frees an fd. */
				fprintf(stderr, KV_NAME ": accept: %s; waiting "
					"for a client to leave\n",
					strerror(errno));
				/* With no client to leave, keep trying. */
				if (srv->clients)
					listener_poll(srv, false);
				return;
			}
			/* EAGAIN: no one else; otherwise that client is gone. */
			if (errno == EAGAIN)
				return;
			continue;
		}
		ret = kv_server_adopt_connection(srv, fd, NULL, 0);
		if (ret)
			fprintf(stderr, KV_NAME ": new client: %s\n",
				baton_strerror(ret));
	}
}

static void kv_end_conversion(struct kv_server *srv);

/* ---- worker threads ---- */

/*
 * The clients of this worker the main thread left held (serve_held()): what
 * they sent before FREEZE is in their buffers, where no event will say so.
 * Nothing else serves them: the main thread serves none once the workers
 * run.  In serve_held()'s order, smallest backlog first; an entry's @epfd
 * says whose it is without touching another worker's client, which that
 * worker may have closed already.
 */
static void serve_own_held(struct kv_worker *w)
{
	struct kv_threads *t = w->srv->threads;

	if (!t->held)
		return;
	for (size_t i = 0; i < t->n_held; i++)
		if (t->held[i].epfd == w->epfd)
			client_serve(w->srv, t->held[i].cl, EPOLLIN);
	if (atomic_fetch_sub(&t->held_refs, 1) == 1) {
		free(t->held);
		t->held = NULL;
	}
}

static void *worker_run(void *arg)
{
	struct kv_worker *w = arg;
	struct kv_threads *t = w->srv->threads;
	struct epoll_event ev[KV_EVENTS];
	uint64_t v;
	int n = 0;

	/*
	 * Between two batches - the held clients first, then each poll's
	 * events - it may be parked (park.h), even asleep in epoll_wait():
	 * what it polled then waits with it, to be served once unparked
	 * (level-triggered: a client with nothing left reads EAGAIN).
	 */
	if (!kv_park_enter(&t->park, w->id))
		return NULL;
	serve_own_held(w);
	for (;;) {
		kv_park_leave(&t->park, w->id);
		n = epoll_wait(w->epfd, ev, KV_EVENTS, -1);
		if (!kv_park_enter(&t->park, w->id))
			return NULL;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == w)
				(void)!read(w->evfd, &v, sizeof(v));
			else
				client_serve(w->srv, ev[i].data.ptr,
					     ev[i].events);
		}
	}
}

static void kv_wake_workers(struct kv_threads *t)
{
	for (unsigned int i = 0; i < t->n; i++)
		(void)!write(t->w[i].evfd, &(uint64_t){ 1 }, 8);
}

/*
 * Hold every worker between two batches of events, until kv_unpark():
 * from then on the main thread alone touches the clients.  Idempotent.
 */
static void kv_park(struct kv_server *srv)
{
	if (!srv->threads)
		return;
	kv_park_all(&srv->threads->park);
	clients_bury(srv);
}

static void kv_unpark(struct kv_server *srv)
{
	if (srv->threads)
		kv_unpark_all(&srv->threads->park);
}

/* The workers' loops and wake-ups, before any client is adopted. */
static int kv_threads_init(struct kv_server *srv, unsigned int n)
{
	struct kv_threads *t;

	if (n <= 1)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	srv->threads = t;
	srv->proto.threads = n;
	srv->proto.lock = kv_proto_lock;
	srv->proto.try_exclusive = kv_proto_try_exclusive;
	t->n = n;
	for (unsigned int i = 0; i < n; i++)
		t->w[i].epfd = t->w[i].evfd = -1;
	pthread_rwlock_init(&t->lock, NULL);
	kv_locks_init(&t->locks);
	kv_park_init(&t->park, n);
	t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->evfd < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, t->evfd,
		      &(struct epoll_event){ .events = EPOLLIN,
					     .data.ptr = &t->evfd }))
		return -errno;
	for (unsigned int i = 0; i < n; i++) {
		struct kv_worker *w = &t->w[i];

		w->srv = srv;
		w->id = i;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->evfd < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd,
			      &(struct epoll_event){ .events = EPOLLIN,
						     .data.ptr = w }))
			return -errno;
	}
	return 0;
}

static int kv_threads_start(struct kv_server *srv)
{
	struct kv_threads *t = srv->threads;
	sigset_t all, old;
	int ret = 0;

	if (!t)
		return 0;
	/* Parked from their first instruction, until kv_threads_go(). */
	kv_park_all(&t->park);
	/* Signals are the main thread's (its signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned int i = 0; !ret && i < t->n; i++) {
		ret = -pthread_create(&t->w[i].thread, NULL, worker_run, &t->w[i]);
		t->w[i].started = !ret;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/*
 * Taken over, the held clients shared out: the workers serve, started now
 * unless they were before baton_host_create().
 */
static int kv_threads_go(struct kv_server *srv)
{
	struct kv_threads *t = srv->threads;
	int ret;

	if (!t)
		return 0;
	if (!t->w[0].started) {
		ret = kv_threads_start(srv);
		if (ret)
			return ret;
	}
	/* Adopted by now: no attach or format comes after to reset it. */
	srv->store.locks = &t->locks;
	kv_unpark(srv);
	return 0;
}

static void kv_threads_stop(struct kv_server *srv)
{
	struct kv_threads *t = srv->threads;

	if (!t)
		return;
	kv_park_stop(&t->park);
	kv_wake_workers(t);
	for (unsigned int i = 0; i < t->n; i++)
		if (t->w[i].started)
			pthread_join(t->w[i].thread, NULL);
	/* Left by workers that never started. */
	free(t->held);
	t->held = NULL;
	for (unsigned int i = 0; i < t->n; i++) {
		t->w[i].started = false;
		if (t->w[i].epfd >= 0)
			close(t->w[i].epfd);
		if (t->w[i].evfd >= 0)
			close(t->w[i].evfd);
	}
}

#if KVCACHE_VERSION >= 2
/*
 * Between two polls (with workers, one a millisecond): a short step of the
 * conversion, the store held for KV_CONVERT_STEP items and only when no
 * worker waits for it, so that no client waits for more than a step behind
 * it - nor, on busy cores, for this thread to get its CPU back while it
 * holds the store: a thread that runs this briefly after each sleep is
 * seldom preempted.  The clients' gets take what they ask for over
 * meanwhile; the steps take the rest.
 */
static void kv_convert(struct kv_server *srv)
{
	if (!srv->source || !kv_idle(srv))
		return;
	kv_lock(srv);
	kv_store_migrate_step(&srv->store, KV_CONVERT_STEP, now());
	kv_unlock(srv);
}
#endif

/*
 * Taken over, this version has mapped the item regions afresh, and its
 * first touch of each page is a fault: ~10 us a page in a VM, taken under
 * the store's lock by a client's get or a conversion step - a step of 32
 * items took 5 ms, the first one 14 ms, and the clients waited behind it.
 * MADV_POPULATE_WRITE maps the pages in use ahead of them, outside the
 * lock, KV_PREFAULT_STEP between two polls (~0.3 us a page) - with
 * workers, a poll a millisecond, as for the conversion: flat out, it took
 * a CPU from the workers right after FINISH, and clients waited longer
 * than with the faults (bench/kvhold.sh, a GiB in use) - and the
 * conversion's steps wait for it.  While converting, this version's region
 * is mapped on ahead of what it has handed out, by the v1 region's span
 * (its items, one size class up, and the clients' sets take pages beyond
 * the first estimate).  Without it (Linux before 5.14) the touches fault
 * as before.
 */
static void kv_prefault_start(struct kv_server *srv)
{
	size_t src, own = kv_store_span(&srv->store, &src);

	srv->prefault[0] = (struct kv_prefault){ srv->store.base, 0, own };
	srv->prefault[1] = (struct kv_prefault){ srv->store.src, 0, src };
}

static bool kv_prefaulting(const struct kv_server *srv)
{
	return srv->prefault[0].off < srv->prefault[0].end ||
	       srv->prefault[1].off < srv->prefault[1].end;
}

/* A step of it; whether any is left. */
static bool kv_prefault(struct kv_server *srv)
{
	if (srv->store.src && !srv->prefault_failed && !kv_prefaulting(srv)) {
		size_t src, own = kv_store_span(&srv->store, &src);

		if (own > srv->prefault[0].end)
			srv->prefault[0].end = own;
	}
	for (int i = 0; i < 2; i++) {
		struct kv_prefault *p = &srv->prefault[i];
		size_t len = p->end - p->off;

		if (p->off >= p->end)
			continue;
		if (len > KV_PREFAULT_STEP)
			len = KV_PREFAULT_STEP;
		if (madvise(p->base + p->off, len, MADV_POPULATE_WRITE)) {
			srv->prefault_failed = true;
			srv->prefault[0].end = srv->prefault[0].off;
			srv->prefault[1].end = srv->prefault[1].off;
			return false;
		}
		p->off += len;
		break;
	}
	return kv_prefaulting(srv);
}

static void server_run(struct kv_server *srv)
{
	struct epoll_event ev[KV_EVENTS];

	while (!srv->stop) {
		/* Converting, or mapping pages ahead: a step between events.
		 * With workers, a step a millisecond: the workers serving the
		 * clients keep the cores (a main thread converting flat out
		 * took one). */
		int n = epoll_wait(srv->epfd, ev, KV_EVENTS,
				   !srv->source && !srv->drain &&
				   !kv_prefaulting(srv) ? -1 :
				   srv->threads ? 1 : 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror(KV_NAME ": epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &srv->sigfd) {
				srv->stop = true;
			} else if (ev[i].data.ptr == &srv->host) {
				/* Socket mode: the new process has it all. */
				if (baton_host_dispatch(srv->host) == BATON_HANDED_OVER) {
					fflush(stdout);
					_exit(0);
				}
				/* Parked by the prepare hook, if it ran. */
				kv_unpark(srv);
			} else if (srv->threads &&
				   ev[i].data.ptr == &srv->threads->evfd) {
				clients_bury(srv);
			}
			else if (ev[i].data.ptr == &srv->listen_fd)
				accept_clients(srv);
			else
				client_serve(srv, ev[i].data.ptr, ev[i].events);
		}
		if (!kv_prefault(srv)) {
#if KVCACHE_VERSION >= 2
			kv_convert(srv);
#endif
		}
		kv_end_conversion(srv);
	}
}

static void server_release(struct kv_server *srv)
{
	kv_threads_stop(srv);
	while (srv->clients)
		client_close(srv, srv->clients);
	clients_bury(srv);
	if (srv->threads) {
		if (srv->threads->evfd >= 0)
			close(srv->threads->evfd);
		srv->store.locks = NULL;
		kv_park_destroy(&srv->threads->park);
		free(srv->threads);
		srv->threads = NULL;
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->sigfd >= 0)
		close(srv->sigfd);
	if (srv->epfd >= 0)
		close(srv->epfd);
}

/* ---- Live update (Baton) ---- */

/*
 * The item store as a device, so that the item layout is a contract the
 * planner checks: the store's "driver" reads kvcache-item v1 (and, in v2,
 * v2 natively and v1 by converter).  An update to a version that cannot
 * read the items is refused before anything is touched.  The device has no
 * state of its own: the items are in the region, which v2 converts when it
 * finds a v1 one.
 */
#if KVCACHE_VERSION >= 2
typedef struct kv_item_v2 kv_store_state;
#else
typedef struct kv_item_v1 kv_store_state;
#endif

static int store_preserve(struct baton_device *dev, void *state, size_t size)
{
	(void)dev;
	memset(state, 0, size);
	return 0;
}

static int store_check(const void *state, size_t size)
{
	(void)state;
	return size == sizeof(kv_store_state) ? 0 : -EINVAL;
}

static int store_restore(struct baton_device *dev, const void *state, size_t size)
{
	(void)dev;
	return store_check(state, size);
}

static const struct baton_driver_ops store_ops = {
	.preserve = store_preserve,
	.restore = store_restore,
	.validate = store_check,
};

#define KV_STORE_VENDOR	0x1234
#define KV_STORE_DEVICE	0x4b56	/* "KV" */

#if KVCACHE_VERSION >= 2
int kv_item_state_v1_to_v2(const void *from, size_t from_len, void *to,
			   size_t to_len);

int kv_item_state_v1_to_v2(const void *from, size_t from_len, void *to,
			   size_t to_len)
{
	if (from_len != sizeof(struct kv_item_v1) || to_len != sizeof(struct kv_item_v2))
		return -EINVAL;
	memcpy(to, from, from_len);	/* v2 appends; the caller zeroed it */
	return 0;
}

BATON_DRIVER(kv_store_driver, "kvstore", 0, &store_ops,
	BATON_MATCH_DEVICE(KV_STORE_VENDOR, KV_STORE_DEVICE),
	BATON_ACCEPT(kv_item_v2),
	BATON_ACCEPT_CONVERTED(kv_item_v1, kv_item_v2, kv_item_state_v1_to_v2));
#else
BATON_DRIVER(kv_store_driver, "kvstore", 0, &store_ops,
	BATON_MATCH_DEVICE(KV_STORE_VENDOR, KV_STORE_DEVICE),
	BATON_ACCEPT(kv_item_v1));
#endif

#define KV_TOKEN_LISTENER	1
#define KV_TOKEN_CLIENTS	0x1000	/* + n: the n-th connection */
#define KV_ITEMS_V1		"items-v1"
#define KV_ITEMS_V2		"items-v2"
#define KV_CONNS		"connections"
#define KV_CONNS_MAGIC		0x4b56434eu

/* A connection's state in the "connections" region: this, then in, out. */
struct kv_saved_conn {
	uint64_t token;
	uint64_t in_len;
	uint64_t out_len;
	uint64_t swallow;
	uint64_t closing;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/*
 * Whether the item regions this version hands over are ones the next
 * version takes: their headers and page tables, O(pages), as the next
 * version validates them before it takes over (kv_adopt_items()).  A
 * region damaged while this version served it (nothing validates a header
 * at every request) is refused here, before anything is frozen: this
 * version goes on serving, where the next would refuse it - and in exec
 * mode this version, brought back, would refuse it too, and the cache
 * would be gone.
 */
static int kv_check_regions(struct kv_server *srv)
{
	struct baton_region *r = baton_host_find_region(
		srv->host, KVCACHE_VERSION >= 2 ? KV_ITEMS_V2 : KV_ITEMS_V1);
	struct kv_store st;
	int ret = 0;

	if (r)
		ret = kv_store_attach(&st, KV_STORE_NATIVE, baton_region_base(r),
				      baton_region_size(r));
#if KVCACHE_VERSION >= 2
	if (!ret && srv->source &&
	    !kv_region_v2_size_for_v1(baton_region_base(srv->source),
				      baton_region_size(srv->source), 0,
				      &st.err))
		ret = -EBADMSG;
#endif
	if (ret) {
		fprintf(stderr, KV_NAME ": not updating: the item region is "
			"damaged: %s\n", st.err.msg);
		/* And the client that asked for the update. */
		baton_host_refuse(srv->host, "the item region is damaged: %s",
				  st.err.msg);
	}
	return ret;
}

/*
 * PREPARE: the item regions checked, and every connection's pending bytes
 * written into a fresh region; the sockets themselves are preserved
 * already, from the moment they arrive.
 */
static int kv_prepare(struct baton_host *host, void *arg)
{
	struct kv_server *srv = arg;
	struct baton_region *r = baton_host_find_region(host, KV_CONNS);
	size_t size = 8, off = 8;
	uint32_t count = 0;
	uint8_t *base;
	int ret;

	/* Every connection still, until the update call returns. */
	kv_park(srv);
	kv_lock(srv);
	ret = kv_check_regions(srv);
	kv_unlock(srv);
	if (ret)
		return ret;
	if (r)
		baton_region_release(r);
	for (struct kv_client *cl = srv->clients; cl; cl = cl->next) {
		struct kv_conn_state st;

		kv_conn_save(&cl->conn, &st);
		size += sizeof(struct kv_saved_conn) + align8(st.in_len) +
			align8(st.out_len);
	}
	ret = baton_host_region(host, KV_CONNS, size, &r);
	if (ret)
		return ret;
	base = baton_region_base(r);
	for (struct kv_client *cl = srv->clients; cl; cl = cl->next) {
		struct kv_saved_conn sc;
		struct kv_conn_state st;

		kv_conn_save(&cl->conn, &st);
		sc = (struct kv_saved_conn){ cl->token, st.in_len, st.out_len,
					     st.swallow, st.closing };
		memcpy(base + off, &sc, sizeof(sc));
		off += sizeof(sc);
		/* An idle connection has no buffers at all (NULL, 0). */
		if (st.in_len)
			memcpy(base + off, st.in, st.in_len);
		off += align8(st.in_len);
		if (st.out_len)
			memcpy(base + off, st.out, st.out_len);
		off += align8(st.out_len);
		count++;
	}
	memcpy(base, &(uint32_t){ KV_CONNS_MAGIC }, 4);
	memcpy(base + 4, &count, 4);
	return 0;
}

/* RESTORE: take the previous version's connections over, pending bytes and all. */
static void kv_adopt_connections(struct kv_server *srv)
{
	struct baton_region *r = baton_host_find_region(srv->host, KV_CONNS);
	const uint8_t *base;
	size_t size, off = 8;
	uint32_t magic, count;

	if (!r)
		return;
	base = baton_region_base(r);
	size = baton_region_size(r);
	memcpy(&magic, base, 4);
	memcpy(&count, base + 4, 4);
	for (uint32_t i = 0; magic == KV_CONNS_MAGIC && i < count; i++) {
		struct kv_saved_conn sc;
		struct kv_conn_state st;
		int fd, ret;

		if (size - off < sizeof(sc))
			break;
		memcpy(&sc, base + off, sizeof(sc));
		off += sizeof(sc);
		if (sc.in_len > size - off ||
		    sc.out_len > size - off - align8(sc.in_len))
			break;
		st = (struct kv_conn_state){ base + off, sc.in_len,
			base + off + align8(sc.in_len), sc.out_len,
			sc.swallow, sc.closing != 0 };
		off += align8(sc.in_len) + align8(sc.out_len);
		fd = baton_host_take_fd(srv->host, sc.token);
		if (fd < 0)
			continue;
		if (sc.token >= srv->next_token)
			srv->next_token = sc.token + 1;
		ret = kv_server_adopt_connection(srv, fd, &st, sc.token);
		if (ret)
			fprintf(stderr, KV_NAME ": a preserved client: %s\n",
				baton_strerror(ret));
	}
	/* Written again at the next PREPARE. */
	srv->spent[1] = r;
}

/*
 * How long the main thread serves held clients before the workers start;
 * the environment's KVCACHE_HELD_BUDGET_US, a test's knob, sets another
 * (0: the workers serve them all).
 */
#define KV_HELD_BUDGET_US 1000

static int held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return (x->backlog > y->backlog) - (x->backlog < y->backlog);
}

/*
 * The clients the update held, each with what it had sent before FREEZE
 * and what came during the update: served the smallest backlog first, so
 * that a client with one request is not held behind another's thousands,
 * by the main thread right after FINISH, before the workers start (a new
 * thread may wait for a CPU) - for @held_budget_ns at most: the rest, in
 * the same order, goes to the workers (serve_own_held()), so that a request
 * sent after FINISH does not wait for every backlog.  Without memory for
 * the order, the main thread serves them all in turn.
 */
static void serve_held(struct kv_server *srv)
{
	struct kv_threads *t = srv->threads;
	struct held *order;
	size_t n = 0, i = 0;
	uint64_t deadline;

	for (struct kv_client *cl = srv->clients; cl; cl = cl->next)
		n++;
	order = n ? calloc(n, sizeof(*order)) : NULL;
	if (!order) {
		for (struct kv_client *cl = srv->clients, *next; cl; cl = next) {
			next = cl->next;
			client_serve(srv, cl, EPOLLIN);
		}
		return;
	}
	for (struct kv_client *cl = srv->clients; cl; cl = cl->next, i++) {
		int queued = 0;

		if (ioctl(cl->fd, FIONREAD, &queued) || queued < 0)
			queued = 0;
		order[i] = (struct held){ cl->conn.in_len + (size_t)queued, cl,
					  cl->epfd };
	}
	qsort(order, n, sizeof(*order), held_cmp);
	/* client_serve() may close a client: each is served once, by its entry. */
	deadline = mono_ns() + srv->held_budget_ns;
	for (i = 0; i < n && (!t || mono_ns() < deadline); i++)
		client_serve(srv, order[i].cl, EPOLLIN);
	if (i == n) {
		free(order);
		return;
	}
	/* Every worker looks at the tail once as it starts. */
	memmove(order, order + i, (n - i) * sizeof(*order));
	t->held = order;
	t->n_held = n - i;
	atomic_store(&t->held_refs, t->n);
}

/*
 * The item region: the one this version wrote before, or a new one, and in
 * v2 a v1 region to convert.  It is preserved, so the next version maps
 * the same pages.
 *
 * The conversion is lazy (store.h): here, before this version takes over,
 * only what can refuse it - the v1 region's header and page table, and a
 * v2 region that holds every v1 item for sure, never smaller than the
 * configured memory or the v1 region - so that a version that cannot
 * convert says so while the previous one can still come back, and the
 * blackout does not grow with the items.  The items come over once this
 * version has taken over (kv_start_conversion()).
 */
static int kv_adopt_items(struct kv_server *srv, size_t size)
{
	const char *label = KVCACHE_VERSION >= 2 ? KV_ITEMS_V2 : KV_ITEMS_V1;
	struct baton_region *r = baton_host_find_region(srv->host, label);
	int ret;

#if KVCACHE_VERSION >= 2
	struct baton_region *old = baton_host_find_region(srv->host, KV_ITEMS_V1);
	struct kv_err err = { "" };
	size_t need = 0;

	/* Converted already, its memory being given back: it goes. */
	if (old && !memcmp(baton_region_base(old), KV_MAGIC_SPENT,
			   sizeof(KV_MAGIC_SPENT))) {
		srv->spent[0] = old;
		old = NULL;
	}
	if (old) {
		need = kv_region_v2_size_for_v1(baton_region_base(old),
						baton_region_size(old), size,
						&err);
		if (!need) {
			snprintf(srv->why, sizeof(srv->why),
				 "converting the v1 items: %s", err.msg);
			return -EBADMSG;
		}
		srv->source = old;
	}
	if (!r && old) {
		ret = baton_host_region(srv->host, label, need, &r);
		if (ret) {
			snprintf(srv->why, sizeof(srv->why), "converting the v1 "
				 "items: a region of %zu MiB: %s", need >> 20,
				 baton_strerror(ret));
			return ret;
		}
		srv->fresh = true;
		return kv_server_adopt_region(srv, baton_region_base(r), need,
					      false);
	}
#endif
	if (r)
		return kv_server_adopt_region(srv, baton_region_base(r),
					      baton_region_size(r), true);
	ret = baton_host_region(srv->host, label, size, &r);
	if (ret)
		return ret;
	return kv_server_adopt_region(srv, baton_region_base(r), size, false);
}

/*
 * The dry run: whether this version could map, at once, every region the
 * image hands over and the item region it would make (converting v1's
 * items, one at least as large as --memory and as v1's: kv_adopt_items()),
 * as it will.  The address space is tried, not taken: a limit on it
 * (RLIMIT_AS, inherited) is found while the old version serves on, rather
 * than after the exec, which would bring the old version back.
 */
static int kv_dry_run(struct baton_host *host, const struct baton_image *image,
		      void *arg)
{
	const char *label = KVCACHE_VERSION >= 2 ? KV_ITEMS_V2 : KV_ITEMS_V1;
	const struct kv_server *srv = arg;
	size_t need = 0, make = srv->memory;
	void *p;

	for (size_t i = 0; i < image->n_regions; i++) {
		const struct baton_image_region *r = &image->regions[i];

		/* The image's sizes, checked against no memfd yet: a sum
		 * past any address space stays one, which mmap() refuses. */
		need = r->size > SIZE_MAX - need ? SIZE_MAX : need + r->size;
		if (!strcmp(r->label, label))
			make = 0;
		else if (make && !strcmp(r->label, KV_ITEMS_V1) &&
			 r->size > make)
			make = r->size;
	}
	need = make > SIZE_MAX - need ? SIZE_MAX : need + make;
	p = mmap(NULL, need, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return baton_host_refuse(host, KV_NAME " cannot map the %zu "
					 "MiB its regions need: %s",
					 need >> 20, strerror(errno));
	munmap(p, need);
	return 0;
}

/*
 * The conversion is over (or there is none): say what was lost if anything
 * was, mark the v1 region spent (an update from here on lets it go rather
 * than convert it again) and give its memory back, a step at a time.
 * Called after every step of the loop.
 */
static void kv_end_conversion(struct kv_server *srv)
{
#if KVCACHE_VERSION >= 2
	const struct kv_store *st = &srv->store;

	if (srv->drain) {
		size_t size = baton_region_size(srv->drain);
		size_t len = size - srv->drain_off < KV_DRAIN_STEP ?
			     size - srv->drain_off : KV_DRAIN_STEP;

		/* The first page keeps the spent magic to the end. */
		if (len && !fallocate(baton_region_fd(srv->drain),
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      srv->drain_off, len)) {
			srv->drain_off += len;
			return;
		}
		baton_region_release(srv->drain);
		srv->drain = NULL;
	}
	if (!srv->source)
		return;
	kv_lock(srv);
	if (kv_store_migrating(st)) {
		kv_unlock(srv);
		return;
	}
	kv_unlock(srv);
	if (st->src_err.msg[0] || st->src_twins || st->src_dropped)
		fprintf(stderr, KV_NAME ": converting the v1 items: %" PRIu64
			" dropped, %" PRIu64 " keys twice in the v1 region%s%s\n",
			st->src_dropped, st->src_twins,
			st->src_err.msg[0] ? ": " : "", st->src_err.msg);
	memcpy(baton_region_base(srv->source), KV_MAGIC_SPENT,
	       sizeof(KV_MAGIC_SPENT));
	/* Its pages go back now: none mapped again. */
	srv->prefault[1].end = srv->prefault[1].off;
	srv->drain = srv->source;
	srv->drain_off = 4096;
	srv->source = NULL;
#else
	(void)srv;
#endif
}

/* Taken over: the v1 items may come over now, written out of their region. */
static void kv_start_conversion(struct kv_server *srv)
{
#if KVCACHE_VERSION >= 2
	if (srv->source &&
	    kv_store_adopt_v1(&srv->store, baton_region_base(srv->source),
			      baton_region_size(srv->source), srv->fresh))
		fprintf(stderr, KV_NAME ": converting the v1 items: %s\n",
			srv->store.src_err.msg);
#endif
	kv_prefault_start(srv);
	kv_end_conversion(srv);
}

static int listen_on(uint16_t port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(fd, SOMAXCONN)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Say where the server listens, adopted or not: clients and tests wait
 * for this line. */
static int announce(const struct kv_server *srv)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);

	if (getsockname(srv->listen_fd, (struct sockaddr *)&addr, &len))
		return -errno;
	printf(KV_NAME ": listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
	return fflush(stdout) ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " KV_NAME " [--port P] [--memory MiB] [--threads N] "
		"[--control PATH]\n"
		"  --port P        listen on 127.0.0.1:P (default 11211; 0: any)\n"
		"  --memory MiB    item memory, at least 2 (default 64)\n"
		"  --threads N     serve clients with N worker threads, 1 to "
		"64 (default 1:\n"
		"                  the main thread serves them)\n"
		"  --control PATH  the live update runtime's control socket\n");
}

/* A decimal number in [min, max], nothing else. */
static bool parse_num(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out >= min && *out <= max;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "control", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const struct baton_device_info store_info = {
		.addr = { 0, 0, 0x1f, 7 },
		.ids = { KV_STORE_VENDOR, KV_STORE_DEVICE, 0, 0, 0x050000 },
		.orphan = BATON_ORPHAN_QUARANTINE,
		.mandatory = true,
	};
	unsigned long port = 11211, mib = 64, threads = 1;
	unsigned long held_us = KV_HELD_BUDGET_US;
	const char *control = NULL, *budget;
	struct kv_server srv;
	const struct baton_host_opts hopts = {
		.program = KV_NAME " " KVCACHE_RELEASE,
		.argv = argv,
		.prepare = kv_prepare,
		.arg = &srv,
		.dry_run = kv_dry_run,
	};
	struct baton_device *store_dev;
	struct baton_host *host;
	size_t size;
	int opt, fd, ret, status = 1;

	while ((opt = getopt_long(argc, argv, "p:m:c:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (!parse_num(optarg, 0, 65535, &port)) {
				fprintf(stderr, KV_NAME ": --port %s: not a "
					"port number\n", optarg);
				return 2;
			}
			break;
		case 'm':
			if (!parse_num(optarg, KV_REGION_MIN >> 20,
				       SIZE_MAX >> 21, &mib)) {
				fprintf(stderr, KV_NAME ": --memory %s: not a "
					"number of MiB from %zu\n", optarg,
					KV_REGION_MIN >> 20);
				return 2;
			}
			break;
		case 'c':
			control = optarg;
			break;
		case 't':
			if (!parse_num(optarg, 1, KV_MAX_THREADS, &threads)) {
				fprintf(stderr, KV_NAME ": --threads %s: not a "
					"number from 1 to %d\n", optarg,
					KV_MAX_THREADS);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, KV_NAME ": unexpected argument %s\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	budget = getenv("KVCACHE_HELD_BUDGET_US");
	if (budget && !parse_num(budget, 0, 1000000, &held_us)) {
		fprintf(stderr, KV_NAME ": KVCACHE_HELD_BUDGET_US=%s: not a "
			"number of microseconds up to 1000000\n", budget);
		return 2;
	}

	/* Sends use MSG_NOSIGNAL; stdout may be a pipe nobody reads any more. */
	signal(SIGPIPE, SIG_IGN);
	size = (size_t)mib << 20;
	/*
	 * The event loop and the workers' before anything of the update's:
	 * in socket mode the new process starts with the update and waits in
	 * baton_host_create() for the go, so that this (0.6 ms: the server's
	 * and the threads' memory first touched, their epoll and eventfds) is
	 * out of the blackout, not after it.  So are the workers there,
	 * parked until this version has taken over, rather than started
	 * after FINISH while the clients wait; after an exec they would
	 * start in the blackout, and start after FINISH as before.
	 */
	ret = server_init(&srv, control);
	srv.memory = size;
	srv.held_budget_ns = (uint64_t)held_us * 1000;
	srv.next_token = KV_TOKEN_CLIENTS;
	if (!ret)
		ret = kv_threads_init(&srv, threads);
	if (!ret && baton_host_early_start())
		ret = kv_threads_start(&srv);
	if (ret) {
		fprintf(stderr, KV_NAME ": event loop and workers: %s\n",
			strerror(-ret));
		server_release(&srv);
		return 1;
	}
	/* In a dry run this reports and exits; after an update it restores
	 * the store device and takes the regions and fds. */
	ret = baton_host_create(&hopts, &host);
	if (ret) {
		fprintf(stderr, KV_NAME ": live update: %s\n", baton_strerror(ret));
		server_release(&srv);
		return 1;
	}
	srv.host = host;
	if (baton_host_add_device(host, &store_info, &store_dev) ||
	    kv_adopt_items(&srv, size))
		goto out;
	fd = baton_host_take_fd(host, KV_TOKEN_LISTENER);
	if (fd < 0) {
		fd = listen_on(port);
		if (fd >= 0) {
			ret = baton_host_preserve_fd(host, KV_TOKEN_LISTENER, fd,
						     BATON_FD_SOCKET);
			if (ret) {
				close(fd);
				fd = ret;
			}
		}
	}
	ret = fd < 0 ? fd : kv_server_adopt_listener(&srv, fd);
	if (!ret)
		ret = announce(&srv);
	if (ret) {
		fprintf(stderr, KV_NAME ": 127.0.0.1:%lu: %s\n", port,
			baton_strerror(ret));
		goto out;
	}
	kv_adopt_connections(&srv);
	if (control) {
		ret = baton_host_listen(host, control);
		if (!ret && epoll_ctl(srv.epfd, EPOLL_CTL_ADD, baton_host_fd(host),
				      &(struct epoll_event){ .events = EPOLLIN,
							     .data.ptr = &srv.host }))
			ret = -errno;
		if (ret) {
			fprintf(stderr, KV_NAME ": control socket %s: %s\n",
				control, baton_strerror(ret));
			goto out;
		}
	}

	/* Everything adopted: from here on this version owns the items. */
	ret = baton_host_take_over(host);
	if (ret) {
		fprintf(stderr, KV_NAME ": live update: %s\n", baton_strerror(ret));
		goto out;
	}
	for (int i = 0; i < 2; i++)
		if (srv.spent[i])
			baton_region_release(srv.spent[i]);
	kv_start_conversion(&srv);
	/*
	 * The preserved connections' input, held until now, and what their
	 * clients sent during the update: the smallest answered here, right
	 * after FINISH, before the workers go - a client the update held
	 * waits for no worker to get a CPU (on busy cores, tens of
	 * milliseconds) - and the rest by the workers (serve_held()).
	 */
	srv.serving = true;
	serve_held(&srv);
	clients_bury(&srv);
	ret = kv_threads_go(&srv);
	if (ret) {
		fprintf(stderr, KV_NAME ": worker threads: %s\n", strerror(-ret));
		goto out;
	}
	server_run(&srv);
	status = srv.stop ? 0 : 1;
out:
	/* A new version that could not start: the previous one comes back. */
	if (status && baton_host_restored(host)) {
		if (srv.why[0])
			fprintf(stderr, KV_NAME ": %s\n", srv.why);
		baton_host_roll_back(host, srv.why[0] ? srv.why :
				     "kvcache could not take its state over");
	}
	server_release(&srv);
	baton_host_destroy(host);
	return status;
}
