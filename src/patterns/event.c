/* SPDX-License-Identifier: MIT */
/*
 * Events: numbered, coalescing wake-ups between processes, on pub/sub's
 * machinery (segments, registry extra fds, OFD-locked lines, the sleep
 * protocol of notify.c, pidfd liveness). docs/event.md has it in full.
 *
 * The protocol, in brief:
 *  - The creator owns two segments: its own (configuration and the fd
 *    numbers of the lines' eventfds; peers map it read-only) and the
 *    listeners' (every process writes it): an interest table with one row
 *    of listener bits per id, and one line per listener holding its
 *    pending bitmap, its interest bitmap and its sleeping flag.
 *  - A listener claims line i by an OFD lock on byte i of the listeners'
 *    memfd, wipes what a dead predecessor left, clears the pending bits of
 *    the ids it adds, then sets its bit in their rows.
 *  - notify(id): for every listener bit in row id, fetch_or the id's bit
 *    into that line's pending word (release); then one full fence; then for
 *    each such line, if its sleeping flag is set, take it (exchange 0) and
 *    write the line's eventfd. No listener asleep: no system call.
 *  - wait(set): clears the set's pending bits with one fetch_and per word
 *    (acquire) and reports the bits that were set. A notify whose fetch_or
 *    comes after that fetch_and leaves its bit for the next wait: nothing
 *    is lost, and repeats before a wait coalesce into one bit.
 *  - Sleeping is notify.c's Dekker pattern on the line's flag: set it,
 *    fence, re-check pending, then sleep on an epoll set holding the line's
 *    eventfd and (for peers) the creator's pidfd.
 * Everything read from the listeners' segment is untrusted: row bits past
 * the limit are ignored, every index is checked before use, and reports
 * are filtered through the listener's own (local) interest set, so a
 * hostile peer can cause spurious or missing wake-ups, never an access
 * outside the objects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shoal/event.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "service/service.h"
#include "patterns/event_internal.h"

#define DEFAULT_IDS 256
#define DEFAULT_LISTENERS 64
#define SET_WORDS (SHOAL_EVENT_IDS_MAX / 64)
/* Readiness checks (spinning) or notifies between looks at the creator's
 * pidfd, so polling never costs a system call per call. */
#define PID_CHECK_EVERY 4096

struct shoal_event {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	int creator;
	enum shoal_wait_strategy strategy;
	uint64_t epoch;

	/* Creator: registry, segments, entry, line eventfds (service.h). */
	struct shoal__owner own;
	/* Peer: its registry, the opened service (owns the creator's
	 * segment's mapping and the pidfd), the listeners' segment, and the
	 * line eventfds taken so far (-1: not yet). */
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc;
	int pidfd;
	struct shoal_segment *peer_lines_seg;
	int *peer_fds;

	/* Both: the listeners' segment and the validated geometry. */
	struct shoal_segment *lines_seg;
	struct shoal__event_header *hdr;
	struct shoal__event_lines_header *lh;
	_Atomic uint64_t *table;
	uint8_t *lines;
	/* The configuration, in the struct peers validate it into: the
	 * creator writes the header from it (shoal__owner_config()), a peer
	 * reads it (g.hdr is hdr). */
	struct event_geometry g;
	uint32_t words, row_words;
	/* Each line's eventfd; the creator's own, a peer's taken on first
	 * use (-1 until then). */
	int *wake_fds;
	uint32_t *touched; /* lines one notify signalled */

	int epfd;
	struct shoal__owner_watch ow; /* peer: the creator died or withdrew */

	/* Listening. */
	int listening;
	uint32_t index;
	struct shoal__event_line *line;
	int lock_fd; /* our own open file description: holds the line */
	uint64_t interest[SET_WORDS];
	uint64_t want[SET_WORDS]; /* what the current wait or arm waits for */
	struct shoal_waiter waiter;

	struct shoal_event_stats st;
};

static struct shoal__event_line *line_at(const struct shoal_event *ev,
					 uint32_t i)
{
	return (struct shoal__event_line *)(ev->lines +
					    (uint64_t)i * ev->g.stride);
}

