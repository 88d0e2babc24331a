/* SPDX-License-Identifier: MIT */
#ifndef BATON_HOST_H
#define BATON_HOST_H

/**
 * DOC: the host: a program's live resources and its update
 *
 * A program that wants to be updated without losing anything creates one
 * host.  The host owns what must survive the update:
 *
 *  - preserved memory regions: memfds (MFD_ALLOW_SEALING, size sealed),
 *    mapped shared; the next version maps the same pages again, so nothing
 *    is ever copied, whatever the size;
 *  - preserved fds, each with a 64-bit token (sockets, pipes, eventfds,
 *    device fds) in a named session, handed to the next version by
 *    session and token, as in the kernel's LUO;
 *  - devices, each bound to a driver declared with BATON_DRIVER(), whose
 *    state is preserved in the schema the driver writes.
 *
 * The update runs in the phases of the kernel's live update orchestrator:
 *
 *   PREPARE    each driver serializes its device's state; still running.
 *              The target is started in dry-run mode against a sealed copy
 *              of the image and checks it can read every state, and its
 *              program's dry-run hook what else it would need.
 *   FREEZE     a keeper process is forked that holds every preserved fd
 *              and the image; each driver quiesces its device; the
 *              blackout starts
 *   HANDOVER   the image goes into a sealed memfd; exec mode execs the
 *              target in place (same PID), socket mode starts it as a new
 *              process and sends it everything (SCM_RIGHTS)
 *   RESTORE    the new version's baton_host_create(): image, plan, fds,
 *              regions, each device through its driver (converted when the
 *              driver reads an older schema); devices are not resumed yet
 *   TAKE OVER  the program does its own restore work, then calls
 *              baton_host_take_over(): from then on it owns the program,
 *              and the previous version can no longer come back
 *   FINISH     every device resumes; the blackout ends; the keeper leaves;
 *              the client that asked is told "updated" (from the
 *              program's loop, when it next turns)
 *
 * A failure before HANDOVER unwinds in reverse and the program goes on as
 * it was.  From FREEZE until TAKE OVER, a new version that fails, gives up
 * (baton_host_roll_back()), crashes, is killed or misses the deadline
 * brings the previous version back with the same, untouched image and
 * every fd - the old process itself in socket mode, an exec of the
 * previous binary in exec mode, or the keeper when either version died -
 * so nothing is lost and no device is reset.
 *
 * The host is single-threaded: call it from one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/driver.h>
#include <baton/image.h>
#include <baton/plan.h>
#include <baton/version.h>

BATON__BEGIN_DECLS

struct baton_host;
struct baton_device;
struct baton_region;

/**
 * struct baton_driver_ops - what a driver does in each phase
 *
 * Each returns 0 or a negative error code: -errno, as the kernel's
 * drivers do (or a -BATON_ERR_* code); the update reports it with the
 * device, the driver and the operation that failed.  State
 * buffers hold the schema the driver writes: its first native accept.
 *
 * @probe:    a device with no preserved state was added (cold start).
 * @preserve: PREPARE: serialize the device's state into @state (@size
 *            bytes, zeroed).  The device is still running.
 * @freeze:   FREEZE: stop the device's work (no new DMA, no interrupts
 *            acted on); its state must not change after this returns.
 * @unfreeze: an update failed after FREEZE: resume as if nothing happened.
 * @restore:  RESTORE, in the new version: take the device over from @state,
 *            already converted to this driver's schema.  Do not resume yet.
 * @validate: a dry run: decode @state without a device; 0 if restore()
 *            would accept it.
 * @finish:   FINISH: resume the device's work.
 * @remove:   the device goes away, or a restore is abandoned: let go of it
 *            without resetting it.
 * @restore_complete: RESTORE, once every device's restore() has been
 *            called, before the program's own restore work and TAKE
 *            OVER: finish what restore() started without waiting for it
 *            - reads of the device submitted with
 *            baton_devio_read_submit(), collected here with
 *            baton_devio_read_complete() - so that the devices' round
 *            trips inside the blackout overlap.  An error fails the
 *            device's restore as restore()'s own would.  May be NULL.
 * @reserved: NULL (version.h): later versions' operations
 */
