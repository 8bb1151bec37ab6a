/* SPDX-License-Identifier: MIT */
/*
 * The broadcast ring: one publisher, any number of subscribers, each with
 * its own cursor, over a region of shared memory (docs/bcast-ring.md). It is
 * the memory protocol under pub/sub and nothing else: no system calls, no
 * fds, no clock; liveness of a subscriber line is asked of a callback, as
 * shoal_mpmc_recover() asks of its own. The pattern (src/patterns/pubsub_*)
 * keeps segments, eventfds, epoll, the registry and waking.
 *
 * The algorithm, in brief:
 *  - Message seq lives in slot seq & (capacity - 1). The slot's stamp is a
 *    seqlock word: (seq + 1) << 1 when message seq is whole, with the low bit
 *    set while the publisher writes it, 0 never written. The publisher
 *    stores the odd stamp, release-fences, writes, then release-stores the
 *    even stamp; a reader acquire-loads the stamp, reads, acquire-fences and
 *    re-loads it (the Linux seqlock, and the Disruptor's per-slot sequence).
 *    A reliable ring whose user trusts its subscribers may leave the odd
 *    stamp out (shoal__bcast_pub_trust_lines()): no honest subscriber ever
 *    reads a slot a reliable publisher writes (gating and the join below;
 *    models/ring_bcast.pml -DTRUSTED asserts it on the payload), so the odd
 *    stamp only tells a subscriber that a peer lied about its line, and it
 *    costs a line transfer per message in a stream.
 *  - A subscriber's line holds its cursor: the next seq it takes. A stamp
 *    newer than the cursor means the subscriber was lapped (lossy mode, or
 *    a lying peer): it skips to the oldest message still in the ring and is
 *    told how many it lost (-EOVERFLOW).
 *  - Reliable mode: before writing seq the publisher makes sure
 *    seq - capacity < every live line's cursor. It caches the minimum (the
 *    Disruptor's gating sequence cache) and reloads it only when the cache
 *    says "full", and rescans the lines only when the generation word says
 *    a subscriber joined or left.
 *  - Joining races the publisher: see shoal__bcast_join() and
 *    models/ring_bcast.pml (JOINING state, seen_gen/seen_from, bound,
 *    premark).
 *  - Several loans at once: seqs [head, loan_end) are loaned (their slots
 *    marked), completed strictly in seq order from head. A loan given back
 *    from the middle of them becomes a skip marker when a later one is
 *    completed: a whole slot whose length is SHOAL__BCAST_SKIP_LEN, which
 *    a subscriber passes over without delivering it (and counts). A loan
 *    beyond head announces itself in bound before its room is judged, as a
 *    batch does (shoal__bcast_loan_announce()).
 *
 * Who writes what: the publisher writes the slots and struct
 * shoal__bcast_pub_line; each subscriber writes its own struct
 * shoal__bcast_line and increments the generation. Everything read from
 * memory another process writes is untrusted: cursors are clamped, lengths
 * checked before use, indices bounds-checked.
 *
 * This header is internal (src/ring/, not include/shoal/): the hot path
 * (loan, complete, take, release) is static inline here so that pub/sub
 * pays no call for it, and it needs C11 atomics, which public headers do
 * not include (they stay C++-includable). Its only user is pub/sub; the
 * stable interface is shoal/pubsub.h.
 */
#ifndef SHOAL_SRC_RING_BCAST_H
#define SHOAL_SRC_RING_BCAST_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"

#define SHOAL__BCAST_LINE_BYTES 64

/*
 * A slot's header; @uh_size bytes of user header follow it, then the
 * payload at shoal__bcast_data_off() (docs/bcast-ring.md, "Slots"). The
 * stamp is the seqlock word described above.
 */
struct shoal__bcast_slot {
	_Atomic uint64_t stamp;
	/* payload bytes; <= max_payload, or SHOAL__BCAST_SKIP_LEN */
	_Atomic uint32_t len;
	uint32_t pad;
	_Atomic int64_t timestamp_ns; /* by the publisher, 0 if not asked */
};
#define SHOAL__BCAST_SLOT_HEADER 24
/*
 * The length of a skip marker: a seq the publisher loaned and gave back
 * while a later loan was sent (shoal__bcast_complete_skip()). Above any
 * max_payload (at most 2^30), so a reader that does not know markers
 * refuses it as a bad length (-EBADMSG) and moves on; it never waits on it.
 */
