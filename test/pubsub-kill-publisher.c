/* shoal-test: label=multiproc timeout=300 args=200 */
/*
 * Publishers that die: argv[1] (default 200) rounds, alternately reliable
 * and lossy, of a publisher process that publishes checksummed messages
 * without pause and is SIGKILLed at a random point (after a random number
 * of messages and a random delay, while it is writing). A subscriber opened
 * once with SHOAL_SUB_REATTACH, before any publisher existed, must:
 *   - only ever get intact messages (every byte checked against what
 *     message seq of that epoch must be; in lossy mode a copy released
 *     with 0), with seqs that follow on (reliable) or whose gaps are the
 *     msg.lost of the -EOVERFLOWs in between (lossy);
 *   - after the death: the messages still there, then -EPIPE, never a hang
 *     (every take has a timeout, which fails the test), and nothing more
 *     until the next publisher of the name appears;
 *   - then receive from it, with msg.epoch, shoal_sub_epoch() and the
 *     stats' epoch equal to the epoch that publisher reported, and
 *     stats.reattached one more than the round before.
 * argv[2] (optional) seeds the random kill points; the seed is printed.
 *
 * Without REATTACH: after -EPIPE, every take is -EPIPE, even once a new
 * publisher of the name is up.
 *
 * The pollable fd: after shoal_sub_arm() returned 0, shoal_sub_fd() becomes
 * readable when a message arrives and when the publisher dies; arm returns
 * 1 when something is pending already; the fd is the same, and works, after
 * reattaching to a new publisher.
 */
#include <limits.h>
#include <poll.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "kill/pub"
#define MAX_LEN 256u
#define CAPACITY 16u
#define TAKE_TIMEOUT (20 * PSU_SEC)

struct ctl {
	_Atomic int ready; /* rounds whose publisher is up */
	_Atomic uint64_t epoch;
	_Atomic uint64_t sent;
	_Atomic uint64_t cmd; /* command mode: messages to have sent */
};

static char path[PATH_MAX];
static struct ctl *ctl;
static struct shoal_registry *reg;

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	rng = psu_mix(rng);
	return rng % n;
}

/*
 * Publisher process for round @round. Free-running: publishes message after
 * message (payload salted with its epoch) until killed. Command mode:
 * publishes only up to ctl->cmd messages.
 */
static int publisher(int round, enum shoal_delivery mode, int command)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	uint64_t epoch;

	CHECK_EQ(test_registry_open(path, &r), 0);
	shoal_pub_options_init(&o);
	o.registry = r;
	o.delivery = mode;
	o.capacity = CAPACITY;
	o.max_payload = MAX_LEN;
	CHECK_EQ(shoal_pub_create(NAME, &o, &pub), 0);
	epoch = shoal_pub_epoch(pub);
	atomic_store(&ctl->epoch, epoch);
	atomic_store(&ctl->sent, 0);
	atomic_store(&ctl->ready, round + 1);
	for (uint64_t seq = 0;; seq++) {
		uint32_t len = psu_len(seq, epoch, PSU_MIN_LEN, MAX_LEN);
		void *p;

		while (command && atomic_load(&ctl->cmd) <= seq)
			usleep(100);
		/* Loan and fill in place: a kill can land mid-message. */
		CHECK_EQ(shoal_pub_loan(pub, len, &p), 0);
		psu_fill(p, seq, epoch, len);
		CHECK_EQ(shoal_pub_send(pub, p, len), 0);
		atomic_store(&ctl->sent, seq + 1);
	}
}

/* The publisher process now running, so a failed case leaves none behind
 * for the next one (which would then find the name taken). */
static pid_t live_pub;

static void reap_live_publisher(void)
{
	if (live_pub > 0) {
		kill(live_pub, SIGKILL);
		waitpid(live_pub, NULL, 0);
	}
	live_pub = 0;
}

