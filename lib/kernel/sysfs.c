// SPDX-License-Identifier: MIT
/**
 * DOC: saving and binding preserved PCI devices through sysfs
 *
 * Before kexec, baton_kernel_save() reads what each device's driver is
 * willing to hand over: /sys/bus/pci/devices/ADDR/{vendor, device,
 * subsystem_vendor, subsystem_device, class} for the ids, liveupdate_schema
 * for the schema the driver writes, liveupdate_state for its state.
 *
 * After kexec, in early userspace, nothing has loaded a driver for the
 * preserved devices yet.  baton_kernel_bind() keeps it that way while it
 * works, then binds each device to the driver its schema selects:
 *
 *   1. plan (a pure function: nothing touched yet);
 *   2. block: driver_override = "baton-quarantine" on every recorded device
 *      that is present, so no driver loaded from now on can claim one;
 *   3. act, per decision:
 *      BIND/CONVERT  load the module and what it depends on (libkmod:
 *                    modules.dep.bin, .ko.xz and .ko.zst too), find the name
 *                    its driver has on this boot (/sys/module/M/drivers/
 *                    pci:NAME), driver_override = NAME, probe
 *                    (/sys/bus/pci/drivers_probe), then hand the state back:
 *                    liveupdate_schema = the record's schema, liveupdate_state
 *                    = its bytes;
 *      QUARANTINE,   leave the override: unbound, untouched, not reset;
 *      CONFLICT
 *      RESET         clear the override, reset the function, probe cold;
 *      RELEASE       the device is gone: nothing to do.
 *
 * On a kernel with Baton's patch series (a device with the PCI core's
 * live_update_schema, lib/kernel/inkernel.c) the kernel keeps the devices
 * away from other drivers by itself: save also records each schema there;
 * for a device that came with a record, bind writes no driver_override,
 * probes nothing and hands no state back: it loads the module, whose probe
 * restores, and reports the driver the device has and its record; RESET
 * releases it with the null GUID.
 *
 * Modules are loaded only when the sysfs root is the real "/sys"; under a
 * fake root (tests) a module counts as loaded when ROOT/module/M exists.
 * The driver name is found on this boot and never comes from the image.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <baton/kernel.h>

#include "internal.h"
#include "kernel/kernel-internal.h"

#define PCI_DEVICES "bus/pci/devices"

/* Read a whole attribute; returns bytes read or -errno. */
ssize_t baton_kernel_read_file(const char *path, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		got = read(fd, (char *)buf + done, len - done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			got = -errno;
			close(fd);
			return got;
		}
		if (!got)
			break;
		done += (size_t)got;
	}
	close(fd);
	return (ssize_t)done;
}

/*
 * Write an attribute in one write(), as sysfs wants; 0 or -errno.  sysfs
 * ignores O_TRUNC; a fake tree in a test needs it.
 */
