// SPDX-License-Identifier: MIT
/*
 * Error codes and diagnostics: see include/baton/error.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static const char *const baton_errors[BATON_ERR_MAX] = {
	[BATON_OK] = "success",
	[BATON_ERR_TRUNCATED] = "image truncated",
	[BATON_ERR_BADMAGIC] = "bad magic",
	[BATON_ERR_BADVERSION] = "unknown format version",
	[BATON_ERR_BADHEADER] = "bad image header",
	[BATON_ERR_BADCRC] = "tree CRC mismatch",
	[BATON_ERR_BADTREE] = "malformed device tree",
	[BATON_ERR_BADCOMPAT] = "not a baton image tree",
	[BATON_ERR_MISSING] = "missing property",
	[BATON_ERR_BADVALUE] = "bad property value",
	[BATON_ERR_DUPLICATE] = "duplicate",
	[BATON_ERR_BADREF] = "dangling reference",
	[BATON_ERR_STATECRC] = "state CRC mismatch",
	[BATON_ERR_ELF] = "not a readable ELF file",
	[BATON_ERR_NOCONTRACTS] = "no baton_contracts section",
	[BATON_ERR_BADCONTRACT] = "bad contract record",
	[BATON_ERR_BADGUID] = "bad GUID",
	[BATON_ERR_NOMEM] = "out of memory",
	[BATON_ERR_IO] = "I/O error",
	[BATON_ERR_INVAL] = "invalid argument",
	[BATON_ERR_RANGE] = "out of range",
	[BATON_ERR_REFUSED] = "update refused: a mandatory device would not be bound",
};

const char *baton_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= BATON_ERR_MAX || !baton_errors[err])
		return "unknown error";
	return baton_errors[err];
}

int baton_diag_set(struct baton_diag *diag, int err, const char *where,
		   const char *what, ...)
{
	va_list ap;

	if (!diag || diag->err)
		return -err;
	diag->err = err;
	snprintf(diag->where, sizeof(diag->where), "%s", where ? where : "");
	if (what) {
		va_start(ap, what);
		vsnprintf(diag->what, sizeof(diag->what), what, ap);
		va_end(ap);
	} else {
		snprintf(diag->what, sizeof(diag->what), "%s",
			 baton_strerror(err));
	}
	return -err;
}
