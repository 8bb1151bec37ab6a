/* SPDX-License-Identifier: MIT */
/*
 * The side-by-side comparison (shoal-bench --compare): in every group of
 * figures (a message size and a method), the one figure flagged both
 * BENCH_SHOAL and BENCH_COMPARE is shoal, and every other system of the
 * group is given as how many times faster shoal is than it.
 */
#ifndef SHOAL_BENCH_COMPARE_H
#define SHOAL_BENCH_COMPARE_H

#include "harness.h"

/*
 * How many times faster shoal is than figure @i on metric @m: the other's
 * time over shoal's for round-trip metrics (P50, P99, P999, MAX, BULK),
 * shoal's rate over the other's for MSGS and GBS. A median over rounds of
 * the ratio within each round, as bench_cmp_ratio(). NaN when the group has
 * no measured shoal figure, or the metric does not fit the figure's kind.
 */
double bench_shoal_speedup(const struct bench_report *r, size_t i,
			   enum bench_metric m);

/* One table per group of BENCH_COMPARE figures. */
void bench_print_compare(FILE *out, const struct bench_report *r);

#endif
