/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: shoal_tensor_view() on a payload a hostile publisher wrote.
 *
 * The input is the payload itself (header and data, up to 64 KiB), copied
 * into an allocation that ends exactly where the payload does (ASan sees
 * any read past it) and starts on a page plus a shift of 0..56 bytes,
 * picked by the byte just past the header, so both aligned and
 * misaligned data addresses are tried.
 *
 * Checked on every input, and any broken promise aborts:
 *   - the result is 0, -EBADMSG or (never here) -EINVAL;
 *   - on 0: the data region lies between the header and the end; the
 *     element count is the product of the shape; the data's address is
 *     aligned to the alignment reported, which is a power of two in range;
 *     every element the shape and strides reach lies inside the data region
 *     (the first and the farthest are read, so ASan sees them, and the
 *     farthest is computed here independently, in 128 bits);
 *   - a header written by shoal_tensor_init() for the view's own shape and
 *     strides (when they are a writer's layout) views back the same.
 *
 * Built two ways (fuzz/CMakeLists.txt): libFuzzer with ASan and UBSan,
 * and a corpus replayer for CTest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENSURE(c)                                                             \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "tensor_view_fuzz: %s failed\n", #c); \
			abort();                                              \
		}                                                             \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shoal_tensor t;
	__extension__ typedef unsigned __int128 u128;
	u128 far = 0, n = 1;
	size_t shift = 0;
	uint8_t *mem, *buf;
	volatile uint8_t sink;
	int r;

	if (size > 65536)
		return 0;
	if (size > SHOAL_TENSOR_HEADER_SIZE) {
		/* Byte 192 picks the shift: the header stays the input's. */
		shift = (size_t)(data[SHOAL_TENSOR_HEADER_SIZE] & 7) * 8;
	}
	/* The allocation ends exactly where the payload does. */
	if (posix_memalign((void **)&mem, 4096,
			   shift + size ? shift + size : 1))
		return 0;
	buf = mem + shift;
	memcpy(buf, data, size);

	r = shoal_tensor_view(buf, size, &t);
	ENSURE(r == 0 || r == -EBADMSG);
	if (r == 0) {
		ENSURE((uint8_t *)t.data >= buf + SHOAL_TENSOR_HEADER_SIZE);
		ENSURE(t.data_bytes <= size);
		ENSURE((uint8_t *)t.data + t.data_bytes <= buf + size);
		ENSURE(t.align >= SHOAL_TENSOR_ALIGN_MIN &&
		       t.align <= SHOAL_TENSOR_ALIGN_MAX &&
		       !(t.align & (t.align - 1)));
		ENSURE(((uintptr_t)t.data & (t.align - 1)) == 0);
		ENSURE(t.itemsize == shoal_dtype_size(t.dtype));
		ENSURE(t.ndim <= SHOAL_TENSOR_MAX_DIMS);
		for (uint32_t i = 0; i < t.ndim; i++) {
			n *= t.shape[i];
			ENSURE(t.strides[i] >= 0);
		}
		ENSURE(n == t.count);
		if (n) {
			for (uint32_t i = 0; i < t.ndim; i++)
				far += (u128)(t.shape[i] - 1) *
				       (uint64_t)t.strides[i];
			far += t.itemsize;
			ENSURE(far <= t.data_bytes);
			sink = ((const uint8_t *)t.data)[0];
			sink = ((const uint8_t *)t.data)[(size_t)far - 1];
			(void)sink;
		}

		/* Written back by init, it must view the same. */
		{
			struct shoal_tensor_spec s;
			struct shoal_tensor w, v;
			uint64_t need;
			uint8_t *out;

			memset(&s, 0, sizeof(s));
			s.dtype = t.dtype;
			s.ndim = t.ndim;
			s.shape = t.shape;
			s.strides = t.strides;
			s.align = t.align;
			s.frame_id = t.frame_id;
			s.timestamp_ns = t.timestamp_ns;
			need = shoal_tensor_bytes(&s);
			if (need && need <= (1u << 20) &&
			    !posix_memalign((void **)&out, 4096, need)) {
				ENSURE(shoal_tensor_init(out, need, &s, &w) ==
				       0);
				ENSURE(shoal_tensor_view(out, w.used, &v) == 0);
				ENSURE(v.count == t.count && v.ndim == t.ndim &&
				       v.dtype == t.dtype &&
				       v.frame_id == t.frame_id);
				ENSURE(!memcmp(v.shape, t.shape,
					       sizeof(v.shape)) &&
				       !memcmp(v.strides, t.strides,
					       sizeof(v.strides)));
				free(out);
			}
		}
	}
	free(mem);
	return 0;
}
