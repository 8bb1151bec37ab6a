/* SPDX-License-Identifier: MIT */
/*
 * shoal-bench: shoal and its baselines, measured in one run on one machine,
 * printed as one table of ratios (shoal / baseline) and optionally as JSON.
 *
 *   shoal-bench [--compare | --targets] [--quick] [--only NAME]
 *               [--iters N] [--rounds N] [--json FILE] [--list]
 *
 * The parent process pins itself to the first CPU it may use and each forked
 * child to the second. Figures run in rounds: every selected figure once,
 * then again, and so on, and each result is the median over the rounds. On a
 * virtual machine the host moves virtual CPUs between physical cores every
 * few seconds, and a cache line crossing dies costs several times one
 * crossing cores on a die; interleaving lets a figure and its baseline see
 * the same mix of placements, so their ratio holds even when the absolute
 * numbers move. Exit status: 0 when every selected figure was measured
 * or skipped, 1 when one failed (lost or corrupted a message, or an API call
 * returned an error), 2 on a usage error or a hang (the watchdog). A missed
 * performance target never changes the exit status.
 */
#include "compare.h"
#include "figures.h"
#include "plot.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Run lengths, per round. Full: about a minute and a half in all; quick:
 * well under 20 s.
 */
#define FULL_ROUNDS 5u
#define FULL_POLL_ITERS 200000u
#define FULL_BLOCK_ITERS 8000u
#define FULL_TRIALS 2u
#define QUICK_ROUNDS 3u
#define QUICK_POLL_ITERS 20000u
#define QUICK_BLOCK_ITERS 2000u
#define QUICK_TRIALS 1u
/*
 * Throughput: trials sized by the warm-up's rate to last about this long,
 * with at most this much payload and this many messages.
 */
#define FULL_TRIAL_NS 100000000ULL
#define QUICK_TRIAL_NS 20000000ULL
#define FULL_TPUT_BYTES (1ULL << 30)
#define FULL_TPUT_MSGS (16ULL << 20)
#define QUICK_DIVISOR 32u
/*
 * Cost figures (fan-out): calls timed per round, in bursts of
 * BENCH_COST_BURST. Quick: 8 bursts, a smoke test.
 */
#define FULL_COST_ITERS (256u * BENCH_COST_BURST)
#define QUICK_COST_ITERS (8u * BENCH_COST_BURST)
/*
 * Large round trips: at most this many payload bytes per figure and round
 * (both ways), so a 1 MiB round trip runs about 2000 times, not 200000,
 * but never fewer than LAT_MIN_ITERS times.
 */
#define FULL_LAT_BYTES (4ULL << 30)
#define QUICK_LAT_BYTES (256ULL << 20)
#define LAT_MIN_ITERS 200u
/* Idle figures: how long the waiter waits. */
#define FULL_IDLE_NS 1000000000ULL
#define QUICK_IDLE_NS 100000000ULL
/* --compare --quick: one round, the harness must not rot, no more. */
#define COMPARE_QUICK_ROUNDS 1u

