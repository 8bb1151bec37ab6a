/* SPDX-License-Identifier: MIT */
/*
 * The payload type check every pattern shares: a service records a type
 * name, size and alignment in its registry descriptor, and a peer that
 * names the type it expects is refused with -EPROTO on any difference.
 */
#ifndef SHOAL_TYPE_CHECK_H
#define SHOAL_TYPE_CHECK_H

#include <stdint.h>

#include "shoal/registry.h"

/* The type a peer expects; name NULL accepts any type. */
struct shoal__type {
	const char *name;
	uint32_t size;
	uint32_t align;
};

/* The type an options struct names (type_name, type_size, type_align). */
#define SHOAL__TYPE_OF(opts)                                         \
	((struct shoal__type){ (opts)->type_name, (opts)->type_size, \
			       (opts)->type_align })

/*
 * shoal__type_check - 0 if @want is NULL-named or equals what @info
 * records; otherwise -EPROTO, with a last-error message naming both types,
 * prefixed by @who (e.g. "sub", "queue") and the service name.
 */
int shoal__type_check(const char *who, const struct shoal__type *want,
		      const struct shoal_service_info *info);

#endif
