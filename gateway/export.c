/* SPDX-License-Identifier: MIT */
/*
 * Exporting a local pub/sub service: a thread holds a local subscriber and
 * publishes each message it takes to NATS.
 *
 * Lossy services go to core NATS (at most once), several messages to a
 * NATS message (the batch frame, frame.h): each is copied into the frame,
 * checked intact (a lossy publisher may have lapped us while we copied;
 * then it is left out, as a local lossy subscriber would drop it), and
 * released; the publish only queues the frame in libnats' buffer and never
 * waits for the far side.
 *
 * Reliable services go to the gateways' JetStream stream, one message at a
 * time with its ack: the message stays held (taken, not released) until
 * the stream has acknowledged it, so while the stream refuses or the
 * server is away, the gateway's subscriber does not move and the local
 * reliable publisher waits for it as for any slow subscriber
 * (backpressure). Each message carries Nats-Msg-Id
 * "<name>:<epoch>:<seq>", so a retry after a lost ack, or the same message
 * taken again by a restarted gateway (it joins with the publisher's
 * history), is stored once (the stream's duplicate window, 2 minutes by
 * default).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "gw.h"

#define TICK_NS 100000000LL
/* Lossy: messages taken at once, and the size at which a frame is sent
 * even though the ring is not empty yet. */
#define LOSSY_BATCH 64
#define FRAME_TARGET (64 * 1024)

static void send_frame(struct gw_export *e, struct gw_frame_writer *w)
{
	gw_frame_end(w);
	if (natsConnection_Publish(e->gw->nc, e->subject, w->buf,
				   (int)w->len) == NATS_OK)
		e->sent += w->count;
}

/*
 * Lossy: take what the ring holds in batches, copy each message into a
 * frame (frame.h) and check it intact after the copy (a lossy publisher
 * may have lapped us meanwhile: then it is left out, as a local lossy
 * subscriber would drop it). A frame goes to core NATS as one message once
 * it reaches FRAME_TARGET bytes, or when the ring is empty: a message with
 * nothing behind it is not held back. The connection sends each publish
 * at once (natsOptions_SetSendAsap, main.c), so no flush is needed for
 * that.
 */
