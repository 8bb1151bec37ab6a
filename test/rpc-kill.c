/* shoal-test: label=multiproc timeout=120 */
/*
 * Processes that die mid-conversation.
 *
 * A client SIGKILLed with requests in flight (argv[1] rounds, default 50):
 * the server (this process, two client lines) carries on. Each round a
 * victim process fills its request ring and is killed, sometimes while the
 * server holds one of its requests, sometimes while its response ring is
 * full. The server must: keep answering a steady client in another process
 * (which checks every answer), notice the death by itself (stats.lost goes
 * up by one, its unread requests counted in stats.dropped), answer a held
 * request of the dead client with 0 or -EPIPE, never more, and free the
 * line, which the next victim then claims again (there is only one line
 * for victims).
 *
 * The server SIGKILLed: three client processes, one blocking, one adaptive
 * and one polling its fd, each with one request answered and one taken but
 * never answered: each gets its answer, then -EPIPE from a take that would
 * wait forever, and -EPIPE from a later loan. Never a hang: a watchdog
 * fails the test.
 */
#include <limits.h>
#include <poll.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define SEC (1000 * 1000 * 1000LL)
#define MS (1000 * 1000LL)
#define REQ_CAP 8

struct ctl {
	_Atomic int server_up;
	_Atomic int victim_ready;
	_Atomic int stop;
	_Atomic uint64_t steady_calls;
	_Atomic int clients_ready;
};

static char path[PATH_MAX];
static struct ctl *ctl;

static struct shoal_registry *open_reg(void)
{
	struct shoal_registry *reg;

	if (test_registry_open(path, &reg))
		_exit(2);
	return reg;
}

/* Calls "kill/client" until told to stop, checking every answer. */
static int steady_main(void)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_client *c;
	uint64_t k = 0;

	shoal_rpc_client_options_init(&co);
	co.registry = open_reg();
	if (shoal_rpc_client_open("kill/client", &co, &c))
		return 1;
	while (!atomic_load(&ctl->stop)) {
		uint64_t v = psu_mix(k), w = 0;
		ssize_t n = shoal_rpc_client_call(c, &v, sizeof(v), &w,
						  sizeof(w), NULL, 10 * SEC);

		if (n != sizeof(w) || w != v + 1) {
			fprintf(stderr, "steady: call %llu: %zd %s\n",
				(unsigned long long)k, n, shoal_last_error());
			return 1;
		}
		atomic_store(&ctl->steady_calls, ++k);
	}
	shoal_rpc_client_close(c);
	return 0;
}

/* Fills its request ring, says so, then waits to be killed. */
static int victim_main(void)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_client *c;

	shoal_rpc_client_options_init(&co);
	co.registry = open_reg();
	if (shoal_rpc_client_open("kill/client", &co, &c)) {
		fprintf(stderr, "victim: %s\n", shoal_last_error());
		return 1;
	}
	for (uint64_t k = 0; k < REQ_CAP; k++) {
		uint64_t v = k;

		if (shoal_rpc_client_write(c, &v, sizeof(v), NULL))
			return 1;
	}
	atomic_store(&ctl->victim_ready, 1);
	for (;;)
		pause();
}

static int answer(struct shoal_rpc_server *s, struct shoal_request *req)
{
	uint64_t v;

	memcpy(&v, req->data, sizeof(v));
	v++;
	shoal_rpc_server_release(s, req);
	return shoal_rpc_server_write(s, req, &v, sizeof(v), 0);
}

static unsigned kill_rounds;