struct baton_driver_ops {
	int (*probe)(struct baton_device *dev);
	int (*preserve)(struct baton_device *dev, void *state, size_t size);
	int (*freeze)(struct baton_device *dev);
	void (*unfreeze)(struct baton_device *dev);
	int (*restore)(struct baton_device *dev, const void *state, size_t size);
	int (*validate)(const void *state, size_t size);
	void (*finish)(struct baton_device *dev);
	void (*remove)(struct baton_device *dev);
	int (*restore_complete)(struct baton_device *dev);
	void (*reserved[7])(void);
};

/**
 * struct baton_host_opts
 * @program:   the program's name and version, free text, for people
 * @exec_path: the binary a failed next version comes back to; NULL for
 *             this process's own executable (/proc/self/exe)
 * @argv:      this process's arguments, reused for that comeback; NULL
 *             terminated
 * @prepare:   called first in PREPARE, to save what only the program
 *             knows (its connections' pending bytes, say) into preserved
 *             regions or fds; an error stops the update, and
 *             baton_host_refuse() tells the client why.  May be NULL.
 * @arg:       passed to @prepare and @dry_run
 * @dry_run:   called in the dry run (this binary started by an update as
 *             its target, before anything is frozen) once every device's
 *             state has been decoded, with the image PREPARE made: whether
 *             this version could take the program over from it - map its
 *             regions (@image's, by label and size) beside the ones it
 *             would make, say.  Nothing is restored or mapped then, and
 *             the hook must leave nothing behind.  An error refuses the
 *             update while the old version serves on; baton_host_refuse()
 *             says why.  May be NULL.
 * @reserved:  zero (version.h)
 */
struct baton_host_opts {
	const char *program;
	const char *exec_path;
	char *const *argv;
	int (*prepare)(struct baton_host *host, void *arg);
	void *arg;
	int (*dry_run)(struct baton_host *host, const struct baton_image *image,
		       void *arg);
	uint64_t reserved[7];
};

/**
 * baton_host_create() - start, restoring from an incoming update if any
 * @opts: see struct baton_host_opts
 * @out:  the host, free with baton_host_destroy()
 *
 * Call it first, before anything that has an effect: a process an update
 * starts in dry-run mode reports from here and exits.  What has none
 * outside the process and needs nothing restored - memory, an event loop,
 * its threads' structures - is better before it: socket mode starts the
 * new process with the update, and it waits in here for the go, so that
 * work is done out of the blackout (kvcache's: half of its blackout);
 * baton_host_early_start() tells, for work that should run early only
 * then (threads, which after an exec would start in the blackout).  It raises the
 * process's soft limit of open files (RLIMIT_NOFILE) to the hard limit,
 * since preserved fds grow with the devices: a program that uses select()
 * keeps its own fds below FD_SETSIZE.  A process an update
 * starts as the new version restores here, and must then call
 * baton_host_take_over() once its own restore work is done.
 *
 * A restore that fails does not return: the previous version is brought
 * back with the untouched image.  It returns the error only when there is
 * no previous version to go back to; then exit without touching anything
 * (the keeper, or the old process, brings the program back).
 *
 * Return: 0, -EINVAL (@opts->reserved is not zero), -ENOMEM, -errno (a
 * system call failed), or the error that stopped the restore (an image
 * error, -BATON_ERR_REFUSED).
 */
int baton_host_create(const struct baton_host_opts *opts,
		      struct baton_host **out);

/**
 * baton_host_take_over() - the new version owns the program from now on
 * @host: the host
 *
 * Call it after baton_host_create() once the program has done its own
 * restore work - adopted its connections, converted what it must - and
 * before it serves anyone: until then the previous version can still be
 * brought back, from the same image and the same fds, so nothing the
 * previous version would need must have been changed.  It wins the update
 * for this version (in exec mode, the previous binary if it came back),
 * runs FINISH (every device resumes and the blackout ends), lets the
 * keeper go, and queues the answer to the client that asked for the
 * update: baton_host_dispatch() writes it, once the program's loop turns
 * again, after what the program does first.  A new
 * version that has not called it within the update's deadline is killed
 * and the previous one brought back.
 *
 * After a cold start, or a second time, it does nothing.
 *
 * Return: 0; or -BATON_ERR_ABANDONED when the update was given up first
 * (the deadline passed): the previous version owns the program, so exit at
 * once, touching nothing (baton_host_destroy() touches nothing then).
 */
int baton_host_take_over(struct baton_host *host);

