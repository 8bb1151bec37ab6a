/* SPDX-License-Identifier: MIT */
/*
 * Channel, the lifecycle: options, create (named and anonymous), open,
 * open_fds, the geometry check, destroy and close. The data path and the
 * liveness look are in channel.c (whose opening comment has the design);
 * the handle in channel_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shoal/channel.h"
#include "shoal/registry.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "arch/pidfd.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "segment/fdcheck.h"
#include "segment/layout.h"
#include "service/service.h"
#include "patterns/channel_internal.h"

#define CH_MAGIC 0x4e48434c414f4853ULL /* "SHOALCHN" */
#define CH_VERSION 1
#define CH_HEADER "channel"
#define FD_DATA 0  /* extra fd index: the receiver's eventfd */
#define FD_SPACE 1 /* the sender's */

void shoal_channel_options_init(struct shoal_channel_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = 1024;
	opts->slot_size = 1024;
	opts->role = SHOAL_CHANNEL_SEND;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
	opts->send_timeout_ns = SHOAL_WAIT_FOREVER;
	opts->max_loans = 1;
	opts->max_held = 1;
}

static int role_ok(enum shoal_channel_role role)
{
	return role == SHOAL_CHANNEL_SEND || role == SHOAL_CHANNEL_RECV;
}

static int loans_ok(const struct shoal_channel_options *o)
{
	return o->max_loans && o->max_loans <= SHOAL_CHANNEL_LOANS_MAX &&
	       o->max_held && o->max_held <= SHOAL_CHANNEL_LOANS_MAX;
}

static int loans_fail(const char *who, const struct shoal_channel_options *o)
{
	return shoal__fail(-EINVAL,
			   "%s: max_loans %u, max_held %u: each in "
			   "1..%u",
			   who, o->max_loans, o->max_held,
			   SHOAL_CHANNEL_LOANS_MAX);
}

static struct shoal_channel *
channel_alloc(const struct shoal_channel_options *o)
{
	struct shoal_channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->data_fd = ch->space_fd = ch->lock_fd = ch->epfd = ch->pidfd = -1;
	ch->send_timeout_ns = o->send_timeout_ns;
	ch->max_loans = o->max_loans;
	ch->max_held = o->max_held;
	shoal__owner_init(&ch->own);
	return ch;
}

/* ------------------------------------------------------------------------
 * Setting up
 */

static uint64_t ring_bytes(const struct shoal_channel_options *o)
{
	return shoal_spsc_region_size(o->capacity, o->slot_size);
}

static void fill_specs(struct shoal_object_spec objs[4], uint64_t ring_size)
{
	objs[0] = (struct shoal_object_spec){ CH_HEADER, SHOAL_OBJECT_BYTES, 64,
					      sizeof(struct ch_header) };
	objs[1] = (struct shoal_object_spec){ "ring", SHOAL_OBJECT_SPSC_RING,
					      64, ring_size };
	objs[2] = (struct shoal_object_spec){ "data_wait", SHOAL_OBJECT_NOTIFY,
					      64, SHOAL_NOTIFY_WORD_SIZE };
	objs[3] = (struct shoal_object_spec){ "space_wait", SHOAL_OBJECT_NOTIFY,
					      64, SHOAL_NOTIFY_WORD_SIZE };
}

/* Ring end, waiter and notifier for ch->role on ch->seg; @poll_fd is what
 * a sleep polls (the eventfd, or the opener's epoll set). */
