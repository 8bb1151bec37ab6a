/* SPDX-License-Identifier: MIT */
/*
 * Tensor frames over pub/sub: a loan sized for the tensor with its header
 * written in the slot, its send, and a take that checks the header before
 * the caller sees the data. Nothing here reaches into pub/sub's internals:
 * a tensor is an ordinary message whose payload starts with the header.
 */
#include <errno.h>
#include <stdint.h>

#include "arch/error.h"
#include "shoal/tensor.h"
#include "patterns/tensor_internal.h"

int shoal_tensor_loan(struct shoal_pub *pub,
		      const struct shoal_tensor_spec *spec,
		      struct shoal_tensor *out)
{
	uint64_t bytes;
	void *ptr;
	int err;

	if (!pub || !out)
		return shoal__fail(-EINVAL, "tensor_loan: NULL argument");
	err = shoal__tensor_bytes(spec, &bytes);
	if (err)
		return err;
	if (bytes > UINT32_MAX)
		return shoal__fail(-EMSGSIZE,
				   "tensor_loan: %llu bytes exceed a message",
				   (unsigned long long)bytes);
	err = shoal_pub_loan(pub, (uint32_t)bytes, &ptr);
	if (err)
		return err;
	/* A pub/sub payload that can hold a tensor starts on a cache line,
	 * so bytes is enough; if not, init says so and the loan goes back. */
	err = shoal_tensor_init(ptr, bytes, spec, out);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_pub_abort(pub, ptr);
		return shoal__detail_fail(&d, err);
	}
	return 0;
}

int shoal_tensor_send(struct shoal_pub *pub, const struct shoal_tensor *t)
{
	if (!pub || !t || !t->priv_payload || t->used > UINT32_MAX)
		return shoal__fail(-EINVAL, "tensor_send: not a loaned tensor");
	return shoal_pub_send(pub, t->priv_payload, (uint32_t)t->used);
}

int shoal_tensor_take(struct shoal_sub *sub, struct shoal_msg *msg,
		      int64_t timeout_ns, struct shoal_tensor *out)
{
	int err;

	if (!sub || !msg || !out)
		return shoal__fail(-EINVAL, "tensor_take: NULL argument");
	err = shoal_sub_take(sub, msg, timeout_ns);
	if (err)
		return err;
	err = shoal_tensor_view(msg->data, msg->len, out);
	if (err) {
		struct shoal__detail d;

		shoal__detail_save(&d);
		shoal_sub_release(sub, msg);
		return shoal__detail_fail(&d, err);
	}
	return 0;
}
