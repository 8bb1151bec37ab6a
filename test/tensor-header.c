/* shoal-test: label=unit timeout=60 */
/*
 * The tensor header (include/shoal/tensor.h, docs/tensor-format.md) in one
 * process: every dtype's size, name and DLPack type; init then view
 * round-trips every field and puts the data where the header says,
 * aligned; C order, Fortran order, a slice, a scalar and an empty tensor;
 * the writer's refusals (unknown dtype, ndim 9, bad align, stride not a
 * multiple of the element size, aliasing strides, buffer too small,
 * overflow); and the reader's, one corrupted field at a time on a valid
 * header (each must give -EBADMSG and never read outside the buffer: the
 * buffer is malloc'd to its exact size, so ASan would see it).
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "shoal/tensor.h"

static int test_dtypes(void)
{
	static const struct {
		uint32_t dt, size;
		const char *name;
		uint8_t code, bits;
	} want[] = {
		{ SHOAL_DTYPE_BOOL, 1, "bool", 6, 8 },
		{ SHOAL_DTYPE_INT8, 1, "int8", 0, 8 },
		{ SHOAL_DTYPE_UINT8, 1, "uint8", 1, 8 },
		{ SHOAL_DTYPE_INT16, 2, "int16", 0, 16 },
		{ SHOAL_DTYPE_UINT16, 2, "uint16", 1, 16 },
		{ SHOAL_DTYPE_INT32, 4, "int32", 0, 32 },
		{ SHOAL_DTYPE_UINT32, 4, "uint32", 1, 32 },
		{ SHOAL_DTYPE_INT64, 8, "int64", 0, 64 },
		{ SHOAL_DTYPE_UINT64, 8, "uint64", 1, 64 },
		{ SHOAL_DTYPE_FLOAT16, 2, "float16", 2, 16 },
		{ SHOAL_DTYPE_FLOAT32, 4, "float32", 2, 32 },
		{ SHOAL_DTYPE_FLOAT64, 8, "float64", 2, 64 },
		{ SHOAL_DTYPE_BFLOAT16, 2, "bfloat16", 4, 16 },
		{ SHOAL_DTYPE_COMPLEX64, 8, "complex64", 5, 64 },
		{ SHOAL_DTYPE_COMPLEX128, 16, "complex128", 5, 128 },
	};
	uint8_t code, bits;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ(shoal_dtype_size(want[i].dt), want[i].size);
		CHECK(strcmp(shoal_dtype_name(want[i].dt), want[i].name) == 0);
		CHECK_EQ(shoal_dtype_dlpack(want[i].dt, &code, &bits), 0);
		CHECK_EQ(code, want[i].code);
		CHECK_EQ(bits, want[i].bits);
	}
	CHECK_EQ(shoal_dtype_size(0), 0);
	CHECK_EQ(shoal_dtype_size(16), 0);
	CHECK_EQ(shoal_dtype_size(1000), 0);
	CHECK(shoal_dtype_name(0) == NULL);
	CHECK_EQ(shoal_dtype_dlpack(16, &code, &bits), -EINVAL);
	return TEST_PASS;
}

/* A 64-byte aligned buffer of @n bytes. */
static void *abuf(size_t n)
{
	void *p = NULL;

	return posix_memalign(&p, 4096, n ? n : 1) ? NULL : p;
}

