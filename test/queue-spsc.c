/* shoal-test: label=multiproc timeout=240 */
/*
 * A queue created with SHOAL_QUEUE_SPSC: one producer and one consumer.
 *
 *  - Each role is taken once: a second producer or consumer is -EBUSY,
 *    from this process or another, and a role left free is taken again.
 *  - A producer process and a consumer process move 10^6 messages
 *    (divided by TEST_SLOWDOWN under a sanitizer) of varying lengths,
 *    through every way of writing (copy, loan, batch) and reading (copy,
 *    take, batch); every byte and the order are checked.
 *  - The consumer end reads the geometry (capacity, max_message) from
 *    its own handle's stats.
 *  - The producer process is SIGKILLed while it holds a loan: its role is
 *    free again, a new producer process continues, and the consumer gets
 *    everything sent before the kill and then the new messages, in order,
 *    and nothing of the abandoned loan.
 */
#include <limits.h>
#include <shoal/queue.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_MSG 256
#define BATCH 8
#define WAIT_NS (20 * PSU_SEC)

static char path[PATH_MAX];
static struct shoal_registry *reg;

static int open_q(const char *name, uint32_t role, struct shoal_queue **q)
{
	struct shoal_queue_options o;

	shoal_queue_options_init(&o);
	o.registry = reg;
	o.role = role;
	o.send_timeout_ns = WAIT_NS;
	return shoal_queue_open(name, &o, q);
}

/* Creates SPSC queue @name; this handle is the consumer. */
static int create_q(const char *name, uint32_t capacity, uint32_t role,
		    struct shoal_queue **q)
{
	struct shoal_queue_options o;

	shoal_queue_options_init(&o);
	o.registry = reg;
	o.flags = SHOAL_QUEUE_SPSC;
	o.role = role;
	o.capacity = capacity;
	o.max_message = MAX_MSG;
	o.send_timeout_ns = 0;
	return shoal_queue_create(name, &o, q);
}

static uint32_t len_of(uint64_t seq, uint64_t salt)
{
	return psu_len(seq, salt, PSU_MIN_LEN, MAX_MSG);
}

/*
 * Producer: messages @from..@to-1 of @salt, in runs of 64 by copy, by
 * loan, by batch. Exits 0 if every write succeeded.
 */
static void produce(const char *name, uint64_t from, uint64_t to, uint64_t salt)
{
	unsigned char buf[BATCH][MAX_MSG];
	struct shoal_queue_msg msgs[BATCH];
	struct shoal_queue *q;
	uint64_t seq = from;

	if (open_q(name, SHOAL_QUEUE_PRODUCER, &q)) {
		fprintf(stderr, "producer: open: %s\n", shoal_last_error());
		_exit(1);
	}
	while (seq < to) {
		int mode = (int)((seq >> 6) % 3), err;
		void *slot;

		if (mode == 0) {
			psu_fill(buf[0], seq, salt, len_of(seq, salt));
			err = shoal_queue_write(q, buf[0], len_of(seq, salt));
			seq += !err;
		} else if (mode == 1) {
			err = shoal_queue_loan(q, len_of(seq, salt), &slot);
			if (!err) {
				psu_fill(slot, seq, salt, len_of(seq, salt));
				err = shoal_queue_send(q, slot,
						       len_of(seq, salt));
			}
			seq += !err;
		} else {
			uint32_t n = 0;

			for (; n < BATCH && seq + n < to; n++) {
				msgs[n].data = buf[n];
				msgs[n].len = len_of(seq + n, salt);
				psu_fill(buf[n], seq + n, salt, msgs[n].len);
			}
			err = shoal_queue_write_batch(q, msgs, n);
			if (err > (int)n)
				err = -ERANGE;
			if (err > 0) {
				seq += (uint64_t)err;
				err = 0;
			}
		}
		if (err) {
			fprintf(stderr,
				"producer: message %" PRIu64 ": %d %s\n", seq,
				err, shoal_last_error());
			_exit(1);
		}
	}
	shoal_queue_close(q);
	_exit(0);
}

/* Checks one received message against the one expected next. */
static int check(const void *data, uint32_t len, uint64_t *next, uint64_t salt)
{
	if (len != len_of(*next, salt) || !psu_verify(data, len, *next, salt)) {
		uint64_t seq = UINT64_MAX;

		psu_intact(data, len, &seq);
		fprintf(stderr,
			"consumer: want message %" PRIu64 " (%u bytes), got "
			"%u bytes carrying %" PRIu64 "\n",
			*next, len_of(*next, salt), len, seq);
		return 0;
	}
	(*next)++;
	return 1;
}

