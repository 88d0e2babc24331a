/* SPDX-License-Identifier: MIT */
#ifndef BATON_HOST_INTERNAL_H
#define BATON_HOST_INTERNAL_H

/*
 * The host's insides, shared by the files of lib/host.  One concept a file;
 * each calls only files listed before it (and those after it only through
 * a callback they install: a watch, a timer, an update's done):
 *
 *   fault.c     fault injection for the tests of the promise
 *   trace.c     phase timestamps for the benchmarks (BATON_TRACE)
 *   loop.c      the host's event fd: watches and timers
 *   region.c    preserved memory
 *   device.c    devices, their drivers, cold probing, the memory they share
 *   session.c   named sets of preserved fds
 *   serialize.c PREPARE and FREEZE: records, states, the sealed image
 *   mm.c        exec mode: the old address space freed outside the blackout
 *   handover.c  what one version tells the next: one struct, both ways
 *   linger.c    exec mode: the program's fds closed after FINISH, not in it
 *   keeper.c    the keeper process and the commit cell, every side
 *   socket.c    socket mode: the old process's side and the new one's
 *   image-index.c the image's references, looked up by binary search
 *   restore.c   RESTORE, TAKE OVER, FINISH: the new version's path
 *   dryrun.c    the dry run: the old version's side and the target's side
 *   update.c    the update's path, top to bottom, in the old version
 *   kexec.c     a kernel update: the program's handover, the agent's start
 *   control.c   the control socket's server
 *   host.c      create, destroy, take over, roll back
 */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <baton/host.h>

#include "internal.h"

/*
 * Tokens with the top bit set name the host's own fds: region memfds
 * (HOST | sequence) and the control socket's (HOST | CONTROL | which).
 */
#define BATON_TOKEN_HOST	(1ull << 63)
#define BATON_TOKEN_CONTROL	(1ull << 62)
#define BATON_TOKEN_LISTEN	(BATON_TOKEN_HOST | BATON_TOKEN_CONTROL | 1)
#define BATON_TOKEN_REPLY	(BATON_TOKEN_HOST | BATON_TOKEN_CONTROL | 2)

/*
 * The file a preserved fd number named, as fstat() tells it: a number
 * closed and taken by another open() is the same number, not the same
 * file.  Unknown until recorded (an inherited fd: at the next preflight).
 */
struct fd_id {
	dev_t dev;
	ino_t ino;
	bool known;
};

/* What a fd number that names another file now is said to be. */
#define BATON_FD_REUSED \
	"is no longer the file that was preserved: closed and its number reused"

/* @fd's file into @id: 0, or -errno (-EBADF: closed). */
int baton_fd_id(int fd, struct fd_id *id);
/* Whether @now is the file @then recorded (true when it recorded none). */
bool baton_fd_id_same(const struct fd_id *then, const struct fd_id *now);
/*
 * Whether @fd is still the file @id recorded: 0, and @id records it (an
 * inherited fd's first time); -EBADF (or -errno) when @fd is closed,
 * -ESTALE when it names another file.
 */
int baton_fd_check(int fd, struct fd_id *id);

/* ---- region.c ---- */

struct baton_region {
	struct baton_host *host;
	char *label;
	int fd;
	void *base;
	size_t size;
	bool inherited;
	uint64_t token;
	struct fd_id id;		/* fd's file, recorded at the preflight */
	/*
	 * A region devices use (baton_device_region()) lives as long as it
	 * has users - the kernel's FLB: preserved with the first, released
	 * with the last.  Program regions have no users and live until
	 * baton_region_release().
	 */
	bool shared;
	unsigned users;
};

struct baton_region *baton_region_find(const struct baton_host *host,
				       const char *label);
/* Drop every shared region no device uses (kept after a kexec, restore.c). */
void baton_region_drop_unused(struct baton_host *host);
/* A region of the image, mapped again from its inherited memfd @fd. */
int baton_region_adopt(struct baton_host *host, const char *label, size_t size,
		       int fd, bool shared, struct baton_region **out);
/* Unmap, close and forget: the one way a region goes. */
void baton_region_drop(struct baton_region *region);

/* ---- session.c ---- */

struct preserved_fd {
	uint64_t token;
	int fd;
	enum baton_fd_kind kind;
	struct fd_id id;		/* fd's file, when it was preserved */
};

