/* SPDX-License-Identifier: MIT */
/*
 * What 'shoal info' adds for a queue, a request/response service, an
 * event service and a store (its objects: cmd_store.c), read with their
 * *_inspect() calls (a store: a read-only open) without joining them.
 * Everything is read before anything is printed, so that a service that
 * vanishes in between gives a clean failure instead of half a report.
 *
 * The counters come from shared memory that any participant writes: they
 * are printed as found, except where arithmetic on them could mislead
 * (depth never goes below zero).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_pattern_info {
	uint32_t pattern;
	struct shoal_queue_stats queue;
	struct shoal_rpc_info rpc;
	struct shoal_rpc_client_info *clients;
	struct shoal_event_info event;
	struct shoal_event_listener_info *listeners;
	uint32_t count;		      /* live clients/listeners */
	uint32_t rows;		      /* of them, in clients/listeners */
	struct cli_store_info *store; /* cmd_store.c */
};

static void set_rows(struct cli_pattern_info *pi, int n, uint32_t cap)
{
	pi->count = (uint32_t)n;
	pi->rows = pi->count < cap ? pi->count : cap;
}

int cli_pattern_inspect(const struct cli_cmd *cmd, struct shoal_registry *reg,
			const struct shoal_service_info *s,
			struct cli_pattern_info **out)
{
	struct cli_pattern_info *pi;
	int n = 0;

	*out = NULL;
	if (s->pattern != SHOAL_PATTERN_QUEUE &&
	    s->pattern != SHOAL_PATTERN_RPC &&
	    s->pattern != SHOAL_PATTERN_EVENT &&
	    s->pattern != SHOAL_PATTERN_STORE)
		return CLI_EXIT_OK;
	pi = calloc(1, sizeof(*pi));
	if (!pi)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	pi->pattern = s->pattern;
	if (s->pattern == SHOAL_PATTERN_STORE) {
		n = cli_store_inspect(reg, s->name, &pi->store);
	} else if (s->pattern == SHOAL_PATTERN_QUEUE) {
		n = shoal_queue_inspect(reg, s->name, &pi->queue);
	} else if (s->pattern == SHOAL_PATTERN_RPC) {
		pi->clients =
			calloc(SHOAL_RPC_CLIENTS_MAX, sizeof(*pi->clients));
		n = pi->clients ? shoal_rpc_inspect(reg, s->name, &pi->rpc,
						    pi->clients,
						    SHOAL_RPC_CLIENTS_MAX) :
				  -ENOMEM;
		if (n >= 0)
			set_rows(pi, n, SHOAL_RPC_CLIENTS_MAX);
	} else {
		pi->listeners = calloc(SHOAL_EVENT_LISTENERS_MAX,
				       sizeof(*pi->listeners));
		n = pi->listeners ?
			    shoal_event_inspect(reg, s->name, &pi->event,
						pi->listeners,
						SHOAL_EVENT_LISTENERS_MAX) :
			    -ENOMEM;
		if (n >= 0)
			set_rows(pi, n, SHOAL_EVENT_LISTENERS_MAX);
	}
	if (n < 0) {
		cli_fail(cmd, n, "cannot inspect '%s'", s->name);
		cli_pattern_free(pi);
		return CLI_EXIT_FAIL;
	}
	*out = pi;
	return CLI_EXIT_OK;
}

void cli_pattern_free(struct cli_pattern_info *pi)
{
	if (!pi)
		return;
	free(pi->clients);
	free(pi->listeners);
	cli_store_free(pi->store);
	free(pi);
}

static unsigned long long depth(const struct shoal_queue_stats *q)
{
	return q->enqueued > q->dequeued ? q->enqueued - q->dequeued : 0;
}

static const char *ring_name(const struct shoal_queue_stats *q)
{
	return q->spsc ? "spsc" : "mpmc";
}

/* --- text */

static void queue_text(const struct shoal_queue_stats *q)
{
	printf("\nlayout\n");
	printf("  ring:             %s\n", ring_name(q));
	printf("  capacity:         %u\n", q->capacity);
	printf("  max message:      %u\n", q->max_message);
	printf("  max participants: %u\n", q->max_participants);

	printf("\nqueue\n");
	printf("  participants:     %u\n", q->participants);
	printf("  enqueued:         %llu\n", (unsigned long long)q->enqueued);
	printf("  dequeued:         %llu\n", (unsigned long long)q->dequeued);
	printf("  depth:            %llu\n", depth(q));
	printf("  skipped:          %llu\n", (unsigned long long)q->skipped);
	printf("  abandoned:        %llu\n", (unsigned long long)q->abandoned);
}

