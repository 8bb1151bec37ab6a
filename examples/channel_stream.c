/* SPDX-License-Identifier: MIT */
/*
 * A channel stream: two processes, one shared-memory channel. (This was
 * the first shoal demo; `make demo` now runs demo.c, pub/sub.)
 *
 * The parent creates a channel under a name (a memfd holding an SPSC ring,
 * plus two eventfds), forks a consumer that opens it by name, and streams
 * numbered, checksummed 64-byte messages zero-copy (loan, fill, send) for a
 * few seconds, then destroys it: the consumer takes what is left and then
 * gets -EPIPE. Both sides report what moved, how fast, and how often anyone
 * had to enter the kernel to sleep or wake the other.
 *
 * Usage: channel_stream [seconds]   (default 3)
 */
#include <errno.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 64

struct report {
	uint64_t received;
	uint64_t bad;
	uint64_t sleeps;
	uint64_t wakeups;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A message: its sequence number, then bytes derived from it, then a sum. */
static void fill(unsigned char *m, uint64_t seq)
{
	uint32_t sum = 0;

	memcpy(m, &seq, 8);
	for (int i = 8; i < MSG_SIZE - 4; i++) {
		m[i] = (unsigned char)(seq * 31 + (uint64_t)i);
		sum = sum * 33 + m[i];
	}
	memcpy(m + MSG_SIZE - 4, &sum, 4);
}

static int intact(const unsigned char *m, uint64_t want_seq)
{
	uint64_t seq;
	uint32_t sum = 0, stored;

	memcpy(&seq, m, 8);
	for (int i = 8; i < MSG_SIZE - 4; i++)
		sum = sum * 33 + m[i];
	memcpy(&stored, m + MSG_SIZE - 4, 4);
	return seq == want_seq && sum == stored;
}

static int consumer(const char *name, struct report *rep)
{
	struct shoal_channel_options o;
	struct shoal_channel_stats st;
	struct shoal_channel *rx;
	int err;

	shoal_channel_options_init(&o);
	o.timeout_ns = 10LL * 1000000000;
	err = shoal_channel_open(name, &o, &rx);
	if (err) {
		fprintf(stderr, "consumer: open: %s\n", shoal_last_error());
		return 1;
	}
	for (;;) {
		struct shoal_msg msg;

		err = shoal_channel_take(rx, &msg, 10LL * 1000000000);
		if (err == -EPIPE)
			break; /* the producer destroyed it; all was taken */
		if (err || msg.len != MSG_SIZE) {
			fprintf(stderr, "consumer: take: %s\n",
				shoal_last_error());
			return 1;
		}
		if (!intact(msg.data, rep->received))
			rep->bad++;
		rep->received++;
		shoal_channel_release(rx, &msg);
	}
	shoal_channel_get_stats(rx, &st);
	rep->sleeps = st.sleeps;
	rep->wakeups = st.wakeups;
	shoal_channel_close(rx);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	struct shoal_channel_options opts;
	struct shoal_channel_stats st;
	struct shoal_channel *tx;
	struct report *rep;
	char name[64];
	uint64_t sent = 0;
	double start, elapsed;
	int status;
	pid_t pid;

	if (seconds <= 0) {
		fprintf(stderr, "usage: channel_stream [seconds]\n");
		return 2;
	}
	/* Where the consumer writes its report for us to print. */
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		return 1;
	memset(rep, 0, sizeof(*rep));

	shoal_channel_options_init(&opts);
	opts.capacity = 4096;
	opts.slot_size = MSG_SIZE;
	opts.send_timeout_ns = 10LL * 1000000000;
	snprintf(name, sizeof(name), "examples/channel-stream-%d",
		 (int)getpid());
	if (shoal_channel_create(name, &opts, &tx)) {
		fprintf(stderr, "channel_stream: %s\n", shoal_last_error());
		return 1;
	}
	printf("shoal %s channel stream: channel '%s' (%u slots of %d bytes)\n",
	       shoal_version(), name, opts.capacity, MSG_SIZE);

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(consumer(name, rep));
	printf("producer %d -> consumer %d, streaming for %.1f s...\n",
	       (int)getpid(), (int)pid, seconds);
	fflush(stdout);

	start = now_s();
	do {
		/* Check the clock once per 4096 messages, not per message. */
		for (int i = 0; i < 4096; i++) {
			void *slot;

			if (shoal_channel_loan(tx, MSG_SIZE, &slot)) {
				fprintf(stderr, "producer: %s\n",
					shoal_last_error());
				return 1;
			}
			fill(slot, sent++);
			shoal_channel_send(tx, slot, MSG_SIZE);
		}
	} while (now_s() - start < seconds);
	shoal_channel_get_stats(tx, &st);
	shoal_channel_destroy(tx); /* the consumer drains, then -EPIPE */
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "channel_stream: consumer failed\n");
		return 1;
	}
	elapsed = now_s() - start;

	printf("sent      %llu messages\n", (unsigned long long)sent);
	printf("received  %llu messages, %llu damaged, %llu missing\n",
	       (unsigned long long)rep->received, (unsigned long long)rep->bad,
	       (unsigned long long)(sent - rep->received));
	printf("rate      %.2f million messages/s, %.1f MB/s of payload\n",
	       (double)rep->received / elapsed / 1e6,
	       (double)rep->received * MSG_SIZE / elapsed / 1e6);
	printf("kernel    consumer slept %llu times, producer woke it %llu "
	       "times; producer slept %llu times (ring full)\n",
	       (unsigned long long)rep->sleeps, (unsigned long long)st.wakeups,
	       (unsigned long long)st.sleeps);
	return rep->bad || rep->received != sent;
}
