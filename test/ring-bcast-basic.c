/* shoal-test: label=unit timeout=60 */
/*
 * The broadcast ring (src/ring/ring_bcast.h) in one thread, over a region
 * of its own: publish and take, reliable gating (-EAGAIN when full), a
 * lossy lap (-EOVERFLOW and the count), joining at head and with history,
 * batch publish and batch take, a dead line evicted through the liveness
 * callback, the premark, and hostile words (a cursor ahead of head, a
 * length over max_payload).
 */
#include <stdlib.h>
#include <string.h>

#include <shoal/common.h>

#include "harness.h"
#include "ring/ring_bcast.h"

#define MAX_LINES 4

struct ring {
	void *mem;
	struct shoal__bcast_map m;
	struct shoal__bcast_pub pub;
	struct shoal__bcast_sub sub[MAX_LINES];
	int dead[MAX_LINES];
};

static int alive(void *user_data, uint32_t line)
{
	struct ring *r = user_data;

	return line < MAX_LINES && !r->dead[line];
}

static int ring_make(struct ring *r, uint32_t cap, uint32_t payload,
		     uint32_t uh, int reliable)
{
	uint64_t size = shoal__bcast_region_size(cap, payload, uh, MAX_LINES);

	memset(r, 0, sizeof(*r));
	if (!size || posix_memalign(&r->mem, 64, size))
		return -1;
	memset(r->mem, 0, size);
	if (shoal__bcast_map_region(r->mem, size, cap, payload, uh, MAX_LINES,
				    &r->m))
		return -1;
	return shoal__bcast_pub_init(&r->pub, &r->m, reliable, alive, r);
}

static void ring_free(struct ring *r)
{
	shoal__bcast_pub_fini(&r->pub);
	free(r->mem);
}

/* Publishes one message whose payload is the u64 @v. 0 or -EAGAIN. */
static int pub_u64(struct ring *r, uint64_t v)
{
	struct shoal__bcast_slot *s;
	int err = shoal__bcast_try_loan(&r->pub, &s);

	if (err)
		return err;
	memcpy(shoal__bcast_payload(&r->m, s), &v, sizeof(v));
	shoal__bcast_complete(&r->pub, s, sizeof(v), 0, 0);
	shoal__bcast_publish(&r->pub);
	return 0;
}

/* Takes one message into *v. 0 or what peek returned. */
static int take_u64(struct shoal__bcast_sub *s, uint64_t *v,
		    struct shoal__bcast_view *view)
{
	int err = shoal__bcast_peek(s, 0, view);

	if (err)
		return err;
	memcpy(v, shoal__bcast_payload(&s->m, view->slot), sizeof(*v));
	if (!shoal__bcast_intact(view))
		return -ESTALE;
	shoal__bcast_advance(s, 1);
	return 0;
}

