/* SPDX-License-Identifier: MIT */
/*
 * Variable-length byte ring: records with a length header, 8-byte aligned,
 * a padding record at the wrap (Aeron's OneToOne/ManyToOne ring buffers),
 * in a region of shared memory.
 *
 * Positions are free-running 64-bit byte counters (offset = pos & mask),
 * always multiples of 8, compared by unsigned difference, so they may start
 * anywhere and wrap through UINT64_MAX. Invariant: head <= tail <= head +
 * capacity, where tail is the end of what producers claimed and head the
 * consumer's position.
 *
 * Claim. A record of payload len takes span = align8(8 + len) bytes. If
 * it would cross the end of the data area, the claim also takes the bytes
 * up to the end as a padding record, in the same step: need = pad + span.
 * The space is free if tail + need <= head + capacity (head acquired). SPSC:
 * the producer owns tail and simply stores it. MPSC: producers CAS tail
 * from t to t + need; the winner owns [t, t + need). The tail load is
 * acquire and the CAS acq_rel only so that a head read after the tail is
 * at least as new as the head its claimant checked: then "t more than a
 * ring ahead of head" is a reliable sign of corruption. A padding record
 * is committed at once (release store of its header).
 *
 * Commit. The producer writes the payload, then release-stores the header
 * word (tag, length, COMMITTED). Committing fewer bytes than claimed leaves
 * a tail of the claimed span: a padding header is stored there first
 * (relaxed; the record's release store publishes it). Abort release-stores
 * a padding header over the whole claimed span.
 *
 * Consume. The consumer polls the header word at head (acquire). Zero: not
 * committed yet (MPSC commits may complete out of order; the consumer
 * always stops at the first uncommitted record). Otherwise the tag must be
 * that of the position and the length must fit before the end of the data
 * area, or the ring is corrupt (-EBADMSG). Padding is skipped. After
 * reading, the consumer zeroes the consumed bytes, then release-stores
 * head.
 *
 * Why the consumer zeroes (as Aeron does): the header of the next record
 * lands on bytes that held arbitrary payload in an earlier lap. A position
 * tag alone (accept a header only if it names its own position) rejects
 * stale headers, but not stale payload bytes that happen to look like the
 * right header: a user may well send its own ring positions. Keeping all
 * unclaimed bytes zero makes "zero = not committed" exact; the tag is then
 * a cheap check against corruption.
 *
 * Who writes what: producers write tail (line 1), the aborted counter
 * (line 3) and the records they claimed; the consumer writes head (line 2)
 * and zeroes the records it consumed. Nobody computes an address from a
 * shared value without checking it: tail is checked 8-aligned and within a
 * ring of head, head likewise at attach, and a header's length is checked
 * against the bytes left before the end of the data area.
 */
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "shoal/ring_var.h"
#include "arch/error.h"
#include "ring/ring_var_layout.h"

/* MPSC: fruitless CAS rounds before a claim gives up with -EAGAIN, so a call
 * stays bounded even if a hostile peer keeps moving tail. */
#define CLAIM_ROUNDS 4096

static uint64_t span_of(uint32_t len)
{
	return ((uint64_t)SHOAL__VARRING_HEADER + len +
		(SHOAL__VARRING_ALIGN - 1)) &
	       ~(uint64_t)(SHOAL__VARRING_ALIGN - 1);
}

static uint64_t header_word(uint64_t pos, int pad, uint64_t len)
{
	return (pad ? SHOAL__VARRING_HDR_PAD : 0) |
	       SHOAL__VARRING_HDR_COMMITTED | len << 32 | (uint32_t)(pos >> 3);
}

static _Atomic uint64_t *header_at(unsigned char *data, uint32_t mask,
				   uint64_t pos)
{
	return (_Atomic uint64_t *)(void *)(data + (pos & mask));
}

uint64_t shoal_varring_region_size(uint64_t capacity)
{
	if (!shoal__is_pow2(capacity) ||
	    capacity < SHOAL_VARRING_CAPACITY_MIN ||
	    capacity > SHOAL_VARRING_CAPACITY_MAX)
		return 0;
	return sizeof(struct shoal__varring) + capacity;
}

