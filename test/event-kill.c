/* shoal-test: label=multiproc timeout=120 args=8 */
/*
 * Processes that die.
 *
 * The creator is SIGKILLed while a listener in another process waits, with
 * each wait strategy, at a random moment (argv[1] rounds per strategy,
 * default 8; argv[2] seeds the randomness, printed): the wait returns what
 * the creator notified before it died, then -EPIPE, never a hang (every
 * wait has a 20 s timeout, which fails the test); later notifies and
 * listens are -EPIPE too. The same through the pollable fd: it becomes
 * readable on the death.
 *
 * A listener is SIGKILLed while it sleeps in a wait: the kernel drops its
 * line's lock, so shoal_event_inspect() stops counting it and a new
 * listener takes its line although the service has only one; the dead
 * listener's interest is wiped (a notify of its id reaches nobody), the
 * new one starts with nothing pending and is reached by notifies; a notify
 * made between the death and the reuse writes the dead line's eventfd at
 * most once. Repeated, with no fd left behind in the surviving process.
 */
#include <limits.h>
#include <poll.h>
#include <shoal/event.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define WAIT_TIMEOUT (20 * PSU_SEC)

struct ctl {
	_Atomic int up;	       /* the creator is published */
	_Atomic int listening; /* the other side listens */
	_Atomic int notified;  /* the creator's last notify reached it */
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t rng;
static uint64_t rounds;

static uint64_t rnd(uint64_t n)
{
	rng = psu_mix(rng);
	return rng % n;
}

static int open_retry(struct shoal_registry *r, const char *name,
		      enum shoal_wait_strategy strategy,
		      struct shoal_event **ev)
{
	struct shoal_event_options o;
	int err;

	shoal_event_options_init(&o);
	o.registry = r;
	o.strategy = strategy;
	for (int i = 0;
	     (err = shoal_event_open(name, &o, ev)) == -ENOENT && i < 20000;
	     i++)
		usleep(500);
	return err;
}

/* Creator process: publishes, notifies id 1 if @notify, dies after
 * @delay_us. */
static int doomed_creator(const char *name, int notify, unsigned delay_us)
{
	struct shoal_registry *r;
	struct shoal_event_options o;
	struct shoal_event *ev;

	CHECK_EQ(test_registry_open(path, &r), 0);
	shoal_event_options_init(&o);
	o.registry = r;
	CHECK_EQ(shoal_event_create(name, &o, &ev), 0);
	atomic_store(&ctl->up, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->listening), 20));
	if (notify) {
		CHECK_EQ(shoal_event_notify(ev, 1), 1);
		atomic_store(&ctl->notified, 1);
	}
	usleep(delay_us);
	raise(SIGKILL);
	return TEST_FAIL;
}

static int killed_by_sigkill(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* One round: the creator dies while we wait (or poll, if @poll_fd). */
static int creator_round(int n, enum shoal_wait_strategy strategy, int notify,
			 int poll_fd)
{
	struct shoal_registry *r;
	struct shoal_event *ev;
	struct shoal_event_set s, fired;
	char name[64];
	unsigned delay = (unsigned)rnd(20000);
	int got;
	pid_t pid;

	snprintf(name, sizeof(name), "kill/creator-%d", n);
	memset(ctl, 0, sizeof(*ctl));
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(doomed_creator(name, notify, delay));
	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK_EQ(open_retry(r, name, strategy, &ev), 0);
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, 1);
	shoal_event_set_add(&s, 2);
	CHECK_EQ(shoal_event_listen(ev, &s), 0);
	atomic_store(&ctl->listening, 1);
	if (notify)
		CHECK(PSU_WAIT(atomic_load(&ctl->notified), 20));
	if (poll_fd) {
		struct pollfd pfd = { .fd = shoal_event_fd(ev),
				      .events = POLLIN };

		/* Loop: a notify before the death also makes it readable. */
		for (;;) {
			got = shoal_event_arm(ev);
			CHECK(got == 0 || got == 1);
			if (got == 0) {
				CHECK_EQ(poll(&pfd, 1, 20000), 1);
				shoal_event_disarm(ev);
			}
			got = shoal_event_wait(ev, NULL, 0, &fired);
			if (got == -EPIPE)
				break;
			CHECK(notify && got == 1);
			CHECK(shoal_event_set_has(&fired, 1));
			notify = 0; /* reported once */
		}
	} else {
		if (notify) {
			CHECK_EQ(shoal_event_wait(ev, NULL, WAIT_TIMEOUT,
						  &fired),
				 1);
			CHECK(shoal_event_set_has(&fired, 1));
		}
		CHECK_EQ(shoal_event_wait(ev, NULL, WAIT_TIMEOUT, &fired),
			 -EPIPE);
	}
	CHECK(killed_by_sigkill(pid));
	CHECK_EQ(shoal_event_wait(ev, NULL, WAIT_TIMEOUT, &fired), -EPIPE);
	CHECK_EQ(shoal_event_notify(ev, 2), -EPIPE);
	CHECK_EQ(shoal_event_listen(ev, &s), -EPIPE);
	shoal_event_close(ev);
	/* A dead creator's service cannot be opened. */
	{
		struct shoal_event_options o;

		shoal_event_options_init(&o);
		o.registry = r;
		CHECK_EQ(shoal_event_open(name, &o, &ev), -ENOENT);
	}
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int test_creator_killed(void)
{
	static const enum shoal_wait_strategy strategies[] = {
		SHOAL_WAIT_ADAPTIVE, SHOAL_WAIT_BLOCK, SHOAL_WAIT_BUSY_SPIN,
		SHOAL_WAIT_SPIN_YIELD
	};
	int n = 0;

	for (uint64_t i = 0; i < rounds; i++)
		for (int k = 0; k < 4; k++, n++)
			if (creator_round(n, strategies[k], (int)(i & 1), 0) !=
			    TEST_PASS) {
				fprintf(stderr, "round %d (strategy %d)\n", n,
					(int)strategies[k]);
				return TEST_FAIL;
			}
	for (uint64_t i = 0; i < rounds; i++, n++)
		if (creator_round(n, SHOAL_WAIT_ADAPTIVE, (int)(i & 1), 1) !=
		    TEST_PASS) {
			fprintf(stderr, "round %d (poll)\n", n);
			return TEST_FAIL;
		}
	return TEST_PASS;
}

/* Listener process: listens for id 5 and waits, in the kernel, forever. */
static int doomed_listener(const char *name)
{
	struct shoal_registry *r;
	struct shoal_event *ev;
	struct shoal_event_set s;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK_EQ(open_retry(r, name, SHOAL_WAIT_BLOCK, &ev), 0);
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, 5);
	CHECK_EQ(shoal_event_listen(ev, &s), 0);
	atomic_store(&ctl->listening, 1);
	for (;;)
		shoal_event_wait(ev, NULL, SHOAL_WAIT_FOREVER, NULL);
}

