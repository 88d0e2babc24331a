// SPDX-License-Identifier: MIT
/**
 * DOC: the new version's path: RESTORE, TAKE OVER, FINISH
 *
 * baton_host_create() in a process an update started reads the handover
 * (handover.c) and restores, in the reverse of the order the update took
 * things apart:
 *
 *   the image    a sealed memfd only (an unsealed one could have changed
 *                since it was checked), parsed and validated whole (socket
 *                mode: with the plan, before FREEZE, socket.c)
 *   the plan     the same planner as the preflight, against this
 *                program's drivers, with the update's orphan override
 *   the fds      each into its session, by token; their number must be
 *                the image's
 *   the regions  mapped again: the same pages, never copied
 *   the devices  each through its driver's restore(), its state converted
 *                first when the driver reads an older schema; a device no
 *                driver takes is carried forward untouched (quarantine);
 *                then each driver's restore_complete() collects what its
 *                restore() left in flight (its device reads)
 *
 * and returns: devices are restored but not resumed.  The program then
 * does its own restore work (adopts connections, converts what it must)
 * and calls baton_host_take_over(): it wins the commit cell (keeper.c), so
 * the previous version can no longer come back, and FINISH resumes every
 * device and ends the blackout; then the keeper leaves and the client that
 * asked for the update is told.  Until the cell is won, the previous
 * version can still be brought back.
 *
 * A restore that fails, or a program that calls baton_host_roll_back(),
 * gives back what it took - drivers let go without a reset, the inherited
 * fds stay open - and, in exec mode, execs the previous binary in place
 * with the same image and fds, which restores and takes over in its turn
 * (a device it cannot restore either is let go unrestored, and named in
 * the answer: there is nowhere further back to go); in socket mode it
 * tells the old process, which goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "host/host-internal.h"

void baton_restore_unplan(struct incoming *in)
{
	free(in->decisions);
	baton_image_index_free(&in->index);
	baton_image_free(in->image);
	if (in->image_read)
		free(in->image_data);
	else if (in->image_data)
		munmap(in->image_data, in->image_len);
	in->decisions = NULL;
	in->image = NULL;
	in->image_data = NULL;
}

void baton_incoming_free(struct incoming *in)
{
	if (!in)
		return;
	baton_handover_release(&in->hv);
	baton_restore_unplan(in);
	free(in);
}

/*
 * Into the heap grown for it (prefault.c), a read: a new process's first
 * touch of each 4 KiB page of a mapping costs ~3 us on the VMs measured
 * here (the hypervisor fills its own tables a page at a time), 0.5 ms
 * inside the blackout for the 652 KiB image of 1,024 devices, where one
 * read into huge pages the prefaulter populates takes 0.15-0.2 ms.
 */
static int read_image(struct incoming *in)
{
	ssize_t got;

	in->image_data = malloc(in->image_len);
	if (!in->image_data)
		return -ENOMEM;
	in->image_read = true;
	for (size_t off = 0; off < in->image_len; off += (size_t)got) {
		got = pread(in->hv.image_fd, (char *)in->image_data + off,
			    in->image_len - off, (off_t)off);
		if (got < 0 && errno == EINTR)
			got = 0;
		else if (got <= 0)
			/* Sealed against shrinking: it cannot end early. */
			return got < 0 ? -errno : -EIO;
	}
	return 0;
}

/*
 * The image memfd, sealed against change: read into the heap where it was
 * grown for it, else mapped read-only - a read into fresh 4 KiB pages
 * costs more than the mapping (a fault a page, where the page cache's are
 * mapped sixteen at a time): 4.4-5.5 against 1.8-2.2 us a device
 * parsing 1,024 devices in a new process (bench_image --fresh, both ways).
 */
