// SPDX-License-Identifier: MIT
/**
 * DOC: vfio-edu - QEMU's edu through the kernel's VFIO, updated live
 *
 *   vfio-edu-vN --backend type1|iommufd|vfio-user --device ADDR
 *               --control PATH --report FILE [--ready-fd N] [--devsim DIR]
 *               [--intx] [--no-ipc-lock]
 *   vfio-edu-v1 --backend type1|iommufd --device ADDR --report FILE
 *               --control-run
 *
 * The VM test's program (tests/vm/vfio.sh, the guest's vfio scenario):
 * one edu device bound to vfio-pci, driven through <baton/devio.h> on
 * libbaton's host, and updated live by `baton update`.
 *
 *   version 1: driver edu-vfio, schema edu-vfio-state v1
 *   version 2: driver edu-vfio-next (renamed), schema edu-vfio-state v2,
 *              reading v1 through a converter
 *   version 0: driver edu-vfio-none, which reads neither: a preflight of
 *              an update to it refuses, and v1 must go on driving edu
 *
 * A cold start probes: the device opened (vfio-pci resets it, its first
 * opener), a 2-page region of Baton's mapped at IOVA 0x200000 (below
 * edu's 28-bit DMA mask), MSI routed to an eventfd, liveness and
 * factorial set, and a known buffer (page 1) DMA'd through the device's
 * buffer into page 0 with an interrupt at the end, waited for on the
 * eventfd.  The restore (v2) maps nothing: it adopts the device's fds,
 * the mapping (type1: the new address only), the eventfd; it checks the
 * registers and the earlier buffer, and once it owns the program does a
 * DMA of a new buffer to the same IOVA and waits for its interrupt on the
 * preserved eventfd.  SIGUSR1 does another DMA (the hostile case: after
 * a refused update, v1 still drives the device).  Each of these writes
 * one JSON line to --report FILE (appended), which the guest's script
 * reads.
 *
 * --backend vfio-user --devsim DIR: the same device emulated by devsim
 * (its socket DIR/ADDR.sock), the same driver: what the test compares the
 * blackout of an update with.
 *
 * --intx: the interrupt is edu's INTx line instead of MSI: vfio-pci masks
 * it each time it fires, and the driver unmasks it once it has quieted
 * the device (baton_devio_unmask_irq()).
 *
 * --no-ipc-lock: the program drops CAP_IPC_LOCK, for good (bounding set
 * too, so that no later version gets it back at exec): with it, as root,
 * iommufd does not account the pages it pins (IOPT_PAGES_ACCOUNT_NONE)
 * and IOMMU_IOAS_CHANGE_PROCESS has nothing to move.
 *
 * A restore of version 2 fails on purpose, once it has adopted the device
 * and its mapping, while FAIL_RESTORE exists (the guest makes it): the
 * hostile case of a new version that dies in its restore, after which the
 * previous version must come back and drive the device as before.
 * MISADOPT holding "device" makes version 2 adopt the fds as another
 * device's (the next bus), holding "kinds" with the last two fds swapped
 * (type1's group where the container goes, the cdev where the iommufd
 * goes): baton_vfio_adopt() must refuse them.  INVALIDATE holding
 * "prepare" or "freeze" makes version 1 invalidate its mapping's address
 * behind the handle's back, once, there (type1): the kernel then refuses
 * the freeze, as it would with an emulated device's group in the
 * container - caught by preserve()'s check before FREEZE, or at FREEZE.
 *
 * vfio-edu-v2-novfio is version 2 linked with a libbaton built without
 * the kernel's VFIO (-Dvfio=false): its dry run must refuse the device.
 *
 * --control-run: what a program without Baton does across an update.
 * Probe as above, then close everything and open the device again
 * without mapping: the device's DMA to the IOVA faults at the IOMMU (the
 * kernel logs a DMAR fault) and page 0 does not change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <linux/vfio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <baton/baton.h>
#include <baton/devio.h>
#include <baton/vfio.h>
#include <baton/vfio_user.h>

#include "edu_io.h"

#ifndef VFIO_EDU_VERSION
#error "build with -DVFIO_EDU_VERSION=0, 1 or 2"
#endif

#define PAGE		4096u
/* What one DMA copies: below the device's 4 KiB (edu_io.h). */
#define DMA_BYTES	2048u
#define DMA_IOVA	0x200000u
#define LIVENESS	0x0ddba11u
#define FACTORIAL_OF	8u
#define WAIT_MS		EDU_DONE_WITHIN_MS
#define FAIL_RESTORE	"/run/vfio-edu-fail-restore"
#define MISADOPT	"/run/vfio-edu-misadopt"
#define INVALIDATE	"/run/vfio-edu-invalidate"

