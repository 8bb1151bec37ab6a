/* shoal-test: label=multiproc timeout=240 args=3000 */
/*
 * A store whose shared memory is scribbled: honest handles get errors (or
 * wrong values), never a crash or an access outside what they mapped (run
 * it under the ASan build too).
 *  - The table: peers cannot write it (the owner's segment is sealed: a
 *    PROT_WRITE mapping of its memfd is refused), so the scribbler here is
 *    the owner's own writable mapping, standing for a hostile or broken
 *    owner: random bytes of random entries, the published count, and the
 *    configuration words, argv[1] times; after each, a peer's lookups and
 *    listing must answer 0, -ENOENT, -EPROTO or -EBADMSG, and what a
 *    lookup hands out must lie inside the peer's mapping; a new open must
 *    succeed or fail with -EBADMSG/-EPROTO.
 *  - The data: a hostile child with write access writes random words all
 *    over the heap (object headers, cell control words, stamps, stack and
 *    map slots) while this process reads and writes every object; every
 *    call must return one of its documented errors.
 */
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/store_internal.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

static struct shoal_store_object objs[] = {
	{ .name = "arr",
	  .kind = SHOAL_STORE_ARRAY,
	  .count = 64,
	  .elem_size = 8 },
	{ .name = "bb",
	  .kind = SHOAL_STORE_BLACKBOARD,
	  .count = 8,
	  .elem_size = 64 },
	{ .name = "bbm",
	  .kind = SHOAL_STORE_BLACKBOARD,
	  .count = 4,
	  .elem_size = 32,
	  .flags = SHOAL_STORE_MANY_WRITERS },
	{ .name = "st",
	  .kind = SHOAL_STORE_STACK,
	  .count = 16,
	  .elem_size = 16 },
	{ .name = "map",
	  .kind = SHOAL_STORE_MAP,
	  .count = 16,
	  .elem_size = 16,
	  .key_size = 16 },
};
#define NOBJS (sizeof(objs) / sizeof(objs[0]))

static int create(const char *name, struct shoal_store **s)
{
	struct shoal_store_options o;
	int err;

	shoal_store_options_init(&o);
	o.registry = reg;
	o.objects = objs;
	o.nobjects = 2;
	o.reserve_bytes = 1 << 20;
	err = shoal_store_create(name, &o, s);
	if (err)
		return err;
	/* Stacks and maps as far as this build has them. */
	for (uint32_t i = 2; i < NOBJS; i++) {
		err = shoal_store_add(*s, &objs[i]);
		if (err < 0 && err != -EINVAL)
			return err;
	}
	return 0;
}

static int peer(const char *name, uint32_t flags, struct shoal_store **s)
{
	struct shoal_store_options o;

	shoal_store_options_init(&o);
	o.registry = reg;
	o.flags = flags;
	return shoal_store_open(name, &o, s);
}

static int lookup_ok(int err)
{
	return err == 0 || err == -ENOENT || err == -EPROTO || err == -EBADMSG;
}

/* Every lookup of @s; each must give a documented answer, and what it
 * hands out must be inside the mapping. 0 or -1. */
