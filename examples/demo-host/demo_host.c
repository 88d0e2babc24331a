// SPDX-License-Identifier: MIT
/**
 * DOC: demo-host - a program driving live devices, updated live
 *
 *   demo-host-vN (--devsim DIR | --vfio type1|iommufd) --control PATH
 *                [--ready-fd N] [--stats FILE] [--drop-connections]
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
 * devices resume.  pktgen and edu devices are mandatory: an update that
 * cannot hand them to a driver is refused; the legacy device is not.
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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <baton/vfio.h>
#include <baton/vfio_user.h>

#include "demo_host.h"

struct baton_devio *demo_probing;
const char *demo_devsim_dir;
unsigned int demo_device_count;
bool demo_drop_connections;

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

static int device_session(struct baton_device *dev, struct baton_session **out)
{
	char name[BATON_PCI_ADDR_STRLEN];

	return baton_host_session(baton_device_host(dev),
		baton_pci_addr_format(&baton_device_info(dev)->addr, name), out);
}

int demo_preserve_fd(struct baton_device *dev, enum demo_fd_token token, int fd,
		     enum baton_fd_kind kind)
{
	struct baton_session *s;

	return device_session(dev, &s) ?: baton_session_preserve_fd(s, token, fd, kind);
}

int demo_take_fd(struct baton_device *dev, enum demo_fd_token token)
{
	struct baton_session *s;

	return device_session(dev, &s) ?: baton_session_take_fd(s, token);
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

int demo_preserve_connection(struct baton_device *dev, struct baton_devio *io)
{
	enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS];
	int fds[BATON_DEVIO_MAX_FDS];
	unsigned int n = baton_devio_fds(io, fds, kinds);
	int err = 0;

	for (unsigned int i = 0; !err && i < n; i++)
		err = demo_preserve_fd(dev, connection_tokens[i], fds[i], kinds[i]);
	return err;
}

int demo_connection(struct baton_device *dev, struct baton_devio **io, bool *fresh)
{
	int fds[BATON_DEVIO_MAX_FDS];
	unsigned int n = 1;

	fds[0] = demo_take_fd(dev, DEMO_FD_CONNECTION);
	*fresh = fds[0] < 0;
	if (*fresh)
		return open_device(&baton_device_info(dev)->addr, io);
	/* The rest of a VFIO device's fds came with the first; they must be
	 * this device's (baton_vfio_adopt() checks). */
	while (n < BATON_DEVIO_MAX_FDS &&
	       (fds[n] = demo_take_fd(dev, connection_tokens[n])) >= 0)
		n++;
	return backend == BATON_DEVIO_VFIO_USER ? baton_devio_adopt(backend, fds, n, io) :
	       baton_vfio_adopt(&baton_device_info(dev)->addr, backend, fds, n, io);
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
	struct baton_device *dev;
	int err;

	err = open_device(addr, &demo_probing);
	if (err) {
		fprintf(stderr, "demo-host: %s: %s\n", name, baton_strerror(err));
		return err;
	}
	err = baton_devio_pci_ids(demo_probing, &info.ids);
	/* The legacy device may go without a driver; the others may not. */
	info.mandatory = info.ids.device != 0xba71;
	if (!err)
		err = baton_host_add_device(host, &info, &dev);
	if (err == -BATON_ERR_MISSING) {
		fprintf(stderr, "demo-host: %s: no driver\n", name);
		err = 0;
	} else if (err) {
		fprintf(stderr, "demo-host: %s: %s\n", name, baton_strerror(err));
	}
	/* A driver took the handle, or nobody wants the device. */
	if (demo_probing)
		baton_devio_close(demo_probing);
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

/* Every device socket in the devsim directory the host does not have yet. */
static int discover(struct baton_host *host)
{
	DIR *dir = opendir(demo_devsim_dir);
	struct dirent *de;
	int err = 0;

	if (!dir)
		return -errno;
	/* Counted first: what a driver's shared memory is sized for. */
	while ((de = readdir(dir)) != NULL) {
		char name[BATON_PCI_ADDR_STRLEN];

		demo_device_count += device_socket(de->d_name, name);
	}
	rewinddir(dir);
	while (!err && (de = readdir(dir)) != NULL) {
		char name[BATON_PCI_ADDR_STRLEN];
		struct baton_pci_addr addr;

		if (!device_socket(de->d_name, name) ||
		    baton_pci_addr_parse(name, &addr) || baton_host_device(host, &addr))
			continue;	/* not a device, or ours already */
		err = add_device(host, &addr, de->d_name);
	}
	closedir(dir);
	return err;
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
		"--control PATH [--ready-fd N] [--stats FILE] [--drop-connections]\n",
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
		{ 0 },
	};
	const char *program = DEMO_HOST_VERSION == 1 ? "demo-host v1" : "demo-host v2";
	const struct baton_host_opts opts = { .program = program, .argv = argv };
	const char *control = NULL, *stats_path = NULL;
	struct baton_host *host;
	int ready_fd = -1, sigfd, opt, err;
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
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	err = sigfd < 0 ? -errno :
	      (demo_devsim_dir ? discover(host) : discover_vfio(host)) ?:
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
	if (ready_fd >= 0 && !baton_host_restored(host)) {
		(void)!write(ready_fd, "ready\n", 6);
		close(ready_fd);
	}

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
	close(epfd);
	free(watches);
	return err;
}
