/* shoal-test: label=multiproc timeout=300 args=20000 */
/*
 * Several loans and several held messages per channel handle (max_loans,
 * max_held), between two processes. The sender keeps up to 8 loans out
 * and sends or aborts them in a pseudo-random order; each loan gets the
 * next number when it is loaned. The receiver holds up to 8 messages and
 * releases them in a shuffled order. Checked: numbers only grow at the
 * receiver (sent out of order, seen in loan order), every payload is the
 * one of its number, every number sent arrives exactly once and no aborted
 * one ever (aborts in the middle are skip markers the receiver passes);
 * the limits (-EBUSY) and wrong pointers (-EINVAL). Then a sender
 * SIGKILLed holding 4 loans (two sent behind the first): the receiver
 * gets what was published before, then -EPIPE, never the waiting ones;
 * and a receiver SIGKILLed holding 3 messages: the sender gets -EPIPE
 * instead of waiting for room forever.
 */
#include <limits.h>
#include <shoal.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_LOANS 8
#define MAX_HELD 8
#define MAX_LEN 60u
#define SALT 41

struct ctl {
	_Atomic int final;
	_Atomic int ready;
	_Atomic uint64_t sent;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static _Atomic uint8_t *sent, *delivered;
static uint64_t messages;

static int open_channel(const char *name, struct shoal_channel **ch)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_channel_options_init(&o);
	CHECK_EQ(o.max_loans, 1);
	o.registry = reg;
	o.timeout_ns = 60 * PSU_SEC;
	o.send_timeout_ns = 60 * PSU_SEC;
	o.max_loans = MAX_LOANS;
	o.max_held = MAX_HELD;
	CHECK_EQ(shoal_channel_open(name, &o, ch), 0);
	return 0;
}

/* The sender's mirror of its loans, in loan order: a sent loan waiting
 * behind an earlier one still counts against max_loans until published. */
struct loan {
	void *ptr;
	uint64_t k;
	uint32_t len;
	int state; /* 0 out, 1 sent, 2 aborted */
};

static struct loan win[MAX_LOANS];
static uint32_t nwin;

/* What the channel publishes: the sent front, and aborted runs a sent
 * one follows (skip markers). */
static void settle(void)
{
	for (;;) {
		uint32_t j = 0;

		while (j < nwin && win[j].state == 2)
			j++;
		if (j == nwin || win[j].state != 1)
			return;
		memmove(win, win + j + 1, (nwin - j - 1) * sizeof(win[0]));
		nwin -= j + 1;
	}
}

static int sender(void)
{
	struct shoal_channel *ch;
	uint64_t k = 0, done = 0, round = 3;
	void *ptr;

	CHECK_EQ(open_channel("loans/stream", &ch), 0);
	for (;;) {
		uint64_t r = psu_mix(round++);
		uint32_t out = 0;

		for (uint32_t j = 0; j < nwin; j++)
			out += win[j].state == 0;
		if (done >= messages && !out)
			break;
		if (done + out < messages && nwin < MAX_LOANS &&
		    (r % 3 != 0 || !out)) {
			struct loan *l = &win[nwin++];

			l->k = k++;
			l->state = 0;
			l->len = psu_len(l->k, SALT, PSU_MIN_LEN, MAX_LEN);
			CHECK_EQ(shoal_channel_loan(ch, l->len, &l->ptr), 0);
			psu_fill(l->ptr, l->k, SALT, l->len);
			continue;
		}
		if (nwin == MAX_LOANS) {
			CHECK_EQ(shoal_channel_loan(ch, 16, &ptr), -EBUSY);
			CHECK_EQ(shoal_channel_write(ch, "x", 1), -EBUSY);
		}
		if (!out)
			continue;
		{
			uint32_t pick = (uint32_t)((r >> 8) % out), j;

			for (j = 0; j < nwin; j++)
				if (win[j].state == 0 && pick-- == 0)
					break;
			CHECK(j < nwin);
			CHECK_EQ(shoal_channel_send(ch, (char *)win[j].ptr + 1,
						    8),
				 -EINVAL);
			if ((r >> 24) % 5 == 0) {
				CHECK_EQ(shoal_channel_abort(ch, win[j].ptr),
					 0);
				CHECK_EQ(shoal_channel_abort(ch, win[j].ptr),
					 -EINVAL);
				win[j].state = 2;
				while (nwin && win[nwin - 1].state == 2)
					nwin--;
			} else {
				atomic_store(&sent[win[j].k], 1);
				CHECK_EQ(shoal_channel_send(ch, win[j].ptr,
							    win[j].len),
					 0);
				CHECK_EQ(shoal_channel_send(ch, win[j].ptr,
							    win[j].len),
					 -EINVAL);
				win[j].state = 1;
				done++;
			}
			settle();
		}
	}
	CHECK_EQ(nwin, 0);
	atomic_store(&ctl->sent, done);
	atomic_store(&ctl->final, 1);
	/* Stay until the receiver took everything: then close. */
	CHECK(test_wait_flag(&ctl->ready, 1, 300));
	shoal_channel_close(ch);
	return 0;
}

