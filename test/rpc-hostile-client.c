/* shoal-test: label=unit timeout=60 */
/*
 * A hostile client: it claims a line like any client, then writes random
 * bytes, and targeted impossible values (lengths past the slot, positions a
 * ring away, bits past the limit, a FREE state), over everything a client
 * can write: its line, its two rings, the ready bitmap, the reap word and
 * the server's wait word. Between scribbles the server takes and answers
 * whatever it finds. The server must never crash or read out of bounds (the
 * ASan build checks that), only return requests of sane length, answer
 * with 0 or a clean error, and keep serving a well-behaved client to the
 * end, whose every answer must be right. argv[1]: rounds (default 2000).
 */
#include <limits.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/rpc_internal.h"

#define MS (1000 * 1000LL)
#define MAX_REQ 64u

static char path[PATH_MAX];
static struct shoal_registry *reg;
static uint64_t rng = 12345;

static uint64_t rnd(void)
{
	rng = psu_mix(rng);
	return rng;
}

static void scribble(uint8_t *p, uint64_t len, int n)
{
	for (int k = 0; k < n; k++) {
		uint64_t at = rnd() % len;
		uint64_t v = rnd();
		uint64_t w = len - at < 8 ? len - at : 8;

		memcpy(p + at, &v, w);
	}
}

