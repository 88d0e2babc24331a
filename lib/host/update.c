// SPDX-License-Identifier: MIT
/**
 * DOC: the update, exec mode
 *
 * baton_host_update() reads top to bottom as the phases it runs:
 *
 *	preflight() the target's contracts, read from its file, against a
 *		    record of every device: refuse before touching anything
 *	prepare()   each driver serializes its device's state (running)
 *	dry_run()   the target decodes those states with its validators,
 *		    against a sealed copy of the image, touching nothing
 *	freeze()    each driver quiesces its device and serializes its
 *		    final state; the blackout starts
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

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
			/* For people reading plans and images; the records are static. */
			d->schema_name = w->contract[0].u.schema.name;
			d->schema_version = w->contract[0].u.schema.version;
		} else {
			memcpy(d->schema, dev->schema, BATON_GUID_SIZE);
			d->schema_name = dev->schema_name;
			d->schema_version = dev->schema_version;
			d->state = dev->state;
			d->state_size = dev->state_size;
		}
	}
	return 0;
}

/* Why the update was refused, for the caller's report. */
static void refuse_why(struct update *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void refuse_why(struct update *u, const char *fmt, ...)
{
	va_list ap;

	if (!u->opts->report)
		return;
	va_start(ap, fmt);
	vsnprintf(u->opts->report->why, sizeof(u->opts->report->why), fmt, ap);
	va_end(ap);
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
	if (!baton_plan_ok(rep->decisions, n) && !u->opts->force) {
		const struct baton_decision *first = NULL;
		const char *target = strrchr(u->opts->target, '/');
		char addr[BATON_PCI_ADDR_STRLEN];
		bool others = false;

		for (size_t i = 0; i < n; i++) {
			const struct baton_decision *d = &rep->decisions[i];

			if (!d->device->mandatory || d->action == BATON_ACTION_BIND ||
			    d->action == BATON_ACTION_CONVERT)
				continue;
			others = first != NULL;
			if (!first)
				first = d;
		}
		/* The reason is in the decision, for whoever prints them. */
		refuse_why(u, "mandatory %s would not be bound by %s (%s)%s",
			   baton_pci_addr_format(&first->device->addr, addr),
			   target ? target + 1 : u->opts->target,
			   baton_action_name(first->action),
			   others ? ", nor would others" : "");
		err = -BATON_ERR_REFUSED;
	}
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

/*
 * Every driver serializes its device's state: once in PREPARE, with the
 * device running (what the dry run decodes), and again once every device
 * is frozen (what the next version gets: nothing changes after FREEZE).
 */
static int preserve_all(struct update *u)
{
	struct baton_host *host = u->host;

	for (size_t i = 0; i < host->n_devices; i++) {
		struct baton_device *dev = host->devices[i];
		size_t size;
		int err;

		if (!dev->drv)
			continue;	/* quarantined: its record goes on as it is */
		size = baton_driver_written(dev->drv)->size;
		memset(u->states[i], 0, size);
		err = dev->drv->ops && dev->drv->ops->preserve ?
		      dev->drv->ops->preserve(dev, u->states[i], size) : 0;
		if (err)
			return err;
	}
	return 0;
}

static int prepare(struct update *u)
{
	struct baton_host *host = u->host;
	int err;

	/* The program's own state first: it may add regions and fds. */
	err = host->prepare ? host->prepare(host, host->arg) : 0;
	if (err)
		return err;
	u->states = calloc(host->n_devices + 1, sizeof(*u->states));
	if (!u->states)
		return -BATON_ERR_NOMEM;
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_driver *drv = host->devices[i]->drv;
		const struct baton_schema *written = drv ? baton_driver_written(drv) : NULL;

		if (!drv)
			continue;
		if (!written)
			return -BATON_ERR_BADCONTRACT;
		u->states[i] = calloc(1, written->size);
		if (!u->states[i])
			return -BATON_ERR_NOMEM;
	}
	return preserve_all(u);
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
	return preserve_all(u);
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
		fds[n] = (struct baton_image_fd){ .index = (uint32_t)n,
			.token = host->regions[i]->token, .kind = BATON_FD_MEMFD };
		numbers[n] = host->regions[i]->fd;
	}
	for (size_t i = 0; i < host->n_fds; i++, n++) {
		fds[n] = (struct baton_image_fd){ .index = (uint32_t)n,
			.token = host->fds[i].token,
			.session = host->fds[i].session->name,
			.kind = host->fds[i].kind };
		numbers[n] = host->fds[i].fd;
	}
	return n;
}

