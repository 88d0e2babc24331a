// SPDX-License-Identifier: MIT
/**
 * DOC: vfio-user as a device I/O backend
 *
 * <baton/devio.h> over a vfio-user connection (client.c): one fd, the
 * socket.  Every call is the client's request of the same name (reads
 * submitted are sent at once, their replies collected later); the
 * server maps a DMA mapping's memfd itself, so a mapping adopted from the
 * previous version needs nothing sent, and freezing for a handover
 * nothing at all (no addresses of ours are involved).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <baton/vfio_user.h>

#include "internal.h"
#include "backends/devio-internal.h"

static struct baton_vfu *vfu_of(const struct baton_devio *io)
{
	return io->priv;
}

static int vfu_region_info(struct baton_devio *io, uint32_t index,
			   struct baton_devio_region *out)
{
	struct baton_vfu_region r;
	int err = baton_vfu_region_info(vfu_of(io), index, &r);

	if (err)
		return err;
	out->size = r.size;
	out->offset = r.offset;
	out->flags = r.flags;
	out->fd = r.fd;
	return 0;
}

static int vfu_region_read(struct baton_devio *io, uint32_t index, uint64_t offset,
			   void *buf, uint32_t count)
{
	return baton_vfu_region_read(vfu_of(io), index, offset, buf, count);
}

static int vfu_read_submit(struct baton_devio *io, uint32_t index, uint64_t offset,
			   void *buf, uint32_t count)
{
	return vfu_submit_read(vfu_of(io), index, offset, buf, count);
}

static int vfu_read_complete(struct baton_devio *io)
{
	return vfu_collect_reads(vfu_of(io));
}

static int vfu_region_write(struct baton_devio *io, uint32_t index, uint64_t offset,
			    const void *buf, uint32_t count)
{
	return baton_vfu_region_write(vfu_of(io), index, offset, buf, count);
}

static int vfu_dma_map(struct baton_devio *io, struct devio_dma *m)
{
	return baton_vfu_dma_map(vfu_of(io), m->iova, m->size, m->fd, m->offset,
				 m->writable);
}

static int vfu_dma_unmap(struct baton_devio *io, struct devio_dma *m)
{
	return baton_vfu_dma_unmap(vfu_of(io), m->iova, m->size);
}

static int vfu_set_irq(struct baton_devio *io, uint32_t index, int eventfd)
{
	return baton_vfu_set_irq(vfu_of(io), index, eventfd);
}

static int vfu_reset(struct baton_devio *io)
{
	return baton_vfu_reset(vfu_of(io));
}

static void vfu_release(struct baton_devio *io, bool forget)
{
	if (forget)
		baton_vfu_forget(vfu_of(io));
	else
		baton_vfu_close(vfu_of(io));
}

static const struct devio_ops vfu_ops = {
	.region_info = vfu_region_info,
	.region_read = vfu_region_read,
	.region_write = vfu_region_write,
	.read_submit = vfu_read_submit,
	.read_complete = vfu_read_complete,
	.dma_map = vfu_dma_map,
	.dma_unmap = vfu_dma_unmap,
	.set_irq = vfu_set_irq,
	.reset = vfu_reset,
	.release = vfu_release,
};

/* @vfu as a handle; on failure (-ENOMEM) @vfu is still the caller's. */
static int wrap(struct baton_vfu *vfu, struct baton_devio **out)
{
	struct baton_devio *io = devio_new(BATON_DEVIO_VFIO_USER, &vfu_ops);

	if (!io)
		return -ENOMEM;
	io->priv = vfu;
	io->n_fds = 1;
	io->fds[0] = baton_vfu_fd(vfu);
	io->kinds[0] = BATON_FD_SOCKET;
	*out = io;
	return 0;
}

int baton_devio_vfu(struct baton_vfu *vfu, struct baton_devio **out)
{
	int err;

	if (!vfu || !out)
		return -EINVAL;
	err = wrap(vfu, out);
	if (err)
		baton_vfu_close(vfu);
	return err;
}

int devio_vfu_adopt(const int *fds, unsigned int n, struct baton_devio **out)
{
	struct baton_vfu *vfu;
	int err;

	(void)n;	/* 1, checked by baton_devio_adopt() */
	err = vfu_new(fds[0], &vfu);
	if (err)
		return err;
	err = wrap(vfu, out);
	if (err)
		baton_vfu_forget(vfu);	/* frees, closes nothing */
	return err;
}
