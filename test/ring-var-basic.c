/* shoal-test: label=unit timeout=60 */
/*
 * Variable-length ring in one thread, in both modes (SPSC and MPSC): sizes,
 * empty and full, padding at the wrap, positions that start anywhere near
 * UINT64_MAX, claim/commit (also shorter than claimed), abort, peek, batch,
 * out-of-order MPSC commits, max_message from every offset, stale payload
 * that looks like a header, and corrupt shared fields (which must give
 * -EBADMSG, never a read or write out of bounds: run under ASan).
 */
#include <shoal/ring_var.h>
#include <stdlib.h>

#include "harness.h"
#include "ring/ring_var_layout.h"

static const uint32_t modes[] = { SHOAL_VARRING_SPSC, SHOAL_VARRING_MPSC };

struct ring {
	void *mem;
	uint64_t size, cap;
	struct shoal__varring *hdr;
	unsigned char *data;
	struct shoal_varring_producer p;
	struct shoal_varring_consumer c;
};

static int ring_make(struct ring *r, uint64_t cap, uint32_t flags,
		     uint64_t start)
{
	r->cap = cap;
	r->size = shoal_varring_region_size(cap);
	if (!r->size || posix_memalign(&r->mem, 64, r->size))
		return -1;
	r->hdr = r->mem;
	r->data = (unsigned char *)r->mem + sizeof(struct shoal__varring);
	if (shoal_varring_format(r->mem, r->size, cap, flags, start) ||
	    shoal_varring_producer_init(&r->p, r->mem, r->size) ||
	    shoal_varring_consumer_init(&r->c, r->mem, r->size))
		return -1;
	return 0;
}

/* Message @i: @len bytes that depend on i. */
static void fill(unsigned char *p, uint64_t i, uint32_t len)
{
	for (uint32_t k = 0; k < len; k++)
		p[k] = (unsigned char)(i * 37 + k * 11 + 1);
}

static int same(const unsigned char *p, uint64_t i, uint32_t len)
{
	for (uint32_t k = 0; k < len; k++)
		if (p[k] != (unsigned char)(i * 37 + k * 11 + 1))
			return 0;
	return 1;
}

static uint64_t span(uint32_t len)
{
	return (8 + (uint64_t)len + 7) & ~7ull;
}

static int test_geometry(void)
{
	struct shoal_varring_producer p;
	struct shoal_varring_consumer c;
	void *mem;

	CHECK_EQ(shoal_varring_region_size(0), 0);
	CHECK_EQ(shoal_varring_region_size(32), 0);
	CHECK_EQ(shoal_varring_region_size(96), 0);
	CHECK_EQ(shoal_varring_region_size(2ull << 30), 0);
	CHECK_EQ(shoal_varring_region_size(64), 256 + 64);
	CHECK_EQ(shoal_varring_region_size(1 << 20), 256 + (1 << 20));
	CHECK_EQ(SHOAL_VARRING_MAX_MESSAGE(64), 24);
	CHECK_EQ(SHOAL_VARRING_MAX_MESSAGE(128 * 1024), 65528);
	CHECK(posix_memalign(&mem, 64, 4096) == 0);
	CHECK_EQ(shoal_varring_format(mem, 100, 64, 0, 0), -EINVAL);
	CHECK_EQ(shoal_varring_format((char *)mem + 8, 4000, 64, 0, 0),
		 -EINVAL);
	CHECK_EQ(shoal_varring_format(mem, 4096, 96, 0, 0), -EINVAL);
	CHECK_EQ(shoal_varring_format(mem, 4096, 64, 2, 0), -EINVAL);
	CHECK_EQ(shoal_varring_format(mem, 4096, 64, 0, 4), -EINVAL);
	CHECK_EQ(shoal_varring_format(NULL, 4096, 64, 0, 0), -EINVAL);
	CHECK_EQ(shoal_varring_format(mem, 4096, 1024, SHOAL_VARRING_MPSC,
				      UINT64_MAX - 7),
		 0);
	CHECK_EQ(shoal_varring_producer_init(NULL, mem, 4096), -EINVAL);
	CHECK_EQ(shoal_varring_consumer_init(&c, NULL, 4096), -EINVAL);
	CHECK_EQ(shoal_varring_consumer_init(&c, (char *)mem + 8, 4000),
		 -EINVAL);
	CHECK_EQ(shoal_varring_producer_init(&p, mem, 100), -EINVAL);
	/* Region smaller than the geometry says. */
	CHECK_EQ(shoal_varring_producer_init(&p, mem, 1000), -EBADMSG);
	CHECK_EQ(shoal_varring_producer_init(&p, mem, 4096), 0);
	CHECK_EQ(shoal_varring_capacity(&p), 1024);
	CHECK_EQ(shoal_varring_max_message(&p), 504);
	CHECK_EQ(shoal_varring_consumer_init(&c, mem, 4096), 0);
	free(mem);
	return TEST_PASS;
}

