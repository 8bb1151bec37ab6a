/* SPDX-License-Identifier: MIT */
/*
 * Line ownership by OFD lock, as every pattern uses it: a participant owns
 * line i of a shared table while it holds an OFD write lock on byte i of a
 * memfd, taken through an open file description of its own. The kernel
 * drops the lock when the process dies, however it dies, so "nobody holds
 * the lock" (F_OFD_GETLK) proves the owner gone. A child forked while the
 * lock is held shares the description, and with it the lock.
 */
#ifndef SHOAL_LINE_LOCK_H
#define SHOAL_LINE_LOCK_H

#include <stdint.h>

/* shoal__line_lock_open - a fresh open file description of @memfd (via
 * /proc/self/fd), for taking and querying line locks. fd or -errno. */
int shoal__line_lock_open(int memfd, const char *who);

/* shoal__line_claim - lock the first free byte in [@first, @first+@count).
 * Its index, or -EBUSY when all are held. */
int shoal__line_claim(int lock_fd, uint32_t first, uint32_t count);

/* shoal__line_release - give back line @index, which we locked. */
void shoal__line_release(int lock_fd, uint32_t index);

/* shoal__line_locked - 1 if another description holds the lock on byte
 * @index, 0 if nobody does; 1 when the kernel cannot tell (never call a
 * line free on doubt). */
int shoal__line_locked(int lock_fd, uint32_t index);

#endif
