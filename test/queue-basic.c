/* shoal-test: label=unit timeout=120 */
/*
 * The queue's API contract (include/shoal/queue.h), one case per promise:
 * option defaults and every invalid option (-EINVAL with a detail), names
 * taken, missing or of another pattern (-EEXIST, -ENOENT, -EPROTO), the
 * payload type check, the participant limit and the reuse of a closed or
 * killed participant's line, the copying calls and their errors, batches,
 * the zero-copy calls, waiting for room as send_timeout_ns says, blocking
 * in another process (woken by a write or a read, seen in the
 * sleeps/wakeups counters), the pollable fd, destroy for the creator and
 * close for the others (each refusing the other's handle), the end of the
 * creator (destroy: drain then -EPIPE; SIGKILL: a blocked peer gets
 * -EPIPE, no hang), and the statistics, also from outside.
 *
 * Handles here fail at once on a full queue (send_timeout_ns 0) unless a
 * case says otherwise.
 *
 * Waiting for a child to be asleep looks at its state in /proc: a hint
 * only, so the cases that need a real sleep run a few rounds and ask for
 * at least one sleep and one wake-up, never for a timing.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <shoal/queue.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MS 1000000LL

static char path[PATH_MAX];
static struct shoal_registry *reg;

static void qopts(struct shoal_queue_options *o)
{
	shoal_queue_options_init(o);
	o->registry = reg;
	o->send_timeout_ns = 0;
}

static int create_q(const char *name, uint32_t capacity, uint32_t max_message,
		    struct shoal_queue **q)
{
	struct shoal_queue_options o;

	qopts(&o);
	o.capacity = capacity;
	o.max_message = max_message;
	return shoal_queue_create(name, &o, q);
}

/* Opens @name; a write waits for room up to @send_timeout_ns. */
static int open_q_waiting(const char *name, uint32_t role,
			  enum shoal_wait_strategy strategy,
			  int64_t send_timeout_ns, struct shoal_queue **q)
{
	struct shoal_queue_options o;

	qopts(&o);
	o.role = role;
	o.strategy = strategy;
	o.send_timeout_ns = send_timeout_ns;
	return shoal_queue_open(name, &o, q);
}

static int open_q(const char *name, uint32_t role,
		  enum shoal_wait_strategy strategy, struct shoal_queue **q)
{
	return open_q_waiting(name, role, strategy, 0, q);
}

/* Writes message @seq (psu_fill, salt 0) of @len bytes. */
static int put(struct shoal_queue *q, uint64_t seq, uint32_t len)
{
	unsigned char buf[4096];

	psu_fill(buf, seq, 0, len);
	return shoal_queue_write(q, buf, len);
}

/* Pops one message: 1 if it is message @seq of @len bytes. */
static int got(struct shoal_queue *q, uint64_t seq, uint32_t len,
	       int64_t timeout_ns)
{
	unsigned char buf[4096];
	ssize_t n = shoal_queue_read(q, buf, sizeof(buf), timeout_ns);

	if (n != (ssize_t)len || !psu_verify(buf, len, seq, 0)) {
		fprintf(stderr,
			"read: got %zd, want message %" PRIu64
			" of %u bytes (%s)\n",
			n, seq, len, shoal_last_error());
		return 0;
	}
	return 1;
}

/* Sets shoal_last_error() to something that names no option. */
static void reset_error(void)
{
	struct shoal_queue_options o;
	struct shoal_queue *q = NULL;

	qopts(&o);
	if (shoal_queue_open("basic/reset-error", &o, &q) == 0)
		shoal_queue_close(q);
}

/* The last error is non-empty and mentions @word. */
static int error_says(const char *word)
{
	const char *e = shoal_last_error();

	if (e && *e && strstr(e, word))
		return 1;
	fprintf(stderr, "last error \"%s\" does not mention \"%s\"\n",
		e ? e : "(null)", word);
	return 0;
}

