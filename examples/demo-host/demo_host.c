// SPDX-License-Identifier: MIT
/**
 * DOC: demo-host - a program driving live devices, updated live
 *
 *   demo-host-vN (--devsim DIR | --vfio type1|iommufd) --control PATH
 *                [--ready-fd N] [--stats FILE] [--drop-connections]
 *                [--optional]
 *
 * It drives the devices devsim serves in DIR (one vfio-user socket per
 * PCI function, docs/devsim.md), or with --vfio the PCI devices bound to
 * vfio-pci, through the kernel's type1 or iommufd interface
 * (docs/vfio.md): the drivers are the same, built on <baton/devio.h>.
 * The drivers built into this version:
 *
 *   version 1: pktgen (pktgen-state v1), edu (edu-state v1), legacy
 *   version 2: nicx - pktgen renamed, pktgen-state v2, reads v1 through a
 *              converter - and edu; no driver for the legacy device
 *
 * and serves Baton's control socket at PATH, so that `baton update` (or
 * `baton demo`, which runs the whole story) replaces it with the other
 * version, live.
 *
 * Start-up, in either version: baton_host_create() restores whatever the
 * previous version handed over; then every device socket in DIR (or VFIO
 * device) that is not already a device of the host (restored, or
 * quarantined) is opened, identified by its config space and added, which
 * probes it
 * cold by id table; then it takes over (baton_host_take_over()), and the
 * devices resume.  After a restore the devices are the host's already,
 * and DIR is read only once it has taken over: reading 1,025 sockets took
 * ~0.45 ms of the blackout, twice (before and after the watch began); a
 * device that appeared in between is probed then, as one that appears
 * later is.  pktgen and edu devices are mandatory: an update that
 * cannot hand them to a driver is refused; the legacy device is not.
 * With --optional they are not either, and their orphan policy is reset:
 * an update that cannot hand one to a driver, or a kexec (baton kexec),
 * which cannot carry its connection, resets it, and it is probed again.
 *
 * After a restore every device not handed to a driver is reported on
 * stderr with the planner's reason ("0000:00:10.0: reset: 3 fds of its
 * session cannot cross a kexec ...").  With --devsim the directory is
 * watched (inotify; its mtime every 100 ms on a kernel without inotify):
 * a device socket that appears later - devsim started again after a
 * kexec, say - is opened and probed as at start-up, and a pktgen driver
 * finds the ring region the kexec carried (pktgen.c).
 *
 * --ready-fd N: on a cold start, "ready" is written there once the control
 * socket listens.  SIGTERM: consume what is in the rings, print one JSON
 * line with each pktgen device's counters, exit.  --stats FILE: that line
 * is also written to FILE (made empty at a cold start), for a test that
 * reads the drivers' own report rather than what `baton demo` made of it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <baton/vfio.h>
#include <baton/vfio_user.h>

#include "demo_host.h"

struct baton_devio *demo_probing;
const char *demo_devsim_dir;
unsigned int demo_device_count;
bool demo_drop_connections;

/* --optional: pktgen and edu devices are not mandatory, and reset. */
static bool optional_devices;

/* --devsim: vfio-user; --vfio: type1 or iommufd. */
static enum baton_devio_backend backend = BATON_DEVIO_VFIO_USER;

/* The tokens of a device handle's fds, in baton_devio_fds() order. */
static const uint64_t connection_tokens[BATON_DEVIO_MAX_FDS] = {
	DEMO_FD_CONNECTION, DEMO_FD_CONNECTION_2, DEMO_FD_CONNECTION_3,
};

static int epfd = -1;

struct watch {
	void (*ready)(void *arg);
	void *arg;
};

/* Indexed by fd: a device's watch is found without a scan. */
static struct watch *watches;
static size_t n_watches;

int demo_session(struct baton_device *dev, struct baton_session **out)
{
	char name[BATON_PCI_ADDR_STRLEN];

	return baton_host_session(baton_device_host(dev),
				  baton_pci_addr_format(&baton_device_info(dev)->addr, name), out);
}