static int listener_round(struct shoal_registry *r, int n)
{
	struct shoal_event_options o;
	struct shoal_event *c, *q;
	struct shoal_event_set s, fired;
	struct shoal_event_stats st;
	struct shoal_event_info info;
	struct shoal_event_listener_info li;
	char name[64];
	pid_t pid;

	snprintf(name, sizeof(name), "kill/listener-%d", n);
	memset(ctl, 0, sizeof(*ctl));
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(doomed_listener(name));
	shoal_event_options_init(&o);
	o.registry = r;
	o.ids = 16;
	o.max_listeners = 1;
	CHECK_EQ(shoal_event_create(name, &o, &c), 0);
	CHECK_EQ(shoal_event_open(name, &o, &q), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->listening), 20));
	CHECK_EQ(shoal_event_inspect(r, name, &info, &li, 1), 1);
	CHECK_EQ(li.pid, pid);
	shoal_event_set_clear(&s);
	shoal_event_set_add(&s, 6);
	CHECK_EQ(shoal_event_listen(q, &s), -EBUSY);
	/* Wait until it sleeps, so that it dies asleep. */
	CHECK(PSU_WAIT(shoal_event_inspect(r, name, &info, &li, 1) == 1 &&
			       li.sleeps >= 1,
		       20));
	kill(pid, SIGKILL);
	CHECK(killed_by_sigkill(pid));
	CHECK_EQ(shoal_event_inspect(r, name, &info, &li, 1), 0);
	/* The dead line is still in id 5's row: it is signalled, and its
	 * sleeping flag costs one eventfd write, not one per notify. */
	CHECK_EQ(shoal_event_notify(c, 5), 1);
	CHECK_EQ(shoal_event_notify(c, 5), 1);
	shoal_event_get_stats(c, &st);
	CHECK(st.wakeups <= 1);
	/* Its line is reused, and starts clean. */
	CHECK_EQ(shoal_event_listen(q, &s), 0);
	shoal_event_get_stats(q, &st);
	CHECK_EQ(st.line, 0);
	CHECK_EQ(shoal_event_wait(q, NULL, 0, &fired), -EAGAIN);
	CHECK_EQ(shoal_event_notify(c, 5), 0);
	CHECK_EQ(shoal_event_notify(c, 6), 1);
	CHECK_EQ(shoal_event_wait(q, NULL, WAIT_TIMEOUT, &fired), 1);
	CHECK(shoal_event_set_has(&fired, 6));
	CHECK_EQ(shoal_event_inspect(r, name, &info, &li, 1), 1);
	CHECK_EQ(li.pid, getpid());
	shoal_event_close(q);
	shoal_event_destroy(c);
	return TEST_PASS;
}

static int test_listener_killed(void)
{
	struct shoal_registry *r;
	int fds;

	CHECK_EQ(test_registry_open(path, &r), 0);
	fds = test_count_fds();
	for (uint64_t i = 0; i < rounds; i++)
		if (listener_round(r, (int)i) != TEST_PASS) {
			fprintf(stderr, "round %d\n", (int)i);
			return TEST_FAIL;
		}
	CHECK_EQ(test_count_fds(), fds);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	rounds = test_arg_u64(argc, argv, 1, 8);
	rng = test_arg_u64(argc, argv, 2, (uint64_t)psu_now_ns());
	fprintf(stderr, "event-kill: %llu rounds, seed %llu\n",
		(unsigned long long)rounds, (unsigned long long)rng);
	psu_watchdog(110);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_creator_killed);
	RUN(test_listener_killed);
	test_remove_tree(top);
	return test_result();
}
