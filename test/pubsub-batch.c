/* shoal-test: label=multiproc timeout=120 */
/*
 * shoal_pub_write_batch(): several messages published with one store of
 * head, one fence and one wake-up pass.
 *
 * In one process, the contract: an empty batch or a NULL array (-EINVAL); a
 * first message over max_payload (-EMSGSIZE, nothing published) and a later
 * one (the batch ends before it); a loan outstanding (-EBUSY); a full
 * reliable ring with send_timeout_ns 0 (-EAGAIN) and one with room for m < n
 * messages (exactly m); a lossy batch longer than the ring (all published;
 * the lapped subscriber gets -EOVERFLOW with the count it lost, then the
 * newest messages intact); user headers copied per message, zeroes for a
 * NULL one even over a slot that held a header; timestamps nonzero and
 * nondecreasing; seq numbers contiguous across batches, writes and loans.
 *
 * Between processes: a reliable publisher writes batches of 1..100
 * messages (some longer than its 64-slot ring), going on from the return
 * value each time, to two subscribers (one spinning, one sleeping) that
 * must each get every message once, in order, each byte as generated.
 *
 * The join race: a batch stores its end (the payload header's bound) before
 * it writes its slots, so that a subscriber joining meanwhile either is seen
 * by the publisher's gating or starts after everything the batch
 * overwrites. Subscribers keep joining
 * (with as much history as the publisher keeps) a small ring that batches
 * fill continuously while a steady subscriber keeps it moving; a reliable
 * subscriber must never be lapped, right after joining included: every
 * take returns a message, seq contiguous, payload intact. The same with
 * no steady subscriber (so every batch fills up to a whole ring): see
 * test_join_race_alone().
 */
#include <limits.h>
#include <sched.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_LEN 512u
#define BUF_LEN 2048u /* the longest message any case makes */
#define MAX_BATCH 100u
#define FRAME_MAGIC 0xb47c400000000000ULL
/*
 * Sanitizers slow this test down far less than TEST_SLOWDOWN says (that is
 * for a busy ring): with a tenth of the messages and half the joins, the
 * whole program takes about 3 s under TSan here, 1 s under ASan.
 */
#define SCALE_DOWN (TEST_SLOWDOWN > 1 ? 10 : 1)

static char path[PATH_MAX];

/* ------------------------------------------------------------------------
 * Batches of self-checking messages
 */

struct batch {
	unsigned char buf[MAX_BATCH][BUF_LEN];
	uint64_t uh[MAX_BATCH][2];
	struct shoal_pub_msg msgs[MAX_BATCH];
};

static struct batch bat;

/* Message @seq has no user header (the subscriber sees zeroes). */
static int no_header(uint64_t seq)
{
	return seq % 5 == 4;
}

static void frame_header(uint64_t seq, uint64_t uh[2])
{
	uh[0] = FRAME_MAGIC ^ seq;
	uh[1] = seq * 3 + 1;
}

/* bat.msgs[0..n) = messages first..first+n-1 of @salt, lengths in
 * [PSU_MIN_LEN, @hi], user headers but for no_header() ones. */
static void make_batch(uint64_t first, uint32_t n, uint64_t salt, uint32_t hi)
{
	for (uint32_t k = 0; k < n; k++) {
		uint64_t seq = first + k;
		uint32_t len = psu_len(seq, salt, PSU_MIN_LEN, hi);

		psu_fill(bat.buf[k], seq, salt, len);
		frame_header(seq, bat.uh[k]);
		bat.msgs[k].data = bat.buf[k];
		bat.msgs[k].len = len;
		bat.msgs[k].pad = 0;
		bat.msgs[k].user_header = no_header(seq) ? NULL : bat.uh[k];
	}
}

