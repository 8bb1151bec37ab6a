/* shoal-test: label=multiproc timeout=300 */
/*
 * The reliable export keeps up to a window of messages in flight to
 * JetStream (export.c). nats-server SIGKILLed and restarted three times
 * in the middle of a reliable stream that keeps the window full: the
 * subscriber on B still gets every message once, in order. This guards
 * the order argument of docs/gateway.md ("How the order holds with
 * several in flight"): the stream holds a prefix of what one connection
 * sent, and a new pass starts from the oldest unacknowledged message on a
 * new connection. Then the same with --reliable-window 1 (one at a time).
 */
#include <pthread.h>

#include "gw_test.h"

#define N 4000
#define KILLS 3

static struct proc gw_a, gw_b;

static int stream_across_kills(const char *name)
{
	struct shoal_pub_options o;
	static struct proc sub;
	pthread_t t;
	char count[16];

	memset(&sub, 0, sizeof(sub));
	atomic_store(&gw_lines_written, 0);
	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_RELIABLE;
	o.send_timeout_ns = 100000000;
	o.capacity = 256;
	CHECK_EQ(shoal_pub_create(name, &o, &gw_lines_pub), 0);
	CHECK(!wait_service(reg_b, name, 1, &gw_b));
	snprintf(count, sizeof(count), "%d", N);
	CHECK(!start_in(dir_b, &sub, 0, "sub", name, "--count", count,
			"--timeout", "200", NULL));
	CHECK(!wait_subscribers_in(reg_b, name, 1));
	gw_lines_n = N;
	gw_lines_word = "w";
	CHECK(!pthread_create(&t, NULL, gw_write_lines, NULL));
	for (int k = 1; k <= KILLS; k++) {
		int64_t end = now_ms() + WAIT_S * 1000;

		while (count_of(sub.out_buf, "\n") < k * N / (KILLS + 1) &&
		       now_ms() < end)
			pump(&sub, 5);
		CHECK(count_of(sub.out_buf, "\n") >= k * N / (KILLS + 1));
		nats_stop(SIGKILL);
		fprintf(stderr,
			"%s: server killed after %d lines at B, %d "
			"written\n",
			name, count_of(sub.out_buf, "\n"),
			atomic_load(&gw_lines_written));
		CHECK(!nats_start());
	}
	CHECK_EQ(gw_lines_arrived(t, &sub, WAIT_S * 3), TEST_PASS);
	shoal_pub_destroy(gw_lines_pub);
	return TEST_PASS;
}

static int test_window(void)
{
	return stream_across_kills("win/full");
}

static int test_window_one(void)
{
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK(!gw_start(dir_a, &gw_a, "--export", "win/*", "--reliable-window",
			"1", NULL));
	return stream_across_kills("win/one");
}

int main(int argc, char **argv)
{
	int rc = gw_test_start(argc, argv);

	if (rc != TEST_PASS)
		return rc;
	CHECK(!gw_start(dir_a, &gw_a, "--export", "win/*", NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--import", "win/*", NULL));
	RUN(test_window);
	RUN(test_window_one);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	nats_stop(SIGTERM);
	return test_result();
}
