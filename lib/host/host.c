// SPDX-License-Identifier: MIT
/**
 * DOC: host start and restore
 *
 * baton_host_create() is where a new version picks up what the previous one
 * left.  The order matters and is the reverse of what the update took
 * apart: first the image (a sealed memfd; an unsealed one could have
 * changed since it was validated), then the plan, then the fds and the
 * memory regions (drivers need them to restore), then every device through
 * its driver, and last FINISH, when every device resumes and the blackout
 * ends.
 *
 * A restore that fails part way gives back what it took (drivers let go of
 * their devices without resetting them) and execs the previous binary with
 * the same environment, so the previous version restores from the same,
 * untouched image.  If the previous version cannot restore either, there is
 * nothing left to go back to and the error is returned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <baton/contracts.h>
#include <baton/host.h>
#include <baton/json.h>

#include "internal.h"
#include "host/host-internal.h"

extern char **environ;

uint64_t baton_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const struct baton_schema *baton_driver_written(const struct baton_driver *drv)
{
	for (size_t i = 0; i < drv->n_accepts; i++)
		if (drv->accepts[i].via == BATON_VIA_NATIVE)
			return drv->accepts[i].schema;
	return NULL;
}

static char **dup_argv(char *const *argv)
{
	size_t n = 0;
	char **copy;

	while (argv && argv[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; copy && i < n; i++) {
		copy[i] = strdup(argv[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			free(copy);
			return NULL;
		}
	}
	return copy;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static int grow_array(void **arr, size_t n, size_t size)
{
	void *grown;

	/* Arrays grow by one; hosts hold tens of objects, not millions. */
	grown = realloc(*arr, (n + 1) * size);
	if (!grown)
		return -BATON_ERR_NOMEM;
	*arr = grown;
	return 0;
}

int baton_host_add_dev(struct baton_host *host, struct baton_device *dev)
{
	int err = grow_array((void **)&host->devices, host->n_devices,
			     sizeof(*host->devices));

	if (!err)
		host->devices[host->n_devices++] = dev;
	return err;
}

/* ---- Regions ---- */

static int map_region(struct baton_region *r)
{
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -BATON_ERR_IO;
	}
	return 0;
}

static struct baton_region *find_region(const struct baton_host *host,
					const char *label)
{
	for (size_t i = 0; i < host->n_regions; i++)
		if (!strcmp(host->regions[i]->label, label))
			return host->regions[i];
	return NULL;
}

static int new_region(struct baton_host *host, const char *label, size_t size,
		      struct baton_region **out)
{
	struct baton_region *r;
	int err = -BATON_ERR_NOMEM;

	r = calloc(1, sizeof(*r));
	if (!r)
		return err;
	r->host = host;
	r->size = size;
	r->fd = -1;
	r->token = BATON_TOKEN_HOST | host->region_seq++;
	r->label = strdup(label);
	if (!r->label || grow_array((void **)&host->regions, host->n_regions,
				    sizeof(*host->regions)))
		goto err_region;
	*out = r;
	return 0;

err_region:
	free(r->label);
	free(r);
	return err;
}

int baton_host_region(struct baton_host *host, const char *label, size_t size,
		      struct baton_region **out)
{
	struct baton_region *r = find_region(host, label);
	int err;

	if (r) {
		if (r->size != size)
			return -BATON_ERR_RANGE;
		*out = r;
		return 0;
	}
	if (!size)
		return -BATON_ERR_INVAL;
	err = new_region(host, label, size, &r);
	if (err)
		return err;
	/*
	 * The size is sealed: the next version maps exactly what this one
	 * had, and nobody holding the fd can shrink it under a mapping.
	 */
	r->fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)size) < 0 ||
	    fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 ||
	    map_region(r) < 0) {
		err = -BATON_ERR_IO;
		goto err_fd;
	}
	host->regions[host->n_regions++] = r;
	*out = r;
	return 0;

err_fd:
	if (r->fd >= 0)
		close(r->fd);
	free(r->label);
	free(r);
	return err;
}

struct baton_region *baton_host_find_region(const struct baton_host *host,
					    const char *label)
{
	return find_region(host, label);
}

/* Unmap, close and forget @region: the next version will not get it. */
static void release_region(struct baton_region *region)
{
	struct baton_host *host = region->host;

	for (size_t i = 0; i < host->n_regions; i++) {
		if (host->regions[i] != region)
			continue;
		host->regions[i] = host->regions[--host->n_regions];
		munmap(region->base, region->size);
		close(region->fd);
		free(region->label);
		free(region);
		return;
	}
}

