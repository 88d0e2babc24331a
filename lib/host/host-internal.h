/* SPDX-License-Identifier: MIT */
#ifndef BATON_HOST_INTERNAL_H
#define BATON_HOST_INTERNAL_H

/* The host's insides, shared by host.c (start, restore) and update.c. */

#include <baton/host.h>

/* The environment an update hands to the next version. */
#define BATON_ENV_IMAGE_FD	"BATON_IMAGE_FD"	/* the sealed image memfd */
#define BATON_ENV_FDS		"BATON_FDS"		/* fd numbers, image order */
#define BATON_ENV_FREEZE_NS	"BATON_FREEZE_NS"	/* CLOCK_MONOTONIC at FREEZE */
#define BATON_ENV_PREV_ARGV	"BATON_PREV_ARGV"	/* the previous argv, \x1f-separated */
#define BATON_ENV_ROLLBACK	"BATON_ROLLBACK"	/* set when coming back */
#define BATON_ENV_DRY_RUN	"BATON_DRY_RUN"		/* the report fd of a dry run */
#define BATON_ENV_HANDOVER	"BATON_HANDOVER_FD"	/* socket mode: the channel */
#define BATON_ENV_FORCE		"BATON_FORCE"		/* "1": forced, orphans are fine */
#define BATON_ENV_ORPHAN	"BATON_ORPHAN"		/* the update's orphan override */

/*
 * Tokens with the top bit set name the host's own fds: region memfds
 * (HOST | index) and the control socket's (HOST | CONTROL | which).
 */
#define BATON_TOKEN_HOST	(1ull << 63)
#define BATON_TOKEN_CONTROL	(1ull << 62)
#define BATON_TOKEN_LISTEN	(BATON_TOKEN_HOST | BATON_TOKEN_CONTROL | 1)
#define BATON_TOKEN_REPLY	(BATON_TOKEN_HOST | BATON_TOKEN_CONTROL | 2)

struct baton_region {
	struct baton_host *host;
	char *label;
	int fd;
	void *base;
	size_t size;
	bool inherited;
	uint64_t token;
	/*
	 * A region devices use (baton_device_region()) lives as long as it
	 * has users - the kernel's FLB: preserved with the first, released
	 * with the last.  Program regions have no users and live until
	 * baton_region_release().
	 */
	bool shared;
	unsigned users;
};

/* A named set of preserved fds; the default one is "", and the host's own
 * fds are in it. */
struct baton_session {
	struct baton_host *host;
	char *name;
};

struct preserved_fd {
	struct baton_session *session;
	uint64_t token;
	int fd;
	enum baton_fd_kind kind;
};

struct baton_device {
	struct baton_host *host;
	struct baton_device_info info;
	const struct baton_driver *drv;	/* NULL: quarantined, carried over */
	void *priv;
	bool frozen;
	/* A quarantined device's record, handed on as it came. */
	uint8_t schema[BATON_GUID_SIZE];
	char *schema_name;			/* NULL when the record had none */
	uint32_t schema_version;
	void *state;
	uint32_t state_size;
	/* The shared regions it uses, recorded in its image record. */
	struct baton_region **uses;
	size_t n_uses;
};

struct baton_host {
	int (*prepare)(struct baton_host *host, void *arg);
	void *arg;
	char *program;
	char *exec_path;
	char **argv;
	uint64_t generation;
	bool restored;

	struct baton_region **regions;
	size_t n_regions;
	uint64_t region_seq;		/* tokens stay unique as regions come and go */
	struct baton_session **sessions;	/* [0] is the default, "" */
	size_t n_sessions;
	struct preserved_fd *fds;
	size_t n_fds;
	/* Restoring: the number of each image fd here, in image order. */
	int *inherited;
	size_t n_inherited;
	struct baton_device **devices;
	size_t n_devices;

	/* What the update that started this process did. */
	struct baton_update_result last;
	struct baton_decision *decisions;
	struct baton_contracts *contracts;
	struct baton_image *image;
	void *image_map;
	size_t image_len;

	/* Socket mode: everything now belongs to the new process. */
	bool handed_over;
};

/* Socket mode's fd transfer (transfer.c). */
#define BATON_FDS_PER_MSG 250
int baton_transfer_send(int sock, int image_fd, const int *fds, size_t n);
int baton_transfer_recv(int sock, int *image_fd, int **fds, size_t *n);

/* Track a host-owned fd (control socket) under a host token. */
int baton_host_keep_fd(struct baton_host *host, uint64_t token, int fd,
		       enum baton_fd_kind kind);
/* The fd of a host token, or -1. */
int baton_host_kept_fd(const struct baton_host *host, uint64_t token);
/* Stop tracking a host token's fd (the caller closes it). */
void baton_host_drop_fd(struct baton_host *host, uint64_t token);

/* Stop listening: close the control socket and remove its path. */
void baton_control_close(struct baton_host *host);

/* After a restore: tell the client that asked for the update how it went. */
void baton_control_report(struct baton_host *host, const char *mode);

/* The schema a driver writes (its first native accept), or NULL. */
const struct baton_schema *baton_driver_written(const struct baton_driver *drv);

int baton_host_add_dev(struct baton_host *host, struct baton_device *dev);

uint64_t baton_now_ns(void);

#endif /* BATON_HOST_INTERNAL_H */
