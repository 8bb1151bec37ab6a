/* SPDX-License-Identifier: MIT */
/*
 * The publish/subscribe figures (include/shoal/pubsub.h), through the public
 * API only, set up as applications would: every publisher announces its
 * service in a registry with shoal_pub_create() and every subscriber finds
 * it by name with shoal_sub_open(). The registry is a private directory,
 * /tmp/shoal-bench-XXXXXX, made by the first pub/sub figure, passed to
 * every process as $SHOAL_DIR and removed when the program exits; service
 * names carry the bench's pid and a counter, so no two figures (or runs)
 * share one.
 *
 * - rtt-*: round trips. Each process publishes on one service and
 *   subscribes to the other's (capacity BENCH_RTT_CAPACITY, max_payload
 *   the message size). The sender writes the message into a loaned slot
 *   (shoal_pub_loan/send); the answering side takes it in place
 *   (shoal_sub_take), checks it, copies it straight into a loan on its own
 *   service, sends and then releases; the pinger copies the answer out of
 *   the slot before releasing it. So each side copies the payload in and
 *   out once, as in the channel figures. Subscribers wait with
 *   SHOAL_WAIT_BUSY_SPIN (rtt-poll) or SHOAL_WAIT_BLOCK (rtt-block).
 *     pubsub        reliable, default flags (no timestamp)
 *     pubsub-ts     reliable, SHOAL_PUB_TIMESTAMP: the clock's share
 *     pubsub-trusted reliable, SHOAL_PUB_TRUSTED_SUBSCRIBERS (no odd
 *                   stamps)
 *     pubsub-lossy  lossy, default flags
 * - tput-*: one way, reliable, capacity bench_tput_capacity(size):
 *   shoal_pub_write from a private buffer in the parent, take + copy out +
 *   release in the child (BUSY_SPIN); pubsub-ts (64 B only) with
 *   SHOAL_PUB_TIMESTAMP; pubsub-trusted (64 B and 1 KiB) with
 *   SHOAL_PUB_TRUSTED_SUBSCRIBERS.
 * - fanout-<n>: what one shoal_pub_write of 64 B costs the publisher with n
 *   subscribers attached (capacity FAN_CAPACITY, max_subscribers the
 *   default 64), and the same with one subscriber in the same run,
 *   interleaved. See "Fan-out" below.
 *
 * Every message carries its sequence number; receivers check it, the
 * length, and the publisher's msg.seq, so a broken implementation fails
 * the figure instead of producing a number.
 */
#include "bench_registry.h"
#include "figures.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal.h>
#include <shoal/pubsub.h>

/* In a figure's publisher flags: the service has payload pools (one
 * class of @size-byte chunks, a quarter as many as slots, so that reusing
 * a chunk waits on the subscriber as often as a slot does), not payload in
 * its slots. */
#define BENCH_PUB_POOLED (1u << 31)

static int pub_open(struct bench_side *s, const char *name, uint32_t delivery,
		    uint32_t capacity, uint32_t size, uint32_t flags,
		    struct shoal_pub **out)
{
	struct shoal_pub_options o;
	struct shoal_pool pool = { size, capacity / 4 > 2 ? capacity / 4 : 2 };
	int rc;

	shoal_pub_options_init(&o);
	o.delivery = delivery;
	o.capacity = capacity;
	o.max_payload = size;
	o.flags = flags & ~BENCH_PUB_POOLED;
	if (flags & BENCH_PUB_POOLED) {
		o.pools = &pool;
		o.npools = 1;
	}
	rc = shoal_pub_create(name, &o, out);
	return rc ? bench_shoal_failed(s, "shoal_pub_create", rc) : 0;
}

static int sub_open(struct bench_side *s, const char *name,
		    enum shoal_wait_strategy strategy, struct shoal_sub **out)
{
	struct shoal_sub_options o;
	int rc;

	shoal_sub_options_init(&o);
	o.strategy = strategy;
	rc = shoal_sub_open(name, &o, out);
	return rc ? bench_shoal_failed(s, "shoal_sub_open", rc) : 0;
}

/*
 * Message @i (from 1) must be the publisher's seq i - 1, @size bytes long,
 * with i in its first bytes.
 */
static int msg_check(struct bench_side *s, const struct shoal_msg *m,
		     const unsigned char *data, uint32_t size, uint64_t i)
{
	if (m->seq != i - 1) {
		bench_side_note(s, "message %llu: msg.seq %llu, expected %llu",
				(unsigned long long)i,
				(unsigned long long)m->seq,
				(unsigned long long)(i - 1));
		return -EIO;
	}
	return bench_check_msg(s, data, m->len, size, i);
}

/* Round trips. */

struct rtt_arg {
	uint32_t size;
	uint32_t delivery;
	uint32_t pub_flags;
	enum shoal_wait_strategy strategy;
	uint64_t total;
	/* [0]: the parent publishes, the child subscribes; [1]: reverse. */
	char name[2][BENCH_NAME_MAX];
	struct bench_samples lat;
	/* Both processes' counters, summed by the parent at the end. */
	uint64_t wakeups, sleeps;
	/* The parent's own: */
	struct bench_side *side;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	unsigned char *msg;
};

/*
 * Slots per round-trip service: one message is ever in flight, so large
 * messages get a few slots instead of BENCH_RTT_CAPACITY (64 MiB of ring for
 * 1 MiB ones).
 */
static uint32_t rtt_capacity(uint32_t size)
{
	return size >= 65536 ? 8 : BENCH_RTT_CAPACITY;
}

/* Loan a slot, write @size bytes of @src into it, send it. */
static inline int rtt_send(struct shoal_pub *pub, const unsigned char *src,
			   uint32_t size)
{
	void *slot;
	int rc = shoal_pub_loan(pub, size, &slot);

	if (rc)
		return rc;
	memcpy(slot, src, size);
	return shoal_pub_send(pub, slot, size);
}

