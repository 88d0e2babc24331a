// SPDX-License-Identifier: MIT
/**
 * DOC: the update, in the old version
 *
 * An update reads top to bottom as its phases, in two steps: the first
 * runs while the program keeps serving, the second holds it.
 *
 * baton_update_start():
 *	preflight   the target's contracts, read from its ELF file, against
 *		    a record of every device: a mandatory device it would not
 *		    bind refuses the update before anything is touched
 *	holder      exec mode: the process that will hold the old address
 *		    space through the exec starts (mm.c)
 *	prepare     the program's hook, then each driver serializes its
 *		    device's state (running)
 *	new process socket mode: the target starts, and plans on that
 *		    PREPARE image while the program serves (socket.c)
 *	dry run     the target decodes those states with its validators,
 *		    against a sealed copy of the image (dryrun.c); the program
 *		    serves meanwhile when the update came over the control
 *		    socket.  An update asked as a dry run stops after it,
 *		    having started neither the holder nor the new process
 *
 * baton_update_commit(): the program's thread is held from here to FINISH
 * (held_ns), the devices from FREEZE (the blackout)
 *	planned     socket mode: the new process has planned, or the update
 *		    is refused
 *	preflight   again: devices may have come or gone during the dry run
 *	prepare     again, and the image made of it, sealed
 *	copies      each preserved fd duplicated, without close-on-exec,
 *		    and the copy checked to be the file preserved
 *		    (serialize.c): what crosses from here is the update's own
 *		    copy, whatever the program does with its numbers
 *	keeper      forked, holding the copies and that image
 *		    (keeper.c): from here a crash of either version brings the
 *		    program back
 *	new process socket mode: it is sent the keeper, the cell, the
 *		    commit's image and the copies, plans on that image, and
 *		    waits, ready, for the go (socket.c)
 *	environment exec mode: the exec's, made whole, so that the blackout
 *		    writes no page the keeper shares (make_exec_env())
 *	keeper      ready: it has closed, meanwhile, what it does not hold
 *	freeze      each driver quiesces its device; the blackout starts.
 *		    Drivers serialize once more, and only if a state changed
 *		    is the image made again
 *	handover    the keeper gets the final image; exec mode execs the
 *		    target in place with the image, the copies and the keeper's
 *		    channel (restore.c takes it from there), socket mode sends
 *		    the waiting process the go and the image (socket.c)
 *
 * A failure unwinds in reverse order: a socket-mode new process is killed
 * and reaped (before any device is driven again, and however the update
 * ends, committed or not, before the program goes on); devices unfreeze, last
 * frozen first; the keeper is told the old version goes on and leaves;
 * the copies are closed; the states are dropped.  Before the keeper,
 * nothing was touched ("refused"); after it, the old version takes the
 * commit cell for ABORTED and goes on ("aborted") - unless the new version
 * took over first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "host/host-internal.h"

/* A driver's or the program's failure: say who failed, and where. */
static int failed(struct update *u, int err, const struct baton_diag *why)
{
	if (why->err && why->where[0])
		baton_update_why(u, "%s: %s", why->where, why->what);
	else if (why->err)
		baton_update_why(u, "%s", why->what);
	return err;
}

void baton_update_report_release(struct baton_update_report *report)
{
	free(report->decisions);
	free(report->records);
	baton_contracts_free(report->contracts);
	memset(report, 0, sizeof(*report));
}

/* The first mandatory device the target would not bind, in words. */
static void refuse_why(struct update *u)
{
	const struct baton_update_report *rep = u->report;
	const struct baton_decision *first = NULL;
	const char *target = strrchr(u->target, '/');
	char addr[BATON_PCI_ADDR_STRLEN];
	bool others = false;

	for (size_t i = 0; i < rep->n; i++) {
		const struct baton_decision *d = &rep->decisions[i];

		if (!d->device->mandatory || d->action == BATON_ACTION_BIND ||
		    d->action == BATON_ACTION_CONVERT)
			continue;
		others = first != NULL;
		if (!first)
			first = d;
	}
	baton_update_why(u, "mandatory %s would not be bound by %s (%s)%s",
			 baton_pci_addr_format(&first->device->addr, addr),
			 target ? target + 1 : u->target,
			 baton_action_name(first->action),
			 others ? ", nor would others" : "");
}

