/* SPDX-License-Identifier: MIT */
/*
 * Importing a remote pub/sub service: a local publisher of the same name,
 * delivery, capacity, payload size, user header size and type (so a local
 * subscriber's type check works as for a local publisher), fed from NATS.
 *
 * Lossy: a core NATS subscription, read by the lossy reader's thread
 * (lossy_reader.c), which writes each message into the mirror; a lossy
 * publisher never waits, so a slow local subscriber never slows the NATS
 * side.
 *
 * Reliable: a durable JetStream pull consumer, named after the importing
 * gateway and the service, fetched by a thread of the mirror's own. The
 * thread waits until the mirror has a local subscriber before fetching (a
 * message published to nobody is not kept, so it is left in the stream
 * instead), writes each message with the mirror's reliable publisher
 * (which waits for the slowest local subscriber) and acknowledges it only
 * then, waiting for the server's answer once per fetch (the last
 * message's), not per message. A message redelivered after an ack was
 * lost (a server restart) is recognised by its stream sequence and
 * acknowledged without being delivered again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "gw.h"

#define TICK_NS 100000000LL
#define WRITE_BATCH 64

/* Writes @m into the mirror; 0, -EPROTO (type differs), or -errno. */
static int mirror_write(struct gw_mirror *mi, natsMsg *m)
{
	unsigned char uh[SHOAL_PUB_USER_HEADER_MAX];
	uint64_t seq, epoch;
	const char *type;
	int64_t ts;
	int err;

	err = gw_headers_get(m, &seq, &epoch, &ts, &type, uh,
			     mi->desc.user_header_size);
	if (err)
		return err;
	if (strcmp(type, mi->desc.type_str))
		return -EPROTO;
	for (;;) {
		pthread_mutex_lock(&mi->lock);
		err = mi->pub ? shoal_pub_write(
					mi->pub, natsMsg_GetData(m),
					(uint32_t)natsMsg_GetDataLength(m),
					mi->desc.user_header_size ? uh : NULL) :
				-EPIPE;
		pthread_mutex_unlock(&mi->lock);
		/* Reliable: no room for send_timeout_ns; look at stop and
		 * try again. */
		if (err != -EAGAIN || atomic_load(&mi->stop))
			return err;
	}
}

/*
 * A lossy batch frame into the mirror. The whole frame is checked before
 * anything of it is written (a malformed one counts as one dropped; one of
 * another type, each of its records as mismatched); then its records go
 * to the mirror WRITE_BATCH at a time with shoal_pub_write_batch (lossy:
 * never waits).
 */
static void mirror_write_frame(struct gw_mirror *mi, const void *data,
			       size_t len)
{
	struct shoal_pub_msg pm[WRITE_BATCH];
	struct gw_frame_reader r;
	struct gw_frame_rec rec;
	int count = gw_frame_check(data, len, mi->desc.user_header_size);
	uint32_t nb = 0;
	int more;

	if (count < 0 || gw_frame_open(&r, data, len)) {
		pthread_mutex_lock(&mi->lock);
		mi->dropped++;
		pthread_mutex_unlock(&mi->lock);
		return;
	}
	if (r.type_len != strlen(mi->desc.type_str) ||
	    memcmp(r.type, mi->desc.type_str, r.type_len)) {
		pthread_mutex_lock(&mi->lock);
		mi->mismatched += (uint64_t)count;
		pthread_mutex_unlock(&mi->lock);
		return;
	}
	do {
		more = gw_frame_next(&r, &rec) == 1;
		if (more) {
			pm[nb].data = rec.data;
			pm[nb].len = rec.len;
			pm[nb].pad = 0;
			pm[nb].user_header = rec.uh_size ? rec.uh : NULL;
			nb++;
		}
		if (nb == WRITE_BATCH || (!more && nb)) {
			uint32_t k = 0;

			pthread_mutex_lock(&mi->lock);
			while (k < nb) {
				int rc = mi->pub ?
						 shoal_pub_write_batch(mi->pub,
								       pm + k,
								       nb - k) :
						 -EPIPE;

				if (rc > 0) {
					mi->received += (uint32_t)rc;
					k += (uint32_t)rc;
				} else {
					mi->dropped++;
					k++;
				}
			}
			pthread_mutex_unlock(&mi->lock);
			nb = 0;
		}
	} while (more);
}

/*
 * Destroys the NATS messages held by spent_add().
 */