/**
 * baton_host_roll_back() - the new version cannot take over: go back
 * @host: the host
 * @why:  what went wrong, for the client that asked for the update; may
 *        be NULL
 *
 * For a new version whose own restore work failed after
 * baton_host_create() (out of memory converting its data, say).  Every
 * device is let go without a reset and, in exec mode, the previous binary
 * is executed in place with the same image and fds: this call does not
 * return.  In socket mode the old process is told, and goes on.
 *
 * Return: -BATON_ERR_ABANDONED: exit at once, touching nothing; or
 * -EINVAL when this process was not started by an update or has taken
 * over already.
 */
int baton_host_roll_back(struct baton_host *host, const char *why);

/**
 * baton_host_destroy() - let go of everything the host holds
 * @host: the host, or NULL
 *
 * Each device's driver gets remove() (which must not reset it), the
 * regions are unmapped and their memfds closed, and the control socket is
 * closed and its path unlinked.  Preserved fds are the program's: they
 * stay open.  After BATON_HANDED_OVER or -BATON_ERR_ABANDONED the socket
 * path and the fds are another process's, and this touches neither.
 */
void baton_host_destroy(struct baton_host *host);

/**
 * baton_host_early_start() - whether this process starts ahead of the blackout
 *
 * What a program may do before baton_host_create() (see there) costs the
 * blackout or not depending on how an update started it.  A socket-mode
 * update starts the new version as a new process ahead of FREEZE, and
 * baton_host_create() waits for the old version's go: what comes before
 * it - the program's threads, parked until it has taken over - is out of
 * the blackout.  After an exec-mode update's exec, everything up to
 * baton_host_take_over() is in the blackout, and the same work is better
 * done after it.  It reads only the environment the previous version set,
 * and takes nothing: a hint for what to do early, which
 * baton_host_create() checks through.
 *
 * Return: true for a socket-mode update's new version; false after an
 * exec-mode update's exec or a kexec, for a dry run, and on a cold start.
 */
bool baton_host_early_start(void);

/**
 * baton_host_restored() - whether an update started this process
 * @host: the host
 *
 * Return: true when baton_host_create() restored from an incoming image
 * (also when this version came back after the next one failed), false
 * after a cold start.
 */
bool baton_host_restored(const struct baton_host *host);

/**
 * baton_host_generation() - how many updates the program has been through
 * @host: the host
 *
 * Return: 0 after a cold start; else the generation of the image restored
 * from, one more than the version that wrote it.  A version that came
 * back after a failed update keeps the generation it had: the update did
 * not happen.
 */
uint64_t baton_host_generation(const struct baton_host *host);

/**
 * struct baton_update_result - what the last update did
 * @rolled_back:  this version came back because the next one failed
 * @why:          why it came back, for people; "" when it did not
 * @blackout_ns:  FREEZE in the previous version to FINISH in this one:
 *                how long the devices were quiesced; 0 until
 *                baton_host_take_over()
 * @n_decisions:  the number of @decisions
 * @decisions:    one per preserved device
 * @held_ns:      the start of the commit in the previous version to FINISH
 *                in this one: how long the program's thread was held - from
 *                its prepare hook (where a program with threads of its own
 *                parks them), through the states, the image, the keeper's
 *                start and the blackout - which is what a client served on
 *                that thread waits at most; 0 like @blackout_ns, or when the
 *                previous version did not say
 */
struct baton_update_result {
	bool rolled_back;
	const char *why;
	uint64_t blackout_ns;
	size_t n_decisions;
	const struct baton_decision *decisions;
	uint64_t held_ns;
};

/**
 * baton_host_last_update() - the update this process was started by
 * @host: the host
 *
 * Return: what it did, owned by the host; NULL after a cold start.
 */
const struct baton_update_result *
baton_host_last_update(const struct baton_host *host);

/* ---- Regions ---- */

/**
 * baton_host_region() - a preserved memory region, created or inherited
 * @host:  the host
 * @label: its name, unique in the host
 * @size:  its size; an inherited region must have this size
 * @out:   the region, mapped shared, zeroed when new
 *
 * Return: 0, -ERANGE (inherited with another size), -EINVAL (a new
 * region of size 0), -EBUSY (between FREEZE and HANDOVER), or the -errno
 * of memfd_create(), ftruncate() or mmap() (-ENOMEM, -EMFILE...).
 */
int baton_host_region(struct baton_host *host, const char *label, size_t size,
		      struct baton_region **out);
/**
 * baton_host_find_region() - look a region up by its label
 * @host:  the host
 * @label: its name
 *
 * Finds program regions and device regions (baton_device_region()) alike,
 * created here or inherited, whatever their size.
 *
 * Return: the region, or NULL when there is none called @label.
 */
