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

/*
 * Keeping a failure's detail across its clean-up (whose calls may record
 * details of their own):
 *	struct shoal__detail d;
 *	shoal__detail_save(&d);
 *	thing_destroy(t);
 *	return shoal__detail_fail(&d, err);
 */
struct shoal__detail {
	char text[256];
};
void shoal__detail_save(struct shoal__detail *d);
int shoal__detail_fail(const struct shoal__detail *d, int err);

#endif
