/* SPDX-License-Identifier: MIT */
/*
 * Error details. Every failing public call records one sentence here, in a
 * buffer of its own thread, so callers can print what exactly went wrong
 * while the return value stays a plain -errno.
 */
#include <stdarg.h>
#include <stdio.h>

#include "shoal/common.h"
#include "arch/error.h"

static _Thread_local char last_error[256];

int shoal__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

void shoal__detail_save(struct shoal__detail *d)
{
	snprintf(d->text, sizeof(d->text), "%s", last_error);
}

int shoal__detail_fail(const struct shoal__detail *d, int err)
{
	return shoal__fail(err, "%s", d->text);
}

const char *shoal_last_error(void)
{
	return last_error;
}

const char *shoal_version(void)
{
#define SHOAL_STR2(x) #x
#define SHOAL_STR(x) SHOAL_STR2(x)
	return SHOAL_STR(SHOAL_VERSION_MAJOR) "." SHOAL_STR(
		SHOAL_VERSION_MINOR) "." SHOAL_STR(SHOAL_VERSION_PATCH);
}
