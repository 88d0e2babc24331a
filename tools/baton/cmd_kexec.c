// SPDX-License-Identifier: MIT
/*
 * baton kexec --kernel FILE [--initrd FILE] [--append CMDLINE]
 *             [--image IMAGE] [--socket PATH...] [--timeout MS] [--dry-run] [--json]
 * baton kexec --restore -o IMAGE [--json]
 * baton kexec --restore [--log-dir DIR] [--timeout MS] [--json]
 *
 * The agent on the kernel's Live Update Orchestrator (lib/luo,
 * docs/luo.md), for the kernel path's image (docs/kernel.md): before the
 * kexec, the image `baton kernel save` wrote travels in a LUO session
 * instead of the next kernel's initrd; after it, --restore takes it out of
 * the session for `baton kernel bind`.
 *
 * Before the kexec, in order, each step undone if a later one fails, so
 * that a failure leaves the running kernel as it was:
 *  1. the image is validated (a corrupt one is refused before anything);
 *  2. /dev/liveupdate is opened: this process is the one opener (when
 *     another holds it, the error names that process);
 *  3. the session BATON_KEXEC_SESSION is created, the image put in a
 *     sealed memfd and preserved under BATON_KEXEC_TOKEN_IMAGE;
 *  4. the next kernel is loaded with kexec_file_load();
 *  5. reboot(LINUX_REBOOT_CMD_KEXEC), holding the session: closing it
 *     would unpreserve the image.
 * --dry-run does 1 and 2 (and lets the device go), checks that the kernel
 * and initrd can be read, and reports what would be carried.
 *
 * Programs (--socket), with the image or without: the image validated
 * first; each program is preflighted over its control socket
 * (lib/host/kexec.c), refusing before anything is frozen; /dev/liveupdate
 * is opened, still before anything is frozen (a busy device costs the
 * programs nothing); then each hands over (frozen, its image and regions'
 * memfds sent to us); then the image's session, and each program's image
 * (token 1), the line it handed over with, which names its binary and
 * argv (token 2), and its regions (token 3 + index) go in a session
 * "baton:<binary>:<pid>", listed in the session BATON_KEXEC_PROGRAMS
 * (token 1: {"sessions":[...]}); the kernel is loaded and the machine
 * reboots holding every session and every connection.  Any failure after
 * the handover closes every session and tells every program handed over
 * to resume, last first.  --restore without -o, in the next boot, starts
 * each program on what its session carried (baton_kexec_start()), its
 * output in a log of its own under --log-dir, and FINISHes it; a session
 * whose image is corrupt, or whose program refuses it, is closed and the
 * program started cold.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "host/host-internal.h"
#include "luo/luo.h"

/* Where the kernel path's image travels: one session, one token. */
#define BATON_KEXEC_SESSION "baton-kernel"
#define BATON_KEXEC_TOKEN_IMAGE 1

/* Where programs travel: a manifest naming each program's session. */
#define BATON_KEXEC_PROGRAMS "baton-programs"
#define BATON_KEXEC_TOKEN_MANIFEST 1
#define BATON_KEXEC_TOKEN_COMMAND 2
#define BATON_KEXEC_TOKEN_REGION0 3
#define PROGRAMS_MAX 64
#define REGIONS_MAX 256
#define KEXEC_TIMEOUT_MS 60000

/* Where a restored program's stdout and stderr go, by default. */
#define KEXEC_LOG_DIR "/run/baton"

static const char usage[] =
	"baton kexec --kernel FILE [--initrd FILE] [--append CMDLINE] "
	"[--image IMAGE] [--socket PATH...] [--timeout MS] [--dry-run] [--json] | "
	"baton kexec --restore -o IMAGE [--json] | "
	"baton kexec --restore [--log-dir DIR] [--timeout MS] [--json]";

struct kexec_args {
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *image;
	const char *output;
	const char *log_dir;
	const char *sockets[PROGRAMS_MAX];
	size_t n_sockets;
	bool too_many;
	unsigned timeout_ms;
	bool bad_timeout;
	bool dry_run;
	bool restore;
};

static void on_opt(int opt, const char *arg, void *ctx)
{
	struct kexec_args *a = ctx;

	switch (opt) {
	case 'k': a->kernel = arg; break;
	case 'i': a->initrd = arg; break;
	case 'a': a->append = arg; break;
	case 'I': a->image = arg; break;
	case 'o': a->output = arg; break;
	case 'l': a->log_dir = arg; break;
	case 'd': a->dry_run = true; break;
	case 'r': a->restore = true; break;
	case 's':
		if (a->n_sockets == PROGRAMS_MAX)
			a->too_many = true;
		else
			a->sockets[a->n_sockets++] = arg;
		break;
	case 't': {
		char *end;
		unsigned long ms = strtoul(arg, &end, 10);

		a->bad_timeout = *end || !ms || ms > 3600000;
		a->timeout_ms = (unsigned)ms;
		break;
	}
	}
}

static const struct option longopts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "append", required_argument, NULL, 'a' },
	{ "image", required_argument, NULL, 'I' },
	{ "output", required_argument, NULL, 'o' },
	{ "log-dir", required_argument, NULL, 'l' },
	{ "dry-run", no_argument, NULL, 'd' },
	{ "restore", no_argument, NULL, 'r' },
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ 0 },
};

/*
 * What either direction holds while it works, released in one place: the
 * device, the session (closing an outgoing one unpreserves the image, so a
 * failed kexec carries nothing), the image's memfd, its bytes, decoded.
 */
struct carry {
	struct baton_luo *luo;
	struct baton_luo_session *session;
	int fd;
	void *buf;
	size_t len;
	struct baton_image *img;
};

static int carry_release(struct carry *c, int rc)
{
	if (c->fd >= 0)
		close(c->fd);
	baton_luo_session_close(c->session);
	baton_luo_close(c->luo);
	baton_image_free(c->img);
	free(c->buf);
	return rc;
}

/* The image's figures, for both directions' JSON. */
static void image_json(json_object *o, const struct carry *c)
{
	json_object_object_add(o, "session", json_object_new_string(BATON_KEXEC_SESSION));
	json_object_object_add(o, "image_bytes", json_object_new_int64((int64_t)c->len));
	json_object_object_add(o, "devices", json_object_new_int64((int64_t)c->img->n_devices));
	json_object_object_add(o, "generation",
			       json_object_new_int64((int64_t)c->img->generation));
}

/*
 * The device.  BATON_LUO_DEVICE in the environment names another node:
 * the tests give /dev/null, which opens and refuses every LUO call, to see
 * a failure after the handover on a machine without LUO.
 */
