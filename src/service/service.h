/* SPDX-License-Identifier: MIT */
/*
 * The service layer: the owner/peer skeleton every pattern stands on.
 *
 * A pattern is an owner (publisher, server, queue or event creator) and
 * peers (subscribers, clients, queue openers, listeners) that meet by name
 * in the registry. What differs between patterns is the layout of their
 * header and lines and what they do on the hot path; what does not differ
 * lives here, once:
 *
 *  Owner (struct shoal__owner, service_owner.c)
 *   - the registry it publishes in (the caller's or the default one);
 *   - its segments: the owner's own (peers map it read-only when asked)
 *     and, optionally, a "lines" segment of participant lines that peers
 *     map read-write and claim by OFD lock (service/line_lock.h);
 *   - one eventfd per line, and the fd table the registry entry hands out
 *     by index: [the lines segment's memfd,] then the line eventfds;
 *   - announce (segments ready, then publish), withdraw (name first, then
 *     the shared "closed" word, a fence and a wake of every line), and
 *     the final release.
 *
 *  Peer (struct shoal__peer, service_peer.c and service_open.c)
 *   - open by name, waiting for the name to appear if asked (timeout_ns),
 *     the pattern check, the type check (service/type_check.h), the
 *     pattern's geometry through a callback, and the "being withdrawn"
 *     check;
 *   - the lines segment (taken from the owner by index, checked to be a
 *     memfd), claiming a line, taking a line's eventfd (checked to be an
 *     eventfd), the owner's pidfd in the peer's epoll set;
 *   - the one owner-gone check (shoal__owner_gone()), and leaving.
 *
 * Errors are -errno with the detail in shoal_last_error(), as everywhere.
 * None of this is on a hot path except shoal__owner_gone(), which costs a
 * load unless it is time to look at the pidfd.
 */
#ifndef SHOAL_SERVICE_H
#define SHOAL_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "shoal/registry.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "service/line_lock.h"
#include "service/service_layout.h"
#include "service/type_check.h"

/* ------------------------------------------------------------------------
 * Shared helpers
 */

/* shoal__epoll_new - epoll_create1(EPOLL_CLOEXEC): the fd or -errno. */
int shoal__epoll_new(const char *who);

/* shoal__epoll_add - add @fd for EPOLLIN with @data (the fd itself where
 * nobody reads it back). 0 or -errno, detail prefixed by @who. */
int shoal__epoll_add(int epfd, int fd, uint64_t data, const char *who);

/*
 * shoal__check_open - what a create or open checks of its arguments
 * first: @name and @out given (else "<who>: NULL argument"), @name a valid
 * service name (shoal__name_check), no flag outside @known, @strategy one of
 * SHOAL_WAIT_*. 0 or -EINVAL with the detail.
 */
int shoal__check_open(const char *who, const char *name, const void *out,
		      uint32_t flags, uint32_t known, int strategy);

/*
 * SHOAL__OPTIONS_OR - the options a create or open goes by: @opts, or
 * when it is NULL the caller's @defaults filled by @init (the pattern's
 * *_options_init()):
 *	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_pub_options_init);
 */
#define SHOAL__OPTIONS_OR(opts, defaults, init) \
	((opts) ? (opts) : ((init)(&(defaults)), &(defaults)))

/*
 * shoal__handle_alloc - a zeroed handle of @size bytes for a create or
 * open, or NULL with "<who>: out of memory" as the detail.
 */
void *shoal__handle_alloc(size_t size, const char *who);

/*
 * SHOAL__HAND_OUT - how every create and open ends; it returns from the
 * caller. On @err: undo the half-made handle @h with @undo (the pattern's
 * destroy or close, which may record details of its own) keeping the
 * cause's detail (arch/error.h), and return @err. Else store @h in *@out
 * and return 0. The pattern's destroy/close must take any half-made
 * handle: every fd field -1 or open, every pointer NULL or owned.
 */
#define SHOAL__HAND_OUT(err, h, undo, out)                         \
	do {                                                       \
		if (err) {                                         \
			struct shoal__detail cause_;               \
                                                                   \
			shoal__detail_save(&cause_);               \
			undo(h);                                   \
			return shoal__detail_fail(&cause_, (err)); \
		}                                                  \
		*(out) = (h);                                      \
		return 0;                                          \
	} while (0)

