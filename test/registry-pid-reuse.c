/* shoal-test: label=multiproc timeout=120 */
/*
 * One liveness rule for every path. An entry whose lock is held but whose
 * publishing process is gone (its pid now runs another process) is stale
 * for open, list and clean alike:
 *
 * - forged: a locked descriptor naming this very process's pid with another
 *   start time (a live pid that is not the owner);
 * - real: in a private PID namespace (root; skipped otherwise) an owner
 *   publishes, forks a child that inherits the descriptor and its lock, and
 *   is SIGKILLed; ns_last_pid then makes the next fork get the owner's pid.
 *   Open, list and clean must all call the entry stale, and clean must
 *   remove it.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "registry_util.h"
#include "ns_util.h"

#include "registry/registry_internal.h"

static char path[PATH_MAX];

static int count_cb(const struct shoal_service_info *info, void *user_data)
{
	(void)info;
	++*(int *)user_data;
	return 0;
}

static int listed(struct shoal_registry *reg)
{
	int n = 0;

	return shoal_registry_list(reg, count_cb, &n) < 0 ? -1 : n;
}

/* A locked descriptor of a live pid that is not its owner (start differs). */
static int test_forged_foreign_pid(void)
{
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 64 };
	struct shoal__descriptor d;
	struct shoal_segment *seg;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	struct stat st;
	char proc[64];
	int fd;

	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal_segment_create(&obj, 1, NULL, &seg), 0);
	shoal_segment_ready(seg);
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "forged");
	d.epoch = shoal_segment_epoch(seg);
	d.owner_pid = getpid();
	d.owner_start = shoal__proc_start_time(getpid()) + 12345;
	d.owner_uid = geteuid();
	d.owner_gid = getegid();
	d.pattern = SHOAL_PATTERN_CHANNEL;
	d.memfd = shoal_segment_fd(seg);
	d.memfd_size = shoal_segment_size(seg);
	shoal__descriptor_seal(&d);
	fd = openat(shoal__registry_dirfd(reg), ".", O_TMPFILE | O_RDWR, 0600);
	CHECK(fd >= 0);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	CHECK_EQ(write(fd, &d, sizeof(d)), sizeof(d));
	CHECK_EQ(fcntl(fd, F_OFD_SETLK, &fl), 0);
	CHECK_EQ(linkat(AT_FDCWD, proc, shoal__registry_dirfd(reg), "forged",
			AT_SYMLINK_FOLLOW),
		 0);

	CHECK_EQ(shoal_registry_open(reg, "forged", 0, &svc), -ENOENT);
	CHECK_EQ(listed(reg), 0);
	CHECK_EQ(shoal_registry_clean(reg), 1);
	CHECK(fstatat(shoal__registry_dirfd(reg), "forged", &st, 0) < 0);

	close(fd);
	shoal_segment_destroy(seg);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The owner, pid 2 of the namespace: publish, fork a lock holder, wait. */
static void owner(int ready)
{
	struct shoal_registry *reg;
	struct test_service ts;
	pid_t holder;
	char c = 'r';

	if (test_registry_open(path, &reg) ||
	    test_publish(reg, "svc", SHOAL_ACCESS_OWNER, 0, &ts))
		_exit(1);
	/* The child inherits the descriptor fd, and with it the lock. */
	holder = fork();
	if (holder < 0)
		_exit(1);
	if (holder == 0) {
		for (;;)
			pause();
	}
	if (write(ready, &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* pid 1 of the namespace, with its own /proc; exit status is the test's. */
static int ns_init(void *arg)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	int pipefd[2], status;
	char c, buf[32];
	pid_t own, again;
	uint64_t start;

	(void)arg;
	CHECK_EQ(pipe(pipefd), 0);
	own = fork();
	CHECK(own >= 0);
	if (own == 0) {
		close(pipefd[0]);
		owner(pipefd[1]);
	}
	close(pipefd[1]);
	CHECK_EQ(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(listed(reg), 1);
	start = shoal__proc_start_time(own);
	CHECK(start != 0);

	CHECK_EQ(kill(own, SIGKILL), 0);
	CHECK_EQ(waitpid(own, &status, 0), own);
	/* The lock lives on in the holder; the pid goes to a stranger. A
	 * start time counts clock ticks: a stranger started in the owner's
	 * tick is indistinguishable by it, so retry until the tick moved on
	 * (the registry.md section on liveness says so). */
	for (int tries = 0;; tries++) {
		snprintf(buf, sizeof(buf), "%d", (int)own - 1);
		if (test_write_file("/proc/sys/kernel/ns_last_pid", buf))
			return TEST_SKIP;
		again = fork();
		CHECK(again >= 0);
		if (again == 0) {
			for (;;)
				pause();
		}
		if (again == own && shoal__proc_start_time(again) != start)
			break;
		/* Not the owner's pid (a thread of this process took it
		 * first: ThreadSanitizer's runtime starts one, and threads
		 * draw from the same pid space), or the same clock tick:
		 * give it back and try again, a bounded number of times. */
		kill(again, SIGKILL);
		CHECK_EQ(waitpid(again, &status, 0), again);
		if (again != own && tries >= 100) {
			fprintf(stderr, "pid %d stays taken: cannot reuse it\n",
				(int)own);
			return TEST_SKIP;
		}
		usleep(1000);
	}

	CHECK_EQ(shoal_registry_open(reg, "svc", 0, &svc), -ENOENT);
	CHECK_EQ(listed(reg), 0);
	CHECK_EQ(shoal_registry_clean(reg), 1);
	CHECK_EQ(listed(reg), 0);
	shoal_registry_destroy(reg);
	kill(again, SIGKILL);
	return TEST_PASS; /* the holder dies with the namespace's init */
}

static int test_real_pid_reuse(void)
{
	pid_t child;
	int status;

	if (geteuid() != 0)
		return TEST_SKIP;
	child = test_ns_spawn(CLONE_NEWPID, ns_init, NULL, NULL);
	CHECK(child >= 0);
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == TEST_SKIP)
		return TEST_SKIP;
	CHECK_EQ(WEXITSTATUS(status), TEST_PASS);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_forged_foreign_pid);
	RUN(test_real_pid_reuse);
	return test_result();
}
