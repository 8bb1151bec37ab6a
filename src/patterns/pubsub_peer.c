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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "shoal/pubsub.h"
#include "shoal/segment.h"
#include "arch/error.h"
#include "service/service.h"
#include "patterns/pubsub_internal.h"
#include "registry/registry_internal.h"

#define FIELD(h, g, min, max, flags)                                         \
	SHOAL__FIELD(struct shoal__pubsub_header, h, struct pubsub_geometry, \
		     g, offsetof(struct shoal_pubsub_info, h), min, max,     \
		     flags)
#define STAT(x)                                        \
	SHOAL__COUNTER(struct shoal__pubsub_header, x, \
		       struct shoal_pubsub_info, pub.x)
#define LINE_STAT(x)                                     \
	SHOAL__COUNTER(struct shoal__pubsub_sub_line, x, \
		       struct shoal_pubsub_sub_info, x)
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The publisher's configuration words, their ranges and where inspect
 * reports them; its counters; a subscriber line's. */
static const struct shoal__field fields[] = {
	FIELD(delivery, delivery, SHOAL_DELIVERY_RELIABLE, SHOAL_DELIVERY_LOSSY,
	      0),
	FIELD(capacity, capacity, 2, SHOAL_PUB_CAPACITY_MAX, SHOAL__FIELD_POW2),
	FIELD(slot_stride, stride, 0, UINT32_MAX, 0),
	FIELD(max_payload, max_payload, 1, SHOAL_PUB_PAYLOAD_MAX, 0),
	FIELD(user_header_size, uh_size, 0, SHOAL_PUB_USER_HEADER_MAX,
	      SHOAL__FIELD_ALIGN8),
	FIELD(history, history, 0, UINT32_MAX, 0),
	FIELD(max_subscribers, max_subs, 1, SHOAL_PUB_SUBSCRIBERS_MAX, 0),
	SHOAL__FIELD(struct shoal__pubsub_header, subs_memfd,
		     struct pubsub_geometry, subs_memfd, SHOAL__FIELD_NO_INFO,
		     0, UINT64_MAX, 0),
};
static const struct shoal__counter stats[] = { STAT(blocked), STAT(failed),
					       STAT(wakeups), STAT(evicted),
					       STAT(skipped) };
static const struct shoal__counter line_stats[] = {
	LINE_STAT(cursor), LINE_STAT(received), LINE_STAT(lost),
	LINE_STAT(stale), LINE_STAT(sleeps)
};

/* What the ranges do not say: the words against each other and the
 * header object's size. */
static int check_geometry(const void *gp, uint64_t hdr_size, int out_of_range)
{
	const struct pubsub_geometry *g = gp;

	if (out_of_range ||
	    g->stride != slot_stride(g->uh_size, g->max_payload) ||
	    g->history >= g->capacity || hdr_size < header_bytes(g->max_subs))
		return shoal__fail(-EBADMSG,
				   "pubsub: inconsistent configuration "
				   "(capacity %u, stride %u, payload %u, "
				   "user header %u, history %u, limit %u)",
				   g->capacity, g->stride, g->max_payload,
				   g->uh_size, g->history, g->max_subs);
	return 0;
}

static const struct shoal__config config = SHOAL__CONFIG(
	"pubsub", SHOAL__PUBSUB_HEADER_OBJECT, SHOAL__OBJECT_PUBSUB_HEADER,
	SHOAL__PUBSUB_VERSION, SHOAL__PUBSUB_MAGIC, struct shoal__pubsub_header,
	fields, struct pubsub_geometry, check_geometry);
/* The same words in a ring of several publishers (version 5). */
static const struct shoal__config config_multi =
	SHOAL__CONFIG("pubsub", SHOAL__PUBSUB_HEADER_OBJECT,
		      SHOAL__OBJECT_PUBSUB_HEADER, SHOAL__PUBSUB_VERSION_MULTI,
		      SHOAL__PUBSUB_MAGIC, struct shoal__pubsub_header, fields,
		      struct pubsub_geometry, check_geometry);

/* The same words in a ring with payload pools (version 6). */
static const struct shoal__config config_pools =
	SHOAL__CONFIG("pubsub", SHOAL__PUBSUB_HEADER_OBJECT,
		      SHOAL__OBJECT_PUBSUB_HEADER, SHOAL__PUBSUB_VERSION_POOLS,
		      SHOAL__PUBSUB_MAGIC, struct shoal__pubsub_header, fields,
		      struct pubsub_geometry, check_geometry);

/* Version 4's words (line 0 is written before publication and never
 * again, but is read once all the same). @multi: 1 several publishers,
 * 0 one, -1 (version 6) as max_publishers says. */
