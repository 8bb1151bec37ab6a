/* shoal-test: label=unit timeout=60 */
/*
 * Request/response in one process (and one forked server for the blocking
 * call): a round trip with its correlation id and client line, routing
 * between two clients, a stream of responses (SHOAL_RPC_MORE), responding
 * after release, timeouts (-ETIMEDOUT, -EAGAIN), -EEXIST / -ENOENT, the
 * type check (-EPROTO naming both types), the client limit (-EBUSY, and the
 * line coming back after a close), a full request ring (-EAGAIN),
 * -EMSGSIZE, a closed client's requests dropped and counted, the server's
 * end as the client sees it (what was answered, then -EPIPE), the pollable
 * fds, shoal_rpc_inspect(), fds by SCM_RIGHTS, and no fd left behind.
 */
#include <limits.h>
#include <poll.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MS (1000 * 1000LL)

static char path[PATH_MAX];
static struct shoal_registry *reg;

static void srv_opts(struct shoal_rpc_server_options *o)
{
	shoal_rpc_server_options_init(o);
	o->registry = reg;
}

static void cli_opts(struct shoal_rpc_client_options *o)
{
	shoal_rpc_client_options_init(o);
	o->registry = reg;
}

static int open_pair(const char *name, struct shoal_rpc_server **s,
		     struct shoal_rpc_client **c)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	int err;

	srv_opts(&so);
	cli_opts(&co);
	err = shoal_rpc_server_create(name, &so, s);
	if (err)
		return err;
	return shoal_rpc_client_open(name, &co, c);
}

/* Takes one request and answers it with its own bytes reversed. */
static int serve_one(struct shoal_rpc_server *s, uint32_t flags)
{
	struct shoal_request req;
	char buf[256];
	int err = shoal_rpc_server_take(s, &req, 1000 * MS);

	if (err)
		return err;
	for (uint32_t k = 0; k < req.len; k++)
		buf[k] = ((const char *)req.data)[req.len - 1 - k];
	err = shoal_rpc_server_write(s, &req, buf, req.len, flags);
	shoal_rpc_server_release(s, &req);
	return err;
}

static int test_round_trip(void)
{
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c;
	struct shoal_request req;
	struct shoal_response r;
	struct shoal_rpc_server_stats ss;
	struct shoal_rpc_client_stats cs;
	uint64_t id, id2;
	void *ptr;

	CHECK_EQ(open_pair("rpc/rt", &s, &c), 0);
	CHECK_EQ(shoal_rpc_client_loan(c, 5, &ptr), 0);
	memcpy(ptr, "hello", 5);
	CHECK_EQ(shoal_rpc_client_send(c, ptr, 5, &id), 0);
	CHECK(id != 0);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 1000 * MS), 0);
	CHECK_EQ(req.len, 5);
	CHECK(!memcmp(req.data, "hello", 5));
	CHECK_EQ(req.id, id);
	CHECK_EQ(req.client, shoal_rpc_client_line(c));
	CHECK_EQ(req.pid, getpid());
	CHECK_EQ(shoal_rpc_server_write(s, &req, "olleh", 5, 0), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), -EINVAL);
	CHECK_EQ(shoal_rpc_client_take(c, &r, 1000 * MS), 0);
	CHECK_EQ(r.id, id);
	CHECK_EQ(r.len, 5);
	CHECK_EQ(r.flags, 0);
	CHECK(!memcmp(r.data, "olleh", 5));
	CHECK_EQ(shoal_rpc_client_take(c, &r, 0), -EBUSY);
	CHECK_EQ(shoal_rpc_client_release(c, &r), 0);

	/* A zero-length request and response; ids grow. */
	CHECK_EQ(shoal_rpc_client_write(c, NULL, 0, &id2), 0);
	CHECK(id2 > id);
	CHECK_EQ(serve_one(s, SHOAL_RPC_ERROR), 0);
	CHECK_EQ(shoal_rpc_client_take(c, &r, 1000 * MS), 0);
	CHECK_EQ(r.id, id2);
	CHECK_EQ(r.len, 0);
	CHECK_EQ(r.flags, SHOAL_RPC_ERROR);
	CHECK_EQ(shoal_rpc_client_release(c, &r), 0);

	/* Nothing pending: -EAGAIN at once, -ETIMEDOUT after a wait. */
	CHECK_EQ(shoal_rpc_client_take(c, &r, 0), -EAGAIN);
	CHECK_EQ(shoal_rpc_client_take(c, &r, 2 * MS), -ETIMEDOUT);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 0), -EAGAIN);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 2 * MS), -ETIMEDOUT);

	shoal_rpc_server_get_stats(s, &ss);
	CHECK_EQ(ss.requests, 2);
	CHECK_EQ(ss.responses, 2);
	CHECK_EQ(ss.joined, 1);
	CHECK_EQ(ss.clients, 1);
	CHECK_EQ(ss.lost, 0);
	shoal_rpc_client_get_stats(c, &cs);
	CHECK_EQ(cs.sent, 2);
	CHECK_EQ(cs.received, 2);
	shoal_rpc_client_close(c);
	shoal_rpc_server_destroy(s);
	return TEST_PASS;
}

