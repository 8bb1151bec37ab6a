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
#include "ring/ring_bcast.h"
#include "service/service_layout.h"

/* "SHOALPUB" */
#define SHOAL__PUBSUB_MAGIC 0x4255504c414f4853ULL
/* "SHOALSUB" */
#define SHOAL__PUBSUB_SUBS_MAGIC 0x4255534c414f4853ULL
/* 2: the JOINING line state, seen_gen/seen_from and bound (join_line()).
 * 3: a slot larger than a line starts its payload on a line of its own
 * (shoal__bcast_data_off()).
 * 4: skip markers (a slot of length SHOAL__BCAST_SKIP_LEN: a loan given
 * back between sent ones) and the skipped counter. */
#define SHOAL__PUBSUB_VERSION 4
/* A ring of a service with several publishers (max_publishers > 1):
 * version 4's layout plus max_publishers and slot on line 0. A reader of
 * version 4 only refuses it (-EPROTO) rather than read one ring of
 * several. max_publishers 1 stays version 4, byte for byte. */
#define SHOAL__PUBSUB_VERSION_MULTI 5
/* A ring with payload pools (the object "pubsub.pools"): version 4's or
 * 5's layout (max_publishers on line 0 says which: 0 or 1 is one
 * publisher), but every slot's payload is a struct shoal__pool_ref. A
 * reader of version 4 or 5 refuses it (-EPROTO) rather than deliver
 * references as messages. */
#define SHOAL__PUBSUB_VERSION_POOLS 6

/* Object kinds, from the patterns' range (shoal/segment.h); the values are
 * in existing segments and docs/segment-format.md: never change them. */
enum {
	SHOAL__OBJECT_PUBSUB_HEADER = 4,
	SHOAL__OBJECT_PUBSUB_SLOTS = 5,
	SHOAL__OBJECT_PUBSUB_SUBS = 6,
	SHOAL__OBJECT_PUBSUB_POOLS = 15,
};

#define SHOAL__PUBSUB_HEADER_OBJECT "pubsub.header"
#define SHOAL__PUBSUB_SLOTS_OBJECT "pubsub.slots"
#define SHOAL__PUBSUB_SUBS_OBJECT "pubsub.subs"
#define SHOAL__PUBSUB_POOLS_OBJECT "pubsub.pools"

/* The publisher's registry entry hands out the subscriber segment's memfd
 * and the line eventfds as every owner does (service/service_layout.h). */

struct shoal__pubsub_header {
	/* Line 0: configuration, written before the segment is READY and
	 * never again. */
	struct shoal__ident ident; /* SHOAL__PUBSUB_MAGIC, _VERSION */
	uint32_t delivery;	   /* SHOAL_DELIVERY_* */
	uint32_t capacity;	   /* slots, power of two */
	uint32_t slot_stride;	   /* bytes per slot, multiple of 64 */
	uint32_t max_payload;	   /* payload bytes per slot */
	uint32_t user_header_size; /* bytes, multiple of 8 */
	uint32_t history;	   /* most messages a late joiner may get */
	uint32_t max_subscribers;  /* lines in the subscriber segment */
	uint32_t flags;		   /* SHOAL_PUB_* */
	int32_t subs_memfd;	   /* fd number of the subscriber segment */
	/* Version 4 only (0 in version 3): the service's publisher limit
	 * (2..64) and this ring's publisher slot (< max_publishers), written
	 * before the entry is published. */
	uint32_t max_publishers;
	uint32_t slot;
	uint8_t pad0[8];

	/* Line 1: the broadcast ring's publisher line (ring/ring_bcast.h:
	 * head, seen_from, seen_gen, bound), alone on its line: it changes on
	 * every send, and only joiners and lapped readers load it. Written by
	 * the publisher only. The same bytes by name, for the pattern's own
	 * readers (inspect). */
	union {
		struct shoal__bcast_pub_line ring;
		struct {
			_Atomic uint64_t head;
			_Atomic uint64_t seen_from;
			_Atomic uint32_t seen_gen;
			uint32_t pad1a;
			_Atomic uint64_t bound;
			uint8_t pad1[32];
		};
	};

	/* Line 2: counters (relaxed; statistics only). */
	_Atomic uint64_t blocked;
	_Atomic uint64_t failed;
	_Atomic uint64_t wakeups;
	_Atomic uint64_t evicted;
	/* Skip markers published (aborted loans between sent ones);
	 * version 4. */
	_Atomic uint64_t skipped;
	uint8_t pad2[24];

