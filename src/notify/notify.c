/* SPDX-License-Identifier: MIT */
/*
 * Notify: the sleep protocol over eventfd, and the wait strategies.
 *
 * The protocol is the store->load (Dekker) pattern:
 *
 *   waiter                            notifier
 *   sleeping = 1                      publish data (release)
 *   fence(seq_cst)                    fence(seq_cst)
 *   if ready(): sleeping = 0, done    if sleeping: write(eventfd)
 *   poll(eventfd), read(eventfd)
 *   sleeping = 0, check ready() again
 *
 * With both fences, at least one side sees the other's store: either the
 * waiter's re-check finds the data, or the notifier finds the flag and writes
 * the eventfd (which stays readable until read, so a write that lands before
 * the poll is not lost). A notifier that finds no sleeper makes no system
 * call, so a busy stream costs one fence per publish and nothing else.
 *
 * Wake-ups are hints: several notifications may merge into one eventfd
 * count, and a stale "sleeping" flag causes a harmless spurious write. The
 * waiter therefore always re-checks its condition and loops.
 *
 * eventfds are non-blocking on both sides. The waiter uses ppoll() to sleep
 * (it honours the timeout) and a read() to drain. A notifier whose write
 * fails with EAGAIN faces a counter saturated by some peer: the fd is already
 * readable, so the waiter will wake anyway; this is success, not an error,
 * and the notifier never blocks.
 *
 * The notifier that finds the flag set clears it (one atomic exchange) before
 * writing the eventfd, so a sleeping waiter costs its notifiers one system
 * call, not one per message published while it is waking up. A hostile
 * waiter can at worst make its notifier issue needless writes.
 *
 * A hostile notifier (or any process that holds the eventfd or maps the
 * word) can do worse to a waiter: read the eventfd before the waiter sees
 * it, or clear the flag so that honest notifiers see nobody asleep and write
 * nothing. Neither can be prevented (a peer must be able to write the fd and
 * the word), so a sleep is bounded instead: the waiter sleeps at most
 * SHOAL_WAIT_SLICE_NS, then goes round the protocol again (flag, fence,
 * re-check, which in the patterns also looks at the peer's pidfd). A spoilt
 * wake-up costs at most one slice of latency; an idle waiter costs one
 * wake-up per slice (see docs/notify.md for the measured share); a busy
 * stream, whose waiter never sleeps, costs nothing more.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "shoal/notify.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "segment/layout.h"
#include "notify/notify_internal.h"

/* Adaptive spin budget bounds, in nanoseconds. */
#define SPIN_MIN_NS 1000
#define SPIN_START_NS 20000
#define SPIN_MAX_NS 100000
/* Checks between clock reads while spinning. */
#define CHECKS_PER_CLOCK 32
/* How long SPIN_YIELD spins before it starts yielding. */
#define YIELD_AFTER_NS 5000

int shoal_notify_format(void *word)
{
	struct shoal__notify_word *w = word;

	if (!w || (uintptr_t)w % SHOAL__CACHE_LINE)
		return shoal__fail(
			-EINVAL, "notify_format: word must be 64-byte aligned");
	memset(w, 0, sizeof(*w));
	w->magic = SHOAL__NOTIFY_MAGIC;
	return 0;
}

int shoal_eventfd_create(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return shoal__fail(-errno, "eventfd: %s", strerror(errno));
	return fd;
}

static int word_check(void *word, int fd, const char *who)
{
	struct shoal__notify_word *w = word;

	if (!w || (uintptr_t)w % SHOAL__CACHE_LINE || fd < 0)
		return shoal__fail(-EINVAL, "%s: bad word or fd", who);
	if (w->magic != SHOAL__NOTIFY_MAGIC)
		return shoal__fail(-EBADMSG, "%s: not a formatted wait word",
				   who);
	return 0;
}

int shoal_waiter_init(struct shoal_waiter *w, void *word, int eventfd,
		      enum shoal_wait_strategy strategy)
{
	int err;