int baton_kernel_write_file(const char *path, const void *buf, size_t len)
{
	ssize_t put;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	put = write(fd, buf, len);
	if (put < 0)
		err = -errno;
	else if ((size_t)put != len)
		err = -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

void baton_kernel_dev_path(char *out, size_t len, const char *root,
			   const char *addr, const char *attr)
{
	snprintf(out, len, "%s/" PCI_DEVICES "/%s%s%s", root, addr,
		 attr ? "/" : "", attr ? attr : "");
}

/* A "0x1234\n" attribute of a device. */
static int read_id(const char *root, const char *addr, const char *attr,
		   uint32_t *out, struct baton_diag *diag)
{
	char path[PATH_MAX], buf[32], *end;
	ssize_t n;

	baton_kernel_dev_path(path, sizeof(path), root, addr, attr);
	n = baton_kernel_read_file(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return baton_diag_set(diag, (int)-n, path, NULL);
	buf[n] = '\0';
	errno = 0;
	*out = (uint32_t)strtoul(buf, &end, 16);
	if (errno || end == buf || (*end && *end != '\n'))
		return baton_diag_set(diag, BATON_ERR_BADVALUE, path,
				      "not a hex number: \"%.16s\"", buf);
	return 0;
}

/* The device's liveupdate_schema: 32 hex digits and a newline. */
static int read_schema(const char *root, const char *addr,
		       uint8_t out[BATON_GUID_SIZE], struct baton_diag *diag)
{
	char path[PATH_MAX], buf[64];
	ssize_t n;

	baton_kernel_dev_path(path, sizeof(path), root, addr, "liveupdate_schema");
	n = baton_kernel_read_file(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return baton_diag_set(diag, (int)-n, path,
				      "%s: its driver declares no written schema",
				      strerror((int)-n));
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (baton_kernel_parse_guid(buf, (size_t)n, out) < 0)
		return baton_diag_set(diag, BATON_ERR_BADVALUE, path,
				      "not 32 hex digits");
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every device whose driver exposes liveupdate_schema, sorted. */
static int scan_devices(const char *root, char ***addrs, size_t *n,
			struct baton_diag *diag)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	*addrs = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/" PCI_DEVICES, root);
	dir = opendir(path);
	if (!dir)
		return baton_diag_set(diag, errno, path, NULL);
	while ((de = readdir(dir)) != NULL) {
		char **grown;

		if (de->d_name[0] == '.')
			continue;
		baton_kernel_dev_path(path, sizeof(path), root, de->d_name, "liveupdate_schema");
		if (access(path, R_OK))
			continue;
		grown = realloc(*addrs, (*n + 1) * sizeof(*grown));
		if (!grown || !(grown[*n] = strdup(de->d_name))) {
			free(grown ? grown : *addrs);
			*addrs = NULL;
			*n = 0;
			closedir(dir);
			return baton_diag_set(diag, ENOMEM, NULL, NULL);
		}
		*addrs = grown;
		(*n)++;
	}
	closedir(dir);
	/* None found leaves *addrs NULL, which qsort() must not be given. */
	if (*n)
		qsort(*addrs, *n, sizeof(**addrs), addr_cmp);
	return 0;
}

static bool listed(const char *addr, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], addr))
			return true;
	return false;
}

/* One record from sysfs; its state is malloc'd into *@state. */
static int save_device(const char *root, const char *addr, bool mandatory,
		       struct baton_image_device *d, void **state,
		       struct baton_diag *diag)
{
	char path[PATH_MAX];
	ssize_t n;
	int err;

	memset(d, 0, sizeof(*d));
	if (baton_pci_addr_parse(addr, &d->addr) < 0)
		return baton_diag_set(diag, BATON_ERR_BADVALUE, addr,
				      "not a PCI address DDDD:BB:DD.F");
	d->bus = "pci";
	d->mandatory = mandatory;
	d->orphan = BATON_ORPHAN_QUARANTINE;
	err = read_id(root, addr, "vendor", &d->ids.vendor, diag);
	if (!err)
		err = read_id(root, addr, "device", &d->ids.device, diag);
	if (!err)
		err = read_id(root, addr, "subsystem_vendor", &d->ids.subvendor, diag);
	if (!err)
		err = read_id(root, addr, "subsystem_device", &d->ids.subdevice, diag);
	if (!err)
		err = read_id(root, addr, "class", &d->ids.class_code, diag);
	if (!err)
		err = read_schema(root, addr, d->schema, diag);
	if (err)
		return err;

	/* One byte more than allowed tells a full state from a too large one. */
	*state = malloc(BATON_KERNEL_STATE_MAX + 1);
	if (!*state)
		return baton_diag_set(diag, ENOMEM, NULL, NULL);
	baton_kernel_dev_path(path, sizeof(path), root, addr, "liveupdate_state");
	n = baton_kernel_read_file(path, *state, BATON_KERNEL_STATE_MAX + 1);
	if (n == -ENOENT)
		n = 0;
	if (n < 0)
		return baton_diag_set(diag, (int)-n, path, NULL);
	if (n > BATON_KERNEL_STATE_MAX)
		return baton_diag_set(diag, EFBIG, path,
				      "state larger than %d bytes",
				      BATON_KERNEL_STATE_MAX);
	if (n) {
		d->state = *state;
		d->state_size = (uint32_t)n;
	}
	return 0;
}

