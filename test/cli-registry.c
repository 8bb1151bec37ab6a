/* shoal-test: label=multiproc timeout=60 args=$<TARGET_FILE:shoal-tool> */
/*
 * The shoal tool's registry commands, run as a shell user would: list
 * (table and JSON), clean, --help, and exit codes. argv[1] is the tool.
 */
#include <signal.h>
#include <sys/mman.h>

#include "harness.h"
#include "registry_util.h"

static const char *tool;
static char path[PATH_MAX];

/* Runs "tool @args", captures stdout into @out; returns the exit status. */
static int run(const char *args, char *out, size_t cap)
{
	char cmd[PATH_MAX + 256];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>/dev/null", tool, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n + 1 < cap && !feof(p)) {
		size_t k = fread(out + n, 1, cap - 1 - n, p);
		if (k == 0)
			break;
		n += k;
	}
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int test_list_and_clean(void)
{
	struct shoal_registry *reg;
	struct test_service ts;
	char out[8192];
	_Atomic int *ready;
	pid_t pid;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(run("list", out, sizeof(out)), 0);
	CHECK(strstr(out, "NAME") != NULL);
	CHECK(strstr(out, "cli/live") == NULL);

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

	CHECK_EQ(run("list", out, sizeof(out)), 0);
	CHECK(strstr(out, "cli/live") != NULL);
	CHECK(strstr(out, "cli/doomed") != NULL);
	CHECK(strstr(out, "channel") != NULL);
	CHECK_EQ(run("list --json", out, sizeof(out)), 0);
	CHECK(strstr(out, "\"name\": \"cli/live\"") != NULL);
	CHECK(out[0] == '[');

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_EQ(run("list", out, sizeof(out)), 0);
	CHECK(strstr(out, "cli/doomed") == NULL);
	CHECK(strstr(out, "cli/live") != NULL);
	CHECK_EQ(run("clean", out, sizeof(out)), 0);
	CHECK(strstr(out, "removed 1 stale entry") != NULL);
	CHECK_EQ(run("clean", out, sizeof(out)), 0);
	CHECK(strstr(out, "removed 0 stale entries") != NULL);
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_usage_and_errors(void)
{
	char out[4096];

	CHECK_EQ(run("", out, sizeof(out)), 2);
	CHECK_EQ(run("frobnicate", out, sizeof(out)), 2);
	CHECK_EQ(run("list --bogus", out, sizeof(out)), 2);
	CHECK_EQ(run("--help", out, sizeof(out)), 0);
	CHECK(strstr(out, "usage: shoal") != NULL);
	CHECK_EQ(run("list --help", out, sizeof(out)), 0);
	CHECK_EQ(run("clean --help", out, sizeof(out)), 0);
	/* A registry we may not trust: a clear failure, exit 1. */
	CHECK(chmod(path, 0777) == 0);
	CHECK_EQ(run("list", out, sizeof(out)), 1);
	CHECK(chmod(path, 0700) == 0);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return TEST_SKIP;
	tool = argv[1];
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	setenv("SHOAL_DIR", path, 1);
	RUN(test_list_and_clean);
	RUN(test_usage_and_errors);
	return test_result();
}