/*
 * How a pattern's create or open is made, stated once per function as
 * data, so that the public function is one call of shoal__make():
 *  - the options: the caller's, or @defaults (the pattern's, which its
 *    *_options_init() copies too);
 *  - @check(@who, name, out, options): the argument checks, usually
 *    shoal__check_open() with the pattern's flags and strategy, then the
 *    pattern's own; 0 or -EINVAL;
 *  - a zeroed handle of @size bytes (shoal__handle_alloc());
 *  - @setup(handle, name, options): all the pattern's work; it first puts
 *    every fd field at -1, so that @undo can take the handle whatever
 *    failed;
 *  - on failure @undo(handle) (the pattern's destroy or close), keeping
 *    the cause's detail; else @hand_out(out, handle): *out = handle, in
 *    the pattern's own pointer type.
 */
struct shoal__maker {
	const char *who;
	size_t size;
	const void *defaults;
	int (*check)(const char *who, const char *name, const void *out,
		     const void *opts);
	int (*setup)(void *h, const char *name, const void *opts);
	void (*undo)(void *h);
	void (*hand_out)(void *out, void *h);
};

/* shoal__make - run @m with the public function's @name, @opts and @out.
 * 0, or the -errno of the step that failed, with its detail. */
int shoal__make(const struct shoal__maker *m, const char *name,
		const void *opts, void *out);

/* ------------------------------------------------------------------------
 * Owner
 */

struct shoal__owner {
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_segment *seg;	 /* the owner's; NULL until created */
	struct shoal_segment *lines_seg; /* the peers' lines; may stay NULL */
	struct shoal_entry *entry;	 /* NULL until announced */
	/* What the entry hands out, by index: the lines memfd (when
	 * lines_memfd_first), then one eventfd per line. -1: none. */
	int *fds;
	int *wake_fds; /* fds + (lines_memfd_first ? 1 : 0) */
	uint32_t nfds;
	uint32_t lines; /* how many participant lines (one eventfd each) */
	int lines_memfd_first;
	uint64_t epoch; /* the owner segment's */
	int readied;	/* the segments are READY (a first announce did it) */
	/* shoal__owner_spec.origin, checked and copied; "" for none. */
	char origin[SHOAL_ORIGIN_MAX + 1];
};

/* What the owner's segments hold. */
struct shoal__owner_spec {
	const char *name;
	struct shoal_registry *registry; /* NULL: the default one */
	uint32_t lines;
	int lines_memfd_first; /* the fd table starts with lines_seg's memfd */
	const struct shoal_object_spec *objects; /* the owner's segment */
	uint32_t nobjects;
	uint32_t seg_flags; /* SHOAL_SEGMENT_* for the owner's segment */
	const struct shoal_object_spec *line_objects; /* NULL: no lines seg */
	uint32_t nline_objects;
	/* Where the service comes from (shoal_service_spec.origin): the
	 * pattern's create option of that name, passed through as it is;
	 * NULL or "" for a local service. Checked by shoal__owner_create(),
	 * recorded by every announce. */
	const char *origin;
};

/*
 * shoal__owner_create - the origin checked (-EINVAL: too long or not
 * printable), the registry, the fd table with one fresh eventfd per line,
 * and the segments (the lines segment shares the owner's epoch). Both
 * segments are left unready for the pattern to format.
 * 0 or -errno; on failure *o holds what was made: shoal__owner_fini() it.
 * @o must be zeroed (or shoal__owner_init()ed) before.
 */
void shoal__owner_init(struct shoal__owner *o);
int shoal__owner_create(struct shoal__owner *o,
			const struct shoal__owner_spec *spec);

/* shoal__owner_object - the address of object @name in @seg (which the
 * owner created, so it is there). */
void *shoal__owner_object(struct shoal_segment *seg, const char *name);

/*
 * shoal__owner_announce - mark the segments ready (after the pattern
 * formatted them) and publish @name as @pattern with @access (SHOAL_ACCESS_*),
 * @type, the service's own @eventfds (may be NULL), the fd table and the
 * origin given to shoal__owner_create().
 * 0 or -errno. After a failure of the publish (-EEXIST) it may be called
 * again with another name: the segments are readied once.
 */