static int load_image(struct incoming *in)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	int have = fcntl(in->hv.image_fd, F_GET_SEALS);
	struct stat st;

	if (have < 0 || fstat(in->hv.image_fd, &st) < 0)
		return -errno;
	if ((have & seals) != seals || st.st_size <= 0)
		return -EPERM;
	in->image_len = (size_t)st.st_size;
	in->image_read = false;
	if (in->heap_grown)
		return read_image(in);
	in->image_data = mmap(NULL, in->image_len, PROT_READ, MAP_SHARED,
			      in->hv.image_fd, 0);
	if (in->image_data == MAP_FAILED) {
		in->image_data = NULL;
		return -errno;
	}
	return 0;
}

void baton_restore_dropped(struct baton_decision *d, size_t n_fds)
{
	d->action = d->device->orphan == BATON_ORPHAN_RESET ? BATON_ACTION_RESET :
							      BATON_ACTION_QUARANTINE;
	d->driver = NULL;
	d->accept = NULL;
	snprintf(d->reason, sizeof(d->reason),
		 "%zu fd%s of its session cannot cross a kexec (the kernel carries "
		 "memfds only) — %s (the record's policy)", n_fds, n_fds == 1 ? "" : "s",
		 baton_action_name(d->action));
}

/*
 * After a kexec only the regions came (kexec.c): a device whose session,
 * named after its address, held any other fd lost it, and follows its
 * orphan policy instead of its driver.  A region's memfd is the one kind
 * a kexec carries.
 */
static int kexec_dropped(struct incoming *in)
{
	const struct baton_image *img = in->image;
	size_t *lost = calloc(img->n_devices ? img->n_devices : 1, sizeof(*lost));

	if (!lost)
		return -ENOMEM;
	for (size_t k = 0; k < img->n_fds; k++) {
		ssize_t i = in->index.region_fd[k] ? -ENOENT :
			    baton_image_index_session_device(&in->index, img->fds[k].session);

		if (i >= 0)
			lost[i]++;
	}
	for (size_t i = 0; i < img->n_devices; i++)
		if (lost[i])
			baton_restore_dropped(&in->decisions[i], lost[i]);
	free(lost);
	return 0;
}

int baton_restore_plan(struct baton_host *host, struct incoming *in,
		       struct baton_diag *why)
{
	size_t n;
	int err;

	err = load_image(in);
	if (err)
		return baton_diag_set(why, -err, NULL, "the image: %s%s", baton_strerror(err),
				      err == -EPERM ? " (not sealed)" : "");
	baton_trace("loaded");
	err = baton_image_parse(in->image_data, in->image_len, &in->image, why);
	if (err)
		return err;
	baton_trace("parsed");
	err = baton_image_index_build(in->image, &in->index);
	if (err)
		return baton_diag_set(why, -err, NULL, "the image's references: %s",
				      baton_strerror(err));
	host->generation = in->image->generation;
	/* Coming back from the failed update's image: it did not happen. */
	if (in->hv.rollback && host->generation)
		host->generation--;
	n = in->image->n_devices;
	in->decisions = calloc(n ? n : 1, sizeof(*in->decisions));
	if (!in->decisions)
		return baton_diag_set(why, ENOMEM, NULL, NULL);
	err = baton_plan(in->image->devices, n, host->contracts,
			 &(struct baton_plan_opts){ .orphan = in->hv.orphan },
			 in->decisions);
	if (!err && in->hv.kexec)
		err = kexec_dropped(in);
	baton_trace("planned");
	return err ? baton_diag_set(why, -err, NULL, "planning: %s", baton_strerror(err)) : 0;
}

static const struct baton_accept *runtime_accept(const struct baton_driver *drv,
						 const struct baton_accept_desc *a)
{
	for (size_t i = 0; i < drv->n_accepts; i++)
		if (!strcmp(drv->accepts[i].schema->owner, a->schema->owner))
			return &drv->accepts[i];
	return NULL;
}

