/* SPDX-License-Identifier: MIT */
/*
 * A queue's lifecycle on the service layer (service.h): options, creating
 * (the segment with its header, lines and ring, one eventfd per line,
 * announce), opening by name (geometry checked once), joining a line,
 * stats and inspection, leaving and closing. The data path is queue.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_internal.h"
#include "patterns/queue_internal.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_MESSAGE 1024
#define DEFAULT_PARTICIPANTS 64

void shoal_queue_options_init(struct shoal_queue_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = DEFAULT_CAPACITY;
	opts->max_message = DEFAULT_MAX_MESSAGE;
	opts->max_participants = DEFAULT_PARTICIPANTS;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->role = SHOAL_QUEUE_BOTH;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
	opts->send_timeout_ns = SHOAL_WAIT_FOREVER;
	opts->max_loans = 1;
	opts->max_held = 1;
}

static int check_role(const struct shoal_queue_options *o, int spsc)
{
	if (!o->role || (o->role & ~(uint32_t)SHOAL_QUEUE_BOTH))
		return shoal__fail(-EINVAL, "queue: unknown role 0x%x",
				   o->role);
	if (spsc && o->role == SHOAL_QUEUE_BOTH)
		return shoal__fail(-EINVAL,
				   "queue: an SPSC queue's handle is either "
				   "the producer or the consumer");
	if (o->strategy < SHOAL_WAIT_BUSY_SPIN ||
	    o->strategy > SHOAL_WAIT_BLOCK)
		return shoal__fail(-EINVAL, "queue: unknown strategy %d",
				   (int)o->strategy);
	if (o->flags & ~(uint32_t)SHOAL_QUEUE_SPSC)
		return shoal__fail(-EINVAL, "queue: unknown flags 0x%x",
				   o->flags);
	if (!o->max_loans || o->max_loans > SHOAL_QUEUE_LOANS_MAX ||
	    !o->max_held || o->max_held > SHOAL_QUEUE_HELD_MAX)
		return shoal__fail(-EINVAL,
				   "queue: max_loans %u, max_held %u: each "
				   "in 1..%u",
				   o->max_loans, o->max_held,
				   SHOAL_QUEUE_LOANS_MAX);
	/* Not built on the SPSC path yet (docs/queue.md, "Several loans
	 * and held messages per handle"). */
	if (spsc && (o->max_loans > 1 || o->max_held > 1))
		return shoal__fail(-EINVAL,
				   "queue: an SPSC queue takes one loan and "
				   "one held message per handle");
	return 0;
}

static int check_create_options(const struct shoal_queue_options *o)
{
	int spsc = !!(o->flags & SHOAL_QUEUE_SPSC);

	if (!shoal__is_pow2(o->capacity) || o->capacity < 2 ||
	    o->capacity > SHOAL_QUEUE_CAPACITY_MAX)
		return shoal__fail(-EINVAL,
				   "queue: capacity %u is not a power of two "
				   "in 2..%u",
				   o->capacity, SHOAL_QUEUE_CAPACITY_MAX);
	if (!o->max_message || o->max_message > SHOAL_QUEUE_MESSAGE_MAX)
		return shoal__fail(-EINVAL,
				   "queue: max_message %u not in 1..%u",
				   o->max_message, SHOAL_QUEUE_MESSAGE_MAX);
	if (!spsc && (!o->max_participants ||
		      o->max_participants > SHOAL_QUEUE_PARTICIPANTS_MAX))
		return shoal__fail(-EINVAL,
				   "queue: max_participants %u not in 1..%u",
				   o->max_participants,
				   SHOAL_QUEUE_PARTICIPANTS_MAX);
	return check_role(o, spsc);
}

static void *fd_table_of(struct shoal__queue_header *h)
{
	return h + 1;
}

static struct shoal__queue_line *lines_of(struct shoal__queue_header *h,
					  uint32_t max)
{
	return (struct shoal__queue_line *)((uint8_t *)(h + 1) +
					    shoal__queue_fd_table_bytes(max));
}

/* Points the handle at the header and ring objects of q->seg. */
static void locate(struct shoal_queue *q, void *hdr, void *ring,
		   uint64_t ring_size)
{
	q->hdr = hdr;
	q->fd_table = fd_table_of(q->hdr);
	q->lines = lines_of(q->hdr, q->max_parts);
	q->ring = ring;
	q->ring_size = ring_size;
	q->bitmap_words = (q->max_parts + 31) / 32;
}

