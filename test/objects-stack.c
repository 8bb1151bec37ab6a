/* shoal-test: label=unit timeout=120 */
/*
 * The stack (src/objects/stack.c): LIFO order, full and empty, attach
 * checks, recover() of a node whose popper died after its claim, a
 * scribbled region giving errors (never a crash or a hang), and threads
 * pushing and popping unique elements: afterwards every element pushed is
 * found exactly once, popped or still on the stack.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "objects/stack.h"
#include "shoal/common.h"

static int alive_unless_77(uint32_t owner, void *user_data)
{
	(void)user_data;
	return owner != 77;
}

static void *region_new(size_t *len, uint32_t esize, uint32_t cap)
{
	void *r = NULL;

	*len = shoal__stack_bytes(esize, cap);
	if (!*len || posix_memalign(&r, 64, *len))
		return NULL;
	if (shoal__stack_format(r, *len, esize, cap)) {
		free(r);
		return NULL;
	}
	return r;
}

static struct shoal__stack_head *heads(void *r)
{
	return (struct shoal__stack_head *)((char *)r + 64);
}

static int test_basic(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__stack s, ro;
	uint64_t x;
	char big[16];
	size_t len;
	void *r = region_new(&len, 8, 4);

	CHECK(r);
	CHECK_EQ(len % 64, 0);
	CHECK_EQ(shoal__stack_bytes(0, 4), 0);
	CHECK_EQ(shoal__stack_bytes(8, 0), 0);
	CHECK_EQ(shoal__stack_attach(&s, r, len, 8, 4, &who), 0);
	CHECK_EQ(shoal__stack_attach(&ro, r, len, 8, 4, NULL), 0);
	CHECK_EQ(shoal__stack_attach(&ro, r, len, 8, 8, NULL), -EBADMSG);
	CHECK_EQ(shoal__stack_attach(&ro, r, len, 16, 4, NULL), -EBADMSG);
	CHECK_EQ(shoal__stack_attach(&ro, r, len - 1, 8, 4, NULL), -EBADMSG);
	CHECK_EQ(shoal__stack_attach(&ro, r, len, 8, 4, NULL), 0);
	CHECK_EQ(shoal__stack_push(&ro, &x, 8), -EPERM);
	CHECK_EQ(shoal__stack_pop(&s, &x, 8), -EAGAIN);
	CHECK_EQ(shoal__stack_count(&ro), 0);
	for (x = 1; x <= 4; x++)
		CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), -ENOSPC);
	CHECK_EQ(shoal__stack_push(&s, big, 9), -EMSGSIZE);
	CHECK_EQ(shoal__stack_count(&ro), 4);
	CHECK_EQ(shoal__stack_pop(&s, &x, 7), -EMSGSIZE);
	for (uint64_t want = 4; want >= 1; want--) {
		CHECK_EQ(shoal__stack_pop(&s, &x, 8), 8);
		CHECK_EQ(x, want);
	}
	CHECK_EQ(shoal__stack_pop(&s, &x, 8), -EAGAIN);
	/* A short push zero-fills. */
	x = 0;
	CHECK_EQ(shoal__stack_push(&s, "ab", 2), 0);
	x = UINT64_MAX;
	CHECK_EQ(shoal__stack_pop(&s, &x, 8), 8);
	CHECK(!memcmp(&x, "ab\0\0\0\0\0\0", 8));
	CHECK_EQ(shoal__stack_recover(&s), 0);
	free(r);
	return TEST_PASS;
}

/* A popper (77) claimed the top of used and died before anyone finished
 * the claim or it pushed the node back onto free. */
static int test_recover_dead_popper(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__stack s;
	uint64_t x, top;
	size_t len;
	void *r = region_new(&len, 8, 2);

	CHECK(r);
	CHECK_EQ(shoal__stack_attach(&s, r, len, 8, 2, &who), 0);
	for (x = 1; x <= 2; x++)
		CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	top = atomic_load(&heads(r)[1].top);
	atomic_store(&heads(r)[1].pending,
		     (top & 0xffffffff00000000ull) | SHOAL__STACK_OP_POP | 77);
	/* Full: both nodes are taken, one by the dead popper. */
	CHECK_EQ(shoal__stack_push(&s, &x, 8), -ENOSPC);
	CHECK_EQ(shoal__stack_recover(&s), 1);
	CHECK_EQ(shoal__stack_recover(&s), 0);
	CHECK_EQ(shoal__stack_count(&s), 1);
	CHECK_EQ(shoal__stack_pop(&s, &x, 8), 8);
	CHECK_EQ(x, 1); /* 2 went with the dead popper */
	CHECK_EQ(shoal__stack_pop(&s, &x, 8), -EAGAIN);
	x = 9;
	CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), -ENOSPC);
	free(r);
	return TEST_PASS;
}

/* A pusher (77) took a node from free and died before its push claim. */
static int test_recover_dead_pusher(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__obj_who dead = { 77, alive_unless_77, NULL };
	struct shoal__stack s, d;
	uint64_t x = 5, top;
	size_t len;
	void *r = region_new(&len, 8, 2);

	CHECK(r);
	CHECK_EQ(shoal__stack_attach(&s, r, len, 8, 2, &who), 0);
	CHECK_EQ(shoal__stack_attach(&d, r, len, 8, 2, &dead), 0);
	/* 77 pushes one whole, then claims the next free node. */
	CHECK_EQ(shoal__stack_push(&d, &x, 8), 0);
	top = atomic_load(&heads(r)[0].top);
	atomic_store(&heads(r)[0].pending,
		     (top & 0xffffffff00000000ull) | SHOAL__STACK_OP_POP | 77);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), -ENOSPC);
	CHECK_EQ(shoal__stack_recover(&s), 1);
	CHECK_EQ(shoal__stack_count(&s), 1);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	CHECK_EQ(shoal__stack_count(&s), 2);
	free(r);
	return TEST_PASS;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Scribbles: every call returns, never touches outside the region (run it
 * under AddressSanitizer to see that), never hangs. */