int demo_watch(int fd, void (*ready)(void *arg), void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= n_watches) {
		size_t n = (size_t)fd + 64;
		struct watch *w = reallocarray(watches, n, sizeof(*w));

		if (!w)
			return -ENOMEM;
		memset(w + n_watches, 0, (n - n_watches) * sizeof(*w));
		watches = w;
		n_watches = n;
	}
	if (watches[fd].ready)
		return -EEXIST;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	watches[fd] = (struct watch){ ready, arg };
	return 0;
}

void demo_unwatch(int fd)
{
	if (fd >= 0 && (size_t)fd < n_watches && watches[fd].ready) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		watches[fd] = (struct watch){ 0 };
	}
}

static int socket_path(const struct baton_pci_addr *addr, char *path, size_t len)
{
	char name[BATON_PCI_ADDR_STRLEN];
	int n = snprintf(path, len, "%s/%s.sock", demo_devsim_dir,
			 baton_pci_addr_format(addr, name));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A device opened anew: the kernel (or devsim) resets it. */
static int open_device(const struct baton_pci_addr *addr, struct baton_devio **io)
{
	struct baton_vfu *vfu;
	char path[4096];
	int err;

	if (backend != BATON_DEVIO_VFIO_USER)
		return baton_vfio_open(addr, backend, io);
	err = socket_path(addr, path, sizeof(path)) ?: baton_vfu_connect(path, &vfu);
	return err ? err : baton_devio_vfu(vfu, io);
}

int demo_preserve_connection(struct baton_session *s, struct baton_devio *io)
{
	enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS];
	int fds[BATON_DEVIO_MAX_FDS];
	unsigned int n = baton_devio_fds(io, fds, kinds);
	int err = 0;

	for (unsigned int i = 0; !err && i < n; i++)
		err = baton_session_preserve_fd(s, connection_tokens[i], fds[i], kinds[i]);
	return err;
}

/*
 * The connection to the device at @addr that @s, its session, preserved,
 * adopted; or, with none there (*@fresh), a new one.
 */
static int take_connection(struct baton_session *s, const struct baton_pci_addr *addr,
			   struct baton_devio **io, bool *fresh)
{
	int fds[BATON_DEVIO_MAX_FDS];
	unsigned int n = 1;

	fds[0] = baton_session_take_fd(s, DEMO_FD_CONNECTION);
	*fresh = fds[0] < 0;
	if (*fresh)
		return open_device(addr, io);
	/* The rest of a VFIO device's fds came with the first; they must be
	 * this device's (baton_vfio_adopt() checks). */
	while (n < BATON_DEVIO_MAX_FDS &&
	       (fds[n] = baton_session_take_fd(s, connection_tokens[n])) >= 0)
		n++;
	return backend == BATON_DEVIO_VFIO_USER ? baton_devio_adopt(backend, fds, n, io) :
	       baton_vfio_adopt(addr, backend, fds, n, io);
}

int demo_connection(struct baton_session *s, struct baton_device *dev,
		    struct baton_devio **io, bool *fresh)
{
	return take_connection(s, &baton_device_info(dev)->addr, io, fresh);
}

void demo_release_connection(struct baton_devio *io, bool fresh)
{
	if (fresh)
		baton_devio_close(io);
	else
		baton_devio_forget(io);
}

/* A device's socket: DDDD:BB:DD.F.sock; its address in @name. */
static bool device_socket(const char *file, char *name)
{
	size_t len = strlen(file);

	if (len != BATON_PCI_ADDR_STRLEN - 1 + strlen(".sock") ||
	    strcmp(file + BATON_PCI_ADDR_STRLEN - 1, ".sock"))
		return false;
	memcpy(name, file, BATON_PCI_ADDR_STRLEN - 1);
	name[BATON_PCI_ADDR_STRLEN - 1] = '\0';
	return true;
}

/*
 * Out of fds: say what the devices need against the limit.  Each device
 * holds up to 3 (its connection, interrupt and page) and the host a few of
 * its own; baton_host_create() raised the soft limit to the hard one.
 */
