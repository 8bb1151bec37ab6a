/* shoal-test: label=unit timeout=60 */
/*
 * The common case of a loan, a send, a take and a release is a short path
 * checked first (src/patterns/pubsub_send.c, pubsub_sub.c); everything it
 * does not recognise goes to the general path. This test makes sure the
 * short path recognises only what it may: each near miss of its
 * conditions, one at a time, must get the general path's answer (an error
 * and nothing changed, or the right general behaviour), and the stream
 * must go on in order afterwards.
 *  - loan: a size over max_payload (-EMSGSIZE), a second loan with
 *    max_loans 1 (-EBUSY);
 *  - send: a pointer that is not the loan, inside it or another slot's, a
 *    length over the loan, the same loan twice (-EINVAL);
 *  - take, busy-spinning: nothing there (-EAGAIN at once with timeout 0,
 *    -ETIMEDOUT after a short wait), and a publisher gone while it spins
 *    (-EPIPE after what was sent);
 *  - release, max_held 1: twice, a copy of the message with another seq,
 *    slot, publisher or epoch, NULL (-EINVAL; the message stays held and
 *    valid), then the real one.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define SALT 0x5eedull
#define LEN 40u

static char path[PATH_MAX];
static struct shoal_registry *reg;
static struct shoal_pub *pub;
static struct shoal_sub *sub;
static uint64_t next_seq; /* the seq the publisher sends next */

/* One message through loan/send: 0 or the first error. */
static int send_one(void)
{
	void *p;
	int err = shoal_pub_loan(pub, LEN, &p);

	if (err)
		return err;
	psu_fill(p, next_seq, SALT, LEN);
	err = shoal_pub_send(pub, p, LEN);
	if (!err)
		next_seq++;
	return err;
}

/* Takes message @seq, checks it and releases it. */
static int take_check_release(uint64_t seq)
{
	struct shoal_msg m;

	CHECK_EQ(shoal_sub_take(sub, &m, PSU_SEC), 0);
	CHECK_EQ(m.seq, seq);
	CHECK_EQ(m.len, LEN);
	CHECK(psu_verify(m.data, m.len, m.seq, SALT));
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	return TEST_PASS;
}

static int open_pair(const char *name)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;

	shoal_pub_options_init(&po);
	po.registry = reg;
	po.capacity = 8;
	po.max_payload = 64;
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.strategy = SHOAL_WAIT_BUSY_SPIN;
	CHECK_EQ(shoal_pub_create(name, &po, &pub), 0);
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	next_seq = 0;
	return TEST_PASS;
}

static void close_pair(void)
{
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	sub = NULL;
	pub = NULL;
}

static int test_loan_and_send(void)
{
	void *p, *q;

	CHECK_EQ(open_pair("common/send"), TEST_PASS);
	/* Past the first lap too (premarked slots, then gated ones). */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(send_one(), 0);
		CHECK_EQ(take_check_release(next_seq - 1), TEST_PASS);
	}
	CHECK_EQ(shoal_pub_loan(pub, 65, &p), -EMSGSIZE);
	CHECK_EQ(shoal_pub_loan(pub, LEN, &p), 0);
	CHECK_EQ(shoal_pub_loan(pub, LEN, &q), -EBUSY); /* max_loans 1 */
	psu_fill(p, next_seq, SALT, LEN);
	CHECK_EQ(shoal_pub_send(pub, (char *)p + 8, LEN), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, (char *)p + 128, LEN), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, NULL, LEN), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, p, LEN + 1), -EINVAL);
	/* None of that sent anything. */
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	}
	CHECK_EQ(shoal_pub_send(pub, p, LEN), 0);
	next_seq++;
	CHECK_EQ(shoal_pub_send(pub, p, LEN), -EINVAL); /* sent already */
	CHECK_EQ(take_check_release(next_seq - 1), TEST_PASS);
	CHECK_EQ(send_one(), 0);
	CHECK_EQ(take_check_release(next_seq - 1), TEST_PASS);
	close_pair();
	return TEST_PASS;
}

static int test_release(void)
{
	struct shoal_msg m, forged;

	CHECK_EQ(open_pair("common/release"), TEST_PASS);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(send_one(), 0);
		CHECK_EQ(take_check_release(next_seq - 1), TEST_PASS);
	}
	CHECK_EQ(send_one(), 0);
	CHECK_EQ(send_one(), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, PSU_SEC), 0);
	CHECK_EQ(m.seq, next_seq - 2);

	forged = m;
	forged.seq++;
	CHECK_EQ(shoal_sub_release(sub, &forged), -EINVAL);
	forged = m;
	forged.priv_slot = (const char *)m.priv_slot + 64;
	CHECK_EQ(shoal_sub_release(sub, &forged), -EINVAL);
	forged = m;
	forged.publisher = 1;
	CHECK_EQ(shoal_sub_release(sub, &forged), -EINVAL);
	forged = m;
	forged.epoch++;
	CHECK_EQ(shoal_sub_release(sub, &forged), -EINVAL);
	CHECK_EQ(shoal_sub_release(sub, NULL), -EINVAL);
	/* Still held, still whole, and the only one: -EBUSY for another. */
	CHECK_EQ(shoal_sub_valid(sub, &m), 1);
	CHECK(psu_verify(m.data, m.len, m.seq, SALT));
	{
		struct shoal_msg other;

		CHECK_EQ(shoal_sub_take(sub, &other, 0), -EBUSY);
	}
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), -EINVAL); /* twice */
	CHECK_EQ(take_check_release(next_seq - 1), TEST_PASS);
	close_pair();
	return TEST_PASS;
}

static int test_spinning_take(void)
{
	struct shoal_msg m;

	CHECK_EQ(open_pair("common/take"), TEST_PASS);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	CHECK_EQ(shoal_sub_take(sub, &m, 2 * 1000 * 1000), -ETIMEDOUT);
	CHECK_EQ(send_one(), 0);
	CHECK_EQ(take_check_release(0), TEST_PASS);
	/* Gone while nothing is there: what was sent, then -EPIPE. */
	CHECK_EQ(send_one(), 0);
	shoal_pub_destroy(pub);
	pub = NULL;
	CHECK_EQ(take_check_release(1), TEST_PASS);
	CHECK_EQ(shoal_sub_take(sub, &m, PSU_SEC), -EPIPE);
	close_pair();
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(55);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_loan_and_send);
	RUN(test_release);
	RUN(test_spinning_take);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
