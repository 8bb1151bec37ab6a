/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory structures of pub/sub (docs/pubsub-format.md), kept
 * apart from layout.h only because they belong to one pattern. The same
 * rules hold: fixed-width fields, one writer per 64-byte line, every value
 * read from another process checked before use.
 *
 * Payload segment (publisher writes; subscribers map it read-only):
 *   object "pubsub.header"  struct shoal__pubsub_header, then
 *                           int32 wake_fd[max_subscribers] (fd numbers in
 *                           the publisher), then
 *                           u64 wakeups[max_subscribers] (eventfd writes
 *                           made to each subscriber line)
 *   object "pubsub.slots"   capacity slots of slot_stride bytes each
 * Subscriber segment (every subscriber writes; nobody trusts it):
 *   object "pubsub.subs"    struct shoal__pubsub_subs_header, then the
 *                           sleeper bitmap (u32 words, padded to a line),
 *                           then one struct shoal__pubsub_sub_line each
 */
#ifndef SHOAL_SRC_PUBSUB_LAYOUT_H
#define SHOAL_SRC_PUBSUB_LAYOUT_H

#include "segment/layout.h"

/* "SHOALPUB" */
#define SHOAL__PUBSUB_MAGIC 0x4255504c414f4853ULL
/* "SHOALSUB" */
#define SHOAL__PUBSUB_SUBS_MAGIC 0x4255534c414f4853ULL
/* 2: the JOINING line state, seen_gen/seen_from and bound (join_line()). */
#define SHOAL__PUBSUB_VERSION 2

#define SHOAL__PUBSUB_HEADER_OBJECT "pubsub.header"
#define SHOAL__PUBSUB_SLOTS_OBJECT "pubsub.slots"
#define SHOAL__PUBSUB_SUBS_OBJECT "pubsub.subs"

/* Extra fds the publisher's registry entry hands out (by index). */
#define SHOAL__PUBSUB_EXTRA_SUBS_MEMFD 0
#define SHOAL__PUBSUB_EXTRA_WAKE_FD(i) (1 + (i))

struct shoal__pubsub_header {
	/* Line 0: configuration, written before the segment is READY and
	 * never again. */
	uint64_t magic;		   /* SHOAL__PUBSUB_MAGIC */
	uint32_t version;	   /* SHOAL__PUBSUB_VERSION */
	uint32_t delivery;	   /* SHOAL_DELIVERY_* */
	uint32_t capacity;	   /* slots, power of two */
	uint32_t slot_stride;	   /* bytes per slot, multiple of 64 */
	uint32_t max_payload;	   /* payload bytes per slot */
	uint32_t user_header_size; /* bytes, multiple of 8 */
	uint32_t history;	   /* most messages a late joiner may get */
	uint32_t max_subscribers;  /* lines in the subscriber segment */
	uint32_t flags;		   /* SHOAL_PUB_* */
	int32_t subs_memfd;	   /* fd number of the subscriber segment */
	uint8_t pad0[16];

	/* Line 1: the publisher's cursor, alone on its line: it changes on
	 * every send, and only joiners and lapped readers load it. */
	_Atomic uint64_t head; /* next sequence to publish; release-stored
				* after the slot's stamp */
	/* What a reliable publisher gates on, for joiners (join_line()):
	 * at its last rescan it saw subscriber generation seen_gen, and
	 * every message from seen_from on waits for the lines it counted
	 * then. Written by the publisher only: seen_from first, then
	 * seen_gen (release); a joiner acquire-loads seen_gen first, so a
	 * seen_from it reads is at least the one that went with it. */
	_Atomic uint64_t seen_from;
	_Atomic uint32_t seen_gen;
	uint32_t pad1a;
	/* The end of a reliable batch being written (at most capacity past
	 * head), stored before the batch's full fence so a joiner can start
	 * past what it overwrites; head itself counts only messages written.
	 * Written by the publisher only. */
	_Atomic uint64_t bound;
	uint8_t pad1[32];

	/* Line 2: counters (relaxed; statistics only). */
	_Atomic uint64_t blocked;
	_Atomic uint64_t failed;
	_Atomic uint64_t wakeups;
	_Atomic uint64_t evicted;
	uint8_t pad2[32];

