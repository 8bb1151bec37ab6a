/* shoal-test: label=unit timeout=180 */
/*
 * Queues, request/response, events and channels when system calls fail
 * (test/fault.h): for each, create, open, a send that must wake a peer
 * that sleeps, a timed wait on nothing (take), and close/destroy, each
 * call failed in turn with each errno. A failed create leaves the registry
 * empty; a send that reports success has woken the sleeper; nothing leaks;
 * the next attempt works. An argument runs only the cases of patterns
 * whose name contains it (queue, rpc, event, channel).
 */
#include "fault.h"

static char path[PATH_MAX];

/* One pattern: an owner that creates, a peer that opens. */
struct pattern {
	const char *name;
	int uses_registry;
	int (*create)(void);
	int (*open)(void);
	int (*send)(void);	 /* wakes the sleeper */
	int (*arm)(void);	 /* the sleeper: 0 when it sleeps */
	int (*fd)(void);	 /* the sleeper's pollable fd */
	int (*receive)(void);	 /* the sleeper takes what was sent: 0 */
	int (*wait_empty)(void); /* a timed wait on nothing: -ETIMEDOUT */
	void (*close_peer)(void);
	void (*destroy)(void);
	int (*owner_made)(void);
	int (*peer_made)(void);
};

static uint64_t value;

/* queue: the peer consumes what the owner pushes ----------------------- */

static struct shoal_queue *qo, *qp;

static int q_create(void)
{
	struct shoal_queue_options o;

	shoal_queue_options_init(&o);
	o.capacity = 8;
	o.max_message = 64;
	o.max_participants = 4;
	o.role = SHOAL_QUEUE_PRODUCER;
	o.strategy = SHOAL_WAIT_BLOCK;
	return shoal_queue_create("q", &o, &qo);
}

static int q_open(void)
{
	struct shoal_queue_options o;

	shoal_queue_options_init(&o);
	o.role = SHOAL_QUEUE_CONSUMER;
	o.strategy = SHOAL_WAIT_BLOCK;
	return shoal_queue_open("q", &o, &qp);
}

static int q_send(void)
{
	value++;
	return shoal_queue_write(qo, &value, sizeof(value));
}

static int q_arm(void)
{
	return shoal_queue_arm(qp, SHOAL_QUEUE_CONSUMER);
}

static int q_fd(void)
{
	return shoal_queue_fd(qp);
}

static int q_receive(void)
{
	uint64_t v = 0;

	shoal_queue_disarm(qp);
	/* The last sent (two after a failed wake-up: send_verify()). */
	while (v != value)
		if (shoal_queue_read(qp, &v, sizeof(v), 0) != sizeof(v))
			return -1;
	return 0;
}

static int q_wait_empty(void)
{
	uint64_t v;
	ssize_t r = shoal_queue_read(qp, &v, sizeof(v), 2000000);

	return r >= 0 ? -EPROTO : (int)r;
}

static void q_close_peer(void)
{
	shoal_queue_close(qp);
	qp = NULL;
}

static void q_destroy(void)
{
	shoal_queue_close(qp);
	shoal_queue_destroy(qo);
	qp = qo = NULL;
}

static int q_owner_made(void)
{
	return qo != NULL;
}

static int q_peer_made(void)
{
	return qp != NULL;
}

/* rpc: the client's request wakes the server ------------------------- */

static struct shoal_rpc_server *srv;
static struct shoal_rpc_client *cli;

static int r_create(void)
{
	struct shoal_rpc_server_options o;

	shoal_rpc_server_options_init(&o);
	o.max_clients = 4;
	o.strategy = SHOAL_WAIT_BLOCK;
	return shoal_rpc_server_create("r", &o, &srv);
}

