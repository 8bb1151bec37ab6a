/* shoal-test: label=multiproc timeout=300 args=5000 */
/*
 * A server whose response would not fit waits for room, woken by the
 * client that makes it (notify.c's protocol on the line's room_wait mark).
 *
 * Stream: a client process sends one request; the server (this process)
 * answers it with argv[1] responses (SHOAL_RPC_MORE on all but the last)
 * into a response ring of two slots, with a respond timeout far longer than
 * the test. Every response must go through (0, never -EAGAIN), and the
 * client must see every one, in order. Run once for each wait strategy of
 * the server and of the client; the client now and then dawdles, so the
 * server sleeps with a full ring.
 *
 * Death: a client that leaves its full response ring untaken and dies while
 * the server waits for room: the wait ends with -EPIPE, not at the respond
 * timeout.
 */
#include <limits.h>
#include <signal.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define SEC (1000 * 1000 * 1000LL)
#define RESP_CAP 2

struct ctl {
	_Atomic uint64_t responded;
	_Atomic int client_err;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t stream_len;

static struct shoal_registry *open_reg(void)
{
	struct shoal_registry *reg;

	if (test_registry_open(path, &reg))
		_exit(2);
	return reg;
}

static int create_server(const char *name, enum shoal_wait_strategy strategy,
			 struct shoal_registry *reg,
			 struct shoal_rpc_server **s)
{
	struct shoal_rpc_server_options so;

	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = 2;
	so.max_request = so.max_response = 8;
	so.response_capacity = RESP_CAP;
	so.strategy = strategy;
	/* Far longer than the test: a wait that ends by timing out fails. */
	so.send_timeout_ns = 3600 * SEC;
	return shoal_rpc_server_create(name, &so, s);
}

static int open_client(const char *name, enum shoal_wait_strategy strategy,
		       struct shoal_rpc_client **c)
{
	struct shoal_rpc_client_options co;

	shoal_rpc_client_options_init(&co);
	co.registry = open_reg();
	co.strategy = strategy;
	return shoal_rpc_client_open(name, &co, c);
}

/* Takes the stream and checks it: 0 if every response came, in order. */
static int stream_client(const char *name, enum shoal_wait_strategy strategy)
{
	struct shoal_rpc_client *c;
	uint64_t v = 0;

	if (open_client(name, strategy, &c))
		return 1;
	if (shoal_rpc_client_write(c, &v, sizeof(v), NULL))
		return 1;
	for (uint64_t k = 0; k < stream_len; k++) {
		struct shoal_response r;
		uint64_t got;
		int err = shoal_rpc_client_take(c, &r, 60 * SEC);

		if (err) {
			fprintf(stderr, "client: take %llu: %d %s\n",
				(unsigned long long)k, err, shoal_last_error());
			return 1;
		}
		memcpy(&got, r.data, sizeof(got));
		if (got != k ||
		    !!(r.flags & SHOAL_RPC_MORE) != (k + 1 < stream_len)) {
			fprintf(stderr, "client: response %llu is %llu\n",
				(unsigned long long)k, (unsigned long long)got);
			return 1;
		}
		/* Dawdle now and then (a few hundred spins), so that the
		 * server finds the ring full and goes to sleep. */
		if (psu_mix(k) % 16 == 0)
			for (volatile int i = 0; i < 20000; i++)
				;
		shoal_rpc_client_release(c, &r);
	}
	shoal_rpc_client_close(c);
	return 0;
}

static int stream_round(enum shoal_wait_strategy server_strategy,
			enum shoal_wait_strategy client_strategy)
{
	struct shoal_registry *reg = open_reg();
	struct shoal_rpc_server_stats st;
	struct shoal_request req;
	struct shoal_rpc_server *s;
	char name[64];
	pid_t pid;

	snprintf(name, sizeof(name), "room/stream-%d-%d", (int)server_strategy,
		 (int)client_strategy);
	CHECK_EQ(create_server(name, server_strategy, reg, &s), 0);
	pid = psu_fork();
	if (pid == 0)
		_exit(stream_client(name, client_strategy));
	CHECK_EQ(shoal_rpc_server_take(s, &req, 60 * SEC), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	for (uint64_t k = 0; k < stream_len; k++) {
		uint32_t flags = k + 1 < stream_len ? SHOAL_RPC_MORE : 0;
		int err = shoal_rpc_server_write(s, &req, &k, sizeof(k), flags);

		if (err)
			fprintf(stderr, "server: respond %llu: %d %s\n",
				(unsigned long long)k, err, shoal_last_error());
		CHECK_EQ(err, 0);
	}
	CHECK_EQ(test_wait_child(pid, 120), 1);
	shoal_rpc_server_get_stats(s, &st);
	CHECK_EQ(st.full, 0);
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_stream(void)
{
	static const enum shoal_wait_strategy strategies[] = {
		SHOAL_WAIT_BLOCK,
		SHOAL_WAIT_ADAPTIVE,
		SHOAL_WAIT_SPIN_YIELD,
	};

	for (unsigned i = 0; i < 3; i++)
		for (unsigned j = 0; j < 3; j++)
			CHECK_EQ(stream_round(strategies[i], strategies[j]),
				 TEST_PASS);
	return TEST_PASS;
}

/* Sends one request, waits until its response ring is full, then dies. */
static int dying_client(void)
{
	struct shoal_rpc_client *c;
	uint64_t v = 0;

	if (open_client("room/death", SHOAL_WAIT_ADAPTIVE, &c))
		return 1;
	if (shoal_rpc_client_write(c, &v, sizeof(v), NULL))
		return 1;
	while (atomic_load(&ctl->responded) < RESP_CAP)
		usleep(1000);
	/* SIGKILL ourselves: no close, the kernel drops the line lock. */
	raise(SIGKILL);
	return 1;
}

static int test_death(void)
{
	struct shoal_registry *reg = open_reg();
	struct shoal_request req;
	struct shoal_rpc_server *s;
	uint64_t k;
	int err;
	pid_t pid;

	CHECK_EQ(create_server("room/death", SHOAL_WAIT_BLOCK, reg, &s), 0);
	pid = psu_fork();
	if (pid == 0)
		_exit(dying_client());
	CHECK_EQ(shoal_rpc_server_take(s, &req, 60 * SEC), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	for (k = 0;; k++) {
		err = shoal_rpc_server_write(s, &req, &k, sizeof(k),
					     SHOAL_RPC_MORE);
		if (err)
			break;
		atomic_store(&ctl->responded, k + 1);
	}
	/* Either the wait found the client gone, or (had it died before we
	 * got there) the look before waiting did. */
	CHECK_EQ(err, -EPIPE);
	CHECK_EQ(k, RESP_CAP);
	waitpid(pid, NULL, 0);
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	stream_len = test_arg_u64(argc, argv, 1, 20000);
	psu_watchdog(290);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_stream);
	RUN(test_death);
	test_remove_tree(top);
	return test_result();
}