/* init on @spec, fill, view, compare. */
static int round_trip(const struct shoal_tensor_spec *spec, uint64_t count,
		      uint64_t data_bytes)
{
	uint64_t need = shoal_tensor_bytes(spec);
	struct shoal_tensor w, r;
	uint8_t *buf;

	CHECK(need >= SHOAL_TENSOR_HEADER_SIZE + data_bytes);
	buf = abuf(need);
	CHECK(buf != NULL);
	CHECK_EQ(shoal_tensor_init(buf, need, spec, &w), 0);
	CHECK_EQ(w.count, count);
	CHECK_EQ(w.data_bytes, data_bytes);
	CHECK(((uintptr_t)w.data % w.align) == 0);
	CHECK((uint8_t *)w.data >= buf + SHOAL_TENSOR_HEADER_SIZE);
	CHECK(w.used <= need);
	memset(w.data, 0x5a, w.data_bytes);

	CHECK_EQ(shoal_tensor_view(buf, w.used, &r), 0);
	CHECK_EQ(r.dtype, spec->dtype);
	CHECK_EQ(r.ndim, spec->ndim);
	CHECK_EQ(r.itemsize, shoal_dtype_size(spec->dtype));
	CHECK_EQ(r.count, count);
	CHECK_EQ(r.data_bytes, data_bytes);
	CHECK_EQ(r.frame_id, spec->frame_id);
	CHECK_EQ(r.timestamp_ns, spec->timestamp_ns);
	CHECK(r.data == w.data);
	CHECK_EQ(r.used, w.used);
	for (uint32_t i = 0; i < spec->ndim; i++) {
		CHECK_EQ(r.shape[i], spec->shape[i]);
		CHECK_EQ(r.strides[i], w.strides[i]);
	}
	/* A shorter payload than the header says is refused. */
	if (w.used > SHOAL_TENSOR_HEADER_SIZE && data_bytes)
		CHECK_EQ(shoal_tensor_view(buf, w.used - 1, &r), -EBADMSG);
	free(buf);
	return TEST_PASS;
}

static int test_round_trips(void)
{
	uint64_t shape3[3] = { 480, 640, 3 };
	uint64_t shape2[2] = { 4, 5 };
	int64_t fortran[2] = { 4, 16 }; /* float32, 4 x 5, column-major */
	int64_t slice[2] = { 40, 8 };	/* every other column of 4 x 10 */
	uint64_t empty[2] = { 7, 0 };
	struct shoal_tensor_spec s;
	struct shoal_tensor t;

	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_UINT8;
	s.ndim = 3;
	s.shape = shape3;
	s.frame_id = 42;
	s.timestamp_ns = 123456789;
	CHECK_EQ(round_trip(&s, 480 * 640 * 3, 480 * 640 * 3), TEST_PASS);

	/* C order strides are what init wrote. */
	{
		uint8_t *buf = abuf(shoal_tensor_bytes(&s));

		CHECK(buf != NULL);
		CHECK_EQ(shoal_tensor_init(buf, shoal_tensor_bytes(&s), &s, &t),
			 0);
		CHECK_EQ(t.strides[0], 640 * 3);
		CHECK_EQ(t.strides[1], 3);
		CHECK_EQ(t.strides[2], 1);
		free(buf);
	}

	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_FLOAT32;
	s.ndim = 2;
	s.shape = shape2;
	s.strides = fortran;
	CHECK_EQ(round_trip(&s, 20, 3 * 4 + 4 * 16 + 4), TEST_PASS);
	s.strides = slice;
	CHECK_EQ(round_trip(&s, 20, 3 * 40 + 4 * 8 + 4), TEST_PASS);

	/* Scalar: ndim 0, one element. */
	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_COMPLEX128;
	CHECK_EQ(round_trip(&s, 1, 16), TEST_PASS);

	/* No elements: no data. */
	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_FLOAT64;
	s.ndim = 2;
	s.shape = empty;
	CHECK_EQ(round_trip(&s, 0, 0), TEST_PASS);

	/* A larger alignment: the data lands on it. */
	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_INT16;
	s.ndim = 2;
	s.shape = shape2;
	s.align = 4096;
	CHECK_EQ(round_trip(&s, 20, 40), TEST_PASS);
	CHECK_EQ(shoal_tensor_bytes(&s), 192 + 4096 - 64 + 40);
	return TEST_PASS;
}

