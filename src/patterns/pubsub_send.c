/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe, what a send does: waiting for room (reliable), loans
 * (several at once, published in loan order, aborts in the middle as skip
 * markers), completing slots, the full fence and the wake-ups of sleeping
 * subscribers, copies and batches. The memory protocol is the broadcast
 * ring's (src/ring/ring_bcast.[ch], docs/bcast-ring.md); the handle is in
 * pubsub_pub_internal.h, its life in pubsub_pub.c.
 *
 *  - A reliable publisher out of room spins, then sleeps through notify
 *    (shoal_wait on header.waiting and its eventfd: mark, seq_cst fence,
 *    re-check the cursors); a subscriber that moves its cursor fences
 *    (seq_cst) and writes that eventfd when it sees the mark, so no
 *    wake-up is missed (make_room()).
 *  - Wake-ups: after each send's full fence (shoal__bcast_publish) the
 *    publisher loads the sleeper bitmap words: with nobody asleep that is
 *    one or a few loads whatever the number of subscribers.
 */
#include <errno.h>
#include <string.h>

#include "shoal/pubsub.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "notify/notify_internal.h"
#include "patterns/pubsub_pub_internal.h"
#include "patterns/pubsub_pool.h"
#include "ring/ring_bcast.h"

/* How long a blocked publisher spins before it sleeps. */
#define PUB_SPIN_NS (20 * 1000)

/* Drops the lines whose subscriber died, counting them. */
static uint32_t evict_dead(struct shoal_pub *p)
{
	uint32_t dropped = shoal__bcast_evict_dead(&p->ring);

	if (dropped)
		atomic_fetch_add_explicit(&p->hdr->evicted, dropped,
					  memory_order_relaxed);
	return dropped;
}

/*
 * Pools, reliable: every live line's cursor is at or past @p->chunk_gate
 * (seq + 1 of the message the chunk to be reused last held), so nobody
 * reads that chunk any more. The lines are those the ring gates on
 * (rescanned by shoal__bcast_room() when one joined or left); a late
 * joiner's history may still reach the chunk, and then sees its stamp
 * change (docs/pubsub.md, "Payload pools").
 */
static int chunk_free(struct shoal_pub *p)
{
	uint64_t gate = p->chunk_gate;

	if (!gate || (int64_t)(p->ring.min_cursor - gate) >= 0)
		return 1;
	(void)shoal__bcast_room(&p->ring, p->ring.loan_end);
	if ((int64_t)(p->ring.min_cursor - gate) >= 0)
		return 1;
	shoal__bcast_recompute_min(&p->ring, p->ring.loan_end);
	return (int64_t)(p->ring.min_cursor - gate) >= 0;
}

/* The next loan fits: its slot (when it must be gated) and its chunk. */
static int have_room(struct shoal_pub *p)
{
	if (shoal__bcast_must_gate(&p->ring) &&
	    !shoal__bcast_room(&p->ring, p->ring.loan_end))
		return 0;
	return chunk_free(p);
}

/*
 * What a publisher waiting for room waits for: the next message fits. The
 * lines' liveness (a system call per line) is asked only when the live
 * cursors give no room.
 */
static int room_ready(void *arg)
{
	struct shoal_pub *p = arg;

	if (have_room(p))
		return 1;
	return evict_dead(p) && have_room(p);
}

/*
 * Reliable: waits until the next loan (ring.loan_end) can be written. 0,
 * -EAGAIN (no
 * room within send_timeout_ns), or what notify's wait returns.
 *
 * The wait is notify's (shoal_wait on header.waiting, the publisher's
 * eventfd): mark, seq_cst fence, re-check the cursors, sleep. A subscriber
 * that moves its cursor fences (seq_cst) and writes the eventfd when it
 * sees the mark (shoal_sub_release, detach), so no wake-up is missed. What
 * notify's slice (SHOAL_WAIT_SLICE_NS) still bounds: a subscriber that dies
 * while the publisher sleeps wakes nobody (nothing writes the eventfd for
 * it), so it is evicted when the slice ends, if no other subscriber woke
 * the publisher first; and a hostile peer that reads the eventfd.
 */