struct baton_region *baton_host_find_region(const struct baton_host *host,
					    const char *label);

/**
 * baton_region_release() - unmap and forget a region
 * @region: a region of the host; invalid after this returns
 *
 * The memory is unmapped and the memfd closed: the next version will not
 * get it.  A region devices use (baton_device_region()) goes with its last
 * user instead, and this does nothing to it.
 */
void baton_region_release(struct baton_region *region);

/**
 * baton_region_base() - where the region is mapped in this process
 * @region: the region
 *
 * Return: the first byte of the shared mapping; valid until the region is
 * released or the host destroyed.
 */
void *baton_region_base(const struct baton_region *region);

/**
 * baton_region_size() - the size of a region
 * @region: the region
 *
 * Return: its size in bytes, as created (sealed: it never changes).
 */
size_t baton_region_size(const struct baton_region *region);

/**
 * baton_region_fd() - the memfd behind a region
 * @region: the region
 *
 * To share the pages with another process, e.g. a vfio-user device
 * (baton_vfu_dma_map()).  The host owns the fd: do not close it.
 *
 * Return: the memfd.
 */
int baton_region_fd(const struct baton_region *region);

/**
 * baton_region_inherited() - whether a region came from the previous version
 * @region: the region
 *
 * Return: true for a region mapped again from the incoming image, false
 * for one this version created.
 */
bool baton_region_inherited(const struct baton_region *region);

/**
 * baton_region_users() - how many devices use a region
 * @region: the region
 *
 * Return: the number of devices using it through baton_device_region();
 * 0 for a program region.
 */
unsigned baton_region_users(const struct baton_region *region);

/* ---- Preserved fds ---- */

/**
 * baton_host_preserve_fd() - hand @fd to the next version under @token
 * @host:  the host
 * @token: the program's name for it, unique in the session, not 0, top
 *         bit clear
 * @fd:    the fd, which stays the program's
 * @kind:  what it is, recorded in the image for people and tools, and for
 *         the preflight: a VFIO group, container or iommufd makes the dry
 *         run want the target's VFIO backend (docs/vfio.md)
 *
 * The host does not own @fd: the program keeps using and closing it (then
 * it must baton_host_unpreserve_fd() first).  Tokens are the program's own
 * names; they must be unique in their session and not 0, and their top bit
 * is the host's.  These three work on the default session, "".
 *
 * Return: 0, -BATON_ERR_DUPLICATE, -EINVAL, -EBUSY (between FREEZE and
 * HANDOVER: PREPARE is where fds are preserved), -ENOMEM.
 */
int baton_host_preserve_fd(struct baton_host *host, uint64_t token, int fd,
			   enum baton_fd_kind kind);

/**
 * baton_host_unpreserve_fd() - stop handing the fd under @token over
 * @host:  the host
 * @token: a token of the default session
 *
 * The fd itself is left open: it is the program's.  Call this before
 * closing a preserved fd.
 *
 * Return: 0, -ENOENT when nothing is preserved under @token, -EBUSY
 * between FREEZE and HANDOVER.
 */
int baton_host_unpreserve_fd(struct baton_host *host, uint64_t token);

/**
 * baton_host_take_fd() - the fd the previous version preserved as @token
 * @host:  the host
 * @token: its token in the default session
 *
 * The fd belongs to the caller from then on, and stays preserved under
 * the same token until baton_host_unpreserve_fd().  An fd this version
 * preserved under @token is returned the same way.
 *
 * Return: the fd, or -ENOENT when there is none.
 */
int baton_host_take_fd(struct baton_host *host, uint64_t token);

