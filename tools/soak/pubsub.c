/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the pub/sub roles. pub and lpub publish numbered messages
 * (reliable and lossy) and write (epoch, messages confirmed) of each
 * incarnation to the board; sub subscribes to every publisher with
 * SHOAL_SUB_REATTACH and checks each stream as it goes: within one epoch a
 * reliable stream goes up by one, at -EPIPE it got every message its dead
 * publisher confirmed (tail_check), a lossy stream's gaps equal the
 * -EOVERFLOW lost counts, and no message is torn (copy: never; zero copy:
 * unless release says -ESTALE).
 */
#include <poll.h>

#include "soak.h"

/* Publishers (reliable and lossy). */
int soak_run_pub(struct role_ctx *c)
{
	int lossy = c->role == ROLE_LPUB;
	struct shoal_pub_options o;
	struct shoal_pub *pub = NULL;
	char name[128];
	uint64_t seq = 0, epoch;
	int err;
	uint32_t h = (uint32_t)(c->inc % HIST);

	service_name(name, sizeof(name), c->b, lossy ? "lpub" : "pub",
		     c->index);
	shoal_pub_options_init(&o);
	o.delivery = lossy ? SHOAL_DELIVERY_LOSSY : SHOAL_DELIVERY_RELIABLE;
	o.capacity = PS_CAP;
	o.max_payload = PS_PAYLOAD;
	o.max_subscribers = 2 * INST_MAX;
	o.send_timeout_ns = 100 * MS;
	/* A killed predecessor's name is taken over; a live one (it cannot
	 * be: the coordinator reaped it) would be -EEXIST. */
	while ((err = shoal_pub_create(name, &o, &pub)) < 0)
		if (!soak_retry(c, err, "shoal_pub_create", name, SOAK_CREATE))
			return 0;
	epoch = shoal_pub_epoch(pub);
	atomic_store_explicit(&c->me->hist[h].sent, 0, memory_order_relaxed);
	atomic_store_explicit(&c->me->hist[h].epoch, epoch,
			      memory_order_release);
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);

	while (!soak_stopping(c)) {
		uint8_t buf[3][PS_PAYLOAD];
		struct shoal_pub_msg batch[3];
		uint32_t n = 1 + (uint32_t)(rng_next(&c->rng) % 3);
		uint32_t how = (uint32_t)(rng_next(&c->rng) % 3);
		int got;

		beat(c);
		soak_maybe_sample(c);
		soak_throttle(c);
		for (uint32_t k = 0; k < n; k++) {
			uint32_t len = msg_len(c, PS_PAYLOAD);

			msg_build(buf[k], c->index, epoch, seq + k, 0, len);
			batch[k].data = buf[k];
			batch[k].len = len;
			batch[k].pad = 0;
			batch[k].user_header = NULL;
		}
		if (how == 0) {
			got = shoal_pub_write_batch(pub, batch, n);
		} else if (how == 1) {
			got = shoal_pub_write(pub, buf[0], batch[0].len, NULL);
			got = got < 0 ? got : 1;
		} else {
			void *p;

			got = shoal_pub_loan(pub, batch[0].len, &p);
			if (!got) {
				memcpy(p, buf[0], batch[0].len);
				got = shoal_pub_send(pub, p, batch[0].len);
				got = got < 0 ? got : 1;
			}
		}
		if (got == -EAGAIN && !lossy) {
			xcount(c, X_EAGAIN, 1);
			continue;
		}
		if (got < 0) {
			soak_failed(c, "send", got);
			continue;
		}
		seq += (uint64_t)got;
		c->sent_here += (uint64_t)got;
		/* Release: the subscriber's tail check reads it after our
		 * death (relaxed would do; the order is the kernel's). */
		atomic_store_explicit(&c->me->hist[h].sent, seq,
				      memory_order_release);
		count_msg(c, (uint64_t)got);
	}
	shoal_pub_destroy(pub);
	return 0;
}

