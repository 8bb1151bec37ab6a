/* SPDX-License-Identifier: MIT */
/*
 * Channel, the data path: loan/send/abort/write, take/release/read, the
 * waits, the liveness look, and arm/disarm/fd/wake/stats. The lifecycle
 * (create, open, open_fds, destroy/close, the geometry) is in
 * channel_open.c; the handle in channel_internal.h.
 *
 * Channel: one SPSC ring between a creator and one opener, found by name,
 * on the service layer. The creator's segment (mapped read-write by the
 * opener: both sides write the ring) holds:
 *
 *   object       kind    written by   meaning
 *   "channel"    BYTES   see below    header: geometry, closed, the peer
 *   "ring"       SPSC    both sides   the messages (see ring_spsc.c)
 *   "data_wait"  NOTIFY  receiver     receiver asleep, waiting for data
 *   "space_wait" NOTIFY  sender       sender asleep, waiting for a slot
 *
 * The registry entry hands out two eventfds by index: 0 wakes the
 * receiver (data), 1 the sender (space). The sender publishes, then
 * shoal_notify()s data_wait: one fence, and an eventfd write only if the
 * receiver sleeps; the receiver releases, then notifies space_wait. A busy
 * channel makes no system call.
 *
 * Liveness, both ways, -EPIPE instead of a hang:
 *  - the opener holds an OFD lock on byte 0 of the segment memfd (the
 *    service layer's line lock; the kernel drops it when the opener dies)
 *    and says it left by storing peer_left = 1 and waking the creator;
 *  - the creator withdraws (the closed word, a wake of both eventfds) and
 *    its pidfd is in the opener's epoll set, which the opener sleeps on.
 * The fast path loads one word (the other side's "left" word) and nothing
 * else; the liveness look (F_OFD_GETLK, or the pidfd) runs in the wait
 * predicate after a sleep, or every CHECK_EVERY calls that found nothing
 * to do. So a blocked creator learns of an opener's death within one of
 * notify's slices (SHOAL_WAIT_SLICE_NS), a blocked opener of the creator's
 * at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shoal/channel.h"
#include "shoal/registry.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "arch/pidfd.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "segment/fdcheck.h"
#include "segment/layout.h"
#include "service/service.h"
#include "patterns/channel_internal.h"

/* Calls that found nothing to do between two liveness looks. */
#define CHECK_EVERY 4096

/* ------------------------------------------------------------------------
 * Liveness
 */

/* The creator's look at the opener: 0 before one came or while it is
 * there, 1 once it left or died (per generation: a new opener clears it). */
int shoal__channel_opener_gone(struct shoal_channel *ch, int force)
{
	/* Acquire: pairs with the release increment in join(), so the
	 * peer_left store before it is seen. */
	uint32_t gen =
		atomic_load_explicit(&ch->hdr->peer_gen, memory_order_acquire);

	if (gen == 0)
		return 0; /* nobody came yet: wait for one */
	if (gen != ch->peer_seen) {
		ch->peer_seen = gen;
		ch->gone = 0;
	}
	if (ch->gone)
		return 1;
	/* Acquire: pairs with the release store in shoal_channel_close(),
	 * so what the opener did on the ring before is seen. */
	if (atomic_load_explicit(&ch->hdr->peer_left, memory_order_acquire))
		return ch->gone = 1;
	if (force || shoal__waiter_slept(&ch->waiter, &ch->slept_seen))
		if (!shoal__line_locked(ch->lock_fd, 0))
			return ch->gone = 1;
	return 0;
}

/* 1 if the process behind @pidfd has exited (it polls readable). */
static int pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* 1 once the other side left or died. */
static int peer_gone(struct shoal_channel *ch, int force)
{
	if (ch->creator)
		return shoal__channel_opener_gone(ch, force);
	if (ch->gone)
		return 1;
	if (shoal__owner_gone(&ch->ow, &ch->hdr->closed, ch->svc,
			      shoal__waiter_sleeps(&ch->waiter), force))
		ch->gone = 1;
	else if (ch->pidfd >= 0 &&
		 (force || shoal__waiter_slept(&ch->waiter, &ch->pid_seen)))
		ch->gone = pidfd_exited(ch->pidfd);
	return ch->gone;
}

/* Empty-handed call: look at the peer every CHECK_EVERY of them, so a
 * poller (timeout 0) also learns of a death without a system call each. */
static int idle_gone(struct shoal_channel *ch)
{
	if (++ch->idle < CHECK_EVERY)
		return peer_gone(ch, 0);
	ch->idle = 0;
	return peer_gone(ch, 1);
}

static int pipe_err(const char *who)
{
	return shoal__fail(-EPIPE, "%s: the other side left or died", who);
}

