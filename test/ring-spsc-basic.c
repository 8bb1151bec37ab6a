/* shoal-test: label=unit timeout=60 */
/*
 * SPSC ring in one thread: empty, full, wrap, every API variant, positions
 * that wrap through UINT64_MAX, and corrupt shared fields.
 */
#include <shoal.h>
#include <stdlib.h>

#include "harness.h"
#include "segment/layout.h"

struct ring {
	void *mem;
	uint64_t size;
	struct shoal_spsc_producer p;
	struct shoal_spsc_consumer c;
};

static int ring_make(struct ring *r, uint32_t cap, uint32_t slot,
		     uint64_t start)
{
	r->size = shoal_spsc_region_size(cap, slot);
	if (!r->size || posix_memalign(&r->mem, 64, r->size))
		return -1;
	if (shoal_spsc_format(r->mem, r->size, cap, slot, start) ||
	    shoal_spsc_producer_init(&r->p, r->mem, r->size) ||
	    shoal_spsc_consumer_init(&r->c, r->mem, r->size))
		return -1;
	return 0;
}

static int test_geometry(void)
{
	void *mem;

	CHECK_EQ(shoal_spsc_region_size(3, 8), 0);
	CHECK_EQ(shoal_spsc_region_size(1, 8), 0);
	CHECK_EQ(shoal_spsc_region_size(4, 0), 0);
	CHECK_EQ(shoal_spsc_region_size(4, SHOAL_SPSC_SLOT_MAX + 1u), 0);
	/* Slots are an 8-byte header plus the payload, 8-byte aligned. */
	CHECK_EQ(shoal_spsc_region_size(4, 8), 3 * 64 + 4 * 16);
	CHECK_EQ(shoal_spsc_region_size(4, 49), 3 * 64 + 4 * 64);
	CHECK_EQ(shoal_spsc_region_size(4, 56), 3 * 64 + 4 * 64);
	CHECK(posix_memalign(&mem, 64, 4096) == 0);
	CHECK_EQ(shoal_spsc_format(mem, 100, 4, 8, 0), -EINVAL);
	CHECK_EQ(shoal_spsc_format((char *)mem + 8, 4000, 4, 8, 0), -EINVAL);
	CHECK_EQ(shoal_spsc_format(mem, 4096, 6, 8, 0), -EINVAL);
	free(mem);
	return TEST_PASS;
}

/* Fill, drain, and wrap several times at a given start position. */
static int empty_full_wrap(uint64_t start)
{
	struct ring r;
	char buf[16];

	CHECK(ring_make(&r, 4, 8, start) == 0);
	CHECK_EQ(shoal_spsc_pop(&r.c, buf, sizeof(buf)), -EAGAIN);
	CHECK_EQ(shoal_spsc_readable(&r.c), 0);
	CHECK_EQ(shoal_spsc_writable(&r.p), 1);
	for (uint32_t lap = 0; lap < 5; lap++) {
		for (uint32_t i = 0; i < 4; i++) {
			uint64_t v = lap * 4 + i;
			CHECK_EQ(shoal_spsc_push(&r.p, &v, sizeof(v)), 0);
		}
		CHECK_EQ(shoal_spsc_writable(&r.p), 0);
		CHECK_EQ(shoal_spsc_push(&r.p, buf, 1), -EAGAIN);
		CHECK_EQ(shoal_spsc_readable(&r.c), 1);
		for (uint32_t i = 0; i < 4; i++) {
			uint64_t v = 0;
			CHECK_EQ(shoal_spsc_pop(&r.c, &v, sizeof(v)), 8);
			CHECK_EQ(v, lap * 4 + i);
		}
		CHECK_EQ(shoal_spsc_pop(&r.c, buf, sizeof(buf)), -EAGAIN);
	}
	/* Interleaved, one or two in flight, so head and tail straddle the
	 * wrap point in every combination. */
	for (uint64_t i = 0; i < 100; i++) {
		uint64_t v = i, w = 0;
		CHECK_EQ(shoal_spsc_push(&r.p, &v, sizeof(v)), 0);
		if (i % 2 == 0)
			continue;
		CHECK_EQ(shoal_spsc_pop(&r.c, &w, sizeof(w)), 8);
		CHECK_EQ(w, i - 1);
		CHECK_EQ(shoal_spsc_pop(&r.c, &w, sizeof(w)), 8);
		CHECK_EQ(w, i);
	}
	free(r.mem);
	return TEST_PASS;
}

static int test_empty_full_wrap(void)
{
	return empty_full_wrap(0);
}

