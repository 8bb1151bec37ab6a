/* shoal-test: label=multiproc timeout=180 args=3 */
/*
 * Opening that waits for the service (timeout_ns in every pattern's open
 * options).
 *
 * For each pattern (a subscriber, a queue opener, an rpc client, an event
 * peer) a peer starts opening a name nobody has created yet, with a
 * generous timeout; another process creates the service only after the
 * peer said it is about to open. The open succeeds, whenever in its wait
 * the owner appears, and the peer works (a message, a request or an event
 * gets through). argv[1] rounds per pattern (default 3).
 *
 * Without an owner, timeout_ns > 0 ends in -ETIMEDOUT, timeout 0 is
 * -ENOENT at once, as before, and no fd is left behind either way.
 */
#include <limits.h>
#include <shoal/event.h>
#include <shoal/pubsub.h>
#include <shoal/queue.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

/* Long enough for the slowest sanitizer build on a loaded machine; the
 * open returns as soon as the owner appears. */
#define OPEN_TIMEOUT (60 * PSU_SEC)

enum kind {
	SUB,
	QUEUE,
	CLIENT,
	EVENT,
	KINDS
};
static const char *const kind_names[KINDS] = { "sub", "queue", "client",
					       "event" };

struct ctl {
	_Atomic int opening; /* the peer is about to open */
	_Atomic int done;    /* the peer is finished: the owner may go */
};

static char path[PATH_MAX];
static struct ctl *ctl;

/* The owner process: waits for the peer to start opening, creates the
 * service, serves one exchange, and stays until the peer is done. */
static int owner(enum kind k, const char *name)
{
	struct shoal_registry *r;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->opening), 60));
	if (k == SUB) {
		struct shoal_pub_options o;
		struct shoal_pub *p;
		uint32_t v = 42;

		shoal_pub_options_init(&o);
		o.registry = r;
		CHECK_EQ(shoal_pub_create(name, &o, &p), 0);
		CHECK(PSU_WAIT(shoal_pub_subscribers(p) == 1, 60));
		CHECK_EQ(shoal_pub_write(p, &v, sizeof(v), NULL), 0);
		CHECK(PSU_WAIT(atomic_load(&ctl->done), 60));
		shoal_pub_destroy(p);
	} else if (k == QUEUE) {
		struct shoal_queue_options o;
		struct shoal_queue *q;
		uint32_t v = 42;

		shoal_queue_options_init(&o);
		o.registry = r;
		CHECK_EQ(shoal_queue_create(name, &o, &q), 0);
		CHECK_EQ(shoal_queue_write(q, &v, sizeof(v)), 0);
		CHECK(PSU_WAIT(atomic_load(&ctl->done), 60));
		shoal_queue_destroy(q);
	} else if (k == CLIENT) {
		struct shoal_rpc_server_options o;
		struct shoal_rpc_server *s;
		struct shoal_request req;

		shoal_rpc_server_options_init(&o);
		o.registry = r;
		CHECK_EQ(shoal_rpc_server_create(name, &o, &s), 0);
		CHECK_EQ(shoal_rpc_server_take(s, &req, OPEN_TIMEOUT), 0);
		CHECK_EQ(shoal_rpc_server_write(s, &req, req.data, req.len, 0),
			 0);
		CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
		CHECK(PSU_WAIT(atomic_load(&ctl->done), 60));
		shoal_rpc_server_destroy(s);
	} else {
		struct shoal_event_options o;
		struct shoal_event *ev;

		shoal_event_options_init(&o);
		o.registry = r;
		CHECK_EQ(shoal_event_create(name, &o, &ev), 0);
		/* Until the peer listens, a notify reaches nobody. */
		while (!atomic_load(&ctl->done)) {
			shoal_event_notify(ev, 3);
			usleep(1000);
		}
		shoal_event_destroy(ev);
	}
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/* The peer: opens before the owner exists, then one exchange. */
static int peer(enum kind k, const char *name, struct shoal_registry *r)
{
	uint32_t v = 0;

	atomic_store(&ctl->opening, 1);
	if (k == SUB) {
		struct shoal_sub_options o;
		struct shoal_sub *s;

		shoal_sub_options_init(&o);
		o.registry = r;
		o.timeout_ns = OPEN_TIMEOUT;
		CHECK_EQ(shoal_sub_open(name, &o, &s), 0);
		CHECK_EQ(shoal_sub_read(s, &v, sizeof(v), NULL, NULL,
					OPEN_TIMEOUT),
			 4);
		shoal_sub_close(s);
	} else if (k == QUEUE) {
		struct shoal_queue_options o;
		struct shoal_queue *q;

		shoal_queue_options_init(&o);
		o.registry = r;
		o.timeout_ns = OPEN_TIMEOUT;
		CHECK_EQ(shoal_queue_open(name, &o, &q), 0);
		CHECK_EQ(shoal_queue_read(q, &v, sizeof(v), OPEN_TIMEOUT), 4);
		shoal_queue_close(q);
	} else if (k == CLIENT) {
		struct shoal_rpc_client_options o;
		struct shoal_rpc_client *c;
		uint32_t req = 42;

		shoal_rpc_client_options_init(&o);
		o.registry = r;
		o.timeout_ns = OPEN_TIMEOUT;
		CHECK_EQ(shoal_rpc_client_open(name, &o, &c), 0);
		CHECK_EQ(shoal_rpc_client_call(c, &req, sizeof(req), &v,
					       sizeof(v), NULL, OPEN_TIMEOUT),
			 4);
		shoal_rpc_client_close(c);
	} else {
		struct shoal_event_options o;
		struct shoal_event *ev;
		struct shoal_event_set s, fired;

		shoal_event_options_init(&o);
		o.registry = r;
		o.timeout_ns = OPEN_TIMEOUT;
		CHECK_EQ(shoal_event_open(name, &o, &ev), 0);
		shoal_event_set_clear(&s);
		shoal_event_set_add(&s, 3);
		CHECK_EQ(shoal_event_listen(ev, &s), 0);
		CHECK(shoal_event_wait(ev, &s, OPEN_TIMEOUT, &fired) > 0);
		v = 42;
		shoal_event_close(ev);
	}
	CHECK_EQ(v, 42);
	return TEST_PASS;
}