/* Wait predicates: progress, or the peer gone (then the call answers). */
static int can_send(void *arg)
{
	struct shoal_channel *ch = arg;

	return shoal_spsc_writable(&ch->prod) || peer_gone(ch, 0);
}

static int can_take(void *arg)
{
	struct shoal_channel *ch = arg;

	return shoal_spsc_readable(&ch->cons) || peer_gone(ch, 0);
}

/* ------------------------------------------------------------------------
 * The data path
 */

static int wrong_role(const char *call)
{
	return shoal__fail(-EBADF, "%s: wrong role for this handle", call);
}

/*
 * The wake-up after a message went in or out. Its failure (only under
 * injected faults) is not the call's: the message moved, and reporting an
 * error would make a caller send it twice. notify leaves the sleeper's flag
 * set, so the next call wakes it, and a blocked peer re-checks within a
 * sleep slice.
 */
static inline void woke_after(struct shoal_channel *ch)
{
	/* shoal_notify()'s full fence, between the caller's commit or
	 * release (the ring's release store of its position) and the load
	 * of the peer's sleeping flag, pairs with the peer's fence in
	 * shoal_waiter_arm() between setting that flag and re-checking the
	 * ring: it sees the change, or we see it asleep and write its
	 * eventfd. */
	(void)shoal_notify(&ch->notifier);
}

/* Acquire: pairs with the release store of the word (closed in
 * shoal__owner_withdraw / destroy, peer_left in close). */
static inline int stopped(const struct shoal_channel *ch)
{
	return atomic_load_explicit(ch->stop, memory_order_acquire) != 0;
}

/* The sender's wait for a slot: send_timeout_ns, -EPIPE if the receiver
 * goes. 0 when a slot is free. */
static int wait_room(struct shoal_channel *ch, const char *who)
{
	int64_t t = ch->send_timeout_ns;
	int err;

	for (;;) {
		if (peer_gone(ch, 0))
			return pipe_err(who);
		if (shoal_spsc_writable(&ch->prod))
			return 0;
		if (t == 0) {
			if (idle_gone(ch))
				return pipe_err(who);
			return -EAGAIN;
		}
		err = shoal_wait(&ch->waiter, can_send, ch, t);
		if (err == -ETIMEDOUT)
			return shoal__fail(-ETIMEDOUT, "%s: no room came", who);
		if (err)
			return err;
		/* Once per blocking call: look for real after the wait. */
		if (!shoal_spsc_writable(&ch->prod) && peer_gone(ch, 1))
			return pipe_err(who);
		t = t > 0 ? 0 : t; /* a positive budget is spent by one wait */
	}
}

/* A loan's state (struct ch_loan). */
enum {
	CH_OUT = 1, /* loaned, the caller writes it */
	CH_SENT,    /* sent, waiting for an earlier loan */
	CH_ABORTED, /* given back, a later loan still out */
};

int shoal_channel_loan(struct shoal_channel *ch, uint32_t size, void **ptr)
{
	struct ch_loan *l;
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_loan");
	if (ch->nloans >= ch->max_loans ||
	    ch->nloans >= shoal_spsc_capacity(&ch->prod))
		return shoal__fail(-EBUSY,
				   "channel_loan: %u loans are out, sent or "
				   "not",
				   ch->nloans);
	if (size > shoal_spsc_slot_size(&ch->prod))
		return shoal__fail(-EMSGSIZE,
				   "channel_loan: %u bytes > slot %u", size,
				   shoal_spsc_slot_size(&ch->prod));
	if (__builtin_expect(stopped(ch), 0) && peer_gone(ch, 1))
		return pipe_err("channel_loan");
	/* The next slot after those claimed (a run from the ring's head). */
	err = shoal_spsc_claim_next(&ch->prod, ptr);
	if (err == -EAGAIN) {
		err = wait_room(ch, "channel_loan");
		if (!err)
			err = shoal_spsc_claim_next(&ch->prod, ptr);
	}
	if (err)
		return err;
	l = &ch->loans[ch->nloans++];
	l->ptr = *ptr;
	l->state = CH_OUT;
	l->size = size;
	return 0;
}

/* The loan out at @ptr: its index, or -EINVAL. */
static int find_loan(struct shoal_channel *ch, void *ptr, const char *who)
{
	for (uint32_t i = 0; ptr && i < ch->nloans; i++)
		if (ch->loans[i].ptr == ptr && ch->loans[i].state == CH_OUT)
			return (int)i;
	return shoal__fail(-EINVAL, "%s: not an outstanding loan", who);
}

/*
 * Publishes the front of the claimed run that is done: sent loans, and
 * aborted ones as skip markers when a sent one follows them (an aborted
 * run before a loan still out waits: aborting that too gives them all
 * back). One commit, one wake-up.
 */
