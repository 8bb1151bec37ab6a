/* shoal-test: label=unit timeout=60 */
/*
 * MPMC ring in one thread: geometry, empty, full, wrap, positions that wrap
 * through UINT64_MAX, several handles on one ring, and corrupt shared fields.
 */
#include <shoal/ring_mpmc.h>
#include <stdlib.h>

#include "harness.h"
#include "segment/layout.h"

struct ring {
	void *mem;
	uint64_t size;
	struct shoal_mpmc a, b;
};

static int ring_make(struct ring *r, uint32_t cap, uint32_t slot,
		     uint64_t start)
{
	r->size = shoal_mpmc_region_size(cap, slot);
	if (!r->size || posix_memalign(&r->mem, 64, r->size))
		return -1;
	if (shoal_mpmc_format(r->mem, r->size, cap, slot, start) ||
	    shoal_mpmc_init(&r->a, r->mem, r->size, 1) ||
	    shoal_mpmc_init(&r->b, r->mem, r->size, 2))
		return -1;
	return 0;
}

static struct shoal__mpmc_cell *cell(struct ring *r, uint64_t pos)
{
	struct shoal__mpmc_ring *h = r->mem;

	return (struct shoal__mpmc_cell *)((unsigned char *)(h + 1) +
					   (pos & (h->capacity - 1)) *
						   h->cell_stride);
}

static int test_geometry(void)
{
	struct shoal_mpmc h;
	void *mem;

	CHECK_EQ(shoal_mpmc_region_size(3, 8), 0);
	CHECK_EQ(shoal_mpmc_region_size(1, 8), 0);
	CHECK_EQ(shoal_mpmc_region_size(4, 0), 0);
	CHECK_EQ(shoal_mpmc_region_size(4, SHOAL_MPMC_SLOT_MAX + 1u), 0);
	CHECK_EQ(shoal_mpmc_region_size(SHOAL_MPMC_CAPACITY_MAX * 2u, 8), 0);
	/* Cells are a 24-byte header plus the payload, in whole lines. */
	CHECK_EQ(shoal_mpmc_region_size(4, 8), 4 * 64 + 4 * 64);
	CHECK_EQ(shoal_mpmc_region_size(4, 40), 4 * 64 + 4 * 64);
	CHECK_EQ(shoal_mpmc_region_size(4, 41), 4 * 64 + 4 * 128);
	CHECK(posix_memalign(&mem, 64, 4096) == 0);
	CHECK_EQ(shoal_mpmc_format(mem, 100, 4, 8, 0), -EINVAL);
	CHECK_EQ(shoal_mpmc_format((char *)mem + 8, 4000, 4, 8, 0), -EINVAL);
	CHECK_EQ(shoal_mpmc_format(mem, 4096, 6, 8, 0), -EINVAL);
	CHECK_EQ(shoal_mpmc_format(NULL, 4096, 4, 8, 0), -EINVAL);
	CHECK_EQ(shoal_mpmc_format(mem, 4096, 4, 8, 0), 0);
	CHECK_EQ(shoal_mpmc_init(&h, mem, 4096, 0), -EINVAL);
	CHECK_EQ(shoal_mpmc_init(&h, (char *)mem + 8, 4000, 1), -EINVAL);
	CHECK_EQ(shoal_mpmc_init(&h, mem, 100, 1), -EINVAL);
	CHECK_EQ(shoal_mpmc_init(&h, mem, 4096, 1), 0);
	CHECK_EQ(shoal_mpmc_capacity(&h), 4);
	CHECK_EQ(shoal_mpmc_slot_size(&h), 8);
	free(mem);
	return TEST_PASS;
}

