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
#include <linux/reboot.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
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

static int do_wait_driver(const char *addr, const char *driver,
			  const char *timeout)
{
	long deadline = now_ms() + strtol(timeout, NULL, 10);
	const struct timespec step = { 0, 10 * 1000 * 1000 };
	char path[PATH_MAX], link[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	for (;;) {
		ssize_t n = readlink(path, link, sizeof(link) - 1);

		if (n > 0) {
			const char *base;

			link[n] = '\0';
			base = strrchr(link, '/');
			base = base ? base + 1 : link;
			if (!strcmp(base, driver))
				return 0;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "vmhelper: %s not bound to %s\n", addr,
				driver);
			return 1;
		}
		nanosleep(&step, NULL);
	}
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