static void spent_flush(struct gw_mirror *mi)
{
	for (uint32_t i = 0; i < mi->nspent; i++)
		natsMsg_Destroy(mi->spent[i]);
	mi->nspent = 0;
	mi->spent_bytes = 0;
}

/*
 * A lossy NATS message written into the mirror, destroyed later with
 * others. libnats' natsMsg_Destroy() does not free a received message: it
 * hands it to libnats' collector thread, waking that thread when it
 * sleeps, so one at a time that is a thread wake-up per NATS message (at
 * one message a millisecond, the importing gateway's largest cost after
 * the thread that delivers it). Held here, GW_SPENT_MAX (or
 * GW_SPENT_BYTES) of them go in one go: one wake-up for them all.
 * Bounded, and held while nothing more comes: memory only.
 */
static void spent_add(struct gw_mirror *mi, natsMsg *m)
{
	mi->spent[mi->nspent++] = m;
	mi->spent_bytes += (size_t)natsMsg_GetDataLength(m);
	if (mi->nspent == GW_SPENT_MAX || mi->spent_bytes >= GW_SPENT_BYTES)
		spent_flush(mi);
}

/*
 * A lossy NATS message into the mirror: a batch frame, or one message with
 * the shoal headers (from a gateway before frames). Called by the lossy
 * reader's thread, or by gw_lossy_remove(), under the reader's lock
 * (lossy_reader.c), which also guards mi->spent.
 */
void gw_mirror_lossy_msg(struct gw_mirror *mi, natsMsg *m)
{
	const char *v;
	int err;

	/* A frame has no NATS headers; a single message (from a gateway
	 * before frames) always has Shoal-Msg. */
	if (gw_frame_is(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)) &&
	    natsMsgHeader_Get(m, "Shoal-Msg", &v) != NATS_OK) {
		mirror_write_frame(mi, natsMsg_GetData(m),
				   (size_t)natsMsg_GetDataLength(m));
		spent_add(mi, m);
		return;
	}
	err = mirror_write(mi, m);
	pthread_mutex_lock(&mi->lock);
	if (!err)
		mi->received++;
	else if (err == -EPROTO)
		mi->mismatched++;
	else
		mi->dropped++;
	pthread_mutex_unlock(&mi->lock);
	spent_add(mi, m);
}

static void *reliable_main(void *arg)
{
	struct gw_mirror *mi = arg;

	while (!atomic_load(&mi->stop)) {
		natsMsgList list = { 0 };
		natsStatus s;

		pthread_mutex_lock(&mi->lock);
		s = mi->pub && shoal_pub_subscribers(mi->pub) > 0;
		pthread_mutex_unlock(&mi->lock);
		if (!s) {
			/* Nobody to deliver to: what is left stays in the
			 * stream for the next mirror. */
			if (atomic_load(&mi->draining))
				atomic_store(&mi->draining, 2);
			nats_Sleep(20);
			continue;
		}
		s = natsSubscription_Fetch(&list, mi->sub, 64, 200, NULL);
		if (s == NATS_TIMEOUT && atomic_load(&mi->draining))
			atomic_store(&mi->draining, 2);
		if (s != NATS_OK) {
			if (s != NATS_TIMEOUT)
				nats_Sleep(50);
			continue;
		}
		for (int i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];
			jsMsgMetaData *meta = NULL;
			uint64_t sseq = 0;
			int err = 0;

			if (atomic_load(&mi->stop))
				break; /* not acked: redelivered later */
			if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
				sseq = meta->Sequence.Stream;
				jsMsgMetaData_Destroy(meta);
			}
			if (sseq && sseq <= mi->last_stream_seq) {
				natsMsg_Ack(m, NULL); /* delivered already */
				continue;
			}
			err = mirror_write(mi, m);
			if (err == -ECANCELED ||
			    (err && atomic_load(&mi->stop)))
				break;
			pthread_mutex_lock(&mi->lock);
			if (!err)
				mi->received++;
			else if (err == -EPROTO)
				mi->mismatched++;
			else
				mi->dropped++;
			pthread_mutex_unlock(&mi->lock);
			if (sseq)
				mi->last_stream_seq = sseq;
			/* Acknowledged after the write; only the fetch's
			 * last waits for the server's answer (one round trip
			 * per fetch, not per message: the acks before it,
			 * sent earlier on the same connection, are processed
			 * before it). */
			if (i == list.Count - 1)
				natsMsg_AckSync(m, NULL, NULL);
			else
				natsMsg_Ack(m, NULL);
		}
		natsMsgList_Destroy(&list);
	}
	return NULL;
}

