/* SPDX-License-Identifier: MIT */
/*
 * The queue figures (include/shoal/queue.h), through the public API, beside
 * the bare ring and the SPSC ring baselines of the same group:
 *
 * - tput-64/queue: one producer process, one consumer process, the MPMC
 *   queue (every push and pop a CAS on a claim word and one on a position);
 * - tput-64/queue-spsc: the same created SHOAL_QUEUE_SPSC (the fast path);
 * - tput-64/queue-2x2: two producer threads in the parent and two consumer
 *   threads in the child, each with its own handle, on the MPMC queue. The
 *   pair's processes are pinned to one CPU each, so on a two-CPU machine
 *   the two threads of a side share a CPU: this measures the protocol under
 *   contention and preemption, not four cores' worth of work.
 *
 * Each message carries its producer and sequence in its first 8 bytes;
 * every consumer checks that each producer's messages reach it in
 * increasing order, and the child that every message arrived: a lost or
 * repeated message fails the figure.
 */
#define _GNU_SOURCE
#include "bench_registry.h"
#include "figures.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <shoal.h>
#include <shoal/queue.h>

#define MAX_THREADS 2
#define PRODUCER_SHIFT 48

struct queue_arg {
	uint32_t size, threads, spsc;
	char name[BENCH_NAME_MAX];
	struct bench_tput tput;
	uint64_t msgs, sleeps, wakeups;
};

/* One thread of a side, with its own handle. */
struct worker {
	struct bench_side *side;
	struct queue_arg *a;
	struct shoal_queue *q;
	uint32_t id;
	uint64_t share; /* producer: messages this trial */
	uint64_t next;	/* producer: next sequence */
	uint64_t last[MAX_THREADS];
	_Atomic uint64_t *taken; /* consumers: messages this trial, all */
	uint64_t want;		 /* consumers: the trial's count */
	long rc;
	const char *what;
};

static int open_handle(struct bench_side *s, struct queue_arg *a, int create,
		       uint32_t role, struct shoal_queue **q)
{
	struct shoal_queue_options o;
	int rc;

	shoal_queue_options_init(&o);
	o.capacity = bench_tput_capacity(a->size);
	o.max_message = a->size;
	o.role = role;
	o.flags = a->spsc ? SHOAL_QUEUE_SPSC : 0;
	/* 1:1 spins like the other throughput figures; threads sharing a
	 * CPU would only spin against each other. */
	o.strategy = a->threads > 1 ? SHOAL_WAIT_ADAPTIVE :
				      SHOAL_WAIT_BUSY_SPIN;
	rc = create ? shoal_queue_create(a->name, &o, q) :
		      shoal_queue_open(a->name, &o, q);
	return rc ? bench_shoal_failed(s,
				       create ? "shoal_queue_create" :
						"shoal_queue_open",
				       rc) :
		    0;
}

static void *produce(void *arg)
{
	struct worker *w = arg;
	unsigned char *src = bench_buf_alloc(w->a->size);

	if (!src) {
		w->rc = -ENOMEM;
		return NULL;
	}
	memset(src, 0xa5, w->a->size);
	for (uint64_t k = 0; k < w->share; k++) {
		uint64_t tag = (uint64_t)w->id << PRODUCER_SHIFT | w->next++;

		memcpy(src, &tag, sizeof(tag));
		w->rc = shoal_queue_write(w->q, src, w->a->size);
		if (w->rc) {
			w->what = "shoal_queue_write";
			break;
		}
	}
	free(src);
	return NULL;
}

static void *consume(void *arg)
{
	struct worker *w = arg;
	unsigned char *dst = bench_buf_alloc(w->a->size);

	if (!dst) {
		w->rc = -ENOMEM;
		return NULL;
	}
	while (atomic_load_explicit(w->taken, memory_order_relaxed) < w->want) {
		uint64_t tag, p, seq;
		ssize_t n = shoal_queue_read(w->q, dst, w->a->size, 1000000);

		if (n == -ETIMEDOUT)
			continue; /* the other consumer took the last ones */
		if (n < 0) {
			w->rc = n;
			w->what = "shoal_queue_read";
			break;
		}
		memcpy(&tag, dst, sizeof(tag));
		p = tag >> PRODUCER_SHIFT;
		seq = tag & ((1ULL << PRODUCER_SHIFT) - 1);
		if ((size_t)n != w->a->size || p >= MAX_THREADS ||
		    (w->last[p] != UINT64_MAX && seq <= w->last[p])) {
			w->rc = -EBADMSG;
			w->what = "message lost, repeated or reordered";
			break;
		}
		w->last[p] = seq;
		atomic_fetch_add_explicit(w->taken, 1, memory_order_relaxed);
	}
	free(dst);
	return NULL;
}

/* Runs @fn on every worker (the first on this thread); first error. */
static int run_workers(struct bench_side *s, struct worker *w, uint32_t n,
		       void *(*fn)(void *))
{
	pthread_t t[MAX_THREADS];
	int rc = 0;

	for (uint32_t i = 1; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, &w[i]))
			return -EAGAIN;
	fn(&w[0]);
	for (uint32_t i = 1; i < n; i++)
		pthread_join(t[i], NULL);
	for (uint32_t i = 0; i < n && !rc; i++)
		if (w[i].rc)
			rc = w[i].what ?
				     bench_shoal_failed(s, w[i].what, w[i].rc) :
				     (int)w[i].rc;
	return rc;
}

