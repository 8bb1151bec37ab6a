/* shoal-test: label=multiproc timeout=600 args=1000000 3 8 */
/*
 * Reliable fan-out between unrelated processes: one publisher and
 * argv[2] (default 3) subscribers, all siblings forked by the test, move
 * argv[1] (default 10^6) messages through a ring of argv[3] (default 8)
 * slots, so small that the publisher keeps waiting for the slowest
 * subscriber. Every message has its own length (16..256 bytes), its seq and
 * a checksum in the payload, and a 16-byte user header with a frame id.
 * Every subscriber must receive every message, in order, each byte as sent:
 * msg.seq consecutive from 0, payload and user header as generated for that
 * seq. Subscribers alternate between zero-copy take/release and the copying
 * shoal_sub_read(); the publisher between shoal_pub_write() and loan/send,
 * with some loans aborted and some sent shorter than loaned.
 *
 * Subscribers join before the first send (the publisher waits until
 * shoal_pub_subscribers() says they are all there). Subscriber 0 takes
 * nothing until the publisher has had to wait for it, which makes
 * "blocked > 0" a certainty rather than a matter of timing.
 *
 * Also, in one process: the loan errors (-EMSGSIZE, -EBUSY, -EINVAL) and the
 * validation of shoal_pub_options.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "fanout/frames"
#define MAX_SUBS 16
#define MAX_LEN 256u
#define FRAME_MAGIC 0xf7a3e00000000000ULL

struct ctl {
	_Atomic int pub_ready;
	_Atomic int subs_done;
	_Atomic uint64_t epoch;
	_Atomic uint64_t progress; /* messages the publisher has sent */
	uint64_t received[MAX_SUBS];
	struct shoal_pub_stats stats; /* the publisher's, at the end */
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;
static uint32_t nsubs, capacity;

static void frame_header(uint64_t seq, uint64_t uh[2])
{
	uh[0] = FRAME_MAGIC ^ seq;
	uh[1] = seq * 3 + 1;
}

/* Loan errors while a loan is out: the loan must survive them. */
static int loan_errors(struct shoal_pub *pub)
{
	void *p, *q;

	CHECK_EQ(shoal_pub_loan(pub, MAX_LEN + 1, &p), -EMSGSIZE);
	CHECK_EQ(shoal_pub_loan(pub, 64, &p), 0);
	CHECK_EQ(shoal_pub_loan(pub, 64, &q), -EBUSY);
	CHECK_EQ(shoal_pub_loan(pub, MAX_LEN + 1, &q), -EBUSY);
	CHECK_EQ(shoal_pub_send(pub, (char *)p + 1, 16), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, NULL, 16), -EINVAL);
	CHECK_EQ(shoal_pub_abort(pub, (char *)p - 64), -EINVAL);
	CHECK_EQ(shoal_pub_send(pub, p, 65), -EINVAL); /* beyond the loan */
	CHECK_EQ(shoal_pub_abort(pub, p), 0);
	CHECK_EQ(shoal_pub_abort(pub, p), -EINVAL);
	return TEST_PASS;
}

/* Publishes message @seq, in one of four ways. */
static int publish(struct shoal_pub *pub, uint64_t seq)
{
	unsigned char buf[MAX_LEN];
	uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);
	uint64_t uh[2];
	void *p;

	frame_header(seq, uh);
	switch (seq % 4) {
	case 0:
		psu_fill(buf, seq, 0, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, uh), 0);
		break;
	case 1: /* in place */
		CHECK_EQ(shoal_pub_loan(pub, len, &p), 0);
		CHECK(shoal_pub_loan_header(pub) != NULL);
		memcpy(shoal_pub_loan_header(pub), uh, sizeof(uh));
		psu_fill(p, seq, 0, len);
		CHECK_EQ(shoal_pub_send(pub, p, len), 0);
		break;
	case 2: /* loaned the maximum, sent less */
		CHECK_EQ(shoal_pub_loan(pub, MAX_LEN, &p), 0);
		memcpy(shoal_pub_loan_header(pub), uh, sizeof(uh));
		psu_fill(p, seq, 0, len);
		CHECK_EQ(shoal_pub_send(pub, p, len), 0);
		break;
	default: /* a loan given back first, now and then */
		if (seq % 1000 == 3) {
			CHECK_EQ(shoal_pub_loan(pub, len, &p), 0);
			memset(p, 0x5a, len);
			memset(shoal_pub_loan_header(pub), 0x5a, sizeof(uh));
			CHECK_EQ(shoal_pub_abort(pub, p), 0);
		}
		if (seq % 10000 == 7 && loan_errors(pub) != TEST_PASS)
			return TEST_FAIL;
		psu_fill(buf, seq, 0, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, uh), 0);
		break;
	}
	return TEST_PASS;
}

