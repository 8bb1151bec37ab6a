/* shoal-test: label=multiproc timeout=240 */
/*
 * nats-server killed (SIGKILL) and restarted, with its store kept, in the
 * middle of a reliable stream from A to B: the subscriber on B gets every
 * message once, in order (JetStream keeps what it acknowledged, the export
 * holds and retries what it did not, Nats-Msg-Id drops the retries that
 * were stored, and the importer skips redeliveries). Then a lossy stream
 * flows again through the restarted server, both for a mirror made after
 * the restart and for one whose stream was flowing when the server was
 * killed (the importing gateway's lossy reader connects anew and
 * subscribes its mirrors again). Last, the exporting gateway
 * SIGKILLed and restarted: it takes the publisher's history again, and
 * the far subscriber still gets each message once. And a server that
 * stalls while a new reliable service is being exported: the export
 * starts once the server answers again.
 */
#include <pthread.h>

#include "gw_test.h"

#define N 3000

static struct proc gw_a, gw_b;

static int test_reliable_across_restart(void)
{
	struct shoal_pub_options o;
	static struct proc sub;
	pthread_t t;
	int64_t end;
	char count[16];

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_RELIABLE;
	o.send_timeout_ns = 100000000;
	o.capacity = 256;
	CHECK_EQ(shoal_pub_create("camera/restart", &o, &gw_lines_pub), 0);
	CHECK(!wait_service(reg_b, "camera/restart", 1, &gw_b));
	snprintf(count, sizeof(count), "%d", N);
	CHECK(!start_in(dir_b, &sub, 0, "sub", "camera/restart", "--count",
			count, "--timeout", "120", NULL));
	CHECK(!wait_subscribers_in(reg_b, "camera/restart", 1));
	gw_lines_n = N;
	gw_lines_word = "m";
	CHECK(!pthread_create(&t, NULL, gw_write_lines, NULL));
	/* Mid-stream: B has some, A has not written everything. */
	end = now_ms() + WAIT_S * 1000;
	while (count_of(sub.out_buf, "\n") < 300 && now_ms() < end)
		pump(&sub, 20);
	CHECK(count_of(sub.out_buf, "\n") >= 300);
	nats_stop(SIGKILL);
	fprintf(stderr, "server killed after %d lines at B, %d written\n",
		count_of(sub.out_buf, "\n"), atomic_load(&gw_lines_written));
	/* While it is away the writer is held back: nothing is dropped. */
	CHECK(!nats_start());
	fprintf(stderr, "server restarted, %d written\n",
		atomic_load(&gw_lines_written));
	CHECK_EQ(gw_lines_arrived(t, &sub, WAIT_S * 2), TEST_PASS);
	shoal_pub_destroy(gw_lines_pub);
	return TEST_PASS;
}

