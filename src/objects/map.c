/* SPDX-License-Identifier: MIT */
/*
 * The map: open addressing with linear probing over slots whose ctl word
 * moves EMPTY -> WRITING -> FULL <-> TOMB and never back to EMPTY (map.h
 * has the states and why a key lives in one slot only; docs/objects.md the
 * layout; models/store_map.pml the model). Values use the seqval protocol of
 * cell.c.
 *
 * Who writes what in a slot:
 *  - ctl: CAS EMPTY -> WRITING by an inserter; CAS WRITING(dead) ->
 *    WRITING(us) by an inserter of the same hash taking over; release store
 *    WRITING -> FULL by the claimant; CAS FULL -> TOMB by a deleter; CAS
 *    TOMB -> FULL by a reviver holding the latch.
 *  - key_len and key bytes: by the claimant while WRITING only, so they
 *    never change once the slot is FULL or TOMB.
 *  - seqval words and value copies: by the claimant while WRITING, then by
 *    latch holders.
 * Readers (lookup, next) only load. Every word is untrusted: a ctl with
 * nonzero owner bits in a FULL or TOMB state, or a key length over
 * key_max, makes the slot one nobody can match, and it is passed over.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "objects/map.h"

#define SLOTS_OFF 64
#define STATE_MASK 3u
#define OWNER_BITS 0xfffffffcu

enum mode {
	INSERT,
	UPDATE,
	PUT
};

uint32_t shoal__map_hash(const void *key, size_t len)
{
	const unsigned char *k = key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= k[i];
		h *= 16777619u;
	}
	return h;
}

static uint64_t key_room(uint32_t key_max)
{
	return shoal__obj_round(key_max, 8);
}

static uint64_t val_room(uint32_t value_size)
{
	return shoal__obj_round(value_size, 8);
}

uint64_t shoal__map_stride(uint32_t key_max, uint32_t value_size)
{
	return shoal__obj_round(sizeof(struct shoal__map_slot) +
					key_room(key_max) +
					2 * val_room(value_size),
				SHOAL__OBJ_ALIGN);
}

size_t shoal__map_bytes(uint32_t capacity, uint32_t key_max,
			uint32_t value_size)
{
	if (!shoal__is_pow2(capacity) || capacity > SHOAL__MAP_CAPACITY_MAX ||
	    !key_max || key_max > SHOAL__MAP_KEY_MAX || !value_size ||
	    value_size > SHOAL__MAP_VALUE_MAX)
		return 0;
	return (size_t)(SLOTS_OFF +
			(uint64_t)capacity *
				shoal__map_stride(key_max, value_size));
}

static uint64_t ctl_word(uint32_t hash, uint32_t owner, uint32_t state)
{
	return (uint64_t)hash << 32 | (uint64_t)owner << 2 | state;
}

static struct shoal__map_slot *slot_at(const struct shoal__map *v, uint32_t i)
{
	return (struct shoal__map_slot *)(v->priv_slots +
					  (uint64_t)i * v->priv_stride);
}

static unsigned char *key_of(const struct shoal__map *v,
			     struct shoal__map_slot *s)
{
	return (unsigned char *)s + v->priv_key_off;
}

static unsigned char *copies_of(const struct shoal__map *v,
				struct shoal__map_slot *s)
{
	return (unsigned char *)s + v->priv_val_off;
}

int shoal__map_format(void *region, size_t len, uint32_t capacity,
		      uint32_t key_max, uint32_t value_size)
{
	size_t need = shoal__map_bytes(capacity, key_max, value_size);
	uint64_t stride = shoal__map_stride(key_max, value_size);

	if (!need)
		return shoal__fail(-EINVAL,
				   "map_format: capacity %u (power of two "
				   "1..%u), key size %u (1..%u) or value size "
				   "%u (1..%u) invalid",
				   capacity, SHOAL__MAP_CAPACITY_MAX, key_max,
				   SHOAL__MAP_KEY_MAX, value_size,
				   SHOAL__MAP_VALUE_MAX);
	if (shoal__obj_format(region, len, need, SHOAL__OBJ_KIND_MAP,
			      (const uint32_t[4]){ capacity, key_max,
						   value_size },
			      "map_format"))
		return -EINVAL;
	for (uint32_t i = 0; i < capacity; i++) {
		struct shoal__map_slot *s =
			(struct shoal__map_slot *)((unsigned char *)region +
						   SLOTS_OFF + i * stride);

		/* Copy 1 "never written", as a fresh cell. */
		atomic_store_explicit(&s->sv.stamp[1], 1, memory_order_relaxed);
	}
	return 0;
}