/* A named set of preserved fds; the default one is "", and the host's own
 * fds are in it. */
struct baton_session {
	struct baton_host *host;
	char *name;			/* in the same allocation */
	struct preserved_fd *fds;
	size_t n_fds, cap_fds;
	bool in_room;			/* fds in the same allocation (a restore's) */
};

struct session_index {
	struct baton_session **slots;
	size_t mask;
	size_t used;
};

struct baton_session *baton_session_default(const struct baton_host *host);
/* Room for @more sessions, made without the index growing (a restore). */
int baton_sessions_reserve(struct baton_host *host, size_t more);
/* baton_host_session(); one it makes has room for @room fds in its own
 * allocation, as many as the image lists for it. */
int baton_session_get(struct baton_host *host, const char *name, size_t room,
		      struct baton_session **out);
/* Add an fd whatever its token (inherited ones, the host's own); @id is
 * its file when it was preserved, NULL if not known. */
int baton_session_add(struct baton_session *session, uint64_t token, int fd,
		      enum baton_fd_kind kind, const struct fd_id *id);
struct preserved_fd *baton_session_find(const struct baton_session *session,
					uint64_t token);
/* The host's own fd under a host token, or -1. */
int baton_host_kept_fd(const struct baton_host *host, uint64_t token);
/* Stop tracking a host token's fd (the caller closes it). */
void baton_host_drop_fd(struct baton_host *host, uint64_t token);
/* Every preserved fd, regions' first, in image order (serialize.c). */
size_t baton_host_n_fds(const struct baton_host *host);
void baton_sessions_free(struct baton_host *host);

/* ---- device.c ---- */

struct baton_device {
	struct baton_host *host;
	struct baton_device_info info;
	const struct baton_driver *drv;	/* NULL: quarantined, carried over */
	void *priv;
	/* A quarantined device's record, handed on as it came. */
	uint8_t schema[BATON_GUID_SIZE];
	char *schema_name;			/* NULL when the record had none */
	uint32_t schema_version;
	void *state;
	uint32_t state_size;
	/* The shared regions it uses, recorded in its image record. */
	struct baton_region **uses;
	size_t n_uses, cap_uses;
};

/* Devices by address (baton_host_device()): over devices[0..n). */
struct device_index {
	struct baton_device **slots;
	size_t mask;
	size_t n;
};

struct baton_device *baton_device_new(struct baton_host *host,
				      const struct baton_device_info *info);
/* Any device removed, or the array reordered: the index is rebuilt. */
void baton_device_index_reset(struct baton_host *host);
int baton_device_use(struct baton_device *dev, struct baton_region *region);
int baton_device_attach(struct baton_host *host, struct baton_device *dev);
/*
 * Let go of @dev: its driver's remove() when @remove (never a reset), then
 * its memory; its regions lose a user, and the last user releases them
 * when @release (a restore releases the image's regions itself, after).
 */
void baton_device_free(struct baton_device *dev, bool remove, bool release);
/* Out of the host's devices, in order, and freed as above (removed). */
void baton_device_remove(struct baton_device *dev, bool release);
/* The schema a driver writes (its first native accept), or NULL. */
const struct baton_schema *baton_driver_written(const struct baton_driver *drv);
/* The running program's driver a contract describes, or NULL. */
const struct baton_driver *baton_runtime_driver(const struct baton_contract *c);
/* "0000:01:00.0 (pktgen)": who a diagnostic is about. */
const char *baton_device_name(const struct baton_device *dev, char *buf, size_t len);

/* ---- fault.c ---- */

enum baton_fault_phase {
	BATON_FAULT_PREFLIGHT,
	BATON_FAULT_PREPARE,
	BATON_FAULT_DRY_RUN,
	BATON_FAULT_COMMIT,
	BATON_FAULT_FREEZE,
	BATON_FAULT_IMAGE,
	BATON_FAULT_HANDOVER,
	/* The old process: about to exec or start the new version; (socket
	 * mode) the keeper told of it, the commit sent, the image and fds
	 * not yet; everything sent to it. */
	BATON_FAULT_SPAWN,
	BATON_FAULT_TRANSFER,
	BATON_FAULT_SENT,
	BATON_FAULT_START,
	BATON_FAULT_RESTORE,
	BATON_FAULT_TAKE_OVER,
	BATON_FAULT_FINISH,
	BATON_FAULT_PHASES
};