/* What follows from the configuration (ev->g, set or validated). */
static void set_words(struct shoal_event *ev)
{
	ev->words = shoal__event_words(ev->g.ids);
	ev->row_words = shoal__event_row_words(ev->g.max);
}

/* Points the handle at the listeners' object @p (validated size). */
static void set_lines(struct shoal_event *ev, void *p)
{
	ev->lh = p;
	ev->table = (_Atomic uint64_t *)(ev->lh + 1);
	ev->lines = (uint8_t *)(ev->lh + 1) +
		    shoal__event_table_bytes(ev->g.ids, ev->g.max);
}

static const struct shoal_event_options defaults = {
	.ids = DEFAULT_IDS,
	.max_listeners = DEFAULT_LISTENERS,
	.access = SHOAL_ACCESS_OWNER,
	.strategy = SHOAL_WAIT_ADAPTIVE,
};

void shoal_event_options_init(struct shoal_event_options *opts)
{
	*opts = defaults;
}

/* The checks of create and open (struct shoal__maker). */
static int check_open(const char *who, const char *name, const void *out,
		      const void *opts)
{
	const struct shoal_event_options *o = opts;

	return shoal__check_open(who, name, out, o->flags,
				 SHOAL_EVENT_NO_PIDFD_GETFD, (int)o->strategy);
}

/* The common part of create and open: the fields, the epoll set. */
static int new_handle(struct shoal_event *ev, const char *name,
		      const struct shoal_event_options *o)
{
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	ev->strategy = o->strategy ? o->strategy : SHOAL_WAIT_ADAPTIVE;
	ev->pidfd = ev->lock_fd = -1;
	ev->st.line = -1;
	ev->ow.every = PID_CHECK_EVERY;
	ev->epfd = shoal__epoll_new("event");
	return ev->epfd < 0 ? ev->epfd : 0;
}

static void hand_out(void *out, void *ev)
{
	*(struct shoal_event **)out = ev;
}

/* ------------------------------------------------------------------------
 * Creator
 */

static int create_service(struct shoal_event *ev, const char *name,
			  struct shoal_registry *registry, const char *origin)
{
	struct shoal_object_spec hdr = { SHOAL__EVENT_HEADER_OBJECT,
					 SHOAL__OBJECT_EVENT_HEADER, 64,
					 event_header_bytes(ev->g.max) };
	struct shoal_object_spec lines = {
		SHOAL__EVENT_LINES_OBJECT, SHOAL__OBJECT_EVENT_HEADER, 64,
		event_lines_bytes(ev->g.ids, ev->g.max)
	};
	struct shoal__owner_spec spec = shoal__owner_spec_lines(
		name, registry, ev->g.max, &hdr, 1, &lines, 1);
	int err;

	spec.origin = origin;

	ev->touched = malloc(sizeof(uint32_t) * ev->g.max);
	if (!ev->touched)
		return shoal__fail(-ENOMEM, "event: out of memory");
	err = shoal__owner_create(&ev->own, &spec);
	if (err)
		return err;
	ev->wake_fds = ev->own.wake_fds;
	ev->lines_seg = ev->own.lines_seg;
	ev->epoch = ev->own.epoch;
	ev->hdr = shoal__owner_object(ev->own.seg, SHOAL__EVENT_HEADER_OBJECT);
	set_lines(ev, shoal__owner_object(ev->lines_seg,
					  SHOAL__EVENT_LINES_OBJECT));
	return 0;
}

static void format(struct shoal_event *ev)
{
	ev->g.hdr = ev->hdr;
	ev->g.lines_memfd = shoal_segment_fd(ev->lines_seg);
	shoal__owner_config(&shoal__event_config, ev->hdr, &ev->g);
	shoal__owner_fd_numbers(&ev->own, event_fd_table(ev->hdr));
	ev->lh->magic = SHOAL__EVENT_LINES_MAGIC;
	ev->lh->ids = ev->g.ids;
	ev->lh->max_listeners = ev->g.max;
}

