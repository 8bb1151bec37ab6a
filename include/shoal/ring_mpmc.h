/* SPDX-License-Identifier: MIT */
/*
 * MPMC ring: any number of producers and consumers, fixed-size cells, in a
 * region of shared memory (Vyukov's bounded queue: a sequence per cell).
 *
 * Like the SPSC ring, the region holds no pointers and makes no system
 * calls. Each thread or process attaches its own local handle (struct
 * shoal_mpmc, caller's memory) and may both push and pop through it.
 *
 * Every cell names whoever holds it (an owner token chosen at init): the
 * producer writing it, then the consumer reading it. A claimant that dies
 * mid-push or mid-read stalls the ring at that one position until someone
 * calls shoal_mpmc_recover() with a liveness test: it gives up exactly the
 * dead claimant's position and counts it, and nothing else is lost,
 * duplicated or reordered. See docs/mpmc-ring.md.
 *
 * Thread safety: one thread at a time per handle; any number of handles per
 * ring. Progress: lock-free while every claimant keeps running; "full" and
 * "empty" are -EAGAIN. Nothing here blocks.
 *
 * Blocking and system calls:
 *   Every function: neither. The ring is memory and atomics only: a full
 *     or empty ring is -EAGAIN, never a wait; to wait, use notify.h.
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
/* Largest owner token (tokens are 1..SHOAL_MPMC_OWNER_MAX: 22 bits). */
#define SHOAL_MPMC_OWNER_MAX 0x3ffffeu

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
 * not fit, -EINVAL for a NULL or misaligned region or a bad @owner.
 * @owner (1..SHOAL_MPMC_OWNER_MAX) is recorded in every cell this handle
 * holds; shoal_mpmc_recover() asks about it, so it must name this handle's
 * process to the liveness test (e.g. a pid, or the index of a participant
 * slot the process holds a lock on).
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
 *   until shoal_mpmc_commit() or shoal_mpmc_abort(), so finish promptly.
 * shoal_mpmc_commit - publish the claimed cell with @len bytes. 0, -EINVAL
 *   (nothing claimed), -EMSGSIZE (still claimed then).
 * shoal_mpmc_abort - give the claimed position up: consumers pass over it
 *   without a message. 0 or -EINVAL (nothing claimed).
 */
SHOAL_API int shoal_mpmc_claim(struct shoal_mpmc *h, void **slot);
SHOAL_API int shoal_mpmc_commit(struct shoal_mpmc *h, uint32_t len);
SHOAL_API int shoal_mpmc_abort(struct shoal_mpmc *h);

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

/*
 * Several cells per handle (a producer with several loans, a consumer with
 * several messages held): the calls above, with the position named by the
 * caller, who keeps track of what it holds. They neither use nor check the
 * handle's single claim or peek.
 * shoal_mpmc_claim_pos - shoal_mpmc_claim(), and *@pos the position.
 * shoal_mpmc_commit_pos, shoal_mpmc_abort_pos - commit or give up position
 *   @pos, claimed by this handle and not yet committed or aborted, in any
 *   order: consumers take positions in order, so a commit is visible once
 *   every earlier position is committed or aborted. 0, -EINVAL (@pos is not
 *   this handle's claim: nothing is written), -EMSGSIZE (commit).
 * shoal_mpmc_peek_pos - shoal_mpmc_peek(), and *@pos the position.
 * shoal_mpmc_release_pos - give the cell of @pos back, peeked by this handle
 *   and not yet released, in any order. 0 or -EINVAL.
 */
SHOAL_API int shoal_mpmc_claim_pos(struct shoal_mpmc *h, void **slot,
				   uint64_t *pos);
SHOAL_API int shoal_mpmc_commit_pos(struct shoal_mpmc *h, uint64_t pos,
				    uint32_t len);
SHOAL_API int shoal_mpmc_abort_pos(struct shoal_mpmc *h, uint64_t pos);
SHOAL_API int shoal_mpmc_peek_pos(struct shoal_mpmc *h, const void **data,
				  uint32_t *len, uint64_t *pos);
SHOAL_API int shoal_mpmc_release_pos(struct shoal_mpmc *h, uint64_t pos);

/*
 * shoal_mpmc_readable - 1 if the next pop would find a message (or a
 *   position to pass over) rather than -EAGAIN; shoal_mpmc_writable - 1 if
 *   the next push would find a free cell. Racy hints for waiting: they
 *   take nothing.
 */
SHOAL_API int shoal_mpmc_readable(const struct shoal_mpmc *h);
SHOAL_API int shoal_mpmc_writable(const struct shoal_mpmc *h);

/* Liveness test for shoal_mpmc_recover(): nonzero if the process named by
 * @owner is alive. It must be definitive: "dead" means that owner can
 * never write to the ring again. */
typedef int (*shoal_mpmc_alive_fn)(uint32_t owner, void *ctx);

/*
 * shoal_mpmc_recover - free the position the ring is stuck at if a dead
 * claimant holds it: at the head, a producer that died between claiming
 * and publishing (its position is skipped: consumers pass over it); at the
 * tail, a consumer that died between taking a message and releasing its
 * cell (the message is lost with it; the cell goes back to producers).
 * Each is counted (skipped, abandoned). Call it when a pop has found the
 * ring empty, or a push full, for longer than a live peer would take.
 * Returns the number of positions freed (0..2). Calls @alive at most twice.
 */
SHOAL_API int shoal_mpmc_recover(struct shoal_mpmc *h,
				 shoal_mpmc_alive_fn alive, void *ctx);

/* What the ring's shared counters say (a racy snapshot). */
struct shoal_mpmc_stats {
	uint64_t enqueued;  /* the enqueue position: claims since format, */
	uint64_t dequeued;  /* the dequeue position: both from start_pos */
	uint64_t skipped;   /* positions given up: their producer died */
	uint64_t abandoned; /* messages lost with a consumer that died */
};
/* A racy snapshot of the ring's shared counters. */
SHOAL_API void shoal_mpmc_get_stats(const struct shoal_mpmc *h,
				    struct shoal_mpmc_stats *st);

#ifdef __cplusplus
}
#endif

#endif
