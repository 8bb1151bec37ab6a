/* SPDX-License-Identifier: MIT */
/*
 * Events: numbered wake-up signals between processes that know each other
 * only by a service name.
 *
 * A creator publishes an event service with a number of event ids (0..ids-1)
 * and a number of listener lines. Any process opens it by name; every handle
 * (the creator's too) may notify ids, and may listen: claim a line, say which
 * ids interest it, and wait for any of a set of them. Notifications carry no
 * data. They coalesce: two notifies of one id before a wait are reported
 * once. They are never lost: a notify of an id a listener is interested in,
 * made after its shoal_event_listen() returned, is reported by one of its
 * later waits. A busy stream of notifications costs no system call; a
 * notifier enters the kernel only to wake a listener that sleeps.
 *
 * When the creator dies or withdraws, waits report what is still pending
 * and then -EPIPE; notifies fail with -EPIPE. A listener that dies gives its
 * line back (the kernel drops its lock), and a new listener reuses it.
 *
 * See docs/event.md for the protocol and the bytes.
 *
 * Thread safety: one thread at a time per handle (open two handles to
 * notify from one thread while another waits). Progress: notify is
 * wait-free with respect to other processes (a bounded number of atomic
 * operations, and at most one eventfd write per sleeping listener it
 * wakes); wait blocks according to its strategy.
 *
 * Blocking and system calls:
 *   shoal_event_options_init, shoal_event_fd, shoal_event_epoch,
 *     shoal_event_ids, shoal_event_get_stats: neither.
 *   shoal_event_create: system calls (memfd_create, mmap, eventfds, the
 *     registry's files and locks, a helper thread that serves fds by
 *     SCM_RIGHTS); never blocks.
 *   shoal_event_open: system calls (the registry, taking the creator's
 *     fds, mmap, pidfd); waits for the name as @opts->timeout_ns says,
 *     and up to 2 s for the creator's fd server.
 *   shoal_event_destroy, shoal_event_close: system calls (withdraw the
 *     name or give the line back, unmap, close); never block.
 *   shoal_event_notify: an eventfd write per sleeping listener it wakes,
 *     none otherwise; the first wake-up of a line from an opened handle
 *     takes that line's eventfd from the creator (up to 2 s by
 *     SCM_RIGHTS). Otherwise never blocks.
 *   shoal_event_listen: system calls the first time (claiming a line: a
 *     lock, taking its eventfd); never blocks.
 *   shoal_event_wait: no system call when an id is pending; otherwise
 *     waits up to @timeout_ns with the handle's strategy.
 *   shoal_event_arm: never blocks; may make a non-blocking system call
 *     (is the creator alive?).
 *   shoal_event_disarm: a non-blocking read to drain its eventfd; never
 *     blocks.
 *   shoal_event_inspect: system calls as shoal_registry_open(), bounded
 *     by its 2 s; it does not join.
 */
#ifndef SHOAL_EVENT_H
#define SHOAL_EVENT_H

#include "common.h"
#include "notify.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most event ids one service has; ids are 0..ids-1. */
#define SHOAL_EVENT_IDS_MAX 1024u
/* Most listener lines one service has. */
#define SHOAL_EVENT_LISTENERS_MAX 1024u

/* shoal_event_options.flags */
enum {
	/* Take fds by SCM_RIGHTS only (see SHOAL_OPEN_NO_PIDFD_GETFD). */
	SHOAL_EVENT_NO_PIDFD_GETFD = 1u << 0,
};

struct shoal_event_options {
	/* Creation only: number of event ids, 1..SHOAL_EVENT_IDS_MAX;
	 * default 256. */
	uint32_t ids;
	/* Creation only: listener lines, 1..SHOAL_EVENT_LISTENERS_MAX;
	 * default 64. */
	uint32_t max_listeners;
	/* Creation only: SHOAL_ACCESS_*; default SHOAL_ACCESS_OWNER. */
	uint32_t access;
	/* How this handle's waits wait; default SHOAL_WAIT_ADAPTIVE. */
	enum shoal_wait_strategy strategy;
	uint32_t flags; /* SHOAL_EVENT_* */
	uint32_t pad;
	/* A type name recorded at creation, and checked at open when not
	 * NULL (a mismatch is -EPROTO), as every shoal pattern does. Events
	 * carry no payload: use it to name the protocol the ids belong to. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	struct shoal_registry *registry; /* NULL: the default one */
	/* Open only: no service under the name yet: 0 (default) fails with
	 * -ENOENT at once; > 0 waits up to that long for one to appear
	 * (then -ETIMEDOUT); SHOAL_WAIT_FOREVER waits as long as it takes. */
	int64_t timeout_ns;
	/* Creation only: where the service comes from, for 'shoal list'
	 * and 'shoal info' (shoal_service_spec.origin): printable ASCII, at
	 * most SHOAL_ORIGIN_MAX bytes, else -EINVAL. NULL (default): a
	 * local service. Set by stand-ins such as the NATS gateway's
	 * mirrors. */
	const char *origin;
};

