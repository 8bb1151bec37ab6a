/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe: the publisher side (creation, loans, gating, wake-ups)
 * and the subscriber side (joining, taking, waiting, reattaching).
 *
 * The protocol, in brief (docs/pubsub.md has it in full):
 *  - Message seq lives in slot seq & (capacity - 1), guarded by a seqlock
 *    stamp (pubsub_layout.h). A subscriber's cursor is the next seq it
 *    takes; a stamp newer than its cursor means it was lapped.
 *  - Reliable: before writing seq the publisher makes sure
 *    seq - capacity < every live subscriber's cursor. It caches the minimum
 *    (Disruptor-style) and rescans only when the cache says "full" or a
 *    subscriber joined or left (the subscriber segment's generation word).
 *    Liveness is an OFD lock each subscriber holds on one byte of the
 *    subscriber memfd: the kernel drops it when the subscriber dies, and
 *    F_OFD_GETLK tells the publisher, who then evicts the line.
 *  - Wake-ups: a subscriber about to sleep sets its bit in the sleeper
 *    bitmap, fences and re-checks (notify.c's protocol); the publisher,
 *    after each send, fences and loads the bitmap words: with nobody asleep
 *    that is one or a few loads whatever the number of subscribers.
 *  - A reliable publisher out of room sleeps in slices of at most
 *    PUB_WAIT_SLICE_NS on its own eventfd after setting header.waiting
 *    (notify's waiter, with the flag as its mark); a subscriber that
 *    advances writes that eventfd when it sees the flag. The subscriber
 *    does not fence for this (its take path stays fence-free), so a
 *    wake-up can be missed; the slice bounds the delay, as it bounds what
 *    a peer that reads the eventfd can do.
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
#include "registry/registry_internal.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_PAYLOAD 4096
#define DEFAULT_SUBSCRIBERS 64
/* Longest a blocked reliable publisher sleeps before re-checking. */
#define PUB_WAIT_SLICE_NS (1000 * 1000)
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
	uint64_t head; /* next seq, our own copy; hdr->head says the same */
	uint64_t epoch;
	/* Reliable gating: the live lines (JOINING or ACTIVE) as of
	 * generation known_gen, and the minimum of their cursors as last
	 * computed; ncounted of them were ACTIVE, i.e. joined. */
	uint32_t known_gen;
	uint32_t nactive;
	uint32_t ncounted;
	uint32_t *active;
	uint64_t min_cursor;
	/*
	 * head + 1 when the slot of head already carries its odd stamp (see
	 * premark_next()); 0 when the next loan must write it.
	 */
	uint64_t premarked;
	/* The outstanding loan. */
	int loaned;
	uint32_t loan_size;
	struct shoal__pubsub_slot *loan_slot;
	/* Sleeps for room (reliable): marks header.waiting, polls eventfd.
	 * Last, so that the fields the send path uses keep their lines. */
	struct shoal_waiter room_waiter;
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
	return 0;
}

/* The segments, the eventfds and the fd table, through the service
 * layer; then our views of the objects. */
static int create_service(struct shoal_pub *p, const char *name,
			  struct shoal_registry *registry)
{
	uint64_t slots_bytes = (uint64_t)p->capacity * p->stride;
	struct shoal_object_spec payload[2] = {
		{ SHOAL__PUBSUB_HEADER_OBJECT, SHOAL_OBJECT_PUBSUB_HEADER, 64,
		  header_bytes(p->max_subs) },
		{ SHOAL__PUBSUB_SLOTS_OBJECT, SHOAL_OBJECT_PUBSUB_SLOTS, 64,
		  slots_bytes },
	};
	struct shoal_object_spec subs = { SHOAL__PUBSUB_SUBS_OBJECT,
					  SHOAL_OBJECT_PUBSUB_SUBS, 64,
					  subs_bytes(p->max_subs) };
	struct shoal__owner_spec spec = {
		.name = name,
		.registry = registry,
		.lines = p->max_subs,
		.lines_memfd_first = 1,
		.objects = payload,
		.nobjects = 2,
		.seg_flags = SHOAL_SEGMENT_PEERS_READ_ONLY,
		.line_objects = &subs,
		.nline_objects = 1,
	};
	int err;

	if (slots_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG,
				   "pub: %u slots of %u bytes is too large",
				   p->capacity, p->stride);
	p->active = malloc(sizeof(uint32_t) * p->max_subs);
	if (!p->active)
		return shoal__fail(-ENOMEM, "pub: out of memory");
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
	int32_t *fds = wake_fd_table(h);

	h->magic = SHOAL__PUBSUB_MAGIC;
	h->version = SHOAL__PUBSUB_VERSION;
	h->delivery = p->delivery;
	h->capacity = p->capacity;
	h->slot_stride = p->stride;
	h->max_payload = p->max_payload;
	h->user_header_size = p->uh_size;
	h->history = 0;
	h->max_subscribers = p->max_subs;
	h->flags = p->flags;
	h->subs_memfd = p->subs_fd;
	for (uint32_t i = 0; i < p->max_subs; i++)
		fds[i] = p->wake_fds[i];
	p->sh->magic = SHOAL__PUBSUB_SUBS_MAGIC;
	p->sh->max_subscribers = p->max_subs;
}

int shoal_pub_create(const char *name, const struct shoal_pub_options *opts,
		     struct shoal_pub **out)
{
	struct shoal_pub_options defaults;
	struct shoal__announce a;
	struct shoal_pub *p;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "pub_create: NULL argument");
	if (!opts) {
		shoal_pub_options_init(&defaults);
		opts = &defaults;
	}
	err = check_pub_options(opts);
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return shoal__fail(-ENOMEM, "pub: out of memory");
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
	err = create_service(p, name, opts->registry);
	if (!err) {
		format(p);
		p->hdr->history = opts->history;
		a = (struct shoal__announce){
			.name = name,
			.pattern = SHOAL_PATTERN_PUBSUB,
			.access = opts->access,
			.type_name = opts->type_name,
			.type_size = opts->type_size,
			.type_align = opts->type_align,
			.eventfds = &p->eventfd,
			.eventfd_count = 1,
		};
		err = shoal__owner_announce(&p->own, &a);
	}
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_pub_destroy(p);
		return shoal__detail_fail(&d, err);
	}
	p->known_gen =
		atomic_load_explicit(&p->sh->generation, memory_order_acquire) -
		1; /* force a first scan */
	shoal__waiter_setup(&p->room_waiter, &p->hdr->waiting, 0, NULL,
			    p->eventfd, p->eventfd, SHOAL_WAIT_BLOCK);
	*out = p;
	return 0;
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
	free(p->active);
	free(p);
}