#define SHOAL__BCAST_SKIP_LEN UINT32_MAX
_Static_assert(sizeof(struct shoal__bcast_slot) == SHOAL__BCAST_SLOT_HEADER,
	       "slot header is 24 bytes");

/*
 * A slot's geometry, three cases by where the slot's end (header, user
 * header and largest payload) falls:
 *
 * - within one line: the payload follows the user header, the stride is
 *   one line (one line per message);
 * - within two lines (41 to 104 bytes of payload without a user header):
 *   the payload follows the user header and slots are packed at 8 bytes
 *   (a 64 B payload: 88 bytes, 1.4 lines per message instead of 2), so a
 *   stream moves fewer lines; the price is that the stamp's line, which a
 *   polling subscriber holds, also carries payload, and neighbouring slots
 *   share lines (only the publisher writes either);
 * - beyond two lines: the payload starts at the next line boundary after
 *   the user header, so the stamp's line holds no payload (the publisher's
 *   copy never takes it from a polling subscriber, and payload lines are
 *   not read before the stamp says they are whole), and the stride is
 *   whole lines.
 *
 * Payload addresses are therefore 8-byte aligned in slots of up to two
 * lines and 64-byte aligned beyond (shoal__bcast_payload_align()). The one
 * formula for the ring, pub/sub, the tools and the fuzz targets;
 * docs/bcast-ring.md, "Slots", says why and what it was measured to do.
 */
static inline uint32_t shoal__bcast_data_off(uint32_t uh_size,
					     uint32_t max_payload)
{
	uint64_t h = (uint64_t)SHOAL__BCAST_SLOT_HEADER + uh_size;

	if (h + max_payload <= 2 * SHOAL__BCAST_LINE_BYTES)
		return (uint32_t)h;
	return (uint32_t)((h + SHOAL__BCAST_LINE_BYTES - 1) /
			  SHOAL__BCAST_LINE_BYTES * SHOAL__BCAST_LINE_BYTES);
}

/* Bytes per slot: the payload's end rounded up to a whole line, or to 8
 * bytes for a slot of more than one line and at most two. */
static inline uint64_t shoal__bcast_slot_stride(uint32_t uh_size,
						uint32_t max_payload)
{
	uint64_t end = (uint64_t)shoal__bcast_data_off(uh_size, max_payload) +
		       max_payload;

	if (end > SHOAL__BCAST_LINE_BYTES && end <= 2 * SHOAL__BCAST_LINE_BYTES)
		return (end + 7) / 8 * 8;
	return (end + SHOAL__BCAST_LINE_BYTES - 1) / SHOAL__BCAST_LINE_BYTES *
	       SHOAL__BCAST_LINE_BYTES;
}

/* The alignment every payload address of such a ring has (the slots start
 * on a line): 8 or 64. @uh_size is a multiple of 8. */
static inline uint32_t shoal__bcast_payload_align(uint32_t uh_size,
						  uint32_t max_payload)
{
	uint64_t stride = shoal__bcast_slot_stride(uh_size, max_payload);
	uint32_t off = shoal__bcast_data_off(uh_size, max_payload);

	if (stride % SHOAL__BCAST_LINE_BYTES || off % SHOAL__BCAST_LINE_BYTES)
		return 8;
	return SHOAL__BCAST_LINE_BYTES;
}

static inline uint64_t shoal__bcast_stamp(uint64_t seq)
{
	return (seq + 1) << 1;
}

/*
 * The publisher's line (64 bytes, alone on its line: head changes on every
 * send, and only joiners and lapped readers load it). Written by the
 * publisher only.
 */
struct shoal__bcast_pub_line {
	/* Next sequence to publish; release-stored after the slot's stamp. */
	_Atomic uint64_t head;
	/* What a reliable publisher gates on, for joiners (shoal__bcast_join):
	 * at its last rescan it saw generation seen_gen, and every message
	 * from seen_from on waits for the lines it counted then. seen_from
	 * first, then seen_gen (release); a joiner acquire-loads seen_gen
	 * first, so a seen_from it reads is at least the one that went with
	 * it. */
	_Atomic uint64_t seen_from;
	_Atomic uint32_t seen_gen;
	uint32_t pad0;
	/* The end of a reliable batch being written (at most capacity past
	 * head), stored before the batch's full fence so a joiner can start
	 * past what it overwrites; head counts only messages written. */
	_Atomic uint64_t bound;
	uint8_t pad1[32];
};
_Static_assert(sizeof(struct shoal__bcast_pub_line) == SHOAL__BCAST_LINE_BYTES,
	       "publisher line is one cache line");

