/* SPDX-License-Identifier: MIT */
/*
 * The tensor header (docs/tensor-format.md): element types, writing a
 * header, and checking one that came from another process.
 *
 * A reader's check is the whole safety story for a consumer that indexes
 * the data by the shape and strides it was sent (numpy does, once
 * np.ndarray is built on them): it must prove that every element any
 * index reaches lies inside the message. With non-negative strides the
 * farthest byte any index reaches is
 *     sum over dims of (shape[i] - 1) * strides[i], plus the element size,
 * past the first element, so that one sum, computed without overflow and
 * compared with the data region, is the proof.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/error.h"
#include "shoal/tensor.h"
#include "patterns/tensor_internal.h"

_Static_assert(sizeof(struct shoal_tensor_header) == SHOAL_TENSOR_HEADER_SIZE,
	       "the tensor header is 192 bytes");
_Static_assert(offsetof(struct shoal_tensor_header, data_offset) == 16,
	       "data_offset at 16");
_Static_assert(offsetof(struct shoal_tensor_header, shape) == 64,
	       "shape at 64");
_Static_assert(offsetof(struct shoal_tensor_header, strides) == 128,
	       "strides at 128");

struct dtype_info {
	const char *name;
	uint8_t size, dl_code, dl_bits;
};

/* Indexed by enum shoal_dtype. DLPack codes: kDLInt 0, kDLUInt 1,
 * kDLFloat 2, kDLBfloat 4, kDLComplex 5, kDLBool 6. */
static const struct dtype_info dtypes[] = {
	[SHOAL_DTYPE_BOOL] = { "bool", 1, 6, 8 },
	[SHOAL_DTYPE_INT8] = { "int8", 1, 0, 8 },
	[SHOAL_DTYPE_UINT8] = { "uint8", 1, 1, 8 },
	[SHOAL_DTYPE_INT16] = { "int16", 2, 0, 16 },
	[SHOAL_DTYPE_UINT16] = { "uint16", 2, 1, 16 },
	[SHOAL_DTYPE_INT32] = { "int32", 4, 0, 32 },
	[SHOAL_DTYPE_UINT32] = { "uint32", 4, 1, 32 },
	[SHOAL_DTYPE_INT64] = { "int64", 8, 0, 64 },
	[SHOAL_DTYPE_UINT64] = { "uint64", 8, 1, 64 },
	[SHOAL_DTYPE_FLOAT16] = { "float16", 2, 2, 16 },
	[SHOAL_DTYPE_FLOAT32] = { "float32", 4, 2, 32 },
	[SHOAL_DTYPE_FLOAT64] = { "float64", 8, 2, 64 },
	[SHOAL_DTYPE_BFLOAT16] = { "bfloat16", 2, 4, 16 },
	[SHOAL_DTYPE_COMPLEX64] = { "complex64", 8, 5, 64 },
	[SHOAL_DTYPE_COMPLEX128] = { "complex128", 16, 5, 128 },
};

static const struct dtype_info *dtype_of(uint32_t dtype)
{
	if (dtype >= sizeof(dtypes) / sizeof(dtypes[0]) || !dtypes[dtype].size)
		return NULL;
	return &dtypes[dtype];
}

uint32_t shoal_dtype_size(uint32_t dtype)
{
	const struct dtype_info *d = dtype_of(dtype);

	return d ? d->size : 0;
}

const char *shoal_dtype_name(uint32_t dtype)
{
	const struct dtype_info *d = dtype_of(dtype);

	return d ? d->name : NULL;
}

int shoal_dtype_dlpack(uint32_t dtype, uint8_t *code, uint8_t *bits)
{
	const struct dtype_info *d = dtype_of(dtype);

	if (!d || !code || !bits)
		return shoal__fail(-EINVAL, "tensor: dtype %u is not known",
				   dtype);
	*code = d->dl_code;
	*bits = d->dl_bits;
	return 0;
}

static int valid_align(uint64_t a)
{
	return a >= SHOAL_TENSOR_ALIGN_MIN && a <= SHOAL_TENSOR_ALIGN_MAX &&
	       (a & (a - 1)) == 0;
}