/* Responses go only to the client that asked, whatever the order. */
static int test_routing(void)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c[2];
	struct shoal_request req[6];
	struct shoal_response r;
	uint64_t ids[2][3];

	CHECK_EQ(open_pair("rpc/route", &s, &c[0]), 0);
	cli_opts(&co);
	CHECK_EQ(shoal_rpc_client_open("rpc/route", &co, &c[1]), 0);
	CHECK(shoal_rpc_client_line(c[0]) != shoal_rpc_client_line(c[1]));
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 2; j++) {
			char b[2] = { (char)('a' + j), (char)('0' + k) };

			CHECK_EQ(shoal_rpc_client_write(c[j], b, 2, &ids[j][k]),
				 0);
		}
	/* Take all six (one held per client at a time: release, then
	 * answer later, in reverse order). */
	for (int k = 0; k < 6; k++) {
		CHECK_EQ(shoal_rpc_server_take(s, &req[k], 100 * MS), 0);
		CHECK_EQ(shoal_rpc_server_release(s, &req[k]), 0);
	}
	for (int k = 5; k >= 0; k--) {
		char b[16];
		int n = snprintf(b, sizeof(b), "%u:%llu", req[k].client,
				 (unsigned long long)req[k].id);

		CHECK_EQ(shoal_rpc_server_write(s, &req[k], b, (uint32_t)n, 0),
			 0);
	}
	for (int j = 0; j < 2; j++) {
		int seen = 0;

		for (int k = 0; k < 3; k++) {
			char want[16];
			int n, hit = 0;

			CHECK_EQ(shoal_rpc_client_take(c[j], &r, 100 * MS), 0);
			n = snprintf(want, sizeof(want), "%u:%llu",
				     shoal_rpc_client_line(c[j]),
				     (unsigned long long)r.id);
			CHECK_EQ(r.len, n);
			CHECK(!memcmp(r.data, want, (size_t)n));
			for (int m = 0; m < 3; m++)
				if (ids[j][m] == r.id) {
					hit = 1;
					seen |= 1 << m;
				}
			CHECK(hit);
			CHECK_EQ(shoal_rpc_client_release(c[j], &r), 0);
		}
		CHECK_EQ(seen, 7);
		CHECK_EQ(shoal_rpc_client_take(c[j], &r, 0), -EAGAIN);
	}
	shoal_rpc_client_close(c[0]);
	shoal_rpc_client_close(c[1]);
	shoal_rpc_server_destroy(s);
	return TEST_PASS;
}

static int test_stream(void)
{
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c;
	struct shoal_request req;
	struct shoal_response r;
	uint64_t id;

	CHECK_EQ(open_pair("rpc/stream", &s, &c), 0);
	CHECK_EQ(shoal_rpc_client_write(c, "n", 1, &id), 0);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 100 * MS), 0);
	for (uint32_t k = 0; k < 5; k++)
		CHECK_EQ(shoal_rpc_server_write(s, &req, &k, sizeof(k),
						k < 4 ? SHOAL_RPC_MORE : 0),
			 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	CHECK_EQ(shoal_rpc_server_write(s, &req, "x", 1, 0x80), -EINVAL);
	for (uint32_t k = 0; k < 5; k++) {
		uint32_t v;

		CHECK_EQ(shoal_rpc_client_take(c, &r, 100 * MS), 0);
		CHECK_EQ(r.id, id);
		CHECK_EQ(r.len, sizeof(v));
		memcpy(&v, r.data, sizeof(v));
		CHECK_EQ(v, k);
		CHECK_EQ(r.flags, k < 4 ? SHOAL_RPC_MORE : 0);
		CHECK_EQ(shoal_rpc_client_release(c, &r), 0);
	}
	shoal_rpc_client_close(c);
	shoal_rpc_server_destroy(s);
	return TEST_PASS;
}

