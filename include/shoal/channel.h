/* SPDX-License-Identifier: MIT */
/*
 * Channel: a one-way stream between two processes, found by name. One SPSC
 * ring and two wait words in the creator's segment, and two eventfds, with
 * notify's sleep protocol: one wakes the receiver when data arrives, the
 * other wakes the sender when a slot frees up. A busy channel makes no
 * system call. See docs/channel.md.
 *
 * The creator publishes it under a name and takes one role (the options'
 * role: sender or receiver); one other process opens it by name and takes
 * the other role. When either side closes or dies, the other side's calls
 * that would wait return -EPIPE (a receiver first drains what was sent).
 *
 * Anonymous form (fork, SCM_RIGHTS): shoal_channel_create() with a NULL
 * name publishes nothing; shoal_channel_get_fds() gives the descriptors and
 * the other process calls shoal_channel_open_fds().
 *
 * Thread safety: one thread at a time per handle.
 *
 * Blocking and system calls:
 *   shoal_channel_options_init, shoal_channel_get_fds,
 *     shoal_channel_producer, shoal_channel_consumer,
 *     shoal_channel_get_stats: neither; they read or write memory only.
 *   shoal_channel_create, shoal_channel_open_fds: system calls (a
 *     segment's memfd and mapping, eventfds, pidfd; create also publishes
 *     in the registry); never block.
 *   shoal_channel_open: system calls (the registry, taking the creator's
 *     fds, pidfd); waits for the name as @opts->timeout_ns says, and up to
 *     2 s for the creator's fd server when pidfd_getfd is refused.
 *   shoal_channel_destroy, shoal_channel_close: system calls (unmap,
 *     close, withdraw the name, wake the peer); never block.
 *   shoal_channel_loan, shoal_channel_write: no system call while a slot
 *     is free; when the ring is full, wait as send_timeout_ns says, with
 *     the handle's strategy (sleeping on an eventfd, checking the peer's
 *     liveness).
 *   shoal_channel_send, shoal_channel_release, shoal_channel_wake: an
 *     eventfd write only when the peer sleeps; never block.
 *   shoal_channel_abort: neither.
 *   shoal_channel_take, shoal_channel_read: no system call while a message
 *     is there; otherwise wait up to @timeout_ns with the handle's
 *     strategy (sleeping on an eventfd, checking the peer's liveness).
 *   shoal_channel_fd: neither.
 *   shoal_channel_arm: never blocks; may make a non-blocking system
 *     call (is the peer alive?).
 *   shoal_channel_disarm: a non-blocking read of the eventfd; never
 *     blocks.
 */
#ifndef SHOAL_CHANNEL_H
#define SHOAL_CHANNEL_H

#include "common.h"
#include "notify.h"
#include "ring_spsc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct shoal_registry;

enum shoal_channel_role {
	SHOAL_CHANNEL_SEND = 1,
	SHOAL_CHANNEL_RECV = 2,
};

/* Most loans out / messages held per handle (max_loans, max_held). */
#define SHOAL_CHANNEL_LOANS_MAX 64u

struct shoal_channel_options {
	/* Creation only (an opener gets them from the segment): */
	uint32_t capacity;	      /* slots, power of two; default 1024 */
	uint32_t slot_size;	      /* payload bytes per slot; default 1024 */
	enum shoal_channel_role role; /* the creator's; default SEND. The
				       * opener takes the other one. */
	uint32_t access;    /* SHOAL_ACCESS_*; default SHOAL_ACCESS_OWNER */
	uint64_t start_pos; /* first ring position; default 0 */
	/* Both: */
	enum shoal_wait_strategy strategy; /* default SHOAL_WAIT_ADAPTIVE */
	/* How long loan/write wait for a free slot: negative (the default,
	 * SHOAL_WAIT_FOREVER) as long as it takes, 0 not at all (-EAGAIN),
	 * > 0 that long (-ETIMEDOUT). */
	int64_t send_timeout_ns;
	struct shoal_registry *registry; /* NULL: the default one */
	/* Open only: wait for the name (see docs/api.md): 0 -ENOENT at once,
	 * > 0 up to that long, SHOAL_WAIT_FOREVER forever. */
	int64_t timeout_ns;
	/* Both, per handle: most loans out (sender) and most messages held
	 * (receiver) at once, 1..SHOAL_CHANNEL_LOANS_MAX; default 1. */
	uint32_t max_loans;
	uint32_t max_held;
};

/* The descriptors the anonymous form hands to the other process. */
struct shoal_channel_fds {
	int memfd;
	int data_eventfd;  /* written by the sender, read by the receiver */
	int space_eventfd; /* written by the receiver, read by the sender */
};

struct shoal_channel_stats {
	uint32_t role;	    /* enum shoal_channel_role */
	uint32_t peer;	    /* 1 while a peer is attached and alive (as last
			     * seen), 0 before one came or after it left */
	uint64_t messages;  /* sent (sender) or taken (receiver) */
	uint64_t wakeups;   /* eventfd writes this handle made */
	uint64_t sleeps;    /* times it slept in the kernel */
	uint32_t capacity;  /* slots */
	uint32_t slot_size; /* payload bytes per slot */
};

struct shoal_channel;

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_channel_options_init(struct shoal_channel_options *opts);