static int make_room(struct shoal_pub *p)
{
	int64_t deadline, now, spin_until;
	int err;

	if (have_room(p))
		return 0;
	atomic_fetch_add_explicit(&p->hdr->blocked, 1, memory_order_relaxed);
	/* Liveness costs a system call per line: look when the wait starts,
	 * never while spinning. */
	if (evict_dead(p) && have_room(p))
		return 0;
	deadline = shoal__deadline(p->send_timeout_ns);
	now = shoal__now_ns();
	spin_until = now + PUB_SPIN_NS;
	while (p->send_timeout_ns != 0 && now < spin_until &&
	       (deadline < 0 || now < deadline)) {
		for (int i = 0; i < 64; i++) {
			if (have_room(p))
				return 0;
			shoal__cpu_relax();
		}
		now = shoal__now_ns();
	}
	if (p->send_timeout_ns != 0 && (deadline < 0 || now < deadline)) {
		err = shoal_wait(&p->room_waiter, room_ready, p,
				 deadline < 0 ? SHOAL_WAIT_FOREVER :
						deadline - now);
		if (!err)
			return 0;
		if (err != -ETIMEDOUT) {
			atomic_fetch_add_explicit(&p->hdr->failed, 1,
						  memory_order_relaxed);
			return err;
		}
	}
	atomic_fetch_add_explicit(&p->hdr->failed, 1, memory_order_relaxed);
	if (p->chunk_gate)
		return shoal__fail(-EAGAIN,
				   "pub: a subscriber still has message %llu, "
				   "whose pool chunk the next loan needs, and "
				   "did not release it in time",
				   (unsigned long long)(p->chunk_gate - 1));
	return shoal__fail(-EAGAIN,
			   "pub: a subscriber is %u messages behind and did "
			   "not make room in time",
			   p->capacity);
}

/*
 * shoal_pub_loan() with pools: a chunk of the smallest class that holds
 * @size, the class's oldest (round robin). Reliable: waits (as for room)
 * until nobody reads the message it last held. Its stamp goes to 0 before
 * the caller writes, so a lossy reader still on the old message sees the
 * change; the slot carries the reference.
 */
static int pool_loan(struct shoal_pub *p, uint32_t size, void **ptr)
{
	struct pubsub_pool_pub *a = &p->pools;
	int c = shoal__pools_class(&a->pp, size);
	struct shoal__pool_ref *ref;
	struct pub_loan *l;
	uint64_t last;
	uint32_t k;
	int err;

	if (c < 0 || size > a->pp.largest)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed the largest pool's "
				   "chunks (%u bytes)",
				   size, a->pp.largest);
	k = a->next[c];
	last = a->last[c][k];
	/* Round robin: the oldest chunk is one of our own loans only when
	 * every chunk of the class is. */
	if (last && last - 1 >= p->ring.head)
		return shoal__fail(-EBUSY,
				   "pub: all %u chunks of pool %d (%u bytes) "
				   "are loaned",
				   a->pp.pool[c].count, c, a->pp.pool[c].size);
	shoal__bcast_loan_announce(&p->ring);
	p->chunk_gate = p->delivery == SHOAL_DELIVERY_RELIABLE ? last : 0;
	err = make_room(p);
	p->chunk_gate = 0;
	if (err)
		return err;
	atomic_store_explicit(&a->pp.pool[c].stamps[k], 0,
			      memory_order_relaxed);
	/* Release fence: the caller's payload stores stay after the zeroed
	 * stamp; pairs with the acquire fence of a reader's re-check
	 * (shoal__pools_intact() in pubsub_pool.c). */
	atomic_thread_fence(memory_order_release);
	l = &p->loans[p->ring.loan_end % SHOAL_PUB_LOANS_MAX];
	l->pool = (uint32_t)c;
	l->chunk = k;
	l->prev_last = last;
	a->last[c][k] = p->ring.loan_end + 1;
	a->next[c] = k + 1 == a->pp.pool[c].count ? 0 : k + 1;
	ref = shoal__bcast_payload(&p->ring.m, shoal__bcast_loan(&p->ring));
	ref->pool = (uint32_t)c;
	ref->chunk = k;
	ref->len = 0;
	ref->pad = 0;
	l->state = LOAN_OUT;
	l->size = size;
	*ptr = shoal__pools_chunk(&a->pp, (uint32_t)c, k);
	return 0;
}

