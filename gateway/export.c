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
 * Reliable services go to the gateways' JetStream stream over a NATS
 * connection of the export's own, up to a window of messages in flight
 * (--reliable-window, default and most 64: what the local subscriber may
 * hold). Each message stays held (taken, not released) until the stream
 * has acknowledged it and every one before it, so while the stream
 * refuses or the server is away, the gateway's subscriber does not move
 * and the local reliable publisher waits for it as for any slow
 * subscriber (backpressure). Each message carries Nats-Msg-Id
 * "<name>:<epoch>:<seq>". On a refusal, a late ack or a broken connection
 * the held messages are sent again, in order, from the oldest (a new
 * "pass"); the stream's duplicate window drops those it has. The order
 * holds because the stream holds a prefix of what one connection sent,
 * and a new pass starts only after every message before its first is
 * acknowledged: docs/gateway.md, "Reliable pub/sub", has the argument and
 * what it does not cover. A restarted gateway (it joins with the
 * publisher's history) skips what the stream's newest message of the
 * service says is stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frame.h"
#include "gw.h"

#define TICK_NS 100000000LL
/* Lossy: messages taken at once, and the size at which a frame is sent
 * even though the ring is not empty yet. 16 KiB, not more: nats-server
 * spends more CPU per byte on larger messages (at 1 KiB lossy, 3.7 us per
 * message carried in 64 KiB frames, 2.1 us in 16 KiB ones, about what it
 * spends on a plain 1 KiB message: bench/README.md), and it is the largest
 * consumer of CPU on the path. */
#define LOSSY_BATCH 64
#define FRAME_TARGET (16 * 1024)

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
 * subscriber would drop it); one found overwritten before its copy is
 * left out without it. A frame goes to core NATS as one message once
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
	int64_t spin_ns = e->gw->cfg.export_spin_ns;
	int unflushed = 0, open = 0;

	if (!buf) {
		gw_log(e->gw, "export %s: out of memory", e->desc.name);
		return;
	}
	while (!atomic_load(&e->stop)) {
		int n = shoal_sub_take_batch(
			sub, ms, LOSSY_BATCH,
			open || unflushed || spin_ns ? 0 : TICK_NS);

		if (n == -EAGAIN && spin_ns && !open && !unflushed) {
			/* --export-spin-us: poll the empty ring for a while
			 * before sleeping, so a message that comes within it
			 * costs no wake-up (and the spin costs a core while
			 * messages come more often than it lasts). */
			int64_t t0 = gw_now_ns();

			while (n == -EAGAIN && gw_now_ns() - t0 < spin_ns)
				n = shoal_sub_take_batch(sub, ms, LOSSY_BATCH,
							 0);
			if (n == -EAGAIN)
				n = shoal_sub_take_batch(sub, ms, LOSSY_BATCH,
							 TICK_NS);
		}

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

			/* Overwritten already (a publisher faster than NATS
			 * laps us while we copy the batch): left out without
			 * the copy, as the check after it would. */
			if (!shoal_sub_valid(sub, sm))
				continue;
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

/* --- reliable: a window of publishes in flight to JetStream */

/* Most messages in flight at once: what the local subscriber may hold. */
#define REL_WINDOW_MAX SHOAL_SUB_HELD_MAX
#define REL_WINDOW_DEFAULT REL_WINDOW_MAX
/* An ack not here after this long: the pass is sent again. */
#define REL_ACK_WAIT_NS 2000000000LL
/* Pause after a refusal, or between connection attempts. */
#define REL_RETRY_MS 100

/* One held message (taken from the ring, not released). */
struct rel_slot {
	struct shoal_msg sm; /* the export thread's */
	int64_t sent_ns;     /* the export thread's: last sent */
	/* Under rel.lock (the ack callback reads and sets them): */
	uint64_t tidx; /* take index: which message this is */
	uint64_t pass; /* the pass it was last sent in */
	int held;      /* tidx is live here */
	int acked;     /* the stream has it (an ack of any pass) */
	int failed;    /* refused in its current pass */
	int err_code;  /* the refusal's JetStream error code, or -503 */
};

struct rel {
	struct gw_export *e;
	struct shoal_sub *sub;
	uint32_t window; /* the most in flight */
	/* The export's own connection (no reconnection: a new connection
	 * is a new pass, below), its JetStream context, and the wildcard
	 * subscription to its ack inbox. */
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *acks;
	char inbox[128];
	size_t inbox_len;
	int efd; /* eventfd: the ack callback wakes the thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	int sleeping;	 /* the thread polls efd (so a callback writes it) */
	int sub_done;	 /* the ack subscription's last callback returned */
	uint64_t events; /* acks and refusals noted by the callback */
	/* The export thread's: */
	uint64_t pass;	 /* sends since the last failure */
	uint64_t head;	 /* take index of the oldest held */
	uint64_t seen;	 /* events, when last collected */
	uint32_t n;	 /* held: slots head .. head + n - 1 */
	uint32_t nsent;	 /* held [0, nsent) sent in this pass, in order */
	uint32_t limit;	 /* in flight allowed in this pass */
	int refused;	 /* a refusal (not a timeout) ended the pass */
	int refusal_err; /* its error code */
	struct rel_slot slot[REL_WINDOW_MAX];
};

static struct rel_slot *rel_at(struct rel *r, uint32_t i)
{
	return &r->slot[(r->head + i) % REL_WINDOW_MAX];
}

/*
 * The ack callback (a libnats thread): the reply subject is
 * "<inbox>.<pass>.<tidx>"; the body a JetStream PubAck ({"stream":..,
 * "seq":..}, possibly "duplicate":true) or {"error":{...}}; a "no
 * responders" status when no stream takes the subject. An ack of any
 * pass means the stream has the message; a refusal counts only in the
 * pass the message was last sent in (an older one was overtaken by the
 * resend).
 */
static void on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *m,
		   void *closure)
{
	struct rel *r = closure;
	const char *subj = natsMsg_GetSubject(m);
	const char *data = natsMsg_GetData(m);
	int len = natsMsg_GetDataLength(m), ok = 0, code = 0, wake = 0;
	unsigned long long pass, tidx;
	/* A PubAck names the stream (up to GW_SUBJECT_MAX) before its seq. */
	char body[2 * GW_SUBJECT_MAX];

	(void)nc;
	(void)sub;
	if (strncmp(subj, r->inbox, r->inbox_len) ||
	    sscanf(subj + r->inbox_len, ".%llu.%llu", &pass, &tidx) != 2)
		goto out;
	if (natsMsg_IsNoResponders(m)) {
		code = -503;
	} else {
		const char *ec;

		if (len > (int)sizeof(body) - 1)
			len = (int)sizeof(body) - 1;
		memcpy(body, data ? data : "", (size_t)(data ? len : 0));
		body[data ? len : 0] = '\0';
		if (!strstr(body, "\"error\"") && strstr(body, "\"seq\""))
			ok = 1;
		else if ((ec = strstr(body, "\"err_code\":")))
			code = atoi(ec + 11);
		else
			code = -1;
	}
	pthread_mutex_lock(&r->lock);
	{
		struct rel_slot *s = &r->slot[tidx % REL_WINDOW_MAX];

		if (s->held && s->tidx == tidx) {
			if (ok) {
				s->acked = 1;
			} else if (s->pass == pass) {
				s->failed = 1;
				s->err_code = code;
			}
			r->events++;
			wake = r->sleeping;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (wake) {
		uint64_t one = 1;

		if (write(r->efd, &one, sizeof(one)) < 0) {
			/* Full (cannot be: it is drained) or closed. */
		}
	}
out:
	natsMsg_Destroy(m);
}

static void on_ack_done(void *closure)
{
	struct rel *r = closure;

	pthread_mutex_lock(&r->lock);
	r->sub_done = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Closes the connection; no ack callback runs after this returns. */
static void rel_disconnect(struct rel *r)
{
	if (r->acks) {
		natsSubscription_Unsubscribe(r->acks);
		natsConnection_Close(r->nc);
		pthread_mutex_lock(&r->lock);
		while (!r->sub_done)
			pthread_cond_wait(&r->cond, &r->lock);
		pthread_mutex_unlock(&r->lock);
		natsSubscription_Destroy(r->acks);
		r->acks = NULL;
	}
	jsCtx_Destroy(r->js);
	r->js = NULL;
	natsConnection_Destroy(r->nc);
	r->nc = NULL;
}

/*
 * A connection of the export's own, which never reconnects by itself and
 * buffers nothing while disconnected: what it sent before it broke is
 * what the server got (a prefix of it), and nothing is sent on the next
 * one before the thread starts a new pass from the oldest unacknowledged
 * message (see the order argument in docs/gateway.md). Pings every
 * second find a server that stopped answering.
 */
static int rel_connect(struct rel *r)
{
	struct gw *gw = r->e->gw;
	natsOptions *o = NULL;
	natsInbox *inbox = NULL;
	char wild[sizeof(r->inbox) + 8];
	natsStatus s = gw_nats_options(gw, &o);

	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(o, false);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, 3);
	if (s == NATS_OK)
		s = natsConnection_Connect(&r->nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&r->js, r->nc, NULL);
	if (s == NATS_OK)
		s = natsInbox_Create(&inbox);
	if (s == NATS_OK) {
		snprintf(r->inbox, sizeof(r->inbox), "%s", (const char *)inbox);
		r->inbox_len = strlen(r->inbox);
		snprintf(wild, sizeof(wild), "%s.*.*", r->inbox);
		natsInbox_Destroy(inbox);
		r->sub_done = 0;
		s = natsConnection_Subscribe(&r->acks, r->nc, wild, on_ack, r);
	}
	if (s == NATS_OK)
		s = natsSubscription_SetOnCompleteCB(r->acks, on_ack_done, r);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(r->acks, -1, -1);
	if (s != NATS_OK) {
		if (r->acks) {
			/* Not closed yet: no callback has been asked for. */
			natsSubscription_Destroy(r->acks);
			r->acks = NULL;
		}
		rel_disconnect(r);
		return -EIO;
	}
	return 0;
}

/* Releases the oldest @count held messages (the stream has them). */
static void rel_release(struct rel *r, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		struct rel_slot *s = rel_at(r, 0);

		pthread_mutex_lock(&r->lock);
		s->held = 0;
		pthread_mutex_unlock(&r->lock);
		shoal_sub_release(r->sub, &s->sm);
		r->head++;
		r->n--;
		if (r->nsent)
			r->nsent--;
	}
}

/* Publishes the @i-th held message in this pass: 0, or -EIO. */
static int rel_send(struct rel *r, uint32_t i)
{
	struct gw_export *e = r->e;
	struct rel_slot *s = rel_at(r, i);
	char id[SHOAL_SERVICE_NAME_MAX + 48], reply[sizeof(r->inbox) + 48];
	natsMsg *m = NULL;
	natsStatus st;

	snprintf(reply, sizeof(reply), "%s.%" PRIu64 ".%" PRIu64, r->inbox,
		 r->pass, r->head + i);
	snprintf(id, sizeof(id), "%s:%" PRIu64 ":%" PRIu64, e->desc.name,
		 s->sm.epoch, s->sm.seq);
	pthread_mutex_lock(&r->lock);
	s->pass = r->pass;
	s->failed = 0;
	pthread_mutex_unlock(&r->lock);
	st = natsMsg_Create(&m, e->subject, reply, s->sm.data, (int)s->sm.len);
	if (st == NATS_OK && gw_headers_set(m, &e->desc, &s->sm))
		st = NATS_NO_MEMORY;
	if (st == NATS_OK)
		st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (st == NATS_OK)
		st = natsConnection_PublishMsg(r->nc, m);
	natsMsg_Destroy(m);
	s->sent_ns = gw_now_ns();
	return st == NATS_OK ? 0 : -EIO;
}

/*
 * After a new connection: the newest message of the service the stream
 * holds, if it is one of ours held, is stored with all held before it
 * (the stream holds a prefix of what was sent, in order): release them
 * instead of sending them again, whatever the duplicate window.
 */
static void rel_skip_stored(struct rel *r)
{
	uint64_t seq = 0, epoch = 0;
	natsMsg *m = NULL;
	const char *type;
	int64_t ts;

	if (!r->n || js_GetLastMsg(&m, r->js, r->e->gw->stream, r->e->subject,
				   NULL, NULL) != NATS_OK)
		return;
	if (!gw_headers_get(m, &seq, &epoch, &ts, &type, NULL, 0))
		for (uint32_t i = 0; i < r->n; i++) {
			struct rel_slot *s = rel_at(r, i);

			if (s->sm.epoch == epoch && s->sm.seq == seq) {
				r->e->sent += i + 1;
				rel_release(r, i + 1);
				break;
			}
		}
	natsMsg_Destroy(m);
}

/* A new pass: everything held is sent again from the oldest, one at a
 * time until the stream acknowledges one. */
static void rel_new_pass(struct rel *r)
{
	r->e->retried += r->nsent;
	r->pass++;
	r->nsent = 0;
	r->limit = 1;
	r->refused = 0;
}

/*
 * Takes in what the ack callback noted: releases the acknowledged messages
 * from the oldest on; 1 if the pass failed (a message of it refused, or
 * the oldest not acknowledged within REL_ACK_WAIT_NS), else 0.
 */
static int rel_collect(struct rel *r)
{
	uint32_t k = 0;
	int failed = 0;

	pthread_mutex_lock(&r->lock);
	r->seen = r->events;
	while (k < r->n && rel_at(r, k)->acked)
		k++;
	for (uint32_t i = k; i < r->nsent && !failed; i++)
		if (rel_at(r, i)->failed) {
			failed = 1;
			r->refusal_err = rel_at(r, i)->err_code;
		}
	pthread_mutex_unlock(&r->lock);
	if (k) {
		r->e->sent += k;
		rel_release(r, k);
		r->limit = r->window; /* the stream takes them again */
	}
	if (failed) {
		r->refused = 1;
		return 1;
	}
	/* The connection closed (the server went): at once, not when the
	 * oldest ack is due. */
	return r->nsent &&
	       (gw_now_ns() - rel_at(r, 0)->sent_ns > REL_ACK_WAIT_NS ||
		natsConnection_IsClosed(r->nc));
}

/*
 * Waits until the ack callback notes something, the ring has a message
 * (when @ring: the window has room), or the oldest ack is due; at most
 * TICK_NS (to see stop).
 */
static void rel_wait(struct rel *r, int ring)
{
	struct pollfd p[2] = { { .fd = r->efd, .events = POLLIN },
			       { .fd = shoal_sub_fd(r->sub),
				 .events = POLLIN } };
	int64_t wait = TICK_NS;
	uint64_t drain;
	int armed = 0;

	if (r->nsent) {
		int64_t due =
			rel_at(r, 0)->sent_ns + REL_ACK_WAIT_NS - gw_now_ns();

		if (due < wait)
			wait = due > 0 ? due : 0;
	}
	pthread_mutex_lock(&r->lock);
	if (r->events != r->seen) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	/* Pairs with the callback's read of sleeping under the same lock:
	 * an ack noted after this unlock writes efd, so poll sees it. */
	r->sleeping = 1;
	pthread_mutex_unlock(&r->lock);
	if (ring) {
		armed = shoal_sub_arm(r->sub);
		if (armed == 1)
			wait = 0; /* a message is there already */
	}
	poll(p, ring && armed == 0 ? 2 : 1, (int)((wait + 999999) / 1000000));
	if (ring && armed >= 0)
		shoal_sub_disarm(r->sub);
	pthread_mutex_lock(&r->lock);
	r->sleeping = 0;
	pthread_mutex_unlock(&r->lock);
	if (read(r->efd, &drain, sizeof(drain)) < 0) {
		/* EAGAIN: nothing was written */
	}
}

/* Holds the taken messages @ms[0..@k) in the window, releasing at once
 * those the stream had before this gateway started. */
static void rel_hold(struct rel *r, struct shoal_msg *ms, int k,
		     uint64_t last_epoch, uint64_t last_seq)
{
	for (int i = 0; i < k; i++) {
		struct rel_slot *s;

		if (ms[i].epoch == last_epoch && ms[i].seq <= last_seq) {
			shoal_sub_release(r->sub, &ms[i]); /* stored already */
			continue;
		}
		s = rel_at(r, r->n);
		s->sm = ms[i];
		pthread_mutex_lock(&r->lock);
		s->tidx = r->head + r->n;
		s->held = 1;
		s->acked = 0;
		s->failed = 0;
		pthread_mutex_unlock(&r->lock);
		r->n++;
	}
}

/*
 * Reliable: hold up to `window` messages taken from the ring and
 * published to the stream, each released only once it and every one
 * before it are acknowledged (docs/gateway.md, "Reliable pub/sub").
 */
static void reliable_loop(struct gw_export *e, struct shoal_sub *sub,
			  uint32_t window, uint64_t last_epoch,
			  uint64_t last_seq)
{
	struct shoal_msg ms[REL_WINDOW_MAX];
	struct rel *r = calloc(1, sizeof(*r));
	int ending = 0, logged = 0;

	if (!r) {
		gw_log(e->gw, "export %s: out of memory", e->desc.name);
		return;
	}
	r->e = e;
	r->sub = sub;
	r->window = window;
	r->limit = 1;
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (r->efd < 0) {
		gw_log(e->gw, "export %s: eventfd: %s", e->desc.name,
		       strerror(errno));
		goto out;
	}
	while (!atomic_load(&e->stop)) {
		int k;

		if (!r->nc) {
			if (rel_connect(r)) {
				if (!logged++)
					gw_log(e->gw,
					       "export %s: cannot connect, "
					       "retrying",
					       e->desc.name);
				nats_Sleep(REL_RETRY_MS);
				continue;
			}
			logged = 0;
			rel_skip_stored(r);
			rel_new_pass(r);
		}
		if (rel_collect(r)) {
			/* Refused or not answered: the messages stay held
			 * (the ring fills and the local publisher waits) and
			 * are sent again from the oldest; the duplicate
			 * window drops what the stream has already. */
			if (natsConnection_Status(r->nc) !=
			    NATS_CONN_STATUS_CONNECTED) {
				rel_disconnect(r);
				continue;
			}
			if (r->refused) {
				if (r->refusal_err == -503 ||
				    r->refusal_err == JSStreamNotFoundErr)
					gw_ensure_stream(e->gw);
				nats_Sleep(REL_RETRY_MS);
			}
			rel_new_pass(r);
			continue;
		}
		if (ending && !r->n)
			break;
		while (r->nsent < r->n && r->nsent < r->limit) {
			if (rel_send(r, r->nsent))
				break;
			r->nsent++;
		}
		if (r->nsent < r->n && r->nsent < r->limit) {
			/* The send failed: the connection is going. */
			if (natsConnection_Status(r->nc) !=
			    NATS_CONN_STATUS_CONNECTED)
				rel_disconnect(r);
			else
				nats_Sleep(REL_RETRY_MS);
			continue;
		}
		if (!ending && r->n < r->window) {
			k = shoal_sub_take_batch(sub, ms, r->window - r->n,
						 r->n ? 0 : TICK_NS);
			if (k > 0) {
				rel_hold(r, ms, k, last_epoch, last_seq);
				continue;
			}
			if (k == -EPIPE) {
				/* The publisher gone, its last message
				 * taken: end once the stream has all. */
				ending = 1;
				continue;
			}
			if (k != -EAGAIN && k != -ETIMEDOUT &&
			    k != -EOVERFLOW && k != -EBUSY) {
				gw_log(e->gw, "export %s: take: %s",
				       e->desc.name, strerror(-k));
				break;
			}
		}
		if (r->n)
			rel_wait(r, !ending && r->n < r->window);
	}
out:
	/* Held messages are released by shoal_sub_close(): a gateway
	 * started later takes them again from the publisher's history. */
	rel_disconnect(r);
	if (r->efd >= 0)
		close(r->efd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
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
	uint32_t window = e->gw->cfg.reliable_window ?
				  e->gw->cfg.reliable_window :
				  REL_WINDOW_DEFAULT;
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
		/* The window: held at once, and not more than the ring. */
		if (window > REL_WINDOW_MAX)
			window = REL_WINDOW_MAX;
		if (e->desc.capacity && window > e->desc.capacity)
			window = e->desc.capacity;
		o.max_held = window;
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
	else
		reliable_loop(e, sub, window, last_epoch, last_seq);
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
