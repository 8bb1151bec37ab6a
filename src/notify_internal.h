/* SPDX-License-Identifier: MIT */
/* The parts of notify.c other layers build on; not public API. */
#ifndef SHOAL_SRC_NOTIFY_INTERNAL_H
#define SHOAL_SRC_NOTIFY_INTERNAL_H

#include <stdatomic.h>

#include "shoal/notify.h"

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

/* Writes 1 to @fd; a saturated counter (EAGAIN) counts as done. 0/-errno. */
int shoal__eventfd_wake(int fd);

#endif
