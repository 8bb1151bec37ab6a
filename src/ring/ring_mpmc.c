/* SPDX-License-Identifier: MIT */
/*
 * MPMC ring: Vyukov's bounded multi-producer multi-consumer queue in shared
 * memory.
 *
 * Positions are free-running 64-bit counters (cell = pos & mask) compared by
 * signed difference, so they may start anywhere and wrap through UINT64_MAX.
 * Each cell carries a 64-bit sequence:
 *  - seq == p: the cell is free for the producer of position p;
 *  - seq == p + 1: it holds the message of position p;
 *  - seq == p + capacity: p was dequeued; free for position p + capacity.
 * A position is taken by a CAS on its cell's claim word, which then names
 * the taker (owner token | position); only after that does the taker move
 * the shared position counter, and anyone who sees the claim moves it for
 * the taker ("helping"). So a claimant that dies at any step is named in
 * the cell, and shoal_mpmc_recover() can give its position up without
 * guessing: nothing else is lost, duplicated or reordered. A producer
 * writes the payload and release-stores seq = p + 1; a consumer copies out
 * and release-stores seq = p + capacity. The position CASes are relaxed:
 * the acquire load of seq before the claim, paired with the other side's
 * release store, orders the payload. See docs/mpmc-ring.md.
 *
 * Everything read from the region is untrusted: the geometry is checked once
 * at init and kept locally, a length is checked before any copy, and a
 * sequence that is ahead of a position nobody has passed is reported as
 * -EBADMSG instead of looping forever.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/arch.h"
#include "shoal/ring_mpmc.h"
#include "arch/error.h"
#include "segment/layout.h"

static uint64_t stride_of(uint32_t slot_size)
{
	uint64_t bytes = (uint64_t)SHOAL__MPMC_CELL_HEADER + slot_size;

	return (bytes + SHOAL__CACHE_LINE - 1) &
	       ~(uint64_t)(SHOAL__CACHE_LINE - 1);
}

static uint64_t claim_word(uint32_t owner, uint64_t pos)
{
	return (uint64_t)owner << SHOAL__MPMC_POS_BITS |
	       (pos & SHOAL__MPMC_POS_MASK);
}

static uint32_t claim_owner(uint64_t word)
{
	return (uint32_t)(word >> SHOAL__MPMC_POS_BITS);
}

/* Does @word take position @x (a producer claim or skip mark of x, or a
 * consumer mark when x is the dequeued position + 1)? */
static int claims(uint64_t word, uint64_t x)
{
	return claim_owner(word) != 0 &&
	       (word & SHOAL__MPMC_POS_MASK) == (x & SHOAL__MPMC_POS_MASK);
}

uint64_t shoal_mpmc_region_size(uint32_t capacity, uint32_t slot_size)
{
	if (!shoal__is_pow2(capacity) || capacity < 2 ||
	    capacity > SHOAL_MPMC_CAPACITY_MAX || slot_size == 0 ||
	    slot_size > SHOAL_MPMC_SLOT_MAX)
		return 0;
	return sizeof(struct shoal__mpmc_ring) +
	       (uint64_t)capacity * stride_of(slot_size);
}

static struct shoal__mpmc_cell *cell_at(const struct shoal_mpmc *h,
					uint64_t pos)
{
	return (struct shoal__mpmc_cell *)(h->priv_cells +
					   (pos & h->priv_mask) *
						   h->priv_stride);
}

