/* shoal-test: label=unit timeout=120 */
/*
 * Exhaustive interleaving check of the MPSC protocol of the variable-length
 * ring (docs/var-ring.md), on a model: every interleaving of the shared
 * memory steps of three producers and the consumer, under sequential
 * consistency, for four start offsets of an 8-word ring (one under
 * sanitizers), with positions that wrap through the top of their counter.
 * It checks the logic of the protocol (who owns which bytes, padding,
 * out-of-order commits, the zero invariant), not the memory orderings:
 * those are what the release/acquire pairs in src/ring/ring_var.c and the
 * ThreadSanitizer runs of the stress tests are for.
 *
 * Units are 8-byte words; positions are 8-bit word counters (the library's
 * are 64-bit byte counters; the arithmetic is the same modulo the counter
 * size). Steps, one shared access each (payload writes of one record are
 * one step: nobody may look at them before the commit):
 *   producer: load tail -> t; load head -> h, decide (full or t stale:
 *     start over); CAS(tail, t, t + need); store the wrap padding header;
 *     write the payload; [store the trailing padding header of a shortened
 *     commit]; store the header (commit) or a padding header (abort).
 *   consumer: load the header at pos (0: wait); read the payload; zero the
 *     record's words and store head.
 * Checked in every reachable state: a claim takes only zero words (nothing
 * unconsumed, no stale bytes), every header the consumer accepts has its
 * position's tag and fits before the end, every message read is the next
 * one of its producer with its payload, padding is never delivered, and no
 * state is stuck (every unfinished side waiting) before all is delivered;
 * at the end the ring is all zero and head == tail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CAP 8	 /* words */
#define MAXLEN 3 /* payload words: capacity / 2 - 1 */
#define NP 3	 /* producers */
#define NM 2	 /* messages per producer */

#define H_COMMITTED 0x80000000u
#define H_PAD 0x40000000u

/* What producer p does with its message m. */
struct script {
	uint8_t claim; /* payload words claimed */
	uint8_t len;   /* payload words committed */
	uint8_t abort; /* 1: abort instead of commit */
};

static const struct script scripts[NP][NM] = {
	{ { 2, 2, 0 }, { 1, 1, 0 } },
	{ { 3, 3, 1 }, { 3, 1, 0 } }, /* an abort, a shortened commit */
	{ { 0, 0, 0 }, { 3, 3, 0 } },
};

enum {
	P_LOAD_TAIL,
	P_LOAD_HEAD,
	P_CAS,
	P_PAD,
	P_WRITE,
	P_TRAIL,
	P_COMMIT
};
enum {
	C_LOOK,
	C_READ,
	C_RELEASE
};

struct state {
	uint32_t ring[CAP];
	uint8_t tail, head;
	uint8_t msg[NP], pc[NP], t[NP], h[NP], pos[NP], pad[NP];
	uint8_t cpos, cpc, cend, cprod, got[NP];
};

static uint32_t header(uint8_t pos, int pad, uint32_t len)
{
	return H_COMMITTED | (pad ? H_PAD : 0) | len << 8 | pos;
}

static uint32_t payload(int p, int m, int k)
{
	return 0x100000u | (uint32_t)p << 12 | (uint32_t)m << 8 | (uint32_t)k;
}

static uint32_t span(uint32_t len)
{
	return 1 + len;
}

/* Visited states: a hash set of 128-bit keys. */
#define SET_BITS 22
static uint64_t (*set)[2];
static uint64_t states;
static const char *failure;

static int visit(const struct state *s)
{
	const unsigned char *b = (const unsigned char *)s;
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
	uint64_t i;

	for (size_t k = 0; k < sizeof(*s); k++) {
		h1 = (h1 ^ b[k]) * 0x100000001b3ull;
		h2 = (h2 ^ b[k]) * 0xff51afd7ed558ccdull + k;
	}
	h1 |= 1;
	for (i = h1 & ((1u << SET_BITS) - 1);;
	     i = (i + 1) & ((1u << SET_BITS) - 1)) {
		if (set[i][0] == 0) {
			set[i][0] = h1;
			set[i][1] = h2;
			states++;
			return 1;
		}
		if (set[i][0] == h1 && set[i][1] == h2)
			return 0;
	}
}

