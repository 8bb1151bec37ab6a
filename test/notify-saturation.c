/* shoal-test: label=multiproc timeout=300 args=100000 */
/*
 * A peer that saturates the eventfd counter (writes 2^64 - 2, the most an
 * eventfd holds) must neither block the notifier nor lose a wake-up.
 */
#include <poll.h>
#include <shoal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "harness.h"

#define EVENTFD_MAX 0xfffffffffffffffeULL

static int saturate(int fd)
{
	uint64_t v = EVENTFD_MAX;

	/* EAGAIN: already saturated, which is just as good. */
	return write(fd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN ? 0 :
									  -1;
}

static int never(void *user_data)
{
	(void)user_data;
	return 0;
}

static int test_notify_does_not_block(void)
{
	_Alignas(64) unsigned char word[SHOAL_NOTIFY_WORD_SIZE];
	struct shoal_waiter w;
	struct shoal_notifier n;
	struct pollfd pfd;
	int fd = shoal_eventfd_create();

	CHECK(fd >= 0);
	CHECK_EQ(shoal_notify_format(word), 0);
	CHECK_EQ(shoal_waiter_init(&w, word, fd, SHOAL_WAIT_BLOCK), 0);
	CHECK_EQ(shoal_notifier_init(&n, word, fd), 0);
	/* Nobody asleep: no wake-up written. */
	CHECK_EQ(shoal_notify(&n), 0);
	CHECK_EQ(shoal_notifier_wakeups(&n), 0);

	CHECK_EQ(shoal_waiter_arm(&w, never, NULL), 0);
	CHECK_EQ(saturate(fd), 0);
	/* The counter is full: a blocking eventfd write would hang here. It
	 * must return at once and count as a wake-up. alarm() turns a hang
	 * into a failure. */
	alarm(10);
	CHECK_EQ(shoal_notify(&n), 1);
	/* The first notifier took the job of waking: no second write. */
	CHECK_EQ(shoal_notify(&n), 0);
	CHECK_EQ(shoal_waiter_arm(&w, never, NULL), 0);
	CHECK_EQ(shoal_notify(&n), 1);
	alarm(0);
	CHECK_EQ(shoal_notifier_wakeups(&n), 2);
	pfd = (struct pollfd){ .fd = shoal_waiter_fd(&w), .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	/* Disarm drains the counter, so the next wait sleeps again. */
	shoal_waiter_disarm(&w);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_EQ(shoal_wait(&w, never, NULL, 1000000), -ETIMEDOUT);
	close(fd);
	return TEST_PASS;
}

/*
 * A hostile process keeps the counter saturated while a sender streams
 * messages to a receiver that sleeps between them: every message arrives,
 * nobody hangs.
 */
static int test_stream_under_saturation(uint64_t count)
{
	struct shoal_channel_options o;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	_Atomic int *stop;
	pid_t rx_pid, evil_pid;
	int ok = 1;

	shoal_channel_options_init(&o);
	o.capacity = 16;
	o.slot_size = 8;
	o.strategy = SHOAL_WAIT_BLOCK;
	o.send_timeout_ns = 20LL * 1000000000;
	CHECK_EQ(shoal_channel_create(NULL, &o, &tx), 0);
	shoal_channel_get_fds(tx, &fds);
	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(stop != MAP_FAILED);

	evil_pid = fork();
	CHECK(evil_pid >= 0);
	if (evil_pid == 0) {
		while (!atomic_load(stop)) {
			saturate(fds.data_eventfd);
			saturate(fds.space_eventfd);
			usleep(100);
		}
		_exit(0);
	}
	rx_pid = fork();
	CHECK(rx_pid >= 0);
	if (rx_pid == 0) {
		struct shoal_channel *rx;

		if (shoal_channel_open_fds(&fds, &o, &rx))
			_exit(2);
		for (uint64_t i = 0; i < count; i++) {
			uint64_t v;

			if (shoal_channel_read(rx, &v, sizeof(v),
					       20LL * 1000000000) != 8 ||
			    v != i) {
				fprintf(stderr, "rx: message %llu wrong\n",
					(unsigned long long)i);
				_exit(1);
			}
		}
		_exit(0);
	}
	for (uint64_t i = 0; i < count && ok; i++)
		ok = shoal_channel_write(tx, &i, sizeof(i)) == 0;
	CHECK(test_wait_child(rx_pid, 250));
	atomic_store(stop, 1);
	CHECK(test_wait_child(evil_pid, 10));
	CHECK(ok);
	shoal_channel_destroy(tx);
	return TEST_PASS;
}

static uint64_t count;

static int test_stream(void)
{
	return test_stream_under_saturation(count);
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 100000);
	RUN(test_notify_does_not_block);
	RUN(test_stream);
	return test_result();
}
