/* shoal-test: label=unit timeout=120 */
/*
 * The map (src/objects/map.c): insert, update, put, delete and revive,
 * collisions and a full map, iteration, attach checks, a slot left WRITING
 * by a dead inserter (taken over) or a live one (waited for), a scribbled
 * region giving errors (never a crash or a hang), and threads racing on a
 * small key space: no torn value, no key in two slots.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "objects/map.h"
#include "shoal/common.h"

static int alive_unless_77(uint32_t owner, void *user_data)
{
	(void)user_data;
	return owner != 77;
}

static void *region_new(size_t *len, uint32_t cap, uint32_t kmax,
			uint32_t vsize)
{
	void *r = NULL;

	*len = shoal__map_bytes(cap, kmax, vsize);
	if (!*len || posix_memalign(&r, 64, *len))
		return NULL;
	if (shoal__map_format(r, *len, cap, kmax, vsize)) {
		free(r);
		return NULL;
	}
	return r;
}

static int test_basic(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__map m, ro;
	char v[16], big[40];
	uint64_t n;
	size_t len;
	void *r = region_new(&len, 8, 32, 16);

	CHECK(r);
	CHECK_EQ(shoal__map_bytes(6, 32, 16), 0);
	CHECK_EQ(shoal__map_bytes(8, 0, 16), 0);
	CHECK_EQ(shoal__map_attach(&m, r, len, 8, 32, 16, &who), 0);
	CHECK_EQ(shoal__map_attach(&ro, r, len, 8, 32, 8, NULL), -EBADMSG);
	CHECK_EQ(shoal__map_attach(&ro, r, len, 16, 32, 16, NULL), -EBADMSG);
	CHECK_EQ(shoal__map_attach(&ro, r, len, 8, 32, 16, NULL), 0);
	CHECK_EQ(shoal__map_insert(&ro, "a", 1, "1", 1), -EPERM);
	CHECK_EQ(shoal__map_insert(&m, "", 0, "1", 1), -EINVAL);
	memset(big, 'k', sizeof(big));
	CHECK_EQ(shoal__map_insert(&m, big, 33, "1", 1), -EINVAL);
	CHECK_EQ(shoal__map_insert(&m, "a", 1, big, 17), -EMSGSIZE);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, sizeof(v), &n), -ENOENT);
	CHECK_EQ(shoal__map_insert(&m, "a", 1, "one", 4), 0);
	CHECK_EQ(shoal__map_insert(&m, "a", 1, "uno", 4), -EEXIST);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, sizeof(v), &n), 16);
	CHECK(!strcmp(v, "one"));
	CHECK_EQ(n, 1);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, 15, &n), -EMSGSIZE);
	CHECK_EQ(shoal__map_update(&m, "b", 1, "x", 1), -ENOENT);
	CHECK_EQ(shoal__map_update(&m, "a", 1, "eins", 5), 0);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, sizeof(v), &n), 16);
	CHECK(!strcmp(v, "eins"));
	CHECK_EQ(n, 2);
	CHECK_EQ(shoal__map_put(&m, "b", 1, "two", 4), 1);
	CHECK_EQ(shoal__map_put(&m, "b", 1, "deux", 5), 0);
	CHECK_EQ(shoal__map_lookup(&ro, "b", 1, v, sizeof(v), &n), 16);
	CHECK(!strcmp(v, "deux"));
	CHECK_EQ(shoal__map_delete(&m, "a", 1), 0);
	CHECK_EQ(shoal__map_delete(&m, "a", 1), -ENOENT);
	CHECK_EQ(shoal__map_delete(&m, "zz", 2), -ENOENT);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, sizeof(v), &n), -ENOENT);
	CHECK_EQ(shoal__map_update(&m, "a", 1, "x", 1), -ENOENT);
	/* Revive: the same slot, the change count goes on. */
	CHECK_EQ(shoal__map_used(&ro), 2);
	CHECK_EQ(shoal__map_insert(&m, "a", 1, "back", 5), 0);
	CHECK_EQ(shoal__map_used(&ro), 2);
	CHECK_EQ(shoal__map_lookup(&ro, "a", 1, v, sizeof(v), &n), 16);
	CHECK(!strcmp(v, "back"));
	CHECK_EQ(n, 3);
	free(r);
	return TEST_PASS;
}

static int count_visit(const void *key, uint32_t klen, const void *value,
		       uint32_t vlen, uint64_t change_count, void *user_data)
{
	unsigned *seen = user_data;
	char kz[16];
	unsigned k;

	(void)vlen;
	(void)change_count;
	if (klen < 2 || klen > 8 || memcmp(key, "k", 1))
		return -1;
	memcpy(kz, key, klen);
	kz[klen] = 0;
	k = (unsigned)atoi(kz + 1);
	if (k >= 64 || memcmp(value, key, klen))
		return -1;
	seen[k]++;
	return 0;
}