static int test_corrupt_geometry(void)
{
	struct shoal_varring_producer p;
	struct shoal_varring_consumer c;
	struct ring r;

	CHECK(ring_make(&r, 1024, SHOAL_VARRING_MPSC, 0) == 0);
	r.hdr->magic ^= 1;
	CHECK_EQ(shoal_varring_producer_init(&p, r.mem, r.size), -EBADMSG);
	r.hdr->magic ^= 1;
	r.hdr->capacity = 2048;
	CHECK_EQ(shoal_varring_producer_init(&p, r.mem, r.size), -EBADMSG);
	r.hdr->capacity = 1000;
	CHECK_EQ(shoal_varring_consumer_init(&c, r.mem, r.size), -EBADMSG);
	r.hdr->capacity = 1024;
	r.hdr->max_message = 1000;
	CHECK_EQ(shoal_varring_consumer_init(&c, r.mem, r.size), -EBADMSG);
	r.hdr->max_message = 504;
	r.hdr->flags = 7;
	CHECK_EQ(shoal_varring_consumer_init(&c, r.mem, r.size), -EBADMSG);
	r.hdr->flags = SHOAL_VARRING_MPSC;
	atomic_store(&r.hdr->head, 4);
	atomic_store(&r.hdr->tail, 4);
	CHECK_EQ(shoal_varring_consumer_init(&c, r.mem, r.size), -EBADMSG);
	atomic_store(&r.hdr->head, 0);
	atomic_store(&r.hdr->tail, 2048);
	CHECK_EQ(shoal_varring_producer_init(&p, r.mem, r.size), -EBADMSG);
	atomic_store(&r.hdr->tail, 1024);
	CHECK_EQ(shoal_varring_producer_init(&p, r.mem, r.size), 0);
	free(r.mem);
	return TEST_PASS;
}

