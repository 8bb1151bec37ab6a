/* shoal-test: label=multiproc timeout=240 args=$<TARGET_FILE:shoal-tool> */
/*
 * Hosting every pattern from the shell, between real processes: 'shoal
 * queue' with push and pop, 'shoal serve --echo' and '--exec CMD' with
 * call (the command's output, and an error reply for each way a command
 * fails: exit status, too much output, too long a run, stdout closed
 * while it runs on), 'shoal events' with notify and wait; each host ends
 * cleanly on SIGTERM (exit 0) and its name leaves 'shoal list', and what
 * waited on it says the peer is gone (exit 4). Then usage errors, a taken
 * name, and names at the length limit. argv[1] is the tool. Every wait is
 * for an event, bounded only so that a bug fails instead of hanging.
 */
#include <signal.h>

#define WAIT_S 60
#include "cli_util.h"

static char path[PATH_MAX];

/* Reads until stderr holds @needle (1), or EOF / WAIT_S pass (0). */
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

/* Stops host @p with SIGTERM: exit 0, "withdrew NAME" said. */
static int stop_host(struct proc *p, const char *name)
{
	char want[300];

	snprintf(want, sizeof(want), "withdrew '%s'", name);
	CHECK(kill(p->pid, SIGTERM) == 0);
	CHECK(finish(p) == 0);
	CHECK(exited_with(p, 0));
	CHECK(has(p->err_buf, want));
	return TEST_PASS;
}

/* Whether 'shoal list' shows @name (a whole word at a line's start). */
static int listed(const char *name)
{
	static struct proc l;
	char want[300];

	if (run(&l, "list", NULL) != 0)
		return -1;
	snprintf(want, sizeof(want), "\n%s ", name);
	return strstr(l.out_buf, want) != NULL;
}

/* Runs "tool ARGS..." with @input on stdin to the end; its exit status. */
static int run_with_input(struct proc *p, const char *input, const char *a0,
			  const char *a1, const char *a2, const char *a3)
{
	if (start(p, 1, a0, a1, a2, a3, NULL))
		return -1;
	if (feed(p, input))
		return -1;
	return finish(p);
}

static int test_queue(void)
{
	static struct proc host, p;

	CHECK_EQ(start(&host, 0, "queue", "t/q", "--capacity", "16",
		       "--slot-size", "64", NULL),
		 0);
	CHECK(expect_err(&host, "hosting queue 't/q'"));
	CHECK_EQ(listed("t/q"), 1);
	CHECK_EQ(run(&p, "info", "t/q", NULL), 0);
	CHECK(has(p.out_buf, "pattern:            queue"));
	CHECK(has(p.out_buf, "capacity:"));

	CHECK_EQ(run_with_input(&p, "hello\nworld\n", "push", "t/q", NULL,
				NULL),
		 0);
	CHECK(has(p.err_buf, "pushed 2 messages"));
	CHECK_EQ(run(&p, "pop", "t/q", "--count", "1", NULL), 0);
	CHECK(strcmp(p.out_buf, "hello\n") == 0);
	/* --slot-size 64: a longer line does not fit. */
	CHECK_EQ(run_with_input(&p,
				"0123456789012345678901234567890123456789"
				"0123456789012345678901234567890123456789\n",
				"push", "t/q", NULL, NULL),
		 1);
	CHECK(has(p.err_buf, "more than the max payload 64"));

	/* A pop waiting on the queue sees its end: what was left, then
	 * "queue gone" (exit 4). */
	CHECK_EQ(start(&p, 0, "pop", "t/q", NULL), 0);
	CHECK(expect_out(&p, "world\n"));
	CHECK(stop_host(&host, "t/q") == TEST_PASS);
	CHECK_EQ(finish(&p), 4);
	CHECK(has(p.err_buf, "queue gone"));
	CHECK_EQ(listed("t/q"), 0);
	CHECK_EQ(run(&p, "pop", "t/q", "--count", "1", NULL), 1);
	CHECK(has(p.err_buf, "no such service 't/q'"));
	return TEST_PASS;
}

static int test_serve_echo(void)
{
	static struct proc host, p;

	CHECK_EQ(start(&host, 0, "serve", "t/echo", "--echo", NULL), 0);
	CHECK(expect_err(&host, "serving 't/echo'"));
	CHECK_EQ(listed("t/echo"), 1);
	CHECK_EQ(run_with_input(&p, "one\ntwo words\n", "call", "t/echo", NULL,
				NULL),
		 0);
	CHECK(strcmp(p.out_buf, "one\ntwo words\n") == 0);

	/* A call waiting for an answer that never comes (no request
	 * sent yet: stdin open) sees the server go: exit 4. */
	CHECK_EQ(start(&p, 1, "call", "t/echo", NULL), 0);
	CHECK_EQ(feed(&p, "first\n"), 0);
	CHECK(expect_out(&p, "first\n"));
	CHECK(stop_host(&host, "t/echo") == TEST_PASS);
	CHECK_EQ(feed(&p, "second\n"), 0);
	CHECK_EQ(finish(&p), 4);
	CHECK(has(p.err_buf, "server gone"));
	CHECK_EQ(listed("t/echo"), 0);
	return TEST_PASS;
}

