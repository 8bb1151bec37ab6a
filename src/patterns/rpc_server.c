/* SPDX-License-Identifier: MIT */
/*
 * Request/response, the server side, its data path: taking requests round
 * robin from the clients' rings, responding into the asking client's ring,
 * the waits, and freeing the lines of clients that died. Creation,
 * destroy and the inspect calls are in rpc_server_open.c; the handle in
 * rpc_server_internal.h.
 *
 * The protocol, in brief (docs/rpc.md has it in full):
 *  - Each client line has two SPSC rings (ring_spsc.c): requests, which the
 *    client produces and the server consumes, and responses, the other way.
 *    A response can only land in the ring of the line it is sent to, so
 *    routing needs no search; the correlation id in each message head says
 *    which request it answers.
 *  - After a send, a client sets its line's bit in the ready bitmap
 *    (fetch_or, release) and takes the server's wait word (shoal_notify):
 *    the server, when awake, exchanges the bitmap words to 0 (acquire) into
 *    a local pending set, so it looks at the lines that have work, not at
 *    all of them. When asleep it is woken through its eventfd (notify.c's
 *    protocol: sleeping flag, fence, re-check).
 *  - Responses wake a sleeping client through its line's eventfd, with the
 *    line's own wait word; a busy client costs the server no system call.
 *  - Liveness: a client holds an OFD lock on byte <line> of the client
 *    memfd. The server opens a pidfd of the pid the client wrote, keeps it
 *    in its epoll set, and when it fires (or when a client asks for a
 *    sweep through the reap word, or once a second while idle) checks the
 *    lock with F_OFD_GETLK. A line whose lock is gone is dropped: its
 *    unread requests are counted, its rings formatted afresh, and only then
 *    is it marked FREE for the next client.
 * Everything in the client segment is untrusted: ring geometry is checked
 * against the server's own copy, positions by the ring layer, lengths
 * before use, bitmap bits past the limit ignored, and a line whose ring is
 * impossible is no longer served (a hostile client only hurts itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "shoal/rpc.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "arch/pidfd.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "service/service.h"
#include "patterns/rpc_internal.h"
#include "patterns/rpc_server_internal.h"

/* Longest the server sleeps before it sweeps the lines anyway (a client
 * whose pidfd could not be opened, a missed reap request). */
#define SWEEP_SLICE_NS (1000 * 1000 * 1000LL)
/* Takes between non-blocking looks at the epoll set. */
#define EVENT_CHECK_EVERY 4096

static void bit_set(uint32_t *words, uint32_t i)
{
	words[i / 32] |= 1u << (i % 32);
}

static void bit_clear(uint32_t *words, uint32_t i)
{
	words[i / 32] &= ~(1u << (i % 32));
}

/*
 * Frees line @i after its client died or left: counts its unread
 * requests, formats its rings afresh, and only then marks it FREE. If one
 * of its requests is held, waits for the release.
 */
static void drop_line(struct shoal_rpc_server *s, uint32_t i)
{
	struct line_state *ls = &s->ls[i];
	struct shoal__spsc_ring *r = (void *)shoal__rpc_server_line_rings(s, i);
	uint64_t unread;

	if (ls->held) {
		ls->dead = 1;
		return;
	}
	/* The client's head is untrusted: a count only, clamped. Our own
	 * consumer position is the one the ring handle keeps. */
	unread = atomic_load_explicit(&r->head, memory_order_relaxed) -
		 ls->req.priv_tail;
	if (unread > s->g.req_capacity)
		unread = 0;
	atomic_fetch_add_explicit(&s->hdr->dropped, unread,
				  memory_order_relaxed);
	if (ls->pidfd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, ls->pidfd, NULL);
		close(ls->pidfd);
		ls->pidfd = -1;
	}
	if (s->loaned && s->loan_line == i)
		s->loan_incarnation = 0; /* the loan's send fails: -EPIPE */
	if (ls->active) {
		s->nactive--;
		atomic_fetch_add_explicit(&s->hdr->lost, 1,
					  memory_order_relaxed);
	}
	ls->active = 0;
	ls->dead = 0;
	ls->incarnation = 0;
	bit_clear(s->pending, i);
	shoal__rpc_server_format_line(s, i);
	/* Release: the formatting above is complete before a new client,
	 * whose acquire load sees FREE, attaches to the rings. */
	atomic_store_explicit(&s->lines[i].state, SHOAL__RPC_LINE_FREE,
			      memory_order_release);
}

