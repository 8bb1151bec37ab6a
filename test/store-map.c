/* shoal-test: label=multiproc timeout=240 args=200 */
/*
 * The store's map between processes: put, get, update, delete, string and
 * binary keys, full (-ENOSPC), sizes, read-only refusal; two writer
 * processes putting disjoint keys while a third looks them up (every value
 * read whole, every key found once written); then writers SIGKILLed at
 * random points, argv[1] times: afterwards every key a writer was told was
 * put is there with its value, a walk of the map finds each key once and
 * every value whole, and the map still takes new keys.
 */
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "objects/map.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

#define CAP 4096
#define VSIZE 32
#define KSIZE 16
/* Rounds of the kill test reuse SLOTS key sets in turn. */
#define SLOTS 32

static void value_of(unsigned char *v, uint32_t who, uint32_t i)
{
	uint64_t x = (uint64_t)who << 32 | i;

	memset(v, (int)(x * 7 & 0xff), VSIZE);
	memcpy(v, &x, 8);
}

static int whole(const unsigned char *v)
{
	uint64_t x;

	memcpy(&x, v, 8);
	for (int i = 8; i < VSIZE; i++)
		if (v[i] != (unsigned char)(x * 7 & 0xff))
			return 0;
	return 1;
}

static uint32_t key_of(unsigned char *k, uint32_t who, uint32_t i)
{
	return (uint32_t)snprintf((char *)k, KSIZE + 1, "k%u.%u", who, i);
}

static int make(struct shoal_store **s, struct shoal_map *m)
{
	struct shoal_store_object obj = { .name = "m",
					  .kind = SHOAL_STORE_MAP,
					  .count = CAP,
					  .elem_size = VSIZE,
					  .key_size = KSIZE };
	struct shoal_store_options o;
	int err;

	shoal_store_options_init(&o);
	o.registry = reg;
	o.objects = &obj;
	o.nobjects = 1;
	o.event_ids = 0;
	err = shoal_store_create("smap", &o, s);
	return err ? err : shoal_store_map(*s, "m", m);
}

static struct shoal_map child_map(void)
{
	struct shoal_store_options o;
	struct shoal_store *s = NULL;
	struct shoal_map m;

	if (test_registry_open(path, &reg))
		_exit(2);
	shoal_store_options_init(&o);
	o.registry = reg;
	if (shoal_store_open("smap", &o, &s) || shoal_store_map(s, "m", &m))
		_exit(3);
	return m;
}

