/* shoal-test: label=unit timeout=60 */
/*
 * Events in one process: the defaults; create, a second live creator of a
 * name (-EEXIST), opening a name nobody created (-ENOENT) or a pub/sub
 * service (-EPROTO); ids and coalescing (two notifies before a wait are one
 * report, a notify after a wait is reported by the next); waiting for a
 * subset (other ids stay pending); ids outside the interest set never fire;
 * notifies made before listening are not reported; timeouts (-EAGAIN for
 * 0, -ETIMEDOUT); invalid ids and sets (-EINVAL); the type check (-EPROTO);
 * the listener limit (-EBUSY) and a closed listener's line reused; the
 * pollable fd; a wake-up across threads through the sleep path (counted in
 * the stats); shoal_event_inspect(); withdrawal (what is pending, then
 * -EPIPE for waits and notifies); fds by SCM_RIGHTS; a hostile scribbler
 * of the listeners' segment; and no fd left behind.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <shoal/event.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/event_layout.h"
#include "registry/registry_internal.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

static void opts(struct shoal_event_options *o)
{
	shoal_event_options_init(o);
	o->registry = reg;
}

static struct shoal_event_set set_of(int n, const uint32_t *ids)
{
	struct shoal_event_set s;

	shoal_event_set_clear(&s);
	for (int i = 0; i < n; i++)
		shoal_event_set_add(&s, ids[i]);
	return s;
}

static int set_count(const struct shoal_event_set *s)
{
	int n = 0;

	for (int id = shoal_event_set_next(s, 0); id >= 0;
	     id = shoal_event_set_next(s, (uint32_t)id + 1))
		n++;
	return n;
}

static int test_defaults(void)
{
	struct shoal_event_options o;
	struct shoal_event_set s;

	shoal_event_options_init(&o);
	CHECK_EQ(o.ids, 256);
	CHECK_EQ(o.max_listeners, 64);
	CHECK_EQ(o.access, SHOAL_ACCESS_OWNER);
	CHECK_EQ(o.strategy, SHOAL_WAIT_ADAPTIVE);
	CHECK_EQ(o.flags, 0);
	CHECK(o.type_name == NULL && o.registry == NULL);
	/* The set helpers. */
	shoal_event_set_clear(&s);
	CHECK_EQ(shoal_event_set_next(&s, 0), -1);
	shoal_event_set_add(&s, 0);
	shoal_event_set_add(&s, 63);
	shoal_event_set_add(&s, 64);
	shoal_event_set_add(&s, 1023);
	shoal_event_set_add(&s, 1024); /* ignored */
	CHECK_EQ(shoal_event_set_next(&s, 0), 0);
	CHECK_EQ(shoal_event_set_next(&s, 1), 63);
	CHECK_EQ(shoal_event_set_next(&s, 64), 64);
	CHECK_EQ(shoal_event_set_next(&s, 65), 1023);
	CHECK_EQ(shoal_event_set_next(&s, 1024), -1);
	CHECK_EQ(set_count(&s), 4);
	shoal_event_set_del(&s, 63);
	CHECK(!shoal_event_set_has(&s, 63) && shoal_event_set_has(&s, 64));
	return TEST_PASS;
}

