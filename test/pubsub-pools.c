/* shoal-test: label=multiproc timeout=600 args=200 */
/*
 * Payload pools (shoal_pub_options.pools): messages take a chunk of the
 * smallest size class that holds them.
 *  - Between processes, reliable: one stream of mixed sizes from 16 B to
 *    8 MiB through pools of 1 KiB, 64 KiB and 8 MiB chunks, fewer chunks
 *    than the ring has slots: a subscriber process receives every message,
 *    in order, each byte the one sent (psu_verify), nothing lost; the
 *    publisher also sends by loans kept several at a time (max_loans),
 *    aborting some (their chunks go back).
 *  - Reliable gating: the publisher never reuses a chunk a subscriber has
 *    not released (a loan then waits, -EAGAIN with send_timeout_ns 0), and
 *    goes on once it is released.
 *  - Lossy: the oldest chunk is reused at once; a subscriber still holding
 *    the message there sees -ESTALE at release, then takes on.
 *  - Loans: every chunk of a class loaned: -EBUSY; an abort gives it back.
 *  - Memory: 64 x 64 KiB + 16 x 8 MiB costs the pools' sum plus headers,
 *    against 80 slots of 8 MiB without pools.
 *  - Options refused: sizes not increasing, too many classes, an empty
 *    class, a max_payload other than the largest size, loan_batch.
 */
#include <limits.h>
#include <stdlib.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define SALT 41
#define MIB (1u << 20)

struct ctl {
	_Atomic int joined;
	_Atomic uint64_t received;
	_Atomic int failed;
};

static char path[PATH_MAX];
static struct ctl *ctl;
static uint64_t messages;

static const struct shoal_pool mixed_pools[] = {
	{ 1024, 16 },
	{ 64 * 1024, 8 },
	{ 8 * MIB, 3 },
};

/* Message @seq's length: mostly small, a 64 KiB one now and then, an
 * 8 MiB one every 16th, and the class edges. */
static uint32_t mixed_len(uint64_t seq)
{
	static const uint32_t edges[] = {
		16, 1024, 1025, 65536, 65537, 8 * MIB, 8 * MIB - 1, 4 * MIB
	};

	if (seq % 16 == 15)
		return 8 * MIB;
	if (seq % 7 == 3)
		return edges[(seq / 7) % 8];
	return psu_len(seq, SALT, PSU_MIN_LEN, seq % 3 ? 1024 : 65536);
}

static int open_registry(struct shoal_registry **reg)
{
	return test_registry_open(path, reg);
}

static void pub_defaults(struct shoal_pub_options *o,
			 struct shoal_registry *reg)
{
	shoal_pub_options_init(o);
	o->registry = reg;
	o->max_payload = 0;
}

