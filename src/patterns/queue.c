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
#include "segment/fdcheck.h"
#include "service/line_lock.h"
#include "notify/notify_internal.h"
#include "patterns/queue_layout.h"
#include "registry/registry_internal.h"
#include "service/type_check.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_MESSAGE 1024
#define DEFAULT_PARTICIPANTS 64
/* A position held this long by one claimant is worth a liveness check. */
#define STUCK_NS 1000000
/* The longest a waiter sleeps before looking at the ring again. */
#define WAIT_SLICE_NS 50000000
#define TOKEN_INDEX_BITS 10
#define TOKEN_GEN_MASK 0xfffu

struct shoal_queue {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_entry *entry; /* creator */
	struct shoal_service *svc; /* opener */
	struct shoal_segment *seg;
	struct shoal__queue_header *hdr;
	int32_t *fd_table;
	struct shoal__queue_line *lines;
	struct shoal__queue_line *line; /* ours */

	struct shoal_mpmc mpmc;
	struct shoal_spsc_producer sp;
	struct shoal_spsc_consumer sc;
	void *ring;
	uint64_t ring_size;
	int spsc;

	uint32_t capacity, max_message, max_parts, bitmap_words;
	uint32_t role, index, token;
	int lock_fd;
	int eventfd; /* our line's */
	int epfd;    /* what a sleep polls: eventfd (+ the creator's pidfd) */
	int pidfd;   /* opener: the creator's; -1 for the creator */
	int *fds;    /* creator: every line's eventfd; opener: taken lazily */
	struct shoal_waiter pop_waiter, push_waiter;

	int loaned, held, gone;
	uint64_t stuck_pos;
	int64_t stuck_since;
	uint64_t checked_sleeps;
	enum shoal_wait_strategy strategy; /* for both waiters */
	uint64_t pushed, popped, wakeups, recovered;
};

void shoal_queue_options_init(struct shoal_queue_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = DEFAULT_CAPACITY;
	opts->max_message = DEFAULT_MAX_MESSAGE;
	opts->max_participants = DEFAULT_PARTICIPANTS;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->role = SHOAL_QUEUE_BOTH;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
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

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return shoal__fail(-errno, "queue: epoll_ctl: %s",
				   strerror(errno));
	return 0;
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
	q->lock_fd = shoal__line_lock_open(memfd, "queue");
	if (q->lock_fd < 0)
		return q->lock_fd;
	idx = shoal__line_claim(q->lock_fd, first, count);
	if (idx < 0)
		return q->spsc ? shoal__fail(-EBUSY,
					     "queue: '%s' already has its %s",
					     q->name,
					     first ? "consumer" : "producer") :
				 shoal__fail(-EBUSY,
					     "queue: '%s' has its limit of %u "
					     "participants already",
					     q->name, q->max_parts);
	q->index = (uint32_t)idx;
	q->line = &q->lines[q->index];
	/* Acq_rel: pairs with the acquire load in token_alive(); the new
	 * generation is in place before our token reaches any claim word
	 * (the ring's release stores of those words come later). */
	gen = atomic_fetch_add_explicit(&q->line->generation, 1,
					memory_order_acq_rel) +
	      1;
	q->token = (q->index + 1) | (gen & TOKEN_GEN_MASK) << TOKEN_INDEX_BITS;
	if (q->svc) {
		int32_t owner_fd = SHOAL__READ_ONCE(q->fd_table[q->index]);

		err = shoal__service_take_extra_fd(q->svc, q->index, owner_fd,
						   &q->fds[q->index]);
		if (err)
			return err;
		if (shoal__fd_is_eventfd(q->fds[q->index]) != 1)
			return shoal__fail(-EBADMSG,
					   "queue: wake-up fd %u is not an "
					   "eventfd",
					   q->index);
	}
	q->eventfd = q->fds[q->index];
	err = attach_ring(q);
	if (err)
		return err;
	err = epoll_add(q->epfd, q->eventfd);
	if (!err && q->pidfd >= 0)
		err = epoll_add(q->epfd, q->pidfd);
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
	/* Release: the fields above are written before the line reads as
	 * ACTIVE. Its only reader, shared_stats(), loads it relaxed to count
	 * participants, so nothing pairs with this yet. */
	atomic_store_explicit(&q->line->state, SHOAL__QUEUE_LINE_ACTIVE,
			      memory_order_release);
	return 0;
}

