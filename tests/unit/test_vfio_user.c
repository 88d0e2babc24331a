// SPDX-License-Identifier: MIT
/*
 * The vfio-user client library (lib/backends/vfio-user/client.c) against a
 * live devsim started by the group setup: every device type, DMA both ways,
 * interrupts through eventfds, the pktgen ring through a mapped BAR,
 * reset on close, a connection adopted by another process, and the errors
 * a driver can get; reads submitted without waiting (through
 * <baton/devio.h>), against devsim and against a server the test plays,
 * out of order, hostile or dying.  Nothing sleeps: every wait is a poll() with a bound,
 * or devsim's own "wait-generated".
 *
 * DEVSIM in the environment is the devsim binary (set by meson).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <linux/vfio.h>

#include <baton/devio.h>
#include <baton/error.h>
#include <baton/vfio_user.h>

#define EDU "0000:00:04.0"
#define PKT "0000:00:05.0"
#define LEG "0000:00:06.0"
#define PKT2 "0000:00:07.0"
#define PKT_RATE 50000
#define WAIT_MS 5000

static pid_t devsim_pid;
static char dir[] = "/tmp/test-vfio-user-XXXXXX";

static const char *path_of(const char *name)
{
	static char buf[2][128];
	static int which;

	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s.sock", dir, name);
	return buf[which];
}

static int group_setup(void **state)
{
	const char *devsim = getenv("DEVSIM");
	struct pollfd p;
	char line[16] = "", fdarg[16];
	int pipefd[2];

	(void)state;
	if (!devsim || !mkdtemp(dir) || pipe2(pipefd, O_CLOEXEC))
		return -1;
	devsim_pid = fork();
	if (devsim_pid < 0)
		return -1;
	if (devsim_pid == 0) {
		/* The write end must survive exec: the only fd devsim inherits. */
		int w = dup(pipefd[1]);

		snprintf(fdarg, sizeof(fdarg), "%d", w);
		execl(devsim, "devsim", "--dir", dir, "--ready-fd", fdarg,
		      "--device", "edu@" EDU,
		      "--device", "pktgen@" PKT ",rate=50000",
		      "--device", "legacy@" LEG,
		      "--device", "pktgen@" PKT2,
		      (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	p = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	if (poll(&p, 1, 10000) != 1 || read(pipefd[0], line, sizeof(line) - 1) <= 0 ||
	    strncmp(line, "ready", 5)) {
		close(pipefd[0]);
		kill(devsim_pid, SIGKILL);
		waitpid(devsim_pid, NULL, 0);
		return -1;
	}
	close(pipefd[0]);
	return 0;
}

static int group_teardown(void **state)
{
	int pidfd, status = -1;
	struct pollfd p;

	(void)state;
	/* No devsim (the setup failed): kill(0) or kill(-1) would hit the
	 * caller's process group, or everything. */
	if (devsim_pid <= 0)
		return -1;
	pidfd = (int)syscall(SYS_pidfd_open, devsim_pid, 0);
	kill(devsim_pid, SIGTERM);
	if (pidfd >= 0) {
		p = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			kill(devsim_pid, SIGKILL);
		close(pidfd);
	}
	waitpid(devsim_pid, &status, 0);
	/* A clean exit unlinks every socket, so the directory is empty. */
	if (rmdir(dir))
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- The status socket ---- */

static struct json_object *status_request(const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *o;
	char buf[8192];
	size_t len = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/status.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
	assert_int_equal(send(fd, "\n", 1, MSG_NOSIGNAL), 1);
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 10000), 1);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	return o;
}

/* A device's field in a status reply. */
static int64_t field_of(struct json_object *root, const char *addr, const char *field)
{
	struct json_object *devs, *v;

	assert_true(json_object_object_get_ex(root, "devices", &devs));
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i), *a;

		json_object_object_get_ex(d, "address", &a);
		if (strcmp(json_object_get_string(a), addr))
			continue;
		assert_true(json_object_object_get_ex(d, field, &v));
		return json_object_get_int64(v);
	}
	fail_msg("no device %s in status", addr);
	return -1;
}

static int64_t status_field(const char *addr, const char *field)
{
	struct json_object *o = status_request("status");
	int64_t v = field_of(o, addr, field);

	json_object_put(o);
	return v;
}

/* ---- Helpers ---- */

static struct baton_vfu *open_dev(const char *addr)
{
	struct baton_vfu *vfu = NULL;

	assert_int_equal(baton_vfu_connect(path_of(addr), &vfu), 0);
	return vfu;
}

static uint32_t rd32(struct baton_vfu *vfu, uint64_t off)
{
	uint32_t v = 0;

	assert_int_equal(baton_vfu_read32(vfu, VFIO_PCI_BAR0_REGION_INDEX, off, &v), 0);
	return v;
}

static void wr32(struct baton_vfu *vfu, uint64_t off, uint32_t v)
{
	assert_int_equal(baton_vfu_write32(vfu, VFIO_PCI_BAR0_REGION_INDEX, off, v), 0);
}

/* Wait (bounded) for an interrupt and consume it. */
static void wait_irq(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n;

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(read(efd, &n, sizeof(n)), sizeof(n));
	assert_true(n >= 1);
}

