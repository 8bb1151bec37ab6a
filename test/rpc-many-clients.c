/* shoal-test: label=multiproc timeout=120 */
/*
 * Many clients, one server, all separate processes: argv[1] (default 8)
 * client processes each issue argv[2] (default 10^5; 2 x 10^4 under
 * ThreadSanitizer) requests, keeping up to WINDOW in flight. Every request
 * carries (client number, sequence, a value derived from both); the server
 * answers each with a function of what it received and of the line it came
 * from. Each client checks that:
 *   - every response it takes answers one of its own requests: its
 *     correlation id is the next one it is owed (a client's requests are
 *     answered in order), and its bytes are the right function of that
 *     request and of its own line (so a response meant for another client
 *     would be caught);
 *   - every request was answered, none twice.
 * The server checks each request's bytes, and at the end that it answered
 * exactly clients x requests.
 * Every third client uses SHOAL_WAIT_BLOCK, the others the default
 * adaptive wait, so both the sleep and the busy paths carry traffic.
 */
#include <limits.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "rpc/many"
#define WINDOW 8
#define MAX_CLIENTS 16
#define SEC (1000 * 1000 * 1000LL)

/* ThreadSanitizer slows every shared access down: fewer there. */
#if defined(__SANITIZE_THREAD__)
#define DEFAULT_REQUESTS 20000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DEFAULT_REQUESTS 20000
#endif
#endif
#ifndef DEFAULT_REQUESTS
#define DEFAULT_REQUESTS 100000
#endif

struct req_body {
	uint32_t client;
	uint32_t pad;
	uint64_t seq;
	uint64_t value;
};

struct resp_body {
	uint32_t line;
	uint32_t client;
	uint64_t seq;
	uint64_t answer;
};

struct ctl {
	_Atomic int server_up;
	_Atomic int clients_done;
	_Atomic uint64_t answered;
	_Atomic uint64_t lost;
};

static char path[PATH_MAX];
static struct ctl *ctl;

static uint64_t value_of(uint32_t client, uint64_t seq)
{
	return psu_mix(seq ^ ((uint64_t)client << 40));
}

static uint64_t answer_of(uint32_t line, uint64_t value)
{
	return psu_mix(value + line);
}

static struct shoal_registry *open_reg(void)
{
	struct shoal_registry *reg;

	if (test_registry_open(path, &reg))
		_exit(2);
	return reg;
}

static int server_main(unsigned nclients)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_server_stats st;
	struct shoal_rpc_server *s;
	struct shoal_registry *reg = open_reg();
	uint64_t answered = 0;

	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = MAX_CLIENTS;
	so.request_capacity = WINDOW;
	so.response_capacity = WINDOW;
	so.max_request = sizeof(struct req_body);
	so.max_response = sizeof(struct resp_body);
	if (shoal_rpc_server_create(NAME, &so, &s)) {
		fprintf(stderr, "server: %s\n", shoal_last_error());
		return 1;
	}
	atomic_store(&ctl->server_up, 1);
	for (;;) {
		struct shoal_request req;
		struct req_body q;
		struct resp_body a;
		int err = shoal_rpc_server_take(s, &req, SEC / 10);

		if (err == -ETIMEDOUT) {
			if (atomic_load(&ctl->clients_done) == (int)nclients)
				break;
			continue;
		}
		if (err) {
			fprintf(stderr, "server: take %d %s\n", err,
				shoal_last_error());
			return 1;
		}
		if (req.len != sizeof(q)) {
			fprintf(stderr, "server: request of %u bytes\n",
				req.len);
			return 1;
		}
		memcpy(&q, req.data, sizeof(q));
		if (q.value != value_of(q.client, q.seq)) {
			fprintf(stderr, "server: corrupt request\n");
			return 1;
		}
		a.line = req.client;
		a.client = q.client;
		a.seq = q.seq;
		a.answer = answer_of(req.client, q.value);
		/* Answer after release: the request's bytes are copied. */
		shoal_rpc_server_release(s, &req);
		err = shoal_rpc_server_write(s, &req, &a, sizeof(a), 0);
		if (err) {
			fprintf(stderr, "server: respond %d %s\n", err,
				shoal_last_error());
			return 1;
		}
		answered++;
	}
	shoal_rpc_server_get_stats(s, &st);
	atomic_store(&ctl->answered, answered);
	atomic_store(&ctl->lost, st.lost);
	fprintf(stderr,
		"server: %llu answered, %llu wakeups, %llu sleeps, %llu "
		"joined\n",
		(unsigned long long)answered, (unsigned long long)st.wakeups,
		(unsigned long long)st.sleeps, (unsigned long long)st.joined);
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	return 0;
}