/* Starts serving line @i if a live client claimed it. 1 if active. */
static int try_activate(struct shoal_rpc_server *s, uint32_t i)
{
	struct line_state *ls = &s->ls[i];
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 + i };
	int32_t pid;

	/* Acquire: pairs with the client's release store of ACTIVE after
	 * it wrote pid (rpc_client.c), so the pid read below is its. */
	if (atomic_load_explicit(&s->lines[i].state, memory_order_acquire) !=
	    SHOAL__RPC_LINE_ACTIVE)
		return 0;
	pid = SHOAL__READ_ONCE(s->lines[i].pid);
	ls->active = 1;
	/* Never 0: 0 marks a dropped line and a loan that died with it. */
	if (++s->incarnations == 0)
		++s->incarnations;
	ls->incarnation = s->incarnations;
	s->nactive++;
	atomic_fetch_add_explicit(&s->hdr->joined, 1, memory_order_relaxed);
	/* A wrong pid (a hostile client) only costs that client prompt
	 * notice: the sweeps still check its lock. Open the pidfd before
	 * checking the lock, so a client that dies in between is caught by
	 * one or the other. */
	if (pid > 0) {
		ls->pidfd = shoal__pidfd_open(pid);
		if (ls->pidfd >= 0 &&
		    epoll_ctl(s->epfd, EPOLL_CTL_ADD, ls->pidfd, &ev) < 0) {
			close(ls->pidfd);
			ls->pidfd = -1;
		}
	}
	if (!shoal__line_locked(s->clients_fd, i)) {
		drop_line(s, i);
		return 0;
	}
	return 1;
}

/* Checks every line's lock: drops the dead, starts the newly joined. */
static void sweep(struct shoal_rpc_server *s)
{
	for (uint32_t i = 0; i < s->g.max_clients; i++) {
		struct line_state *ls = &s->ls[i];

		if (ls->active) {
			if (!ls->dead && !shoal__line_locked(s->clients_fd, i))
				drop_line(s, i);
		} else if (atomic_load_explicit(&s->lines[i].state,
						memory_order_relaxed) ==
			   SHOAL__RPC_LINE_ACTIVE) {
			try_activate(s, i);
		}
	}
}

/* Reads what the epoll set has (client pidfds that fired). */
static void process_events(struct shoal_rpc_server *s)
{
	struct epoll_event evs[16];
	int n;

	s->check_events = 0;
	s->events_sleeps = shoal__waiter_sleeps(&s->waiter);
	if (atomic_load_explicit(&s->lh->reap, memory_order_relaxed) &&
	    atomic_exchange_explicit(&s->lh->reap, 0, memory_order_relaxed))
		sweep(s);
	n = epoll_wait(s->epfd, evs, 16, 0);
	for (int k = 0; k < n; k++) {
		uint64_t tag = evs[k].data.u64;
		struct line_state *ls;
		uint32_t i;

		if (tag == 0 || tag > s->g.max_clients)
			continue; /* our eventfd: the waiter drains it */
		i = (uint32_t)(tag - 1);
		ls = &s->ls[i];
		if (ls->pidfd < 0)
			continue;
		if (ls->active && !ls->dead &&
		    !shoal__line_locked(s->clients_fd, i)) {
			drop_line(s, i);
			continue;
		}
		/* That process is gone but the lock is still held (a child
		 * shares its file description, or the pid was wrong): stop
		 * watching it, the sweeps will see the lock go. */
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, ls->pidfd, NULL);
		close(ls->pidfd);
		ls->pidfd = -1;
	}
}

/* Moves the shared ready bits into the local pending set. */
static void collect(struct shoal_rpc_server *s)
{
	for (uint32_t w = 0; w < s->words; w++) {
		uint32_t bits;

		if (!atomic_load_explicit(&s->bitmap[w], memory_order_relaxed))
			continue;
		/* Acquire: pairs with the client's release fetch_or after its
		 * commit, so the peek below sees that request. */
		bits = atomic_exchange_explicit(&s->bitmap[w], 0,
						memory_order_acquire);
		if (w == s->words - 1 && s->g.max_clients % 32)
			bits &= (1u << (s->g.max_clients % 32)) - 1;
		s->pending[w] |= bits;
	}
}