/* 0, or what the fault planted at @phase (BATON_FAULT) makes it fail with;
 * it may also not return (kill, hang). */
int baton_fault(enum baton_fault_phase phase);
void baton_fault_set_new(bool is_new);

/* ---- trace.c ---- */

/* Note the time at @phase (a string literal) when BATON_TRACE is set... */
void baton_trace(const char *phase);
/* ...and append the notes to its file: before exec, after FINISH. */
void baton_trace_flush(void);

/* ---- handover.c ---- */

/* What a process started by an update is there for. */
enum baton_role {
	BATON_ROLE_COLD,	/* no update: a first start */
	BATON_ROLE_RESTORE,	/* exec mode, or the keeper's restart */
	BATON_ROLE_RECEIVE,	/* socket mode: everything comes on a socket */
	BATON_ROLE_DRY_RUN,	/* report on the image and exit */
};

/*
 * What one version tells the next, in the environment (BATON_*), written
 * and read only by handover.c.  Fds are numbers in the receiving process.
 */
struct baton_handover {
	enum baton_role role;
	int image_fd;
	int *fds;			/* each image fd's number, image order */
	size_t n_fds;
	int channel_fd;			/* socket mode: the old process */
	int report_fd;			/* dry run: where the report goes */
	int keeper_fd;			/* the keeper's channel, or -1 */
	int cell_fd;			/* the commit cell, or -1 */
	pid_t keeper_pid;
	uint64_t freeze_ns;
	uint64_t held_ns;		/* the commit's start: the program held */
	uint64_t deadline_ns;		/* take over by then */
	char **prev_argv;		/* how to start the previous binary */
	bool rollback;			/* the previous version, coming back */
	char why[256];			/* why it came back */
	bool force;
	enum baton_orphan_override orphan;
	bool kexec;			/* after a kexec: the regions came alone */
	bool fds_checked;		/* open at the exec, the previous version says */
	int *close_fds;			/* to close after FINISH (linger.c) */
	size_t n_close_fds;
	/* The previous version's own number of each of @fds's files, image
	 * order, 0 where its exec kept it: closed after FINISH if still that
	 * file (linger.c).  None, or one per @fds. */
	int *originals;
	size_t n_originals;
	/* Not a variable: the writer's choice to write each run of numbers
	 * in a list as FIRST-LAST, which the reader's library reads (its dry
	 * run said so, dryrun.c). */
	bool fd_runs;
};

void baton_handover_init(struct baton_handover *hv);
/* Read what the starting update left, and clear it from the environment. */
int baton_handover_read(struct baton_handover *hv);
/* -EINVAL unless the commit, FREEZE, now and the deadline are in order. */
int baton_handover_check_times(const struct baton_handover *hv);
/* The environment a process of this update starts with: @hv's variables,
 * then ours, less any stale handover variable. */
struct baton_env {
	char **vars;			/* NULL-terminated, for execve() */
	char **own;			/* those of them made here, to free */
	size_t n_own;
};
/* @hv's variables, then a copy of each of @extra's (NULL-terminated, or
 * NULL), then the process's own less any of those names.  -ENOMEM. */
int baton_handover_env(const struct baton_handover *hv, char *const *extra,
		       struct baton_env *out);
void baton_handover_free_env(struct baton_env *env);
/* Async-signal-safe, for the keeper: FREEZE_NS and ROLLBACK_WHY in place. */
void baton_handover_patch(struct baton_env *env, uint64_t freeze_ns,
			  const char *why);
/* BATON_CLOSE_FDS made again in place as @fds, a sublist of those @env
 * was made with, in their order; with none, dropped from @env->vars. */
void baton_handover_patch_close_fds(struct baton_env *env, const int *fds, size_t n);
void baton_handover_release(struct baton_handover *hv);

/* ---- linger.c ---- */

struct update;

/* A fd the program marked with baton_host_close_after_finish(). */
struct lingering {
	int fd;
	struct fd_id id;		/* the file marked */
};

/* Old version, at the commit: the marked fds neither handed over by @hv
 * nor preserved, into @hv->close_fds (calloc'd, the caller's; NULL for
 * none), for the exec's environment.  -ENOMEM. */
