/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that act as other users: a forked child drops root for
 * numeric uids and groups (no passwd entry needed). The caller must be root;
 * tests skip (77) otherwise.
 */
#ifndef SHOAL_TEST_USER_UTIL_H
#define SHOAL_TEST_USER_UTIL_H

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
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

/* A child that acts as another user until told to finish. */
struct test_role {
	pid_t pid;
	int go; /* write end; closing it lets the role finish */
};

/*
 * Forks a child that becomes @uid (test_become()) under a hang guard of
 * @timeout_s seconds and exits with @fn(@arg, ready, go): @fn writes 'k'
 * to ready once it is in place, and finishes when go reads end of file
 * (test_role_stop()). Waits for that 'k', @timeout_s seconds at most (a
 * hang guard only). TEST_PASS or TEST_FAIL.
 */
static inline int test_role_start(struct test_role *r, uid_t uid, gid_t gid,
				  const gid_t *groups, size_t ngroups,
				  int (*fn)(void *arg, int ready, int go),
				  void *arg, unsigned timeout_s)
{
	struct pollfd p;
	int ready[2], go[2];
	char c = 0;

	CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
	CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
	fflush(NULL);
	r->pid = fork();
	CHECK(r->pid >= 0);
	if (r->pid == 0) {
		close(ready[0]);
		close(go[1]);
		alarm(timeout_s);
		if (test_become(uid, gid, groups, ngroups))
			_exit(TEST_FAIL);
		_exit(fn(arg, ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	r->go = go[1];
	p.fd = ready[0];
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, (int)timeout_s * 1000), 1);
	CHECK_EQ(read(ready[0], &c, 1), 1);
	close(ready[0]);
	CHECK_EQ(c, 'k');
	return TEST_PASS;
}

/* Lets the role finish; TEST_PASS if it exited with TEST_PASS in time. */
static inline int test_role_stop(struct test_role *r, unsigned timeout_s)
{
	close(r->go);
	return test_wait_child(r->pid, timeout_s) ? TEST_PASS : TEST_FAIL;
}

#endif
