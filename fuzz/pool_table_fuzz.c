/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: shoal__pools_read() and shoal__pools_resolve(), what a
 * subscriber reads of a publisher's payload pools (the "pubsub.pools"
 * object of a version 6 ring, src/patterns/pubsub_pool.h), every byte of
 * which a hostile publisher controls.
 *
 * Input: the object's bytes (the table, then stamps and chunks), copied
 * into an allocation that ends exactly where the object does, so ASan sees
 * any read past it. Then, after the first 256 bytes, the input is also
 * read as slot references (class, chunk, length) to follow.
 *
 * Checked on every input, and any broken promise aborts:
 *   - the result is 0 or -EBADMSG;
 *   - on 0: 1..8 classes, sizes multiples of 64 strictly increasing, every
 *     class's stamps and chunks inside the object, chunk data 64-aligned
 *     from the object's start; the first and last byte of every class's
 *     data and its last stamp are read (ASan checks them);
 *   - a reference resolves only to a chunk of a class, a length within the
 *     chunk, and its data and stamp inside the object.
 *
 * Built two ways (fuzz/CMakeLists.txt): libFuzzer with ASan and UBSan,
 * and a corpus replayer for CTest. Seeds: make_pool_seeds.py.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patterns/pubsub_pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENSURE(c)                                                            \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "pool_table_fuzz: %s failed\n", #c); \
			abort();                                             \
		}                                                            \
	} while (0)

/* Larger objects are not more interesting: every offset is checked the
 * same way. */
#define OBJ_MAX (1u << 20)

static int inside(const uint8_t *obj, size_t size, const void *p, uint64_t n)
{
	const uint8_t *q = p;

	return q >= obj && (uint64_t)(q - obj) <= size &&
	       n <= size - (uint64_t)(q - obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pubsub_pools pp;
	uint8_t *obj;
	int r;

	if (size > OBJ_MAX)
		return 0;
	/* 64-aligned, as the segment layer places the object. */
	obj = aligned_alloc(64, size ? (size + 63) & ~(size_t)63 : 64);
	if (!obj)
		return 0;
	memcpy(obj, data, size);
	memset(&pp, 0xa5, sizeof(pp));
	r = shoal__pools_read(obj, size, &pp);
	ENSURE(r == 0 || r == -EBADMSG);
	if (r == 0) {
		volatile uint8_t sink;

		ENSURE(pp.n >= 1 && pp.n <= SHOAL_PUB_POOLS_MAX);
		for (uint32_t c = 0; c < pp.n; c++) {
			const struct pubsub_pool *p = &pp.pool[c];
			uint64_t bytes = (uint64_t)p->count * p->size;

			ENSURE(p->size && p->size % 64 == 0 && p->count);
			ENSURE(c == 0 || p->size > pp.pool[c - 1].size);
			ENSURE(inside(obj, size, (const void *)p->stamps,
				      (uint64_t)p->count * 8));
			ENSURE(inside(obj, size, p->data, bytes));
			ENSURE((uint64_t)(p->data - obj) % 64 == 0);
			sink = p->data[0];
			sink = p->data[bytes - 1];
			sink = (uint8_t)atomic_load_explicit(
				&p->stamps[p->count - 1], memory_order_relaxed);
			(void)sink;
		}
		ENSURE(pp.largest == pp.pool[pp.n - 1].size);
		/* The rest of the input as references. */
		for (size_t off = 256;
		     off + sizeof(struct shoal__pool_ref) <= size;
		     off += sizeof(struct shoal__pool_ref)) {
			_Atomic uint64_t *stamp;
			const uint8_t *d;
			uint32_t len;

			if (shoal__pools_resolve(&pp, obj + off, &d, &len,
						 &stamp))
				continue;
			ENSURE(inside(obj, size, d, len));
			ENSURE(inside(obj, size, (const void *)stamp, 8));
		}
	}
	free(obj);
	return 0;
}
