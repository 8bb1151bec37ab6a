/* SPDX-License-Identifier: MIT */
/*
 * Several loans and several held messages per handle: a producer that
 * fills frames in whatever order its work finishes, and a consumer that
 * keeps a few frames at hand and lets each go when it is done with it.
 *
 * The parent creates the queue "examples/loans-<pid>" and forks a
 * consumer. With max_loans 4 the producer loans four cells at once (each
 * takes the next position in the queue), writes them, and sends them in
 * reverse order; every eighth round it aborts the second loan instead (a
 * frame it decided to drop): consumers pass over an aborted cell, and
 * still see the sent ones in loan order. With max_held 4 the consumer
 * takes up to four frames, then releases them newest first. A fifth loan
 * or take would be -EBUSY.
 */
#include <errno.h>
#include <shoal.h>
#include <shoal/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define ROUNDS 200u
#define K 4u

struct frame {
	uint64_t n;
	char text[24];
};

static int consumer(const char *name)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;
	struct shoal_msg held[K];
	uint64_t last = 0, got = 0;
	uint32_t n = 0;
	int err, first = 1;

	shoal_queue_options_init(&o);
	o.role = SHOAL_QUEUE_CONSUMER;
	o.max_held = K;
	o.timeout_ns = 5 * SEC;
	if (shoal_queue_open(name, &o, &q)) {
		fprintf(stderr, "consumer: open: %s\n", shoal_last_error());
		return 1;
	}
	for (;;) {
		err = shoal_queue_take(q, &held[n], n ? 0 : 2 * SEC);
		if (err == 0) {
			const struct frame *f = held[n].data;

			/* Sent in any order, taken in loan order. */
			if (!first && f->n <= last) {
				fprintf(stderr, "consumer: %llu after %llu\n",
					(unsigned long long)f->n,
					(unsigned long long)last);
				return 1;
			}
			first = 0;
			last = f->n;
			got++;
			if (++n < K)
				continue;
		} else if (err != -EAGAIN && err != -ETIMEDOUT) {
			break; /* -EPIPE: the producer is done */
		} else if (!n) {
			break;
		}
		/* Done with what we hold: newest first. */
		while (n)
			shoal_queue_release(q, &held[--n]);
	}
	printf("consumer: %llu frames, the last %llu\n",
	       (unsigned long long)got, (unsigned long long)last);
	fflush(stdout); /* the child ends with _exit() */
	shoal_queue_close(q);
	return 0;
}

int main(void)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;
	char name[64];
	uint64_t next = 0;
	int status;
	pid_t pid;

	snprintf(name, sizeof(name), "examples/loans-%d", (int)getpid());
	shoal_queue_options_init(&o);
	o.capacity = 64;
	o.max_message = sizeof(struct frame);
	o.role = SHOAL_QUEUE_PRODUCER;
	o.max_loans = K;
	if (shoal_queue_create(name, &o, &q)) {
		fprintf(stderr, "create: %s\n", shoal_last_error());
		return 1;
	}
	pid = fork();
	if (pid == 0)
		_exit(consumer(name));
	for (uint32_t r = 0; r < ROUNDS; r++) {
		void *ptr[K];
		void *extra;

		for (uint32_t j = 0; j < K; j++) {
			struct frame *f;

			if (shoal_queue_loan(q, sizeof(*f), &ptr[j])) {
				fprintf(stderr, "loan: %s\n",
					shoal_last_error());
				return 1;
			}
			f = ptr[j];
			f->n = next++;
			snprintf(f->text, sizeof(f->text), "frame %llu",
				 (unsigned long long)f->n);
		}
		if (shoal_queue_loan(q, 8, &extra) != -EBUSY)
			return 1; /* max_loans reached */
		for (uint32_t j = K; j-- > 0;) {
			if (r % 8 == 0 && j == 1)
				shoal_queue_abort(q, ptr[j]);
			else
				shoal_queue_send(q, ptr[j],
						 sizeof(struct frame));
		}
	}
	waitpid(pid, &status, 0);
	shoal_queue_destroy(q);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