static void fd_limit_why(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	fprintf(stderr, "demo-host: %u devices need up to %u fds, the limit is %llu "
		"(ulimit -n): raise it\n", demo_device_count, 3 * demo_device_count + 32,
		(unsigned long long)rl.rlim_cur);
}

/*
 * Add a device the host does not have yet: open it, identify it, probe.
 * Not one a driver wants, and not mandatory: fine, it is left alone.
 */
static int add_device(struct baton_host *host, const struct baton_pci_addr *addr,
		      const char *name)
{
	struct baton_device_info info = { .addr = *addr,
					  .orphan = BATON_ORPHAN_QUARANTINE };
	char session_name[BATON_PCI_ADDR_STRLEN];
	struct baton_session *session;
	struct baton_device *dev;
	bool fresh = true;
	int err;

	/* A restored host may hold the device's connection still: its device
	 * let go unrestored (a roll-back that could not restore it).  devsim
	 * takes one client a device, and a VFIO device is opened once. */
	err = !baton_host_restored(host) ? open_device(addr, &demo_probing) :
	      baton_host_session(host, baton_pci_addr_format(addr, session_name), &session) ?:
	      take_connection(session, addr, &demo_probing, &fresh);
	if (err) {
		fprintf(stderr, "demo-host: %s: %s\n", name, baton_strerror(err));
		return err;
	}
	err = baton_devio_pci_ids(demo_probing, &info.ids);
	/* The legacy device may go without a driver; the others may not,
	 * unless --optional: then they are reset and probed again. */
	info.mandatory = info.ids.device != 0xba71 && !optional_devices;
	if (info.ids.device != 0xba71 && optional_devices)
		info.orphan = BATON_ORPHAN_RESET;
	if (!err)
		err = baton_host_add_device(host, &info, &dev);
	/* No driver's id table matches (baton_host_add_device()). */
	if (err == -ENOENT) {
		fprintf(stderr, "demo-host: %s: no driver\n", name);
		err = 0;
	} else if (err) {
		fprintf(stderr, "demo-host: %s: %s\n", name, baton_strerror(err));
	}
	/* A driver took the handle, or nobody wants the device. */
	if (demo_probing)
		demo_release_connection(demo_probing, fresh);
	demo_probing = NULL;
	return err;
}

/* Every device bound to vfio-pci the host does not have yet. */
static int discover_vfio(struct baton_host *host)
{
	struct baton_pci_addr *addrs;
	int n = baton_vfio_list(NULL, 0), err = 0;

	if (n <= 0)
		return n;
	addrs = calloc((size_t)n, sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	n = baton_vfio_list(addrs, (size_t)n);
	demo_device_count = n > 0 ? (unsigned int)n : 0;
	for (int i = 0; !err && i < n; i++) {
		char name[BATON_PCI_ADDR_STRLEN];

		if (!baton_host_device(host, &addrs[i]))
			err = add_device(host, &addrs[i],
					 baton_pci_addr_format(&addrs[i], name));
	}
	free(addrs);
	return n < 0 ? n : err;
}

static int addr_cmp(const void *a, const void *b)
{
	return baton_pci_addr_cmp(a, b);
}

/*
 * The device sockets in the devsim directory, read once (a second read of
 * a directory of a thousand sockets cost as much as the first), in order
 * of address: probed in that order, the devices, their sessions and fds
 * are in the image in the order its reader checks in one pass.
 */
static int device_sockets(struct baton_pci_addr **out, size_t *n)
{
	DIR *dir = opendir(demo_devsim_dir);
	struct baton_pci_addr *found = NULL, *grown;
	size_t cap = 0;
	struct dirent *de;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir)) != NULL) {
		char name[BATON_PCI_ADDR_STRLEN];
		struct baton_pci_addr addr;

		if (!device_socket(de->d_name, name) || baton_pci_addr_parse(name, &addr))
			continue;	/* not a device */
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = reallocarray(found, cap, sizeof(*found));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			found = grown;
		}
		found[(*n)++] = addr;
	}
	closedir(dir);
	if (!err && *n)
		qsort(found, *n, sizeof(*found), addr_cmp);
	*out = found;
	return err;
}