static int client_main(uint32_t me, uint64_t n)
{
	struct shoal_rpc_client_options co;
	struct shoal_rpc_client *c;
	struct shoal_registry *reg = open_reg();
	uint64_t first_id = 0, sent = 0, got = 0;
	uint32_t line;

	shoal_rpc_client_options_init(&co);
	co.registry = reg;
	if (me % 3 == 2)
		co.strategy = SHOAL_WAIT_BLOCK;
	if (shoal_rpc_client_open(NAME, &co, &c)) {
		fprintf(stderr, "client %u: %s\n", me, shoal_last_error());
		return 1;
	}
	line = shoal_rpc_client_line(c);
	while (got < n) {
		struct shoal_response r;
		struct resp_body a;
		int err;

		while (sent < n && sent - got < WINDOW) {
			struct req_body q = { me, 0, sent, value_of(me, sent) };
			uint64_t id;

			err = shoal_rpc_client_write(c, &q, sizeof(q), &id);
			if (err) {
				fprintf(stderr, "client %u: send %d %s\n", me,
					err, shoal_last_error());
				return 1;
			}
			if (sent == 0)
				first_id = id;
			else if (id != first_id + sent) {
				fprintf(stderr, "client %u: id %llu\n", me,
					(unsigned long long)id);
				return 1;
			}
			sent++;
		}
		err = shoal_rpc_client_take(c, &r, 10 * SEC);
		if (err) {
			fprintf(stderr, "client %u: take %d %s\n", me, err,
				shoal_last_error());
			return 1;
		}
		if (r.len != sizeof(a) || r.flags != 0 ||
		    r.id != first_id + got) {
			fprintf(stderr,
				"client %u: response id %llu (want %llu), "
				"%u bytes\n",
				me, (unsigned long long)r.id,
				(unsigned long long)(first_id + got), r.len);
			return 1;
		}
		memcpy(&a, r.data, sizeof(a));
		shoal_rpc_client_release(c, &r);
		if (a.line != line || a.client != me || a.seq != got ||
		    a.answer != answer_of(line, value_of(me, got))) {
			fprintf(stderr,
				"client %u (line %u): response for client %u "
				"line %u seq %llu, want seq %llu\n",
				me, line, a.client, a.line,
				(unsigned long long)a.seq,
				(unsigned long long)got);
			return 1;
		}
		got++;
	}
	/* Nothing more may come. */
	{
		struct shoal_response r;

		if (shoal_rpc_client_take(c, &r, 0) != -EAGAIN) {
			fprintf(stderr, "client %u: extra response\n", me);
			return 1;
		}
	}
	shoal_rpc_client_close(c);
	shoal_registry_destroy(reg);
	atomic_fetch_add(&ctl->clients_done, 1);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nclients = (unsigned)test_arg_u64(argc, argv, 1, 8);
	uint64_t n = test_arg_u64(argc, argv, 2, DEFAULT_REQUESTS);
	pid_t pids[MAX_CLIENTS + 1];
	char top[PATH_MAX];
	int64_t t0;
	int ok;

	if (nclients < 1 || nclients > MAX_CLIENTS || n < 1)
		return TEST_FAIL;
	psu_watchdog(110);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	t0 = psu_now_ns();
	pids[0] = psu_fork();
	if (pids[0] == 0)
		_exit(server_main(nclients));
	if (!PSU_WAIT(atomic_load(&ctl->server_up), 10)) {
		psu_wait_all(pids, 1, 0);
		return TEST_FAIL;
	}
	for (unsigned k = 0; k < nclients; k++) {
		pids[1 + k] = psu_fork();
		if (pids[1 + k] == 0)
			_exit(client_main(k, n));
	}
	ok = psu_wait_all(pids, (int)nclients + 1, 100);
	fprintf(stderr, "%u clients x %llu requests in %.1f s\n", nclients,
		(unsigned long long)n, (double)(psu_now_ns() - t0) / 1e9);
	test_remove_tree(top);
	if (!ok)
		return TEST_FAIL;
	if (atomic_load(&ctl->answered) != nclients * n ||
	    atomic_load(&ctl->lost) > nclients) {
		fprintf(stderr, "answered %llu, lost %llu\n",
			(unsigned long long)atomic_load(&ctl->answered),
			(unsigned long long)atomic_load(&ctl->lost));
		return TEST_FAIL;
	}
	return TEST_PASS;
}
