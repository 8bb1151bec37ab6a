/* SPDX-License-Identifier: MIT */
/*
 * The store's wrappers of the object algorithms (src/objects/, described
 * in docs/objects.md): region sizes and formatting for shoal_store_add(),
 * the lookups that attach views, and the blackboard, stack and map calls.
 *
 *  - A blackboard of N keys is N cell regions one after another, each
 *    shoal__cell_bytes(value_size); key k is cell k.
 *  - A stack is one stack region, a map one map region (its capacity a
 *    power of two).
 *  - Writer tokens: a handle that may write claims line i of the data
 *    segment's memfd by OFD lock (service/line_lock.h) at its first lookup
 *    of a blackboard, stack or map, and writes as token i + 1. The
 *    objects' liveness test asks whether anyone still holds that line's
 *    lock: the kernel drops it when the process dies, however it dies, so
 *    "nobody holds it" is definitive, as the objects require.
 *  - Views are attached once per object and handle (attach checks the
 *    region's header against the table's checked entry) and kept in the
 *    handle until it closes, so the operations cost no re-check.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "objects/cell.h"
#include "objects/map.h"
#include "objects/stack.h"
#include "patterns/store_internal.h"

static uint64_t round_line(uint64_t b)
{
	return (b + SHOAL__STORE_ALIGN - 1) / SHOAL__STORE_ALIGN *
	       SHOAL__STORE_ALIGN;
}

uint64_t shoal__store_region_bytes(uint32_t kind, uint32_t count,
				   uint32_t elem_size, uint32_t key_size,
				   uint32_t flags)
{
	(void)flags;
	switch (kind) {
	case SHOAL_STORE_ARRAY:
		return round_line((uint64_t)count * elem_size);
	case SHOAL_STORE_BLACKBOARD:
		return (uint64_t)count * shoal__cell_bytes(elem_size);
	case SHOAL_STORE_STACK:
		return shoal__stack_bytes(elem_size, count);
	case SHOAL_STORE_MAP:
		return shoal__map_bytes(count, key_size, elem_size);
	}
	return 0;
}

static uint32_t cell_mode(uint32_t flags)
{
	return (flags & SHOAL_STORE_MANY_WRITERS) ? SHOAL__CELL_MANY_WRITERS :
						    SHOAL__CELL_ONE_WRITER;
}

int shoal__store_format(void *base, uint64_t bytes, uint32_t kind,
			uint32_t count, uint32_t elem_size, uint32_t key_size,
			uint32_t flags)
{
	uint8_t *p = base;
	size_t cell;

	switch (kind) {
	case SHOAL_STORE_ARRAY:
		return 0; /* a fresh memfd reads as zeros */
	case SHOAL_STORE_BLACKBOARD:
		cell = shoal__cell_bytes(elem_size);
		for (uint32_t i = 0; i < count; i++) {
			int err = shoal__cell_format(p + (uint64_t)i * cell,
						     cell, elem_size,
						     cell_mode(flags));
			if (err)
				return err;
		}
		return 0;
	case SHOAL_STORE_STACK:
		return shoal__stack_format(base, bytes, elem_size, count);
	case SHOAL_STORE_MAP:
		return shoal__map_format(base, bytes, count, key_size,
					 elem_size);
	}
	return shoal__fail(-EINVAL, "store: unknown kind %u", kind);
}

/* The liveness test of a writer token (objects.h): alive while someone
 * holds its line's lock. */
static int token_alive(uint32_t owner, void *user_data)
{
	struct shoal_store *s = user_data;

	if (!owner || owner > SHOAL__STORE_WRITERS)
		return 0; /* names no line: nobody can be writing as it */
	if (owner == s->token)
		return 1;
	return shoal__line_locked(s->lock_fd, owner - 1);
}

/* This handle's writer token, claimed on first need. */
static int claim_token(struct shoal_store *s)
{
	struct shoal_segment *seg = s->owner ? s->own.lines_seg : s->data_seg;
	int idx;

	if (s->token)
		return 0;
	idx = shoal__peer_claim(shoal_segment_fd(seg), 0, SHOAL__STORE_WRITERS,
				"store", &s->lock_fd);
	if (idx == -EBUSY)
		return shoal__fail(-EBUSY,
				   "store: '%s' has %u writing handles already",
				   s->name, SHOAL__STORE_WRITERS);
	if (idx < 0)
		return idx;
	s->token = (uint32_t)idx + 1;
	return 0;
}

void shoal__store_free_views(struct shoal_store *s)
{
	for (uint32_t i = 0; s->views && i < s->g.max_objects; i++)
		free(s->views[i]);
	free(s->views);
	s->views = NULL;
}

/*
 * The views of the object @name of @kind, attached at its first lookup:
 * *@views (a struct shoal__cell[count], a struct shoal__stack or a struct
 * shoal__map) and the checked entry in *@info.
 */
