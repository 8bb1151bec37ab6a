/* SPDX-License-Identifier: MIT */
/*
 * Notify: eventfd wake-ups with the sleep protocol, and wait strategies.
 *
 * A wait word (64 bytes of shared memory, formatted by shoal_notify_format())
 * says whether the waiting side is asleep. The waiter stores "sleeping",
 * issues a seq_cst fence, re-checks its condition, then blocks in the eventfd.
 * The notifier publishes its data, issues a seq_cst fence, and writes the
 * eventfd only if "sleeping" is set. Either the waiter sees the data in its
 * re-check or the notifier sees the flag: no lost wake-up, and a busy stream
 * (waiter never asleep) makes no system call. See docs/notify.md.
 *
 * eventfds are created EFD_NONBLOCK: a peer that saturates the counter makes
 * the notifier's write return EAGAIN, which means "already signalled", never a
 * blocked notifier.
 *
 * A sleep lasts at most SHOAL_WAIT_SLICE_NS; then the waiter marks itself
 * asleep again, fences and re-checks before it sleeps again. A peer that
 * reads the eventfd (any process holding it can) or clears the "sleeping"
 * mark (any process that maps the word can) therefore delays a waiter by at
 * most one slice per wake-up it spoils, never forever; an idle waiter pays
 * one wake-up per slice.
 *
 * Thread safety: one thread per waiter at a time; one thread per notifier at
 * a time (several notifier handles on one word are fine).
 *
 * Blocking and system calls:
 *   shoal_notify_format, shoal_waiter_init, shoal_notifier_init,
 *     shoal_waiter_fd, shoal_waiter_sleeps, shoal_notifier_wakeups:
 *     neither; they read or write memory only.
 *   shoal_eventfd_create: one system call (eventfd); never blocks.
 *   shoal_wait: blocks until @ready, up to @timeout_ns, as the strategy
 *     says: spinning, sched_yield(), or sleeping in the kernel on the
 *     eventfd a slice (SHOAL_WAIT_SLICE_NS) at a time, then reading it
 *     to drain it; no system call when @ready holds at the first check.
 *   shoal_waiter_arm: no system call; it marks the waiter asleep and
 *     re-checks @ready. It never blocks.
 *   shoal_waiter_disarm: a read() of the eventfd (non-blocking) to drain
 *     it; never blocks.
 *   shoal_notify: an eventfd write() only when the waiter sleeps, else no
 *     system call; never blocks (the eventfd is non-blocking).
 */
#ifndef SHOAL_NOTIFY_H
#define SHOAL_NOTIFY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes a wait word occupies in shared memory (one cache line). */
#define SHOAL_NOTIFY_WORD_SIZE 64

/*
 * Longest one sleep in the kernel lasts (100 ms) before the waiter re-arms
 * and re-checks: the most a stolen or missing wake-up delays a waiter, and
 * the period at which an idle waiter wakes. An event loop that polls
 * shoal_waiter_fd() itself gets the same bound by polling with at most this
 * timeout and going round (disarm, try, arm) when it expires.
 */
#define SHOAL_WAIT_SLICE_NS (100 * 1000 * 1000LL)

enum shoal_wait_strategy {
	/* Spin until ready or timeout; lowest latency, burns a core. */
	SHOAL_WAIT_BUSY_SPIN = 1,
	/* Spin a while, then sched_yield() between checks. */
	SHOAL_WAIT_SPIN_YIELD = 2,
	/* Spin for an adaptive budget, then sleep in the eventfd (default). */
	SHOAL_WAIT_ADAPTIVE = 3,
	/* Go straight to sleep in the eventfd after one check. */
	SHOAL_WAIT_BLOCK = 4,
};

/* Predicate: nonzero when the condition waited for holds. */
typedef int (*shoal_ready_fn)(void *user_data);