/*
 * Would the target bind every mandatory device?  Its contracts come from
 * its file, read once; it does not run.  The report takes the records.
 */
static int preflight(struct update *u)
{
	struct baton_update_report *rep = u->report;
	const struct baton_plan_opts popts = { .orphan = u->orphan };
	struct baton_diag diag = { 0 };
	size_t n = u->host->n_devices;
	int err;

	free(rep->decisions);
	free(rep->records);
	rep->decisions = NULL;
	rep->records = NULL;
	rep->n = 0;
	err = baton_serialize_records(u->host, &rep->records);
	if (err)
		return err;
	if (!rep->contracts) {
		err = baton_fault(BATON_FAULT_PREFLIGHT) ?:
		      baton_contracts_read_elf(u->target, &rep->contracts, &diag);
		if (err) {
			char limit[96];

			baton_update_why(u, "cannot read the contracts of %s: %s%s", u->target,
					 diag.err ? diag.what : baton_strerror(err),
					 baton_fd_limit_why(diag.err ? -diag.err : err,
							    limit, sizeof(limit)));
			return -BATON_ERR_REFUSED;
		}
	}
	rep->decisions = calloc(n + 1, sizeof(*rep->decisions));
	if (!rep->decisions)
		return -ENOMEM;
	err = baton_plan(rep->records, n, rep->contracts, &popts, rep->decisions);
	if (err)
		return err;
	rep->n = n;
	if (!baton_plan_ok(rep->decisions, n) && !u->force) {
		refuse_why(u);
		return -BATON_ERR_REFUSED;
	}
	return 0;
}

static int prepare(struct update *u)
{
	struct baton_host *host = u->host;
	struct baton_diag why = { 0 };
	int err;

	baton_serialize_free_states(host, u->states);
	u->states = NULL;
	/* The program's own state first: it may add regions and fds. */
	err = baton_fault(BATON_FAULT_PREPARE);
	if (!err && host->prepare) {
		u->refusal[0] = '\0';
		host->refusal = u->refusal;
		err = host->prepare(host, host->arg);
		host->refusal = NULL;
		host->prepared++;
		baton_trace("program-prepare");
	}
	if (err) {
		baton_update_why(u, "the program's prepare: %s", u->refusal[0] ?
				 u->refusal : baton_strerror(err));
		return err;
	}
	/* Devices the hook added must be in the records. */
	err = preflight(u);
	if (!err)
		err = baton_serialize_states(host, &u->states, &why);
	return failed(u, err, &why);
}

/*
 * @text, cut to fit @size bytes, each byte that is not printable ASCII
 * made '?': what a program says goes to another process, and to a
 * terminal, so neither a control character nor half a UTF-8 sequence
 * gets through.
 */
