/* SPDX-License-Identifier: MIT */
#ifndef DEVSIM_H
#define DEVSIM_H

/**
 * DOC: devsim internals
 *
 * devsim is one single-threaded epoll loop (loop.c; main.c sets it up)
 * serving emulated PCI functions over vfio-user (server.c) and answering a
 * line protocol on a status socket (status.c).  Everything is owned by one
 * struct devsim:
 *
 *  - each struct devsim_dev has a listening socket and at most one client
 *    connection; a device type (edu.c, pktgen.c, legacy.c) supplies its
 *    registers through struct devsim_type;
 *  - every fd in the loop is a struct devsim_watch whose handler the loop
 *    calls with the epoll events;
 *  - a 1 ms timerfd drives the device types that do work on their own
 *    (pktgen) and the status socket's pending waits; a device is ticked
 *    only once the time its type said it next has work has come, so that
 *    a process's cost a tick follows its packets, not its devices.
 *
 * Device state changes only inside handlers: there is no locking.  Memory
 * a client lent for DMA is reached only through devsim_dma(), which checks
 * the whole range against the mappings every time: mappings can disappear
 * between two accesses (DMA_UNMAP, reset), so no pointer into them is kept.
 */

#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include <baton/pci.h>

struct json_object;
struct devsim;
struct devsim_dev;

#define DEVSIM_NUM_REGIONS VFIO_PCI_NUM_REGIONS
#define DEVSIM_NUM_IRQS VFIO_PCI_NUM_IRQS
#define DEVSIM_CONFIG_SIZE 256
#define DEVSIM_DEFAULT_RATE 20000
#define DEVSIM_IRQ_BATCH 64	/* interrupts written with one poll() */

/* ---- The event loop (loop.c) ---- */

struct devsim_watch {
	int fd;
	void (*handle)(struct devsim_watch *w, uint32_t events);
};

/* Register @w->fd for @events; 0 or -1 with errno. */
int devsim_watch_add(struct devsim *sim, struct devsim_watch *w, uint32_t events);
int devsim_watch_mod(struct devsim *sim, struct devsim_watch *w, uint32_t events);
void devsim_watch_del(struct devsim *sim, struct devsim_watch *w);

void devsim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format log lines but print nothing (the fuzzer); false in devsim. */
extern bool devsim_log_quiet;

uint64_t devsim_now_ns(void);

/* ---- Devices ---- */

/*
 * A region the client sees.  Trapped regions (@mem NULL) go through the
 * type's read/write; a mappable one is a shared memfd (@fd) mapped at @mem,
 * the same pages the client maps.
 */
struct devsim_region {
	uint64_t size;		/* 0: the device has no such region */
	uint32_t flags;		/* VFIO_REGION_INFO_FLAG_* */
	int fd;
	uint8_t *mem;
};

struct devsim_dma_map {
	uint64_t iova;
	uint64_t size;
	uint8_t *addr;
	bool writable;
};

/**
 * struct devsim_type - what makes edu an edu
 * @name:       as in --device SPEC and the status JSON
 * @vendor:     config space ids
 * @device:
 * @class_code: 0xBBSSPP
 * @init:       set @dev->regions and @dev->priv; 0 or -1 with errno
 * @fini:       free what @init made (may be NULL)
 * @reset:      put the registers at their power-on values; the core has
 *              already dropped DMA mappings and interrupts
 * @read:       a naturally aligned access of 1, 2, 4 or 8 bytes to a trapped
 *              region; returns the value
 * @write:      the same, for writes
 * @tick:       called at the millisecond tick once @dev->tick_at has come
 *              (may be NULL); returns when the device next has work: 0 for
 *              the next tick, UINT64_MAX for none until the client or the
 *              status socket does something to it (which sets @tick_at to
 *              0).  A device with nothing to do costs no call a tick.
 * @status:     add the type's counters to the device's status object
 */
struct devsim_type {
	const char *name;
	uint16_t vendor;
	uint16_t device;
	uint32_t class_code;
	int (*init)(struct devsim_dev *dev);
	void (*fini)(struct devsim_dev *dev);
	void (*reset)(struct devsim_dev *dev);
	uint64_t (*read)(struct devsim_dev *dev, uint32_t region, uint64_t off,
			 unsigned int size);
	void (*write)(struct devsim_dev *dev, uint32_t region, uint64_t off,
		      unsigned int size, uint64_t val);
	uint64_t (*tick)(struct devsim_dev *dev, uint64_t now_ns);
	void (*status)(struct devsim_dev *dev, struct json_object *obj);
};

extern const struct devsim_type devsim_edu;
extern const struct devsim_type devsim_pktgen;
extern const struct devsim_type devsim_legacy;

struct devsim_conn;

