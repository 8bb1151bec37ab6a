/* SPDX-License-Identifier: MIT */
/*
 * Definitions shared by every shoal header: the export macro, the library
 * version and the thread-local error detail.
 *
 * Error convention (every shoal function): an int (or ssize_t) that is >= 0 on
 * success and a negative errno on failure. shoal never sets errno as its
 * interface, never prints and never exits. On failure the outputs are left
 * untouched and nothing leaks; shoal_last_error() says what exactly failed.
 *
 * Thread safety: shoal_last_error() and shoal_version() may be called by
 * any thread at any time; each thread has its own error detail.
 *
 * Blocking and system calls:
 *   shoal_last_error, shoal_version: neither; they read memory only.
 */
#ifndef SHOAL_COMMON_H
#define SHOAL_COMMON_H

/* Return values are negative errno constants: callers compare against them. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHOAL_BUILDING_LIBRARY)
#define SHOAL_API __attribute__((visibility("default")))
#else
#define SHOAL_API
#endif

#define SHOAL_VERSION_MAJOR 0
#define SHOAL_VERSION_MINOR 1
#define SHOAL_VERSION_PATCH 0

/* Timeouts: a negative timeout_ns waits forever, 0 never waits. */
#define SHOAL_WAIT_FOREVER (-1LL)

/*
 * struct shoal_msg - a received message, the one view every pattern's
 * take() fills and its release() gives back: data and len always; the
 * other fields are pub/sub's (the queue zeroes them). Valid until
 * released.
 */
struct shoal_msg {
	const void *data; /* payload, read-only, in shared memory */
	uint32_t len;
	uint32_t user_header_size;
	const void *user_header; /* pub/sub: NULL when the service has none */
	uint64_t seq;	      /* pub/sub: publisher's sequence number, from 0 */
	int64_t timestamp_ns; /* pub/sub: CLOCK_MONOTONIC at send with
				  * SHOAL_PUB_TIMESTAMP, else 0 */
	uint64_t epoch;	      /* pub/sub: the publisher incarnation */
	/* pub/sub, after -EOVERFLOW: how many messages were lost. */
	uint64_t lost;
	uint32_t publisher; /* pub/sub: the publisher's slot, 0 if only one */
	uint32_t pad;
	uint64_t priv_stamp;
	const void *priv_slot;
};

/*
 * shoal_last_error - the detail of the last failure in this thread.
 *
 * Returns a NUL-terminated string owned by the library, valid until the next
 * shoal call in the same thread; "" when nothing failed yet. Thread-safe: each
 * thread has its own.
 */
SHOAL_API const char *shoal_last_error(void);

/* shoal_version - "major.minor.patch" of the library actually linked. */
SHOAL_API const char *shoal_version(void);

#ifdef __cplusplus
}
#endif

#endif
