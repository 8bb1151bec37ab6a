/* shoal-test: label=multiproc timeout=300 args=1000000 64 20000 */
/*
 * Lossy delivery with slow subscribers: a publisher sends argv[1] (default
 * 10^6) messages into a ring of argv[2] (default 64) slots as fast as it
 * can, while two subscribers (siblings of it) read slowly.
 *
 * The publisher never waits: every send succeeds, its stats say blocked 0
 * and failed 0, and it finishes all its sends while a subscriber has
 * stopped reading altogether (the reader stalls after a while until the
 * publisher says it is done; a publisher that waited would hang there and
 * the test would fail).
 *
 * The copying subscriber (shoal_sub_read) must never see a torn message:
 * each one is exactly message msg.seq as generated (checksum, seq and every
 * byte). Seqs only increase, and the loss is accounted exactly: the msg.lost
 * of the -EOVERFLOWs since the previous message add up to the gap before
 * the next one, and since the publisher stops after message N-1 and stays,
 * received + lost == N at the end.
 *
 * The zero-copy subscriber takes a message, copies it, and releases it:
 * -ESTALE means discard the copy; 0 means the copy must be intact (never a
 * bad checksum after a 0). Both outcomes are made certain rather than left
 * to timing: some messages (message 0 always: the publisher waits for that
 * hold before sending message 1) are held until the publisher has provably
 * written over their slot (release must then say -ESTALE, and
 * shoal_sub_valid() 0), and the last message, taken after the publisher
 * stopped, must release with 0.
 *
 * Then copies that the publisher overwrites while they are made: argv[3]
 * (default 20000) messages of 16..64 KiB through a ring of 2 slots, read
 * with shoal_sub_read(), so that the publisher keeps writing the slot being
 * copied. Every message returned must be whole; a copy that was overwritten
 * is reported as a lost message, and the accounting stays exact: the
 * lost counts add up to the gaps, received + lost == sent, and the
 * subscriber's stats agree with what it was told.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "lossy/ticks"
#define MAX_LEN 256u

struct ctl {
	_Atomic int pub_ready;
	_Atomic int pub_done;
	_Atomic int subs_done;
	_Atomic int holding;	   /* the taker holds message 0 */
	_Atomic uint64_t progress; /* messages sent */
	_Atomic uint64_t epoch;
	/* What each subscriber saw, for the log. */
	uint64_t received[2], lost[2], overflows[2], stale, forced_stale,
		intact;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages, big_messages;
static uint32_t capacity;

#define BIG_MIN (16u * 1024)
#define BIG_MAX (64u * 1024)

/*
 * Big messages are written and checked a word at a time, so that both take
 * about as long as a memcpy and the publisher really does write the slot a
 * copy is being made from: word 0 the seq, word 1 the length, every other
 * word one value derived from the seq. A copy that mixes two messages
 * cannot pass.
 */
static uint32_t big_len(uint64_t seq)
{
	return psu_len(seq, 1, BIG_MIN, BIG_MAX) & ~7u;
}

static void big_fill(void *p, uint64_t seq, uint32_t len)
{
	uint64_t *w = p, v = psu_mix(seq ^ 0xb16b16ULL);

	w[0] = seq;
	w[1] = len;
	for (uint32_t k = 2; k < len / 8; k++)
		w[k] = v;
}

static int big_intact(const void *p, size_t len, uint64_t seq)
{
	uint64_t w[2], v = psu_mix(seq ^ 0xb16b16ULL);
	const unsigned char *b = p;

	if (len != big_len(seq))
		return 0;
	memcpy(w, b, 16);
	if (w[0] != seq || w[1] != len)
		return 0;
	for (size_t k = 16; k < len; k += 8) {
		uint64_t x;

		memcpy(&x, b + k, 8);
		if (x != v)
			return 0;
	}
	return 1;
}

