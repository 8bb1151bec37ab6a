/* shoal-test: label=stress timeout=300 args=300 */
/*
 * Blackboard writers SIGKILLed at random points, argv[1] times (default
 * 300; the 1000 with an argument): a writer process rewrites one
 * key with values of 4 KiB (so that a kill often lands inside a copy)
 * while this process reads it. Every value read, before and after each
 * kill, must be one a writer wrote whole; versions never go back; after
 * the kill the next writer (the next child) takes over and its values are
 * read. Half the rounds use a many-writer key, where the dead writer may
 * hold the latch: the next writer must take it over (its line lock is
 * gone with it), never wait forever.
 */
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

#define VSIZE 4096

static void fill(unsigned char *buf, uint64_t v)
{
	memset(buf, (int)(v & 0xff), VSIZE);
	memcpy(buf, &v, 8);
}

static int whole(const unsigned char *buf)
{
	uint64_t v;

	memcpy(&v, buf, 8);
	for (int i = 8; i < VSIZE; i++)
		if (buf[i] != (unsigned char)(v & 0xff))
			return 0;
	return 1;
}

static int64_t now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec;
}

/* Child: writes key @key of blackboard @obj for ever, values
 * (round << 32 | i). */
static void writer(const char *name, const char *obj, uint32_t key,
		   uint64_t round)
{
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_blackboard bb;
	static unsigned char v[VSIZE];

	if (test_registry_open(path, &reg))
		_exit(2);
	shoal_store_options_init(&o);
	o.registry = reg;
	if (shoal_store_open(name, &o, &s) ||
	    shoal_store_blackboard(s, obj, &bb))
		_exit(3);
	for (uint64_t i = 1;; i++) {
		fill(v, round << 32 | i);
		while (shoal_blackboard_write(&bb, key, v, VSIZE) == -EBUSY)
			;
	}
}

/* Reads key @key once: 0 if whole (or busy), -1 if torn or going back. */
static int check_read(const struct shoal_blackboard *bb, uint32_t key,
		      uint64_t *last_version, uint64_t *value)
{
	static unsigned char buf[VSIZE];
	uint64_t version = 0;
	int n = shoal_blackboard_read(bb, key, buf, VSIZE, &version);

	if (n == -EAGAIN)
		return 0;
	if (n != VSIZE || version < *last_version) {
		fprintf(stderr, "read %d, version %llu after %llu\n", n,
			(unsigned long long)version,
			(unsigned long long)*last_version);
		return -1;
	}
	if (version && !whole(buf)) {
		fprintf(stderr, "torn value at version %llu\n",
			(unsigned long long)version);
		return -1;
	}
	*last_version = version;
	memcpy(value, buf, 8);
	return 0;
}

static int test_kill_writers(uint64_t rounds)
{
	struct shoal_store_object objs[] = {
		{ .name = "bb",
		  .kind = SHOAL_STORE_BLACKBOARD,
		  .count = 2,
		  .elem_size = VSIZE },
	};
	struct shoal_store_object many = objs[0];
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_blackboard bb[2];
	uint64_t last[2] = { 0, 0 };
	unsigned seed = (unsigned)getpid();

	many.name = "bbm";
	many.flags = SHOAL_STORE_MANY_WRITERS;
	shoal_store_options_init(&o);
	o.registry = reg;
	o.objects = objs;
	o.nobjects = 1;
	o.event_ids = 0;
	o.reserve_bytes = 1 << 16;
	CHECK_EQ(shoal_store_create("kill/bb", &o, &s), 0);
	CHECK_EQ(shoal_store_add(s, &many), 1);
	CHECK_EQ(shoal_store_blackboard(s, "bb", &bb[0]), 0);
	CHECK_EQ(shoal_store_blackboard(s, "bbm", &bb[1]), 0);
	for (uint64_t r = 1; r <= rounds; r++) {
		int m = (int)(r & 1);
		uint64_t value = 0, start = last[m];
		uint64_t target = start + 1 + (uint64_t)(rand_r(&seed) % 64);
		int64_t deadline = now_s() + 60;
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			writer("kill/bb", m ? "bbm" : "bb", 0, r);
		}
		CHECK(pid > 0);
		/* Read until the child made progress (a value of this
		 * round), then a random number of reads more, then kill. */
		while (last[m] < target || (value >> 32) != r) {
			if (check_read(&bb[m], 0, &last[m], &value))
				goto fail;
			if (now_s() > deadline) {
				fprintf(stderr, "round %llu: no progress\n",
					(unsigned long long)r);
				goto fail;
			}
		}
		for (int i = rand_r(&seed) % 200; i > 0; i--)
			if (check_read(&bb[m], 0, &last[m], &value))
				goto fail;
		kill(pid, SIGKILL);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status));
		for (int i = 0; i < 10; i++)
			if (check_read(&bb[m], 0, &last[m], &value))
				goto fail;
		continue;
fail:
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return TEST_FAIL;
	}
	/* The owner writes last, over whatever the dead left. */
	{
		static unsigned char v[VSIZE];
		uint64_t value = 0;

		for (int m = 0; m < 2; m++) {
			fill(v, 7);
			CHECK_EQ(shoal_blackboard_write(&bb[m], 0, v, VSIZE),
				 0);
			CHECK_EQ(check_read(&bb[m], 0, &last[m], &value), 0);
			CHECK_EQ(value, 7);
		}
	}
	shoal_store_destroy(s);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	uint64_t rounds = test_arg_u64(argc, argv, 1, 300);

	psu_watchdog(290);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	test_count("test_kill_writers", test_kill_writers(rounds));
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
