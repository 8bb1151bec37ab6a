/* shoal-test: label=multiproc timeout=120 args=$<TARGET_FILE:shoal-tool> */
/*
 * The shoal tool's pub/sub commands, run as a shell user would: pub fed
 * through a pipe, sub printing (text, hex), info (text and JSON), hz,
 * list --watch, the exit codes of sub (no such service 1, timeout 3,
 * publisher gone 4, --reattach), bench --quick, every --help, and usage
 * errors. argv[1] is the tool. Checks behaviour, never timings: every wait
 * is for an event, bounded only so that a bug fails instead of hanging.
 */
#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <time.h>

#include <shoal/pubsub.h>

#include "harness.h"
#include "registry_util.h"

/* sub and hz wait for a publisher or a rate: allow a loaded machine. */
#define WAIT_S 60
#include "cli_util.h"

static char path[PATH_MAX], top[PATH_MAX];
static struct shoal_registry *reg;

/*
 * Waits until service @name has @n live subscribers, @member's process
 * among them if @member is not NULL (@n 0: until the service exists).
 * 0, or -1 after WAIT_S (or once @member exited), saying what @member and
 * @owner (the publisher) printed.
 */
static int wait_subscribers(const char *name, int n, struct proc *member,
			    struct proc *owner)
{
	struct shoal_pubsub_sub_info subs[8];
	struct shoal_pubsub_info info;
	int64_t end = now_ms() + WAIT_S * 1000;
	int got = -1;

	while (now_ms() < end && !(member && exited(member))) {
		int found = !member;

		got = shoal_pubsub_inspect(reg, name, &info, subs, 8);
		for (int i = 0; member && i < got && i < 8; i++)
			found |= subs[i].pid == member->pid;
		if (found && got == n)
			return 0;
		usleep(2000);
	}
	fprintf(stderr, "%s: never had %d subscribers: %d\n", name, n, got);
	if (member)
		describe("subscriber", member);
	if (owner)
		describe("publisher", owner);
	return -1;
}

/* --- the cases */

