/* SPDX-License-Identifier: MIT */
/*
 * The broadcast ring's slow paths: reliable gating (rescan, the cached
 * minimum cursor, eviction through the liveness callback), the premark,
 * batch extents, joining and leaving, lap skipping. The hot path is inline
 * in ring_bcast.h, whose opening comment has the algorithm;
 * docs/bcast-ring.md has it in full, models/ring_bcast.pml checks the join
 * races. No system calls here: liveness is the caller's callback.
 */
#include <errno.h>
#include <stdlib.h>

#include "arch/error.h"
#include "ring/ring_bcast.h"

static int region_geometry(uint32_t capacity, uint32_t max_payload,
			   uint32_t uh_size, uint32_t max_lines,
			   uint64_t *stride, uint64_t *bytes)
{
	if (capacity < 2 || capacity > (1u << 30) ||
	    (capacity & (capacity - 1)) || !max_payload ||
	    max_payload > (1u << 30) || uh_size % 8 || uh_size > 4096 ||
	    !max_lines || max_lines > 65536)
		return -EINVAL;
	*stride = shoal__bcast_slot_stride(uh_size, max_payload);
	*bytes = (2 + (uint64_t)max_lines) * SHOAL__BCAST_LINE_BYTES +
		 *stride * capacity;
	return 0;
}

uint64_t shoal__bcast_region_size(uint32_t capacity, uint32_t max_payload,
				  uint32_t uh_size, uint32_t max_lines)
{
	uint64_t stride, bytes;

	if (region_geometry(capacity, max_payload, uh_size, max_lines, &stride,
			    &bytes))
		return 0;
	return bytes;
}

int shoal__bcast_map_region(void *mem, uint64_t size, uint32_t capacity,
			    uint32_t max_payload, uint32_t uh_size,
			    uint32_t max_lines, struct shoal__bcast_map *m)
{
	uint64_t stride, bytes;
	uint8_t *base = mem;

	if (!mem || (uintptr_t)mem % SHOAL__BCAST_LINE_BYTES ||
	    region_geometry(capacity, max_payload, uh_size, max_lines, &stride,
			    &bytes) ||
	    size < bytes || stride > UINT32_MAX)
		return shoal__fail(-EINVAL, "bcast: bad region or geometry");
	*m = (struct shoal__bcast_map){
		.pub = (struct shoal__bcast_pub_line *)base,
		.generation =
			(_Atomic uint32_t *)(base + SHOAL__BCAST_LINE_BYTES),
		.lines = base + 2 * SHOAL__BCAST_LINE_BYTES,
		.line_stride = SHOAL__BCAST_LINE_BYTES,
		.max_lines = max_lines,
		.slots = base +
			 (2 + (uint64_t)max_lines) * SHOAL__BCAST_LINE_BYTES,
		.capacity = capacity,
		.stride = (uint32_t)stride,
		.max_payload = max_payload,
		.uh_size = uh_size,
		.data_off = shoal__bcast_data_off(uh_size, max_payload),
	};
	return 0;
}

int shoal__bcast_pub_init(struct shoal__bcast_pub *b,
			  const struct shoal__bcast_map *m, int reliable,
			  shoal__bcast_alive_fn alive, void *user_data)
{
	*b = (struct shoal__bcast_pub){ 0 };
	b->m = *m;
	b->m.data_off = shoal__bcast_data_off(m->uh_size, m->max_payload);
	b->reliable = reliable != 0;
	b->odd_marks = 1;
	b->mask = m->capacity - 1;
	b->alive = alive;
	b->user_data = user_data;
	b->active = calloc(m->max_lines ? m->max_lines : 1, sizeof(uint32_t));
	if (!b->active)
		return shoal__fail(-ENOMEM, "bcast: out of memory");
	/* Not the generation there: the first room check rescans. */
	b->known_gen =
		atomic_load_explicit(m->generation, memory_order_acquire) - 1;
	return 0;
}

void shoal__bcast_pub_fini(struct shoal__bcast_pub *b)
{
	free(b->active);
	b->active = NULL;
}

/* A subscriber's cursor, clamped into [seq - capacity, seq]. */
static uint64_t read_cursor(const struct shoal__bcast_pub *b, uint32_t i,
			    uint64_t seq)
{
	/* Acquire: pairs with the release store in shoal__bcast_set_cursor():
	 * the subscriber's reads of the slots before it are done. */
	uint64_t c = atomic_load_explicit(
		&shoal__bcast_line_at(&b->m, i)->cursor, memory_order_acquire);

	if ((int64_t)(seq - c) < 0)
		return seq; /* ahead of the publisher: gates nothing */
	if (seq - c > b->m.capacity)
		return seq - b->m.capacity; /* gates fully until it moves */
	return c;
}