static void rpc_text(const struct cli_pattern_info *pi)
{
	const struct shoal_rpc_info *r = &pi->rpc;
	const struct shoal_rpc_server_stats *v = &r->server;

	printf("\nlayout\n");
	printf("  max clients:      %u\n", r->max_clients);
	printf("  max request:      %u\n", r->max_request);
	printf("  max response:     %u\n", r->max_response);
	printf("  request slots:    %u\n", r->request_capacity);
	printf("  response slots:   %u\n", r->response_capacity);
	printf("  server bytes:     %llu\n",
	       (unsigned long long)r->server_bytes);
	printf("  client bytes:     %llu\n",
	       (unsigned long long)r->client_bytes);

	printf("\nserver\n");
	printf("  requests:         %llu\n", (unsigned long long)v->requests);
	printf("  responses:        %llu\n", (unsigned long long)v->responses);
	printf("  joined:           %llu\n", (unsigned long long)v->joined);
	printf("  lost:             %llu\n", (unsigned long long)v->lost);
	printf("  dropped:          %llu\n", (unsigned long long)v->dropped);
	printf("  malformed:        %llu\n", (unsigned long long)v->malformed);
	printf("  full:             %llu\n", (unsigned long long)v->full);
	printf("  sleeps:           %llu\n", (unsigned long long)v->sleeps);
	printf("  wakeups:          %llu\n", (unsigned long long)v->wakeups);

	printf("\nclients:            %u\n", pi->count);
	if (!pi->rows)
		return;
	printf("  %5s %8s %12s %12s %8s %8s\n", "LINE", "PID", "SENT",
	       "RECEIVED", "SLEEPS", "WAKEUPS");
	for (uint32_t i = 0; i < pi->rows; i++) {
		const struct shoal_rpc_client_info *c = &pi->clients[i];

		printf("  %5u %8d %12llu %12llu %8llu %8llu\n", c->line, c->pid,
		       (unsigned long long)c->sent,
		       (unsigned long long)c->received,
		       (unsigned long long)c->sleeps,
		       (unsigned long long)c->wakeups);
	}
}

static void event_text(const struct cli_pattern_info *pi)
{
	const struct shoal_event_info *e = &pi->event;

	printf("\nlayout\n");
	printf("  ids:              %u\n", e->ids);
	printf("  max listeners:    %u\n", e->max_listeners);
	printf("  line stride:      %u\n", e->line_stride);
	printf("  header bytes:     %llu\n",
	       (unsigned long long)e->header_bytes);
	printf("  lines bytes:      %llu\n",
	       (unsigned long long)e->lines_bytes);

	printf("\nnotifiers\n");
	printf("  notifies:         %llu\n", (unsigned long long)e->notifies);
	printf("  delivered:        %llu\n", (unsigned long long)e->delivered);
	printf("  wakeups:          %llu\n", (unsigned long long)e->wakeups);

	printf("\nlisteners:          %u\n", pi->count);
	if (!pi->rows)
		return;
	printf("  %5s %8s %8s %8s %12s %8s %12s %8s\n", "INDEX", "PID",
	       "INTEREST", "PENDING", "DELIVERED", "WAKEUPS", "RECEIVED",
	       "SLEEPS");
	for (uint32_t i = 0; i < pi->rows; i++) {
		const struct shoal_event_listener_info *l = &pi->listeners[i];

		printf("  %5u %8d %8u %8u %12llu %8llu %12llu %8llu\n",
		       l->index, l->pid, l->interest, l->pending,
		       (unsigned long long)l->delivered,
		       (unsigned long long)l->wakeups,
		       (unsigned long long)l->received,
		       (unsigned long long)l->sleeps);
	}
}

void cli_pattern_print_text(const struct cli_pattern_info *pi)
{
	if (!pi)
		return;
	if (pi->pattern == SHOAL_PATTERN_STORE)
		cli_store_print_text(pi->store);
	else if (pi->pattern == SHOAL_PATTERN_QUEUE)
		queue_text(&pi->queue);
	else if (pi->pattern == SHOAL_PATTERN_RPC)
		rpc_text(pi);
	else
		event_text(pi);
}

/* --- JSON: members that continue the service's object */