/* The preserved fds (the default session). */
enum { TOKEN_IO = 1, TOKEN_IRQ = 2, TOKEN_IO_2 = 4, TOKEN_IO_3 = 5 };
static const uint64_t io_tokens[BATON_DEVIO_MAX_FDS] = { TOKEN_IO, TOKEN_IO_2, TOKEN_IO_3 };

BATON_SCHEMA(edu_vfio_state_v1, "edu-vfio-state", 1,
	BATON_FIELD(u64, iova),
	BATON_FIELD(u32, liveness),
	BATON_FIELD(u32, factorial),
	BATON_FIELD(u32, seed),
	BATON_FIELD(u32, dmas));

BATON_SCHEMA(edu_vfio_state_v2, "edu-vfio-state", 2,
	BATON_FIELD(u64, iova),
	BATON_FIELD(u32, liveness),
	BATON_FIELD(u32, factorial),
	BATON_FIELD(u32, seed),
	BATON_FIELD(u32, dmas),
	BATON_FIELD(u32, restores),
	BATON_FIELD(u32, converted));

#if VFIO_EDU_VERSION == 2
typedef struct edu_vfio_state_v2 edu_state;
#else
typedef struct edu_vfio_state_v1 edu_state;
#endif

struct edu {
	struct edu_dev d;	/* first: edu_io.h's callbacks find it there */
	uint8_t *mem;		/* two pages: Baton's region "edu-dma" */
	int memfd;
	int irq;
	uint64_t irqs;
	edu_state s;
};

static enum baton_devio_backend backend;
static const char *backend_name;
static const char *devsim_dir;
static uint32_t irq_index = VFIO_PCI_MSI_IRQ_INDEX;
static const char *report_path;
static struct baton_devio *probing;
static struct baton_pci_addr device_addr;

/*
 * What the kernel charges this process for pinned memory, in KiB, from
 * /proc/self/status: type1 counts the pages it pins in VmLck (locked_vm),
 * iommufd in VmPin (pinned_vm).  After an update the new process must
 * carry the charge (type1's VFIO_DMA_MAP_FLAG_VADDR, iommufd's
 * IOMMU_IOAS_CHANGE_PROCESS), or it went with the old one.
 */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t len = strlen(field);
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			v = strtol(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* CAP_IPC_LOCK gone from this process and from whatever it execs. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	const uint32_t bit = 1u << CAP_IPC_LOCK;	/* in data[0]: below 32 */

	if (prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) ||
	    syscall(SYS_capget, &hdr, data))
		return -errno;
	data[0].effective &= ~bit;
	data[0].permitted &= ~bit;
	data[0].inheritable &= ~bit;
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* One JSON line appended to --report FILE. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	FILE *f = fopen(report_path, "ae");
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	fprintf(f, "{\"version\":%d,\"backend\":\"%s\",", VFIO_EDU_VERSION, backend_name);
	vfprintf(f, fmt, ap);
	fprintf(f, "}\n");
	va_end(ap);
	fclose(f);
}

static struct edu *edu_new(void)
{
	return edu_dev_new(sizeof(struct edu), offsetof(struct edu, s), sizeof(edu_state));
}

