/* shoal-test: label=multiproc timeout=600 args=3000 */
/*
 * Several loans and several held messages per queue handle (max_loans,
 * max_held), between processes. Two producer processes with max_loans 8
 * keep up to 8 loans out and send or abort them in a pseudo-random order;
 * two consumer processes with max_held 8 take up to 8 messages and release
 * them in a shuffled order. Each loan gets the producer's next number when
 * it is loaned, so, consumers taking positions in order:
 *  - each consumer sees each producer's numbers strictly increasing (loans
 *    sent out of order arrive in loan order);
 *  - every number sent is taken exactly once, and no aborted one ever (a
 *    shared byte per number counts deliveries): nothing lost, nothing
 *    duplicated, an abort in the middle never wedges a consumer;
 *  - the payload is the one written for that number.
 * Also the limits and wrong pointers (-EBUSY, -EINVAL), and bad options.
 * Then processes SIGKILLed holding several: a producer holding 3 loans
 * (one more sent behind the first of them) and a consumer holding 3
 * messages. The creator goes on writing and reading: the producer's sent
 * message is delivered, its 3 loans are skipped (skipped == 3), the
 * consumer's 3 messages are abandoned (abandoned == 3), one recovery at a
 * time as the queue reaches each cell, and nothing wedges.
 */
#include <limits.h>
#include <sched.h>
#include <shoal/queue.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NPROD 2
#define NCONS 2
#define MAX_LOANS 8
#define MAX_HELD 8
#define MAX_MSG 48u
#define SALT 31

struct shared {
	_Atomic int joined;
	_Atomic int producers_done;
	_Atomic int consumers_done;
	_Atomic uint64_t taken;
	_Atomic uint64_t sent_total;
	_Atomic int step; /* kill test */
};

static char path[PATH_MAX];
static struct shared *sh;
static _Atomic uint8_t *sent, *delivered; /* per (producer, number) */
static uint64_t per_prod;

static uint64_t id_of(uint32_t p, uint64_t k)
{
	return (uint64_t)p * per_prod * 2 + k;
}

static int open_queue(const char *name, uint32_t role, struct shoal_queue **q)
{
	struct shoal_registry *reg;
	struct shoal_queue_options o;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_queue_options_init(&o);
	o.registry = reg;
	o.role = role;
	o.max_loans = MAX_LOANS;
	o.max_held = MAX_HELD;
	o.timeout_ns = 60 * PSU_SEC;
	/* A producer does not wait for room: with loans out, the ring may
	 * have filled up to its own oldest loan (see below). */
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_queue_open(name, &o, q), 0);
	/* The registry handle stays open with the queue: the process exits. */
	return 0;
}

struct loan {
	void *ptr;
	uint64_t k;
	uint32_t len;
};

static int producer(const char *name, uint32_t p)
{
	struct shoal_queue *q;
	struct loan win[MAX_LOANS];
	uint32_t nwin = 0;
	uint64_t k = 0, done = 0, round = p * 1000003u + 1;
	void *ptr;

	CHECK_EQ(open_queue(name, SHOAL_QUEUE_PRODUCER, &q), 0);
	atomic_fetch_add(&sh->joined, 1);
	/* Numbers 0..2 per_prod - 1 are ours: aborts use some up. */
	while (done < per_prod || nwin) {
		uint64_t r = psu_mix(round++);

		if (done + nwin < per_prod && nwin < MAX_LOANS &&
		    k < 2 * per_prod && (r % 3 != 0 || !nwin)) {
			struct loan *l = &win[nwin++];
			uint64_t id = id_of(p, k);

			int err;

			l->len = psu_len(id, SALT, PSU_MIN_LEN, MAX_MSG);
			err = shoal_queue_loan(q, l->len, &l->ptr);
			if (err == -EAGAIN) {
				/* Full: perhaps up to our own oldest loan,
				 * a lap ago. Send or abort one first. */
				nwin--;
				if (nwin)
					goto resolve;
				sched_yield();
				continue;
			}
			CHECK_EQ(err, 0);
			l->k = k++;
			psu_fill(l->ptr, id, SALT, l->len);
			continue;
		}
		if (nwin == MAX_LOANS) {
			CHECK_EQ(shoal_queue_loan(q, 16, &ptr), -EBUSY);
			CHECK_EQ(shoal_queue_write(q, "x", 1), -EBUSY);
		}
		if (!nwin)
			break; /* numbers used up (aborts): done */
resolve : {
	uint32_t j = (uint32_t)((r >> 8) % nwin);
	struct loan l = win[j];
	uint64_t id = id_of(p, l.k);

	win[j] = win[--nwin];
	CHECK_EQ(shoal_queue_send(q, (char *)l.ptr + 1, 8), -EINVAL);
	CHECK_EQ(shoal_queue_send(q, l.ptr, l.len + 1), -EINVAL);
	if ((r >> 24) % 6 == 0) {
		CHECK_EQ(shoal_queue_abort(q, l.ptr), 0);
		CHECK_EQ(shoal_queue_abort(q, l.ptr), -EINVAL);
	} else {
		atomic_store(&sent[id], 1);
		CHECK_EQ(shoal_queue_send(q, l.ptr, l.len), 0);
		CHECK_EQ(shoal_queue_send(q, l.ptr, l.len), -EINVAL);
		done++;
	}
}
	}
	atomic_fetch_add(&sh->sent_total, done);
	atomic_fetch_add(&sh->producers_done, 1);
	return 0;
}

