/* SPDX-License-Identifier: MIT */
/*
 * Definitions shared by every shoal header: the export macro, the library
 * version and the thread-local error detail.
 *
 * Error convention (every shoal function): an int (or ssize_t) that is >= 0 on
 * success and a negative errno on failure. shoal never sets errno as its
 * interface, never prints and never exits. On failure the outputs are left
 * untouched and nothing leaks; shoal_last_error() says what exactly failed.
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
