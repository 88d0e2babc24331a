// SPDX-License-Identifier: MIT
/*
 * The device I/O interface and the VFIO backend, where no VFIO device is
 * needed (tests/vm/run drives a real one):
 *  - <baton/devio.h>'s checks, before any backend sees a call, on a
 *    vfio-user handle adopted on one end of a socketpair (adopting sends
 *    nothing, so nothing here waits for a server);
 *  - the DMA table: adopted mappings recorded, overlaps refused, unmap
 *    only of a mapping exactly;
 *  - baton_devio_adopt() refusing what is not its backend's fds, closing
 *    them; which device's fds they are (identity.c), by device number
 *    against fixture nodes;
 *  - sysfs discovery (lib/backends/vfio/sysfs.c) against fixture trees:
 *    a device bound to vfio-pci, to another driver, to none, in no IOMMU
 *    group, with and without a VFIO cdev; the list in address order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/vfio.h>

#include <baton/devio.h>
#include <baton/vfio.h>
#include <baton/vfio_user.h>

#include "backends/vfio/vfio-internal.h"
#include "count_fds.h"

/* ---- The interface's own checks ---- */

/* A vfio-user handle on a socketpair whose other end is *@peer. */
static struct baton_devio *vfu_handle(int *peer)
{
	struct baton_devio *io;
	struct baton_vfu *vfu;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(baton_vfu_adopt(sv[0], &vfu), 0);
	assert_int_equal(baton_devio_vfu(vfu, &io), 0);
	*peer = sv[1];
	return io;
}