	if (!w)
		return shoal__fail(-EINVAL, "waiter_init: NULL");
	if ((int)strategy == 0)
		strategy = SHOAL_WAIT_ADAPTIVE;
	if (strategy < SHOAL_WAIT_BUSY_SPIN || strategy > SHOAL_WAIT_BLOCK)
		return shoal__fail(-EINVAL, "waiter_init: unknown strategy %d",
				   (int)strategy);
	err = word_check(word, eventfd, "waiter_init");
	if (err)
		return err;
	shoal__waiter_setup(w, &((struct shoal__notify_word *)word)->sleeping,
			    0, &((struct shoal__notify_word *)word)->sleeps,
			    eventfd, eventfd, strategy);
	return 0;
}

void shoal__waiter_setup(struct shoal_waiter *w, _Atomic uint32_t *flag,
			 uint32_t mask, _Atomic uint64_t *sleeps, int eventfd,
			 int poll_fd, enum shoal_wait_strategy strategy)
{
	memset(w, 0, sizeof(*w));
	w->priv_flag = (void *)flag;
	w->priv_mask = mask;
	w->priv_sleeps_word = (void *)sleeps;
	w->priv_fd = eventfd;
	w->priv_poll_fd = poll_fd;
	w->priv_strategy = (uint32_t)strategy;
	w->priv_spin = SPIN_START_NS;
	w->priv_spin_max = SPIN_MAX_NS;
}

int shoal_waiter_fd(const struct shoal_waiter *w)
{
	return w->priv_poll_fd;
}

uint64_t shoal_waiter_sleeps(const struct shoal_waiter *w)
{
	return shoal__waiter_sleeps(w);
}

void shoal__waiter_count_sleeps_in(struct shoal_waiter *w,
				   _Atomic uint64_t *word)
{
	w->priv_sleeps_word = (void *)word;
}

/* Empties the eventfd counter so the next poll sleeps. */
static void drain(int fd)
{
	uint64_t v;

	/* Non-blocking: EAGAIN just means another read got there first. */
	if (read(fd, &v, sizeof(v)) < 0)
		(void)0;
}

/* Sets or clears this waiter's sleeping mark. Relaxed: the callers
 * order it (arm fences after setting; a late clear only costs a notifier a
 * spurious write). A mark that is some bits of a word shared with other
 * waiters is set and cleared atomically, so neighbours' bits survive. */
static void mark(struct shoal_waiter *w, int sleeping)
{
	_Atomic uint32_t *flag = w->priv_flag;

	if (!w->priv_mask)
		atomic_store_explicit(flag, sleeping ? 1 : 0,
				      memory_order_relaxed);
	else if (sleeping)
		atomic_fetch_or_explicit(flag, w->priv_mask,
					 memory_order_relaxed);
	else
		atomic_fetch_and_explicit(flag, ~w->priv_mask,
					  memory_order_relaxed);
}

int shoal_waiter_arm(struct shoal_waiter *w, shoal_ready_fn ready,
		     void *user_data)
{
	mark(w, 1);
	/* Full fence: orders the store of sleeping before the re-check
	 * below; pairs with the notifier's fence between its publish and its
	 * load of sleeping (shoal_notify). */
	shoal__fence_full();
	if (ready(user_data)) {
		mark(w, 0);
		return 1;
	}
	return 0;
}

void shoal_waiter_disarm(struct shoal_waiter *w)
{
	drain(w->priv_fd);
	mark(w, 0);
}

/*
 * Sleeps in the eventfd until ready or @deadline (-1: none), never longer
 * than SHOAL_WAIT_SLICE_NS at a time: after each slice the loop re-arms
 * (sets the mark again, fences, re-checks @ready, which also looks at the
 * peer's liveness in the patterns), so a wake-up that a peer stole or
 * never wrote costs at most one slice. Nothing here runs while the
 * condition holds: a busy stream never gets this far.
 */
