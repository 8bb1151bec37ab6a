/* SPDX-License-Identifier: MIT */
/*
 * Namespaces for the tests that run a process as pid 1 of its own PID
 * namespace (test/registry-pidns.c, test/registry-pid-reuse.c): writing a
 * /proc knob, and starting a function in fresh namespaces with a /proc of
 * their own. Root only in practice; a namespace the kernel refuses makes
 * the child exit with TEST_SKIP.
 */
#ifndef SHOAL_TEST_NS_UTIL_H
#define SHOAL_TEST_NS_UTIL_H

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Writes @text to @file (a /proc knob) in one write; 0 or -1. */
static inline int test_write_file(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Runs @fn as pid 1 of fresh namespaces (@nsflags: CLONE_NEWPID, maybe
 * with CLONE_NEWUSER; 0: none, @fn runs in a plain child) with its own
 * /proc. Returns the pid of the process to wait for; its exit status is
 * @fn's (128 + the signal if @fn's process was killed), TEST_SKIP if the
 * namespaces could not be made. *@init_pid (may be NULL) gets the pid
 * running @fn, as we number it.
 */
static inline pid_t test_ns_spawn(int nsflags, int (*fn)(void *), void *arg,
				  _Atomic int *init_pid)
{
	pid_t outer = fork();

	if (outer != 0)
		return outer;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (nsflags) {
		pid_t init;
		int status;

		if (unshare(nsflags | CLONE_NEWNS) < 0)
			_exit(TEST_SKIP);
		if ((nsflags & CLONE_NEWUSER) &&
		    (test_write_file("/proc/self/setgroups", "deny") ||
		     test_write_file("/proc/self/uid_map", "0 0 1") ||
		     test_write_file("/proc/self/gid_map", "0 0 1")))
			_exit(TEST_SKIP);
		init = fork();
		if (init < 0)
			_exit(TEST_FAIL);
		if (init == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (mount("none", "/", NULL, MS_REC | MS_PRIVATE,
				  NULL) < 0 ||
			    mount("proc", "/proc", "proc",
				  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
				_exit(TEST_SKIP);
			_exit(fn(arg));
		}
		if (init_pid)
			atomic_store(init_pid, init);
		if (waitpid(init, &status, 0) != init)
			_exit(TEST_FAIL);
		if (WIFSIGNALED(status))
			_exit(128 + WTERMSIG(status));
		_exit(WEXITSTATUS(status));
	}
	if (init_pid)
		atomic_store(init_pid, getpid());
	_exit(fn(arg));
}

#endif
