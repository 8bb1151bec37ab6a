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
#include "patterns/event_layout.h"
#include "segment/fdcheck.h"
#include "service/line_lock.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "service/type_check.h"

#define DEFAULT_IDS 256
#define DEFAULT_LISTENERS 64
#define SET_WORDS (SHOAL_EVENT_IDS_MAX / 64)
/* Readiness checks (spinning) or notifies between looks at the creator's
 * pidfd, so polling never costs a system call per call. */
#define PID_CHECK_EVERY 4096

struct shoal_event {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal_registry *reg;
	int own_reg;
	int creator;
	enum shoal_wait_strategy strategy;
	uint64_t epoch;

	/* Creator: the segments and entry it created. */
	struct shoal_segment *seg;
	struct shoal_entry *entry;
	int *extra_fds; /* lines memfd, then one eventfd per line */
	/* Peer: the opened service (owns seg's mapping and the pidfd). */
	struct shoal_service *svc;
	int pidfd;

	/* Both: the listeners' segment and the validated geometry. */
	struct shoal_segment *lines_seg;
	struct shoal__event_header *hdr;
	struct shoal__event_lines_header *lh;
	_Atomic uint64_t *table;
	uint8_t *lines;
	uint32_t ids, words, max, stride, row_words;
	/* Each line's eventfd; the creator's own, a peer's taken on first
	 * use (-1 until then). */
	int *wake_fds;
	uint32_t *touched; /* lines one notify signalled */

	int epfd;
	int gone;
	int check_pid;
	uint32_t idle_calls;
	uint64_t pid_checked_sleeps;

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

/* The geometry a process validated, from the creator's read-only header. */
struct event_geometry {
	struct shoal__event_header *hdr;
	uint32_t ids, max, stride;
	int32_t lines_memfd;
};

static struct shoal__event_line *line_at(const struct shoal_event *ev,
					 uint32_t i)
{
	return (struct shoal__event_line *)(ev->lines +
					    (uint64_t)i * ev->stride);
}

static _Atomic uint64_t *line_pending(struct shoal__event_line *l)
{
	return (_Atomic uint64_t *)(l + 1);
}

static _Atomic uint64_t *line_interest(struct shoal__event_line *l,
				       uint32_t words)
{
	return (_Atomic uint64_t *)((uint8_t *)(l + 1) +
				    shoal__event_pad_words(words));
}

static int32_t *event_fd_table(struct shoal__event_header *h)
{
	return (int32_t *)(h + 1);
}

static uint64_t event_header_bytes(uint32_t max)
{
	return sizeof(struct shoal__event_header) + (uint64_t)max * 4;
}

static uint64_t event_lines_bytes(uint32_t ids, uint32_t max)
{
	return sizeof(struct shoal__event_lines_header) +
	       shoal__event_table_bytes(ids, max) +
	       (uint64_t)max * shoal__event_line_stride(ids);
}

/* Points the handle at the listeners' object @p (validated size). */
static void set_lines(struct shoal_event *ev, void *p)
{
	ev->lh = p;
	ev->table = (_Atomic uint64_t *)(ev->lh + 1);
	ev->lines = (uint8_t *)(ev->lh + 1) +
		    shoal__event_table_bytes(ev->ids, ev->max);
}

void shoal_event_options_init(struct shoal_event_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->ids = DEFAULT_IDS;
	opts->max_listeners = DEFAULT_LISTENERS;
	opts->access = SHOAL_ACCESS_OWNER;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
}

static int check_common_options(const struct shoal_event_options *o,
				const char *who)
{
	if (o->flags & ~(uint32_t)SHOAL_EVENT_NO_PIDFD_GETFD)
		return shoal__fail(-EINVAL, "%s: unknown flags 0x%x", who,
				   o->flags);
	if ((int)o->strategy < 0 || o->strategy > SHOAL_WAIT_BLOCK)
		return shoal__fail(-EINVAL, "%s: unknown strategy %d", who,
				   (int)o->strategy);
	return 0;
}

/* The common part of create and open: the handle, its epoll set. */
static int new_handle(const char *name, const struct shoal_event_options *o,
		      struct shoal_event **out)
{
	struct shoal_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return shoal__fail(-ENOMEM, "event: out of memory");
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	ev->strategy = o->strategy ? o->strategy : SHOAL_WAIT_ADAPTIVE;
	ev->pidfd = ev->lock_fd = -1;
	ev->st.line = -1;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		free(ev);
		return shoal__fail(-errno, "event: epoll_create1: %s",
				   strerror(errno));
	}
	*out = ev;
	return 0;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return shoal__fail(-errno, "event: epoll_ctl: %s",
				   strerror(errno));
	return 0;
}

