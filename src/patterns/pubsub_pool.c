/* SPDX-License-Identifier: MIT */
/*
 * Payload pools of a pub/sub ring: the table's format and its checks, and
 * the publisher's bookkeeping. pubsub_pool.h says how chunks are reused;
 * pubsub_send.c takes and fills them; the subscriber follows references
 * with the functions at the end of this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/error.h"
#include "patterns/pubsub_pool.h"
#include "ring/ring_bcast.h"

static inline uint64_t round64(uint64_t v)
{
	return (v + 63) & ~(uint64_t)63;
}

int shoal__pools_check_options(const struct shoal_pool *pools, uint32_t n,
			       uint32_t max_payload)
{
	uint64_t prev = 0;

	if (!n)
		return pools ? shoal__fail(-EINVAL,
					   "pub: pools given but npools 0") :
			       0;
	if (!pools || n > SHOAL_PUB_POOLS_MAX)
		return shoal__fail(-EINVAL, "pub: npools %u not in 1..%u", n,
				   SHOAL_PUB_POOLS_MAX);
	for (uint32_t c = 0; c < n; c++) {
		uint64_t size = round64(pools[c].size);

		if (!pools[c].size || pools[c].size > SHOAL_POOL_CHUNK_MAX ||
		    !pools[c].count || pools[c].count > SHOAL_POOL_CHUNKS_MAX)
			return shoal__fail(-EINVAL,
					   "pub: pool %u: %u chunks of %u "
					   "bytes (1..%u chunks of 1..%u)",
					   c, pools[c].count, pools[c].size,
					   SHOAL_POOL_CHUNKS_MAX,
					   SHOAL_POOL_CHUNK_MAX);
		if (size <= prev)
			return shoal__fail(-EINVAL,
					   "pub: pool sizes must increase "
					   "(pool %u: %u bytes, rounded to "
					   "64: %llu)",
					   c, pools[c].size,
					   (unsigned long long)size);
		prev = size;
	}
	if (max_payload && max_payload != pools[n - 1].size)
		return shoal__fail(-EINVAL,
				   "pub: with pools max_payload is 0 or the "
				   "largest pool's size %u, not %u",
				   pools[n - 1].size, max_payload);
	if (shoal__pools_bytes(pools, n) > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG, "pub: the pools are too large");
	return 0;
}

/* Where each part goes: stamps after the table, then the data. */
static uint64_t lay_out(const struct shoal_pool *pools, uint32_t n,
			struct shoal__pool_class *out)
{
	uint64_t off = sizeof(struct shoal__pool_table);

	for (uint32_t c = 0; c < n; c++) {
		out[c].size = (uint32_t)round64(pools[c].size);
		out[c].count = pools[c].count;
		out[c].stamps_off = off;
		off += (uint64_t)pools[c].count * 8;
	}
	off = round64(off);
	for (uint32_t c = 0; c < n; c++) {
		out[c].data_off = off;
		off += (uint64_t)out[c].count * out[c].size;
	}
	return off;
}

uint64_t shoal__pools_bytes(const struct shoal_pool *pools, uint32_t n)
{
	struct shoal__pool_class cls[SHOAL_PUB_POOLS_MAX];

	return lay_out(pools, n, cls);
}

/* @pp's pointers into the object at @obj, from checked classes. */
static void point(const void *obj, const struct shoal__pool_class *cls,
		  uint32_t n, struct pubsub_pools *pp)
{
	uint8_t *base = (uint8_t *)obj;

	memset(pp, 0, sizeof(*pp));
	pp->n = n;
	for (uint32_t c = 0; c < n; c++) {
		pp->pool[c].size = cls[c].size;
		pp->pool[c].count = cls[c].count;
		pp->pool[c].stamps =
			(_Atomic uint64_t *)(base + cls[c].stamps_off);
		pp->pool[c].data = base + cls[c].data_off;
	}
	pp->largest = n ? cls[n - 1].size : 0;
}

void shoal__pools_format(void *obj, const struct shoal_pool *pools, uint32_t n,
			 struct pubsub_pools *pp)
{
	struct shoal__pool_table *t = obj;

	t->npools = n;
	pp->obj_size = lay_out(pools, n, t->pool);
	point(obj, t->pool, n, pp);
	/* The chunk sizes the caller asked for, not rounded: a loan of more
	 * than that is refused as the options said. */
	pp->largest = pools[n - 1].size;
}