static int attach(struct shoal_channel *ch, enum shoal_wait_strategy strategy,
		  int poll_fd_set)
{
	struct shoal_object_info ri;
	void *ring, *dw, *sw, *mine, *theirs;
	int my_fd, their_fd, err;

	err = shoal_segment_find(ch->seg, "ring", SHOAL_OBJECT_SPSC_RING, &ring,
				 &ri);
	if (!err)
		err = shoal_segment_find(ch->seg, "data_wait",
					 SHOAL_OBJECT_NOTIFY, &dw, NULL);
	if (!err)
		err = shoal_segment_find(ch->seg, "space_wait",
					 SHOAL_OBJECT_NOTIFY, &sw, NULL);
	if (err)
		return shoal__fail(err == -ENOENT ? -EPROTO : err,
				   "channel: the segment is not a channel's");
	if (ch->role == SHOAL_CHANNEL_SEND) {
		err = shoal_spsc_producer_init(&ch->prod, ring, ri.size);
		mine = sw, theirs = dw;
		my_fd = ch->space_fd, their_fd = ch->data_fd;
	} else {
		err = shoal_spsc_consumer_init(&ch->cons, ring, ri.size);
		mine = dw, theirs = sw;
		my_fd = ch->data_fd, their_fd = ch->space_fd;
	}
	if (!err)
		err = shoal_waiter_init(&ch->waiter, mine, my_fd, strategy);
	if (!err)
		err = shoal_notifier_init(&ch->notifier, theirs, their_fd);
	if (err)
		return err;
	if (poll_fd_set >= 0) {
		/* Same word and fd; sleeps poll the set (eventfd + pidfd). */
		struct shoal__notify_word *w = mine;

		shoal__waiter_setup(&ch->waiter, &w->sleeping, 0, &w->sleeps,
				    my_fd, poll_fd_set,
				    strategy ? strategy : SHOAL_WAIT_ADAPTIVE);
	}
	return 0;
}

static int format(struct shoal_channel *ch,
		  const struct shoal_channel_options *o, uint64_t ring_size)
{
	void *mem;
	int err;

	ch->hdr = NULL;
	err = shoal_segment_find(ch->seg, CH_HEADER, 0, &mem, NULL);
	if (err)
		return err;
	ch->hdr = mem;
	memset(mem, 0, sizeof(*ch->hdr));
	ch->hdr->magic = CH_MAGIC;
	ch->hdr->version = CH_VERSION;
	ch->hdr->creator_role = o->role;
	ch->hdr->data_fd = ch->data_fd;
	ch->hdr->space_fd = ch->space_fd;
	ch->hdr->creator_pid = (int32_t)getpid();
	err = shoal_segment_find(ch->seg, "ring", 0, &mem, NULL);
	if (!err)
		err = shoal_spsc_format(mem, ring_size, o->capacity,
					o->slot_size, o->start_pos);
	if (!err)
		err = shoal_segment_find(ch->seg, "data_wait", 0, &mem, NULL);
	if (!err)
		err = shoal_notify_format(mem);
	if (!err)
		err = shoal_segment_find(ch->seg, "space_wait", 0, &mem, NULL);
	if (!err)
		err = shoal_notify_format(mem);
	return err;
}

/* The anonymous creator's segment and eventfds, made by hand. */
static int create_anonymous(struct shoal_channel *ch,
			    const struct shoal_object_spec objs[4])
{
	struct shoal_segment_options so;
	int err;

	ch->anonymous = 1;
	shoal_segment_options_init(&so);
	so.debug_name = "shoal-channel";
	err = shoal_segment_create(objs, 4, &so, &ch->seg);
	if (err)
		return err;
	ch->data_fd = shoal_eventfd_create();
	if (ch->data_fd < 0)
		return ch->data_fd;
	ch->space_fd = shoal_eventfd_create();
	return ch->space_fd < 0 ? ch->space_fd : 0;
}

static int create_named(struct shoal_channel *ch, const char *name,
			const struct shoal_channel_options *o,
			const struct shoal_object_spec objs[4])
{
	struct shoal__owner_spec spec = {
		.name = name,
		.registry = o->registry,
		.lines = 2, /* FD_DATA, FD_SPACE */
		.objects = objs,
		.nobjects = 4,
	};
	int err = shoal__owner_create(&ch->own, &spec);

	if (err)
		return err;
	ch->seg = ch->own.seg;
	ch->data_fd = ch->own.wake_fds[FD_DATA];
	ch->space_fd = ch->own.wake_fds[FD_SPACE];
	return 0;
}