static pid_t start_publisher(int round, enum shoal_delivery mode, int command)
{
	pid_t pid = psu_fork();

	if (pid == 0)
		_exit(publisher(round, mode, command));
	if (pid < 0)
		return -1;
	live_pub = pid;
	if (!PSU_WAIT(atomic_load(&ctl->ready) == round + 1, 30)) {
		fprintf(stderr, "publisher of round %d did not start\n", round);
		return -1;
	}
	return pid;
}

static int kill_publisher(pid_t pid)
{
	int st;

	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	live_pub = 0;
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return TEST_PASS;
}

/* What the subscriber knows about the current publisher's stream. */
struct stream {
	uint64_t epoch;
	int started;	  /* a message of this epoch was received */
	uint64_t next;	  /* seq after the last one */
	uint64_t pending; /* lost reported since */
	uint64_t received;
	int lossy;
};

/*
 * One take: 0 and a checked message, or the take's error (-EOVERFLOW is
 * accounted here). TEST_FAIL-worthy findings return -10000.
 */
static int take_one(struct shoal_sub *sub, struct stream *s, int64_t timeout)
{
	unsigned char copy[MAX_LEN];
	struct shoal_msg m;
	uint32_t len;
	int err = shoal_sub_take(sub, &m, timeout);

	if (err == -EOVERFLOW) {
		if (!s->lossy || m.lost == 0) {
			fprintf(stderr,
				"unexpected -EOVERFLOW (lost %" PRIu64 ")\n",
				m.lost);
			return -10000;
		}
		/* Before the first message it may be lapped already: the
		 * accounting starts with that message. */
		if (s->started)
			s->pending += m.lost;
		return err;
	}
	if (err)
		return err;
	if (m.epoch != s->epoch || m.len > MAX_LEN) {
		fprintf(stderr,
			"message from epoch %" PRIu64 " (want %" PRIu64
			"), len %u\n",
			m.epoch, s->epoch, m.len);
		return -10000;
	}
	len = m.len;
	memcpy(copy, m.data, len);
	err = shoal_sub_release(sub, &m);
	if (err == -ESTALE && s->lossy)
		err = 0; /* overwritten while held: discard the copy */
	else if (err)
		return -10000;
	else if (!psu_verify(copy, len, m.seq, s->epoch)) {
		fprintf(stderr,
			"message %" PRIu64 " of epoch %" PRIu64
			" is not intact\n",
			m.seq, s->epoch);
		return -10000;
	}
	if (s->started && m.seq != s->next + s->pending) {
		fprintf(stderr,
			"seq %" PRIu64 " after %" PRIu64 " (%" PRIu64
			" reported lost)\n",
			m.seq, s->next, s->pending);
		return -10000;
	}
	s->started = 1;
	s->next = m.seq + 1;
	s->pending = 0;
	s->received++;
	return 0;
}

static uint64_t rounds;

