/* shoal-test: label=multiproc timeout=300 args=20 */
/*
 * A reliable subscriber's join, held open at its racy points: after it read
 * head, and after it made itself known (its line ACTIVE, the generation
 * incremented) but before it decides where to start (join_line() reads what
 * the publisher has seen). The test replaces the library's weak
 * shoal__pubsub_join_pause() with one that waits there for the test's say,
 * so each case runs the interleaving it needs every time instead of once in
 * thousands of runs.
 *
 * owed: while the subscriber waits in the window, the publisher rescans
 *   (shoal_pub_subscribers(), which must not count a subscriber still
 *   joining: 0), then fills the whole ring. It gated on the joiner from the
 *   first message, so every message is owed: the first take must be seq 0.
 *   Before the publisher announced what it had seen (hdr->seen_gen and
 *   seen_from), the subscriber assumed it was unseen and started at
 *   head - capacity + 1: seq 1 (the rare `pubsub-reliable-fanout` failure,
 *   "m.seq is 1, want 0"). Then, joined, it is counted: 1.
 *
 * unseen: a publisher streams with nobody attached while a subscriber joins:
 *   it reads head, then waits (before announcing itself) until the
 *   publisher has run two rings past that head, so the cursor it announces
 *   is already overwritten. Whatever the publisher saw, the subscriber must
 *   then take consecutive, intact messages, never a lapped or torn one.
 *   Single sends and batches alternate. (The first pause point is needed
 *   here: a publisher notices a joiner at its next generation check, so
 *   without it the window is a few instructions wide.)
 *
 * argv[1]: rounds of each case (default 20).
 */
#include <limits.h>
#include <sched.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/pubsub_internal.h"

#define CAPACITY 4u
#define MAX_LEN 64u
#define SALT 0x6a01ULL

enum {
	HOOK_OFF,
	HOOK_OWED,
	HOOK_UNSEEN
};

struct ctl {
	_Atomic int hook;      /* what the pause does in this round */
	_Atomic int in_pause;  /* the subscriber is in the window */
	_Atomic int release;   /* owed: the publisher filled the ring */
	_Atomic uint64_t sent; /* unseen: messages the publisher sent */
	_Atomic int full;      /* unseen: the publisher found no room */
	_Atomic int stop;      /* unseen: the publisher may end */
	_Atomic uint64_t first_seq;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t rounds;

/* Waits until @cond, or fails the process after a minute: never hangs. */
#define WAIT_UNTIL(cond)                                                  \
	do {                                                              \
		int64_t end_ = psu_now_ns() + 60 * PSU_SEC;               \
		while (!(cond)) {                                         \
			if (psu_now_ns() > end_) {                        \
				fprintf(stderr, "%s:%d: timed out: %s\n", \
					__FILE__, __LINE__, #cond);       \
				_exit(TEST_FAIL);                         \
			}                                                 \
			usleep(200);                                      \
		}                                                         \
	} while (0)

/* The library calls this inside every join (strong beats its weak one). */
void shoal__pubsub_join_pause(int stage)
{
	uint64_t entry;
	int hook = atomic_load(&ctl->hook);

	/* owed waits after the announcement, unseen before it. */
	if (stage !=
	    (hook == HOOK_OWED ? SHOAL__JOIN_ANNOUNCED : SHOAL__JOIN_READ_HEAD))
		return;
	switch (hook) {
	case HOOK_OWED:
		atomic_store(&ctl->in_pause, 1);
		WAIT_UNTIL(atomic_load(&ctl->release));
		break;
	case HOOK_UNSEEN:
		entry = atomic_load(&ctl->sent);
		atomic_store(&ctl->full, 0);
		atomic_store(&ctl->in_pause, 1);
		WAIT_UNTIL(atomic_load(&ctl->sent) >= entry + 2 * CAPACITY ||
			   atomic_load(&ctl->full));
		break;
	default:
		break;
	}
}

static int open_sub(struct shoal_registry *reg, const char *name,
		    struct shoal_sub **sub)
{
	struct shoal_sub_options o;

	shoal_sub_options_init(&o);
	o.registry = reg;
	return shoal_sub_open(name, &o, sub);
}

/* Takes @n messages: consecutive from the first (which must be @want
 * unless that is UINT64_MAX), each intact. */
static int take_run(struct shoal_sub *sub, uint64_t n, uint64_t want,
		    uint64_t *first)
{
	struct shoal_msg m;

	for (uint64_t i = 0; i < n; i++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 30 * PSU_SEC), 0);
		if (i == 0) {
			*first = m.seq;
			atomic_store(&ctl->first_seq, m.seq);
			if (want != UINT64_MAX)
				CHECK_EQ(m.seq, want);
		}
		CHECK_EQ(m.seq, *first + i);
		CHECK(psu_verify(m.data, m.len, m.seq, SALT));
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}
	return TEST_PASS;
}

