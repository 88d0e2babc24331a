// SPDX-License-Identifier: MIT
/*
 * baton demo [--devices N] [--rate PPS] [--packets N] [--mode exec|socket]
 *            [--drop-connections] [--inject FAULT@SEQ[,...]] [--stats DIR]
 *            [--per-devsim N] [--bindir DIR] [--json]
 * baton demo --backend type1|iommufd [--mode exec|socket] [--bindir DIR] [--json]
 *
 * A live update of a program driving live devices, start to finish, with
 * everything checked (docs/demo.md):
 *
 *   1. devsim serves N pktgen devices (1 to 1,024), an edu and a legacy
 *      device over vfio-user - one devsim process per --per-devsim
 *      devices, all in one directory; demo-host-v1 drives them, packets
 *      flow into its rings;
 *   2. `update` to demo-host-v2, whose pktgen driver is called nicx and
 *      writes pktgen-state v2 (converted from v1), and which has no legacy
 *      driver; packets flow on;
 *   3. `update` back to v1, which the preflight refuses: v1 cannot read
 *      pktgen-state v2; v2 runs on, untouched;
 *   4. devsim stops generating, the host drains its rings, and the packets
 *      devsim generated are compared with those the drivers received.
 *
 * The verdict is "ok" when no packet was lost or duplicated, no device was
 * reset, and every decision and outcome was the expected one; exit 0 then,
 * 1 otherwise.  --drop-connections is the control run: the pktgen driver
 * lets its connection close across the update, as a program without Baton
 * would, and devsim resets the devices - the verdict says what that cost.
 *
 * The verdict is ours; the counts it is made of are not.  --stats DIR
 * leaves devsim's and demo-host's own final counters there, each written
 * by that program as it exits, so that a test can check this command's
 * arithmetic against two witnesses instead of trusting it.  --inject has
 * devsim put a fault - a lost packet, a duplicate, a reset - into the
 * first pktgen device's stream, to show that the verdict catches it.
 *
 * --backend type1|iommufd: the same program on real devices, where the
 * kernel's VFIO has them (docs/vfio.md): demo-host-v1 --vfio drives the edu
 * devices bound to vfio-pci with its edu driver - the one that drives
 * devsim's edu - and is updated live to v2 and back (edu-state v1 both
 * ways: the way back is not refused here); the verdict is the decisions,
 * the outcomes and demo-host's exit.  No devsim, no packets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <baton/vfio.h>

#include "cli.h"

static const char demo_usage[] =
	"baton demo [--devices N] [--rate PPS] [--packets N] [--mode exec|socket] "
	"[--drop-connections] [--inject FAULT@SEQ[,...]] [--stats DIR] [--per-devsim N] "
	"[--bindir DIR] [--json]\n"
	"       baton demo --backend type1|iommufd [--mode exec|socket] [--bindir DIR] [--json]";

#define MAX_PKTGEN	1024	/* the host's DMA pool has 1,024 rings */
#define PER_DEVSIM	256	/* devices one devsim process serves, by default */
#define START_MS	10000	/* for a process to say it is ready... */
#define START_MS_DEV	20	/* ...and this much more per device */
#define UPDATE_MS	10000	/* for the dry run, and a socket-mode restore */
#define SPEC_MAX	160	/* a pktgen SPEC with its rate and three faults */
#define SHOW_DEVICES	12	/* devices listed one per line, at most */

struct demo_args {
	const char *devices, *rate, *packets, *per_devsim;
	const char *mode;
	const char *backend;		/* NULL: devsim */
	const char *bindir;
	const char *inject, *stats;
	unsigned int injects;		/* how many times --inject was given */
	bool drop;
	bool json;
};

enum device_type { PKTGEN, EDU, LEGACY };

struct device {
	char address[BATON_PCI_ADDR_STRLEN];
	enum device_type type;
};

/*
 * One devsim process: devsim 0 serves the first --per-devsim pktgen
 * devices, the edu and the legacy device, each next one the next
 * --per-devsim pktgen devices; all in one directory, each with a status
 * socket, a log and --stats file of its own (status.sock, devsim.log and
 * devsim.json for devsim 0, as with one; status-K.sock, devsim-K.log and
 * devsim-K.json for devsim K).
 */
struct devsim_proc {
	pid_t pid;
	char status_sock[PATH_MAX];
	char stats[PATH_MAX];
};

struct demo {
	struct demo_args a;
	long n_pktgen, rate, packets, per_devsim;
	char dir[64];
	char devsim[PATH_MAX], host_v1[PATH_MAX], host_v2[PATH_MAX];
	char control_sock[PATH_MAX];
	char faults[SPEC_MAX];		/* --inject, as devsim's SPEC options */
	char stats_dir[PATH_MAX], host_stats[PATH_MAX];		/* --stats */
	struct device *devices;
	size_t n_devices;
	struct devsim_proc *sims;
	size_t n_sims;
	pid_t host_pid;
	int host_out;			/* the host's stdout: its final counters */
	json_object *updates;		/* what `--json` reports */
	json_object *result;		/* ... and the counts, once made */
	bool expected;			/* every decision and outcome as expected */
	bool counted;			/* nothing lost, duplicated or reset */
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct demo_args *a = ctx;

