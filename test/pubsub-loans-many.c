/* shoal-test: label=multiproc timeout=600 args=50000 2 */
/*
 * Several loans per publisher (max_loans) between processes. A publisher
 * with max_loans 8 keeps up to 8 loans out, loaning and resolving them in
 * a pseudo-random order: each is sent (in any order) or aborted (in the
 * middle or at the end); argv[2] (default 2) subscribers take everything.
 * It mirrors the documented rules to know each loan's seq: a loan takes
 * the next seq, aborting the newest (and the aborted ones before it) gives
 * the seqs back, an abort followed by a send is a skip marker. Each payload
 * is a function of its seq, so a subscriber checks:
 *  - reliable: seqs strictly increase, every payload is the one of its seq
 *    (loan order, never torn), the gaps add up to the skip markers it
 *    passed (stats.skipped), and it receives exactly what the publisher
 *    sent (stats.sent): nothing lost, nothing duplicated, nobody waits on a
 *    hole;
 *  - lossy (the publisher never waits): seqs increase, every payload kept
 *    is intact, laps show as -EOVERFLOW.
 * Also the argument errors (-EBUSY at the limit, -EINVAL for a pointer not
 * out, sent twice, a length over the loan, bad max_loans), and a publisher
 * SIGKILLed with several loans out (two of them sent behind an earlier one
 * still out): its subscriber receives what was published before, never
 * the waiting ones, then -EPIPE, and does not hang.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_SUBS 8
#define MAX_LOANS 8
#define MAX_LEN 120u
#define SALT 23

struct ctl {
	_Atomic int joined;
	_Atomic int done;
	_Atomic int final; /* the publisher resolved everything */
	_Atomic int ready; /* kill test: the publisher holds its loans */
	_Atomic uint64_t sent, skipped;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;
static uint32_t nsubs;

static int subscriber(const char *name, int lossy)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub_stats st;
	struct shoal_sub *sub;
	uint64_t got = 0, gaps = 0, last = 0;
	int first = 1;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	atomic_fetch_add(&ctl->joined, 1);
	for (;;) {
		struct shoal_msg m;
		int err = shoal_sub_take(sub, &m, PSU_SEC / 10);

		if (err == -ETIMEDOUT || err == -EAGAIN) {
			if (atomic_load(&ctl->final) &&
			    (lossy || got == atomic_load(&ctl->sent)))
				break;
			continue;
		}
		if (lossy && err == -EOVERFLOW)
			continue;
		if (err)
			fprintf(stderr, "take: %d %s\n", err,
				shoal_last_error());
		CHECK_EQ(err, 0);
		if (!first) {
			CHECK(m.seq > last);
			if (!lossy)
				gaps += m.seq - last - 1;
		} else if (!lossy) {
			gaps += m.seq;
		}
		first = 0;
		last = m.seq;
		/* Lossy: torn by a lap while read; the release says so. */
		if (!psu_verify(m.data, m.len, m.seq, SALT))
			CHECK(lossy);
		else
			CHECK_EQ(m.len,
				 psu_len(m.seq, SALT, PSU_MIN_LEN, MAX_LEN));
		err = shoal_sub_release(sub, &m);
		CHECK(err == 0 || (lossy && err == -ESTALE));
		got++;
	}
	shoal_sub_get_stats(sub, &st);
	if (!lossy) {
		CHECK_EQ(got, atomic_load(&ctl->sent));
		CHECK_EQ(st.skipped, atomic_load(&ctl->skipped));
		CHECK_EQ(gaps, st.skipped);
	}
	atomic_fetch_add(&ctl->done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return 0;
}

/* The publisher's mirror of its loans: seq order, oldest first. */
struct loan {
	void *ptr;
	uint64_t seq;
	uint32_t size;
	int state; /* 0 out, 1 sent, 2 aborted */
};

static struct loan win[MAX_LOANS];
static uint32_t nwin;	     /* loans in the window (any state) */
static uint64_t next_seq;    /* the seq the next loan takes */
static uint64_t sent, skips; /* published messages, skip markers */

/* What the ring publishes after a change: the sent prefix, and aborted
 * runs followed by a sent one (skip markers). */
static void settle(void)
{
	for (;;) {
		uint32_t j = 0;

		while (j < nwin && win[j].state == 2)
			j++;
		if (j == nwin || win[j].state != 1)
			return;
		skips += j;
		sent++;
		memmove(win, win + j + 1, (nwin - j - 1) * sizeof(win[0]));
		nwin -= j + 1;
	}
}

