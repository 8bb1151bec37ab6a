/* shoal-test: label=unit timeout=60 */
/*
 * Wait strategies in one process: bad arguments, timeouts for every
 * strategy, readiness before and during a wait, and the arm/disarm protocol
 * used by event loops.
 */
#include <poll.h>
#include <pthread.h>
#include <shoal.h>
#include <stdatomic.h>

#include "harness.h"

static _Alignas(64) unsigned char word[SHOAL_NOTIFY_WORD_SIZE];
static _Atomic int flag;

static int flag_set(void *user_data)
{
	(void)user_data;
	return atomic_load_explicit(&flag, memory_order_acquire);
}

static int test_bad_arguments(void)
{
	_Alignas(64) unsigned char raw[128] = { 0 };
	struct shoal_waiter w;
	struct shoal_notifier n;
	int fd = shoal_eventfd_create();

	CHECK(fd >= 0);
	CHECK_EQ(shoal_notify_format(raw + 8), -EINVAL);
	/* An unformatted word is refused, not trusted. */
	CHECK_EQ(shoal_waiter_init(&w, raw, fd, SHOAL_WAIT_BLOCK), -EBADMSG);
	CHECK_EQ(shoal_notifier_init(&n, raw, fd), -EBADMSG);
	CHECK_EQ(shoal_notify_format(raw), 0);
	CHECK_EQ(shoal_waiter_init(&w, raw, -1, SHOAL_WAIT_BLOCK), -EINVAL);
	CHECK_EQ(shoal_waiter_init(&w, raw, fd, (enum shoal_wait_strategy)99),
		 -EINVAL);
	CHECK_EQ(shoal_waiter_init(&w, raw, fd, (enum shoal_wait_strategy)0),
		 0);
	CHECK_EQ(shoal_waiter_fd(&w), fd);
	close(fd);
	return TEST_PASS;
}

static int test_timeouts_every_strategy(void)
{
	int fd = shoal_eventfd_create();

	CHECK(fd >= 0);
	CHECK_EQ(shoal_notify_format(word), 0);
	atomic_store(&flag, 0);
	for (int s = SHOAL_WAIT_BUSY_SPIN; s <= SHOAL_WAIT_BLOCK; s++) {
		struct shoal_waiter w;

		CHECK_EQ(shoal_waiter_init(&w, word, fd,
					   (enum shoal_wait_strategy)s),
			 0);
		CHECK_EQ(shoal_wait(&w, flag_set, NULL, 0), -ETIMEDOUT);
		CHECK_EQ(shoal_wait(&w, flag_set, NULL, 2000000), -ETIMEDOUT);
		atomic_store(&flag, 1);
		CHECK_EQ(shoal_wait(&w, flag_set, NULL, 0), 0);
		CHECK_EQ(shoal_wait(&w, flag_set, NULL, SHOAL_WAIT_FOREVER), 0);
		atomic_store(&flag, 0);
	}
	close(fd);
	return TEST_PASS;
}

struct setter {
	struct shoal_notifier n;
};

static void *set_later(void *arg)
{
	struct setter *s = arg;

	usleep(20000);
	atomic_store_explicit(&flag, 1, memory_order_release);
	shoal_notify(&s->n);
	return NULL;
}

static int test_wakes_when_notified(void)
{
	int fd = shoal_eventfd_create();

	CHECK(fd >= 0);
	for (int s = SHOAL_WAIT_BUSY_SPIN; s <= SHOAL_WAIT_BLOCK; s++) {
		struct shoal_waiter w;
		struct setter st;
		pthread_t t;

		CHECK_EQ(shoal_notify_format(word), 0);
		atomic_store(&flag, 0);
		CHECK_EQ(shoal_waiter_init(&w, word, fd,
					   (enum shoal_wait_strategy)s),
			 0);
		CHECK_EQ(shoal_notifier_init(&st.n, word, fd), 0);
		CHECK(pthread_create(&t, NULL, set_later, &st) == 0);
		CHECK_EQ(shoal_wait(&w, flag_set, NULL, 10LL * 1000000000), 0);
		CHECK(pthread_join(t, NULL) == 0);
		/* Only a sleeper gets an eventfd write. */
		if (s == SHOAL_WAIT_BLOCK) {
			CHECK_EQ(shoal_notifier_wakeups(&st.n), 1);
			CHECK(shoal_waiter_sleeps(&w) >= 1);
		}
		if (s == SHOAL_WAIT_BUSY_SPIN) {
			CHECK_EQ(shoal_notifier_wakeups(&st.n), 0);
			CHECK_EQ(shoal_waiter_sleeps(&w), 0);
		}
	}
	close(fd);
	return TEST_PASS;
}

static int test_arm_disarm_with_poll(void)
{
	struct shoal_waiter w;
	struct shoal_notifier n;
	struct pollfd pfd;
	int fd = shoal_eventfd_create();

	CHECK(fd >= 0);
	CHECK_EQ(shoal_notify_format(word), 0);
	CHECK_EQ(shoal_waiter_init(&w, word, fd, SHOAL_WAIT_BLOCK), 0);
	CHECK_EQ(shoal_notifier_init(&n, word, fd), 0);
	pfd = (struct pollfd){ .fd = shoal_waiter_fd(&w), .events = POLLIN };

	/* Already ready: arm says so and the caller must not poll. */
	atomic_store(&flag, 1);
	CHECK_EQ(shoal_waiter_arm(&w, flag_set, NULL), 1);
	CHECK_EQ(shoal_notify(&n), 0);

	/* Not ready: armed, a notify makes the fd readable. */
	atomic_store(&flag, 0);
	CHECK_EQ(shoal_waiter_arm(&w, flag_set, NULL), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	atomic_store(&flag, 1);
	CHECK_EQ(shoal_notify(&n), 1);
	CHECK_EQ(poll(&pfd, 1, 1000), 1);
	shoal_waiter_disarm(&w);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	/* Disarmed: notifiers stay out of the kernel again. */
	CHECK_EQ(shoal_notify(&n), 0);
	close(fd);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_bad_arguments);
	RUN(test_timeouts_every_strategy);
	RUN(test_wakes_when_notified);
	RUN(test_arm_disarm_with_poll);
	return test_result();
}
