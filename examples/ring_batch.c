/* SPDX-License-Identifier: MIT */
/*
 * The SPSC ring on its own, zero copy and in batches: the producer claims
 * up to 32 slots at once, writes into them in place and publishes them with
 * one store; the consumer sees up to 32 messages in place and hands them
 * back with one store. The ring lives in a segment so that a forked child
 * can attach to it like any other process would.
 */
#include <sched.h>
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNT 1000000
#define BATCH 32

int main(void)
{
	uint64_t size = shoal_spsc_region_size(1024, 16);
	struct shoal_object_spec spec = { "ring", SHOAL_OBJECT_SPSC_RING, 0,
					  size };
	struct shoal_segment *seg;
	struct shoal_spsc_producer prod;
	void *ring, *slots[BATCH];
	uint32_t lens[BATCH];
	uint64_t next = 0;
	int status;
	pid_t pid;

	if (shoal_segment_create(&spec, 1, NULL, &seg) ||
	    shoal_segment_find(seg, "ring", SHOAL_OBJECT_SPSC_RING, &ring,
			       NULL) ||
	    shoal_spsc_format(ring, size, 1024, 16, 0) ||
	    shoal_segment_ready(seg)) {
		fprintf(stderr, "setup: %s\n", shoal_last_error());
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		struct shoal_spsc_consumer cons;
		struct shoal_spsc_msg msgs[BATCH];
		uint64_t want = 0, sum = 0;

		shoal_spsc_consumer_init(&cons, ring, size);
		while (want < COUNT) {
			int n = shoal_spsc_peek_batch(&cons, BATCH, msgs);

			if (n == -EAGAIN) {
				sched_yield();
				continue;
			}
			for (int i = 0; i < n; i++, want++) {
				uint64_t v;
				memcpy(&v, msgs[i].data, 8);
				if (v != want)
					_exit(1);
				sum += v;
			}
			shoal_spsc_release(&cons);
		}
		printf("consumer: %d messages in order, sum %llu\n", COUNT,
		       (unsigned long long)sum);
		fflush(stdout);
		_exit(0);
	}
	shoal_spsc_producer_init(&prod, ring, size);
	while (next < COUNT) {
		uint32_t want = COUNT - next < BATCH ? COUNT - next : BATCH;
		int n = shoal_spsc_claim_batch(&prod, want, slots);

		if (n == -EAGAIN) {
			sched_yield();
			continue;
		}
		for (int i = 0; i < n; i++, next++) {
			memcpy(slots[i], &next, 8);
			lens[i] = 8;
		}
		shoal_spsc_commit_batch(&prod, lens, (uint32_t)n);
	}
	waitpid(pid, &status, 0);
	shoal_segment_destroy(seg);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