static struct shoal_queue *alloc_handle(const char *name,
					const struct shoal_queue_options *o)
{
	struct shoal_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->lock_fd = q->eventfd = q->epfd = q->pidfd = -1;
	q->role = o->role;
	q->strategy = o->strategy;
	return q;
}

static int alloc_fds(struct shoal_queue *q, int create)
{
	q->fds = malloc(sizeof(int) * q->max_parts);
	if (!q->fds)
		return shoal__fail(-ENOMEM, "queue: out of memory");
	for (uint32_t i = 0; i < q->max_parts; i++)
		q->fds[i] = -1;
	for (uint32_t i = 0; create && i < q->max_parts; i++) {
		q->fds[i] = shoal_eventfd_create();
		if (q->fds[i] < 0)
			return q->fds[i];
	}
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (q->epfd < 0)
		return shoal__fail(-errno, "queue: epoll_create1: %s",
				   strerror(errno));
	return 0;
}

static int create_segment(struct shoal_queue *q, const char *name,
			  uint32_t flags)
{
	struct shoal_segment_options so;
	uint64_t ring_bytes =
		q->spsc ? shoal_spsc_region_size(q->capacity, q->max_message) :
			  shoal_mpmc_region_size(q->capacity, q->max_message);
	struct shoal_object_spec objs[2] = {
		{ SHOAL__QUEUE_HEADER_OBJECT, SHOAL_OBJECT_QUEUE_HEADER, 64,
		  shoal__queue_header_bytes(q->max_parts) },
		{ SHOAL__QUEUE_RING_OBJECT,
		  q->spsc ? SHOAL_OBJECT_SPSC_RING : SHOAL_OBJECT_MPMC_RING, 64,
		  ring_bytes },
	};
	struct shoal__queue_header *h;
	void *hdr, *ring;
	int err;

	if (!ring_bytes || ring_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG,
				   "queue: %u cells of %u bytes is too large",
				   q->capacity, q->max_message);
	shoal_segment_options_init(&so);
	so.debug_name = name;
	err = shoal_segment_create(objs, 2, &so, &q->seg);
	if (err)
		return err;
	shoal_segment_find(q->seg, SHOAL__QUEUE_HEADER_OBJECT, 0, &hdr, NULL);
	shoal_segment_find(q->seg, SHOAL__QUEUE_RING_OBJECT, 0, &ring, NULL);
	locate(q, hdr, ring, ring_bytes);
	h = q->hdr;
	h->magic = SHOAL__QUEUE_MAGIC;
	h->version = SHOAL__QUEUE_VERSION;
	h->flags = flags & SHOAL_QUEUE_SPSC;
	h->capacity = q->capacity;
	h->max_message = q->max_message;
	h->max_participants = q->max_parts;
	for (uint32_t i = 0; i < q->max_parts; i++)
		q->fd_table[i] = q->fds[i];
	err = q->spsc ? shoal_spsc_format(ring, ring_bytes, q->capacity,
					  q->max_message, 0) :
			shoal_mpmc_format(ring, ring_bytes, q->capacity,
					  q->max_message, 0);
	if (!err)
		err = shoal_segment_ready(q->seg);
	return err;
}

static int announce(struct shoal_queue *q, const char *name,
		    const struct shoal_queue_options *o)
{
	struct shoal_service_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.pattern = SHOAL_PATTERN_QUEUE;
	spec.access = o->access;
	spec.memfd = shoal_segment_fd(q->seg);
	spec.type_name = o->type_name;
	spec.type_size = o->type_size;
	spec.type_align = o->type_align;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	/* Borrowed by the entry until shoal_queue_close(). */
	spec.extra_fd_count = q->max_parts;
	spec.extra_fds = q->fds;
	return shoal_registry_publish(q->reg, &spec, &q->entry);
}

/* Fails @err keeping the cause's message through the clean-up. */
static int fail_closing(struct shoal_queue *q, int err)
{
	char detail[256];

	snprintf(detail, sizeof(detail), "%s", shoal_last_error());
	shoal_queue_close(q);
	return shoal__fail(err, "%s", detail);
}

