/* SPDX-License-Identifier: MIT */
/*
 * Store arrays: count elements of elem_size bytes, packed, in the object's
 * region. The integer calls are single C11 atomic operations on the
 * element (seq_cst: an array of counters and flags is often used as a
 * small protocol between processes, and the strongest order is the one
 * that needs no reasoning from its users); they need the element size to
 * match (4 or 8 bytes, aligned as the lookup checked: the region is on a
 * cache line and the element size is a multiple of the alignment).
 * Nothing in an array is a pointer or an index, so whatever another
 * process writes into it can make values wrong, never accesses stray.
 */
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "patterns/store_internal.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
	       "shared atomics must be lock-free");

int shoal_store_array(struct shoal_store *s, const char *name,
		      struct shoal_array *out)
{
	struct shoal_store_object_info info;
	void *base;
	int err;

	if (!out)
		return shoal__fail(-EINVAL, "store_array: NULL argument");
	err = shoal__store_find(s, name, SHOAL_STORE_ARRAY, &info, &base, NULL);
	if (err)
		return err;
	*out = (struct shoal_array){ s, base, info.count, info.elem_size,
				     !s->read_only };
	return 0;
}

/* The element @i of @a for an access of @size bytes (0: any size), or
 * NULL with the error in *@err. */
static void *elem(const struct shoal_array *a, uint32_t i, uint32_t size,
		  int write, int *err)
{
	if (!a || !a->base) {
		*err = shoal__fail(-EINVAL, "array: not looked up");
		return NULL;
	}
	if (i >= a->count) {
		*err = shoal__fail(-ERANGE, "array: index %u of %u", i,
				   a->count);
		return NULL;
	}
	if (size && a->elem_size != size) {
		*err = shoal__fail(-EINVAL,
				   "array: %u-byte elements, not %u-byte "
				   "integers",
				   a->elem_size, size);
		return NULL;
	}
	if (write && !a->writable) {
		*err = shoal__store_read_only("array");
		return NULL;
	}
	return (uint8_t *)a->base + (uint64_t)i * a->elem_size;
}

#define ACCESS(a, i, size, write)                  \
	int err_ = 0;                              \
	void *p_ = elem(a, i, size, write, &err_); \
	if (!p_)                                   \
	return err_

int shoal_array_load32(const struct shoal_array *a, uint32_t index,
		       uint32_t *out)
{
	ACCESS(a, index, 4, 0);
	*out = atomic_load((_Atomic uint32_t *)p_);
	return 0;
}

int shoal_array_store32(const struct shoal_array *a, uint32_t index, uint32_t v)
{
	ACCESS(a, index, 4, 1);
	atomic_store((_Atomic uint32_t *)p_, v);
	return 0;
}

int shoal_array_add32(const struct shoal_array *a, uint32_t index, uint32_t v,
		      uint32_t *old)
{
	uint32_t o;

	ACCESS(a, index, 4, 1);
	o = atomic_fetch_add((_Atomic uint32_t *)p_, v);
	if (old)
		*old = o;
	return 0;
}

int shoal_array_cas32(const struct shoal_array *a, uint32_t index,
		      uint32_t *expected, uint32_t desired)
{
	ACCESS(a, index, 4, 1);
	if (!expected)
		return shoal__fail(-EINVAL, "array: NULL expected");
	return atomic_compare_exchange_strong((_Atomic uint32_t *)p_, expected,
					      desired) ?
		       0 :
		       -EAGAIN;
}

int shoal_array_load64(const struct shoal_array *a, uint32_t index,
		       uint64_t *out)
{
	ACCESS(a, index, 8, 0);
	*out = atomic_load((_Atomic uint64_t *)p_);
	return 0;
}

int shoal_array_store64(const struct shoal_array *a, uint32_t index, uint64_t v)
{
	ACCESS(a, index, 8, 1);
	atomic_store((_Atomic uint64_t *)p_, v);
	return 0;
}

int shoal_array_add64(const struct shoal_array *a, uint32_t index, uint64_t v,
		      uint64_t *old)
{
	uint64_t o;

	ACCESS(a, index, 8, 1);
	o = atomic_fetch_add((_Atomic uint64_t *)p_, v);
	if (old)
		*old = o;
	return 0;
}

int shoal_array_cas64(const struct shoal_array *a, uint32_t index,
		      uint64_t *expected, uint64_t desired)
{
	ACCESS(a, index, 8, 1);
	if (!expected)
		return shoal__fail(-EINVAL, "array: NULL expected");
	return atomic_compare_exchange_strong((_Atomic uint64_t *)p_, expected,
					      desired) ?
		       0 :
		       -EAGAIN;
}

int shoal_array_get(const struct shoal_array *a, uint32_t index, void *out)
{
	ACCESS(a, index, 0, 0);
	memcpy(out, p_, a->elem_size);
	return 0;
}

int shoal_array_set(const struct shoal_array *a, uint32_t index, const void *in)
{
	ACCESS(a, index, 0, 1);
	memcpy(p_, in, a->elem_size);
	return 0;
}

void *shoal_array_ptr(const struct shoal_array *a, uint32_t index)
{
	int err;

	return elem(a, index, 0, 0, &err);
}