/* Attaches the ring handle(s) our role needs. */
static int attach_ring(struct shoal_queue *q)
{
	int err = 0;

	if (!q->spsc)
		return shoal_mpmc_init(&q->mpmc, q->ring, q->ring_size,
				       q->token);
	if (q->role & SHOAL_QUEUE_PRODUCER)
		err = shoal_spsc_producer_init(&q->sp, q->ring, q->ring_size);
	if (!err && (q->role & SHOAL_QUEUE_CONSUMER))
		err = shoal_spsc_consumer_init(&q->sc, q->ring, q->ring_size);
	return err;
}

/* Takes a line (SPSC: the role's own), our eventfd, and the ring. */
static int join(struct shoal_queue *q, int memfd)
{
	uint32_t first = 0, count = q->max_parts, gen;
	int idx, err;

	if (q->spsc) {
		first = q->role == SHOAL_QUEUE_PRODUCER ? 0 : 1;
		count = 1;
	}
	idx = shoal__peer_claim(memfd, first, count, "queue", &q->lock_fd);
	if (idx == -EBUSY)
		return q->spsc ? shoal__fail(-EBUSY,
					     "queue: '%s' already has its %s",
					     q->name,
					     first ? "consumer" : "producer") :
				 shoal__fail(-EBUSY,
					     "queue: '%s' has its limit of %u "
					     "participants already",
					     q->name, q->max_parts);
	if (idx < 0)
		return idx;
	q->index = (uint32_t)idx;
	q->line = &q->lines[q->index];
	gen = atomic_fetch_add_explicit(&q->line->generation, 1,
					memory_order_acq_rel) +
	      1;
	q->token = (q->index + 1) | (gen & TOKEN_GEN_MASK) << TOKEN_INDEX_BITS;
	if (q->svc) {
		int32_t owner_fd = SHOAL__READ_ONCE(q->fd_table[q->index]);

		err = shoal__peer_wake_fd(q->svc, "queue", q->index, owner_fd,
					  q->index, &q->fds[q->index]);
		if (err)
			return err;
	}
	q->eventfd = q->fds[q->index];
	err = attach_ring(q);
	if (err)
		return err;
	err = shoal__epoll_add(q->epfd, q->eventfd, (uint64_t)q->eventfd,
			       "queue");
	if (!err && q->svc) {
		q->pidfd = shoal__peer_watch_owner(q->svc, q->epfd, "queue");
		err = q->pidfd < 0 ? q->pidfd : 0;
	}
	if (err)
		return err;
	shoal__waiter_setup(&q->pop_waiter,
			    &q->hdr->consumers_asleep[q->index / 32],
			    1u << (q->index % 32), NULL, q->eventfd, q->epfd,
			    q->strategy);
	shoal__waiter_setup(&q->push_waiter,
			    &q->hdr->producers_asleep[q->index / 32],
			    1u << (q->index % 32), NULL, q->eventfd, q->epfd,
			    q->strategy);
	atomic_store_explicit(&q->line->pushed, 0, memory_order_relaxed);
	atomic_store_explicit(&q->line->popped, 0, memory_order_relaxed);
	atomic_store_explicit(&q->line->sleeps, 0, memory_order_relaxed);
	atomic_store_explicit(&q->line->wakeups, 0, memory_order_relaxed);
	atomic_store_explicit(&q->line->recovered, 0, memory_order_relaxed);
	q->line->role = q->role;
	q->line->pid = (int32_t)getpid();
	atomic_store_explicit(&q->line->state, SHOAL__QUEUE_LINE_ACTIVE,
			      memory_order_release);
	return 0;
}

static struct shoal_queue *alloc_handle(const char *name,
					const struct shoal_queue_options *o)
{
	struct shoal_queue *q = shoal__handle_alloc(sizeof(*q), "queue");

	if (!q)
		return NULL;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->lock_fd = q->eventfd = q->epfd = q->pidfd = -1;
	q->role = o->role;
	q->strategy = o->strategy;
	q->send_timeout_ns = o->send_timeout_ns;
	q->max_loans = o->max_loans;
	q->max_held = o->max_held;
	return q;
}