int baton_linger_plan(const struct baton_host *host, struct baton_handover *hv);
/* ...just before its exec: of those @n @fds, the ones still open, the file
 * marked and close-on-exec, close-on-exec cleared, in their place. */
void baton_linger_cross(const struct baton_host *host, int *fds, size_t *n);
/* The exec failed: close-on-exec back on those, as it was. */
void baton_linger_keep(const int *fds, size_t n);
/* Old version, at the commit once the keeper forked: each of
 * u->originals that is close-on-exec has it cleared, the others become 0
 * (the exec keeps them anyway); without kcmp() (here, or of the keeper),
 * none: u->originals freed, the exec closes them. */
void baton_linger_uncloexec(struct update *u);
/* The update did not exec: close-on-exec back on each of u->originals
 * still the file its copy is; u->originals freed.  Before the copies close. */
void baton_linger_recloexec(struct update *u);
/* New version: each open and none handed over, made close-on-exec again;
 * else -EINVAL or -EBADF, and why. */
int baton_linger_adopt(const struct baton_handover *hv, struct baton_diag *why);
/* New version, going back to the previous one in place: what it is to
 * close after its FINISH, close-on-exec cleared (an original that is no
 * longer its file is left out). */
void baton_linger_pass_back(struct baton_handover *hv);
/* After FINISH, before the keeper is done: the originals still their
 * copies' files (kcmp() against the keeper's), the others left out. */
void baton_linger_check(struct baton_handover *hv);
/* Just after FINISH: closed, out of the blackout. */
void baton_linger_close(struct baton_handover *hv);

/* ---- keeper.c ---- */

enum baton_cell_state {
	BATON_CELL_LIVE,		/* nobody owns the program yet */
	BATON_CELL_NEW,			/* the new version took over */
	BATON_CELL_PREV,		/* the previous version took over again */
	BATON_CELL_ABORTED,		/* given up: the old version goes on */
};

struct baton_keeper;			/* the old version's handle on it */
struct update;

/* Fork the keeper, holding the fds numbered @numbers and u->image_fd, and
 * leaving open @originals (NULL, or the program's own number of each of
 * @numbers' files), which a version it starts does not get. */
int baton_keeper_start(struct update *u, const int *numbers, const int *originals,
		       size_t n);
/* The keeper has closed what it does not hold ('R'), within a bound:
 * -ETIMEDOUT, or -ECHILD (it died, or said something else). */
int baton_keeper_ready(struct update *u);
/* HANDOVER: the FREEZE image (or -1: the PREPARE one serves), the deadline. */
int baton_keeper_handover(struct update *u, int image_fd);
int baton_keeper_new_process(struct update *u, int pidfd);
/* What the new version needs to reach the keeper: our channel, the cell. */
void baton_keeper_fds(const struct update *u, int *channel, int *cell, pid_t *pid);
/* Give the update up; true when this process won and goes on. */
bool baton_keeper_abort(struct update *u);
/* The old version went on (the keeper leaves), or let go of everything. */
void baton_keeper_release(struct update *u, bool went_on);
enum baton_cell_state baton_keeper_cell(const struct update *u);
/* The new version's side: own the program (@state NEW or PREV)... */
int baton_keeper_commit(struct baton_handover *hv, enum baton_cell_state state);
/* ...and, after FINISH, let the keeper go (exec mode: reaped from the
 * loop, reap.c). */
void baton_keeper_done(struct baton_host *host, struct baton_handover *hv);

/* ---- serialize.c ---- */

struct image_parts {
	struct baton_image img;
	struct baton_image_fd *fds;
	struct baton_image_region *regions;
	struct baton_image_device *devices;
	uint32_t *uses;			/* the devices' region lists, end to end */
};

int baton_serialize_records(struct baton_host *host,
			    struct baton_image_device **out);
/*
 * The commit's copies of the preserved fds, into @copies (room for
 * baton_host_n_fds()), in image order: each duplicated without
 * close-on-exec at the lowest free number from 3, and the copy checked to
 * be still the file recorded when the fd was preserved (an inherited fd's:
 * recorded now).  One closed, or closed and whose number an open() took,
 * would reach the next version as a hole or as that other file: -EBADF
 * ("... was closed") or -ESTALE, and why.  No room for the copies is
 * -EMFILE, with the need and the limit.  On any error no copy is left.
 * The copies are the update's own: they cross whatever the program does
 * with its numbers from then on.  @originals, when not NULL, gets each
 * copy's original number, the program's own.
 */
