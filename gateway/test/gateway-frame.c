/* shoal-test: label=unit timeout=120 */
/*
 * The lossy batch frame (gateway/frame.c, docs/gateway.md): what the writer
 * packs the reader gives back, field by field; and the reader, fed what an
 * untrusted far gateway could send (every truncation of a good frame,
 * lengths and counts that lie, another version, random damage), refuses it
 * or reads only inside the bytes it was given. Each case copies the frame
 * into a buffer of exactly its length, so AddressSanitizer builds see any
 * read past it.
 */
#include <shoal.h>

#include "harness.h"

#include "../frame.c"

#define TYPE "pose;24;8"
#define UH 8

static unsigned char frame[8192];
static size_t frame_len;

/* A frame of 5 records, payload i of 10 * i bytes of value i. */
static int build(void)
{
	struct gw_frame_writer w;
	unsigned char data[64], uh[UH];

	CHECK_EQ(gw_frame_begin(&w, frame, sizeof(frame), TYPE), 0);
	for (uint32_t i = 0; i < 5; i++) {
		memset(data, (int)i, sizeof(data));
		memset(uh, 0xa0 + (int)i, sizeof(uh));
		CHECK_EQ(gw_frame_add(&w, 100 + i, 7, -(int64_t)i, uh, UH, data,
				      10 * i),
			 0);
	}
	gw_frame_end(&w);
	CHECK_EQ(w.count, 5);
	frame_len = w.len;
	return TEST_PASS;
}

/* Reads @len bytes of @src from a buffer of exactly that size: the record
 * count, or the error; every record must lie inside the buffer. */
static int read_all(const unsigned char *src, size_t len, uint32_t uh)
{
	unsigned char *b = malloc(len ? len : 1);
	struct gw_frame_reader r;
	struct gw_frame_rec rec;
	int n, got = 0, err;

	if (!b)
		return -ENOMEM;
	memcpy(b, src, len);
	n = gw_frame_check(b, len, uh);
	if (n >= 0) {
		if (gw_frame_open(&r, b, len))
			n = -1000; /* check and open disagree */
		while (n >= 0 && (err = gw_frame_next(&r, &rec)) == 1) {
			const unsigned char *d = rec.data, *u = rec.uh;

			if (d < b || d + rec.len > b + len || u < b ||
			    u + rec.uh_size > b + len)
				n = -1001; /* outside the frame */
			got++;
		}
		if (n >= 0 && got != n)
			n = -1002;
	}
	free(b);
	return n;
}

static int test_round_trip(void)
{
	struct gw_frame_reader r;
	struct gw_frame_rec rec;

	CHECK(!build());
	CHECK(gw_frame_is(frame, frame_len));
	CHECK_EQ(gw_frame_check(frame, frame_len, UH), 5);
	CHECK_EQ(gw_frame_open(&r, frame, frame_len), 0);
	CHECK_EQ(r.type_len, strlen(TYPE));
	CHECK(!memcmp(r.type, TYPE, r.type_len));
	for (uint32_t i = 0; i < 5; i++) {
		const unsigned char *d, *u;

		CHECK_EQ(gw_frame_next(&r, &rec), 1);
		CHECK_EQ(rec.seq, 100 + i);
		CHECK_EQ(rec.epoch, 7);
		CHECK_EQ(rec.ts, -(int64_t)i);
		CHECK_EQ(rec.len, 10 * i);
		CHECK_EQ(rec.uh_size, UH);
		d = rec.data;
		u = rec.uh;
		for (uint32_t k = 0; k < rec.len; k++)
			CHECK_EQ(d[k], i);
		for (uint32_t k = 0; k < UH; k++)
			CHECK_EQ(u[k], 0xa0 + i);
	}
	CHECK_EQ(gw_frame_next(&r, &rec), 0);
	/* Byte by byte as docs/gateway.md has it. */
	CHECK(!memcmp(frame, "SHB\x01\x00\x00", 6));
	CHECK_EQ(frame[6], strlen(TYPE));
	CHECK_EQ(frame[8], 5);
	CHECK_EQ(frame[12 + strlen(TYPE) + 8], 100); /* seq, little-endian */
	/* A user header size other than the service's is refused. */
	CHECK_EQ(gw_frame_check(frame, frame_len, 4), -EBADMSG);
	return TEST_PASS;
}

