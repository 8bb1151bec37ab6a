/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the broadcast ring (src/ring/ring_bcast.[ch]) in one thread,
 * one publisher and up to four subscriber lines over a region of its own,
 * while the input may overwrite any 8 bytes of the region (the publisher
 * line, the generation, any subscriber line, any slot's stamp, length,
 * timestamp or payload) as a hostile peer could.
 *
 * The input picks the geometry (capacity 2..16, payload 1..64 bytes, a user
 * header or none, reliable or lossy), then runs operations: publish one
 * (try_loan, complete, publish), a batch (batch_begin, must_gate/room,
 * batch_extent, loans), several loans at once (try_loan each, with its
 * announce; the input gives some back: from the end with unloan, from the
 * middle as skip markers), join or leave a line (with history), peek, peek
 * a batch, advance, evict (the liveness callback answers from the input),
 * count subscribers, and poke.
 *
 * Checked on every run, and any broken promise aborts:
 *   - every call returns one of its documented codes, and nothing loops or
 *     waits (the ring has no wait of its own: a hang is a finding);
 *   - a message seen lies inside the slots with its whole length (the
 *     region is malloc'd to its exact size, so ASan sees any access past
 *     it), has len <= max_payload and the seq of the cursor it was peeked
 *     at; a batch extent is 1..n, and at most the capacity when reliable;
 *   - a subscriber's cursor only moves forward, and by at least the count
 *     -EOVERFLOW reports; a skip marker is never handed out: the cursor
 *     moves past it by one, counted in skipped.
 * As long as the input has poked nothing, each message taken also has the
 * payload that was sent for its seq, and a reliable subscriber joined
 * before the first send never sees -EOVERFLOW.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_bcast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                   \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "ring_bcast_fuzz: %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

#define LINES 4
#define OPS_MAX 4096

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t rd(struct in *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

struct fz {
	uint8_t *mem;
	uint64_t size;
	struct shoal__bcast_map m;
	struct shoal__bcast_pub pub;
	struct shoal__bcast_sub sub[LINES];
	int joined[LINES];
	int early[LINES]; /* joined before the first send, reliable */
	uint8_t dead;	  /* bit i: the callback says line i is dead */
	int poked;
	int reliable;
};

static int alive(void *user_data, uint32_t line)
{
	struct fz *f = user_data;

	PROMISE(line < LINES);
	return !(f->dead >> line & 1);
}

/* The payload of message @seq: its seq, repeated. */
static void fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq + i);
}

static int filled(const uint8_t *p, uint32_t len, uint64_t seq)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq + i))
			return 0;
	return 1;
}

static uint32_t msg_len(const struct fz *f, uint64_t seq)
{
	return (uint32_t)(seq % f->m.max_payload) + 1;
}

static void check_view(const struct fz *f, const struct shoal__bcast_sub *s,
		       const struct shoal__bcast_view *v, uint64_t seq)
{
	const uint8_t *p = (const uint8_t *)v->slot;

	PROMISE(v->seq == seq);
	PROMISE(v->len <= f->m.max_payload);
	PROMISE(p >= f->m.slots &&
		p + shoal__bcast_data_off(f->m.uh_size, f->m.max_payload) +
				v->len <=
			f->mem + f->size);
	PROMISE(v->slot == shoal__bcast_slot_at(&s->m, seq));
	/* Every byte can be read. */
	{
		volatile uint8_t sum = 0;
		const uint8_t *d = shoal__bcast_payload(&s->m, v->slot);

		for (uint32_t i = 0; i < v->len; i++)
			sum = (uint8_t)(sum + d[i]);
		(void)sum;
	}
	if (!f->poked && shoal__bcast_intact(v)) {
		PROMISE(v->len == msg_len(f, seq));
		PROMISE(filled(shoal__bcast_payload(&s->m, v->slot), v->len,
			       seq));
	}
}

