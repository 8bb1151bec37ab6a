/* SPDX-License-Identifier: MIT */
/*
 * Queues, request/response and events across the gateway.
 *
 * For these three the exporting host keeps the service (its consumers,
 * its server, its listeners) and the importing host gets a mirror that
 * its producers, clients and notifiers use as if it were the service:
 *
 *   queue  mirror (a queue the gateway creates, and consumes) -> each
 *          message on "<prefix>.q.<name>" -> the exporting gateways'
 *          subscriptions in the queue group "shoal" (so with several
 *          exporters of the name, each message goes to one of them) ->
 *          written into the local queue (waiting for room).
 *   rpc    mirror (an rpc server the gateway creates) -> each request on
 *          "<prefix>.c.<name>" with a reply inbox and the shoal
 *          correlation id in Shoal-Id -> the exporting gateway calls the
 *          local server as a client, and sends each response (a stream's
 *          too, Shoal-Flags carrying SHOAL_RPC_MORE) to the inbox -> the
 *          mirror answers the local client's request id.
 *   event  mirror (an event service the gateway creates and listens to,
 *          every id) -> each id fired on "<prefix>.e.<name>.<id>" -> the
 *          exporting gateway notifies the id on the local service.
 *
 * All of it rides core NATS: at most once (docs/gateway.md says what that
 * means for each).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

#define TICK_NS 100000000LL
#define RPC_TIMEOUT_MS 10000

/* --- export side: NATS -> the local service, as its client */

static void on_queue_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m,
			 void *closure)
{
	struct gw_export *e = closure;
	int err;

	(void)nc;
	(void)sub;
	do
		err = shoal_queue_write(e->queue, natsMsg_GetData(m),
					(uint32_t)natsMsg_GetDataLength(m));
	while (err == -EAGAIN && !atomic_load(&e->stop));
	if (!err)
		e->sent++;
	natsMsg_Destroy(m);
}

static void on_event_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m,
			 void *closure)
{
	struct gw_export *e = closure;
	const char *dot = strrchr(natsMsg_GetSubject(m), '.');
	char *end;
	unsigned long id = dot ? strtoul(dot + 1, &end, 10) : 0;

	(void)nc;
	(void)sub;
	if (dot && dot[1] && !*end && id < e->desc.capacity &&
	    !shoal_event_notify(e->event, (uint32_t)id))
		e->sent++;
	natsMsg_Destroy(m);
}

static void on_rpc_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m,
		       void *closure)
{
	struct gw_export *e = closure;
	const char *reply = natsMsg_GetReply(m), *cid = NULL;
	uint64_t id;
	int err;

	(void)sub;
	if (!reply) {
		natsMsg_Destroy(m);
		return;
	}
	natsMsgHeader_Get(m, "Shoal-Id", &cid);
	err = shoal_rpc_client_write(e->rpc, natsMsg_GetData(m),
				     (uint32_t)natsMsg_GetDataLength(m), &id);
	for (int more = !err; more;) {
		struct shoal_response r;
		natsMsg *out = NULL;
		char flags[16];

		err = shoal_rpc_client_take(e->rpc, &r,
					    RPC_TIMEOUT_MS * 1000000LL);
		if (err)
			break;
		if (r.id != id) { /* an answer to a call we gave up on */
			shoal_rpc_client_release(e->rpc, &r);
			continue;
		}
		more = !!(r.flags & SHOAL_RPC_MORE);
		snprintf(flags, sizeof(flags), "%u", r.flags);
		if (natsMsg_Create(&out, reply, NULL, r.data, (int)r.len) ==
		    NATS_OK) {
			natsMsgHeader_Set(out, "Shoal-Flags", flags);
			if (cid)
				natsMsgHeader_Set(out, "Shoal-Id", cid);
			natsConnection_PublishMsg(nc, out);
			natsMsg_Destroy(out);
		}
		shoal_rpc_client_release(e->rpc, &r);
	}
	if (err) {
		/* No answer: say so, rather than leave the far client
		 * waiting for its timeout. */
		natsMsg *out = NULL;
		char flags[16];

		snprintf(flags, sizeof(flags), "%u", SHOAL_RPC_ERROR);
		if (natsMsg_Create(&out, reply, NULL, NULL, 0) == NATS_OK) {
			natsMsgHeader_Set(out, "Shoal-Flags", flags);
			natsMsgHeader_Set(out, "Shoal-Error", strerror(-err));
			natsConnection_PublishMsg(nc, out);
			natsMsg_Destroy(out);
		}
	} else {
		e->sent++;
	}
	natsMsg_Destroy(m);
}