static void publish(struct shoal_channel *ch)
{
	uint32_t lens[SHOAL_CHANNEL_LOANS_MAX];
	uint32_t k = 0, sent = 0;

	while (k < ch->nloans) {
		uint32_t j;

		if (ch->loans[k].state == CH_SENT) {
			lens[k] = ch->loans[k].len;
			k++;
			sent++;
			continue;
		}
		if (ch->loans[k].state != CH_ABORTED)
			break;
		for (j = k; j < ch->nloans && ch->loans[j].state == CH_ABORTED;
		     j++)
			;
		if (j == ch->nloans || ch->loans[j].state != CH_SENT)
			break;
		for (; k < j; k++)
			lens[k] = SHOAL_SPSC_SKIP;
	}
	/* Cannot fail: k <= claimed, every length checked at send. */
	if (!k || shoal_spsc_commit_n(&ch->prod, lens, k))
		return;
	memmove(ch->loans, ch->loans + k,
		(ch->nloans - k) * sizeof(ch->loans[0]));
	ch->nloans -= k;
	ch->messages += sent;
	woke_after(ch);
}

int shoal_channel_send(struct shoal_channel *ch, void *ptr, uint32_t len)
{
	int i;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_send");
	i = find_loan(ch, ptr, "channel_send");
	if (i < 0)
		return i;
	if (len > shoal_spsc_slot_size(&ch->prod))
		return shoal__fail(-EMSGSIZE,
				   "channel_send: %u bytes in a %u-byte slot",
				   len, shoal_spsc_slot_size(&ch->prod));
	ch->loans[i].state = CH_SENT;
	ch->loans[i].len = len;
	publish(ch);
	return 0;
}

int shoal_channel_abort(struct shoal_channel *ch, void *ptr)
{
	uint32_t back = 0;
	int i;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_abort");
	i = find_loan(ch, ptr, "channel_abort");
	if (i < 0)
		return i;
	ch->loans[i].state = CH_ABORTED;
	/* The newest (and the aborted ones it ends): their slots go back. */
	while (ch->nloans && ch->loans[ch->nloans - 1].state == CH_ABORTED) {
		ch->nloans--;
		back++;
	}
	if (back)
		(void)shoal_spsc_unclaim(&ch->prod, back);
	/* One in the middle: a skip marker once a later one is sent. */
	publish(ch);
	return 0;
}

int shoal_channel_write(struct shoal_channel *ch, const void *data,
			uint32_t len)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_write");
	if (ch->nloans)
		return shoal__fail(-EBUSY, "channel_write: a loan is out");
	if (__builtin_expect(stopped(ch), 0) && peer_gone(ch, 1))
		return pipe_err("channel_write");
	/* Fast path first: a free slot needs no wait machinery. */
	err = shoal_spsc_push(&ch->prod, data, len);
	if (err == -EAGAIN) {
		err = wait_room(ch, "channel_write");
		if (!err)
			err = shoal_spsc_push(&ch->prod, data, len);
	}
	if (err)
		return err;
	ch->messages++;
	woke_after(ch);
	return 0;
}

/* The receiver's wait for a message: @timeout_ns; after the sender went,
 * what it sent is still taken, then -EPIPE. 0 when one is there. */
static int wait_data(struct shoal_channel *ch, int64_t timeout_ns,
		     const char *who)
{
	int err;

	if (shoal_spsc_readable(&ch->cons))
		return 0;
	if (timeout_ns == 0) {
		if (idle_gone(ch) && !shoal_spsc_readable(&ch->cons))
			return pipe_err(who);
		return -EAGAIN;
	}
	if (peer_gone(ch, 0) && !shoal_spsc_readable(&ch->cons))
		return pipe_err(who);
	err = shoal_wait(&ch->waiter, can_take, ch, timeout_ns);
	if (err == -ETIMEDOUT)
		return shoal__fail(-ETIMEDOUT, "%s: nothing came", who);
	if (err)
		return err;
	/* Acquire inside: readable() re-reads the head after the gone
	 * check, so a message sent just before the sender left is taken. */
	if (!shoal_spsc_readable(&ch->cons)) {
		if (peer_gone(ch, 1) && !shoal_spsc_readable(&ch->cons))
			return pipe_err(who);
		return -EAGAIN; /* cannot happen: the predicate held */
	}
	return 0;
}