static void do_abort(uint32_t k)
{
	win[k].state = 2;
	while (nwin && win[nwin - 1].state == 2) {
		nwin--;
		next_seq--;
	}
	settle();
}

static int publisher(const char *name, int lossy)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub_stats st;
	struct shoal_pub *pub;
	uint64_t round = 1;
	void *ptr;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	CHECK_EQ(o.max_loans, 1);
	o.registry = reg;
	o.delivery = lossy ? SHOAL_DELIVERY_LOSSY : SHOAL_DELIVERY_RELIABLE;
	o.capacity = 32;
	o.max_payload = MAX_LEN;
	o.max_subscribers = MAX_SUBS;
	o.max_loans = 0;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), -EINVAL);
	o.max_loans = SHOAL_PUB_LOANS_MAX + 1;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), -EINVAL);
	o.max_loans = 32; /* not below the capacity */
	CHECK_EQ(shoal_pub_create(name, &o, &pub), -EINVAL);
	o.max_loans = MAX_LOANS;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, nsubs, 120 * PSU_SEC), 0);
	nwin = 0;
	next_seq = sent = skips = 0;
	while (sent < messages || nwin) {
		uint64_t r = psu_mix(round++);
		int out = 0;

		for (uint32_t j = 0; j < nwin; j++)
			out += win[j].state == 0;
		if (sent + (uint64_t)out < messages && nwin < MAX_LOANS &&
		    (r % 3 != 0 || !out)) {
			struct loan *l = &win[nwin];

			l->seq = next_seq;
			l->size = psu_len(l->seq, SALT, PSU_MIN_LEN, MAX_LEN);
			CHECK_EQ(shoal_pub_loan(pub, l->size, &l->ptr), 0);
			l->state = 0;
			/* The slot holds this seq's message even if it ends
			 * up aborted: a skip marker is never delivered. */
			psu_fill(l->ptr, l->seq, SALT, l->size);
			nwin++;
			next_seq++;
			continue;
		}
		if (nwin == MAX_LOANS)
			CHECK_EQ(shoal_pub_loan(pub, 16, &ptr), -EBUSY);
		if (!out)
			continue; /* all sent or aborted, waiting: loan more */
		/* Resolve a random loan still out. */
		{
			uint32_t pick = (uint32_t)((r >> 8) % (uint64_t)out), k;

			for (k = 0; k < nwin; k++)
				if (win[k].state == 0 && pick-- == 0)
					break;
			CHECK(k < nwin);
			CHECK_EQ(shoal_pub_send(pub, (char *)win[k].ptr + 1,
						16),
				 -EINVAL);
			CHECK_EQ(shoal_pub_send(pub, win[k].ptr,
						win[k].size + 1),
				 -EINVAL);
			if ((r >> 20) % 5 == 0) {
				CHECK_EQ(shoal_pub_abort(pub, win[k].ptr), 0);
				CHECK_EQ(shoal_pub_abort(pub, win[k].ptr),
					 -EINVAL);
				do_abort(k);
			} else {
				CHECK_EQ(shoal_pub_send(pub, win[k].ptr,
							win[k].size),
					 0);
				CHECK_EQ(shoal_pub_send(pub, win[k].ptr,
							win[k].size),
					 -EINVAL);
				CHECK_EQ(shoal_pub_abort(pub, win[k].ptr),
					 -EINVAL);
				win[k].state = 1;
				settle();
			}
		}
		shoal_pub_get_stats(pub, &st);
		CHECK_EQ(st.sent, sent);
		CHECK_EQ(st.skipped, skips);
	}
	CHECK(skips > 0);
	/* The batch calls still work once nothing is out. */
	{
		void *ptrs[4];
		uint32_t lens[4];
		int n = shoal_pub_loan_batch(pub, MAX_LEN, ptrs, 4);

		CHECK(n >= 1);
		CHECK_EQ(shoal_pub_abort(pub, ptrs[0]), 0);
		CHECK_EQ(shoal_pub_loan(pub, 16, &ptrs[0]), 0);
		CHECK_EQ(shoal_pub_loan(pub, 16, &ptrs[1]), 0);
		CHECK_EQ(shoal_pub_loan_batch(pub, 16, ptrs + 2, 2), -EBUSY);
		lens[0] = psu_len(next_seq, SALT, PSU_MIN_LEN, MAX_LEN);
		lens[1] = psu_len(next_seq + 1, SALT, PSU_MIN_LEN, MAX_LEN);
		CHECK_EQ(shoal_pub_abort(pub, ptrs[1]), 0);
		CHECK_EQ(shoal_pub_abort(pub, ptrs[0]), 0);
		CHECK_EQ(shoal_pub_loan(pub, lens[0], &ptrs[0]), 0);
		CHECK_EQ(shoal_pub_loan(pub, lens[1], &ptrs[1]), 0);
		psu_fill(ptrs[0], next_seq, SALT, lens[0]);
		psu_fill(ptrs[1], next_seq + 1, SALT, lens[1]);
		CHECK_EQ(shoal_pub_send_batch(pub, ptrs, lens, 2), 2);
		sent += 2;
	}
	atomic_store(&ctl->sent, sent);
	atomic_store(&ctl->skipped, skips);
	atomic_store(&ctl->final, 1);
	CHECK(test_wait_flag(&ctl->done, (int)nsubs, 300));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

