/* shoal-test: label=multiproc timeout=240 args=$<TARGET_FILE:shoal-tool> */
/*
 * The store from the shell, between real processes: 'shoal store create'
 * hosts a store (a blackboard, an array, a map and a stack, as far as this
 * build has them); 'shoal info' lists its objects (text and JSON); 'shoal
 * set' and 'shoal get' write and read blackboard keys and map entries;
 * 'shoal watch KEY --count 2' prints changes as they come; usage errors
 * (exit 2), a missing store (1), a watch that times out (3), and SIGTERM
 * ending the host (0) with the watcher told (4). argv[1] is the tool.
 * Every wait is for an event, bounded only so that a bug fails instead of
 * hanging.
 */
#include <signal.h>

#define WAIT_S 60
#include "cli_util.h"

static char path[PATH_MAX];

static int expect_err(struct proc *p, const char *needle)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	while (!strstr(p->err_buf, needle)) {
		if (now_ms() > end || !pump(p, 50)) {
			fprintf(stderr, "stderr lacks '%s': '%s'\n", needle,
				p->err_buf);
			return 0;
		}
	}
	return 1;
}

static int test_store(void)
{
	struct proc host, p, w;
	int have_map;
	char val[32];

	CHECK_EQ(start(&host, 0, "store", "create", "cs", "--blackboard", "4",
		       "--value-size", "32", "--array", "8", NULL),
		 0);
	CHECK(expect_err(&host, "hosting store 'cs'"));
	/* A map as well, in a second store, when this build has maps. */
	CHECK_EQ(run(&p, "store", "create", "cs2", "--map", "17", NULL), 2);
	{
		struct proc m;

		CHECK_EQ(start(&m, 0, "store", "create", "csm", "--map", "16",
			       "--key-size", "16", "--value-size", "16", NULL),
			 0);
		have_map = expect_err(&m, "hosting store");
		if (have_map) {
			CHECK_EQ(run(&p, "set", "csm", "alpha", "one", NULL),
				 0);
			CHECK_EQ(run(&p, "get", "csm", "map:alpha", NULL), 0);
			CHECK(has(p.out_buf, "one\n"));
			CHECK_EQ(run(&p, "get", "csm", "beta", NULL), 1);
		}
		kill(m.pid, SIGTERM);
		finish(&m);
	}

	CHECK_EQ(run(&p, "info", "cs", NULL), 0);
	CHECK(has(p.out_buf, "blackboard") && has(p.out_buf, "array"));
	CHECK(has(p.out_buf, "objects:    2 of"));
	CHECK_EQ(run(&p, "info", "cs", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "\"kind\": \"blackboard\""));

	CHECK_EQ(run(&p, "get", "cs", "2", NULL), 0);
	CHECK(!strcmp(p.out_buf, "\n"));
	CHECK_EQ(run(&p, "set", "cs", "2", "hello", NULL), 0);
	CHECK_EQ(run(&p, "get", "cs", "blackboard:2", NULL), 0);
	CHECK(has(p.out_buf, "hello\n"));

	/* The watcher seeds its versions when it starts: keep setting
	 * until it has printed two changes. */
	CHECK_EQ(start(&w, 0, "watch", "cs", "1", "3", "--count", "2", NULL),
		 0);
	for (int i = 0; i < 2000 && !exited(&w); i++) {
		snprintf(val, sizeof(val), "v%d", i);
		CHECK_EQ(run(&p, "set", "cs", i % 2 ? "1" : "3", val, NULL), 0);
		pump(&w, 20);
	}
	CHECK_EQ(finish(&w), 0);
	CHECK_EQ(count_of(w.out_buf, "\n"), 2);
	CHECK(!strncmp(w.out_buf, "1 ", 2) || !strncmp(w.out_buf, "3 ", 2));
	CHECK(has(w.out_buf, " v"));

	/* Usage and failures. */
	CHECK_EQ(run(&p, "get", "cs", "4", NULL), 2);	    /* no such key */
	CHECK_EQ(run(&p, "get", "cs", "array:1", NULL), 2); /* not kv */
	CHECK_EQ(run(&p, "get", "cs", "x", NULL), 2);
	CHECK_EQ(run(&p, "set", "cs", "1",
		     "this value is longer than thirty-two bytes", NULL),
		 2);
	CHECK_EQ(run(&p, "get", "nosuch", "1", NULL), 1);
	CHECK_EQ(run(&p, "store", "make", "cs3", NULL), 2);
	CHECK_EQ(run(&p, "watch", "cs", "1", "--timeout", "0.2", NULL), 3);
	CHECK_EQ(run(&p, "store", "create", "cs", "--array", "1", NULL), 1);

	/* The host ends on SIGTERM; a watcher then says the store is
	 * gone. */
	CHECK_EQ(start(&w, 0, "watch", "cs", "0", NULL), 0);
	for (int i = 0; i < 100; i++)
		pump(&w, 10);
	kill(host.pid, SIGTERM);
	CHECK_EQ(finish(&host), 0);
	CHECK(printed(&host, "withdrew 'cs'"));
	CHECK_EQ(finish(&w), 4);
	CHECK_EQ(run(&p, "get", "cs", "1", NULL), 1);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int r = cli_test_start(argc, argv, path);

	if (r != TEST_PASS)
		return r;
	RUN(test_store);
	return test_result();
}