/*
 * Pools: the newest loan @l goes back unnumbered (its seq may never be
 * published). Being the newest, it took its class's newest chunk: the
 * class's round robin steps back to it, and it gates as it did before.
 */
static void pool_unloan(struct shoal_pub *p, const struct pub_loan *l)
{
	p->pools.last[l->pool][l->chunk] = l->prev_last;
	p->pools.next[l->pool] = l->chunk;
}

/* Where the caller writes loan @seq: its chunk, or its slot's payload. */
static void *loan_ptr(const struct shoal_pub *p, uint64_t seq)
{
	const struct pub_loan *l = &p->loans[seq % SHOAL_PUB_LOANS_MAX];

	if (p->pooled)
		return shoal__pools_chunk(&p->pools.pp, l->pool, l->chunk);
	return shoal__bcast_payload(&p->ring.m,
				    shoal__bcast_slot_at(&p->ring.m, seq));
}

/* Hands out the next loan (ring.loan_end), its room judged: @size bytes
 * of its slot's payload. */
static inline void loan_slot(struct shoal_pub *p, uint32_t size, void **ptr)
{
	struct pub_loan *l = &p->loans[p->ring.loan_end % SHOAL_PUB_LOANS_MAX];
	struct shoal__bcast_slot *s = shoal__bcast_loan(&p->ring);

	l->state = LOAN_OUT;
	l->size = size;
	*ptr = shoal__bcast_payload(&p->ring.m, s);
}

/* shoal_pub_loan() in every case: batches and loans out, pools, sizes,
 * waiting for room. Out of line, so that the common case's few
 * instructions need no stack frame. */
static __attribute__((noinline)) int loan_general(struct shoal_pub *p,
						  uint32_t size, void **ptr)
{
	int err;

	if (p->batch)
		return shoal__fail(-EBUSY, "pub: a batch loan is out");
	if (p->ring.loan_end - p->ring.head >= p->max_loans)
		return shoal__fail(-EBUSY,
				   "pub: %u loans are out (max_loans), "
				   "sent or not",
				   p->max_loans);
	if (p->pooled)
		return pool_loan(p, size, ptr);
	if (size > p->max_payload)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed max_payload %u", size,
				   p->max_payload);
	/* Other loans out: this one's end goes in bound before its room is
	 * judged (ring/ring_bcast.c). */
	shoal__bcast_loan_announce(&p->ring);
	if (shoal__bcast_must_gate(&p->ring)) {
		err = make_room(p);
		if (err)
			return err;
	}
	loan_slot(p, size, ptr);
	return 0;
}

int shoal_pub_loan(struct shoal_pub *p, uint32_t size, void **ptr)
{
	/* The common case, first: nothing out (so no batch either), slots
	 * that hold the payload, a size that fits, and a slot with room
	 * already judged (premarked, lossy, or the first lap). What
	 * loan_general() then does, without its other cases. */
	if (__builtin_expect(p->ring.loan_end == p->ring.head && !p->pooled &&
				     size <= p->max_payload &&
				     !shoal__bcast_must_gate(&p->ring),
			     1)) {
		loan_slot(p, size, ptr);
		return 0;
	}
	return loan_general(p, size, ptr);
}

