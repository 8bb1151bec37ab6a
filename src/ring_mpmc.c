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
 * A producer CASes enq_pos from p to p + 1 when the cell of p shows seq == p,
 * records its claim, writes the payload and release-stores seq = p + 1. A
 * consumer CASes deq_pos from p to p + 1 when the cell shows seq == p + 1,
 * copies out, and release-stores seq = p + capacity. The CASes are relaxed:
 * the acquire load of seq before them, paired with the other side's release
 * store, orders the payload.
 *
 * Everything read from the region is untrusted: the geometry is checked once
 * at init and kept locally, a length is checked before any copy, and a
 * sequence that is ahead of a position nobody has passed is reported as
 * -EBADMSG instead of looping forever.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "shoal/ring_mpmc.h"
#include "error.h"
#include "layout.h"

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t stride_of(uint32_t slot_size)
{
	uint64_t bytes = (uint64_t)SHOAL__MPMC_CELL_HEADER + slot_size;

	return (bytes + SHOAL__CACHE_LINE - 1) &
	       ~(uint64_t)(SHOAL__CACHE_LINE - 1);
}

uint64_t shoal_mpmc_region_size(uint32_t capacity, uint32_t slot_size)
{
	if (!is_pow2(capacity) || capacity < 2 ||
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
		atomic_store_explicit(&c->claim, 0, memory_order_relaxed);
		atomic_store_explicit(&c->len, 0, memory_order_relaxed);
		c->pad = 0;
	}
	atomic_store_explicit(&r->enq_pos, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->deq_pos, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->skipped, 0, memory_order_relaxed);
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
	if (!owner)
		return shoal__fail(-EINVAL, "mpmc_init: owner token 0");
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

/*
 * Claims the next enqueue position: 0 and *@out (its cell, claim recorded),
 * -EAGAIN when full, -EBADMSG for an impossible cell sequence.
 */
static int enq_claim(struct shoal_mpmc *h, uint64_t *out)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	struct shoal__mpmc_cell *c;
	uint64_t pos, seq, again;

	pos = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
	for (;;) {
		int64_t diff;

		c = cell_at(h, pos);
		/* Acquire: pairs with the release store of seq = pos by
		 * the consumer of pos - capacity (deq_release()): its
		 * copy-out is done before we overwrite the payload. */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		diff = (int64_t)(seq - pos);
		if (diff == 0) {
			/* Relaxed: the claim orders nothing by itself. On
			 * failure pos is reloaded with the current value. */
			if (atomic_compare_exchange_weak_explicit(
				    &r->enq_pos, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed))
				break;
			continue;
		}
		if (diff < 0)
			return -EAGAIN; /* a lap behind: full */
		/* The cell is ahead of pos: someone claimed pos already, so
		 * enq_pos must have moved on. If it has not, seq is bogus. */
		again = atomic_load_explicit(&r->enq_pos, memory_order_relaxed);
		if (again == pos)
			return shoal__fail(-EBADMSG,
					   "mpmc: cell sequence %llu ahead of "
					   "enqueue position %llu",
					   (unsigned long long)seq,
					   (unsigned long long)pos);
		pos = again;
	}
	/* Record who holds the cell before writing it (relaxed: read only by
	 * the liveness recovery, which re-checks seq; docs/mpmc-ring.md). */
	atomic_store_explicit(&c->claim,
			      (uint64_t)h->priv_owner << 32 | (uint32_t)pos,
			      memory_order_relaxed);
	*out = pos;
	return 0;
}

/* Publishes the claimed position @pos with @len bytes. */
static void enq_publish(struct shoal_mpmc *h, uint64_t pos, uint32_t len)
{
	struct shoal__mpmc_cell *c = cell_at(h, pos);

	atomic_store_explicit(&c->len, len, memory_order_relaxed);
	/* Release: publishes claim, len and payload; pairs with the
	 * consumer's acquire load of seq. */
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

/* Hands the cell of dequeued position @pos to the producer of the next lap. */
static void deq_release(struct shoal_mpmc *h, uint64_t pos)
{
	/* Release: our reads of the cell are done before a producer of the
	 * next lap may overwrite it; pairs with its acquire load of seq. */
	atomic_store_explicit(&cell_at(h, pos)->seq, pos + h->priv_mask + 1,
			      memory_order_release);
}

/*
 * Claims the next dequeue position if its message fits @cap bytes: 0 with
 * *@out and *@len (checked <= slot size), -EAGAIN when empty, -EMSGSIZE
 * (nothing claimed), or -EBADMSG: for a corrupt length the position is
 * claimed and released (the message dropped, *@out set); for an impossible
 * sequence nothing is claimed and *@out is untouched.
 */
static int deq_claim(struct shoal_mpmc *h, size_t cap, uint64_t *out,
		     uint32_t *out_len)
{
	struct shoal__mpmc_ring *r = h->priv_ring;
	struct shoal__mpmc_cell *c;
	uint64_t pos, seq, again;
	uint32_t len;
	int bad;

	pos = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
	for (;;) {
		int64_t diff;

		c = cell_at(h, pos);
		/* Acquire: pairs with the producer's release store of
		 * pos + 1, making len and the payload visible. */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		diff = (int64_t)(seq - (pos + 1));
		if (diff == 0) {
			/* Read the length once, before claiming: while seq
			 * is pos + 1 the cell cannot change until position
			 * pos is dequeued, so if our CAS wins it is this
			 * message's length. */
			len = atomic_load_explicit(&c->len,
						   memory_order_relaxed);
			bad = len > h->priv_slot_size;
			if (!bad && len > cap)
				return shoal__fail(-EMSGSIZE,
						   "mpmc_pop: %u-byte message, "
						   "%zu-byte buffer",
						   len, cap);
			if (atomic_compare_exchange_weak_explicit(
				    &r->deq_pos, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed))
				break;
			continue;
		}
		if (diff < 0)
			return -EAGAIN; /* not yet written: empty */
		again = atomic_load_explicit(&r->deq_pos, memory_order_relaxed);
		if (again == pos)
			return shoal__fail(-EBADMSG,
					   "mpmc: cell sequence %llu ahead of "
					   "dequeue position %llu",
					   (unsigned long long)seq,
					   (unsigned long long)pos);
		pos = again;
	}
	*out = pos;
	if (bad) {
		deq_release(h, pos);
		/* Consumed and dropped, so the stream goes on. */
		return shoal__fail(-EBADMSG,
				   "mpmc: message at %llu claims %u bytes, "
				   "cell holds %u",
				   (unsigned long long)pos, len,
				   h->priv_slot_size);
	}
	*out_len = len;
	return 0;
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
