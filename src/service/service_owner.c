/* SPDX-License-Identifier: MIT */
/*
 * The owner side of the service layer (service.h): the registry, the
 * segments, one eventfd per participant line and the fd table the registry
 * entry hands out, announce and withdraw, and waking one sleeper.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/notify.h"
#include "arch/error.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "service/service.h"

void shoal__owner_init(struct shoal__owner *o)
{
	*o = (struct shoal__owner){ 0 };
}

static int make_fds(struct shoal__owner *o)
{
	o->nfds = o->lines + (o->lines_memfd_first ? 1 : 0);
	o->fds = malloc(sizeof(int) * (o->nfds ? o->nfds : 1));
	if (!o->fds)
		return shoal__fail(-ENOMEM, "service: out of memory");
	for (uint32_t i = 0; i < o->nfds; i++)
		o->fds[i] = -1;
	o->wake_fds = o->fds + (o->lines_memfd_first ? 1 : 0);
	for (uint32_t i = 0; i < o->lines; i++) {
		o->wake_fds[i] = shoal_eventfd_create();
		if (o->wake_fds[i] < 0)
			return o->wake_fds[i];
	}
	return 0;
}

static int make_segments(struct shoal__owner *o,
			 const struct shoal__owner_spec *spec)
{
	struct shoal_segment_options so;
	int err;

	shoal_segment_options_init(&so);
	so.debug_name = spec->name;
	so.flags = spec->seg_flags;
	err = shoal_segment_create(spec->objects, spec->nobjects, &so, &o->seg);
	if (err)
		return err;
	o->epoch = shoal_segment_epoch(o->seg);
	if (!spec->line_objects)
		return 0;
	shoal_segment_options_init(&so);
	so.debug_name = spec->name;
	so.epoch = o->epoch;
	err = shoal_segment_create(spec->line_objects, spec->nline_objects, &so,
				   &o->lines_seg);
	if (err)
		return err;
	if (o->lines_memfd_first)
		o->fds[0] = shoal_segment_fd(o->lines_seg);
	return 0;
}

int shoal__owner_create(struct shoal__owner *o,
			const struct shoal__owner_spec *spec)
{
	int err;

	if (spec->origin) {
		char who[SHOAL_SERVICE_NAME_MAX + 16];

		snprintf(who, sizeof(who), "create %s",
			 spec->name ? spec->name : "");
		err = shoal__origin_check(who, spec->origin);
		if (err)
			return err;
		memcpy(o->origin, spec->origin, strlen(spec->origin) + 1);
	}
	o->lines = spec->lines;
	o->lines_memfd_first = spec->lines_memfd_first && spec->line_objects;
	err = shoal__registry_use(spec->registry, &o->reg, &o->own_reg);
	if (!err)
		err = make_fds(o);
	if (!err)
		err = make_segments(o, spec);
	return err;
}

void *shoal__owner_object(struct shoal_segment *seg, const char *name)
{
	void *ptr = NULL;

	shoal_segment_find(seg, name, 0, &ptr, NULL);
	return ptr;
}

struct shoal__owner_spec shoal__owner_spec_lines(
	const char *name, struct shoal_registry *registry, uint32_t lines,
	const struct shoal_object_spec *objects, uint32_t nobjects,
	const struct shoal_object_spec *line_objects, uint32_t nline_objects)
{
	return (struct shoal__owner_spec){
		.name = name,
		.registry = registry,
		.lines = lines,
		.lines_memfd_first = 1,
		.objects = objects,
		.nobjects = nobjects,
		.seg_flags = SHOAL_SEGMENT_PEERS_READ_ONLY,
		.line_objects = line_objects,
		.nline_objects = nline_objects,
	};
}

int shoal__owner_announce(struct shoal__owner *o, const char *name,
			  uint32_t pattern, uint32_t access,
			  const struct shoal__type *type, const int *eventfds,
			  uint32_t eventfd_count)
{
	struct shoal_service_spec spec = { 0 };
	int err;

	/* Once: an owner may announce again under another name after
	 * -EEXIST (a pub/sub publisher trying its slots); nobody saw the
	 * segments, since the failed publish linked nothing. */
	if (!o->readied) {
		err = shoal_segment_ready(o->seg);
		if (!err && o->lines_seg)
			err = shoal_segment_ready(o->lines_seg);
		if (err)
			return err;
		o->readied = 1;
	}
	spec.name = name;
	spec.pattern = pattern;
	spec.access = access;
	spec.memfd = shoal_segment_fd(o->seg);
	spec.eventfd_count = eventfd_count;
	spec.eventfds = eventfds;
	spec.type_name = type->name;
	spec.type_size = type->size;
	spec.type_align = type->align;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	/* The entry borrows the array as well as the fds: both live until
	 * shoal__owner_withdraw() has destroyed the entry. */
	spec.extra_fd_count = o->nfds;
	spec.extra_fds = o->fds;
	spec.origin = o->origin[0] ? o->origin : NULL;
	return shoal_registry_publish(o->reg, &spec, &o->entry);
}

void shoal__owner_fd_numbers(const struct shoal__owner *o, int32_t *table)
{
	for (uint32_t i = 0; i < o->lines; i++)
		table[i] = o->wake_fds[i];
}

void shoal__owner_withdraw(struct shoal__owner *o, _Atomic uint32_t *closed)
{
	/* The name first: a peer woken below must not find us again. */
	shoal_entry_destroy(o->entry);
	o->entry = NULL;
	if (!closed)
		return;
	/* Release: what the owner wrote before goes first; pairs with the
	 * acquire load of closed in shoal__owner_gone(). */
	atomic_store_explicit(closed, 1, memory_order_release);
	/* Every sleeper, whatever its mark says; notify's fence orders the
	 * store above before the writes (pairs with shoal_waiter_arm's). */
	shoal__notify_all(o->wake_fds, o->wake_fds ? o->lines : 0);
}

void shoal__owner_fini(struct shoal__owner *o)
{
	shoal_entry_destroy(o->entry);
	o->entry = NULL;
	shoal_segment_destroy(o->lines_seg);
	shoal_segment_destroy(o->seg);
	o->lines_seg = o->seg = NULL;
	for (uint32_t i = 0; o->wake_fds && i < o->lines; i++)
		if (o->wake_fds[i] >= 0)
			close(o->wake_fds[i]);
	free(o->fds);
	o->fds = o->wake_fds = NULL;
	if (o->own_reg)
		shoal_registry_destroy(o->reg);
	o->reg = NULL;
	o->own_reg = 0;
}
