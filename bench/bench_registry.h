/* SPDX-License-Identifier: MIT */
/*
 * The private registry the pattern figures (pub/sub, queue, rpc) publish
 * their services in, so a run never meets the user's services, and names
 * that no other figure or run uses.
 */
#ifndef SHOAL_BENCH_REGISTRY_H
#define SHOAL_BENCH_REGISTRY_H

#include <stddef.h>

/* Longest service name a figure makes. */
#define BENCH_NAME_MAX 96

/*
 * Makes a fresh registry directory on first use (removed at exit) and
 * points $SHOAL_DIR at it; later calls, and calls in a process that
 * inherited one, keep it. 0 or -errno with @note (BENCH_NOTE_MAX) filled.
 */
int bench_registry_setup(char *note);

/* A service name "bench-<pid>-<n>/<what>" into @buf (BENCH_NAME_MAX). */
void bench_service_name(char *buf, const char *what);

#endif