static int r_open(void)
{
	struct shoal_rpc_client_options o;

	shoal_rpc_client_options_init(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	return shoal_rpc_client_open("r", &o, &cli);
}

static int r_send(void)
{
	value++;
	return shoal_rpc_client_write(cli, &value, sizeof(value), NULL);
}

/* A client that just joined counts as news for the server: take it in. */
static int r_arm(void)
{
	struct shoal_request req;
	int r = 1;

	for (int i = 0; i < 4 && r == 1; i++) {
		r = shoal_rpc_server_arm(srv);
		if (r != 1)
			break;
		shoal_rpc_server_disarm(srv);
		if (shoal_rpc_server_take(srv, &req, 0) == 0)
			shoal_rpc_server_release(srv, &req);
	}
	return r;
}

static int r_fd(void)
{
	return shoal_rpc_server_fd(srv);
}

static int r_receive(void)
{
	struct shoal_request req;
	int ok;

	shoal_rpc_server_disarm(srv);
	/* The last sent (two after a failed wake-up: send_verify()). */
	do {
		if (shoal_rpc_server_take(srv, &req, 0))
			return -1;
		ok = req.len == sizeof(value) &&
		     !memcmp(req.data, &value, req.len);
		shoal_rpc_server_release(srv, &req);
	} while (!ok);
	return 0;
}

static int r_wait_empty(void)
{
	struct shoal_response resp;
	int r = shoal_rpc_client_take(cli, &resp, 2000000);

	if (r == 0)
		shoal_rpc_client_release(cli, &resp);
	return r >= 0 ? -EPROTO : r;
}

static void r_close_peer(void)
{
	shoal_rpc_client_close(cli);
	cli = NULL;
}

static void r_destroy(void)
{
	shoal_rpc_client_close(cli);
	shoal_rpc_server_destroy(srv);
	cli = NULL;
	srv = NULL;
}

static int r_owner_made(void)
{
	return srv != NULL;
}

static int r_peer_made(void)
{
	return cli != NULL;
}

/* event: the owner notifies id 1, the peer listens to it -------------- */

static struct shoal_event *eo, *ep;

static int e_create(void)
{
	struct shoal_event_options o;

	shoal_event_options_init(&o);
	o.ids = 64;
	o.max_listeners = 4;
	return shoal_event_create("e", &o, &eo);
}

/* Open and listen: one operation for the test, as a listener does. */
static int e_open(void)
{
	struct shoal_event_options o;
	struct shoal_event_set s;
	int r;

	shoal_event_options_init(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	r = shoal_event_open("e", &o, &ep);
	if (r)
		return r;
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, 1);
	r = shoal_event_listen(ep, &s);
	if (r) {
		shoal_event_close(ep);
		ep = NULL;
	}
	return r;
}

static int e_send(void)
{
	int r = shoal_event_notify(eo, 1);

	return r < 0 ? r : 0;
}

static int e_arm(void)
{
	return shoal_event_arm(ep);
}

static int e_fd(void)
{
	return shoal_event_fd(ep);
}

static int e_receive(void)
{
	struct shoal_event_set f;

	shoal_event_disarm(ep);
	return shoal_event_wait(ep, NULL, 0, &f) == 1 &&
			       shoal_event_set_has(&f, 1) ?
		       0 :
		       -1;
}

static int e_wait_empty(void)
{
	int r = shoal_event_wait(ep, NULL, 2000000, NULL);

	return r >= 0 ? -EPROTO : r;
}

static void e_close_peer(void)
{
	shoal_event_close(ep);
	ep = NULL;
}

static void e_destroy(void)
{
	shoal_event_close(ep);
	shoal_event_destroy(eo);
	ep = eo = NULL;
}

static int e_owner_made(void)
{
	return eo != NULL;
}

static int e_peer_made(void)
{
	return ep != NULL;
}

/* channel: no registry; the peer opens the creator's fds -------------- */

static struct shoal_channel *co, *cp;

static int c_create(void)
{
	struct shoal_channel_options o;

	shoal_channel_options_init(&o);
	o.capacity = 8;
	o.slot_size = 64;
	o.strategy = SHOAL_WAIT_BLOCK;
	o.send_timeout_ns = 0;
	return shoal_channel_create(NULL, &o, &co);
}

static int c_open(void)
{
	struct shoal_channel_options o;
	struct shoal_channel_fds fds;

	shoal_channel_options_init(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	shoal_channel_get_fds(co, &fds);
	return shoal_channel_open_fds(&fds, &o, &cp);
}

static int c_send(void)
{
	value++;
	return shoal_channel_write(co, &value, sizeof(value));
}

static int c_arm(void)
{
	return shoal_channel_arm(cp);
}

static int c_fd(void)
{
	return shoal_channel_fd(cp);
}

static int c_receive(void)
{
	uint64_t v = 0;

	shoal_channel_disarm(cp);
	/* The last sent (two after a failed wake-up: send_verify()). */
	while (v != value)
		if (shoal_channel_read(cp, &v, sizeof(v), 0) != sizeof(v))
			return -1;
	return 0;
}

static int c_wait_empty(void)
{
	uint64_t v;
	ssize_t r = shoal_channel_read(cp, &v, sizeof(v), 2000000);

	return r >= 0 ? -EPROTO : (int)r;
}

static void c_close_peer(void)
{
	shoal_channel_close(cp);
	cp = NULL;
}

static void c_destroy(void)
{
	shoal_channel_close(cp);
	shoal_channel_destroy(co);
	cp = co = NULL;
}

static int c_owner_made(void)
{
	return co != NULL;
}

static int c_peer_made(void)
{
	return cp != NULL;
}

static const struct pattern patterns[] = {
	{ "queue", 1, q_create, q_open, q_send, q_arm, q_fd, q_receive,
	  q_wait_empty, q_close_peer, q_destroy, q_owner_made, q_peer_made },
	{ "rpc", 1, r_create, r_open, r_send, r_arm, r_fd, r_receive,
	  r_wait_empty, r_close_peer, r_destroy, r_owner_made, r_peer_made },
	{ "event", 1, e_create, e_open, e_send, e_arm, e_fd, e_receive,
	  e_wait_empty, e_close_peer, e_destroy, e_owner_made, e_peer_made },
	{ "channel", 0, c_create, c_open, c_send, c_arm, c_fd, c_receive,
	  c_wait_empty, c_close_peer, c_destroy, c_owner_made, c_peer_made },
};

static const struct pattern *P;

/* The generic cases ---------------------------------------------------- */

static int registry_empty(void)
{
	int n = fault_dir_entries(path);

	if (n != 0)
		fprintf(stderr, "%d registry entries; ", n);
	return n == 0;
}

/* The pair works: a message sent to a sleeping peer wakes it. */
static int pair_works(void)
{
	struct pollfd p;

	if (P->arm() != 0 || P->send())
		return 0;
	p.fd = P->fd();
	p.events = POLLIN;
	if (poll(&p, 1, 10000) != 1) {
		fprintf(stderr, "the sleeping peer was not woken; ");
		return 0;
	}
	return P->receive() == 0;
}

static int create_op(void *x)
{
	(void)x;
	return P->create();
}

static int create_failed(void *x)
{
	(void)x;
	return P->owner_made() || (P->uses_registry && !registry_empty());
}

static int create_verify(void *x)
{
	(void)x;
	return P->open() || !pair_works();
}

static void teardown(void *x)
{
	(void)x;
	P->destroy();
}

static int open_setup(void *x)
{
	(void)x;
	return P->create();
}

static int open_op(void *x)
{
	(void)x;
	return P->open();
}

static int open_failed(void *x)
{
	(void)x;
	return P->peer_made();
}

static int open_verify(void *x)
{
	(void)x;
	return !pair_works();
}

static void open_undo(void *x)
{
	(void)x;
	P->close_peer();
}

static int pair_setup(void *x)
{
	(void)x;
	return P->create() || P->open() ? -1 : 0;
}

static int send_setup(void *x)
{
	(void)x;
	if (P->create() || P->open())
		return -1;
	return P->arm() == 0 ? 0 : -1;
}

static int send_op(void *x)
{
	(void)x;
	return P->send();
}

static int send_verify(void *x)
{
	if (fault_send_woke(P->fd(), send_op, x, "peer"))
		return 1;
	return P->receive() != 0;
}

static int wait_op(void *x)
{
	int r;

	(void)x;
	r = P->wait_empty();
	return r == -ETIMEDOUT ? 0 : r;
}

static int destroy_op(void *x)
{
	(void)x;
	P->destroy();
	return 0;
}

/* No live service is left (a stale file is tolerated, and cleaned). */
static int destroy_verify(void *x)
{
	int n, stale;

	(void)x;
	if (!P->uses_registry)
		return 0;
	if (fault_registry_left(path, &n, &stale))
		return 1;
	if (stale != 0)
		fprintf(stderr, "%d registry entries; ", stale);
	return n != 0 || stale != 0;
}

static int run_pattern(const struct pattern *p)
{
	char names[5][64];
	struct fault_case cases[5] = {
		{ .op = create_op,
		  .failed = create_failed,
		  .verify = create_verify },
		{ .setup = open_setup,
		  .op = open_op,
		  .failed = open_failed,
		  .verify = open_verify,
		  .undo = open_undo,
		  .eintr_retried = 1 },
		{ .ctx = (void *)1,
		  .setup = send_setup,
		  .op = send_op,
		  .verify = send_verify,
		  .on_handle = 1 },
		{ .setup = pair_setup,
		  .op = wait_op,
		  .on_handle = 1,
		  .eintr_retried = 1 },
		{ .setup = pair_setup,
		  .op = destroy_op,
		  .verify = destroy_verify,
		  .spare = " write " /* as in fault-pubsub.c test_destroy */ },
	};
	const char *what[5] = { "create", "open", "send", "take (timed wait)",
				"close/destroy" };
	int failed = 0;

	P = p;
	for (int i = 0; i < 5; i++) {
		snprintf(names[i], sizeof(names[i]), "%s %s", p->name, what[i]);
		cases[i].name = names[i];
		cases[i].teardown = teardown;
		if (fault_run(&cases[i]))
			failed = 1;
	}
	return failed ? TEST_FAIL : TEST_PASS;
}

static int test_queue(void)
{
	return run_pattern(&patterns[0]);
}

static int test_rpc(void)
{
	return run_pattern(&patterns[1]);
}

static int test_event(void)
{
	return run_pattern(&patterns[2]);
}

static int test_channel(void)
{
	return run_pattern(&patterns[3]);
}

/* An argument runs only the patterns whose case name contains it. */
int main(int argc, char **argv)
{
	static const struct fault_test_fn tests[] = {
		FAULT_TEST(test_queue),
		FAULT_TEST(test_rpc),
		FAULT_TEST(test_event),
		FAULT_TEST(test_channel),
	};

	return fault_main(argc, argv, path, NULL, NULL, tests,
			  sizeof(tests) / sizeof(tests[0]));
}
