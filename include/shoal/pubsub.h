/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe between processes that know each other only by a
 * service name.
 *
 * A publisher creates two segments and announces them in the registry:
 *   - the payload segment (sealed F_SEAL_FUTURE_WRITE: subscribers can only
 *     map it read-only) with the configuration, the publisher's cursor and
 *     counters, and a ring of fixed-size slots;
 *   - the subscriber segment, one cache line per subscriber (its read
 *     cursor, counters) plus a bitmap of sleeping subscribers. Subscribers
 *     write it; the publisher treats everything in it as untrusted.
 * Each subscriber slot has its own eventfd, created by the publisher.
 *
 * Delivery, chosen by the publisher:
 *   SHOAL_DELIVERY_RELIABLE  the publisher never overwrites a message a live
 *                            subscriber has not consumed: it waits (up to
 *                            send_timeout_ns) or fails with -EAGAIN. A
 *                            subscriber whose process dies is evicted.
 *   SHOAL_DELIVERY_LOSSY     the publisher never waits; a subscriber that was
 *                            lapped gets -EOVERFLOW once, with the count of
 *                            messages it lost, and continues from the oldest
 *                            message still in the ring.
 * In lossy mode a zero-copy message can be overwritten while the subscriber
 * reads it: shoal_sub_release() (or shoal_sub_valid()) says whether what was
 * read is intact, and the copying shoal_sub_read() never returns torn bytes.
 *
 * See docs/pubsub.md for the protocol and docs/pubsub-format.md for the
 * bytes.
 *
 * A service may have several publishers (max_publishers): each has its own
 * ring and registry entry, and a subscriber reads them all
 * (docs/pubsub.md, "Several publishers").
 *
 * Thread safety: one thread at a time per handle.
 *
 * Blocking and system calls:
 *   shoal_pub_options_init, shoal_sub_options_init: neither; they fill in
 *     memory.
 *   shoal_pub_create: system calls (memfd_create, mmap, eventfds, the
 *     registry's files and locks, a helper thread that serves fds by
 *     SCM_RIGHTS); never blocks.
 *   shoal_pub_destroy: system calls (wake the subscribers, withdraw the
 *     name, unmap, close, join the helper thread); never blocks on a
 *     subscriber.
 *   shoal_pub_loan, shoal_pub_loan_batch, shoal_pub_write,
 *     shoal_pub_write_batch: no system call while the ring has room.
 *     Reliable delivery, ring full: checks which subscribers are alive (a
 *     system call per subscriber line) and waits up to send_timeout_ns
 *     for the slowest live one, sleeping in the kernel. Lossy: never
 *     waits. The writes also wake as send does.
 *   shoal_pub_send, shoal_pub_send_batch: an eventfd write per sleeping
 *     subscriber they wake, none when nobody sleeps; never block.
 *   shoal_pub_abort, shoal_pub_loan_header, shoal_pub_epoch,
 *     shoal_pub_get_stats: neither.
 *   shoal_pub_subscribers: a system call per subscriber line (is its
 *     holder alive?); never blocks.
 *   shoal_pub_wait_subscribers: blocks up to @timeout_ns, asleep in the
 *     kernel until a subscriber joins; system calls as
 *     shoal_pub_subscribers.
 *   shoal_sub_open: system calls (the registry, taking the publisher's
 *     fds by pidfd_getfd or SCM_RIGHTS, mmap, pidfd, epoll); waits for a
 *     publisher as timeout_ns says, and up to 2 s for the publisher's fd
 *     server.
 *   shoal_sub_close: system calls (unmap, close); never blocks.
 *   shoal_sub_take, shoal_sub_take_batch, shoal_sub_read: no system call
 *     while a message is there; otherwise wait up to @timeout_ns with the
 *     subscriber's strategy (spinning, yielding or sleeping on an
 *     eventfd). With SHOAL_SUB_REATTACH, finding the next publisher makes
 *     the system calls of shoal_sub_open.
 *   shoal_sub_release, shoal_sub_release_batch: an eventfd write only
 *     when a reliable publisher sleeps waiting for room; never block.
 *   shoal_sub_valid, shoal_sub_fd, shoal_sub_connected, shoal_sub_epoch,
 *     shoal_sub_get_stats: neither.
 *   shoal_sub_arm: never blocks; while attached it may make a
 *     non-blocking system call (is the publisher alive?); detached with
 *     SHOAL_SUB_REATTACH, it looks for a publisher in the registry
 *     (system calls, and up to 2 s for its fd server).
 *   shoal_sub_disarm: non-blocking reads to drain its eventfd (and its
 *     registry watch, when it has one); never blocks.
 *   shoal_pubsub_inspect: system calls as shoal_registry_open(), bounded
 *     by its 2 s; it does not join.
 */