static const char *luo_path(void)
{
	const char *p = getenv("BATON_LUO_DEVICE");

	return p && *p ? p : BATON_LUO_DEVICE;
}

/* "baton: /dev/liveupdate: <why> (<call>)" and EXIT_INVALID. */
static int luo_fail(enum baton_luo_op op, int err, const char *call)
{
	return cli_failf(luo_path(), "%s (%s)", baton_luo_why(op, err), call);
}

/*
 * The one opener of the device.  Busy means another process holds it (an
 * init that uses LUO, another agent): named when /proc shows which.
 * @then, if any, says what became of the programs.
 */
static int open_device(struct baton_luo **luo, const char *then)
{
	char comm[64], holder[128] = "";
	pid_t pid;
	int err = baton_luo_open(luo_path(), luo);

	if (!err)
		return 0;
	if (err == -EBUSY && !baton_luo_holder(NULL, luo_path(), &pid, comm, sizeof(comm)))
		snprintf(holder, sizeof(holder), ": held by pid %d (%s)", (int)pid, comm);
	return cli_failf(luo_path(), "%s (open)%s%s%s", baton_luo_why(BATON_LUO_OPEN, err),
			 holder, then ? "; " : "", then ? then : "");
}

/* A dry run's word on the files: open and readable is what it can say. */
static int files_readable(const struct kexec_args *a)
{
	for (int i = 0; i < 2; i++) {
		const char *f = i ? a->initrd : a->kernel;

		if (f && access(f, R_OK))
			return cli_failf(f, "%s", strerror(errno));
	}
	return 0;
}

/* The image read and validated: a corrupt one is refused before anything. */
static int image_load(const char *path, struct carry *c)
{
	struct baton_diag diag = { 0 };
	int rc = cli_read_file(path, &c->buf, &c->len);

	if (rc)
		return rc;
	if (baton_image_parse(c->buf, c->len, &c->img, &diag) < 0)
		return cli_fail(path, &diag);
	return 0;
}

/* All of @buf to @fd: 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t put = write(fd, p, len);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return put < 0 ? -errno : -EIO;
		p += put;
		len -= (size_t)put;
	}
	return 0;
}

/* The image in a memfd sealed whole: nothing can change what travels. */
static int image_memfd(const void *buf, size_t len)
{
	int fd, err;

	fd = memfd_create("baton-kernel-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	err = write_all(fd, buf, len);
	if (err)
		goto err_close;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
		  F_SEAL_SEAL)) {
		err = -errno;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return err;
}

/* The image, sealed, in its session, on the device @c holds. */
static int image_preserve(const char *path, struct carry *c)
{
	int err = baton_luo_session_create(c->luo, BATON_KEXEC_SESSION, &c->session);

	if (err)
		return luo_fail(BATON_LUO_CREATE_SESSION, err,
				"create session " BATON_KEXEC_SESSION);
	c->fd = image_memfd(c->buf, c->len);
	if (c->fd < 0)
		return cli_failf(path, "cannot put it in a memfd: %s", strerror(-c->fd));
	err = baton_luo_preserve_fd(c->session, c->fd, BATON_KEXEC_TOKEN_IMAGE);
	if (err)
		return luo_fail(BATON_LUO_PRESERVE_FD, err, "preserve the image");
	return 0;
}

/* This boot's command line, for a next kernel given no --append. */
static int this_cmdline(char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

/* kexec_file_load(): 0 or -errno, and @what names the file at fault. */
static int load_kernel(const char *kernel, const char *initrd,
		       const char *cmdline, const char **what)
{
	unsigned long flags = initrd ? 0 : KEXEC_FILE_NO_INITRAMFS;
	int kfd, ifd = -1, err = 0;

	*what = kernel;
	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0)
		return -errno;
	if (initrd) {
		*what = initrd;
		ifd = open(initrd, O_RDONLY | O_CLOEXEC);
		if (ifd < 0) {
			err = -errno;
			goto out;
		}
	}
	*what = kernel;
	/* The length counts the terminating NUL. */
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
		    flags))
		err = -errno;
out:
	if (ifd >= 0)
		close(ifd);
	close(kfd);
	return err;
}

/* The next kernel's command line: --append, or this boot's. */
static int next_cmdline(const struct kexec_args *a, char *cmdline, size_t size)
{
	int err;

	if (a->append) {
		if (strlen(a->append) >= size)
			return cli_usage(usage, "--append is longer than %zu bytes", size - 1);
		strcpy(cmdline, a->append);
	} else if ((err = this_cmdline(cmdline, size))) {
		return cli_failf("/proc/cmdline", "%s", strerror(-err));
	}
	return 0;
}

static void unload_kernel(void)
{
	syscall(SYS_kexec_file_load, -1, -1, 0UL, "", (unsigned long)KEXEC_FILE_UNLOAD);
}

/* The next kernel, in @o, which is printed, flushed (a reboot follows) and
 * released. */
static void print_next_kernel(json_object *o, const struct kexec_args *a,
			      const char *cmdline)
{
	json_object_object_add(o, "kernel", json_object_new_string(a->kernel));
	json_object_object_add(o, "initrd",
			       a->initrd ? json_object_new_string(a->initrd) : NULL);
	json_object_object_add(o, "cmdline", json_object_new_string(cmdline));
	cli_json_print(o);
	fflush(stdout);
}

static void next_kernel_text(const struct kexec_args *a, const char *cmdline)
{
	printf("next kernel %s%s%s, command line \"%s\"\n", a->kernel,
	       a->initrd ? ", initrd " : "", a->initrd ? a->initrd : "", cmdline);
	fflush(stdout);
}

static void image_text(const struct kexec_args *a, const struct carry *c)
{
	const struct baton_image *img = c->img;

	printf("%s: %s the kernel path's image (%zu bytes, %zu device%s, "
	       "generation %llu) in LUO session \"%s\", token %d\n",
	       a->image, a->dry_run ? "would carry" : "carrying", c->len,
	       img->n_devices, img->n_devices == 1 ? "" : "s",
	       (unsigned long long)img->generation, BATON_KEXEC_SESSION,
	       BATON_KEXEC_TOKEN_IMAGE);
}

/* The kernel path's image in @o: where it travels, and what it holds. */
static void image_carried_json(json_object *o, const struct kexec_args *a,
			       const struct carry *c)
{
	image_json(o, c);
	json_object_object_add(o, "token", json_object_new_int(BATON_KEXEC_TOKEN_IMAGE));
	json_object_object_add(o, "image", json_object_new_string(a->image));
}

