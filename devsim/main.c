// SPDX-License-Identifier: MIT
/**
 * DOC: devsim
 *
 * devsim --dir DIR [--ready-fd N] [--stats FILE] [--status PATH] [--config FILE]
 *        [--device SPEC]...
 *
 * Emulates PCI functions for vfio-user clients (Baton's drivers and tests).
 * SPEC is TYPE@DDDD:BB:DD.F[,OPTION=VALUE]..., TYPE one of edu, pktgen,
 * legacy; a pktgen takes rate=PPS and the faults loss=SEQ, dup=SEQ and
 * reset=SEQ (pktgen.c).  A config file has one SPEC per line, '#' starting
 * a comment.  Lifecycle:
 *
 *  1. parse every option and SPEC (usage errors exit 2 before anything is
 *     created);
 *  2. raise the fd limit (or say it is too low for the devices), create
 *     --stats FILE empty, each device and its DIR/ADDR.sock, then the
 *     status socket (--status PATH, DIR/status.sock by default: several
 *     devsims can serve one DIR, each with a status socket of its own);
 *  3. when all listen, write "ready\n" to --ready-fd and close it, so a
 *     test waits on an event rather than a sleep;
 *  4. run the loop until SIGTERM or SIGINT; then write the status - every
 *     device's counters - to --stats FILE, the witness a test checks the
 *     drivers' counts against; close every client (without counting
 *     resets: devsim is going away), unlink the sockets and exit 0.  Setup
 *     failures, and a FILE that cannot be written, exit 1.
 *
 * The loop (loop.c) is one thread on epoll: device sockets and connections
 * (server.c), the status socket (status.c), a signalfd, and a 1 ms timerfd
 * that is armed only when a device type has a tick (pktgen).  See
 * docs/devsim.md for the devices and the status protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <json-c/json.h>

#include "devsim.h"

/*
 * Devices per process.  Each holds up to DEVSIM_FDS_PER_DEVICE fds; the fd
 * limit, not this, is what usually stops a large devsim (check_fd_limit()).
 * Past a few hundred busy devices one thread cannot keep every pktgen's
 * 1 ms tick: run more devsim processes in one --dir (`baton demo` does).
 */
#define MAX_DEVICES 4096
/* The listening socket, the client, BAR2's memfd, two DMA mappings' files,
 * the interrupt eventfd. */
#define DEVSIM_FDS_PER_DEVICE 6
#define DEVSIM_FDS_OWN 16	/* stdio, epoll, timer, signal, status, stats */

/* ---- Options ---- */

static const struct devsim_type *const types[] = {
	&devsim_edu, &devsim_pktgen, &devsim_legacy,
};

static const char *const fault_names[] = { "loss", "dup", "reset" };

/* A decimal number, 0..@max, all of @arg; whether it is one. */
static bool spec_number(const char *arg, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*arg < '0' || *arg > '9')	/* strtoull takes "-1" and " 1" */
		return false;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* One OPTION=VALUE of a pktgen SPEC into @dev; on error print why, -1. */
static int parse_pktgen_opt(const char *spec, const char *tok, struct devsim_dev *dev)
{
	uint64_t *const fault_at[] = {
		&dev->faults.loss, &dev->faults.dup, &dev->faults.reset,
	};
	const char *eq = strchr(tok, '=');
	size_t len = eq ? (size_t)(eq - tok) : 0;
	uint64_t v;

	if (len == 4 && !strncmp(tok, "rate", 4)) {
		if (!spec_number(eq + 1, UINT32_MAX, &v))
			goto bad;
		dev->rate = (uint32_t)v;
		return 0;
	}
	for (size_t i = 0; eq && i < 3; i++) {
		if (strlen(fault_names[i]) != len || strncmp(tok, fault_names[i], len))
			continue;
		if (!spec_number(eq + 1, UINT64_MAX, &v) || !v) {
			fprintf(stderr, "devsim: %s: bad option '%s' (%s=SEQ: a "
				"packet's sequence number, from 1)\n", spec, tok,
				fault_names[i]);
			return -1;
		}
		if (*fault_at[i]) {
			fprintf(stderr, "devsim: %s: %s given twice\n", spec, fault_names[i]);
			return -1;
		}
		*fault_at[i] = v;
		return 0;
	}
bad:
	fprintf(stderr, "devsim: %s: bad option '%s'\n", spec, tok);
	return -1;
}

/*
 * Faults that cannot all happen: two at one packet, or one after the
 * reset, which stops the device.  On error print why and return -1.
 */
static int check_faults(const char *spec, const struct devsim_faults *f)
{
	const uint64_t at[] = { f->loss, f->dup, f->reset };

	for (size_t i = 0; i < 3; i++) {
		for (size_t j = i + 1; j < 3; j++) {
			if (at[i] && at[i] == at[j]) {
				fprintf(stderr, "devsim: %s: %s and %s at one packet\n",
					spec, fault_names[i], fault_names[j]);
				return -1;
			}
		}
		if (at[i] > f->reset && f->reset) {
			fprintf(stderr, "devsim: %s: %s=%llu comes after reset=%llu, "
				"where the device stops\n", spec, fault_names[i],
				(unsigned long long)at[i], (unsigned long long)f->reset);
			return -1;
		}
	}
	return 0;
}