int shoal_channel_create(const char *name,
			 const struct shoal_channel_options *opts,
			 struct shoal_channel **out)
{
	struct shoal_channel_options defaults;
	struct shoal_object_spec objs[4];
	struct shoal_channel *ch;
	uint64_t ring_size;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_channel_options_init);
	if (!out || !role_ok(opts->role))
		return shoal__fail(-EINVAL, "channel_create: bad role or NULL");
	if (name && shoal__name_check("channel_create", name))
		return -EINVAL;
	ring_size = ring_bytes(opts);
	if (!ring_size)
		return shoal__fail(
			-EINVAL,
			"channel_create: capacity %u must be a power "
			"of two in 2..%u, slot size 1..%u",
			opts->capacity, SHOAL_SPSC_CAPACITY_MAX,
			SHOAL_SPSC_SLOT_MAX);
	if (!loans_ok(opts))
		return loans_fail("channel_create", opts);
	ch = channel_alloc(opts);
	if (!ch)
		return shoal__fail(-ENOMEM, "channel_create: out of memory");
	ch->creator = 1;
	ch->role = opts->role;
	fill_specs(objs, ring_size);
	err = name ? create_named(ch, name, opts, objs) :
		     create_anonymous(ch, objs);
	if (!err)
		err = format(ch, opts, ring_size);
	if (!err)
		ch->lock_fd = shoal__line_lock_open(shoal_segment_fd(ch->seg),
						    "channel_create");
	if (!err && ch->lock_fd < 0)
		err = ch->lock_fd;
	if (!err)
		err = attach(ch, opts->strategy, -1);
	if (!err && !name)
		err = shoal_segment_ready(ch->seg);
	if (!err && name) {
		/* Untyped: a channel carries bytes. */
		static const struct shoal__type untyped;

		err = shoal__owner_announce(&ch->own, name,
					    SHOAL_PATTERN_CHANNEL, opts->access,
					    &untyped, NULL, 0);
	}
	if (!err)
		ch->stop = &ch->hdr->peer_left;
	SHOAL__HAND_OUT(err, ch, shoal_channel_destroy, out);
}

/* The geometry callback: the header, checked, once. */
struct ch_geometry {
	struct ch_header *hdr;
	uint32_t creator_role;
	int32_t data_fd, space_fd;
};

static int read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct ch_geometry *g = user_data;
	uint64_t size;
	void *hp;
	int err;

	err = shoal__peer_header(seg, "channel", CH_HEADER, SHOAL_OBJECT_BYTES,
				 CH_MAGIC, CH_VERSION, sizeof(*g->hdr), &hp,
				 &size);
	if (err)
		return err;
	g->hdr = hp;
	g->creator_role = SHOAL__READ_ONCE(g->hdr->creator_role);
	g->data_fd = SHOAL__READ_ONCE(g->hdr->data_fd);
	g->space_fd = SHOAL__READ_ONCE(g->hdr->space_fd);
	if (!role_ok(g->creator_role))
		return shoal__fail(-EBADMSG, "channel: bad creator role %u",
				   g->creator_role);
	return 0;
}

/* Takes line 0 (the opener's role) and says a new opener came. */
static int join(struct shoal_channel *ch, int memfd)
{
	int err = shoal__peer_claim(memfd, 0, 1, "channel_open", &ch->lock_fd);

	if (err == -EBUSY)
		return shoal__fail(-EBUSY, "channel_open: another process "
					   "holds the opener's role");
	if (err < 0)
		return err;
	atomic_store_explicit(&ch->hdr->peer_left, 0, memory_order_relaxed);
	/* Release: orders the store above before it; pairs with the acquire
	 * load of peer_gen in shoal__channel_opener_gone(). */
	atomic_fetch_add_explicit(&ch->hdr->peer_gen, 1, memory_order_release);
	ch->joined = 1;
	/* A creator asleep looks again (and finds a peer). */
	(void)shoal_notify(&ch->notifier);
	return 0;
}

