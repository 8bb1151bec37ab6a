/* SPDX-License-Identifier: MIT */
/*
 * A peer's view of a pub/sub service: mapping and validating the
 * publisher's segments (for subscribers and for inspection), and
 * shoal_pubsub_inspect(), which reads the counters without joining.
 *
 * The payload segment is written by the publisher only, but a peer does
 * not trust it either: every configuration value is read once, checked
 * against the others and against the sizes of the objects that the
 * segment layer validated, and only the checked copies are used after.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "shoal/pubsub.h"
#include "shoal/segment.h"
#include "arch/error.h"
#include "service/service.h"
#include "patterns/pubsub_internal.h"
#include "registry/registry_internal.h"

static int check_geometry(const struct pubsub_geometry *g, uint64_t hdr_size)
{
	if (g->delivery != SHOAL_DELIVERY_RELIABLE &&
	    g->delivery != SHOAL_DELIVERY_LOSSY)
		return -1;
	if (!shoal__is_pow2(g->capacity) || g->capacity < 2 ||
	    g->capacity > SHOAL_PUB_CAPACITY_MAX)
		return -1;
	if (g->max_payload == 0 || g->max_payload > SHOAL_PUB_PAYLOAD_MAX)
		return -1;
	if (g->uh_size % 8 || g->uh_size > SHOAL_PUB_USER_HEADER_MAX)
		return -1;
	if (g->stride != slot_stride(g->uh_size, g->max_payload))
		return -1;
	if (g->history >= g->capacity)
		return -1;
	if (g->max_subs == 0 || g->max_subs > SHOAL_PUB_SUBSCRIBERS_MAX)
		return -1;
	if (hdr_size < header_bytes(g->max_subs))
		return -1;
	return 0;
}

int shoal__pubsub_read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct pubsub_geometry *g = user_data;
	struct shoal__pubsub_header *h;
	uint64_t hsize;
	void *hp, *sp;
	int err;

	err = shoal__peer_header(seg, "pubsub", SHOAL__PUBSUB_HEADER_OBJECT,
				 SHOAL_OBJECT_PUBSUB_HEADER,
				 SHOAL__PUBSUB_MAGIC, SHOAL__PUBSUB_VERSION,
				 sizeof(*h), &hp, &hsize);
	if (err)
		return err;
	h = hp;
	/* Read each value once; the publisher may be hostile. */
	g->hdr = h;
	g->delivery = SHOAL__READ_ONCE(h->delivery);
	g->capacity = SHOAL__READ_ONCE(h->capacity);
	g->stride = SHOAL__READ_ONCE(h->slot_stride);
	g->max_payload = SHOAL__READ_ONCE(h->max_payload);
	g->uh_size = SHOAL__READ_ONCE(h->user_header_size);
	g->history = SHOAL__READ_ONCE(h->history);
	g->max_subs = SHOAL__READ_ONCE(h->max_subscribers);
	g->subs_memfd = SHOAL__READ_ONCE(h->subs_memfd);
	g->payload_bytes = shoal_segment_size(seg);
	if (check_geometry(g, hsize))
		return shoal__fail(-EBADMSG,
				   "pubsub: inconsistent configuration "
				   "(capacity %u, stride %u, payload %u, "
				   "user header %u, history %u, limit %u)",
				   g->capacity, g->stride, g->max_payload,
				   g->uh_size, g->history, g->max_subs);
	err = shoal__peer_object(seg, "pubsub", SHOAL__PUBSUB_SLOTS_OBJECT,
				 SHOAL_OBJECT_PUBSUB_SLOTS,
				 (uint64_t)g->capacity * g->stride, &sp);
	g->slots = sp;
	return err;
}

int shoal__pubsub_map_subs(struct shoal_service *svc,
			   const struct pubsub_geometry *g, int read_only,
			   struct shoal_segment **subs_seg,
			   struct shoal__pubsub_subs_header **sh)
{
	/* The limit comes from the publisher's read-only header, not from
	 * the subscriber-written object: a new subscriber must get in
	 * whatever the others scribbled there. */
	struct shoal__lines_spec ls = {
		.who = "pubsub",
		.index = SHOAL__PUBSUB_EXTRA_SUBS_MEMFD,
		.owner_fd = g->subs_memfd,
		.read_only = read_only,
		.object = SHOAL__PUBSUB_SUBS_OBJECT,
		.kind = SHOAL_OBJECT_PUBSUB_SUBS,
		.min_size = subs_bytes(g->max_subs),
	};