static inline int rtt_round_trip(void *ctx, uint64_t i)
{
	struct rtt_arg *a = ctx;
	struct shoal_msg m;
	int rc;

	bench_stamp(a->msg, i, a->size);
	rc = rtt_send(a->pub, a->msg, a->size);
	if (rc)
		return bench_shoal_failed(a->side, "send", rc);
	rc = shoal_sub_take(a->sub, &m, SHOAL_WAIT_FOREVER);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_sub_take", rc);
	memcpy(a->msg, m.data, m.len <= a->size ? m.len : a->size);
	rc = shoal_sub_release(a->sub, &m);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_sub_release", rc);
	return msg_check(a->side, &m, a->msg, a->size, i);
}

static void pubsub_counters(struct shoal_pub *pub, struct shoal_sub *sub,
			    uint64_t *wakeups, uint64_t *sleeps,
			    uint64_t *blocked)
{
	struct shoal_pub_stats ps;
	struct shoal_sub_stats ss;

	memset(&ps, 0, sizeof(ps));
	memset(&ss, 0, sizeof(ss));
	if (pub)
		shoal_pub_get_stats(pub, &ps);
	if (sub)
		shoal_sub_get_stats(sub, &ss);
	*wakeups = ps.wakeups;
	*sleeps = ss.sleeps;
	if (blocked)
		*blocked = ps.blocked;
}

static int rtt_parent(struct bench_side *s)
{
	struct rtt_arg *a = s->arg;
	uint64_t w, sl;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	memset(a->msg, 0xa5, a->size);
	a->side = s;
	rc = pub_open(s, a->name[0], a->delivery, rtt_capacity(a->size),
		      a->size, a->pub_flags, &a->pub);
	if (rc)
		goto out;
	/* Both services exist after this barrier. */
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	rc = sub_open(s, a->name[1], a->strategy, &a->sub);
	if (rc)
		goto out;
	/* Its barrier: both sides have joined. */
	rc = bench_latency_run(s, &a->lat, rtt_round_trip, a);
	if (rc)
		goto out;
	/* The child's counters arrive before this barrier. */
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	pubsub_counters(a->pub, a->sub, &w, &sl, NULL);
	a->wakeups = w + bench_side_get(s, BENCH_SIDE_WAKEUPS);
	a->sleeps = sl + bench_side_get(s, BENCH_SIDE_SLEEPS);
out:
	shoal_sub_close(a->sub);
	shoal_pub_destroy(a->pub);
	a->sub = NULL;
	a->pub = NULL;
	free(a->msg);
	a->msg = NULL;
	return rc;
}

static int rtt_child(struct bench_side *s)
{
	struct rtt_arg *a = s->arg;
	struct shoal_pub *pub = NULL;
	struct shoal_sub *sub = NULL;
	struct shoal_msg m;
	uint64_t i, w, sl;
	void *slot;
	int rc;

	rc = pub_open(s, a->name[1], a->delivery, rtt_capacity(a->size),
		      a->size, a->pub_flags, &pub);
	if (rc)
		return rc;
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	rc = sub_open(s, a->name[0], a->strategy, &sub);
	if (rc)
		goto out;
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	for (i = 1; i <= a->total; i++) {
		rc = shoal_sub_take(sub, &m, SHOAL_WAIT_FOREVER);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_sub_take", rc);
			goto out;
		}
		rc = msg_check(s, &m, m.data, a->size, i);
		if (rc)
			goto out;
		/* Answer from the slot, then let it go. */
		rc = shoal_pub_loan(pub, a->size, &slot);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_pub_loan", rc);
			goto out;
		}
		memcpy(slot, m.data, a->size);
		rc = shoal_pub_send(pub, slot, a->size);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_pub_send", rc);
			goto out;
		}
		rc = shoal_sub_release(sub, &m);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_sub_release", rc);
			goto out;
		}
	}
	pubsub_counters(pub, sub, &w, &sl, NULL);
	rc = bench_side_report(s, w, sl);
out:
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return rc;
}

/* f->param: { delivery, SHOAL_PUB_* flags, subscribers' wait strategy }. */
static int run_rtt(const struct bench_figure *f, const struct bench_config *cfg,
		   struct bench_result *res)
{
	struct rtt_arg a;
	int rc;

	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.delivery = (uint32_t)f->param[0];
	a.pub_flags = (uint32_t)f->param[1];
	a.strategy = (enum shoal_wait_strategy)f->param[2];
	a.total = bench_round_trips(cfg);
	bench_service_name(a.name[0], "ping");
	bench_service_name(a.name[1], "pong");
	rc = bench_pair_run(cfg, rtt_parent, rtt_child, &a, res->note);
	if (!rc) {
		bench_samples_stats(&a.lat, res);
		/* Both directions, both processes, warm-up included. */
		res->wakeups_per_msg = (double)a.wakeups / (double)a.total;
		res->sleeps_per_msg = (double)a.sleeps / (double)a.total;
	}
	bench_samples_fini(&a.lat);
	return rc;
}

/*
 * Idle: the child subscribes with the default wait strategy (adaptive: a
 * short spin, then a sleep on the eventfd) and waits for one message that
 * the parent publishes after cfg->idle_ns. What the waiter costs while
 * nothing happens.
 */

struct idle_arg {
	char name[BENCH_NAME_MAX];
	struct bench_result *res;
	struct bench_side *side;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
};

static int idle_send(void *ctx)
{
	struct idle_arg *a = ctx;
	unsigned char msg[8];
	int rc;

	bench_stamp(msg, 1, sizeof(msg));
	rc = shoal_pub_write(a->pub, msg, sizeof(msg), NULL);
	return rc ? bench_shoal_failed(a->side, "shoal_pub_write", rc) : 0;
}

static int idle_wait(void *ctx)
{
	struct idle_arg *a = ctx;
	struct shoal_msg m;
	int rc = shoal_sub_take(a->sub, &m, SHOAL_WAIT_FOREVER);

	if (rc)
		return bench_shoal_failed(a->side, "shoal_sub_take", rc);
	rc = msg_check(a->side, &m, m.data, 8, 1);
	shoal_sub_release(a->sub, &m);
	return rc;
}

static int idle_parent(struct bench_side *s)
{
	struct idle_arg *a = s->arg;
	int rc;

	a->side = s;
	rc = pub_open(s, a->name, SHOAL_DELIVERY_RELIABLE, BENCH_RTT_CAPACITY,
		      8, 0, &a->pub);
	if (rc)
		return rc;
	/* The service exists; the child subscribes before the next one. */
	rc = bench_side_sync(s) ? -ECANCELED :
				  bench_idle_parent(s, idle_send, a, a->res);
	shoal_pub_destroy(a->pub);
	return rc;
}