/*
 * Line states. A joiner is JOINING from its announcement until it has
 * decided where to start, then ACTIVE: a reliable publisher gates on both,
 * but counts only ACTIVE lines, so a subscriber it counted is owed every
 * message sent after the count.
 */
enum {
	SHOAL__BCAST_FREE = 0,
	SHOAL__BCAST_ACTIVE = 1,
	SHOAL__BCAST_JOINING = 2,
};

/*
 * The ring's part of a subscriber line: the first 16 bytes of each line
 * (the user of the ring may put its own fields after it). Written by the
 * subscriber that owns the line; read by the publisher, untrusted.
 */
struct shoal__bcast_line {
	_Atomic uint32_t state; /* SHOAL__BCAST_*; release-stored after cursor */
	int32_t pid;		/* informational, the owner's */
	/* Next sequence the subscriber will take: everything before it is
	 * consumed (reliable gating reads this). */
	_Atomic uint64_t cursor;
};

/* Where a ring lies in one process's mappings, and its geometry. */
struct shoal__bcast_map {
	struct shoal__bcast_pub_line *pub;
	uint8_t *slots; /* capacity slots of stride bytes */
	/* Bumped (seq_cst) by a subscriber after it joins or before it
	 * leaves; a reliable publisher rescans the lines when it changes. */
	_Atomic uint32_t *generation;
	uint8_t *lines; /* max_lines lines of line_stride bytes */
	uint32_t line_stride;
	uint32_t max_lines;
	uint32_t capacity; /* power of two, >= 2 */
	uint32_t stride;   /* shoal__bcast_slot_stride(uh_size, max_payload) */
	uint32_t max_payload;
	uint32_t uh_size; /* user header bytes per slot */
	/* shoal__bcast_data_off(uh_size, max_payload); set by
	 * shoal__bcast_map_region(), shoal__bcast_pub_init() and
	 * shoal__bcast_join(), whatever the caller put here. */
	uint32_t data_off;
};

static inline struct shoal__bcast_slot *
shoal__bcast_slot_at(const struct shoal__bcast_map *m, uint64_t seq)
{
	return (struct shoal__bcast_slot *)(m->slots +
					    (uint64_t)m->stride *
						    (seq & (m->capacity - 1)));
}

static inline struct shoal__bcast_line *
shoal__bcast_line_at(const struct shoal__bcast_map *m, uint32_t i)
{
	return (struct shoal__bcast_line *)(m->lines +
					    (uint64_t)m->line_stride * i);
}

/*
 * A ring in one region of its own (tests, fuzzing, a future pattern that
 * needs no other layout): the publisher line, a line holding the generation
 * word, @max_lines subscriber lines of 64 bytes, then the slots.
 * shoal__bcast_region_size() gives the bytes (0 if the geometry is
 * invalid: capacity a power of two in 2..2^30, payload 1..2^30, user header
 * a multiple of 8 up to 4096, 1..65536 lines); shoal__bcast_map_region()
 * fills @m for a 64-byte-aligned region of @size bytes laid out so (it
 * writes nothing: a zeroed region is an empty ring). 0 or -EINVAL.
 */
uint64_t shoal__bcast_region_size(uint32_t capacity, uint32_t max_payload,
				  uint32_t uh_size, uint32_t max_lines);
int shoal__bcast_map_region(void *mem, uint64_t size, uint32_t capacity,
			    uint32_t max_payload, uint32_t uh_size,
			    uint32_t max_lines, struct shoal__bcast_map *m);

/* Nonzero if the owner of line @line is alive (definitive: "dead" means it
 * will never write the line again). */
typedef int (*shoal__bcast_alive_fn)(void *user_data, uint32_t line);

/* ------------------------------------------------------------------------
 * Publisher (one per ring; not thread-safe)
 */