/* Allocates the per-line arrays, every wake fd -1. */
static int alloc_tables(struct shoal_event *ev, int creator)
{
	/* The creator's array is what its registry entry hands out: the
	 * lines memfd, then one eventfd per line. */
	ev->extra_fds = malloc(sizeof(int) * (1 + (size_t)ev->max));
	ev->touched = malloc(sizeof(uint32_t) * ev->max);
	if (!ev->extra_fds || !ev->touched)
		return shoal__fail(-ENOMEM, "event: out of memory");
	for (uint32_t i = 0; i <= ev->max; i++)
		ev->extra_fds[i] = -1;
	ev->wake_fds = ev->extra_fds + SHOAL__EVENT_EXTRA_WAKE_FD(0);
	if (!creator)
		return 0;
	for (uint32_t i = 0; i < ev->max; i++) {
		ev->wake_fds[i] = shoal_eventfd_create();
		if (ev->wake_fds[i] < 0)
			return ev->wake_fds[i];
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Creator
 */

static int create_segments(struct shoal_event *ev, const char *name)
{
	struct shoal_segment_options so;
	struct shoal_object_spec hdr = { SHOAL__EVENT_HEADER_OBJECT,
					 SHOAL_OBJECT_EVENT_HEADER, 64,
					 event_header_bytes(ev->max) };
	struct shoal_object_spec lines = {
		SHOAL__EVENT_LINES_OBJECT, SHOAL_OBJECT_EVENT_HEADER, 64,
		event_lines_bytes(ev->ids, ev->max)
	};
	void *ptr;
	int err;

	shoal_segment_options_init(&so);
	so.debug_name = name;
	so.flags = SHOAL_SEGMENT_PEERS_READ_ONLY;
	err = shoal_segment_create(&hdr, 1, &so, &ev->seg);
	if (err)
		return err;
	shoal_segment_options_init(&so);
	so.debug_name = name;
	so.epoch = shoal_segment_epoch(ev->seg);
	err = shoal_segment_create(&lines, 1, &so, &ev->lines_seg);
	if (err)
		return err;
	ev->epoch = shoal_segment_epoch(ev->seg);
	shoal_segment_find(ev->seg, SHOAL__EVENT_HEADER_OBJECT, 0, &ptr, NULL);
	ev->hdr = ptr;
	shoal_segment_find(ev->lines_seg, SHOAL__EVENT_LINES_OBJECT, 0, &ptr,
			   NULL);
	set_lines(ev, ptr);
	ev->extra_fds[SHOAL__EVENT_EXTRA_LINES_MEMFD] =
		shoal_segment_fd(ev->lines_seg);
	return 0;
}

static void format(struct shoal_event *ev)
{
	struct shoal__event_header *h = ev->hdr;

	h->magic = SHOAL__EVENT_MAGIC;
	h->version = SHOAL__EVENT_VERSION;
	h->ids = ev->ids;
	h->max_listeners = ev->max;
	h->line_stride = ev->stride;
	h->lines_memfd = shoal_segment_fd(ev->lines_seg);
	for (uint32_t i = 0; i < ev->max; i++)
		event_fd_table(h)[i] = ev->wake_fds[i];
	ev->lh->magic = SHOAL__EVENT_LINES_MAGIC;
	ev->lh->ids = ev->ids;
	ev->lh->max_listeners = ev->max;
}

static int announce(struct shoal_event *ev, const char *name,
		    const struct shoal_event_options *o)
{
	struct shoal_service_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.pattern = SHOAL_PATTERN_EVENT;
	spec.access = o->access;
	spec.memfd = shoal_segment_fd(ev->seg);
	spec.type_name = o->type_name;
	spec.type_size = o->type_size;
	spec.type_align = o->type_align;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	/* Borrowed, array and fds, until shoal_entry_destroy(). */
	spec.extra_fd_count = 1 + ev->max;
	spec.extra_fds = ev->extra_fds;
	return shoal_registry_publish(ev->reg, &spec, &ev->entry);
}

int shoal_event_create(const char *name, const struct shoal_event_options *opts,
		       struct shoal_event **out)
{
	struct shoal_event_options defaults;
	struct shoal_event *ev;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "event_create: NULL argument");
	if (strlen(name) > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "event_create: name too long");
	if (!opts) {
		shoal_event_options_init(&defaults);
		opts = &defaults;
	}
	err = check_common_options(opts, "event_create");
	if (err)
		return err;
	if (opts->ids == 0 || opts->ids > SHOAL_EVENT_IDS_MAX)
		return shoal__fail(-EINVAL, "event_create: ids %u not in 1..%u",
				   opts->ids, SHOAL_EVENT_IDS_MAX);
	if (opts->max_listeners == 0 ||
	    opts->max_listeners > SHOAL_EVENT_LISTENERS_MAX)
		return shoal__fail(-EINVAL,
				   "event_create: max_listeners %u not in "
				   "1..%u",
				   opts->max_listeners,
				   SHOAL_EVENT_LISTENERS_MAX);
	err = new_handle(name, opts, &ev);
	if (err)
		return err;
	ev->creator = 1;
	ev->ids = opts->ids;
	ev->words = shoal__event_words(ev->ids);
	ev->max = opts->max_listeners;
	ev->stride = shoal__event_line_stride(ev->ids);
	ev->row_words = shoal__event_row_words(ev->max);
	err = shoal__registry_use(opts->registry, &ev->reg, &ev->own_reg);
	if (!err)
		err = alloc_tables(ev, 1);
	if (!err)
		err = create_segments(ev, name);
	if (!err) {
		format(ev);
		err = shoal_segment_ready(ev->seg);
	}
	if (!err)
		err = shoal_segment_ready(ev->lines_seg);
	if (!err)
		err = announce(ev, name, opts);
	if (err) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", shoal_last_error());
		shoal_event_destroy(ev);
		return shoal__fail(err, "%s", detail);
	}
	ev->st.ids = ev->ids;
	*out = ev;
	return 0;
}