struct options {
	int quick;
	int list;
	int compare;
	int targets; /* --targets: issue 13's figures and targets only */
	const char *only;
	const char *json;
	const char *plot;
	uint64_t iters;	 /* 0: the mode's defaults */
	uint32_t rounds; /* 0: the mode's default */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shoal-bench [--compare | --targets] [--quick] [--only NAME]\n"
		"                   [--iters N] [--rounds N] [--json FILE]\n"
		"                   [--plot FILE.svg] [--list]\n"
		"  --compare     shoal side by side with the other IPC systems (iceoryx,\n"
		"                ZeroMQ, Unix sockets, pipes, POSIX mq, bare shared memory\n"
		"                and eventfd): one table per figure, ratios to shoal\n"
		"  --quick       three short rounds (CI smoke run, well under 20 s);\n"
		"                with --compare one round\n"
		"  --targets     only the figures of issue 13's ratio targets and\n"
		"                their baselines, then those targets (MET/MISSED);\n"
		"                --only is ignored\n"
		"  --only NAME   run figures whose name contains NAME, plus the\n"
		"                baselines the selected shoal figures are compared to\n"
		"  --iters N     per round: N round trips per latency figure,\n"
		"                N messages per throughput trial\n"
		"  --rounds N    run every figure N times, interleaved (default 5,\n"
		"                --quick 3); results are medians over the rounds\n"
		"  --json FILE   also write the results to FILE as JSON\n"
		"  --plot FILE   draw round-trip latency against message size for\n"
		"                every system measured, as an SVG picture\n"
		"  --list        print the figure names and exit\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "compare", no_argument, NULL, 'c' },
		{ "targets", no_argument, NULL, 't' },
		{ "plot", required_argument, NULL, 'p' },
		{ "only", required_argument, NULL, 'o' },
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "qcto:n:r:j:p:lh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quick = 1;
			break;
		case 'o':
			o->only = optarg;
			break;
		case 'n':
			errno = 0;
			o->iters = strtoull(optarg, &end, 10);
			if (errno || *end || !o->iters || optarg[0] == '-') {
				fprintf(stderr,
					"shoal-bench: --iters wants a positive integer\n");
				return -1;
			}
			break;
		case 'r':
			errno = 0;
			o->rounds = (uint32_t)strtoul(optarg, &end, 10);
			if (errno || *end || !o->rounds ||
			    o->rounds > BENCH_ROUNDS_MAX || optarg[0] == '-') {
				fprintf(stderr,
					"shoal-bench: --rounds wants 1..%d\n",
					BENCH_ROUNDS_MAX);
				return -1;
			}
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'c':
			o->compare = 1;
			break;
		case 't':
			o->targets = 1;
			break;
		case 'p':
			o->plot = optarg;
			break;
		case 'l':
			o->list = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->compare && o->targets) {
		fprintf(stderr,
			"shoal-bench: --targets and --compare are separate runs\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "shoal-bench: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int in_group(const struct bench_figure *f, const char *g, size_t len)
{
	return bench_group_len(f->name) == len && !strncmp(f->name, g, len);
}

/*
 * The figure lists and the target lists, in order. A new list is one line
 * in each array (and its declaration in figures.h).
 */
static const struct bench_figure *const figure_lists[] = {
	bench_baselines,     bench_shoal_figures, bench_pubsub_figures,
	bench_queue_figures, bench_rpc_figures,	  bench_iceoryx_figures,
	bench_zmq_figures,
};
#define NLISTS (sizeof(figure_lists) / sizeof(figure_lists[0]))
static const struct bench_target *const target_lists[] = {
	bench_shoal_targets,
	bench_rpc_targets,
	bench_issue13_targets,
};
#define NTARGET_LISTS (sizeof(target_lists) / sizeof(target_lists[0]))

/* Every target of every list, in one array ending with a NULL text. */
static struct bench_target *all_targets(void)
{
	const struct bench_target *t;
	struct bench_target *out;
	size_t n = 0, k;

	for (k = 0; k < NTARGET_LISTS; k++)
		for (t = target_lists[k]; t->text; t++)
			n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	n = 0;
	for (k = 0; k < NTARGET_LISTS; k++)
		for (t = target_lists[k]; t->text; t++)
			out[n++] = *t;
	return out;
}

static const struct bench_target *targets;

/*
 * Every figure, grouped: for each group in order of first appearance, its
 * baselines, then its shoal figures. The result has room for both lists.
 */
static size_t collect(const struct bench_figure **out)
{
	const struct bench_figure *f, *g;
	size_t n = 0, i, len, l, m;
	int seen;

	for (l = 0; l < NLISTS; l++) {
		for (g = figure_lists[l]; g->name; g++) {
			len = bench_group_len(g->name);
			seen = 0;
			for (i = 0; i < n && !seen; i++)
				seen = in_group(out[i], g->name, len);
			if (seen)
				continue;
			for (m = 0; m < NLISTS; m++)
				for (f = figure_lists[m]; f->name; f++)
					if (in_group(f, g->name, len))
						out[n++] = f;
		}
	}
	return n;
}

static size_t count_figures(void)
{
	const struct bench_figure *f;
	size_t n = 0, l;

	for (l = 0; l < NLISTS; l++)
		for (f = figure_lists[l]; f->name; f++)
			n++;
	return n;
}

/* Mark @name (and nothing else) as wanted. */
static void want(const struct bench_figure *const *all, size_t n, char *wanted,
		 const char *name)
{
	long i = bench_find(all, n, name);

	if (i >= 0)
		wanted[i] = 1;
}

/*
 * --only: the figures whose names contain the pattern, the baselines the
 * selected shoal figures are compared with, and those of their targets.
 */
static void select_figures(const struct bench_figure *const *all, size_t n,
			   const struct options *o, char *wanted)
{
	const char *only = o->only;
	const struct bench_target *t;
	size_t i;
	int k;

	if (o->targets) {
		memset(wanted, 0, n);
		for (t = bench_issue13_targets; t->text; t++) {
			want(all, n, wanted, t->figure);
			if (t->baseline)
				want(all, n, wanted, t->baseline);
		}
		return;
	}
	for (i = 0; i < n; i++)
		wanted[i] = (!only || strstr(all[i]->name, only) != NULL) &&
			    (o->compare ?
				     (all[i]->flags & BENCH_COMPARE) :
				     !(all[i]->flags & BENCH_COMPARE_ONLY));
	/* The comparison brings its own systems, not the baselines' baselines. */
	if (o->compare)
		return;
	for (i = 0; i < n; i++) {
		if (!wanted[i] || !(all[i]->flags & BENCH_SHOAL))
			continue;
		for (k = 0; k < 3 && all[i]->vs[k]; k++)
			want(all, n, wanted, all[i]->vs[k]);
		for (t = targets; t->text; t++)
			if (t->baseline && !strcmp(t->figure, all[i]->name))
				want(all, n, wanted, t->baseline);
	}
}

static uint64_t tput_default_msgs(uint32_t size, int quick)
{
	uint64_t msgs = FULL_TPUT_BYTES / (size ? size : 1);

	if (msgs > FULL_TPUT_MSGS)
		msgs = FULL_TPUT_MSGS;
	if (quick)
		msgs /= QUICK_DIVISOR;
	return msgs ? msgs : 1;
}

/* The run length for @f. */
static void figure_config(const struct options *o, const struct bench_figure *f,
			  const struct bench_cpus *cpus, struct bench_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpus = cpus;
	c->trials = o->quick ? QUICK_TRIALS : FULL_TRIALS;
	c->timeout_s = o->iters ? 3600 : o->quick ? 60 : 300;
	if (o->iters)
		c->iters = o->iters;
	else if (f->kind == BENCH_THROUGHPUT)
		c->iters = tput_default_msgs(f->size, o->quick);
	else if (f->kind == BENCH_COST)
		c->iters = o->quick ? QUICK_COST_ITERS : FULL_COST_ITERS;
	else if (f->flags & (BENCH_BLOCKS | BENCH_SLOW))
		c->iters = o->quick ? QUICK_BLOCK_ITERS : FULL_BLOCK_ITERS;
	else
		c->iters = o->quick ? QUICK_POLL_ITERS : FULL_POLL_ITERS;
	if (f->kind == BENCH_LATENCY && !o->iters && f->size) {
		uint64_t most = (o->quick ? QUICK_LAT_BYTES : FULL_LAT_BYTES) /
				(2u * f->size);

		if (most < LAT_MIN_ITERS)
			most = LAT_MIN_ITERS;
		if (c->iters > most)
			c->iters = most;
	}
	c->idle_ns = o->quick ? QUICK_IDLE_NS : FULL_IDLE_NS;
	/* Throughput trials last about trial_ns, unless --iters fixed them. */
	if (f->kind == BENCH_THROUGHPUT && !o->iters)
		c->trial_ns = o->quick ? QUICK_TRIAL_NS : FULL_TRIAL_NS;
	/* Warm-up: a tenth as many, enough to fault in and train everything. */
	c->warmup = c->iters / 10 ? c->iters / 10 : 1;
	/*
	 * A polled round trip lasts about as long as two clock reads, so as
	 * many again are timed in chunks, without that cost. A blocking round
	 * trip dwarfs the clock.
	 */
	if (f->kind == BENCH_LATENCY &&
	    !(f->flags & (BENCH_BLOCKS | BENCH_SLOW)))
		c->bulk = c->iters;
}

/* The first "model name" of /proc/cpuinfo, in @buf. */
static const char *cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256], *colon;

	snprintf(buf, len, "unknown");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10))
			continue;
		colon = strchr(line, ':');
		if (!colon)
			break;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
	return buf;
}

