/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "arch/error.h"
#include "service/type_check.h"

int shoal__type_check(const char *who, const struct shoal__type *want,
		      const struct shoal_service_info *info)
{
	if (!want || !want->name)
		return 0;
	if (strcmp(want->name, info->type_name) == 0 &&
	    want->size == info->type_size && want->align == info->type_align)
		return 0;
	return shoal__fail(-EPROTO,
			   "%s: '%s' carries type '%s' (size %u, align %u), "
			   "expected '%s' (size %u, align %u)",
			   who, info->name, info->type_name, info->type_size,
			   info->type_align, want->name, want->size,
			   want->align);
}