static int test_kill_client(void)
{
	unsigned rounds = kill_rounds;
	struct shoal_rpc_server_options so;
	struct shoal_rpc_server_stats st;
	struct shoal_rpc_server *s;
	struct shoal_registry *reg = open_reg();
	pid_t steady;

	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = 2;
	so.request_capacity = REQ_CAP;
	so.response_capacity = 2; /* a victim's ring fills at once */
	so.send_timeout_ns = 0;
	so.max_request = so.max_response = 8;
	CHECK_EQ(shoal_rpc_server_create("kill/client", &so, &s), 0);
	steady = psu_fork();
	if (steady == 0)
		_exit(steady_main());
	for (unsigned r = 0; r < rounds; r++) {
		struct shoal_request held;
		int holding = 0, held_done = 0, killed = 0;
		uint64_t calls_before = atomic_load(&ctl->steady_calls);
		int64_t end = psu_now_ns() + 20 * SEC;
		pid_t victim;

		atomic_store(&ctl->victim_ready, 0);
		victim = psu_fork();
		if (victim == 0)
			_exit(victim_main());
		for (;;) {
			struct shoal_request req;
			int err;

			CHECK(psu_now_ns() < end);
			if (holding && killed) {
				/* Its client died while we held it: the line
				 * waits for the release; the answer goes
				 * nowhere. */
				err = answer(s, &held);
				CHECK(err == 0 || err == -EAGAIN ||
				      err == -EPIPE);
				holding = 0;
				held_done = 1;
			}
			shoal_rpc_server_get_stats(s, &st);
			if (killed && st.lost == r + 1 &&
			    atomic_load(&ctl->steady_calls) > calls_before + 10)
				break;
			if (!killed && atomic_load(&ctl->victim_ready) &&
			    (r % 2 == 0 || holding)) {
				kill(victim, SIGKILL);
				waitpid(victim, NULL, 0);
				killed = 1;
			}
			err = shoal_rpc_server_take(s, &req, 10 * MS);
			if (err == -ETIMEDOUT)
				continue;
			CHECK_EQ(err, 0);
			if (req.pid == victim && r % 2 && !holding &&
			    !held_done) {
				/* Odd rounds: hold one across the death. */
				held = req;
				holding = 1;
				continue;
			}
			err = answer(s, &req);
			/* A victim's answers fill its ring (-EAGAIN) or
			 * find it gone (-EPIPE); the steady client's
			 * always go through. */
			if (req.pid == victim)
				CHECK(err == 0 || err == -EAGAIN ||
				      err == -EPIPE);
			else
				CHECK_EQ(err, 0);
		}
	}
	shoal_rpc_server_get_stats(s, &st);
	fprintf(stderr,
		"kill client: %u rounds, %llu lost, %llu dropped, %llu "
		"refused (ring full), %llu steady calls\n",
		rounds, (unsigned long long)st.lost,
		(unsigned long long)st.dropped, (unsigned long long)st.full,
		(unsigned long long)atomic_load(&ctl->steady_calls));
	CHECK_EQ(st.lost, rounds);
	CHECK(st.dropped <= (uint64_t)rounds * REQ_CAP);
	CHECK_EQ(st.joined, rounds + 1);
	CHECK_EQ(shoal_rpc_server_clients(s), 1);
	atomic_store(&ctl->stop, 1);
	/* Keep serving until the steady client has finished its call. */
	while (waitpid(steady, NULL, WNOHANG) == 0) {
		struct shoal_request req;

		if (shoal_rpc_server_take(s, &req, 10 * MS) == 0)
			answer(s, &req);
	}
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Answers each client's first request and takes the second unanswered. */
static int doomed_server_main(int nclients)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_server *s;
	int taken = 0;

	shoal_rpc_server_options_init(&so);
	so.registry = open_reg();
	if (shoal_rpc_server_create("kill/server", &so, &s))
		return 1;
	atomic_store(&ctl->server_up, 1);
	while (taken < 2 * nclients) {
		struct shoal_request req;
		uint64_t v;

		if (shoal_rpc_server_take(s, &req, 10 * SEC))
			return 1;
		memcpy(&v, req.data, sizeof(v));
		if (v == 0 && answer(s, &req))
			return 1;
		taken++;
	}
	for (;;)
		pause(); /* until SIGKILL */
}

static int doomed_client_main(int mode)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_client *c;
	struct shoal_response r;
	uint64_t v = 0, w;
	void *ptr;
	int err;

	shoal_rpc_client_options_init(&co);
	co.registry = open_reg();
	co.strategy = mode == 0 ? SHOAL_WAIT_BLOCK : SHOAL_WAIT_ADAPTIVE;
	if (shoal_rpc_client_open("kill/server", &co, &c))
		return 1;
	if (shoal_rpc_client_write(c, &v, sizeof(v), NULL))
		return 1;
	v = 1;
	if (shoal_rpc_client_write(c, &v, sizeof(v), NULL))
		return 1;
	if (shoal_rpc_client_take(c, &r, 10 * SEC) || r.len != sizeof(w))
		return 1;
	memcpy(&w, r.data, sizeof(w));
	shoal_rpc_client_release(c, &r);
	if (w != 1)
		return 1;
	atomic_fetch_add(&ctl->clients_ready, 1);
	if (mode == 2) {
		struct pollfd p = { .fd = shoal_rpc_client_fd(c),
				    .events = POLLIN };

		if (shoal_rpc_client_arm(c) == 0) {
			if (poll(&p, 1, -1) != 1)
				return 1;
			shoal_rpc_client_disarm(c);
		}
		err = shoal_rpc_client_take(c, &r, 0);
	} else {
		err = shoal_rpc_client_take(c, &r, SHOAL_WAIT_FOREVER);
	}
	if (err != -EPIPE) {
		fprintf(stderr, "client %d: take gave %d\n", mode, err);
		return 1;
	}
	if (shoal_rpc_client_loan(c, 8, &ptr) != -EPIPE)
		return 1;
	shoal_rpc_client_close(c);
	return 0;
}

static int test_kill_server(void)
{
	pid_t server, clients[3];

	atomic_store(&ctl->server_up, 0);
	atomic_store(&ctl->clients_ready, 0);
	server = psu_fork();
	if (server == 0)
		_exit(doomed_server_main(3));
	CHECK(PSU_WAIT(atomic_load(&ctl->server_up), 10));
	for (int k = 0; k < 3; k++) {
		clients[k] = psu_fork();
		if (clients[k] == 0)
			_exit(doomed_client_main(k));
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->clients_ready) == 3, 20));
	usleep(20 * 1000); /* let them block */
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	CHECK(psu_wait_all(clients, 3, 20));
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	unsigned rounds = (unsigned)test_arg_u64(argc, argv, 1, 50);
	char top[PATH_MAX];

	psu_watchdog(110);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	kill_rounds = rounds;
	RUN(test_kill_client);
	RUN(test_kill_server);
	test_remove_tree(top);
	return test_result();
}
