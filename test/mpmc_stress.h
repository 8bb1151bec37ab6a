/* SPDX-License-Identifier: MIT */
/*
 * What the MPMC stress tests (threads and processes) share: the message,
 * the producer and consumer loops, and the final check. Each message carries
 * its producer, a per-producer sequence number, a variable length and a
 * checksum; each consumer records the position it dequeued every message
 * from. mpmc_stress_verify() then requires every message consumed exactly
 * once, intact, and for each producer the sequence numbers sorted by
 * dequeue position to be 0, 1, 2... Odd producers push through
 * claim/commit, even ones through push; odd consumers take through
 * peek/release, even ones through pop.
 *
 * The test sets region/region_size/per_prod, points sh at counters all its
 * workers see and recs[] at record arrays they can write (private memory
 * for threads, MAP_SHARED for processes), and runs the loops.
 */
#ifndef SHOAL_TEST_MPMC_STRESS_H
#define SHOAL_TEST_MPMC_STRESS_H

#include <shoal/ring_mpmc.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"

#define NPROD 4
#define NCONS 4
#define SLOT 64

struct msg {
	uint32_t prod;
	uint32_t len;
	uint64_t seq;
	uint64_t sum;
	unsigned char fill[SLOT - 24];
};

struct rec {
	uint64_t pos;
	uint64_t seq;
	uint32_t prod;
};

/* Counters every worker updates. */
struct mpmc_shared {
	_Atomic uint64_t consumed;
	uint64_t nrecs[NCONS];
};

static void *region;
static uint64_t region_size, per_prod;
static struct mpmc_shared *sh;
static struct rec *recs[NCONS];

static inline uint64_t sum_of(const struct msg *m)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = (h ^ m->prod) * 0x100000001b3ULL;
	h = (h ^ m->seq) * 0x100000001b3ULL;
	for (uint32_t j = 0; j + 24 < m->len; j++)
		h = (h ^ m->fill[j]) * 0x100000001b3ULL;
	return h;
}

static inline void *producer_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct shoal_mpmc h;
	struct msg m;

	if (shoal_mpmc_init(&h, region, region_size, 100 + id))
		return (void *)1;
	for (uint64_t s = 0; s < per_prod; s++) {
		int r;

		m.prod = id;
		m.seq = s;
		m.len = 24 + (uint32_t)((s * 7 + id) % (SLOT - 24 + 1));
		for (uint32_t j = 0; j + 24 < m.len; j++)
			m.fill[j] = (unsigned char)(s * 31 + id * 7 + j);
		m.sum = sum_of(&m);
		if (id & 1) {
			/* Odd producers use the zero-copy path. */
			void *slot;

			while ((r = shoal_mpmc_claim(&h, &slot)) == -EAGAIN)
				;
			if (!r) {
				memcpy(slot, &m, m.len);
				r = shoal_mpmc_commit(&h, m.len);
			}
		} else {
			while ((r = shoal_mpmc_push(&h, &m, m.len)) == -EAGAIN)
				;
		}
		if (r) {
			fprintf(stderr, "producer %u: push %d: %s\n", id, r,
				shoal_last_error());
			return (void *)1;
		}
	}
	return NULL;
}

static inline void *consumer_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t total = per_prod * NPROD;
	struct shoal_mpmc h;
	struct msg m;

	if (shoal_mpmc_init(&h, region, region_size, 200 + id))
		return (void *)1;
	while (atomic_load(&sh->consumed) < total) {
		uint64_t pos;
		ssize_t n;

		if (id & 1) {
			/* Odd consumers use the zero-copy path. */
			const void *data;
			uint32_t len;

			n = shoal_mpmc_peek(&h, &data, &len);
			if (n == 0) {
				pos = h.priv_peek_pos;
				n = len;
				memcpy(&m, data, len);
				if (shoal_mpmc_release(&h))
					return (void *)1;
			}
		} else {
			n = shoal_mpmc_pop_pos(&h, &m, sizeof(m), &pos);
		}

		if (n == -EAGAIN)
			continue;
		if (n < 24 || (uint32_t)n != m.len || m.prod >= NPROD ||
		    m.sum != sum_of(&m)) {
			fprintf(stderr,
				"consumer %u: bad message (%zd) at "
				"%llu\n",
				id, n, (unsigned long long)pos);
			return (void *)1;
		}
		if (sh->nrecs[id] == total)
			return (void *)1;
		recs[id][sh->nrecs[id]++] = (struct rec){ .pos = pos,
							  .seq = m.seq,
							  .prod = m.prod };
		atomic_fetch_add(&sh->consumed, 1);
	}
	return NULL;
}

static uint64_t sort_base;

static inline int by_pos(const void *a, const void *b)
{
	uint64_t x = ((const struct rec *)a)->pos - sort_base;
	uint64_t y = ((const struct rec *)b)->pos - sort_base;

	return x < y ? -1 : x > y;
}

/* Gathers every consumer's records and checks them (see the top). */
static inline int mpmc_stress_verify(uint64_t start)
{
	uint64_t total = per_prod * NPROD, k = 0, next[NPROD] = { 0 };
	struct rec *all = malloc(total * sizeof(*all));

	CHECK(all);
	for (int i = 0; i < NCONS; i++) {
		memcpy(all + k, recs[i], sh->nrecs[i] * sizeof(*all));
		k += sh->nrecs[i];
	}
	CHECK(k == total);
	sort_base = start;
	qsort(all, total, sizeof(*all), by_pos);
	/* Every position dequeued once, in a row; per producer, sequence
	 * numbers in dequeue-position order are exactly 0, 1, 2... */
	for (uint64_t i = 0; i < total; i++) {
		CHECK(all[i].pos == start + i);
		CHECK(all[i].seq == next[all[i].prod]);
		next[all[i].prod]++;
	}
	for (int i = 0; i < NPROD; i++)
		CHECK(next[i] == per_prod);
	free(all);
	return TEST_PASS;
}

#endif