static int basic_sizes(uint32_t flags)
{
	unsigned char in[600], out[600];
	struct ring r;

	CHECK(ring_make(&r, 1024, flags, 0) == 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	CHECK_EQ(shoal_varring_readable(&r.c), 0);
	CHECK_EQ(shoal_varring_writable(&r.p, 504), 1);
	CHECK_EQ(shoal_varring_writable(&r.p, 505), 0);
	CHECK_EQ(shoal_varring_push(&r.p, in, 505), -EMSGSIZE);
	for (uint32_t len = 0; len <= 17; len++) {
		fill(in, len, len);
		CHECK_EQ(shoal_varring_push(&r.p, in, len), 0);
		CHECK_EQ(shoal_varring_readable(&r.c), 1);
		/* Too small a buffer leaves the message. */
		if (len)
			CHECK_EQ(shoal_varring_pop(&r.c, out, len - 1),
				 -EMSGSIZE);
		CHECK_EQ(shoal_varring_pop(&r.c, out, len), len);
		CHECK(same(out, len, len));
		/* Positions move by the 8-aligned record size. */
	}
	CHECK_EQ(atomic_load(&r.hdr->head), atomic_load(&r.hdr->tail));
	fill(in, 7, 504);
	CHECK_EQ(shoal_varring_push(&r.p, in, 504), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 504);
	CHECK(same(out, 7, 504));
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	free(r.mem);
	return TEST_PASS;
}

static int test_basic_sizes(void)
{
	for (int m = 0; m < 2; m++)
		if (basic_sizes(modes[m]) != TEST_PASS)
			return TEST_FAIL;
	return TEST_PASS;
}

/* A full ring refuses exactly when the bytes run out. */
static int full(uint32_t flags, uint64_t start)
{
	unsigned char in[64], out[64];
	struct ring r;
	uint32_t n = 0;
	uint64_t left;

	CHECK(ring_make(&r, 1024, flags, start) == 0);
	/* 40-byte payloads take 48 bytes; 1024 / 48 = 21 with 16 left,
	 * unless a wrap pad takes some. */
	while (shoal_varring_push(&r.p, in, 40) == 0)
		n++;
	/* 40-byte payloads take 48 bytes: 21 fit in 1024, or 20 when the
	 * padding at the wrap takes more than 1024 - 21 * 48 = 16 bytes. */
	CHECK(n == 21 || n == 20);
	left = 1024 - (atomic_load(&r.hdr->tail) - atomic_load(&r.hdr->head));
	CHECK(left < 48);
	CHECK_EQ(shoal_varring_writable(&r.p, 40), 0);
	CHECK_EQ(shoal_varring_push(&r.p, in, 40), -EAGAIN);
	/* The last bytes still take a record that fits before the end. */
	if (left >= 16 && (atomic_load(&r.hdr->tail) & 1023) + left <= 1024) {
		CHECK_EQ(shoal_varring_push(&r.p, in, (uint32_t)left - 8), 0);
		CHECK_EQ(shoal_varring_push(&r.p, in, 0), -EAGAIN);
		n++;
	}
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 40);
	CHECK_EQ(shoal_varring_writable(&r.p, 40), 1);
	free(r.mem);
	return TEST_PASS;
}

static int test_full(void)
{
	for (int m = 0; m < 2; m++) {
		if (full(modes[m], 0) != TEST_PASS ||
		    full(modes[m], UINT64_MAX - 7) != TEST_PASS ||
		    full(modes[m], 512) != TEST_PASS)
			return TEST_FAIL;
	}
	return TEST_PASS;
}

/*
 * A stream of lengths 0..max through a small ring, one to four records in
 * flight, from a start position: every record crosses the wrap point and
 * UINT64_MAX somewhere.
 */
static int stream(uint32_t flags, uint64_t start)
{
	unsigned char in[128], out[128];
	struct ring r;
	uint64_t sent = 0, got = 0;

	CHECK(ring_make(&r, 256, flags, start) == 0);
	for (uint64_t step = 0; step < 3000; step++) {
		uint32_t burst = 1 + (uint32_t)(step % 4);

		for (uint32_t k = 0; k < burst; k++) {
			uint32_t len = (uint32_t)(sent * 7 % 121);
			int rc;

			fill(in, sent, len);
			rc = shoal_varring_push(&r.p, in, len);
			if (rc == -EAGAIN)
				break;
			CHECK_EQ(rc, 0);
			sent++;
		}
		while (got < sent) {
			ssize_t n = shoal_varring_pop(&r.c, out, sizeof(out));

			CHECK_EQ(n, (ssize_t)(got * 7 % 121));
			CHECK(same(out, got, (uint32_t)n));
			got++;
			if (step % 3 == 0)
				break; /* leave some in flight */
		}
	}
	while (got < sent) {
		ssize_t n = shoal_varring_pop(&r.c, out, sizeof(out));

		CHECK_EQ(n, (ssize_t)(got * 7 % 121));
		CHECK(same(out, got, (uint32_t)n));
		got++;
	}
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	CHECK(sent > 2000);
	/* Everything consumed is zero again. */
	for (uint64_t i = 0; i < r.cap; i++)
		CHECK_EQ(r.data[i], 0);
	free(r.mem);
	return TEST_PASS;
}