static int open_common(struct shoal_channel *ch,
		       const struct shoal_channel_options *opts)
{
	int err;

	ch->epfd = shoal__epoll_new("channel_open");
	if (ch->epfd < 0)
		return ch->epfd;
	err = attach(ch, opts->strategy, ch->epfd);
	if (!err)
		err = shoal__epoll_add(ch->epfd,
				       ch->role == SHOAL_CHANNEL_SEND ?
					       ch->space_fd :
					       ch->data_fd,
				       0, "channel_open");
	if (!err && ch->svc) {
		int pidfd = shoal__peer_watch_owner(ch->svc, ch->epfd,
						    "channel_open");
		if (pidfd < 0)
			err = pidfd;
	}
	if (!err && ch->pidfd >= 0)
		err = shoal__epoll_add(ch->epfd, ch->pidfd, (uint64_t)ch->pidfd,
				       "channel_open_fds");
	if (!err)
		err = join(ch, shoal_segment_fd(ch->seg));
	ch->stop = &ch->hdr->closed;
	return err;
}

int shoal_channel_open(const char *name,
		       const struct shoal_channel_options *opts,
		       struct shoal_channel **out)
{
	struct shoal_channel_options defaults;
	struct ch_geometry g;
	struct shoal__peer_spec spec = {
		.who = "channel_open",
		.name = name,
		.pattern = SHOAL_PATTERN_CHANNEL,
		.pattern_name = "a channel",
		.geometry = read_geometry,
		.user_data = &g,
		.header = CH_HEADER,
		.closed_offset = offsetof(struct ch_header, closed),
	};
	struct shoal_channel *ch;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_channel_options_init);
	err = shoal__check_open("channel_open", name, out, 0, 0, 0);
	if (err)
		return err;
	if (!loans_ok(opts))
		return loans_fail("channel_open", opts);
	ch = channel_alloc(opts);
	if (!ch)
		return shoal__fail(-ENOMEM, "channel_open: out of memory");
	spec.timeout_ns = opts->timeout_ns;
	err = shoal__registry_use(opts->registry, &ch->reg, &ch->own_reg);
	if (!err)
		err = shoal__peer_open(ch->reg, &spec, &ch->svc);
	if (!err) {
		ch->hdr = g.hdr;
		ch->role = g.creator_role == SHOAL_CHANNEL_SEND ?
				   SHOAL_CHANNEL_RECV :
				   SHOAL_CHANNEL_SEND;
		ch->seg = shoal_service_segment(ch->svc);
		err = shoal__peer_wake_fd(ch->svc, "channel_open", FD_DATA,
					  g.data_fd, FD_DATA, &ch->data_fd);
	}
	if (!err)
		err = shoal__peer_wake_fd(ch->svc, "channel_open", FD_SPACE,
					  g.space_fd, FD_SPACE, &ch->space_fd);
	if (!err)
		err = open_common(ch, opts);
	SHOAL__HAND_OUT(err, ch, shoal_channel_close, out);
}

void shoal_channel_get_fds(const struct shoal_channel *ch,
			   struct shoal_channel_fds *fds)
{
	fds->memfd = shoal_segment_fd(ch->seg);
	fds->data_eventfd = ch->data_fd;
	fds->space_eventfd = ch->space_fd;
}

/* Duplicates an eventfd handed over, after checking it is one. */
static int dup_eventfd(int fd, const char *what, int *out)
{
	if (shoal__fd_is_eventfd(fd) != 1)
		return shoal__fail(-EINVAL,
				   "channel_open_fds: %s fd %d is not an "
				   "eventfd",
				   what, fd);
	*out = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (*out < 0)
		return shoal__fail(-errno, "channel_open_fds: %s fd %d: %s",
				   what, fd, strerror(errno));
	return 0;
}

