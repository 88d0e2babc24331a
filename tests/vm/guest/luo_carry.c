// SPDX-License-Identifier: MIT
/*
 * luo_carry: memfds carried across a real kexec in a LUO session, through
 * Baton's LUO client (lib/luo), in the VM test's guest (tests/vm/run).
 *
 *   luo_carry save KERNEL INITRD FILE MIB...
 *	opens /dev/liveupdate, shows that a second opener gets EBUSY,
 *	creates the session "baton-vm", and for each size a memfd filled
 *	with a pattern of its own, its file position left at a known offset
 *	and (all but the first) sealed against shrinking and growing,
 *	preserved under token 0x1000 + i; shows that a pipe is refused
 *	(ENOENT: the kernel carries memfds only), preserves a memfd in
 *	a second session, CLOSED, that it closes again, and unless FILE is
 *	"-" FILE's bytes in a memfd in the session "baton-kernel" under
 *	token 1, where `baton kexec --restore` looks for the kernel path's
 *	image (the test gives it a corrupt one); prints one line
 *	BATON-LUO-SAVE {json}; then loads KERNEL and INITRD with
 *	kexec_file_load (this boot's command line + " baton_luo_stage=2") and
 *	reboots into them, the session still open.
 *   luo_carry restore MIB...
 *	in the next boot: opens /dev/liveupdate (a second opener: EBUSY),
 *	retrieves "baton-vm", each memfd by its token, checks size, position,
 *	seals and every byte against the pattern, shows that the session cannot be
 *	retrieved twice (EINVAL) and that the closed one and an unknown one
 *	are ENOENT, FINISHes
 *	it, and prints BATON-LUO-RESTORE {json}.
 *   luo_carry programs KERNEL INITRD CMDLINE-TAIL MANIFEST SESSION IMAGE COMMAND
 *	a program's session as `baton kexec --socket` leaves one, from
 *	files (so that the image may be a corrupt one): MANIFEST in
 *	"baton-programs" (token 1), IMAGE and COMMAND in SESSION (tokens 1
 *	and 2); then the kexec, CMDLINE-TAIL appended to the command line.
 *
 * Exit status 0 when every step did what it should; the JSON says which
 * did not.  Timings are CLOCK_MONOTONIC milliseconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "luo/luo.h"

#define SESSION "baton-vm"
/* Where `baton kexec` carries the kernel path's image (cmd_kexec.c). */
#define FILE_SESSION "baton-kernel"
/* A session closed before the kexec: the next boot must not find it. */
#define CLOSED "baton-vm-closed"
#define TOKEN(i) (0x1000u + (uint64_t)(i))
/* Where each memfd's file position is left: it must come back. */
#define POSITION(i) (4096 * ((off_t)(i) + 1) + 123)
/* The seals each memfd is given (the first: none): they must come back. */
#define SEALS(i) ((i) ? F_SEAL_SHRINK | F_SEAL_GROW : 0)
#define MAX_FDS 8

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The pattern: every 64-bit word a hash of its index and the memfd's. */
static uint64_t word(uint64_t i, unsigned int which)
{
	uint64_t z = i * 0x9e3779b97f4a7c15ull + which * 0xbf58476d1ce4e5b9ull + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* What a second opener of /dev/liveupdate is told, as an errno name. */
static const char *second_open(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return "fork-failed";
	if (pid == 0) {
		struct baton_luo *luo;
		int err = baton_luo_open(NULL, &luo);

		_exit(err == -EBUSY ? 0 : err == 0 ? 1 : 2);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return "child-failed";
	switch (WEXITSTATUS(status)) {
	case 0: return "EBUSY";
	case 1: return "opened";
	default: return "other-error";
	}
}

/* A /proc/meminfo field, in KiB, or -1. */
static long long meminfo_kib(const char *field)
{
	char line[128];
	size_t len = strlen(field);
	long long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = atoll(line + len + 1);
			break;
		}
	fclose(f);
	return v;
}

static int fill(int fd, size_t size, unsigned int which)
{
	uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	for (size_t i = 0; i < size / 8; i++)
		p[i] = word(i, which);
	munmap(p, size);
	return 0;
}

/* Index of the first word that differs, or -1 if all are as written. */
static long long first_difference(int fd, size_t size, unsigned int which)
{
	const uint64_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	long long bad = -1;

	if (p == MAP_FAILED)
		return -2;
	for (size_t i = 0; i < size / 8; i++) {
		if (p[i] != word(i, which)) {
			bad = (long long)i;
			break;
		}
	}
	munmap((void *)p, size);
	return bad;
}

/* Into KERNEL with this boot's command line and @stage2 appended. */
static int kexec(const char *kernel, const char *initrd, const char *stage2)
{
	char cmdline[4096];
	ssize_t n;
	int kfd, ifd, cfd;

	cfd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	n = read(cfd, cmdline, sizeof(cmdline) - strlen(stage2) - 1);
	close(cfd);
	if (n < 0)
		return -errno;
	while (n > 0 && (cmdline[n - 1] == '\n' || cmdline[n - 1] == ' '))
		n--;
	memcpy(cmdline + n, stage2, strlen(stage2) + 1);
	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (kfd < 0 || ifd < 0)
		return -ENOENT;
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
		    0UL) != 0)
		return -errno;
	printf("luo_carry: kexec loaded, cmdline \"%s\"; rebooting with session "
	       "\"%s\" open\n", cmdline, SESSION);
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	return -errno;
}

