/* SPDX-License-Identifier: MIT */
#ifndef BATON_VFIO_USER_PROTOCOL_H
#define BATON_VFIO_USER_PROTOCOL_H

/**
 * DOC: vfio-user wire format
 *
 * The messages Baton's client (lib/backends/vfio-user/client.c) and the
 * device emulator (devsim/) exchange, written from QEMU's
 * docs/interop/vfio-user.rst.  Only the subset both sides implement is
 * here.  All fields are in host byte order: the protocol only runs between
 * processes on one host.
 *
 * These layouts are a contract with every vfio-user peer, not only ours:
 * they may never change.  A new message gets a new struct; the sizes are
 * checked at compile time below.
 *
 * Every message, either direction, is a struct vfio_user_header followed by
 * a command-specific payload; header.size counts both.  A reply echoes the
 * command's msg_id and cmd, sets VFIO_USER_F_TYPE_REPLY, and on failure sets
 * VFIO_USER_F_ERROR with a UNIX errno in header.error and carries no
 * payload.  File descriptors (DMA_MAP, SET_IRQS, the REGION_INFO reply of an
 * mmappable region) travel as SCM_RIGHTS with the message's first byte.
 */

#include <stdint.h>

/* The version both sides speak: 0.1, the only one published. */
#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

/*
 * No message is larger: a peer announcing more is broken or hostile and its
 * connection is closed rather than buffered.
 */
#define VFIO_USER_MAX_MSG_SIZE (1u << 20)
/* The largest REGION_READ/WRITE count devsim accepts and announces. */
#define VFIO_USER_MAX_DATA_XFER (64u << 10)
/* The most fds one message may carry (max_msg_fds). */
#define VFIO_USER_MAX_MSG_FDS 8

enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
};

/* header.flags */
#define VFIO_USER_F_TYPE_MASK 0xfu
#define VFIO_USER_F_TYPE_COMMAND 0x0u
#define VFIO_USER_F_TYPE_REPLY 0x1u
#define VFIO_USER_F_NO_REPLY (1u << 4)
#define VFIO_USER_F_ERROR (1u << 5)

struct vfio_user_header {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t size;		/* header and payload */
	uint32_t flags;
	uint32_t error;		/* errno, in an error reply */
};

/* VFIO_USER_VERSION, both directions; a NUL-terminated JSON object follows. */
struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
};

/* VFIO_USER_DMA_MAP request; the reply has no payload. */
#define VFIO_USER_DMA_READ_FLAG (1u << 0)
#define VFIO_USER_DMA_WRITE_FLAG (1u << 1)
struct vfio_user_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;	/* in the fd sent with the message */
	uint64_t addr;		/* IOVA */
	uint64_t size;
};

/* VFIO_USER_DMA_UNMAP request, and its reply (the request echoed). */
struct vfio_user_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
};

/* VFIO_USER_DEVICE_GET_INFO, both directions. */
struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
};

/* VFIO_USER_DEVICE_GET_REGION_INFO, both directions. */
struct vfio_user_region_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_REGION_INFO_FLAG_* */
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;	/* for mmap() of the fd the reply carries */
};

/* VFIO_USER_DEVICE_GET_IRQ_INFO, both directions. */
struct vfio_user_irq_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_IRQ_INFO_* */
	uint32_t index;
	uint32_t count;
};

/*
 * VFIO_USER_DEVICE_SET_IRQS request; with VFIO_IRQ_SET_DATA_BOOL, @count
 * bytes follow.  The reply has no payload.
 */
struct vfio_user_irq_set {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* */
	uint32_t index;
	uint32_t start;
	uint32_t count;
};

/*
 * VFIO_USER_REGION_READ and _WRITE, both directions: the data follows in a
 * write request and in a read reply.
 */
struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
};

_Static_assert(sizeof(struct vfio_user_header) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct vfio_user_version) == 4, "version is 4 bytes");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma_map is 32 bytes");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma_unmap is 24 bytes");
_Static_assert(sizeof(struct vfio_user_device_info) == 16, "device_info is 16 bytes");
_Static_assert(sizeof(struct vfio_user_region_info) == 32, "region_info is 32 bytes");
_Static_assert(sizeof(struct vfio_user_irq_info) == 16, "irq_info is 16 bytes");
_Static_assert(sizeof(struct vfio_user_irq_set) == 20, "irq_set is 20 bytes");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "region_access is 16 bytes");

#endif /* BATON_VFIO_USER_PROTOCOL_H */