static int test_scribbled(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__stack s;
	uint64_t seed = 0x9e3779b97f4a7c15ull, x;
	size_t len;
	void *r = region_new(&len, 8, 8);

	CHECK(r);
	for (int round = 0; round < 2000; round++) {
		unsigned char *b = r;

		CHECK_EQ(shoal__stack_format(r, len, 8, 8), 0);
		CHECK_EQ(shoal__stack_attach(&s, r, len, 8, 8, &who), 0);
		for (int k = 0; k < 3; k++) {
			x = k;
			shoal__stack_push(&s, &x, 8);
		}
		/* Scribble a few words past the header. */
		for (int k = 0; k < 4; k++) {
			uint64_t at =
				64 + rng_next(&seed) % ((len - 64) / 8) * 8;
			uint64_t v = rng_next(&seed);

			if (v & 1)
				v &= 0xffffffff0000000full;
			memcpy(b + at, &v, 8);
		}
		for (int k = 0; k < 8; k++) {
			if (rng_next(&seed) & 1)
				shoal__stack_push(&s, &x, 8);
			else
				shoal__stack_pop(&s, &x, 8);
		}
		shoal__stack_recover(&s);
		shoal__stack_count(&s);
	}
	free(r);
	return TEST_PASS;
}

/* --- threads --- */

#define NT 4
#define CAP 64

static struct shoal__stack *ts_view;
static uint64_t ts_ops;

struct ts_arg {
	uint32_t id;
	uint64_t pushed; /* values id << 32 | 1 .. pushed */
	uint64_t *popped;
	uint64_t npopped;
	int bad;
};

static void *ts_main(void *p)
{
	struct ts_arg *a = p;
	struct shoal__obj_who who = { a->id, NULL, NULL };
	struct shoal__stack s = *ts_view;
	uint64_t seed = a->id * 0x9e3779b97f4a7c15ull, x;

	s.priv_who = who;
	for (uint64_t k = 0; k < ts_ops; k++) {
		int err;

		if (rng_next(&seed) % 2) {
			x = (uint64_t)a->id << 32 | (a->pushed + 1);
			err = shoal__stack_push(&s, &x, 8);
			if (!err)
				a->pushed++;
			else if (err != -ENOSPC && err != -EBUSY)
				a->bad++;
		} else {
			err = shoal__stack_pop(&s, &x, 8);
			if (err == 8)
				a->popped[a->npopped++] = x;
			else if (err != -EAGAIN && err != -EBUSY)
				a->bad++;
		}
	}
	return NULL;
}

static int test_threads(void)
{
	struct shoal__obj_who who = { 100, NULL, NULL };
	struct shoal__stack s;
	struct ts_arg a[NT];
	pthread_t t[NT];
	uint8_t *seen[NT];
	uint64_t x;
	size_t len;
	void *r = region_new(&len, 8, CAP);
	int n;

	CHECK(r);
	CHECK_EQ(shoal__stack_attach(&s, r, len, 8, CAP, &who), 0);
	ts_view = &s;
	ts_ops = 400000 / TEST_SLOWDOWN;
	for (int i = 0; i < NT; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].id = i + 1;
		a[i].popped = calloc(ts_ops, 8);
		seen[i] = calloc(ts_ops + 1, 1);
		CHECK(a[i].popped && seen[i]);
	}
	for (int i = 0; i < NT; i++)
		CHECK(!pthread_create(&t[i], NULL, ts_main, &a[i]));
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NT; i++)
		fprintf(stderr, "thread %d: %llu pushed, %llu popped\n", i,
			(unsigned long long)a[i].pushed,
			(unsigned long long)a[i].npopped);
	n = shoal__stack_count(&s);
	CHECK(n >= 0 && n <= CAP);
	for (int i = 0; i < NT; i++) {
		CHECK_EQ(a[i].bad, 0);
		for (uint64_t k = 0; k < a[i].npopped; k++) {
			uint32_t id = (uint32_t)(a[i].popped[k] >> 32);
			uint64_t q = (uint32_t)a[i].popped[k];

			CHECK(id >= 1 && id <= NT && q >= 1 &&
			      q <= a[id - 1].pushed);
			CHECK_EQ(seen[id - 1][q]++, 0);
		}
	}
	while (shoal__stack_pop(&s, &x, 8) == 8) {
		uint32_t id = (uint32_t)(x >> 32);
		uint64_t q = (uint32_t)x;

		CHECK(id >= 1 && id <= NT && q >= 1 && q <= a[id - 1].pushed);
		CHECK_EQ(seen[id - 1][q]++, 0);
		n--;
	}
	CHECK_EQ(n, 0);
	for (int i = 0; i < NT; i++) {
		for (uint64_t q = 1; q <= a[i].pushed; q++)
			CHECK_EQ(seen[i][q], 1);
		free(a[i].popped);
		free(seen[i]);
	}
	/* Every node is back on free. */
	for (int i = 0; i < CAP; i++)
		CHECK_EQ(shoal__stack_push(&s, &x, 8), 0);
	CHECK_EQ(shoal__stack_push(&s, &x, 8), -ENOSPC);
	free(r);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_basic);
	RUN(test_recover_dead_popper);
	RUN(test_recover_dead_pusher);
	RUN(test_scribbled);
	RUN(test_threads);
	return test_result();
}
