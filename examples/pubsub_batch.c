/* SPDX-License-Identifier: MIT */
/*
 * Publishing in batches: a sensor that produces readings in bursts hands
 * each burst to shoal_pub_write_batch() instead of calling
 * shoal_pub_write() once per reading. Subscribers see the same messages
 * either way; the publisher pays the per-send costs (a full fence, the
 * store of its head, a look for sleeping subscribers) once per batch.
 *
 * The parent forks a subscriber, publishes "examples/batch-<pid>" with a
 * small ring (64 slots), and writes 10,000 readings in bursts of 100. A
 * batch may come back short when the ring is full (reliable delivery waits
 * only before the first message of a batch), so the loop carries on from
 * the first message that was not published. The subscriber checks that it
 * got every reading, in order, and prints their sum.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define READINGS 10000u
#define BURST 100u

struct reading {
	uint64_t n;
	double value;
};

static int subscriber(const char *name)
{
	struct shoal_sub *sub;
	struct shoal_msg msg;
	uint64_t expect = 0;
	double sum = 0;
	int err;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err) {
		fprintf(stderr, "sub: open %s: %s\n", name, shoal_last_error());
		return 1;
	}
	while ((err = shoal_sub_take(sub, &msg, 5 * SEC)) == 0) {
		const struct reading *r = msg.data;

		if (msg.len != sizeof(*r) || r->n != expect) {
			fprintf(stderr, "sub: reading %llu out of order\n",
				(unsigned long long)expect);
			return 1;
		}
		sum += r->value;
		expect++;
		shoal_sub_release(sub, &msg);
	}
	shoal_sub_close(sub);
	printf("subscriber: %llu readings in order, sum %.1f\n",
	       (unsigned long long)expect, sum);
	return err == -EPIPE && expect == READINGS ? 0 : 1;
}

int main(void)
{
	struct shoal_pub_options opts;
	struct reading burst[BURST];
	struct shoal_pub_msg msgs[BURST];
	struct shoal_pub *pub;
	uint32_t calls = 0;
	uint64_t sent = 0;
	char name[64];
	int status, n;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(name, sizeof(name), "examples/batch-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(name));

	shoal_pub_options_init(&opts);
	opts.capacity = 64;
	opts.max_payload = sizeof(struct reading);
	if (shoal_pub_create(name, &opts, &pub)) {
		fprintf(stderr, "pub: %s\n", shoal_last_error());
		return 1;
	}
	/* Wait until the subscriber has joined, so it sees every reading. */
	while (shoal_pub_subscribers(pub) == 0)
		usleep(1000);
	while (sent < READINGS) {
		uint32_t k = READINGS - sent < BURST ? READINGS - sent : BURST;

		for (uint32_t i = 0; i < k; i++) {
			burst[i].n = sent + i;
			burst[i].value = 0.5 * (double)(sent + i);
			msgs[i] = (struct shoal_pub_msg){
				.data = &burst[i], .len = sizeof(burst[i])
			};
		}
		n = shoal_pub_write_batch(pub, msgs, k);
		if (n < 0) {
			fprintf(stderr, "pub: %s\n", shoal_last_error());
			return 1;
		}
		sent += (uint64_t)n; /* a short batch: go on from there */
		calls++;
	}
	printf("publisher: %llu readings in %u batch calls\n",
	       (unsigned long long)sent, calls);
	shoal_pub_destroy(pub);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