int baton_restore_state(const struct baton_decision *d,
			const struct baton_driver **drv, const void **state,
			size_t *size, void **buf)
{
	const struct baton_image_device *rec = d->device;
	const struct baton_accept *acc;
	void *copy;
	int err;

	*buf = NULL;
	*drv = baton_runtime_driver(d->driver);
	acc = *drv ? runtime_accept(*drv, d->accept) : NULL;
	if (!acc)
		return -BATON_ERR_BADCONTRACT;
	/*
	 * A property in the tree is only 4-byte aligned; drivers read their
	 * state as a struct.  Hand them a copy malloc() aligned for anything.
	 */
	copy = malloc(rec->state_size ? rec->state_size : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, rec->state, rec->state_size);
	*buf = copy;
	*state = copy;
	*size = rec->state_size;
	if (acc->via != BATON_VIA_CONVERTER)
		return 0;
	*size = acc->target->size;
	*buf = calloc(1, *size);
	if (!*buf) {
		*buf = copy;
		return -ENOMEM;
	}
	err = acc->convert(copy, rec->state_size, *buf, *size);
	free(copy);
	*state = *buf;
	return err;
}

static int fd_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* One call a fd: what a kernel without close_range()'s flag gets. */
static int cloexec_each(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0)
			return -errno;
	return 0;
}

/*
 * close_range() on each run of consecutive numbers of @sorted; -ENOSYS
 * when the kernel has no CLOSE_RANGE_CLOEXEC (before Linux 5.11), -EINVAL
 * when a number is there twice (two preserved fds, one file).
 */
static int cloexec_runs(const int *sorted, size_t n)
{
	size_t run;

	for (size_t i = 0; i < n; i = run) {
		for (run = i + 1; run < n && sorted[run] - sorted[run - 1] <= 1;
		     run++)
			if (sorted[run] == sorted[run - 1])
				return -EINVAL;
		if (sorted[i] < 0)
			return -EBADF;
		if (close_range(sorted[i], sorted[run - 1], CLOSE_RANGE_CLOEXEC))
			return errno == EINVAL ? -ENOSYS : -errno;
	}
	return 0;
}

/*
 * Make the inherited fds close-on-exec again, so that they stay out of the
 * program's children until the next update, and check that each is open,
 * in a few calls rather than one a fd (3,000 fds at 1,024 devices, ~1 ms
 * of the blackout): close_range() on each run of consecutive numbers, then
 * one poll(), which marks a closed fd POLLNVAL.  Without memory, or on an
 * older kernel, one fcntl() a fd does both.  A previous version that says
 * they are the copies its commit made and checked (BATON_FDS_CHECKED) is
 * not checked again: the poll costs about what the fcntl() calls did.
 * Those copies are in image order at the lowest free numbers, mostly one
 * run: already sorted, they are not sorted again.  A
 * number named twice, or the handover's own image, keeper or cell fd, is
 * refused either way, sorted as they are: two preserved fds would share
 * one file, and a driver closing one would close the other's.
 */
static int inherit_fds(const struct baton_handover *hv, size_t n, bool check)
{
	const int *fds = hv->fds, own[] = { hv->image_fd, hv->keeper_fd, hv->cell_fd };
	int *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	struct pollfd *pfd = check ? calloc(n ? n : 1, sizeof(*pfd)) : NULL;
	int err = sorted && (pfd || !check) ? 0 : -ENOSYS, ready;
	size_t in_order = 1;

	if (!err) {
		memcpy(sorted, fds, n * sizeof(*sorted));
		while (in_order < n && sorted[in_order - 1] < sorted[in_order])
			in_order++;
		if (in_order < n)
			qsort(sorted, n, sizeof(*sorted), fd_cmp);
		/* The handover's own fds are not preserved ones too. */
		for (size_t i = 0; i < BATON_ARRAY_SIZE(own); i++)
			if (own[i] >= 0 && bsearch(&own[i], sorted, n, sizeof(*sorted), fd_cmp))
				err = -EINVAL;
		err = err ?: cloexec_runs(sorted, n);
	}
	if (!err && check) {
		for (size_t i = 0; i < n; i++)
			pfd[i].fd = fds[i];
		/* More fds than RLIMIT_NOFILE: EINVAL. */
		ready = poll(pfd, n, 0);
		if (ready < 0)
			err = -ENOSYS;
		for (size_t i = 0; ready > 0 && i < n; i++)
			if (pfd[i].revents & POLLNVAL)
				err = -EBADF;
	}
	if (err == -ENOSYS)
		err = cloexec_each(fds, n);
	free(sorted);
	free(pfd);
	return err;
}