int baton_kernel_save(const struct baton_kernel_save_opts *opts, void **out,
		      size_t *len, struct baton_diag *diag)
{
	const char *root = baton_kernel_root(opts->sysfs);
	char program[sizeof(((struct utsname *)0)->release) + 8];
	struct baton_image img = { .generation = 0 };
	char **scanned = NULL;
	const char *const *addrs = opts->addrs;
	size_t n = opts->n_addrs;
	void **states = NULL;
	struct utsname uts;
	int err;

	if (!baton_reserved_clear(opts->reserved, sizeof(opts->reserved)))
		return baton_diag_set(diag, EINVAL, NULL, "reserved options are not zero");
	if (!addrs) {
		err = scan_devices(root, &scanned, &n, diag);
		if (err)
			return err;
		addrs = (const char *const *)scanned;
	}
	if (!n) {
		err = baton_diag_set(diag, ENODEV, root,
				     "no PCI device's driver declares a liveupdate schema");
		goto out;
	}
	img.devices = calloc(n, sizeof(*img.devices));
	states = calloc(n, sizeof(*states));
	if (!img.devices || !states) {
		err = baton_diag_set(diag, ENOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		err = save_device(root, addrs[i],
				  listed(addrs[i], opts->mandatory, opts->n_mandatory),
				  &img.devices[i], &states[i], diag);
		if (err)
			goto out;
		img.devices[i].index = (uint32_t)i;
		img.n_devices++;
	}
	for (size_t i = 0; i < opts->n_mandatory; i++) {
		if (!listed(opts->mandatory[i], addrs, n)) {
			err = baton_diag_set(diag, ENODEV, opts->mandatory[i],
					     "mandatory device is not among those saved");
			goto out;
		}
	}
	uname(&uts);
	snprintf(program, sizeof(program), "linux %s", uts.release);
	img.program = program;
	/* A kernel with the series carries the records itself (inkernel.c). */
	err = baton_inkernel_record(root, &img, diag);
	if (err)
		goto out;
	err = baton_image_write(&img, out, len);
	if (err < 0) {
		baton_diag_set(diag, -err, NULL, NULL);
		baton_inkernel_clear(root, &img, img.n_devices);
	}
out:
	for (size_t i = 0; states && i < n; i++)
		free(states[i]);
	free(states);
	free(img.devices);
	for (size_t i = 0; scanned && i < n; i++)
		free(scanned[i]);
	free(scanned);
	return err;
}

/* ---- bind ---- */

struct binder {
	const char *root;
	const char *modules;
	bool load;		/* the real /sys: load modules for real */
};

static void set_result(struct baton_kernel_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_result(struct baton_kernel_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->result, sizeof(r->result), fmt, ap);
	va_end(ap);
}

/* Load @module and its dependencies, unless this boot already has it. */
static int load_module(const struct binder *b, const char *module,
		       struct baton_kernel_result *r)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/module/%s", b->root, module);
	if (!access(path, F_OK))
		return 0;
	if (!b->load) {
		set_result(r, "module %s is not loaded (modules are loaded only under /sys)",
			   module);
		return -ENOENT;
	}
	return baton_kernel_load_module(b->modules, module, r->result,
					sizeof(r->result));
}

/* The PCI driver @module registered on this boot: module/M/drivers/pci:NAME. */
static int module_driver(const struct binder *b, const char *module,
			 struct baton_kernel_result *r)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/module/%s/drivers", b->root, module);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir)) != NULL) {
			if (strncmp(de->d_name, "pci:", 4))
				continue;
			snprintf(r->driver, sizeof(r->driver), "%s", de->d_name + 4);
			break;
		}
		closedir(dir);
	}
	if (!r->driver[0]) {
		set_result(r, "module %s registered no PCI driver", module);
		return -ENOENT;
	}
	return 0;
}

/* The name of the driver bound to @addr now, "" when none. */
static void bound_driver(const struct binder *b, const char *addr, char *out,
			 size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	baton_kernel_dev_path(path, sizeof(path), b->root, addr, "driver");
	n = readlink(path, link, sizeof(link) - 1);
	out[0] = '\0';
	if (n > 0) {
		const char *base;
		size_t blen;

		link[n] = '\0';
		base = strrchr(link, '/');
		base = base ? base + 1 : link;
		blen = strnlen(base, len - 1);
		memcpy(out, base, blen);
		out[blen] = '\0';
	}
}

static int write_str(const struct binder *b, const char *addr, const char *attr,
		     const char *s)
{
	char path[PATH_MAX];

	baton_kernel_dev_path(path, sizeof(path), b->root, addr, attr);
	return baton_kernel_write_file(path, s, strlen(s));
}