/* An opener's table of line eventfds, taken lazily (-1: not yet). */
static int alloc_fds(struct shoal_queue *q)
{
	q->fds = malloc(sizeof(int) * q->max_parts);
	if (!q->fds)
		return shoal__fail(-ENOMEM, "queue: out of memory");
	for (uint32_t i = 0; i < q->max_parts; i++)
		q->fds[i] = -1;
	return 0;
}

static int create_service(struct shoal_queue *q, const char *name,
			  const struct shoal_queue_options *o)
{
	uint64_t ring_bytes =
		q->spsc ? shoal_spsc_region_size(q->capacity, q->max_message) :
			  shoal_mpmc_region_size(q->capacity, q->max_message);
	struct shoal_object_spec objs[2] = {
		{ SHOAL__QUEUE_HEADER_OBJECT, SHOAL__OBJECT_QUEUE_HEADER, 64,
		  shoal__queue_header_bytes(q->max_parts) },
		{ SHOAL__QUEUE_RING_OBJECT,
		  q->spsc ? SHOAL_OBJECT_SPSC_RING : SHOAL_OBJECT_MPMC_RING, 64,
		  ring_bytes },
	};
	struct shoal__owner_spec spec = {
		.name = name,
		.registry = o->registry,
		.lines = q->max_parts,
		.objects = objs,
		.nobjects = 2,
		.origin = o->origin,
	};
	struct shoal__queue_header *h;
	void *ring;
	int err;

	if (!ring_bytes || ring_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG,
				   "queue: %u cells of %u bytes is too large",
				   q->capacity, q->max_message);
	err = shoal__owner_create(&q->own, &spec);
	if (err)
		return err;
	q->fds = q->own.wake_fds;
	q->seg = q->own.seg;
	ring = shoal__owner_object(q->seg, SHOAL__QUEUE_RING_OBJECT);
	locate(q, shoal__owner_object(q->seg, SHOAL__QUEUE_HEADER_OBJECT), ring,
	       ring_bytes);
	h = q->hdr;
	h->ident = (struct shoal__ident){ SHOAL__QUEUE_MAGIC,
					  SHOAL__QUEUE_VERSION };
	h->flags = o->flags & SHOAL_QUEUE_SPSC;
	h->capacity = q->capacity;
	h->max_message = q->max_message;
	h->max_participants = q->max_parts;
	for (uint32_t i = 0; i < q->max_parts; i++)
		q->fd_table[i] = q->fds[i];
	return q->spsc ? shoal_spsc_format(ring, ring_bytes, q->capacity,
					   q->max_message, 0) :
			 shoal_mpmc_format(ring, ring_bytes, q->capacity,
					   q->max_message, 0);
}

static void free_handle(struct shoal_queue *q);

int shoal_queue_create(const char *name, const struct shoal_queue_options *opts,
		       struct shoal_queue **out)
{
	struct shoal_queue_options defaults;
	struct shoal_queue *q;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_queue_options_init);
	err = shoal__check_open("queue_create", name, out, 0, 0, 0);
	if (err)
		return err;
	err = check_create_options(opts);
	if (err)
		return err;
	q = alloc_handle(name, opts);
	if (!q)
		return -ENOMEM;
	q->creator = 1;
	q->spsc = !!(opts->flags & SHOAL_QUEUE_SPSC);
	q->capacity = opts->capacity;
	q->max_message = opts->max_message;
	q->max_parts = q->spsc ? 2 : opts->max_participants;
	q->epfd = shoal__epoll_new("queue");
	err = q->epfd < 0 ? q->epfd : 0;
	if (!err)
		err = create_service(q, name, opts);
	if (!err)
		err = join(q, shoal_segment_fd(q->seg));
	if (!err) {
		err = shoal__owner_announce(&q->own, name, SHOAL_PATTERN_QUEUE,
					    opts->access, &SHOAL__TYPE_OF(opts),
					    NULL, 0);
	}
	SHOAL__HAND_OUT(err, q, free_handle, out);
}

/* The service layer's geometry callback (service.h), @user_data the
 * handle: checks the creator's header and ring objects, fills the
 * geometry. A queue is opened even while being withdrawn: its messages
 * are drained before -EPIPE. */
