/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory structures of request/response (docs/rpc.md), kept
 * apart from layout.h because they belong to one pattern. The same rules
 * hold: fixed-width fields, one writer per 64-byte line where it matters,
 * every value read from another process checked before use.
 *
 * Server segment (the server writes; clients map it read-only):
 *   object "rpc.header"  struct shoal__rpc_header, then
 *                        int32 wake_fd[max_clients] (fd numbers in the
 *                        server of each client line's eventfd)
 * Client segment (every client writes; the server trusts none of it):
 *   object "rpc.lines"   struct shoal__rpc_lines_header (the server's
 *                        wait word, the reap word), then the ready bitmap
 *                        (u32 words, padded to a line), then one
 *                        struct shoal__rpc_line per client line
 *   object "rpc.rings"   max_clients blocks of line_stride bytes: block i
 *                        holds line i's request ring (client -> server,
 *                        req_region bytes) then its response ring
 *                        (server -> client), both SPSC rings (ring_spsc.h)
 *
 * Every message in either ring starts with a struct shoal__rpc_msg
 * (correlation id and flags); the ring's own slot length covers it.
 */
#ifndef SHOAL_SRC_RPC_LAYOUT_H
#define SHOAL_SRC_RPC_LAYOUT_H

#include "segment/layout.h"
#include "service/service_layout.h"

/* "SHOALRPC" */
#define SHOAL__RPC_MAGIC 0x4350524c414f4853ULL
/* "SHOALRPL" */
#define SHOAL__RPC_LINES_MAGIC 0x4c50524c414f4853ULL
#define SHOAL__RPC_VERSION 1

/* Object kinds, from the patterns' range (shoal/segment.h); the values are
 * in existing segments and docs/segment-format.md: never change them.
 * HEADER serves "rpc.header" and "rpc.lines": their names tell them apart. */
enum {
	SHOAL__OBJECT_RPC_HEADER = 10,
	SHOAL__OBJECT_RPC_RINGS = 11,
};

#define SHOAL__RPC_HEADER_OBJECT "rpc.header"
#define SHOAL__RPC_LINES_OBJECT "rpc.lines"
#define SHOAL__RPC_RINGS_OBJECT "rpc.rings"

/* The server's registry entry hands out the client segment's memfd and
 * the line eventfds as every owner does (service/service_layout.h). */

struct shoal__rpc_header {
	/* Line 0: configuration, written by the server before the segment
	 * is READY and never again; a client reads it once and checks it. */
	struct shoal__ident ident;  /* SHOAL__RPC_MAGIC, _VERSION */
	uint32_t max_clients;	    /* client lines */
	uint32_t max_request;	    /* request payload bytes */
	uint32_t max_response;	    /* response payload bytes */
	uint32_t request_capacity;  /* slots per request ring, power of 2 */
	uint32_t response_capacity; /* slots per response ring, power of 2 */
	uint64_t req_region;   /* bytes of a request ring, multiple of 64 */
	uint64_t resp_region;  /* bytes of a response ring, multiple of 64 */
	uint64_t line_stride;  /* req_region + resp_region */
	int32_t clients_memfd; /* fd number of the client segment */
	uint32_t flags;	       /* none yet: 0 */

	/* Line 1: counters, written by the server (relaxed; statistics). */
	_Atomic uint64_t requests;  /* requests taken */
	_Atomic uint64_t responses; /* responses sent */
	_Atomic uint64_t joined;    /* clients seen joining */
	_Atomic uint64_t lost;	    /* clients that left or died: lines freed */
	_Atomic uint64_t dropped;   /* requests dropped with a dead client */
	_Atomic uint64_t malformed; /* requests skipped as impossible */
	_Atomic uint64_t wakeups;   /* eventfd writes to sleeping clients */
	_Atomic uint64_t full;	    /* responses refused: ring full */

	/* Line 2: rarely written flags every client loads. closed: 1 once
	 * the server withdrew; release-stored by the server (then a full
	 * fence and a wake of every client), acquire-loaded by clients. */
	_Atomic uint32_t closed;
	uint8_t pad2[60];
};
SHOAL__HEADER_SHAPE(struct shoal__rpc_header, max_clients, 3, 2);
_Static_assert(offsetof(struct shoal__rpc_header, requests) == 64,
	       "counters on line 1");

/* Client segment, lines 0 and 1. */
struct shoal__rpc_lines_header {
	uint64_t magic;	      /* SHOAL__RPC_LINES_MAGIC, by the server */
	uint32_t max_clients; /* by the server (informational) */
	/* Set to 1 (relaxed) by a client that found a line with no live
	 * owner that the server has not freed yet; the server exchanges it
	 * to 0 and sweeps its lines. A hint: the server also sweeps by the
	 * clock. */
	_Atomic uint32_t reap;
	uint8_t pad0[48];
	/* The server's wait word: the server sets sleeping, clients take
	 * it (shoal_notify) and write the server's eventfd. */
	struct shoal__notify_word server_wait;
};
_Static_assert(sizeof(struct shoal__rpc_lines_header) == 2 * SHOAL__CACHE_LINE,
	       "lines header is two lines");

/* Line states. */
enum {
	/* Formatted by the server, free for a client that takes its lock. */
	SHOAL__RPC_LINE_FREE = 0,
	/* Claimed by a client; the server frees it after the client died. */
	SHOAL__RPC_LINE_ACTIVE = 1,
};

/*
 * One client's line. The client owns it while it holds an OFD write lock
 * on byte <index> of the client memfd (through its own open file
 * description, so the kernel drops the lock when the client dies).
 */
struct shoal__rpc_line {
	/* Line 0: written by the client, except state, which the server
	 * release-stores to FREE after it formatted the line's rings. The
	 * client release-stores ACTIVE after pid and the counters; the server
	 * acquire-loads it before reading them. */
	_Atomic uint32_t state; /* SHOAL__RPC_LINE_* */
	_Atomic uint32_t gen;	/* bumped by each client that claims it */
	int32_t pid;		/* the client's, for the server's pidfd */
	/* The server's sleeping mark while it waits for room in this
	 * line's full response ring (notify.c's protocol, whole word): set
	 * by the server before its full fence, loaded by the client after
	 * the fence that follows each release of a response, and exchanged
	 * to 0 by the client that then writes the server's eventfd. The
	 * one field of line 0 the server writes, and only when blocked. */
	_Atomic uint32_t room_wait;
	_Atomic uint64_t sent;	   /* requests sent (statistics) */
	_Atomic uint64_t received; /* responses taken (statistics) */
	_Atomic uint64_t wakeups;  /* eventfd writes to the sleeping server */
	uint8_t pad1[24];
	/* Line 1: the client's wait word (formatted by the server). */
	struct shoal__notify_word wait;
};
_Static_assert(sizeof(struct shoal__rpc_line) == 2 * SHOAL__CACHE_LINE,
	       "two lines per client");

/* The head of every request and response in a ring slot. */
struct shoal__rpc_msg {
	uint64_t id;	/* correlation id: chosen by the client, echoed */
	uint32_t flags; /* SHOAL_RPC_MORE, SHOAL_RPC_ERROR (responses) */
	uint32_t pad;
};
#define SHOAL__RPC_MSG_HEADER 16
_Static_assert(sizeof(struct shoal__rpc_msg) == SHOAL__RPC_MSG_HEADER,
	       "message header is 16 bytes");

#endif
