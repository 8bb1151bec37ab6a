/* shoal-test: label=multiproc timeout=120 args=$<TARGET_FILE:shoal-tool> */
/*
 * The shoal tool's registry commands, run as a shell user would: list
 * (table and JSON, sorted by name, saying how many stale entries it hides
 * and that clean removes them), a mirror's origin in list and info (table
 * and JSON), clean, --help, --version, and exit codes;
 * a missing SHOAL_DIR that list, info and clean do not create; a
 * symlinked SHOAL_DIR (followed when ours or root's, refused when a
 * stranger owns the link); bench with a registry it cannot open (one
 * error). argv[1] is the tool.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

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

	CHECK(strstr(p.err_buf, "not shown") == NULL);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(strstr(p.out_buf, "cli/doomed") == NULL);
	CHECK(strstr(p.out_buf, "cli/live") != NULL);
	/* It says what it hid, on stderr: stdout stays the table. */
	CHECK(has(p.err_buf, "shoal: list: 1 stale entry not shown (owner "
			     "dead); 'shoal clean' removes it\n"));
	CHECK(strstr(p.out_buf, "stale") == NULL);
	CHECK_EQ(run(&p, "list", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.err_buf, "1 stale entry not shown"));
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(strstr(p.out_buf, "removed 1 stale entry") != NULL);
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(strstr(p.out_buf, "removed 0 stale entries") != NULL);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(strstr(p.err_buf, "not shown") == NULL);
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

/* list is sorted by name, in the table and in JSON, whatever the order
 * of publication (and of the directory). */