/*
 * Consumer: receives messages *@next..@to-1 of @salt in order, rotating
 * through read, take and read_batch. 1 if all came right.
 */
static int consume(struct shoal_queue *q, uint64_t *next, uint64_t to,
		   uint64_t salt)
{
	unsigned char buf[BATCH][MAX_MSG];
	struct shoal_queue_msg msgs[BATCH];
	uint64_t round = 0;

	for (int i = 0; i < BATCH; i++) {
		msgs[i].data = buf[i];
		msgs[i].cap = MAX_MSG;
	}
	while (*next < to) {
		int mode = (int)(round++ % 3);
		struct shoal_msg msg;
		ssize_t n;

		if (mode == 0) {
			n = shoal_queue_read(q, buf[0], MAX_MSG, WAIT_NS);
			if (n >= 0 && !check(buf[0], (uint32_t)n, next, salt))
				return 0;
		} else if (mode == 1) {
			n = shoal_queue_take(q, &msg, WAIT_NS);
			if (!n) {
				if (!check(msg.data, msg.len, next, salt))
					return 0;
				n = shoal_queue_release(q, &msg);
			}
		} else {
			uint32_t want = to - *next < BATCH ?
						(uint32_t)(to - *next) :
						BATCH;

			n = shoal_queue_read_batch(q, msgs, want, WAIT_NS);
			if (n > (ssize_t)want)
				n = -ERANGE;
			for (ssize_t i = 0; i < n; i++)
				if (!check(buf[i], msgs[i].len, next, salt))
					return 0;
		}
		if (n < 0) {
			fprintf(stderr, "consumer: at %" PRIu64 ": %zd %s\n",
				*next, n, shoal_last_error());
			return 0;
		}
	}
	return 1;
}

static int test_one_of_each(void)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *c, *p, *x = NULL;
	pid_t pid;

	CHECK_EQ(create_q("spsc/roles", 8, SHOAL_QUEUE_CONSUMER, &c), 0);
	CHECK_EQ(open_q("spsc/roles", SHOAL_QUEUE_CONSUMER, &x), -EBUSY);
	CHECK(strstr(shoal_last_error(), "consumer") != NULL);
	CHECK_EQ(open_q("spsc/roles", SHOAL_QUEUE_BOTH, &x), -EINVAL);
	CHECK_EQ(open_q("spsc/roles", SHOAL_QUEUE_PRODUCER, &p), 0);
	CHECK_EQ(open_q("spsc/roles", SHOAL_QUEUE_PRODUCER, &x), -EBUSY);
	CHECK(strstr(shoal_last_error(), "producer") != NULL);
	CHECK(x == NULL);
	/* Another process is refused the same. */
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *y;

		_exit(open_q("spsc/roles", SHOAL_QUEUE_PRODUCER, &y) ==
					      -EBUSY &&
				      open_q("spsc/roles", SHOAL_QUEUE_CONSUMER,
					     &y) == -EBUSY ?
			      0 :
			      1);
	}
	CHECK(test_wait_child(pid, 20));
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.spsc, 1);
	CHECK_EQ(st.participants, 2);
	CHECK_EQ(st.max_participants, 2);

	/* Each side does only its part. */
	CHECK_EQ(shoal_queue_write(c, "x", 1), -EPERM);
	CHECK_EQ(shoal_queue_write(p, "x", 1), 0);
	CHECK_EQ(shoal_queue_read(p, &st, sizeof(st), 0), -EPERM);

	/* A producer that left: the role is free again, the message
	 * stays. */
	shoal_queue_close(p);
	CHECK_EQ(open_q("spsc/roles", SHOAL_QUEUE_PRODUCER, &p), 0);
	CHECK_EQ(shoal_queue_write(p, "y", 1), 0);
	{
		char b[4] = { 0 };

		CHECK_EQ(shoal_queue_read(c, b, sizeof(b), 0), 1);
		CHECK_EQ(b[0], 'x');
		CHECK_EQ(shoal_queue_read(c, b, sizeof(b), 0), 1);
		CHECK_EQ(b[0], 'y');
		CHECK_EQ(shoal_queue_read(c, b, sizeof(b), 0), -EAGAIN);
	}
	shoal_queue_close(p);
	shoal_queue_destroy(c);

	/* The creator may be the producer just as well; max_participants
	 * does not apply. */
	shoal_queue_options_init(&o);
	o.registry = reg;
	o.flags = SHOAL_QUEUE_SPSC;
	o.role = SHOAL_QUEUE_PRODUCER;
	o.max_participants = 100;
	CHECK_EQ(shoal_queue_create("spsc/roles2", &o, &p), 0);
	CHECK_EQ(open_q("spsc/roles2", SHOAL_QUEUE_PRODUCER, &x), -EBUSY);
	CHECK_EQ(open_q("spsc/roles2", SHOAL_QUEUE_CONSUMER, &c), 0);
	CHECK_EQ(open_q("spsc/roles2", SHOAL_QUEUE_CONSUMER, &x), -EBUSY);
	CHECK_EQ(shoal_queue_inspect(reg, "spsc/roles2", &st), 0);
	CHECK_EQ(st.spsc, 1);
	CHECK_EQ(st.max_participants, 2);
	CHECK_EQ(st.participants, 2);
	/* The consumer's end reads the geometry too. */
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.capacity, 1024);
	CHECK_EQ(st.max_message, 1024);
	shoal_queue_close(c);
	shoal_queue_destroy(p);
	return TEST_PASS;
}