static void test_arguments(void **state)
{
	struct baton_devio_region r;
	struct baton_devio *io;
	struct baton_pci_ids ids;
	uint32_t v = 0;
	int peer, before = count_fds();

	(void)state;
	io = vfu_handle(&peer);
	assert_int_equal(baton_devio_backend(io), BATON_DEVIO_VFIO_USER);
	assert_int_equal(baton_devio_vfu(NULL, &io), -EINVAL);
	assert_int_equal(baton_devio_region_info(NULL, 0, &r), -EINVAL);
	assert_int_equal(baton_devio_region_info(io, 0, NULL), -EINVAL);
	assert_int_equal(baton_devio_region_read(io, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(baton_devio_region_read(io, 0, 0, &v, 0), -EINVAL);
	assert_int_equal(baton_devio_region_write(io, 0, UINT64_MAX - 1, &v, 4), -EINVAL);
	assert_int_equal(baton_devio_read32(NULL, 0, 0, &v), -EINVAL);
	assert_int_equal(baton_devio_write32(NULL, 0, 0, v), -EINVAL);
	assert_int_equal(baton_devio_write64(NULL, 0, 0, v), -EINVAL);
	assert_int_equal(baton_devio_pci_ids(io, NULL), -EINVAL);
	assert_int_equal(baton_devio_pci_ids(NULL, &ids), -EINVAL);
	/* DMA: page aligned, not empty, not wrapping, a real fd. */
	assert_int_equal(baton_devio_dma_map(io, 0x1000, 0, 0, 0, true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(io, 0x1001, 0x1000, 0, 0, true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(io, 0x1000, 0x1001, 0, 0, true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(io, 0x1000, 0x1000, 0, 0x10, true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(io, 0x1000, 0x1000, -1, 0, true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(io, UINT64_MAX & ~0xfffull, 0x2000, 0, 0,
					     true), -EINVAL);
	assert_int_equal(baton_devio_dma_map(NULL, 0x1000, 0x1000, 0, 0, true), -EINVAL);
	assert_int_equal(baton_devio_dma_unmap(NULL, 0x1000, 0x1000), -EINVAL);
	assert_int_equal(baton_devio_set_irq(io, VFIO_PCI_MSI_IRQ_INDEX, -2), -EINVAL);
	assert_int_equal(baton_devio_set_irq(NULL, VFIO_PCI_MSI_IRQ_INDEX, -1), -EINVAL);
	assert_int_equal(baton_devio_reset(NULL), -EINVAL);
	assert_int_equal(baton_devio_unmask_irq(NULL, VFIO_PCI_INTX_IRQ_INDEX), -EINVAL);
	assert_int_equal(baton_devio_freeze(NULL), -EINVAL);
	assert_int_equal(baton_devio_thaw(NULL), -EINVAL);
	baton_devio_close(io);
	close(peer);
	assert_int_equal(count_fds(), before);
}

static void test_fds(void **state)
{
	enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS];
	int fds[BATON_DEVIO_MAX_FDS], peer;
	struct baton_devio *io = vfu_handle(&peer);

	(void)state;
	assert_int_equal(baton_devio_fds(io, fds, kinds), 1);
	assert_int_equal(kinds[0], BATON_FD_SOCKET);
	assert_true(fcntl(fds[0], F_GETFD) >= 0);
	/* Forgotten: the socket stays open, a next holder adopts it. */
	baton_devio_forget(io);
	assert_true(fcntl(fds[0], F_GETFD) >= 0);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_USER, fds, 1, &io), 0);
	assert_int_equal(baton_devio_backend(io), BATON_DEVIO_VFIO_USER);
	baton_devio_close(io);
	assert_true(fcntl(fds[0], F_GETFD) < 0);
	close(peer);
}

/* Adopted mappings: recorded (vfio-user sends nothing), checked. */
static void test_dma_table(void **state)
{
	int peer, memfd = memfd_create("dma", MFD_CLOEXEC);
	struct baton_devio *io = vfu_handle(&peer);

	(void)state;
	assert_true(memfd >= 0);
	assert_int_equal(baton_devio_dma_adopt(io, 0x10000, 0x2000, memfd, 0, true), 0);
	/* The same range, or one overlapping it at either end: refused. */
	assert_int_equal(baton_devio_dma_adopt(io, 0x10000, 0x2000, memfd, 0, true), -EEXIST);
	assert_int_equal(baton_devio_dma_adopt(io, 0xf000, 0x2000, memfd, 0, true), -EEXIST);
	assert_int_equal(baton_devio_dma_adopt(io, 0x11000, 0x1000, memfd, 0, true), -EEXIST);
	assert_int_equal(baton_devio_dma_map(io, 0x11000, 0x4000, memfd, 0, true), -EEXIST);
	/* Just after it: fine. */
	assert_int_equal(baton_devio_dma_adopt(io, 0x12000, 0x1000, memfd, 0x1000, false), 0);
	/* Unmap only exactly a mapping; nothing is sent before that. */
	assert_int_equal(baton_devio_dma_unmap(io, 0x10000, 0x1000), -EINVAL);
	assert_int_equal(baton_devio_dma_unmap(io, 0x11000, 0x1000), -EINVAL);
	/* Freezing, thawing, unmasking on vfio-user: nothing to do, nothing
	 * sent (no server answers here). */
	assert_int_equal(baton_devio_freeze(io), 0);
	assert_int_equal(baton_devio_thaw(io), 0);
	assert_int_equal(baton_devio_unmask_irq(io, VFIO_PCI_INTX_IRQ_INDEX), 0);
	baton_devio_close(io);
	close(peer);
	close(memfd);
}

/* Fds that are not the backend's: refused, and closed. */
static void test_adopt_refused(void **state)
{
	int fds[3], before = count_fds();
	struct baton_devio *io = NULL;

	(void)state;
	fds[0] = fds[1] = fds[2] = 0;
	assert_int_equal(baton_devio_adopt(0, fds, 1, &io), -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_IOMMUFD + 1, fds, 1, &io),
			 -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_USER, fds, 2, &io), -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_TYPE1, fds, 2, &io), -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_IOMMUFD, fds, 3, &io), -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_TYPE1, NULL, 3, &io), -EINVAL);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_TYPE1, fds, 3, NULL), -EINVAL);
	fds[1] = -1;
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_TYPE1, fds, 3, &io), -EINVAL);
	assert_int_equal(count_fds(), before);
	/* /dev/null is no container, no iommufd: refused, the fds stay the
	 * caller's (a restore that fails hands them back). */
	for (int i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_TYPE1, fds, 3, &io), -ENOTTY);
	assert_int_equal(count_fds(), before + 3);
	assert_int_equal(baton_devio_adopt(BATON_DEVIO_VFIO_IOMMUFD, fds, 2, &io), -ENOTTY);
	assert_int_equal(count_fds(), before + 3);
	assert_int_equal(baton_vfio_adopt(NULL, BATON_DEVIO_VFIO_TYPE1, fds, 3, &io), -EINVAL);
	assert_int_equal(baton_vfio_adopt(&(struct baton_pci_addr){ 0 }, BATON_DEVIO_VFIO_USER,
					  fds, 1, &io), -EINVAL);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_null(io);
}