/*
 * The shape and strides of @ndim dims checked, with the element count and
 * the extent (bytes from the first element past the farthest one, 0 when
 * there are no elements) in *@count and *@extent. 0, or @err (@overflow
 * when a size overflows 64 bits) with the reason. Both the writer and the reader run it, on their own copies.
 */
static int check_dims(int err, int overflow, const char *who, uint32_t ndim,
		      uint32_t itemsize, const uint64_t *shape,
		      const int64_t *strides, uint64_t *count, uint64_t *extent)
{
	uint64_t n = 1, far = 0;

	for (uint32_t i = 0; i < ndim; i++) {
		if (__builtin_mul_overflow(n, shape[i], &n))
			return shoal__fail(overflow,
					   "%s: shape overflows 64 bits", who);
	}
	for (uint32_t i = 0; i < ndim; i++) {
		uint64_t step;

		if (strides[i] < 0 || (uint64_t)strides[i] % itemsize)
			return shoal__fail(
				err,
				"%s: stride %u (%lld) is negative or "
				"not a multiple of the element size "
				"%u",
				who, i, (long long)strides[i], itemsize);
		if (n == 0)
			continue;
		if (__builtin_mul_overflow(shape[i] - 1, (uint64_t)strides[i],
					   &step) ||
		    __builtin_add_overflow(far, step, &far))
			return shoal__fail(overflow,
					   "%s: extent overflows 64 bits", who);
	}
	if (n && __builtin_add_overflow(far, itemsize, &far))
		return shoal__fail(overflow, "%s: extent overflows 64 bits",
				   who);
	*count = n;
	*extent = n ? far : 0;
	return 0;
}

/*
 * A writer's own layout must not alias: with the dims of length > 1 taken
 * by increasing stride, each stride must step past everything the smaller
 * ones span. (Sufficient, not necessary: interleaved layouts that happen
 * not to alias are refused too; C and Fortran orders and their slices all
 * pass.) A reader does not ask this: aliasing elements are read-only there
 * and harmless.
 */
