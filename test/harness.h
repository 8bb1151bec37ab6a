/* SPDX-License-Identifier: MIT */
/*
 * The tiny test harness every test program uses.
 *
 * A test program is test/<component>-<behaviour>.c. Its main() runs
 * static int test_<case>(void) functions through RUN(); each returns
 * TEST_PASS, TEST_FAIL or TEST_SKIP. Exit status: 0 all passed, 1 something
 * failed, 77 everything was skipped (CTest's SKIP_RETURN_CODE).
 *
 * The first comment line "shoal-test: label=L timeout=S [args=...]" of each
 * test source tells CMake how to register it.
 */
#ifndef SHOAL_TEST_HARNESS_H
#define SHOAL_TEST_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_PASS 0
#define TEST_FAIL 1
#define TEST_SKIP 77

/*
 * TEST_SLOWDOWN: how much slower this build runs the code under test (TSan
 * about 100x on a busy ring, ASan 10x), so stress counts can be divided by
 * it and every build still finishes in its time limit. gcc defines
 * __SANITIZE_*__; clang answers __has_feature.
 */
#if defined(__SANITIZE_THREAD__)
#define TEST_SLOWDOWN 100
#elif defined(__SANITIZE_ADDRESS__)
#define TEST_SLOWDOWN 10
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_SLOWDOWN 100
#elif __has_feature(address_sanitizer)
#define TEST_SLOWDOWN 10
#endif
#endif
#ifndef TEST_SLOWDOWN
#define TEST_SLOWDOWN 1
#endif

/* Fail the current test_<case>() with the location and the expression. */
#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", \
				__FILE__, __LINE__, __func__, #cond);    \
			return TEST_FAIL;                                \
		}                                                        \
	} while (0)

/* Check that an int-returning expression equals an expected value. */
#define CHECK_EQ(expr, want)                                               \
	do {                                                               \
		long long got_ = (long long)(expr);                        \
		long long want_ = (long long)(want);                       \
		if (got_ != want_) {                                       \
			fprintf(stderr,                                    \
				"%s:%d: %s: %s is %lld, want %lld (%s)\n", \
				__FILE__, __LINE__, __func__, #expr, got_, \
				want_, shoal_last_error());                \
			return TEST_FAIL;                                  \
		}                                                          \
	} while (0)

static int test_failures_, test_passes_, test_skips_;

/* Count one case's result @r; @name names it in the messages. */
static inline void test_count(const char *name, int r)
{
	if (r == TEST_PASS) {
		test_passes_++;
	} else if (r == TEST_SKIP) {
		fprintf(stderr, "SKIP %s\n", name);
		test_skips_++;
	} else {
		fprintf(stderr, "FAIL %s\n", name);
		test_failures_++;
	}
}

/* Run one case and count its result. */
#define RUN(fn) test_count(#fn, fn())

/* Exit status for main(). */
static inline int test_result(void)
{
	if (test_failures_)
		return TEST_FAIL;
	if (test_skips_ && !test_passes_)
		return TEST_SKIP;
	return TEST_PASS;
}

/*
 * Wait for a child and report whether it exited with status 0. A child that
 * is still running after @timeout_s seconds is killed and counts as failed,
 * so a hang in the code under test fails the test instead of wedging it.
 */
static inline int test_wait_child(pid_t pid, unsigned timeout_s)
{
	int status = 0;
	for (unsigned ms = 0; ms < timeout_s * 1000u; ms += 1) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (r < 0)
			return 0;
		usleep(1000);
	}
	fprintf(stderr, "child %d still running after %us: killed\n", (int)pid,
		timeout_s);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}

/*
 * Waits until *@flag (a word another process sets in shared memory) is at
 * least @want, looking every millisecond for at most @timeout_s seconds:
 * 1, or 0 if it never got there. The bound only ends a broken run; no
 * test's verdict depends on how fast the other process is.
 */
static inline int test_wait_flag(_Atomic int *flag, int want,
				 unsigned timeout_s)
{
	struct timespec t;
	int64_t now, end;

	clock_gettime(CLOCK_MONOTONIC, &t);
	end = (int64_t)t.tv_sec + (int64_t)timeout_s;
	while (atomic_load(flag) < want) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		now = (int64_t)t.tv_sec;
		if (now > end)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* Open fds of this process, so a call that leaks one on failure shows. */
static inline int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* A counter-based arg: argv[i] as an unsigned 64-bit count, or @dflt. */
static inline uint64_t test_arg_u64(int argc, char **argv, int i, uint64_t dflt)
{
	if (argc > i)
		return strtoull(argv[i], NULL, 0);
	return dflt;
}

#endif
