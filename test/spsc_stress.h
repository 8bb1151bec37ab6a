/* SPDX-License-Identifier: MIT */
/*
 * Producer and consumer loops shared by the SPSC stress tests (threads and
 * processes). Message i has a length and contents that are a function of i
 * alone, so the consumer can check every byte: a lost, duplicated,
 * reordered or torn message fails the run. Both sides rotate through every
 * API variant (copy, zero-copy, batch) so all of them are exercised under
 * contention.
 */
#ifndef SHOAL_TEST_SPSC_STRESS_H
#define SHOAL_TEST_SPSC_STRESS_H

#include <sched.h>
#include <shoal.h>
#include <stdio.h>
#include <string.h>

#define STRESS_SLOT 48

static inline uint32_t stress_len(uint64_t i)
{
	return 8 + (uint32_t)((i * 7) % (STRESS_SLOT - 8 + 1));
}

static inline void stress_fill(unsigned char *p, uint64_t i, uint32_t len)
{
	memcpy(p, &i, 8);
	for (uint32_t k = 8; k < len; k++)
		p[k] = (unsigned char)(i * 131 + k);
}

/* 0 if the message is exactly message @i, else -1 (and says why). */
static inline int stress_check(const unsigned char *p, uint32_t len, uint64_t i)
{
	uint64_t seq;

	if (len != stress_len(i)) {
		fprintf(stderr, "message %llu: length %u, want %u\n",
			(unsigned long long)i, len, stress_len(i));
		return -1;
	}
	memcpy(&seq, p, 8);
	if (seq != i) {
		fprintf(stderr, "message %llu: carries sequence %llu\n",
			(unsigned long long)i, (unsigned long long)seq);
		return -1;
	}
	for (uint32_t k = 8; k < len; k++) {
		if (p[k] != (unsigned char)(i * 131 + k)) {
			fprintf(stderr, "message %llu: byte %u torn\n",
				(unsigned long long)i, k);
			return -1;
		}
	}
	return 0;
}

/* Sends messages 0..count-1. 0 on success, -1 on an unexpected error. */
static inline int stress_produce(struct shoal_spsc_producer *p, uint64_t count)
{
	unsigned char buf[STRESS_SLOT];
	void *slots[16];
	uint32_t lens[16];
	uint64_t i = 0;

	while (i < count) {
		int r, mode = (int)(i / 1000 % 3);

		if (mode == 0) {
			uint32_t len = stress_len(i);
			stress_fill(buf, i, len);
			r = shoal_spsc_push(p, buf, len);
			if (r == 0)
				i++;
		} else if (mode == 1) {
			r = shoal_spsc_claim(p, &slots[0]);
			if (r == 0) {
				stress_fill(slots[0], i, stress_len(i));
				r = shoal_spsc_commit(p, stress_len(i));
				i++;
			}
		} else {
			uint64_t want = count - i < 16 ? count - i : 16;
			r = shoal_spsc_claim_batch(p, (uint32_t)want, slots);
			if (r > 0) {
				for (int k = 0; k < r; k++) {
					lens[k] = stress_len(i + k);
					stress_fill(slots[k], i + k, lens[k]);
				}
				i += (uint64_t)r;
				r = shoal_spsc_commit_batch(p, lens,
							    (uint32_t)r);
			}
		}
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "producer: error %d at %llu: %s\n", r,
				(unsigned long long)i, shoal_last_error());
			return -1;
		}
	}
	return 0;
}

/* Receives and checks messages 0..count-1. 0 on success, -1 on failure. */
static inline int stress_consume(struct shoal_spsc_consumer *c, uint64_t count)
{
	unsigned char buf[STRESS_SLOT];
	struct shoal_spsc_msg msgs[16];
	uint64_t i = 0;

	while (i < count) {
		int mode = (int)(i / 777 % 3);
		ssize_t r;

		if (mode == 0) {
			r = shoal_spsc_pop(c, buf, sizeof(buf));
			if (r >= 0) {
				if (stress_check(buf, (uint32_t)r, i))
					return -1;
				i++;
			}
		} else if (mode == 1) {
			r = shoal_spsc_peek(c, &msgs[0].data, &msgs[0].len);
			if (r == 0) {
				if (stress_check(msgs[0].data, msgs[0].len, i))
					return -1;
				i++;
				r = shoal_spsc_release(c);
			}
		} else {
			r = shoal_spsc_peek_batch(c, 16, msgs);
			for (ssize_t k = 0; k < r; k++) {
				if (stress_check(msgs[k].data, msgs[k].len, i))
					return -1;
				i++;
			}
			if (r > 0)
				r = shoal_spsc_release(c);
		}
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "consumer: error %zd at %llu: %s\n", r,
				(unsigned long long)i, shoal_last_error());
			return -1;
		}
	}
	/* Nothing more may arrive. */
	if (shoal_spsc_pop(c, buf, sizeof(buf)) != -EAGAIN) {
		fprintf(stderr, "consumer: a message past the last one\n");
		return -1;
	}
	return 0;
}

#endif
