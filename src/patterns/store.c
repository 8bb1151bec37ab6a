/* SPDX-License-Identifier: MIT */
/*
 * Store: a table of named, typed objects in shared memory, on the service
 * layer (service.h). This file is the lifecycle: options, creating (the
 * owner's segment with the table, the data segment with the heap, the
 * event service beside it, announce), adding objects, opening by name,
 * looking objects up, stats and inspection, closing.
 *
 *  - The table is in the owner's segment, sealed F_SEAL_FUTURE_WRITE when
 *    it is made ready: peers can only map it read-only. The owner keeps
 *    its writable mapping and appends to the table afterwards: it writes
 *    entry [n] and formats the object's region, then release-stores
 *    nobjects = n + 1, which a lookup acquire-loads before it reads an
 *    entry below it. Entries are never changed once published.
 *  - The heap is in a second segment, mapped read-write by read-write
 *    peers (read-only by SHOAL_STORE_READ_ONLY ones), and cut by bump
 *    allocation: an object's region is [offset, offset + size) of it,
 *    64-byte aligned. Nothing is freed.
 *  - A lookup copies the entry, checks the copy (name, kind, sizes, the
 *    region inside the heap and big enough for the kind) and keeps only
 *    the checked copy in the caller's object handle; the object's own
 *    algorithm checks what it reads of the region (docs/objects.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_internal.h"
#include "patterns/store_internal.h"

#define DEFAULT_MAX_OBJECTS 64
#define DEFAULT_EVENT_IDS 256
#define FIELD(h, min, max)                                                    \
	SHOAL__FIELD(struct shoal__store_header, h, struct store_geometry, h, \
		     SHOAL__FIELD_NO_INFO, min, max, 0)

void shoal_store_options_init(struct shoal_store_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_objects = DEFAULT_MAX_OBJECTS;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->event_ids = DEFAULT_EVENT_IDS;
}

/* The owner's configuration words, as the owner writes them and peers
 * read and check them (service.h). */
static const struct shoal__field fields[] = {
	FIELD(max_objects, 1, SHOAL_STORE_OBJECTS_MAX),
	FIELD(heap_size, SHOAL__STORE_ALIGN, SHOAL_SEGMENT_SIZE_MAX),
	FIELD(heap_memfd, 0, INT32_MAX),
	FIELD(event_ids, 0, SHOAL_EVENT_IDS_MAX),
	FIELD(flags, 0, 0),
};

static int check_geometry(const void *gp, uint64_t hdr_size, int out_of_range)
{
	const struct store_geometry *g = gp;

	if (out_of_range || g->heap_size % SHOAL__STORE_ALIGN ||
	    hdr_size < shoal__store_header_bytes(g->max_objects))
		return shoal__fail(-EBADMSG,
				   "store: inconsistent configuration (%u "
				   "objects, %llu heap bytes, %u event ids)",
				   g->max_objects,
				   (unsigned long long)g->heap_size,
				   g->event_ids);
	return 0;
}

static const struct shoal__config store_config = SHOAL__CONFIG(
	"store", SHOAL__STORE_HEADER_OBJECT, SHOAL__OBJECT_STORE_HEADER,
	SHOAL__STORE_VERSION, SHOAL__STORE_MAGIC, struct shoal__store_header,
	fields, struct store_geometry, check_geometry);

static int read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct shoal_store *s = user_data;

	return shoal__peer_config(seg, &store_config, &s->g);
}

static const struct shoal__kind kinds[] = {
	{ SHOAL__OBJECT_STORE_HEADER, "store table" },
	{ SHOAL__OBJECT_STORE_HEAP, "store heap" },
};

const struct shoal__pattern shoal__store_pattern = {
	SHOAL_PATTERN_STORE,
	"a store",
	read_geometry,
	SHOAL__STORE_HEADER_OBJECT,
	offsetof(struct shoal__store_header, closed),
	SHOAL__KINDS(kinds)
};

int shoal__store_read_only(const char *who)
{
	return shoal__fail(-EPERM, "%s: the store was opened read-only", who);
}

/* ------------------------------------------------------------------------
 * Objects: checking a spec or a table entry
 */

