/* shoal-test: label=multiproc timeout=300 */
/*
 * Queue between processes: 3 producer and 3 consumer processes move
 * 3 x 10^6 messages (divided by TEST_SLOWDOWN under a sanitizer) through
 * a 1024-cell MPMC queue. Every message is taken exactly once (a shared
 * byte per message counts its deliveries), each consumer sees each
 * producer's messages in increasing order, and every byte is checked.
 *
 * Then the same with a producer SIGKILLed while it holds a claimed cell:
 * the others finish, the dead cell is counted (skipped == 1), everything
 * the dead producer sent before is delivered exactly once and nothing
 * else is lost. And with a consumer SIGKILLed while it holds a taken
 * message: that message alone is lost and counted (abandoned == 1).
 *
 * The victim says through a pipe that it holds its cell (EOF there, if it
 * dies first, fails the test instead of hanging it). The victim consumer
 * takes the first message, before the other consumers may start: a dead
 * consumer's cell is recovered only when a producer needs it again, a lap
 * later, so the victim's message must not be in the last lap of the
 * stream. Taken first, it is not (more than CAPACITY messages follow), and
 * the recovery happens on any schedule.
 */
#include <limits.h>
#include <poll.h>
#include <shoal/queue.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NPROD 3
#define NCONS 3
#define MAX_MSG 64
#define CAPACITY 1024

enum {
	KILL_NONE,
	KILL_PRODUCER,
	KILL_CONSUMER
};

struct shared {
	_Atomic uint32_t producers_done;
	_Atomic uint64_t delivered; /* messages taken, all consumers */
	_Atomic uint32_t bad;	    /* checks failed in a child */
	_Atomic uint8_t seen[];	    /* deliveries per message id */
};

static char path[PATH_MAX];
static struct shoal_registry *reg;
static struct shared *sh;
static uint64_t per_prod;
static int scenario;
static const char *qname;
/* The victim writes what it holds to held[1]; closing go[1] lets the
 * consumers other than a victim start (KILL_CONSUMER only). */
static int held[2] = { -1, -1 };
static int go[2] = { -1, -1 };

/* Message ids: producer p's k-th message is p * per_prod + k. */
static void fail_child(const char *what, uint64_t a, uint64_t b)
{
	/* The first few tell the story; a flood would hide it. */
	if (atomic_load(&sh->bad) < 10)
		fprintf(stderr, "child %d: %s (%" PRIu64 ", %" PRIu64 ")\n",
			(int)getpid(), what, a, b);
	atomic_fetch_add(&sh->bad, 1);
}

/* In a child: keep only the pipe ends it uses (so that the parent sees EOF
 * on held[0] when the victim dies, and the others EOF on go[0]). */
static void child_pipes(int victim)
{
	close(held[0]);
	close(go[1]);
	if (!victim)
		close(held[1]);
}

/* In the victim: tell the parent it holds its cell (@id: the message
 * taken, for a consumer), then wait to be killed. */