int shoal_varring_format(void *region, uint64_t region_size, uint64_t capacity,
			 uint32_t flags, uint64_t start_pos)
{
	struct shoal__varring *r = region;
	uint64_t need = shoal_varring_region_size(capacity);

	if (!need)
		return shoal__fail(-EINVAL,
				   "varring_format: capacity %llu is not a "
				   "power of two in %u..%u",
				   (unsigned long long)capacity,
				   SHOAL_VARRING_CAPACITY_MIN,
				   SHOAL_VARRING_CAPACITY_MAX);
	if (flags != SHOAL_VARRING_SPSC && flags != SHOAL_VARRING_MPSC)
		return shoal__fail(-EINVAL, "varring_format: flags %#x", flags);
	if (start_pos % SHOAL__VARRING_ALIGN)
		return shoal__fail(-EINVAL,
				   "varring_format: start position %llu is not "
				   "a multiple of 8",
				   (unsigned long long)start_pos);
	if (!region || ((uintptr_t)region % SHOAL__CACHE_LINE) ||
	    region_size < need)
		return shoal__fail(-EINVAL,
				   "varring_format: region must be 64-byte "
				   "aligned and hold %llu bytes",
				   (unsigned long long)need);
	/* The zero invariant: no header is committed anywhere. */
	memset(region, 0, need);
	r->magic = SHOAL__VARRING_MAGIC;
	r->capacity = capacity;
	r->flags = flags;
	r->max_message = SHOAL_VARRING_MAX_MESSAGE(capacity);
	r->start_pos = start_pos;
	/* Relaxed is enough: nobody may look at the region before the
	 * segment's READY store (or the caller's own handoff), which
	 * publishes all this. */
	atomic_store_explicit(&r->tail, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->head, start_pos, memory_order_relaxed);
	atomic_store_explicit(&r->aborted, 0, memory_order_relaxed);
	return 0;
}

/*
 * Reads the geometry and both positions once and checks them. The positions
 * must be 8-aligned and tail within one ring of head.
 */
static int attach(void *region, uint64_t region_size, uint32_t *mask,
		  uint32_t *flags, uint32_t *max, uint64_t *head,
		  uint64_t *tail)
{
	struct shoal__varring *r = region;
	uint64_t magic, cap, need, h, t;
	uint32_t fl, mx;

	if (!region || (uintptr_t)region % SHOAL__CACHE_LINE ||
	    region_size < sizeof(*r))
		return shoal__fail(-EINVAL,
				   "varring: region too small or misaligned");
	magic = r->magic;
	cap = r->capacity;
	fl = r->flags;
	mx = r->max_message;
	need = shoal_varring_region_size(cap);
	if (magic != SHOAL__VARRING_MAGIC || !need || need > region_size ||
	    (fl != SHOAL_VARRING_SPSC && fl != SHOAL_VARRING_MPSC) ||
	    mx != SHOAL_VARRING_MAX_MESSAGE(cap))
		return shoal__fail(-EBADMSG,
				   "varring: corrupt ring header (capacity "
				   "%llu, flags %#x, region %llu bytes)",
				   (unsigned long long)cap, fl,
				   (unsigned long long)region_size);
	/* Tail first, then head, both acquire: the head read is then at least
	 * as new as the one the claimant of t saw (see reserve()), so t - h
	 * <= capacity holds unless head has passed t since: possible while
	 * MPSC producers run, never in SPSC, where one side of the two is
	 * the caller's own and stands still. The head acquire also pairs
	 * with the consumer's release, so the zeroed bytes below it are seen
	 * before a late producer claims them. */
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	if (h % SHOAL__VARRING_ALIGN || t % SHOAL__VARRING_ALIGN ||
	    ((int64_t)(t - h) >= 0 ? t - h > cap : fl != SHOAL_VARRING_MPSC))
		return shoal__fail(-EBADMSG,
				   "varring: head %llu and tail %llu are "
				   "misaligned or more than a ring apart",
				   (unsigned long long)h,
				   (unsigned long long)t);
	*mask = (uint32_t)(cap - 1);
	*flags = fl;
	*max = mx;
	*head = h;
	*tail = t;
	return 0;
}

int shoal_varring_producer_init(struct shoal_varring_producer *p, void *region,
				uint64_t region_size)
{
	struct shoal_varring_producer n = { 0 };
	int err;

	if (!p)
		return shoal__fail(-EINVAL, "varring_producer_init: NULL");
	err = attach(region, region_size, &n.priv_mask, &n.priv_flags,
		     &n.priv_max, &n.priv_head_cache, &n.priv_tail);
	if (err)
		return err;
	n.priv_ring = region;
	n.priv_data = (unsigned char *)region + sizeof(struct shoal__varring);
	*p = n;
	return 0;
}

