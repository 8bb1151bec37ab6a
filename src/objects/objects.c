/* SPDX-License-Identifier: MIT */
/*
 * The header every object region starts with (objects.h): written once by
 * format(), checked by every attach(), the same way for every kind.
 */
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "objects/objects.h"

int shoal__obj_format(void *region, size_t len, size_t need, uint16_t kind,
		      const uint32_t p[4], const char *what)
{
	struct shoal__obj_header *h = region;

	if (!region || (uintptr_t)region % SHOAL__OBJ_ALIGN || len < need)
		return shoal__fail(-EINVAL,
				   "%s: region must be 64-byte aligned and "
				   "hold %zu bytes",
				   what, need);
	memset(region, 0, need);
	h->magic = SHOAL__OBJ_MAGIC;
	h->version = SHOAL__OBJ_VERSION;
	h->kind = kind;
	h->bytes = need;
	memcpy(h->p, p, sizeof(h->p));
	return 0;
}

int shoal__obj_check(const void *region, size_t len, size_t need, uint16_t kind,
		     const uint32_t p[4], const struct shoal__obj_who *who,
		     const char *what)
{
	const struct shoal__obj_header *h = region;
	struct shoal__obj_header c;

	if (who && (!who->owner || who->owner > SHOAL__OBJ_OWNER_MAX))
		return shoal__fail(-EINVAL, "%s: owner %u not in 1..%u", what,
				   who->owner, SHOAL__OBJ_OWNER_MAX);
	if (!region || (uintptr_t)region % SHOAL__OBJ_ALIGN || len < need)
		return shoal__fail(-EBADMSG,
				   "%s: region of %zu bytes cannot hold the "
				   "object (%zu bytes)",
				   what, len, need);
	/* Each header field once into a local, then checked. */
	c.magic = SHOAL__READ_ONCE(h->magic);
	c.version = SHOAL__READ_ONCE(h->version);
	c.kind = SHOAL__READ_ONCE(h->kind);
	c.bytes = SHOAL__READ_ONCE(h->bytes);
	for (int i = 0; i < 4; i++)
		c.p[i] = SHOAL__READ_ONCE(h->p[i]);
	if (c.magic != SHOAL__OBJ_MAGIC || c.version != SHOAL__OBJ_VERSION ||
	    c.kind != kind || c.bytes != need || memcmp(c.p, p, sizeof(c.p)))
		return shoal__fail(-EBADMSG,
				   "%s: header says magic %#x version %u kind "
				   "%u, %llu bytes, parameters %u %u %u %u; "
				   "expected kind %u, %zu bytes, parameters "
				   "%u %u %u %u",
				   what, c.magic, c.version, c.kind,
				   (unsigned long long)c.bytes, c.p[0], c.p[1],
				   c.p[2], c.p[3], kind, need, p[0], p[1], p[2],
				   p[3]);
	return 0;
}