static int test_full_and_iterate(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__map m;
	unsigned seen[64] = { 0 };
	char key[16], v[16], buf[32];
	size_t len;
	void *r = region_new(&len, 16, 8, 8);

	CHECK(r);
	CHECK_EQ(shoal__map_attach(&m, r, len, 16, 8, 8, &who), 0);
	for (int i = 0; i < 16; i++) {
		int kl = snprintf(key, sizeof(key), "k%d", i);

		CHECK_EQ(shoal__map_insert(&m, key, kl, key, kl), 0);
	}
	CHECK_EQ(shoal__map_insert(&m, "k99", 3, "x", 1), -ENOSPC);
	for (int i = 0; i < 16; i++) {
		int kl = snprintf(key, sizeof(key), "k%d", i);

		CHECK_EQ(shoal__map_lookup(&m, key, kl, v, sizeof(v), NULL), 8);
		CHECK(!memcmp(v, key, kl));
	}
	/* Tombs do not free slots for other keys. */
	CHECK_EQ(shoal__map_delete(&m, "k3", 2), 0);
	CHECK_EQ(shoal__map_insert(&m, "k99", 3, "x", 1), -ENOSPC);
	CHECK_EQ(shoal__map_iterate(&m, buf, 15, count_visit, seen), -EMSGSIZE);
	CHECK_EQ(shoal__map_iterate(&m, buf, sizeof(buf), count_visit, seen),
		 15);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(seen[i], i == 3 ? 0 : 1);
	free(r);
	return TEST_PASS;
}

static struct shoal__map_slot *slot(void *r, uint32_t kmax, uint32_t vsize,
				    uint32_t i)
{
	return (struct shoal__map_slot *)((char *)r + 64 +
					  i * shoal__map_stride(kmax, vsize));
}

/* Slot of the probe start of @key left WRITING by @owner for that hash. */
static void forge_writing(void *r, uint32_t cap, const char *key,
			  uint32_t owner)
{
	uint32_t h = shoal__map_hash(key, strlen(key));
	struct shoal__map_slot *s = slot(r, 8, 8, h & (cap - 1));

	memcpy((char *)s + 48, "garbage", 7);
	s->key_len = 7;
	atomic_store(&s->ctl, (uint64_t)h << 32 | owner << 2 | 1);
}

