// SPDX-License-Identifier: MIT
/**
 * DOC: the update, exec mode
 *
 * baton_host_update() reads top to bottom as the phases it runs:
 *
 *	preflight() the target's contracts, read from its file, against a
 *		    record of every device: refuse before touching anything
 *	prepare()   each driver serializes its device's state
 *	freeze()    each driver quiesces its device; the blackout starts
 *	handover()  the image goes into a sealed memfd; the image, the
 *		    regions and the preserved fds lose close-on-exec; exec
 *
 * and unwinds in exact reverse order when a phase fails: the fds get their
 * close-on-exec flag back, the frozen devices unfreeze (last frozen first),
 * the serialized states are dropped.  Nothing a phase did survives its
 * failure, and the program goes on as it was.
 *
 * The next version finds everything through its environment:
 * BATON_IMAGE_FD (the image), BATON_FDS (the fd number of each image fd, in
 * image order: exec keeps fd numbers), BATON_FREEZE_NS (CLOCK_MONOTONIC
 * when the blackout started; the clock is the machine's, so the next
 * version measures the blackout up to its FINISH) and BATON_PREV_ARGV (how
 * to start this binary again if the next one cannot restore).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <baton/contracts.h>
#include <baton/host.h>

#include "internal.h"
#include "host/host-internal.h"

extern char **environ;

/* What an update holds while it runs. */
struct update {
	struct baton_host *host;
	const struct baton_update_opts *opts;
	struct baton_image_device *records;	/* per device, its record */
	void **states;			/* per device, the serialized state */
	size_t n_frozen;
	int image_fd;
	uint64_t freeze_ns;
};

/*
 * A record per device, as the image will carry it: what the preflight plans
 * and the handover writes.  A driver's device gets the schema its driver
 * writes (the state comes in PREPARE); a quarantined one keeps its own.
 */
static int build_records(struct update *u)
{
	struct baton_host *host = u->host;

	u->records = calloc(host->n_devices + 1, sizeof(*u->records));
	if (!u->records)
		return -BATON_ERR_NOMEM;
	for (size_t i = 0; i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];
		struct baton_image_device *d = &u->records[i];

		d->index = (uint32_t)i;
		d->bus = "pci";
		d->addr = dev->info.addr;
		d->ids = dev->info.ids;
		d->orphan = dev->info.orphan;
		d->mandatory = dev->info.mandatory;
		if (dev->drv) {
			const struct baton_schema *w = baton_driver_written(dev->drv);
			struct baton_schema_desc *desc;
			int err;

			if (!w)
				return -BATON_ERR_BADCONTRACT;
			err = baton_schema_describe(w, &desc);
			if (err)
				return err;
			memcpy(d->schema, desc->guid, BATON_GUID_SIZE);
			baton_schema_desc_free(desc);
		} else {
			memcpy(d->schema, dev->schema, BATON_GUID_SIZE);
			d->state = dev->state;
			d->state_size = dev->state_size;
		}
	}
	return 0;
}

/*
 * Before anything is touched: would the target bind every mandatory
 * device?  Its contracts come from its file; it does not run.
 */
static int preflight(struct update *u)
{
	struct baton_update_report local = { 0 };
	struct baton_update_report *rep = u->opts->report ? u->opts->report : &local;
	const struct baton_plan_opts popts = { .orphan = u->opts->orphan };
	size_t n = u->host->n_devices;
	int err;

	memset(rep, 0, sizeof(*rep));
	err = baton_contracts_read_elf(u->opts->target, &rep->contracts, NULL);
	if (err)
		goto out;
	rep->decisions = calloc(n + 1, sizeof(*rep->decisions));
	err = rep->decisions ? baton_plan(u->records, n, rep->contracts, &popts,
					   rep->decisions) : -BATON_ERR_NOMEM;
	if (err)
		goto out;
	rep->n = n;
	if (!baton_plan_ok(rep->decisions, n) && !u->opts->force)
		err = -BATON_ERR_REFUSED;
out:
	/* A caller's report takes the records over; the decisions point in. */
	if (rep == &local) {
		baton_update_report_release(&local);
	} else {
		rep->records = u->records;
		u->records = NULL;
	}
	return err;
}

