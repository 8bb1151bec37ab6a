/* SPDX-License-Identifier: MIT */
/*
 * The rpc server handle, shared by its lifecycle half (rpc_server_open.c)
 * and its data half (rpc_server.c); not API.
 */
#ifndef SHOAL_SRC_RPC_SERVER_INTERNAL_H
#define SHOAL_SRC_RPC_SERVER_INTERNAL_H

#include <stdint.h>

#include "shoal/rpc.h"
#include "notify/notify_internal.h"
#include "service/service.h"
#include "patterns/rpc_internal.h"

/* The server's private view of one client line. */
struct line_state {
	struct shoal_spsc_consumer req;
	struct shoal_spsc_producer resp;
	struct shoal_notifier notifier;
	uint32_t active;      /* a client joined and was not dropped */
	uint32_t broken;      /* its rings are impossible: not served */
	uint32_t held;	      /* one of its requests is held */
	uint32_t dead;	      /* died while held: drop at release */
	uint32_t incarnation; /* local number of this client's tenure */
	int pidfd;
};

struct shoal_rpc_server {
	/* The server's segment (own.seg, read-only to peers), the clients'
	 * (own.lines_seg), the entry and the fd table: the service layer's. */
	struct shoal__owner own;
	struct shoal__rpc_header *hdr;
	struct shoal__rpc_lines_header *lh;
	struct shoal__rpc_line *lines;
	_Atomic uint32_t *bitmap;
	uint8_t *rings;
	int clients_fd; /* for F_OFD_GETLK */
	int eventfd;	/* wakes this server */
	int epfd;	/* eventfd + client pidfds: shoal_rpc_server_fd() */
	int *wake_fds;	/* own.wake_fds: one eventfd per line */
	/* The configuration, in the struct clients validate it into: the
	 * header is written from it (shoal__owner_config()). g.hdr is unused
	 * (hdr above). */
	struct rpc_geometry g;
	uint32_t words;
	int64_t send_timeout_ns;
	uint64_t epoch;
	struct line_state *ls;
	uint32_t *pending; /* lines that may have requests (local bitmap) */
	uint32_t *held;	   /* lines with a request held */
	uint32_t rr;	   /* round-robin cursor */
	uint32_t nactive;
	uint32_t incarnations;
	struct shoal_waiter waiter;
	/* Waits for room in one client's response ring: set up on that
	 * line's room_wait mark for each wait (wait_room). */
	struct shoal_waiter room_waiter;
	enum shoal_wait_strategy strategy;
	uint64_t events_sleeps; /* waiter sleeps when events were last read */
	int64_t swept_ns;	/* when sweep() last ran from an idle take */
	int check_events;
	uint32_t calls;
	/* The outstanding response loan. */
	int loaned;
	uint32_t loan_line, loan_incarnation, loan_size;
	struct shoal__rpc_msg *loan_msg;
};

/* Line @i's rings, and formatting them afresh (rpc_server_open.c). */
uint8_t *shoal__rpc_server_line_rings(const struct shoal_rpc_server *s,
				      uint32_t i);
void shoal__rpc_server_format_line(struct shoal_rpc_server *s, uint32_t i);

#endif