static int name_ok(const char *name, size_t cap)
{
	size_t len = strnlen(name, cap);

	if (!len || len == cap)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x21 ||
		    (unsigned char)name[i] > 0x7e)
			return 0;
	return 1;
}

static uint32_t natural_align(uint32_t size)
{
	uint32_t a = 1;

	while (a < 8 && !(size & a))
		a <<= 1;
	return a;
}

/*
 * The checks a spec from the owner and an entry from the table share:
 * 0, or -1 with nothing recorded (the callers say which way it is bad).
 */
static int shape_ok(uint32_t kind, uint32_t count, uint32_t elem_size,
		    uint32_t elem_align, uint32_t key_size, uint32_t flags)
{
	if (kind < SHOAL_STORE_ARRAY || kind > SHOAL_STORE_MAP)
		return -1;
	if (!count || count > SHOAL_STORE_COUNT_MAX || !elem_size ||
	    elem_size > SHOAL_STORE_ELEM_MAX)
		return -1;
	if (!shoal__is_pow2(elem_align) || elem_align > SHOAL__STORE_ALIGN ||
	    (kind == SHOAL_STORE_ARRAY && elem_size % elem_align))
		return -1;
	if ((kind == SHOAL_STORE_MAP) !=
	    (key_size > 0 && key_size <= SHOAL_STORE_ELEM_MAX))
		return -1;
	if (flags & ~(uint32_t)SHOAL_STORE_MANY_WRITERS)
		return -1;
	if (flags && kind != SHOAL_STORE_BLACKBOARD)
		return -1;
	return 0;
}

/* Checks the copy @e of a table entry into *@info; 0 or -EBADMSG. */
static int check_entry(const struct shoal_store *s,
		       const struct shoal__store_entry *e,
		       struct shoal_store_object_info *info)
{
	uint64_t need;

	if (!name_ok(e->name, sizeof(e->name)) ||
	    strnlen(e->type_name, sizeof(e->type_name)) ==
		    sizeof(e->type_name) ||
	    shape_ok(e->kind, e->count, e->elem_size, e->elem_align,
		     e->key_size, e->flags))
		goto bad;
	need = shoal__store_region_bytes(e->kind, e->count, e->elem_size,
					 e->key_size, e->flags);
	if (!need || e->offset % SHOAL__STORE_ALIGN ||
	    e->size % SHOAL__STORE_ALIGN || e->size < need ||
	    e->offset > s->g.heap_size || e->size > s->g.heap_size - e->offset)
		goto bad;
	if (e->kind == SHOAL_STORE_BLACKBOARD && s->g.event_ids &&
	    e->event_base >= s->g.event_ids)
		goto bad;
	memset(info, 0, sizeof(*info));
	memcpy(info->name, e->name, sizeof(info->name));
	memcpy(info->type_name, e->type_name, sizeof(info->type_name));
	info->kind = e->kind;
	info->count = e->count;
	info->elem_size = e->elem_size;
	info->elem_align = e->elem_align;
	info->key_size = e->key_size;
	info->flags = e->flags;
	info->event_base = e->kind == SHOAL_STORE_BLACKBOARD ? e->event_base :
							       0;
	info->offset = e->offset;
	info->size = e->size;
	return 0;
bad:
	return shoal__fail(-EBADMSG, "store: '%s': corrupt table entry",
			   s->name);
}

/* How many entries are published, never more than the table holds. */
static uint32_t published(const struct shoal_store *s)
{
	/* Acquire: pairs with the owner's release store of nobjects in
	 * shoal_store_add(), so the entries below it are complete. */
	uint32_t n =
		atomic_load_explicit(&s->g.hdr->nobjects, memory_order_acquire);

	return n < s->g.max_objects ? n : s->g.max_objects;
}

/* A copy of entry @i (the owner may be hostile: read once). */
static void copy_entry(const struct shoal_store *s, uint32_t i,
		       struct shoal__store_entry *e)
{
	memcpy(e, (const void *)&s->table[i], sizeof(*e));
}

uint32_t shoal_store_object_count(const struct shoal_store *s)
{
	return s ? published(s) : 0;
}

int shoal_store_object_at(const struct shoal_store *s, uint32_t index,
			  struct shoal_store_object_info *info)
{
	struct shoal__store_entry e;

