/* SPDX-License-Identifier: MIT */
/*
 * Queue: a work queue between any number of producer and consumer
 * processes, found by name. Each message is taken by exactly one consumer;
 * per producer, messages are taken in the order they were written.
 *
 * The creator owns the name and the shared memory (an MPMC ring, or an SPSC
 * ring when created with SHOAL_QUEUE_SPSC for one producer and one
 * consumer) and ends it with shoal_queue_destroy(); any process may open
 * it (shoal_queue_open, then shoal_queue_close) and write, read, or both.
 * Waiting is the notify protocol: a participant about to sleep sets its
 * bit in a sleeper bitmap, and whoever makes progress wakes one sleeper of
 * the other side through that participant's own eventfd. A busy queue
 * makes no system call.
 *
 * Crash safety: each participant holds a line of the queue (an OFD lock),
 * and every cell it holds names it. A producer killed between claiming a
 * cell and sending it, or a consumer killed between taking a message and
 * releasing it, stalls the queue at that one cell only until a waiting
 * peer notices (after about a millisecond) that its owner is dead; the
 * cell is then skipped (counted in skipped or abandoned) and nothing else
 * is lost, duplicated or reordered. When the creator destroys the queue,
 * reads drain what is there and then return -EPIPE, and writes return
 * -EPIPE. When it crashes, the same holds from the moment a participant notices (through
 * the creator's pidfd, which every waiting handle watches); until then a
 * write into a queue with room still succeeds.
 *
 * Thread safety: one thread at a time per handle; open one handle per
 * thread. See docs/queue.md.
 *
 * Blocking and system calls:
 *   shoal_queue_options_init, shoal_queue_fd, shoal_queue_get_stats:
 *     neither.
 *   shoal_queue_create: system calls (memfd_create, mmap, eventfds, the
 *     registry's files and locks, a helper thread that serves fds by
 *     SCM_RIGHTS); never blocks.
 *   shoal_queue_open: system calls (the registry, taking the creator's
 *     fds, mmap, a line lock, pidfd); waits for the name as
 *     @opts->timeout_ns says, and up to 2 s for the creator's fd server.
 *   shoal_queue_destroy, shoal_queue_close: system calls (wake the
 *     sleepers, withdraw the name or give the line back, unmap, close);
 *     never block.
 *   shoal_queue_loan, shoal_queue_write, shoal_queue_write_batch: no
 *     system call while there is room (and no consumer sleeps: then one
 *     eventfd write to wake it); a full queue waits as send_timeout_ns
 *     says, with the handle's strategy, checking after about a
 *     millisecond whether the holder of the stuck cell is alive.
 *   shoal_queue_take, shoal_queue_read, shoal_queue_read_batch: no system
 *     call while a message is there (and no producer sleeps); an empty
 *     queue waits up to @timeout_ns, as loan does.
 *   shoal_queue_send, shoal_queue_release: an eventfd write only when a
 *     peer of the other side sleeps; never block.
 *   shoal_queue_abort: no system call in the common case; never blocks.
 *   shoal_queue_arm: never blocks; may make a non-blocking system call
 *     (is the creator alive?).
 *   shoal_queue_disarm: a non-blocking read to drain its eventfd; never
 *     blocks.
 *   shoal_queue_inspect: system calls as shoal_registry_open(), bounded
 *     by its 2 s; it does not join.
 */
#ifndef SHOAL_QUEUE_H
#define SHOAL_QUEUE_H

#include "common.h"
#include "notify.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most participants (handles) one queue admits at once. */
#define SHOAL_QUEUE_PARTICIPANTS_MAX 512
/* Largest message. */
#define SHOAL_QUEUE_MESSAGE_MAX (1u << 26)
/* Most cells. */
#define SHOAL_QUEUE_CAPACITY_MAX (1u << 20)
/* Most loans out, and most messages held, per handle (max_loans,
 * max_held). */
#define SHOAL_QUEUE_LOANS_MAX 64u
#define SHOAL_QUEUE_HELD_MAX 64u

struct shoal_queue;

/* What a handle does; an SPSC queue admits one of each. */
enum {
	SHOAL_QUEUE_PRODUCER = 1u << 0,
	SHOAL_QUEUE_CONSUMER = 1u << 1,
	SHOAL_QUEUE_BOTH = SHOAL_QUEUE_PRODUCER | SHOAL_QUEUE_CONSUMER,
};

/* shoal_queue_options.flags */
enum {
	/* Creation: one producer and one consumer, on the SPSC ring (no
	 * CAS, no claim words: the fast path). */
	SHOAL_QUEUE_SPSC = 1u << 0,
};

