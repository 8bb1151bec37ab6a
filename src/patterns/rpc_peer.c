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

#define FIELD(h, g, min, max, flags)                                      \
	SHOAL__FIELD(struct shoal__rpc_header, h, struct rpc_geometry, g, \
		     offsetof(struct shoal_rpc_info, g), min, max, flags)
#define REGION(h)                                                         \
	SHOAL__FIELD(struct shoal__rpc_header, h, struct rpc_geometry, h, \
		     SHOAL__FIELD_NO_INFO, 0, UINT64_MAX, 0)
#define STAT(x)                                                            \
	SHOAL__COUNTER(struct shoal__rpc_header, x, struct shoal_rpc_info, \
		       server.x)
#define LINE_STAT(x, y)                           \
	SHOAL__COUNTER(struct shoal__rpc_line, x, \
		       struct shoal_rpc_client_info, y)
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The server's configuration words, their ranges and where inspect
 * reports them; its counters; a client line's. */
static const struct shoal__field fields[] = {
	FIELD(max_clients, max_clients, 1, SHOAL_RPC_CLIENTS_MAX, 0),
	FIELD(max_request, max_request, 1, SHOAL_RPC_PAYLOAD_MAX, 0),
	FIELD(max_response, max_response, 1, SHOAL_RPC_PAYLOAD_MAX, 0),
	SHOAL__FIELD(struct shoal__rpc_header, request_capacity,
		     struct rpc_geometry, req_capacity,
		     offsetof(struct shoal_rpc_info, request_capacity), 2,
		     SHOAL_RPC_CAPACITY_MAX, SHOAL__FIELD_POW2),
	SHOAL__FIELD(struct shoal__rpc_header, response_capacity,
		     struct rpc_geometry, resp_capacity,
		     offsetof(struct shoal_rpc_info, response_capacity), 2,
		     SHOAL_RPC_CAPACITY_MAX, SHOAL__FIELD_POW2),
	REGION(req_region),
	REGION(resp_region),
	REGION(line_stride),
	SHOAL__FIELD(struct shoal__rpc_header, clients_memfd,
		     struct rpc_geometry, clients_memfd, SHOAL__FIELD_NO_INFO,
		     0, UINT64_MAX, 0),
};
static const struct shoal__counter stats[] = { STAT(requests), STAT(responses),
					       STAT(joined),   STAT(lost),
					       STAT(dropped),  STAT(malformed),
					       STAT(wakeups),  STAT(full) };
static const struct shoal__counter line_stats[] = {
	LINE_STAT(sent, sent), LINE_STAT(received, received),
	LINE_STAT(wait.sleeps, sleeps), LINE_STAT(wakeups, wakeups)
};

/* What the ranges do not say: the ring regions against the sizes they
 * hold, and the header object's size. */
static int check_geometry(const void *gp, uint64_t hdr_size, int out_of_range)
{
	const struct rpc_geometry *g = gp;

	if (out_of_range ||
	    g->req_region !=
		    rpc_region_bytes(g->req_capacity, g->max_request) ||
	    g->resp_region !=
		    rpc_region_bytes(g->resp_capacity, g->max_response) ||
	    g->line_stride != g->req_region + g->resp_region ||
	    hdr_size < rpc_header_bytes(g->max_clients))
		return shoal__fail(-EBADMSG,
				   "rpc: inconsistent configuration (%u "
				   "clients, request %u x %u, response %u x "
				   "%u)",
				   g->max_clients, g->req_capacity,
				   g->max_request, g->resp_capacity,
				   g->max_response);
	return 0;
}

const struct shoal__config shoal__rpc_config = SHOAL__CONFIG(
	"rpc", SHOAL__RPC_HEADER_OBJECT, SHOAL__OBJECT_RPC_HEADER,
	SHOAL__RPC_VERSION, SHOAL__RPC_MAGIC, struct shoal__rpc_header, fields,
	struct rpc_geometry, check_geometry);

int shoal__rpc_read_geometry(struct shoal_segment *seg, void *user_data)
{
	struct rpc_geometry *g = user_data;

	g->server_bytes = shoal_segment_size(seg);
	return shoal__peer_config(seg, &shoal__rpc_config, g);
}

int shoal__rpc_map_clients(struct shoal_service *svc,
			   const struct rpc_geometry *g, int read_only,
			   struct rpc_clients_view *v)
{
	/* Sizes come from the segment layer's validated table and the limits
	 * from the server's read-only header, never from the client-written
	 * lines object (any client can scribble on it). */
	static const struct shoal__lines_spec ls = { "rpc",
						     SHOAL__EXTRA_LINES_MEMFD,
						     SHOAL__RPC_LINES_OBJECT,
						     SHOAL__OBJECT_RPC_HEADER };
	void *lp, *rp;
	int err;

	err = shoal__peer_map_lines(svc, &ls, g->clients_memfd,
				    rpc_lines_bytes(g->max_clients), read_only,
				    &v->seg, &lp);
	if (!err)
		err = shoal__peer_object(v->seg, "rpc", SHOAL__RPC_RINGS_OBJECT,
					 SHOAL__OBJECT_RPC_RINGS,
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

static const struct shoal__kind kinds[] = {
	{ SHOAL__OBJECT_RPC_HEADER, "request/response header" },
	{ SHOAL__OBJECT_RPC_RINGS, "request/response rings" },
};

const struct shoal__pattern shoal__rpc_pattern = {
	SHOAL_PATTERN_RPC,
	"request/response",
	shoal__rpc_read_geometry,
	SHOAL__RPC_HEADER_OBJECT,
	offsetof(struct shoal__rpc_header, closed),
	SHOAL__KINDS(kinds)
};

static const struct shoal__line_info client_info =
	SHOAL__LINE_INFO(struct shoal__rpc_line, SHOAL__RPC_LINE_ACTIVE,
			 struct shoal_rpc_client_info, line, line_stats, NULL);

int shoal_rpc_inspect(struct shoal_registry *reg, const char *name,
		      struct shoal_rpc_info *info,
		      struct shoal_rpc_client_info *clients, uint32_t cap)
{
	struct shoal__inspect in;
	struct rpc_clients_view v = { 0 };
	struct shoal__lines_view lv;
	struct shoal__rpc_header *h;
	struct rpc_geometry g;
	uint32_t live;
	int err;

	err = shoal__inspect_open(&in, reg, &shoal__rpc_pattern, "rpc_inspect",
				  name, info, &g);
	if (!err)
		err = shoal__rpc_map_clients(in.svc, &g, 1, &v);
	in.lines_seg = v.seg;
	if (err)
		return shoal__inspect_close(&in, err);
	h = g.hdr;
	memset(info, 0, sizeof(*info));
	shoal__info_fields(info, &g, fields, N(fields));
	info->server_bytes = g.server_bytes;
	info->client_bytes = shoal_segment_size(v.seg);
	shoal__load_counters(info, h, stats, N(stats));
	info->server.sleeps = atomic_load_explicit(&v.lh->server_wait.sleeps,
						   memory_order_relaxed);
	/* The client's release store of ACTIVE is in rpc_client.c. */
	lv = (struct shoal__lines_view){ v.lines,
					 sizeof(struct shoal__rpc_line),
					 g.max_clients };
	live = shoal__inspect_lines(&in, &lv, &client_info, NULL, clients, cap);
	info->clients = live;
	info->server.clients = live;
	return shoal__inspect_close(&in, (int)live);
}
