/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that act as other users: a forked child drops root for
 * numeric uids and groups (no passwd entry needed). The caller must be root;
 * tests skip (77) otherwise.
 */
#ifndef SHOAL_TEST_USER_UTIL_H
#define SHOAL_TEST_USER_UTIL_H

#include <grp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness.h"

/*
 * Become @uid with primary group @gid and the supplementary @groups, for
 * good (real, effective and saved ids). 0 or -1.
 */
static inline int test_become(uid_t uid, gid_t gid, const gid_t *groups,
			      size_t ngroups)
{
	if (setgroups(ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		perror("dropping root");
		return -1;
	}
	/* The uid change made us non-dumpable: undo it, or pidfd_getfd
	 * from a peer of our own uid would be refused too. */
	if (prctl(PR_SET_DUMPABLE, 1) < 0) {
		perror("PR_SET_DUMPABLE");
		return -1;
	}
	return 0;
}

/*
 * Runs @fn(@arg) in a child as @uid (test_become()), under a hang guard of
 * @timeout_s seconds; TEST_PASS if it returned TEST_PASS.
 */
static inline int test_as_user(uid_t uid, gid_t gid, const gid_t *groups,
			       size_t ngroups, int (*fn)(void *), void *arg,
			       unsigned timeout_s)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return TEST_FAIL;
	if (pid == 0) {
		alarm(timeout_s);
		if (test_become(uid, gid, groups, ngroups))
			_exit(TEST_FAIL);
		_exit(fn(arg));
	}
	return test_wait_child(pid, timeout_s) ? TEST_PASS : TEST_FAIL;
}

#endif
