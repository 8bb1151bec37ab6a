/* SPDX-License-Identifier: MIT */
/*
 * Producer and consumer loops shared by the variable-length ring stress
 * tests (threads and processes). Message seq of producer prod has a length
 * (1 B to 60 KiB, mostly small) and bytes that are a function of (prod,
 * seq) alone; its first byte also names the producer and the low bits of
 * seq. The consumer keeps the next expected seq of every producer, so a
 * lost, duplicated, reordered (within a producer) or torn message fails the
 * run. Producers rotate through push, claim/commit, claim more and commit
 * less (a trailing padding record), and claim then abort; the consumer
 * through pop, pop with too small a buffer, peek/release and peek_batch.
 */
#ifndef SHOAL_TEST_VARRING_STRESS_H
#define SHOAL_TEST_VARRING_STRESS_H

#include <sched.h>
#include <shoal/ring_var.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VS_MAX_LEN 61440u /* 60 KiB */
#define VS_MAX_PROD 4u

/* Sanitized builds run a tenth of the messages (harness.h). */
#define VS_SANITIZED (TEST_SLOWDOWN > 1)

static inline uint64_t vs_hash(uint32_t prod, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ULL + prod * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 29);
}

/* Length of message @seq of @prod, 1..@max (max <= VS_MAX_LEN). */
static inline uint32_t vs_len(uint32_t prod, uint64_t seq, uint32_t max)
{
	uint64_t x = vs_hash(prod, seq);
	uint32_t len;

	if (seq % 1000 == 7)
		len = VS_MAX_LEN;
	else if (seq % 1000 == 3)
		len = 1;
	else if (x % 61 == 0)
		len = 16384 + (uint32_t)(x >> 8) % (VS_MAX_LEN - 16384 + 1);
	else if (x % 7 == 0)
		len = 129 + (uint32_t)(x >> 8) % 4000;
	else
		len = 1 + (uint32_t)(x >> 8) % 128;
	return len <= max ? len : 1 + len % max;
}

static inline unsigned char vs_byte(uint64_t x, uint32_t k)
{
	return (unsigned char)(x + k * 0x9du + (k >> 8));
}

static inline void vs_fill(unsigned char *p, uint32_t prod, uint64_t seq,
			   uint32_t len)
{
	uint64_t x = vs_hash(prod, seq);

	p[0] = (unsigned char)(prod | (seq & 63) << 2);
	for (uint32_t k = 1; k < len; k++)
		p[k] = vs_byte(x, k);
}

/* 0 if @p, @len is exactly message @seq of @prod, else -1 (says why). */
static inline int vs_check(const unsigned char *p, uint32_t len, uint32_t prod,
			   uint64_t seq, uint32_t max)
{
	uint64_t x = vs_hash(prod, seq);

	if (len != vs_len(prod, seq, max)) {
		fprintf(stderr,
			"producer %u message %llu: length %u, want %u\n", prod,
			(unsigned long long)seq, len, vs_len(prod, seq, max));
		return -1;
	}
	if (p[0] != (unsigned char)(prod | (seq & 63) << 2)) {
		fprintf(stderr, "producer %u message %llu: first byte %#x\n",
			prod, (unsigned long long)seq, p[0]);
		return -1;
	}
	for (uint32_t k = 1; k < len; k++) {
		if (p[k] != vs_byte(x, k)) {
			fprintf(stderr,
				"producer %u message %llu: byte %u torn\n",
				prod, (unsigned long long)seq, k);
			return -1;
		}
	}
	return 0;
}

/*
 * Sends messages 0..count-1 of producer @prod, none longer than @max (<=
 * the ring's max_message). Counts its aborts in *aborts. 0 on success, -1 on
 * an unexpected error.
 */
