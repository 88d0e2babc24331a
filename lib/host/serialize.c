// SPDX-License-Identifier: MIT
/**
 * DOC: PREPARE and FREEZE: what the image is made of
 *
 * The old version's side of the image, in the order an update needs it:
 *
 *  - a record per device (baton_serialize_records()): what the preflight
 *    plans against, before anything is touched.  A driver's device gets
 *    the schema its driver writes; a quarantined one keeps its own record;
 *  - each driver's state (baton_serialize_states()): PREPARE, devices
 *    running.  After FREEZE baton_serialize_again() asks once more and
 *    says whether anything changed, so that the image built before FREEZE
 *    serves when nothing did, and the blackout does not pay for a second;
 *  - the image itself (baton_serialize_image()): records, states, the
 *    regions and every preserved fd in image order - regions' memfds
 *    first, then each session's fds in the order they were preserved;
 *  - written into a memfd sealed against any change
 *    (baton_serialize_write()): what the next version, the dry run and the
 *    keeper read is what was checked, byte for byte;
 *  - at the commit, the update's own copy of every preserved fd, in image
 *    order, each checked to be the file preserved
 *    (baton_serialize_copy_fds()): what crosses from then on, whatever the
 *    program does with its numbers.
 *
 * A driver's failure is reported with the device, the driver and the
 * operation ("0000:01:00.0 (pktgen): preserve: Input/output error").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "host/host-internal.h"

/* The decoded form of the schema a driver writes, from the host's set. */
static const struct baton_schema_desc *written_desc(struct baton_host *host,
						    const struct baton_driver *drv)
{
	const struct baton_schema *w = baton_driver_written(drv);

	return w ? baton_contracts_schema(host->contracts, w->owner) : NULL;
}

int baton_serialize_records(struct baton_host *host,
			    struct baton_image_device **out)
{
	struct baton_image_device *records;

	records = calloc(host->n_devices + 1, sizeof(*records));
	if (!records)
		return -ENOMEM;
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_device *dev = host->devices[i];
		struct baton_image_device *d = &records[i];

		*d = (struct baton_image_device){
			.index = (uint32_t)i, .bus = "pci",
			.addr = dev->info.addr, .ids = dev->info.ids,
			.orphan = dev->info.orphan, .mandatory = dev->info.mandatory,
		};
		if (dev->drv) {
			const struct baton_schema_desc *desc = written_desc(host, dev->drv);

			if (!desc) {
				free(records);
				return -BATON_ERR_BADCONTRACT;
			}
			memcpy(d->schema, desc->guid, BATON_GUID_SIZE);
			d->schema_name = desc->name;
			d->schema_version = desc->version;
		} else {
			memcpy(d->schema, dev->schema, BATON_GUID_SIZE);
			d->schema_name = dev->schema_name;
			d->schema_version = dev->schema_version;
			d->state = dev->state;
			d->state_size = dev->state_size;
		}
	}
	*out = records;
	return 0;
}

static size_t state_size(const struct baton_device *dev)
{
	return baton_driver_written(dev->drv)->size;
}

/* Ask @dev's driver for its state, into @buf (zeroed first). */
static int preserve_one(struct baton_device *dev, void *buf, struct baton_diag *why)
{
	char name[96];
	int err;

	memset(buf, 0, state_size(dev));
	err = dev->drv->ops && dev->drv->ops->preserve ?
	      dev->drv->ops->preserve(dev, buf, state_size(dev)) : 0;
	if (err)
		baton_diag_set(why, -err, baton_device_name(dev, name, sizeof(name)),
			       "preserve: %s", baton_strerror(err));
	return err;
}

void baton_serialize_free_states(const struct baton_host *host, void **states)
{
	for (size_t i = 0; states && i < host->n_devices; i++)
		free(states[i]);
	free(states);
}

/* Why the fd @name is not handed over: @err from baton_fd_check(). */
static int fd_refused(struct baton_diag *why, int err, const char *name)
{
	if (err == -ESTALE)
		return baton_diag_set(why, ESTALE, NULL, "%s " BATON_FD_REUSED, name);
	return baton_diag_set(why, -err, NULL, "%s was closed", name);
}

/*
 * @fd duplicated into *@copy, and the copy checked against @id: what is
 * checked is what crosses.  F_DUPFD, not F_DUPFD_CLOEXEC: the copy crosses
 * an exec as it is.  -EMFILE (or -EINVAL, from a limit under 3, said the
 * same) when the table is full; on an error no copy is left.
 */
static int copy_one(int fd, struct fd_id *id, int *copy)
{
	int err;

	*copy = fcntl(fd, F_DUPFD, 3);
	if (*copy < 0)
		return errno == EINVAL ? -EMFILE : -errno;
	err = baton_fd_check(*copy, id);
	if (err) {
		close(*copy);
		*copy = -1;
	}
	return err;
}

void baton_serialize_close_copies(const int *copies, size_t n)
{
	size_t run;

	/* Runs of consecutive numbers, one close_range() each: all ours. */
	for (size_t i = 0; i < n; i = run) {
		for (run = i + 1; run < n && copies[run] == copies[run - 1] + 1; run++)
			;
		close_range((unsigned)copies[i], (unsigned)copies[run - 1], 0);
	}
}

/* No room for the copies: the need, what is open and the limit. */
static int no_room(struct baton_diag *why, size_t n)
{
	struct rlimit rl = { 0 };

	getrlimit(RLIMIT_NOFILE, &rl);
	return baton_diag_set(why, EMFILE, NULL, "copying the %zu preserved fds for the "
			      "handover: %s: %zu more fds needed with %zu open, over the "
			      "limit of %llu (RLIMIT_NOFILE)", n, baton_strerror(-EMFILE),
			      n, baton_fds_open(rl.rlim_cur),
			      (unsigned long long)rl.rlim_cur);
}

int baton_serialize_copy_fds(struct baton_host *host, int *copies,
			     int *originals, struct baton_diag *why)
{
	char name[BATON_SESSION_NAME_MAX + 64];
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; !err && i < host->n_regions; i++, n++) {
		struct baton_region *r = host->regions[i];

		if (originals)
			originals[n] = r->fd;
		err = copy_one(r->fd, &r->id, &copies[n]);
		if (err)
			snprintf(name, sizeof(name), "the memfd of region \"%s\" (fd %d)",
				 r->label, r->fd);
	}
	for (size_t k = 0; !err && k < host->n_sessions; k++) {
		struct baton_session *s = host->sessions[k];

		for (size_t i = 0; !err && i < s->n_fds; i++, n++) {
			struct preserved_fd *f = &s->fds[i];

			if (originals)
				originals[n] = f->fd;
			err = copy_one(f->fd, &f->id, &copies[n]);
			if (err)
				snprintf(name, sizeof(name), "fd %d (token %#llx, session \"%s\")",
					 f->fd, (unsigned long long)f->token, s->name);
		}
	}
	if (!err)
		return 0;
	/* n went past the fd that failed, whose copy copy_one() closed. */
	baton_serialize_close_copies(copies, n - 1);
	return err == -EMFILE ? no_room(why, baton_host_n_fds(host)) :
	       fd_refused(why, err, name);
}

int baton_serialize_states(struct baton_host *host, void ***out,
			   struct baton_diag *why)
{
	void **states = calloc(host->n_devices + 1, sizeof(*states));
	int err = states ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];

		if (!dev->drv)
			continue;	/* quarantined: its record goes on as it is */
		if (!baton_driver_written(dev->drv)) {
			err = -BATON_ERR_BADCONTRACT;
			break;
		}
		states[i] = malloc(state_size(dev));
		err = states[i] ? preserve_one(dev, states[i], why) : -ENOMEM;
	}
	if (err) {
		baton_serialize_free_states(host, states);
		return err;
	}
	*out = states;
	return 0;
}

int baton_serialize_again(struct baton_host *host, void **states,
			  bool *changed, struct baton_diag *why)
{
	size_t max = 0;
	void *buf;
	int err = 0;

	*changed = false;
	for (size_t i = 0; i < host->n_devices; i++)
		if (host->devices[i]->drv && state_size(host->devices[i]) > max)
			max = state_size(host->devices[i]);
	buf = malloc(max ? max : 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; !err && i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];

		if (!dev->drv)
			continue;
		err = preserve_one(dev, buf, why);
		if (!err && memcmp(buf, states[i], state_size(dev))) {
			memcpy(states[i], buf, state_size(dev));
			*changed = true;
		}
	}
	free(buf);
	return err;
}

void baton_serialize_free_image(struct image_parts *p)
{
	free(p->uses);
	free(p->fds);
	free(p->regions);
	free(p->devices);
	memset(p, 0, sizeof(*p));
}

/* Every fd the image names, in image order: regions first, then sessions. */
static size_t image_fds(const struct baton_host *host, struct image_parts *p)
{
	size_t n = 0;

	for (size_t i = 0; i < host->n_regions; i++, n++) {
		p->fds[n] = (struct baton_image_fd){ .index = (uint32_t)n,
			.token = host->regions[i]->token, .kind = BATON_FD_MEMFD };
		p->regions[i] = (struct baton_image_region){ (uint32_t)i,
			(uint32_t)n, host->regions[i]->size, host->regions[i]->label };
	}
	for (size_t k = 0; k < host->n_sessions; k++) {
		const struct baton_session *s = host->sessions[k];

		for (size_t i = 0; i < s->n_fds; i++, n++) {
			p->fds[n] = (struct baton_image_fd){ .index = (uint32_t)n,
				.token = s->fds[i].token, .session = s->name,
				.kind = s->fds[i].kind };
		}
	}
	return n;
}

/* Image region i is host region i: a device's uses, as region indices. */
static uint32_t *device_uses(const struct baton_host *host,
			     const struct baton_device *dev, uint32_t *use)
{
	for (size_t k = 0; k < dev->n_uses; k++)
		for (uint32_t r = 0; r < host->n_regions; r++)
			if (host->regions[r] == dev->uses[k])
				*use++ = r;
	return use;
}

int baton_serialize_image(const struct baton_host *host,
			  const struct baton_image_device *records,
			  void *const *states, uint64_t generation,
			  struct image_parts *p)
{
	size_t n_fds = baton_host_n_fds(host), n_uses = 0;
	uint32_t *use;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < host->n_devices; i++)
		n_uses += host->devices[i]->n_uses;
	p->uses = calloc(n_uses + 1, sizeof(*p->uses));
	p->fds = calloc(n_fds + 1, sizeof(*p->fds));
	p->regions = calloc(host->n_regions + 1, sizeof(*p->regions));
	p->devices = calloc(host->n_devices + 1, sizeof(*p->devices));
	if (!p->uses || !p->fds || !p->regions || !p->devices) {
		baton_serialize_free_image(p);
		return -ENOMEM;
	}
	n_fds = image_fds(host, p);
	use = p->uses;
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_device *dev = host->devices[i];

		p->devices[i] = records[i];
		p->devices[i].regions = use;
		p->devices[i].n_regions = dev->n_uses;
		use = device_uses(host, dev, use);
		if (dev->drv) {
			p->devices[i].state = states[i];
			p->devices[i].state_size = (uint32_t)state_size(dev);
		}
	}
	p->img = (struct baton_image){
		.generation = generation,
		.program = host->program,
		.exec_path = host->exec_path,
		.n_fds = n_fds, .fds = p->fds,
		.n_regions = host->n_regions, .regions = p->regions,
		.n_devices = host->n_devices, .devices = p->devices,
	};
	return 0;
}

int baton_serialize_write(const struct baton_image *img)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	size_t len, done = 0;
	void *buf;
	int err, fd;

	err = baton_image_write(img, &buf, &len);
	if (err)
		return err;
	fd = memfd_create("baton-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	err = fd < 0 ? -errno : 0;
	while (!err && done < len) {
		ssize_t put = write(fd, (char *)buf + done, len - done);

		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0)
			err = -errno;
		else
			done += (size_t)put;
	}
	if (!err && fcntl(fd, F_ADD_SEALS, seals) < 0)
		err = -errno;
	free(buf);
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}
