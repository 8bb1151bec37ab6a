/* SPDX-License-Identifier: MIT */
/*
 * Tensor frames: an n-dimensional array carried in one message, described
 * by a fixed 192-byte header at the start of the payload that any process
 * (C, Python, another language) can read without shoal's code. The bytes
 * are in docs/tensor-format.md.
 *
 *   payload:  [ header, 192 B | padding | data, aligned to header.align ]
 *
 * The writer fills the header with shoal_tensor_init() (or the pub/sub
 * helpers below) and writes the elements in place; the reader checks the
 * header with shoal_tensor_view(), which treats every field as untrusted
 * (it may come from a buggy or hostile publisher): it copies the header
 * once, and accepts it only if every element the shape and strides reach
 * lies inside the data region and the data region inside the payload.
 *
 * Element types are the numpy/DLPack set (enum shoal_dtype). Strides are
 * in bytes, as numpy's, and non-negative; each is a multiple of the
 * element size (DLPack counts strides in elements, so every accepted
 * tensor is expressible there).
 *
 * Blocking and system calls:
 *   shoal_dtype_size, shoal_dtype_name, shoal_dtype_dlpack,
 *     shoal_tensor_bytes, shoal_tensor_init, shoal_tensor_view: neither.
 *   shoal_tensor_loan: as shoal_pub_loan (a reliable publisher may wait
 *     for room).
 *   shoal_tensor_send: as shoal_pub_send (writes a sleeping subscriber's
 *     eventfd).
 *   shoal_tensor_take: as shoal_sub_take (may wait up to @timeout_ns),
 *     and shoal_sub_release for a message that is not a valid tensor.
 *
 * Thread safety: the pure functions are reentrant; the pub/sub helpers
 * follow their handle's rule (one thread at a time).
 */
#ifndef SHOAL_TENSOR_H
#define SHOAL_TENSOR_H

#include "common.h"
#include "pubsub.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHOAL_TENSOR_MAX_DIMS 8
#define SHOAL_TENSOR_HEADER_SIZE 192u
/* Data alignment: a power of two in [MIN, MAX]. MAX is the page size,
 * the largest alignment that holds at the same offset in every process's
 * mapping of a segment. */
#define SHOAL_TENSOR_ALIGN_MIN 64u
#define SHOAL_TENSOR_ALIGN_MAX 4096u

/* Element types. The numbers are the format's (docs/tensor-format.md). */
enum shoal_dtype {
	SHOAL_DTYPE_BOOL = 1, /* 1 byte, 0 or 1 */
	SHOAL_DTYPE_INT8 = 2,
	SHOAL_DTYPE_UINT8 = 3,
	SHOAL_DTYPE_INT16 = 4,
	SHOAL_DTYPE_UINT16 = 5,
	SHOAL_DTYPE_INT32 = 6,
	SHOAL_DTYPE_UINT32 = 7,
	SHOAL_DTYPE_INT64 = 8,
	SHOAL_DTYPE_UINT64 = 9,
	SHOAL_DTYPE_FLOAT16 = 10,
	SHOAL_DTYPE_FLOAT32 = 11,
	SHOAL_DTYPE_FLOAT64 = 12,
	SHOAL_DTYPE_BFLOAT16 = 13,
	SHOAL_DTYPE_COMPLEX64 = 14,  /* two float32 */
	SHOAL_DTYPE_COMPLEX128 = 15, /* two float64 */
};

/* The header as it lies in the payload (docs/tensor-format.md). */
struct shoal_tensor_header {
	uint32_t magic;	      /* SHOAL_TENSOR_MAGIC */
	uint16_t version;     /* SHOAL_TENSOR_VERSION */
	uint16_t header_size; /* SHOAL_TENSOR_HEADER_SIZE */
	uint8_t dtype;	      /* enum shoal_dtype */
	uint8_t ndim;	      /* 0..SHOAL_TENSOR_MAX_DIMS (0: a scalar) */
	uint16_t flags;	      /* none defined: 0 */
	uint32_t align;	      /* of the data's address, power of two */
	uint64_t data_offset; /* payload start to the first element */
	uint64_t data_bytes;  /* bytes of the data region */
	uint64_t frame_id;    /* the writer's, carried as is */
	int64_t timestamp_ns; /* the writer's, carried as is */
	uint8_t reserved[16]; /* 0 */
	uint64_t shape[SHOAL_TENSOR_MAX_DIMS];	/* first ndim used, rest 0 */
	int64_t strides[SHOAL_TENSOR_MAX_DIMS]; /* bytes; first ndim used */
};

/* "SHTN" read as a little-endian u32. */
#define SHOAL_TENSOR_MAGIC 0x4e544853u
#define SHOAL_TENSOR_VERSION 1u

/*
 * What a writer asks for. Zero-initialize, then set dtype, ndim and shape;
 * strides NULL means C order (row-major, contiguous); align 0 means
 * SHOAL_TENSOR_ALIGN_MIN.
 */
struct shoal_tensor_spec {
	uint32_t dtype;
	uint32_t ndim;
	const uint64_t *shape;
	const int64_t *strides; /* bytes, or NULL */
	uint32_t align;
	uint64_t frame_id;
	int64_t timestamp_ns;
};

