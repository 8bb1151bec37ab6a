/* shoal-test: label=multiproc timeout=600 args=10000000 */
/*
 * Two processes move argv[1] (default 10^7) messages through an SPSC ring in
 * a real memfd segment. The child opens the segment from the inherited fd
 * (validating it as any peer would) and consumes; the parent produces. Every
 * message is checked (spsc_stress.h).
 */
#include "harness.h"
#include "spsc_stress.h"

static uint64_t count;

static int test_fork_over_memfd(void)
{
	struct shoal_object_spec spec = { "ring", SHOAL_OBJECT_SPSC_RING, 64,
					  shoal_spsc_region_size(256,
								 STRESS_SLOT) };
	struct shoal_segment *seg;
	struct shoal_spsc_producer producer;
	void *ring;
	pid_t pid;
	int prod_ok;

	CHECK_EQ(shoal_segment_create(&spec, 1, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "ring", SHOAL_OBJECT_SPSC_RING, &ring,
				    NULL),
		 0);
	CHECK_EQ(shoal_spsc_format(ring, spec.size, 256, STRESS_SLOT,
				   UINT64_MAX - 100),
		 0);
	CHECK_EQ(shoal_segment_ready(seg), 0);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_segment *peer;
		struct shoal_spsc_consumer consumer;
		struct shoal_object_info info;
		void *r;

		if (shoal_segment_open(shoal_segment_fd(seg), 0, &peer) ||
		    shoal_segment_find(peer, "ring", SHOAL_OBJECT_SPSC_RING, &r,
				       &info) ||
		    shoal_spsc_consumer_init(&consumer, r, info.size)) {
			fprintf(stderr, "child: %s\n", shoal_last_error());
			_exit(1);
		}
		/* A different mapping address than the parent's: the ring
		 * holds no pointers. */
		_exit(stress_consume(&consumer, count) ? 1 : 0);
	}
	CHECK_EQ(shoal_spsc_producer_init(&producer, ring, spec.size), 0);
	prod_ok = stress_produce(&producer, count) == 0;
	CHECK(test_wait_child(pid, 550));
	CHECK(prod_ok);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 10000000);
	RUN(test_fork_over_memfd);
	return test_result();
}
