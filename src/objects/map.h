/* SPDX-License-Identifier: MIT */
/*
 * The map: a fixed-capacity open-addressing hash map over a region of
 * shared memory, keys of 1..key_max bytes (stored with their length), values
 * of a fixed size, for the store. No system calls.
 *
 * Slots: capacity (a power of two) slots, probed linearly from
 * hash(key) & (capacity - 1), at most capacity of them. A slot's ctl word
 * says what it holds:
 *  - EMPTY (the word 0): never used. Only EMPTY ends a probe.
 *  - WRITING: hash32 << 32 | owner << 2 | 1: claimed by CAS from EMPTY by an
 *    inserter, which then writes the key and the first value.
 *  - FULL: hash32 << 32 | 2: the key is present; published by a release
 *    store after the key and value are written, so a key is findable only
 *    whole.
 *  - TOMB: hash32 << 32 | 3: the key was deleted. The key stays in the slot
 *    for good: inserting it again revives this slot.
 * A slot's key never changes once FULL, so an EMPTY slot is the only place
 * a probe can stop, and a key is in at most one slot: inserters of one key
 * all probe the same slots in the same order, and one that meets a WRITING
 * slot of the same hash32 waits for it (the key is not readable yet) instead
 * of passing it, up to the retry budget (-EBUSY), or takes it over by CAS
 * when alive() says its writer is dead (that insert never returned, so its
 * half-written key was never visible). A WRITING slot of another hash is
 * passed. Lookups never wait: they pass WRITING slots.
 *
 * Values: each slot holds its value by the seqval protocol of cell.h (two
 * copies, a change counter), so a reader never sees a torn value and never
 * waits. Writers of one slot's value (update, revive) take its latch, with
 * takeover of a dead holder as the cell's many-writer mode. Insert of a new
 * key writes the first value while the slot is WRITING (nobody else can see
 * it), so it takes no latch. Delete is a CAS of FULL to TOMB.
 *
 * Progress: lookup, delete and iterate are lock-free (lookups wait-free up
 * to the seqval retry budget); insert of a new key is lock-free unless it
 * meets a same-hash slot being written; update takes the slot's latch
 * briefly. Nothing loops more than capacity slots or the retry budget.
 * Untrusted region: key lengths and hashes are checked before use; a slot
 * whose ctl is impossible (state EMPTY with other bits set, FULL or TOMB
 * with owner bits) is passed over as if it held another key, and its key
 * is never read.
 */
#ifndef SHOAL_SRC_OBJECTS_MAP_H
#define SHOAL_SRC_OBJECTS_MAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "objects/cell.h"
#include "objects/objects.h"

#define SHOAL__MAP_CAPACITY_MAX (1u << 24)
#define SHOAL__MAP_KEY_MAX 4096u
#define SHOAL__MAP_VALUE_MAX (1u << 20)

#define SHOAL__MAP_EMPTY 0u
#define SHOAL__MAP_WRITING 1u
#define SHOAL__MAP_FULL 2u
#define SHOAL__MAP_TOMB 3u

/*
 * A map region (docs/objects.md, "Map"):
 *	[0, 64)		struct shoal__obj_header: p[0] capacity, p[1] key_max,
 *			p[2] value_size
 *	[64, ...)	capacity slots, each shoal__map_stride() bytes:
 *			struct shoal__map_slot (48 bytes), the key (key_max
 *			rounded up to 8), copy 0 and copy 1 of the value (each
 *			value_size rounded up to 8); the slot rounded up to 64
 */
struct shoal__map_slot {
	_Atomic uint64_t ctl;	 /* state, see above; CAS or release store */
	struct shoal__seqval sv; /* the value's seqval words */
	uint32_t key_len;	 /* written while WRITING, before FULL */
	uint32_t pad;
};
_Static_assert(sizeof(struct shoal__map_slot) == 48, "map slot header");

/* A process-local view of a map; fields are private. */
struct shoal__map {
	unsigned char *priv_slots;
	uint64_t priv_stride;
	uint64_t priv_key_off;	  /* key bytes from the slot start */
	uint64_t priv_val_off;	  /* copy 0 from the slot start */
	uint64_t priv_val_stride; /* copy 1 is copy 0 + this */
	uint32_t priv_capacity;
	uint32_t priv_key_max;
	uint32_t priv_value_size;
	struct shoal__obj_who priv_who;
	int priv_can_write;
};

/* The key hash every process must agree on: 32-bit FNV-1a of the key bytes
 * (offset basis 2166136261, prime 16777619). */
uint32_t shoal__map_hash(const void *key, size_t len);

uint64_t shoal__map_stride(uint32_t key_max, uint32_t value_size);