static int test_wrap_near_uint64_max(void)
{
	/* Every start from 6 before the wrap to 1 after it. */
	for (uint64_t d = 0; d < 8; d++) {
		if (empty_full_wrap(UINT64_MAX - 5 + d) != TEST_PASS)
			return TEST_FAIL;
	}
	return TEST_PASS;
}

static int test_sizes_and_copy(void)
{
	struct ring r;
	char in[32], out[32];

	CHECK(ring_make(&r, 8, 32, 0) == 0);
	CHECK_EQ(shoal_spsc_slot_size(&r.p), 32);
	CHECK_EQ(shoal_spsc_capacity(&r.p), 8);
	/* The consumer's end knows the geometry too. */
	CHECK_EQ(shoal_spsc_consumer_slot_size(&r.c), 32);
	CHECK_EQ(shoal_spsc_consumer_capacity(&r.c), 8);
	CHECK_EQ(shoal_spsc_push(&r.p, in, 33), -EMSGSIZE);
	memset(in, 'x', sizeof(in));
	CHECK_EQ(shoal_spsc_push(&r.p, in, 0), 0);
	CHECK_EQ(shoal_spsc_push(&r.p, in, 32), 0);
	CHECK_EQ(shoal_spsc_pop(&r.c, out, 0), 0);
	/* Too small a buffer leaves the message where it is. */
	CHECK_EQ(shoal_spsc_pop(&r.c, out, 31), -EMSGSIZE);
	CHECK_EQ(shoal_spsc_pop(&r.c, out, 32), 32);
	CHECK(memcmp(in, out, 32) == 0);
	free(r.mem);
	return TEST_PASS;
}

static int test_zero_copy(void)
{
	struct ring r;
	void *slot;
	const void *data;
	uint32_t len;

	CHECK(ring_make(&r, 4, 16, 0) == 0);
	CHECK_EQ(shoal_spsc_commit(&r.p, 1), -EINVAL);
	CHECK_EQ(shoal_spsc_claim(&r.p, &slot), 0);
	CHECK_EQ(shoal_spsc_claim(&r.p, &slot), -EBUSY);
	CHECK_EQ(shoal_spsc_push(&r.p, "a", 1), -EBUSY);
	memcpy(slot, "hello", 5);
	/* Not visible before commit. */
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EAGAIN);
	CHECK_EQ(shoal_spsc_commit(&r.p, 17), -EMSGSIZE);
	CHECK_EQ(shoal_spsc_commit(&r.p, 5), 0);
	CHECK_EQ(shoal_spsc_release(&r.c), -EINVAL);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), 0);
	CHECK_EQ(len, 5);
	CHECK(memcmp(data, "hello", 5) == 0);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EBUSY);
	CHECK_EQ(shoal_spsc_release(&r.c), 0);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EAGAIN);

	/* Abort gives the slot back without publishing anything. */
	CHECK_EQ(shoal_spsc_claim(&r.p, &slot), 0);
	shoal_spsc_abort(&r.p);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EAGAIN);
	CHECK_EQ(shoal_spsc_push(&r.p, "z", 1), 0);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), 0);
	CHECK(len == 1 && *(const char *)data == 'z');
	CHECK_EQ(shoal_spsc_release(&r.c), 0);
	free(r.mem);
	return TEST_PASS;
}

