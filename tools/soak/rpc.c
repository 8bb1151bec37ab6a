/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the rpc roles. srv answers each request with 1 to 3
 * responses (SHOAL_RPC_MORE on all but the last); cli keeps up to
 * INFLIGHT requests in flight to srv<i mod servers>: every response must
 * answer one of them, in order, with the right content, and a dead server
 * must end in -EPIPE, never a hang.
 */
#include "soak.h"

int soak_run_srv(struct role_ctx *c)
{
	struct shoal_rpc_server_options o;
	struct shoal_rpc_server *srv;
	char name[128];
	int err;

	service_name(name, sizeof(name), c->b, "srv", c->index);
	shoal_rpc_server_options_init(&o);
	o.max_clients = 2 * INST_MAX;
	o.max_request = RPC_MAX;
	o.max_response = RPC_MAX;
	o.send_timeout_ns = SEC;
	while ((err = shoal_rpc_server_create(name, &o, &srv)) < 0)
		if (!soak_retry(c, err, "shoal_rpc_server_create", name,
				SOAK_CREATE))
			return 0;
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	while (!soak_stopping(c)) {
		struct shoal_request req;
		uint8_t buf[RPC_MAX];
		struct msg_head h;
		uint32_t len;
		uint64_t id;

		beat(c);
		soak_maybe_sample(c);
		err = shoal_rpc_server_take(srv, &req, 100 * MS);
		if (err == -ETIMEDOUT)
			continue;
		if (err < 0) {
			soak_failed(c, "take", err);
			continue;
		}
		len = req.len < sizeof(buf) ? req.len : sizeof(buf);
		memcpy(buf, req.data, len);
		soak_maybe_hold(c);
		id = req.id;
		shoal_rpc_server_release(srv, &req);
		memcpy(&h, buf, len < sizeof(h) ? len : sizeof(h));
		if (len < sizeof(h) || h.magic != MSG_MAGIC || h.len != len ||
		    h.aux < 1 || h.aux > 3 ||
		    !filled(buf, sizeof(h), len, h.epoch ^ h.seq)) {
			soak_violation(c, "corrupt request (%u bytes)", len);
			continue;
		}
		count_msg(c, 1);
		for (uint32_t k = 0; k < h.aux; k++) {
			uint8_t out[RPC_MAX];
			struct msg_head r = h;
			uint32_t rlen = (uint32_t)sizeof(r) + 8 * k + 3;

			r.len = rlen;
			r.pad = k;
			r.aux = id;
			memcpy(out, &r, sizeof(r));
			fill(out, sizeof(r), rlen, id ^ k);
			err = shoal_rpc_server_write(
				srv, &req, out, rlen,
				k + 1 < h.aux ? SHOAL_RPC_MORE : 0);
			if (err == -EPIPE)
				break; /* the client died */
			if (err < 0) {
				soak_violation(c, "respond: %s: %s",
					       strerror(-err),
					       shoal_last_error());
				break;
			}
		}
	}
	shoal_rpc_server_destroy(srv);
	return 0;
}

struct call {
	uint64_t id, seq;
	uint32_t want, got;
};

static int client_connect(struct role_ctx *c, const char *name,
			  struct shoal_rpc_client **cli)
{
	int err;

	atomic_store_explicit(&c->me->connected, 0, memory_order_relaxed);
	/* -ENOENT: the server is being restarted. */
	while ((err = shoal_rpc_client_open(name, NULL, cli)) < 0)
		if (!soak_retry(c, err, "shoal_rpc_client_open", name,
				SOAK_BUSY_EXPECTED | SOAK_ABSENT_EXPECTED))
			return err;
	atomic_store_explicit(&c->me->connected, 1, memory_order_relaxed);
	return 0;
}

