/* SPDX-License-Identifier: MIT */
/*
 * Pub/sub, the subscriber side: taking messages in place, waiting,
 * releasing, and noticing a publisher's death. docs/pubsub.md describes
 * the protocol. pubsub_sub_open.c opens and closes the handle,
 * pubsub_sub_rings.c joins the publishers' rings (claiming a line by an
 * OFD lock) and waits for and reattaches to a successor.
 *
 * A service may have several publishers (max_publishers > 1), each with its
 * own ring published under its own slot name (slot 0 the service's name,
 * slot i "name//i"). The subscriber joins every live ring as it joins one
 * (struct sub_ring), takes from them in turn (at most BURST in a row from
 * one), finds newcomers through its inotify watch of the registry
 * directory, and drops a ring once its publisher is gone and what it sent
 * was taken. With one ring everything is as it always was, behind one
 * branch on the number of rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "shoal/pubsub.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "segment/fdcheck.h"
#include "notify/notify_internal.h"
#include "patterns/pubsub_internal.h"
#include "ring/ring_bcast.h"
#include "service/service.h"
#include "registry/registry_internal.h"
#include "patterns/pubsub_sub_internal.h"

/* 1 once ring @r's publisher withdrew or died. Looks at the pidfd only
 * every PID_CHECK_EVERY calls, or after a sleep (its pidfd is in the set
 * slept on), so polling costs no system call. */
static int ring_gone(struct shoal_sub *s, struct sub_ring *r, int force)
{
	return shoal__owner_gone(&r->ow, &r->g.hdr->closed, r->svc,
				 sleeps_now(s), force);
}

/* The slot after the messages handed out is complete or overwritten. */
static inline int ring_ready(const struct sub_ring *r)
{
	uint64_t seq = r->ring.cursor + r->out;
	uint64_t st = atomic_load_explicit(
		&shoal__bcast_slot_at(&r->ring.m, seq)->stamp,
		memory_order_acquire);

	return shoal__bcast_classify(st, seq) != SHOAL__BCAST_NOT_YET;
}

/* take() has something to say: a message, a gone publisher, a newcomer
 * (the watch is read only after a sleep: its fd is in the set slept on). */
static int sub_ready(void *arg)
{
	struct shoal_sub *s = arg;

	for (uint32_t i = 0; i < s->nact; i++)
		if (ring_ready(s->act[i]))
			return 1;
	/* Whether a publisher is gone (a load of its closed word and a
	 * call), after each sleep and otherwise every GONE_CHECK_EVERY looks,
	 * not at each: a spinning take then looks at its slot again sooner,
	 * and sees the message sooner after it lands. */
	if (++s->gone_polls >= GONE_CHECK_EVERY ||
	    s->gone_sleeps != sleeps_now(s)) {
		s->gone_polls = 0;
		s->gone_sleeps = sleeps_now(s);
		for (uint32_t i = 0; i < s->nact; i++)
			if (ring_gone(s, s->act[i], 0))
				return 1;
	}
	/* Several publishers: the watch every NEWCOMER_CHECK_EVERY checks
	 * (a spinning waiter never sleeps) and after each sleep. */
	if (s->ino_in_set && s->nact && multi(s) &&
	    (++s->polls >= NEWCOMER_CHECK_EVERY ||
	     shoal__waiter_slept(&s->waiter, &s->ino_seen))) {
		s->polls = 0;
		return shoal__sub_read_watch(s);
	}
	return 0;
}

/* Where message @v's payload is: its slot's, or (pools) its chunk's. */
static inline int payload_of(const struct sub_ring *r,
			     struct shoal__bcast_view *v, const void **data)
{
	if (__builtin_expect(!r->pooled, 1)) {
		*data = shoal__bcast_payload(&r->ring.m, v->slot);
		return 0;
	}
	return shoal__pools_resolve_view(&r->g.pools, &r->ring.m, v, data);
}

