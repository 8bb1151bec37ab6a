/* SPDX-License-Identifier: MIT */
/*
 * Request/response, the client side: claiming a line (an OFD lock, as a
 * pub/sub subscriber does), sending requests into its request ring, taking
 * responses from its response ring, and noticing the server's death.
 * docs/rpc.md describes the protocol; rpc_server.c has the summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "shoal/rpc.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "patterns/rpc_internal.h"
#include "service/service.h"

/* Readiness checks or empty takes between looks at the server's pidfd. */
#define PID_CHECK_EVERY 4096
/* How long open waits for the server to free lines of dead clients. */
#define CLAIM_WAIT_NS (500 * 1000 * 1000LL)
#define CLAIM_NAP_NS (1000 * 1000)

struct shoal_rpc_client {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal_registry *reg;
	int own_reg;
	struct shoal__type type;
	struct shoal_service *svc;
	struct rpc_geometry g;
	struct rpc_clients_view v;
	struct shoal__rpc_line *line;
	uint32_t index;
	uint32_t mask;
	int lock_fd;	    /* our own open file description: holds the line */
	int eventfd;	    /* our line's wake-up */
	int server_eventfd; /* the server's wake-up (owned by svc) */
	int pidfd;	    /* the server's (owned by svc) */
	int epfd;	    /* eventfd + pidfd: shoal_rpc_client_fd() */
	struct shoal_spsc_producer req;
	struct shoal_spsc_consumer resp;
	struct shoal_notifier notifier; /* wakes the server */
	struct shoal_waiter waiter;
	enum shoal_wait_strategy strategy; /* for the waiter, once joined */
	uint64_t next_id;
	int loaned;
	uint32_t loan_size;
	struct shoal__rpc_msg *loan_msg;
	int held;
	struct shoal__owner_watch ow; /* the server died or withdrew */
	uint64_t sent, received, discarded, wakeups;
};

void shoal_rpc_client_options_init(struct shoal_rpc_client_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
}

/*
 * Claims a free line: one whose byte we can OFD-lock and that the server
 * marked FREE. A line locked by nobody but not FREE belonged to a client
 * that died before the server noticed: ask the server to sweep, and wait a
 * little if nothing else is free. Returns the index, -EBUSY, or -errno.
 */
static int claim_line(struct shoal_rpc_client *c)
{
	int64_t deadline = shoal__deadline(CLAIM_WAIT_NS);
	uint32_t max = c->g.max_clients;

	c->lock_fd =
		shoal__line_lock_open(shoal_segment_fd(c->v.seg), "client");
	if (c->lock_fd < 0)
		return c->lock_fd;
	for (;;) {
		int stale = 0, i;

		for (uint32_t from = 0;
		     (i = shoal__line_claim(c->lock_fd, from, max - from)) >= 0;
		     from = (uint32_t)i + 1) {
			/* Acquire: pairs with the server's release of FREE
			 * after it formatted the rings. */
			if (atomic_load_explicit(&c->v.lines[i].state,
						 memory_order_acquire) ==
			    SHOAL__RPC_LINE_FREE)
				return i;
			shoal__line_release(c->lock_fd, (uint32_t)i);
			stale = 1;
		}
		if (!stale || shoal__now_ns() >= deadline)
			break;
		atomic_store_explicit(&c->v.lh->reap, 1, memory_order_relaxed);
		shoal_notify(&c->notifier);
		/* The reap frees the line without a word to us: we hold no
		 * line, so nothing to sleep on; look again after a nap. */
		shoal__nap(CLAIM_NAP_NS);
	}
	return shoal__fail(-EBUSY,
			   "client: '%s' has its limit of %u clients already",
			   c->name, c->g.max_clients);
}

/* Attaches our ring handles to line @i and checks them against the
 * server's geometry (the rings live in memory every client can write). */