static void publish_one(struct fz *f)
{
	struct shoal__bcast_slot *s;
	uint64_t seq = f->pub.head;
	int err = shoal__bcast_try_loan(&f->pub, &s);

	PROMISE(err == 0 || err == -EAGAIN);
	PROMISE(err == 0 || f->reliable);
	if (err)
		return;
	PROMISE(s == shoal__bcast_slot_at(&f->m, seq));
	fill(shoal__bcast_payload(&f->m, s), msg_len(f, seq), seq);
	shoal__bcast_complete(&f->pub, s, msg_len(f, seq), 1, (int64_t)seq);
	shoal__bcast_publish(&f->pub);
	PROMISE(f->pub.head == seq + 1);
}

static void publish_batch(struct fz *f, uint32_t n)
{
	uint32_t k;

	shoal__bcast_batch_begin(&f->pub);
	if (shoal__bcast_must_gate(&f->pub) &&
	    !shoal__bcast_room(&f->pub, f->pub.head))
		return;
	k = shoal__bcast_batch_extent(&f->pub, n);
	PROMISE(k >= 1 && k <= n);
	PROMISE(!f->reliable || k <= f->m.capacity);
	for (uint32_t j = 0; j < k; j++) {
		uint64_t seq = f->pub.head;
		struct shoal__bcast_slot *s = shoal__bcast_loan(&f->pub);

		fill(shoal__bcast_payload(&f->m, s), msg_len(f, seq), seq);
		shoal__bcast_complete(&f->pub, s, msg_len(f, seq), 0, 0);
	}
	shoal__bcast_publish(&f->pub);
}

/*
 * Several loans out at once, @n asked (at most capacity - 1, as the pattern
 * bounds it), loaned until the ring has no room; bit j of @gone gives loan
 * j back: the ones at the end go back unnumbered (unloan), the others are
 * completed as skip markers; then one publish.
 */
static void publish_loans(struct fz *f, uint32_t n, uint32_t gone)
{
	uint64_t head = f->pub.head;
	uint32_t k = 0;

	if (n > f->m.capacity - 1)
		n = f->m.capacity - 1;
	while (k < n) {
		struct shoal__bcast_slot *s;
		uint64_t seq = f->pub.loan_end;
		int err = shoal__bcast_try_loan(&f->pub, &s);

		PROMISE(err == 0 || err == -EAGAIN);
		PROMISE(err == 0 || f->reliable);
		if (err)
			break;
		PROMISE(seq == head + k);
		PROMISE(s == shoal__bcast_slot_at(&f->m, seq));
		PROMISE(f->pub.loan_end == seq + 1);
		fill(shoal__bcast_payload(&f->m, s), msg_len(f, seq), seq);
		k++;
	}
	while (k && (gone >> (k - 1) & 1)) {
		shoal__bcast_unloan(&f->pub);
		k--;
	}
	PROMISE(f->pub.loan_end == head + k);
	for (uint32_t j = 0; j < k; j++) {
		uint64_t seq = f->pub.head;
		struct shoal__bcast_slot *s = shoal__bcast_slot_at(&f->m, seq);

		if (gone >> j & 1)
			shoal__bcast_complete_skip(&f->pub, s);
		else
			shoal__bcast_complete(&f->pub, s, msg_len(f, seq), 0,
					      0);
	}
	PROMISE(f->pub.head == head + k);
	if (k)
		shoal__bcast_publish(&f->pub);
}

static void take(struct fz *f, uint32_t i, uint32_t n)
{
	struct shoal__bcast_sub *s = &f->sub[i];
	struct shoal__bcast_view v[16];
	uint64_t before = s->cursor, skipped = s->skipped;
	int r;

	if (!f->joined[i])
		return;
	r = n <= 1 ? shoal__bcast_peek(s, 0, &v[0]) :
		     shoal__bcast_peek_batch(s, v, n > 16 ? 16 : n);
	if (n <= 1 && r == 0)
		r = 1;
	/* Skip markers passed at the cursor: one seq each, never handed
	 * out; what follows is judged from past them. */
	PROMISE(s->skipped - skipped <= s->cursor - before);
	before += s->skipped - skipped;
	PROMISE(r > 0 || r == -EAGAIN || r == -EOVERFLOW || r == -EBADMSG);
	if (r == -EAGAIN) {
		PROMISE(s->cursor == before);
		return;
	}
	if (r == -EOVERFLOW) {
		PROMISE(v[0].lost >= 1);
		PROMISE(s->cursor - before == v[0].lost);
		PROMISE(f->poked || !f->early[i]);
		return;
	}
	if (r == -EBADMSG) {
		PROMISE(f->poked);
		PROMISE(s->cursor == before + 1);
		return;
	}
	PROMISE((uint32_t)r <= (n <= 1 ? 1 : (n > 16 ? 16 : n)));
	for (int k = 0; k < r; k++)
		check_view(f, s, &v[k], before + (uint64_t)k);
	PROMISE(s->cursor == before);
	shoal__bcast_advance(s, (uint32_t)r);
}

