/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring: Lamport's single-producer single-consumer queue, with the
 * sequence number carried in each slot.
 *
 * Positions are free-running 64-bit counters (index = pos & mask) compared by
 * unsigned difference, so they may start anywhere and wrap through
 * UINT64_MAX. Invariant: tail <= head <= tail + capacity (in that modular
 * sense), where head is the producer's next position and tail the consumer's.
 *
 * Who writes what:
 *  - the producer writes slot payloads and slot states, and the
 *    monitoring copy of head (its own line);
 *  - the consumer writes tail (its own line) and nothing else.
 *
 * Why a sequence per slot: in a plain Lamport ring the consumer polls the
 * producer's head, so every message costs two cache-line transfers (head,
 * then slot). Here the producer release-stores the position into the slot after
 * the payload, and the consumer polls that slot alone: a small message is a
 * single line moving from producer to consumer. The producer still needs the
 * consumer's tail to know a slot is free, but it keeps a cached copy and reads
 * the shared one only when the cache says "full", so in steady state tail
 * crosses cores once per lap, not once per message. (Vyukov's bounded queue
 * and Aeron's record headers use the same idea.)
 *
 * Slots are packed at 8-byte alignment: an 8-byte header (position and
 * length in one word) and the payload. Only the producer writes slots, so
 * packing shares no cache line between writers, and small messages travel
 * several to a line.
 *
 * Formatting stores position p - capacity into the slot of each first-lap
 * position p: one lap "behind", never equal to p, whatever start_pos is.
 *
 * Skip markers: a slot committed with length SHOAL_SPSC_SKIP is a position
 * the producer gave up between committed ones (several claims out, one
 * given back in the middle; shoal_spsc_commit_n()). The consumer passes
 * over it and never hands it out; a reader that does not know markers
 * refuses it as a bad length (-EBADMSG) and skips it the same.
 *
 * Shared memory is untrusted: the consumer checks len <= slot_size before
 * using it (-EBADMSG otherwise), and the producer checks that the tail it
 * reads lies within one ring of its head (-EBADMSG otherwise). Neither ever
 * computes an address from a shared value: slot addresses come from local
 * positions and the geometry copied and checked at init.
 */
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "shoal/ring_spsc.h"
#include "arch/error.h"
#include "segment/layout.h"

static uint64_t stride_of(uint32_t slot_size)
{
	uint64_t bytes = (uint64_t)SHOAL__SPSC_SLOT_HEADER + slot_size;

	return (bytes + 7) & ~(uint64_t)7;
}

uint64_t shoal_spsc_region_size(uint32_t capacity, uint32_t slot_size)
{
	if (!shoal__is_pow2(capacity) || capacity < 2 ||
	    capacity > SHOAL_SPSC_CAPACITY_MAX || slot_size == 0 ||
	    slot_size > SHOAL_SPSC_SLOT_MAX)
		return 0;
	return sizeof(struct shoal__spsc_ring) +
	       (uint64_t)capacity * stride_of(slot_size);
}

/* The committed state of a slot holding @len bytes at position @pos. */
static uint64_t slot_state(uint64_t pos, uint32_t len)
{
	return (uint64_t)len << 32 | (uint32_t)pos;
}

static struct shoal__spsc_slot *slot_at(unsigned char *slots, uint64_t stride,
					uint32_t mask, uint64_t pos)
{
	return (struct shoal__spsc_slot *)(slots + (pos & mask) * stride);
}

int shoal_spsc_format(void *region, uint64_t region_size, uint32_t capacity,
		      uint32_t slot_size, uint64_t start_pos)
{
	struct shoal__spsc_ring *r = region;
	uint64_t need = shoal_spsc_region_size(capacity, slot_size);
	unsigned char *slots;

	if (!need)
		return shoal__fail(-EINVAL,
				   "spsc_format: capacity %u (power of two, "
				   "2..%u) or slot size %u (1..%u) invalid",
				   capacity, SHOAL_SPSC_CAPACITY_MAX, slot_size,
				   SHOAL_SPSC_SLOT_MAX);
	if (!region || ((uintptr_t)region % SHOAL__CACHE_LINE) ||
	    region_size < need)
		return shoal__fail(
			-EINVAL,
			"spsc_format: region must be 64-byte aligned "
			"and hold %llu bytes",
			(unsigned long long)need);
	memset(r, 0, sizeof(*r));
	r->magic = SHOAL__SPSC_MAGIC;
	r->capacity = capacity;
	r->slot_size = slot_size;
	r->slot_stride = stride_of(slot_size);
	r->start_pos = start_pos;
	slots = (unsigned char *)(r + 1);
	for (uint64_t p = start_pos; p != start_pos + capacity; p++) {
		struct shoal__spsc_slot *s =
			slot_at(slots, r->slot_stride, capacity - 1, p);
		atomic_store_explicit(&s->state, slot_state(p - capacity, 0),
				      memory_order_relaxed);
	}
	/* Relaxed is enough: nobody may look at the region before the
	 * segment's READY store, which is a release that publishes all this. */
	atomic_store_explicit(&r->head, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->tail, start_pos, memory_order_relaxed);
	return 0;
}

/*
 * Reads the geometry once, checks it against the region size, and returns the
 * shared tail as the starting position of both sides.
 */
static int attach(void *region, uint64_t region_size, uint32_t *mask,
		  uint32_t *slot_size, uint64_t *stride, uint64_t *tail,
		  uint64_t *head)
{
	struct shoal__spsc_ring *r = region;
	uint64_t magic, need, t, h;
	uint32_t cap, size;

	if (!region || (uintptr_t)region % SHOAL__CACHE_LINE ||
	    region_size < sizeof(*r))
		return shoal__fail(-EINVAL, "spsc: region too small or "
					    "misaligned");
	magic = r->magic;
	cap = r->capacity;
	size = r->slot_size;
	need = shoal_spsc_region_size(cap, size);
	if (magic != SHOAL__SPSC_MAGIC || !need || need > region_size ||
	    r->slot_stride != stride_of(size))
		return shoal__fail(-EBADMSG,
				   "spsc: corrupt ring header (capacity %u, "
				   "slot %u, region %llu bytes)",
				   cap, size, (unsigned long long)region_size);
	/* Acquire: pairs with the consumer's release of tail, so a producer
	 * attaching late does not overwrite slots still being read. */
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h - t > cap)
		return shoal__fail(
			-EBADMSG,
			"spsc: head %llu and tail %llu are more than "
			"a ring apart",
			(unsigned long long)h, (unsigned long long)t);
	*mask = cap - 1;
	*slot_size = size;
	*stride = stride_of(size);
	*tail = t;
	*head = h;
	return 0;
}