int shoal_mpmc_format(void *region, uint64_t region_size, uint32_t capacity,
		      uint32_t slot_size, uint64_t start_pos)
{
	struct shoal__mpmc_ring *r = region;
	uint64_t need = shoal_mpmc_region_size(capacity, slot_size);
	uint64_t stride = stride_of(slot_size);
	unsigned char *cells;

	if (!need)
		return shoal__fail(-EINVAL,
				   "mpmc_format: capacity %u (power of two, "
				   "2..%u) or slot size %u (1..%u) invalid",
				   capacity, SHOAL_MPMC_CAPACITY_MAX, slot_size,
				   SHOAL_MPMC_SLOT_MAX);
	if (!region || ((uintptr_t)region % SHOAL__CACHE_LINE) ||
	    region_size < need)
		return shoal__fail(-EINVAL,
				   "mpmc_format: region must be 64-byte "
				   "aligned and hold %llu bytes",
				   (unsigned long long)need);
	memset(r, 0, sizeof(*r));
	r->magic = SHOAL__MPMC_MAGIC;
	r->capacity = capacity;
	r->slot_size = slot_size;
	r->cell_stride = stride;
	r->start_pos = start_pos;
	cells = (unsigned char *)(r + 1);
	for (uint64_t p = start_pos; p != start_pos + capacity; p++) {
		struct shoal__mpmc_cell *c =
			(struct shoal__mpmc_cell *)(cells +
						    (p & (capacity - 1)) *
							    stride);

		/* Relaxed: nobody looks before the region is published (the
		 * segment's READY release, or the caller's own hand-off). */
		atomic_store_explicit(&c->seq, p, memory_order_relaxed);
		/* Marked as if the lap before had been dequeued, which is
		 * what a producer checks before taking the cell. */
		atomic_store_explicit(&c->claim,
				      claim_word(SHOAL__MPMC_SKIP,
						 p - capacity + 1),
				      memory_order_relaxed);
		atomic_store_explicit(&c->len, 0, memory_order_relaxed);
		c->pad = 0;
	}
	atomic_store_explicit(&r->enq_pos, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->deq_pos, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->skipped, 0, memory_order_relaxed);
	atomic_store_explicit(&r->abandoned, 0, memory_order_relaxed);
	return 0;
}

int shoal_mpmc_init(struct shoal_mpmc *h, void *region, uint64_t region_size,
		    uint32_t owner)
{
	struct shoal__mpmc_ring *r = region;
	struct shoal_mpmc n = { 0 };
	uint64_t magic, need, stride, e, d;
	uint32_t cap, size;

	if (!h)
		return shoal__fail(-EINVAL, "mpmc_init: NULL handle");
	if (!owner || owner > SHOAL_MPMC_OWNER_MAX)
		return shoal__fail(-EINVAL,
				   "mpmc_init: owner token %u not in 1..%u",
				   owner, SHOAL_MPMC_OWNER_MAX);
	if (!region || (uintptr_t)region % SHOAL__CACHE_LINE ||
	    region_size < sizeof(*r))
		return shoal__fail(-EINVAL,
				   "mpmc: region too small or misaligned");
	/* Read each geometry field once into a local, then check. */
	magic = r->magic;
	cap = r->capacity;
	size = r->slot_size;
	stride = r->cell_stride;
	need = shoal_mpmc_region_size(cap, size);
	if (magic != SHOAL__MPMC_MAGIC || !need || need > region_size ||
	    stride != stride_of(size))
		return shoal__fail(-EBADMSG,
				   "mpmc: corrupt ring header (capacity %u, "
				   "slot %u, region %llu bytes)",
				   cap, size, (unsigned long long)region_size);
	d = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
	e = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
	/* Loaded in this order, dequeue never passes enqueue: e - d is at
	 * most capacity in a sane ring. */
	if (e - d > cap)
		return shoal__fail(-EBADMSG,
				   "mpmc: enqueue %llu and dequeue %llu are "
				   "more than a ring apart",
				   (unsigned long long)e,
				   (unsigned long long)d);
	n.priv_ring = region;
	n.priv_cells = (unsigned char *)(r + 1);
	n.priv_stride = stride;
	n.priv_mask = cap - 1;
	n.priv_slot_size = size;
	n.priv_owner = owner;
	*h = n;
	return 0;
}

uint32_t shoal_mpmc_slot_size(const struct shoal_mpmc *h)
{
	return h->priv_slot_size;
}

uint32_t shoal_mpmc_capacity(const struct shoal_mpmc *h)
{
	return h->priv_mask + 1;
}

/* Moves @counter from @pos to @pos + 1 for whoever took @pos; losing the
 * race means someone already did. Relaxed: it arbitrates nothing. */
static void help_past(_Atomic uint64_t *counter, uint64_t pos)
{
	atomic_compare_exchange_strong_explicit(counter, &pos, pos + 1,
						memory_order_relaxed,
						memory_order_relaxed);
}

/* Moves @seq from @from to @to unless someone did; a plain store could
 * move it back after a consumer had moved it on. */
static void seq_advance(_Atomic uint64_t *seq, uint64_t from, uint64_t to)
{
	atomic_compare_exchange_strong_explicit(
		seq, &from, to, memory_order_release, memory_order_relaxed);
}

static int corrupt_seq(const char *side, uint64_t seq, uint64_t pos)
{
	return shoal__fail(-EBADMSG,
			   "mpmc: cell sequence %llu impossible at %s "
			   "position %llu",
			   (unsigned long long)seq, side,
			   (unsigned long long)pos);
}