void shoal__bcast_recompute_min(struct shoal__bcast_pub *b, uint64_t seq)
{
	uint64_t min = seq;

	for (uint32_t k = 0; k < b->nactive; k++) {
		uint64_t c = read_cursor(b, b->active[k], seq);

		if ((int64_t)(c - min) < 0)
			min = c;
	}
	b->min_cursor = min;
}

/*
 * Tells joiners that every message from now on waits for the lines of
 * generation @gen: the first message not yet decided is @seq, or the one
 * after the last slot already marked for writing (loans, given back or
 * not, or shoal__bcast_premark_next()), whose room was judged before this
 * rescan. shoal__bcast_join() reads the pair.
 */
static void tell_joiners(struct shoal__bcast_pub *b, uint32_t gen, uint64_t seq)
{
	uint64_t from = b->marked_end > seq ? b->marked_end : seq;

	if (b->loan_end > from)
		from = b->loan_end;

	atomic_store_explicit(&b->m.pub->seen_from, from, memory_order_relaxed);
	/* Release: orders seen_from above before it; pairs with the acquire
	 * load of seen_gen in shoal__bcast_join(). */
	atomic_store_explicit(&b->m.pub->seen_gen, gen, memory_order_release);
}

/*
 * Rebuilds the list of live lines: JOINING or ACTIVE, and alive by the
 * callback. A JOINING line gates like an ACTIVE one but is not counted: its
 * subscriber has not decided where it starts.
 */
void shoal__bcast_rescan(struct shoal__bcast_pub *b, uint32_t gen, uint64_t seq)
{
	b->known_gen = gen;
	b->nactive = 0;
	b->ncounted = 0;
	for (uint32_t i = 0; i < b->m.max_lines; i++) {
		/* Acquire: pairs with the joiner's release stores of its
		 * state, so the cursor read after it is at least the one
		 * stored before that state. */
		uint32_t st = atomic_load_explicit(
			&shoal__bcast_line_at(&b->m, i)->state,
			memory_order_acquire);

		if (st != SHOAL__BCAST_ACTIVE && st != SHOAL__BCAST_JOINING)
			continue;
		if (b->alive && !b->alive(b->user_data, i))
			continue;
		b->active[b->nactive++] = i;
		b->ncounted += st == SHOAL__BCAST_ACTIVE;
	}
	shoal__bcast_recompute_min(b, seq);
	/* A lossy publisher gates on nobody: its joiners keep to head. */
	if (b->reliable)
		tell_joiners(b, gen, seq);
}

uint32_t shoal__bcast_evict_dead(struct shoal__bcast_pub *b)
{
	uint32_t dropped = 0;

	if (!b->alive)
		return 0;
	for (uint32_t k = 0; k < b->nactive;) {
		if (b->alive(b->user_data, b->active[k])) {
			k++;
			continue;
		}
		b->active[k] = b->active[--b->nactive];
		dropped++;
	}
	if (dropped)
		shoal__bcast_recompute_min(b, b->loan_end);
	return dropped;
}

uint32_t shoal__bcast_subscribers(struct shoal__bcast_pub *b)
{
	shoal__bcast_rescan(
		b, atomic_load_explicit(b->m.generation, memory_order_acquire),
		b->loan_end);
	return b->ncounted;
}

void shoal__bcast_batch_begin(struct shoal__bcast_pub *b)
{
	uint32_t gen;

	if (!b->reliable)
		return;
	/* Subscribers that joined or left since the last look, seen relative
	 * to the first message: the rest are later. */
	gen = atomic_load_explicit(b->m.generation, memory_order_acquire);
	if (gen != b->known_gen)
		shoal__bcast_rescan(b, gen, b->loan_end);
}

/* The bound word only grows (see struct shoal__bcast_pub). */
static void store_bound(struct shoal__bcast_pub *b, uint64_t bound)
{
	if ((int64_t)(bound - b->bound) <= 0)
		return;
	b->bound = bound;
	atomic_store_explicit(&b->m.pub->bound, bound, memory_order_relaxed);
}