/* A set of event ids: bit (id % 64) of bits[id / 64]. */
struct shoal_event_set {
	uint64_t bits[SHOAL_EVENT_IDS_MAX / 64];
};

static inline void shoal_event_set_clear(struct shoal_event_set *set)
{
	for (unsigned i = 0; i < SHOAL_EVENT_IDS_MAX / 64; i++)
		set->bits[i] = 0;
}

/* Adds @id; ids >= SHOAL_EVENT_IDS_MAX are ignored. */
static inline void shoal_event_set_add(struct shoal_event_set *set, uint32_t id)
{
	if (id < SHOAL_EVENT_IDS_MAX)
		set->bits[id / 64] |= (uint64_t)1 << (id % 64);
}

static inline void shoal_event_set_del(struct shoal_event_set *set, uint32_t id)
{
	if (id < SHOAL_EVENT_IDS_MAX)
		set->bits[id / 64] &= ~((uint64_t)1 << (id % 64));
}

/* 1 if @id is in @set, else 0. */
static inline int shoal_event_set_has(const struct shoal_event_set *set,
				      uint32_t id)
{
	return id < SHOAL_EVENT_IDS_MAX &&
	       ((set->bits[id / 64] >> (id % 64)) & 1);
}

/*
 * The next id in @set at or after @from, or -1 if none: iterate with
 * for (int id = shoal_event_set_next(&s, 0); id >= 0;
 *      id = shoal_event_set_next(&s, id + 1))
 */
static inline int shoal_event_set_next(const struct shoal_event_set *set,
				       uint32_t from)
{
	for (uint32_t id = from; id < SHOAL_EVENT_IDS_MAX; id++) {
		uint64_t w = set->bits[id / 64] >> (id % 64);

		if (!w) {
			id = (id / 64) * 64 + 63;
			continue;
		}
		while (!(w & 1)) {
			w >>= 1;
			id++;
		}
		return (int)id;
	}
	return -1;
}

/* Counters of one handle. */
struct shoal_event_stats {
	uint64_t notifies;  /* successful shoal_event_notify() calls */
	uint64_t delivered; /* pending bits those notifies newly set */
	uint64_t wakeups;   /* eventfd writes they made to sleepers */
	uint64_t waits;	    /* waits that reported ids */
	uint64_t received;  /* ids those waits reported */
	uint64_t sleeps;    /* times a wait blocked in the kernel */
	int32_t line;	    /* listener line, -1 when not listening */
	uint32_t ids;	    /* the service's number of ids */
};

struct shoal_event;

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_event_options_init(struct shoal_event_options *opts);

/*
 * shoal_event_create - create an event service and publish it under
 * @name. @opts NULL: defaults. Returns 0, -EINVAL (bad options or name,
 * with a detail), -EEXIST (a live owner holds the name), or what segment,
 * eventfd or registry calls return. Does not block.
 */
SHOAL_API int shoal_event_create(const char *name,
				 const struct shoal_event_options *opts,
				 struct shoal_event **out);
/*
 * shoal_event_destroy - withdraw a created service: every other handle's
 * waits then report -EPIPE (after what is pending), notifies -EPIPE.
 * Also closes an opened handle. NULL: no-op.
 */
SHOAL_API void shoal_event_destroy(struct shoal_event *ev);

/*
 * shoal_event_open - find event service @name and attach to it (to notify;
 * shoal_event_listen() to receive). Only strategy, flags, type_* and
 * registry of @opts are used. Returns 0, -ENOENT (no live service),
 * -EPROTO (type mismatch, naming both, or not an event service), -EBADMSG
 * (corrupt service), or what shoal_registry_open() returns.
 */
SHOAL_API int shoal_event_open(const char *name,
			       const struct shoal_event_options *opts,
			       struct shoal_event **out);
/* Detach (leaving the listener line, if any). Same as destroy for a
 * created handle. NULL: no-op. */
SHOAL_API void shoal_event_close(struct shoal_event *ev);