static void report(const struct kexec_args *a, const struct carry *c,
		   const char *cmdline, bool json)
{
	json_object *o;

	if (!json) {
		image_text(a, c);
		next_kernel_text(a, cmdline);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "dry_run", json_object_new_boolean(a->dry_run));
	image_carried_json(o, a, c);
	print_next_kernel(o, a, cmdline);
}

/* Into the loaded kernel; returns only if reboot() did, saying so. */
static int reboot_into(const struct kexec_args *a, const char *unwound)
{
	int err;

	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	err = -errno;
	unload_kernel();
	return cli_failf(a->kernel, "reboot(LINUX_REBOOT_CMD_KEXEC): %s%s",
			 strerror(-err), unwound);
}

static int run_kexec(const struct kexec_args *a, bool json)
{
	struct carry c = { .fd = -1 };
	char cmdline[4096];
	const char *what;
	int err, rc;

	/* 1. A corrupt image is refused before anything is touched. */
	rc = next_cmdline(a, cmdline, sizeof(cmdline)) ?: image_load(a->image, &c) ?:
	/* 2. The one opener of /dev/liveupdate. */
	     open_device(&c.luo, NULL);
	if (rc)
		return carry_release(&c, rc);
	if (a->dry_run) {
		rc = files_readable(a);
		if (!rc)
			report(a, &c, cmdline, json);
		return carry_release(&c, rc);
	}

	/* 3. The image, sealed, in its session. */
	rc = image_preserve(a->image, &c);
	if (rc)
		return carry_release(&c, rc);

	/* 4. The next kernel. */
	err = load_kernel(a->kernel, a->initrd, cmdline, &what);
	if (err)
		return carry_release(&c, cli_failf(what, "kexec_file_load: %s",
						   strerror(-err)));

	/* 5. Into it, holding the session. */
	report(a, &c, cmdline, json);
	return carry_release(&c, reboot_into(a, "; nothing carried, this kernel goes on"));
}

/* The whole of a preserved memfd, read from its start. */
static int read_memfd(int fd, void **out, size_t *len)
{
	struct stat st;
	size_t done = 0;
	char *buf;

	if (fstat(fd, &st) || st.st_size <= 0)
		return st.st_size == 0 ? -ENODATA : -errno;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t got = pread(fd, buf + done, (size_t)st.st_size - done,
				    (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(buf);
			return got < 0 ? -errno : -EIO;
		}
		done += (size_t)got;
	}
	*out = buf;
	*len = done;
	return 0;
}

/*
 * A retrieved session is the kernel's to finish once its fd closes, and is
 * retrieved once a boot: so the output is opened before the session is
 * touched, and a failure after that removes it (nothing half written).
 */
static int restore_fail(struct carry *c, int out, const char *output, int rc)
{
	if (out >= 0)
		close(out);
	unlink(output);
	return carry_release(c, rc);
}

static int run_restore(const struct kexec_args *a, bool json)
{
	struct carry c = { .fd = -1 };
	struct baton_diag diag = { 0 };
	int err, out;

	out = open(a->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return cli_failf(a->output, "%s", strerror(errno));
	err = open_device(&c.luo, NULL);
	if (err)
		return restore_fail(&c, out, a->output, err);
	err = baton_luo_session_retrieve(c.luo, BATON_KEXEC_SESSION, &c.session);
	if (err)
		return restore_fail(&c, out, a->output,
				    luo_fail(BATON_LUO_RETRIEVE_SESSION, err,
					     "retrieve session " BATON_KEXEC_SESSION));
	c.fd = baton_luo_retrieve_fd(c.session, BATON_KEXEC_TOKEN_IMAGE);
	if (c.fd < 0)
		return restore_fail(&c, out, a->output,
				    luo_fail(BATON_LUO_RETRIEVE_FD, c.fd,
					     "retrieve the image"));
	err = read_memfd(c.fd, &c.buf, &c.len);
	if (err)
		return restore_fail(&c, out, a->output,
				    cli_failf(BATON_KEXEC_SESSION, "reading the image: %s",
					      strerror(-err)));
	/* What came across is input like any other: validated whole. */
	if (baton_image_parse(c.buf, c.len, &c.img, &diag) < 0)
		return restore_fail(&c, out, a->output,
				    cli_fail(BATON_KEXEC_SESSION, &diag));
	err = write_all(out, c.buf, c.len);
	if (close(out) && !err)
		err = -errno;
	if (err)
		return restore_fail(&c, -1, a->output,
				    cli_failf(a->output, "write: %s", strerror(-err)));
	/* The image is out: the kernel may let its pages go. */
	err = baton_luo_finish(c.session);
	if (err)
		return carry_release(&c, luo_fail(BATON_LUO_FINISH, err,
						  "finish " BATON_KEXEC_SESSION));
	if (json) {
		json_object *o = json_object_new_object();

		image_json(o, &c);
		json_object_object_add(o, "output", json_object_new_string(a->output));
		cli_json_print(o);
	} else {
		printf("%s: the kernel path's image from LUO session \"%s\" (%zu bytes, "
		       "%zu device%s, generation %llu)\n", a->output, BATON_KEXEC_SESSION,
		       c.len, c.img->n_devices, c.img->n_devices == 1 ? "" : "s",
		       (unsigned long long)c.img->generation);
	}
	return carry_release(&c, EXIT_OK);
}

/* ---- Programs (docs/luo.md, "Programs across a kexec") ---- */

/*
 * What preserving a region costs (docs/luo.md, "Holes"): mm/memfd_luo.c
 * allocates, zeroes and pins a page for every hole of [0, size) at
 * PRESERVE_FD, so a kexec pays a region's size, not its use.  @allocated
 * is st_blocks * 512 (what the memfd holds already, pages fallocated
 * beyond its size excepted), @holes what the kernel will allocate.
 */
struct usage {
	uint64_t size, allocated, holes;
};

/*
 * A memfd the kernel could carry at all: at most UINT_MAX pages
 * (memfd_luo.c).  With at most REGIONS_MAX regions a program (as many as
 * the restore takes) and PROGRAMS_MAX programs, no sum of them overflows.
 */
#define REGION_MAX ((uint64_t)UINT_MAX * 4096)

static int usage_of(uint64_t size, uint64_t allocated, struct usage *u)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t span = (size + page - 1) / page * page;

	if (size > REGION_MAX)
		return -EFBIG;
	u->size = size;
	u->allocated = allocated < span ? allocated : span;
	u->holes = span - u->allocated;
	return 0;
}

/*
 * At the preflight the agent has no memfd: the program's claim, a byte
 * count each, bounded by the size it declares.
 */
