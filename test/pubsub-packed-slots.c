/* shoal-test: label=multiproc timeout=300 args=200000 */
/*
 * Slots of more than one line and at most two (a 24-byte header, the user
 * header and 41 to 104 bytes of payload) are packed at 8 bytes, so
 * neighbouring slots share lines (docs/bcast-ring.md, "Slots").
 *
 * - Geometry: the strides inspect reports for payloads of 40, 41, 64, 104
 *   and 105 bytes, and with a user header; loaned payloads are 8-byte
 *   aligned in packed slots and 64-byte aligned in larger ones; a
 *   type_align above that is refused (-EINVAL), with pools too.
 * - Reliable: argv[1] (default 200000) messages of 16..104 bytes from a
 *   publisher process to a subscriber process through 8 packed slots
 *   arrive all, in order, each exactly as sent (a stride too small would
 *   let a message's neighbour overwrite its tail).
 * - Lossy: a publisher that laps a subscriber of 4 packed slots as fast as
 *   it can; every copy shoal_sub_read() returns and every take released
 *   with 0 is a whole message, and seqs only increase.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define MAX_LEN 104u
#define SALT 41

struct ctl {
	_Atomic int pub_ready;
	_Atomic int sub_ready;
	_Atomic int sub_done;
	_Atomic int pub_done;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;

/* The stride inspect reports for a ring of @max_payload (and @uh). */
static int64_t stride_of(struct shoal_registry *reg, uint32_t max_payload,
			 uint32_t uh, uint32_t type_align, void **loaned)
{
	struct shoal_pub_options o;
	struct shoal_pubsub_info info;
	struct shoal_pub *pub;
	int err;

	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = 4;
	o.max_payload = max_payload;
	o.user_header_size = uh;
	o.type_align = type_align;
	if (type_align) {
		o.type_name = "packed_test";
		o.type_size = type_align;
	}
	err = shoal_pub_create("packed/geometry", &o, &pub);
	if (err)
		return err;
	if (shoal_pubsub_inspect(reg, "packed/geometry", &info, NULL, 0) < 0) {
		shoal_pub_destroy(pub);
		return INT32_MIN;
	}
	if (loaned) {
		/* Two loans in a row: two neighbouring slots. */
		void *a, *b;

		if (shoal_pub_loan(pub, max_payload, &a) ||
		    shoal_pub_send(pub, a, max_payload) ||
		    shoal_pub_loan(pub, max_payload, &b)) {
			shoal_pub_destroy(pub);
			return INT32_MIN;
		}
		loaned[0] = a;
		loaned[1] = b;
		shoal_pub_abort(pub, b);
	}
	shoal_pub_destroy(pub);
	return info.slot_stride;
}

static int test_geometry(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	struct shoal_pool pool = { .size = 4096, .count = 8 };
	void *p[2];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(stride_of(reg, 40, 0, 0, NULL), 64);
	CHECK_EQ(stride_of(reg, 41, 0, 0, NULL), 72);
	CHECK_EQ(stride_of(reg, 64, 0, 0, p), 88);
	CHECK_EQ((uintptr_t)p[0] % 8, 0);
	CHECK_EQ((uintptr_t)p[1] - (uintptr_t)p[0], 88);
	CHECK_EQ(stride_of(reg, 104, 0, 0, NULL), 128);
	CHECK_EQ(stride_of(reg, 105, 0, 0, p), 192);
	CHECK_EQ((uintptr_t)p[0] % 64, 0);
	CHECK_EQ((uintptr_t)p[1] - (uintptr_t)p[0], 192);
	CHECK_EQ(stride_of(reg, 64, 16, 0, NULL), 104);
	CHECK_EQ(stride_of(reg, 64, 48, 0, NULL), 192);
	/* type_align: 8 fits every ring, 16 only rings whose payloads are
	 * line-aligned, 128 none (pools' chunks are 64-aligned too). */
	CHECK_EQ(stride_of(reg, 64, 0, 8, NULL), 88);
	CHECK_EQ(stride_of(reg, 40, 0, 8, NULL), 64);
	CHECK_EQ(stride_of(reg, 64, 0, 16, NULL), -EINVAL);
	CHECK(strstr(shoal_last_error(), "8-byte aligned") != NULL);
	CHECK_EQ(stride_of(reg, 32, 0, 16, NULL), -EINVAL);
	CHECK_EQ(stride_of(reg, 105, 0, 64, NULL), 192);
	CHECK_EQ(stride_of(reg, 4096, 0, 128, NULL), -EINVAL);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.pools = &pool;
	o.npools = 1;
	o.type_name = "packed_test";
	o.type_size = 64;
	o.type_align = 64;
	CHECK_EQ(shoal_pub_create("packed/pools", &o, &pub), 0);
	shoal_pub_destroy(pub);
	o.type_align = 128;
	CHECK_EQ(shoal_pub_create("packed/pools", &o, &pub), -EINVAL);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int publisher(const char *name, enum shoal_delivery delivery,
		     uint32_t capacity)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[MAX_LEN];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.delivery = delivery;
	o.capacity = capacity;
	o.max_payload = MAX_LEN;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), 0);
	atomic_store(&ctl->pub_ready, 1);
	CHECK(test_wait_flag(&ctl->sub_ready, 1, 120));
	for (uint64_t seq = 0; seq < messages; seq++) {
		uint32_t len = psu_len(seq, SALT, PSU_MIN_LEN, MAX_LEN);

		psu_fill(buf, seq, SALT, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	atomic_store(&ctl->pub_done, 1);
	/* Stay until the subscriber is through: gone would end its take. */
	CHECK(test_wait_flag(&ctl->sub_done, 1, 240));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

/* Every message, in order, as sent. */
static int take_reliable(struct shoal_sub *sub)
{
	struct shoal_msg m;

	for (uint64_t seq = 0; seq < messages; seq++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 120 * PSU_SEC), 0);
		CHECK_EQ(m.seq, seq);
		CHECK_EQ((uintptr_t)m.data % 8, 0);
		if (!psu_verify(m.data, m.len, seq, SALT)) {
			fprintf(stderr, "message %llu is not as sent\n",
				(unsigned long long)seq);
			return TEST_FAIL;
		}
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}
	return 0;
}