/* ---- sysfs ---- */

static char root[] = "/tmp/test-vfio-XXXXXX";

/* mkdir -p ROOT/sys/bus/pci/devices/@dev@sub. */
static void mkdirs(const char *dev, const char *sub)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s%s", root, dev, sub);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		assert_true(!mkdir(path, 0755) || errno == EEXIST);
		*p = '/';
	}
	assert_true(!mkdir(path, 0755) || errno == EEXIST);
}

static void link_to(const char *target, const char *addr, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/%s", root, addr, name);
	assert_int_equal(symlink(target, path), 0);
}

/*
 * The fixture: 0000:00:03.0 bound to vfio-pci in group 7 with cdev vfio0;
 * 0000:00:02.0 bound to vfio-pci in group 12, no cdev (a 6.1 kernel);
 * 0000:00:04.0 bound to edu_lu; 0000:00:05.0 bound to nothing;
 * 0000:00:06.0 bound to vfio-pci in no group; 0000:00:07.0 bound to
 * vfio-pci, its group link naming no number, its vfio-dev an odd entry.
 */
static int sysfs_setup(void **state)
{
	static const char *const addrs[] = {
		"0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:00:05.0",
		"0000:00:06.0", "0000:00:07.0",
	};

	(void)state;
	if (!mkdtemp(root))
		return -1;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		mkdirs(addrs[i], "");
	mkdirs("0000:00:03.0", "/vfio-dev/vfio0");
	mkdirs("0000:00:07.0", "/vfio-dev/vfiox");
	mkdirs("not-a-device", "");
	link_to("../../../bus/pci/drivers/vfio-pci", "0000:00:03.0", "driver");
	link_to("../../../kernel/iommu_groups/7", "0000:00:03.0", "iommu_group");
	link_to("../../../bus/pci/drivers/vfio-pci", "0000:00:02.0", "driver");
	link_to("../../../kernel/iommu_groups/12", "0000:00:02.0", "iommu_group");
	link_to("../../../bus/pci/drivers/edu_lu", "0000:00:04.0", "driver");
	link_to("../../../kernel/iommu_groups/8", "0000:00:04.0", "iommu_group");
	link_to("../../../bus/pci/drivers/vfio-pci", "0000:00:06.0", "driver");
	link_to("../../../bus/pci/drivers/vfio-pci", "0000:00:07.0", "driver");
	link_to("../../../kernel/iommu_groups/7a", "0000:00:07.0", "iommu_group");
	return 0;
}

static int sysfs_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) ? -1 : 0;
}

static int locate(const char *addr, enum baton_devio_backend backend,
		  struct vfio_where *w)
{
	char sys[PATH_MAX];
	struct baton_pci_addr a;

	assert_int_equal(baton_pci_addr_parse(addr, &a), 0);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	return vfio_locate(sys, "/devroot", &a, backend, w);
}

