/* shoal-test: label=multiproc timeout=300 args=1000000 20000 */
/*
 * Notify/wait round trips between two processes without a lost wake-up.
 *
 * The parent creates an event service and listens for PONG; a child opens
 * it and listens for PING. Each round, the parent writes the round number
 * into memory both share and notifies PING; the child waits, checks that
 * the number it reads is the round it expects (so what was written before
 * a notify is visible after the wait that reports it), writes it back and
 * notifies PONG; the parent waits and checks it in turn. Every wait must
 * report exactly the one id expected: the round trip is strictly
 * alternating, so nothing may coalesce, and a lost wake-up would hang the
 * round (every wait has a timeout, which fails the test). At the end both
 * sides' counts of rounds must equal the number sent.
 *
 * Phase 1: argv[1] rounds (default 10^6) with the default strategy
 * (adaptive: spin, then sleep). Some waits must have been satisfied
 * without sleeping (the spin path).
 * Phase 2: argv[2] rounds (default 20000) with SHOAL_WAIT_BLOCK on both
 * sides, which sleeps in the kernel whenever nothing is pending at the
 * first check: the sleep path. Both sides must have slept and been woken
 * (their stats, and shoal_event_inspect() from outside, say so).
 * Under a sanitizer the counts are divided by TEST_SLOWDOWN (harness.h).
 *
 * A round trip costs about 1 us here while both processes spin, 40-70 us
 * when they sleep, so 10^6 adaptive rounds take 1-10 s on this machine and
 * longer when it is loaded: the time limit is generous, and every round is
 * made. The parent then notifies STOP; the child must have answered
 * exactly the rounds the parent counted.
 */
#include <limits.h>
#include <shoal/event.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define PING 17
#define PONG 300
#define STOP 301
#define WAIT_TIMEOUT (20 * PSU_SEC)

struct shared {
	_Atomic uint64_t ping; /* round the parent sent last */
	_Atomic uint64_t pong; /* round the child answered last */
	_Atomic uint64_t child_rounds;
	_Atomic uint64_t child_sleeps;
	_Atomic uint64_t child_waits;
	_Atomic uint64_t child_wakeups;
	_Atomic int inspected;	/* the child may close now */
	_Atomic uint64_t final; /* rounds made, before STOP */
};

static char path[PATH_MAX];
static struct shared *sh;

static int open_event(const char *name, enum shoal_wait_strategy strategy,
		      struct shoal_registry *r, struct shoal_event **ev)
{
	struct shoal_event_options o;
	int err;

	shoal_event_options_init(&o);
	o.registry = r;
	o.strategy = strategy;
	for (int i = 0;
	     (err = shoal_event_open(name, &o, ev)) == -ENOENT && i < 20000;
	     i++)
		usleep(500);
	return err;
}