void *shoal_pub_loan_header(struct shoal_pub *p)
{
	uint64_t seq;

	if (!p->uh_size || p->ring.loan_end == p->ring.head)
		return NULL;
	if (p->batch)
		return shoal__bcast_slot_at(&p->ring.m, p->ring.head) + 1;
	for (seq = p->ring.loan_end; seq-- != p->ring.head;)
		if (p->loans[seq % SHOAL_PUB_LOANS_MAX].state == LOAN_OUT)
			return shoal__bcast_slot_at(&p->ring.m, seq) + 1;
	return NULL;
}

/*
 * The seq of the loan whose payload is @ptr, among [head, loan_end), or
 * -EINVAL. Fewer loans than slots are out, so the slot names one seq.
 */
static int loan_seq(const struct shoal_pub *p, const void *ptr, uint64_t *seq)
{
	uintptr_t off = (uintptr_t)ptr - (uintptr_t)p->ring.m.slots;
	uint64_t idx, q;

	/* Pools: at most max_loans chunks to compare. */
	if (p->pooled) {
		for (q = p->ring.head; q != p->ring.loan_end; q++)
			if (ptr && loan_ptr(p, q) == ptr) {
				*seq = q;
				return 0;
			}
		return -EINVAL;
	}
	if (!ptr || (uintptr_t)ptr < (uintptr_t)p->ring.m.slots ||
	    off < p->ring.m.data_off)
		return -EINVAL;
	off -= p->ring.m.data_off;
	if (off % p->stride || off / p->stride >= p->capacity)
		return -EINVAL;
	idx = off / p->stride;
	q = p->ring.head + ((idx - p->ring.head) & p->mask);
	if (q >= p->ring.loan_end)
		return -EINVAL;
	*seq = q;
	return 0;
}

/* @ptr is the oldest single loan (seq ring.head), still out, in its slot
 * (no batch, no pools): the common case of a send, found without
 * loan_seq()'s division. */
static inline int is_oldest_loan(const struct shoal_pub *p, const void *ptr)
{
	return !p->batch && !p->pooled && p->ring.loan_end != p->ring.head &&
	       ptr == shoal__bcast_payload(
			      &p->ring.m,
			      shoal__bcast_slot_at(&p->ring.m, p->ring.head)) &&
	       p->loans[p->ring.head % SHOAL_PUB_LOANS_MAX].state == LOAN_OUT;
}

/* The single loan @ptr, still out (not sent, not aborted): its seq. */
static inline int check_loan(struct shoal_pub *p, void *ptr, uint64_t *seq)
{
	if (is_oldest_loan(p, ptr)) {
		*seq = p->ring.head;
		return 0;
	}
	if (p->batch)
		return shoal__fail(-EINVAL,
				   "pub: a batch of %u loans is out: "
				   "shoal_pub_send_batch() sends it",
				   p->batch);
	if (loan_seq(p, ptr, seq) ||
	    p->loans[*seq % SHOAL_PUB_LOANS_MAX].state != LOAN_OUT)
		return shoal__fail(-EINVAL, "pub: not an outstanding loan");
	return 0;
}

/*
 * Pools: the end of writing message head into its chunk: the length in the
 * slot's reference, then the chunk's stamp (release: the payload before
 * it; pairs with the subscriber's acquire load in
 * shoal__pools_resolve_view()). The slot's own length is the reference's.
 */
static uint32_t complete_chunk(struct shoal_pub *p, struct shoal__bcast_slot *s,
			       uint32_t len)
{
	const struct pub_loan *l =
		&p->loans[p->ring.head % SHOAL_PUB_LOANS_MAX];
	struct shoal__pool_ref *ref = shoal__bcast_payload(&p->ring.m, s);

	ref->len = len;
	atomic_store_explicit(&p->pools.pp.pool[l->pool].stamps[l->chunk],
			      shoal__bcast_stamp(p->ring.head),
			      memory_order_release);
	return (uint32_t)sizeof(*ref);
}