static void print_header(const struct bench_report *r, long online)
{
	const struct bench_cpus *c = r->cpus;

	printf("shoal-bench: shoal %s, %s, mode %s\n", r->shoal_version,
	       r->date, r->mode);
	printf("machine: %s, %ld CPUs online, %d in our affinity mask\n",
	       r->cpu_model, online, c->available);
	if (c->pinned)
		printf("pinning: parent (sender / pinger) on CPU %d, child (receiver / ponger) on CPU %d\n",
		       c->parent_cpu, c->child_cpu);
	else
		printf("pinning: only one CPU available: running unpinned, busy-polling figures skipped\n");
	printf("load: CPUs %.0f%% idle over the half second before the run%s\n",
	       r->idle_before * 100,
	       r->idle_before >= 0 && r->idle_before < 0.9 ?
		       " (other work is running: expect noise)" :
		       "");
	printf("clock: CLOCK_MONOTONIC costs %.1f ns per read; each latency sample includes one\n",
	       r->clock_ns);
	printf("run: %u rounds, every figure once per round; per round: latency %llu polled\n"
	       "     round trips (and as many in timed chunks) or %llu blocking ones after a\n"
	       "     10%% warm-up; throughput %u trials",
	       r->nrounds, (unsigned long long)r->cfg_poll->iters,
	       (unsigned long long)r->cfg_block->iters, r->cfg_tput->trials);
	if (r->cfg_tput->trial_ns)
		printf(" of about %.2f s", (double)r->cfg_tput->trial_ns / 1e9);
	else
		printf(" of %llu messages",
		       (unsigned long long)r->cfg_tput->iters);
	printf(" after a warm-up.\n");
	if (r->cfg_cost)
		printf("     Cost figures: %llu calls in bursts of %u after a %llu-call warm-up.\n",
		       (unsigned long long)r->cfg_cost->iters, BENCH_COST_BURST,
		       (unsigned long long)r->cfg_cost->warmup);
	printf("     Results: medians over the rounds.\n");
	fflush(stdout);
}

