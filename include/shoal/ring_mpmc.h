/* SPDX-License-Identifier: MIT */
/*
 * MPMC ring: any number of producers and consumers, fixed-size cells, in a
 * region of shared memory (Vyukov's bounded queue: a sequence per cell).
 *
 * Like the SPSC ring, the region holds no pointers and makes no system
 * calls. Each thread or process attaches its own local handle (struct
 * shoal_mpmc, caller's memory) and may both push and pop through it.
 *
 * Every cell records the identity (an owner token chosen at init) of the
 * producer that claimed it, so a cell left half-written by a dead producer
 * can be found and skipped; see docs/mpmc-ring.md for the recovery design
 * (not implemented yet: a claimant that dies mid-push stalls consumers at
 * that position).
 *
 * Thread safety: one thread at a time per handle; any number of handles per
 * ring. Progress: lock-free while every claimant keeps running; "full" and
 * "empty" are -EAGAIN. Nothing here blocks.
 */
#ifndef SHOAL_RING_MPMC_H
#define SHOAL_RING_MPMC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest cell payload, in bytes: 1 GiB. */
#define SHOAL_MPMC_SLOT_MAX (1u << 30)
/* Most cells one ring holds. */
#define SHOAL_MPMC_CAPACITY_MAX (1u << 24)

/* Local handle. Fields are private: use the functions. */
struct shoal_mpmc {
	void *priv_ring;
	unsigned char *priv_cells;
	uint64_t priv_stride;	 /* bytes from one cell to the next */
	uint32_t priv_mask;	 /* capacity - 1 */
	uint32_t priv_slot_size; /* payload bytes per cell */
	uint32_t priv_owner;	 /* owner token recorded in claimed cells */
	uint32_t priv_claimed;	 /* 1 between claim and commit */
	uint64_t priv_claim_pos; /* the claimed position */
	uint64_t priv_peek_pos;	 /* the peeked position */
	uint32_t priv_peeked;	 /* 1 between peek and release */
	uint32_t priv_pad;
};

/*
 * shoal_mpmc_region_size - bytes needed for a ring of @capacity cells (a
 * power of two, 2..SHOAL_MPMC_CAPACITY_MAX) of @slot_size payload bytes each
 * (1..SHOAL_MPMC_SLOT_MAX). Returns 0 for an invalid geometry.
 */
SHOAL_API uint64_t shoal_mpmc_region_size(uint32_t capacity,
					  uint32_t slot_size);

/*
 * shoal_mpmc_format - lay out an empty ring in @region (64-byte aligned,
 * @region_size >= shoal_mpmc_region_size()). Positions start at @start_pos
 * (any value: they are free-running and wrap). Call before any peer can see
 * the region. Returns 0 or -EINVAL.
 */
SHOAL_API int shoal_mpmc_format(void *region, uint64_t region_size,
				uint32_t capacity, uint32_t slot_size,
				uint64_t start_pos);

/*
 * shoal_mpmc_init - attach @h to a formatted region. The geometry is read
 * once and checked against @region_size: -EBADMSG if it is corrupt or does
 * not fit, -EINVAL for a NULL or misaligned region. @owner (nonzero, e.g.
 * the pid) is recorded in every cell this handle claims.
 */
SHOAL_API int shoal_mpmc_init(struct shoal_mpmc *h, void *region,
			      uint64_t region_size, uint32_t owner);

/* Payload bytes per cell. */
SHOAL_API uint32_t shoal_mpmc_slot_size(const struct shoal_mpmc *h);
/* Cells in the ring. */
SHOAL_API uint32_t shoal_mpmc_capacity(const struct shoal_mpmc *h);

/*
 * shoal_mpmc_push - copy @len bytes in as one message. 0, -EAGAIN (full),
 *   -EMSGSIZE (@len > slot size), -EBUSY (a cell claimed), -EBADMSG (shared positions or sequences
 *   are impossible: the ring is corrupt).
 * shoal_mpmc_pop - copy the next message out. Returns its length, -EAGAIN
 *   (empty), -EMSGSIZE (@cap too small; the message stays), -EBADMSG (the
 *   cell claims a length larger than the cell: the message is consumed and
 *   dropped, or the ring is corrupt).
 * shoal_mpmc_pop_pos - shoal_mpmc_pop() that also stores in *@pos the
 *   position the message was dequeued from (on success and on -EBADMSG
 *   for a dropped message).
 */
SHOAL_API int shoal_mpmc_push(struct shoal_mpmc *h, const void *data,
			      uint32_t len);
SHOAL_API ssize_t shoal_mpmc_pop(struct shoal_mpmc *h, void *buf, size_t cap);
SHOAL_API ssize_t shoal_mpmc_pop_pos(struct shoal_mpmc *h, void *buf,
				     size_t cap, uint64_t *pos);

/*
 * Zero-copy producer.
 * shoal_mpmc_claim - take the next position; *slot points at its
 *   shoal_mpmc_slot_size() payload bytes. 0, -EAGAIN (full), -EBUSY
 *   (already claimed), -EBADMSG. The position is taken: consumers wait at it
 *   until shoal_mpmc_commit(), so commit promptly (there is no abort; commit
 *   a zero-length message instead).
 * shoal_mpmc_commit - publish the claimed cell with @len bytes. 0, -EINVAL
 *   (nothing claimed), -EMSGSIZE (still claimed then).
 */
SHOAL_API int shoal_mpmc_claim(struct shoal_mpmc *h, void **slot);
SHOAL_API int shoal_mpmc_commit(struct shoal_mpmc *h, uint32_t len);

/*
 * Zero-copy consumer.
 * shoal_mpmc_peek - take the next message and see it in place: *data,
 *   *len (checked <= slot size). 0, -EAGAIN (empty), -EBUSY (already
 *   peeked), -EBADMSG (corrupt length: the message is dropped). The cell
 *   stays unusable for producers of the next lap until shoal_mpmc_release().
 * shoal_mpmc_release - give the peeked cell back. 0 or -EINVAL.
 * shoal_mpmc_pop and shoal_mpmc_pop_pos return -EBUSY while a message is
 * peeked.
 */
SHOAL_API int shoal_mpmc_peek(struct shoal_mpmc *h, const void **data,
			      uint32_t *len);
SHOAL_API int shoal_mpmc_release(struct shoal_mpmc *h);

#ifdef __cplusplus
}
#endif

#endif