int shoal__map_attach(struct shoal__map *view, void *region, size_t len,
		      uint32_t capacity, uint32_t key_max, uint32_t value_size,
		      const struct shoal__obj_who *who)
{
	struct shoal__map v = { 0 };
	size_t need = shoal__map_bytes(capacity, key_max, value_size);
	int err;

	if (!view || !need)
		return shoal__fail(-EINVAL,
				   "map_attach: capacity %u, key size %u or "
				   "value size %u invalid",
				   capacity, key_max, value_size);
	err = shoal__obj_check(region, len, need, SHOAL__OBJ_KIND_MAP,
			       (const uint32_t[4]){ capacity, key_max,
						    value_size },
			       who, "map_attach");
	if (err)
		return err;
	v.priv_slots = (unsigned char *)region + SLOTS_OFF;
	v.priv_stride = shoal__map_stride(key_max, value_size);
	v.priv_key_off = sizeof(struct shoal__map_slot);
	v.priv_val_off = v.priv_key_off + key_room(key_max);
	v.priv_val_stride = val_room(value_size);
	v.priv_capacity = capacity;
	v.priv_key_max = key_max;
	v.priv_value_size = value_size;
	if (who) {
		v.priv_who = *who;
		v.priv_can_write = 1;
	}
	*view = v;
	return 0;
}

/*
 * Nonzero if slot @s, whose ctl @c (acquired) says FULL or TOMB of hash
 * @h, holds @key. The key bytes were written before the slot left WRITING
 * (release), and never change after, so plain reads after the acquire are
 * the claimant's bytes; a scribbled length is refused before use.
 */
static int holds(const struct shoal__map *v, struct shoal__map_slot *s,
		 uint64_t c, uint32_t h, const void *key, size_t klen)
{
	uint32_t len;

	if ((uint32_t)(c >> 32) != h || ((uint32_t)c & OWNER_BITS))
		return 0;
	len = SHOAL__READ_ONCE(s->key_len);
	return len == klen && len <= v->priv_key_max &&
	       !memcmp(key_of(v, s), key, klen);
}

/*
 * Finds the slot of @key without writing: 0 with *@idx and *@ctl (FULL or
 * TOMB), or -ENOENT. Stops at the first EMPTY slot or after capacity.
 */
static int find(const struct shoal__map *v, const void *key, size_t klen,
		uint32_t h, uint32_t *idx, uint64_t *ctl)
{
	uint32_t mask = v->priv_capacity - 1;

	for (uint32_t k = 0; k < v->priv_capacity; k++) {
		uint32_t i = (h + k) & mask;
		struct shoal__map_slot *s = slot_at(v, i);
		/* Acquire: pairs with the release store of FULL by the
		 * slot's claimant (key and first value written before). */
		uint64_t c =
			atomic_load_explicit(&s->ctl, memory_order_acquire);
		uint32_t st = (uint32_t)c & STATE_MASK;

		if (c == 0)
			return -ENOENT;
		if (st == SHOAL__MAP_WRITING || st == SHOAL__MAP_EMPTY)
			continue;
		if (holds(v, s, c, h, key, klen)) {
			*idx = i;
			*ctl = c;
			return 0;
		}
	}
	return -ENOENT;
}

static int key_ok(const struct shoal__map *v, size_t klen, const char *what)
{
	if (!klen || klen > v->priv_key_max)
		return shoal__fail(-EINVAL, "%s: key of %zu bytes (1..%u)",
				   what, klen, v->priv_key_max);
	return 0;
}

static int write_ok(const struct shoal__map *v, size_t klen, size_t vlen,
		    const char *what)
{
	if (!v->priv_can_write)
		return shoal__fail(-EPERM, "%s: read-only view", what);
	if (key_ok(v, klen, what))
		return -EINVAL;
	if (vlen > v->priv_value_size)
		return shoal__fail(-EMSGSIZE, "%s: %zu-byte value, %u allowed",
				   what, vlen, v->priv_value_size);
	return 0;
}