static int lookup(struct shoal_store *s, const char *name, uint32_t kind,
		  struct shoal_store_object_info *info, void **views)
{
	struct shoal__obj_who who, *w = NULL;
	void *base, *v;
	uint32_t index;
	size_t size;
	int err;

	/* Set on every path: gcc -O3 cannot see that shoal__fail() returns
	 * nonzero, and warns that the callers' views may be uninitialized. */
	*views = NULL;
	err = shoal__store_find(s, name, kind, info, &base, &index);
	if (err)
		return err;
	if (!s->views) {
		s->views = calloc(s->g.max_objects, sizeof(void *));
		if (!s->views)
			return shoal__fail(-ENOMEM, "store: out of memory");
	}
	if (s->views[index]) {
		*views = s->views[index];
		return 0;
	}
	if (!s->read_only) {
		err = claim_token(s);
		if (err)
			return err;
		who = (struct shoal__obj_who){ s->token, token_alive, s };
		w = &who;
	}
	size = kind == SHOAL_STORE_BLACKBOARD ?
		       sizeof(struct shoal__cell) * info->count :
	       kind == SHOAL_STORE_STACK ? sizeof(struct shoal__stack) :
					   sizeof(struct shoal__map);
	v = calloc(1, size);
	if (!v)
		return shoal__fail(-ENOMEM, "store: out of memory");
	if (kind == SHOAL_STORE_BLACKBOARD) {
		size_t cell = shoal__cell_bytes(info->elem_size);

		for (uint32_t i = 0; !err && i < info->count; i++)
			err = shoal__cell_attach((struct shoal__cell *)v + i,
						 (uint8_t *)base + i * cell,
						 cell, info->elem_size,
						 cell_mode(info->flags), w);
	} else if (kind == SHOAL_STORE_STACK) {
		err = shoal__stack_attach(v, base, info->size, info->elem_size,
					  info->count, w);
	} else {
		err = shoal__map_attach(v, base, info->size, info->count,
					info->key_size, info->elem_size, w);
	}
	if (err) {
		free(v);
		return err == -EBADMSG ? err :
					 shoal__fail(-EBADMSG,
						     "store: '%s': object "
						     "'%s' does not attach",
						     s->name, name);
	}
	*views = s->views[index] = v;
	return 0;
}

/* The inline read in store.h reads seq and the stamps at these offsets. */
_Static_assert(offsetof(struct shoal__cell_ctl, sv.seq) == 0, "seq at 64");
_Static_assert(offsetof(struct shoal__cell_ctl, sv.stamp) == 8, "stamps at 72");

/*
 * Lets shoal_blackboard_read() (inline, store.h) read @bb's cells: only if
 * every cell's attached view is where that read will look (cell k at
 * k * cell bytes from cell 0, control words at +64, copies at +128, one
 * copy stride), else priv_layout stays 0 and reads go out of line.
 */
static void inline_read_layout(struct shoal_blackboard *bb)
{
	const struct shoal__cell *v = bb->views;
	const unsigned char *cells;
	size_t bytes = shoal__cell_bytes(bb->value_size);

	bb->priv_layout = 0;
	if (!bb->count || !bytes)
		return;
	cells = (const unsigned char *)v[0].priv_ctl - 64;
	for (uint32_t k = 0; k < bb->count; k++) {
		const unsigned char *c = cells + (size_t)k * bytes;

		if ((const unsigned char *)v[k].priv_ctl != c + 64 ||
		    v[k].priv_copies != c + 128 ||
		    v[k].priv_stride != v[0].priv_stride ||
		    v[k].priv_value_size != bb->value_size)
			return;
	}
	bb->priv_cells = cells;
	bb->priv_cell_bytes = bytes;
	bb->priv_copy_stride = v[0].priv_stride;
	bb->priv_layout = SHOAL_BLACKBOARD_LAYOUT;
}

int shoal_store_blackboard(struct shoal_store *s, const char *name,
			   struct shoal_blackboard *out)
{
	struct shoal_store_object_info info;
	void *views;
	int err;

	if (!out)
		return shoal__fail(-EINVAL, "store_blackboard: NULL argument");
	err = lookup(s, name, SHOAL_STORE_BLACKBOARD, &info, &views);
	if (err)
		return err;
	*out = (struct shoal_blackboard){ .store = s,
					  .views = views,
					  .count = info.count,
					  .value_size = info.elem_size,
					  .flags = info.flags,
					  .event_base = info.event_base,
					  .writable = !s->read_only };
	inline_read_layout(out);
	return 0;
}