void shoal__bcast_loan_announce_slow(struct shoal__bcast_pub *b)
{
	uint32_t gen;

	/*
	 * Loans [head, loan_end) are out, their slots marked; this one is
	 * next. As in a batch (shoal__bcast_batch_extent()): the end it
	 * reaches goes out first, then the full fence, then the generation.
	 * A subscriber joining now either reads that bound and starts at
	 * loan_end - capacity + 2 or later, past the old message of this slot
	 * (loan_end - capacity), or its generation shows here and the rescan
	 * gates this loan on it: judged relative to loan_end, which is what
	 * this slot overwrites; the earlier loans' slots are behind the
	 * seen_from the rescan tells it (marked_end, loan_end). With at most
	 * capacity - 1 loans out, loan_end + 1 - (capacity - 1) <= head, so a
	 * joiner counted (ACTIVE) still starts at or before every loan.
	 */
	store_bound(b, b->loan_end + 1);
	/* Pairs with the joiner's fence between its increment of the
	 * generation and its loads of head and bound (store->load, both
	 * sides fenced). */
	shoal__fence_full();
	gen = atomic_load_explicit(b->m.generation, memory_order_acquire);
	if (gen != b->known_gen)
		shoal__bcast_rescan(b, gen, b->loan_end);
}

uint32_t shoal__bcast_batch_extent(struct shoal__bcast_pub *b, uint32_t n)
{
	uint64_t head0 = b->head;
	uint32_t j, k = n;

	if (!b->reliable || n <= 1)
		return n;
	/* A batch starts with no loan out: head0 is the next loan too. */
	/* At most a ring: a joiner that reads the batch's bound below starts
	 * no later than bound - capacity + 1, which must not pass the first
	 * message in case only that one is written (models/ring_bcast.pml,
	 * BROKEN_BATCH_UNCAPPED). */
	if (k > b->m.capacity)
		k = b->m.capacity;
	/*
	 * As many as fit now, by the subscribers known now, never by a
	 * rescan: a rescan judges a far-behind cursor relative to the message
	 * checked, which says nothing true about the batch's earlier ones. A
	 * subscriber that joined meanwhile is caught by the generation check
	 * after the fence below.
	 */
	for (j = 1; j < k && (head0 + j < b->m.capacity ||
			      shoal__bcast_room_known(b, head0 + j));
	     j++)
		;
	k = j;
	/*
	 * The first message is safe from a subscriber joining unseen, as a
	 * single send is: such a subscriber read a head of at least head0 and
	 * starts after the slot it overwrites. For the others, the end the
	 * batch reaches goes out first (as bound: head counts only messages
	 * written, or a joiner that read it would start past messages a cut
	 * batch never wrote), then the full fence, then the generation: a
	 * subscriber joining now either reads that bound and starts after
	 * every slot the batch overwrites, or its generation shows here, and
	 * then only the first message is written (the next call rescans).
	 */
	if (k > 1) {
		store_bound(b, head0 + k);
		/* Pairs with the joiner's fence between its increment of the
		 * generation and its loads of head and bound (store->load,
		 * both sides fenced). */
		shoal__fence_full();
		if (atomic_load_explicit(b->m.generation,
					 memory_order_acquire) != b->known_gen)
			k = 1;
	}
	return k;
}

/* Called by shoal__bcast_join() at its two racy points; see ring_bcast.h. */
__attribute__((weak)) void shoal__pubsub_join_pause(int stage)
{
	(void)stage;
}