static int publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	struct shoal_pub_stats st;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = capacity;
	o.max_payload = MAX_LEN;
	o.user_header_size = 16;
	CHECK_EQ(shoal_pub_create(NAME, &o, &pub), 0);
	/* Before anyone joins: these publish nothing. */
	CHECK(loan_errors(pub) == TEST_PASS);
	atomic_store(&ctl->epoch, shoal_pub_epoch(pub));
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == nsubs, 60));

	for (uint64_t seq = 0; seq < messages; seq++) {
		CHECK(publish(pub, seq) == TEST_PASS);
		atomic_store_explicit(&ctl->progress, seq + 1,
				      memory_order_relaxed);
	}
	/* Stay until every subscriber has checked everything. */
	CHECK(PSU_WAIT(atomic_load(&ctl->subs_done) == (int)nsubs, 300));
	shoal_pub_get_stats(pub, &st);
	ctl->stats = st;
	CHECK_EQ(st.sent, messages);
	CHECK(st.blocked > 0);
	CHECK_EQ(st.failed, 0);
	CHECK_EQ(st.evicted, 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Subscriber @idx: all messages, in order, intact. */
static int subscriber(uint32_t idx)
{
	struct shoal_registry *reg;
	struct shoal_sub_options o;
	struct shoal_sub *sub;
	struct shoal_sub_stats st;
	struct shoal_msg m;
	unsigned char buf[MAX_LEN];
	uint64_t uh[2], want_uh[2], epoch;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pub_ready), 60));
	epoch = atomic_load(&ctl->epoch);
	shoal_sub_options_init(&o);
	o.registry = reg;
	/* Two wait strategies: sleep at once, or spin a while first. */
	o.strategy = idx % 2 ? SHOAL_WAIT_BLOCK : SHOAL_WAIT_ADAPTIVE;
	CHECK_EQ(shoal_sub_open(NAME, &o, &sub), 0);
	CHECK_EQ(shoal_sub_epoch(sub), epoch);

	if (idx == 0) {
		/* Hold the publisher up until it has had to wait. */
		struct shoal_pubsub_info info;

		CHECK(PSU_WAIT(shoal_pubsub_inspect(reg, NAME, &info, NULL,
						    0) >= 0 &&
				       info.pub.blocked > 0,
			       120));
		CHECK_EQ(info.head, capacity);
	}

	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);

		frame_header(seq, want_uh);
		if ((seq / 7 + idx) % 2 == 0) {
			CHECK_EQ(shoal_sub_take(sub, &m, 60 * PSU_SEC), 0);
			CHECK_EQ(m.seq, seq);
			CHECK_EQ(m.len, len);
			CHECK_EQ(m.epoch, epoch);
			CHECK_EQ(m.user_header_size, 16);
			CHECK(m.user_header != NULL);
			CHECK(memcmp(m.user_header, want_uh, 16) == 0);
			CHECK(psu_verify(m.data, m.len, seq, 0));
			CHECK_EQ(shoal_sub_release(sub, &m), 0);
		} else {
			memset(uh, 0, sizeof(uh));
			CHECK_EQ(shoal_sub_read(sub, buf, sizeof(buf), uh, &m,
						60 * PSU_SEC),
				 len);
			CHECK_EQ(m.seq, seq);
			CHECK_EQ(m.epoch, epoch);
			CHECK(memcmp(uh, want_uh, 16) == 0);
			CHECK(psu_verify(buf, len, seq, 0));
		}
	}
	/* Nothing more: no duplicate, nothing from an aborted loan. */
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.received, messages);
	CHECK_EQ(st.lost, 0);
	CHECK_EQ(st.stale, 0);
	CHECK_EQ(st.epoch, epoch);
	ctl->received[idx] = st.received;
	atomic_fetch_add(&ctl->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_fanout(void)
{
	pid_t pids[MAX_SUBS + 1];

	memset(ctl, 0, sizeof(*ctl));
	/* Subscribers first: the publisher is a sibling, not their parent. */
	for (uint32_t i = 0; i < nsubs; i++) {
		pids[i] = psu_fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(subscriber(i));
	}
	pids[nsubs] = psu_fork();
	CHECK(pids[nsubs] >= 0);
	if (pids[nsubs] == 0)
		_exit(publisher());
	CHECK(psu_wait_all(pids, (int)nsubs + 1, 560));
	for (uint32_t i = 0; i < nsubs; i++)
		CHECK_EQ(ctl->received[i], messages);
	CHECK_EQ(ctl->stats.sent, messages);
	CHECK(ctl->stats.blocked > 0);
	fprintf(stderr,
		"fanout: %" PRIu64 " messages to %u subscribers through %u "
		"slots; publisher blocked %" PRIu64 " times, %" PRIu64
		" wake-ups\n",
		messages, nsubs, capacity, ctl->stats.blocked,
		ctl->stats.wakeups);
	return TEST_PASS;
}

/* One bad option: -EINVAL with a detail, nothing published, no fd kept. */
static int refused(struct shoal_registry *reg, struct shoal_pub_options *o,
		   int line)
{
	struct shoal_pub *pub = (struct shoal_pub *)(uintptr_t)1;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	int fds = test_count_fds();
	int err = shoal_pub_create("fanout/bad", o, &pub);

	if (err != -EINVAL) {
		fprintf(stderr, "line %d: create gave %d (%s), want -EINVAL\n",
			line, err, shoal_last_error());
		if (err == 0)
			shoal_pub_destroy(pub);
		return TEST_FAIL;
	}
	CHECK(pub == (struct shoal_pub *)(uintptr_t)1);
	CHECK(shoal_last_error()[0] != '\0');
	CHECK_EQ(test_count_fds(), fds);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("fanout/bad", &so, &sub), -ENOENT);
	shoal_pub_options_init(o);
	o->registry = reg;
	return TEST_PASS;
}