static int test_create_exists_missing(void)
{
	struct shoal_event_options o;
	struct shoal_event *a, *b = NULL;
	struct shoal_pub_options po;
	struct shoal_pub *pub;
	int fds = test_count_fds();

	opts(&o);
	CHECK_EQ(shoal_event_create("ev/one", &o, &a), 0);
	CHECK(shoal_event_epoch(a) != 0);
	CHECK_EQ(shoal_event_ids(a), 256);
	CHECK_EQ(shoal_event_create("ev/one", &o, &b), -EEXIST);
	CHECK(b == NULL);
	CHECK_EQ(shoal_event_open("ev/none", &o, &b), -ENOENT);
	CHECK(b == NULL);
	CHECK_EQ(shoal_event_open("ev/one", &o, &b), 0);
	CHECK_EQ(shoal_event_epoch(b), shoal_event_epoch(a));
	CHECK_EQ(shoal_event_ids(b), 256);
	shoal_event_close(b);
	shoal_event_destroy(a);

	/* Bad options. */
	o.ids = 0;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);
	o.ids = SHOAL_EVENT_IDS_MAX + 1;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);
	opts(&o);
	o.max_listeners = 0;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);
	o.max_listeners = SHOAL_EVENT_LISTENERS_MAX + 1;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);
	opts(&o);
	o.flags = 1u << 7;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);
	CHECK_EQ(shoal_event_open("ev/bad", &o, &a), -EINVAL);
	opts(&o);
	o.strategy = (enum shoal_wait_strategy)99;
	CHECK_EQ(shoal_event_create("ev/bad", &o, &a), -EINVAL);

	/* A pub/sub service is not an event service. */
	shoal_pub_options_init(&po);
	po.registry = reg;
	CHECK_EQ(shoal_pub_create("ev/pubsub", &po, &pub), 0);
	opts(&o);
	CHECK_EQ(shoal_event_open("ev/pubsub", &o, &b), -EPROTO);
	CHECK(strstr(shoal_last_error(), "not an event service"));
	shoal_pub_destroy(pub);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