static void fill(uint8_t *p, uint32_t seed)
{
	for (uint32_t i = 0; i < DMA_BYTES; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static bool holds(const uint8_t *p, uint32_t seed)
{
	uint8_t want[DMA_BYTES];

	fill(want, seed);
	return !memcmp(p, want, DMA_BYTES);
}

/* An interrupt on the eventfd within WAIT_MS: 0, or -ETIMEDOUT. */
static int wait_irq(struct edu *e)
{
	struct pollfd p = { .fd = e->irq, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, WAIT_MS) != 1)
		return -ETIMEDOUT;
	if (read(e->irq, &n, sizeof(n)) != sizeof(n))
		return -EIO;
	e->irqs += n;
	return 0;
}

static int dma(struct edu *e, uint64_t src, uint64_t dst, uint32_t cmd)
{
	return edu_dma(e->d.io, src, dst, DMA_BYTES, cmd);
}

/*
 * Page 1 := the pattern of @seed; the device copies it into its buffer,
 * then from there into page 0, interrupting at the end.  *@copied says
 * whether page 0 then holds it; *@irq whether the interrupt came.
 */
static int dma_round_trip(struct edu *e, uint32_t seed, bool *copied, bool *irq)
{
	uint8_t *mem = e->mem;
	int err;

	fill(mem + PAGE, seed);
	err = dma(e, DMA_IOVA + PAGE, EDU_DMA_BUFFER, 0) ?:
	      dma(e, EDU_DMA_BUFFER, DMA_IOVA, EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	if (err)
		return err;
	*irq = !wait_irq(e);
	/* Quiet the device (INTx is a level), then let the line fire again. */
	if (*irq)
		err = edu_wr(e->d.io, EDU_IRQ_ACK, EDU_IRQ_DMA) ?: baton_devio_unmask_irq(e->d.io, irq_index);
	if (err)
		return err;
	*copied = holds(mem, seed);
	if (*copied)
		e->s.dmas++;
	return 0;
}

static void free_edu(struct edu *e)
{
	if (e->irq >= 0)
		close(e->irq);
	free(e);
}

/* The device's DMA memory: Baton's region, the same in every version. */
static int use_region(struct edu *e, struct baton_device *dev)
{
	struct baton_region *r;
	int err = baton_device_region(dev, "edu-dma", 2 * PAGE, &r);

	if (err)
		return err;
	e->mem = baton_region_base(r);
	e->memfd = baton_region_fd(r);
	return 0;
}

/* Liveness, factorial, DMA mapping, interrupt, a first DMA. */
static int exercise(struct edu *e, bool *copied, bool *irq)
{
	uint32_t ident, live, fact;
	int err;

	err = edu_rd(e->d.io, EDU_IDENT, &ident) ?:
	      baton_devio_set_irq(e->d.io, irq_index, e->irq) ?:
	      baton_devio_dma_map(e->d.io, DMA_IOVA, 2 * PAGE, e->memfd, 0, true) ?:
	      edu_wr(e->d.io, EDU_LIVENESS, LIVENESS) ?: edu_rd(e->d.io, EDU_LIVENESS, &live) ?:
	      edu_wr(e->d.io, EDU_FACTORIAL, FACTORIAL_OF) ?:
	      edu_wait_clear(e->d.io, EDU_STATUS, EDU_STATUS_COMPUTING) ?:
	      edu_rd(e->d.io, EDU_FACTORIAL, &fact);
	if (err)
		return err;
	if ((ident & 0xffff) != 0x00ed || live != ~LIVENESS || fact != 40320)
		return -BATON_ERR_BADVALUE;
	e->s.iova = DMA_IOVA;
	e->s.liveness = LIVENESS;
	e->s.factorial = fact;
	e->s.seed = 1;
	return dma_round_trip(e, e->s.seed, copied, irq);
}

static int preserve(struct baton_host *host, struct edu *e)
{
	enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS];
	int fds[BATON_DEVIO_MAX_FDS];
	unsigned int n = baton_devio_fds(e->d.io, fds, kinds);
	int err = baton_host_preserve_fd(host, TOKEN_IRQ, e->irq, BATON_FD_EVENTFD);

	for (unsigned int i = 0; !err && i < n; i++)
		err = baton_host_preserve_fd(host, io_tokens[i], fds[i], kinds[i]);
	return err;
}

static int edu_probe(struct baton_device *dev)
{
	struct edu *e = edu_new();
	bool copied = false, irq = false;
	int err;

	if (!e)
		return -ENOMEM;
	e->d.io = probing;
	e->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = e->irq < 0 ? -errno : use_region(e, dev) ?: exercise(e, &copied, &irq);
	report("\"event\":\"probe\",\"rc\":%d,\"dma_copied\":%s,\"irq\":%s,\"intx\":%s,"
	       "\"vm_lck_kib\":%ld,\"vm_pin_kib\":%ld", err, copied ? "true" : "false",
	       irq ? "true" : "false", irq_index == VFIO_PCI_INTX_IRQ_INDEX ? "true" : "false",
	       status_kib("VmLck"), status_kib("VmPin"));
	if (!err && (!copied || !irq))
		err = -BATON_ERR_BADVALUE;
	if (!err)
		err = preserve(baton_device_host(dev), e);
	if (err) {
		e->d.io = NULL;	/* discovery's, which closes it */
		free_edu(e);
		return err;
	}
	probing = NULL;
	baton_device_set_priv(dev, e);
	return 0;
}

/* What @path holds, its first line, into @buf ("" when it does not exist). */
static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f && !fgets(buf, (int)len, f))
		buf[0] = '\0';
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * INVALIDATE says @at: this mapping's address invalidated behind the
 * handle's back (type1), once: the kernel then refuses to invalidate
 * them all, as a freeze does.
 */
static void invalidate_behind(struct baton_device *dev, const char *at)
{
	struct edu *e = baton_device_priv(dev);
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .flags = VFIO_DMA_UNMAP_FLAG_VADDR,
		.iova = DMA_IOVA, .size = 2 * PAGE,
	};
	int fds[BATON_DEVIO_MAX_FDS];
	char want[16];

	read_file(INVALIDATE, want, sizeof(want));
	if (strcmp(want, at) || baton_devio_backend(e->d.io) != BATON_DEVIO_VFIO_TYPE1)
		return;
	unlink(INVALIDATE);
	baton_devio_fds(e->d.io, fds, NULL);
	report("\"event\":\"invalidated\",\"at\":\"%s\",\"rc\":%d", at,
	       ioctl(fds[2], VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0);
}

static int edu_preserve(struct baton_device *dev, void *state, size_t size)
{
	invalidate_behind(dev, "prepare");
	return edu_dev_preserve(dev, state, size);
}

static int edu_freeze(struct baton_device *dev)
{
	invalidate_behind(dev, "freeze");
	return edu_dev_freeze(dev);
}

static int edu_validate(const void *state, size_t size)
{
	const edu_state *s = state;

	if (size != sizeof(*s))
		return -EINVAL;
	return s->iova == DMA_IOVA ? 0 : -BATON_ERR_BADVALUE;
}

/*
 * The fds the previous version preserved, as a device handle: this
 * device's, checked (baton_vfio_adopt()), unless MISADOPT says to make a
 * mistake.
 */
static int adopt(struct baton_host *host, struct baton_devio **io)
{
	struct baton_pci_addr addr = device_addr;
	int fds[BATON_DEVIO_MAX_FDS], fd;
	unsigned int n = 0;
	char how[16];

	while (n < BATON_DEVIO_MAX_FDS && (fds[n] = baton_host_take_fd(host, io_tokens[n])) >= 0)
		n++;
	if (!n)
		return -BATON_ERR_MISSING;
	if (backend == BATON_DEVIO_VFIO_USER)
		return baton_devio_adopt(backend, fds, n, io);
	/* Version 2 only: version 1, coming back, adopts them right. */
	how[0] = '\0';
	if (VFIO_EDU_VERSION == 2)
		read_file(MISADOPT, how, sizeof(how));
	if (!strcmp(how, "device")) {
		addr.bus++;
	} else if (!strcmp(how, "kinds") && n >= 2) {
		fd = fds[n - 1];
		fds[n - 1] = fds[n - 2];
		fds[n - 2] = fd;
	}
	return baton_vfio_adopt(&addr, backend, fds, n, io);
}

static int edu_restore(struct baton_device *dev, const void *state, size_t size)
{
	struct baton_host *host = baton_device_host(dev);
	uint32_t live = 0, fact = 0;
	bool regs_ok, earlier_ok = false;
	int64_t t[3];	/* before adopt, after it, after the mapping's */
	struct edu *e;
	int err;

	err = edu_validate(state, size);
	if (err)
		return err;
	e = edu_new();
	if (!e)
		return -ENOMEM;
	memcpy(&e->s, state, size);
	e->irq = baton_host_take_fd(host, TOKEN_IRQ);
	t[0] = edu_now_us();
	err = e->irq < 0 ? e->irq : adopt(host, &e->d.io);
	t[1] = edu_now_us();
	if (err) {
		report("\"event\":\"restore\",\"rc\":%d,\"adopted\":false", err);
		e->irq = -1;
		free_edu(e);
		return err;
	}
	/* Nothing mapped for the device: its mapping is the previous one's. */
	err = use_region(e, dev) ?:
	      baton_devio_dma_adopt(e->d.io, DMA_IOVA, 2 * PAGE, e->memfd, 0, true);
	t[2] = edu_now_us();
	err = err ?: edu_rd(e->d.io, EDU_LIVENESS, &live) ?: edu_rd(e->d.io, EDU_FACTORIAL, &fact);
	regs_ok = !err && live == ~e->s.liveness && fact == e->s.factorial;
	if (!err)
		earlier_ok = holds(e->mem, e->s.seed);
	report("\"event\":\"restore\",\"rc\":%d,\"regs_ok\":%s,\"earlier_buffer_ok\":%s,"
	       "\"driver\":\"%s\",\"vm_lck_kib\":%ld,\"vm_pin_kib\":%ld,"
	       "\"adopt_us\":%lld,\"dma_adopt_us\":%lld", err,
	       regs_ok ? "true" : "false", earlier_ok ? "true" : "false",
	       baton_device_driver(dev)->name, status_kib("VmLck"), status_kib("VmPin"),
	       (long long)(t[1] - t[0]), (long long)(t[2] - t[1]));
	if (!err && (!regs_ok || !earlier_ok))
		err = -BATON_ERR_BADVALUE;
	if (!err && VFIO_EDU_VERSION == 2 && !access(FAIL_RESTORE, F_OK)) {
		report("\"event\":\"restore-fails\",\"rc\":%d", -BATON_ERR_BADVALUE);
		err = -BATON_ERR_BADVALUE;
	}
	if (err) {
		/* Untouched for whoever comes back: nothing closed. */
		baton_devio_forget(e->d.io);
		e->irq = -1;
		free_edu(e);
		return err;
	}
#if VFIO_EDU_VERSION == 2
	e->s.restores++;
#endif
	baton_device_set_priv(dev, e);
	return 0;
}

static void edu_remove(struct baton_device *dev)
{
	struct edu *e = baton_device_priv(dev);

	if (!e)
		return;
	/* The fds are the next version's now, or the keeper's: not closed. */
	baton_devio_forget(e->d.io);
	e->irq = -1;
	free_edu(e);
	baton_device_set_priv(dev, NULL);
}

static const struct baton_driver_ops edu_ops = {
	.probe = edu_probe,
	.preserve = edu_preserve,
	.freeze = edu_freeze,
	.unfreeze = edu_dev_unfreeze,
	.restore = edu_restore,
	.validate = edu_validate,
	.remove = edu_remove,
};

#if VFIO_EDU_VERSION == 1
BATON_DRIVER(edu_vfio, "edu-vfio", 0, &edu_ops,
	BATON_MATCH_DEVICE(0x1234, 0x11e8),
	BATON_ACCEPT(edu_vfio_state_v1));
#elif VFIO_EDU_VERSION == 2
int edu_vfio_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len);

int edu_vfio_v1_to_v2(const void *from, size_t from_len, void *to, size_t to_len)
{
	const struct edu_vfio_state_v1 *v1 = from;
	struct edu_vfio_state_v2 *v2 = to;

	if (from_len != sizeof(*v1) || to_len != sizeof(*v2))
		return -EINVAL;
	*v2 = (struct edu_vfio_state_v2){
		.iova = v1->iova, .liveness = v1->liveness, .factorial = v1->factorial,
		.seed = v1->seed, .dmas = v1->dmas, .converted = 1,
	};
	return 0;
}

BATON_DRIVER(edu_vfio_next, "edu-vfio-next", 0, &edu_ops,
	BATON_MATCH_DEVICE(0x1234, 0x11e8),
	BATON_ACCEPT(edu_vfio_state_v2),
	BATON_ACCEPT_CONVERTED(edu_vfio_state_v1, edu_vfio_state_v2, edu_vfio_v1_to_v2));
#else
BATON_SCHEMA(edu_other_state, "edu-other-state", 1,
	BATON_FIELD(u32, nothing));

BATON_DRIVER(edu_vfio_none, "edu-vfio-none", 0, &edu_ops,
	BATON_MATCH_DEVICE(0x1234, 0x11e8),
	BATON_ACCEPT(edu_other_state));
#endif

/* Another DMA, the next seed: the device is still ours and still works. */
static void dma_again(struct baton_host *host, const char *why)
{
	struct baton_device *dev = baton_host_next_device(host, NULL);
	struct edu *e = dev ? baton_device_priv(dev) : NULL;
	bool copied = false, irq = false;
	int err = -ENODEV;

	if (e)
		err = dma_round_trip(e, ++e->s.seed, &copied, &irq);
	report("\"event\":\"%s\",\"rc\":%d,\"dma_copied\":%s,\"irq\":%s,\"driver\":\"%s\","
	       "\"vm_lck_kib\":%ld,\"vm_pin_kib\":%ld,\"converted\":%s", why, err,
	       copied ? "true" : "false", irq ? "true" : "false",
	       dev && baton_device_driver(dev) ? baton_device_driver(dev)->name : "",
	       status_kib("VmLck"), status_kib("VmPin"),
#if VFIO_EDU_VERSION == 2
	       e && e->s.converted ? "true" : "false"
#else
	       "false"
#endif
	       );
}

/* The device, opened anew: through VFIO, or devsim's socket for it. */
static int open_device(struct baton_devio **io)
{
	char path[4096], name[BATON_PCI_ADDR_STRLEN];
	struct baton_vfu *vfu;
	int err;

	if (backend != BATON_DEVIO_VFIO_USER)
		return baton_vfio_open(&device_addr, backend, io);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.sock", devsim_dir,
			     baton_pci_addr_format(&device_addr, name)) >= sizeof(path))
		return -ENAMETOOLONG;
	err = baton_vfu_connect(path, &vfu);
	return err ? err : baton_devio_vfu(vfu, io);
}

static int add_device(struct baton_host *host)
{
	struct baton_device_info info = { .addr = device_addr, .mandatory = true,
					  .orphan = BATON_ORPHAN_QUARANTINE };
	struct baton_device *dev;
	int err = open_device(&probing) ?: baton_devio_pci_ids(probing, &info.ids) ?:
		  baton_host_add_device(host, &info, &dev);

	if (probing)
		baton_devio_close(probing);
	probing = NULL;
	return err;
}

/*
 * Without Baton: the mapping made, a DMA through it, everything closed,
 * the device opened again and the same DMA asked for without the mapping.
 */
static int control_run(void)
{
	struct edu e = { .irq = -1 };
	bool copied = false, irq = false, copied_after = false, irq_after = false;
	int err;

	e.memfd = memfd_create("edu-dma", MFD_CLOEXEC);
	if (e.memfd < 0 || ftruncate(e.memfd, 2 * PAGE))
		return -errno;
	e.mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, e.memfd, 0);
	e.irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e.mem == MAP_FAILED || e.irq < 0)
		return -errno;
	err = baton_vfio_open(&device_addr, backend, &e.d.io) ?:
	      baton_devio_set_irq(e.d.io, irq_index, e.irq) ?:
	      baton_devio_dma_map(e.d.io, DMA_IOVA, 2 * PAGE, e.memfd, 0, true) ?:
	      dma_round_trip(&e, 1, &copied, &irq);
	if (!err) {
		/* What a restart does: the last close resets the device and
		 * drops its mappings; the new opener maps nothing. */
		baton_devio_close(e.d.io);
		e.d.io = NULL;
		err = baton_vfio_open(&device_addr, backend, &e.d.io) ?:
		      baton_devio_set_irq(e.d.io, irq_index, e.irq) ?:
		      dma_round_trip(&e, 2, &copied_after, &irq_after);
	}
	report("\"event\":\"control\",\"rc\":%d,\"dma_copied_before\":%s,"
	       "\"irq_before\":%s,\"dma_copied_after_reopen\":%s,\"page0_still_first\":%s",
	       err, copied ? "true" : "false", irq ? "true" : "false",
	       copied_after ? "true" : "false", holds(e.mem, 1) ? "true" : "false");
	baton_devio_close(e.d.io);
	close(e.irq);
	return err;
}