static void test_locate(void **state)
{
	struct vfio_where w;

	(void)state;
	assert_int_equal(locate("0000:00:03.0", BATON_DEVIO_VFIO_TYPE1, &w), 0);
	assert_string_equal(w.group, "/devroot/vfio/7");
	assert_int_equal(locate("0000:00:03.0", BATON_DEVIO_VFIO_IOMMUFD, &w), 0);
	assert_string_equal(w.cdev, "/devroot/vfio/devices/vfio0");
	assert_int_equal(locate("0000:00:02.0", BATON_DEVIO_VFIO_TYPE1, &w), 0);
	assert_string_equal(w.group, "/devroot/vfio/12");
	/* No cdev: a kernel without VFIO_DEVICE_CDEV. */
	assert_int_equal(locate("0000:00:02.0", BATON_DEVIO_VFIO_IOMMUFD, &w), -EOPNOTSUPP);
	/* Another driver, or none. */
	assert_int_equal(locate("0000:00:04.0", BATON_DEVIO_VFIO_TYPE1, &w), -ENODEV);
	assert_int_equal(locate("0000:00:05.0", BATON_DEVIO_VFIO_TYPE1, &w), -ENODEV);
	/* No such device. */
	assert_int_equal(locate("0000:00:09.0", BATON_DEVIO_VFIO_TYPE1, &w), -ENOENT);
	/* No group; a group that is no number; a cdev that is no vfioN. */
	assert_int_equal(locate("0000:00:06.0", BATON_DEVIO_VFIO_TYPE1, &w), -EOPNOTSUPP);
	assert_int_equal(locate("0000:00:07.0", BATON_DEVIO_VFIO_TYPE1, &w), -EOPNOTSUPP);
	assert_int_equal(locate("0000:00:07.0", BATON_DEVIO_VFIO_IOMMUFD, &w), -EOPNOTSUPP);
}

static void test_open_refused(void **state)
{
	char sys[PATH_MAX], dev[PATH_MAX];
	struct baton_devio *io = NULL;
	struct baton_pci_addr a;
	int before = count_fds();

	(void)state;
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(dev, sizeof(dev), "%s/dev", root);
	assert_int_equal(baton_pci_addr_parse("0000:00:03.0", &a), 0);
	assert_int_equal(vfio_open_at(sys, dev, NULL, BATON_DEVIO_VFIO_TYPE1, &io), -EINVAL);
	assert_int_equal(vfio_open_at(sys, dev, &a, BATON_DEVIO_VFIO_TYPE1, NULL), -EINVAL);
	assert_int_equal(vfio_open_at(sys, dev, &a, BATON_DEVIO_VFIO_USER, &io), -EINVAL);
	/* Found in sysfs, but no /dev/vfio/vfio or /dev/iommu in the fixture. */
	assert_int_equal(vfio_open_at(sys, dev, &a, BATON_DEVIO_VFIO_TYPE1, &io), -ENOENT);
	assert_int_equal(vfio_open_at(sys, dev, &a, BATON_DEVIO_VFIO_IOMMUFD, &io), -ENOENT);
	assert_int_equal(baton_pci_addr_parse("0000:00:04.0", &a), 0);
	assert_int_equal(vfio_open_at(sys, dev, &a, BATON_DEVIO_VFIO_TYPE1, &io), -ENODEV);
	assert_null(io);
	assert_int_equal(count_fds(), before);
}

/* ROOT/nodes/@name -> @target, making the directories. */
static void node(const char *name, const char *target)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/nodes/%s", root, name);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		assert_true(!mkdir(path, 0755) || errno == EEXIST);
		*p = '/';
	}
	assert_int_equal(symlink(target, path), 0);
}

static int check_fds(const char *addr, enum baton_devio_backend backend, const int *fds)
{
	char sys[PATH_MAX], dev[PATH_MAX];
	struct baton_pci_addr a;

	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(dev, sizeof(dev), "%s/nodes", root);
	if (!addr)
		return vfio_check_fds(sys, dev, backend, fds, NULL);
	assert_int_equal(baton_pci_addr_parse(addr, &a), 0);
	return vfio_check_fds(sys, dev, backend, fds, &a);
}

