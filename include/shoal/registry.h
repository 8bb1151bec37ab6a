/* SPDX-License-Identifier: MIT */
/*
 * The registry: brokerless discovery through a directory.
 *
 * An owner publishes a service as a small descriptor file that appears whole
 * or not at all (written to an O_TMPFILE, then linkat()ed to its name). The
 * descriptor says which fds of the owner's process hold the service's
 * segment (a sealed memfd) and eventfds. A peer finds the file by name,
 * validates it, and takes those fds straight from the owner with
 * pidfd_open() + pidfd_getfd(), or, where that is refused, receives them by
 * SCM_RIGHTS over a Unix socket the owner serves. No daemon is involved.
 *
 * Liveness needs no heartbeat: the owner holds a read lock (an OFD lock) on
 * its descriptor for its lifetime, so finding no lock there proves the owner
 * is gone, and the pidfd a peer holds becomes readable when it dies.
 * See docs/registry.md and docs/registry-format.md.
 *
 * Thread safety: a registry handle may be shared by threads for publish,
 * open, list and clean. Entry, service and watch handles belong to one
 * thread at a time.
 *
 * Blocking and system calls:
 *   shoal_registry_options_init, shoal_registry_path, shoal_entry_fd,
 *     shoal_entry_epoch, shoal_service_segment, shoal_service_eventfd,
 *     shoal_service_pidfd, shoal_service_get_info,
 *     shoal_service_fd_source, shoal_watch_fd: neither.
 *   shoal_registry_create: system calls (mkdir, open, fstat, fchmod);
 *     never blocks.
 *   shoal_registry_destroy, shoal_entry_destroy, shoal_service_close,
 *     shoal_watch_close: system calls (close, munmap; the entry's unlink
 *     and its helper thread's join); never block.
 *   shoal_registry_publish: system calls (O_TMPFILE, linkat, locks, a
 *     socket for the fd server and, with SHOAL_PUBLISH_SERVER_THREAD, a
 *     helper thread); never blocks.
 *   shoal_entry_dispatch: non-blocking socket calls; never blocks.
 *   shoal_registry_open: system calls (open, read, locks, pidfd_open,
 *     pidfd_getfd or a socket, mmap); blocks only for the SCM_RIGHTS
 *     exchange, at most 2 s.
 *   shoal_service_alive: a system call (the owner's lock or pidfd);
 *     never blocks.
 *   shoal_registry_list, shoal_registry_list_report,
 *     shoal_registry_watch: system calls (read the
 *     directory, open and lock-test each entry; the watch also sets up
 *     inotify and pidfds); never block.
 *   shoal_registry_clean, shoal_registry_clean_report: system calls (as
 *     list, plus unlink under the directory's .lock); waits for that lock
 *     at most 5 s in all.
 *   shoal_watch_next: non-blocking reads of its inotify fd and pidfds;
 *     never blocks.
 */
#ifndef SHOAL_REGISTRY_H
#define SHOAL_REGISTRY_H

#include "common.h"
#include "segment.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest service name, in bytes. */
#define SHOAL_SERVICE_NAME_MAX 255
/* Longest payload type name, in bytes. */
#define SHOAL_TYPE_NAME_MAX 63
/* Most eventfds one service announces. */
#define SHOAL_SERVICE_EVENTFDS_MAX 8
/* Most extra fds one service offers (shoal_service_spec.extra_fds). */
#define SHOAL_SERVICE_EXTRA_FDS_MAX 4096
/* Longest origin (shoal_service_spec.origin), in bytes. */
#define SHOAL_ORIGIN_MAX 127

/* What a service is; the registry only records it. */
enum {
	SHOAL_PATTERN_CHANNEL = 1,
	SHOAL_PATTERN_PUBSUB = 2,
	SHOAL_PATTERN_QUEUE = 3,
	SHOAL_PATTERN_RPC = 4,
	SHOAL_PATTERN_EVENT = 5,
	SHOAL_PATTERN_STORE = 6,
	/* Values >= 1024 are the application's. */
};