struct shoal_queue_options {
	/* Creation only (ignored by open): */
	uint32_t capacity;	   /* cells, power of two (default 1024) */
	uint32_t max_message;	   /* bytes per message (default 1024) */
	uint32_t max_participants; /* handles at once (default 64; SPSC 2) */
	uint32_t access;	   /* SHOAL_ACCESS_* (default owner only) */
	/* Both: */
	uint32_t flags; /* SHOAL_QUEUE_SPSC at creation */
	uint32_t role;	/* SHOAL_QUEUE_PRODUCER/CONSUMER/BOTH (default BOTH;
			 * an SPSC queue needs one of the two) */
	enum shoal_wait_strategy strategy; /* default ADAPTIVE */
	/* How long loan, write and write_batch wait for room in a full
	 * queue: negative (default SHOAL_WAIT_FOREVER) forever; 0 fails at
	 * once with -EAGAIN; > 0 waits up to that long, then -EAGAIN. */
	int64_t send_timeout_ns;
	/* Payload type: recorded by the creator; an opener that names one
	 * gets -EPROTO on a mismatch. NULL: untyped / accept any. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	/* Registry to use (NULL: the default one). */
	struct shoal_registry *registry;
	/* Open only: no service under the name yet: 0 (default) fails with
	 * -ENOENT at once; > 0 waits up to that long for one to appear
	 * (then -ETIMEDOUT); SHOAL_WAIT_FOREVER waits as long as it takes. */
	int64_t timeout_ns;
	/* Both, per handle: most loans out at once (iceoryx2's
	 * max_loaned_samples) and most messages held at once (its
	 * subscriber_max_borrowed_samples), 1..SHOAL_QUEUE_LOANS_MAX /
	 * SHOAL_QUEUE_HELD_MAX; default 1. An SPSC queue takes 1 only. */
	uint32_t max_loans;
	uint32_t max_held;
	/* Creation only: where the service comes from, for 'shoal list'
	 * and 'shoal info' (shoal_service_spec.origin): printable ASCII, at
	 * most SHOAL_ORIGIN_MAX bytes, else -EINVAL. NULL (default): a
	 * local service. Set by stand-ins such as the NATS gateway's
	 * mirrors. */
	const char *origin;
};

/* Fills in the defaults. A NULL options pointer means the same. */
SHOAL_API void shoal_queue_options_init(struct shoal_queue_options *opts);

/*
 * shoal_queue_create - create and announce queue @name; the handle takes
 * part like any other (its role in @opts). -EINVAL (bad options or name,
 * with a message), -EEXIST (the name is taken by a live owner), or what the
 * registry returns.
 * shoal_queue_destroy - the creator's end: leave (a held loan is aborted,
 * a held message released), withdraw the name; the others drain the queue
 * and then get -EPIPE. NULL: no-op. On a handle from shoal_queue_open it
 * does nothing but set shoal_last_error() (the handle stays open: close
 * it with shoal_queue_close).
 * shoal_queue_open - join queue @name. -ENOENT (none), -EPROTO (type
 * mismatch, naming both), -EBUSY (participant limit, or the SPSC role is
 * taken), or what the registry returns.
 * shoal_queue_close - an opener's end: leave (a held loan is aborted, a
 * held message released). NULL: no-op. On the creator's handle it does
 * nothing but set shoal_last_error() (the creator calls
 * shoal_queue_destroy).
 */
SHOAL_API int shoal_queue_create(const char *name,
				 const struct shoal_queue_options *opts,
				 struct shoal_queue **out);
SHOAL_API void shoal_queue_destroy(struct shoal_queue *q);
SHOAL_API int shoal_queue_open(const char *name,
			       const struct shoal_queue_options *opts,
			       struct shoal_queue **out);
SHOAL_API void shoal_queue_close(struct shoal_queue *q);

/*
 * Zero copy, the main road. Up to max_loans loans and max_held held
 * messages per handle at a time (default 1 each).
 * shoal_queue_loan - a cell to write in place: *@ptr points at @size
 *   writable bytes (<= max_message). Each loan claims the next position.
 *   Waits for room as send_timeout_ns says. 0, -EMSGSIZE (@size over
 *   max_message), -EAGAIN (full: no room within send_timeout_ns), -EPERM
 *   (not a producer), -EBUSY (max_loans loans are out), -EPIPE (the
 *   creator is gone), -EBADMSG (the shared ring is corrupt).
 * shoal_queue_send - publish the loan @ptr with @len (<= the loaned size)
 *   bytes and wake a consumer. shoal_queue_abort - give the loan @ptr up
 *   (consumers skip its cell, counted nowhere: it never was a message).
 *   Any outstanding loan, in any order; consumers take positions in order,
 *   so a sent loan is taken only once every earlier position (of any
 *   producer) is sent or aborted. Both -EINVAL when @ptr is not a loan out.
 * shoal_queue_take - the next message in place: fills @msg's data and len
 *   (the other fields are zero), waiting up to @timeout_ns (0: try once,
 *   -EAGAIN; SHOAL_WAIT_FOREVER: as long as it takes; else -ETIMEDOUT
 *   after). -EPERM (not a consumer), -EBUSY (max_held messages are held),
 *   -EPIPE (the creator is gone and the queue is empty), -EBADMSG (a
 *   corrupt message was dropped, or the ring is corrupt).
 * shoal_queue_release - give @msg's cell back, any held message, in any
 *   order; -EINVAL when @msg is not a message held. @msg must not be used
 *   after.
 * A handle whose process dies holding loans or messages stalls the queue
 *   at each of those cells in turn until a waiting peer recovers it (see
 *   above): several cells cost several recoveries, nothing more.
 * write, read and the batches are -EBUSY while a loan is out (write) or a
 * message is held (read).
 */
