/* shoal-test: label=unit timeout=120 */
/*
 * Publish/subscribe when system calls fail (test/fault.h): create, open
 * (by pidfd_getfd and by SCM_RIGHTS), send to a sleeping subscriber,
 * take (a timed wait, and reattaching to a new publisher), and the
 * destroy/close paths, each call failed in turn with each errno. A failed
 * create leaves the registry empty; a send that reports success has woken
 * the sleeper; nothing leaks; the next attempt works.
 */
#include "fault.h"

static char path[PATH_MAX];

static struct {
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	uint32_t sub_flags;
	uint64_t seq;
} C;

static int pub_create(struct shoal_pub **out)
{
	struct shoal_pub_options o;

	shoal_pub_options_init(&o);
	o.capacity = 8;
	o.max_payload = 64;
	o.max_subscribers = 4;
	o.send_timeout_ns = 0;
	o.history = 4;
	return shoal_pub_create("ps", &o, out);
}

static int sub_open(struct shoal_sub **out)
{
	struct shoal_sub_options o;

	shoal_sub_options_init(&o);
	o.flags = C.sub_flags;
	o.strategy = SHOAL_WAIT_BLOCK;
	o.history = 4; /* a reattached subscriber finds what came before */
	return shoal_sub_open("ps", &o, out);
}

/* Publish one message unarmed, and take it: the pair works. */
static int roundtrip(void)
{
	struct shoal_msg m;
	uint64_t v = ++C.seq;
	int r;

	if (shoal_pub_write(C.pub, &v, sizeof(v), NULL))
		return 1;
	r = shoal_sub_take(C.sub, &m, 5000000000LL);
	if (r == -EPIPE) /* reattached: the old publisher's end first */
		r = shoal_sub_take(C.sub, &m, 5000000000LL);
	if (r)
		return 1;
	r = m.len != sizeof(v) || memcmp(m.data, &v, sizeof(v));
	shoal_sub_release(C.sub, &m);
	return r;
}

static void teardown_all(void *x)
{
	(void)x;
	shoal_sub_close(C.sub);
	shoal_pub_destroy(C.pub);
	C.sub = NULL;
	C.pub = NULL;
}

/* create --------------------------------------------------------------- */

static int create_op(void *x)
{
	(void)x;
	return pub_create(&C.pub);
}

static int create_failed(void *x)
{
	(void)x;
	if (C.pub || fault_dir_entries(path) != 0) {
		fprintf(stderr, "pub %p, %d registry entries; ", (void *)C.pub,
			fault_dir_entries(path));
		return 1;
	}
	return 0;
}

static int create_verify(void *x)
{
	(void)x;
	if (sub_open(&C.sub))
		return 1;
	return roundtrip();
}

/* open ----------------------------------------------------------------- */

static int open_setup(void *x)
{
	(void)x;
	return pub_create(&C.pub);
}

static int open_op(void *x)
{
	(void)x;
	return sub_open(&C.sub);
}

static int open_failed(void *x)
{
	(void)x;
	return C.sub != NULL;
}

static int open_verify(void *x)
{
	(void)x;
	return roundtrip();
}

static void open_undo(void *x)
{
	(void)x;
	shoal_sub_close(C.sub);
	C.sub = NULL;
}

/* send to a sleeping subscriber ---------------------------------------- */

static int send_setup(void *x)
{
	(void)x;
	if (pub_create(&C.pub) || sub_open(&C.sub))
		return -1;
	/* The subscriber announces it sleeps: a send must write its
	 * eventfd. */
	return shoal_sub_arm(C.sub) == 0 ? 0 : -1;
}

static int send_op(void *x)
{
	uint64_t v = ++C.seq;

	(void)x;
	return shoal_pub_write(C.pub, &v, sizeof(v), NULL);
}

/* The sleeper was woken, and takes the message. */
static int send_verify(void *x)
{
	struct shoal_msg m;
	int r;

	if (fault_send_woke(shoal_sub_fd(C.sub), send_op, x, "subscriber"))
		return 1;
	shoal_sub_disarm(C.sub);
	/* The last message sent is the one to check. */
	while ((r = shoal_sub_take(C.sub, &m, 0)) == 0 &&
	       (m.len != sizeof(C.seq) ||
		memcmp(m.data, &C.seq, sizeof(C.seq))))
		shoal_sub_release(C.sub, &m);
	if (r)
		return 1;
	r = m.len != sizeof(C.seq) || memcmp(m.data, &C.seq, sizeof(C.seq));
	shoal_sub_release(C.sub, &m);
	return r;
}

/* A failed send must not leave the subscriber unable to go on. */
static int send_failed(void *x)
{
	struct shoal_msg m;

	(void)x;
	/* Whatever became of the failed message, drain it. */
	shoal_sub_disarm(C.sub);
	while (shoal_sub_take(C.sub, &m, 0) == 0)
		shoal_sub_release(C.sub, &m);
	return shoal_sub_arm(C.sub) != 0;
}

/* take: a timed wait on an empty stream -------------------------------- */

static int take_setup(void *x)
{
	(void)x;
	return pub_create(&C.pub) || sub_open(&C.sub) ? -1 : 0;
}