struct shoal__bcast_pub {
	struct shoal__bcast_map m;
	uint32_t reliable;
	uint32_t mask;
	/* Next seq to complete, our own copy; m.pub->head says the same once
	 * published. Everything before it is whole (or a skip marker). */
	uint64_t head;
	/* Next seq to loan: [head, loan_end) are out (loaned, or sent or
	 * given back and waiting for an earlier one); at most capacity - 1
	 * (the pattern bounds it). */
	uint64_t loan_end;
	/* Every slot of [loan_end, marked_end) already carries its odd stamp
	 * (none in a trusted ring) and had its room judged: by
	 * shoal__bcast_premark_next(), or a loan given back from the end
	 * (shoal__bcast_unloan()). Only grows; joiners are told it
	 * (tell_joiners()). */
	uint64_t marked_end;
	/* The largest bound stored (the word only grows: a smaller one would
	 * let a joiner start at a slot a cut batch or loan already marked). */
	uint64_t bound;
	/* Reliable gating: the live lines (JOINING or ACTIVE) as of
	 * generation known_gen, and the minimum of their cursors as last
	 * computed; ncounted of them were ACTIVE. */
	uint64_t min_cursor;
	uint32_t known_gen;
	uint32_t nactive;
	uint32_t ncounted;
	/* 1: a slot gets its odd stamp before it is written (always, unless
	 * shoal__bcast_pub_trust_lines() cleared it in a reliable ring). */
	uint32_t odd_marks;
	uint32_t *active;
	shoal__bcast_alive_fn alive;
	void *user_data;
};

/*
 * Sets up the publisher over map @m (copied), which the caller has zeroed
 * (a fresh ring: head 0, every stamp 0, every line FREE). @reliable: gate
 * on the subscribers' cursors; else overwrite. @alive tells whether a
 * line's owner lives. 0 or -ENOMEM.
 */
int shoal__bcast_pub_init(struct shoal__bcast_pub *b,
			  const struct shoal__bcast_map *m, int reliable,
			  shoal__bcast_alive_fn alive, void *user_data);
void shoal__bcast_pub_fini(struct shoal__bcast_pub *b);

/*
 * Reliable rings only (a lossy one ignores it): slots get no odd stamp
 * while written. Every subscriber that is gated on has released a slot's
 * old message before it is written, and a joiner starts past it, so no
 * subscriber that keeps to the protocol ever reads a slot being written;
 * what is lost is the one defence of a subscriber whose line a peer wrote
 * (a cursor moved forward, a line freed), which then may read a message
 * while it is overwritten and not be told. For services whose subscribers
 * are trusted (SHOAL_PUB_TRUSTED_SUBSCRIBERS). Call before the first loan.
 */
static inline void shoal__bcast_pub_trust_lines(struct shoal__bcast_pub *b)
{
	if (b->reliable)
		b->odd_marks = 0;
}

/* Rescans the lines (generation @gen) as seen relative to message @seq. */
void shoal__bcast_rescan(struct shoal__bcast_pub *b, uint32_t gen,
			 uint64_t seq);
/* Reloads the minimum cursor of the lines known now, relative to @seq. */
void shoal__bcast_recompute_min(struct shoal__bcast_pub *b, uint64_t seq);
/* Drops known lines whose owner the callback says is dead and reloads the
 * minimum. Returns how many. */
uint32_t shoal__bcast_evict_dead(struct shoal__bcast_pub *b);
/* Rescans now; the number of ACTIVE (joined) live lines. */
uint32_t shoal__bcast_subscribers(struct shoal__bcast_pub *b);

/* Room for message @seq by the lines known now, reloading the minimum
 * cursor when the cached one says no. */
static inline int shoal__bcast_room_known(struct shoal__bcast_pub *b,
					  uint64_t seq)
{
	if (seq - b->min_cursor < b->m.capacity)
		return 1;
	shoal__bcast_recompute_min(b, seq);
	return seq - b->min_cursor < b->m.capacity;
}

/* Room for message @seq, rescanning first if a line joined or left. */
static inline int shoal__bcast_room(struct shoal__bcast_pub *b, uint64_t seq)
{
	/* Acquire: pairs with the joiner's seq_cst increment, so its
	 * JOINING state and cursor are visible to the rescan. */
	uint32_t gen =
		atomic_load_explicit(b->m.generation, memory_order_acquire);

	if (gen != b->known_gen)
		shoal__bcast_rescan(b, gen, seq);
	return shoal__bcast_room_known(b, seq);
}

/*
 * Nonzero if the next loan (loan_end) may have to wait for room: reliable,
 * past the first ring, and its slot not yet marked (a marked slot's room
 * was judged already). The caller then waits until shoal__bcast_room(b,
 * b->loan_end) says yes, evicting dead lines as it sees fit.
 */
