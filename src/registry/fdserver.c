/* SPDX-License-Identifier: MIT */
/*
 * The SCM_RIGHTS fd server and its client: how a peer gets a service's
 * memfd and eventfds when pidfd_getfd() is refused (another uid, Yama
 * ptrace_scope, a seccomp profile), and any of its extra fds, one at a
 * time. It runs once per open (and once per extra fd taken), never on the
 * data path.
 *
 * Transport. The owner listens on an AF_UNIX SOCK_SEQPACKET socket in the
 * abstract namespace, named "shoal-fd/<pid>/<epoch, 16 hex>/<64 random
 * bits, 16 hex>" (at most 54 bytes; the descriptor stores it without the
 * leading NUL). SEQPACKET keeps message boundaries, so each side reads one
 * whole message or learns (MSG_TRUNC) that it was too long. Abstract names
 * have no file permissions and vanish with the socket: a crashed owner
 * leaves nothing to clean. The random part keeps anyone from binding the
 * name first; authority never rests on it being secret, only on the
 * credential check below. It is not secret: every user of the network
 * namespace reads it (pid and epoch included) in /proc/net/unix.
 *
 * Exchange: one connection, one request, one reply, then both close.
 *
 *   request, client -> server, native byte order (both ends are on one
 *   host); version 1 is exactly 272 bytes, version 2 exactly 280:
 *	u32 magic     "SFDQ" (FDS_REQ_MAGIC)
 *	u16 version   1 or 2
 *	u16 name_len  bytes of the service name, 1..255
 *	u64 epoch     the epoch the client read in the descriptor
 *	char name[256] the service name, then zeros
 *     version 2 only:
 *	u32 index     0: the announced set, as version 1 asks for;
 *		      i + 1: extra fd i (0 <= i < the service's extra fd count);
 *		      0xffffffff: the owner's liveness fd (a pipe's read end
 *		      that polls POLLHUP when the owner exits; answered
 *		      -EINVAL by servers older than it)
 *	u32 reserved  0
 *   A client asks for the announced set with version 1 (so it works with
 *   every server) and for an extra fd with version 2 (which a server of
 *   version 1 refuses as malformed, in a version 1 reply that the client
 *   reports as -EPROTO).
 *
 *   reply, server -> client, exactly 16 bytes:
 *	u32 magic     "SFDR" (FDS_REP_MAGIC)
 *	u16 version   2 to a well-formed version 2 request (right size, magic
 *		      and version), 1 to anything else
 *	u16 pad       0
 *	i32 status    0 granted; -EACCES refused (the peer's credentials:
 *		      the only answer a refused peer ever gets); to an
 *		      allowed peer: -EBADMSG malformed request, or one that
 *		      names another service or epoch than this server's;
 *		      -EPROTO another protocol version; -EINVAL (version 2)
 *		      no extra fd of that index
 *	u32 nfds      granted: how many fds ride along; refused: 0
 *   and, only when granted, the fds in one SCM_RIGHTS control message of
 *   the same sendmsg(): for the announced set the memfd first, then the
 *   eventfds in descriptor order; for an extra fd exactly that one fd.
 *
 * Checks, in the server, in order. First the peer's credentials, taken by
 * SO_PEERCRED (and SO_PEERGROUPS) at connect() time, before anything the
 * request says: a peer that is not allowed gets -EACCES, no fds, whatever
 * it sent (any name, epoch, index, size or version; the reply's version
 * follows the request's shape as below, so that a version 2 client reads
 * the refusal). So a refused peer learns nothing from the server: not
 * whether a name or epoch it guessed is right, nor how many extra fds there
 * are. Allowed are:
 *	root	(uid 0 as this process's user namespace sees it): it could
 *		take the fds with pidfd_getfd() anyway;
 *	the owner's uid, for the same reason;
 *	GROUP	also a peer whose primary gid is the group, or who has it
 *		among its supplementary groups (SO_PEERGROUPS, Linux 4.13;
 *		without it only the primary gid counts);
 *	ANYONE	also a peer of any other uid;
 *	OWNER	nobody else;
 * and for GROUP and ANYONE, when the server serves a registry entry (it
 * holds the registry directory's fd), only a peer that could reach the
 * registry directory by its path now: one the mode bits of the directory
 * and of every directory above it, fstat()ed at the time of the request
 * (so a chmod since publication counts), let search, each read as the
 * kernel reads it (owner's class if the peer's uid owns it, else group's if
 * it is in the group, else others'). The descriptor is then readable to it
 * (0640 to the group for GROUP, 0644 for ANYONE), so an access mode never
 * means more than the registry's directory allows: ANYONE in a private
 * 0700 registry admits the owner only; in a 2770 group registry, the
 * group's members; in a registry whose directory (and path) others may
 * search, anyone. The walk up is ours (our mount namespace, our view of
 * the path); ACLs and LSMs are not consulted, and a peer with
 * CAP_DAC_READ_SEARCH but not uid 0 is treated as any other uid.
 *
 * Then the request itself, for an allowed peer: exactly one message of 272
 * or 280 bytes with no control data (fds a client attaches are dropped by
 * the kernel unreceived, because we give recvmsg() no room for them) and
 * the right magic (else -EBADMSG); its version is the one of its size, 1
 * for 272 bytes and 2 for 280 (else -EPROTO); a version 2 request has a
 * zero reserved field (else -EBADMSG). Then the name and epoch must be
 * this server's (else -EBADMSG): they can only differ when a descriptor
 * names the socket of another service or incarnation, i.e. the descriptor
 * is wrong. Last, a version 2 index must be 0 or name an extra fd the
 * server has (-EINVAL).
 *
 * The extra fds are the owner's, borrowed: the server keeps a pointer to
 * its array (up to SHOAL_SERVICE_EXTRA_FDS_MAX fds, too many to duplicate
 * for every service), which the owner keeps valid until it stops the
 * server. The announced set is duplicated as before.
 *
 * Checks, in the client, who must not trust the server either: exactly one
 * 16-byte message (MSG_TRUNC, MSG_CTRUNC or any other size: -EBADMSG),
 * magic, version: the one of the request (-EPROTO); a grant must announce
 * exactly the number of fds asked for (the announced set's, or 1 for an
 * extra fd) and carry exactly that many in exactly one SCM_RIGHTS message;
 * a refusal must carry none; -EINVAL answers only a version 2 request. Whatever does not fit is -EBADMSG, and every fd
 * that arrived is closed first: a client never keeps an fd it was not
 * announced. fds are received with MSG_CMSG_CLOEXEC. A whole fetch,
 * connect included, is bounded by its timeout (-ETIMEDOUT); no socket means
 * no server (-ENOENT: the owner is gone or withdrew the entry); a server
 * that closes without replying gives -EPIPE.
 *
 * Never wedged by a client. The server never blocks on a client: it accepts
 * with SOCK_NONBLOCK, answers at once a connection whose request has
 * arrived, and parks one whose request has not (at most PENDING_MAX, the
 * oldest evicted first when full) until its request comes or
 * REQUEST_TIMEOUT_NS passes. Replies are sent with MSG_DONTWAIT: a reply
 * that cannot be queued at once is dropped with the connection. One epoll
 * fd gathers the listening socket, the parked connections and a timerfd
 * armed for the earliest parked deadline, so "readable" means exactly
 * "dispatch has work": a request, a hang-up, or a deadline. A connecting
 * client that never writes costs one slot for REQUEST_TIMEOUT_NS, never
 * time.
 *
 * Threads. In dispatch mode the owner polls shoal__fdserver_fd() (the epoll
 * fd) and calls shoal__fdserver_dispatch() from one thread at a time. In
 * thread mode a helper thread, with every signal blocked, poll()s the epoll
 * fd and an eventfd that shoal__fdserver_stop() writes before it joins the
 * thread; the thread owns the server state between start and stop, so
 * there is nothing to lock, and shoal__fdserver_fd() and _dispatch() say
 * -EINVAL. A child forked from the owner that calls shoal__fdserver_stop()
 * only closes its copies of the fds: the parent's thread keeps serving.
 * All sends use MSG_NOSIGNAL: a client that hangs up early cannot SIGPIPE
 * the owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_internal.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* "SFDQ" and "SFDR" as little-endian u32. */