static int read_publishers(struct pubsub_geometry *g, int multi)
{
	uint32_t flags = SHOAL__READ_ONCE(g->hdr->flags);
	uint32_t mp = SHOAL__READ_ONCE(g->hdr->max_publishers);
	uint32_t slot = SHOAL__READ_ONCE(g->hdr->slot);

	if (multi < 0)
		multi = mp > 1;
	if (!multi) {
		mp = 1;
		slot = 0;
	} else if (mp < 2 || mp > SHOAL_PUB_PUBLISHERS_MAX || slot >= mp) {
		return shoal__fail(-EBADMSG,
				   "pubsub: publisher slot %u of %u is "
				   "inconsistent",
				   slot, mp);
	}
	g->flags = flags;
	g->max_pubs = mp;
	g->slot = slot;
	return 0;
}

/* Version 6: the pool table, checked, and a slot that holds exactly a
 * reference. */
static int read_pools(struct shoal_segment *seg, struct pubsub_geometry *g)
{
	struct shoal_object_info oi;
	void *obj;
	int err;

	if (g->max_payload != sizeof(struct shoal__pool_ref))
		return shoal__fail(-EBADMSG,
				   "pubsub: pooled slots of %u bytes, not a "
				   "reference's %zu",
				   g->max_payload,
				   sizeof(struct shoal__pool_ref));
	if (shoal_segment_find(seg, SHOAL__PUBSUB_POOLS_OBJECT,
			       SHOAL__OBJECT_PUBSUB_POOLS, &obj, &oi))
		return shoal__fail(-EBADMSG, "pubsub: no pool table");
	err = shoal__peer_object(seg, "pubsub", SHOAL__PUBSUB_POOLS_OBJECT,
				 SHOAL__OBJECT_PUBSUB_POOLS, oi.size, &obj);
	if (!err)
		err = shoal__pools_read(obj, oi.size, &g->pools);
	return err;
}

int shoal__pubsub_read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct pubsub_geometry *g = user_data;
	int multi = 0;
	void *sp;
	int err;

	g->payload_bytes = shoal_segment_size(seg);
	memset(&g->pools, 0, sizeof(g->pools));
	err = shoal__peer_config(seg, &config, g);
	if (err == -EPROTO) {
		err = shoal__peer_config(seg, &config_multi, g);
		multi = 1;
	}
	if (err == -EPROTO) {
		err = shoal__peer_config(seg, &config_pools, g);
		multi = -1;
		if (err == -EPROTO)
			(void)shoal__fail(err,
					  "pubsub: format version not %u, %u "
					  "or %u",
					  SHOAL__PUBSUB_VERSION,
					  SHOAL__PUBSUB_VERSION_MULTI,
					  SHOAL__PUBSUB_VERSION_POOLS);
	}
	if (!err)
		err = read_publishers(g, multi);
	if (err)
		return err;
	err = shoal__peer_object(seg, "pubsub", SHOAL__PUBSUB_SLOTS_OBJECT,
				 SHOAL__OBJECT_PUBSUB_SLOTS,
				 (uint64_t)g->capacity * g->stride, &sp);
	g->slots = sp;
	if (!err && multi < 0)
		err = read_pools(seg, g);
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
	static const struct shoal__lines_spec ls = {
		"pubsub", SHOAL__EXTRA_LINES_MEMFD, SHOAL__PUBSUB_SUBS_OBJECT,
		SHOAL__OBJECT_PUBSUB_SUBS
	};

	return shoal__peer_map_lines(svc, &ls, g->subs_memfd,
				     subs_bytes(g->max_subs), read_only,
				     subs_seg, (void **)sh);
}

static const struct shoal__kind kinds[] = {
	{ SHOAL__OBJECT_PUBSUB_HEADER, "pub/sub header" },
	{ SHOAL__OBJECT_PUBSUB_SLOTS, "pub/sub slots" },
	{ SHOAL__OBJECT_PUBSUB_SUBS, "pub/sub subscribers" },
	{ SHOAL__OBJECT_PUBSUB_POOLS, "pub/sub payload pools" },
};

const char *shoal__pubsub_disagree(const struct pubsub_geometry *a,
				   const struct pubsub_geometry *b)
{
	if (a->max_pubs != b->max_pubs)
		return "max_publishers";
	if (a->delivery != b->delivery)
		return "delivery";
	if (a->max_payload != b->max_payload)
		return "max_payload";
	if (a->uh_size != b->uh_size)
		return "user_header_size";
	if ((a->flags ^ b->flags) & SHOAL_PUB_TIMESTAMP)
		return "flags (SHOAL_PUB_TIMESTAMP)";
	return NULL;
}