static int test_basics(void)
{
	struct shoal_store *s, *ro;
	struct shoal_map m, rm;
	struct shoal_store_options o;
	unsigned char v[VSIZE], k[KSIZE + 1];

	CHECK_EQ(make(&s, &m), 0);
	CHECK_EQ(shoal_map_get(&m, "a", 1, v, VSIZE), -ENOENT);
	CHECK_EQ(shoal_map_put(&m, "a", 1, "one", 3), 0);
	CHECK_EQ(shoal_map_get(&m, "a", 1, v, VSIZE), VSIZE);
	CHECK(!memcmp(v, "one\0", 4));
	CHECK_EQ(shoal_map_put(&m, "a", 1, "two", 3), 0);
	CHECK_EQ(shoal_map_get(&m, "a", 1, v, VSIZE), VSIZE);
	CHECK(!memcmp(v, "two\0", 4));
	CHECK_EQ(shoal_map_get(&m, "a", 1, v, VSIZE - 1), -EMSGSIZE);
	CHECK_EQ(shoal_map_put(&m, "a", 1, v, VSIZE + 1), -EMSGSIZE);
	CHECK(shoal_map_put(&m, "0123456789abcdefX", KSIZE + 1, v, 1) < 0);
	CHECK_EQ(shoal_map_put(&m, "\0\1\2", 3, "bin", 3), 0);
	CHECK_EQ(shoal_map_delete(&m, "a", 1), 0);
	CHECK_EQ(shoal_map_delete(&m, "a", 1), -ENOENT);
	CHECK_EQ(shoal_map_get(&m, "a", 1, v, VSIZE), -ENOENT);
	CHECK_EQ(shoal_map_put(&m, "a", 1, "back", 4), 0);
	shoal_store_options_init(&o);
	o.registry = reg;
	o.flags = SHOAL_STORE_READ_ONLY;
	CHECK_EQ(shoal_store_open("smap", &o, &ro), 0);
	CHECK_EQ(shoal_store_map(ro, "m", &rm), 0);
	CHECK_EQ(shoal_map_get(&rm, "a", 1, v, VSIZE), VSIZE);
	CHECK(!memcmp(v, "back", 4));
	CHECK_EQ(shoal_map_put(&rm, "b", 1, "x", 1), -EPERM);
	CHECK_EQ(shoal_map_delete(&rm, "a", 1), -EPERM);
	shoal_store_close(ro);
	/* Full: CAP keys fit, one more does not (two are there). */
	for (uint32_t i = 0; i < CAP - 2; i++)
		CHECK_EQ(shoal_map_put(&m, k, key_of(k, 9, i), v, 1), 0);
	CHECK_EQ(shoal_map_put(&m, k, key_of(k, 9, CAP), v, 1), -ENOSPC);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_between_processes(void)
{
	struct shoal_store *s;
	struct shoal_map m;
	_Atomic uint32_t *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[3];
	const uint32_t per = 1500;

	CHECK(done != MAP_FAILED);
	CHECK_EQ(make(&s, &m), 0);
	for (int c = 0; c < 3; c++) {
		pids[c] = fork();
		if (pids[c])
			continue;
		{
			struct shoal_map cm = child_map();
			unsigned char v[VSIZE], k[KSIZE + 1];

			if (c < 2) {
				for (uint32_t i = 0; i < per; i++) {
					int err;

					value_of(v, (uint32_t)c, i);
					while ((err = shoal_map_put(
							&cm, k,
							key_of(k, (uint32_t)c,
							       i),
							v, VSIZE)) == -EBUSY)
						;
					if (err)
						_exit(4);
					atomic_store(&done[c], i + 1);
				}
				_exit(0);
			}
			/* The reader: each key a writer said it put is
			 * found, whole, with its value. */
			while (atomic_load(&done[0]) < per ||
			       atomic_load(&done[1]) < per) {
				for (uint32_t w = 0; w < 2; w++) {
					uint32_t d = atomic_load(&done[w]);
					int n;
					uint64_t x;

					if (!d)
						continue;
					n = shoal_map_get(&cm, k,
							  key_of(k, w, d - 1),
							  v, VSIZE);
					if (n == -EAGAIN)
						continue;
					memcpy(&x, v, 8);
					if (n != VSIZE || !whole(v) ||
					    x != ((uint64_t)w << 32 | (d - 1)))
						_exit(5);
				}
			}
			_exit(0);
		}
	}
	for (int c = 0; c < 3; c++)
		CHECK(test_wait_child(pids[c], 120));
	munmap((void *)done, 4096);
	shoal_store_destroy(s);
	return TEST_PASS;
}

struct walk {
	uint8_t *count; /* [who * 64 + i] */
	uint32_t rounds;
	int bad;
};

static int visit(const void *key, uint32_t klen, const void *value,
		 uint32_t vlen, uint64_t change_count, void *user_data)
{
	struct walk *w = user_data;
	char kbuf[KSIZE + 1];
	unsigned who, i;
	uint64_t x;

	(void)change_count;
	if (klen > KSIZE || vlen != VSIZE || !whole(value)) {
		w->bad = 1;
		return 0;
	}
	memcpy(kbuf, key, klen);
	kbuf[klen] = 0;
	if (sscanf(kbuf, "k%u.%u", &who, &i) != 2 || who >= SLOTS || i >= 64) {
		w->bad = 1;
		return 0;
	}
	/* The value of some round r with r % SLOTS == who, of this i. */
	memcpy(&x, value, 8);
	if ((x >> 32) % SLOTS != who || (x >> 32) > w->rounds ||
	    (uint32_t)x != i || w->count[who * 64 + i]++)
		w->bad = 1;
	return 0;
}

static int test_killed_writers(uint32_t rounds)
{
	struct shoal_store *s;
	struct shoal_map m;
	_Atomic uint32_t *done = mmap(NULL, (rounds + 1) * 4 + 8,
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct walk w = { calloc(SLOTS * 64, 1), rounds, 0 };
	unsigned seed = (unsigned)getpid();
	unsigned char v[VSIZE], k[KSIZE + 1], buf[KSIZE + VSIZE + 64];

	CHECK(done != MAP_FAILED && w.count);
	CHECK_EQ(make(&s, &m), 0);
	for (uint32_t r = 1; r <= rounds; r++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct shoal_map cm = child_map();

			for (uint32_t i = 0; i < 64; i++) {
				int err;

				value_of(v, r, i);
				while ((err = shoal_map_put(
						&cm, k, key_of(k, r % SLOTS, i),
						v, VSIZE)) == -EBUSY)
					;
				if (err)
					_exit(4);
				atomic_store(&done[r], i + 1);
			}
			pause();
			_exit(0);
		}
		CHECK(pid > 0);
		/* Kill after a random number of its puts (or none). */
		{
			uint32_t at = (uint32_t)rand_r(&seed) % 70;
			int64_t spins = 0;

			while (atomic_load(&done[r]) < at && at < 64 &&
			       ++spins < 2000000000)
				;
			for (int i = rand_r(&seed) % 2000; i > 0; i--)
				(void)atomic_load(&done[r]);
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* Every put it was told of is there, whole. */
		for (uint32_t i = 0; i < atomic_load(&done[r]); i++) {
			uint64_t x;

			CHECK_EQ(shoal_map_get(&m, k, key_of(k, r % SLOTS, i),
					       v, VSIZE),
				 VSIZE);
			memcpy(&x, v, 8);
			CHECK(whole(v) && x == ((uint64_t)r << 32 | i));
		}
		/* Every third round, delete what it put: the next round of
		 * this key set revives the tombs. */
		if (r % 3 == 0)
			for (uint32_t i = 0; i < 64; i++)
				(void)shoal_map_delete(&m, k,
						       key_of(k, r % SLOTS, i));
	}
	CHECK(shoal__map_iterate(m.view, buf, sizeof(buf), visit, &w) >= 0);
	CHECK(!w.bad);
	/* Still takes keys (or says it is full: never breaks). */
	{
		int err = shoal_map_put(&m, "after", 5, "x", 1);

		CHECK(err == 0 || err == -ENOSPC);
	}
	free(w.count);
	munmap((void *)done, (rounds + 1) * 4 + 8);
	shoal_store_destroy(s);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	uint64_t rounds = test_arg_u64(argc, argv, 1, 200);

	psu_watchdog(230);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_basics);
	RUN(test_between_processes);
	test_count("test_killed_writers",
		   test_killed_writers((uint32_t)rounds));
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