static const char *errname(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "0";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENOTTY: return "ENOTTY";
	case EBADF: return "EBADF";
	case EIO: return "EIO";
	default: return "other";
	}
}

static int fail(const char *what, enum baton_luo_op op, int err)
{
	fprintf(stderr, "luo_carry: %s: %s (%s)\n", what, baton_luo_why(op, err),
		errname(err));
	printf("BATON-LUO-ERROR {\"what\":\"%s\",\"errno\":\"%s\"}\n", what,
	       errname(err));
	return 1;
}

/* FILE's bytes in a memfd, preserved in session @s under @token. */
static int preserve_file(struct baton_luo_session *s, const char *path,
			 uint64_t token)
{
	char buf[65536];
	ssize_t got;
	int in, fd, err;

	in = open(path, O_RDONLY | O_CLOEXEC);
	fd = memfd_create("luo-carry-file", MFD_CLOEXEC);
	if (in < 0 || fd < 0)
		return -errno;
	while ((got = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)got) != got)
			return -EIO;
	close(in);
	/* The session holds the file now; our fd may go. */
	err = baton_luo_preserve_fd(s, fd, token);
	close(fd);
	return err;
}

/* FILE's bytes in a memfd, preserved in a session of their own. */
static int carry_file(struct baton_luo *luo, const char *path,
		      struct baton_luo_session **s)
{
	int err = baton_luo_session_create(luo, FILE_SESSION, s);

	return err ? err : preserve_file(*s, path, 1);
}

/*
 * A program's session as baton kexec --socket leaves one (a manifest in
 * baton-programs naming SESSION; its image, token 1, and the line it
 * handed over with, token 2, which names its binary and argv), from
 * files: so that the next boot's baton kexec --restore meets an image
 * that no program could have handed over - a corrupt one.
 */
static int programs(const char *kernel, const char *initrd, const char *stage,
		    const char *manifest, const char *name, const char *image,
		    const char *command)
{
	struct baton_luo_session *m, *s;
	struct baton_luo *luo;
	int err;

	err = baton_luo_open(NULL, &luo);
	if (err)
		return fail("open", BATON_LUO_OPEN, err);
	err = baton_luo_session_create(luo, "baton-programs", &m) ?:
	      baton_luo_session_create(luo, name, &s);
	if (err)
		return fail("create session", BATON_LUO_CREATE_SESSION, err);
	err = preserve_file(m, manifest, 1) ?: preserve_file(s, image, 1) ?:
	      preserve_file(s, command, 2);
	if (err)
		return fail("preserve a file", BATON_LUO_PRESERVE_FD, err);
	err = kexec(kernel, initrd, stage);
	return fail("kexec", BATON_LUO_OPEN, err);
}