/*
 * Appends @sep (0: none), then up to @n bytes of @s (stopping at a NUL),
 * to @out of @len bytes, keeping room for a NUL in @cap; each byte outside
 * 0x21..0x7e becomes '_': what another gateway announced is untrusted, and
 * the origin is one line of words separated by spaces. The new length.
 */
static size_t put(char *out, size_t len, size_t cap, char sep, const char *s,
		  size_t n)
{
	if (sep && len < cap - 1)
		out[len++] = sep;
	for (size_t i = 0; i < n && s[i] && len < cap - 1; i++)
		out[len++] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '_';
	out[len] = '\0';
	return len;
}

/*
 * The mirror's origin (docs/gateway.md): "<server> <prefix> <gateway id>
 * <name>": the URL(s) given to --server, each without its
 * "user:password@" (the descriptor may be readable by others), the
 * subject prefix (the site), the id of the gateway that exports the
 * service, and the service's name there (the mirror's own). Cut to
 * SHOAL_ORIGIN_MAX bytes, ending "..." when cut.
 */
static void make_origin(const struct gw *gw, const struct gw_desc *d, char *out)
{
	char buf[2 * GW_SUBJECT_MAX + SHOAL_SERVICE_NAME_MAX + 2 * GW_ID_MAX];
	const char *s = gw->cfg.server;
	size_t len = 0;

	buf[0] = '\0';
	for (char sep = 0; *s; sep = ',') {
		size_t n = strcspn(s, ",");
		const char *scheme = strstr(s, "://");
		const char *at = NULL;

		for (size_t i = 0; i < n; i++)
			if (s[i] == '@')
				at = s + i;
		if (scheme && (size_t)(scheme - s) + 3 > n)
			scheme = NULL;
		if (at && scheme && at < scheme)
			at = NULL;
		if (at && scheme) {
			len = put(buf, len, sizeof(buf), sep, s,
				  (size_t)(scheme + 3 - s));
			len = put(buf, len, sizeof(buf), 0, at + 1,
				  (size_t)(s + n - at - 1));
		} else if (at) {
			len = put(buf, len, sizeof(buf), sep, at + 1,
				  (size_t)(s + n - at - 1));
		} else {
			len = put(buf, len, sizeof(buf), sep, s, n);
		}
		s += n;
		if (*s == ',')
			s++;
	}
	len = put(buf, len, sizeof(buf), ' ', gw->cfg.prefix, SIZE_MAX);
	len = put(buf, len, sizeof(buf), ' ', d->gw, sizeof(d->gw));
	len = put(buf, len, sizeof(buf), ' ', d->name, sizeof(d->name));
	if (len > SHOAL_ORIGIN_MAX)
		memcpy(buf + SHOAL_ORIGIN_MAX - 3, "...", 4);
	memcpy(out, buf, strlen(buf) + 1);
}

/* A durable consumer name: the gateway's id and a hash of the name. */
static void durable_name(const struct gw *gw, const char *name, char *out,
			 size_t cap)
{
	uint64_t h = 1469598103934665603ULL;
	size_t n;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(out, cap, "%s_%016" PRIx64, gw->id, h);
	for (n = 0; out[n]; n++)
		if (out[n] == '.' || out[n] == '*' || out[n] == '>' ||
		    out[n] == ' ')
			out[n] = '_';
}

int gw_mirror_start(struct gw *gw, const struct gw_desc *d,
		    struct gw_mirror **out)
{
	struct shoal_pub_options po;
	struct gw_mirror *mi;
	natsStatus s;
	int err;