static inline void fill_msg(const struct sub_ring *r, struct shoal_msg *msg,
			    const struct shoal__bcast_view *v, const void *data)
{
	msg->data = data;
	msg->len = v->len;
	msg->user_header_size = r->g.uh_size;
	msg->user_header = r->g.uh_size ? (const void *)(v->slot + 1) : NULL;
	msg->seq = v->seq;
	msg->timestamp_ns = v->timestamp_ns;
	msg->epoch = r->epoch;
	msg->lost = 0;
	msg->publisher = r->slot;
	msg->pad = 0;
	msg->priv_stamp = v->stamp;
	msg->priv_slot = v->slot;
}

/* Bit of position @seq in ring @r's released-ahead map. */
static inline uint64_t done_bit(const struct sub_ring *r, uint64_t seq)
{
	return 1ull << (seq & (r->g.capacity - 1) & 63);
}

static inline uint64_t *done_word(const struct sub_ring *r, uint64_t seq)
{
	return &r->done[(seq & (r->g.capacity - 1)) / 64];
}

/* take_whole() can take from ring @r at all: nothing handed out from it,
 * no pools. */
static inline int take_whole_applies(const struct sub_ring *r)
{
	return r->out == 0 && !r->pooled;
}

/*
 * The common take, in few instructions: nothing handed out from ring @r,
 * no pools, and the message at the cursor whole (its exact stamp: not a
 * lap, not being written) with a length the slot holds (so not a skip
 * marker). What try_take()'s general path does then, without looking for
 * its other cases; -EAGAIN for all of those (the general path judges).
 */
static inline int take_whole(struct shoal_sub *s, struct sub_ring *r,
			     struct shoal_msg *msg)
{
	struct shoal__bcast_view v;

	if (__builtin_expect(!take_whole_applies(r), 0) ||
	    shoal__bcast_peek_whole(&r->ring, &v))
		return -EAGAIN;
	fill_msg(r, msg, &v, shoal__bcast_payload(&r->ring.m, v.slot));
	r->out = 1;
	r->held = 1;
	s->held++;
	return 0;
}

/* Nothing complete after the @r->out messages handed out: -EAGAIN, or
 * (lossy) -EOVERFLOW with no loss counted when the publisher lapped us
 * behind a held message: the lap is reported, with its count, by the take
 * after the held ones are released. */
static int nothing_after_held(struct sub_ring *r, struct shoal_msg *msg)
{
	uint64_t seq = r->ring.cursor + r->out;
	uint64_t st = atomic_load_explicit(
		&shoal__bcast_slot_at(&r->ring.m, seq)->stamp,
		memory_order_acquire);

	if (shoal__bcast_classify(st, seq) != SHOAL__BCAST_LAPPED)
		return -EAGAIN;
	msg->lost = 0;
	return shoal__fail(-EOVERFLOW,
			   "sub: lapped behind the %u message(s) held from "
			   "%llu on; release them",
			   r->held, (unsigned long long)r->ring.cursor);
}

/* One look at ring @r's slot after those handed out: 0 (held), -EAGAIN,
 * -EOVERFLOW, -EBADMSG, -EBUSY (the oldest held message pins a whole
 * ring of positions). */
static int try_take(struct shoal_sub *s, struct sub_ring *r,
		    struct shoal_msg *msg)
{
	struct shoal__bcast_view v;
	const void *data;
	uint64_t skipped;
	int err;

