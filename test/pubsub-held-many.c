/* shoal-test: label=multiproc timeout=120 args=3000 */
/*
 * Several held messages per subscriber (shoal_sub_options.max_held > 1).
 *
 * Between two processes: a reliable publisher (capacity 16) in a child
 * sends argv[1] (default 3000) checksummed messages; the subscriber, with
 * max_held 8, takes k messages at a time (k from 1 to 8, also by
 * take_batch), checks each against what its seq must be, and releases them
 * in a shuffled order. Every message must arrive once, in order, intact.
 * Every 50 rounds it holds the oldest message, takes and releases every
 * later one the ring lets it (the publisher gets 15 past it), and then must
 * be refused (-EBUSY: a whole ring behind) while the held message, which
 * the reliable publisher may not overwrite, still verifies byte for byte.
 *
 * In one process, the contract: max_held 0 means 1 and 65 is -EINVAL; a
 * take past max_held is -EBUSY; a double release, a message never taken
 * and another handle's message are -EINVAL; release_batch with a duplicate
 * is -EINVAL and releases nothing; max_held 1 keeps oldest-first; lossy: a
 * message overwritten while held releases with -ESTALE, in any order.
 */
#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "held/many"
#define SALT 0x4e1dULL
#define CAPACITY 16u
#define MAX_HELD 8u

static char path[PATH_MAX];

struct ctl {
	_Atomic int go;
};

static int publisher(struct ctl *ctl, uint32_t messages)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[64];

	CHECK_EQ(psu_pub_options(path, &r, &o), 0);
	o.capacity = CAPACITY;
	o.max_payload = sizeof(buf);
	CHECK_EQ(shoal_pub_create(NAME, &o, &pub), 0);
	atomic_store(&ctl->go, 1);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 60 * PSU_SEC), 0);
	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, SALT, PSU_MIN_LEN, sizeof(buf));

		psu_fill(buf, seq, SALT, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	/* Stay until the subscriber has taken everything: it sees -EPIPE
	 * only after the last message anyway, but a clean exit is simpler
	 * to read in a log. */
	while (atomic_load(&ctl->go) != 2)
		usleep(1000);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static uint64_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng = psu_mix(rng);
	return (uint32_t)(rng % n);
}

static int take_one(struct shoal_sub *s, struct shoal_msg *m, uint64_t seq)
{
	int err = shoal_sub_take(s, m, 30 * PSU_SEC);

	if (err)
		fprintf(stderr, "take of %llu: %d %s\n",
			(unsigned long long)seq, err, shoal_last_error());
	CHECK_EQ(err, 0);
	CHECK_EQ(m->seq, seq);
	CHECK(psu_verify(m->data, m->len, m->seq, SALT));
	return TEST_PASS;
}

/* The oldest held pins its slot: 15 more fit, then -EBUSY, and the held
 * one is intact. Returns the next seq. */
static int pin_oldest(struct shoal_sub *s, uint64_t *next, uint32_t messages)
{
	struct shoal_msg old, m;

	if (*next + CAPACITY + 1 > messages)
		return TEST_PASS;
	CHECK_EQ(take_one(s, &old, (*next)++), TEST_PASS);
	for (uint32_t j = 1; j < CAPACITY; j++) {
		CHECK_EQ(take_one(s, &m, (*next)++), TEST_PASS);
		CHECK_EQ(shoal_sub_release(s, &m), 0);
		CHECK_EQ(shoal_sub_release(s, &m), -EINVAL);
	}
	/* The next message's slot is the held one's: the reliable
	 * publisher must not write it while we hold it. */
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EBUSY);
	CHECK_EQ(shoal_sub_valid(s, &old), 1);
	CHECK(psu_verify(old.data, old.len, old.seq, SALT));
	CHECK_EQ(shoal_sub_release(s, &old), 0);
	return TEST_PASS;
}