/*
 * Who may take a service's fds from another uid. The owner's fd server
 * (the SCM_RIGHTS path) checks the caller's SO_PEERCRED uid and groups at
 * each request; root and the owner's uid are always allowed (they could
 * use pidfd_getfd, which the kernel's ptrace rules govern, and which never
 * works across uids). GROUP and ANYONE never mean more than the registry's
 * directory allows: the caller must also be able to search it and every
 * directory above it, by their mode bits at the time of the request. The
 * descriptor file gets mode 0600, 0640 or 0644. See docs/registry.md.
 */
enum {
	/* The owner's uid (and root) only. */
	SHOAL_ACCESS_OWNER = 0,
	/* Plus members (primary or supplementary group) of the registry's
	 * group (a private registry's: the owner's primary group) that can
	 * reach the registry directory. */
	SHOAL_ACCESS_GROUP = 1,
	/* Plus any uid that can reach the registry directory: in a private
	 * 0700 registry, nobody else; in a 2770 group registry, the group;
	 * anyone only where the directory and its path let others search
	 * (e.g. a 2775 group registry under 0755 directories). Judged by
	 * mode bits only (no ACLs, no LSMs). An admitted uid gets the same
	 * fds as any peer: the memfd (writable, unless the pattern seals it,
	 * as pub/sub's payload), the eventfds and the extra fds, so it can
	 * do whatever a hostile peer can (docs/security.md). */
	SHOAL_ACCESS_ANYONE = 2,
};

struct shoal_registry_options {
	/* NULL: $SHOAL_DIR, else $XDG_RUNTIME_DIR/shoal, else
	 * /dev/shm/shoal-<uid>. Created if missing (mode below), unless
	 * SHOAL_REGISTRY_NO_CREATE. A symlink is followed when root or our
	 * euid owns it, and refused (-EACCES) otherwise; what it leads to
	 * is checked as any registry directory (docs/security.md). */
	const char *dir;
	/* Nonzero: a group registry, shared by the members of group @gid:
	 * mode 2770, owned by @gid. Otherwise a private one: mode 0700. */
	uint32_t group;
	uint32_t gid;
	uint32_t flags; /* SHOAL_REGISTRY_* */
};

/* shoal_registry_options.flags */
enum {
	/* Open an existing directory only: a missing one is -ENOENT, not
	 * created (for what only reads, like 'shoal list'). */
	SHOAL_REGISTRY_NO_CREATE = 1u << 0,
};

/* What an owner announces. */
struct shoal_service_spec {
	const char *name; /* see docs/registry.md for the rules */
	uint32_t pattern; /* SHOAL_PATTERN_* */
	uint32_t access;  /* SHOAL_ACCESS_* */
	int memfd;	  /* the segment, created by shoal_segment_create */
	uint32_t eventfd_count; /* 0..SHOAL_SERVICE_EVENTFDS_MAX */
	const int *eventfds;	/* eventfd_count eventfds */
	const char *type_name;	/* payload type; NULL: "" */
	uint32_t type_size;	/* bytes; 0: untyped */
	uint32_t type_align;	/* bytes; 0: untyped */
	uint32_t flags;		/* SHOAL_PUBLISH_* */
	/*
	 * Extra fds: fds beyond the memfd and eventfds that a peer may take
	 * one at a time, by index (0..extra_fd_count-1), after opening the
	 * service, without receiving the others (e.g. one eventfd per
	 * subscriber slot). Any kind of fd: the registry checks only that
	 * each is open; the peer that takes one checks its kind. The entry
	 * BORROWS them, and the array too (no dup, no copy): the caller
	 * keeps both the array and the fds open and unchanged until
	 * shoal_entry_destroy(). 0..SHOAL_SERVICE_EXTRA_FDS_MAX; the count
	 * is recorded in the descriptor, the fd numbers are not (a peer
	 * learns them from the service itself, or gets them by SCM_RIGHTS).
	 */
	uint32_t extra_fd_count;
	const int *extra_fds;
	/*
	 * Where the service comes from, for people: NULL or "" for a local
	 * service; set by an owner that stands in for a service elsewhere
	 * (the NATS gateway's mirrors: "nats://HOST:PORT SITE NAME",
	 * docs/gateway.md). Printable ASCII (0x20..0x7e), at most
	 * SHOAL_ORIGIN_MAX bytes, else -EINVAL. Recorded in the descriptor
	 * and shown by list and info; nothing in the library acts on it,
	 * and like every descriptor field it is only as true as the owner.
	 */
	const char *origin;
};