/* The image in a sealed memfd: nobody can change it after this. */
static int write_image(const struct baton_image *img)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	size_t len, done = 0;
	void *buf;
	int err, fd;

	err = baton_image_write(img, &buf, &len);
	if (err)
		return err;
	fd = memfd_create("baton-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	err = fd < 0 ? -BATON_ERR_IO : 0;
	while (!err && done < len) {
		ssize_t put = write(fd, (char *)buf + done, len - done);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			err = -BATON_ERR_IO;
		else
			done += (size_t)put;
	}
	if (!err && fcntl(fd, F_ADD_SEALS, seals) < 0)
		err = -BATON_ERR_IO;
	free(buf);
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

static void set_cloexec(const int *fds, size_t n, bool on)
{
	for (size_t i = 0; i < n; i++)
		fcntl(fds[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

/*
 * The environment of a process this update starts: the @n_vars strings in
 * @vars (malloc'd, taken over) ahead of ours, less anything BATON_ a
 * previous update left behind.  Free with free_environ(@n_vars).
 */
static char **make_environ(char **vars, size_t n_vars)
{
	size_t n_env = 0, k = n_vars;
	char **env;

	while (environ[n_env])
		n_env++;
	env = calloc(n_vars + n_env + 1, sizeof(*env));
	for (size_t i = 0; i < n_vars; i++) {
		if (!env || !vars[i]) {
			for (size_t j = 0; j < n_vars; j++)
				free(vars[j]);
			free(env);
			return NULL;
		}
		env[i] = vars[i];
	}
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], "BATON_", 6))
			env[k++] = environ[i];
	return env;
}

static void free_environ(char **env, size_t n_vars)
{
	for (size_t i = 0; env && i < n_vars; i++)
		free(env[i]);
	free(env);
}

static char *env_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *env_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* Join @n items of @fmt-formatted @ints or @strs with @sep after "@name=". */
/* The update's orphan override, for the next version's plan. */
static char *orphan_var(const struct update *u)
{
	static const char *const names[] = {
		[BATON_OVERRIDE_NONE] = "none",
		[BATON_OVERRIDE_QUARANTINE] = "quarantine",
		[BATON_OVERRIDE_RESET] = "reset",
	};

	return env_printf(BATON_ENV_ORPHAN "=%s", names[u->opts->orphan]);
}

static char *env_list(const char *name, const int *ints, char *const *strs,
		      size_t n, const char *sep)
{
	size_t len = strlen(name) + 2;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += (strs ? strlen(strs[i]) : 11) + strlen(sep);
	s = malloc(len);
	if (!s)
		return NULL;
	p = s + sprintf(s, "%s=", name);
	for (size_t i = 0; i < n; i++) {
		if (strs)
			p += sprintf(p, "%s%s", i ? sep : "", strs[i]);
		else
			p += sprintf(p, "%s%d", i ? sep : "", ints[i]);
	}
	return s;
}

#define NEXT_VARS 6

/* What the next version needs to find everything (see the DOC above). */
static char **next_environ(const struct update *u, int image_fd,
			   const int *numbers, size_t n)
{
	size_t argc = 0;
	char *vars[NEXT_VARS];

	while (u->host->argv[argc])
		argc++;
	vars[0] = env_printf(BATON_ENV_IMAGE_FD "=%d", image_fd);
	vars[1] = env_printf(BATON_ENV_FREEZE_NS "=%" PRIu64, u->freeze_ns);
	vars[2] = env_list(BATON_ENV_FDS, numbers, NULL, n, ",");
	vars[3] = env_list(BATON_ENV_PREV_ARGV, NULL, u->host->argv, argc, "\x1f");
	vars[4] = env_printf(BATON_ENV_FORCE "=%d", u->opts->force);
	vars[5] = orphan_var(u);
	return make_environ(vars, NEXT_VARS);
}

/* The image as it stands: what the dry run reads and the handover hands. */
struct image_parts {
	struct baton_image img;
	struct baton_image_fd *fds;
	int *numbers;			/* each image fd's number, and one spare */
	struct baton_image_region *regions;
	struct baton_image_device *devices;
	uint32_t *uses;			/* the devices' region lists, end to end */
};

static void free_image(struct image_parts *p)
{
	free(p->uses);
	free(p->fds);
	free(p->numbers);
	free(p->regions);
	free(p->devices);
}

static int build_image(const struct update *u, struct image_parts *p)
{
	const struct baton_host *host = u->host;
	const struct baton_image_device *records = u->opts->report ?
		u->opts->report->records : u->records;
	size_t n_fds_max = host->n_regions + host->n_fds, n_fds, n_uses = 0;
	uint32_t *use;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < host->n_devices; i++)
		n_uses += host->devices[i]->n_uses;
	p->uses = calloc(n_uses + 1, sizeof(*p->uses));
	p->fds = calloc(n_fds_max + 1, sizeof(*p->fds));
	p->numbers = calloc(n_fds_max + 2, sizeof(*p->numbers));
	p->regions = calloc(host->n_regions + 1, sizeof(*p->regions));
	p->devices = calloc(host->n_devices + 1, sizeof(*p->devices));
	if (!p->uses || !p->fds || !p->numbers || !p->regions || !p->devices) {
		free_image(p);
		return -BATON_ERR_NOMEM;
	}
	n_fds = image_fds(host, p->fds, p->numbers);
	for (size_t i = 0; i < host->n_regions; i++)
		p->regions[i] = (struct baton_image_region){ (uint32_t)i, (uint32_t)i,
			host->regions[i]->size, host->regions[i]->label };
	use = p->uses;
	for (size_t i = 0; i < host->n_devices; i++) {
		const struct baton_device *dev = host->devices[i];

		p->devices[i] = records[i];
		/* Image region i is host region i. */
		p->devices[i].regions = use;
		p->devices[i].n_regions = dev->n_uses;
		for (size_t k = 0; k < dev->n_uses; k++)
			for (uint32_t r = 0; r < host->n_regions; r++)
				if (host->regions[r] == dev->uses[k])
					*use++ = r;
		if (dev->drv) {
			p->devices[i].state = u->states[i];
			p->devices[i].state_size =
				(uint32_t)baton_driver_written(host->devices[i]->drv)->size;
		}
	}
	p->img = (struct baton_image){
		.generation = host->generation + 1,
		.program = host->program,
		.exec_path = host->exec_path,
		.n_fds = n_fds, .fds = p->fds,
		.n_regions = host->n_regions, .regions = p->regions,
		.n_devices = host->n_devices, .devices = p->devices,
	};
	return 0;
}