static int test_wrap_near_uint64_max(void)
{
	for (int m = 0; m < 2; m++) {
		/* Every 8-aligned offset of the 256-byte ring, starting
		 * from 256 bytes before the wrap to 64 after it. */
		for (uint64_t d = 0; d <= 320; d += 8)
			if (stream(modes[m], UINT64_MAX - 7 - 256 + d) !=
			    TEST_PASS)
				return TEST_FAIL;
		if (stream(modes[m], 0x123456789abcdef0ull) != TEST_PASS)
			return TEST_FAIL;
	}
	return TEST_PASS;
}

static int claim_commit_abort(uint32_t flags)
{
	unsigned char out[600];
	const void *data;
	struct ring r;
	uint32_t len;
	void *ptr, *ptr2;

	CHECK(ring_make(&r, 1024, flags, UINT64_MAX - 15) == 0);
	CHECK_EQ(shoal_varring_commit(&r.p, 1), -EINVAL);
	CHECK_EQ(shoal_varring_abort(&r.p), -EINVAL);
	CHECK_EQ(shoal_varring_claim(&r.p, 505, &ptr), -EMSGSIZE);
	CHECK_EQ(shoal_varring_claim(&r.p, 100, &ptr), 0);
	CHECK_EQ((uintptr_t)ptr % 8, 0);
	CHECK_EQ(shoal_varring_claim(&r.p, 1, &ptr2), -EBUSY);
	CHECK_EQ(shoal_varring_push(&r.p, "x", 1), -EBUSY);
	CHECK_EQ(shoal_varring_writable(&r.p, 1), 0);
	fill(ptr, 1, 100);
	/* Not visible before commit. */
	CHECK_EQ(shoal_varring_peek(&r.c, &data, &len), -EAGAIN);
	CHECK_EQ(shoal_varring_readable(&r.c), 0);
	CHECK_EQ(shoal_varring_commit(&r.p, 101), -EMSGSIZE);
	/* Commit less than claimed: the rest becomes padding. */
	CHECK_EQ(shoal_varring_commit(&r.p, 30), 0);
	CHECK_EQ(shoal_varring_commit(&r.p, 30), -EINVAL);
	CHECK_EQ(shoal_varring_push(&r.p, "after", 5), 0);
	CHECK_EQ(shoal_varring_peek(&r.c, &data, &len), 0);
	CHECK_EQ(len, 30);
	CHECK(same(data, 1, 30));
	CHECK_EQ(shoal_varring_peek(&r.c, &data, &len), -EBUSY);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EBUSY);
	CHECK_EQ(shoal_varring_release(&r.c), 0);
	CHECK_EQ(shoal_varring_release(&r.c), -EINVAL);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 5);
	CHECK(memcmp(out, "after", 5) == 0);

	/* Abort: the consumer skips the record. */
	CHECK_EQ(shoal_varring_claim(&r.p, 200, &ptr), 0);
	memset(ptr, 0xee, 200);
	CHECK_EQ(shoal_varring_abort(&r.p), 0);
	CHECK_EQ(shoal_varring_aborted(&r.c), 1);
	CHECK_EQ(shoal_varring_readable(&r.c), 1); /* padding to release */
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	CHECK_EQ(shoal_varring_readable(&r.c), 0);
	CHECK_EQ(atomic_load(&r.hdr->head), atomic_load(&r.hdr->tail));
	CHECK_EQ(shoal_varring_claim(&r.p, 8, &ptr), 0);
	CHECK_EQ(shoal_varring_abort(&r.p), 0);
	CHECK_EQ(shoal_varring_push(&r.p, "z", 1), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 1);
	CHECK_EQ(out[0], 'z');
	CHECK_EQ(shoal_varring_aborted(&r.c), 2);
	/* Zero-length records. */
	CHECK_EQ(shoal_varring_claim(&r.p, 0, &ptr), 0);
	CHECK_EQ(shoal_varring_commit(&r.p, 0), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, NULL, 0), 0);
	for (uint64_t i = 0; i < r.cap; i++)
		CHECK_EQ(r.data[i], 0);
	free(r.mem);
	return TEST_PASS;
}

static int test_claim_commit_abort(void)
{
	for (int m = 0; m < 2; m++)
		if (claim_commit_abort(modes[m]) != TEST_PASS)
			return TEST_FAIL;
	return TEST_PASS;
}