static int save(const char *kernel, const char *initrd, const char *file,
		int n, char **mib)
{
	/* Held open into the kexec, as the other session is. */
	struct baton_luo_session *carried = NULL;
	struct baton_luo_session *s, *closed;
	struct baton_luo *luo;
	double t, t_preserve[MAX_FDS];
	int fds[MAX_FDS], pipefd[2], closed_fd, err, pipe_err;

	t = now_ms();
	err = baton_luo_open(NULL, &luo);
	if (err)
		return fail("open", BATON_LUO_OPEN, err);
	err = baton_luo_session_create(luo, SESSION, &s);
	if (err)
		return fail("create session", BATON_LUO_CREATE_SESSION, err);
	for (int i = 0; i < n; i++) {
		size_t size = (size_t)atoi(mib[i]) << 20;
		char name[32];

		snprintf(name, sizeof(name), "baton-vm-%d", i);
		fds[i] = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[i] < 0 || ftruncate(fds[i], (off_t)size) ||
		    fill(fds[i], size, (unsigned int)i) ||
		    lseek(fds[i], POSITION(i), SEEK_SET) != POSITION(i) ||
		    (SEALS(i) && fcntl(fds[i], F_ADD_SEALS, SEALS(i))))
			return fail("memfd", BATON_LUO_PRESERVE_FD, -errno);
		t_preserve[i] = now_ms();
		err = baton_luo_preserve_fd(s, fds[i], TOKEN(i));
		t_preserve[i] = now_ms() - t_preserve[i];
		if (err)
			return fail("preserve memfd", BATON_LUO_PRESERVE_FD, err);
	}
	/* What the kernel cannot carry is refused, not lost later. */
	if (pipe(pipefd))
		return fail("pipe", BATON_LUO_PRESERVE_FD, -errno);
	pipe_err = baton_luo_preserve_fd(s, pipefd[0], 0x2000);
	/* Closing an outgoing session unpreserves what it held. */
	err = baton_luo_session_create(luo, CLOSED, &closed);
	if (err)
		return fail("create session", BATON_LUO_CREATE_SESSION, err);
	/* A file of its own: one file is preserved in one session only. */
	closed_fd = memfd_create("baton-vm-closed", MFD_CLOEXEC);
	if (closed_fd < 0 || ftruncate(closed_fd, 1 << 20))
		return fail("memfd", BATON_LUO_PRESERVE_FD, -errno);
	err = baton_luo_preserve_fd(closed, closed_fd, TOKEN(0));
	if (err)
		return fail("preserve in the closed session", BATON_LUO_PRESERVE_FD, err);
	baton_luo_session_close(closed);
	if (strcmp(file, "-")) {
		err = carry_file(luo, file, &carried);
		if (err)
			return fail("carry the file", BATON_LUO_PRESERVE_FD, err);
	}

	printf("BATON-LUO-SAVE {\"session\":\"%s\",\"second_open\":\"%s\","
	       "\"pipe_preserve\":\"%s\",\"pipe_why\":\"%s\",\"memfds\":[",
	       baton_luo_session_name(s), second_open(), errname(pipe_err),
	       baton_luo_why(BATON_LUO_PRESERVE_FD, pipe_err));
	for (int i = 0; i < n; i++)
		printf("%s{\"token\":%llu,\"mib\":%d,\"position\":%lld,"
		       "\"seals\":%d,\"preserve_ms\":%.3f}", i ? "," : "",
		       (unsigned long long)TOKEN(i), atoi(mib[i]),
		       (long long)POSITION(i), fcntl(fds[i], F_GET_SEALS),
		       t_preserve[i]);
	printf("],\"save_ms\":%.1f}\n", now_ms() - t);
	fflush(stdout);

	/* The memfds stay open too: the kernel carries them either way. */
	err = kexec(kernel, initrd, " baton_luo_stage=2");
	return fail("kexec", BATON_LUO_OPEN, err);
}

