// SPDX-License-Identifier: MIT
/*
 * vmhelper: the few things the VM test's guest needs that busybox lacks.
 * Built static on the host and put in the initramfs.
 *
 *   vmhelper kexec KERNEL INITRD
 *	load KERNEL and INITRD with kexec_file_load(), with this boot's
 *	command line (/proc/cmdline), and reboot into them.
 *   vmhelper peek ADDR OFFSET...
 *	print, in decimal, the 32-bit registers at OFFSETs of BAR 0 of PCI
 *	device ADDR (through sysfs resource0, read-only mapping).
 *   vmhelper wait-driver ADDR DRIVER TIMEOUT_MS
 *	poll until ADDR is bound to DRIVER; exit 1 at the bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/reboot.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr,
		"usage: vmhelper kexec KERNEL INITRD\n"
		"       vmhelper peek ADDR OFFSET...\n"
		"       vmhelper wait-driver ADDR DRIVER TIMEOUT_MS\n");
	return 2;
}

static int do_kexec(const char *kernel, const char *initrd)
{
	char cmdline[4096];
	ssize_t n;
	int kfd, ifd, cfd;

	cfd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (cfd < 0) {
		perror("vmhelper: /proc/cmdline");
		return 1;
	}
	n = read(cfd, cmdline, sizeof(cmdline) - 1);
	close(cfd);
	if (n < 0) {
		perror("vmhelper: read /proc/cmdline");
		return 1;
	}
	while (n > 0 && (cmdline[n - 1] == '\n' || cmdline[n - 1] == ' '))
		n--;
	cmdline[n] = '\0';

	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0) {
		fprintf(stderr, "vmhelper: %s: %s\n", kernel, strerror(errno));
		return 1;
	}
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (ifd < 0) {
		fprintf(stderr, "vmhelper: %s: %s\n", initrd, strerror(errno));
		return 1;
	}
	/* The length counts the terminating NUL. */
	if (syscall(SYS_kexec_file_load, kfd, ifd, (unsigned long)n + 1,
		    cmdline, 0UL) != 0) {
		perror("vmhelper: kexec_file_load");
		return 1;
	}
	printf("vmhelper: kexec loaded, cmdline \"%s\"\n", cmdline);
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	perror("vmhelper: reboot(KEXEC)");
	return 1;
}

static int do_peek(const char *addr, int n, char **offs)
{
	char path[PATH_MAX];
	volatile const uint32_t *bar;
	void *map;
	int fd, i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", addr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vmhelper: %s: %s\n", path, strerror(errno));
		return 1;
	}
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "vmhelper: mmap %s: %s\n", path, strerror(errno));
		return 1;
	}
	bar = map;
	for (i = 0; i < n; i++) {
		char *end;
		unsigned long off = strtoul(offs[i], &end, 0);

		if (*end || off > 4092 || off % 4) {
			fprintf(stderr, "vmhelper: bad offset %s\n", offs[i]);
			return 2;
		}
		printf("%s%u", i ? " " : "", bar[off / 4]);
	}
	printf("\n");
	munmap(map, 4096);
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Whether @addr is bound to @driver now. */
static int bound_to(const char *addr, const char *driver)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	base = strrchr(link, '/');
	return !strcmp(base ? base + 1 : link, driver);
}

/*
 * Wait for the kernel's "bind" uevent of @addr, with a bound.  The uevent
 * socket is opened before the first look, so a bind between the look and
 * the wait is still seen.
 */
static int do_wait_driver(const char *addr, const char *driver,
			  const char *timeout)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	long deadline = now_ms() + strtol(timeout, NULL, 10);
	char msg[8192];
	int sock;

	sock = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (sock < 0 || bind(sock, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		perror("vmhelper: uevent socket");
		return 1;
	}
	while (!bound_to(addr, driver)) {
		long left = deadline - now_ms();
		struct pollfd p = { .fd = sock, .events = POLLIN };

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			fprintf(stderr, "vmhelper: %s not bound to %s\n", addr,
				driver);
			close(sock);
			return 1;
		}
		/* Any event is a reason to look again; which one does not matter. */
		if (recv(sock, msg, sizeof(msg), MSG_DONTWAIT) < 0 && errno != EAGAIN)
			break;
	}
	close(sock);
	return bound_to(addr, driver) ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "kexec"))
		return do_kexec(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "peek"))
		return do_peek(argv[2], argc - 3, argv + 3);
	if (argc == 5 && !strcmp(argv[1], "wait-driver"))
		return do_wait_driver(argv[2], argv[3], argv[4]);
	return usage();
}