static int attach_rings(struct shoal_rpc_client *c, uint32_t i)
{
	uint8_t *req = c->v.rings + c->g.line_stride * i;
	int err;

	err = shoal_spsc_producer_init(&c->req, req, c->g.req_region);
	if (!err)
		err = shoal_spsc_consumer_init(&c->resp, req + c->g.req_region,
					       c->g.resp_region);
	if (err)
		return err;
	if (shoal_spsc_slot_size(&c->req) !=
		    c->g.max_request + SHOAL__RPC_MSG_HEADER ||
	    shoal_spsc_capacity(&c->req) != c->g.req_capacity ||
	    c->resp.priv_slot_size !=
		    c->g.max_response + SHOAL__RPC_MSG_HEADER ||
	    c->resp.priv_mask + 1 != c->g.resp_capacity)
		return shoal__fail(-EBADMSG,
				   "client: line %u's rings do not match the "
				   "service",
				   i);
	return 0;
}

static int join(struct shoal_rpc_client *c)
{
	struct shoal__rpc_line *l;
	int32_t owner_fd;
	int err, idx, sfd;

	sfd = shoal_service_eventfd(c->svc, 0);
	if (sfd < 0)
		return shoal__fail(-EBADMSG, "client: the service has no "
					     "eventfd");
	err = shoal_notifier_init(&c->notifier, &c->v.lh->server_wait, sfd);
	c->server_eventfd = sfd;
	if (err)
		return err;
	idx = claim_line(c);
	if (idx < 0)
		return idx;
	c->index = (uint32_t)idx;
	c->mask = 1u << (c->index % 32);
	l = &c->v.lines[c->index];
	err = attach_rings(c, c->index);
	if (err)
		return err;
	owner_fd = SHOAL__READ_ONCE(rpc_wake_fd_table(c->g.hdr)[c->index]);
	err = shoal__peer_wake_fd(c->svc, "client",
				  SHOAL__RPC_EXTRA_WAKE_FD(c->index), owner_fd,
				  c->index, &c->eventfd);
	if (!err)
		err = shoal__epoll_add(c->epfd, c->eventfd,
				       (uint64_t)c->eventfd, "client");
	if (err)
		return err;
	c->pidfd = shoal__peer_watch_owner(c->svc, c->epfd, "client");
	if (c->pidfd < 0)
		return c->pidfd;
	shoal__waiter_setup(&c->waiter, &l->wait.sleeping, 0, &l->wait.sleeps,
			    c->eventfd, c->epfd, c->strategy);
	l->pid = (int32_t)getpid();
	atomic_store_explicit(&l->sent, 0, memory_order_relaxed);
	atomic_store_explicit(&l->received, 0, memory_order_relaxed);
	atomic_store_explicit(&l->wakeups, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->gen, 1, memory_order_relaxed);
	/* Release: pid and the rest are written before the server, whose
	 * acquire load sees ACTIVE, reads them. */
	atomic_store_explicit(&l->state, SHOAL__RPC_LINE_ACTIVE,
			      memory_order_release);
	c->line = l;
	/* Tell the server at once, so it watches our pidfd from now on.
	 * Release: pairs with the server's acquire exchange of the word in
	 * collect() (rpc_server.c); shoal_notify() fences before it loads
	 * the server's sleeping flag. */
	atomic_fetch_or_explicit(&c->v.bitmap[c->index / 32], c->mask,
				 memory_order_release);
	shoal_notify(&c->notifier);
	return 0;
}