static bool irq_pending(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static int make_memfd(size_t size, void **map)
{
	int fd = memfd_create("test-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	/* devsim maps only what cannot shrink under it. */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(*map != MAP_FAILED);
	return fd;
}

/* ---- Tests ---- */

static void check_ids(const char *addr, uint16_t vendor, uint16_t device,
		      uint32_t class_code)
{
	struct baton_vfu *vfu = open_dev(addr);
	struct baton_vfu_region r;
	uint32_t nreg = 0, nirq = 0;
	uint8_t cfg[12];

	assert_int_equal(baton_vfu_device_info(vfu, &nreg, &nirq), 0);
	assert_int_equal(nreg, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(nirq, VFIO_PCI_NUM_IRQS);
	assert_int_equal(baton_vfu_region_info(vfu, VFIO_PCI_CONFIG_REGION_INDEX, &r), 0);
	assert_int_equal(r.size, 256);
	assert_int_equal(r.fd, -1);
	assert_int_equal(baton_vfu_region_read(vfu, VFIO_PCI_CONFIG_REGION_INDEX, 0,
					       cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, vendor);
	assert_int_equal(cfg[2] | cfg[3] << 8, device);
	assert_int_equal(cfg[9] | cfg[10] << 8 | cfg[11] << 16, class_code);
	/* An unused BAR has size 0. */
	assert_int_equal(baton_vfu_region_info(vfu, VFIO_PCI_BAR1_REGION_INDEX, &r), 0);
	assert_int_equal(r.size, 0);
	baton_vfu_close(vfu);
}

static void test_config_ids(void **state)
{
	(void)state;
	check_ids(EDU, 0x1234, 0x11e8, 0x00ff00);
	check_ids(PKT, 0x1234, 0xba70, 0x020000);
	check_ids(LEG, 0x1234, 0xba71, 0xff0000);
}

static void test_config_command_only(void **state)
{
	struct baton_vfu *vfu = open_dev(LEG);
	uint16_t v = 0xffff, got;

	(void)state;
	/* The command register takes its writable bits; the ids stay. */
	assert_int_equal(baton_vfu_region_write(vfu, VFIO_PCI_CONFIG_REGION_INDEX, 4, &v, 2), 0);
	assert_int_equal(baton_vfu_region_read(vfu, VFIO_PCI_CONFIG_REGION_INDEX, 4, &got, 2), 0);
	assert_int_equal(got, 0x0547);
	assert_int_equal(baton_vfu_region_write(vfu, VFIO_PCI_CONFIG_REGION_INDEX, 0, &v, 2), 0);
	assert_int_equal(baton_vfu_region_read(vfu, VFIO_PCI_CONFIG_REGION_INDEX, 0, &got, 2), 0);
	assert_int_equal(got, 0x1234);
	baton_vfu_close(vfu);
}

static void test_edu_registers(void **state)
{
	struct baton_vfu *vfu = open_dev(EDU);
	struct baton_vfu_region r;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	(void)state;
	assert_int_equal(baton_vfu_region_info(vfu, VFIO_PCI_BAR0_REGION_INDEX, &r), 0);
	assert_int_equal(r.size, 1 << 20);
	assert_int_equal(r.flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
	assert_int_equal(rd32(vfu, 0x00), 0x010000ed);
	wr32(vfu, 0x04, 0x12345678);
	assert_int_equal(rd32(vfu, 0x04), ~0x12345678u);
	wr32(vfu, 0x08, 10);
	assert_int_equal(rd32(vfu, 0x20) & 1, 0);
	assert_int_equal(rd32(vfu, 0x08), 3628800);

	/* Raise, see the eventfd fire, acknowledge. */
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_MSI_IRQ_INDEX, efd), 0);
	wr32(vfu, 0x60, 0x5);
	wait_irq(efd);
	assert_int_equal(rd32(vfu, 0x24), 0x5);
	wr32(vfu, 0x64, 0x5);
	assert_int_equal(rd32(vfu, 0x24), 0);

	/* A factorial with status bit 0x80 interrupts with bit 0x1. */
	wr32(vfu, 0x20, 0x80);
	wr32(vfu, 0x08, 5);
	wait_irq(efd);
	assert_int_equal(rd32(vfu, 0x08), 120);
	assert_int_equal(rd32(vfu, 0x24), 0x1);
	wr32(vfu, 0x64, 0x1);

	/* INTx once MSI is off. */
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_MSI_IRQ_INDEX, -1), 0);
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_INTX_IRQ_INDEX, efd), 0);
	wr32(vfu, 0x60, 0x2);
	wait_irq(efd);
	wr32(vfu, 0x64, 0x2);
	assert_true(status_field(EDU, "factorials") >= 2);
	assert_true(status_field(EDU, "irqs") >= 3);
	baton_vfu_close(vfu);
	close(efd);
}

static void test_edu_dma(void **state)
{
	const uint64_t iova = 0x200000;
	struct baton_vfu *vfu = open_dev(EDU);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint8_t *ram;
	void *map;
	int mfd = make_memfd(8192, &map);
	uint64_t cmd;

	(void)state;
	ram = map;
	for (int i = 0; i < 100; i++)
		ram[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(baton_vfu_dma_map(vfu, iova, 8192, mfd, 0, true), 0);
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_MSI_IRQ_INDEX, efd), 0);

	/* RAM to the device's buffer... */
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x80, iova), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x88, 0x40000), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x90, 100), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x98, 0x1), 0);
	assert_int_equal(baton_vfu_read64(vfu, 0, 0x98, &cmd), 0);
	assert_int_equal(cmd & 0x9, 0);
	/* ...and back to another page, with the completion interrupt. */
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x80, 0x40000), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x88, iova + 4096), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x98, 0x1 | 0x2 | 0x4), 0);
	wait_irq(efd);
	assert_int_equal(rd32(vfu, 0x24), 0x100);
	wr32(vfu, 0x64, 0x100);
	assert_memory_equal(ram + 4096, ram, 100);

	/* An IOVA outside the mapping aborts the transfer, and says so. */
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x88, iova + 8192 - 50), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x98, 0x1 | 0x2), 0);
	assert_int_equal(baton_vfu_read64(vfu, 0, 0x98, &cmd), 0);
	assert_int_equal(cmd & 0x9, 0x8);
	/* So does a range outside the device's 4 KiB buffer. */
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x80, 0x40000 + 4000), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x88, iova), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x98, 0x1 | 0x2), 0);
	assert_int_equal(baton_vfu_read64(vfu, 0, 0x98, &cmd), 0);
	assert_int_equal(cmd & 0x9, 0x8);
	assert_int_equal(status_field(EDU, "dmas"), 2);

	/* After DMA_UNMAP the memory is out of the device's reach. */
	assert_int_equal(baton_vfu_dma_unmap(vfu, iova, 8192), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x80, iova), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x88, 0x40000), 0);
	assert_int_equal(baton_vfu_write64(vfu, 0, 0x98, 0x1), 0);
	assert_int_equal(baton_vfu_read64(vfu, 0, 0x98, &cmd), 0);
	assert_int_equal(cmd & 0x8, 0x8);
	assert_false(irq_pending(efd));

	baton_vfu_close(vfu);
	munmap(map, 8192);
	close(mfd);
	close(efd);
}

