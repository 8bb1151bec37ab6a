/* shoal-test: label=multiproc timeout=300 args=100000 8 */
/*
 * Reliable delivery when subscribers die or leave.
 *
 * A subscriber takes message 0 zero-copy and holds it; the publisher fills
 * its argv[2]-slot (default 8) ring and must wait for it (inspect shows it
 * blocked at head == capacity); then the holder is SIGKILLed. The publisher
 * must notice, evict it (stats evicted >= 1) and carry on: all argv[1]
 * (default 10^5) sends complete, and the two other subscribers, siblings of
 * it, receive every message exactly once, in order, intact.
 *
 * A subscriber that closes normally (holding a message) stops gating at
 * once, and is not counted as evicted.
 *
 * The subscriber limit: with max_subscribers 2 a third shoal_sub_open() is
 * -EBUSY and the detail names the limit; after one subscriber closes, a new
 * one takes its line; after one is SIGKILLed, too.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_LEN 200u

struct ctl {
	_Atomic int pub_ready;
	_Atomic int subs_done;
	_Atomic int holding;
	_Atomic int cmd;
	_Atomic int state;
	_Atomic uint64_t epoch;
	struct shoal_pub_stats stats;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;
static uint32_t capacity;

static int open_sub(struct shoal_registry **reg, const char *name,
		    struct shoal_sub **sub)
{
	struct shoal_sub_options o;

	CHECK_EQ(test_registry_open(path, reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pub_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = *reg;
	CHECK_EQ(shoal_sub_open(name, &o, sub), 0);
	return TEST_PASS;
}

static int publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[MAX_LEN];

	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.capacity = capacity;
	o.max_payload = MAX_LEN;
	CHECK_EQ(shoal_pub_create("kill/holder", &o, &pub), 0);
	atomic_store(&ctl->epoch, shoal_pub_epoch(pub));
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 3, 60));
	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);

		psu_fill(buf, seq, 0, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->subs_done) == 2, 120));
	shoal_pub_get_stats(pub, &ctl->stats);
	CHECK_EQ(ctl->stats.sent, messages);
	CHECK(ctl->stats.evicted >= 1);
	CHECK_EQ(ctl->stats.failed, 0);
	CHECK_EQ(shoal_pub_subscribers(pub), 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Takes message 0 and holds it until killed. */
static int holder(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct shoal_msg m;

	CHECK(open_sub(&reg, "kill/holder", &sub) == TEST_PASS);
	CHECK_EQ(shoal_sub_take(sub, &m, 60 * PSU_SEC), 0);
	CHECK_EQ(m.seq, 0);
	CHECK(psu_verify(m.data, m.len, 0, 0));
	atomic_store(&ctl->holding, 1);
	for (;;)
		pause();
}

/* Every message exactly once, in order, intact. */
static int survivor(int idx)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct shoal_sub_stats st;
	struct shoal_msg m;
	unsigned char buf[MAX_LEN];

	CHECK(open_sub(&reg, "kill/holder", &sub) == TEST_PASS);
	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);

		if ((seq + (uint64_t)idx) % 2) {
			CHECK_EQ(shoal_sub_take(sub, &m, 60 * PSU_SEC), 0);
			CHECK_EQ(m.seq, seq);
			CHECK_EQ(m.len, len);
			CHECK(psu_verify(m.data, m.len, seq, 0));
			CHECK_EQ(shoal_sub_release(sub, &m), 0);
		} else {
			CHECK_EQ(shoal_sub_read(sub, buf, sizeof(buf), NULL, &m,
						60 * PSU_SEC),
				 len);
			CHECK_EQ(m.seq, seq);
			CHECK(psu_verify(buf, len, seq, 0));
		}
	}
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.received, messages);
	atomic_fetch_add(&ctl->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_kill_holder(void)
{
	struct shoal_registry *reg;
	struct shoal_pubsub_info info;
	pid_t hold, rest[3]; /* two survivors, the publisher */

	memset(ctl, 0, sizeof(*ctl));
	hold = psu_fork();
	CHECK(hold >= 0);
	if (hold == 0)
		_exit(holder());
	for (int i = 0; i < 2; i++) {
		rest[i] = psu_fork();
		CHECK(rest[i] >= 0);
		if (rest[i] == 0)
			_exit(survivor(i));
	}
	rest[2] = psu_fork();
	CHECK(rest[2] >= 0);
	if (rest[2] == 0)
		_exit(publisher());

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->holding), 60));
	/* The publisher is stuck behind the held message 0. */
	CHECK(PSU_WAIT(shoal_pubsub_inspect(reg, "kill/holder", &info, NULL,
					    0) == 3 &&
			       info.pub.blocked > 0 && info.head == capacity,
		       60));
	CHECK_EQ(info.pub.evicted, 0);
	kill(hold, SIGKILL);
	CHECK(!test_wait_child(hold, 10)); /* killed, not exited */

	CHECK(psu_wait_all(rest, 3, 240));
	CHECK_EQ(ctl->stats.sent, messages);
	CHECK(ctl->stats.evicted >= 1);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Joins, takes message 0, and on command closes while holding it. */