/* Bytes a map region needs (a multiple of 64), or 0 if @capacity is not a
 * power of two in 1..CAPACITY_MAX, @key_max not in 1..KEY_MAX or
 * @value_size not in 1..VALUE_MAX. */
size_t shoal__map_bytes(uint32_t capacity, uint32_t key_max,
			uint32_t value_size);

/* shoal__map_format - lay out an empty map. Once, by the creator, before
 * anyone attaches. 0 or -EINVAL. */
int shoal__map_format(void *region, size_t len, uint32_t capacity,
		      uint32_t key_max, uint32_t value_size);

/* shoal__map_attach - check the map in @region against the expected
 * geometry and fill @view; @who NULL: lookups and iteration only (they
 * never write the region). 0, -EINVAL, -EBADMSG. */
int shoal__map_attach(struct shoal__map *view, void *region, size_t len,
		      uint32_t capacity, uint32_t key_max, uint32_t value_size,
		      const struct shoal__obj_who *who);

/*
 * Writers. @klen 1..key_max (else -EINVAL), @vlen <= value size (else
 * -EMSGSIZE; the rest of the value is zero). All return -EPERM for a
 * read-only view, -EBUSY when the retry budget was spent waiting on a live
 * writer (call again). Corrupt slots are passed over, never an error.
 *  insert: add a key that is absent: 0, -EEXIST (present: nothing
 *          written), -ENOSPC (no EMPTY slot on the probe and no tomb of
 *          this key).
 *  update: replace the value of a present key: 0, -ENOENT.
 *  put:    insert or update: 1 inserted, 0 updated, or insert's errors.
 *  delete: 0, -ENOENT. The slot stays the key's (a tomb).
 */
int shoal__map_insert(struct shoal__map *view, const void *key, size_t klen,
		      const void *value, size_t vlen);
int shoal__map_update(struct shoal__map *view, const void *key, size_t klen,
		      const void *value, size_t vlen);
int shoal__map_put(struct shoal__map *view, const void *key, size_t klen,
		   const void *value, size_t vlen);
int shoal__map_delete(struct shoal__map *view, const void *key, size_t klen);

/*
 * shoal__map_lookup - copy the value of @key into @out (@cap >= value
 * size) and, if not NULL, its change count (1 for the first value, + 1 per
 * update, kept across delete and revive). Returns the value size, -ENOENT,
 * -EMSGSIZE, -EINVAL (@klen), -EAGAIN (writers overtook the read through
 * the retry budget), -EBADMSG (the value's stamps cannot be). @out is
 * unspecified after an error. Never writes the region, never waits.
 */
int shoal__map_lookup(const struct shoal__map *view, const void *key,
		      size_t klen, void *out, size_t cap,
		      uint64_t *change_count);

/*
 * shoal__map_next - iteration by cursor: from slot *@cursor (start at 0),
 * find the next FULL slot, copy its key (@kcap >= key_max) and value (@vcap
 * >= value size) out, set *@klen, *@change_count (if not NULL) and *@cursor
 * past it. Returns 0, -ENOENT (no more), -EMSGSIZE, -EAGAIN as lookup
 * (*@cursor then names that slot, to try again). A key inserted or deleted
 * meanwhile may or may not be seen; a key present throughout is seen
 * exactly once. Slots whose state, key length or value stamps are
 * impossible are skipped. Never writes the region.
 */
int shoal__map_next(const struct shoal__map *view, uint32_t *cursor, void *key,
		    size_t kcap, uint32_t *klen, void *value, size_t vcap,
		    uint64_t *change_count);

/* Called by shoal__map_iterate() for each present key; nonzero stops the
 * iteration, and iterate returns it. */
typedef int (*shoal__map_visit_fn)(const void *key, uint32_t klen,
				   const void *value, uint32_t vlen,
				   uint64_t change_count, void *user_data);

/*
 * shoal__map_iterate - shoal__map_next() over every slot, calling @visit
 * with copies in @buf (@buf_len >= key_max + value size). Returns the
 * number of keys visited, @visit's nonzero return, or -EMSGSIZE. A slot
 * whose value stays -EAGAIN is skipped.
 */
int shoal__map_iterate(const struct shoal__map *view, void *buf, size_t buf_len,
		       shoal__map_visit_fn visit, void *user_data);

/* Slots not EMPTY (FULL, TOMB, WRITING): a walk of every slot, a snapshot
 * only when nobody writes. Never writes the region. */
uint32_t shoal__map_used(const struct shoal__map *view);

uint32_t shoal__map_capacity(const struct shoal__map *view);
uint32_t shoal__map_key_max(const struct shoal__map *view);
uint32_t shoal__map_value_size(const struct shoal__map *view);

#endif