static _Noreturn void hold(uint64_t id)
{
	if (write(held[1], &id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(1);
	for (;;)
		pause();
}

static struct shoal_queue *open_queue(uint32_t role)
{
	struct shoal_queue_options o;
	struct shoal_queue *q = NULL;

	shoal_queue_options_init(&o);
	o.registry = reg;
	o.role = role;
	if (shoal_queue_open(qname, &o, &q)) {
		fprintf(stderr, "open: %s\n", shoal_last_error());
		_exit(1);
	}
	return q;
}

static void producer(uint32_t p)
{
	struct shoal_queue *q;
	unsigned char buf[MAX_MSG];

	child_pipes(scenario == KILL_PRODUCER && p == 0);
	q = open_queue(SHOAL_QUEUE_PRODUCER);
	for (uint64_t k = 0; k < per_prod; k++) {
		uint64_t id = p * per_prod + k;
		uint32_t len = psu_len(id, 0, PSU_MIN_LEN, MAX_MSG);
		void *slot;
		int err;

		if (scenario == KILL_PRODUCER && p == 0 && k == per_prod / 2) {
			/* Claim a cell, half write it, and wait to be
			 * killed holding it. */
			if (shoal_queue_loan(q, MAX_MSG, &slot))
				_exit(1);
			memset(slot, 0xee, MAX_MSG / 2);
			hold(id);
		}
		psu_fill(buf, id, 0, len);
		/* Odd producers use the zero-copy path. */
		if (p % 2) {
			err = shoal_queue_loan(q, MAX_MSG, &slot);
			if (!err) {
				memcpy(slot, buf, len);
				err = shoal_queue_send(q, slot, len);
			}
		} else {
			err = shoal_queue_write(q, buf, len);
		}
		if (err) {
			fail_child("push failed", k, (uint64_t)-err);
			break;
		}
	}
	atomic_fetch_add(&sh->producers_done, 1);
	shoal_queue_close(q);
	_exit(0);
}

/* Records one delivery of message @buf (@len bytes); @last per producer. */
static void record(const unsigned char *buf, uint32_t len, uint64_t *last)
{
	uint64_t id;
	uint32_t p;

	if (!psu_intact(buf, len, &id) || id >= NPROD * per_prod ||
	    !psu_verify(buf, len, id, 0) ||
	    len != psu_len(id, 0, PSU_MIN_LEN, MAX_MSG)) {
		fail_child("torn or foreign message", len, 0);
		return;
	}
	p = (uint32_t)(id / per_prod);
	if (last[p] != UINT64_MAX && id <= last[p])
		fail_child("out of order for its producer", last[p], id);
	last[p] = id;
	if (atomic_fetch_add(&sh->seen[id], 1) != 0)
		fail_child("delivered twice", id, 0);
	atomic_fetch_add(&sh->delivered, 1);
}

static void consumer(uint32_t c)
{
	int victim = scenario == KILL_CONSUMER && c == 0;
	struct shoal_queue *q;
	uint64_t last[NPROD];
	unsigned char buf[MAX_MSG];

	child_pipes(victim);
	q = open_queue(SHOAL_QUEUE_CONSUMER);
	if (victim) {
		/* Take the first message and keep it taken. */
		struct shoal_msg msg;
		uint64_t id;

		if (shoal_queue_take(q, &msg, SHOAL_WAIT_FOREVER) ||
		    !psu_intact(msg.data, msg.len, &id))
			_exit(1);
		hold(id);
	}
	if (scenario == KILL_CONSUMER) {
		char x;

		/* Until the victim is dead: EOF when the parent closes go[1]. */
		while (read(go[0], &x, 1) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < NPROD; i++)
		last[i] = UINT64_MAX;
	for (;;) {
		struct shoal_queue_stats st;
		struct shoal_msg msg;
		ssize_t n;

		/* Odd consumers take in place. */
		if (c % 2) {
			n = shoal_queue_take(q, &msg, 200000000);
			if (!n) {
				memcpy(buf, msg.data, msg.len);
				n = msg.len;
				if (shoal_queue_release(q, &msg))
					fail_child("release failed", 0, 0);
			}
		} else {
			n = shoal_queue_read(q, buf, sizeof(buf), 200000000);
		}
		if (n >= 0) {
			record(buf, (uint32_t)n, last);
			continue;
		}
		if (n != -ETIMEDOUT) {
			fail_child("pop failed", (uint64_t)-n, 0);
			break;
		}
		/* Idle: done once every producer is and the ring is empty
		 * (a stuck cell keeps enqueued ahead until recovered). */
		shoal_queue_get_stats(q, &st);
		if (atomic_load(&sh->producers_done) == NPROD &&
		    st.enqueued == st.dequeued)
			break;
	}
	shoal_queue_close(q);
	_exit(0);
}

/* Reads what the victim holds from held[0]: 0, or -1 if it died first or
 * said nothing in @timeout_s seconds. */
static int wait_held(uint64_t *id, int timeout_s)
{
	struct pollfd pfd = { .fd = held[0], .events = POLLIN };
	int64_t end = psu_now_ns() + (int64_t)timeout_s * PSU_SEC;
	ssize_t r;

	for (;;) {
		int64_t left_ms = (end - psu_now_ns()) / 1000000;

		if (left_ms <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left_ms) > 0)
			break;
	}
	do
		r = read(held[0], id, sizeof(*id));
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)sizeof(*id) ? 0 : -1;
}

static void kill_all(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
}

static int run(int which, uint64_t messages_per_producer)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	pid_t pids[NPROD + NCONS];
	uint64_t total, missing = 0, twice = 0, lost_id = UINT64_MAX;
	size_t bytes;
	int n = 0, ok;

	scenario = which;
	per_prod = messages_per_producer;
	total = NPROD * per_prod;
	/* The victim consumer's cell is needed again, a lap later. */
	CHECK(total > CAPACITY);
	bytes = sizeof(*sh) + total;
	sh = psu_shared(bytes);
	CHECK(sh != NULL);
	qname = which == KILL_NONE     ? "q/plain" :
		which == KILL_PRODUCER ? "q/kill-producer" :
					 "q/kill-consumer";
	shoal_queue_options_init(&o);
	o.registry = reg;
	o.capacity = CAPACITY;
	o.max_message = MAX_MSG;
	CHECK_EQ(shoal_queue_create(qname, &o, &q), 0);
	CHECK(pipe(held) == 0 && pipe(go) == 0);
	for (uint32_t i = 0; i < NPROD; i++) {
		pids[n] = psu_fork();
		if (pids[n] == 0)
			producer(i);
		n++;
	}
	for (uint32_t i = 0; i < NCONS; i++) {
		pids[n] = psu_fork();
		if (pids[n] == 0)
			consumer(i);
		n++;
	}
	close(held[1]);
	if (which != KILL_NONE) {
		pid_t victim = which == KILL_PRODUCER ? pids[0] : pids[NPROD];
		uint64_t id;

		if (wait_held(&id, 120)) {
			fprintf(stderr, "%s: the victim never held a cell\n",
				qname);
			kill_all(pids, n);
			CHECK(0);
		}
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
		if (which == KILL_PRODUCER)
			atomic_fetch_add(&sh->producers_done, 1);
		else
			lost_id = id;
		/* The survivors are checked below; the victim is reaped. */
		memmove(&pids[which == KILL_PRODUCER ? 0 : NPROD],
			&pids[(which == KILL_PRODUCER ? 0 : NPROD) + 1],
			sizeof(pid_t) *
				(size_t)(n - 1 -
					 (which == KILL_PRODUCER ? 0 : NPROD)));
		n--;
	}
	/* The other consumers start (KILL_CONSUMER) after the kill. */
	close(go[1]);
	ok = psu_wait_all(pids, n, 240);
	close(held[0]);
	close(go[0]);
	CHECK(ok);
	CHECK_EQ(atomic_load(&sh->bad), 0);
	for (uint64_t id = 0; id < total; id++) {
		uint8_t times = atomic_load(&sh->seen[id]);
		int never_sent = which == KILL_PRODUCER && id < per_prod &&
				 id >= per_prod / 2;

		if (never_sent || id == lost_id) {
			if (times)
				twice++;
			continue;
		}
		if (times == 0)
			missing++;
		else if (times > 1)
			twice++;
	}
	if (missing || twice)
		fprintf(stderr,
			"%s: %" PRIu64 " missing, %" PRIu64
			" delivered twice or resurrected\n",
			qname, missing, twice);
	CHECK_EQ(missing, 0);
	CHECK_EQ(twice, 0);
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.enqueued, st.dequeued);
	CHECK_EQ(st.skipped, which == KILL_PRODUCER ? 1 : 0);
	CHECK_EQ(st.abandoned, which == KILL_CONSUMER ? 1 : 0);
	CHECK_EQ(atomic_load(&sh->delivered),
		 total - (which == KILL_PRODUCER ? per_prod - per_prod / 2 :
			  which == KILL_CONSUMER ? 1 :
						   0));
	shoal_queue_destroy(q);
	munmap(sh, bytes);
	return TEST_PASS;
}

static int test_three_by_three(void)
{
	return run(KILL_NONE, 1000000 / TEST_SLOWDOWN);
}

static int test_producer_killed_mid_claim(void)
{
	return run(KILL_PRODUCER, 100000 / TEST_SLOWDOWN);
}

static int test_consumer_killed_holding(void)
{
	return run(KILL_CONSUMER, 100000 / TEST_SLOWDOWN);
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(290);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_three_by_three);
	RUN(test_producer_killed_mid_claim);
	RUN(test_consumer_killed_holding);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
