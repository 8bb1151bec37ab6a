/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring: one producer, one consumer, fixed-size slots, in a region of
 * shared memory (usually a segment object of kind SHOAL_OBJECT_SPSC_RING).
 *
 * The region holds no pointers and makes no system calls, so it works between
 * processes mapping it at different addresses. Each side keeps a small local
 * handle (struct shoal_spsc_producer / shoal_spsc_consumer, caller's memory)
 * with its own position and a cache of the other side's.
 *
 * Every slot carries the sequence number of the message it holds, so a polling
 * consumer reads the slot alone (one cache line for a small message) and the
 * producer reads the consumer's position only when its cached copy says the
 * ring is full. See docs/spsc-ring.md.
 *
 * Thread safety: one thread at a time per handle; exactly one producer handle
 * and one consumer handle per ring at a time. Progress: wait-free (every call
 * returns in a bounded number of steps; "full" and "empty" are -EAGAIN).
 * Nothing here blocks: pair it with notify.h to wait.
 *
 * Blocking and system calls:
 *   Every function: neither. The ring is memory and atomics only: a full
 *     or empty ring is -EAGAIN, never a wait; to wait, use notify.h.
 */
#ifndef SHOAL_RING_SPSC_H
#define SHOAL_RING_SPSC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest slot payload, in bytes: 1 GiB. */
#define SHOAL_SPSC_SLOT_MAX (1u << 30)
/* Most slots one ring holds. */
#define SHOAL_SPSC_CAPACITY_MAX (1u << 24)

/* A length for shoal_spsc_commit_n(): the slot is a skip marker, a
 * position given up between committed ones, which consumers pass over. */
#define SHOAL_SPSC_SKIP 0xffffffffu

/* Local producer state. Fields are private: use the functions. */
struct shoal_spsc_producer {
	void *priv_ring;
	unsigned char *priv_slots;
	uint64_t priv_head;	  /* next position to write */
	uint64_t priv_tail_cache; /* consumer position last read */
	uint64_t priv_stride;	  /* bytes from one slot to the next */
	uint32_t priv_mask;	  /* capacity - 1 */
	uint32_t priv_slot_size;  /* payload bytes per slot */
	uint32_t priv_claimed;	  /* slots claimed, not yet committed */
	uint32_t priv_pad;
};

/* Local consumer state. Fields are private: use the functions. */
struct shoal_spsc_consumer {
	void *priv_ring;
	unsigned char *priv_slots;
	uint64_t priv_tail; /* next position to read */
	uint64_t priv_stride;
	uint32_t priv_mask;
	uint32_t priv_slot_size;
	uint32_t priv_peeked; /* slots peeked, not yet released */
	uint32_t priv_pad;
};

/* A message seen in place by shoal_spsc_peek_batch(). */
struct shoal_spsc_msg {
	const void *data;
	uint32_t len;
};

/*
 * shoal_spsc_region_size - bytes needed for a ring of @capacity slots (a power
 * of two, 2..SHOAL_SPSC_CAPACITY_MAX) of @slot_size payload bytes each
 * (1..SHOAL_SPSC_SLOT_MAX). Returns 0 for an invalid geometry.
 */
SHOAL_API uint64_t shoal_spsc_region_size(uint32_t capacity,
					  uint32_t slot_size);

/*
 * shoal_spsc_format - lay out an empty ring in @region (64-byte aligned,
 * @region_size >= shoal_spsc_region_size()). Positions start at @start_pos
 * (any value: they are free-running and wrap). Call before any peer can see
 * the region. Returns 0 or -EINVAL.
 */
SHOAL_API int shoal_spsc_format(void *region, uint64_t region_size,
				uint32_t capacity, uint32_t slot_size,
				uint64_t start_pos);

/*
 * shoal_spsc_producer_init / shoal_spsc_consumer_init - attach a handle to a
 * formatted region. The geometry is read once from the region and checked
 * against @region_size: -EBADMSG if it is corrupt or does not fit.
 */
SHOAL_API int shoal_spsc_producer_init(struct shoal_spsc_producer *p,
				       void *region, uint64_t region_size);
SHOAL_API int shoal_spsc_consumer_init(struct shoal_spsc_consumer *c,
				       void *region, uint64_t region_size);

/* Payload bytes per slot. */
SHOAL_API uint32_t shoal_spsc_slot_size(const struct shoal_spsc_producer *p);
/* Slots in the ring. */
SHOAL_API uint32_t shoal_spsc_capacity(const struct shoal_spsc_producer *p);
/* The same two, read at the consumer's end. */
SHOAL_API uint32_t
shoal_spsc_consumer_slot_size(const struct shoal_spsc_consumer *c);
SHOAL_API uint32_t
shoal_spsc_consumer_capacity(const struct shoal_spsc_consumer *c);

/*
 * Copy API.
 * shoal_spsc_push - copy @len bytes in as one message. 0, -EAGAIN (full),
 *   -EMSGSIZE (@len > slot size), -EBUSY (slots claimed, not committed),
 *   -EBADMSG (the consumer's position in shared memory is impossible).
 * shoal_spsc_pop - copy the next message out. Returns its length, -EAGAIN
 *   (empty), -EMSGSIZE (@cap too small; the message stays), -EBADMSG (the
 *   slot claims a length larger than the slot: the message is skipped).
 */
SHOAL_API int shoal_spsc_push(struct shoal_spsc_producer *p, const void *data,
			      uint32_t len);
SHOAL_API ssize_t shoal_spsc_pop(struct shoal_spsc_consumer *c, void *buf,
				 size_t cap);

/*
 * Zero-copy producer.
 * shoal_spsc_claim - reserve the next slot; *slot points at its
 *   shoal_spsc_slot_size() payload bytes. 0, -EAGAIN, -EBUSY, -EBADMSG.
 * shoal_spsc_commit - publish the claimed slot with @len bytes. 0, -EINVAL
 *   (nothing claimed), -EMSGSIZE.
 * shoal_spsc_claim_batch - reserve up to @max consecutive slots, pointers in
 *   @slots[]. Returns how many (>= 1), or -EAGAIN, -EBUSY, -EBADMSG.
 * shoal_spsc_commit_batch - publish the @n claimed slots with lengths
 *   @lens[] with one release store for the whole batch. 0, -EINVAL, -EMSGSIZE
 *   (nothing is published then).
 * shoal_spsc_abort - give back claimed, uncommitted slots.
 */
SHOAL_API int shoal_spsc_claim(struct shoal_spsc_producer *p, void **slot);
SHOAL_API int shoal_spsc_commit(struct shoal_spsc_producer *p, uint32_t len);
SHOAL_API int shoal_spsc_claim_batch(struct shoal_spsc_producer *p,
				     uint32_t max, void **slots);
SHOAL_API int shoal_spsc_commit_batch(struct shoal_spsc_producer *p,
				      const uint32_t *lens, uint32_t n);
SHOAL_API void shoal_spsc_abort(struct shoal_spsc_producer *p);

/*
 * Zero-copy consumer.
 * shoal_spsc_peek - see the next message in place: *data and *len valid until
 *   shoal_spsc_release(). 0, -EAGAIN, -EBUSY (already peeked), -EBADMSG (bad
 *   length; the slot is skipped).
 * shoal_spsc_release - hand the peeked slot(s) back to the producer with one
 *   store. 0 or -EINVAL (nothing peeked).
 * shoal_spsc_peek_batch - see up to @max messages in place. Returns how many
 *   (>= 1), -EAGAIN, -EBUSY, or -EBADMSG when the first one is corrupt (it is
 *   skipped); a corrupt one later in the batch ends the batch before it.
 */
SHOAL_API int shoal_spsc_peek(struct shoal_spsc_consumer *c, const void **data,
			      uint32_t *len);
SHOAL_API int shoal_spsc_release(struct shoal_spsc_consumer *c);
SHOAL_API int shoal_spsc_peek_batch(struct shoal_spsc_consumer *c, uint32_t max,
				    struct shoal_spsc_msg *msgs);

/*
 * Several claims and peeks at once (a channel with max_loans/max_held).
 * shoal_spsc_claim_next - claim one more slot after those claimed (room for
 *   claimed + 1). 0, -EAGAIN (full), -EBADMSG.
 * shoal_spsc_commit_n - publish the first @n claimed (1..claimed) with
 *   @lens[], SHOAL_SPSC_SKIP making a slot a skip marker (never the last
 *   one published: a consumer that passed it must find the next); the rest
 *   stay claimed. 0, -EINVAL, -EMSGSIZE (nothing published then).
 * shoal_spsc_unclaim - give back the newest @n claimed. 0 or -EINVAL.
 * shoal_spsc_peek_next - see the next message past those peeked (markers
 *   passed over, kept in the run) and its position in *@pos. 0, -EAGAIN,
 *   -EBADMSG (a corrupt slot, passed over as a marker).
 * shoal_spsc_release_to - release the peeked run up to position @end
 *   (exclusive). 0 or -EINVAL (@end past the run).
 * shoal_spsc_consumer_tail - the consumer's position: the start of the run.
 * Every reader passes markers over: peek, peek_batch (a marker after the
 * first message ends the batch), pop.
 */
SHOAL_API int shoal_spsc_claim_next(struct shoal_spsc_producer *p, void **slot);
SHOAL_API int shoal_spsc_commit_n(struct shoal_spsc_producer *p,
				  const uint32_t *lens, uint32_t n);
SHOAL_API int shoal_spsc_unclaim(struct shoal_spsc_producer *p, uint32_t n);
SHOAL_API int shoal_spsc_peek_next(struct shoal_spsc_consumer *c,
				   const void **data, uint32_t *len,
				   uint64_t *pos);
SHOAL_API int shoal_spsc_release_to(struct shoal_spsc_consumer *c,
				    uint64_t end);
SHOAL_API uint64_t shoal_spsc_consumer_tail(const struct shoal_spsc_consumer *c);

/*
 * Readiness, for wait predicates (notify.h): 1 if a message is waiting / a
 * slot is free, else 0. They only read; any thread may call them.
 */
SHOAL_API int shoal_spsc_readable(const struct shoal_spsc_consumer *c);
SHOAL_API int shoal_spsc_writable(struct shoal_spsc_producer *p);

/* Adapters with the shoal_wait() predicate signature; @user_data is the handle. */
SHOAL_API int shoal_spsc_readable_cb(void *user_data);
SHOAL_API int shoal_spsc_writable_cb(void *user_data);

#ifdef __cplusplus
}
#endif

#endif