/* A subscriber's cursor, clamped into [seq - capacity, seq]. */
static uint64_t read_cursor(const struct shoal_pub *p, uint32_t i, uint64_t seq)
{
	uint64_t c =
		atomic_load_explicit(&p->lines[i].cursor, memory_order_acquire);

	if ((int64_t)(seq - c) < 0)
		return seq; /* ahead of the publisher: gates nothing */
	if (seq - c > p->capacity)
		return seq - p->capacity; /* gates fully until it moves */
	return c;
}

static void recompute_min(struct shoal_pub *p, uint64_t seq)
{
	uint64_t min = seq;

	for (uint32_t k = 0; k < p->nactive; k++) {
		uint64_t c = read_cursor(p, p->active[k], seq);

		if ((int64_t)(c - min) < 0)
			min = c;
	}
	p->min_cursor = min;
}

/*
 * Tells joiners that every message from now on waits for the lines of
 * generation @gen: the first message not yet decided is @seq, or the one
 * after a slot already marked for writing (a loan, or premark_next()),
 * whose room was judged before this rescan. join_line() reads the pair.
 */
static void tell_joiners(struct shoal_pub *p, uint32_t gen, uint64_t seq)
{
	uint64_t from = p->premarked > seq ? p->premarked : seq;

	atomic_store_explicit(&p->hdr->seen_from, from, memory_order_relaxed);
	/* Release: orders seen_from above before it; pairs with the acquire
	 * load of seen_gen in join_line(). */
	atomic_store_explicit(&p->hdr->seen_gen, gen, memory_order_release);
}

