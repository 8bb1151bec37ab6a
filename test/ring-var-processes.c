/* shoal-test: label=multiproc timeout=300 args=1000000 */
/*
 * Variable-length ring between processes, in a real memfd segment (object
 * kind SHOAL_OBJECT_VAR_RING): first one producer process and one consumer
 * (SPSC), then three producer processes and one consumer (MPSC). argv[1]
 * (default 1000000; a tenth under sanitizers) messages in all, 1 B to 60 KiB
 * mixed in one stream, positions starting just below UINT64_MAX. Each child
 * opens the segment from the inherited fd, validating it as any peer would,
 * and maps it at its own address. Every message is checked for its
 * producer's order, length and bytes (varring_stress.h).
 */
#include <shoal.h>
#include <shoal/ring_var.h>

#include "harness.h"
#include "varring_stress.h"

#define RING_BYTES (256 * 1024)

static uint64_t count;

/* In a child: open the segment from @fd and find the ring. */
static int child_ring(int fd, void **ring, uint64_t *size)
{
	struct shoal_segment *peer;
	struct shoal_object_info info;

	if (shoal_segment_open(fd, 0, &peer) ||
	    shoal_segment_find(peer, "ring", SHOAL_OBJECT_VAR_RING, ring,
			       &info)) {
		fprintf(stderr, "child: %s\n", shoal_last_error());
		return -1;
	}
	*size = info.size;
	return 0;
}

static int run(uint32_t flags, uint32_t nprod, uint64_t per_prod)
{
	struct shoal_object_spec spec = { "ring", SHOAL_OBJECT_VAR_RING, 64,
					  shoal_varring_region_size(
						  RING_BYTES) };
	uint32_t max = SHOAL_VARRING_MAX_MESSAGE(RING_BYTES);
	struct shoal_varring_consumer c;
	struct shoal_segment *seg;
	pid_t pids[VS_MAX_PROD];
	int cons_ok, prod_ok = 1;
	void *ring;

	if (max > VS_MAX_LEN)
		max = VS_MAX_LEN;
	CHECK_EQ(shoal_segment_create(&spec, 1, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "ring", SHOAL_OBJECT_VAR_RING, &ring,
				    NULL),
		 0);
	CHECK_EQ(shoal_varring_format(ring, spec.size, RING_BYTES, flags,
				      UINT64_MAX - 7 - 1000 * 8),
		 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	for (uint32_t i = 0; i < nprod; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			struct shoal_varring_producer p;
			uint64_t aborts, size;
			void *r;

			if (child_ring(shoal_segment_fd(seg), &r, &size) ||
			    shoal_varring_producer_init(&p, r, size))
				_exit(1);
			_exit(vs_produce(&p, i, per_prod, max, &aborts) ? 1 :
									  0);
		}
	}
	CHECK_EQ(shoal_varring_consumer_init(&c, ring, spec.size), 0);
	cons_ok = vs_consume(&c, nprod, per_prod, max) == 0;
	for (uint32_t i = 0; i < nprod; i++)
		prod_ok &= test_wait_child(pids[i], 250);
	CHECK(prod_ok);
	CHECK(cons_ok);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

static int test_spsc_two_processes(void)
{
	return run(SHOAL_VARRING_SPSC, 1, count / 2);
}

static int test_mpsc_three_producer_processes(void)
{
	return run(SHOAL_VARRING_MPSC, 3, count / 6);
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 1000000);
	if (VS_SANITIZED)
		count /= 10;
	RUN(test_spsc_two_processes);
	RUN(test_mpsc_three_producer_processes);
	return test_result();
}
