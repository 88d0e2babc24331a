/* SPDX-License-Identifier: MIT */
#ifndef BATON_DEVIO_INTERNAL_H
#define BATON_DEVIO_INTERNAL_H

/*
 * What a backend of <baton/devio.h> implements.  lib/backends/devio.c
 * checks every argument and keeps the table of DMA mappings; a backend
 * sees only valid calls, and a mapping only once it is not in the table
 * (map, adopt) or is exactly one of it (unmap).
 */

#include <baton/devio.h>

/* One DMA mapping: what the device sees at @iova, and what backs it. */
struct devio_dma {
	uint64_t iova;
	uint64_t size;
	uint64_t offset;	/* in @fd */
	int fd;			/* the caller's memfd, during map and adopt only */
	bool writable;
	void *vaddr;		/* type1: the handle's own mapping of @fd */
};

struct devio_ops {
	int (*region_info)(struct baton_devio *io, uint32_t index,
			   struct baton_devio_region *out);
	int (*region_read)(struct baton_devio *io, uint32_t index, uint64_t offset,
			   void *buf, uint32_t count);
	int (*region_write)(struct baton_devio *io, uint32_t index, uint64_t offset,
			    const void *buf, uint32_t count);
	int (*dma_map)(struct baton_devio *io, struct devio_dma *m);
	int (*dma_unmap)(struct baton_devio *io, struct devio_dma *m);
	/* May be NULL: nothing to do beyond recording the mapping. */
	int (*dma_adopt)(struct baton_devio *io, struct devio_dma *m);
	/* May be NULL: nothing to do, nothing to check. */
	int (*freeze)(struct baton_devio *io);
	int (*freeze_check)(struct baton_devio *io);
	int (*thaw)(struct baton_devio *io);
	int (*set_irq)(struct baton_devio *io, uint32_t index, int eventfd);
	/* May be NULL: nothing is ever masked. */
	int (*unmask_irq)(struct baton_devio *io, uint32_t index);
	int (*reset)(struct baton_devio *io);
	/*
	 * May be NULL: the read is done at submit.  A read started, its
	 * reply collected by read_complete() (or a later call), which
	 * returns the first failure among the reads started since it last
	 * returned.
	 */
	int (*read_submit)(struct baton_devio *io, uint32_t index, uint64_t offset,
			   void *buf, uint32_t count);
	int (*read_complete)(struct baton_devio *io);
	/* Frees the backend's part; closes its fds unless @forget. */
	void (*release)(struct baton_devio *io, bool forget);
};

struct baton_devio {
	const struct devio_ops *ops;
	enum baton_devio_backend backend;
	unsigned int n_fds;
	int fds[BATON_DEVIO_MAX_FDS];
	enum baton_fd_kind kinds[BATON_DEVIO_MAX_FDS];
	struct devio_dma *dma;
	size_t n_dma, cap_dma;
	void *priv;		/* the backend's */
	int read_err;		/* without read_submit: the first failure since complete */
};

/* A new handle of @backend with @ops; fds and priv are the caller's to set. */
struct baton_devio *devio_new(enum baton_devio_backend backend,
			      const struct devio_ops *ops);

/* The handle's DMA mapping starting at @iova with @size, or NULL. */
struct devio_dma *devio_find_dma(struct baton_devio *io, uint64_t iova, uint64_t size);

/*
 * Whether this library has the kernel's VFIO backend: lib/backends/vfio
 * says yes, lib/backends/novfio.c (meson -Dvfio=false) no.
 */
bool devio_has_vfio(void);

/* "vfio-user", "vfio-type1", "vfio-iommufd"; NULL for no backend. */
const char *devio_backend_name(enum baton_devio_backend backend);
/* Whether this library has @backend. */
bool devio_backend_built(enum baton_devio_backend backend);

/* vfio-user/client.c: a connection on @fd, which stays the caller's on
 * failure (-ENOMEM). */
int vfu_new(int fd, struct baton_vfu **out);
/*
 * vfio-user/client.c: a REGION_READ sent without waiting for its reply
 * (baton_vfu_region_read()'s arguments; @buf is filled when the reply is
 * read); 0, -EINVAL, or the handle's lost stream.  vfu_collect_reads()
 * reads every reply still due, and returns the first submitted read's
 * failure since it last returned, or 0.  Replies to reads arriving while
 * another call waits go to their reads meanwhile.
 */
int vfu_submit_read(struct baton_vfu *vfu, uint32_t index, uint64_t offset,
		    void *buf, uint32_t count);
int vfu_collect_reads(struct baton_vfu *vfu);

/*
 * Backends' adopt, owning @fds from success on (on failure they stay the
 * caller's: a restore that fails hands them back); the VFIO ones
 * check first that the fds are @want's device's, or of one device when
 * @want is NULL (lib/backends/vfio/identity.c).
 */
int devio_vfu_adopt(const int *fds, unsigned int n, struct baton_devio **out);
int vfio_type1_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		     struct baton_devio **out);
int vfio_iommufd_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		       struct baton_devio **out);

#endif /* BATON_DEVIO_INTERNAL_H */