	if (!s || !info)
		return shoal__fail(-EINVAL, "store_object_info: NULL argument");
	if (index >= published(s))
		return shoal__fail(-ENOENT, "store: '%s' has no object %u",
				   s->name, index);
	copy_entry(s, index, &e);
	return check_entry(s, &e, info);
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case SHOAL_STORE_ARRAY:
		return "an array";
	case SHOAL_STORE_BLACKBOARD:
		return "a blackboard";
	case SHOAL_STORE_STACK:
		return "a stack";
	case SHOAL_STORE_MAP:
		return "a map";
	}
	return "an object";
}

int shoal__store_find(struct shoal_store *s, const char *name, uint32_t kind,
		      struct shoal_store_object_info *info, void **base,
		      uint32_t *index)
{
	uint32_t n;

	if (!s || !name)
		return shoal__fail(-EINVAL, "store: NULL argument");
	n = published(s);
	for (uint32_t i = 0; i < n; i++) {
		struct shoal__store_entry e;
		int err;

		copy_entry(s, i, &e);
		if (strncmp(e.name, name, sizeof(e.name)))
			continue;
		err = check_entry(s, &e, info);
		if (err)
			return err;
		if (info->kind != kind)
			return shoal__fail(-EPROTO,
					   "store: '%s' in '%s' is %s, not %s",
					   name, s->name, kind_name(info->kind),
					   kind_name(kind));
		*base = s->heap + info->offset;
		if (index)
			*index = i;
		return 0;
	}
	return shoal__fail(-ENOENT, "store: '%s' has no object '%s'", s->name,
			   name);
}

/* ------------------------------------------------------------------------
 * The owner: creating and adding
 */

static int check_object(const struct shoal_store_object *o, uint32_t *align)
{
	if (!o->name || !name_ok(o->name, SHOAL_STORE_NAME_MAX + 1))
		return shoal__fail(-EINVAL,
				   "store: object name must be 1..%d "
				   "printable bytes without spaces",
				   SHOAL_STORE_NAME_MAX);
	if (o->type_name &&
	    strnlen(o->type_name, SHOAL_STORE_TYPE_NAME_MAX + 1) >
		    SHOAL_STORE_TYPE_NAME_MAX)
		return shoal__fail(-EINVAL,
				   "store: '%s': type name longer than %d",
				   o->name, SHOAL_STORE_TYPE_NAME_MAX);
	*align = o->elem_align ? o->elem_align : natural_align(o->elem_size);
	if (shape_ok(o->kind, o->count, o->elem_size, *align, o->key_size,
		     o->flags))
		return shoal__fail(-EINVAL,
				   "store: '%s': kind %u, count %u (1..%u), "
				   "element %u bytes (1..%u) aligned %u, key "
				   "%u bytes (maps only), flags 0x%x: not a "
				   "valid object",
				   o->name, o->kind, o->count,
				   SHOAL_STORE_COUNT_MAX, o->elem_size,
				   SHOAL_STORE_ELEM_MAX, *align, o->key_size,
				   o->flags);
	return 0;
}

/* The bytes @o's region takes: 0 (with the detail) if it cannot be. */
static uint64_t object_bytes(const struct shoal_store_object *o)
{
	uint32_t align;
	uint64_t b;

	if (check_object(o, &align))
		return 0;
	b = shoal__store_region_bytes(o->kind, o->count, o->elem_size,
				      o->key_size, o->flags);
	if (!b)
		shoal__fail(-EINVAL, "store: '%s': not supported or too large",
			    o->name);
	return b;
}