int shoal__pools_read(const void *obj, uint64_t size, struct pubsub_pools *pp)
{
	const struct shoal__pool_table *t = obj;
	struct shoal__pool_class cls[SHOAL_PUB_POOLS_MAX];
	uint32_t n;
	uint64_t prev = 0;

	if (size < sizeof(*t))
		return shoal__fail(-EBADMSG, "pubsub: pool table too small");
	n = SHOAL__READ_ONCE(t->npools);
	if (!n || n > SHOAL_PUB_POOLS_MAX)
		return shoal__fail(-EBADMSG, "pubsub: %u pools", n);
	for (uint32_t c = 0; c < n; c++) {
		cls[c].size = SHOAL__READ_ONCE(t->pool[c].size);
		cls[c].count = SHOAL__READ_ONCE(t->pool[c].count);
		cls[c].stamps_off = SHOAL__READ_ONCE(t->pool[c].stamps_off);
		cls[c].data_off = SHOAL__READ_ONCE(t->pool[c].data_off);
		/* Each bound below is checked before the next product, and
		 * every product fits 64 bits: count <= 2^20, size <= 2^30. */
		if (!cls[c].size || cls[c].size % 64 ||
		    cls[c].size > round64(SHOAL_POOL_CHUNK_MAX) ||
		    cls[c].size <= prev || !cls[c].count ||
		    cls[c].count > SHOAL_POOL_CHUNKS_MAX ||
		    cls[c].stamps_off % 8 || cls[c].data_off % 64 ||
		    cls[c].stamps_off < sizeof(*t) ||
		    cls[c].data_off < sizeof(*t) || cls[c].stamps_off > size ||
		    cls[c].data_off > size ||
		    size - cls[c].stamps_off < (uint64_t)cls[c].count * 8 ||
		    size - cls[c].data_off <
			    (uint64_t)cls[c].count * cls[c].size)
			return shoal__fail(-EBADMSG,
					   "pubsub: pool %u inconsistent "
					   "(%u chunks of %u bytes)",
					   c, cls[c].count, cls[c].size);
		prev = cls[c].size;
	}
	point(obj, cls, n, pp);
	pp->obj_size = size;
	return 0;
}

int shoal__pool_pub_init(struct pubsub_pool_pub *a,
			 const struct pubsub_pools *pp)
{
	memset(a->next, 0, sizeof(a->next));
	memset(a->last, 0, sizeof(a->last));
	a->pp = *pp;
	for (uint32_t c = 0; c < pp->n; c++) {
		a->last[c] = calloc(pp->pool[c].count, sizeof(uint64_t));
		if (!a->last[c])
			return shoal__fail(-ENOMEM, "pub: out of memory");
	}
	return 0;
}

void shoal__pool_pub_fini(struct pubsub_pool_pub *a)
{
	for (uint32_t c = 0; c < SHOAL_PUB_POOLS_MAX; c++) {
		free(a->last[c]);
		a->last[c] = NULL;
	}
}

/* ------------------------------------------------------------------------
 * The subscriber's side: following a slot's reference to its chunk.
 */

/*
 * Pools: the chunk the slot of @v refers to, into *@data and v->len. 0,
 * -EAGAIN when the slot changed under the read of its reference (the next
 * look sees the lap), or -EBADMSG (the reference is out of range in a
 * slot that did not change: a lying publisher). The chunk's stamp is not
 * judged here: a chunk already reused (lossy, or a late joiner's history)
 * is handed out as a slot overwritten while held is, and its release says
 * -ESTALE (shoal__pools_intact()).
 */
int shoal__pools_resolve_view(const struct pubsub_pools *pp,
			      const struct shoal__bcast_map *m,
			      struct shoal__bcast_view *v, const void **data)
{
	_Atomic uint64_t *stamp;
	const uint8_t *d;
	uint32_t len;
	int err = shoal__pools_resolve(pp, shoal__bcast_payload(m, v->slot), &d,
				       &len, &stamp);

	/* The reference was read after the peek's re-check of the stamp:
	 * check it again (shoal__bcast_intact() fences first). */
	if (!shoal__bcast_intact(v))
		return -EAGAIN;
	if (err)
		return shoal__fail(-EBADMSG,
				   "sub: message %llu refers to no chunk of "
				   "the publisher's pools",
				   (unsigned long long)v->seq);
	*data = d;
	v->len = len;
	return 0;
}

/*
 * Pools: @msg's chunk still holds it. Its stamp is the message's slot
 * stamp while the chunk holds it, and 0 or another stamp once the
 * publisher took it again: pubsub_pool.h. The reference is read anew from
 * the slot (whose stamp the caller checks after: a changed slot makes the
 * message stale whatever this says).
 */
int shoal__pools_intact(const struct pubsub_pools *pp,
			const struct shoal__bcast_map *m,
			const struct shoal_msg *msg)
{
	_Atomic uint64_t *stamp;
	const uint8_t *d;
	uint32_t len;

	if (shoal__pools_resolve(
		    pp,
		    shoal__bcast_payload(
			    m, (struct shoal__bcast_slot *)msg->priv_slot),
		    &d, &len, &stamp) ||
	    d != msg->data)
		return 0;
	/* Acquire fence: pairs with the release fence after the publisher
	 * zeroes the stamp (pool_loan() in pubsub_send.c): if the payload
	 * read saw a new message's bytes, this load sees 0 or newer. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(stamp, memory_order_relaxed) ==
	       msg->priv_stamp;
}
