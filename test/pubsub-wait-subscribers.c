/* shoal-test: label=multiproc timeout=300 args=3 */
/*
 * shoal_pub_wait_subscribers(): a publisher waits, asleep, until argv[1]
 * (default 3) subscribers started after it in other processes have joined,
 * then sends; each subscriber's first message is message 0, intact. Once
 * with reliable delivery and once lossy. The subscribers join one at a
 * time (each after the one before it counted itself in), so the publisher
 * goes back to sleep between joins and each join must wake it. Also: 0 at
 * once for n 0 or n already there, -EAGAIN with timeout 0, -ETIMEDOUT, and
 * -EINVAL past max_subscribers.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_SUBS 8
#define MESSAGES 100u

struct ctl {
	_Atomic int go;	    /* the publisher is about to wait */
	_Atomic int joined; /* subscribers that opened */
	_Atomic int done;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint32_t nsubs;

static int subscriber(const char *name, int k)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;

	CHECK(test_wait_flag(&ctl->go, 1, 120));
	/* One at a time: the one before us opened already. */
	CHECK(test_wait_flag(&ctl->joined, k, 120));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	atomic_fetch_add(&ctl->joined, 1);
	for (uint64_t seq = 0; seq < MESSAGES; seq++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 60 * PSU_SEC), 0);
		CHECK_EQ(m.seq, seq);
		CHECK(psu_verify(m.data, m.len, seq, 7));
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}
	/* The publisher stays until every subscriber had its messages. */
	atomic_fetch_add(&ctl->done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return 0;
}

static int publisher(const char *name, enum shoal_delivery delivery)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[256];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.delivery = delivery;
	o.max_subscribers = MAX_SUBS;
	o.capacity = 256;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 0, 0), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 0), -EAGAIN);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 20 * 1000 * 1000),
		 -ETIMEDOUT);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, MAX_SUBS + 1, 0), -EINVAL);
	atomic_store(&ctl->go, 1);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, nsubs, SHOAL_WAIT_FOREVER), 0);
	CHECK(shoal_pub_subscribers(pub) >= nsubs);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, nsubs, 0), 0);
	for (uint64_t seq = 0; seq < MESSAGES; seq++) {
		uint32_t len = psu_len(seq, 7, PSU_MIN_LEN, sizeof(buf));

		psu_fill(buf, seq, 7, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	CHECK(test_wait_flag(&ctl->done, (int)nsubs, 120));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

static int run(enum shoal_delivery delivery, const char *name)
{
	pid_t pids[MAX_SUBS + 1];

	memset(ctl, 0, sizeof(*ctl));
	/* Everyone forked before the publisher exists: none inherits its
	 * descriptors. */
	for (uint32_t k = 0; k < nsubs; k++) {
		pids[k] = psu_fork();
		CHECK(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(subscriber(name, (int)k));
	}
	pids[nsubs] = psu_fork();
	CHECK(pids[nsubs] >= 0);
	if (pids[nsubs] == 0)
		_exit(publisher(name, delivery));
	CHECK(psu_wait_all(pids, (int)nsubs + 1, 240));
	return TEST_PASS;
}

static int test_reliable(void)
{
	return run(SHOAL_DELIVERY_RELIABLE, "waitsubs/reliable");
}

static int test_lossy(void)
{
	return run(SHOAL_DELIVERY_LOSSY, "waitsubs/lossy");
}

int main(int argc, char **argv)
{
	nsubs = (uint32_t)test_arg_u64(argc, argv, 1, 3);
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