/* The end of writing the next message into @s: length, timestamp if the
 * service stamps them, even stamp. */
static inline void complete(struct shoal_pub *p, struct shoal__bcast_slot *s,
			    uint32_t len)
{
	int ts = (p->flags & SHOAL_PUB_TIMESTAMP) != 0;

	if (p->pooled)
		len = complete_chunk(p, s, len);

	shoal__bcast_complete(&p->ring, s, len, ts, ts ? shoal__now_ns() : 0);
}

/*
 * Wakes every subscriber whose bit is set. A wake-up whose eventfd write
 * fails (only under injected faults: a real eventfd write cannot) gives
 * the bit back, so the next send tries again; a blocked subscriber re-checks
 * within a sleep slice anyway (notify.md). Called after the full fence in
 * shoal__bcast_publish(), which is the notifier's fence of notify's
 * protocol: it pairs with a subscriber's fence between setting its bit and
 * re-checking its slot.
 */
static void wake_sleepers_slow(struct shoal_pub *p)
{
	for (uint32_t w = 0; w < p->bitmap_words; w++) {
		uint32_t bits = atomic_load_explicit(&p->bitmap[w],
						     memory_order_relaxed);

		while (bits) {
			uint32_t bit = bits & -bits;
			uint32_t i = w * 32 + (uint32_t)__builtin_ctz(bits);

			bits &= bits - 1;
			if (i >= p->max_subs)
				break; /* untrusted bits past the limit */
			if (!shoal__notify_take(&p->bitmap[w], bit))
				continue;
			if (shoal__eventfd_wake(p->wake_fds[i]) == 0) {
				atomic_fetch_add_explicit(&p->wakeups[i], 1,
							  memory_order_relaxed);
				atomic_fetch_add_explicit(&p->hdr->wakeups, 1,
							  memory_order_relaxed);
			} else {
				shoal__notify_give_back(&p->bitmap[w], bit);
			}
		}
	}
}

static inline void wake_sleepers(struct shoal_pub *p)
{
	uint32_t any = 0;

	/* Nobody asleep is the common case: loads only, inline. */
	for (uint32_t w = 0; w < p->bitmap_words; w++)
		any |= atomic_load_explicit(&p->bitmap[w],
					    memory_order_relaxed);
	if (any)
		wake_sleepers_slow(p);
}

/* Shows the messages completed so far and wakes who sleeps for them. */
static inline void publish_and_wake(struct shoal_pub *p)
{
	/* Head, full fence, premark: the fence also orders the wake-up's
	 * loads of the sleeper bitmap (see wake_sleepers()). */
	shoal__bcast_publish(&p->ring);
	wake_sleepers(p);
}

/*
 * Publishes what can be published of the single loans: from head on, the
 * sent ones, and the aborted ones as skip markers when a sent one follows
 * them (an aborted run before a loan still out waits: aborting that one
 * too gives them all back unnumbered). Then head, the fence, the wake-up.
 */
static void publish_loans(struct shoal_pub *p)
{
	uint64_t first = p->ring.head;

	while (p->ring.head != p->ring.loan_end) {
		uint64_t seq = p->ring.head, j;
		struct pub_loan *l = &p->loans[seq % SHOAL_PUB_LOANS_MAX];

		if (l->state == LOAN_SENT) {
			complete(p, shoal__bcast_slot_at(&p->ring.m, seq),
				 l->len);
			l->state = 0;
			continue;
		}
		if (l->state != LOAN_ABORTED)
			break;
		for (j = seq;
		     j != p->ring.loan_end &&
		     p->loans[j % SHOAL_PUB_LOANS_MAX].state == LOAN_ABORTED;
		     j++)
			;
		if (j == p->ring.loan_end ||
		    p->loans[j % SHOAL_PUB_LOANS_MAX].state != LOAN_SENT)
			break;
		for (; seq != j; seq++) {
			p->loans[seq % SHOAL_PUB_LOANS_MAX].state = 0;
			shoal__bcast_complete_skip(
				&p->ring,
				shoal__bcast_slot_at(&p->ring.m, seq));
			p->skipped++;
		}
		atomic_store_explicit(&p->hdr->skipped, p->skipped,
				      memory_order_relaxed);
	}
	if (p->ring.head != first)
		publish_and_wake(p);
}

