/* SPDX-License-Identifier: MIT */
/*
 * Channel: a segment with one SPSC ring and two wait words, plus two
 * eventfds, wired together with the sleep protocol.
 *
 *   object       kind    written by   meaning
 *   "ring"       SPSC    both sides   the messages (see ring_spsc.c)
 *   "data_wait"  NOTIFY  receiver     receiver asleep, waiting for data
 *   "space_wait" NOTIFY  sender       sender asleep, waiting for a free slot
 *
 * The sender publishes a message, then shoal_notify()s data_wait: one fence,
 * and an eventfd write only if the receiver sleeps. The receiver releases a
 * slot, then notifies space_wait the same way. So a busy channel makes no
 * system call at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/channel.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "segment/fdcheck.h"

struct shoal_channel {
	struct shoal_segment *seg;
	enum shoal_channel_role role;
	int data_fd;			 /* eventfd: receiver sleeps on it */
	int space_fd;			 /* eventfd: sender sleeps on it */
	struct shoal_spsc_producer prod; /* sender only */
	struct shoal_spsc_consumer cons; /* receiver only */
	struct shoal_waiter waiter;	 /* data (receiver) or space (sender) */
	struct shoal_notifier notifier;	 /* the other side's word */
};

void shoal_channel_options_init(struct shoal_channel_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = 1024;
	opts->slot_size = 1024;
	opts->strategy = SHOAL_WAIT_ADAPTIVE;
}

static struct shoal_channel *channel_alloc(enum shoal_channel_role role)
{
	struct shoal_channel *ch = calloc(1, sizeof(*ch));

	if (ch) {
		ch->role = role;
		ch->data_fd = -1;
		ch->space_fd = -1;
	}
	return ch;
}

/* Attaches ring handle, waiter and notifier for @ch->role to the segment. */
static int channel_attach(struct shoal_channel *ch,
			  enum shoal_wait_strategy strategy)
{
	struct shoal_object_info ring_info;
	void *ring, *data_word, *space_word;
	int err;

	err = shoal_segment_find(ch->seg, "ring", SHOAL_OBJECT_SPSC_RING, &ring,
				 &ring_info);
	if (!err)
		err = shoal_segment_find(ch->seg, "data_wait",
					 SHOAL_OBJECT_NOTIFY, &data_word, NULL);
	if (!err)
		err = shoal_segment_find(ch->seg, "space_wait",
					 SHOAL_OBJECT_NOTIFY, &space_word,
					 NULL);
	if (err)
		return err == -ENOENT ? -EPROTO : err;

	if (ch->role == SHOAL_CHANNEL_SEND) {
		err = shoal_spsc_producer_init(&ch->prod, ring, ring_info.size);
		if (!err)
			err = shoal_waiter_init(&ch->waiter, space_word,
						ch->space_fd, strategy);
		if (!err)
			err = shoal_notifier_init(&ch->notifier, data_word,
						  ch->data_fd);
	} else {
		err = shoal_spsc_consumer_init(&ch->cons, ring, ring_info.size);
		if (!err)
			err = shoal_waiter_init(&ch->waiter, data_word,
						ch->data_fd, strategy);
		if (!err)
			err = shoal_notifier_init(&ch->notifier, space_word,
						  ch->space_fd);
	}
	return err;
}

static int role_ok(enum shoal_channel_role role)
{
	return role == SHOAL_CHANNEL_SEND || role == SHOAL_CHANNEL_RECV;
}

int shoal_channel_create(const struct shoal_channel_options *opts,
			 enum shoal_channel_role role,
			 struct shoal_channel **out)
{
	struct shoal_channel_options defaults;
	struct shoal_object_spec objs[3];
	struct shoal_segment_options sopts;
	struct shoal_channel *ch;
	void *mem;
	uint64_t ring_size;
	int err;