/* @m is message @seq of @salt as make_batch() made it; @uh_size 0 or 16. */
static int check_msg(const struct shoal_msg *m, uint64_t seq, uint64_t salt,
		     uint32_t hi, uint32_t uh_size)
{
	uint64_t want[2] = { 0, 0 };

	CHECK_EQ(m->seq, seq);
	CHECK_EQ(m->len, psu_len(seq, salt, PSU_MIN_LEN, hi));
	CHECK(psu_verify(m->data, m->len, seq, salt));
	CHECK_EQ(m->user_header_size, uh_size);
	if (uh_size) {
		if (!no_header(seq))
			frame_header(seq, want);
		CHECK(m->user_header != NULL);
		CHECK(memcmp(m->user_header, want, sizeof(want)) == 0);
	}
	return TEST_PASS;
}

/* Takes message @seq (already there) and checks it. */
static int take_one(struct shoal_sub *s, uint64_t seq, uint64_t salt,
		    uint32_t hi, uint32_t uh_size)
{
	struct shoal_msg m;

	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK(check_msg(&m, seq, salt, hi, uh_size) == TEST_PASS);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	return TEST_PASS;
}

/* Takes messages first..end-1, then finds nothing more. */
static int take_range(struct shoal_sub *s, uint64_t first, uint64_t end,
		      uint64_t salt, uint32_t hi, uint32_t uh_size)
{
	struct shoal_msg m;

	for (uint64_t seq = first; seq < end; seq++)
		CHECK(take_one(s, seq, salt, hi, uh_size) == TEST_PASS);
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	return TEST_PASS;
}

static uint64_t sent(const struct shoal_pub *pub)
{
	struct shoal_pub_stats st;

	shoal_pub_get_stats(pub, &st);
	return st.sent;
}

/* ------------------------------------------------------------------------
 * Case 1: the contract, in one process
 */

static struct shoal_registry *reg;

static void pub_opts(struct shoal_pub_options *o, uint32_t capacity)
{
	shoal_pub_options_init(o);
	o->registry = reg;
	o->capacity = capacity;
	o->max_payload = 256;
	o->send_timeout_ns = 0; /* a bug shows as -EAGAIN, not a hang */
}

static struct shoal_sub *sub_join(const char *name)
{
	struct shoal_sub_options o;
	struct shoal_sub *s = NULL;

	shoal_sub_options_init(&o);
	o.registry = reg;
	if (shoal_sub_open(name, &o, &s))
		return NULL;
	return s;
}