/*
 * A checked tensor: every field here has passed shoal_tensor_view() (or
 * was written by shoal_tensor_init()), so the shape and strides may be
 * used to index data without further checks.
 */
struct shoal_tensor {
	uint32_t dtype;
	uint32_t ndim;
	uint32_t itemsize; /* bytes per element */
	uint32_t align;
	uint64_t shape[SHOAL_TENSOR_MAX_DIMS];
	int64_t strides[SHOAL_TENSOR_MAX_DIMS];
	uint64_t count;	     /* elements: the product of the shape */
	uint64_t data_bytes; /* bytes of the data region */
	uint64_t frame_id;
	int64_t timestamp_ns;
	void *data;	    /* the first element (read-only on a reader) */
	uint64_t used;	    /* header + padding + data: the payload length */
	void *priv_payload; /* the payload the header starts */
};

/* Bytes per element of @dtype, or 0 if @dtype is not a shoal_dtype. */
SHOAL_API uint32_t shoal_dtype_size(uint32_t dtype);
/* "float32", ...; NULL if @dtype is not a shoal_dtype. */
SHOAL_API const char *shoal_dtype_name(uint32_t dtype);
/*
 * The DLPack type of @dtype: *code (kDLInt 0, kDLUInt 1, kDLFloat 2,
 * kDLBfloat 4, kDLComplex 5, kDLBool 6) and *bits; lanes are always 1.
 * 0, or -EINVAL.
 */
SHOAL_API int shoal_dtype_dlpack(uint32_t dtype, uint8_t *code, uint8_t *bits);

/*
 * shoal_tensor_bytes - payload bytes that always hold a tensor of @spec
 * in a payload starting on a 64-byte boundary (as every pub/sub payload
 * over 40 bytes does): the header, padding to spec->align (at most
 * align - 64), the data. For sizing a service's max_payload. 0 if @spec
 * is invalid (as shoal_tensor_init() would say) or the size overflows.
 */
SHOAL_API uint64_t shoal_tensor_bytes(const struct shoal_tensor_spec *spec);

/*
 * shoal_tensor_init - write the header of a tensor of @spec at @buf (@cap
 * bytes) and describe it in *@out: out->data is where the elements go
 * (aligned to spec->align at its address), out->used the payload length
 * to send. The elements are not touched.
 * Returns 0, -EINVAL (unknown dtype, ndim > 8, a negative stride or one
 * not a multiple of the element size, strides that make elements
 * overlap, bad alignment; detail in shoal_last_error()), -EMSGSIZE (@cap
 * too small), -EOVERFLOW (sizes overflow 64 bits).
 * Overlap: taking the dims of length > 1 by increasing stride, each
 * stride must step past all the smaller dims span (C and Fortran orders
 * and their slices pass; numpy's broadcast views, stride 0, are refused:
 * copy them first).
 */
SHOAL_API int shoal_tensor_init(void *buf, uint64_t cap,
				const struct shoal_tensor_spec *spec,
				struct shoal_tensor *out);

/*
 * shoal_tensor_view - check the tensor header at @buf (@len bytes, e.g. a
 * taken message) and describe it in *@out, out->data pointing into @buf.
 * The header is copied once and only the copy is used, so a writer that
 * changes it meanwhile cannot make the result unsafe. 0, or -EBADMSG with
 * the first field that failed in shoal_last_error(): magic, version,
 * header size, dtype, ndim, flags or reserved bytes not 0, alignment (not
 * a power of two in range, or the data's address not aligned to it), data
 * region outside the payload or overlapping the header, an element
 * outside the data region, a negative stride or one not a multiple of the
 * element size, or sizes that overflow 64 bits. Elements that overlap are
 * accepted here (harmless to read).
 */
SHOAL_API int shoal_tensor_view(const void *buf, uint64_t len,
				struct shoal_tensor *out);

/*
 * Over pub/sub.
 *
 * shoal_tensor_loan - shoal_pub_loan() of shoal_tensor_bytes(@spec) bytes
 * (the service's max_payload must be at least that: -EMSGSIZE otherwise),
 * then shoal_tensor_init() in the slot. Fill out->data, then
 * shoal_tensor_send() (or shoal_pub_abort(pub, out->priv_payload)).
 * Returns 0 or what those return; on an error nothing is loaned.
 */
SHOAL_API int shoal_tensor_loan(struct shoal_pub *pub,
				const struct shoal_tensor_spec *spec,
				struct shoal_tensor *out);
/* shoal_tensor_send - publish a loaned tensor: shoal_pub_send() of
 * t->used bytes. */
SHOAL_API int shoal_tensor_send(struct shoal_pub *pub,
				const struct shoal_tensor *t);
/*
 * shoal_tensor_take - shoal_sub_take() then shoal_tensor_view() of the
 * message. On 0, *@msg is held (release it with shoal_sub_release() when
 * done with out->data) and *@out describes it. A message that is not a
 * valid tensor is released and counted as taken: -EBADMSG, with the
 * reason. Other errors are shoal_sub_take()'s (-EOVERFLOW: nothing is
 * held, take again).
 */
SHOAL_API int shoal_tensor_take(struct shoal_sub *sub, struct shoal_msg *msg,
				int64_t timeout_ns, struct shoal_tensor *out);

#ifdef __cplusplus
}
#endif

#endif