#ifndef SHOAL_PUBSUB_H
#define SHOAL_PUBSUB_H

#include "common.h"
#include "notify.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

enum shoal_delivery {
	SHOAL_DELIVERY_RELIABLE = 1,
	SHOAL_DELIVERY_LOSSY = 2,
};

/* Bounds of the creation options. */
#define SHOAL_PUB_CAPACITY_MAX (1u << 24)
#define SHOAL_PUB_PAYLOAD_MAX (1u << 30)
#define SHOAL_PUB_USER_HEADER_MAX 1024u
#define SHOAL_PUB_SUBSCRIBERS_MAX 1024u
#define SHOAL_PUB_PUBLISHERS_MAX 64u
/* Bound of shoal_sub_options.max_held. */
#define SHOAL_SUB_HELD_MAX 64u
/* Most shoal_pub_loan()s out at once (shoal_pub_options.max_loans). */
#define SHOAL_PUB_LOANS_MAX 64u
/* Payload pools (shoal_pub_options.pools): most size classes, most chunks
 * in one class, largest chunk. */
#define SHOAL_PUB_POOLS_MAX 8u
#define SHOAL_POOL_CHUNKS_MAX (1u << 20)
#define SHOAL_POOL_CHUNK_MAX (1u << 30)

/*
 * struct shoal_pool - one size class of a service's payload pools: @count
 * chunks of @size bytes each (@size is rounded up to a multiple of 64).
 * A message goes in the smallest class whose chunks hold it (see
 * shoal_pub_options.pools and docs/pubsub.md, "Payload pools").
 */
struct shoal_pool {
	uint32_t size;	/* bytes per chunk, 1..SHOAL_POOL_CHUNK_MAX */
	uint32_t count; /* chunks, 1..SHOAL_POOL_CHUNKS_MAX */
};

/* shoal_pub_options.flags */
enum {
	/* Stamp each message with CLOCK_MONOTONIC at send (timestamp_ns).
	 * Off by default: the clock read costs more than the rest of a send
	 * (measured here: 64 B throughput 19 M/s with it, 57 M/s without). */
	SHOAL_PUB_TIMESTAMP = 1u << 0,
	/* Reliable delivery: trust the subscribers not to write each
	 * other's lines in the subscriber segment (which any of them can).
	 * The publisher then gives a slot no odd stamp while it writes it:
	 * a subscriber that keeps to the protocol never reads such a slot,
	 * and one stamp store less per message is a line transfer less in a
	 * stream (64 B one at a time: 7-16% more messages per second here,
	 * 0.81-0.94x of a bare ring's rate instead of 0.67-0.84x;
	 * bench/README.md). The price: a subscriber whose
	 * line a peer lied about may read a message while it is overwritten
	 * and not be told (shoal_sub_valid(), shoal_sub_release() and
	 * shoal_sub_read() see only an overwrite already complete);
	 * docs/security.md. Ignored by lossy delivery, whose readers always
	 * need the odd stamp. */
	SHOAL_PUB_TRUSTED_SUBSCRIBERS = 1u << 1,
};

