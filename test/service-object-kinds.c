/* shoal-test: label=unit timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * The segment layer knows no pattern: each pattern takes its object kinds
 * from the patterns' range of shoal/segment.h in its own layout header and
 * names them in its descriptor (struct shoal__pattern). What the one list
 * in segment.h used to guarantee is checked here instead: no two patterns
 * (nor a pattern and the ring layer) share a kind, every kind is in the
 * range and named, the values are the ones existing segments and
 * docs/segment-format.md hold, and the segment layer accepts them.
 */
#include <string.h>

#include "harness.h"
#include "shoal/segment.h"
#include "segment/layout.h"
#include "service/service.h"
#include "patterns/event_internal.h"
#include "patterns/pubsub_internal.h"
#include "patterns/queue_internal.h"
#include "patterns/rpc_internal.h"
#include "patterns/store_internal.h"

static const struct shoal__pattern *const patterns[] = {
	&shoal__pubsub_pattern, &shoal__queue_pattern, &shoal__rpc_pattern,
	&shoal__event_pattern,	&shoal__store_pattern,
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* Every kind in range, not the ring layer's, named, owned once. */
static int test_kinds_disjoint(void)
{
	for (uint32_t p = 0; p < NPATTERNS; p++) {
		CHECK(patterns[p]->nkinds > 0);
		for (uint32_t i = 0; i < patterns[p]->nkinds; i++) {
			const struct shoal__kind *k = &patterns[p]->kinds[i];

			CHECK(k->kind >= SHOAL_OBJECT_PATTERN_MIN);
			CHECK(k->kind <= SHOAL_OBJECT_PATTERN_MAX);
			CHECK(shoal__segment_kind_name(k->kind) == NULL);
			CHECK(k->name && k->name[0]);
			for (uint32_t q = 0; q < NPATTERNS; q++)
				for (uint32_t j = 0; j < patterns[q]->nkinds;
				     j++)
					CHECK((p == q && i == j) ||
					      patterns[q]->kinds[j].kind !=
						      k->kind);
		}
	}
	return TEST_PASS;
}

/* The values are in existing segments: they never change. */
static int test_kinds_values(void)
{
	CHECK_EQ(SHOAL_OBJECT_BYTES, 1);
	CHECK_EQ(SHOAL_OBJECT_SPSC_RING, 2);
	CHECK_EQ(SHOAL_OBJECT_NOTIFY, 3);
	CHECK_EQ(SHOAL__OBJECT_PUBSUB_HEADER, 4);
	CHECK_EQ(SHOAL__OBJECT_PUBSUB_SLOTS, 5);
	CHECK_EQ(SHOAL__OBJECT_PUBSUB_SUBS, 6);
	CHECK_EQ(SHOAL_OBJECT_MPMC_RING, 7);
	CHECK_EQ(SHOAL_OBJECT_VAR_RING, 8);
	CHECK_EQ(SHOAL__OBJECT_QUEUE_HEADER, 9);
	CHECK_EQ(SHOAL__OBJECT_RPC_HEADER, 10);
	CHECK_EQ(SHOAL__OBJECT_RPC_RINGS, 11);
	CHECK_EQ(SHOAL__OBJECT_EVENT_HEADER, 12);
	CHECK_EQ(SHOAL__OBJECT_PUBSUB_POOLS, 15);
	CHECK_EQ(SHOAL__OBJECT_STORE_HEADER, 13);
	CHECK_EQ(SHOAL__OBJECT_STORE_HEAP, 14);
	return TEST_PASS;
}

/* A kind's name comes from its owner; the segment layer names its own. */
static int test_kind_names(void)
{
	CHECK(strcmp(shoal__kind_name(&shoal__pubsub_pattern,
				      SHOAL__OBJECT_PUBSUB_SLOTS),
		     "pub/sub slots") == 0);
	CHECK(strcmp(shoal__kind_name(&shoal__rpc_pattern,
				      SHOAL__OBJECT_RPC_RINGS),
		     "request/response rings") == 0);
	CHECK(strcmp(shoal__kind_name(&shoal__queue_pattern,
				      SHOAL_OBJECT_MPMC_RING),
		     "MPMC ring") == 0);
	CHECK(strcmp(shoal__kind_name(NULL, SHOAL_OBJECT_NOTIFY),
		     "wait word") == 0);
	/* Another pattern's kind is not this one's to name. */
	CHECK(shoal__kind_name(&shoal__event_pattern,
			       SHOAL__OBJECT_PUBSUB_HEADER) == NULL);
	CHECK(shoal__kind_name(&shoal__event_pattern, SHOAL_OBJECT_USER_MIN) ==
	      NULL);
	return TEST_PASS;
}

/* The segment layer takes every pattern's kind without knowing it. */
static int test_segment_accepts(void)
{
	for (uint32_t p = 0; p < NPATTERNS; p++)
		for (uint32_t i = 0; i < patterns[p]->nkinds; i++) {
			struct shoal_object_spec s = {
				"obj", patterns[p]->kinds[i].kind, 0, 64
			};
			struct shoal_segment *seg = NULL;
			void *ptr;

			CHECK_EQ(shoal_segment_create(&s, 1, NULL, &seg), 0);
			CHECK_EQ(shoal_segment_find(seg, "obj", s.kind, &ptr,
						    NULL),
				 0);
			shoal_segment_destroy(seg);
		}
	return TEST_PASS;
}

int main(void)
{
	RUN(test_kinds_disjoint);
	RUN(test_kinds_values);
	RUN(test_kind_names);
	RUN(test_segment_accepts);
	return test_result();
}