int shoal_channel_open_fds(const struct shoal_channel_fds *fds,
			   const struct shoal_channel_options *opts,
			   struct shoal_channel **out)
{
	struct shoal_channel_options defaults;
	struct ch_geometry g;
	struct shoal_channel *ch;
	int err;

	if (!fds || !out)
		return shoal__fail(-EINVAL, "channel_open_fds: NULL argument");
	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_channel_options_init);
	if (!loans_ok(opts))
		return loans_fail("channel_open_fds", opts);
	ch = channel_alloc(opts);
	if (!ch)
		return shoal__fail(-ENOMEM, "channel_open_fds: out of memory");
	err = shoal_segment_open(fds->memfd, 0, &ch->seg);
	if (!err)
		err = read_geometry(ch->seg, &g);
	if (!err) {
		ch->hdr = g.hdr;
		ch->role = g.creator_role == SHOAL_CHANNEL_SEND ?
				   SHOAL_CHANNEL_RECV :
				   SHOAL_CHANNEL_SEND;
		err = dup_eventfd(fds->data_eventfd, "data", &ch->data_fd);
	}
	if (!err) {
		/* The creator's pid, as its header says (a hint: the header
		 * is shared memory; a wrong pid only makes us watch the wrong
		 * process). Without a pidfd, only a clean destroy is seen. */
		int32_t pid = SHOAL__READ_ONCE(g.hdr->creator_pid);

		if (pid > 0)
			ch->pidfd = shoal__pidfd_open((pid_t)pid);
	}
	if (!err)
		err = dup_eventfd(fds->space_eventfd, "space", &ch->space_fd);
	if (!err)
		err = open_common(ch, opts);
	SHOAL__HAND_OUT(err, ch, shoal_channel_close, out);
}

/* Wakes both sides' sleepers after a "left" word was stored. */
static void wake_both(struct shoal_channel *ch)
{
	int fds[2] = { ch->data_fd, ch->space_fd };

	shoal__notify_all(fds, 2);
}

void shoal_channel_destroy(struct shoal_channel *ch)
{
	if (!ch)
		return;
	if (!ch->creator) {
		shoal_channel_close(ch);
		return;
	}
	if (ch->lock_fd >= 0)
		close(ch->lock_fd);
	if (ch->anonymous) {
		if (ch->hdr) {
			/* Release: pairs with the acquire load of closed
			 * in shoal__owner_gone(); the wake's fence orders it
			 * before the eventfd writes. */
			atomic_store_explicit(&ch->hdr->closed, 1,
					      memory_order_release);
			wake_both(ch);
		}
		if (ch->space_fd >= 0)
			close(ch->space_fd);
		if (ch->data_fd >= 0)
			close(ch->data_fd);
		shoal_segment_destroy(ch->seg);
	} else {
		shoal__owner_withdraw(&ch->own,
				      ch->hdr ? &ch->hdr->closed : NULL);
		shoal__owner_fini(&ch->own);
	}
	free(ch);
}

void shoal_channel_close(struct shoal_channel *ch)
{
	if (!ch)
		return;
	if (ch->creator) {
		shoal_channel_destroy(ch);
		return;
	}
	if (ch->joined) {
		/* Release: what we did on the ring goes first; pairs with
		 * the acquire load of peer_left in shoal__channel_opener_gone(). */
		atomic_store_explicit(&ch->hdr->peer_left, 1,
				      memory_order_release);
		wake_both(ch);
	}
	if (ch->lock_fd >= 0)
		close(ch->lock_fd); /* drops the line lock */
	if (ch->epfd >= 0)
		close(ch->epfd);
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	if (ch->space_fd >= 0)
		close(ch->space_fd);
	if (ch->data_fd >= 0)
		close(ch->data_fd);
	if (ch->svc)
		shoal_service_close(ch->svc); /* unmaps, closes the pidfd */
	else
		shoal_segment_close(ch->seg);
	if (ch->own_reg)
		shoal_registry_destroy(ch->reg);
	free(ch);
}