/*
 * Whose fds these are (lib/backends/vfio/identity.c), by device number:
 * the fixture's nodes are links to character devices every system has.
 * /dev/null stands for the container and /dev/iommu, /dev/zero for
 * 03.0's group and cdev, /dev/full for 02.0's group.  A pipe stands for
 * the device fd, which the kernel names no device for (as before 6.9).
 */
static void test_identity(void **state)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int zero = open("/dev/zero", O_RDWR | O_CLOEXEC);
	int full = open("/dev/full", O_RDWR | O_CLOEXEC);
	int p[2];

	(void)state;
	assert_true(null >= 0 && zero >= 0 && full >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	node("vfio/vfio", "/dev/null");
	node("iommu", "/dev/null");
	node("vfio/7", "/dev/zero");
	node("vfio/12", "/dev/full");
	node("vfio/devices/vfio0", "/dev/zero");

	/* type1: device, group, container. */
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], zero, null }), 0);
	/* Two devices' fds swapped: 02.0's group for 03.0. */
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], full, null }), -ENODEV);
	assert_int_equal(check_fds("0000:00:02.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], full, null }), 0);
	/* The group where the container goes; a pipe there. */
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], null, zero }), -ENOTTY);
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], zero, p[1] }), -ENOTTY);
	/* No address from the caller nor from the kernel: kinds only. */
	assert_int_equal(check_fds(NULL, BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], full, null }), 0);
	/* A device no longer bound to vfio-pci. */
	assert_int_equal(check_fds("0000:00:04.0", BATON_DEVIO_VFIO_TYPE1,
				   (int[]){ p[0], zero, null }), -ENODEV);

	/* iommufd: device cdev, /dev/iommu. */
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_IOMMUFD,
				   (int[]){ zero, null }), 0);
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_IOMMUFD,
				   (int[]){ full, null }), -ENODEV);
	assert_int_equal(check_fds("0000:00:03.0", BATON_DEVIO_VFIO_IOMMUFD,
				   (int[]){ zero, zero }), -ENOTTY);
	close(null);
	close(zero);
	close(full);
	close(p[0]);
	close(p[1]);
}

static void test_list(void **state)
{
	struct baton_pci_addr addrs[8], one;
	char sys[PATH_MAX], name[BATON_PCI_ADDR_STRLEN];

	(void)state;
	snprintf(sys, sizeof(sys), "%s/sys", root);
	/* 02.0, 03.0, 06.0, 07.0 are bound to vfio-pci, in address order. */
	assert_int_equal(vfio_list_at(sys, NULL, 0), 4);
	assert_int_equal(vfio_list_at(sys, NULL, 1), -EINVAL);
	assert_int_equal(vfio_list_at(sys, addrs, 8), 4);
	assert_string_equal(baton_pci_addr_format(&addrs[0], name), "0000:00:02.0");
	assert_string_equal(baton_pci_addr_format(&addrs[1], name), "0000:00:03.0");
	assert_string_equal(baton_pci_addr_format(&addrs[2], name), "0000:00:06.0");
	assert_string_equal(baton_pci_addr_format(&addrs[3], name), "0000:00:07.0");
	/* Room for one: the count says how many there are. */
	assert_int_equal(vfio_list_at(sys, &one, 1), 4);
	assert_int_equal(vfio_list_at("/nonexistent", addrs, 8), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest devio[] = {
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_fds),
		cmocka_unit_test(test_dma_table),
		cmocka_unit_test(test_adopt_refused),
	};
	const struct CMUnitTest sysfs[] = {
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_open_refused),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests_name("devio", devio, NULL, NULL) |
	       cmocka_run_group_tests_name("vfio-sysfs", sysfs, sysfs_setup,
					   sysfs_teardown);
}
