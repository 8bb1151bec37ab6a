/* SPDX-License-Identifier: MIT */
/*
 * The lists of figures shoal-bench runs: the bare baselines (baselines.c,
 * no shoal code) and the shoal measurements (shoal_figures.c: rings and
 * channels; pubsub_figures.c: publish/subscribe; public API only). main.c
 * merges them by group, so each shoal figure is printed under the
 * baselines it is compared with.
 *
 * Figure names are "group/implementation". Groups:
 *   rtt-poll-<size>        round trip, both sides busy-polling
 *   rtt-block-<size>       round trip, both sides asleep in the kernel
 *                          between messages
 *   tput-<size>[-b<batch>] one-way throughput, one message (or one batch)
 *                          at a time
 *   fanout-<n>             cost of one publish with n subscribers attached
 *                          (BENCH_COST), compared with fanout-1
 */
#ifndef SHOAL_BENCH_FIGURES_H
#define SHOAL_BENCH_FIGURES_H

#include "harness.h"

/* Each list ends with an entry whose name is NULL. */
extern const struct bench_figure bench_baselines[];
extern const struct bench_figure bench_shoal_figures[];
extern const struct bench_figure bench_pubsub_figures[];
/* Queue figures (queue_figures.c). */
extern const struct bench_figure bench_queue_figures[];
/* Request/response figures and targets (rpc_figures.c). */
extern const struct bench_figure bench_rpc_figures[];
extern const struct bench_target bench_rpc_targets[];
/*
 * Other systems, for the side-by-side comparison: iceoryx through its C
 * binding (peer_iceoryx.c) and ZeroMQ over ipc:// (peer_zmq.c). Built as
 * stubs that skip when the library was not found.
 */
extern const struct bench_figure bench_iceoryx_figures[];
extern const struct bench_figure bench_zmq_figures[];
/* The targets of the comparison (compare.c). */
extern const struct bench_target bench_compare_targets[];
/* The performance targets (DESIGN.md, then pub/sub); ends with a NULL text. */
extern const struct bench_target bench_shoal_targets[];
/* Issue 13's ratio targets (shoal_figures.c); `--targets` runs only these. */
extern const struct bench_target bench_issue13_targets[];

/* The version of the shoal library linked in. */
const char *bench_shoal_version(void);
/*
 * A shoal call of a figure's side failed: @what, the error and
 * shoal_last_error() into the side's note. Returns @rc if it is an errno
 * (< 0), else -EIO.
 */
int bench_shoal_failed(struct bench_side *s, const char *what, long rc);

/*
 * Slot size of the rings used for round trips: one slot fits the 1 KiB message.
 */
#define BENCH_RTT_SLOT 1024
/* Slots per ring for round trips (only one message is ever in flight). */
#define BENCH_RTT_CAPACITY 64

/*
 * Slots per ring for throughput with @size-byte messages: about 1 MiB of
 * payload (the ring stays in L2 on most cores), at least 16 and at most 1024
 * slots. Baseline and shoal rings of one size use the same geometry.
 */
static inline uint32_t bench_tput_capacity(uint32_t size)
{
	uint32_t cap = (1u << 20) / (size ? size : 1);

	if (cap > 1024)
		cap = 1024;
	if (cap < 16)
		cap = 16;
	/* Round down to a power of two. */
	while (cap & (cap - 1))
		cap &= cap - 1;
	return cap;
}

#endif