struct shoal_pub_options {
	enum shoal_delivery delivery; /* default SHOAL_DELIVERY_RELIABLE */
	uint32_t capacity;    /* slots, power of two >= 2; default 1024 */
	uint32_t max_payload; /* bytes per message; default 4096 */
	/* Bytes of a fixed-size header carried beside each payload (frame
	 * ids, tensor shapes); multiple of 8, <= SHOAL_PUB_USER_HEADER_MAX;
	 * default 0. */
	uint32_t user_header_size;
	/* Most recent messages a late subscriber may receive on joining;
	 * < capacity; default 0. */
	uint32_t history;
	uint32_t max_subscribers; /* 1..SHOAL_PUB_SUBSCRIBERS_MAX; default 64 */
	/* Reliable: how long a send waits for the slowest live subscriber
	 * to make room. Negative: forever (default); 0: fail at once with
	 * -EAGAIN. */
	int64_t send_timeout_ns;
	uint32_t flags;	 /* SHOAL_PUB_* */
	uint32_t access; /* SHOAL_ACCESS_*; default SHOAL_ACCESS_OWNER */
	/* Payload type, recorded in the registry and checked by subscribers
	 * that name one. NULL/0: untyped. Payload addresses are 8-byte
	 * aligned in slots of up to 128 bytes (24 of header, the user
	 * header, max_payload) and 64-byte aligned in larger ones and in
	 * payload pools; a type_align above what the ring gives is refused
	 * (-EINVAL). */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	/* Registry to publish in; NULL: the default one. */
	struct shoal_registry *registry;
	/* Publishers the service may have at once, each with its own ring,
	 * 1..SHOAL_PUB_PUBLISHERS_MAX; default 1 (0 means 1). Every
	 * publisher of a name must agree on it and on delivery, max_payload,
	 * user_header_size and SHOAL_PUB_TIMESTAMP (docs/pubsub.md,
	 * "Several publishers"). */
	uint32_t max_publishers;
	/* Most shoal_pub_loan()s out at once (iceoryx2's
	 * max_loaned_samples): 1..SHOAL_PUB_LOANS_MAX and below capacity;
	 * default 1. A loan counts until it is published (see
	 * shoal_pub_send()). */
	uint32_t max_loans;
	/* Payload pools by size class (iceoryx's mempools): NULL/0 (the
	 * default): every slot holds max_payload bytes. Else up to
	 * SHOAL_PUB_POOLS_MAX classes, sizes strictly increasing: the ring's
	 * slots carry only a reference, and each message takes a chunk of
	 * the smallest class that holds it, so the service costs the pools'
	 * sum, not capacity x the largest message. max_payload is then 0 or
	 * the largest class's size. Reliable: a loan waits (send_timeout_ns)
	 * until every subscriber is done with the oldest chunk of its class;
	 * lossy: it reuses the oldest chunk of the class, and a subscriber
	 * still reading it sees -ESTALE at release. shoal_pub_loan_batch()
	 * is refused (-ENOTSUP); the other sends work unchanged. */
	const struct shoal_pool *pools;
	uint32_t npools;
	/* Where the service comes from, for 'shoal list' and 'shoal info'
	 * (shoal_service_spec.origin): printable ASCII, at most
	 * SHOAL_ORIGIN_MAX bytes, else -EINVAL. NULL (default): a local
	 * service. Set by stand-ins such as the NATS gateway's mirrors. */
	const char *origin;
};

/* shoal_sub_options.flags */
enum {
	/* When the publisher dies, take() reports -EPIPE once and then
	 * attaches to the next publisher of the same name by itself (msg.epoch
	 * tells which). Also lets shoal_sub_open() succeed before any
	 * publisher exists. */
	SHOAL_SUB_REATTACH = 1u << 0,
	/* Take fds by SCM_RIGHTS only (see SHOAL_OPEN_NO_PIDFD_GETFD). */
	SHOAL_SUB_NO_PIDFD_GETFD = 1u << 1,
};

