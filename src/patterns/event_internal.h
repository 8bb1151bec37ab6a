/* SPDX-License-Identifier: MIT */
/* What the creator, listener and inspecting halves of events share; not API. */
#ifndef SHOAL_SRC_EVENT_INTERNAL_H
#define SHOAL_SRC_EVENT_INTERNAL_H

#include "shoal/event.h"
#include "shoal/segment.h"
#include "service/service.h"
#include "patterns/event_layout.h"

static inline _Atomic uint64_t *line_pending(struct shoal__event_line *l)
{
	return (_Atomic uint64_t *)(l + 1);
}

static inline _Atomic uint64_t *line_interest(struct shoal__event_line *l,
					      uint32_t words)
{
	return (_Atomic uint64_t *)((uint8_t *)(l + 1) +
				    shoal__event_pad_words(words));
}

static inline int32_t *event_fd_table(struct shoal__event_header *h)
{
	return (int32_t *)(h + 1);
}

static inline uint64_t event_header_bytes(uint32_t max)
{
	return sizeof(struct shoal__event_header) + (uint64_t)max * 4;
}

static inline uint64_t event_lines_bytes(uint32_t ids, uint32_t max)
{
	return sizeof(struct shoal__event_lines_header) +
	       shoal__event_table_bytes(ids, max) +
	       (uint64_t)max * shoal__event_line_stride(ids);
}

/* The geometry a process validated, from the creator's read-only header. */
struct event_geometry {
	struct shoal__event_header *hdr;
	uint32_t ids, max, stride;
	int32_t lines_memfd;
};

/*
 * The service layer's geometry callback (service.h): reads the
 * configuration in the creator's segment once into the struct
 * event_geometry @user_data and checks it against itself and the header
 * object's size. 0, -EPROTO (another version), -EBADMSG (inconsistent).
 */
int shoal__event_read_geometry(struct shoal_segment *seg, void *user_data);

/* The pattern as the service layer's peer side knows it (service.h). */
extern const struct shoal__pattern shoal__event_pattern;

/* The creator header's configuration words: what the creator writes
 * (shoal__owner_config()) and peers read and check (service.h). */
extern const struct shoal__config shoal__event_config;

/*
 * Takes and maps the listeners' segment of an opened event service whose
 * geometry @g was read (read-write unless @read_only) into *@lines_seg,
 * its object into *@lines. 0 or -errno.
 */
int shoal__event_map_lines(struct shoal_service *svc,
			   const struct event_geometry *g, int read_only,
			   struct shoal_segment **lines_seg, void **lines);

#endif
