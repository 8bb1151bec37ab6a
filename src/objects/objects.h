/* SPDX-License-Identifier: MIT */
/*
 * What the shared objects of src/objects/ have in common: the owner of a
 * view, the liveness callback, alignment and the header every object region
 * starts with. The objects are memory algorithms only: no system calls, no
 * fds, no clock; the store service (src/patterns/) finds the regions, maps
 * them and supplies the liveness test. docs/objects.md has the byte layout.
 *
 * Every object region [base, base + len) is 64-byte aligned and starts with
 * a 64-byte struct shoal__obj_header written once by format() and never
 * again. attach() checks it against the geometry the caller learnt from
 * elsewhere (the store's table): a region whose header disagrees is refused
 * (-EBADMSG), and from then on the view uses its own copies of the geometry,
 * never the shared ones. Every other shared word is untrusted too: each is
 * read once into a local, checked, then used, and every loop is bounded by
 * the capacity or a retry budget, so a scribbled region gives errors, never
 * a crash, an access outside the region or a hang.
 */
#ifndef SHOAL_SRC_OBJECTS_H
#define SHOAL_SRC_OBJECTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHOAL__OBJ_ALIGN 64

/* "SHOB" little-endian, then the kind in the next word. */
#define SHOAL__OBJ_MAGIC 0x424f4853u
#define SHOAL__OBJ_VERSION 1u
#define SHOAL__OBJ_KIND_CELL 1u
#define SHOAL__OBJ_KIND_STACK 2u
#define SHOAL__OBJ_KIND_MAP 3u

/* Owner tokens (pids, or anything the liveness test understands) are
 * 1..SHOAL__OBJ_OWNER_MAX: the map keeps one in 30 bits of a slot word. */
#define SHOAL__OBJ_OWNER_MAX ((1u << 30) - 1)

/*
 * How many times an operation retries a compare-and-swap it lost, or spins
 * on a word another live process holds, before it gives up with -EBUSY. A
 * live peer finishes its step in far fewer; only a scribbled region, or a
 * peer preempted for a long time while holding a latch, gets there.
 */
#define SHOAL__OBJ_RETRY_BUDGET (1u << 16)

/*
 * Liveness test: nonzero if the process named by @owner is alive. It must be
 * definitive: "dead" (0) means that owner can never write to the region
 * again (a pidfd that polled readable, an OFD lock taken over, ...). As
 * shoal_mpmc_recover() asks it. Called with no lock held; it may make system
 * calls (the objects themselves make none).
 */
typedef int (*shoal__obj_alive_fn)(uint32_t owner, void *user_data);

/*
 * Who a view writes as. @owner (1..SHOAL__OBJ_OWNER_MAX) is recorded in the
 * region while this view holds a latch or a node, and handed to @alive by
 * other views deciding whether they may take it over. Two views that are
 * alive at once must have different owners unless they are in one process
 * and never race (a pid shared by threads is not enough: give each thread
 * a token of its own, or serialise them). A view attached without one
 * (NULL) only reads: every writing call returns -EPERM.
 */
struct shoal__obj_who {
	uint32_t owner;
	shoal__obj_alive_fn alive; /* may be NULL: every holder counts alive */
	void *user_data;
};

/*
 * The first 64 bytes of every object region. Written by format() before the
 * region is published (by the store's own release), never after. Readers
 * copy it once and compare it with what they expect.
 */
struct shoal__obj_header {
	uint32_t magic;	  /* SHOAL__OBJ_MAGIC */
	uint16_t version; /* SHOAL__OBJ_VERSION */
	uint16_t kind;	  /* SHOAL__OBJ_KIND_* */
	uint64_t bytes;	  /* bytes of the region format() laid out */
	uint32_t p[4];	  /* the kind's parameters, see its header */
	uint8_t pad[32];
};
_Static_assert(sizeof(struct shoal__obj_header) == 64, "object header");

/*
 * What every format() does first (objects.c): @region 64-byte aligned and
 * at least @need bytes (else -EINVAL, the detail prefixed by @what),
 * zeroed, and its header written: @kind, @need bytes, parameters @p[0..3].
 * Plain stores: nobody looks before the store publishes the region.
 */
int shoal__obj_format(void *region, size_t len, size_t need, uint16_t kind,
		      const uint32_t p[4], const char *what);

/*
 * What every attach() checks first: @who (NULL, or an owner in
 * 1..SHOAL__OBJ_OWNER_MAX; else -EINVAL), then @region 64-byte aligned
 * and at least @need bytes, and its header (each field read once) that of
 * a @kind of @need bytes with parameters @p[0..3] (else -EBADMSG: the
 * region is shared memory and may say anything). The detail is prefixed
 * by @what.
 */
int shoal__obj_check(const void *region, size_t len, size_t need, uint16_t kind,
		     const uint32_t p[4], const struct shoal__obj_who *who,
		     const char *what);

/* @n rounded up to a multiple of @a (a power of two). */
static inline uint64_t shoal__obj_round(uint64_t n, uint64_t a)
{
	return (n + a - 1) & ~(a - 1);
}

#endif