/**
 * baton_host_close_after_finish() - close a fd after FINISH, not in the exec
 * @host: the host
 * @fd:   an open, close-on-exec fd of the program's own that is not
 *        preserved: its epoll fd, say
 *
 * An exec-mode update closes the program's close-on-exec fds inside
 * execve(), in the blackout, and closing some costs: the kernel tears an
 * epoll fd down one registration at a time (~1.4 ms for a thousand), and
 * closing an inotify or fanotify fd waits for fsnotify's grace period
 * (5-20 ms here) - one the next version wants too is better preserved and
 * taken, as demo-host does its directory watch.  A fd marked with this
 * call crosses the exec instead - its close-on-exec cleared just before,
 * and set again if the update does not happen - and the next version's
 * library makes it close-on-exec again as it starts and closes it just
 * after FINISH.  The next version never sees it
 * otherwise; its number stays taken until then.  Only a target whose dry
 * run says its library does this gets it: an update without a dry run,
 * or to a library older than this call, closes it at the exec as before.
 *
 * The fd stays the program's, to use and to close: the mark is acted on
 * only if, at the exec, the fd is still open, still the file it was when
 * marked (as fstat() tells files apart) and still close-on-exec; marking
 * it again updates the mark.  Socket mode needs none of this (the old
 * process closes its fds when it exits, after FINISH), nor does a kexec.
 *
 * Return: 0; -EINVAL (@host NULL, @fd negative or a standard stream, or
 * @fd preserved: the next version takes it); -EBADF (@fd not open);
 * -EBUSY (between FREEZE and HANDOVER); -ENOMEM.
 */
int baton_host_close_after_finish(struct baton_host *host, int fd);

/* ---- Sessions: named sets of preserved fds ---- */

/**
 * baton_host_session() - the session called @name, created or inherited
 * @host: the host
 * @name: its name, at most BATON_SESSION_NAME_MAX bytes; "" is the
 *        default session, the one baton_host_preserve_fd() and friends use
 * @out:  the session; the host owns it
 *
 * The kernel LUO's sessions: each part of a program (a driver, per device;
 * a library) keeps its fds under its own name, and chooses its tokens
 * without knowing anyone else's.  The next version finds the session by
 * name and each fd in it by token.
 *
 * Return: 0, -EINVAL (a name too long, or NULL), -ENOMEM.
 */
#define BATON_SESSION_NAME_MAX 64
struct baton_session;
int baton_host_session(struct baton_host *host, const char *name,
		       struct baton_session **out);

/**
 * baton_session_name() - the name of a session
 * @session: the session
 *
 * Return: the name it was created with; "" for the default session.
 */
const char *baton_session_name(const struct baton_session *session);

/**
 * baton_session_preserve_fd() - baton_host_preserve_fd(), in @session
 * @session: the session
 * @token:   the fd's name in @session: not 0, top bit clear
 * @fd:      an open fd; still the program's
 * @kind:    what it is, for the image, for people and for the preflight
 *           (as baton_host_preserve_fd())
 *
 * Preserving again the fd already preserved under @token (an inherited
 * one, say) only updates its kind.
 *
 * Return: 0, -EINVAL (@token 0 or with its top bit set, @fd not open,
 * @kind out of range), -BATON_ERR_DUPLICATE (another fd has @token),
 * -EBUSY (between FREEZE and HANDOVER), -ENOMEM.
 */
int baton_session_preserve_fd(struct baton_session *session, uint64_t token,
			      int fd, enum baton_fd_kind kind);

/**
 * baton_session_unpreserve_fd() - baton_host_unpreserve_fd(), in @session
 * @session: the session
 * @token:   the fd's token
 *
 * Return: 0, -ENOENT when nothing is preserved under @token, -EBUSY
 * between FREEZE and HANDOVER.
 */
int baton_session_unpreserve_fd(struct baton_session *session, uint64_t token);

/**
 * baton_session_take_fd() - baton_host_take_fd(), in @session
 * @session: the session
 * @token:   the fd's token
 *
 * Return: the fd, or -ENOENT when none is preserved under @token.
 */
int baton_session_take_fd(struct baton_session *session, uint64_t token);

/* ---- Devices ---- */

/**
 * struct baton_device_info - a device the program drives
 * @addr:      where it is
 * @ids:       what it is: its driver is chosen by these
 * @orphan:    what an update does with it when no driver takes it
 * @mandatory: an update that cannot hand it to a driver is refused
 * @reserved:  zero (version.h)
 */
struct baton_device_info {
	struct baton_pci_addr addr;
	struct baton_pci_ids ids;
	enum baton_orphan orphan;
	bool mandatory;
	uint64_t reserved[4];
};

/**
 * baton_host_add_device() - a device appeared (cold start, or hotplug)
 * @host: the host
 * @info: what the device is and what an update must do with it
 * @out:  the device, owned by the host
 *
 * The device is bound to the best driver whose id table matches (highest
 * priority; a tie binds nothing) and probed.  A device restored from the
 * image is already there: adding it again returns it.
 *
 * Return: 0, -ENOENT (no driver's id table matches), -BATON_ERR_CONFLICT
 * (two drivers tie), -EBUSY (between FREEZE and HANDOVER), -EINVAL
 * (@info->reserved is not zero), -ENOMEM, or the driver's probe error.
 */