static int test_mpsc_out_of_order_commit(void)
{
	struct shoal_varring_producer p2;
	unsigned char out[64];
	struct ring r;
	void *a, *b;

	CHECK(ring_make(&r, 1024, SHOAL_VARRING_MPSC, 0) == 0);
	CHECK_EQ(shoal_varring_producer_init(&p2, r.mem, r.size), 0);
	CHECK_EQ(shoal_varring_claim(&r.p, 10, &a), 0);
	CHECK_EQ(shoal_varring_claim(&p2, 20, &b), 0);
	CHECK((unsigned char *)b == (unsigned char *)a + span(10));
	fill(b, 2, 20);
	CHECK_EQ(shoal_varring_commit(&p2, 20), 0);
	/* The consumer stops at the first uncommitted record. */
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	fill(a, 1, 10);
	CHECK_EQ(shoal_varring_commit(&r.p, 10), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 10);
	CHECK(same(out, 1, 10));
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 20);
	CHECK(same(out, 2, 20));
	/* An abort behind a commit. */
	CHECK_EQ(shoal_varring_claim(&r.p, 10, &a), 0);
	CHECK_EQ(shoal_varring_push(&p2, "hi", 2), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
	CHECK_EQ(shoal_varring_abort(&r.p), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 2);
	free(r.mem);
	return TEST_PASS;
}

static int peek_batch(uint32_t flags)
{
	struct shoal_varring_msg m[8];
	unsigned char in[200];
	struct ring r;
	void *ptr;

	CHECK(ring_make(&r, 512, flags, 512 - 64) == 0);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 0, m), -EINVAL);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 8, m), -EAGAIN);
	for (uint32_t i = 0; i < 5; i++) {
		fill(in, i, 20 + i);
		CHECK_EQ(shoal_varring_push(&r.p, in, 20 + i), 0);
		if (i == 2) {
			/* Padding inside the batch. */
			CHECK_EQ(shoal_varring_claim(&r.p, 30, &ptr), 0);
			CHECK_EQ(shoal_varring_abort(&r.p), 0);
		}
	}
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 3, m), 3);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 3, m), -EBUSY);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ(m[i].len, 20 + i);
		CHECK(same(m[i].data, i, 20 + i));
	}
	CHECK_EQ(shoal_varring_release(&r.c), 0);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 8, m), 2);
	CHECK_EQ(m[0].len, 23);
	CHECK(same(m[1].data, 4, 24));
	/* A claimed record after them is not in the batch... */
	CHECK_EQ(shoal_varring_claim(&r.p, 150, &ptr), 0);
	CHECK_EQ(shoal_varring_release(&r.c), 0);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 8, m), -EAGAIN);
	/* ...until it is committed (across the wrap, after padding). */
	fill(ptr, 9, 150);
	CHECK_EQ(shoal_varring_commit(&r.p, 150), 0);
	CHECK_EQ(shoal_varring_push(&r.p, in, 1), 0);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 8, m), 2);
	CHECK_EQ(m[0].len, 150);
	CHECK(same(m[0].data, 9, 150));
	CHECK_EQ(shoal_varring_release(&r.c), 0);
	CHECK_EQ(atomic_load(&r.hdr->head), atomic_load(&r.hdr->tail));
	free(r.mem);
	return TEST_PASS;
}

static int test_peek_batch(void)
{
	for (int m = 0; m < 2; m++)
		if (peek_batch(modes[m]) != TEST_PASS)
			return TEST_FAIL;
	return TEST_PASS;
}

/* The largest message fits from every offset of an empty ring. */
static int test_max_message_every_offset(void)
{
	static unsigned char in[1024], out[1024];

	for (int m = 0; m < 2; m++) {
		for (uint64_t cap = 64; cap <= 2048; cap *= 2) {
			uint32_t max = SHOAL_VARRING_MAX_MESSAGE(cap);
			struct ring r;

			CHECK(ring_make(&r, cap, modes[m], 0) == 0);
			CHECK_EQ(shoal_varring_max_message(&r.p), max);
			for (uint64_t off = 0; off < cap; off += 8) {
				fill(in, off, max);
				CHECK_EQ(shoal_varring_push(&r.p, in, max), 0);
				CHECK_EQ(shoal_varring_pop(&r.c, out, max),
					 max);
				CHECK(same(out, off, max));
				/* Move on by 8 bytes. */
				CHECK_EQ(shoal_varring_push(&r.p, in, 0), 0);
				CHECK_EQ(shoal_varring_pop(&r.c, out, 0), 0);
			}
			free(r.mem);
		}
	}
	return TEST_PASS;
}

