/* shoal-test: label=multiproc timeout=120 */
/*
 * The two-process channel: roles, bad input, timeouts, zero copy, and a
 * receiver in another process that waits through poll() on the channel fd.
 */
#include <fcntl.h>
#include <poll.h>
#include <shoal.h>

#include "harness.h"

static int test_bad_options_and_roles(void)
{
	struct shoal_channel_options o;
	struct shoal_channel *ch;
	struct shoal_channel_fds fds;
	char buf[16];
	struct shoal_msg msg = { 0 };
	void *slot;

	shoal_channel_options_init(&o);
	CHECK_EQ(o.capacity, 1024);
	CHECK_EQ(o.strategy, SHOAL_WAIT_ADAPTIVE);
	CHECK_EQ(o.role, SHOAL_CHANNEL_SEND);
	CHECK_EQ(o.send_timeout_ns, SHOAL_WAIT_FOREVER);
	o.capacity = 1000;
	CHECK_EQ(shoal_channel_create(NULL, &o, &ch), -EINVAL);
	CHECK(strstr(shoal_last_error(), "power of two") != NULL);
	o.capacity = 8;
	o.slot_size = 0;
	CHECK_EQ(shoal_channel_create(NULL, &o, &ch), -EINVAL);
	o.slot_size = 16;
	o.role = (enum shoal_channel_role)3;
	CHECK_EQ(shoal_channel_create(NULL, &o, &ch), -EINVAL);
	o.role = SHOAL_CHANNEL_SEND;
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_channel_create(NULL, &o, &ch), 0);
	/* A sender cannot receive. */
	CHECK_EQ(shoal_channel_read(ch, buf, sizeof(buf), 0), -EBADF);
	CHECK_EQ(shoal_channel_take(ch, &msg, 0), -EBADF);
	CHECK_EQ(shoal_channel_release(ch, &msg), -EBADF);
	CHECK(shoal_channel_consumer(ch) == NULL);
	CHECK(shoal_channel_producer(ch) != NULL);
	CHECK_EQ(shoal_channel_write(ch, buf, 17), -EMSGSIZE);
	CHECK_EQ(shoal_channel_loan(ch, 17, &slot), -EMSGSIZE);
	/* Loan, abort, a second loan refused, a foreign pointer refused. */
	CHECK_EQ(shoal_channel_loan(ch, 16, &slot), 0);
	CHECK_EQ(shoal_channel_loan(ch, 16, &slot), -EBUSY);
	CHECK_EQ(shoal_channel_send(ch, buf, 16), -EINVAL);
	CHECK_EQ(shoal_channel_abort(ch, slot), 0);
	CHECK_EQ(shoal_channel_abort(ch, slot), -EINVAL);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(shoal_channel_write(ch, buf, 16), 0);
	/* Full: send_timeout_ns 0 fails at once (no receiver yet: not
	 * -EPIPE, it may still come). */
	CHECK_EQ(shoal_channel_write(ch, buf, 16), -EAGAIN);
	CHECK_EQ(shoal_channel_loan(ch, 16, &slot), -EAGAIN);
	{
		struct shoal_channel_stats st;

		shoal_channel_get_stats(ch, &st);
		CHECK_EQ(st.messages, 8);
		CHECK_EQ(st.capacity, 8);
		CHECK_EQ(st.slot_size, 16);
		CHECK_EQ(st.role, SHOAL_CHANNEL_SEND);
		CHECK_EQ(st.peer, 0);
	}
	shoal_channel_get_fds(ch, &fds);

	/* Opening with fds of the wrong kind is refused. */
	{
		struct shoal_channel *peer;
		struct shoal_channel_fds bad = fds;
		int p[2];

		CHECK(pipe(p) == 0);
		bad.data_eventfd = p[0];
		CHECK_EQ(shoal_channel_open_fds(&bad, NULL, &peer), -EINVAL);
		bad = fds;
		bad.memfd = p[0];
		CHECK_EQ(shoal_channel_open_fds(&bad, NULL, &peer), -ENOTSUP);
		bad = fds;
		bad.memfd = fds.data_eventfd;
		CHECK(shoal_channel_open_fds(&bad, NULL, &peer) < 0);
		close(p[0]);
		close(p[1]);
	}
	shoal_channel_destroy(ch);
	shoal_channel_destroy(NULL);
	shoal_channel_close(NULL);
	return TEST_PASS;
}

static int test_segment_without_channel_objects(void)
{
	struct shoal_object_spec spec = { "other", SHOAL_OBJECT_BYTES, 0, 64 };
	struct shoal_segment *seg;
	struct shoal_channel *ch;
	struct shoal_channel_fds fds;

	CHECK_EQ(shoal_segment_create(&spec, 1, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	fds.memfd = shoal_segment_fd(seg);
	fds.data_eventfd = shoal_eventfd_create();
	fds.space_eventfd = shoal_eventfd_create();
	CHECK(shoal_channel_open_fds(&fds, NULL, &ch) < 0);
	close(fds.data_eventfd);
	close(fds.space_eventfd);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/*
 * Child: receives @n messages the way an event loop would: try, and when
 * nothing is there, arm, poll the channel fd, disarm, try again.
 */
static int poll_receiver(const struct shoal_channel_fds *fds, uint64_t n)
{
	struct shoal_channel *rx;
	uint64_t got = 0, polls = 0;

	if (shoal_channel_open_fds(fds, NULL, &rx))
		return 1;
	while (got < n) {
		struct shoal_msg msg;
		int r = shoal_channel_take(rx, &msg, 0);

		if (r == -EAGAIN) {
			struct pollfd pfd = { .fd = shoal_channel_fd(rx),
					      .events = POLLIN };

			if (shoal_channel_arm(rx) == 0) {
				/* A lost wake-up would time out here. */
				if (poll(&pfd, 1, 5000) != 1)
					return 2;
				polls++;
			}
			shoal_channel_disarm(rx);
			continue;
		}
		if (r)
			return 3;
		if (msg.len != 8 || memcmp(msg.data, &got, 8))
			return 4;
		got++;
		if (shoal_channel_release(rx, &msg))
			return 5;
	}
	shoal_channel_close(rx);
	/* The sender pauses every 1000 messages, so we must have polled. */
	return polls > 0 ? 0 : 6;
}

static int test_two_processes_zero_copy(void)
{
	struct shoal_channel_options o;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	const uint64_t n = 20000;
	pid_t pid;

	shoal_channel_options_init(&o);
	o.capacity = 64;
	o.slot_size = 8;
	o.start_pos = UINT64_MAX - 10;
	o.send_timeout_ns = 5LL * 1000000000;
	CHECK_EQ(shoal_channel_create(NULL, &o, &tx), 0);
	shoal_channel_get_fds(tx, &fds);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(poll_receiver(&fds, n));
	for (uint64_t i = 0; i < n; i++) {
		void *slot;

		CHECK_EQ(shoal_channel_loan(tx, 8, &slot), 0);
		memcpy(slot, &i, 8);
		CHECK_EQ(shoal_channel_send(tx, slot, 8), 0);
		if (i % 1000 == 0)
			usleep(1000); /* let the receiver fall asleep */
	}
	CHECK(test_wait_child(pid, 100));
	shoal_channel_destroy(tx);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_bad_options_and_roles);
	RUN(test_segment_without_channel_objects);
	RUN(test_two_processes_zero_copy);
	return test_result();
}