static int handover(struct update *u)
{
	struct image_parts p;
	char **env = NULL;
	size_t n_fds;
	int err;

	err = build_image(u, &p);
	if (err)
		return err;
	n_fds = p.img.n_fds;
	u->image_fd = write_image(&p.img);
	err = u->image_fd < 0 ? u->image_fd : 0;
	if (!err) {
		env = next_environ(u, u->image_fd, p.numbers, n_fds);
		err = env ? 0 : -BATON_ERR_NOMEM;
	}
	if (!err) {
		p.numbers[n_fds] = u->image_fd;
		set_cloexec(p.numbers, n_fds + 1, false);
		execve(u->opts->target, u->opts->argv ? u->opts->argv : u->host->argv, env);
		/* Still here: the exec failed.  Nothing was handed over. */
		err = -BATON_ERR_IO;
		set_cloexec(p.numbers, n_fds + 1, true);
	}
	if (u->image_fd >= 0)
		close(u->image_fd);
	u->image_fd = -1;
	free_environ(env, NEXT_VARS);
	free_image(&p);
	return err;
}

/*
 * In a child the update started: close every fd from @first up, so the
 * target gets only what was put below it, and exec the target.  Never
 * returns.
 */
__attribute__((noreturn))
static void exec_target(const struct update *u, char **env, int first)
{
	if (close_range((unsigned)first, ~0U, 0) < 0)
		for (int fd = first; fd < 65536; fd++)
			close(fd);
	execve(u->opts->target, u->opts->argv ? u->opts->argv : u->host->argv, env);
	_exit(127);
}

/* The dry run's child: the image as fd 3, the report pipe as fd 4, nothing else. */
static void dry_run_child(const struct update *u, int image_fd, int report_fd,
			  char **env)
{
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* Out of the way of 3 and 4 first, whatever numbers they had. */
	image_fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 10);
	report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
	if (image_fd < 0 || report_fd < 0 || dup2(image_fd, 3) < 0 ||
	    dup2(report_fd, 4) < 0 || (devnull >= 0 && dup2(devnull, 1) < 0))
		_exit(127);
	/* The program's own fds are not the dry run's business. */
	exec_target(u, env, 5);
}

/* Read the child's one-line report within @deadline_ns. */
/*
 * One read() from @fd once it is readable, unless @deadline_ns passes
 * first.  Return: bytes read, 0 at end of file, -1 for the deadline or an
 * error.  What comes from the new version is awaited with this, and only
 * this: it never blocks past the deadline.
 */
static ssize_t read_by(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = baton_now_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (now >= deadline_ns ||
		    poll(&p, 1, (int)((deadline_ns - now) / 1000000) + 1) != 1)
			return -1;
		got = read(fd, buf, len);
		if (got >= 0 || errno != EINTR)
			return got < 0 ? -1 : got;
	}
}

/* Read the dry run's one-line report within @deadline_ns. */
static json_object *read_report(int fd, uint64_t deadline_ns)
{
	char buf[1 << 16];
	size_t len = 0;
	ssize_t got = 0;

	while (len < sizeof(buf) - 1 &&
	       (got = read_by(fd, buf + len, sizeof(buf) - 1 - len, deadline_ns)) > 0)
		len += (size_t)got;
	if (got < 0)
		return NULL;
	buf[len] = '\0';
	return len ? json_tokener_parse(buf) : NULL;
}

/*
 * The dry run: the target itself, started against a sealed copy of the
 * image as it would be handed over now, decodes every payload with its
 * drivers' validators and reports, while this version still owns every
 * device.  It gets no region, no fd, no device: it cannot touch anything.
 */
static int dry_run(struct update *u)
{
	uint64_t deadline = baton_now_ns() + (u->opts->timeout_ms ?
		u->opts->timeout_ms : BATON_DRY_RUN_TIMEOUT_MS) * 1000000ull;
	json_object *report = NULL, *ok;
	struct image_parts p;
	int image_fd, pipefd[2] = { -1, -1 }, status, err;
	char *vars[4];
	char **env;
	pid_t pid;

	err = build_image(u, &p);
	if (err)
		return err;
	image_fd = write_image(&p.img);
	free_image(&p);
	if (image_fd < 0)
		return image_fd;
	vars[0] = env_printf(BATON_ENV_IMAGE_FD "=3");
	vars[1] = env_printf(BATON_ENV_DRY_RUN "=4");
	vars[2] = env_printf(BATON_ENV_FORCE "=%d", u->opts->force);
	vars[3] = orphan_var(u);
	env = make_environ(vars, 4);
	if (!env || pipe2(pipefd, O_CLOEXEC) < 0) {
		err = env ? -BATON_ERR_IO : -BATON_ERR_NOMEM;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -BATON_ERR_IO;
		goto out;
	}
	if (!pid)
		dry_run_child(u, image_fd, pipefd[1], env);
	close(pipefd[1]);
	pipefd[1] = -1;
	report = read_report(pipefd[0], deadline);
	/* A child that did not report in time does not get more. */
	if (!report)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!report) {
		refuse_why(u, "the dry run of %s gave no report (%s %d)", u->opts->target,
			   WIFSIGNALED(status) ? "signal" : "exit status",
			   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		err = -BATON_ERR_REFUSED;
	} else if (!json_object_object_get_ex(report, "ok", &ok) ||
		   !json_object_get_boolean(ok)) {
		json_object *why;

		refuse_why(u, "dry run: %s", json_object_object_get_ex(report, "why", &why) ?
			   json_object_get_string(why) : "not ok");
		err = -BATON_ERR_REFUSED;
	}
out:
	json_object_put(report);
	free_environ(env, 4);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	close(image_fd);
	return err;
}