static int usage_claimed(json_object *keep, struct usage *u)
{
	json_object *size = cli_json_member(keep, "size");
	json_object *allocated = cli_json_member(keep, "allocated");

	if (!json_object_is_type(size, json_type_int) ||
	    !json_object_is_type(allocated, json_type_int) ||
	    json_object_get_int64(size) < 0 || json_object_get_int64(allocated) < 0)
		return -EBADMSG;
	return usage_of((uint64_t)json_object_get_int64(size),
			(uint64_t)json_object_get_int64(allocated), u);
}

/* Once handed over, the memfd itself: the claim is replaced. */
static int usage_measured(int fd, struct usage *u)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	return usage_of((uint64_t)st.st_size, (uint64_t)st.st_blocks * 512, u);
}

/*
 * One program the kexec carries: its control connection, held until the
 * reboot (closing it, or writing to it, resumes the program); what it
 * handed over; its session.
 */
struct program {
	const char *socket;
	int conn;
	json_object *answer;		/* its preflight, then its handover line */
	char *line;			/* the handover line, kept in the session */
	int image_fd;
	int *fds;			/* its regions' memfds, in order */
	size_t n_fds;
	struct usage *usage;		/* each region's: claimed, then measured */
	size_t n_usage;
	uint64_t deadline_ns;
	char session_name[64];
	struct baton_luo_session *session;
	int command_fd;
};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* "baton:<exec's name>:<pid>", at most 63 bytes: the LUO session's name. */
static void session_name(struct program *p)
{
	const char *exe = cli_json_str(p->answer, "exec");
	const char *base = exe && strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	json_object *pid = cli_json_member(p->answer, "pid");

	snprintf(p->session_name, sizeof(p->session_name), "baton:%.40s:%d",
		 base ? base : "program", pid ? json_object_get_int(pid) : 0);
}

/*
 * Any failure before the reboot: the sessions close first (the kernel lets
 * the memfds go), then each program is told to go on, last first, and says
 * it did.
 */
static void resume_all(struct program *progs, size_t n, unsigned timeout_ms)
{
	for (size_t i = 0; i < n; i++) {
		baton_luo_session_close(progs[i].session);
		progs[i].session = NULL;
	}
	for (size_t i = n; i-- > 0;) {
		struct program *p = &progs[i];
		json_object *o = NULL;
		char *line = NULL;

		if (p->conn < 0)
			continue;
		(void)!send(p->conn, "resume\n", 7, MSG_NOSIGNAL);
		if (!baton_kexec_read_line(p->conn, baton_now_ns() + timeout_ms * 1000000ull,
					   &line))
			o = cli_parse_untrusted(line);
		fprintf(stderr, "baton: %s: %s\n", p->socket,
			o && !strcmp(cli_json_str(o, "outcome") ?: "", "resumed") ?
			"resumed" : "did not say it resumed");
		json_object_put(o);
		free(line);
		close(p->conn);
		p->conn = -1;
	}
}

static void programs_free(struct program *progs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct program *p = &progs[i];

		baton_luo_session_close(p->session);
		if (p->conn >= 0)
			close(p->conn);
		for (size_t k = 0; k < p->n_fds; k++)
			close(p->fds[k]);
		free(p->fds);
		if (p->image_fd >= 0)
			close(p->image_fd);
		if (p->command_fd >= 0)
			close(p->command_fd);
		free(p->line);
		free(p->usage);
		json_object_put(p->answer);
	}
}

/* What the preflight says of each region's memory, checked. */
static int claim_usage(struct program *p)
{
	json_object *keeps = cli_json_member(p->answer, "keeps");
	size_t n = json_object_is_type(keeps, json_type_array) ?
		   json_object_array_length(keeps) : 0;
	int err = 0;

	if (!json_object_is_type(keeps, json_type_array))
		return -EBADMSG;
	if (n > REGIONS_MAX)
		return -E2BIG;
	p->usage = calloc(n + 1, sizeof(*p->usage));
	if (!p->usage)
		return -ENOMEM;
	p->n_usage = n;
	for (size_t i = 0; !err && i < n; i++)
		err = usage_claimed(json_object_array_get_idx(keeps, i), &p->usage[i]);
	return err;
}

/* The handover: the line, then the image and the regions' memfds. */
static int hand_over(struct program *p, unsigned timeout_ms, char *why, size_t len)
{
	json_object *deadline_ms;
	char request[96];
	int err;

	p->conn = connect_to(p->socket);
	if (p->conn < 0) {
		snprintf(why, len, "cannot connect: %s", strerror(-p->conn));
		return p->conn;
	}
	snprintf(request, sizeof(request),
		 "{\"cmd\":\"kexec\",\"phase\":\"handover\",\"timeout_ms\":%u}\n", timeout_ms);
	if (send(p->conn, request, strlen(request), MSG_NOSIGNAL) < 0) {
		snprintf(why, len, "cannot send: %s", strerror(errno));
		return -errno;
	}
	err = baton_kexec_read_line(p->conn, baton_now_ns() + timeout_ms * 1000000ull,
				    &p->line);
	if (err) {
		snprintf(why, len, "no answer: %s", baton_strerror(err));
		return err;
	}
	json_object_put(p->answer);
	p->answer = cli_parse_untrusted(p->line);
	if (!p->answer || strcmp(cli_json_str(p->answer, "outcome") ?: "", "handing-over")) {
		snprintf(why, len, "%s", p->answer && cli_json_str(p->answer, "error") ?
			 cli_json_str(p->answer, "error") : "the program did not hand over");
		return -BATON_ERR_REFUSED;
	}
	/*
	 * How long it stays frozen, waiting: at most what it was asked to.  A
	 * longer wait the agent believed would let it reboot after the
	 * program resumed on its own.
	 */
	deadline_ms = cli_json_member(p->answer, "deadline_ms");
	if (!json_object_is_type(deadline_ms, json_type_int) ||
	    json_object_get_int64(deadline_ms) < 0 ||
	    json_object_get_int64(deadline_ms) > timeout_ms) {
		snprintf(why, len, "its deadline_ms is not a count of 0 to %u ms", timeout_ms);
		return -EBADMSG;
	}
	p->deadline_ns = baton_now_ns() +
			 (uint64_t)json_object_get_int64(deadline_ms) * 1000000ull;
	err = baton_transfer_recv(p->conn, &p->image_fd, &p->fds, &p->n_fds);
	if (!err && p->n_fds != json_object_array_length(cli_json_member(p->answer, "keeps")))
		err = -EBADMSG;
	if (err) {
		snprintf(why, len, "receiving its image and regions: %s", baton_strerror(err));
		return err;
	}
	/*
	 * The handover's regions, which need not be the preflight's, counted
	 * from the memfds themselves: what the program claims no longer matters.
	 */
	free(p->usage);
	p->n_usage = 0;
	p->usage = NULL;
	if (p->n_fds > REGIONS_MAX)
		err = -E2BIG;
	else if (!(p->usage = calloc(p->n_fds + 1, sizeof(*p->usage))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < p->n_fds; i++)
		err = usage_measured(p->fds[i], &p->usage[i]);
	if (err) {
		snprintf(why, len, "measuring its regions: %s", baton_strerror(err));
		return err;
	}
	p->n_usage = p->n_fds;
	return 0;
}

/* A small record in a memfd sealed whole (the manifest, a command line). */
static int text_memfd(const char *text)
{
	return image_memfd(text, strlen(text));
}

/* A program's image, command line and regions in its session. */
static int preserve_program(struct baton_luo *luo, struct program *p,
			    const char **call)
{
	int err;

	*call = "create session";
	err = baton_luo_session_create(luo, p->session_name, &p->session);
	if (err)
		return err;
	*call = "preserve the image";
	err = baton_luo_preserve_fd(p->session, p->image_fd, BATON_KEXEC_TOKEN_IMAGE);
	if (err)
		return err;
	*call = "preserve the command line";
	p->command_fd = text_memfd(p->line);
	if (p->command_fd < 0)
		return p->command_fd;
	err = baton_luo_preserve_fd(p->session, p->command_fd, BATON_KEXEC_TOKEN_COMMAND);
	*call = "preserve a region";
	for (size_t i = 0; !err && i < p->n_fds; i++)
		err = baton_luo_preserve_fd(p->session, p->fds[i],
					    BATON_KEXEC_TOKEN_REGION0 + i);
	return err;
}

static json_object *usage_json(const struct usage *u)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "size", json_object_new_uint64(u->size));
	json_object_object_add(o, "allocated", json_object_new_uint64(u->allocated));
	json_object_object_add(o, "holes", json_object_new_uint64(u->holes));
	return o;
}