static int test_arguments(void)
{
	struct shoal_pub_options po;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	void *p;

	pub_opts(&po, 16);
	po.user_header_size = 16;
	CHECK_EQ(shoal_pub_create("batch/args", &po, &pub), 0);
	CHECK((s = sub_join("batch/args")) != NULL);
	make_batch(0, 5, 1, 256);

	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 0), -EINVAL);
	CHECK_EQ(shoal_pub_write_batch(pub, NULL, 3), -EINVAL);
	CHECK_EQ(shoal_pub_write_batch(pub, NULL, 0), -EINVAL);

	/* The first too long: nothing published, whatever follows. */
	bat.msgs[0].len = 257;
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), -EMSGSIZE);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 1), -EMSGSIZE);
	bat.msgs[0].len = UINT32_MAX;
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), -EMSGSIZE);
	CHECK_EQ(sent(pub), 0);
	CHECK(take_range(s, 0, 0, 1, 256, 16) == TEST_PASS);

	/* A later one too long: the batch ends before it. */
	make_batch(0, 5, 1, 256);
	bat.msgs[3].len = 257;
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), 3);
	CHECK_EQ(sent(pub), 3);
	CHECK(take_range(s, 0, 3, 1, 256, 16) == TEST_PASS);
	/* Exactly max_payload is fine. */
	make_batch(3, 4, 1, 256);
	bat.msgs[1].len = 256;
	psu_fill(bat.buf[1], 4, 1, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 4), 4);
	for (uint64_t seq = 3; seq < 7; seq++) {
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
		CHECK_EQ(m.seq, seq);
		CHECK_EQ(m.len, seq == 4 ? 256 : bat.msgs[seq - 3].len);
		CHECK(psu_verify(m.data, m.len, seq, 1));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}

	/* A loan out: -EBUSY, nothing published, the loan still good. */
	CHECK_EQ(shoal_pub_loan(pub, 32, &p), 0);
	make_batch(7, 3, 1, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 3), -EBUSY);
	CHECK_EQ(sent(pub), 7);
	CHECK_EQ(shoal_pub_abort(pub, p), 0);
	/* The aborted loan's seq goes to the batch's first message. */
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 3), 3);
	CHECK_EQ(shoal_pub_loan(pub, 32, &p), 0);
	psu_fill(p, 10, 1, 32);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 1), -EBUSY);
	CHECK_EQ(shoal_pub_send(pub, p, 32), 0);
	CHECK_EQ(sent(pub), 11);
	for (uint64_t seq = 7; seq < 10; seq++)
		CHECK(take_one(s, seq, 1, 256, 16) == TEST_PASS);
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
		CHECK_EQ(m.seq, 10);
		CHECK_EQ(m.len, 32);
		CHECK(psu_verify(m.data, 32, 10, 1));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
		CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	}
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_reliable_full(void)
{
	struct shoal_pub_options po;
	struct shoal_pub_stats st;
	struct shoal_pub *pub;
	struct shoal_sub *s;

	/* Nobody to wait for: still at most a ring per reliable batch (a
	 * joiner's start depends on it, pubsub.md), and the caller goes on
	 * from the count, as with any short batch. */
	pub_opts(&po, 8);
	CHECK_EQ(shoal_pub_create("batch/full", &po, &pub), 0);
	make_batch(0, 20, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 20), 8);
	make_batch(8, 12, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 12), 8);
	make_batch(16, 4, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 4), 4);
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, 20);
	shoal_pub_destroy(pub);

	CHECK_EQ(shoal_pub_create("batch/full", &po, &pub), 0);
	CHECK((s = sub_join("batch/full")) != NULL);
	/* The ring takes 8; a subscriber that took nothing holds all 8. */
	make_batch(0, 8, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 8), 8);
	make_batch(8, 5, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), -EAGAIN);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 1), -EAGAIN);
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, 8);
	CHECK_EQ(st.failed, 2);

	/* Room for 3: a batch of 5 publishes exactly 3. */
	CHECK(take_one(s, 0, 2, 256, 0) == TEST_PASS);
	CHECK(take_one(s, 1, 2, 256, 0) == TEST_PASS);
	CHECK(take_one(s, 2, 2, 256, 0) == TEST_PASS);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), 3);
	CHECK_EQ(sent(pub), 11);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs + 3, 2), -EAGAIN);

	/* Held but not released: still no room for it. */
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
		CHECK(check_msg(&m, 3, 2, 256, 0) == TEST_PASS);
		CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs + 3, 2), -EAGAIN);
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs + 3, 2), 1);
	CHECK_EQ(sent(pub), 12);

	/* Emptied: room for a whole ring and no more. */
	CHECK(take_range(s, 4, 12, 2, 256, 0) == TEST_PASS);
	make_batch(12, 20, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 20), 8);
	CHECK(take_range(s, 12, 20, 2, 256, 0) == TEST_PASS);
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, 20);
	CHECK_EQ(st.failed, 4);
	shoal_sub_close(s);

	/* The subscriber gone: nothing gates any more but the one-ring cap. */
	make_batch(20, 20, 2, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 20), 8);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs + 8, 12), 8);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_lossy_lapped(void)
{
	struct shoal_pub_options po;
	struct shoal_sub_stats ss;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	uint64_t lost;

	pub_opts(&po, 8);
	po.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(shoal_pub_create("batch/lossy", &po, &pub), 0);
	CHECK((s = sub_join("batch/lossy")) != NULL);
	make_batch(0, 20, 3, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 20), 20);
	CHECK_EQ(sent(pub), 20);

	/* Lapped: it lost the older ones and gets the newest intact. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EOVERFLOW);
	lost = m.lost;
	CHECK(lost >= 20 - 8 && lost < 20);
	CHECK(take_range(s, lost, 20, 3, 256, 0) == TEST_PASS);
	shoal_sub_get_stats(s, &ss);
	CHECK_EQ(ss.lost, lost);
	CHECK_EQ(ss.received, 20 - lost);

	/* Not lapped: everything. */
	make_batch(20, 5, 3, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 5), 5);
	CHECK(take_range(s, 20, 25, 3, 256, 0) == TEST_PASS);
	/* A whole ring's worth: not lapped either. */
	make_batch(25, 8, 3, 256);
	CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 8), 8);
	CHECK(take_range(s, 25, 33, 3, 256, 0) == TEST_PASS);
	shoal_sub_get_stats(s, &ss);
	CHECK_EQ(ss.lost, lost);
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* Message @seq by loan and send, with its user header. */
static int loan_send(struct shoal_pub *pub, uint64_t seq, uint64_t salt)
{
	uint32_t len = psu_len(seq, salt, PSU_MIN_LEN, 256);
	void *p;

	CHECK_EQ(shoal_pub_loan(pub, 256, &p), 0);
	CHECK(shoal_pub_loan_header(pub) != NULL);
	frame_header(seq, shoal_pub_loan_header(pub));
	psu_fill(p, seq, salt, len);
	CHECK_EQ(shoal_pub_send(pub, p, len), 0);
	return TEST_PASS;
}