static int test_list_sorted(void)
{
	static const char *const order[] = { "s/b", "s/a/z", "s/c",
					     "s/a", "s/B",   "s/a/b" };
	static const char *const sorted[] = { "s/B",   "s/a", "s/a/b",
					      "s/a/z", "s/b", "s/c" };
	struct test_service ts[6];
	struct shoal_registry *reg;
	static struct proc p;
	const char *prev;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(test_publish(reg, order[i], SHOAL_ACCESS_OWNER, 0,
				      &ts[i]),
			 0);
	for (int json = 0; json < 2; json++) {
		CHECK_EQ(run(&p, "list", json ? "--json" : NULL, NULL), 0);
		prev = p.out_buf;
		for (int i = 0; i < 6; i++) {
			char want[64];
			const char *at;

			snprintf(want, sizeof(want),
				 json ? "\"name\": \"%s\"" : "\n%s ",
				 sorted[i]);
			at = strstr(p.out_buf, want);
			CHECK(at != NULL);
			if (at < prev) {
				fprintf(stderr, "'%s' out of order:\n%s\n",
					sorted[i], p.out_buf);
				return TEST_FAIL;
			}
			prev = at;
		}
	}
	for (int i = 0; i < 6; i++)
		test_unpublish(&ts[i]);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* A service that says where it comes from (a gateway's mirror): list ends
 * its line with "via ORIGIN" after the usual columns, JSON has "origin"
 * ("" for a local one), info prints an origin line and key. */
static int test_origin(void)
{
	static const char origin[] = "nats://127.0.0.1:4222 shoal host-a m/x";
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 4096 };
	struct shoal_service_spec spec;
	struct shoal_registry *reg;
	struct shoal_segment *seg;
	struct shoal_entry *entry;
	struct test_service local;
	static struct proc p;
	char want[256];
	int efd;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(test_publish(reg, "m/local", SHOAL_ACCESS_OWNER, 0, &local),
		 0);
	CHECK_EQ(shoal_segment_create(&obj, 1, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	efd = shoal_eventfd_create();
	CHECK(efd >= 0);
	memset(&spec, 0, sizeof(spec));
	spec.name = "m/x";
	spec.pattern = SHOAL_PATTERN_PUBSUB + 1024; /* no inspection */
	spec.memfd = shoal_segment_fd(seg);
	spec.eventfd_count = 1;
	spec.eventfds = &efd;
	spec.origin = origin;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &entry), 0);

	CHECK_EQ(run(&p, "list", NULL), 0);
	snprintf(want, sizeof(want), "s  via %s\n", origin);
	CHECK(has(p.out_buf, want));
	CHECK(has(p.out_buf, "\nm/x "));
	/* A local service's line ends at its age, as before. */
	{
		const char *l = strstr(p.out_buf, "\nm/local ");
		const char *end = l ? strchr(l + 1, '\n') : NULL;

		CHECK(end != NULL);
		CHECK(end[-1] == 's');
		CHECK(memmem(l, (size_t)(end - l), "via", 3) == NULL);
	}
	CHECK_EQ(run(&p, "list", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	snprintf(want, sizeof(want), "\"origin\": \"%s\"", origin);
	CHECK(has(p.out_buf, want));
	CHECK(has(p.out_buf, "\"origin\": \"\""));

	CHECK_EQ(run(&p, "info", "m/x", NULL), 0);
	snprintf(want, sizeof(want), "\norigin:             %s\n", origin);
	CHECK(has(p.out_buf, want));
	CHECK_EQ(run(&p, "info", "m/x", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	snprintf(want, sizeof(want), "\"origin\": \"%s\"", origin);
	CHECK(has(p.out_buf, want));
	CHECK_EQ(run(&p, "info", "m/local", NULL), 0);
	CHECK(has(p.out_buf, "\norigin:             (local)\n"));
	CHECK_EQ(run(&p, "info", "m/local", "--json", NULL), 0);
	CHECK(has(p.out_buf, "\"origin\": \"\""));

	shoal_entry_destroy(entry);
	close(efd);
	shoal_segment_destroy(seg);
	test_unpublish(&local);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_version(void)
{
	static struct proc p;
	char want[64];

	snprintf(want, sizeof(want), "shoal %d.%d.%d\n", SHOAL_VERSION_MAJOR,
		 SHOAL_VERSION_MINOR, SHOAL_VERSION_PATCH);
	CHECK_EQ(run(&p, "--version", NULL), 0);
	CHECK(strcmp(p.out_buf, want) == 0);
	/* The library's own word for it. */
	CHECK(!strncmp(p.out_buf + 6, shoal_version(),
		       strlen(shoal_version())));
	CHECK(p.out_buf[6 + strlen(shoal_version())] == '\n');
	CHECK_EQ(run(&p, "-V", NULL), 0);
	CHECK(strcmp(p.out_buf, want) == 0);
	CHECK_EQ(run(&p, "--help", NULL), 0);
	CHECK(has(p.out_buf, "--version, -V"));
	return TEST_PASS;
}

/* A relative SHOAL_DIR that does not exist: list, info and clean say so
 * and create nothing; the first service creates it. */
static int test_missing_dir(void)
{
	static struct proc p;
	char top[PATH_MAX], cwd[PATH_MAX];
	struct stat st;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(top, sizeof(top), "%s", path);
	*strrchr(top, '/') = '\0';
	CHECK(chdir(top) == 0);
	setenv("SHOAL_DIR", "rel/reg", 1);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(has(p.out_buf, "NAME"));
	CHECK(has(p.err_buf, "shoal: list: no registry yet"));
	CHECK(has(p.err_buf, "rel/reg"));
	CHECK_EQ(run(&p, "list", "--json", NULL), 0);
	CHECK(strcmp(p.out_buf, "[]\n") == 0);
	CHECK_EQ(run(&p, "info", "x", NULL), 1);
	CHECK(has(p.err_buf, "no such service 'x'"));
	CHECK_EQ(run(&p, "clean", NULL), 0);
	CHECK(has(p.out_buf, "removed 0 stale entries"));
	CHECK(stat("rel", &st) < 0 && errno == ENOENT);
	/* A command that hosts a service makes it. */
	CHECK(mkdir("rel", 0700) == 0);
	CHECK_EQ(run(&p, "pub", "t/x", NULL), 0);
	CHECK(stat("rel/reg", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(rmdir("rel/reg") == 0 && rmdir("rel") == 0);
	CHECK(chdir(cwd) == 0);
	setenv("SHOAL_DIR", path, 1);
	return TEST_PASS;
}

/*
 * SHOAL_DIR a symlink to the registry: followed when we or root own the
 * link; one owned by another uid is refused (it could lead us into any
 * directory of ours); a dangling one is "no registry yet".
 */
static int test_symlinked_dir(void)
{
	struct shoal_registry *reg;
	struct test_service ts;
	static struct proc p;
	char link[PATH_MAX + 8];

	snprintf(link, sizeof(link), "%s-link", path);
	CHECK(symlink(path, link) == 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(test_publish(reg, "via/link", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	setenv("SHOAL_DIR", link, 1);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(has(p.out_buf, "\nvia/link "));
	CHECK_EQ(run(&p, "info", "via/link", NULL), 0);
	CHECK(has(p.out_buf, "service:            via/link"));
	if (geteuid() == 0) {
		CHECK(lchown(link, 60001, 60001) == 0);
		CHECK_EQ(run(&p, "list", NULL), 1);
		CHECK(has(p.err_buf, "is a symlink owned by uid 60001"));
	}
	CHECK(unlink(link) == 0);
	CHECK(symlink("/nonexistent/shoal-dir", link) == 0);
	CHECK_EQ(run(&p, "list", NULL), 0);
	CHECK(has(p.err_buf, "no registry yet"));
	CHECK(has(p.err_buf, "leads nowhere"));
	CHECK(unlink(link) == 0);
	setenv("SHOAL_DIR", path, 1);
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* bench with a registry it cannot open: one error naming bench, not one
 * per peer and figure naming the hidden peer command. */
static int test_bench_bad_dir(void)
{
	static struct proc p;

	setenv("SHOAL_DIR", "/nonexistent/shoal-dir", 1);
	CHECK_EQ(run(&p, "bench", "--quick", NULL), 1);
	setenv("SHOAL_DIR", path, 1);
	CHECK_EQ(count_of(p.err_buf, "\n"), 1);
	CHECK(has(p.err_buf, "shoal: bench: cannot open the registry: "));
	CHECK(strstr(p.err_buf, "__bench-peer") == NULL);
	CHECK(p.out_len == 0);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int r = cli_test_start(argc, argv, path);

	if (r != TEST_PASS)
		return r;
	/* test_missing_dir changes directory: a relative tool path must
	 * still name the tool. */
	{
		static char abs_tool[PATH_MAX];

		if (!realpath(tool, abs_tool))
			return TEST_FAIL;
		tool = abs_tool;
	}
	RUN(test_list_and_clean);
	RUN(test_usage_and_errors);
	RUN(test_list_sorted);
	RUN(test_version);
	RUN(test_origin);
	RUN(test_missing_dir);
	RUN(test_symlinked_dir);
	RUN(test_bench_bad_dir);
	return test_result();
}
