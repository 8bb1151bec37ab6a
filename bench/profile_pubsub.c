/* SPDX-License-Identifier: MIT */
/*
 * shoal-profile-pubsub: the CPU cost of one pub/sub message with no other
 * core involved, for a profiler.
 *
 *   shoal-profile-pubsub [MESSAGES] [SIZE]
 *   perf record -g ./build/bench/shoal-profile-pubsub 30000000
 *   valgrind --tool=callgrind ./build/bench/shoal-profile-pubsub 1000000
 *
 * One process publishes a message (loan, copy in, send) and takes it back
 * (take, copy out, release) in a loop, on a private registry, with a
 * busy-spin subscriber. Every cache line stays in this core's cache, so
 * what is left is instructions, fences and the stores' ordering: what
 * shoal adds to a message on top of the line transfers that a two-process
 * figure of shoal-bench also pays. It prints ns per message; it asserts
 * nothing and is not a test.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) :
					  10000000;
	unsigned long size = argc > 2 ? strtoul(argv[2], NULL, 10) : 8;
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	char dir[] = "/tmp/shoal-profile-XXXXXX";
	unsigned char *in, *out;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	long long t0;
	int rc = 1;

	if (!n || size < 8 || size > (1ul << 20)) {
		fprintf(stderr, "usage: %s [MESSAGES > 0] [SIZE 8..1048576]\n",
			argv[0]);
		return 2;
	}
	in = calloc(1, size);
	out = calloc(1, size);
	if (!in || !out || !mkdtemp(dir) || setenv("SHOAL_DIR", dir, 1)) {
		perror("setup");
		return 1;
	}
	shoal_pub_options_init(&po);
	po.capacity = 64;
	po.max_payload = (uint32_t)size;
	shoal_sub_options_init(&so);
	so.strategy = SHOAL_WAIT_BUSY_SPIN;
	if (shoal_pub_create("profile", &po, &pub)) {
		fprintf(stderr, "pub: %s\n", shoal_last_error());
		goto out;
	}
	if (shoal_sub_open("profile", &so, &sub)) {
		fprintf(stderr, "sub: %s\n", shoal_last_error());
		shoal_pub_destroy(pub);
		goto out;
	}
	t0 = now_ns();
	for (unsigned long long i = 0; i < n; i++) {
		struct shoal_msg m;
		void *slot;

		memcpy(in, &i, sizeof(i));
		if (shoal_pub_loan(pub, (uint32_t)size, &slot))
			break;
		memcpy(slot, in, size);
		if (shoal_pub_send(pub, slot, (uint32_t)size) ||
		    shoal_sub_take(sub, &m, 0))
			break;
		memcpy(out, m.data, m.len);
		if (shoal_sub_release(sub, &m) || memcmp(out, &i, sizeof(i)))
			break;
		if (i + 1 == n)
			rc = 0;
	}
	if (rc)
		fprintf(stderr, "failed: %s\n", shoal_last_error());
	else
		printf("%.2f ns per message (%lu B: loan, copy, send, take, copy, release)\n",
		       (double)(now_ns() - t0) / (double)n, size);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
out:
	rmdir(dir);
	free(in);
	free(out);
	return rc;
}
