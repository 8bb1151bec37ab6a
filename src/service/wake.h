/* SPDX-License-Identifier: MIT */
/*
 * Waking one sleeper of a sleep bitmap, as an owner or peer does after a
 * change a sleeper waits for (a queue's push or pop). Inline: it runs on
 * the send path, and with @fd_of a static function of the caller the
 * compiler makes the call direct.
 */
#ifndef SHOAL_SERVICE_WAKE_H
#define SHOAL_SERVICE_WAKE_H

#include <stdint.h>

#include "arch/arch.h"
#include "notify/notify_internal.h"

/*
 * shoal__wake_one - after the waker's state change: fence, then take one
 * sleeper's bit from @bitmap (@words words over @lines lines) and wake it
 * through @fd_of (the line's eventfd, or -1). A wake that fails puts the
 * bit back for the next one. 1 if it woke someone, else 0.
 */
static inline int shoal__wake_one(_Atomic uint32_t *bitmap, uint32_t words,
				  uint32_t lines,
				  int (*fd_of)(void *, uint32_t),
				  void *user_data)
{
	/* Pairs with the sleeper's fence between setting its bit and
	 * retrying (shoal_waiter_arm): it sees our change or we its bit. */
	shoal__fence_full();
	for (uint32_t w = 0; w < words; w++) {
		uint32_t v =
			atomic_load_explicit(&bitmap[w], memory_order_relaxed);

		while (v) {
			uint32_t bit = 1u << __builtin_ctz(v);
			uint32_t old = atomic_fetch_and_explicit(
				&bitmap[w], ~bit, memory_order_relaxed);
			uint32_t j = w * 32 + (uint32_t)__builtin_ctz(v);
			int fd;

			if (old & bit && j < lines) {
				fd = fd_of(user_data, j);
				if (fd >= 0 && !shoal__eventfd_wake(fd))
					return 1;
				/* The next wake tries again. */
				atomic_fetch_or_explicit(&bitmap[w], bit,
							 memory_order_relaxed);
				return 0;
			}
			v = old & ~bit;
		}
	}
	return 0;
}

#endif