struct shoal_sub_options {
	/* Up to this many past messages on joining (bounded by the
	 * publisher's history); default 0: only what is sent after. */
	uint32_t history;
	uint32_t flags;			   /* SHOAL_SUB_* */
	enum shoal_wait_strategy strategy; /* default SHOAL_WAIT_ADAPTIVE */
	/* Most messages held at once (taken, not yet released), 1..
	 * SHOAL_SUB_HELD_MAX; default 1 (0 means 1). With 1, held messages
	 * are released oldest first; with more, in any order (see
	 * shoal_sub_release()). */
	uint32_t max_held;
	/* Expected payload type; NULL: accept any. A mismatch is -EPROTO. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	struct shoal_registry *registry; /* NULL: the default one */
	/* No publisher under the name yet: 0 (default) fails with -ENOENT
	 * at once; > 0 waits up to that long for one to appear (then
	 * -ETIMEDOUT); SHOAL_WAIT_FOREVER waits as long as it takes. */
	int64_t timeout_ns;
};

struct shoal_pub_stats {
	uint64_t sent;	  /* messages published */
	uint64_t blocked; /* sends that had to wait for a subscriber */
	uint64_t failed;  /* sends that gave up: -EAGAIN */
	uint64_t wakeups; /* eventfd writes to sleeping subscribers */
	uint64_t evicted; /* dead subscribers dropped */
	/* Live subscribers as last counted (by a send that had to look, or
	 * shoal_pub_subscribers(), which counts now). */
	uint32_t subscribers;
	uint32_t slot; /* this publisher's slot (0..max_publishers-1) */
	/* Skip markers published: loans given back between sent ones
	 * (shoal_pub_abort()); not counted in sent. */
	uint64_t skipped;
};

struct shoal_sub_stats {
	uint64_t received;   /* messages taken */
	uint64_t lost;	     /* lossy: messages skipped after being lapped */
	uint64_t stale;	     /* lossy: zero-copy messages overwritten in use */
	uint64_t sleeps;     /* times this subscriber blocked in the kernel */
	uint64_t reattached; /* publishers attached after the first */
	uint64_t epoch;	     /* current publisher's epoch; 0 if detached
			      * (several: the ring joined first's) */
	/* Several publishers (max_publishers > 1): rings joined now, ever
	 * joined, dropped after their publisher died or left; rings skipped
	 * because all their subscriber lines were taken, or because their
	 * options differ from the first ring joined. */
	uint32_t publishers;
	uint32_t pad;
	uint64_t publishers_joined;
	uint64_t publishers_gone;
	uint64_t rings_full;
	uint64_t rings_mismatched;
	/* Skip markers passed over (a publisher's aborted loans between sent
	 * ones): seqs never delivered, and not lost. */
	uint64_t skipped;
};

struct shoal_pub;
struct shoal_sub;

/* Fill *opts with the defaults (what a NULL @opts means). Never fails. */
SHOAL_API void shoal_pub_options_init(struct shoal_pub_options *opts);
SHOAL_API void shoal_sub_options_init(struct shoal_sub_options *opts);

/*
 * shoal_pub_create - create the service and publish it under @name.
 * @opts NULL: defaults. Returns 0, -EINVAL (bad options or name, with a
 * detail), -EEXIST (max_publishers 1: a live publisher holds the name), or
 * what segment, eventfd or registry calls return. With max_publishers > 1
 * it joins the service: takes the first free publisher slot, after
 * checking the options every publisher must agree on against each live one
 * (-EINVAL naming the field, also when a disagreeing publisher appears
 * while it joins: it then withdraws), or -EBUSY when all max_publishers
 * slots are held by live publishers.
 */
SHOAL_API int shoal_pub_create(const char *name,
			       const struct shoal_pub_options *opts,
			       struct shoal_pub **out);
/* Withdraw the service; subscribers see -EPIPE. NULL: no-op. */
SHOAL_API void shoal_pub_destroy(struct shoal_pub *pub);