static int probe(const struct binder *b, const char *addr)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", b->root);
	return baton_kernel_write_file(path, addr, strlen(addr));
}

static int unbind(const struct binder *b, const char *addr)
{
	return write_str(b, addr, "driver/unbind", addr);
}

static void restore_state(const struct binder *b, const char *addr,
			  const struct baton_image_device *d,
			  struct baton_kernel_result *r)
{
	char hex[2 * BATON_GUID_SIZE + 2], path[PATH_MAX];
	int err;

	if (!d->state_size) {
		set_result(r, "bound to %s (no state to restore)", r->driver);
		return;
	}
	for (size_t i = 0; i < BATON_GUID_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", d->schema[i]);
	strcat(hex, "\n");
	err = write_str(b, addr, "liveupdate_schema", hex);
	if (!err) {
		baton_kernel_dev_path(path, sizeof(path), b->root, addr, "liveupdate_state");
		err = baton_kernel_write_file(path, d->state, d->state_size);
	}
	if (err) {
		set_result(r, "bound to %s, but its driver refused the state: %s",
			   r->driver, strerror(-err));
		return;
	}
	r->state_restored = true;
	set_result(r, "bound to %s, state restored", r->driver);
}

/*
 * A kernel with the series decides alone (inkernel.c): say what it did,
 * the driver the device has now and its record.  @want is the driver the
 * plan expects, NULL when none should bind.
 */
static void report_kernel(const struct binder *b, const char *addr,
			  const char *want, struct baton_kernel_result *r)
{
	char record[BATON_KERNEL_RECORD_STRLEN];
	int err;

	bound_driver(b, addr, r->driver, sizeof(r->driver));
	err = baton_kernel_record(b->root, addr, record, NULL);
	if (err < 0)
		snprintf(record, sizeof(record), "unreadable");
	r->bound = r->driver[0] && (!want || !strcmp(r->driver, want));
	if (r->driver[0])
		set_result(r, "the kernel bound it to %s%s%s (record %s)", r->driver,
			   r->bound ? "" : ", not to ", r->bound ? "" : want, record);
	else if (!strcmp(record, "lost"))
		set_result(r, "quarantined by the kernel: its record was lost, no driver");
	else
		set_result(r, "quarantined by the kernel: record %s, no driver%s%s",
			   record, want ? " (" : "", want ? want : "");
}

static void bind_one(const struct binder *b, const char *addr,
		     const struct baton_image_device *d, bool held,
		     struct baton_kernel_result *r)
{
	const char *module = r->decision.driver->owner;
	char now[64];
	int err;

	snprintf(r->module, sizeof(r->module), "%s", module);
	if (load_module(b, module, r) || module_driver(b, module, r))
		return;
	if (held) {
		/* The module's probe ran as it registered: nothing to bind. */
		snprintf(now, sizeof(now), "%s", r->driver);
		report_kernel(b, addr, now, r);
		return;
	}
	bound_driver(b, addr, now, sizeof(now));
	if (now[0] && strcmp(now, r->driver) && (err = unbind(b, addr))) {
		set_result(r, "bound to %s, which would not let go: %s", now,
			   strerror(-err));
		return;
	}
	err = write_str(b, addr, "driver_override", r->driver);
	if (!err && strcmp(now, r->driver))
		err = probe(b, addr);
	bound_driver(b, addr, now, sizeof(now));
	if (err || strcmp(now, r->driver)) {
		set_result(r, "%s did not bind%s%s", r->driver, err ? ": " : "",
			   err ? strerror(-err) : "");
		return;
	}
	r->bound = true;
	restore_state(b, addr, d, r);
}

static void reset_one(const struct binder *b, const char *addr, bool held,
		      struct baton_kernel_result *r)
{
	static const uint8_t null_guid[BATON_GUID_SIZE];
	char path[PATH_MAX], now[64];
	int err;

