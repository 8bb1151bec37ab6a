/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the queue. prod writes items (producer, seq), by write or by
 * loan/send, marking each attempted then confirmed on the board; cons
 * takes, records the item on the board (a second take of an item is a
 * violation at once), checks each producer's order and releases. The
 * coordinator owns the queue (it created it, so kills never withdraw it);
 * at the end it pushes a flush lap and accounts for every item: what was
 * pushed, in doubt, taken, skipped, abandoned (docs/soak.md).
 */
#include <stdlib.h>

#include "soak.h"

static int open_queue(struct role_ctx *c, uint32_t role, struct shoal_queue **q)
{
	struct shoal_queue_options o;
	char name[128];
	int err;

	service_name(name, sizeof(name), c->b, "queue", 0);
	shoal_queue_options_init(&o);
	o.role = role;
	o.send_timeout_ns = 100 * MS; /* a full queue: -EAGAIN, count it */
	while ((err = shoal_queue_open(name, &o, q)) < 0)
		if (!soak_retry(c, err, "shoal_queue_open", name,
				SOAK_BUSY_EXPECTED))
			return err;
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	return 0;
}

int soak_run_prod(struct role_ctx *c)
{
	uint8_t *state = q_state(c->b, c->index);
	struct shoal_queue *q;
	uint64_t seq;

	if (open_queue(c, SHOAL_QUEUE_PRODUCER, &q) < 0)
		return 0;
	/* A predecessor killed during the push of q_next may or may not
	 * have enqueued it: never push that number again; nor the next
	 * ones, which its own killed predecessors may have attempted
	 * before confirming any. */
	seq = atomic_load_explicit(&c->me->q_next, memory_order_relaxed);
	while (seq < c->b->q_items && state[seq])
		seq++;
	while (!soak_stopping(c)) {
		struct q_item it;
		int err;

		beat(c);
		soak_maybe_sample(c);
		if (seq >= c->b->q_items) {
			sleep_ns(10 * MS); /* out of board room: idle */
			continue;
		}
		soak_throttle(c);
		it.magic = MSG_MAGIC;
		it.prod = c->index;
		it.seq = seq;
		it.inc = c->inc;
		fill(it.fill, 0, sizeof(it.fill), ITEM(c->index, seq));
		state[seq] = Q_ATTEMPTED;
		atomic_signal_fence(memory_order_seq_cst);
		if (rng_next(&c->rng) & 1) {
			err = shoal_queue_write(q, &it, sizeof(it));
		} else {
			void *p;

			err = shoal_queue_loan(q, sizeof(it), &p);
			if (!err) {
				memcpy(p, &it, sizeof(it));
				soak_maybe_hold(c);
				err = shoal_queue_send(q, p, sizeof(it));
			}
		}
		if (err < 0)
			state[seq] = 0; /* nothing was enqueued */
		if (err == -EAGAIN) {
			xcount(c, X_EAGAIN, 1);
			continue;
		}
		if (err < 0) {
			soak_failed(c, "push", err);
			continue;
		}
		atomic_signal_fence(memory_order_seq_cst);
		state[seq] = Q_CONFIRMED;
		seq++;
		atomic_store_explicit(&c->me->q_next, seq,
				      memory_order_relaxed);
		c->sent_here++;
		count_msg(c, 1);
	}
	shoal_queue_close(q);
	return 0;
}

