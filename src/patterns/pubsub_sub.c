/* SPDX-License-Identifier: MIT */
/*
 * Pub/sub, the subscriber side: joining (claiming a line by an OFD lock),
 * taking messages in place, waiting, noticing a publisher's death and
 * reattaching to its successor. docs/pubsub.md describes the protocol.
 *
 * A service may have several publishers (max_publishers > 1), each with its
 * own ring published under its own slot name (slot 0 the service's name,
 * slot i "name//i"). The subscriber joins every live ring as it joins one
 * (struct sub_ring), takes from them in turn (at most BURST in a row from
 * one), finds newcomers through its inotify watch of the registry
 * directory, and drops a ring once its publisher is gone and what it sent
 * was taken. With one ring everything is as it always was, behind one
 * branch on the number of rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "shoal/pubsub.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "segment/fdcheck.h"
#include "notify/notify_internal.h"
#include "patterns/pubsub_internal.h"
#include "ring/ring_bcast.h"
#include "service/service.h"
#include "registry/registry_internal.h"

/* Readiness checks (spinning) or empty takes between looks at the
 * publisher's pidfd, so polling never costs a system call per call. */
#define PID_CHECK_EVERY 4096
/* Several publishers: empty polls, and takes, between looks at the
 * registry watch for a publisher that joined (one read(2) each time). */
#define NEWCOMER_CHECK_EVERY 4096
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
	/* What every ring must agree with: the first ring joined's (while
	 * any ring is joined). max_pubs 0: none yet. */
	struct pubsub_geometry ref;
	uint64_t sleeps_before; /* sleeps under earlier waiter setups */
	uint64_t msleeps;	/* sleeps waiting on several rings */
	uint64_t ino_seen;	/* waiter sleeps when the watch was read */
	uint64_t joined, gone, rings_full, rings_mismatched;
	struct shoal_waiter waiter; /* with one ring: on it */
};

void shoal_sub_options_init(struct shoal_sub_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
	opts->max_held = 1;
}

static int watch_registry(struct shoal_sub *s);

static inline int multi(const struct shoal_sub *s)
{
	return s->ref.max_pubs > 1;
}

/* The inotify fd belongs in the epoll set: detached (REATTACH waits for a
 * publisher) or in a service of several publishers (newcomers). */
static int place_watch(struct shoal_sub *s)
{
	int want = s->inotify_fd >= 0 && (s->nact == 0 || multi(s));
	int err = 0;

	if (want && !s->ino_in_set) {
		err = shoal__epoll_add(s->epfd, s->inotify_fd,
				       (uint64_t)s->inotify_fd, "sub");
		s->ino_in_set = !err;
	} else if (!want && s->ino_in_set) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->inotify_fd, NULL);
		s->ino_in_set = 0;
	}
	return err;
}

/* The waiter follows the ring set: on the one ring when there is one. */
static void retarget(struct shoal_sub *s)
{
	struct sub_ring *r = s->nact ? s->act[0] : NULL;

	s->one = s->nact == 1 && !multi(s) ? r : NULL;
	s->sleeps_before += shoal__waiter_sleeps(&s->waiter);
	memset(&s->waiter, 0, sizeof(s->waiter));
	if (!r)
		return;
	shoal__waiter_setup(&s->waiter, &subs_bitmap(r->sh)[r->index / 32],
			    r->mask, NULL, r->eventfd, s->epfd, s->strategy);
	shoal__waiter_count_sleeps_in(&s->waiter, &r->line->sleeps);
	s->ino_seen = 0;
	if (s->cur >= s->nact)
		s->cur = 0;
}

static uint64_t sleeps_now(const struct shoal_sub *s)
{
	return s->msleeps + shoal__waiter_sleeps(&s->waiter);
}

/* Leaves ring @r and frees it: our line, its fds, the mappings. */
static void free_ring(struct shoal_sub *s, struct sub_ring *r)
{
	if (r->line) {
		atomic_fetch_and_explicit(&subs_bitmap(r->sh)[r->index / 32],
					  ~r->mask, memory_order_relaxed);
		shoal__bcast_leave(&r->ring);
		/* A reliable publisher may be waiting for us to move: the
		 * FREE state and generation above, then notify's fence and
		 * the publisher's mark (read-only to us), pairing with the
		 * fence in notify's arm between its mark and its re-check
		 * (make_room()). */
		(void)shoal__notify_mark_ro(&r->g.hdr->waiting, 0,
					    r->pub_eventfd);
	}
	if (r->eventfd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->eventfd, NULL);
		close(r->eventfd);
	}
	if (r->pidfd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->pidfd, NULL);
	if (r->lock_fd >= 0)
		close(r->lock_fd); /* drops the OFD lock */
	shoal_segment_close(r->subs_seg);
	shoal_service_close(r->svc);
	free(r->done);
	if (s->rings[r->slot] == r)
		s->rings[r->slot] = NULL;
	if (r->pinned)
		s->npinned--;
	free(r);
}

/*
 * Takes ring @r out of the active set (its publisher is gone and what it
 * sent was taken, or the handle closes): freed now, or, while messages of
 * it are held, pinned until they are released.
 */
static void drop_ring(struct shoal_sub *s, struct sub_ring *r)
{
	uint32_t i;

	for (i = 0; i < s->nact && s->act[i] != r; i++)
		;
	if (i == s->nact)
		return;
	memmove(&s->act[i], &s->act[i + 1],
		(s->nact - i - 1) * sizeof(s->act[0]));
	s->nact--;
	if (s->cur > i || s->cur >= s->nact)
		s->cur = s->cur > i ? s->cur - 1 : 0;
	s->burst = 0;
	s->gone++;
	if (r->held) {
		r->pinned = 1;
		s->npinned++;
		/* Its pidfd and eventfd wake nobody any more. */
		if (r->eventfd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->eventfd, NULL);
		if (r->pidfd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->pidfd, NULL);
	} else {
		free_ring(s, r);
	}
	if (!s->nact && !s->npinned)
		memset(&s->ref, 0, sizeof(s->ref));
	retarget(s);
	(void)place_watch(s);
}