int shoal_channel_take(struct shoal_channel *ch, struct shoal_msg *msg,
		       int64_t timeout_ns)
{
	struct ch_held *h;
	const void *data;
	uint32_t len;
	uint64_t pos, tail;
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_take");
	if (ch->nheld >= ch->max_held)
		return shoal__fail(-EBUSY, "channel_take: %u message(s) held",
				   ch->nheld);
	/* The next past those held (a run from the ring's tail). */
	tail = shoal_spsc_consumer_tail(&ch->cons);
	err = shoal_spsc_peek_next(&ch->cons, &data, &len, &pos);
	if (err == -EAGAIN) {
		err = wait_data(ch, timeout_ns, "channel_take");
		if (!err)
			err = shoal_spsc_peek_next(&ch->cons, &data, &len,
						   &pos);
	}
	/* Markers passed at the front moved the tail as a release does:
	 * wake a sender waiting for that room. */
	if (shoal_spsc_consumer_tail(&ch->cons) != tail)
		woke_after(ch);
	if (err)
		return err;
	h = &ch->helds[ch->nheld++];
	h->data = data;
	h->pos = pos;
	ch->peek_end = pos + 1;
	memset(msg, 0, sizeof(*msg));
	msg->data = data;
	msg->len = len;
	msg->seq = ch->taken++;
	return 0;
}

int shoal_channel_release(struct shoal_channel *ch, struct shoal_msg *msg)
{
	uint64_t end, tail = shoal_spsc_consumer_tail(&ch->cons);
	uint32_t i;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_release");
	for (i = 0; msg && i < ch->nheld && ch->helds[i].data != msg->data; i++)
		;
	if (!msg || i == ch->nheld)
		return shoal__fail(-EINVAL,
				   "channel_release: not a message held");
	ch->helds[i] = ch->helds[--ch->nheld];
	ch->messages++;
	msg->data = NULL;
	/* The tail moves over the released front of the run: up to the
	 * oldest message still held, or over the whole run when none is (a
	 * marker in it always comes before a message: the sender publishes
	 * none last). */
	end = ch->peek_end;
	for (uint32_t j = 0; j < ch->nheld; j++)
		if (ch->helds[j].pos - tail < end - tail)
			end = ch->helds[j].pos;
	if (end != tail) {
		(void)shoal_spsc_release_to(&ch->cons, end);
		woke_after(ch);
	}
	return 0;
}

ssize_t shoal_channel_read(struct shoal_channel *ch, void *buf, size_t cap,
			   int64_t timeout_ns)
{
	ssize_t n;
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_read");
	if (ch->nheld)
		return shoal__fail(-EBUSY, "channel_read: a message is held");
	n = shoal_spsc_pop(&ch->cons, buf, cap);
	if (n == -EAGAIN) {
		err = wait_data(ch, timeout_ns, "channel_read");
		if (err)
			return err;
		n = shoal_spsc_pop(&ch->cons, buf, cap);
	}
	if (n < 0)
		return n;
	ch->messages++;
	/* A slot came free: wake a sender waiting for room. */
	woke_after(ch);
	return n;
}

struct shoal_spsc_producer *shoal_channel_producer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_SEND ? &ch->prod : NULL;
}

struct shoal_spsc_consumer *shoal_channel_consumer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_RECV ? &ch->cons : NULL;
}

int shoal_channel_wake(struct shoal_channel *ch)
{
	int err = shoal_notify(&ch->notifier); /* fence: see woke_after() */

	return err < 0 ? err : 0;
}

int shoal_channel_fd(const struct shoal_channel *ch)
{
	return shoal_waiter_fd(&ch->waiter);
}

int shoal_channel_arm(struct shoal_channel *ch)
{
	int r = ch->role == SHOAL_CHANNEL_SEND ?
			shoal_waiter_arm(&ch->waiter, can_send, ch) :
			shoal_waiter_arm(&ch->waiter, can_take, ch);

	if (!r)
		return 0;
	if (ch->role == SHOAL_CHANNEL_SEND ? shoal_spsc_writable(&ch->prod) :
					     shoal_spsc_readable(&ch->cons))
		return -EAGAIN;
	return pipe_err("channel_arm");
}

void shoal_channel_disarm(struct shoal_channel *ch)
{
	shoal_waiter_disarm(&ch->waiter);
}

void shoal_channel_get_stats(const struct shoal_channel *ch,
			     struct shoal_channel_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->role = ch->role;
	if (ch->creator) {
		uint32_t gen = ch->hdr ? SHOAL__READ_ONCE(ch->hdr->peer_gen) :
					 0;

		/* As last seen: a new generation is a new opener. */
		st->peer = gen && !stopped(ch) &&
			   (gen != ch->peer_seen || !ch->gone);
	} else {
		st->peer = !ch->gone && !stopped(ch);
	}
	st->messages = ch->messages;
	st->wakeups = shoal_notifier_wakeups(&ch->notifier);
	st->sleeps = shoal_waiter_sleeps(&ch->waiter);
	if (ch->role == SHOAL_CHANNEL_SEND) {
		st->capacity = shoal_spsc_capacity(&ch->prod);
		st->slot_size = shoal_spsc_slot_size(&ch->prod);
	} else {
		/* No accessor on the consumer side yet: the fields this
		 * library set at consumer_init from the validated ring. */
		st->capacity = ch->cons.priv_mask + 1;
		st->slot_size = ch->cons.priv_slot_size;
	}
}
