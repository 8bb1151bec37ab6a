/* shoal-test: label=multiproc timeout=120 args=$<TARGET_FILE:shoal-tool> */
/*
 * A clean is bounded while another process holds the directory's .lock
 * (any member of a group registry can): one deadline for the whole pass,
 * then no more waiting, and a report of what was skipped and why, which
 * `shoal clean` prints (exit status 1). Once the lock is free, the same
 * entries are removed. argv[1] is the tool.
 */
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

/* A clean waits for the held lock once (5 s): room for a busy machine. */
#define WAIT_S 60
#include "cli_util.h"
#include "registry_util.h"

#define STALE 11

static char path[PATH_MAX];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Publishes STALE services in a child that then dies without withdrawing. */
static int leave_stale_entries(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct shoal_registry *reg;
		struct test_service ts;
		char name[32];

		if (test_registry_open(path, &reg))
			_exit(1);
		for (int i = 0; i < STALE; i++) {
			snprintf(name, sizeof(name), "stale/%d", i);
			if (test_publish(reg, name, SHOAL_ACCESS_OWNER, 0, &ts))
				_exit(1);
		}
		_exit(0); /* no withdrawal: the entries stay, unlocked */
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* A process holding the directory's .lock until killed. */
static pid_t hold_dir_lock(void)
{
	_Atomic int *held = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char lock[PATH_MAX + 8];
	pid_t pid;

	if (held == MAP_FAILED)
		return -1;
	snprintf(lock, sizeof(lock), "%s/.lock", path);
	pid = fork();
	if (pid == 0) {
		int fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		atomic_store(held, 1);
		for (;;)
			pause();
	}
	while (pid > 0 && !atomic_load(held)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(1000);
	}
	munmap((void *)held, 4096);
	return pid;
}

static int test_clean_with_lock_held(void)
{
	struct shoal_clean_report rep;
	struct shoal_registry *reg;
	struct test_service live;
	static struct proc p;
	double t0, took;
	pid_t holder;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(test_publish(reg, "live", SHOAL_ACCESS_OWNER, 0, &live), 0);
	CHECK_EQ(leave_stale_entries(), 0);
	holder = hold_dir_lock();
	CHECK(holder > 0);

	/* The whole pass waits for the lock at most once (5 s); the old
	 * code waited 5 s per entry. The bound is generous on purpose. */
	t0 = now_s();
	memset(&rep, 0xff, sizeof(rep));
	CHECK_EQ(shoal_registry_clean_report(reg, &rep), 0);
	took = now_s() - t0;
	CHECK(took < 40.0);
	CHECK_EQ(rep.removed, 0);
	CHECK_EQ(rep.live, 1);
	CHECK_EQ(rep.kept, 0);
	CHECK_EQ(rep.skipped, STALE);
	CHECK_EQ(rep.skipped_lock, STALE);
	CHECK_EQ(rep.error, 0);
	CHECK_EQ(shoal_registry_clean(reg), 0);

	/* The tool says what it left and why, and fails. */
	CHECK_EQ(run(&p, "clean", NULL), 1);
	CHECK(printed(&p, "removed 0 stale entries"));
	CHECK(printed(&p, "skipped 11"));
	CHECK(printed(&p, ".lock"));

	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	CHECK_EQ(shoal_registry_clean_report(reg, &rep), STALE);
	CHECK_EQ(rep.removed, STALE);
	CHECK_EQ(rep.live, 1);
	CHECK_EQ(rep.skipped, 0);
	CHECK_EQ(rep.skipped_lock, 0);
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(printed(&p, "removed 0 stale entries"));
	CHECK(!printed(&p, "skipped"));

	test_unpublish(&live);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int r = cli_test_start(argc, argv, path);

	if (r != TEST_PASS)
		return r;
	RUN(test_clean_with_lock_held);
	return test_result();
}