/* Drops every ring (closing, or a REATTACH subscriber's publisher gone). */
static void detach_all(struct shoal_sub *s)
{
	while (s->nact)
		drop_ring(s, s->act[0]);
	for (uint32_t i = 0; i < SHOAL_PUB_PUBLISHERS_MAX; i++)
		if (s->rings[i])
			free_ring(s, s->rings[i]);
	s->held = 0;
	memset(&s->ref, 0, sizeof(s->ref));
	retarget(s);
	(void)place_watch(s);
}

/* Joins line r->index: our counters and pid first, then the ring's join
 * (cursor, JOINING, the generation, the start, ACTIVE;
 * shoal__bcast_join()). */
static void join_line(struct shoal_sub *s, struct sub_ring *r)
{
	struct shoal__pubsub_sub_line *l =
		&subs_lines(r->sh, r->g.max_subs)[r->index];
	struct shoal__bcast_map m = {
		.pub = &r->g.hdr->ring,
		.slots = r->g.slots,
		.generation = &r->sh->generation,
		.lines = (uint8_t *)subs_lines(r->sh, r->g.max_subs),
		.line_stride = sizeof(struct shoal__pubsub_sub_line),
		.max_lines = r->g.max_subs,
		.capacity = r->g.capacity,
		.stride = r->g.stride,
		.max_payload = r->g.max_payload,
		.uh_size = r->g.uh_size,
	};
	uint64_t back = s->want_history;

	if (back > r->g.history)
		back = r->g.history;
	/* One publisher: the line carries this handle's totals, across
	 * publishers, as it always did. Several: this ring's own. */
	if (r->g.max_pubs == 1) {
		r->received = s->received;
		r->lost = s->lost;
		r->stale = s->stale;
	}
	atomic_store_explicit(&l->received, r->received, memory_order_relaxed);
	atomic_store_explicit(&l->lost, r->lost, memory_order_relaxed);
	atomic_store_explicit(&l->stale, r->stale, memory_order_relaxed);
	atomic_store_explicit(&l->sleeps, 0, memory_order_relaxed);
	l->pid = (int32_t)getpid();
	/* Its release store of JOINING orders the stores above too. */
	shoal__bcast_join(&r->ring, &m, r->index, back);
	r->line = l;
}

static int attach_fds(struct shoal_sub *s, struct sub_ring *r, const char *sn)
{
	int32_t owner_fd;
	int err, idx;

	idx = shoal__peer_claim(shoal_segment_fd(r->subs_seg), 0, r->g.max_subs,
				"sub", &r->lock_fd);
	if (idx == -EBUSY) {
		s->rings_full++;
		return shoal__fail(-EBUSY,
				   "sub: '%s' has its limit of %u subscribers "
				   "already",
				   sn, r->g.max_subs);
	}
	if (idx < 0)
		return idx;
	r->index = (uint32_t)idx;
	r->mask = 1u << (r->index % 32);
	owner_fd = SHOAL__READ_ONCE(wake_fd_table(r->g.hdr)[r->index]);
	err = shoal__peer_wake_fd(r->svc, "sub",
				  SHOAL__PUBSUB_EXTRA_WAKE_FD(r->index),
				  owner_fd, r->index, &r->eventfd);
	if (err)
		return err;
	r->pub_eventfd = shoal_service_eventfd(r->svc, 0);
	if (r->pub_eventfd < 0)
		return shoal__fail(-EBADMSG, "sub: the service has no eventfd");
	err = shoal__epoll_add(s->epfd, r->eventfd, (uint64_t)r->eventfd,
			       "sub");
	if (err)
		return err;
	r->pidfd = shoal__peer_watch_owner(r->svc, s->epfd, "sub");
	return r->pidfd < 0 ? r->pidfd : 0;
}

/* Opens publisher slot @slot's ring and checks it: 0 or -errno. */
static int open_ring(struct shoal_sub *s, struct sub_ring *r, uint32_t slot,
		     const char *sn)
{
	struct shoal__peer_spec spec =
		shoal__peer_spec_of(&shoal__pubsub_pattern, "sub", sn,
				    SHOAL_OPEN_READ_ONLY, &s->type, 0, &r->g);
	struct shoal_service_info info;
	const char *field;
	int err;

	if (s->flags & SHOAL_SUB_NO_PIDFD_GETFD)
		spec.oflags |= SHOAL_OPEN_NO_PIDFD_GETFD;
	err = shoal__peer_open(s->reg, &spec, &r->svc);
	if (err)
		return err;
	shoal_service_get_info(r->svc, &info);
	r->epoch = info.epoch;
	if (r->g.slot != slot)
		return shoal__fail(-EBADMSG,
				   "sub: '%s' says it is publisher slot %u", sn,
				   r->g.slot);
	if (s->ref.max_pubs &&
	    (field = shoal__pubsub_disagree(&s->ref, &r->g))) {
		s->rings_mismatched++;
		return shoal__fail(-EPROTO,
				   "sub: '%s': %s differs from the other "
				   "publishers'",
				   sn, field);
	}
	err = shoal__pubsub_map_subs(r->svc, &r->g, 0, &r->subs_seg, &r->sh);
	if (!err && s->max_held > 1) {
		r->done = calloc((r->g.capacity + 63) / 64, sizeof(uint64_t));
		if (!r->done)
			err = shoal__fail(-ENOMEM, "sub: out of memory");
	}
	if (!err)
		err = attach_fds(s, r, sn);
	return err;
}

/* Finds publisher slot @slot and joins its ring. 0 or -errno (nothing
 * joined). */