/* One subscription of a subscriber. */
struct stream {
	struct shoal_sub *sub;
	int lossy;
	uint32_t pub; /* publisher index */
	uint64_t epoch;
	int have;	  /* a message of this epoch was seen */
	uint64_t next;	  /* seq after the last one seen */
	uint64_t pending; /* lossy: lost reported since */
	char name[128];
};

/* The subscriber's tail check at -EPIPE: everything the dead reliable
 * publisher confirmed was delivered. */
static void tail_check(struct role_ctx *c, struct stream *s)
{
	struct inst *p = &c->b->inst[ROLE_PUB][s->pub];

	if (s->lossy || !s->have)
		return;
	for (uint32_t h = 0; h < HIST; h++) {
		uint64_t e = atomic_load_explicit(&p->hist[h].epoch,
						  memory_order_acquire);
		uint64_t sent;

		if (e != s->epoch)
			continue;
		sent = atomic_load_explicit(&p->hist[h].sent,
					    memory_order_acquire);
		/* A publisher that already came back under the same
		 * epoch number cannot happen: epochs differ per segment. */
		if (s->next < sent)
			soak_violation(c,
				       "%s epoch %" PRIu64
				       ": -EPIPE after seq %" PRIu64
				       " but the publisher confirmed %" PRIu64
				       " messages",
				       s->name, s->epoch, s->next, sent);
		xcount(c, X_TAILCHECKS, 1);
		return;
	}
}

static void check_payload(struct role_ctx *c, struct stream *s,
			  const uint8_t *p, uint32_t len,
			  const struct shoal_msg *m, int *bad, char *why,
			  size_t cap)
{
	const struct msg_head *h = (const struct msg_head *)p;
	struct msg_head hd;

	(void)c;
	*bad = 1;
	if (len < sizeof(hd)) {
		snprintf(why, cap, "length %u", len);
		return;
	}
	memcpy(&hd, h, sizeof(hd));
	if (hd.magic != MSG_MAGIC || hd.from != s->pub || hd.len != len ||
	    hd.epoch != m->epoch || hd.seq != m->seq) {
		snprintf(why, cap,
			 "header (magic %08x from %u len %u/%u epoch %" PRIu64
			 "/%" PRIu64 " seq %" PRIu64 "/%" PRIu64 ")",
			 hd.magic, hd.from, hd.len, len, hd.epoch, m->epoch,
			 hd.seq, m->seq);
		return;
	}
	if (!filled(p, sizeof(hd), len, m->epoch ^ m->seq)) {
		snprintf(why, cap, "payload bytes of seq %" PRIu64, m->seq);
		return;
	}
	*bad = 0;
}

/* The stream is now of publisher epoch @e: a new publisher, or the first. */
static void stream_epoch(struct role_ctx *c, struct stream *s, uint64_t e)
{
	if (e == s->epoch)
		return;
	if (s->epoch)
		xcount(c, X_REATTACH, 1);
	s->epoch = e;
	s->have = 0;
	s->pending = 0;
}

/* Sequence accounting of one message that arrived intact (or stale). */
static void stream_arrived(struct role_ctx *c, struct stream *s,
			   const struct shoal_msg *m)
{
	stream_epoch(c, s, m->epoch);
	if (s->have && m->seq != s->next + s->pending)
		soak_violation(c,
			       "%s epoch %" PRIu64 ": seq %" PRIu64
			       " after %" PRIu64 " with %" PRIu64
			       " reported lost in between",
			       s->name, s->epoch, m->seq,
			       s->next ? s->next - 1 : 0, s->pending);
	s->have = 1;
	s->next = m->seq + 1;
	s->pending = 0;
}