/* Fill, drain, refill across several laps, from @start. */
static int empty_full_wrap(uint64_t start)
{
	struct ring r;
	uint64_t v, pos;
	char small[4];

	CHECK(ring_make(&r, 4, 8, start) == 0);
	CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), -EAGAIN);
	for (uint64_t lap = 0; lap < 5; lap++) {
		for (uint64_t i = 0; i < 4; i++) {
			v = lap * 10 + i;
			/* Alternate handles: they share one stream. */
			CHECK_EQ(shoal_mpmc_push(i & 1 ? &r.b : &r.a, &v,
						 sizeof(v)),
				 0);
		}
		v = 99;
		CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EAGAIN);
		CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), -EAGAIN);
		/* Too small a buffer leaves the message in place. */
		CHECK_EQ(shoal_mpmc_pop(&r.a, small, sizeof(small)), -EMSGSIZE);
		for (uint64_t i = 0; i < 4; i++) {
			v = 0;
			CHECK_EQ(shoal_mpmc_pop_pos(i & 1 ? &r.a : &r.b, &v,
						    sizeof(v), &pos),
				 sizeof(v));
			CHECK_EQ(v, lap * 10 + i);
			CHECK(pos == start + lap * 4 + i);
		}
		CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), -EAGAIN);
	}
	/* Partial fill, then interleaved. */
	for (uint64_t i = 0; i < 50; i++) {
		v = i;
		CHECK_EQ(shoal_mpmc_push(&r.a, &v, (uint32_t)(i % 9)), 0);
		if (i % 3 == 2) {
			for (uint64_t k = i - 2; k <= i; k++)
				CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)),
					 k % 9);
		}
	}
	free(r.mem);
	return TEST_PASS;
}

static int test_empty_full_wrap_zero(void)
{
	return empty_full_wrap(0);
}

static int test_wrap_through_uint64_max(void)
{
	return empty_full_wrap(UINT64_MAX - 5);
}

static int test_message_sizes(void)
{
	struct ring r;
	unsigned char in[100], out[100];

	CHECK(ring_make(&r, 8, 100, UINT64_MAX - 1) == 0);
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 1);
	CHECK_EQ(shoal_mpmc_push(&r.a, in, 101), -EMSGSIZE);
	CHECK_EQ(shoal_mpmc_push(&r.a, in, 0), 0);
	CHECK_EQ(shoal_mpmc_push(&r.a, in, 100), 0);
	CHECK_EQ(shoal_mpmc_pop(&r.b, out, 0), 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ(shoal_mpmc_pop(&r.b, out, sizeof(out)), 100);
	CHECK(memcmp(in, out, 100) == 0);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_length(void)
{
	struct ring r;
	uint64_t v = 7, pos;

	CHECK(ring_make(&r, 4, 8, UINT64_MAX - 2) == 0);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	v = 8;
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	atomic_store(&cell(&r, UINT64_MAX - 2)->len, 9);
	/* Dropped, not copied; the stream goes on. */
	CHECK_EQ(shoal_mpmc_pop_pos(&r.b, &v, sizeof(v), &pos), -EBADMSG);
	CHECK(pos == UINT64_MAX - 2);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 8);
	/* A huge length must not turn into a copy either. */
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	atomic_store(&cell(&r, UINT64_MAX)->len, 0xffffffffu);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EBADMSG);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_sequence(void)
{
	struct ring r;
	uint64_t v = 1;

	CHECK(ring_make(&r, 4, 8, 100) == 0);
	/* A cell ahead of a position nobody passed is reported, not looped
	 * on forever. */
	atomic_store(&cell(&r, 100)->seq, 100 + 4);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EBADMSG);
	atomic_store(&cell(&r, 100)->seq, 100);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	atomic_store(&cell(&r, 100)->seq, 100 + 9);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EBADMSG);
	free(r.mem);
	return TEST_PASS;
}

static int test_bad_region(void)
{
	struct ring r;
	struct shoal__mpmc_ring *h;
	struct shoal_mpmc x;

	CHECK(ring_make(&r, 4, 8, 0) == 0);
	h = r.mem;
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size - 1, 1), -EBADMSG);
	h->magic ^= 1;
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	h->magic ^= 1;
	h->capacity = 3;
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	h->capacity = 8; /* does not fit the region */
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	h->capacity = 4;
	h->slot_size = 0;
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	h->slot_size = 8;
	h->cell_stride = 32;
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	h->cell_stride = 64;
	atomic_store(&h->enq_pos, 5);
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), -EBADMSG);
	atomic_store(&h->enq_pos, 4);
	CHECK_EQ(shoal_mpmc_init(&x, r.mem, r.size, 1), 0);
	free(r.mem);
	return TEST_PASS;
}