/* @p's regions summed into @sum, and into @total when given. */
static void usage_sum(const struct program *p, struct usage *sum, struct usage *total)
{
	*sum = (struct usage){ 0 };
	for (size_t i = 0; i < p->n_usage; i++) {
		sum->size += p->usage[i].size;
		sum->allocated += p->usage[i].allocated;
		sum->holes += p->usage[i].holes;
	}
	if (total) {
		total->size += sum->size;
		total->allocated += sum->allocated;
		total->holes += sum->holes;
	}
}

/*
 * Its regions' memory: each, and the sum; "counted_by" the program (a
 * claim, at the preflight) or the agent (fstat of the memfds it holds).
 */
static json_object *memory_json(const struct program *p, bool measured,
				struct usage *total)
{
	json_object *keeps = cli_json_member(p->answer, "keeps");
	json_object *o, *arr = json_object_new_array();
	struct usage sum;

	for (size_t i = 0; i < p->n_usage; i++) {
		json_object *r = usage_json(&p->usage[i]);

		json_object_object_add(r, "label", json_object_get(cli_json_member(
			json_object_array_get_idx(keeps, i), "label")));
		json_object_array_add(arr, r);
	}
	usage_sum(p, &sum, total);
	o = usage_json(&sum);
	json_object_object_add(o, "counted_by",
			       json_object_new_string(measured ? "agent" : "program"));
	json_object_object_add(o, "regions", arr);
	return o;
}

static json_object *program_json(const struct program *p, bool measured,
				 struct usage *total)
{
	json_object *o = json_object_new_object();
	static const char *const keys[] = {
		"program", "pid", "generation", "exec", "argv", "keeps", "drops", "decisions",
	};

	json_object_object_add(o, "socket", json_object_new_string(p->socket));
	json_object_object_add(o, "session", json_object_new_string(p->session_name));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_object_add(o, keys[i],
				       json_object_get(cli_json_member(p->answer, keys[i])));
	json_object_object_add(o, "memory", memory_json(p, measured, total));
	return o;
}

/* How long each step before the reboot took, in ms (docs/luo.md). */
struct phases {
	double preflight, open, handover, preserve, load;
};

static json_object *phases_json(const struct phases *ph)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "preflight", json_object_new_double(ph->preflight));
	json_object_object_add(o, "open", json_object_new_double(ph->open));
	json_object_object_add(o, "handover", json_object_new_double(ph->handover));
	json_object_object_add(o, "preserve", json_object_new_double(ph->preserve));
	json_object_object_add(o, "load", json_object_new_double(ph->load));
	return o;
}

/* What the kexec carries: the programs, and the image when there is one. */
static void programs_report(const struct kexec_args *a, const struct program *progs,
			    size_t n, const struct carry *c, const char *cmdline,
			    const struct phases *ph, bool json)
{
	struct usage sum, total = { 0 };
	json_object *o, *arr;

	if (!json) {
		for (size_t i = 0; i < n; i++) {
			const struct program *p = &progs[i];
			const char *name = cli_json_str(p->answer, "program") ?: "?";

			usage_sum(p, &sum, &total);
			printf("%s: %s %s (pid %d) in LUO session \"%s\": %zu region%s "
			       "(%" PRIu64 " bytes, %" PRIu64 " allocated) kept, %zu fd%s "
			       "dropped\n", p->socket,
			       a->dry_run ? "would carry" : "carrying", name,
			       json_object_get_int(cli_json_member(p->answer, "pid")),
			       p->session_name, p->n_usage, p->n_usage == 1 ? "" : "s",
			       sum.size, sum.allocated,
			       json_object_array_length(cli_json_member(p->answer, "drops")),
			       json_object_array_length(cli_json_member(p->answer, "drops")) == 1 ?
			       "" : "s");
			if (sum.holes)
				printf("preserving fills %.1f MiB of holes in %s's regions "
				       "(%" PRIu64 " bytes, %s): memory and time the kexec "
				       "pays\n", (double)sum.holes / (1 << 20), name, sum.holes,
				       a->dry_run ? "as the program says" : "measured");
		}
		if (n > 1)
			printf("in all: %" PRIu64 " bytes of regions, %" PRIu64 " allocated, "
			       "%" PRIu64 " of holes to fill\n", total.size, total.allocated,
			       total.holes);
		if (c->img)
			image_text(a, c);
		if (!a->dry_run)
			printf("before the reboot: preflight %.1f ms, open %.1f ms, handover "
			       "%.1f ms, preserve %.1f ms, kernel load %.1f ms\n", ph->preflight,
			       ph->open, ph->handover, ph->preserve, ph->load);
		next_kernel_text(a, cmdline);
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(o, "dry_run", json_object_new_boolean(a->dry_run));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, program_json(&progs[i], !a->dry_run, &total));
	json_object_object_add(o, "programs", arr);
	json_object_object_add(o, "memory", usage_json(&total));
	if (c->img) {
		json_object *img = json_object_new_object();

		image_carried_json(img, a, c);
		json_object_object_add(o, "kernel_image", img);
	}
	if (!a->dry_run)
		json_object_object_add(o, "phases_ms", phases_json(ph));
	print_next_kernel(o, a, cmdline);
}

