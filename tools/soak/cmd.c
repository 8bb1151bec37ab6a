/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: publishers, subscribers, queue producers and consumers, rpc
 * servers and clients, each a process of its own, run for a given time
 * while random ones are SIGKILLed and restarted; every delivery is checked
 * as it happens and the totals at the end. docs/soak.md says what is
 * checked and why each check holds.
 *
 * The coordinator (this command) owns three things that outlive every
 * kill: a private registry directory ($SHOAL_DIR), the queue (it is the
 * queue's creator, so killing producers and consumers never withdraws it)
 * and the board, a shared memfd every role process maps. Role processes
 * are this program again, run as the hidden "__soak-role" with the board's
 * fd, their role and their instance index. The board holds, per instance,
 * counters that survive its kills (messages, violations, the queue
 * producer's next sequence number, the consumer's phase), a heartbeat the
 * coordinator watches to detect hangs, and per queue producer two bytes per
 * item: the producer's state (attempted, confirmed) and how many times
 * consumers took it.
 *
 * Roles and what each checks as it goes:
 *   pub   reliable publisher "PREFIX/pub<i>": numbered messages; writes
 *         (epoch, messages confirmed) of each incarnation to the board
 *   lpub  lossy publisher "PREFIX/lpub<i>": the same, never waits
 *   sub   subscribes to every pub and lpub (SHOAL_SUB_REATTACH, polling
 *         their fds): within one epoch a reliable stream goes up by one;
 *         at -EPIPE it got every message its dead publisher confirmed; a
 *         lossy stream's gaps equal the -EOVERFLOW lost counts; no message
 *         is torn (copy: never; zero copy: unless release says -ESTALE)
 *   prod  queue producer: items (producer, seq), push or loan/send
 *   cons  queue consumer: take, record the item in the board (a second
 *         take of an item is a violation at once), check each producer's
 *         order, release
 *   srv   rpc server "PREFIX/srv<i>": answers each request with 1 to 3
 *         responses (SHOAL_RPC_MORE on all but the last)
 *   cli   rpc client of srv<i mod servers>: up to 4 requests in flight;
 *         every response must answer one of them, in order, with the
 *         right content; a dead server must end in -EPIPE, never a hang
 * Instance 0 of sub, cons and cli is never killed: those and the
 * coordinator sample their fd count and VmRSS after warm-up and at the end.
 *
 * This file holds the command: its options, the board's and the queue's
 * creation, the main loop (kills, samples) and the end (stop producers,
 * flush lap, stop everyone, check, report). The other files of
 * tools/soak/: board.h (the board's layout) and board.c (its names, and
 * the fd/RSS sample of a process); soak.h (what the files share); role.c
 * (a role process and the calls its loop makes); pubsub.c, queue.c, rpc.c
 * (the roles, and the queue's end-of-run accounting); supervisor.c
 * (starting, reaping, killing and sampling the roles); report.c (the
 * end-of-run fd/RSS check and the summary).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "soak.h"

static const char soak_help[] =
	"Runs publishers, subscribers, queue producers and consumers, rpc\n"
	"servers and clients, each its own process, and SIGKILLs and restarts\n"
	"random ones while every delivery is checked (docs/soak.md). Exit\n"
	"status 0 only if no check failed.\n"
	"\n"
	"options:\n"
	"  --duration S        seconds to run (default 30)\n"
	"  --kill-every MS     mean time between kills (default 200; 0: none)\n"
	"  --seed N            random seed (default: from the clock)\n"
	"  --publishers N      reliable publishers (default 2)\n"
	"  --lossy N           lossy publishers (default 1)\n"
	"  --subscribers N     subscribers, each of every publisher (default 2)\n"
	"  --producers N       queue producers (default 2)\n"
	"  --consumers N       queue consumers (default 2)\n"
	"  --servers N         rpc servers (default 1)\n"
	"  --clients N         rpc clients (default 2)\n"
	"  --rate N            messages/s per sending process (default 20000;\n"
	"                      0: as fast as possible)\n"
	"  --hang S            no progress for S seconds is a hang (default 60)\n"
	"  --dir DIR           registry directory, must be empty (default: a\n"
	"                      new one under /dev/shm, removed at the end)\n"
	"  --json              the summary as JSON\n"
	"  --verbose, -v       progress lines on stderr\n"
	"Counts are 1..8 (publishers, lossy: 0..8); instance 0 of subscribers,\n"
	"consumers and clients is never killed and is checked for fd and RSS\n"
	"growth.\n";

static int run_soak(const struct cli_cmd *cmd, int argc, char **argv)
{
	uint64_t duration = 30, kill_every = 200, seed = 0, rate = 20000;
	uint64_t hang = 60;
	uint64_t cnt[ROLE_N] = { 2, 1, 2, 2, 2, 1, 2 };
	const char *dir = NULL;
	int json = 0, verbose = 0, rc;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--duration", &duration, 1000000),
		CLI_OPT_U64("--kill-every", &kill_every, 100000000),
		CLI_OPT_U64("--seed", &seed, 0),
		CLI_OPT_U64("--publishers", &cnt[ROLE_PUB], INST_MAX),
		CLI_OPT_U64("--lossy", &cnt[ROLE_LPUB], INST_MAX),
		CLI_OPT_U64("--subscribers", &cnt[ROLE_SUB], INST_MAX),
		CLI_OPT_U64("--producers", &cnt[ROLE_PROD], INST_MAX),
		CLI_OPT_U64("--consumers", &cnt[ROLE_CONS], INST_MAX),
		CLI_OPT_U64("--servers", &cnt[ROLE_SRV], INST_MAX),
		CLI_OPT_U64("--clients", &cnt[ROLE_CLI], INST_MAX),
		CLI_OPT_U64("--rate", &rate, 100000000),
		CLI_OPT_U64("--hang", &hang, 3600),
		CLI_OPT_STRING("--dir", &dir),
		CLI_OPT_FLAG("--json", NULL, &json),
		CLI_OPT_FLAG("--verbose", "-v", &verbose),
		CLI_OPT_END,
	};
	static struct soak s;
	char tmpdir[] = "/dev/shm/shoal-soak-XXXXXX";
	struct shoal_queue_options qo;
	struct q_totals qt;
	int64_t t_start, t_end, warm_at, next_kill, now, fds[2], rss[2];
	int64_t next_note;
	uint64_t q_items, total_viol = 0;
	int own_dir = 0, left, sampled0;
	char qname[128];
	size_t bsize;

	rc = cli_parse(cmd, opts, argc, argv, NULL, 0);
	if (rc != CLI_CONTINUE)
		return rc;
	for (int r = 0; r < ROLE_N; r++)
		if ((!cnt[r] && r != ROLE_PUB && r != ROLE_LPUB))
			return cli_usage_error(cmd, "%s must be 1..%d",
					       opts[3 + r].name, INST_MAX);
	if (!cli_given(opts, "--seed"))
		seed = (uint64_t)cli_realtime_ns();
	if (!hang)
		return cli_usage_error(cmd, "--hang must be at least 1");
	memset(&s, 0, sizeof(s));
	memset(&qt, 0, sizeof(qt));
	s.cmd = cmd;
	s.rng = seed;
	s.hang_ns = (int64_t)hang * SEC;
	s.verbose = verbose;
	s.seed = seed;
	s.duration = duration;
	s.kill_every = kill_every;
	s.rate = rate;

	if (!dir) {
		if (!mkdtemp(tmpdir))
			return cli_fail_sys(cmd, -errno, "mkdtemp %s", tmpdir);
		dir = tmpdir;
		own_dir = 1;
	} else if (soak_registry_left(dir, NULL) != 0) {
		return cli_usage_error(cmd, "--dir %s: not an empty directory",
				       dir);
	}
	setenv("SHOAL_DIR", dir, 1);

	/* Producers' board room: the run at the rate limit and a quarter, or
	 * 2^24 items when unlimited (they idle when it is used up). */
	q_items = rate ? rate * duration / 4 * 5 + 100000 : (1ull << 24);
	if (q_items > (1ull << 26))
		q_items = 1ull << 26;
	bsize = board_size(q_items);
	s.board_fd = memfd_create(BOARD_NAME, 0);
	if (s.board_fd < 0 || ftruncate(s.board_fd, (off_t)bsize) < 0) {
		rc = cli_fail_sys(cmd, -errno, "board memfd");
		goto out_dir;
	}
	s.b = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_SHARED, s.board_fd,
		   0);
	if (s.b == MAP_FAILED) {
		rc = cli_fail_sys(cmd, -errno, "mmap board");
		goto out_dir;
	}
	s.b->seed = seed;
	s.b->q_items = q_items;
	s.b->rate = rate;
	snprintf(s.b->prefix, sizeof(s.b->prefix), "soak%d", (int)getpid());
	for (int r = 0; r < ROLE_N; r++)
		s.b->count[r] = (uint32_t)cnt[r];
	atomic_store(&s.b->inst[ROLE_SUB][0].steady, 1);
	atomic_store(&s.b->inst[ROLE_CONS][0].steady, 1);
	atomic_store(&s.b->inst[ROLE_CLI][0].steady, 1);

	service_name(qname, sizeof(qname), s.b, "queue", 0);
	shoal_queue_options_init(&qo);
	qo.capacity = QUEUE_CAP;
	qo.max_message = QUEUE_MSG;
	qo.max_participants = QUEUE_LINES;
	qo.role = SHOAL_QUEUE_PRODUCER;
	qo.send_timeout_ns = 100 * MS; /* the flush lap's wait for room */
	rc = shoal_queue_create(qname, &qo, &s.queue);
	if (rc < 0) {
		rc = cli_fail(cmd, rc, "shoal_queue_create %s", qname);
		goto out_dir;
	}

	cli_catch_signals();
	t_start = cli_now_ns();
	t_end = t_start + (int64_t)duration * SEC;
	warm_at = t_start + (int64_t)duration * SEC / 10;
	if (warm_at - t_start < 3 * SEC)
		warm_at = t_start + 3 * SEC;
	if (warm_at > t_end)
		warm_at = t_end;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			if (soak_spawn(&s, r, i) < 0) {
				rc = cli_fail_sys(cmd, -errno, "fork");
				goto out_children;
			}
	if (verbose)
		fprintf(stderr, "shoal soak: seed %" PRIu64 ", registry %s\n",
			seed, dir);

	sampled0 = 0;
	next_kill = t_start;
	next_note = t_start + 10 * SEC;
	fds[0] = fds[1] = rss[0] = rss[1] = -1;
	while ((now = cli_now_ns()) < t_end && !cli_stop) {
		if (!sampled0 && now >= warm_at) {
			sampled0 = soak_take_samples(&s, 0, &fds[0], &rss[0]) ==
				   0;
			if (!sampled0)
				break;
			if (verbose)
				fprintf(stderr,
					"shoal soak: warm-up samples taken\n");
			continue;
		}
		soak_reap(&s, 1);
		soak_watch_progress(&s);
		if (kill_every && now >= next_kill) {
			soak_kill_one(&s);
			/* Uniform in [0, 2 x mean]: no libm for log(). */
			next_kill = now + (int64_t)(2.0 * rng_unit(&s.rng) *
						    (double)kill_every * MS);
		}
		if (verbose && now >= next_note) {
			fprintf(stderr,
				"shoal soak: %.0f s, %" PRIu64 " kills\n",
				(double)(now - t_start) / 1e9, s.kills_total);
			next_note += 10 * SEC;
		}
		sleep_ns(5 * MS);
	}

	/* The end: no more kills; samples; producers stop; the flush lap;
	 * everyone stops. */
	if (sampled0 && soak_take_samples(&s, 1, &fds[1], &rss[1]) < 0)
		sampled0 = 0;
	s.done_mask = 1u << ROLE_PROD;
	atomic_store_explicit(&s.b->phase, STOP_PRODUCERS,
			      memory_order_release);
	soak_wait_exit(&s, ROLE_PROD);
	soak_queue_flush(&s, &qt);
	s.done_mask = (1u << ROLE_N) - 1;
	atomic_store_explicit(&s.b->phase, STOP, memory_order_release);
	soak_wait_exit(&s, -1);
	soak_queue_check(&s, &qt);

	/* Steady processes: flat fd count and RSS. */
	if (sampled0)
		soak_check_steady(&s, fds, rss);
	else if (!cli_stop && duration >= 3)
		soak_coord_violation(&s, -1, "fd/RSS samples were not taken");

	shoal_queue_destroy(s.queue);
	s.queue = NULL;
	left = soak_registry_left(dir, stderr);
	if (left != 0)
		soak_coord_violation(
			&s, -1, "%d entr%s left in the registry directory %s",
			left, left == 1 ? "y" : "ies", dir);

	/* Summary. */
	total_viol = soak_report(&s, &qt, fds, rss, left, json);
	fflush(stdout);
	rc = total_viol || cli_stop ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	goto out_dir;

out_children:
	s.done_mask = (1u << ROLE_N) - 1;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			if (s.ch[r][i].pid) {
				s.ch[r][i].killed = 1;
				kill(s.ch[r][i].pid, SIGKILL);
			}
	soak_wait_exit(&s, -1);
	shoal_queue_destroy(s.queue);
out_dir:
	if (own_dir)
		soak_remove_dir(dir);
	return rc;
}

const struct cli_cmd cli_cmd_soak = {
	.name = "soak",
	.synopsis = "soak [options]",
	.summary = "kill and restart every role while checking deliveries",
	.help = soak_help,
	.run = run_soak,
};