/* Parse one SPEC into @dev; on error print why and return -1. */
static int parse_spec(const char *spec, struct devsim_dev *dev)
{
	char buf[128], *at, *opts, *tok, *save = NULL;
	size_t tlen;

	if (strlen(spec) >= sizeof(buf))
		goto bad;
	strcpy(buf, spec);
	at = strchr(buf, '@');
	if (!at)
		goto bad;
	*at = '\0';
	tlen = strlen(buf);
	dev->type = NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]->name) == tlen && !strcmp(types[i]->name, buf))
			dev->type = types[i];
	if (!dev->type) {
		fprintf(stderr, "devsim: %s: unknown device type '%s'\n", spec, buf);
		return -1;
	}
	opts = strchr(at + 1, ',');
	if (opts)
		*opts++ = '\0';
	if (baton_pci_addr_parse(at + 1, &dev->addr)) {
		fprintf(stderr, "devsim: %s: bad address '%s' (DDDD:BB:DD.F)\n",
			spec, at + 1);
		return -1;
	}
	baton_pci_addr_format(&dev->addr, dev->name);
	dev->rate = DEVSIM_DEFAULT_RATE;
	for (tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (dev->type != &devsim_pktgen) {
			fprintf(stderr, "devsim: %s: bad option '%s' (%s takes none)\n",
				spec, tok, dev->type->name);
			return -1;
		}
		if (parse_pktgen_opt(spec, tok, dev))
			return -1;
	}
	return check_faults(spec, &dev->faults);
bad:
	fprintf(stderr, "devsim: bad device '%s' (TYPE@DDDD:BB:DD.F[,OPTION=VALUE]...)\n",
		spec);
	return -1;
}

static int add_spec(struct devsim *sim, const char *spec)
{
	struct devsim_dev dev = { 0 };

	if (parse_spec(spec, &dev))
		return -1;
	for (unsigned int i = 0; i < sim->ndevs; i++) {
		if (!baton_pci_addr_cmp(&sim->devs[i].addr, &dev.addr)) {
			fprintf(stderr, "devsim: %s: address used twice\n", dev.name);
			return -1;
		}
	}
	if (sim->ndevs == MAX_DEVICES) {
		fprintf(stderr, "devsim: more than %d devices in one devsim: "
			"run another in the same --dir\n", MAX_DEVICES);
		return -1;
	}
	if (sim->ndevs == sim->cap) {
		unsigned int cap = sim->cap ? 2 * sim->cap : 16;
		struct devsim_dev *devs = reallocarray(sim->devs, cap, sizeof(*devs));

		if (!devs) {
			fprintf(stderr, "devsim: out of memory\n");
			return -1;
		}
		sim->devs = devs;
		sim->cap = cap;
	}
	sim->devs[sim->ndevs++] = dev;
	return 0;
}

static int read_config(struct devsim *sim, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	int err = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "devsim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (!err && getline(&line, &cap, f) >= 0) {
		char *s = line, *e;

		lineno++;
		e = strchr(s, '#');
		if (e)
			*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
				 e[-1] == '\r'))
			*--e = '\0';
		if (!*s)
			continue;
		if (add_spec(sim, s)) {
			fprintf(stderr, "devsim: %s:%u: in this line\n", path, lineno);
			err = -1;
		}
	}
	free(line);
	fclose(f);
	return err;
}

static void usage(FILE *f)
{
	fputs("usage: devsim --dir DIR [--ready-fd N] [--stats FILE] [--status PATH]\n"
	      "              [--config FILE] [--device SPEC]...\n"
	      "  SPEC: TYPE@DDDD:BB:DD.F[,OPTION=VALUE]..., TYPE edu|pktgen|legacy\n"
	      "  pktgen's options: rate=PPS, and faults at a packet's sequence\n"
	      "  number: loss=SEQ (not written), dup=SEQ (written twice),\n"
	      "  reset=SEQ (the device resets once its ring is consumed)\n",
	      f);
}

/*
 * --stats FILE: made empty at start, so that a path that cannot be written
 * is an error before anything runs, and an empty file after the run says
 * that devsim did not exit cleanly.
 */
static FILE *stats_open(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		fprintf(stderr, "devsim: --stats %s: %s\n", path, strerror(errno));
	return f;
}

