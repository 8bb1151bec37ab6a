/* SPDX-License-Identifier: MIT */
/*
 * Request/response, the server side, its lifecycle and inspect calls:
 * options, create (the segments, the lines, the eventfds), destroy, the
 * epoch and the stats. The data path is in rpc_server.c (whose opening
 * comment has the protocol); the handle in rpc_server_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "shoal/rpc.h"
#include "arch/arch.h"
#include "arch/error.h"
#include "arch/pidfd.h"
#include "notify/notify_internal.h"
#include "registry/registry_internal.h"
#include "service/service.h"
#include "patterns/rpc_internal.h"
#include "patterns/rpc_server_internal.h"

#define DEFAULT_CLIENTS 64
#define DEFAULT_PAYLOAD 1024
#define DEFAULT_REQ_CAPACITY 16
#define DEFAULT_RESP_CAPACITY 32
#define DEFAULT_RESPOND_TIMEOUT_NS (10 * 1000 * 1000LL)

static const struct shoal_rpc_server_options defaults = {
	.max_clients = DEFAULT_CLIENTS,
	.max_request = DEFAULT_PAYLOAD,
	.max_response = DEFAULT_PAYLOAD,
	.request_capacity = DEFAULT_REQ_CAPACITY,
	.response_capacity = DEFAULT_RESP_CAPACITY,
	.strategy = SHOAL_WAIT_ADAPTIVE,
	.send_timeout_ns = DEFAULT_RESPOND_TIMEOUT_NS,
	.access = SHOAL_ACCESS_OWNER,
};

void shoal_rpc_server_options_init(struct shoal_rpc_server_options *opts)
{
	*opts = defaults;
}

/* The checks of create (struct shoal__maker). */
static int check_options(const char *who, const char *name, const void *out,
			 const void *opts)
{
	const struct shoal_rpc_server_options *o = opts;
	int err = shoal__check_open(who, name, out, 0, 0, (int)o->strategy);

	if (err)
		return err;
	if (o->max_clients == 0 || o->max_clients > SHOAL_RPC_CLIENTS_MAX)
		return shoal__fail(-EINVAL,
				   "server: max_clients %u not in 1..%u",
				   o->max_clients, SHOAL_RPC_CLIENTS_MAX);
	if (o->max_request == 0 || o->max_request > SHOAL_RPC_PAYLOAD_MAX ||
	    o->max_response == 0 || o->max_response > SHOAL_RPC_PAYLOAD_MAX)
		return shoal__fail(-EINVAL,
				   "server: max_request %u / max_response %u "
				   "not in 1..%u",
				   o->max_request, o->max_response,
				   SHOAL_RPC_PAYLOAD_MAX);
	if (!shoal__is_pow2(o->request_capacity) || o->request_capacity < 2 ||
	    o->request_capacity > SHOAL_RPC_CAPACITY_MAX ||
	    !shoal__is_pow2(o->response_capacity) || o->response_capacity < 2 ||
	    o->response_capacity > SHOAL_RPC_CAPACITY_MAX)
		return shoal__fail(-EINVAL,
				   "server: capacities %u / %u are not powers "
				   "of two in 2..%u",
				   o->request_capacity, o->response_capacity,
				   SHOAL_RPC_CAPACITY_MAX);
	return 0;
}

uint8_t *shoal__rpc_server_line_rings(const struct shoal_rpc_server *s,
				      uint32_t i)
{
	return s->rings + s->g.line_stride * i;
}

/* Formats line @i's rings and wait word, and attaches our handles. */
void shoal__rpc_server_format_line(struct shoal_rpc_server *s, uint32_t i)
{
	struct line_state *ls = &s->ls[i];
	uint8_t *req = shoal__rpc_server_line_rings(s, i);
	uint8_t *resp = req + s->g.req_region;

	/* Cannot fail: the geometry was checked at creation. A client
	 * scribbling on the rings between format and init makes init fail,
	 * and the line is then broken until that client leaves. */
	shoal_spsc_format(req, s->g.req_region, s->g.req_capacity,
			  s->g.max_request + SHOAL__RPC_MSG_HEADER, 0);
	shoal_spsc_format(resp, s->g.resp_region, s->g.resp_capacity,
			  s->g.max_response + SHOAL__RPC_MSG_HEADER, 0);
	shoal_notify_format(&s->lines[i].wait);
	ls->broken =
		shoal_spsc_consumer_init(&ls->req, req, s->g.req_region) ||
		shoal_spsc_producer_init(&ls->resp, resp, s->g.resp_region) ||
		shoal_notifier_init(&ls->notifier, &s->lines[i].wait,
				    s->wake_fds[i]);
}