static void utc_now(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One round of figure @f into @r. Returns 1 if it was disturbed. */
static int run_one(const struct options *o, const struct bench_figure *f,
		   const struct bench_cpus *cpus, struct bench_result *r)
{
	struct bench_pair_times times;
	struct bench_config cfg;
	uint64_t start = bench_now_ns();
	int rc;

	memset(r, 0, sizeof(*r));
	r->wakeups_per_msg = -1;
	r->sleeps_per_msg = -1;
	r->blocked_per_msg = -1;
	r->ref_p50_ns = -1;
	r->ref_ratio = -1;
	r->cpu_share = -1;
	r->bulk_ns = -1;
	figure_config(o, f, cpus, &cfg);
	r->iters = cfg.iters;
	if ((f->flags & BENCH_SPINS) && !cpus->pinned) {
		r->status = 1;
		snprintf(r->note, sizeof(r->note),
			 "busy-polls: needs two CPUs");
		return 0;
	}
	bench_watchdog_name(f->name);
	rc = f->run(f, &cfg, r);
	r->status = rc;
	if (rc > 0 && !r->note[0])
		snprintf(r->note, sizeof(r->note), "not available here");
	if (rc < 0 && !r->note[0])
		snprintf(r->note, sizeof(r->note), "%s", strerror(-rc));
	r->seconds = (double)(bench_now_ns() - start) / 1e9;
	if (rc || !(f->flags & BENCH_SPINS))
		return 0;
	bench_pair_last(&times);
	r->cpu_share = times.parent_share < times.child_share ?
			       times.parent_share :
			       times.child_share;
	return r->cpu_share >= 0 && r->cpu_share < BENCH_CPU_SHARE_OK;
}

int main(int argc, char **argv)
{
	static const struct bench_figure probe_poll = { .kind = BENCH_LATENCY,
							.flags = BENCH_SPINS };
	static const struct bench_figure probe_block = {
		.kind = BENCH_LATENCY, .flags = BENCH_BLOCKS
	};
	static const struct bench_figure probe_tput = {
		.kind = BENCH_THROUGHPUT, .size = 8
	};
	static const struct bench_figure probe_cost = { .kind = BENCH_COST };
	static const struct bench_figure probe_idle = { .kind = BENCH_IDLE };
	struct bench_config cfg_poll, cfg_block, cfg_tput, cfg_cost, cfg_idle;
	const struct bench_figure **all, **figs;
	struct bench_result *res, *rounds;
	struct bench_report rep;
	struct bench_cpus cpus;
	char model[128], date[32], *wanted;
	size_t n, i, count = 0, selected = 0, skipped = 0;
	uint32_t nrounds, round;
	int rc, failures = 0, disturbed = 0;
	uint64_t t0;
	struct options o;

	if (parse_options(argc, argv, &o))
		return 2;
	n = count_figures();
	targets = all_targets();
	nrounds = o.rounds	       ? o.rounds :
		  o.quick && o.compare ? COMPARE_QUICK_ROUNDS :
		  o.quick	       ? QUICK_ROUNDS :
					 FULL_ROUNDS;
	all = calloc(n, sizeof(*all));
	figs = calloc(n, sizeof(*figs));
	res = calloc(n, sizeof(*res));
	rounds = calloc(n * nrounds, sizeof(*rounds));
	wanted = calloc(n, 1);
	if (!all || !figs || !res || !rounds || !wanted || !targets) {
		fprintf(stderr, "shoal-bench: out of memory\n");
		return 2;
	}
	n = collect(all);
	if (o.list) {
		for (i = 0; i < n; i++)
			printf("%-28s %s\n", all[i]->name, all[i]->title);
		return 0;
	}
	select_figures(all, n, &o, wanted);
	for (i = 0; i < n; i++)
		if (wanted[i])
			figs[count++] = all[i];
	if (!count) {
		fprintf(stderr,
			"shoal-bench: no figure matches '%s' (see --list)\n",
			o.only);
		return 2;
	}

	rc = bench_cpus_setup(&cpus);
	if (rc)
		fprintf(stderr, "shoal-bench: pinning: %s; running unpinned\n",
			strerror(-rc));
	figure_config(&o, &probe_poll, &cpus, &cfg_poll);
	figure_config(&o, &probe_block, &cpus, &cfg_block);
	figure_config(&o, &probe_tput, &cpus, &cfg_tput);
	figure_config(&o, &probe_cost, &cpus, &cfg_cost);
	figure_config(&o, &probe_idle, &cpus, &cfg_idle);
	/*
	 * Throughput defaults depend on the message size: tput_default_msgs().
	 */
	if (!o.iters)
		cfg_tput.iters = 0;

	utc_now(date, sizeof(date));
	memset(&rep, 0, sizeof(rep));
	rep.figs = figs;
	rep.res = res;
	rep.count = count;
	rep.rounds = rounds;
	rep.nrounds = nrounds;
	/* The comparison has targets of its own; the others would be n/a. */
	rep.targets = o.compare ? bench_compare_targets :
		      o.targets ? bench_issue13_targets :
				  targets;
	rep.cpus = &cpus;
	rep.mode = o.iters || o.rounds ? "custom" :
		   o.compare ? (o.quick ? "compare-quick" : "compare") :
		   o.targets ? (o.quick ? "targets-quick" : "targets") :
		   o.quick   ? "quick" :
			       "full";
	rep.shoal_version = bench_shoal_version();
	rep.cpu_model = cpu_model(model, sizeof(model));
	rep.date = date;
	rep.clock_ns = bench_clock_cost_ns();
	rep.idle_before = bench_cpu_idle(500);
	rep.cfg_poll = &cfg_poll;
	rep.cfg_block = &cfg_block;
	rep.cfg_tput = &cfg_tput;
	for (i = 0; i < count; i++) {
		if (figs[i]->kind == BENCH_COST)
			rep.cfg_cost = &cfg_cost;
		if (figs[i]->kind == BENCH_IDLE)
			rep.cfg_idle = &cfg_idle;
	}
	print_header(&rep, sysconf(_SC_NPROCESSORS_ONLN));

	t0 = bench_now_ns();
	for (round = 0; round < nrounds; round++) {
		for (i = 0; i < count; i++) {
			struct bench_result *r = &rounds[i * nrounds + round];

			fprintf(stderr, "[round %u/%u, %2zu/%zu] %-28s ",
				round + 1, nrounds, i + 1, count,
				figs[i]->name);
			run_one(&o, figs[i], &cpus, r);
			fprintf(stderr, "%6.2f s%s%s\n", r->seconds,
				r->status ? (r->status > 0 ? "  skipped: " :
							     "  FAILED: ") :
					    "",
				r->status ? r->note : "");
		}
	}
	rep.seconds = (double)(bench_now_ns() - t0) / 1e9;
	for (i = 0; i < count; i++) {
		bench_result_merge(figs[i], &rounds[i * nrounds], nrounds,
				   &res[i]);
		failures += res[i].status < 0;
		skipped += res[i].status > 0;
		selected += res[i].status == 0;
		disturbed += res[i].status == 0 &&
			     res[i].disturbed_rounds == res[i].rounds;
	}

	if (o.compare) {
		bench_print_compare(stdout, &rep);
		bench_print_targets(stdout, &rep);
	} else {
		bench_print_table(stdout, &rep);
	}
	printf("\n%zu figures measured, %d failed, %zu skipped, %u rounds, in %.1f s\n",
	       selected, failures, skipped, nrounds, rep.seconds);
	if (disturbed)
		printf("%d busy-polling figures had another process on their CPUs in every round:"
		       " rerun on a quiet machine\n",
		       disturbed);
	if (o.json) {
		rc = bench_write_json(o.json, &rep);
		if (rc) {
			fprintf(stderr, "shoal-bench: writing %s: %s\n", o.json,
				strerror(-rc));
			failures++;
		}
	}
	if (o.plot) {
		rc = bench_write_svg(o.plot, &rep);
		if (rc) {
			fprintf(stderr, "shoal-bench: writing %s: %s\n", o.plot,
				strerror(-rc));
			failures++;
		}
	}
	free(wanted);
	free(rounds);
	free(res);
	free(figs);
	free(all);
	return failures ? 1 : 0;
}