static inline int shoal__bcast_must_gate(const struct shoal__bcast_pub *b)
{
	return b->reliable && b->loan_end >= b->m.capacity &&
	       b->loan_end >= b->marked_end;
}

/*
 * Reliable, before judging the room of a loan beyond head (other loans
 * are out): tells joiners that it may be written, as a batch does (see
 * shoal__bcast_batch_extent() in ring_bcast.c): bound past it, a full
 * fence, then the generation, rescanning relative to it if a line joined
 * or left. A joiner then either reads the bound and starts after the slot,
 * or is seen here and gated on. Nothing to do for the first loan (head:
 * safe as a single send is) or a slot already marked.
 */
void shoal__bcast_loan_announce_slow(struct shoal__bcast_pub *b);

static inline void shoal__bcast_loan_announce(struct shoal__bcast_pub *b)
{
	/* Nothing to do (the common case, inline): lossy, no other loan
	 * out, or the slot marked already. */
	if (!b->reliable || b->loan_end == b->head ||
	    b->loan_end < b->marked_end)
		return;
	shoal__bcast_loan_announce_slow(b);
}

/*
 * Slot @s is about to receive message @seq: its odd stamp first, so a
 * lossy reader still on the old message (or a reliable one a peer lied
 * about) sees the change, then a release fence, so the payload writes
 * that follow stay after it. With odd_marks cleared (a trusted reliable
 * ring) only marked_end moves.
 */
static inline void shoal__bcast_mark(struct shoal__bcast_pub *b,
				     struct shoal__bcast_slot *s, uint64_t seq)
{
	if (b->odd_marks) {
		atomic_store_explicit(&s->stamp, shoal__bcast_stamp(seq) | 1,
				      memory_order_relaxed);
		/* Release fence: the payload stores after it stay after the
		 * odd stamp; pairs with the reader's acquire fence before its
		 * re-load of the stamp (shoal__bcast_intact). */
		atomic_thread_fence(memory_order_release);
	}
	if (seq + 1 > b->marked_end)
		b->marked_end = seq + 1;
}

/*
 * The slot of the next loan (loan_end), marked for writing; loan_end moves
 * on. Reliable: the caller made sure of room first
 * (shoal__bcast_loan_announce() when other loans are out, then
 * shoal__bcast_must_gate()).
 */
static inline struct shoal__bcast_slot *
shoal__bcast_loan(struct shoal__bcast_pub *b)
{
	struct shoal__bcast_slot *s = shoal__bcast_slot_at(&b->m, b->loan_end);

	if (b->loan_end >= b->marked_end)
		shoal__bcast_mark(b, s, b->loan_end);
	b->loan_end++;
	return s;
}

/*
 * Gives the newest loan back (loan_end > head): loan_end moves back. Its
 * slot keeps the odd stamp and stays judged (marked_end), so the next loan
 * takes it again, under the same seq: nothing is renumbered, nothing waits.
 */
static inline void shoal__bcast_unloan(struct shoal__bcast_pub *b)
{
	b->loan_end--;
}

/* The next loan's slot, marked, or -EAGAIN when a reliable ring has no
 * room for it now (the caller waits and tries again). */
static inline int shoal__bcast_try_loan(struct shoal__bcast_pub *b,
					struct shoal__bcast_slot **out)
{
	shoal__bcast_loan_announce(b);
	if (shoal__bcast_must_gate(b) && !shoal__bcast_room(b, b->loan_end))
		return -EAGAIN;
	*out = shoal__bcast_loan(b);
	return 0;
}

static inline void *shoal__bcast_payload(const struct shoal__bcast_map *m,
					 struct shoal__bcast_slot *s)
{
	return (uint8_t *)s + m->data_off;
}

/* The slot's user header (uh_size bytes, right after its header). */
static inline void *shoal__bcast_user_header(struct shoal__bcast_slot *s)
{
	return s + 1;
}

/*
 * Ends the writing of message head (loaned: head < loan_end) into @s: its
 * length, the timestamp if @with_ts, then the even stamp (release:
 * everything before it is visible to a reader that acquires it); head
 * moves on. Not yet shown in the publisher line: shoal__bcast_publish()
 * does that.
 */