int baton_host_add_device(struct baton_host *host,
			  const struct baton_device_info *info,
			  struct baton_device **out);

/**
 * baton_host_remove_device() - a device went away, or the program lets go
 * @dev: the device; freed here
 *
 * Its driver's remove() runs (which must not reset it), and the regions it
 * used lose a user; the last user of a region releases it.
 */
void baton_host_remove_device(struct baton_device *dev);

/**
 * baton_device_region() - memory shared by the devices that use it
 * @dev:   a device that uses it (its DMA memory, a ring, a pool)
 * @label: its name, unique in the host
 * @size:  its size; an existing region must have this size
 * @out:   the region, mapped shared, zeroed when new
 *
 * The kernel's FLB, for memory: the first device to ask creates it, every
 * other device - and the same devices in the next version - gets the same
 * pages.  It is preserved while any device uses it: each device's image
 * record names the regions it uses, a restored device uses them again
 * before its driver's restore() runs, and a quarantined one keeps using
 * them, since it may still be writing to them.  It is released when its
 * last user is removed, or when no device of the new version uses it
 * after RESTORE (its users were reset or released).
 *
 * Return: 0, -BATON_ERR_DUPLICATE (@label is a program region), -ERANGE
 * (another size), or as baton_host_region().
 */
int baton_device_region(struct baton_device *dev, const char *label,
			size_t size, struct baton_region **out);

/**
 * baton_host_device() - look a device up by its address
 * @host: the host
 * @addr: the device's PCI address
 *
 * Return: the device, added or restored (quarantined ones too), or NULL.
 */
struct baton_device *baton_host_device(const struct baton_host *host,
				       const struct baton_pci_addr *addr);

/**
 * baton_host_next_device() - walk the host's devices
 * @host: the host
 * @prev: the device returned last; NULL for the first
 *
 * Devices come in the order they were added or restored, quarantined ones
 * included.
 *
 * Return: the device after @prev; NULL after the last, or when @prev is
 * not one of the host's.
 */
struct baton_device *baton_host_next_device(const struct baton_host *host,
					    const struct baton_device *prev);

/**
 * baton_device_info() - what the host knows of a device
 * @dev: the device
 *
 * Return: the info it was added with, or, for a restored device, its
 * record's address, ids, orphan policy and mandatory flag.
 */
const struct baton_device_info *baton_device_info(const struct baton_device *dev);

/**
 * baton_device_driver() - the driver a device is bound to
 * @dev: the device
 *
 * Return: the driver; NULL for a quarantined device, which no driver
 * accepted.
 */
const struct baton_driver *baton_device_driver(const struct baton_device *dev);

/**
 * baton_device_host() - the host a device belongs to
 * @dev: the device
 *
 * Return: the host.
 */
struct baton_host *baton_device_host(const struct baton_device *dev);

/**
 * baton_device_priv() - the driver's private data for a device
 * @dev: the device
 *
 * Return: what baton_device_set_priv() set last; NULL before.  It does
 * not cross an update: what must, goes in the preserved state.
 */
void *baton_device_priv(const struct baton_device *dev);

/**
 * baton_device_set_priv() - attach the driver's private data to a device
 * @dev:  the device
 * @priv: anything; the host never looks at it nor frees it
 */
void baton_device_set_priv(struct baton_device *dev, void *priv);

/* ---- The update ---- */

/**
 * struct baton_update_report - what a preflight decided, for the caller
 * @decisions:  one per device, the target's plan from its contracts
 * @n:          their number
 * @why:        why the update was refused, aborted or rolled back, for
 *              people: the device, driver and operation that failed, or
 *              what the new version said; "" when it went ahead
 * @records:    the device records the plan was made for, which
 *              @decisions point into
 * @contracts:  the target's contracts, which @decisions point into
 * @reserved:   zeroed by the library (version.h)
 */
struct baton_update_report {
	struct baton_decision *decisions;
	size_t n;
	char why[256];
	struct baton_image_device *records;
	struct baton_contracts *contracts;
	uint64_t reserved[4];
};

/**
 * baton_update_report_release() - free what a report holds
 * @report: a report baton_host_update() filled, or a zeroed one
 *
 * Frees the decisions, records and contracts, not @report itself, and
 * zeroes @report, so releasing it twice is harmless.
 */