/* 1 once process @pid is asleep in the kernel (state S), 0 after 20 s. */
static int asleep(pid_t pid)
{
	char file[64], text[512];

	snprintf(file, sizeof(file), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 200000; i++) {
		int fd = open(file, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
		char *p;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			text[n] = 0;
			p = strrchr(text, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return 1;
		}
		usleep(100);
	}
	return 0;
}

static int test_defaults(void)
{
	struct shoal_queue_options o;

	memset(&o, 0x5a, sizeof(o));
	shoal_queue_options_init(&o);
	CHECK_EQ(o.capacity, 1024);
	CHECK_EQ(o.max_message, 1024);
	CHECK_EQ(o.max_participants, 64);
	CHECK_EQ(o.access, SHOAL_ACCESS_OWNER);
	CHECK_EQ(o.flags, 0);
	CHECK_EQ(o.role, SHOAL_QUEUE_BOTH);
	CHECK_EQ(o.strategy, SHOAL_WAIT_ADAPTIVE);
	CHECK_EQ(o.send_timeout_ns, SHOAL_WAIT_FOREVER);
	CHECK(o.type_name == NULL);
	CHECK_EQ(o.type_size, 0);
	CHECK_EQ(o.type_align, 0);
	CHECK(o.registry == NULL);
	return TEST_PASS;
}

/* Breaks option @i of @o; the word the error must mention in *@word.
 * Returns 0 past the last case. */
static int break_option(int i, struct shoal_queue_options *o, const char **word)
{
	switch (i) {
	case 0:
		o->capacity = 1000;
		break;
	case 1:
		o->capacity = 0;
		break;
	case 2:
		o->capacity = 1; /* a power of two, but no ring */
		break;
	case 3:
		o->capacity = SHOAL_QUEUE_CAPACITY_MAX * 2;
		break;
	case 4:
		o->max_message = 0;
		*word = "max_message";
		return 1;
	case 5:
		o->max_message = SHOAL_QUEUE_MESSAGE_MAX + 1;
		*word = "max_message";
		return 1;
	case 6:
		o->max_participants = 0;
		*word = "max_participants";
		return 1;
	case 7:
		o->max_participants = SHOAL_QUEUE_PARTICIPANTS_MAX + 1;
		*word = "max_participants";
		return 1;
	case 8:
		o->flags = 1u << 1;
		*word = "flags";
		return 1;
	case 9:
		o->flags = SHOAL_QUEUE_SPSC | 1u << 7;
		o->role = SHOAL_QUEUE_PRODUCER;
		*word = "flags";
		return 1;
	case 10:
		o->role = 0;
		*word = "role";
		return 1;
	case 11:
		o->role = 1u << 2;
		*word = "role";
		return 1;
	case 12:
		o->role = SHOAL_QUEUE_BOTH | 1u << 3;
		*word = "role";
		return 1;
	case 13:
		o->strategy = (enum shoal_wait_strategy)0;
		*word = "strategy";
		return 1;
	case 14:
		o->strategy = (enum shoal_wait_strategy)5;
		*word = "strategy";
		return 1;
	case 15:
		o->flags = SHOAL_QUEUE_SPSC;
		o->role = SHOAL_QUEUE_BOTH;
		*word = "SPSC";
		return 1;
	default:
		return 0;
	}
	*word = "capacity";
	return 1;
}

static int test_invalid_options(void)
{
	struct shoal_queue_options o;
	struct shoal_queue *q = NULL, *c;
	const char *word = NULL;
	int fds = test_count_fds();

	for (int i = 0;; i++) {
		qopts(&o);
		if (!break_option(i, &o, &word))
			break;
		reset_error();
		q = NULL;
		if (shoal_queue_create("basic/invalid", &o, &q) != -EINVAL) {
			fprintf(stderr, "invalid option case %d accepted\n", i);
			return TEST_FAIL;
		}
		CHECK(q == NULL);
		CHECK(error_says(word));
	}
	/* Nothing was announced by any of them. */
	CHECK_EQ(shoal_queue_open("basic/invalid", NULL, &q), -ENOENT);
	qopts(&o);
	CHECK_EQ(shoal_queue_create(NULL, &o, &q), -EINVAL);
	CHECK_EQ(shoal_queue_create("bad//name", &o, &q), -EINVAL);
	CHECK_EQ(shoal_queue_open(NULL, &o, &q), -EINVAL);
	CHECK(q == NULL);

	/* Open checks the options that matter to it. */
	CHECK_EQ(create_q("basic/invalid-open", 4, 16, &c), 0);
	for (int i = 8; i <= 14; i++) {
		qopts(&o);
		break_option(i, &o, &word);
		o.flags &= ~(uint32_t)SHOAL_QUEUE_SPSC;
		if (i == 9)
			o.role = SHOAL_QUEUE_BOTH;
		reset_error();
		if (shoal_queue_open("basic/invalid-open", &o, &q) != -EINVAL) {
			fprintf(stderr,
				"open: invalid option case %d "
				"accepted\n",
				i);
			return TEST_FAIL;
		}
		CHECK(q == NULL);
		CHECK(error_says(word));
	}
	shoal_queue_destroy(c);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

static int test_limits_accepted(void)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	int fds = test_count_fds();

	/* The smallest of everything. */
	qopts(&o);
	o.capacity = 2;
	o.max_message = 1;
	o.max_participants = 1;
	CHECK_EQ(shoal_queue_create("basic/small", &o, &q), 0);
	CHECK_EQ(shoal_queue_write(q, "x", 1), 0);
	CHECK_EQ(shoal_queue_write(q, "yy", 2), -EMSGSIZE);
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.capacity, 2);
	CHECK_EQ(st.max_message, 1);
	CHECK_EQ(st.max_participants, 1);
	shoal_queue_destroy(q);

	/* The largest participant count and message (two cells: the
	 * segment is sparse). */
	qopts(&o);
	o.capacity = 2;
	o.max_message = SHOAL_QUEUE_MESSAGE_MAX;
	o.max_participants = SHOAL_QUEUE_PARTICIPANTS_MAX;
	CHECK_EQ(shoal_queue_create("basic/large", &o, &q), 0);
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.max_message, SHOAL_QUEUE_MESSAGE_MAX);
	CHECK_EQ(st.max_participants, SHOAL_QUEUE_PARTICIPANTS_MAX);
	shoal_queue_destroy(q);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