static int map_peer(struct shoal_segment *seg, void *user_data)
{
	struct shoal_queue *q = user_data;
	struct shoal_object_info ri;
	struct shoal__queue_header *h;
	void *hdr, *ring;
	uint64_t hsize;
	uint32_t flags, maxp;
	int err;

	err = shoal__peer_header(seg, "queue", SHOAL__QUEUE_HEADER_OBJECT,
				 SHOAL__OBJECT_QUEUE_HEADER, SHOAL__QUEUE_MAGIC,
				 SHOAL__QUEUE_VERSION, sizeof(*h), &hdr,
				 &hsize);
	if (err)
		return err;
	if (shoal_segment_find(seg, SHOAL__QUEUE_RING_OBJECT, 0, &ring, &ri))
		return shoal__fail(-EBADMSG, "queue: '%s' has no ring",
				   q->name);
	h = hdr;
	/* Each field once, into the handle; the ring code checks the rest. */
	flags = h->flags;
	maxp = h->max_participants;
	q->capacity = h->capacity;
	q->max_message = h->max_message;
	q->spsc = flags == SHOAL_QUEUE_SPSC;
	if ((flags & ~(uint32_t)SHOAL_QUEUE_SPSC) || !maxp ||
	    maxp > SHOAL_QUEUE_PARTICIPANTS_MAX || (q->spsc && maxp != 2) ||
	    hsize < shoal__queue_header_bytes(maxp) ||
	    ri.kind !=
		    (q->spsc ? SHOAL_OBJECT_SPSC_RING : SHOAL_OBJECT_MPMC_RING))
		return shoal__fail(-EBADMSG,
				   "queue: '%s': corrupt configuration",
				   q->name);
	q->max_parts = maxp;
	q->seg = seg;
	locate(q, hdr, ring, ri.size);
	return 0;
}

static const struct shoal__kind kinds[] = {
	{ SHOAL__OBJECT_QUEUE_HEADER, "queue header" },
};

/* A queue is opened even while being withdrawn: no closed word. */
const struct shoal__pattern shoal__queue_pattern = {
	SHOAL_PATTERN_QUEUE, "a queue", map_peer, NULL, 0, SHOAL__KINDS(kinds)
};

/* The opening both shoal_queue_open() and inspecting do. */
static int open_service(struct shoal_queue *q, uint32_t oflags,
			const struct shoal__type *type, int64_t timeout_ns)
{
	struct shoal__peer_spec spec =
		shoal__peer_spec_of(&shoal__queue_pattern, "queue", q->name,
				    oflags, type, timeout_ns, q);

	return shoal__peer_open(q->reg, &spec, &q->svc);
}

int shoal_queue_open(const char *name, const struct shoal_queue_options *opts,
		     struct shoal_queue **out)
{
	struct shoal_queue_options defaults;
	struct shoal__type want;
	struct shoal_queue *q;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_queue_options_init);
	err = shoal__check_open("queue_open", name, out, 0, 0, 0);
	if (err)
		return err;
	q = alloc_handle(name, opts);
	if (!q)
		return -ENOMEM;
	want.name = opts->type_name;
	want.size = opts->type_size;
	want.align = opts->type_align;
	q->ow.every = 0; /* the pidfd after sleeps only: see creator_gone() */
	err = shoal__registry_use(opts->registry, &q->reg, &q->own_reg);
	if (!err)
		err = open_service(q, 0, &want, opts->timeout_ns);
	if (!err)
		err = check_role(opts, q->spsc);
	if (!err)
		err = alloc_fds(q);
	if (!err) {
		q->epfd = shoal__epoll_new("queue");
		err = q->epfd < 0 ? q->epfd : 0;
	}
	if (!err)
		err = join(q, shoal_segment_fd(q->seg));
	SHOAL__HAND_OUT(err, q, free_handle, out);
}

static void ring_stats(const struct shoal_queue *q,
		       struct shoal_queue_stats *st)
{
	if (q->spsc) {
		const struct shoal__spsc_ring *r = q->ring;

		st->enqueued =
			atomic_load_explicit(&r->head, memory_order_relaxed);
		st->dequeued =
			atomic_load_explicit(&r->tail, memory_order_relaxed);
		return;
	}
	{
		struct shoal_mpmc_stats ms;

		shoal_mpmc_get_stats(&q->mpmc, &ms);
		st->enqueued = ms.enqueued;
		st->dequeued = ms.dequeued;
		st->skipped = ms.skipped;
		st->abandoned = ms.abandoned;
	}
}