static int check_create(const char *who, const char *name, const void *out,
			const void *opts)
{
	const struct shoal_event_options *o = opts;
	int err = check_open(who, name, out, opts);

	if (err)
		return err;
	if (o->ids == 0 || o->ids > SHOAL_EVENT_IDS_MAX)
		return shoal__fail(-EINVAL, "%s: ids %u not in 1..%u", who,
				   o->ids, SHOAL_EVENT_IDS_MAX);
	if (o->max_listeners == 0 ||
	    o->max_listeners > SHOAL_EVENT_LISTENERS_MAX)
		return shoal__fail(-EINVAL, "%s: max_listeners %u not in 1..%u",
				   who, o->max_listeners,
				   SHOAL_EVENT_LISTENERS_MAX);
	return 0;
}

static int create(void *h, const char *name, const void *opts)
{
	struct shoal_event *ev = h;
	const struct shoal_event_options *o = opts;
	int err;

	ev->creator = 1;
	err = new_handle(ev, name, o);
	ev->g.ids = o->ids;
	ev->g.max = o->max_listeners;
	ev->g.stride = shoal__event_line_stride(ev->g.ids);
	ev->st.ids = ev->g.ids;
	set_words(ev);
	if (!err)
		err = create_service(ev, name, o->registry, o->origin);
	if (err)
		return err;
	format(ev);
	return shoal__owner_announce(&ev->own, name, SHOAL_PATTERN_EVENT,
				     o->access, &SHOAL__TYPE_OF(o), NULL, 0);
}

static void undo_create(void *ev)
{
	shoal_event_destroy(ev);
}

static const struct shoal__maker creator = {
	"event_create", sizeof(struct shoal_event),
	&defaults,	check_create,
	create,		undo_create,
	hand_out
};

int shoal_event_create(const char *name, const struct shoal_event_options *opts,
		       struct shoal_event **out)
{
	return shoal__make(&creator, name, opts, out);
}

/* ------------------------------------------------------------------------
 * Peer
 */

static int attach(struct shoal_event *ev, uint32_t oflags,
		  const struct shoal__type *type, int64_t timeout_ns)
{
	struct shoal__peer_spec spec = shoal__peer_spec_of(
		&shoal__event_pattern, "event", ev->name,
		oflags | SHOAL_OPEN_READ_ONLY, type, timeout_ns, &ev->g);
	struct shoal_service_info info;
	void *lines;
	int err;

	err = shoal__peer_open(ev->reg, &spec, &ev->svc);
	if (!err)
		err = shoal__event_map_lines(ev->svc, &ev->g, 0,
					     &ev->peer_lines_seg, &lines);
	if (err)
		return err;
	ev->lines_seg = ev->peer_lines_seg;
	ev->hdr = ev->g.hdr;
	set_words(ev);
	set_lines(ev, lines);
	shoal_service_get_info(ev->svc, &info);
	ev->epoch = info.epoch;
	ev->peer_fds = malloc(sizeof(int) * ev->g.max);
	ev->touched = malloc(sizeof(uint32_t) * ev->g.max);
	for (uint32_t i = 0; ev->peer_fds && i < ev->g.max; i++)
		ev->peer_fds[i] = -1;
	if (!ev->peer_fds || !ev->touched)
		return shoal__fail(-ENOMEM, "event: out of memory");
	ev->wake_fds = ev->peer_fds;
	ev->pidfd = shoal__peer_watch_owner(ev->svc, ev->epfd, "event");
	return ev->pidfd < 0 ? ev->pidfd : 0;
}

static int open_peer(void *h, const char *name, const void *opts)
{
	struct shoal_event *ev = h;
	const struct shoal_event_options *o = opts;
	struct shoal__type type = SHOAL__TYPE_OF(o);
	int err = new_handle(ev, name, o);

	if (!err)
		err = shoal__registry_use(o->registry, &ev->reg, &ev->own_reg);
	if (!err)
		err = attach(ev,
			     (o->flags & SHOAL_EVENT_NO_PIDFD_GETFD) ?
				     SHOAL_OPEN_NO_PIDFD_GETFD :
				     0,
			     &type, o->timeout_ns);
	ev->st.ids = ev->g.ids;
	return err;
}

static void undo_open(void *ev)
{
	shoal_event_close(ev);
}