int shoal_spsc_producer_init(struct shoal_spsc_producer *p, void *region,
			     uint64_t region_size)
{
	struct shoal_spsc_producer n = { 0 };
	int err;

	if (!p)
		return shoal__fail(-EINVAL, "spsc_producer_init: NULL");
	err = attach(region, region_size, &n.priv_mask, &n.priv_slot_size,
		     &n.priv_stride, &n.priv_tail_cache, &n.priv_head);
	if (err)
		return err;
	n.priv_ring = region;
	n.priv_slots =
		(unsigned char *)region + sizeof(struct shoal__spsc_ring);
	*p = n;
	return 0;
}

int shoal_spsc_consumer_init(struct shoal_spsc_consumer *c, void *region,
			     uint64_t region_size)
{
	struct shoal_spsc_consumer n = { 0 };
	uint64_t head;
	int err;

	if (!c)
		return shoal__fail(-EINVAL, "spsc_consumer_init: NULL");
	err = attach(region, region_size, &n.priv_mask, &n.priv_slot_size,
		     &n.priv_stride, &n.priv_tail, &head);
	if (err)
		return err;
	n.priv_ring = region;
	n.priv_slots =
		(unsigned char *)region + sizeof(struct shoal__spsc_ring);
	*c = n;
	return 0;
}

uint32_t shoal_spsc_slot_size(const struct shoal_spsc_producer *p)
{
	return p->priv_slot_size;
}

uint32_t shoal_spsc_capacity(const struct shoal_spsc_producer *p)
{
	return p->priv_mask + 1;
}

uint32_t shoal_spsc_consumer_slot_size(const struct shoal_spsc_consumer *c)
{
	return c->priv_slot_size;
}

uint32_t shoal_spsc_consumer_capacity(const struct shoal_spsc_consumer *c)
{
	return c->priv_mask + 1;
}

