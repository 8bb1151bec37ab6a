/* shoal-test: label=unit timeout=60 */
/*
 * Pub/sub in one process: create and destroy, a second live publisher of a
 * name (-EEXIST), joining a name nobody publishes (-ENOENT), history for
 * late subscribers, the payload type check (-EPROTO naming both types), the
 * fields of a message (seq, timestamp, epoch, user header), a read into a
 * buffer too small (-EMSGSIZE, the message stays), the loan calls,
 * shoal_pubsub_inspect() and the statistics, the end of a publisher as the
 * subscriber sees it (what was sent, then -EPIPE), and no fd left behind.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

/* Timestamps on: most cases check them; one case checks they stay off
 * by default. */
static void pub_opts(struct shoal_pub_options *o)
{
	shoal_pub_options_init(o);
	o->registry = reg;
	o->flags = SHOAL_PUB_TIMESTAMP;
}

static void sub_opts(struct shoal_sub_options *o)
{
	shoal_sub_options_init(o);
	o->registry = reg;
}

/* Publishes message @seq (payload from psu_fill, salt 0). */
static int put(struct shoal_pub *pub, uint64_t seq, uint32_t len,
	       const void *uh)
{
	unsigned char buf[256];

	psu_fill(buf, seq, 0, len);
	return shoal_pub_write(pub, buf, len, uh);
}

static int test_defaults(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;

	shoal_pub_options_init(&po);
	CHECK_EQ(po.delivery, SHOAL_DELIVERY_RELIABLE);
	CHECK_EQ(po.capacity, 1024);
	CHECK_EQ(po.max_payload, 4096);
	CHECK_EQ(po.user_header_size, 0);
	CHECK_EQ(po.history, 0);
	CHECK_EQ(po.max_subscribers, 64);
	CHECK(po.send_timeout_ns < 0);
	CHECK_EQ(po.flags, 0);
	CHECK_EQ(po.access, SHOAL_ACCESS_OWNER);
	CHECK(po.type_name == NULL && po.registry == NULL);
	shoal_sub_options_init(&so);
	CHECK_EQ(so.history, 0);
	CHECK_EQ(so.flags, 0);
	CHECK_EQ(so.strategy, SHOAL_WAIT_ADAPTIVE);
	CHECK(so.type_name == NULL && so.registry == NULL);
	return TEST_PASS;
}