/* pub fed through a pipe; sub --count 3 prints exactly those lines; info. */
static int test_pub_sub_info(void)
{
	static struct proc pub, sub, info;
	char want[64];
	const char *row;
	unsigned idx, cursor, received;
	int pid;
	long long lag;

	CHECK_EQ(start(&pub, 1, "pub", "t/lines", NULL), 0);
	CHECK_EQ(wait_subscribers("t/lines", 0, NULL, &pub), 0);
	CHECK_EQ(start(&sub, 0, "sub", "t/lines", "--count", "3", NULL), 0);
	CHECK_EQ(wait_subscribers("t/lines", 1, &sub, &pub), 0);
	CHECK_EQ(feed(&pub, "alpha\nbeta\ngamma\n"), 0);
	CHECK_EQ(finish(&sub), 0);
	CHECK(!strcmp(sub.out_buf, "alpha\nbeta\ngamma\n"));

	/* A second subscriber, present while info looks. */
	CHECK_EQ(start(&sub, 0, "sub", "t/lines", NULL), 0);
	CHECK_EQ(wait_subscribers("t/lines", 1, &sub, &pub), 0);
	CHECK_EQ(feed(&pub, "delta\n"), 0);
	CHECK(expect_out(&sub, "delta\n"));
	CHECK(!strcmp(sub.out_buf, "delta\n"));

	CHECK_EQ(run(&info, "info", "t/lines", NULL), 0);
	CHECK(strstr(info.out_buf, "service:            t/lines\n") != NULL);
	CHECK(strstr(info.out_buf, "pattern:            pubsub\n") != NULL);
	CHECK_EQ(field(info.out_buf, "owner pid:"), pub.pid);
	CHECK(strstr(info.out_buf, "delivery:         reliable\n") != NULL);
	CHECK(strstr(info.out_buf, "flags:            (none)\n") != NULL);
	CHECK_EQ(field(info.out_buf, "capacity:"), 1024);
	CHECK_EQ(field(info.out_buf, "max payload:"), 4096);
	CHECK_EQ(field(info.out_buf, "head:"), 4);
	CHECK_EQ(field(info.out_buf, "sent:"), 4);
	CHECK_EQ(field(info.out_buf, "failed:"), 0);
	CHECK_EQ(field(info.out_buf, "subscribers:        "), 1);
	row = strstr(info.out_buf, "WAKEUPS\n");
	CHECK(row != NULL);
	CHECK_EQ(sscanf(row + 8, "%u %d %u %lld %u", &idx, &pid, &cursor, &lag,
			&received),
		 5);
	CHECK_EQ(pid, sub.pid);
	CHECK_EQ(cursor, 4);
	CHECK_EQ(lag, 0);
	CHECK_EQ(received, 1);

	CHECK_EQ(run(&info, "info", "t/lines", "--json", NULL), 0);
	CHECK(json_valid(info.out_buf));
	CHECK(strstr(info.out_buf, "\"name\": \"t/lines\"") != NULL);
	CHECK(strstr(info.out_buf, "\"pattern\": \"pubsub\"") != NULL);
	CHECK(strstr(info.out_buf, "\"delivery\": \"reliable\"") != NULL);
	CHECK(strstr(info.out_buf, "\"capacity\": 1024") != NULL);
	CHECK(strstr(info.out_buf, "\"flags\": 0,") != NULL);
	CHECK(strstr(info.out_buf, "\"slot_stride\": ") != NULL);
	CHECK(strstr(info.out_buf, "\"head\": 4") != NULL);
	CHECK(strstr(info.out_buf, "\"sent\": 4") != NULL);
	CHECK(strstr(info.out_buf, "\"subscriber_count\": 1") != NULL);
	snprintf(want, sizeof(want), "\"pid\": %d, \"cursor\": 4, \"lag\": 0",
		 (int)sub.pid);
	CHECK(strstr(info.out_buf, want) != NULL);
	CHECK(strstr(info.out_buf, "\"received\": 1") != NULL);

	/* EOF: pub withdraws and says what it sent; the sub sees it gone. */
	CHECK_EQ(finish(&pub), 0);
	CHECK(strstr(pub.err_buf, "sent 4 messages") != NULL);
	CHECK(pub.out_len == 0);
	CHECK_EQ(finish(&sub), 4);
	CHECK(strstr(sub.err_buf, "publisher gone") != NULL);
	CHECK(!strcmp(sub.out_buf, "delta\n"));
	return TEST_PASS;
}

/* Text as is, binary as hex automatically, everything as hex with --hex. */
static int test_hex(void)
{
	static struct proc pub, text, hex;

	CHECK_EQ(start(&pub, 1, "pub", "t/hex", NULL), 0);
	CHECK_EQ(wait_subscribers("t/hex", 0, NULL, &pub), 0);
	CHECK_EQ(start(&text, 0, "sub", "t/hex", "--count", "3", NULL), 0);
	CHECK_EQ(start(&hex, 0, "sub", "t/hex", "--count", "3", "--hex", NULL),
		 0);
	CHECK_EQ(wait_subscribers("t/hex", 2, &text, &pub), 0);
	CHECK_EQ(wait_subscribers("t/hex", 2, &hex, &pub), 0);
	CHECK_EQ(feed(&pub, "hi there\n\x01\x02\xff\n\n"), 0);
	CHECK_EQ(finish(&text), 0);
	CHECK(!strcmp(text.out_buf, "hi there\n0102ff\n\n"));
	CHECK_EQ(finish(&hex), 0);
	CHECK(!strcmp(hex.out_buf, "6869207468657265\n0102ff\n\n"));
	CHECK_EQ(finish(&pub), 0);
	CHECK(strstr(pub.err_buf, "sent 3 messages") != NULL);
	return TEST_PASS;
}

