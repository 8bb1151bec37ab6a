/* SPDX-License-Identifier: MIT */
/*
 * A peer's view of a request/response service: mapping and validating the
 * server's segments (for clients and for inspection), and
 * shoal_rpc_inspect(), which reads the counters without joining.
 *
 * The server segment is written by the server only, but a peer does not
 * trust it either: every configuration value is read once, checked against
 * the others and against the object sizes the segment layer validated, and
 * only the checked copies are used after.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "shoal/rpc.h"
#include "arch/error.h"
#include "service/service.h"
#include "registry/registry_internal.h"
#include "patterns/rpc_internal.h"

static int check_geometry(const struct rpc_geometry *g, uint64_t hdr_size)
{
	if (g->max_clients == 0 || g->max_clients > SHOAL_RPC_CLIENTS_MAX)
		return -1;
	if (g->max_request == 0 || g->max_request > SHOAL_RPC_PAYLOAD_MAX ||
	    g->max_response == 0 || g->max_response > SHOAL_RPC_PAYLOAD_MAX)
		return -1;
	if (!shoal__is_pow2(g->req_capacity) || g->req_capacity < 2 ||
	    g->req_capacity > SHOAL_RPC_CAPACITY_MAX ||
	    !shoal__is_pow2(g->resp_capacity) || g->resp_capacity < 2 ||
	    g->resp_capacity > SHOAL_RPC_CAPACITY_MAX)
		return -1;
	if (g->req_region !=
		    rpc_region_bytes(g->req_capacity, g->max_request) ||
	    g->resp_region !=
		    rpc_region_bytes(g->resp_capacity, g->max_response) ||
	    g->line_stride != g->req_region + g->resp_region)
		return -1;
	if (hdr_size < rpc_header_bytes(g->max_clients))
		return -1;
	return 0;
}

int shoal__rpc_read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct rpc_geometry *g = user_data;
	struct shoal__rpc_header *h;
	uint64_t hsize;
	void *hp;
	int err;

	err = shoal__peer_header(seg, "rpc", SHOAL__RPC_HEADER_OBJECT,
				 SHOAL_OBJECT_RPC_HEADER, SHOAL__RPC_MAGIC,
				 SHOAL__RPC_VERSION, sizeof(*h), &hp, &hsize);
	if (err)
		return err;
	h = hp;
	/* Read each value once; the server may be hostile. */
	g->hdr = h;
	g->max_clients = SHOAL__READ_ONCE(h->max_clients);
	g->max_request = SHOAL__READ_ONCE(h->max_request);
	g->max_response = SHOAL__READ_ONCE(h->max_response);
	g->req_capacity = SHOAL__READ_ONCE(h->request_capacity);
	g->resp_capacity = SHOAL__READ_ONCE(h->response_capacity);
	g->req_region = SHOAL__READ_ONCE(h->req_region);
	g->resp_region = SHOAL__READ_ONCE(h->resp_region);
	g->line_stride = SHOAL__READ_ONCE(h->line_stride);
	g->clients_memfd = SHOAL__READ_ONCE(h->clients_memfd);
	g->server_bytes = shoal_segment_size(seg);
	if (check_geometry(g, hsize))
		return shoal__fail(-EBADMSG,
				   "rpc: inconsistent configuration (%u "
				   "clients, request %u x %u, response %u x "
				   "%u)",
				   g->max_clients, g->req_capacity,
				   g->max_request, g->resp_capacity,
				   g->max_response);
	return 0;
}

int shoal__rpc_map_clients(struct shoal_service *svc,
			   const struct rpc_geometry *g, int read_only,
			   struct rpc_clients_view *v)
{
	/* Sizes come from the segment layer's validated table and the limits
	 * from the server's read-only header, never from the client-written
	 * lines object (any client can scribble on it). */
	struct shoal__lines_spec ls = {
		.who = "rpc",
		.index = SHOAL__RPC_EXTRA_CLIENTS_MEMFD,
		.owner_fd = g->clients_memfd,
		.read_only = read_only,
		.object = SHOAL__RPC_LINES_OBJECT,
		.kind = SHOAL_OBJECT_RPC_HEADER,
		.min_size = rpc_lines_bytes(g->max_clients),
	};
	void *lp, *rp;
	int err;