/*
 * Payload bytes of an earlier lap that are exactly the header a later record
 * would have at their position must not be read as that record: consumed
 * bytes are zeroed.
 */
static int test_stale_payload_is_not_a_header(void)
{
	unsigned char out[256];
	uint64_t words[16];
	struct ring r;

	for (int m = 0; m < 2; m++) {
		uint64_t start = UINT64_MAX - 127;

		CHECK(ring_make(&r, 256, modes[m], start) == 0);
		/* One 128-byte record at start (8 header + 120 payload):
		 * its payload covers positions start+8..start+128; fill it
		 * with the headers of 8-byte records one lap later. */
		for (int i = 0; i < 15; i++) {
			uint64_t pos = start + 256 + 8 + 8 * (uint64_t)i;

			words[i] = SHOAL__VARRING_HDR_COMMITTED |
				   (uint64_t)0 << 32 | (uint32_t)(pos >> 3);
		}
		CHECK_EQ(shoal_varring_push(&r.p, words, 120), 0);
		CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 120);
		/* Go round to just before those positions. */
		CHECK_EQ(shoal_varring_push(&r.p, out, 120), 0);
		CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 120);
		CHECK_EQ(shoal_varring_push(&r.p, out, 0), 0);
		CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), 0);
		CHECK_EQ(atomic_load(&r.hdr->head), start + 256 + 8);
		CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EAGAIN);
		free(r.mem);
	}
	return TEST_PASS;
}

/* Writes header word @h at position @pos of the ring. */
static void poke(struct ring *r, uint64_t pos, uint64_t h)
{
	memcpy(r->data + (pos & (r->cap - 1)), &h, 8);
}

static uint64_t hdr(uint64_t pos, int pad, uint64_t len)
{
	return (pad ? SHOAL__VARRING_HDR_PAD : 0) |
	       SHOAL__VARRING_HDR_COMMITTED | len << 32 | (uint32_t)(pos >> 3);
}

static int corrupt_record(uint64_t pos_off, uint64_t h_word)
{
	struct shoal_varring_msg m[4];
	unsigned char out[600];
	const void *data;
	struct ring r;
	uint32_t len;

	CHECK(ring_make(&r, 1024, SHOAL_VARRING_SPSC, 1024 - 64) == 0);
	(void)pos_off;
	poke(&r, 1024 - 64, h_word);
	CHECK_EQ(shoal_varring_readable(&r.c), 1);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EBADMSG);
	/* It stays: the stream cannot be trusted past it. */
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EBADMSG);
	CHECK_EQ(shoal_varring_peek(&r.c, &data, &len), -EBADMSG);
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 4, m), -EBADMSG);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_records(void)
{
	uint64_t p = 1024 - 64;

	/* Wrong tag: a header of another position. */
	CHECK(corrupt_record(0, hdr(p + 1024, 0, 8)) == TEST_PASS);
	CHECK(corrupt_record(0, hdr(p - 8, 0, 8)) == TEST_PASS);
	/* No COMMITTED bit. */
	CHECK(corrupt_record(0, hdr(p, 0, 8) & ~SHOAL__VARRING_HDR_COMMITTED) ==
	      TEST_PASS);
	/* Lengths that cross the end of the ring or exceed the maximum. */
	CHECK(corrupt_record(0, hdr(p, 0, 57)) == TEST_PASS);
	CHECK(corrupt_record(0, hdr(p, 0, 0x3fffffff)) == TEST_PASS);
	CHECK(corrupt_record(0, hdr(p, 1, 72)) == TEST_PASS);
	CHECK(corrupt_record(0, hdr(p, 1, 12)) == TEST_PASS);
	CHECK(corrupt_record(0, hdr(p, 1, 0)) == TEST_PASS);
	return TEST_PASS;
}