int shoal__owner_announce(struct shoal__owner *o, const char *name,
			  uint32_t pattern, uint32_t access,
			  const struct shoal__type *type, const int *eventfds,
			  uint32_t eventfd_count);

/*
 * shoal__owner_spec_lines - the spec of the usual owner: its own segment
 * of @objects, read-only to peers, and a lines segment of @line_objects
 * (one line per peer, @lines of them) whose memfd comes first in the fd
 * table.
 */
struct shoal__owner_spec shoal__owner_spec_lines(
	const char *name, struct shoal_registry *registry, uint32_t lines,
	const struct shoal_object_spec *objects, uint32_t nobjects,
	const struct shoal_object_spec *line_objects, uint32_t nline_objects);

/*
 * shoal__owner_withdraw - take the name away first (a peer woken below
 * must not find this owner again), then release-store 1 to @closed (the
 * pattern's shared "closed" word, NULL if its header was never made),
 * fence, and wake every line's eventfd so each sleeper sees the close at
 * once. Idempotent.
 */
void shoal__owner_withdraw(struct shoal__owner *o, _Atomic uint32_t *closed);

/* shoal__owner_fd_numbers - each line's eventfd number, as the owner's
 * header records it for peers (@table: one int32 per line). */
void shoal__owner_fd_numbers(const struct shoal__owner *o, int32_t *table);

/* shoal__owner_fini - destroy the segments, close the eventfds, free the
 * table and the registry if it was ours. */
void shoal__owner_fini(struct shoal__owner *o);

/* Waking one sleeper from a bitmap: service/wake.h (inline, hot path). */

/* ------------------------------------------------------------------------
 * Peer
 */

/* When to look at the owner's pidfd: see shoal__owner_gone(). */
struct shoal__owner_watch {
	int gone;	/* sticky: the owner withdrew or died */
	int check_pid;	/* look at the pidfd at the next chance */
	uint32_t every; /* look every that many calls; 0: after sleeps only */
	uint32_t calls;
	uint64_t sleeps; /* the caller's sleep count when last looked */
};

/*
 * shoal__owner_gone - 1 once the owner withdrew (@closed, the owner's
 * shared word) or died (shoal_service_alive() on @svc), else 0. Looks at
 * the pidfd only when @force, when asked (check_pid), after the caller
 * slept (@sleeps moved: the pidfd is in the set slept on, so a death wakes
 * it) or every w->every calls, so polling costs a load, no system call.
 * @svc NULL (the owner itself) is never gone by death.
 */
int shoal__owner_gone_slow(struct shoal__owner_watch *w,
			   const struct shoal_service *svc, uint64_t sleeps,
			   int force);

static inline int shoal__owner_gone(struct shoal__owner_watch *w,
				    const _Atomic uint32_t *closed,
				    const struct shoal_service *svc,
				    uint64_t sleeps, int force)
{
	if (w->gone)
		return 1;
	/* Acquire: pairs with the release store in shoal__owner_withdraw()
	 * (or a queue peer's, which tells the others of a death). */
	if (atomic_load_explicit(closed, memory_order_acquire))
		return w->gone = 1;
	return svc ? shoal__owner_gone_slow(w, svc, sleeps, force) : 0;
}

/*
 * The pattern's part of opening: read the owner's segment once, validate
 * it and keep the checked copies in @user_data. 0, -EPROTO, -EBADMSG.
 * Must not keep anything that needs freeing on failure (it may run again).
 */
typedef int (*shoal__geometry_fn)(struct shoal_segment *seg, void *user_data);

struct shoal__peer_spec {
	const char *who;	  /* "sub", "client", ...: error prefix */
	const char *name;	  /* the service */
	uint32_t pattern;	  /* SHOAL_PATTERN_* it must be */
	const char *pattern_name; /* "pub/sub", ... for the message */
	uint32_t oflags;	  /* SHOAL_OPEN_* */
	const struct shoal__type *type;
	int64_t timeout_ns; /* 0: -ENOENT at once; > 0: wait; < 0: forever */
	shoal__geometry_fn geometry;
	void *user_data;
	/* The owner's header object and the offset of its "closed" word in
	 * it: a service being withdrawn is refused with -ENOENT. NULL: not
	 * checked (inspection, or a queue, whose messages are drained). */
	const char *header;
	uint32_t closed_offset;
};