static int test_exists_missing_type(void)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	struct shoal_rpc_server *s, *s2;
	struct shoal_rpc_client *c;

	cli_opts(&co);
	CHECK_EQ(shoal_rpc_client_open("rpc/none", &co, &c), -ENOENT);
	srv_opts(&so);
	so.type_name = "calc.v1";
	so.type_size = 16;
	so.type_align = 8;
	CHECK_EQ(shoal_rpc_server_create("rpc/typed", &so, &s), 0);
	CHECK_EQ(shoal_rpc_server_create("rpc/typed", &so, &s2), -EEXIST);
	co.type_name = "calc.v2";
	co.type_size = 16;
	co.type_align = 8;
	CHECK_EQ(shoal_rpc_client_open("rpc/typed", &co, &c), -EPROTO);
	CHECK(strstr(shoal_last_error(), "calc.v1"));
	CHECK(strstr(shoal_last_error(), "calc.v2"));
	co.type_name = "calc.v1";
	co.type_size = 24;
	CHECK_EQ(shoal_rpc_client_open("rpc/typed", &co, &c), -EPROTO);
	co.type_size = 16;
	CHECK_EQ(shoal_rpc_client_open("rpc/typed", &co, &c), 0);
	shoal_rpc_client_close(c);
	co.type_name = NULL; /* untyped clients accept any */
	CHECK_EQ(shoal_rpc_client_open("rpc/typed", &co, &c), 0);
	shoal_rpc_client_close(c);
	shoal_rpc_server_destroy(s);

	/* Not request/response: -EPROTO. */
	{
		struct shoal_pub_options po;
		struct shoal_pub *p;

		shoal_pub_options_init(&po);
		po.registry = reg;
		CHECK_EQ(shoal_pub_create("rpc/notrpc", &po, &p), 0);
		cli_opts(&co);
		CHECK_EQ(shoal_rpc_client_open("rpc/notrpc", &co, &c), -EPROTO);
		shoal_pub_destroy(p);
	}
	/* Bad options. */
	srv_opts(&so);
	so.request_capacity = 3;
	CHECK_EQ(shoal_rpc_server_create("rpc/bad", &so, &s), -EINVAL);
	srv_opts(&so);
	so.max_clients = 0;
	CHECK_EQ(shoal_rpc_server_create("rpc/bad", &so, &s), -EINVAL);
	return TEST_PASS;
}

static int test_limits(void)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c[3];
	struct shoal_request req;
	struct shoal_rpc_server_stats st;
	void *ptr;

	srv_opts(&so);
	so.max_clients = 2;
	so.request_capacity = 4;
	so.max_request = 64;
	CHECK_EQ(shoal_rpc_server_create("rpc/limits", &so, &s), 0);
	cli_opts(&co);
	CHECK_EQ(shoal_rpc_client_open("rpc/limits", &co, &c[0]), 0);
	CHECK_EQ(shoal_rpc_client_open("rpc/limits", &co, &c[1]), 0);
	CHECK_EQ(shoal_rpc_client_open("rpc/limits", &co, &c[2]), -EBUSY);
	CHECK(strstr(shoal_last_error(), "limit of 2"));

	CHECK_EQ(shoal_rpc_client_loan(c[0], 65, &ptr), -EMSGSIZE);
	for (int k = 0; k < 4; k++)
		CHECK_EQ(shoal_rpc_client_write(c[0], "r", 1, NULL), 0);
	CHECK_EQ(shoal_rpc_client_write(c[0], "r", 1, NULL), -EAGAIN);
	CHECK_EQ(shoal_rpc_client_loan(c[0], 1, &ptr), -EAGAIN);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 100 * MS), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	CHECK_EQ(shoal_rpc_client_loan(c[0], 1, &ptr), 0);
	CHECK_EQ(shoal_rpc_client_loan(c[0], 1, &ptr), -EBUSY);
	CHECK_EQ(shoal_rpc_client_send(c[0], (char *)ptr + 1, 1, NULL),
		 -EINVAL);
	CHECK_EQ(shoal_rpc_client_abort(c[0], ptr), 0);

	/* A client that leaves with 3 requests not taken: the server drops
	 * them and frees the line. */
	shoal_rpc_client_close(c[0]);
	CHECK_EQ(shoal_rpc_server_clients(s), 1);
	shoal_rpc_server_get_stats(s, &st);
	CHECK_EQ(st.lost, 1);
	CHECK_EQ(st.dropped, 3);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 0), -EAGAIN);
	/* Answering a request of the client that left: -EPIPE. */
	CHECK_EQ(shoal_rpc_server_write(s, &req, "x", 1, 0), -EPIPE);
	CHECK_EQ(shoal_rpc_client_open("rpc/limits", &co, &c[2]), 0);
	CHECK_EQ(shoal_rpc_client_write(c[2], "z", 1, NULL), 0);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 100 * MS), 0);
	CHECK_EQ(req.client, shoal_rpc_client_line(c[2]));
	CHECK_EQ(*(const char *)req.data, 'z');
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
	shoal_rpc_client_close(c[1]);
	shoal_rpc_client_close(c[2]);
	shoal_rpc_server_destroy(s);
	return TEST_PASS;
}