static int block(struct shoal_waiter *w, shoal_ready_fn ready, void *user_data,
		 int64_t deadline)
{
	struct pollfd pfd = { .fd = w->priv_poll_fd, .events = POLLIN };

	for (;;) {
		int64_t slice = SHOAL_WAIT_SLICE_NS;
		struct timespec ts;
		int r;

		if (shoal_waiter_arm(w, ready, user_data))
			return 0;
		if (deadline >= 0) {
			int64_t left = deadline - shoal__now_ns();

			if (left <= 0) {
				shoal_waiter_disarm(w);
				return ready(user_data) ?
					       0 :
					       shoal__fail(-ETIMEDOUT,
							   "wait: timed out");
			}
			if (left < slice)
				slice = left;
		}
		ts.tv_sec = slice / 1000000000;
		ts.tv_nsec = slice % 1000000000;
		w->priv_sleeps++;
		if (w->priv_sleeps_word)
			atomic_store_explicit(
				(_Atomic uint64_t *)w->priv_sleeps_word,
				w->priv_sleeps, memory_order_relaxed);
		r = ppoll(&pfd, 1, &ts, NULL);
		shoal_waiter_disarm(w);
		if (r < 0 && errno != EINTR)
			return shoal__fail(-errno, "wait: ppoll: %s",
					   strerror(errno));
		if (ready(user_data))
			return 0;
		/* Spurious, merged, interrupted, stolen or the slice ran
		 * out: go round, re-arming. */
	}
}

/*
 * Spins until ready, @until (absolute ns) or @deadline, whichever is first,
 * optionally yielding the CPU between checks. 0 if ready, else -ETIMEDOUT.
 */
static int spin(shoal_ready_fn ready, void *user_data, int64_t until,
		int64_t deadline, int yield)
{
	if (deadline >= 0 && (until < 0 || deadline < until))
		until = deadline;
	for (;;) {
		for (int i = 0; i < CHECKS_PER_CLOCK; i++) {
			if (ready(user_data))
				return 0;
			if (yield)
				sched_yield();
			else
				shoal__cpu_relax();
		}
		if (until >= 0 && shoal__now_ns() >= until)
			return -ETIMEDOUT;
	}
}

int shoal_wait(struct shoal_waiter *w, shoal_ready_fn ready, void *user_data,
	       int64_t timeout_ns)
{
	int64_t deadline, start;
	int err;

	if (ready(user_data))
		return 0;
	if (timeout_ns == 0)
		return shoal__fail(-ETIMEDOUT, "wait: not ready");
	deadline = shoal__deadline(timeout_ns);

	switch (w->priv_strategy) {
	case SHOAL_WAIT_BUSY_SPIN:
		err = spin(ready, user_data, -1, deadline, 0);
		break;
	case SHOAL_WAIT_SPIN_YIELD:
		err = spin(ready, user_data, shoal__now_ns() + YIELD_AFTER_NS,
			   deadline, 0);
		if (err)
			err = spin(ready, user_data, -1, deadline, 1);
		break;
	case SHOAL_WAIT_ADAPTIVE:
		start = shoal__now_ns();
		err = spin(ready, user_data, start + w->priv_spin, deadline, 0);
		if (err && (deadline < 0 || shoal__now_ns() < deadline)) {
			int64_t waited;

			err = block(w, ready, user_data, deadline);
			/* Spin next time for about twice a wait this short,
			 * so a steady stream stays out of the kernel; after a
			 * long wait, spin less, so an idle waiter costs
			 * (almost) no CPU. */
			waited = shoal__now_ns() - start;
			if (waited <= SPIN_MAX_NS / 2)
				w->priv_spin = (uint32_t)(2 * waited);
			else
				w->priv_spin /= 2;
			if (w->priv_spin < SPIN_MIN_NS)
				w->priv_spin = SPIN_MIN_NS;
			if (w->priv_spin > w->priv_spin_max)
				w->priv_spin = w->priv_spin_max;
		}
		break;
	default:
		err = block(w, ready, user_data, deadline);
		break;
	}
	if (err == -ETIMEDOUT)
		return shoal__fail(-ETIMEDOUT, "wait: timed out");
	return err;
}