static void lossy_loop(struct gw_export *e, struct shoal_sub *sub)
{
	struct shoal_msg ms[LOSSY_BATCH];
	struct gw_frame_writer w = { 0 };
	int64_t maxp = natsConnection_GetMaxPayload(e->gw->nc);
	size_t cap = maxp > 0 ? (size_t)maxp : 1024 * 1024;
	unsigned char *buf = malloc(cap);
	int unflushed = 0, open = 0;

	if (!buf) {
		gw_log(e->gw, "export %s: out of memory", e->desc.name);
		return;
	}
	while (!atomic_load(&e->stop)) {
		int n = shoal_sub_take_batch(sub, ms, LOSSY_BATCH,
					     open || unflushed ? 0 : TICK_NS);

		if (n == -EAGAIN) {
			if (open && w.count)
				send_frame(e, &w);
			open = 0;
			unflushed = 0;
			continue;
		}
		if (n == -ETIMEDOUT || n == -EOVERFLOW)
			continue;
		if (n == -EPIPE)
			break; /* the main thread's watch sees it gone */
		if (n < 0) {
			gw_log(e->gw, "export %s: take: %s", e->desc.name,
			       strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++) {
			const struct shoal_msg *sm = &ms[i];
			size_t before;
			int err;

			if (!open &&
			    !gw_frame_begin(&w, buf, cap, e->desc.type_str))
				open = 1;
			if (!open)
				break;
			before = w.len;
			err = gw_frame_add(&w, sm->seq, sm->epoch,
					   sm->timestamp_ns, sm->user_header,
					   sm->user_header_size, sm->data,
					   sm->len);
			if (err && w.count) {
				/* Full: send what it has, start again. */
				send_frame(e, &w);
				open = !gw_frame_begin(&w, buf, cap,
						       e->desc.type_str);
				before = w.len;
				err = open ? gw_frame_add(&w, sm->seq,
							  sm->epoch,
							  sm->timestamp_ns,
							  sm->user_header,
							  sm->user_header_size,
							  sm->data, sm->len) :
					     -EMSGSIZE;
			}
			if (err)
				continue; /* larger than NATS takes: dropped */
			if (!shoal_sub_valid(sub, sm))
				gw_frame_drop_last(&w, before);
			else
				unflushed = 1;
			if (w.len >= FRAME_TARGET) {
				send_frame(e, &w);
				open = 0;
			}
		}
		shoal_sub_release_batch(sub, ms, (uint32_t)n);
	}
	/* The publisher gone (-EPIPE comes once the ring is empty, instead
	 * of -EAGAIN) or told to stop: what the frame holds goes first,
	 * before the main thread's "bye". */
	if (open && w.count)
		send_frame(e, &w);
	if (unflushed)
		natsConnection_FlushTimeout(e->gw->nc, 1000);
	free(buf);
}

/* Publishes @sm to the stream until it is acknowledged or we stop. */
static int publish_reliable(struct gw_export *e, const struct shoal_msg *sm)
{
	char id[SHOAL_SERVICE_NAME_MAX + 48];
	jsPubOptions po;
	natsMsg *m = NULL;
	int err;

	if (natsMsg_Create(&m, e->subject, NULL, sm->data, (int)sm->len) !=
	    NATS_OK)
		return -ENOMEM;
	err = gw_headers_set(m, &e->desc, sm);
	if (err) {
		natsMsg_Destroy(m);
		return err;
	}
	snprintf(id, sizeof(id), "%s:%" PRIu64 ":%" PRIu64, e->desc.name,
		 sm->epoch, sm->seq);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	po.MaxWait = 2000;
	for (;;) {
		jsPubAck *ack = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_PublishMsg(&ack, e->gw->js, m, &po, &jerr);

		jsPubAck_Destroy(ack);
		if (s == NATS_OK) {
			e->sent++;
			break;
		}
		e->retried++;
		if (atomic_load(&e->stop)) {
			err = -ECANCELED;
			break;
		}
		if (jerr == JSStreamNotFoundErr)
			gw_ensure_stream(e->gw);
		/* Refused or not answered: the message stays held, so the
		 * local ring fills and the publisher waits. Try again after
		 * a pause (libnats reconnects meanwhile). */
		nats_Sleep(100);
	}
	natsMsg_Destroy(m);
	return err;
}

/*
 * The epoch and seq of the newest message of this service in the stream
 * (0 and 0 if none): a restarted gateway skips what is older, whatever the
 * stream's duplicate window.
 */
static void last_stored(struct gw_export *e, uint64_t *epoch, uint64_t *seq)
{
	natsMsg *m = NULL;
	const char *type;
	int64_t ts;

	if (js_GetLastMsg(&m, e->gw->js, e->gw->stream, e->subject, NULL,
			  NULL) != NATS_OK)
		return;
	if (gw_headers_get(m, seq, epoch, &ts, &type, NULL, 0)) {
		*seq = 0;
		*epoch = 0;
	}
	natsMsg_Destroy(m);
}

static void *export_main(void *arg)
{
	struct gw_export *e = arg;
	struct shoal_sub_options o;
	struct shoal_sub *sub = NULL;
	uint64_t last_epoch = 0, last_seq = 0;
	int err;

	shoal_sub_options_init(&o);
	o.registry = e->gw->reg;
	o.type_name = e->desc.type_name;
	o.type_size = e->desc.type_size;
	o.type_align = e->desc.type_align;
	/* Reliable: take again what a gateway before us may have taken but
	 * not got acknowledged (the publisher's history); what the stream
	 * has already is skipped below, or dropped by its duplicate
	 * window. */
	if (e->desc.reliable) {
		o.history = SHOAL_PUB_CAPACITY_MAX;
		last_stored(e, &last_epoch, &last_seq);
	}
	err = shoal_sub_open(e->desc.name, &o, &sub);
	if (err) {
		gw_log(e->gw, "export %s: cannot subscribe: %s (%s)",
		       e->desc.name, strerror(-err), shoal_last_error());
		atomic_store(&e->done, 1);
		return NULL;
	}
	/* The announcement follows only after this: a far side that sees
	 * the service knows we are subscribed. */
	atomic_store(&e->done, 2);
	if (!e->desc.reliable)
		lossy_loop(e, sub);
	while (e->desc.reliable && !atomic_load(&e->stop)) {
		struct shoal_msg sm;

		err = shoal_sub_take(sub, &sm, TICK_NS);
		if (err == -ETIMEDOUT || err == -EAGAIN || err == -EOVERFLOW)
			continue;
		if (err == -EPIPE)
			break; /* the main thread's watch sees it gone */
		if (err) {
			gw_log(e->gw, "export %s: take: %s", e->desc.name,
			       strerror(-err));
			break;
		}
		if (sm.epoch == last_epoch && sm.seq <= last_seq) {
			shoal_sub_release(sub, &sm); /* stored already */
			continue;
		}
		err = publish_reliable(e, &sm);
		shoal_sub_release(sub, &sm);
		if (err && err != -ECANCELED)
			gw_log(e->gw, "export %s: %s", e->desc.name,
			       strerror(-err));
	}
	shoal_sub_close(sub);
	atomic_store(&e->done, 1);
	return NULL;
}

int gw_export_start(struct gw *gw, const struct shoal_service_info *info,
		    struct gw_export **out)
{
	struct shoal_pubsub_info pi;
	struct gw_export *e;
	int err;

	if (info->pattern == SHOAL_PATTERN_PUBSUB) {
		err = shoal_pubsub_inspect(gw->reg, info->name, &pi, NULL, 0);
		if (err < 0)
			return err;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->gw = gw;
	snprintf(e->desc.gw, sizeof(e->desc.gw), "%s", gw->id);
	snprintf(e->desc.host, sizeof(e->desc.host), "%s", gw->host);
	snprintf(e->desc.name, sizeof(e->desc.name), "%s", info->name);
	snprintf(e->desc.type_name, sizeof(e->desc.type_name), "%s",
		 info->type_name);
	e->desc.pattern = info->pattern;
	e->desc.type_size = info->type_size;
	e->desc.type_align = info->type_align;
	e->desc.epoch = info->epoch;
	gw_type_string(&e->desc);
	if (info->pattern != SHOAL_PATTERN_PUBSUB) {
		err = gw_export_other_start(gw, e);
		if (err) {
			free(e);
			return err;
		}
		*out = e;
		return 0;
	}
	e->desc.reliable = pi.delivery == SHOAL_DELIVERY_RELIABLE;
	e->desc.capacity = pi.capacity;
	e->desc.max_payload = pi.max_payload;
	e->desc.user_header_size = pi.user_header_size;
	err = gw_subject(gw, e->subject, sizeof(e->subject),
			 e->desc.reliable ? "r" : "p", info->name);
	if (!err && e->desc.reliable)
		err = gw_ensure_stream(gw);
	if (!err && pthread_create(&e->thread, NULL, export_main, e))
		err = -EAGAIN;
	if (err) {
		free(e);
		return err;
	}
	e->running = 1;
	*out = e;
	return 0;
}

void gw_export_stop(struct gw_export *e)
{
	if (!e)
		return;
	if (e->desc.pattern != SHOAL_PATTERN_PUBSUB) {
		gw_export_other_stop(e);
		return;
	}
	atomic_store(&e->stop, 1);
	if (e->running)
		pthread_join(e->thread, NULL);
	e->running = 0;
}