/*
 * shoal_pub_loan - reserve the next slot and point *ptr at its payload
 * (@size bytes writable, <= max_payload). Each loan takes the next seq.
 * Reliable mode may wait for room (see send_timeout_ns). Returns 0,
 * -EMSGSIZE, -EBUSY (max_loans loans are out, or a batch loan),
 * -EAGAIN (reliable: no room within the timeout).
 */
SHOAL_API int shoal_pub_loan(struct shoal_pub *pub, uint32_t size, void **ptr);
/* The user header (user_header_size bytes) of the newest loan still out
 * (not yet sent), or NULL. */
SHOAL_API void *shoal_pub_loan_header(struct shoal_pub *pub);
/*
 * shoal_pub_send - publish the loaned slot @ptr with @len payload bytes
 * (<= the loaned size) and wake sleeping subscribers. Any outstanding loan,
 * in any order; subscribers see messages in loan order: a loan sent while
 * an earlier one is out waits (and keeps counting against max_loans) until
 * every earlier one is sent or aborted, and is then published with them.
 * 0, or -EINVAL (@ptr is not an outstanding loan, or @len too long).
 */
SHOAL_API int shoal_pub_send(struct shoal_pub *pub, void *ptr, uint32_t len);
/*
 * Give the loan @ptr back unpublished, any outstanding one. The newest
 * gives its seq back (the next loan takes it again); one with a later
 * loan that gets sent becomes a skip marker that subscribers pass over
 * without delivering (counted in both sides' stats `skipped`), so seqs
 * have a gap there and nobody waits for it. The first loan of a batch gives
 * the whole batch back. -EINVAL if @ptr is not an outstanding loan.
 */
SHOAL_API int shoal_pub_abort(struct shoal_pub *pub, void *ptr);
/*
 * shoal_pub_write - copy @len bytes (and @user_header, user_header_size
 * bytes, if not NULL) into a slot and publish it. As loan + send.
 */
SHOAL_API int shoal_pub_write(struct shoal_pub *pub, const void *data,
			      uint32_t len, const void *user_header);

/* One message of shoal_pub_write_batch(). */
struct shoal_pub_msg {
	const void *data;
	uint32_t len;
	uint32_t pad;
	const void *user_header; /* NULL: none (zeroes if the service has one) */
};

/*
 * shoal_pub_write_batch - shoal_pub_write() of @msgs[0..@n) in order, with
 * one full fence, one store of head and one wake-up pass for the whole
 * batch instead of one per message: what a busy stream pays per message
 * drops to the copy and the slot's own stores. Reliable mode waits for
 * room (send_timeout_ns) only before the first message; after it, the
 * batch ends early where the ring is full, after one ring (capacity
 * messages) in any case, or after the first message when a subscriber is
 * joining at that moment. Returns how many were
 * published (1..@n), or what shoal_pub_write() returns for the first:
 * -EMSGSIZE, -EBUSY (a loan is out), -EAGAIN; -EINVAL for @n == 0. A
 * later message over max_payload ends the batch before it.
 */
SHOAL_API int shoal_pub_write_batch(struct shoal_pub *pub,
				    const struct shoal_pub_msg *msgs,
				    uint32_t n);

/*
 * shoal_pub_loan_batch - loan up to @n consecutive slots at once, each
 * with @size payload bytes writable, into @ptrs[0..): how many (1..@n), or
 * -EMSGSIZE, -EBUSY (loans are out), -EAGAIN (reliable: no room for the
 * first within send_timeout_ns), -EINVAL (@n 0). Reliable mode waits for
 * room only for the first, then loans as many as fit now (at most
 * capacity - 1; only one when a subscriber is joining at that moment), as
 * shoal_pub_write_batch() does. shoal_pub_loan_header() is the first's.
 * shoal_pub_abort(pub, ptrs[0]) gives the whole batch back.
 */
