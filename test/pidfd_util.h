/* SPDX-License-Identifier: MIT */
/*
 * pidfd_open and pidfd_getfd for the tests, whatever libc they build
 * against (glibc wraps pidfd_open from 2.36 and pidfd_getfd not at all):
 * the library's own wrappers (src/arch/pidfd.h) under the tests' names,
 * and the check the tests make of a refusal.
 */
#ifndef SHOAL_TEST_PIDFD_UTIL_H
#define SHOAL_TEST_PIDFD_UTIL_H

#include <errno.h>

#include "arch/pidfd.h"

/* A pidfd of process @pid, or -1 with errno set. */
static inline int test_pidfd_open(pid_t pid)
{
	return shoal__pidfd_open(pid);
}

/* Our copy of fd @fd of the process behind @pidfd, or -1 with errno set. */
static inline int test_pidfd_getfd(int pidfd, int fd)
{
	return shoal__pidfd_getfd(pidfd, fd);
}

/*
 * The errno with which pidfd_getfd refuses us fd @fd of process @pid; 0 if
 * it let it through (the copy is closed again); -1 if pidfd_open failed.
 */
static inline int test_getfd_refusal(pid_t pid, int fd)
{
	int pidfd = test_pidfd_open(pid), got, err;

	if (pidfd < 0)
		return -1;
	errno = 0;
	got = test_pidfd_getfd(pidfd, fd);
	err = got < 0 ? errno : 0;
	if (got >= 0)
		close(got);
	close(pidfd);
	return err;
}

#endif