static int test_ids_and_coalescing(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p;
	struct shoal_event_set s, fired;
	struct shoal_event_stats st;
	uint32_t ids[] = { 1, 2, 3, 200 };

	opts(&o);
	CHECK_EQ(shoal_event_create("ev/ids", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/ids", &o, &p), 0);
	/* Nobody listens: nobody is signalled. */
	CHECK_EQ(shoal_event_notify(p, 1), 0);
	s = set_of(4, ids);
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	/* Notified before listen: not reported. */
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EAGAIN);

	/* Two notifies of 1 and one of 2 before a wait: one report each. */
	CHECK_EQ(shoal_event_notify(p, 1), 1);
	CHECK_EQ(shoal_event_notify(p, 1), 1);
	CHECK_EQ(shoal_event_notify(p, 2), 1);
	CHECK_EQ(shoal_event_notify(p, 4), 0); /* not in the interest set */
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), 2);
	CHECK(shoal_event_set_has(&fired, 1) && shoal_event_set_has(&fired, 2));
	CHECK_EQ(set_count(&fired), 2);
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EAGAIN);

	/* The creator notifies too, and a handle may notify itself. */
	CHECK_EQ(shoal_event_notify(c, 200), 1);
	CHECK_EQ(shoal_event_wait(c, NULL, SHOAL_WAIT_FOREVER, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 200));

	/* A subset: the others stay pending. */
	CHECK_EQ(shoal_event_notify(p, 1), 1);
	CHECK_EQ(shoal_event_notify(p, 3), 1);
	s = set_of(1, &ids[2]);
	CHECK_EQ(shoal_event_wait(c, &s, 0, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 3) &&
	      !shoal_event_set_has(&fired, 1));
	CHECK_EQ(shoal_event_wait(c, &s, 0, &fired), -EAGAIN);
	CHECK_EQ(shoal_event_wait(c, NULL, 0, NULL), 1); /* fired may be NULL */
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EAGAIN);

	/* Changing the interest set: a dropped id stops firing. */
	s = set_of(1, &ids[1]); /* {2} */
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	CHECK_EQ(shoal_event_notify(p, 1), 0);
	CHECK_EQ(shoal_event_notify(p, 2), 1);
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 2));
	/* Re-adding 1: a bit left from before does not fire. */
	s = set_of(4, ids);
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EAGAIN);

	/* Timeouts. */
	CHECK_EQ(shoal_event_wait(c, NULL, 1000000, &fired), -ETIMEDOUT);

	shoal_event_get_stats(p, &st);
	CHECK_EQ(st.line, -1);
	CHECK_EQ(st.ids, 256);
	CHECK_EQ(st.notifies, 9);
	CHECK_EQ(st.delivered, 5); /* the second notify of 1 coalesced */
	shoal_event_get_stats(c, &st);
	CHECK_EQ(st.line, 0);
	CHECK_EQ(st.waits, 5);
	CHECK_EQ(st.received, 6);
	shoal_event_close(p);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_invalid(void)
{
	struct shoal_event_options o;
	struct shoal_event *c;
	struct shoal_event_set s, fired;
	uint32_t id;

	opts(&o);
	o.ids = 70; /* a partial second word */
	CHECK_EQ(shoal_event_create("ev/invalid", &o, &c), 0);
	CHECK_EQ(shoal_event_notify(c, 70), -EINVAL);
	CHECK_EQ(shoal_event_notify(c, UINT32_MAX), -EINVAL);
	CHECK_EQ(shoal_event_notify(c, 69), 0);
	/* Not listening. */
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EINVAL);
	CHECK_EQ(shoal_event_arm(c), -EINVAL);
	id = 70;
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(c, &s), -EINVAL);
	CHECK_EQ(shoal_event_listen(c, NULL), -EINVAL);
	id = 69;
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	/* A set naming no id of the interest set; ids past the service's. */
	id = 5;
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_wait(c, &s, 0, &fired), -EINVAL);
	id = 700;
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_wait(c, &s, 0, &fired), -EINVAL);
	/* An empty interest set is allowed, but waiting on it is not. */
	shoal_event_set_clear(&s);
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	CHECK_EQ(shoal_event_wait(c, NULL, 0, &fired), -EINVAL);
	CHECK_EQ(shoal_event_notify(c, 69), 0);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_type_check(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p = NULL;

	opts(&o);
	o.type_name = "doorbell/v1";
	CHECK_EQ(shoal_event_create("ev/typed", &o, &c), 0);
	o.type_name = "doorbell/v2";
	CHECK_EQ(shoal_event_open("ev/typed", &o, &p), -EPROTO);
	CHECK(strstr(shoal_last_error(), "doorbell/v1") &&
	      strstr(shoal_last_error(), "doorbell/v2"));
	CHECK(p == NULL);
	o.type_name = "doorbell/v1";
	CHECK_EQ(shoal_event_open("ev/typed", &o, &p), 0);
	shoal_event_close(p);
	o.type_name = NULL; /* accepts any */
	CHECK_EQ(shoal_event_open("ev/typed", &o, &p), 0);
	shoal_event_close(p);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_limit_and_reuse(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *a, *b, *d;
	struct shoal_event_set s, fired;
	struct shoal_event_stats st;
	uint32_t id = 7;

	opts(&o);
	o.max_listeners = 2;
	o.ids = 8;
	CHECK_EQ(shoal_event_create("ev/limit", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/limit", &o, &a), 0);
	CHECK_EQ(shoal_event_open("ev/limit", &o, &b), 0);
	CHECK_EQ(shoal_event_open("ev/limit", &o, &d), 0);
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(a, &s), 0);
	CHECK_EQ(shoal_event_listen(b, &s), 0);
	CHECK_EQ(shoal_event_listen(d, &s), -EBUSY);
	CHECK(strstr(shoal_last_error(), "limit of 2"));
	CHECK_EQ(shoal_event_notify(c, 7), 2);
	CHECK_EQ(shoal_event_wait(a, NULL, 0, &fired), 1);
	/* a leaves with 7 pending nowhere; b still has it. */
	shoal_event_get_stats(a, &st);
	shoal_event_close(a);
	CHECK_EQ(shoal_event_listen(d, &s), 0);
	shoal_event_get_stats(d, &st);
	CHECK(st.line == 0 || st.line == 1);
	/* The new line starts clean: nothing pending, reached by notify. */
	CHECK_EQ(shoal_event_wait(d, NULL, 0, &fired), -EAGAIN);
	CHECK_EQ(shoal_event_wait(b, NULL, 0, &fired), 1);
	CHECK_EQ(shoal_event_notify(c, 7), 2);
	CHECK_EQ(shoal_event_wait(d, NULL, 0, &fired), 1);
	CHECK_EQ(shoal_event_wait(b, NULL, 0, &fired), 1);
	shoal_event_close(b);
	shoal_event_close(d);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_pollable_fd(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p;
	struct shoal_event_set s, fired;
	struct pollfd pfd;
	uint32_t id = 3;

	opts(&o);
	CHECK_EQ(shoal_event_create("ev/poll", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/poll", &o, &p), 0);
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	pfd.fd = shoal_event_fd(p);
	pfd.events = POLLIN;
	CHECK_EQ(shoal_event_arm(p), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_EQ(shoal_event_notify(c, 3), 1);
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	shoal_event_disarm(p);
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), 1);
	/* Something pending already: arm says so, do not poll. */
	CHECK_EQ(shoal_event_notify(c, 3), 1);
	CHECK_EQ(shoal_event_arm(p), 1);
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), 1);
	/* After disarm the fd is quiet again. */
	CHECK_EQ(shoal_event_arm(p), 0);
	shoal_event_disarm(p);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	/* The creator withdraws: the fd becomes readable, arm says 1. */
	CHECK_EQ(shoal_event_arm(p), 0);
	shoal_event_destroy(c);
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	shoal_event_disarm(p);
	CHECK_EQ(shoal_event_arm(p), 1);
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), -EPIPE);
	shoal_event_close(p);
	return TEST_PASS;
}