/*
 * shoal_channel_create - create channel @name (NULL: anonymous, see above)
 * and take @opts->role in it. 0, -EINVAL (bad options or name), -EEXIST (the
 * name is taken by a live owner), or what segment/registry creation returns.
 * shoal_channel_destroy - withdraw the name, tell the peer (-EPIPE once it
 * has drained) and free. NULL: no-op.
 */
SHOAL_API int shoal_channel_create(const char *name,
				   const struct shoal_channel_options *opts,
				   struct shoal_channel **out);
SHOAL_API void shoal_channel_destroy(struct shoal_channel *ch);

/*
 * shoal_channel_open - open channel @name and take the role its creator
 * left. From @opts: strategy, send_timeout_ns, registry, timeout_ns. 0,
 * -ENOENT (no such name; after @opts->timeout_ns, -ETIMEDOUT), -EPROTO (not
 * a channel, or another version), -EBADMSG (corrupt), -EBUSY (another
 * opener holds the role), or what the registry returns.
 * shoal_channel_close - leave; the creator's calls then return -EPIPE
 * (a receiving creator first drains). A new opener may take the role again.
 * NULL: no-op.
 */
SHOAL_API int shoal_channel_open(const char *name,
				 const struct shoal_channel_options *opts,
				 struct shoal_channel **out);
SHOAL_API void shoal_channel_close(struct shoal_channel *ch);

/* Anonymous form: the descriptors (still owned by @ch, a creator's), and
 * opening from them (duplicated; the caller keeps its own). Deaths are
 * seen as in the named form (the creator's through a pidfd of the pid its
 * header records: the process that called create). */
SHOAL_API void shoal_channel_get_fds(const struct shoal_channel *ch,
				     struct shoal_channel_fds *fds);
SHOAL_API int shoal_channel_open_fds(const struct shoal_channel_fds *fds,
				     const struct shoal_channel_options *opts,
				     struct shoal_channel **out);

/*
 * Sender. shoal_channel_loan - a slot of at least @size bytes (waits for
 * room as send_timeout_ns says); one loan at a time. shoal_channel_send -
 * publish the loaned @ptr with @len bytes and wake a sleeping receiver.
 * shoal_channel_abort - give the loan back. shoal_channel_write - loan +
 * copy + send.
 *
 * They return 0, -EAGAIN / -ETIMEDOUT (no room), -EMSGSIZE, -EPIPE (the
 * receiver left or died), -EBUSY (a loan is out), -EINVAL (@ptr is not
 * the loan), -EBADF (not the sender).
 */
SHOAL_API int shoal_channel_loan(struct shoal_channel *ch, uint32_t size,
				 void **ptr);
SHOAL_API int shoal_channel_send(struct shoal_channel *ch, void *ptr,
				 uint32_t len);
SHOAL_API int shoal_channel_abort(struct shoal_channel *ch, void *ptr);
SHOAL_API int shoal_channel_write(struct shoal_channel *ch, const void *data,
				  uint32_t len);

/*
 * Receiver. shoal_channel_take - the next message in place (msg->data,
 * msg->len, msg->seq: its ring position; the other fields 0), waiting up to
 * @timeout_ns (0: -EAGAIN at once; negative: forever); one held at a time
 * (-EBUSY). shoal_channel_release - give it back and wake a sender waiting
 * for room. shoal_channel_read - take + copy + release: the length,
 * -EMSGSIZE (@cap too small; the message stays).
 *
 * All three: -EPIPE once the sender left or died and everything it sent
 * was taken, -EBADMSG (corrupt ring), -EBADF (not the receiver), -EINVAL
 * (@msg is not the one held).
 */
SHOAL_API int shoal_channel_take(struct shoal_channel *ch,
				 struct shoal_msg *msg, int64_t timeout_ns);
SHOAL_API int shoal_channel_release(struct shoal_channel *ch,
				    struct shoal_msg *msg);
SHOAL_API ssize_t shoal_channel_read(struct shoal_channel *ch, void *buf,
				     size_t cap, int64_t timeout_ns);

/*
 * For batch work on the ring itself: the sender's producer or the
 * receiver's consumer (NULL for the other role), and shoal_channel_wake(),
 * to be called after committing or releasing on it directly so a sleeping
 * peer wakes. No peer-death check on that road.
 */
SHOAL_API struct shoal_spsc_producer *
shoal_channel_producer(struct shoal_channel *ch);
SHOAL_API struct shoal_spsc_consumer *
shoal_channel_consumer(struct shoal_channel *ch);
SHOAL_API int shoal_channel_wake(struct shoal_channel *ch);

/*
 * For event loops: shoal_channel_fd() becomes readable when this handle may
 * make progress (a message, a free slot) or, for an opener, when the
 * creator dies. shoal_channel_arm(): -EAGAIN if progress is possible
 * already (do not poll), -EPIPE if the peer is gone, 0: poll. After the poll,
 * shoal_channel_disarm() and retry with a zero timeout.
 */
SHOAL_API int shoal_channel_fd(const struct shoal_channel *ch);
SHOAL_API int shoal_channel_arm(struct shoal_channel *ch);
SHOAL_API void shoal_channel_disarm(struct shoal_channel *ch);

/* This handle's counters and the channel's geometry. */
SHOAL_API void shoal_channel_get_stats(const struct shoal_channel *ch,
				       struct shoal_channel_stats *st);

#ifdef __cplusplus
}
#endif

#endif