int shoal_varring_consumer_init(struct shoal_varring_consumer *c, void *region,
				uint64_t region_size)
{
	struct shoal_varring_consumer n = { 0 };
	uint32_t flags;
	uint64_t tail;
	int err;

	if (!c)
		return shoal__fail(-EINVAL, "varring_consumer_init: NULL");
	err = attach(region, region_size, &n.priv_mask, &flags, &n.priv_max,
		     &n.priv_head, &tail);
	if (err)
		return err;
	n.priv_ring = region;
	n.priv_data = (unsigned char *)region + sizeof(struct shoal__varring);
	n.priv_peek_end = n.priv_head;
	*c = n;
	return 0;
}

uint64_t shoal_varring_capacity(const struct shoal_varring_producer *p)
{
	return (uint64_t)p->priv_mask + 1;
}

uint32_t shoal_varring_max_message(const struct shoal_varring_producer *p)
{
	return p->priv_max;
}

uint64_t shoal_varring_aborted(const struct shoal_varring_consumer *c)
{
	const struct shoal__varring *r = c->priv_ring;

	return atomic_load_explicit(&r->aborted, memory_order_relaxed);
}

/*
 * Free bytes from @t to head + capacity, reading the shared head only when
 * the cached one leaves fewer than @need. Returns the count, -EAGAIN when
 * @t is behind the head just read (MPSC: another producer moved tail on
 * since we read it, and the consumer followed), or -EBADMSG.
 */
static int64_t free_bytes(struct shoal_varring_producer *p, uint64_t t,
			  uint64_t need)
{
	struct shoal__varring *r = p->priv_ring;
	uint64_t cap = (uint64_t)p->priv_mask + 1;
	uint64_t used = t - p->priv_head_cache;
	uint64_t h;

	if (used <= cap && cap - used >= need)
		return (int64_t)(cap - used);
	/* Acquire: pairs with the consumer's release store of head; its
	 * reads and zeroing of the bytes below head happen before we claim
	 * them. */
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	used = t - h;
	if ((int64_t)used < 0 && p->priv_flags == SHOAL_VARRING_MPSC)
		return -EAGAIN; /* our t is stale: reread tail */
	if (used > cap || h % SHOAL__VARRING_ALIGN)
		return shoal__fail(-EBADMSG,
				   "varring: consumer head %llu is not within "
				   "a ring of tail %llu",
				   (unsigned long long)h,
				   (unsigned long long)t);
	p->priv_head_cache = h;
	return (int64_t)(cap - used);
}

/*
 * Takes the bytes for a record of @len payload bytes (and the padding to
 * the end of the data area before it, if it would cross the end). Returns 0
 * with the record's position in p->priv_claim_pos, or -EAGAIN, -EBADMSG.
 */