static int probe(struct shoal_store *s)
{
	uint8_t *lo = s->heap, *hi = s->heap + s->g.heap_size;
	uint32_t n = shoal_store_object_count(s);

	if (n > s->g.max_objects)
		return -1;
	for (uint32_t i = 0; i < n + 2; i++) {
		struct shoal_store_object_info info;
		int err = shoal_store_object_at(s, i, &info);

		if (err && err != -ENOENT && err != -EBADMSG)
			return -1;
		if (!err && (info.offset + info.size > s->g.heap_size))
			return -1;
	}
	for (uint32_t i = 0; i < NOBJS; i++) {
		struct shoal_array a;
		struct shoal_blackboard bb;
		struct shoal_stack st;
		struct shoal_map m;
		unsigned char buf[64];
		int err;

		err = shoal_store_array(s, objs[i].name, &a);
		if (!lookup_ok(err))
			return -1;
		if (!err) {
			uint8_t *first = shoal_array_ptr(&a, 0);
			uint8_t *end = first + (uint64_t)a.count * a.elem_size;

			if (first < lo || end > hi)
				return -1;
			/* Touch both ends: ASan would see a stray one. */
			(void)*(volatile uint8_t *)first;
			(void)*(volatile uint8_t *)(end - 1);
		}
		err = shoal_store_blackboard(s, objs[i].name, &bb);
		if (!lookup_ok(err))
			return -1;
		if (!err) {
			int n2 = shoal_blackboard_read(&bb, bb.count - 1, buf,
						       sizeof(buf), NULL);

			if (n2 < 0 && n2 != -EAGAIN && n2 != -EMSGSIZE)
				return -1;
		}
		err = shoal_store_stack(s, objs[i].name, &st);
		if (!lookup_ok(err))
			return -1;
		err = shoal_store_map(s, objs[i].name, &m);
		if (!lookup_ok(err))
			return -1;
	}
	return 0;
}