/*
 * How many slots starting at the producer's next unclaimed position are free,
 * reading the shared tail only when the cached one says fewer than @want.
 * Returns a count >= 0 or -EBADMSG.
 */
static int64_t free_slots(struct shoal_spsc_producer *p, uint32_t want)
{
	struct shoal__spsc_ring *r = p->priv_ring;
	uint64_t cap = (uint64_t)p->priv_mask + 1;
	uint64_t used = p->priv_head - p->priv_tail_cache;
	uint64_t t;

	if (cap - used >= want)
		return (int64_t)(cap - used);
	/* Acquire: pairs with the consumer's release store of tail; the
	 * consumer's reads of the slots below tail happen before we reuse
	 * them. */
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (p->priv_head - t > cap)
		return shoal__fail(-EBADMSG,
				   "spsc: consumer tail %llu is not within a "
				   "ring of head %llu",
				   (unsigned long long)t,
				   (unsigned long long)p->priv_head);
	p->priv_tail_cache = t;
	return (int64_t)(cap - (p->priv_head - t));
}

int shoal_spsc_claim_batch(struct shoal_spsc_producer *p, uint32_t max,
			   void **slots)
{
	int64_t avail;
	uint32_t n;

	if (p->priv_claimed)
		return shoal__fail(-EBUSY, "spsc: slots already claimed");
	if (max == 0 || !slots)
		return shoal__fail(-EINVAL, "spsc_claim_batch: nothing asked");
	avail = free_slots(p, max);
	if (avail < 0)
		return (int)avail;
	if (avail == 0)
		return -EAGAIN;
	n = avail < max ? (uint32_t)avail : max;
	for (uint32_t i = 0; i < n; i++)
		slots[i] = (unsigned char *)slot_at(p->priv_slots,
						    p->priv_stride,
						    p->priv_mask,
						    p->priv_head + i) +
			   SHOAL__SPSC_SLOT_HEADER;
	p->priv_claimed = n;
	return (int)n;
}

/*
 * The single-message paths below do not go through the batch functions: on
 * the polled round trip every branch and call shows, so each is the
 * shortest sequence that keeps the checks.
 */
int shoal_spsc_claim(struct shoal_spsc_producer *p, void **slot)
{
	if (p->priv_claimed)
		return shoal__fail(-EBUSY, "spsc: slots already claimed");
	/* Full by the cached tail? Only then read the consumer's line. */
	if (p->priv_head - p->priv_tail_cache > p->priv_mask) {
		int64_t avail = free_slots(p, 1);

		if (avail <= 0)
			return avail < 0 ? (int)avail : -EAGAIN;
	}
	*slot = (unsigned char *)slot_at(p->priv_slots, p->priv_stride,
					 p->priv_mask, p->priv_head) +
		SHOAL__SPSC_SLOT_HEADER;
	p->priv_claimed = 1;
	return 0;
}

int shoal_spsc_commit_batch(struct shoal_spsc_producer *p, const uint32_t *lens,
			    uint32_t n)
{
	struct shoal__spsc_ring *r = p->priv_ring;

	if (n == 0 || n != p->priv_claimed || !lens)
		return shoal__fail(
			-EINVAL, "spsc_commit: %u slots claimed, %u committed",
			p->priv_claimed, n);
	for (uint32_t i = 0; i < n; i++) {
		if (lens[i] > p->priv_slot_size)
			return shoal__fail(-EMSGSIZE,
					   "spsc_commit: %u bytes in a %u-byte "
					   "slot",
					   lens[i], p->priv_slot_size);
	}
	/* Publish slots 1..n-1 first, relaxed, then slot 0 with the one
	 * release store of the batch. The consumer reads positions in order,
	 * so it looks at slot 1 only after its acquire load saw slot 0; that
	 * load synchronizes with the release below, which makes every payload
	 * and slot state written above visible. */
	for (uint32_t i = n - 1; i > 0; i--) {
		struct shoal__spsc_slot *s =
			slot_at(p->priv_slots, p->priv_stride, p->priv_mask,
				p->priv_head + i);
		atomic_store_explicit(&s->state,
				      slot_state(p->priv_head + i, lens[i]),
				      memory_order_relaxed);
	}
	/* Release: publishes the whole batch; pairs with the acquire load of
	 * the slot state in look(). */
	atomic_store_explicit(&slot_at(p->priv_slots, p->priv_stride,
				       p->priv_mask, p->priv_head)
				       ->state,
			      slot_state(p->priv_head, lens[0]),
			      memory_order_release);
	p->priv_head += n;
	p->priv_claimed = 0;
	atomic_store_explicit(&r->head, p->priv_head, memory_order_relaxed);
	return 0;
}