static int subscriber(struct ctl *ctl, uint32_t messages)
{
	struct shoal_registry *r;
	struct shoal_sub_options so;
	struct shoal_sub *s;
	struct shoal_msg held[MAX_HELD], extra;
	uint64_t next = 0;
	uint32_t round = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->go) == 1, 60));
	shoal_sub_options_init(&so);
	so.registry = r;
	so.max_held = MAX_HELD;
	CHECK_EQ(shoal_sub_open(NAME, &so, &s), 0);
	while (next < messages) {
		uint32_t k = 1 + rnd(MAX_HELD), n = 0;

		if (messages - next < k)
			k = (uint32_t)(messages - next);
		if (round % 50 == 49) {
			CHECK_EQ(pin_oldest(s, &next, messages), TEST_PASS);
			round++;
			continue;
		}
		if (round % 3 == 0) {
			int got =
				shoal_sub_take_batch(s, held, k, 30 * PSU_SEC);

			CHECK(got >= 1 && (uint32_t)got <= k);
			for (int j = 0; j < got; j++) {
				CHECK_EQ(held[j].seq, next + (uint64_t)j);
				CHECK(psu_verify(held[j].data, held[j].len,
						 held[j].seq, SALT));
			}
			n = (uint32_t)got;
			next += n;
		} else {
			for (n = 0; n < k; n++)
				CHECK_EQ(take_one(s, &held[n], next++),
					 TEST_PASS);
		}
		if (n == MAX_HELD)
			CHECK_EQ(shoal_sub_take(s, &extra, 0), -EBUSY);
		/* Shuffled, then released one by one or as one batch. */
		for (uint32_t j = n; j > 1; j--) {
			uint32_t i = rnd(j);
			struct shoal_msg t = held[i];

			held[i] = held[j - 1];
			held[j - 1] = t;
		}
		if (round % 2 == 0) {
			for (uint32_t j = 0; j < n; j++) {
				CHECK_EQ(shoal_sub_valid(s, &held[j]), 1);
				CHECK_EQ(shoal_sub_release(s, &held[j]), 0);
				CHECK_EQ(shoal_sub_valid(s, &held[j]), 0);
			}
			CHECK_EQ(shoal_sub_release(s, &held[0]), -EINVAL);
		} else {
			CHECK_EQ(shoal_sub_release_batch(s, held, n), 0);
		}
		round++;
	}
	atomic_store(&ctl->go, 2);
	CHECK_EQ(shoal_sub_take(s, &extra, 30 * PSU_SEC), -EPIPE);
	shoal_sub_close(s);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int test_two_processes(uint32_t messages)
{
	struct ctl *ctl = psu_shared(sizeof(*ctl));
	pid_t pid;
	int rc;

	CHECK(ctl != NULL);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(publisher(ctl, messages));
	rc = subscriber(ctl, messages);
	if (rc != TEST_PASS) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	CHECK(psu_wait_all(&pid, 1, 60));
	return TEST_PASS;
}

static int write_n(struct shoal_pub *pub, uint64_t from, uint32_t n)
{
	unsigned char buf[32];

	for (uint64_t seq = from; seq < from + n; seq++) {
		psu_fill(buf, seq, SALT, sizeof(buf));
		CHECK_EQ(shoal_pub_write(pub, buf, sizeof(buf), NULL), 0);
	}
	return TEST_PASS;
}

