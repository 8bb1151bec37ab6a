/* SPDX-License-Identifier: MIT */
/*
 * Queue: the MPMC ring (or the SPSC ring, created 1:1) in a segment found
 * by name, with participant lines, sleeper bitmaps and crash recovery.
 *
 *  - Joining: a handle takes the first line whose byte of the segment memfd
 *    it can OFD-lock, bumps the line's generation, and uses
 *    (index + 1) | generation << 10 as its owner token in the ring's claim
 *    words. Its eventfd is the line's (the creator made one per line and
 *    hands it out by index through the registry).
 *  - Waking: a handle about to sleep sets its bit in the consumers' or the
 *    producers' bitmap, fences and retries (notify.c's protocol). Whoever
 *    pops or pushes fences, loads the other side's bitmap and, if a bit is
 *    set, clears one bit and writes that line's eventfd: one sleeper per
 *    message, no herd. A woken handle always retries before sleeping
 *    again, so a message is never left with every consumer asleep.
 *  - Recovery: a waiter that sees the ring stuck at one position for
 *    STUCK_NS calls shoal_mpmc_recover() with a liveness test that reads
 *    the token's line: a generation that moved on or a lock nobody holds
 *    means the owner is gone for good. Sleeps are sliced (WAIT_SLICE_NS)
 *    so a stuck ring is noticed even when no one wakes the waiter.
 *  - The creator's death: its pidfd is in every opener's epoll set; a
 *    clean close sets `closed` and wakes every sleeper. Either way pops
 *    drain what is left, then -EPIPE.
 * Everything read from the segment is checked: geometry once at open, the
 * ring's fields by the ring code, tokens and fd numbers before use.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shoal/queue.h"
#include "shoal/ring_mpmc.h"
#include "shoal/ring_spsc.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "notify/notify_internal.h"
#include "patterns/queue_layout.h"
#include "registry/registry_internal.h"
#include "service/service.h"
#include "service/wake.h"

/* A position held this long by one claimant is worth a liveness check. */
#define STUCK_NS 1000000
/* The longest a waiter sleeps before looking at the ring again. */
#define WAIT_SLICE_NS 50000000

#include "patterns/queue_internal.h"

/*
 * Liveness of the handle that recorded @token in a claim word: gone for
 * good if its line has a new generation or nobody holds the line's lock.
 * A token that names no line is corrupt: call it dead, so the ring moves.
 */
static int token_alive(uint32_t token, void *ctx)
{
	struct shoal_queue *q = ctx;
	uint32_t slot = token & ((1u << TOKEN_INDEX_BITS) - 1);
	uint32_t gen = token >> TOKEN_INDEX_BITS;
	uint32_t idx;

	if (!slot || slot > q->max_parts)
		return 0;
	idx = slot - 1;
	/* Acquire: pairs with the acq_rel increment in join(). A generation
	 * other than the token's means the token's owner left the line (its
	 * lock was dropped, so another could claim it). */
	if ((atomic_load_explicit(&q->lines[idx].generation,
				  memory_order_acquire) &
	     TOKEN_GEN_MASK) != gen)
		return 0;
	/* Our own lock is no conflict to F_OFD_GETLK: answer for it. */
	if (idx == q->index)
		return 1;
	return shoal__line_locked(q->lock_fd, idx);
}