int shoal_spsc_commit(struct shoal_spsc_producer *p, uint32_t len)
{
	struct shoal__spsc_ring *r = p->priv_ring;
	struct shoal__spsc_slot *s;

	if (p->priv_claimed != 1)
		return shoal__fail(-EINVAL,
				   "spsc_commit: %u slots claimed, 1 committed",
				   p->priv_claimed);
	if (len > p->priv_slot_size)
		return shoal__fail(-EMSGSIZE,
				   "spsc_commit: %u bytes in a %u-byte slot",
				   len, p->priv_slot_size);
	s = slot_at(p->priv_slots, p->priv_stride, p->priv_mask, p->priv_head);
	/* Release: publishes the payload written in the slot; pairs with the
	 * acquire load of the slot state in look(). */
	atomic_store_explicit(&s->state, slot_state(p->priv_head, len),
			      memory_order_release);
	p->priv_head++;
	p->priv_claimed = 0;
	atomic_store_explicit(&r->head, p->priv_head, memory_order_relaxed);
	return 0;
}

void shoal_spsc_abort(struct shoal_spsc_producer *p)
{
	/* Nothing was published: the claimed slots simply stay free. */
	p->priv_claimed = 0;
}

int shoal_spsc_push(struct shoal_spsc_producer *p, const void *data,
		    uint32_t len)
{
	struct shoal__spsc_ring *r = p->priv_ring;
	struct shoal__spsc_slot *s;

	if (len > p->priv_slot_size)
		return shoal__fail(-EMSGSIZE,
				   "spsc_push: %u bytes, slot holds %u", len,
				   p->priv_slot_size);
	if (p->priv_claimed)
		return shoal__fail(-EBUSY, "spsc: slots already claimed");
	if (p->priv_head - p->priv_tail_cache > p->priv_mask) {
		int64_t avail = free_slots(p, 1);

		if (avail <= 0)
			return avail < 0 ? (int)avail : -EAGAIN;
	}
	s = slot_at(p->priv_slots, p->priv_stride, p->priv_mask, p->priv_head);
	memcpy((unsigned char *)s + SHOAL__SPSC_SLOT_HEADER, data, len);
	/* Release: publishes the payload copied above; pairs with the
	 * acquire load of the slot state in look(). */
	atomic_store_explicit(&s->state, slot_state(p->priv_head, len),
			      memory_order_release);
	p->priv_head++;
	atomic_store_explicit(&r->head, p->priv_head, memory_order_relaxed);
	return 0;
}

/* Hands @n consumed slots back to the producer with one store. */
static void consume(struct shoal_spsc_consumer *c, uint32_t n)
{
	struct shoal__spsc_ring *r = c->priv_ring;

	c->priv_tail += n;
	c->priv_peeked = 0;
	/* Release: our reads of the slots below the new tail are done before
	 * the producer may reuse them; pairs with its acquire load of tail. */
	atomic_store_explicit(&r->tail, c->priv_tail, memory_order_release);
}

/*
 * Looks at the slot of position @pos: 1 and *data, *len if its message is
 * committed and sane, 2 if it is a skip marker, 0 if not yet, -EBADMSG if
 * its length is impossible.
 */
static int look(const struct shoal_spsc_consumer *c, uint64_t pos,
		const void **data, uint32_t *len)
{
	struct shoal__spsc_slot *s =
		slot_at(c->priv_slots, c->priv_stride, c->priv_mask, pos);
	uint64_t st;
	uint32_t n;

	/* Acquire: pairs with the producer's release store of the state (of
	 * this slot, or of the first slot of its batch), making the payload
	 * visible. Read once: position and length come from this one load. */
	st = atomic_load_explicit(&s->state, memory_order_acquire);

	if ((uint32_t)st != (uint32_t)pos)
		return 0;
	n = (uint32_t)(st >> 32);
	if (n == SHOAL_SPSC_SKIP)
		return 2;
	if (n > c->priv_slot_size)
		return shoal__fail(
			-EBADMSG,
			"spsc: message at %llu claims %u bytes, slot "
			"holds %u",
			(unsigned long long)pos, n, c->priv_slot_size);
	*data = (const unsigned char *)s + SHOAL__SPSC_SLOT_HEADER;
	*len = n;
	return 1;
}

