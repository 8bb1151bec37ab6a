/* shoal-test: label=multiproc timeout=180 */
/*
 * Two registries stand for two hosts, each with its own gateway, and one
 * nats-server between them: `shoal pub` on A, `shoal sub` on B receives
 * every line, in order, once: for a lossy service (core NATS) and for a
 * reliable one (JetStream). Also: what B sees of the mirror (its pattern,
 * type, delivery) is what A's publisher set.
 */
#include "gw_test.h"

#define LINES 500

static struct proc gw_a, gw_b;

/* pub NAME on A (with @mode), sub on B, LINES lines: all arrive in order,
 * the mirror says where it comes from and goes with the publisher. */
static int stream_lines(const char *name, const char *mode)
{
	return lines_across(name, mode, "line", LINES, &gw_b);
}

static int test_lossy(void)
{
	return stream_lines("camera/lossy", "--lossy");
}

static int test_reliable(void)
{
	return stream_lines("camera/reliable", "--reliable");
}

/* Payload and user header of message @i: binary, zeros included, the
 * payload starting as a batch frame does. */
static void shape_msg(int i, unsigned char *data, unsigned char *uh)
{
	memset(data, 0, 24);
	memcpy(data, "SHB", 3);
	data[3] = (unsigned char)i;
	data[23] = (unsigned char)(0xff - i);
	for (int k = 0; k < 16; k++)
		uh[k] = (unsigned char)(i * 16 + k);
}

/*
 * Lossy messages with a user header reach B's mirror whole, in order: once
 * one got across (the far subscriber attached), a burst of 10 (most of them
 * in one batch frame) arrives complete.
 */
static int frames_across(struct shoal_pub *pub)
{
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;
	unsigned char data[24], uh[16];
	int got = 0, err;

	shoal_sub_options_init(&so);
	so.registry = reg_b;
	so.type_name = "pose";
	so.type_size = 24;
	so.type_align = 8;
	CHECK_EQ(shoal_sub_open("camera/shape", &so, &sub), 0);
	/* Until one arrives: what was sent before the far side attached
	 * is lost (lossy). */
	for (int tries = 0; tries < 600 && !got; tries++) {
		shape_msg(0, data, uh);
		CHECK_EQ(shoal_pub_write(pub, data, 24, uh), 0);
		while ((err = shoal_sub_take(sub, &m, 100000000LL)) == 0 ||
		       err == -EOVERFLOW) {
			if (err)
				continue;
			got = m.len == 24 && !memcmp(m.data, data, 24) &&
			      m.user_header_size == 16 &&
			      !memcmp(m.user_header, uh, 16);
			shoal_sub_release(sub, &m);
			if (!got) {
				fprintf(stderr, "message 0 differs\n");
				shoal_sub_close(sub);
				return TEST_FAIL;
			}
		}
	}
	CHECK(got);
	for (int i = 1; i <= 10; i++) {
		shape_msg(i, data, uh);
		CHECK_EQ(shoal_pub_write(pub, data, 24, uh), 0);
	}
	for (int i = 1; i <= 10; i++) {
		unsigned char wd[24], wu[16];

		err = shoal_sub_take(sub, &m, 30000000000LL);
		if (err) {
			fprintf(stderr, "message %d: take: %d\n", i, err);
			shoal_sub_close(sub);
			return TEST_FAIL;
		}
		shape_msg(i, wd, wu);
		got = m.len == 24 && !memcmp(m.data, wd, 24) &&
		      m.user_header_size == 16 &&
		      !memcmp(m.user_header, wu, 16);
		shoal_sub_release(sub, &m);
		if (!got) {
			fprintf(stderr,
				"message %d differs or is out of order\n", i);
			shoal_sub_close(sub);
			return TEST_FAIL;
		}
	}
	shoal_sub_close(sub);
	return TEST_PASS;
}

/* The mirror on B has the publisher's delivery, capacity and type, and
 * says where it comes from. */
static int test_mirror_shape(void)
{
	struct shoal_pub_options o;
	struct shoal_pubsub_info info;
	struct shoal_pub *pub;
	struct shoal_service *svc;
	struct shoal_service_info si;

	shoal_pub_options_init(&o);
	o.registry = reg_a;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.capacity = 64;
	o.max_payload = 256;
	o.user_header_size = 16;
	o.type_name = "pose";
	o.type_size = 24;
	o.type_align = 8;
	CHECK_EQ(shoal_pub_create("camera/shape", &o, &pub), 0);
	CHECK(!wait_service(reg_b, "camera/shape", 1, &gw_b));
	CHECK(shoal_pubsub_inspect(reg_b, "camera/shape", &info, NULL, 0) >= 0);
	CHECK_EQ(info.delivery, SHOAL_DELIVERY_LOSSY);
	CHECK_EQ(info.capacity, 64);
	CHECK_EQ(info.max_payload, 256);
	CHECK_EQ(info.user_header_size, 16);
	CHECK_EQ(shoal_registry_open(reg_b, "camera/shape",
				     SHOAL_OPEN_READ_ONLY, &svc),
		 0);
	shoal_service_get_info(svc, &si);
	shoal_service_close(svc);
	CHECK(!strcmp(si.type_name, "pose"));
	CHECK_EQ(si.type_size, 24);
	CHECK_EQ(si.type_align, 8);
	CHECK_EQ(si.pattern, SHOAL_PATTERN_PUBSUB);
	/* It says where it comes from, in the registry and the tool. */
	CHECK(!check_origin("camera/shape"));
	CHECK(!frames_across(pub));
	shoal_pub_destroy(pub);
	CHECK(!wait_service(reg_b, "camera/shape", 0, &gw_b));
	return TEST_PASS;
}

/* `shoal gateway` runs shoal-gateway, from the build tree here. */
static int test_tool_shim(void)
{
	static struct proc p;

	tool = shoal_tool;
	CHECK_EQ(run(&p, "gateway", "--help", NULL), 0);
	CHECK(has(p.out_buf, "usage: shoal-gateway"));
	CHECK_EQ(run(&p, "gateway", "--bogus", NULL), 2);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	int rc = gw_test_start(argc, argv);

	if (rc != TEST_PASS)
		return rc;
	CHECK(!gw_start(dir_a, &gw_a, "--export", "camera/*", NULL));
	CHECK(!gw_start(dir_b, &gw_b, "--import", "camera/*", NULL));
	RUN(test_tool_shim);
	RUN(test_lossy);
	RUN(test_reliable);
	RUN(test_mirror_shape);
	CHECK_EQ(gw_stop(&gw_a), 0);
	CHECK_EQ(gw_stop(&gw_b), 0);
	nats_stop(SIGTERM);
	return test_result();
}