static int test_reattach_rounds(void)
{
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_sub_stats st;
	struct shoal_msg m;
	uint64_t total = 0;
	int fd;

	memset(ctl, 0, sizeof(*ctl));
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.flags = SHOAL_SUB_REATTACH;
	/* No publisher yet: allowed with REATTACH. */
	CHECK_EQ(shoal_sub_open(NAME, &so, &sub), 0);
	CHECK_EQ(shoal_sub_connected(sub), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
	fd = shoal_sub_fd(sub);

	for (uint64_t r = 0; r < rounds; r++) {
		struct stream s = { 0 };
		enum shoal_delivery mode = r % 2 ? SHOAL_DELIVERY_LOSSY :
						   SHOAL_DELIVERY_RELIABLE;
		uint64_t want = 1 + rnd(300);
		int64_t kill_at;
		pid_t pid;
		int err, n;

		s.lossy = mode == SHOAL_DELIVERY_LOSSY;
		pid = start_publisher((int)r, mode, 0);
		CHECK(pid > 0);
		s.epoch = atomic_load(&ctl->epoch);

		/* Attach (for a round after the first: reattach). */
		do
			err = take_one(sub, &s, TAKE_TIMEOUT);
		while (err == -EOVERFLOW);
		CHECK_EQ(err, 0);
		CHECK_EQ(shoal_sub_connected(sub), 1);
		CHECK_EQ(shoal_sub_epoch(sub), s.epoch);
		shoal_sub_get_stats(sub, &st);
		CHECK_EQ(st.epoch, s.epoch);
		CHECK_EQ(st.reattached, r);
		CHECK_EQ(shoal_sub_fd(sub), fd);

		/* Read on; the kill lands at a random point. */
		while (s.received < want) {
			err = take_one(sub, &s, TAKE_TIMEOUT);
			CHECK(err == 0 || err == -EOVERFLOW);
		}
		kill_at = psu_now_ns() + (int64_t)rnd(2000) * 1000;
		while (psu_now_ns() < kill_at) {
			err = take_one(sub, &s, PSU_SEC / 1000);
			CHECK(err == 0 || err == -EOVERFLOW ||
			      err == -ETIMEDOUT);
		}
		CHECK(kill_publisher(pid) == TEST_PASS);

		/* What is left, then -EPIPE: never a hang. */
		for (n = 0; n < 4 * (int)CAPACITY + 4; n++) {
			err = take_one(sub, &s, TAKE_TIMEOUT);
			if (err != 0 && err != -EOVERFLOW)
				break;
		}
		CHECK_EQ(err, -EPIPE);
		CHECK_EQ(shoal_sub_connected(sub), 0);
		/* Nothing until the next publisher. */
		CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
		total += s.received;
	}
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.reattached, rounds - 1);
	fprintf(stderr,
		"reattach: %" PRIu64 " publishers killed, %" PRIu64
		" messages received (%" PRIu64 " counted), %" PRIu64
		" lost, %" PRIu64 " stale\n",
		rounds, total, st.received, st.lost, st.stale);
	shoal_sub_close(sub);
	return TEST_PASS;
}

static int test_no_reattach(void)
{
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;
	struct stream s = { 0 };
	pid_t pid;
	int err, n;

	memset(ctl, 0, sizeof(*ctl));
	pid = start_publisher(0, SHOAL_DELIVERY_RELIABLE, 0);
	CHECK(pid > 0);
	s.epoch = atomic_load(&ctl->epoch);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open(NAME, &so, &sub), 0);
	for (int k = 0; k < 100; k++)
		CHECK_EQ(take_one(sub, &s, TAKE_TIMEOUT), 0);
	CHECK(kill_publisher(pid) == TEST_PASS);
	for (n = 0; n < 2 * (int)CAPACITY; n++) {
		err = take_one(sub, &s, TAKE_TIMEOUT);
		if (err)
			break;
	}
	CHECK_EQ(err, -EPIPE);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EPIPE);
	CHECK_EQ(shoal_sub_take(sub, &m, PSU_SEC / 100), -EPIPE);
	CHECK_EQ(shoal_sub_connected(sub), 0);

	/* A new publisher of the name changes nothing for this one. */
	pid = start_publisher(1, SHOAL_DELIVERY_LOSSY, 0);
	CHECK(pid > 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->sent) > 100, 30));
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EPIPE);
	CHECK_EQ(shoal_sub_take(sub, &m, PSU_SEC / 10), -EPIPE);
	CHECK_EQ(shoal_sub_connected(sub), 0);
	CHECK(kill_publisher(pid) == TEST_PASS);
	shoal_sub_close(sub);
	return TEST_PASS;
}

/* arm(), then poll the fd; 1 if it became readable within @ms. */
static int armed_poll(struct shoal_sub *sub, int ms)
{
	struct pollfd p = { .fd = shoal_sub_fd(sub), .events = POLLIN };
	int r = poll(&p, 1, ms);

	shoal_sub_disarm(sub);
	return r == 1 && (p.revents & POLLIN);
}

