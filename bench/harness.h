/* SPDX-License-Identifier: MIT */
/*
 * The shoal-bench harness: everything a figure needs that is not the thing
 * being measured.
 *
 * - CPU placement: the parent process pins itself to one CPU and every child
 *   it forks to another, so the two sides of a measurement never share a core.
 *   With a single usable CPU both run unpinned and the figures that busy-poll
 *   are skipped (two spinners on one core measure the scheduler, not IPC).
 * - Pairs: bench_pair_run() forks a child over a shared control page that
 *   carries a two-party barrier, a few values each side may publish to the
 *   other (timestamps, counters) and the child's status. A watchdog alarm
 *   ends the whole program if a figure hangs: a benchmark that hangs is a
 *   bug report, not a number.
 * - Timing: CLOCK_MONOTONIC through the vDSO. Latency figures keep every
 *   sample and sort them for percentiles, then time chunks of round trips
 *   as a whole (no clock cost inside); throughput figures run trials sized
 *   by a warm-up and report the median trial. Each side measures its CPU
 *   share, so a figure that had to share its CPU with another process is
 *   flagged rather than silently slow.
 * - Rounds: main runs every figure several times, interleaved, and
 *   bench_result_merge() takes medians; ratios are medians of per-round
 *   ratios, so a figure and its baseline are compared under the same
 *   conditions.
 * - Reporting: one table with the ratio of each shoal figure to its
 *   baselines, the DESIGN.md targets met or missed, and a JSON copy.
 *
 * Nothing here asserts on time: a slow machine gives slow numbers, never a
 * failure. A figure fails only when a message is lost or corrupted, or an
 * API call returns an error.
 */
#ifndef SHOAL_BENCH_HARNESS_H
#define SHOAL_BENCH_HARNESS_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BENCH_LINE 64
#define BENCH_NOTE_MAX 192
/*
 * Values one side of a pair may publish to the other (bench_side_put).
 * The trial protocol uses the first BENCH_SIDE_FIRST_FREE of them.
 */
#define BENCH_SIDE_VALUES 8
#define BENCH_SIDE_FIRST_FREE 2

enum bench_kind {
	BENCH_LATENCY = 1,    /* round trips: percentiles in ns */
	BENCH_THROUGHPUT = 2, /* one way: messages/s and GB/s */
	/*
	 * The cost of one operation on one side, in ns: percentiles over
	 * bursts of operations, each burst timed as a whole (fan-out).
	 */
	BENCH_COST = 3,
	/*
	 * CPU use while idle: the child waits for one message with the
	 * system's default blocking wait while the parent does nothing for
	 * cfg->idle_ns (idle_parent, idle_child).
	 */
	BENCH_IDLE = 4,
};

/* bench_figure.flags */
enum {
	/* Busy-polls: meaningless (and endless) with both sides on one CPU. */
	BENCH_SPINS = 1u << 0,
	/* Both sides sleep in the kernel between messages. */
	BENCH_BLOCKS = 1u << 1,
	/* Measures shoal: compared against the figures named in vs[]. */
	BENCH_SHOAL = 1u << 2,
	/*
	 * In the side-by-side comparison (--compare). In each group, the one
	 * figure that has both BENCH_SHOAL and BENCH_COMPARE is the shoal
	 * figure every other system is compared with.
	 */
	BENCH_COMPARE = 1u << 3,
	/*
	 * A round trip takes microseconds (a library's threads or the kernel
	 * in the path): the blocking figures' run lengths, and no bulk
	 * chunks, so it does not run for minutes.
	 */
	BENCH_SLOW = 1u << 4,
	/*
	 * Only in the comparison: the other systems, the extra sizes and the
	 * idle figures. The plain suite (no --compare) leaves them out, so
	 * its quick run stays a smoke test of seconds.
	 */
	BENCH_COMPARE_ONLY = 1u << 5,
};