/* ------------------------------------------------------------------------
 * Peer: validating and mapping the creator's segments
 */

/*
 * Reads the configuration in the creator's segment once and checks it
 * against itself and the object's size (which the segment layer
 * validated). 0, -EPROTO (another version), -EBADMSG (inconsistent).
 */
static int read_geometry(struct shoal_segment *seg, struct event_geometry *g)
{
	struct shoal_object_info hi;
	struct shoal__event_header *h;
	void *hp;

	if (shoal_segment_find(seg, SHOAL__EVENT_HEADER_OBJECT,
			       SHOAL_OBJECT_EVENT_HEADER, &hp, &hi))
		return shoal__fail(-EBADMSG,
				   "event: the service's segment lacks its "
				   "header: %s",
				   shoal_last_error());
	if (hi.size < sizeof(*h) || hi.offset % SHOAL__CACHE_LINE)
		return shoal__fail(-EBADMSG,
				   "event: header object too small or not on "
				   "a cache line");
	h = hp;
	if (h->magic != SHOAL__EVENT_MAGIC)
		return shoal__fail(-EBADMSG, "event: bad header magic");
	if (h->version != SHOAL__EVENT_VERSION)
		return shoal__fail(-EPROTO,
				   "event: format version %u, expected %u",
				   h->version, SHOAL__EVENT_VERSION);
	g->hdr = h;
	g->ids = SHOAL__READ_ONCE(h->ids);
	g->max = SHOAL__READ_ONCE(h->max_listeners);
	g->stride = SHOAL__READ_ONCE(h->line_stride);
	g->lines_memfd = SHOAL__READ_ONCE(h->lines_memfd);
	if (g->ids == 0 || g->ids > SHOAL_EVENT_IDS_MAX || g->max == 0 ||
	    g->max > SHOAL_EVENT_LISTENERS_MAX ||
	    g->stride != shoal__event_line_stride(g->ids) ||
	    hi.size < event_header_bytes(g->max))
		return shoal__fail(-EBADMSG,
				   "event: inconsistent configuration (ids "
				   "%u, listeners %u, stride %u)",
				   g->ids, g->max, g->stride);
	return 0;
}

/*
 * Checks that @svc is an event service, reads its geometry into *g, and
 * takes and maps its listeners' segment (read-write unless @read_only)
 * into *lines_seg, its object into *lines. 0 or -errno.
 */
static int map_service(struct shoal_service *svc, int read_only,
		       struct event_geometry *g,
		       struct shoal_segment **lines_seg, void **lines)
{
	struct shoal_service_info info;
	struct shoal_object_info oi;
	int fd, err;

