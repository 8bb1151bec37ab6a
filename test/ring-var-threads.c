/* shoal-test: label=stress timeout=300 args=400000 */
/*
 * Variable-length ring between threads: one producer (SPSC) and then four
 * (MPSC) send argv[1] (default 400000; a tenth under sanitizers) messages
 * each, 1 B to 60 KiB mixed in one stream, to one consumer, through rings
 * whose byte positions start just below UINT64_MAX so they wrap mid-run.
 * Every message is checked for its producer's order, length and bytes
 * (varring_stress.h), and the aborted counter must match the producers'
 * aborts. A small ring keeps every side at the full/empty edges with
 * padding at almost every wrap. Run it under ThreadSanitizer to check the
 * memory ordering.
 */
#include <pthread.h>
#include <stdint.h>

#include "harness.h"
#include "varring_stress.h"

struct producer_arg {
	void *region;
	uint64_t size;
	uint32_t prod;
	uint32_t max;
	uint64_t count;
	uint64_t aborts;
	int ok;
};

static void *producer_main(void *arg)
{
	struct producer_arg *a = arg;
	struct shoal_varring_producer p;

	if (shoal_varring_producer_init(&p, a->region, a->size)) {
		fprintf(stderr, "producer init: %s\n", shoal_last_error());
		return NULL;
	}
	a->ok = vs_produce(&p, a->prod, a->count, a->max, &a->aborts) == 0;
	return NULL;
}

static int run(uint64_t capacity, uint32_t flags, uint32_t nprod,
	       uint64_t count, uint64_t start)
{
	uint64_t size = shoal_varring_region_size(capacity), aborts = 0;
	uint32_t max = SHOAL_VARRING_MAX_MESSAGE(capacity);
	struct producer_arg args[VS_MAX_PROD];
	pthread_t threads[VS_MAX_PROD];
	struct shoal_varring_consumer c;
	void *mem;
	int cons_ok;

	if (max > VS_MAX_LEN)
		max = VS_MAX_LEN;
	CHECK(size && posix_memalign(&mem, 64, size) == 0);
	CHECK_EQ(shoal_varring_format(mem, size, capacity, flags, start), 0);
	CHECK_EQ(shoal_varring_consumer_init(&c, mem, size), 0);
	for (uint32_t i = 0; i < nprod; i++) {
		args[i] =
			(struct producer_arg){ mem, size, i, max, count, 0, 0 };
		CHECK(pthread_create(&threads[i], NULL, producer_main,
				     &args[i]) == 0);
	}
	cons_ok = vs_consume(&c, nprod, count, max) == 0;
	for (uint32_t i = 0; i < nprod; i++) {
		CHECK(pthread_join(threads[i], NULL) == 0);
		CHECK(args[i].ok);
		aborts += args[i].aborts;
	}
	CHECK(cons_ok);
	CHECK_EQ(shoal_varring_aborted(&c), aborts);
	free(mem);
	return TEST_PASS;
}

static uint64_t count;

static int test_spsc_wrapping_positions(void)
{
	return run(256 * 1024, SHOAL_VARRING_SPSC, 1, count,
		   UINT64_MAX - 7 - 64 * 1024);
}

static int test_mpsc_four_producers(void)
{
	return run(256 * 1024, SHOAL_VARRING_MPSC, 4, count / 2,
		   UINT64_MAX - 7 - 100 * 1024);
}

static int test_spsc_small_ring_always_full(void)
{
	return run(4096, SHOAL_VARRING_SPSC, 1, count / 4, UINT64_MAX - 7);
}

static int test_mpsc_small_ring_always_full(void)
{
	return run(4096, SHOAL_VARRING_MPSC, 3, count / 8, UINT64_MAX - 4095);
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 400000);
	if (VS_SANITIZED)
		count /= 10;
	RUN(test_spsc_wrapping_positions);
	RUN(test_mpsc_four_producers);
	RUN(test_spsc_small_ring_always_full);
	RUN(test_mpsc_small_ring_always_full);
	return test_result();
}