/* shoal_pub_send() in every case: loans out of order, pools, timestamps,
 * bad arguments. Out of line, as loan_general(). */
static __attribute__((noinline)) int send_general(struct shoal_pub *p,
						  void *ptr, uint32_t len)
{
	struct pub_loan *l;
	uint64_t seq;
	int err = check_loan(p, ptr, &seq);

	if (err)
		return err;
	l = &p->loans[seq % SHOAL_PUB_LOANS_MAX];
	if (len > l->size)
		return shoal__fail(-EINVAL, "pub: %u bytes sent, %u loaned",
				   len, l->size);
	/* The oldest loan, alone: straight out. */
	if (seq == p->ring.head && p->ring.loan_end == seq + 1) {
		complete(p, shoal__bcast_slot_at(&p->ring.m, seq), len);
		l->state = 0;
		publish_and_wake(p);
		return 0;
	}
	l->state = LOAN_SENT;
	l->len = len;
	/* Published now if only sent or aborted loans come before it. */
	publish_loans(p);
	return 0;
}

int shoal_pub_send(struct shoal_pub *p, void *ptr, uint32_t len)
{
	struct shoal__bcast_pub *b = &p->ring;
	struct pub_loan *l = &p->loans[b->head % SHOAL_PUB_LOANS_MAX];

	/* The common case, first: @ptr is the one loan out and the oldest
	 * (is_oldest_loan()), no timestamp to take (a clock read wants a
	 * stack frame), and it fits. What send_general() then does, without
	 * its other cases. */
	if (__builtin_expect(b->loan_end == b->head + 1 && p->plain &&
				     is_oldest_loan(p, ptr) && len <= l->size,
			     1)) {
		shoal__bcast_complete(b, shoal__bcast_slot_at(&b->m, b->head),
				      len, 0, 0);
		l->state = 0;
		publish_and_wake(p);
		return 0;
	}
	return send_general(p, ptr, len);
}

int shoal_pub_abort(struct shoal_pub *p, void *ptr)
{
	uint64_t seq;
	int err;

	/* The first loan of a batch gives the whole batch back; its slots
	 * keep their odd stamps (judged, marked) for the next loans. */
	if (p->batch &&
	    ptr == shoal__bcast_payload(&p->ring.m,
					shoal__bcast_slot_at(&p->ring.m,
							     p->ring.head))) {
		while (p->ring.loan_end != p->ring.head)
			shoal__bcast_unloan(&p->ring);
		p->batch = 0;
		return 0;
	}
	err = check_loan(p, ptr, &seq);
	if (err)
		return err;
	p->loans[seq % SHOAL_PUB_LOANS_MAX].state = LOAN_ABORTED;
	/* The newest (and the aborted ones it ends): their seqs go back,
	 * their slots keep the odd stamp (the old message there is gone in
	 * part, and readers of it see a lap, which is what it is; a trusted
	 * ring stores none, and no subscriber is on that message). */
	while (p->ring.loan_end != p->ring.head &&
	       p->loans[(p->ring.loan_end - 1) % SHOAL_PUB_LOANS_MAX].state ==
		       LOAN_ABORTED) {
		struct pub_loan *l =
			&p->loans[(p->ring.loan_end - 1) % SHOAL_PUB_LOANS_MAX];

		l->state = 0;
		if (p->pooled)
			pool_unloan(p, l);
		shoal__bcast_unloan(&p->ring);
	}
	/* One in the middle: a skip marker once a later one is sent, which
	 * may be already. */
	if (p->ring.loan_end != p->ring.head)
		publish_loans(p);
	return 0;
}

