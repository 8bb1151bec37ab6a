/* SPDX-License-Identifier: MIT */
/*
 * Every structure shoal places in shared memory, and nothing else.
 *
 * Rules (see docs/segment-format.md for the byte-level description):
 *  - fixed-width integers only: no pointers, size_t, bool, enums, bitfields;
 *    locations are byte offsets from the segment base;
 *  - all multi-byte fields are in the host's byte order (shoal is host-local);
 *  - fields written by different processes live on different 64-byte lines;
 *  - every struct has its size and key offsets checked by _Static_assert;
 *  - a process reading a field written by another one treats it as untrusted:
 *    it reads it once into a local, checks it, then uses the local.
 * Each field's comment says what it means, who writes it and how it is
 * ordered.
 */
#ifndef SHOAL_SRC_LAYOUT_H
#define SHOAL_SRC_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHOAL__CACHE_LINE 64

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "64-bit atomics in shared memory must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
	       "32-bit atomics in shared memory must be lock-free");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 is 8 bytes");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 is 4 bytes");

/* ------------------------------------------------------------------------
 * Segment header, at offset 0 of every segment.
 *
 * Written only by the creator, before it release-stores state = READY; after
 * that nobody writes it. A peer acquire-loads state first, then copies the
 * header once and validates the copy.
 */

/* "SHOALSEG" read as a little-endian u64. */
#define SHOAL__SEG_MAGIC 0x4745534c414f4853ULL
#define SHOAL__SEG_VERSION_MAJOR 1
#define SHOAL__SEG_VERSION_MINOR 0
/* state values; anything else is corrupt. */
#define SHOAL__SEG_STATE_INIT 0u
#define SHOAL__SEG_STATE_READY 0x59444552u /* "REDY" */
/* header.flags */
#define SHOAL__SEG_FLAG_PEERS_READ_ONLY 1u

struct shoal__seg_header {
	uint64_t magic;		/* SHOAL__SEG_MAGIC */
	uint16_t version_major; /* incompatible layout changes */
	uint16_t version_minor; /* compatible additions; readers accept newer */
	uint32_t header_size;	/* bytes of this fixed header, >= 64 */
	uint64_t total_size;	/* bytes of the memfd; must equal its size */
	uint64_t epoch;		/* creator's incarnation number, nonzero */
	_Atomic uint32_t state; /* INIT, then READY (release, written last) */
	uint32_t object_count;	/* entries in the table, <= 64 */
	uint32_t table_offset;	/* bytes from base to entry 0, 8-aligned */
	uint32_t entry_size;	/* bytes per entry, >= 64, 8-aligned */
	uint32_t flags;		/* SHOAL__SEG_FLAG_* */
	uint8_t pad[12];
};
_Static_assert(sizeof(struct shoal__seg_header) == 64, "header is 64 bytes");
_Static_assert(offsetof(struct shoal__seg_header, state) == 32, "state at 32");

#define SHOAL__SEG_NAME_BYTES 40

/* One named object. Written by the creator before READY. */
struct shoal__seg_entry {
	/* Printable, NUL-terminated. */
	char name[SHOAL__SEG_NAME_BYTES];
	uint32_t kind;	 /* SHOAL_OBJECT_* */
	uint32_t align;	 /* power of two; offset % align == 0 */
	uint64_t offset; /* from base, past the table */
	uint64_t size;	 /* bytes, > 0, ends inside the segment */
};
_Static_assert(sizeof(struct shoal__seg_entry) == 64, "entry is 64 bytes");

/* shoal__segment_kind_name - the name of @kind if it is one of the
 * segment or ring layer's (SHOAL_OBJECT_* in shoal/segment.h), else NULL:
 * a pattern's kinds are named by the pattern (service/service.h). */
const char *shoal__segment_kind_name(uint32_t kind);

/* ------------------------------------------------------------------------
 * SPSC ring (object kind SHOAL_OBJECT_SPSC_RING).
 *
 * Three header lines, then capacity slots of slot_stride bytes each. Slot i
 * holds the message of every position p with p & (capacity - 1) == i.
 * Slots are packed (8-byte aligned, not cache-line aligned): they are all
 * written by the producer, so packing them shares no line between writers,
 * and small messages then move several to a cache line.
 */

