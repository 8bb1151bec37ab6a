/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory structures of the event pattern (docs/event.md), kept
 * apart from layout.h only because they belong to one pattern. The same
 * rules hold: fixed-width fields, every value read from another process
 * checked before use.
 *
 * Creator's segment (the creator writes it; peers map it read-only, sealed
 * F_SEAL_FUTURE_WRITE, so no peer can change the configuration):
 *   object "event.header"  struct shoal__event_header, then
 *                          int32 wake_fd[max_listeners] (fd numbers in the
 *                          creator of each line's eventfd)
 * Listeners' segment (every process writes it; nobody trusts it):
 *   object "event.lines"   struct shoal__event_lines_header, then the
 *                          interest table (one row of listener bits per
 *                          id: listener i sets and clears its own bit i,
 *                          seq_cst; notifiers read rows, acquire), then
 *                          max_listeners lines of line_stride bytes each
 * Both objects are of kind SHOAL__OBJECT_EVENT_HEADER; their names tell
 * them apart.
 */
#ifndef SHOAL_SRC_EVENT_LAYOUT_H
#define SHOAL_SRC_EVENT_LAYOUT_H

#include "segment/layout.h"
#include "service/service_layout.h"

/* "SHOALEVT" */
#define SHOAL__EVENT_MAGIC 0x5456454c414f4853ULL
/* "SHOALLSN" */
#define SHOAL__EVENT_LINES_MAGIC 0x4e534c4c414f4853ULL
#define SHOAL__EVENT_VERSION 1

/* The object kind, from the patterns' range (shoal/segment.h); the value
 * is in existing segments and docs/segment-format.md: never change it. */
enum {
	SHOAL__OBJECT_EVENT_HEADER = 12,
};

#define SHOAL__EVENT_HEADER_OBJECT "event.header"
#define SHOAL__EVENT_LINES_OBJECT "event.lines"

/* The creator's registry entry hands out the listeners' segment's memfd
 * and the line eventfds as every owner does (service/service_layout.h). */

struct shoal__event_header {
	/* Line 0: configuration, written by the creator before the segment
	 * is READY and never again; a peer reads it once and checks it. */
	struct shoal__ident ident; /* SHOAL__EVENT_MAGIC, _VERSION */
	uint32_t ids;		   /* event ids, 1..SHOAL_EVENT_IDS_MAX */
	uint32_t max_listeners;	   /* lines, 1..SHOAL_EVENT_LISTENERS_MAX */
	uint32_t line_stride;	   /* bytes per line (see line_stride()) */
	int32_t lines_memfd; /* creator's fd number of the lines segment */
	uint32_t flags;	     /* 0 */
	uint8_t pad0[32];

	/* Line 1: set once, by the creator when it withdraws (release, then
	 * a full fence and a wake of every line); acquire-loaded by peers
	 * before notifying and while waiting. */
	_Atomic uint32_t closed; /* 1 once the creator withdrew */
	uint8_t pad1[60];
};
SHOAL__HEADER_SHAPE(struct shoal__event_header, ids, 2, 1);

/* Listeners' segment, line 0. Everything here is written by any process:
 * the magic and limits are informational, the counters statistics. */
struct shoal__event_lines_header {
	uint64_t magic;		/* SHOAL__EVENT_LINES_MAGIC, by the creator */
	uint32_t ids;		/* by the creator */
	uint32_t max_listeners; /* by the creator */
	_Atomic uint64_t notifies;  /* notify calls, by every notifier */
	_Atomic uint64_t delivered; /* pending bits newly set, likewise */
	_Atomic uint64_t wakeups;   /* eventfd writes, likewise */
	uint8_t pad[24];
};
_Static_assert(sizeof(struct shoal__event_lines_header) == SHOAL__CACHE_LINE,
	       "lines header is one line");

/* Line states. */
enum {
	SHOAL__EVENT_LINE_FREE = 0,
	SHOAL__EVENT_LINE_ACTIVE = 1,
};

/*
 * One listener's line: this 64-byte head, then pending[words] (u64,
 * padded to a line), then interest[words] (u64, padded to a line), where
 * words = (ids + 63) / 64. pending: notifiers set bits (release fetch_or),
 * the owner takes them (acquire fetch_and) and clears them when it claims
 * the line or starts listening to an id. interest: written by the owner
 * (relaxed), read only by inspect; the owner's own copy is what counts. The listener owns it while it holds an OFD
 * write lock on byte <index> of the lines memfd, taken through its own
 * open file description: the kernel drops it when the listener dies.
 */
struct shoal__event_line {
	/* SHOAL__EVENT_LINE_*; by the owner, release-stored ACTIVE after
	 * the rest of the line is reset, FREE when it leaves. */
	_Atomic uint32_t state;
	int32_t pid; /* by the owner; informational */
	/* 1 while the owner may sleep: set by the owner before its re-check
	 * (seq_cst fence after), taken (exchanged to 0) by the notifier that
	 * writes the line's eventfd. */
	_Atomic uint32_t sleeping;
	uint32_t pad0;
	_Atomic uint64_t received; /* ids reported to the owner; by it */
	_Atomic uint64_t sleeps;   /* the owner's sleeps; by it */
	/* By notifiers; zeroed by each new owner when it claims the line. */
	_Atomic uint64_t delivered; /* bits newly set here */
	_Atomic uint64_t wakeups;   /* eventfd writes here */
	uint8_t pad[16];
};
_Static_assert(sizeof(struct shoal__event_line) == SHOAL__CACHE_LINE,
	       "a line's head is one cache line");

/* u64 words of an id bitmap. */
static inline uint32_t shoal__event_words(uint32_t ids)
{
	return (ids + 63) / 64;
}

/* Bytes of @words u64s, padded to whole cache lines. */
static inline uint64_t shoal__event_pad_words(uint64_t words)
{
	return (words * 8 + SHOAL__CACHE_LINE - 1) / SHOAL__CACHE_LINE *
	       SHOAL__CACHE_LINE;
}

/* Bytes of one line: head, pending, interest. */
static inline uint32_t shoal__event_line_stride(uint32_t ids)
{
	return (uint32_t)(SHOAL__CACHE_LINE +
			  2 * shoal__event_pad_words(shoal__event_words(ids)));
}

/* u64 words of one interest-table row: a bit per listener line. */
static inline uint32_t shoal__event_row_words(uint32_t max_listeners)
{
	return (max_listeners + 63) / 64;
}

/* Bytes of the interest table: one row per id, padded to a line. */
static inline uint64_t shoal__event_table_bytes(uint32_t ids,
						uint32_t max_listeners)
{
	return shoal__event_pad_words((uint64_t)ids *
				      shoal__event_row_words(max_listeners));
}

#endif