int shoal_rpc_client_open(const char *name,
			  const struct shoal_rpc_client_options *opts,
			  struct shoal_rpc_client **out)
{
	struct shoal_rpc_client_options defaults;
	struct shoal__peer_spec spec;
	struct shoal_rpc_client *c;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "client_open: NULL argument");
	if (shoal__name_check("client_open", name))
		return -EINVAL;
	if (!opts) {
		shoal_rpc_client_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->flags & ~(uint32_t)SHOAL_RPC_CLIENT_NO_PIDFD_GETFD)
		return shoal__fail(-EINVAL, "client_open: unknown flags 0x%x",
				   opts->flags);
	if ((int)opts->strategy < 0 || opts->strategy > SHOAL_WAIT_BLOCK)
		return shoal__fail(-EINVAL, "client_open: unknown strategy %d",
				   (int)opts->strategy);
	c = calloc(1, sizeof(*c));
	if (!c)
		return shoal__fail(-ENOMEM, "client: out of memory");
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->type.name = opts->type_name;
	c->type.size = opts->type_size;
	c->type.align = opts->type_align;
	c->strategy = opts->strategy ? opts->strategy : SHOAL_WAIT_ADAPTIVE;
	c->ow.every = PID_CHECK_EVERY;
	c->lock_fd = c->eventfd = c->pidfd = -1;
	c->epfd = shoal__epoll_new("client");
	if (c->epfd < 0) {
		err = c->epfd;
		free(c);
		return err;
	}
	spec = shoal__peer_spec_of(&shoal__rpc_pattern, "client", name,
				   SHOAL_OPEN_READ_ONLY, &c->type,
				   opts->timeout_ns, &c->g);
	if (opts->flags & SHOAL_RPC_CLIENT_NO_PIDFD_GETFD)
		spec.oflags |= SHOAL_OPEN_NO_PIDFD_GETFD;
	err = shoal__registry_use(opts->registry, &c->reg, &c->own_reg);
	if (!err)
		err = shoal__peer_open(c->reg, &spec, &c->svc);
	if (!err)
		err = shoal__rpc_map_clients(c->svc, &c->g, 0, &c->v);
	if (!err)
		err = join(c);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_rpc_client_close(c);
		return shoal__detail_fail(&d, err);
	}
	*out = c;
	return 0;
}

void shoal_rpc_client_close(struct shoal_rpc_client *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* drops the OFD lock: the line is dead */
	if (c->line && !c->ow.gone) {
		/* Ask the server to sweep now rather than at its next idle
		 * slice. */
		atomic_store_explicit(&c->v.lh->reap, 1, memory_order_relaxed);
		shoal_notify(&c->notifier);
	}
	if (c->eventfd >= 0)
		close(c->eventfd);
	close(c->epfd);
	shoal_segment_close(c->v.seg);
	shoal_service_close(c->svc);
	if (c->own_reg)
		shoal_registry_destroy(c->reg);
	free(c);
}

/* 1 once the server withdrew or died. Looks at the pidfd only every
 * PID_CHECK_EVERY calls, after a sleep, or when forced. */
static int server_gone(struct shoal_rpc_client *c, int force)
{
	return shoal__owner_gone(&c->ow, &c->g.hdr->closed, c->svc,
				 shoal__waiter_sleeps(&c->waiter), force);
}

int shoal_rpc_client_loan(struct shoal_rpc_client *c, uint32_t size, void **ptr)
{
	void *slot;
	int err;

	if (!ptr)
		return shoal__fail(-EINVAL, "client_loan: NULL pointer");
	if (c->loaned)
		return shoal__fail(-EBUSY, "client: a loan is already out");
	if (size > c->g.max_request)
		return shoal__fail(-EMSGSIZE,
				   "client: %u bytes exceed max_request %u",
				   size, c->g.max_request);
	if (server_gone(c, 0))
		return shoal__fail(-EPIPE, "client: '%s': server gone",
				   c->name);
	err = shoal_spsc_claim(&c->req, &slot);
	if (err == -EAGAIN)
		return shoal__fail(-EAGAIN,
				   "client: %u requests wait for the server",
				   c->g.req_capacity);
	if (err)
		return err;
	c->loaned = 1;
	c->loan_size = size;
	c->loan_msg = slot;
	*ptr = c->loan_msg + 1;
	return 0;
}

static int check_loan(struct shoal_rpc_client *c, void *ptr)
{
	if (!c->loaned || ptr != (void *)(c->loan_msg + 1))
		return shoal__fail(-EINVAL, "client: not the outstanding loan");
	return 0;
}