/*
 * Rebuilds the list of live lines: JOINING or ACTIVE, and locked by their
 * owner. A JOINING line gates like an ACTIVE one but is not counted: its
 * subscriber has not decided where it starts (join_line()).
 */
static void rescan(struct shoal_pub *p, uint32_t gen, uint64_t seq)
{
	p->known_gen = gen;
	p->nactive = 0;
	p->ncounted = 0;
	for (uint32_t i = 0; i < p->max_subs; i++) {
		/* Acquire: pairs with the joiner's release stores of its
		 * state, so the cursor read after it is at least the one
		 * stored before that state. */
		uint32_t st = atomic_load_explicit(&p->lines[i].state,
						   memory_order_acquire);

		if (st != SHOAL__SUB_ACTIVE && st != SHOAL__SUB_JOINING)
			continue;
		if (!shoal__line_locked(p->subs_fd, i))
			continue;
		p->active[p->nactive++] = i;
		p->ncounted += st == SHOAL__SUB_ACTIVE;
	}
	recompute_min(p, seq);
	/* A lossy publisher gates on nobody: its joiners keep to head. */
	if (p->delivery == SHOAL_DELIVERY_RELIABLE)
		tell_joiners(p, gen, seq);
}

/* Drops lines whose subscriber died. Returns how many. */
static uint32_t evict_dead(struct shoal_pub *p)
{
	uint32_t dropped = 0;

	for (uint32_t k = 0; k < p->nactive;) {
		if (shoal__line_locked(p->subs_fd, p->active[k])) {
			k++;
			continue;
		}
		p->active[k] = p->active[--p->nactive];
		dropped++;
	}
	if (dropped)
		atomic_fetch_add_explicit(&p->hdr->evicted, dropped,
					  memory_order_relaxed);
	return dropped;
}

/*
 * Room for message @seq by the subscribers known now: the cached minimum
 * cursor, recomputed from their lines when it says no.
 */
static int room_known(struct shoal_pub *p, uint64_t seq)
{
	if (seq - p->min_cursor < p->capacity)
		return 1;
	recompute_min(p, seq);
	return seq - p->min_cursor < p->capacity;
}

static int has_room(struct shoal_pub *p, uint64_t seq)
{
	uint32_t gen =
		atomic_load_explicit(&p->sh->generation, memory_order_acquire);

	if (gen != p->known_gen)
		rescan(p, gen, seq);
	return room_known(p, seq);
}

/* What a publisher waiting for room waits for: message @seq fits. */
struct room_wait {
	struct shoal_pub *p;
	uint64_t seq;
};

static int room_ready(void *arg)
{
	struct room_wait *rw = arg;

	recompute_min(rw->p, rw->seq);
	return rw->seq - rw->p->min_cursor < rw->p->capacity;
}

/*
 * Sleeps on the publisher's eventfd for at most a slice, or @deadline:
 * notify's waiter on header.waiting (mark, fence, re-check the cursors,
 * sleep, drain, clear the mark). Subscribers write the eventfd without a
 * fence of their own, so a wake-up can be missed: the slice bounds that,
 * and whatever a peer does to the eventfd.
 */
static void pub_sleep(struct shoal_pub *p, uint64_t seq, int64_t deadline)
{
	struct room_wait rw = { p, seq };
	int64_t slice = PUB_WAIT_SLICE_NS;

	if (deadline >= 0 && deadline - shoal__now_ns() < slice)
		slice = deadline - shoal__now_ns();
	/* Whatever it returns, make_room() looks at the cursors again. */
	if (slice > 0)
		(void)shoal_wait(&p->room_waiter, room_ready, &rw, slice);
}