static inline void shoal__bcast_complete(struct shoal__bcast_pub *b,
					 struct shoal__bcast_slot *s,
					 uint32_t len, int with_ts,
					 int64_t ts_ns)
{
	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	/* Without it the field is never written: it stays 0. */
	if (with_ts)
		atomic_store_explicit(&s->timestamp_ns, ts_ns,
				      memory_order_relaxed);
	/* Release: publishes the slot written above; pairs with the acquire
	 * load of the stamp in shoal__bcast_peek(). */
	atomic_store_explicit(&s->stamp, shoal__bcast_stamp(b->head),
			      memory_order_release);
	b->head++;
}

/*
 * Completes seq head (loaned, given back, a later loan sent) as a skip
 * marker: length SHOAL__BCAST_SKIP_LEN, then the even stamp. A subscriber
 * moves past it without delivering it (shoal__bcast_peek()).
 */
static inline void shoal__bcast_complete_skip(struct shoal__bcast_pub *b,
					      struct shoal__bcast_slot *s)
{
	atomic_store_explicit(&s->len, SHOAL__BCAST_SKIP_LEN,
			      memory_order_relaxed);
	/* Release: pairs with the acquire load of the stamp in
	 * shoal__bcast_peek(), which then sees the marker's length. */
	atomic_store_explicit(&s->stamp, shoal__bcast_stamp(b->head),
			      memory_order_release);
	b->head++;
}

/*
 * Gives the slot of the next message its odd stamp now, while this CPU
 * still owns the lines it just wrote, instead of in the next loan. A
 * subscriber that busy-polls a slot holds its line: an odd-stamp store at
 * loan time takes the line from it, the subscriber's next poll takes it
 * back, and the payload and final stamp then take it a second time. Marked
 * here, the slot is usually written once per message (in a trusted ring,
 * which stores no odd stamp, the premark only judges the room, so that the
 * next loan need not). Reliable delivery only, and only when the slot's
 * old message is known to be released by every subscriber (the cached
 * minimum cursor, at the current generation); else the next loan does it
 * after waiting for room. Not lossy: there the
 * old message stays readable by a lagging subscriber until the next loan
 * really needs the slot, so a lossy ring keeps its whole capacity.
 * Called after the full fence that follows the store of head, so a joining
 * subscriber either is seen here or reads a head that puts the marked
 * slot's old message behind its start (shoal__bcast_join()). Only when no
 * loan is out (loan_end == head; the argument holds for the slot of head
 * alone) and that slot is not marked yet. Inline: it runs after every send.
 */
static inline void shoal__bcast_premark_next(struct shoal__bcast_pub *b)
{
	uint64_t h = b->head;

	if (!b->reliable || b->loan_end != h || b->marked_end > h)
		return;
	if (h >= b->m.capacity &&
	    (atomic_load_explicit(b->m.generation, memory_order_acquire) !=
		     b->known_gen ||
	     h - b->min_cursor >= b->m.capacity))
		return;
	shoal__bcast_mark(b, shoal__bcast_slot_at(&b->m, h), h);
}

/*
 * Shows the messages completed so far (head), then a full fence, then
 * premarks the next slot. The fence is the publisher's side of two
 * store->load pairs: with a joiner's fence between its generation
 * increment and its load of head (shoal__bcast_join), and with a sleeping
 * subscriber's between its sleep mark and its re-check of the slot (the
 * caller's wake-up, done after this, relies on it: it loads the sleep
 * marks with no fence of its own).
 */
static inline void shoal__bcast_publish(struct shoal__bcast_pub *b)
{
	/* Release: after the stamps of the slots written; pairs with the
	 * acquire loads of head in shoal__bcast_join() and the lap skip. */
	atomic_store_explicit(&b->m.pub->head, b->head, memory_order_release);
	shoal__fence_full();
	shoal__bcast_premark_next(b);
}

/*
 * Reliable batch: how many of the next @n messages (n >= 1) may be written
 * now, the first one's room judged (shoal__bcast_must_gate()) by the
 * caller after shoal__bcast_batch_begin(). At most a ring; as many as fit
 * by the lines known now; only the first when a subscriber joined
 * meanwhile. Stores the batch's bound and fences (see ring_bcast.c).
 * Lossy: @n.
 */
void shoal__bcast_batch_begin(struct shoal__bcast_pub *b);
uint32_t shoal__bcast_batch_extent(struct shoal__bcast_pub *b, uint32_t n);

