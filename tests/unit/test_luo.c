// SPDX-License-Identifier: MIT
/*
 * lib/luo, Baton's client of the kernel's Live Update Orchestrator, against
 * a stand-in for the kernel (baton_luo_ioctl): what each call asks of the
 * kernel (ioctl number, struct size, name, token, reserved words), what it
 * refuses before asking, how the kernel's errnos come back (as they came,
 * with a phrase of their own per call), that a failure leaks no fd, and
 * who holds the device when it is busy (on a /proc of its own).
 * The real kernel is exercised across a real kexec by `make check-vm`
 * (tests/vm/run, the luo scenarios); the ABI constants are checked against
 * the kernel's own header there too.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "luo/luo.h"

/* ---- the stand-in kernel -------------------------------------------- */

/* What the last call asked, and what the next one answers. */
static struct {
	int calls;
	int fd;
	unsigned long request;
	uint8_t arg[128];
	int fail_errno;		/* next call fails with this, once */
	int eintr;		/* fail this many calls with EINTR first */
	int no_fd;		/* answer yes without an fd */
	char name[BATON_LUO_NAME_SIZE];	/* GET_NAME's answer */
} k;

static size_t arg_size(unsigned long request)
{
	switch (request) {
	case BATON_LUO_IOC_CREATE_SESSION:
	case BATON_LUO_IOC_RETRIEVE_SESSION:
		return sizeof(struct baton_luo_session_args);
	case BATON_LUO_IOC_PRESERVE_FD:
	case BATON_LUO_IOC_RETRIEVE_FD:
		return sizeof(struct baton_luo_fd_args);
	case BATON_LUO_IOC_FINISH:
		return sizeof(struct baton_luo_finish_args);
	case BATON_LUO_IOC_GET_NAME:
		return sizeof(struct baton_luo_name_args);
	}
	return 0;
}

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	size_t size = arg_size(request);
	uint32_t given;

	if (k.eintr) {
		k.eintr--;
		errno = EINTR;
		return -1;
	}
	k.calls++;
	k.fd = fd;
	k.request = request;
	assert_true(size > 0);
	/* Every struct starts with its size, and the client sends its own. */
	memcpy(&given, arg, sizeof(given));
	assert_int_equal(given, size);
	memcpy(k.arg, arg, size);
	if (k.fail_errno) {
		errno = k.fail_errno;
		k.fail_errno = 0;
		return -1;
	}
	switch (request) {
	case BATON_LUO_IOC_CREATE_SESSION:
	case BATON_LUO_IOC_RETRIEVE_SESSION: {
		struct baton_luo_session_args *a = arg;

		a->fd = k.no_fd ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	}
	case BATON_LUO_IOC_RETRIEVE_FD: {
		struct baton_luo_fd_args *a = arg;

		a->fd = k.no_fd ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	}
	case BATON_LUO_IOC_GET_NAME: {
		struct baton_luo_name_args *a = arg;

		memcpy(a->name, k.name, sizeof(a->name));
		break;
	}
	}
	return 0;
}

/* The lowest free fd: a call that leaks one moves it. */
static int next_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);

	close(fd);
	return fd;
}

static struct baton_luo *luo;
/* The library's own ioctl(2) caller, saved before any test replaces it. */
static int (*real_ioctl)(int fd, unsigned long request, void *arg);

static int setup(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	baton_luo_ioctl = fake_ioctl;
	/* Any file will do as the device: the stand-in answers its ioctls. */
	return baton_luo_open("/dev/null", &luo);
}

static int teardown(void **state)
{
	(void)state;
	baton_luo_close(luo);
	luo = NULL;
	return 0;
}

static struct baton_luo_session *created(const char *name)
{
	struct baton_luo_session *s = NULL;

	assert_int_equal(baton_luo_session_create(luo, name, &s), 0);
	assert_non_null(s);
	return s;
}

static struct baton_luo_session *retrieved(const char *name)
{
	struct baton_luo_session *s = NULL;