/* The new process's one-byte answer, within @deadline_ns; 0 for none. */
static char await_answer(int sock, uint64_t deadline_ns)
{
	char answer = 0;

	return read_by(sock, &answer, 1, deadline_ns) == 1 ? answer : 0;
}

/*
 * Socket mode: the target as a new process, handed the image and every fd
 * over a socketpair; this process waits for its FINISH, holding everything,
 * and kills it if it fails, crashes or is late.
 */
static int handover_socket(struct update *u)
{
	uint64_t deadline = baton_now_ns() + (u->opts->timeout_ms ?
		u->opts->timeout_ms : BATON_DRY_RUN_TIMEOUT_MS) * 1000000ull;
	int sv[2] = { -1, -1 }, image_fd, err, status;
	struct image_parts p;
	char *vars[4], **env = NULL, answer;
	pid_t pid;

	err = build_image(u, &p);
	if (err)
		return err;
	image_fd = write_image(&p.img);
	if (image_fd < 0) {
		free_image(&p);
		return image_fd;
	}
	vars[0] = env_printf(BATON_ENV_HANDOVER "=3");
	vars[1] = env_printf(BATON_ENV_FREEZE_NS "=%" PRIu64, u->freeze_ns);
	vars[2] = env_printf(BATON_ENV_FORCE "=%d", u->opts->force);
	vars[3] = orphan_var(u);
	env = make_environ(vars, 4);
	if (!env || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = env ? -BATON_ERR_IO : -BATON_ERR_NOMEM;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -BATON_ERR_IO;
		goto out;
	}
	if (!pid) {
		/* Everything it gets comes over the socket, in order. */
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);

		if (fd < 0 || dup2(fd, 3) < 0)
			_exit(127);
		exec_target(u, env, 4);
	}
	close(sv[1]);
	sv[1] = -1;
	err = baton_transfer_send(sv[0], image_fd, p.numbers, p.img.n_fds);
	answer = err ? 0 : await_answer(sv[0], deadline);
	if (answer == 'F') {
		err = BATON_HANDED_OVER;
		goto out;
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	refuse_why(u, answer == 'E' ? "the new version failed to restore" :
		   WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL ?
		   "the new version died during restore" :
		   "the new version did not finish in time");
	err = -BATON_ERR_IO;
out:
	free_environ(env, 4);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	close(image_fd);
	free_image(&p);
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
	if (!err && !opts->no_dry_run)
		err = dry_run(&u);
	if (err)
		goto err_prepare;
	err = freeze(&u);
	if (err)
		goto err_freeze;
	err = opts->mode == BATON_MODE_SOCKET ? handover_socket(&u) : handover(&u);
	if (err == BATON_HANDED_OVER) {
		/* Everything is the new process's now: leave it as it is. */
		host->handed_over = true;
		unprepare(&u);
		free(u.records);
		return err;
	}
	/* handover() returns only when the exec failed. */
err_freeze:
	unfreeze(&u);
err_prepare:
	unprepare(&u);
err_preflight:
	free(u.records);
	return err;
}