	if (!opts) {
		shoal_channel_options_init(&defaults);
		opts = &defaults;
	}
	if (!out || !role_ok(role))
		return shoal__fail(-EINVAL, "channel_create: bad role or NULL");
	ring_size = shoal_spsc_region_size(opts->capacity, opts->slot_size);
	if (!ring_size)
		return shoal__fail(
			-EINVAL,
			"channel_create: capacity %u must be a power "
			"of two in 2..%u, slot size 1..%u",
			opts->capacity, SHOAL_SPSC_CAPACITY_MAX,
			SHOAL_SPSC_SLOT_MAX);
	ch = channel_alloc(role);
	if (!ch)
		return shoal__fail(-ENOMEM, "channel_create: out of memory");

	objs[0] = (struct shoal_object_spec){ "ring", SHOAL_OBJECT_SPSC_RING,
					      64, ring_size };
	objs[1] = (struct shoal_object_spec){ "data_wait", SHOAL_OBJECT_NOTIFY,
					      64, SHOAL_NOTIFY_WORD_SIZE };
	objs[2] = (struct shoal_object_spec){ "space_wait", SHOAL_OBJECT_NOTIFY,
					      64, SHOAL_NOTIFY_WORD_SIZE };
	shoal_segment_options_init(&sopts);
	sopts.debug_name = "shoal-channel";
	err = shoal_segment_create(objs, 3, &sopts, &ch->seg);
	if (err)
		goto fail_free;
	err = shoal_segment_find(ch->seg, "ring", 0, &mem, NULL);
	if (!err)
		err = shoal_spsc_format(mem, ring_size, opts->capacity,
					opts->slot_size, opts->start_pos);
	if (!err)
		err = shoal_segment_find(ch->seg, "data_wait", 0, &mem, NULL);
	if (!err)
		err = shoal_notify_format(mem);
	if (!err)
		err = shoal_segment_find(ch->seg, "space_wait", 0, &mem, NULL);
	if (!err)
		err = shoal_notify_format(mem);
	if (!err)
		err = shoal_segment_ready(ch->seg);
	if (err)
		goto fail_seg;

	ch->data_fd = shoal_eventfd_create();
	if (ch->data_fd < 0) {
		err = ch->data_fd;
		goto fail_seg;
	}
	ch->space_fd = shoal_eventfd_create();
	if (ch->space_fd < 0) {
		err = ch->space_fd;
		goto fail_data;
	}
	err = channel_attach(ch, opts->strategy);
	if (err)
		goto fail_space;
	*out = ch;
	return 0;

fail_space:
	close(ch->space_fd);
fail_data:
	close(ch->data_fd);
fail_seg:
	shoal_segment_destroy(ch->seg);
fail_free:
	free(ch);
	return err;
}

/* Duplicates an eventfd handed over by a peer, after checking it is one. */
static int dup_eventfd(int fd, const char *what)
{
	int copy;

	if (shoal__fd_is_eventfd(fd) == 0)
		return shoal__fail(-EINVAL,
				   "channel_open: %s fd %d is not an "
				   "eventfd",
				   what, fd);
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return shoal__fail(-errno, "channel_open: %s fd %d: %s", what,
				   fd, strerror(errno));
	return copy;
}

int shoal_channel_open(const struct shoal_channel_fds *fds,
		       const struct shoal_channel_options *opts,
		       enum shoal_channel_role role, struct shoal_channel **out)
{
	enum shoal_wait_strategy strategy = opts ? opts->strategy :
						   SHOAL_WAIT_ADAPTIVE;
	struct shoal_channel *ch;
	int err;

	if (!fds || !out || !role_ok(role))
		return shoal__fail(-EINVAL, "channel_open: bad role or NULL");
	ch = channel_alloc(role);
	if (!ch)
		return shoal__fail(-ENOMEM, "channel_open: out of memory");
	err = shoal_segment_open(fds->memfd, 0, &ch->seg);
	if (err)
		goto fail_free;
	ch->data_fd = dup_eventfd(fds->data_eventfd, "data");
	if (ch->data_fd < 0) {
		err = ch->data_fd;
		goto fail_seg;
	}
	ch->space_fd = dup_eventfd(fds->space_eventfd, "space");
	if (ch->space_fd < 0) {
		err = ch->space_fd;
		goto fail_data;
	}
	err = channel_attach(ch, strategy);
	if (err)
		goto fail_space;
	*out = ch;
	return 0;

fail_space:
	close(ch->space_fd);
fail_data:
	close(ch->data_fd);
fail_seg:
	shoal_segment_close(ch->seg);
fail_free:
	free(ch);
	return err;
}