static int consumer(const char *name, uint32_t c)
{
	struct shoal_queue *q;
	struct shoal_msg held[MAX_HELD], m;
	uint64_t last[NPROD], round = c * 7919u + 5;
	uint32_t nheld = 0;

	for (int p = 0; p < NPROD; p++)
		last[p] = UINT64_MAX;
	CHECK_EQ(open_queue(name, SHOAL_QUEUE_CONSUMER, &q), 0);
	atomic_fetch_add(&sh->joined, 1);
	for (;;) {
		uint64_t r = psu_mix(round++);
		int err;

		if (nheld < MAX_HELD && (r % 4 != 0 || !nheld)) {
			err = shoal_queue_take(q, &held[nheld], PSU_SEC / 10);
			if (err == -ETIMEDOUT || err == -EAGAIN) {
				if (atomic_load(&sh->producers_done) == NPROD &&
				    atomic_load(&sh->taken) ==
					    atomic_load(&sh->sent_total))
					break;
				if (!nheld)
					continue;
			} else {
				uint64_t id, kk;
				uint32_t p;

				CHECK_EQ(err, 0);
				m = held[nheld++];
				CHECK(psu_intact(m.data, m.len, &id));
				CHECK(psu_verify(m.data, m.len, id, SALT));
				p = (uint32_t)(id / (per_prod * 2));
				kk = id % (per_prod * 2);
				CHECK(p < NPROD);
				CHECK(last[p] == UINT64_MAX || kk > last[p]);
				last[p] = kk;
				CHECK(atomic_load(&sent[id]));
				CHECK_EQ(atomic_fetch_add(&delivered[id], 1),
					 0);
				continue;
			}
		}
		if (nheld == MAX_HELD)
			CHECK_EQ(shoal_queue_take(q, &m, 0), -EBUSY);
		/* Release a random one of those held. */
		{
			uint32_t j = (uint32_t)((r >> 8) % nheld);

			m = held[j];
			held[j] = held[--nheld];
			CHECK_EQ(shoal_queue_release(q, &m), 0);
			CHECK_EQ(shoal_queue_release(q, &m), -EINVAL);
			atomic_fetch_add(&sh->taken, 1);
		}
	}
	CHECK_EQ(nheld, 0);
	atomic_fetch_add(&sh->consumers_done, 1);
	shoal_queue_close(q);
	return 0;
}

static int test_stream(void)
{
	struct shoal_registry *reg;
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	pid_t pids[NPROD + NCONS];
	uint64_t nsent = 0;

	memset(sh, 0, sizeof(*sh));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_queue_options_init(&o);
	CHECK_EQ(o.max_loans, 1);
	CHECK_EQ(o.max_held, 1);
	o.registry = reg;
	o.capacity = 64;
	o.max_message = MAX_MSG;
	o.max_loans = 0;
	CHECK_EQ(shoal_queue_create("loans/stream", &o, &q), -EINVAL);
	o.max_loans = SHOAL_QUEUE_LOANS_MAX + 1;
	CHECK_EQ(shoal_queue_create("loans/stream", &o, &q), -EINVAL);
	o.max_loans = 1;
	o.max_held = 0;
	CHECK_EQ(shoal_queue_create("loans/stream", &o, &q), -EINVAL);
	o.max_held = 2;
	o.flags = SHOAL_QUEUE_SPSC;
	o.role = SHOAL_QUEUE_PRODUCER;
	CHECK_EQ(shoal_queue_create("loans/stream", &o, &q), -EINVAL);
	o.flags = 0;
	o.role = SHOAL_QUEUE_BOTH;
	o.max_loans = 1;
	o.max_held = 1;
	CHECK_EQ(shoal_queue_create("loans/stream", &o, &q), 0);
	for (uint32_t i = 0; i < NPROD; i++) {
		pids[i] = psu_fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(producer("loans/stream", i));
	}
	for (uint32_t i = 0; i < NCONS; i++) {
		pids[NPROD + i] = psu_fork();
		CHECK(pids[NPROD + i] >= 0);
		if (pids[NPROD + i] == 0)
			_exit(consumer("loans/stream", i));
	}
	CHECK(psu_wait_all(pids, NPROD + NCONS, 500));
	for (uint64_t id = 0; id < NPROD * per_prod * 2; id++) {
		CHECK_EQ(atomic_load(&delivered[id]), atomic_load(&sent[id]));
		nsent += atomic_load(&sent[id]);
	}
	CHECK_EQ(nsent, NPROD * per_prod);
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.skipped, 0);
	CHECK_EQ(st.abandoned, 0);
	shoal_queue_destroy(q);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Holds 3 loans, one more sent behind the first, then waits to die. */
