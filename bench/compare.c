/* SPDX-License-Identifier: MIT */
/*
 * The side-by-side tables of shoal-bench --compare. See compare.h.
 */
#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The shoal figure of @i's group, or -1. */
static long shoal_of(const struct bench_report *r, size_t i)
{
	const unsigned want = BENCH_SHOAL | BENCH_COMPARE;
	size_t j;

	for (j = 0; j < r->count; j++)
		if ((r->figs[j]->flags & want) == want &&
		    bench_same_group(r->figs[j]->name, r->figs[i]->name))
			return (long)j;
	return -1;
}

double bench_shoal_speedup(const struct bench_report *r, size_t i,
			   enum bench_metric m)
{
	long j = shoal_of(r, i);
	int rate = m == BENCH_MSGS || m == BENCH_GBS;

	if (j < 0 || r->res[j].status || r->res[i].status)
		return NAN;
	if (rate != (r->figs[i]->kind == BENCH_THROUGHPUT) ||
	    r->figs[i]->kind == BENCH_IDLE)
		return NAN;
	if (rate)
		return bench_cmp_ratio(r, (size_t)j, r->figs[i]->name, m);
	return bench_cmp_ratio(r, i, r->figs[j]->name, m);
}

/* "8 B", "1 KiB", "64 KiB", "1 MiB" */
static const char *size_text(uint32_t size, char *buf, size_t len)
{
	if (size >= (1u << 20) && !(size % (1u << 20)))
		snprintf(buf, len, "%u MiB", size >> 20);
	else if (size >= 1024 && !(size % 1024))
		snprintf(buf, len, "%u KiB", size >> 10);
	else
		snprintf(buf, len, "%u B", size);
	return buf;
}

static void print_time(FILE *out, double ns)
{
	if (isnan(ns))
		fprintf(out, " %9s", "-");
	else if (ns >= 1e6)
		fprintf(out, " %7.2fms", ns / 1e6);
	else if (ns >= 1e4)
		fprintf(out, " %7.1fus", ns / 1e3);
	else
		fprintf(out, " %7.0fns", ns);
}

static void print_factor(FILE *out, double x)
{
	if (isnan(x))
		fprintf(out, " %8s", "-");
	else
		fprintf(out, " %7.2fx", x);
}

static void print_heading(FILE *out, const struct bench_figure *f)
{
	char sz[32];

	size_text(f->size, sz, sizeof(sz));
	fputc('\n', out);
	switch (f->kind) {
	case BENCH_LATENCY:
		fprintf(out, "%.*s: round trip of %s, %s\n",
			(int)bench_group_len(f->name), f->name, sz,
			f->flags & BENCH_BLOCKS ?
				"both sides asleep in the kernel between messages" :
				"both sides busy-polling");
		fprintf(out, "  %-22s %9s %9s %9s %9s %8s %8s\n", "system",
			"p50", "p99", "p99.9", "max", "shoal:p50", "p99");
		break;
	case BENCH_THROUGHPUT:
		fprintf(out, "%.*s: one way, %s messages%s\n",
			(int)bench_group_len(f->name), f->name, sz,
			f->batch > 1 ? ", in batches" : ", one at a time");
		fprintf(out, "  %-22s %9s %9s %8s\n", "system", "M msg/s",
			"GB/s", "shoal");
		break;
	case BENCH_IDLE:
		fprintf(out,
			"%.*s: CPU used while waiting for a message with the default blocking wait\n",
			(int)bench_group_len(f->name), f->name);
		fprintf(out, "  %-22s %9s %9s\n", "system", "waiter", "sender");
		break;
	case BENCH_COST:
		break;
	}
}

static void print_row(FILE *out, const struct bench_report *r, size_t i)
{
	const struct bench_figure *f = r->figs[i];
	const struct bench_result *res = &r->res[i];
	const char *sys = f->name + bench_group_len(f->name);

	sys += *sys == '/';
	if (f->flags & BENCH_SHOAL)
		fprintf(out, "  shoal %-16s", sys);
	else
		fprintf(out, "  %-22s", sys);
	if (res->status) {
		fprintf(out, " %s: %s\n",
			res->status > 0 ? "skipped" : "FAILED", res->note);
		return;
	}
	switch (f->kind) {
	case BENCH_LATENCY:
		print_time(out, res->p50_ns);
		print_time(out, res->p99_ns);
		print_time(out, res->p999_ns);
		print_time(out, res->max_ns);
		print_factor(out, bench_shoal_speedup(r, i, BENCH_P50));
		print_factor(out, bench_shoal_speedup(r, i, BENCH_P99));
		break;
	case BENCH_THROUGHPUT:
		fprintf(out, " %9.3f %9.3f", res->msgs_per_s / 1e6,
			res->gb_per_s);
		print_factor(out, bench_shoal_speedup(r, i, BENCH_MSGS));
		break;
	case BENCH_IDLE:
		fprintf(out, " %8.3f%% %8.3f%%", res->idle_child * 100,
			res->idle_parent * 100);
		break;
	case BENCH_COST:
		break;
	}
	if (res->disturbed_rounds)
		fprintf(out, "  (%u of %u rounds disturbed)",
			res->disturbed_rounds, res->rounds);
	fputc('\n', out);
}