/* Impossible values where they hurt most. */
static void aim(struct rpc_clients_view *v, const struct rpc_geometry *g,
		uint32_t line)
{
	uint8_t *req = v->rings + g->line_stride * line;
	struct shoal__spsc_ring *rq = (void *)req;
	struct shoal__spsc_ring *rs = (void *)(req + g->req_region);
	/* The slot the server reads next: at its tail (the slot stride as
	 * ring_spsc.c lays it out: 8-byte state, payload, 8-aligned). */
	uint64_t head = atomic_load(&rq->tail);
	uint64_t stride = (8 + SHOAL__RPC_MSG_HEADER + g->max_request + 7) &
			  ~(uint64_t)7;
	struct shoal__spsc_slot *slot =
		(void *)((uint8_t *)(rq + 1) +
			 stride * (head & (g->req_capacity - 1)));

	switch (rnd() % 6) {
	case 0: /* a committed slot whose length is past the slot */
		atomic_store(&slot->state,
			     (uint64_t)0xffffff00u << 32 | (uint32_t)head);
		break;
	case 1: /* a length shorter than the message head */
		atomic_store(&slot->state, (uint64_t)3 << 32 | (uint32_t)head);
		break;
	case 2: /* a consumer tail a ring away from the server's head */
		atomic_store(&rs->tail, rnd());
		break;
	case 3: /* every bit, past the limit too */
		for (uint32_t w = 0; w < (g->max_clients + 31) / 32; w++)
			atomic_store(&v->bitmap[w], 0xffffffffu);
		break;
	case 4: /* our line FREE while we hold it, a silly pid */
		atomic_store(&v->lines[line].state, SHOAL__RPC_LINE_FREE);
		v->lines[line].pid = (int32_t)rnd();
		break;
	default: /* the reap word and the server's sleeping flag */
		atomic_store(&v->lh->reap, (uint32_t)rnd());
		atomic_store(&v->lh->server_wait.sleeping, (uint32_t)rnd());
		break;
	}
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_arg_u64(argc, argv, 1, 2000);
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	struct shoal_rpc_server *s;
	struct shoal_rpc_client *good, *bad;
	struct shoal_service *svc;
	struct shoal_rpc_server_stats st;
	struct rpc_clients_view v = { 0 };
	struct rpc_geometry g;
	char top[PATH_MAX];
	uint64_t good_calls = 0;
	uint32_t bl;

	psu_watchdog(55);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = 4;
	so.max_request = so.max_response = MAX_REQ;
	so.request_capacity = 4;
	so.response_capacity = 4;
	so.send_timeout_ns = 0;
	shoal_rpc_client_options_init(&co);
	co.registry = reg;
	if (shoal_rpc_server_create("hostile", &so, &s) ||
	    shoal_rpc_client_open("hostile", &co, &good) ||
	    shoal_rpc_client_open("hostile", &co, &bad) ||
	    shoal_registry_open(reg, "hostile", SHOAL_OPEN_READ_ONLY, &svc) ||
	    shoal__rpc_read_geometry(shoal_service_segment(svc), &g) ||
	    shoal__rpc_map_clients(svc, &g, 0, &v)) {
		fprintf(stderr, "setup: %s\n", shoal_last_error());
		return TEST_FAIL;
	}
	bl = shoal_rpc_client_line(bad);
	/* The server sees both join before the scribbling starts. */
	{
		struct shoal_request req;

		CHECK_EQ(shoal_rpc_server_take(s, &req, 0), -EAGAIN);
		shoal_rpc_server_get_stats(s, &st);
		CHECK_EQ(st.clients, 2);
	}
	for (uint64_t r = 0; r < rounds; r++) {
		uint8_t *rings = v.rings + g.line_stride * bl;
		struct shoal_request req;
		struct shoal_response resp;
		uint64_t gid, x = r;
		int err;

		/* The hostile client sends, then scribbles. */
		shoal_rpc_client_write(bad, &x, sizeof(x), NULL);
		if (rnd() % 2)
			scribble(rings, g.line_stride, 1 + (int)(rnd() % 4));
		if (rnd() % 4 == 0)
			scribble((uint8_t *)&v.lines[bl], sizeof(v.lines[bl]),
				 2);
		aim(&v, &g, bl);
		/* And it always asks for attention. */
		atomic_fetch_or(&v.bitmap[bl / 32], 1u << (bl % 32));
		/* The good one sends one request and must get its answer. */
		if (shoal_rpc_client_write(good, &x, sizeof(x), &gid)) {
			fprintf(stderr, "good send: %s\n", shoal_last_error());
			return TEST_FAIL;
		}
		for (int k = 0; k < 8; k++) {
			err = shoal_rpc_server_take(s, &req, 0);
			if (err == -EAGAIN)
				break;
			CHECK_EQ(err, 0);
			CHECK(req.len <= MAX_REQ);
			CHECK(req.client < 4);
			err = shoal_rpc_server_write(s, &req, req.data, req.len,
						     0);
			CHECK(err == 0 || err == -EAGAIN || err == -EBADMSG ||
			      err == -EPIPE);
			if (req.client == shoal_rpc_client_line(good))
				CHECK_EQ(err, 0);
			CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
		}
		CHECK_EQ(shoal_rpc_client_take(good, &resp, 100 * MS), 0);
		CHECK_EQ(resp.id, gid);
		CHECK_EQ(resp.len, sizeof(x));
		CHECK(!memcmp(resp.data, &x, sizeof(x)));
		CHECK_EQ(shoal_rpc_client_release(good, &resp), 0);
		good_calls++;
		/* Whatever reached the hostile client is its own business. */
		while (shoal_rpc_client_take(bad, &resp, 0) == 0)
			shoal_rpc_client_release(bad, &resp);
		/* Now and then it comes back afresh: the server must have
		 * formatted whatever line it gets. */
		if (r % 64 == 63) {
			shoal_rpc_client_close(bad);
			while ((err = shoal_rpc_server_take(s, &req, 0)) == 0) {
				shoal_rpc_server_write(s, &req, "", 0, 0);
				CHECK_EQ(shoal_rpc_server_release(s, &req), 0);
			}
			CHECK_EQ(err, -EAGAIN);
			CHECK_EQ(shoal_rpc_client_open("hostile", &co, &bad),
				 0);
			bl = shoal_rpc_client_line(bad);
			CHECK_EQ(shoal_rpc_server_take(s, &req, 0), -EAGAIN);
		}
	}
	shoal_rpc_server_get_stats(s, &st);
	fprintf(stderr,
		"%llu rounds: %llu good calls, %llu requests taken, %llu "
		"malformed\n",
		(unsigned long long)rounds, (unsigned long long)good_calls,
		(unsigned long long)st.requests,
		(unsigned long long)st.malformed);
	CHECK(st.malformed > 0);
	shoal_segment_close(v.seg);
	shoal_service_close(svc);
	shoal_rpc_client_close(bad);
	shoal_rpc_client_close(good);
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return TEST_PASS;
}
