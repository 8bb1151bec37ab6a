/* shoal-test: label=unit timeout=60 */
/*
 * Payload alignment: a ring's payload addresses are 8-byte aligned when the
 * slot fits two lines (24 bytes of header, the user header and max_payload
 * within 128: one line, or packed 8 bytes apart) and 64-byte aligned
 * otherwise, for the publisher's loans and
 * the subscriber's messages alike; payload pools' chunks are 64-byte
 * aligned. A type_align above what the ring gives is refused (-EINVAL,
 * with a message saying the ring's alignment) instead of handed out
 * misaligned; one the ring gives is accepted.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

/*
 * Creates "align/t" with @max_payload, @uh and @type_align (a type of that
 * size and alignment when not 0), sends two messages through a subscriber
 * of its own, and checks both sides' payload addresses are @want-aligned.
 * Returns the create's error, or 0.
 */
static int ring(uint32_t max_payload, uint32_t uh, uint32_t type_align,
		const struct shoal_pool *pool, uintptr_t want)
{
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_msg m;
	int err;

	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = 4;
	o.max_payload = max_payload;
	o.user_header_size = uh;
	if (pool) {
		o.pools = pool;
		o.npools = 1;
	}
	if (type_align) {
		o.type_name = "align_test";
		o.type_size = type_align;
		o.type_align = type_align;
	}
	err = shoal_pub_create("align/t", &o, &pub);
	if (err)
		return err;
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("align/t", &so, &sub), 0);
	for (int i = 0; i < 2; i++) {
		void *p;

		CHECK_EQ(shoal_pub_loan(pub, 8, &p), 0);
		CHECK_EQ((uintptr_t)p % want, 0);
		memset(p, i, 8);
		CHECK_EQ(shoal_pub_send(pub, p, 8), 0);
		CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
		CHECK_EQ((uintptr_t)m.data % want, 0);
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	return 0;
}

static int test_slots(void)
{
	CHECK_EQ(ring(8, 0, 0, NULL, 8), 0);
	CHECK_EQ(ring(40, 0, 0, NULL, 8), 0);
	CHECK_EQ(ring(32, 8, 0, NULL, 8), 0);
	CHECK_EQ(ring(41, 0, 0, NULL, 8), 0);
	CHECK_EQ(ring(64, 0, 0, NULL, 8), 0);
	CHECK_EQ(ring(104, 0, 0, NULL, 8), 0);
	CHECK_EQ(ring(8, 64, 0, NULL, 8), 0);
	CHECK_EQ(ring(105, 0, 0, NULL, 64), 0);
	CHECK_EQ(ring(8, 104, 0, NULL, 64), 0);
	CHECK_EQ(ring(4096, 0, 0, NULL, 64), 0);
	return TEST_PASS;
}

static int test_type_align(void)
{
	struct shoal_pool pool = { .size = 4096, .count = 8 };

	CHECK_EQ(ring(40, 0, 8, NULL, 8), 0);
	CHECK_EQ(ring(40, 0, 16, NULL, 8), -EINVAL);
	CHECK(strstr(shoal_last_error(), "type_align 16") != NULL);
	CHECK(strstr(shoal_last_error(), "8-byte aligned") != NULL);
	CHECK_EQ(ring(64, 0, 16, NULL, 8), -EINVAL);
	CHECK(strstr(shoal_last_error(), "8-byte aligned") != NULL);
	CHECK_EQ(ring(105, 0, 16, NULL, 64), 0);
	CHECK_EQ(ring(105, 0, 64, NULL, 64), 0);
	CHECK_EQ(ring(4096, 0, 128, NULL, 64), -EINVAL);
	CHECK(strstr(shoal_last_error(), "64-byte aligned") != NULL);
	CHECK_EQ(ring(4096, 0, 64, &pool, 64), 0);
	CHECK_EQ(ring(4096, 0, 128, &pool, 64), -EINVAL);
	return TEST_PASS;
}

int main(void)
{
	if (test_registry_path(path, sizeof(path)) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_slots);
	RUN(test_type_align);
	shoal_registry_destroy(reg);
	return test_result();
}