static int round_of(enum kind k, int n)
{
	struct shoal_registry *r;
	char name[64];
	pid_t pid;
	int ok;

	snprintf(name, sizeof(name), "wait/%s-%d", kind_names[k], n);
	memset(ctl, 0, sizeof(*ctl));
	CHECK_EQ(test_registry_open(path, &r), 0);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(owner(k, name));
	ok = peer(k, name, r) == TEST_PASS;
	atomic_store(&ctl->done, 1);
	CHECK(test_wait_child(pid, 120));
	shoal_registry_destroy(r);
	if (!ok)
		fprintf(stderr, "%s round %d failed\n", kind_names[k], n);
	return ok ? TEST_PASS : TEST_FAIL;
}

static uint64_t rounds = 3;

static int test_owner_appears_later(void)
{
	for (int k = 0; k < KINDS; k++)
		for (uint64_t n = 0; n < rounds; n++)
			CHECK_EQ(round_of((enum kind)k, (int)n), TEST_PASS);
	return TEST_PASS;
}

/* Opens @name with @timeout_ns as pattern @k; the answer. */
static int try_open(enum kind k, struct shoal_registry *r, const char *name,
		    int64_t timeout_ns)
{
	int err;

	if (k == SUB) {
		struct shoal_sub_options o;
		struct shoal_sub *s = NULL;

		shoal_sub_options_init(&o);
		o.registry = r;
		o.timeout_ns = timeout_ns;
		err = shoal_sub_open(name, &o, &s);
		shoal_sub_close(s);
	} else if (k == QUEUE) {
		struct shoal_queue_options o;
		struct shoal_queue *q = NULL;

		shoal_queue_options_init(&o);
		o.registry = r;
		o.timeout_ns = timeout_ns;
		err = shoal_queue_open(name, &o, &q);
		shoal_queue_close(q);
	} else if (k == CLIENT) {
		struct shoal_rpc_client_options o;
		struct shoal_rpc_client *c = NULL;

		shoal_rpc_client_options_init(&o);
		o.registry = r;
		o.timeout_ns = timeout_ns;
		err = shoal_rpc_client_open(name, &o, &c);
		shoal_rpc_client_close(c);
	} else {
		struct shoal_event_options o;
		struct shoal_event *ev = NULL;

		shoal_event_options_init(&o);
		o.registry = r;
		o.timeout_ns = timeout_ns;
		err = shoal_event_open(name, &o, &ev);
		shoal_event_close(ev);
	}
	return err;
}

static int test_timeout_expires(void)
{
	struct shoal_registry *r;
	int fds;

	CHECK_EQ(test_registry_open(path, &r), 0);
	fds = test_count_fds();
	for (int k = 0; k < KINDS; k++) {
		int64_t t0 = psu_now_ns();

		CHECK_EQ(try_open((enum kind)k, r, "wait/nobody", 0), -ENOENT);
		CHECK_EQ(try_open((enum kind)k, r, "wait/nobody",
				  20 * 1000 * 1000),
			 -ETIMEDOUT);
		/* Not a timing assertion: it waited at least what it was
		 * given (the clock is monotonic). */
		CHECK(psu_now_ns() - t0 >= 20 * 1000 * 1000);
	}
	CHECK_EQ(test_count_fds(), fds);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	rounds = test_arg_u64(argc, argv, 1, 3);
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	RUN(test_timeout_expires);
	RUN(test_owner_appears_later);
	return test_result();
}