/*
 * Every image fd into its session, but regions' memfds (their own record).
 * The image lists each session's fds together: a session is made once for
 * its run, with room for all of it, and the index is reserved for a
 * session a device and the host's own (more only cost it a regrowth).
 */
static int take_fds(struct baton_host *host, struct incoming *in)
{
	const struct baton_image *img = in->image;
	struct baton_session *session = NULL;
	/* Received (socket mode): open, close-on-exec, each its own number. */
	int err = in->hv.role == BATON_ROLE_RECEIVE ? 0 :
		  inherit_fds(&in->hv, img->n_fds, !in->hv.fds_checked);
	size_t end = 0;

	err = err ?: baton_sessions_reserve(host, img->n_devices < img->n_fds ?
					    img->n_devices + 1 : img->n_fds);
	for (size_t i = 0; !err && i < img->n_fds; i++) {
		const struct baton_image_fd *f = &img->fds[i];
		int fd = in->hv.fds[i];

		if ((f->token & BATON_TOKEN_HOST) && !(f->token & BATON_TOKEN_CONTROL))
			continue;
		if (i >= end) {
			end = i + 1;
			while (end < img->n_fds && !strcmp(img->fds[end].session, f->session))
				end++;
			err = baton_session_get(host, f->session, end - i, &session);
		}
		if (!err)
			err = baton_session_add(session, f->token, fd, f->kind, NULL);
	}
	return err;
}

/* Map every region; @regions[i] is image region i's. */
static int take_regions(struct baton_host *host, struct incoming *in,
			struct baton_region **regions, struct baton_diag *why)
{
	const struct baton_image *img = in->image;
	bool *shared = calloc(img->n_regions + 1, sizeof(*shared));
	int err = shared ? 0 : -ENOMEM;

	/* A region a device record names is shared (baton_device_region()). */
	for (size_t i = 0; !err && i < img->n_devices; i++)
		for (size_t j = 0; !err && j < img->devices[i].n_regions; j++) {
			ssize_t k = baton_image_find_region(img, img->devices[i].regions[j]);

			if (k < 0)
				err = (int)k;
			else
				shared[k] = true;
		}
	for (size_t i = 0; !err && i < img->n_regions; i++) {
		const struct baton_image_region *ir = &img->regions[i];
		/* After a kexec the regions' memfds came alone, in order. */
		ssize_t k = in->hv.kexec ? (ssize_t)i : baton_image_find_fd(img, ir->fd);
		int fd = k < 0 ? -1 : in->hv.fds[k];
		struct stat st;

		/* A memfd shorter than its region would be a SIGBUS later:
		 * what came is checked against what the image says. */
		if (k < 0)
			err = (int)k;
		else if (fd < 0 || fstat(fd, &st) < 0)
			err = -EBADF;
		else if ((uint64_t)st.st_size != ir->size)
			err = baton_diag_set(why, EBADF, ir->label,
					     "its memfd holds %lld bytes, the image says %llu",
					     (long long)st.st_size,
					     (unsigned long long)ir->size);
		else if (ir->size > SIZE_MAX)
			err = -EFBIG;
		else
			err = baton_region_adopt(host, ir->label, (size_t)ir->size,
						 fd, shared[i], &regions[i]);
	}
	free(shared);
	return err;
}

/* A device as its record describes it, using the regions the record names. */
static int record_device(struct baton_host *host, const struct incoming *in,
			 const struct baton_image_device *rec,
			 struct baton_region **regions, struct baton_device **out)
{
	const struct baton_device_info info = {
		.addr = rec->addr, .ids = rec->ids, .orphan = rec->orphan,
		.mandatory = rec->mandatory,
	};
	struct baton_device *dev = baton_device_new(host, &info);
	int err = dev ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < rec->n_regions; i++) {
		ssize_t k = baton_image_find_region(in->image, rec->regions[i]);

		err = k < 0 ? (int)k : baton_device_use(dev, regions[k]);
	}
	if (err && dev)
		baton_device_free(dev, false, false);
	*out = err ? NULL : dev;
	return err;
}

