/* SPDX-License-Identifier: MIT */
/*
 * Pub/sub, the subscriber's rings: finding a service's publisher slots,
 * joining each one's ring (claiming a line by an OFD lock), dropping a ring
 * whose publisher is gone, the registry watch through which newcomers
 * and successors are found, and a detached subscriber's wait for one.
 * pubsub_sub.c takes from the rings.
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
#include "patterns/pubsub_sub_internal.h"

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

/* Leaves ring @r and frees it: our line, its fds, the mappings. */
void shoal__sub_free_ring(struct shoal_sub *s, struct sub_ring *r)
{
	s->skipped_gone += r->ring.skipped;
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
void shoal__sub_drop_ring(struct shoal_sub *s, struct sub_ring *r)
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
		shoal__sub_free_ring(s, r);
	}
	if (!s->nact && !s->npinned)
		memset(&s->ref, 0, sizeof(s->ref));
	retarget(s);
	(void)place_watch(s);
}

/* Drops every ring (closing, or a REATTACH subscriber's publisher gone). */
void shoal__sub_detach_all(struct shoal_sub *s)
{
	while (s->nact)
		shoal__sub_drop_ring(s, s->act[0]);
	for (uint32_t i = 0; i < SHOAL_PUB_PUBLISHERS_MAX; i++)
		if (s->rings[i])
			shoal__sub_free_ring(s, s->rings[i]);
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
	err = shoal__peer_wake_fd(r->svc, "sub", SHOAL__EXTRA_WAKE_FD(r->index),
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
	r->pooled = r->g.pools.n != 0;
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
	r->plain = !r->pooled && s->max_held == 1;
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
		shoal__sub_free_ring(s, r);
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
int shoal__sub_discover(struct shoal_sub *s)
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
		if (multi(s) && s->inotify_fd < 0 &&
		    !shoal__sub_watch_registry(s))
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

int shoal__sub_try_discover(void *user_data)
{
	return shoal__sub_discover(user_data);
}

/*
 * Watches the registry directory, by path, for new entries and for its own
 * end (IN_DELETE_SELF, IN_MOVE_SELF, then IN_IGNORED: the watch is gone).
 * While the path holds no directory, or another one than s->reg's, the
 * parent is watched too, for the path to come back. A fresh inotify fd
 * each time, replacing the old one (closing it takes it out of the epoll
 * set), so no event of an earlier watch lingers.
 */
int shoal__sub_watch_registry(struct shoal_sub *s)
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
int shoal__sub_follow_registry(struct shoal_sub *s)
{
	struct shoal_registry *fresh;
	int err;

	if (!(s->flags & SHOAL_SUB_REATTACH) ||
	    shoal__registry_moved(s->reg) != 1)
		return 0;
	err = shoal__registry_reopen(s->reg, &fresh);
	if (err)
		return s->watching_parent ? 0 : shoal__sub_watch_registry(s);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	s->reg = fresh;
	s->own_reg = 1;
	return shoal__sub_watch_registry(s);
}

/*
 * Reads what the registry watch collected (non-blocking). 1 if an entry
 * of our name (the name itself or one of its slots) appeared: s->newcomer
 * is set for the next take to look.
 */
int shoal__sub_read_watch(struct shoal_sub *s)
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
void shoal__sub_look_for_newcomers(struct shoal_sub *s)
{
	if (!multi(s) && s->nact)
		return;
	s->polls = 0;
	shoal__sub_read_watch(s);
	if (!s->newcomer)
		return;
	s->newcomer = 0;
	(void)shoal__sub_follow_registry(s);
	(void)shoal__sub_discover(s);
}

/* Detached with REATTACH: waits for a publisher until @deadline. */
int shoal__sub_wait_publisher(struct shoal_sub *s, int64_t timeout_ns,
			      int64_t deadline)
{
	for (;;) {
		struct pollfd pfd;
		int64_t left = DETACHED_SLICE_NS;
		char buf[4096];
		struct timespec ts;
		int err;

		/* Best effort: the next slice looks again. */
		shoal__sub_follow_registry(s);
		pfd = (struct pollfd){ .fd = s->inotify_fd, .events = POLLIN };
		err = shoal__sub_discover(s);
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