int shoal_rpc_client_send(struct shoal_rpc_client *c, void *ptr, uint32_t len,
			  uint64_t *id)
{
	int err = check_loan(c, ptr);

	if (err)
		return err;
	if (len > c->loan_size)
		return shoal__fail(-EINVAL, "client: %u bytes sent, %u loaned",
				   len, c->loan_size);
	c->loan_msg->id = ++c->next_id;
	c->loan_msg->flags = 0;
	c->loan_msg->pad = 0;
	shoal_spsc_commit(&c->req, len + SHOAL__RPC_MSG_HEADER);
	c->loaned = 0;
	/* Release: the request committed above is visible to a server whose
	 * acquire exchange of the word sees our bit (rpc_server.c collect). */
	atomic_fetch_or_explicit(&c->v.bitmap[c->index / 32], c->mask,
				 memory_order_release);
	/* Full fence, then the server's sleeping flag: pairs with the
	 * server's fence between setting it and re-checking the bitmap. */
	if (shoal_notify(&c->notifier) == 1) {
		c->wakeups++;
		atomic_store_explicit(&c->line->wakeups, c->wakeups,
				      memory_order_relaxed);
	}
	c->sent++;
	atomic_store_explicit(&c->line->sent, c->sent, memory_order_relaxed);
	if (id)
		*id = c->next_id;
	return 0;
}

int shoal_rpc_client_abort(struct shoal_rpc_client *c, void *ptr)
{
	int err = check_loan(c, ptr);

	if (err)
		return err;
	shoal_spsc_abort(&c->req);
	c->loaned = 0;
	return 0;
}

int shoal_rpc_client_write(struct shoal_rpc_client *c, const void *data,
			   uint32_t len, uint64_t *id)
{
	void *ptr;
	int err = shoal_rpc_client_loan(c, len, &ptr);

	if (err)
		return err;
	if (len)
		memcpy(ptr, data, len);
	return shoal_rpc_client_send(c, ptr, len, id);
}

/*
 * Releases the response at the head of our ring, and wakes the server if
 * it sleeps waiting for room in that ring (its room_wait mark): the full
 * fence in shoal__notify_mark() orders our release of the slot before the
 * load of the mark and pairs with the server's fence between setting the
 * mark and claiming again (shoal_waiter_arm from wait_room), so either the
 * server's claim finds the room or we find the mark.
 */
static void release_response(struct shoal_rpc_client *c)
{
	shoal_spsc_release(&c->resp);
	/* An eventfd write that failed (only under injected faults) leaves
	 * the mark set, and the next release tries again. */
	(void)shoal__notify_mark(&c->line->room_wait, 0, c->server_eventfd);
}

static int client_ready(void *arg)
{
	struct shoal_rpc_client *c = arg;

	return shoal_spsc_readable(&c->resp) || server_gone(c, 0);
}

/* One look at the response ring: 0 (held), -EAGAIN, -EBADMSG. */
static int try_take(struct shoal_rpc_client *c, struct shoal_response *resp)
{
	const struct shoal__rpc_msg *m;
	const void *data;
	uint32_t len;
	int r = shoal_spsc_peek(&c->resp, &data, &len);

	if (r)
		return r;
	if (len < SHOAL__RPC_MSG_HEADER) {
		release_response(c);
		return shoal__fail(-EBADMSG,
				   "client: a %u-byte response is shorter "
				   "than its header",
				   len);
	}
	m = data;
	/* A response explains the last wake-up: no pidfd look for it (see
	 * shoal_rpc_server_take()). A server death that woke us too leaves its
	 * pidfd readable, so the next sleep ends at once and is looked
	 * into. */
	c->ow.sleeps = shoal__waiter_sleeps(&c->waiter);
	resp->data = m + 1;
	resp->len = len - SHOAL__RPC_MSG_HEADER;
	resp->id = SHOAL__READ_ONCE(m->id);
	resp->flags = SHOAL__READ_ONCE(m->flags);
	c->held = 1;
	return 0;
}