static int discover(struct baton_host *host)
{
	struct baton_pci_addr *found;
	size_t n;
	int err = device_sockets(&found, &n);

	/* Counted first: what a driver's shared memory is sized for. */
	demo_device_count = (unsigned int)n;
	for (size_t i = 0; !err && i < n; i++) {
		char name[BATON_PCI_ADDR_STRLEN + sizeof(".sock")];

		if (baton_host_device(host, &found[i]))
			continue;	/* ours already */
		baton_pci_addr_format(&found[i], name);
		strcat(name, ".sock");
		err = add_device(host, &found[i], name);
	}
	free(found);
	return err;
}

/*
 * --devsim DIR watched: a device socket that appears (devsim renames each
 * into place once it listens) is probed as at start-up.  Watched after
 * the first scan (whose devices come first to the fd limit) and scanned
 * again once watched, so that none is missed in between.  With inotify;
 * on a kernel without it, by looking at the directory's mtime every
 * 100 ms.
 */
/* The default session's token of the inotify instance. */
#define DIR_WATCH_TOKEN 1

static struct {
	struct baton_host *host;
	int fd;				/* inotify, or the timerfd */
	struct timespec mtime;		/* without inotify: when last looked */
	bool changed;			/* ... and whether it had changed */
} dir_watch = { .fd = -1 };

/*
 * Each device socket an event names is probed alone: a rescan for each
 * would read a directory of a thousand sockets as many times as they
 * appear.  Only when the kernel dropped events is the directory read.
 */
static void devices_appeared(void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflowed = false;
	ssize_t got;

	(void)arg;
	while ((got = read(dir_watch.fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + got;) {
			const struct inotify_event *ev = (const void *)p;
			char name[BATON_PCI_ADDR_STRLEN];
			struct baton_pci_addr addr;

			p += sizeof(*ev) + ev->len;
			overflowed |= ev->mask & IN_Q_OVERFLOW;
			if (!ev->len || !device_socket(ev->name, name) ||
			    baton_pci_addr_parse(name, &addr) ||
			    baton_host_device(dir_watch.host, &addr))
				continue;
			/* What goes wrong with one device was said; the others go on. */
			demo_device_count++;
			add_device(dir_watch.host, &addr, ev->name);
		}
	}
	if (overflowed)
		discover(dir_watch.host);
}

/*
 * Without inotify.  A change rescans, and so does the look after it: a
 * change in the same clock tick as a look leaves the mtime as it was.
 */
static void dir_looked_at(void *arg)
{
	struct stat st;
	uint64_t ticks;
	bool changed;

	(void)arg;
	if (read(dir_watch.fd, &ticks, sizeof(ticks)) < 0 || stat(demo_devsim_dir, &st))
		return;
	changed = st.st_mtim.tv_sec != dir_watch.mtime.tv_sec ||
		  st.st_mtim.tv_nsec != dir_watch.mtime.tv_nsec;
	dir_watch.mtime = st.st_mtim;
	if (changed || dir_watch.changed)
		discover(dir_watch.host);
	dir_watch.changed = changed;
}

/*
 * Watch --devsim DIR, then look at what is there already if @scan.  The
 * inotify instance is preserved, and a new version watches with the one
 * it inherits: what appeared during the update waits in it, and it is
 * never torn down in an exec - closing one waits for fsnotify's grace
 * period (5-20 ms here), which inside execve() was most of the blackout.
 */
static int watch_dir(struct baton_host *host, bool scan)
{
	const struct itimerspec every = { .it_interval.tv_nsec = 100000000,
					  .it_value.tv_nsec = 100000000 };
	struct stat st;
	int err;

	dir_watch.host = host;
	dir_watch.fd = baton_host_take_fd(host, DIR_WATCH_TOKEN);
	if (dir_watch.fd < 0) {
		dir_watch.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (dir_watch.fd >= 0) {
			if (inotify_add_watch(dir_watch.fd, demo_devsim_dir,
					      IN_MOVED_TO | IN_CREATE) < 0)
				return -errno;
			err = baton_host_preserve_fd(host, DIR_WATCH_TOKEN, dir_watch.fd,
						     BATON_FD_OTHER);
			if (err)
				return err;
		}
	}
	if (dir_watch.fd >= 0)
		return demo_watch(dir_watch.fd, devices_appeared, NULL) ?:
		       (scan ? discover(host) : 0);
	if (errno != ENOSYS)
		return -errno;
	/* A kernel built without inotify (CONFIG_INOTIFY_USER). */
	if (stat(demo_devsim_dir, &st))
		return -errno;
	dir_watch.mtime = st.st_mtim;
	dir_watch.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dir_watch.fd < 0 || timerfd_settime(dir_watch.fd, 0, &every, NULL))
		return -errno;
	return demo_watch(dir_watch.fd, dir_looked_at, NULL) ?: (scan ? discover(host) : 0);
}

