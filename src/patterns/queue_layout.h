/* SPDX-License-Identifier: MIT */
/*
 * The bytes of a queue (docs/queue-format.md). One segment, writable by
 * every participant, with two objects:
 *   "queue" (SHOAL__OBJECT_QUEUE_HEADER): this header, the wake fd table and
 *           one line per participant;
 *   "ring"  (SHOAL_OBJECT_MPMC_RING, or SHOAL_OBJECT_SPSC_RING for an SPSC
 *           queue): the messages.
 */
#ifndef SHOAL_QUEUE_LAYOUT_H
#define SHOAL_QUEUE_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "segment/layout.h"
#include "service/service_layout.h"

/* "SHOALQUE" read as a little-endian u64, as every other shoal magic. */
#define SHOAL__QUEUE_MAGIC 0x4555514c414f4853ULL
/* 2: the magic follows the SHOAL convention (1 was "SOAQUEUE"). */
#define SHOAL__QUEUE_VERSION 2
#define SHOAL__QUEUE_HEADER_OBJECT "queue"
/* The header's object kind, from the patterns' range (shoal/segment.h);
 * the value is in existing segments and docs/segment-format.md. */
enum {
	SHOAL__OBJECT_QUEUE_HEADER = 9,
};
#define SHOAL__QUEUE_RING_OBJECT "ring"
/* Sleeper bitmaps are one line each: up to 512 participants. */
#define SHOAL__QUEUE_BITMAP_WORDS 16

/*
 * Every participant maps the whole segment read-write, so any of them can
 * write any field below: "written by" says who does so when everyone keeps
 * to the protocol, and a reader checks what it reads (docs/queue.md,
 * "Shared memory is untrusted").
 */
struct shoal__queue_header {
	/* Line 0: configuration, written by the creator before it
	 * release-stores the segment READY, never again. An opener reads it
	 * once, after its acquire load of READY, and checks it. */
	struct shoal__ident ident; /* SHOAL__QUEUE_MAGIC, _VERSION (else
				   * -EPROTO) */
	uint32_t flags;		   /* SHOAL_QUEUE_SPSC or 0 */
	uint32_t capacity;	   /* cells, a power of two, 2..2^20 */
	uint32_t max_message;	   /* bytes per message, 1..64 MiB */
	uint32_t max_participants; /* lines, 1..512 (2 with SPSC) */
	uint32_t pad0;
	uint8_t pad1[32];

	/* Line 1: 0, then 1 once the creator is gone for good. Written
	 * (release) by the creator when it withdraws, before it wakes
	 * every line, and by any participant that saw the creator's
	 * pidfd readable (it died), so that pushers that never sleep, and
	 * so never see the pidfd, learn it too. Read (acquire) by every
	 * attempt that has to wait (creator_gone), and (relaxed) at the
	 * start of every push and in arm()'s readiness test: pushes then
	 * fail with -EPIPE, pops drain the ring first. */
	_Atomic uint32_t closed;
	uint8_t pad2[60];

	/* Line 2: consumers asleep waiting for a message, a bit per line.
	 * A consumer sets its own bit (fetch_or) before its seq_cst fence and
	 * re-check (shoal_waiter_arm) and clears it once ready or when it
	 * leaves; a pusher, after its fence, clears one set bit (fetch_and)
	 * and writes that line's eventfd. All relaxed: the fences order it. */
	_Atomic uint32_t consumers_asleep[SHOAL__QUEUE_BITMAP_WORDS];
	/* Line 3: producers asleep waiting for room; the same, with
	 * producers setting bits and poppers clearing them. */
	_Atomic uint32_t producers_asleep[SHOAL__QUEUE_BITMAP_WORDS];
	/* Then: int32 wake_fds[max_participants], written by the creator
	 * before READY: its fd numbers of each line's eventfd, which an
	 * opener passes back to the creator (pidfd_getfd or SCM_RIGHTS) and
	 * checks to be an eventfd; rounded up to whole lines. Then struct
	 * shoal__queue_line[max_participants]. */
};
SHOAL__HEADER_SHAPE(struct shoal__queue_header, flags, 4, 1);
_Static_assert(offsetof(struct shoal__queue_header, consumers_asleep) == 128,
	       "bitmap line");

enum {
	SHOAL__QUEUE_LINE_FREE = 0,
	SHOAL__QUEUE_LINE_ACTIVE = 1,
};

/*
 * One participant's line, written only by its owner: the handle that holds
 * the OFD write lock on byte <index> of the segment memfd (the kernel drops
 * it when the owner dies, however it dies). Other participants read
 * generation (liveness of a ring claim) and state (participant count);
 * the rest is for tools and debuggers.
 */
struct shoal__queue_line {
	/* FREE or ACTIVE; release-stored ACTIVE by the owner after the
	 * fields below, FREE when it leaves. Read relaxed (counting only). */
	_Atomic uint32_t state;
	uint32_t role; /* SHOAL_QUEUE_PRODUCER/_CONSUMER bits; informational */
	/* Bumped (acq_rel) by each new owner as it claims the line; its low
	 * 12 bits are part of the owner token recorded in the ring's claim
	 * words, so a reused line does not vouch for the dead owner before
	 * it. Acquire-loaded by a waiter's liveness test (token_alive). */
	_Atomic uint32_t generation;
	int32_t pid; /* the owner's; informational */
	/* The owner's counters, relaxed, for statistics only; zeroed by
	 * each new owner. */
	_Atomic uint64_t pushed;
	_Atomic uint64_t popped;
	_Atomic uint64_t sleeps;
	_Atomic uint64_t wakeups;
	_Atomic uint64_t recovered;
	uint8_t pad[8];
};
_Static_assert(sizeof(struct shoal__queue_line) == SHOAL__CACHE_LINE,
	       "a line each");

static inline uint64_t shoal__queue_fd_table_bytes(uint32_t max)
{
	return ((uint64_t)max * 4 + SHOAL__CACHE_LINE - 1) / SHOAL__CACHE_LINE *
	       SHOAL__CACHE_LINE;
}

static inline uint64_t shoal__queue_header_bytes(uint32_t max)
{
	return sizeof(struct shoal__queue_header) +
	       shoal__queue_fd_table_bytes(max) +
	       (uint64_t)max * sizeof(struct shoal__queue_line);
}

#endif