/*
 * Claims the next enqueue position: 0 and *@out (the cell's claim word
 * names us), -EAGAIN when full, -EBADMSG for an impossible cell.
 */
static int enq_claim(struct shoal_mpmc *h, uint64_t *out)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	uint64_t mine_base = claim_word(h->priv_owner, 0);

	for (;;) {
		uint64_t pos =
			atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
		struct shoal__mpmc_cell *c = cell_at(h, pos);
		/* Acquire: pairs with the release store of seq = pos by the
		 * consumer of pos - capacity (deq_release()): its copy-out
		 * is done before we overwrite the payload. */
		uint64_t seq =
			atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);
		uint64_t word =
			atomic_load_explicit(&c->claim, memory_order_relaxed);

		if (diff < 0)
			return -EAGAIN; /* a lap behind: full */
		/* The word was loaded after seq. Marked for the lap before
		 * (its consumer's mark, or a skip or format mark), the cell
		 * is free for pos: taking the word is what takes pos, and
		 * the CAS fails if anyone moved it on meanwhile. */
		if (diff == 0 && claims(word, pos - h->priv_mask)) {
			if (atomic_compare_exchange_strong_explicit(
				    &c->claim, &word,
				    mine_base | (pos & SHOAL__MPMC_POS_MASK),
				    memory_order_relaxed,
				    memory_order_relaxed)) {
				help_past(&r->enq_pos, pos);
				*out = pos;
				return 0;
			}
			continue;
		}
		/* pos is taken: its word names a producer (claimed or
		 * published) or a consumer (already dequeued). Help the
		 * counter past it, unless the cell is nonsense and the
		 * counter really sits there. */
		if (claims(word, pos) || claims(word, pos + 1)) {
			help_past(&r->enq_pos, pos);
			continue;
		}
		if (atomic_load_explicit(&r->enq_pos, memory_order_relaxed) ==
		    pos)
			return corrupt_seq("enqueue", seq, pos);
	}
}