/* Takes what @s has now; returns how many events (messages, errors). */
static int stream_drain(struct role_ctx *c, struct stream *s)
{
	int events = 0;

	for (int k = 0; k < 64; k++) {
		struct shoal_msg m;
		uint8_t buf[PS_PAYLOAD];
		char why[200];
		int bad, err;
		int copy = !s->lossy || (rng_next(&c->rng) & 1);

		memset(&m, 0, sizeof(m));

		if (copy) {
			ssize_t n = shoal_sub_read(s->sub, buf, sizeof(buf),
						   NULL, &m, 0);

			err = n < 0 ? (int)n : 0;
			if (!err) {
				check_payload(c, s, buf, (uint32_t)n, &m, &bad,
					      why, sizeof(why));
				if (bad)
					soak_violation(
						c,
						"%s: copied message torn: "
						"%s",
						s->name, why);
			}
		} else {
			err = shoal_sub_take(s->sub, &m, 0);
			if (!err) {
				int rel;

				memcpy(buf, m.data,
				       m.len < sizeof(buf) ? m.len :
							     sizeof(buf));
				check_payload(c, s, buf, m.len, &m, &bad, why,
					      sizeof(why));
				rel = shoal_sub_release(s->sub, &m);
				if (rel == -ESTALE)
					xcount(c, X_STALE, 1);
				else if (rel < 0)
					soak_violation(c, "%s: release: %s",
						       s->name, strerror(-rel));
				else if (bad)
					soak_violation(
						c,
						"%s: zero-copy message torn "
						"but release said intact: %s",
						s->name, why);
			}
		}
		if (err == -EAGAIN)
			break;
		events++;
		if (!err) {
			stream_arrived(c, s, &m);
			count_msg(c, 1);
		} else if (err == -EOVERFLOW && s->lossy) {
			/* msg.epoch is not set with -EOVERFLOW: the handle
			 * says which publisher lapped us. */
			stream_epoch(c, s, shoal_sub_epoch(s->sub));
			s->pending += m.lost;
			xcount(c, X_LOST, m.lost);
		} else if (err == -EPIPE) {
			xcount(c, X_EPIPE, 1);
			tail_check(c, s);
			s->have = 0;
			s->pending = 0;
			break;
		} else {
			soak_violation(c, "%s: take: %s: %s", s->name,
				       strerror(-err), shoal_last_error());
			sleep_ns(MS); /* not a tight loop of the same error */
			break;
		}
	}
	return events;
}

int soak_run_sub(struct role_ctx *c)
{
	struct stream s[2 * INST_MAX];
	struct pollfd pfd[2 * INST_MAX];
	uint32_t n = 0;

	memset(s, 0, sizeof(s));
	for (int lossy = 0; lossy < 2; lossy++) {
		uint32_t np = c->b->count[lossy ? ROLE_LPUB : ROLE_PUB];

		for (uint32_t i = 0; i < np; i++, n++) {
			struct shoal_sub_options o;
			int err;

			s[n].lossy = lossy;
			s[n].pub = i;
			service_name(s[n].name, sizeof(s[n].name), c->b,
				     lossy ? "lpub" : "pub", i);
			shoal_sub_options_init(&o);
			o.flags = SHOAL_SUB_REATTACH;
			/* -EBUSY: lines of killed subscribers not yet
			 * evicted. */
			while ((err = shoal_sub_open(s[n].name, &o,
						     &s[n].sub)) < 0)
				if (!soak_retry(c, err, "shoal_sub_open",
						s[n].name, SOAK_BUSY_EXPECTED))
					goto out;
		}
	}
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);

	while (!soak_stopping(c)) {
		int events = 0, ready = 0, all = 1;

		beat(c);
		for (uint32_t i = 0; i < n; i++) {
			events += stream_drain(c, &s[i]);
			all &= shoal_sub_connected(s[i].sub);
		}
		atomic_store_explicit(&c->me->connected, (uint32_t)all,
				      memory_order_relaxed);
		soak_maybe_sample(c);
		if (events)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			pfd[i].fd = shoal_sub_fd(s[i].sub);
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
			if (shoal_sub_arm(s[i].sub) == 1)
				ready = 1;
		}
		if (!ready)
			poll(pfd, n, 100);
		for (uint32_t i = 0; i < n; i++)
			shoal_sub_disarm(s[i].sub);
	}
out:
	for (uint32_t i = 0; i < n; i++)
		shoal_sub_close(s[i].sub);
	return 0;
}