/* Where the two sides of a pair run. Decided once, at start-up. */
struct bench_cpus {
	int available;	/* CPUs in the process's affinity mask at start */
	int pinned;	/* 1: parent_cpu and child_cpu are distinct and set */
	int parent_cpu; /* -1 when unpinned */
	int child_cpu;	/* -1 when unpinned */
};

/* How long each figure runs; main derives it from the options. */
struct bench_config {
	const struct bench_cpus *cpus;
	/* Latency: timed round trips. Throughput: messages per trial. */
	uint64_t iters;
	/* Untimed round trips / messages before the first sample or trial. */
	uint64_t warmup;
	/* Latency: round trips timed in chunks, after the samples. */
	uint64_t bulk;
	/* Throughput: aim for trials this long (0: exactly iters messages). */
	uint64_t trial_ns;
	uint32_t trials;    /* throughput trials (median reported) */
	uint32_t timeout_s; /* watchdog for one figure */
	/* BENCH_IDLE: how long the parent stays idle before it sends. */
	uint64_t idle_ns;
};

struct bench_result {
	int status; /* 0 measured, 1 skipped, < 0 failed (-errno) */
	char note[BENCH_NOTE_MAX];
	double seconds; /* wall time the figure took, set by main */
	/* Timed round trips, or messages per trial; set by main. */
	uint64_t iters;
	/* BENCH_LATENCY, in ns per round trip; BENCH_COST, ns per operation */
	uint64_t samples;
	double min_ns, p50_ns, p99_ns, p999_ns, max_ns, mean_ns;
	/*
	 * Median over chunks of BENCH_CHUNK bulk round trips of each chunk's
	 * time per round trip: no clock read inside a chunk, and robust to the
	 * odd preempted chunk. < 0 when not run.
	 */
	double bulk_ns;
	/* BENCH_THROUGHPUT: median trial, and the slowest and fastest */
	double msgs_per_s, gb_per_s;
	double msgs_per_s_lo, msgs_per_s_hi;
	/* shoal only: eventfd writes and kernel sleeps per message; < 0: n/a */
	double wakeups_per_msg, sleeps_per_msg;
	/*
	 * Pub/sub, reliable: sends that had to wait for a subscriber to make
	 * room, per message; < 0: n/a.
	 */
	double blocked_per_msg;
	/*
	 * BENCH_COST: the p50 of a reference measured in the same run,
	 * interleaved with the figure's own bursts, and p50 / that; < 0: n/a.
	 */
	double ref_p50_ns, ref_ratio;
	/*
	 * Busy-polling figures: the smaller of the two sides' CPU time over
	 * wall time. Both spin all the time, so well below 1 means another
	 * process ran on their CPUs and the figure is unreliable. < 0: n/a.
	 */
	double cpu_share;
	/*
	 * BENCH_IDLE: each side's CPU time (getrusage, all its threads) over
	 * the idle period's wall time: the share of one core it used while
	 * waiting. < 0: n/a.
	 */
	double idle_parent, idle_child;
	/* Rounds merged into this result, and how many were disturbed. */
	uint32_t rounds, disturbed_rounds;
};

/* Below this cpu_share a busy-polling figure is flagged as disturbed. */
#define BENCH_CPU_SHARE_OK 0.90

struct bench_figure;
typedef int (*bench_run_fn)(const struct bench_figure *f,
			    const struct bench_config *cfg,
			    struct bench_result *res);

struct bench_figure {
	const char *name; /* unique "group/implementation", matched by --only */
	const char *title; /* what it is, for the table */
	enum bench_kind kind;
	uint32_t size;	/* payload bytes per message */
	uint32_t batch; /* messages per batch; 1: one at a time */
	uint32_t flags; /* BENCH_* */
	bench_run_fn run;
	/*
	 * For run: what tells apart the figures that share one run function
	 * (a mode, flags, a wait strategy). Each run function says what the
	 * values mean; those not given are 0.
	 */
	int param[3];
	/* Baselines (figure names) a shoal figure is compared to. */
	const char *vs[3];
};