void baton_update_report_release(struct baton_update_report *report);

/**
 * struct baton_update_opts
 * @target:  the binary to exec
 * @argv:    its arguments (argv[0] first), NULL terminated; NULL reuses
 *           the host's
 * @orphan:  overrides the devices' orphan policy in the preflight
 * @force:   go ahead although a mandatory device would not be bound
 * @dry_run: stop before the commit: the preflight, PREPARE (the program's
 *           prepare hook, the drivers' states) and the target's dry run
 *           run as for an update, and 0 says the update would go ahead
 *           as far as FREEZE.  Socket mode's new process and exec mode's
 *           holder are not started
 * @no_dry_run: skip running the target in dry-run mode (for a target
 *           built without libbaton's host; the static plan still runs)
 * @timeout_ms: how long the dry run may take, and how long the new
 *           version may take from FREEZE to baton_host_take_over(); 0 for
 *           BATON_DRY_RUN_TIMEOUT_MS
 * @report:  filled with the preflight's decisions when not NULL (also when
 *           the update is refused); release it with
 *           baton_update_report_release()
 * @reserved: zero (version.h)
 */
enum baton_update_mode {
	BATON_MODE_EXEC,	/* exec in place: same PID */
	BATON_MODE_SOCKET,	/* a new process, handed everything over a socket */
};

/* baton_host_update() and baton_host_dispatch() return it in socket mode
 * when the new process has taken over: exit now, touching nothing. */
#define BATON_HANDED_OVER 1

struct baton_update_opts {
	enum baton_update_mode mode;
	const char *target;
	char *const *argv;
	enum baton_orphan_override orphan;
	bool force;
	bool dry_run;
	bool no_dry_run;
	unsigned timeout_ms;
	struct baton_update_report *report;
	uint64_t reserved[8];
};

#define BATON_DRY_RUN_TIMEOUT_MS 10000

/**
 * baton_host_update() - replace this program with @opts->target
 * @host: the host, which has taken over (baton_host_take_over())
 * @opts: the target and how to update to it (struct baton_update_opts)
 *
 * First the preflight, before anything is touched: the target's contracts
 * are read from its ELF file and the devices planned against them; a
 * mandatory device the target would not bind refuses the update (unless
 * @opts->force).  Then PREPARE, and the dry run: the target is started
 * against a sealed copy of the image, with nothing else, decodes every
 * payload with its drivers' validators and reports; a payload it cannot
 * read, or no report within the timeout, refuses the update.  Then the
 * keeper is forked, FREEZE (after which each driver serializes its final
 * state once more) and HANDOVER.  This call waits for the dry run; an
 * update asked over the control socket does not hold the program for it
 * (baton_host_dispatch()).
 *
 * Just before the keeper, the update copies each preserved fd (one dup a
 * fd, at the lowest free numbers) and checks the copy is the file
 * preserved: a fd closed, or closed and whose number another open() took,
 * refuses the update, naming it.  What crosses is the copy, whatever the
 * program or a driver's freeze() does with its own number afterwards.  So
 * the fd table needs room for as many fds again as are preserved (the
 * host raised its soft RLIMIT_NOFILE to the hard limit): without it the
 * update is refused, -EMFILE, saying how many are needed against which
 * limit.  The copies are not close-on-exec (an exec carries them without
 * a call a fd in the blackout): a child another thread of the program
 * fork()s and execs from the commit until the update ends inherits them,
 * as the keeper does.  An update that does not hand over closes them.
 * They are the update's numbers: a program closing a number it does not
 * own (a double close()) could close one.  In exec mode, with a target
 * that says it closes them after its FINISH, the program's own numbers of
 * the preserved fds lose close-on-exec at the same time (so that the exec
 * does not close them, in the blackout): such a child inherits them too.
 * An update that does not exec puts it back on each, as it was.
 *
 * A target must call baton_host_create() before anything else that has an
 * effect, and baton_host_take_over() once it has restored.
 *
 * In exec mode, returns only when the update did not happen; the program
 * is then running as before, every device unfrozen, every fd as it was.
 *
 * In socket mode (@opts->mode), the target is started as a new process and
 * receives the image and every preserved fd over a socket (SCM_RIGHTS); this
 * process keeps everything until the new one takes over, within
 * @opts->timeout_ms.  It then returns BATON_HANDED_OVER: destroy the host
 * (which then touches nothing) and exit.  A new process that fails,
 * crashes or misses the deadline is killed, and this one unwinds and goes
 * on (-BATON_ERR_ABORTED).
 *
 * Return: BATON_HANDED_OVER (socket mode); 0 after a dry run that would
 * go ahead (@opts->dry_run); or the error that stopped it, @opts->report's
 * @why saying which device, driver and operation, or what the new version
 * said: -EINVAL (no @opts->target, or @opts->reserved is not zero), -EBUSY (an update is running, or this
 * version has not taken over yet), -BATON_ERR_REFUSED (the preflight or the
 * dry run: nothing was touched), a driver's or the program's error in
 * PREPARE (nothing was touched), -EBADF or -ESTALE (a preserved fd
 * closed, or its number reused, before the commit: nothing was touched),
 * -EMFILE (no room for the copies: nothing was touched),
 * -BATON_ERR_ABORTED (after FREEZE: the
 * program was unwound and goes on as before), -ENOMEM.
 */