/* shoal_service_spec.flags */
enum {
	/* Serve SCM_RIGHTS requests from a helper thread. Without it, the
	 * application polls shoal_entry_fd() and calls shoal_entry_dispatch(). */
	SHOAL_PUBLISH_SERVER_THREAD = 1u << 0,
};

/* What anyone can learn about a published service. */
struct shoal_service_info {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	char type_name[SHOAL_TYPE_NAME_MAX + 1];
	uint32_t pattern;
	uint32_t access;
	int32_t pid;	     /* owner; 0: it runs in another PID namespace,
			      * where its pid means nothing to us */
	uint32_t uid;	     /* owner */
	uint64_t epoch;	     /* owner's incarnation of this name */
	uint64_t memfd_size; /* bytes of the segment */
	uint32_t eventfd_count;
	uint32_t type_size;
	uint32_t type_align;
	uint32_t extra_fd_count; /* extra fds offered (spec.extra_fd_count) */
	int64_t created_ns;	 /* CLOCK_REALTIME when published */
	/* shoal_service_spec.origin: "" for a local service (and for every
	 * service published by a shoal before descriptor minor 3). */
	char origin[SHOAL_ORIGIN_MAX + 1];
};

/* shoal_registry_open() flags */
enum {
	/* Map the segment read-only. */
	SHOAL_OPEN_READ_ONLY = 1u << 0,
	/* Skip pidfd_getfd and ask the owner by SCM_RIGHTS (containers whose
	 * seccomp profile kills on pidfd_getfd; tests). */
	SHOAL_OPEN_NO_PIDFD_GETFD = 1u << 1,
};

/* How an opened service obtained its fds. */
enum {
	SHOAL_FDS_BY_PIDFD_GETFD = 1,
	SHOAL_FDS_BY_SCM_RIGHTS = 2,
};

struct shoal_registry; /* a registry directory */
struct shoal_entry;    /* a service this process published */
struct shoal_service;  /* a service this process opened */

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_registry_options_init(struct shoal_registry_options *opts);

/*
 * shoal_registry_create - find (creating it if needed, mode 0700 or 2770
 * whatever the umask) and open the registry directory, with
 * O_DIRECTORY|O_NOFOLLOW. -EACCES (with a detail) if it is owned by another
 * user, or writable by others, or for a group registry not owned by the
 * group; -ENOTDIR if it is not a directory (a symlink included).
 */
SHOAL_API int shoal_registry_create(const struct shoal_registry_options *opts,
				    struct shoal_registry **out);
/* Close the registry handle (the directory and its entries stay). NULL:
 * no-op. */
SHOAL_API void shoal_registry_destroy(struct shoal_registry *reg);
/* The directory's path. */
SHOAL_API const char *shoal_registry_path(const struct shoal_registry *reg);

/*
 * shoal_registry_publish - announce a service. Returns 0, -EINVAL (bad name,
 * spec, fds that are not a sealed memfd and eventfds, or extra fds over
 * SHOAL_SERVICE_EXTRA_FDS_MAX, NULL, negative or not open), -EEXIST (the name
 * is held by a live owner), or an -errno of the file system. An entry left
 * by a dead owner is removed and publication retried. Any access mode may
 * be published in any registry: the directory's modes, read at each
 * request, bound what it means (GROUP or ANYONE in a private 0700 registry
 * let nobody but the owner in, until the directory is opened up).
 */
