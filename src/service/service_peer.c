/* SPDX-License-Identifier: MIT */
/*
 * The peer side of the service layer (service.h): open by name with the
 * pattern, type and geometry checks, the lines segment, claiming a line,
 * a line's eventfd, the owner's pidfd in the epoll set, the one owner-gone
 * check; and the epoll helpers every handle uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shoal/notify.h"
#include "arch/error.h"
#include "segment/fdcheck.h"
#include "registry/registry_internal.h"
#include "service/service.h"

int shoal__epoll_new(const char *who)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		return shoal__fail(-errno, "%s: epoll_create1: %s", who,
				   strerror(errno));
	return fd;
}

int shoal__epoll_add(int epfd, int fd, uint64_t data, const char *who)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return shoal__fail(-errno, "%s: epoll_ctl: %s", who,
				   strerror(errno));
	return 0;
}

int shoal__check_open(const char *who, const char *name, const void *out,
		      uint32_t flags, uint32_t known, int strategy)
{
	if (!name || !out)
		return shoal__fail(-EINVAL, "%s: NULL argument", who);
	if (shoal__name_check(who, name))
		return -EINVAL;
	if (flags & ~known)
		return shoal__fail(-EINVAL, "%s: unknown flags 0x%x", who,
				   flags);
	if (strategy < 0 || strategy > SHOAL_WAIT_BLOCK)
		return shoal__fail(-EINVAL, "%s: unknown strategy %d", who,
				   strategy);
	return 0;
}

void *shoal__handle_alloc(size_t size, const char *who)
{
	void *h = calloc(1, size);

	if (!h)
		shoal__fail(-ENOMEM, "%s: out of memory", who);
	return h;
}

int shoal__make(const struct shoal__maker *m, const char *name,
		const void *opts, void *out)
{
	void *h;
	int err;

	if (!opts)
		opts = m->defaults;
	err = m->check(m->who, name, out, opts);
	if (err)
		return err;
	h = shoal__handle_alloc(m->size, m->who);
	if (!h)
		return -ENOMEM;
	err = m->setup(h, name, opts);
	if (err) {
		struct shoal__detail cause;

		shoal__detail_save(&cause);
		m->undo(h);
		return shoal__detail_fail(&cause, err);
	}
	m->hand_out(out, h);
	return 0;
}

int shoal__owner_gone_slow(struct shoal__owner_watch *w,
			   const struct shoal_service *svc, uint64_t sleeps,
			   int force)
{
	if (force || w->check_pid || sleeps != w->sleeps ||
	    (w->every && ++w->calls % w->every == 0)) {
		w->check_pid = 0;
		w->sleeps = sleeps;
		if (!shoal_service_alive(svc))
			return w->gone = 1;
	}
	return 0;
}

/*
 * What a service of @pattern is, as the patterns' own pattern_name says
 * it ("a queue"): for the message of an open that found another pattern.
 */
static const char *pattern_text(uint32_t pattern, char *buf, size_t cap)
{
	switch (pattern) {
	case SHOAL_PATTERN_CHANNEL:
		return "a channel";
	case SHOAL_PATTERN_PUBSUB:
		return "a pub/sub service";
	case SHOAL_PATTERN_QUEUE:
		return "a queue";
	case SHOAL_PATTERN_RPC:
		return "a request/response service";
	case SHOAL_PATTERN_EVENT:
		return "an event service";
	case SHOAL_PATTERN_STORE:
		return "a store";
	}
	snprintf(buf, cap, "a service of the application's pattern %u",
		 pattern);
	return buf;
}

/* One attempt of shoal__peer_open(). */
struct open_try {
	struct shoal_registry *reg;
	const struct shoal__peer_spec *spec;
	struct shoal_service *svc;
};

/*
 * A service of another pattern may refuse to be mapped writable (pub/sub
 * seals its segments) before its pattern can be looked at: ask again
 * read-only, so that the caller learns -EPROTO rather than a mapping
 * error. Else @err stays, with its detail.
 */
static int wrong_pattern(const struct open_try *t, int err)
{
	const struct shoal__peer_spec *sp = t->spec;
	struct shoal_service_info info;
	struct shoal__detail d;
	struct shoal_service *svc;
	char buf[64];

	shoal__detail_save(&d);
	if (shoal_registry_open(t->reg, sp->name, SHOAL_OPEN_READ_ONLY, &svc) ==
	    0) {
		shoal_service_get_info(svc, &info);
		shoal_service_close(svc);
		if (info.pattern != sp->pattern)
			return shoal__fail(-EPROTO, "%s: '%s' is %s, not %s",
					   sp->who, sp->name,
					   pattern_text(info.pattern, buf,
							sizeof(buf)),
					   sp->pattern_name);
	}
	return shoal__detail_fail(&d, err);
}

