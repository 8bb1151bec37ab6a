/* SPDX-License-Identifier: MIT */
/*
 * The request/response figures (include/shoal/rpc.h), through the public
 * API only, set up as applications would: the server announces its service
 * with shoal_rpc_server_create() and the client finds it by name with
 * shoal_rpc_client_open(). The registry is a private directory made on first
 * use (or the one pubsub_figures.c made, if $SHOAL_DIR already points at a
 * /tmp/shoal-bench-* directory), removed when the program exits.
 *
 * - rtt-*: round trips, the parent being the client and the child the
 *   server. The client loans a request slot, writes the message, sends,
 *   then takes the response in place, copies it out and releases it. The
 *   server takes the request in place, checks it, copies it into a loaned
 *   response slot, sends, and releases the request. So each side copies
 *   the payload in and out once, as in the pub/sub figures. Both wait with
 *   SHOAL_WAIT_BUSY_SPIN (rtt-poll) or SHOAL_WAIT_BLOCK (rtt-block).
 *     rpc              shoal request/response
 * - rtt-block-*: also the baseline a request/response service would use
 *   without shoal:
 *     unix-rpc         a SOCK_SEQPACKET Unix socket: the server listens on
 *                      an abstract address and accepts the client; each
 *                      message is an 8-byte correlation id and the payload,
 *                      with blocking send/recv on both sides.
 *
 * Every message carries its sequence number, and the client checks the
 * correlation id of every response, so a broken implementation fails the
 * figure instead of producing a number.
 */
#include "bench_registry.h"
#include "figures.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <shoal.h>
#include <shoal/rpc.h>

#define MSG_MAX 1024

/* Round trips through shoal request/response. */

struct rtt_arg {
	uint32_t size;
	enum shoal_wait_strategy strategy;
	uint64_t total;
	char name[BENCH_NAME_MAX];
	struct bench_samples lat;
	uint64_t wakeups, sleeps;
	/* The parent's own: */
	struct bench_side *side;
	struct shoal_rpc_client *cli;
	unsigned char *msg;
};

static inline int rtt_round_trip(void *ctx, uint64_t i)
{
	struct rtt_arg *a = ctx;
	struct shoal_response r;
	uint64_t id;
	void *slot;
	int rc;

	bench_stamp(a->msg, i, a->size);
	rc = shoal_rpc_client_loan(a->cli, a->size, &slot);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_rpc_client_loan", rc);
	memcpy(slot, a->msg, a->size);
	rc = shoal_rpc_client_send(a->cli, slot, a->size, &id);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_rpc_client_send", rc);
	rc = shoal_rpc_client_take(a->cli, &r, SHOAL_WAIT_FOREVER);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_rpc_client_take", rc);
	memcpy(a->msg, r.data, r.len <= MSG_MAX ? r.len : MSG_MAX);
	if (r.id != id) {
		bench_side_note(a->side, "response id %llu, sent %llu",
				(unsigned long long)r.id,
				(unsigned long long)id);
		return -EIO;
	}
	rc = shoal_rpc_client_release(a->cli, &r);
	if (rc)
		return bench_shoal_failed(a->side, "shoal_rpc_client_release",
					  rc);
	return bench_check_msg(a->side, a->msg, r.len, a->size, i);
}

static int rtt_parent(struct bench_side *s)
{
	struct rtt_arg *a = s->arg;
	_Alignas(BENCH_LINE) unsigned char msg[MSG_MAX];
	struct shoal_rpc_client_options o;
	struct shoal_rpc_client_stats st;
	int rc;

	memset(msg, 0xa5, sizeof(msg));
	a->side = s;
	a->msg = msg;
	/* The server exists after this barrier. */
	if (bench_side_sync(s))
		return -ECANCELED;
	shoal_rpc_client_options_init(&o);
	o.strategy = a->strategy;
	rc = shoal_rpc_client_open(a->name, &o, &a->cli);
	if (rc)
		return bench_shoal_failed(s, "shoal_rpc_client_open", rc);
	rc = bench_latency_run(s, &a->lat, rtt_round_trip, a);
	if (rc)
		goto out;
	/* The server's counters arrive before this barrier. */
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	shoal_rpc_client_get_stats(a->cli, &st);
	a->wakeups = st.wakeups + bench_side_get(s, BENCH_SIDE_WAKEUPS);
	a->sleeps = st.sleeps + bench_side_get(s, BENCH_SIDE_SLEEPS);
out:
	shoal_rpc_client_close(a->cli);
	a->cli = NULL;
	return rc;
}