static int owed_subscriber(void)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	uint64_t first = UINT64_MAX;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(open_sub(reg, "join/owed", &sub), 0);
	CHECK(take_run(sub, CAPACITY + 2, 0, &first) == TEST_PASS);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int publish(struct shoal_pub *pub, uint64_t seq)
{
	unsigned char buf[MAX_LEN];
	uint32_t len = psu_len(seq, SALT, PSU_MIN_LEN, MAX_LEN);

	psu_fill(buf, seq, SALT, len);
	return shoal_pub_write(pub, buf, len, NULL);
}

static int test_owed(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	for (uint64_t r = 0; r < rounds; r++) {
		struct shoal_pub *pub;
		pid_t pid;

		shoal_pub_options_init(&o);
		o.registry = reg;
		o.capacity = CAPACITY;
		o.max_payload = MAX_LEN;
		CHECK_EQ(shoal_pub_create("join/owed", &o, &pub), 0);
		atomic_store(&ctl->in_pause, 0);
		atomic_store(&ctl->release, 0);
		atomic_store(&ctl->first_seq, UINT64_MAX);
		atomic_store(&ctl->hook, HOOK_OWED);
		pid = psu_fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(owed_subscriber());
		/* Held between its increment and its check: seen by the
		 * rescan below, but not counted until it has joined. */
		CHECK(PSU_WAIT(atomic_load(&ctl->in_pause), 60));
		CHECK_EQ(shoal_pub_subscribers(pub), 0);
		for (uint64_t seq = 0; seq < CAPACITY; seq++)
			CHECK_EQ(publish(pub, seq), 0);
		atomic_store(&ctl->release, 1);
		CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 1, 60));
		/* Two more, which wait for the subscriber to take. */
		for (uint64_t seq = CAPACITY; seq < CAPACITY + 2; seq++)
			CHECK_EQ(publish(pub, seq), 0);
		CHECK(test_wait_child(pid, 120));
		CHECK_EQ(atomic_load(&ctl->first_seq), 0);
		shoal_pub_destroy(pub);
	}
	atomic_store(&ctl->hook, HOOK_OFF);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Streams until told to stop, alternating single sends and batches, and
 * never waiting: a full ring is reported to the joiner's pause. */
static int streaming_publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char bufs[3][MAX_LEN];
	struct shoal_pub_msg msgs[3];
	uint64_t seq = 0;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = CAPACITY;
	o.max_payload = MAX_LEN;
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_pub_create("join/unseen", &o, &pub), 0);
	atomic_store(&ctl->in_pause, 2); /* ready */
	while (!atomic_load(&ctl->stop)) {
		int n;

		if (seq % 2) {
			n = publish(pub, seq) == 0 ? 1 : -EAGAIN;
		} else {
			for (int k = 0; k < 3; k++) {
				uint32_t len = psu_len(seq + (uint64_t)k, SALT,
						       PSU_MIN_LEN, MAX_LEN);

				psu_fill(bufs[k], seq + (uint64_t)k, SALT, len);
				msgs[k] =
					(struct shoal_pub_msg){ .data = bufs[k],
								.len = len };
			}
			n = shoal_pub_write_batch(pub, msgs, 3);
		}
		if (n == -EAGAIN) {
			atomic_store(&ctl->full, 1);
			sched_yield();
			continue;
		}
		CHECK(n > 0);
		seq += (uint64_t)n;
		atomic_store(&ctl->sent, seq);
	}
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_unseen(void)
{
	struct shoal_registry *reg;
	pid_t pid;

	atomic_store(&ctl->hook, HOOK_OFF);
	atomic_store(&ctl->stop, 0);
	atomic_store(&ctl->in_pause, 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(streaming_publisher());
	CHECK(PSU_WAIT(atomic_load(&ctl->in_pause) == 2, 60));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	atomic_store(&ctl->hook, HOOK_UNSEEN);
	for (uint64_t r = 0; r < rounds; r++) {
		struct shoal_sub *sub;
		uint64_t first;

		atomic_store(&ctl->in_pause, 0);
		CHECK_EQ(open_sub(reg, "join/unseen", &sub), 0);
		CHECK_EQ(atomic_load(&ctl->in_pause), 1);
		CHECK(take_run(sub, 3 * CAPACITY, UINT64_MAX, &first) ==
		      TEST_PASS);
		shoal_sub_close(sub);
	}
	atomic_store(&ctl->hook, HOOK_OFF);
	atomic_store(&ctl->stop, 1);
	CHECK(test_wait_child(pid, 60));
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	rounds = test_arg_u64(argc, argv, 1, 20);
	psu_watchdog(290);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_owed);
	RUN(test_unseen);
	test_remove_tree(top);
	return test_result();
}