	/* Line 3: rarely written flags every subscriber loads. */
	_Atomic uint32_t closed;  /* 1 once the publisher withdrew */
	_Atomic uint32_t waiting; /* 1 while the publisher sleeps for room
				   * or for subscribers (written by it): a
				   * subscriber that advances, joins or leaves
				   * writes its eventfd 0 */
	uint8_t pad3[56];
};
SHOAL__HEADER_SHAPE(struct shoal__pubsub_header, delivery, 4, 3);
_Static_assert(offsetof(struct shoal__pubsub_header, max_publishers) == 48 &&
		       offsetof(struct shoal__pubsub_header, slot) == 52,
	       "publisher fields in line 0's old padding");
_Static_assert(offsetof(struct shoal__pubsub_header, head) == 64,
	       "head on line 1");
_Static_assert(offsetof(struct shoal__pubsub_header, bound) ==
		       64 + offsetof(struct shoal__bcast_pub_line, bound),
	       "the names alias the ring's publisher line");
_Static_assert(offsetof(struct shoal__pubsub_header, blocked) == 128,
	       "counters on line 2");

/* A slot: struct shoal__bcast_slot (24 bytes: stamp, len, timestamp_ns),
 * then user_header_size bytes of user header, then the payload at
 * shoal__bcast_data_off(): right after them when the whole slot fits two
 * lines (slots of more than one line then packed at 8 bytes), else at the
 * next line boundary. */
#define SHOAL__PUBSUB_SLOT_HEADER SHOAL__BCAST_SLOT_HEADER

/*
 * Payload pools (version 6), object "pubsub.pools" in the payload segment,
 * written by the publisher only:
 *   struct shoal__pool_table (256 bytes, written before READY, never again)
 *   then per class, at stamps_off: count u64 chunk stamps;
 *   then per class, at data_off (64-aligned): count chunks of size bytes.
 * A chunk's stamp is the slot stamp (shoal__bcast_stamp(seq)) of the
 * message whose payload it holds, 0 while the publisher rewrites it: the
 * chunk's own seqlock word (docs/pubsub-format.md, "Payload pools").
 */
struct shoal__pool_class {
	uint32_t size;	     /* bytes per chunk, multiple of 64 */
	uint32_t count;	     /* chunks */
	uint64_t stamps_off; /* from the object's start, 8-aligned */
	uint64_t data_off;   /* from the object's start, 64-aligned */
};

struct shoal__pool_table {
	uint32_t npools; /* classes, 1..SHOAL_PUB_POOLS_MAX */
	uint32_t pad0;
	uint64_t pad1[3];
	struct shoal__pool_class pool[8];
	uint8_t pad2[32];
};
_Static_assert(sizeof(struct shoal__pool_table) == 256,
	       "pool table is four lines");

/* A pooled slot's payload: where the message is. */
struct shoal__pool_ref {
	uint32_t pool;	/* class index */
	uint32_t chunk; /* chunk index in the class */
	uint32_t len;	/* message bytes, <= the class's size */
	uint32_t pad;
};

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
	SHOAL__SUB_FREE = SHOAL__BCAST_FREE,
	SHOAL__SUB_ACTIVE = SHOAL__BCAST_ACTIVE,
	SHOAL__SUB_JOINING = SHOAL__BCAST_JOINING,
};

/*
 * One subscriber's line. The subscriber owns it while it holds an OFD
 * write lock on byte <index> of the subscriber memfd (taken through its own
 * open file description, so the kernel drops it when the subscriber dies).
 */
struct shoal__pubsub_sub_line {
	/* The broadcast ring's part (struct shoal__bcast_line), and the same
	 * bytes by name: state (SHOAL__SUB_*), pid, cursor. */
	union {
		struct shoal__bcast_line ring;
		struct {
			_Atomic uint32_t state;
			int32_t pid;
			_Atomic uint64_t cursor;
		};
	};
	/* Statistics, relaxed, by the subscriber. */
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t stale;
	_Atomic uint64_t sleeps;
	uint8_t pad[16];
};
_Static_assert(offsetof(struct shoal__pubsub_sub_line, cursor) ==
		       offsetof(struct shoal__bcast_line, cursor),
	       "the names alias the ring's line");
_Static_assert(sizeof(struct shoal__pubsub_sub_line) == SHOAL__CACHE_LINE,
	       "one line per subscriber");

#endif