struct desc {
	uint64_t seq;
	uint32_t len;
	uint32_t flags;
	uint8_t data[48];
};

struct ring {
	struct baton_vfu *vfu;
	int mfd, efd, bar2_fd;
	struct desc *desc;
	volatile uint32_t *bar2;
	uint32_t entries;
};

static const uint64_t ring_iova = 0x10000000;

static void ring_start(struct ring *r, const char *addr, uint32_t entries, bool enable)
{
	struct baton_vfu_region reg;
	void *map;

	r->vfu = open_dev(addr);
	r->entries = entries;
	r->mfd = make_memfd(entries * sizeof(struct desc), &map);
	r->desc = map;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(baton_vfu_region_info(r->vfu, VFIO_PCI_BAR2_REGION_INDEX, &reg), 0);
	assert_int_equal(reg.size, 4096);
	assert_true(reg.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(reg.fd >= 0);
	r->bar2_fd = reg.fd;
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, reg.fd, (off_t)reg.offset);
	assert_true(map != MAP_FAILED);
	r->bar2 = map;
	assert_int_equal(rd32(r->vfu, 0x00), 0x70677631);
	assert_int_equal(baton_vfu_dma_map(r->vfu, ring_iova, entries * sizeof(struct desc),
					   r->mfd, 0, true), 0);
	assert_int_equal(baton_vfu_set_irq(r->vfu, VFIO_PCI_MSI_IRQ_INDEX, r->efd), 0);
	assert_int_equal(baton_vfu_write64(r->vfu, 0, 0x08, ring_iova), 0);
	wr32(r->vfu, 0x10, entries);
	if (enable)
		wr32(r->vfu, 0x04, 1);
}

static void ring_unmap(struct ring *r)
{
	munmap((void *)r->bar2, 4096);
	munmap(r->desc, r->entries * sizeof(struct desc));
	close(r->bar2_fd);
	close(r->mfd);
	close(r->efd);
}

static uint32_t head_of(struct ring *r)
{
	return __atomic_load_n(&r->bar2[0], __ATOMIC_ACQUIRE);
}

static void check_desc(const struct desc *d, uint64_t seq)
{
	assert_int_equal(d->seq, seq);
	assert_int_equal(d->len, 48);
	assert_int_equal(d->flags & 1, 1);
	for (int i = 0; i < 48; i++)
		assert_int_equal(d->data[i], (uint8_t)(seq + (uint64_t)i));
}