static int reserve(struct shoal_varring_producer *p, uint32_t len)
{
	struct shoal__varring *r = p->priv_ring;
	uint64_t cap = (uint64_t)p->priv_mask + 1;
	uint64_t span = span_of(len), stale = 0;
	int stale_valid = 0;

	for (int round = 0; round < CLAIM_ROUNDS; round++) {
		uint64_t t, off, pad, need;
		int64_t avail;

		if (p->priv_flags == SHOAL_VARRING_SPSC) {
			t = p->priv_tail;
		} else {
			/* Acquire, with the acq_rel CAS below: the head we
			 * read next is then at least as new as the one the
			 * claimant of t checked t against, so a t more than
			 * a ring ahead of it is corruption, not a race. No
			 * data passes through tail. */
			t = atomic_load_explicit(&r->tail,
						 memory_order_acquire);
			if (t % SHOAL__VARRING_ALIGN)
				return shoal__fail(-EBADMSG,
						   "varring: tail %llu is not "
						   "8-aligned",
						   (unsigned long long)t);
		}
		off = t & p->priv_mask;
		pad = off + span > cap ? cap - off : 0;
		need = pad + span;
		avail = free_bytes(p, t, need);
		if (avail == -EAGAIN) {
			/* Head passed our t, so tail moved on since: a real
			 * race shows a new tail next round. The same tail
			 * again means head is beyond tail: corrupt. */
			if (stale_valid && stale == t)
				return shoal__fail(-EBADMSG,
						   "varring: head is beyond "
						   "tail %llu",
						   (unsigned long long)t);
			stale = t;
			stale_valid = 1;
			continue;
		}
		if (avail < 0)
			return (int)avail;
		if ((uint64_t)avail < need)
			return -EAGAIN;
		if (p->priv_flags == SHOAL_VARRING_SPSC) {
			p->priv_tail = t + need;
			/* Relaxed: monitoring and later attaches only. */
			atomic_store_explicit(&r->tail, t + need,
					      memory_order_relaxed);
		} else if (!atomic_compare_exchange_strong_explicit(
				   &r->tail, &t, t + need, memory_order_acq_rel,
				   memory_order_acquire)) {
			continue;
		}
		if (pad)
			/* Release: pairs with the consumer's acquire load of
			 * the header; orders our earlier accesses before its
			 * zeroing of these bytes. */
			atomic_store_explicit(
				header_at(p->priv_data, p->priv_mask, t),
				header_word(t, 1, pad), memory_order_release);
		p->priv_claim_pos = t + pad;
		p->priv_claim_span = (uint32_t)span;
		p->priv_claim_len = len;
		return 0;
	}
	return shoal__fail(-EAGAIN, "varring: lost %d claim races in a row",
			   CLAIM_ROUNDS);
}

static int check_claim(struct shoal_varring_producer *p, uint32_t len)
{
	if (p->priv_claim_span)
		return shoal__fail(-EBUSY, "varring: a record is claimed");
	if (len > p->priv_max)
		return shoal__fail(-EMSGSIZE,
				   "varring: %u-byte message, at most %u", len,
				   p->priv_max);
	return 0;
}

int shoal_varring_claim(struct shoal_varring_producer *p, uint32_t len,
			void **ptr)
{
	int err = check_claim(p, len);

	if (!err && !ptr)
		err = shoal__fail(-EINVAL, "varring_claim: NULL");
	if (!err)
		err = reserve(p, len);
	if (err)
		return err;
	*ptr = p->priv_data + (p->priv_claim_pos & p->priv_mask) +
	       SHOAL__VARRING_HEADER;
	return 0;
}

/* Publishes the claimed record with @len <= claimed payload bytes. */
static void publish(struct shoal_varring_producer *p, uint32_t len)
{
	uint64_t pos = p->priv_claim_pos;
	uint64_t span = span_of(len);

	if (span < p->priv_claim_span)
		/* Relaxed: the consumer reads this header only after the
		 * acquire load of the record's own header, whose release
		 * store below publishes it. */
		atomic_store_explicit(
			header_at(p->priv_data, p->priv_mask, pos + span),
			header_word(pos + span, 1, p->priv_claim_span - span),
			memory_order_relaxed);
	/* Release: publishes the payload (and the padding header above);
	 * pairs with the consumer's acquire load in look(). */
	atomic_store_explicit(header_at(p->priv_data, p->priv_mask, pos),
			      header_word(pos, 0, len), memory_order_release);
	p->priv_claim_span = 0;
	p->priv_claim_len = 0;
}

int shoal_varring_commit(struct shoal_varring_producer *p, uint32_t len)
{
	if (!p->priv_claim_span)
		return shoal__fail(-EINVAL, "varring_commit: nothing claimed");
	if (len > p->priv_claim_len)
		return shoal__fail(-EMSGSIZE,
				   "varring_commit: %u bytes, %u claimed", len,
				   p->priv_claim_len);
	publish(p, len);
	return 0;
}

int shoal_varring_abort(struct shoal_varring_producer *p)
{
	struct shoal__varring *r = p->priv_ring;
	uint64_t pos = p->priv_claim_pos;

	if (!p->priv_claim_span)
		return shoal__fail(-EINVAL, "varring_abort: nothing claimed");
	/* Release: whatever the caller wrote into the record happens before
	 * the consumer zeroes it; pairs with its acquire load in look(). */
	atomic_store_explicit(header_at(p->priv_data, p->priv_mask, pos),
			      header_word(pos, 1, p->priv_claim_span),
			      memory_order_release);
	p->priv_claim_span = 0;
	p->priv_claim_len = 0;
	atomic_fetch_add_explicit(&r->aborted, 1, memory_order_relaxed);
	return 0;
}