/* Publishes the claimed position @pos with @len bytes. */
static void enq_publish(struct shoal_mpmc *h, uint64_t pos, uint32_t len)
{
	struct shoal__mpmc_cell *c = cell_at(h, pos);

	atomic_store_explicit(&c->len, len, memory_order_relaxed);
	/* Release: publishes len and payload; pairs with the consumer's
	 * acquire load of seq. */
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

int shoal_mpmc_push(struct shoal_mpmc *h, const void *data, uint32_t len)
{
	uint64_t pos;
	int err;

	if (len > h->priv_slot_size)
		return shoal__fail(-EMSGSIZE,
				   "mpmc_push: %u bytes, cell holds %u", len,
				   h->priv_slot_size);
	if (h->priv_claimed)
		return shoal__fail(-EBUSY, "mpmc: a cell is already claimed");
	err = enq_claim(h, &pos);
	if (err)
		return err;
	memcpy((unsigned char *)cell_at(h, pos) + SHOAL__MPMC_CELL_HEADER, data,
	       len);
	enq_publish(h, pos, len);
	return 0;
}

int shoal_mpmc_claim(struct shoal_mpmc *h, void **slot)
{
	uint64_t pos;
	int err;

	if (h->priv_claimed)
		return shoal__fail(-EBUSY, "mpmc: a cell is already claimed");
	err = enq_claim(h, &pos);
	if (err)
		return err;
	h->priv_claim_pos = pos;
	h->priv_claimed = 1;
	*slot = (unsigned char *)cell_at(h, pos) + SHOAL__MPMC_CELL_HEADER;
	return 0;
}

int shoal_mpmc_commit(struct shoal_mpmc *h, uint32_t len)
{
	if (!h->priv_claimed)
		return shoal__fail(-EINVAL, "mpmc_commit: nothing claimed");
	if (len > h->priv_slot_size)
		return shoal__fail(-EMSGSIZE,
				   "mpmc_commit: %u bytes in a %u-byte cell",
				   len, h->priv_slot_size);
	enq_publish(h, h->priv_claim_pos, len);
	h->priv_claimed = 0;
	return 0;
}

int shoal_mpmc_abort(struct shoal_mpmc *h)
{
	struct shoal__mpmc_cell *c;
	uint64_t pos = h->priv_claim_pos;

	if (!h->priv_claimed)
		return shoal__fail(-EINVAL, "mpmc_abort: nothing claimed");
	c = cell_at(h, pos);
	/* The word is ours: the skip mark makes consumers pass over the
	 * cell. From then on anyone may finish the skip (recover() does, if
	 * we die here), so seq moves by CAS. */
	atomic_store_explicit(&c->claim, claim_word(SHOAL__MPMC_SKIP, pos),
			      memory_order_relaxed);
	seq_advance(&c->seq, pos, pos + 1);
	h->priv_claimed = 0;
	return 0;
}

/* Hands the cell of dequeued position @pos to the producer of the next lap. */
static void deq_release(struct shoal_mpmc *h, uint64_t pos)
{
	/* Release: our reads of the cell are done before a producer of the
	 * next lap may overwrite it; pairs with its acquire load of seq. */
	atomic_store_explicit(&cell_at(h, pos)->seq, pos + h->priv_mask + 1,
			      memory_order_release);
}

/*
 * Claims the next dequeue position holding a message that fits @cap bytes:
 * 0 with *@out and *@len (checked <= slot size), -EAGAIN when empty,
 * -EMSGSIZE (nothing claimed), or -EBADMSG: for a corrupt length the
 * position is claimed and released (the message dropped, *@out set); for an
 * impossible cell nothing is claimed and *@out is untouched. Positions that
 * were given up (skip marks) are dequeued and passed over.
 */
static int deq_claim(struct shoal_mpmc *h, size_t cap, uint64_t *out,
		     uint32_t *out_len)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	uint64_t mine_base = claim_word(h->priv_owner, 0);

	for (;;) {
		uint64_t pos =
			atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
		struct shoal__mpmc_cell *c = cell_at(h, pos);
		/* Acquire: pairs with the producer's release store of
		 * pos + 1, making the claim word, len and payload visible. */
		uint64_t seq =
			atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - (pos + 1));
		uint64_t word =
			atomic_load_explicit(&c->claim, memory_order_relaxed);
		uint32_t len;
		int skip, bad;

		if (diff < 0)
			return -EAGAIN; /* not yet written: empty */
		if (claims(word, pos + 1)) {
			/* Another consumer took pos: help it along. */
			help_past(&r->deq_pos, pos);
			continue;
		}
		if (diff > 0 || !claims(word, pos)) {
			/* Published cells name their producer (or a skip
			 * mark) at pos; a later lap means deq_pos moved. */
			if (atomic_load_explicit(&r->deq_pos,
						 memory_order_relaxed) == pos)
				return corrupt_seq("dequeue", seq, pos);
			continue;
		}
		skip = claim_owner(word) == SHOAL__MPMC_SKIP;
		/* Read the length once, before claiming: while seq is
		 * pos + 1 the cell cannot change until pos is dequeued. */
		len = atomic_load_explicit(&c->len, memory_order_relaxed);
		bad = !skip && len > h->priv_slot_size;
		if (!skip && !bad && len > cap)
			return shoal__fail(-EMSGSIZE,
					   "mpmc_pop: %u-byte message, "
					   "%zu-byte buffer",
					   len, cap);
		/* Taking a skip mark, leave a skip mark of pos + 1, not our
		 * own: should we die before freeing the cell, recover() must
		 * not count a message that never was. Anyone finishes it. */
		if (!atomic_compare_exchange_strong_explicit(
			    &c->claim, &word,
			    (skip ? claim_word(SHOAL__MPMC_SKIP, 0) :
				    mine_base) |
				    ((pos + 1) & SHOAL__MPMC_POS_MASK),
			    memory_order_relaxed, memory_order_relaxed))
			continue;
		help_past(&r->deq_pos, pos);
		if (skip) {
			seq_advance(&c->seq, pos + 1, pos + h->priv_mask + 1);
			continue;
		}
		*out = pos;
		if (bad) {
			deq_release(h, pos);
			/* Consumed and dropped, so the stream goes on. */
			return shoal__fail(-EBADMSG,
					   "mpmc: message at %llu claims %u "
					   "bytes, cell holds %u",
					   (unsigned long long)pos, len,
					   h->priv_slot_size);
		}
		*out_len = len;
		return 0;
	}
}

