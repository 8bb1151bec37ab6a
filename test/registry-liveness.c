/* shoal-test: label=multiproc timeout=180 args=50 */
/*
 * Liveness without heartbeats. SIGKILL an owner: the opener's pidfd fires,
 * list stops showing the service, and a new owner can publish the name at
 * once, with a new epoch. Then argv[1] rounds (default 50) of an owner
 * killed while two cleaners run shoal_registry_clean() in a loop and a new
 * owner re-publishes the name: the live entry is never removed.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>

#include "harness.h"
#include "registry_util.h"

static char path[PATH_MAX];
static _Atomic int *flag;

/* Child: publish @name, raise the flag, then wait to be killed. */
static void owner(const char *name)
{
	struct shoal_registry *reg;
	struct test_service ts;

	/* A failing test returns early: die with it rather than linger. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (test_registry_open(path, &reg) ||
	    test_publish(reg, name, SHOAL_ACCESS_OWNER,
			 SHOAL_PUBLISH_SERVER_THREAD, &ts))
		_exit(1);
	atomic_store(flag, 1);
	for (;;)
		pause();
}

static pid_t start_owner(const char *name)
{
	pid_t pid;

	atomic_store(flag, 0);
	pid = fork();
	if (pid == 0)
		owner(name);
	while (pid > 0 && !atomic_load(flag)) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(200);
	}
	return pid;
}

static int count_cb(const struct shoal_service_info *info, void *user_data)
{
	(void)info;
	++*(int *)user_data;
	return 0;
}

static int test_sigkill_owner(void)
{
	struct shoal_registry *reg;
	struct shoal_service *svc, *svc2;
	struct shoal_service_info before, after;
	struct test_service ts;
	struct pollfd pfd;
	int n = 0;
	pid_t pid;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	pid = start_owner("robot/arm");
	CHECK(pid > 0);
	CHECK_EQ(shoal_registry_open(reg, "robot/arm", 0, &svc), 0);
	shoal_service_get_info(svc, &before);
	CHECK_EQ(before.pid, pid);
	CHECK_EQ(shoal_registry_list(reg, count_cb, &n), 1);

	pfd = (struct pollfd){ .fd = shoal_service_pidfd(svc),
			       .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	kill(pid, SIGKILL);
	/* The pidfd becomes readable when the owner dies. */
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	CHECK_EQ(shoal_service_alive(svc), 0);
	waitpid(pid, NULL, 0);

	/* Its file is still there, but it is stale: not listed, not opened. */
	n = 0;
	CHECK_EQ(shoal_registry_list(reg, count_cb, &n), 0);
	CHECK_EQ(shoal_registry_open(reg, "robot/arm", 0, &svc2), -ENOENT);
	/* The old mapping stays valid for whoever still holds it. */
	CHECK(strncmp(test_marker(svc), "owner ", 6) == 0);

	/* A new owner takes the name at once; the stale entry goes. */
	CHECK_EQ(test_publish(reg, "robot/arm", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	CHECK_EQ(shoal_registry_open(reg, "robot/arm", 0, &svc2), 0);
	shoal_service_get_info(svc2, &after);
	CHECK(after.epoch != before.epoch);
	CHECK_EQ(after.pid, getpid());
	shoal_service_close(svc2);
	shoal_service_close(svc);
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Child: clean until told to stop; exits 1 on an error. */
static void cleaner(void)
{
	struct shoal_registry *reg;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (test_registry_open(path, &reg))
		_exit(1);
	while (atomic_load(flag) != 3) {
		if (shoal_registry_clean(reg) < 0)
			_exit(1);
	}
	_exit(0);
}

static uint64_t rounds;

static int test_cleaners_never_remove_live(void)
{
	struct shoal_registry *reg;
	pid_t cleaners[2];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	for (uint64_t r = 0; r < rounds; r++) {
		struct test_service ts;
		struct shoal_service *svc;
		struct shoal_service_info info;
		pid_t pid = start_owner("race/name");
		int err;

		CHECK(pid > 0);
		atomic_store(flag, 2);
		for (int i = 0; i < 2; i++) {
			cleaners[i] = fork();
			CHECK(cleaners[i] >= 0);
			if (cleaners[i] == 0)
				cleaner();
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* Re-publish while the cleaners run: -EEXIST can only mean
		 * the dead owner's entry was not yet judged stale, which
		 * cannot happen: it is dead. So it must succeed. */
		err = test_publish(reg, "race/name", SHOAL_ACCESS_OWNER, 0,
				   &ts);
		CHECK_EQ(err, 0);
		/* Let the cleaners run over the live entry for a while. */
		for (int i = 0; i < 50; i++) {
			CHECK_EQ(shoal_registry_open(reg, "race/name", 0, &svc),
				 0);
			shoal_service_get_info(svc, &info);
			shoal_service_close(svc);
			CHECK_EQ(info.pid, getpid());
		}
		atomic_store(flag, 3);
		for (int i = 0; i < 2; i++)
			CHECK(test_wait_child(cleaners[i], 30));
		CHECK_EQ(shoal_registry_open(reg, "race/name", 0, &svc), 0);
		shoal_service_close(svc);
		test_unpublish(&ts);
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	rounds = test_arg_u64(argc, argv, 1, 50);
	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (flag == MAP_FAILED || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	RUN(test_sigkill_owner);
	RUN(test_cleaners_never_remove_live);
	return test_result();
}
