/* SPDX-License-Identifier: MIT */
/*
 * Pub/sub, the subscriber side: joining (claiming a line by an OFD lock),
 * taking messages in place, waiting, noticing the publisher's death and
 * reattaching to its successor. docs/pubsub.md describes the protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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
/* Longest a detached subscriber waits before looking for a publisher
 * again, in case a registry event was missed. */
#define DETACHED_SLICE_NS (100 * 1000 * 1000LL)

struct shoal_sub {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal_registry *reg;
	int own_reg;
	uint32_t flags;
	uint32_t want_history;
	enum shoal_wait_strategy strategy;
	struct shoal__type type; /* the caller's, checked at each attach */
	int epfd;	/* what shoal_sub_fd() returns, across reattaching */
	int inotify_fd; /* the registry directory, while detached */
	int watching_parent; /* inotify_fd also watches the path's parent */
	int ever_attached;
	uint64_t reattached;

	/* The current attachment; svc NULL while detached. */
	struct shoal_service *svc;
	struct shoal_segment *subs_seg;
	struct pubsub_geometry g;
	struct shoal__pubsub_subs_header *sh;
	struct shoal__pubsub_sub_line *line;
	uint32_t index;
	uint32_t mask;
	int lock_fd;	 /* our own open file description: holds the line */
	int eventfd;	 /* our line's wake-up */
	int pidfd;	 /* the publisher's (owned by svc) */
	int pub_eventfd; /* wakes a publisher waiting for room (svc's) */
	uint64_t epoch;
	/* The memory protocol: our line and cursor (ring/ring_bcast.h). */
	struct shoal__bcast_sub ring;
	uint64_t received, lost, stale;
	uint64_t sleeps_before;	      /* sleeps under earlier publishers */
	uint32_t held;		      /* messages held, from the cursor on */
	struct shoal__owner_watch ow; /* the publisher died or withdrew */
	int64_t open_timeout_ns;      /* the first attach's wait, then 0 */
	struct shoal_waiter waiter;
};

void shoal_sub_options_init(struct shoal_sub_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
}

/* Claims a free line: the first byte of the subscriber memfd we can
 * OFD-lock. Returns its index or -EBUSY. */
static int claim_line(struct shoal_sub *s)
{
	int idx = shoal__peer_claim(shoal_segment_fd(s->subs_seg), 0,
				    s->g.max_subs, "sub", &s->lock_fd);

	if (idx == -EBUSY)
		return shoal__fail(-EBUSY,
				   "sub: '%s' has its limit of %u subscribers "
				   "already",
				   s->name, s->g.max_subs);
	return idx;
}

/* Leaves the current publisher (if any): frees our line, closes its fds. */
static void detach(struct shoal_sub *s)
{
	if (s->line) {
		atomic_fetch_and_explicit(&subs_bitmap(s->sh)[s->index / 32],
					  ~s->mask, memory_order_relaxed);
		shoal__bcast_leave(&s->ring);
		/* A reliable publisher may be waiting for us to move: the
		 * FREE state and generation above, then notify's fence and
		 * the publisher's mark (read-only to us), pairing with the
		 * fence in notify's arm between its mark and its re-check
		 * (make_room()). */
		(void)shoal__notify_mark_ro(&s->g.hdr->waiting, 0,
					    s->pub_eventfd);
		s->line = NULL;
	}
	if (s->eventfd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->eventfd, NULL);
		close(s->eventfd);
		s->eventfd = -1;
	}
	if (s->pidfd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->pidfd, NULL);
		s->pidfd = -1;
	}
	if (s->lock_fd >= 0) {
		close(s->lock_fd); /* drops the OFD lock */
		s->lock_fd = -1;
	}
	shoal_segment_close(s->subs_seg);
	s->subs_seg = NULL;
	shoal_service_close(s->svc);
	s->svc = NULL;
	s->held = 0;
	s->ow = (struct shoal__owner_watch){ .every = PID_CHECK_EVERY };
	s->epoch = 0;
	if (s->inotify_fd >= 0)
		shoal__epoll_add(s->epfd, s->inotify_fd,
				 (uint64_t)s->inotify_fd, "sub");
}

