/* shoal-test: label=multiproc timeout=120 */
/*
 * The store's blackboard between processes: values and change counters
 * written by one process and read by another; every value a reader sees
 * while a writer rewrites a key is one the writer wrote whole; many
 * writers of one key (MANY_WRITERS); waiting for any of a set of keys
 * across processes (shoal_store_wait through the event service, and by
 * polling in a store without one); a read-only handle refused (-EPERM);
 * bad keys and sizes; -EPIPE for a waiter once the owner withdrew. The
 * concurrent reads run three ways: the inline read of store.h, the
 * out-of-line one alone, and the inline one on a handle that says another
 * cell layout (it must fall back, not misread).
 */
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

#define VSIZE 64
#define WRITES 20000

static void sopts(struct shoal_store_options *o)
{
	shoal_store_options_init(o);
	o->registry = reg;
}

static struct shoal_store *child_open(const char *name, uint32_t flags)
{
	struct shoal_store_options o;
	struct shoal_store *s = NULL;

	if (test_registry_open(path, &reg))
		_exit(2);
	sopts(&o);
	o.flags = flags;
	o.timeout_ns = 5000000000LL;
	if (shoal_store_open(name, &o, &s)) {
		fprintf(stderr, "child open: %s\n", shoal_last_error());
		_exit(3);
	}
	return s;
}

/* A value every byte of which is @v's low byte, and whose first 8 bytes
 * are @v: a torn copy has bytes of two values. */
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

static int make(const char *name, uint32_t flags, uint32_t ids,
		struct shoal_store **s, struct shoal_blackboard *bb)
{
	struct shoal_store_object obj = { .name = "bb",
					  .kind = SHOAL_STORE_BLACKBOARD,
					  .count = 8,
					  .elem_size = VSIZE,
					  .flags = flags };
	struct shoal_store_options o;
	int err;

	sopts(&o);
	o.objects = &obj;
	o.nobjects = 1;
	o.event_ids = ids;
	err = shoal_store_create(name, &o, s);
	if (err)
		return err;
	return shoal_store_blackboard(*s, "bb", bb);
}

/*
 * A read the way @how says: 0 shoal_blackboard_read() (its inline attempt
 * first), 1 shoal_blackboard_read_slow() (out of line only), 2 the inline
 * read on a handle whose priv_layout says another layout (as a newer
 * library would leave it), which must go out of line.
 */
static int read_as(int how, const struct shoal_blackboard *bb, uint32_t key,
		   void *buf, uint32_t cap, uint64_t *version)
{
	struct shoal_blackboard other = *bb;

	if (how == 1)
		return shoal_blackboard_read_slow(bb, key, buf, cap, version);
	if (how == 2) {
		other.priv_layout = SHOAL_BLACKBOARD_LAYOUT + 1;
		other.priv_cells = NULL;
		return shoal_blackboard_read(&other, key, buf, cap, version);
	}
	return shoal_blackboard_read(bb, key, buf, cap, version);
}

static int test_values_between_processes(int how)
{
	struct shoal_store *s;
	struct shoal_blackboard bb;
	unsigned char buf[VSIZE];
	uint64_t version = 99;
	char name[32];
	pid_t pid;

	snprintf(name, sizeof(name), "bb/values%d", how);
	CHECK_EQ(make(name, 0, 256, &s, &bb), 0);
	CHECK_EQ(bb.priv_layout, SHOAL_BLACKBOARD_LAYOUT);
	CHECK_EQ(read_as(how, &bb, 3, buf, sizeof(buf), &version), VSIZE);
	CHECK_EQ(version, 0);
	CHECK_EQ(shoal_blackboard_write(&bb, 8, buf, 1), -ERANGE);
	CHECK_EQ(shoal_blackboard_write(&bb, 0, buf, VSIZE + 1), -EMSGSIZE);
	CHECK_EQ(read_as(how, &bb, 0, buf, VSIZE - 1, NULL), -EMSGSIZE);
	CHECK_EQ(read_as(how, &bb, 8, buf, VSIZE, NULL), -ERANGE);
	pid = fork();
	if (pid == 0) {
		struct shoal_store *cs = child_open(name, 0);
		struct shoal_blackboard cb;
		unsigned char v[VSIZE];

		if (shoal_store_blackboard(cs, "bb", &cb))
			_exit(4);
		for (uint64_t i = 1; i <= WRITES; i++) {
			fill(v, i);
			if (shoal_blackboard_write(&cb, 3, v, VSIZE))
				_exit(5);
		}
		shoal_store_close(cs);
		shoal_registry_destroy(reg);
		_exit(0);
	}
	/* Read while the child writes: every value whole, versions never
	 * going back, each value the one its version says. */
	{
		uint64_t last = 0;
		int bad = 0;

		while (last < WRITES) {
			uint64_t v;
			int n = read_as(how, &bb, 3, buf, sizeof(buf),
					&version);

			if (n == -EAGAIN)
				continue;
			if (n != VSIZE || version < last) {
				bad = 1;
				break;
			}
			memcpy(&v, buf, 8);
			if (version && (!whole(buf) || v != version)) {
				bad = 1;
				break;
			}
			last = version;
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				pid = 0;
				read_as(how, &bb, 3, buf, sizeof(buf), &last);
				break;
			}
		}
		CHECK(!bad);
		CHECK_EQ(last, WRITES);
	}
	if (pid)
		CHECK(test_wait_child(pid, 60));
	CHECK_EQ(shoal_blackboard_version(&bb, 3), WRITES);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_values_inline_read(void)
{
	return test_values_between_processes(0);
}