static uint64_t word(uint32_t owner, uint64_t pos)
{
	return (uint64_t)owner << SHOAL__MPMC_POS_BITS |
	       (pos & SHOAL__MPMC_POS_MASK);
}

/* The claim word names the producer of a message, then its consumer. */
static int test_claim_records_owner(void)
{
	struct ring r;
	uint64_t v = 1;

	CHECK(ring_make(&r, 4, 8, UINT64_MAX) == 0);
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
	CHECK(atomic_load(&cell(&r, UINT64_MAX)->claim) == word(2, UINT64_MAX));
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	CHECK(atomic_load(&cell(&r, 0)->claim) == word(1, 0));
	CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), sizeof(v));
	CHECK(atomic_load(&cell(&r, UINT64_MAX)->claim) == word(1, 0));
	/* Owner tokens are 22 bits; the largest is reserved. */
	CHECK_EQ(shoal_mpmc_init(&r.a, r.mem, r.size, SHOAL_MPMC_OWNER_MAX), 0);
	CHECK_EQ(shoal_mpmc_init(&r.a, r.mem, r.size, SHOAL_MPMC_OWNER_MAX + 1),
		 -EINVAL);
	free(r.mem);
	return TEST_PASS;
}

/* Owner tokens a test declares dead. */
static uint32_t dead_owner;

static int alive(uint32_t owner, void *ctx)
{
	(void)ctx;
	return owner != dead_owner;
}

/*
 * A producer that claims and never publishes (as if killed) stalls
 * consumers at its position; recover() skips exactly that position once
 * its owner is dead, and the messages around it keep their order.
 */
static int dead_producer(uint64_t start)
{
	struct ring r;
	struct shoal_mpmc c;
	struct shoal_mpmc_stats st;
	uint64_t v;
	void *slot;

	CHECK(ring_make(&r, 4, 8, start) == 0);
	CHECK_EQ(shoal_mpmc_init(&c, r.mem, r.size, 3), 0);
	v = 10;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_claim(&r.a, &slot), 0); /* owner 1 "dies" */
	v = 11;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_pop(&c, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 10);
	CHECK_EQ(shoal_mpmc_pop(&c, &v, sizeof(v)), -EAGAIN);
	/* Alive: nothing is touched. */
	dead_owner = 0;
	CHECK_EQ(shoal_mpmc_recover(&c, alive, NULL), 0);
	CHECK_EQ(shoal_mpmc_pop(&c, &v, sizeof(v)), -EAGAIN);
	dead_owner = 1;
	CHECK_EQ(shoal_mpmc_recover(&c, alive, NULL), 1);
	CHECK_EQ(shoal_mpmc_recover(&c, alive, NULL), 0);
	CHECK_EQ(shoal_mpmc_pop(&c, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 11);
	CHECK_EQ(shoal_mpmc_pop(&c, &v, sizeof(v)), -EAGAIN);
	shoal_mpmc_get_stats(&c, &st);
	CHECK_EQ(st.skipped, 1);
	CHECK_EQ(st.abandoned, 0);
	CHECK_EQ(st.enqueued - start, 3);
	CHECK_EQ(st.dequeued - start, 3);
	/* The ring goes on over several laps afterwards. */
	for (v = 0; v < 20; v++) {
		uint64_t got;

		CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
		CHECK_EQ(shoal_mpmc_pop(&c, &got, sizeof(got)), sizeof(got));
		CHECK_EQ(got, v);
	}
	free(r.mem);
	return TEST_PASS;
}

static int test_dead_producer(void)
{
	CHECK(dead_producer(0) == TEST_PASS);
	CHECK(dead_producer(UINT64_MAX - 1) == TEST_PASS);
	return TEST_PASS;
}

