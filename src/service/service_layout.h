/* SPDX-License-Identifier: MIT */
/*
 * What the shared memory of every pattern on the service layer has in
 * common, stated once (the patterns' own layouts are in
 * src/patterns/<pattern>_layout.h and their docs).
 *
 * The owner's header starts with struct shoal__ident, its identity: a u64 magic
 * ("SHOAL..." read as a little-endian u64) and a u32 format version,
 * which shoal__owner_config() writes and shoal__peer_header() checks
 * before anything else is read.
 *
 * The owner's fd table, as its registry entry hands it out by index when
 * the owner has a lines segment (shoal__owner_spec_lines()): the lines
 * segment's memfd first, then line i's eventfd.
 *
 * A lines object with a bitmap of lines (pub/sub's sleepers, rpc's ready
 * clients): a header of whole cache lines, the bitmap (one bit per line,
 * u32 words, padded to a cache line), then the lines. Sizes come from the
 * owner's validated configuration, never from the object, which any peer
 * can write.
 */
#ifndef SHOAL_SERVICE_LAYOUT_H
#define SHOAL_SERVICE_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "segment/layout.h"

/* 12 bytes, packed on 4: a pattern's first u32 word follows at offset
 * 12, where every header has had it. */
struct __attribute__((packed, aligned(4))) shoal__ident {
	uint64_t magic;
	uint32_t version;
};
_Static_assert(sizeof(struct shoal__ident) == 12, "magic and version");

/*
 * What the service layer needs of an owner's header type @T, checked when
 * it is built: it starts with its ident and its word @first follows; it
 * is @lines whole cache lines; its closed word (shoal__owner_withdraw()
 * writes it, every peer loads it) starts line @closed_line.
 */
#define SHOAL__HEADER_SHAPE(T, first, lines, closed_line)                     \
	_Static_assert(offsetof(T, ident) == 0 &&                             \
			       offsetof(T, first) ==                          \
				       sizeof(struct shoal__ident) &&         \
			       sizeof(T) == (lines)*SHOAL__CACHE_LINE &&      \
			       offsetof(T, closed) ==                         \
				       (closed_line)*SHOAL__CACHE_LINE,       \
		       #T ": ident, " #first ", " #lines " lines, closed on " \
			  "line " #closed_line)

#define SHOAL__EXTRA_LINES_MEMFD 0
#define SHOAL__EXTRA_WAKE_FD(i) (1 + (i))

/* Bytes of a bitmap of @max lines, padded to a line. */
static inline uint64_t shoal__bitmap_bytes(uint32_t max)
{
	uint64_t words = ((uint64_t)max + 31) / 32;

	return (words * 4 + SHOAL__CACHE_LINE - 1) / SHOAL__CACHE_LINE *
	       SHOAL__CACHE_LINE;
}

/* Bytes of a lines object: @hdr bytes of header, the bitmap, @max lines
 * of @line bytes. */
static inline uint64_t shoal__lines_bytes(uint64_t hdr, uint32_t max,
					  uint64_t line)
{
	return hdr + shoal__bitmap_bytes(max) + (uint64_t)max * line;
}

/* The bitmap of lines object @obj whose header is @hdr bytes. */
static inline _Atomic uint32_t *shoal__lines_bitmap(void *obj, uint64_t hdr)
{
	return (_Atomic uint32_t *)((uint8_t *)obj + hdr);
}

/* The first of the @max lines of lines object @obj (header @hdr bytes). */
static inline void *shoal__lines_first(void *obj, uint64_t hdr, uint32_t max)
{
	return (uint8_t *)obj + hdr + shoal__bitmap_bytes(max);
}

#endif