/*
 * shoal_event_notify - signal @id to every listener interested in it, and
 * wake those that sleep. Returns how many listener lines were signalled
 * (0 if nobody listens for @id), -EINVAL (@id >= the service's ids),
 * -EPIPE (the creator is gone), or the -errno of taking or writing a
 * listener's eventfd (the id is still pending there). Never blocks, except
 * that the first wake-up of a line from an opened handle takes that line's
 * eventfd from the creator (pidfd_getfd, or SCM_RIGHTS bounded by 2 s).
 */
SHOAL_API int shoal_event_notify(struct shoal_event *ev, uint32_t id);

/*
 * shoal_event_listen - claim a listener line (first call) and make
 * @interest its set of ids, replacing the previous one. Ids notified after
 * this returns are never lost; one notified shortly before may be reported
 * too. Returns 0, -EINVAL (an id >= the service's ids), -EBUSY (every line
 * is taken by a live listener), -EPIPE (creator gone), or -errno.
 */
SHOAL_API int shoal_event_listen(struct shoal_event *ev,
				 const struct shoal_event_set *interest);

/*
 * shoal_event_wait - wait until any id of @set (NULL: the interest set;
 * ids outside the interest set never fire) is pending, then take every
 * pending id of @set at once into *@fired (may be NULL), clearing them.
 * Other pending ids stay for later waits. Returns the number of ids
 * reported (>= 1), or:
 *   -EAGAIN     @timeout_ns was 0 and nothing is pending
 *   -ETIMEDOUT  nothing came in time (negative @timeout_ns: forever)
 *   -EPIPE      the creator is gone and nothing of @set is pending
 *   -EINVAL     not listening, an id >= the service's ids, or an empty set
 * Blocks according to the handle's strategy.
 */
SHOAL_API int shoal_event_wait(struct shoal_event *ev,
			       const struct shoal_event_set *set,
			       int64_t timeout_ns,
			       struct shoal_event_set *fired);

/*
 * For event loops: shoal_event_fd() becomes readable when a wait may
 * report something (an id of the interest set, the creator's death). Call
 * shoal_event_arm() before polling it: 1 means something is pending
 * already (do not poll), 0 means poll; -EINVAL when not listening. After
 * the poll, shoal_event_disarm(), then wait with timeout 0.
 * shoal_event_fd - the handle's pollable fd.
 * shoal_event_arm - get ready to poll: 1 (do not poll), 0 (poll), -EINVAL.
 * shoal_event_disarm - after the poll, before waiting again.
 */
SHOAL_API int shoal_event_fd(const struct shoal_event *ev);
SHOAL_API int shoal_event_arm(struct shoal_event *ev);
SHOAL_API void shoal_event_disarm(struct shoal_event *ev);

/* The creator's incarnation of the name. */
SHOAL_API uint64_t shoal_event_epoch(const struct shoal_event *ev);
/* The number of ids of the service. */
SHOAL_API uint32_t shoal_event_ids(const struct shoal_event *ev);
/* This handle's counters (struct shoal_event_stats). */
SHOAL_API void shoal_event_get_stats(const struct shoal_event *ev,
				     struct shoal_event_stats *stats);

/* What shoal_event_inspect() reports about a service. */
struct shoal_event_info {
	uint32_t ids;
	uint32_t max_listeners;
	uint32_t listeners; /* lines held by a live listener */
	uint32_t line_stride;
	uint64_t header_bytes; /* size of the creator's segment */
	uint64_t lines_bytes;  /* size of the listeners' segment */
	/* Totals over every handle (written by every process: untrusted). */
	uint64_t notifies;
	uint64_t delivered;
	uint64_t wakeups;
};

struct shoal_event_listener_info {
	uint32_t index;	    /* listener line */
	int32_t pid;	    /* as the listener wrote it (untrusted) */
	uint32_t interest;  /* ids in its interest set */
	uint32_t pending;   /* ids pending now */
	uint64_t delivered; /* pending bits notifiers set in its line */
	uint64_t wakeups;   /* eventfd writes made to it */
	uint64_t received;  /* ids its waits reported */
	uint64_t sleeps;    /* times it blocked in the kernel */
};

/*
 * shoal_event_inspect - read a live service's layout and counters without
 * joining it. Fills *info and up to @cap entries of @listeners (may be
 * NULL), one per live listener; returns how many live listeners there are
 * (which may exceed @cap), or -errno as shoal_event_open().
 */
SHOAL_API int shoal_event_inspect(struct shoal_registry *reg, const char *name,
				  struct shoal_event_info *info,
				  struct shoal_event_listener_info *listeners,
				  uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif
