/* SPDX-License-Identifier: MIT */
/* The thread-local error detail behind shoal_last_error(). */
#ifndef SHOAL_SRC_ERROR_H
#define SHOAL_SRC_ERROR_H

/*
 * shoal__fail - record a printf-style detail for shoal_last_error() and return
 * @err (a negative errno), so a failure path reads "return shoal__fail(...)".
 */
__attribute__((format(printf, 2, 3))) int shoal__fail(int err, const char *fmt,
						      ...);

#endif