static int test_create_exists_missing(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *a, *b = NULL;
	struct shoal_sub *s = NULL;
	int fds = test_count_fds();

	pub_opts(&po);
	CHECK_EQ(shoal_pub_create("basic/one", &po, &a), 0);
	CHECK(shoal_pub_epoch(a) != 0);
	CHECK_EQ(shoal_pub_subscribers(a), 0);
	/* The name is held by a live publisher: this very process. */
	CHECK_EQ(shoal_pub_create("basic/one", &po, &b), -EEXIST);
	CHECK(b == NULL);
	CHECK_EQ(shoal_pub_create("bad//name", &po, &b), -EINVAL);
	CHECK_EQ(shoal_pub_create(NULL, &po, &b), -EINVAL);

	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/none", &so, &s), -ENOENT);
	CHECK(s == NULL);
	CHECK_EQ(shoal_sub_open("basic/one", &so, &s), 0);
	CHECK_EQ(shoal_sub_connected(s), 1);
	CHECK_EQ(shoal_sub_epoch(s), shoal_pub_epoch(a));
	CHECK_EQ(shoal_pub_subscribers(a), 1);
	shoal_sub_close(s);
	CHECK_EQ(shoal_pub_subscribers(a), 0);

	/* Withdrawn: nobody can join, and the name is free again. */
	shoal_pub_destroy(a);
	CHECK_EQ(shoal_sub_open("basic/one", &so, &s), -ENOENT);
	CHECK_EQ(shoal_pub_create("basic/one", &po, &a), 0);
	shoal_pub_destroy(a);
	shoal_pub_destroy(NULL);
	shoal_sub_close(NULL);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

/* Takes everything pending into @seqs (at most @cap); returns how many. */
static int drain(struct shoal_sub *s, uint64_t *seqs, int cap)
{
	struct shoal_msg m;
	int n = 0, err;

	while ((err = shoal_sub_take(s, &m, 0)) == 0) {
		if (n < cap)
			seqs[n] = m.seq;
		n++;
		if (!psu_verify(m.data, m.len, m.seq, 0))
			return -1000;
		if (shoal_sub_release(s, &m))
			return -1001;
	}
	return err == -EAGAIN ? n : err;
}

static int test_history(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s4, *s2, *s0, *s9;
	uint64_t seqs[16];

	pub_opts(&po);
	po.capacity = 16;
	po.history = 4;
	CHECK_EQ(shoal_pub_create("basic/history", &po, &pub), 0);
	for (uint64_t i = 0; i < 10; i++)
		CHECK_EQ(put(pub, i, 16 + (uint32_t)i, NULL), 0);

	sub_opts(&so);
	so.history = 4;
	CHECK_EQ(shoal_sub_open("basic/history", &so, &s4), 0);
	so.history = 2;
	CHECK_EQ(shoal_sub_open("basic/history", &so, &s2), 0);
	so.history = 0;
	CHECK_EQ(shoal_sub_open("basic/history", &so, &s0), 0);
	/* More than the publisher keeps: bounded by its history. */
	so.history = 9;
	CHECK_EQ(shoal_sub_open("basic/history", &so, &s9), 0);

	CHECK_EQ(drain(s4, seqs, 16), 4);
	for (int k = 0; k < 4; k++)
		CHECK_EQ(seqs[k], 6 + k);
	CHECK_EQ(drain(s2, seqs, 16), 2);
	CHECK_EQ(seqs[0], 8);
	CHECK_EQ(seqs[1], 9);
	CHECK_EQ(drain(s0, seqs, 16), 0);
	CHECK_EQ(drain(s9, seqs, 16), 4);
	CHECK_EQ(seqs[0], 6);

	/* Everyone gets what comes next, once. */
	CHECK_EQ(put(pub, 10, 40, NULL), 0);
	CHECK_EQ(drain(s4, seqs, 16), 1);
	CHECK_EQ(seqs[0], 10);
	CHECK_EQ(drain(s2, seqs, 16), 1);
	CHECK_EQ(seqs[0], 10);
	CHECK_EQ(drain(s0, seqs, 16), 1);
	CHECK_EQ(seqs[0], 10);
	CHECK_EQ(drain(s9, seqs, 16), 1);
	CHECK_EQ(seqs[0], 10);
	shoal_sub_close(s4);
	shoal_sub_close(s2);
	shoal_sub_close(s0);
	shoal_sub_close(s9);

	/* A publisher keeping no history gives none, whatever is asked. */
	shoal_pub_destroy(pub);
	pub_opts(&po);
	po.capacity = 16;
	CHECK_EQ(shoal_pub_create("basic/history", &po, &pub), 0);
	for (uint64_t i = 0; i < 5; i++)
		CHECK_EQ(put(pub, i, 16, NULL), 0);
	so.history = 4;
	CHECK_EQ(shoal_sub_open("basic/history", &so, &s4), 0);
	CHECK_EQ(drain(s4, seqs, 16), 0);
	shoal_sub_close(s4);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_type_check(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s = NULL;
	const char *e;

	pub_opts(&po);
	po.type_name = "robot.Pose";
	po.type_size = 24;
	po.type_align = 8;
	CHECK_EQ(shoal_pub_create("basic/typed", &po, &pub), 0);

	sub_opts(&so);
	so.type_name = "robot.Twist";
	so.type_size = 24;
	so.type_align = 8;
	CHECK_EQ(shoal_sub_open("basic/typed", &so, &s), -EPROTO);
	CHECK(s == NULL);
	e = shoal_last_error();
	if (!strstr(e, "robot.Pose") || !strstr(e, "robot.Twist")) {
		fprintf(stderr, "type mismatch detail: \"%s\"\n", e);
		CHECK(!"the detail names both types");
	}
	/* Same name, another size. */
	so.type_name = "robot.Pose";
	so.type_size = 32;
	CHECK_EQ(shoal_sub_open("basic/typed", &so, &s), -EPROTO);
	e = shoal_last_error();
	if (!strstr(e, "24") || !strstr(e, "32")) {
		fprintf(stderr, "size mismatch detail: \"%s\"\n", e);
		CHECK(!"the detail names both sizes");
	}
	so.type_size = 24;
	CHECK_EQ(shoal_sub_open("basic/typed", &so, &s), 0);
	shoal_sub_close(s);
	/* No expectation: any type is accepted. */
	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/typed", &so, &s), 0);
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_message_fields(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	uint64_t uh[2];
	int64_t last_ts = 0, before;

	pub_opts(&po);
	po.capacity = 8;
	po.user_header_size = 16;
	po.max_payload = 256;
	CHECK_EQ(shoal_pub_create("basic/fields", &po, &pub), 0);
	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/fields", &so, &s), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	CHECK_EQ(shoal_sub_take(s, &m, 1000000), -ETIMEDOUT);

	before = psu_now_ns();
	for (uint64_t i = 0; i < 20; i++) {
		uint32_t len = psu_len(i, 0, 16, 256);

		uh[0] = 1000 + i;
		uh[1] = ~i;
		CHECK_EQ(put(pub, i, len, uh), 0);
		CHECK_EQ(shoal_sub_take(s, &m, PSU_SEC), 0);
		CHECK_EQ(m.seq, i);
		CHECK_EQ(m.len, len);
		CHECK(psu_verify(m.data, m.len, i, 0));
		CHECK_EQ(m.epoch, shoal_pub_epoch(pub));
		CHECK(m.timestamp_ns != 0);
		CHECK(m.timestamp_ns >= before);
		CHECK(m.timestamp_ns >= last_ts);
		last_ts = m.timestamp_ns;
		CHECK(m.timestamp_ns <= psu_now_ns());
		CHECK_EQ(m.user_header_size, 16);
		CHECK(m.user_header != NULL);
		CHECK(memcmp(m.user_header, uh, 16) == 0);
		/* One message at a time. */
		CHECK_EQ(shoal_sub_take(s, &m, 0), -EBUSY);
		CHECK_EQ(shoal_sub_valid(s, &m), 1);
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	shoal_sub_close(s);
	shoal_pub_destroy(pub);

	/* The defaults: no timestamps, no user header. */
	pub_opts(&po);
	po.capacity = 8;
	po.flags = 0;
	CHECK_EQ(shoal_pub_create("basic/fields", &po, &pub), 0);
	CHECK_EQ(shoal_sub_open("basic/fields", &so, &s), 0);
	for (uint64_t i = 0; i < 3; i++) {
		CHECK_EQ(put(pub, i, 20, uh), 0); /* uh ignored: size 0 */
		CHECK_EQ(shoal_sub_take(s, &m, PSU_SEC), 0);
		CHECK_EQ(m.seq, i);
		CHECK_EQ(m.timestamp_ns, 0);
		CHECK_EQ(m.user_header_size, 0);
		CHECK(m.user_header == NULL);
		CHECK(psu_verify(m.data, m.len, i, 0));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_read(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	unsigned char buf[256];
	uint64_t uh[2] = { 7, 8 }, got_uh[2];

	pub_opts(&po);
	po.capacity = 4;
	po.user_header_size = 16;
	po.max_payload = 200;
	CHECK_EQ(shoal_pub_create("basic/read", &po, &pub), 0);
	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/read", &so, &s), 0);
	CHECK_EQ(shoal_sub_read(s, buf, sizeof(buf), NULL, &m, 0), -EAGAIN);
	CHECK_EQ(put(pub, 0, 100, uh), 0);
	CHECK_EQ(put(pub, 1, 50, NULL), 0);

	/* Too small: the message stays for the next call. */
	CHECK_EQ(shoal_sub_read(s, buf, 99, NULL, &m, 0), -EMSGSIZE);
	CHECK_EQ(shoal_sub_read(s, buf, 0, NULL, NULL, 0), -EMSGSIZE);
	memset(&m, 0xa5, sizeof(m));
	CHECK_EQ(shoal_sub_read(s, buf, 100, got_uh, &m, 0), 100);
	CHECK(psu_verify(buf, 100, 0, 0));
	CHECK(memcmp(got_uh, uh, 16) == 0);
	CHECK_EQ(m.seq, 0);
	CHECK_EQ(m.epoch, shoal_pub_epoch(pub));
	CHECK(m.timestamp_ns != 0);
	CHECK(m.data == NULL && m.user_header == NULL);
	/* msg may be NULL. */
	CHECK_EQ(shoal_sub_read(s, buf, sizeof(buf), NULL, NULL, 0), 50);
	CHECK(psu_verify(buf, 50, 1, 0));
	CHECK_EQ(shoal_sub_read(s, buf, sizeof(buf), NULL, NULL, 0), -EAGAIN);

	/* read while a message is held by take: -EBUSY, as take. */
	CHECK_EQ(put(pub, 2, 30, NULL), 0);
	CHECK_EQ(put(pub, 3, 30, NULL), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(shoal_sub_read(s, buf, sizeof(buf), NULL, NULL, 0), -EBUSY);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(shoal_sub_read(s, buf, sizeof(buf), NULL, &m, 0), 30);
	CHECK_EQ(m.seq, 3);
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_loans(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	void *p, *q;
	uint64_t *uh;

	pub_opts(&po);
	po.capacity = 4;
	po.max_payload = 128;
	po.user_header_size = 8;
	CHECK_EQ(shoal_pub_create("basic/loan", &po, &pub), 0);
	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/loan", &so, &s), 0);

	CHECK(shoal_pub_loan_header(pub) == NULL); /* no loan yet */
	CHECK_EQ(shoal_pub_loan(pub, 129, &p), -EMSGSIZE);
	CHECK_EQ(shoal_pub_loan(pub, 128, &p), 0);
	CHECK_EQ(shoal_pub_loan(pub, 16, &q), -EBUSY);
	uh = shoal_pub_loan_header(pub);
	CHECK(uh != NULL);
	*uh = 0x1122334455667788ULL;
	psu_fill(p, 0, 0, 64);
	CHECK_EQ(shoal_pub_send(pub, (char *)p + 8, 64), -EINVAL);
	CHECK_EQ(shoal_pub_abort(pub, (char *)p + 8), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, p, 129), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, p, 64), 0);
	CHECK_EQ(shoal_pub_send(pub, p, 64), -EINVAL); /* already sent */
	CHECK_EQ(shoal_pub_abort(pub, p), -EINVAL);

	/* Abort: nothing is published, and the next loan gets the seq. */
	CHECK_EQ(shoal_pub_loan(pub, 32, &p), 0);
	memset(p, 0xee, 32);
	CHECK_EQ(shoal_pub_abort(pub, p), 0);
	CHECK_EQ(shoal_pub_loan(pub, 32, &p), 0);
	psu_fill(p, 1, 0, 32);
	CHECK_EQ(shoal_pub_send(pub, p, 32), 0);
	/* A shorter send than the loan. */
	CHECK_EQ(shoal_pub_loan(pub, 100, &p), 0);
	psu_fill(p, 2, 0, 20);
	CHECK_EQ(shoal_pub_send(pub, p, 20), 0);

	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	CHECK_EQ(m.len, 64);
	CHECK(psu_verify(m.data, 64, 0, 0));
	CHECK_EQ(*(const uint64_t *)m.user_header, 0x1122334455667788ULL);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.seq, 1);
	CHECK(psu_verify(m.data, m.len, 1, 0));
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(m.len, 20);
	CHECK(psu_verify(m.data, 20, 2, 0));
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);

	/* Reliable with a full ring and timeout 0: -EAGAIN, counted. */
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	pub_opts(&po);
	po.capacity = 4;
	po.send_timeout_ns = 0;
	CHECK_EQ(shoal_pub_create("basic/loan", &po, &pub), 0);
	CHECK_EQ(shoal_sub_open("basic/loan", &so, &s), 0);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(put(pub, i, 16, NULL), 0);
	CHECK_EQ(put(pub, 4, 16, NULL), -EAGAIN);
	CHECK_EQ(shoal_pub_loan(pub, 16, &p), -EAGAIN);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	/* Held, not yet released: still no room. */
	CHECK_EQ(put(pub, 4, 16, NULL), -EAGAIN);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(put(pub, 4, 16, NULL), 0);
	CHECK_EQ(put(pub, 5, 16, NULL), -EAGAIN);
	{
		struct shoal_pub_stats st;

		shoal_pub_get_stats(pub, &st);
		CHECK_EQ(st.sent, 5);
		CHECK_EQ(st.failed, 4);
		CHECK(st.blocked >= st.failed);
	}
	for (uint64_t i = 1; i < 5; i++) {
		CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
		CHECK_EQ(m.seq, i);
		CHECK(psu_verify(m.data, m.len, i, 0));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_inspect_and_stats(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *a, *b;
	struct shoal_pubsub_info info;
	struct shoal_pubsub_sub_info subs[4];
	struct shoal_pub_stats ps;
	struct shoal_sub_stats ss;
	struct shoal_msg m;
	unsigned char buf[64];

	pub_opts(&po);
	po.delivery = SHOAL_DELIVERY_LOSSY;
	po.capacity = 32;
	po.max_payload = 100;
	po.user_header_size = 24;
	po.history = 3;
	po.max_subscribers = 5;
	CHECK_EQ(shoal_pub_create("basic/inspect", &po, &pub), 0);
	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/inspect", &info, subs, 4), 0);
	CHECK_EQ(info.delivery, SHOAL_DELIVERY_LOSSY);
	CHECK_EQ(info.capacity, 32);
	CHECK_EQ(info.max_payload, 100);
	CHECK_EQ(info.user_header_size, 24);
	CHECK_EQ(info.history, 3);
	CHECK_EQ(info.max_subscribers, 5);
	CHECK(info.slot_stride >= 100 + 24);
	CHECK_EQ(info.slot_stride % 64, 0);
	CHECK(info.payload_bytes >= (uint64_t)info.slot_stride * 32);
	CHECK(info.subscriber_bytes >= 5 * 64);
	CHECK_EQ(info.subscribers, 0);
	CHECK_EQ(info.head, 0);
	CHECK_EQ(info.pub.sent, 0);
	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/nobody", &info, NULL, 0),
		 -ENOENT);

	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/inspect", &so, &a), 0);
	CHECK_EQ(shoal_sub_open("basic/inspect", &so, &b), 0);
	for (uint64_t i = 0; i < 7; i++)
		CHECK_EQ(put(pub, i, 16 + (uint32_t)i, NULL), 0);
	for (int k = 0; k < 3; k++) {
		CHECK_EQ(shoal_sub_take(a, &m, 0), 0);
		CHECK_EQ(m.seq, (uint64_t)k);
		CHECK_EQ(shoal_sub_release(a, &m), 0);
	}
	CHECK_EQ(shoal_sub_read(b, buf, sizeof(buf), NULL, NULL, 0), 16);

	shoal_pub_get_stats(pub, &ps);
	CHECK_EQ(ps.sent, 7);
	CHECK_EQ(ps.blocked, 0);
	CHECK_EQ(ps.failed, 0);
	CHECK_EQ(ps.evicted, 0);
	shoal_sub_get_stats(a, &ss);
	CHECK_EQ(ss.received, 3);
	CHECK_EQ(ss.lost, 0);
	CHECK_EQ(ss.stale, 0);
	CHECK_EQ(ss.reattached, 0);
	CHECK_EQ(ss.epoch, shoal_pub_epoch(pub));
	shoal_sub_get_stats(b, &ss);
	CHECK_EQ(ss.received, 1);

	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/inspect", &info, subs, 4), 2);
	CHECK_EQ(info.subscribers, 2);
	CHECK_EQ(info.head, 7);
	CHECK_EQ(info.pub.sent, 7);
	for (int k = 0; k < 2; k++) {
		CHECK_EQ(subs[k].pid, getpid());
		CHECK(subs[k].index < 5);
		CHECK(subs[k].received == 3 || subs[k].received == 1);
		CHECK_EQ(subs[k].cursor, subs[k].received);
		CHECK_EQ(subs[k].lost, 0);
	}
	CHECK(subs[0].index != subs[1].index);
	CHECK(subs[0].received != subs[1].received);
	/* cap smaller than the count: the count is still reported. */
	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/inspect", &info, subs, 1), 2);
	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/inspect", &info, NULL, 0), 2);
	shoal_sub_close(b);
	CHECK_EQ(shoal_pubsub_inspect(reg, "basic/inspect", &info, subs, 4), 1);
	CHECK_EQ(subs[0].received, 3);
	shoal_sub_close(a);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* The subscriber gets what was sent, then -EPIPE, for good. */
static int test_publisher_gone(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	int fds = test_count_fds();

	pub_opts(&po);
	po.capacity = 8;
	CHECK_EQ(shoal_pub_create("basic/gone", &po, &pub), 0);
	sub_opts(&so);
	CHECK_EQ(shoal_sub_open("basic/gone", &so, &s), 0);
	CHECK_EQ(put(pub, 0, 16, NULL), 0);
	CHECK_EQ(put(pub, 1, 17, NULL), 0);
	shoal_pub_destroy(pub);
	for (uint64_t i = 0; i < 2; i++) {
		CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
		CHECK_EQ(m.seq, i);
		CHECK(psu_verify(m.data, m.len, i, 0));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EPIPE);
	CHECK_EQ(shoal_sub_take(s, &m, PSU_SEC / 100), -EPIPE);
	CHECK_EQ(shoal_sub_connected(s), 0);
	/* A new publisher of the name: a subscriber without REATTACH stays
	 * with the old one. */
	CHECK_EQ(shoal_pub_create("basic/gone", &po, &pub), 0);
	CHECK_EQ(put(pub, 0, 16, NULL), 0);
	CHECK_EQ(shoal_sub_take(s, &m, PSU_SEC / 100), -EPIPE);
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

/*
 * A subscriber that takes its fds by SCM_RIGHTS from the publisher's fd
 * server (as where pidfd_getfd is refused) works like any other. The fd
 * server reads the publisher's table of extra fds when it serves them: this
 * once read freed memory (found by fuzz/pubsub_take_fuzz.c), which ASan
 * reports here.
 */
static int test_fds_by_scm_rights(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s[2];
	struct shoal_msg m;

	pub_opts(&po);
	po.capacity = 8;
	sub_opts(&so);
	so.flags = SHOAL_SUB_NO_PIDFD_GETFD;
	CHECK_EQ(shoal_pub_create("basic/scm", &po, &pub), 0);
	CHECK_EQ(shoal_sub_open("basic/scm", &so, &s[0]), 0);
	CHECK_EQ(shoal_sub_open("basic/scm", &so, &s[1]), 0);
	CHECK_EQ(shoal_pub_subscribers(pub), 2);
	for (uint64_t i = 0; i < 20; i++) {
		CHECK_EQ(put(pub, i, 32, NULL), 0);
		for (int k = 0; k < 2; k++) {
			CHECK_EQ(shoal_sub_take(s[k], &m, PSU_SEC), 0);
			CHECK_EQ(m.seq, i);
			CHECK(psu_verify(m.data, m.len, i, 0));
			CHECK_EQ(shoal_sub_release(s[k], &m), 0);
		}
	}
	shoal_sub_close(s[0]);
	shoal_sub_close(s[1]);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(55);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_defaults);
	RUN(test_create_exists_missing);
	RUN(test_history);
	RUN(test_type_check);
	RUN(test_message_fields);
	RUN(test_read);
	RUN(test_loans);
	RUN(test_inspect_and_stats);
	RUN(test_publisher_gone);
	RUN(test_fds_by_scm_rights);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