	if (__builtin_expect(r->out != 0, 0)) {
		for (;;) {
			if (r->out >= r->g.capacity)
				return shoal__fail(
					-EBUSY,
					"sub: the held message %llu "
					"is a whole ring behind",
					(unsigned long long)r->ring.cursor);
			err = shoal__bcast_peek(&r->ring, r->out, &v);
			if (err != -ENOMSG)
				break;
			/* A skip marker (a publisher's aborted loan) after
			 * held messages: taken and released at once, so the
			 * cursor passes it with the released prefix
			 * (released_prefix()). Held messages mean
			 * max_held > 1, so the map is there. */
			*done_word(r, v.seq) |= done_bit(r, v.seq);
			r->ring.skipped++;
			r->out++;
		}
		if (err)
			return nothing_after_held(r, msg);
		err = payload_of(r, &v, &data);
		if (err)
			return err;
		fill_msg(r, msg, &v, data);
		r->out++;
		r->held++;
		s->held++;
		return 0;
	}
	if (take_whole(s, r, msg) == 0)
		return 0;
	skipped = r->ring.skipped;
	err = shoal__bcast_peek(&r->ring, 0, &v);
	/* The peek passed skip markers (a publisher's aborted loans): the
	 * cursor moved as a release moves it, so wake a reliable publisher
	 * waiting for that room, as released() does. */
	if (__builtin_expect(r->ring.skipped != skipped, 0) &&
	    r->g.delivery == SHOAL_DELIVERY_RELIABLE)
		(void)shoal__notify_mark_ro(&r->g.hdr->waiting, 0,
					    r->pub_eventfd);
	if (__builtin_expect(err != 0, 0)) {
		if (err == -EOVERFLOW) {
			s->lost += v.lost;
			r->lost += v.lost;
			atomic_store_explicit(&r->line->lost, r->lost,
					      memory_order_relaxed);
			msg->lost = v.lost;
			msg->publisher = r->slot;
			return shoal__fail(-EOVERFLOW,
					   "sub: lapped; %llu messages lost",
					   (unsigned long long)v.lost);
		}
		if (err == -EBADMSG)
			return shoal__fail(-EBADMSG,
					   "sub: message %llu claims %u bytes, "
					   "more than the %u a slot holds",
					   (unsigned long long)v.seq, v.len,
					   r->g.max_payload);
		return err;
	}
	err = payload_of(r, &v, &data);
	if (__builtin_expect(err != 0, 0))
		return err;
	fill_msg(r, msg, &v, data);
	r->out = 1;
	r->held = 1;
	s->held++;
	return 0;
}

/* try_take() of up to @n: how many it took now (>= 1), or its error. */
static int try_take_batch(struct shoal_sub *s, struct sub_ring *r,
			  struct shoal_msg *msgs, uint32_t n)
{
	struct shoal__bcast_view v;
	const void *data;
	uint32_t k;
	int err = try_take(s, r, &msgs[0]);

	if (err)
		return err;
	if (n > r->g.capacity - (r->out - 1))
		n = r->g.capacity - (r->out - 1);
	/* Past the first, a lap or a bad length ends the batch (-EAGAIN):
	 * the next take reports it. */
	for (k = 1; k < n && shoal__bcast_peek(&r->ring, r->out, &v) == 0 &&
		    payload_of(r, &v, &data) == 0;
	     k++) {
		fill_msg(r, &msgs[k], &v, data);
		r->out++;
	}
	r->held += k - 1;
	s->held += k - 1;
	return (int)k;
}

static inline int take_ring(struct shoal_sub *s, struct sub_ring *r,
			    struct shoal_msg *msgs, uint32_t n, int batch)
{
	return !batch ? try_take(s, r, msgs) : try_take_batch(s, r, msgs, n);
}

/*
 * Rings whose publisher is gone, once nothing is left to take from them:
 * dropped. -EAGAIN, or what a last look at a gone ring found (its last
 * complete messages are still good).
 */