/*
 * Headers, timestamps and seqs through batch, write, loan/send, batch,
 * ... around a 16-slot ring several times, so that a batch's NULL headers
 * land on slots that held one.
 */
static int test_fields_and_mixing(void)
{
	struct shoal_pub_options po;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	struct shoal_msg m;
	int64_t before = psu_now_ns(), last_ts = 0;
	uint64_t seq = 0, next = 0, uh[2];
	/* Which messages have a zero header: a batch's NULL ones. */
	unsigned char zero_uh[512] = { 0 };

	pub_opts(&po, 16);
	po.user_header_size = 16;
	po.flags = SHOAL_PUB_TIMESTAMP;
	CHECK_EQ(shoal_pub_create("batch/fields", &po, &pub), 0);
	CHECK((s = sub_join("batch/fields")) != NULL);
	for (uint32_t round = 0; round < 24; round++) {
		uint32_t n = 1 + round % 9;

		make_batch(seq, n, 4, 256);
		CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, n), (int)n);
		for (; n; n--, seq++)
			zero_uh[seq] = (unsigned char)no_header(seq);
		switch (round % 3) {
		case 0: /* a single write, with its header */
			make_batch(seq, 1, 4, 256);
			frame_header(seq, uh);
			CHECK_EQ(shoal_pub_write(pub, bat.buf[0],
						 bat.msgs[0].len, uh),
				 0);
			seq++;
			break;
		case 1:
			CHECK(loan_send(pub, seq, 4) == TEST_PASS);
			seq++;
			break;
		default: /* two batches in a row */
			make_batch(seq, 3, 4, 256);
			CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 3), 3);
			for (n = 3; n; n--, seq++)
				zero_uh[seq] = (unsigned char)no_header(seq);
			break;
		}
		CHECK_EQ(sent(pub), seq);
		/* Everything so far, in order; single writes and loans
		 * carry headers whatever no_header() says. */
		for (; next < seq; next++) {
			uint64_t want[2] = { 0, 0 };

			CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
			CHECK_EQ(m.seq, next);
			CHECK_EQ(m.len, psu_len(next, 4, PSU_MIN_LEN, 256));
			CHECK(psu_verify(m.data, m.len, next, 4));
			CHECK_EQ(m.user_header_size, 16);
			CHECK(m.user_header != NULL);
			if (!zero_uh[next])
				frame_header(next, want);
			CHECK(memcmp(m.user_header, want, 16) == 0);
			CHECK(m.timestamp_ns != 0);
			CHECK(m.timestamp_ns >= before);
			CHECK(m.timestamp_ns >= last_ts);
			CHECK(m.timestamp_ns <= psu_now_ns());
			last_ts = m.timestamp_ns;
			CHECK_EQ(shoal_sub_release(s, &m), 0);
		}
		CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	}
	CHECK(seq > 3 * 16 && seq < sizeof(zero_uh));
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* Batches only: NULL headers must be zeroes even over a slot that had one. */
static int test_null_headers(void)
{
	struct shoal_pub_options po;
	struct shoal_pub *pub;
	struct shoal_sub *s;
	uint64_t seq = 0;

	pub_opts(&po, 8);
	po.user_header_size = 16;
	CHECK_EQ(shoal_pub_create("batch/uh", &po, &pub), 0);
	CHECK((s = sub_join("batch/uh")) != NULL);
	/* Batches of 7 into 8 slots: each no_header() seq lands on a slot
	 * whose previous message (seq - 8) had a header. */
	for (int round = 0; round < 10; round++) {
		make_batch(seq, 7, 5, 200);
		CHECK_EQ(shoal_pub_write_batch(pub, bat.msgs, 7), 7);
		CHECK(take_range(s, seq, seq + 7, 5, 200, 16) == TEST_PASS);
		seq += 7;
	}
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* ------------------------------------------------------------------------
 * Case 2: reliable, between processes
 */

#define FAN_NAME "batch/fanout"
#define FAN_CAPACITY 64u
#define FAN_SALT 7u

struct fan_ctl {
	_Atomic int pub_ready;
	_Atomic int subs_done;
	_Atomic uint64_t epoch;
	uint64_t sum;	 /* of the batch returns */
	uint64_t calls;	 /* write_batch calls */
	uint64_t shorts; /* calls that published fewer than asked */
	uint64_t received[2];
};

static struct fan_ctl *fan;
static uint64_t fan_total;

static int fan_publisher(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub_stats st;
	struct shoal_pub *pub;
	uint64_t seq = 0, sum = 0, calls = 0, shorts = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	shoal_pub_options_init(&o);
	o.registry = r;
	o.capacity = FAN_CAPACITY;
	o.max_payload = MAX_LEN;
	o.user_header_size = 16;
	CHECK_EQ(shoal_pub_create(FAN_NAME, &o, &pub), 0);
	atomic_store(&fan->epoch, shoal_pub_epoch(pub));
	atomic_store(&fan->pub_ready, 1);
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 2, 60));

	while (seq < fan_total) {
		uint32_t n =
			1 + (uint32_t)(psu_mix(calls ^ 0xba7c) % MAX_BATCH);
		int got;

		if (n > fan_total - seq)
			n = (uint32_t)(fan_total - seq);
		make_batch(seq, n, FAN_SALT, MAX_LEN);
		got = shoal_pub_write_batch(pub, bat.msgs, n);
		if (got < 1 || (uint32_t)got > n || got > (int)FAN_CAPACITY) {
			fprintf(stderr,
				"batch of %u at seq %" PRIu64 " returned %d "
				"(%s)\n",
				n, seq, got, shoal_last_error());
			return TEST_FAIL;
		}
		calls++;
		shorts += (uint32_t)got < n;
		sum += (uint32_t)got;
		seq += (uint32_t)got;
	}
	CHECK_EQ(sum, fan_total);
	fan->sum = sum;
	fan->calls = calls;
	fan->shorts = shorts;
	CHECK(PSU_WAIT(atomic_load(&fan->subs_done) == 2, 100));
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, fan_total);
	CHECK_EQ(st.failed, 0);
	CHECK_EQ(st.evicted, 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int fan_subscriber(int idx)
{
	struct shoal_registry *r;
	struct shoal_sub_options o;
	struct shoal_sub_stats st;
	struct shoal_sub *sub;
	struct shoal_msg m;
	unsigned char buf[MAX_LEN];
	uint64_t uh[2], want[2], epoch;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&fan->pub_ready), 60));
	epoch = atomic_load(&fan->epoch);
	shoal_sub_options_init(&o);
	o.registry = r;
	o.strategy = idx ? SHOAL_WAIT_BLOCK : SHOAL_WAIT_BUSY_SPIN;
	CHECK_EQ(shoal_sub_open(FAN_NAME, &o, &sub), 0);
	for (uint64_t seq = 0; seq < fan_total; seq++) {
		/* In place mostly; the copying read now and then. */
		if ((seq / 13 + (uint64_t)idx) % 4) {
			int err = shoal_sub_take(sub, &m, 60 * PSU_SEC);

			if (err) {
				fprintf(stderr,
					"sub %d: take of %" PRIu64
					": %d (%s)\n",
					idx, seq, err, shoal_last_error());
				return TEST_FAIL;
			}
			CHECK_EQ(m.epoch, epoch);
			CHECK(check_msg(&m, seq, FAN_SALT, MAX_LEN, 16) ==
			      TEST_PASS);
			CHECK_EQ(shoal_sub_release(sub, &m), 0);
		} else {
			ssize_t len = shoal_sub_read(sub, buf, sizeof(buf), uh,
						     &m, 60 * PSU_SEC);

			CHECK_EQ(len,
				 psu_len(seq, FAN_SALT, PSU_MIN_LEN, MAX_LEN));
			CHECK_EQ(m.seq, seq);
			CHECK(psu_verify(buf, (uint32_t)len, seq, FAN_SALT));
			memset(want, 0, sizeof(want));
			if (!no_header(seq))
				frame_header(seq, want);
			CHECK(memcmp(uh, want, sizeof(want)) == 0);
		}
	}
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.received, fan_total);
	CHECK_EQ(st.lost, 0);
	CHECK_EQ(st.stale, 0);
	fan->received[idx] = st.received;
	atomic_fetch_add(&fan->subs_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int test_reliable_processes(void)
{
	pid_t pids[3];

	fan = psu_shared(sizeof(*fan));
	CHECK(fan != NULL);
	fan_total = 200000 / SCALE_DOWN;
	for (int i = 0; i < 2; i++) {
		pids[i] = psu_fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(fan_subscriber(i));
	}
	pids[2] = psu_fork();
	CHECK(pids[2] >= 0);
	if (pids[2] == 0)
		_exit(fan_publisher());
	CHECK(psu_wait_all(pids, 3, 100));
	CHECK_EQ(fan->sum, fan_total);
	CHECK_EQ(fan->received[0], fan_total);
	CHECK_EQ(fan->received[1], fan_total);
	/* Batches of up to 100 into 64 slots: some must come back short. */
	CHECK(fan->shorts > 0);
	fprintf(stderr,
		"batch fan-out: %" PRIu64 " messages in %" PRIu64
		" batches, %" PRIu64 " short\n",
		fan_total, fan->calls, fan->shorts);
	munmap(fan, sizeof(*fan));
	return TEST_PASS;
}

/* ------------------------------------------------------------------------
 * Case 3: subscribers joining while batches fill a small ring
 */

#define JOIN_NAME "batch/join"
#define JOIN_CAPACITY 8u
#define JOIN_SALT 9u
#define JOINERS 2

struct join_ctl {
	int steady; /* with a steady subscriber (else one joiner only) */
	int joiners;
	uint32_t max_len;
	_Atomic int pub_ready;
	_Atomic int steady_joined;
	_Atomic int joiners_done;
	_Atomic int steady_done;
	_Atomic uint64_t total; /* published in all, once the publisher stops */
	uint64_t calls;
	uint64_t joins[JOINERS];
	uint64_t taken[JOINERS];
};

static struct join_ctl *jc;

static int join_publisher(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub_stats st;
	struct shoal_pub *pub;
	uint64_t seq = 0, calls = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	shoal_pub_options_init(&o);
	o.registry = r;
	o.capacity = JOIN_CAPACITY;
	o.history = JOIN_CAPACITY - 1;
	o.max_payload = BUF_LEN;
	CHECK_EQ(shoal_pub_create(JOIN_NAME, &o, &pub), 0);
	atomic_store(&jc->pub_ready, 1);
	/* The steady subscriber first, so that it gets everything. */
	CHECK(!jc->steady || PSU_WAIT(atomic_load(&jc->steady_joined), 60));
	while (atomic_load_explicit(&jc->joiners_done, memory_order_relaxed) <
	       jc->joiners) {
		/* 1..20, some longer than the ring (a batch then stops at
		 * a ring); without a steady subscriber, 10..20. */
		uint32_t n = 1 + (uint32_t)(psu_mix(calls ^ 0x701) % 20);
		int got;

		if (!jc->steady && n < 10)
			n += 10;
		make_batch(seq, n, JOIN_SALT, jc->max_len);
		got = shoal_pub_write_batch(pub, bat.msgs, n);
		/* With a subscriber, at most a ring's worth is unread. */
		if (got < 1 || (uint32_t)got > n ||
		    (jc->steady && (uint32_t)got > JOIN_CAPACITY)) {
			fprintf(stderr,
				"join: batch of %u at seq %" PRIu64
				" returned %d (%s)\n",
				n, seq, got, shoal_last_error());
			return TEST_FAIL;
		}
		calls++;
		seq += (uint32_t)got;
	}
	jc->calls = calls;
	atomic_store(&jc->total, seq);
	CHECK(!jc->steady || PSU_WAIT(atomic_load(&jc->steady_done), 60));
	shoal_pub_get_stats(pub, &st);
	CHECK_EQ(st.sent, seq);
	CHECK_EQ(st.failed, 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/* Everything from seq 0, in order, until the publisher stops. */
static int join_steady(void)
{
	struct shoal_registry *r;
	struct shoal_sub_options o;
	struct shoal_sub *sub;
	struct shoal_msg m;
	uint64_t seq = 0, total = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&jc->pub_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = r;
	CHECK_EQ(shoal_sub_open(JOIN_NAME, &o, &sub), 0);
	atomic_store(&jc->steady_joined, 1);
	for (;;) {
		int err;

		if (!total)
			total = atomic_load(&jc->total);
		if (total && seq == total)
			break;
		err = shoal_sub_take(sub, &m, PSU_SEC / 10);
		if (err == -ETIMEDOUT)
			continue;
		if (err) {
			fprintf(stderr,
				"steady: take of %" PRIu64 ": %d (%s)\n", seq,
				err, shoal_last_error());
			return TEST_FAIL;
		}
		CHECK(check_msg(&m, seq, JOIN_SALT, jc->max_len, 0) ==
		      TEST_PASS);
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
		seq++;
		/* Now and then let the ring fill, so batches end short
		 * and joiners find the publisher waiting. */
		if (seq % 211 == 0)
			usleep(50);
		else if (seq % 37 == 0)
			sched_yield();
	}
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	atomic_store(&jc->steady_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/*
 * Joins @joins times, each time with all the history there is (without a
 * steady subscriber: every other time none), and takes 50..79 messages.
 */
static int join_joiner(int idx, uint64_t joins)
{
	static const enum shoal_wait_strategy strategies[] = {
		SHOAL_WAIT_ADAPTIVE, SHOAL_WAIT_BUSY_SPIN, SHOAL_WAIT_BLOCK
	};
	struct shoal_registry *r;
	struct shoal_sub_options o;
	uint64_t taken = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&jc->pub_ready), 60));
	/* The steady subscriber is the first one. */
	CHECK(!jc->steady || PSU_WAIT(atomic_load(&jc->steady_joined), 60));
	for (uint64_t i = 0; i < joins; i++) {
		struct shoal_sub *sub;
		struct shoal_msg m;
		uint64_t first = 0;
		uint32_t want = 50 + (uint32_t)(psu_mix(i + 100 * idx) % 30);

		shoal_sub_options_init(&o);
		o.registry = r;
		/* Bounded by the publisher's 7. */
		o.history = jc->steady || i % 2 ? JOIN_CAPACITY : 0;
		o.strategy = strategies[(i + idx) % 3];
		CHECK_EQ(shoal_sub_open(JOIN_NAME, &o, &sub), 0);
		/* Slow to start, now and then: a publisher that did not
		 * gate on us would have overwritten our first messages by
		 * now. */
		if (i % 4 == 1)
			sched_yield();
		else if (i % 4 == 3)
			usleep(20);
		for (uint32_t k = 0; k < want; k++) {
			int err;

			memset(&m, 0, sizeof(m));
			/* The publisher never stops while we are here. */
			err = shoal_sub_take(sub, &m, 10 * PSU_SEC);

			if (err) {
				fprintf(stderr,
					"joiner %d, join %" PRIu64
					", message %u (first seq %" PRIu64
					"): take returned %d, lost %" PRIu64
					" (%s)\n",
					idx, i, k, first, err, m.lost,
					shoal_last_error());
				return TEST_FAIL;
			}
			if (k == 0)
				first = m.seq;
			CHECK(check_msg(&m, first + k, JOIN_SALT, jc->max_len,
					0) == TEST_PASS);
			CHECK_EQ(shoal_sub_release(sub, &m), 0);
		}
		taken += want;
		shoal_sub_close(sub);
	}
	jc->joins[idx] = joins;
	jc->taken[idx] = taken;
	atomic_fetch_add(&jc->joiners_done, 1);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int join_race(int steady)
{
	uint64_t joins = SCALE_DOWN > 1 ? 300 : 600;
	pid_t pids[2 + JOINERS];

	jc = psu_shared(sizeof(*jc));
	CHECK(jc != NULL);
	jc->steady = steady;
	/* Two joiners would often keep each other's batches short. */
	jc->joiners = steady ? JOINERS : 1;
	jc->max_len = steady ? BUF_LEN : 64;
	pids[0] = steady ? psu_fork() : getpid();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(join_steady());
	for (int i = 0; i < jc->joiners; i++) {
		pids[1 + i] = psu_fork();
		CHECK(pids[1 + i] >= 0);
		if (pids[1 + i] == 0)
			_exit(join_joiner(i, joins / (uint64_t)jc->joiners));
	}
	pids[1 + jc->joiners] = psu_fork();
	CHECK(pids[1 + jc->joiners] >= 0);
	if (pids[1 + jc->joiners] == 0)
		_exit(join_publisher());
	CHECK(psu_wait_all(pids + !steady, 1 + jc->joiners + steady, 100));
	for (int i = 0; i < jc->joiners; i++)
		CHECK_EQ(jc->joins[i], joins / (uint64_t)jc->joiners);
	fprintf(stderr,
		"batch join race%s: %" PRIu64 " joins, %" PRIu64
		" messages in %" PRIu64 " batches\n",
		steady ? "" : " (one joiner only)",
		joins / (uint64_t)jc->joiners * (uint64_t)jc->joiners,
		atomic_load(&jc->total), jc->calls);
	munmap(jc, sizeof(*jc));
	return TEST_PASS;
}

static int test_join_race(void)
{
	return join_race(1);
}

/*
 * The same without the steady subscriber: between joiners nobody gates
 * the publisher, so its batches (10..20, cut at the 8-slot ring) fill it, and a
 * subscriber that the publisher first sees in the middle of a batch's
 * first pass over the cursors must not be overwritten by the rest of it.
 * The first version of the batch failed this on every run, with a joiner
 * lapped or torn right after joining (-EOVERFLOW, or a payload that did
 * not verify), or a batch that waited for a joiner to consume a message
 * that the same batch had not written yet.
 */
static int test_join_race_alone(void)
{
	return join_race(0);
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(110);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_reliable_processes);
	RUN(test_join_race);
	RUN(test_join_race_alone);
	/* After the fork()s: publishers (and their threads) in this one. */
	if (test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_arguments);
	RUN(test_reliable_full);
	RUN(test_lossy_lapped);
	RUN(test_fields_and_mixing);
	RUN(test_null_headers);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