/* After a restore: each device not handed to a driver, and why. */
static void report_decisions(const struct baton_host *host)
{
	const struct baton_update_result *r = baton_host_last_update(host);

	for (size_t i = 0; r && i < r->n_decisions; i++) {
		const struct baton_decision *d = &r->decisions[i];
		char name[BATON_PCI_ADDR_STRLEN];

		if (d->action == BATON_ACTION_BIND || d->action == BATON_ACTION_CONVERT)
			continue;
		fprintf(stderr, "demo-host: %s: %s: %s\n",
			baton_pci_addr_format(&d->device->addr, name),
			baton_action_name(d->action), d->reason);
	}
}

/* @line and a newline as the whole of @path; 0, or -1 with errno. */
static int write_line(const char *path, const char *line)
{
	FILE *f = fopen(path, "we");
	int err;

	if (!f)
		return -1;
	fprintf(f, "%s\n", line);
	err = ferror(f);
	/* An error in either is in errno. */
	return fclose(f) || err ? -1 : 0;
}

/*
 * One JSON line: each pktgen device's counters, after the last packets; to
 * stdout, and to --stats FILE.  0, or 1 when FILE cannot be written.
 */
static int print_stats(struct baton_host *host, const char *program,
		       const char *stats_path)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_array();
	struct baton_device *dev = NULL;
	const char *line;
	int err = 0;

	while ((dev = baton_host_next_device(host, dev)) != NULL) {
		char name[BATON_PCI_ADDR_STRLEN];
		json_object *d;

		if (!demo_is_pktgen(dev))
			continue;
		d = demo_pktgen_stats(dev);
		json_object_object_add(d, "address", json_object_new_string(
			baton_pci_addr_format(&baton_device_info(dev)->addr, name)));
		json_object_object_add(d, "driver", json_object_new_string(
			baton_device_driver(dev)->name));
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "program", json_object_new_string(program));
	json_object_object_add(o, "generation",
			       json_object_new_uint64(baton_host_generation(host)));
	json_object_object_add(o, "devices", devs);
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	printf("%s\n", line);
	fflush(stdout);
	if (stats_path && write_line(stats_path, line)) {
		fprintf(stderr, "demo-host: --stats %s: %s\n", stats_path, strerror(errno));
		err = 1;
	}
	json_object_put(o);
	return err;
}