/* ------------------------------------------------------------------------
 * Subscriber (one per line; not thread-safe)
 */

struct shoal__bcast_sub {
	struct shoal__bcast_map m;
	struct shoal__bcast_line *line; /* NULL until joined */
	uint64_t cursor;		/* next seq to take; ours */
	uint64_t skipped; /* skip markers passed over (shoal__bcast_peek) */
};

/* What shoal__bcast_peek() found. */
struct shoal__bcast_view {
	struct shoal__bcast_slot *slot;
	uint64_t seq;
	uint64_t stamp; /* as loaded: shoal__bcast_intact() compares */
	uint32_t len;
	int64_t timestamp_ns;
	uint64_t lost; /* on -EOVERFLOW: messages skipped */
};

/*
 * The racy points of shoal__bcast_join() (@stage): after it read head, and
 * after it incremented the generation. A weak no-op that a test linked
 * against the static library replaces to hold a joiner there
 * (test/pubsub-join-owed.c).
 */
enum {
	SHOAL__JOIN_READ_HEAD,
	SHOAL__JOIN_ANNOUNCED
};
void shoal__pubsub_join_pause(int stage);

/*
 * Joins line @index of map @m (whose lock the caller holds): up to @back
 * messages of history (the caller bounds it by what the publisher
 * promises), then later if the publisher was racing ahead, never at a
 * message it may have overwritten unseen. Stores the cursor, JOINING, bumps
 * the generation, decides the start, ACTIVE. The line's other fields are
 * the caller's, written before.
 */
void shoal__bcast_join(struct shoal__bcast_sub *s,
		       const struct shoal__bcast_map *m, uint32_t index,
		       uint64_t back);
/* Leaves the line: FREE, then the generation (seq_cst). */
void shoal__bcast_leave(struct shoal__bcast_sub *s);

static inline void shoal__bcast_set_cursor(struct shoal__bcast_sub *s,
					   uint64_t c)
{
	s->cursor = c;
	/* Release: the reads of the slots before c happen before the
	 * publisher, who acquire-loads the cursor (read_cursor()), reuses
	 * them. */
	atomic_store_explicit(&s->line->cursor, c, memory_order_release);
}

/* How slot stamp @st relates to @seq. */
enum {
	SHOAL__BCAST_NOT_YET,
	SHOAL__BCAST_READY,
	SHOAL__BCAST_LAPPED
};

static inline int shoal__bcast_classify(uint64_t st, uint64_t seq)
{
	int64_t d;

	if (st == 0)
		return SHOAL__BCAST_NOT_YET;
	d = (int64_t)(((st >> 1) - 1) - seq);
	if (d < 0)
		return SHOAL__BCAST_NOT_YET;
	if (d == 0)
		return (st & 1) ? SHOAL__BCAST_NOT_YET : SHOAL__BCAST_READY;
	return SHOAL__BCAST_LAPPED;
}

/* Nonzero if the message at the cursor is there (or we were lapped). */
static inline int shoal__bcast_ready(const struct shoal__bcast_sub *s)
{
	uint64_t st = atomic_load_explicit(
		&shoal__bcast_slot_at(&s->m, s->cursor)->stamp,
		memory_order_acquire);

	return shoal__bcast_classify(st, s->cursor) != SHOAL__BCAST_NOT_YET;
}

int shoal__bcast_skip_lapped(struct shoal__bcast_sub *s,
			     struct shoal__bcast_view *v);
int shoal__bcast_refuse(struct shoal__bcast_sub *s,
			struct shoal__bcast_view *v);

int shoal__bcast_pass_skip(struct shoal__bcast_sub *s,
			   struct shoal__bcast_view *v);

/*
 * Looks at message cursor + @k without moving: 0 (found, *v filled),
 * -EAGAIN (not yet), -EOVERFLOW (lapped: the cursor moved past the lost
 * ones, v->lost says how many; only at k == 0), -EBADMSG (a length over
 * max_payload: the cursor moved past it; only at k == 0). At k > 0 a lap or
 * a bad length is -EAGAIN: the caller takes what it has first.
 *
 * A skip marker (SHOAL__BCAST_SKIP_LEN) at k == 0 is passed over: the
 * cursor moves past it (release, as a release would), s->skipped counts
 * it, and the next seq is looked at. At k > 0 it is -ENOMSG with v->seq
 * set: it ends a batch; a caller that holds messages before it and takes
 * on past it treats that seq as taken and released at once.
 */