static int restore(int n, char **mib)
{
	struct baton_luo_session *s, *again = NULL, *unknown = NULL, *closed = NULL;
	struct baton_luo *luo;
	double t0, t_session, t_retrieve[MAX_FDS], t_verify[MAX_FDS];
	bool ok = true;
	int err, err_again, err_unknown, err_closed, err_finish;
	char kname[BATON_LUO_NAME_SIZE] = "";
	const char *busy;

	t0 = now_ms();
	err = baton_luo_open(NULL, &luo);
	if (err)
		return fail("open", BATON_LUO_OPEN, err);
	busy = second_open();
	t_session = now_ms();
	err = baton_luo_session_retrieve(luo, SESSION, &s);
	t_session = now_ms() - t_session;
	if (err)
		return fail("retrieve session", BATON_LUO_RETRIEVE_SESSION, err);
	err_again = baton_luo_session_retrieve(luo, SESSION, &again);
	err_unknown = baton_luo_session_retrieve(luo, "never-made", &unknown);
	err_closed = baton_luo_session_retrieve(luo, CLOSED, &closed);
	baton_luo_session_close(again);
	baton_luo_session_close(unknown);
	baton_luo_session_close(closed);
	baton_luo_session_kernel_name(s, kname);

	printf("BATON-LUO-RESTORE {\"session\":\"%s\",\"kernel_name\":\"%s\","
	       "\"second_open\":\"%s\",\"retrieve_again\":\"%s\","
	       "\"retrieve_unknown\":\"%s\",\"retrieve_closed\":\"%s\","
	       "\"retrieve_session_ms\":%.3f,\"memfds\":[",
	       baton_luo_session_name(s), kname, busy, errname(err_again),
	       errname(err_unknown), errname(err_closed), t_session);
	for (int i = 0; i < n; i++) {
		size_t size = (size_t)atoi(mib[i]) << 20;
		struct stat st = { 0 };
		long long bad = -3;
		off_t pos = -1;
		int fd, seals = -1;
		/*
		 * Where the pages come from: the preserved ones handed to the
		 * new memfd (shared memory grows, free memory does not fall)
		 * or new ones filled with a copy (free memory falls by the
		 * size).  Measured around the retrieve and the read of every
		 * byte, which would fault in any page not already there.
		 */
		long long free0 = meminfo_kib("MemFree");
		long long shmem0 = meminfo_kib("Shmem");

		t_retrieve[i] = now_ms();
		fd = baton_luo_retrieve_fd(s, TOKEN(i));
		t_retrieve[i] = now_ms() - t_retrieve[i];
		t_verify[i] = now_ms();
		if (fd >= 0) {
			fstat(fd, &st);
			pos = lseek(fd, 0, SEEK_CUR);
			seals = fcntl(fd, F_GET_SEALS);
			bad = first_difference(fd, size, (unsigned int)i);
		}
		t_verify[i] = now_ms() - t_verify[i];
		ok = ok && fd >= 0 && (size_t)st.st_size == size &&
		     pos == POSITION(i) && seals == SEALS(i) && bad == -1;
		printf("%s{\"token\":%llu,\"mib\":%d,\"retrieve\":\"%s\","
		       "\"size\":%lld,\"position\":%lld,\"seals\":%d,"
		       "\"first_bad_word\":%lld,\"retrieve_ms\":%.3f,"
		       "\"verify_ms\":%.1f,\"memfree_delta_kib\":%lld,"
		       "\"shmem_delta_kib\":%lld}", i ? "," : "",
		       (unsigned long long)TOKEN(i), atoi(mib[i]),
		       errname(fd < 0 ? fd : 0), (long long)st.st_size,
		       (long long)pos, seals, bad, t_retrieve[i], t_verify[i],
		       meminfo_kib("MemFree") - free0, meminfo_kib("Shmem") - shmem0);
		if (fd >= 0)
			close(fd);
	}
	err_finish = baton_luo_finish(s);
	printf("],\"finish\":\"%s\",\"restore_ms\":%.1f}\n", errname(err_finish),
	       now_ms() - t0);
	fflush(stdout);
	baton_luo_session_close(s);
	baton_luo_close(luo);
	return ok && !err_finish && !strcmp(busy, "EBUSY") &&
	       err_again == -EINVAL && err_unknown == -ENOENT &&
	       err_closed == -ENOENT ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && argc - 5 <= MAX_FDS && !strcmp(argv[1], "save"))
		return save(argv[2], argv[3], argv[4], argc - 5, argv + 5);
	if (argc >= 3 && argc - 2 <= MAX_FDS && !strcmp(argv[1], "restore"))
		return restore(argc - 2, argv + 2);
	if (argc == 9 && !strcmp(argv[1], "programs"))
		return programs(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7],
				argv[8]);
	fprintf(stderr, "usage: luo_carry save KERNEL INITRD FILE|- MIB...\n"
		"       luo_carry restore MIB...\n"
		"       luo_carry programs KERNEL INITRD CMDLINE-TAIL MANIFEST SESSION "
		"IMAGE COMMAND\n");
	return 2;
}