/* A new value for slot @s, under its latch. */
static int set_value(struct shoal__map *v, struct shoal__map_slot *s,
		     const void *value, size_t vlen)
{
	return shoal__seqval_write(&s->sv, copies_of(v, s), v->priv_val_stride,
				   v->priv_value_size, value, vlen,
				   &v->priv_who, 1);
}

/* We hold slot @s in WRITING: fill it and publish it FULL. */
static void fill(struct shoal__map *v, struct shoal__map_slot *s, uint32_t h,
		 const void *key, size_t klen, const void *value, size_t vlen)
{
	/* Nobody reads a WRITING slot, and a dead claimant we took over
	 * from writes no more: start the value's words afresh (relaxed; the
	 * release below publishes them), as format() left them. */
	atomic_store_explicit(&s->sv.seq, 0, memory_order_relaxed);
	atomic_store_explicit(&s->sv.stamp[0], 0, memory_order_relaxed);
	atomic_store_explicit(&s->sv.stamp[1], 1, memory_order_relaxed);
	atomic_store_explicit(&s->sv.latch, 0, memory_order_relaxed);
	s->key_len = (uint32_t)klen;
	memcpy(key_of(v, s), key, klen);
	shoal__seqval_store(&s->sv, copies_of(v, s), v->priv_val_stride,
			    v->priv_value_size, value, vlen);
	/* Release: key_len, the key and the first value before the slot is
	 * FULL; pairs with the acquire load of ctl in find() and next(). */
	atomic_store_explicit(&s->ctl, ctl_word(h, 0, SHOAL__MAP_FULL),
			      memory_order_release);
}

/* Revives @key's tomb @s with a new value: 0, -EEXIST (it is FULL again:
 * someone else revived it), -EBUSY. */
static int revive(struct shoal__map *v, struct shoal__map_slot *s, uint32_t h,
		  const void *value, size_t vlen)
{
	uint64_t latch, c = ctl_word(h, 0, SHOAL__MAP_TOMB);
	int err = shoal__seqval_latch(&s->sv, &v->priv_who, &latch);

	if (err)
		return err;
	/* Under the latch the tomb can only be revived by us (revivers take
	 * it first) and deletes only make tombs. The value first, then FULL
	 * by CAS: release, pairs with find()'s acquire load of ctl. */
	if (atomic_load_explicit(&s->ctl, memory_order_relaxed) != c) {
		shoal__seqval_unlatch(&s->sv, latch);
		return -EEXIST;
	}
	shoal__seqval_store(&s->sv, copies_of(v, s), v->priv_val_stride,
			    v->priv_value_size, value, vlen);
	if (!atomic_compare_exchange_strong_explicit(
		    &s->ctl, &c, ctl_word(h, 0, SHOAL__MAP_FULL),
		    memory_order_release, memory_order_relaxed))
		err = -EEXIST;
	shoal__seqval_unlatch(&s->sv, latch);
	return err;
}