/*
 * A consumer that takes a message and never releases its cell (as if
 * killed) stalls producers a lap later; recover() gives the cell back and
 * counts the message as abandoned.
 */
static int test_dead_consumer(void)
{
	struct ring r;
	struct shoal_mpmc c;
	struct shoal_mpmc_stats st;
	const void *data;
	uint32_t len;
	uint64_t v;

	CHECK(ring_make(&r, 2, 8, UINT64_MAX - 2) == 0);
	CHECK_EQ(shoal_mpmc_init(&c, r.mem, r.size, 3), 0);
	for (v = 0; v < 2; v++)
		CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_peek(&c, &data, &len), 0); /* owner 3 "dies" */
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 1);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EAGAIN);
	dead_owner = 2; /* someone else */
	CHECK_EQ(shoal_mpmc_recover(&r.a, alive, NULL), 0);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EAGAIN);
	dead_owner = 3;
	CHECK_EQ(shoal_mpmc_recover(&r.a, alive, NULL), 1);
	v = 7;
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 7);
	shoal_mpmc_get_stats(&r.a, &st);
	CHECK_EQ(st.abandoned, 1);
	CHECK_EQ(st.skipped, 0);
	free(r.mem);
	return TEST_PASS;
}

/* A consumer that released its cell and then died lost nothing: recover()
 * must not count it, nor touch a published message of a producer that
 * died after publishing. */
static int test_recover_leaves_finished_work(void)
{
	struct ring r;
	struct shoal_mpmc_stats st;
	uint64_t v = 4;

	CHECK(ring_make(&r, 2, 8, 0) == 0);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0); /* then dies */
	dead_owner = 1;
	CHECK_EQ(shoal_mpmc_recover(&r.b, alive, NULL), 0);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 4);
	dead_owner = 2; /* the consumer, after its release */
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_recover(&r.a, alive, NULL), 0);
	shoal_mpmc_get_stats(&r.a, &st);
	CHECK_EQ(st.skipped + st.abandoned, 0);
	free(r.mem);
	return TEST_PASS;
}

/*
 * A skip that its maker did not finish (it died between marking the cell
 * and moving seq) is finished by the next recover(), and not counted: the
 * head as an abort or recoverer leaves it, the tail as a consumer passing a
 * skip leaves it.
 */
static int test_recover_finishes_a_skip(void)
{
	struct ring r;
	struct shoal_mpmc_stats st;
	uint64_t v = 9;
	void *slot;

	CHECK(ring_make(&r, 2, 8, UINT64_MAX) == 0);
	CHECK_EQ(shoal_mpmc_claim(&r.a, &slot), 0);
	/* Head: the claimant's word became a skip mark, seq never moved. */
	atomic_store(&cell(&r, UINT64_MAX)->claim,
		     word(SHOAL__MPMC_SKIP, UINT64_MAX));
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	dead_owner = 0;
	CHECK_EQ(shoal_mpmc_recover(&r.b, alive, NULL), 0);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	v = 5;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 5);
	/* Tail: position 0's cell (lap of 0) is marked "skip of 1" with seq
	 * at 1, as a consumer passing a skip leaves it before freeing. */
	v = 6;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0); /* position 1 */
	atomic_store(&cell(&r, 0)->claim, word(SHOAL__MPMC_SKIP, 1));
	atomic_store(&cell(&r, 0)->seq, 1);
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), -EAGAIN);
	CHECK_EQ(shoal_mpmc_recover(&r.b, alive, NULL), 0);
	v = 7;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0); /* position 2 */
	shoal_mpmc_get_stats(&r.b, &st);
	CHECK_EQ(st.skipped + st.abandoned, 0);
	free(r.mem);
	return TEST_PASS;
}