int baton_serialize_copy_fds(struct baton_host *host, int *copies,
			     int *originals, struct baton_diag *why);
/* Close the copies, a close_range() a run of consecutive numbers. */
void baton_serialize_close_copies(const int *copies, size_t n);
int baton_serialize_states(struct baton_host *host, void ***states,
			   struct baton_diag *why);
int baton_serialize_again(struct baton_host *host, void **states,
			  bool *changed, struct baton_diag *why);
void baton_serialize_free_states(const struct baton_host *host, void **states);
int baton_serialize_image(const struct baton_host *host,
			  const struct baton_image_device *records,
			  void *const *states, uint64_t generation,
			  struct image_parts *p);
void baton_serialize_free_image(struct image_parts *p);
/* The image in a sealed memfd; returns the fd or -errno. */
int baton_serialize_write(const struct baton_image *img);

/* ---- update.c: an update in the old version ---- */

struct update {
	struct baton_host *host;
	/* The request, copied: it outlives the call that made it. */
	enum baton_update_mode mode;
	char *target;
	char **argv;
	enum baton_orphan_override orphan;
	bool force;
	bool dry_run_only;
	bool no_dry_run;
	unsigned timeout_ms;
	struct baton_update_report *report;	/* the caller's, or own_report */
	struct baton_update_report own_report;

	void **states;
	size_t n_frozen;
	bool frozen_once;			/* the keeper was started */
	bool new_started;			/* socket mode: the new process got the go */
	/* Socket mode, from the update's start (socket.c): the new process,
	 * its pidfd and our end of its socket; 0 and -1 when there is none.
	 * It waits for the commit until early_deadline_ns. */
	pid_t new_pid;
	int new_pidfd;
	int new_sock;
	uint64_t early_deadline_ns;
	uint64_t held_ns;			/* the commit's start */
	uint64_t freeze_ns;
	uint64_t deadline_ns;			/* FREEZE until taken over */
	int image_fd;				/* the latest image */
	/* From the commit: the handover's copies of the preserved fds, in
	 * image order (baton_serialize_copy_fds()), closed unless an exec
	 * carries them. */
	int *copies;
	size_t n_copies;
	/* Exec mode, with a target that closes them after its FINISH: the
	 * program's own number of each copy's file, image order
	 * (linger.c), or NULL: the exec closes them. */
	int *originals;
	/* Exec mode: the exec's environment, made before FREEZE, and the
	 * marked fds it names (linger.c), both written in place after. */
	struct baton_env exec_env;
	int *close_fds;
	size_t n_close_fds;

	struct dry_run *dry;			/* dryrun.c, while it runs */
	uint64_t dry_deadline_ns;
	/* The target's dry run said its library closes BATON_CLOSE_FDS
	 * after FINISH (linger.c): one older would keep them for good. */
	bool target_closes;
	/* ...and the preserved fds' own numbers, each only while it is still
	 * the file its copy is ("closes_originals"). */
	bool target_closes_originals;
	/* ...and reads a list of fds in runs, FIRST-LAST ("fd_runs"). */
	bool target_reads_fd_runs;
	void (*dry_run_done)(struct update *u, int err);
	struct baton_keeper *keeper;

	pid_t holder;				/* mm.c: holds our address space */
	void *holder_stack;
	/* Exec mode: pages faulted in at the start, freed just before
	 * FREEZE for the new version's heap (prefault.c); NULL when none. */
	void *warm;
	size_t warm_len;

	/* Why the program's prepare hook refused (baton_host_refuse()),
	 * cleaned; "" when it gave no reason. */
	char refusal[BATON_REFUSAL_MAX];

	/* HANDOVER in place of exec or socket mode (kexec.c), when set. */
	int (*handover)(struct update *u, const struct image_parts *p);
	/* Asked over the control socket (control.c): whether the client is
	 * still there before FREEZE, and how it ended. */
	bool (*wanted)(struct update *u);
	void (*done)(struct update *u, int err);
	void *done_arg;
};

struct update *baton_update_new(struct baton_host *host,
				const struct baton_update_opts *opts);