static void poke(struct fz *f, struct in *in)
{
	uint64_t off = rd(in, 4) % (f->size / 8) * 8;
	uint64_t v = rd(in, 8);

	memcpy(f->mem + off, &v, 8);
	f->poked = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct fz f;
	uint32_t cap, payload, uh;
	uint64_t c0;

	if (size < 3)
		return 0;
	memset(&f, 0, sizeof(f));
	c0 = rd(&in, 3);
	cap = 2u << (c0 % 4);			/* 2..16 */
	payload = (uint32_t)(c0 >> 2) % 64 + 1; /* 1..64 */
	uh = (c0 >> 8) & 1 ? 8 : 0;
	f.reliable = (int)(c0 >> 9 & 1);
	f.size = shoal__bcast_region_size(cap, payload, uh, LINES);
	PROMISE(f.size != 0);
	/* posix_memalign: the map needs 64-byte alignment; the size is a
	 * multiple of 64, so ASan still sees the end. */
	if (posix_memalign((void **)&f.mem, 64, f.size))
		return 0;
	memset(f.mem, 0, f.size);
	PROMISE(shoal__bcast_map_region(f.mem, f.size, cap, payload, uh, LINES,
					&f.m) == 0);
	PROMISE(shoal__bcast_pub_init(&f.pub, &f.m, f.reliable, alive, &f) ==
		0);
	for (int op = 0; op < OPS_MAX && in.n; op++) {
		uint64_t b = rd(&in, 1);
		uint32_t i = (uint32_t)(b >> 4) % LINES;

		switch (b % 12) {
		case 0:
		case 1:
			publish_one(&f);
			break;
		case 2:
			publish_batch(&f, (uint32_t)(b >> 4) + 1);
			break;
		case 3:
			if (!f.joined[i]) {
				shoal__bcast_join(&f.sub[i], &f.m, i,
						  rd(&in, 1) % (cap + 2));
				f.joined[i] = 1;
				/* A line the callback calls dead is not
				 * gated on: it may be lapped. */
				f.early[i] = f.reliable && f.pub.head == 0 &&
					     f.sub[i].cursor == 0 &&
					     !(f.dead >> i & 1);
			} else {
				shoal__bcast_leave(&f.sub[i]);
				f.joined[i] = 0;
				f.early[i] = 0;
			}
			break;
		case 4:
		case 5:
			take(&f, i, 1);
			break;
		case 6:
			take(&f, i, (uint32_t)rd(&in, 1) % 20);
			break;
		case 7:
			f.dead = (uint8_t)rd(&in, 1);
			/* A line said dead gates no more: it may be lapped. */
			for (uint32_t k = 0; k < LINES; k++)
				if (f.dead >> k & 1)
					f.early[k] = 0;
			PROMISE(shoal__bcast_evict_dead(&f.pub) <= LINES);
			break;
		case 8:
			PROMISE(shoal__bcast_subscribers(&f.pub) <= LINES);
			break;
		case 9:
			publish_loans(&f, (uint32_t)(b >> 4) % 8 + 1,
				      (uint32_t)rd(&in, 1));
			break;
		default:
			poke(&f, &in);
			break;
		}
	}
	shoal__bcast_pub_fini(&f.pub);
	free(f.mem);
	return 0;
}