/* What a DESIGN.md target checks. */
enum bench_metric {
	BENCH_P50 = 1,
	BENCH_P99 = 2,
	BENCH_MSGS = 3,	   /* messages per second */
	BENCH_GBS = 4,	   /* GB/s (10^9 bytes) */
	BENCH_WAKEUPS = 5, /* eventfd writes per message (system calls) */
	/* Round trip from the bulk chunks (else the sample mean). */
	BENCH_BULK = 6,
	BENCH_P999 = 7,
	BENCH_MAX = 8,
	/* BENCH_COST: p50 over the interleaved reference's (a ratio). */
	BENCH_REF = 9,
	/* BENCH_IDLE: the waiting side's (the child's) share of a core. */
	BENCH_IDLE_CPU = 10,
};

struct bench_target {
	const char *text;     /* the target as DESIGN.md states it */
	const char *figure;   /* the shoal figure it is about */
	const char *baseline; /* NULL: an absolute limit on the metric */
	enum bench_metric metric;
	/* 1: met when value <= limit; 0: met when value >= limit. */
	int at_most;
	double limit;
};

/* Everything the table and the JSON copy are made of. */
struct bench_report {
	const struct bench_figure *const *figs;
	const struct bench_result *res;
	size_t count;
	const struct bench_target *targets; /* ends with a NULL text */
	const struct bench_cpus *cpus;
	const char *mode; /* "quick", "full" or "custom" */
	const char *shoal_version;
	const char *cpu_model;
	const char *date; /* UTC, ISO 8601 */
	/* Share of all CPUs that was idle just before the run; < 0: unknown. */
	double idle_before;
	/* Cost of one bench_now_ns(), included in each latency sample. */
	double clock_ns;
	double seconds; /* the whole run */
	/* Each figure's result in each round: rounds[i * nrounds + r]. */
	const struct bench_result *rounds;
	uint32_t nrounds;
	/* The run lengths used for each class of figure. */
	const struct bench_config *cfg_poll;
	const struct bench_config *cfg_block;
	const struct bench_config *cfg_tput;
	const struct bench_config *cfg_cost; /* NULL: no BENCH_COST figure */
	const struct bench_config *cfg_idle; /* NULL: no BENCH_IDLE figure */
};

/* Time and spinning. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One polite iteration of a spin loop. */
static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * Make the compiler believe *p is read, so a copy whose result is otherwise
 * unused is not optimised away: the copies are part of what is measured.
 */
