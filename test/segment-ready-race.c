/* shoal-test: label=stress timeout=600 args=2000 */
/* SPDX-License-Identifier: MIT */
/*
 * A peer that opens a PEERS_READ_ONLY segment while its creator is calling
 * shoal_segment_ready(). open() looks at the seals, maps, then reads the
 * state; ready() adds F_SEAL_FUTURE_WRITE, then stores READY. When the peer's
 * seal check comes before ready() and its state load after, the peer has
 * mapped read-write before the seal (the kernel allows it) and then sees
 * READY: it must still refuse (-EPERM), as it would a moment later, and not
 * hand out a writable mapping of a segment whose peers may only read.
 *
 * Each round races one opener thread (spinning on -EAGAIN) against ready();
 * the count of rounds is argv[1]. A read-only opener racing the same way must
 * always end up opening.
 *
 * The losing window is the opener's mmap() call, about a microsecond. A third
 * thread flips the protection of a page of its own in a loop: mprotect()
 * takes the process's mmap lock for writing, so the opener's mmap() often
 * waits for it, while ready() (fcntl and a store) needs no such lock. That
 * widens the window from a fraction of a percent of the rounds to several
 * percent, so a regression shows in every run, not one in ten.
 *
 * Every wait yields: three threads that spin on two busy cores took this
 * test from 3.5 s to past its timeout beside two other builds. Its work is
 * bounded by rounds (2000 by default: about 4 s idle, 40 s beside
 * `stress-ng --cpu 2`, where 5000 ran past 120 s beside the rest of the
 * suite); the CTest timeout only catches a hang.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shoal/segment.h>

#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

/*
 * The opener and the noise threads live for the whole program; each round
 * hands the opener a new fd through @round and gets the result back.
 */
static struct {
	atomic_uint round;  /* bumped by main to start a round */
	atomic_uint done;   /* set to the round number when it ended */
	atomic_int started; /* opens tried this round */
	atomic_int noisy;   /* 1 while the noise thread should run */
	atomic_int quit;
	int fd; /* written by main before round is bumped */
	uint32_t flags;
	int result; /* written by the opener before done */
	struct shoal_segment *peer;
} race;

static void *opener(void *arg)
{
	unsigned seen = 0;

	(void)arg;
	for (;;) {
		unsigned r;
		int e;

		/* Acquire: pairs with the release bump of round in race_once(),
		 * so fd and flags are this round's. */
		while ((r = atomic_load_explicit(
				&race.round, memory_order_acquire)) == seen) {
			if (atomic_load_explicit(&race.quit,
						 memory_order_relaxed))
				return NULL;
			sched_yield(); /* on a busy machine, let main run */
		}
		seen = r;
		do {
			e = shoal_segment_open(race.fd, race.flags, &race.peer);
			atomic_fetch_add_explicit(&race.started, 1,
						  memory_order_relaxed);
		} while (e == -EAGAIN);
		race.result = e;
		/* Release: publishes result and peer; pairs with the acquire
		 * load of done in race_once(). */
		atomic_store_explicit(&race.done, r, memory_order_release);
	}
}

/* Keeps the mmap lock busy while a round is on; see the top comment. */
static void *noise(void *arg)
{
	unsigned char *page = arg;

	while (!atomic_load_explicit(&race.quit, memory_order_relaxed)) {
		if (!atomic_load_explicit(&race.noisy, memory_order_relaxed)) {
			sched_yield();
			continue;
		}
		mprotect(page, 4096, PROT_READ);
		mprotect(page, 4096, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

/* One round; returns the opener's final result. */
static int race_once(uint32_t open_flags, unsigned n)
{
	static const struct shoal_object_spec obj = { "x", SHOAL_OBJECT_BYTES,
						      0, 64 };
	struct shoal_segment_options opts;
	struct shoal_segment *seg = NULL;
	unsigned r;
	int ready;

	shoal_segment_options_init(&opts);
	opts.flags = SHOAL_SEGMENT_PEERS_READ_ONLY;
	if (shoal_segment_create(&obj, 1, &opts, &seg))
		return 1; /* neither 0 nor -EPERM: the caller reports it */
	race.fd = shoal_segment_fd(seg);
	race.flags = open_flags;
	atomic_store_explicit(&race.started, 0, memory_order_relaxed);
	atomic_store_explicit(&race.noisy, 1, memory_order_relaxed);
	/* Release: publishes fd and flags; pairs with the opener's acquire. */
	r = atomic_fetch_add_explicit(&race.round, 1, memory_order_release) + 1;
	/* Let the opener get going, then vary where in its loop ready() hits. */
	while (atomic_load_explicit(&race.started, memory_order_relaxed) < 2)
		sched_yield();
	for (volatile unsigned spin = 0; spin < (n % 64) * 50; spin++)
		;
	ready = shoal_segment_ready(seg);
	atomic_store_explicit(&race.noisy, 0, memory_order_relaxed);
	while (atomic_load_explicit(&race.done, memory_order_acquire) != r)
		sched_yield();
	if (race.result == 0)
		shoal_segment_close(race.peer);
	shoal_segment_destroy(seg);
	return ready ? 2 : race.result;
}

static unsigned rounds;

static int test_read_write_open_never_wins(void)
{
	unsigned opened = 0;

	for (unsigned i = 0; i < rounds; i++) {
		int r = race_once(0, i);

		if (r == 0)
			opened++;
		else
			CHECK_EQ(r, -EPERM);
	}
	if (opened)
		fprintf(stderr,
			"%u of %u read-write opens racing ready() succeeded\n",
			opened, rounds);
	CHECK_EQ(opened, 0);
	return TEST_PASS;
}

static int test_read_only_open_always_wins(void)
{
	for (unsigned i = 0; i < rounds; i++)
		CHECK_EQ(race_once(SHOAL_SEGMENT_OPEN_READ_ONLY, i), 0);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t op, no;

	rounds = (unsigned)test_arg_u64(argc, argv, 1, 2000);
	if (page == MAP_FAILED || pthread_create(&op, NULL, opener, NULL) ||
	    pthread_create(&no, NULL, noise, page))
		return TEST_FAIL;
	RUN(test_read_write_open_never_wins);
	RUN(test_read_only_open_always_wins);
	atomic_store_explicit(&race.quit, 1, memory_order_relaxed);
	pthread_join(op, NULL);
	pthread_join(no, NULL);
	munmap(page, 4096);
	return test_result();
}