#define REFUSED(field, value)                                   \
	do {                                                    \
		o.field = (value);                              \
		CHECK(refused(reg, &o, __LINE__) == TEST_PASS); \
	} while (0)

static int test_options(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	REFUSED(capacity, 0);
	REFUSED(capacity, 1);
	REFUSED(capacity, 3);
	REFUSED(capacity, 6);
	REFUSED(capacity, 1000);
	REFUSED(capacity, SHOAL_PUB_CAPACITY_MAX * 2);
	REFUSED(capacity, 0x80000001u);
	REFUSED(user_header_size, 4);
	REFUSED(user_header_size, 12);
	REFUSED(user_header_size, 1);
	REFUSED(user_header_size, SHOAL_PUB_USER_HEADER_MAX + 8);
	o.capacity = 16;
	REFUSED(history, 16);
	o.capacity = 16;
	REFUSED(history, 17);
	REFUSED(history, 1024); /* the default capacity */
	REFUSED(max_subscribers, 0);
	REFUSED(max_subscribers, SHOAL_PUB_SUBSCRIBERS_MAX + 1);
	REFUSED(max_payload, 0);
	REFUSED(max_payload, SHOAL_PUB_PAYLOAD_MAX + 1);
	REFUSED(delivery, (enum shoal_delivery)0);
	REFUSED(delivery, (enum shoal_delivery)3);

	/* The edges that are allowed. */
	o.capacity = 2;
	o.history = 1;
	o.user_header_size = SHOAL_PUB_USER_HEADER_MAX;
	o.max_subscribers = 1;
	o.max_payload = 1;
	CHECK_EQ(shoal_pub_create("fanout/edge", &o, &pub), 0);
	shoal_pub_destroy(pub);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.history = 15;
	o.user_header_size = 8;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(shoal_pub_create("fanout/edge", &o, &pub), 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	messages = test_arg_u64(argc, argv, 1, 1000000);
	nsubs = (uint32_t)test_arg_u64(argc, argv, 2, 3);
	capacity = (uint32_t)test_arg_u64(argc, argv, 3, 8);
	if (nsubs < 1 || nsubs > MAX_SUBS || messages <= capacity) {
		fprintf(stderr,
			"usage: %s [messages > capacity] [1..%d "
			"subscribers] [capacity]\n",
			argv[0], MAX_SUBS);
		return TEST_FAIL;
	}
	psu_watchdog(590);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_fanout);
	/* After the fork()s: this makes publishers (and their threads) here. */
	RUN(test_options);
	test_remove_tree(top);
	return test_result();
}