int shoal_store_add(struct shoal_store *s, const struct shoal_store_object *o)
{
	struct shoal__store_header *h;
	struct shoal__store_entry *e;
	struct shoal_store_object_info info;
	uint32_t n, align, bb_keys = 0;
	uint64_t used, bytes;
	void *base;
	int err;

	if (!s || !o)
		return shoal__fail(-EINVAL, "store_add: NULL argument");
	if (!s->owner)
		return shoal__fail(-EPERM,
				   "store_add: only the owner of '%s' adds "
				   "objects",
				   s->name);
	h = s->g.hdr;
	bytes = object_bytes(o);
	if (!bytes)
		return -EINVAL;
	(void)check_object(o, &align);
	if (shoal__store_find(s, o->name, 0, &info, &base, NULL) != -ENOENT)
		return shoal__fail(-EEXIST, "store: '%s' already has '%s'",
				   s->name, o->name);
	n = atomic_load_explicit(&h->nobjects, memory_order_relaxed);
	used = atomic_load_explicit(&h->heap_used, memory_order_relaxed);
	if (n >= s->g.max_objects)
		return shoal__fail(-ENOSPC,
				   "store: '%s' holds its %u objects already",
				   s->name, s->g.max_objects);
	if (bytes > s->g.heap_size - used)
		return shoal__fail(-ENOSPC,
				   "store: '%s' needs %llu bytes, %llu left",
				   o->name, (unsigned long long)bytes,
				   (unsigned long long)(s->g.heap_size - used));
	for (uint32_t i = 0; i < n; i++)
		if (s->table[i].kind == SHOAL_STORE_BLACKBOARD)
			bb_keys += s->table[i].count;
	err = shoal__store_format(s->heap + used, bytes, o->kind, o->count,
				  o->elem_size, o->key_size, o->flags);
	if (err)
		return err;
	e = &s->table[n];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", o->name);
	snprintf(e->type_name, sizeof(e->type_name), "%s",
		 o->type_name ? o->type_name : "");
	e->kind = o->kind;
	e->count = o->count;
	e->elem_size = o->elem_size;
	e->elem_align = align;
	e->key_size = o->key_size;
	e->flags = o->flags;
	e->event_base = s->g.event_ids ? bb_keys % s->g.event_ids : 0;
	e->offset = used;
	e->size = bytes;
	/* Release: publishes the entry and the region formatted above;
	 * pairs with the acquire load in published(). */
	atomic_store_explicit(&h->nobjects, n + 1, memory_order_release);
	atomic_store_explicit(&h->heap_used, used + bytes,
			      memory_order_relaxed);
	return (int)n;
}

static int check_create(const char *who, const char *name, const void *out,
			const void *opts)
{
	const struct shoal_store_options *o = opts;
	size_t len;

	if (shoal__check_open(who, name, out, o->flags, 0, 0))
		return -EINVAL;
	len = strlen(name);
	if (o->event_ids > SHOAL_EVENT_IDS_MAX)
		return shoal__fail(-EINVAL, "%s: event_ids %u not in 0..%u",
				   who, o->event_ids, SHOAL_EVENT_IDS_MAX);
	if (o->event_ids &&
	    len + strlen(SHOAL__STORE_EVENTS_SUFFIX) > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL,
				   "%s: '%s' leaves no room for the name of "
				   "its event service (or set event_ids 0)",
				   who, name);
	if (o->nobjects && !o->objects)
		return shoal__fail(-EINVAL, "%s: NULL objects", who);
	if (o->nobjects > SHOAL_STORE_OBJECTS_MAX ||
	    o->max_objects > SHOAL_STORE_OBJECTS_MAX)
		return shoal__fail(-EINVAL, "%s: more than %u objects", who,
				   SHOAL_STORE_OBJECTS_MAX);
	return 0;
}

static int create_events(struct shoal_store *s, const char *name,
			 const struct shoal_store_options *o)
{
	struct shoal_event_options eo;
	char evname[SHOAL_SERVICE_NAME_MAX + sizeof(SHOAL__STORE_EVENTS_SUFFIX)];

	shoal_event_options_init(&eo);
	eo.ids = o->event_ids;
	eo.access = o->access;
	eo.registry = o->registry;
	eo.type_name = "shoal.store";
	snprintf(evname, sizeof(evname), "%s%s", name,
		 SHOAL__STORE_EVENTS_SUFFIX);
	return shoal_event_create(evname, &eo, &s->ev);
}

static int setup_create(void *hp, const char *name, const void *opts)
{
	const struct shoal_store_options *o = opts;
	struct shoal_store *s = hp;
	struct shoal_object_spec objs[1], heap[1];
	struct shoal__owner_spec spec;
	uint64_t heap_bytes = 0;
	uint32_t maxo = o->max_objects ? o->max_objects : DEFAULT_MAX_OBJECTS;
	int err;

	snprintf(s->name, sizeof(s->name), "%s", name);
	s->owner = 1;
	s->lock_fd = -1;
	if (maxo < o->nobjects)
		maxo = o->nobjects;
	for (uint32_t i = 0; i < o->nobjects; i++) {
		uint64_t b = object_bytes(&o->objects[i]);

		if (!b)
			return -EINVAL;
		heap_bytes += b;
	}
	if (o->reserve_bytes > SHOAL_SEGMENT_SIZE_MAX ||
	    heap_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG, "store: '%s' would be too large",
				   name);
	heap_bytes += (o->reserve_bytes + SHOAL__STORE_ALIGN - 1) /
		      SHOAL__STORE_ALIGN * SHOAL__STORE_ALIGN;
	if (!heap_bytes)
		heap_bytes = SHOAL__STORE_ALIGN;
	if (heap_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG, "store: '%s' would be too large",
				   name);
	objs[0] = (struct shoal_object_spec){ SHOAL__STORE_HEADER_OBJECT,
					      SHOAL__OBJECT_STORE_HEADER, 64,
					      shoal__store_header_bytes(maxo) };
	heap[0] = (struct shoal_object_spec){ SHOAL__STORE_HEAP_OBJECT,
					      SHOAL__OBJECT_STORE_HEAP, 64,
					      heap_bytes };
	spec = shoal__owner_spec_lines(name, o->registry, 0, objs, 1, heap, 1);
	err = shoal__owner_create(&s->own, &spec);
	if (err)
		return err;
	s->g.hdr = shoal__owner_object(s->own.seg, SHOAL__STORE_HEADER_OBJECT);
	s->g.max_objects = maxo;
	s->g.heap_size = heap_bytes;
	s->g.heap_memfd = shoal_segment_fd(s->own.lines_seg);
	s->g.event_ids = o->event_ids;
	shoal__owner_config(&store_config, s->g.hdr, &s->g);
	s->table = shoal__store_table(s->g.hdr);
	s->heap =
		shoal__owner_object(s->own.lines_seg, SHOAL__STORE_HEAP_OBJECT);
	for (uint32_t i = 0; i < o->nobjects; i++) {
		err = shoal_store_add(s, &o->objects[i]);
		if (err < 0)
			return err;
	}
	if (o->event_ids) {
		err = create_events(s, name, o);
		if (err)
			return err;
	}
	return shoal__owner_announce(&s->own, name, SHOAL_PATTERN_STORE,
				     o->access, &SHOAL__TYPE_OF(o), NULL, 0);
}

