/* SPDX-License-Identifier: MIT */
/*
 * A peer's view of an event service: reading and validating the creator's
 * read-only header (the service layer's geometry callback), mapping the
 * listeners' segment, and shoal_event_inspect(), which reads the counters
 * without listening.
 *
 * The creator's segment is written by the creator only, but a peer does
 * not trust it either: every configuration value is read once and checked
 * against the others and against the object size the segment layer
 * validated, and only the checked copies are used after.
 */
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_internal.h"
#include "service/service.h"
#include "patterns/event_internal.h"

#define FIELD(h, g, min, max)                                                 \
	SHOAL__FIELD(struct shoal__event_header, h, struct event_geometry, g, \
		     offsetof(struct shoal_event_info, h), min, max, 0)
#define STAT(x)                                             \
	SHOAL__COUNTER(struct shoal__event_lines_header, x, \
		       struct shoal_event_info, x)
#define LINE_STAT(x)                                \
	SHOAL__COUNTER(struct shoal__event_line, x, \
		       struct shoal_event_listener_info, x)
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The creator's configuration words, their ranges and where inspect
 * reports them; the totals; a listener line's counters. */
static const struct shoal__field fields[] = {
	FIELD(ids, ids, 1, SHOAL_EVENT_IDS_MAX),
	FIELD(max_listeners, max, 1, SHOAL_EVENT_LISTENERS_MAX),
	FIELD(line_stride, stride, 0, UINT32_MAX),
	SHOAL__FIELD(struct shoal__event_header, lines_memfd,
		     struct event_geometry, lines_memfd, SHOAL__FIELD_NO_INFO,
		     0, UINT64_MAX, 0),
};
static const struct shoal__counter stats[] = { STAT(notifies), STAT(delivered),
					       STAT(wakeups) };
static const struct shoal__counter line_stats[] = { LINE_STAT(delivered),
						    LINE_STAT(wakeups),
						    LINE_STAT(received),
						    LINE_STAT(sleeps) };

/* What the ranges do not say: the stride and the header object's size. */
static int check_geometry(const void *gp, uint64_t hdr_size, int out_of_range)
{
	const struct event_geometry *g = gp;

	if (out_of_range || g->stride != shoal__event_line_stride(g->ids) ||
	    hdr_size < event_header_bytes(g->max))
		return shoal__fail(-EBADMSG,
				   "event: inconsistent configuration (ids "
				   "%u, listeners %u, stride %u)",
				   g->ids, g->max, g->stride);
	return 0;
}

const struct shoal__config shoal__event_config = SHOAL__CONFIG(
	"event", SHOAL__EVENT_HEADER_OBJECT, SHOAL__OBJECT_EVENT_HEADER,
	SHOAL__EVENT_VERSION, SHOAL__EVENT_MAGIC, struct shoal__event_header,
	fields, struct event_geometry, check_geometry);

int shoal__event_read_geometry(struct shoal_segment *seg, void *user_data)
{
	return shoal__peer_config(seg, &shoal__event_config, user_data);
}

int shoal__event_map_lines(struct shoal_service *svc,
			   const struct event_geometry *g, int read_only,
			   struct shoal_segment **lines_seg, void **lines)
{
	static const struct shoal__lines_spec ls = {
		"event", SHOAL__EXTRA_LINES_MEMFD, SHOAL__EVENT_LINES_OBJECT,
		SHOAL__OBJECT_EVENT_HEADER
	};

	return shoal__peer_map_lines(svc, &ls, g->lines_memfd,
				     event_lines_bytes(g->ids, g->max),
				     read_only, lines_seg, lines);
}

static uint32_t popcount_words(_Atomic uint64_t *w, uint32_t n)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < n; i++)
		c += (uint32_t)__builtin_popcountll(
			atomic_load_explicit(&w[i], memory_order_relaxed));
	return c;
}

static const struct shoal__kind kinds[] = {
	{ SHOAL__OBJECT_EVENT_HEADER, "event header" },
};

const struct shoal__pattern shoal__event_pattern = {
	SHOAL_PATTERN_EVENT,
	"an event service",
	shoal__event_read_geometry,
	SHOAL__EVENT_HEADER_OBJECT,
	offsetof(struct shoal__event_header, closed),
	SHOAL__KINDS(kinds)
};

/* How many ids a listener wants and has pending; @ctx the words of an
 * id bitmap. */
static void listener_ids(void *out, const void *line, uint32_t index, void *ctx)
{
	struct shoal__event_line *l = (struct shoal__event_line *)line;
	struct shoal_event_listener_info *o = out;
	uint32_t words = *(const uint32_t *)ctx;

	(void)index;
	o->interest = popcount_words(line_interest(l, words), words);
	o->pending = popcount_words(line_pending(l), words);
}

static const struct shoal__line_info listener_info = SHOAL__LINE_INFO(
	struct shoal__event_line, SHOAL__EVENT_LINE_ACTIVE,
	struct shoal_event_listener_info, index, line_stats, listener_ids);

int shoal_event_inspect(struct shoal_registry *reg, const char *name,
			struct shoal_event_info *info,
			struct shoal_event_listener_info *listeners,
			uint32_t cap)
{
	struct shoal__inspect in;
	struct shoal__event_lines_header *lh;
	struct shoal__lines_view v;
	struct event_geometry g;
	uint32_t words;
	void *lines;
	int err;

	err = shoal__inspect_open(&in, reg, &shoal__event_pattern,
				  "event_inspect", name, info, &g);
	if (!err)
		err = shoal__event_map_lines(in.svc, &g, 1, &in.lines_seg,
					     &lines);
	if (err)
		return shoal__inspect_close(&in, err);
	lh = lines;
	words = shoal__event_words(g.ids);
	memset(info, 0, sizeof(*info));
	shoal__info_fields(info, &g, fields, N(fields));
	info->header_bytes = shoal_segment_size(shoal_service_segment(in.svc));
	info->lines_bytes = shoal_segment_size(in.lines_seg);
	shoal__load_counters(info, lh, stats, N(stats));
	v = (struct shoal__lines_view){
		(uint8_t *)(lh + 1) + shoal__event_table_bytes(g.ids, g.max),
		g.stride, g.max
	};
	info->listeners = shoal__inspect_lines(&in, &v, &listener_info, &words,
					       listeners, cap);
	return shoal__inspect_close(&in, (int)info->listeners);
}