static int test_batches(void)
{
	struct ring r;
	void *slots[16];
	uint32_t lens[16];
	struct shoal_spsc_msg msgs[16];
	uint64_t next = 0, expect = 0;

	CHECK(ring_make(&r, 8, 8, UINT64_MAX - 3) == 0);
	CHECK_EQ(shoal_spsc_claim_batch(&r.p, 0, slots), -EINVAL);
	/* Batches are capped by free space: 8 of 16 asked. */
	CHECK_EQ(shoal_spsc_claim_batch(&r.p, 16, slots), 8);
	CHECK_EQ(shoal_spsc_commit_batch(&r.p, lens, 7), -EINVAL);
	for (int i = 0; i < 8; i++) {
		memcpy(slots[i], &next, 8);
		next++;
		lens[i] = 8;
	}
	lens[3] = 9;
	CHECK_EQ(shoal_spsc_commit_batch(&r.p, lens, 8), -EMSGSIZE);
	CHECK_EQ(shoal_spsc_readable(&r.c), 0); /* nothing half-published */
	lens[3] = 8;
	CHECK_EQ(shoal_spsc_commit_batch(&r.p, lens, 8), 0);
	CHECK_EQ(shoal_spsc_claim_batch(&r.p, 4, slots), -EAGAIN);

	CHECK_EQ(shoal_spsc_peek_batch(&r.c, 3, msgs), 3);
	CHECK_EQ(shoal_spsc_peek_batch(&r.c, 3, msgs), -EBUSY);
	/* The producer still sees the ring full until the release. */
	CHECK_EQ(shoal_spsc_claim_batch(&r.p, 4, slots), -EAGAIN);
	for (int i = 0; i < 3; i++) {
		uint64_t v;
		memcpy(&v, msgs[i].data, 8);
		CHECK_EQ(v, expect);
		expect++;
	}
	CHECK_EQ(shoal_spsc_release(&r.c), 0);
	CHECK_EQ(shoal_spsc_claim_batch(&r.p, 16, slots), 3);
	for (int i = 0; i < 3; i++) {
		memcpy(slots[i], &next, 8);
		next++;
		lens[i] = 8;
	}
	CHECK_EQ(shoal_spsc_commit_batch(&r.p, lens, 3), 0);
	CHECK_EQ(shoal_spsc_peek_batch(&r.c, 16, msgs), 8);
	for (int i = 0; i < 8; i++) {
		uint64_t v;
		memcpy(&v, msgs[i].data, 8);
		CHECK_EQ(v, expect);
		expect++;
	}
	CHECK_EQ(shoal_spsc_release(&r.c), 0);
	CHECK_EQ(expect, next);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_length(void)
{
	struct ring r;
	struct shoal__spsc_slot *s;
	char buf[64];
	const void *data;
	uint32_t len;

	CHECK(ring_make(&r, 4, 8, 0) == 0);
	CHECK_EQ(shoal_spsc_push(&r.p, "a", 1), 0);
	CHECK_EQ(shoal_spsc_push(&r.p, "b", 1), 0);
	/* A hostile producer claims a length past the slot. */
	s = (struct shoal__spsc_slot *)((char *)r.mem +
					sizeof(struct shoal__spsc_ring));
	atomic_store(&s[0].state, (uint64_t)1000 << 32 | 0);
	CHECK_EQ(shoal_spsc_pop(&r.c, buf, sizeof(buf)), -EBADMSG);
	/* The bad slot was skipped: the next message comes through. */
	CHECK_EQ(shoal_spsc_pop(&r.c, buf, sizeof(buf)), 1);
	CHECK(buf[0] == 'b');
	CHECK_EQ(shoal_spsc_push(&r.p, "c", 1), 0);
	/* Slot 2: the stride is 16 bytes, two 8-byte headers. (Not
	 * 0xffffffff: that length is a skip marker, SHOAL_SPSC_SKIP.) */
	atomic_store(&s[4].state, (uint64_t)0xfffffffeu << 32 | 2);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EBADMSG);
	CHECK_EQ(shoal_spsc_peek(&r.c, &data, &len), -EAGAIN);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_tail_and_header(void)
{
	struct ring r;
	struct shoal__spsc_ring *hdr;
	struct shoal_spsc_producer p2;
	char buf[8] = { 0 };

	CHECK(ring_make(&r, 4, 8, 0) == 0);
	hdr = r.mem;
	for (int i = 0; i < 4; i++)
		CHECK_EQ(shoal_spsc_push(&r.p, buf, 8), 0);
	/* A hostile consumer moves tail past head: the producer refuses it
	 * rather than overwrite unread slots or compute a bogus count. */
	atomic_store(&hdr->tail, 1000);
	CHECK_EQ(shoal_spsc_push(&r.p, buf, 8), -EBADMSG);
	atomic_store(&hdr->tail, 0);
	CHECK_EQ(shoal_spsc_push(&r.p, buf, 8), -EAGAIN);

	/* Corrupt geometry is caught at attach time. */
	hdr->capacity = 3;
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, r.size), -EBADMSG);
	hdr->capacity = 1u << 20; /* bigger than the region */
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, r.size), -EBADMSG);
	hdr->capacity = 4;
	hdr->slot_stride = 8;
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, r.size), -EBADMSG);
	hdr->slot_stride = 16;
	hdr->magic ^= 1;
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, r.size), -EBADMSG);
	hdr->magic ^= 1;
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, r.size), 0);
	CHECK_EQ(shoal_spsc_producer_init(&p2, r.mem, 100), -EINVAL);
	free(r.mem);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_geometry);
	RUN(test_empty_full_wrap);
	RUN(test_wrap_near_uint64_max);
	RUN(test_sizes_and_copy);
	RUN(test_zero_copy);
	RUN(test_batches);
	RUN(test_corrupt_length);
	RUN(test_corrupt_tail_and_header);
	return test_result();
}