static inline int shoal__bcast_peek(struct shoal__bcast_sub *s, uint32_t k,
				    struct shoal__bcast_view *v)
{
	uint64_t seq;
	struct shoal__bcast_slot *slot;
	uint64_t st;
	int c;

again:
	seq = s->cursor + k;
	slot = shoal__bcast_slot_at(&s->m, seq);
	/* Acquire: pairs with the release store of the even stamp in
	 * shoal__bcast_complete() and shoal__bcast_complete_skip(): the
	 * length and payload are visible. */
	st = atomic_load_explicit(&slot->stamp, memory_order_acquire);
	c = shoal__bcast_classify(st, seq);
	v->slot = slot;
	v->seq = seq;
	v->stamp = st;
	if (c == SHOAL__BCAST_NOT_YET)
		return -EAGAIN;
	if (c == SHOAL__BCAST_LAPPED)
		return k ? -EAGAIN : shoal__bcast_skip_lapped(s, v);
	v->len = atomic_load_explicit(&slot->len, memory_order_relaxed);
	if (__builtin_expect(v->len == SHOAL__BCAST_SKIP_LEN, 0)) {
		int err;

		if (k)
			return -ENOMSG;
		err = shoal__bcast_pass_skip(s, v);
		if (err)
			return err;
		goto again;
	}
	if (v->len > s->m.max_payload)
		return k ? -EAGAIN : shoal__bcast_refuse(s, v);
	v->timestamp_ns =
		atomic_load_explicit(&slot->timestamp_ns, memory_order_relaxed);
	v->lost = 0;
	return 0;
}

/*
 * The message at the cursor when it is simply there: whole (the exact
 * stamp of its seq: not a lap, not being written) with a length the slot
 * holds (so not a skip marker). 0 with @v filled, or -EAGAIN for anything
 * else, with nothing moved and nothing counted: shoal__bcast_peek(s, 0)
 * then judges (not yet, a lap, a skip marker, a bad length). The same
 * loads as the peek, for the common case of a take.
 */
static inline int shoal__bcast_peek_whole(const struct shoal__bcast_sub *s,
					  struct shoal__bcast_view *v)
{
	struct shoal__bcast_slot *slot = shoal__bcast_slot_at(&s->m, s->cursor);
	/* Acquire: pairs with the release store of the even stamp in
	 * shoal__bcast_complete(), as in shoal__bcast_peek(). */
	uint64_t st = atomic_load_explicit(&slot->stamp, memory_order_acquire);
	uint32_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);

	if (st != shoal__bcast_stamp(s->cursor) || len > s->m.max_payload)
		return -EAGAIN;
	v->slot = slot;
	v->seq = s->cursor;
	v->stamp = st;
	v->len = len;
	v->timestamp_ns =
		atomic_load_explicit(&slot->timestamp_ns, memory_order_relaxed);
	v->lost = 0;
	return 0;
}

/*
 * Up to @n messages from the cursor on, into @v[0..): how many (>= 1), or
 * what shoal__bcast_peek(s, 0) returned when none. Nothing moves until
 * shoal__bcast_advance().
 */
static inline int shoal__bcast_peek_batch(struct shoal__bcast_sub *s,
					  struct shoal__bcast_view *v,
					  uint32_t n)
{
	uint32_t k;
	int err = shoal__bcast_peek(s, 0, &v[0]);

	if (err)
		return err;
	for (k = 1; k < n && shoal__bcast_peek(s, k, &v[k]) == 0; k++)
		;
	return (int)k;
}

/* Nonzero if the message @v still holds what was read: an acquire fence
 * (ordering the reads of the message before it), then the stamp again. */
static inline int shoal__bcast_intact(const struct shoal__bcast_view *v)
{
	/* Acquire fence: pairs with the release fence after the odd stamp
	 * in shoal__bcast_mark(): if the payload read saw a new message's
	 * bytes, this load sees its odd (or newer) stamp. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&v->slot->stamp, memory_order_relaxed) ==
	       v->stamp;
}

/* Consumes @n messages: the cursor moves past them (release). */
static inline void shoal__bcast_advance(struct shoal__bcast_sub *s, uint32_t n)
{
	shoal__bcast_set_cursor(s, s->cursor + n);
}

#endif