static int check_no_alias(uint32_t ndim, uint32_t itemsize,
			  const uint64_t *shape, const int64_t *strides)
{
	uint32_t order[SHOAL_TENSOR_MAX_DIMS], k = 0;
	uint64_t span = itemsize;

	for (uint32_t i = 0; i < ndim; i++)
		if (shape[i] > 1)
			order[k++] = i;
	for (uint32_t a = 1; a < k; a++) /* insertion sort by stride */
		for (uint32_t b = a;
		     b > 0 && strides[order[b - 1]] > strides[order[b]]; b--) {
			uint32_t t = order[b];

			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (uint32_t j = 0; j < k; j++) {
		uint32_t i = order[j];

		if ((uint64_t)strides[i] < span)
			return shoal__fail(-EINVAL,
					   "tensor_init: dim %u (stride %lld) "
					   "overlaps the smaller dims",
					   i, (long long)strides[i]);
		/* No overflow: check_dims() bounded the whole sum. */
		span = (uint64_t)strides[i] * (shape[i] - 1) + span;
	}
	return 0;
}

/* The spec checked and completed: dims, strides (C order if none given),
 * alignment, element size, count and extent. */
struct layout {
	uint32_t itemsize, align;
	int64_t strides[SHOAL_TENSOR_MAX_DIMS];
	uint64_t count, extent;
};

static int plan(const struct shoal_tensor_spec *spec, struct layout *l)
{
	const struct dtype_info *d;
	int err;

	if (!spec || (spec->ndim && !spec->shape))
		return shoal__fail(-EINVAL, "tensor_init: NULL spec or shape");
	d = dtype_of(spec->dtype);
	if (!d)
		return shoal__fail(-EINVAL,
				   "tensor_init: dtype %u is not known",
				   spec->dtype);
	if (spec->ndim > SHOAL_TENSOR_MAX_DIMS)
		return shoal__fail(-EINVAL, "tensor_init: ndim %u > %d",
				   spec->ndim, SHOAL_TENSOR_MAX_DIMS);
	l->itemsize = d->size;
	l->align = spec->align ? spec->align : SHOAL_TENSOR_ALIGN_MIN;
	if (!valid_align(l->align))
		return shoal__fail(-EINVAL,
				   "tensor_init: align %u is not a power of "
				   "two in [%u, %u]",
				   l->align, SHOAL_TENSOR_ALIGN_MIN,
				   SHOAL_TENSOR_ALIGN_MAX);
	if (spec->strides) {
		memcpy(l->strides, spec->strides,
		       spec->ndim * sizeof(l->strides[0]));
	} else {
		/* C order: the last dim's stride is the element size. A
		 * stride past INT64_MAX is only reached by an element count
		 * check_dims() refuses anyway, but say it plainly here. */
		uint64_t s = l->itemsize;

		for (uint32_t i = spec->ndim; i-- > 0;) {
			if (s > INT64_MAX)
				return shoal__fail(-EOVERFLOW,
						   "tensor_init: C-order "
						   "strides overflow");
			l->strides[i] = (int64_t)s;
			if (__builtin_mul_overflow(
				    s, spec->shape[i] ? spec->shape[i] : 1, &s))
				s = UINT64_MAX;
		}
	}
	err = check_dims(-EINVAL, -EOVERFLOW, "tensor_init", spec->ndim,
			 l->itemsize, spec->shape, l->strides, &l->count,
			 &l->extent);
	if (err)
		return err;
	if (!l->count) /* no element, nothing to alias */
		return 0;
	return check_no_alias(spec->ndim, l->itemsize, spec->shape, l->strides);
}

int shoal__tensor_bytes(const struct shoal_tensor_spec *spec, uint64_t *bytes)
{
	struct layout l;
	int err = plan(spec, &l);

	if (err)
		return err;
	/* The header is 3 lines, so on a payload that starts on a line the
	 * padding is at most align - 64. */
	if (__builtin_add_overflow((uint64_t)SHOAL_TENSOR_HEADER_SIZE +
					   (l.align - SHOAL_TENSOR_ALIGN_MIN),
				   l.extent, bytes))
		return shoal__fail(-EOVERFLOW,
				   "tensor: size overflows 64 bits");
	return 0;
}

uint64_t shoal_tensor_bytes(const struct shoal_tensor_spec *spec)
{
	uint64_t n;

	return shoal__tensor_bytes(spec, &n) ? 0 : n;
}

int shoal_tensor_init(void *buf, uint64_t cap,
		      const struct shoal_tensor_spec *spec,
		      struct shoal_tensor *out)
{
	struct shoal_tensor_header h;
	struct layout l;
	uintptr_t base = (uintptr_t)buf, data;
	uint64_t off;
	int err;

	if (!buf || !out)
		return shoal__fail(-EINVAL, "tensor_init: NULL argument");
	err = plan(spec, &l);
	if (err)
		return err;
	data = (base + SHOAL_TENSOR_HEADER_SIZE + l.align - 1) &
	       ~(uintptr_t)(l.align - 1);
	off = data - base;
	if (off > cap || l.extent > cap - off)
		return shoal__fail(-EMSGSIZE,
				   "tensor_init: needs %llu bytes, the buffer "
				   "has %llu",
				   (unsigned long long)off +
					   (unsigned long long)l.extent,
				   (unsigned long long)cap);

	memset(&h, 0, sizeof(h));
	h.magic = SHOAL_TENSOR_MAGIC;
	h.version = SHOAL_TENSOR_VERSION;
	h.header_size = SHOAL_TENSOR_HEADER_SIZE;
	h.dtype = (uint8_t)spec->dtype;
	h.ndim = (uint8_t)spec->ndim;
	h.align = l.align;
	h.data_offset = off;
	h.data_bytes = l.extent;
	h.frame_id = spec->frame_id;
	h.timestamp_ns = spec->timestamp_ns;
	for (uint32_t i = 0; i < spec->ndim; i++) {
		h.shape[i] = spec->shape[i];
		h.strides[i] = l.strides[i];
	}
	memcpy(buf, &h, sizeof(h));

	memset(out, 0, sizeof(*out));
	out->dtype = spec->dtype;
	out->ndim = spec->ndim;
	out->itemsize = l.itemsize;
	out->align = l.align;
	memcpy(out->shape, h.shape, sizeof(h.shape));
	memcpy(out->strides, h.strides, sizeof(h.strides));
	out->count = l.count;
	out->data_bytes = l.extent;
	out->frame_id = spec->frame_id;
	out->timestamp_ns = spec->timestamp_ns;
	out->data = (void *)data;
	out->used = off + l.extent;
	out->priv_payload = buf;
	return 0;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

#define BAD(...) shoal__fail(-EBADMSG, "tensor: " __VA_ARGS__)

int shoal_tensor_view(const void *buf, uint64_t len, struct shoal_tensor *out)
{
	struct shoal_tensor_header h;
	const struct dtype_info *d;
	uint64_t count, extent;
	int err;

	if (!buf || !out)
		return shoal__fail(-EINVAL, "tensor_view: NULL argument");
	if (len < sizeof(h))
		return BAD("%llu bytes cannot hold the %u-byte header",
			   (unsigned long long)len, SHOAL_TENSOR_HEADER_SIZE);
	/* One copy: a writer changing the message meanwhile changes nothing
	 * below. */
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SHOAL_TENSOR_MAGIC)
		return BAD("bad magic %#x", h.magic);
	if (h.version != SHOAL_TENSOR_VERSION)
		return BAD("version %u (this library reads %u)", h.version,
			   SHOAL_TENSOR_VERSION);
	if (h.header_size != SHOAL_TENSOR_HEADER_SIZE)
		return BAD("header_size %u, not %u", h.header_size,
			   SHOAL_TENSOR_HEADER_SIZE);
	d = dtype_of(h.dtype);
	if (!d)
		return BAD("dtype %u is not known", h.dtype);
	if (h.ndim > SHOAL_TENSOR_MAX_DIMS)
		return BAD("ndim %u > %d", h.ndim, SHOAL_TENSOR_MAX_DIMS);
	if (h.flags || !all_zero(h.reserved, sizeof(h.reserved)))
		return BAD("flags or reserved bytes are not 0");
	for (uint32_t i = h.ndim; i < SHOAL_TENSOR_MAX_DIMS; i++)
		if (h.shape[i] || h.strides[i])
			return BAD("dim %u is past ndim %u but not 0", i,
				   h.ndim);
	if (!valid_align(h.align))
		return BAD("align %u is not a power of two in [%u, %u]",
			   h.align, SHOAL_TENSOR_ALIGN_MIN,
			   SHOAL_TENSOR_ALIGN_MAX);
	if (h.data_offset < SHOAL_TENSOR_HEADER_SIZE || h.data_offset > len ||
	    h.data_bytes > len - h.data_offset)
		return BAD("data region [%llu, +%llu) is not between the "
			   "header and the end of the %llu-byte payload",
			   (unsigned long long)h.data_offset,
			   (unsigned long long)h.data_bytes,
			   (unsigned long long)len);
	if (((uintptr_t)buf + h.data_offset) & (h.align - 1))
		return BAD("data at offset %llu is not aligned to %u",
			   (unsigned long long)h.data_offset, h.align);
	err = check_dims(-EBADMSG, -EBADMSG, "tensor", h.ndim, d->size, h.shape,
			 h.strides, &count, &extent);
	if (err)
		return err;
	if (extent > h.data_bytes)
		return BAD("elements reach %llu bytes past the data start, "
			   "the data region has %llu",
			   (unsigned long long)extent,
			   (unsigned long long)h.data_bytes);

	memset(out, 0, sizeof(*out));
	out->dtype = h.dtype;
	out->ndim = h.ndim;
	out->itemsize = d->size;
	out->align = h.align;
	memcpy(out->shape, h.shape, sizeof(h.shape));
	memcpy(out->strides, h.strides, sizeof(h.strides));
	out->count = count;
	out->data_bytes = h.data_bytes;
	out->frame_id = h.frame_id;
	out->timestamp_ns = h.timestamp_ns;
	out->data = (uint8_t *)buf + h.data_offset;
	out->used = h.data_offset + h.data_bytes;
	out->priv_payload = (void *)buf;
	return 0;
}
