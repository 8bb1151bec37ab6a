/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe, the publisher's life: options, creation (or joining
 * a service of several publishers), the ring over the segments, waiting for
 * subscribers, stats, withdrawal. What a send does (room, loans, gating,
 * wake-ups) is in pubsub_send.c, on the struct in pubsub_pub_internal.h.
 *
 * The memory protocol (seqlock slots, cursors, reliable gating on a cached
 * minimum, joining by generation, the premark, batches) is the broadcast
 * ring's, src/ring/ring_bcast.[ch] (docs/bcast-ring.md); this file puts it
 * in segments and adds what needs system calls:
 *  - Liveness is an OFD lock each subscriber holds on one byte of the
 *    subscriber memfd: the kernel drops it when the subscriber dies, and
 *    F_OFD_GETLK (the ring's liveness callback, line_alive()) tells the
 *    publisher, whose ring then evicts the line.
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
#include "patterns/pubsub_pub_internal.h"
#include "patterns/pubsub_pool.h"
#include "ring/ring_bcast.h"
#include "registry/registry_internal.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_PAYLOAD 4096
#define DEFAULT_SUBSCRIBERS 64

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

/* What every payload address of the ring @o describes is aligned to: the
 * slots' (shoal__bcast_payload_align()) or, with pools, the chunks' 64. */
static uint32_t payload_align(const struct shoal_pub_options *o)
{
	if (o->npools || o->pools)
		return SHOAL__BCAST_LINE_BYTES;
	return shoal__bcast_payload_align(o->user_header_size, o->max_payload);
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
	if (o->npools || o->pools) {
		int err = shoal__pools_check_options(o->pools, o->npools,
						     o->max_payload);

		if (err)
			return err;
	} else if (o->max_payload == 0 ||
		   o->max_payload > SHOAL_PUB_PAYLOAD_MAX) {
		return shoal__fail(-EINVAL, "pub: max_payload %u not in 1..%u",
				   o->max_payload, SHOAL_PUB_PAYLOAD_MAX);
	}
	if (o->user_header_size % 8 ||
	    o->user_header_size > SHOAL_PUB_USER_HEADER_MAX)
		return shoal__fail(-EINVAL,
				   "pub: user_header_size %u is not a multiple "
				   "of 8 up to %u",
				   o->user_header_size,
				   SHOAL_PUB_USER_HEADER_MAX);
	if (o->type_align > payload_align(o))
		return shoal__fail(-EINVAL,
				   "pub: type_align %u, but this ring's "
				   "payloads are only %u-byte aligned (slots "
				   "of up to 128 bytes: 8; larger slots and "
				   "payload pools: 64)",
				   o->type_align, payload_align(o));
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
	if (o->flags &
	    ~(uint32_t)(SHOAL_PUB_TIMESTAMP | SHOAL_PUB_TRUSTED_SUBSCRIBERS))
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
			  const struct shoal_pub_options *opts)
{
	struct shoal_registry *registry = opts->registry;
	uint64_t slots_bytes = (uint64_t)p->capacity * p->stride;
	struct shoal_object_spec payload[3] = {
		{ SHOAL__PUBSUB_HEADER_OBJECT, SHOAL__OBJECT_PUBSUB_HEADER, 64,
		  header_bytes(p->max_subs) },
		{ SHOAL__PUBSUB_SLOTS_OBJECT, SHOAL__OBJECT_PUBSUB_SLOTS, 64,
		  slots_bytes },
		/* Pools: their chunks' data 64-aligned from the object's
		 * start (pubsub_pool.c), so the object on a page. */
		{ SHOAL__PUBSUB_POOLS_OBJECT, SHOAL__OBJECT_PUBSUB_POOLS, 4096,
		  opts->npools ? shoal__pools_bytes(opts->pools, opts->npools) :
				 0 },
	};
	struct shoal_object_spec subs = { SHOAL__PUBSUB_SUBS_OBJECT,
					  SHOAL__OBJECT_PUBSUB_SUBS, 64,
					  subs_bytes(p->max_subs) };
	struct shoal__owner_spec spec =
		shoal__owner_spec_lines(name, registry, p->max_subs, payload,
					opts->npools ? 3 : 2, &subs, 1);
	int err;

	spec.origin = opts->origin;

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
	if (opts->npools) {
		struct pubsub_pools pp;

		shoal__pools_format(
			shoal__owner_object(p->own.seg,
					    SHOAL__PUBSUB_POOLS_OBJECT),
			opts->pools, opts->npools, &pp);
		err = shoal__pool_pub_init(&p->pools, &pp);
		p->pooled = 1;
	}
	return err;
}

static void format(struct shoal_pub *p)
{
	struct shoal__pubsub_header *h = p->hdr;

	/* One publisher: version 4, line 0 byte for byte as before. */
	h->ident = (struct shoal__ident){ SHOAL__PUBSUB_MAGIC,
					  p->pools.pp.n ?
						  SHOAL__PUBSUB_VERSION_POOLS :
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
	/* With pools a slot holds a reference; the payload is in a chunk. */
	p->max_payload = opts->npools ?
				 (uint32_t)sizeof(struct shoal__pool_ref) :
				 opts->max_payload;
	p->uh_size = opts->user_header_size;
	p->stride = slot_stride(p->uh_size, p->max_payload);
	p->max_subs = opts->max_subscribers;
	p->flags = opts->flags;
	p->send_timeout_ns = opts->send_timeout_ns;
	p->max_pubs = opts->max_publishers ? opts->max_publishers : 1;
	p->max_loans = opts->max_loans;
	err = create_service(p, name, opts);
	p->plain = !p->pooled && !(p->flags & SHOAL_PUB_TIMESTAMP);
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
		err = shoal__pub_ring_init(p);
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
	shoal__pool_pub_fini(&p->pools);
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
int shoal__pub_ring_init(struct shoal_pub *p)
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

	int err = shoal__bcast_pub_init(&p->ring, &m,
					p->delivery == SHOAL_DELIVERY_RELIABLE,
					line_alive, p);

	if (!err && (p->flags & SHOAL_PUB_TRUSTED_SUBSCRIBERS))
		shoal__bcast_pub_trust_lines(&p->ring);
	return err;
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
 * it sees the mark (join_slot() in pubsub_sub_rings.c): either our
 * re-count after the mark sees it, or it sees the mark.
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