	assert_int_equal(baton_luo_session_retrieve(luo, name, &s), 0);
	assert_non_null(s);
	return s;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_abi_numbers(void **state)
{
	(void)state;
	/* _IO(0xBA, nr): no size, no direction. */
	assert_int_equal(BATON_LUO_IOC_CREATE_SESSION, 0xBA00);
	assert_int_equal(BATON_LUO_IOC_RETRIEVE_SESSION, 0xBA01);
	assert_int_equal(BATON_LUO_IOC_PRESERVE_FD, 0xBA40);
	assert_int_equal(BATON_LUO_IOC_RETRIEVE_FD, 0xBA41);
	assert_int_equal(BATON_LUO_IOC_FINISH, 0xBA42);
	assert_int_equal(BATON_LUO_IOC_GET_NAME, 0xBA43);
	assert_int_equal(offsetof(struct baton_luo_session_args, fd), 4);
	assert_int_equal(offsetof(struct baton_luo_session_args, name), 8);
	assert_int_equal(offsetof(struct baton_luo_fd_args, fd), 4);
	assert_int_equal(offsetof(struct baton_luo_fd_args, token), 8);
	assert_int_equal(offsetof(struct baton_luo_finish_args, reserved), 4);
	assert_int_equal(offsetof(struct baton_luo_name_args, name), 8);
}

static void test_create_session(void **state)
{
	struct baton_luo_session *s;
	struct baton_luo_session_args a;

	(void)state;
	s = created("kvcache");
	assert_int_equal(k.request, BATON_LUO_IOC_CREATE_SESSION);
	assert_int_equal(k.fd, baton_luo_fd(luo));
	memcpy(&a, k.arg, sizeof(a));
	assert_string_equal((char *)a.name, "kvcache");
	/* The rest of the name is zero, as the kernel reads 64 bytes. */
	for (size_t i = strlen("kvcache"); i < sizeof(a.name); i++)
		assert_int_equal(a.name[i], 0);
	assert_string_equal(baton_luo_session_name(s), "kvcache");
	assert_false(baton_luo_session_incoming(s));
	assert_true(baton_luo_session_fd(s) >= 0);
	assert_true(fcntl(baton_luo_session_fd(s), F_GETFD) >= 0);
	baton_luo_session_close(s);
}

static void test_names_checked_before_the_kernel(void **state)
{
	char name[80];
	struct baton_luo_session *s = NULL;

	(void)state;
	assert_int_equal(baton_luo_session_create(luo, "", &s), -EINVAL);
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(baton_luo_session_create(luo, name, &s), -ENAMETOOLONG);
	assert_int_equal(baton_luo_session_retrieve(luo, name, &s), -ENAMETOOLONG);
	assert_int_equal(k.calls, 0);
	assert_null(s);
	/* 63 bytes is the longest the kernel takes. */
	name[63] = '\0';
	s = created(name);
	assert_string_equal(baton_luo_session_name(s), name);
	baton_luo_session_close(s);
}

static void test_kernel_errors_pass_through(void **state)
{
	struct baton_luo_session *s = NULL;
	int before = next_fd();

	(void)state;
	k.fail_errno = EEXIST;
	assert_int_equal(baton_luo_session_create(luo, "twice", &s), -EEXIST);
	k.fail_errno = ENOENT;
	assert_int_equal(baton_luo_session_retrieve(luo, "gone", &s), -ENOENT);
	k.fail_errno = EINVAL;
	assert_int_equal(baton_luo_session_retrieve(luo, "again", &s), -EINVAL);
	assert_null(s);
	assert_int_equal(next_fd(), before);
}

static void test_eintr_retried(void **state)
{
	struct baton_luo_session *s;

	(void)state;
	k.eintr = 3;
	s = created("patient");
	assert_int_equal(k.calls, 1);
	baton_luo_session_close(s);
}

static void test_yes_without_fd(void **state)
{
	struct baton_luo_session *s = NULL;
	int before = next_fd();

	(void)state;
	k.no_fd = 1;
	assert_int_equal(baton_luo_session_create(luo, "odd", &s), -EIO);
	assert_null(s);
	k.no_fd = 0;
	s = retrieved("odd");
	k.no_fd = 1;
	assert_int_equal(baton_luo_retrieve_fd(s, 1), -EIO);
	baton_luo_session_close(s);
	assert_int_equal(next_fd(), before);
}

static void test_preserve_fd(void **state)
{
	struct baton_luo_session *s;
	struct baton_luo_fd_args a;

	(void)state;
	s = created("regions");
	assert_int_equal(baton_luo_preserve_fd(s, 7, 0x1122334455667788ull), 0);
	assert_int_equal(k.request, BATON_LUO_IOC_PRESERVE_FD);
	assert_int_equal(k.fd, baton_luo_session_fd(s));
	memcpy(&a, k.arg, sizeof(a));
	assert_int_equal(a.fd, 7);
	assert_true(a.token == 0x1122334455667788ull);

	k.fail_errno = ENOENT;
	assert_int_equal(baton_luo_preserve_fd(s, 8, 2), -ENOENT);
	assert_int_equal(baton_luo_preserve_fd(s, -1, 3), -EBADF);
	/* Retrieving and finishing are for sessions of the previous boot. */
	k.calls = 0;
	assert_int_equal(baton_luo_retrieve_fd(s, 1), -EINVAL);
	assert_int_equal(baton_luo_finish(s), -EINVAL);
	assert_int_equal(k.calls, 0);
	baton_luo_session_close(s);
}

static void test_retrieve_and_finish(void **state)
{
	struct baton_luo_session *s;
	struct baton_luo_fd_args a;
	struct baton_luo_finish_args f;
	int fd;

	(void)state;
	s = retrieved("regions");
	assert_int_equal(k.request, BATON_LUO_IOC_RETRIEVE_SESSION);
	assert_true(baton_luo_session_incoming(s));
	fd = baton_luo_retrieve_fd(s, 42);
	assert_true(fd >= 0);
	assert_int_equal(k.request, BATON_LUO_IOC_RETRIEVE_FD);
	memcpy(&a, k.arg, sizeof(a));
	assert_true(a.token == 42);
	/* The kernel's fd is close-on-exec; the client does not change that. */
	close(fd);

	k.fail_errno = ENOENT;
	assert_int_equal(baton_luo_retrieve_fd(s, 43), -ENOENT);
	k.calls = 0;
	assert_int_equal(baton_luo_preserve_fd(s, 0, 1), -EINVAL);
	assert_int_equal(k.calls, 0);

	assert_int_equal(baton_luo_finish(s), 0);
	assert_int_equal(k.request, BATON_LUO_IOC_FINISH);
	memcpy(&f, k.arg, sizeof(f));
	assert_int_equal(f.reserved, 0);
	k.fail_errno = EBUSY;
	assert_int_equal(baton_luo_finish(s), -EBUSY);
	baton_luo_session_close(s);
}

static void test_kernel_name(void **state)
{
	struct baton_luo_session *s;
	char name[BATON_LUO_NAME_SIZE];

	(void)state;
	s = created("demo-host");
	strcpy(k.name, "demo-host");
	assert_int_equal(baton_luo_session_kernel_name(s, name), 0);
	assert_int_equal(k.request, BATON_LUO_IOC_GET_NAME);
	assert_string_equal(name, "demo-host");
	/* An unterminated answer is cut, not overrun. */
	memset(k.name, 'x', sizeof(k.name));
	assert_int_equal(baton_luo_session_kernel_name(s, name), 0);
	assert_int_equal(strlen(name), BATON_LUO_NAME_SIZE - 1);
	baton_luo_session_close(s);
}

static void test_adopt(void **state)
{
	struct baton_luo_session *s = NULL;
	int before = next_fd();
	int fd;

	(void)state;
	strcpy(k.name, "handed-on");
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(baton_luo_session_adopt(fd, true, &s), 0);
	assert_string_equal(baton_luo_session_name(s), "handed-on");
	assert_true(baton_luo_session_incoming(s));
	assert_int_equal(baton_luo_session_fd(s), fd);
	baton_luo_session_close(s);
	assert_int_equal(next_fd(), before);

	/* Not a session: refused, and the fd is closed all the same. */
	s = NULL;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	k.fail_errno = ENOTTY;
	assert_int_equal(baton_luo_session_adopt(fd, true, &s), -ENOTTY);
	assert_null(s);
	assert_int_equal(next_fd(), before);
}

static void test_real_ioctl_on_a_file(void **state)
{
	struct baton_luo_session *s = NULL;
	int before = next_fd();

	(void)state;
	/* ioctl(2) itself, on a file that is no LUO session. */
	baton_luo_ioctl = real_ioctl;
	assert_int_equal(baton_luo_session_adopt(open("/dev/null", O_RDONLY), false, &s),
			 -ENOTTY);
	assert_null(s);
	assert_int_equal(next_fd(), before);
}

static void test_open_missing_device(void **state)
{
	struct baton_luo *dev = NULL;

	(void)state;
	assert_int_equal(baton_luo_open("/nonexistent/liveupdate", &dev), -ENOENT);
	assert_null(dev);
	assert_non_null(strstr(baton_luo_why(BATON_LUO_OPEN, -ENOENT),
			       "no Live Update Orchestrator"));
}

static void test_why(void **state)
{
	(void)state;
	/* The same errno says different things from different calls. */
	assert_non_null(strstr(baton_luo_why(BATON_LUO_OPEN, EBUSY),
			       "only one may"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_PRESERVE_FD, -ENOENT),
			       "cannot preserve"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_RETRIEVE_SESSION, ENOENT),
			       "previous kernel"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_RETRIEVE_SESSION, EINVAL),
			       "retrieved already"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_PRESERVE_FD, EBUSY),
			       "another session"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_FINISH, EINVAL),
			       "only a retrieved one"));
	assert_non_null(strstr(baton_luo_why(BATON_LUO_RETRIEVE_FD, ENOTTY),
			       "not a Live Update Orchestrator session"));
	/* Anything else is the system's own phrase. */
	assert_string_equal(baton_luo_why(BATON_LUO_CREATE_SESSION, ENOMEM),
			    strerror(ENOMEM));
}