static int take_empty_op(void *x)
{
	struct shoal_msg m;
	int r;

	(void)x;
	r = shoal_sub_take(C.sub, &m, 2000000);
	if (r == 0)
		shoal_sub_release(C.sub, &m);
	return r == -ETIMEDOUT ? 0 : r < 0 ? r : -EPROTO;
}

/* take: the publisher is replaced; take reports -EPIPE and reattaches -- */

static int reattach_setup(void *x)
{
	uint64_t v = 7;

	(void)x;
	if (pub_create(&C.pub) || sub_open(&C.sub))
		return -1;
	shoal_pub_destroy(C.pub);
	C.pub = NULL;
	if (pub_create(&C.pub))
		return -1;
	return shoal_pub_write(C.pub, &v, sizeof(v), NULL) ? -1 : 0;
}

static int reattach_op(void *x)
{
	struct shoal_msg m;
	int r;

	(void)x;
	r = shoal_sub_take(C.sub, &m, 2000000000LL);
	if (r == -EPIPE)
		r = shoal_sub_take(C.sub, &m, 2000000000LL);
	if (r)
		return r;
	r = m.len == 8 && *(const uint64_t *)m.data == 7 ? 0 : -EPROTO;
	shoal_sub_release(C.sub, &m);
	return r;
}

/*
 * After the failure: the -EPIPE may have been spent, and the message may
 * or may not have been taken by the failed attempt; publish another so
 * that the next attempt has one to find.
 */
static int reattach_failed(void *x)
{
	uint64_t v = 7;

	(void)x;
	return shoal_pub_write(C.pub, &v, sizeof(v), NULL) != 0;
}

static int reattach_verify(void *x)
{
	(void)x;
	return !shoal_sub_connected(C.sub) ||
	       shoal_sub_epoch(C.sub) != shoal_pub_epoch(C.pub);
}

/* destroy and close: they cannot fail, so they must not leak ----------- */

static int destroy_op(void *x)
{
	(void)x;
	shoal_sub_close(C.sub);
	C.sub = NULL;
	shoal_pub_destroy(C.pub);
	C.pub = NULL;
	return 0;
}

/* Nothing live is left (fault_registry_left: a stale file is tolerated). */
static int destroy_verify(void *x)
{
	int n, stale;

	(void)x;
	if (fault_registry_left(path, &n, &stale))
		return 1;
	if (n == 0 && stale != 0)
		n = -1;
	if (n != 0)
		fprintf(stderr, "after destroy: %d live services; ", n);
	return n != 0;
}

/* ---------------------------------------------------------------------- */

static int run(struct fault_case *c)
{
	if (!c->teardown)
		c->teardown = teardown_all;
	return fault_test(c);
}

static int test_create(void)
{
	struct fault_case c = { .name = "pub create",
				.op = create_op,
				.failed = create_failed,
				.verify = create_verify };

	return run(&c);
}

/* Open the subscriber, by pidfd_getfd or (@flags) by SCM_RIGHTS. */
static int run_open(const char *name, uint32_t flags)
{
	struct fault_case c = { .name = name,
				.setup = open_setup,
				.op = open_op,
				.failed = open_failed,
				.verify = open_verify,
				.undo = open_undo,
				.eintr_retried = 1 };

	C.sub_flags = flags;
	return run(&c);
}

static int test_open(void)
{
	return run_open("sub open", 0);
}

static int test_open_scm(void)
{
	return run_open("sub open by SCM_RIGHTS", SHOAL_SUB_NO_PIDFD_GETFD);
}

static int test_send(void)
{
	struct fault_case c = {
		.name = "pub send",
		.setup = send_setup,
		.op = send_op,
		.failed = send_failed,
		.verify = send_verify,
		.on_handle = 1,
	};

	C.sub_flags = 0;
	return run(&c);
}

static int test_take(void)
{
	struct fault_case c = { .name = "sub take (timed wait)",
				.setup = take_setup,
				.op = take_empty_op,
				.on_handle = 1,
				.eintr_retried = 1 };

	C.sub_flags = 0;
	return run(&c);
}

static int test_reattach(void)
{
	struct fault_case c = { .name = "sub take (reattach)",
				.setup = reattach_setup,
				.op = reattach_op,
				.failed = reattach_failed,
				.verify = reattach_verify,
				.on_handle = 1,
				.eintr_retried = 1 };

	C.sub_flags = SHOAL_SUB_REATTACH;
	return run(&c);
}

/*
 * write is spared: shoal__fdserver_stop() stops the fd server's thread by
 * an eventfd write that cannot fail for real (the counter is far from its
 * maximum), and joins it: failing it by force hangs the join.
 */
static int test_destroy(void)
{
	struct fault_case c = { .name = "pub destroy, sub close",
				.setup = take_setup,
				.op = destroy_op,
				.verify = destroy_verify,
				.spare = " write " };

	C.sub_flags = 0;
	return run(&c);
}

int main(int argc, char **argv)
{
	static const struct fault_test_fn tests[] = {
		FAULT_TEST(test_create),   FAULT_TEST(test_open),
		FAULT_TEST(test_open_scm), FAULT_TEST(test_send),
		FAULT_TEST(test_take),	   FAULT_TEST(test_reattach),
		FAULT_TEST(test_destroy),
	};

	return fault_main(argc, argv, path, NULL, NULL, tests,
			  sizeof(tests) / sizeof(tests[0]));
}
