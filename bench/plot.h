/* SPDX-License-Identifier: MIT */
/*
 * A picture of the comparison: p50 round trip against message size, one line
 * per system, as a self-contained SVG file any browser shows. Written with
 * plain stdio, so shoal-bench stays free of plotting dependencies.
 */
#ifndef SHOAL_BENCH_PLOT_H
#define SHOAL_BENCH_PLOT_H

#include "harness.h"

/*
 * bench_write_svg - draw the p50 round trip of every measured latency figure
 * of a group "rtt-poll-<size>" or "rtt-block-<size>" against its message
 * size: polled figures in the left panel, blocking ones in the right, one
 * line per system (the part of the name after '/'). The file appears at
 * @path whole or not at all (written beside it, then renamed). Figures that
 * failed or were skipped leave a gap in their line. Returns 0 or -errno.
 */
int bench_write_svg(const char *path, const struct bench_report *r);

#endif