static int idle_child(struct bench_side *s)
{
	struct idle_arg *a = s->arg;
	int rc;

	a->side = s;
	if (bench_side_sync(s))
		return -ECANCELED;
	rc = sub_open(s, a->name, 0, &a->sub);
	if (rc)
		return rc;
	rc = bench_idle_child(s, idle_wait, a);
	shoal_sub_close(a->sub);
	return rc;
}

static int run_idle(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res)
{
	struct idle_arg a;
	int rc;

	(void)f;
	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.res = res;
	bench_service_name(a.name, "idle");
	return bench_pair_run(cfg, idle_parent, idle_child, &a, res->note);
}

/*
 * One-way throughput, reliable: the parent publishes with shoal_pub_write
 * from a private buffer, the child takes each message, copies it out,
 * checks it and releases it. Trials as in shoal_figures.c.
 */

/* Most messages per zero-copy batch in the stream figures. */
#define BENCH_PUB_BATCH_MAX 64

struct tput_arg {
	uint32_t size;
	uint32_t batch; /* messages per zero-copy batch (<= 64); 1: write */
	uint32_t pub_flags;
	char name[BENCH_NAME_MAX];
	struct bench_tput tput;
	uint64_t msgs, wakeups, sleeps, blocked;
};

/*
 * Sends @n messages from @src: one shoal_pub_write() each, or zero-copy
 * batches of up to a->batch (loan_batch, write in place, send_batch).
 */
static int tput_send(struct bench_side *s, struct tput_arg *a,
		     struct shoal_pub *pub, unsigned char *src,
		     struct shoal_pub_msg *batch, uint64_t n, uint64_t *seq)
{
	uint64_t k, j, want;
	int rc;

	if (a->batch <= 1) {
		for (k = 0; k < n; k++) {
			bench_stamp(src, (*seq)++, a->size);
			rc = shoal_pub_write(pub, src, a->size, NULL);
			if (rc)
				return bench_shoal_failed(s, "shoal_pub_write",
							  rc);
		}
		return 0;
	}
	(void)batch;
	/* Zero-copy both ways: loan up to a->batch slots, write each in
	 * place (copy and stamp, as the bare ring's batch writes), send
	 * them with one commit. */
	for (k = 0; k < n; k += (uint64_t)rc) {
		void *ptrs[BENCH_PUB_BATCH_MAX];
		uint32_t lens[BENCH_PUB_BATCH_MAX];

		want = n - k < a->batch ? n - k : a->batch;
		rc = shoal_pub_loan_batch(pub, a->size, ptrs, (uint32_t)want);
		if (rc < 0)
			return bench_shoal_failed(s, "shoal_pub_loan_batch",
						  rc);
		for (j = 0; j < (uint64_t)rc; j++) {
			memcpy(ptrs[j], src, a->size);
			bench_stamp(ptrs[j], *seq + j, a->size);
			lens[j] = a->size;
		}
		rc = shoal_pub_send_batch(pub, ptrs, lens, (uint32_t)rc);
		if (rc < 0)
			return bench_shoal_failed(s, "shoal_pub_send_batch",
						  rc);
		*seq += (uint64_t)rc;
	}
	return 0;
}

static int tput_parent(struct bench_side *s)
{
	struct tput_arg *a = s->arg;
	struct shoal_pub *pub = NULL;
	struct shoal_pub_msg *batch = NULL;
	uint32_t nbuf = a->batch > 1 ? a->batch : 1, j;
	unsigned char *src;
	uint64_t seq = 1, sl;
	int64_t n = 0;
	int rc;

	src = bench_buf_alloc((size_t)nbuf * a->size);
	batch = calloc(nbuf, sizeof(*batch));
	if (!src || !batch) {
		free(src);
		free(batch);
		return -ENOMEM;
	}
	memset(src, 0xa5, (size_t)nbuf * a->size);
	for (j = 0; j < nbuf; j++) {
		batch[j].data = src + (size_t)j * a->size;
		batch[j].len = a->size;
	}
	rc = pub_open(s, a->name, SHOAL_DELIVERY_RELIABLE,
		      bench_tput_capacity(a->size), a->size, a->pub_flags,
		      &pub);
	if (rc)
		goto out;
	/* The service exists; then the subscriber has joined. */
	if (bench_side_sync(s) || bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		rc = tput_send(s, a, pub, src, batch, (uint64_t)n, &seq);
		if (!rc)
			rc = bench_trial_finish(s, &a->tput);
	}
	if (!rc && n < 0)
		rc = (int)n;
	a->msgs = seq - 1;
	/* The child's counters arrive before this barrier. */
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	if (!rc) {
		pubsub_counters(pub, NULL, &a->wakeups, &sl, &a->blocked);
		a->sleeps = bench_side_get(s, BENCH_SIDE_SLEEPS);
	}
out:
	shoal_pub_destroy(pub);
	free(batch);
	free(src);
	return rc;
}

/* Takes @n messages in batches of up to a->batch (take_batch, copy each
 * out and check it, release_batch). */
static int tput_take_batch(struct bench_side *s, struct tput_arg *a,
			   struct shoal_sub *sub, unsigned char *dst,
			   uint64_t n, uint64_t *seq)
{
	struct shoal_msg m[BENCH_PUB_BATCH_MAX];
	uint64_t k;
	int rc;

	for (k = 0; k < n; k += (uint64_t)rc) {
		uint64_t want = n - k < a->batch ? n - k : a->batch;

		rc = shoal_sub_take_batch(sub, m, (uint32_t)want,
					  SHOAL_WAIT_FOREVER);
		if (rc < 0)
			return bench_shoal_failed(s, "shoal_sub_take_batch",
						  rc);
		for (int j = 0; j < rc; j++) {
			int err;

			memcpy(dst, m[j].data,
			       m[j].len <= a->size ? m[j].len : a->size);
			err = msg_check(s, &m[j], dst, a->size, (*seq)++);
			if (err)
				return err;
		}
		{
			int err = shoal_sub_release_batch(sub, m, (uint32_t)rc);

			if (err)
				return bench_shoal_failed(
					s, "shoal_sub_release_batch", err);
		}
	}
	return 0;
}