/* devsim's own counters at exit, one JSON line: the status.  0 or -1. */
static int stats_write(struct devsim *sim, FILE *f, const char *path)
{
	struct json_object *st = devsim_status_json(sim);
	int err;

	fprintf(f, "%s\n", json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
	json_object_put(st);
	err = ferror(f) | fclose(f);
	if (err)
		devsim_log("--stats %s: %m", path);
	return err ? -1 : 0;
}

/*
 * Raise the soft fd limit to the hard one, as servers do (the usual soft
 * limit, 1024, is low only for select()), and say up front when even that
 * is too low for the devices: EMFILE half-way through setup, or at a
 * client's accept, would say much less.  0, or -1 with the reason printed.
 */
static int check_fd_limit(unsigned int ndevs)
{
	const unsigned long need = (unsigned long)ndevs * DEVSIM_FDS_PER_DEVICE +
				   DEVSIM_FDS_OWN;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return 0;
	fprintf(stderr, "devsim: %s: %u devices need up to %lu fds, the limit "
		"is %llu (ulimit -n): raise it, or run another devsim in the "
		"same --dir\n", strerror(EMFILE), ndevs, need,
		(unsigned long long)rl.rlim_cur);
	return -1;
}

/* ---- The loop ---- */

struct loop_fds {
	struct devsim_watch timer;
	struct devsim_watch signal;
	struct devsim *sim;
};

static struct loop_fds loop;

static void timer_handle(struct devsim_watch *w, uint32_t events)
{
	uint64_t expirations;

	(void)events;
	if (read(w->fd, &expirations, sizeof(expirations)) < 0)
		return;
	devsim_tick(loop.sim, devsim_now_ns());
}

static void signal_handle(struct devsim_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		loop.sim->stop = true;
}

static int loop_init(struct devsim *sim)
{
	struct itimerspec its = {
		.it_interval = { 0, 1000000 },
		.it_value = { 0, 1000000 },
	};
	bool ticking = false;
	sigset_t mask;

	loop.sim = sim;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -1;
	loop.signal.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop.signal.fd < 0)
		return -1;
	loop.signal.handle = signal_handle;
	if (devsim_watch_add(sim, &loop.signal, EPOLLIN))
		goto err_signal;

	loop.timer.fd = -1;
	for (unsigned int i = 0; i < sim->ndevs; i++)
		ticking |= sim->devs[i].type->tick != NULL;
	if (!ticking)
		return 0;
	loop.timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop.timer.fd < 0)
		goto err_signal;
	loop.timer.handle = timer_handle;
	if (timerfd_settime(loop.timer.fd, 0, &its, NULL) ||
	    devsim_watch_add(sim, &loop.timer, EPOLLIN))
		goto err_timer;
	return 0;

err_timer:
	close(loop.timer.fd);
err_signal:
	close(loop.signal.fd);
	return -1;
}

static void loop_fini(void)
{
	if (loop.timer.fd >= 0)
		close(loop.timer.fd);
	close(loop.signal.fd);
}

static int run(struct devsim *sim)
{
	while (!sim->stop) {
		if (devsim_dispatch(sim, -1) < 0) {
			devsim_log("epoll_wait: %m");
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'D' },
		{ "stats", required_argument, NULL, 's' },
		{ "status", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct devsim sim = { .epfd = -1 };
	const char *dir = NULL, *stats_path = NULL, *status_path = NULL;
	FILE *stats = NULL;
	int ready_fd = -1, opt, status = 2;
	unsigned int made = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'r':
			errno = 0;
			ready_fd = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || ready_fd < 0) {
				fprintf(stderr, "devsim: bad --ready-fd '%s'\n", optarg);
				goto out_usage;
			}
			break;
		case 'c':
			if (read_config(&sim, optarg))
				goto out;
			break;
		case 'D':
			if (add_spec(&sim, optarg))
				goto out;
			break;
		case 's':
			stats_path = optarg;
			break;
		case 'S':
			status_path = optarg;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			goto out_usage;
		}
	}
	if (!dir || optind != argc || !sim.ndevs) {
		if (!sim.ndevs && dir && optind == argc)
			fprintf(stderr, "devsim: no devices\n");
		goto out_usage;
	}

	status = 1;
	if (check_fd_limit(sim.ndevs))
		goto out;
	if (stats_path && !(stats = stats_open(stats_path)))
		goto out;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "devsim: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	sim.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sim.epfd < 0)
		goto out;
	for (; made < sim.ndevs; made++)
		if (devsim_dev_init(&sim, &sim.devs[made], dir))
			goto out_devs;
	if (devsim_status_init(&sim, dir, status_path))
		goto out_devs;
	if (loop_init(&sim)) {
		devsim_log("loop: %m");
		goto out_status;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "ready\n", 6) != 6)
			devsim_log("--ready-fd %d: %m", ready_fd);
		close(ready_fd);
	}
	status = run(&sim) ? 1 : 0;
	/* Before the clients are closed: what the run did, not the shutdown. */
	if (stats) {
		if (stats_write(&sim, stats, stats_path))
			status = 1;
		stats = NULL;
	}

	loop_fini();
out_status:
	devsim_status_fini(&sim);
out_devs:
	while (made)
		devsim_dev_fini(&sim.devs[--made]);
	close(sim.epfd);
out:
	if (stats)
		fclose(stats);
	free(sim.devs);
	return status;
out_usage:
	usage(stderr);
	free(sim.devs);
	return 2;
}