static int publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	struct shoal_pub_stats st;
	unsigned char buf[MAX_LEN];

	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.capacity = capacity;
	o.max_payload = MAX_LEN;
	CHECK_EQ(shoal_pub_create(NAME, &o, &pub), 0);
	atomic_store(&ctl->epoch, shoal_pub_epoch(pub));
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 2, 60));

	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);
		void *p;

		if (seq % 2) {
			psu_fill(buf, seq, 0, len);
			CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
		} else {
			CHECK_EQ(shoal_pub_loan(pub, len, &p), 0);
			psu_fill(p, seq, 0, len);
			CHECK_EQ(shoal_pub_send(pub, p, len), 0);
		}
		atomic_store_explicit(&ctl->progress, seq + 1,
				      memory_order_release);
		/* Orchestration, not flow control: let the taker hold
		 * message 0 before the ring laps it, so that one -ESTALE is
		 * certain. Every later send runs free. */
		if (seq == 0)
			CHECK(PSU_WAIT(atomic_load(&ctl->holding), 60));
	}
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, messages);
	CHECK_EQ(st.blocked, 0);
	CHECK_EQ(st.failed, 0);
	atomic_store(&ctl->pub_done, 1);
	/* Stay, so the subscribers can finish without -EPIPE. */
	CHECK(PSU_WAIT(atomic_load(&ctl->subs_done) == 2, 200));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int join(struct shoal_registry **reg, struct shoal_sub **sub)
{
	struct shoal_sub_options o;

	CHECK_EQ(test_registry_open(path, reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pub_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = *reg;
	CHECK_EQ(shoal_sub_open(NAME, &o, sub), 0);
	CHECK_EQ(shoal_sub_epoch(*sub), atomic_load(&ctl->epoch));
	return TEST_PASS;
}

/*
 * Loss accounting shared by both subscribers: the lost counts reported
 * since the last message must be exactly the gap before the next one.
 */
struct account {
	uint64_t next;	   /* the seq that follows the last one received */
	uint64_t pending;  /* lost reported since the last message */
	uint64_t received; /* messages */
	uint64_t lost;	   /* sum of msg.lost */
	uint64_t overflows;
};

static int overflowed(struct account *a, const struct shoal_msg *m)
{
	CHECK(m->lost > 0);
	CHECK(m->lost <= messages);
	a->pending += m->lost;
	a->lost += m->lost;
	a->overflows++;
	return TEST_PASS;
}

static int arrived(struct account *a, uint64_t seq)
{
	if (seq != a->next + a->pending) {
		fprintf(stderr,
			"seq %" PRIu64 " after %" PRIu64 " with %" PRIu64
			" reported lost in between\n",
			seq, a->next, a->pending);
		return TEST_FAIL;
	}
	a->next = seq + 1;
	a->pending = 0;
	a->received++;
	return TEST_PASS;
}

static int finished(struct account *a, struct shoal_sub *sub, int who)
{
	struct shoal_sub_stats st;
	struct shoal_msg m;

	CHECK_EQ(a->next, messages);
	CHECK_EQ(a->pending, 0);
	CHECK_EQ(a->received + a->lost, messages);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.received, a->received);
	CHECK_EQ(st.lost, a->lost);
	ctl->received[who] = a->received;
	ctl->lost[who] = a->lost;
	ctl->overflows[who] = a->overflows;
	return TEST_PASS;
}

/* The copying subscriber. */
static int reader(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct account a = { 0 };
	unsigned char buf[MAX_LEN];
	struct shoal_msg m;

	CHECK(join(&reg, &sub) == TEST_PASS);
	while (a.next < messages) {
		ssize_t n = shoal_sub_read(sub, buf, sizeof(buf), NULL, &m,
					   60 * PSU_SEC);
		uint64_t seq;

		if (n == -EOVERFLOW) {
			CHECK(overflowed(&a, &m) == TEST_PASS);
			continue;
		}
		CHECK(n >= (ssize_t)PSU_MIN_LEN);
		CHECK(psu_intact(buf, (uint32_t)n, &seq));
		CHECK_EQ(seq, m.seq);
		CHECK(psu_verify(buf, (uint32_t)n, m.seq, 0));
		CHECK(arrived(&a, m.seq) == TEST_PASS);
		/* Slow: a nap every few messages... */
		if (a.received % 4 == 0)
			usleep(20);
		/* ...and, once, a full stop until the publisher is done: it
		 * must get there without us. */
		if (a.received == 2000)
			CHECK(PSU_WAIT(atomic_load(&ctl->pub_done), 240));
	}
	CHECK(finished(&a, sub, 0) == TEST_PASS);
	atomic_fetch_add(&ctl->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The zero-copy subscriber: take, copy, release, judge the copy. */
static int taker(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct account a = { 0 };
	unsigned char copy[MAX_LEN];
	uint64_t stale = 0, forced = 0, intact = 0;
	struct shoal_sub_stats st;
	struct shoal_msg m;

	CHECK(join(&reg, &sub) == TEST_PASS);
	while (a.next < messages) {
		int err = shoal_sub_take(sub, &m, 60 * PSU_SEC);
		uint32_t len;

		if (err == -EOVERFLOW) {
			CHECK(overflowed(&a, &m) == TEST_PASS);
			continue;
		}
		CHECK_EQ(err, 0);
		CHECK(arrived(&a, m.seq) == TEST_PASS);
		len = m.len;
		CHECK(len <= MAX_LEN);
		memcpy(copy, m.data, len);
		if (a.received == 1) {
			CHECK_EQ(m.seq, 0);
			atomic_store(&ctl->holding, 1);
		}
		/* Now and then hold the message until the publisher has
		 * written message seq + capacity, into this very slot. */
		if (a.received % 500 == 1 && !atomic_load(&ctl->pub_done)) {
			uint64_t over = m.seq + capacity + 1;

			CHECK(PSU_WAIT(atomic_load_explicit(
					       &ctl->progress,
					       memory_order_acquire) >= over ||
					       atomic_load(&ctl->pub_done),
				       120));
			if (atomic_load(&ctl->progress) >= over) {
				CHECK_EQ(shoal_sub_valid(sub, &m), 0);
				CHECK_EQ(shoal_sub_release(sub, &m), -ESTALE);
				forced++;
				stale++;
				continue;
			}
		}
		err = shoal_sub_release(sub, &m);
		if (err == -ESTALE) {
			stale++;
		} else {
			CHECK_EQ(err, 0);
			/* Released whole: the copy must be the message. */
			CHECK(psu_verify(copy, len, m.seq, 0));
			intact++;
		}
		if (a.received % 8 == 0)
			usleep(20);
	}
	CHECK(finished(&a, sub, 1) == TEST_PASS);
	/* Both outcomes happened, for certain: message 0 was held while
	 * the publisher ran on (it waited for that hold, then sends far more
	 * than capacity), and the last one was taken after it stopped. */
	CHECK(forced >= 1);
	CHECK(intact >= 1);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.stale, stale);
	ctl->stale = stale;
	ctl->forced_stale = forced;
	ctl->intact = intact;
	atomic_fetch_add(&ctl->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_lossy_slow(void)
{
	pid_t pids[3];

	memset(ctl, 0, sizeof(*ctl));
	pids[0] = psu_fork();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(reader());
	pids[1] = psu_fork();
	CHECK(pids[1] >= 0);
	if (pids[1] == 0)
		_exit(taker());
	pids[2] = psu_fork();
	CHECK(pids[2] >= 0);
	if (pids[2] == 0)
		_exit(publisher());
	CHECK(psu_wait_all(pids, 3, 280));
	fprintf(stderr,
		"lossy: %" PRIu64 " sent; reader got %" PRIu64 ", lost %" PRIu64
		" in %" PRIu64 " overflows; taker got %" PRIu64 " (%" PRIu64
		" intact, %" PRIu64 " stale of which %" PRIu64
		" forced), lost %" PRIu64 " in %" PRIu64 " overflows\n",
		messages, ctl->received[0], ctl->lost[0], ctl->overflows[0],
		ctl->received[1], ctl->intact, ctl->stale, ctl->forced_stale,
		ctl->lost[1], ctl->overflows[1]);
	return TEST_PASS;
}

/* Big messages through 2 slots, published as fast as possible. */
static int big_publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	struct shoal_pub_stats st;

	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.capacity = 2;
	o.max_payload = BIG_MAX;
	CHECK_EQ(shoal_pub_create("lossy/big", &o, &pub), 0);
	atomic_store(&ctl->pub_ready, 1);
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 1, 60));
	for (uint64_t seq = 0; seq < big_messages; seq++) {
		uint32_t len = big_len(seq);
		void *p;

		CHECK_EQ(shoal_pub_loan(pub, len, &p), 0);
		big_fill(p, seq, len);
		CHECK_EQ(shoal_pub_send(pub, p, len), 0);
	}
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, big_messages);
	CHECK_EQ(st.blocked, 0);
	CHECK_EQ(st.failed, 0);
	atomic_store(&ctl->pub_done, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->subs_done) == 1, 200));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int big_reader(void)
{
	struct shoal_registry *reg;
	struct shoal_sub_options o;
	struct shoal_sub *sub;
	struct shoal_sub_stats st;
	struct account a = { 0 };
	struct shoal_msg m;
	uint64_t *buf = malloc(BIG_MAX);

	CHECK(buf != NULL);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pub_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_sub_open("lossy/big", &o, &sub), 0);
	while (a.next < big_messages) {
		ssize_t n = shoal_sub_read(sub, buf, BIG_MAX, NULL, &m,
					   60 * PSU_SEC);

		if (n == -EOVERFLOW) {
			CHECK(m.lost > 0);
			a.pending += m.lost;
			a.lost += m.lost;
			a.overflows++;
			/* For the log only: the detail tells a copy that was
			 * overwritten from a lap. */
			if (strstr(shoal_last_error(), "copying"))
				ctl->stale++;
			continue;
		}
		if (!big_intact(buf, (size_t)n, m.seq)) {
			fprintf(stderr,
				"shoal_sub_read() gave a torn message %" PRIu64
				" (%zd bytes)\n",
				m.seq, n);
			return TEST_FAIL;
		}
		CHECK(arrived(&a, m.seq) == TEST_PASS);
	}
	CHECK_EQ(a.next, big_messages);
	CHECK_EQ(a.received + a.lost, big_messages);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.lost, a.lost);
	CHECK_EQ(st.received, a.received);
	CHECK_EQ(st.received + st.lost, big_messages);
	ctl->received[0] = a.received;
	ctl->lost[0] = a.lost;
	ctl->overflows[0] = a.overflows;
	atomic_fetch_add(&ctl->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	free(buf);
	return TEST_PASS;
}

static int test_torn_copies(void)
{
	pid_t pids[2];

	memset(ctl, 0, sizeof(*ctl));
	pids[0] = psu_fork();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(big_reader());
	pids[1] = psu_fork();
	CHECK(pids[1] >= 0);
	if (pids[1] == 0)
		_exit(big_publisher());
	CHECK(psu_wait_all(pids, 2, 200));
	fprintf(stderr,
		"big: %" PRIu64 " sent; reader got %" PRIu64 ", lost %" PRIu64
		" in %" PRIu64 " overflows, %" PRIu64
		" of them copies overwritten while made\n",
		big_messages, ctl->received[0], ctl->lost[0], ctl->overflows[0],
		ctl->stale);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	messages = test_arg_u64(argc, argv, 1, 1000000);
	capacity = (uint32_t)test_arg_u64(argc, argv, 2, 64);
	big_messages = test_arg_u64(argc, argv, 3, 20000);
	if (messages <= 2 * (uint64_t)capacity) {
		fprintf(stderr, "%s: messages must exceed twice the capacity\n",
			argv[0]);
		return TEST_FAIL;
	}
	psu_watchdog(295);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_lossy_slow);
	RUN(test_torn_copies);
	test_remove_tree(top);
	return test_result();
}
