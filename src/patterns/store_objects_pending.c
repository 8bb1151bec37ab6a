/* SPDX-License-Identifier: MIT */
/*
 * Placeholders for the object algorithms of src/objects/ whose
 * implementations have not landed on this branch yet: each says -ENOTSUP
 * (sizes: 0, so creating such an object fails with -EINVAL). Removed, one
 * kind at a time, as the implementations are merged.
 */
#include <errno.h>

#include "objects/cell.h"
#include "objects/map.h"
#include "objects/stack.h"

size_t shoal__map_bytes(uint32_t capacity, uint32_t key_max,
			uint32_t value_size)
{
	(void)capacity, (void)key_max, (void)value_size;
	return 0;
}
int shoal__map_format(void *region, size_t len, uint32_t capacity,
		      uint32_t key_max, uint32_t value_size)
{
	(void)region, (void)len, (void)capacity, (void)key_max,
		(void)value_size;
	return -ENOTSUP;
}
int shoal__map_attach(struct shoal__map *view, void *region, size_t len,
		      uint32_t capacity, uint32_t key_max, uint32_t value_size,
		      const struct shoal__obj_who *who)
{
	(void)view, (void)region, (void)len, (void)capacity, (void)key_max,
		(void)value_size, (void)who;
	return -ENOTSUP;
}
int shoal__map_put(struct shoal__map *view, const void *key, size_t klen,
		   const void *value, size_t vlen)
{
	(void)view, (void)key, (void)klen, (void)value, (void)vlen;
	return -ENOTSUP;
}
int shoal__map_delete(struct shoal__map *view, const void *key, size_t klen)
{
	(void)view, (void)key, (void)klen;
	return -ENOTSUP;
}
int shoal__map_lookup(const struct shoal__map *view, const void *key,
		      size_t klen, void *out, size_t cap,
		      uint64_t *change_count)
{
	(void)view, (void)key, (void)klen, (void)out, (void)cap,
		(void)change_count;
	return -ENOTSUP;
}
