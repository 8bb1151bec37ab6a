/* SPDX-License-Identifier: MIT */
/* What the server and client halves of request/response share; not API. */
#ifndef SHOAL_SRC_RPC_INTERNAL_H
#define SHOAL_SRC_RPC_INTERNAL_H

#include "shoal/rpc.h"
#include "shoal/ring_spsc.h"
#include "shoal/segment.h"
#include "arch/arch.h"
#include "service/line_lock.h"
#include "service/service.h"
#include "patterns/rpc_layout.h"

static inline uint64_t rpc_header_bytes(uint32_t max)
{
	return sizeof(struct shoal__rpc_header) + (uint64_t)max * 4;
}

static inline int32_t *rpc_wake_fd_table(struct shoal__rpc_header *h)
{
	return (int32_t *)(h + 1);
}

/* The client object: a lines object (service/service_layout.h) of struct
 * shoal__rpc_line under struct shoal__rpc_lines_header. */
#define RPC_LINES_HDR sizeof(struct shoal__rpc_lines_header)

static inline uint64_t rpc_lines_bytes(uint32_t max)
{
	return shoal__lines_bytes(RPC_LINES_HDR, max,
				  sizeof(struct shoal__rpc_line));
}

static inline _Atomic uint32_t *rpc_bitmap(struct shoal__rpc_lines_header *lh)
{
	return shoal__lines_bitmap(lh, RPC_LINES_HDR);
}

static inline struct shoal__rpc_line *
rpc_lines(struct shoal__rpc_lines_header *lh, uint32_t max)
{
	return shoal__lines_first(lh, RPC_LINES_HDR, max);
}

/* A ring's bytes rounded up to whole lines, so every ring starts on one. */
static inline uint64_t rpc_region_bytes(uint32_t capacity, uint32_t payload)
{
	uint64_t b = shoal_spsc_region_size(capacity,
					    payload + SHOAL__RPC_MSG_HEADER);

	return (b + SHOAL__CACHE_LINE - 1) / SHOAL__CACHE_LINE *
	       SHOAL__CACHE_LINE;
}

/* The server's configuration, as a peer validated it. */
struct rpc_geometry {
	struct shoal__rpc_header *hdr; /* mapped read-only */
	uint32_t max_clients, max_request, max_response;
	uint32_t req_capacity, resp_capacity;
	uint64_t req_region, resp_region, line_stride;
	int32_t clients_memfd; /* fd number in the server */
	uint64_t server_bytes;
};

/* The client segment's objects, as a peer found them. */
struct rpc_clients_view {
	struct shoal_segment *seg;
	struct shoal__rpc_lines_header *lh;
	struct shoal__rpc_line *lines;
	_Atomic uint32_t *bitmap;
	uint8_t *rings;
};

/*
 * Reads the configuration in server segment @seg once into the struct
 * rpc_geometry @g and checks it against itself and the object sizes: the
 * service layer's geometry callback. 0, -EPROTO (another version),
 * -EBADMSG (inconsistent). Never reads outside the objects.
 */
int shoal__rpc_read_geometry(struct shoal_segment *seg, void *g);

/* The pattern as the service layer's peer side knows it (service.h). */
extern const struct shoal__pattern shoal__rpc_pattern;

/* The server header's configuration words: what the server writes
 * (shoal__owner_config()) and clients read and check (service.h). */
extern const struct shoal__config shoal__rpc_config;

/*
 * Takes and maps the client segment of an opened request/response service
 * whose geometry @g was read (read-write unless @read_only), checked
 * against @g. 0, -EBADMSG, or what taking or opening the fd returns.
 */
int shoal__rpc_map_clients(struct shoal_service *svc,
			   const struct rpc_geometry *g, int read_only,
			   struct rpc_clients_view *v);

#endif