/* "SHOALSPS" */
#define SHOAL__SPSC_MAGIC 0x5350534c414f4853ULL
#define SHOAL__SPSC_SLOT_HEADER 8

struct shoal__spsc_ring {
	/* Line 0: geometry. Written by the formatter before the segment is
	 * READY; each side reads it once at init and keeps checked copies. */
	uint64_t magic;	      /* SHOAL__SPSC_MAGIC */
	uint32_t capacity;    /* slots, a power of two */
	uint32_t slot_size;   /* payload bytes per slot */
	uint64_t slot_stride; /* bytes per slot: header + payload, 8-aligned */
	uint64_t start_pos;   /* first position (informational) */
	uint8_t pad0[32];

	/* Line 1: written by the producer only. */
	_Atomic uint64_t head; /* next position to be written. Relaxed: for
				* monitoring only; consumers poll slot seq. */
	uint8_t pad1[56];

	/* Line 2: written by the consumer only. */
	_Atomic uint64_t tail; /* next position to be read. Release-stored once
				* the consumer is done with the slots below it;
				* pairs with the producer's acquire load before
				* it reuses them. */
	uint8_t pad2[56];
};
_Static_assert(sizeof(struct shoal__spsc_ring) == 3 * SHOAL__CACHE_LINE,
	       "ring header is three lines");
_Static_assert(offsetof(struct shoal__spsc_ring, head) == 64, "head line");
_Static_assert(offsetof(struct shoal__spsc_ring, tail) == 128, "tail line");

/*
 * Header of each slot; the payload follows it. Written by the producer.
 * One 64-bit word holds both the position and the length, so one release
 * store publishes a message and one acquire load reads its whole header.
 */
struct shoal__spsc_slot {
	/* Low 32 bits: the low 32 bits of the position p whose message the
	 * slot holds once committed; high 32 bits: its length in bytes
	 * (untrusted: checked <= slot_size before use). Release-stored after
	 * the payload; pairs with the consumer's acquire load in look().
	 * Formatted to position p - capacity (length 0) for the first lap.
	 * 32 bits of position suffice: a slot only ever holds p or p - capacity,
	 * and capacity < 2^32. */
	_Atomic uint64_t state;
};
_Static_assert(sizeof(struct shoal__spsc_slot) == SHOAL__SPSC_SLOT_HEADER,
	       "slot header is 8 bytes");

/* ------------------------------------------------------------------------
 * Wait word (object kind SHOAL_OBJECT_NOTIFY): one line, written by the
 * waiting side, except that a notifier clears "sleeping" when it takes the
 * job of waking the waiter.
 */

/* "SHOALNTF" */
#define SHOAL__NOTIFY_MAGIC 0x46544e4c414f4853ULL

struct shoal__notify_word {
	uint64_t magic;		   /* SHOAL__NOTIFY_MAGIC, set by format */
	_Atomic uint32_t sleeping; /* nonzero: the waiter is (about to be)
				    * blocked in the eventfd. Set by the waiter
				    * before a full fence; loaded after a full
				    * fence by a notifier, which exchanges it
				    * to 0 before writing the eventfd. */
	uint32_t pad0;
	_Atomic uint64_t sleeps; /* times the waiter blocked (statistics) */
	uint8_t pad[40];
};
_Static_assert(sizeof(struct shoal__notify_word) == SHOAL__CACHE_LINE,
	       "wait word is one line");

/* ------------------------------------------------------------------------
 * Registry descriptor: the whole content of one file in the registry
 * directory. Written once by the owner into an O_TMPFILE before linkat()
 * makes it visible, never modified after. Every reader validates a private
 * copy (size, magic, version, checksum, every field's bounds) before use.
 */

/* "SHOALDSC" */
#define SHOAL__DESC_MAGIC 0x4353444c414f4853ULL
#define SHOAL__DESC_VERSION_MAJOR 1
/* Minor 1 added extra_fd_count; a minor 0 descriptor has none. Minor 2
 * added the owner's PID and user namespace identities, minor 3 origin. */
#define SHOAL__DESC_VERSION_MINOR 3
#define SHOAL__DESC_SIZE 1024
#define SHOAL__DESC_EVENTFDS 8
#define SHOAL__DESC_SOCKET_BYTES 64
#define SHOAL__DESC_ORIGIN_BYTES 128 /* SHOAL_ORIGIN_MAX + 1 */
/* descriptor.flags */
#define SHOAL__DESC_FLAG_FD_SERVER 1u /* socket_name names an fd server */