/* Why the restore failed: @dev's driver said @err. */
static int restore_failed(struct baton_device *dev, int err, struct baton_diag *why)
{
	char name[96];

	baton_diag_set(why, -err, baton_device_name(dev, name, sizeof(name)),
		       "restore: %s", baton_strerror(err));
	return err;
}

/* RESTORE one device: its state, converted if need be, to its driver. */
static int restore_device(struct baton_host *host, struct incoming *in,
			  const struct baton_decision *d,
			  struct baton_region **regions, struct baton_diag *why)
{
	const struct baton_driver *drv;
	struct baton_device *dev = NULL;
	const void *state;
	size_t size;
	void *buf;
	int err;

	err = baton_restore_state(d, &drv, &state, &size, &buf);
	if (!err)
		err = record_device(host, in, d->device, regions, &dev);
	if (!err) {
		dev->drv = drv;
		err = baton_fault(BATON_FAULT_RESTORE) ?:
		      (drv->ops && drv->ops->restore ? drv->ops->restore(dev, state, size) : 0);
		if (err) {
			restore_failed(dev, err, why);
			/* Its driver does not have it: nothing to remove. */
			dev->drv = NULL;
		}
	}
	if (!err)
		err = baton_device_attach(host, dev);
	if (err && dev)
		baton_device_free(dev, true, false);
	free(buf);
	return err;
}

/*
 * A device no driver takes stays preserved, untouched, for a later version,
 * and so do the regions it uses: it may still be writing to them.
 */
static int carry_quarantined(struct baton_host *host, struct incoming *in,
			     const struct baton_image_device *rec,
			     struct baton_region **regions)
{
	struct baton_device *dev;
	int err = record_device(host, in, rec, regions, &dev);

	if (err)
		return err;
	memcpy(dev->schema, rec->schema, BATON_GUID_SIZE);
	dev->schema_version = rec->schema_version;
	if ((rec->schema_name && !(dev->schema_name = strdup(rec->schema_name))) ||
	    (rec->state_size && !(dev->state = malloc(rec->state_size))))
		goto err_dev;
	if (rec->state_size)
		memcpy(dev->state, rec->state, rec->state_size);
	dev->state_size = rec->state_size;
	if (baton_device_attach(host, dev))
		goto err_dev;
	return 0;

err_dev:
	baton_device_free(dev, false, false);
	return -ENOMEM;
}

/*
 * The previous version, brought back, has nowhere further to go back to:
 * a device it cannot restore either (reset by someone else meanwhile, say)
 * is let go unrestored, and the answer says so, rather than the program
 * given up with every other device.  @err and @why say what failed; 0 if
 * let go, @err when there is more than a device to lose.
 */
static int let_go_in_rollback(struct incoming *in, int err, struct baton_diag *why)
{
	size_t len = strlen(in->hv.why);

	if (!in->hv.rollback)
		return err;
	snprintf(in->hv.why + len, sizeof(in->hv.why) - len,
		 "; back in the previous version, %s%s%s: let go unrestored", why->where,
		 why->where[0] ? ": " : "", why->err ? why->what : baton_strerror(err));
	*why = (struct baton_diag){ 0 };
	return 0;
}

int baton_restore(struct baton_host *host, struct incoming *in,
		  struct baton_diag *why)
{
	struct baton_region **regions;
	size_t n;
	int err;

