/* SPDX-License-Identifier: MIT */
/*
 * Variable-length byte ring: records of any length from 0 to a limit set by
 * the capacity, one stream, in a region of shared memory (usually a segment
 * object of kind SHOAL_OBJECT_VAR_RING). One consumer; one producer
 * (SHOAL_VARRING_SPSC) or any number (SHOAL_VARRING_MPSC).
 *
 * Unlike the SPSC and MPMC rings, nothing is sized for the largest message:
 * a record takes an 8-byte header plus its payload, rounded up to 8 bytes,
 * so a stream can mix 16-byte and 60 KiB messages. Records never wrap: one
 * that would cross the end of the ring is preceded by a padding record that
 * fills the end. Positions are free-running 64-bit byte counters. See
 * docs/var-ring.md for the protocol and the bytes.
 *
 * Like the other rings, the region holds no pointers and makes no system
 * calls. Each side keeps a small local handle (caller's memory).
 *
 * Thread safety: one thread at a time per handle. Exactly one consumer
 * handle per ring at a time; one producer handle (SPSC) or any number of
 * them (MPSC). Progress: every call returns in a bounded number of steps;
 * "full" and "empty" are -EAGAIN. An MPSC producer that loses the claim race
 * many times in a row also gets -EAGAIN. Nothing here blocks: pair it with
 * notify.h to wait. A producer that dies between claim and commit stalls the
 * consumer at its record for good (there is no recovery in this ring).
 *
 * Blocking and system calls:
 *   Every function: neither. The ring is memory and atomics only: a full
 *     or empty ring is -EAGAIN, never a wait; to wait, use notify.h.
 */
#ifndef SHOAL_RING_VAR_H
#define SHOAL_RING_VAR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ring modes, for shoal_varring_format(). */
#define SHOAL_VARRING_SPSC 0u /* one producer: claims with a plain store */
#define SHOAL_VARRING_MPSC 1u /* many producers: claims with a CAS */

/* Smallest and largest capacity in bytes (powers of two). */
#define SHOAL_VARRING_CAPACITY_MIN 64u
#define SHOAL_VARRING_CAPACITY_MAX (1u << 30)

/*
 * Largest payload a ring of @cap bytes accepts: half the ring less the 8-byte
 * header. Records never wrap, so a record must fit between the producer's
 * position and the end of the ring or, after a padding record, from the
 * start; half the ring is the most that fits from any position of an empty
 * ring.
 */
#define SHOAL_VARRING_MAX_MESSAGE(cap) ((uint32_t)((cap) / 2 - 8))

/* Local producer state. Fields are private: use the functions. */
struct shoal_varring_producer {
	void *priv_ring;
	unsigned char *priv_data;
	uint64_t priv_tail;	  /* SPSC: next position to claim */
	uint64_t priv_head_cache; /* consumer position last read */
	uint64_t priv_claim_pos;  /* header position of the claimed record */
	uint32_t priv_mask;	  /* capacity - 1 */
	uint32_t priv_flags;	  /* SHOAL_VARRING_SPSC or _MPSC */
	uint32_t priv_max;	  /* largest payload */
	uint32_t priv_claim_len;  /* payload bytes claimed; see claim_span */
	uint32_t priv_claim_span; /* record bytes claimed, 0: nothing */
	uint32_t priv_pad;
};

/* Local consumer state. Fields are private: use the functions. */
struct shoal_varring_consumer {
	void *priv_ring;
	unsigned char *priv_data;
	uint64_t priv_head;	/* next position to read */
	uint64_t priv_peek_end; /* end of the peeked records */
	uint32_t priv_mask;
	uint32_t priv_max;
	uint32_t priv_peeked; /* messages peeked, not yet released */
	uint32_t priv_pad;
};

/* A message seen in place by shoal_varring_peek_batch(). */
struct shoal_varring_msg {
	const void *data;
	uint32_t len;
};

/*
 * shoal_varring_region_size - bytes needed for a ring of @capacity bytes (a
 * power of two, SHOAL_VARRING_CAPACITY_MIN..SHOAL_VARRING_CAPACITY_MAX): 256
 * header bytes plus @capacity. Returns 0 for an invalid capacity.
 */
SHOAL_API uint64_t shoal_varring_region_size(uint64_t capacity);

/*
 * shoal_varring_format - lay out an empty ring in @region (64-byte aligned,
 * @region_size >= shoal_varring_region_size()), zeroing all of it. @flags is
 * SHOAL_VARRING_SPSC or SHOAL_VARRING_MPSC. Positions start at @start_pos,
 * any multiple of 8 (they are free-running and wrap through UINT64_MAX).
 * Call before any peer can see the region. Returns 0 or -EINVAL.
 */
SHOAL_API int shoal_varring_format(void *region, uint64_t region_size,
				   uint64_t capacity, uint32_t flags,
				   uint64_t start_pos);