static void usage(void)
{
	fprintf(stderr, "usage: demo-host-v%d (--devsim DIR | --vfio type1|iommufd) "
		"--control PATH [--ready-fd N] [--stats FILE] [--drop-connections] "
		"[--optional]\n",
		DEMO_HOST_VERSION);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "devsim", required_argument, NULL, 'd' },
		{ "vfio", required_argument, NULL, 'v' },
		{ "control", required_argument, NULL, 'c' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "drop-connections", no_argument, NULL, 'D' },
		{ "stats", required_argument, NULL, 's' },
		{ "optional", no_argument, NULL, 'o' },
		{ 0 },
	};
	const char *program = DEMO_HOST_VERSION == 1 ? "demo-host v1" : "demo-host v2";
	const struct baton_host_opts opts = { .program = program, .argv = argv };
	const char *control = NULL, *stats_path = NULL;
	struct baton_host *host;
	int ready_fd = -1, sigfd, opt, err;
	bool restored;
	sigset_t mask;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': demo_devsim_dir = optarg; break;
		case 'v':
			if (!strcmp(optarg, "type1"))
				backend = BATON_DEVIO_VFIO_TYPE1;
			else if (!strcmp(optarg, "iommufd"))
				backend = BATON_DEVIO_VFIO_IOMMUFD;
			else
				usage();
			break;
		case 'c': control = optarg; break;
		case 'r': ready_fd = atoi(optarg); break;
		case 'D': demo_drop_connections = true; break;
		case 's': stats_path = optarg; break;
		case 'o': optional_devices = true; break;
		default: usage();
		}
	}
	/* One source of devices: devsim's directory, or the kernel's VFIO. */
	if (!demo_devsim_dir == (backend == BATON_DEVIO_VFIO_USER) || !control ||
	    optind != argc)
		usage();

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* Drivers watch their interrupts from restore() on. */
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return 1;
	err = baton_host_create(&opts, &host);
	if (err) {
		fprintf(stderr, "demo-host: %s\n", baton_strerror(err));
		return 1;
	}
	report_decisions(host);
	restored = baton_host_restored(host);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	/* Its thousand registrations are torn down after the next update's
	 * FINISH, in the next version, rather than inside the exec. */
	err = sigfd < 0 ? -errno : baton_host_close_after_finish(host, epfd) ?:
	      (!demo_devsim_dir ? discover_vfio(host) :
	       restored ? watch_dir(host, false) : discover(host) ?: watch_dir(host, true)) ?:
	      baton_host_listen(host, control);
	/* A cold start empties --stats FILE: a FILE it cannot write is an
	 * error now rather than at the end, and an old report is gone. */
	if (!err && stats_path && !baton_host_restored(host)) {
		int fd = open(stats_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			fprintf(stderr, "demo-host: --stats %s: %s\n", stats_path,
				strerror(errno));
		err = fd < 0 ? -EINVAL : close(fd);
	}
	if (err) {
		fprintf(stderr, "demo-host: %s\n", baton_strerror(err));
		if (err == -EMFILE)
			fd_limit_why();	/* the last line: what a caller shows */
		/* A new version that cannot start lets the previous one come back. */
		baton_host_roll_back(host, baton_strerror(err));
		baton_host_destroy(host);
		return 1;
	}
	/* Everything found, and all it needs made: this version owns the
	 * devices now.  Whatever can fail comes before this. */
	err = baton_host_take_over(host);
	if (err) {
		fprintf(stderr, "demo-host: %s\n", baton_strerror(err));
		baton_host_destroy(host);
		return 1;
	}
	/* After a restore, --ready-fd names nothing of ours any more. */
	if (ready_fd >= 0 && !restored) {
		(void)!write(ready_fd, "ready\n", 6);
		close(ready_fd);
	}
	/*
	 * The devices a restore brought are driven again; DIR, watched since
	 * before the take-over, is read now, after the blackout.  What goes
	 * wrong with a device found there was said; the others go on.
	 */
	if (restored && demo_devsim_dir)
		discover(host);

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = baton_host_fd(host), .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = epfd, .events = POLLIN },
		};
		struct epoll_event ev[64];
		int n;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents) {
			/*
			 * SIGTERM stays blocked through an update: the next
			 * version inherits the mask, and a SIGTERM sent during
			 * the blackout waits for it, pending, on its signalfd.
			 */
			err = baton_host_dispatch(host);
			if (err == BATON_HANDED_OVER) {
				baton_host_destroy(host);
				return 0;
			}
		}
		n = epoll_wait(epfd, ev, 64, 0);
		for (int i = 0; i < n; i++) {
			const struct watch *w = &watches[ev[i].data.fd];

			/* An earlier one in this batch may have unwatched it. */
			if (w->ready)
				w->ready(w->arg);
		}
	}
	err = print_stats(host, program, stats_path);
	baton_host_destroy(host);
	close(sigfd);
	if (dir_watch.fd >= 0)
		close(dir_watch.fd);
	close(epfd);
	free(watches);
	return err;
}