int shoal_pub_write(struct shoal_pub *p, const void *data, uint32_t len,
		    const void *user_header)
{
	void *ptr;
	int err = shoal_pub_loan(p, len, &ptr);

	if (err)
		return err;
	if (user_header && p->uh_size)
		memcpy(shoal__bcast_user_header(shoal__bcast_slot_at(
			       &p->ring.m, p->ring.loan_end - 1)),
		       user_header, p->uh_size);
	memcpy(ptr, data, len);
	return shoal_pub_send(p, ptr, len);
}

/* Writes message @m into the slot of head and completes it. */
static void write_slot(struct shoal_pub *p, const struct shoal_pub_msg *m)
{
	struct shoal__bcast_slot *s = shoal__bcast_loan(&p->ring);

	if (p->uh_size) {
		if (m->user_header)
			memcpy(s + 1, m->user_header, p->uh_size);
		else
			memset(s + 1, 0, p->uh_size);
	}
	memcpy(shoal__bcast_payload(&p->ring.m, s), m->data, m->len);
	complete(p, s, m->len);
}

/* Pools: each message as shoal_pub_write() (each takes its own chunk);
 * an error after the first ends the batch there. */
static int write_batch_pooled(struct shoal_pub *p,
			      const struct shoal_pub_msg *msgs, uint32_t n)
{
	uint32_t j;

	for (j = 0; j < n; j++) {
		int err = shoal_pub_write(p, msgs[j].data, msgs[j].len,
					  msgs[j].user_header);

		if (err) {
			if (!j)
				return err;
			break;
		}
	}
	return (int)j;
}

int shoal_pub_write_batch(struct shoal_pub *p, const struct shoal_pub_msg *msgs,
			  uint32_t n)
{
	uint32_t k, j;
	int err;

	if (!n || !msgs)
		return shoal__fail(-EINVAL, "pub: an empty batch");
	if (p->ring.loan_end != p->ring.head)
		return shoal__fail(-EBUSY, "pub: a loan is already out");
	if (p->pooled)
		return write_batch_pooled(p, msgs, n);
	for (k = 0; k < n && msgs[k].len <= p->max_payload; k++)
		;
	if (!k)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed max_payload %u",
				   msgs[0].len, p->max_payload);
	/* Reliable: lines that joined or left, then room for the first
	 * message (waiting as a send would), then how many more fit now
	 * (ring/ring_bcast.c has why the bound, the fence and the cap). */
	shoal__bcast_batch_begin(&p->ring);
	if (shoal__bcast_must_gate(&p->ring)) {
		err = make_room(p);
		if (err)
			return err;
	}
	k = shoal__bcast_batch_extent(&p->ring, k);
	for (j = 0; j < k; j++)
		write_slot(p, &msgs[j]);
	/* As in shoal_pub_send(), once for the batch. */
	publish_and_wake(p);
	return (int)k;
}