void shoal__bcast_join(struct shoal__bcast_sub *s,
		       const struct shoal__bcast_map *m, uint32_t index,
		       uint64_t back)
{
	struct shoal__bcast_line *l = shoal__bcast_line_at(m, index);
	/* Acquire: pairs with the release store of head in
	 * shoal__bcast_publish(). */
	uint64_t head =
		atomic_load_explicit(&m->pub->head, memory_order_acquire);
	uint64_t seen_from, safe, bound;
	uint32_t mine, seen_gen;

	s->m = *m;
	s->m.data_off = shoal__bcast_data_off(m->uh_size, m->max_payload);
	if (back > head)
		back = head;
	s->cursor = head - back;
	shoal__pubsub_join_pause(SHOAL__JOIN_READ_HEAD);
	atomic_store_explicit(&l->cursor, s->cursor, memory_order_relaxed);
	/* JOINING: gated on from now on, counted only once ACTIVE below.
	 * Release: the cursor above goes first; pairs with the acquire load
	 * of the state in shoal__bcast_rescan(). */
	atomic_store_explicit(&l->state, SHOAL__BCAST_JOINING,
			      memory_order_release);
	mine = atomic_fetch_add_explicit(m->generation, 1,
					 memory_order_seq_cst) +
	       1;
	s->line = l;
	shoal__pubsub_join_pause(SHOAL__JOIN_ANNOUNCED);
	/*
	 * Until a reliable publisher sees our generation it does not gate on
	 * us, so it may overwrite messages from our cursor on; where to start
	 * depends on whether it has seen us yet.
	 *
	 * Seen: it published (seen_gen, seen_from) after a rescan that loaded
	 * a generation at or past ours, so it read our line and cursor (both
	 * stored before our increment). Every message from seen_from on waits
	 * for us; the ones before it, judged without us, overwrote at most
	 * message seen_from - 1 - capacity. So seen_from - capacity on is
	 * intact, which is our cursor unless the publisher raced far ahead.
	 *
	 * Not seen yet: it loads the generation after a full fence that
	 * follows its store of head (shoal__bcast_publish) or of a batch's
	 * bound, and we load both after a full fence that follows our
	 * increment, so every message it wrote (or marked for writing)
	 * without seeing us is at most the later of the two: from there -
	 * capacity + 1 on is safe.
	 *
	 * Either way we were never owed the older ones: starting later is not
	 * a loss. But a publisher that counted us (shoal__bcast_subscribers)
	 * owes us every message sent after the count: taking "not seen" for
	 * granted skipped them when it filled the ring while we were between
	 * our increment and this check (pubsub-join-owed), and so does being
	 * counted before our start is decided, which is why we are JOINING
	 * until the end (models/ring_bcast.pml).
	 */
	shoal__fence_full();
	head = atomic_load_explicit(&m->pub->head, memory_order_acquire);
	bound = atomic_load_explicit(&m->pub->bound, memory_order_relaxed);
	if ((int64_t)(bound - head) > 0)
		head = bound;
	/* Acquire: pairs with the release store of seen_gen in
	 * tell_joiners(), making the seen_from stored before it visible. */
	seen_gen =
		atomic_load_explicit(&m->pub->seen_gen, memory_order_acquire);
	seen_from =
		atomic_load_explicit(&m->pub->seen_from, memory_order_relaxed);
	if ((int32_t)(seen_gen - mine) >= 0)
		safe = seen_from - m->capacity;
	else
		safe = head - (m->capacity - 1);
	/* Signed: a publisher near the start (or a corrupt value) gives a
	 * bound at or below our cursor, which changes nothing. */
	if ((int64_t)(safe - s->cursor) > 0)
		shoal__bcast_set_cursor(s, safe);
	/* Joined: a count from now on sees the cursor set above. Release:
	 * pairs with the acquire load of the state in shoal__bcast_rescan(). */
	atomic_store_explicit(&l->state, SHOAL__BCAST_ACTIVE,
			      memory_order_release);
}

void shoal__bcast_leave(struct shoal__bcast_sub *s)
{
	if (!s->line)
		return;
	/* Release: our last reads of the slots come first; pairs with the
	 * acquire load of the state in shoal__bcast_rescan(). */
	atomic_store_explicit(&s->line->state, SHOAL__BCAST_FREE,
			      memory_order_release);
	/* Seq_cst: the publisher's rescan (acquire load of the generation)
	 * sees the FREE state stored above. */
	atomic_fetch_add_explicit(s->m.generation, 1, memory_order_seq_cst);
	s->line = NULL;
}

/* Lapped at the cursor: skip to the oldest message still in the ring. */
int shoal__bcast_skip_lapped(struct shoal__bcast_sub *s,
			     struct shoal__bcast_view *v)
{
	/* Acquire: pairs with the release store of head in
	 * shoal__bcast_publish(). */
	uint64_t head =
		atomic_load_explicit(&s->m.pub->head, memory_order_acquire);
	uint64_t oldest =
		head >= s->m.capacity - 1 ? head - (s->m.capacity - 1) : 0;

	/* The slot holds something newer, so at least this seq is gone,
	 * whatever a corrupt head says. */
	if ((int64_t)(oldest - s->cursor) <= 0)
		oldest = s->cursor + 1;
	v->lost = oldest - s->cursor;
	shoal__bcast_set_cursor(s, oldest);
	return -EOVERFLOW;
}

/* A skip marker at the cursor: checked whole (a lossy publisher may be
 * overwriting it: then it is a lap), then passed over and counted. */
int shoal__bcast_pass_skip(struct shoal__bcast_sub *s,
			   struct shoal__bcast_view *v)
{
	if (!shoal__bcast_intact(v))
		return shoal__bcast_skip_lapped(s, v);
	shoal__bcast_set_cursor(s, s->cursor + 1);
	s->skipped++;
	return 0;
}

/* A length over max_payload at the cursor: torn by an overwrite (then it
 * is a lap), or a corrupt publisher (then the message is refused). */
int shoal__bcast_refuse(struct shoal__bcast_sub *s, struct shoal__bcast_view *v)
{
	if (!shoal__bcast_intact(v))
		return shoal__bcast_skip_lapped(s, v);
	shoal__bcast_set_cursor(s, s->cursor + 1);
	return -EBADMSG;
}