static int test_peers_cannot_write_the_table(void)
{
	struct shoal_store *s, *p;
	void *w;

	CHECK_EQ(create("hostile/seal", &s), 0);
	CHECK_EQ(peer("hostile/seal", 0, &p), 0);
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
		 shoal_segment_fd(shoal_service_segment(p->svc)), 0);
	CHECK(w == MAP_FAILED && errno == EPERM);
	shoal_store_close(p);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_scribbled_table(uint64_t rounds)
{
	struct shoal_store *s, *p;
	struct shoal__store_header *h;
	uint8_t *table;
	size_t tbytes;
	uint8_t *saved;
	unsigned seed = 12345;

	CHECK_EQ(create("hostile/table", &s), 0);
	CHECK_EQ(peer("hostile/table", 0, &p), 0);
	h = s->g.hdr;
	table = (uint8_t *)shoal__store_table(h);
	tbytes = (size_t)atomic_load(&h->nobjects) *
		 sizeof(struct shoal__store_entry);
	saved = malloc(tbytes + sizeof(*h));
	CHECK(saved != NULL);
	memcpy(saved, h, sizeof(*h));
	memcpy(saved + sizeof(*h), table, tbytes);
	CHECK_EQ(probe(p), 0);
	for (uint64_t r = 0; r < rounds; r++) {
		int what = rand_r(&seed) % 8;
		int hits = 1 + rand_r(&seed) % 4;

		for (int k = 0; k < hits; k++) {
			uint32_t word = (uint32_t)rand_r(&seed) *
					(rand_r(&seed) % 3 ? 1u : 0x10001u);
			uint32_t special[] = { 0,	   1,
					       63,	   64,
					       0x7fffffff, 0xffffffff,
					       0x80000000, 4096 };

			if (rand_r(&seed) % 2)
				word = special[rand_r(&seed) % 8];
			if (what == 0)
				atomic_store(&h->nobjects, word);
			else if (what == 1)
				/* A configuration word: only new opens read
				 * it (and check it). */
				memcpy((uint8_t *)h + 12 +
					       4 * (rand_r(&seed) % 6),
				       &word, 4);
			else
				memcpy(table + 4 * (size_t)(rand_r(&seed) %
							    (tbytes / 4)),
				       &word, 4);
		}
		if (probe(p)) {
			fprintf(stderr, "round %llu: a lookup misbehaved\n",
				(unsigned long long)r);
			return TEST_FAIL;
		}
		if (r % 64 == 0) {
			struct shoal_store *q;
			int err = peer("hostile/table", 0, &q);

			if (!err) {
				if (probe(q))
					return TEST_FAIL;
				shoal_store_close(q);
			} else if (err != -EBADMSG && err != -EPROTO) {
				fprintf(stderr, "open: %d %s\n", err,
					shoal_last_error());
				return TEST_FAIL;
			}
		}
		memcpy(h, saved, sizeof(*h));
		memcpy(table, saved + sizeof(*h), tbytes);
	}
	CHECK_EQ(probe(p), 0);
	free(saved);
	shoal_store_close(p);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int op_ok(int err)
{
	return err >= 0 || err == -EAGAIN || err == -EBUSY || err == -EBADMSG ||
	       err == -ENOENT || err == -ENOSPC || err == -EMSGSIZE ||
	       err == -EEXIST;
}

static int test_scribbled_data(uint64_t rounds)
{
	struct shoal_store *s;
	struct shoal_array a;
	struct shoal_blackboard bb, bbm;
	struct shoal_stack st;
	struct shoal_map m;
	int have_st, have_map;
	pid_t pid;
	unsigned seed = 777;

	CHECK_EQ(create("hostile/data", &s), 0);
	CHECK_EQ(shoal_store_array(s, "arr", &a), 0);
	CHECK_EQ(shoal_store_blackboard(s, "bb", &bb), 0);
	CHECK_EQ(shoal_store_blackboard(s, "bbm", &bbm), 0);
	have_st = !shoal_store_stack(s, "st", &st);
	have_map = !shoal_store_map(s, "map", &m);
	pid = fork();
	if (pid == 0) {
		struct shoal_store *h;
		unsigned cs = 99;

		if (test_registry_open(path, &reg) ||
		    peer("hostile/data", 0, &h))
			_exit(2);
		for (;;) {
			uint64_t off =
				((uint64_t)rand_r(&cs) * 8) % h->g.heap_size;
			uint64_t v = (uint64_t)rand_r(&cs) << 33 ^
				     (uint64_t)rand_r(&cs);

			if (rand_r(&cs) % 4 == 0)
				v = rand_r(&cs) % 2 ? 0 : UINT64_MAX;
			memcpy(h->heap + off, &v, 8);
		}
	}
	CHECK(pid > 0);
	for (uint64_t r = 0; r < rounds * 10; r++) {
		unsigned char buf[64], key[8];
		uint64_t v = 0;
		uint32_t k = (uint32_t)rand_r(&seed);
		int err;

		memcpy(key, &k, 4);
		memcpy(key + 4, "key", 4);
		err = shoal_array_add64(&a, k % 64, 1, &v);
		if (err)
			goto bad;
		err = shoal_blackboard_write(&bb, k % 8, buf, 64);
		if (!op_ok(err))
			goto bad;
		err = shoal_blackboard_read(&bb, (k + 1) % 8, buf, 64, &v);
		if (!op_ok(err))
			goto bad;
		err = shoal_blackboard_write(&bbm, k % 4, buf, 32);
		if (!op_ok(err))
			goto bad;
		err = shoal_blackboard_read(&bbm, k % 4, buf, 64, NULL);
		if (!op_ok(err))
			goto bad;
		if (have_st) {
			err = shoal_stack_push(&st, buf, 16);
			if (!op_ok(err))
				goto bad;
			err = shoal_stack_pop(&st, buf, 64);
			if (!op_ok(err))
				goto bad;
		}
		if (have_map) {
			err = shoal_map_put(&m, key, 1 + k % 8, buf, 16);
			if (!op_ok(err))
				goto bad;
			err = shoal_map_get(&m, key, 1 + k % 8, buf, 64);
			if (!op_ok(err))
				goto bad;
			err = shoal_map_delete(&m, key, 1 + k % 8);
			if (!op_ok(err))
				goto bad;
		}
		continue;
bad:
		fprintf(stderr, "round %llu: %d (%s)\n", (unsigned long long)r,
			err, shoal_last_error());
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return TEST_FAIL;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* A new handle looks everything up again over the wreck. */
	{
		struct shoal_store *p;

		CHECK_EQ(peer("hostile/data", 0, &p), 0);
		CHECK_EQ(probe(p), 0);
		shoal_store_close(p);
	}
	shoal_store_destroy(s);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	uint64_t rounds = test_arg_u64(argc, argv, 1, 3000);

	psu_watchdog(230);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_peers_cannot_write_the_table);
	test_count("test_scribbled_table", test_scribbled_table(rounds));
	test_count("test_scribbled_data", test_scribbled_data(rounds));
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