int gw_export_other_start(struct gw *gw, struct gw_export *e)
{
	char subj[GW_SUBJECT_MAX];
	natsMsgHandler cb;
	natsStatus s;
	int err = 0;

	if (e->desc.pattern == SHOAL_PATTERN_QUEUE) {
		struct shoal_queue_options o;
		struct shoal_queue_stats st;

		err = shoal_queue_inspect(gw->reg, e->desc.name, &st);
		if (err)
			return err;
		e->desc.capacity = st.capacity;
		e->desc.max_payload = st.max_message;
		shoal_queue_options_init(&o);
		o.registry = gw->reg;
		o.role = SHOAL_QUEUE_PRODUCER;
		o.send_timeout_ns = TICK_NS;
		err = shoal_queue_open(e->desc.name, &o, &e->queue);
		cb = on_queue_msg;
		err = err ? err :
			    gw_subject(gw, subj, sizeof(subj), "q",
				       e->desc.name);
	} else if (e->desc.pattern == SHOAL_PATTERN_RPC) {
		struct shoal_rpc_client_options o;
		struct shoal_rpc_info ri;

		err = shoal_rpc_inspect(gw->reg, e->desc.name, &ri, NULL, 0);
		if (err < 0)
			return err;
		e->desc.capacity = ri.request_capacity;
		e->desc.max_payload = ri.max_request;
		e->desc.max_response = ri.max_response;
		shoal_rpc_client_options_init(&o);
		o.registry = gw->reg;
		err = shoal_rpc_client_open(e->desc.name, &o, &e->rpc);
		cb = on_rpc_msg;
		err = err ? err :
			    gw_subject(gw, subj, sizeof(subj), "c",
				       e->desc.name);
	} else if (e->desc.pattern == SHOAL_PATTERN_EVENT) {
		struct shoal_event_options o;
		struct shoal_event_info ei;

		err = shoal_event_inspect(gw->reg, e->desc.name, &ei, NULL, 0);
		if (err < 0)
			return err;
		e->desc.capacity = ei.ids;
		shoal_event_options_init(&o);
		o.registry = gw->reg;
		err = shoal_event_open(e->desc.name, &o, &e->event);
		cb = on_event_msg;
		err = err ? err :
			    gw_subject(gw, subj, sizeof(subj), "e",
				       e->desc.name);
		if (!err && strlen(subj) + 3 > sizeof(subj))
			err = -ENAMETOOLONG;
		if (!err)
			strcat(subj, ".*");
	} else {
		return -EOPNOTSUPP;
	}
	if (err)
		goto fail;
	memcpy(e->subject, subj, sizeof(subj));
	s = natsConnection_QueueSubscribe(&e->sub, gw->nc, subj, "shoal", cb,
					  e);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(e->sub, -1, -1);
	if (s != NATS_OK) {
		err = -EIO;
		goto fail;
	}
	atomic_store(&e->done, 2);
	return 0;
fail:
	shoal_queue_close(e->queue);
	shoal_rpc_client_close(e->rpc);
	shoal_event_close(e->event);
	e->queue = NULL;
	e->rpc = NULL;
	e->event = NULL;
	return err;
}

void gw_export_other_stop(struct gw_export *e)
{
	atomic_store(&e->stop, 1);
	if (e->sub) {
		/* No callback runs on @e once the drain completes. */
		if (natsSubscription_Drain(e->sub) == NATS_OK)
			natsSubscription_WaitForDrainCompletion(e->sub, 5000);
		natsSubscription_Destroy(e->sub);
		e->sub = NULL;
	}
	shoal_queue_close(e->queue);
	shoal_rpc_client_close(e->rpc);
	shoal_event_close(e->event);
	e->queue = NULL;
	e->rpc = NULL;
	e->event = NULL;
}

/* --- import side: the mirror's users -> NATS */

static void queue_mirror(struct gw_mirror *mi)
{
	unsigned char *buf = malloc(mi->desc.max_payload + 1);

	while (buf && !atomic_load(&mi->stop)) {
		ssize_t n = shoal_queue_read(mi->queue, buf,
					     mi->desc.max_payload + 1, TICK_NS);

		if (n >= 0 && natsConnection_Publish(mi->gw->nc, mi->subject,
						     buf, (int)n) == NATS_OK)
			mi->received++;
	}
	free(buf);
}

static void rpc_mirror(struct gw_mirror *mi)
{
	while (!atomic_load(&mi->stop)) {
		struct shoal_request req;
		natsSubscription *inbox_sub = NULL;
		natsInbox *inbox = NULL;
		natsMsg *m = NULL;
		char cid[24];
		int answered = 0;

		if (shoal_rpc_server_take(mi->rpc, &req, TICK_NS))
			continue;
		snprintf(cid, sizeof(cid), "%" PRIu64, req.id);
		if (natsInbox_Create(&inbox) == NATS_OK &&
		    natsConnection_SubscribeSync(&inbox_sub, mi->gw->nc,
						 (const char *)inbox) ==
			    NATS_OK &&
		    natsMsg_Create(&m, mi->subject, (const char *)inbox,
				   req.data, (int)req.len) == NATS_OK &&
		    natsMsgHeader_Set(m, "Shoal-Id", cid) == NATS_OK &&
		    natsConnection_PublishMsg(mi->gw->nc, m) == NATS_OK) {
			for (;;) {
				natsMsg *r = NULL;
				const char *fl = NULL;
				uint32_t flags;

				if (natsSubscription_NextMsg(&r, inbox_sub,
							     RPC_TIMEOUT_MS) !=
				    NATS_OK)
					break;
				natsMsgHeader_Get(r, "Shoal-Flags", &fl);
				flags = fl ? (uint32_t)strtoul(fl, NULL, 10) :
					     0;
				shoal_rpc_server_write(
					mi->rpc, &req, natsMsg_GetData(r),
					(uint32_t)natsMsg_GetDataLength(r),
					flags);
				natsMsg_Destroy(r);
				answered = 1;
				if (!(flags & SHOAL_RPC_MORE))
					break;
			}
		}
		if (!answered)
			shoal_rpc_server_write(mi->rpc, &req, NULL, 0,
					       SHOAL_RPC_ERROR);
		else
			mi->received++;
		natsMsg_Destroy(m);
		natsSubscription_Destroy(inbox_sub);
		natsInbox_Destroy(inbox);
		shoal_rpc_server_release(mi->rpc, &req);
	}
}