static const struct shoal__maker opener = {
	"event_open", sizeof(struct shoal_event),
	&defaults,    check_open,
	open_peer,    undo_open,
	hand_out
};

int shoal_event_open(const char *name, const struct shoal_event_options *opts,
		     struct shoal_event **out)
{
	return shoal__make(&opener, name, opts, out);
}

/* ------------------------------------------------------------------------
 * Both: closing, liveness, the wake fds
 */

static void set_row_bit(struct shoal_event *ev, uint32_t id, int on)
{
	_Atomic uint64_t *w =
		&ev->table[(uint64_t)id * ev->row_words + ev->index / 64];
	uint64_t bit = (uint64_t)1 << (ev->index % 64);

	/* seq_cst: a notifier that loads the row after this sees us; one
	 * that loaded it before made its notify before we listened. The
	 * release half pairs with the notifier's acquire load of the row in
	 * shoal_event_notify(): our clearing of stale pending bits before
	 * this comes before its fetch_or of a new one. */
	if (on)
		atomic_fetch_or_explicit(w, bit, memory_order_seq_cst);
	else
		atomic_fetch_and_explicit(w, ~bit, memory_order_seq_cst);
}

/* Gives the listener line back: out of every row, FREE, unlocked. */
static void leave(struct shoal_event *ev)
{
	if (!ev->listening)
		return;
	for (uint32_t id = 0; id < ev->g.ids; id++)
		if ((ev->interest[id / 64] >> (id % 64)) & 1)
			set_row_bit(ev, id, 0);
	/* Release: pairs with the acquire load of state in
	 * shoal_event_inspect(). */
	atomic_store_explicit(&ev->line->state, SHOAL__EVENT_LINE_FREE,
			      memory_order_release);
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, ev->wake_fds[ev->index], NULL);
	close(ev->lock_fd); /* drops the OFD lock */
	ev->lock_fd = -1;
	ev->listening = 0;
	ev->line = NULL;
	ev->st.line = -1;
}

void shoal_event_destroy(struct shoal_event *ev)
{
	if (!ev)
		return;
	if (!ev->creator) {
		shoal_event_close(ev);
		return;
	}
	leave(ev);
	/* Withdraw, say so and wake every sleeper to see it. */
	shoal__owner_withdraw(&ev->own, ev->hdr ? &ev->hdr->closed : NULL);
	shoal__owner_fini(&ev->own);
	if (ev->epfd >= 0)
		close(ev->epfd);
	free(ev->touched);
	free(ev);
}

void shoal_event_close(struct shoal_event *ev)
{
	if (!ev)
		return;
	if (ev->creator) {
		shoal_event_destroy(ev);
		return;
	}
	leave(ev);
	for (uint32_t i = 0; ev->peer_fds && i < ev->g.max; i++)
		if (ev->peer_fds[i] >= 0)
			close(ev->peer_fds[i]);
	shoal_segment_close(ev->peer_lines_seg);
	shoal_service_close(ev->svc); /* closes the pidfd */
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->own_reg)
		shoal_registry_destroy(ev->reg);
	free(ev->peer_fds);
	free(ev->touched);
	free(ev);
}

/* 1 once the creator withdrew or died (never for the creator itself).
 * Looks at the pidfd only every PID_CHECK_EVERY calls, after a sleep (its
 * pidfd is in the set slept on), or when @force. */
static int creator_gone(struct shoal_event *ev, int force)
{
	if (ev->creator)
		return 0;
	return shoal__owner_gone(&ev->ow, &ev->hdr->closed, ev->svc,
				 shoal__waiter_sleeps(&ev->waiter), force);
}

/* Line @i's eventfd: the creator's own, or taken from it once. */
static int wake_fd(struct shoal_event *ev, uint32_t i, int *out)
{
	int32_t owner_fd;
	int fd = -1, err;

	if (ev->wake_fds[i] >= 0) {
		*out = ev->wake_fds[i];
		return 0;
	}
	owner_fd = SHOAL__READ_ONCE(event_fd_table(ev->hdr)[i]);
	err = shoal__peer_wake_fd(ev->svc, "event", SHOAL__EXTRA_WAKE_FD(i),
				  owner_fd, i, &fd);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	ev->wake_fds[i] = fd;
	*out = fd;
	return 0;
}