/* The manifest: which sessions are programs', for --restore to find. */
static char *manifest_text(const struct program *progs, size_t n)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char *text;

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(progs[i].session_name));
	json_object_object_add(o, "sessions", arr);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* Milliseconds from *@t to now; *@t moves to now. */
static double lap(uint64_t *t)
{
	uint64_t now = baton_now_ns(), then = *t;

	*t = now;
	return (double)(now - then) / 1e6;
}

/*
 * Programs, and with --image the kernel path's image too: one kexec, every
 * session held into it.  The device is opened before anything is frozen,
 * so that a busy one (an init that uses LUO) costs the programs nothing.
 */
static int run_kexec_programs(const struct kexec_args *a, bool json)
{
	struct program progs[PROGRAMS_MAX];
	struct carry c = { .fd = -1 };
	struct baton_luo_session *manifest = NULL;
	struct phases ph = { 0 };
	char cmdline[4096], why[512];
	size_t n = a->n_sockets, handed = 0;
	const char *what, *call;
	uint64_t first_deadline = UINT64_MAX, t = baton_now_ns();
	char *text;
	int err, rc, manifest_fd = -1;

	for (size_t i = 0; i < n; i++)
		progs[i] = (struct program){ .socket = a->sockets[i], .conn = -1,
					     .image_fd = -1, .command_fd = -1 };
	/* 1. A corrupt image is refused before anything is touched. */
	rc = next_cmdline(a, cmdline, sizeof(cmdline)) ?:
	     (a->image ? image_load(a->image, &c) : 0);
	if (rc)
		goto out;

	/* 2. Every program's preflight, before anything is frozen. */
	for (size_t i = 0; i < n; i++) {
		struct program *p = &progs[i];

		rc = cli_ask(p->socket, "{\"cmd\":\"kexec\",\"phase\":\"preflight\"}",
			     (int)a->timeout_ms, &p->answer);
		if (rc)
			goto out;
		rc = EXIT_INVALID;
		if (cli_json_str(p->answer, "error")) {
			cli_failf(p->socket, "%s; nothing frozen", cli_json_str(p->answer, "error"));
			goto out;
		}
		err = claim_usage(p);
		if (err) {
			cli_failf(p->socket, "the preflight's regions: %s (each needs a size "
				  "and allocated bytes, at most %" PRIu64 ", and %d regions at "
				  "most); nothing frozen", baton_strerror(err), REGION_MAX,
				  REGIONS_MAX);
			goto out;
		}
		session_name(p);
	}
	ph.preflight = lap(&t);

	/* 3. The one opener of /dev/liveupdate, while nothing is frozen. */
	rc = (a->dry_run ? files_readable(a) : 0) ?:
	     open_device(&c.luo, "nothing frozen, every program runs on");
	if (rc)
		goto out;
	ph.open = lap(&t);
	if (a->dry_run) {
		programs_report(a, progs, n, &c, cmdline, &ph, json);
		goto out;
	}
	rc = EXIT_INVALID;

	/* 4. Each hands over and waits, frozen. */
	for (; handed < n; handed++) {
		struct program *p = &progs[handed];

		err = hand_over(p, a->timeout_ms, why, sizeof(why));
		/* One that refused is not frozen; any other may be: told to go on. */
		if (p->conn >= 0 && err && err != -BATON_ERR_REFUSED)
			handed++;
		if (err) {
			cli_failf(p->socket, "%s; every program resumes", why);
			goto resume;
		}
		if (p->deadline_ns < first_deadline)
			first_deadline = p->deadline_ns;
	}
	ph.handover = lap(&t);

	/* 5. The sessions: the image's, each program's, the manifest. */
	if (a->image && image_preserve(a->image, &c))
		goto resume;
	for (size_t i = 0; i < n; i++) {
		err = preserve_program(c.luo, &progs[i], &call);
		if (err) {
			cli_failf(progs[i].session_name, "%s: %s", call,
				  baton_luo_why(BATON_LUO_PRESERVE_FD, err));
			goto resume;
		}
	}
	text = manifest_text(progs, n);
	manifest_fd = text ? text_memfd(text) : -ENOMEM;
	free(text);
	err = manifest_fd < 0 ? manifest_fd :
	      baton_luo_session_create(c.luo, BATON_KEXEC_PROGRAMS, &manifest) ?:
	      baton_luo_preserve_fd(manifest, manifest_fd, BATON_KEXEC_TOKEN_MANIFEST);
	if (err) {
		cli_failf(BATON_KEXEC_PROGRAMS, "the manifest: %s", baton_strerror(err));
		goto resume;
	}
	ph.preserve = lap(&t);

	/* 6. The next kernel, within every program's deadline. */
	err = load_kernel(a->kernel, a->initrd, cmdline, &what);
	if (err) {
		cli_failf(what, "kexec_file_load: %s", strerror(-err));
		goto resume;
	}
	ph.load = lap(&t);
	if (baton_now_ns() >= first_deadline) {
		unload_kernel();
		cli_failf(a->kernel, "a program's deadline passed before the reboot");
		goto resume;
	}

	/* 7. Into it, holding the sessions and the connections. */
	programs_report(a, progs, n, &c, cmdline, &ph, json);
	reboot_into(a, "");

resume:
	/* Every session closed first: the kernel lets what they held go. */
	baton_luo_session_close(manifest);
	manifest = NULL;
	baton_luo_session_close(c.session);
	c.session = NULL;
	resume_all(progs, handed, a->timeout_ms);
	rc = EXIT_INVALID;
out:
	baton_luo_session_close(manifest);
	if (manifest_fd >= 0)
		close(manifest_fd);
	programs_free(progs, n);
	return carry_release(&c, rc);
}

/* ---- After the kexec: each program from its session ---- */

/* A memfd of the session, read whole, NUL-terminated. */
static int read_record(struct baton_luo_session *s, uint64_t token, char **out)
{
	void *buf;
	size_t len;
	char *text;
	int fd = baton_luo_retrieve_fd(s, token), err;

	if (fd < 0)
		return fd;
	err = read_memfd(fd, &buf, &len);
	close(fd);
	if (err)
		return err;
	text = realloc(buf, len + 1);
	if (!text) {
		free(buf);
		return -ENOMEM;
	}
	text[len] = '\0';
	*out = text;
	return 0;
}