/* Was @i's group printed already (by an earlier figure of the group)? */
static int group_seen(const struct bench_report *r, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if ((r->figs[j]->flags & BENCH_COMPARE) &&
		    bench_same_group(r->figs[j]->name, r->figs[i]->name))
			return 1;
	return 0;
}

void bench_print_compare(FILE *out, const struct bench_report *r)
{
	size_t i, j;
	long s;

	fprintf(out,
		"\nSIDE BY SIDE: every system measured by the same method in this run.\n"
		"\"shoal\" columns: how many times faster shoal is (the other's round trip\n"
		"over shoal's, shoal's rate over the other's), each the median over rounds\n"
		"of the ratio within a round; below 1: the other is faster.\n");
	/* Each group once, shoal's row first, then the others in order. */
	for (i = 0; i < r->count; i++) {
		if (!(r->figs[i]->flags & BENCH_COMPARE) || group_seen(r, i))
			continue;
		print_heading(out, r->figs[i]);
		s = shoal_of(r, i);
		if (s >= 0)
			print_row(out, r, (size_t)s);
		for (j = i; j < r->count; j++)
			if ((r->figs[j]->flags & BENCH_COMPARE) &&
			    (long)j != s &&
			    bench_same_group(r->figs[j]->name,
					     r->figs[i]->name))
				print_row(out, r, j);
	}
}

/*
 * The comparison's targets (issue 6). Ratios are shoal / other: at most
 * 1/8 of iceoryx's round trip is "at least 8x faster". The Aeron figures
 * are absolute: Aeron's C client is not packaged for Debian, so it cannot
 * run beside shoal; its numbers were measured on machines of this kind.
 */
const struct bench_target bench_compare_targets[] = {
	{ "polled pub/sub round trip 8 B at least 8x faster than iceoryx (p50)",
	  "rtt-poll-8/pubsub", "rtt-poll-8/iceoryx", BENCH_P50, 1, 1.0 / 8 },
	{ "polled pub/sub round trip 8 B within 1.1x of the bare cache-line ping-pong (p50)",
	  "rtt-poll-8/pubsub", "rtt-poll-8/bare-line", BENCH_P50, 1, 1.1 },
	{ "polled pub/sub round trip 8 B below Aeron ipc's 314 ns (p50)",
	  "rtt-poll-8/pubsub", NULL, BENCH_P50, 1, 314 },
	{ "polled pub/sub round trip 8 B below Aeron ipc's 1.56 us (p99)",
	  "rtt-poll-8/pubsub", NULL, BENCH_P99, 1, 1560 },
	{ "polled pub/sub round trip 1 KiB below Aeron ipc's 826 ns (p50)",
	  "rtt-poll-1k/pubsub", NULL, BENCH_P50, 1, 826 },
	{ "blocking pub/sub round trip 8 B within 1.2x of the bare eventfd ping-pong (p50)",
	  "rtt-block-8/pubsub", "rtt-block-8/eventfd", BENCH_P50, 1, 1.2 },
	{ "blocking pub/sub round trip 8 B at least 5x faster than iceoryx with a WaitSet (p50)",
	  "rtt-block-8/pubsub", "rtt-block-8/iceoryx-waitset", BENCH_P50, 1,
	  1.0 / 5 },
	{ "blocking pub/sub round trip 8 B at least 2x faster than a Unix socket (p50)",
	  "rtt-block-8/pubsub", "rtt-block-8/unix", BENCH_P50, 1, 0.5 },
	{ "64 B pub/sub batched at least 150 M msg/s", "tput-64-b64/pubsub",
	  NULL, BENCH_MSGS, 0, 150e6 },
	{ "64 B pub/sub batched at least 0.85x of the bare ring's (batched)",
	  "tput-64-b64/pubsub", "tput-64-b64/bare-ring", BENCH_MSGS, 0, 0.85 },
	{ "64 KiB pub/sub at least 0.9x of the bare ring's", "tput-64k/pubsub",
	  "tput-64k/bare-ring", BENCH_MSGS, 0, 0.9 },
	{ "64 B pub/sub at least 100x iceoryx's small-message throughput (both one at a time)",
	  "tput-64/pubsub", "tput-64/iceoryx", BENCH_MSGS, 0, 100 },
	{ "64 B pub/sub batched at least 100x iceoryx's one at a time (iceoryx has no batch call)",
	  "tput-64-b64/pubsub", "tput-64/iceoryx", BENCH_MSGS, 0, 100 },
	{ "64 B pub/sub above Aeron ipc's 24 M msg/s", "tput-64/pubsub", NULL,
	  BENCH_MSGS, 0, 24e6 },
	{ "64 KiB pub/sub above Aeron ipc's 4.4 GB/s", "tput-64k/pubsub", NULL,
	  BENCH_GBS, 0, 4.4 },
	{ "an idle subscriber (default wait) uses under 1% of a core",
	  "idle/pubsub", NULL, BENCH_IDLE_CPU, 1, 0.01 },
	{ NULL, NULL, NULL, 0, 0, 0 },
};
