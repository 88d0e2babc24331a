// SPDX-License-Identifier: MIT
/*
 * baton kexec --kernel FILE [--initrd FILE] [--append CMDLINE]
 *             --image IMAGE [--dry-run] [--json]
 * baton kexec --restore -o IMAGE [--json]
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
 *  2. /dev/liveupdate is opened: this process is the one opener;
 *  3. the session BATON_KEXEC_SESSION is created, the image put in a
 *     sealed memfd and preserved under BATON_KEXEC_TOKEN_IMAGE;
 *  4. the next kernel is loaded with kexec_file_load();
 *  5. reboot(LINUX_REBOOT_CMD_KEXEC), holding the session: closing it
 *     would unpreserve the image.
 * --dry-run does 1 and 2 (and lets the device go), checks that the kernel
 * and initrd can be read, and reports what would be carried.
 *
 * Programs (their images and regions, asked over their control sockets)
 * are not carried yet: that needs the control protocol's request for a
 * kernel update (issue 13).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "luo/luo.h"

/* Where the kernel path's image travels: one session, one token. */
#define BATON_KEXEC_SESSION "baton-kernel"
#define BATON_KEXEC_TOKEN_IMAGE 1

static const char usage[] =
	"baton kexec --kernel FILE [--initrd FILE] [--append CMDLINE] --image IMAGE "
	"[--dry-run] [--json] | baton kexec --restore -o IMAGE [--json]";

struct kexec_args {
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *image;
	const char *output;
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
	case 'd': a->dry_run = true; break;
	case 'r': a->restore = true; break;
	}
}

static const struct option longopts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "append", required_argument, NULL, 'a' },
	{ "image", required_argument, NULL, 'I' },
	{ "output", required_argument, NULL, 'o' },
	{ "dry-run", no_argument, NULL, 'd' },
	{ "restore", no_argument, NULL, 'r' },
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

/* "baton: /dev/liveupdate: <why> (<call>)" and EXIT_INVALID. */
static int luo_fail(enum baton_luo_op op, int err, const char *call)
{
	return cli_failf(BATON_LUO_DEVICE, "%s (%s)", baton_luo_why(op, err), call);
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

static void unload_kernel(void)
{
	syscall(SYS_kexec_file_load, -1, -1, 0UL, "", (unsigned long)KEXEC_FILE_UNLOAD);
}

static void report(const struct kexec_args *a, const struct carry *c,
		   const char *cmdline, bool json)
{
	const struct baton_image *img = c->img;
	json_object *o;

	if (!json) {
		printf("%s: %s the kernel path's image (%zu bytes, %zu device%s, "
		       "generation %llu) in LUO session \"%s\", token %d; next kernel "
		       "%s%s%s, command line \"%s\"\n",
		       a->image, a->dry_run ? "would carry" : "carrying", c->len,
		       img->n_devices, img->n_devices == 1 ? "" : "s",
		       (unsigned long long)img->generation, BATON_KEXEC_SESSION,
		       BATON_KEXEC_TOKEN_IMAGE, a->kernel, a->initrd ? ", initrd " : "",
		       a->initrd ? a->initrd : "", cmdline);
		fflush(stdout);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "dry_run", json_object_new_boolean(a->dry_run));
	image_json(o, c);
	json_object_object_add(o, "token", json_object_new_int(BATON_KEXEC_TOKEN_IMAGE));
	json_object_object_add(o, "image", json_object_new_string(a->image));
	json_object_object_add(o, "kernel", json_object_new_string(a->kernel));
	json_object_object_add(o, "initrd",
			       a->initrd ? json_object_new_string(a->initrd) : NULL);
	json_object_object_add(o, "cmdline", json_object_new_string(cmdline));
	cli_json_print(o);
	fflush(stdout);
}

static int run_kexec(const struct kexec_args *a, bool json)
{
	struct carry c = { .fd = -1 };
	struct baton_diag diag = { 0 };
	char cmdline[4096];
	const char *what;
	int err, rc;

	if (a->append) {
		if (strlen(a->append) >= sizeof(cmdline))
			return cli_usage(usage, "--append is longer than %zu bytes",
					 sizeof(cmdline) - 1);
		strcpy(cmdline, a->append);
	} else if ((err = this_cmdline(cmdline, sizeof(cmdline)))) {
		return cli_failf("/proc/cmdline", "%s", strerror(-err));
	}

	/* 1. A corrupt image is refused before anything is touched. */
	rc = cli_read_file(a->image, &c.buf, &c.len);
	if (rc)
		return rc;
	if (baton_image_parse(c.buf, c.len, &c.img, &diag) < 0)
		return carry_release(&c, cli_fail(a->image, &diag));

	/* 2. The one opener of /dev/liveupdate. */
	err = baton_luo_open(NULL, &c.luo);
	if (err)
		return carry_release(&c, luo_fail(BATON_LUO_OPEN, err, "open"));
	if (a->dry_run) {
		/* Open and readable is what a dry run can say of the files. */
		for (int i = 0; i < 2; i++) {
			const char *f = i ? a->initrd : a->kernel;

			if (f && access(f, R_OK))
				return carry_release(&c, cli_failf(f, "%s", strerror(errno)));
		}
		report(a, &c, cmdline, json);
		return carry_release(&c, EXIT_OK);
	}

	/* 3. The image, sealed, in its session. */
	err = baton_luo_session_create(c.luo, BATON_KEXEC_SESSION, &c.session);
	if (err)
		return carry_release(&c, luo_fail(BATON_LUO_CREATE_SESSION, err,
						  "create session " BATON_KEXEC_SESSION));
	c.fd = image_memfd(c.buf, c.len);
	if (c.fd < 0)
		return carry_release(&c, cli_failf(a->image, "cannot put it in a memfd: %s",
						   strerror(-c.fd)));
	err = baton_luo_preserve_fd(c.session, c.fd, BATON_KEXEC_TOKEN_IMAGE);
	if (err)
		return carry_release(&c, luo_fail(BATON_LUO_PRESERVE_FD, err,
						  "preserve the image"));

	/* 4. The next kernel. */
	err = load_kernel(a->kernel, a->initrd, cmdline, &what);
	if (err)
		return carry_release(&c, cli_failf(what, "kexec_file_load: %s",
						   strerror(-err)));

	/* 5. Into it, holding the session. */
	report(a, &c, cmdline, json);
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	err = -errno;
	unload_kernel();
	return carry_release(&c, cli_failf(a->kernel, "reboot(LINUX_REBOOT_CMD_KEXEC): %s; "
					   "nothing carried, this kernel goes on",
					   strerror(-err)));
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
	err = baton_luo_open(NULL, &c.luo);
	if (err)
		return restore_fail(&c, out, a->output,
				    luo_fail(BATON_LUO_OPEN, err, "open"));
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
	if (a.restore) {
		if (!a.output || a.kernel || a.initrd || a.append || a.image || a.dry_run)
			return cli_usage(usage, "--restore takes -o IMAGE only");
		return run_restore(&a, json);
	}
	if (!a.kernel || !a.image || a.output)
		return cli_usage(usage, "kexec takes --kernel FILE and --image IMAGE");
	return run_kexec(&a, json);
}

const struct cli_cmd cmd_kexec = {
	.name = "kexec",
	.run = run,
	.usage = usage,
};