/* The command line a program recorded: an absolute path and its argv. */
static char **command_argv(json_object *cmd, const char **exec)
{
	json_object *argv = cli_json_member(cmd, "argv");
	size_t n = json_object_is_type(argv, json_type_array) ?
		   json_object_array_length(argv) : 0;
	char **out;

	*exec = cli_json_str(cmd, "exec");
	if (!*exec || (*exec)[0] != '/' || !n || n > 4096)
		return NULL;
	out = calloc(n + 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++) {
		json_object *v = json_object_array_get_idx(argv, i);

		if (!json_object_is_type(v, json_type_string)) {
			free(out);
			return NULL;
		}
		out[i] = (char *)json_object_get_string(v);
	}
	return out;
}

/* ---- A restored program's output ---- */

/*
 * The stdout and stderr a program had before the kexec went with the
 * processes that held them, and the agent's own are not the program's
 * (run from early boot it may have the console alone, and its --json is
 * for its caller).  So each program it starts, restored or cold, writes
 * to a file of its own, DIR/<binary>-<pid>.log: made before it starts, as
 * DIR/.<binary>.XXXXXX (mode 0600, appended to), and named after the pid
 * once there is one.  A directory that cannot hold them stops the restore
 * before any session is touched, so that it can be run again elsewhere.
 */
static int log_dir_ready(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return cli_failf(dir, "cannot make the log directory: %s; no session touched",
				 strerror(errno));
	if (stat(dir, &st) || (!S_ISDIR(st.st_mode) && (errno = ENOTDIR)) ||
	    access(dir, W_OK | X_OK))
		return cli_failf(dir, "no logs can be written there: %s; no session touched",
				 strerror(errno));
	return 0;
}

/* A program's log, named for now DIR/.<binary>.XXXXXX in @path. */
static int log_open(const char *dir, const char *exec, char *path, size_t size)
{
	const char *base = strrchr(exec, '/') ? strrchr(exec, '/') + 1 : exec;
	char name[48];
	size_t i;
	int fd;

	/* The name came from the previous boot: its safe bytes only. */
	for (i = 0; base[i] && i < sizeof(name) - 1; i++)
		name[i] = isalnum((unsigned char)base[i]) || base[i] == '-' ||
			  base[i] == '_' ? base[i] : '_';
	name[i] = '\0';
	if ((size_t)snprintf(path, size, "%s/.%s.XXXXXX", dir, i ? name : "program") >= size)
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC | O_APPEND);
	return fd < 0 ? -errno : fd;
}

/* DIR/.<binary>.XXXXXX becomes DIR/<binary>-<pid>.log, in @path too. */
static void log_name(char *path, size_t size, pid_t pid)
{
	char named[PATH_MAX];
	const char *dot = strrchr(path, '/') + 1, *end = strrchr(dot, '.');

	snprintf(named, sizeof(named), "%.*s%.*s-%d.log", (int)(dot - path), path,
		 (int)(end - dot - 1), dot + 1, (int)pid);
	if (!rename(path, named))
		snprintf(path, size, "%s", named);
}

struct restored {
	const char *session;
	const char *program;
	const char *outcome;
	char why[512];
	char log[PATH_MAX];		/* "" when none could be made */
	pid_t pid;
	uint64_t generation;
	size_t regions;
	double retrieve_ms, restore_ms;
};

/*
 * One program: its session retrieved, its image validated, its regions
 * taken, and the program started on them; or, when anything is wrong with
 * what came, started cold, nothing handed to it.
 */
static int restore_program(struct baton_luo *luo, const char *name,
			   const struct kexec_args *a, struct restored *r,
			   json_object **cmd_out)
{
	unsigned timeout_ms = a->timeout_ms;
	struct baton_luo_session *s = NULL;
	struct baton_diag diag = { 0 };
	struct baton_image *img = NULL;
	json_object *cmd = NULL;
	const char *exec = NULL;
	char **argv = NULL, *text = NULL;
	int image_fd = -1, fds[REGIONS_MAX], log_fd, err;
	size_t n = 0;
	void *buf = NULL;
	size_t len;
	uint64_t t0 = baton_now_ns(), t1;

	r->session = name;
	err = baton_luo_session_retrieve(luo, name, &s);
	if (err) {
		snprintf(r->why, sizeof(r->why), "%s", baton_luo_why(BATON_LUO_RETRIEVE_SESSION, err));
		return -ENOENT;
	}
	err = read_record(s, BATON_KEXEC_TOKEN_COMMAND, &text);
	cmd = err ? NULL : json_tokener_parse(text);
	free(text);
	argv = cmd ? command_argv(cmd, &exec) : NULL;
	if (!argv) {
		snprintf(r->why, sizeof(r->why), "no command line to start it with%s%s",
			 err ? ": " : "", err ? baton_strerror(err) : "");
		json_object_put(cmd);
		baton_luo_session_close(s);
		return -EBADMSG;
	}
	*cmd_out = cmd;
	r->program = cli_json_str(cmd, "program");
	log_fd = log_open(a->log_dir, exec, r->log, sizeof(r->log));
	if (log_fd < 0) {
		fprintf(stderr, "baton: %s: no log for %s: %s; it writes where the agent "
			"does\n", a->log_dir, exec, strerror(-log_fd));
		r->log[0] = '\0';
	}
	/* What came across is input like any other: the image validated whole. */
	image_fd = baton_luo_retrieve_fd(s, BATON_KEXEC_TOKEN_IMAGE);
	err = image_fd < 0 ? image_fd : read_memfd(image_fd, &buf, &len);
	if (!err && baton_image_parse(buf, len, &img, &diag) < 0)
		err = -BATON_ERR_REFUSED;
	if (!err && img->n_regions > BATON_ARRAY_SIZE(fds))
		err = -E2BIG;
	for (; !err && n < (img ? img->n_regions : 0); n++) {
		fds[n] = baton_luo_retrieve_fd(s, BATON_KEXEC_TOKEN_REGION0 + n);
		if (fds[n] < 0)
			err = fds[n];
	}
	t1 = baton_now_ns();
	r->retrieve_ms = (double)(t1 - t0) / 1e6;
	if (err) {
		snprintf(r->why, sizeof(r->why), "%s%s%s",
			 diag.err ? diag.where : "", diag.err && diag.where[0] ? ": " : "",
			 diag.err ? diag.what : baton_strerror(err));
	} else {
		r->generation = img->generation;
		r->regions = n;
		err = baton_kexec_start(exec, argv, log_fd, image_fd, fds, n, timeout_ms,
					&r->pid, r->why, sizeof(r->why));
		r->restore_ms = (double)(baton_now_ns() - t1) / 1e6;
	}
	/* The program has its own copies now, or nothing was handed over. */
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!err) {
		r->outcome = "restored";
		err = baton_luo_finish(s);
		if (err)
			snprintf(r->why, sizeof(r->why), "%s",
				 baton_luo_why(BATON_LUO_FINISH, err));
	}
	if (image_fd >= 0)
		close(image_fd);
	baton_image_free(img);
	free(buf);
	/* Closing a retrieved session finishes it: what was not taken goes. */
	baton_luo_session_close(s);
	if (!r->outcome) {
		/* Refused: the program starts cold, nothing bound from what came. */
		r->outcome = "cold-started";
		r->generation = 0;
		char unused[8];

		baton_kexec_start(exec, argv, log_fd, -1, NULL, 0, timeout_ms, &r->pid,
				  unused, sizeof(unused));
	}
	if (log_fd >= 0) {
		if (r->pid > 0)
			log_name(r->log, sizeof(r->log), r->pid);
		close(log_fd);
	}
	free(argv);
	return 0;
}