int shoal_varring_push(struct shoal_varring_producer *p, const void *data,
		       uint32_t len)
{
	int err = check_claim(p, len);

	if (!err)
		err = reserve(p, len);
	if (err)
		return err;
	if (len)
		memcpy(p->priv_data + (p->priv_claim_pos & p->priv_mask) +
			       SHOAL__VARRING_HEADER,
		       data, len);
	publish(p, len);
	return 0;
}

/* What look() found at a position. */
struct record {
	uint64_t span; /* bytes to the next record */
	uint32_t len;  /* payload bytes (messages) */
	int pad;       /* 1: padding, skip it */
};

/*
 * Reads the header at @pos once: 1 and *rec if a record is committed there,
 * 0 if not yet, -EBADMSG if the header is not one a producer could have
 * written for this position.
 */
static int look(const struct shoal_varring_consumer *c, uint64_t pos,
		struct record *rec)
{
	uint64_t cap = (uint64_t)c->priv_mask + 1;
	uint64_t room = cap - (pos & c->priv_mask);
	uint64_t h, len;

	/* Acquire: pairs with the producer's release store of the header;
	 * makes the payload (and any padding header after it) visible. */
	h = atomic_load_explicit(header_at(c->priv_data, c->priv_mask, pos),
				 memory_order_acquire);
	if (!h)
		return 0;
	len = h >> 32 & SHOAL__VARRING_LEN_MASK;
	if ((uint32_t)h != (uint32_t)(pos >> 3) ||
	    !(h & SHOAL__VARRING_HDR_COMMITTED))
		goto corrupt;
	if (h & SHOAL__VARRING_HDR_PAD) {
		/* Padding spans at most the bytes to the end of the data
		 * area, and always less than half the ring. */
		if (len < SHOAL__VARRING_HEADER || len % SHOAL__VARRING_ALIGN ||
		    len > room || len > cap / 2)
			goto corrupt;
		rec->span = len;
		rec->pad = 1;
		rec->len = 0;
		return 1;
	}
	if (len > c->priv_max || span_of((uint32_t)len) > room)
		goto corrupt;
	rec->span = span_of((uint32_t)len);
	rec->pad = 0;
	rec->len = (uint32_t)len;
	return 1;
corrupt:
	return shoal__fail(-EBADMSG,
			   "varring: corrupt record header %#llx at position "
			   "%llu",
			   (unsigned long long)h, (unsigned long long)pos);
}

/* Zeroes the @n bytes from position @pos (n <= capacity), wrapping. */
static void zero_bytes(struct shoal_varring_consumer *c, uint64_t pos,
		       uint64_t n)
{
	uint64_t cap = (uint64_t)c->priv_mask + 1;
	uint64_t off = pos & c->priv_mask;
	uint64_t first = n < cap - off ? n : cap - off;

	memset(c->priv_data + off, 0, first);
	if (n > first)
		memset(c->priv_data, 0, n - first);
}

/* Hands everything from head to @end back to the producers. */
static void consume(struct shoal_varring_consumer *c, uint64_t end)
{
	struct shoal__varring *r = c->priv_ring;

	if (end == c->priv_head)
		return;
	zero_bytes(c, c->priv_head, end - c->priv_head);
	c->priv_head = end;
	c->priv_peek_end = end;
	c->priv_peeked = 0;
	/* Release: our reads and zeroing of the bytes below head happen
	 * before a producer claims them; pairs with its acquire load of
	 * head. */
	atomic_store_explicit(&r->head, end, memory_order_release);
}

/*
 * Finds the next message from @pos on, skipping padding: 1 with *rec and
 * *at (its position), 0 if none is committed yet, -EBADMSG. *end is the
 * position after the padding skipped, so a caller can release it. Walks at
 * most one ring, so a producer that writes only padding cannot hold us.
 */
static int next_message(const struct shoal_varring_consumer *c, uint64_t pos,
			struct record *rec, uint64_t *at, uint64_t *end)
{
	uint64_t cap = (uint64_t)c->priv_mask + 1;
	uint64_t start = c->priv_head;
	int r;

	for (;;) {
		*end = pos;
		if (pos - start >= cap)
			return 0;
		r = look(c, pos, rec);
		if (r <= 0)
			return r;
		if (!rec->pad) {
			*at = pos;
			return 1;
		}
		pos += rec->span;
	}
}

