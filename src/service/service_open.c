/* SPDX-License-Identifier: MIT */
/*
 * Opening that waits for the service (the timeout_ns of every pattern's
 * open options): try; while the answer is -ENOENT and time is left, wait
 * for the registry to change and try again.
 *
 * The wait is the registry's own watch (shoal_registry_watch()): it is
 * set up after the first attempt failed and before the second, so a
 * service published between the two is seen by the second attempt, and
 * one published later makes the watch's fd readable. Every wake-up only
 * triggers another attempt (any change will do: a wake-up is a hint), so
 * no event is interpreted and none can be missed; there is no polling.
 */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "service/service.h"

/* Drains the watch so its fd is quiet until the next change. */
static int drain(struct shoal_watch *w)
{
	struct shoal_watch_event ev;
	int n;

	while ((n = shoal_watch_next(w, &ev)) == 1)
		;
	return n;
}

/* Waits for the watch's fd until @deadline (-1: forever). 1 readable, 0
 * time is up, -errno. */
static int wait_change(struct shoal_watch *w, int64_t deadline)
{
	struct pollfd pfd = { .fd = shoal_watch_fd(w), .events = POLLIN };
	struct timespec ts, *tp = NULL;
	int n;

	for (;;) {
		if (deadline >= 0) {
			int64_t left = deadline - shoal__now_ns();

			if (left <= 0)
				return 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tp = &ts;
		}
		n = ppoll(&pfd, 1, tp, NULL);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int shoal__open_wait(struct shoal_registry *reg, int64_t timeout_ns,
		     int (*try_open)(void *), void *user_data, const char *who,
		     const char *name)
{
	int64_t deadline = timeout_ns < 0 ? -1 : shoal__deadline(timeout_ns);
	struct shoal_watch *w = NULL;
	int err, n;

	err = try_open(user_data);
	if (err != -ENOENT || timeout_ns == 0)
		return err;
	err = shoal_registry_watch(reg, &w);
	if (err)
		return err;
	for (;;) {
		n = drain(w);
		if (n < 0) {
			err = n;
			break;
		}
		err = try_open(user_data);
		if (err != -ENOENT)
			break;
		n = wait_change(w, deadline);
		if (n <= 0) {
			err = n ? shoal__fail(n, "%s: waiting for '%s': %d",
					      who, name, n) :
				  shoal__fail(-ETIMEDOUT,
					      "%s: no service '%s' appeared in "
					      "time",
					      who, name);
			break;
		}
	}
	{
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_watch_close(w);
		return shoal__detail_fail(&d, err);
	}
}