#define FDS_REQ_MAGIC 0x51444653u
#define FDS_REP_MAGIC 0x52444653u
/* Version 1 asks for the announced set; version 2 adds an index. */
#define FDS_VERSION_1 1
#define FDS_VERSION_2 2

/* Wire index of the owner's liveness fd (version 2): see
 * shoal__liveness_fd() and answer_liveness(). A server older than it
 * answers -EINVAL (no extra fd of that index). */
#define FDS_INDEX_LIVENESS UINT32_MAX

/* Most fds one reply carries: the memfd and every eventfd. */
#define FDS_MAX (1 + SHOAL__DESC_EVENTFDS)

/* Connections accepted but still waiting for their request. */
#define PENDING_MAX 16
/* How long a connection may take to send its request once accepted. */
#define REQUEST_TIMEOUT_NS (500LL * 1000000)
/* Connections accepted per dispatch call, so one call stays short even
 * while clients keep connecting; the rest wait in the backlog. */
#define ACCEPT_BATCH 64
#define LISTEN_BACKLOG 64
/* Tries at binding a fresh random name before giving up. */
#define BIND_TRIES 8
/* How long the helper thread pauses after a failure that would otherwise
 * make it spin (EMFILE leaves the listening socket readable). */
#define BACKOFF_MS 10

struct fds_request {
	uint32_t magic;
	uint16_t version;
	uint16_t name_len;
	uint64_t epoch;
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	/* Version 2 only: a version 1 request ends here. */
	uint32_t index; /* 0: the announced set; i + 1: extra fd i */
	uint32_t reserved;
};
#define FDS_REQ_V1_SIZE offsetof(struct fds_request, index)
#define FDS_REQ_V2_SIZE sizeof(struct fds_request)
_Static_assert(FDS_REQ_V1_SIZE == 272, "version 1 request is 272 bytes");
_Static_assert(sizeof(struct fds_request) == 280,
	       "version 2 request is 280 bytes");

struct fds_reply {
	uint32_t magic;
	uint16_t version;
	uint16_t pad;
	int32_t status;
	uint32_t nfds;
};
_Static_assert(sizeof(struct fds_reply) == 16, "reply is 16 bytes");

/* Room for FDS_MAX fds in one SCM_RIGHTS message, aligned for cmsghdr. */
union fds_control {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * FDS_MAX)];
};

struct pending {
	int fd;
	int64_t deadline_ns;
};

struct shoal__fdserver {
	int lfd;    /* listening socket */
	int epfd;   /* lfd, tfd and every pending connection */
	int tfd;    /* timerfd: the earliest pending deadline */
	int stopfd; /* thread mode: eventfd written by stop */
	int thread; /* served by the helper thread */
	pthread_t tid;
	pid_t pid; /* the process that started it (and has the thread) */
	uint32_t access;
	uint32_t uid;
	uint32_t gid;
	int dirfd; /* our duplicate of the registry directory, or -1 */
	uint32_t nfds;
	uint64_t epoch;
	size_t name_len;
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	int fds[FDS_MAX]; /* our own duplicates */
	const int *extra; /* the owner's extra fds: borrowed, not copied */
	uint32_t nextra;
	uint32_t npending;
	struct pending pending[PENDING_MAX];
};

/* Server ---------------------------------------------------------------- */