static int join_slot(struct shoal_sub *s, uint32_t slot)
{
	char sn[SHOAL_SERVICE_NAME_MAX + 1];
	struct sub_ring *r;
	int err;

	err = shoal__slot_name(s->name, slot, sn);
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return shoal__fail(-ENOMEM, "sub: out of memory");
	r->slot = slot;
	r->lock_fd = r->eventfd = r->pidfd = -1;
	r->ow.every = PID_CHECK_EVERY;
	err = open_ring(s, r, slot, sn);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		free_ring(s, r);
		return shoal__detail_fail(&d, err);
	}
	if (!s->ref.max_pubs)
		s->ref = r->g;
	s->rings[slot] = r;
	s->act[s->nact++] = r;
	join_line(s, r);
	/* A publisher may be waiting for subscribers (wait_subscribers()):
	 * our ACTIVE state (release, in the join) before notify's fence and
	 * the load of its mark; pairs with the fence in notify's arm between
	 * its mark and its re-count. Either it counts us or we wake it. */
	(void)shoal__notify_mark_ro(&r->g.hdr->waiting, 0, r->pub_eventfd);
	r->ow.sleeps = sleeps_now(s);
	if (s->nact == 1) {
		if (s->ever_attached)
			s->reattached++;
		s->ever_attached = 1;
	}
	s->joined++;
	retarget(s);
	return 0;
}

/*
 * Joins every live publisher slot of the name not joined yet: slot 0 (the
 * name itself) first, and, while the service's size is not known (no ring)
 * or is several, the others (a failed open of a name that is not there is
 * one openat(2)). Never waits. 0 if at least one ring is joined after,
 * else -ENOENT, or the first other failure (-EBUSY, -EPROTO, ...).
 */
static int discover(struct shoal_sub *s)
{
	uint32_t limit = s->ref.max_pubs ? s->ref.max_pubs :
					   SHOAL_PUB_PUBLISHERS_MAX;
	struct shoal__detail d; /* of the failure reported */
	int err = -ENOENT, e;

	(void)shoal__fail(-ENOENT, "sub: no publisher of '%s'", s->name);
	if (!s->rings[0]) {
		err = join_slot(s, 0);
		if (!err && s->ref.max_pubs)
			limit = s->ref.max_pubs;
	}
	shoal__detail_save(&d);
	for (uint32_t slot = 1; slot < limit; slot++) {
		if (s->rings[slot])
			continue;
		e = join_slot(s, slot);
		if (e && e != -ENOENT && e != -EPIPE &&
		    (err == -ENOENT || err == -EPIPE)) {
			err = e;
			shoal__detail_save(&d);
		}
		if (!e && s->ref.max_pubs && s->ref.max_pubs < limit)
			limit = s->ref.max_pubs;
	}
	if (s->nact) {
		/* Several publishers: newcomers come through the watch. A
		 * watch that cannot be made only delays finding them until
		 * a take looks again (best effort). */
		if (multi(s) && s->inotify_fd < 0 && !watch_registry(s))
			/* A publisher may have joined between our look at
			 * its slot and the watch: look once more. */
			s->newcomer = 1;
		(void)place_watch(s);
		return 0;
	}
	if (err == -EPIPE)
		err = -ENOENT;
	return shoal__detail_fail(&d, err);
}

static int try_discover(void *user_data)
{
	return discover(user_data);
}

/*
 * Watches the registry directory, by path, for new entries and for its own
 * end (IN_DELETE_SELF, IN_MOVE_SELF, then IN_IGNORED: the watch is gone).
 * While the path holds no directory, or another one than s->reg's, the
 * parent is watched too, for the path to come back. A fresh inotify fd
 * each time, replacing the old one (closing it takes it out of the epoll
 * set), so no event of an earlier watch lingers.
 */
static int watch_registry(struct shoal_sub *s)
{
	const char *path = shoal_registry_path(s->reg);
	char parent[PATH_MAX], *slash;
	int fd, parent_too = 0;

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return shoal__fail(-errno, "sub: inotify_init1: %s",
				   strerror(errno));
	if (inotify_add_watch(fd, path,
			      IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF |
				      IN_MOVE_SELF | IN_ONLYDIR) < 0 ||
	    shoal__registry_moved(s->reg) != 0) {
		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		if (inotify_add_watch(fd, parent,
				      IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) <
		    0) {
			int err = -errno;

			close(fd);
			return shoal__fail(err, "sub: inotify_add_watch %s: %s",
					   parent, strerror(-err));
		}
		parent_too = 1;
	}
	if (s->inotify_fd >= 0)
		close(s->inotify_fd); /* takes it out of the epoll set */
	s->inotify_fd = fd;
	s->ino_in_set = 0;
	s->watching_parent = parent_too;
	return place_watch(s);
}

/*
 * A detached REATTACH subscriber follows its registry directory when it was
 * removed (or renamed) and a directory appears at its path again: a fresh
 * registry handle on it (the caller's own handle is left as it is) and a
 * fresh watch. Until one appears it watches for it. 0 or -errno.
 */
static int follow_registry(struct shoal_sub *s)
{
	struct shoal_registry *fresh;
	int err;

	if (!(s->flags & SHOAL_SUB_REATTACH) ||
	    shoal__registry_moved(s->reg) != 1)
		return 0;
	err = shoal__registry_reopen(s->reg, &fresh);
	if (err)
		return s->watching_parent ? 0 : watch_registry(s);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	s->reg = fresh;
	s->own_reg = 1;
	return watch_registry(s);
}

int shoal_sub_open(const char *name, const struct shoal_sub_options *opts,
		   struct shoal_sub **out)
{
	struct shoal_sub_options defaults;
	struct shoal_sub *s;
	int err;