static int test_names(void)
{
	struct shoal_pub_options po;
	struct shoal_queue *a, *b = NULL;
	struct shoal_queue_stats st;
	struct shoal_pub *pub;
	int fds = test_count_fds();

	CHECK_EQ(create_q("basic/names", 4, 16, &a), 0);
	CHECK_EQ(create_q("basic/names", 4, 16, &b), -EEXIST);
	CHECK(b == NULL);
	CHECK_EQ(open_q("basic/missing", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&b),
		 -ENOENT);
	CHECK(b == NULL);
	CHECK_EQ(shoal_queue_inspect(reg, "basic/missing", &st), -ENOENT);

	/* Another pattern under the name. */
	shoal_pub_options_init(&po);
	po.registry = reg;
	CHECK_EQ(shoal_pub_create("basic/a-pub", &po, &pub), 0);
	reset_error();
	CHECK_EQ(open_q("basic/a-pub", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&b),
		 -EPROTO);
	CHECK(b == NULL);
	CHECK(error_says("basic/a-pub"));
	CHECK_EQ(shoal_queue_inspect(reg, "basic/a-pub", &st), -EPROTO);
	shoal_pub_destroy(pub);

	/* Withdrawn: the name is gone, and free again. */
	shoal_queue_destroy(a);
	CHECK_EQ(open_q("basic/names", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&b),
		 -ENOENT);
	CHECK_EQ(create_q("basic/names", 4, 16, &a), 0);
	shoal_queue_destroy(a);
	shoal_queue_close(NULL);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

struct point {
	int32_t x, y;
};

static int test_type_check(void)
{
	struct shoal_queue_options o;
	struct shoal_queue *c, *q = NULL;
	const char *e;

	qopts(&o);
	o.type_name = "point";
	o.type_size = sizeof(struct point);
	o.type_align = _Alignof(struct point);
	CHECK_EQ(shoal_queue_create("basic/typed", &o, &c), 0);

	/* Another name: the error names both types. */
	qopts(&o);
	o.type_name = "vector3";
	o.type_size = 12;
	o.type_align = 4;
	CHECK_EQ(shoal_queue_open("basic/typed", &o, &q), -EPROTO);
	CHECK(q == NULL);
	e = shoal_last_error();
	CHECK(strstr(e, "point") != NULL);
	CHECK(strstr(e, "vector3") != NULL);
	/* Same name, another size or alignment. */
	o.type_name = "point";
	o.type_size = sizeof(struct point) * 2;
	o.type_align = _Alignof(struct point);
	CHECK_EQ(shoal_queue_open("basic/typed", &o, &q), -EPROTO);
	o.type_size = sizeof(struct point);
	o.type_align = 8;
	CHECK_EQ(shoal_queue_open("basic/typed", &o, &q), -EPROTO);
	CHECK(q == NULL);

	/* The same type opens, and so does an untyped opener. */
	o.type_align = _Alignof(struct point);
	CHECK_EQ(shoal_queue_open("basic/typed", &o, &q), 0);
	shoal_queue_close(q);
	qopts(&o);
	CHECK_EQ(shoal_queue_open("basic/typed", &o, &q), 0);
	shoal_queue_close(q);
	shoal_queue_destroy(c);
	return TEST_PASS;
}

static int test_participant_limit(void)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *c, *h[3], *x = NULL;
	struct shared {
		_Atomic int joined;
	} *sh = psu_shared(sizeof(*sh));
	pid_t pid;
	int status;

	CHECK(sh != NULL);
	qopts(&o);
	o.capacity = 8;
	o.max_message = 32;
	o.max_participants = 4;
	CHECK_EQ(shoal_queue_create("basic/limit", &o, &c), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH,
				SHOAL_WAIT_ADAPTIVE, &h[i]),
			 0);
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.participants, 4);
	reset_error();
	CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&x),
		 -EBUSY);
	CHECK(x == NULL);
	CHECK(error_says("basic/limit"));

	/* A closed handle's line is free for the next. */
	shoal_queue_close(h[1]);
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.participants, 3);
	CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&h[1]),
		 0);
	CHECK_EQ(put(h[1], 1, 20), 0);
	CHECK(got(h[2], 1, 20, 0));

	/* A killed child's line too: its lock died with it. */
	shoal_queue_close(h[0]);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *mine;

		if (open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			   &mine))
			_exit(1);
		atomic_store(&sh->joined, 1);
		for (;;)
			pause();
	}
	CHECK(PSU_WAIT(atomic_load(&sh->joined), 20));
	CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&x),
		 -EBUSY);
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&h[0]),
		 0);
	CHECK_EQ(put(h[0], 2, 30), 0);
	CHECK(got(c, 2, 30, 0));
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.participants, 4);
	CHECK_EQ(open_q("basic/limit", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&x),
		 -EBUSY);
	for (int i = 0; i < 3; i++)
		shoal_queue_close(h[i]);
	shoal_queue_destroy(c);
	munmap(sh, sizeof(*sh));
	return TEST_PASS;
}

