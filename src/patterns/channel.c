/* SPDX-License-Identifier: MIT */
/*
 * Channel: one SPSC ring between a creator and one opener, found by name,
 * on the service layer. The creator's segment (mapped read-write by the
 * opener: both sides write the ring) holds:
 *
 *   object       kind    written by   meaning
 *   "channel"    BYTES   see below    header: geometry, closed, the peer
 *   "ring"       SPSC    both sides   the messages (see ring_spsc.c)
 *   "data_wait"  NOTIFY  receiver     receiver asleep, waiting for data
 *   "space_wait" NOTIFY  sender       sender asleep, waiting for a slot
 *
 * The registry entry hands out two eventfds by index: 0 wakes the
 * receiver (data), 1 the sender (space). The sender publishes, then
 * shoal_notify()s data_wait: one fence, and an eventfd write only if the
 * receiver sleeps; the receiver releases, then notifies space_wait. A busy
 * channel makes no system call.
 *
 * Liveness, both ways, -EPIPE instead of a hang:
 *  - the opener holds an OFD lock on byte 0 of the segment memfd (the
 *    service layer's line lock; the kernel drops it when the opener dies)
 *    and says it left by storing peer_left = 1 and waking the creator;
 *  - the creator withdraws (the closed word, a wake of both eventfds) and
 *    its pidfd is in the opener's epoll set, which the opener sleeps on.
 * The fast path loads one word (the other side's "left" word) and nothing
 * else; the liveness look (F_OFD_GETLK, or the pidfd) runs in the wait
 * predicate after a sleep, or every CHECK_EVERY calls that found nothing
 * to do. So a blocked creator learns of an opener's death within one of
 * notify's slices (SHOAL_WAIT_SLICE_NS), a blocked opener of the creator's
 * at once.
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

#define CH_MAGIC 0x4e48434c414f4853ULL /* "SHOALCHN" */
#define CH_VERSION 1
#define CH_HEADER "channel"
#define FD_DATA 0  /* extra fd index: the receiver's eventfd */
#define FD_SPACE 1 /* the sender's */
/* Calls that found nothing to do between two liveness looks. */
#define CHECK_EVERY 4096

struct ch_header {
	/* Line 0: written by the creator before the segment is READY, never
	 * again; the opener reads it once and checks it. */
	uint64_t magic;	       /* CH_MAGIC */
	uint32_t version;      /* CH_VERSION */
	uint32_t creator_role; /* enum shoal_channel_role */
	int32_t data_fd;       /* the creator's fd numbers of the eventfds */
	int32_t space_fd;
	int32_t creator_pid; /* for the anonymous form's opener only */
	uint8_t pad0[36];
	/* Line 1: written by the creator once, when it withdraws (release,
	 * then a wake of both eventfds); acquire-loaded by the opener. */
	_Atomic uint32_t closed;
	uint8_t pad1[60];
	/* Line 2: written by the opener (a joining one stores 0 to
	 * peer_left, then bumps peer_gen; a leaving one stores 1 to
	 * peer_left); acquire-loaded by the creator. */
	_Atomic uint32_t peer_gen;
	_Atomic uint32_t peer_left;
	uint8_t pad2[56];
};
_Static_assert(sizeof(struct ch_header) == 3 * 64, "channel header");