static void server_free(struct shoal__fdserver *srv)
{
	for (uint32_t i = 0; i < srv->npending; i++)
		close(srv->pending[i].fd);
	for (uint32_t i = 0; i < FDS_MAX; i++) {
		if (srv->fds[i] >= 0)
			close(srv->fds[i]);
	}
	if (srv->stopfd >= 0)
		close(srv->stopfd);
	if (srv->dirfd >= 0)
		close(srv->dirfd);
	if (srv->tfd >= 0)
		close(srv->tfd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv);
}

/* splitmix64: only for a name suffix when getrandom() has no entropy yet. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t random64(const void *salt)
{
	uint64_t r;

	/* GRND_NONBLOCK: never wait for the entropy pool at early boot. The
	 * suffix only has to be unpredictable enough that nobody binds our
	 * name first, and a failed bind is retried with another one. */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	return mix64((uint64_t)shoal__now_ns() ^ (uint64_t)(uintptr_t)salt);
}

/* The abstract address of @name; returns its length for bind/connect. */
static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name,
			       size_t len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays NUL: the abstract namespace. The name is not
	 * NUL-terminated there; its length is part of the address. */
	memcpy(sa->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* Binds srv->lfd to a fresh name, written to @name, and listens. */
static int bind_listen(struct shoal__fdserver *srv, char *name)
{
	struct sockaddr_un sa;
	int err = 0;

	srv->lfd = socket(AF_UNIX,
			  SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->lfd < 0)
		return shoal__fail(-errno, "fd server: socket: %s",
				   strerror(errno));
	for (int i = 0; i < BIND_TRIES; i++) {
		int n = snprintf(name, SHOAL__DESC_SOCKET_BYTES,
				 "shoal-fd/%d/%016llx/%016llx", (int)getpid(),
				 (unsigned long long)srv->epoch,
				 (unsigned long long)random64(srv));

		if (n < 0 || n >= SHOAL__DESC_SOCKET_BYTES)
			return shoal__fail(-ENAMETOOLONG,
					   "fd server: socket name too long");
		if (bind(srv->lfd, (struct sockaddr *)&sa,
			 abstract_addr(&sa, name, (size_t)n)) == 0) {
			err = 0;
			break;
		}
		err = -errno;
		/* Someone holds this name: draw another. */
		if (errno != EADDRINUSE)
			break;
	}
	if (err)
		return shoal__fail(err, "fd server: bind: %s", strerror(-err));
	if (listen(srv->lfd, LISTEN_BACKLOG) < 0)
		return shoal__fail(-errno, "fd server: listen: %s",
				   strerror(errno));
	return 0;
}

static void *serve_thread(void *arg);

int shoal__fdserver_start(const char *service, uint64_t epoch, const int *fds,
			  uint32_t nfds, uint32_t access, uint32_t uid,
			  uint32_t gid, int thread, char *socket_name,
			  struct shoal__fdserver **out)
{
	return shoal__fdserver_start_extra(service, epoch, fds, nfds, NULL, 0,
					   access, uid, gid, -1, thread,
					   socket_name, out);
}

int shoal__fdserver_start_extra(const char *service, uint64_t epoch,
				const int *fds, uint32_t nfds,
				const int *extra_fds, uint32_t extra_count,
				uint32_t access, uint32_t uid, uint32_t gid,
				int dirfd, int thread, char *socket_name,
				struct shoal__fdserver **out)
{
	char name[SHOAL__DESC_SOCKET_BYTES];
	struct epoll_event ev;
	struct shoal__fdserver *srv;
	size_t len;
	int err;

	if (!service || !fds || !socket_name || !out)
		return shoal__fail(-EINVAL, "fd server: NULL argument");
	len = strnlen(service, SHOAL_SERVICE_NAME_MAX + 1);
	if (len == 0 || len > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "fd server: bad service name");
	if (nfds == 0 || nfds > FDS_MAX)
		return shoal__fail(-EINVAL, "fd server: %u fds (1..%u)", nfds,
				   FDS_MAX);
	if (extra_count > SHOAL_SERVICE_EXTRA_FDS_MAX ||
	    (extra_count && !extra_fds))
		return shoal__fail(-EINVAL,
				   "fd server: %u extra fds (0..%d, not NULL)",
				   extra_count, SHOAL_SERVICE_EXTRA_FDS_MAX);
	for (uint32_t i = 0; i < extra_count; i++) {
		if (extra_fds[i] < 0)
			return shoal__fail(-EINVAL,
					   "fd server: extra fd %u is %d", i,
					   extra_fds[i]);
	}
	if (access != SHOAL_ACCESS_OWNER && access != SHOAL_ACCESS_GROUP &&
	    access != SHOAL_ACCESS_ANYONE)
		return shoal__fail(-EINVAL, "fd server: unknown access mode %u",
				   access);

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return shoal__fail(-ENOMEM, "fd server: out of memory");
	srv->lfd = srv->epfd = srv->tfd = srv->stopfd = srv->dirfd = -1;
	for (uint32_t i = 0; i < FDS_MAX; i++)
		srv->fds[i] = -1;
	srv->thread = !!thread;
	srv->pid = getpid();
	srv->access = access;
	srv->uid = uid;
	srv->gid = gid;
	srv->epoch = epoch;
	srv->nfds = nfds;
	srv->extra = extra_count ? extra_fds : NULL;
	srv->nextra = extra_count;
	srv->name_len = len;
	memcpy(srv->name, service, len);

	/* Our own copy of the directory too: the registry handle may be
	 * destroyed (and its fd number reused) while we still serve. */
	if (dirfd >= 0) {
		srv->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		if (srv->dirfd < 0) {
			err = shoal__fail(errno == EBADF ? -EINVAL : -errno,
					  "fd server: directory fd %d: %s",
					  dirfd, strerror(errno));
			goto fail_free;
		}
	}
	/* Our own copies: the caller may close or reuse its fd numbers. */
	for (uint32_t i = 0; i < nfds; i++) {
		srv->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (srv->fds[i] < 0) {
			err = shoal__fail(errno == EBADF ? -EINVAL : -errno,
					  "fd server: fd %d: %s", fds[i],
					  strerror(errno));
			goto fail_free;
		}
	}

	err = bind_listen(srv, name);
	if (err)
		goto fail_free;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->epfd < 0 || srv->tfd < 0) {
		err = shoal__fail(-errno, "fd server: epoll/timerfd: %s",
				  strerror(errno));
		goto fail_free;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = srv->lfd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) < 0) {
		err = shoal__fail(-errno, "fd server: epoll_ctl: %s",
				  strerror(errno));
		goto fail_free;
	}
	ev.data.fd = srv->tfd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->tfd, &ev) < 0) {
		err = shoal__fail(-errno, "fd server: epoll_ctl: %s",
				  strerror(errno));
		goto fail_free;
	}

	if (srv->thread) {
		sigset_t all, old;
		int rc;

		srv->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (srv->stopfd < 0) {
			err = shoal__fail(-errno, "fd server: eventfd: %s",
					  strerror(errno));
			goto fail_free;
		}
		/* The helper inherits a full signal mask, so the
		 * application's handlers never run on a thread it does not
		 * know about. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&srv->tid, NULL, serve_thread, srv);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc) {
			err = shoal__fail(-rc, "fd server: pthread_create: %s",
					  strerror(rc));
			goto fail_free;
		}
	}

	memcpy(socket_name, name, strlen(name) + 1);
	*out = srv;
	return 0;

fail_free:
	server_free(srv);
	return err;
}

/* Who is at the other end of a connection, as the kernel saw it at
 * connect() time. */
struct peer {
	struct ucred cred;
	gid_t small[64];
	gid_t *groups;	  /* supplementary groups: small, or malloc()ed */
	size_t ngroups;	  /* entries of groups */
	int groups_known; /* SO_PEERGROUPS answered */
};

/* Reads the credentials of the peer of @c; 0, or -1 if the kernel does not
 * say (the peer is then refused). */
static int peer_read(int c, struct peer *p)
{
	socklen_t len = sizeof(p->cred);

	memset(p, 0, sizeof(*p));
	p->groups = p->small;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &p->cred, &len) < 0 ||
	    len != sizeof(p->cred))
		return -1;
	len = sizeof(p->small);
	if (getsockopt(c, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) < 0) {
		/* ERANGE: more than 64 groups, and len now says how many
		 * bytes they take. ENOPROTOOPT (before Linux 4.13): only
		 * the primary gid is known. */
		if (errno != ERANGE || len == 0)
			return 0;
		p->groups = malloc(len);
		if (!p->groups) {
			p->groups = p->small;
			return 0;
		}
		if (getsockopt(c, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) <
		    0)
			return 0;
	}
	p->ngroups = len / sizeof(gid_t);
	p->groups_known = 1;
	return 0;
}

