// SPDX-License-Identifier: MIT
/*
 * Error codes and diagnostics: see include/baton/error.h.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const baton_errors[BATON_ERR_MAX - BATON_ERR_BASE] = {
#define E(code, text) [code - BATON_ERR_BASE] = text
	E(BATON_ERR_TRUNCATED, "image truncated"),
	E(BATON_ERR_BADMAGIC, "bad magic"),
	E(BATON_ERR_BADVERSION, "unknown format version"),
	E(BATON_ERR_BADHEADER, "bad image header"),
	E(BATON_ERR_BADCRC, "tree CRC mismatch"),
	E(BATON_ERR_BADTREE, "malformed device tree"),
	E(BATON_ERR_BADCOMPAT, "not a baton image tree"),
	E(BATON_ERR_MISSING, "missing property"),
	E(BATON_ERR_BADVALUE, "bad property value"),
	E(BATON_ERR_DUPLICATE, "duplicate"),
	E(BATON_ERR_BADREF, "dangling reference"),
	E(BATON_ERR_STATECRC, "state CRC mismatch"),
	E(BATON_ERR_ELF, "not a readable ELF file"),
	E(BATON_ERR_NOCONTRACTS, "no baton_contracts section"),
	E(BATON_ERR_BADCONTRACT, "bad contract record"),
	E(BATON_ERR_BADGUID, "bad GUID"),
	E(BATON_ERR_CONFLICT, "drivers tie: nothing bound"),
	E(BATON_ERR_REFUSED, "update refused"),
	E(BATON_ERR_ABORTED, "update aborted, the previous version goes on"),
	E(BATON_ERR_ABANDONED, "update abandoned, the previous version owns the program"),
#undef E
};

const char *baton_strerror(int err)
{
	const char *text = NULL;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if (err < BATON_ERR_BASE)
		text = strerrordesc_np(err);	/* thread-safe, not localized */
	else if (err < BATON_ERR_MAX)
		text = baton_errors[err - BATON_ERR_BASE];
	return text ? text : "unknown error";
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