struct shoal_channel {
	/* Hot: the ring end, the stop word, the wake-up halves. */
	struct shoal_spsc_producer prod; /* sender only */
	struct shoal_spsc_consumer cons; /* receiver only */
	const _Atomic uint32_t *stop;	 /* nonzero: the other side left */
	void *loan;			 /* the slot loaned, or NULL */
	const void *held;		 /* the message taken, or NULL */
	uint64_t messages;
	uint32_t idle;			/* empty-handed calls since a look */
	int gone;			/* sticky for this peer (generation) */
	struct shoal_waiter waiter;	/* data (receiver) or space (sender) */
	struct shoal_notifier notifier; /* the other side's word */
	enum shoal_channel_role role;
	int creator;
	int64_t send_timeout_ns;
	struct ch_header *hdr;
	struct shoal_segment *seg; /* the creator's or the opener's map */
	int data_fd, space_fd;
	int lock_fd; /* opener: holds line 0; creator: asks about it */
	/* Creator */
	struct shoal__owner own; /* named */
	int anonymous;
	uint32_t peer_seen; /* peer_gen when gone was last decided */
	uint64_t slept_seen;
	/* Opener */
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc; /* named; NULL for open_fds */
	struct shoal__owner_watch ow;
	int epfd;
	int joined; /* holds line 0: its close says it left */
	int pidfd;  /* open_fds: the creator's, from the header; else -1 */
	uint64_t pid_seen;
};

void shoal_channel_options_init(struct shoal_channel_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = 1024;
	opts->slot_size = 1024;
	opts->role = SHOAL_CHANNEL_SEND;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
	opts->send_timeout_ns = SHOAL_WAIT_FOREVER;
}

static int role_ok(enum shoal_channel_role role)
{
	return role == SHOAL_CHANNEL_SEND || role == SHOAL_CHANNEL_RECV;
}

static struct shoal_channel *
channel_alloc(const struct shoal_channel_options *o)
{
	struct shoal_channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->data_fd = ch->space_fd = ch->lock_fd = ch->epfd = ch->pidfd = -1;
	ch->send_timeout_ns = o->send_timeout_ns;
	shoal__owner_init(&ch->own);
	return ch;
}

/* ------------------------------------------------------------------------
 * Liveness
 */

/* The creator's look at the opener: 0 before one came or while it is
 * there, 1 once it left or died (per generation: a new opener clears it). */
static int opener_gone(struct shoal_channel *ch, int force)
{
	/* Acquire: pairs with the release increment in join(), so the
	 * peer_left store before it is seen. */
	uint32_t gen =
		atomic_load_explicit(&ch->hdr->peer_gen, memory_order_acquire);

	if (gen == 0)
		return 0; /* nobody came yet: wait for one */
	if (gen != ch->peer_seen) {
		ch->peer_seen = gen;
		ch->gone = 0;
	}
	if (ch->gone)
		return 1;
	/* Acquire: pairs with the release store in shoal_channel_close(),
	 * so what the opener did on the ring before is seen. */
	if (atomic_load_explicit(&ch->hdr->peer_left, memory_order_acquire))
		return ch->gone = 1;
	if (force || shoal__waiter_slept(&ch->waiter, &ch->slept_seen))
		if (!shoal__line_locked(ch->lock_fd, 0))
			return ch->gone = 1;
	return 0;
}

/* 1 if the process behind @pidfd has exited (it polls readable). */
static int pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* 1 once the other side left or died. */
static int peer_gone(struct shoal_channel *ch, int force)
{
	if (ch->creator)
		return opener_gone(ch, force);
	if (ch->gone)
		return 1;
	if (shoal__owner_gone(&ch->ow, &ch->hdr->closed, ch->svc,
			      shoal__waiter_sleeps(&ch->waiter), force))
		ch->gone = 1;
	else if (ch->pidfd >= 0 &&
		 (force || shoal__waiter_slept(&ch->waiter, &ch->pid_seen)))
		ch->gone = pidfd_exited(ch->pidfd);
	return ch->gone;
}

/* Empty-handed call: look at the peer every CHECK_EVERY of them, so a
 * poller (timeout 0) also learns of a death without a system call each. */
static int idle_gone(struct shoal_channel *ch)
{
	if (++ch->idle < CHECK_EVERY)
		return peer_gone(ch, 0);
	ch->idle = 0;
	return peer_gone(ch, 1);
}

static int pipe_err(const char *who)
{
	return shoal__fail(-EPIPE, "%s: the other side left or died", who);
}

/* Wait predicates: progress, or the peer gone (then the call answers). */
static int can_send(void *arg)
{
	struct shoal_channel *ch = arg;

	return shoal_spsc_writable(&ch->prod) || peer_gone(ch, 0);
}