/* ------------------------------------------------------------------------
 * Notify
 */

int shoal_event_notify(struct shoal_event *ev, uint32_t id)
{
	_Atomic uint64_t *row;
	uint64_t bit = (uint64_t)1 << (id % 64);
	uint32_t n = 0, delivered = 0;
	int first_err = 0;

	if (id >= ev->g.ids)
		return shoal__fail(-EINVAL,
				   "event: id %u out of range (the service "
				   "has %u)",
				   id, ev->g.ids);
	if (creator_gone(ev, 0))
		return shoal__fail(-EPIPE, "event: '%s': creator gone",
				   ev->name);
	row = &ev->table[(uint64_t)id * ev->row_words];
	for (uint32_t w = 0; w < ev->row_words; w++) {
		/* Acquire: pairs with the seq_cst fetch_or in a listener's
		 * set_row_bit(), so our fetch_or of its pending bit below
		 * comes after its clearing of stale ones. */
		uint64_t bits =
			atomic_load_explicit(&row[w], memory_order_acquire);

		while (bits) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
			struct shoal__event_line *l;
			uint64_t old;

			bits &= bits - 1;
			if (i >= ev->g.max)
				break; /* untrusted bits past the limit */
			l = line_at(ev, i);
			/* Release: what the caller wrote before notifying
			 * is visible to the wait that takes this bit (its
			 * acquire fetch_and). */
			old = atomic_fetch_or_explicit(
				&line_pending(l)[id / 64], bit,
				memory_order_release);
			if (!(old & bit)) {
				delivered++;
				atomic_fetch_add_explicit(&l->delivered, 1,
							  memory_order_relaxed);
			}
			ev->touched[n++] = i;
		}
	}
	/* One notify fence for every listener touched: orders the pending
	 * bits above before the loads of the sleeping marks below; pairs with
	 * the listener's fence between setting its mark and re-checking
	 * pending (shoal_waiter_arm). */
	shoal__notify_fence();
	for (uint32_t k = 0; k < n; k++) {
		struct shoal__event_line *l = line_at(ev, ev->touched[k]);
		int fd, err;

		/* Of the notifies made while the listener sleeps, only the
		 * first takes its mark and enters the kernel. */
		if (!shoal__notify_take(&l->sleeping, 0))
			continue;
		err = wake_fd(ev, ev->touched[k], &fd);
		if (!err)
			err = shoal__eventfd_wake(fd);
		if (err) {
			/* The mark goes back: the next notify tries again
			 * (and a sleeper re-checks within a slice). */
			shoal__notify_give_back(&l->sleeping, 0);
			if (!first_err)
				first_err = err;
			continue;
		}
		ev->st.wakeups++;
		atomic_fetch_add_explicit(&l->wakeups, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ev->lh->wakeups, 1,
					  memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&ev->lh->notifies, 1, memory_order_relaxed);
	if (delivered)
		atomic_fetch_add_explicit(&ev->lh->delivered, delivered,
					  memory_order_relaxed);
	ev->st.delivered += delivered;
	if (first_err)
		return first_err;
	ev->st.notifies++;
	return (int)n;
}

/* ------------------------------------------------------------------------
 * Listen and wait
 */

/* Checks that @set names only ids below ev->g.ids. */
static int check_set(const struct shoal_event *ev,
		     const struct shoal_event_set *set, const char *who)
{
	for (uint32_t w = 0; w < SET_WORDS; w++) {
		uint64_t bad = set->bits[w];

		if (w < ev->words) {
			uint32_t top = ev->g.ids - w * 64;

			bad = top >= 64 ? 0 : bad >> top;
		}
		if (bad)
			return shoal__fail(-EINVAL,
					   "%s: the set names ids past the "
					   "service's %u",
					   who, ev->g.ids);
	}
	return 0;
}

/* Claims a free line: the first byte of the listeners' memfd we can
 * OFD-lock (line_lock.h). Returns its index or -EBUSY. */