static int test_region(void)
{
	struct shoal__bcast_map m;
	void *mem;

	CHECK_EQ(shoal__bcast_region_size(3, 8, 0, 1), 0);
	CHECK_EQ(shoal__bcast_region_size(4, 0, 0, 1), 0);
	CHECK_EQ(shoal__bcast_region_size(4, 8, 4, 1), 0);
	CHECK_EQ(shoal__bcast_region_size(4, 8, 0, 0), 0);
	/* Two header lines, one per subscriber, slots of whole lines. */
	CHECK_EQ(shoal__bcast_region_size(4, 8, 0, 2), 4 * 64 + 4 * 64);
	CHECK_EQ(shoal__bcast_region_size(4, 41, 0, 2), 4 * 64 + 4 * 72);
	CHECK(posix_memalign(&mem, 64, 4096) == 0);
	CHECK_EQ(shoal__bcast_map_region(mem, 100, 4, 8, 0, 2, &m), -EINVAL);
	CHECK_EQ(shoal__bcast_map_region((char *)mem + 8, 4000, 4, 8, 0, 2, &m),
		 -EINVAL);
	CHECK_EQ(shoal__bcast_map_region(mem, 4096, 4, 8, 0, 2, &m), 0);
	CHECK_EQ(m.stride, 64);
	CHECK_EQ(m.data_off, 24);
	/* The payload follows the headers in a slot of up to two lines,
	 * packed at 8 bytes beyond one line; a larger slot starts its
	 * payload on the line after the headers (docs/bcast-ring.md,
	 * "Slots"). */
	CHECK_EQ(shoal__bcast_data_off(0, 40), 24);
	CHECK_EQ(shoal__bcast_slot_stride(0, 40), 64);
	CHECK_EQ(shoal__bcast_data_off(8, 32), 32);
	CHECK_EQ(shoal__bcast_slot_stride(8, 32), 64);
	CHECK_EQ(shoal__bcast_data_off(0, 41), 24);
	CHECK_EQ(shoal__bcast_slot_stride(0, 41), 72);
	CHECK_EQ(shoal__bcast_data_off(0, 64), 24);
	CHECK_EQ(shoal__bcast_slot_stride(0, 64), 88);
	CHECK_EQ(shoal__bcast_slot_stride(0, 100), 128);
	CHECK_EQ(shoal__bcast_data_off(0, 104), 24);
	CHECK_EQ(shoal__bcast_slot_stride(0, 104), 128);
	CHECK_EQ(shoal__bcast_data_off(0, 105), 64);
	CHECK_EQ(shoal__bcast_slot_stride(0, 105), 192);
	CHECK_EQ(shoal__bcast_slot_stride(0, 1024), 1088);
	CHECK_EQ(shoal__bcast_data_off(64, 8), 88);
	CHECK_EQ(shoal__bcast_slot_stride(64, 8), 96);
	CHECK_EQ(shoal__bcast_data_off(64, 41), 128);
	CHECK_EQ(shoal__bcast_slot_stride(64, 41), 192);
	CHECK_EQ(shoal__bcast_payload_align(0, 40), 8);
	CHECK_EQ(shoal__bcast_payload_align(0, 64), 8);
	CHECK_EQ(shoal__bcast_payload_align(0, 105), 64);
	CHECK_EQ(shoal__bcast_payload_align(0, 1024), 64);
	CHECK_EQ(shoal__bcast_payload_align(64, 8), 8);
	CHECK_EQ(shoal__bcast_map_region(mem, 4096, 4, 100, 8, 2, &m), 0);
	CHECK_EQ(m.stride, 192);
	CHECK_EQ(m.data_off, 64);
	free(mem);
	return TEST_PASS;
}

static int test_publish_take(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	uint64_t x;

	for (int reliable = 0; reliable < 2; reliable++) {
		CHECK(ring_make(&r, 8, 16, 8, reliable) == 0);
		shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
		CHECK_EQ(r.sub[0].cursor, 0);
		CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), -EAGAIN);
		CHECK(!shoal__bcast_ready(&r.sub[0]));
		for (uint64_t i = 0; i < 100; i++) {
			struct shoal__bcast_slot *s;

			CHECK_EQ(shoal__bcast_try_loan(&r.pub, &s), 0);
			memset(s + 1, (int)i, 8); /* user header */
			memcpy(shoal__bcast_payload(&r.m, s), &i, 8);
			shoal__bcast_complete(&r.pub, s, 8, 1, (int64_t)i * 7);
			shoal__bcast_publish(&r.pub);
			CHECK(shoal__bcast_ready(&r.sub[0]));
			CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), 0);
			CHECK_EQ(v.seq, i);
			CHECK_EQ(v.len, 8);
			CHECK_EQ(v.timestamp_ns, (int64_t)i * 7);
			CHECK_EQ(*(uint8_t *)(v.slot + 1), (uint8_t)i);
			CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
			CHECK_EQ(x, i);
		}
		CHECK_EQ(atomic_load(&r.m.pub->head), 100);
		CHECK_EQ(atomic_load(&shoal__bcast_line_at(&r.m, 0)->cursor),
			 100);
		shoal__bcast_leave(&r.sub[0]);
		CHECK_EQ(atomic_load(&shoal__bcast_line_at(&r.m, 0)->state),
			 SHOAL__BCAST_FREE);
		ring_free(&r);
	}
	return TEST_PASS;
}