static int test_writer_bounds(void)
{
	unsigned char small[64], data[64] = { 0 };
	struct gw_frame_writer w;
	size_t before;

	CHECK_EQ(gw_frame_begin(&w, small, 8, TYPE), -EMSGSIZE);
	CHECK_EQ(gw_frame_begin(&w, small, sizeof(small), TYPE), 0);
	before = w.len;
	CHECK_EQ(gw_frame_add(&w, 1, 1, 0, NULL, 0, data, 64), -EMSGSIZE);
	CHECK_EQ(w.len, before);
	CHECK_EQ(w.count, 0);
	CHECK_EQ(gw_frame_add(&w, 1, 1, 0, NULL, 0, data, 4), 0);
	gw_frame_drop_last(&w, before);
	CHECK_EQ(w.count, 0);
	CHECK_EQ(w.len, before);
	gw_frame_end(&w);
	CHECK_EQ(gw_frame_check(small, w.len, 0), 0);
	return TEST_PASS;
}

static int test_truncated(void)
{
	CHECK(!build());
	for (size_t len = 0; len < frame_len; len++) {
		int n = read_all(frame, len, UH);

		if (n != -EBADMSG) {
			fprintf(stderr, "length %zu of %zu: %d\n", len,
				frame_len, n);
			return TEST_FAIL;
		}
	}
	CHECK_EQ(read_all(frame, frame_len, UH), 5);
	/* A byte too many is refused as well. */
	CHECK_EQ(read_all(frame, frame_len + 1, UH), -EBADMSG);
	return TEST_PASS;
}

static void put32_at(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static int test_lying(void)
{
	static const uint32_t lies[] = { 0xffffffffu, 0x80000000u, 0x7fffffffu,
					 8192,	      0xffffffe0u, 1 };
	static unsigned char f[sizeof(frame)];
	size_t first = GW_FRAME_HEAD + strlen(TYPE);

	CHECK(!build());
	for (size_t k = 0; k < sizeof(lies) / sizeof(lies[0]); k++) {
		/* the count */
		memcpy(f, frame, frame_len);
		put32_at(f + 8, lies[k]);
		CHECK(read_all(f, frame_len, UH) < 0);
		/* the first record's payload length */
		memcpy(f, frame, frame_len);
		put32_at(f + first, lies[k]);
		CHECK(read_all(f, frame_len, UH) < 0);
		/* its user header length */
		memcpy(f, frame, frame_len);
		put32_at(f + first + 4, lies[k]);
		CHECK(read_all(f, frame_len, UH) < 0);
		/* both, so that their sum wraps */
		memcpy(f, frame, frame_len);
		put32_at(f + first, lies[k]);
		put32_at(f + first + 4, 0u - lies[k]);
		CHECK(read_all(f, frame_len, UH) < 0);
	}
	/* the type's length */
	memcpy(f, frame, frame_len);
	f[6] = 0xff;
	f[7] = 0xff;
	CHECK_EQ(read_all(f, frame_len, UH), -EBADMSG);
	/* another version, unknown flags */
	memcpy(f, frame, frame_len);
	f[3] = 2;
	CHECK_EQ(read_all(f, frame_len, UH), -EPROTONOSUPPORT);
	memcpy(f, frame, frame_len);
	f[4] = 1;
	CHECK_EQ(read_all(f, frame_len, UH), -EBADMSG);
	return TEST_PASS;
}

/* Random damage: never a read outside the frame (read_all checks every
 * record, ASan every byte). */
static int test_random(void)
{
	static unsigned char f[sizeof(frame)];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int rounds = 200000 / TEST_SLOWDOWN;

	CHECK(!build());
	for (int i = 0; i < rounds; i++) {
		size_t len = frame_len;
		int flips, n;

		memcpy(f, frame, frame_len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		flips = 1 + (int)(x % 4);
		for (int k = 0; k < flips; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			f[(x >> 8) % frame_len] = (unsigned char)(x >> 40);
		}
		if (x & 1)
			len = (size_t)((x >> 20) % (frame_len + 1));
		n = read_all(f, len, UH);
		CHECK(n > -1000);
	}
	return TEST_PASS;
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_writer_bounds);
	RUN(test_truncated);
	RUN(test_lying);
	RUN(test_random);
	return test_result();
}