/* insert, update and put: see map.h. */
static int write_key(struct shoal__map *v, const void *key, size_t klen,
		     const void *value, size_t vlen, enum mode mode)
{
	uint32_t h = shoal__map_hash(key, klen), mask = v->priv_capacity - 1;
	const struct shoal__obj_who *who = &v->priv_who;
	uint64_t mine = ctl_word(h, who->owner, SHOAL__MAP_WRITING);
	uint32_t tries = 0, k = 0;

	while (k < v->priv_capacity) {
		struct shoal__map_slot *s = slot_at(v, (h + k) & mask);
		/* Acquire: as in find(). */
		uint64_t c =
			atomic_load_explicit(&s->ctl, memory_order_acquire);
		uint32_t st = (uint32_t)c & STATE_MASK;
		uint32_t holder = ((uint32_t)c & OWNER_BITS) >> 2;
		int err;

		if (++tries > SHOAL__OBJ_RETRY_BUDGET)
			return shoal__fail(-EBUSY,
					   "map: retry budget spent on a "
					   "slot being written");
		if (c == 0) {
			if (mode == UPDATE)
				return -ENOENT;
			/* Relaxed: an EMPTY slot has nothing to acquire;
			 * a lost CAS looks at the slot again. */
			if (!atomic_compare_exchange_strong_explicit(
				    &s->ctl, &c, mine, memory_order_relaxed,
				    memory_order_relaxed))
				continue;
			fill(v, s, h, key, klen, value, vlen);
			return mode == PUT ? 1 : 0;
		}
		if (st == SHOAL__MAP_WRITING) {
			if ((uint32_t)(c >> 32) != h) {
				k++; /* another key: never ours */
				continue;
			}
			/* Not present yet: an update linearises before
			 * that insert, and needs no wait. */
			if (mode == UPDATE) {
				k++;
				continue;
			}
			/* Maybe ours, not readable yet: wait for it, or
			 * take it over from a dead claimant (its insert
			 * never returned; the key it was writing was never
			 * visible). Our own token is a dead predecessor's,
			 * as for the latch. */
			if (holder != who->owner &&
			    (!who->alive ||
			     who->alive(holder, who->user_data))) {
				shoal__cpu_relax();
				continue;
			}
			/* Acquire: the dead claimant's stores are visible
			 * (it is reaped); we overwrite them all. */
			if (!atomic_compare_exchange_strong_explicit(
				    &s->ctl, &c, mine, memory_order_acquire,
				    memory_order_relaxed))
				continue;
			fill(v, s, h, key, klen, value, vlen);
			return mode == PUT ? 1 : 0;
		}
		if (st == SHOAL__MAP_EMPTY || !holds(v, s, c, h, key, klen)) {
			k++; /* another key, or a scribble: never ours */
			continue;
		}
		if (st == SHOAL__MAP_FULL) {
			if (mode == INSERT)
				return -EEXIST;
			/* Update. A delete racing us makes it an update
			 * before the delete. */
			err = set_value(v, s, value, vlen);
			return err;
		}
		/* Our key's tomb. */
		if (mode == UPDATE)
			return -ENOENT;
		err = revive(v, s, h, value, vlen);
		if (err == -EEXIST)
			continue; /* revived by someone else: look again */
		if (err)
			return err;
		return mode == PUT ? 1 : 0;
	}
	if (mode == UPDATE)
		return -ENOENT;
	return shoal__fail(-ENOSPC, "map: no free slot for the key in %u slots",
			   v->priv_capacity);
}

int shoal__map_insert(struct shoal__map *view, const void *key, size_t klen,
		      const void *value, size_t vlen)
{
	int err = write_ok(view, klen, vlen, "map_insert");

	return err ? err : write_key(view, key, klen, value, vlen, INSERT);
}

int shoal__map_update(struct shoal__map *view, const void *key, size_t klen,
		      const void *value, size_t vlen)
{
	int err = write_ok(view, klen, vlen, "map_update");

	return err ? err : write_key(view, key, klen, value, vlen, UPDATE);
}

int shoal__map_put(struct shoal__map *view, const void *key, size_t klen,
		   const void *value, size_t vlen)
{
	int err = write_ok(view, klen, vlen, "map_put");

	return err ? err : write_key(view, key, klen, value, vlen, PUT);
}

int shoal__map_delete(struct shoal__map *view, const void *key, size_t klen)
{
	uint32_t h = shoal__map_hash(key, klen), i;
	uint64_t c;
	int err = write_ok(view, klen, 0, "map_delete");

	if (err)
		return err;
	err = find(view, key, klen, h, &i, &c);
	if (err)
		return err;
	if (((uint32_t)c & STATE_MASK) != SHOAL__MAP_FULL)
		return -ENOENT;
	/* Relaxed: a tomb publishes nothing (its key was published with
	 * FULL). Fails if someone else deleted it first. */
	if (!atomic_compare_exchange_strong_explicit(
		    &slot_at(view, i)->ctl, &c, ctl_word(h, 0, SHOAL__MAP_TOMB),
		    memory_order_relaxed, memory_order_relaxed))
		return -ENOENT;
	return 0;
}

