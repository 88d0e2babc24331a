// SPDX-License-Identifier: MIT
/**
 * DOC: the host: create, take over, destroy
 *
 * baton_host_create() is the first thing a program does.  It reads what
 * the update that started this process left in the environment
 * (handover.c) and becomes what that says: a cold start; a dry run, which
 * reports and exits (dryrun.c); or a new version, which receives
 * everything over a socket (socket.c) or finds it inherited across exec,
 * and restores (restore.c).  A restore that fails goes back to the
 * previous version; the program is told only when there is none.
 *
 * The new version's program then does its own restore work and ends the
 * update: baton_host_take_over() (restore.c's TAKE OVER and FINISH, then
 * the client that asked is told), or baton_host_roll_back().
 *
 * baton_host_destroy() lets go of everything the host holds, in reverse:
 * the control socket, an update still running, the devices (remove(), not
 * a reset), the regions.  Preserved fds are the program's and stay open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "host/host-internal.h"

/* A new version: take what came, and restore from it. */
static int start_restored(struct baton_host *host, struct baton_handover *hv)
{
	struct baton_diag why = { 0 };
	struct incoming *in;
	int err;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->hv = *hv;
	host->incoming = in;
	/* Socket mode's START is once it is ready for the go (socket.c). */
	err = in->hv.role == BATON_ROLE_RECEIVE ? 0 : baton_fault(BATON_FAULT_START);
	baton_trace("handover-read");
	if (!err && in->hv.role == BATON_ROLE_RECEIVE) {
		err = baton_socket_receive(host, in, &why);
		baton_trace("received");
	}
	if (!err) {
		struct stat image;

		/* Its size, for the heap to hold it (restore.c reads it there). */
		if (in->hv.role == BATON_ROLE_RESTORE && !fstat(in->hv.image_fd, &image) &&
		    baton_prefault_start(host, in->hv.n_fds, (size_t)image.st_size)) {
			in->heap_grown = true;
			baton_trace("prefault");
		}
		err = baton_restore(host, in, &why);
	}
	baton_prefault_stop(host);
	if (!err)
		err = baton_control_adopt(host);
	if (err) {
		char text[sizeof(why.where) + sizeof(why.what) + 32];

		snprintf(text, sizeof(text), "%s could not restore: %s%s%s", host->program,
			 why.where, why.where[0] ? ": " : "",
			 why.err ? why.what : baton_strerror(err));
		err = baton_restore_fail(host, err, text);
		/* Still here: nowhere to go back to.  Touch nothing on the way out. */
		host->handed_over = true;
		return err;
	}
	baton_trace("restored");
	host->restored = true;
	host->last.rolled_back = in->hv.rollback;
	host->last.why = in->hv.why;
	host->last.decisions = in->decisions;
	host->last.n_decisions = in->image->n_devices;
	return 0;
}

int baton_host_take_over(struct baton_host *host)
{
	struct incoming *in = host->incoming;
	int err;

	if (!in || in->taken_over)
		return 0;
	baton_trace("take-over");
	err = baton_restore_finish(host);
	if (!err)
		baton_control_report(host, in->hv.rollback ? "rolled-back" : "updated",
				     in->hv.rollback ? in->hv.why : NULL);
	return err;
}

int baton_host_roll_back(struct baton_host *host, const char *why)
{
	struct incoming *in = host->incoming;

	if (!in || in->taken_over)
		return -EINVAL;
	baton_restore_fail(host, -BATON_ERR_ABORTED, why ? why : "the program gave up");
	/* Nowhere to go back to here: exit, and let the keeper bring it back. */
	host->handed_over = true;
	return -BATON_ERR_ABANDONED;
}

/*
 * A host's fds grow with its devices and sessions, and the usual soft
 * limit, 1024, is kept low only for select(): raise it to the hard limit,
 * as servers do, before the first fd.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * This process's executable, as the kernel names it: absolute, its links
 * resolved already.  realpath() resolves it again, a readlink() a
 * component, in every new version's blackout (~20-60 us).  A binary
 * deleted since it started is named "PATH (deleted)": realpath() then
 * says whether that names a file, as it did before.
 */
static char *own_path(void)
{
	static const char deleted[] = " (deleted)";
	const size_t tail = sizeof(deleted) - 1;
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));

	if (n <= 0 || n >= (ssize_t)sizeof(buf) ||
	    ((size_t)n >= tail && !memcmp(buf + n - tail, deleted, tail)))
		return realpath("/proc/self/exe", NULL);
	buf[n] = '\0';
	return strdup(buf);
}

int baton_host_create(const struct baton_host_opts *opts,
		      struct baton_host **out)
{
	struct baton_host *host;
	struct baton_session *session;
	struct baton_handover hv;
	int err;

	if (!baton_reserved_clear(opts->reserved, sizeof(opts->reserved)))
		return -EINVAL;
	baton_trace("start");
	raise_fd_limit();
	host = calloc(1, sizeof(*host));
	if (!host)
		return -ENOMEM;
	host->epfd = host->timerfd = -1;
	host->prepare = opts->prepare;
	host->dry_run = opts->dry_run;
	host->arg = opts->arg;
	host->program = strdup(opts->program ? opts->program : "");
	host->exec_path = opts->exec_path ? strdup(opts->exec_path) : own_path();
	host->argv = baton_dup_argv(opts->argv);
	if (!host->program || !host->exec_path || !host->argv) {
		err = -ENOMEM;
		goto err_host;
	}
	err = baton_host_session(host, "", &session) ?:
	      baton_contracts_from_registry(&host->contracts, NULL) ?:
	      baton_loop_init(host) ?:
	      baton_handover_read(&hv);
	if (err)
		goto err_host;
	baton_fault_set_new(hv.role != BATON_ROLE_COLD);
	baton_mm_holder_adopt(host, hv.role == BATON_ROLE_RESTORE);
	baton_reap_adopt(host, hv.role == BATON_ROLE_RESTORE);
	if (hv.role == BATON_ROLE_DRY_RUN)
		baton_dry_run_report(host, &hv);
	if (hv.role != BATON_ROLE_COLD) {
		err = start_restored(host, &hv);
		if (err)
			goto err_host;
	}
	*out = host;
	return 0;

err_host:
	baton_host_destroy(host);
	return err;
}

void baton_host_destroy(struct baton_host *host)
{
	if (!host)
		return;
	/*
	 * Everything is another process's now, and this one exits next: its
	 * address space's teardown (~40 ms a GiB in use) runs at nice 10
	 * rather than compete as an equal with the new version's first
	 * moments, its blackout among them.
	 */
	if (host->handed_over)
		setpriority(PRIO_PROCESS, 0, 10);
	baton_control_free(host);
	baton_update_free(host->update);
	baton_device_index_reset(host);
	while (host->n_devices)
		baton_device_free(host->devices[--host->n_devices], true, true);
	while (host->n_regions)
		baton_region_drop(host->regions[host->n_regions - 1]);
	baton_sessions_free(host);
	baton_incoming_free(host->incoming);
	baton_contracts_free(host->contracts);
	baton_mm_holder_release(host);
	baton_reap_all(host);
	baton_loop_free(host);
	free(host->regions);
	free(host->devices);
	free(host->lingering);
	free(host->program);
	free(host->exec_path);
	baton_free_argv(host->argv);
	free(host);
}

bool baton_host_restored(const struct baton_host *host)
{
	return host->restored;
}

uint64_t baton_host_generation(const struct baton_host *host)
{
	return host->generation;
}

const struct baton_update_result *
baton_host_last_update(const struct baton_host *host)
{
	return host->restored ? &host->last : NULL;
}