/*
 * shoal__peer_header - find header object @object (kind @kind) in the
 * owner's segment and check what every pattern's header starts with: at
 * least @min_size bytes, on a cache line, a u64 magic @magic and a u32
 * version @version after it. *@hdr and *@size set on success. 0, -EBADMSG
 * (missing, small, misaligned, bad magic) or -EPROTO (another version).
 */
int shoal__peer_header(struct shoal_segment *seg, const char *who,
		       const char *object, uint32_t kind, uint64_t magic,
		       uint32_t version, uint64_t min_size, void **hdr,
		       uint64_t *size);

/* An object kind a pattern owns, and what inspection calls it. */
struct shoal__kind {
	uint32_t kind; /* in SHOAL_OBJECT_PATTERN_MIN..MAX (shoal/segment.h) */
	const char *name;
};

/*
 * What a pattern tells the service layer about itself, once: its pattern
 * number and name (for the messages), its geometry callback, the owner's
 * header object with the offset of the "closed" word in it (NULL: a
 * service being withdrawn is still opened, as a queue's is), and the
 * object kinds it owns. The segment layer knows none of a pattern's kinds:
 * each pattern takes its own from the patterns' range in its layout
 * header and names them here.
 */
struct shoal__pattern {
	uint32_t pattern; /* SHOAL_PATTERN_* */
	const char *name; /* "pub/sub", ... */
	shoal__geometry_fn geometry;
	const char *header;
	uint32_t closed_offset;
	const struct shoal__kind *kinds;
	uint32_t nkinds;
};

/* The kinds of a struct shoal__pattern, from the array @kinds. */
#define SHOAL__KINDS(kinds) kinds, sizeof(kinds) / sizeof((kinds)[0])

/*
 * shoal__kind_name - what object kind @kind of a service of pattern @p is
 * called: the pattern's name for a kind it owns, the segment layer's for
 * its own and the ring layer's (shoal__segment_kind_name()), else NULL
 * (an application's kind, or one no layer uses).
 */
const char *shoal__kind_name(const struct shoal__pattern *p, uint32_t kind);

/* shoal__peer_spec_of - the spec to open @name as pattern @p (see struct
 * shoal__peer_spec for the rest). */
struct shoal__peer_spec shoal__peer_spec_of(const struct shoal__pattern *p,
					    const char *who, const char *name,
					    uint32_t oflags,
					    const struct shoal__type *type,
					    int64_t timeout_ns,
					    void *user_data);

/*
 * One configuration word of an owner's header as a peer reads it: @hdr
 * its offset in the header, @out in the pattern's geometry, @size 4 or 8
 * bytes (the same in both), valid in [@min, @max], and with
 * SHOAL__FIELD_POW2 a power of two, with SHOAL__FIELD_ALIGN8 a multiple
 * of 8. The cross-checks between words stay the pattern's.
 */
struct shoal__field {
	uint16_t hdr, out;
	uint16_t info; /* where inspect reports it; SHOAL__FIELD_NO_INFO */
	uint8_t size, flags;
	uint64_t min, max;
};
#define SHOAL__FIELD_NO_INFO UINT16_MAX

/* An entry: word @h of header type @H, into @g of geometry type @G,
 * reported at @i of info type @I (SHOAL__FIELD_NO_INFO: not reported). */
#define SHOAL__FIELD(H, h, G, g, info, min, max, flags)                    \
	{                                                                  \
		offsetof(H, h), offsetof(G, g), info, sizeof(((H *)0)->h), \
			flags, min, max                                    \
	}
#define SHOAL__FIELD_POW2 1u
#define SHOAL__FIELD_ALIGN8 2u

/*
 * shoal__peer_fields - read each of the @n words once (the owner may be
 * hostile: a volatile load, as SHOAL__READ_ONCE) from header @hdr into
 * @geom, then check them. 0, or -1 if one is out of its range; every word
 * is read either way, so the caller's message can show them.
 */
int shoal__peer_fields(const void *hdr, void *geom,
		       const struct shoal__field *f, uint32_t n);

/*
 * The pattern's check of what the ranges do not say (the words against
 * each other and @hdr_size, the header object's size), when @out_of_range
 * is 0; either way it fails with a message naming the words, -EBADMSG.
 */
