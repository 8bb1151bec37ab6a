/* shoal-test: label=multiproc timeout=120 */
/*
 * A client whose death no pidfd reports is dropped by the server's idle
 * sweep. The client process A opens a line and forks B, which inherits the
 * line's lock fd; A exits, so the pidfd the server watches fires while the
 * lock is still held, and the server stops watching it ("the sweeps will
 * see the lock go"). Then B exits: nothing wakes the server for it, and
 * only a sweep of every line's lock can free the line. A server waiting in
 * shoal_rpc_server_take() must do that by itself within a few sweep periods
 * (1 s each): stats.lost becomes 1 and the line can be claimed again.
 *
 * It never did: the sweep ran only when a wait step timed out after a
 * whole second, and the waiter's sleep slices (100 ms, notify.md) end
 * every step earlier, so the line stayed taken for good.
 */
#include <limits.h>
#include <sys/prctl.h>
#include <shoal/rpc.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MS (1000 * 1000LL)

struct ctl {
	_Atomic int server_up;
	_Atomic int opened;
	_Atomic int b_may_exit;
	_Atomic pid_t b_pid;
};

static char path[PATH_MAX];
static struct ctl *ctl;

/* A: opens a line, forks B (which keeps the lock), exits. */
static int client_a(void)
{
	struct shoal_rpc_client_options co;
	struct shoal_registry *reg;
	struct shoal_rpc_client *c;
	pid_t b;

	if (test_registry_open(path, &reg))
		return 1;
	shoal_rpc_client_options_init(&co);
	co.registry = reg;
	if (shoal_rpc_client_open("sweep/svc", &co, &c))
		return 1;
	b = fork();
	if (b < 0)
		return 1;
	if (b == 0) {
		/* B: holds the inherited lock until told, then goes. */
		while (!atomic_load(&ctl->b_may_exit))
			usleep(1000);
		_exit(0);
	}
	atomic_store(&ctl->b_pid, b);
	atomic_store(&ctl->opened, 1);
	return 0; /* exits without closing: its pidfd fires, lock held */
}

/* Takes for up to @rounds x 500 ms until @cond. */
#define TAKE_UNTIL(s, cond, rounds)                                         \
	do {                                                                \
		struct shoal_request req_;                                  \
		for (int r_ = 0; r_ < (rounds) && !(cond); r_++)            \
			CHECK_EQ(shoal_rpc_server_take(s, &req_, 500 * MS), \
				 -ETIMEDOUT);                               \
	} while (0)

static int test_idle_sweep_drops_unwatched_client(void)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_server_stats st;
	struct shoal_registry *reg;
	struct shoal_rpc_server *s;
	pid_t a, b;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = 1;
	CHECK_EQ(shoal_rpc_server_create("sweep/svc", &so, &s), 0);
	a = psu_fork();
	CHECK(a >= 0);
	if (a == 0)
		_exit(client_a());
	CHECK(test_wait_child(a, 60));
	CHECK_EQ(atomic_load(&ctl->opened), 1);
	b = atomic_load(&ctl->b_pid);
	/* The server sees A's pidfd fire, finds the lock held (B) and
	 * stops watching; nothing is lost yet. */
	TAKE_UNTIL(s, 0, 3);
	shoal_rpc_server_get_stats(s, &st);
	CHECK_EQ(st.joined, 1);
	CHECK_EQ(st.lost, 0);
	/* B goes: no pidfd tells the server. */
	atomic_store(&ctl->b_may_exit, 1);
	CHECK(test_wait_child(b, 60)); /* ours: we are A's subreaper */
	TAKE_UNTIL(s, (shoal_rpc_server_get_stats(s, &st), st.lost == 1), 120);
	shoal_rpc_server_get_stats(s, &st);
	CHECK_EQ(st.lost, 1);
	shoal_rpc_server_destroy(s);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(110);
	/* B, orphaned when A exits, becomes our child to reap. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_idle_sweep_drops_unwatched_client);
	test_remove_tree(top);
	return test_result();
}
