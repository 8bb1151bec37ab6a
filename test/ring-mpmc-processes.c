/* shoal-test: label=multiproc timeout=300 args=50000 */
/*
 * Four producer and four consumer processes (fork, MAP_SHARED memory) move
 * argv[1] (default 50000) messages per producer through an MPMC ring whose
 * positions start just below UINT64_MAX, so they wrap mid-run. The same loops
 * and checks as ring-mpmc-threads.c (mpmc_stress.h), across address spaces:
 * the ring, the counters and the consumers' records are MAP_SHARED so the
 * parent sees what the children did.
 */
#include <sys/mman.h>

#include "mpmc_stress.h"

static pid_t spawn(void *(*fn)(void *), uintptr_t id)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn((void *)id) ? 1 : 0);
	return pid;
}

static void *map_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int run(uint32_t capacity, uint64_t start)
{
	uint64_t total = per_prod * NPROD;
	size_t rbytes = total * sizeof(struct rec);
	pid_t pt[NPROD], ct[NCONS];
	int ok = 1, r;

	region_size = shoal_mpmc_region_size(capacity, SLOT);
	region = map_shared(region_size);
	CHECK(region);
	/* Fresh anonymous mappings are zero: no counts, nothing consumed. */
	sh = map_shared(sizeof(*sh));
	CHECK(sh);
	CHECK_EQ(shoal_mpmc_format(region, region_size, capacity, SLOT, start),
		 0);
	for (int i = 0; i < NCONS; i++) {
		recs[i] = map_shared(rbytes);
		CHECK(recs[i]);
	}
	for (uintptr_t i = 0; i < NCONS; i++)
		CHECK((ct[i] = spawn(consumer_main, i)) > 0);
	for (uintptr_t i = 0; i < NPROD; i++)
		CHECK((pt[i] = spawn(producer_main, i)) > 0);
	/* A wedged child is killed and fails the test. */
	for (int i = 0; i < NPROD; i++)
		ok &= test_wait_child(pt[i], 240);
	for (int i = 0; i < NCONS; i++)
		ok &= test_wait_child(ct[i], 240);
	CHECK(ok);
	r = mpmc_stress_verify(start);
	for (int i = 0; i < NCONS; i++)
		munmap(recs[i], rbytes);
	munmap(sh, sizeof(*sh));
	munmap(region, region_size);
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
	per_prod = test_arg_u64(argc, argv, 1, 50000);
	RUN(test_large_ring_wrapping_positions);
	RUN(test_small_ring_always_full);
	return test_result();
}