static int test_pollable_fd(void)
{
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;
	uint64_t epoch;
	pid_t pid;
	int fd;

	memset(ctl, 0, sizeof(*ctl));
	pid = start_publisher(0, SHOAL_DELIVERY_RELIABLE, 1);
	CHECK(pid > 0);
	epoch = atomic_load(&ctl->epoch);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.flags = SHOAL_SUB_REATTACH;
	CHECK_EQ(shoal_sub_open(NAME, &so, &sub), 0);
	fd = shoal_sub_fd(sub);
	CHECK(fd >= 0);

	/* Nothing pending: arm says poll, and the fd is quiet. */
	CHECK_EQ(shoal_sub_arm(sub), 0);
	CHECK_EQ(armed_poll(sub, 0), 0);
	/* A message makes it readable. */
	CHECK_EQ(shoal_sub_arm(sub), 0);
	atomic_store(&ctl->cmd, 1);
	CHECK_EQ(armed_poll(sub, 10000), 1);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	CHECK_EQ(m.epoch, epoch);
	CHECK(psu_verify(m.data, m.len, 0, epoch));
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	/* Pending already: arm says so (1), do not poll. */
	atomic_store(&ctl->cmd, 2);
	CHECK(PSU_WAIT(atomic_load(&ctl->sent) == 2, 30));
	CHECK_EQ(shoal_sub_arm(sub), 1);
	shoal_sub_disarm(sub);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 1);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);

	/* The publisher's death makes it readable. */
	CHECK_EQ(shoal_sub_arm(sub), 0);
	CHECK_EQ(armed_poll(sub, 0), 0);
	CHECK_EQ(shoal_sub_arm(sub), 0);
	CHECK(kill_publisher(pid) == TEST_PASS);
	CHECK_EQ(armed_poll(sub, 10000), 1);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), -EPIPE);

	/* Detached; a new publisher appears: the same fd wakes, and take
	 * attaches to it. */
	CHECK_EQ(shoal_sub_fd(sub), fd);
	CHECK_EQ(shoal_sub_arm(sub), 0);
	atomic_store(&ctl->cmd, 0);
	pid = start_publisher(1, SHOAL_DELIVERY_LOSSY, 1);
	CHECK(pid > 0);
	epoch = atomic_load(&ctl->epoch);
	if (!armed_poll(sub, 10000)) {
		fprintf(stderr, "the fd did not wake for a new publisher\n");
		kill_publisher(pid);
		return TEST_FAIL;
	}
	for (int k = 0; !shoal_sub_connected(sub); k++) {
		int err;

		CHECK(k < 5); /* woken by an unrelated registry event */
		CHECK_EQ(shoal_sub_take(sub, &m, 0), -EAGAIN);
		if (shoal_sub_connected(sub))
			break;
		err = shoal_sub_arm(sub);
		CHECK(err >= 0);
		if (err == 0)
			CHECK(armed_poll(sub, 10000));
		else
			shoal_sub_disarm(sub);
	}
	CHECK_EQ(shoal_sub_epoch(sub), epoch);
	CHECK_EQ(shoal_sub_fd(sub), fd);
	/* Attached (with no history): what is sent now wakes it. */
	CHECK_EQ(shoal_sub_arm(sub), 0);
	atomic_store(&ctl->cmd, 1);
	CHECK_EQ(armed_poll(sub, 10000), 1);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	CHECK_EQ(m.epoch, epoch);
	CHECK(psu_verify(m.data, m.len, m.seq, epoch));
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	/* And it keeps working with the new one. */
	CHECK_EQ(shoal_sub_arm(sub), 0);
	atomic_store(&ctl->cmd, 2);
	CHECK_EQ(armed_poll(sub, 10000), 1);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 1);
	CHECK_EQ(m.epoch, epoch);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	CHECK(kill_publisher(pid) == TEST_PASS);
	shoal_sub_close(sub);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	rounds = test_arg_u64(argc, argv, 1, 200);
	rng = test_arg_u64(argc, argv, 2,
			   (uint64_t)psu_now_ns() ^ (uint64_t)getpid());
	fprintf(stderr, "%s %" PRIu64 " %" PRIu64 "\n", argv[0], rounds, rng);
	if (rounds < 1)
		return TEST_FAIL;
	psu_watchdog(290);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_reattach_rounds);
	reap_live_publisher();
	RUN(test_no_reattach);
	reap_live_publisher();
	RUN(test_pollable_fd);
	reap_live_publisher();
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
