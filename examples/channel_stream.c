/* SPDX-License-Identifier: MIT */
/*
 * A channel stream: two processes, one shared-memory channel. (This was
 * the first shoal demo; `make demo` now runs demo.c, pub/sub.)
 *
 * The parent creates a channel (a sealed memfd holding an SPSC ring, plus two
 * eventfds), forks a consumer that opens the channel from the inherited
 * descriptors, and streams numbered, checksummed 64-byte messages to it for
 * a few seconds. Then both sides report what moved, how fast, and how often
 * anyone had to enter the kernel to sleep or wake the other.
 *
 * Usage: channel_stream [seconds]   (default 3)
 */
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

static int consumer(const struct shoal_channel_fds *fds, struct report *rep)
{
	struct shoal_channel *rx;
	unsigned char msg[MSG_SIZE];
	int err = shoal_channel_open(fds, NULL, SHOAL_CHANNEL_RECV, &rx);

	if (err) {
		fprintf(stderr, "consumer: open: %s\n", shoal_last_error());
		return 1;
	}
	for (;;) {
		ssize_t n = shoal_channel_recv(rx, msg, sizeof(msg),
					       10LL * 1000000000);
		if (n == 0)
			break; /* the producer's empty "end" message */
		if (n != MSG_SIZE) {
			fprintf(stderr, "consumer: recv: %s\n",
				shoal_last_error());
			return 1;
		}
		if (!intact(msg, rep->received))
			rep->bad++;
		rep->received++;
	}
	rep->sleeps = shoal_channel_sleeps(rx);
	rep->wakeups = shoal_channel_wakeups(rx);
	shoal_channel_close(rx);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	struct shoal_channel_options opts;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	struct report *rep;
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
	if (shoal_channel_create(&opts, SHOAL_CHANNEL_SEND, &tx)) {
		fprintf(stderr, "channel_stream: %s\n", shoal_last_error());
		return 1;
	}
	shoal_channel_get_fds(tx, &fds);
	printf("shoal %s channel stream: channel in memfd %d (%u slots of %d bytes), "
	       "eventfds %d/%d\n",
	       shoal_version(), fds.memfd, opts.capacity, MSG_SIZE,
	       fds.data_eventfd, fds.space_eventfd);

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(consumer(&fds, rep));
	printf("producer %d -> consumer %d, streaming for %.1f s...\n",
	       (int)getpid(), (int)pid, seconds);
	fflush(stdout);

	start = now_s();
	do {
		/* Check the clock once per 4096 messages, not per message. */
		for (int i = 0; i < 4096; i++) {
			void *slot;

			if (shoal_channel_claim(tx, &slot, 10LL * 1000000000)) {
				fprintf(stderr, "producer: %s\n",
					shoal_last_error());
				return 1;
			}
			fill(slot, sent++);
			shoal_channel_commit(tx, MSG_SIZE);
		}
	} while (now_s() - start < seconds);
	shoal_channel_send(tx, "", 0, 10LL * 1000000000);
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
	       (unsigned long long)rep->sleeps,
	       (unsigned long long)shoal_channel_wakeups(tx),
	       (unsigned long long)shoal_channel_sleeps(tx));
	shoal_channel_close(tx);
	return rep->bad || rep->received != sent;
}