int shoal_mpmc_recover(struct shoal_mpmc *h, shoal_mpmc_alive_fn alive,
		       void *ctx)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	uint64_t cap = (uint64_t)h->priv_mask + 1;
	uint64_t pos, word;
	struct shoal__mpmc_cell *c;
	int freed = 0;

	/* Head: a producer that died between taking the position consumers
	 * wait at and publishing it. Death is checked before seq is loaded:
	 * a dead process's stores are all visible once the kernel reports it
	 * dead, so seq still at pos means it never published, and only a
	 * recoverer writes this cell now. A skip mark with seq still at pos
	 * is a skip someone began and did not finish (it died, or is racing
	 * us): finish it, by CAS, uncounted. */
	pos = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
	c = cell_at(h, pos);
	word = atomic_load_explicit(&c->claim, memory_order_relaxed);
	if (claims(word, pos) &&
	    (claim_owner(word) == SHOAL__MPMC_SKIP ||
	     !alive(claim_owner(word), ctx)) &&
	    atomic_load_explicit(&c->seq, memory_order_acquire) == pos) {
		if (claim_owner(word) != SHOAL__MPMC_SKIP &&
		    atomic_compare_exchange_strong_explicit(
			    &c->claim, &word, claim_word(SHOAL__MPMC_SKIP, pos),
			    memory_order_relaxed, memory_order_relaxed)) {
			atomic_fetch_add_explicit(&r->skipped, 1,
						  memory_order_relaxed);
			freed++;
			word = claim_word(SHOAL__MPMC_SKIP, pos);
		}
		if (word == claim_word(SHOAL__MPMC_SKIP, pos)) {
			help_past(&r->enq_pos, pos);
			seq_advance(&c->seq, pos, pos + 1);
		}
	}

	/* Tail: a consumer that died between taking the message of
	 * q = pos - capacity and freeing its cell, which the producer of pos
	 * waits for. The message is lost with it; the cell goes back to
	 * producers. Same order, and the same finishing of a skip mark of
	 * q + 1 (left by a consumer passing a skip, or a recoverer). */
	pos = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
	c = cell_at(h, pos);
	word = atomic_load_explicit(&c->claim, memory_order_relaxed);
	if (claims(word, pos - cap + 1) &&
	    (claim_owner(word) == SHOAL__MPMC_SKIP ||
	     !alive(claim_owner(word), ctx)) &&
	    atomic_load_explicit(&c->seq, memory_order_acquire) ==
		    pos - cap + 1) {
		uint64_t done = claim_word(SHOAL__MPMC_SKIP, pos - cap + 1);

		if (claim_owner(word) != SHOAL__MPMC_SKIP &&
		    atomic_compare_exchange_strong_explicit(
			    &c->claim, &word, done, memory_order_relaxed,
			    memory_order_relaxed)) {
			atomic_fetch_add_explicit(&r->abandoned, 1,
						  memory_order_relaxed);
			freed++;
			word = done;
		}
		if (word == done) {
			help_past(&r->deq_pos, pos - cap);
			seq_advance(&c->seq, pos - cap + 1, pos);
		}
	}
	return freed;
}

int shoal_mpmc_readable(const struct shoal_mpmc *h)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	uint64_t pos = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);

	return atomic_load_explicit(&cell_at(h, pos)->seq,
				    memory_order_acquire) == pos + 1;
}

int shoal_mpmc_writable(const struct shoal_mpmc *h)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	uint64_t pos = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);

	return atomic_load_explicit(&cell_at(h, pos)->seq,
				    memory_order_acquire) == pos;
}

void shoal_mpmc_get_stats(const struct shoal_mpmc *h,
			  struct shoal_mpmc_stats *st)
{
	struct shoal__mpmc_ring *r = h->priv_ring;

	st->dequeued = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
	st->enqueued = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
	st->skipped = atomic_load_explicit(&r->skipped, memory_order_relaxed);
	st->abandoned =
		atomic_load_explicit(&r->abandoned, memory_order_relaxed);
}

ssize_t shoal_mpmc_pop_pos(struct shoal_mpmc *h, void *buf, size_t cap,
			   uint64_t *out_pos)
{
	uint64_t pos = 0;
	uint32_t len = 0;
	int err;

	if (h->priv_peeked)
		return shoal__fail(-EBUSY, "mpmc: a message is already peeked");
	err = deq_claim(h, cap, &pos, &len);
	if (err == -EBADMSG && out_pos)
		*out_pos = pos;
	if (err)
		return err;
	memcpy(buf, (unsigned char *)cell_at(h, pos) + SHOAL__MPMC_CELL_HEADER,
	       len);
	deq_release(h, pos);
	if (out_pos)
		*out_pos = pos;
	return (ssize_t)len;
}