static int tput_child(struct bench_side *s)
{
	struct tput_arg *a = s->arg;
	struct shoal_sub *sub = NULL;
	unsigned char *dst;
	struct shoal_msg m;
	uint64_t seq = 1, k, w, sl;
	int64_t n;
	int rc;

	dst = bench_buf_alloc(a->size);
	if (!dst)
		return -ENOMEM;
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	rc = sub_open(s, a->name, SHOAL_WAIT_BUSY_SPIN, &sub);
	if (rc)
		goto out;
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	while ((n = bench_trial_next(s)) > 0) {
		if (a->batch > 1) {
			rc = tput_take_batch(s, a, sub, dst, (uint64_t)n, &seq);
			if (rc)
				goto out;
			rc = bench_trial_end(s);
			if (rc)
				goto out;
			continue;
		}
		for (k = 0; k < (uint64_t)n; k++, seq++) {
			rc = shoal_sub_take(sub, &m, SHOAL_WAIT_FOREVER);
			if (rc) {
				rc = bench_shoal_failed(s, "shoal_sub_take",
							rc);
				goto out;
			}
			memcpy(dst, m.data, m.len <= a->size ? m.len : a->size);
			rc = shoal_sub_release(sub, &m);
			if (rc) {
				rc = bench_shoal_failed(s, "shoal_sub_release",
							rc);
				goto out;
			}
			rc = msg_check(s, &m, dst, a->size, seq);
			if (rc)
				goto out;
		}
		rc = bench_trial_end(s);
		if (rc)
			goto out;
	}
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	pubsub_counters(NULL, sub, &w, &sl, NULL);
	rc = bench_side_report(s, w, sl);
out:
	shoal_sub_close(sub);
	free(dst);
	return rc;
}

/* f->param: { SHOAL_PUB_* flags }. */
static int run_tput(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res)
{
	struct tput_arg a;
	int rc;

	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.pub_flags = (uint32_t)f->param[0];
	a.batch = f->batch;
	bench_service_name(a.name, "stream");
	rc = bench_pair_run(cfg, tput_parent, tput_child, &a, res->note);
	if (!rc)
		bench_tput_stats(&a.tput, f->size, res);
	if (!rc && a.msgs) {
		res->wakeups_per_msg = (double)a.wakeups / (double)a.msgs;
		res->sleeps_per_msg = (double)a.sleeps / (double)a.msgs;
		res->blocked_per_msg = (double)a.blocked / (double)a.msgs;
	}
	return rc;
}

/*
 * Fan-out: the cost of one shoal_pub_write() of 64 B with n subscribers.
 *
 * The publisher is the parent, alone on its CPU. The pair's child is a
 * manager on the other CPU that forks the subscriber processes (pinned
 * there too, killed by PR_SET_PDEATHSIG if the manager dies, reaped by it)
 * and waits for them. The parent runs two services side by side: the
 * measured one with n subscribers, and a reference with one subscriber.
 * It writes bursts of BENCH_COST_BURST messages, alternately to each
 * (the order flips every pair), each burst timed as a whole (two clock
 * reads per 1024 calls), and after each burst waits, untimed, until every
 * subscriber of that service has taken and checked all of it. The figure
 * is the time per call over the measured service's bursts; "/ 1 sub,
 * interleaved" is its median over the reference's, which saw the same
 * placement of the virtual CPUs (here that alone moves the cost between
 * about 40 and 90 ns from one run to the next, see README.md).
 *
 * Bursts are a quarter of the ring, so no burst ever finds the ring full:
 * the lossy publisher never laps anyone (a take that reports -EOVERFLOW
 * fails the figure), and the reliable one never waits (blocked per publish
 * is printed and should be 0); what the reliable publisher pays for its
 * subscribers is its gating: one load of the generation word per send, and
 * a rescan of the n cursors each time its cached minimum says the ring is
 * full, i.e. about every FAN_CAPACITY messages.
 *
 * Two kinds of subscribers:
 *   idle (pubsub, pubsub-lossy): between bursts a subscriber sleeps on a
 *     futex of the bench, not in shoal, so it never marks itself asleep in
 *     the service's sleeper bitmap; when woken it takes the burst with
 *     timeout 0. During a burst nobody reads: the cost is the publisher's
 *     own code with n subscribers attached (they all read on one other
 *     core here, so the slot lines the publisher takes back come from one
 *     cache whatever n is).
 *   asleep (pubsub-lossy-wake): subscribers wait in shoal_sub_take() with
 *     SHOAL_WAIT_BLOCK, so at each burst's first publish all n are asleep
 *     and the publisher writes n eventfds; they then wake on the other CPU
 *     and read while the burst goes on. Not a target: waking n sleepers
 *     costs n system calls by design; this shows how much per publish.
 */

#define FAN_SIZE 64u
#define FAN_CAPACITY 4096u
#define FAN_MAX 64u
/* fan_svc.phase: set when the publisher is done. */
#define FAN_STOP (1u << 31)
/* Services of a fan-out run: the reference (1 subscriber), the measured. */
#define FAN_REF 0
#define FAN_TEST 1

enum fan_mode {
	FAN_IDLE,
	FAN_ASLEEP,
};

/* One service's hand-over between the publisher and its subscribers. */
struct fan_svc {
	/* Bursts published, | FAN_STOP at the end; a futex word. */
	_Alignas(BENCH_LINE) _Atomic uint32_t phase;
	/* Messages published so far, stored before phase moves. */
	_Alignas(BENCH_LINE) _Atomic uint64_t target;
	/* Bursts taken, summed over the subscribers. */
	_Alignas(BENCH_LINE) _Atomic uint64_t done;
};

struct fan_shm {
	struct fan_svc svc[2];
	/* Subscribers that joined; a futex word. */
	_Alignas(BENCH_LINE) _Atomic uint32_t ready;
	/* Nonzero once something failed; note says what (first one wins). */
	_Alignas(BENCH_LINE) _Atomic uint32_t failed;
	char note[BENCH_NOTE_MAX];
};