static int closer(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct shoal_msg m;

	CHECK(open_sub(&reg, "kill/closer", &sub) == TEST_PASS);
	atomic_store(&ctl->state, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->cmd) == 1, 60));
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	shoal_sub_close(sub);
	atomic_store(&ctl->state, 2);
	/* Still alive: it is the close that must count, not a death. */
	CHECK(PSU_WAIT(atomic_load(&ctl->cmd) == 2, 60));
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_close_stops_gating(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	struct shoal_pub_stats st;
	unsigned char buf[64];
	pid_t c;

	memset(ctl, 0, sizeof(*ctl));
	/* Fork before this process makes a publisher (and its thread). */
	c = psu_fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(closer());
	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.capacity = 4;
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_pub_create("kill/closer", &o, &pub), 0);
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->state) == 1, 60));
	CHECK_EQ(shoal_pub_subscribers(pub), 1);
	for (uint64_t i = 0; i < 4; i++) {
		psu_fill(buf, i, 0, 32);
		CHECK_EQ(shoal_pub_write(pub, buf, 32, NULL), 0);
	}
	psu_fill(buf, 4, 0, 32);
	CHECK_EQ(shoal_pub_write(pub, buf, 32, NULL), -EAGAIN);
	atomic_store(&ctl->cmd, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->state) == 2, 60));
	/* Gone: no more gating, with no wait at all (timeout 0). */
	for (uint64_t i = 4; i < 40; i++) {
		psu_fill(buf, i, 0, 32);
		CHECK_EQ(shoal_pub_write(pub, buf, 32, NULL), 0);
	}
	CHECK_EQ(shoal_pub_subscribers(pub), 0);
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, 40);
	CHECK_EQ(st.failed, 1);
	CHECK_EQ(st.evicted, 0);
	atomic_store(&ctl->cmd, 2);
	CHECK(test_wait_child(c, 30));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Joins and waits to be killed. */
static int member(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;

	CHECK(open_sub(&reg, "kill/limit", &sub) == TEST_PASS);
	atomic_store(&ctl->state, 1);
	for (;;)
		pause();
}

static int test_limit(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *b, *c, *d, *x = NULL;
	struct shoal_pubsub_info info;
	struct shoal_msg m;
	unsigned char buf[64];
	const char *e;
	pid_t a;

	memset(ctl, 0, sizeof(*ctl));
	a = psu_fork();
	CHECK(a >= 0);
	if (a == 0)
		_exit(member());
	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.capacity = 8;
	o.max_subscribers = 2;
	CHECK_EQ(shoal_pub_create("kill/limit", &o, &pub), 0);
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->state) == 1, 60));

	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &b), 0);
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &x), -EBUSY);
	CHECK(x == NULL);
	e = shoal_last_error();
	if (!strstr(e, "2") || !strstr(e, "subscriber")) {
		fprintf(stderr, "limit detail: \"%s\"\n", e);
		CHECK(!"the detail names the limit (2 subscribers)");
	}
	CHECK_EQ(shoal_pubsub_inspect(reg, "kill/limit", &info, NULL, 0), 2);

	/* A line given back by close is taken again. */
	shoal_sub_close(b);
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &c), 0);
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &x), -EBUSY);

	/* A line left by a dead subscriber is taken again. */
	kill(a, SIGKILL);
	CHECK(!test_wait_child(a, 10));
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &d), 0);
	CHECK_EQ(shoal_sub_open("kill/limit", &so, &x), -EBUSY);
	CHECK_EQ(shoal_pubsub_inspect(reg, "kill/limit", &info, NULL, 0), 2);
	CHECK_EQ(shoal_pub_subscribers(pub), 2);

	/* Both lines work. */
	for (uint64_t i = 0; i < 12; i++) {
		psu_fill(buf, i, 0, 40);
		CHECK_EQ(shoal_pub_write(pub, buf, 40, NULL), 0);
		CHECK_EQ(shoal_sub_take(c, &m, PSU_SEC), 0);
		CHECK_EQ(m.seq, i);
		CHECK(psu_verify(m.data, m.len, i, 0));
		CHECK_EQ(shoal_sub_release(c, &m), 0);
		CHECK_EQ(shoal_sub_read(d, buf, sizeof(buf), NULL, &m, PSU_SEC),
			 40);
		CHECK_EQ(m.seq, i);
		CHECK(psu_verify(buf, 40, i, 0));
	}
	shoal_sub_close(c);
	shoal_sub_close(d);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	messages = test_arg_u64(argc, argv, 1, 100000);
	capacity = (uint32_t)test_arg_u64(argc, argv, 2, 8);
	if (messages <= capacity) {
		fprintf(stderr, "%s: messages must exceed the capacity\n",
			argv[0]);
		return TEST_FAIL;
	}
	psu_watchdog(290);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_kill_holder);
	RUN(test_close_stops_gating);
	RUN(test_limit);
	test_remove_tree(top);
	return test_result();
}