static int test_server_gone(void)
{
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c;
	struct shoal_response r;
	void *ptr;

	CHECK_EQ(open_pair("rpc/gone", &s, &c), 0);
	CHECK(shoal_rpc_client_connected(c));
	CHECK_EQ(shoal_rpc_client_write(c, "ab", 2, NULL), 0);
	CHECK_EQ(serve_one(s, 0), 0);
	shoal_rpc_server_destroy(s);
	CHECK(!shoal_rpc_client_connected(c));
	/* The answer sent before the end, then -EPIPE. */
	CHECK_EQ(shoal_rpc_client_take(c, &r, 100 * MS), 0);
	CHECK(!memcmp(r.data, "ba", 2));
	CHECK_EQ(shoal_rpc_client_release(c, &r), 0);
	CHECK_EQ(shoal_rpc_client_take(c, &r, 100 * MS), -EPIPE);
	CHECK_EQ(shoal_rpc_client_take(c, &r, SHOAL_WAIT_FOREVER), -EPIPE);
	CHECK_EQ(shoal_rpc_client_loan(c, 1, &ptr), -EPIPE);
	shoal_rpc_client_close(c);
	return TEST_PASS;
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static int test_pollable(void)
{
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c;
	struct shoal_request req;
	struct shoal_response r;

	CHECK_EQ(open_pair("rpc/poll", &s, &c), 0);
	/* The join set the client's bit: let the server see it. */
	CHECK_EQ(shoal_rpc_server_take(s, &req, 0), -EAGAIN);
	CHECK_EQ(shoal_rpc_server_arm(s), 0);
	CHECK(!readable(shoal_rpc_server_fd(s), 0));
	CHECK_EQ(shoal_rpc_client_write(c, "q", 1, NULL), 0);
	CHECK(readable(shoal_rpc_server_fd(s), 1000));
	shoal_rpc_server_disarm(s);
	CHECK_EQ(shoal_rpc_server_take(s, &req, 0), 0);
	CHECK_EQ(shoal_rpc_server_arm(s), 0);
	shoal_rpc_server_disarm(s);

	CHECK_EQ(shoal_rpc_client_arm(c), 0);
	CHECK(!readable(shoal_rpc_client_fd(c), 0));
	CHECK_EQ(shoal_rpc_server_write(s, &req, "a", 1, 0), 0);
	CHECK(readable(shoal_rpc_client_fd(c), 1000));
	shoal_rpc_client_disarm(c);
	CHECK_EQ(shoal_rpc_client_arm(c), 1); /* pending: do not poll */
	CHECK_EQ(shoal_rpc_client_take(c, &r, 0), 0);
	CHECK_EQ(shoal_rpc_client_release(c, &r), 0);
	CHECK_EQ(shoal_rpc_server_release(s, &req), 0);

	/* The server's end wakes an armed client too. */
	CHECK_EQ(shoal_rpc_client_arm(c), 0);
	shoal_rpc_server_destroy(s);
	CHECK(readable(shoal_rpc_client_fd(c), 1000));
	shoal_rpc_client_disarm(c);
	CHECK_EQ(shoal_rpc_client_take(c, &r, 0), -EPIPE);
	shoal_rpc_client_close(c);
	return TEST_PASS;
}

static int test_inspect_scm_rights(void)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c, *c2;
	struct shoal_rpc_info info;
	struct shoal_rpc_client_info ci[4];
	struct shoal_response r;

	CHECK_EQ(open_pair("rpc/inspect", &s, &c), 0);
	cli_opts(&co);
	co.flags = SHOAL_RPC_CLIENT_NO_PIDFD_GETFD;
	CHECK_EQ(shoal_rpc_client_open("rpc/inspect", &co, &c2), 0);
	CHECK_EQ(shoal_rpc_client_write(c2, "hi", 2, NULL), 0);
	CHECK_EQ(serve_one(s, 0), 0);
	CHECK_EQ(shoal_rpc_client_take(c2, &r, 100 * MS), 0);
	CHECK(!memcmp(r.data, "ih", 2));
	CHECK_EQ(shoal_rpc_client_release(c2, &r), 0);
	CHECK_EQ(shoal_rpc_inspect(reg, "rpc/inspect", &info, ci, 4), 2);
	CHECK_EQ(info.max_clients, 64);
	CHECK_EQ(info.max_request, 1024);
	CHECK_EQ(info.request_capacity, 16);
	CHECK_EQ(info.response_capacity, 32);
	CHECK_EQ(info.server.requests, 1);
	CHECK_EQ(info.server.responses, 1);
	CHECK_EQ(info.server.joined, 2);
	CHECK_EQ(info.clients, 2);
	CHECK_EQ(ci[1].line, shoal_rpc_client_line(c2));
	CHECK_EQ(ci[1].pid, getpid());
	CHECK_EQ(ci[1].sent, 1);
	CHECK_EQ(ci[1].received, 1);
	CHECK_EQ(shoal_rpc_inspect(reg, "rpc/none", &info, NULL, 0), -ENOENT);
	shoal_rpc_client_close(c);
	shoal_rpc_client_close(c2);
	shoal_rpc_server_destroy(s);
	return TEST_PASS;
}