/* The cell of @key, or NULL with the error in *@err. */
static struct shoal__cell *cell_of(const struct shoal_blackboard *bb,
				   uint32_t key, int write, int *err)
{
	if (!bb || !bb->views) {
		*err = shoal__fail(-EINVAL, "blackboard: not looked up");
		return NULL;
	}
	if (key >= bb->count) {
		*err = shoal__fail(-ERANGE, "blackboard: key %u of %u", key,
				   bb->count);
		return NULL;
	}
	if (write && !bb->writable) {
		*err = shoal__store_read_only("blackboard");
		return NULL;
	}
	return (struct shoal__cell *)bb->views + key;
}

int shoal_blackboard_write(const struct shoal_blackboard *bb, uint32_t key,
			   const void *data, uint32_t len)
{
	int err = 0;
	struct shoal__cell *c = cell_of(bb, key, 1, &err);

	if (!c)
		return err;
	if (len > bb->value_size)
		return shoal__fail(-EMSGSIZE,
				   "blackboard: %u-byte value, the most is %u",
				   len, bb->value_size);
	err = shoal__cell_write(c, data, len);
	if (err)
		return err;
	if (bb->store->g.event_ids)
		shoal__store_notify(
			bb->store, (uint32_t)(((uint64_t)bb->event_base + key) %
					      bb->store->g.event_ids));
	return 0;
}

int shoal_blackboard_read_slow(const struct shoal_blackboard *bb, uint32_t key,
			       void *buf, uint32_t cap, uint64_t *version)
{
	int err = 0;
	struct shoal__cell *c = cell_of(bb, key, 0, &err);

	if (!c)
		return err;
	return shoal__cell_read(c, buf, cap, version);
}

uint64_t shoal_blackboard_version(const struct shoal_blackboard *bb,
				  uint32_t key)
{
	if (!bb || !bb->views || key >= bb->count)
		return 0;
	return shoal__cell_change_count((struct shoal__cell *)bb->views + key);
}

int shoal_store_stack(struct shoal_store *s, const char *name,
		      struct shoal_stack *out)
{
	struct shoal_store_object_info info;
	void *view;
	int err;

	if (!out)
		return shoal__fail(-EINVAL, "store_stack: NULL argument");
	err = lookup(s, name, SHOAL_STORE_STACK, &info, &view);
	if (err)
		return err;
	*out = (struct shoal_stack){ s, view, info.count, info.elem_size,
				     !s->read_only };
	return 0;
}

static int stack_ready(const struct shoal_stack *st)
{
	if (!st || !st->view)
		return shoal__fail(-EINVAL, "stack: not looked up");
	if (!st->writable)
		return shoal__store_read_only("stack");
	return 0;
}

int shoal_stack_push(const struct shoal_stack *st, const void *data,
		     uint32_t len)
{
	int err = stack_ready(st);

	if (err)
		return err;
	err = shoal__stack_push(st->view, data, len);
	if (err == -ENOSPC && shoal__stack_recover(st->view) > 0)
		err = shoal__stack_push(st->view, data, len);
	return err == -ENOSPC ? shoal__fail(-EAGAIN, "stack: full") : err;
}

int shoal_stack_pop(const struct shoal_stack *st, void *buf, uint32_t cap)
{
	int err = stack_ready(st);

	if (err)
		return err;
	return shoal__stack_pop(st->view, buf, cap);
}

int shoal_store_map(struct shoal_store *s, const char *name,
		    struct shoal_map *out)
{
	struct shoal_store_object_info info;
	void *view;
	int err;

	if (!out)
		return shoal__fail(-EINVAL, "store_map: NULL argument");
	err = lookup(s, name, SHOAL_STORE_MAP, &info, &view);
	if (err)
		return err;
	*out = (struct shoal_map){ s,
				   view,
				   info.count,
				   info.key_size,
				   info.elem_size,
				   !s->read_only };
	return 0;
}

static int map_ready(const struct shoal_map *m, int write)
{
	if (!m || !m->view)
		return shoal__fail(-EINVAL, "map: not looked up");
	if (write && !m->writable)
		return shoal__store_read_only("map");
	return 0;
}

int shoal_map_put(const struct shoal_map *m, const void *key, uint32_t key_len,
		  const void *value, uint32_t value_len)
{
	int err = map_ready(m, 1);

	if (err)
		return err;
	err = shoal__map_put(m->view, key, key_len, value, value_len);
	return err > 0 ? 0 : err;
}

int shoal_map_get(const struct shoal_map *m, const void *key, uint32_t key_len,
		  void *buf, uint32_t cap)
{
	int err = map_ready(m, 0);

	if (err)
		return err;
	return shoal__map_lookup(m->view, key, key_len, buf, cap, NULL);
}

int shoal_map_delete(const struct shoal_map *m, const void *key,
		     uint32_t key_len)
{
	int err = map_ready(m, 1);

	if (err)
		return err;
	return shoal__map_delete(m->view, key, key_len);
}
