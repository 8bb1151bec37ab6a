/* SPDX-License-Identifier: MIT */
/*
 * The bytes of a queue (docs/queue-format.md). One segment, writable by
 * every participant, with two objects:
 *   "queue" (SHOAL_OBJECT_QUEUE_HEADER): this header, the wake fd table and
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

#define SHOAL__QUEUE_MAGIC 0x4555455551414f53ULL /* "SOAQUEUE" */
#define SHOAL__QUEUE_VERSION 1
#define SHOAL__QUEUE_HEADER_OBJECT "queue"
#define SHOAL__QUEUE_RING_OBJECT "ring"
/* Sleeper bitmaps are one line each: up to 512 participants. */
#define SHOAL__QUEUE_BITMAP_WORDS 16

struct shoal__queue_header {
	/* Line 0: configuration, written by the creator before the segment
	 * is ready; peers read it once and check it. */
	uint64_t magic;
	uint32_t version;
	uint32_t flags; /* SHOAL_QUEUE_SPSC */
	uint32_t capacity;
	uint32_t max_message;
	uint32_t max_participants;
	uint32_t pad0;
	uint8_t pad1[32];

	/* Line 1: set (release) when the creator withdraws. */
	_Atomic uint32_t closed;
	uint8_t pad2[60];

	/* Line 2: consumers asleep waiting for a message, a bit each. */
	_Atomic uint32_t consumers_asleep[SHOAL__QUEUE_BITMAP_WORDS];
	/* Line 3: producers asleep waiting for room. */
	_Atomic uint32_t producers_asleep[SHOAL__QUEUE_BITMAP_WORDS];
	/* Then: int32 wake_fds[max_participants] (the creator's fd numbers
	 * of each line's eventfd, for pidfd_getfd), rounded up to whole
	 * lines; then struct shoal__queue_line[max_participants]. */
};
_Static_assert(sizeof(struct shoal__queue_header) == 4 * SHOAL__CACHE_LINE,
	       "queue header is four lines");
_Static_assert(offsetof(struct shoal__queue_header, consumers_asleep) == 128,
	       "bitmap line");

enum {
	SHOAL__QUEUE_LINE_FREE = 0,
	SHOAL__QUEUE_LINE_ACTIVE = 1,
};

/* One participant's line, written only by its owner (who holds the OFD
 * lock on byte <index> of the segment memfd). */
struct shoal__queue_line {
	_Atomic uint32_t state;
	uint32_t role;
	/* Bumped by each new owner; part of the owner token recorded in the
	 * ring's claim words, so a reused line does not vouch for the dead
	 * owner before it. */
	_Atomic uint32_t generation;
	int32_t pid;
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
