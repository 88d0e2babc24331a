/* SPDX-License-Identifier: MIT */
#ifndef BATON_BATON_H
#define BATON_BATON_H

/**
 * DOC: libbaton: a program's live resources, handed to its next version
 *
 * Baton hands a program's live resources - devices, memory, fds - to the
 * next version of its binary, and each preserved device only to a driver
 * that declared, by schema GUID, that it can read the device's state.
 *
 *   version.h    the version, baton_version(), and what the ABI keeps
 *   error.h      error codes, baton_strerror(), struct baton_diag
 *   pci.h        device addresses, ids and id-table matching
 *   schema.h     BATON_SCHEMA(): a state layout and its GUID
 *   driver.h     BATON_DRIVER(): id table, accepted schemas, converters
 *   contracts.h  contract sets, read from an ELF file or this program
 *   image.h      the handover image: parse, write, pack
 *   plan.h       the binding planner
 *   kernel.h     the kernel path: module trees, sysfs save and bind
 *   host.h       the runtime: regions, sessions of fds, devices, the update
 *
 * Not included here, for the programs that want them:
 *
 *   devio.h      a device's registers, DMA and interrupts, whatever the backend
 *   vfio.h       the kernel's VFIO (type1, iommufd) as a devio backend
 *   vfio_user.h  a vfio-user client, for drivers of vfio-user devices
 *   json.h       the control protocol's JSON forms (json-c)
 */

#include <baton/version.h>
#include <baton/error.h>
#include <baton/pci.h>
#include <baton/schema.h>
#include <baton/driver.h>
#include <baton/contracts.h>
#include <baton/image.h>
#include <baton/plan.h>
#include <baton/kernel.h>
#include <baton/host.h>

#endif /* BATON_BATON_H */