SHOAL_API int shoal_pub_loan_batch(struct shoal_pub *pub, uint32_t size,
				   void **ptrs, uint32_t n);
/*
 * shoal_pub_send_batch - publish the first @n loans of the batch, in loan
 * order (@ptrs[j] must be the j-th loan), with @lens[j] payload bytes
 * each, with one store of head, one fence and one wake-up pass. Loans
 * after the @n are given back. Returns @n, or -EINVAL (no loan out, @n over
 * the loans, a pointer out of order, a length over the loaned size: then
 * nothing is sent and the loans stay out).
 */
SHOAL_API int shoal_pub_send_batch(struct shoal_pub *pub, void **ptrs,
				   const uint32_t *lens, uint32_t n);

/* This publisher's incarnation of the name: what msg.epoch and
 * shoal_sub_epoch() say at its subscribers. */
SHOAL_API uint64_t shoal_pub_epoch(const struct shoal_pub *pub);
/*
 * Live subscribers that have joined, as the publisher finds them now (it
 * rescans). A subscriber counted here is owed every message sent after this
 * call (reliable delivery): waiting until it says N before the first send
 * loses nothing to the N. One still joining (inside shoal_sub_open()) is
 * not counted yet, though the publisher already waits for it.
 */
SHOAL_API uint32_t shoal_pub_subscribers(struct shoal_pub *pub);
/*
 * shoal_pub_wait_subscribers - wait until shoal_pub_subscribers() would
 * say at least @n, up to @timeout_ns (SHOAL_WAIT_FOREVER: no limit), so the
 * first messages reach them (reliable: every message sent after the return
 * is owed to each one counted; lossy: each gets it unless lapped). Sleeps
 * in the kernel; a subscriber that joins wakes it. Returns 0, -EAGAIN
 * (@timeout_ns 0 and fewer now), -ETIMEDOUT, -EINVAL (@n over
 * max_subscribers). Subscribers that join and leave again meanwhile are
 * not counted.
 */
SHOAL_API int shoal_pub_wait_subscribers(struct shoal_pub *pub, uint32_t n,
					 int64_t timeout_ns);
/* This publisher's counters (struct shoal_pub_stats). */
SHOAL_API void shoal_pub_get_stats(const struct shoal_pub *pub,
				   struct shoal_pub_stats *stats);

/*
 * shoal_sub_open - find publisher @name and join it. Returns 0, -ENOENT (no
 * live publisher, unless SHOAL_SUB_REATTACH), -EBUSY (the service's
 * subscriber limit is reached; detail names it), -EPROTO (type or format
 * mismatch, naming both), -EBADMSG (corrupt service), -EINVAL (@name is a
 * publisher slot's "name//i"), or what shoal_registry_open() returns. With
 * @opts->timeout_ns set, it waits up to that long for a publisher to
 * appear (-ETIMEDOUT when none did).
 *
 * Several publishers (max_publishers > 1): it joins the ring of every live
 * publisher of the name, and later ones as they come (through a watch of
 * the registry directory); the errors above are for when it can join none
 * (a ring whose subscriber lines are all taken, or whose options differ
 * from the first ring joined, is skipped and counted in the stats). Takes
 * go round the rings, at most 16 in a row from one; each publisher's
 * messages come in its order (msg.seq is that publisher's, msg.publisher
 * its slot), with no order between publishers. A publisher that leaves or
 * dies is dropped once its messages are taken; -EPIPE comes only when the
 * last is gone.
 */
SHOAL_API int shoal_sub_open(const char *name,
			     const struct shoal_sub_options *opts,
			     struct shoal_sub **out);
/* Leave the service (releasing any held message). NULL: no-op. */
SHOAL_API void shoal_sub_close(struct shoal_sub *sub);