	if (!opts) {
		shoal_sub_options_init(&defaults);
		opts = &defaults;
	}
	err = shoal__check_open("sub_open", name, out, opts->flags,
				SHOAL_SUB_REATTACH | SHOAL_SUB_NO_PIDFD_GETFD,
				(int)opts->strategy);
	if (!err && opts->max_held > SHOAL_SUB_HELD_MAX)
		err = shoal__fail(-EINVAL, "sub_open: max_held %u not in 1..%u",
				  opts->max_held, SHOAL_SUB_HELD_MAX);
	if (!err && shoal__name_slot(name) != 0)
		err = shoal__fail(-EINVAL,
				  "sub_open: '%s' is a publisher slot's name; "
				  "open the service's",
				  name);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return shoal__fail(-ENOMEM, "sub: out of memory");
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->flags = opts->flags;
	s->want_history = opts->history;
	s->max_held = opts->max_held ? opts->max_held : 1;
	s->strategy = opts->strategy ? opts->strategy : SHOAL_WAIT_ADAPTIVE;
	s->type = SHOAL__TYPE_OF(opts);
	s->inotify_fd = -1;
	s->epfd = shoal__epoll_new("sub");
	if (s->epfd < 0) {
		err = s->epfd;
		free(s);
		return err;
	}
	err = shoal__registry_use(opts->registry, &s->reg, &s->own_reg);
	if (!err && (s->flags & SHOAL_SUB_REATTACH))
		err = watch_registry(s);
	if (!err) {
		err = shoal__open_wait(s->reg, opts->timeout_ns, try_discover,
				       s, "sub", name);
		/* With REATTACH, no publisher yet is fine: take() waits. */
		if (err == -ENOENT && (s->flags & SHOAL_SUB_REATTACH))
			err = 0;
	}
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_sub_close(s);
		return shoal__detail_fail(&d, err);
	}
	*out = s;
	return 0;
}

void shoal_sub_close(struct shoal_sub *s)
{
	if (!s)
		return;
	if (s->inotify_fd >= 0) {
		close(s->inotify_fd);
		s->inotify_fd = -1;
		s->ino_in_set = 0;
	}
	detach_all(s);
	close(s->epfd);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	free(s);
}

/*
 * Reads what the registry watch collected (non-blocking). 1 if an entry
 * of our name (the name itself or one of its slots) appeared: s->newcomer
 * is set for the next take to look.
 */