/* A service of another pattern: registry facts only. No service: 1. */
static int test_info_other(void)
{
	static struct proc info;
	struct test_service ts;

	CHECK_EQ(test_publish(reg, "t/chan", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	CHECK_EQ(run(&info, "info", "t/chan", NULL), 0);
	CHECK(strstr(info.out_buf, "pattern:            channel\n") != NULL);
	CHECK_EQ(field(info.out_buf, "owner pid:"), getpid());
	CHECK(strstr(info.out_buf, "test (8 bytes, align 8)") != NULL);
	CHECK(strstr(info.out_buf, "layout") == NULL);
	CHECK_EQ(run(&info, "info", "t/chan", "--json", NULL), 0);
	CHECK(json_valid(info.out_buf));
	CHECK(strstr(info.out_buf, "\"pattern\": \"channel\"") != NULL);
	CHECK(strstr(info.out_buf, "\"layout\"") == NULL);
	test_unpublish(&ts);
	CHECK_EQ(run(&info, "info", "t/chan", NULL), 1);
	CHECK(strstr(info.err_buf, "shoal: info: no such service 't/chan'") !=
	      NULL);
	return TEST_PASS;
}

/* Generated messages: --count ends pub; sub shows them; hz measures. */
static int test_rate_and_hz(void)
{
	static struct proc pub, sub, hz;
	char line[64];
	unsigned long long seq;
	int n;

	CHECK_EQ(run(&pub, "pub", "t/gen", "--rate", "0", "--size", "16",
		     "--count", "5", NULL),
		 0);
	CHECK(strstr(pub.err_buf, "sent 5 messages") != NULL);

	CHECK_EQ(start(&pub, 0, "pub", "t/hz", "--rate", "1000", "--size", "32",
		       NULL),
		 0);
	CHECK_EQ(wait_subscribers("t/hz", 0, NULL, &pub), 0);
	CHECK_EQ(run(&sub, "sub", "t/hz", "--count", "2", NULL), 0);
	/* "<seq> abcd..." to 32 bytes, one per line, consecutive. */
	CHECK_EQ(sscanf(sub.out_buf, "%llu %31[a-z]\n%n", &seq, line, &n), 2);
	CHECK_EQ(n, 33);
	snprintf(line, sizeof(line), "%llu ", seq + 1);
	CHECK(!strncmp(sub.out_buf + 33, line, strlen(line)));
	CHECK_EQ(strlen(sub.out_buf), 66);

	CHECK_EQ(run(&hz, "hz", "t/hz", "--count", "1", "--window", "1", NULL),
		 0);
	CHECK_EQ(count_of(hz.out_buf, "\n"), 1);
	CHECK(!strncmp(hz.out_buf, "t/hz: ", 6));
	CHECK(strstr(hz.out_buf, " msg/s  ") != NULL);
	CHECK(strstr(hz.out_buf, "B/s  lost 0  (") != NULL);
	CHECK(field(hz.out_buf, "(") > 0); /* messages in the window */

	kill(pub.pid, SIGINT);
	CHECK_EQ(finish(&pub), 0);
	CHECK(strstr(pub.err_buf, "sent ") != NULL);
	CHECK_EQ(run(&hz, "hz", "t/hz", "--count", "1", NULL), 1);
	CHECK(strstr(hz.err_buf, "no such service") != NULL);
	return TEST_PASS;
}

/* --pools: lines of every size go through, info lists the pools, bad
 * specifications are usage errors. */
static int test_pools(void)
{
	static struct proc pub, sub, info;
	static const char lines[] =
		"short\n"
		"a line longer than the sixty-four bytes of the smallest "
		"chunks, so it takes a 4 KiB one\n"
		"short again\n";

	CHECK_EQ(start(&pub, 1, "pub", "t/pools", "--pools", "64x4,4Kx2",
		       "--trusted-subscribers", NULL),
		 0);
	CHECK_EQ(wait_subscribers("t/pools", 0, NULL, &pub), 0);
	CHECK_EQ(start(&sub, 0, "sub", "t/pools", "--count", "3", NULL), 0);
	CHECK_EQ(wait_subscribers("t/pools", 1, &sub, &pub), 0);
	CHECK_EQ(feed(&pub, lines), 0);
	CHECK_EQ(finish(&sub), 0);
	CHECK(!strcmp(sub.out_buf, lines));
	CHECK_EQ(run(&info, "info", "t/pools", NULL), 0);
	CHECK(strstr(info.out_buf, "pool 0:           4 chunks of 64 bytes\n"));
	CHECK(strstr(info.out_buf,
		     "pool 1:           2 chunks of 4096 bytes\n"));
	CHECK_EQ(field(info.out_buf, "max payload:"), 4096);
	CHECK(strstr(info.out_buf, "flags:            trusted_subscribers\n"));
	CHECK_EQ(run(&info, "info", "t/pools", "--json", NULL), 0);
	CHECK(strstr(info.out_buf, "\"flags\": 2,"));
	CHECK(json_valid(info.out_buf));
	CHECK(strstr(info.out_buf, "\"pools\": [{\"size\": 64, \"count\": 4}, "
				   "{\"size\": 4096, \"count\": 2}]"));
	kill(pub.pid, SIGINT);
	CHECK_EQ(finish(&pub), 0);
	CHECK_EQ(run(&pub, "pub", "t/pools-bad", "--pools", "64x", NULL), 2);
	CHECK(strstr(pub.err_buf, "--pools '64x'") != NULL);
	CHECK_EQ(run(&pub, "pub", "t/pools-bad", "--pools", "4Kx2,64x4", NULL),
		 2);
	return TEST_PASS;
}

/* list --watch: APPEARED, then GONE when the publisher is killed. */
static int test_watch(void)
{
	static struct proc text, json, pub;
	const char *up, *gone, *line;

	CHECK_EQ(start(&text, 0, "list", "--watch", NULL), 0);
	CHECK_EQ(start(&json, 0, "list", "--watch", "--json", NULL), 0);
	CHECK_EQ(start(&pub, 1, "pub", "t/watch", NULL), 0);
	CHECK(expect_out(&text, "APPEARED t/watch "));
	CHECK(expect_out(&json, "{\"event\": \"appeared\", \"name\": "
				"\"t/watch\", \"pattern\": \"pubsub\""));
	kill(pub.pid, SIGKILL);
	CHECK_EQ(finish(&pub), -1);
	CHECK(expect_out(&text, "GONE     t/watch "));
	CHECK(expect_out(&json, "{\"event\": \"gone\", \"name\": \"t/watch\""));
	up = strstr(text.out_buf, "APPEARED t/watch ");
	gone = strstr(text.out_buf, "GONE     t/watch ");
	CHECK(up < gone);
	CHECK(strstr(up, "pubsub") != NULL);

	kill(text.pid, SIGTERM);
	CHECK_EQ(finish(&text), 0);
	kill(json.pid, SIGINT);
	CHECK_EQ(finish(&json), 0);
	/* One JSON object per line. */
	for (line = json.out_buf; *line;) {
		char obj[1024];
		const char *nl = strchr(line, '\n');

		CHECK(nl != NULL && (size_t)(nl - line) < sizeof(obj));
		memcpy(obj, line, (size_t)(nl - line));
		obj[nl - line] = '\0';
		CHECK(obj[0] == '{' && json_valid(obj));
		line = nl + 1;
	}
	return TEST_PASS;
}

/* sub's exit codes: 1 no such service, 3 timeout, 4 gone; --reattach. */
static int test_sub_exit_codes(void)
{
	static struct proc pub, sub;

	CHECK_EQ(run(&sub, "sub", "t/none", NULL), 1);
	CHECK(strstr(sub.err_buf, "shoal: sub: no such service 't/none'") !=
	      NULL);

	CHECK_EQ(start(&pub, 1, "pub", "t/silent", NULL), 0);
	CHECK_EQ(wait_subscribers("t/silent", 0, NULL, &pub), 0);
	CHECK_EQ(run(&sub, "sub", "t/silent", "--timeout", "0.3", NULL), 3);
	CHECK(strstr(sub.err_buf, "no message in 0.3 s") != NULL);

	/* The publisher dies (no withdrawal): 4. */
	CHECK_EQ(start(&sub, 0, "sub", "t/silent", NULL), 0);
	CHECK_EQ(wait_subscribers("t/silent", 1, &sub, &pub), 0);
	kill(pub.pid, SIGKILL);
	CHECK_EQ(finish(&pub), -1);
	CHECK_EQ(finish(&sub), 4);
	CHECK(strstr(sub.err_buf, "shoal: sub: publisher gone") != NULL);

	/* --reattach: waits for the service, and for the next publisher. */
	CHECK_EQ(start(&sub, 0, "sub", "t/re", "--reattach", "--count", "2",
		       NULL),
		 0);
	CHECK_EQ(start(&pub, 1, "pub", "t/re", NULL), 0);
	CHECK_EQ(wait_subscribers("t/re", 1, &sub, &pub), 0);
	CHECK_EQ(feed(&pub, "one\n"), 0);
	CHECK(expect_out(&sub, "one\n"));
	CHECK_EQ(finish(&pub), 0);
	/* -v: the new publisher says its epoch, which sub must name when
	 * it reattaches. */
	CHECK_EQ(start(&pub, 1, "pub", "t/re", "-v", NULL), 0);
	CHECK(expect_out(&pub, "publishing t/re, epoch "));
	CHECK_EQ(wait_subscribers("t/re", 1, &sub, &pub), 0);
	CHECK_EQ(feed(&pub, "two\n"), 0);
	CHECK_EQ(finish(&sub), 0);
	CHECK(!strcmp(sub.out_buf, "one\ntwo\n"));
	CHECK(strstr(sub.err_buf, "publisher gone; waiting") != NULL);
	{
		const char *e = strstr(pub.out_buf, "epoch ") + 6;
		char want[128];

		snprintf(want, sizeof(want),
			 "shoal: sub: reattached to a new publisher of 't/re' "
			 "(epoch %.*s)\n",
			 (int)strspn(e, "0123456789"), e);
		CHECK(has(sub.err_buf, want));
	}
	CHECK_EQ(finish(&pub), 0);
	return TEST_PASS;
}

/*
 * Whether every figure's numbers in bench's table carry a unit that fits:
 * a duration is "N ns" below 1000, else in µs, ms or s with a fraction; a
 * rate below 1000 is plain msg/s, else K or M msg/s.
 */
static int units_scaled(const char *out)
{
	static const char *const keys[] = { " p50 ", " p99 " };
	int n = 0;

	for (int k = 0; k < 2; k++)
		for (const char *p = out; (p = strstr(p, keys[k])); p++) {
			char *end;
			double v = strtod(p + 5, &end);

			n++;
			if (!strncmp(end, " ns  ", 5) && v < 1000)
				continue;
			if (!strncmp(end, " \u00b5s  ", strlen(" \u00b5s  ")) ||
			    !strncmp(end, " ms  ", 5) ||
			    !strncmp(end, " s  ", 4))
				if (memchr(p + 5, '.', (size_t)(end - p - 5)))
					continue;
			fprintf(stderr, "not scaled: '%.30s'\n", p);
			return 0;
		}
	for (const char *p = out; (p = strstr(p, " msg/s  ")); p++) {
		const char *q = p;

		while (q > out && q[-1] != ' ')
			q--;
		/* q: "K" or "M" before msg/s, or the rate itself */
		if (q[0] >= '0' && q[0] <= '9' && strtod(q, NULL) >= 1000) {
			fprintf(stderr, "rate not scaled: '%.30s'\n", q);
			return 0;
		}
		n++;
	}
	return n > 0;
}

/* bench --quick: pub/sub's three figures (test/cli-patterns.c checks the
 * queue and rpc ones), table and JSON. */
static int test_bench(void)
{
	static struct proc b;

	CHECK_EQ(run(&b, "bench", "--quick", NULL), 0);
	CHECK(strstr(b.out_buf, "\nrtt-poll ") != NULL);
	CHECK(strstr(b.out_buf, "\nrtt-block ") != NULL);
	CHECK(strstr(b.out_buf, "\nthroughput ") != NULL);
	CHECK_EQ(count_of(b.out_buf, " p50 "), 5);
	CHECK_EQ(count_of(b.out_buf, " p99 "), 5);
	/* Scaled with units: "12.3 µs", "850.2 K msg/s", not raw ns. */
	CHECK(strstr(b.out_buf, " msg/s  ") != NULL);
	CHECK(units_scaled(b.out_buf));
	CHECK(strstr(b.out_buf, "FAILED") == NULL);

	CHECK_EQ(run(&b, "bench", "--quick", "--json", NULL), 0);
	CHECK(json_valid(b.out_buf));
	CHECK_EQ(count_of(b.out_buf, "\"ok\": true"), 7);
	CHECK_EQ(count_of(b.out_buf, "\"p50_ns\": "), 5);
	CHECK(strstr(b.out_buf, "\"msgs_per_s\": ") != NULL);
	/* The receiver's count check. */
	CHECK(field(b.out_buf, "\"sent\": ") > 0);
	CHECK_EQ(field(b.out_buf, "\"sent\": "),
		 field(b.out_buf, "\"received\": "));
	CHECK_EQ(field(b.out_buf, "\"bad\": "), 0);
	/* Its services are gone with its peers. */
	CHECK_EQ(run(&b, "list", NULL), 0);
	CHECK(strstr(b.out_buf, "shoal-bench/") == NULL);
	return TEST_PASS;
}

static int test_help_and_usage(void)
{
	static const char *const cmds[] = { "list", "info",  "pub",  "sub",
					    "hz",   "clean", "bench" };
	static const char *const bad[][6] = {
		{ "sub" },
		{ "sub", "x", "y" },
		{ "sub", "x", "--count" },
		{ "sub", "x", "--count", "abc" },
		{ "sub", "x", "--count", "-1" },
		{ "sub", "x", "--count", "0" },
		{ "sub", "x", "--timeout", "soon" },
		{ "sub", "x", "--bogus" },
		{ "sub", "x", "--hex=1" },
		{ "sub", "bad name" },
		{ "hz", "x", "--window", "0" },
		{ "pub", "x", "--size", "8" },
		{ "pub", "x", "--rate", "fast" },
		{ "pub", "x", "--capacity", "99999999999" },
		{ "pub", "x", "--capacity", "3" },
		{ "pub", "/x" },
		{ "pub", "x", "--reliable", "--lossy" },
		{ "pub", "x", "--lossy", "--reliable" },
		{ "info" },
		{ "list", "--watch", "--nope" },
		{ "clean", "extra" },
		{ "bench", "--bogus" },
		{ "frobnicate" },
	};
	static struct proc p;
	char want[64];

	CHECK_EQ(run(&p, "--help", NULL), 0);
	CHECK(strstr(p.out_buf, "usage: shoal") != NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK_EQ(run(&p, cmds[i], "--help", NULL), 0);
		snprintf(want, sizeof(want), "usage: shoal %s", cmds[i]);
		CHECK(!strncmp(p.out_buf, want, strlen(want)));
		CHECK(p.err_len == 0);
		/* The top-level usage names every command. */
		CHECK_EQ(run(&p, "--help", NULL), 0);
		snprintf(want, sizeof(want), "\n  %s", cmds[i]);
		CHECK(strstr(p.out_buf, want) != NULL);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (run(&p, bad[i][0], bad[i][1], bad[i][2], bad[i][3],
			bad[i][4], NULL) != 2) {
			fprintf(stderr, "'%s %s %s %s': exit %d, want 2\n",
				bad[i][0], bad[i][1] ? bad[i][1] : "",
				bad[i][2] ? bad[i][2] : "",
				bad[i][3] ? bad[i][3] : "", p.status);
			return TEST_FAIL;
		}
		CHECK(p.out_len == 0);
		CHECK(!strncmp(p.err_buf, "shoal: ", 7));
	}
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return TEST_SKIP;
	tool = argv[1];
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	setenv("SHOAL_DIR", path, 1);
	if (test_registry_open(path, &reg))
		return TEST_FAIL;
	atexit(kill_leftovers);
	signal(SIGPIPE, SIG_IGN);
	RUN(test_help_and_usage);
	RUN(test_pub_sub_info);
	RUN(test_hex);
	RUN(test_info_other);
	RUN(test_rate_and_hz);
	RUN(test_pools);
	RUN(test_watch);
	RUN(test_sub_exit_codes);
	RUN(test_bench);
	shoal_registry_destroy(reg);
	kill_leftovers();
	test_remove_tree(top);
	return test_result();
}