static int can_take(void *arg)
{
	struct shoal_channel *ch = arg;

	return shoal_spsc_readable(&ch->cons) || peer_gone(ch, 0);
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

	if (!opts) {
		shoal_channel_options_init(&defaults);
		opts = &defaults;
	}
	if (!out || !role_ok(opts->role))
		return shoal__fail(-EINVAL, "channel_create: bad role or NULL");
	if (name && strlen(name) > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "channel_create: name too long");
	ring_size = ring_bytes(opts);
	if (!ring_size)
		return shoal__fail(
			-EINVAL,
			"channel_create: capacity %u must be a power "
			"of two in 2..%u, slot size 1..%u",
			opts->capacity, SHOAL_SPSC_CAPACITY_MAX,
			SHOAL_SPSC_SLOT_MAX);
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
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_channel_destroy(ch);
		return shoal__detail_fail(&d, err);
	}
	ch->stop = &ch->hdr->peer_left;
	*out = ch;
	return 0;
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
	 * load of peer_gen in opener_gone(). */
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

static int finish_open(struct shoal_channel *ch, int err,
		       struct shoal_channel **out)
{
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_channel_close(ch);
		return shoal__detail_fail(&d, err);
	}
	*out = ch;
	return 0;
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

	if (!name || !out)
		return shoal__fail(-EINVAL, "channel_open: NULL argument");
	if (strlen(name) > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "channel_open: name too long");
	if (!opts) {
		shoal_channel_options_init(&defaults);
		opts = &defaults;
	}
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
	return finish_open(ch, err, out);
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
	if (!opts) {
		shoal_channel_options_init(&defaults);
		opts = &defaults;
	}
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
	return finish_open(ch, err, out);
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
		 * the acquire load of peer_left in opener_gone(). */
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

/* ------------------------------------------------------------------------
 * The data path
 */

static int wrong_role(const char *call)
{
	return shoal__fail(-EBADF, "%s: wrong role for this handle", call);
}

/*
 * The wake-up after a message went in or out. Its failure (only under
 * injected faults) is not the call's: the message moved, and reporting an
 * error would make a caller send it twice. notify leaves the sleeper's flag
 * set, so the next call wakes it, and a blocked peer re-checks within a
 * sleep slice.
 */
static inline void woke_after(struct shoal_channel *ch)
{
	/* shoal_notify()'s full fence, between the caller's commit or
	 * release (the ring's release store of its position) and the load
	 * of the peer's sleeping flag, pairs with the peer's fence in
	 * shoal_waiter_arm() between setting that flag and re-checking the
	 * ring: it sees the change, or we see it asleep and write its
	 * eventfd. */
	(void)shoal_notify(&ch->notifier);
}

/* Acquire: pairs with the release store of the word (closed in
 * shoal__owner_withdraw / destroy, peer_left in close). */
static inline int stopped(const struct shoal_channel *ch)
{
	return atomic_load_explicit(ch->stop, memory_order_acquire) != 0;
}

/* The sender's wait for a slot: send_timeout_ns, -EPIPE if the receiver
 * goes. 0 when a slot is free. */
static int wait_room(struct shoal_channel *ch, const char *who)
{
	int64_t t = ch->send_timeout_ns;
	int err;

	for (;;) {
		if (peer_gone(ch, 0))
			return pipe_err(who);
		if (shoal_spsc_writable(&ch->prod))
			return 0;
		if (t == 0) {
			if (idle_gone(ch))
				return pipe_err(who);
			return -EAGAIN;
		}
		err = shoal_wait(&ch->waiter, can_send, ch, t);
		if (err == -ETIMEDOUT)
			return shoal__fail(-ETIMEDOUT, "%s: no room came", who);
		if (err)
			return err;
		/* Once per blocking call: look for real after the wait. */
		if (!shoal_spsc_writable(&ch->prod) && peer_gone(ch, 1))
			return pipe_err(who);
		t = t > 0 ? 0 : t; /* a positive budget is spent by one wait */
	}
}