/*
 * shoal_varring_producer_init / shoal_varring_consumer_init - attach a handle
 * to a formatted region. The geometry and positions are read once and
 * checked against @region_size: -EBADMSG if they are corrupt or do not fit,
 * -EINVAL for a NULL handle or a NULL or misaligned region.
 */
SHOAL_API int shoal_varring_producer_init(struct shoal_varring_producer *p,
					  void *region, uint64_t region_size);
SHOAL_API int shoal_varring_consumer_init(struct shoal_varring_consumer *c,
					  void *region, uint64_t region_size);

/* Ring bytes, and the largest payload (SHOAL_VARRING_MAX_MESSAGE). */
SHOAL_API uint64_t
shoal_varring_capacity(const struct shoal_varring_producer *p);
SHOAL_API uint32_t
shoal_varring_max_message(const struct shoal_varring_producer *p);

/*
 * Producer.
 * shoal_varring_push - copy @len bytes in as one record. 0, -EAGAIN (not
 *   enough free space, or an MPSC claim race lost many times), -EMSGSIZE
 *   (@len > max_message), -EBUSY (a record is claimed), -EBADMSG (the
 *   positions in shared memory are impossible).
 * shoal_varring_claim - reserve a record of up to @len payload bytes; *ptr
 *   points at them (8-byte aligned, zeroed). Same errors as push, and
 *   -EINVAL for a NULL @ptr. The consumer waits
 *   at this record until it is committed or aborted, so be prompt.
 * shoal_varring_commit - publish the claimed record with @len <= the claimed
 *   length. 0, -EINVAL (nothing claimed), -EMSGSIZE (@len too large; still
 *   claimed then). Committing less than claimed turns the rest into padding:
 *   the space comes back when the consumer passes it.
 * shoal_varring_abort - turn the claimed record into padding, which the
 *   consumer skips. 0 or -EINVAL (nothing claimed).
 */
SHOAL_API int shoal_varring_push(struct shoal_varring_producer *p,
				 const void *data, uint32_t len);
SHOAL_API int shoal_varring_claim(struct shoal_varring_producer *p,
				  uint32_t len, void **ptr);
SHOAL_API int shoal_varring_commit(struct shoal_varring_producer *p,
				   uint32_t len);
SHOAL_API int shoal_varring_abort(struct shoal_varring_producer *p);

/*
 * Consumer. A corrupt record header (wrong position tag, impossible length)
 * makes every read return -EBADMSG from then on: its length cannot be
 * trusted, so the stream cannot be resynchronised past it.
 * shoal_varring_pop - copy the next message out. Returns its length, -EAGAIN
 *   (empty), -EMSGSIZE (@cap too small; the message stays), -EBUSY
 *   (messages peeked), -EBADMSG.
 * shoal_varring_peek - see the next message in place: *data, *len valid
 *   until shoal_varring_release(). 0, -EAGAIN, -EBUSY, -EBADMSG, -EINVAL
 *   (NULL argument).
 * shoal_varring_peek_batch - see up to @max messages in place. Returns how
 *   many (>= 1), -EAGAIN, -EBUSY, -EINVAL, or -EBADMSG when the first is
 *   corrupt; a corrupt one later ends the batch before it.
 * shoal_varring_release - hand every peeked message back to the producers
 *   with one store of the head position. 0 or -EINVAL (nothing peeked).
 */
SHOAL_API ssize_t shoal_varring_pop(struct shoal_varring_consumer *c, void *buf,
				    size_t cap);
SHOAL_API int shoal_varring_peek(struct shoal_varring_consumer *c,
				 const void **data, uint32_t *len);
SHOAL_API int shoal_varring_peek_batch(struct shoal_varring_consumer *c,
				       uint32_t max,
				       struct shoal_varring_msg *msgs);
SHOAL_API int shoal_varring_release(struct shoal_varring_consumer *c);

/*
 * shoal_varring_aborted - records aborted by producers since format
 * (monitoring; read relaxed).
 */
SHOAL_API uint64_t shoal_varring_aborted(const struct shoal_varring_consumer *c);

/*
 * Readiness, for wait predicates (notify.h). shoal_varring_readable: 1 if
 * the next read would not say -EAGAIN (a message, padding to skip, or a
 * corrupt header), else 0; it only reads. shoal_varring_writable: 1 if a
 * record of @len bytes fits now (for MPSC, a hint: another producer may
 * take the space first), else 0. Same thread rules as the other calls.
 */
SHOAL_API int shoal_varring_readable(const struct shoal_varring_consumer *c);
SHOAL_API int shoal_varring_writable(struct shoal_varring_producer *p,
				     uint32_t len);

/* shoal_wait() predicate adapter; @user_data is the consumer handle. */
SHOAL_API int shoal_varring_readable_cb(void *user_data);

#ifdef __cplusplus
}
#endif

#endif