/* Reliable: waits until message @seq can be written. 0 or -EAGAIN. */
static int make_room(struct shoal_pub *p, uint64_t seq)
{
	int64_t deadline, spin_until;

	if (has_room(p, seq))
		return 0;
	atomic_fetch_add_explicit(&p->hdr->blocked, 1, memory_order_relaxed);
	deadline = shoal__deadline(p->send_timeout_ns);
	spin_until = shoal__now_ns() + PUB_SPIN_NS;
	/* Liveness costs a system call per line: look when the wait starts
	 * and after each sleep, never while spinning. */
	for (int look = 1;;) {
		int64_t now;

		if (look && evict_dead(p))
			recompute_min(p, seq);
		look = 0;
		if (has_room(p, seq))
			return 0;
		now = shoal__now_ns();
		if (p->send_timeout_ns == 0 ||
		    (deadline >= 0 && now >= deadline))
			break;
		if (now < spin_until) {
			shoal__cpu_relax();
			continue;
		}
		pub_sleep(p, seq, deadline);
		look = 1;
	}
	atomic_fetch_add_explicit(&p->hdr->failed, 1, memory_order_relaxed);
	return shoal__fail(-EAGAIN,
			   "pub: a subscriber is %u messages behind and did "
			   "not make room in time",
			   p->capacity);
}

/*
 * Slot @s is about to receive message @seq: its odd stamp first, so a
 * lossy reader still on the old message sees the change, then a release
 * fence, so the payload writes that follow stay after it.
 */
static void mark_odd(struct shoal_pub *p, struct shoal__pubsub_slot *s,
		     uint64_t seq)
{
	atomic_store_explicit(&s->stamp, shoal__pubsub_stamp(seq) | 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	p->premarked = seq + 1;
}

int shoal_pub_loan(struct shoal_pub *p, uint32_t size, void **ptr)
{
	struct shoal__pubsub_slot *s;
	int err;

	if (p->loaned)
		return shoal__fail(-EBUSY, "pub: a loan is already out");
	if (size > p->max_payload)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed max_payload %u", size,
				   p->max_payload);
	s = slot_at(p->slots, p->stride, p->mask, p->head);
	if (p->premarked != p->head + 1) {
		if (p->delivery == SHOAL_DELIVERY_RELIABLE &&
		    p->head >= p->capacity) {
			err = make_room(p, p->head);
			if (err)
				return err;
		}
		mark_odd(p, s, p->head);
	}
	p->loaned = 1;
	p->loan_size = size;
	p->loan_slot = s;
	*ptr = (uint8_t *)(s + 1) + p->uh_size;
	return 0;
}

void *shoal_pub_loan_header(struct shoal_pub *p)
{
	if (!p->loaned || !p->uh_size)
		return NULL;
	return p->loan_slot + 1;
}

static int check_loan(struct shoal_pub *p, void *ptr)
{
	if (!p->loaned || ptr != (uint8_t *)(p->loan_slot + 1) + p->uh_size)
		return shoal__fail(-EINVAL, "pub: not the outstanding loan");
	return 0;
}

/*
 * The end of writing message head into @s: its length, the timestamp if
 * asked for, then the even stamp (release: everything before it is
 * visible to a subscriber that acquires it), and head moves on.
 */
static void complete_slot(struct shoal_pub *p, struct shoal__pubsub_slot *s,
			  uint32_t len)
{
	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	/* Without the flag the field is never written: it stays 0. */
	if (p->flags & SHOAL_PUB_TIMESTAMP)
		atomic_store_explicit(&s->timestamp_ns, shoal__now_ns(),
				      memory_order_relaxed);
	atomic_store_explicit(&s->stamp, shoal__pubsub_stamp(p->head),
			      memory_order_release);
	p->head++;
}

/* hdr->head = head: the messages written so far. */
static void show_head(struct shoal_pub *p)
{
	/* Release: after the stamps of the slots written; pairs with the
	 * acquire loads of head in join_line() and skip_lapped(). */
	atomic_store_explicit(&p->hdr->head, p->head, memory_order_release);
}

/*
 * Wakes every subscriber whose bit is set. A wake-up whose eventfd write
 * fails (only under injected faults: a real eventfd write cannot) gives
 * the bit back, so the next send tries again; a blocked subscriber re-checks
 * within a sleep slice anyway (notify.md).
 */