static int test_writing_slots(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__map m;
	char v[8];
	size_t len;
	void *r = region_new(&len, 8, 8, 8);

	CHECK(r);
	CHECK_EQ(shoal__map_attach(&m, r, len, 8, 8, 8, &who), 0);
	/* A dead inserter's slot: invisible, then taken over. */
	forge_writing(r, 8, "dead", 77);
	CHECK_EQ(shoal__map_lookup(&m, "dead", 4, v, 8, NULL), -ENOENT);
	CHECK_EQ(shoal__map_used(&m), 1);
	CHECK_EQ(shoal__map_insert(&m, "dead", 4, "ok", 2), 0);
	CHECK_EQ(shoal__map_used(&m), 1);
	CHECK_EQ(shoal__map_lookup(&m, "dead", 4, v, 8, NULL), 8);
	CHECK(!strcmp(v, "ok"));
	/* A live one of the same hash: inserts wait for it, then -EBUSY; an
	 * update and a lookup pass it (the key is not there yet); keys of
	 * other hashes pass it. */
	forge_writing(r, 8, "live", 9);
	CHECK_EQ(shoal__map_insert(&m, "live", 4, "no", 2), -EBUSY);
	CHECK_EQ(shoal__map_put(&m, "live", 4, "no", 2), -EBUSY);
	CHECK_EQ(shoal__map_lookup(&m, "live", 4, v, 8, NULL), -ENOENT);
	CHECK_EQ(shoal__map_update(&m, "live", 4, "no", 2), -ENOENT);
	CHECK_EQ(shoal__map_insert(&m, "other", 5, "yes", 3), 0);
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

static int test_scribbled(void)
{
	struct shoal__obj_who who = { 1, alive_unless_77, NULL };
	struct shoal__map m;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char key[8], v[8], buf[16];
	size_t len;
	void *r = region_new(&len, 8, 8, 8);

	CHECK(r);
	for (int round = 0; round < 2000; round++) {
		unsigned char *b = r;
		uint32_t cursor = 0, kl;

		CHECK_EQ(shoal__map_format(r, len, 8, 8, 8), 0);
		CHECK_EQ(shoal__map_attach(&m, r, len, 8, 8, 8, &who), 0);
		for (int k = 0; k < 4; k++) {
			key[0] = (char)('a' + k);
			shoal__map_put(&m, key, 1, key, 1);
		}
		for (int k = 0; k < 6; k++) {
			uint64_t at =
				64 + rng_next(&seed) % ((len - 64) / 8) * 8;
			uint64_t x = rng_next(&seed);

			if (x & 1)
				x &= 0xffffffff0000000full;
			memcpy(b + at, &x, 8);
		}
		for (int k = 0; k < 10; k++) {
			key[0] = (char)('a' + rng_next(&seed) % 6);
			switch (rng_next(&seed) % 4) {
			case 0:
				shoal__map_put(&m, key, 1, key, 1);
				break;
			case 1:
				shoal__map_delete(&m, key, 1);
				break;
			default:
				shoal__map_lookup(&m, key, 1, v, 8, NULL);
			}
		}
		/* Bounded: at most one call per slot returns 0. */
		for (int g = 0; g <= 8; g++) {
			int err = shoal__map_next(&m, &cursor, buf, 8, &kl,
						  buf + 8, 8, NULL);

			if (err == -ENOENT)
				break;
			CHECK_EQ(err, 0);
			CHECK(kl <= 8);
			CHECK(g < 8);
		}
	}
	free(r);
	return TEST_PASS;
}

/* --- threads: 4 writers/readers on 24 keys in 32 slots --- */

#define NT 4
#define NKEYS 24
#define VS 64

static struct shoal__map *tm_view;
static uint64_t tm_ops;

struct tm_arg {
	uint32_t id;
	int bad;
	char why[96];
};

static int whole(const unsigned char *v, unsigned key)
{
	uint64_t x;

	memcpy(&x, v, 8);
	if ((x & 0xff) != key)
		return 0;
	for (int i = 8; i < VS; i += 8)
		if (memcmp(v + i, &x, 8))
			return 0;
	return 1;
}

static void *tm_main(void *p)
{
	struct tm_arg *a = p;
	struct shoal__obj_who who = { a->id, NULL, NULL };
	struct shoal__map m = *tm_view;
	uint64_t seed = a->id * 0x9e3779b97f4a7c15ull;
	unsigned char v[VS];
	char key[8];

	m.priv_who = who;
	for (uint64_t k = 0; k < tm_ops; k++) {
		unsigned kid = (unsigned)(rng_next(&seed) % NKEYS);
		int kl = snprintf(key, sizeof(key), "key%u", kid), err;
		uint64_t x = (uint64_t)kid | (uint64_t)a->id << 8 | k << 16;

		for (int i = 0; i < VS; i += 8)
			memcpy(v + i, &x, 8);
		switch (rng_next(&seed) % 5) {
		case 0:
			err = shoal__map_insert(&m, key, kl, v, VS);
			if (err && err != -EEXIST && err != -EBUSY)
				goto bad;
			break;
		case 1:
			err = shoal__map_put(&m, key, kl, v, VS);
			if (err < 0 && err != -EBUSY)
				goto bad;
			break;
		case 2:
			err = shoal__map_delete(&m, key, kl);
			if (err && err != -ENOENT)
				goto bad;
			break;
		default:
			err = shoal__map_lookup(&m, key, kl, v, VS, NULL);
			if (err == VS && !whole(v, kid)) {
				snprintf(a->why, sizeof(a->why),
					 "torn value for key %u", kid);
				a->bad++;
				return NULL;
			}
			if (err != VS && err != -ENOENT && err != -EAGAIN)
				goto bad;
		}
		continue;
bad:
		snprintf(a->why, sizeof(a->why), "op on key %u: %d", kid, err);
		a->bad++;
		return NULL;
	}
	return NULL;
}

static int test_threads(void)
{
	struct shoal__obj_who who = { 100, NULL, NULL };
	struct shoal__map m;
	struct tm_arg a[NT];
	pthread_t t[NT];
	unsigned seen[NKEYS] = { 0 };
	unsigned char kb[16], vb[VS];
	uint32_t cursor = 0, kl;
	size_t len;
	void *r = region_new(&len, 32, 16, VS);

	CHECK(r);
	CHECK_EQ(shoal__map_attach(&m, r, len, 32, 16, VS, &who), 0);
	tm_view = &m;
	tm_ops = 300000 / TEST_SLOWDOWN;
	for (int i = 0; i < NT; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].id = i + 1;
	}
	for (int i = 0; i < NT; i++)
		CHECK(!pthread_create(&t[i], NULL, tm_main, &a[i]));
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NT; i++) {
		if (a[i].bad)
			fprintf(stderr, "thread %d: %s\n", i, a[i].why);
		CHECK_EQ(a[i].bad, 0);
	}
	/* Each key in one slot at most: count the slots holding it, FULL or
	 * TOMB, through the layout. */
	for (uint32_t i = 0; i < 32; i++) {
		struct shoal__map_slot *s = slot(r, 16, VS, i);
		uint64_t c = atomic_load(&s->ctl);
		unsigned kid;

		if (!c)
			continue;
		CHECK((c & 3) == SHOAL__MAP_FULL || (c & 3) == SHOAL__MAP_TOMB);
		CHECK(s->key_len >= 4 && s->key_len < 16);
		memcpy(kb, (char *)s + 48, s->key_len);
		kb[s->key_len] = 0;
		kid = (unsigned)atoi((char *)kb + 3);
		CHECK(kid < NKEYS);
		CHECK_EQ(seen[kid]++, 0);
	}
	while (shoal__map_next(&m, &cursor, kb, 16, &kl, vb, VS, NULL) == 0) {
		kb[kl] = 0;
		CHECK(whole(vb, (unsigned)atoi((char *)kb + 3)));
	}
	free(r);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_basic);
	RUN(test_full_and_iterate);
	RUN(test_writing_slots);
	RUN(test_scribbled);
	RUN(test_threads);
	return test_result();
}