static void queue_json(const struct shoal_queue_stats *q)
{
	printf(",\n \"layout\": {\"ring\": \"%s\", \"capacity\": %u, "
	       "\"max_message\": %u, \"max_participants\": %u},\n",
	       ring_name(q), q->capacity, q->max_message, q->max_participants);
	printf(" \"queue\": {\"participants\": %u, \"enqueued\": %llu, "
	       "\"dequeued\": %llu, \"depth\": %llu, \"skipped\": %llu, "
	       "\"abandoned\": %llu}",
	       q->participants, (unsigned long long)q->enqueued,
	       (unsigned long long)q->dequeued, depth(q),
	       (unsigned long long)q->skipped,
	       (unsigned long long)q->abandoned);
}

static void rpc_json(const struct cli_pattern_info *pi)
{
	const struct shoal_rpc_info *r = &pi->rpc;
	const struct shoal_rpc_server_stats *v = &r->server;

	printf(",\n \"layout\": {\"max_clients\": %u, \"max_request\": %u, "
	       "\"max_response\": %u, \"request_capacity\": %u, "
	       "\"response_capacity\": %u, \"server_bytes\": %llu, "
	       "\"client_bytes\": %llu},\n",
	       r->max_clients, r->max_request, r->max_response,
	       r->request_capacity, r->response_capacity,
	       (unsigned long long)r->server_bytes,
	       (unsigned long long)r->client_bytes);
	printf(" \"server\": {\"requests\": %llu, \"responses\": %llu, "
	       "\"joined\": %llu, \"lost\": %llu, \"dropped\": %llu, "
	       "\"malformed\": %llu, \"full\": %llu, \"sleeps\": %llu, "
	       "\"wakeups\": %llu},\n",
	       (unsigned long long)v->requests,
	       (unsigned long long)v->responses, (unsigned long long)v->joined,
	       (unsigned long long)v->lost, (unsigned long long)v->dropped,
	       (unsigned long long)v->malformed, (unsigned long long)v->full,
	       (unsigned long long)v->sleeps, (unsigned long long)v->wakeups);
	printf(" \"client_count\": %u,\n \"clients\": [", pi->count);
	for (uint32_t i = 0; i < pi->rows; i++) {
		const struct shoal_rpc_client_info *c = &pi->clients[i];

		printf("%s\n  {\"line\": %u, \"pid\": %d, \"sent\": %llu, "
		       "\"received\": %llu, \"sleeps\": %llu, "
		       "\"wakeups\": %llu}",
		       i ? "," : "", c->line, c->pid,
		       (unsigned long long)c->sent,
		       (unsigned long long)c->received,
		       (unsigned long long)c->sleeps,
		       (unsigned long long)c->wakeups);
	}
	printf("%s]", pi->rows ? "\n " : "");
}

static void event_json(const struct cli_pattern_info *pi)
{
	const struct shoal_event_info *e = &pi->event;

	printf(",\n \"layout\": {\"ids\": %u, \"max_listeners\": %u, "
	       "\"line_stride\": %u, \"header_bytes\": %llu, "
	       "\"lines_bytes\": %llu},\n",
	       e->ids, e->max_listeners, e->line_stride,
	       (unsigned long long)e->header_bytes,
	       (unsigned long long)e->lines_bytes);
	printf(" \"notifiers\": {\"notifies\": %llu, \"delivered\": %llu, "
	       "\"wakeups\": %llu},\n",
	       (unsigned long long)e->notifies,
	       (unsigned long long)e->delivered,
	       (unsigned long long)e->wakeups);
	printf(" \"listener_count\": %u,\n \"listeners\": [", pi->count);
	for (uint32_t i = 0; i < pi->rows; i++) {
		const struct shoal_event_listener_info *l = &pi->listeners[i];

		printf("%s\n  {\"index\": %u, \"pid\": %d, \"interest\": %u, "
		       "\"pending\": %u, \"delivered\": %llu, "
		       "\"wakeups\": %llu, \"received\": %llu, "
		       "\"sleeps\": %llu}",
		       i ? "," : "", l->index, l->pid, l->interest, l->pending,
		       (unsigned long long)l->delivered,
		       (unsigned long long)l->wakeups,
		       (unsigned long long)l->received,
		       (unsigned long long)l->sleeps);
	}
	printf("%s]", pi->rows ? "\n " : "");
}

void cli_pattern_print_json(const struct cli_pattern_info *pi)
{
	if (!pi)
		return;
	if (pi->pattern == SHOAL_PATTERN_STORE)
		cli_store_print_json(pi->store);
	else if (pi->pattern == SHOAL_PATTERN_QUEUE)
		queue_json(&pi->queue);
	else if (pi->pattern == SHOAL_PATTERN_RPC)
		rpc_json(pi);
	else
		event_json(pi);
}