static int run_restore_programs(const struct kexec_args *a, bool json)
{
	struct baton_luo *luo = NULL;
	struct baton_luo_session *manifest = NULL;
	json_object *list = NULL, *sessions, *out = json_object_new_array();
	json_object *cmds[PROGRAMS_MAX] = { 0 };
	char *text = NULL;
	size_t n;
	int err, rc = EXIT_OK;

	rc = log_dir_ready(a->log_dir) ?: open_device(&luo, "no program started");
	if (rc)
		goto out;
	err = baton_luo_session_retrieve(luo, BATON_KEXEC_PROGRAMS, &manifest);
	if (err) {
		rc = luo_fail(BATON_LUO_RETRIEVE_SESSION, err,
			      "retrieve session " BATON_KEXEC_PROGRAMS);
		goto out;
	}
	err = read_record(manifest, BATON_KEXEC_TOKEN_MANIFEST, &text);
	list = err ? NULL : cli_parse_untrusted(text);
	sessions = cli_json_member(list, "sessions");
	if (!json_object_is_type(sessions, json_type_array) ||
	    json_object_array_length(sessions) > PROGRAMS_MAX) {
		rc = cli_failf(BATON_KEXEC_PROGRAMS, "the manifest is not a list of sessions%s%s",
			       err ? ": " : "", err ? baton_strerror(err) : "");
		goto out;
	}
	n = json_object_array_length(sessions);
	for (size_t i = 0; i < n; i++) {
		struct restored r = { 0 };
		json_object *o, *name = json_object_array_get_idx(sessions, i);

		if (!json_object_is_type(name, json_type_string))
			continue;
		restore_program(luo, json_object_get_string(name), a, &r, &cmds[i]);
		if (!r.outcome) {
			rc = cli_failf(r.session, "%s", r.why);
			continue;
		}
		if (strcmp(r.outcome, "restored"))
			rc = cli_failf(r.session, "refused: %s; %s started cold", r.why,
				       r.program ? r.program : "the program");
		o = json_object_new_object();
		json_object_object_add(o, "session", json_object_new_string(r.session));
		json_object_object_add(o, "program", r.program ?
				       json_object_new_string(r.program) : NULL);
		json_object_object_add(o, "outcome", json_object_new_string(r.outcome));
		if (r.why[0])
			json_object_object_add(o, "error", json_object_new_string(r.why));
		json_object_object_add(o, "pid", json_object_new_int(r.pid));
		json_object_object_add(o, "generation", json_object_new_uint64(r.generation));
		json_object_object_add(o, "regions", json_object_new_uint64(r.regions));
		json_object_object_add(o, "retrieve_ms", json_object_new_double(r.retrieve_ms));
		json_object_object_add(o, "restore_ms", json_object_new_double(r.restore_ms));
		json_object_object_add(o, "log", r.log[0] ? json_object_new_string(r.log) : NULL);
		if (!json)
			printf("%s: %s %s (pid %d), generation %" PRIu64 ", %zu region%s "
			       "(retrieved in %.1f ms, restored in %.1f ms), log %s\n", r.session,
			       r.outcome, r.program ? r.program : "?", (int)r.pid, r.generation,
			       r.regions, r.regions == 1 ? "" : "s", r.retrieve_ms, r.restore_ms,
			       r.log[0] ? r.log : "none");
		json_object_array_add(out, o);
	}
	baton_luo_finish(manifest);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "programs", out);
		out = NULL;
		cli_json_print(o);
	}
out:
	for (size_t i = 0; i < PROGRAMS_MAX; i++)
		json_object_put(cmds[i]);
	json_object_put(out);
	json_object_put(list);
	free(text);
	baton_luo_session_close(manifest);
	baton_luo_close(luo);
	return rc;
}

static int run(int argc, char **argv)
{
	struct kexec_args a = { 0 };
	bool json;
	int first;

	first = cli_parse(argc, argv, usage, &json, longopts, "o:", on_opt, &a);
	if (first < 0)
		return EXIT_INVALID;
	if (argc != first)
		return cli_usage(usage, "unexpected argument '%s'", argv[first]);
	if (a.too_many)
		return cli_usage(usage, "at most %d --socket", PROGRAMS_MAX);
	if (a.bad_timeout)
		return cli_usage(usage, "--timeout is 1 to 3600000 ms");
	if (!a.timeout_ms)
		a.timeout_ms = KEXEC_TIMEOUT_MS;
	if (a.restore) {
		if (a.kernel || a.initrd || a.append || a.image || a.n_sockets || a.dry_run)
			return cli_usage(usage, "--restore takes -o IMAGE, or --log-dir DIR "
					 "and --timeout");
		if (a.output && a.log_dir)
			return cli_usage(usage, "--log-dir is for programs, not with -o");
		if (!a.log_dir)
			a.log_dir = KEXEC_LOG_DIR;
		return a.output ? run_restore(&a, json) : run_restore_programs(&a, json);
	}
	if (!a.kernel || (!a.image && !a.n_sockets) || a.output || a.log_dir)
		return cli_usage(usage, "kexec takes --kernel FILE and --image IMAGE, "
				 "--socket PATH..., or both");
	return a.n_sockets ? run_kexec_programs(&a, json) : run_kexec(&a, json);
}

const struct cli_cmd cmd_kexec = {
	.name = "kexec",
	.run = run,
	.usage = usage,
};