static void close_all(struct worker *w, uint32_t n, int creator0)
{
	/* The creator (worker 0 of the parent) last: it withdraws. */
	for (uint32_t i = n; i-- > 0;)
		if (i == 0 && creator0)
			shoal_queue_destroy(w[i].q);
		else
			shoal_queue_close(w[i].q);
}

static int queue_parent(struct bench_side *s)
{
	struct queue_arg *a = s->arg;
	struct worker w[MAX_THREADS];
	struct shoal_queue_stats st;
	int64_t n = 0;
	int rc = 0;

	memset(w, 0, sizeof(w));
	for (uint32_t i = 0; i < a->threads && !rc; i++) {
		w[i].side = s;
		w[i].a = a;
		w[i].id = i;
		rc = open_handle(s, a, i == 0, SHOAL_QUEUE_PRODUCER, &w[i].q);
	}
	/* The queue exists; then the consumers have joined. */
	if (!rc && (bench_side_sync(s) || bench_side_sync(s)))
		rc = -ECANCELED;
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		for (uint32_t i = 0; i < a->threads; i++)
			w[i].share = (uint64_t)n / a->threads +
				     (i < (uint64_t)n % a->threads);
		rc = run_workers(s, w, a->threads, produce);
		if (!rc)
			rc = bench_trial_finish(s, &a->tput);
	}
	if (!rc && n < 0)
		rc = (int)n;
	for (uint32_t i = 0; i < a->threads; i++)
		a->msgs += w[i].next;
	/* The child's counters arrive before this barrier. */
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	if (!rc) {
		for (uint32_t i = 0; i < a->threads; i++) {
			shoal_queue_get_stats(w[i].q, &st);
			a->wakeups += st.wakeups;
		}
		a->sleeps = bench_side_get(s, BENCH_SIDE_SLEEPS);
	}
	close_all(w, a->threads, 1);
	return rc;
}

static int queue_child(struct bench_side *s)
{
	struct queue_arg *a = s->arg;
	struct worker w[MAX_THREADS];
	struct shoal_queue_stats st;
	_Atomic uint64_t taken;
	uint64_t wakeups = 0, sleeps = 0;
	int64_t n;
	int rc = 0;

	memset(w, 0, sizeof(w));
	if (bench_side_sync(s))
		return -ECANCELED;
	for (uint32_t i = 0; i < a->threads && !rc; i++) {
		w[i].side = s;
		w[i].a = a;
		w[i].taken = &taken;
		for (int p = 0; p < MAX_THREADS; p++)
			w[i].last[p] = UINT64_MAX;
		rc = open_handle(s, a, 0, SHOAL_QUEUE_CONSUMER, &w[i].q);
	}
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	while (!rc && (n = bench_trial_next(s)) > 0) {
		atomic_store(&taken, 0);
		for (uint32_t i = 0; i < a->threads; i++)
			w[i].want = (uint64_t)n;
		rc = run_workers(s, w, a->threads, consume);
		if (!rc && atomic_load(&taken) != (uint64_t)n)
			rc = -EBADMSG;
		if (!rc)
			rc = bench_trial_end(s);
	}
	if (!rc) {
		for (uint32_t i = 0; i < a->threads; i++) {
			shoal_queue_get_stats(w[i].q, &st);
			wakeups += st.wakeups;
			sleeps += st.sleeps;
		}
		rc = bench_side_report(s, wakeups, sleeps);
	}
	close_all(w, a->threads, 0);
	return rc;
}

/* f->param: { threads per side, spsc }. */
static int run_queue(const struct bench_figure *f,
		     const struct bench_config *cfg, struct bench_result *res)
{
	struct queue_arg a;
	int rc;

	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.threads = (uint32_t)f->param[0];
	a.spsc = (uint32_t)f->param[1];
	bench_service_name(a.name, "queue");
	rc = bench_pair_run(cfg, queue_parent, queue_child, &a, res->note);
	if (!rc)
		bench_tput_stats(&a.tput, f->size, res);
	if (!rc && a.msgs) {
		res->wakeups_per_msg = (double)a.wakeups / (double)a.msgs;
		res->sleeps_per_msg = (double)a.sleeps / (double)a.msgs;
	}
	return rc;
}

#define QTPUT(impl, t, threads, spsc, fl, v2)                                  \
	{                                                                      \
		.name = "tput-64/" impl, .title = t, .kind = BENCH_THROUGHPUT, \
		.size = 64, .batch = 1, .flags = (fl) | BENCH_SHOAL,           \
		.run = run_queue, .param = { threads, spsc },                  \
		.vs = { "tput-64/bare-ring",                                   \
			"tput-64/shoal-ring",                                  \
			"tput-64/" v2 }                                        \
	}

const struct bench_figure bench_queue_figures[] = {
	QTPUT("queue", "queue MPMC 1:1, push / pop (copy), BUSY_SPIN", 1, 0,
	      BENCH_SPINS, "shoal-channel"),
	QTPUT("queue-spsc", "queue SHOAL_QUEUE_SPSC 1:1, push / pop, BUSY_SPIN",
	      1, 1, BENCH_SPINS, "queue"),
	/* Not BENCH_SPINS: two threads share each CPU and sleep when idle. */
	QTPUT("queue-2x2",
	      "queue MPMC 2:2 (2 threads per process), push / pop, ADAPTIVE", 2,
	      0, 0, "queue"),
	{ .name = NULL },
};
