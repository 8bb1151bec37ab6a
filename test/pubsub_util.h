/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the pub/sub tests (test/pubsub-*.c): self-checking
 * message payloads, children that die with the test, a watchdog, memory
 * shared between the test's processes, and waiting for children.
 *
 * Payload of message @seq under @salt, @len >= PSU_MIN_LEN bytes:
 *   bytes 0..7    seq (host byte order)
 *   bytes 8..11   len
 *   bytes 12..15  FNV-1a 32 of every other byte
 *   bytes 16..    a stream that is a function of (seq, salt) alone
 * so a receiver can check a message both on its own (checksum: nothing
 * torn) and against what message @seq must be (psu_verify: regenerate and
 * compare every byte).
 */
#ifndef SHOAL_TEST_PUBSUB_UTIL_H
#define SHOAL_TEST_PUBSUB_UTIL_H

#include <shoal.h>
#include <shoal/pubsub.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry_util.h"

#define PSU_MIN_LEN 16u
#define PSU_SEC 1000000000LL

static inline uint64_t psu_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A length in [lo, hi] that is a function of (seq, salt). */
static inline uint32_t psu_len(uint64_t seq, uint64_t salt, uint32_t lo,
			       uint32_t hi)
{
	return lo + (uint32_t)(psu_mix(seq ^ (salt << 32)) % (hi - lo + 1));
}

static inline uint32_t psu_sum(const unsigned char *p, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (uint32_t k = 0; k < len; k++) {
		if (k >= 12 && k < 16)
			continue;
		h = (h ^ p[k]) * 16777619u;
	}
	return h;
}

static inline void psu_fill(void *buf, uint64_t seq, uint64_t salt,
			    uint32_t len)
{
	unsigned char *p = buf;
	uint64_t x = psu_mix(seq * 0x100000001b3ULL ^ salt);
	uint32_t sum;

	memcpy(p, &seq, 8);
	memcpy(p + 8, &len, 4);
	for (uint32_t k = PSU_MIN_LEN; k < len; k++) {
		if ((k & 7) == 0)
			x = psu_mix(x);
		p[k] = (unsigned char)(x >> (8 * (k & 7)));
	}
	sum = psu_sum(p, len);
	memcpy(p + 12, &sum, 4);
}

/* 1 if @buf (@len bytes) is a whole message; its seq into *seq. */
static inline int psu_intact(const void *buf, uint32_t len, uint64_t *seq)
{
	const unsigned char *p = buf;
	uint32_t l, sum;

	if (len < PSU_MIN_LEN)
		return 0;
	memcpy(&l, p + 8, 4);
	memcpy(&sum, p + 12, 4);
	if (l != len || sum != psu_sum(p, len))
		return 0;
	if (seq)
		memcpy(seq, p, 8);
	return 1;
}

/* 1 if @buf is exactly message @seq of @salt with @len bytes. */
static inline int psu_verify(const void *buf, uint32_t len, uint64_t seq,
			     uint64_t salt)
{
	const unsigned char *p = buf;
	uint64_t x = psu_mix(seq * 0x100000001b3ULL ^ salt), s;
	uint32_t l;

	if (len < PSU_MIN_LEN)
		return 0;
	memcpy(&s, p, 8);
	memcpy(&l, p + 8, 4);
	if (s != seq || l != len)
		return 0;
	for (uint32_t k = PSU_MIN_LEN; k < len; k++) {
		if ((k & 7) == 0)
			x = psu_mix(x);
		if (p[k] != (unsigned char)(x >> (8 * (k & 7))))
			return 0;
	}
	return psu_intact(buf, len, NULL);
}

static inline int64_t psu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * PSU_SEC + ts.tv_nsec;
}

/* Zeroed memory shared with every child forked after this call. */
static inline void *psu_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * fork() a child that is SIGKILLed when the test process dies (so a failing
 * or killed test leaves nothing behind). Returns as fork().
 */
static inline pid_t psu_fork(void)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The parent died before the prctl: nobody to kill us. */
		if (getppid() != parent)
			_exit(1);
	}
	return pid;
}

/*
 * Waits for the @n children in @pids to exit with 0, for at most @timeout_s
 * seconds in all. As soon as one fails (exit status not 0, a signal) or the
 * time is up, the others are SIGKILLed and reaped: one failure ends the
 * test at once instead of leaving its siblings waiting for it. Returns 1 if
 * all exited with 0.
 */
static inline int psu_wait_all(const pid_t *pids, int n, unsigned timeout_s)
{
	int64_t end = psu_now_ns() + (int64_t)timeout_s * PSU_SEC;
	int done[64] = { 0 };
	int left = n, ok = n <= 64;

	while (left && ok) {
		for (int i = 0; i < n && ok; i++) {
			int st;
			pid_t r;

			if (done[i])
				continue;
			r = waitpid(pids[i], &st, WNOHANG);
			if (r == 0)
				continue;
			done[i] = 1;
			left--;
			if (r != pids[i]) {
				ok = 0;
			} else if (WIFSIGNALED(st)) {
				fprintf(stderr, "child %d died of signal %d\n",
					(int)pids[i], WTERMSIG(st));
				ok = 0;
			} else if (WEXITSTATUS(st) != 0) {
				fprintf(stderr, "child %d exited with %d\n",
					(int)pids[i], WEXITSTATUS(st));
				ok = 0;
			}
		}
		if (left && ok && psu_now_ns() > end) {
			fprintf(stderr, "children still running after %us\n",
				timeout_s);
			ok = 0;
		}
		if (left && ok)
			usleep(1000);
	}
	for (int i = 0; i < n && i < 64; i++) {
		if (!done[i]) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	return ok;
}

static inline void psu_watchdog_fired(int sig)
{
	static const char msg[] = "pubsub test: watchdog fired: a hang\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		(void)0;
	_exit(1);
}

/*
 * The whole test program fails (exit 1) if it is still running after
 * @seconds: its children die with it (psu_fork). Set it below the CTest
 * timeout so that the log says what happened.
 */
static inline void psu_watchdog(unsigned seconds)
{
	signal(SIGALRM, psu_watchdog_fired);
	alarm(seconds);
}

/*
 * Wait until @cond holds, for at most @seconds; evaluates to 1 if it held,
 * 0 on timeout. Sleeps 100 us between checks. (__extension__: a
 * statement expression, quiet under -Wpedantic.)
 */
#define PSU_WAIT(cond, seconds)                                               \
	__extension__({                                                       \
		int64_t psu_end_ = psu_now_ns() + (int64_t)(seconds)*PSU_SEC; \
		int psu_ok_ = 0;                                              \
		for (;;) {                                                    \
			if (cond) {                                           \
				psu_ok_ = 1;                                  \
				break;                                        \
			}                                                     \
			if (psu_now_ns() > psu_end_)                          \
				break;                                        \
			usleep(100);                                          \
		}                                                             \
		psu_ok_;                                                      \
	})

/*
 * A publisher process's start: opens the registry at @path into *@reg and
 * initialises @o for a publisher on it (o->registry set). 0 or -errno.
 */
static inline int psu_pub_options(const char *path, struct shoal_registry **reg,
				  struct shoal_pub_options *o)
{
	int r = test_registry_open(path, reg);

	if (r)
		return r;
	shoal_pub_options_init(o);
	o->registry = *reg;
	return 0;
}

#endif