SHOAL_API int shoal_registry_publish(struct shoal_registry *reg,
				     const struct shoal_service_spec *spec,
				     struct shoal_entry **out);

/* Withdraw the entry (remove the file if it is still ours) and free it. */
SHOAL_API void shoal_entry_destroy(struct shoal_entry *entry);

/*
 * The SCM_RIGHTS server of an entry, for applications with an event loop:
 * poll shoal_entry_fd() for POLLIN and call shoal_entry_dispatch(), which
 * serves what is pending without blocking and returns how many requests it
 * served (granted or refused), or -errno.
 * shoal_entry_fd - the fd to poll (an epoll set), or -EINVAL when a
 *   helper thread serves the entry (SHOAL_PUBLISH_SERVER_THREAD).
 * shoal_entry_dispatch - serve the pending requests, as above.
 * shoal_entry_epoch - the owner's incarnation of the name.
 */
SHOAL_API int shoal_entry_fd(const struct shoal_entry *entry);
SHOAL_API int shoal_entry_dispatch(struct shoal_entry *entry);
SHOAL_API uint64_t shoal_entry_epoch(const struct shoal_entry *entry);

/*
 * shoal_registry_open - find service @name, validate its descriptor, take
 * its fds from the owner, validate them, and map its segment.
 * Returns 0, -ENOENT (no such service, or its owner is dead), -EINVAL (bad
 * name), -EBADMSG (corrupt descriptor or fds not as announced), -EPROTO
 * (descriptor version), -EACCES/-EPERM (not allowed; -EPERM also when
 * pidfd_getfd is refused and the owner serves no fds), -EPIPE/-ETIMEDOUT
 * (the owner's fd server hung up or did not answer within 2 s), or what
 * shoal_segment_open() returns. Blocks only for the SCM_RIGHTS exchange,
 * bounded by that timeout.
 */
SHOAL_API int shoal_registry_open(struct shoal_registry *reg, const char *name,
				  uint32_t flags, struct shoal_service **out);
/* Unmap and close an opened service and free @svc. NULL: no-op. */
SHOAL_API void shoal_service_close(struct shoal_service *svc);

/* The opened service's mapped segment, owned by @svc. */
SHOAL_API struct shoal_segment *
shoal_service_segment(struct shoal_service *svc);
/* The @index-th announced eventfd, or -ENOENT. Owned by @svc. */
SHOAL_API int shoal_service_eventfd(const struct shoal_service *svc,
				    uint32_t index);
/*
 * An fd that becomes readable when the owner dies: a pidfd of the owner
 * (POLLIN) when it runs in our PID namespace and pidfd_open is allowed;
 * otherwise the read end of the owner's liveness pipe, handed over by its
 * fd server (POLLHUP, which poll and epoll report whatever was asked).
 * Owned by @svc. See docs/registry.md, "Namespaces", for the one case
 * where it never fires.
 */
SHOAL_API int shoal_service_pidfd(const struct shoal_service *svc);
/* 1 if the owner is still alive, 0 if it died. */
SHOAL_API int shoal_service_alive(const struct shoal_service *svc);
SHOAL_API void shoal_service_get_info(const struct shoal_service *svc,
				      struct shoal_service_info *info);
/* SHOAL_FDS_BY_PIDFD_GETFD or SHOAL_FDS_BY_SCM_RIGHTS. */
SHOAL_API int shoal_service_fd_source(const struct shoal_service *svc);

/*
 * shoal_registry_list - call @fn for every live service (stale entries and
 * files that fail validation are skipped). Stops early if @fn returns
 * nonzero. Returns the number of services passed to @fn, or -errno.
 */
typedef int (*shoal_list_fn)(const struct shoal_service_info *info,
			     void *user_data);