int shoal_spsc_peek_batch(struct shoal_spsc_consumer *c, uint32_t max,
			  struct shoal_spsc_msg *msgs)
{
	uint32_t n = 0;

	if (c->priv_peeked)
		return shoal__fail(-EBUSY, "spsc: messages already peeked");
	if (max == 0 || !msgs)
		return shoal__fail(-EINVAL, "spsc_peek_batch: nothing asked");
	if (max > c->priv_mask + 1)
		max = c->priv_mask + 1;
	while (n < max) {
		int r = look(c, c->priv_tail + n, &msgs[n].data, &msgs[n].len);

		if (r == 1) {
			n++;
			continue;
		}
		if (r == 2 && n == 0) {
			consume(c, 1); /* a marker: passed over */
			continue;
		}
		if (r < 0 && n == 0) {
			/* Skip the corrupt slot so the stream goes on. */
			consume(c, 1);
			return r;
		}
		break;
	}
	if (n == 0)
		return -EAGAIN;
	c->priv_peeked = n;
	return (int)n;
}

int shoal_spsc_peek(struct shoal_spsc_consumer *c, const void **data,
		    uint32_t *len)
{
	int r;

	if (c->priv_peeked)
		return shoal__fail(-EBUSY, "spsc: messages already peeked");
	while ((r = look(c, c->priv_tail, data, len)) == 2)
		consume(c, 1); /* a marker: passed over */
	if (r == 1) {
		c->priv_peeked = 1;
		return 0;
	}
	if (r == 0)
		return -EAGAIN;
	consume(c, 1); /* skip the corrupt slot so the stream goes on */
	return r;
}

int shoal_spsc_release(struct shoal_spsc_consumer *c)
{
	if (!c->priv_peeked)
		return shoal__fail(-EINVAL, "spsc_release: nothing peeked");
	consume(c, c->priv_peeked);
	return 0;
}

ssize_t shoal_spsc_pop(struct shoal_spsc_consumer *c, void *buf, size_t cap)
{
	/* Initialised only to quiet gcc 12 -O2's maybe-uninitialized: look()
	 * sets both whenever it returns 1. */
	const void *data = NULL;
	uint32_t len = 0;
	int r;

	if (c->priv_peeked)
		return shoal__fail(-EBUSY, "spsc: messages already peeked");
	while ((r = look(c, c->priv_tail, &data, &len)) == 2)
		consume(c, 1); /* a marker: passed over */
	if (r == 0)
		return -EAGAIN;
	if (r < 0) {
		consume(c, 1);
		return r;
	}
	if (len > cap)
		/* Leave the message for a larger buffer. */
		return shoal__fail(-EMSGSIZE,
				   "spsc_pop: %u-byte message, %zu-byte buffer",
				   len, cap);
	memcpy(buf, data, len);
	consume(c, 1);
	return (ssize_t)len;
}

int shoal_spsc_readable(const struct shoal_spsc_consumer *c)
{
	struct shoal__spsc_slot *s = slot_at(c->priv_slots, c->priv_stride,
					     c->priv_mask,
					     c->priv_tail + c->priv_peeked);

	/* Acquire: as in look(); a caller that sees 1 and then peeks sees
	 * the message. */
	return (uint32_t)atomic_load_explicit(&s->state,
					      memory_order_acquire) ==
	       (uint32_t)(c->priv_tail + c->priv_peeked);
}

int shoal_spsc_writable(struct shoal_spsc_producer *p)
{
	return free_slots(p, p->priv_claimed + 1) > (int64_t)p->priv_claimed;
}

int shoal_spsc_readable_cb(void *user_data)
{
	return shoal_spsc_readable(user_data);
}

int shoal_spsc_writable_cb(void *user_data)
{
	return shoal_spsc_writable(user_data);
}

/*
 * Several claims and several peeks at once, named by position. The
 * producer's claims are the run [head, head + claimed), published from the
 * front; the consumer's peeks are the run [tail, tail + peeked), released
 * from the front.
 */