/* The segments, the eventfds and the fd table, through the service
 * layer; then our views of the objects. */
static int create_service(struct shoal_rpc_server *s, const char *name,
			  struct shoal_registry *registry, const char *origin)
{
	uint64_t rings_bytes = s->g.line_stride * s->g.max_clients;
	struct shoal_object_spec server = {
		SHOAL__RPC_HEADER_OBJECT, SHOAL__OBJECT_RPC_HEADER, 64,
		rpc_header_bytes(s->g.max_clients)
	};
	struct shoal_object_spec clients[2] = {
		{ SHOAL__RPC_LINES_OBJECT, SHOAL__OBJECT_RPC_HEADER, 64,
		  rpc_lines_bytes(s->g.max_clients) },
		{ SHOAL__RPC_RINGS_OBJECT, SHOAL__OBJECT_RPC_RINGS, 64,
		  rings_bytes },
	};
	struct shoal__owner_spec spec = shoal__owner_spec_lines(
		name, registry, s->g.max_clients, &server, 1, clients, 2);
	int err;

	spec.origin = origin;

	if (rings_bytes > SHOAL_SEGMENT_SIZE_MAX / 2)
		return shoal__fail(-E2BIG,
				   "server: %u lines of %llu bytes is too "
				   "large",
				   s->g.max_clients,
				   (unsigned long long)s->g.line_stride);
	err = shoal__owner_create(&s->own, &spec);
	if (err)
		return err;
	s->wake_fds = s->own.wake_fds;
	s->epoch = s->own.epoch;
	s->hdr = shoal__owner_object(s->own.seg, SHOAL__RPC_HEADER_OBJECT);
	s->lh = shoal__owner_object(s->own.lines_seg, SHOAL__RPC_LINES_OBJECT);
	s->bitmap = rpc_bitmap(s->lh);
	s->lines = rpc_lines(s->lh, s->g.max_clients);
	s->rings =
		shoal__owner_object(s->own.lines_seg, SHOAL__RPC_RINGS_OBJECT);
	s->clients_fd = shoal_segment_fd(s->own.lines_seg);
	return 0;
}

static void format(struct shoal_rpc_server *s)
{
	s->g.clients_memfd = s->clients_fd;
	shoal__owner_config(&shoal__rpc_config, s->hdr, &s->g);
	shoal__owner_fd_numbers(&s->own, rpc_wake_fd_table(s->hdr));
	s->lh->magic = SHOAL__RPC_LINES_MAGIC;
	s->lh->max_clients = s->g.max_clients;
	shoal_notify_format(&s->lh->server_wait);
	for (uint32_t i = 0; i < s->g.max_clients; i++)
		shoal__rpc_server_format_line(s, i);
}

static int make_fds(struct shoal_rpc_server *s)
{
	int err;

	s->ls = calloc(s->g.max_clients, sizeof(*s->ls));
	s->pending = calloc(s->words, sizeof(uint32_t));
	s->held = calloc(s->words, sizeof(uint32_t));
	/* "No fd" before anything can fail: shoal_rpc_server_destroy() closes
	 * every pidfd >= 0 of s->ls, and calloc's zeroes are fd 0. */
	for (uint32_t i = 0; s->ls && i < s->g.max_clients; i++)
		s->ls[i].pidfd = -1;
	if (!s->ls || !s->pending || !s->held)
		return shoal__fail(-ENOMEM, "server: out of memory");
	s->epfd = shoal__epoll_new("server");
	if (s->epfd < 0)
		return s->epfd;
	s->eventfd = shoal_eventfd_create();
	if (s->eventfd < 0)
		return s->eventfd;
	err = shoal__epoll_add(s->epfd, s->eventfd, 0, "server");
	return err;
}