int shoal_notifier_init(struct shoal_notifier *n, void *word, int eventfd)
{
	int err;

	if (!n)
		return shoal__fail(-EINVAL, "notifier_init: NULL");
	err = word_check(word, eventfd, "notifier_init");
	if (err)
		return err;
	memset(n, 0, sizeof(*n));
	n->priv_word = word;
	n->priv_fd = eventfd;
	return 0;
}

int shoal__notify_take(_Atomic uint32_t *flag, uint32_t mask)
{
	uint32_t bits = mask ? mask : ~0u;

	/* Relaxed: the caller's notify fence already ordered its publish
	 * before these loads. A plain load first, so a notifier that finds
	 * nobody asleep does not write the waiter's cache line. Taking the
	 * mark means that of all the notifications made while the waiter
	 * sleeps, only the first enters the kernel; the waiter sets it again
	 * before it next sleeps. */
	if (!(atomic_load_explicit(flag, memory_order_relaxed) & bits))
		return 0;
	if (!mask)
		return atomic_exchange_explicit(flag, 0,
						memory_order_relaxed) != 0;
	return (atomic_fetch_and_explicit(flag, ~mask, memory_order_relaxed) &
		mask) != 0;
}

void shoal__notify_give_back(_Atomic uint32_t *flag, uint32_t mask)
{
	if (!mask)
		atomic_store_explicit(flag, 1, memory_order_relaxed);
	else
		atomic_fetch_or_explicit(flag, mask, memory_order_relaxed);
}

int shoal__notify_mark(_Atomic uint32_t *flag, uint32_t mask, int eventfd)
{
	int err;

	shoal__notify_fence();
	if (!shoal__notify_take(flag, mask))
		return 0;
	err = shoal__eventfd_wake(eventfd);
	if (err) {
		/* Only under injected faults (a real eventfd write cannot
		 * fail here). */
		shoal__notify_give_back(flag, mask);
		return err;
	}
	return 1;
}

void shoal__notify_all(const int *fds, uint32_t n)
{
	/* Full fence: orders the caller's publish (a closed flag) before the
	 * writes; a waiter that armed after them sees the flag in its
	 * re-check (pairs with the fence in shoal_waiter_arm). */
	shoal__notify_fence();
	for (uint32_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			(void)shoal__eventfd_wake(fds[i]);
}

int shoal_notify(struct shoal_notifier *n)
{
	struct shoal__notify_word *word = n->priv_word;
	int r = shoal__notify_mark(&word->sleeping, 0, n->priv_fd);

	if (r == 1)
		n->priv_wakeups++;
	return r;
}

int shoal__wait_step(struct shoal_waiter *w, shoal_ready_fn ready, void *ctx,
		     int64_t timeout_ns, int64_t *deadline, int64_t slice_ns,
		     const char *timeout_msg)
{
	int64_t wait_ns = slice_ns;
	int err;

	if (timeout_ns == 0)
		return -EAGAIN;
	if (*deadline == SHOAL__NO_DEADLINE_YET)
		*deadline = shoal__deadline(timeout_ns);
	if (*deadline >= 0) {
		int64_t left = *deadline - shoal__now_ns();

		if (left <= 0)
			return shoal__fail(-ETIMEDOUT, "%s", timeout_msg);
		if (wait_ns < 0 || left < wait_ns)
			wait_ns = left;
	}
	err = shoal_wait(w, ready, ctx, wait_ns);
	if (!err)
		return 0;
	return err == -ETIMEDOUT ? 1 : err;
}

int shoal__eventfd_wake(int fd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, so the fd is readable already. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return shoal__fail(-errno, "notify: eventfd write: %s",
				   strerror(errno));
	return 0;
}

void shoal__nap(int64_t ns)
{
	struct timespec ts = { 0, 0 };

	if (ns <= 0)
		return;
	if (ns > 1000000000)
		ns = 1000000000;
	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	nanosleep(&ts, NULL);
}

uint64_t shoal_notifier_wakeups(const struct shoal_notifier *n)
{
	return n->priv_wakeups;
}