	shoal_service_get_info(svc, &info);
	if (info.pattern != SHOAL_PATTERN_EVENT)
		return shoal__fail(-EPROTO,
				   "event: '%s' is a service of pattern %u, "
				   "not an event service",
				   info.name, info.pattern);
	err = read_geometry(shoal_service_segment(svc), g);
	if (err)
		return err;
	err = shoal__service_take_extra_fd(svc, SHOAL__EVENT_EXTRA_LINES_MEMFD,
					   g->lines_memfd, &fd);
	if (err)
		return err;
	if (shoal__fd_is_memfd(fd) != 1) {
		close(fd);
		return shoal__fail(-EBADMSG,
				   "event: listeners' segment is not a memfd");
	}
	err = shoal_segment_open(
		fd, read_only ? SHOAL_SEGMENT_OPEN_READ_ONLY : 0, lines_seg);
	close(fd);
	if (err)
		return err;
	/* The size is the segment layer's validated copy; the object's own
	 * header line is not checked: any peer can scribble over it. */
	err = shoal_segment_find(*lines_seg, SHOAL__EVENT_LINES_OBJECT,
				 SHOAL_OBJECT_EVENT_HEADER, lines, &oi);
	if (err || oi.size < event_lines_bytes(g->ids, g->max) ||
	    oi.offset % SHOAL__CACHE_LINE) {
		shoal_segment_close(*lines_seg);
		*lines_seg = NULL;
		return shoal__fail(-EBADMSG,
				   "event: listeners' segment does not match "
				   "the service");
	}
	return 0;
}

static int attach(struct shoal_event *ev, uint32_t oflags,
		  const struct shoal__type *type)
{
	struct shoal_service_info info;
	struct event_geometry g;
	void *lines;
	int err;

	err = shoal_registry_open(ev->reg, ev->name,
				  oflags | SHOAL_OPEN_READ_ONLY, &ev->svc);
	if (err)
		return err;
	shoal_service_get_info(ev->svc, &info);
	err = shoal__type_check("event", type, &info);
	if (!err)
		err = map_service(ev->svc, 0, &g, &ev->lines_seg, &lines);
	if (err)
		return err;
	/* Acquire: pairs with the creator's release store of closed in
	 * shoal_event_destroy(). */
	if (atomic_load_explicit(&g.hdr->closed, memory_order_acquire))
		return shoal__fail(-ENOENT, "event: '%s' is being withdrawn",
				   ev->name);
	ev->hdr = g.hdr;
	ev->ids = g.ids;
	ev->words = shoal__event_words(g.ids);
	ev->max = g.max;
	ev->stride = g.stride;
	ev->row_words = shoal__event_row_words(g.max);
	set_lines(ev, lines);
	ev->epoch = info.epoch;
	err = alloc_tables(ev, 0);
	if (err)
		return err;
	ev->pidfd = shoal_service_pidfd(ev->svc);
	return epoll_add(ev->epfd, ev->pidfd);
}

int shoal_event_open(const char *name, const struct shoal_event_options *opts,
		     struct shoal_event **out)
{
	struct shoal_event_options defaults;
	struct shoal__type type;
	struct shoal_event *ev;
	int err;