void shoal_channel_close(struct shoal_channel *ch)
{
	if (!ch)
		return;
	close(ch->space_fd);
	close(ch->data_fd);
	shoal_segment_close(ch->seg);
	free(ch);
}

void shoal_channel_get_fds(const struct shoal_channel *ch,
			   struct shoal_channel_fds *fds)
{
	fds->memfd = shoal_segment_fd(ch->seg);
	fds->data_eventfd = ch->data_fd;
	fds->space_eventfd = ch->space_fd;
}

static int wrong_role(const char *call)
{
	return shoal__fail(-EBADF, "%s: wrong role for this handle", call);
}

/* Remaining nanoseconds until @deadline (-1 forever). */
static int64_t remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - shoal__now_ns();
	return left > 0 ? left : 0;
}

/*
 * Runs @attempt until it stops answering -EAGAIN, waiting on the handle's
 * waiter between tries; the deadline is computed only if a wait is needed,
 * so the fast path reads no clock.
 */
static ssize_t retry(struct shoal_channel *ch, ssize_t (*attempt)(void *),
		     void *arg, int64_t timeout_ns)
{
	int64_t deadline = -1;
	shoal_ready_fn ready = ch->role == SHOAL_CHANNEL_SEND ?
				       shoal_spsc_writable_cb :
				       shoal_spsc_readable_cb;
	void *ring = ch->role == SHOAL_CHANNEL_SEND ? (void *)&ch->prod :
						      (void *)&ch->cons;

	for (;;) {
		ssize_t r = attempt(arg);
		int err;

		if (r != -EAGAIN)
			return r;
		if (deadline == -1 && timeout_ns >= 0)
			deadline = shoal__deadline(timeout_ns);
		err = shoal_wait(&ch->waiter, ready, ring, remaining(deadline));
		if (err)
			return err;
	}
}

struct claim_args {
	struct shoal_channel *ch;
	void **slot;
};

static ssize_t try_claim(void *arg)
{
	struct claim_args *a = arg;

	return shoal_spsc_claim(&a->ch->prod, a->slot);
}

int shoal_channel_claim(struct shoal_channel *ch, void **slot,
			int64_t timeout_ns)
{
	struct claim_args a = { ch, slot };
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_claim");
	err = shoal_spsc_claim(&ch->prod, slot);
	return err == -EAGAIN ? (int)retry(ch, try_claim, &a, timeout_ns) : err;
}

/*
 * The wake-up after a message went in or out. Its failure (only under
 * injected faults) is not the call's: the message moved, and reporting an
 * error would make a caller send it twice. notify leaves the sleeper's flag
 * set, so the next call wakes it, and a blocked peer re-checks within a
 * sleep slice. 0.
 */
static int woke_after(struct shoal_channel *ch)
{
	(void)shoal_channel_wake(ch);
	return 0;
}

int shoal_channel_commit(struct shoal_channel *ch, uint32_t len)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_commit");
	err = shoal_spsc_commit(&ch->prod, len);
	if (err)
		return err;
	return woke_after(ch);
}

struct send_args {
	struct shoal_channel *ch;
	const void *data;
	uint32_t len;
};

static ssize_t try_send(void *arg)
{
	struct send_args *a = arg;

	return shoal_spsc_push(&a->ch->prod, a->data, a->len);
}

int shoal_channel_send(struct shoal_channel *ch, const void *data, uint32_t len,
		       int64_t timeout_ns)
{
	struct send_args a = { ch, data, len };
	int err;

	if (ch->role != SHOAL_CHANNEL_SEND)
		return wrong_role("channel_send");
	/* Fast path first: a free slot needs no retry machinery. */
	err = shoal_spsc_push(&ch->prod, data, len);
	if (err == -EAGAIN)
		err = (int)retry(ch, try_send, &a, timeout_ns);
	return err ? err : woke_after(ch);
}