/* A forked server; the parent calls it with the blocking helper. */
static int test_call(void)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	struct shoal_rpc_client *c;
	_Atomic int *up = psu_shared(sizeof(*up));
	char buf[64];
	uint32_t flags = 99;
	pid_t pid;

	CHECK(up);
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_rpc_server *s;
		int rc = 0;

		srv_opts(&so);
		so.strategy = SHOAL_WAIT_BLOCK;
		if (shoal_rpc_server_create("rpc/call", &so, &s))
			_exit(1);
		atomic_store(up, 1);
		for (int k = 0; k < 100 && !rc; k++)
			rc = serve_one(s, 0);
		shoal_rpc_server_destroy(s);
		_exit(rc ? 1 : 0);
	}
	CHECK(PSU_WAIT(atomic_load(up), 10));
	cli_opts(&co);
	co.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_rpc_client_open("rpc/call", &co, &c), 0);
	for (int k = 0; k < 100; k++) {
		char q[16], want[16];
		int n = snprintf(q, sizeof(q), "call %d", k);

		for (int j = 0; j < n; j++)
			want[j] = q[n - 1 - j];
		CHECK_EQ(shoal_rpc_client_call(c, q, (uint32_t)n, buf,
					       sizeof(buf), &flags, 5000 * MS),
			 n);
		CHECK(!memcmp(buf, want, (size_t)n));
		CHECK_EQ(flags, 0);
	}
	CHECK(psu_wait_all(&pid, 1, 10));
	/* The server has gone: a call fails, it does not hang. */
	{
		ssize_t rc = shoal_rpc_client_call(c, "x", 1, buf, sizeof(buf),
						   NULL, SHOAL_WAIT_FOREVER);

		CHECK(rc == -EPIPE);
	}
	shoal_rpc_client_close(c);
	munmap((void *)up, sizeof(*up));
	return TEST_PASS;
}

static int test_no_fd_leak(void)
{
	int before = test_count_fds();
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *c;

	for (int k = 0; k < 3; k++) {
		CHECK_EQ(open_pair("rpc/leak", &s, &c), 0);
		CHECK_EQ(shoal_rpc_client_write(c, "x", 1, NULL), 0);
		CHECK_EQ(serve_one(s, 0), 0);
		shoal_rpc_client_close(c);
		shoal_rpc_server_destroy(s);
	}
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(55);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_round_trip);
	RUN(test_routing);
	RUN(test_stream);
	RUN(test_exists_missing_type);
	RUN(test_limits);
	RUN(test_server_gone);
	RUN(test_pollable);
	RUN(test_inspect_scm_rights);
	RUN(test_call);
	RUN(test_no_fd_leak);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