/* Joins line s->index: our counters and pid first (this handle's, across
 * publishers), then the ring's join (cursor, JOINING, the generation, the
 * start, ACTIVE; shoal__bcast_join()). */
static void join_line(struct shoal_sub *s)
{
	struct shoal__pubsub_sub_line *l =
		&subs_lines(s->sh, s->g.max_subs)[s->index];
	struct shoal__bcast_map m = {
		.pub = &s->g.hdr->ring,
		.slots = s->g.slots,
		.generation = &s->sh->generation,
		.lines = (uint8_t *)subs_lines(s->sh, s->g.max_subs),
		.line_stride = sizeof(struct shoal__pubsub_sub_line),
		.max_lines = s->g.max_subs,
		.capacity = s->g.capacity,
		.stride = s->g.stride,
		.max_payload = s->g.max_payload,
		.uh_size = s->g.uh_size,
	};
	uint64_t back = s->want_history;

	if (back > s->g.history)
		back = s->g.history;
	atomic_store_explicit(&l->received, s->received, memory_order_relaxed);
	atomic_store_explicit(&l->lost, s->lost, memory_order_relaxed);
	atomic_store_explicit(&l->stale, s->stale, memory_order_relaxed);
	atomic_store_explicit(&l->sleeps, 0, memory_order_relaxed);
	l->pid = (int32_t)getpid();
	/* Its release store of JOINING orders the stores above too. */
	shoal__bcast_join(&s->ring, &m, s->index, back);
	s->line = l;
}

static int attach_fds(struct shoal_sub *s)
{
	int32_t owner_fd;
	int err, idx;

	idx = claim_line(s);
	if (idx < 0)
		return idx;
	s->index = (uint32_t)idx;
	s->mask = 1u << (s->index % 32);
	owner_fd = SHOAL__READ_ONCE(wake_fd_table(s->g.hdr)[s->index]);
	err = shoal__peer_wake_fd(s->svc, "sub",
				  SHOAL__PUBSUB_EXTRA_WAKE_FD(s->index),
				  owner_fd, s->index, &s->eventfd);
	if (err)
		return err;
	s->pub_eventfd = shoal_service_eventfd(s->svc, 0);
	if (s->pub_eventfd < 0)
		return shoal__fail(-EBADMSG, "sub: the service has no eventfd");
	err = shoal__epoll_add(s->epfd, s->eventfd, (uint64_t)s->eventfd,
			       "sub");
	if (err)
		return err;
	s->pidfd = shoal__peer_watch_owner(s->svc, s->epfd, "sub");
	return s->pidfd < 0 ? s->pidfd : 0;
}

