/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces between the registry's parts: service names, the
 * descriptor codec, process identity, the SCM_RIGHTS fd server and client.
 */
#ifndef SHOAL_SRC_REGISTRY_INTERNAL_H
#define SHOAL_SRC_REGISTRY_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "shoal/registry.h"
#include "segment/layout.h"

/* names.c --------------------------------------------------------------- */

/*
 * shoal__name_check - the one check of a service name (docs/registry.md),
 * made first by every create and open: 0, or -EINVAL with the detail
 * "<who>: bad service name: ..." (@who NULL: no prefix). Any name it
 * accepts works in every pattern: the memfd's label is cut to fit the
 * kernel's limit (segment.c), the file name has the name's length.
 */
int shoal__name_check(const char *who, const char *name);
/*
 * Checks a service name (shoal__name_check) and writes its file name into
 * @file (SHOAL_SERVICE_NAME_MAX + 1 bytes): '/' becomes '%'. 0 or -EINVAL.
 */
int shoal__name_to_file(const char *name, char *file);
/* The reverse, for a directory entry; 0 or -EINVAL if it is not one. */
int shoal__file_to_name(const char *file, char *name);
/* Highest publisher slot: a name may end in "//1".."//63" (names.c). */
#define SHOAL__SLOT_MAX 63
/* The publisher slot a (valid) name ends in, 0 for none. */
uint32_t shoal__name_slot(const char *name);
/*
 * The registry name of publisher slot @slot of service @name into @out
 * (SHOAL_SERVICE_NAME_MAX + 1 bytes): @name itself for slot 0, else
 * "name//slot". -EINVAL: @name invalid or itself a slot's, @slot over
 * SHOAL__SLOT_MAX, or the result too long.
 */
int shoal__slot_name(const char *name, uint32_t slot, char *out);

/* descriptor.c ---------------------------------------------------------- */

/* FNV-1a 64 of a descriptor with its checksum field taken as 0. */
uint64_t shoal__descriptor_checksum(const struct shoal__descriptor *d);
/* Fills in magic, version, size and checksum. */
void shoal__descriptor_seal(struct shoal__descriptor *d);
/*
 * Validates @len bytes read from a descriptor file (untrusted), copying them
 * into *d unchanged and filling *info. -EBADMSG (size, magic, checksum, any
 * field out of bounds, extra_fd_count over SHOAL_SERVICE_EXTRA_FDS_MAX),
 * -EPROTO (major version). Never reads past @len.
 */
int shoal__descriptor_parse(const void *buf, size_t len,
			    struct shoal__descriptor *d,
			    struct shoal_service_info *info);

/*
 * The descriptor's extra fd count as its minor version defines it: the
 * field for minor >= 1, 0 for minor 0 (whose bytes there were reserved).
 */
uint32_t shoal__descriptor_extra_fd_count(const struct shoal__descriptor *d);

struct shoal__ns;
/* The owner's namespaces as the descriptor's minor defines them: the
 * fields for minor >= 2, all 0 (unknown) before. */
void shoal__descriptor_owner_ns(const struct shoal__descriptor *d,
				struct shoal__ns *ns);

/* The descriptor's origin as its minor defines it: the field for minor
 * >= 3 (checked by parse), "" before. Points into @d. */
const char *shoal__descriptor_origin(const struct shoal__descriptor *d);

/*
 * shoal__origin_check - @origin as a spec may give it: NULL, or printable
 * ASCII of at most SHOAL_ORIGIN_MAX bytes. 0, or -EINVAL with a detail
 * prefixed by @who.
 */
int shoal__origin_check(const char *who, const char *origin);

/* procid.c -------------------------------------------------------------- */

/* Start time of process @pid (field 22 of /proc/PID/stat); 0 on error. */
uint64_t shoal__proc_start_time(pid_t pid);
/* The calling process's own start time, from /proc/self/stat (right even
 * where /proc belongs to another PID namespace); 0 on error. */
uint64_t shoal__proc_start_time_self(void);

/*
 * Namespace identities: st_dev and st_ino of /proc/self/ns/pid and
 * /proc/self/ns/user; 0 and 0 when not known.
 */
struct shoal__ns {
	uint64_t pid_dev, pid_ino;
	uint64_t user_dev, user_ino;
};

