/* shoal-test: label=multiproc timeout=600 args=100000 2 */
/*
 * Zero-copy batches on both sides between processes: a publisher loans
 * batches of mixed sizes (shoal_pub_loan_batch, 1..37 slots asked), writes
 * each message in place and sends them with shoal_pub_send_batch, sometimes
 * fewer than loaned (the rest given back) and sometimes aborting a whole
 * batch; argv[2] (default 2) subscribers take batches of mixed sizes
 * (shoal_sub_take_batch) and release them together
 * (shoal_sub_release_batch), or one at a time oldest first
 * (shoal_sub_release), argv[1] (default 10^5) messages in all.
 *
 * Reliable (ring of 64): every subscriber gets every message in order,
 * each byte as sent. Lossy (ring of 64, a publisher that does not wait):
 * every message a subscriber keeps is intact and in increasing order, a
 * lap shows as -EOVERFLOW (counted in lost) or, for a batch overwritten
 * while held, as -ESTALE from the release (those are discarded); every
 * one taken has a higher seq than the one before. (On this machine a run
 * sees both: laps by tens of thousands, -ESTALE by hundreds.)
 * Also, in one process: the argument errors.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_SUBS 8
#define MAX_LEN 200u
#define SALT 11

struct ctl {
	_Atomic int done;
	_Atomic int joined;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;
static uint32_t nsubs;

static int subscriber(const char *name, int lossy, int k)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m[64];
	uint64_t next = 0, kept = 0, round = (uint64_t)k * 7919;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	atomic_fetch_add(&ctl->joined, 1);
	CHECK_EQ(shoal_sub_take_batch(sub, m, 0, 0), -EINVAL);
	while (next < messages) {
		uint32_t want = 1 + (uint32_t)(psu_mix(round++) % 64);
		int n = shoal_sub_take_batch(sub, m, want, 60 * PSU_SEC);
		int err, bad = 0;

		if (lossy && n == -EOVERFLOW) {
			CHECK(m[0].lost > 0);
			next += m[0].lost;
			continue;
		}
		if (n < 1 || (uint32_t)n > want)
			fprintf(stderr, "take_batch %d of %u: %s\n", n, want,
				shoal_last_error());
		CHECK(n >= 1 && (uint32_t)n <= want);
		/* Held: another take is refused. */
		CHECK_EQ(shoal_sub_take_batch(sub, m + n, 1, 0), -EBUSY);
		for (int j = 0; j < n; j++) {
			CHECK(m[j].seq >= next);
			if (!lossy)
				CHECK_EQ(m[j].seq, next);
			next = m[j].seq + 1;
			if (!psu_verify(m[j].data, m[j].len, m[j].seq, SALT)) {
				/* Torn by a lap while held: the release must
				 * say so. */
				CHECK(lossy);
				bad = 1;
			}
		}
		if (round % 3 == 0) {
			/* One at a time, oldest first. */
			if (n > 1)
				CHECK_EQ(shoal_sub_release(sub, &m[n - 1]),
					 -EINVAL);
			err = 0;
			for (int j = 0; j < n; j++) {
				int e = shoal_sub_release(sub, &m[j]);

				CHECK(e == 0 || (lossy && e == -ESTALE));
				if (e)
					err = e;
			}
		} else {
			if (n > 1)
				CHECK_EQ(shoal_sub_release_batch(sub, m + 1, 1),
					 -EINVAL);
			err = shoal_sub_release_batch(sub, m, (uint32_t)n);
		}
		if (bad && round % 3 != 0)
			CHECK_EQ(err, -ESTALE);
		CHECK(err == 0 || (lossy && err == -ESTALE));
		if (!err)
			kept += (uint32_t)n;
	}
	if (!lossy)
		CHECK_EQ(kept, messages);
	atomic_fetch_add(&ctl->done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return 0;
}

static int publisher(const char *name, int lossy)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	void *ptrs[40];
	uint32_t lens[40];
	uint64_t seq = 0, round = 1;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.delivery = lossy ? SHOAL_DELIVERY_LOSSY : SHOAL_DELIVERY_RELIABLE;
	o.capacity = 64;
	o.max_payload = MAX_LEN;
	o.max_subscribers = MAX_SUBS;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, nsubs, 120 * PSU_SEC), 0);
	CHECK_EQ(shoal_pub_loan_batch(pub, 8, ptrs, 0), -EINVAL);
	CHECK_EQ(shoal_pub_loan_batch(pub, MAX_LEN + 1, ptrs, 4), -EMSGSIZE);
	CHECK_EQ(shoal_pub_send_batch(pub, ptrs, lens, 1), -EINVAL);
	while (seq < messages) {
		uint32_t want = 1 + (uint32_t)(psu_mix(round++) % 37);
		uint32_t send;
		int n;

		if (want > messages - seq)
			want = (uint32_t)(messages - seq);
		n = shoal_pub_loan_batch(pub, MAX_LEN, ptrs, want);
		CHECK(n >= 1 && (uint32_t)n <= want);
		CHECK_EQ(shoal_pub_loan(pub, 8, &ptrs[39]), -EBUSY);
		if (round % 17 == 0) {
			/* Give the whole batch back. */
			if (n > 1)
				CHECK_EQ(shoal_pub_send(pub, ptrs[0], 16),
					 -EINVAL);
			CHECK_EQ(shoal_pub_abort(pub, ptrs[0]), 0);
			continue;
		}
		/* Sometimes fewer than loaned. */
		send = round % 5 == 0 && n > 1 ? (uint32_t)n - 1 : (uint32_t)n;
		for (uint32_t j = 0; j < send; j++) {
			lens[j] = psu_len(seq + j, SALT, PSU_MIN_LEN, MAX_LEN);
			psu_fill(ptrs[j], seq + j, SALT, lens[j]);
		}
		if (send > 1) {
			void *t = ptrs[0];

			/* Out of loan order: refused, nothing sent. */
			ptrs[0] = ptrs[1];
			ptrs[1] = t;
			CHECK_EQ(shoal_pub_send_batch(pub, ptrs, lens, send),
				 -EINVAL);
			ptrs[1] = ptrs[0];
			ptrs[0] = t;
		}
		CHECK_EQ(shoal_pub_send_batch(pub, ptrs, lens, send),
			 (int)send);
		seq += send;
	}
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
			_exit(subscriber(name, lossy, (int)k));
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
	return run(0, "zcbatch/reliable");
}

static int test_lossy(void)
{
	return run(1, "zcbatch/lossy");
}

int main(int argc, char **argv)
{
	messages = test_arg_u64(argc, argv, 1, 100000);
	nsubs = (uint32_t)test_arg_u64(argc, argv, 2, 2);
	if (nsubs < 1 || nsubs > MAX_SUBS)
		return TEST_FAIL;
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	RUN(test_reliable);
	RUN(test_lossy);
	return test_result();
}