static int create(void *h, const char *name, const void *opts)
{
	struct shoal_rpc_server *s = h;
	const struct shoal_rpc_server_options *o = opts;
	int err;

	s->eventfd = s->epfd = s->clients_fd = -1;
	s->g.max_clients = o->max_clients;
	s->words = (s->g.max_clients + 31) / 32;
	s->g.max_request = o->max_request;
	s->g.max_response = o->max_response;
	s->g.req_capacity = o->request_capacity;
	s->g.resp_capacity = o->response_capacity;
	s->g.req_region = rpc_region_bytes(s->g.req_capacity, s->g.max_request);
	s->g.resp_region =
		rpc_region_bytes(s->g.resp_capacity, s->g.max_response);
	s->g.line_stride = s->g.req_region + s->g.resp_region;
	s->send_timeout_ns = o->send_timeout_ns;
	err = make_fds(s);
	if (!err)
		err = create_service(s, name, o->registry, o->origin);
	if (!err) {
		format(s);
		err = shoal__owner_announce(&s->own, name, SHOAL_PATTERN_RPC,
					    o->access, &SHOAL__TYPE_OF(o),
					    &s->eventfd, 1);
	}
	s->strategy = o->strategy ? o->strategy : SHOAL_WAIT_ADAPTIVE;
	if (!err)
		shoal__waiter_setup(&s->waiter, &s->lh->server_wait.sleeping, 0,
				    &s->lh->server_wait.sleeps, s->eventfd,
				    s->epfd, s->strategy);
	return err;
}

static void undo(void *s)
{
	shoal_rpc_server_destroy(s);
}

static void hand_out(void *out, void *s)
{
	*(struct shoal_rpc_server **)out = s;
}

static const struct shoal__maker creator = {
	"server_create", sizeof(struct shoal_rpc_server),
	&defaults,	 check_options,
	create,		 undo,
	hand_out
};

int shoal_rpc_server_create(const char *name,
			    const struct shoal_rpc_server_options *opts,
			    struct shoal_rpc_server **out)
{
	return shoal__make(&creator, name, opts, out);
}

void shoal_rpc_server_destroy(struct shoal_rpc_server *s)
{
	if (!s)
		return;
	/* Withdraw, close and wake every client so it sees the close. */
	shoal__owner_withdraw(&s->own, s->hdr ? &s->hdr->closed : NULL);
	shoal__owner_fini(&s->own);
	for (uint32_t i = 0; s->ls && i < s->g.max_clients; i++)
		if (s->ls[i].pidfd >= 0)
			close(s->ls[i].pidfd);
	if (s->eventfd >= 0)
		close(s->eventfd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->ls);
	free(s->pending);
	free(s->held);
	free(s);
}

uint64_t shoal_rpc_server_epoch(const struct shoal_rpc_server *s)
{
	return s->epoch;
}

void shoal_rpc_server_get_stats(const struct shoal_rpc_server *s,
				struct shoal_rpc_server_stats *st)
{
	struct shoal__rpc_header *h = s->hdr;

	memset(st, 0, sizeof(*st));
	st->requests = atomic_load_explicit(&h->requests, memory_order_relaxed);
	st->responses =
		atomic_load_explicit(&h->responses, memory_order_relaxed);
	st->joined = atomic_load_explicit(&h->joined, memory_order_relaxed);
	st->lost = atomic_load_explicit(&h->lost, memory_order_relaxed);
	st->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
	st->malformed =
		atomic_load_explicit(&h->malformed, memory_order_relaxed);
	st->wakeups = atomic_load_explicit(&h->wakeups, memory_order_relaxed);
	st->full = atomic_load_explicit(&h->full, memory_order_relaxed);
	st->sleeps = shoal__waiter_sleeps(&s->waiter);
	st->clients = s->nactive;
}
