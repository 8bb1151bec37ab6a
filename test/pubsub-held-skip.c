/* shoal-test: label=unit timeout=60 */
/*
 * Several loans meet several held messages: a publisher with max_loans 3
 * aborts the middle of three loans and sends the other two (the middle
 * seq becomes a skip marker); a subscriber with max_held 2 that still
 * holds the first message takes the third at once, past the marker (not
 * -EAGAIN until it releases), in either release order the cursor then
 * passes all three (a reliable publisher gets its room back: the ring of
 * capacity 4 takes 4 more), and stats.skipped counts the marker once.
 * Then the same with nothing held (the marker passed at the cursor).
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];

static int run(int release_newest_first)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_sub_stats st;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_msg a, c, m;
	void *p[3];

	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.capacity = 4;
	o.max_loans = 3;
	o.send_timeout_ns = 0; /* no room: -EAGAIN at once, never a wait */
	CHECK_EQ(shoal_pub_create("held/skip", &o, &pub), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.max_held = 2;
	CHECK_EQ(shoal_sub_open("held/skip", &so, &sub), 0);

	for (int i = 0; i < 3; i++)
		CHECK_EQ(shoal_pub_loan(pub, 8, &p[i]), 0);
	memcpy(p[0], "first", 6);
	memcpy(p[2], "third", 6);
	CHECK_EQ(shoal_pub_abort(pub, p[1]), 0);
	CHECK_EQ(shoal_pub_send(pub, p[2], 6), 0); /* waits for p[0] */
	CHECK_EQ(shoal_sub_take(sub, &a, 0), -EAGAIN);
	CHECK_EQ(shoal_pub_send(pub, p[0], 6), 0);

	CHECK_EQ(shoal_sub_take(sub, &a, 0), 0);
	CHECK_EQ(a.seq, 0);
	CHECK(strcmp(a.data, "first") == 0);
	/* Past the marker while the first is still held. */
	CHECK_EQ(shoal_sub_take(sub, &c, 0), 0);
	CHECK_EQ(c.seq, 2);
	CHECK(strcmp(c.data, "third") == 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EBUSY); /* max_held 2 */
	if (release_newest_first) {
		CHECK_EQ(shoal_sub_release(sub, &c), 0);
		CHECK_EQ(shoal_sub_release(sub, &a), 0);
	} else {
		CHECK_EQ(shoal_sub_release(sub, &a), 0);
		CHECK_EQ(shoal_sub_release(sub, &c), 0);
	}
	CHECK_EQ(shoal_sub_release(sub, &c), -EINVAL); /* twice */
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.skipped, 1);
	CHECK_EQ(st.received, 2);

	/* The cursor passed all three: the publisher has the whole ring. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(shoal_pub_write(pub, "x", 1, NULL), 0);
	CHECK_EQ(shoal_pub_write(pub, "x", 1, NULL), -EAGAIN);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
		CHECK_EQ(m.seq, 3 + (uint64_t)i);
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}

	/* A marker at the cursor, nothing held: passed over by the take. */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(shoal_pub_loan(pub, 8, &p[i]), 0);
	CHECK_EQ(shoal_pub_abort(pub, p[0]), 0);
	memcpy(p[1], "after", 6);
	CHECK_EQ(shoal_pub_send(pub, p[1], 6), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 8);
	CHECK(strcmp(m.data, "after") == 0);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.skipped, 2);

	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_release_oldest_first(void)
{
	return run(0);
}

static int test_release_newest_first(void)
{
	return run(1);
}

int main(void)
{
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	RUN(test_release_oldest_first);
	RUN(test_release_newest_first);
	return test_result();
}