	if (!name || !out)
		return shoal__fail(-EINVAL, "event_open: NULL argument");
	if (strlen(name) > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "event_open: name too long");
	if (!opts) {
		shoal_event_options_init(&defaults);
		opts = &defaults;
	}
	err = check_common_options(opts, "event_open");
	if (err)
		return err;
	err = new_handle(name, opts, &ev);
	if (err)
		return err;
	type.name = opts->type_name;
	type.size = opts->type_size;
	type.align = opts->type_align;
	err = shoal__registry_use(opts->registry, &ev->reg, &ev->own_reg);
	if (!err)
		err = attach(ev,
			     (opts->flags & SHOAL_EVENT_NO_PIDFD_GETFD) ?
				     SHOAL_OPEN_NO_PIDFD_GETFD :
				     0,
			     &type);
	if (err) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", shoal_last_error());
		shoal_event_close(ev);
		return shoal__fail(err, "%s", detail);
	}
	ev->st.ids = ev->ids;
	*out = ev;
	return 0;
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
	for (uint32_t id = 0; id < ev->ids; id++)
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
	/* Withdraw the name first, so nobody new attaches to a closing
	 * service, then say so and wake every sleeper to see it. */
	shoal_entry_destroy(ev->entry);
	if (ev->hdr) {
		/* Release: pairs with the acquire loads of closed in open
		 * and creator_gone(). */
		atomic_store_explicit(&ev->hdr->closed, 1,
				      memory_order_release);
		shoal__notify_all(ev->wake_fds, ev->max);
	}
	shoal_segment_destroy(ev->lines_seg);
	shoal_segment_destroy(ev->seg);
	for (uint32_t i = 0; ev->wake_fds && i < ev->max; i++)
		if (ev->wake_fds[i] >= 0)
			close(ev->wake_fds[i]);
	close(ev->epfd);
	if (ev->own_reg)
		shoal_registry_destroy(ev->reg);
	free(ev->extra_fds);
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
	for (uint32_t i = 0; ev->wake_fds && i < ev->max; i++)
		if (ev->wake_fds[i] >= 0)
			close(ev->wake_fds[i]);
	shoal_segment_close(ev->lines_seg);
	shoal_service_close(ev->svc); /* closes the pidfd */
	close(ev->epfd);
	if (ev->own_reg)
		shoal_registry_destroy(ev->reg);
	free(ev->extra_fds);
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
	if (ev->gone)
		return 1;
	/* Acquire: pairs with the release store in shoal_event_destroy(). */
	if (atomic_load_explicit(&ev->hdr->closed, memory_order_acquire))
		return ev->gone = 1;
	if (force || ev->check_pid ||
	    shoal__waiter_slept(&ev->waiter, &ev->pid_checked_sleeps) ||
	    ++ev->idle_calls % PID_CHECK_EVERY == 0) {
		ev->check_pid = 0;
		ev->pid_checked_sleeps = shoal__waiter_sleeps(&ev->waiter);
		if (!shoal_service_alive(ev->svc))
			return ev->gone = 1;
	}
	return 0;
}

