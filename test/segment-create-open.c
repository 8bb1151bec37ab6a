/* shoal-test: label=unit timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * Segment life cycle seen from both sides: a creator lays out named objects,
 * marks the segment READY, and a peer (the same process, or a forked child
 * re-opening the inherited fd) validates it and finds the same objects at the
 * same offsets with the same bytes. Also the creator's argument checks: every
 * bad object spec is refused with the documented code and leaves *out alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shoal/segment.h>

#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* A pointer value no successful or failed call may leave in *out by accident. */
#define OUT_SENTINEL ((struct shoal_segment *)(uintptr_t)0x5a5a5a5a)

/* Three objects with different kinds, alignments and sizes (one odd size). */
static const struct shoal_object_spec three[] = {
	{ .name = "alpha", .kind = SHOAL_OBJECT_BYTES, .align = 0, .size = 100 },
	{ .name = "beta", .kind = 1024, .align = 4096, .size = 8192 },
	{ .name = "gamma", .kind = SHOAL_OBJECT_NOTIFY, .align = 8, .size = 1 },
};
#define NTHREE ((uint32_t)(sizeof(three) / sizeof(three[0])))

/* Fill an object with a pattern derived from its index and a salt. */
static void fill(unsigned char *p, uint64_t n, unsigned salt)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + salt);
}

static int check_fill(const unsigned char *p, uint64_t n, unsigned salt)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31u + salt))
			return 0;
	return 1;
}

/*
 * Check everything a validated table must say about the three objects: names,
 * kinds, effective alignment (0 means 64), sizes, offsets aligned and inside
 * the segment, no two objects overlapping, and find() agreeing with object().
 */
static int check_three(const struct shoal_segment *seg)
{
	uint64_t size = shoal_segment_size(seg);
	unsigned char *base = shoal_segment_base(seg);
	struct shoal_object_info info[NTHREE];

	CHECK(base != NULL);
	CHECK_EQ(shoal_segment_object_count(seg), NTHREE);
	for (uint32_t i = 0; i < NTHREE; i++) {
		struct shoal_object_info byname;
		uint32_t align = three[i].align ? three[i].align : 64;
		void *p = NULL;

		memset(&info[i], 0xee, sizeof(info[i]));
		CHECK_EQ(shoal_segment_object(seg, i, &info[i]), 0);
		CHECK(strcmp(info[i].name, three[i].name) == 0);
		CHECK_EQ(info[i].kind, three[i].kind);
		CHECK_EQ(info[i].align, align);
		CHECK_EQ(info[i].size, three[i].size);
		CHECK_EQ(info[i].offset % align, 0);
		CHECK(info[i].offset > 0);
		CHECK(info[i].offset <= size &&
		      info[i].size <= size - info[i].offset);

		/* The object's address is aligned in memory too, not only as an offset. */
		memset(&byname, 0, sizeof(byname));
		CHECK_EQ(shoal_segment_find(seg, three[i].name, three[i].kind,
					    &p, &byname),
			 0);
		CHECK(p == base + info[i].offset);
		CHECK_EQ((uintptr_t)p % align, 0);
		CHECK(strcmp(byname.name, info[i].name) == 0);
		CHECK_EQ(byname.kind, info[i].kind);
		CHECK_EQ(byname.align, info[i].align);
		CHECK_EQ(byname.offset, info[i].offset);
		CHECK_EQ(byname.size, info[i].size);
	}
	for (uint32_t i = 0; i < NTHREE; i++)
		for (uint32_t j = i + 1; j < NTHREE; j++)
			CHECK(info[i].offset + info[i].size <= info[j].offset ||
			      info[j].offset + info[j].size <= info[i].offset);
	/* Past the end of the table. */
	CHECK_EQ(shoal_segment_object(seg, NTHREE, &info[0]), -ENOENT);
	CHECK_EQ(shoal_segment_object(seg, UINT32_MAX, &info[0]), -ENOENT);
	return TEST_PASS;
}

/* Lookups by name and kind, on one handle (created or opened). */
static int check_lookups(const struct shoal_segment *seg)
{
	void *p = (void *)(uintptr_t)1;
	struct shoal_object_info info;
	char longname[200];

	/* Kind 0 matches any kind; info may be NULL. */
	CHECK_EQ(shoal_segment_find(seg, "beta", 0, &p, NULL), 0);
	CHECK(p != NULL);
	/* Unknown names, including prefixes, extensions and overlong names. */
	p = (void *)(uintptr_t)1;
	CHECK_EQ(shoal_segment_find(seg, "delta", 0, &p, NULL), -ENOENT);
	CHECK_EQ(shoal_segment_find(seg, "alph", 0, &p, NULL), -ENOENT);
	CHECK_EQ(shoal_segment_find(seg, "alphaa", 0, &p, NULL), -ENOENT);
	CHECK_EQ(shoal_segment_find(seg, "", 0, &p, NULL), -ENOENT);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(shoal_segment_find(seg, longname, 0, &p, NULL), -ENOENT);
	/* The outputs of a failed lookup are untouched. */
	CHECK(p == (void *)(uintptr_t)1);
	/* Right name, wrong kind. */
	memset(&info, 0x77, sizeof(info));
	CHECK_EQ(shoal_segment_find(seg, "alpha", SHOAL_OBJECT_SPSC_RING, &p,
				    &info),
		 -EPROTO);
	CHECK_EQ(shoal_segment_find(seg, "beta", SHOAL_OBJECT_BYTES, &p, NULL),
		 -EPROTO);
	CHECK_EQ(shoal_segment_find(seg, "gamma", 1024, &p, NULL), -EPROTO);
	CHECK(p == (void *)(uintptr_t)1);
	CHECK_EQ(info.kind, 0x77777777u);
	return TEST_PASS;
}

/* The creator's own view: table, zeroed objects, lookups, sealed fd. */
static int test_create_layout(void)
{
	struct shoal_segment_options opts;
	struct shoal_segment *seg = NULL;
	struct stat st;
	int seals;

	shoal_segment_options_init(&opts);
	CHECK(opts.debug_name == NULL);
	CHECK_EQ(opts.epoch, 0);
	CHECK_EQ(opts.flags, 0);
	opts.debug_name = "create-layout";
	CHECK_EQ(shoal_segment_create(three, NTHREE, &opts, &seg), 0);
	CHECK(seg != NULL);
	if (check_three(seg) || check_lookups(seg)) {
		shoal_segment_destroy(seg);
		return TEST_FAIL;
	}
	for (uint32_t i = 0; i < NTHREE; i++) {
		unsigned char *p = NULL;

		CHECK_EQ(shoal_segment_find(seg, three[i].name, 0, (void **)&p,
					    NULL),
			 0);
		for (uint64_t b = 0; b < three[i].size; b++)
			CHECK(p[b] == 0);
	}
	/* The fd is a memfd of exactly the segment's size, sealed both ways. */
	CHECK(shoal_segment_fd(seg) >= 0);
	CHECK_EQ(fstat(shoal_segment_fd(seg), &st), 0);
	CHECK_EQ((uint64_t)st.st_size, shoal_segment_size(seg));
	seals = fcntl(shoal_segment_fd(seg), F_GET_SEALS);
	CHECK(seals >= 0);
	CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) ==
	      (F_SEAL_SHRINK | F_SEAL_GROW));
	/* The epoch is never 0 when shoal chooses it. */
	CHECK(shoal_segment_epoch(seg) != 0);
	shoal_segment_destroy(seg);
	shoal_segment_destroy(NULL);
	shoal_segment_close(NULL);
	return TEST_PASS;
}

/* An explicit epoch is kept as given; NULL options mean the defaults. */
static int test_epoch(void)
{
	struct shoal_segment_options opts;
	struct shoal_segment *seg = NULL, *peer = NULL;

	shoal_segment_options_init(&opts);
	opts.epoch = 0x0123456789abcdefULL;
	CHECK_EQ(shoal_segment_create(three, 1, &opts, &seg), 0);
	CHECK_EQ(shoal_segment_epoch(seg), 0x0123456789abcdefULL);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	CHECK_EQ(shoal_segment_epoch(peer), 0x0123456789abcdefULL);
	shoal_segment_close(peer);
	shoal_segment_destroy(seg);

	seg = NULL;
	CHECK_EQ(shoal_segment_create(three, 1, NULL, &seg), 0);
	CHECK(shoal_segment_epoch(seg) != 0);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/* Open in the same process: same table, same bytes, both directions. */
static int test_open_same_process(void)
{
	struct shoal_segment *seg = NULL, *peer = NULL;
	unsigned char *a = NULL, *pa = NULL, *pb = NULL;
	int fds_before = test_count_fds();
	int fd;

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "alpha", SHOAL_OBJECT_BYTES,
				    (void **)&a, NULL),
		 0);
	fill(a, three[0].size, 7);
	CHECK_EQ(shoal_segment_ready(seg), 0);

	fd = shoal_segment_fd(seg);
	peer = OUT_SENTINEL;
	CHECK_EQ(shoal_segment_open(fd, 0, &peer), 0);
	CHECK(peer != NULL && peer != OUT_SENTINEL);
	/* open() duplicates the fd: the caller's is not taken over. */
	CHECK(shoal_segment_fd(peer) != fd);
	CHECK_EQ(shoal_segment_size(peer), shoal_segment_size(seg));
	CHECK_EQ(shoal_segment_epoch(peer), shoal_segment_epoch(seg));
	/* A second, independent mapping of the same memory. */
	CHECK(shoal_segment_base(peer) != shoal_segment_base(seg));
	if (check_three(peer) || check_lookups(peer))
		return TEST_FAIL;

	CHECK_EQ(shoal_segment_find(peer, "alpha", SHOAL_OBJECT_BYTES,
				    (void **)&pa, NULL),
		 0);
	CHECK(check_fill(pa, three[0].size, 7));
	/* The peer's writes reach the creator's mapping. */
	CHECK_EQ(shoal_segment_find(peer, "beta", 1024, (void **)&pb, NULL), 0);
	fill(pb, three[1].size, 99);
	{
		unsigned char *b = NULL;

		CHECK_EQ(shoal_segment_find(seg, "beta", 1024, (void **)&b,
					    NULL),
			 0);
		CHECK(check_fill(b, three[1].size, 99));
	}
	shoal_segment_close(peer);
	/* Closing the peer leaves the creator's fd open and its mapping valid. */
	CHECK(fcntl(fd, F_GETFD) >= 0);
	CHECK(check_fill(a, three[0].size, 7));
	shoal_segment_destroy(seg);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

/* Several opens of one fd are independent handles. */
static int test_open_many(void)
{
	struct shoal_segment *seg = NULL, *peer[8];
	int fds_before = test_count_fds();

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer[i]),
			 0);
	for (int i = 0; i < 8; i++) {
		if (check_three(peer[i]))
			return TEST_FAIL;
		shoal_segment_close(peer[i]);
	}
	shoal_segment_destroy(seg);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

/*
 * A forked child re-opens the fd it inherited, checks what the creator wrote
 * and answers in another object; the parent sees the answer.
 */
static int child_open(int fd, uint64_t size, uint64_t epoch)
{
	struct shoal_segment *peer = NULL;
	unsigned char *a = NULL, *b = NULL;

	CHECK_EQ(shoal_segment_open(fd, 0, &peer), 0);
	CHECK_EQ(shoal_segment_size(peer), size);
	CHECK_EQ(shoal_segment_epoch(peer), epoch);
	if (check_three(peer) || check_lookups(peer))
		return TEST_FAIL;
	CHECK_EQ(shoal_segment_find(peer, "alpha", SHOAL_OBJECT_BYTES,
				    (void **)&a, NULL),
		 0);
	CHECK(check_fill(a, three[0].size, 3));
	CHECK_EQ(shoal_segment_find(peer, "beta", 1024, (void **)&b, NULL), 0);
	fill(b, three[1].size, 200);
	shoal_segment_close(peer);
	return TEST_PASS;
}

static int test_open_forked_child(void)
{
	struct shoal_segment *seg = NULL;
	unsigned char *a = NULL, *b = NULL;
	pid_t pid;

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "alpha", 0, (void **)&a, NULL), 0);
	CHECK_EQ(shoal_segment_find(seg, "beta", 0, (void **)&b, NULL), 0);
	fill(a, three[0].size, 3);
	CHECK_EQ(shoal_segment_ready(seg), 0);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_open(shoal_segment_fd(seg), shoal_segment_size(seg),
				 shoal_segment_epoch(seg)));
	CHECK(test_wait_child(pid, 20));
	CHECK(check_fill(b, three[1].size, 200));
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/* A child that outlives the creator's handle still has the memory. */
static int test_creator_destroyed_first(void)
{
	struct shoal_segment *seg = NULL, *peer = NULL;
	unsigned char *a = NULL;

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "alpha", 0, (void **)&a, NULL), 0);
	fill(a, three[0].size, 11);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	shoal_segment_destroy(seg);
	a = NULL;
	CHECK_EQ(shoal_segment_find(peer, "alpha", 0, (void **)&a, NULL), 0);
	CHECK(check_fill(a, three[0].size, 11));
	shoal_segment_close(peer);
	return TEST_PASS;
}

/* Peers must wait for READY: before it, -EAGAIN; after it, success. */
static int test_open_before_ready(void)
{
	struct shoal_segment *seg = NULL, *peer = OUT_SENTINEL;
	int fds_before = test_count_fds();
	int fds_created;

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	fds_created = test_count_fds();
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), -EAGAIN);
	CHECK(peer == OUT_SENTINEL);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg),
				    SHOAL_SEGMENT_OPEN_READ_ONLY, &peer),
		 -EAGAIN);
	CHECK(peer == OUT_SENTINEL);
	/* The refused opens leaked no fd (nor, we trust, a mapping). */
	CHECK_EQ(test_count_fds(), fds_created);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	shoal_segment_close(peer);
	shoal_segment_destroy(seg);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