static int test_reliable_gating(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	uint64_t x;

	CHECK(ring_make(&r, 8, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	CHECK_EQ(shoal__bcast_subscribers(&r.pub), 1);
	for (uint64_t i = 0; i < 8; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	/* Full: the subscriber is at 0, message 8 would overwrite it. */
	CHECK(shoal__bcast_must_gate(&r.pub));
	CHECK_EQ(pub_u64(&r, 8), -EAGAIN);
	CHECK_EQ(pub_u64(&r, 8), -EAGAIN);
	/* Nothing it holds was touched. */
	CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
	CHECK_EQ(x, 0);
	CHECK_EQ(pub_u64(&r, 8), 0);
	CHECK_EQ(pub_u64(&r, 9), -EAGAIN);
	for (uint64_t i = 1; i <= 8; i++) {
		CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
		CHECK_EQ(x, i);
	}
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), -EAGAIN);
	/* Leaving frees the publisher at once. */
	for (uint64_t i = 9; i < 17; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	CHECK_EQ(pub_u64(&r, 17), -EAGAIN);
	shoal__bcast_leave(&r.sub[0]);
	CHECK_EQ(pub_u64(&r, 17), 0);
	CHECK_EQ(shoal__bcast_subscribers(&r.pub), 0);
	ring_free(&r);
	return TEST_PASS;
}

static int test_lossy_lap(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	uint64_t x;

	CHECK(ring_make(&r, 8, 8, 0, 0) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	for (uint64_t i = 0; i < 13; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	/* Head 13: the oldest message left is 13 - 7 = 6. */
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), -EOVERFLOW);
	CHECK_EQ(v.lost, 6);
	CHECK_EQ(r.sub[0].cursor, 6);
	for (uint64_t i = 6; i < 13; i++) {
		CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
		CHECK_EQ(x, i);
	}
	/* A message overwritten while held is seen as such. */
	CHECK_EQ(pub_u64(&r, 13), 0);
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), 0);
	for (uint64_t i = 14; i < 22; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	CHECK(!shoal__bcast_intact(&v));
	ring_free(&r);
	return TEST_PASS;
}

static int test_join_history(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	uint64_t x;

	CHECK(ring_make(&r, 8, 8, 0, 0) == 0);
	for (uint64_t i = 0; i < 10; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	CHECK_EQ(r.sub[0].cursor, 10);
	CHECK_EQ(atomic_load(&shoal__bcast_line_at(&r.m, 0)->state),
		 SHOAL__BCAST_ACTIVE);
	shoal__bcast_join(&r.sub[1], &r.m, 1, 3);
	CHECK_EQ(r.sub[1].cursor, 7);
	for (uint64_t i = 7; i < 10; i++) {
		CHECK_EQ(take_u64(&r.sub[1], &x, &v), 0);
		CHECK_EQ(x, i);
	}
	/* More history than was ever sent: from 0. */
	shoal__bcast_leave(&r.sub[1]);
	ring_free(&r);
	CHECK(ring_make(&r, 8, 8, 0, 1) == 0);
	CHECK_EQ(pub_u64(&r, 0), 0);
	CHECK_EQ(pub_u64(&r, 1), 0);
	shoal__bcast_join(&r.sub[2], &r.m, 2, 5);
	CHECK_EQ(r.sub[2].cursor, 0);
	/* A reliable publisher counts the joiner and gates on it. */
	CHECK_EQ(shoal__bcast_subscribers(&r.pub), 1);
	for (uint64_t i = 2; i < 8; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	CHECK_EQ(pub_u64(&r, 8), -EAGAIN);
	ring_free(&r);
	return TEST_PASS;
}

static int test_batch(void)
{
	struct ring r;
	struct shoal__bcast_view v[32];
	uint32_t k;
	int n;

	CHECK(ring_make(&r, 16, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	/* A batch is at most a ring. */
	shoal__bcast_batch_begin(&r.pub);
	CHECK(!shoal__bcast_must_gate(&r.pub));
	k = shoal__bcast_batch_extent(&r.pub, 40);
	CHECK_EQ(k, 16);
	CHECK_EQ(atomic_load(&r.m.pub->bound), 16);
	for (uint64_t i = 0; i < k; i++) {
		struct shoal__bcast_slot *s = shoal__bcast_loan(&r.pub);

		memcpy(shoal__bcast_payload(&r.m, s), &i, 8);
		shoal__bcast_complete(&r.pub, s, 8, 0, 0);
	}
	/* Nothing shows before the publish, but slots are whole already:
	 * head is only what joiners read. */
	CHECK_EQ(atomic_load(&r.m.pub->head), 0);
	shoal__bcast_publish(&r.pub);
	CHECK_EQ(atomic_load(&r.m.pub->head), 16);
	/* Full: the next batch must wait for room for its first. */
	shoal__bcast_batch_begin(&r.pub);
	CHECK(shoal__bcast_must_gate(&r.pub));
	CHECK(!shoal__bcast_room(&r.pub, r.pub.head));
	/* Batch take: up to 5, then the rest. */
	n = shoal__bcast_peek_batch(&r.sub[0], v, 5);
	CHECK_EQ(n, 5);
	for (int i = 0; i < n; i++) {
		uint64_t x;

		memcpy(&x, shoal__bcast_payload(&r.m, v[i].slot), 8);
		CHECK_EQ(x, (uint64_t)i);
		CHECK(shoal__bcast_intact(&v[i]));
	}
	shoal__bcast_advance(&r.sub[0], (uint32_t)n);
	/* Room for exactly five now: the extent says so. */
	CHECK(shoal__bcast_room(&r.pub, r.pub.head));
	k = shoal__bcast_batch_extent(&r.pub, 10);
	CHECK_EQ(k, 5);
	for (uint64_t i = 16; i < 16 + k; i++) {
		struct shoal__bcast_slot *s = shoal__bcast_loan(&r.pub);

		memcpy(shoal__bcast_payload(&r.m, s), &i, 8);
		shoal__bcast_complete(&r.pub, s, 8, 0, 0);
	}
	shoal__bcast_publish(&r.pub);
	n = shoal__bcast_peek_batch(&r.sub[0], v, 32);
	CHECK_EQ(n, 16);
	for (int i = 0; i < n; i++) {
		uint64_t x;

		memcpy(&x, shoal__bcast_payload(&r.m, v[i].slot), 8);
		CHECK_EQ(x, (uint64_t)(5 + i));
	}
	shoal__bcast_advance(&r.sub[0], (uint32_t)n);
	CHECK_EQ(shoal__bcast_peek_batch(&r.sub[0], v, 32), -EAGAIN);
	/* Lossy: the extent is what was asked. */
	ring_free(&r);
	CHECK(ring_make(&r, 16, 8, 0, 0) == 0);
	CHECK_EQ(shoal__bcast_batch_extent(&r.pub, 40), 40);
	ring_free(&r);
	return TEST_PASS;
}

static int test_dead_line(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	uint64_t x;

	CHECK(ring_make(&r, 4, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	shoal__bcast_join(&r.sub[1], &r.m, 1, 0);
	CHECK_EQ(shoal__bcast_subscribers(&r.pub), 2);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	for (uint64_t i = 0; i < 4; i++) {
		CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
		CHECK_EQ(x, i);
	}
	/* Line 1 never reads: full. */
	CHECK_EQ(pub_u64(&r, 4), -EAGAIN);
	CHECK_EQ(shoal__bcast_evict_dead(&r.pub), 0);
	/* Its owner dies without leaving: the callback says so. */
	r.dead[1] = 1;
	CHECK_EQ(shoal__bcast_evict_dead(&r.pub), 1);
	CHECK_EQ(pub_u64(&r, 4), 0);
	CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
	CHECK_EQ(x, 4);
	/* A rescan does not take it back either. */
	CHECK_EQ(shoal__bcast_subscribers(&r.pub), 1);
	ring_free(&r);
	return TEST_PASS;
}

static int test_premark(void)
{
	struct ring r;

	CHECK(ring_make(&r, 4, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	CHECK_EQ(pub_u64(&r, 0), 0);
	/* Room for message 1 is known: its slot carries the odd stamp. */
	CHECK_EQ(atomic_load(&shoal__bcast_slot_at(&r.m, 1)->stamp),
		 shoal__bcast_stamp(1) | 1);
	CHECK_EQ(r.pub.marked_end, 2);
	for (uint64_t i = 1; i < 4; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	/* Message 4 would overwrite what line 0 has not read: no mark. */
	CHECK_EQ(atomic_load(&shoal__bcast_slot_at(&r.m, 4)->stamp),
		 shoal__bcast_stamp(0));
	ring_free(&r);
	/* Lossy never premarks: the old message stays readable. */
	CHECK(ring_make(&r, 4, 8, 0, 0) == 0);
	CHECK_EQ(pub_u64(&r, 0), 0);
	CHECK_EQ(atomic_load(&shoal__bcast_slot_at(&r.m, 1)->stamp), 0);
	ring_free(&r);
	/* Trusted (reliable): marked and judged, but no odd stamp, neither
	 * premarked nor at a loan; the messages are whole all the same. */
	CHECK(ring_make(&r, 4, 8, 0, 1) == 0);
	shoal__bcast_pub_trust_lines(&r.pub);
	CHECK_EQ(r.pub.odd_marks, 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	CHECK_EQ(pub_u64(&r, 100), 0);
	CHECK_EQ(r.pub.marked_end, 2); /* slot 1 premarked, no odd stamp */
	CHECK_EQ(atomic_load(&shoal__bcast_slot_at(&r.m, 1)->stamp), 0);
	{
		uint64_t x;
		struct shoal__bcast_view v;

		CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
		CHECK_EQ(x, 100);
	}
	for (uint64_t i = 1; i < 10; i++) {
		uint64_t x;
		struct shoal__bcast_view v;

		CHECK_EQ(pub_u64(&r, i), 0);
		/* The next slot still shows its old message (or nothing),
		 * premarked or not. */
		CHECK_EQ(atomic_load(&shoal__bcast_slot_at(&r.m, i + 1)->stamp),
			 i + 1 < 4 ? 0 : shoal__bcast_stamp(i + 1 - 4));
		CHECK_EQ(take_u64(&r.sub[0], &x, &v), 0);
		CHECK_EQ(x, i);
	}
	ring_free(&r);
	/* Lossy ignores it: a reader of the old message needs the odd
	 * stamp. */
	CHECK(ring_make(&r, 4, 8, 0, 0) == 0);
	shoal__bcast_pub_trust_lines(&r.pub);
	CHECK_EQ(r.pub.odd_marks, 1);
	{
		struct shoal__bcast_slot *sl;

		CHECK_EQ(shoal__bcast_try_loan(&r.pub, &sl), 0);
		CHECK_EQ(atomic_load(&sl->stamp), shoal__bcast_stamp(0) | 1);
	}
	ring_free(&r);
	return TEST_PASS;
}

static int test_hostile_words(void)
{
	struct ring r;
	struct shoal__bcast_view v;
	struct shoal__bcast_slot *s;

	CHECK(ring_make(&r, 4, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	/* A cursor far ahead of the publisher gates nothing. */
	atomic_store(&shoal__bcast_line_at(&r.m, 0)->cursor, 1000000);
	for (uint64_t i = 0; i < 12; i++)
		CHECK_EQ(pub_u64(&r, i), 0);
	/* A cursor far behind gates fully, without overflow. */
	atomic_store(&shoal__bcast_line_at(&r.m, 0)->cursor, 0);
	CHECK_EQ(pub_u64(&r, 12), -EAGAIN);
	atomic_store(&shoal__bcast_line_at(&r.m, 0)->cursor, 12);
	/* A length over max_payload: refused, and the cursor moves on. */
	r.sub[0].cursor = 12;
	CHECK_EQ(shoal__bcast_try_loan(&r.pub, &s), 0);
	shoal__bcast_complete(&r.pub, s, 9, 0, 0);
	shoal__bcast_publish(&r.pub);
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), -EBADMSG);
	CHECK_EQ(r.sub[0].cursor, 13);
	/* A lapped stamp with a head that says nothing was sent: at least
	 * one message counts as lost, never zero. */
	atomic_store(&shoal__bcast_slot_at(&r.m, 13)->stamp,
		     shoal__bcast_stamp(13 + 4));
	atomic_store(&r.m.pub->head, 0);
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v), -EOVERFLOW);
	CHECK(v.lost >= 1);
	CHECK_EQ(r.sub[0].cursor, 14);
	ring_free(&r);
	return TEST_PASS;
}

/*
 * Several loans: three out at once, the newest given back (its seq and
 * slot come back to the next loan), the first completed as a skip marker
 * behind which the second is seen; a batch peek stops before a marker,
 * the single peek passes it and counts it. The announce stores bound.
 */
static int test_loans(void)
{
	struct shoal__bcast_slot *s[3], *again;
	struct shoal__bcast_view v[4];
	struct ring r;
	uint64_t x;

	CHECK(ring_make(&r, 8, 8, 0, 1) == 0);
	shoal__bcast_join(&r.sub[0], &r.m, 0, 0);
	for (int j = 0; j < 3; j++) {
		uint64_t val = 100 + (uint64_t)j;

		CHECK_EQ(shoal__bcast_try_loan(&r.pub, &s[j]), 0);
		CHECK(s[j] == shoal__bcast_slot_at(&r.m, (uint64_t)j));
		memcpy(shoal__bcast_payload(&r.m, s[j]), &val, 8);
	}
	CHECK_EQ(r.pub.loan_end, 3);
	CHECK_EQ(r.pub.head, 0);
	/* Loans past head announced themselves. */
	CHECK_EQ(atomic_load(&r.m.pub->bound), 3);
	/* The newest back: seq 2 is loaned again, its slot still marked. */
	shoal__bcast_unloan(&r.pub);
	CHECK_EQ(r.pub.loan_end, 2);
	CHECK_EQ(r.pub.marked_end, 3);
	CHECK(!shoal__bcast_must_gate(&r.pub));
	CHECK_EQ(shoal__bcast_try_loan(&r.pub, &again), 0);
	CHECK(again == s[2]);
	CHECK_EQ(atomic_load(&s[2]->stamp), shoal__bcast_stamp(2) | 1);
	/* Nothing shows while seq 0 is out. */
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 0, &v[0]), -EAGAIN);
	/* Seq 0 given back in the middle: a marker; then 1 and 2. */
	shoal__bcast_complete_skip(&r.pub, s[0]);
	shoal__bcast_complete(&r.pub, s[1], 8, 0, 0);
	shoal__bcast_complete(&r.pub, s[2], 8, 0, 0);
	shoal__bcast_publish(&r.pub);
	CHECK_EQ(r.pub.head, 3);
	CHECK_EQ(take_u64(&r.sub[0], &x, &v[0]), 0);
	CHECK_EQ(x, 101);
	CHECK_EQ(v[0].seq, 1);
	CHECK_EQ(r.sub[0].skipped, 1);
	CHECK_EQ(atomic_load(&r.sub[0].line->cursor), 2);
	CHECK_EQ(take_u64(&r.sub[0], &x, &v[0]), 0);
	CHECK_EQ(x, 102);
	/* A marker after a message ends a batch; the next peek passes it. */
	CHECK_EQ(pub_u64(&r, 103), 0);
	{
		struct shoal__bcast_slot *a, *b;
		uint64_t val = 105;

		CHECK_EQ(shoal__bcast_try_loan(&r.pub, &a), 0);
		CHECK_EQ(shoal__bcast_try_loan(&r.pub, &b), 0);
		memcpy(shoal__bcast_payload(&r.m, b), &val, 8);
		shoal__bcast_complete_skip(&r.pub, a);
		shoal__bcast_complete(&r.pub, b, 8, 0, 0);
		shoal__bcast_publish(&r.pub);
	}
	CHECK_EQ(shoal__bcast_peek_batch(&r.sub[0], v, 4), 1);
	CHECK_EQ(shoal__bcast_peek(&r.sub[0], 1, &v[1]), -ENOMSG);
	CHECK_EQ(v[1].seq, 4);
	shoal__bcast_advance(&r.sub[0], 1);
	CHECK_EQ(take_u64(&r.sub[0], &x, &v[0]), 0);
	CHECK_EQ(x, 105);
	CHECK_EQ(v[0].seq, 5);
	CHECK_EQ(r.sub[0].skipped, 2);
	ring_free(&r);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_region);
	RUN(test_publish_take);
	RUN(test_reliable_gating);
	RUN(test_lossy_lap);
	RUN(test_join_history);
	RUN(test_batch);
	RUN(test_dead_line);
	RUN(test_premark);
	RUN(test_hostile_words);
	RUN(test_loans);
	return test_result();
}