/* The first line at or after @from (wrapping) in pending and not held. */
static int next_line(const struct shoal_rpc_server *s, uint32_t from)
{
	for (uint32_t k = 0; k <= s->words; k++) {
		uint32_t w = (from / 32 + k) % s->words;
		uint32_t bits = s->pending[w] & ~s->held[w];

		if (k == 0)
			bits &= ~0u << (from % 32);
		else if (k == s->words)
			bits &= (1u << (from % 32)) - 1;
		if (bits)
			return (int)(w * 32 + (uint32_t)__builtin_ctz(bits));
	}
	return -1;
}

/* One pass over the lines with work. 0 (request held) or -EAGAIN. */
static int next_request(struct shoal_rpc_server *s, struct shoal_request *req)
{
	collect(s);
	for (;;) {
		const struct shoal__rpc_msg *m;
		struct line_state *ls;
		const void *data;
		uint32_t len;
		int i = next_line(s, s->rr), r;

		if (i < 0)
			return -EAGAIN;
		ls = &s->ls[i];
		if ((!ls->active && !try_activate(s, (uint32_t)i)) ||
		    ls->broken || ls->dead) {
			bit_clear(s->pending, (uint32_t)i);
			continue;
		}
		r = shoal_spsc_peek(&ls->req, &data, &len);
		if (r == -EAGAIN) {
			bit_clear(s->pending, (uint32_t)i);
			continue;
		}
		if (r == 0 && len < SHOAL__RPC_MSG_HEADER) {
			shoal_spsc_release(&ls->req);
			r = -EBADMSG;
		}
		if (r) {
			/* An impossible request: skipped by the ring (or
			 * above); the client hurt only itself. Its later
			 * sends set its bit again. */
			atomic_fetch_add_explicit(&s->hdr->malformed, 1,
						  memory_order_relaxed);
			bit_clear(s->pending, (uint32_t)i);
			continue;
		}
		m = data;
		req->data = m + 1;
		req->len = len - SHOAL__RPC_MSG_HEADER;
		req->client = (uint32_t)i;
		/* The id is copied back verbatim: any value is fine. */
		req->id = SHOAL__READ_ONCE(m->id);
		req->pid = SHOAL__READ_ONCE(s->lines[i].pid);
		req->priv_incarnation = ls->incarnation;
		req->priv_held = 1;
		ls->held = 1;
		bit_set(s->held, (uint32_t)i);
		s->rr = (uint32_t)i + 1 < s->g.max_clients ? (uint32_t)i + 1 :
							     0;
		atomic_fetch_add_explicit(&s->hdr->requests, 1,
					  memory_order_relaxed);
		return 0;
	}
}

static int need_events(struct shoal_rpc_server *s)
{
	return s->check_events ||
	       shoal__waiter_sleeps(&s->waiter) != s->events_sleeps ||
	       atomic_load_explicit(&s->lh->reap, memory_order_relaxed);
}

static int server_ready(void *arg)
{
	struct shoal_rpc_server *s = arg;

	for (uint32_t w = 0; w < s->words; w++)
		if ((s->pending[w] & ~s->held[w]) ||
		    atomic_load_explicit(&s->bitmap[w], memory_order_relaxed))
			return 1;
	return need_events(s);
}

int shoal_rpc_server_take(struct shoal_rpc_server *s, struct shoal_request *req,
			  int64_t timeout_ns)
{
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (!req)
		return shoal__fail(-EINVAL, "server_take: NULL request");
	/* A server kept busy by some clients still looks, now and then, for
	 * the deaths of others. */
	if (++s->calls % EVENT_CHECK_EVERY == 0)
		s->check_events = 1;
	for (;;) {
		int err;

		if (s->check_events ||
		    atomic_load_explicit(&s->lh->reap, memory_order_relaxed))
			process_events(s);
		err = next_request(s, req);
		if (err != -EAGAIN) {
			/*
			 * A request explains the last wake-up: skip the
			 * epoll look it would cost (a system call per round
			 * trip). A client's pidfd that fired too stays
			 * readable, so the next sleep ends at once with
			 * nothing to take, and that wake-up is looked into.
			 */
			s->events_sleeps = shoal__waiter_sleeps(&s->waiter);
			return err;
		}
		if (shoal__waiter_slept(&s->waiter, &s->events_sleeps)) {
			process_events(s);
			continue;
		}
		/* Idle: every SWEEP_SLICE_NS look at every line, by the clock.
		 * Not by "a wait step timed out": the waiter wakes every
		 * notify slice and the events it brings end the step as
		 * ready, so a slice-long idle step never came and a client
		 * whose death no pidfd reports was never dropped. */
		if (shoal__now_ns() - s->swept_ns >= SWEEP_SLICE_NS) {
			sweep(s);
			s->swept_ns = shoal__now_ns();
		}
		err = shoal__wait_step(&s->waiter, server_ready, s, timeout_ns,
				       &deadline, SWEEP_SLICE_NS,
				       "server: no request came");
		if (err < 0)
			return err;
	}
}