ssize_t shoal_mpmc_pop(struct shoal_mpmc *h, void *buf, size_t cap)
{
	return shoal_mpmc_pop_pos(h, buf, cap, NULL);
}

int shoal_mpmc_peek(struct shoal_mpmc *h, const void **data, uint32_t *len)
{
	uint64_t pos = 0;
	int err;

	if (h->priv_peeked)
		return shoal__fail(-EBUSY, "mpmc: a message is already peeked");
	err = deq_claim(h, SIZE_MAX, &pos, len);
	if (err)
		return err;
	h->priv_peek_pos = pos;
	h->priv_peeked = 1;
	*data = (const unsigned char *)cell_at(h, pos) +
		SHOAL__MPMC_CELL_HEADER;
	return 0;
}

int shoal_mpmc_release(struct shoal_mpmc *h)
{
	if (!h->priv_peeked)
		return shoal__fail(-EINVAL, "mpmc_release: nothing peeked");
	deq_release(h, h->priv_peek_pos);
	h->priv_peeked = 0;
	return 0;
}

/*
 * Several cells per handle: the same steps as claim/commit/abort and
 * peek/release, with the position named by the caller instead of kept in
 * the handle. Each cell is its own: committing, aborting or releasing one
 * never waits for another, and a consumer takes positions in order, so a
 * later commit becomes visible only once every earlier position is
 * committed or aborted (skip mark). Before touching a cell, its claim word
 * must name this handle at that position and its seq must still be the one
 * the claim or peek left: else -EINVAL and nothing is written.
 */
int shoal_mpmc_claim_pos(struct shoal_mpmc *h, void **slot, uint64_t *pos)
{
	int err = enq_claim(h, pos);

	if (err)
		return err;
	*slot = (unsigned char *)cell_at(h, *pos) + SHOAL__MPMC_CELL_HEADER;
	return 0;
}

/* Nonzero if the cell of @pos holds seq @seq and a claim word naming us at
 * @x (x = pos for a producer's claim, pos + 1 for a consumer's). */
static int ours(const struct shoal_mpmc *h, uint64_t pos, uint64_t x,
		uint64_t seq)
{
	struct shoal__mpmc_cell *c = cell_at(h, pos);

	return atomic_load_explicit(&c->claim, memory_order_relaxed) ==
		       claim_word(h->priv_owner, x) &&
	       atomic_load_explicit(&c->seq, memory_order_relaxed) == seq;
}

int shoal_mpmc_commit_pos(struct shoal_mpmc *h, uint64_t pos, uint32_t len)
{
	if (!ours(h, pos, pos, pos))
		return shoal__fail(-EINVAL,
				   "mpmc_commit: position %llu is not claimed "
				   "by this handle",
				   (unsigned long long)pos);
	if (len > h->priv_slot_size)
		return shoal__fail(-EMSGSIZE,
				   "mpmc_commit: %u bytes in a %u-byte cell",
				   len, h->priv_slot_size);
	enq_publish(h, pos, len);
	return 0;
}

int shoal_mpmc_abort_pos(struct shoal_mpmc *h, uint64_t pos)
{
	struct shoal__mpmc_cell *c = cell_at(h, pos);

	if (!ours(h, pos, pos, pos))
		return shoal__fail(-EINVAL,
				   "mpmc_abort: position %llu is not claimed "
				   "by this handle",
				   (unsigned long long)pos);
	/* As shoal_mpmc_abort(): the skip mark, then seq by CAS. */
	atomic_store_explicit(&c->claim, claim_word(SHOAL__MPMC_SKIP, pos),
			      memory_order_relaxed);
	seq_advance(&c->seq, pos, pos + 1);
	return 0;
}

int shoal_mpmc_peek_pos(struct shoal_mpmc *h, const void **data, uint32_t *len,
			uint64_t *pos)
{
	int err = deq_claim(h, SIZE_MAX, pos, len);

	if (err)
		return err;
	*data = (const unsigned char *)cell_at(h, *pos) +
		SHOAL__MPMC_CELL_HEADER;
	return 0;
}

int shoal_mpmc_release_pos(struct shoal_mpmc *h, uint64_t pos)
{
	if (!ours(h, pos, pos + 1, pos + 1))
		return shoal__fail(-EINVAL,
				   "mpmc_release: position %llu is not held "
				   "by this handle",
				   (unsigned long long)pos);
	deq_release(h, pos);
	return 0;
}