SHOAL_API int shoal_queue_loan(struct shoal_queue *q, uint32_t size,
			       void **ptr);
SHOAL_API int shoal_queue_send(struct shoal_queue *q, void *ptr, uint32_t len);
SHOAL_API int shoal_queue_abort(struct shoal_queue *q, void *ptr);
SHOAL_API int shoal_queue_take(struct shoal_queue *q, struct shoal_msg *msg,
			       int64_t timeout_ns);
SHOAL_API int shoal_queue_release(struct shoal_queue *q, struct shoal_msg *msg);

/*
 * Copying, the convenience.
 * shoal_queue_write - loan + copy + send. 0, or what loan returns
 *   (-EMSGSIZE for @len over max_message).
 * shoal_queue_read - take + copy + release: the message's length, or what
 *   take returns; -EMSGSIZE (@cap too small; the message stays).
 */
SHOAL_API int shoal_queue_write(struct shoal_queue *q, const void *data,
				uint32_t len);
SHOAL_API ssize_t shoal_queue_read(struct shoal_queue *q, void *buf, size_t cap,
				   int64_t timeout_ns);

/* One message of a batch: write reads data/len; read fills data (up to
 * cap bytes) and sets len. */
struct shoal_queue_msg {
	void *data;
	uint32_t len;
	uint32_t cap;
};

/*
 * Batches: wait (write: as send_timeout_ns says; read: up to @timeout_ns)
 * for room or a message only before the first; then move as many as they
 * can without waiting, and wake a peer once for the whole batch. Return
 * how many (>= 1), or the error the single call would return for the
 * first message; -EINVAL for @n == 0.
 */
SHOAL_API int shoal_queue_write_batch(struct shoal_queue *q,
				      const struct shoal_queue_msg *msgs,
				      uint32_t n);
SHOAL_API int shoal_queue_read_batch(struct shoal_queue *q,
				     struct shoal_queue_msg *msgs, uint32_t n,
				     int64_t timeout_ns);

/*
 * Event loops: shoal_queue_fd() becomes readable when this handle is woken
 * or the creator dies. Call shoal_queue_arm(q, SHOAL_QUEUE_CONSUMER) (wait
 * for a message) or (q, SHOAL_QUEUE_PRODUCER) (wait for room): 1 means
 * ready already, do not poll; 0 means poll the fd, then
 * shoal_queue_disarm() and try again.
 */
SHOAL_API int shoal_queue_fd(const struct shoal_queue *q);
SHOAL_API int shoal_queue_arm(struct shoal_queue *q, uint32_t what);
SHOAL_API void shoal_queue_disarm(struct shoal_queue *q);

struct shoal_queue_stats {
	/* The queue's (shared counters): */
	uint64_t enqueued;  /* messages written (positions claimed) */
	uint64_t dequeued;  /* positions taken by consumers */
	uint64_t skipped;   /* positions given up: a producer died holding */
	uint64_t abandoned; /* messages lost with a consumer that died */
	/* The geometry: cells, the largest message, most handles; any
	 * handle (consumers too) reads them here. */
	uint32_t capacity, max_message, max_participants, participants;
	uint32_t spsc; /* 1: created SHOAL_QUEUE_SPSC */
	/* This handle's (zero for shoal_queue_inspect): */
	uint64_t pushed; /* messages this handle sent or wrote */
	uint64_t popped; /* messages it released or read */
	uint64_t sleeps, wakeups, recovered;
};
/* The queue's shared counters and geometry, and this handle's own. */
SHOAL_API void shoal_queue_get_stats(const struct shoal_queue *q,
				     struct shoal_queue_stats *st);

/* Reads queue @name's shared counters from outside, without joining it. */
SHOAL_API int shoal_queue_inspect(struct shoal_registry *reg, const char *name,
				  struct shoal_queue_stats *st);

#ifdef __cplusplus
}
#endif

#endif