static void peer_free(struct peer *p)
{
	if (p->groups != p->small)
		free(p->groups);
}

/* Whether @gid is the peer's primary group or one of its supplementary. */
static int peer_in_group(const struct peer *p, gid_t gid)
{
	if (p->cred.gid == gid)
		return 1;
	for (size_t i = 0; i < p->ngroups; i++) {
		if (p->groups[i] == gid)
			return 1;
	}
	return 0;
}

/*
 * Whether the peer may search directory @st, by its mode bits as the kernel
 * reads them: the owner's class if the peer's uid owns it, else the group's
 * if the peer is in its group, else the others' (the first class that
 * matches decides, even when it has less than a later one).
 */
static int peer_may_search(const struct peer *p, const struct stat *st)
{
	if (!S_ISDIR(st->st_mode) || st->st_nlink == 0)
		return 0; /* removed: nobody reaches it by a path */
	if (p->cred.uid == st->st_uid)
		return !!(st->st_mode & S_IXUSR);
	if (peer_in_group(p, st->st_gid))
		return !!(st->st_mode & S_IXGRP);
	/* Supplementary groups unknown: the peer may belong to the group
	 * class, so both classes must let it through. */
	if (!p->groups_known)
		return (st->st_mode & (S_IXGRP | S_IXOTH)) ==
		       (S_IXGRP | S_IXOTH);
	return !!(st->st_mode & S_IXOTH);
}

/* Deepest directory tree we walk up; deeper is refused, not guessed. */
#define DIR_DEPTH_MAX 256

/*
 * Whether the peer could reach the registry directory by its path, as our
 * mount namespace sees it, now: it may search the directory and every
 * directory above it up to the root. Each is fstat()ed at this moment, so a
 * chmod since publication counts. Any failure refuses.
 */
static int peer_reaches_dir(const struct shoal__fdserver *srv,
			    const struct peer *p)
{
	struct stat st, up;
	int fd = srv->dirfd, ok = 0;

	if (fstat(fd, &st) < 0 || !peer_may_search(p, &st))
		return 0;
	for (int depth = 0; depth < DIR_DEPTH_MAX; depth++) {
		/* O_PATH: needs search permission on @fd for us, which we
		 * have on our own registry's path; opens nothing else. */
		int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (fd != srv->dirfd)
			close(fd);
		fd = parent;
		if (fd < 0 || fstat(fd, &up) < 0)
			break;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			ok = 1; /* ".." of the root is the root */
			break;
		}
		if (!peer_may_search(p, &up))
			break;
		st = up;
	}
	if (fd >= 0 && fd != srv->dirfd)
		close(fd);
	return ok;
}

/*
 * Whether the peer of @c may have the fds. Root and the owner's uid always
 * (both could take them with pidfd_getfd()); anyone else only if the access
 * mode names it (GROUP: a member of the group; ANYONE: any uid) AND, when
 * the server serves a registry entry, the peer could reach the registry
 * directory (peer_reaches_dir): the descriptor is then readable to it by
 * the mode the access mode gave it (0640 group, 0644 others), so a mode
 * never lets in a peer the registry's directory keeps out.
 */