	/* Socket mode planned before FREEZE, on the same image (socket.c). */
	err = in->image ? 0 : baton_restore_plan(host, in, why);
	if (err)
		return err;
	n = in->image->n_devices;
	/*
	 * What cannot be bound now would not be bound by retrying: refuse,
	 * unless the update was forced, and the orphan policy is what was asked.
	 */
	if (!baton_plan_ok(in->decisions, n) && !in->hv.force)
		return baton_diag_set(why, BATON_ERR_REFUSED, NULL,
				      "a mandatory device would not be bound");
	/* What the previous version sent must be what its image lists: after
	 * a kexec, the regions' memfds only. */
	if (in->hv.n_fds != (in->hv.kexec ? in->image->n_regions : in->image->n_fds))
		return baton_diag_set(why, EBADF, NULL,
				      "the previous version handed over %zu fds, its image lists %zu",
				      in->hv.n_fds, in->hv.kexec ? in->image->n_regions :
				      in->image->n_fds);
	err = baton_linger_adopt(&in->hv, why);
	if (err)
		return err;
	regions = calloc(in->image->n_regions + 1, sizeof(*regions));
	if (!regions)
		return baton_diag_set(why, ENOMEM, NULL, NULL);
	err = in->hv.kexec ? 0 : take_fds(host, in);
	baton_trace("fds");
	if (!err)
		err = take_regions(host, in, regions, why);
	baton_trace("regions");
	if (err)
		baton_diag_set(why, -err, NULL, "taking the fds and regions: %s",
			       baton_strerror(err));
	for (size_t i = 0; !err && i < n; i++) {
		const struct baton_decision *d = &in->decisions[i];

		switch (d->action) {
		case BATON_ACTION_BIND:
		case BATON_ACTION_CONVERT:
			err = restore_device(host, in, d, regions, why);
			err = err ? let_go_in_rollback(in, err, why) : 0;
			break;
		case BATON_ACTION_QUARANTINE:
		case BATON_ACTION_CONFLICT:
			err = carry_quarantined(host, in, d->device, regions);
			break;
		case BATON_ACTION_RESET:
		case BATON_ACTION_RELEASE:
			break;
		}
	}
	/*
	 * What each restore() left in flight - its reads of the device - is
	 * collected once every restore() has been called: the devices' round
	 * trips overlap instead of adding up.
	 */
	for (size_t i = 0; !err && i < host->n_devices;) {
		struct baton_device *dev = host->devices[i++];

		if (!dev->drv || !dev->drv->ops || !dev->drv->ops->restore_complete ||
		    !(err = dev->drv->ops->restore_complete(dev)))
			continue;
		restore_failed(dev, err, why);
		err = let_go_in_rollback(in, err, why);
		if (!err) {
			/* Its regions are the restore's to drop, after; the
			 * next device has moved into its place. */
			baton_device_remove(dev, false);
			i--;
		}
	}
	baton_trace("devices");
	/*
	 * A shared region no device uses any more (reset, released) goes now;
	 * but after a kexec the devices are there again, reset by the reboot,
	 * and their drivers probe them anew when they reappear: the region
	 * stays for them (baton_device_region()), the same pages, until the
	 * next update (baton_region_drop_unused()).
	 */
	for (size_t i = 0; !err && !in->hv.kexec && i < in->image->n_regions; i++)
		if (regions[i]->shared && !regions[i]->users)
			baton_region_drop(regions[i]);
	free(regions);
	if (err && !why->err)
		baton_diag_set(why, -err, NULL, NULL);
	return err;
}

/*
 * Give back what a restore took, every device untouched: drivers let go
 * (remove() never resets), the regions are unmapped, and the inherited
 * fds stay open - the previous version, or the keeper's restart, needs
 * them at the same numbers - unless @close_inherited (socket mode: they
 * are copies, and the old process holds its own).
 */
static void abandon(struct baton_host *host, struct incoming *in, bool close_inherited)
{
	for (size_t i = 0; !close_inherited && i < host->n_regions; i++)
		if (host->regions[i]->inherited)
			host->regions[i]->fd = -1;
	for (size_t i = host->n_devices; i-- > 0;)
		baton_device_free(host->devices[i], true, false);
	host->n_devices = 0;
	baton_device_index_reset(host);
	while (host->n_regions)
		baton_region_drop(host->regions[host->n_regions - 1]);
	for (size_t i = 0; i < host->n_sessions; i++)
		host->sessions[i]->n_fds = 0;
	for (size_t i = 0; close_inherited && i < in->hv.n_fds; i++)
		close(in->hv.fds[i]);
	if (close_inherited && in->hv.image_fd >= 0)
		close(in->hv.image_fd);
}

