/* SPDX-License-Identifier: MIT */
/*
 * Payload pools of a pub/sub ring (docs/pubsub.md, "Payload pools";
 * docs/pubsub-format.md has the bytes): chunks in size classes, so that a
 * message costs the smallest chunk that holds it and a service costs the
 * pools' sum rather than capacity x its largest message. The ring's slots
 * then carry a struct shoal__pool_ref each, and the payload is in a chunk.
 *
 * Reuse: the publisher takes a class's chunks round robin, so the next one
 * is always the class's oldest. Reliable: it waits until every live
 * subscriber's cursor is past the message the chunk last held (the same
 * cursors the ring gates on). Lossy: it reuses the chunk at once. Either
 * way it zeroes the chunk's stamp before writing and stores the message's
 * stamp after, so a reader that still holds the old message sees the
 * change (the chunk's stamp is a seqlock word, as a slot's is).
 *
 * Everything the subscriber reads here is untrusted: the table is checked
 * once when the ring is mapped (shoal__pools_read()), and every reference
 * in a slot is checked against the checked copy before it is followed.
 */
#ifndef SHOAL_SRC_PUBSUB_POOL_H
#define SHOAL_SRC_PUBSUB_POOL_H

#include <stdint.h>

#include "shoal/pubsub.h"
#include "arch/arch.h"
#include "patterns/pubsub_layout.h"

/* A ring's pools as checked, and where their parts are in this process. */
struct pubsub_pools {
	uint32_t n;	   /* classes; 0: the ring has no pools */
	uint32_t largest;  /* the largest class's chunk size */
	uint64_t obj_size; /* bytes of the "pubsub.pools" object */
	struct pubsub_pool {
		uint32_t size, count;
		_Atomic uint64_t *stamps; /* count of them */
		uint8_t *data;		  /* count chunks of size bytes */
	} pool[SHOAL_PUB_POOLS_MAX];
};

/* The options' pools make sense: 0 or -EINVAL with the detail. */
int shoal__pools_check_options(const struct shoal_pool *pools, uint32_t n,
			       uint32_t max_payload);

/* Bytes of the "pubsub.pools" object for the options' pools (checked). */
uint64_t shoal__pools_bytes(const struct shoal_pool *pools, uint32_t n);

/* Writes the table of the options' pools at @obj (zeroed, of
 * shoal__pools_bytes()) and fills @pp with its parts. */
void shoal__pools_format(void *obj, const struct shoal_pool *pools, uint32_t n,
			 struct pubsub_pools *pp);

/*
 * Reads and checks the table at @obj of @size bytes into @pp: classes
 * 1..SHOAL_PUB_POOLS_MAX, sizes multiples of 64 strictly increasing,
 * counts in range, every part inside the object and the data 64-aligned.
 * 0 or -EBADMSG with the detail. Fuzzed through the geometry target.
 */
int shoal__pools_read(const void *obj, uint64_t size, struct pubsub_pools *pp);

/* The smallest class whose chunks hold @len bytes, or -1. */
static inline int shoal__pools_class(const struct pubsub_pools *pp,
				     uint32_t len)
{
	for (uint32_t c = 0; c < pp->n; c++)
		if (len <= pp->pool[c].size)
			return (int)c;
	return -1;
}

static inline uint8_t *shoal__pools_chunk(const struct pubsub_pools *pp,
					  uint32_t c, uint32_t k)
{
	return pp->pool[c].data + (uint64_t)k * pp->pool[c].size;
}

/*
 * What a pooled slot's payload @ref (in shared memory) refers to, checked:
 * 0 with the chunk's data, the message's length and the chunk's stamp
 * word; -EBADMSG when the reference is out of range (a torn read of a slot
 * being rewritten, or a lying publisher: the caller tells which by the
 * slot's stamp).
 */
static inline int shoal__pools_resolve(const struct pubsub_pools *pp,
				       const void *ref, const uint8_t **data,
				       uint32_t *len, _Atomic uint64_t **stamp)
{
	const struct shoal__pool_ref *r = ref;
	uint32_t c = SHOAL__READ_ONCE(r->pool);
	uint32_t k = SHOAL__READ_ONCE(r->chunk);
	uint32_t l = SHOAL__READ_ONCE(r->len);

	if (c >= pp->n || k >= pp->pool[c].count || l > pp->pool[c].size)
		return -EBADMSG;
	*data = shoal__pools_chunk(pp, c, k);
	*len = l;
	*stamp = &pp->pool[c].stamps[k];
	return 0;
}

/* ------------------------------------------------------------------------
 * The publisher's chunk allocator (not shared; not thread-safe).
 */
struct pubsub_pool_pub {
	struct pubsub_pools pp;
	uint32_t next[SHOAL_PUB_POOLS_MAX]; /* the class's oldest chunk */
	/* Per chunk: seq + 1 of the message it last held (0: none yet). */
	uint64_t *last[SHOAL_PUB_POOLS_MAX];
};

/* Allocates the bookkeeping for @pp's chunks. 0 or -ENOMEM. */
int shoal__pool_pub_init(struct pubsub_pool_pub *a,
			 const struct pubsub_pools *pp);
void shoal__pool_pub_fini(struct pubsub_pool_pub *a);

/* ------------------------------------------------------------------------
 * The subscriber's side (pubsub_pool.c says more).
 */
struct shoal__bcast_map;
struct shoal__bcast_view;

/* The chunk message @v's slot refers to: 0 with *@data and v->len,
 * -EAGAIN (the slot changed under the read), or -EBADMSG. */
int shoal__pools_resolve_view(const struct pubsub_pools *pp,
			      const struct shoal__bcast_map *m,
			      struct shoal__bcast_view *v, const void **data);
/* 1 while @msg's chunk still holds it (the caller checks the slot after). */
int shoal__pools_intact(const struct pubsub_pools *pp,
			const struct shoal__bcast_map *m,
			const struct shoal_msg *msg);

#endif