int shoal__pubsub_slot_geometry(struct shoal_registry *reg, const char *sname,
				struct pubsub_geometry *g)
{
	struct shoal__inspect in;
	struct shoal_pubsub_info info = { 0 }; /* only must not be NULL */
	int err = shoal__inspect_open(&in, reg, &shoal__pubsub_pattern, "pub",
				      sname, &info, g);

	return shoal__inspect_close(&in, err);
}

const struct shoal__pattern shoal__pubsub_pattern = {
	SHOAL_PATTERN_PUBSUB,
	"pub/sub",
	shoal__pubsub_read_geometry,
	SHOAL__PUBSUB_HEADER_OBJECT,
	offsetof(struct shoal__pubsub_header, closed),
	SHOAL__KINDS(kinds)
};

/* A subscriber's wake-ups are counted in the publisher's header. */
static void sub_wakeups(void *out, const void *line, uint32_t index, void *ctx)
{
	struct shoal_pubsub_sub_info *o = out;
	_Atomic uint64_t *wakeups = ctx;

	(void)line;
	o->wakeups =
		atomic_load_explicit(&wakeups[index], memory_order_relaxed);
}

static const struct shoal__line_info sub_info = SHOAL__LINE_INFO(
	struct shoal__pubsub_sub_line, SHOAL__SUB_ACTIVE,
	struct shoal_pubsub_sub_info, index, line_stats, sub_wakeups);

/* Live publisher slots of the service @name (or of the one whose slot
 * name it is), each opened read-only once. */
static uint32_t count_publishers(struct shoal_registry *reg, const char *name,
				 uint32_t max_pubs)
{
	char base[SHOAL_SERVICE_NAME_MAX + 1], sn[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal__detail d;
	uint32_t live = 0;
	size_t len;

	if (max_pubs <= 1)
		return 1;
	shoal__detail_save(&d);
	snprintf(base, sizeof(base), "%s", name);
	if (shoal__name_slot(base)) {
		/* Drop the "//i" the name was checked to end in. */
		len = strlen(base);
		while (len && base[len - 1] >= '0' && base[len - 1] <= '9')
			len--;
		base[len - 2] = '\0';
	}
	for (uint32_t slot = 0; slot < max_pubs; slot++) {
		struct pubsub_geometry g;

		if (!shoal__slot_name(base, slot, sn) &&
		    !shoal__pubsub_slot_geometry(reg, sn, &g))
			live++;
	}
	(void)shoal__detail_fail(&d, 0);
	return live;
}

int shoal_pubsub_inspect(struct shoal_registry *reg, const char *name,
			 struct shoal_pubsub_info *info,
			 struct shoal_pubsub_sub_info *subs, uint32_t cap)
{
	struct shoal__inspect in;
	struct shoal__pubsub_subs_header *sh;
	struct shoal__lines_view v;
	struct pubsub_geometry g;
	struct shoal__pubsub_header *h;
	uint32_t live;
	int err;

	err = shoal__inspect_open(&in, reg, &shoal__pubsub_pattern,
				  "pubsub_inspect", name, info, &g);
	if (!err)
		err = shoal__pubsub_map_subs(in.svc, &g, 1, &in.lines_seg, &sh);
	if (err)
		return shoal__inspect_close(&in, err);
	h = g.hdr;
	memset(info, 0, sizeof(*info));
	shoal__info_fields(info, &g, fields, N(fields));
	info->payload_bytes = g.payload_bytes;
	info->subscriber_bytes = shoal_segment_size(in.lines_seg);
	info->head = atomic_load_explicit(&h->head, memory_order_acquire);
	shoal__load_counters(info, h, stats, N(stats));
	/* head counts skip markers too; sent does not. */
	info->pub.sent = info->head - info->pub.skipped;
	v = (struct shoal__lines_view){ subs_lines(sh, g.max_subs),
					sizeof(struct shoal__pubsub_sub_line),
					g.max_subs };
	live = shoal__inspect_lines(&in, &v, &sub_info,
				    wakeups_table(h, g.max_subs), subs, cap);
	info->subscribers = live;
	info->pub.subscribers = live;
	info->max_publishers = g.max_pubs;
	info->pub.slot = g.slot;
	info->flags = g.flags;
	info->publishers = count_publishers(in.reg, name, g.max_pubs);
	info->npools = g.pools.n;
	for (uint32_t c = 0; c < g.pools.n; c++)
		info->pools[c] = (struct shoal_pool){ g.pools.pool[c].size,
						      g.pools.pool[c].count };
	if (g.pools.n)
		info->max_payload = g.pools.largest;
	return shoal__inspect_close(&in, (int)live);
}