void baton_region_release(struct baton_region *region)
{
	/* A shared region goes with its last user, not before. */
	if (!region->shared)
		release_region(region);
}

void *baton_region_base(const struct baton_region *region)
{
	return region->base;
}

int baton_region_fd(const struct baton_region *region)
{
	return region->fd;
}

size_t baton_region_size(const struct baton_region *region)
{
	return region->size;
}

unsigned baton_region_users(const struct baton_region *region)
{
	return region->users;
}

bool baton_region_inherited(const struct baton_region *region)
{
	return region->inherited;
}

/* ---- Shared regions: the kernel's FLB ---- */

static int add_use(struct baton_device *dev, struct baton_region *r)
{
	for (size_t i = 0; i < dev->n_uses; i++)
		if (dev->uses[i] == r)
			return 0;
	if (grow_array((void **)&dev->uses, dev->n_uses, sizeof(*dev->uses)))
		return -BATON_ERR_NOMEM;
	dev->uses[dev->n_uses++] = r;
	r->shared = true;
	r->users++;
	return 0;
}

/* @dev lets go of its regions; each one's last user releases it. */
static void drop_uses(struct baton_device *dev)
{
	for (size_t i = 0; i < dev->n_uses; i++)
		if (--dev->uses[i]->users == 0)
			release_region(dev->uses[i]);
	free(dev->uses);
	dev->uses = NULL;
	dev->n_uses = 0;
}

int baton_device_region(struct baton_device *dev, const char *label,
			size_t size, struct baton_region **out)
{
	struct baton_region *r = find_region(dev->host, label);
	int err;

	if (r && !r->shared)
		return -BATON_ERR_DUPLICATE;
	if (r && r->size != size)
		return -BATON_ERR_RANGE;
	if (!r) {
		err = baton_host_region(dev->host, label, size, &r);
		if (err)
			return err;
		r->shared = true;
	}
	err = add_use(dev, r);
	if (err) {
		if (!r->users)
			release_region(r);
		return err;
	}
	*out = r;
	return 0;
}

/* ---- Fds ---- */

static struct baton_session *find_session(const struct baton_host *host,
					   const char *name)
{
	for (size_t i = 0; i < host->n_sessions; i++)
		if (!strcmp(host->sessions[i]->name, name))
			return host->sessions[i];
	return NULL;
}

int baton_host_session(struct baton_host *host, const char *name,
		       struct baton_session **out)
{
	struct baton_session *s;

	if (!name || strlen(name) > BATON_SESSION_NAME_MAX)
		return -BATON_ERR_INVAL;
	s = find_session(host, name);
	if (s) {
		*out = s;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -BATON_ERR_NOMEM;
	s->host = host;
	s->name = strdup(name);
	if (!s->name || grow_array((void **)&host->sessions, host->n_sessions,
				   sizeof(*host->sessions))) {
		free(s->name);
		free(s);
		return -BATON_ERR_NOMEM;
	}
	host->sessions[host->n_sessions++] = s;
	*out = s;
	return 0;
}

const char *baton_session_name(const struct baton_session *session)
{
	return session->name;
}

/* The default session, made in baton_host_create() before anything else. */
static struct baton_session *default_session(const struct baton_host *host)
{
	return host->sessions[0];
}

static struct preserved_fd *find_fd(const struct baton_session *session,
				    uint64_t token)
{
	const struct baton_host *host = session->host;

	for (size_t i = 0; i < host->n_fds; i++)
		if (host->fds[i].session == session && host->fds[i].token == token)
			return &host->fds[i];
	return NULL;
}

static int add_fd(struct baton_session *session, uint64_t token, int fd,
		  enum baton_fd_kind kind)
{
	struct baton_host *host = session->host;