static int rtt_child(struct bench_side *s)
{
	struct rtt_arg *a = s->arg;
	struct shoal_rpc_server_options o;
	struct shoal_rpc_server_stats st;
	struct shoal_rpc_server *srv;
	uint64_t i;
	int rc;

	shoal_rpc_server_options_init(&o);
	o.strategy = a->strategy;
	o.max_clients = 4;
	o.max_request = a->size;
	o.max_response = a->size;
	o.request_capacity = BENCH_RTT_CAPACITY;
	o.response_capacity = BENCH_RTT_CAPACITY;
	rc = shoal_rpc_server_create(a->name, &o, &srv);
	if (rc)
		return bench_shoal_failed(s, "shoal_rpc_server_create", rc);
	if (bench_side_sync(s) || bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	for (i = 1; i <= a->total; i++) {
		struct shoal_request req;
		void *slot;

		rc = shoal_rpc_server_take(srv, &req, SHOAL_WAIT_FOREVER);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_rpc_server_take", rc);
			goto out;
		}
		rc = bench_check_msg(s, req.data, req.len, a->size, i);
		if (rc)
			goto out;
		/* Answer from the request's slot, then let it go. */
		rc = shoal_rpc_server_loan(srv, &req, a->size, &slot);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_rpc_server_loan", rc);
			goto out;
		}
		memcpy(slot, req.data, a->size);
		rc = shoal_rpc_server_send(srv, slot, a->size, 0);
		if (!rc)
			rc = shoal_rpc_server_release(srv, &req);
		if (rc) {
			rc = bench_shoal_failed(s, "shoal_rpc_server_send", rc);
			goto out;
		}
	}
	shoal_rpc_server_get_stats(srv, &st);
	rc = bench_side_report(s, st.wakeups, st.sleeps);
out:
	shoal_rpc_server_destroy(srv);
	return rc;
}

/* f->param: { wait strategy of both sides }. */
static int run_rtt(const struct bench_figure *f, const struct bench_config *cfg,
		   struct bench_result *res)
{
	struct rtt_arg a;
	int rc;

	rc = bench_registry_setup(res->note);
	if (rc)
		return rc;
	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.strategy = (enum shoal_wait_strategy)f->param[0];
	a.total = bench_round_trips(cfg);
	bench_service_name(a.name, "rpc");
	rc = bench_pair_run(cfg, rtt_parent, rtt_child, &a, res->note);
	if (!rc) {
		bench_samples_stats(&a.lat, res);
		res->wakeups_per_msg = (double)a.wakeups / (double)a.total;
		res->sleeps_per_msg = (double)a.sleeps / (double)a.total;
	}
	bench_samples_fini(&a.lat);
	return rc;
}

/*
 * The baseline: request/response over a SOCK_SEQPACKET Unix socket, one
 * connection, blocking calls. The listening socket is made before the
 * fork; the child (the server) accepts, the parent (the client) connects.
 */

struct sock_msg {
	uint64_t id;
	unsigned char payload[MSG_MAX];
};

struct sock_arg {
	uint32_t size;
	uint64_t total;
	int lfd;
	struct sockaddr_un addr;
	socklen_t addr_len;
	struct bench_samples lat;
	struct bench_side *side;
	int fd;
	struct sock_msg *msg;
};

static int sock_fail(struct bench_side *s, const char *what)
{
	int rc = -errno;

	bench_side_note(s, "%s: %s", what, strerror(errno));
	return rc ? rc : -EIO;
}

static inline int sock_round_trip(void *ctx, uint64_t i)
{
	struct sock_arg *a = ctx;
	size_t len = sizeof(uint64_t) + a->size;
	ssize_t n;

	a->msg->id = i;
	bench_stamp(a->msg->payload, i, a->size);
	if (send(a->fd, a->msg, len, 0) != (ssize_t)len)
		return sock_fail(a->side, "send");
	n = recv(a->fd, a->msg, sizeof(*a->msg), 0);
	if (n != (ssize_t)len)
		return sock_fail(a->side, "recv");
	if (a->msg->id != i) {
		bench_side_note(a->side, "response id %llu, sent %llu",
				(unsigned long long)a->msg->id,
				(unsigned long long)i);
		return -EIO;
	}
	return bench_check_msg(a->side, a->msg->payload, (uint32_t)(n - 8),
			       a->size, i);
}

static int sock_parent(struct bench_side *s)
{
	struct sock_arg *a = s->arg;
	_Alignas(BENCH_LINE) struct sock_msg msg;
	int rc;

	memset(&msg, 0xa5, sizeof(msg));
	a->side = s;
	a->msg = &msg;
	a->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		return sock_fail(s, "socket");
	if (connect(a->fd, (struct sockaddr *)&a->addr, a->addr_len) < 0) {
		rc = sock_fail(s, "connect");
		goto out;
	}
	rc = bench_latency_run(s, &a->lat, sock_round_trip, a);
out:
	close(a->fd);
	return rc;
}