static int claim_line(struct shoal_event *ev)
{
	int idx = shoal__peer_claim(shoal_segment_fd(ev->lines_seg), 0,
				    ev->g.max, "event", &ev->lock_fd);

	if (idx >= 0 || idx != -EBUSY)
		return idx;
	close(ev->lock_fd);
	ev->lock_fd = -1;
	return shoal__fail(-EBUSY,
			   "event: '%s' has its limit of %u listeners already",
			   ev->name, ev->g.max);
}

/* Takes line @i: wipes what a dead predecessor left, then ACTIVE. */
static int join_line(struct shoal_event *ev, uint32_t i)
{
	struct shoal__event_line *l = line_at(ev, i);
	int fd, err;

	err = wake_fd(ev, i, &fd);
	if (!err)
		err = shoal__epoll_add(ev->epfd, fd, (uint64_t)fd, "event");
	if (err)
		return err;
	ev->index = i;
	/* Out of every row: a dead owner may have left bits there. */
	for (uint32_t id = 0; id < ev->g.ids; id++)
		set_row_bit(ev, id, 0);
	for (uint32_t w = 0; w < ev->words; w++) {
		atomic_store_explicit(&line_pending(l)[w], 0,
				      memory_order_relaxed);
		atomic_store_explicit(&line_interest(l, ev->words)[w], 0,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
	atomic_store_explicit(&l->received, 0, memory_order_relaxed);
	atomic_store_explicit(&l->sleeps, 0, memory_order_relaxed);
	atomic_store_explicit(&l->delivered, 0, memory_order_relaxed);
	atomic_store_explicit(&l->wakeups, 0, memory_order_relaxed);
	l->pid = (int32_t)getpid();
	/* Release: the line is reset before it reads as ACTIVE; pairs with
	 * the acquire load of state in shoal_event_inspect(). */
	atomic_store_explicit(&l->state, SHOAL__EVENT_LINE_ACTIVE,
			      memory_order_release);
	/* Sleeps are counted per handle, across lines. */
	ev->st.sleeps += shoal__waiter_sleeps(&ev->waiter);
	shoal__waiter_setup(&ev->waiter, &l->sleeping, 0, &l->sleeps, fd,
			    ev->epfd, ev->strategy);
	ev->ow.sleeps = 0;
	memset(ev->interest, 0, sizeof(ev->interest));
	ev->line = l;
	ev->listening = 1;
	ev->st.line = (int32_t)i;
	return 0;
}

int shoal_event_listen(struct shoal_event *ev,
		       const struct shoal_event_set *interest)
{
	_Atomic uint64_t *pending, *shared;
	int err;

	if (!interest)
		return shoal__fail(-EINVAL, "event_listen: NULL set");
	err = check_set(ev, interest, "event_listen");
	if (err)
		return err;
	if (creator_gone(ev, 1))
		return shoal__fail(-EPIPE, "event: '%s': creator gone",
				   ev->name);
	if (!ev->listening) {
		int idx = claim_line(ev);

		if (idx < 0)
			return idx;
		err = join_line(ev, (uint32_t)idx);
		if (err) {
			close(ev->lock_fd);
			ev->lock_fd = -1;
			return err;
		}
	}
	pending = line_pending(ev->line);
	shared = line_interest(ev->line, ev->words);
	for (uint32_t id = 0; id < ev->g.ids; id++) {
		int was = (ev->interest[id / 64] >> (id % 64)) & 1;
		int now = (interest->bits[id / 64] >> (id % 64)) & 1;

		if (was == now)
			continue;
		if (now) {
			/* Old news first: a bit left from before (a dead
			 * predecessor's, or one we stopped listening to)
			 * must not fire; a notify after the row bit below
			 * must. */
			atomic_fetch_and_explicit(&pending[id / 64],
						  ~((uint64_t)1 << (id % 64)),
						  memory_order_relaxed);
		}
		set_row_bit(ev, id, now);
	}
	for (uint32_t w = 0; w < ev->words; w++) {
		ev->interest[w] = interest->bits[w];
		/* Informational (inspect); the local copy is what counts. */
		atomic_store_explicit(&shared[w], interest->bits[w],
				      memory_order_relaxed);
	}
	return 0;
}

/* Nonzero when an id waited for is pending. */
static int any_pending(struct shoal_event *ev)
{
	_Atomic uint64_t *pending = line_pending(ev->line);

	for (uint32_t w = 0; w < ev->words; w++)
		if (atomic_load_explicit(&pending[w], memory_order_relaxed) &
		    ev->want[w])
			return 1;
	return 0;
}

static int event_ready(void *arg)
{
	struct shoal_event *ev = arg;

	return any_pending(ev) || creator_gone(ev, 0);
}

/* Takes every pending id of ev->want into *fired; how many. */
static int take(struct shoal_event *ev, struct shoal_event_set *fired)
{
	_Atomic uint64_t *pending = line_pending(ev->line);
	int n = 0;

	for (uint32_t w = 0; w < ev->words; w++) {
		uint64_t got;

		if (!(atomic_load_explicit(&pending[w], memory_order_relaxed) &
		      ev->want[w]))
			continue;
		/* Acquire: pairs with the notifier's release fetch_or, so
		 * what it wrote before notifying is visible now. */
		got = atomic_fetch_and_explicit(&pending[w], ~ev->want[w],
						memory_order_acquire) &
		      ev->want[w];
		fired->bits[w] |= got;
		n += __builtin_popcountll(got);
	}
	if (n) {
		ev->st.waits++;
		ev->st.received += (uint64_t)n;
		atomic_store_explicit(&ev->line->received, ev->st.received,
				      memory_order_relaxed);
	}
	return n;
}

/* Sets ev->want to @set (NULL: everything) within the interest set. */
static int set_want(struct shoal_event *ev, const struct shoal_event_set *set)
{
	uint64_t any = 0;

	if (!ev->listening)
		return shoal__fail(-EINVAL, "event: not listening");
	if (set) {
		int err = check_set(ev, set, "event_wait");

		if (err)
			return err;
	}
	for (uint32_t w = 0; w < ev->words; w++) {
		ev->want[w] = ev->interest[w] & (set ? set->bits[w] : ~0ULL);
		any |= ev->want[w];
	}
	if (!any)
		return shoal__fail(-EINVAL,
				   "event: waiting for no id of the interest "
				   "set");
	return 0;
}

int shoal_event_wait(struct shoal_event *ev, const struct shoal_event_set *set,
		     int64_t timeout_ns, struct shoal_event_set *fired)
{
	struct shoal_event_set scratch;
	int64_t deadline = SHOAL__NO_DEADLINE_YET;
	int err;

	err = set_want(ev, set);
	if (err)
		return err;
	if (!fired)
		fired = &scratch;
	shoal_event_set_clear(fired);
	for (;;) {
		int n = take(ev, fired);

		if (n)
			return n;
		if (creator_gone(ev, 0)) {
			/* What it (or others) notified before is good. */
			n = take(ev, fired);
			if (n)
				return n;
			return shoal__fail(-EPIPE, "event: '%s': creator gone",
					   ev->name);
		}
		err = shoal__wait_step(&ev->waiter, event_ready, ev, timeout_ns,
				       &deadline, -1, "event: nothing came");
		if (err < 0)
			return err;
	}
}

int shoal_event_fd(const struct shoal_event *ev)
{
	return ev->epfd;
}

int shoal_event_arm(struct shoal_event *ev)
{
	int err = set_want(ev, NULL);

	if (err)
		return err;
	if (creator_gone(ev, 1))
		return 1;
	return shoal_waiter_arm(&ev->waiter, event_ready, ev);
}

void shoal_event_disarm(struct shoal_event *ev)
{
	if (!ev->listening)
		return;
	shoal_waiter_disarm(&ev->waiter);
	/* The poll may have ended on the creator's pidfd. */
	ev->ow.check_pid = 1;
}

uint64_t shoal_event_epoch(const struct shoal_event *ev)
{
	return ev->epoch;
}

uint32_t shoal_event_ids(const struct shoal_event *ev)
{
	return ev->g.ids;
}

void shoal_event_get_stats(const struct shoal_event *ev,
			   struct shoal_event_stats *st)
{
	*st = ev->st;
	st->sleeps += shoal__waiter_sleeps(&ev->waiter);
}