static void usage(void)
{
	fprintf(stderr, "usage: vfio-edu-v%d --backend type1|iommufd|vfio-user --device ADDR "
		"--report FILE (--control PATH [--ready-fd N] | --control-run) "
		"[--devsim DIR] [--intx] [--no-ipc-lock]\n", VFIO_EDU_VERSION);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "device", required_argument, NULL, 'd' },
		{ "control", required_argument, NULL, 'c' },
		{ "report", required_argument, NULL, 'r' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "control-run", no_argument, NULL, 'C' },
		{ "devsim", required_argument, NULL, 's' },
		{ "intx", no_argument, NULL, 'I' },
		{ "no-ipc-lock", no_argument, NULL, 'L' },
		{ 0 },
	};
	const struct baton_host_opts opts = { .program = "vfio-edu", .argv = argv };
	const char *control = NULL;
	bool ctl_run = false;
	struct baton_host *host;
	int ready_fd = -1, sigfd, opt, err;
	sigset_t mask;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			backend_name = optarg;
			backend = !strcmp(optarg, "type1") ? BATON_DEVIO_VFIO_TYPE1 :
				  !strcmp(optarg, "iommufd") ? BATON_DEVIO_VFIO_IOMMUFD :
				  !strcmp(optarg, "vfio-user") ? BATON_DEVIO_VFIO_USER : 0;
			break;
		case 's': devsim_dir = optarg; break;
		case 'I': irq_index = VFIO_PCI_INTX_IRQ_INDEX; break;
		case 'L':
			if (drop_ipc_lock()) {
				perror("vfio-edu: dropping CAP_IPC_LOCK");
				return 1;
			}
			break;
		case 'd':
			if (baton_pci_addr_parse(optarg, &device_addr))
				usage();
			break;
		case 'c': control = optarg; break;
		case 'r': report_path = optarg; break;
		case 'R': ready_fd = atoi(optarg); break;
		case 'C': ctl_run = true; break;
		default: usage();
		}
	}
	if (!backend || !report_path || !control == !ctl_run || optind != argc ||
	    (backend == BATON_DEVIO_VFIO_USER) != !!devsim_dir ||
	    (ctl_run && backend == BATON_DEVIO_VFIO_USER))
		usage();
	if (ctl_run)
		return control_run() ? 1 : 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	err = baton_host_create(&opts, &host);
	if (err) {
		fprintf(stderr, "vfio-edu: %s\n", baton_strerror(err));
		return 1;
	}
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	err = sigfd < 0 ? -errno : baton_host_restored(host) ? 0 : add_device(host);
	err = err ?: baton_host_listen(host, control);
	if (err) {
		fprintf(stderr, "vfio-edu: %s\n", baton_strerror(err));
		baton_host_roll_back(host, baton_strerror(err));
		baton_host_destroy(host);
		return 1;
	}
	err = baton_host_take_over(host);
	if (err) {
		fprintf(stderr, "vfio-edu: %s\n", baton_strerror(err));
		baton_host_destroy(host);
		return 1;
	}
	/* The new version, owning the device: a DMA of a new buffer to the
	 * same IOVA, its interrupt on the preserved eventfd. */
	if (baton_host_restored(host))
		dma_again(host, "after-update");
	if (ready_fd >= 0 && !baton_host_restored(host)) {
		(void)!write(ready_fd, "ready\n", 6);
		close(ready_fd);
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = baton_host_fd(host), .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			if (read(sigfd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
				break;
			dma_again(host, "usr1");
		}
		if (p[0].revents && baton_host_dispatch(host) == BATON_HANDED_OVER) {
			baton_host_destroy(host);
			return 0;
		}
	}
	baton_host_destroy(host);
	close(sigfd);
	return 0;
}
