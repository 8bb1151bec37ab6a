/* SPDX-License-Identifier: MIT */
/* CPU and clock helpers shared by the layers above; header only. */
#ifndef SHOAL_SRC_ARCH_H
#define SHOAL_SRC_ARCH_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Tell the CPU we are spinning: saves power and frees the sibling thread. */
static inline void shoal__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Full (store->load) barrier for the sleep protocol's Dekker pattern.
 *
 * On x86-64 a locked read-modify-write is a full barrier, as the Linux
 * kernel's smp_mb() uses, and is cheaper than mfence (which also waits for
 * non-temporal stores and weakly ordered memory types we never use). The
 * locked instruction needs some memory word to act on; adding 0 leaves it
 * unchanged, so any word of our own stack does. Which one matters: the
 * kernel uses -4(%rsp) (it builds with -mno-red-zone), but in user space
 * the 128 bytes below %rsp are the System V ABI's red zone, where a leaf
 * function keeps live locals without moving %rsp. A locked add on such a
 * local is still correct (it writes back the value it read), but it ties
 * the fence to that local: the add must wait for the compiler's store to
 * it, and the next load of it waits for the add, a false dependency on the
 * hot path. -132(%rsp) is the first 4-byte word wholly below the red zone
 * (128 + 4): the compiler keeps nothing there, a signal handler may
 * overwrite it at any time but cannot split a locked instruction, and it
 * is within the stack mapping as long as 132 bytes of stack remain, which
 * the red zone already assumes. liburing's smp_mb() (barrier.h) and the
 * kernel's tools/ copy of barrier.h use the same offset for the same
 * reason.
 *
 * Elsewhere, the C11 seq_cst fence. This is the only hand-written full
 * fence in src/; every seq_cst fence of the sleep protocol goes through it.
 * ThreadSanitizer does not model fences either way: it never relies on them
 * here, since data is published by release/acquire on the ring itself.
 */
static inline void shoal__fence_full(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("lock; addl $0,-132(%%rsp)" ::: "memory", "cc");
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Monotonic nanoseconds (vDSO: no system call). */
static inline int64_t shoal__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Deadline for a timeout: -1 forever, else now + timeout_ns (saturating). */
static inline int64_t shoal__deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = shoal__now_ns();
	return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* Nonzero if @v is a power of two (0 is not). */
static inline int shoal__is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Read a word of shared memory exactly once, as Linux's READ_ONCE and
 * liburing's IO_URING_READ_ONCE do. Another process may rewrite the word at
 * any time (shared memory is untrusted), so the compiler must load it once
 * into a local that is then checked and used: through a plain access it may
 * legally load it again after the check, or split or merge the load. This
 * is not an atomic and orders nothing: use it only for a naturally aligned
 * word whose ordering comes from elsewhere (a release/acquire or a fence
 * named at the call), such as a geometry field published before the
 * segment's ready flag, or a pid or fd number only reported or checked.
 */
#define SHOAL__READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/* 1 in a ThreadSanitizer build (gcc defines __SANITIZE_THREAD__, clang
 * answers __has_feature), for the few places that pick a TSan-visible form
 * of a deliberate race (objects/cell.c). */
#if defined(__SANITIZE_THREAD__)
#define SHOAL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHOAL__TSAN 1
#endif
#endif
#ifndef SHOAL__TSAN
#define SHOAL__TSAN 0
#endif

#endif