	/* The series keeps drivers away through the record, not the override. */
	if (held)
		err = baton_inkernel_write(b->root, addr, null_guid);
	else
		err = write_str(b, addr, "driver_override", "\n");
	baton_kernel_dev_path(path, sizeof(path), b->root, addr, "reset");
	/* Not every function can be reset; the probe is cold either way. */
	if (!err && !access(path, W_OK))
		err = baton_kernel_write_file(path, "1", 1);
	if (!err)
		err = probe(b, addr);
	if (err) {
		set_result(r, "reset failed: %s", strerror(-err));
		return;
	}
	bound_driver(b, addr, now, sizeof(now));
	snprintf(r->driver, sizeof(r->driver), "%s", now);
	set_result(r, now[0] ? "reset, probed cold: bound to %s" :
		   "reset, probed cold: no driver%s", now);
}

int baton_kernel_bind(const struct baton_image *img,
		      const struct baton_contracts *contracts,
		      const struct baton_kernel_bind_opts *opts,
		      struct baton_kernel_result *results,
		      struct baton_diag *diag)
{
	const struct binder b = {
		.root = baton_kernel_root(opts->sysfs),
		.modules = opts->modules,
		.load = !opts->sysfs || !strcmp(opts->sysfs, "/sys"),
	};
	struct baton_plan_opts popts = { .orphan = opts->orphan };
	struct baton_decision *decisions;
	struct baton_pci_addr *present;
	char addr[BATON_PCI_ADDR_STRLEN], path[PATH_MAX];
	bool *held;
	int err;

	if (!baton_reserved_clear(opts->reserved, sizeof(opts->reserved)))
		return baton_diag_set(diag, EINVAL, NULL, "reserved options are not zero");
	present = calloc(img->n_devices + 1, sizeof(*present));
	decisions = calloc(img->n_devices + 1, sizeof(*decisions));
	held = calloc(img->n_devices + 1, sizeof(*held));
	if (!present || !decisions || !held) {
		err = baton_diag_set(diag, ENOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < img->n_devices; i++) {
		baton_pci_addr_format(&img->devices[i].addr, addr);
		baton_kernel_dev_path(path, sizeof(path), b.root, addr, NULL);
		if (!access(path, F_OK))
			present[popts.n_present++] = img->devices[i].addr;
	}
	popts.present = present;
	err = baton_plan(img->devices, img->n_devices, contracts, &popts, decisions);
	if (err) {
		baton_diag_set(diag, -err, NULL, NULL);
		goto out;
	}

	/* Block every present device before any module is loaded. */
	for (size_t i = 0; i < img->n_devices; i++) {
		struct baton_kernel_result *r = &results[i];

		memset(r, 0, sizeof(*r));
		r->decision = decisions[i];
		if (r->decision.action == BATON_ACTION_RELEASE)
			continue;
		baton_pci_addr_format(&img->devices[i].addr, addr);
		/*
		 * The series' kernel blocks them itself, by their record; decided
		 * once, since a driver's probe changes the record.
		 */
		held[i] = baton_inkernel_holds(b.root, addr);
		if (held[i])
			continue;
		err = write_str(&b, addr, "driver_override", BATON_KERNEL_QUARANTINE);
		if (err)
			set_result(r, "cannot write driver_override: %s", strerror(-err));
	}

	for (size_t i = 0; i < img->n_devices; i++) {
		struct baton_kernel_result *r = &results[i];

		if (r->result[0])
			continue;	/* could not even be blocked */
		baton_pci_addr_format(&img->devices[i].addr, addr);
		switch (r->decision.action) {
		case BATON_ACTION_BIND:
		case BATON_ACTION_CONVERT:
			bind_one(&b, addr, &img->devices[i], held[i], r);
			break;
		case BATON_ACTION_RESET:
			reset_one(&b, addr, held[i], r);
			break;
		case BATON_ACTION_QUARANTINE:
		case BATON_ACTION_CONFLICT: {
			char now[64];

			if (held[i]) {
				report_kernel(&b, addr, NULL, r);
				break;
			}
			bound_driver(&b, addr, now, sizeof(now));
			if (now[0] && (err = unbind(&b, addr)))
				set_result(r, "bound to %s, which would not let go: %s",
					   now, strerror(-err));
			else
				set_result(r, "quarantined: override " BATON_KERNEL_QUARANTINE
					   ", no driver, no reset");
			break;
		}
		case BATON_ACTION_RELEASE:
			set_result(r, "absent");
			break;
		}
	}
	err = 0;
out:
	free(held);
	free(present);
	free(decisions);
	return err;
}