static void free_store(struct shoal_store *s)
{
	if (!s)
		return;
	if (s->owner)
		shoal__owner_withdraw(&s->own,
				      s->g.hdr ? &s->g.hdr->closed : NULL);
	shoal_event_destroy(s->ev);
	shoal__store_free_views(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* drops the writer line */
	shoal__owner_fini(&s->own);
	shoal_segment_close(s->data_seg);
	shoal_service_close(s->svc);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	free(s);
}

static void undo(void *h)
{
	free_store(h);
}

static void hand_out(void *out, void *h)
{
	*(struct shoal_store **)out = h;
}

int shoal_store_create(const char *name, const struct shoal_store_options *opts,
		       struct shoal_store **out)
{
	struct shoal_store_options defaults;
	const struct shoal__maker m = {
		"store_create", sizeof(struct shoal_store),
		&defaults,	check_create,
		setup_create,	undo,
		hand_out
	};

	shoal_store_options_init(&defaults);
	return shoal__make(&m, name, opts, out);
}

/* ------------------------------------------------------------------------
 * Peers: opening
 */

static int check_open(const char *who, const char *name, const void *out,
		      const void *opts)
{
	const struct shoal_store_options *o = opts;

	return shoal__check_open(
		who, name, out, o->flags,
		SHOAL_STORE_READ_ONLY | SHOAL_STORE_NO_PIDFD_GETFD, 0);
}

static int map_heap(struct shoal_store *s, int read_only)
{
	static const struct shoal__lines_spec ls = { "store",
						     SHOAL__EXTRA_LINES_MEMFD,
						     SHOAL__STORE_HEAP_OBJECT,
						     SHOAL__OBJECT_STORE_HEAP };
	void *heap;
	int err = shoal__peer_map_lines(s->svc, &ls, s->g.heap_memfd,
					s->g.heap_size, read_only, &s->data_seg,
					&heap);

	if (!err)
		s->heap = heap;
	return err;
}

/* The opening both shoal_store_open() and inspecting do. */
static int open_store(struct shoal_store *s, const char *name,
		      struct shoal_registry *reg, uint32_t flags,
		      const struct shoal__type *type, int64_t timeout_ns,
		      int closed_check)
{
	struct shoal__peer_spec spec;
	uint32_t oflags = SHOAL_OPEN_READ_ONLY; /* the table is sealed */
	int err;

	snprintf(s->name, sizeof(s->name), "%s", name);
	s->lock_fd = -1;
	if (flags & SHOAL_STORE_NO_PIDFD_GETFD)
		oflags |= SHOAL_OPEN_NO_PIDFD_GETFD;
	s->oflags = oflags;
	s->read_only = !!(flags & SHOAL_STORE_READ_ONLY);
	spec = shoal__peer_spec_of(&shoal__store_pattern, "store", s->name,
				   oflags, type, timeout_ns, s);
	if (!closed_check)
		spec.header = NULL;
	err = shoal__registry_use(reg, &s->reg, &s->own_reg);
	if (!err)
		err = shoal__peer_open(s->reg, &spec, &s->svc);
	if (err)
		return err;
	s->table = shoal__store_table(s->g.hdr);
	return map_heap(s, s->read_only);
}

static int setup_open(void *hp, const char *name, const void *opts)
{
	const struct shoal_store_options *o = opts;

	return open_store(hp, name, o->registry, o->flags, &SHOAL__TYPE_OF(o),
			  o->timeout_ns, 1);
}

int shoal_store_open(const char *name, const struct shoal_store_options *opts,
		     struct shoal_store **out)
{
	struct shoal_store_options defaults;
	const struct shoal__maker m = {
		"store_open", sizeof(struct shoal_store),
		&defaults,    check_open,
		setup_open,   undo,
		hand_out
	};

	shoal_store_options_init(&defaults);
	return shoal__make(&m, name, opts, out);
}

void shoal_store_destroy(struct shoal_store *s)
{
	if (s && !s->owner) {
		shoal__fail(-EINVAL,
			    "store_destroy: '%s' was opened, not created "
			    "here: close it with shoal_store_close",
			    s->name);
		return;
	}
	free_store(s);
}

void shoal_store_close(struct shoal_store *s)
{
	if (s && s->owner) {
		shoal__fail(-EINVAL,
			    "store_close: '%s' was created here: end it with "
			    "shoal_store_destroy",
			    s->name);
		return;
	}
	free_store(s);
}

static void fill_stats(const struct shoal_store *s,
		       struct shoal_store_stats *st)
{
	uint64_t used = atomic_load_explicit(&s->g.hdr->heap_used,
					     memory_order_relaxed);

	memset(st, 0, sizeof(*st));
	st->objects = published(s);
	st->max_objects = s->g.max_objects;
	st->heap_size = s->g.heap_size;
	st->heap_used = used < s->g.heap_size ? used : s->g.heap_size;
	st->event_ids = s->g.event_ids;
	st->read_only = (uint32_t)s->read_only;
}

void shoal_store_get_stats(const struct shoal_store *s,
			   struct shoal_store_stats *st)
{
	fill_stats(s, st);
}

int shoal_store_inspect(struct shoal_registry *reg, const char *name,
			struct shoal_store_stats *st)
{
	struct shoal_store s;
	int err;

	if (!name || !st)
		return shoal__fail(-EINVAL, "store_inspect: NULL argument");
	if (shoal__name_check("store_inspect", name))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	err = open_store(&s, name, reg, SHOAL_STORE_READ_ONLY, NULL, 0, 0);
	if (!err)
		fill_stats(&s, st);
	shoal_segment_close(s.data_seg);
	shoal_service_close(s.svc);
	if (s.own_reg)
		shoal_registry_destroy(s.reg);
	return err;
}