/* Line @i's eventfd: the creator's own, or taken from it once. */
static int wake_fd(struct shoal_event *ev, uint32_t i, int *out)
{
	int32_t owner_fd;
	int fd, err;

	if (ev->wake_fds[i] >= 0) {
		*out = ev->wake_fds[i];
		return 0;
	}
	owner_fd = SHOAL__READ_ONCE(event_fd_table(ev->hdr)[i]);
	err = shoal__service_take_extra_fd(
		ev->svc, SHOAL__EVENT_EXTRA_WAKE_FD(i), owner_fd, &fd);
	if (err)
		return err;
	if (shoal__fd_is_eventfd(fd) != 1) {
		close(fd);
		return shoal__fail(-EBADMSG,
				   "event: wake-up fd of line %u is not an "
				   "eventfd",
				   i);
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

	if (id >= ev->ids)
		return shoal__fail(-EINVAL,
				   "event: id %u out of range (the service "
				   "has %u)",
				   id, ev->ids);
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
			if (i >= ev->max)
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

/* Checks that @set names only ids below ev->ids. */
static int check_set(const struct shoal_event *ev,
		     const struct shoal_event_set *set, const char *who)
{
	for (uint32_t w = 0; w < SET_WORDS; w++) {
		uint64_t bad = set->bits[w];

		if (w < ev->words) {
			uint32_t top = ev->ids - w * 64;

			bad = top >= 64 ? 0 : bad >> top;
		}
		if (bad)
			return shoal__fail(-EINVAL,
					   "%s: the set names ids past the "
					   "service's %u",
					   who, ev->ids);
	}
	return 0;
}

/* Claims a free line: the first byte of the listeners' memfd we can
 * OFD-lock (line_lock.h). Returns its index or -EBUSY. */
static int claim_line(struct shoal_event *ev)
{
	int idx;

	ev->lock_fd =
		shoal__line_lock_open(shoal_segment_fd(ev->lines_seg), "event");
	if (ev->lock_fd < 0)
		return ev->lock_fd;
	idx = shoal__line_claim(ev->lock_fd, 0, ev->max);
	if (idx >= 0)
		return idx;
	close(ev->lock_fd);
	ev->lock_fd = -1;
	return shoal__fail(-EBUSY,
			   "event: '%s' has its limit of %u listeners already",
			   ev->name, ev->max);
}

/* Takes line @i: wipes what a dead predecessor left, then ACTIVE. */
static int join_line(struct shoal_event *ev, uint32_t i)
{
	struct shoal__event_line *l = line_at(ev, i);
	int fd, err;

	err = wake_fd(ev, i, &fd);
	if (!err)
		err = epoll_add(ev->epfd, fd);
	if (err)
		return err;
	ev->index = i;
	/* Out of every row: a dead owner may have left bits there. */
	for (uint32_t id = 0; id < ev->ids; id++)
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
	ev->pid_checked_sleeps = 0;
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
	for (uint32_t id = 0; id < ev->ids; id++) {
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
	ev->check_pid = 1;
}

uint64_t shoal_event_epoch(const struct shoal_event *ev)
{
	return ev->epoch;
}

uint32_t shoal_event_ids(const struct shoal_event *ev)
{
	return ev->ids;
}

void shoal_event_get_stats(const struct shoal_event *ev,
			   struct shoal_event_stats *st)
{
	*st = ev->st;
	st->sleeps += shoal__waiter_sleeps(&ev->waiter);
}

/* ------------------------------------------------------------------------
 * Inspection from outside
 */

static uint32_t popcount_words(_Atomic uint64_t *w, uint32_t n)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < n; i++)
		c += (uint32_t)__builtin_popcountll(
			atomic_load_explicit(&w[i], memory_order_relaxed));
	return c;
}

int shoal_event_inspect(struct shoal_registry *reg, const char *name,
			struct shoal_event_info *info,
			struct shoal_event_listener_info *listeners,
			uint32_t cap)
{
	struct shoal_registry *r;
	struct shoal_service *svc = NULL;
	struct shoal_segment *lines_seg = NULL;
	struct shoal__event_lines_header *lh;
	struct event_geometry g;
	uint32_t live = 0, words;
	void *lines;
	uint8_t *base;
	int owned, err, fd;

	if (!name || !info)
		return shoal__fail(-EINVAL, "event_inspect: NULL argument");
	err = shoal__registry_use(reg, &r, &owned);
	if (err)
		return err;
	err = shoal_registry_open(r, name, SHOAL_OPEN_READ_ONLY, &svc);
	if (!err)
		err = map_service(svc, 1, &g, &lines_seg, &lines);
	if (err)
		goto out;
	lh = lines;
	words = shoal__event_words(g.ids);
	base = (uint8_t *)(lh + 1) + shoal__event_table_bytes(g.ids, g.max);
	memset(info, 0, sizeof(*info));
	info->ids = g.ids;
	info->max_listeners = g.max;
	info->line_stride = g.stride;
	info->header_bytes = shoal_segment_size(shoal_service_segment(svc));
	info->lines_bytes = shoal_segment_size(lines_seg);
	info->notifies =
		atomic_load_explicit(&lh->notifies, memory_order_relaxed);
	info->delivered =
		atomic_load_explicit(&lh->delivered, memory_order_relaxed);
	info->wakeups =
		atomic_load_explicit(&lh->wakeups, memory_order_relaxed);
	fd = shoal_segment_fd(lines_seg);
	for (uint32_t i = 0; i < g.max; i++) {
		struct shoal__event_line *l =
			(struct shoal__event_line *)(base +
						     (uint64_t)i * g.stride);
		struct shoal_event_listener_info *o;

		/* Acquire: pairs with the owner's release store of ACTIVE
		 * in join_line(), so pid and counters read below are its. */
		if (atomic_load_explicit(&l->state, memory_order_acquire) !=
			    SHOAL__EVENT_LINE_ACTIVE ||
		    !shoal__line_locked(fd, i))
			continue;
		if (listeners && live < cap) {
			o = &listeners[live];
			memset(o, 0, sizeof(*o));
			o->index = i;
			o->pid = SHOAL__READ_ONCE(l->pid);
			o->interest =
				popcount_words(line_interest(l, words), words);
			o->pending = popcount_words(line_pending(l), words);
			o->delivered = atomic_load_explicit(
				&l->delivered, memory_order_relaxed);
			o->wakeups = atomic_load_explicit(&l->wakeups,
							  memory_order_relaxed);
			o->received = atomic_load_explicit(
				&l->received, memory_order_relaxed);
			o->sleeps = atomic_load_explicit(&l->sleeps,
							 memory_order_relaxed);
		}
		live++;
	}
	info->listeners = live;
	err = (int)live;
out:
	shoal_segment_close(lines_seg);
	shoal_service_close(svc);
	if (owned)
		shoal_registry_destroy(r);
	return err;
}