static int read_watch(struct shoal_sub *s)
{
	char file[SHOAL_SERVICE_NAME_MAX + 1];
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	size_t flen;
	ssize_t n;

	if (s->inotify_fd < 0)
		return 0;
	if (shoal__name_to_file(s->name, file))
		return 0;
	flen = strlen(file);
	while ((n = read(s->inotify_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev =
				(const struct inotify_event *)(buf + off);

			off += (ssize_t)sizeof(*ev) + ev->len;
			/* Our entries, or the watch itself changed (the
			 * directory went: look, and follow it). */
			if (!ev->len || (ev->mask & IN_IGNORED) ||
			    (!strncmp(ev->name, file, flen) &&
			     (ev->name[flen] == '\0' ||
			      !strncmp(ev->name + flen, "%%", 2))))
				s->newcomer = 1;
		}
	}
	return s->newcomer;
}

/* Several publishers: every NEWCOMER_CHECK_EVERY takes and empty polls
 * (and when the watch said so), join the slots that appeared. */
static void look_for_newcomers(struct shoal_sub *s)
{
	if (!multi(s) && s->nact)
		return;
	s->polls = 0;
	read_watch(s);
	if (!s->newcomer)
		return;
	s->newcomer = 0;
	(void)follow_registry(s);
	(void)discover(s);
}

/* 1 once ring @r's publisher withdrew or died. Looks at the pidfd only
 * every PID_CHECK_EVERY calls, or after a sleep (its pidfd is in the set
 * slept on), so polling costs no system call. */
static int ring_gone(struct shoal_sub *s, struct sub_ring *r, int force)
{
	return shoal__owner_gone(&r->ow, &r->g.hdr->closed, r->svc,
				 sleeps_now(s), force);
}

/* The slot after the messages handed out is complete or overwritten. */
static inline int ring_ready(const struct sub_ring *r)
{
	uint64_t seq = r->ring.cursor + r->out;
	uint64_t st = atomic_load_explicit(
		&shoal__bcast_slot_at(&r->ring.m, seq)->stamp,
		memory_order_acquire);

	return shoal__bcast_classify(st, seq) != SHOAL__BCAST_NOT_YET;
}

/* take() has something to say: a message, a gone publisher, a newcomer
 * (the watch is read only after a sleep: its fd is in the set slept on). */
static int sub_ready(void *arg)
{
	struct shoal_sub *s = arg;

	for (uint32_t i = 0; i < s->nact; i++)
		if (ring_ready(s->act[i]) || ring_gone(s, s->act[i], 0))
			return 1;
	/* Several publishers: the watch every NEWCOMER_CHECK_EVERY checks
	 * (a spinning waiter never sleeps) and after each sleep. */
	if (s->ino_in_set && s->nact && multi(s) &&
	    (++s->polls >= NEWCOMER_CHECK_EVERY ||
	     shoal__waiter_slept(&s->waiter, &s->ino_seen))) {
		s->polls = 0;
		return read_watch(s);
	}
	return 0;
}

static inline void fill_msg(const struct sub_ring *r, struct shoal_msg *msg,
			    const struct shoal__bcast_view *v)
{
	msg->data = shoal__bcast_payload(&r->ring.m, v->slot);
	msg->len = v->len;
	msg->user_header_size = r->g.uh_size;
	msg->user_header = r->g.uh_size ? (const void *)(v->slot + 1) : NULL;
	msg->seq = v->seq;
	msg->timestamp_ns = v->timestamp_ns;
	msg->epoch = r->epoch;
	msg->lost = 0;
	msg->publisher = r->slot;
	msg->pad = 0;
	msg->priv_stamp = v->stamp;
	msg->priv_slot = v->slot;
}

/* Nothing complete after the @r->out messages handed out: -EAGAIN, or
 * (lossy) -EOVERFLOW with no loss counted when the publisher lapped us
 * behind a held message: the lap is reported, with its count, by the take
 * after the held ones are released. */
static int nothing_after_held(struct sub_ring *r, struct shoal_msg *msg)
{
	uint64_t seq = r->ring.cursor + r->out;
	uint64_t st = atomic_load_explicit(
		&shoal__bcast_slot_at(&r->ring.m, seq)->stamp,
		memory_order_acquire);

	if (shoal__bcast_classify(st, seq) != SHOAL__BCAST_LAPPED)
		return -EAGAIN;
	msg->lost = 0;
	return shoal__fail(-EOVERFLOW,
			   "sub: lapped behind the %u message(s) held from "
			   "%llu on; release them",
			   r->held, (unsigned long long)r->ring.cursor);
}

/* One look at ring @r's slot after those handed out: 0 (held), -EAGAIN,
 * -EOVERFLOW, -EBADMSG, -EBUSY (the oldest held message pins a whole
 * ring of positions). */
static int try_take(struct shoal_sub *s, struct sub_ring *r,
		    struct shoal_msg *msg)
{
	struct shoal__bcast_view v;
	int err;

	if (__builtin_expect(r->out != 0, 0)) {
		if (r->out >= r->g.capacity)
			return shoal__fail(-EBUSY,
					   "sub: the held message %llu is a "
					   "whole ring behind",
					   (unsigned long long)r->ring.cursor);
		if (shoal__bcast_peek(&r->ring, r->out, &v))
			return nothing_after_held(r, msg);
		fill_msg(r, msg, &v);
		r->out++;
		r->held++;
		s->held++;
		return 0;
	}
	err = shoal__bcast_peek(&r->ring, 0, &v);
	if (__builtin_expect(err != 0, 0)) {
		if (err == -EOVERFLOW) {
			s->lost += v.lost;
			r->lost += v.lost;
			atomic_store_explicit(&r->line->lost, r->lost,
					      memory_order_relaxed);
			msg->lost = v.lost;
			msg->publisher = r->slot;
			return shoal__fail(-EOVERFLOW,
					   "sub: lapped; %llu messages lost",
					   (unsigned long long)v.lost);
		}
		if (err == -EBADMSG)
			return shoal__fail(-EBADMSG,
					   "sub: message %llu claims %u bytes, "
					   "more than the %u a slot holds",
					   (unsigned long long)v.seq, v.len,
					   r->g.max_payload);
		return err;
	}
	fill_msg(r, msg, &v);
	r->out = 1;
	r->held = 1;
	s->held++;
	return 0;
}

/* try_take() of up to @n: how many it took now (>= 1), or its error. */
static int try_take_batch(struct shoal_sub *s, struct sub_ring *r,
			  struct shoal_msg *msgs, uint32_t n)
{
	struct shoal__bcast_view v;
	uint32_t k;
	int err = try_take(s, r, &msgs[0]);

	if (err)
		return err;
	if (n > r->g.capacity - (r->out - 1))
		n = r->g.capacity - (r->out - 1);
	/* Past the first, a lap or a bad length ends the batch (-EAGAIN):
	 * the next take reports it. */
	for (k = 1; k < n && shoal__bcast_peek(&r->ring, r->out, &v) == 0;
	     k++) {
		fill_msg(r, &msgs[k], &v);
		r->out++;
	}
	r->held += k - 1;
	s->held += k - 1;
	return (int)k;
}

static inline int take_ring(struct shoal_sub *s, struct sub_ring *r,
			    struct shoal_msg *msgs, uint32_t n, int batch)
{
	return !batch ? try_take(s, r, msgs) : try_take_batch(s, r, msgs, n);
}

/*
 * Rings whose publisher is gone, once nothing is left to take from them:
 * dropped. -EAGAIN, or what a last look at a gone ring found (its last
 * complete messages are still good).
 */
static int reap_gone(struct shoal_sub *s, struct shoal_msg *msgs, uint32_t n,
		     int batch)
{
	for (uint32_t i = 0; i < s->nact;) {
		struct sub_ring *r = s->act[i];
		int err;

		if (!ring_gone(s, r, 0)) {
			i++;
			continue;
		}
		err = take_ring(s, r, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		drop_ring(s, r);
	}
	return -EAGAIN;
}

/* One look at every ring, round-robin from the current one, at most
 * BURST in a row from one: what try_take() (or the batch) returns. */
static int try_rings(struct shoal_sub *s, struct shoal_msg *msgs, uint32_t n,
		     int batch)
{
	int err;

	if (s->one)
		return take_ring(s, s->one, msgs, n, batch);
	if (++s->polls >= NEWCOMER_CHECK_EVERY || s->newcomer)
		look_for_newcomers(s);
	for (uint32_t k = 0; k <= s->nact && s->nact; k++) {
		if (s->burst < BURST) {
			err = take_ring(s, s->act[s->cur], msgs, n, batch);
			if (err != -EAGAIN) {
				s->burst += err > 0 ? (uint32_t)err : 1;
				return err;
			}
		}
		s->cur = (s->cur + 1) % s->nact;
		s->burst = 0;
	}
	return -EAGAIN;
}

/* Detached with REATTACH: waits for a publisher until @deadline. */
static int wait_publisher(struct shoal_sub *s, int64_t timeout_ns,
			  int64_t deadline)
{
	for (;;) {
		struct pollfd pfd;
		int64_t left = DETACHED_SLICE_NS;
		char buf[4096];
		struct timespec ts;
		int err;

		/* Best effort: the next slice looks again. */
		follow_registry(s);
		pfd = (struct pollfd){ .fd = s->inotify_fd, .events = POLLIN };
		err = discover(s);
		if (err == 0)
			return 0;
		if (err != -ENOENT && err != -EPIPE && err != -ETIMEDOUT &&
		    err != -EAGAIN)
			return err;
		if (timeout_ns == 0)
			return shoal__fail(-EAGAIN, "sub: no publisher");
		if (deadline >= 0) {
			int64_t now = shoal__now_ns();

			if (now >= deadline)
				return shoal__fail(-ETIMEDOUT,
						   "sub: no publisher came");
			if (deadline - now < left)
				left = deadline - now;
		}
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		ppoll(&pfd, 1, &ts, NULL);
		while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
			;
	}
}

/* Several rings: our sleeper bit in each ring's bitmap (@on), or out of
 * it, draining the eventfds. */
static void mark_all(struct shoal_sub *s, int on)
{
	for (uint32_t i = 0; i < s->nact; i++) {
		struct sub_ring *r = s->act[i];
		_Atomic uint32_t *w = &subs_bitmap(r->sh)[r->index / 32];

		if (on) {
			atomic_fetch_or_explicit(w, r->mask,
						 memory_order_relaxed);
		} else {
			uint64_t v;

			if (read(r->eventfd, &v, sizeof(v)) < 0)
				(void)0; /* empty: nobody wrote */
			atomic_fetch_and_explicit(w, ~r->mask,
						  memory_order_relaxed);
		}
	}
}

/* Several rings: announce the sleep on every ring, then re-check. 1 if
 * something is ready already (nothing stays marked), else 0. */
static int arm_all(struct shoal_sub *s)
{
	mark_all(s, 1);
	/* Full fence: orders the stores of our bits above before the
	 * re-check below; pairs with the fence each publisher makes between
	 * its publish and its load of the bitmap (shoal__bcast_publish(),
	 * wake_sleepers()). Either it sees our bit or we see its message. */
	shoal__fence_full();
	if (sub_ready(s)) {
		mark_all(s, 0);
		return 1;
	}
	return 0;
}

/*
 * Several rings: wait until one has something (or is gone, or the watch
 * speaks), up to *@deadline: spinning as the strategy says, then asleep
 * in the epoll set (every ring's eventfd and pidfd, the watch) for at most
 * a slice. 0 (look again), -EAGAIN (@timeout_ns 0), -ETIMEDOUT.
 */
static int wait_rings(struct shoal_sub *s, int64_t timeout_ns,
		      int64_t *deadline)
{
	struct pollfd pfd = { .fd = s->epfd, .events = POLLIN };
	int64_t slice = SHOAL_WAIT_SLICE_NS;
	struct timespec ts;
	uint32_t spins = s->strategy == SHOAL_WAIT_BLOCK ? 0 :
			 s->strategy == SHOAL_WAIT_ADAPTIVE ?
							   MULTI_SPIN_CHECKS :
							   UINT32_MAX;

	if (timeout_ns == 0)
		return -EAGAIN;
	if (*deadline == SHOAL__NO_DEADLINE_YET)
		*deadline = shoal__deadline(timeout_ns);
	for (uint32_t i = 0; i < spins; i++) {
		if (sub_ready(s))
			return 0;
		if (s->strategy == SHOAL_WAIT_BUSY_SPIN)
			shoal__cpu_relax();
		else
			sched_yield();
		if ((i & 63) == 63 && *deadline >= 0 &&
		    shoal__now_ns() >= *deadline)
			return shoal__fail(-ETIMEDOUT, "sub: nothing came");
		/* Spinning strategies go round the take loop now and
		 * then, which counts towards the newcomer check. */
		if (i == NEWCOMER_CHECK_EVERY)
			return 0;
	}
	if (*deadline >= 0) {
		int64_t left = *deadline - shoal__now_ns();

		if (left <= 0)
			return shoal__fail(-ETIMEDOUT, "sub: nothing came");
		if (left < slice)
			slice = left;
	}
	if (arm_all(s))
		return 0;
	s->msleeps++;
	for (uint32_t i = 0; i < s->nact; i++)
		atomic_store_explicit(&s->act[i]->line->sleeps, s->msleeps,
				      memory_order_relaxed);
	ts.tv_sec = slice / 1000000000;
	ts.tv_nsec = slice % 1000000000;
	ppoll(&pfd, 1, &ts, NULL);
	mark_all(s, 0);
	/* The poll may have ended on a pidfd or on the watch. */
	for (uint32_t i = 0; i < s->nact; i++)
		s->act[i]->ow.check_pid = 1;
	read_watch(s);
	return 0;
}

/* take() and take_batch() (@batch): what try_take (or try_take_batch of
 * @n) returns, waiting up to @timeout_ns for the first message. */
static inline int take_wait(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t n, int batch, int64_t timeout_ns)
{
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (s->held >= s->max_held)
		return shoal__fail(-EBUSY,
				   "sub: %u message(s) held, max_held is %u",
				   s->held, s->max_held);
	/* One publisher and something there: the whole take. */
	if (__builtin_expect(s->one != NULL, 1)) {
		int err = take_ring(s, s->one, msgs, n, batch);

		if (err != -EAGAIN)
			return err;
	}
	for (;;) {
		int err;

		if (!s->nact) {
			if (!(s->flags & SHOAL_SUB_REATTACH))
				return shoal__fail(-EPIPE,
						   "sub: '%s': publisher gone",
						   s->name);
			if (deadline == SHOAL__NO_DEADLINE_YET)
				deadline = shoal__deadline(timeout_ns);
			err = wait_publisher(s, timeout_ns, deadline);
			if (err)
				return err;
		}
		err = try_rings(s, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		err = reap_gone(s, msgs, n, batch);
		if (err != -EAGAIN)
			return err;
		/* The last publisher is gone and everything it sent was
		 * taken (REATTACH: the next take waits for a new one). */
		if (!s->nact)
			return shoal__fail(-EPIPE, "sub: '%s': publisher gone",
					   s->name);
		if (s->newcomer) {
			look_for_newcomers(s);
			continue;
		}
		if (s->nact == 1)
			err = shoal__wait_step(&s->waiter, sub_ready, s,
					       timeout_ns, &deadline, -1,
					       "sub: nothing came");
		else
			err = wait_rings(s, timeout_ns, &deadline);
		if (err < 0)
			return err;
	}
}

int shoal_sub_take(struct shoal_sub *s, struct shoal_msg *msg,
		   int64_t timeout_ns)
{
	return take_wait(s, msg, 1, 0, timeout_ns);
}

int shoal_sub_take_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			 uint32_t n, int64_t timeout_ns)
{
	if (!n || !msgs)
		return shoal__fail(-EINVAL, "sub: an empty batch");
	return take_wait(s, msgs, n, 1, timeout_ns);
}

/* Bit of position @seq in ring @r's released-ahead map. */
static inline uint64_t done_bit(const struct sub_ring *r, uint64_t seq)
{
	return 1ull << (seq & (r->g.capacity - 1) & 63);
}

static inline uint64_t *done_word(const struct sub_ring *r, uint64_t seq)
{
	return &r->done[(seq & (r->g.capacity - 1)) / 64];
}

/* The ring @msg came from, if it is still there; else NULL. */
static struct sub_ring *ring_of(const struct shoal_sub *s,
				const struct shoal_msg *msg)
{
	struct sub_ring *r;

	if (!msg || msg->publisher >= SHOAL_PUB_PUBLISHERS_MAX)
		return NULL;
	r = s->rings[msg->publisher];
	return r && r->epoch == msg->epoch ? r : NULL;
}

/* @msg is held: one of the messages handed out from ring @r's cursor on
 * that nobody released yet. */
static int check_held(const struct sub_ring *r, const struct shoal_msg *msg)
{
	if (!r || !msg || msg->seq - r->ring.cursor >= r->out ||
	    msg->priv_slot != shoal__bcast_slot_at(&r->ring.m, msg->seq) ||
	    (r->done && (*done_word(r, msg->seq) & done_bit(r, msg->seq))))
		return shoal__fail(-EINVAL, "sub: not a message held");
	return 0;
}

static int intact(const struct shoal_msg *msg)
{
	struct shoal__bcast_view v;

	v.slot = (struct shoal__bcast_slot *)msg->priv_slot;
	v.stamp = msg->priv_stamp;
	return shoal__bcast_intact(&v);
}

int shoal_sub_valid(const struct shoal_sub *s, const struct shoal_msg *msg)
{
	if (check_held(ring_of(s, msg), msg))
		return 0;
	/* Reliable mode checks too: a reliable publisher never overwrites a
	 * held message, unless another subscriber (which can write our
	 * line) lied about our cursor. One load of a line already cached. */
	return intact(msg);
}

/* @n messages of ring @r were released (@stale of them overwritten) and
 * its cursor moves over @adv positions: counters, the cursor, then wake a
 * reliable publisher waiting for room. A pinned ring whose last held
 * message went is freed. */
static int released(struct shoal_sub *s, struct sub_ring *r, uint32_t n,
		    uint32_t adv, uint32_t stale, uint64_t first_stale)
{
	r->held -= n;
	s->held -= n;
	s->received += n;
	r->received += n;
	atomic_store_explicit(&r->line->received, r->received,
			      memory_order_relaxed);
	if (adv) {
		r->out -= adv;
		shoal__bcast_advance(&r->ring, adv);
		/* The cursor stored above, then notify's fence and the
		 * publisher's mark (store->load); pairs with the fence in
		 * notify's arm between its mark and its re-check of the
		 * cursors (make_room()). Either it sees our cursor or we see
		 * its mark: no missed wake-up. */
		if (r->g.delivery == SHOAL_DELIVERY_RELIABLE)
			(void)shoal__notify_mark_ro(&r->g.hdr->waiting, 0,
						    r->pub_eventfd);
	}
	if (stale) {
		s->stale += stale;
		r->stale += stale;
		atomic_store_explicit(&r->line->stale, r->stale,
				      memory_order_relaxed);
	}
	if (r->pinned && !r->held) {
		free_ring(s, r);
		if (!s->nact && !s->npinned)
			memset(&s->ref, 0, sizeof(s->ref));
		s->newcomer = 1; /* its slot may have a new publisher */
	}
	if (stale)
		return shoal__fail(-ESTALE,
				   "sub: %u message(s) from %llu on were "
				   "overwritten while held",
				   stale, (unsigned long long)first_stale);
	return 0;
}

/* With max_held > 1: ring @r's released prefix from the cursor on (bits
 * cleared as counted), how far the cursor may move. */
static uint32_t released_prefix(struct sub_ring *r)
{
	uint32_t n = 0;

	while (n < r->out) {
		uint64_t seq = r->ring.cursor + n, *w = done_word(r, seq);

		if (!(*w & done_bit(r, seq)))
			break;
		*w &= ~done_bit(r, seq);
		n++;
	}
	return n;
}

int shoal_sub_release(struct shoal_sub *s, struct shoal_msg *msg)
{
	struct sub_ring *r = s->one;
	int ok;

	if (!r || !msg || msg->publisher != r->slot || msg->epoch != r->epoch)
		r = ring_of(s, msg);
	if (!r || !r->held || check_held(r, msg))
		return shoal__fail(-EINVAL, "sub: not a message held");
	if (!r->done && msg->seq != r->ring.cursor)
		return shoal__fail(-EINVAL, "sub: not the oldest message held "
					    "(max_held 1: oldest first)");
	/* The stamp again (after an acquire fence) before the cursor's
	 * release store lets the publisher reuse the slot. */
	ok = intact(msg);
	if (!r->done)
		return released(s, r, 1, 1, !ok, msg->seq);
	*done_word(r, msg->seq) |= done_bit(r, msg->seq);
	return released(s, r, 1, released_prefix(r), !ok, msg->seq);
}

/* max_held 1: @msgs[0..@count) must be the oldest held, in order. */
static int check_oldest(struct sub_ring *r, const struct shoal_msg *msgs,
			uint32_t count)
{
	for (uint32_t j = 0; j < count; j++)
		if (msgs[j].seq != r->ring.cursor + j ||
		    check_held(r, &msgs[j]))
			return shoal__fail(
				-EINVAL,
				"sub: batch entry %u is not the "
				"held message %llu",
				j, (unsigned long long)(r->ring.cursor + j));
	return 0;
}

/* max_held > 1: each of @msgs[0..@count) held, none twice; marks them
 * released (and unmarks them again on failure). */
static int mark_released(struct sub_ring *r, const struct shoal_msg *msgs,
			 uint32_t count)
{
	for (uint32_t j = 0; j < count; j++) {
		if (check_held(r, &msgs[j])) {
			uint32_t bad = j;

			while (j--)
				*done_word(r, msgs[j].seq) &=
					~done_bit(r, msgs[j].seq);
			return shoal__fail(-EINVAL,
					   "sub: batch entry %u is not a "
					   "message held (or is there twice)",
					   bad);
		}
		*done_word(r, msgs[j].seq) |= done_bit(r, msgs[j].seq);
	}
	return 0;
}

int shoal_sub_release_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t count)
{
	struct sub_ring *r = msgs ? ring_of(s, &msgs[0]) : NULL;
	uint64_t first_stale = 0;
	uint32_t stale = 0;
	int err;

	if (!count || !r || count > r->held)
		return shoal__fail(
			-EINVAL, "sub: %u released, not that many held", count);
	for (uint32_t j = 1; j < count; j++)
		if (ring_of(s, &msgs[j]) != r)
			return shoal__fail(-EINVAL,
					   "sub: batch entry %u is another "
					   "publisher's: a batch releases "
					   "messages of one",
					   j);
	err = !r->done ? check_oldest(r, msgs, count) :
			 mark_released(r, msgs, count);
	if (err)
		return err;
	/* Each stamp again (after one acquire fence per look) before the
	 * cursor's release store lets the publisher reuse the slots. */
	for (uint32_t j = 0; j < count; j++) {
		if (!intact(&msgs[j]) && !stale++)
			first_stale = msgs[j].seq;
	}
	return released(s, r, count, !r->done ? count : released_prefix(r),
			stale, first_stale);
}

ssize_t shoal_sub_read(struct shoal_sub *s, void *buf, size_t cap,
		       void *user_header, struct shoal_msg *out,
		       int64_t timeout_ns)
{
	struct shoal_msg m;
	struct sub_ring *r;
	int err;

	memset(&m, 0, sizeof(m));
	err = shoal_sub_take(s, &m, timeout_ns);
	if (err) {
		if (out) {
			memset(out, 0, sizeof(*out));
			out->lost = m.lost;
			out->publisher = m.publisher;
		}
		return err;
	}
	r = ring_of(s, &m);
	if (m.len > cap) {
		/* Leave it for a larger buffer: it was the last handed
		 * out. */
		r->held--;
		r->out--;
		s->held--;
		return shoal__fail(-EMSGSIZE,
				   "sub: %u-byte message, %zu-byte buffer",
				   m.len, cap);
	}
	memcpy(buf, m.data, m.len);
	if (user_header && m.user_header)
		memcpy(user_header, m.user_header, m.user_header_size);
	err = shoal_sub_release(s, &m);
	m.data = NULL;
	m.user_header = NULL;
	if (err == -ESTALE) {
		/* The copy may be torn: to the caller it is a lost message,
		 * not a received one. (A pinned ring may be gone by now; the
		 * handle's totals are corrected all the same.) */
		s->stale--;
		s->received--;
		s->lost++;
		if (ring_of(s, &m) == r) {
			r->stale--;
			r->received--;
			r->lost++;
			atomic_store_explicit(&r->line->received, r->received,
					      memory_order_relaxed);
			atomic_store_explicit(&r->line->stale, r->stale,
					      memory_order_relaxed);
			atomic_store_explicit(&r->line->lost, r->lost,
					      memory_order_relaxed);
		}
		m.lost = 1;
		if (out)
			*out = m;
		return shoal__fail(-EOVERFLOW,
				   "sub: lapped while copying; 1 message lost");
	}
	if (out)
		*out = m;
	return (ssize_t)m.len;
}

int shoal_sub_fd(const struct shoal_sub *s)
{
	return s->epfd;
}

int shoal_sub_arm(struct shoal_sub *s)
{
	if (!s->nact) {
		if (!(s->flags & SHOAL_SUB_REATTACH))
			return 1; /* take() reports -EPIPE at once */
		follow_registry(s);
		return discover(s) == 0;
	}
	if (s->newcomer)
		return 1;
	for (uint32_t i = 0; i < s->nact; i++)
		if (ring_gone(s, s->act[i], 1))
			return 1;
	if (s->nact == 1)
		return shoal_waiter_arm(&s->waiter, sub_ready, s);
	return arm_all(s);
}

void shoal_sub_disarm(struct shoal_sub *s)
{
	char buf[4096];

	if (s->nact == 1)
		shoal_waiter_disarm(&s->waiter);
	else if (s->nact > 1)
		mark_all(s, 0);
	/* The poll may have ended on a publisher's pidfd. */
	for (uint32_t i = 0; i < s->nact; i++)
		s->act[i]->ow.check_pid = 1;
	if (s->nact && multi(s))
		read_watch(s);
	else if (s->inotify_fd >= 0)
		while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
			;
}

int shoal_sub_connected(const struct shoal_sub *s)
{
	for (uint32_t i = 0; i < s->nact; i++)
		if (!s->act[i]->ow.gone)
			return 1;
	return 0;
}

uint64_t shoal_sub_epoch(const struct shoal_sub *s)
{
	return s->nact ? s->act[0]->epoch : 0;
}

void shoal_sub_get_stats(const struct shoal_sub *s, struct shoal_sub_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->received = s->received;
	st->lost = s->lost;
	st->stale = s->stale;
	st->sleeps = s->sleeps_before + sleeps_now(s);
	st->reattached = s->reattached;
	st->epoch = shoal_sub_epoch(s);
	st->publishers = s->nact;
	st->publishers_joined = s->joined;
	st->publishers_gone = s->gone;
	st->rings_full = s->rings_full;
	st->rings_mismatched = s->rings_mismatched;
}
