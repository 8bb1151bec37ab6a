/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory structures of the variable-length byte ring (object kind
 * SHOAL_OBJECT_VAR_RING; docs/var-ring.md), kept apart from layout.h only
 * because they belong to one component. The same rules hold: fixed-width
 * fields, one writer per 64-byte line, every value read from another
 * process checked before use.
 *
 * Region: four header lines (struct shoal__varring), then capacity bytes of
 * records. The record at position p starts at byte p & (capacity - 1) of
 * the data area with an 8-byte header word (below); its payload follows.
 * Records are 8-byte aligned and never cross the end of the data area.
 *
 * Zero invariant: every byte of the data area that no producer has claimed
 * (positions from tail to head + capacity) is zero. Format establishes it;
 * the consumer re-establishes it by zeroing every record it consumes before
 * handing the bytes back. So a header word that is still zero means "not
 * committed yet", and stale payload bytes of an earlier lap are never read
 * as a header.
 */
#ifndef SHOAL_SRC_RING_VAR_LAYOUT_H
#define SHOAL_SRC_RING_VAR_LAYOUT_H

#include "segment/layout.h"

/* "SHOALVAR" */
#define SHOAL__VARRING_MAGIC 0x5241564c414f4853ULL
#define SHOAL__VARRING_HEADER 8 /* bytes of a record header */
#define SHOAL__VARRING_ALIGN 8	/* records start at multiples of this */

/*
 * Record header word:
 *   bits  0..31  tag: the low 32 bits of (position >> 3), so a header is
 *                only accepted at the position it was written for;
 *   bits 32..61  length: payload bytes of a message, or the whole record's
 *                bytes (header included, a multiple of 8) of a padding
 *                record;
 *   bit  62      COMMITTED: always set in a written header, so a written
 *                header is never zero whatever its tag and length;
 *   bit  63      PAD: a padding record, skipped by the consumer.
 * Written once per record by its producer with a release store (payload
 * first); read by the consumer with an acquire load, zeroed by it after use.
 */
#define SHOAL__VARRING_HDR_PAD (1ULL << 63)
#define SHOAL__VARRING_HDR_COMMITTED (1ULL << 62)
#define SHOAL__VARRING_LEN_MASK 0x3fffffffu

struct shoal__varring {
	/* Line 0: geometry. Written by shoal_varring_format() before any peer
	 * sees the region; each side reads it once at init and keeps checked
	 * copies. */
	uint64_t magic;	      /* SHOAL__VARRING_MAGIC */
	uint64_t capacity;    /* data bytes, a power of two */
	uint32_t flags;	      /* SHOAL_VARRING_SPSC or SHOAL_VARRING_MPSC */
	uint32_t max_message; /* SHOAL_VARRING_MAX_MESSAGE(capacity) */
	uint64_t start_pos;   /* first position (informational) */
	uint8_t pad0[32];

	/* Line 1: written by producers only. */
	_Atomic uint64_t tail; /* end of the claimed records: the next record
				* starts here. SPSC: relaxed store by the one
				* producer. MPSC: acq_rel CAS by any producer,
				* acquire loads, so a head read after tail is
				* as new as the one its claimant saw. The
				* consumer never reads it: it polls record
				* headers. */
	uint8_t pad1[56];

	/* Line 2: written by the consumer only. */
	_Atomic uint64_t head; /* next position to read. Release-stored after
				* the consumed records were read and zeroed;
				* pairs with the producers' acquire load before
				* they claim the space. */
	uint8_t pad2[56];

	/* Line 3: counters, written by producers (relaxed read-modify-write),
	 * for monitoring only. */
	_Atomic uint64_t aborted; /* records turned into padding by abort */
	uint8_t pad3[56];
};
_Static_assert(sizeof(struct shoal__varring) == 4 * SHOAL__CACHE_LINE,
	       "var ring header is four lines");
_Static_assert(offsetof(struct shoal__varring, tail) == 64, "tail line");
_Static_assert(offsetof(struct shoal__varring, head) == 128, "head line");
_Static_assert(offsetof(struct shoal__varring, aborted) == 192,
	       "counters line");

#endif