int soak_run_cli(struct role_ctx *c, int64_t hang_ns)
{
	struct call fl[INFLIGHT];
	uint32_t nfl = 0;
	struct shoal_rpc_client *cli;
	char name[128];
	uint64_t seq = 0;
	int64_t waiting_since = 0;

	service_name(name, sizeof(name), c->b, "srv",
		     c->index % c->b->count[ROLE_SRV]);
	if (client_connect(c, name, &cli) < 0)
		return 0;
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	while (!soak_stopping(c)) {
		struct shoal_response r;
		uint8_t buf[RPC_MAX];
		struct msg_head h;
		int err = 0;

		beat(c);
		soak_maybe_sample(c);
		while (nfl < INFLIGHT) {
			uint32_t len = msg_len(c, RPC_MAX);
			uint64_t id, aux;

			soak_throttle(c);
			aux = 1 + rng_next(&c->rng) % 3;
			msg_build(buf, c->index, c->inc, seq, aux, len);
			err = shoal_rpc_client_write(cli, buf, len, &id);
			if (err == -EAGAIN) {
				xcount(c, X_EAGAIN, 1);
				break;
			}
			if (err < 0)
				break;
			fl[nfl].id = id;
			fl[nfl].seq = seq++;
			fl[nfl].want = (uint32_t)aux;
			fl[nfl].got = 0;
			nfl++;
			c->sent_here++;
		}
		if (!err) {
			err = shoal_rpc_client_take(cli, &r, 100 * MS);
			if (!err) {
				uint32_t len = r.len < sizeof(buf) ?
						       r.len :
						       sizeof(buf);
				uint32_t i;

				memcpy(buf, r.data, len);
				memcpy(&h, buf,
				       len < sizeof(h) ? len : sizeof(h));
				for (i = 0; i < nfl && fl[i].id != r.id; i++)
					;
				if (i == nfl) {
					soak_violation(c,
						       "response to id %" PRIu64
						       ", not in flight",
						       r.id);
				} else if (len < sizeof(h) ||
					   h.magic != MSG_MAGIC ||
					   h.len != len || h.aux != r.id ||
					   h.seq != fl[i].seq ||
					   h.epoch != c->inc ||
					   h.pad != fl[i].got ||
					   !!(r.flags & SHOAL_RPC_MORE) !=
						   (fl[i].got + 1 <
						    fl[i].want) ||
					   !filled(buf, sizeof(h), len,
						   r.id ^ fl[i].got)) {
					soak_violation(
						c,
						"response %u to id %" PRIu64
						" (seq %" PRIu64
						") does not match it",
						fl[i].got, r.id, fl[i].seq);
					fl[i] = fl[--nfl];
				} else if (++fl[i].got == fl[i].want) {
					/* Responses come in order of
					 * sending by the server: the oldest
					 * request is answered first. */
					for (uint32_t j = 0; j < nfl; j++)
						if (fl[j].seq < fl[i].seq)
							soak_violation(
								c,
								"seq %" PRIu64
								" answered "
								"before %" PRIu64,
								fl[i].seq,
								fl[j].seq);
					fl[i] = fl[--nfl];
					count_msg(c, 1);
				}
				shoal_rpc_client_release(cli, &r);
				waiting_since = 0;
				continue;
			}
		}
		if (err == -ETIMEDOUT || err == -EAGAIN) {
			if (!nfl) {
				waiting_since = 0;
				continue;
			}
			if (!waiting_since)
				waiting_since = cli_now_ns();
			if (cli_now_ns() - waiting_since > hang_ns) {
				soak_violation(
					c,
					"%u request(s) unanswered for %.0f "
					"s, no -EPIPE",
					nfl, (double)hang_ns / 1e9);
				waiting_since = 0;
			}
			continue;
		}
		if (err == -EPIPE) {
			/* The server died: what it did not answer is gone. */
			xcount(c, X_EPIPE, 1);
		} else {
			soak_violation(c, "client: %s: %s", strerror(-err),
				       shoal_last_error());
		}
		nfl = 0;
		waiting_since = 0;
		shoal_rpc_client_close(cli);
		if (client_connect(c, name, &cli) < 0)
			return 0;
	}
	shoal_rpc_client_close(cli);
	return 0;
}