int shoal_queue_create(const char *name, const struct shoal_queue_options *opts,
		       struct shoal_queue **out)
{
	struct shoal_queue_options defaults;
	struct shoal_queue *q;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "queue_create: NULL argument");
	if (!opts) {
		shoal_queue_options_init(&defaults);
		opts = &defaults;
	}
	err = check_create_options(opts);
	if (err)
		return err;
	q = alloc_handle(name, opts);
	if (!q)
		return shoal__fail(-ENOMEM, "queue: out of memory");
	q->spsc = !!(opts->flags & SHOAL_QUEUE_SPSC);
	q->capacity = opts->capacity;
	q->max_message = opts->max_message;
	q->max_parts = q->spsc ? 2 : opts->max_participants;
	err = shoal__registry_use(opts->registry, &q->reg, &q->own_reg);
	if (!err)
		err = alloc_fds(q, 1);
	if (!err)
		err = create_segment(q, name, opts->flags);
	if (!err)
		err = join(q, shoal_segment_fd(q->seg));
	if (!err)
		err = announce(q, name, opts);
	if (err)
		return fail_closing(q, err);
	*out = q;
	return 0;
}

/* Checks the creator's header and ring objects; fills the geometry. */
static int map_peer(struct shoal_queue *q)
{
	struct shoal_segment *seg = shoal_service_segment(q->svc);
	struct shoal_object_info hi, ri;
	struct shoal__queue_header *h;
	void *hdr, *ring;
	uint32_t flags, maxp;
	int err;

	err = shoal_segment_find(seg, SHOAL__QUEUE_HEADER_OBJECT,
				 SHOAL_OBJECT_QUEUE_HEADER, &hdr, &hi);
	if (!err)
		err = shoal_segment_find(seg, SHOAL__QUEUE_RING_OBJECT, 0,
					 &ring, &ri);
	if (err)
		return shoal__fail(-EBADMSG, "queue: '%s' has no queue objects",
				   q->name);
	h = hdr;
	if ((uintptr_t)hdr % SHOAL__CACHE_LINE || hi.size < sizeof(*h) ||
	    h->magic != SHOAL__QUEUE_MAGIC)
		return shoal__fail(-EBADMSG, "queue: '%s': corrupt header",
				   q->name);
	if (h->version != SHOAL__QUEUE_VERSION)
		return shoal__fail(-EPROTO,
				   "queue: '%s' has format version %u, this "
				   "library reads %u",
				   q->name, h->version, SHOAL__QUEUE_VERSION);
	/* Each field once, into the handle; the ring code checks the rest. */
	flags = h->flags;
	maxp = h->max_participants;
	q->capacity = h->capacity;
	q->max_message = h->max_message;
	q->spsc = flags == SHOAL_QUEUE_SPSC;
	if ((flags & ~(uint32_t)SHOAL_QUEUE_SPSC) || !maxp ||
	    maxp > SHOAL_QUEUE_PARTICIPANTS_MAX || (q->spsc && maxp != 2) ||
	    hi.size < shoal__queue_header_bytes(maxp) ||
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

/*
 * The writable open of @name failed with @err. A service of another
 * pattern may refuse to be mapped writable (pub/sub seals its segments)
 * before its pattern can be looked at: ask again read-only, so that the
 * caller learns -EPROTO rather than a mapping error. Else @err stays,
 * with its detail.
 */
static int not_a_queue(struct shoal_registry *reg, const char *name, int err)
{
	struct shoal_service_info info;
	struct shoal_service *svc;
	char detail[256];

	snprintf(detail, sizeof(detail), "%s", shoal_last_error());
	if (shoal_registry_open(reg, name, SHOAL_OPEN_READ_ONLY, &svc) == 0) {
		shoal_service_get_info(svc, &info);
		shoal_service_close(svc);
		if (info.pattern != SHOAL_PATTERN_QUEUE)
			return shoal__fail(-EPROTO,
					   "queue: '%s' is not a queue", name);
	}
	return shoal__fail(err, "%s", detail);
}

int shoal_queue_open(const char *name, const struct shoal_queue_options *opts,
		     struct shoal_queue **out)
{
	struct shoal_queue_options defaults;
	struct shoal_service_info info;
	struct shoal__type want;
	struct shoal_queue *q;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "queue_open: NULL argument");
	if (!opts) {
		shoal_queue_options_init(&defaults);
		opts = &defaults;
	}
	q = alloc_handle(name, opts);
	if (!q)
		return shoal__fail(-ENOMEM, "queue: out of memory");
	err = shoal__registry_use(opts->registry, &q->reg, &q->own_reg);
	if (!err) {
		err = shoal_registry_open(q->reg, name, 0, &q->svc);
		if (err && err != -ENOENT)
			err = not_a_queue(q->reg, name, err);
	}
	if (err)
		return fail_closing(q, err);
	shoal_service_get_info(q->svc, &info);
	want.name = opts->type_name;
	want.size = opts->type_size;
	want.align = opts->type_align;
	if (info.pattern != SHOAL_PATTERN_QUEUE)
		err = shoal__fail(-EPROTO, "queue: '%s' is not a queue", name);
	if (!err)
		err = shoal__type_check("queue", &want, &info);
	if (!err)
		err = map_peer(q);
	if (!err)
		err = check_role(opts, q->spsc);
	if (!err)
		err = alloc_fds(q, 0);
	if (!err) {
		q->pidfd = shoal_service_pidfd(q->svc);
		err = join(q, shoal_segment_fd(q->seg));
	}
	if (err)
		return fail_closing(q, err);
	*out = q;
	return 0;
}

/* The eventfd of line @j, taken from the creator on first use. */
static int line_fd(struct shoal_queue *q, uint32_t j)
{
	int32_t owner_fd;

	if (q->fds[j] >= 0 || !q->svc)
		return q->fds[j];
	owner_fd = SHOAL__READ_ONCE(q->fd_table[j]);
	if (shoal__service_take_extra_fd(q->svc, j, owner_fd, &q->fds[j]))
		return -1;
	if (shoal__fd_is_eventfd(q->fds[j]) != 1) {
		close(q->fds[j]);
		q->fds[j] = -1;
	}
	return q->fds[j];
}

/*
 * After a push (@bitmap: consumers) or a pop (producers): fence, and if
 * someone of the other side sleeps, take one sleeper's bit and wake it.
 */
static void wake_one(struct shoal_queue *q, _Atomic uint32_t *bitmap)
{
	/* The notify fence: pairs with the sleeper's fence between setting
	 * its bit and retrying (shoal_waiter_arm): it sees our message or we
	 * its bit. */
	shoal__notify_fence();
	for (uint32_t w = 0; w < q->bitmap_words; w++) {
		uint32_t v =
			atomic_load_explicit(&bitmap[w], memory_order_relaxed);

		while (v) {
			uint32_t j = w * 32 + (uint32_t)__builtin_ctz(v);
			uint32_t bit = 1u << __builtin_ctz(v);
			int fd;

			v &= v - 1;
			if (!shoal__notify_take(&bitmap[w], bit))
				continue; /* someone else took it */
			if (j >= q->max_parts)
				continue; /* untrusted bit past the limit */
			fd = line_fd(q, j);
			if (fd >= 0 && !shoal__eventfd_wake(fd))
				q->wakeups++;
			else /* the next wake tries again */
				shoal__notify_give_back(&bitmap[w], bit);
			return;
		}
	}
}

/* Is the creator gone? Polls its pidfd only after a sleep, since a death
 * wakes sleepers (the pidfd is in the epoll set) and a spinner will sleep. */
static int creator_gone(struct shoal_queue *q, struct shoal_waiter *w)
{
	struct pollfd pfd = { .fd = q->pidfd, .events = POLLIN };

	if (q->gone)
		return 1;
	/* Acquire: pairs with the release store of closed in withdraw() or
	 * below (by whoever saw the creator die first). */
	if (atomic_load_explicit(&q->hdr->closed, memory_order_acquire))
		return q->gone = 1;
	if (q->pidfd < 0 || !shoal__waiter_slept(w, &q->checked_sleeps))
		return 0;
	if (poll(&pfd, 1, 0) == 1) {
		q->gone = 1;
		/* Tell everyone: pushers that never sleep would not see the
		 * pidfd, but they read this flag. Release: pairs with the
		 * acquire load above, in the other participants. */
		atomic_store_explicit(&q->hdr->closed, 1, memory_order_release);
	}
	return q->gone;
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
	const void *data; /* push */
	uint32_t len;
	void *buf; /* pop */
	size_t cap;
	void **slot;	    /* loan */
	const void **view;  /* take */
	uint32_t *view_len; /* take */
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
		/* Pushes stop at once; pops drain first (one more try, as
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
			 shoal_mpmc_claim(&q->mpmc, a->slot);
}

static int op_take(struct attempt *a)
{
	struct shoal_queue *q = a->q;

	return q->spsc ? shoal_spsc_peek(&q->sc, a->view, a->view_len) :
			 shoal_mpmc_peek(&q->mpmc, a->view, a->view_len);
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

static int start_push(struct shoal_queue *q, struct attempt *a)
{
	int err = may(q, SHOAL_QUEUE_PRODUCER);

	if (err)
		return err;
	if (q->loaned)
		return shoal__fail(-EBUSY, "queue: a loan is outstanding");
	if (q->gone ||
	    atomic_load_explicit(&q->hdr->closed, memory_order_relaxed))
		return shoal__fail(-EPIPE, "queue: '%s' was withdrawn",
				   q->name);
	memset(a, 0, sizeof(*a));
	a->q = q;
	a->w = &q->push_waiter;
	return 0;
}

static int start_pop(struct shoal_queue *q, struct attempt *a)
{
	int err = may(q, SHOAL_QUEUE_CONSUMER);

	if (err)
		return err;
	if (q->held)
		return shoal__fail(-EBUSY, "queue: a message is held");
	memset(a, 0, sizeof(*a));
	a->q = q;
	a->w = &q->pop_waiter;
	return 0;
}

int shoal_queue_push(struct shoal_queue *q, const void *data, uint32_t len,
		     int64_t timeout_ns)
{
	struct attempt a;
	int err = start_push(q, &a);

	if (err)
		return err;
	if (len > q->max_message)
		return shoal__fail(-EMSGSIZE,
				   "queue: %u-byte message, the queue takes "
				   "up to %u",
				   len, q->max_message);
	a.op = op_push;
	a.data = data;
	a.len = len;
	err = (int)run(&a, timeout_ns);
	if (!err)
		pushed(q, 1);
	return err;
}

ssize_t shoal_queue_pop(struct shoal_queue *q, void *buf, size_t cap,
			int64_t timeout_ns)
{
	struct attempt a;
	ssize_t n = start_pop(q, &a);

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

int shoal_queue_push_batch(struct shoal_queue *q,
			   const struct shoal_queue_msg *msgs, uint32_t n,
			   int64_t timeout_ns)
{
	struct attempt a;
	uint32_t done = 0;
	int err = start_push(q, &a);

	if (err)
		return err;
	if (!n)
		return shoal__fail(-EINVAL, "queue: empty batch");
	a.op = op_push;
	for (; done < n; done++) {
		if (msgs[done].len > q->max_message) {
			err = shoal__fail(-EMSGSIZE,
					  "queue: %u-byte message, the queue "
					  "takes up to %u",
					  msgs[done].len, q->max_message);
			break;
		}
		a.data = msgs[done].data;
		a.len = msgs[done].len;
		err = done ? op_push(&a) : (int)run(&a, timeout_ns);
		if (err)
			break;
	}
	if (!done)
		return err;
	pushed(q, done);
	return (int)done;
}

int shoal_queue_pop_batch(struct shoal_queue *q, struct shoal_queue_msg *msgs,
			  uint32_t n, int64_t timeout_ns)
{
	struct attempt a;
	uint32_t done = 0;
	ssize_t got = start_pop(q, &a);

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

int shoal_queue_loan(struct shoal_queue *q, void **buf, int64_t timeout_ns)
{
	struct attempt a;
	int err = start_push(q, &a);

	if (err)
		return err;
	a.op = op_loan;
	a.slot = buf;
	err = (int)run(&a, timeout_ns);
	if (!err)
		q->loaned = 1;
	return err;
}

int shoal_queue_send(struct shoal_queue *q, uint32_t len)
{
	int err;

	if (!q->loaned)
		return shoal__fail(-EINVAL, "queue_send: nothing loaned");
	err = q->spsc ? shoal_spsc_commit(&q->sp, len) :
			shoal_mpmc_commit(&q->mpmc, len);
	if (err)
		return err;
	q->loaned = 0;
	pushed(q, 1);
	return 0;
}

int shoal_queue_abort(struct shoal_queue *q)
{
	if (!q->loaned)
		return shoal__fail(-EINVAL, "queue_abort: nothing loaned");
	if (q->spsc)
		shoal_spsc_abort(&q->sp);
	else
		shoal_mpmc_abort(&q->mpmc);
	q->loaned = 0;
	/* A consumer may be waiting at the aborted position. */
	if (!q->spsc)
		wake_one(q, q->hdr->consumers_asleep);
	return 0;
}

int shoal_queue_take(struct shoal_queue *q, const void **data, uint32_t *len,
		     int64_t timeout_ns)
{
	struct attempt a;
	int err = start_pop(q, &a);

	if (err)
		return err;
	a.op = op_take;
	a.view = data;
	a.view_len = len;
	err = (int)run(&a, timeout_ns);
	if (!err)
		q->held = 1;
	return err;
}

int shoal_queue_release(struct shoal_queue *q)
{
	if (!q->held)
		return shoal__fail(-EINVAL, "queue_release: nothing taken");
	if (q->spsc)
		shoal_spsc_release(&q->sc);
	else
		shoal_mpmc_release(&q->mpmc);
	q->held = 0;
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
	memset(&q, 0, sizeof(q));
	snprintf(q.name, sizeof(q.name), "%s", name);
	err = shoal__registry_use(reg, &q.reg, &q.own_reg);
	if (!err)
		err = shoal_registry_open(q.reg, name, SHOAL_OPEN_READ_ONLY,
					  &q.svc);
	if (!err) {
		struct shoal_service_info info;

		shoal_service_get_info(q.svc, &info);
		if (info.pattern != SHOAL_PATTERN_QUEUE)
			err = shoal__fail(-EPROTO, "queue: '%s' is not a queue",
					  name);
	}
	if (!err)
		err = map_peer(&q);
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
	if (q->loaned)
		shoal_queue_abort(q);
	if (q->held)
		shoal_queue_release(q);
	atomic_fetch_and_explicit(&q->hdr->consumers_asleep[q->index / 32],
				  ~(1u << (q->index % 32)),
				  memory_order_relaxed);
	atomic_fetch_and_explicit(&q->hdr->producers_asleep[q->index / 32],
				  ~(1u << (q->index % 32)),
				  memory_order_relaxed);
	/* Release: as in join(); read relaxed by shared_stats() only. */
	atomic_store_explicit(&q->line->state, SHOAL__QUEUE_LINE_FREE,
			      memory_order_release);
	q->line = NULL;
}

/* The creator's last act: tell everyone, and wake every sleeper. */
static void withdraw(struct shoal_queue *q)
{
	/* Release: pairs with the acquire load in creator_gone(). */
	atomic_store_explicit(&q->hdr->closed, 1, memory_order_release);
	shoal__notify_all(q->fds, q->max_parts);
}

void shoal_queue_close(struct shoal_queue *q)
{
	if (!q)
		return;
	leave(q);
	/* Withdraw the name before waking anyone, so nobody rejoins. */
	shoal_entry_destroy(q->entry);
	if (q->entry && q->hdr)
		withdraw(q);
	if (q->lock_fd >= 0)
		close(q->lock_fd); /* drops the line's lock */
	for (uint32_t i = 0; q->fds && i < q->max_parts; i++)
		if (q->fds[i] >= 0)
			close(q->fds[i]);
	free(q->fds);
	if (q->epfd >= 0)
		close(q->epfd);
	if (q->entry)
		shoal_segment_destroy(q->seg);
	else if (!q->svc)
		shoal_segment_destroy(q->seg); /* a creation that failed */
	shoal_service_close(q->svc);
	if (q->own_reg)
		shoal_registry_destroy(q->reg);
	free(q);
}