/* A /proc of our own: DIR/PID/fd/N links to files, DIR/PID/comm. */
static void fake_proc_entry(const char *root, const char *pid, const char *fd,
			    const char *target, const char *comm)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/fd", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/fd/%s", root, pid, fd);
	assert_int_equal(symlink(target, path), 0);
	if (!comm)
		return;
	snprintf(path, sizeof(path), "%s/%s/comm", root, pid);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", comm);
	fclose(f);
}

/* The fake /proc's directory, removed by the teardown even when a check
 * failed half-way. */
static int make_proc_root(void **state)
{
	static char root[] = "/tmp/test_luo_proc.XXXXXX";

	if (!mkdtemp(root))
		return -1;
	*state = root;
	return 0;
}

static int remove_proc_root(void **state)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", (const char *)*state);
	return system(cmd) ? -1 : 0;
}

static void test_holder(void **state)
{
	const char *root = *state;
	char self[16], comm[16];
	int before = next_fd();
	pid_t pid = 0;

	snprintf(self, sizeof(self), "%d", (int)getpid());
	/* Holders of other devices, a name that is no pid, and ourselves. */
	fake_proc_entry(root, "7", "0", "/dev/zero", "other");
	fake_proc_entry(root, "self", "3", "/dev/null", "self");
	fake_proc_entry(root, self, "4", "/dev/null", "me");
	fake_proc_entry(root, "12", "1", "/nonexistent", "gone");
	assert_int_equal(baton_luo_holder(root, "/dev/null", &pid, comm, sizeof(comm)),
			 -ESRCH);
	/* The holder, found by the device's number through its link. */
	fake_proc_entry(root, "4242", "9", "/dev/null", "systemd-shutdow");
	assert_int_equal(baton_luo_holder(root, "/dev/null", &pid, comm, sizeof(comm)), 0);
	assert_int_equal(pid, 4242);
	assert_string_equal(comm, "systemd-shutdow");
	/* No comm: "?", still the pid. */
	fake_proc_entry(root, "5151", "2", "/dev/full", NULL);
	assert_int_equal(baton_luo_holder(root, "/dev/full", &pid, comm, sizeof(comm)), 0);
	assert_int_equal(pid, 5151);
	assert_string_equal(comm, "?");
	/* What cannot be a LUO device, and a /proc that is not there. */
	assert_int_equal(baton_luo_holder(root, root, &pid, comm, sizeof(comm)), -ENOTTY);
	assert_int_equal(baton_luo_holder(root, "/nonexistent", &pid, comm, sizeof(comm)),
			 -ENOENT);
	assert_int_equal(baton_luo_holder("/nonexistent", "/dev/null", &pid, comm,
					  sizeof(comm)), -ENOENT);
	assert_int_equal(baton_luo_holder(root, "/dev/null", &pid, comm, 1), -EINVAL);
	assert_int_equal(next_fd(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_numbers),
		cmocka_unit_test_setup_teardown(test_create_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_checked_before_the_kernel,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_errors_pass_through,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_eintr_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yes_without_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preserve_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retrieve_and_finish, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
		cmocka_unit_test(test_open_missing_device),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_real_ioctl_on_a_file),
		cmocka_unit_test_setup_teardown(test_holder, make_proc_root, remove_proc_root),
	};

	real_ioctl = baton_luo_ioctl;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
