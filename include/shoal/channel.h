/* SPDX-License-Identifier: MIT */
/*
 * Channel: a one-way, two-process message stream. It puts together a segment
 * (objects "ring", "data_wait" and "space_wait"), an SPSC ring, and two
 * eventfds with the sleep protocol: one wakes the receiver when data arrives,
 * the other wakes the sender when space frees up.
 *
 * The creating process owns the memfd and eventfds. A peer gets them (by
 * fork, SCM_RIGHTS, or pidfd_getfd) and calls shoal_channel_open(). Each
 * handle has a role: it sends or it receives, and exactly one handle of each
 * role may be active per channel.
 *
 * Thread safety: one thread at a time per handle. Blocking calls wait with
 * the handle's wait strategy and honour timeout_ns (negative: forever).
 */
#ifndef SHOAL_CHANNEL_H
#define SHOAL_CHANNEL_H

#include "common.h"
#include "notify.h"
#include "ring_spsc.h"

#ifdef __cplusplus
extern "C" {
#endif

enum shoal_channel_role {
	SHOAL_CHANNEL_SEND = 1,
	SHOAL_CHANNEL_RECV = 2,
};

struct shoal_channel_options {
	uint32_t capacity;  /* slots, power of two; default 1024 */
	uint32_t slot_size; /* payload bytes per slot; default 1024 */
	enum shoal_wait_strategy strategy; /* default SHOAL_WAIT_ADAPTIVE */
	uint64_t start_pos;		   /* first ring position; default 0 */
};

/* The descriptors a peer needs to open the channel. */
struct shoal_channel_fds {
	int memfd;
	int data_eventfd;  /* written by the sender, read by the receiver */
	int space_eventfd; /* written by the receiver, read by the sender */
};

struct shoal_channel;

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_channel_options_init(struct shoal_channel_options *opts);

/*
 * shoal_channel_create - create a channel and take @role in it. Returns 0,
 * -EINVAL (bad options), or what segment/eventfd creation returns.
 */
SHOAL_API int shoal_channel_create(const struct shoal_channel_options *opts,
				   enum shoal_channel_role role,
				   struct shoal_channel **out);

/*
 * shoal_channel_open - open the channel behind @fds (duplicated; the caller
 * keeps its own) with @role. @opts supplies only the wait strategy (NULL:
 * default); the geometry comes from the validated segment. Returns 0 or what
 * shoal_segment_open() returns, -EPROTO if an object has the wrong kind,
 * -EBADMSG if the ring inside is corrupt.
 */
SHOAL_API int shoal_channel_open(const struct shoal_channel_fds *fds,
				 const struct shoal_channel_options *opts,
				 enum shoal_channel_role role,
				 struct shoal_channel **out);

/* shoal_channel_close - release the handle (created or opened). NULL: no-op. */
SHOAL_API void shoal_channel_close(struct shoal_channel *ch);

/* The channel's descriptors, still owned by @ch. */
SHOAL_API void shoal_channel_get_fds(const struct shoal_channel *ch,
				     struct shoal_channel_fds *fds);

/*
 * shoal_channel_send - copy a message in, waiting up to @timeout_ns for space.
 * 0, -ETIMEDOUT, -EMSGSIZE, -EBADF (not a sender), or a ring error.
 * shoal_channel_recv - copy the next message out, waiting up to @timeout_ns.
 * Its length, -ETIMEDOUT, -EMSGSIZE (@cap too small; it stays), -EBADMSG,
 * -EBADF (not a receiver).
 */
SHOAL_API int shoal_channel_send(struct shoal_channel *ch, const void *data,
				 uint32_t len, int64_t timeout_ns);
SHOAL_API ssize_t shoal_channel_recv(struct shoal_channel *ch, void *buf,
				     size_t cap, int64_t timeout_ns);

/*
 * Zero copy. shoal_channel_claim waits for a free slot and points *slot at it;
 * shoal_channel_commit publishes it and wakes a sleeping receiver.
 * shoal_channel_peek waits for a message and shows it in place until
 * shoal_channel_release, which also wakes a sender waiting for space.
 */
SHOAL_API int shoal_channel_claim(struct shoal_channel *ch, void **slot,
				  int64_t timeout_ns);
SHOAL_API int shoal_channel_commit(struct shoal_channel *ch, uint32_t len);
SHOAL_API int shoal_channel_peek(struct shoal_channel *ch, const void **data,
				 uint32_t *len, int64_t timeout_ns);
SHOAL_API int shoal_channel_release(struct shoal_channel *ch);

/*
 * For batch work on the ring itself: the sender's producer or the receiver's
 * consumer handle (NULL for the other role), and shoal_channel_wake(), to be
 * called after committing or releasing on it directly so a sleeping peer wakes.
 */
SHOAL_API struct shoal_spsc_producer *
shoal_channel_producer(struct shoal_channel *ch);
SHOAL_API struct shoal_spsc_consumer *
shoal_channel_consumer(struct shoal_channel *ch);
SHOAL_API int shoal_channel_wake(struct shoal_channel *ch);

/*
 * shoal_channel_wait - wait until the handle can make progress (a message to
 * receive / a slot to send into). 0, -ETIMEDOUT.
 */
SHOAL_API int shoal_channel_wait(struct shoal_channel *ch, int64_t timeout_ns);

/*
 * For event loops (epoll, libuv, asyncio): shoal_channel_fd() is an fd that
 * becomes readable when this handle may make progress. Before polling it,
 * call shoal_channel_arm(): 1 means progress is possible already (do not
 * poll), 0 means poll. After the poll returns, call shoal_channel_disarm()
 * and retry the operation with a zero timeout.
 */
SHOAL_API int shoal_channel_fd(const struct shoal_channel *ch);
SHOAL_API int shoal_channel_arm(struct shoal_channel *ch);
SHOAL_API void shoal_channel_disarm(struct shoal_channel *ch);

/* Eventfd writes this handle made, and times it slept in the kernel. */
SHOAL_API uint64_t shoal_channel_wakeups(const struct shoal_channel *ch);
SHOAL_API uint64_t shoal_channel_sleeps(const struct shoal_channel *ch);

#ifdef __cplusplus
}
#endif

#endif