static inline void bench_escape(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

double bench_clock_cost_ns(void);

/*
 * CPU placement. bench_cpus_setup() reads the affinity mask, chooses the
 * first two CPUs in it and pins the calling (parent) process to the first.
 * Returns 0 or -errno.
 */
int bench_cpus_setup(struct bench_cpus *cpus);

/* Shared memory for a pair: MAP_SHARED|MAP_ANONYMOUS, zeroed and faulted in. */
void *bench_shm_alloc(size_t size);
void bench_shm_free(void *p, size_t size);

/*
 * A private buffer, zeroed and faulted in so no page fault lands in a sample.
 */
void *bench_buf_alloc(size_t size);

/* Pairs of processes. */
struct bench_ctl;

struct bench_side {
	int is_child;
	int cpu; /* -1: unpinned */
	void *arg;
	const struct bench_config *cfg;
	struct bench_ctl *ctl;
	char *note; /* this side's note, BENCH_NOTE_MAX bytes */
	/*
	 * Wall and CPU clocks at the first barrier: the measured part starts
	 * there.
	 */
	uint64_t wall0, cpu0;
};

typedef int (*bench_side_fn)(struct bench_side *side);

/*
 * bench_pair_run - fork a child pinned to cfg->cpus->child_cpu that runs
 * @child_fn while the parent runs @parent_fn, both with @arg (the child sees
 * its copy-on-write copy: put anything both must write in bench_shm_alloc()
 * memory, created before this call). Returns 0 when both returned 0, else the
 * parent's status if nonzero, else the child's (a crashed child: -ECHILD),
 * with the explanation in @note (BENCH_NOTE_MAX bytes).
 */
int bench_pair_run(const struct bench_config *cfg, bench_side_fn parent_fn,
		   bench_side_fn child_fn, void *arg, char *note);

/*
 * Of the last bench_pair_run(): each side's CPU time over wall time, from its
 * first barrier (after setup) to the return of its function. < 0: unknown.
 */
struct bench_pair_times {
	double parent_share;
	double child_share;
};

void bench_pair_last(struct bench_pair_times *t);

/*
 * Two-party barrier: returns 0 when the other side has called it as often,
 * or -ECANCELED if the other side gave up (its function returned nonzero).
 * Release/acquire: what one side wrote before it is visible to the other after.
 */
int bench_side_sync(struct bench_side *s);
/*
 * 1 once the other side gave up (its function returned nonzero): for a side
 * that waits on something other than bench_side_sync(). Acquire.
 */
int bench_side_cancelled(struct bench_side *s);
/* Publish @v in @slot (0..BENCH_SIDE_VALUES-1) / read what was published. */
void bench_side_put(struct bench_side *s, unsigned int slot, uint64_t v);
uint64_t bench_side_get(struct bench_side *s, unsigned int slot);
/*
 * What a figure's child counted, for the parent: bench_side_report() is the
 * child's last step; the parent reads the values with bench_side_get() after
 * its matching bench_side_sync().
 */
enum {
	BENCH_SIDE_WAKEUPS = BENCH_SIDE_FIRST_FREE, /* eventfd writes */
	BENCH_SIDE_SLEEPS,			    /* sleeps in the kernel */
};
/* Publish @wakeups and @sleeps, then the barrier: 0 or -ECANCELED. */
int bench_side_report(struct bench_side *s, uint64_t wakeups, uint64_t sleeps);
/* Explain a failure; the first note of each side is kept. */
void bench_side_note(struct bench_side *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Idle figures. The parent runs bench_idle_parent(), the child
 * bench_idle_child(), after their setup:
 *
 *   parent                               child
 *   barrier                              barrier
 *   sleep cfg->idle_ns                   @wait_one(ctx): wait for one message
 *   @send_one(ctx): send one message       with the default blocking wait
 *   barrier                              report its CPU and wall time; barrier
 *
 * The parent's share is its CPU time over the sleep, the child's its CPU
 * time from its barrier to the message, each over wall time and measured
 * with getrusage(RUSAGE_SELF), so every thread a library started counts.
 * Both shares land in @res. Returns 0, -ECANCELED, or what a callback
 * returned.
 */
typedef int (*bench_idle_fn)(void *ctx);
int bench_idle_parent(struct bench_side *s, bench_idle_fn send_one, void *ctx,
		      struct bench_result *res);
int bench_idle_child(struct bench_side *s, bench_idle_fn wait_one, void *ctx);

/*
 * bench_run_isolated - run @inner(@f, @cfg, @res) in a forked process of its
 * own (pinned where the parent is) and bring @res and the pair times back.
 * For libraries that keep per-process state that fork() does not reset (a
 * runtime with threads, a singleton): the bench process itself never
 * initialises them, so every figure starts from a fresh process. If the
 * watchdog fires inside, the whole program stops with status 2, as it
 * would without isolation.
 */
int bench_run_isolated(bench_run_fn inner, const struct bench_figure *f,
		       const struct bench_config *cfg,
		       struct bench_result *res);

/* Share of all CPUs' time that was idle over the next @ms ms, or -1. */
double bench_cpu_idle(unsigned int ms);

/* The name printed by the watchdog if the current figure hangs. */
void bench_watchdog_name(const char *name);

/* Round trips per bulk chunk. */
#define BENCH_CHUNK 256
/* Calls per timed burst of a BENCH_COST figure. */
#define BENCH_COST_BURST 1024u

/* Latency samples. */
struct bench_samples {
	uint64_t *ns;
	uint64_t count;	 /* timed samples wanted */
	uint64_t warmup; /* round trips before them, not recorded */
	uint64_t chunks; /* chunks of BENCH_CHUNK round trips after them */
	uint64_t *chunk_ns;
};

/* Round trips a latency figure makes in all: what the child must answer. */
static inline uint64_t bench_round_trips(const struct bench_config *cfg)
{
	return cfg->warmup + cfg->iters + cfg->bulk / BENCH_CHUNK * BENCH_CHUNK;
}

int bench_samples_init(struct bench_samples *s, const struct bench_config *cfg);
void bench_samples_fini(struct bench_samples *s);

/* Record round trip @i (0-based, warm-up included) that took @ns. */
static inline void bench_samples_add(struct bench_samples *s, uint64_t i,
				     uint64_t ns)
{
	if (i >= s->warmup)
		s->ns[i - s->warmup] = ns;
}

/* One round trip, number @i (from 1): 0 or a negative errno. */
typedef int (*bench_round_trip_fn)(void *ctx, uint64_t i);

/*
 * bench_latency_loop - the parent's side of every latency figure: warm-up
 * and timed round trips, each between two clock reads, then the bulk
 * chunks, each timed as a whole. Always inlined, with @rt a static
 * function, so the compiler turns @rt into a direct call and usually
 * inlines it: baselines and shoal run the same loop around different
 * bodies. Returns 0 or the first error of @rt.
 */
static inline __attribute__((always_inline)) int
bench_latency_loop(struct bench_samples *s, bench_round_trip_fn rt, void *ctx)
{
	uint64_t i, j, t0, n = s->warmup + s->count;
	int rc;

	for (i = 0; i < n; i++) {
		t0 = bench_now_ns();
		rc = rt(ctx, i + 1);
		if (rc)
			return rc;
		bench_samples_add(s, i, bench_now_ns() - t0);
	}
	for (j = 0; j < s->chunks; j++) {
		t0 = bench_now_ns();
		for (i = 0; i < BENCH_CHUNK; i++) {
			rc = rt(ctx, ++n);
			if (rc)
				return rc;
		}
		s->chunk_ns[j] = bench_now_ns() - t0;
	}
	return 0;
}

/* Sort the samples and fill the latency fields of @res. */
void bench_samples_stats(struct bench_samples *s, struct bench_result *res);
/*
 * bench_cost_stats - the fields of a BENCH_COST @res from @n times of bursts
 * of BENCH_COST_BURST calls, in ns per call (as bench_samples_stats, each
 * divided by the burst). Sorts @burst_ns.
 */
void bench_cost_stats(uint64_t *burst_ns, uint64_t n, struct bench_result *res);

/*
 * Throughput trials. The producer (parent) and the consumer (child) run
 *
 *   producer                             consumer
 *   while ((n = bench_trial_start()) > 0)  while ((n = bench_trial_next()) > 0)
 *           send n messages                        take n messages
 *           bench_trial_finish()                   bench_trial_end()
 *
 * Trial 0 is the warm-up (cfg->warmup messages). Its rate sizes the timed
 * trials to about cfg->trial_ns each (at most cfg->iters messages), or, with
 * trial_ns 0, every timed trial sends exactly cfg->iters. A trial runs from
 * the producer's start, after the barrier, to the consumer's last message
 * (CLOCK_MONOTONIC is one clock for both processes).
 */
#define BENCH_TRIALS_MAX 32
/* Fewest messages in a timed trial, however slow the warm-up was. */
#define BENCH_TRIAL_MIN 1000

struct bench_tput {
	uint32_t trial; /* next trial; 0 is the warm-up */
	uint32_t count; /* timed trials recorded */
	uint64_t n;	/* messages in the current trial */
	uint64_t t0;
	uint64_t msgs_per_trial; /* of the timed trials */
	double msgs_per_s[BENCH_TRIALS_MAX];
};

/*
 * Producer side. Return the trial's message count, 0 when done, or -ECANCELED.
 */
int64_t bench_trial_start(struct bench_side *s, struct bench_tput *t);
int bench_trial_finish(struct bench_side *s, struct bench_tput *t);
/* Consumer side, the same. */
int64_t bench_trial_next(struct bench_side *s);
int bench_trial_end(struct bench_side *s);

/*
 * Every message carries its sequence number in its first 8 bytes (all of a
 * smaller one) and the receiver checks it: a lost, repeated or torn message
 * fails the figure instead of producing a number.
 */
static inline void bench_stamp(unsigned char *msg, uint64_t seq, uint32_t size)
{
	memcpy(msg, &seq, size < sizeof(seq) ? size : sizeof(seq));
}

static inline int bench_stamped(const unsigned char *msg, uint64_t seq,
				uint32_t size)
{
	uint64_t got = 0;

	memcpy(&got, msg, size < sizeof(got) ? size : sizeof(got));
	if (size < sizeof(seq))
		seq &= (1ULL << (8 * size)) - 1;
	return got == seq;
}

/*
 * Message @seq as received: @len bytes of @data must be @size long and
 * carry @seq (bench_stamp). 0, or -EIO with the side's note saying which.
 */
int bench_check_msg(struct bench_side *s, const void *data, size_t len,
		    uint32_t size, uint64_t seq);

/* Median, slowest and fastest timed trial into @res. */
void bench_tput_stats(struct bench_tput *t, uint32_t size,
		      struct bench_result *res);

/* Most rounds a run may have. */
#define BENCH_ROUNDS_MAX 32

/*
 * bench_result_merge - one result for @f from its @n rounds. Rounds whose
 * busy-polling sides were disturbed are left out when at least one was not.
 * Latency: median over rounds of p50, p99, p99.9, mean and bulk; max of
 * max. Throughput: median of the rounds' medians; slowest and fastest
 * trial. A failed (or skipped) round makes the result failed (skipped).
 */
void bench_result_merge(const struct bench_figure *f,
			const struct bench_result *rounds, uint32_t n,
			struct bench_result *out);

/*
 * A figure's group is its name up to '/': bench_group_len() is its length,
 * bench_same_group() whether two names share it.
 */
size_t bench_group_len(const char *name);
int bench_same_group(const char *a, const char *b);

/* The figure named @name in @figs[0..count), or -1. */
long bench_find(const struct bench_figure *const *figs, size_t count,
		const char *name);

/*
 * Figure @fi over figure @base on metric @m: the median over rounds of the
 * ratio within each round (undisturbed rounds when there are any), or NaN.
 */
double bench_cmp_ratio(const struct bench_report *r, size_t fi,
		       const char *base, enum bench_metric m);

/* Output. */
void bench_print_table(FILE *out, const struct bench_report *r);
/* The targets, met or missed (the last part of bench_print_table()). */
void bench_print_targets(FILE *out, const struct bench_report *r);
int bench_write_json(const char *path, const struct bench_report *r);

/*
 * bench_latency_run - how every latency figure's parent ends: sample
 * storage, the start barrier with the child, then bench_latency_loop().
 * Always inlined for the same reason as the loop.
 */
static inline __attribute__((always_inline)) int
bench_latency_run(struct bench_side *side, struct bench_samples *lat,
		  bench_round_trip_fn rt, void *ctx)
{
	int rc = bench_samples_init(lat, side->cfg);

	if (rc)
		return rc;
	if (bench_side_sync(side))
		return -ECANCELED;
	return bench_latency_loop(lat, rt, ctx);
}

#endif