static int test_stream(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *ch;
	struct shoal_msg held[MAX_HELD], m;
	uint64_t got = 0, last = 0, round = 11, nsent = 0;
	uint32_t nheld = 0;
	int first = 1;
	pid_t pid;

	memset(ctl, 0, sizeof(*ctl));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.role = SHOAL_CHANNEL_RECV;
	o.capacity = 32;
	o.slot_size = MAX_LEN;
	o.max_held = 0;
	CHECK_EQ(shoal_channel_create("loans/stream", &o, &ch), -EINVAL);
	o.max_held = SHOAL_CHANNEL_LOANS_MAX + 1;
	CHECK_EQ(shoal_channel_create("loans/stream", &o, &ch), -EINVAL);
	o.max_held = MAX_HELD;
	CHECK_EQ(shoal_channel_create("loans/stream", &o, &ch), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(sender());
	for (;;) {
		uint64_t r = psu_mix(round++), k;
		int err;

		if (nheld < MAX_HELD && (r % 4 != 0 || !nheld)) {
			/* Holding some: do not wait, release one instead
			 * (the tail moves only over the released front, so
			 * the sender may be waiting for that). */
			err = shoal_channel_take(ch, &held[nheld],
						 nheld ? 0 : PSU_SEC / 10);
			if (err == -ETIMEDOUT || err == -EAGAIN) {
				if (atomic_load(&ctl->final) && !nheld &&
				    got == atomic_load(&ctl->sent))
					break;
				if (!nheld)
					continue;
			} else {
				CHECK_EQ(err, 0);
				m = held[nheld++];
				CHECK(psu_intact(m.data, m.len, &k));
				CHECK(k < 4 * messages);
				CHECK(psu_verify(m.data, m.len, k, SALT));
				CHECK(first || k > last);
				first = 0;
				last = k;
				CHECK(atomic_load(&sent[k]));
				CHECK_EQ(atomic_fetch_add(&delivered[k], 1), 0);
				continue;
			}
		}
		if (nheld == MAX_HELD)
			CHECK_EQ(shoal_channel_take(ch, &m, 0), -EBUSY);
		{
			uint32_t j = (uint32_t)((r >> 8) % nheld);

			m = held[j];
			held[j] = held[--nheld];
			CHECK_EQ(shoal_channel_release(ch, &m), 0);
			CHECK_EQ(shoal_channel_release(ch, &m), -EINVAL);
			got++;
		}
	}
	atomic_store(&ctl->ready, 1);
	CHECK(test_wait_child(pid, 300));
	for (uint64_t id = 0; id < 4 * messages; id++) {
		CHECK_EQ(atomic_load(&delivered[id]), atomic_load(&sent[id]));
		nsent += atomic_load(&sent[id]);
	}
	CHECK_EQ(nsent, messages);
	CHECK_EQ(got, messages);
	shoal_channel_destroy(ch);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Sends 5, then holds 4 loans (#1 and #2 sent behind #0), then waits to
 * be killed. */
static int victim_sender(void)
{
	struct shoal_channel *ch;
	void *p[4];

	CHECK_EQ(open_channel("loans/kill-sender", &ch), 0);
	for (uint64_t s = 0; s < 5; s++) {
		unsigned char b[16];

		psu_fill(b, s, SALT, 16);
		CHECK_EQ(shoal_channel_write(ch, b, 16), 0);
	}
	for (int j = 0; j < 4; j++) {
		CHECK_EQ(shoal_channel_loan(ch, 16, &p[j]), 0);
		psu_fill(p[j], 5 + (uint64_t)j, SALT, 16);
	}
	CHECK_EQ(shoal_channel_send(ch, p[2], 16), 0);
	CHECK_EQ(shoal_channel_send(ch, p[1], 16), 0);
	atomic_store(&ctl->ready, 1);
	for (;;)
		pause();
}

static int test_kill_sender(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *ch;
	struct shoal_msg m[5];
	uint64_t k;
	pid_t pid;

	memset(ctl, 0, sizeof(*ctl));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.role = SHOAL_CHANNEL_RECV;
	o.capacity = 16;
	o.slot_size = MAX_LEN;
	o.max_held = 5;
	CHECK_EQ(shoal_channel_create("loans/kill-sender", &o, &ch), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(victim_sender());
	CHECK(test_wait_flag(&ctl->ready, 1, 120));
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	/* All five held at once, released newest first. */
	for (uint64_t s = 0; s < 5; s++) {
		CHECK_EQ(shoal_channel_take(ch, &m[s], 60 * PSU_SEC), 0);
		CHECK(psu_intact(m[s].data, m[s].len, &k));
		CHECK_EQ(k, s);
	}
	for (int s = 4; s >= 0; s--)
		CHECK_EQ(shoal_channel_release(ch, &m[s]), 0);
	CHECK_EQ(shoal_channel_take(ch, &m[0], 60 * PSU_SEC), -EPIPE);
	shoal_channel_destroy(ch);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Takes 3 messages, holds them, then waits to be killed. */
static int victim_receiver(void)
{
	struct shoal_channel *ch;
	struct shoal_msg m[3];

	CHECK_EQ(open_channel("loans/kill-receiver", &ch), 0);
	for (int j = 0; j < 3; j++)
		CHECK_EQ(shoal_channel_take(ch, &m[j], 60 * PSU_SEC), 0);
	atomic_store(&ctl->ready, 1);
	for (;;)
		pause();
}

static int test_kill_receiver(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *ch;
	void *p[2];
	pid_t pid;
	int err = 0, n = 0;

	memset(ctl, 0, sizeof(*ctl));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.role = SHOAL_CHANNEL_SEND;
	o.capacity = 8;
	o.slot_size = MAX_LEN;
	o.max_loans = 2;
	o.send_timeout_ns = 120 * PSU_SEC;
	CHECK_EQ(shoal_channel_create("loans/kill-receiver", &o, &ch), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(victim_receiver());
	for (int j = 0; j < 3; j++)
		CHECK_EQ(shoal_channel_write(ch, "abcdefgh", 8), 0);
	CHECK(test_wait_flag(&ctl->ready, 1, 120));
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	/* Fill the ring with two loans at a time: the dead receiver never
	 * makes room, and the sender learns it instead of waiting. */
	while (n < 100) {
		err = shoal_channel_loan(ch, 8, &p[0]);
		if (err)
			break;
		err = shoal_channel_loan(ch, 8, &p[1]);
		if (err)
			break;
		CHECK_EQ(shoal_channel_send(ch, p[1], 8), 0);
		CHECK_EQ(shoal_channel_send(ch, p[0], 8), 0);
		n++;
	}
	CHECK_EQ(err, -EPIPE);
	shoal_channel_destroy(ch);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	messages = test_arg_u64(argc, argv, 1, 20000) / TEST_SLOWDOWN;
	if (messages < 100)
		messages = 100;
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	sent = psu_shared(4 * messages);
	delivered = psu_shared(4 * messages);
	if (!ctl || !sent || !delivered)
		return TEST_FAIL;
	RUN(test_stream);
	RUN(test_kill_sender);
	RUN(test_kill_receiver);
	return test_result();
}