/*
 * shoal_sub_take - the next message, in place, waiting up to @timeout_ns
 * with the subscriber's strategy. Returns:
 *   0           *msg holds a message until shoal_sub_release()
 *   -EAGAIN     @timeout_ns was 0 and nothing is pending
 *   -ETIMEDOUT  nothing came in time
 *   -EOVERFLOW  lossy: lapped; msg->lost messages were skipped (no message
 *               is held); the next take continues from the oldest one left
 *   -EPIPE      the publisher (with several: the last one) is gone and
 *               everything it sent was taken. With SHOAL_SUB_REATTACH,
 *               later takes wait for a new one.
 *   -EBUSY      max_held messages are held already (a batch counts
 *               each of its messages), or the oldest held message is a
 *               whole ring (capacity positions) behind the next one
 *   -EBADMSG    the publisher's segment is corrupt
 */
SHOAL_API int shoal_sub_take(struct shoal_sub *sub, struct shoal_msg *msg,
			     int64_t timeout_ns);
/*
 * shoal_sub_release - done with @msg. With max_held 1, held messages are
 * released oldest first; with max_held > 1, any held message in any order:
 * the subscriber's cursor (what a reliable publisher waits for) moves over
 * the released messages from the oldest on, so the oldest one not released
 * still holds its slot. 0, -EINVAL (@msg is not held: never taken,
 * released already, another handle's; or not the oldest with max_held 1),
 * or -ESTALE: the slot was overwritten while held (lossy mode; in reliable
 * mode only if another process corrupted this subscriber's line), so
 * whatever was read from it may be torn and must be discarded (it is
 * released anyway).
 *
 * Lossy: a take that finds the publisher lapped the subscriber behind a
 * held message returns -EOVERFLOW with msg->lost 0; the held messages then
 * release with -ESTALE, and the next take reports the count lost.
 */
SHOAL_API int shoal_sub_release(struct shoal_sub *sub, struct shoal_msg *msg);
/*
 * shoal_sub_take_batch - up to @n messages in place, as shoal_sub_take()
 * does for one (waiting up to @timeout_ns for the first only): how many
 * (1..@n) are held in @msgs[0..), or what shoal_sub_take() returns. With
 * several publishers the batch comes from one publisher's ring. It may
 * be called while fewer than max_held are held; it then takes up to @n
 * more (max_held bounds when a take may start, not the batch's size: each
 * message of it counts as held after). Lossy:
 * a lap before the first is -EOVERFLOW (msgs[0].lost); a lap after it ends
 * the batch there (the next take reports it).
 */
SHOAL_API int shoal_sub_take_batch(struct shoal_sub *sub,
				   struct shoal_msg *msgs, uint32_t n,
				   int64_t timeout_ns);
/*
 * shoal_sub_release_batch - done with @msgs[0..@count), with one store of
 * the cursor; all from one publisher (-EINVAL otherwise). With max_held 1 they must be the oldest @count held, in
 * order (as take_batch filled them); with max_held > 1 any held messages,
 * each once, in any order (the cursor moves as shoal_sub_release() says).
 * 0, -EINVAL (one is not held as that asks: then none is released), or
 * -ESTALE: at least one was overwritten while held (lossy; all are
 * released anyway; shoal_sub_valid() before the release tells which).
 * Held messages may also be released one at a time by shoal_sub_release().
 */
SHOAL_API int shoal_sub_release_batch(struct shoal_sub *sub,
				      struct shoal_msg *msgs, uint32_t count);
/*
 * 1 while @msg is still intact, 0 once overwritten: in lossy mode when the
 * publisher lapped the subscriber; in reliable mode only when some other
 * process corrupted this subscriber's cursor.
 */
SHOAL_API int shoal_sub_valid(const struct shoal_sub *sub,
			      const struct shoal_msg *msg);
/*
 * shoal_sub_read - copy the next message into @buf (and its user header
 * into @user_header if not NULL); the bytes are never torn. Returns the
 * length, -EMSGSIZE (@cap too small; the message stays), or what
 * shoal_sub_take() returns. @msg (may be NULL) gets seq, timestamp, epoch
 * and, on -EOVERFLOW, lost; its pointers are NULL.
 */