void baton_update_report_release(struct baton_update_report *report)
{
	free(report->decisions);
	free(report->records);
	baton_contracts_free(report->contracts);
	memset(report, 0, sizeof(*report));
}

static int prepare(struct update *u)
{
	struct baton_host *host = u->host;

	u->states = calloc(host->n_devices + 1, sizeof(*u->states));
	if (!u->states)
		return -BATON_ERR_NOMEM;
	for (size_t i = 0; i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];
		const struct baton_schema *written;
		int err;

		if (!dev->drv)
			continue;	/* quarantined: its record goes on as it is */
		written = baton_driver_written(dev->drv);
		if (!written)
			return -BATON_ERR_BADCONTRACT;
		u->states[i] = calloc(1, written->size);
		if (!u->states[i])
			return -BATON_ERR_NOMEM;
		err = dev->drv->ops && dev->drv->ops->preserve ?
		      dev->drv->ops->preserve(dev, u->states[i], written->size) : 0;
		if (err)
			return err;
	}
	return 0;
}

static void unprepare(struct update *u)
{
	for (size_t i = 0; u->states && i < u->host->n_devices; i++)
		free(u->states[i]);
	free(u->states);
	u->states = NULL;
}

static int freeze(struct update *u)
{
	struct baton_host *host = u->host;

	u->freeze_ns = baton_now_ns();
	for (u->n_frozen = 0; u->n_frozen < host->n_devices; u->n_frozen++) {
		struct baton_device *dev = host->devices[u->n_frozen];
		int err;

		err = dev->drv && dev->drv->ops && dev->drv->ops->freeze ?
		      dev->drv->ops->freeze(dev) : 0;
		if (err)
			return err;
		dev->frozen = true;
	}
	return 0;
}

static void unfreeze(struct update *u)
{
	while (u->n_frozen-- > 0) {
		struct baton_device *dev = u->host->devices[u->n_frozen];

		if (dev->drv && dev->drv->ops && dev->drv->ops->unfreeze)
			dev->drv->ops->unfreeze(dev);
		dev->frozen = false;
	}
}

/* Every fd the image names, in image order: regions first, then the rest. */
static size_t image_fds(const struct baton_host *host, struct baton_image_fd *fds,
			int *numbers)
{
	size_t n = 0;

	for (size_t i = 0; i < host->n_regions; i++, n++) {
		fds[n] = (struct baton_image_fd){ (uint32_t)n,
			host->regions[i]->token, BATON_FD_MEMFD };
		numbers[n] = host->regions[i]->fd;
	}
	for (size_t i = 0; i < host->n_fds; i++, n++) {
		fds[n] = (struct baton_image_fd){ (uint32_t)n, host->fds[i].token,
			host->fds[i].kind };
		numbers[n] = host->fds[i].fd;
	}
	return n;
}

static int write_image(struct update *u, const struct baton_image *img)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	size_t len, done = 0;
	void *buf;
	int err;

	err = baton_image_write(img, &buf, &len);
	if (err)
		return err;
	u->image_fd = memfd_create("baton-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	err = u->image_fd < 0 ? -BATON_ERR_IO : 0;
	while (!err && done < len) {
		ssize_t put = write(u->image_fd, (char *)buf + done, len - done);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			err = -BATON_ERR_IO;
		else
			done += (size_t)put;
	}
	if (!err && fcntl(u->image_fd, F_ADD_SEALS, seals) < 0)
		err = -BATON_ERR_IO;
	free(buf);
	return err;
}

static void set_cloexec(const int *fds, size_t n, bool on)
{
	for (size_t i = 0; i < n; i++)
		fcntl(fds[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

/* "name=value" strings for the next version, ahead of our environment. */
static char **next_environ(const struct update *u, const int *numbers, size_t n)
{
	size_t n_env = 0, len = 0;
	char **env, *p;

	while (environ[n_env])
		n_env++;
	env = calloc(n_env + 5, sizeof(*env));
	if (!env)
		return NULL;
	if (asprintf(&env[0], BATON_ENV_IMAGE_FD "=%d", u->image_fd) < 0)
		goto err_env;
	if (asprintf(&env[1], BATON_ENV_FREEZE_NS "=%" PRIu64, u->freeze_ns) < 0)
		goto err_env;
	env[2] = malloc(sizeof(BATON_ENV_FDS) + 1 + n * 12);
	if (!env[2])
		goto err_env;
	p = env[2] + sprintf(env[2], BATON_ENV_FDS "=");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%d", i ? "," : "", numbers[i]);
	for (char **a = u->host->argv; *a; a++)
		len += strlen(*a) + 1;
	env[3] = malloc(sizeof(BATON_ENV_PREV_ARGV) + 1 + len);
	if (!env[3])
		goto err_env;
	p = env[3] + sprintf(env[3], BATON_ENV_PREV_ARGV "=");
	for (char **a = u->host->argv; *a; a++)
		p += sprintf(p, "%s%s", a == u->host->argv ? "" : "\x1f", *a);
	/* Ours, less anything a previous update left behind. */
	for (size_t i = 0, k = 4; i < n_env; i++)
		if (strncmp(environ[i], "BATON_", 6))
			env[k++] = environ[i];
	return env;

err_env:
	for (int i = 0; i < 4; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static int handover(struct update *u)
{
	struct baton_host *host = u->host;
	const struct baton_image_device *records = u->opts->report ?
		u->opts->report->records : u->records;
	size_t n_fds_max = host->n_regions + host->n_fds;
	struct baton_image_region *regions;
	struct baton_image_device *devices;
	struct baton_image_fd *fds;
	struct baton_image img;
	int *numbers, err = -BATON_ERR_NOMEM;
	char **env = NULL;
	size_t n_fds;

	fds = calloc(n_fds_max + 1, sizeof(*fds));
	numbers = calloc(n_fds_max + 2, sizeof(*numbers));
	regions = calloc(host->n_regions + 1, sizeof(*regions));
	devices = calloc(host->n_devices + 1, sizeof(*devices));
	if (!fds || !numbers || !regions || !devices)
		goto out;
	n_fds = image_fds(host, fds, numbers);
	for (size_t i = 0; i < host->n_regions; i++)
		regions[i] = (struct baton_image_region){ (uint32_t)i, (uint32_t)i,
			host->regions[i]->size, host->regions[i]->label };
	for (size_t i = 0; i < host->n_devices; i++) {
		devices[i] = records[i];
		if (host->devices[i]->drv) {
			devices[i].state = u->states[i];
			devices[i].state_size =
				(uint32_t)baton_driver_written(host->devices[i]->drv)->size;
		}
	}
	img = (struct baton_image){
		.generation = host->generation + 1,
		.program = host->program,
		.exec_path = host->exec_path,
		.n_fds = n_fds, .fds = fds,
		.n_regions = host->n_regions, .regions = regions,
		.n_devices = host->n_devices, .devices = devices,
	};
	u->image_fd = -1;
	err = write_image(u, &img);
	if (!err) {
		env = next_environ(u, numbers, n_fds);
		err = env ? 0 : -BATON_ERR_NOMEM;
	}
	if (!err) {
		numbers[n_fds] = u->image_fd;
		set_cloexec(numbers, n_fds + 1, false);
		execve(u->opts->target, u->opts->argv ? u->opts->argv : host->argv, env);
		/* Still here: the exec failed.  Nothing was handed over. */
		err = -BATON_ERR_IO;
		set_cloexec(numbers, n_fds + 1, true);
	}
	if (u->image_fd >= 0)
		close(u->image_fd);
	if (env) {
		for (int i = 0; i < 4; i++)
			free(env[i]);
		free(env);
	}
out:
	free(fds);
	free(numbers);
	free(regions);
	free(devices);
	return err;
}

int baton_host_update(struct baton_host *host,
		      const struct baton_update_opts *opts)
{
	struct update u = { .host = host, .opts = opts, .image_fd = -1 };
	int err;

	if (!opts || !opts->target)
		return -BATON_ERR_INVAL;
	err = build_records(&u);
	if (!err)
		err = preflight(&u);
	if (err || opts->dry_run)
		goto err_preflight;
	err = prepare(&u);
	if (err)
		goto err_prepare;
	err = freeze(&u);
	if (err)
		goto err_freeze;
	err = handover(&u);
	/* handover() returns only when the exec failed. */
err_freeze:
	unfreeze(&u);
err_prepare:
	unprepare(&u);
err_preflight:
	free(u.records);
	return err;
}
