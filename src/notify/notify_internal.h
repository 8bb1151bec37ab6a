/* SPDX-License-Identifier: MIT */
/* The parts of notify.c other layers build on; not public API. */
#ifndef SHOAL_SRC_NOTIFY_INTERNAL_H
#define SHOAL_SRC_NOTIFY_INTERNAL_H

#include <stdatomic.h>

#include "shoal/notify.h"
#include "arch/arch.h"

/*
 * Sets up @w to mark itself asleep in @flag: with @mask 0 by storing 1 (a
 * word of its own, as a notify word's), else by setting the @mask bits of
 * a word it shares with other waiters (a bitmap one notifier scans at once).
 * A sleep polls @poll_fd (the eventfd itself, or an epoll set holding it
 * and other wake-up sources) and then drains @eventfd. @sleeps, if not
 * NULL, receives the sleep count. Cannot fail: the caller validated all.
 */
void shoal__waiter_setup(struct shoal_waiter *w, _Atomic uint32_t *flag,
			 uint32_t mask, _Atomic uint64_t *sleeps, int eventfd,
			 int poll_fd, enum shoal_wait_strategy strategy);

/*
 * One step of a "try, then wait" loop with a timeout, for calls that retry
 * their operation between waits (take, pop, wait for a request...):
 *
 *   int64_t deadline = SHOAL__NO_DEADLINE_YET;
 *   for (;;) {
 *           err = try_op(); if (err != -EAGAIN) return err;
 *           err = shoal__wait_step(w, ready, ctx, timeout_ns, &deadline,
 *                                  slice_ns, "queue: nothing came");
 *           if (err < 0) return err;
 *   }
 *
 * Returns -EAGAIN when @timeout_ns is 0, -ETIMEDOUT (with @timeout_msg as
 * the detail) once the deadline (computed on the first call) has passed, 0
 * after a wait that ended ready, 1 after one that ended without (@slice_ns,
 * -1 for none, or the deadline ran out), or another -errno from
 * shoal_wait(). On 0 or 1 the caller tries its operation again, so a last
 * try follows every wait.
 */
#define SHOAL__NO_DEADLINE_YET (-2)
int shoal__wait_step(struct shoal_waiter *w, shoal_ready_fn ready, void *ctx,
		     int64_t timeout_ns, int64_t *deadline, int64_t slice_ns,
		     const char *timeout_msg);

/* Writes 1 to @fd; a saturated counter (EAGAIN) counts as done. 0/-errno. */
int shoal__eventfd_wake(int fd);

/*
 * Times @w blocked in the kernel (each slice counts), for the patterns'
 * "has it slept since I last looked?" checks: a sleep ends when anything in
 * the set it polls fires, a peer's pidfd included, so a pattern that sleeps
 * on a set looks at that set (or the peer's liveness) after a sleep, and
 * not on every call. shoal_waiter_sleeps() is the same, as a library call.
 */
static inline uint64_t shoal__waiter_sleeps(const struct shoal_waiter *w)
{
	return w->priv_sleeps;
}

/*
 * 1 if @w has slept since *@seen was last brought up to date, and brings
 * it up to date; else 0. The usual guard of a liveness look:
 *
 *   if (force || shoal__waiter_slept(&h->waiter, &h->pid_seen))
 *           look at the pidfd;
 */
static inline int shoal__waiter_slept(const struct shoal_waiter *w,
				      uint64_t *seen)
{
	if (w->priv_sleeps == *seen)
		return 0;
	*seen = w->priv_sleeps;
	return 1;
}

/*
 * Also count @w's sleeps in @word (shared memory, relaxed stores: a
 * statistic others may read), or stop doing so (NULL). For a waiter whose
 * counter word is known only after shoal__waiter_setup().
 */
void shoal__waiter_count_sleeps_in(struct shoal_waiter *w,
				   _Atomic uint64_t *word);

