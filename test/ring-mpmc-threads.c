/* shoal-test: label=stress timeout=600 args=250000 */
/*
 * Four producer and four consumer threads move argv[1] (default 250000)
 * messages per producer through an MPMC ring whose positions start just below
 * UINT64_MAX, so they wrap mid-run. The loops and the final check (every
 * message consumed exactly once, intact, per producer in order of dequeue
 * position) are in mpmc_stress.h. Run it under ThreadSanitizer to check the
 * memory ordering.
 */
#include <pthread.h>

#include "mpmc_stress.h"

static int run(uint32_t capacity, uint64_t start)
{
	uint64_t total = per_prod * NPROD;
	pthread_t pt[NPROD], ct[NCONS];
	int ok = 1, r;
	void *ret;

	region_size = shoal_mpmc_region_size(capacity, SLOT);
	CHECK(posix_memalign(&region, 64, region_size) == 0);
	CHECK_EQ(shoal_mpmc_format(region, region_size, capacity, SLOT, start),
		 0);
	sh = calloc(1, sizeof(*sh));
	CHECK(sh);
	for (int i = 0; i < NCONS; i++) {
		recs[i] = malloc(total * sizeof(struct rec));
		CHECK(recs[i]);
	}
	for (uintptr_t i = 0; i < NCONS; i++)
		CHECK(pthread_create(&ct[i], NULL, consumer_main, (void *)i) ==
		      0);
	for (uintptr_t i = 0; i < NPROD; i++)
		CHECK(pthread_create(&pt[i], NULL, producer_main, (void *)i) ==
		      0);
	for (int i = 0; i < NPROD; i++) {
		CHECK(pthread_join(pt[i], &ret) == 0);
		ok &= ret == NULL;
	}
	for (int i = 0; i < NCONS; i++) {
		CHECK(pthread_join(ct[i], &ret) == 0);
		ok &= ret == NULL;
	}
	CHECK(ok);
	r = mpmc_stress_verify(start);
	for (int i = 0; i < NCONS; i++)
		free(recs[i]);
	free(sh);
	free(region);
	return r;
}

static int test_large_ring_wrapping_positions(void)
{
	return run(1024, UINT64_MAX - 5000);
}

static int test_small_ring_always_full(void)
{
	uint64_t saved = per_prod;
	int r;

	per_prod = saved / 10;
	r = run(4, UINT64_MAX - 2);
	per_prod = saved;
	return r;
}

int main(int argc, char **argv)
{
	per_prod = test_arg_u64(argc, argv, 1, 250000);
	RUN(test_large_ring_wrapping_positions);
	RUN(test_small_ring_always_full);
	return test_result();
}
