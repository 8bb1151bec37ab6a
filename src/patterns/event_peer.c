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

int shoal__event_read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct event_geometry *g = user_data;
	struct shoal__event_header *h;
	uint64_t hsize;
	void *hp;
	int err;

	err = shoal__peer_header(seg, "event", SHOAL__EVENT_HEADER_OBJECT,
				 SHOAL_OBJECT_EVENT_HEADER, SHOAL__EVENT_MAGIC,
				 SHOAL__EVENT_VERSION, sizeof(*h), &hp, &hsize);
	if (err)
		return err;
	h = hp;
	g->hdr = h;
	g->ids = SHOAL__READ_ONCE(h->ids);
	g->max = SHOAL__READ_ONCE(h->max_listeners);
	g->stride = SHOAL__READ_ONCE(h->line_stride);
	g->lines_memfd = SHOAL__READ_ONCE(h->lines_memfd);
	if (g->ids == 0 || g->ids > SHOAL_EVENT_IDS_MAX || g->max == 0 ||
	    g->max > SHOAL_EVENT_LISTENERS_MAX ||
	    g->stride != shoal__event_line_stride(g->ids) ||
	    hsize < event_header_bytes(g->max))
		return shoal__fail(-EBADMSG,
				   "event: inconsistent configuration (ids "
				   "%u, listeners %u, stride %u)",
				   g->ids, g->max, g->stride);
	return 0;
}

int shoal__event_map_lines(struct shoal_service *svc,
			   const struct event_geometry *g, int read_only,
			   struct shoal_segment **lines_seg, void **lines)
{
	struct shoal__lines_spec ls = {
		.who = "event",
		.index = SHOAL__EVENT_EXTRA_LINES_MEMFD,
		.owner_fd = g->lines_memfd,
		.read_only = read_only,
		.object = SHOAL__EVENT_LINES_OBJECT,
		.kind = SHOAL_OBJECT_EVENT_HEADER,
		.min_size = event_lines_bytes(g->ids, g->max),
	};

	return shoal__peer_map_lines(svc, &ls, lines_seg, lines);
}

static uint32_t popcount_words(_Atomic uint64_t *w, uint32_t n)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < n; i++)
		c += (uint32_t)__builtin_popcountll(
			atomic_load_explicit(&w[i], memory_order_relaxed));
	return c;
}

int shoal_event_inspect(struct shoal_registry *reg, const char *name,
			struct shoal_event_info *info,
			struct shoal_event_listener_info *listeners,
			uint32_t cap)
{
	struct shoal__inspect in;
	struct shoal__event_lines_header *lh;
	struct event_geometry g;
	struct shoal__peer_spec spec;
	uint32_t live = 0, words;
	void *lines;
	uint8_t *base;
	int err, fd;

	if (!name || !info)
		return shoal__fail(-EINVAL, "event_inspect: NULL argument");
	spec = (struct shoal__peer_spec){
		.who = "event_inspect",
		.name = name,
		.pattern = SHOAL_PATTERN_EVENT,
		.pattern_name = "an event service",
		.geometry = shoal__event_read_geometry,
		.user_data = &g,
	};
	err = shoal__inspect_open(&in, reg, &spec);
	if (!err)
		err = shoal__event_map_lines(in.svc, &g, 1, &in.lines_seg,
					     &lines);
	if (err)
		return shoal__inspect_close(&in, err);
	lh = lines;
	words = shoal__event_words(g.ids);
	base = (uint8_t *)(lh + 1) + shoal__event_table_bytes(g.ids, g.max);
	memset(info, 0, sizeof(*info));
	info->ids = g.ids;
	info->max_listeners = g.max;
	info->line_stride = g.stride;
	info->header_bytes = shoal_segment_size(shoal_service_segment(in.svc));
	info->lines_bytes = shoal_segment_size(in.lines_seg);
	info->notifies =
		atomic_load_explicit(&lh->notifies, memory_order_relaxed);
	info->delivered =
		atomic_load_explicit(&lh->delivered, memory_order_relaxed);
	info->wakeups =
		atomic_load_explicit(&lh->wakeups, memory_order_relaxed);
	fd = shoal_segment_fd(in.lines_seg);
	for (uint32_t i = 0; i < g.max; i++) {
		struct shoal__event_line *l =
			(struct shoal__event_line *)(base +
						     (uint64_t)i * g.stride);
		struct shoal_event_listener_info *o;

		if (atomic_load_explicit(&l->state, memory_order_acquire) !=
			    SHOAL__EVENT_LINE_ACTIVE ||
		    !shoal__line_locked(fd, i))
			continue;
		if (listeners && live < cap) {
			o = &listeners[live];
			memset(o, 0, sizeof(*o));
			o->index = i;
			o->pid = SHOAL__READ_ONCE(l->pid);
			o->interest =
				popcount_words(line_interest(l, words), words);
			o->pending = popcount_words(line_pending(l), words);
			o->delivered = atomic_load_explicit(
				&l->delivered, memory_order_relaxed);
			o->wakeups = atomic_load_explicit(&l->wakeups,
							  memory_order_relaxed);
			o->received = atomic_load_explicit(
				&l->received, memory_order_relaxed);
			o->sleeps = atomic_load_explicit(&l->sleeps,
							 memory_order_relaxed);
		}
		live++;
	}
	info->listeners = live;
	return shoal__inspect_close(&in, (int)live);
}