static int peer_allowed(const struct shoal__fdserver *srv, int c)
{
	struct peer p;
	int ok;

	if (peer_read(c, &p) < 0)
		return 0;
	if (p.cred.uid == 0 || p.cred.uid == srv->uid)
		ok = 1;
	else if (srv->access == SHOAL_ACCESS_ANYONE)
		ok = srv->dirfd < 0 || peer_reaches_dir(srv, &p);
	else if (srv->access == SHOAL_ACCESS_GROUP)
		ok = peer_in_group(&p, srv->gid) &&
		     (srv->dirfd < 0 || peer_reaches_dir(srv, &p));
	else
		ok = 0;
	peer_free(&p);
	return ok;
}

/* The version a reply to @n bytes read with @flags is in: 2 for a
 * well-formed version 2 request (right size, magic and version), else 1. */
static uint16_t reply_version(const struct fds_request *req, ssize_t n,
			      int flags)
{
	if (!(flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    n == (ssize_t)FDS_REQ_V2_SIZE && req->magic == FDS_REQ_MAGIC &&
	    req->version == FDS_VERSION_2)
		return FDS_VERSION_2;
	return FDS_VERSION_1;
}

/*
 * The reply status for @n bytes of request read with @flags from @c, and in
 * *version the protocol version to reply in.
 *
 * The credentials come first: a peer that is not allowed gets -EACCES
 * whatever it sent, so it learns nothing from the server's answers (not
 * whether a name or epoch is right, nor how many extra fds there are).
 * Only the reply's version follows the request, from its shape alone.
 */
static int32_t judge(const struct shoal__fdserver *srv, int c,
		     const struct fds_request *req, ssize_t n, int flags,
		     uint16_t *version)
{
	*version = reply_version(req, n, flags);
	if (!peer_allowed(srv, c))
		return -EACCES;
	if ((flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (n != (ssize_t)FDS_REQ_V1_SIZE && n != (ssize_t)FDS_REQ_V2_SIZE) ||
	    req->magic != FDS_REQ_MAGIC)
		return -EBADMSG;
	/* Each size is one version's format. */
	if (req->version !=
	    (n == (ssize_t)FDS_REQ_V1_SIZE ? FDS_VERSION_1 : FDS_VERSION_2))
		return -EPROTO;
	if (req->version == FDS_VERSION_2 && req->reserved != 0)
		return -EBADMSG;
	if (req->epoch != srv->epoch || req->name_len != srv->name_len ||
	    memcmp(req->name, srv->name, srv->name_len) != 0)
		return -EBADMSG;
	/* Index i + 1 is extra fd i; written so that no value overflows. */
	if (req->version == FDS_VERSION_2 && req->index > srv->nextra)
		return -EINVAL;
	return 0;
}

/*
 * Replies @status in protocol @version; when granted, with the announced
 * set (@index 0) or extra fd @index - 1 (already checked).
 */
static void reply(const struct shoal__fdserver *srv, int c, uint16_t version,
		  int32_t status, uint32_t index)
{
	const int *fds = index ? &srv->extra[index - 1] : srv->fds;
	uint32_t nfds = index ? 1 : srv->nfds;
	struct fds_reply rep = {
		.magic = FDS_REP_MAGIC,
		.version = version,
		.status = status,
		.nfds = status == 0 ? nfds : 0,
	};
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union fds_control ctl;

	if (status == 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	/* Best effort: if it cannot be queued now, the client sees the
	 * connection close and gives up with -EPIPE. */
	while (sendmsg(c, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	       errno == EINTR)
		;
}

/*
 * The owner's liveness fd, for a peer that cannot pin the owner by pid (it
 * runs in another PID namespace, or a seccomp filter refuses pidfd_open):
 * the read end of a pipe whose write end only this process (and children
 * it forked without exec) holds. When the last write end closes, which is
 * when the owner exits however it exits, the read end polls POLLHUP. Unlike
 * a pidfd it needs no pidfd system call on either side and means the same
 * in every namespace. One pipe per process, made when a peer first asks
 * for it (an owner nobody asks pays nothing); never closed. A forked child
 * closes its copies of the parent's ends and makes its own: unlike the
 * descriptor's lock, which a child inherits because it cannot help it, the
 * parent's death shows even while children it forked live on.
 */
static pthread_mutex_t liveness_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t liveness_once = PTHREAD_ONCE_INIT;
static pid_t liveness_pid;
static int liveness_pipe[2] = { -1, -1 };

/* A fork while another thread held the lock must not leave the child a
 * lock nobody will release; nor the parent's pipe open (see above). */
static void liveness_child(void)
{
	pthread_mutex_init(&liveness_lock, NULL);
	if (liveness_pid != 0 && liveness_pid != getpid()) {
		close(liveness_pipe[0]);
		close(liveness_pipe[1]);
		liveness_pipe[0] = liveness_pipe[1] = -1;
		liveness_pid = 0;
	}
}

static void liveness_init(void)
{
	pthread_atfork(NULL, NULL, liveness_child);
}

int shoal__liveness_fd(void)
{
	pid_t me = getpid();
	int fds[2], fd;

	pthread_once(&liveness_once, liveness_init);
	pthread_mutex_lock(&liveness_lock);
	if (liveness_pid != me && pipe2(fds, O_CLOEXEC) == 0) {
		liveness_pipe[0] = fds[0];
		liveness_pipe[1] = fds[1];
		liveness_pid = me;
	}
	fd = liveness_pid == me ? liveness_pipe[0] : -1;
	pthread_mutex_unlock(&liveness_lock);
	return fd;
}

/*
 * A version 2 request for FDS_INDEX_LIVENESS: judged exactly as a request
 * for the announced set (same credentials, same name and epoch), then
 * answered with the one liveness fd, or -EINVAL when this owner has none.
 * Always 1: replied.
 */
static int answer_liveness(const struct shoal__fdserver *srv, int c,
			   struct fds_request *req, ssize_t n, int flags)
{
	struct fds_reply rep = { .magic = FDS_REP_MAGIC };
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union fds_control ctl;
	uint16_t version;
	int fd = -1;

	req->index = 0;
	rep.status = judge(srv, c, req, n, flags, &version);
	/* Made on the first request: an owner nobody asks pays nothing. */
	if (rep.status == 0 && (fd = shoal__liveness_fd()) < 0)
		rep.status = -EINVAL;
	rep.version = version;
	if (rep.status == 0) {
		struct cmsghdr *cm;

		rep.nfds = 1;
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (sendmsg(c, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	       errno == EINTR)
		;
	return 1;
}

/*
 * Reads the request on connection @c, if it has come, and replies.
 * 1: replied; 0: nothing to read yet; -1: the client is gone or broken.
 * The caller closes @c unless 0.
 */
static int answer(const struct shoal__fdserver *srv, int c)
{
	struct fds_request req;
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint16_t version;
	int32_t status;
	ssize_t n;

	/* Judged fields past a short message read as zero, never as stale
	 * stack bytes. */
	memset(&req, 0, sizeof(req));
	/* No msg_control: fds a client attaches are discarded by the kernel
	 * (and flagged MSG_CTRUNC), never installed in our table. */
	n = recvmsg(c, &msg, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -1;
	}
	if (n == 0 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -1; /* hung up (or an empty message: just as bad) */
	if (n == (ssize_t)FDS_REQ_V2_SIZE && req.index == FDS_INDEX_LIVENESS)
		return answer_liveness(srv, c, &req, n, msg.msg_flags);
	status = judge(srv, c, &req, n, msg.msg_flags, &version);
	reply(srv, c, version, status,
	      status == 0 && version == FDS_VERSION_2 ? req.index : 0);
	return 1;
}

static void drop_pending(struct shoal__fdserver *srv, uint32_t i)
{
	/* Closing the only fd of the socket removes it from the epoll set. */
	close(srv->pending[i].fd);
	srv->pending[i] = srv->pending[--srv->npending];
}

/* Parks connection @c until its request comes; closes it if it cannot. */
static void park(struct shoal__fdserver *srv, int c, int64_t now)
{
	struct epoll_event ev;

	if (srv->npending == PENDING_MAX) {
		/* Full of clients that connect and say nothing: the one
		 * that has waited longest makes room. */
		uint32_t oldest = 0;

		for (uint32_t i = 1; i < srv->npending; i++) {
			if (srv->pending[i].deadline_ns <
			    srv->pending[oldest].deadline_ns)
				oldest = i;
		}
		drop_pending(srv, oldest);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.fd = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, c, &ev) < 0) {
		close(c);
		return;
	}
	srv->pending[srv->npending].fd = c;
	srv->pending[srv->npending].deadline_ns = now + REQUEST_TIMEOUT_NS;
	srv->npending++;
}

/* Arms the timerfd for the earliest pending deadline, or disarms it. */
static void arm_timer(struct shoal__fdserver *srv)
{
	struct itimerspec its;
	uint64_t ticks;
	ssize_t n;

	memset(&its, 0, sizeof(its));
	if (srv->npending) {
		int64_t first = srv->pending[0].deadline_ns;

		for (uint32_t i = 1; i < srv->npending; i++) {
			if (srv->pending[i].deadline_ns < first)
				first = srv->pending[i].deadline_ns;
		}
		its.it_value.tv_sec = first / 1000000000;
		its.it_value.tv_nsec = first % 1000000000;
	}
	/* Consume an expiry so the epoll fd stops reporting it (settime
	 * below resets the count too; this only makes it explicit). EAGAIN
	 * just means it had not fired. */
	n = read(srv->tfd, &ticks, sizeof(ticks));
	(void)n;
	/* A zero it_value disarms; a deadline already past fires at once. */
	timerfd_settime(srv->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Serves what is pending, never blocking; how many replies, or -errno. */
static int serve(struct shoal__fdserver *srv)
{
	int64_t now = shoal__now_ns();
	int served = 0, err = 0;

	/* Parked connections first: they came first. */
	for (uint32_t i = 0; i < srv->npending;) {
		int r = answer(srv, srv->pending[i].fd);

		if (r == 0 && now - srv->pending[i].deadline_ns < 0) {
			i++;
			continue;
		}
		/* Answered, gone, or out of time: done with it. The slot is
		 * refilled from the end, so look at index i again. */
		served += r > 0;
		drop_pending(srv, i);
	}

	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int c = accept4(srv->lfd, NULL, NULL,
				SOCK_CLOEXEC | SOCK_NONBLOCK);
		int r;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				err = shoal__fail(-errno,
						  "fd server: accept: %s",
						  strerror(errno));
			break;
		}
		r = answer(srv, c);
		if (r == 0)
			park(srv, c, now);
		else
			close(c);
		served += r > 0;
	}
	arm_timer(srv);
	return served ? served : err;
}

static void *serve_thread(void *arg)
{
	struct shoal__fdserver *srv = arg;
	struct pollfd p[2] = {
		{ .fd = srv->stopfd, .events = POLLIN },
		{ .fd = srv->epfd, .events = POLLIN },
	};

	for (;;) {
		int n = poll(p, 2, -1);

		if (n < 0) {
			if (errno != EINTR)
				poll(p, 1, BACKOFF_MS);
			continue;
		}
		if (p[0].revents)
			break;
		/* An error (EMFILE) leaves the listening socket readable:
		 * pause instead of spinning, still listening for stop. */
		if (p[1].revents && serve(srv) < 0)
			poll(p, 1, BACKOFF_MS);
	}
	return NULL;
}

int shoal__fdserver_fd(const struct shoal__fdserver *srv)
{
	if (!srv)
		return shoal__fail(-EINVAL, "fd server: NULL");
	if (srv->thread)
		return shoal__fail(-EINVAL,
				   "fd server: served by a helper thread");
	return srv->epfd;
}

int shoal__fdserver_dispatch(struct shoal__fdserver *srv)
{
	if (!srv)
		return shoal__fail(-EINVAL, "fd server: NULL");
	/* The helper thread owns the state: serving here too would race. */
	if (srv->thread)
		return shoal__fail(-EINVAL,
				   "fd server: served by a helper thread");
	return serve(srv);
}

void shoal__fdserver_stop(struct shoal__fdserver *srv)
{
	if (!srv)
		return;
	/* A child forked from the owner has the fds but not the thread, and
	 * shares the stop eventfd with its parent: signalling it would stop
	 * the parent's server. It only closes its own copies. */
	if (srv->thread && srv->pid == getpid()) {
		uint64_t one = 1;

		/* Cannot fail: the counter is far from its maximum, and the
		 * thread only polls it. */
		while (write(srv->stopfd, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
		pthread_join(srv->tid, NULL);
	}
	server_free(srv);
}

/* Client ---------------------------------------------------------------- */

/* Waits for @events on @fd until @deadline; 0 or -ETIMEDOUT. */
static int wait_until(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - shoal__now_ns();
		struct timespec ts;
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		n = ppoll(&p, 1, &ts, NULL);
		if (n > 0)
			return 0; /* ready, or an error the next call reports */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int client_connect(int s, const char *name, size_t len, int64_t deadline)
{
	struct sockaddr_un sa;
	socklen_t salen = abstract_addr(&sa, name, len);

	for (;;) {
		int err, r;
		socklen_t elen = sizeof(err);

		if (connect(s, (struct sockaddr *)&sa, salen) == 0)
			return 0;
		switch (errno) {
		case EINTR:
			continue;
		case EAGAIN:
			/* The backlog is full: AF_UNIX has no pending
			 * connect to poll for, so try again shortly. */
			if (shoal__now_ns() >= deadline)
				return shoal__fail(-ETIMEDOUT,
						   "fd server %s: backlog full "
						   "until the timeout",
						   name);
			poll(NULL, 0, 1);
			continue;
		case EINPROGRESS:
			/* Not done by AF_UNIX today; handled for safety. */
			r = wait_until(s, POLLOUT, deadline);
			if (r)
				return shoal__fail(r,
						   "fd server %s: connect: "
						   "%s",
						   name, strerror(-r));
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) <
			    0)
				err = errno;
			if (err == 0)
				return 0;
			errno = err;
			break;
		default:
			break;
		}
		break;
	}
	if (errno == ECONNREFUSED)
		return shoal__fail(-ENOENT,
				   "fd server %s: nobody listens (owner gone?)",
				   name);
	if (errno == EACCES || errno == EPERM)
		return shoal__fail(-EACCES, "fd server %s: connect: %s", name,
				   strerror(errno));
	return shoal__fail(-errno, "fd server %s: connect: %s", name,
			   strerror(errno));
}

/* Sends a request for wire index @index: version 1 for 0, else version 2. */
static int client_send(int s, const char *sock, const char *service, size_t len,
		       uint64_t epoch, uint32_t index, int64_t deadline)
{
	struct fds_request req;
	size_t size = index ? FDS_REQ_V2_SIZE : FDS_REQ_V1_SIZE;

	memset(&req, 0, sizeof(req));
	req.magic = FDS_REQ_MAGIC;
	req.version = index ? FDS_VERSION_2 : FDS_VERSION_1;
	req.name_len = (uint16_t)len;
	req.epoch = epoch;
	memcpy(req.name, service, len);
	req.index = index;
	for (;;) {
		ssize_t n = send(s, &req, size, MSG_DONTWAIT | MSG_NOSIGNAL);
		int r;

		if (n == (ssize_t)size)
			return 0;
		if (n >= 0)
			return shoal__fail(-EIO, "fd server %s: short send",
					   sock);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = wait_until(s, POLLOUT, deadline);
			if (r)
				return shoal__fail(r,
						   "fd server %s: sending "
						   "the request: %s",
						   sock, strerror(-r));
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return shoal__fail(-EPIPE, "fd server %s: hung up",
					   sock);
		return shoal__fail(-errno, "fd server %s: send: %s", sock,
				   strerror(errno));
	}
}

static void close_fds(const int *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
}

static int client_receive(int s, const char *sock, uint16_t version, int *out,
			  uint32_t nfds, int64_t deadline)
{
	/* Every fd a reply can bring in, even more than FDS_MAX: alignment
	 * padding can leave room for one or two extra in the buffer. */
	int got[sizeof(union fds_control) / sizeof(int)];
	uint32_t ngot = 0, nrights = 0, other = 0;
	struct fds_reply rep;
	union fds_control ctl;
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *cm;
	const char *why;
	ssize_t n;
	int err, eof_seen = 0;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = &rep;
		iov.iov_len = sizeof(rep);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(s, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		/* One end-of-file is read again: a non-blocking SEQPACKET
		 * recvmsg can find the queue empty, then see the server's
		 * close and return 0 just as the reply lands (about once in
		 * 10^5 fetches here). A second look finds the reply. Only a
		 * bare 0: an empty message with fds must be judged below. */
		if (n == 0 && !eof_seen && msg.msg_controllen == 0 &&
		    !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			eof_seen = 1;
			continue;
		}
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			err = wait_until(s, POLLIN, deadline);
			if (err == -ETIMEDOUT)
				return shoal__fail(err,
						   "fd server %s: no reply "
						   "in time",
						   sock);
			if (err)
				return shoal__fail(err,
						   "fd server %s: poll: %s",
						   sock, strerror(-err));
			continue;
		}
		if (errno == ECONNRESET)
			return shoal__fail(-EPIPE, "fd server %s: hung up",
					   sock);
		return shoal__fail(-errno, "fd server %s: recvmsg: %s", sock,
				   strerror(errno));
	}

	/* Take every fd that arrived into got[] first, whatever else is
	 * wrong, so that each one is either handed out or closed. */
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0)) {
			other++;
			continue;
		}
		nrights++;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (ngot < sizeof(got) / sizeof(got[0]))
				got[ngot++] = fd;
			else
				close(fd); /* cannot happen; stay safe */
		}
	}

	/* msg_flags is masked: Linux echoes MSG_CMSG_CLOEXEC back in it. */
	if (n == 0 && ngot == 0 && !other &&
	    !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		err = shoal__fail(-EPIPE,
				  "fd server %s: closed without a reply", sock);
		goto fail_close;
	}
	why = "truncated reply or control data";
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		goto fail_bad;
	why = "reply of the wrong size";
	if (n != (ssize_t)sizeof(rep))
		goto fail_bad;
	why = "bad reply magic";
	if (rep.magic != FDS_REP_MAGIC)
		goto fail_bad;
	if (rep.version != version) {
		err = shoal__fail(-EPROTO,
				  "fd server %s: protocol version %u, not %u",
				  sock, rep.version, version);
		goto fail_close;
	}
	why = "unexpected control message";
	if (other)
		goto fail_bad;
	if (rep.status != 0) {
		why = "fds attached to a refusal";
		if (ngot || rep.nfds)
			goto fail_bad;
		switch (rep.status) {
		case -EACCES:
			return shoal__fail(-EACCES,
					   "fd server %s: refused by the "
					   "service's access mode",
					   sock);
		case -EPROTO:
			return shoal__fail(-EPROTO,
					   "fd server %s: protocol version "
					   "refused",
					   sock);
		case -EBADMSG:
			return shoal__fail(-EBADMSG,
					   "fd server %s: serves another "
					   "service or epoch, or refused the "
					   "request as malformed",
					   sock);
		case -EINVAL:
			/* Only an answer to a version 2 request. */
			why = "-EINVAL in reply to a version 1 request";
			if (version != FDS_VERSION_2)
				goto fail_bad;
			return shoal__fail(-EINVAL,
					   "fd server %s: has no such extra fd",
					   sock);
		default:
			why = "unknown status";
			goto fail_bad;
		}
	}
	why = "fd count differs from the one asked for";
	if (rep.nfds != nfds || ngot != nfds || nrights != 1)
		goto fail_bad;
	memcpy(out, got, sizeof(int) * nfds);
	return 0;

fail_bad:
	err = shoal__fail(-EBADMSG,
			  "fd server %s: %s (status %d, %u fds announced, %u "
			  "received)",
			  sock, why, n == (ssize_t)sizeof(rep) ? rep.status : 0,
			  n == (ssize_t)sizeof(rep) ? rep.nfds : 0, ngot);
fail_close:
	close_fds(got, ngot);
	return err;
}

/*
 * One exchange: asks for wire index @index (0: the announced set, which
 * must be @nfds fds; i + 1: extra fd i, exactly one) and receives the fds
 * into @fds.
 */
static int fetch(const char *socket_name, const char *service, uint64_t epoch,
		 uint32_t index, int *fds, uint32_t nfds, int64_t timeout_ns)
{
	size_t sock_len, name_len;
	int64_t deadline;
	int s, err;

	if (!socket_name || !service || !fds)
		return shoal__fail(-EINVAL, "fd client: NULL argument");
	sock_len = strnlen(socket_name, SHOAL__DESC_SOCKET_BYTES);
	if (sock_len == 0 || sock_len == SHOAL__DESC_SOCKET_BYTES)
		return shoal__fail(-EINVAL, "fd client: no valid socket name");
	name_len = strnlen(service, SHOAL_SERVICE_NAME_MAX + 1);
	if (name_len == 0 || name_len > SHOAL_SERVICE_NAME_MAX)
		return shoal__fail(-EINVAL, "fd client: bad service name");
	if (nfds == 0 || nfds > FDS_MAX)
		return shoal__fail(-EINVAL, "fd client: %u fds (1..%u)", nfds,
				   FDS_MAX);
	if (timeout_ns <= 0)
		return shoal__fail(-EINVAL, "fd client: timeout must be > 0");
	deadline = shoal__deadline(timeout_ns);

	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return shoal__fail(-errno, "fd client: socket: %s",
				   strerror(errno));
	err = client_connect(s, socket_name, sock_len, deadline);
	if (!err)
		err = client_send(s, socket_name, service, name_len, epoch,
				  index, deadline);
	if (!err)
		err = client_receive(s, socket_name,
				     index ? FDS_VERSION_2 : FDS_VERSION_1, fds,
				     nfds, deadline);
	close(s);
	return err;
}

int shoal__fdclient_fetch(const char *socket_name, const char *service,
			  uint64_t epoch, int *fds, uint32_t nfds,
			  int64_t timeout_ns)
{
	return fetch(socket_name, service, epoch, 0, fds, nfds, timeout_ns);
}

int shoal__fdclient_fetch_liveness(const char *socket_name, const char *service,
				   uint64_t epoch, int *fd, int64_t timeout_ns)
{
	return fetch(socket_name, service, epoch, FDS_INDEX_LIVENESS, fd, 1,
		     timeout_ns);
}

int shoal__fdclient_fetch_extra(const char *socket_name, const char *service,
				uint64_t epoch, uint32_t index, int *fd,
				int64_t timeout_ns)
{
	/* Not capped at SHOAL_SERVICE_EXTRA_FDS_MAX: the server judges the
	 * index; only the wire value index + 1 must fit, and not be
	 * FDS_INDEX_LIVENESS. */
	if (index >= FDS_INDEX_LIVENESS - 1)
		return shoal__fail(-EINVAL, "fd client: extra fd index %u",
				   index);
	return fetch(socket_name, service, epoch, index + 1, fd, 1, timeout_ns);
}