static int run(int lossy, const char *name)
{
	pid_t pids[MAX_SUBS + 1];

	memset(ctl, 0, sizeof(*ctl));
	for (uint32_t k = 0; k < nsubs; k++) {
		pids[k] = psu_fork();
		CHECK(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(subscriber(name, lossy));
	}
	pids[nsubs] = psu_fork();
	CHECK(pids[nsubs] >= 0);
	if (pids[nsubs] == 0)
		_exit(publisher(name, lossy));
	CHECK(psu_wait_all(pids, (int)nsubs + 1, 500));
	return TEST_PASS;
}

static int test_reliable(void)
{
	return run(0, "loans/reliable");
}

static int test_lossy(void)
{
	return run(1, "loans/lossy");
}

/* Publishes 10 messages, then holds 4 loans: #0 out, #1 and #2 sent
 * behind it, #3 out; then waits to be killed. */
static int killed_publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	void *p[4];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.max_payload = MAX_LEN;
	o.max_loans = 4;
	CHECK_EQ(shoal_pub_create("loans/killed", &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 120 * PSU_SEC), 0);
	for (uint64_t s = 0; s < 10; s++) {
		uint32_t len = psu_len(s, SALT, PSU_MIN_LEN, MAX_LEN);
		void *ptr;

		CHECK_EQ(shoal_pub_loan(pub, len, &ptr), 0);
		psu_fill(ptr, s, SALT, len);
		CHECK_EQ(shoal_pub_send(pub, ptr, len), 0);
	}
	for (int j = 0; j < 4; j++) {
		CHECK_EQ(shoal_pub_loan(pub, MAX_LEN, &p[j]), 0);
		psu_fill(p[j], 10 + (uint64_t)j, SALT, MAX_LEN);
	}
	CHECK_EQ(shoal_pub_loan(pub, 16, &p[0]), -EBUSY);
	CHECK_EQ(shoal_pub_send(pub, p[2], MAX_LEN), 0);
	CHECK_EQ(shoal_pub_send(pub, p[1], MAX_LEN), 0);
	atomic_store(&ctl->ready, 1);
	for (;;)
		pause();
}

static int test_kill_publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;
	pid_t pid;
	int err;

	memset(ctl, 0, sizeof(*ctl));
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(killed_publisher());
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_sub_open("loans/killed", &so, &sub), 0);
	CHECK(test_wait_flag(&ctl->ready, 1, 120));
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	for (uint64_t s = 0; s < 10; s++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 60 * PSU_SEC), 0);
		CHECK_EQ(m.seq, s);
		CHECK(psu_verify(m.data, m.len, s, SALT));
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}
	/* The two sent behind loan #0 were never published. */
	err = shoal_sub_take(sub, &m, 60 * PSU_SEC);
	CHECK_EQ(err, -EPIPE);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	messages = test_arg_u64(argc, argv, 1, 50000);
	nsubs = (uint32_t)test_arg_u64(argc, argv, 2, 2);
	if (nsubs < 1 || nsubs > MAX_SUBS || messages < 100)
		return TEST_FAIL;
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	RUN(test_reliable);
	RUN(test_lossy);
	RUN(test_kill_publisher);
	return test_result();
}