static int test_writer_refusals(void)
{
	uint64_t shape[9] = { 2, 2, 2, 2, 2, 2, 2, 2, 2 };
	uint64_t big[2] = { UINT64_MAX / 2, 4 };
	int64_t odd[2] = { 8, 2 };   /* float32, stride 2 */
	int64_t alias[2] = { 4, 4 }; /* both dims step one element */
	int64_t bcast[2] = { 0, 4 }; /* numpy broadcast: stride 0 */
	int64_t neg[2] = { -16, 4 };
	struct shoal_tensor_spec s;
	struct shoal_tensor t;
	uint8_t *buf = abuf(4096);

	CHECK(buf != NULL);
	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_FLOAT32;
	s.ndim = 2;
	s.shape = shape;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), 0);

	s.dtype = 0;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	CHECK_EQ(shoal_tensor_bytes(&s), 0);
	s.dtype = 99;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.dtype = SHOAL_DTYPE_FLOAT32;
	s.ndim = 9;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.ndim = 2;
	s.align = 32;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.align = 96;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.align = 8192;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.align = 0;
	s.strides = odd;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.strides = alias;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.strides = bcast;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.strides = neg;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	s.strides = NULL;
	/* Too small: the header alone, and one byte short of the data. */
	CHECK_EQ(shoal_tensor_init(buf, 191, &s, &t), -EMSGSIZE);
	CHECK_EQ(shoal_tensor_init(buf, 192 + 15, &s, &t), -EMSGSIZE);
	CHECK_EQ(shoal_tensor_init(buf, 192 + 16, &s, &t), 0);
	s.shape = big;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EOVERFLOW);
	CHECK_EQ(shoal_tensor_bytes(&s), 0);
	s.shape = NULL;
	CHECK_EQ(shoal_tensor_init(buf, 4096, &s, &t), -EINVAL);
	CHECK_EQ(shoal_tensor_init(buf, 4096, NULL, &t), -EINVAL);
	CHECK_EQ(shoal_tensor_init(NULL, 4096, &s, &t), -EINVAL);
	free(buf);
	return TEST_PASS;
}

/* A valid 3 x 4 int32 tensor; @mutate corrupts its header copy. */
static int view_after(void (*mutate)(struct shoal_tensor_header *h),
		      uint64_t cap, int want)
{
	uint64_t shape[2] = { 3, 4 };
	struct shoal_tensor_spec s;
	struct shoal_tensor_header h;
	struct shoal_tensor t;
	uint8_t *buf = abuf(cap);
	uint8_t *exact;
	uint64_t used;
	int r;

	CHECK(buf != NULL);
	memset(&s, 0, sizeof(s));
	s.dtype = SHOAL_DTYPE_INT32;
	s.ndim = 2;
	s.shape = shape;
	CHECK_EQ(shoal_tensor_init(buf, cap, &s, &t), 0);
	used = t.used;
	memcpy(&h, buf, sizeof(h));
	mutate(&h);
	memcpy(buf, &h, sizeof(h));
	/* The payload is exactly @used bytes, so any read past it is an
	 * ASan report; copy it to a page-aligned buffer of its own size to
	 * keep the alignment of the data. */
	exact = abuf(used);
	CHECK(exact != NULL);
	memcpy(exact, buf, used);
	r = shoal_tensor_view(exact, used, &t);
	if (r == 0) {
		/* Accepted: every element must lie inside. */
		CHECK((uint8_t *)t.data >= exact + SHOAL_TENSOR_HEADER_SIZE);
		CHECK((uint8_t *)t.data + t.data_bytes <= exact + used);
	}
	free(exact);
	free(buf);
	CHECK_EQ(r, want);
	return TEST_PASS;
}