static void clean_text(char *dst, size_t size, const char *text)
{
	size_t i;

	for (i = 0; i + 1 < size && text[i]; i++)
		dst[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	dst[i] = '\0';
}

int baton_host_refuse(struct baton_host *host, const char *fmt, ...)
{
	char *refusal = host ? host->refusal : NULL;
	char text[BATON_REFUSAL_MAX];
	va_list ap;

	if (!refusal || !fmt)
		return -EINVAL;
	if (refusal[0])
		return -BATON_ERR_REFUSED;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	clean_text(refusal, BATON_REFUSAL_MAX, text);
	return -BATON_ERR_REFUSED;
}

static int freeze(struct update *u)
{
	struct baton_host *host = u->host;
	char name[96];

	u->freeze_ns = baton_now_ns();
	baton_trace("freeze");
	for (u->n_frozen = 0; u->n_frozen < host->n_devices; u->n_frozen++) {
		struct baton_device *dev = host->devices[u->n_frozen];
		int err;

		err = baton_fault(BATON_FAULT_FREEZE) ?:
		      (dev->drv && dev->drv->ops && dev->drv->ops->freeze ?
		       dev->drv->ops->freeze(dev) : 0);
		if (err) {
			baton_update_why(u, "%s: freeze: %s", baton_device_name(dev, name,
					 sizeof(name)), baton_strerror(err));
			return err;
		}
		/* Nothing written to the device's struct: since the keeper's
		 * fork each page written to is copied (n_frozen says which are
		 * frozen). */
	}
	return 0;
}

static void unfreeze(struct update *u)
{
	while (u->n_frozen > 0) {
		struct baton_device *dev = u->host->devices[--u->n_frozen];

		if (dev->drv && dev->drv->ops && dev->drv->ops->unfreeze)
			dev->drv->ops->unfreeze(dev);
	}
}

/* The image as the states stand, sealed, in u->image_fd. */
static int make_image(struct update *u, struct image_parts *p)
{
	int err, fd;

	err = baton_serialize_image(u->host, u->report->records, u->states,
				    u->host->generation + 1, p);
	if (err)
		return err;
	fd = baton_serialize_write(&p->img);
	if (fd < 0) {
		baton_serialize_free_image(p);
		return fd;
	}
	if (u->image_fd < 0) {
		u->image_fd = fd;
		return 0;
	}
	/* Made again (the commit's, FREEZE's): at its number, which the
	 * exec's environment, made before FREEZE, names. */
	err = dup3(fd, u->image_fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	if (err)
		baton_serialize_free_image(p);
	return err;
}

/*
 * Exec mode: the exec's whole environment, made at the commit once the
 * keeper forked and the holder started, out of the blackout: from the
 * fork on each page written is a copy, a fault (~35 us here; 11 of them,
 * ~0.3 ms, when it was made just before the exec).  What is learnt later
 * is written in place: FREEZE's time, the marked fds that may still
 * cross; the image is remade at the same number (make_image()).
 */
static int make_exec_env(struct update *u)
{
	struct baton_handover hv;
	int err;

	baton_handover_init(&hv);
	baton_keeper_fds(u, &hv.keeper_fd, &hv.cell_fd, &hv.keeper_pid);
	hv.image_fd = u->image_fd;
	hv.fds = u->copies;
	hv.n_fds = u->n_copies;
	hv.held_ns = u->held_ns;
	hv.deadline_ns = u->deadline_ns;
	hv.prev_argv = u->host->argv;
	hv.force = u->force;
	hv.orphan = u->orphan;
	hv.fds_checked = true;		/* the copies, by the commit */
	hv.originals = u->originals;
	hv.n_originals = u->originals ? u->n_copies : 0;
	hv.fd_runs = u->target_reads_fd_runs;
	/* A target that did not say it closes them would keep them for good. */
	err = u->target_closes ? baton_linger_plan(u->host, &hv) : 0;
	if (err)
		return err;
	err = baton_reap_env(u->host, u->holder, &hv, &u->exec_env);
	if (err) {
		free(hv.close_fds);
		return err;
	}
	u->close_fds = hv.close_fds;
	u->n_close_fds = hv.n_close_fds;
	return 0;
}

/* Exec mode: the image, the fds and the keeper cross exec(); same PID. */
static int handover_exec(struct update *u)
{
	int keeper, cell, err;
	pid_t keeper_pid;

	baton_keeper_fds(u, &keeper, &cell, &keeper_pid);
	baton_handover_patch(&u->exec_env, u->freeze_ns, NULL);
	if (u->close_fds) {
		baton_linger_cross(u->host, u->close_fds, &u->n_close_fds);
		baton_handover_patch_close_fds(&u->exec_env, u->close_fds, u->n_close_fds);
	}
	/* The fds are the commit's copies, made without close-on-exec: only
	 * the handover's own three need clearing, not one call a fd. */
	fcntl(u->image_fd, F_SETFD, 0);
	fcntl(keeper, F_SETFD, 0);
	fcntl(cell, F_SETFD, 0);
	baton_trace("exec");
	baton_trace_flush();
	err = baton_fault(BATON_FAULT_SPAWN);
	if (!err) {
		baton_mm_holder_arm(u);
		execve(u->target, u->argv, u->exec_env.vars);
		/* Still here: the exec failed.  Nothing was handed over. */
		err = -errno;
		baton_mm_holder_disarm(u);
	}
	baton_update_why(u, "exec %s: %s", u->target, baton_strerror(err));
	fcntl(u->image_fd, F_SETFD, FD_CLOEXEC);
	fcntl(keeper, F_SETFD, FD_CLOEXEC);
	fcntl(cell, F_SETFD, FD_CLOEXEC);
	baton_linger_keep(u->close_fds, u->n_close_fds);
	return err;
}

int baton_update_start(struct update *u)
{
	struct baton_host *host = u->host;
	int err;

	if (host->update)
		return baton_update_why(u, "an update is already running"), -EBUSY;
	if (host->incoming && !host->incoming->taken_over)
		return baton_update_why(u, "the program has not taken over yet"), -EBUSY;
	/* The last update's answer, if the loop has not written it yet. */
	baton_control_flush(host);
	err = preflight(u);
	if (err)
		return err;
	/*
	 * A dry run goes as far as the commit, and no further: what an
	 * update would need for the commit (the holder, the new process) is
	 * not started, and nothing is dropped.
	 */
	if (!u->dry_run_only) {
		/*
		 * Exec mode: the holder of the old address space (mm.c)
		 * starts now, while the program serves, not in the commit,
		 * which holds it.  It leaves by the dry run's deadline and the
		 * commit's; the commit gives it the update's own.  Stopped
		 * with the update however it ends.
		 */
		if (u->mode == BATON_MODE_EXEC)
			baton_mm_holder_start(u, baton_now_ns() +
					      2ull * u->timeout_ms * 1000000ull);
		/* The new version's heap, warm (prefault.c): not after a
		 * kexec, which starts from a cleared memory. */
		if (u->mode == BATON_MODE_EXEC && !u->handover)
			baton_prefault_warm(u, baton_host_n_fds(host));
		/* Regions kept after a kexec for probes that never came: no
		 * record names them, so the next version would take them for
		 * the program's. */
		baton_region_drop_unused(host);
	}
	err = prepare(u);
	if (err)
		return err;
	host->update = u;
	/*
	 * Socket mode: the new process starts now, before the dry run (which
	 * takes as long as its start, and more), and plans on this PREPARE
	 * image while the program serves: its start is out of the commit,
	 * which holds the program.  Killed and reaped with the update,
	 * however it ends (baton_update_free()).
	 */
	if (u->mode == BATON_MODE_SOCKET && !u->handover && !u->dry_run_only) {
		struct image_parts p = { 0 };

		err = make_image(u, &p);
		baton_serialize_free_image(&p);
		if (err)
			baton_update_why(u, "the image: %s", baton_strerror(err));
		else
			err = baton_socket_start(u);
	}
	if (!err && !u->no_dry_run)
		err = baton_dry_run_start(u);
	if (err)
		host->update = NULL;
	return err;
}

int baton_update_commit(struct update *u)
{
	struct baton_host *host = u->host;
	struct baton_diag why = { 0 };
	struct image_parts p = { 0 };
	bool changed;
	int err;

	/*
	 * Devices may have changed while the dry run ran: again, held.  The
	 * program's thread is in the update from here (a program with threads
	 * of its own parks them in its prepare hook): what its clients wait,
	 * reported beside the blackout, starts now.
	 */
	u->held_ns = baton_now_ns();
	baton_trace("commit");
	err = baton_fault(BATON_FAULT_COMMIT);
	if (err) {
		baton_update_why(u, "the commit: %s", baton_strerror(err));
		goto err_prepare;
	}
	/* Socket mode: a new process that could not plan refuses the update
	 * before anything is touched (it has had the dry run's time). */
	if (u->new_pid > 0 && baton_socket_planned(u)) {
		err = -BATON_ERR_REFUSED;
		goto err_prepare;
	}
	err = prepare(u);
	if (err)
		goto err_prepare;
	baton_trace("states");
	err = make_image(u, &p);
	if (err) {
		baton_update_why(u, "the image: %s", baton_strerror(err));
		goto err_prepare;
	}
	baton_trace("commit-image");
	/*
	 * What crosses is the handover's own copy of each preserved fd, made
	 * and checked now, out of the blackout: after FREEZE nothing is
	 * checked or changed a fd.  The program's numbers are its own again
	 * (a driver may close one at freeze()); the files preserved cross.
	 */
	u->copies = malloc((p.img.n_fds + 1) * sizeof(*u->copies));
	/* The program's own numbers: the keeper leaves them open (closing
	 * them would cost the hold), and they may cross the exec. */
	u->originals = malloc((p.img.n_fds + 1) * sizeof(*u->originals));
	err = u->copies && u->originals ?
	      baton_serialize_copy_fds(host, u->copies, u->originals, &why) : -ENOMEM;
	if (err) {
		free(u->copies);
		free(u->originals);
		u->copies = u->originals = NULL;
		failed(u, err, &why);
		goto err_prepare;
	}
	u->n_copies = p.img.n_fds;
	baton_trace("copies");
	u->deadline_ns = baton_now_ns() + u->timeout_ms * 1000000ull;
	err = baton_keeper_start(u, u->copies, u->originals, u->n_copies);
	if (err) {
		free(u->originals);
		u->originals = NULL;
		baton_update_why(u, "starting the keeper: %s", baton_strerror(err));
		goto err_prepare;
	}
	baton_trace("keeper-forked");
	/* They cross the exec too, and close after its FINISH, when the
	 * target says it does that (linger.c); else the exec closes them.
	 * After the fork: the keeper's restart must not carry them. */
	if (u->mode == BATON_MODE_EXEC && !u->handover && u->target_closes_originals) {
		baton_linger_uncloexec(u);
	} else {
		free(u->originals);
		u->originals = NULL;
	}
	host->sealed = true;
	u->frozen_once = true;
	/* Socket mode: the new process gets the keeper, the cell, this image
	 * and the copies, plans again, and waits for the go. */
	if (u->mode == BATON_MODE_SOCKET && !u->handover) {
		err = baton_socket_commit(u);
		if (err)
			goto err_freeze;
	}
	/* Exec mode: the old address space is freed after the blackout (mm.c);
	 * without a holder, inside it - slower, not wrong.  Started with the
	 * update; here it learns the deadline (or starts, if it could not). */
	if (u->mode == BATON_MODE_EXEC)
		baton_mm_holder_start(u, u->deadline_ns);
	if (u->mode == BATON_MODE_EXEC && !u->handover) {
		err = make_exec_env(u);
		if (err) {
			baton_update_why(u, "the exec's environment: %s", baton_strerror(err));
			goto err_freeze;
		}
	}
	baton_trace("prepared");
	/*
	 * The keeper closed meanwhile what it does not hold (on the other
	 * core, while this one did the above): from its 'R' a connection a
	 * driver closes at freeze() is closed for the device too.
	 */
	err = baton_keeper_ready(u);
	if (err) {
		baton_update_why(u, "the keeper did not start: %s", baton_strerror(err));
		goto err_freeze;
	}
	baton_trace("keeper-ready");
	baton_prefault_warm_free(u);
	err = freeze(u);
	if (err)
		goto err_freeze;
	baton_trace("frozen");
	err = baton_serialize_again(host, u->states, &changed, &why);
	if (err) {
		failed(u, err, &why);
		goto err_freeze;
	}
	/* The FREEZE image: made again only when a state changed. */
	err = baton_fault(BATON_FAULT_IMAGE);
	if (err) {
		baton_update_why(u, "the image: %s", baton_strerror(err));
		goto err_freeze;
	}
	if (changed) {
		baton_serialize_free_image(&p);
		/* The same fds, in the same order (the host is sealed): they
		 * cross as the commit's copies, u->copies. */
		err = make_image(u, &p);
		if (err) {
			baton_update_why(u, "the image: %s", baton_strerror(err));
			goto err_freeze;
		}
	}
	baton_trace(changed ? "image" : "serialized");
	err = baton_fault(BATON_FAULT_HANDOVER) ?:
	      baton_keeper_handover(u, changed ? u->image_fd : -1);
	if (err) {
		baton_update_why(u, "handing the image to the keeper: %s", baton_strerror(err));
		goto err_freeze;
	}
	baton_trace("keeper");
	err = u->handover ? u->handover(u, &p) :
	      u->mode == BATON_MODE_SOCKET ? baton_socket_handover(u) :
	      handover_exec(u);
	baton_trace("handed-over");
	baton_trace_flush();
	if (err == BATON_HANDED_OVER) {
		baton_keeper_release(u, false);
		goto out;
	}

err_freeze:
	/* No exec happened: the holder goes, however this update ends. */
	baton_mm_holder_stop(u);
	/* socket.c gives up itself, and says so with ABORTED. */
	if (err != -BATON_ERR_ABORTED && !baton_keeper_abort(u)) {
		/* The new version took over, or the keeper is bringing the
		 * program back: this process must let go, touching nothing. */
		host->handed_over = true;
		baton_keeper_release(u, false);
		err = BATON_HANDED_OVER;
		goto out;
	}
	/* Gone before any device may be driven again. */
	baton_socket_end(u, true);
	unfreeze(u);
	host->sealed = false;
	baton_keeper_release(u, true);
	err = -BATON_ERR_ABORTED;
err_prepare:
	/* Socket mode's new process, started with the update: gone before
	 * the program goes on. */
	baton_socket_end(u, true);
out:
	baton_socket_end(u, false);
	/* No exec carried the copies (the new process, the keeper or the
	 * agent has its own): the fd table is as the update found it. */
	baton_linger_recloexec(u);
	baton_serialize_close_copies(u->copies, u->n_copies);
	free(u->copies);
	u->copies = NULL;
	u->n_copies = 0;
	baton_serialize_free_image(&p);
	baton_handover_free_env(&u->exec_env);
	free(u->close_fds);
	u->close_fds = NULL;
	u->n_close_fds = 0;
	return err;
}

/* The dry run is over: go on, unless it said no or nobody waits any more. */
static void after_dry_run(struct update *u, int err)
{
	if (!err && u->wanted && !u->wanted(u)) {
		baton_update_why(u, "the client that asked hung up before FREEZE");
		err = -ECANCELED;
	}
	if (!err && !u->dry_run_only)
		err = baton_update_commit(u);
	u->host->update = NULL;
	u->done(u, err);
}

void baton_update_continue(struct update *u)
{
	after_dry_run(u, 0);
}

void baton_update_free(struct update *u)
{
	if (!u)
		return;
	baton_dry_run_free(u);
	baton_socket_end(u, true);
	baton_mm_holder_stop(u);
	baton_prefault_warm_free(u);
	if (u->host->update == u)
		u->host->update = NULL;
	baton_serialize_free_states(u->host, u->states);
	if (u->image_fd >= 0)
		close(u->image_fd);
	if (u->report == &u->own_report)
		baton_update_report_release(&u->own_report);
	free(u->target);
	baton_free_argv(u->argv);
	free(u);
}

struct update *baton_update_new(struct baton_host *host,
				const struct baton_update_opts *opts)
{
	struct update *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->host = host;
	u->image_fd = -1;
	u->new_pidfd = u->new_sock = -1;
	u->mode = opts->mode;
	u->orphan = opts->orphan;
	u->force = opts->force;
	u->dry_run_only = opts->dry_run;
	u->no_dry_run = opts->no_dry_run;
	u->timeout_ms = opts->timeout_ms ? opts->timeout_ms : BATON_DRY_RUN_TIMEOUT_MS;
	u->dry_run_done = after_dry_run;
	u->report = opts->report ? opts->report : &u->own_report;
	memset(u->report, 0, sizeof(*u->report));
	u->target = strdup(opts->target);
	/* A host made without arguments still gives the target its name. */
	u->argv = baton_dup_argv(opts->argv ? opts->argv :
				 host->argv[0] ? host->argv : (char *[]){ "", NULL });
	if (!u->target || !u->argv) {
		baton_update_free(u);
		return NULL;
	}
	if (!opts->argv) {
		/* The target runs with the program's arguments, under its own name. */
		free(u->argv[0]);
		if (!(u->argv[0] = strdup(opts->target))) {
			baton_update_free(u);
			return NULL;
		}
	}
	return u;
}

int baton_host_update(struct baton_host *host,
		      const struct baton_update_opts *opts)
{
	struct update *u;
	int err;

	if (!opts || !opts->target ||
	    !baton_reserved_clear(opts->reserved, sizeof(opts->reserved)))
		return -EINVAL;
	u = baton_update_new(host, opts);
	if (!u)
		return -ENOMEM;
	err = baton_update_start(u);
	if (!err && u->dry)
		err = baton_dry_run_wait(u);
	if (!err && !u->dry_run_only)
		err = baton_update_commit(u);
	if (u->report != &u->own_report) {
		/* The caller's report keeps what it says; the update lets go. */
		u->report = &u->own_report;
		memset(u->report, 0, sizeof(*u->report));
	}
	baton_update_free(u);
	return err;
}