/*
 * Faults a pktgen injects into its own stream, each at one sequence
 * number (0: none), so that a test can see a consumer report exactly that
 * fault and nothing else: --device pktgen@ADDR,loss=SEQ,dup=SEQ,reset=SEQ.
 */
struct devsim_faults {
	uint64_t loss;		/* the packet is not written: a gap */
	uint64_t dup;		/* the packet is written twice */
	uint64_t reset;		/* after the packet, once the driver has consumed
				 * the ring, the device resets: no packet is lost
				 * with it, so the reset is the only fault */
};

struct devsim_dev {
	struct devsim *sim;
	const struct devsim_type *type;
	struct baton_pci_addr addr;
	char name[BATON_PCI_ADDR_STRLEN];
	uint32_t rate;			/* --device ...,rate= (pktgen) */
	struct devsim_faults faults;	/* --device ...,loss= dup= reset= (pktgen) */

	struct devsim_watch listen;
	char *sock_path;
	struct devsim_conn *conn;	/* the one client, or NULL */

	uint8_t config[DEVSIM_CONFIG_SIZE];
	struct devsim_region regions[DEVSIM_NUM_REGIONS];
	struct devsim_dma_map *dma;
	unsigned int ndma;
	int irq_fd[DEVSIM_NUM_IRQS];	/* vector 0's eventfd, or -1 */
	uint64_t resets;
	uint64_t tick_at;		/* its next tick (ns), 0: the next one */
	void *priv;
};

/**
 * devsim_dma() - where the client's memory for an IOVA range is
 * @dev:   the device
 * @iova:  first byte
 * @len:   bytes, > 0
 * @write: the device will write
 *
 * Return: a pointer valid until the handler returns, or NULL when the
 * range is not inside one mapping (or not writable for @write).
 */
void *devsim_dma(struct devsim_dev *dev, uint64_t iova, uint64_t len, bool write);

/**
 * devsim_irq() - signal the device's interrupt
 * @dev: the device
 *
 * Writes 1 to the MSI eventfd if the client set one, else to INTx's; in
 * a tick (struct devsim's irq_batch), once the tick's devices are done,
 * with the others they raised (devsim_irq_flush()), and not if the
 * eventfd has not been read since it was last written (still pending).
 *
 * Return: whether an eventfd was signalled.
 */
bool devsim_irq(struct devsim_dev *dev);
/* Write the interrupts raised so far in a tick: one poll() for them all. */
void devsim_irq_flush(struct devsim *sim);

/* ---- vfio-user server (server.c) ---- */

/* Create @dev's regions and socket; 0 or -1 with errno, logged. */
int devsim_dev_init(struct devsim *sim, struct devsim_dev *dev, const char *dir);
void devsim_dev_fini(struct devsim_dev *dev);
/* The reset of vfio-pci's last close; also DEVICE_RESET. */
void devsim_dev_reset(struct devsim_dev *dev);
bool devsim_dev_connected(const struct devsim_dev *dev);

/* ---- The whole emulator ---- */

struct devsim_status;

struct devsim {
	int epfd;
	struct devsim_dev *devs;
	unsigned int ndevs, cap;
	bool paused;			/* generation stopped by "pause" */
	bool stop;
	struct devsim_status *status;
	uint64_t ticks, dev_ticks;	/* the timer's, the types' tick calls */
	/* The interrupts a tick raised, written after it (devsim_irq()). */
	bool irq_batch;
	unsigned int n_irqs;
	struct devsim_dev *irqs[DEVSIM_IRQ_BATCH];
};

/*
 * Tick every device whose type has a tick and whose tick_at has come, then
 * the status socket's waits.
 */
void devsim_tick(struct devsim *sim, uint64_t now_ns);
/*
 * One round of the loop: wait up to @timeout_ms (-1: for ever) for events,
 * call their handlers, reap failed status connections.  Returns the number
 * of events handled (0 on a timeout or EINTR), or -1 with errno.
 */
int devsim_dispatch(struct devsim *sim, int timeout_ms);

/* ---- Status socket (status.c) ---- */

/* The status socket at @path, or DIR/status.sock when @path is NULL. */
int devsim_status_init(struct devsim *sim, const char *dir, const char *path);
/* The status as the "status" request answers it; the caller puts it. */
struct json_object *devsim_status_json(struct devsim *sim);
void devsim_status_fini(struct devsim *sim);
/* After each tick: answer the waits that are satisfied or expired. */
void devsim_status_tick(struct devsim *sim);
/* After each batch of events: free connections that failed meanwhile. */
void devsim_status_reap(struct devsim *sim);

/* pktgen's view for the status socket's "wait-generated". */
bool devsim_pktgen_enabled(const struct devsim_dev *dev);
uint64_t devsim_pktgen_generated(const struct devsim_dev *dev);

#endif /* DEVSIM_H */