static void wake_sleepers(struct shoal_pub *p)
{
	for (uint32_t w = 0; w < p->bitmap_words; w++) {
		uint32_t bits;

		if (!atomic_load_explicit(&p->bitmap[w], memory_order_relaxed))
			continue;
		bits = atomic_exchange_explicit(&p->bitmap[w], 0,
						memory_order_relaxed);
		while (bits) {
			uint32_t i = w * 32 + (uint32_t)__builtin_ctz(bits);

			bits &= bits - 1;
			if (i >= p->max_subs)
				break; /* untrusted bits past the limit */
			if (shoal__eventfd_wake(p->wake_fds[i]) == 0) {
				atomic_fetch_add_explicit(&p->wakeups[i], 1,
							  memory_order_relaxed);
				atomic_fetch_add_explicit(&p->hdr->wakeups, 1,
							  memory_order_relaxed);
			} else {
				atomic_fetch_or_explicit(&p->bitmap[w],
							 1u << (i % 32),
							 memory_order_relaxed);
			}
		}
	}
}

/*
 * Gives the slot of the next message its odd stamp now, while this CPU
 * still owns the lines it just wrote, instead of in the next loan. A
 * subscriber that busy-polls a slot holds its line: an odd-stamp store at
 * loan time takes the line from it, the subscriber's next poll takes it
 * back, and the payload and final stamp then take it a second time. Marked
 * here, the slot is usually written once per message (measured: see the
 * commit that added this). Reliable delivery only, and only when the
 * slot's old message is known to be released by every subscriber (the
 * cached minimum cursor, at the current generation); else the next loan
 * does it after make_room(). Not lossy: there the old message stays
 * readable by a lagging subscriber until the next loan really needs the
 * slot, so a lossy ring keeps its whole capacity.
 * Called after the full fence that follows the store of head, so a joining
 * subscriber either is seen here or reads a head that puts the marked
 * slot's old message behind its start (join_line()).
 */
static void premark_next(struct shoal_pub *p)
{
	uint64_t h = p->head;

	if (p->delivery != SHOAL_DELIVERY_RELIABLE)
		return;
	if (h >= p->capacity &&
	    (atomic_load_explicit(&p->sh->generation, memory_order_acquire) !=
		     p->known_gen ||
	     h - p->min_cursor >= p->capacity))
		return;
	mark_odd(p, slot_at(p->slots, p->stride, p->mask, h), h);
}

int shoal_pub_send(struct shoal_pub *p, void *ptr, uint32_t len)
{
	struct shoal__pubsub_slot *s = p->loan_slot;
	int err = check_loan(p, ptr);

	if (err)
		return err;
	if (len > p->loan_size)
		return shoal__fail(-EINVAL, "pub: %u bytes sent, %u loaned",
				   len, p->loan_size);
	complete_slot(p, s, len);
	show_head(p);
	p->loaned = 0;
	/* Pairs with a subscriber's fence between setting its bit and
	 * re-checking its slot (notify.c's protocol), and with a joining
	 * subscriber's between its generation and its load of head. */
	shoal__fence_full();
	premark_next(p);
	wake_sleepers(p);
	return 0;
}

int shoal_pub_abort(struct shoal_pub *p, void *ptr)
{
	struct shoal__pubsub_slot *s = p->loan_slot;
	int err = check_loan(p, ptr);

	if (err)
		return err;
	/* The slot's old message is gone (it was overwritten in part); the
	 * odd stamp stays, so readers of that old seq see it as lapped,
	 * which is what it is. */
	(void)s;
	p->loaned = 0;
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
		memcpy(p->loan_slot + 1, user_header, p->uh_size);
	memcpy(ptr, data, len);
	return shoal_pub_send(p, ptr, len);
}

/*
 * Writes message @m into the slot of head and makes it visible to a
 * subscriber polling that slot (release-stores its even stamp). The odd
 * stamp goes first unless premark_next() put it there already.
 */
static void write_slot(struct shoal_pub *p, const struct shoal_pub_msg *m)
{
	struct shoal__pubsub_slot *s =
		slot_at(p->slots, p->stride, p->mask, p->head);

	if (p->premarked != p->head + 1)
		mark_odd(p, s, p->head);
	if (p->uh_size) {
		if (m->user_header)
			memcpy(s + 1, m->user_header, p->uh_size);
		else
			memset(s + 1, 0, p->uh_size);
	}
	memcpy((uint8_t *)(s + 1) + p->uh_size, m->data, m->len);
	complete_slot(p, s, m->len);
}

