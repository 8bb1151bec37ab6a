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

static int read_geometry(struct shoal_segment *seg, struct event_geometry *g)
{
	struct shoal_object_info hi;
	struct shoal__event_header *h;
	void *hp;

	if (shoal_segment_find(seg, SHOAL__EVENT_HEADER_OBJECT,
			       SHOAL_OBJECT_EVENT_HEADER, &hp, &hi))
		return shoal__fail(-EBADMSG,
				   "event: the service's segment lacks its "
				   "header: %s",
				   shoal_last_error());
	if (hi.size < sizeof(*h) || hi.offset % SHOAL__CACHE_LINE)
		return shoal__fail(-EBADMSG,
				   "event: header object too small or not on "
				   "a cache line");
	h = hp;
	if (h->magic != SHOAL__EVENT_MAGIC)
		return shoal__fail(-EBADMSG, "event: bad header magic");
	if (h->version != SHOAL__EVENT_VERSION)
		return shoal__fail(-EPROTO,
				   "event: format version %u, expected %u",
				   h->version, SHOAL__EVENT_VERSION);
	g->hdr = h;
	g->ids = *(volatile uint32_t *)&h->ids;
	g->max = *(volatile uint32_t *)&h->max_listeners;
	g->stride = *(volatile uint32_t *)&h->line_stride;
	g->lines_memfd = *(volatile int32_t *)&h->lines_memfd;
	if (g->ids == 0 || g->ids > SHOAL_EVENT_IDS_MAX || g->max == 0 ||
	    g->max > SHOAL_EVENT_LISTENERS_MAX ||
	    g->stride != shoal__event_line_stride(g->ids) ||
	    hi.size < event_header_bytes(g->max))
		return shoal__fail(-EBADMSG,
				   "event: inconsistent configuration (ids "
				   "%u, listeners %u, stride %u)",
				   g->ids, g->max, g->stride);
	return 0;
}

int shoal__event_geometry(struct shoal_segment *seg, void *user_data,
			  const _Atomic uint32_t **closed)
{
	struct event_geometry *g = user_data;
	int err = read_geometry(seg, g);

	if (!err && closed)
		*closed = &g->hdr->closed;
	return err;
}

/* Inspecting reads a service being withdrawn too. */
static int inspect_geometry(struct shoal_segment *seg, void *user_data,
			    const _Atomic uint32_t **closed)
{
	(void)closed;
	return read_geometry(seg, user_data);
}

int shoal__event_map_lines(struct shoal_service *svc,
			   const struct event_geometry *g, int read_only,
			   struct shoal_segment **lines_seg, void **lines)
{
	struct shoal_object_info oi;
	int err;

	err = shoal__peer_map_lines(svc, "event",
				    SHOAL__EVENT_EXTRA_LINES_MEMFD,
				    g->lines_memfd, read_only, lines_seg);
	if (err)
		return err;
	/* The size is the segment layer's validated copy; the object's own
	 * header line is not checked: any peer can scribble over it. */
	err = shoal_segment_find(*lines_seg, SHOAL__EVENT_LINES_OBJECT,
				 SHOAL_OBJECT_EVENT_HEADER, lines, &oi);
	if (err || oi.size < event_lines_bytes(g->ids, g->max) ||
	    oi.offset % SHOAL__CACHE_LINE) {
		shoal_segment_close(*lines_seg);
		*lines_seg = NULL;
		return shoal__fail(-EBADMSG,
				   "event: listeners' segment does not match "
				   "the service");
	}
	return 0;
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
	struct shoal_registry *r;
	struct shoal_service *svc = NULL;
	struct shoal_segment *lines_seg = NULL;
	struct shoal__event_lines_header *lh;
	struct event_geometry g;
	struct shoal__peer_spec spec;
	uint32_t live = 0, words;
	void *lines;
	uint8_t *base;
	int owned, err, fd;

	if (!name || !info)
		return shoal__fail(-EINVAL, "event_inspect: NULL argument");
	err = shoal__registry_use(reg, &r, &owned);
	if (err)
		return err;
	spec = (struct shoal__peer_spec){
		.who = "event_inspect",
		.name = name,
		.pattern = SHOAL_PATTERN_EVENT,
		.pattern_name = "an event service",
		.oflags = SHOAL_OPEN_READ_ONLY,
		.geometry = inspect_geometry,
		.user_data = &g,
	};
	err = shoal__peer_open(r, &spec, &svc);
	if (!err)
		err = shoal__event_map_lines(svc, &g, 1, &lines_seg, &lines);
	if (err)
		goto out;
	lh = lines;
	words = shoal__event_words(g.ids);
	base = (uint8_t *)(lh + 1) + shoal__event_table_bytes(g.ids, g.max);
	memset(info, 0, sizeof(*info));
	info->ids = g.ids;
	info->max_listeners = g.max;
	info->line_stride = g.stride;
	info->header_bytes = shoal_segment_size(shoal_service_segment(svc));
	info->lines_bytes = shoal_segment_size(lines_seg);
	info->notifies =
		atomic_load_explicit(&lh->notifies, memory_order_relaxed);
	info->delivered =
		atomic_load_explicit(&lh->delivered, memory_order_relaxed);
	info->wakeups =
		atomic_load_explicit(&lh->wakeups, memory_order_relaxed);
	fd = shoal_segment_fd(lines_seg);
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
			o->pid = *(volatile int32_t *)&l->pid;
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
	err = (int)live;
out:
	shoal_segment_close(lines_seg);
	shoal_service_close(svc);
	if (owned)
		shoal_registry_destroy(r);
	return err;
}