static int finished(const struct state *s)
{
	for (int p = 0; p < NP; p++)
		if (s->msg[p] < NM)
			return 0;
	for (int p = 0; p < NP; p++)
		for (int m = s->got[p]; m < NM; m++)
			if (!scripts[p][m].abort)
				return 0;
	return 1;
}

/* The next message producer p should deliver from index m on, or NM. */
static int next_delivered(int p, int m)
{
	while (m < NM && scripts[p][m].abort)
		m++;
	return m;
}

/*
 * Runs one step of side @who (0..NP-1 producers, NP the consumer) on @s.
 * Returns 1 if the state changed, 0 if that side is finished or waiting.
 */
static int step(struct state *s, int who)
{
	if (who < NP) {
		int p = who;
		const struct script *sc;
		uint8_t off, need;

		if (s->msg[p] >= NM)
			return 0;
		sc = &scripts[p][s->msg[p]];
		switch (s->pc[p]) {
		case P_LOAD_TAIL:
			s->t[p] = s->tail;
			s->pc[p] = P_LOAD_HEAD;
			return 1;
		case P_LOAD_HEAD:
			s->h[p] = s->head;
			off = s->t[p] % CAP;
			s->pad[p] = off + span(sc->claim) > CAP ? CAP - off : 0;
			need = (uint8_t)(s->pad[p] + span(sc->claim));
			if ((int8_t)(uint8_t)(s->t[p] - s->h[p]) < 0 ||
			    CAP - (uint8_t)(s->t[p] - s->h[p]) < need) {
				/* Full or stale: only a change of tail or
				 * head lets it on; waiting otherwise. */
				if (s->t[p] == s->tail && s->h[p] == s->head &&
				    (int8_t)(uint8_t)(s->t[p] - s->h[p]) >= 0)
					return 0;
				s->pc[p] = P_LOAD_TAIL;
				return 1;
			}
			s->pc[p] = P_CAS;
			return 1;
		case P_CAS:
			need = (uint8_t)(s->pad[p] + span(sc->claim));
			if (s->tail != s->t[p]) {
				s->pc[p] = P_LOAD_TAIL;
				return 1;
			}
			/* The zero invariant: every claimed word is free. */
			for (uint8_t k = 0; k < need; k++)
				if (s->ring[(uint8_t)(s->t[p] + k) % CAP]) {
					failure = "claimed a nonzero word";
					return 1;
				}
			s->tail = (uint8_t)(s->t[p] + need);
			s->pos[p] = (uint8_t)(s->t[p] + s->pad[p]);
			s->pc[p] = s->pad[p] ? P_PAD : P_WRITE;
			return 1;
		case P_PAD:
			s->ring[s->t[p] % CAP] = header(s->t[p], 1, s->pad[p]);
			s->pc[p] = P_WRITE;
			return 1;
		case P_WRITE:
			for (int k = 0; k < sc->claim; k++)
				s->ring[(s->pos[p] + 1 + k) % CAP] =
					payload(p, s->msg[p], k);
			s->pc[p] = !sc->abort && sc->len < sc->claim ? P_TRAIL :
								       P_COMMIT;
			return 1;
		case P_TRAIL: {
			uint8_t at = (uint8_t)(s->pos[p] + span(sc->len));

			s->ring[at % CAP] =
				header(at, 1, span(sc->claim) - span(sc->len));
			s->pc[p] = P_COMMIT;
			return 1;
		}
		default:
			s->ring[s->pos[p] % CAP] =
				sc->abort ?
					header(s->pos[p], 1, span(sc->claim)) :
					header(s->pos[p], 0, sc->len);
			s->msg[p]++;
			s->pc[p] = P_LOAD_TAIL;
			return 1;
		}
	}
	switch (s->cpc) {
	case C_LOOK: {
		uint32_t w = s->ring[s->cpos % CAP], len;
		uint8_t room = CAP - s->cpos % CAP;

		if (!w)
			return 0;
		len = w >> 8 & 0xff;
		if ((w & 0xff) != s->cpos || !(w & H_COMMITTED)) {
			failure = "header with the wrong tag";
			return 1;
		}
		if (w & H_PAD) {
			if (len < 1 || len > room) {
				failure = "padding past the end";
				return 1;
			}
			s->cend = (uint8_t)(s->cpos + len);
			s->cpc = C_RELEASE;
			return 1;
		}
		if (len > MAXLEN || span(len) > room) {
			failure = "message past the end";
			return 1;
		}
		s->cend = (uint8_t)(s->cpos + span(len));
		s->cprod = 0xff;
		s->cpc = C_READ;
		return 1;
	}
	case C_READ: {
		uint32_t len = (uint8_t)(s->cend - s->cpos) - 1u;
		uint32_t first = len ? s->ring[(s->cpos + 1) % CAP] : 0;
		int p = -1, m;

		/* Which producer: from the payload, or for an empty message
		 * the only one that sends one next. */
		if (len) {
			p = (int)(first >> 12 & 0xf);
		} else {
			for (int q = 0; q < NP; q++) {
				m = next_delivered(q, s->got[q]);
				if (m < NM && scripts[q][m].len == 0)
					p = q;
			}
		}
		if (p < 0 || p >= NP) {
			failure = "message from nobody";
			return 1;
		}
		m = next_delivered(p, s->got[p]);
		if (m >= NM || scripts[p][m].len != len) {
			failure = "message out of order or of the wrong length";
			return 1;
		}
		for (uint32_t k = 0; k < len; k++)
			if (s->ring[(s->cpos + 1 + k) % CAP] !=
			    payload(p, m, (int)k)) {
				failure = "torn payload";
				return 1;
			}
		s->got[p] = (uint8_t)(m + 1);
		s->cpc = C_RELEASE;
		return 1;
	}
	default:
		for (uint8_t a = s->cpos; a != s->cend; a++)
			s->ring[a % CAP] = 0;
		s->head = s->cend;
		s->cpos = s->cend;
		s->cpc = C_LOOK;
		return 1;
	}
}