int shoal__map_lookup(const struct shoal__map *view, const void *key,
		      size_t klen, void *out, size_t cap,
		      uint64_t *change_count)
{
	uint32_t h, i;
	uint64_t c;
	struct shoal__map_slot *s;
	int err = key_ok(view, klen, "map_lookup");

	if (err)
		return err;
	if (cap < view->priv_value_size)
		return shoal__fail(-EMSGSIZE,
				   "map_lookup: %zu-byte buffer, %u-byte value",
				   cap, view->priv_value_size);
	h = shoal__map_hash(key, klen);
	err = find(view, key, klen, h, &i, &c);
	if (err)
		return err;
	if (((uint32_t)c & STATE_MASK) != SHOAL__MAP_FULL)
		return -ENOENT;
	s = slot_at(view, i);
	err = shoal__seqval_read(&s->sv, copies_of(view, s),
				 view->priv_val_stride, view->priv_value_size,
				 out, change_count);
	return err ? err : (int)view->priv_value_size;
}

int shoal__map_next(const struct shoal__map *view, uint32_t *cursor, void *key,
		    size_t kcap, uint32_t *klen, void *value, size_t vcap,
		    uint64_t *change_count)
{
	if (kcap < view->priv_key_max || vcap < view->priv_value_size)
		return shoal__fail(-EMSGSIZE,
				   "map_next: buffers of %zu and %zu bytes, "
				   "need %u and %u",
				   kcap, vcap, view->priv_key_max,
				   view->priv_value_size);
	for (uint32_t i = *cursor; i < view->priv_capacity; i++) {
		struct shoal__map_slot *s = slot_at(view, i);
		/* Acquire: as in find(). */
		uint64_t c =
			atomic_load_explicit(&s->ctl, memory_order_acquire);
		uint32_t len;
		int err;

		if (((uint32_t)c & STATE_MASK) != SHOAL__MAP_FULL ||
		    ((uint32_t)c & OWNER_BITS))
			continue;
		len = SHOAL__READ_ONCE(s->key_len);
		if (!len || len > view->priv_key_max)
			continue;
		memcpy(key, key_of(view, s), len);
		err = shoal__seqval_read(&s->sv, copies_of(view, s),
					 view->priv_val_stride,
					 view->priv_value_size, value,
					 change_count);
		if (err == -EBADMSG)
			continue; /* a scribbled value: passed over */
		if (err) {
			*cursor = i; /* -EAGAIN: this slot again */
			return err;
		}
		*klen = len;
		*cursor = i + 1;
		return 0;
	}
	*cursor = view->priv_capacity;
	return -ENOENT;
}

int shoal__map_iterate(const struct shoal__map *view, void *buf, size_t buf_len,
		       shoal__map_visit_fn visit, void *user_data)
{
	unsigned char *kb = buf, *vb;
	uint32_t cursor = 0, klen;
	uint64_t n;
	int visited = 0;

	if (buf_len < (size_t)view->priv_key_max + view->priv_value_size)
		return shoal__fail(-EMSGSIZE,
				   "map_iterate: %zu-byte buffer, need %u",
				   buf_len,
				   view->priv_key_max + view->priv_value_size);
	vb = kb + view->priv_key_max;
	while (cursor < view->priv_capacity) {
		int err = shoal__map_next(view, &cursor, kb, view->priv_key_max,
					  &klen, vb, view->priv_value_size, &n);

		if (err == -ENOENT)
			break;
		if (err) {
			cursor++; /* a value that stays unreadable */
			continue;
		}
		visited++;
		err = visit(kb, klen, vb, view->priv_value_size, n, user_data);
		if (err)
			return err;
	}
	return visited;
}

uint32_t shoal__map_used(const struct shoal__map *view)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < view->priv_capacity; i++)
		n += atomic_load_explicit(&slot_at(view, i)->ctl,
					  memory_order_relaxed) != 0;
	return n;
}

uint32_t shoal__map_capacity(const struct shoal__map *view)
{
	return view->priv_capacity;
}

uint32_t shoal__map_key_max(const struct shoal__map *view)
{
	return view->priv_key_max;
}

uint32_t shoal__map_value_size(const struct shoal__map *view)
{
	return view->priv_value_size;
}