static int test_serve_exec(void)
{
	static struct proc host, p;

	CHECK_EQ(start(&host, 0, "serve", "t/upper", "--exec", "tr a-z A-Z",
		       NULL),
		 0);
	CHECK(expect_err(&host, "serving 't/upper'"));
	CHECK_EQ(run_with_input(&p, "hello\nshoal 1\n", "call", "t/upper", NULL,
				NULL),
		 0);
	CHECK(strcmp(p.out_buf, "HELLO\nSHOAL 1\n") == 0);
	CHECK(strstr(p.err_buf, "flagged as errors") == NULL);
	CHECK(stop_host(&host, "t/upper") == TEST_PASS);
	CHECK(has(host.err_buf, "after 2 requests (0 errors)"));
	CHECK_EQ(listed("t/upper"), 0);
	return TEST_PASS;
}

/* One request to a server running @cmd (with --timeout @timeout, and
 * --max-response 100): the reply must be an error holding @want. */
static int exec_fails(const char *cmd, const char *timeout, const char *want)
{
	static struct proc host, p;

	CHECK_EQ(start(&host, 0, "serve", "t/fail", "--exec", cmd, "--timeout",
		       timeout, "--max-response", "100", NULL),
		 0);
	CHECK(expect_err(&host, "serving 't/fail'"));
	CHECK_EQ(run_with_input(&p, "x\n", "call", "t/fail", NULL, NULL), 0);
	CHECK(has(p.out_buf, "error: "));
	CHECK(has(p.out_buf, want));
	CHECK(has(p.err_buf, "1 response flagged as errors"));
	/* The server's stderr says it too, and it goes on serving. */
	CHECK(expect_err(&host, want));
	CHECK_EQ(run_with_input(&p, "y\n", "call", "t/fail", NULL, NULL), 0);
	CHECK(has(p.out_buf, want));
	CHECK(stop_host(&host, "t/fail") == TEST_PASS);
	CHECK(has(host.err_buf, "after 2 requests (2 errors)"));
	return TEST_PASS;
}

static int test_serve_exec_errors(void)
{
	CHECK(exec_fails("cat >/dev/null; exit 3", "60", "exit status 3") ==
	      TEST_PASS);
	CHECK(exec_fails("kill -9 $$", "60", "killed by signal 9") ==
	      TEST_PASS);
	CHECK(exec_fails("yes", "60",
			 "printed more than the max response, "
			 "100 bytes") == TEST_PASS);
	/* Never a hang: a command that runs on is killed at --timeout,
	 * also one that closed its stdout first. */
	CHECK(exec_fails("sleep 120", "0.5", "ran longer than 0.5 s") ==
	      TEST_PASS);
	CHECK(exec_fails("exec >&-; sleep 120", "0.5",
			 "ran longer than 0.5 s") == TEST_PASS);
	CHECK(exec_fails("/nonexistent/cmd", "60", "exit status 127") ==
	      TEST_PASS);
	return TEST_PASS;
}

static int test_events(void)
{
	static struct proc host, waiter, gone, p;
	int64_t end;

	CHECK_EQ(start(&host, 0, "events", "t/ev", "--ids", "16", NULL), 0);
	CHECK(expect_err(&host, "hosting event service 't/ev'"));
	CHECK_EQ(listed("t/ev"), 1);
	CHECK_EQ(start(&waiter, 0, "wait", "t/ev", "3", NULL), 0);
	/* Notify until the waiter is listening and was signalled. */
	end = now_ms() + WAIT_S * 1000;
	for (;;) {
		CHECK_EQ(run(&p, "notify", "t/ev", "3", NULL), 0);
		if (strstr(p.err_buf, "id 3: 1 listener signalled"))
			break;
		CHECK(now_ms() < end);
		usleep(20000);
	}
	CHECK_EQ(finish(&waiter), 0);
	CHECK(strcmp(waiter.out_buf, "3\n") == 0);
	/* --ids 16: id 16 is not one of them. */
	CHECK_EQ(run(&p, "notify", "t/ev", "16", NULL), 2);

	/* A waiter sees the service go: exit 4. Wait until it listens
	 * (info lists it), then stop the host. */
	CHECK_EQ(start(&gone, 0, "wait", "t/ev", "5", NULL), 0);
	end = now_ms() + WAIT_S * 1000;
	for (;;) {
		CHECK_EQ(run(&p, "info", "t/ev", "--json", NULL), 0);
		if (strstr(p.out_buf, "\"listener_count\": 1"))
			break;
		CHECK(now_ms() < end);
		usleep(20000);
	}
	CHECK(stop_host(&host, "t/ev") == TEST_PASS);
	CHECK_EQ(finish(&gone), 4);
	CHECK(has(gone.err_buf, "service gone"));
	CHECK_EQ(listed("t/ev"), 0);
	return TEST_PASS;
}

