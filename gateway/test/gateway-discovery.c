/* shoal-test: label=multiproc timeout=240 */
/*
 * Discovery across the gateway: a gateway SIGKILLed has its mirrors vanish
 * from the other registry (no announcement within --expire) and come back
 * when it restarts; a far-side publisher restarted reaches a local
 * subscriber as an epoch change (-EPIPE, then the new publisher's
 * messages); a subscriber naming another type is refused (-EPROTO) as it
 * would be locally; a name no --export pattern matches never appears.
 */
#include "gw_test.h"

static struct proc gw_a, gw_b;

static struct shoal_pub *make_pub(const char *name, const char *type)
{
	struct shoal_pub_options o;
	struct shoal_pub *pub = NULL;

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.type_name = type;
	o.type_size = type ? 24 : 0;
	o.type_align = type ? 8 : 0;
	if (shoal_pub_create(name, &o, &pub))
		fprintf(stderr, "pub %s: %s\n", name, shoal_last_error());
	return pub;
}

/* Writes on @pub until @sub takes a message; its epoch, or 0. */
static uint64_t flow(struct shoal_pub *pub, struct shoal_sub *sub)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	while (now_ms() < end) {
		struct shoal_msg m;
		int err;

		if (shoal_pub_write(pub, "hello", 5, NULL))
			return 0;
		err = shoal_sub_take(sub, &m, 20000000);
		if (!err) {
			uint64_t e = m.epoch;

			shoal_sub_release(sub, &m);
			return e;
		}
	}
	return 0;
}

static int test_gateway_killed(void)
{
	struct shoal_pub *pub = make_pub("camera/kill", NULL);

	CHECK(pub);
	CHECK(!wait_service(reg_b, "camera/kill", 1, &gw_b));
	kill(gw_a.pid, SIGKILL);
	finish(&gw_a);
	CHECK(!wait_service(reg_b, "camera/kill", 0, &gw_b));
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(!wait_service(reg_b, "camera/kill", 1, &gw_b));
	shoal_pub_destroy(pub);
	CHECK(!wait_service(reg_b, "camera/kill", 0, &gw_b));
	return TEST_PASS;
}

static int test_epoch_change(void)
{
	struct shoal_pub *pub = make_pub("camera/epoch", NULL);
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;
	uint64_t e1, e2;
	int64_t end;
	int err;

	CHECK(pub);
	CHECK(!wait_service(reg_b, "camera/epoch", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	so.flags = SHOAL_SUB_REATTACH;
	CHECK_EQ(shoal_sub_open("camera/epoch", &so, &sub), 0);
	e1 = flow(pub, sub);
	CHECK(e1 != 0);
	shoal_pub_destroy(pub);
	/* The mirror goes with the publisher: -EPIPE on B. */
	end = now_ms() + WAIT_S * 1000;
	while ((err = shoal_sub_take(sub, &m, 20000000)) != -EPIPE &&
	       now_ms() < end)
		if (!err)
			shoal_sub_release(sub, &m);
	CHECK_EQ(err, -EPIPE);
	pub = make_pub("camera/epoch", NULL);
	CHECK(pub);
	e2 = flow(pub, sub);
	CHECK(e2 != 0 && e2 != e1);
	CHECK(shoal_sub_epoch(sub) == e2);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_type_mismatch(void)
{
	struct shoal_pub *pub = make_pub("camera/typed", "pose");
	struct shoal_sub_options so;
	struct shoal_sub *sub;

	CHECK(pub);
	CHECK(!wait_service(reg_b, "camera/typed", 1, &gw_b));
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	so.type_name = "twist";
	so.type_size = 24;
	so.type_align = 8;
	CHECK_EQ(shoal_sub_open("camera/typed", &so, &sub), -EPROTO);
	so.type_name = "pose";
	so.type_size = 16;
	CHECK_EQ(shoal_sub_open("camera/typed", &so, &sub), -EPROTO);
	so.type_size = 24;
	CHECK_EQ(shoal_sub_open("camera/typed", &so, &sub), 0);
	CHECK(flow(pub, sub) != 0);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return TEST_PASS;
}

static int test_unexported(void)
{
	struct shoal_pub *secret = make_pub("secret/x", NULL);
	struct shoal_pub *after;

	CHECK(secret);
	/* A service that appears after it does reach B: by then the
	 * gateway has seen secret/x too, and passed it over. */
	after = make_pub("camera/after", NULL);
	CHECK(after);
	CHECK(!wait_service(reg_b, "camera/after", 1, &gw_b));
	CHECK(!service_live(reg_b, "secret/x"));
	pump(&gw_a, 100);
	CHECK(!strstr(gw_a.out_buf, "secret"));
	shoal_pub_destroy(after);
	shoal_pub_destroy(secret);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int rc = gw_test_start(argc, argv);

	if (rc != TEST_PASS)
		return rc;
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--import", "camera/*", "--import",
			"secret/*", NULL));
	RUN(test_gateway_killed);
	RUN(test_epoch_change);
	RUN(test_type_mismatch);
	RUN(test_unexported);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	nats_stop(SIGTERM);
	return test_result();
}