int shoal_rpc_client_take(struct shoal_rpc_client *c,
			  struct shoal_response *resp, int64_t timeout_ns)
{
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (!resp)
		return shoal__fail(-EINVAL, "client_take: NULL response");
	if (c->held)
		return shoal__fail(-EBUSY, "client: a response is held");
	for (;;) {
		int err = try_take(c, resp);

		if (err != -EAGAIN)
			return err;
		if (server_gone(c, 0)) {
			/* What it sent before dying is still good. */
			err = try_take(c, resp);
			if (err != -EAGAIN)
				return err;
			return shoal__fail(-EPIPE, "client: '%s': server gone",
					   c->name);
		}
		err = shoal__wait_step(&c->waiter, client_ready, c, timeout_ns,
				       &deadline, -1,
				       "client: no response came");
		if (err < 0)
			return err;
	}
}

int shoal_rpc_client_release(struct shoal_rpc_client *c,
			     struct shoal_response *resp)
{
	if (!c->held || !resp)
		return shoal__fail(-EINVAL, "client: no response held");
	release_response(c);
	c->held = 0;
	resp->data = NULL;
	c->received++;
	atomic_store_explicit(&c->line->received, c->received,
			      memory_order_relaxed);
	return 0;
}

ssize_t shoal_rpc_client_call(struct shoal_rpc_client *c, const void *data,
			      uint32_t len, void *buf, size_t cap,
			      uint32_t *flags, int64_t timeout_ns)
{
	int64_t deadline = shoal__deadline(timeout_ns);
	struct shoal_response r;
	uint64_t id;
	int err = shoal_rpc_client_write(c, data, len, &id);

	if (err)
		return err;
	for (;;) {
		int64_t left = timeout_ns;
		uint32_t n;

		if (deadline >= 0) {
			left = deadline - shoal__now_ns();
			if (left < 0)
				left = 0;
		}
		err = shoal_rpc_client_take(c, &r, left);
		if (err == -EAGAIN && timeout_ns != 0)
			err = shoal__fail(-ETIMEDOUT,
					  "client: no response came");
		if (err)
			return err;
		if (r.id != id || (r.flags & SHOAL_RPC_MORE)) {
			c->discarded++;
			shoal_rpc_client_release(c, &r);
			continue;
		}
		n = r.len;
		if (n > cap) {
			shoal_rpc_client_release(c, &r);
			return shoal__fail(-EMSGSIZE,
					   "client: %u-byte response, %zu-byte "
					   "buffer",
					   n, cap);
		}
		memcpy(buf, r.data, n);
		if (flags)
			*flags = r.flags;
		shoal_rpc_client_release(c, &r);
		return (ssize_t)n;
	}
}

int shoal_rpc_client_fd(const struct shoal_rpc_client *c)
{
	return c->epfd;
}

int shoal_rpc_client_arm(struct shoal_rpc_client *c)
{
	if (server_gone(c, 1))
		return 1;
	return shoal_waiter_arm(&c->waiter, client_ready, c);
}

void shoal_rpc_client_disarm(struct shoal_rpc_client *c)
{
	shoal_waiter_disarm(&c->waiter);
	/* The poll may have ended on the server's pidfd. */
	c->ow.check_pid = 1;
}

int shoal_rpc_client_connected(struct shoal_rpc_client *c)
{
	return !server_gone(c, 1);
}

uint32_t shoal_rpc_client_line(const struct shoal_rpc_client *c)
{
	return c->index;
}

void shoal_rpc_client_get_stats(const struct shoal_rpc_client *c,
				struct shoal_rpc_client_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sent = c->sent;
	st->received = c->received;
	st->discarded = c->discarded;
	st->sleeps = shoal__waiter_sleeps(&c->waiter);
	st->wakeups = c->wakeups;
}