/* Finds the publisher and joins it. 0 or -errno; detached on failure. */
static int attach(struct shoal_sub *s)
{
	struct shoal__peer_spec spec = shoal__peer_spec_of(
		&shoal__pubsub_pattern, "sub", s->name, SHOAL_OPEN_READ_ONLY,
		&s->type, s->open_timeout_ns, &s->g);
	struct shoal_service_info info;
	int err;

	if (s->flags & SHOAL_SUB_NO_PIDFD_GETFD)
		spec.oflags |= SHOAL_OPEN_NO_PIDFD_GETFD;
	err = shoal__peer_open(s->reg, &spec, &s->svc);
	if (err)
		return err;
	shoal_service_get_info(s->svc, &info);
	err = shoal__pubsub_map_subs(s->svc, &s->g, 0, &s->subs_seg, &s->sh);
	if (!err)
		err = attach_fds(s);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		detach(s);
		return shoal__detail_fail(&d, err);
	}
	if (s->inotify_fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->inotify_fd, NULL);
	/* Sleeps are counted per handle, across publishers. */
	s->sleeps_before += shoal__waiter_sleeps(&s->waiter);
	shoal__waiter_setup(&s->waiter, &subs_bitmap(s->sh)[s->index / 32],
			    s->mask, NULL, s->eventfd, s->epfd, s->strategy);
	join_line(s);
	/* A publisher may be waiting for subscribers (wait_subscribers()):
	 * our ACTIVE state (release, in the join) before notify's fence and
	 * the load of its mark; pairs with the fence in notify's arm between
	 * its mark and its re-count. Either it counts us or we wake it. */
	(void)shoal__notify_mark_ro(&s->g.hdr->waiting, 0, s->pub_eventfd);
	shoal__waiter_count_sleeps_in(&s->waiter, &s->line->sleeps);
	s->ow.sleeps = 0;
	s->epoch = info.epoch;
	if (s->ever_attached)
		s->reattached++;
	s->ever_attached = 1;
	return 0;
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
		close(s->inotify_fd);
	s->inotify_fd = fd;
	s->watching_parent = parent_too;
	return s->svc ? 0 : shoal__epoll_add(s->epfd, fd, (uint64_t)fd, "sub");
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
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return shoal__fail(-ENOMEM, "sub: out of memory");
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->flags = opts->flags;
	s->want_history = opts->history;
	s->strategy = opts->strategy ? opts->strategy : SHOAL_WAIT_ADAPTIVE;
	s->type = SHOAL__TYPE_OF(opts);
	s->inotify_fd = s->lock_fd = s->eventfd = s->pidfd = -1;
	s->ow.every = PID_CHECK_EVERY;
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
		s->open_timeout_ns = opts->timeout_ns;
		err = attach(s);
		s->open_timeout_ns = 0; /* reattaching never waits */
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
	}
	detach(s);
	close(s->epfd);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	free(s);
}

/* 1 once the publisher withdrew or died. Looks at the pidfd only every
 * PID_CHECK_EVERY calls, or after a sleep (its pidfd is in the set slept
 * on), so polling costs no system call. */
static int publisher_gone(struct shoal_sub *s, int force)
{
	return shoal__owner_gone(&s->ow, &s->g.hdr->closed, s->svc,
				 shoal__waiter_sleeps(&s->waiter), force);
}

static int sub_ready(void *arg)
{
	struct shoal_sub *s = arg;

	return shoal__bcast_ready(&s->ring) || publisher_gone(s, 0);
}

static inline void fill_msg(const struct shoal_sub *s, struct shoal_msg *msg,
			    const struct shoal__bcast_view *v)
{
	msg->data = shoal__bcast_payload(&s->ring.m, v->slot);
	msg->len = v->len;
	msg->user_header_size = s->g.uh_size;
	msg->user_header = s->g.uh_size ? (const void *)(v->slot + 1) : NULL;
	msg->seq = v->seq;
	msg->timestamp_ns = v->timestamp_ns;
	msg->epoch = s->epoch;
	msg->lost = 0;
	msg->priv_stamp = v->stamp;
	msg->priv_slot = v->slot;
}

/* One look at the next slot: 0 (held), -EAGAIN, -EOVERFLOW, -EBADMSG. */
static int try_take(struct shoal_sub *s, struct shoal_msg *msg)
{
	struct shoal__bcast_view v;
	uint64_t skipped = s->ring.skipped;
	int err = shoal__bcast_peek(&s->ring, 0, &v);

	/* The peek passed skip markers (a publisher's aborted loans): the
	 * cursor moved as a release moves it, so wake a reliable publisher
	 * waiting for that room, as released() does. */
	if (__builtin_expect(s->ring.skipped != skipped, 0) &&
	    s->g.delivery == SHOAL_DELIVERY_RELIABLE)
		(void)shoal__notify_mark_ro(&s->g.hdr->waiting, 0,
					    s->pub_eventfd);

	if (__builtin_expect(err != 0, 0)) {
		if (err == -EOVERFLOW) {
			s->lost += v.lost;
			atomic_store_explicit(&s->line->lost, s->lost,
					      memory_order_relaxed);
			msg->lost = v.lost;
			return shoal__fail(-EOVERFLOW,
					   "sub: lapped; %llu messages lost",
					   (unsigned long long)v.lost);
		}
		if (err == -EBADMSG)
			return shoal__fail(-EBADMSG,
					   "sub: message %llu claims %u bytes, "
					   "more than the %u a slot holds",
					   (unsigned long long)v.seq, v.len,
					   s->g.max_payload);
		return err;
	}
	fill_msg(s, msg, &v);
	s->held = 1;
	return 0;
}

