/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe: the publisher side (creation, loans, gating, wake-ups)
 * and the subscriber side (joining, taking, waiting, reattaching).
 *
 * The memory protocol (seqlock slots, cursors, reliable gating on a cached
 * minimum, joining by generation, the premark, batches) is the broadcast
 * ring's, src/ring/ring_bcast.[ch] (docs/bcast-ring.md); this file puts it
 * in segments and adds what needs system calls:
 *  - Liveness is an OFD lock each subscriber holds on one byte of the
 *    subscriber memfd: the kernel drops it when the subscriber dies, and
 *    F_OFD_GETLK (the ring's liveness callback, line_alive()) tells the
 *    publisher, whose ring then evicts the line.
 *  - Wake-ups: a subscriber about to sleep sets its bit in the sleeper
 *    bitmap, fences and re-checks (notify.c's protocol); the publisher,
 *    after each send's full fence (shoal__bcast_publish), loads the bitmap
 *    words: with nobody asleep that is one or a few loads whatever the
 *    number of subscribers.
 *  - A reliable publisher out of room spins, then sleeps through notify
 *    (shoal_wait on header.waiting and its eventfd: mark, seq_cst fence,
 *    re-check the cursors); a subscriber that moves its cursor fences
 *    (seq_cst) and writes that eventfd when it sees the mark, so no
 *    wake-up is missed (make_room()). A publisher waiting for subscribers
 *    sleeps the same way, and a joining subscriber wakes it
 *    (shoal_pub_wait_subscribers()).
 * Everything read from the subscriber segment is untrusted: cursors are
 * clamped, bitmap bits beyond the limit ignored, indices never used before
 * a bounds check, and the publisher never writes there at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "service/service.h"
#include "patterns/pubsub_internal.h"
#include "ring/ring_bcast.h"
#include "registry/registry_internal.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_PAYLOAD 4096
#define DEFAULT_SUBSCRIBERS 64
/* How long a blocked publisher spins before it sleeps. */
#define PUB_SPIN_NS (20 * 1000)

/* ------------------------------------------------------------------------
 * Publisher
 */

struct shoal_pub {
	/* The payload segment (own.seg), the subscribers' (own.lines_seg),
	 * the entry and the fd table: the service layer's. */
	struct shoal__owner own;
	struct shoal__pubsub_header *hdr;
	_Atomic uint64_t *wakeups;
	uint8_t *slots;
	struct shoal__pubsub_subs_header *sh;
	_Atomic uint32_t *bitmap;
	struct shoal__pubsub_sub_line *lines;
	int subs_fd;   /* for F_OFD_GETLK */
	int eventfd;   /* wakes this publisher when it waits for room */
	int *wake_fds; /* own.wake_fds: one eventfd per subscriber line */
	uint32_t bitmap_words;
	uint32_t delivery, capacity, mask, stride, max_payload, uh_size;
	uint32_t max_subs, flags;
	int64_t send_timeout_ns;
	uint64_t epoch;
	/* The memory protocol: head, gating, premark (ring/ring_bcast.h). */
	struct shoal__bcast_pub ring;
	/* A batch out (shoal_pub_loan_batch()): @batch slots from head on,
	 * each of @loan_size bytes. Else the single loans, seqs [ring.head,
	 * ring.loan_end), each in loans[seq % SHOAL_PUB_LOANS_MAX]. */
	uint32_t batch;
	uint32_t loan_size;
	uint32_t max_loans;
	uint64_t skipped; /* skip markers published */
	struct pub_loan {
		uint32_t state; /* LOAN_* */
		uint32_t size;	/* bytes loaned */
		uint32_t len;	/* bytes sent (LOAN_SENT) */
	} loans[SHOAL_PUB_LOANS_MAX];
	/* Sleeps for room (reliable): marks header.waiting, polls eventfd.
	 * Last, so that the fields the send path uses keep their lines. */
	struct shoal_waiter room_waiter;
	/* The service's publisher limit and our slot (not on the send
	 * path: after it, so as not to move its fields). */
	uint32_t max_pubs, slot;
};

/* A single loan's state (struct pub_loan). */
enum {
	LOAN_OUT = 1, /* loaned, the caller writes it */
	LOAN_SENT,    /* sent, waiting for an earlier loan */
	LOAN_ABORTED, /* given back, a later loan still out */
};

void shoal_pub_options_init(struct shoal_pub_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->delivery = SHOAL_DELIVERY_RELIABLE;
	opts->capacity = DEFAULT_CAPACITY;
	opts->max_payload = DEFAULT_MAX_PAYLOAD;
	opts->max_subscribers = DEFAULT_SUBSCRIBERS;
	opts->send_timeout_ns = SHOAL_WAIT_FOREVER;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->max_loans = 1;
}

static int check_pub_options(const struct shoal_pub_options *o)
{
	if (o->delivery != SHOAL_DELIVERY_RELIABLE &&
	    o->delivery != SHOAL_DELIVERY_LOSSY)
		return shoal__fail(-EINVAL, "pub: unknown delivery %u",
				   (unsigned)o->delivery);
	if (!shoal__is_pow2(o->capacity) || o->capacity < 2 ||
	    o->capacity > SHOAL_PUB_CAPACITY_MAX)
		return shoal__fail(-EINVAL,
				   "pub: capacity %u is not a power of two "
				   "in 2..%u",
				   o->capacity, SHOAL_PUB_CAPACITY_MAX);
	if (o->max_payload == 0 || o->max_payload > SHOAL_PUB_PAYLOAD_MAX)
		return shoal__fail(-EINVAL, "pub: max_payload %u not in 1..%u",
				   o->max_payload, SHOAL_PUB_PAYLOAD_MAX);
	if (o->user_header_size % 8 ||
	    o->user_header_size > SHOAL_PUB_USER_HEADER_MAX)
		return shoal__fail(-EINVAL,
				   "pub: user_header_size %u is not a multiple "
				   "of 8 up to %u",
				   o->user_header_size,
				   SHOAL_PUB_USER_HEADER_MAX);
	if (o->history >= o->capacity)
		return shoal__fail(-EINVAL,
				   "pub: history %u must be below the "
				   "capacity %u",
				   o->history, o->capacity);
	if (o->max_subscribers == 0 ||
	    o->max_subscribers > SHOAL_PUB_SUBSCRIBERS_MAX)
		return shoal__fail(-EINVAL,
				   "pub: max_subscribers %u not in 1..%u",
				   o->max_subscribers,
				   SHOAL_PUB_SUBSCRIBERS_MAX);
	if (o->flags & ~(uint32_t)SHOAL_PUB_TIMESTAMP)
		return shoal__fail(-EINVAL, "pub: unknown flags 0x%x",
				   o->flags);
	if (o->max_publishers > SHOAL_PUB_PUBLISHERS_MAX)
		return shoal__fail(-EINVAL,
				   "pub: max_publishers %u not in 1..%u",
				   o->max_publishers, SHOAL_PUB_PUBLISHERS_MAX);
	/* Below the capacity: the loans' slots must not alias, and a
	 * reliable joiner must start at or before the first of them
	 * (shoal__bcast_loan_announce()). */
	if (o->max_loans == 0 || o->max_loans > SHOAL_PUB_LOANS_MAX ||
	    o->max_loans >= o->capacity)
		return shoal__fail(-EINVAL,
				   "pub: max_loans %u not in 1..%u and below "
				   "the capacity %u",
				   o->max_loans, SHOAL_PUB_LOANS_MAX,
				   o->capacity);
	return 0;
}

/* The segments, the eventfds and the fd table, through the service
 * layer; then our views of the objects. */
static int create_service(struct shoal_pub *p, const char *name,
			  struct shoal_registry *registry)
{
	uint64_t slots_bytes = (uint64_t)p->capacity * p->stride;
	struct shoal_object_spec payload[2] = {
		{ SHOAL__PUBSUB_HEADER_OBJECT, SHOAL__OBJECT_PUBSUB_HEADER, 64,
		  header_bytes(p->max_subs) },
		{ SHOAL__PUBSUB_SLOTS_OBJECT, SHOAL__OBJECT_PUBSUB_SLOTS, 64,
		  slots_bytes },
	};
	struct shoal_object_spec subs = { SHOAL__PUBSUB_SUBS_OBJECT,
					  SHOAL__OBJECT_PUBSUB_SUBS, 64,
					  subs_bytes(p->max_subs) };
	struct shoal__owner_spec spec = shoal__owner_spec_lines(
		name, registry, p->max_subs, payload, 2, &subs, 1);
	int err;

	if (slots_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG,
				   "pub: %u slots of %u bytes is too large",
				   p->capacity, p->stride);
	p->eventfd = shoal_eventfd_create();
	if (p->eventfd < 0)
		return p->eventfd;
	err = shoal__owner_create(&p->own, &spec);
	if (err)
		return err;
	p->wake_fds = p->own.wake_fds;
	p->epoch = p->own.epoch;
	p->hdr = shoal__owner_object(p->own.seg, SHOAL__PUBSUB_HEADER_OBJECT);
	p->wakeups = wakeups_table(p->hdr, p->max_subs);
	p->slots = shoal__owner_object(p->own.seg, SHOAL__PUBSUB_SLOTS_OBJECT);
	p->sh = shoal__owner_object(p->own.lines_seg,
				    SHOAL__PUBSUB_SUBS_OBJECT);
	p->bitmap = subs_bitmap(p->sh);
	p->lines = subs_lines(p->sh, p->max_subs);
	p->subs_fd = shoal_segment_fd(p->own.lines_seg);
	p->bitmap_words = (p->max_subs + 31) / 32;
	return 0;
}

static void format(struct shoal_pub *p)
{
	struct shoal__pubsub_header *h = p->hdr;

	/* One publisher: version 3, line 0 byte for byte as before. */
	h->ident = (struct shoal__ident){ SHOAL__PUBSUB_MAGIC,
					  p->max_pubs > 1 ?
						  SHOAL__PUBSUB_VERSION_MULTI :
						  SHOAL__PUBSUB_VERSION };
	if (p->max_pubs > 1)
		h->max_publishers = p->max_pubs;
	h->delivery = p->delivery;
	h->capacity = p->capacity;
	h->slot_stride = p->stride;
	h->max_payload = p->max_payload;
	h->user_header_size = p->uh_size;
	h->history = 0;
	h->max_subscribers = p->max_subs;
	h->flags = p->flags;
	h->subs_memfd = p->subs_fd;
	shoal__owner_fd_numbers(&p->own, wake_fd_table(h));
	p->sh->magic = SHOAL__PUBSUB_SUBS_MAGIC;
	p->sh->max_subscribers = p->max_subs;
}

static int ring_init(struct shoal_pub *p);

/* What the other publishers of the name must agree with, from ours. */
static void own_geometry(const struct shoal_pub *p, struct pubsub_geometry *g)
{
	memset(g, 0, sizeof(*g));
	g->max_pubs = p->max_pubs;
	g->delivery = p->delivery;
	g->max_payload = p->max_payload;
	g->uh_size = p->uh_size;
	g->flags = p->flags;
}

/* The live publisher of @sname agrees with us: 0, -EINVAL naming the
 * field, -ENOENT (nobody there now), or what opening it returns. */
static int check_other(struct shoal_pub *p, const char *name, const char *sname,
		       uint32_t slot)
{
	struct pubsub_geometry mine, theirs;
	const char *field;
	int err;

	err = shoal__pubsub_slot_geometry(p->own.reg, sname, &theirs);
	if (err)
		return err;
	own_geometry(p, &mine);
	field = shoal__pubsub_disagree(&mine, &theirs);
	if (field)
		return shoal__fail(-EINVAL,
				   "pub: '%s': %s differs from publisher "
				   "slot %u's",
				   name, field, slot);
	return 0;
}

/*
 * Publishes under the first free slot of @name (max_publishers > 1),
 * checking every live publisher found on the way, then every other live
 * one again once published (one with other options may have taken a slot
 * we passed meanwhile). 0, -EINVAL, -EBUSY, or what publishing returns.
 */
static int join_slots(struct shoal_pub *p, const char *name,
		      const struct shoal_pub_options *opts)
{
	char sname[SHOAL_SERVICE_NAME_MAX + 1];
	uint32_t slot;
	int err = -EBUSY;

	for (slot = 0; slot < p->max_pubs; slot++) {
		err = shoal__slot_name(name, slot, sname);
		if (err)
			return err;
		/* Nobody has seen the segment yet: a failed publish linked
		 * nothing. */
		p->hdr->slot = slot;
		for (int tries = 0; tries < 3; tries++) {
			err = shoal__owner_announce(&p->own, sname,
						    SHOAL_PATTERN_PUBSUB,
						    opts->access,
						    &SHOAL__TYPE_OF(opts),
						    &p->eventfd, 1);
			if (err != -EEXIST)
				break;
			err = check_other(p, name, sname, slot);
			if (err == -EINVAL)
				return err;
			if (err == -ENOENT || err == -EPIPE)
				continue; /* it left meanwhile: try again */
			/* Live and agreeing, or unreadable to us: taken. */
			err = -EEXIST;
			break;
		}
		if (!err)
			break;
		if (err != -EEXIST && err != -ENOENT && err != -EPIPE)
			return err;
	}
	if (slot == p->max_pubs)
		return shoal__fail(-EBUSY,
				   "pub: '%s': max_publishers (%u) reached",
				   name, p->max_pubs);
	p->slot = slot;
	for (uint32_t j = 0; j < p->max_pubs; j++) {
		if (j == slot || shoal__slot_name(name, j, sname))
			continue;
		err = check_other(p, name, sname, j);
		if (err == -EINVAL)
			return err; /* the caller withdraws */
	}
	return 0;
}

int shoal_pub_create(const char *name, const struct shoal_pub_options *opts,
		     struct shoal_pub **out)
{
	struct shoal_pub_options defaults;
	struct shoal_pub *p;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_pub_options_init);
	err = shoal__check_open("pub_create", name, out, 0, 0, 0);
	if (!err)
		err = check_pub_options(opts);
	if (err)
		return err;
	/* A slot's own name is the registry's, not the caller's. */
	if (shoal__name_slot(name) != 0)
		return shoal__fail(
			-EINVAL, "pub: '%s' is a publisher slot's name", name);
	p = shoal__handle_alloc(sizeof(*p), "pub");
	if (!p)
		return -ENOMEM;
	p->eventfd = -1;
	p->subs_fd = -1;
	p->delivery = opts->delivery;
	p->capacity = opts->capacity;
	p->mask = opts->capacity - 1;
	p->max_payload = opts->max_payload;
	p->uh_size = opts->user_header_size;
	p->stride = slot_stride(p->uh_size, p->max_payload);
	p->max_subs = opts->max_subscribers;
	p->flags = opts->flags;
	p->send_timeout_ns = opts->send_timeout_ns;
	p->max_pubs = opts->max_publishers ? opts->max_publishers : 1;
	p->max_loans = opts->max_loans;
	err = create_service(p, name, opts->registry);
	if (!err) {
		format(p);
		p->hdr->history = opts->history;
		if (p->max_pubs == 1)
			err = shoal__owner_announce(&p->own, name,
						    SHOAL_PATTERN_PUBSUB,
						    opts->access,
						    &SHOAL__TYPE_OF(opts),
						    &p->eventfd, 1);
		else
			err = join_slots(p, name, opts);
	}
	if (!err)
		err = ring_init(p);
	if (!err)
		shoal__waiter_setup(&p->room_waiter, &p->hdr->waiting, 0, NULL,
				    p->eventfd, p->eventfd, SHOAL_WAIT_BLOCK);
	SHOAL__HAND_OUT(err, p, shoal_pub_destroy, out);
}

void shoal_pub_destroy(struct shoal_pub *p)
{
	if (!p)
		return;
	/* Withdraw, close and wake every sleeper so it sees the close. */
	shoal__owner_withdraw(&p->own, p->hdr ? &p->hdr->closed : NULL);
	shoal__owner_fini(&p->own);
	if (p->eventfd >= 0)
		close(p->eventfd);
	shoal__bcast_pub_fini(&p->ring);
	free(p);
}

/* The ring's liveness callback: a line is alive while its owner holds the
 * OFD lock on its byte of the subscriber memfd (service/line_lock.h). */
static int line_alive(void *user_data, uint32_t line)
{
	struct shoal_pub *p = user_data;

	return shoal__line_locked(p->subs_fd, line);
}

/* Puts the broadcast ring over the segments just made. */
static int ring_init(struct shoal_pub *p)
{
	struct shoal__bcast_map m = {
		.pub = &p->hdr->ring,
		.slots = p->slots,
		.generation = &p->sh->generation,
		.lines = (uint8_t *)p->lines,
		.line_stride = sizeof(struct shoal__pubsub_sub_line),
		.max_lines = p->max_subs,
		.capacity = p->capacity,
		.stride = p->stride,
		.max_payload = p->max_payload,
		.uh_size = p->uh_size,
	};

	return shoal__bcast_pub_init(&p->ring, &m,
				     p->delivery == SHOAL_DELIVERY_RELIABLE,
				     line_alive, p);
}

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
 * What a publisher waiting for room waits for: the next message fits. The
 * lines' liveness (a system call per line) is asked only when the live
 * cursors give no room.
 */
static int room_ready(void *arg)
{
	struct shoal_pub *p = arg;
	uint64_t seq = p->ring.loan_end;

	if (shoal__bcast_room(&p->ring, seq))
		return 1;
	return evict_dead(p) && shoal__bcast_room_known(&p->ring, seq);
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
	uint64_t seq = p->ring.loan_end;
	int64_t deadline, now, spin_until;
	int err;

	if (shoal__bcast_room(&p->ring, seq))
		return 0;
	atomic_fetch_add_explicit(&p->hdr->blocked, 1, memory_order_relaxed);
	/* Liveness costs a system call per line: look when the wait starts,
	 * never while spinning. */
	if (evict_dead(p) && shoal__bcast_room_known(&p->ring, seq))
		return 0;
	deadline = shoal__deadline(p->send_timeout_ns);
	now = shoal__now_ns();
	spin_until = now + PUB_SPIN_NS;
	while (p->send_timeout_ns != 0 && now < spin_until &&
	       (deadline < 0 || now < deadline)) {
		for (int i = 0; i < 64; i++) {
			if (shoal__bcast_room(&p->ring, seq))
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
	return shoal__fail(-EAGAIN,
			   "pub: a subscriber is %u messages behind and did "
			   "not make room in time",
			   p->capacity);
}

int shoal_pub_loan(struct shoal_pub *p, uint32_t size, void **ptr)
{
	struct shoal__bcast_slot *s;
	struct pub_loan *l;
	int err;

	if (p->batch)
		return shoal__fail(-EBUSY, "pub: a batch loan is out");
	if (p->ring.loan_end - p->ring.head >= p->max_loans)
		return shoal__fail(-EBUSY,
				   "pub: %u loans are out (max_loans), "
				   "sent or not",
				   p->max_loans);
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
	l = &p->loans[p->ring.loan_end % SHOAL_PUB_LOANS_MAX];
	s = shoal__bcast_loan(&p->ring);
	l->state = LOAN_OUT;
	l->size = size;
	*ptr = shoal__bcast_payload(&p->ring.m, s);
	return 0;
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

/* The single loan @ptr, still out (not sent, not aborted): its seq. */
static int check_loan(struct shoal_pub *p, void *ptr, uint64_t *seq)
{
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

/* The end of writing the next message into @s: length, timestamp if the
 * service stamps them, even stamp. */
static inline void complete(struct shoal_pub *p, struct shoal__bcast_slot *s,
			    uint32_t len)
{
	int ts = (p->flags & SHOAL_PUB_TIMESTAMP) != 0;

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
static void wake_sleepers(struct shoal_pub *p)
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
	if (p->ring.head == first)
		return;
	/* Head, full fence, premark: the fence also orders the wake-up's
	 * loads of the sleeper bitmap below (see wake_sleepers()). */
	shoal__bcast_publish(&p->ring);
	wake_sleepers(p);
}

int shoal_pub_send(struct shoal_pub *p, void *ptr, uint32_t len)
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
	/* The common case, the oldest loan: straight out. */
	if (seq == p->ring.head && p->ring.loan_end == seq + 1) {
		complete(p, shoal__bcast_slot_at(&p->ring.m, seq), len);
		l->state = 0;
		shoal__bcast_publish(&p->ring);
		wake_sleepers(p);
		return 0;
	}
	l->state = LOAN_SENT;
	l->len = len;
	/* Published now if only sent or aborted loans come before it. */
	publish_loans(p);
	return 0;
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
	 * part, and readers of it see a lap, which is what it is). */
	while (p->ring.loan_end != p->ring.head &&
	       p->loans[(p->ring.loan_end - 1) % SHOAL_PUB_LOANS_MAX].state ==
		       LOAN_ABORTED) {
		p->loans[(p->ring.loan_end - 1) % SHOAL_PUB_LOANS_MAX].state =
			0;
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
		memcpy((uint8_t *)ptr - p->ring.m.data_off +
			       SHOAL__BCAST_SLOT_HEADER,
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

int shoal_pub_write_batch(struct shoal_pub *p, const struct shoal_pub_msg *msgs,
			  uint32_t n)
{
	uint32_t k, j;
	int err;

	if (!n || !msgs)
		return shoal__fail(-EINVAL, "pub: an empty batch");
	if (p->ring.loan_end != p->ring.head)
		return shoal__fail(-EBUSY, "pub: a loan is already out");
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
	shoal__bcast_publish(&p->ring);
	wake_sleepers(p);
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

		if (ptrs[j] != shoal__bcast_payload(&p->ring.m, sl))
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
	while (p->ring.loan_end != p->ring.head)
		shoal__bcast_unloan(&p->ring);
	p->batch = 0;
	if (!n)
		return 0;
	/* As in shoal_pub_send(), once for the batch: one store of head,
	 * one fence, one pass over the sleeper bitmap. */
	shoal__bcast_publish(&p->ring);
	wake_sleepers(p);
	return (int)n;
}

uint64_t shoal_pub_epoch(const struct shoal_pub *p)
{
	return p->epoch;
}

uint32_t shoal_pub_subscribers(struct shoal_pub *p)
{
	return shoal__bcast_subscribers(&p->ring);
}

struct subs_wait {
	struct shoal_pub *p;
	uint32_t n;
};

/* What wait_subscribers() waits for: a count (a rescan of the lines, one
 * liveness look each) of at least n. */
static int subs_ready(void *arg)
{
	struct subs_wait *w = arg;

	return shoal__bcast_subscribers(&w->p->ring) >= w->n;
}

/*
 * Sleeps through notify on header.waiting and the publisher's eventfd, as
 * make_room() does (the handle is single-threaded: never both at once). A
 * joining subscriber stores ACTIVE, then fences and writes the eventfd if
 * it sees the mark (attach() in pubsub_sub.c): either our re-count after
 * the mark sees it, or it sees the mark.
 */
int shoal_pub_wait_subscribers(struct shoal_pub *p, uint32_t n,
			       int64_t timeout_ns)
{
	struct subs_wait w = { p, n };
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (!p)
		return shoal__fail(-EINVAL, "pub: NULL publisher");
	if (n > p->max_subs)
		return shoal__fail(-EINVAL,
				   "pub: %u subscribers asked, at most %u "
				   "can attach",
				   n, p->max_subs);
	for (;;) {
		int err;

		if (subs_ready(&w))
			return 0;
		err = shoal__wait_step(&p->room_waiter, subs_ready, &w,
				       timeout_ns, &deadline, -1,
				       "pub: fewer subscribers came than "
				       "waited for");
		if (err == -EAGAIN)
			return shoal__fail(-EAGAIN,
					   "pub: fewer than %u subscribers", n);
		if (err < 0)
			return err;
	}
}

void shoal_pub_get_stats(const struct shoal_pub *p, struct shoal_pub_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sent = p->ring.head - p->skipped;
	st->skipped = p->skipped;
	st->blocked =
		atomic_load_explicit(&p->hdr->blocked, memory_order_relaxed);
	st->failed =
		atomic_load_explicit(&p->hdr->failed, memory_order_relaxed);
	st->wakeups =
		atomic_load_explicit(&p->hdr->wakeups, memory_order_relaxed);
	st->evicted =
		atomic_load_explicit(&p->hdr->evicted, memory_order_relaxed);
	st->slot = p->slot;
	st->subscribers = p->ring.ncounted;
}