static int test_copy(void)
{
	struct shoal_queue *c, *prod, *cons, *patient;
	unsigned char buf[256];
	struct shoal_msg msg;
	void *slot;

	CHECK_EQ(create_q("basic/copy", 8, 200, &c), 0);
	CHECK_EQ(open_q("basic/copy", SHOAL_QUEUE_PRODUCER, SHOAL_WAIT_ADAPTIVE,
			&prod),
		 0);
	CHECK_EQ(open_q("basic/copy", SHOAL_QUEUE_CONSUMER, SHOAL_WAIT_ADAPTIVE,
			&cons),
		 0);

	/* Empty. */
	CHECK_EQ(shoal_queue_read(cons, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_EQ(shoal_queue_read(cons, buf, sizeof(buf), MS), -ETIMEDOUT);

	/* Order, and a full queue. Lengths vary, to the limit. */
	for (uint64_t i = 0; i < 8; i++)
		CHECK_EQ(put(prod, i, i == 7 ? 200 : 16 + 20 * (uint32_t)i), 0);
	CHECK_EQ(put(prod, 8, 16), -EAGAIN);
	/* A handle that waits for room (send_timeout_ns) gives up the same
	 * way when none comes. */
	CHECK_EQ(open_q_waiting("basic/copy", SHOAL_QUEUE_PRODUCER,
				SHOAL_WAIT_ADAPTIVE, MS, &patient),
		 0);
	CHECK_EQ(put(patient, 8, 16), -EAGAIN);
	shoal_queue_close(patient);
	for (uint64_t i = 0; i < 8; i++)
		CHECK(got(cons, i, i == 7 ? 200 : 16 + 20 * (uint32_t)i, 0));
	CHECK_EQ(shoal_queue_read(cons, buf, sizeof(buf), 0), -EAGAIN);

	/* Too large to push; too large for the buffer (it stays). */
	CHECK_EQ(put(prod, 9, 201), -EMSGSIZE);
	CHECK_EQ(put(prod, 10, 100), 0);
	CHECK_EQ(shoal_queue_read(cons, buf, 99, 0), -EMSGSIZE);
	CHECK_EQ(shoal_queue_read(cons, buf, 99, SHOAL_WAIT_FOREVER),
		 -EMSGSIZE);
	CHECK(got(cons, 10, 100, 0));

	/* Each side only does its part. */
	reset_error();
	CHECK_EQ(shoal_queue_read(prod, buf, sizeof(buf), 0), -EPERM);
	CHECK(error_says("consumer"));
	CHECK_EQ(shoal_queue_take(prod, &msg, 0), -EPERM);
	CHECK_EQ(shoal_queue_read_batch(
			 prod, &(struct shoal_queue_msg){ buf, 0, sizeof(buf) },
			 1, 0),
		 -EPERM);
	reset_error();
	CHECK_EQ(put(cons, 11, 16), -EPERM);
	CHECK(error_says("producer"));
	CHECK_EQ(shoal_queue_loan(cons, 16, &slot), -EPERM);
	CHECK_EQ(shoal_queue_write_batch(
			 cons, &(struct shoal_queue_msg){ buf, 16, 0 }, 1),
		 -EPERM);
	CHECK_EQ(shoal_queue_arm(prod, SHOAL_QUEUE_CONSUMER), -EPERM);
	CHECK_EQ(shoal_queue_arm(cons, SHOAL_QUEUE_PRODUCER), -EPERM);
	/* The refusals moved nothing. */
	CHECK_EQ(put(prod, 12, 16), 0);
	CHECK(got(cons, 12, 16, 0));
	CHECK_EQ(shoal_queue_read(cons, buf, sizeof(buf), 0), -EAGAIN);

	shoal_queue_close(prod);
	shoal_queue_close(cons);
	shoal_queue_destroy(c);
	return TEST_PASS;
}

static int test_batches(void)
{
	struct shoal_queue_msg in[6], out[6];
	unsigned char src[6][128], dst[6][128];
	struct shoal_queue *q;

	CHECK_EQ(create_q("basic/batch", 4, 100, &q), 0);
	for (int i = 0; i < 6; i++) {
		in[i].data = src[i];
		in[i].len = 16 + 10 * (uint32_t)i;
		in[i].cap = 0;
		psu_fill(src[i], (uint64_t)i, 0, in[i].len);
		out[i].data = dst[i];
		out[i].cap = sizeof(dst[i]);
		out[i].len = 0;
	}
	CHECK_EQ(shoal_queue_write_batch(q, in, 0), -EINVAL);
	CHECK_EQ(shoal_queue_read_batch(q, out, 0, 0), -EINVAL);
	CHECK_EQ(shoal_queue_read_batch(q, out, 6, 0), -EAGAIN);
	CHECK_EQ(shoal_queue_read_batch(q, out, 6, MS), -ETIMEDOUT);

	/* As many as fit: waiting (send_timeout_ns) only for the first. */
	CHECK_EQ(shoal_queue_write_batch(q, in, 6), 4);
	CHECK_EQ(shoal_queue_write_batch(q, in + 4, 2), -EAGAIN);
	CHECK_EQ(shoal_queue_read_batch(q, out, 6, SHOAL_WAIT_FOREVER), 4);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(out[i].len, in[i].len);
		CHECK(psu_verify(dst[i], out[i].len, (uint64_t)i, 0));
	}

	/* Fewer asked than there are: the rest stays. */
	CHECK_EQ(shoal_queue_write_batch(q, in, 3), 3);
	CHECK_EQ(shoal_queue_read_batch(q, out, 2, 0), 2);
	CHECK(psu_verify(dst[1], out[1].len, 1, 0));
	CHECK(got(q, 2, in[2].len, 0));

	/* An oversize message ends the batch there; first: the error. */
	in[2].len = 101;
	CHECK_EQ(shoal_queue_write_batch(q, in, 4), 2);
	CHECK_EQ(shoal_queue_write_batch(q, in + 2, 2), -EMSGSIZE);
	in[2].len = 36;
	/* A buffer too small ends a pop batch; that message stays. */
	CHECK_EQ(shoal_queue_write_batch(q, in + 2, 2), 2);
	out[1].cap = 20;
	CHECK_EQ(shoal_queue_read_batch(q, out, 4, 0), 1);
	CHECK(psu_verify(dst[0], out[0].len, 0, 0));
	CHECK_EQ(shoal_queue_read_batch(q, out + 1, 3, 0), -EMSGSIZE);
	out[1].cap = sizeof(dst[1]);
	CHECK_EQ(shoal_queue_read_batch(q, out, 6, 0), 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(out[i].len, in[i + 1].len);
		CHECK(psu_verify(dst[i], out[i].len, (uint64_t)i + 1, 0));
	}
	CHECK_EQ(shoal_queue_read(q, dst[0], sizeof(dst[0]), 0), -EAGAIN);
	shoal_queue_destroy(q);
	return TEST_PASS;
}

static int test_zero_copy(void)
{
	struct shoal_queue_stats st;
	struct shoal_queue *q, *o;
	unsigned char buf[128];
	struct shoal_msg msg, msg2, none;
	void *slot, *slot2;

	memset(&none, 0, sizeof(none));
	none.data = buf;
	CHECK_EQ(create_q("basic/zc", 4, 100, &q), 0);
	/* Nothing held. */
	CHECK_EQ(shoal_queue_send(q, buf, 10), -EINVAL);
	CHECK_EQ(shoal_queue_abort(q, buf), -EINVAL);
	CHECK_EQ(shoal_queue_release(q, &none), -EINVAL);
	CHECK_EQ(shoal_queue_release(q, NULL), -EINVAL);

	/* Loan and send: @size is checked against max_message, @len
	 * against the size loaned, @ptr against the loan. */
	reset_error();
	CHECK_EQ(shoal_queue_loan(q, 101, &slot), -EMSGSIZE);
	CHECK(error_says("100"));
	CHECK_EQ(shoal_queue_loan(q, 100, &slot), 0);
	CHECK(slot != NULL);
	CHECK_EQ(shoal_queue_loan(q, 10, &slot2), -EBUSY);
	CHECK_EQ(put(q, 99, 16), -EBUSY);
	psu_fill(slot, 1, 0, 100); /* the size asked for is ours */
	CHECK_EQ(shoal_queue_send(q, slot, 101), -EINVAL);
	CHECK_EQ(shoal_queue_send(q, buf, 100), -EINVAL);
	CHECK_EQ(shoal_queue_abort(q, buf), -EINVAL);
	CHECK_EQ(shoal_queue_send(q, slot, 100), 0);
	CHECK_EQ(shoal_queue_send(q, slot, 100), -EINVAL);

	/* Loan and abort: consumers skip it. */
	CHECK_EQ(shoal_queue_loan(q, 50, &slot), 0);
	psu_fill(slot, 666, 0, 50);
	CHECK_EQ(shoal_queue_send(q, slot, 51), -EINVAL);
	CHECK_EQ(shoal_queue_abort(q, slot), 0);
	CHECK_EQ(shoal_queue_abort(q, slot), -EINVAL);
	CHECK_EQ(put(q, 2, 40), 0);
	CHECK(got(q, 1, 100, 0));
	CHECK(got(q, 2, 40, 0));
	CHECK_EQ(shoal_queue_read(q, buf, sizeof(buf), 0), -EAGAIN);

	/* Take and release: a view of data and len, the rest zero. */
	CHECK_EQ(shoal_queue_take(q, &msg, 0), -EAGAIN);
	CHECK_EQ(put(q, 3, 30), 0);
	CHECK_EQ(put(q, 4, 31), 0);
	memset(&msg, 0x5a, sizeof(msg));
	CHECK_EQ(shoal_queue_take(q, &msg, 0), 0);
	CHECK_EQ(msg.len, 30);
	CHECK(psu_verify(msg.data, msg.len, 3, 0));
	CHECK_EQ(msg.user_header_size, 0);
	CHECK(msg.user_header == NULL);
	CHECK_EQ(msg.seq, 0);
	CHECK_EQ(msg.timestamp_ns, 0);
	CHECK_EQ(msg.epoch, 0);
	CHECK_EQ(msg.lost, 0);
	CHECK_EQ(shoal_queue_take(q, &msg2, 0), -EBUSY);
	CHECK_EQ(shoal_queue_read(q, buf, sizeof(buf), 0), -EBUSY);
	CHECK_EQ(shoal_queue_release(q, &none), -EINVAL);
	CHECK_EQ(shoal_queue_release(q, &msg), 0);
	CHECK_EQ(shoal_queue_release(q, &msg), -EINVAL);
	CHECK_EQ(shoal_queue_take(q, &msg, 0), 0);
	CHECK(psu_verify(msg.data, msg.len, 4, 0));
	CHECK_EQ(shoal_queue_release(q, &msg), 0);

	/* A handle closed with a loan: the position is given up at once
	 * (not left to crash recovery: nothing counted as skipped). */
	CHECK_EQ(open_q("basic/zc", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE, &o),
		 0);
	CHECK_EQ(shoal_queue_loan(o, 20, &slot), 0);
	psu_fill(slot, 777, 0, 20);
	shoal_queue_close(o);
	CHECK_EQ(put(q, 5, 20), 0);
	CHECK(got(q, 5, 20, 0));
	/* A handle closed holding a message: it is released (consumed). */
	CHECK_EQ(open_q("basic/zc", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE, &o),
		 0);
	CHECK_EQ(put(q, 6, 20), 0);
	CHECK_EQ(put(q, 7, 21), 0);
	CHECK_EQ(shoal_queue_take(o, &msg, 0), 0);
	CHECK(psu_verify(msg.data, msg.len, 6, 0));
	shoal_queue_close(o);
	CHECK(got(q, 7, 21, 0));
	/* Every cell is back: the queue fills and drains. */
	for (uint64_t i = 10; i < 14; i++)
		CHECK_EQ(put(q, i, 16), 0);
	CHECK_EQ(put(q, 14, 16), -EAGAIN);
	CHECK_EQ(shoal_queue_loan(q, 16, &slot), -EAGAIN);
	for (uint64_t i = 10; i < 14; i++)
		CHECK(got(q, i, 16, 0));
	shoal_queue_get_stats(q, &st);
	CHECK_EQ(st.skipped, 0);
	CHECK_EQ(st.abandoned, 0);
	CHECK_EQ(st.enqueued, st.dequeued);
	shoal_queue_destroy(q);
	return TEST_PASS;
}

struct wake_shared {
	_Atomic int round; /* the child is about to wait in this round */
	_Atomic int bad;   /* the child saw something wrong */
	_Atomic uint64_t sleeps;
};

#define WAKE_ROUNDS 4

/* A consumer asleep in another process is woken by a push. */
static int test_block_consumer(void)
{
	struct wake_shared *sh = psu_shared(sizeof(*sh));
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	pid_t pid;

	CHECK(sh != NULL);
	CHECK_EQ(create_q("basic/block-pop", 4, 64, &q), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *c;
		struct shoal_queue_stats cs;

		if (open_q("basic/block-pop", SHOAL_QUEUE_CONSUMER,
			   SHOAL_WAIT_BLOCK, &c))
			_exit(1);
		for (int r = 1; r <= WAKE_ROUNDS; r++) {
			atomic_store(&sh->round, r);
			if (!got(c, (uint64_t)r, 40, SHOAL_WAIT_FOREVER))
				atomic_store(&sh->bad, 1);
		}
		shoal_queue_get_stats(c, &cs);
		atomic_store(&sh->sleeps, cs.sleeps);
		shoal_queue_close(c);
		_exit(0);
	}
	for (int r = 1; r <= WAKE_ROUNDS; r++) {
		CHECK(PSU_WAIT(atomic_load(&sh->round) == r, 20));
		CHECK(asleep(pid));
		CHECK_EQ(put(q, (uint64_t)r, 40), 0);
	}
	CHECK(test_wait_child(pid, 30));
	CHECK_EQ(atomic_load(&sh->bad), 0);
	CHECK(atomic_load(&sh->sleeps) >= 1);
	shoal_queue_get_stats(q, &st);
	CHECK(st.wakeups >= 1);
	CHECK_EQ(st.pushed, WAKE_ROUNDS);
	CHECK_EQ(st.dequeued, WAKE_ROUNDS);
	shoal_queue_destroy(q);
	munmap(sh, sizeof(*sh));
	return TEST_PASS;
}

/* A producer asleep on a full queue in another process is woken by a
 * pop. */
static int test_block_producer(void)
{
	struct wake_shared *sh = psu_shared(sizeof(*sh));
	struct shoal_queue_stats st;
	struct shoal_queue *q;
	pid_t pid;

	CHECK(sh != NULL);
	CHECK_EQ(create_q("basic/block-push", 2, 64, &q), 0);
	CHECK_EQ(put(q, 0, 20), 0);
	CHECK_EQ(put(q, 1, 20), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *p;
		struct shoal_queue_stats ps;

		if (open_q_waiting("basic/block-push", SHOAL_QUEUE_PRODUCER,
				   SHOAL_WAIT_BLOCK, SHOAL_WAIT_FOREVER, &p))
			_exit(1);
		for (int r = 1; r <= WAKE_ROUNDS; r++) {
			atomic_store(&sh->round, r);
			if (put(p, (uint64_t)r + 1, 20))
				atomic_store(&sh->bad, 1);
		}
		shoal_queue_get_stats(p, &ps);
		atomic_store(&sh->sleeps, ps.sleeps);
		shoal_queue_close(p);
		_exit(0);
	}
	/* Each round: the child waits for room, a pop makes it. */
	for (int r = 1; r <= WAKE_ROUNDS; r++) {
		CHECK(PSU_WAIT(atomic_load(&sh->round) == r, 20));
		CHECK(asleep(pid));
		CHECK(got(q, (uint64_t)r - 1, 20, 0));
	}
	CHECK(test_wait_child(pid, 30));
	CHECK_EQ(atomic_load(&sh->bad), 0);
	CHECK(got(q, WAKE_ROUNDS, 20, 0));
	CHECK(got(q, WAKE_ROUNDS + 1, 20, 0));
	CHECK(atomic_load(&sh->sleeps) >= 1);
	shoal_queue_get_stats(q, &st);
	CHECK(st.wakeups >= 1);
	shoal_queue_destroy(q);
	munmap(sh, sizeof(*sh));
	return TEST_PASS;
}

static int test_pollable_fd(void)
{
	struct shoal_queue *q;
	struct pollfd pfd;
	pid_t pid;

	CHECK_EQ(create_q("basic/poll", 2, 64, &q), 0);
	pfd.fd = shoal_queue_fd(q);
	pfd.events = POLLIN;
	CHECK(pfd.fd >= 0);
	CHECK_EQ(shoal_queue_arm(q, 0), -EINVAL);
	CHECK_EQ(shoal_queue_arm(q, SHOAL_QUEUE_BOTH), -EINVAL);
	CHECK_EQ(shoal_queue_arm(q, 1u << 2), -EINVAL);

	/* Empty: arm says "poll", and nothing is ready yet. */
	CHECK_EQ(shoal_queue_arm(q, SHOAL_QUEUE_CONSUMER), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *p;

		if (open_q("basic/poll", SHOAL_QUEUE_PRODUCER,
			   SHOAL_WAIT_ADAPTIVE, &p) ||
		    put(p, 1, 32))
			_exit(1);
		shoal_queue_close(p);
		_exit(0);
	}
	CHECK_EQ(poll(&pfd, 1, 20000), 1);
	CHECK(pfd.revents & POLLIN);
	CHECK(test_wait_child(pid, 20));
	shoal_queue_disarm(q);
	CHECK(got(q, 1, 32, 0));

	/* A message there already: 1, do not poll. */
	CHECK_EQ(put(q, 2, 32), 0);
	CHECK_EQ(shoal_queue_arm(q, SHOAL_QUEUE_CONSUMER), 1);
	/* Room, the same way: full says poll, a pop elsewhere wakes. */
	CHECK_EQ(shoal_queue_arm(q, SHOAL_QUEUE_PRODUCER), 1);
	CHECK_EQ(put(q, 3, 32), 0);
	CHECK_EQ(shoal_queue_arm(q, SHOAL_QUEUE_PRODUCER), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_queue *c;

		if (open_q("basic/poll", SHOAL_QUEUE_CONSUMER,
			   SHOAL_WAIT_ADAPTIVE, &c) ||
		    !got(c, 2, 32, 0))
			_exit(1);
		shoal_queue_close(c);
		_exit(0);
	}
	CHECK_EQ(poll(&pfd, 1, 20000), 1);
	CHECK(test_wait_child(pid, 20));
	shoal_queue_disarm(q);
	CHECK_EQ(put(q, 4, 32), 0);
	CHECK(got(q, 3, 32, 0));
	CHECK(got(q, 4, 32, 0));
	shoal_queue_destroy(q);
	return TEST_PASS;
}

static int test_creator_destroys(void)
{
	struct shoal_queue *c, *o, *w;
	unsigned char buf[64];
	struct shoal_msg msg;
	void *slot;

	CHECK_EQ(create_q("basic/withdraw", 8, 64, &c), 0);
	CHECK_EQ(open_q("basic/withdraw", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&o),
		 0);
	/* This one would wait for room forever. */
	CHECK_EQ(open_q_waiting("basic/withdraw", SHOAL_QUEUE_PRODUCER,
				SHOAL_WAIT_ADAPTIVE, SHOAL_WAIT_FOREVER, &w),
		 0);
	for (uint64_t i = 0; i < 3; i++)
		CHECK_EQ(put(c, i, 24), 0);
	shoal_queue_destroy(c);
	/* What is there drains, through every way of reading. */
	CHECK(got(o, 0, 24, 0));
	CHECK_EQ(shoal_queue_take(o, &msg, SHOAL_WAIT_FOREVER), 0);
	CHECK(psu_verify(msg.data, msg.len, 1, 0));
	CHECK_EQ(shoal_queue_release(o, &msg), 0);
	CHECK(got(o, 2, 24, SHOAL_WAIT_FOREVER));
	/* Then -EPIPE, waiting or not. */
	CHECK_EQ(shoal_queue_read(o, buf, sizeof(buf), 0), -EPIPE);
	CHECK_EQ(shoal_queue_read(o, buf, sizeof(buf), SHOAL_WAIT_FOREVER),
		 -EPIPE);
	CHECK_EQ(shoal_queue_take(o, &msg, SHOAL_WAIT_FOREVER), -EPIPE);
	CHECK_EQ(put(o, 9, 24), -EPIPE);
	CHECK_EQ(put(w, 9, 24), -EPIPE);
	CHECK_EQ(shoal_queue_loan(o, 24, &slot), -EPIPE);
	CHECK_EQ(shoal_queue_loan(w, 24, &slot), -EPIPE);
	shoal_queue_close(w);
	shoal_queue_close(o);
	return TEST_PASS;
}

/*
 * destroy is the creator's end and close an opener's: each refuses the
 * other's handle (leaving it as it was, saying why in shoal_last_error),
 * and both accept NULL.
 */
static int test_destroy_or_close(void)
{
	struct shoal_queue *c, *o, *x = NULL;
	int fds = test_count_fds();

	CHECK_EQ(create_q("basic/ends", 4, 16, &c), 0);
	CHECK_EQ(open_q("basic/ends", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&o),
		 0);
	reset_error();
	shoal_queue_close(c);
	CHECK(error_says("shoal_queue_destroy"));
	reset_error();
	shoal_queue_destroy(o);
	CHECK(error_says("shoal_queue_close"));
	/* Both handles still work, and the name is still there. */
	CHECK_EQ(put(o, 1, 16), 0);
	CHECK(got(c, 1, 16, 0));
	CHECK_EQ(open_q("basic/ends", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&x),
		 0);
	shoal_queue_close(x);
	shoal_queue_close(o);
	shoal_queue_destroy(c);
	CHECK_EQ(open_q("basic/ends", SHOAL_QUEUE_BOTH, SHOAL_WAIT_ADAPTIVE,
			&x),
		 -ENOENT);
	shoal_queue_destroy(NULL);
	shoal_queue_close(NULL);
	CHECK_EQ(test_count_fds(), fds);
	return TEST_PASS;
}

/*
 * send_timeout_ns: 0 fails at once with -EAGAIN on a full queue; a
 * positive one waits that long, then -EAGAIN; for loan, write and
 * write_batch alike. A forever one is woken by a read in another process
 * (test_block_producer).
 */
static int test_send_timeout(void)
{
	struct shoal_queue_msg m;
	struct shoal_queue *c, *now, *soon;
	unsigned char buf[16];
	void *slot;

	memset(buf, 0, sizeof(buf));
	m.data = buf;
	m.len = sizeof(buf);
	m.cap = 0;
	CHECK_EQ(create_q("basic/send-timeout", 2, 16, &c), 0);
	CHECK_EQ(open_q_waiting("basic/send-timeout", SHOAL_QUEUE_PRODUCER,
				SHOAL_WAIT_ADAPTIVE, 0, &now),
		 0);
	CHECK_EQ(open_q_waiting("basic/send-timeout", SHOAL_QUEUE_PRODUCER,
				SHOAL_WAIT_ADAPTIVE, 2 * MS, &soon),
		 0);
	CHECK_EQ(put(now, 0, 16), 0);
	CHECK_EQ(put(soon, 1, 16), 0);
	/* Full. */
	reset_error();
	CHECK_EQ(put(now, 2, 16), -EAGAIN);
	CHECK_EQ(shoal_queue_loan(now, 16, &slot), -EAGAIN);
	CHECK_EQ(shoal_queue_write_batch(now, &m, 1), -EAGAIN);
	reset_error();
	CHECK_EQ(put(soon, 2, 16), -EAGAIN);
	CHECK(error_says("send_timeout_ns"));
	CHECK_EQ(shoal_queue_loan(soon, 16, &slot), -EAGAIN);
	CHECK_EQ(shoal_queue_write_batch(soon, &m, 1), -EAGAIN);
	/* Room again: both go on, nothing was lost or added. */
	CHECK(got(c, 0, 16, 0));
	CHECK_EQ(put(now, 2, 16), 0);
	CHECK(got(c, 1, 16, 0));
	CHECK_EQ(shoal_queue_loan(soon, 16, &slot), 0);
	psu_fill(slot, 3, 0, 16);
	CHECK_EQ(shoal_queue_send(soon, slot, 16), 0);
	CHECK(got(c, 2, 16, 0));
	CHECK(got(c, 3, 16, 0));
	CHECK_EQ(shoal_queue_read(c, buf, sizeof(buf), 0), -EAGAIN);
	shoal_queue_close(soon);
	shoal_queue_close(now);
	shoal_queue_destroy(c);
	return TEST_PASS;
}

struct kill_shared {
	_Atomic int created; /* the creator child is ready */
	_Atomic int waiting; /* the peer child is about to block */
	_Atomic int result;  /* what the peer's blocked call returned */
	_Atomic int after;   /* and the call after it */
};

/*
 * The creator, in a child, is SIGKILLed while a peer (another child) is
 * blocked forever in a pop on an empty queue (@consumer) or in a push on a
 * full one: the peer's call returns -EPIPE, and so does the next.
 */
static int kill_creator(int consumer)
{
	struct kill_shared *sh = psu_shared(sizeof(*sh));
	const char *name = consumer ? "basic/killed-creator-pop" :
				      "basic/killed-creator-push";
	pid_t creator, peer;
	int status;

	CHECK(sh != NULL);
	atomic_store(&sh->result, 1);
	atomic_store(&sh->after, 1);
	creator = psu_fork();
	CHECK(creator >= 0);
	if (creator == 0) {
		struct shoal_queue *q;

		if (create_q(name, 4, 64, &q))
			_exit(1);
		for (uint64_t i = 0; i < (consumer ? 2 : 4); i++)
			if (put(q, i, 20))
				_exit(1);
		atomic_store(&sh->created, 1);
		for (;;)
			pause();
	}
	peer = psu_fork();
	CHECK(peer >= 0);
	if (peer == 0) {
		struct shoal_queue *q;
		unsigned char buf[64];

		if (!PSU_WAIT(atomic_load(&sh->created), 20) ||
		    open_q_waiting(name,
				   consumer ? SHOAL_QUEUE_CONSUMER :
					      SHOAL_QUEUE_PRODUCER,
				   SHOAL_WAIT_BLOCK, SHOAL_WAIT_FOREVER, &q))
			_exit(1);
		if (consumer) {
			/* What is there first. */
			if (!got(q, 0, 20, 0) || !got(q, 1, 20, 0))
				_exit(1);
			atomic_store(&sh->waiting, 1);
			atomic_store(&sh->result,
				     (int)shoal_queue_read(q, buf, sizeof(buf),
							   SHOAL_WAIT_FOREVER));
			atomic_store(&sh->after,
				     (int)shoal_queue_read(q, buf, sizeof(buf),
							   0));
		} else {
			atomic_store(&sh->waiting, 1);
			atomic_store(&sh->result, put(q, 9, 20));
			atomic_store(&sh->after, put(q, 9, 20));
		}
		shoal_queue_close(q);
		_exit(0);
	}
	CHECK(PSU_WAIT(atomic_load(&sh->waiting), 20));
	CHECK(asleep(peer));
	kill(creator, SIGKILL);
	CHECK_EQ(waitpid(creator, &status, 0), creator);
	CHECK(test_wait_child(peer, 30));
	CHECK_EQ(atomic_load(&sh->result), -EPIPE);
	CHECK_EQ(atomic_load(&sh->after), -EPIPE);
	munmap(sh, sizeof(*sh));
	return TEST_PASS;
}

static int test_creator_killed_consumer_waits(void)
{
	return kill_creator(1);
}

static int test_creator_killed_producer_waits(void)
{
	return kill_creator(0);
}

static int test_stats_inspect(void)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st, in;
	struct shoal_queue *c, *p, *k;
	struct shoal_msg msg;

	qopts(&o);
	o.capacity = 16;
	o.max_message = 48;
	o.max_participants = 5;
	CHECK_EQ(shoal_queue_create("basic/stats", &o, &c), 0);
	CHECK_EQ(shoal_queue_inspect(reg, "basic/stats", &in), 0);
	CHECK_EQ(in.participants, 1);
	CHECK_EQ(in.enqueued, 0);
	CHECK_EQ(in.dequeued, 0);
	CHECK_EQ(open_q("basic/stats", SHOAL_QUEUE_PRODUCER,
			SHOAL_WAIT_ADAPTIVE, &p),
		 0);
	CHECK_EQ(open_q("basic/stats", SHOAL_QUEUE_CONSUMER,
			SHOAL_WAIT_ADAPTIVE, &k),
		 0);
	for (uint64_t i = 0; i < 7; i++)
		CHECK_EQ(put(p, i, 16), 0);
	CHECK_EQ(put(c, 7, 16), 0);
	for (uint64_t i = 0; i < 3; i++)
		CHECK(got(k, i, 16, 0));
	CHECK_EQ(shoal_queue_take(k, &msg, 0), 0);
	CHECK_EQ(shoal_queue_release(k, &msg), 0);

	/* By name from outside: the shared counters and the geometry. */
	CHECK_EQ(shoal_queue_inspect(reg, "basic/stats", &in), 0);
	CHECK_EQ(in.enqueued, 8);
	CHECK_EQ(in.dequeued, 4);
	CHECK_EQ(in.skipped, 0);
	CHECK_EQ(in.abandoned, 0);
	CHECK_EQ(in.participants, 3);
	CHECK_EQ(in.capacity, 16);
	CHECK_EQ(in.max_message, 48);
	CHECK_EQ(in.max_participants, 5);
	CHECK_EQ(in.spsc, 0);
	CHECK_EQ(in.pushed, 0);
	CHECK_EQ(in.popped, 0);
	CHECK_EQ(in.sleeps, 0);
	CHECK_EQ(in.wakeups, 0);
	CHECK_EQ(shoal_queue_inspect(reg, NULL, &in), -EINVAL);

	/* A handle: the same shared part, and its own counts. */
	shoal_queue_get_stats(p, &st);
	CHECK_EQ(st.enqueued, 8);
	CHECK_EQ(st.dequeued, 4);
	CHECK_EQ(st.participants, 3);
	CHECK_EQ(st.capacity, 16);
	CHECK_EQ(st.max_message, 48);
	CHECK_EQ(st.spsc, 0);
	CHECK_EQ(st.pushed, 7);
	CHECK_EQ(st.popped, 0);
	shoal_queue_get_stats(k, &st);
	CHECK_EQ(st.pushed, 0);
	CHECK_EQ(st.popped, 4);
	shoal_queue_get_stats(c, &st);
	CHECK_EQ(st.pushed, 1);

	shoal_queue_close(p);
	CHECK_EQ(shoal_queue_inspect(reg, "basic/stats", &in), 0);
	CHECK_EQ(in.participants, 2);
	shoal_queue_close(k);
	shoal_queue_destroy(c);
	CHECK_EQ(shoal_queue_inspect(reg, "basic/stats", &in), -ENOENT);

	/* An SPSC queue says so. */
	qopts(&o);
	o.flags = SHOAL_QUEUE_SPSC;
	o.role = SHOAL_QUEUE_PRODUCER;
	o.capacity = 8;
	o.max_message = 40;
	CHECK_EQ(shoal_queue_create("basic/stats-spsc", &o, &p), 0);
	CHECK_EQ(put(p, 0, 20), 0);
	CHECK_EQ(put(p, 1, 20), 0);
	CHECK_EQ(open_q("basic/stats-spsc", SHOAL_QUEUE_CONSUMER,
			SHOAL_WAIT_ADAPTIVE, &k),
		 0);
	CHECK(got(k, 0, 20, 0));
	CHECK_EQ(shoal_queue_inspect(reg, "basic/stats-spsc", &in), 0);
	CHECK_EQ(in.spsc, 1);
	CHECK_EQ(in.max_participants, 2);
	CHECK_EQ(in.participants, 2);
	CHECK_EQ(in.capacity, 8);
	CHECK_EQ(in.max_message, 40);
	CHECK_EQ(in.enqueued, 2);
	CHECK_EQ(in.dequeued, 1);
	shoal_queue_close(k);
	shoal_queue_destroy(p);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(110);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	/* First, while this process has no threads yet: their creator child
	 * starts one, which TSan refuses after a multi-threaded fork. */
	RUN(test_creator_killed_consumer_waits);
	RUN(test_creator_killed_producer_waits);
	RUN(test_defaults);
	RUN(test_invalid_options);
	RUN(test_limits_accepted);
	RUN(test_names);
	RUN(test_type_check);
	RUN(test_participant_limit);
	RUN(test_copy);
	RUN(test_batches);
	RUN(test_zero_copy);
	RUN(test_block_consumer);
	RUN(test_block_producer);
	RUN(test_pollable_fd);
	RUN(test_creator_destroys);
	RUN(test_destroy_or_close);
	RUN(test_send_timeout);
	RUN(test_stats_inspect);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