struct shoal__descriptor {
	uint64_t magic;		/* SHOAL__DESC_MAGIC */
	uint16_t version_major; /* readers refuse another major */
	uint16_t version_minor; /* readers accept a newer minor */
	uint32_t size;		/* bytes of the file: SHOAL__DESC_SIZE */
	/* FNV-1a 64 over the 128 words, this field taken as 0 (descriptor.c). */
	uint64_t checksum;
	uint64_t epoch;	    /* nonzero; the segment header's epoch too */
	int64_t created_ns; /* CLOCK_REALTIME at publication */
	/* Owner identity: pid plus its start time (field 22 of
	 * /proc/PID/stat, clock ticks after boot), so a reused pid is told
	 * apart from the owner. */
	uint64_t owner_start;
	int32_t owner_pid;
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint32_t pattern; /* SHOAL_PATTERN_* or >= 1024 */
	uint32_t access;  /* SHOAL_ACCESS_* */
	uint32_t flags;	  /* SHOAL__DESC_FLAG_* */
	int32_t memfd;	  /* fd number of the segment in the owner */
	uint32_t eventfd_count;
	uint64_t memfd_size;			/* bytes of the segment */
	int32_t eventfds[SHOAL__DESC_EVENTFDS]; /* fd numbers in the owner */
	uint32_t type_size;
	uint32_t type_align;
	char type_name[64]; /* NUL-terminated, printable */
	/* Abstract Unix socket name of the fd server, without the leading
	 * NUL byte; NUL-terminated; "" without FLAG_FD_SERVER. */
	char socket_name[SHOAL__DESC_SOCKET_BYTES];
	char name[256]; /* the service name, NUL-terminated */
	/* Minor >= 1: how many extra fds a peer may take one at a time by
	 * index through the fd server, <= SHOAL_SERVICE_EXTRA_FDS_MAX.
	 * Readers of a minor 0 descriptor take it as 0, whatever it holds. */
	uint32_t extra_fd_count;
	uint32_t reserved0; /* zero */
	/* Minor >= 2: the namespaces the owner ran in, as st_dev and st_ino
	 * of its /proc/self/ns/pid and /proc/self/ns/user; 0 and 0: not
	 * known. A reader in another PID namespace treats owner_pid as
	 * meaningless (docs/registry.md); a reader in another user namespace
	 * does not compare owner_uid with the file's owner. Readers of minor
	 * 0 and 1 descriptors take all four as 0, whatever they hold. */
	uint64_t owner_pidns_dev;
	uint64_t owner_pidns_ino;
	uint64_t owner_userns_dev;
	uint64_t owner_userns_ino;
	/* Minor >= 3: where the service comes from when its owner stands in
	 * for a service elsewhere (a gateway's mirror, docs/gateway.md):
	 * free text for people, NUL-terminated and printable; "" for a
	 * local service. Readers of older minors take it as "", whatever it
	 * holds. Never used to decide anything. */
	char origin[SHOAL__DESC_ORIGIN_BYTES];
	uint8_t reserved[344]; /* zero; later minors may use it */
};
_Static_assert(sizeof(struct shoal__descriptor) == SHOAL__DESC_SIZE,
	       "descriptor is 1024 bytes");
_Static_assert(offsetof(struct shoal__descriptor, eventfds) == 88,
	       "eventfds at 88");
_Static_assert(offsetof(struct shoal__descriptor, name) == 256, "name at 256");
_Static_assert(offsetof(struct shoal__descriptor, extra_fd_count) == 512,
	       "extra_fd_count at 512");
_Static_assert(offsetof(struct shoal__descriptor, owner_pidns_dev) == 520,
	       "owner_pidns_dev at 520");
_Static_assert(offsetof(struct shoal__descriptor, owner_userns_ino) == 544,
	       "owner_userns_ino at 544");
_Static_assert(offsetof(struct shoal__descriptor, origin) == 552,
	       "origin at 552");

/* ------------------------------------------------------------------------
 * MPMC ring (Vyukov's bounded queue: a sequence per cell), object kind
 * SHOAL_OBJECT_MPMC_RING. See docs/mpmc-ring.md.
 *
 * Four header lines, then capacity cells of cell_stride bytes each (a
 * multiple of 64: cells are written by different producers and consumers,
 * so each starts on its own line). Cell i serves every position p with
 * p & (capacity - 1) == i.
 */