/* The eventfd of line @j, taken from the creator on first use. */
static int line_fd(struct shoal_queue *q, uint32_t j)
{
	int32_t owner_fd;
	int fd = -1;

	if (q->fds[j] >= 0 || !q->svc)
		return q->fds[j];
	owner_fd = SHOAL__READ_ONCE(q->fd_table[j]);
	if (shoal__peer_wake_fd(q->svc, "queue", j, owner_fd, j, &fd)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return q->fds[j] = fd;
}

static int line_fd_of(void *user_data, uint32_t j)
{
	return line_fd(user_data, j);
}

/*
 * After a push (@bitmap: consumers) or a pop (producers): fence, and if
 * someone of the other side sleeps, take one sleeper's bit and wake it.
 */
static void wake_one(struct shoal_queue *q, _Atomic uint32_t *bitmap)
{
	if (shoal__wake_one(bitmap, q->bitmap_words, q->max_parts, line_fd_of,
			    q))
		q->wakeups++;
}

/* Is the creator gone? Polls its pidfd only after a sleep, since a death
 * wakes sleepers (the pidfd is in the epoll set) and a spinner will sleep. */
static int creator_gone(struct shoal_queue *q, struct shoal_waiter *w)
{
	if (q->gone)
		return 1;
	if (!shoal__owner_gone(&q->ow, &q->hdr->closed, q->svc,
			       shoal__waiter_sleeps(w), 0))
		return 0;
	/* Tell everyone of a death: pushers that never sleep would not see
	 * the pidfd, but they read this flag. Release: pairs with the
	 * acquire load in shoal__owner_gone(). */
	if (!atomic_load_explicit(&q->hdr->closed, memory_order_relaxed))
		atomic_store_explicit(&q->hdr->closed, 1, memory_order_release);
	return q->gone = 1;
}

/* The ring sits at @pos: after STUCK_NS there, ask who holds it. */
static void check_stuck(struct shoal_queue *q, uint64_t pos)
{
	int64_t now = shoal__now_ns();
	int n;

	if (pos != q->stuck_pos || !q->stuck_since) {
		q->stuck_pos = pos;
		q->stuck_since = now;
		return;
	}
	if (now - q->stuck_since < STUCK_NS)
		return;
	n = shoal_mpmc_recover(&q->mpmc, token_alive, q);
	if (n > 0) {
		q->recovered += (uint64_t)n;
		atomic_store_explicit(&q->line->recovered, q->recovered,
				      memory_order_relaxed);
	}
	q->stuck_since = now;
}

/* One attempt of an operation, as a wait predicate sees it. */
struct attempt {
	struct shoal_queue *q;
	int (*op)(struct attempt *a);
	struct shoal_waiter *w;
	const void *data; /* write */
	uint32_t len;
	void *buf; /* read */
	size_t cap;
	void **slot;	    /* loan */
	const void **view;  /* take */
	uint32_t *view_len; /* take */
	uint64_t pos;	    /* loan, take: the MPMC position */
	ssize_t result;
};

/* Wait predicate: tries the operation; "ready" unless it found the ring
 * empty (or full). On -EAGAIN, looks for a stuck claimant or a dead
 * creator. */
static int attempt_ready(void *user)
{
	struct attempt *a = user;
	struct shoal_queue *q = a->q;
	int consumer = a->w == &q->pop_waiter;

	a->result = a->op(a);
	if (a->result != -EAGAIN)
		return 1;
	if (!q->spsc) {
		struct shoal_mpmc_stats st;

		shoal_mpmc_get_stats(&q->mpmc, &st);
		/* Signed: a finished skip may move deq_pos a moment
		 * before enq_pos. */
		if (consumer && (int64_t)(st.enqueued - st.dequeued) > 0)
			check_stuck(q, st.dequeued);
		else if (!consumer)
			/* Full at our position: the cell there still holds
			 * the message of a lap ago, perhaps in the hands of
			 * a dead consumer (the counters alone can look
			 * empty then: it had moved deq_pos on). */
			check_stuck(q, st.enqueued);
	}
	if (creator_gone(q, a->w)) {
		/* Writes stop at once; reads drain first (one more try, as
		 * the message may have landed after the first). */
		if (consumer) {
			a->result = a->op(a);
			if (a->result != -EAGAIN)
				return 1;
		}
		a->result = shoal__fail(-EPIPE, "queue: '%s' was withdrawn",
					q->name);
		return 1;
	}
	return 0;
}

/* Runs @a until it is not -EAGAIN or @timeout_ns passes. Waits in
 * slices, so that attempt_ready() looks for a stuck claimant now and then
 * even when nobody wakes us. */
static ssize_t run(struct attempt *a, int64_t timeout_ns)
{
	struct shoal_queue *q = a->q;
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	for (;;) {
		uint64_t before = shoal__waiter_sleeps(a->w);
		int err;

		if (attempt_ready(a))
			return a->result;
		err = shoal__wait_step(a->w, attempt_ready, a, timeout_ns,
				       &deadline, WAIT_SLICE_NS,
				       "queue: nothing came in time");
		if (shoal__waiter_sleeps(a->w) != before)
			atomic_fetch_add_explicit(&q->line->sleeps,
						  shoal__waiter_sleeps(a->w) -
							  before,
						  memory_order_relaxed);
		if (err < 0)
			return err;
		if (!err)
			return a->result; /* ready: the predicate's attempt */
	}
}

static int may(struct shoal_queue *q, uint32_t role)
{
	if (q->role & role)
		return 0;
	return shoal__fail(-EPERM, "queue: this handle is not a %s",
			   role == SHOAL_QUEUE_PRODUCER ? "producer" :
							  "consumer");
}

static int op_push(struct attempt *a)
{
	struct shoal_queue *q = a->q;

	return q->spsc ? shoal_spsc_push(&q->sp, a->data, a->len) :
			 shoal_mpmc_push(&q->mpmc, a->data, a->len);
}

static int op_pop(struct attempt *a)
{
	struct shoal_queue *q = a->q;

	return (int)(q->spsc ? shoal_spsc_pop(&q->sc, a->buf, a->cap) :
			       shoal_mpmc_pop(&q->mpmc, a->buf, a->cap));
}

static int op_loan(struct attempt *a)
{
	struct shoal_queue *q = a->q;

	return q->spsc ? shoal_spsc_claim(&q->sp, a->slot) :
			 shoal_mpmc_claim_pos(&q->mpmc, a->slot, &a->pos);
}

static int op_take(struct attempt *a)
{
	struct shoal_queue *q = a->q;

	return q->spsc ? shoal_spsc_peek(&q->sc, a->view, a->view_len) :
			 shoal_mpmc_peek_pos(&q->mpmc, a->view, a->view_len,
					     &a->pos);
}

static void pushed(struct shoal_queue *q, uint64_t n)
{
	q->pushed += n;
	atomic_store_explicit(&q->line->pushed, q->pushed,
			      memory_order_relaxed);
	wake_one(q, q->hdr->consumers_asleep);
}

static void popped(struct shoal_queue *q, uint64_t n)
{
	q->popped += n;
	atomic_store_explicit(&q->line->popped, q->popped,
			      memory_order_relaxed);
	wake_one(q, q->hdr->producers_asleep);
}

/* @loans: how many loans may be out already (0 for a copying write). */
static int start_push(struct shoal_queue *q, struct attempt *a, uint32_t loans)
{
	int err = may(q, SHOAL_QUEUE_PRODUCER);

	if (err)
		return err;
	if (q->nloans > loans || (loans && q->nloans == loans))
		return shoal__fail(-EBUSY, "queue: %u loan(s) outstanding",
				   q->nloans);
	if (q->gone ||
	    atomic_load_explicit(&q->hdr->closed, memory_order_relaxed))
		return shoal__fail(-EPIPE, "queue: '%s' was withdrawn",
				   q->name);
	memset(a, 0, sizeof(*a));
	a->q = q;
	a->w = &q->push_waiter;
	return 0;
}

/* @held: how many messages may be held already (0 for a copying read). */
static int start_pop(struct shoal_queue *q, struct attempt *a, uint32_t held)
{
	int err = may(q, SHOAL_QUEUE_CONSUMER);

	if (err)
		return err;
	if (q->nheld > held || (held && q->nheld == held))
		return shoal__fail(-EBUSY, "queue: %u message(s) held",
				   q->nheld);
	memset(a, 0, sizeof(*a));
	a->q = q;
	a->w = &q->pop_waiter;
	return 0;
}

/* Waits for room as options.send_timeout_ns says: running out of it is
 * -EAGAIN, as for a full pub/sub ring or a full rpc response ring. */
static int run_for_room(struct attempt *a)
{
	struct shoal_queue *q = a->q;
	int err = (int)run(a, q->send_timeout_ns);

	if (err == -ETIMEDOUT)
		return shoal__fail(-EAGAIN,
				   "queue: '%s' stayed full for %lld ns "
				   "(send_timeout_ns)",
				   q->name, (long long)q->send_timeout_ns);
	return err;
}

static int too_big(struct shoal_queue *q, uint32_t len)
{
	return shoal__fail(-EMSGSIZE,
			   "queue: %u-byte message, the queue takes up to %u",
			   len, q->max_message);
}

int shoal_queue_write(struct shoal_queue *q, const void *data, uint32_t len)
{
	struct attempt a;
	int err = start_push(q, &a, 0);

	if (err)
		return err;
	if (len > q->max_message)
		return too_big(q, len);
	a.op = op_push;
	a.data = data;
	a.len = len;
	err = run_for_room(&a);
	if (!err)
		pushed(q, 1);
	return err;
}

ssize_t shoal_queue_read(struct shoal_queue *q, void *buf, size_t cap,
			 int64_t timeout_ns)
{
	struct attempt a;
	ssize_t n = start_pop(q, &a, 0);

	if (n)
		return n;
	a.op = op_pop;
	a.buf = buf;
	a.cap = cap;
	n = run(&a, timeout_ns);
	if (n >= 0)
		popped(q, 1);
	return n;
}

int shoal_queue_write_batch(struct shoal_queue *q,
			    const struct shoal_queue_msg *msgs, uint32_t n)
{
	struct attempt a;
	uint32_t done = 0;
	int err = start_push(q, &a, 0);

	if (err)
		return err;
	if (!n)
		return shoal__fail(-EINVAL, "queue: empty batch");
	a.op = op_push;
	for (; done < n; done++) {
		if (msgs[done].len > q->max_message) {
			err = too_big(q, msgs[done].len);
			break;
		}
		a.data = msgs[done].data;
		a.len = msgs[done].len;
		err = done ? op_push(&a) : run_for_room(&a);
		if (err)
			break;
	}
	if (!done)
		return err;
	pushed(q, done);
	return (int)done;
}

int shoal_queue_read_batch(struct shoal_queue *q, struct shoal_queue_msg *msgs,
			   uint32_t n, int64_t timeout_ns)
{
	struct attempt a;
	uint32_t done = 0;
	ssize_t got = start_pop(q, &a, 0);

	if (got)
		return (int)got;
	if (!n)
		return shoal__fail(-EINVAL, "queue: empty batch");
	a.op = op_pop;
	for (; done < n; done++) {
		a.buf = msgs[done].data;
		a.cap = msgs[done].cap;
		got = done ? op_pop(&a) : run(&a, timeout_ns);
		if (got < 0)
			break;
		msgs[done].len = (uint32_t)got;
	}
	if (!done)
		return (int)got;
	popped(q, done);
	return (int)done;
}

int shoal_queue_loan(struct shoal_queue *q, uint32_t size, void **ptr)
{
	struct attempt a;
	struct queue_loan *l;
	void *slot = NULL;
	int err = start_push(q, &a, q->max_loans);

	if (err)
		return err;
	if (!ptr)
		return shoal__fail(-EINVAL, "queue_loan: NULL ptr");
	if (size > q->max_message)
		return too_big(q, size);
	a.op = op_loan;
	a.slot = &slot;
	err = run_for_room(&a);
	if (err)
		return err;
	l = &q->loans[q->nloans++];
	l->ptr = slot;
	l->pos = a.pos;
	l->size = size;
	*ptr = slot;
	return 0;
}

/* The loan out at @ptr: its index in q->loans, or -EINVAL. */
static int find_loan(struct shoal_queue *q, void *ptr, const char *verb)
{
	for (uint32_t i = 0; ptr && i < q->nloans; i++)
		if (q->loans[i].ptr == ptr)
			return (int)i;
	return shoal__fail(-EINVAL, "queue_%s: not an outstanding loan", verb);
}

static void drop_loan(struct shoal_queue *q, int i)
{
	q->loans[i] = q->loans[--q->nloans];
}

int shoal_queue_send(struct shoal_queue *q, void *ptr, uint32_t len)
{
	int i = find_loan(q, ptr, "send"), err;

	if (i < 0)
		return i;
	if (len > q->loans[i].size)
		return shoal__fail(-EINVAL,
				   "queue_send: %u bytes sent, %u loaned", len,
				   q->loans[i].size);
	err = q->spsc ? shoal_spsc_commit(&q->sp, len) :
			shoal_mpmc_commit_pos(&q->mpmc, q->loans[i].pos, len);
	if (err)
		return err;
	drop_loan(q, i);
	pushed(q, 1);
	return 0;
}

int shoal_queue_abort(struct shoal_queue *q, void *ptr)
{
	int i = find_loan(q, ptr, "abort");

	if (i < 0)
		return i;
	if (q->spsc)
		shoal_spsc_abort(&q->sp);
	else
		(void)shoal_mpmc_abort_pos(&q->mpmc, q->loans[i].pos);
	drop_loan(q, i);
	/* A consumer may be waiting at the aborted position. */
	if (!q->spsc)
		wake_one(q, q->hdr->consumers_asleep);
	return 0;
}

int shoal_queue_take(struct shoal_queue *q, struct shoal_msg *msg,
		     int64_t timeout_ns)
{
	struct attempt a;
	struct queue_held *h;
	const void *data = NULL;
	uint32_t len = 0;
	int err = start_pop(q, &a, q->max_held);

	if (err)
		return err;
	if (!msg)
		return shoal__fail(-EINVAL, "queue_take: NULL msg");
	a.op = op_take;
	a.view = &data;
	a.view_len = &len;
	err = (int)run(&a, timeout_ns);
	if (err)
		return err;
	h = &q->helds[q->nheld++];
	h->data = data;
	h->pos = a.pos;
	memset(msg, 0, sizeof(*msg));
	msg->data = data;
	msg->len = len;
	return 0;
}

int shoal_queue_release(struct shoal_queue *q, struct shoal_msg *msg)
{
	uint32_t i;

	for (i = 0; msg && i < q->nheld && q->helds[i].data != msg->data; i++)
		;
	if (!msg || i == q->nheld)
		return shoal__fail(-EINVAL,
				   "queue_release: not a message held");
	if (q->spsc)
		shoal_spsc_release(&q->sc);
	else
		(void)shoal_mpmc_release_pos(&q->mpmc, q->helds[i].pos);
	q->helds[i] = q->helds[--q->nheld];
	popped(q, 1);
	return 0;
}

int shoal_queue_fd(const struct shoal_queue *q)
{
	return q->epfd;
}

static int readable(void *user)
{
	struct shoal_queue *q = user;

	return (q->spsc ? shoal_spsc_readable(&q->sc) :
			  shoal_mpmc_readable(&q->mpmc)) ||
	       atomic_load_explicit(&q->hdr->closed, memory_order_relaxed);
}

static int writable(void *user)
{
	struct shoal_queue *q = user;

	return (q->spsc ? shoal_spsc_writable(&q->sp) :
			  shoal_mpmc_writable(&q->mpmc)) ||
	       atomic_load_explicit(&q->hdr->closed, memory_order_relaxed);
}

int shoal_queue_arm(struct shoal_queue *q, uint32_t what)
{
	if (what != SHOAL_QUEUE_PRODUCER && what != SHOAL_QUEUE_CONSUMER)
		return shoal__fail(-EINVAL,
				   "queue_arm: wait for PRODUCER (room) or "
				   "CONSUMER (a message)");
	if (may(q, what))
		return -EPERM;
	if (what == SHOAL_QUEUE_CONSUMER)
		return shoal_waiter_arm(&q->pop_waiter, readable, q);
	return shoal_waiter_arm(&q->push_waiter, writable, q);
}

void shoal_queue_disarm(struct shoal_queue *q)
{
	/* Both: only one was armed, and clearing a clear bit is harmless. */
	shoal_waiter_disarm(&q->pop_waiter);
	shoal_waiter_disarm(&q->push_waiter);
}