int shoal_pub_loan_batch(struct shoal_pub *p, uint32_t size, void **ptrs,
			 uint32_t n)
{
	uint32_t k;
	int err;

	if (!n || !ptrs)
		return shoal__fail(-EINVAL, "pub: an empty batch");
	if (p->ring.loan_end != p->ring.head)
		return shoal__fail(-EBUSY, "pub: a loan is already out");
	if (p->pooled)
		return shoal__fail(-ENOTSUP,
				   "pub: a service with pools loans one "
				   "message at a time (shoal_pub_loan())");
	if (size > p->max_payload)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed max_payload %u", size,
				   p->max_payload);
	/* Never more than a ring: the slots would alias. Reliable: one less,
	 * so that a subscriber joining while the batch is out (it reads the
	 * batch's bound, and starts no later than bound - capacity + 1) starts
	 * at or before the first loan: the caller may count it (or wait for
	 * it) before the send, and is then owed every message sent. */
	if (n > p->capacity)
		n = p->capacity;
	if (p->delivery == SHOAL_DELIVERY_RELIABLE && n >= p->capacity)
		n = p->capacity - 1;
	/* As shoal_pub_write_batch(): joins and leaves, room for the first
	 * (waiting as a loan would), then how many more fit now; the bound
	 * the extent stores covers every slot loaned here, so a subscriber
	 * joining before the send starts after them (ring/ring_bcast.c). */
	shoal__bcast_batch_begin(&p->ring);
	if (shoal__bcast_must_gate(&p->ring)) {
		err = make_room(p);
		if (err)
			return err;
	}
	k = shoal__bcast_batch_extent(&p->ring, n);
	/* Each slot marked for writing now (unless premarked), before its
	 * payload is written. */
	for (uint32_t j = 0; j < k; j++)
		ptrs[j] = shoal__bcast_payload(&p->ring.m,
					       shoal__bcast_loan(&p->ring));
	p->batch = k;
	p->loan_size = size;
	return (int)k;
}

int shoal_pub_send_batch(struct shoal_pub *p, void **ptrs, const uint32_t *lens,
			 uint32_t n)
{
	uint64_t head = p->ring.head;
	uint32_t j, loaned = (uint32_t)(p->ring.loan_end - head);

	if (!loaned)
		return shoal__fail(-EINVAL, "pub: no loan is out");
	/* Single loans too, all still out: a batch of them, in loan order
	 * (one sent or aborted already: send the rest one by one). */
	for (j = 0; !p->batch && j < loaned; j++)
		if (p->loans[(head + j) % SHOAL_PUB_LOANS_MAX].state !=
		    LOAN_OUT)
			return shoal__fail(-EINVAL,
					   "pub: loan %u was sent or aborted "
					   "alone: shoal_pub_send() the rest",
					   j);
	if (n > loaned || (n && (!ptrs || !lens)))
		return shoal__fail(-EINVAL, "pub: %u messages sent, %u loaned",
				   n, loaned);
	/* Check the whole batch before completing any of it. */
	for (j = 0; j < n; j++) {
		struct shoal__bcast_slot *sl =
			shoal__bcast_slot_at(&p->ring.m, head + j);

		if (ptrs[j] != (p->batch ?
					shoal__bcast_payload(&p->ring.m, sl) :
					loan_ptr(p, head + j)))
			return shoal__fail(-EINVAL,
					   "pub: batch entry %u is not loan "
					   "%u (sent in loan order)",
					   j, j);
		uint32_t size =
			p->batch ?
				p->loan_size :
				p->loans[(head + j) % SHOAL_PUB_LOANS_MAX].size;

		if (lens[j] > size)
			return shoal__fail(-EINVAL,
					   "pub: %u bytes sent, %u loaned",
					   lens[j], size);
	}
	for (j = 0; j < n; j++)
		complete(p, shoal__bcast_slot_at(&p->ring.m, head + j),
			 lens[j]);
	/* The loans after the n sent are given back, as shoal_pub_abort()
	 * does: their odd stamps stay. */
	for (j = 0; j < loaned; j++)
		p->loans[(head + j) % SHOAL_PUB_LOANS_MAX].state = 0;
	/* Pools: the chunks of those given back gate as before. */
	for (j = loaned; p->pooled && j-- > n;)
		pool_unloan(p, &p->loans[(head + j) % SHOAL_PUB_LOANS_MAX]);
	while (p->ring.loan_end != p->ring.head)
		shoal__bcast_unloan(&p->ring);
	p->batch = 0;
	if (!n)
		return 0;
	/* As in shoal_pub_send(), once for the batch: one store of head,
	 * one fence, one pass over the sleeper bitmap. */
	publish_and_wake(p);
	return (int)n;
}