static int try_open(void *user_data)
{
	struct open_try *t = user_data;
	const struct shoal__peer_spec *sp = t->spec;
	const _Atomic uint32_t *closed = NULL;
	struct shoal_service_info info;
	char buf[64];
	int err;

	err = shoal_registry_open(t->reg, sp->name, sp->oflags, &t->svc);
	if (err == -ENOENT || (err && (sp->oflags & SHOAL_OPEN_READ_ONLY)))
		return err;
	if (err)
		return wrong_pattern(t, err);
	shoal_service_get_info(t->svc, &info);
	if (info.pattern != sp->pattern)
		err = shoal__fail(-EPROTO, "%s: '%s' is %s, not %s", sp->who,
				  sp->name,
				  pattern_text(info.pattern, buf, sizeof(buf)),
				  sp->pattern_name);
	if (!err)
		err = shoal__type_check(sp->who, sp->type, &info);
	if (!err && sp->geometry)
		err = sp->geometry(shoal_service_segment(t->svc),
				   sp->user_data);
	if (!err && sp->header) {
		void *hdr = shoal__owner_object(shoal_service_segment(t->svc),
						sp->header);

		closed = (const _Atomic uint32_t *)((const uint8_t *)hdr +
						    sp->closed_offset);
	}
	/* Acquire: pairs with the release store in shoal__owner_withdraw(). */
	if (!err && closed &&
	    atomic_load_explicit(closed, memory_order_acquire))
		err = shoal__fail(-ENOENT, "%s: '%s' is being withdrawn",
				  sp->who, sp->name);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_service_close(t->svc);
		t->svc = NULL;
		return shoal__detail_fail(&d, err);
	}
	return 0;
}

int shoal__peer_open(struct shoal_registry *reg,
		     const struct shoal__peer_spec *spec,
		     struct shoal_service **svc)
{
	struct open_try t = { reg, spec, NULL };
	int err;

	err = shoal__open_wait(reg, spec->timeout_ns, try_open, &t, spec->who,
			       spec->name);
	if (!err)
		*svc = t.svc;
	return err;
}

int shoal__peer_header(struct shoal_segment *seg, const char *who,
		       const char *object, uint32_t kind, uint64_t magic,
		       uint32_t version, uint64_t min_size, void **hdr,
		       uint64_t *size)
{
	struct shoal_object_info hi;
	const struct shoal__ident *h;

	if (shoal_segment_find(seg, object, kind, hdr, &hi))
		return shoal__fail(-EBADMSG,
				   "%s: the service's segment lacks its "
				   "header: %s",
				   who, shoal_last_error());
	/* The segment format allows any alignment; ours are on lines, and
	 * 64-bit atomics must never straddle one. */
	if (hi.size < min_size || hi.offset % SHOAL__CACHE_LINE)
		return shoal__fail(-EBADMSG,
				   "%s: header object too small or not on a "
				   "cache line",
				   who);
	h = *hdr;
	if (h->magic != magic)
		return shoal__fail(-EBADMSG, "%s: bad header magic", who);
	if (h->version != version)
		return shoal__fail(-EPROTO,
				   "%s: format version %u, expected %u", who,
				   h->version, version);
	*size = hi.size;
	return 0;
}

int shoal__peer_object(struct shoal_segment *seg, const char *who,
		       const char *name, uint32_t kind, uint64_t min_size,
		       void **obj)
{
	struct shoal_object_info oi;

	if (shoal_segment_find(seg, name, kind, obj, &oi) ||
	    oi.size < min_size || oi.offset % SHOAL__CACHE_LINE)
		return shoal__fail(-EBADMSG,
				   "%s: the lines segment does not match the "
				   "service",
				   who);
	return 0;
}

int shoal__peer_map_lines(struct shoal_service *svc,
			  const struct shoal__lines_spec *ls, int32_t owner_fd,
			  uint64_t min_size, int read_only,
			  struct shoal_segment **seg, void **obj)
{
	int fd, err;

	err = shoal__service_take_extra_fd(svc, ls->index, owner_fd, &fd);
	if (err)
		return err;
	if (shoal__fd_is_memfd(fd) != 1) {
		close(fd);
		return shoal__fail(-EBADMSG,
				   "%s: the lines segment is not a memfd",
				   ls->who);
	}
	err = shoal_segment_open(
		fd, read_only ? SHOAL_SEGMENT_OPEN_READ_ONLY : 0, seg);
	close(fd);
	if (err)
		return err;
	err = shoal__peer_object(*seg, ls->who, ls->object, ls->kind, min_size,
				 obj);
	if (err) {
		shoal_segment_close(*seg);
		*seg = NULL;
	}
	return err;
}

int shoal__peer_claim(int memfd, uint32_t first, uint32_t count,
		      const char *who, int *lock_fd)
{
	*lock_fd = shoal__line_lock_open(memfd, who);
	if (*lock_fd < 0)
		return *lock_fd;
	return shoal__line_claim(*lock_fd, first, count);
}

int shoal__peer_wake_fd(struct shoal_service *svc, const char *who,
			uint32_t index, int32_t owner_fd, uint32_t line,
			int *out)
{
	int err = shoal__service_take_extra_fd(svc, index, owner_fd, out);

	if (err)
		return err;
	if (shoal__fd_is_eventfd(*out) != 1)
		return shoal__fail(-EBADMSG,
				   "%s: wake-up fd %u is not an eventfd", who,
				   line);
	return 0;
}

int shoal__peer_watch_owner(struct shoal_service *svc, int epfd,
			    const char *who)
{
	int pidfd = shoal_service_pidfd(svc);
	int err = shoal__epoll_add(epfd, pidfd, (uint64_t)pidfd, who);

	return err ? err : pidfd;
}