	/* Line 3: rarely written flags every subscriber loads. */
	_Atomic uint32_t closed;  /* 1 once the publisher withdrew */
	_Atomic uint32_t waiting; /* 1 while a reliable publisher sleeps for
				   * room: a subscriber that advances writes
				   * its eventfd 0 */
	uint8_t pad3[56];
};
_Static_assert(sizeof(struct shoal__pubsub_header) == 4 * SHOAL__CACHE_LINE,
	       "pubsub header is four lines");
_Static_assert(offsetof(struct shoal__pubsub_header, head) == 64,
	       "head on line 1");
_Static_assert(offsetof(struct shoal__pubsub_header, blocked) == 128,
	       "counters on line 2");
_Static_assert(offsetof(struct shoal__pubsub_header, closed) == 192,
	       "flags on line 3");

/*
 * A slot. Its stamp is a seqlock word for the message it holds:
 *   (seq + 1) << 1        the message with sequence seq, complete
 *   ((seq + 1) << 1) | 1  the publisher is writing message seq
 *   0                     never written
 * The publisher stores the odd stamp, release-fences, writes len,
 * timestamp, user header and payload, then release-stores the even stamp. A
 * reader acquire-loads the stamp, reads, acquire-fences, and re-loads it:
 * the same even value both times means what it read is whole.
 */
struct shoal__pubsub_slot {
	_Atomic uint64_t stamp;
	_Atomic uint32_t len; /* payload bytes; <= max_payload */
	uint32_t pad;
	_Atomic int64_t timestamp_ns;
	/* user_header_size bytes of user header, then the payload */
};
#define SHOAL__PUBSUB_SLOT_HEADER 24
_Static_assert(sizeof(struct shoal__pubsub_slot) == SHOAL__PUBSUB_SLOT_HEADER,
	       "slot header is 24 bytes");

static inline uint64_t shoal__pubsub_stamp(uint64_t seq)
{
	return (seq + 1) << 1;
}

/* Subscriber segment, line 0. */
struct shoal__pubsub_subs_header {
	uint64_t magic;		  /* SHOAL__PUBSUB_SUBS_MAGIC, by the creator */
	uint32_t max_subscribers; /* by the creator */
	uint32_t pad0;
	/* Bumped (seq_cst) by a subscriber after it joins or before it
	 * leaves; a reliable publisher rescans the lines when it changes. */
	_Atomic uint32_t generation;
	uint8_t pad[44];
};
_Static_assert(sizeof(struct shoal__pubsub_subs_header) == SHOAL__CACHE_LINE,
	       "subs header is one line");

/*
 * Line states. A joiner is JOINING from its announcement until it has
 * decided where to start, then ACTIVE: a reliable publisher gates on both,
 * but counts (shoal_pub_subscribers()) only ACTIVE lines, so a subscriber
 * it counted is owed every message sent after the count.
 */
enum {
	SHOAL__SUB_FREE = 0,
	SHOAL__SUB_ACTIVE = 1,
	SHOAL__SUB_JOINING = 2,
};

/*
 * One subscriber's line. The subscriber owns it while it holds an OFD
 * write lock on byte <index> of the subscriber memfd (taken through its own
 * open file description, so the kernel drops it when the subscriber dies).
 */
struct shoal__pubsub_sub_line {
	_Atomic uint32_t state; /* SHOAL__SUB_*; release-stored after cursor */
	int32_t pid;		/* informational */
	/* Next sequence the subscriber will take: everything before it is
	 * consumed (reliable gating reads this). */
	_Atomic uint64_t cursor;
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t stale;
	_Atomic uint64_t sleeps;
	uint8_t pad[16];
};
_Static_assert(sizeof(struct shoal__pubsub_sub_line) == SHOAL__CACHE_LINE,
	       "one line per subscriber");

/* Bytes of the sleeper bitmap for @max subscribers, padded to a line. */
static inline uint64_t shoal__pubsub_bitmap_bytes(uint32_t max)
{
	uint64_t words = (max + 31) / 32;

	return (words * 4 + SHOAL__CACHE_LINE - 1) / SHOAL__CACHE_LINE *
	       SHOAL__CACHE_LINE;
}

#endif