	if (grow_array((void **)&host->fds, host->n_fds, sizeof(*host->fds)))
		return -BATON_ERR_NOMEM;
	host->fds[host->n_fds++] = (struct preserved_fd){ session, token, fd, kind };
	return 0;
}

static void remove_fd(struct baton_host *host, struct preserved_fd *p)
{
	*p = host->fds[--host->n_fds];
}

int baton_session_preserve_fd(struct baton_session *session, uint64_t token,
			      int fd, enum baton_fd_kind kind)
{
	struct preserved_fd *p = find_fd(session, token);

	if (!token || (token & BATON_TOKEN_HOST) || fd < 0 ||
	    kind > BATON_FD_OTHER || fcntl(fd, F_GETFD) < 0)
		return -BATON_ERR_INVAL;
	if (p) {
		/* An inherited fd, preserved again: the same one is fine. */
		if (p->fd != fd)
			return -BATON_ERR_DUPLICATE;
		p->kind = kind;
		return 0;
	}
	return add_fd(session, token, fd, kind);
}

int baton_session_unpreserve_fd(struct baton_session *session, uint64_t token)
{
	struct preserved_fd *p = find_fd(session, token);

	if (!p || (token & BATON_TOKEN_HOST))
		return -BATON_ERR_MISSING;
	remove_fd(session->host, p);
	return 0;
}

int baton_session_take_fd(struct baton_session *session, uint64_t token)
{
	struct preserved_fd *p = find_fd(session, token);

	if (!p || (token & BATON_TOKEN_HOST))
		return -BATON_ERR_MISSING;
	return p->fd;
}

int baton_host_preserve_fd(struct baton_host *host, uint64_t token, int fd,
			   enum baton_fd_kind kind)
{
	return baton_session_preserve_fd(default_session(host), token, fd, kind);
}

int baton_host_unpreserve_fd(struct baton_host *host, uint64_t token)
{
	return baton_session_unpreserve_fd(default_session(host), token);
}

int baton_host_take_fd(struct baton_host *host, uint64_t token)
{
	return baton_session_take_fd(default_session(host), token);
}

int baton_host_keep_fd(struct baton_host *host, uint64_t token, int fd,
		       enum baton_fd_kind kind)
{
	return add_fd(default_session(host), token, fd, kind);
}

int baton_host_kept_fd(const struct baton_host *host, uint64_t token)
{
	struct preserved_fd *p = find_fd(default_session(host), token);

	return p ? p->fd : -1;
}

void baton_host_drop_fd(struct baton_host *host, uint64_t token)
{
	struct preserved_fd *p = find_fd(default_session(host), token);

	if (p)
		remove_fd(host, p);
}

/* ---- Devices ---- */

struct baton_device *baton_host_device(const struct baton_host *host,
				       const struct baton_pci_addr *addr)
{
	for (size_t i = 0; i < host->n_devices; i++)
		if (!baton_pci_addr_cmp(&host->devices[i]->info.addr, addr))
			return host->devices[i];
	return NULL;
}

struct baton_device *baton_host_next_device(const struct baton_host *host,
					    const struct baton_device *prev)
{
	size_t i = 0;

	if (prev)
		while (i < host->n_devices && host->devices[i++] != prev)
			;
	return i < host->n_devices ? host->devices[i] : NULL;
}

/* The best driver for @ids by id table alone: for devices with no state. */
static int probe_driver(const struct baton_pci_ids *ids,
			const struct baton_driver **out)
{
	const struct baton_driver *const *drivers, *best = NULL;
	int32_t best_prio = INT32_MIN;
	bool tie = false;
	size_t n;

	drivers = baton_drivers(&n);
	for (size_t i = 0; i < n; i++) {
		const struct baton_contract_rec *r = drivers[i]->contract;
		bool match = false;

		for (size_t j = 1; j < drivers[i]->n_contract && !match; j++) {
			const struct baton_contract_id_rec *id = &r[j].u.id;
			const struct baton_pci_match m = {
				id->vendor, id->device, id->subvendor,
				id->subdevice, id->class_code, id->class_mask,
			};

			match = r[j].kind == BATON_REC_ID && baton_pci_match(&m, ids);
		}
		if (!match)
			continue;
		if (!best || r[0].u.driver.priority > best_prio) {
			best = drivers[i];
			best_prio = r[0].u.driver.priority;
			tie = false;
		} else if (r[0].u.driver.priority == best_prio) {
			tie = true;
		}
	}
	if (!best)
		return -BATON_ERR_MISSING;
	if (tie)
		return -BATON_ERR_DUPLICATE;
	*out = best;
	return 0;
}

int baton_host_add_device(struct baton_host *host,
			  const struct baton_device_info *info,
			  struct baton_device **out)
{
	struct baton_device *dev = baton_host_device(host, &info->addr);
	const struct baton_driver *drv;
	int err;