static void shared_stats(const struct shoal_queue *q,
			 struct shoal_queue_stats *st)
{
	memset(st, 0, sizeof(*st));
	ring_stats(q, st);
	st->capacity = q->capacity;
	st->max_message = q->max_message;
	st->max_participants = q->max_parts;
	st->spsc = (uint32_t)q->spsc;
	for (uint32_t i = 0; i < q->max_parts; i++)
		if (atomic_load_explicit(&q->lines[i].state,
					 memory_order_relaxed) ==
		    SHOAL__QUEUE_LINE_ACTIVE)
			st->participants++;
}

void shoal_queue_get_stats(const struct shoal_queue *q,
			   struct shoal_queue_stats *st)
{
	shared_stats(q, st);
	st->pushed = q->pushed;
	st->popped = q->popped;
	st->sleeps = shoal__waiter_sleeps(&q->pop_waiter) +
		     shoal__waiter_sleeps(&q->push_waiter);
	st->wakeups = q->wakeups;
	st->recovered = q->recovered;
}

int shoal_queue_inspect(struct shoal_registry *reg, const char *name,
			struct shoal_queue_stats *st)
{
	struct shoal_queue q;
	int err;

	if (!name || !st)
		return shoal__fail(-EINVAL, "queue_inspect: NULL argument");
	if (shoal__name_check("queue_inspect", name))
		return -EINVAL;
	memset(&q, 0, sizeof(q));
	snprintf(q.name, sizeof(q.name), "%s", name);
	err = shoal__registry_use(reg, &q.reg, &q.own_reg);
	if (!err)
		err = open_service(&q, SHOAL_OPEN_READ_ONLY, NULL, 0);
	/* Any valid token: the handle only reads. */
	if (!err && !q.spsc)
		err = shoal_mpmc_init(&q.mpmc, q.ring, q.ring_size, 1);
	if (!err)
		shared_stats(&q, st);
	shoal_service_close(q.svc);
	if (q.own_reg)
		shoal_registry_destroy(q.reg);
	return err;
}

/* Leaves our line: nothing held, bits cleared, state free, lock dropped. */
static void leave(struct shoal_queue *q)
{
	if (!q->line)
		return;
	while (q->nloans)
		shoal_queue_abort(q, q->loans[q->nloans - 1].ptr);
	while (q->nheld) {
		struct shoal_msg m = { .data = q->helds[q->nheld - 1].data };

		shoal_queue_release(q, &m);
	}
	atomic_fetch_and_explicit(&q->hdr->consumers_asleep[q->index / 32],
				  ~(1u << (q->index % 32)),
				  memory_order_relaxed);
	atomic_fetch_and_explicit(&q->hdr->producers_asleep[q->index / 32],
				  ~(1u << (q->index % 32)),
				  memory_order_relaxed);
	atomic_store_explicit(&q->line->state, SHOAL__QUEUE_LINE_FREE,
			      memory_order_release);
	q->line = NULL;
}

/* The end of any handle, the creator's (withdrawing the name) or an
 * opener's, complete or half made. */
static void free_handle(struct shoal_queue *q)
{
	if (!q)
		return;
	leave(q);
	/* The creator's last act: withdraw the name, say so and wake every
	 * sleeper (service.h). */
	if (q->creator)
		shoal__owner_withdraw(&q->own, q->hdr ? &q->hdr->closed : NULL);
	if (q->lock_fd >= 0)
		close(q->lock_fd); /* drops the line's lock */
	for (uint32_t i = 0; !q->creator && q->fds && i < q->max_parts; i++)
		if (q->fds[i] >= 0)
			close(q->fds[i]);
	if (!q->creator)
		free(q->fds);
	if (q->epfd >= 0)
		close(q->epfd);
	shoal__owner_fini(&q->own);
	shoal_service_close(q->svc);
	if (q->own_reg)
		shoal_registry_destroy(q->reg);
	free(q);
}

void shoal_queue_destroy(struct shoal_queue *q)
{
	if (!q)
		return;
	if (!q->creator) {
		shoal__fail(-EINVAL,
			    "queue_destroy: '%s' was opened, not created "
			    "here: close it with shoal_queue_close",
			    q->name);
		return;
	}
	free_handle(q);
}

void shoal_queue_close(struct shoal_queue *q)
{
	if (!q)
		return;
	if (q->creator) {
		shoal__fail(-EINVAL,
			    "queue_close: '%s' was created here: end it with "
			    "shoal_queue_destroy",
			    q->name);
		return;
	}
	free_handle(q);
}