int shoal_pub_write_batch(struct shoal_pub *p, const struct shoal_pub_msg *msgs,
			  uint32_t n)
{
	uint64_t head0 = p->head;
	uint32_t k, j;
	int err;

	if (!n || !msgs)
		return shoal__fail(-EINVAL, "pub: an empty batch");
	if (p->loaned)
		return shoal__fail(-EBUSY, "pub: a loan is already out");
	for (k = 0; k < n && msgs[k].len <= p->max_payload; k++)
		;
	if (!k)
		return shoal__fail(-EMSGSIZE,
				   "pub: %u bytes exceed max_payload %u",
				   msgs[0].len, p->max_payload);
	if (p->delivery == SHOAL_DELIVERY_RELIABLE) {
		uint32_t gen = atomic_load_explicit(&p->sh->generation,
						    memory_order_acquire);

		/* At most a ring: a joiner that reads the batch's bound
		 * below starts no later than bound - capacity + 1, which must
		 * not pass the first message in case only that one is
		 * written (models/pubsub_join.pml, BROKEN_BATCH_UNCAPPED). */
		if (k > p->capacity)
			k = p->capacity;

		/* Subscribers that joined or left since the last look, seen
		 * relative to the first message: the rest are later. */
		if (gen != p->known_gen)
			rescan(p, gen, head0);
		/* Room for the first, waiting if need be, as a send would. */
		if (head0 >= p->capacity && p->premarked != head0 + 1) {
			err = make_room(p, head0);
			if (err)
				return err;
		}
		/*
		 * Then as many as fit now, by the subscribers known now, never
		 * by a rescan: a rescan judges a far-behind cursor relative to
		 * the message checked, which says nothing true about the
		 * batch's earlier ones. A subscriber that joined meanwhile is
		 * caught by the generation check after the fence below.
		 */
		for (j = 1; j < k && (head0 + j < p->capacity ||
				      room_known(p, head0 + j));
		     j++)
			;
		k = j;
		/*
		 * The first message is safe from a subscriber joining unseen,
		 * as a single send is: such a subscriber read a head of at
		 * least head0 and starts after the slot it overwrites. For
		 * the others, the end the batch reaches goes out first (as
		 * bound: head counts only messages written, or a joiner that
		 * read it would start past messages a cut batch never wrote),
		 * then the full fence, then the generation: a subscriber
		 * joining now either reads that bound and starts after every
		 * slot the batch overwrites (join_line()), or its generation
		 * shows here, and then only the first message is written (the
		 * next call rescans).
		 */
		if (k > 1) {
			atomic_store_explicit(&p->hdr->bound, head0 + k,
					      memory_order_relaxed);
			/* Pairs with the joiner's fence between its
			 * increment of the generation and its loads of head
			 * and bound (store->load, both sides fenced). */
			shoal__fence_full();
			if (atomic_load_explicit(&p->sh->generation,
						 memory_order_acquire) !=
			    p->known_gen)
				k = 1;
		}
	}
	for (j = 0; j < k; j++)
		write_slot(p, &msgs[j]);
	show_head(p);
	/* As in shoal_pub_send(), once for the batch. */
	shoal__fence_full();
	premark_next(p);
	wake_sleepers(p);
	return (int)k;
}

uint64_t shoal_pub_epoch(const struct shoal_pub *p)
{
	return p->epoch;
}

uint32_t shoal_pub_subscribers(struct shoal_pub *p)
{
	rescan(p,
	       atomic_load_explicit(&p->sh->generation, memory_order_acquire),
	       p->head);
	return p->ncounted;
}

void shoal_pub_get_stats(const struct shoal_pub *p, struct shoal_pub_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sent = p->head;
	st->blocked =
		atomic_load_explicit(&p->hdr->blocked, memory_order_relaxed);
	st->failed =
		atomic_load_explicit(&p->hdr->failed, memory_order_relaxed);
	st->wakeups =
		atomic_load_explicit(&p->hdr->wakeups, memory_order_relaxed);
	st->evicted =
		atomic_load_explicit(&p->hdr->evicted, memory_order_relaxed);
	st->subscribers = p->ncounted;
}