static inline int vs_produce(struct shoal_varring_producer *p, uint32_t prod,
			     uint64_t count, uint32_t max, uint64_t *aborts)
{
	unsigned char *buf = malloc(VS_MAX_LEN);
	uint64_t seq = 0, aborted_seq = UINT64_MAX;
	uint32_t ring_max = shoal_varring_max_message(p);

	*aborts = 0;
	if (!buf)
		return -1;
	while (seq < count) {
		uint32_t len = vs_len(prod, seq, max);
		int mode = (int)(seq % 7), r;
		void *ptr;

		if (mode == 0 || mode == 4) {
			vs_fill(buf, prod, seq, len);
			r = shoal_varring_push(p, buf, len);
		} else if (mode == 1 || mode == 5) {
			r = shoal_varring_claim(p, len, &ptr);
			if (r == 0) {
				vs_fill(ptr, prod, seq, len);
				r = shoal_varring_commit(p, len);
			}
		} else if (mode == 2) {
			/* Claim more than needed, commit less. */
			uint32_t more = len + 1 + (uint32_t)(seq % 300);

			if (more > ring_max)
				more = ring_max;
			r = shoal_varring_claim(p, more, &ptr);
			if (r == 0) {
				memset(ptr, 0xa5, more);
				vs_fill(ptr, prod, seq, len);
				r = shoal_varring_commit(p, len);
			}
		} else if (mode == 3 && seq % 21 == 3 && aborted_seq != seq) {
			/* Claim, scribble, change our mind. */
			r = shoal_varring_claim(p, len, &ptr);
			if (r == 0) {
				memset(ptr, 0x5a, len);
				r = shoal_varring_abort(p);
				if (r == 0)
					++*aborts;
				aborted_seq = seq; /* send it for real next */
				continue;
			}
		} else {
			r = shoal_varring_claim(p, len, &ptr);
			if (r == 0) {
				vs_fill(ptr, prod, seq, len);
				r = shoal_varring_commit(p, len);
			}
		}
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "producer %u: error %d at %llu: %s\n",
				prod, r, (unsigned long long)seq,
				shoal_last_error());
			free(buf);
			return -1;
		}
		seq++;
	}
	free(buf);
	return 0;
}

/* Which producer a message comes from, or -1 (says why). */
static inline int vs_producer_of(const unsigned char *p, uint32_t len,
				 uint32_t nprod)
{
	uint32_t prod = len ? p[0] & 3u : 99;

	if (prod >= nprod) {
		fprintf(stderr, "message of %u bytes from no producer\n", len);
		return -1;
	}
	return (int)prod;
}

/* Checks one received message against the next one of its producer. */
static inline int vs_take(const unsigned char *p, uint32_t len, uint32_t nprod,
			  uint64_t *next, uint64_t per_prod, uint32_t max)
{
	int prod = vs_producer_of(p, len, nprod);

	if (prod < 0)
		return -1;
	if (next[prod] >= per_prod) {
		fprintf(stderr, "producer %d: message past its last\n", prod);
		return -1;
	}
	if (vs_check(p, len, (uint32_t)prod, next[prod], max))
		return -1;
	next[prod]++;
	return 0;
}

/*
 * Receives and checks @per_prod messages of each of @nprod producers. 0 on
 * success, -1 on failure.
 */
static inline int vs_consume(struct shoal_varring_consumer *c, uint32_t nprod,
			     uint64_t per_prod, uint32_t max)
{
	unsigned char *buf = malloc(VS_MAX_LEN);
	struct shoal_varring_msg msgs[8];
	uint64_t next[VS_MAX_PROD] = { 0 }, got = 0, total = nprod * per_prod;
	int ret = -1;

	if (!buf)
		return -1;
	while (got < total) {
		int mode = (int)(got / 97 % 4);
		ssize_t r;

		if (mode == 0) {
			r = shoal_varring_pop(c, buf, VS_MAX_LEN);
			if (r >= 0) {
				if (vs_take(buf, (uint32_t)r, nprod, next,
					    per_prod, max))
					goto out;
				got++;
			}
		} else if (mode == 1) {
			/* Too small a buffer leaves the message. */
			r = shoal_varring_pop(c, buf, 64);
			if (r == -EMSGSIZE) {
				r = shoal_varring_pop(c, buf, VS_MAX_LEN);
				if (r >= 0 && r <= 64) {
					fprintf(stderr, "-EMSGSIZE for %zd\n",
						r);
					goto out;
				}
			}
			if (r >= 0) {
				if (vs_take(buf, (uint32_t)r, nprod, next,
					    per_prod, max))
					goto out;
				got++;
			}
		} else if (mode == 2) {
			r = shoal_varring_peek(c, &msgs[0].data, &msgs[0].len);
			if (r == 0) {
				if (vs_take(msgs[0].data, msgs[0].len, nprod,
					    next, per_prod, max))
					goto out;
				got++;
				r = shoal_varring_release(c);
			}
		} else {
			r = shoal_varring_peek_batch(c, 8, msgs);
			for (ssize_t k = 0; k < r; k++) {
				if (vs_take(msgs[k].data, msgs[k].len, nprod,
					    next, per_prod, max))
					goto out;
				got++;
			}
			if (r > 0)
				r = shoal_varring_release(c);
		}
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "consumer: error %zd after %llu: %s\n",
				r, (unsigned long long)got, shoal_last_error());
			goto out;
		}
	}
	/* Nothing more may arrive. */
	if (shoal_varring_pop(c, buf, VS_MAX_LEN) != -EAGAIN) {
		fprintf(stderr, "consumer: a message past the last one\n");
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

#endif