/*
 * The calling process's namespaces. @proc_ours (may be NULL) is set to 1
 * when /proc numbers processes as this process's PID namespace does (its
 * /proc/self is getpid()), so /proc/PID is the process we call PID.
 */
void shoal__ns_self(struct shoal__ns *ns, int *proc_ours);

/*
 * 1 when both identities are known and differ: the owner's pid (uid)
 * means nothing, or something else, to us. 0 when they are equal or either
 * is unknown (a descriptor older than minor 2: same namespace assumed).
 */
int shoal__ns_pid_differs(const struct shoal__ns *a, const struct shoal__ns *b);
int shoal__ns_user_differs(const struct shoal__ns *a,
			   const struct shoal__ns *b);

/* directory.c, probe.c, liveness.c --------------------------------------- */

/* The registry directory's fd (O_DIRECTORY|O_NOFOLLOW), owned by @reg. */
int shoal__registry_dirfd(const struct shoal_registry *reg);

/*
 * 1 if the directory at @reg's path is no longer the one @reg has open (it
 * was removed, renamed, or replaced by another), 0 if it still is, -errno
 * if that cannot be told.
 */
int shoal__registry_moved(const struct shoal_registry *reg);

/*
 * A new handle on whatever directory is at @reg's path now, with @reg's
 * options and the checks of shoal_registry_create(), but never creating
 * it: -ENOENT while nothing is there. @reg itself is not touched.
 */
int shoal__registry_reopen(const struct shoal_registry *reg,
			   struct shoal_registry **out);

/*
 * Looks at directory entry @file: 0 and *d, *info if it is a valid
 * descriptor of a live owner; -ENOENT if it is absent or its owner is dead;
 * -EBADMSG / -EPROTO / -EACCES if it is not a descriptor we may trust
 * (not a regular file, hard-linked, wrong size, owner, name or checksum).
 * Never blocks.
 */
int shoal__registry_probe(struct shoal_registry *reg, const char *file,
			  struct shoal__descriptor *d,
			  struct shoal_service_info *info);

/*
 * 1 if the owner of descriptor @d (as probed) runs in another PID namespace
 * than ours: its pid names another process here, or none, and must not be
 * pinned or checked; 0 otherwise (also when either side is unknown).
 */
int shoal__registry_owner_foreign(const struct shoal__descriptor *d);

/* fdserver.c (server), fdclient.c (client), owner_liveness.c ----------- */

struct shoal__fdserver;

/*
 * Starts an fd server on a fresh abstract Unix socket, whose name (without
 * the leading NUL) is written to @socket_name (SHOAL__DESC_SOCKET_BYTES).
 * It hands @nfds fds (copied: duplicates are kept) to a client whose
 * SO_PEERCRED passes @access (owner uid @uid and root always; GROUP also
 * gid @gid as primary or supplementary group; ANYONE any uid), after the
 * client names @service and @epoch. This form serves no registry entry, so
 * no directory bounds the access mode (tests). With @thread, a helper
 * thread serves; otherwise the caller polls shoal__fdserver_fd() and calls
 * shoal__fdserver_dispatch().
 */
int shoal__fdserver_start(const char *service, uint64_t epoch, const int *fds,
			  uint32_t nfds, uint32_t access, uint32_t uid,
			  uint32_t gid, int thread, char *socket_name,
			  struct shoal__fdserver **out);
/*
 * The same, and the server also hands out, one per request and by index,
 * the @extra_count (0..SHOAL_SERVICE_EXTRA_FDS_MAX) fds of @extra_fds
 * (each >= 0). Those are BORROWED, not duplicated: the server keeps the
 * pointer @extra_fds, and the caller keeps that array and its fds valid
 * until shoal__fdserver_stop(). -EINVAL for a bad count or fd number.
 * @dirfd (duplicated; -1: none) is the directory of the registry the
 * service is published in: a peer other than root and the owner's uid is
 * then allowed only if, at the time of its request, it may also search
 * that directory and every one above it (GROUP and ANYONE never mean more
 * than the registry's directory lets in; see fdserver_access.c).
 */