int baton_host_update(struct baton_host *host,
		      const struct baton_update_opts *opts);

/* The longest reason baton_host_refuse() passes on, its NUL included. */
#define BATON_REFUSAL_MAX 200

/**
 * baton_host_refuse() - from a hook: refuse the update, saying why
 * @host: the host whose prepare or dry-run hook (struct baton_host_opts)
 *        is running
 * @fmt:  the reason, printf-style, for the people who asked for the update
 *
 * The update stops before anything is frozen, and the client that asked
 * is told "the program's prepare: " and the reason (from the dry-run
 * hook: "dry run: the program: " and the reason): in the control reply's
 * "error" (docs/control-protocol.md), and in the report's @why of
 * baton_host_update().  The reason is cut to BATON_REFUSAL_MAX - 1 bytes
 * and every byte that is not printable ASCII becomes '?', since it goes
 * to another process and to a terminal.  The first reason a hook gives
 * counts.  Without one, the client is told the hook's error code.
 *
 * Return: -BATON_ERR_REFUSED, for the hook to return (any error the hook
 * returns stops the update); -EINVAL, nothing recorded, when neither hook
 * of @host is running or @fmt is NULL.
 */
int baton_host_refuse(struct baton_host *host, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- The control socket (docs/control-protocol.md) ---- */

/**
 * baton_host_listen() - accept control requests on a Unix socket at @path
 * @host: the host
 * @path: where the socket is made: a socket already there is taken for a
 *        dead program's and replaced; any other file is an error
 *
 * The socket is created with mode 0600, and each connection's peer is
 * checked (SO_PEERCRED): only this user or root may ask anything.  The
 * listening socket is preserved across updates: a restored host listens
 * on it already, and calling this again with the same path is a no-op.
 *
 * Return: 0, -ENAMETOOLONG, or the -errno of socket(), bind() or
 * listen() (-EADDRINUSE...), -ENOMEM.
 */
int baton_host_listen(struct baton_host *host, const char *path);

/**
 * baton_host_fd() - the fd to poll for the host's events
 * @host: the host
 *
 * Poll it for POLLIN in the program's event loop, with the program's own
 * fds, and call baton_host_dispatch() when it is readable.  It is an epoll
 * fd: the control socket and its clients, an update's dry run, the
 * deadlines of each.
 *
 * Return: the fd; it is the host's, do not close it.
 */
int baton_host_fd(const struct baton_host *host);

/**
 * baton_host_dispatch() - do what the host's events call for
 * @host: the host
 *
 * Call when baton_host_fd() is readable.  It does one bounded step per
 * event, and never waits: control requests are read and answered as the
 * clients send and take them, any number side by side, each within its
 * deadline; an update request starts the update, whose dry run runs while
 * the program goes on.  Only when the dry run has said yes is the program
 * held: the commit (the prepare hook again, the image, the keeper), FREEZE
 * and HANDOVER.  In exec mode a successful update then does not return,
 * and the new version answers the client on the same connection once it
 * has taken over.  It returns after a step that called the program's
 * prepare hook, whatever other events wait: a program that parks its
 * threads there unparks them when this returns, and so they serve through
 * the dry run, however soon it ends.
 *
 * Return: 0, or BATON_HANDED_OVER when, in socket mode, the new process has
 * taken over: destroy the host (it then touches nothing) and exit.
 */
int baton_host_dispatch(struct baton_host *host);

BATON__END_DECLS

#endif /* BATON_HOST_H */