/* Why the update stopped, for the report: the first reason given wins. */
static inline __attribute__((format(printf, 2, 3)))
void baton_update_why(struct update *u, const char *fmt, ...)
{
	va_list ap;

	if (u->report->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(u->report->why, sizeof(u->report->why), fmt, ap);
	va_end(ap);
}
int baton_update_start(struct update *u);
int baton_update_commit(struct update *u);
/* Asynchronous: go on with an update that has no dry run to wait for. */
void baton_update_continue(struct update *u);
void baton_update_free(struct update *u);

/* ---- mm.c ---- */

/* A clone of ours sharing the address space (the holder, the prefaulter),
 * told to go: wait for @pid (waitpid() @flags), free its stack, zero both. */
void baton_clone_reap(pid_t *pid, void **stack, size_t stack_size, int flags);

/* Exec mode, from the update's start: a process holding our address
 * space, leaving by @deadline_ns (a running one takes the new one)... */
int baton_mm_holder_start(struct update *u, uint64_t deadline_ns);
/* ...that our execve() wakes (the last thing before it; put back as it
 * was when the execve() fails)... */
void baton_mm_holder_arm(struct update *u);
void baton_mm_holder_disarm(struct update *u);
/* ...or that we wake and reap, when the update does not exec. */
void baton_mm_holder_stop(struct update *u);
/* The new version (@restored): the holder named by BATON_MM_HOLDER is ours
 * to reap; any other start drops the variable, so no child inherits it... */
void baton_mm_holder_adopt(struct baton_host *host, bool restored);
/* ...after FINISH (or at the host's end): told to go (SIGTERM), and
 * reaped from the loop once it has gone (reap.c). */
void baton_mm_holder_release(struct baton_host *host);

/* What a child watched on a pidfd needs, said when pidfd_open() is ENOSYS. */
#define BATON_PIDFD_NEEDS "needs Linux 5.3 or later; under valgrind, one that knows the call"

/* ---- reap.c ---- */

/* A child told to go (the keeper, the holder): wait for it, killed
 * (SIGKILL) if still there after @kill_after_ms, and reap it. */
void baton_child_reap(pid_t pid, int kill_after_ms);
void baton_reap_later(struct baton_host *host, pid_t pid, uint64_t kill_ns);
int baton_reap_env(const struct baton_host *host, pid_t holder,
		   const struct baton_handover *hv, struct baton_env *out);
void baton_reap_adopt(struct baton_host *host, bool restored);
void baton_reap_all(struct baton_host *host);

/* ---- prefault.c ---- */

/* Exec mode's new version, once the handover says @n_fds came with an
 * image of @image_len bytes: the heap its restore will take, faulted in on
 * another CPU meanwhile (true if started)... */
bool baton_prefault_start(struct baton_host *host, size_t n_fds, size_t image_len);
/* The prefaulter on the whole pages of [@start, @start + @len): true if
 * started (one at a time)... */
bool baton_prefault_range(struct baton_host *host, void *start, size_t len);
/* Socket mode's new version, once it has planned on the PREPARE image
 * naming @n_fds fds, @image_len bytes: the same heap, faulted in now,
 * while the program serves (true if grown)... */
bool baton_prefault_now(size_t n_fds, size_t image_len);
/* ...until the restore is over: stopped and reaped, the heap's held
 * block freed. */
void baton_prefault_stop(struct baton_host *host);
/* Exec mode's old version, at the update's start: the huge pages the new
 * version's heap will take for the restore of @n_fds fds, faulted in now,
 * kept from any child a fork makes (in u->warm)... */
void baton_prefault_warm(struct update *u, size_t n_fds);
/* ...and freed just before FREEZE, for the new version's faults to take
 * while the hypervisor still backs them; or with an update that ends
 * before. */
void baton_prefault_warm_free(struct update *u);

/* ---- dryrun.c ---- */

int baton_dry_run_start(struct update *u);
/* Synchronous: its verdict, 0 when the target would take every payload. */
int baton_dry_run_wait(struct update *u);
void baton_dry_run_free(struct update *u);
__attribute__((noreturn))
void baton_dry_run_report(struct baton_host *host, struct baton_handover *hv);

/* ---- socket.c ---- */

#define BATON_FDS_PER_MSG 250
int baton_transfer_send(int sock, int image_fd, const int *fds, size_t n);
/* -EMFILE: our fd table filled; *@n is then the number of fds sent. */
int baton_transfer_recv(int sock, int *image_fd, int **fds, size_t *n);
/* The update's start, while the program serves: start the new process
 * and send it the PREPARE image to plan on; on failure, said in the
 * update, it is gone. */
int baton_socket_start(struct update *u);
/* The commit's start: wait until it has planned; on failure it is gone. */
int baton_socket_planned(struct update *u);
/* The commit, before FREEZE: the keeper, the cell, the commit's image and
 * copies to the new process, then wait until it is ready; on failure it
 * is gone. */
int baton_socket_commit(struct update *u);
/* After FREEZE: the go, then the new process's answer. */
int baton_socket_handover(struct update *u);
/* Our end of the new process: with @kill, it is killed and reaped. */
void baton_socket_end(struct update *u, bool kill);
/* Socket mode: the image, planned on (baton_restore_plan()), ready, the
 * go (after a kexec: the image and fds); a failure said in @why (EMFILE
 * with numbers). */
struct incoming;
int baton_socket_receive(struct baton_host *host, struct incoming *in,
			 struct baton_diag *why);
/* Ready, then the go: its image memfd in *@image_fd, FREEZE's time in @hv. */
int baton_socket_await_go(struct baton_handover *hv, int *image_fd,
			  struct baton_diag *why);
void baton_socket_answer(struct baton_handover *hv, int err, const char *why);

/* ---- image-index.c ---- */

/*
 * What a restore looks up in the image beyond what the parse keeps
 * (baton_image_find_fd() and friends), built once a restore from an image
 * baton_image_parse() returned.
 */
struct image_index {
	const struct baton_image *img;
	bool *region_fd;		/* each image fd: a region's memfd */
};

int baton_image_index_build(const struct baton_image *img, struct image_index *ix);
void baton_image_index_free(struct image_index *ix);
/* The position of the device whose session @session is (its address in
 * canonical form, baton_pci_addr_format()); -ENOENT if none. */
ssize_t baton_image_index_session_device(const struct image_index *ix,
					 const char *session);

/* ---- restore.c ---- */

/* What the new version holds from RESTORE until FINISH. */
struct incoming {
	struct baton_handover hv;
	void *image_data;		/* the image, read or mapped (restore.c) */
	size_t image_len;
	bool image_read;		/* image_data is the heap's */
	bool heap_grown;		/* for the image too (prefault.c): read it */
	struct baton_image *image;
	struct image_index index;	/* built with the plan */
	struct baton_decision *decisions;
	bool taken_over;
};

int baton_restore(struct baton_host *host, struct incoming *in,
		  struct baton_diag *why);
int baton_restore_plan(struct baton_host *host, struct incoming *in,
		       struct baton_diag *why);
/* Drop what baton_restore_plan() made: the image is to be planned again. */
void baton_restore_unplan(struct incoming *in);
/* Give back what a restore took; exec mode goes back to the previous
 * binary and returns only if there is none. */
int baton_restore_fail(struct baton_host *host, int err, const char *why);
/* @d follows its record's orphan policy: @n_fds fds of its did not
 * survive a kexec. */
void baton_restore_dropped(struct baton_decision *d, size_t n_fds);
/* TAKE OVER and FINISH: win the cell, resume every device, let the keeper go. */
int baton_restore_finish(struct baton_host *host);
/* A decision's state in the form its driver reads (converted when need
 * be), in *@buf, which the caller frees. */
int baton_restore_state(const struct baton_decision *d,
			const struct baton_driver **drv, const void **state,
			size_t *size, void **buf);
void baton_incoming_free(struct incoming *in);

/* ---- loop.c ---- */

struct watch {
	int fd;
	void (*ready)(struct watch *w, uint32_t events);
};

struct timer {
	uint64_t at;			/* CLOCK_MONOTONIC ns; 0: not armed */
	void (*fire)(struct timer *t, uint64_t now);
	struct timer *next;
};

int baton_loop_init(struct baton_host *host);
int baton_loop_add(struct baton_host *host, struct watch *w, uint32_t events);
int baton_loop_mod(struct baton_host *host, struct watch *w, uint32_t events);
void baton_loop_del(struct baton_host *host, struct watch *w);
/* Fire @t at @at, or sooner if it is armed sooner already. */
void baton_loop_arm(struct baton_host *host, struct timer *t, uint64_t at);
void baton_loop_disarm(struct baton_host *host, struct timer *t);
void baton_loop_free(struct baton_host *host);

/* ---- kexec.c ---- */

/* {"cmd":"kexec"} on the agent's connection @fd: the preflight's answer,
 * or, with @handover, the outcome once the program goes on; NULL: -ENOMEM. */
struct json_object *baton_kexec_request(struct baton_host *host, int fd, bool handover,
					unsigned timeout_ms);
/* The agent: one line from @fd, no byte past it, by @deadline_ns. */
int baton_kexec_read_line(int fd, uint64_t deadline_ns, char **out);
/*
 * The agent, after the kexec: start @path with @argv, its stdout and
 * stderr @out_fd and its stdin /dev/null (@out_fd -1: the agent's own
 * three); with @image_fd >= 0,
 * hand it the image and the regions' memfds and wait for it to take over
 * within @timeout_ms (0), or to refuse (-BATON_ERR_REFUSED, @why: what it
 * said); a program that refused or died is gone when this returns.  With
 * @image_fd < 0, a cold start.
 */
int baton_kexec_start(const char *path, char *const *argv, int out_fd, int image_fd,
		      const int *fds, size_t n, unsigned timeout_ms,
		      pid_t *pid, char *why, size_t why_len);

/* ---- keeper.c: the calling thread's policy, while it waits only to go ---- */

/*
 * The keeper, and socket mode's old process waiting for the new one's
 * answer, are woken by the new version right after FINISH to exit: as
 * SCHED_BATCH tasks they do not preempt it on waking.  Only from
 * SCHED_OTHER (a real-time program's policy could not always be had
 * back); true when it was made so, and baton_sched_other() gives it back
 * before the program goes on.
 */
bool baton_sched_batch(void);
void baton_sched_other(void);

/* ---- control.c ---- */

struct control;
/* After RESTORE: the connection of the client that asked for the update. */
int baton_control_adopt(struct baton_host *host);
/* After FINISH: tell that client how it went, from the loop's next turn. */
void baton_control_report(struct baton_host *host, const char *outcome,
			  const char *why);
/* Write what the clients have not taken yet, as far as they take it now. */
void baton_control_flush(struct baton_host *host);
void baton_control_free(struct baton_host *host);

/* ---- the host ---- */

struct baton_host {
	int (*prepare)(struct baton_host *host, void *arg);
	int (*dry_run)(struct baton_host *host, const struct baton_image *image,
		       void *arg);
	void *arg;
	uint64_t prepared;		/* calls of @prepare, so far (loop.c) */
	char *program;
	char *exec_path;
	char **argv;
	uint64_t generation;
	bool restored;
	struct baton_contracts *contracts;	/* this program's, for probing */

	struct baton_region **regions;
	size_t n_regions, cap_regions;
	uint64_t region_seq;		/* tokens stay unique as regions come and go */
	struct baton_session **sessions;	/* [0] is the default, "" */
	size_t n_sessions, cap_sessions;
	struct session_index session_index;
	struct baton_device **devices;
	size_t n_devices, cap_devices;
	struct device_index device_index;

	/* Between the keeper's fork and HANDOVER nothing may be added: the
	 * keeper holds what there was. */
	bool sealed;
	/* Socket mode: everything now belongs to another process. */
	bool handed_over;

	struct incoming *incoming;	/* RESTORE until FINISH */
	struct baton_update_result last;
	struct update *update;		/* in progress */
	/* Where baton_host_refuse() writes (BATON_REFUSAL_MAX bytes) while
	 * the prepare or dry-run hook runs; NULL otherwise. */
	char *refusal;

	int epfd;			/* loop.c */
	int timerfd;
	struct watch timer_watch;
	struct timer *timers;		/* armed */
	struct control *control;

	pid_t holder;			/* mm.c: the previous address space's */
	/* reap.c: children told to go (the keeper, the holder) */
	struct baton_reaping { pid_t pid; uint64_t kill_ns; } reaping[8];
	size_t n_reaping;
	struct timer reap_timer;
	pid_t prefaulter;		/* prefault.c: during the restore */
	void *prefault_stack;

	struct lingering *lingering;	/* linger.c */
	size_t n_lingering, cap_lingering;
};

#endif /* BATON_HOST_INTERNAL_H */
