/* shoal-test: label=multiproc timeout=900 args=1000000 */
/*
 * argv[1] (default 10^6) blocking round trips between two processes using
 * the notify layer alone: each side bumps a shared counter, notifies the
 * other, and sleeps in its eventfd (SHOAL_WAIT_BLOCK) until the counter
 * comes back. A single lost wake-up leaves both sides asleep forever, so the
 * watchdog (test_wait_child) turns it into a failure instead of a hang.
 */
#include <shoal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "harness.h"

struct shared {
	_Alignas(64) unsigned char word_a[SHOAL_NOTIFY_WORD_SIZE];
	_Alignas(64) unsigned char word_b[SHOAL_NOTIFY_WORD_SIZE];
	_Alignas(64) _Atomic uint64_t turn; /* odd: B's turn, even: A's */
};

struct side {
	struct shared *sh;
	uint64_t want;
};

static int my_turn(void *user_data)
{
	struct side *s = user_data;

	return atomic_load_explicit(&s->sh->turn, memory_order_acquire) ==
	       s->want;
}

/* Plays one side: waits for @first, then every other turn up to 2*count. */
static int play(struct shared *sh, void *my_word, int my_fd, void *peer_word,
		int peer_fd, uint64_t first, uint64_t count,
		enum shoal_wait_strategy strategy, uint64_t *sleeps)
{
	struct shoal_waiter w;
	struct shoal_notifier n;
	struct side s = { sh, first };

	if (shoal_waiter_init(&w, my_word, my_fd, strategy) ||
	    shoal_notifier_init(&n, peer_word, peer_fd))
		return -1;
	for (uint64_t i = 0; i < count; i++) {
		int r = shoal_wait(&w, my_turn, &s, 20LL * 1000000000);

		if (r) {
			fprintf(stderr, "side %llu: wait %d at %llu: %s\n",
				(unsigned long long)first, r,
				(unsigned long long)i, shoal_last_error());
			return -1;
		}
		atomic_store_explicit(&sh->turn, s.want + 1,
				      memory_order_release);
		if (shoal_notify(&n) < 0)
			return -1;
		s.want += 2;
	}
	*sleeps = shoal_waiter_sleeps(&w);
	return 0;
}

static uint64_t count;

static int round_trips(enum shoal_wait_strategy strategy, uint64_t n)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int fd_a = shoal_eventfd_create(), fd_b = shoal_eventfd_create();
	uint64_t sleeps = 0;
	pid_t pid;
	int ok;

	CHECK(sh != MAP_FAILED && fd_a >= 0 && fd_b >= 0);
	CHECK_EQ(shoal_notify_format(sh->word_a), 0);
	CHECK_EQ(shoal_notify_format(sh->word_b), 0);
	atomic_store(&sh->turn, 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(play(sh, sh->word_b, fd_b, sh->word_a, fd_a, 1, n,
			   strategy, &sleeps) ?
			      1 :
			      0);
	ok = play(sh, sh->word_a, fd_a, sh->word_b, fd_b, 0, n, strategy,
		  &sleeps) == 0;
	CHECK(test_wait_child(pid, 800));
	CHECK(ok);
	CHECK_EQ(atomic_load(&sh->turn), 2 * n);
	/* Blocking waits really went through the kernel. */
	if (strategy == SHOAL_WAIT_BLOCK)
		CHECK(sleeps > 0);
	munmap(sh, sizeof(*sh));
	close(fd_a);
	close(fd_b);
	return TEST_PASS;
}

static int test_block(void)
{
	return round_trips(SHOAL_WAIT_BLOCK, count);
}

static int test_adaptive(void)
{
	return round_trips(SHOAL_WAIT_ADAPTIVE, count / 10 + 1);
}

static int test_spin_yield(void)
{
	return round_trips(SHOAL_WAIT_SPIN_YIELD, count / 10 + 1);
}

static int test_busy_spin(void)
{
	return round_trips(SHOAL_WAIT_BUSY_SPIN, count / 10 + 1);
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 1000000);
	RUN(test_block);
	RUN(test_adaptive);
	RUN(test_spin_yield);
	RUN(test_busy_spin);
	return test_result();
}