/* The sleep count of the first live listener of @name, or -1. */
static int64_t first_listener_sleeps(const char *name)
{
	struct shoal_event_info info;
	struct shoal_event_listener_info li;

	if (shoal_event_inspect(reg, name, &info, &li, 1) < 1)
		return -1;
	return (int64_t)li.sleeps;
}

struct waiter_arg {
	struct shoal_event *ev;
	int result;
	struct shoal_event_set fired;
};

static void *waiter_thread(void *arg)
{
	struct waiter_arg *w = arg;

	w->result = shoal_event_wait(w->ev, NULL, 20 * PSU_SEC, &w->fired);
	return NULL;
}

/* A listener asleep in the kernel is woken by a notify on another handle. */
static int test_sleep_and_wake(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p;
	struct shoal_event_set s;
	struct shoal_event_stats st;
	struct waiter_arg w;
	pthread_t t;
	uint32_t id = 9;

	opts(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_event_create("ev/sleep", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/sleep", &o, &p), 0);
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(c, &s), 0);
	memset(&w, 0, sizeof(w));
	w.ev = c;
	CHECK_EQ(pthread_create(&t, NULL, waiter_thread, &w), 0);
	/* Until the inspector sees it asleep (its sleep count is shared). */
	CHECK(PSU_WAIT(first_listener_sleeps("ev/sleep") >= 1, 10));
	CHECK_EQ(shoal_event_notify(p, 9), 1);
	pthread_join(t, NULL);
	CHECK_EQ(w.result, 1);
	CHECK(shoal_event_set_has(&w.fired, 9));
	shoal_event_get_stats(c, &st);
	CHECK(st.sleeps >= 1);
	shoal_event_get_stats(p, &st);
	CHECK_EQ(st.wakeups, 1);
	shoal_event_close(p);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_inspect(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *a, *b;
	struct shoal_event_set s;
	struct shoal_event_info info;
	struct shoal_event_listener_info li[4];
	uint32_t ids[] = { 0, 5, 6 };

	opts(&o);
	o.ids = 100;
	o.max_listeners = 4;
	CHECK_EQ(shoal_event_create("ev/inspect", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/inspect", &o, &a), 0);
	CHECK_EQ(shoal_event_open("ev/inspect", &o, &b), 0);
	s = set_of(3, ids);
	CHECK_EQ(shoal_event_listen(a, &s), 0);
	s = set_of(1, ids);
	CHECK_EQ(shoal_event_listen(b, &s), 0);
	CHECK_EQ(shoal_event_notify(c, 0), 2);
	CHECK_EQ(shoal_event_notify(c, 5), 1);
	CHECK_EQ(shoal_event_notify(c, 5), 1);
	CHECK_EQ(shoal_event_wait(b, NULL, 0, NULL), 1);
	CHECK_EQ(shoal_event_inspect(reg, "ev/inspect", &info, li, 4), 2);
	CHECK_EQ(info.ids, 100);
	CHECK_EQ(info.max_listeners, 4);
	CHECK_EQ(info.listeners, 2);
	CHECK(info.header_bytes > 0 && info.lines_bytes > 0);
	CHECK_EQ(info.notifies, 3);
	CHECK_EQ(info.delivered, 3);
	CHECK_EQ(info.wakeups, 0);
	CHECK_EQ(li[0].pid, getpid());
	CHECK_EQ(li[0].interest, 3);
	CHECK_EQ(li[0].pending, 2);
	CHECK_EQ(li[0].delivered, 2);
	CHECK_EQ(li[0].received, 0);
	CHECK_EQ(li[1].interest, 1);
	CHECK_EQ(li[1].pending, 0);
	CHECK_EQ(li[1].received, 1);
	/* @cap smaller than the count; NULL listeners. */
	CHECK_EQ(shoal_event_inspect(reg, "ev/inspect", &info, li, 1), 2);
	CHECK_EQ(shoal_event_inspect(reg, "ev/inspect", &info, NULL, 0), 2);
	CHECK_EQ(shoal_event_inspect(reg, "ev/none", &info, NULL, 0), -ENOENT);
	shoal_event_close(a);
	CHECK_EQ(shoal_event_inspect(reg, "ev/inspect", &info, li, 4), 1);
	shoal_event_close(b);
	shoal_event_destroy(c);
	return TEST_PASS;
}

/* The creator withdraws: pending ids first, then -EPIPE, never a hang. */
static int test_withdrawn(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p, *q;
	struct shoal_event_set s, fired;
	uint32_t id = 1;

	opts(&o);
	CHECK_EQ(shoal_event_create("ev/gone", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/gone", &o, &p), 0);
	CHECK_EQ(shoal_event_open("ev/gone", &o, &q), 0);
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	CHECK_EQ(shoal_event_notify(c, 1), 1);
	shoal_event_destroy(c);
	CHECK_EQ(shoal_event_wait(p, NULL, 5 * PSU_SEC, &fired), 1);
	CHECK_EQ(shoal_event_wait(p, NULL, 5 * PSU_SEC, &fired), -EPIPE);
	CHECK_EQ(shoal_event_wait(p, NULL, SHOAL_WAIT_FOREVER, &fired), -EPIPE);
	CHECK_EQ(shoal_event_notify(q, 1), -EPIPE);
	CHECK_EQ(shoal_event_listen(q, &s), -EPIPE);
	shoal_event_close(q);
	shoal_event_close(p);
	/* The name is free again. */
	CHECK_EQ(shoal_event_open("ev/gone", &o, &p), -ENOENT);
	CHECK_EQ(shoal_event_create("ev/gone", &o, &c), 0);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_fds_by_scm_rights(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p, *q;
	struct shoal_event_set s, fired;
	uint32_t id = 2;

	opts(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_event_create("ev/scm", &o, &c), 0);
	o.flags = SHOAL_EVENT_NO_PIDFD_GETFD;
	CHECK_EQ(shoal_event_open("ev/scm", &o, &p), 0);
	CHECK_EQ(shoal_event_open("ev/scm", &o, &q), 0);
	s = set_of(1, &id);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	/* q wakes p: it takes p's line's eventfd by SCM_RIGHTS first. */
	CHECK_EQ(shoal_event_arm(p), 0);
	CHECK_EQ(shoal_event_notify(q, 2), 1);
	shoal_event_disarm(p);
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 2));
	shoal_event_close(q);
	shoal_event_close(p);
	shoal_event_destroy(c);
	return TEST_PASS;
}

/*
 * A hostile process fills the listeners' segment with garbage: interest
 * rows with every bit set (lines past the limit included), pending bits
 * everywhere, sleeping flags. Notifies and waits must not crash or reach
 * outside the objects; a wait reports only ids of its own interest set;
 * after re-listening, things work again.
 */
static int test_hostile_scribbler(void)
{
	struct shoal_event_options o;
	struct shoal_event *c, *p;
	struct shoal_event_set s, fired;
	struct shoal_service *svc;
	struct shoal_segment *seg;
	struct shoal_object_info oi;
	void *lines;
	uint32_t ids[] = { 0, 64, 99 };
	int fd;

	opts(&o);
	o.ids = 100;
	o.max_listeners = 3; /* rows have bits past the limit */
	CHECK_EQ(shoal_event_create("ev/hostile", &o, &c), 0);
	CHECK_EQ(shoal_event_open("ev/hostile", &o, &p), 0);
	s = set_of(2, ids);
	CHECK_EQ(shoal_event_listen(p, &s), 0);

	CHECK_EQ(shoal_registry_open(reg, "ev/hostile", SHOAL_OPEN_READ_ONLY,
				     &svc),
		 0);
	CHECK_EQ(shoal__service_take_extra_fd(svc, SHOAL__EXTRA_LINES_MEMFD, -1,
					      &fd),
		 0);
	CHECK_EQ(shoal_segment_open(fd, 0, &seg), 0);
	close(fd);
	CHECK_EQ(shoal_segment_find(seg, SHOAL__EVENT_LINES_OBJECT, 0, &lines,
				    &oi),
		 0);
	memset(lines, 0xff, oi.size);

	for (uint32_t id = 0; id < 100; id++)
		CHECK(shoal_event_notify(c, id) >= 0);
	/* Only ids of p's interest set, however much is pending. */
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), 2);
	CHECK(shoal_event_set_has(&fired, 0) &&
	      shoal_event_set_has(&fired, 64));
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), -EAGAIN);
	/* Re-listening rewrites p's row bits: notify reaches it again. */
	s = set_of(3, ids);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	memset(lines, 0, oi.size);
	CHECK_EQ(shoal_event_listen(p, &s), 0); /* no change: rows as wiped */
	shoal_event_set_clear(&s);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	s = set_of(3, ids);
	CHECK_EQ(shoal_event_listen(p, &s), 0);
	CHECK_EQ(shoal_event_notify(c, 99), 1);
	CHECK_EQ(shoal_event_wait(p, NULL, 0, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 99));
	shoal_segment_close(seg);
	shoal_service_close(svc);
	shoal_event_close(p);
	shoal_event_destroy(c);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];
	int fds;

	psu_watchdog(55);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	fds = test_count_fds();
	RUN(test_defaults);
	RUN(test_create_exists_missing);
	RUN(test_ids_and_coalescing);
	RUN(test_invalid);
	RUN(test_type_check);
	RUN(test_limit_and_reuse);
	RUN(test_pollable_fd);
	RUN(test_sleep_and_wake);
	RUN(test_inspect);
	RUN(test_withdrawn);
	RUN(test_fds_by_scm_rights);
	RUN(test_hostile_scribbler);
	if (test_count_fds() != fds) {
		fprintf(stderr, "fds: %d before, %d after\n", fds,
			test_count_fds());
		test_failures_++;
	}
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