	err = shoal__peer_map_lines(svc, &ls, &v->seg, &lp);
	if (!err)
		err = shoal__peer_object(v->seg, "rpc", SHOAL__RPC_RINGS_OBJECT,
					 SHOAL_OBJECT_RPC_RINGS,
					 g->line_stride * g->max_clients, &rp);
	if (err) {
		shoal_segment_close(v->seg);
		v->seg = NULL;
		return err;
	}
	v->lh = lp;
	v->bitmap = rpc_bitmap(v->lh);
	v->lines = rpc_lines(v->lh, g->max_clients);
	v->rings = rp;
	return 0;
}

int shoal_rpc_inspect(struct shoal_registry *reg, const char *name,
		      struct shoal_rpc_info *info,
		      struct shoal_rpc_client_info *clients, uint32_t cap)
{
	struct shoal__inspect in;
	struct rpc_clients_view v = { 0 };
	struct shoal__rpc_header *h;
	struct rpc_geometry g;
	struct shoal__peer_spec spec;
	int err, fd;
	uint32_t live = 0;

	if (!name || !info)
		return shoal__fail(-EINVAL, "rpc_inspect: NULL argument");
	spec = (struct shoal__peer_spec){
		.who = "rpc_inspect",
		.name = name,
		.pattern = SHOAL_PATTERN_RPC,
		.pattern_name = "request/response",
		.geometry = shoal__rpc_read_geometry,
		.user_data = &g,
	};
	err = shoal__inspect_open(&in, reg, &spec);
	if (!err)
		err = shoal__rpc_map_clients(in.svc, &g, 1, &v);
	in.lines_seg = v.seg;
	if (err)
		return shoal__inspect_close(&in, err);
	h = g.hdr;
	memset(info, 0, sizeof(*info));
	info->max_clients = g.max_clients;
	info->max_request = g.max_request;
	info->max_response = g.max_response;
	info->request_capacity = g.req_capacity;
	info->response_capacity = g.resp_capacity;
	info->server_bytes = g.server_bytes;
	info->client_bytes = shoal_segment_size(v.seg);
	info->server.requests =
		atomic_load_explicit(&h->requests, memory_order_relaxed);
	info->server.responses =
		atomic_load_explicit(&h->responses, memory_order_relaxed);
	info->server.joined =
		atomic_load_explicit(&h->joined, memory_order_relaxed);
	info->server.lost =
		atomic_load_explicit(&h->lost, memory_order_relaxed);
	info->server.dropped =
		atomic_load_explicit(&h->dropped, memory_order_relaxed);
	info->server.malformed =
		atomic_load_explicit(&h->malformed, memory_order_relaxed);
	info->server.wakeups =
		atomic_load_explicit(&h->wakeups, memory_order_relaxed);
	info->server.full =
		atomic_load_explicit(&h->full, memory_order_relaxed);
	info->server.sleeps = atomic_load_explicit(&v.lh->server_wait.sleeps,
						   memory_order_relaxed);
	fd = shoal_segment_fd(v.seg);
	for (uint32_t i = 0; i < g.max_clients; i++) {
		struct shoal__rpc_line *l = &v.lines[i];
		struct shoal_rpc_client_info *o;

		/* Acquire: pairs with the client's release store of ACTIVE
		 * (rpc_client.c), so the pid and counters read below are
		 * the ones it wrote before. */
		if (atomic_load_explicit(&l->state, memory_order_acquire) !=
			    SHOAL__RPC_LINE_ACTIVE ||
		    !shoal__line_locked(fd, i))
			continue;
		if (clients && live < cap) {
			o = &clients[live];
			memset(o, 0, sizeof(*o));
			o->line = i;
			o->pid = SHOAL__READ_ONCE(l->pid);
			o->sent = atomic_load_explicit(&l->sent,
						       memory_order_relaxed);
			o->received = atomic_load_explicit(
				&l->received, memory_order_relaxed);
			o->sleeps = atomic_load_explicit(&l->wait.sleeps,
							 memory_order_relaxed);
			o->wakeups = atomic_load_explicit(&l->wakeups,
							  memory_order_relaxed);
		}
		live++;
	}
	info->clients = live;
	info->server.clients = live;
	return shoal__inspect_close(&in, (int)live);
}
