/* SPDX-License-Identifier: MIT */
/*
 * What the files of the registry's directory side share, and nothing
 * outside src/registry/ uses: the registry handle, the liveness rule, the
 * removal of stale entries and the probe of one entry.
 *
 *   directory.c   the directory: create, check, reopen, path
 *   liveness.c    the one liveness rule, and removing what it calls stale
 *   publish.c     publishing a service: descriptor, fd server, entry
 *   probe.c       reading one entry: a descriptor we may trust, owner alive
 *   open.c        opening a service by name, its fds, the service handle
 *   list_clean.c  listing live services, cleaning out dead ones
 */
#ifndef SHOAL_SRC_REGISTRY_PARTS_H
#define SHOAL_SRC_REGISTRY_PARTS_H

#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "registry/registry_internal.h"

/* How long a removal waits for the directory's .lock. */
#define SHOAL__REGISTRY_LOCK_TIMEOUT_NS (5LL * 1000000000)

struct shoal_registry {
	int dirfd;
	uid_t uid;	/* our effective uid */
	uint32_t group; /* a group registry */
	uint32_t gid;
	char path[PATH_MAX];
};

/* Same inode? */
static inline int shoal__same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* liveness.c ------------------------------------------------------------ */

/*
 * What the liveness rule needs to know about the caller, and what one pass
 * (a list, a clean) learnt about owner processes: services of one owner
 * share one answer, so listing 10,000 services of one process reads its
 * /proc entry once, not 10,000 times.
 */
struct shoal__live_view {
	struct shoal__ns self; /* our namespaces */
	int proc_ours;	       /* /proc/PID is the process we call PID */
	pid_t pid;	       /* the last owner looked at */
	uint64_t start;
	int alive; /* -1: nothing cached */
};

void shoal__live_view_init(struct shoal__live_view *v);
/* 1 when @d's owner runs in another PID namespace than ours. */
int shoal__owner_foreign(const struct shoal__live_view *v,
			 const struct shoal__descriptor *d);
/* The owner takes its read lock on descriptor @fd: 0 or -errno. */
int shoal__owner_lock_take(int fd);
/* 1 if someone holds the owner's lock on @fd, 0 if nobody, -errno. */
int shoal__owner_lock_held(int fd);
/* Is process @pid with start time @start still running? (see liveness.c) */
int shoal__owner_process_alive(pid_t pid, uint64_t start, int proc_ours);
/* THE liveness rule: 1 live, 0 stale (see liveness.c). */
int shoal__entry_live(int fd, const struct shoal__descriptor *d,
		      struct shoal__live_view *v);
/*
 * Removes @file if the rule calls it stale, under the directory's removal
 * lock, waited for until @deadline. 1 gone, 0 kept, -ETIMEDOUT, -errno.
 */
int shoal__remove_if_stale(struct shoal_registry *reg, const char *file,
			   int64_t deadline);

/* probe.c --------------------------------------------------------------- */

/*
 * Opens and validates entry @file (probe.c); 0 with *d, *info (may be
 * NULL) and *fd_out, the descriptor kept open for the caller; else as
 * shoal__registry_probe().
 */
int shoal__probe_open(struct shoal_registry *reg, const char *file,
		      struct shoal__descriptor *d,
		      struct shoal_service_info *info, int *fd_out,
		      struct shoal__live_view *v);

#endif