	mi = calloc(1, sizeof(*mi));
	if (!mi)
		return -ENOMEM;
	mi->gw = gw;
	mi->desc = *d;
	gw_type_string(&mi->desc);
	make_origin(gw, d, mi->origin);
	pthread_mutex_init(&mi->lock, NULL);
	if (d->pattern != SHOAL_PATTERN_PUBSUB) {
		err = gw_mirror_other_start(gw, mi);
		if (err)
			goto fail;
		mi->last_seen_ns = gw_now_ns();
		*out = mi;
		return 0;
	}
	err = gw_subject(gw, mi->subject, sizeof(mi->subject),
			 d->reliable ? "r" : "p", d->name);
	if (err)
		goto fail;
	shoal_pub_options_init(&po);
	po.delivery = d->reliable ? SHOAL_DELIVERY_RELIABLE :
				    SHOAL_DELIVERY_LOSSY;
	if (d->capacity)
		po.capacity = d->capacity;
	if (d->max_payload)
		po.max_payload = d->max_payload;
	po.user_header_size = d->user_header_size;
	po.type_name = d->type_name[0] ? d->type_name : NULL;
	po.type_size = d->type_size;
	po.type_align = d->type_align;
	po.registry = gw->reg;
	po.access = gw->cfg.access;
	po.send_timeout_ns = TICK_NS;
	po.origin = mi->origin;
	err = shoal_pub_create(d->name, &po, &mi->pub);
	if (err)
		goto fail;
	if (!d->reliable) {
		/* Read by the lossy reader's thread (lossy_reader.c). */
		err = gw_lossy_add(gw, mi);
		if (err)
			goto fail_pub;
		s = NATS_OK;
	} else {
		char durable[GW_ID_MAX + 24];
		jsConsumerConfig cc;
		jsConsumerInfo *ci = NULL;
		jsErrCode jerr = 0;
		jsSubOptions so;

		durable_name(gw, d->name, durable, sizeof(durable));
		err = gw_ensure_stream(gw);
		if (err)
			goto fail_pub;
		/* Created here, not by js_PullSubscribe: libnats deletes a
		 * consumer it created when the subscription goes, and this
		 * one must outlive the mirror (and the gateway). */
		jsConsumerConfig_Init(&cc);
		cc.Durable = durable;
		cc.AckPolicy = js_AckExplicit;
		cc.DeliverPolicy = js_DeliverAll;
		cc.AckWait = 30LL * 1000000000LL;
		cc.FilterSubject = mi->subject;
		s = js_AddConsumer(&ci, gw->js, gw->stream, &cc, NULL, &jerr);
		jsConsumerInfo_Destroy(ci);
		if (s != NATS_OK && jerr != JSConsumerNameExistErr)
			gw_log(gw, "import %s: consumer %s: %s (%d)", d->name,
			       durable, natsStatus_GetText(s), (int)jerr);
		jsSubOptions_Init(&so);
		so.Stream = gw->stream;
		so.Consumer = durable;
		s = js_PullSubscribe(&mi->sub, gw->js, mi->subject, durable,
				     NULL, &so, &jerr);
		if (s == NATS_OK &&
		    pthread_create(&mi->thread, NULL, reliable_main, mi))
			s = NATS_NO_MEMORY;
		else if (s == NATS_OK)
			mi->running = 1;
	}
	if (s != NATS_OK) {
		gw_log(gw, "import %s: %s", d->name, natsStatus_GetText(s));
		err = -EIO;
		goto fail_sub;
	}
	mi->last_seen_ns = gw_now_ns();
	*out = mi;
	return 0;
fail_sub:
	if (mi->sub)
		natsSubscription_Destroy(mi->sub);
fail_pub:
	shoal_pub_destroy(mi->pub);
fail:
	pthread_mutex_destroy(&mi->lock);
	free(mi);
	return err;
}

void gw_mirror_stop(struct gw_mirror *mi, uint64_t *received,
		    uint64_t *mismatched)
{
	if (mi->desc.pattern != SHOAL_PATTERN_PUBSUB) {
		gw_mirror_other_stop(mi);
		/* Its thread has been joined. */
		*received = mi->received;
		*mismatched = 0;
		pthread_mutex_destroy(&mi->lock);
		free(mi);
		return;
	}
	atomic_store(&mi->stop, 1);
	if (mi->running)
		pthread_join(mi->thread, NULL);
	if (!mi->desc.reliable)
		/* Delivers what came before the bye; the reader's thread
		 * no longer touches @mi once this returns. */
		gw_lossy_remove(mi->gw, mi);
	pthread_mutex_lock(&mi->lock);
	shoal_pub_destroy(mi->pub);
	mi->pub = NULL;
	*received = mi->received;
	*mismatched = mi->mismatched;
	pthread_mutex_unlock(&mi->lock);
	/* Reliable: the durable consumer stays on the server, so what is
	 * not acknowledged yet reaches the next mirror of the name. */
	if (mi->sub)
		natsSubscription_Destroy(mi->sub);
	spent_flush(mi); /* removed above: nothing adds to it now */
	pthread_mutex_destroy(&mi->lock);
	free(mi);
}
