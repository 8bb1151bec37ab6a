/* shoal-test: label=stress timeout=600 args=10000000 */
/*
 * Two threads move argv[1] (default 10^7) messages through an SPSC ring whose
 * positions start just below UINT64_MAX, so they wrap mid-run. Every message
 * is checked for sequence, length and contents (see spsc_stress.h). Run it
 * under ThreadSanitizer to check the memory ordering.
 */
#include <pthread.h>
#include <stdlib.h>

#include "harness.h"
#include "spsc_stress.h"

static struct shoal_spsc_consumer consumer;
static uint64_t count;

static void *consumer_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)stress_consume(&consumer, count);
}

static int run(uint32_t capacity, uint64_t start)
{
	struct shoal_spsc_producer producer;
	uint64_t size = shoal_spsc_region_size(capacity, STRESS_SLOT);
	pthread_t t;
	void *mem, *ret;
	int prod_ok;

	CHECK(posix_memalign(&mem, 64, size) == 0);
	CHECK_EQ(shoal_spsc_format(mem, size, capacity, STRESS_SLOT, start), 0);
	CHECK_EQ(shoal_spsc_producer_init(&producer, mem, size), 0);
	CHECK_EQ(shoal_spsc_consumer_init(&consumer, mem, size), 0);
	CHECK(pthread_create(&t, NULL, consumer_main, NULL) == 0);
	prod_ok = stress_produce(&producer, count) == 0;
	CHECK(pthread_join(t, &ret) == 0);
	free(mem);
	CHECK(prod_ok);
	CHECK(ret == NULL);
	return TEST_PASS;
}

static int test_large_ring_wrapping_positions(void)
{
	return run(1024, UINT64_MAX - 5000);
}

static int test_small_ring_always_full(void)
{
	/* A 4-slot ring keeps both sides at the full/empty edges. */
	uint64_t saved = count;
	int r;

	count = saved / 10;
	r = run(4, UINT64_MAX - 2);
	count = saved;
	return r;
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 10000000);
	RUN(test_large_ring_wrapping_positions);
	RUN(test_small_ring_always_full);
	return test_result();
}
