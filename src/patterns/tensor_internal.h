/* SPDX-License-Identifier: MIT */
/* Between the tensor format (tensor.c) and its pub/sub helpers. */
#ifndef SHOAL_SRC_TENSOR_INTERNAL_H
#define SHOAL_SRC_TENSOR_INTERNAL_H

#include "shoal/tensor.h"

/* shoal_tensor_bytes() with the reason when @spec is refused: 0 and
 * *@bytes, or -EINVAL / -EOVERFLOW with the detail set. */
int shoal__tensor_bytes(const struct shoal_tensor_spec *spec, uint64_t *bytes);

#endif