int soak_run_cons(struct role_ctx *c)
{
	uint64_t last[INST_MAX];
	int seen[INST_MAX] = { 0 };
	struct shoal_queue *q;

	if (open_queue(c, SHOAL_QUEUE_CONSUMER, &q) < 0)
		return 0;
	memset(last, 0, sizeof(last));
	while (!soak_stopping(c)) {
		struct shoal_msg msg;
		struct q_item it;
		uint64_t item;
		uint8_t old;
		int err;

		beat(c);
		soak_maybe_sample(c);
		err = shoal_queue_take(q, &msg, 100 * MS);
		if (err == -ETIMEDOUT)
			continue;
		if (err < 0) {
			soak_failed(c, "take", err);
			continue;
		}
		if (msg.len != sizeof(it)) {
			soak_violation(c, "item of %u bytes", msg.len);
			shoal_queue_release(q, &msg);
			continue;
		}
		memcpy(&it, msg.data, sizeof(it));
		if (it.magic != MSG_MAGIC ||
		    (it.prod != FILLER && (it.prod >= c->b->count[ROLE_PROD] ||
					   it.seq >= c->b->q_items)) ||
		    !filled(it.fill, 0, sizeof(it.fill),
			    ITEM(it.prod, it.seq))) {
			soak_violation(
				c,
				"corrupt item (magic %08x prod %u seq %" PRIu64
				")",
				it.magic, it.prod, it.seq);
			shoal_queue_release(q, &msg);
			continue;
		}
		if (it.prod == FILLER) {
			shoal_queue_release(q, &msg);
			atomic_fetch_add_explicit(&c->b->fillers_taken, 1,
						  memory_order_relaxed);
			continue;
		}
		item = ITEM(it.prod, it.seq);
		/* The coordinator reads the phase of a killed consumer: what
		 * it held, and whether it was recorded. */
		atomic_store_explicit(&c->me->phase, PHASE_TAKEN | item,
				      memory_order_seq_cst);
		soak_maybe_hold(c);
		/* RECORDED before the count, not after: a consumer killed
		 * between the two is taken as having recorded the item
		 * (which the coordinator's bound allows for), never as one
		 * still holding an item whose count is then found nonzero,
		 * by its own increment, and called taken again. */
		atomic_store_explicit(&c->me->phase, PHASE_RECORDED | item,
				      memory_order_seq_cst);
		old = atomic_fetch_add_explicit(&q_count(c->b, it.prod)[it.seq],
						1, memory_order_seq_cst);
		soak_maybe_hold(c);
		if (old)
			soak_violation(c,
				       "producer %u item %" PRIu64
				       " (its incarnation %" PRIu64
				       ") taken again (%u time(s) before)",
				       it.prod, it.seq, it.inc, old);
		if (seen[it.prod] && it.seq <= last[it.prod])
			soak_violation(c,
				       "producer %u: item %" PRIu64
				       " (its incarnation %" PRIu64
				       ") after %" PRIu64,
				       it.prod, it.seq, it.inc, last[it.prod]);
		seen[it.prod] = 1;
		last[it.prod] = it.seq;
		err = shoal_queue_release(q, &msg);
		atomic_store_explicit(&c->me->phase, 0, memory_order_seq_cst);
		if (err < 0)
			soak_violation(c, "release: %s", strerror(-err));
		count_msg(c, 1);
	}
	shoal_queue_close(q);
	return 0;
}

/* What a killed consumer held, read once it is dead. */
void soak_consumer_died(struct soak *s, uint32_t i)
{
	struct inst *in = &s->b->inst[ROLE_CONS][i];
	uint64_t ph = atomic_load_explicit(&in->phase, memory_order_acquire);

	if ((ph >> 62) == (PHASE_TAKEN >> 62)) {
		if (s->n_taken < TAKEN_MAX)
			s->taken_items[s->n_taken++] = ph & ~(3ull << 62);
		s->cons_kills_held++;
	} else if ((ph >> 62) == (PHASE_RECORDED >> 62)) {
		s->killed_recorded++;
		s->cons_kills_held++;
	}
	atomic_store_explicit(&in->phase, 0, memory_order_relaxed);
}

/*
 * The flush lap: QUEUE_CAP items of the coordinator's, so that every cell
 * is passed once more and a cell held by a killed consumer is recovered
 * (counted abandoned) before the totals are read.
 */
void soak_queue_flush(struct soak *s, struct q_totals *t)
{
	struct q_item it;
	int64_t deadline = cli_now_ns() + s->hang_ns;

	memset(&it, 0, sizeof(it));
	it.magic = MSG_MAGIC;
	it.prod = FILLER;
	for (uint64_t k = 0; k < QUEUE_CAP; k++) {
		int err;

		it.seq = k;
		fill(it.fill, 0, sizeof(it.fill), ITEM(FILLER, k));
		do {
			soak_reap(s, 1);
			/* Waits up to send_timeout_ns (100 ms) for room. */
			err = shoal_queue_write(s->queue, &it, sizeof(it));
		} while (err == -EAGAIN && cli_now_ns() < deadline);
		if (err < 0) {
			soak_coord_violation(s, ROLE_CONS,
					     "flush push %" PRIu64 ": %s", k,
					     strerror(-err));
			return;
		}
		t->fillers++;
	}
	while (atomic_load_explicit(&s->b->fillers_taken,
				    memory_order_relaxed) < t->fillers) {
		soak_reap(s, 1);
		if (cli_now_ns() > deadline) {
			soak_coord_violation(
				s, ROLE_CONS,
				"consumers took %" PRIu64 " of %" PRIu64
				" flush items within %.0f s",
				atomic_load_explicit(&s->b->fillers_taken,
						     memory_order_relaxed),
				t->fillers, (double)s->hang_ns / 1e9);
			return;
		}
		sleep_ns(10 * MS);
	}
}

