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

static int check_geometry(const struct pubsub_geometry *g, uint64_t hdr_size,
			  uint64_t slots_size)
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
	if (slots_size < (uint64_t)g->capacity * g->stride)
		return -1;
	return 0;
}

int shoal__pubsub_read_geometry(struct shoal_segment *seg,
				struct pubsub_geometry *g)
{
	struct shoal_object_info hi, si;
	struct shoal__pubsub_header *h;
	void *hp, *sp;
	int err;

	err = shoal_segment_find(seg, SHOAL__PUBSUB_HEADER_OBJECT,
				 SHOAL_OBJECT_PUBSUB_HEADER, &hp, &hi);
	if (!err)
		err = shoal_segment_find(seg, SHOAL__PUBSUB_SLOTS_OBJECT,
					 SHOAL_OBJECT_PUBSUB_SLOTS, &sp, &si);
	if (err)
		return shoal__fail(-EBADMSG,
				   "pubsub: the service's segment lacks its "
				   "objects: %s",
				   shoal_last_error());
	if (hi.size < sizeof(*h))
		return shoal__fail(-EBADMSG, "pubsub: header object too small");
	/* The segment format allows any alignment; ours are on lines, and
	 * 64-bit atomics must never straddle one. */
	if (hi.offset % SHOAL__CACHE_LINE || si.offset % SHOAL__CACHE_LINE)
		return shoal__fail(-EBADMSG,
				   "pubsub: objects not on cache lines");
	h = hp;
	if (h->magic != SHOAL__PUBSUB_MAGIC)
		return shoal__fail(-EBADMSG, "pubsub: bad header magic");
	if (h->version != SHOAL__PUBSUB_VERSION)
		return shoal__fail(-EPROTO,
				   "pubsub: format version %u, expected %u",
				   h->version, SHOAL__PUBSUB_VERSION);
	/* Read each value once; the publisher may be hostile. */
	g->hdr = h;
	g->slots = sp;
	g->delivery = *(volatile uint32_t *)&h->delivery;
	g->capacity = *(volatile uint32_t *)&h->capacity;
	g->stride = *(volatile uint32_t *)&h->slot_stride;
	g->max_payload = *(volatile uint32_t *)&h->max_payload;
	g->uh_size = *(volatile uint32_t *)&h->user_header_size;
	g->history = *(volatile uint32_t *)&h->history;
	g->max_subs = *(volatile uint32_t *)&h->max_subscribers;
	g->subs_memfd = *(volatile int32_t *)&h->subs_memfd;
	g->payload_bytes = shoal_segment_size(seg);
	if (check_geometry(g, hi.size, si.size))
		return shoal__fail(-EBADMSG,
				   "pubsub: inconsistent configuration "
				   "(capacity %u, stride %u, payload %u, "
				   "user header %u, history %u, limit %u)",
				   g->capacity, g->stride, g->max_payload,
				   g->uh_size, g->history, g->max_subs);
	return 0;
}

int shoal__pubsub_geometry(struct shoal_segment *seg, void *user_data,
			   const _Atomic uint32_t **closed)
{
	struct pubsub_geometry *g = user_data;
	int err = shoal__pubsub_read_geometry(seg, g);

	if (!err && closed)
		*closed = &g->hdr->closed;
	return err;
}

/* Inspecting reads a service being withdrawn too. */
static int inspect_geometry(struct shoal_segment *seg, void *user_data,
			    const _Atomic uint32_t **closed)
{
	(void)closed;
	return shoal__pubsub_read_geometry(seg, user_data);
}

int shoal__pubsub_map_subs(struct shoal_service *svc,
			   const struct pubsub_geometry *g, int read_only,
			   struct shoal_segment **subs_seg,
			   struct shoal__pubsub_subs_header **sh)
{
	struct shoal_object_info info;
	void *ptr;
	int err;

	err = shoal__peer_map_lines(svc, "pubsub",
				    SHOAL__PUBSUB_EXTRA_SUBS_MEMFD,
				    g->subs_memfd, read_only, subs_seg);
	if (err)
		return err;
	err = shoal_segment_find(*subs_seg, SHOAL__PUBSUB_SUBS_OBJECT,
				 SHOAL_OBJECT_PUBSUB_SUBS, &ptr, &info);
	/* The size is the segment layer's validated copy; the object's own
	 * header line (magic, limit) is not checked: any subscriber can
	 * scribble over it, and a new subscriber must still get in. The
	 * limit comes from the publisher's read-only header instead. */
	if (err || info.size < subs_bytes(g->max_subs) ||
	    info.offset % SHOAL__CACHE_LINE) {
		shoal_segment_close(*subs_seg);
		*subs_seg = NULL;
		return shoal__fail(-EBADMSG,
				   "pubsub: subscriber segment does not match "
				   "the service");
	}
	*sh = ptr;
	return 0;
}

int shoal_pubsub_inspect(struct shoal_registry *reg, const char *name,
			 struct shoal_pubsub_info *info,
			 struct shoal_pubsub_sub_info *subs, uint32_t cap)
{
	struct shoal_registry *r;
	struct shoal_service *svc = NULL;
	struct shoal_segment *subs_seg = NULL;
	struct shoal__pubsub_subs_header *sh;
	struct shoal__pubsub_sub_line *lines;
	struct pubsub_geometry g;
	struct shoal__peer_spec spec;
	_Atomic uint64_t *wakeups;
	struct shoal__pubsub_header *h;
	int owned, err, fd;
	uint32_t live = 0;

	if (!name || !info)
		return shoal__fail(-EINVAL, "pubsub_inspect: NULL argument");
	err = shoal__registry_use(reg, &r, &owned);
	if (err)
		return err;
	spec = (struct shoal__peer_spec){
		.who = "pubsub_inspect",
		.name = name,
		.pattern = SHOAL_PATTERN_PUBSUB,
		.pattern_name = "pub/sub",
		.oflags = SHOAL_OPEN_READ_ONLY,
		.geometry = inspect_geometry,
		.user_data = &g,
	};
	err = shoal__peer_open(r, &spec, &svc);
	if (!err)
		err = shoal__pubsub_map_subs(svc, &g, 1, &subs_seg, &sh);
	if (err)
		goto out;
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
	info->subscriber_bytes = shoal_segment_size(subs_seg);
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
	fd = shoal_segment_fd(subs_seg);
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
			o->pid = *(volatile int32_t *)&l->pid;
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
	err = (int)live;
out:
	shoal_segment_close(subs_seg);
	shoal_service_close(svc);
	if (owned)
		shoal_registry_destroy(r);
	return err;
}