/* "SHOALMPM" */
#define SHOAL__MPMC_MAGIC 0x4d504d4c414f4853ULL
#define SHOAL__MPMC_CELL_HEADER 24
/* cell.len bit: the cell was skipped (its claimant died); no payload. */
/* Claim word: owner token in the high 22 bits, low 42 bits of a position
 * (docs/mpmc-ring.md). */
#define SHOAL__MPMC_POS_BITS 42
#define SHOAL__MPMC_POS_MASK ((UINT64_C(1) << SHOAL__MPMC_POS_BITS) - 1)
/* The owner token of a skip mark: a position given up (dead or aborting
 * producer, dead consumer). Real owners are 1..SHOAL__MPMC_SKIP - 1. */
#define SHOAL__MPMC_SKIP 0x3fffffu

struct shoal__mpmc_ring {
	/* Line 0: geometry. Written by the formatter before any peer can see
	 * the region; each handle reads it once at init and checks it. */
	uint64_t magic;	      /* SHOAL__MPMC_MAGIC */
	uint32_t capacity;    /* cells, a power of two */
	uint32_t slot_size;   /* payload bytes per cell */
	uint64_t cell_stride; /* header + payload rounded up to 64 */
	uint64_t start_pos;   /* first position (informational) */
	uint8_t pad0[32];

	/* Line 1: next position to enqueue. CASed (relaxed) by producers; the
	 * cell's seq carries all the ordering. */
	_Atomic uint64_t enq_pos;
	uint8_t pad1[56];

	/* Line 2: next position to dequeue. CASed (relaxed) by consumers. */
	_Atomic uint64_t deq_pos;
	uint8_t pad2[56];

	/* Line 3: liveness statistics, atomically incremented by whoever
	 * recovers a cell (shoal_mpmc_recover()): rarely written, so several
	 * writers share this line on purpose. */
	_Atomic uint64_t skipped;   /* positions whose producer died */
	_Atomic uint64_t abandoned; /* messages taken by a consumer that died */
	uint8_t pad3[48];
};
_Static_assert(sizeof(struct shoal__mpmc_ring) == 4 * SHOAL__CACHE_LINE,
	       "mpmc ring header is four lines");
_Static_assert(offsetof(struct shoal__mpmc_ring, enq_pos) == 64,
	       "enq_pos line");
_Static_assert(offsetof(struct shoal__mpmc_ring, deq_pos) == 128,
	       "deq_pos line");
_Static_assert(offsetof(struct shoal__mpmc_ring, skipped) == 192,
	       "skipped line");

/*
 * Header of each cell; the payload follows it (8-aligned). A cell has one
 * writer at a time, handed over by seq: the producer that claimed the
 * position, then (seq only) the consumer that dequeued it.
 */
struct shoal__mpmc_cell {
	/* Vyukov's sequence. == p: free for the producer of position p;
	 * == p + 1: holds p's message; == p + capacity: p was dequeued, free
	 * for the producer of p + capacity. Producers release-store p + 1
	 * after the payload (pairs with the consumer's acquire load);
	 * consumers release-store p + capacity after copying out (pairs with
	 * the producer's acquire load). */
	_Atomic uint64_t seq;
	/* Claimant: owner token << 42 | low 42 bits of a position. A producer
	 * takes position p by CASing it to owner|p (before enq_pos moves), a
	 * consumer takes the message by CASing it to owner|p+1 (before
	 * deq_pos moves), so whoever holds the cell is always named in it;
	 * see docs/mpmc-ring.md. */
	_Atomic uint64_t claim;
	/* Payload length (untrusted: checked <= slot_size). Relaxed;
	 * published by seq's release. */
	_Atomic uint32_t len;
	uint32_t pad;
};
_Static_assert(sizeof(struct shoal__mpmc_cell) == SHOAL__MPMC_CELL_HEADER,
	       "mpmc cell header is 24 bytes");
_Static_assert(offsetof(struct shoal__mpmc_cell, claim) == 8, "claim at 8");
_Static_assert(offsetof(struct shoal__mpmc_cell, len) == 16, "len at 16");

#endif
