/* shoal-test: label=multiproc timeout=120 */
/*
 * The store between processes: create with objects, open by name from a
 * child, arrays (atomic 32/64-bit ops racing in two processes, raw get/set,
 * zero-copy pointer), adding objects later (seen by an open peer; -EEXIST,
 * -ENOSPC for the table and the reserved bytes; -EPERM for a peer), lookups
 * of the wrong kind (-EPROTO) or a missing name (-ENOENT), read-only peers
 * (-EPERM from the API, SIGSEGV for a write through the mapping),
 * inspection, withdrawal (new opens fail), fds by SCM_RIGHTS only (the
 * heap and the event service of a wait), and no fd left behind.
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

#define ROUNDS 20000

static void sopts(struct shoal_store_options *o)
{
	shoal_store_options_init(o);
	o->registry = reg;
}

/* A child's registry: a fresh handle on the same directory. */
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

static const struct shoal_store_object objs[] = {
	{ .name = "counters",
	  .kind = SHOAL_STORE_ARRAY,
	  .count = 4,
	  .elem_size = 8,
	  .type_name = "u64" },
	{ .name = "flags",
	  .kind = SHOAL_STORE_ARRAY,
	  .count = 16,
	  .elem_size = 4,
	  .type_name = "u32" },
	{ .name = "pose",
	  .kind = SHOAL_STORE_ARRAY,
	  .count = 3,
	  .elem_size = 24,
	  .elem_align = 8,
	  .type_name = "double[3]" },
};