/* An aborted claim is passed over by consumers; order around it holds. */
static int test_abort(void)
{
	struct ring r;
	uint64_t v;
	void *slot;

	CHECK(ring_make(&r, 2, 8, UINT64_MAX) == 0);
	CHECK_EQ(shoal_mpmc_abort(&r.a), -EINVAL);
	for (int lap = 0; lap < 3; lap++) {
		CHECK_EQ(shoal_mpmc_claim(&r.a, &slot), 0);
		v = 1;
		CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
		CHECK_EQ(shoal_mpmc_abort(&r.a), 0);
		CHECK_EQ(shoal_mpmc_abort(&r.a), -EINVAL);
		CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
		CHECK_EQ(v, 1);
		CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	}
	free(r.mem);
	return TEST_PASS;
}

static int test_claim_commit(void)
{
	struct ring r;
	uint64_t v;
	void *slot, *slot2;

	CHECK(ring_make(&r, 2, 8, UINT64_MAX - 1) == 0);
	CHECK_EQ(shoal_mpmc_commit(&r.a, 8), -EINVAL);
	CHECK_EQ(shoal_mpmc_claim(&r.a, &slot), 0);
	CHECK_EQ(shoal_mpmc_claim(&r.a, &slot2), -EBUSY);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EBUSY);
	/* Claimed, not committed: a consumer sees nothing yet, and a later
	 * push by another handle waits behind it in position order. */
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	v = 2;
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_push(&r.b, &v, sizeof(v)), -EAGAIN);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EAGAIN);
	v = 1;
	memcpy(slot, &v, sizeof(v));
	CHECK_EQ(shoal_mpmc_commit(&r.a, 9), -EMSGSIZE);
	CHECK_EQ(shoal_mpmc_commit(&r.a, sizeof(v)), 0);
	CHECK_EQ(shoal_mpmc_commit(&r.a, sizeof(v)), -EINVAL);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 1);
	CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, 2);
	CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), -EAGAIN);
	free(r.mem);
	return TEST_PASS;
}

static int test_peek_release(void)
{
	struct ring r;
	uint64_t v = 5;
	const void *data;
	uint32_t len;

	CHECK(ring_make(&r, 2, 8, UINT64_MAX) == 0);
	CHECK_EQ(shoal_mpmc_release(&r.b), -EINVAL);
	CHECK_EQ(shoal_mpmc_peek(&r.b, &data, &len), -EAGAIN);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	v = 6;
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, 4), 0);
	CHECK_EQ(shoal_mpmc_peek(&r.b, &data, &len), 0);
	CHECK_EQ(len, sizeof(v));
	CHECK_EQ(*(const uint64_t *)data, 5);
	CHECK_EQ(shoal_mpmc_peek(&r.b, &data, &len), -EBUSY);
	CHECK_EQ(shoal_mpmc_pop(&r.b, &v, sizeof(v)), -EBUSY);
	/* Peeked, not released: the cell is not free for the next lap. */
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), -EAGAIN);
	/* Another handle goes on to the next message meanwhile. */
	CHECK_EQ(shoal_mpmc_pop(&r.a, &v, sizeof(v)), 4);
	CHECK_EQ(shoal_mpmc_release(&r.b), 0);
	CHECK_EQ(shoal_mpmc_release(&r.b), -EINVAL);
	CHECK_EQ(shoal_mpmc_push(&r.a, &v, sizeof(v)), 0);
	/* A corrupt length is dropped by peek too. */
	atomic_store(&cell(&r, 1)->len, 100);
	CHECK_EQ(shoal_mpmc_peek(&r.b, &data, &len), -EBADMSG);
	CHECK_EQ(shoal_mpmc_peek(&r.b, &data, &len), -EAGAIN);
	CHECK_EQ(shoal_mpmc_release(&r.b), -EINVAL);
	free(r.mem);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_geometry);
	RUN(test_empty_full_wrap_zero);
	RUN(test_wrap_through_uint64_max);
	RUN(test_message_sizes);
	RUN(test_corrupt_length);
	RUN(test_corrupt_sequence);
	RUN(test_bad_region);
	RUN(test_claim_records_owner);
	RUN(test_claim_commit);
	RUN(test_peek_release);
	RUN(test_dead_producer);
	RUN(test_dead_consumer);
	RUN(test_recover_leaves_finished_work);
	RUN(test_recover_finishes_a_skip);
	RUN(test_abort);
	return test_result();
}