/* A lossy stream flows through the restarted server. */
static int test_lossy_after_restart(void)
{
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_msg m;
	int64_t end = now_ms() + WAIT_S * 1000;
	int got = 0;

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(shoal_pub_create("camera/lossy-after", &o, &pub), 0);
	CHECK(!wait_service(reg_b, "camera/lossy-after", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	CHECK_EQ(shoal_sub_open("camera/lossy-after", &so, &sub), 0);
	while (got < 5 && now_ms() < end) {
		CHECK_EQ(shoal_pub_write(pub, "x", 1, NULL), 0);
		if (!shoal_sub_take(sub, &m, 20000000)) {
			got++;
			shoal_sub_release(sub, &m);
		}
	}
	CHECK(got >= 5);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static atomic_int flood_stop;

/* Lossy 1 KiB messages "before" as fast as a short pause every 64 allows,
 * so that the server is killed with messages in flight. */
static void *flood(void *arg)
{
	struct shoal_pub *pub = arg;
	struct timespec pause = { 0, 100000 };
	char buf[1024];

	memset(buf, 'b', sizeof(buf));
	memcpy(buf, "before", 6);
	for (int i = 1; !atomic_load(&flood_stop); i++) {
		shoal_pub_write(pub, buf, sizeof(buf), NULL);
		if (!(i % 64))
			nanosleep(&pause, NULL);
	}
	return NULL;
}

/* A mirror whose lossy stream flows while the server is killed and
 * restarted gets messages again afterwards. */
static int test_lossy_across_restart(void)
{
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	char buf[1024];
	pthread_t t;
	int64_t end;
	int before = 0, after = 0;

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(shoal_pub_create("camera/lossy-flow", &o, &pub), 0);
	CHECK(!wait_service(reg_b, "camera/lossy-flow", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	so.flags = SHOAL_SUB_REATTACH;
	CHECK_EQ(shoal_sub_open("camera/lossy-flow", &so, &sub), 0);
	atomic_store(&flood_stop, 0);
	CHECK(!pthread_create(&t, NULL, flood, pub));
	end = now_ms() + WAIT_S * 1000;
	while (before < 200 && now_ms() < end) {
		ssize_t n = shoal_sub_read(sub, buf, sizeof(buf), NULL, NULL,
					   20000000);

		if (n >= 6 && !memcmp(buf, "before", 6))
			before++;
	}
	nats_stop(SIGKILL);
	CHECK(!nats_start());
	atomic_store(&flood_stop, 1);
	pthread_join(t, NULL);
	fprintf(stderr, "lossy: %d before the kill\n", before);
	CHECK(before >= 200);
	end = now_ms() + WAIT_S * 2000;
	while (after < 5 && now_ms() < end) {
		ssize_t n;

		CHECK_EQ(shoal_pub_write(pub, "after", 5, NULL), 0);
		n = shoal_sub_read(sub, buf, sizeof(buf), NULL, NULL, 20000000);
		if (n == 5 && !memcmp(buf, "after", 5))
			after++;
	}
	fprintf(stderr, "lossy: %d after the restart\n", after);
	CHECK(after >= 5);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* Takes the next message on @sub into @buf (a string); 0 or -errno. */
static int take_line(struct shoal_sub *sub, char *buf, size_t cap)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	while (now_ms() < end) {
		ssize_t n =
			shoal_sub_read(sub, buf, cap - 1, NULL, NULL, 20000000);

		if (n >= 0) {
			buf[n] = '\0';
			return 0;
		}
		if (n != -ETIMEDOUT && n != -EAGAIN && n != -EPIPE)
			return (int)n;
	}
	return -ETIMEDOUT;
}

/* Writes "@tag from" .. "@tag to-1" on @pub, then takes them on @sub: each
 * one, in order. */
static int lines_through(struct shoal_pub *pub, struct shoal_sub *sub, char tag,
			 int from, int to)
{
	char buf[64], want[64];

	for (int i = from; i < to; i++) {
		snprintf(buf, sizeof(buf), "%c %d", tag, i);
		CHECK_EQ(shoal_pub_write(pub, buf, (uint32_t)strlen(buf), NULL),
			 0);
	}
	for (int i = from; i < to; i++) {
		snprintf(want, sizeof(want), "%c %d", tag, i);
		CHECK_EQ(take_line(sub, buf, sizeof(buf)), 0);
		if (strcmp(buf, want)) {
			fprintf(stderr, "got '%s', want '%s'\n", buf, want);
			return TEST_FAIL;
		}
	}
	return TEST_PASS;
}

static int test_exporter_restart(void)
{
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.history = 64;
	CHECK_EQ(shoal_pub_create("camera/history", &o, &pub), 0);
	CHECK(!wait_service(reg_b, "camera/history", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	so.flags = SHOAL_SUB_REATTACH;
	CHECK_EQ(shoal_sub_open("camera/history", &so, &sub), 0);
	CHECK(!wait_subscribers_in(reg_b, "camera/history", 1));
	CHECK_EQ(lines_through(pub, sub, 'h', 0, 10), TEST_PASS);
	kill(gw_a.pid, SIGKILL);
	finish(&gw_a);
	CHECK(!wait_service(reg_b, "camera/history", 0, &gw_b));
	/* The new gateway joins with the publisher's history: h 0..9
	 * again, which the stream has already. */
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(!wait_service(reg_b, "camera/history", 1, &gw_b));
	CHECK_EQ(lines_through(pub, sub, 'h', 10, 15), TEST_PASS);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

/* The state letter of process @pid in /proc (T: stopped), or '?'. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *c;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	c = strrchr(buf, ')');
	return c && c[1] == ' ' ? c[2] : '?';
}

/*
 * The server stalls (SIGSTOP) while a fresh exporting gateway meets a new
 * reliable publisher: its JetStream requests for the stream time out (it
 * says "cannot export"). Once the server answers again the export starts
 * after all, B mirrors the service and messages go across: the watch
 * reported the service once, and the gateway must not have given it up.
 */
static int test_server_stalled(void)
{
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	int said;

	/* A new gateway A: it has not looked for the stream yet. */
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(expect_out(&gw_a, "shoal-gateway: gateway "));
	CHECK(nats_pid > 0);
	kill(nats_pid, SIGSTOP);
	/* kill() returns before the server has stopped. */
	for (int64_t end = now_ms() + WAIT_S * 1000;
	     proc_state(nats_pid) != 'T' && now_ms() < end;)
		usleep(1000);
	if (proc_state(nats_pid) != 'T') {
		kill(nats_pid, SIGCONT);
		fprintf(stderr, "nats-server never stopped\n");
		return TEST_FAIL;
	}
	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_RELIABLE;
	if (shoal_pub_create("camera/stall", &o, &pub)) {
		kill(nats_pid, SIGCONT);
		return TEST_FAIL;
	}
	said = expect_out(&gw_a, "cannot export camera/stall: ");
	if (!said)
		/* Still stopped? (Anything else sending it SIGCONT.) */
		fprintf(stderr, "nats-server state now '%c'\n",
			proc_state(nats_pid));
	kill(nats_pid, SIGCONT);
	CHECK(said);
	CHECK(!wait_service(reg_b, "camera/stall", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	CHECK_EQ(shoal_sub_open("camera/stall", &so, &sub), 0);
	CHECK(!wait_subscribers_in(reg_b, "camera/stall", 1));
	CHECK_EQ(lines_through(pub, sub, 's', 0, 10), TEST_PASS);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int rc = gw_test_start(argc, argv);

	if (rc != TEST_PASS)
		return rc;
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--import", "camera/*", NULL));
	RUN(test_reliable_across_restart);
	RUN(test_lossy_after_restart);
	RUN(test_lossy_across_restart);
	RUN(test_exporter_restart);
	RUN(test_server_stalled);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	nats_stop(SIGTERM);
	return test_result();
}