SHOAL_API ssize_t shoal_sub_read(struct shoal_sub *sub, void *buf, size_t cap,
				 void *user_header, struct shoal_msg *msg,
				 int64_t timeout_ns);

/*
 * For event loops: shoal_sub_fd() becomes readable when take() may return
 * something (a message, the publisher's death). Call shoal_sub_arm() before
 * polling it: 1 means something is pending already (do not poll; also when
 * max_held messages are held, as take() then says -EBUSY), 0 means
 * poll. After the poll, call shoal_sub_disarm() and take with timeout 0.
 * The fd stays the same across reattachment.
 */
SHOAL_API int shoal_sub_fd(const struct shoal_sub *sub);
SHOAL_API int shoal_sub_arm(struct shoal_sub *sub);
SHOAL_API void shoal_sub_disarm(struct shoal_sub *sub);

/* 1 while attached to a live publisher. */
SHOAL_API int shoal_sub_connected(const struct shoal_sub *sub);
/* The epoch of the publisher attached to; 0 while detached. */
SHOAL_API uint64_t shoal_sub_epoch(const struct shoal_sub *sub);
/* This subscriber's counters (struct shoal_sub_stats). */
SHOAL_API void shoal_sub_get_stats(const struct shoal_sub *sub,
				   struct shoal_sub_stats *stats);

/* What shoal_pubsub_inspect() reports about a service and its subscribers. */
struct shoal_pubsub_info {
	enum shoal_delivery delivery;
	uint32_t capacity;
	uint32_t max_payload;
	uint32_t user_header_size;
	uint32_t history;
	uint32_t max_subscribers;
	uint32_t slot_stride;	   /* bytes per slot */
	uint32_t subscribers;	   /* lines claimed by a live subscriber */
	uint64_t payload_bytes;	   /* size of the payload segment */
	uint64_t subscriber_bytes; /* size of the subscriber segment */
	uint64_t head;		   /* next sequence number to publish */
	struct shoal_pub_stats pub;
	/* Several publishers: the service's limit (1 for a service of
	 * one), this ring's slot (pub.slot too), and how many publisher
	 * slots of the service are live now (each opened to count it). */
	uint32_t max_publishers;
	uint32_t publishers;
	/* Payload pools (0: none): each class's chunk size (rounded up to
	 * 64) and count; max_payload is then the largest chunk's size and
	 * slot_stride a reference's slot. */
	uint32_t npools;
	struct shoal_pool pools[SHOAL_PUB_POOLS_MAX];
	/* SHOAL_PUB_* of this ring, as its publisher wrote them (untrusted,
	 * unknown bits included): a subscriber can see whether its
	 * messages carry timestamps, and whether the service trusts its
	 * subscribers (SHOAL_PUB_TRUSTED_SUBSCRIBERS: an overwrite in
	 * progress then goes unseen by a subscriber a peer lied about). */
	uint32_t flags;
};

struct shoal_pubsub_sub_info {
	uint32_t index;	 /* subscriber line */
	int32_t pid;	 /* as the subscriber wrote it (untrusted) */
	uint64_t cursor; /* next sequence it will take */
	uint64_t received;
	uint64_t lost;
	uint64_t stale;
	uint64_t sleeps;
	uint64_t wakeups; /* eventfd writes the publisher made to it */
};

/*
 * shoal_pubsub_inspect - read a live service's layout and counters without
 * joining it. Fills *info and up to @cap entries of @subs (may be NULL),
 * one per live subscriber; returns how many live subscribers there are
 * (which may exceed @cap), or -errno as shoal_registry_open(). With
 * several publishers, @name reports slot 0's ring and "name//i" slot i's
 * (info->publishers counts the live ones); one call does not report them
 * all yet.
 */
SHOAL_API int shoal_pubsub_inspect(struct shoal_registry *reg, const char *name,
				   struct shoal_pubsub_info *info,
				   struct shoal_pubsub_sub_info *subs,
				   uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif
