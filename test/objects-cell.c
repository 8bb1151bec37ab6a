/* shoal-test: label=unit timeout=120 */
/*
 * The cell (src/objects/cell.c): format/attach checks, read and write, the
 * many-writer latch and its takeover from a dead holder, a scribbled region
 * giving -EBADMSG, and threads hammering one cell: every value a reader gets
 * is one that was written whole, and change counts only grow.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "objects/cell.h"
#include "shoal/common.h"

#define VSIZE 200 /* not a multiple of 8: the tail word is exercised */
#define NW 24	  /* 8-byte words in a value, before the 8-byte tail */

static int alive_unless_77(uint32_t owner, void *user_data)
{
	(void)user_data;
	return owner != 77;
}

static void *region_new(size_t *len, uint32_t vsize, uint32_t mode)
{
	void *r = NULL;

	*len = shoal__cell_bytes(vsize);
	if (!*len || posix_memalign(&r, 64, *len))
		return NULL;
	if (shoal__cell_format(r, *len, vsize, mode)) {
		free(r);
		return NULL;
	}
	return r;
}

static int test_basic(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__cell c, ro;
	unsigned char buf[VSIZE], want[VSIZE];
	uint64_t n = 99;
	size_t len;
	void *r = region_new(&len, VSIZE, SHOAL__CELL_ONE_WRITER);

	CHECK(r);
	CHECK_EQ(len % 64, 0);
	CHECK_EQ(shoal__cell_bytes(0), 0);
	CHECK_EQ(shoal__cell_bytes(SHOAL__CELL_VALUE_MAX + 1), 0);
	CHECK_EQ(shoal__cell_attach(&c, r, len, VSIZE, SHOAL__CELL_ONE_WRITER,
				    &who),
		 0);
	CHECK_EQ(shoal__cell_attach(&ro, r, len, VSIZE, SHOAL__CELL_ONE_WRITER,
				    NULL),
		 0);
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(shoal__cell_read(&ro, buf, sizeof(buf), &n), VSIZE);
	CHECK_EQ(n, 0);
	memset(want, 0, sizeof(want));
	CHECK(!memcmp(buf, want, VSIZE));
	CHECK_EQ(shoal__cell_write(&ro, "x", 1), -EPERM);
	CHECK_EQ(shoal__cell_write(&c, buf, VSIZE + 1), -EMSGSIZE);
	CHECK_EQ(shoal__cell_read(&ro, buf, VSIZE - 1, NULL), -EMSGSIZE);
	for (int i = 1; i <= 5; i++) {
		memset(want, i, sizeof(want));
		CHECK_EQ(shoal__cell_write(&c, want, VSIZE), 0);
		CHECK_EQ(shoal__cell_read(&ro, buf, sizeof(buf), &n), VSIZE);
		CHECK_EQ(n, i);
		CHECK(!memcmp(buf, want, VSIZE));
		CHECK_EQ(shoal__cell_change_count(&ro), i);
	}
	/* A short write zero-fills the rest. */
	CHECK_EQ(shoal__cell_write(&c, "hello", 5), 0);
	CHECK_EQ(shoal__cell_read(&ro, buf, sizeof(buf), &n), VSIZE);
	memset(want, 0, sizeof(want));
	memcpy(want, "hello", 5);
	CHECK(!memcmp(buf, want, VSIZE));
	CHECK_EQ(n, 6);
	free(r);
	return TEST_PASS;
}

static int test_attach_checks(void)
{
	struct shoal__obj_who bad = { 0, NULL, NULL };
	struct shoal__cell c;
	struct shoal__obj_header *h;
	size_t len;
	void *r = region_new(&len, 64, SHOAL__CELL_MANY_WRITERS);

	CHECK(r);
	h = r;
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_ONE_WRITER,
				    NULL),
		 -EBADMSG);
	CHECK_EQ(shoal__cell_attach(&c, r, len, 128, SHOAL__CELL_MANY_WRITERS,
				    NULL),
		 -EBADMSG);
	CHECK_EQ(shoal__cell_attach(&c, r, len - 64, 64,
				    SHOAL__CELL_MANY_WRITERS, NULL),
		 -EBADMSG);
	CHECK_EQ(shoal__cell_attach(&c, (char *)r + 8, len, 64,
				    SHOAL__CELL_MANY_WRITERS, NULL),
		 -EBADMSG);
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, 3, NULL), -EINVAL);
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    &bad),
		 -EINVAL);
	h->magic ^= 1;
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    NULL),
		 -EBADMSG);
	h->magic ^= 1;
	h->bytes++;
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    NULL),
		 -EBADMSG);
	h->bytes--;
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    NULL),
		 0);
	free(r);
	return TEST_PASS;
}

/* Scribbled control words: errors, never a crash or a hang. */
static int test_scribbled(void)
{
	struct shoal__obj_who who = { 5, alive_unless_77, NULL };
	struct shoal__cell c;
	struct shoal__cell_ctl *ctl;
	unsigned char buf[64];
	uint64_t n;
	size_t len;
	void *r = region_new(&len, 64, SHOAL__CELL_MANY_WRITERS);

	CHECK(r);
	ctl = (struct shoal__cell_ctl *)((char *)r + 64);
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    &who),
		 0);
	atomic_store(&ctl->sv.stamp[0], 12345);
	CHECK_EQ(shoal__cell_read(&c, buf, sizeof(buf), &n), -EBADMSG);
	atomic_store(&ctl->sv.seq, UINT64_MAX);
	CHECK_EQ(shoal__cell_read(&c, buf, sizeof(buf), &n), -EBADMSG);
	/* A writer puts it right: the next change is whole again. */
	CHECK_EQ(shoal__cell_write(&c, "ok", 2), 0);
	CHECK_EQ(shoal__cell_read(&c, buf, sizeof(buf), &n), 64);
	CHECK_EQ(n, 0); /* UINT64_MAX + 1 */
	CHECK(!memcmp(buf, "ok", 3));
	free(r);
	return TEST_PASS;
}

