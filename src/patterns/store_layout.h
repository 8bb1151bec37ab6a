/* SPDX-License-Identifier: MIT */
/*
 * The bytes of a store (docs/store-format.md). Two segments:
 *
 *  The owner's segment, sealed F_SEAL_FUTURE_WRITE once ready: peers map
 *  it read-only, so no peer can change the table. The owner keeps its own
 *  writable mapping (a future-write seal leaves existing mappings alone)
 *  and appends entries to the table after READY.
 *    object "store" (SHOAL__OBJECT_STORE_HEADER): struct
 *           shoal__store_header, then max_objects table entries of
 *           struct shoal__store_entry.
 *
 *  The data segment, mapped read-write by read-write peers and read-only
 *  by read-only ones; any read-write peer can write any byte of it, so
 *  nothing in it is trusted (the object algorithms check what they read:
 *  docs/objects.md).
 *    object "store.heap" (SHOAL__OBJECT_STORE_HEAP): heap_size bytes, cut
 *           by bump allocation into the objects' regions.
 *
 * The owner's registry entry hands out the data segment's memfd as extra
 * fd 0 (service/service_layout.h: SHOAL__EXTRA_LINES_MEMFD). Change
 * notification goes through an event service of its own name
 * "<store>/events" (docs/store.md, "Waiting for changes").
 */
#ifndef SHOAL_STORE_LAYOUT_H
#define SHOAL_STORE_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "segment/layout.h"
#include "service/service_layout.h"

/* "SHOALSTO" read as a little-endian u64. */
#define SHOAL__STORE_MAGIC 0x4f54534c414f4853ULL
#define SHOAL__STORE_VERSION 1
#define SHOAL__STORE_HEADER_OBJECT "store"
#define SHOAL__STORE_HEAP_OBJECT "store.heap"
/* The kinds, from the patterns' range (shoal/segment.h); the values are in
 * existing segments and docs/segment-format.md: never change them. */
enum {
	SHOAL__OBJECT_STORE_HEADER = 13,
	SHOAL__OBJECT_STORE_HEAP = 14,
};
/* Every object's region starts on, and is a whole number of, lines. */
#define SHOAL__STORE_ALIGN 64u
/* The suffix of the event service beside a store. */
#define SHOAL__STORE_EVENTS_SUFFIX "/events"

struct shoal__store_header {
	/* Line 0: configuration, written by the owner before READY, never
	 * again. A peer reads it once, after the acquire load of READY in
	 * shoal_segment_open(), and checks it. */
	struct shoal__ident ident; /* SHOAL__STORE_MAGIC, _VERSION */
	uint32_t max_objects; /* table entries, 1..SHOAL_STORE_OBJECTS_MAX */
	uint64_t heap_size;   /* bytes of "store.heap", a multiple of 64 */
	int32_t heap_memfd;   /* the owner's fd number of the data segment */
	uint32_t event_ids;   /* ids of "<store>/events"; 0: none */
	uint32_t flags;	      /* 0 */
	uint8_t pad0[28];

	/* Line 1: 0, then 1 once the owner withdrew (release, by the owner
	 * only: peers cannot write this segment). */
	_Atomic uint32_t closed;
	uint8_t pad1[60];

	/* Line 2: written only by the owner, as it adds objects. It writes
	 * entry [nobjects] and its region's format first, then release-
	 * stores nobjects + 1 (pairs with the acquire load of nobjects in a
	 * peer's lookup), then heap_used (relaxed, for tools). */
	_Atomic uint32_t nobjects; /* entries in use, <= max_objects */
	uint32_t pad2;
	_Atomic uint64_t heap_used; /* bytes of the heap handed out */
	uint8_t pad3[48];
	/* Then struct shoal__store_entry table[max_objects]. */
};
SHOAL__HEADER_SHAPE(struct shoal__store_header, max_objects, 3, 1);

/* shoal__store_entry.kind: SHOAL_STORE_ARRAY.. (shoal/store.h). */

/*
 * One object: written once by the owner, before it publishes it (nobjects),
 * never again. A peer copies it into its handle once, checks the copy, and
 * uses only the copy from then on.
 */
struct shoal__store_entry {
	char name[40];	    /* NUL-terminated, 1..39 printable bytes */
	char type_name[32]; /* NUL-terminated, may be empty */
	uint32_t kind;	    /* SHOAL_STORE_* */
	uint32_t elem_size; /* bytes per element / value */
	uint32_t elem_align;
	uint32_t count;	     /* elements, keys, or capacity */
	uint32_t key_size;   /* map: bytes per key; else 0 */
	uint32_t flags;	     /* SHOAL_STORE_OBJ_* */
	uint32_t event_base; /* blackboard: key k notifies (base+k) % ids */
	uint32_t pad;
	uint64_t offset; /* from the heap's start, a multiple of 64 */
	uint64_t size;	 /* bytes, a multiple of 64 */
	uint8_t pad1[8];
};
_Static_assert(sizeof(struct shoal__store_entry) == 128, "two lines");
_Static_assert(offsetof(struct shoal__store_entry, offset) == 104,
	       "docs/store-format.md");

static inline uint64_t shoal__store_header_bytes(uint32_t max_objects)
{
	return sizeof(struct shoal__store_header) +
	       (uint64_t)max_objects * sizeof(struct shoal__store_entry);
}

static inline struct shoal__store_entry *
shoal__store_table(struct shoal__store_header *h)
{
	return (struct shoal__store_entry *)(h + 1);
}

#endif