static int explore(const struct state *s)
{
	int moved = 0;

	if (!visit(s))
		return 0;
	for (int who = 0; who <= NP; who++) {
		struct state n = *s;

		if (!step(&n, who))
			continue;
		if (failure)
			return -1;
		moved = 1;
		if (explore(&n))
			return -1;
	}
	if (!moved) {
		if (!finished(s)) {
			failure = "stuck before everything was delivered";
			return -1;
		}
		if (s->head != s->tail) {
			failure = "head != tail at the end";
			return -1;
		}
		for (int k = 0; k < CAP; k++)
			if (s->ring[k]) {
				failure = "nonzero word at the end";
				return -1;
			}
	}
	return 0;
}

static int test_every_interleaving(void)
{
	static const int offsets[] = { 5, 0, 2, 7 };

	set = calloc((size_t)1 << SET_BITS, sizeof(*set));
	CHECK(set);
	/* Four offsets in the ring (each run goes round it twice, so it sees
	 * padding at several), a few words below the top of the counter so
	 * that positions wrap through it. Under sanitizers (5-20x slower, and
	 * this is single-threaded model code) one, whose first records pad
	 * at the wrap. */
	for (int i = 0; i < (TEST_SLOWDOWN > 1 ? 1 : 4); i++) {
		int d = offsets[i];
		struct state s;

		memset(&s, 0, sizeof(s));
		s.tail = s.head = s.cpos = (uint8_t)(248 + d);
		memset(set, 0, ((size_t)1 << SET_BITS) * sizeof(*set));
		states = 0;
		if (explore(&s)) {
			fprintf(stderr, "start %d: %s\n", 248 + d, failure);
			free(set);
			return TEST_FAIL;
		}
		CHECK(states > 1000);
		CHECK(states < ((uint64_t)1 << SET_BITS) / 2);
	}
	free(set);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_every_interleaving);
	return test_result();
}
