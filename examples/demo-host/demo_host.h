/* SPDX-License-Identifier: MIT */
#ifndef DEMO_HOST_H
#define DEMO_HOST_H

/*
 * What the demo host's drivers share with its main loop (demo_host.c):
 * the device handle discovery opened for the device being probed (a
 * vfio-user connection to devsim, or a VFIO device: the drivers do not
 * know which), the loop's watch list, and the tokens under which a
 * device's fds are preserved.
 */

#include <stdbool.h>
#include <stdint.h>

#include <baton/host.h>
#include <baton/devio.h>
#include <json-c/json.h>

#ifndef DEMO_HOST_VERSION
#error "build with -DDEMO_HOST_VERSION=1 or 2"
#endif

/*
 * Each device keeps its fds in a session of its own, named after its
 * address (the kernel LUO's sessions): the tokens inside are the same for
 * every device.
 */
enum demo_fd_token {
	DEMO_FD_CONNECTION = 1,		/* the vfio-user socket or the VFIO device:
					 * closing it resets the device */
	DEMO_FD_IRQ = 2,		/* the interrupt eventfd */
	DEMO_FD_PAGE = 3,		/* pktgen's BAR2 page, a memfd */
	DEMO_FD_CONNECTION_2 = 4,	/* VFIO: the group, or the iommufd */
	DEMO_FD_CONNECTION_3 = 5,	/* VFIO type1: the container */
};

/*
 * A device's session, named by its address, which holds its fds by the
 * tokens above: a driver looks it up once for the fds it preserves or
 * takes together (a restore takes three or four in a row).
 */
int demo_session(struct baton_device *dev, struct baton_session **out);

/*
 * The handle discovery opened to a device it is adding: probe() takes it
 * (and sets this to NULL).  A driver's probe has only the device; this is
 * how it gets the handle that found it.
 */
extern struct baton_devio *demo_probing;

/* The directory devsim serves its device sockets in; NULL with --vfio. */
extern const char *demo_devsim_dir;

/* How many device sockets discovery found there, before probing any: what
 * the pktgen driver sizes its DMA pool for. */
extern unsigned int demo_device_count;

/* --drop-connections: the pktgen driver does not preserve its connection
 * (the control run: what a live update without Baton costs). */
extern bool demo_drop_connections;

/* The main loop calls @ready(@arg) when @fd is readable. */
int demo_watch(int fd, void (*ready)(void *arg), void *arg);
void demo_unwatch(int fd);

/* Preserve every fd of the device's handle in @s, its session
 * (DEMO_FD_CONNECTION...). */
int demo_preserve_connection(struct baton_session *s, struct baton_devio *io);

/*
 * A preserved handle, adopted; or, when the previous version did not
 * preserve one, a new one to the device (a device reset by the close).
 * *@fresh says which.
 */
int demo_connection(struct baton_session *s, struct baton_device *dev,
		    struct baton_devio **io, bool *fresh);

/* A restore that fails hands a preserved handle back untouched, for a
 * version that comes back; a fresh one is closed. */
void demo_release_connection(struct baton_devio *io, bool fresh);

/* Each driver's counters for the final report, one object per device. */
json_object *demo_pktgen_stats(struct baton_device *dev);
bool demo_is_pktgen(struct baton_device *dev);

#endif /* DEMO_HOST_H */