static struct line_state *held_line(struct shoal_rpc_server *s,
				    const struct shoal_request *req)
{
	struct line_state *ls;

	if (!req || !req->priv_held || req->client >= s->g.max_clients)
		return NULL;
	ls = &s->ls[req->client];
	if (!ls->held || ls->incarnation != req->priv_incarnation)
		return NULL;
	return ls;
}

int shoal_rpc_server_release(struct shoal_rpc_server *s,
			     struct shoal_request *req)
{
	struct line_state *ls = held_line(s, req);

	if (!ls)
		return shoal__fail(-EINVAL, "server: not a held request");
	shoal_spsc_release(&ls->req);
	ls->held = 0;
	bit_clear(s->held, req->client);
	req->priv_held = 0;
	req->data = NULL;
	if (ls->dead)
		drop_line(s, req->client);
	return 0;
}

/* What wait_room's predicate works on. */
struct room {
	struct shoal_rpc_server *s;
	uint32_t i;
	void **slot;
	int result;	    /* of the last claim, or -EPIPE */
	uint64_t lock_seen; /* room_waiter sleeps at the last lock look */
};

/* Wait predicate: ready once a claim in line @i's response ring does not
 * find it full, or once the client is gone. Looks at the client's lock
 * (a system call) only after a sleep: its death does not write our
 * eventfd, but each sleep lasts at most a notify slice. */
static int room_ready(void *arg)
{
	struct room *r = arg;

	r->result = shoal_spsc_claim(&r->s->ls[r->i].resp, r->slot);
	if (r->result != -EAGAIN)
		return 1;
	if (shoal__waiter_slept(&r->s->room_waiter, &r->lock_seen) &&
	    !shoal__line_locked(r->s->clients_fd, r->i)) {
		r->result = -EPIPE;
		return 1;
	}
	return 0;
}

/*
 * Waits for room in line @i's response ring: 0, -EPIPE, -EAGAIN, -EBADMSG.
 * The sleep protocol of notify.c on the line's room_wait mark: we set it,
 * fence and claim again before we sleep in our eventfd; the client, after
 * it releases a response, fences and wakes us if the mark is set
 * (shoal_rpc_client_release). So the wait ends when the client makes room,
 * however long it takes within send_timeout_ns, and costs a busy
 * client nothing but that fence. Only our eventfd is polled, not the
 * epoll set: a pidfd of another client that died would keep the set
 * readable and turn the wait into a spin.
 */
static int wait_room(struct shoal_rpc_server *s, uint32_t i, void **slot)
{
	struct room r = { s, i, slot, -EAGAIN, 0 };
	int err;

	/* A full ring is the one moment a dead client costs us: look at
	 * its lock. */
	if (!shoal__line_locked(s->clients_fd, i)) {
		drop_line(s, i);
		return shoal__fail(-EPIPE, "server: client %u is gone", i);
	}
	shoal__waiter_setup(&s->room_waiter, &s->lines[i].room_wait, 0, NULL,
			    s->eventfd, s->eventfd, s->strategy);
	err = shoal_wait(&s->room_waiter, room_ready, &r, s->send_timeout_ns);
	if (err == -ETIMEDOUT) {
		atomic_fetch_add_explicit(&s->hdr->full, 1,
					  memory_order_relaxed);
		return shoal__fail(-EAGAIN,
				   "server: client %u does not take its "
				   "responses",
				   i);
	}
	if (err)
		return err;
	if (r.result == -EPIPE) {
		drop_line(s, i);
		return shoal__fail(-EPIPE, "server: client %u is gone", i);
	}
	return r.result;
}