struct fan_arg {
	uint32_t n;
	uint32_t delivery;
	enum fan_mode mode;
	char name[2][BENCH_NAME_MAX];
	struct fan_shm *shm;
	/* The parent's results, per service. */
	uint64_t bursts;
	uint64_t publishes[2], wakeups[2], blocked[2];
	uint64_t *burst_ns[2];
};

/* Subscribers of service @j. */
static uint32_t fan_subs(const struct fan_arg *a, int j)
{
	return j == FAN_REF ? 1 : a->n;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static void fan_wake_all(_Atomic uint32_t *word)
{
	futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

static void fan_fail(struct fan_shm *shm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the first failure; the publisher stops at its next look. */
static void fan_fail(struct fan_shm *shm, const char *fmt, ...)
{
	uint32_t zero = 0;
	va_list ap;

	if (!atomic_compare_exchange_strong(&shm->failed, &zero, 2))
		return;
	va_start(ap, fmt);
	vsnprintf(shm->note, sizeof(shm->note), fmt, ap);
	va_end(ap);
	/* Release: the note before the final value. */
	atomic_store_explicit(&shm->failed, 1, memory_order_release);
	fan_wake_all(&shm->ready);
}

/* Takes message *next, checks and releases it. 0, -EIO (noted), or take's. */
static int fan_take(struct fan_arg *a, uint32_t idx, struct shoal_sub *sub,
		    uint64_t *next, int64_t timeout)
{
	struct shoal_msg m;
	int rc = shoal_sub_take(sub, &m, timeout);

	if (rc)
		return rc;
	if (m.len != FAN_SIZE || m.seq != *next ||
	    !bench_stamped(m.data, *next + 1, FAN_SIZE)) {
		fan_fail(
			a->shm,
			"subscriber %u: message %llu: msg.seq %llu, length %u, content %s",
			idx, (unsigned long long)*next,
			(unsigned long long)m.seq, m.len,
			bench_stamped(m.data, *next + 1, FAN_SIZE) ? "ok" :
								     "wrong");
		shoal_sub_release(sub, &m);
		return -EIO;
	}
	rc = shoal_sub_release(sub, &m);
	if (rc) {
		fan_fail(a->shm, "subscriber %u: shoal_sub_release: %s: %s",
			 idx, strerror(-rc), shoal_last_error());
		return -EIO;
	}
	(*next)++;
	return 0;
}

/*
 * Subscriber @idx (0: the reference's, else the measured service's), in its
 * own process. Returns 0 or a negative errno (noted).
 */
static int fan_sub(struct fan_arg *a, uint32_t idx)
{
	int j = idx ? FAN_TEST : FAN_REF;
	struct fan_shm *shm = a->shm;
	struct fan_svc *svc = &shm->svc[j];
	struct shoal_sub_options o;
	struct shoal_sub *sub = NULL;
	uint64_t next = 0, target;
	uint32_t seen = 0, phase;
	int rc;

	shoal_sub_options_init(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	rc = shoal_sub_open(a->name[j], &o, &sub);
	if (rc) {
		fan_fail(shm, "subscriber %u: shoal_sub_open: %s: %s", idx,
			 strerror(-rc), shoal_last_error());
		return rc;
	}
	atomic_fetch_add_explicit(&shm->ready, 1, memory_order_release);
	fan_wake_all(&shm->ready);
	if (a->mode == FAN_ASLEEP) {
		/* Until the publisher withdraws: -EPIPE. */
		while (!(rc = fan_take(a, idx, sub, &next,
				       SHOAL_WAIT_FOREVER))) {
			if (next % BENCH_COST_BURST == 0)
				atomic_fetch_add_explicit(&svc->done, 1,
							  memory_order_release);
		}
		if (rc == -EPIPE)
			rc = 0;
		else if (rc != -EIO)
			fan_fail(shm, "subscriber %u: shoal_sub_take: %s: %s",
				 idx, strerror(-rc), shoal_last_error());
		goto out;
	}
	for (;;) {
		phase = atomic_load_explicit(&svc->phase, memory_order_acquire);
		if (phase == seen) {
			futex(&svc->phase, FUTEX_WAIT, phase, NULL);
			continue;
		}
		if (phase & FAN_STOP)
			break;
		seen = phase;
		target = atomic_load_explicit(&svc->target,
					      memory_order_acquire);
		while (next < target) {
			/* All of it was sent before phase moved. */
			rc = fan_take(a, idx, sub, &next, 0);
			if (rc == -EIO)
				goto out;
			if (rc) {
				fan_fail(
					shm,
					"subscriber %u: message %llu of %llu sent: shoal_sub_take: %s: %s",
					idx, (unsigned long long)next,
					(unsigned long long)target,
					strerror(-rc), shoal_last_error());
				goto out;
			}
		}
		atomic_fetch_add_explicit(&svc->done, 1, memory_order_release);
	}
out:
	target = atomic_load_explicit(&svc->target, memory_order_acquire);
	if (!rc && !atomic_load(&shm->failed) && next != target) {
		fan_fail(shm, "subscriber %u: took %llu of %llu messages", idx,
			 (unsigned long long)next, (unsigned long long)target);
		rc = -EIO;
	}
	shoal_sub_close(sub);
	return rc;
}

/*
 * Subscriber @pid was reaped: forget its pid (it may be reused) and note a
 * failure nobody explained.
 */
static void fan_reaped(struct fan_shm *shm, pid_t *pids, uint32_t n, pid_t pid,
		       int status)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			pids[i] = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFSIGNALED(status))
		fan_fail(shm, "subscriber pid %d killed by signal %d", (int)pid,
			 WTERMSIG(status));
	else
		fan_fail(shm, "subscriber pid %d exited with status %d",
			 (int)pid, WEXITSTATUS(status));
}

/* The pair's child: forks the subscribers, waits for them, reaps them. */
static int fan_child(struct bench_side *s)
{
	struct fan_arg *a = s->arg;
	struct fan_shm *shm = a->shm;
	struct timespec slice = { 0, 10 * 1000 * 1000 };
	pid_t me = getpid(), pid, pids[FAN_MAX + 1];
	uint32_t i, total = a->n + 1, forked = 0, alive, r;
	int status, rc = 0;

	/* Both services exist after this barrier. */
	if (bench_side_sync(s))
		return -ECANCELED;
	for (i = 0; i < total; i++) {
		pid = fork();
		if (pid < 0) {
			fan_fail(shm, "fork of subscriber %u: %s", i,
				 strerror(errno));
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(1);
			_exit(fan_sub(a, i) ? 1 : 0);
		}
		pids[forked++] = pid;
	}
	alive = forked;
	/* Until every subscriber joined, or one failed. */
	while ((r = atomic_load_explicit(&shm->ready, memory_order_acquire)) <
		       total &&
	       !atomic_load_explicit(&shm->failed, memory_order_acquire)) {
		futex(&shm->ready, FUTEX_WAIT, r, &slice);
		while (alive && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
			alive--;
			fan_reaped(shm, pids, forked, pid, status);
		}
	}
	if (atomic_load_explicit(&shm->failed, memory_order_acquire))
		rc = -EIO;
	/* The publisher starts after this one, or sees the failure. */
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	if (rc) {
		/* Nobody will publish: stop the subscribers not reaped yet. */
		for (i = 0; i < forked; i++)
			if (pids[i] > 0)
				kill(pids[i], SIGKILL);
	}
	while (alive) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		alive--;
		fan_reaped(shm, pids, forked, pid, status);
	}
	if (rc)
		return rc;
	/* Every subscriber has exited; the publisher reads the verdict. */
	if (bench_side_sync(s))
		return -ECANCELED;
	return 0;
}

/* Waits, untimed, until service @j's subscribers took @bursts bursts each. */
static int fan_wait(struct bench_side *s, struct fan_arg *a, int j,
		    uint64_t bursts)
{
	uint64_t want = bursts * fan_subs(a, j);

	while (atomic_load_explicit(&a->shm->svc[j].done,
				    memory_order_acquire) < want) {
		if (atomic_load_explicit(&a->shm->failed,
					 memory_order_acquire) ||
		    bench_side_cancelled(s))
			return -EIO;
		bench_pause();
	}
	return 0;
}

/* One burst on service @j, number @b (from 0); timed from @timed on. */
static int fan_burst(struct bench_side *s, struct fan_arg *a,
		     struct shoal_pub *pub, int j, uint64_t b, uint64_t timed,
		     uint64_t *seq)
{
	struct fan_svc *svc = &a->shm->svc[j];
	_Alignas(BENCH_LINE) unsigned char src[FAN_SIZE];
	struct timespec settle = { 0, 200 * 1000 };
	uint64_t k, t0, t1;
	int rc = 0;

	memset(src, 0xa5, sizeof(src));
	/* Let the woken subscribers go back to sleep in shoal. */
	if (a->mode == FAN_ASLEEP && b)
		nanosleep(&settle, NULL);
	t0 = bench_now_ns();
	for (k = 0; k < BENCH_COST_BURST; k++) {
		bench_stamp(src, ++*seq, FAN_SIZE);
		rc = shoal_pub_write(pub, src, FAN_SIZE, NULL);
		if (rc)
			return bench_shoal_failed(s, "shoal_pub_write", rc);
	}
	t1 = bench_now_ns();
	if (b >= timed)
		a->burst_ns[j][b - timed] = t1 - t0;
	atomic_store_explicit(&svc->target, *seq, memory_order_release);
	if (a->mode == FAN_IDLE) {
		atomic_fetch_add_explicit(&svc->phase, 1, memory_order_release);
		fan_wake_all(&svc->phase);
	}
	return fan_wait(s, a, j, b + 1);
}

static int fan_parent(struct bench_side *s)
{
	struct fan_arg *a = s->arg;
	struct fan_shm *shm = a->shm;
	struct shoal_pub *pub[2] = { NULL, NULL };
	struct shoal_pub_stats st;
	uint64_t b, warm, seq[2] = { 0, 0 };
	int rc = 0, stop_rc, j, k;

	a->bursts = s->cfg->iters / BENCH_COST_BURST;
	if (a->bursts < 1)
		a->bursts = 1;
	/* Write each ring once before timing (page faults). */
	warm = s->cfg->warmup / BENCH_COST_BURST;
	if (warm < FAN_CAPACITY / BENCH_COST_BURST)
		warm = FAN_CAPACITY / BENCH_COST_BURST;
	for (j = 0; j < 2 && !rc; j++) {
		a->burst_ns[j] = bench_buf_alloc(a->bursts * sizeof(uint64_t));
		if (!a->burst_ns[j])
			rc = -ENOMEM;
		if (!rc)
			rc = pub_open(s, a->name[j], a->delivery, FAN_CAPACITY,
				      FAN_SIZE, 0, &pub[j]);
	}
	/* The services exist; then every subscriber joined (or one failed). */
	if (!rc && (bench_side_sync(s) || bench_side_sync(s))) {
		if (atomic_load_explicit(&shm->failed, memory_order_acquire))
			bench_side_note(s, "%s", shm->note);
		rc = -ECANCELED;
	}
	if (rc) {
		shoal_pub_destroy(pub[0]);
		shoal_pub_destroy(pub[1]);
		return rc;
	}
	for (b = 0; !rc && b < warm + a->bursts; b++) {
		for (k = 0; !rc && k < 2; k++) {
			/* Alternate which of the two goes first. */
			j = (int)((b + (uint64_t)k) % 2);
			rc = fan_burst(s, a, pub[j], j, b, warm, &seq[j]);
		}
	}
	for (j = 0; j < 2; j++) {
		shoal_pub_get_stats(pub[j], &st);
		a->publishes[j] = seq[j];
		a->wakeups[j] = st.wakeups;
		a->blocked[j] = st.blocked;
		/*
		 * Stop the subscribers: idle ones by the phase, asleep ones
		 * by -EPIPE.
		 */
		atomic_fetch_or_explicit(&shm->svc[j].phase, FAN_STOP,
					 memory_order_release);
		fan_wake_all(&shm->svc[j].phase);
		shoal_pub_destroy(pub[j]);
	}
	/* The manager has reaped them all after this barrier. */
	stop_rc = bench_side_sync(s) ? -ECANCELED : 0;
	if (atomic_load_explicit(&shm->failed, memory_order_acquire)) {
		bench_side_note(s, "%s", shm->note);
		return -EIO;
	}
	return rc ? rc : stop_rc;
}

static void fan_stats(struct fan_arg *a, struct bench_result *res)
{
	struct bench_result ref;

	bench_cost_stats(a->burst_ns[FAN_TEST], a->bursts, res);
	memset(&ref, 0, sizeof(ref));
	bench_cost_stats(a->burst_ns[FAN_REF], a->bursts, &ref);
	res->ref_p50_ns = ref.p50_ns;
	res->ref_ratio = res->p50_ns / res->ref_p50_ns;
	res->wakeups_per_msg =
		(double)a->wakeups[FAN_TEST] / (double)a->publishes[FAN_TEST];
	if (a->delivery == SHOAL_DELIVERY_RELIABLE)
		res->blocked_per_msg = (double)a->blocked[FAN_TEST] /
				       (double)a->publishes[FAN_TEST];
}

/* f->param: { delivery, enum fan_mode }. */
static int run_fan(const struct bench_figure *f, const struct bench_config *cfg,
		   struct bench_result *res)
{
	struct fan_arg a;
	unsigned int n = 0;
	int rc;

	if (sscanf(f->name, "fanout-%u/", &n) != 1 || n < 1 || n > FAN_MAX) {
		snprintf(res->note, BENCH_NOTE_MAX,
			 "bad fan-out figure name %s", f->name);
		return -EINVAL;
	}
	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.n = n;
	a.delivery = (uint32_t)f->param[0];
	a.mode = (enum fan_mode)f->param[1];
	bench_service_name(a.name[FAN_REF], "fanout-ref");
	bench_service_name(a.name[FAN_TEST], "fanout");
	a.shm = bench_shm_alloc(sizeof(*a.shm));
	if (!a.shm)
		return -ENOMEM;
	rc = bench_pair_run(cfg, fan_parent, fan_child, &a, res->note);
	if (!rc && a.publishes[FAN_TEST])
		fan_stats(&a, res);
	free(a.burst_ns[0]);
	free(a.burst_ns[1]);
	bench_shm_free(a.shm, sizeof(*a.shm));
	return rc;
}

/*
 * Figures of group @g are named "@g/@impl". @dl: delivery; @pf: SHOAL_PUB_*
 * flags; @fm: enum fan_mode (the run functions' f->param).
 */
#define POLL(g, impl, t, sz, dl, pf, v0, v1, v2) \
	POLL_FL(g, impl, t, sz, dl, pf, 0, v0, v1, v2)
/* @fl: BENCH_COMPARE for the figures of the side-by-side comparison. */
#define POLL_FL(g, impl, t, sz, dl, pf, fl, v0, v1, v2)                    \
	{                                                                  \
		.name = g "/" impl, .title = t, .kind = BENCH_LATENCY,     \
		.size = sz, .batch = 1,                                    \
		.flags = BENCH_SPINS | BENCH_SHOAL | (fl), .run = run_rtt, \
		.param = { dl, pf, SHOAL_WAIT_BUSY_SPIN },                 \
		.vs = { g "/" v0,                                          \
			g "/" v1,                                          \
			g "/" v2 }                                         \
	}
#define BLOCK(g, t, sz, fl)                                                 \
	{                                                                   \
		.name = g "/pubsub", .title = t, .kind = BENCH_LATENCY,     \
		.size = sz, .batch = 1,                                     \
		.flags = BENCH_BLOCKS | BENCH_SHOAL | BENCH_COMPARE | (fl), \
		.run = run_rtt,                                             \
		.param = { SHOAL_DELIVERY_RELIABLE, 0, SHOAL_WAIT_BLOCK },  \
		.vs = { g "/eventfd",                                       \
			g "/pipe",                                          \
			g "/shoal-channel" }                                \
	}
#define TPUT(g, impl, t, sz, pf, v2) TPUT_FL(g, impl, t, sz, pf, 0, v2)
#define TPUT_FL(g, impl, t, sz, pf, fl, v2) \
	TPUT_B(g, impl, t, sz, 1, pf, fl, v2)
/* @b: messages per zero-copy batch (1: shoal_pub_write). */
#define TPUT_B(g, impl, t, sz, b, pf, fl, v2)                               \
	{                                                                   \
		.name = g "/" impl, .title = t, .kind = BENCH_THROUGHPUT,   \
		.size = sz, .batch = b,                                     \
		.flags = BENCH_SPINS | BENCH_SHOAL | (fl), .run = run_tput, \
		.param = { pf },                                            \
		.vs = { g "/bare-ring",                                     \
			g "/shoal-channel",                                 \
			g "/" v2 }                                          \
	}
/* Not BENCH_SPINS: the subscribers sleep; the publisher has its own CPU. */
#define FAN(n, impl, t, dl, fm)                                                \
	{                                                                      \
		.name = "fanout-" #n "/" impl, .title = t, .kind = BENCH_COST, \
		.size = FAN_SIZE, .batch = 1, .flags = BENCH_SHOAL,            \
		.run = run_fan, .param = { dl, fm },                           \
		.vs = { "fanout-1/" impl }                                     \
	}
#define LOANTAKE "loan/send, take/release"
#define PUBTAKE "pub/sub reliable, pub_write / take+copy+release"
#define PUBBATCH                                                            \
	"pub/sub reliable, zero-copy batches of 64: loan_batch+send_batch " \
	"/ take_batch+copy+release_batch"
#define FAN_RELIABLE "pub_write 64 B, reliable, idle "
#define FAN_LOSSY "pub_write 64 B, lossy, idle "
#define FAN_WAKE "pub_write 64 B, lossy, asleep in take: "
#define RELIABLE SHOAL_DELIVERY_RELIABLE
#define CMP BENCH_COMPARE
#define CMPO (BENCH_COMPARE | BENCH_COMPARE_ONLY)
#define LOSSY SHOAL_DELIVERY_LOSSY

const struct bench_figure bench_pubsub_figures[] = {
	POLL_FL("rtt-poll-8", "pubsub",
		"pub/sub reliable, " LOANTAKE ", BUSY_SPIN", 8, RELIABLE, 0,
		CMP, "bare-ring", "shoal-ring", "shoal-channel"),
	POLL("rtt-poll-8", "pubsub-ts",
	     "pub/sub reliable, TIMESTAMP, BUSY_SPIN", 8, RELIABLE,
	     SHOAL_PUB_TIMESTAMP, "shoal-ring", "shoal-channel", "pubsub"),
	POLL("rtt-poll-8", "pubsub-trusted",
	     "pub/sub reliable, TRUSTED_SUBSCRIBERS, BUSY_SPIN", 8, RELIABLE,
	     SHOAL_PUB_TRUSTED_SUBSCRIBERS, "shoal-ring", "shoal-channel",
	     "pubsub"),
	POLL("rtt-poll-8", "pubsub-lossy",
	     "pub/sub lossy, " LOANTAKE ", BUSY_SPIN", 8, LOSSY, 0,
	     "shoal-ring", "shoal-channel", "pubsub"),
	POLL("rtt-poll-64", "pubsub",
	     "pub/sub reliable, " LOANTAKE ", BUSY_SPIN, 64 B", 64, RELIABLE, 0,
	     "bare-ring", "bare-line", "bare-seq"),
	POLL_FL("rtt-poll-1k", "pubsub",
		"pub/sub reliable, " LOANTAKE ", BUSY_SPIN, 1 KiB", 1024,
		RELIABLE, 0, CMP, "bare-ring", "shoal-ring", "shoal-channel"),
	POLL_FL("rtt-poll-64k", "pubsub",
		"pub/sub reliable, " LOANTAKE ", BUSY_SPIN, 64 KiB", 65536,
		RELIABLE, 0, CMPO, "bare-line", "unix", "pipe"),
	POLL_FL("rtt-poll-1m", "pubsub",
		"pub/sub reliable, " LOANTAKE ", BUSY_SPIN, 1 MiB", 1048576,
		RELIABLE, 0, CMPO, "bare-line", "unix", "pipe"),
	BLOCK("rtt-block-8", "pub/sub reliable, " LOANTAKE ", BLOCK", 8, 0),
	BLOCK("rtt-block-1k", "pub/sub reliable, " LOANTAKE ", BLOCK, 1 KiB",
	      1024, 0),
	BLOCK("rtt-block-64k", "pub/sub reliable, " LOANTAKE ", BLOCK, 64 KiB",
	      65536, CMPO),
	BLOCK("rtt-block-1m", "pub/sub reliable, " LOANTAKE ", BLOCK, 1 MiB",
	      1048576, CMPO),
	TPUT_FL("tput-8", "pubsub", PUBTAKE, 8, 0, CMP, "shoal-ring"),
	TPUT_FL("tput-64", "pubsub", PUBTAKE, 64, 0, CMP, "shoal-ring"),
	TPUT("tput-64", "pubsub-ts", PUBTAKE ", TIMESTAMP", 64,
	     SHOAL_PUB_TIMESTAMP, "pubsub"),
	TPUT("tput-64", "pubsub-trusted", PUBTAKE ", TRUSTED_SUBSCRIBERS", 64,
	     SHOAL_PUB_TRUSTED_SUBSCRIBERS, "pubsub"),
	TPUT_FL("tput-1k", "pubsub", PUBTAKE, 1024, 0, CMP, "shoal-ring"),
	TPUT("tput-1k", "pubsub-trusted", PUBTAKE ", TRUSTED_SUBSCRIBERS", 1024,
	     SHOAL_PUB_TRUSTED_SUBSCRIBERS, "pubsub"),
	TPUT_FL("tput-64k", "pubsub", PUBTAKE, 65536, 0, CMP, "shoal-ring"),
	TPUT("tput-1k", "pubsub-pools", PUBTAKE ", payload pools", 1024,
	     BENCH_PUB_POOLED, "pubsub"),
	TPUT("tput-64k", "pubsub-pools", PUBTAKE ", payload pools", 65536,
	     BENCH_PUB_POOLED, "pubsub"),
	TPUT_B("tput-8-b64", "pubsub", PUBBATCH, 8, 64, 0, 0, "shoal-ring"),
	TPUT_B("tput-64-b64", "pubsub", PUBBATCH, 64, 64, 0, CMP, "shoal-ring"),
	TPUT_B("tput-1k-b64", "pubsub", PUBBATCH, 1024, 64, 0, 0, "shoal-ring"),
	{ .name = "idle/pubsub",
	  .title = "pub/sub subscriber, default wait (adaptive) in take",
	  .kind = BENCH_IDLE,
	  .size = 8,
	  .batch = 1,
	  .flags = BENCH_SHOAL | CMPO,
	  .run = run_idle },
	FAN(1, "pubsub", FAN_RELIABLE "1 subscriber", RELIABLE, FAN_IDLE),
	FAN(1, "pubsub-lossy", FAN_LOSSY "1 subscriber", LOSSY, FAN_IDLE),
	FAN(1, "pubsub-lossy-wake", FAN_WAKE "1 subscriber", LOSSY, FAN_ASLEEP),
	FAN(4, "pubsub", FAN_RELIABLE "4 subscribers", RELIABLE, FAN_IDLE),
	FAN(4, "pubsub-lossy", FAN_LOSSY "4 subscribers", LOSSY, FAN_IDLE),
	FAN(4, "pubsub-lossy-wake", FAN_WAKE "4 subscribers", LOSSY,
	    FAN_ASLEEP),
	FAN(16, "pubsub", FAN_RELIABLE "16 subscribers", RELIABLE, FAN_IDLE),
	FAN(16, "pubsub-lossy", FAN_LOSSY "16 subscribers", LOSSY, FAN_IDLE),
	FAN(16, "pubsub-lossy-wake", FAN_WAKE "16 subscribers", LOSSY,
	    FAN_ASLEEP),
	FAN(64, "pubsub", FAN_RELIABLE "64 subscribers", RELIABLE, FAN_IDLE),
	FAN(64, "pubsub-lossy", FAN_LOSSY "64 subscribers", LOSSY, FAN_IDLE),
	FAN(64, "pubsub-lossy-wake", FAN_WAKE "64 subscribers", LOSSY,
	    FAN_ASLEEP),
	{ .name = NULL },
};
