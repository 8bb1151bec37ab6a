/* SPDX-License-Identifier: MIT */
/* What the publisher and subscriber halves of pub/sub share; not API. */
#ifndef SHOAL_SRC_PUBSUB_INTERNAL_H
#define SHOAL_SRC_PUBSUB_INTERNAL_H

#include <fcntl.h>

#include "service/line_lock.h"
#include "shoal/pubsub.h"
#include "service/service.h"
#include "patterns/pubsub_layout.h"
#include "patterns/pubsub_pool.h"

/* The fd table's bytes, rounded up so the u64 table after it is aligned. */
static inline uint64_t fd_table_bytes(uint32_t max)
{
	return ((uint64_t)max * 4 + 7) / 8 * 8;
}

/* Bytes of the header object for @max subscribers. */
static inline uint64_t header_bytes(uint32_t max)
{
	return sizeof(struct shoal__pubsub_header) + fd_table_bytes(max) +
	       (uint64_t)max * 8;
}

static inline int32_t *wake_fd_table(struct shoal__pubsub_header *h)
{
	return (int32_t *)(h + 1);
}

static inline _Atomic uint64_t *wakeups_table(struct shoal__pubsub_header *h,
					      uint32_t max)
{
	return (_Atomic uint64_t *)((uint8_t *)(h + 1) + fd_table_bytes(max));
}

/* The subscriber object: a lines object (service/service_layout.h) of
 * struct shoal__pubsub_sub_line under struct shoal__pubsub_subs_header. */
#define SUBS_HDR sizeof(struct shoal__pubsub_subs_header)

static inline uint64_t subs_bytes(uint32_t max)
{
	return shoal__lines_bytes(SUBS_HDR, max,
				  sizeof(struct shoal__pubsub_sub_line));
}

static inline _Atomic uint32_t *subs_bitmap(struct shoal__pubsub_subs_header *s)
{
	return shoal__lines_bitmap(s, SUBS_HDR);
}

static inline struct shoal__pubsub_sub_line *
subs_lines(struct shoal__pubsub_subs_header *s, uint32_t max)
{
	return shoal__lines_first(s, SUBS_HDR, max);
}

/* Slot bytes: the ring's formula (shoal__bcast_slot_stride()). */
static inline uint32_t slot_stride(uint32_t uh, uint32_t max_payload)
{
	return (uint32_t)shoal__bcast_slot_stride(uh, max_payload);
}

/* The publisher's configuration, as a peer validated it. */
struct pubsub_geometry {
	struct shoal__pubsub_header *hdr; /* mapped read-only */
	uint8_t *slots;
	uint32_t delivery, capacity, stride, max_payload, uh_size, history;
	uint32_t max_subs;
	int32_t subs_memfd; /* fd number in the publisher */
	/* Not in the field table: the header's flags, and max_publishers and
	 * slot (1 and 0 for a version 3 ring). */
	uint32_t flags, max_pubs, slot;
	uint64_t payload_bytes;
	/* Version 6: the payload pools, checked (pools.n 0: none, and every
	 * slot holds its payload). */
	struct pubsub_pools pools;
};

/*
 * Reads the configuration in payload segment @seg once into the struct
 * pubsub_geometry @g and checks it against itself and the sizes of the
 * objects (which the segment layer validated): the service layer's
 * geometry callback. 0, -EPROTO (another version), -EBADMSG
 * (inconsistent). Never reads outside the objects; fuzzed by
 * fuzz/pubsub_geometry_fuzz.c.
 */
int shoal__pubsub_read_geometry(struct shoal_segment *seg, void *g);

/*
 * The first of the options every publisher of a name must agree on
 * (max_publishers, delivery, max_payload, user_header_size, the timestamp
 * flag) in which @a and @b differ, by its option name; NULL if they agree.
 */
const char *shoal__pubsub_disagree(const struct pubsub_geometry *a,
				   const struct pubsub_geometry *b);

/*
 * The configuration of the live ring published as @sname (a slot name),
 * opened read-only and closed again. 0, or what opening returns (-ENOENT:
 * nobody there).
 */
int shoal__pubsub_slot_geometry(struct shoal_registry *reg, const char *sname,
				struct pubsub_geometry *g);

/* The pattern as the service layer's peer side knows it (service.h). */
extern const struct shoal__pattern shoal__pubsub_pattern;

/*
 * Takes and maps the subscriber segment of an opened pub/sub service whose
 * geometry @g was read (read-write unless @read_only), checked against @g.
 * 0, -EBADMSG, or what taking or opening the fd returns.
 */
int shoal__pubsub_map_subs(struct shoal_service *svc,
			   const struct pubsub_geometry *g, int read_only,
			   struct shoal_segment **subs_seg,
			   struct shoal__pubsub_subs_header **sh);

/* A test's hook inside a subscriber's join, shoal__pubsub_join_pause(), is
 * the broadcast ring's now (ring/ring_bcast.h). */

#endif