typedef int (*shoal__config_check_fn)(const void *geom, uint64_t hdr_size,
				      int out_of_range);

/* An owner's header as a peer checks it: shoal__peer_header()'s
 * arguments, the configuration words it holds, where the geometry keeps
 * the header's address, and the pattern's check. */
struct shoal__config {
	const char *who, *object;
	uint32_t kind, version;
	uint64_t magic, min_size;
	const struct shoal__field *fields;
	uint32_t nfields;
	uint32_t hdr_ptr; /* offset of a (void *) in the geometry */
	shoal__config_check_fn check;
};

/* The config of header type @H (object @object, kind @kind; fields magic
 * and version), with @fields, into geometry type @G (field hdr). */
#define SHOAL__CONFIG(who, object, kind, version, magic, H, fields, G, check) \
	{                                                                     \
		who, object, kind, version, magic, sizeof(H), fields,         \
			sizeof(fields) / sizeof((fields)[0]),                 \
			offsetof(G, hdr), check                               \
	}

/*
 * shoal__peer_config - shoal__peer_header(), the header's address into
 * the geometry @geom, shoal__peer_fields() into it, then the pattern's
 * check. 0, -EPROTO or -EBADMSG.
 */
int shoal__peer_config(struct shoal_segment *seg, const struct shoal__config *c,
		       void *geom);

/*
 * shoal__owner_config - the owner's half of @c: its magic, version and
 * each configuration word, from the geometry @geom (the struct its peers
 * read into), into its header @hdr before the segment is ready. The words
 * a peer reads with shoal__peer_config(), by the same table, so the two
 * sides cannot disagree on which words there are and where.
 */
void shoal__owner_config(const struct shoal__config *c, void *hdr,
			 const void *geom);

/* shoal__info_fields - the checked copies in @geom of the fields that
 * have an info offset, into the caller's @info (what inspect reports). */
void shoal__info_fields(void *info, const void *geom,
			const struct shoal__field *f, uint32_t n);

/* A statistics counter: a u64 at @from in shared memory, to @to in the
 * caller's struct. */
struct shoal__counter {
	uint16_t from, to;
};
#define SHOAL__COUNTER(S, s, D, d)             \
	{                                      \
		offsetof(S, s), offsetof(D, d) \
	}

/* shoal__load_counters - each of the @n counters of @src, a relaxed load
 * (statistics: nothing is ordered by them), into @dst. */
void shoal__load_counters(void *dst, const void *src,
			  const struct shoal__counter *c, uint32_t n);

/* The listing an inspection does: registry, service, read-only. */
struct shoal__inspect {
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc;
	struct shoal_segment *lines_seg; /* the peer's mapping, if any */
};

/* shoal__inspect_open - the registry (@reg or the default), then
 * shoal__peer_open() of @name as pattern @p (read-only, no wait, no closed
 * check), its geometry into @geom. -EINVAL (NULL @name or @info), or what
 * opening returns. */
int shoal__inspect_open(struct shoal__inspect *in, struct shoal_registry *reg,
			const struct shoal__pattern *p, const char *who,
			const char *name, const void *info, void *geom);
/* shoal__inspect_close - release what shoal__inspect_open() and the
 * lines mapping took; returns @ret. */
int shoal__inspect_close(struct shoal__inspect *in, int ret);

/* Where a pattern's participant lines are. */
struct shoal__lines_view {
	const void *base;
	uint64_t stride;
	uint32_t count;
};

/* Fills what the table does not in @out, from live line @line, @index. */
typedef void (*shoal__line_info_fn)(void *out, const void *line, uint32_t index,
				    void *ctx);

/*
 * How inspect describes a pattern's line: offsets of the u32 state word
 * (live when it equals @active) and of the i32 pid in a line; the size of
 * the caller's info element and the offsets of its u32 index and i32 pid;
 * the line's counters; @fill (may be NULL) for the rest.
 */
struct shoal__line_info {
	uint32_t state, active, pid;
	uint32_t out_size, out_index, out_pid;
	const struct shoal__counter *counters;
	uint32_t ncounters;
	shoal__line_info_fn fill;
};

/* The line info of line type @L (fields state and pid) live when its
 * state is @active, described into info type @O (fields @index and pid)
 * with the table @counters and @fill. */