static void event_mirror(struct gw_mirror *mi)
{
	struct shoal_event_set all, fired;
	char base[GW_SUBJECT_MAX], subj[GW_SUBJECT_MAX + 16];

	snprintf(base, sizeof(base), "%s", mi->subject);
	shoal_event_set_clear(&all);
	for (uint32_t i = 0; i < mi->desc.capacity; i++)
		shoal_event_set_add(&all, i);
	if (shoal_event_listen(mi->event, &all))
		return;
	while (!atomic_load(&mi->stop)) {
		if (shoal_event_wait(mi->event, &all, TICK_NS, &fired) <= 0)
			continue;
		for (uint32_t i = 0; i < mi->desc.capacity; i++) {
			if (!(fired.bits[i / 64] & ((uint64_t)1 << (i % 64))))
				continue;
			snprintf(subj, sizeof(subj), "%s.%u", base, i);
			if (natsConnection_Publish(mi->gw->nc, subj, NULL, 0) ==
			    NATS_OK)
				mi->received++;
		}
	}
}

static void *other_main(void *arg)
{
	struct gw_mirror *mi = arg;

	if (mi->desc.pattern == SHOAL_PATTERN_QUEUE)
		queue_mirror(mi);
	else if (mi->desc.pattern == SHOAL_PATTERN_RPC)
		rpc_mirror(mi);
	else
		event_mirror(mi);
	return NULL;
}

int gw_mirror_other_start(struct gw *gw, struct gw_mirror *mi)
{
	const struct gw_desc *d = &mi->desc;
	const char *kind;
	int err;

	if (d->pattern == SHOAL_PATTERN_QUEUE) {
		struct shoal_queue_options o;

		shoal_queue_options_init(&o);
		o.registry = gw->reg;
		o.access = gw->cfg.access;
		if (d->capacity)
			o.capacity = d->capacity;
		if (d->max_payload)
			o.max_message = d->max_payload;
		o.type_name = d->type_name[0] ? d->type_name : NULL;
		o.type_size = d->type_size;
		o.type_align = d->type_align;
		o.origin = mi->origin;
		err = shoal_queue_create(d->name, &o, &mi->queue);
		kind = "q";
	} else if (d->pattern == SHOAL_PATTERN_RPC) {
		struct shoal_rpc_server_options o;

		shoal_rpc_server_options_init(&o);
		o.registry = gw->reg;
		o.access = gw->cfg.access;
		if (d->capacity)
			o.request_capacity = d->capacity;
		if (d->max_payload)
			o.max_request = d->max_payload;
		if (d->max_response)
			o.max_response = d->max_response;
		o.type_name = d->type_name[0] ? d->type_name : NULL;
		o.type_size = d->type_size;
		o.type_align = d->type_align;
		o.origin = mi->origin;
		err = shoal_rpc_server_create(d->name, &o, &mi->rpc);
		kind = "c";
	} else if (d->pattern == SHOAL_PATTERN_EVENT) {
		struct shoal_event_options o;

		shoal_event_options_init(&o);
		o.registry = gw->reg;
		o.access = gw->cfg.access;
		if (d->capacity)
			o.ids = d->capacity;
		o.type_name = d->type_name[0] ? d->type_name : NULL;
		o.type_size = d->type_size;
		o.type_align = d->type_align;
		o.origin = mi->origin;
		err = shoal_event_create(d->name, &o, &mi->event);
		kind = "e";
	} else {
		return -EOPNOTSUPP;
	}
	if (err)
		return err;
	err = gw_subject(gw, mi->subject, sizeof(mi->subject), kind, d->name);
	if (!err && pthread_create(&mi->thread, NULL, other_main, mi))
		err = -EAGAIN;
	if (err) {
		gw_mirror_other_stop(mi);
		return err;
	}
	mi->running = 1;
	return 0;
}

void gw_mirror_other_stop(struct gw_mirror *mi)
{
	atomic_store(&mi->stop, 1);
	if (mi->running)
		pthread_join(mi->thread, NULL);
	mi->running = 0;
	shoal_queue_destroy(mi->queue);
	shoal_rpc_server_destroy(mi->rpc);
	shoal_event_destroy(mi->event);
	mi->queue = NULL;
	mi->rpc = NULL;
	mi->event = NULL;
}