static int mixed_subscriber(const char *name)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	uint64_t want = 0;

	CHECK_EQ(open_registry(&reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 60 * PSU_SEC;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	atomic_fetch_add(&ctl->joined, 1);
	while (want < messages) {
		struct shoal_msg m;
		int err = shoal_sub_take(sub, &m, 60 * PSU_SEC);

		if (err)
			fprintf(stderr, "take %llu: %d %s\n",
				(unsigned long long)want, err,
				shoal_last_error());
		CHECK_EQ(err, 0);
		CHECK_EQ(m.seq, want);
		CHECK_EQ(m.len, mixed_len(want));
		/* Chunk data is 64-aligned (tensor frames rely on it). */
		CHECK_EQ((uintptr_t)m.data % 64, 0);
		CHECK(psu_verify(m.data, m.len, want, SALT));
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
		atomic_store(&ctl->received, ++want);
	}
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return 0;
}

/* Reliable, between processes: every message of the mixed stream. */
static int test_mixed_stream(void)
{
	const char *name = "pools/mixed";
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	uint64_t seq = 0;
	pid_t child;

	memset(ctl, 0, sizeof(*ctl));
	/* The child first: it waits for the name (TSan and forks after
	 * threads do not mix). */
	child = psu_fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(mixed_subscriber(name));
	CHECK_EQ(open_registry(&reg), 0);
	pub_defaults(&o, reg);
	o.capacity = 64;
	o.max_loans = 4;
	o.pools = mixed_pools;
	o.npools = 3;
	CHECK_EQ(shoal_pub_create(name, &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 60 * PSU_SEC), 0);
	while (seq < messages) {
		void *ptr[3];
		uint32_t k, nl = 1 + (uint32_t)(seq % 3);
		uint32_t len;

		/* Up to three loans out; the second of three aborted
		 * sometimes (a skip marker: its seq is not delivered, so
		 * the stream's seqs stay dense only if we count it). To keep
		 * the receiver's check simple, abort only the newest loan,
		 * whose seq goes back unnumbered. */
		for (k = 0; k < nl && seq + k < messages; k++) {
			len = mixed_len(seq + k);
			CHECK_EQ(shoal_pub_loan(pub, len, &ptr[k]), 0);
			CHECK_EQ((uintptr_t)ptr[k] % 64, 0);
			psu_fill(ptr[k], seq + k, SALT, len);
		}
		if (k == 3 && seq % 5 == 0) {
			CHECK_EQ(shoal_pub_abort(pub, ptr[2]), 0);
			k = 2;
		}
		/* Sent newest first: published in loan order all the same. */
		for (uint32_t j = k; j-- > 0;)
			CHECK_EQ(shoal_pub_send(pub, ptr[j],
						mixed_len(seq + j)),
				 0);
		seq += k;
	}
	CHECK(test_wait_child(child, 300));
	CHECK_EQ(atomic_load(&ctl->received), messages);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

/* Reliable: a chunk a subscriber holds is never reused. */
static int test_reliable_gate(void)
{
	static const struct shoal_pool one[] = { { 64, 2 } };
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_msg m;
	void *ptr;

	CHECK_EQ(open_registry(&reg), 0);
	pub_defaults(&o, reg);
	o.capacity = 16;
	o.pools = one;
	o.npools = 1;
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_pub_create("pools/gate", &o, &pub), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("pools/gate", &so, &sub), 0);
	CHECK_EQ(shoal_pub_write(pub, "zero", 5, NULL), 0);
	CHECK_EQ(shoal_pub_write(pub, "one", 4, NULL), 0);
	/* Both chunks hold messages the subscriber has not taken: the ring
	 * has room (16 slots), the pool has not. */
	CHECK_EQ(shoal_pub_loan(pub, 8, &ptr), -EAGAIN);
	CHECK(strstr(shoal_last_error(), "chunk") != NULL);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.len, 5);
	CHECK_EQ(memcmp(m.data, "zero", 5), 0);
	/* Taken, not released: still held. */
	CHECK_EQ(shoal_pub_loan(pub, 8, &ptr), -EAGAIN);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	CHECK_EQ(shoal_pub_write(pub, "two", 4, NULL), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(memcmp(m.data, "one", 4), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(memcmp(m.data, "two", 4), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	/* Too big for every class. */
	CHECK_EQ(shoal_pub_loan(pub, 65, &ptr), -EMSGSIZE);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

/* Lossy: the oldest chunk is reused; its holder learns it at release. */
static int test_lossy_reuse(void)
{
	static const struct shoal_pool one[] = { { 64, 2 } };
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_msg m;
	char buf[64];

	CHECK_EQ(open_registry(&reg), 0);
	pub_defaults(&o, reg);
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.capacity = 16;
	o.pools = one;
	o.npools = 1;
	CHECK_EQ(shoal_pub_create("pools/lossy", &o, &pub), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("pools/lossy", &so, &sub), 0);
	CHECK_EQ(shoal_pub_write(pub, "m0", 3, NULL), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(memcmp(m.data, "m0", 3), 0);
	/* Two more: the second takes m0's chunk back. */
	CHECK_EQ(shoal_pub_write(pub, "m1", 3, NULL), 0);
	CHECK_EQ(shoal_sub_valid(sub, &m), 1);
	CHECK_EQ(shoal_pub_write(pub, "m2", 3, NULL), 0);
	CHECK_EQ(shoal_sub_valid(sub, &m), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), -ESTALE);
	/* m1 is whole; m2 is in m0's old chunk, whole too. */
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 1);
	CHECK_EQ(memcmp(m.data, "m1", 3), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	CHECK_EQ(shoal_sub_read(sub, buf, sizeof(buf), NULL, &m, 0), 3);
	CHECK_EQ(memcmp(buf, "m2", 3), 0);
	/* A message taken after its chunk was reused: stale at release. */
	CHECK_EQ(shoal_pub_write(pub, "m3", 3, NULL), 0);
	CHECK_EQ(shoal_pub_write(pub, "m4", 3, NULL), 0);
	CHECK_EQ(shoal_pub_write(pub, "m5", 3, NULL), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 3);
	CHECK_EQ(shoal_sub_release(sub, &m), -ESTALE);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 4);
	CHECK_EQ(memcmp(m.data, "m4", 3), 0);
	CHECK_EQ(shoal_sub_release(sub, &m), 0);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

/* Every chunk of a class loaned: -EBUSY, until one goes back. */
static int test_loans(void)
{
	static const struct shoal_pool two[] = { { 64, 2 }, { 4096, 4 } };
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	void *a, *b, *c, *big;
	void *ptrs[2];

	CHECK_EQ(open_registry(&reg), 0);
	pub_defaults(&o, reg);
	o.capacity = 16;
	o.max_loans = 8;
	o.pools = two;
	o.npools = 2;
	CHECK_EQ(shoal_pub_create("pools/loans", &o, &pub), 0);
	CHECK_EQ(shoal_pub_loan(pub, 10, &a), 0);
	CHECK_EQ(shoal_pub_loan(pub, 100, &big), 0);
	CHECK_EQ(shoal_pub_loan(pub, 64, &b), 0);
	CHECK(a != b && a != big && b != big);
	CHECK_EQ(shoal_pub_loan(pub, 1, &c), -EBUSY);
	CHECK(strstr(shoal_last_error(), "loaned") != NULL);
	/* The newest given back: its chunk is free again. */
	CHECK_EQ(shoal_pub_abort(pub, b), 0);
	CHECK_EQ(shoal_pub_loan(pub, 1, &c), 0);
	CHECK_EQ(shoal_pub_send(pub, a, 10), 0);
	CHECK_EQ(shoal_pub_send(pub, big, 100), 0);
	CHECK_EQ(shoal_pub_send(pub, c, 1), 0);
	CHECK_EQ(shoal_pub_send(pub, c, 1), -EINVAL);
	CHECK_EQ(shoal_pub_loan_batch(pub, 10, ptrs, 2), -ENOTSUP);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

/* The payload segment's size, as inspect reports it, which also reports
 * the pools (@npools of them expected). */
static uint64_t payload_bytes(struct shoal_registry *reg, uint32_t npools)
{
	struct shoal_pubsub_info info;

	if (shoal_pubsub_inspect(reg, "pools/memory", &info, NULL, 0) < 0 ||
	    info.npools != npools)
		return 0;
	if (npools &&
	    (info.pools[0].size != 64 * 1024 || info.pools[0].count != 64 ||
	     info.pools[1].size != 8 * MIB || info.pools[1].count != 16 ||
	     info.max_payload != 8 * MIB))
		return 0;
	return info.payload_bytes;
}

/* 64 x 64 KiB + 16 x 8 MiB: the pools' sum plus headers, not 80 x 8 MiB. */
static int test_memory(void)
{
	static const struct shoal_pool pools[] = { { 64 * 1024, 64 },
						   { 8 * MIB, 16 } };
	const uint64_t sum = 64ull * 64 * 1024 + 16ull * 8 * MIB;
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	uint64_t pooled, flat;

	CHECK_EQ(open_registry(&reg), 0);
	pub_defaults(&o, reg);
	o.capacity = 128;
	o.max_subscribers = 4;
	o.pools = pools;
	o.npools = 2;
	CHECK_EQ(shoal_pub_create("pools/memory", &o, &pub), 0);
	pooled = payload_bytes(reg, 2);
	shoal_pub_destroy(pub);
	pub_defaults(&o, reg);
	o.capacity = 128;
	o.max_subscribers = 4;
	o.max_payload = 8 * MIB;
	CHECK_EQ(shoal_pub_create("pools/memory", &o, &pub), 0);
	flat = payload_bytes(reg, 0);
	shoal_pub_destroy(pub);
	printf("payload segment: pools %llu bytes (sum %llu), one size %llu "
	       "bytes\n",
	       (unsigned long long)pooled, (unsigned long long)sum,
	       (unsigned long long)flat);
	CHECK(pooled >= sum);
	CHECK(pooled <= sum + 64 * 1024);
	CHECK(flat >= 128ull * 8 * MIB);
	shoal_registry_destroy(reg);
	return 0;
}

static int refused(const struct shoal_pool *pools, uint32_t n,
		   uint32_t max_payload)
{
	struct shoal_pub_options o;
	struct shoal_pub *pub = NULL;
	int err;

	shoal_pub_options_init(&o);
	o.pools = pools;
	o.npools = n;
	o.max_payload = max_payload;
	err = shoal_pub_create("pools/refused", &o, &pub);
	if (!err)
		shoal_pub_destroy(pub);
	return err;
}

static int test_options(void)
{
	static const struct shoal_pool down[] = { { 4096, 2 }, { 1024, 2 } };
	static const struct shoal_pool same64[] = { { 100, 2 }, { 128, 2 } };
	static const struct shoal_pool empty[] = { { 64, 0 } };
	static const struct shoal_pool nine[9] = {
		{ 64, 1 },  { 128, 1 }, { 192, 1 }, { 256, 1 }, { 320, 1 },
		{ 384, 1 }, { 448, 1 }, { 512, 1 }, { 576, 1 },
	};
	static const struct shoal_pool ok[] = { { 64, 1 }, { 1024, 1 } };

	CHECK_EQ(refused(down, 2, 0), -EINVAL);
	CHECK_EQ(refused(same64, 2, 0), -EINVAL); /* both round to 128 */
	CHECK_EQ(refused(empty, 1, 0), -EINVAL);
	CHECK_EQ(refused(nine, 9, 0), -EINVAL);
	CHECK_EQ(refused(ok, 2, 512), -EINVAL);
	CHECK_EQ(refused(ok, 0, 4096), -EINVAL); /* pools given, npools 0 */
	CHECK_EQ(refused(NULL, 2, 4096), -EINVAL);
	return 0;
}

int main(int argc, char **argv)
{
	messages = test_arg_u64(argc, argv, 1, 200);
	if (messages < 16)
		return TEST_FAIL;
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	RUN(test_options);
	RUN(test_loans);
	RUN(test_reliable_gate);
	RUN(test_lossy_reuse);
	RUN(test_memory);
	RUN(test_mixed_stream);
	return test_result();
}