	return shoal__peer_map_lines(svc, &ls, subs_seg, (void **)sh);
}

int shoal_pubsub_inspect(struct shoal_registry *reg, const char *name,
			 struct shoal_pubsub_info *info,
			 struct shoal_pubsub_sub_info *subs, uint32_t cap)
{
	struct shoal__inspect in;
	struct shoal__pubsub_subs_header *sh;
	struct shoal__pubsub_sub_line *lines;
	struct pubsub_geometry g;
	struct shoal__peer_spec spec;
	_Atomic uint64_t *wakeups;
	struct shoal__pubsub_header *h;
	int err, fd;
	uint32_t live = 0;

	if (!name || !info)
		return shoal__fail(-EINVAL, "pubsub_inspect: NULL argument");
	spec = (struct shoal__peer_spec){
		.who = "pubsub_inspect",
		.name = name,
		.pattern = SHOAL_PATTERN_PUBSUB,
		.pattern_name = "pub/sub",
		.geometry = shoal__pubsub_read_geometry,
		.user_data = &g,
	};
	err = shoal__inspect_open(&in, reg, &spec);
	if (!err)
		err = shoal__pubsub_map_subs(in.svc, &g, 1, &in.lines_seg, &sh);
	if (err)
		return shoal__inspect_close(&in, err);
	h = g.hdr;
	memset(info, 0, sizeof(*info));
	info->delivery = g.delivery;
	info->capacity = g.capacity;
	info->max_payload = g.max_payload;
	info->user_header_size = g.uh_size;
	info->history = g.history;
	info->max_subscribers = g.max_subs;
	info->slot_stride = g.stride;
	info->payload_bytes = g.payload_bytes;
	info->subscriber_bytes = shoal_segment_size(in.lines_seg);
	info->head = atomic_load_explicit(&h->head, memory_order_acquire);
	info->pub.sent = info->head;
	info->pub.blocked =
		atomic_load_explicit(&h->blocked, memory_order_relaxed);
	info->pub.failed =
		atomic_load_explicit(&h->failed, memory_order_relaxed);
	info->pub.wakeups =
		atomic_load_explicit(&h->wakeups, memory_order_relaxed);
	info->pub.evicted =
		atomic_load_explicit(&h->evicted, memory_order_relaxed);
	wakeups = wakeups_table(h, g.max_subs);
	lines = subs_lines(sh, g.max_subs);
	fd = shoal_segment_fd(in.lines_seg);
	for (uint32_t i = 0; i < g.max_subs; i++) {
		struct shoal__pubsub_sub_line *l = &lines[i];
		struct shoal_pubsub_sub_info *o;

		if (atomic_load_explicit(&l->state, memory_order_acquire) !=
			    SHOAL__SUB_ACTIVE ||
		    !shoal__line_locked(fd, i))
			continue;
		if (subs && live < cap) {
			o = &subs[live];
			memset(o, 0, sizeof(*o));
			o->index = i;
			o->pid = SHOAL__READ_ONCE(l->pid);
			o->cursor = atomic_load_explicit(&l->cursor,
							 memory_order_relaxed);
			o->received = atomic_load_explicit(
				&l->received, memory_order_relaxed);
			o->lost = atomic_load_explicit(&l->lost,
						       memory_order_relaxed);
			o->stale = atomic_load_explicit(&l->stale,
							memory_order_relaxed);
			o->sleeps = atomic_load_explicit(&l->sleeps,
							 memory_order_relaxed);
			o->wakeups = atomic_load_explicit(&wakeups[i],
							  memory_order_relaxed);
		}
		live++;
	}
	info->subscribers = live;
	info->pub.subscribers = live;
	return shoal__inspect_close(&in, (int)live);
}