static int test_corrupt_record_after_good_ones(void)
{
	struct shoal_varring_msg m[4];
	unsigned char out[64];
	struct ring r;

	CHECK(ring_make(&r, 1024, SHOAL_VARRING_SPSC, 0) == 0);
	CHECK_EQ(shoal_varring_push(&r.p, "ab", 2), 0);
	CHECK_EQ(shoal_varring_push(&r.p, "cd", 2), 0);
	poke(&r, 32, hdr(32 + 1024, 0, 1));
	CHECK_EQ(shoal_varring_peek_batch(&r.c, 4, m), 2);
	CHECK_EQ(shoal_varring_release(&r.c), 0);
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EBADMSG);
	/* A pad that would walk the consumer past a whole ring. */
	free(r.mem);
	CHECK(ring_make(&r, 64, SHOAL_VARRING_SPSC, 0) == 0);
	for (uint64_t pos = 0; pos < 128; pos += 32)
		poke(&r, pos, hdr(pos, 1, 32));
	CHECK_EQ(shoal_varring_pop(&r.c, out, sizeof(out)), -EBADMSG);
	free(r.mem);
	return TEST_PASS;
}

static int test_corrupt_positions(void)
{
	static const unsigned char blob[24];
	struct ring r;
	void *ptr;

	/* MPSC producers read tail each time. */
	CHECK(ring_make(&r, 1024, SHOAL_VARRING_MPSC, 0) == 0);
	atomic_store(&r.hdr->tail, 4);
	CHECK_EQ(shoal_varring_push(&r.p, "a", 1), -EBADMSG);
	CHECK_EQ(shoal_varring_claim(&r.p, 1, &ptr), -EBADMSG);
	atomic_store(&r.hdr->tail, 2048 + 8);
	CHECK_EQ(shoal_varring_push(&r.p, "a", 1), -EBADMSG);
	atomic_store(&r.hdr->tail, 0);
	CHECK_EQ(shoal_varring_push(&r.p, "a", 1), 0);
	/* Head ahead of tail: a race between the two loads for MPSC at
	 * attach, but a tail that stays behind it is corruption. */
	atomic_store(&r.hdr->head, 4096);
	CHECK_EQ(shoal_varring_producer_init(&r.p, r.mem, r.size), 0);
	CHECK_EQ(shoal_varring_push(&r.p, "a", 1), -EBADMSG);
	r.hdr->flags = SHOAL_VARRING_SPSC;
	CHECK_EQ(shoal_varring_producer_init(&r.p, r.mem, r.size), -EBADMSG);
	free(r.mem);
	/* A head that is not within a ring of tail. */
	for (int m = 0; m < 2; m++) {
		CHECK(ring_make(&r, 64, modes[m], 0) == 0);
		CHECK_EQ(shoal_varring_push(&r.p, blob, 24), 0);
		CHECK_EQ(shoal_varring_push(&r.p, blob, 24), 0);
		atomic_store(&r.hdr->head, 1u << 20);
		CHECK_EQ(shoal_varring_push(&r.p, blob, 24), -EBADMSG);
		atomic_store(&r.hdr->head, 4);
		CHECK_EQ(shoal_varring_push(&r.p, blob, 24), -EBADMSG);
		free(r.mem);
	}
	return TEST_PASS;
}

int main(void)
{
	RUN(test_geometry);
	RUN(test_corrupt_geometry);
	RUN(test_basic_sizes);
	RUN(test_full);
	RUN(test_wrap_near_uint64_max);
	RUN(test_claim_commit_abort);
	RUN(test_mpsc_out_of_order_commit);
	RUN(test_peek_batch);
	RUN(test_max_message_every_offset);
	RUN(test_stale_payload_is_not_a_header);
	RUN(test_corrupt_records);
	RUN(test_corrupt_record_after_good_ones);
	RUN(test_corrupt_positions);
	return test_result();
}