static int test_million(void)
{
	uint64_t total = 1000000 / TEST_SLOWDOWN, next = 0;
	struct shoal_queue_stats st;
	struct shoal_queue *c;
	pid_t pid;
	int ok;

	CHECK_EQ(create_q("spsc/million", 1024, SHOAL_QUEUE_CONSUMER, &c), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		produce("spsc/million", 0, total, 1);
	ok = consume(c, &next, total, 1);
	CHECK(test_wait_child(pid, 60));
	CHECK(ok);
	CHECK_EQ(next, total);
	CHECK_EQ(shoal_queue_read(c, &st, sizeof(st), 0), -EAGAIN);
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.enqueued, total);
	CHECK_EQ(st.dequeued, total);
	CHECK_EQ(st.popped, total);
	CHECK_EQ(st.capacity, 1024);
	CHECK_EQ(st.max_message, MAX_MSG);
	shoal_queue_destroy(c);
	return TEST_PASS;
}

struct kill_shared {
	_Atomic int holding; /* the doomed producer holds its loan */
};

/* Sends @from..@to-1, then takes a loan, scribbles in it, and waits to be
 * killed. */
static void doomed_producer(const char *name, uint64_t from, uint64_t to,
			    struct kill_shared *sh)
{
	unsigned char buf[MAX_MSG];
	struct shoal_queue *q;
	void *slot;

	if (open_q(name, SHOAL_QUEUE_PRODUCER, &q))
		_exit(1);
	for (uint64_t seq = from; seq < to; seq++) {
		psu_fill(buf, seq, 2, len_of(seq, 2));
		if (shoal_queue_write(q, buf, len_of(seq, 2)))
			_exit(1);
	}
	if (shoal_queue_loan(q, MAX_MSG, &slot))
		_exit(1);
	/* What a message of the kill's position would look like: the
	 * consumer must never see it. */
	psu_fill(slot, to, 2, len_of(to, 2));
	memset(slot, 0xee, 8);
	atomic_store(&sh->holding, 1);
	for (;;)
		pause();
}

static int test_producer_killed(void)
{
	uint64_t before = 20000 / TEST_SLOWDOWN + 100;
	uint64_t after = 20000 / TEST_SLOWDOWN + 100, next = 0;
	struct kill_shared *sh = psu_shared(sizeof(*sh));
	struct shoal_queue_stats st;
	struct shoal_queue *c, *x = NULL;
	pid_t pid;
	int status;

	CHECK(sh != NULL);
	CHECK_EQ(create_q("spsc/killed", 64, SHOAL_QUEUE_CONSUMER, &c), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		doomed_producer("spsc/killed", 0, before, sh);
	/* Leave the last few in the queue across the kill. */
	CHECK(consume(c, &next, before - 40, 2));
	CHECK(PSU_WAIT(atomic_load(&sh->holding), 60));
	CHECK_EQ(open_q("spsc/killed", SHOAL_QUEUE_PRODUCER, &x), -EBUSY);
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));

	/* A new producer takes the free role and goes on. */
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		produce("spsc/killed", before, before + after, 2);
	CHECK(consume(c, &next, before + after, 2));
	CHECK(test_wait_child(pid, 60));
	CHECK_EQ(next, before + after);
	CHECK_EQ(shoal_queue_read(c, &st, sizeof(st), 0), -EAGAIN);
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.enqueued, before + after);
	CHECK_EQ(st.dequeued, before + after);
	shoal_queue_destroy(c);
	munmap(sh, sizeof(*sh));
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(230);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_one_of_each);
	RUN(test_million);
	RUN(test_producer_killed);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