int shoal_spsc_claim_next(struct shoal_spsc_producer *p, void **slot)
{
	uint64_t pos = p->priv_head + p->priv_claimed;

	if (p->priv_claimed > p->priv_mask)
		return -EAGAIN; /* a whole ring claimed */
	if (pos - p->priv_tail_cache > p->priv_mask) {
		int64_t avail = free_slots(p, p->priv_claimed + 1);

		if (avail < 0)
			return (int)avail;
		if (avail <= (int64_t)p->priv_claimed)
			return -EAGAIN;
	}
	*slot = (unsigned char *)slot_at(p->priv_slots, p->priv_stride,
					 p->priv_mask, pos) +
		SHOAL__SPSC_SLOT_HEADER;
	p->priv_claimed++;
	return 0;
}

int shoal_spsc_commit_n(struct shoal_spsc_producer *p, const uint32_t *lens,
			uint32_t n)
{
	struct shoal__spsc_ring *r = p->priv_ring;

	if (n == 0 || n > p->priv_claimed || !lens)
		return shoal__fail(-EINVAL,
				   "spsc_commit_n: %u slots claimed, %u "
				   "committed",
				   p->priv_claimed, n);
	for (uint32_t i = 0; i < n; i++) {
		if (lens[i] > p->priv_slot_size && lens[i] != SHOAL_SPSC_SKIP)
			return shoal__fail(-EMSGSIZE,
					   "spsc_commit_n: %u bytes in a "
					   "%u-byte slot",
					   lens[i], p->priv_slot_size);
	}
	/* As shoal_spsc_commit_batch(): the later slots relaxed, then the
	 * first with the one release store; pairs with the acquire load of
	 * the slot state in look(), and the consumer reads positions in
	 * order. */
	for (uint32_t i = n - 1; i > 0; i--)
		atomic_store_explicit(&slot_at(p->priv_slots, p->priv_stride,
					       p->priv_mask, p->priv_head + i)
					       ->state,
				      slot_state(p->priv_head + i, lens[i]),
				      memory_order_relaxed);
	atomic_store_explicit(&slot_at(p->priv_slots, p->priv_stride,
				       p->priv_mask, p->priv_head)
				       ->state,
			      slot_state(p->priv_head, lens[0]),
			      memory_order_release);
	p->priv_head += n;
	p->priv_claimed -= n;
	atomic_store_explicit(&r->head, p->priv_head, memory_order_relaxed);
	return 0;
}

int shoal_spsc_unclaim(struct shoal_spsc_producer *p, uint32_t n)
{
	if (n > p->priv_claimed)
		return shoal__fail(-EINVAL, "spsc_unclaim: %u of %u claimed", n,
				   p->priv_claimed);
	/* Nothing was published there: the slots simply stay free. */
	p->priv_claimed -= n;
	return 0;
}

int shoal_spsc_peek_next(struct shoal_spsc_consumer *c, const void **data,
			 uint32_t *len, uint64_t *pos)
{
	for (;;) {
		uint64_t at = c->priv_tail + c->priv_peeked;
		int r;

		if (c->priv_peeked > c->priv_mask)
			return -EAGAIN;
		r = look(c, at, data, len);
		if (r == 0)
			return -EAGAIN;
		if (r == 2 || r < 0) {
			/* A marker (or a corrupt slot, reported): passed
			 * over, released with the run it ends up in. */
			if (c->priv_peeked)
				c->priv_peeked++;
			else
				consume(c, 1);
			if (r < 0)
				return r;
			continue;
		}
		c->priv_peeked++;
		*pos = at;
		return 0;
	}
}

int shoal_spsc_release_to(struct shoal_spsc_consumer *c, uint64_t end)
{
	struct shoal__spsc_ring *r = c->priv_ring;
	uint64_t n = end - c->priv_tail;

	if (n > c->priv_peeked)
		return shoal__fail(-EINVAL,
				   "spsc_release_to: %llu of %u peeked",
				   (unsigned long long)n, c->priv_peeked);
	c->priv_tail = end;
	c->priv_peeked -= (uint32_t)n;
	/* Release: our reads of the slots below the new tail are done before
	 * the producer may reuse them; pairs with its acquire load of tail. */
	atomic_store_explicit(&r->tail, c->priv_tail, memory_order_release);
	return 0;
}

uint64_t shoal_spsc_consumer_tail(const struct shoal_spsc_consumer *c)
{
	return c->priv_tail;
}