static int test_values_out_of_line_read(void)
{
	return test_values_between_processes(1);
}

static int test_values_other_layout(void)
{
	return test_values_between_processes(2);
}

static int test_many_writers(void)
{
	struct shoal_store *s;
	struct shoal_blackboard bb;
	unsigned char buf[VSIZE];
	pid_t pids[2];

	CHECK_EQ(make("bb/many", SHOAL_STORE_MANY_WRITERS, 0, &s, &bb), 0);
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		if (pids[c] == 0) {
			struct shoal_store *cs = child_open("bb/many", 0);
			struct shoal_blackboard cb;
			unsigned char v[VSIZE];

			if (shoal_store_blackboard(cs, "bb", &cb))
				_exit(4);
			for (uint64_t i = 1; i <= WRITES / 4; i++) {
				int err;

				fill(v, (uint64_t)(c + 1) << 32 | i);
				while ((err = shoal_blackboard_write(
						&cb, 1, v, VSIZE)) == -EBUSY)
					;
				if (err)
					_exit(5);
			}
			shoal_store_close(cs);
			shoal_registry_destroy(reg);
			_exit(0);
		}
	}
	for (int i = 0; i < 2000; i++) {
		int n = shoal_blackboard_read(&bb, 1, buf, sizeof(buf), NULL);

		CHECK(n == -EAGAIN || (n == VSIZE && whole(buf)));
	}
	for (int c = 0; c < 2; c++)
		CHECK(test_wait_child(pids[c], 60));
	CHECK_EQ(shoal_blackboard_version(&bb, 1), 2 * (WRITES / 4));
	shoal_store_destroy(s);
	return TEST_PASS;
}

/* A child waits for keys 2 and 5; the parent writes key 5 once the child
 * says it is waiting (a flag in shared memory). */
static int wait_case(const char *name, uint32_t ids)
{
	struct shoal_store *s;
	struct shoal_blackboard bb;
	_Atomic int *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	CHECK(flag != MAP_FAILED);
	CHECK_EQ(make(name, 0, ids, &s, &bb), 0);
	pid = fork();
	if (pid == 0) {
		struct shoal_store *cs =
			child_open(name, SHOAL_STORE_READ_ONLY);
		struct shoal_blackboard cb;
		struct shoal_store_watch w[2];
		unsigned char v[VSIZE];
		int n;

		if (shoal_store_blackboard(cs, "bb", &cb))
			_exit(4);
		w[0] = (struct shoal_store_watch){ &cb, 2, 0, 0 };
		w[1] = (struct shoal_store_watch){ &cb, 5, 0, 0 };
		if (shoal_store_wait(cs, w, 2, 0) != -EAGAIN)
			_exit(5);
		if (shoal_blackboard_write(&cb, 5, v, 1) != -EPERM)
			_exit(6);
		atomic_store(flag, 1);
		n = shoal_store_wait(cs, w, 2, 30000000000LL);
		if (n != 1 || w[0].changed || !w[1].changed || w[1].seen != 1)
			_exit(7);
		if (shoal_blackboard_read(&cb, 5, v, VSIZE, NULL) != VSIZE ||
		    memcmp(v, "pose", 4))
			_exit(8);
		atomic_store(flag, 2);
		/* Then the owner withdraws: -EPIPE (or a timeout, when
		 * there is no event service to say so). */
		n = shoal_store_wait(cs, w, 2, ids ? 30000000000LL : 50000000);
		if (n != (ids ? -EPIPE : -ETIMEDOUT))
			_exit(9);
		shoal_store_close(cs);
		shoal_registry_destroy(reg);
		_exit(0);
	}
	CHECK(test_wait_flag(flag, 1, 30));
	CHECK_EQ(shoal_blackboard_write(&bb, 5, "pose", 4), 0);
	CHECK(test_wait_flag(flag, 2, 30));
	shoal_store_destroy(s);
	CHECK(test_wait_child(pid, 60));
	munmap((void *)flag, 4096);
	return TEST_PASS;
}

static int test_wait_events(void)
{
	return wait_case("bb/wait", 256);
}

static int test_wait_polling(void)
{
	return wait_case("bb/poll", 0);
}

static int test_shared_ids(void)
{
	/* 2 ids for 8 keys: keys share ids, waits still report the right
	 * key. */
	return wait_case("bb/shared", 2);
}

int main(void)
{
	char top[PATH_MAX];
	int fds;

	psu_watchdog(110);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	fds = test_count_fds();
	RUN(test_values_inline_read);
	RUN(test_values_out_of_line_read);
	RUN(test_values_other_layout);
	RUN(test_many_writers);
	RUN(test_wait_events);
	RUN(test_wait_polling);
	RUN(test_shared_ids);
	if (test_count_fds() != fds) {
		fprintf(stderr, "fds: %d before, %d after\n", fds,
			test_count_fds());
		test_failures_++;
	}
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