static int test_arrays_between_processes(void)
{
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_array c, f, p;
	struct shoal_store_object_info info;
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	double pose[3] = { 1, 2, 3 }, got[3];
	pid_t pid;

	sopts(&o);
	o.objects = objs;
	o.nobjects = 3;
	CHECK_EQ(shoal_store_create("st/arrays", &o, &s), 0);
	CHECK_EQ(shoal_store_object_count(s), 3);
	CHECK_EQ(shoal_store_object_at(s, 2, &info), 0);
	CHECK(!strcmp(info.name, "pose") && info.elem_size == 24 &&
	      !strcmp(info.type_name, "double[3]"));
	CHECK_EQ(shoal_store_object_at(s, 3, &info), -ENOENT);
	CHECK_EQ(shoal_store_array(s, "counters", &c), 0);
	CHECK_EQ(shoal_store_array(s, "flags", &f), 0);
	CHECK_EQ(shoal_store_array(s, "pose", &p), 0);
	CHECK_EQ(shoal_store_array(s, "nope", &p), -ENOENT);
	CHECK_EQ(shoal_array_set(&p, 1, pose), 0);
	CHECK_EQ(shoal_array_load32(&c, 0, &v32), -EINVAL);
	CHECK_EQ(shoal_array_load64(&c, 4, &v64), -ERANGE);
	pid = fork();
	if (pid == 0) {
		struct shoal_store *cs = child_open("st/arrays", 0);
		struct shoal_array cc, cf, cp;
		uint32_t e = 0;
		double g[3];

		if (shoal_store_array(cs, "counters", &cc) ||
		    shoal_store_array(cs, "flags", &cf) ||
		    shoal_store_array(cs, "pose", &cp))
			_exit(4);
		if (shoal_array_get(&cp, 1, g) || g[0] != 1 || g[2] != 3)
			_exit(5);
		for (int i = 0; i < ROUNDS; i++)
			shoal_array_add64(&cc, 0, 1, NULL);
		/* Flag 5: 0 -> 7, once. */
		if (shoal_array_cas32(&cf, 5, &e, 7))
			_exit(6);
		((double *)shoal_array_ptr(&cp, 2))[0] = 42;
		shoal_store_close(cs);
		shoal_registry_destroy(reg);
		_exit(0);
	}
	for (int i = 0; i < ROUNDS; i++)
		shoal_array_add64(&c, 0, 1, NULL);
	CHECK(test_wait_child(pid, 60));
	CHECK_EQ(shoal_array_load64(&c, 0, &v64), 0);
	CHECK_EQ(v64, 2 * ROUNDS);
	v32 = 0;
	CHECK_EQ(shoal_array_cas32(&f, 5, &v32, 9), -EAGAIN);
	CHECK_EQ(v32, 7);
	CHECK_EQ(shoal_array_get(&p, 2, got), 0);
	CHECK(got[0] == 42);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_add_later(void)
{
	struct shoal_store_options o;
	struct shoal_store *s, *peer;
	struct shoal_store_object more = { .name = "late",
					   .kind = SHOAL_STORE_ARRAY,
					   .count = 8,
					   .elem_size = 8 };
	struct shoal_array a;
	struct shoal_store_stats st;

	sopts(&o);
	o.objects = objs;
	o.nobjects = 1;
	o.max_objects = 3;
	o.reserve_bytes = 128;
	CHECK_EQ(shoal_store_create("st/later", &o, &s), 0);
	sopts(&o);
	CHECK_EQ(shoal_store_open("st/later", &o, &peer), 0);
	CHECK_EQ(shoal_store_array(peer, "late", &a), -ENOENT);
	CHECK_EQ(shoal_store_add(peer, &more), -EPERM);
	CHECK_EQ(shoal_store_add(s, &more), 1);
	CHECK_EQ(shoal_store_add(s, &more), -EEXIST);
	CHECK_EQ(shoal_store_array(peer, "late", &a), 0);
	CHECK_EQ(shoal_array_store64(&a, 7, 77), 0);
	more.name = "big";
	more.count = 100;
	CHECK_EQ(shoal_store_add(s, &more), -ENOSPC); /* bytes: 64 left */
	more.count = 8;
	CHECK_EQ(shoal_store_add(s, &more), 2);
	more.name = "bad name";
	CHECK_EQ(shoal_store_add(s, &more), -EINVAL);
	more.name = "one-more";
	more.count = 1;
	CHECK_EQ(shoal_store_add(s, &more), -ENOSPC); /* table and bytes */
	CHECK_EQ(shoal_store_inspect(reg, "st/later", &st), 0);
	CHECK_EQ(st.objects, 3);
	CHECK_EQ(st.max_objects, 3);
	CHECK_EQ(st.heap_used, st.heap_size);
	shoal_store_close(peer);
	shoal_store_destroy(s);
	sopts(&o);
	CHECK_EQ(shoal_store_open("st/later", &o, &peer), -ENOENT);
	/* A full table with bytes to spare. */
	o.max_objects = 1;
	o.reserve_bytes = 4096;
	CHECK_EQ(shoal_store_create("st/later", &o, &s), 0);
	CHECK_EQ(shoal_store_add(s, &more), 0);
	more.name = "two";
	CHECK_EQ(shoal_store_add(s, &more), -ENOSPC);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_read_only(void)
{
	struct shoal_store_options o;
	struct shoal_store *s, *ro;
	struct shoal_array a;
	struct shoal_store_stats st;
	uint64_t v = 0;
	pid_t pid;
	int status = 0;

	sopts(&o);
	o.objects = objs;
	o.nobjects = 1;
	CHECK_EQ(shoal_store_create("st/ro", &o, &s), 0);
	sopts(&o);
	o.flags = SHOAL_STORE_READ_ONLY;
	CHECK_EQ(shoal_store_open("st/ro", &o, &ro), 0);
	shoal_store_get_stats(ro, &st);
	CHECK_EQ(st.read_only, 1);
	CHECK_EQ(shoal_store_array(ro, "counters", &a), 0);
	CHECK_EQ(shoal_array_store64(&a, 0, 1), -EPERM);
	CHECK_EQ(shoal_array_add64(&a, 0, 1, NULL), -EPERM);
	CHECK_EQ(shoal_array_cas64(&a, 0, &v, 1), -EPERM);
	CHECK_EQ(shoal_array_set(&a, 0, &v), -EPERM);
	CHECK_EQ(shoal_array_load64(&a, 0, &v), 0);
	pid = fork();
	if (pid == 0) {
		/* A write through the read-only mapping faults. */
		signal(SIGSEGV, SIG_DFL);
		*(volatile uint64_t *)shoal_array_ptr(&a, 0) = 5;
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	shoal_store_close(ro);
	shoal_store_destroy(s);
	return TEST_PASS;
}

/* Fds by SCM_RIGHTS only: the heap, and the event service of a wait. */
static int test_scm_rights(void)
{
	struct shoal_store_object objs2[] = {
		objs[0],
		{ .name = "bb",
		  .kind = SHOAL_STORE_BLACKBOARD,
		  .count = 2,
		  .elem_size = 8 },
	};
	struct shoal_store_options o;
	struct shoal_store *s, *p;
	struct shoal_array a;
	struct shoal_blackboard bb, pbb;
	struct shoal_store_watch w;
	uint64_t v = 0;

	sopts(&o);
	o.objects = objs2;
	o.nobjects = 2;
	CHECK_EQ(shoal_store_create("st/scm", &o, &s), 0);
	CHECK_EQ(shoal_store_array(s, "counters", &a), 0);
	CHECK_EQ(shoal_array_store64(&a, 1, 11), 0);
	CHECK_EQ(shoal_store_blackboard(s, "bb", &bb), 0);
	sopts(&o);
	o.flags = SHOAL_STORE_NO_PIDFD_GETFD;
	CHECK_EQ(shoal_store_open("st/scm", &o, &p), 0);
	CHECK_EQ(shoal_store_array(p, "counters", &a), 0);
	CHECK_EQ(shoal_array_load64(&a, 1, &v), 0);
	CHECK_EQ(v, 11);
	CHECK_EQ(shoal_store_blackboard(p, "bb", &pbb), 0);
	w = (struct shoal_store_watch){ &pbb, 1, 0, 0 };
	CHECK_EQ(shoal_store_wait(p, &w, 1, 1000000), -ETIMEDOUT);
	CHECK_EQ(shoal_blackboard_write(&bb, 1, "x", 1), 0);
	CHECK_EQ(shoal_store_wait(p, &w, 1, 5000000000LL), 1);
	CHECK(w.changed && w.seen == 1);
	shoal_store_close(p);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_invalid(void)
{
	struct shoal_store_options o;
	struct shoal_store *s = NULL;
	struct shoal_store_object bad = { .name = "x",
					  .kind = SHOAL_STORE_ARRAY,
					  .count = 0,
					  .elem_size = 4 };
	struct shoal_blackboard bb;

	sopts(&o);
	o.objects = &bad;
	o.nobjects = 1;
	CHECK_EQ(shoal_store_create("st/bad", &o, &s), -EINVAL);
	bad.count = 1;
	bad.kind = 99;
	CHECK_EQ(shoal_store_create("st/bad", &o, &s), -EINVAL);
	bad.kind = SHOAL_STORE_ARRAY;
	bad.elem_align = 3;
	CHECK_EQ(shoal_store_create("st/bad", &o, &s), -EINVAL);
	bad.elem_align = 0;
	o.event_ids = 5000;
	CHECK_EQ(shoal_store_create("st/bad", &o, &s), -EINVAL);
	o.event_ids = 0;
	CHECK_EQ(shoal_store_create("st/bad", &o, &s), 0);
	CHECK_EQ(shoal_store_blackboard(s, "x", &bb), -EPROTO);
	shoal_store_close(s); /* refused: created here */
	shoal_store_destroy(s);
	sopts(&o);
	o.flags = 1u << 7;
	CHECK_EQ(shoal_store_open("st/bad", &o, &s), -EINVAL);
	return TEST_PASS;
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
	RUN(test_arrays_between_processes);
	RUN(test_add_later);
	RUN(test_read_only);
	RUN(test_scm_rights);
	RUN(test_invalid);
	if (test_count_fds() != fds) {
		fprintf(stderr, "fds: %d before, %d after\n", fds,
			test_count_fds());
		test_failures_++;
	}
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