static void test_pktgen_ring(void **state)
{
	struct ring r;
	uint32_t head, tail = 0;
	uint64_t seq = 1, gaps = 0, gen, dropped;

	(void)state;
	ring_start(&r, PKT, 256, true);
	assert_int_equal(rd32(r.vfu, 0x14), PKT_RATE);
	/*
	 * Consume three interrupts' worth of packets, in order.  A full ring
	 * drops what comes (the 256 entries last 5 ms at this rate, less than
	 * this thread may wait for a CPU on a loaded machine): every gap in
	 * the sequence must be a drop the device counted.
	 */
	for (int round = 0; round < 3; round++) {
		/*
		 * An interrupt may announce packets this loop already took: one
		 * raised after our read of the eventfd and before our read of
		 * HEAD (seen under valgrind on a loaded machine).  Then the
		 * next one brings new packets, each wait bounded.
		 */
		int waits = 0;

		do
			wait_irq(r.efd);
		while ((head = head_of(&r)) == tail && ++waits < 100);
		assert_true(head != tail);
		assert_true(head - tail <= r.entries);
		for (; tail != head; tail++) {
			const struct desc *d = &r.desc[tail % r.entries];

			assert_true(d->seq >= seq);
			gaps += d->seq - seq;
			check_desc(d, d->seq);
			seq = d->seq + 1;
		}
		__atomic_store_n(&r.bar2[16], tail, __ATOMIC_RELEASE);
	}
	wr32(r.vfu, 0x04, 0);
	assert_int_equal(baton_vfu_read64(r.vfu, 0, 0x20, &gen), 0);
	assert_int_equal(baton_vfu_read64(r.vfu, 0, 0x28, &dropped), 0);
	assert_true(gaps <= dropped);
	/* Each packet generated was written to the ring or dropped. */
	assert_int_equal(gen, head_of(&r) + dropped);
	assert_int_equal(rd32(r.vfu, 0x18), 0);
	assert_int_equal(status_field(PKT, "enabled"), 0);
	assert_int_equal(status_field(PKT, "tail"), tail);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

static void test_pktgen_dma_error(void **state)
{
	struct ring r;

	(void)state;
	ring_start(&r, PKT2, 16, false);
	/* A ring that ends past the mapping: nothing generated, STATUS says. */
	wr32(r.vfu, 0x10, 32);
	wr32(r.vfu, 0x04, 1);
	/* wait-generated 1 with an enabled device that cannot generate. */
	{
		struct json_object *o = status_request("wait-generated 1 100");
		struct json_object *e;

		assert_true(json_object_object_get_ex(o, "error", &e));
		assert_string_equal(json_object_get_string(e), "timeout");
		json_object_put(o);
	}
	assert_int_equal(rd32(r.vfu, 0x18) & 1, 1);
	assert_int_equal(status_field(PKT2, "generated"), 0);
	assert_int_equal(head_of(&r), 0);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

/*
 * A full ring drops, and the drops are counted; closing the connection
 * resets the device, counts what was in the ring as lost, and the sequence
 * numbers go on after the reset.
 */
static void test_pktgen_drops_and_reset(void **state)
{
	struct json_object *o;
	struct ring r;
	int64_t gen0, resets0, lost0;
	uint64_t dropped, last_seq, v;
	uint32_t head;
	char req[64];

	(void)state;
	resets0 = status_field(PKT2, "resets");
	lost0 = status_field(PKT2, "lost_on_reset");
	gen0 = status_field(PKT2, "generated");
	ring_start(&r, PKT2, 16, true);
	snprintf(req, sizeof(req), "wait-generated %lld %d", (long long)gen0 + 200, WAIT_MS);
	o = status_request(req);
	assert_int_equal(field_of(o, PKT2, "written"), 16);
	assert_int_equal(field_of(o, PKT2, "generated"),
			 16 + field_of(o, PKT2, "dropped"));
	json_object_put(o);
	head = head_of(&r);
	assert_int_equal(head, 16);
	assert_int_equal(baton_vfu_read64(r.vfu, 0, 0x28, &dropped), 0);
	assert_true(dropped >= 184);
	last_seq = r.desc[15].seq;
	check_desc(&r.desc[15], last_seq);

	/* Close with 16 packets unconsumed. */
	baton_vfu_close(r.vfu);
	ring_unmap(&r);

	ring_start(&r, PKT2, 16, false);
	assert_int_equal(status_field(PKT2, "resets"), resets0 + 1);
	assert_int_equal(status_field(PKT2, "lost_on_reset"), lost0 + 16);
	/* Power-on values; the ring address and size were just written again. */
	assert_int_equal(rd32(r.vfu, 0x04), 0);
	assert_int_equal(rd32(r.vfu, 0x14), 20000);
	assert_int_equal(baton_vfu_read64(r.vfu, 0, 0x20, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(baton_vfu_read64(r.vfu, 0, 0x28, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(head_of(&r), 0);
	assert_int_equal(r.bar2[16], 0);

	wr32(r.vfu, 0x04, 1);
	wait_irq(r.efd);
	assert_true(head_of(&r) >= 1);
	assert_true(r.desc[0].seq > last_seq);
	check_desc(&r.desc[0], r.desc[0].seq);
	/* A DEVICE_RESET resets too, and keeps the connection. */
	assert_int_equal(baton_vfu_reset(r.vfu), 0);
	assert_int_equal(rd32(r.vfu, 0x04), 0);
	assert_int_equal(status_field(PKT2, "resets"), resets0 + 2);
	assert_int_equal(status_field(PKT2, "connected"), 1);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

/* Pause holds every generator still: the counters stop moving. */
static void test_pktgen_pause(void **state)
{
	struct json_object *o;
	struct ring r;
	int64_t gen;
	char req[64];

	(void)state;
	ring_start(&r, PKT, 1024, true);
	wait_irq(r.efd);
	o = status_request("pause");
	gen = field_of(o, PKT, "generated");
	json_object_put(o);
	o = status_request("wait-generated 1000000000 50");
	json_object_put(o);
	assert_int_equal(status_field(PKT, "generated"), gen);
	o = status_request("resume");
	json_object_put(o);
	snprintf(req, sizeof(req), "wait-generated %lld %d", (long long)gen + 1, WAIT_MS);
	o = status_request(req);
	assert_true(field_of(o, PKT, "generated") > gen);
	json_object_put(o);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

/*
 * An interrupt still pending is not raised again: packets published over
 * many ticks while the driver has not read its eventfd leave it at 1 (a
 * frozen host costs devsim no write a packet); once read, the next packet
 * interrupts again.
 */
static void test_pktgen_irq_pending(void **state)
{
	struct json_object *o;
	struct ring r;
	int64_t gen;
	uint64_t n;
	char req[64];

	(void)state;
	gen = status_field(PKT, "generated");
	ring_start(&r, PKT, 4096, true);
	/* ~40 ms at PKT_RATE: many ticks, each of which publishes. */
	snprintf(req, sizeof(req), "wait-generated %lld %d", (long long)gen + 2000, WAIT_MS);
	o = status_request(req);
	assert_true(field_of(o, PKT, "generated") >= gen + 2000);
	json_object_put(o);
	assert_true(head_of(&r) >= 2000);
	assert_int_equal(read(r.efd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	wait_irq(r.efd);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

static int64_t status_root(const char *field)
{
	struct json_object *o = status_request("status"), *v;
	int64_t n;

	assert_true(json_object_object_get_ex(o, field, &v));
	n = json_object_get_int64(v);
	json_object_put(o);
	return n;
}

/*
 * A device with nothing to do costs devsim no call a tick: an enabled
 * pktgen at RATE 0, like one no client enabled, is not ticked again until
 * something changes it, however many ticks go by.
 */
static void test_pktgen_idle_not_ticked(void **state)
{
	int64_t ticks, dev_ticks;
	struct json_object *o;
	struct ring r;
	char req[64];

	(void)state;
	ring_start(&r, PKT, 256, false);
	wr32(r.vfu, 0x14, 0);
	wr32(r.vfu, 0x04, 1);
	/* Enabled, generating nothing: each wait ends at its deadline's tick. */
	snprintf(req, sizeof(req), "wait-generated %lld 20",
		 (long long)status_field(PKT, "generated") + 1);
	o = status_request(req);
	json_object_put(o);
	ticks = status_root("ticks");
	dev_ticks = status_root("device_ticks");
	req[strlen(req) - 2] = '5';
	o = status_request(req);
	json_object_put(o);
	assert_true(status_root("ticks") > ticks);
	assert_int_equal(status_root("device_ticks"), dev_ticks);
	baton_vfu_close(r.vfu);
	ring_unmap(&r);
}

static void test_legacy(void **state)
{
	struct baton_vfu *vfu = open_dev(LEG);

	(void)state;
	assert_int_equal(rd32(vfu, 0x00), 0x6c656731);
	wr32(vfu, 0x04, 0xcafe);
	wr32(vfu, 0x04, 0xbeef);
	assert_int_equal(rd32(vfu, 0x04), 0xbeef);
	assert_int_equal(rd32(vfu, 0x08), 2);
	assert_int_equal(status_field(LEG, "scratch"), 0xbeef);
	baton_vfu_close(vfu);
	vfu = open_dev(LEG);
	assert_int_equal(rd32(vfu, 0x04), 0);
	assert_int_equal(rd32(vfu, 0x08), 0);
	baton_vfu_close(vfu);
}

/* A second handle on a dup of the fd: no VERSION, no reset. */
static void test_adopt_in_process(void **state)
{
	struct baton_vfu *vfu = open_dev(LEG), *next = NULL;
	int64_t resets = status_field(LEG, "resets");
	int fd;

	(void)state;
	wr32(vfu, 0x04, 0x600d);
	fd = dup(baton_vfu_fd(vfu));
	assert_true(fd >= 0);
	/* The old version lets go of its handle; its fd goes away on exec. */
	close(baton_vfu_fd(vfu));
	baton_vfu_forget(vfu);
	assert_int_equal(baton_vfu_adopt(fd, &next), 0);
	assert_int_equal(baton_vfu_fd(next), fd);
	assert_int_equal(rd32(next, 0x04), 0x600d);
	assert_int_equal(status_field(LEG, "resets"), resets);
	assert_int_equal(status_field(LEG, "connected"), 1);
	baton_vfu_close(next);
	assert_int_equal(baton_vfu_adopt(-1, &next), -EINVAL);
}

/* The connection in another process, as after an update in socket mode. */
static void test_adopt_other_process(void **state)
{
	struct baton_vfu *vfu = open_dev(LEG);
	int64_t resets = status_field(LEG, "resets");
	int to_child[2], to_parent[2], status;
	char c = 0;
	pid_t pid;

	(void)state;
	wr32(vfu, 0x04, 0x1111);
	assert_int_equal(pipe2(to_child, O_CLOEXEC), 0);
	assert_int_equal(pipe2(to_parent, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct baton_vfu *mine = NULL;
		uint32_t v = 0;
		int ok;

		ok = baton_vfu_adopt(baton_vfu_fd(vfu), &mine) == 0 &&
		     baton_vfu_read32(mine, 0, 0x04, &v) == 0 && v == 0x1111 &&
		     baton_vfu_write32(mine, 0, 0x04, 0x2222) == 0;
		baton_vfu_forget(vfu);
		c = ok ? 'y' : 'n';
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1)
			ok = 0;
		baton_vfu_close(mine);
		close(to_child[0]);
		close(to_child[1]);
		close(to_parent[0]);
		close(to_parent[1]);
		_exit(ok ? 0 : 1);
	}
	/* The parent is the old version: it hands over and closes its copy. */
	close(baton_vfu_fd(vfu));
	baton_vfu_forget(vfu);
	{
		struct pollfd p = { .fd = to_parent[0], .events = POLLIN };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(read(to_parent[0], &c, 1), 1);
		assert_int_equal(c, 'y');
	}
	assert_int_equal(status_field(LEG, "resets"), resets);
	assert_int_equal(status_field(LEG, "scratch"), 0x2222);
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The last holder closed: now the device resets. */
	vfu = open_dev(LEG);
	assert_int_equal(status_field(LEG, "resets"), resets + 1);
	assert_int_equal(rd32(vfu, 0x04), 0);
	baton_vfu_close(vfu);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void test_server_errors(void **state)
{
	struct baton_vfu *vfu = open_dev(EDU);
	struct baton_vfu_region r;
	uint32_t v;
	uint8_t buf[8];
	void *map;
	int mfd = make_memfd(8192, &map);
	int efd = eventfd(0, EFD_CLOEXEC);
	int unsealed;

	(void)state;
	/* Out of the region, a region that does not exist, an empty BAR. */
	assert_int_equal(baton_vfu_region_read(vfu, 0, (1 << 20) - 2, buf, 4), -EINVAL);
	assert_int_equal(baton_vfu_region_read(vfu, 7, 255, buf, 2), -EINVAL);
	assert_int_equal(baton_vfu_region_info(vfu, 9, &r), -EINVAL);
	assert_int_equal(baton_vfu_region_read(vfu, 1, 0, buf, 4), -EINVAL);
	assert_int_equal(baton_vfu_read32(vfu, 12, 0, &v), -EINVAL);
	/* DMA: no fd, an overlap, a file too short, an unknown unmap. */
	assert_int_equal(baton_vfu_dma_map(vfu, 0x1000, 4096, -1, 0, true), -ENOTSUP);
	assert_int_equal(baton_vfu_dma_map(vfu, 0x10000, 8192, mfd, 0, true), 0);
	assert_int_equal(baton_vfu_dma_map(vfu, 0x11000, 8192, mfd, 0, true), -EEXIST);
	assert_int_equal(baton_vfu_dma_map(vfu, 0x100000, 16384, mfd, 0, true), -EINVAL);
	assert_int_equal(baton_vfu_dma_map(vfu, 0x100000, 4096, efd, 0, true), -EINVAL);
	/* A memfd the client could shrink under devsim's mapping. */
	unsealed = memfd_create("unsealed", MFD_CLOEXEC);
	assert_int_equal(ftruncate(unsealed, 4096), 0);
	assert_int_equal(baton_vfu_dma_map(vfu, 0x100000, 4096, unsealed, 0, true), -EINVAL);
	close(unsealed);
	assert_int_equal(baton_vfu_dma_unmap(vfu, 0x10000, 4096), -EINVAL);
	assert_int_equal(baton_vfu_dma_unmap(vfu, 0x10000, 8192), 0);
	/* Interrupts: a type without vectors, a file that is not an eventfd. */
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_MSIX_IRQ_INDEX, efd), -EINVAL);
	assert_int_equal(baton_vfu_set_irq(vfu, 7, efd), -EINVAL);
	assert_int_equal(baton_vfu_set_irq(vfu, VFIO_PCI_MSI_IRQ_INDEX, mfd), -EINVAL);
	/* Local argument errors. */
	assert_int_equal(baton_vfu_region_read(vfu, 0, 0, buf, 0), -EINVAL);
	assert_int_equal(baton_vfu_region_read(vfu, 0, UINT64_MAX, buf, 4), -EINVAL);
	assert_int_equal(baton_vfu_dma_map(vfu, 0, 0, mfd, 0, true), -EINVAL);
	assert_int_equal(baton_vfu_set_timeout(vfu, 0), -EINVAL);
	/* And the connection still works. */
	assert_int_equal(rd32(vfu, 0), 0x010000ed);
	baton_vfu_close(vfu);
	munmap(map, 8192);
	close(mfd);
	close(efd);
}

/*
 * A reply's fd the kernel cannot install because our fd table is full is
 * EMFILE, not a region without an fd; the connection survives it, and the
 * same question asked again with room gets the fd.
 */
static void test_fd_table_full(void **state)
{
	struct baton_vfu *vfu = open_dev(PKT);
	struct baton_vfu_region r = { .fd = -1 };
	struct rlimit old, low;
	int fills[64], n = 0, full, err;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fills[n] = dup(0)) >= 0)
		n++;
	full = errno;
	err = baton_vfu_region_info(vfu, VFIO_PCI_BAR2_REGION_INDEX, &r);
	/* Room again before any check, so that a failure spoils no other test. */
	while (n)
		close(fills[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(full, EMFILE);
	/*
	 * valgrind keeps the limit for the program's own calls only: the
	 * kernel, under the real one, installed the fd above it.
	 */
	if (!err && r.fd >= (int)low.rlim_cur) {
		close(r.fd);
		baton_vfu_close(vfu);
		skip();
	}
	assert_int_equal(err, -EMFILE);
	assert_int_equal(baton_vfu_region_info(vfu, VFIO_PCI_BAR2_REGION_INDEX, &r), 0);
	assert_true(r.fd >= 0);
	close(r.fd);
	assert_int_equal(rd32(vfu, 0x00), 0x70677631);
	baton_vfu_close(vfu);
}

static void test_large_access_split(void **state)
{
	struct baton_vfu *vfu = open_dev(PKT);
	uint8_t *buf = malloc(4096), *back = malloc(4096);

	(void)state;
	/* BAR2 through messages rather than mmap; larger than one read. */
	for (int i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(baton_vfu_region_write(vfu, 2, 0, buf, 4096), 0);
	assert_int_equal(baton_vfu_region_read(vfu, 2, 0, back, 4096), 0);
	assert_memory_equal(buf, back, 4096);
	baton_vfu_close(vfu);
	free(buf);
	free(back);
}

static void test_second_connection_refused(void **state)
{
	struct baton_vfu *first = open_dev(LEG), *second = NULL;
	int err;

	(void)state;
	wr32(first, 0x04, 0x77);
	err = baton_vfu_connect(path_of(LEG), &second);
	assert_true(err == -ECONNRESET || err == -EPIPE);
	assert_int_equal(rd32(first, 0x04), 0x77);
	baton_vfu_close(first);
}

/* A server that never answers: a bounded wait, then a broken handle. */
static void test_timeout(void **state)
{
	struct baton_vfu *vfu = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(baton_vfu_adopt(sv[0], &vfu), 0);
	assert_int_equal(baton_vfu_set_timeout(vfu, 100), 0);
	assert_int_equal(baton_vfu_device_info(vfu, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(baton_vfu_reset(vfu), -ETIMEDOUT);
	baton_vfu_close(vfu);
	close(sv[1]);
}

/* What a fake server queues: a vfio-user header (flags 1: a reply). */
struct reply_header {
	uint16_t msg_id, cmd;
	uint32_t size, flags, error;
};

/* A server that answers garbage: EPROTO, no crash, no hang. */
static void test_bad_reply(void **state)
{
	struct reply_header bad = { .msg_id = 1, .cmd = 4, .size = 0xffffffff, .flags = 1 };
	struct baton_vfu *vfu = NULL;
	uint8_t req[64];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(baton_vfu_adopt(sv[0], &vfu), 0);
	assert_int_equal(baton_vfu_set_timeout(vfu, 2000), 0);
	/* A reply to GET_INFO announcing 4 GiB, queued before the request. */
	assert_int_equal(send(sv[1], &bad, sizeof(bad), MSG_NOSIGNAL), sizeof(bad));
	assert_int_equal(baton_vfu_device_info(vfu, NULL, NULL), -EPROTO);
	/* The stream is lost: later calls fail at once, the same way. */
	assert_int_equal(baton_vfu_reset(vfu), -EPROTO);
	assert_true(read(sv[1], req, sizeof(req)) > 0);
	baton_vfu_close(vfu);
	close(sv[1]);
}

/*
 * An error reply passes the server's errno on as it is; one whose number is
 * no errno (it could pass for a Baton code) is a protocol error, and the
 * stream, still in step, stays usable.
 */
static void test_error_reply(void **state)
{
	const struct reply_header replies[] = {
		{ .msg_id = 1, .cmd = 4, .size = 16, .flags = 0x21,
		  .error = BATON_ERR_REFUSED },
		{ .msg_id = 2, .cmd = 13, .size = 16, .flags = 0x21, .error = EBUSY },
	};
	struct baton_vfu *vfu = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(baton_vfu_adopt(sv[0], &vfu), 0);
	assert_int_equal(send(sv[1], replies, sizeof(replies), MSG_NOSIGNAL), sizeof(replies));
	assert_int_equal(baton_vfu_device_info(vfu, NULL, NULL), -EPROTO);
	assert_int_equal(baton_vfu_reset(vfu), -EBUSY);
	baton_vfu_close(vfu);
	close(sv[1]);
}

/* ---- Reads in flight together (baton_devio_read_submit()) ---- */

/*
 * More reads submitted than may be in flight at once, a call between
 * them, one the server refuses: every good read lands in its own buffer,
 * complete() says the refusal, and the handle goes on.
 */
static void test_read_pipelined(void **state)
{
	struct baton_devio *io = NULL;
	uint32_t live[40], ident = 0, bad = 0;

	(void)state;
	assert_int_equal(baton_devio_vfu(open_dev(EDU), &io), 0);
	assert_int_equal(baton_devio_write32(io, VFIO_PCI_BAR0_REGION_INDEX, 0x04, 0x1234), 0);
	memset(live, 0, sizeof(live));
	for (unsigned int i = 0; i < 40; i++) {
		assert_int_equal(baton_devio_read_submit(io, VFIO_PCI_BAR0_REGION_INDEX, 0x04,
							 &live[i], sizeof(live[i])), 0);
		if (i == 20) {
			assert_int_equal(baton_devio_read32(io, VFIO_PCI_BAR0_REGION_INDEX, 0x00,
							    &ident), 0);
			/* Past BAR 0's 1 MiB: the server's EINVAL, at complete. */
			assert_int_equal(baton_devio_read_submit(io, VFIO_PCI_BAR0_REGION_INDEX,
								 1 << 20, &bad, 4), 0);
		}
	}
	assert_int_equal(baton_devio_read_complete(io), -EINVAL);
	assert_int_equal(ident, 0x010000ed);
	for (unsigned int i = 0; i < 40; i++)
		assert_int_equal(live[i], ~0x1234u);
	/* Reported once; the handle is in step. */
	assert_int_equal(baton_devio_read_complete(io), 0);
	assert_int_equal(baton_devio_read_submit(io, VFIO_PCI_BAR0_REGION_INDEX, 0x00,
						 &ident, 4), 0);
	assert_int_equal(baton_devio_read_complete(io), 0);
	assert_int_equal(ident, 0x010000ed);
	assert_int_equal(baton_devio_read_submit(NULL, 0, 0, &ident, 4), -EINVAL);
	assert_int_equal(baton_devio_read_submit(io, 0, 0, &ident, 0), -EINVAL);
	assert_int_equal(baton_devio_read_complete(NULL), -EINVAL);
	baton_devio_close(io);
}

/* A handle on one end of a socketpair; the test is the server, on *@peer. */
static struct baton_devio *fake_server(int *peer, int timeout_ms)
{
	struct baton_devio *io = NULL;
	struct baton_vfu *vfu = NULL;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(baton_vfu_adopt(sv[0], &vfu), 0);
	assert_int_equal(baton_vfu_set_timeout(vfu, timeout_ms), 0);
	assert_int_equal(baton_devio_vfu(vfu, &io), 0);
	*peer = sv[1];
	return io;
}

/* A REGION_READ as it crosses the socket, request or reply. */
struct read_msg {
	struct reply_header h;
	uint64_t offset;
	uint32_t region, count;
	uint32_t data;
};

/* The next request the client sent: a 4-byte REGION_READ. */
static void next_read(int peer, struct read_msg *m)
{
	assert_int_equal(recv(peer, m, 32, MSG_WAITALL), 32);
	assert_int_equal(m->h.cmd, 9);
	assert_int_equal(m->h.size, 32);
	assert_int_equal(m->count, 4);
}

/* Answer @req with @data, the access echoed as it was asked. */
static void answer(int peer, const struct read_msg *req, uint32_t data)
{
	struct read_msg m = *req;

	m.h.size = 36;
	m.h.flags = 1;
	m.data = data;
	assert_int_equal(send(peer, &m, 36, MSG_NOSIGNAL), 36);
}

/* Reads 0x00, 0x04 and 0x08 submitted, their requests taken by the server. */
static void submit_three(struct baton_devio *io, int peer, uint32_t v[3],
			 struct read_msg req[3])
{
	for (unsigned int i = 0; i < 3; i++) {
		v[i] = 0;
		assert_int_equal(baton_devio_read_submit(io, 0, i * 4, &v[i], 4), 0);
	}
	for (unsigned int i = 0; i < 3; i++) {
		next_read(peer, &req[i]);
		assert_int_equal(req[i].offset, i * 4);
	}
}

/* A fake server's handle with three reads in flight. */
static struct baton_devio *three_in_flight(int *peer, uint32_t v[3], struct read_msg req[3])
{
	struct baton_devio *io = fake_server(peer, WAIT_MS);

	submit_three(io, *peer, v, req);
	return io;
}

/*
 * Replies come in any order, and go by message id: a reply to nothing in
 * flight and a command from the server (refused) come first.
 */
static void test_read_out_of_order(void **state)
{
	const struct reply_header stray = { .msg_id = 999, .cmd = 9, .size = 16, .flags = 1 };
	const struct reply_header cmd = { .msg_id = 7, .cmd = 11, .size = 16, .flags = 0 };
	struct read_msg req[3];
	struct reply_header refused;
	struct baton_devio *io;
	uint32_t v[3];
	int peer;

	(void)state;
	io = three_in_flight(&peer, v, req);
	assert_int_equal(send(peer, &stray, sizeof(stray), MSG_NOSIGNAL), sizeof(stray));
	assert_int_equal(send(peer, &cmd, sizeof(cmd), MSG_NOSIGNAL), sizeof(cmd));
	for (unsigned int i = 3; i-- > 0;)
		answer(peer, &req[i], 0xa0 + i);
	assert_int_equal(baton_devio_read_complete(io), 0);
	assert_int_equal(v[0], 0xa0);
	assert_int_equal(v[1], 0xa1);
	assert_int_equal(v[2], 0xa2);
	assert_int_equal(recv(peer, &refused, sizeof(refused), MSG_WAITALL), sizeof(refused));
	assert_true(refused.msg_id == 7 && refused.flags == 0x21 && refused.error == ENOTSUP);
	baton_devio_close(io);
	close(peer);
}

/*
 * A reply of the right size whose echo is not the read asked, and an
 * error reply with no errno in it: each fails its read (-EPROTO); the
 * stream is still in step, so the next reads work.
 */
static void test_read_bad_answers(void **state)
{
	struct read_msg req[3], wrong;
	struct reply_header err = { .cmd = 9, .size = 16, .flags = 0x21,
				    .error = BATON_ERR_REFUSED };
	struct baton_devio *io;
	uint32_t v[3];
	int peer;

	(void)state;
	io = three_in_flight(&peer, v, req);
	answer(peer, &req[0], 1);
	wrong = req[1];
	wrong.offset = 0x40;
	answer(peer, &wrong, 2);
	answer(peer, &req[2], 3);
	assert_int_equal(baton_devio_read_complete(io), -EPROTO);
	assert_true(v[0] == 1 && v[2] == 3);
	submit_three(io, peer, v, req);
	answer(peer, &req[0], 4);
	answer(peer, &req[1], 4);
	err.msg_id = req[2].h.msg_id;
	assert_int_equal(send(peer, &err, sizeof(err), MSG_NOSIGNAL), sizeof(err));
	assert_int_equal(baton_devio_read_complete(io), -EPROTO);
	assert_true(v[0] == 4 && v[1] == 4);
	submit_three(io, peer, v, req);
	for (unsigned int i = 0; i < 3; i++)
		answer(peer, &req[i], 5);
	assert_int_equal(baton_devio_read_complete(io), 0);
	assert_true(v[0] == 5 && v[1] == 5 && v[2] == 5);
	baton_devio_close(io);
	close(peer);
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A server that does not answer: at most 16 reads go out, the next
 * submit waits for room until the timeout, and complete() ends there too -
 * bounded, never a hang; the handle is then lost.
 */
static void test_read_no_answer(void **state)
{
	struct baton_devio *io;
	uint32_t v[17];
	int64_t t0;
	int peer;

	(void)state;
	io = fake_server(&peer, 100);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(baton_devio_read_submit(io, 0, 0, &v[i], 4), 0);
	t0 = ms_now();
	assert_int_equal(baton_devio_read_submit(io, 0, 0, &v[16], 4), -ETIMEDOUT);
	assert_true(ms_now() - t0 >= 100 && ms_now() - t0 < WAIT_MS);
	assert_int_equal(baton_devio_read_complete(io), -ETIMEDOUT);
	assert_int_equal(baton_devio_read32(io, 0, 0, &v[0]), -ETIMEDOUT);
	baton_devio_close(io);
	close(peer);
}

/* A server that dies halfway through a reply, or announces a reply of
 * another size: the reads fail, at once, and the handle is lost. */
static void test_read_server_dies(void **state)
{
	struct read_msg req[3], big;
	struct baton_devio *io;
	uint32_t v[3];
	int peer;

	(void)state;
	io = three_in_flight(&peer, v, req);
	answer(peer, &req[0], 1);
	assert_int_equal(send(peer, &req[1], 8, MSG_NOSIGNAL), 8);
	close(peer);
	assert_int_equal(baton_devio_read_complete(io), -ECONNRESET);
	assert_int_equal(v[0], 1);
	assert_int_equal(baton_devio_read_submit(io, 0, 0, &v[0], 4), -ECONNRESET);
	baton_devio_close(io);

	io = three_in_flight(&peer, v, req);
	memset(&big, 0, sizeof(big));
	memcpy(&big, &req[0], 32);
	big.h.size = 40;
	big.h.flags = 1;
	assert_int_equal(send(peer, &big, 40, MSG_NOSIGNAL), 40);
	assert_int_equal(baton_devio_read_complete(io), -EPROTO);
	baton_devio_close(io);
	close(peer);
}

/*
 * A handle forgotten (its fds handed to the next version) with reads in
 * flight reads their replies first: the next holder finds none of them.
 */
static void test_read_forget_collects(void **state)
{
	struct read_msg req[3];
	struct baton_devio *io;
	int peer, fds[BATON_DEVIO_MAX_FDS];
	uint32_t v[3];
	char byte;

	(void)state;
	io = three_in_flight(&peer, v, req);
	for (unsigned int i = 0; i < 3; i++)
		answer(peer, &req[i], i);
	assert_int_equal(baton_devio_fds(io, fds, NULL), 1);
	baton_devio_forget(io);
	assert_int_equal(recv(fds[0], &byte, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	close(fds[0]);
	close(peer);
}

/* connect()'s own errno, and a path no socket address can hold. */
static void test_connect_errors(void **state)
{
	struct baton_vfu *vfu = NULL;
	char longer[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

	(void)state;
	assert_int_equal(baton_vfu_connect(path_of("0000:00:1f.0"), &vfu), -ENOENT);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(baton_vfu_connect(longer, &vfu), -ENAMETOOLONG);
	assert_null(vfu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_ids),
		cmocka_unit_test(test_config_command_only),
		cmocka_unit_test(test_edu_registers),
		cmocka_unit_test(test_edu_dma),
		cmocka_unit_test(test_pktgen_ring),
		cmocka_unit_test(test_pktgen_dma_error),
		cmocka_unit_test(test_pktgen_drops_and_reset),
		cmocka_unit_test(test_pktgen_pause),
		cmocka_unit_test(test_pktgen_irq_pending),
		cmocka_unit_test(test_pktgen_idle_not_ticked),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_adopt_in_process),
		cmocka_unit_test(test_adopt_other_process),
		cmocka_unit_test(test_server_errors),
		cmocka_unit_test(test_large_access_split),
		cmocka_unit_test(test_fd_table_full),
		cmocka_unit_test(test_second_connection_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_bad_reply),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_read_pipelined),
		cmocka_unit_test(test_read_out_of_order),
		cmocka_unit_test(test_read_bad_answers),
		cmocka_unit_test(test_read_no_answer),
		cmocka_unit_test(test_read_server_dies),
		cmocka_unit_test(test_read_forget_collects),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
