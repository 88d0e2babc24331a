// SPDX-License-Identifier: MIT
/**
 * DOC: a libbaton without the kernel's VFIO (meson -Dvfio=false)
 *
 * In place of lib/backends/vfio: <baton/vfio.h>'s calls and adopting a
 * type1 or iommufd handle fail with -EOPNOTSUPP (the fds given to adopt
 * stay the caller's, as with the real backend's refusals), and the dry
 * run reports vfio-user as this library's only device backend.  An
 * update whose image holds VFIO fds is then refused before FREEZE by the
 * version that would hand them over (lib/host/dryrun.c), instead of
 * failing its restore after the handover.  make check links a target so
 * (tests/integration/test_host.sh).
 */
#define _GNU_SOURCE
#include <errno.h>

#include <baton/vfio.h>

#include "backends/devio-internal.h"

bool devio_has_vfio(void)
{
	return false;
}

int baton_vfio_open(const struct baton_pci_addr *addr,
		    enum baton_devio_backend backend, struct baton_devio **out)
{
	(void)addr;
	(void)backend;
	(void)out;
	return -EOPNOTSUPP;
}

int baton_vfio_list(struct baton_pci_addr *addrs, size_t max)
{
	(void)addrs;
	(void)max;
	return -EOPNOTSUPP;
}

int vfio_type1_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		     struct baton_devio **out)
{
	(void)fds;
	(void)n;
	(void)want;
	(void)out;
	return -EOPNOTSUPP;
}

int vfio_iommufd_adopt(const int *fds, unsigned int n, const struct baton_pci_addr *want,
		       struct baton_devio **out)
{
	return vfio_type1_adopt(fds, n, want, out);
}
