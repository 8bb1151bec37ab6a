/* SPDX-License-Identifier: MIT */
/*
 * What kind of object an fd handed over by another process really is.
 * Answers 1 (yes), 0 (no) or -1 (cannot tell: /proc is not mounted).
 */
#ifndef SHOAL_SRC_FDCHECK_H
#define SHOAL_SRC_FDCHECK_H

int shoal__fd_is_memfd(int fd);
int shoal__fd_is_eventfd(int fd);

#endif
