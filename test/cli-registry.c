/* shoal-test: label=multiproc timeout=60 args=$<TARGET_FILE:shoal-tool> */
/*
 * The shoal tool's registry commands, run as a shell user would: list
 * (table and JSON), clean, --help, and exit codes. argv[1] is the tool.
 */
#include <signal.h>
#include <sys/mman.h>

#include "cli_util.h"
#include "registry_util.h"

static char path[PATH_MAX];

static int test_list_and_clean(void)
{
	struct shoal_registry *reg;
	struct test_service ts;
	static struct proc p;
	_Atomic int *ready;
	pid_t pid;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(strstr(p.out_buf, "NAME") != NULL);
	CHECK(strstr(p.out_buf, "cli/live") == NULL);

	CHECK_EQ(test_publish(reg, "cli/live", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(ready != MAP_FAILED);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct test_service mine;
		if (test_publish(reg, "cli/doomed", SHOAL_ACCESS_OWNER, 0,
				 &mine))
			_exit(1);
		atomic_store(ready, 1);
		for (;;)
			pause();
	}
	while (!atomic_load(ready))
		usleep(1000);

	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(strstr(p.out_buf, "cli/live") != NULL);
	CHECK(strstr(p.out_buf, "cli/doomed") != NULL);
	CHECK(strstr(p.out_buf, "channel") != NULL);
	CHECK_EQ(run(&p, "list", "--json", NULL), 0);
	CHECK(strstr(p.out_buf, "\"name\": \"cli/live\"") != NULL);
	CHECK(p.out_buf[0] == '[');

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(strstr(p.out_buf, "cli/doomed") == NULL);
	CHECK(strstr(p.out_buf, "cli/live") != NULL);
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(strstr(p.out_buf, "removed 1 stale entry") != NULL);
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(strstr(p.out_buf, "removed 0 stale entries") != NULL);
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_usage_and_errors(void)
{
	static struct proc p;

	CHECK_EQ(run(&p, NULL), 2);
	CHECK_EQ(run(&p, "frobnicate", NULL), 2);
	CHECK_EQ(run(&p, "list", "--bogus", NULL), 2);
	CHECK_EQ(run(&p, "--help", NULL), 0);
	CHECK(strstr(p.out_buf, "usage: shoal") != NULL);
	CHECK_EQ(run(&p, "list", "--help", NULL), 0);
	CHECK_EQ(run(&p, "clean", "--help", NULL), 0);
	/* A registry we may not trust: a clear failure, exit 1. */
	CHECK(chmod(path, 0777) == 0);
	CHECK_EQ(run(&p, "list", NULL), 1);
	CHECK(chmod(path, 0700) == 0);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int r = cli_test_start(argc, argv, path);

	if (r != TEST_PASS)
		return r;
	RUN(test_list_and_clean);
	RUN(test_usage_and_errors);
	return test_result();
}