int shoal_rpc_server_loan(struct shoal_rpc_server *s,
			  const struct shoal_request *req, uint32_t size,
			  void **ptr)
{
	struct line_state *ls;
	struct shoal__rpc_msg *m;
	void *slot;
	int r;

	if (!req || !ptr || req->client >= s->g.max_clients)
		return shoal__fail(-EINVAL, "server: bad request or pointer");
	if (s->loaned)
		return shoal__fail(-EBUSY, "server: a loan is already out");
	if (size > s->g.max_response)
		return shoal__fail(-EMSGSIZE,
				   "server: %u bytes exceed max_response %u",
				   size, s->g.max_response);
	ls = &s->ls[req->client];
	if (!ls->active || ls->dead || ls->incarnation != req->priv_incarnation)
		return shoal__fail(-EPIPE, "server: client %u is gone",
				   req->client);
	if (ls->broken)
		return shoal__fail(-EBADMSG,
				   "server: client %u corrupted its rings",
				   req->client);
	r = shoal_spsc_claim(&ls->resp, &slot);
	if (r == -EAGAIN && s->send_timeout_ns != 0)
		r = wait_room(s, req->client, &slot);
	if (r == -EAGAIN && s->send_timeout_ns == 0)
		atomic_fetch_add_explicit(&s->hdr->full, 1,
					  memory_order_relaxed);
	if (r == -EBADMSG)
		ls->broken = 1;
	if (r)
		return r;
	m = slot;
	m->id = req->id;
	m->flags = 0;
	m->pad = 0;
	s->loaned = 1;
	s->loan_line = req->client;
	s->loan_incarnation = ls->incarnation;
	s->loan_size = size;
	s->loan_msg = m;
	*ptr = m + 1;
	return 0;
}

static int check_loan(struct shoal_rpc_server *s, void *ptr)
{
	if (!s->loaned || ptr != (void *)(s->loan_msg + 1))
		return shoal__fail(-EINVAL, "server: not the outstanding loan");
	return 0;
}

int shoal_rpc_server_send(struct shoal_rpc_server *s, void *ptr, uint32_t len,
			  uint32_t flags)
{
	struct line_state *ls;
	int err = check_loan(s, ptr);

	if (err)
		return err;
	if (len > s->loan_size)
		return shoal__fail(-EINVAL, "server: %u bytes sent, %u loaned",
				   len, s->loan_size);
	if (flags & ~(uint32_t)(SHOAL_RPC_MORE | SHOAL_RPC_ERROR))
		return shoal__fail(-EINVAL, "server: unknown flags 0x%x",
				   flags);
	s->loaned = 0;
	ls = &s->ls[s->loan_line];
	if (!s->loan_incarnation || ls->incarnation != s->loan_incarnation) {
		shoal_spsc_abort(&ls->resp);
		return shoal__fail(-EPIPE, "server: client %u is gone",
				   s->loan_line);
	}
	s->loan_msg->flags = flags;
	shoal_spsc_commit(&ls->resp, len + SHOAL__RPC_MSG_HEADER);
	atomic_fetch_add_explicit(&s->hdr->responses, 1, memory_order_relaxed);
	/* Full fence, then the client's sleeping flag: pairs with the
	 * client's fence between setting it and re-checking its ring. */
	if (shoal_notify(&ls->notifier) == 1)
		atomic_fetch_add_explicit(&s->hdr->wakeups, 1,
					  memory_order_relaxed);
	return 0;
}

int shoal_rpc_server_abort(struct shoal_rpc_server *s, void *ptr)
{
	int err = check_loan(s, ptr);

	if (err)
		return err;
	shoal_spsc_abort(&s->ls[s->loan_line].resp);
	s->loaned = 0;
	return 0;
}

int shoal_rpc_server_write(struct shoal_rpc_server *s,
			   const struct shoal_request *req, const void *data,
			   uint32_t len, uint32_t flags)
{
	void *ptr;
	int err;

	if (flags & ~(uint32_t)(SHOAL_RPC_MORE | SHOAL_RPC_ERROR))
		return shoal__fail(-EINVAL, "server: unknown flags 0x%x",
				   flags);
	err = shoal_rpc_server_loan(s, req, len, &ptr);
	if (err)
		return err;
	if (len)
		memcpy(ptr, data, len);
	return shoal_rpc_server_send(s, ptr, len, flags);
}

int shoal_rpc_server_fd(const struct shoal_rpc_server *s)
{
	return s->epfd;
}

int shoal_rpc_server_arm(struct shoal_rpc_server *s)
{
	/* Non-blocking: read what the epoll set has now, so the arm below
	 * waits for new things only. */
	if (need_events(s))
		process_events(s);
	return shoal_waiter_arm(&s->waiter, server_ready, s);
}

void shoal_rpc_server_disarm(struct shoal_rpc_server *s)
{
	shoal_waiter_disarm(&s->waiter);
	/* The poll may have ended on a client's pidfd. */
	s->check_events = 1;
}

uint32_t shoal_rpc_server_clients(struct shoal_rpc_server *s)
{
	sweep(s);
	return s->nactive;
}
