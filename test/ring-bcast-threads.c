/* shoal-test: label=stress timeout=300 args=100000 3 */
/*
 * The broadcast ring, reliable, with a publisher thread and N subscriber
 * threads over one region: every subscriber gets every message in order
 * (no lap, no torn message), from 0 for those that joined before the
 * first send, and with no gap from wherever it started for one that joins
 * while the publisher runs (and then leaves, and joins again). Batches and
 * single sends alternate, and subscribers take one at a time or in
 * batches. Arguments: messages (default 100000), subscribers (default 3).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/common.h>

#include "harness.h"
#include "ring/ring_bcast.h"

#define CAP 64
#define MAX_LINES 8
#define PAYLOAD 24

static struct shoal__bcast_map map;
static uint64_t count;
static uint32_t nsubs;
static _Atomic int failed;
static _Atomic uint32_t joined;
static _Atomic int done;

static void fill(uint8_t *p, uint64_t seq)
{
	for (int i = 0; i < PAYLOAD; i += 8) {
		uint64_t v = seq * 31 + (uint64_t)i;

		memcpy(p + i, &v, 8);
	}
}

static int check(const uint8_t *p, uint64_t seq)
{
	for (int i = 0; i < PAYLOAD; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		if (v != seq * 31 + (uint64_t)i)
			return 0;
	}
	return 1;
}

static void *publisher(void *arg)
{
	struct shoal__bcast_pub b;
	uint64_t seq = 0;

	(void)arg;
	if (shoal__bcast_pub_init(&b, &map, 1, NULL, NULL)) {
		atomic_store(&failed, 1);
		return NULL;
	}
	/* Wait for the first subscribers to be counted (joined). */
	while (shoal__bcast_subscribers(&b) < nsubs)
		shoal__cpu_relax();
	while (seq < count && !atomic_load(&failed)) {
		uint32_t n = (seq / 1000) % 2 ? 7 : 1, k;

		if (n > count - seq)
			n = (uint32_t)(count - seq);
		shoal__bcast_batch_begin(&b);
		if (shoal__bcast_must_gate(&b) &&
		    !shoal__bcast_room(&b, b.head)) {
			sched_yield(); /* more threads than CPUs */
			continue;
		}
		k = shoal__bcast_batch_extent(&b, n);
		for (uint32_t j = 0; j < k; j++) {
			struct shoal__bcast_slot *s = shoal__bcast_loan(&b);

			fill(shoal__bcast_payload(&map, s), seq);
			shoal__bcast_complete(&b, s, PAYLOAD, 0, 0);
			seq++;
		}
		shoal__bcast_publish(&b);
	}
	atomic_store(&done, 1);
	shoal__bcast_pub_fini(&b);
	return NULL;
}

/* Takes until @until (exclusive) or the publisher's end, checking each
 * message; returns the next cursor, or UINT64_MAX on a failure. */
static uint64_t consume(struct shoal__bcast_sub *s, uint64_t until, int batch)
{
	struct shoal__bcast_view v[16];

	while (s->cursor < until) {
		int n = shoal__bcast_peek_batch(s, v, batch ? 16 : 1);

		if (atomic_load(&failed))
			return UINT64_MAX;
		if (n == -EAGAIN) {
			sched_yield(); /* more threads than CPUs */
			continue;
		}
		if (n < 0)
			return UINT64_MAX; /* lapped or refused: reliable! */
		for (int i = 0; i < n; i++) {
			const uint8_t *p =
				shoal__bcast_payload(&map, v[i].slot);

			if (v[i].len != PAYLOAD || !check(p, v[i].seq) ||
			    !shoal__bcast_intact(&v[i]))
				return UINT64_MAX;
		}
		shoal__bcast_advance(s, (uint32_t)n);
	}
	return s->cursor;
}

static void *subscriber(void *arg)
{
	uint32_t idx = (uint32_t)(uintptr_t)arg;
	struct shoal__bcast_sub s;

	memset(&s, 0, sizeof(s));
	shoal__bcast_join(&s, &map, idx, 0);
	if (s.cursor != 0) {
		fprintf(stderr, "line %u starts at %llu\n", idx,
			(unsigned long long)s.cursor);
		atomic_store(&failed, 1);
	}
	atomic_fetch_add(&joined, 1);
	if (consume(&s, count, idx % 2) != count) {
		fprintf(stderr, "line %u: short\n", idx);
		atomic_store(&failed, 1);
	}
	shoal__bcast_leave(&s);
	return NULL;
}

/* Joins mid-stream, takes a while, leaves, joins again, until the end. */
static void *late_subscriber(void *arg)
{
	uint32_t idx = (uint32_t)(uintptr_t)arg;
	struct shoal__bcast_sub s;

	memset(&s, 0, sizeof(s));
	while (!atomic_load(&done) && !atomic_load(&failed)) {
		uint64_t start, until, got;

		shoal__bcast_join(&s, &map, idx, (uint64_t)(idx * 5));
		start = s.cursor;
		until = start + 5000 < count ? start + 5000 : count;
		got = consume(&s, until, 0);
		if (got != until) {
			fprintf(stderr, "late line %u: %llu..%llu: %llu\n", idx,
				(unsigned long long)start,
				(unsigned long long)until,
				(unsigned long long)got);
			atomic_store(&failed, 1);
		}
		shoal__bcast_leave(&s);
		if (until == count)
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t size;
	void *mem;
	pthread_t pub, subs[MAX_LINES], late;

	count = test_arg_u64(argc, argv, 1, 100000) / TEST_SLOWDOWN;
	nsubs = (uint32_t)test_arg_u64(argc, argv, 2, 3);
	if (count < 1000)
		count = 1000;
	if (nsubs < 1 || nsubs > MAX_LINES - 1)
		nsubs = 3;
	size = shoal__bcast_region_size(CAP, PAYLOAD, 0, MAX_LINES);
	CHECK(size && posix_memalign(&mem, 64, size) == 0);
	memset(mem, 0, size);
	CHECK_EQ(shoal__bcast_map_region(mem, size, CAP, PAYLOAD, 0, MAX_LINES,
					 &map),
		 0);
	for (uint32_t i = 0; i < nsubs; i++)
		CHECK(pthread_create(&subs[i], NULL, subscriber,
				     (void *)(uintptr_t)i) == 0);
	/* Every first subscriber joined before the publisher counts them:
	 * otherwise a late joiner could make up the count. */
	while (atomic_load(&joined) < nsubs)
		shoal__cpu_relax();
	CHECK(pthread_create(&pub, NULL, publisher, NULL) == 0);
	CHECK(pthread_create(&late, NULL, late_subscriber,
			     (void *)(uintptr_t)nsubs) == 0);
	pthread_join(pub, NULL);
	for (uint32_t i = 0; i < nsubs; i++)
		pthread_join(subs[i], NULL);
	pthread_join(late, NULL);
	CHECK_EQ(atomic_load(&failed), 0);
	CHECK_EQ(atomic_load(&map.pub->head), count);
	free(mem);
	return TEST_PASS;
}