static int reap_gone(struct shoal_sub *s, struct shoal_msg *msgs, uint32_t n,
		     int batch)
{
	for (uint32_t i = 0; i < s->nact;) {
		struct sub_ring *r = s->act[i];
		int err;

		if (!ring_gone(s, r, 0)) {
			i++;
			continue;
		}
		err = take_ring(s, r, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		shoal__sub_drop_ring(s, r);
	}
	return -EAGAIN;
}

/* One look at every ring, round-robin from the current one, at most
 * BURST in a row from one: what try_take() (or the batch) returns. */
static int try_rings(struct shoal_sub *s, struct shoal_msg *msgs, uint32_t n,
		     int batch)
{
	int err;

	if (s->one)
		return take_ring(s, s->one, msgs, n, batch);
	if (++s->polls >= NEWCOMER_CHECK_EVERY || s->newcomer)
		shoal__sub_look_for_newcomers(s);
	for (uint32_t k = 0; k <= s->nact && s->nact; k++) {
		if (s->burst < BURST) {
			err = take_ring(s, s->act[s->cur], msgs, n, batch);
			if (err != -EAGAIN) {
				s->burst += err > 0 ? (uint32_t)err : 1;
				return err;
			}
		}
		s->cur = (s->cur + 1) % s->nact;
		s->burst = 0;
	}
	return -EAGAIN;
}

/* Several rings: our sleeper bit in each ring's bitmap (@on), or out of
 * it, draining the eventfds. */
static void mark_all(struct shoal_sub *s, int on)
{
	for (uint32_t i = 0; i < s->nact; i++) {
		struct sub_ring *r = s->act[i];
		_Atomic uint32_t *w = &subs_bitmap(r->sh)[r->index / 32];

		if (on) {
			atomic_fetch_or_explicit(w, r->mask,
						 memory_order_relaxed);
		} else {
			uint64_t v;

			if (read(r->eventfd, &v, sizeof(v)) < 0)
				(void)0; /* empty: nobody wrote */
			atomic_fetch_and_explicit(w, ~r->mask,
						  memory_order_relaxed);
		}
	}
}

/* Several rings: announce the sleep on every ring, then re-check. 1 if
 * something is ready already (nothing stays marked), else 0. */
static int arm_all(struct shoal_sub *s)
{
	mark_all(s, 1);
	/* Full fence: orders the stores of our bits above before the
	 * re-check below; pairs with the fence each publisher makes between
	 * its publish and its load of the bitmap (shoal__bcast_publish(),
	 * wake_sleepers()). Either it sees our bit or we see its message. */
	shoal__fence_full();
	if (sub_ready(s)) {
		mark_all(s, 0);
		return 1;
	}
	return 0;
}

/*
 * Several rings: wait until one has something (or is gone, or the watch
 * speaks), up to *@deadline: spinning as the strategy says, then asleep
 * in the epoll set (every ring's eventfd and pidfd, the watch) for at most
 * a slice. 0 (look again), -EAGAIN (@timeout_ns 0), -ETIMEDOUT.
 */
static int wait_rings(struct shoal_sub *s, int64_t timeout_ns,
		      int64_t *deadline)
{
	struct pollfd pfd = { .fd = s->epfd, .events = POLLIN };
	int64_t slice = SHOAL_WAIT_SLICE_NS;
	struct timespec ts;
	uint32_t spins = s->strategy == SHOAL_WAIT_BLOCK ? 0 :
			 s->strategy == SHOAL_WAIT_ADAPTIVE ?
							   MULTI_SPIN_CHECKS :
							   UINT32_MAX;

	if (timeout_ns == 0)
		return -EAGAIN;
	if (*deadline == SHOAL__NO_DEADLINE_YET)
		*deadline = shoal__deadline(timeout_ns);
	for (uint32_t i = 0; i < spins; i++) {
		if (sub_ready(s))
			return 0;
		if (s->strategy == SHOAL_WAIT_BUSY_SPIN)
			shoal__cpu_relax();
		else
			sched_yield();
		if ((i & 63) == 63 && *deadline >= 0 &&
		    shoal__now_ns() >= *deadline)
			return shoal__fail(-ETIMEDOUT, "sub: nothing came");
		/* Spinning strategies go round the take loop now and
		 * then, which counts towards the newcomer check. */
		if (i == NEWCOMER_CHECK_EVERY)
			return 0;
	}
	if (*deadline >= 0) {
		int64_t left = *deadline - shoal__now_ns();

		if (left <= 0)
			return shoal__fail(-ETIMEDOUT, "sub: nothing came");
		if (left < slice)
			slice = left;
	}
	if (arm_all(s))
		return 0;
	s->msleeps++;
	for (uint32_t i = 0; i < s->nact; i++)
		atomic_store_explicit(&s->act[i]->line->sleeps, s->msleeps,
				      memory_order_relaxed);
	ts.tv_sec = slice / 1000000000;
	ts.tv_nsec = slice % 1000000000;
	ppoll(&pfd, 1, &ts, NULL);
	mark_all(s, 0);
	/* The poll may have ended on a pidfd or on the watch. */
	for (uint32_t i = 0; i < s->nact; i++)
		s->act[i]->ow.check_pid = 1;
	shoal__sub_read_watch(s);
	return 0;
}

/* take() and take_batch() (@batch): what try_take (or try_take_batch of
 * @n) returns, waiting up to @timeout_ns for the first message. */
static inline int take_wait(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t n, int batch, int64_t timeout_ns)
{
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (s->held >= s->max_held)
		return shoal__fail(-EBUSY,
				   "sub: %u message(s) held, max_held is %u",
				   s->held, s->max_held);
	/* One publisher and something there: the whole take. */
	if (__builtin_expect(s->one != NULL, 1)) {
		int err = take_ring(s, s->one, msgs, n, batch);

		if (err != -EAGAIN)
			return err;
	}
	for (;;) {
		int err;

		if (!s->nact) {
			if (!(s->flags & SHOAL_SUB_REATTACH))
				return shoal__fail(-EPIPE,
						   "sub: '%s': publisher gone",
						   s->name);
			if (deadline == SHOAL__NO_DEADLINE_YET)
				deadline = shoal__deadline(timeout_ns);
			err = shoal__sub_wait_publisher(s, timeout_ns,
							deadline);
			if (err)
				return err;
		}
		err = try_rings(s, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		err = reap_gone(s, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		/* The last publisher is gone and everything it sent was
		 * taken (REATTACH: the next take waits for a new one). */
		if (!s->nact)
			return shoal__fail(-EPIPE, "sub: '%s': publisher gone",
					   s->name);
		if (s->newcomer) {
			shoal__sub_look_for_newcomers(s);
			continue;
		}
		if (s->nact == 1)
			err = shoal__wait_step(&s->waiter, sub_ready, s,
					       timeout_ns, &deadline, -1,
					       "sub: nothing came");
		else
			err = wait_rings(s, timeout_ns, &deadline);
		if (err < 0)
			return err;
	}
}

int shoal_sub_take(struct shoal_sub *s, struct shoal_msg *msg,
		   int64_t timeout_ns)
{
	struct sub_ring *r = s->one;

	/* One publisher and its next message there: taken here, before
	 * take_wait() sets up anything. Busy-spinning, its slot is looked
	 * at again here, TAKE_SPINS times, so that a message is taken in a
	 * few instructions from the load that sees it land; the general
	 * wait (gone publishers, laps, deadlines) follows. Only where
	 * take_whole() can take at all: with pools or messages held it never
	 * does, and a spin would only delay the general path. */
	if (__builtin_expect(r != NULL && s->held < s->max_held, 1)) {
		if (take_whole(s, r, msg) == 0)
			return 0;
		if (s->strategy == SHOAL_WAIT_BUSY_SPIN && timeout_ns != 0 &&
		    take_whole_applies(r))
			for (uint32_t i = 0; i < TAKE_SPINS; i++) {
				shoal__cpu_relax();
				if (take_whole(s, r, msg) == 0)
					return 0;
			}
	}
	return take_wait(s, msg, 1, 0, timeout_ns);
}

int shoal_sub_take_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			 uint32_t n, int64_t timeout_ns)
{
	if (!n || !msgs)
		return shoal__fail(-EINVAL, "sub: an empty batch");
	return take_wait(s, msgs, n, 1, timeout_ns);
}

/* The ring @msg came from, if it is still there; else NULL. */
static struct sub_ring *ring_of(const struct shoal_sub *s,
				const struct shoal_msg *msg)
{
	struct sub_ring *r;

	if (!msg || msg->publisher >= SHOAL_PUB_PUBLISHERS_MAX)
		return NULL;
	r = s->rings[msg->publisher];
	return r && r->epoch == msg->epoch ? r : NULL;
}

/* @msg is held: one of the messages handed out from ring @r's cursor on
 * that nobody released yet. */
static inline int check_held(const struct sub_ring *r,
			     const struct shoal_msg *msg)
{
	if (!r || !msg || msg->seq - r->ring.cursor >= r->out ||
	    msg->priv_slot != shoal__bcast_slot_at(&r->ring.m, msg->seq) ||
	    (r->done && (*done_word(r, msg->seq) & done_bit(r, msg->seq))))
		return shoal__fail(-EINVAL, "sub: not a message held");
	return 0;
}

static inline int intact(const struct sub_ring *r, const struct shoal_msg *msg)
{
	struct shoal__bcast_view v;

	if (r->pooled && !shoal__pools_intact(&r->g.pools, &r->ring.m, msg))
		return 0;
	v.slot = (struct shoal__bcast_slot *)msg->priv_slot;
	v.stamp = msg->priv_stamp;
	return shoal__bcast_intact(&v);
}

int shoal_sub_valid(const struct shoal_sub *s, const struct shoal_msg *msg)
{
	if (check_held(ring_of(s, msg), msg))
		return 0;
	/* Reliable mode checks too: a reliable publisher never overwrites a
	 * held message, unless another subscriber (which can write our
	 * line) lied about our cursor. One load of a line already cached. */
	return intact(ring_of(s, msg), msg);
}

/* The rare ends of released(): @stale messages from @first_stale on were
 * overwritten while held (counted, -ESTALE), or a pinned ring's last held
 * message went (the ring is freed). Out of line, so that a release's
 * common case needs no stack frame. */
static __attribute__((noinline)) int released_rare(struct shoal_sub *s,
						   struct sub_ring *r,
						   uint32_t stale,
						   uint64_t first_stale)
{
	if (stale) {
		s->stale += stale;
		r->stale += stale;
		atomic_store_explicit(&r->line->stale, r->stale,
				      memory_order_relaxed);
	}
	if (r->pinned && !r->held) {
		shoal__sub_free_ring(s, r);
		if (!s->nact && !s->npinned)
			memset(&s->ref, 0, sizeof(s->ref));
		s->newcomer = 1; /* its slot may have a new publisher */
	}
	if (stale)
		return shoal__fail(-ESTALE,
				   "sub: %u message(s) from %llu on were "
				   "overwritten while held",
				   stale, (unsigned long long)first_stale);
	return 0;
}

/* @n messages of ring @r were released (@stale of them overwritten) and
 * its cursor moves over @adv positions: counters, the cursor, then wake a
 * reliable publisher waiting for room. A pinned ring whose last held
 * message went is freed. */
static inline int released(struct shoal_sub *s, struct sub_ring *r, uint32_t n,
			   uint32_t adv, uint32_t stale, uint64_t first_stale)
{
	r->held -= n;
	s->held -= n;
	s->received += n;
	r->received += n;
	atomic_store_explicit(&r->line->received, r->received,
			      memory_order_relaxed);
	if (adv) {
		r->out -= adv;
		shoal__bcast_advance(&r->ring, adv);
		/* The cursor stored above, then notify's fence and the
		 * publisher's mark (store->load); pairs with the fence in
		 * notify's arm between its mark and its re-check of the
		 * cursors (make_room()). Either it sees our cursor or we see
		 * its mark: no missed wake-up. */
		if (r->g.delivery == SHOAL_DELIVERY_RELIABLE)
			(void)shoal__notify_mark_ro(&r->g.hdr->waiting, 0,
						    r->pub_eventfd);
	}
	if (__builtin_expect(stale != 0 || (r->pinned && !r->held), 0))
		return released_rare(s, r, stale, first_stale);
	return 0;
}

/* With max_held > 1: ring @r's released prefix from the cursor on (bits
 * cleared as counted), how far the cursor may move. */
static uint32_t released_prefix(struct sub_ring *r)
{
	uint32_t n = 0;

	while (n < r->out) {
		uint64_t seq = r->ring.cursor + n, *w = done_word(r, seq);

		if (!(*w & done_bit(r, seq)))
			break;
		*w &= ~done_bit(r, seq);
		n++;
	}
	return n;
}

/* shoal_sub_release() in every case: several rings, several held,
 * pools, bad arguments. Out of line, so that the common case's few
 * instructions need no stack frame. */
static __attribute__((noinline)) int release_general(struct shoal_sub *s,
						     struct shoal_msg *msg)
{
	struct sub_ring *r = ring_of(s, msg);
	int ok;

	if (!r || !r->held || check_held(r, msg))
		return shoal__fail(-EINVAL, "sub: not a message held");
	if (!r->done && msg->seq != r->ring.cursor)
		return shoal__fail(-EINVAL, "sub: not the oldest message held "
					    "(max_held 1: oldest first)");
	/* The stamp again (after an acquire fence) before the cursor's
	 * release store lets the publisher reuse the slot. */
	ok = intact(r, msg);
	if (!r->done)
		return released(s, r, 1, 1, !ok, msg->seq);
	*done_word(r, msg->seq) |= done_bit(r, msg->seq);
	return released(s, r, 1, released_prefix(r), !ok, msg->seq);
}

int shoal_sub_release(struct shoal_sub *s, struct shoal_msg *msg)
{
	struct sub_ring *r = s->one;

	/* The common case, first: one publisher, no pools, max_held 1, and
	 * @msg the one message held, from its slot. What release_general()
	 * then does, without its other cases. */
	if (__builtin_expect(
		    r != NULL && msg != NULL && r->plain && r->out == 1 &&
			    msg->seq == r->ring.cursor &&
			    msg->priv_slot == shoal__bcast_slot_at(&r->ring.m,
								   msg->seq) &&
			    msg->publisher == r->slot && msg->epoch == r->epoch,
		    1)) {
		/* No pools: the slot's stamp is all there is to check. */
		struct shoal__bcast_view v = {
			.slot = (struct shoal__bcast_slot *)msg->priv_slot,
			.stamp = msg->priv_stamp
		};

		return released(s, r, 1, 1, !shoal__bcast_intact(&v), msg->seq);
	}
	return release_general(s, msg);
}

/* max_held 1: @msgs[0..@count) must be the oldest held, in order. */
static int check_oldest(struct sub_ring *r, const struct shoal_msg *msgs,
			uint32_t count)
{
	for (uint32_t j = 0; j < count; j++)
		if (msgs[j].seq != r->ring.cursor + j ||
		    check_held(r, &msgs[j]))
			return shoal__fail(
				-EINVAL,
				"sub: batch entry %u is not the "
				"held message %llu",
				j, (unsigned long long)(r->ring.cursor + j));
	return 0;
}

/* max_held > 1: each of @msgs[0..@count) held, none twice; marks them
 * released (and unmarks them again on failure). */
static int mark_released(struct sub_ring *r, const struct shoal_msg *msgs,
			 uint32_t count)
{
	for (uint32_t j = 0; j < count; j++) {
		if (check_held(r, &msgs[j])) {
			uint32_t bad = j;

			while (j--)
				*done_word(r, msgs[j].seq) &=
					~done_bit(r, msgs[j].seq);
			return shoal__fail(-EINVAL,
					   "sub: batch entry %u is not a "
					   "message held (or is there twice)",
					   bad);
		}
		*done_word(r, msgs[j].seq) |= done_bit(r, msgs[j].seq);
	}
	return 0;
}

int shoal_sub_release_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t count)
{
	struct sub_ring *r = msgs ? ring_of(s, &msgs[0]) : NULL;
	uint64_t first_stale = 0;
	uint32_t stale = 0;
	int err;

	if (!count || !r || count > r->held)
		return shoal__fail(
			-EINVAL, "sub: %u released, not that many held", count);
	for (uint32_t j = 1; j < count; j++)
		if (ring_of(s, &msgs[j]) != r)
			return shoal__fail(-EINVAL,
					   "sub: batch entry %u is another "
					   "publisher's: a batch releases "
					   "messages of one",
					   j);
	err = !r->done ? check_oldest(r, msgs, count) :
			 mark_released(r, msgs, count);
	if (err)
		return err;
	/* Each stamp again (after one acquire fence per look) before the
	 * cursor's release store lets the publisher reuse the slots. */
	for (uint32_t j = 0; j < count; j++) {
		if (!intact(r, &msgs[j]) && !stale++)
			first_stale = msgs[j].seq;
	}
	return released(s, r, count, !r->done ? count : released_prefix(r),
			stale, first_stale);
}

ssize_t shoal_sub_read(struct shoal_sub *s, void *buf, size_t cap,
		       void *user_header, struct shoal_msg *out,
		       int64_t timeout_ns)
{
	struct shoal_msg m;
	struct sub_ring *r;
	int err;

	memset(&m, 0, sizeof(m));
	err = shoal_sub_take(s, &m, timeout_ns);
	if (err) {
		if (out) {
			memset(out, 0, sizeof(*out));
			out->lost = m.lost;
			out->publisher = m.publisher;
		}
		return err;
	}
	r = ring_of(s, &m);
	if (m.len > cap) {
		/* Leave it for a larger buffer: it was the last handed
		 * out. */
		r->held--;
		r->out--;
		s->held--;
		return shoal__fail(-EMSGSIZE,
				   "sub: %u-byte message, %zu-byte buffer",
				   m.len, cap);
	}
	memcpy(buf, m.data, m.len);
	if (user_header && m.user_header)
		memcpy(user_header, m.user_header, m.user_header_size);
	err = shoal_sub_release(s, &m);
	m.data = NULL;
	m.user_header = NULL;
	if (err == -ESTALE) {
		/* The copy may be torn: to the caller it is a lost message,
		 * not a received one. (A pinned ring may be gone by now; the
		 * handle's totals are corrected all the same.) */
		s->stale--;
		s->received--;
		s->lost++;
		if (ring_of(s, &m) == r) {
			r->stale--;
			r->received--;
			r->lost++;
			atomic_store_explicit(&r->line->received, r->received,
					      memory_order_relaxed);
			atomic_store_explicit(&r->line->stale, r->stale,
					      memory_order_relaxed);
			atomic_store_explicit(&r->line->lost, r->lost,
					      memory_order_relaxed);
		}
		m.lost = 1;
		if (out)
			*out = m;
		return shoal__fail(-EOVERFLOW,
				   "sub: lapped while copying; 1 message lost");
	}
	if (out)
		*out = m;
	return (ssize_t)m.len;
}

int shoal_sub_fd(const struct shoal_sub *s)
{
	return s->epfd;
}

int shoal_sub_arm(struct shoal_sub *s)
{
	if (!s->nact) {
		if (!(s->flags & SHOAL_SUB_REATTACH))
			return 1; /* take() reports -EPIPE at once */
		shoal__sub_follow_registry(s);
		return shoal__sub_discover(s) == 0;
	}
	/* max_held messages held: take() says -EBUSY at once, so there is
	 * nothing to poll for (and a poll would wait for nothing). */
	if (s->newcomer || s->held >= s->max_held)
		return 1;
	for (uint32_t i = 0; i < s->nact; i++)
		if (ring_gone(s, s->act[i], 1))
			return 1;
	if (s->nact == 1)
		return shoal_waiter_arm(&s->waiter, sub_ready, s);
	return arm_all(s);
}

void shoal_sub_disarm(struct shoal_sub *s)
{
	char buf[4096];

	if (s->nact == 1)
		shoal_waiter_disarm(&s->waiter);
	else if (s->nact > 1)
		mark_all(s, 0);
	/* The poll may have ended on a publisher's pidfd. */
	for (uint32_t i = 0; i < s->nact; i++)
		s->act[i]->ow.check_pid = 1;
	if (s->nact && multi(s))
		shoal__sub_read_watch(s);
	else if (s->inotify_fd >= 0)
		while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
			;
}