SHOAL_API int shoal_registry_list(struct shoal_registry *reg, shoal_list_fn fn,
				  void *user_data);

/* What one list saw of the directory's entries. */
struct shoal_list_report {
	uint32_t live;	  /* live services, passed to the function */
	uint32_t stale;	  /* entries whose owner is dead (or that were
			   * withdrawn during the pass): not listed, and
			   * what shoal_registry_clean() removes */
	uint32_t invalid; /* files that are not descriptors we may trust
			   * (docs/registry.md, "What an opener checks") */
};

/*
 * shoal_registry_list_report - shoal_registry_list(), and *@report (may be
 * NULL) counts what was not listed: so that a tool can say "N stale
 * entries hidden". Entries seen once each, in directory order.
 */
SHOAL_API int shoal_registry_list_report(struct shoal_registry *reg,
					 shoal_list_fn fn, void *user_data,
					 struct shoal_list_report *report);

/*
 * shoal_registry_clean - remove every entry whose owner is dead. Safe to run
 * concurrently with publishers, openers and other cleaners: a live entry is
 * never removed. Returns how many entries it removed, or -errno.
 */
SHOAL_API int shoal_registry_clean(struct shoal_registry *reg);

/* What one clean did with each directory entry. */
struct shoal_clean_report {
	uint32_t removed;      /* stale entries (and junk) removed */
	uint32_t live;	       /* live services, left alone */
	uint32_t kept;	       /* neither, left alone: directories, locked
				* files that are not descriptors, entries that
				* came alive meanwhile */
	uint32_t skipped;      /* stale entries NOT removed, for these: */
	uint32_t skipped_lock; /* of skipped: another process held the
				* directory's .lock past the pass's deadline */
	int32_t error;	       /* of skipped, the others: the first -errno
				* (e.g. -EACCES), 0 if none */
};

/*
 * shoal_registry_clean_report - shoal_registry_clean(), and *@report (may be
 * NULL) says what was done with every entry. Removing another process's
 * entry takes the directory's .lock, which anyone who can read it could
 * hold: the whole pass waits for it at most 5 s in total, after which each
 * remaining stale entry gets one try and is otherwise skipped
 * (skipped_lock). So a pass is bounded whatever holds the lock. Returns the
 * number removed (also when some were skipped: look at @report), or -errno
 * if the directory cannot be read.
 */
SHOAL_API int shoal_registry_clean_report(struct shoal_registry *reg,
					  struct shoal_clean_report *report);

/* Watching for services to appear and disappear. */
enum {
	SHOAL_WATCH_APPEARED = 1,
	SHOAL_WATCH_GONE = 2,
};

struct shoal_watch_event {
	uint32_t type; /* SHOAL_WATCH_* */
	uint32_t pad;
	struct shoal_service_info info; /* for GONE: what was last known */
};

struct shoal_watch;

/*
 * shoal_registry_watch - start watching; @reg must outlive the watch.
 * Services present now are reported as APPEARED by the first
 * shoal_watch_next() calls. Returns 0 or -errno.
 */
SHOAL_API int shoal_registry_watch(struct shoal_registry *reg,
				   struct shoal_watch **out);
/* A pollable fd: readable when shoal_watch_next() may have events. */
SHOAL_API int shoal_watch_fd(const struct shoal_watch *w);
/*
 * shoal_watch_next - the next event: 1 and *ev, 0 if none is pending now, or
 * -errno. Never blocks: wait on shoal_watch_fd(). A service whose owner dies
 * is reported GONE at once (its pidfd fires), before its file is cleaned.
 */
SHOAL_API int shoal_watch_next(struct shoal_watch *w,
			       struct shoal_watch_event *ev);
/* Stop watching and free @w. NULL: no-op. */
SHOAL_API void shoal_watch_close(struct shoal_watch *w);

#ifdef __cplusplus
}
#endif

#endif
