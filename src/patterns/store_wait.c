/* SPDX-License-Identifier: MIT */
/*
 * Blackboard change notification, through an event service (event.h)
 * beside the store, named "<store>/events", created and withdrawn by the
 * store's owner. Key k of a blackboard whose entry says event_base b is
 * event id (b + k) % event_ids; keys share ids when there are more keys
 * than ids, which only wakes a waiter for nothing now and then.
 *
 *  - A write: the value first (the cell's change counter moves, release),
 *    then shoal_event_notify() of the key's id, which costs atomics and no
 *    system call unless a listener of that id sleeps.
 *  - A wait: compare each watched key's change counter with what the
 *    caller saw; if none moved, listen for the keys' ids (event.h: a
 *    notify after listen() returned is never lost), compare again, then
 *    wait on the event service. Every wake-up is a hint: the counters
 *    decide. The wait is sliced (SLICE_NS), so a write made by a handle
 *    that could not reach the event service still ends a wait, late.
 * The event handle of a peer is opened at its first write or wait; an
 * owner uses the one it created.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "patterns/store_internal.h"

/* The longest one sleep lasts before the counters are looked at again. */
#define SLICE_NS 100000000LL
/* Sleep between looks when the store has no event service. */
#define POLL_NS 1000000LL

static int events(struct shoal_store *s)
{
	struct shoal_event_options eo;
	char evname[SHOAL_SERVICE_NAME_MAX + sizeof(SHOAL__STORE_EVENTS_SUFFIX)];
	int err;

	if (s->ev)
		return 0;
	if (!s->g.event_ids)
		return -ENOTSUP;
	shoal_event_options_init(&eo);
	eo.registry = s->reg;
	eo.type_name = "shoal.store";
	if (s->oflags & SHOAL_OPEN_NO_PIDFD_GETFD)
		eo.flags = SHOAL_EVENT_NO_PIDFD_GETFD;
	snprintf(evname, sizeof(evname), "%s%s", s->name,
		 SHOAL__STORE_EVENTS_SUFFIX);
	err = shoal_event_open(evname, &eo, &s->ev);
	if (err)
		s->ev = NULL;
	return err;
}

void shoal__store_notify(struct shoal_store *s, uint32_t id)
{
	if (!s->ev && (s->ev_failed || events(s))) {
		s->ev_failed = 1; /* waiters then see the change a slice late */
		return;
	}
	/* Errors are the listeners' loss only, and bounded by their slice. */
	(void)shoal_event_notify(s->ev, id);
}

/* Looks at every watch; the number that changed. */
static int look(struct shoal_store_watch *w, uint32_t n)
{
	int changed = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = shoal_blackboard_version(w[i].bb, w[i].key);

		w[i].changed = v != w[i].seen;
		if (w[i].changed) {
			w[i].seen = v;
			changed++;
		}
	}
	return changed;
}

static int listen_for(struct shoal_store *s, struct shoal_store_watch *w,
		      uint32_t n, struct shoal_event_set *set)
{
	int err;

	shoal_event_set_clear(set);
	for (uint32_t i = 0; i < n; i++)
		shoal_event_set_add(
			set,
			(uint32_t)(((uint64_t)w[i].bb->event_base + w[i].key) %
				   s->g.event_ids));
	if (s->listens && !memcmp(set, &s->listening, sizeof(*set)))
		return 0;
	err = shoal_event_listen(s->ev, set);
	if (err)
		return err;
	s->listening = *set;
	s->listens = 1;
	return 0;
}

static void nap(int64_t ns)
{
	struct timespec t = { ns / 1000000000LL, ns % 1000000000LL };

	nanosleep(&t, NULL);
}

int shoal_store_wait(struct shoal_store *s, struct shoal_store_watch *w,
		     uint32_t n, int64_t timeout_ns)
{
	struct shoal_event_set set;
	int64_t deadline = 0;
	int changed, use_events;

	if (!s || !w || !n)
		return shoal__fail(-EINVAL, "store_wait: no watches");
	for (uint32_t i = 0; i < n; i++)
		if (!w[i].bb || w[i].bb->store != s ||
		    w[i].key >= w[i].bb->count)
			return shoal__fail(-EINVAL,
					   "store_wait: watch %u is not a key "
					   "of a blackboard of this store",
					   i);
	changed = look(w, n);
	if (changed || !timeout_ns)
		return changed ? changed : -EAGAIN;
	if (timeout_ns > 0)
		deadline = shoal__now_ns() + timeout_ns;
	use_events = !events(s) && !listen_for(s, w, n, &set);
	for (;;) {
		int64_t slice = use_events ? SLICE_NS : POLL_NS;
		int err;

		/* After listen(): a write from here on is notified. */
		changed = look(w, n);
		if (changed)
			return changed;
		if (deadline) {
			int64_t left = deadline - shoal__now_ns();

			if (left <= 0)
				return shoal__fail(-ETIMEDOUT,
						   "store_wait: no change in "
						   "time");
			if (left < slice)
				slice = left;
		}
		if (!use_events) {
			nap(slice);
			continue;
		}
		err = shoal_event_wait(s->ev, &set, slice, NULL);
		if (err == -EPIPE) {
			changed = look(w, n);
			return changed ? changed :
					 shoal__fail(-EPIPE,
						     "store_wait: '%s' was "
						     "withdrawn",
						     s->name);
		}
		if (err < 0 && err != -ETIMEDOUT && err != -EAGAIN)
			return err;
	}
}