struct peek_args {
	struct shoal_channel *ch;
	const void **data;
	uint32_t *len;
};

static ssize_t try_peek(void *arg)
{
	struct peek_args *a = arg;

	return shoal_spsc_peek(&a->ch->cons, a->data, a->len);
}

int shoal_channel_peek(struct shoal_channel *ch, const void **data,
		       uint32_t *len, int64_t timeout_ns)
{
	struct peek_args a = { ch, data, len };
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_peek");
	err = shoal_spsc_peek(&ch->cons, data, len);
	return err == -EAGAIN ? (int)retry(ch, try_peek, &a, timeout_ns) : err;
}

int shoal_channel_release(struct shoal_channel *ch)
{
	int err;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_release");
	err = shoal_spsc_release(&ch->cons);
	if (err)
		return err;
	return woke_after(ch);
}

struct recv_args {
	struct shoal_channel *ch;
	void *buf;
	size_t cap;
};

static ssize_t try_recv(void *arg)
{
	struct recv_args *a = arg;

	return shoal_spsc_pop(&a->ch->cons, a->buf, a->cap);
}

ssize_t shoal_channel_recv(struct shoal_channel *ch, void *buf, size_t cap,
			   int64_t timeout_ns)
{
	struct recv_args a = { ch, buf, cap };
	ssize_t n;

	if (ch->role != SHOAL_CHANNEL_RECV)
		return wrong_role("channel_recv");
	n = shoal_spsc_pop(&ch->cons, buf, cap);
	if (n == -EAGAIN)
		n = retry(ch, try_recv, &a, timeout_ns);
	if (n < 0)
		return n;
	/* A slot came free: wake a sender waiting for space. */
	woke_after(ch);
	return n;
}

struct shoal_spsc_producer *shoal_channel_producer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_SEND ? &ch->prod : NULL;
}

struct shoal_spsc_consumer *shoal_channel_consumer(struct shoal_channel *ch)
{
	return ch->role == SHOAL_CHANNEL_RECV ? &ch->cons : NULL;
}

int shoal_channel_wake(struct shoal_channel *ch)
{
	/* shoal_notify()'s full fence, between the caller's commit or release
	 * (the ring's release store of its position) and the load of the
	 * peer's sleeping flag, pairs with the peer's fence in
	 * shoal_waiter_arm() between setting that flag and re-checking the
	 * ring: it sees the change, or we see it asleep and write its
	 * eventfd. */
	int err = shoal_notify(&ch->notifier);

	return err < 0 ? err : 0;
}

int shoal_channel_wait(struct shoal_channel *ch, int64_t timeout_ns)
{
	if (ch->role == SHOAL_CHANNEL_SEND)
		return shoal_wait(&ch->waiter, shoal_spsc_writable_cb,
				  &ch->prod, timeout_ns);
	return shoal_wait(&ch->waiter, shoal_spsc_readable_cb, &ch->cons,
			  timeout_ns);
}

int shoal_channel_fd(const struct shoal_channel *ch)
{
	return shoal_waiter_fd(&ch->waiter);
}

int shoal_channel_arm(struct shoal_channel *ch)
{
	if (ch->role == SHOAL_CHANNEL_SEND)
		return shoal_waiter_arm(&ch->waiter, shoal_spsc_writable_cb,
					&ch->prod);
	return shoal_waiter_arm(&ch->waiter, shoal_spsc_readable_cb, &ch->cons);
}

void shoal_channel_disarm(struct shoal_channel *ch)
{
	shoal_waiter_disarm(&ch->waiter);
}

uint64_t shoal_channel_wakeups(const struct shoal_channel *ch)
{
	return shoal_notifier_wakeups(&ch->notifier);
}

uint64_t shoal_channel_sleeps(const struct shoal_channel *ch)
{
	return shoal_waiter_sleeps(&ch->waiter);
}