	if (dev) {
		*out = dev;
		return 0;
	}
	err = probe_driver(&info->ids, &drv);
	if (err)
		return err;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -BATON_ERR_NOMEM;
	dev->host = host;
	dev->info = *info;
	dev->drv = drv;
	err = drv->ops && drv->ops->probe ? drv->ops->probe(dev) : 0;
	if (err)
		goto err_dev;
	err = baton_host_add_dev(host, dev);
	if (err)
		goto err_probe;
	*out = dev;
	return 0;

err_probe:
	if (drv->ops && drv->ops->remove)
		drv->ops->remove(dev);
err_dev:
	drop_uses(dev);
	free(dev);
	return err;
}

/*
 * Let go of @dev: its driver's remove(), then its memory.  Its regions lose
 * a user when @release_regions; otherwise (destroy, an abandoned restore)
 * they all go together afterwards.
 */
static void free_device(struct baton_device *dev, bool release_regions)
{
	if (dev->drv && dev->drv->ops && dev->drv->ops->remove)
		dev->drv->ops->remove(dev);
	if (release_regions)
		drop_uses(dev);
	free(dev->uses);
	free(dev->schema_name);
	free(dev->state);
	free(dev);
}

void baton_host_remove_device(struct baton_device *dev)
{
	struct baton_host *host = dev->host;

	for (size_t i = 0; i < host->n_devices; i++) {
		if (host->devices[i] != dev)
			continue;
		/* Order is kept: updates walk devices in it, and back. */
		memmove(&host->devices[i], &host->devices[i + 1],
			(host->n_devices - i - 1) * sizeof(*host->devices));
		host->n_devices--;
		break;
	}
	free_device(dev, true);
}

const struct baton_device_info *baton_device_info(const struct baton_device *dev)
{
	return &dev->info;
}

const struct baton_driver *baton_device_driver(const struct baton_device *dev)
{
	return dev->drv;
}

struct baton_host *baton_device_host(const struct baton_device *dev)
{
	return dev->host;
}

void *baton_device_priv(const struct baton_device *dev)
{
	return dev->priv;
}

void baton_device_set_priv(struct baton_device *dev, void *priv)
{
	dev->priv = priv;
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

/* ---- Restore ---- */

static long env_number(const char *name, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < 0 || v > max ? -1 : v;
}

/* The image memfd: sealed against change, mapped read-only. */
static int map_image(struct baton_host *host, int fd)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	int have = fcntl(fd, F_GET_SEALS);

	if (have < 0 || (have & seals) != seals || fstat(fd, &st) < 0 ||
	    st.st_size <= 0)
		return -BATON_ERR_IO;
	host->image_len = (size_t)st.st_size;
	host->image_map = mmap(NULL, host->image_len, PROT_READ, MAP_SHARED, fd, 0);
	if (host->image_map == MAP_FAILED) {
		host->image_map = NULL;
		return -BATON_ERR_IO;
	}
	return 0;
}

/* BATON_FDS: the fd number of each image fd, in image order. */
/*
 * Exec mode: BATON_FDS, the fd number of each image fd in image order, as
 * the previous version left them (exec keeps numbers).  Socket mode gets
 * the same array from the transfer instead.
 */
static int parse_fds(struct baton_host *host)
{
	const char *s = getenv(BATON_ENV_FDS);
	size_t n = 0;
	char *end;

	for (const char *p = s; p && *p; p++)
		n += *p == ',';
	host->inherited = calloc(n + 1, sizeof(*host->inherited));
	if (!host->inherited)
		return -BATON_ERR_NOMEM;
	while (s && *s) {
		long fd;

		errno = 0;
		fd = strtol(s, &end, 10);
		if (errno || end == s || fd < 0 || fd > INT32_MAX ||
		    (*end && *end != ','))
			return -BATON_ERR_BADVALUE;
		host->inherited[host->n_inherited++] = (int)fd;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static int take_fds(struct baton_host *host, const struct baton_image *img)
{
	if (host->n_inherited != img->n_fds)
		return -BATON_ERR_MISSING;
	for (size_t i = 0; i < img->n_fds; i++) {
		struct baton_session *session;
		int fd = host->inherited[i], err;

		if (fcntl(fd, F_GETFD) < 0)
			return -BATON_ERR_BADVALUE;
		/* Inherited fds stay close-on-exec until the next update. */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		/* Region memfds are taken with their regions. */
		if ((img->fds[i].token & BATON_TOKEN_HOST) &&
		    !(img->fds[i].token & BATON_TOKEN_CONTROL))
			continue;
		err = baton_host_session(host, img->fds[i].session, &session) ?:
		      add_fd(session, img->fds[i].token, fd, img->fds[i].kind);
		if (err)
			return err;
	}
	return 0;
}

/* The fd number of image fd @index; take_fds() has checked them all. */
static int fd_number(const struct baton_host *host, const struct baton_image *img,
		     uint32_t index)
{
	for (size_t i = 0; i < img->n_fds; i++)
		if (img->fds[i].index == index)
			return host->inherited[i];
	return -1;
}

/* Whether a device record names image region @index: then it is shared. */
static bool used_by_devices(const struct baton_image *img, uint32_t index)
{
	for (size_t i = 0; i < img->n_devices; i++)
		for (size_t j = 0; j < img->devices[i].n_regions; j++)
			if (img->devices[i].regions[j] == index)
				return true;
	return false;
}

/* Map every region; @regions[i] is image region i's (in image order). */
static int take_regions(struct baton_host *host, const struct baton_image *img,
			struct baton_region **regions)
{
	for (size_t i = 0; i < img->n_regions; i++) {
		const struct baton_image_region *ir = &img->regions[i];
		struct baton_region *r;
		int err;

		if (ir->size > SIZE_MAX)
			return -BATON_ERR_RANGE;
		err = new_region(host, ir->label, (size_t)ir->size, &r);
		if (err)
			return err;
		r->inherited = true;
		r->shared = used_by_devices(img, ir->index);
		r->fd = fd_number(host, img, ir->fd);
		if (r->fd < 0 || map_region(r) < 0) {
			free(r->label);
			free(r);
			return -BATON_ERR_IO;
		}
		host->regions[host->n_regions++] = r;
		regions[i] = r;
	}
	return 0;
}

/*
 * After RESTORE: a shared region no restored or quarantined device uses
 * any more (its users were reset or released) goes now.
 */
static void release_unused(struct baton_region **regions, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (regions[i]->shared && !regions[i]->users)
			release_region(regions[i]);
}

static const struct baton_driver *runtime_driver(const struct baton_contract *c)
{
	const struct baton_driver *const *drivers;
	size_t n;

	drivers = baton_drivers(&n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(drivers[i]->owner, c->owner))
			return drivers[i];
	return NULL;
}

static const struct baton_accept *runtime_accept(const struct baton_driver *drv,
						 const struct baton_accept_desc *a)
{
	for (size_t i = 0; i < drv->n_accepts; i++)
		if (!strcmp(drv->accepts[i].schema->owner, a->schema->owner))
			return &drv->accepts[i];
	return NULL;
}

/*
 * A decision's state in the form its driver reads: a copy of the record's
 * bytes, or what the driver's converter makes of them; either way in
 * *@converted, which the caller frees.
 */
static int driver_state(const struct baton_decision *d,
			const struct baton_driver **drv, const void **state,
			size_t *size, void **converted)
{
	const struct baton_image_device *rec = d->device;
	const struct baton_accept *acc;
	int err;

	void *copy;

	*converted = NULL;
	*drv = runtime_driver(d->driver);
	acc = *drv ? runtime_accept(*drv, d->accept) : NULL;
	if (!acc)
		return -BATON_ERR_BADCONTRACT;
	/*
	 * A property in the tree is only 4-byte aligned; drivers read their
	 * state as a struct.  Hand them a copy malloc() aligned for anything.
	 */
	copy = malloc(rec->state_size ? rec->state_size : 1);
	if (!copy)
		return -BATON_ERR_NOMEM;
	memcpy(copy, rec->state, rec->state_size);
	*converted = copy;
	*state = copy;
	*size = rec->state_size;
	if (acc->via != BATON_VIA_CONVERTER)
		return 0;
	*size = acc->target->size;
	*converted = calloc(1, *size);
	if (!*converted) {
		*converted = copy;
		return -BATON_ERR_NOMEM;
	}
	err = acc->convert(copy, rec->state_size, *converted, *size);
	free(copy);
	*state = *converted;
	return err;
}

/*
 * A device as its record describes it, using the shared regions the record
 * names (@regions: the image's, in image order), not yet in the host.
 */
static struct baton_device *record_device(struct baton_host *host,
					  const struct baton_image_device *rec,
					  struct baton_region **regions)
{
	struct baton_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->host = host;
	dev->info = (struct baton_device_info){
		rec->addr, rec->ids, rec->orphan, rec->mandatory };
	for (size_t i = 0; i < rec->n_regions; i++) {
		size_t k = 0;

		while (host->image->regions[k].index != rec->regions[i])
			k++;	/* the reader checked that it exists */
		if (add_use(dev, regions[k])) {
			free(dev->uses);
			free(dev);
			return NULL;
		}
	}
	return dev;
}

/* RESTORE one device: its state, converted if need be, to its driver. */
static int restore_device(struct baton_host *host, const struct baton_decision *d,
			  struct baton_region **regions)
{
	const struct baton_driver *drv;
	struct baton_device *dev;
	const void *state;
	void *converted;
	size_t size;
	int err;

	err = driver_state(d, &drv, &state, &size, &converted);
	if (err)
		goto out;
	dev = record_device(host, d->device, regions);
	if (!dev) {
		err = -BATON_ERR_NOMEM;
		goto out;
	}
	dev->drv = drv;
	err = drv->ops && drv->ops->restore ? drv->ops->restore(dev, state, size) : 0;
	if (err)
		goto err_dev;
	err = baton_host_add_dev(host, dev);
	if (err)
		goto err_restore;
	free(converted);
	return 0;

err_restore:
	if (drv->ops && drv->ops->remove)
		drv->ops->remove(dev);
err_dev:
	/* The regions go with the abandoned restore, all together. */
	free(dev->uses);
	free(dev);
out:
	free(converted);
	return err;
}

/*
 * A device no driver takes stays preserved, untouched, for a later version,
 * and so do the regions it uses: it may still be writing to them.
 */
static int carry_quarantined(struct baton_host *host, const struct baton_image_device *rec,
			     struct baton_region **regions)
{
	struct baton_device *dev = record_device(host, rec, regions);

	if (!dev)
		return -BATON_ERR_NOMEM;
	memcpy(dev->schema, rec->schema, BATON_GUID_SIZE);
	dev->schema_version = rec->schema_version;
	if (rec->schema_name && !(dev->schema_name = strdup(rec->schema_name)))
		goto err_dev;
	if (rec->state_size) {
		dev->state = malloc(rec->state_size);
		if (!dev->state)
			goto err_dev;
		memcpy(dev->state, rec->state, rec->state_size);
		dev->state_size = rec->state_size;
	}
	if (baton_host_add_dev(host, dev))
		goto err_dev;
	return 0;

err_dev:
	free(dev->schema_name);
	free(dev->state);
	free(dev->uses);
	free(dev);
	return -BATON_ERR_NOMEM;
}

/* Give back what a failed restore took, leaving every device untouched. */
static void abandon_restore(struct baton_host *host)
{
	for (size_t i = host->n_devices; i-- > 0;)
		free_device(host->devices[i], false);
	host->n_devices = 0;
	for (size_t i = 0; i < host->n_regions; i++) {
		munmap(host->regions[i]->base, host->regions[i]->size);
		free(host->regions[i]->label);
		free(host->regions[i]);
	}
	host->n_regions = 0;
	host->n_fds = 0;
}

/* Exec the previous binary with the environment as it came: never returns
 * unless the exec fails. */
static int go_back(const struct baton_host *host, int why)
{
	char *argv_env, **argv = NULL;
	size_t n = 0;

	if (getenv(BATON_ENV_ROLLBACK) || !host->image || !host->image->exec_path)
		return why;	/* already the previous version, or nowhere to go */
	argv_env = getenv(BATON_ENV_PREV_ARGV);
	if (argv_env)
		argv_env = strdup(argv_env);
	for (char *p = argv_env, *save = NULL, *tok;
	     p && (tok = strtok_r(p, "\x1f", &save)); p = NULL) {
		char **grown = realloc(argv, (n + 2) * sizeof(*argv));

		if (!grown)
			break;
		argv = grown;
		argv[n++] = tok;
		argv[n] = NULL;
	}
	if (!argv)
		return why;
	setenv(BATON_ENV_ROLLBACK, "1", 1);
	/* The image fd and the fds in BATON_FDS must reach the previous binary. */
	fcntl(atoi(getenv(BATON_ENV_IMAGE_FD)), F_SETFD, 0);
	for (size_t i = 0; i < host->n_inherited; i++)
		fcntl(host->inherited[i], F_SETFD, 0);
	execve(host->image->exec_path, argv, environ);
	free(argv);
	free(argv_env);
	return why;
}

static void clear_env(void)
{
	unsetenv(BATON_ENV_IMAGE_FD);
	unsetenv(BATON_ENV_FDS);
	unsetenv(BATON_ENV_FREEZE_NS);
	unsetenv(BATON_ENV_PREV_ARGV);
	unsetenv(BATON_ENV_ROLLBACK);
	unsetenv(BATON_ENV_FORCE);
	unsetenv(BATON_ENV_ORPHAN);
}

/* Whether the update that started us was forced past its preflight. */
static bool forced(void)
{
	const char *s = getenv(BATON_ENV_FORCE);

	return s && !strcmp(s, "1");
}

/* The orphan policy the update that started us asked for, if any. */
static enum baton_orphan_override orphan_override(void)
{
	const char *s = getenv(BATON_ENV_ORPHAN);

	if (s && !strcmp(s, "reset"))
		return BATON_OVERRIDE_RESET;
	if (s && !strcmp(s, "quarantine"))
		return BATON_OVERRIDE_QUARANTINE;
	return BATON_OVERRIDE_NONE;
}

/* Map, validate and plan the incoming image against this program's drivers. */
static int load_and_plan(struct baton_host *host, int image_fd)
{
	struct baton_diag diag = { 0 };
	size_t n;
	int err;

	err = map_image(host, image_fd);
	if (!err)
		err = baton_image_parse(host->image_map, host->image_len,
					&host->image, &diag);
	if (err)
		return err;
	host->generation = host->image->generation;
	/* Coming back from the failed update's image: the update did not happen. */
	if (getenv(BATON_ENV_ROLLBACK) && host->generation)
		host->generation--;
	n = host->image->n_devices;
	host->decisions = calloc(n ? n : 1, sizeof(*host->decisions));
	if (!host->decisions)
		return -BATON_ERR_NOMEM;
	err = baton_contracts_from_registry(&host->contracts, &diag);
	if (!err)
		err = baton_plan(host->image->devices, n, host->contracts,
				 &(struct baton_plan_opts){ .orphan = orphan_override() },
				 host->decisions);
	return err;
}

/*
 * The dry run's side: decode every payload with its driver's validator,
 * touch nothing, report one line of JSON on @report_fd.  Returns the exit
 * status.
 */
static int dry_run_report(struct baton_host *host, int image_fd, int report_fd)
{
	char why[192] = "";
	json_object *out;
	size_t n = 0;
	int err;

	err = load_and_plan(host, image_fd);
	if (err)
		snprintf(why, sizeof(why), "the image: %s", baton_strerror(err));
	else if (n = host->image->n_devices,
		 !baton_plan_ok(host->decisions, n) && !forced())
		snprintf(why, sizeof(why), "a mandatory device would not be bound");
	for (size_t i = 0; !why[0] && i < n; i++) {
		const struct baton_decision *d = &host->decisions[i];
		const struct baton_driver *drv;
		const void *state;
		void *converted;
		char addr[BATON_PCI_ADDR_STRLEN];
		size_t size;

		if (d->action != BATON_ACTION_BIND && d->action != BATON_ACTION_CONVERT)
			continue;
		err = driver_state(d, &drv, &state, &size, &converted);
		if (!err && drv->ops && drv->ops->validate)
			err = drv->ops->validate(state, size);
		free(converted);
		if (err)
			snprintf(why, sizeof(why), "%s: %s cannot read its state (%s)",
				 baton_pci_addr_format(&d->device->addr, addr),
				 drv ? drv->name : "the driver", baton_strerror(err));
	}
	out = json_object_new_object();
	json_object_object_add(out, "ok", json_object_new_boolean(!why[0]));
	json_object_object_add(out, "why", json_object_new_string(why));
	json_object_object_add(out, "decisions", baton_decisions_json(host->decisions, n));
	dprintf(report_fd, "%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	return why[0] ? 1 : 0;
}

static int restore(struct baton_host *host, int image_fd)
{
	struct baton_region **regions;
	struct baton_image *img;
	size_t n;
	int err;

	err = load_and_plan(host, image_fd);
	if (err)
		return err;
	img = host->image;
	n = img->n_devices;
	/*
	 * What cannot be bound now would not be bound by retrying: refuse,
	 * unless the update was forced, and the orphan policy is what was asked.
	 */
	if (!baton_plan_ok(host->decisions, n) && !forced())
		return -BATON_ERR_MISSING;

	regions = calloc(img->n_regions + 1, sizeof(*regions));
	if (!regions)
		return -BATON_ERR_NOMEM;
	err = host->inherited ? 0 : parse_fds(host);
	if (!err)
		err = take_fds(host, img);
	if (!err)
		err = take_regions(host, img, regions);
	for (size_t i = 0; !err && i < n; i++) {
		const struct baton_decision *d = &host->decisions[i];

		switch (d->action) {
		case BATON_ACTION_BIND:
		case BATON_ACTION_CONVERT:
			err = restore_device(host, d, regions);
			break;
		case BATON_ACTION_QUARANTINE:
		case BATON_ACTION_CONFLICT:
			err = carry_quarantined(host, d->device, regions);
			break;
		case BATON_ACTION_RESET:
		case BATON_ACTION_RELEASE:
			break;
		}
	}
	if (!err)
		release_unused(regions, img->n_regions);
	free(regions);
	if (err)
		return err;

	/* FINISH: every device resumes; the blackout ends here. */
	for (size_t i = 0; i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];

		if (dev->drv && dev->drv->ops && dev->drv->ops->finish)
			dev->drv->ops->finish(dev);
	}
	host->last.blackout_ns = baton_now_ns() -
		(uint64_t)env_number(BATON_ENV_FREEZE_NS, LONG_MAX);
	host->last.rolled_back = getenv(BATON_ENV_ROLLBACK) != NULL;
	host->last.decisions = host->decisions;
	host->last.n_decisions = n;
	host->restored = true;
	return 0;
}

/*
 * Socket mode, the new process's side: everything arrives on @sock; restore
 * from it as after an exec, then answer 'F' - or 'E' and give it all back,
 * since the old process still holds everything and goes on.
 */
static int receive(struct baton_host *host, int sock)
{
	int image_fd = -1, err;

	err = baton_transfer_recv(sock, &image_fd, &host->inherited,
				  &host->n_inherited);
	if (!err)
		err = restore(host, image_fd);
	if (err) {
		abandon_restore(host);
		for (size_t i = 0; i < host->n_inherited; i++)
			close(host->inherited[i]);
	}
	(void)!write(sock, err ? "E" : "F", 1);
	close(sock);
	if (image_fd >= 0)
		close(image_fd);
	clear_env();
	unsetenv(BATON_ENV_HANDOVER);
	if (!err)
		baton_control_report(host, "socket");
	return err;
}

int baton_host_create(const struct baton_host_opts *opts,
		      struct baton_host **out)
{
	struct baton_host *host;
	struct baton_session *session;
	long image_fd, report_fd, handover_fd;
	int err;

	host = calloc(1, sizeof(*host));
	if (!host)
		return -BATON_ERR_NOMEM;
	host->prepare = opts->prepare;
	host->arg = opts->arg;
	host->program = strdup(opts->program ? opts->program : "");
	host->exec_path = opts->exec_path ? strdup(opts->exec_path) :
			  realpath("/proc/self/exe", NULL);
	host->argv = dup_argv(opts->argv);
	if (!host->program || !host->exec_path || !host->argv) {
		err = -BATON_ERR_NOMEM;
		goto err_host;
	}
	err = baton_host_session(host, "", &session);
	if (err)
		goto err_host;

	handover_fd = env_number(BATON_ENV_HANDOVER, INT32_MAX);
	if (handover_fd >= 0) {
		err = receive(host, (int)handover_fd);
		if (err)
			goto err_host;
		*out = host;
		return 0;
	}
	image_fd = env_number(BATON_ENV_IMAGE_FD, INT32_MAX);
	report_fd = env_number(BATON_ENV_DRY_RUN, INT32_MAX);
	if (image_fd >= 0 && report_fd >= 0)
		_exit(dry_run_report(host, (int)image_fd, (int)report_fd));
	if (image_fd >= 0) {
		err = restore(host, (int)image_fd);
		if (err) {
			abandon_restore(host);
			err = go_back(host, err);
			goto err_host;
		}
		close((int)image_fd);
		clear_env();
		baton_control_report(host, "exec");
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
	 * After a socket-mode handover the socket path and the fds are the new
	 * process's; drivers let go of their devices (remove() never resets).
	 */
	if (host->handed_over)
		host->n_fds = 0;
	baton_control_close(host);
	for (size_t i = 0; i < host->n_devices; i++)
		free_device(host->devices[i], false);
	for (size_t i = 0; i < host->n_regions; i++) {
		struct baton_region *r = host->regions[i];

		munmap(r->base, r->size);
		close(r->fd);
		free(r->label);
		free(r);
	}
	for (size_t i = 0; i < host->n_sessions; i++) {
		free(host->sessions[i]->name);
		free(host->sessions[i]);
	}
	free(host->sessions);
	free(host->regions);
	free(host->devices);
	free(host->fds);
	free(host->inherited);
	free(host->decisions);
	baton_contracts_free(host->contracts);
	baton_image_free(host->image);
	if (host->image_map)
		munmap(host->image_map, host->image_len);
	free(host->program);
	free(host->exec_path);
	free_argv(host->argv);
	free(host);
}