#define SHOAL__LINE_INFO(L, active, O, index, counters, fill)            \
	{                                                                \
		offsetof(L, state), active, offsetof(L, pid), sizeof(O), \
			offsetof(O, index), offsetof(O, pid), counters,  \
			sizeof(counters) / sizeof((counters)[0]), fill   \
	}

/*
 * shoal__inspect_lines - the walk every inspect does over the lines of
 * in->lines_seg: a line counts when its state is @li->active (acquire:
 * pairs with the participant's release store of it, so what it wrote
 * before is seen) and its OFD lock is held (service/line_lock.h). The
 * first @cap live lines are described into @out when it is not NULL:
 * zeroed, index, pid (as the participant wrote it: untrusted), counters,
 * then @li->fill with @ctx. The live count.
 */
uint32_t shoal__inspect_lines(const struct shoal__inspect *in,
			      const struct shoal__lines_view *v,
			      const struct shoal__line_info *li, void *ctx,
			      void *out, uint32_t cap);

/*
 * shoal__peer_open - open @spec->name in @reg, check its pattern and type,
 * run the geometry callback, and refuse a service being withdrawn
 * (-ENOENT). While the answer is -ENOENT and @spec->timeout_ns allows,
 * wait for the registry to change (shoal_registry_watch(), no polling) and
 * try again; -ETIMEDOUT when the time is up. *@svc set on success only.
 */
int shoal__peer_open(struct shoal_registry *reg,
		     const struct shoal__peer_spec *spec,
		     struct shoal_service **svc);

/*
 * shoal__open_wait - run @try_open(@user_data) until it returns something
 * other than -ENOENT, waiting for changes of @reg in between, for up to
 * @timeout_ns (0: once; < 0: forever). Its answer, or -ETIMEDOUT.
 */
int shoal__open_wait(struct shoal_registry *reg, int64_t timeout_ns,
		     int (*try_open)(void *), void *user_data, const char *who,
		     const char *name);

/* Where a pattern's lines segment is (a constant of the pattern). */
struct shoal__lines_spec {
	const char *who;
	uint32_t index;	    /* the extra fd the owner hands it out as */
	const char *object; /* the lines object */
	uint32_t kind;
};

/*
 * shoal__peer_map_lines - take the owner's lines segment (@owner_fd its
 * number in the owner, as the header says), check it is a memfd, map it
 * (read-only if @read_only), and find its lines object: at least
 * @min_size bytes (from the owner's validated geometry and the segment
 * layer's validated size; the object's own header line is never trusted:
 * any peer can write it), on a cache line. *@seg and *@obj set on
 * success; 0, -EBADMSG, or what taking or mapping the fd returns.
 */
int shoal__peer_map_lines(struct shoal_service *svc,
			  const struct shoal__lines_spec *ls, int32_t owner_fd,
			  uint64_t min_size, int read_only,
			  struct shoal_segment **seg, void **obj);

/* shoal__peer_object - object @name (@kind) of @seg with at least
 * @min_size bytes, on a cache line; else -EBADMSG. */
int shoal__peer_object(struct shoal_segment *seg, const char *who,
		       const char *name, uint32_t kind, uint64_t min_size,
		       void **obj);

/*
 * shoal__peer_claim - a lock description of our own on @memfd and the
 * first line in [@first, @first+@count) nobody holds. The line's index,
 * -EBUSY (the caller says why), or -errno. *@lock_fd set in every case
 * where it was opened: close it to leave.
 */
int shoal__peer_claim(int memfd, uint32_t first, uint32_t count,
		      const char *who, int *lock_fd);

/*
 * shoal__peer_wake_fd - take line @line's eventfd from the owner (extra fd
 * @index, @owner_fd its number there) and check that it is one.
 * 0 or -errno; *@out set (and the caller's to close) if taken.
 */
int shoal__peer_wake_fd(struct shoal_service *svc, const char *who,
			uint32_t index, int32_t owner_fd, uint32_t line,
			int *out);

/*
 * shoal__peer_watch_owner - put the owner's pidfd (owned by @svc) in
 * @epfd, so a sleeper wakes when the owner dies. The pidfd, or -errno.
 */
int shoal__peer_watch_owner(struct shoal_service *svc, int epfd,
			    const char *who);

#endif