/* Local waiter state. Fields are private. */
struct shoal_waiter {
	void *priv_flag;	/* the shared word holding the sleeping mark */
	void *priv_sleeps_word; /* shared u64 sleep counter, or NULL */
	uint32_t priv_mask;	/* bits of *priv_flag to set; 0: store 1 */
	int priv_fd;		/* the eventfd: drained after a wake */
	int priv_poll_fd;	/* what a sleep polls: priv_fd or a set */
	uint32_t priv_strategy;
	uint32_t priv_spin;	/* current adaptive spin budget, ns */
	uint32_t priv_spin_max; /* upper bound of that budget, ns */
	uint64_t priv_sleeps;	/* times this waiter blocked in the kernel */
};

/* Local notifier state. Fields are private. */
struct shoal_notifier {
	void *priv_word;
	int priv_fd;
	uint32_t priv_pad;
	uint64_t priv_wakeups; /* eventfd writes made */
};

/*
 * shoal_notify_format - lay out a wait word at @word (64-byte aligned,
 * SHOAL_NOTIFY_WORD_SIZE bytes): nobody asleep. Returns 0 or -EINVAL.
 */
SHOAL_API int shoal_notify_format(void *word);

/*
 * shoal_eventfd_create - an eventfd suited to the protocol (EFD_NONBLOCK,
 * EFD_CLOEXEC). Returns the fd, or -errno.
 */
SHOAL_API int shoal_eventfd_create(void);

/*
 * shoal_waiter_init - attach a waiter to @word and @eventfd (not owned: the
 * caller closes it) with @strategy (0: SHOAL_WAIT_ADAPTIVE). -EINVAL on a bad
 * strategy or fd.
 */
SHOAL_API int shoal_waiter_init(struct shoal_waiter *w, void *word, int eventfd,
				enum shoal_wait_strategy strategy);

/*
 * shoal_wait - wait until @ready(@user_data) is nonzero.
 *
 * Returns 0 when ready, -ETIMEDOUT after @timeout_ns (negative: forever; 0:
 * check once), or the -errno of poll/read on the eventfd. Blocks according to
 * the strategy. Spurious or merged wake-ups are absorbed here. A blocking
 * strategy sleeps in slices of at most SHOAL_WAIT_SLICE_NS and re-checks
 * @ready after each, so "forever" means "until @ready", even when a peer
 * steals the wake-ups or clears the sleeping mark.
 */
SHOAL_API int shoal_wait(struct shoal_waiter *w, shoal_ready_fn ready,
			 void *user_data, int64_t timeout_ns);

/*
 * shoal_waiter_fd - the pollable fd of this waiter (the eventfd). To use it
 * from an event loop: shoal_waiter_arm(), and if it returns 0 poll the fd for
 * POLLIN (with a timeout of at most SHOAL_WAIT_SLICE_NS, to bound what a
 * hostile peer can do), then shoal_waiter_disarm() and check the condition
 * again.
 */
SHOAL_API int shoal_waiter_fd(const struct shoal_waiter *w);

/*
 * shoal_waiter_arm - announce "sleeping" for an external poll. Returns 1 if
 * @ready is already true (do not poll), else 0 (poll the fd).
 * shoal_waiter_disarm - clear "sleeping" and drain the eventfd.
 */
SHOAL_API int shoal_waiter_arm(struct shoal_waiter *w, shoal_ready_fn ready,
			       void *user_data);
SHOAL_API void shoal_waiter_disarm(struct shoal_waiter *w);

/* Times this waiter went to sleep in the kernel (each slice counts). */
SHOAL_API uint64_t shoal_waiter_sleeps(const struct shoal_waiter *w);

/* shoal_notifier_init - attach a notifier to @word and @eventfd (not owned). */
SHOAL_API int shoal_notifier_init(struct shoal_notifier *n, void *word,
				  int eventfd);

/*
 * shoal_notify - call after publishing data (a release store). Issues the
 * seq_cst fence and writes the eventfd only if the waiter is asleep. Returns
 * 1 if a wake-up was written, 0 if none was needed, or -errno from write
 * (never -EAGAIN: a saturated counter already wakes the waiter). Never blocks.
 */
SHOAL_API int shoal_notify(struct shoal_notifier *n);

/* Wake-ups this notifier has written. */
SHOAL_API uint64_t shoal_notifier_wakeups(const struct shoal_notifier *n);

#ifdef __cplusplus
}
#endif

#endif