/* ready() is for the creator, once. */
static int test_ready_twice(void)
{
	struct shoal_segment *seg = NULL, *peer = NULL;

	CHECK_EQ(shoal_segment_create(three, NTHREE, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), -EINVAL);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	CHECK_EQ(shoal_segment_ready(peer), -EINVAL);
	/* The refused ready() calls did not disturb an open segment. */
	if (check_three(peer))
		return TEST_FAIL;
	shoal_segment_close(peer);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/* Expect one spec array to be refused with @want and *out left alone. */
static int expect_create(const struct shoal_object_spec *objs, uint32_t n,
			 int want, const char *what)
{
	struct shoal_segment *seg = OUT_SENTINEL;
	int r = shoal_segment_create(objs, n, NULL, &seg);

	if (r != want) {
		fprintf(stderr, "create(%s) = %d, want %d (%s)\n", what, r,
			want, shoal_last_error());
		if (r == 0)
			shoal_segment_destroy(seg);
		return TEST_FAIL;
	}
	if (want != 0 && seg != OUT_SENTINEL) {
		fprintf(stderr, "create(%s) failed but wrote *out\n", what);
		return TEST_FAIL;
	}
	if (want != 0 && shoal_last_error()[0] == '\0') {
		fprintf(stderr, "create(%s) failed with no detail\n", what);
		return TEST_FAIL;
	}
	if (want == 0)
		shoal_segment_destroy(seg);
	return TEST_PASS;
}

#define EXPECT_CREATE(objs, n, want, what) \
	CHECK_EQ(expect_create(objs, n, want, what), TEST_PASS)

static int test_bad_specs(void)
{
	char name39[40], name40[41];
	struct shoal_object_spec s[2];
	int fds_before = test_count_fds();

	memset(name39, 'n', 39);
	name39[39] = '\0';
	memset(name40, 'n', 40);
	name40[40] = '\0';

#define ONE(nm, k, al, sz)                  \
	(s[0] = (struct shoal_object_spec){ \
		 .name = (nm), .kind = (k), .align = (al), .size = (sz) })

	/* The limits themselves are accepted. */
	ONE(name39, SHOAL_OBJECT_BYTES, 0, 1);
	EXPECT_CREATE(s, 1, 0, "39-byte name");
	ONE("user-kind", 1024, 1, 1);
	EXPECT_CREATE(s, 1, 0, "kind 1024, align 1");
	ONE("user-kind", UINT32_MAX, 0, 1);
	EXPECT_CREATE(s, 1, 0, "kind UINT32_MAX");
	ONE("Az09~!#$%&'()*+,-./:;<=>?@[]^_`{|}", SHOAL_OBJECT_BYTES, 0, 1);
	EXPECT_CREATE(s, 1, 0, "punctuation");

	/* Names. */
	ONE("", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "empty name");
	ONE(NULL, SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "NULL name");
	ONE(name40, SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "40-byte name");
	ONE("tab\there", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "name with a tab");
	ONE("nl\n", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "name with a newline");
	ONE("\x01", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "name \\x01");
	ONE("del\x7f", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "name with DEL");
	ONE("caf\xc3\xa9", SHOAL_OBJECT_BYTES, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "name with a high byte");

	/* Kind 0 is reserved ("any kind" in find). */
	ONE("k", 0, 0, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "kind 0");

	/* Alignment must be a power of two (0 meaning the default). */
	ONE("a", SHOAL_OBJECT_BYTES, 3, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "align 3");
	ONE("a", SHOAL_OBJECT_BYTES, 48, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "align 48");
	ONE("a", SHOAL_OBJECT_BYTES, UINT32_MAX, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "align UINT32_MAX");
	/* One page is the most an object may ask for (src/segment/segment.c ALIGN_MAX). */
	ONE("a", SHOAL_OBJECT_BYTES, 4096, 64);
	EXPECT_CREATE(s, 1, 0, "align 4096");
	ONE("a", SHOAL_OBJECT_BYTES, 8192, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "align 8192");
	ONE("a", SHOAL_OBJECT_BYTES, 1u << 31, 64);
	EXPECT_CREATE(s, 1, -EINVAL, "align 2^31");

	/* Size. */
	ONE("z", SHOAL_OBJECT_BYTES, 0, 0);
	EXPECT_CREATE(s, 1, -EINVAL, "size 0");
	ONE("z", SHOAL_OBJECT_BYTES, 0, SHOAL_SEGMENT_SIZE_MAX);
	EXPECT_CREATE(s, 1, -E2BIG, "size SHOAL_SEGMENT_SIZE_MAX");
	ONE("z", SHOAL_OBJECT_BYTES, 0, UINT64_MAX);
	EXPECT_CREATE(s, 1, -E2BIG, "size UINT64_MAX");
	/* Two objects whose sum overflows 64 bits must not wrap into "small". */
	s[0] = (struct shoal_object_spec){ "big1", SHOAL_OBJECT_BYTES, 0,
					   UINT64_MAX / 2 + 64 };
	s[1] = (struct shoal_object_spec){ "big2", SHOAL_OBJECT_BYTES, 0,
					   UINT64_MAX / 2 + 64 };
	EXPECT_CREATE(s, 2, -E2BIG, "sizes summing past 2^64");

	/* Duplicates, and a bad spec after a good one. */
	s[0] = (struct shoal_object_spec){ "dup", SHOAL_OBJECT_BYTES, 0, 8 };
	s[1] = (struct shoal_object_spec){ "dup", 1024, 0, 16 };
	EXPECT_CREATE(s, 2, -EINVAL, "duplicate names");
	s[1] = (struct shoal_object_spec){ "ok", SHOAL_OBJECT_BYTES, 5, 16 };
	EXPECT_CREATE(s, 2, -EINVAL, "second spec bad");

	/* No table at all; no out pointer; unknown option flags. */
	EXPECT_CREATE(NULL, 1, -EINVAL, "NULL objects");
	ONE("fine", SHOAL_OBJECT_BYTES, 0, 64);
	CHECK_EQ(shoal_segment_create(s, 1, NULL, NULL), -EINVAL);
	{
		struct shoal_segment_options opts;
		struct shoal_segment *seg = OUT_SENTINEL;

		shoal_segment_options_init(&opts);
		opts.flags = 1u << 7;
		CHECK_EQ(shoal_segment_create(s, 1, &opts, &seg), -EINVAL);
		CHECK(seg == OUT_SENTINEL);
	}
#undef ONE

	/* No refused create leaked an fd. */
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

/* SHOAL_SEGMENT_OBJECTS_MAX objects fit; one more is -E2BIG. */
static int test_too_many_objects(void)
{
	enum {
		N = SHOAL_SEGMENT_OBJECTS_MAX + 1
	};
	struct shoal_object_spec s[N];
	char names[N][16];
	struct shoal_segment *seg = NULL, *peer = NULL;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "obj-%d", i);
		s[i] = (struct shoal_object_spec){ names[i], SHOAL_OBJECT_BYTES,
						   (uint32_t)(8u << (i % 4)),
						   (uint64_t)(i + 1) };
	}
	EXPECT_CREATE(s, N, -E2BIG, "OBJECTS_MAX + 1");
	EXPECT_CREATE(s, UINT32_MAX, -E2BIG, "UINT32_MAX objects");

	CHECK_EQ(shoal_segment_create(s, N - 1, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_object_count(seg), N - 1);
	for (int i = 0; i < N - 1; i++) {
		unsigned char *p = NULL;

		CHECK_EQ(shoal_segment_find(seg, names[i], 0, (void **)&p,
					    NULL),
			 0);
		memset(p, i, s[i].size);
	}
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	CHECK_EQ(shoal_segment_object_count(peer), N - 1);
	for (int i = 0; i < N - 1; i++) {
		struct shoal_object_info info;
		unsigned char *p = NULL;

		CHECK_EQ(shoal_segment_object(peer, (uint32_t)i, &info), 0);
		CHECK(strcmp(info.name, names[i]) == 0);
		CHECK_EQ(info.size, s[i].size);
		CHECK_EQ(shoal_segment_find(peer, names[i], SHOAL_OBJECT_BYTES,
					    (void **)&p, NULL),
			 0);
		for (uint64_t b = 0; b < s[i].size; b++)
			CHECK_EQ(p[b], i);
	}
	shoal_segment_close(peer);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/*
 * The spec comment says a kind is "SHOAL_OBJECT_*, a pattern's, or >= 1024":
 * the patterns' range up to SHOAL_OBJECT_PATTERN_MAX is accepted whether or
 * not a pattern uses the value (the segment layer knows no pattern), and
 * the values after it up to 1023 are reserved for future segment and ring
 * kinds, so create() must refuse them, or a segment made today could be
 * misread by a later shoal.
 */
static int test_reserved_kinds(void)
{
	struct shoal_object_spec s = { "k", SHOAL_OBJECT_PATTERN_MAX + 1, 0,
				       64 };

	EXPECT_CREATE(&s, 1, -EINVAL, "kind after the patterns' range");
	s.kind = SHOAL_OBJECT_PATTERN_MAX;
	EXPECT_CREATE(&s, 1, 0, "the patterns' last kind");
	s.kind = SHOAL_OBJECT_PATTERN_MIN;
	EXPECT_CREATE(&s, 1, 0, "the patterns' first kind");
	s.kind = 13; /* no pattern's yet */
	EXPECT_CREATE(&s, 1, 0, "kind 13");
	s.kind = SHOAL_OBJECT_USER_MIN - 1;
	EXPECT_CREATE(&s, 1, -EINVAL, "kind 1023");
	s.kind = SHOAL_OBJECT_SPSC_RING;
	EXPECT_CREATE(&s, 1, 0, "kind SPSC_RING");
	s.kind = SHOAL_OBJECT_USER_MIN;
	EXPECT_CREATE(&s, 1, 0, "kind 1024");
	return TEST_PASS;
}

/* An empty table is a valid segment: a header alone. */
static int test_no_objects(void)
{
	struct shoal_segment *seg = NULL, *peer = NULL;
	struct shoal_object_info info;
	void *p;

	CHECK_EQ(shoal_segment_create(NULL, 0, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_object_count(seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &peer), 0);
	CHECK_EQ(shoal_segment_object_count(peer), 0);
	CHECK_EQ(shoal_segment_object(peer, 0, &info), -ENOENT);
	CHECK_EQ(shoal_segment_find(peer, "x", 0, &p, NULL), -ENOENT);
	shoal_segment_close(peer);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_create_layout);
	RUN(test_epoch);
	RUN(test_open_same_process);
	RUN(test_open_many);
	RUN(test_open_forked_child);
	RUN(test_creator_destroyed_first);
	RUN(test_open_before_ready);
	RUN(test_ready_twice);
	RUN(test_bad_specs);
	RUN(test_too_many_objects);
	RUN(test_reserved_kinds);
	RUN(test_no_objects);
	return test_result();
}