static int sock_child(struct bench_side *s)
{
	struct sock_arg *a = s->arg;
	struct sock_msg msg;
	int fd, rc = 0;

	fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return sock_fail(s, "accept");
	if (bench_side_sync(s)) {
		close(fd);
		return -ECANCELED;
	}
	for (uint64_t i = 1; i <= a->total && !rc; i++) {
		ssize_t n = recv(fd, &msg, sizeof(msg), 0);

		if (n < (ssize_t)sizeof(uint64_t)) {
			rc = sock_fail(s, "recv");
			break;
		}
		rc = bench_check_msg(s, msg.payload, (uint32_t)(n - 8), a->size,
				     i);
		if (!rc && send(fd, &msg, (size_t)n, 0) != n)
			rc = sock_fail(s, "send");
	}
	close(fd);
	return rc;
}

static int run_sock(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res)
{
	static unsigned int counter;
	struct sock_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.total = bench_round_trips(cfg);
	a.addr.sun_family = AF_UNIX;
	/* Abstract: nothing to clean up, gone with the last fd. */
	snprintf(a.addr.sun_path + 1, sizeof(a.addr.sun_path) - 1,
		 "shoal-bench-rpc-%d-%u", (int)getpid(), ++counter);
	a.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				 strlen(a.addr.sun_path + 1));
	a.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (a.lfd < 0 ||
	    bind(a.lfd, (struct sockaddr *)&a.addr, a.addr_len) < 0 ||
	    listen(a.lfd, 1) < 0) {
		rc = -errno;
		snprintf(res->note, BENCH_NOTE_MAX, "listening socket: %s",
			 strerror(errno));
		if (a.lfd >= 0)
			close(a.lfd);
		return rc;
	}
	rc = bench_pair_run(cfg, sock_parent, sock_child, &a, res->note);
	if (!rc)
		bench_samples_stats(&a.lat, res);
	bench_samples_fini(&a.lat);
	close(a.lfd);
	return rc;
}

#define POLL(g, t, sz)                                                      \
	{                                                                   \
		.name = g "/rpc", .title = t, .kind = BENCH_LATENCY,        \
		.size = sz, .batch = 1, .flags = BENCH_SPINS | BENCH_SHOAL, \
		.run = run_rtt, .param = { SHOAL_WAIT_BUSY_SPIN },          \
		.vs = { g "/pubsub",                                        \
			g "/shoal-channel",                                 \
			g "/bare-ring" }                                    \
	}
#define BLOCK(g, t, sz)                                                      \
	{                                                                    \
		.name = g "/rpc", .title = t, .kind = BENCH_LATENCY,         \
		.size = sz, .batch = 1, .flags = BENCH_BLOCKS | BENCH_SHOAL, \
		.run = run_rtt, .param = { SHOAL_WAIT_BLOCK },               \
		.vs = { g "/eventfd",                                        \
			g "/unix-rpc",                                       \
			g "/pubsub" }                                        \
	}
#define SOCK(g, t, sz)                                                         \
	{                                                                      \
		.name = g "/unix-rpc", .title = t, .kind = BENCH_LATENCY,      \
		.size = sz, .batch = 1, .flags = BENCH_BLOCKS, .run = run_sock \
	}
#define LOANTAKE "loan/send, take/release"

const struct bench_figure bench_rpc_figures[] = {
	POLL("rtt-poll-8", "request/response, " LOANTAKE ", BUSY_SPIN", 8),
	POLL("rtt-poll-1k", "request/response, " LOANTAKE ", BUSY_SPIN, 1 KiB",
	     1024),
	SOCK("rtt-block-8",
	     "Unix SOCK_SEQPACKET request/response, id + 8 B, blocking", 8),
	BLOCK("rtt-block-8", "request/response, " LOANTAKE ", BLOCK", 8),
	SOCK("rtt-block-1k",
	     "Unix SOCK_SEQPACKET request/response, id + 1 KiB, blocking",
	     1024),
	BLOCK("rtt-block-1k", "request/response, " LOANTAKE ", BLOCK, 1 KiB",
	      1024),
	{ .name = NULL },
};

/* The request/response issue's targets. */
const struct bench_target bench_rpc_targets[] = {
	{ "request/response polled round trip 8 B within 1.3x of pub/sub's (p50)",
	  "rtt-poll-8/rpc", "rtt-poll-8/pubsub", BENCH_P50, 1, 1.3 },
	{ "request/response polled round trip 8 B within 1.3x of pub/sub's (bulk*)",
	  "rtt-poll-8/rpc", "rtt-poll-8/pubsub", BENCH_BULK, 1, 1.3 },
	{ "request/response polled round trip: no system call on the hot path",
	  "rtt-poll-8/rpc", NULL, BENCH_WAKEUPS, 1, 0 },
	{ "request/response blocking round trip 8 B within 1.2x of bare eventfd ping-pong (p50)",
	  "rtt-block-8/rpc", "rtt-block-8/eventfd", BENCH_P50, 1, 1.2 },
	{ "request/response blocking round trip 8 B below a Unix socket's (p50, <= 0.5x)",
	  "rtt-block-8/rpc", "rtt-block-8/unix-rpc", BENCH_P50, 1, 0.5 },
	{ NULL, NULL, NULL, 0, 0, 0 },
};
