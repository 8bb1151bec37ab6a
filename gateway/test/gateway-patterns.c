/* shoal-test: label=multiproc timeout=180 */
/*
 * Queues, request/response and events across two registries, each with
 * its gateway: the service is hosted on A and exported; B gets a mirror
 * that its producers, clients and notifiers use by name. `shoal push` on B
 * reaches `shoal pop` on A in order; `shoal call` on B gets the responses
 * of `shoal serve --echo` on A; `shoal notify` on B wakes `shoal wait` on
 * A. Each mirror says where it comes from (list and info on B).
 */
#include "gw_test.h"

static struct proc gw_a, gw_b;

static int test_queue(void)
{
	static struct proc host, push, pop;
	static char want[8192];
	size_t n = 0;

	CHECK(!start_in(dir_a, &host, 0, "queue", "svc/q", NULL));
	CHECK(!wait_service(reg_b, "svc/q", 1, &gw_b));
	CHECK(!check_origin("svc/q"));
	CHECK(!start_in(dir_b, &push, 1, "push", "svc/q", NULL));
	for (int i = 0; i < 200; i++) {
		char line[32];

		snprintf(line, sizeof(line), "job %d\n", i);
		CHECK(!feed(&push, line));
		memcpy(want + n, line, strlen(line));
		n += strlen(line);
	}
	want[n] = '\0';
	CHECK_EQ(finish(&push), 0);
	CHECK(!start_in(dir_a, &pop, 0, "pop", "svc/q", "--count", "200",
			"--timeout", "60", NULL));
	CHECK_EQ(finish(&pop), 0);
	CHECK(has(pop.out_buf, want) && strlen(pop.out_buf) == n);
	CHECK_EQ(gw_stop(&host), 0);
	CHECK(!wait_service(reg_b, "svc/q", 0, &gw_b));
	return TEST_PASS;
}

static int test_rpc(void)
{
	static struct proc srv, call;

	CHECK(!start_in(dir_a, &srv, 0, "serve", "svc/echo", "--echo", NULL));
	CHECK(!wait_service(reg_b, "svc/echo", 1, &gw_b));
	CHECK(!check_origin("svc/echo"));
	CHECK(!start_in(dir_b, &call, 1, "call", "svc/echo", "--timeout", "60",
			NULL));
	CHECK(!feed(&call, "ping one\nping two\nping three\n"));
	CHECK_EQ(finish(&call), 0);
	CHECK(has(call.out_buf, "ping one\nping two\nping three\n"));
	CHECK_EQ(gw_stop(&srv), 0);
	CHECK(!wait_service(reg_b, "svc/echo", 0, &gw_b));
	return TEST_PASS;
}

static int test_event(void)
{
	static struct proc host, waiter, notify;
	struct shoal_event_info ei;
	int64_t end = now_ms() + WAIT_S * 1000;

	CHECK(!start_in(dir_a, &host, 0, "events", "svc/ev", NULL));
	CHECK(!wait_service(reg_b, "svc/ev", 1, &gw_b));
	CHECK(!check_origin("svc/ev"));
	CHECK(!start_in(dir_a, &waiter, 0, "wait", "svc/ev", "5", "--timeout",
			"60", NULL));
	while (shoal_event_inspect(reg_a, "svc/ev", &ei, NULL, 0) < 1 &&
	       now_ms() < end)
		usleep(5000);
	CHECK(!start_in(dir_b, &notify, 0, "notify", "svc/ev", "5", NULL));
	CHECK_EQ(finish(&notify), 0);
	CHECK_EQ(finish(&waiter), 0);
	CHECK(has(waiter.out_buf, "5"));
	CHECK_EQ(gw_stop(&host), 0);
	CHECK(!wait_service(reg_b, "svc/ev", 0, &gw_b));
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int rc = gw_test_start(argc, argv);

	if (rc != TEST_PASS)
		return rc;
	CHECK(!gw_start(dir_a, &gw_a, "--export", "svc/*", NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--import", "svc/*", NULL));
	RUN(test_queue);
	RUN(test_rpc);
	RUN(test_event);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	nats_stop(SIGTERM);
	return test_result();
}