/* try_take() of up to @n: how many are held now (>= 1), or its error. */
static int try_take_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			  uint32_t n)
{
	struct shoal__bcast_view v;
	uint32_t k;
	int err = try_take(s, &msgs[0]);

	if (err)
		return err;
	if (n > s->g.capacity)
		n = s->g.capacity;
	/* Past the first, a lap or a bad length ends the batch (-EAGAIN):
	 * the next take reports it. */
	for (k = 1; k < n && shoal__bcast_peek(&s->ring, k, &v) == 0; k++)
		fill_msg(s, &msgs[k], &v);
	s->held = k;
	return (int)k;
}

/* Detached with REATTACH: waits for a publisher until @deadline. */
static int wait_publisher(struct shoal_sub *s, int64_t timeout_ns,
			  int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = s->inotify_fd, .events = POLLIN };
		int64_t left = DETACHED_SLICE_NS;
		char buf[4096];
		struct timespec ts;
		int err;

		/* Best effort: the next slice looks again. */
		follow_registry(s);
		pfd.fd = s->inotify_fd;
		err = attach(s);
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

/* take() and take_batch() (@batch): what try_take (or try_take_batch of
 * @n) returns, waiting up to @timeout_ns for the first message. */
static inline int take_wait(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t n, int batch, int64_t timeout_ns)
{
	int64_t deadline = SHOAL__NO_DEADLINE_YET;

	if (s->held)
		return shoal__fail(-EBUSY, "sub: a message is already held");
	for (;;) {
		int err;

		if (!s->svc) {
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
		err = !batch ? try_take(s, msgs) : try_take_batch(s, msgs, n);
		if (err != -EAGAIN)
			return err;
		if (publisher_gone(s, 0)) {
			/* Anything it finished before dying is still good. */
			err = !batch ? try_take(s, msgs) :
				       try_take_batch(s, msgs, n);
			if (err != -EAGAIN)
				return err;
			detach(s);
			return shoal__fail(-EPIPE, "sub: '%s': publisher gone",
					   s->name);
		}
		err = shoal__wait_step(&s->waiter, sub_ready, s, timeout_ns,
				       &deadline, -1, "sub: nothing came");
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

/* @msg is held: one of the messages from the cursor on that a take
 * handed out and nobody released. */
static int check_held(const struct shoal_sub *s, const struct shoal_msg *msg)
{
	if (!msg || msg->seq - s->ring.cursor >= s->held ||
	    msg->priv_slot != shoal__bcast_slot_at(&s->ring.m, msg->seq))
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
	if (check_held(s, msg))
		return 0;
	/* Reliable mode checks too: a reliable publisher never overwrites a
	 * held message, unless another subscriber (which can write our
	 * line) lied about our cursor. One load of a line already cached. */
	return intact(msg);
}

/* The cursor moved past @n released messages, @stale of them overwritten:
 * counters, then wake a reliable publisher waiting for room. */
static int released(struct shoal_sub *s, uint32_t n, uint32_t stale,
		    uint64_t first_stale)
{
	shoal__bcast_advance(&s->ring, n);
	s->received += n;
	atomic_store_explicit(&s->line->received, s->received,
			      memory_order_relaxed);
	/* The cursor stored above, then notify's fence and the publisher's
	 * mark (store->load); pairs with the fence in notify's arm between
	 * its mark and its re-check of the cursors (make_room()). Either it
	 * sees our cursor or we see its mark: no missed wake-up. */
	if (s->g.delivery == SHOAL_DELIVERY_RELIABLE)
		(void)shoal__notify_mark_ro(&s->g.hdr->waiting, 0,
					    s->pub_eventfd);
	if (stale) {
		s->stale += stale;
		atomic_store_explicit(&s->line->stale, s->stale,
				      memory_order_relaxed);
		return shoal__fail(-ESTALE,
				   "sub: %u message(s) from %llu on were "
				   "overwritten while held",
				   stale, (unsigned long long)first_stale);
	}
	return 0;
}

int shoal_sub_release(struct shoal_sub *s, struct shoal_msg *msg)
{
	int ok;

	if (!s->held || !msg || msg->seq != s->ring.cursor ||
	    check_held(s, msg))
		return shoal__fail(-EINVAL, "sub: not the oldest message held");
	ok = intact(msg);
	s->held--;
	return released(s, 1, !ok, msg->seq);
}

int shoal_sub_release_batch(struct shoal_sub *s, struct shoal_msg *msgs,
			    uint32_t count)
{
	uint64_t first_stale = 0;
	uint32_t stale = 0;

	if (!count || !msgs || count > s->held)
		return shoal__fail(-EINVAL, "sub: %u released, %u held", count,
				   s->held);
	for (uint32_t j = 0; j < count; j++)
		if (msgs[j].seq != s->ring.cursor + j ||
		    check_held(s, &msgs[j]))
			return shoal__fail(
				-EINVAL,
				"sub: batch entry %u is not the "
				"held message %llu",
				j, (unsigned long long)(s->ring.cursor + j));
	/* Each stamp again (after one acquire fence per look) before the
	 * cursor's release store lets the publisher reuse the slots. */
	for (uint32_t j = 0; j < count; j++) {
		if (!intact(&msgs[j]) && !stale++)
			first_stale = msgs[j].seq;
	}
	s->held -= count;
	return released(s, count, stale, first_stale);
}

ssize_t shoal_sub_read(struct shoal_sub *s, void *buf, size_t cap,
		       void *user_header, struct shoal_msg *out,
		       int64_t timeout_ns)
{
	struct shoal_msg m;
	int err;

	memset(&m, 0, sizeof(m));
	err = shoal_sub_take(s, &m, timeout_ns);
	if (err) {
		if (out) {
			memset(out, 0, sizeof(*out));
			out->lost = m.lost;
		}
		return err;
	}
	if (m.len > cap) {
		s->held = 0; /* leave it for a larger buffer */
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
		 * not a received one. */
		s->stale--;
		s->received--;
		s->lost++;
		atomic_store_explicit(&s->line->received, s->received,
				      memory_order_relaxed);
		atomic_store_explicit(&s->line->stale, s->stale,
				      memory_order_relaxed);
		atomic_store_explicit(&s->line->lost, s->lost,
				      memory_order_relaxed);
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
	if (!s->svc) {
		if (!(s->flags & SHOAL_SUB_REATTACH))
			return 1; /* take() reports -EPIPE at once */
		follow_registry(s);
		return attach(s) == 0;
	}
	if (publisher_gone(s, 1))
		return 1;
	return shoal_waiter_arm(&s->waiter, sub_ready, s);
}

void shoal_sub_disarm(struct shoal_sub *s)
{
	char buf[4096];

	if (s->svc) {
		shoal_waiter_disarm(&s->waiter);
		/* The poll may have ended on the publisher's pidfd. */
		s->ow.check_pid = 1;
	}
	if (s->inotify_fd >= 0)
		while (read(s->inotify_fd, buf, sizeof(buf)) > 0)
			;
}

int shoal_sub_connected(const struct shoal_sub *s)
{
	return s->svc && !s->ow.gone;
}

uint64_t shoal_sub_epoch(const struct shoal_sub *s)
{
	return s->epoch;
}

void shoal_sub_get_stats(const struct shoal_sub *s, struct shoal_sub_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->received = s->received;
	st->lost = s->lost;
	st->stale = s->stale;
	st->sleeps = s->sleeps_before + shoal__waiter_sleeps(&s->waiter);
	st->reattached = s->reattached;
	st->epoch = s->epoch;
	st->skipped = s->ring.skipped;
}