int shoal__fdserver_start_extra(const char *service, uint64_t epoch,
				const int *fds, uint32_t nfds,
				const int *extra_fds, uint32_t extra_count,
				uint32_t access, uint32_t uid, uint32_t gid,
				int dirfd, int thread, char *socket_name,
				struct shoal__fdserver **out);
int shoal__fdserver_fd(const struct shoal__fdserver *srv);
/* Serves pending requests without blocking; how many, or -errno. */
int shoal__fdserver_dispatch(struct shoal__fdserver *srv);
void shoal__fdserver_stop(struct shoal__fdserver *srv);

/* fdserver_access.c ----------------------------------------------------- */

/*
 * Whether the peer of connected socket @c may have the fds of a service
 * published with @access by owner @uid (group @gid), from the registry
 * directory @dirfd (-1: none). Root and @uid always; GROUP a member of
 * @gid, ANYONE any uid, each only if it could also search @dirfd and every
 * directory above it now (fdserver_access.c). 1 allowed, 0 refused.
 */
int shoal__fdserver_peer_allowed(int c, uint32_t access, uint32_t uid,
				 uint32_t gid, int dirfd);

/*
 * Client: connects to @socket_name, asks for @service at @epoch, and
 * receives exactly @nfds fds into @fds (O_CLOEXEC). Fails with -EACCES if
 * refused, -EBADMSG if the reply or the number of fds is not as announced
 * (any received fd is closed), -EPROTO (protocol version), -ENOENT (nobody
 * listens), -EPIPE (hung up), -ETIMEDOUT after @timeout_ns.
 */
int shoal__fdclient_fetch(const char *socket_name, const char *service,
			  uint64_t epoch, int *fds, uint32_t nfds,
			  int64_t timeout_ns);
/*
 * The same exchange for extra fd @index alone (protocol version 2):
 * exactly one fd into *fd. Also -EINVAL when the server has no extra fd
 * @index (or @index is UINT32_MAX), and -EPROTO from a server that only
 * speaks version 1.
 */
int shoal__fdclient_fetch_extra(const char *socket_name, const char *service,
				uint64_t epoch, uint32_t index, int *fd,
				int64_t timeout_ns);

/*
 * The owner's liveness fd (index 0xffffffff of protocol version 2): one fd
 * into *fd, the read end of a pipe that polls POLLHUP once the owner has
 * exited. -EINVAL from a server that has none (older than it), else as
 * shoal__fdclient_fetch().
 */
int shoal__fdclient_fetch_liveness(const char *socket_name, const char *service,
				   uint64_t epoch, int *fd, int64_t timeout_ns);
/*
 * This process's liveness fd (made on first use, never closed; a forked
 * child gets its own): what the fd server hands a peer that cannot pin the
 * owner by pid. -1 if no pipe could be made.
 */
int shoal__liveness_fd(void);

/* open.c, directory.c --------------------------------------------------- */

/*
 * Takes the owner's extra fd @index into this process, close-on-exec.
 * @owner_fd is its fd number in the owner, as the caller read it from the
 * owner's own segment (untrusted), or -1 if unknown. When the service was
 * opened by pidfd_getfd and @owner_fd >= 0, pidfd_getfd(@owner_fd) is tried
 * first; otherwise, or if it fails, the owner's fd server is asked for
 * extra fd @index by SCM_RIGHTS (2 s timeout, as open). The kind of the fd
 * is not checked: the caller does that. Returns 0 and *out, -EINVAL
 * (@index >= the descriptor's extra_fd_count, NULL arguments), -EBADMSG
 * (the server has no extra fd @index although the descriptor announced
 * it), -EPERM (pidfd_getfd failed and the owner serves no fds), or what
 * the fetch returns (-EPIPE, -ENOENT, -ETIMEDOUT, -EACCES, -EPROTO,
 * -errno).
 */
int shoal__service_take_extra_fd(struct shoal_service *svc, uint32_t index,
				 int owner_fd, int *out);

/*
 * shoal__registry_use - @given if not NULL (*@owned = 0), else the default
 * registry, opened for the caller (*@owned = 1: shoal_registry_destroy()
 * it when done). Every pattern's "options.registry" means this.
 */
int shoal__registry_use(struct shoal_registry *given,
			struct shoal_registry **reg, int *owned);

#endif