/*
 * The notifier's half of the sleep protocol on a sleeping mark of the
 * shape shoal__waiter_setup() takes (@mask 0: the whole word is the mark;
 * else the @mask bits of a word shared by several waiters). Call after
 * publishing (release): issues the full fence (pairs with the fence of
 * shoal_waiter_arm() between the waiter's mark and its re-check), then, if
 * the mark is set, takes it (clears it, so one notification per sleep
 * enters the kernel) and writes @eventfd. Returns 1 if it wrote a wake-up,
 * 0 if nobody was asleep (no system call), or -errno from the write, in
 * which case the mark is given back so the next notify tries again.
 * Never blocks. shoal_notify() is this on a notify word.
 */
int shoal__notify_mark(_Atomic uint32_t *flag, uint32_t mask, int eventfd);

/*
 * shoal__notify_mark() in parts, for a notifier that wakes several waiters
 * after one publish (one fence for all of them) or finds a waiter's eventfd
 * only once it knows it must write it:
 *
 *   publish (release);
 *   shoal__notify_fence();
 *   for each waiter that may sleep:
 *           if (shoal__notify_take(flag, mask)) {
 *                   err = shoal__eventfd_wake(its eventfd);
 *                   if (err) shoal__notify_give_back(flag, mask);
 *           }
 *
 * shoal__notify_fence() is the notifier's full fence: it orders the publish
 * before the loads of the marks and pairs with the waiter's fence between
 * its mark and its re-check (shoal_waiter_arm). shoal__notify_take() is 1
 * if the mark was set and this call cleared it (the caller must then wake
 * that waiter), else 0; relaxed, since the fence has ordered the publish.
 * shoal__notify_give_back() sets the mark again after a failed write, so
 * the next notify tries again.
 */
static inline void shoal__notify_fence(void)
{
	shoal__fence_full();
}

int shoal__notify_take(_Atomic uint32_t *flag, uint32_t mask);
void shoal__notify_give_back(_Atomic uint32_t *flag, uint32_t mask);

/*
 * shoal__notify_mark() for a notifier that maps the mark read-only (a
 * pub/sub subscriber and its publisher's header): the same fence, then a
 * load of the mark, and a write of @eventfd if it is set, without taking
 * it. The waiter clears its own mark when it wakes (shoal_waiter_disarm),
 * so several notifiers during one sleep may each write (the waiter drains
 * them all at once). Returns 1 if it wrote, 0 if nobody was asleep, or
 * -errno from the write (the mark is still set: the next notify tries
 * again).
 */
static inline int shoal__notify_mark_ro(const _Atomic uint32_t *flag,
					uint32_t mask, int eventfd)
{
	uint32_t bits = mask ? mask : ~0u;
	int err;

	/* Full fence: the caller's publish, then the load of the mark (the
	 * notifier's side of the store->load pair; notify.md). Inline: a
	 * subscriber's every release runs it. */
	shoal__notify_fence();
	/* Relaxed: the fence above ordered the caller's publish first. */
	if (!(atomic_load_explicit((_Atomic uint32_t *)flag,
				   memory_order_relaxed) &
	      bits))
		return 0;
	err = shoal__eventfd_wake(eventfd);
	return err ? err : 1;
}

/*
 * Wakes every waiter of @fds (@n eventfds, -1 entries skipped) whatever its
 * mark says, after the caller published a state every waiter must see (a
 * service closing): the notify fence first, so a waiter that misses the
 * write sees the state in its re-check. Write errors are ignored (a waiter
 * that missed the write sees the state within a slice).
 */
void shoal__notify_all(const int *fds, uint32_t n);

/*
 * Pauses a retry loop for @ns (at most a second) where nobody can wake
 * the caller: it waits for something another process does that writes no
 * fd and no mark the caller could sleep on (a client that has no line yet,
 * waiting for the server to reap a dead one). Not for a condition a
 * notifier publishes: that is shoal_wait()'s. Interrupted by a signal, it
 * returns early; the caller's loop looks again either way.
 */
void shoal__nap(int64_t ns);

#endif
