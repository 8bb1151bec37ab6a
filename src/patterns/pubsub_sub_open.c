/* SPDX-License-Identifier: MIT */
/*
 * Pub/sub, the subscriber handle: its options, opening (waiting for the
 * service when asked), closing, and what it reports about itself.
 * pubsub_sub_rings.c joins and drops the publishers' rings; pubsub_sub.c
 * takes from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/pubsub.h"
#include "arch/error.h"
#include "patterns/pubsub_internal.h"
#include "service/service.h"
#include "registry/registry_internal.h"
#include "patterns/pubsub_sub_internal.h"

void shoal_sub_options_init(struct shoal_sub_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
	opts->max_held = 1;
}

int shoal_sub_open(const char *name, const struct shoal_sub_options *opts,
		   struct shoal_sub **out)
{
	struct shoal_sub_options defaults;
	struct shoal_sub *s;
	int err;

	opts = SHOAL__OPTIONS_OR(opts, defaults, shoal_sub_options_init);
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
	s = shoal__handle_alloc(sizeof(*s), "sub");
	if (!s)
		return -ENOMEM;
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
		err = shoal__sub_watch_registry(s);
	if (!err) {
		err = shoal__open_wait(s->reg, opts->timeout_ns,
				       shoal__sub_try_discover, s, "sub", name);
		/* With REATTACH, no publisher yet is fine: take() waits. */
		if (err == -ENOENT && (s->flags & SHOAL_SUB_REATTACH))
			err = 0;
	}
	SHOAL__HAND_OUT(err, s, shoal_sub_close, out);
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
	shoal__sub_detach_all(s);
	close(s->epfd);
	if (s->own_reg)
		shoal_registry_destroy(s->reg);
	free(s);
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
	st->skipped = s->skipped_gone;
	for (uint32_t i = 0; i < SHOAL_PUB_PUBLISHERS_MAX; i++)
		if (s->rings[i])
			st->skipped += s->rings[i]->ring.skipped;
}