static int victim_producer(void)
{
	struct shoal_queue *q;
	void *p[4];

	CHECK_EQ(open_queue("loans/kill", SHOAL_QUEUE_PRODUCER, &q), 0);
	CHECK(test_wait_flag(&sh->step, 1, 120));
	for (int j = 0; j < 4; j++) {
		CHECK_EQ(shoal_queue_loan(q, 16, &p[j]), 0);
		psu_fill(p[j], 500 + (uint64_t)j, SALT, 16);
	}
	CHECK_EQ(shoal_queue_send(q, p[1], 16), 0);
	atomic_store(&sh->step, 2);
	for (;;)
		pause();
}

/* Takes 3 messages, holds them, then waits to die. */
static int victim_consumer(void)
{
	struct shoal_queue *q;
	struct shoal_msg m[3];

	CHECK_EQ(open_queue("loans/kill", SHOAL_QUEUE_CONSUMER, &q), 0);
	for (int j = 0; j < 3; j++)
		CHECK_EQ(shoal_queue_take(q, &m[j], 60 * PSU_SEC), 0);
	atomic_store(&sh->step, 1);
	for (;;)
		pause();
}

static int test_kill(void)
{
	struct shoal_registry *reg;
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	unsigned char buf[MAX_MSG];
	pid_t vp, vc;
	uint64_t id;
	ssize_t n;

	memset(sh, 0, sizeof(*sh));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_queue_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.max_message = MAX_MSG;
	o.send_timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_queue_create("loans/kill", &o, &q), 0);
	vc = psu_fork();
	CHECK(vc >= 0);
	if (vc == 0)
		_exit(victim_consumer());
	vp = psu_fork();
	CHECK(vp >= 0);
	if (vp == 0)
		_exit(victim_producer());
	/* Three for the victim consumer (positions 0..2), then the victim
	 * producer loans 3..6 and sends 4. */
	for (uint64_t j = 0; j < 3; j++) {
		unsigned char m[16];

		psu_fill(m, 100 + j, SALT, 16);
		CHECK_EQ(shoal_queue_write(q, m, 16), 0);
	}
	CHECK(test_wait_flag(&sh->step, 2, 120));
	kill(vp, SIGKILL);
	kill(vc, SIGKILL);
	CHECK_EQ(waitpid(vp, NULL, 0), vp);
	CHECK_EQ(waitpid(vc, NULL, 0), vc);
	/* The dead producer's sent message comes first, past its dead
	 * claim, recovered by this read. */
	n = shoal_queue_read(q, buf, sizeof(buf), 60 * PSU_SEC);
	CHECK_EQ(n, 16);
	CHECK(psu_intact(buf, 16, &id));
	CHECK_EQ(id, 501);
	/* Then laps of our own, write one, read one: every cell of the dead
	 * is reached and recovered on the way. */
	for (uint64_t j = 0; j < 4 * 16; j++) {
		unsigned char m[16];

		psu_fill(m, 1000 + j, SALT, 16);
		CHECK_EQ(shoal_queue_write(q, m, 16), 0);
		n = shoal_queue_read(q, buf, sizeof(buf), 60 * PSU_SEC);
		CHECK_EQ(n, 16);
		CHECK(psu_verify(buf, 16, 1000 + j, SALT));
	}
	CHECK_EQ(shoal_queue_read(q, buf, sizeof(buf), 0), -EAGAIN);
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.skipped, 3);
	CHECK_EQ(st.abandoned, 3);
	shoal_queue_destroy(q);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	per_prod = test_arg_u64(argc, argv, 1, 3000) / TEST_SLOWDOWN;
	if (per_prod < 100)
		per_prod = 100;
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	sh = psu_shared(sizeof(*sh));
	sent = psu_shared(NPROD * per_prod * 2);
	delivered = psu_shared(NPROD * per_prod * 2);
	if (!sh || !sent || !delivered)
		return TEST_FAIL;
	RUN(test_stream);
	RUN(test_kill);
	return test_result();
}