static int test_latch_takeover(void)
{
	struct shoal__obj_who who = { 5, alive_unless_77, NULL };
	struct shoal__cell c;
	struct shoal__cell_ctl *ctl;
	unsigned char buf[64];
	uint64_t n;
	size_t len;
	void *r = region_new(&len, 64, SHOAL__CELL_MANY_WRITERS);

	CHECK(r);
	ctl = (struct shoal__cell_ctl *)((char *)r + 64);
	CHECK_EQ(shoal__cell_attach(&c, r, len, 64, SHOAL__CELL_MANY_WRITERS,
				    &who),
		 0);
	/* A dead writer (77) holds the latch, mid-write of change 1. */
	atomic_store(&ctl->sv.latch, (uint64_t)3 << 32 | 77);
	atomic_store(&ctl->sv.stamp[1], 3);
	memset((char *)r + 128 + 64, 0x55, 64);
	CHECK_EQ(shoal__cell_read(&c, buf, sizeof(buf), &n), 64);
	CHECK_EQ(n, 0);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(shoal__cell_write(&c, "new", 3), 0);
	CHECK_EQ(shoal__cell_read(&c, buf, sizeof(buf), &n), 64);
	CHECK_EQ(n, 1);
	CHECK(!memcmp(buf, "new", 4));
	CHECK_EQ(atomic_load(&ctl->sv.latch), (uint64_t)4 << 32);
	/* A live one (9) holds it: -EBUSY after the budget, nothing
	 * written. */
	atomic_store(&ctl->sv.latch, (uint64_t)4 << 32 | 9);
	CHECK_EQ(shoal__cell_write(&c, "no", 2), -EBUSY);
	CHECK_EQ(shoal__cell_change_count(&c), 1);
	free(r);
	return TEST_PASS;
}

/* --- threads --- */

static struct shoal__cell *hammer_cell;
static _Atomic int hammer_stop;
static uint64_t hammer_writes;

struct hammer_arg {
	uint32_t id;
	int bad;
	uint64_t reads;
};

static void fill(unsigned char *v, uint64_t x)
{
	for (int i = 0; i < NW; i++)
		memcpy(v + 8 * i, &x, 8);
	v[VSIZE - 1] = (unsigned char)x;
	v[VSIZE - 2] = (unsigned char)(x >> 8);
}

static int whole(const unsigned char *v)
{
	uint64_t x;

	memcpy(&x, v, 8);
	for (int i = 1; i < NW; i++)
		if (memcmp(v + 8 * i, &x, 8))
			return 0;
	return v[VSIZE - 1] == (unsigned char)x &&
	       v[VSIZE - 2] == (unsigned char)(x >> 8);
}

static void *writer_main(void *p)
{
	struct hammer_arg *a = p;
	struct shoal__obj_who who = { a->id, NULL, NULL };
	struct shoal__cell c = *hammer_cell;
	unsigned char v[VSIZE];

	c.priv_who = who;
	for (uint64_t i = 1; i <= hammer_writes; i++) {
		int err;

		fill(v, (uint64_t)a->id << 32 | i);
		while ((err = shoal__cell_write(&c, v, VSIZE)) == -EBUSY)
			;
		if (err)
			a->bad++;
	}
	return NULL;
}

static void *reader_main(void *p)
{
	struct hammer_arg *a = p;
	unsigned char v[VSIZE];
	uint64_t last = 0, n;

	while (!atomic_load(&hammer_stop)) {
		int r = shoal__cell_read(hammer_cell, v, VSIZE, &n);

		if (r == -EAGAIN)
			continue;
		if (r != VSIZE || !whole(v) || n < last) {
			fprintf(stderr, "r %d whole %d n %llu last %llu\n", r,
				whole(v), (unsigned long long)n,
				(unsigned long long)last);
			a->bad++;
			return NULL;
		}
		last = n;
		a->reads++;
	}
	return NULL;
}

static int hammer(uint32_t mode, int writers)
{
	struct shoal__obj_who who = { 100, NULL, NULL };
	struct shoal__cell c;
	struct hammer_arg wa[2] = { { 1, 0, 0 }, { 2, 0, 0 } };
	struct hammer_arg ra[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	pthread_t wt[2], rt[2];
	size_t len;
	void *r = region_new(&len, VSIZE, mode);

	CHECK(r);
	CHECK_EQ(shoal__cell_attach(&c, r, len, VSIZE, mode, &who), 0);
	hammer_cell = &c;
	hammer_writes = 200000 / TEST_SLOWDOWN;
	atomic_store(&hammer_stop, 0);
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_create(&rt[i], NULL, reader_main, &ra[i]));
	for (int i = 0; i < writers; i++)
		CHECK(!pthread_create(&wt[i], NULL, writer_main, &wa[i]));
	for (int i = 0; i < writers; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&hammer_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(wa[i].bad, 0);
		CHECK_EQ(ra[i].bad, 0);
	}
	CHECK_EQ(shoal__cell_change_count(&c), hammer_writes * writers);
	free(r);
	return TEST_PASS;
}

static int test_threads_one_writer(void)
{
	return hammer(SHOAL__CELL_ONE_WRITER, 1);
}

static int test_threads_many_writers(void)
{
	return hammer(SHOAL__CELL_MANY_WRITERS, 2);
}

int main(void)
{
	RUN(test_basic);
	RUN(test_attach_checks);
	RUN(test_scribbled);
	RUN(test_latch_takeover);
	RUN(test_threads_one_writer);
	RUN(test_threads_many_writers);
	return test_result();
}
