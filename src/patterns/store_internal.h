/* SPDX-License-Identifier: MIT */
/*
 * The store handle, shared by the lifecycle (store.c), the arrays
 * (store_array.c) and the wrappers of the object algorithms
 * (store_objects.c); not API.
 */
#ifndef SHOAL_SRC_STORE_INTERNAL_H
#define SHOAL_SRC_STORE_INTERNAL_H

#include "shoal/event.h"
#include "shoal/store.h"
#include "service/service.h"
#include "patterns/store_layout.h"

/* The owner's header as a peer validated it (service.h's geometry). */
struct store_geometry {
	struct shoal__store_header *hdr;
	uint32_t max_objects, event_ids, flags;
	uint64_t heap_size;
	int32_t heap_memfd;
};

struct shoal_store {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	int owner;
	struct shoal__owner own; /* owner: registry, segments, entry */
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc;	/* peer */
	struct shoal_segment *data_seg; /* peer's mapping of the heap */
	struct store_geometry g;
	struct shoal__store_entry *table;
	uint8_t *heap;
	int read_only;
	uint32_t oflags;
	/* Change notification: the event service "<name>/events", created
	 * by the owner, opened lazily by a peer's first write or wait. */
	struct shoal_event *ev;
	int ev_failed; /* opening it failed once: writes do not retry */
	struct shoal_event_set listening; /* the interest set last given */
	int listens;
	/* The writer token of this handle for the objects (objects.h): line
	 * i of the data memfd held by OFD lock, token i + 1. Claimed at the
	 * first lookup of a blackboard, stack or map; -1: not yet. */
	int lock_fd;
	uint32_t token;
	/* Attached views of the objects, by table index (malloc'd at their
	 * first lookup, freed at close). */
	void **views;
};

/* Writer lines: bytes [0, SHOAL__STORE_WRITERS) of the data memfd. */
#define SHOAL__STORE_WRITERS 4096u

/* The pattern as the service layer knows it (service.h). */
extern const struct shoal__pattern shoal__store_pattern;

/* Bytes of the region of @o (kind, count, sizes checked), a multiple of
 * SHOAL__STORE_ALIGN, or 0 if the kind is unknown or too large. */
uint64_t shoal__store_region_bytes(uint32_t kind, uint32_t count,
				   uint32_t elem_size, uint32_t key_size,
				   uint32_t flags);

/* Formats the region of a new object at @base (@bytes, zeroed). */
int shoal__store_format(void *base, uint64_t bytes, uint32_t kind,
			uint32_t count, uint32_t elem_size, uint32_t key_size,
			uint32_t flags);

/*
 * Finds @name, of @kind, in the published table and checks its entry: the
 * checked copy in *@info and the region's address in *@base. 0, -ENOENT,
 * -EPROTO (another kind), -EBADMSG.
 */
int shoal__store_find(struct shoal_store *s, const char *name, uint32_t kind,
		      struct shoal_store_object_info *info, void **base,
		      uint32_t *index);

/* The views of the objects, freed at close. */
void shoal__store_free_views(struct shoal_store *s);

/* -EPERM with the detail, for a write through a read-only handle. */
int shoal__store_read_only(const char *who);

/* Tells waiters that blackboard key event id @id changed. */
void shoal__store_notify(struct shoal_store *s, uint32_t id);

#endif
