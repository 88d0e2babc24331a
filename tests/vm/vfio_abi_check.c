// SPDX-License-Identifier: MIT
/*
 * Baton's iommufd and VFIO cdev ABI (lib/backends/vfio/uapi.h) against
 * the kernel's own include/uapi/linux/iommufd.h and vfio.h, of the kernel
 * the VM test boots: every ioctl number, struct size and member offset
 * Baton uses must be the kernel's.  tests/vm/vfio.sh compiles this with
 * those headers first on the include path; a difference fails the
 * compile.  Nothing runs.
 */
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "backends/vfio/uapi.h"

#include "abi_check.h"

SAME(BATON_VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD);
SAME(BATON_VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
/* The bind's 6.6 size: the kernel's minimum, out_devid its last member. */
SAME(sizeof(struct baton_vfio_bind_iommufd),
     offsetof(struct vfio_device_bind_iommufd, out_devid) + sizeof(__u32));
SAME_MEMBER(baton_vfio_bind_iommufd, argsz, vfio_device_bind_iommufd, argsz);
SAME_MEMBER(baton_vfio_bind_iommufd, flags, vfio_device_bind_iommufd, flags);
SAME_MEMBER(baton_vfio_bind_iommufd, iommufd, vfio_device_bind_iommufd, iommufd);
SAME_MEMBER(baton_vfio_bind_iommufd, out_devid, vfio_device_bind_iommufd, out_devid);
SAME(sizeof(struct baton_vfio_attach_pt), sizeof(struct vfio_device_attach_iommufd_pt));
SAME_MEMBER(baton_vfio_attach_pt, argsz, vfio_device_attach_iommufd_pt, argsz);
SAME_MEMBER(baton_vfio_attach_pt, flags, vfio_device_attach_iommufd_pt, flags);
SAME_MEMBER(baton_vfio_attach_pt, pt_id, vfio_device_attach_iommufd_pt, pt_id);
SAME_MEMBER(baton_vfio_attach_pt, pasid, vfio_device_attach_iommufd_pt, pasid);

SAME(BATON_IOMMUFD_TYPE, IOMMUFD_TYPE);
SAME(BATON_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC);
SAME(BATON_IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_IOVA_RANGES);
SAME(BATON_IOMMU_IOAS_UNMAP, IOMMU_IOAS_UNMAP);
SAME(BATON_IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_MAP_FILE);
SAME(BATON_IOMMU_IOAS_CHANGE_PROCESS, IOMMU_IOAS_CHANGE_PROCESS);
SAME(BATON_IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA);
SAME(BATON_IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE);
SAME(BATON_IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE);

SAME(sizeof(struct baton_iommu_ioas_alloc), sizeof(struct iommu_ioas_alloc));
SAME_MEMBER(baton_iommu_ioas_alloc, size, iommu_ioas_alloc, size);
SAME_MEMBER(baton_iommu_ioas_alloc, flags, iommu_ioas_alloc, flags);
SAME_MEMBER(baton_iommu_ioas_alloc, out_ioas_id, iommu_ioas_alloc, out_ioas_id);

SAME(sizeof(struct baton_iommu_ioas_iova_ranges), sizeof(struct iommu_ioas_iova_ranges));
SAME_MEMBER(baton_iommu_ioas_iova_ranges, size, iommu_ioas_iova_ranges, size);
SAME_MEMBER(baton_iommu_ioas_iova_ranges, ioas_id, iommu_ioas_iova_ranges, ioas_id);
SAME_MEMBER(baton_iommu_ioas_iova_ranges, num_iovas, iommu_ioas_iova_ranges, num_iovas);
SAME_MEMBER(baton_iommu_ioas_iova_ranges, reserved, iommu_ioas_iova_ranges, __reserved);
SAME_MEMBER(baton_iommu_ioas_iova_ranges, allowed_iovas, iommu_ioas_iova_ranges,
	    allowed_iovas);
SAME_MEMBER(baton_iommu_ioas_iova_ranges, out_iova_alignment, iommu_ioas_iova_ranges,
	    out_iova_alignment);

SAME(sizeof(struct baton_iommu_ioas_unmap), sizeof(struct iommu_ioas_unmap));
SAME_MEMBER(baton_iommu_ioas_unmap, size, iommu_ioas_unmap, size);
SAME_MEMBER(baton_iommu_ioas_unmap, ioas_id, iommu_ioas_unmap, ioas_id);
SAME_MEMBER(baton_iommu_ioas_unmap, iova, iommu_ioas_unmap, iova);
SAME_MEMBER(baton_iommu_ioas_unmap, length, iommu_ioas_unmap, length);

SAME(sizeof(struct baton_iommu_ioas_map_file), sizeof(struct iommu_ioas_map_file));
SAME_MEMBER(baton_iommu_ioas_map_file, size, iommu_ioas_map_file, size);
SAME_MEMBER(baton_iommu_ioas_map_file, flags, iommu_ioas_map_file, flags);
SAME_MEMBER(baton_iommu_ioas_map_file, ioas_id, iommu_ioas_map_file, ioas_id);
SAME_MEMBER(baton_iommu_ioas_map_file, fd, iommu_ioas_map_file, fd);
SAME_MEMBER(baton_iommu_ioas_map_file, start, iommu_ioas_map_file, start);
SAME_MEMBER(baton_iommu_ioas_map_file, length, iommu_ioas_map_file, length);
SAME_MEMBER(baton_iommu_ioas_map_file, iova, iommu_ioas_map_file, iova);

SAME(sizeof(struct baton_iommu_ioas_change_process),
     sizeof(struct iommu_ioas_change_process));
SAME_MEMBER(baton_iommu_ioas_change_process, size, iommu_ioas_change_process, size);
SAME_MEMBER(baton_iommu_ioas_change_process, reserved, iommu_ioas_change_process,
	    __reserved);