static int child(const char *name, enum shoal_wait_strategy strategy)
{
	struct shoal_registry *r;
	struct shoal_event *ev;
	struct shoal_event_set s, fired;
	struct shoal_event_stats st;
	uint64_t n = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK_EQ(open_event(name, strategy, r, &ev), 0);
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, PING);
	shoal_event_set_add(&s, STOP);
	CHECK_EQ(shoal_event_listen(ev, &s), 0);
	/* Hello: the parent pings only once we listen. It may not listen
	 * yet itself: until it does, the hello reaches nobody. */
	CHECK(PSU_WAIT(shoal_event_notify(ev, PONG) == 1, 20));
	for (uint64_t round = 1;; round++) {
		int got = shoal_event_wait(ev, NULL, WAIT_TIMEOUT, &fired);

		if (got == 1 && shoal_event_set_has(&fired, STOP))
			break;
		if (got != 1 || !shoal_event_set_has(&fired, PING)) {
			fprintf(stderr, "child: round %llu: wait %d (%s)\n",
				(unsigned long long)round, got,
				shoal_last_error());
			return TEST_FAIL;
		}
		/* Acquire by the wait: the parent's store is visible. */
		if (atomic_load_explicit(&sh->ping, memory_order_relaxed) !=
		    round) {
			fprintf(stderr, "child: round %llu: ping says %llu\n",
				(unsigned long long)round,
				(unsigned long long)atomic_load(&sh->ping));
			return TEST_FAIL;
		}
		atomic_store_explicit(&sh->pong, round, memory_order_relaxed);
		n++;
		CHECK_EQ(shoal_event_notify(ev, PONG), 1);
	}
	/* The parent stops after the round it last saw answered. */
	CHECK_EQ(n, atomic_load(&sh->final));
	shoal_event_get_stats(ev, &st);
	atomic_store(&sh->child_rounds, n);
	atomic_store(&sh->child_sleeps, st.sleeps);
	atomic_store(&sh->child_waits, st.waits);
	atomic_store(&sh->child_wakeups, st.wakeups);
	/* Nothing more may come. */
	CHECK_EQ(shoal_event_wait(ev, NULL, 0, &fired), -EAGAIN);
	CHECK(PSU_WAIT(atomic_load(&sh->inspected), 30));
	shoal_event_close(ev);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int phase(const char *name, enum shoal_wait_strategy strategy,
		 uint64_t rounds, int want_spin, int want_sleep)
{
	struct shoal_registry *r;
	struct shoal_event_options o;
	struct shoal_event *ev;
	struct shoal_event_set s, fired;
	struct shoal_event_stats st;
	struct shoal_event_info info;
	struct shoal_event_listener_info li[2];
	uint64_t n = 0;
	int64_t t0;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	/* Fork first: the child must not inherit the creator's fds. */
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child(name, strategy));

	CHECK_EQ(test_registry_open(path, &r), 0);
	shoal_event_options_init(&o);
	o.registry = r;
	o.strategy = strategy;
	o.ids = 512;
	CHECK_EQ(shoal_event_create(name, &o, &ev), 0);
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, PONG);
	CHECK_EQ(shoal_event_listen(ev, &s), 0);
	/* The child's hello. */
	CHECK_EQ(shoal_event_wait(ev, NULL, WAIT_TIMEOUT, &fired), 1);
	t0 = psu_now_ns();
	for (uint64_t round = 1; round <= rounds; round++) {
		int got;

		atomic_store_explicit(&sh->ping, round, memory_order_relaxed);
		got = shoal_event_notify(ev, PING);
		if (got != 1) {
			fprintf(stderr, "parent: round %llu: notify %d (%s)\n",
				(unsigned long long)round, got,
				shoal_last_error());
			break;
		}
		got = shoal_event_wait(ev, NULL, WAIT_TIMEOUT, &fired);
		if (got != 1 || !shoal_event_set_has(&fired, PONG)) {
			fprintf(stderr, "parent: round %llu: wait %d (%s)\n",
				(unsigned long long)round, got,
				shoal_last_error());
			break;
		}
		if (atomic_load_explicit(&sh->pong, memory_order_relaxed) !=
		    round) {
			fprintf(stderr, "parent: round %llu: pong says %llu\n",
				(unsigned long long)round,
				(unsigned long long)atomic_load(&sh->pong));
			break;
		}
		n++;
	}
	atomic_store(&sh->final, n);
	CHECK_EQ(shoal_event_notify(ev, STOP), 1);
	/* Inspect from outside while both still hold their lines. */
	CHECK(PSU_WAIT(atomic_load(&sh->child_rounds) == rounds, 30));
	CHECK_EQ(shoal_event_inspect(r, name, &info, li, 2), 2);
	atomic_store(&sh->inspected, 1);
	CHECK(psu_wait_all(&pid, 1, 30));
	shoal_event_get_stats(ev, &st);
	fprintf(stderr,
		"%s: %llu rounds in %.3f s (%.2f us each); parent: %llu "
		"waits, %llu sleeps, %llu wakeups; child: %llu waits, %llu "
		"sleeps, %llu wakeups; service: %llu notifies, %llu "
		"wakeups\n",
		name, (unsigned long long)n, (psu_now_ns() - t0) / 1e9,
		n ? (psu_now_ns() - t0) / 1e3 / (double)n : 0.0,
		(unsigned long long)st.waits, (unsigned long long)st.sleeps,
		(unsigned long long)st.wakeups,
		(unsigned long long)atomic_load(&sh->child_waits),
		(unsigned long long)atomic_load(&sh->child_sleeps),
		(unsigned long long)atomic_load(&sh->child_wakeups),
		(unsigned long long)info.notifies,
		(unsigned long long)info.wakeups);
	CHECK_EQ(n, rounds);
	CHECK_EQ(atomic_load(&sh->child_rounds), rounds);
	/* One wait per round (and the hello) each side: none coalesced. */
	CHECK_EQ(st.waits, rounds + 1);
	CHECK_EQ(st.received, rounds + 1);
	CHECK_EQ(atomic_load(&sh->child_waits), rounds + 1);
	CHECK_EQ(st.notifies, rounds + 1);
	CHECK(info.notifies >= 2 * rounds + 2); /* hellos to nobody too */
	CHECK_EQ(info.delivered, 2 * rounds + 2);
	CHECK_EQ(info.wakeups, st.wakeups + atomic_load(&sh->child_wakeups));
	if (want_spin) {
		/* Some waits ended without a sleep. */
		CHECK(st.sleeps < st.waits);
		CHECK(atomic_load(&sh->child_sleeps) <
		      atomic_load(&sh->child_waits));
	}
	if (want_sleep) {
		/* Both sides slept and were woken by the other's notify. */
		CHECK(st.sleeps > 0 && atomic_load(&sh->child_sleeps) > 0);
		CHECK(st.wakeups > 0 && atomic_load(&sh->child_wakeups) > 0);
		CHECK(li[0].sleeps + li[1].sleeps > 0);
		CHECK(li[0].wakeups + li[1].wakeups > 0);
	}
	shoal_event_destroy(ev);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static uint64_t adaptive_rounds, block_rounds;

static int test_adaptive(void)
{
	return phase("rt/adaptive", SHOAL_WAIT_ADAPTIVE, adaptive_rounds, 1, 0);
}

static int test_block(void)
{
	return phase("rt/block", SHOAL_WAIT_BLOCK, block_rounds, 0, 1);
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	adaptive_rounds = test_arg_u64(argc, argv, 1, 1000000) / TEST_SLOWDOWN;
	block_rounds = test_arg_u64(argc, argv, 2, 20000) / TEST_SLOWDOWN;
	if (!adaptive_rounds)
		adaptive_rounds = 1;
	if (!block_rounds)
		block_rounds = 1;
	psu_watchdog(290);
	sh = psu_shared(sizeof(*sh));
	if (!sh ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_adaptive);
	RUN(test_block);
	test_remove_tree(top);
	return test_result();
}
