/* SPDX-License-Identifier: MIT */
/*
 * The subscriber side of pub/sub inside: its handle and one joined ring per
 * publisher, shared by pubsub_sub_open.c (open, close, stats),
 * pubsub_sub.c (taking, waiting, releasing) and pubsub_sub_rings.c
 * (joining and dropping rings, the registry watch).
 * Not API.
 */
#ifndef SHOAL_SRC_PUBSUB_SUB_INTERNAL_H
#define SHOAL_SRC_PUBSUB_SUB_INTERNAL_H

#include "notify/notify_internal.h"
#include "patterns/pubsub_internal.h"
#include "ring/ring_bcast.h"
#include "service/service.h"

/* Readiness checks (spinning) or empty takes between looks at the
 * publisher's pidfd, so polling never costs a system call per call. */
#define PID_CHECK_EVERY 4096
/* Several publishers: empty polls, and takes, between looks at the
 * registry watch for a publisher that joined (one read(2) each time). */
#define NEWCOMER_CHECK_EVERY 4096
/* Readiness checks between looks at whether a publisher is gone, while
 * spinning (sub_ready()). */
#define GONE_CHECK_EVERY 64
/* SHOAL_WAIT_BUSY_SPIN with one publisher: looks at the next slot
 * before the general wait (shoal_sub_take()). */
#define TAKE_SPINS 64
/* Several publishers: most messages taken in a row from one ring. */
#define BURST 16
/* Longest a detached subscriber waits before looking for a publisher
 * again, in case a registry event was missed. */
#define DETACHED_SLICE_NS (100 * 1000 * 1000LL)
/* Several rings, SHOAL_WAIT_ADAPTIVE: readiness checks (with a yield
 * between) before sleeping. */
#define MULTI_SPIN_CHECKS 64

/* One publisher's ring as this subscriber joined it. */
struct sub_ring {
	/* What a take and a release touch, first. */
	/* The memory protocol: our line and cursor (ring/ring_bcast.h). */
	struct shoal__bcast_sub ring;
	/* Held messages (docs/pubsub.md, "Holding several messages"):
	 * @out positions from the cursor on were handed out by takes; @held
	 * of them are not released yet. With max_held > 1 they may be
	 * released in any order: @done has one bit per ring slot (by
	 * seq & (capacity - 1)) for those released ahead of the cursor, and
	 * the cursor moves over the released prefix. */
	uint32_t held;
	uint32_t out;
	/* g.pools.n != 0, here for the take path: g.pools is on lines the
	 * take does not otherwise touch. */
	uint32_t pooled;
	/* No pools and max_held 1: a release moves the cursor over one
	 * message (the release path's common case). */
	uint32_t plain;
	uint64_t *done; /* capacity bits; NULL with max_held 1 */
	/* What this line's counters say (the handle's totals with one
	 * publisher, as they always did; this ring's with several). */
	uint64_t received, lost, stale;
	struct shoal__pubsub_sub_line *line;
	uint64_t epoch;
	uint32_t slot;	 /* the publisher's slot */
	int pinned;	 /* gone and dropped, mapped only for held messages */
	int pub_eventfd; /* wakes a publisher waiting for room (svc's) */
	int eventfd;	 /* our line's wake-up */
	struct pubsub_geometry g;
	struct shoal_service *svc;
	struct shoal_segment *subs_seg;
	struct shoal__pubsub_subs_header *sh;
	uint32_t index;
	uint32_t mask;
	int lock_fd; /* our own open file description: holds the line */
	int pidfd;   /* the publisher's (owned by svc) */
	struct shoal__owner_watch ow; /* the publisher died or withdrew */
};

struct shoal_sub {
	/* What a take and a release touch, first. */
	/* act[0] while it is the only ring of a one-publisher service: the
	 * take and release paths as they were before several publishers. */
	struct sub_ring *one;
	uint32_t held; /* over all rings */
	uint32_t max_held;
	uint64_t received, lost, stale;
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal_registry *reg;
	int own_reg;
	uint32_t flags;
	uint32_t want_history;
	enum shoal_wait_strategy strategy;
	struct shoal__type type; /* the caller's, checked at each attach */
	int epfd;	/* what shoal_sub_fd() returns, across reattaching */
	int inotify_fd; /* the registry directory (REATTACH or several) */
	int ino_in_set; /* inotify_fd is in the epoll set */
	int watching_parent; /* inotify_fd also watches the path's parent */
	int ever_attached;
	int newcomer; /* the watch saw an entry of the name: look */
	uint64_t reattached;
	int64_t open_timeout_ns; /* the first attach's wait, then 0 */

	/* The rings, by publisher slot; the active ones (not gone) in
	 * act[0..nact). A pinned ring is in rings[] but not in act[]. */
	struct sub_ring *rings[SHOAL_PUB_PUBLISHERS_MAX];
	struct sub_ring *act[SHOAL_PUB_PUBLISHERS_MAX];
	uint32_t nact;
	uint32_t npinned;
	uint32_t cur;	/* act[] index taking now */
	uint32_t burst; /* taken in a row from act[cur] */
	uint32_t polls; /* empty polls and takes since the last look */
	/* sub_ready()'s owner-gone checks: readiness checks since the last,
	 * and sleeps_now() then. */
	uint32_t gone_polls;
	uint64_t gone_sleeps;
	/* What every ring must agree with: the first ring joined's (while
	 * any ring is joined). max_pubs 0: none yet. */
	struct pubsub_geometry ref;
	uint64_t sleeps_before; /* sleeps under earlier waiter setups */
	uint64_t msleeps;	/* sleeps waiting on several rings */
	uint64_t ino_seen;	/* waiter sleeps when the watch was read */
	uint64_t joined, gone, rings_full, rings_mismatched;
	uint64_t skipped_gone; /* skip markers passed in rings since freed */
	struct shoal_waiter waiter; /* with one ring: on it */
};

/* The service has several publishers (as the first ring joined says). */
static inline int multi(const struct shoal_sub *s)
{
	return s->ref.max_pubs > 1;
}

/* Sleeps so far under the current rings (for the owner-gone checks). */
static inline uint64_t sleeps_now(const struct shoal_sub *s)
{
	return s->msleeps + shoal__waiter_sleeps(&s->waiter);
}

/* pubsub_sub_rings.c; each is described where it is defined. Leaving a
 * ring: free it now, drop it from the turn (freed, or pinned while
 * messages of it are held), drop them all. */
void shoal__sub_free_ring(struct shoal_sub *s, struct sub_ring *r);
void shoal__sub_drop_ring(struct shoal_sub *s, struct sub_ring *r);
void shoal__sub_detach_all(struct shoal_sub *s);
/* Join every live publisher slot not joined yet; never waits. */
int shoal__sub_discover(struct shoal_sub *s);
int shoal__sub_try_discover(void *user_data);
/* The registry directory watch: make it, follow a moved directory, read
 * it (1: an entry of our name appeared), act on it. */
int shoal__sub_watch_registry(struct shoal_sub *s);
int shoal__sub_follow_registry(struct shoal_sub *s);
int shoal__sub_read_watch(struct shoal_sub *s);
void shoal__sub_look_for_newcomers(struct shoal_sub *s);
/* Detached with REATTACH: waits for a publisher until @deadline. */
int shoal__sub_wait_publisher(struct shoal_sub *s, int64_t timeout_ns,
			      int64_t deadline);

#endif