/*
 * Exec mode: exec the previous binary with the image and the fds as they
 * came, and the keeper's channel and cell: it restores, and takes over in
 * our place.  Returns only when there is nowhere to go back to.
 */
static int go_back(struct baton_host *host, struct incoming *in, int err,
		   const char *why)
{
	struct baton_handover hv = in->hv;
	struct baton_env env;

	if (hv.rollback || !in->image || !in->image->exec_path || !hv.prev_argv)
		return err;	/* already the previous version, or nowhere to go */
	hv.rollback = true;
	hv.fds_checked = false;	/* not by this process */
	snprintf(hv.why, sizeof(hv.why), "%s", why);
	/* The previous binary, in this process, reaps our children instead. */
	if (baton_reap_env(host, host->holder, &hv, &env))
		return err;
	for (size_t i = 0; i < hv.n_fds; i++)
		fcntl(hv.fds[i], F_SETFD, 0);
	/* The previous version closes them after its FINISH in our place. */
	baton_linger_pass_back(&hv);
	fcntl(hv.image_fd, F_SETFD, 0);
	if (hv.keeper_fd >= 0)
		fcntl(hv.keeper_fd, F_SETFD, 0);
	if (hv.cell_fd >= 0)
		fcntl(hv.cell_fd, F_SETFD, 0);
	execve(in->image->exec_path, hv.prev_argv, env.vars);
	baton_handover_free_env(&env);
	return err;
}

/* The restore failed, or the program gave up: give everything back. */
int baton_restore_fail(struct baton_host *host, int err, const char *why)
{
	struct incoming *in = host->incoming;

	if (in->hv.role == BATON_ROLE_RECEIVE) {
		abandon(host, in, true);
		baton_socket_answer(&in->hv, err, why);
		host->handed_over = true;
		return err;
	}
	abandon(host, in, false);
	return go_back(host, in, err, why);
}

int baton_restore_finish(struct baton_host *host)
{
	struct incoming *in = host->incoming;
	uint64_t now;
	int err;

	err = baton_fault(BATON_FAULT_TAKE_OVER) ?:
	      baton_keeper_commit(&in->hv, in->hv.rollback ? BATON_CELL_PREV : BATON_CELL_NEW);
	if (err == -BATON_ERR_ABANDONED) {
		/* The keeper brings the previous version back: touch nothing. */
		host->handed_over = true;
		return err;
	}
	if (err) {
		baton_restore_fail(host, err, baton_strerror(err));
		host->handed_over = true;
		return -BATON_ERR_ABANDONED;
	}
	baton_trace("committed");

	/* FINISH: every device resumes; the blackout ends here. */
	baton_fault(BATON_FAULT_FINISH);
	for (size_t i = 0; i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];

		if (dev->drv && dev->drv->ops && dev->drv->ops->finish)
			dev->drv->ops->finish(dev);
	}
	now = baton_now_ns();
	host->last.blackout_ns = in->hv.freeze_ns ? now - in->hv.freeze_ns : 0;
	host->last.held_ns = in->hv.held_ns && in->hv.freeze_ns ? now - in->hv.held_ns : 0;
	baton_trace("finish");
	/*
	 * Socket mode: the old process learns it may go only now (the cell
	 * already says so, should we die first): its exit, the teardown of
	 * its address space (~40 ms a GiB in use), then runs after FINISH,
	 * not beside it.
	 */
	if (in->hv.role == BATON_ROLE_RECEIVE)
		baton_socket_answer(&in->hv, 0, NULL);
	baton_trace("answered");
	in->taken_over = true;
	baton_linger_check(&in->hv);
	baton_keeper_done(host, &in->hv);
	baton_trace("keeper-done");
	baton_mm_holder_release(host);
	/* The previous version's fds that came only to be closed out of the
	 * blackout (linger.c): its epoll's teardown, say. */
	baton_linger_close(&in->hv);
	baton_trace("closed");
	baton_trace_flush();
	close(in->hv.image_fd);
	in->hv.image_fd = -1;
	return 0;
}