	switch (opt) {
	case 'n': a->devices = arg; break;
	case 'r': a->rate = arg; break;
	case 'p': a->packets = arg; break;
	case 'm': a->mode = arg; break;
	case 'b': a->bindir = arg; break;
	case 'D': a->drop = true; break;
	case 'i': a->inject = arg; a->injects++; break;
	case 's': a->stats = arg; break;
	case 'P': a->per_devsim = arg; break;
	case 'B': a->backend = arg; break;
	}
}

static const struct option longopts[] = {
	{ "devices", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, 'r' },
	{ "packets", required_argument, NULL, 'p' },
	{ "mode", required_argument, NULL, 'm' },
	{ "bindir", required_argument, NULL, 'b' },
	{ "drop-connections", no_argument, NULL, 'D' },
	{ "inject", required_argument, NULL, 'i' },
	{ "stats", required_argument, NULL, 's' },
	{ "per-devsim", required_argument, NULL, 'P' },
	{ "backend", required_argument, NULL, 'B' },
	{ 0 },
};

/* Human output, unless --json. */
static void say(const struct demo *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct demo *d, const char *fmt, ...)
{
	va_list ap;

	if (d->a.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/*
 * @name in --bindir, next to baton (installed), or in the build tree; as
 * an absolute path, since the program execs it from wherever it runs.
 */
static int locate(const struct demo *d, const char *name, const char *build_subdir,
		  char *out)
{
	char self[PATH_MAX], path[PATH_MAX + 64], *slash;
	ssize_t n;

	if (d->a.bindir) {
		snprintf(path, sizeof(path), "%s/%s", d->a.bindir, name);
		if (access(path, X_OK) || !realpath(path, out))
			return cli_failf(path, "%s", strerror(errno));
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return cli_failf("/proc/self/exe", "%s", strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/%s", self, name);
	if (!access(path, X_OK) && realpath(path, out))
		return 0;
	/* build/tools/baton -> build/<build_subdir>/<name> */
	snprintf(path, sizeof(path), "%s/../%s/%s", self, build_subdir, name);
	if (!access(path, X_OK) && realpath(path, out))
		return 0;
	return cli_failf(name, "not found next to baton nor in the build tree; "
			 "give --bindir");
}

/*
 * Start @argv with fd 3 the write end of a pipe the child says "ready" on,
 * stdout to @out_fd (or the log), stderr to the log.  Returns the pid and
 * the pipe's read end in *@ready, or -errno.
 */
static pid_t spawn(char *const argv[], const char *log, int out_fd, int *ready)
{
	posix_spawn_file_actions_t fa;
	int p[2], log_fd, err;
	pid_t pid;

	log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return -errno;
	if (pipe2(p, O_CLOEXEC)) {
		err = errno;
		close(log_fd);
		return -err;
	}
	posix_spawn_file_actions_init(&fa);
	/* fd 3 last: until then it may be the log's (p[1] never is). */
	posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : log_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
	posix_spawn_file_actions_adddup2(&fa, p[1], 3);
	/* It returns the error; errno is not set. */
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	close(log_fd);
	if (err) {
		close(p[0]);
		return -err;
	}
	*ready = p[0];
	return pid;
}

/*
 * Signal @pid (0: none, it ends on its own) and reap it, waiting at most @ms
 * (on its pidfd, not a sleep), then killing it.  Returns its wait status,
 * or -1.
 */
static int stop(pid_t pid, int sig, int ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status = -1;

	if (kill(pid, sig) == 0 && pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		if (poll(&p, 1, ms) != 1)
			kill(pid, SIGKILL);
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* A wait status as reap logs it: "exit N" or "signal N". */
static const char *ended(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "unknown");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	return buf;
}

static json_object *devsim_ask(const struct demo *d, size_t k, const char *request, int ms)
{
	json_object *ans = NULL;

	if (cli_ask(d->sims[k].status_sock, request, ms, &ans))
		return NULL;
	if (cli_json_str(ans, "error")) {
		cli_failf(d->sims[k].status_sock, "%s: %s", request, cli_json_str(ans, "error"));
		json_object_put(ans);
		return NULL;
	}
	return ans;
}

/* Let @packets more packets per device flow, on devsim's word. */
static int let_traffic_flow(struct demo *d, long *target)
{
	char req[64];
	json_object *ans;
	int ms = (int)(*target / d->rate * 1000 * 4 + 10000);

	*target += d->packets;
	snprintf(req, sizeof(req), "wait-generated %ld %d", *target, ms);
	/* One after the other: each devsim's devices were generating meanwhile. */
	for (size_t k = 0; k < d->n_sims; k++) {
		ans = devsim_ask(d, k, req, ms + 2000);
		if (!ans)
			return EXIT_VERDICT;
		json_object_put(ans);
	}
	say(d, "  traffic: %ld packets per pktgen device so far\n", *target);
	return 0;
}

static const struct device *device_at(const struct demo *d, const char *address)
{
	for (size_t i = 0; address && i < d->n_devices; i++)
		if (!strcmp(d->devices[i].address, address))
			return &d->devices[i];
	return NULL;
}

/*
 * What each update must decide, per device type: to v2, pktgen converted
 * for nicx, edu bound, legacy quarantined; back to v1, the pktgen state
 * (v2) unreadable - so refused - while edu and legacy would bind.
 */
static bool decision_expected(const struct device *dev, bool to_v2,
			      const char *action, const char *driver)
{
	static const char *const want[2][3][2] = {
		/* to v1 */ { { "quarantine", NULL }, { "bind", "edu" }, { "bind", "legacy" } },
		/* to v2 */ { { "convert", "nicx" }, { "bind", "edu" }, { "quarantine", NULL } },
	};
	const char *const *w = want[to_v2][dev->type];

	return action && !strcmp(action, w[0]) &&
	       (w[1] ? driver && !strcmp(driver, w[1]) : !driver);
}

/* Ask for an update to @target; check and print what came back. */
static int update(struct demo *d, const char *from, const char *to,
		  const char *target, const char *expect_outcome)
{
	const bool to_v2 = !strcmp(to, "demo-host v2");
	json_object *req = json_object_new_object(), *ans = NULL, *decisions, *u, *out;
	const char *outcome;
	bool ok;
	int err;

	say(d, "\n== update %s -> %s (%s mode)\n", from, to, d->a.mode);
	json_object_object_add(req, "cmd", json_object_new_string("update"));
	json_object_object_add(req, "target", json_object_new_string(target));
	json_object_object_add(req, "mode", json_object_new_string(d->a.mode));
	json_object_object_add(req, "timeout_ms", json_object_new_int(UPDATE_MS));
	err = cli_ask_json(d->control_sock, req, 2 * UPDATE_MS + 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	outcome = cli_json_str(ans, "outcome");
	ok = outcome && !strcmp(outcome, expect_outcome);
	out = json_object_new_array();
	decisions = cli_json_member(ans, "decisions");
	for (size_t i = 0; decisions && i < json_object_array_length(decisions); i++) {
		json_object *dj = json_object_array_get_idx(decisions, i), *o;
		const char *address = cli_json_str(dj, "address");
		const char *action = cli_json_str(dj, "action");
		const char *driver = cli_json_str(dj, "driver");
		const struct device *dev = device_at(d, address);
		bool right = dev && decision_expected(dev, to_v2, action, driver);

		ok &= right;
		/* At scale, the first few and every one not as expected. */
		if (i < SHOW_DEVICES || !right)
			say(d, "  %s  %-10s %-7s %s%s\n", address, action, driver ? driver : "-",
			    cli_json_str(dj, "reason"), right ? "" : "   <- NOT EXPECTED");
		else if (i == SHOW_DEVICES)
			say(d, "  ... (%zu devices in all; only those not as expected below)\n",
			    json_object_array_length(decisions));
		o = json_object_new_object();
		json_object_object_add(o, "address", json_object_new_string(address));
		json_object_object_add(o, "action", json_object_new_string(action));
		json_object_object_add(o, "driver", driver ? json_object_new_string(driver) : NULL);
		json_object_object_add(o, "reason", json_object_get(cli_json_member(dj, "reason")));
		json_object_array_add(out, o);
	}
	ok &= decisions && json_object_array_length(decisions) == d->n_devices;
	d->expected &= ok;
	if (cli_json_member(ans, "blackout_ms"))
		say(d, "  %s: blackout %.3f ms%s\n", outcome,
		    json_object_get_double(cli_json_member(ans, "blackout_ms")),
		    ok ? "" : "   <- NOT EXPECTED");
	else
		say(d, "  %s%s%s%s\n", outcome ? outcome : "no outcome",
		    cli_json_str(ans, "error") ? ": " : "",
		    cli_json_str(ans, "error") ? cli_json_str(ans, "error") : "",
		    ok ? "" : "   <- NOT EXPECTED");
	u = json_object_new_object();
	json_object_object_add(u, "from", json_object_new_string(from));
	json_object_object_add(u, "to", json_object_new_string(to));
	json_object_object_add(u, "outcome", outcome ? json_object_new_string(outcome) : NULL);
	json_object_object_add(u, "blackout_ms",
			       json_object_get(cli_json_member(ans, "blackout_ms")));
	json_object_object_add(u, "decisions", out);
	json_object_array_add(d->updates, u);
	json_object_put(ans);
	return 0;
}

/* The running program, by its control socket: name, generation and pid. */
static int host_status(struct demo *d, const char *expect_program, long expect_generation)
{
	json_object *req = json_object_new_object(), *ans = NULL;
	const char *program;
	long generation;
	pid_t pid;
	int err;

	json_object_object_add(req, "cmd", json_object_new_string("status"));
	err = cli_ask_json(d->control_sock, req, 5000, &ans);
	json_object_put(req);
	if (err)
		return err;
	program = cli_json_str(ans, "program");
	generation = json_object_get_int64(cli_json_member(ans, "generation"));
	pid = json_object_get_int(cli_json_member(ans, "pid"));
	/*
	 * Socket mode: the new process is the old one's child until the old
	 * one exits, on its own once the new one has finished, and then ours
	 * (a subreaper's) to stop and wait for at the end.  The old one is
	 * waited for now - under ASan and load its exit took seconds, and the
	 * end found a new process that was not yet ours.
	 */
	if (d->host_pid > 0 && pid > 0 && pid != d->host_pid) {
		int old = stop(d->host_pid, 0, 5000);
		char how[32];

		if (old != 0) {
			say(d, "  the previous process: %s   <- NOT EXPECTED\n",
			    ended(old, how, sizeof(how)));
			d->expected = false;
		}
	}
	d->host_pid = pid;
	if (!program || strcmp(program, expect_program) || generation != expect_generation) {
		say(d, "  running: %s, generation %ld   <- NOT EXPECTED\n",
		    program ? program : "?", generation);
		d->expected = false;
	} else {
		say(d, "  running: %s, generation %ld, pid %d\n", program, generation,
		    (int)d->host_pid);
	}
	json_object_put(ans);
	return 0;
}

/*
 * Wait for @name to say "ready" on @ready; 0, or why not - with the last
 * line of @log when it exited first (devsim's reason for a bad option).
 */
static int not_ready(const char *name, int ready, const char *log, int ms)
{
	char line[512] = "", last[512] = "";
	int got = cli_read_line(ready, ms, line, sizeof(line));
	FILE *f;

	close(ready);
	if (got == 1)
		return 0;
	if (got < 0)
		return cli_failf(name, "not ready within %d ms (see %s)", ms, log);
	f = fopen(log, "re");
	while (f && fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	if (f)
		fclose(f);
	last[strcspn(last, "\n")] = '\0';
	return cli_failf(name, "exited before it was ready (see %s)%s%s", log,
			 *last ? ": " : "", last);
}

/* devsim @k's file @base ("devsim", "status") with @ext: devsim 0's as with
 * one devsim, the others' with -K. */
static void sim_path(const struct demo *d, const char *dir, size_t k, const char *base,
		     const char *ext, char *out)
{
	/* dir is short (d->dir, or --stats DIR checked by stats_paths()). */
	int n = k ? snprintf(out, PATH_MAX, "%s/%s-%zu%s", dir, base, k, ext) :
		    snprintf(out, PATH_MAX, "%s/%s%s", dir, base, ext);

	if (n < 0 || n >= PATH_MAX)
		out[0] = '\0';
	(void)d;
}

/* devsim @k's devices, one SPEC a line, into its --config file @path. */
static int write_config(struct demo *d, size_t k, const char *path)
{
	static const char *const types[] = { "pktgen", "edu", "legacy" };
	FILE *f = fopen(path, "we");
	int err;

	if (!f)
		return cli_failf(path, "%s", strerror(errno));
	for (size_t i = 0; i < d->n_devices; i++) {
		const struct device *dev = &d->devices[i];
		size_t owner = dev->type == PKTGEN ? i / (size_t)d->per_devsim : 0;

		if (owner != k)
			continue;
		fprintf(f, "%s@%s", types[dev->type], dev->address);
		if (dev->type == PKTGEN)
			fprintf(f, ",rate=%ld%s", d->rate, i == 0 ? d->faults : "");
		fputc('\n', f);
	}
	err = ferror(f);
	if (fclose(f) || err)
		return cli_failf(path, "%s", strerror(errno));
	return 0;
}

/* The devices, and their addresses: pktgen N at 0000:01:NN.0 for the first
 * 32, then 32 a bus from 0000:11:00.0; the edu and the legacy device. */
static int make_devices(struct demo *d)
{
	d->devices = calloc((size_t)d->n_pktgen + 2, sizeof(*d->devices));
	if (!d->devices)
		return cli_failf("demo", "%s", strerror(ENOMEM));
	for (unsigned i = 0; i < (unsigned)d->n_pktgen; i++) {
		struct device *dev = &d->devices[d->n_devices++];
		const uint8_t bus = (uint8_t)(i < 32 ? 1 : 0x10 + i / 32), slot = i % 32;

		snprintf(dev->address, sizeof(dev->address), "0000:%02x:%02x.0", bus, slot);
		dev->type = PKTGEN;
	}
	d->devices[d->n_devices++] = (struct device){ "0000:02:00.0", EDU };
	d->devices[d->n_devices++] = (struct device){ "0000:03:00.0", LEGACY };
	return 0;
}

/* A sysfs attribute of PCI device @address, a number ("0x1234\n"). */
static long pci_attr(const char *address, const char *attr)
{
	char path[PATH_MAX], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", address, attr);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] ? strtol(buf, NULL, 16) : -1;
}

/* --backend: the edu devices bound to vfio-pci, which demo-host drives. */
static int vfio_devices(struct demo *d)
{
	struct baton_pci_addr *addrs;
	int n = baton_vfio_list(NULL, 0);

	if (n < 0)
		return cli_failf("/sys/bus/pci", "%s", strerror(-n));
	addrs = calloc((size_t)n + 1, sizeof(*addrs));
	d->devices = calloc((size_t)n + 1, sizeof(*d->devices));
	if (!addrs || !d->devices) {
		free(addrs);
		return cli_failf("demo", "%s", strerror(ENOMEM));
	}
	n = baton_vfio_list(addrs, (size_t)n);
	for (int i = 0; i < n; i++) {
		struct device *dev = &d->devices[d->n_devices];

		baton_pci_addr_format(&addrs[i], dev->address);
		/* The demo's drivers have ids of devsim's devices, and edu's. */
		if (pci_attr(dev->address, "vendor") == 0x1234 &&
		    pci_attr(dev->address, "device") == 0x11e8) {
			dev->type = EDU;
			d->n_devices++;
		}
	}
	free(addrs);
	if (!d->n_devices)
		return cli_failf("demo", "no edu device is bound to vfio-pci (docs/vfio.md)");
	return 0;
}

/* Every devsim, each ready before the next starts. */
static int start_devsims(struct demo *d)
{
	char log[PATH_MAX], conf[PATH_MAX], ready_arg[] = "3";
	int ready, err;

	d->n_sims = ((size_t)d->n_pktgen + (size_t)d->per_devsim - 1) / (size_t)d->per_devsim;
	d->sims = calloc(d->n_sims, sizeof(*d->sims));
	if (!d->sims)
		return cli_failf("demo", "%s", strerror(ENOMEM));
	for (size_t k = 0; k < d->n_sims; k++) {
		struct devsim_proc *sim = &d->sims[k];
		char *argv[16];
		size_t n = 0;

		sim_path(d, d->dir, k, "status", ".sock", sim->status_sock);
		sim_path(d, d->dir, k, "devsim", ".conf", conf);
		sim_path(d, d->dir, k, "devsim", ".log", log);
		err = write_config(d, k, conf);
		if (err)
			return err;
		argv[n++] = d->devsim;
		argv[n++] = "--dir";
		argv[n++] = d->dir;
		argv[n++] = "--ready-fd";
		argv[n++] = ready_arg;
		argv[n++] = "--status";
		argv[n++] = sim->status_sock;
		argv[n++] = "--config";
		argv[n++] = conf;
		if (d->a.stats) {
			sim_path(d, d->stats_dir, k, "devsim", ".json", sim->stats);
			argv[n++] = "--stats";
			argv[n++] = sim->stats;
		}
		argv[n] = NULL;
		sim->pid = spawn(argv, log, -1, &ready);
		if (sim->pid < 0) {
			err = -sim->pid;
			sim->pid = 0;
			return cli_failf(d->devsim, "cannot start: %s", strerror(err));
		}
		err = not_ready(d->devsim, ready, log, START_MS);
		if (err)
			return err;
	}
	return 0;
}

static int start(struct demo *d)
{
	char *argv[16], log[PATH_MAX], ready_arg[] = "3";
	int ready, out[2], err;
	size_t n = 0;

	err = d->a.backend ? 0 : make_devices(d) ?: start_devsims(d);
	if (err)
		return err;
	if (d->a.backend)
		say(d, "VFIO (%s): %zu edu devices bound to vfio-pci\n", d->a.backend,
		    d->n_devices);
	else
		say(d, "devsim: %zu devices over vfio-user in %s%s", d->n_devices, d->dir,
		    d->n_sims > 1 ? "" : "\n");
	if (d->n_sims > 1)
		say(d, ", %zu devsim processes\n", d->n_sims);
	for (size_t i = 0; i < d->n_devices; i++) {
		static const char *const what[] = { "pktgen", "edu", "legacy" };

		if (i < SHOW_DEVICES || i >= d->n_devices - 2)
			say(d, "  %s  %s\n", d->devices[i].address, what[d->devices[i].type]);
		else if (i == SHOW_DEVICES)
			say(d, "  ... %zu more pktgen\n", d->n_devices - 2 - SHOW_DEVICES);
	}

	argv[n++] = d->host_v1;
	argv[n++] = d->a.backend ? "--vfio" : "--devsim";
	argv[n++] = d->a.backend ? (char *)d->a.backend : d->dir;
	argv[n++] = "--control";
	argv[n++] = d->control_sock;
	argv[n++] = "--ready-fd";
	argv[n++] = ready_arg;
	if (d->a.drop)
		argv[n++] = "--drop-connections";
	if (d->a.stats) {
		argv[n++] = "--stats";
		argv[n++] = d->host_stats;
	}
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC))
		return cli_failf("pipe", "%s", strerror(errno));
	snprintf(log, sizeof(log), "%s/host.log", d->dir);
	d->host_pid = spawn(argv, log, out[1], &ready);
	close(out[1]);
	d->host_out = out[0];
	if (d->host_pid < 0)
		return cli_failf(d->host_v1, "cannot start: %s", strerror(-d->host_pid));
	err = not_ready(d->host_v1, ready, log,
			START_MS + START_MS_DEV * (int)d->n_devices);
	if (err)
		return err;
	if (d->a.backend)
		say(d, "demo-host v1: driving them, pid %d\n", (int)d->host_pid);
	else
		say(d, "demo-host v1: driving them, pid %d, %ld packets/s per pktgen device%s\n",
		    (int)d->host_pid, d->rate,
		    d->a.drop ? "\n  (control run: the pktgen driver drops its connections)" :
		    "");
	return 0;
}

/* A pktgen device's counters in the host's final report, or NULL. */
static json_object *host_device(json_object *report, const char *address)
{
	json_object *devs = cli_json_member(report, "devices");

	for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
		json_object *o = json_object_array_get_idx(devs, i);

		if (address && cli_json_str(o, "address") &&
		    !strcmp(cli_json_str(o, "address"), address))
			return o;
	}
	return NULL;
}

static uint64_t u64(json_object *o, const char *key)
{
	return (uint64_t)json_object_get_int64(cli_json_member(o, key));
}

/* Stop the traffic, drain, count: devsim's counters against the drivers'. */
static int account(struct demo *d)
{
	json_object *final, *report, *devs, *packets, *per_device;
	uint64_t generated = 0, received = 0, duplicated = 0, bad = 0, resets = 0;
	/* The drivers' report: ~150 bytes a device. */
	const size_t line_max = 4096 + 256 * d->n_devices;
	char *line;
	size_t shown = 0;
	bool ok;

	say(d, "\n== accounting\n");
	/* Every devsim's devices, in one list: the status of each, paused. */
	final = json_object_new_object();
	devs = json_object_new_array();
	json_object_object_add(final, "devices", devs);
	for (size_t k = 0; k < d->n_sims; k++) {
		json_object *st = devsim_ask(d, k, "pause", 5000), *list;

		if (!st) {
			json_object_put(final);
			return EXIT_VERDICT;
		}
		list = cli_json_member(st, "devices");
		for (size_t i = 0; list && i < json_object_array_length(list); i++)
			json_object_array_add(devs, json_object_get(
				json_object_array_get_idx(list, i)));
		json_object_put(st);
	}
	kill(d->host_pid, SIGTERM);
	line = malloc(line_max);
	if (!line || cli_read_line(d->host_out, 10000, line, line_max) != 1 ||
	    !(report = cli_parse_untrusted(line))) {
		free(line);
		json_object_put(final);
		if (waitpid(d->host_pid, NULL, WNOHANG) != d->host_pid)
			return cli_failf("demo-host", "no final report within 10 s of SIGTERM");
		d->host_pid = 0;
		return cli_failf("demo-host", "exited on SIGTERM without its final report");
	}
	free(line);
	per_device = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *h, *o;
		const char *address = cli_json_str(dev, "address");
		uint64_t gen, rx, dup;

		resets += u64(dev, "resets");
		if (strcmp(cli_json_str(dev, "type") ? cli_json_str(dev, "type") : "", "pktgen"))
			continue;
		h = host_device(report, address);
		gen = u64(dev, "generated");
		rx = h ? u64(h, "received") : 0;
		dup = h ? u64(h, "duplicated") : 0;
		generated += gen;
		received += rx;
		duplicated += dup;
		bad += h ? u64(h, "bad_payload") : 0;
		o = json_object_new_object();
		json_object_object_add(o, "address", json_object_new_string(address));
		json_object_object_add(o, "generated", json_object_new_uint64(gen));
		json_object_object_add(o, "received", json_object_new_uint64(rx));
		json_object_object_add(o, "duplicated", json_object_new_uint64(dup));
		json_object_object_add(o, "resets", json_object_new_uint64(u64(dev, "resets")));
		json_object_array_add(per_device, o);
		if (shown++ == SHOW_DEVICES)
			say(d, "  ... (the others alike)\n");
		if (shown > SHOW_DEVICES && rx == gen && !dup && !u64(dev, "resets"))
			continue;
		say(d, "  %s  generated %-8" PRIu64 " received %-8" PRIu64
		    " ring-full drops %-4" PRIu64 " lost at reset %-4" PRIu64 " resets %" PRIu64 "\n",
		    address, gen, rx, u64(dev, "dropped"), u64(dev, "lost_on_reset"),
		    u64(dev, "resets"));
	}
	json_object_put(final);
	json_object_put(report);

	ok = d->expected && generated > 0 && received == generated && !duplicated &&
	     !bad && !resets;
	say(d, "  packets: generated %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64
	    ", duplicated %" PRIu64 "; device resets: %" PRIu64 "\n",
	    generated, received, generated - received, duplicated, resets);

	d->counted = ok;
	d->result = json_object_new_object();
	packets = json_object_new_object();
	json_object_object_add(packets, "generated", json_object_new_uint64(generated));
	json_object_object_add(packets, "received", json_object_new_uint64(received));
	json_object_object_add(packets, "lost", json_object_new_uint64(generated - received));
	json_object_object_add(packets, "duplicated", json_object_new_uint64(duplicated));
	json_object_object_add(d->result, "packets", packets);
	json_object_object_add(d->result, "device_resets", json_object_new_uint64(resets));
	json_object_object_add(d->result, "devices", per_device);
	json_object_object_add(d->result, "updates", json_object_get(d->updates));
	return 0;
}

/* --backend: no packets to count; the decisions and outcomes are all. */
static int vfio_account(struct demo *d)
{
	d->counted = d->expected;
	d->result = json_object_new_object();
	json_object_object_add(d->result, "backend", json_object_new_string(d->a.backend));
	json_object_object_add(d->result, "updates", json_object_get(d->updates));
	return 0;
}

/*
 * The end: demo-host (told to report by account()) and devsim must both
 * exit 0 - devsim writes --stats FILE as it does - or the verdict is
 * failed whatever the counts said.  We reap them, so only we can say.
 */
static int verdict(struct demo *d)
{
	const int host = stop(d->host_pid, SIGTERM, 5000);
	int devsim = 0;
	bool ok;
	json_object *exits = json_object_new_object();
	char h[32], s[32];

	/* With several, "devsim" is how the first that did not exit 0 ended. */
	for (size_t k = 0; k < d->n_sims; k++) {
		int status = stop(d->sims[k].pid, SIGTERM, 5000);

		d->sims[k].pid = 0;
		if (!devsim)
			devsim = status;
	}
	ok = d->counted && host == 0 && devsim == 0;
	d->host_pid = 0;
	say(d, "  exits: demo-host %s, devsim %s%s\n", ended(host, h, sizeof(h)),
	    ended(devsim, s, sizeof(s)), host || devsim ? "   <- NOT EXPECTED" : "");
	say(d, "\nverdict: %s\n", !ok ? "FAILED - see above" : d->a.backend ?
	    "ok - real devices through VFIO, updated live there and back, each "
	    "restored by its driver from the device as it was left" :
	    "ok - updated live to a renamed driver and a new state format, the way "
	    "back refused; no packet lost or duplicated, no device reset");
	json_object_object_add(exits, "demo-host", json_object_new_string(h));
	json_object_object_add(exits, "devsim", json_object_new_string(s));
	json_object_object_add(d->result, "exits", exits);
	json_object_object_add(d->result, "devsims", json_object_new_uint64(d->n_sims));
	/* The verdict first, where it always was. */
	if (d->a.json) {
		json_object *out = json_object_new_object();

		json_object_object_add(out, "verdict", json_object_new_string(ok ? "ok" : "failed"));
		json_object_object_foreach(d->result, key, val)
			json_object_object_add(out, key, json_object_get(val));
		cli_json_print(out);
	}
	return ok ? EXIT_OK : EXIT_VERDICT;
}

static void cleanup(struct demo *d, bool keep)
{
	char path[PATH_MAX];

	if (d->host_pid > 0)
		stop(d->host_pid, SIGTERM, 5000);
	for (size_t k = 0; k < d->n_sims; k++)
		if (d->sims[k].pid > 0)
			stop(d->sims[k].pid, SIGTERM, 5000);
	if (d->host_out >= 0)
		close(d->host_out);
	if (keep) {
		fprintf(stderr, "baton: demo: logs kept in %s\n", d->dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/host.log", d->dir);
	unlink(path);
	for (size_t k = 0; k < d->n_sims; k++) {
		sim_path(d, d->dir, k, "devsim", ".log", path);
		unlink(path);
		sim_path(d, d->dir, k, "devsim", ".conf", path);
		unlink(path);
	}
	rmdir(d->dir);
}

/* @arg as a number in [@min, @max] (@arg NULL: keep *@out). */
static bool number(const char *arg, long min, long max, long *out)
{
	char *end;
	long v;

	if (!arg)
		return true;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * --inject FAULT@SEQ[,...] as devsim's SPEC options for the first pktgen
 * device (",loss=SEQ..."), in @d->faults.  Which faults cannot go together
 * (two at one packet, one after the reset) devsim says, and we pass on.
 */
static int parse_faults(struct demo *d)
{
	static const char *const names[] = { "loss", "dup", "reset" };
	char list[SPEC_MAX], *tok, *save = NULL;
	bool seen[3] = { false };
	size_t len = 0;

	if (!d->a.inject)
		return 0;
	if (d->a.injects > 1)
		return cli_usage(demo_usage, "--inject given twice: give one list");
	if (strlen(d->a.inject) >= sizeof(list))
		return cli_usage(demo_usage, "--inject: too long a list");
	strcpy(list, d->a.inject);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *at = strchr(tok, '@');
		size_t i = 0;
		long seq;

		if (at)
			*at = '\0';
		while (i < 3 && strcmp(tok, names[i]))
			i++;
		if (!at || i == 3 || !number(at + 1, 1, LONG_MAX, &seq))
			return cli_usage(demo_usage, "--inject takes FAULT@SEQ[,...]: FAULT "
					 "loss, dup or reset, SEQ a packet's sequence "
					 "number from 1, not '%s%s%s'", tok, at ? "@" : "",
					 at ? at + 1 : "");
		if (seen[i])
			return cli_usage(demo_usage, "--inject: %s given twice", names[i]);
		seen[i] = true;
		len += (size_t)snprintf(d->faults + len, sizeof(d->faults) - len, ",%s=%ld",
					names[i], seq);
	}
	return 0;
}

/* --stats DIR, made if missing, absolute; devsim's files go in it too. */
static int stats_paths(struct demo *d)
{
	if (!d->a.stats)
		return 0;
	if (mkdir(d->a.stats, 0700) && errno != EEXIST)
		return cli_failf(d->a.stats, "%s", strerror(errno));
	if (!realpath(d->a.stats, d->stats_dir))
		return cli_failf(d->a.stats, "%s", strerror(errno));
	if (strlen(d->stats_dir) > PATH_MAX - 64)
		return cli_failf(d->a.stats, "path too long");
	snprintf(d->host_stats, sizeof(d->host_stats), "%s/demo-host.json", d->stats_dir);
	return 0;
}

static int run_demo(int argc, char **argv)
{
	struct demo d = { .a = { .mode = "exec" }, .n_pktgen = 2, .rate = 20000,
			  .packets = 2000, .per_devsim = PER_DEVSIM, .host_out = -1,
			  .expected = true };
	long target = 0;
	int first, err;

	first = cli_parse(argc, argv, demo_usage, &d.a.json, longopts, "", on_opt, &d.a);
	if (first < 0)
		return EXIT_INVALID;
	if (argc != first)
		return cli_usage(demo_usage, "demo takes no operands");
	if (!number(d.a.devices, 1, MAX_PKTGEN, &d.n_pktgen))
		return cli_usage(demo_usage, "--devices takes 1 to %d", MAX_PKTGEN);
	if (!number(d.a.per_devsim, 1, MAX_PKTGEN, &d.per_devsim))
		return cli_usage(demo_usage, "--per-devsim takes 1 to %d", MAX_PKTGEN);
	if (!number(d.a.rate, 1, 1000000, &d.rate))
		return cli_usage(demo_usage, "--rate takes 1 to 1000000 packets/s");
	if (!number(d.a.packets, 1, 100000000, &d.packets))
		return cli_usage(demo_usage, "--packets takes 1 to 100000000");
	if (strcmp(d.a.mode, "exec") && strcmp(d.a.mode, "socket"))
		return cli_usage(demo_usage, "--mode is exec or socket, not '%s'", d.a.mode);
	if (d.a.backend && strcmp(d.a.backend, "type1") && strcmp(d.a.backend, "iommufd"))
		return cli_usage(demo_usage, "--backend is type1 or iommufd, not '%s'",
				 d.a.backend);
	if (d.a.backend && (d.a.devices || d.a.rate || d.a.packets || d.a.per_devsim ||
			    d.a.drop || d.a.inject || d.a.stats))
		return cli_usage(demo_usage, "--backend drives real edu devices: no packets, "
				 "no devsim options");
	err = parse_faults(&d) ?: stats_paths(&d) ?:
	      (d.a.backend ? 0 : locate(&d, "devsim", "devsim", d.devsim)) ?:
	      locate(&d, "demo-host-v1", "examples/demo-host", d.host_v1) ?:
	      locate(&d, "demo-host-v2", "examples/demo-host", d.host_v2) ?:
	      (d.a.backend ? vfio_devices(&d) : 0);
	if (err) {
		free(d.devices);
		return err;
	}
	/* Short: socket paths in it must fit sun_path. */
	snprintf(d.dir, sizeof(d.dir), "/tmp/baton-demo.XXXXXX");
	if (!mkdtemp(d.dir))
		return cli_failf(d.dir, "%s", strerror(errno));
	snprintf(d.control_sock, sizeof(d.control_sock), "%s/control.sock", d.dir);
	/* A socket-mode successor outlives its parent: make it our child. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	d.updates = json_object_new_array();

	if (d.a.backend)
		err = start(&d) ?:
		      update(&d, "demo-host v1", "demo-host v2", d.host_v2, "updated") ?:
		      host_status(&d, "demo-host v2", 1) ?:
		      update(&d, "demo-host v2", "demo-host v1", d.host_v1, "updated") ?:
		      host_status(&d, "demo-host v1", 2) ?: vfio_account(&d) ?: verdict(&d);
	else
	err = start(&d) ?: let_traffic_flow(&d, &target) ?:
	      update(&d, "demo-host v1", "demo-host v2", d.host_v2, "updated") ?:
	      host_status(&d, "demo-host v2", 1) ?: let_traffic_flow(&d, &target) ?:
	      update(&d, "demo-host v2", "demo-host v1", d.host_v1, "refused") ?:
	      host_status(&d, "demo-host v2", 1) ?: let_traffic_flow(&d, &target) ?:
	      account(&d) ?: verdict(&d);
	cleanup(&d, err == EXIT_INVALID);
	json_object_put(d.result);
	json_object_put(d.updates);
	free(d.devices);
	free(d.sims);
	return err;
}

const struct cli_cmd cmd_demo = { "demo", run_demo, demo_usage };