static int test_contract(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *s, *s2, *one;
	struct shoal_msg m[4], theirs[4], bogus;

	CHECK_EQ(psu_pub_options(path, &r, &o), 0);
	o.capacity = 8;
	o.max_payload = 32;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(shoal_pub_create("held/contract", &o, &pub), 0);
	shoal_sub_options_init(&so);
	CHECK_EQ(so.max_held, 1u);
	so.registry = r;
	so.max_held = SHOAL_SUB_HELD_MAX + 1;
	CHECK_EQ(shoal_sub_open("held/contract", &so, &s), -EINVAL);
	so.max_held = 3;
	CHECK_EQ(shoal_sub_open("held/contract", &so, &s), 0);
	CHECK_EQ(shoal_sub_open("held/contract", &so, &s2), 0);
	so.max_held = 0; /* means 1 */
	CHECK_EQ(shoal_sub_open("held/contract", &so, &one), 0);

	CHECK_EQ(write_n(pub, 0, 4), TEST_PASS);
	for (int j = 0; j < 3; j++) {
		CHECK_EQ(shoal_sub_take(s, &m[j], 0), 0);
		CHECK_EQ(m[j].seq, (uint64_t)j);
	}
	CHECK_EQ(shoal_sub_take(s, &m[3], 0), -EBUSY);
	CHECK_EQ(shoal_sub_take_batch(s, &m[3], 1, 0), -EBUSY);
	/* Another handle's message that this one never took, a forged
	 * one, none. */
	CHECK_EQ(shoal_sub_take_batch(s2, theirs, 4, 0), 4);
	CHECK_EQ(theirs[3].seq, 3u);
	CHECK_EQ(shoal_sub_release(s, &theirs[3]), -EINVAL);
	bogus = m[1];
	bogus.seq = 3;
	CHECK_EQ(shoal_sub_release(s, &bogus), -EINVAL);
	CHECK_EQ(shoal_sub_release(s, NULL), -EINVAL);
	/* A duplicate in a batch: nothing released. */
	{
		struct shoal_msg dup[2] = { m[2], m[2] };

		CHECK_EQ(shoal_sub_release_batch(s, dup, 2), -EINVAL);
	}
	CHECK_EQ(shoal_sub_valid(s, &m[2]), 1);
	CHECK_EQ(shoal_sub_release(s, &m[2]), 0);
	CHECK_EQ(shoal_sub_release(s, &m[2]), -EINVAL);
	CHECK_EQ(shoal_sub_release(s, &m[0]), 0);
	/* m[1] still held: now a take may go on (seq 3). */
	CHECK_EQ(shoal_sub_take(s, &m[3], 0), 0);
	CHECK_EQ(m[3].seq, 3u);
	CHECK_EQ(shoal_sub_take(s, &m[0], 0), -EAGAIN);
	/* Lossy: the publisher laps us while m[1] and m[3] are held. */
	CHECK_EQ(write_n(pub, 4, 16), TEST_PASS);
	CHECK_EQ(shoal_sub_take(s, &m[0], 0), -EOVERFLOW);
	CHECK_EQ(m[0].lost, 0u);
	CHECK_EQ(shoal_sub_valid(s, &m[3]), 0);
	CHECK_EQ(shoal_sub_release(s, &m[3]), -ESTALE);
	CHECK_EQ(shoal_sub_release(s, &m[1]), -ESTALE);
	CHECK_EQ(shoal_sub_take(s, &m[0], 0), -EOVERFLOW);
	CHECK(m[0].lost > 0);
	CHECK_EQ(shoal_sub_take(s, &m[0], 0), 0);
	CHECK_EQ(shoal_sub_release(s, &m[0]), 0);

	/* max_held 1 (from 0): oldest first, a second take refused. */
	CHECK_EQ(shoal_sub_take(one, &m[0], 0), -EOVERFLOW);
	CHECK_EQ(shoal_sub_take_batch(one, m, 2, 0), 2);
	CHECK_EQ(shoal_sub_take(one, &m[2], 0), -EBUSY);
	CHECK_EQ(shoal_sub_release(one, &m[1]), -EINVAL);
	CHECK_EQ(shoal_sub_release(one, &m[0]), 0);
	CHECK_EQ(shoal_sub_release(one, &m[1]), 0);

	shoal_sub_close(one);
	shoal_sub_close(s2);
	shoal_sub_close(s);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	uint32_t messages = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) :
				       3000;
	int rc;

	psu_watchdog(110);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	rc = test_contract();
	if (rc == TEST_PASS)
		rc = test_two_processes(messages);
	test_remove_tree(top);
	return rc;
}