ssize_t shoal_varring_pop(struct shoal_varring_consumer *c, void *buf,
			  size_t cap)
{
	struct record rec = { 0 };
	uint64_t at = 0, end;
	int r;

	if (c->priv_peeked)
		return shoal__fail(-EBUSY, "varring: messages already peeked");
	r = next_message(c, c->priv_head, &rec, &at, &end);
	if (r <= 0) {
		consume(c, end); /* give the padding back */
		return r ? r : -EAGAIN;
	}
	if (rec.len > cap) {
		consume(c, end);
		/* Leave the message for a larger buffer. */
		return shoal__fail(-EMSGSIZE,
				   "varring_pop: %u-byte message, %zu-byte "
				   "buffer",
				   rec.len, cap);
	}
	if (rec.len)
		memcpy(buf,
		       c->priv_data + (at & c->priv_mask) +
			       SHOAL__VARRING_HEADER,
		       rec.len);
	consume(c, at + rec.span);
	return (ssize_t)rec.len;
}

int shoal_varring_peek_batch(struct shoal_varring_consumer *c, uint32_t max,
			     struct shoal_varring_msg *msgs)
{
	uint64_t pos = c->priv_head, at = 0, end = pos;
	uint32_t n = 0;

	if (c->priv_peeked)
		return shoal__fail(-EBUSY, "varring: messages already peeked");
	if (max == 0 || !msgs)
		return shoal__fail(-EINVAL,
				   "varring_peek_batch: nothing asked");
	while (n < max) {
		struct record rec = { 0 };
		int r = next_message(c, pos, &rec, &at, &end);

		if (r < 0 && n == 0) {
			consume(c, end);
			return r;
		}
		if (r <= 0)
			break;
		msgs[n].data = c->priv_data + (at & c->priv_mask) +
			       SHOAL__VARRING_HEADER;
		msgs[n].len = rec.len;
		n++;
		pos = at + rec.span;
	}
	if (n == 0) {
		consume(c, end);
		return -EAGAIN;
	}
	/* The padding after the last message (end) goes back too only if we
	 * stopped on it; pos is the end of the last message. */
	c->priv_peek_end = n == max ? pos : end;
	c->priv_peeked = n;
	return (int)n;
}

int shoal_varring_peek(struct shoal_varring_consumer *c, const void **data,
		       uint32_t *len)
{
	struct shoal_varring_msg m;
	int r;

	if (!data || !len)
		return shoal__fail(-EINVAL, "varring_peek: NULL");
	r = shoal_varring_peek_batch(c, 1, &m);
	if (r < 0)
		return r;
	*data = m.data;
	*len = m.len;
	return 0;
}

int shoal_varring_release(struct shoal_varring_consumer *c)
{
	if (!c->priv_peeked)
		return shoal__fail(-EINVAL, "varring_release: nothing peeked");
	consume(c, c->priv_peek_end);
	return 0;
}

int shoal_varring_readable(const struct shoal_varring_consumer *c)
{
	struct record rec;
	uint64_t at, end;
	uint64_t pos = c->priv_peeked ? c->priv_peek_end : c->priv_head;
	int r;

	/* Padding counts: a read would release it, which is progress. */
	r = next_message(c, pos, &rec, &at, &end);
	return r != 0 || end != pos;
}

int shoal_varring_writable(struct shoal_varring_producer *p, uint32_t len)
{
	struct shoal__varring *r = p->priv_ring;
	uint64_t cap = (uint64_t)p->priv_mask + 1;
	uint64_t t, off, span;
	int64_t avail;

	if (p->priv_claim_span || len > p->priv_max)
		return 0;
	span = span_of(len);
	t = p->priv_flags == SHOAL_VARRING_SPSC ?
		    p->priv_tail :
		    atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (t % SHOAL__VARRING_ALIGN)
		return 0;
	off = t & p->priv_mask;
	span += off + span > cap ? cap - off : 0;
	avail = free_bytes(p, t, span);
	/* A stale MPSC tail (-EAGAIN) means the consumer moved: say yes and
	 * let the claim find out. */
	return avail == -EAGAIN || (avail >= 0 && (uint64_t)avail >= span);
}

int shoal_varring_readable_cb(void *user_data)
{
	return shoal_varring_readable(user_data);
}