void soak_queue_check(struct soak *s, struct q_totals *t)
{
	uint64_t prod_kills = 0, cons_kills = 0, lo, hi, missing;

	shoal_queue_get_stats(s->queue, &t->st);
	for (uint32_t p = 0; p < s->b->count[ROLE_PROD]; p++) {
		uint8_t *state = q_state(s->b, p);
		_Atomic uint8_t *cnt = q_count(s->b, p);

		prod_kills += s->ch[ROLE_PROD][p].kills;
		for (uint64_t k = 0; k < s->b->q_items; k++) {
			uint8_t n = atomic_load_explicit(&cnt[k],
							 memory_order_relaxed);

			t->taken += n;
			if (n > 1)
				t->dup += n - 1; /* also reported at once */
			if (state[k] == Q_CONFIRMED) {
				t->confirmed++;
				if (!n)
					t->missing_confirmed++;
			} else if (state[k] == Q_ATTEMPTED) {
				t->uncertain++;
				if (!n)
					t->missing_uncertain++;
			} else if (n) {
				t->phantom++;
			}
		}
	}
	for (uint32_t i = 0; i < s->b->count[ROLE_CONS]; i++)
		cons_kills += s->ch[ROLE_CONS][i].kills;
	t->pushed = t->confirmed + t->uncertain;
	missing = t->missing_confirmed + t->missing_uncertain;

	if (t->phantom)
		soak_coord_violation(s, ROLE_CONS,
				     "%" PRIu64
				     " item(s) taken that no producer "
				     "pushed",
				     t->phantom);
	/* An item is in doubt only when its producer was killed between
	 * marking it attempted and confirming it. */
	if (t->uncertain > prod_kills)
		soak_coord_violation(s, ROLE_PROD,
				     "%" PRIu64
				     " item(s) in doubt but only %" PRIu64
				     " producer kills",
				     t->uncertain, prod_kills);
	if (t->st.skipped > prod_kills)
		soak_coord_violation(s, ROLE_PROD,
				     "skipped %" PRIu64
				     " > producer kills %" PRIu64,
				     t->st.skipped, prod_kills);
	if (t->st.abandoned > cons_kills)
		soak_coord_violation(s, ROLE_CONS,
				     "abandoned %" PRIu64
				     " > consumer kills %" PRIu64,
				     t->st.abandoned, cons_kills);
	/* A skip is the item of a producer killed mid-push: in doubt, and
	 * never taken. */
	if (t->st.skipped > t->missing_uncertain)
		soak_coord_violation(s, ROLE_PROD,
				     "skipped %" PRIu64 " but only %" PRIu64
				     " item(s) in doubt are missing",
				     t->st.skipped, t->missing_uncertain);
	/* A confirmed item may be missing only as an abandoned one (taken
	 * by a consumer killed before it recorded the item). */
	if (t->missing_confirmed > t->st.abandoned)
		soak_coord_violation(s, ROLE_CONS,
				     "%" PRIu64
				     " confirmed item(s) never taken, "
				     "abandoned only %" PRIu64,
				     t->missing_confirmed, t->st.abandoned);
	/* Every skip and every abandoned item a killed consumer had not
	 * recorded is missing. */
	hi = t->st.skipped + t->st.abandoned;
	lo = hi > s->killed_recorded ? hi - s->killed_recorded : 0;
	if (missing < lo)
		soak_coord_violation(s, ROLE_CONS,
				     "%" PRIu64
				     " item(s) missing, but skipped %" PRIu64
				     " + abandoned %" PRIu64
				     " - killed after recording %" PRIu64
				     " say at least %" PRIu64,
				     missing, t->st.skipped, t->st.abandoned,
				     s->killed_recorded, lo);
	for (uint32_t k = 0; k < s->n_taken; k++) {
		uint64_t item = s->taken_items[k];
		uint32_t p = (uint32_t)(item >> 48);
		uint64_t seq = item & ((1ull << 48) - 1);

		if (p < s->b->count[ROLE_PROD] && seq < s->b->q_items &&
		    atomic_load_explicit(&q_count(s->b, p)[seq],
					 memory_order_relaxed))
			soak_coord_violation(s, ROLE_CONS,
					     "item %u/%" PRIu64
					     " held by a killed consumer was "
					     "taken again",
					     p, seq);
	}
}