int shoal_channel_loan(struct shoal_channel *ch, uint32_t size, void **ptr)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_loan");
	if (ch->loan)
		return shoal__fail(-EBUSY, "channel_loan: a loan is out");
	if (size > shoal_spsc_slot_size(&ch->prod))
		return shoal__fail(-EMSGSIZE,
				   "channel_loan: %u bytes > slot %u", size,
				   shoal_spsc_slot_size(&ch->prod));
	if (__builtin_expect(stopped(ch), 0) && peer_gone(ch, 1))
		return pipe_err("channel_loan");
	err = shoal_spsc_claim(&ch->prod, ptr);
	if (err == -EAGAIN) {
		err = wait_room(ch, "channel_loan");
		if (!err)
			err = shoal_spsc_claim(&ch->prod, ptr);
	}
	if (!err)
		ch->loan = *ptr;
	return err;
}

int shoal_channel_send(struct shoal_channel *ch, void *ptr, uint32_t len)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_send");
	if (!ptr || ptr != ch->loan)
		return shoal__fail(-EINVAL,
				   "channel_send: not the loaned slot");
	err = shoal_spsc_commit(&ch->prod, len);
	if (err)
		return err; /* -EMSGSIZE: the loan stays */
	ch->loan = NULL;
	ch->messages++;
	woke_after(ch);
	return 0;
}

int shoal_channel_abort(struct shoal_channel *ch, void *ptr)
{
	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_abort");
	if (!ptr || ptr != ch->loan)
		return shoal__fail(-EINVAL,
				   "channel_abort: not the loaned slot");
	shoal_spsc_abort(&ch->prod);
	ch->loan = NULL;
	return 0;
}

int shoal_channel_write(struct shoal_channel *ch, const void *data,
			uint32_t len)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_write");
	if (ch->loan)
		return shoal__fail(-EBUSY, "channel_write: a loan is out");
	if (__builtin_expect(stopped(ch), 0) && peer_gone(ch, 1))
		return pipe_err("channel_write");
	/* Fast path first: a free slot needs no wait machinery. */
	err = shoal_spsc_push(&ch->prod, data, len);
	if (err == -EAGAIN) {
		err = wait_room(ch, "channel_write");
		if (!err)
			err = shoal_spsc_push(&ch->prod, data, len);
	}
	if (err)
		return err;
	ch->messages++;
	woke_after(ch);
	return 0;
}

/* The receiver's wait for a message: @timeout_ns; after the sender went,
 * what it sent is still taken, then -EPIPE. 0 when one is there. */
static int wait_data(struct shoal_channel *ch, int64_t timeout_ns,
		     const char *who)
{
	int err;

	if (shoal_spsc_readable(&ch->cons))
		return 0;
	if (timeout_ns == 0) {
		if (idle_gone(ch) && !shoal_spsc_readable(&ch->cons))
			return pipe_err(who);
		return -EAGAIN;
	}
	if (peer_gone(ch, 0) && !shoal_spsc_readable(&ch->cons))
		return pipe_err(who);
	err = shoal_wait(&ch->waiter, can_take, ch, timeout_ns);
	if (err == -ETIMEDOUT)
		return shoal__fail(-ETIMEDOUT, "%s: nothing came", who);
	if (err)
		return err;
	/* Acquire inside: readable() re-reads the head after the gone
	 * check, so a message sent just before the sender left is taken. */
	if (!shoal_spsc_readable(&ch->cons)) {
		if (peer_gone(ch, 1) && !shoal_spsc_readable(&ch->cons))
			return pipe_err(who);
		return -EAGAIN; /* cannot happen: the predicate held */
	}
	return 0;
}