/* Until the publisher is done and quiet: alternately a copy with
 * shoal_sub_read() and a take in place; whatever comes back whole. */
static int take_lossy(struct shoal_sub *sub)
{
	unsigned char copy[MAX_LEN];
	uint64_t last = 0, whole = 0, stale = 0, lost = 0;
	int any = 0;

	for (uint64_t i = 0;; i++) {
		struct shoal_msg m;
		uint64_t seq;
		ssize_t n;
		int err;

		if (i & 1) {
			n = shoal_sub_read(sub, copy, sizeof(copy), NULL, &m,
					   20 * 1000 * 1000);
			if (n == -EOVERFLOW) {
				lost += m.lost;
				continue;
			}
			if (n == -ETIMEDOUT && atomic_load(&ctl->pub_done))
				break;
			if (n == -ETIMEDOUT)
				continue;
			CHECK(n >= 0);
			CHECK(psu_intact(copy, (uint32_t)n, &seq));
		} else {
			err = shoal_sub_take(sub, &m, 20 * 1000 * 1000);
			if (err == -EOVERFLOW) {
				lost += m.lost;
				continue;
			}
			if (err == -ETIMEDOUT && atomic_load(&ctl->pub_done))
				break;
			if (err == -ETIMEDOUT)
				continue;
			CHECK_EQ(err, 0);
			memcpy(copy, m.data, m.len);
			n = m.len;
			err = shoal_sub_release(sub, &m);
			if (err == -ESTALE) {
				stale++;
				continue;
			}
			CHECK_EQ(err, 0);
			CHECK(psu_intact(copy, (uint32_t)n, &seq));
		}
		CHECK_EQ(seq, m.seq);
		CHECK(!any || seq > last);
		CHECK(psu_verify(copy, (uint32_t)n, seq, SALT));
		any = 1;
		last = seq;
		whole++;
	}
	fprintf(stderr, "lossy: %llu whole, %llu stale, %llu lost\n",
		(unsigned long long)whole, (unsigned long long)stale,
		(unsigned long long)lost);
	CHECK(whole > 0);
	return 0;
}

static int subscriber(const char *name, enum shoal_delivery delivery)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	int rc;

	CHECK(test_wait_flag(&ctl->pub_ready, 1, 120));
	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	atomic_store(&ctl->sub_ready, 1);
	rc = delivery == SHOAL_DELIVERY_RELIABLE ? take_reliable(sub) :
						   take_lossy(sub);
	atomic_store(&ctl->sub_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return rc;
}

static int run(enum shoal_delivery delivery, const char *name,
	       uint32_t capacity)
{
	pid_t pids[2];

	memset(ctl, 0, sizeof(*ctl));
	pids[0] = psu_fork();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(subscriber(name, delivery));
	pids[1] = psu_fork();
	CHECK(pids[1] >= 0);
	if (pids[1] == 0)
		_exit(publisher(name, delivery, capacity));
	CHECK(psu_wait_all(pids, 2, 240));
	return TEST_PASS;
}

static int test_reliable(void)
{
	return run(SHOAL_DELIVERY_RELIABLE, "packed/reliable", 8);
}

static int test_lossy(void)
{
	return run(SHOAL_DELIVERY_LOSSY, "packed/lossy", 4);
}

int main(int argc, char **argv)
{
	messages = test_arg_u64(argc, argv, 1, 200000);
	if (!messages || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	psu_watchdog(280);
	RUN(test_geometry);
	RUN(test_reliable);
	RUN(test_lossy);
	return test_result();
}