static void m_none(struct shoal_tensor_header *h)
{
	(void)h;
}
static void m_magic(struct shoal_tensor_header *h)
{
	h->magic ^= 1;
}
static void m_version(struct shoal_tensor_header *h)
{
	h->version = 2;
}
static void m_hsize(struct shoal_tensor_header *h)
{
	h->header_size = 256;
}
static void m_dtype0(struct shoal_tensor_header *h)
{
	h->dtype = 0;
}
static void m_dtype16(struct shoal_tensor_header *h)
{
	h->dtype = 16;
}
static void m_ndim(struct shoal_tensor_header *h)
{
	h->ndim = 9;
}
static void m_flags(struct shoal_tensor_header *h)
{
	h->flags = 1;
}
static void m_reserved(struct shoal_tensor_header *h)
{
	h->reserved[15] = 1;
}
static void m_align0(struct shoal_tensor_header *h)
{
	h->align = 0;
}
static void m_align_odd(struct shoal_tensor_header *h)
{
	h->align = 96;
}
static void m_align_big(struct shoal_tensor_header *h)
{
	h->align = 8192;
}
static void m_align_mis(struct shoal_tensor_header *h)
{
	h->align = 4096; /* the data is at 192: not on a page */
}
static void m_off_low(struct shoal_tensor_header *h)
{
	h->data_offset = 128;
}
static void m_off_past(struct shoal_tensor_header *h)
{
	h->data_offset = 1u << 20;
}
static void m_off_huge(struct shoal_tensor_header *h)
{
	h->data_offset = UINT64_MAX - 63;
}
static void m_bytes_past(struct shoal_tensor_header *h)
{
	h->data_bytes++;
}
static void m_bytes_huge(struct shoal_tensor_header *h)
{
	h->data_bytes = UINT64_MAX;
}
static void m_shape_big(struct shoal_tensor_header *h)
{
	h->shape[0] = 4;
}
static void m_shape_ovf(struct shoal_tensor_header *h)
{
	h->shape[0] = UINT64_MAX;
	h->shape[1] = 2;
}
static void m_stride_big(struct shoal_tensor_header *h)
{
	h->strides[0] = 17;
}
static void m_stride_neg(struct shoal_tensor_header *h)
{
	h->strides[0] = -16;
}
static void m_stride_ovf(struct shoal_tensor_header *h)
{
	h->strides[0] = INT64_MAX - 3;
}
static void m_stride_huge(struct shoal_tensor_header *h)
{
	h->strides[0] = (int64_t)1 << 40;
}
static void m_past_ndim(struct shoal_tensor_header *h)
{
	h->shape[5] = 1;
}
static void m_alias(struct shoal_tensor_header *h)
{
	h->strides[0] = 4; /* rows overlap: harmless to read, accepted */
}
static void m_zero_dim(struct shoal_tensor_header *h)
{
	h->shape[1] = 0; /* no elements: any data_bytes is enough */
	h->strides[0] = (int64_t)1 << 40;
}
static void m_ndim0(struct shoal_tensor_header *h)
{
	/* A scalar needs only one element: 4 bytes of the 48. */
	h->ndim = 0;
	memset(h->shape, 0, sizeof(h->shape));
	memset(h->strides, 0, sizeof(h->strides));
}

static int test_reader_refusals(void)
{
	static const struct {
		void (*m)(struct shoal_tensor_header *);
		int want;
	} cases[] = {
		{ m_none, 0 },
		{ m_magic, -EBADMSG },
		{ m_version, -EBADMSG },
		{ m_hsize, -EBADMSG },
		{ m_dtype0, -EBADMSG },
		{ m_dtype16, -EBADMSG },
		{ m_ndim, -EBADMSG },
		{ m_flags, -EBADMSG },
		{ m_reserved, -EBADMSG },
		{ m_align0, -EBADMSG },
		{ m_align_odd, -EBADMSG },
		{ m_align_big, -EBADMSG },
		{ m_align_mis, -EBADMSG },
		{ m_off_low, -EBADMSG },
		{ m_off_past, -EBADMSG },
		{ m_off_huge, -EBADMSG },
		{ m_bytes_past, -EBADMSG },
		{ m_bytes_huge, -EBADMSG },
		{ m_shape_big, -EBADMSG },
		{ m_shape_ovf, -EBADMSG },
		{ m_stride_big, -EBADMSG },
		{ m_stride_neg, -EBADMSG },
		{ m_stride_ovf, -EBADMSG },
		{ m_stride_huge, -EBADMSG },
		{ m_past_ndim, -EBADMSG },
		{ m_alias, 0 },
		{ m_zero_dim, 0 },
		{ m_ndim0, 0 },
	};
	struct shoal_tensor t;
	uint8_t small[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (view_after(cases[i].m, 4096, cases[i].want) != TEST_PASS) {
			fprintf(stderr, "  case %zu\n", i);
			return TEST_FAIL;
		}
	}
	memset(small, 0, sizeof(small));
	CHECK_EQ(shoal_tensor_view(small, sizeof(small), &t), -EBADMSG);
	CHECK_EQ(shoal_tensor_view(NULL, 4096, &t), -EINVAL);
	CHECK(strstr(shoal_last_error(), "NULL") != NULL);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_dtypes);
	RUN(test_round_trips);
	RUN(test_writer_refusals);
	RUN(test_reader_refusals);
	return test_result();
}
