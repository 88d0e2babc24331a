/* SPDX-License-Identifier: MIT */
#ifndef BATON_VFIO_UAPI_H
#define BATON_VFIO_UAPI_H

/**
 * DOC: the kernel's iommufd and VFIO cdev ABI, as Baton uses it
 *
 * What <linux/vfio.h> of the oldest C library headers Baton builds on
 * (Debian 12: Linux 6.1) lacks, for the VFIO device cdev bound to an
 * iommufd (Linux 6.6 on; IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS
 * 6.13 on), written down as facts of the kernel's ABI: ioctl numbers,
 * struct sizes, member offsets (include/uapi/linux/iommufd.h and vfio.h).
 * They are a contract with the kernel and must not change;
 * tests/vm/vfio_abi_check.c compiles this header beside the kernel's own
 * headers of the VM test's kernel and fails on any difference.
 *
 * Every call takes a pointer to a struct whose first u32 is the size the
 * caller knows; the kernel accepts a shorter one down to its last
 * mandatory member (so the 6.6 size of the bind below works on every
 * kernel) and a longer one whose unknown tail is zero.
 */

#include <stdint.h>
#include <sys/ioctl.h>

#include <linux/vfio.h>

/* ---- VFIO device cdev: /dev/vfio/devices/vfioN ---- */

/* VFIO_DEVICE_BIND_IOMMUFD: @iommufd in, the device's id in it out. */
struct baton_vfio_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
};

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT: @pt_id in (an IOAS), the page table out. */
struct baton_vfio_attach_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid;
};

#define BATON_VFIO_DEVICE_BIND_IOMMUFD		_IO(VFIO_TYPE, VFIO_BASE + 18)
#define BATON_VFIO_DEVICE_ATTACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 19)

/* ---- iommufd: /dev/iommu ---- */

#define BATON_IOMMUFD_TYPE ';'

#define BATON_IOMMUFD_CMD_IOAS_ALLOC		0x81
#define BATON_IOMMUFD_CMD_IOAS_IOVA_RANGES	0x84
#define BATON_IOMMUFD_CMD_IOAS_UNMAP		0x86
#define BATON_IOMMUFD_CMD_IOAS_MAP_FILE		0x8f
#define BATON_IOMMUFD_CMD_IOAS_CHANGE_PROCESS	0x92

/* IOMMU_IOAS_MAP_FILE's flags. */
#define BATON_IOMMU_IOAS_MAP_FIXED_IOVA	(1u << 0)
#define BATON_IOMMU_IOAS_MAP_WRITEABLE	(1u << 1)
#define BATON_IOMMU_IOAS_MAP_READABLE	(1u << 2)

/* IOMMU_IOAS_ALLOC: @flags zero, the new IOAS's id out. */
struct baton_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

/*
 * IOMMU_IOAS_IOVA_RANGES: of @ioas_id, @num_iovas ranges at
 * @allowed_iovas (a pointer); -EMSGSIZE with the count when they do not
 * fit.  -ENOENT for an id that is no IOAS.
 */
struct baton_iommu_ioas_iova_ranges {
	uint32_t size;
	uint32_t ioas_id;
	uint32_t num_iovas;
	uint32_t reserved;
	uint64_t allowed_iovas __attribute__((aligned(8)));
	uint64_t out_iova_alignment __attribute__((aligned(8)));
};

/* IOMMU_IOAS_UNMAP: exactly a mapping's @iova and @length. */
struct baton_iommu_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	uint64_t iova __attribute__((aligned(8)));
	uint64_t length __attribute__((aligned(8)));
};

/* IOMMU_IOAS_MAP_FILE: @length bytes of @fd from @start, at @iova. */
struct baton_iommu_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	uint64_t start __attribute__((aligned(8)));
	uint64_t length __attribute__((aligned(8)));
	uint64_t iova __attribute__((aligned(8)));
};

/* IOMMU_IOAS_CHANGE_PROCESS: @reserved zero. */
struct baton_iommu_ioas_change_process {
	uint32_t size;
	uint32_t reserved;
};

#define BATON_IOMMU_IOAS_ALLOC \
	_IO(BATON_IOMMUFD_TYPE, BATON_IOMMUFD_CMD_IOAS_ALLOC)
#define BATON_IOMMU_IOAS_IOVA_RANGES \
	_IO(BATON_IOMMUFD_TYPE, BATON_IOMMUFD_CMD_IOAS_IOVA_RANGES)
#define BATON_IOMMU_IOAS_UNMAP \
	_IO(BATON_IOMMUFD_TYPE, BATON_IOMMUFD_CMD_IOAS_UNMAP)
#define BATON_IOMMU_IOAS_MAP_FILE \
	_IO(BATON_IOMMUFD_TYPE, BATON_IOMMUFD_CMD_IOAS_MAP_FILE)
#define BATON_IOMMU_IOAS_CHANGE_PROCESS \
	_IO(BATON_IOMMUFD_TYPE, BATON_IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

#endif /* BATON_VFIO_UAPI_H */