int shoal_channel_take(struct shoal_channel *ch, struct shoal_msg *msg,
		       int64_t timeout_ns)
{
	const void *data;
	uint32_t len;
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_take");
	if (ch->held)
		return shoal__fail(-EBUSY, "channel_take: a message is held");
	err = shoal_spsc_peek(&ch->cons, &data, &len);
	if (err == -EAGAIN) {
		err = wait_data(ch, timeout_ns, "channel_take");
		if (!err)
			err = shoal_spsc_peek(&ch->cons, &data, &len);
	}
	if (err)
		return err;
	memset(msg, 0, sizeof(*msg));
	msg->data = data;
	msg->len = len;
	msg->seq = ch->messages;
	ch->held = data;
	return 0;
}

int shoal_channel_release(struct shoal_channel *ch, struct shoal_msg *msg)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_release");
	if (!msg || !ch->held || msg->data != ch->held)
		return shoal__fail(-EINVAL,
				   "channel_release: not the message held");
	err = shoal_spsc_release(&ch->cons);
	if (err)
		return err;
	ch->held = NULL;
	ch->messages++;
	msg->data = NULL;
	woke_after(ch);
	return 0;
}

ssize_t shoal_channel_read(struct shoal_channel *ch, void *buf, size_t cap,
			   int64_t timeout_ns)
{
	ssize_t n;
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_read");
	if (ch->held)
		return shoal__fail(-EBUSY, "channel_read: a message is held");
	n = shoal_spsc_pop(&ch->cons, buf, cap);
	if (n == -EAGAIN) {
		err = wait_data(ch, timeout_ns, "channel_read");
		if (err)
			return err;
		n = shoal_spsc_pop(&ch->cons, buf, cap);
	}
	if (n < 0)
		return n;
	ch->messages++;
	/* A slot came free: wake a sender waiting for room. */
	woke_after(ch);
	return n;
}

struct shoal_spsc_producer *shoal_channel_producer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_SEND ? &ch->prod : NULL;
}

struct shoal_spsc_consumer *shoal_channel_consumer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_RECV ? &ch->cons : NULL;
}

int shoal_channel_wake(struct shoal_channel *ch)
{
	int err = shoal_notify(&ch->notifier); /* fence: see woke_after() */

	return err < 0 ? err : 0;
}

int shoal_channel_fd(const struct shoal_channel *ch)
{
	return shoal_waiter_fd(&ch->waiter);
}

int shoal_channel_arm(struct shoal_channel *ch)
{
	int r = ch->role == SHOAL_CHANNEL_SEND ?
			shoal_waiter_arm(&ch->waiter, can_send, ch) :
			shoal_waiter_arm(&ch->waiter, can_take, ch);

	if (!r)
		return 0;
	if (ch->role == SHOAL_CHANNEL_SEND ? shoal_spsc_writable(&ch->prod) :
					     shoal_spsc_readable(&ch->cons))
		return -EAGAIN;
	return pipe_err("channel_arm");
}

void shoal_channel_disarm(struct shoal_channel *ch)
{
	shoal_waiter_disarm(&ch->waiter);
}

void shoal_channel_get_stats(const struct shoal_channel *ch,
			     struct shoal_channel_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->role = ch->role;
	if (ch->creator) {
		uint32_t gen = ch->hdr ? SHOAL__READ_ONCE(ch->hdr->peer_gen) :
					 0;

		/* As last seen: a new generation is a new opener. */
		st->peer = gen && !stopped(ch) &&
			   (gen != ch->peer_seen || !ch->gone);
	} else {
		st->peer = !ch->gone && !stopped(ch);
	}
	st->messages = ch->messages;
	st->wakeups = shoal_notifier_wakeups(&ch->notifier);
	st->sleeps = shoal_waiter_sleeps(&ch->waiter);
	if (ch->role == SHOAL_CHANNEL_SEND) {
		st->capacity = shoal_spsc_capacity(&ch->prod);
		st->slot_size = shoal_spsc_slot_size(&ch->prod);
	} else {
		/* No accessor on the consumer side yet: the fields this
		 * library set at consumer_init from the validated ring. */
		st->capacity = ch->cons.priv_mask + 1;
		st->slot_size = ch->cons.priv_slot_size;
	}
}