static int test_usage(void)
{
	static struct proc host, p;
	char name[301];

	CHECK_EQ(run(&p, "serve", "t/x", NULL), 2);
	CHECK(has(p.err_buf, "give one of --echo and --exec"));
	CHECK_EQ(run(&p, "serve", "t/x", "--echo", "--exec", "cat", NULL), 2);
	CHECK_EQ(run(&p, "serve", "t/x", "--echo", "--timeout", "1", NULL), 2);
	CHECK_EQ(run(&p, "queue", "t/x", "--capacity", "3", NULL), 2);
	CHECK_EQ(run(&p, "queue", NULL), 2);
	CHECK_EQ(run(&p, "events", "t/x", "--ids", "0", NULL), 2);
	for (const char *c = "queue\0serve\0events\0"; *c; c += strlen(c) + 1) {
		CHECK_EQ(run(&p, c, "--help", NULL), 0);
		CHECK(has(p.out_buf, "usage: shoal "));
		CHECK(has(p.out_buf, "SIGTERM"));
	}
	CHECK_EQ(run(&p, "--help", NULL), 0);
	CHECK(has(p.out_buf, "  queue "));
	CHECK(has(p.out_buf, "  serve "));
	CHECK(has(p.out_buf, "  events "));

	/* A name held by a live service: exit 1, and it keeps it. */
	CHECK_EQ(start(&host, 0, "queue", "t/taken", NULL), 0);
	CHECK(expect_err(&host, "hosting queue"));
	CHECK_EQ(run(&p, "events", "t/taken", NULL), 1);
	CHECK(has(p.err_buf, "a live service has the name"));
	CHECK_EQ(run(&p, "wait", "t/taken", "1", NULL), 1);
	CHECK(has(p.err_buf, "'t/taken' is a queue, not an event service"));
	CHECK(stop_host(&host, "t/taken") == TEST_PASS);

	/* 255 bytes works (the kernel's memfd names stop at 249); 256
	 * and 300 are usage errors in every hosting command. */
	memset(name, 'n', 300);
	name[255] = '\0';
	CHECK_EQ(start(&host, 0, "queue", name, NULL), 0);
	CHECK(expect_err(&host, "hosting queue"));
	CHECK_EQ(run_with_input(&p, "long\n", "push", name, NULL, NULL), 0);
	CHECK_EQ(run(&p, "pop", name, "--count", "1", NULL), 0);
	CHECK(strcmp(p.out_buf, "long\n") == 0);
	CHECK(stop_host(&host, name) == TEST_PASS);
	for (int len = 256; len <= 300; len += 44) {
		char want[64];

		memset(name, 'n', 300);
		name[len] = '\0';
		snprintf(want, sizeof(want), "%d bytes, more than 255", len);
		CHECK_EQ(run(&p, "queue", name, NULL), 2);
		CHECK(has(p.err_buf, want));
		CHECK_EQ(run(&p, "serve", name, "--echo", NULL), 2);
		CHECK(has(p.err_buf, want));
		CHECK_EQ(run(&p, "events", name, NULL), 2);
		CHECK(has(p.err_buf, want));
		/* And every command that opens or publishes: the same
		 * refusal (pub and sub used to disagree). */
		{
			static const char *const cmds[][3] = {
				{ "pub" },	   { "sub" },	    { "push" },
				{ "pop" },	   { "call" },	    { "hz" },
				{ "notify", "1" }, { "wait", "1" },
			};

			for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]);
			     i++) {
				if (run(&p, cmds[i][0], name, cmds[i][1],
					NULL) != 2 ||
				    !strstr(p.err_buf, want)) {
					fprintf(stderr,
						"%s, %d bytes: exit %d, "
						"stderr '%s'\n",
						cmds[i][0], len, p.status,
						p.err_buf);
					return TEST_FAIL;
				}
			}
		}
	}
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int r = cli_test_start(argc, argv, path);

	if (r != TEST_PASS)
		return r;
	RUN(test_queue);
	RUN(test_serve_echo);
	RUN(test_serve_exec);
	RUN(test_serve_exec_errors);
	RUN(test_events);
	RUN(test_usage);
	return test_result();
}
