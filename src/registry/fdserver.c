/* SPDX-License-Identifier: MIT */
/*
 * The SCM_RIGHTS fd server: the owner's side of the exchange in
 * fdserver_wire.h. It hands a service's memfd and eventfds, and its extra
 * fds one at a time, to a peer the access check (fdserver_access.c) lets
 * in; the client is fdclient.c.
 *
 * Checks, in order. First the peer's credentials (fdserver_access.c): a
 * peer that is not allowed gets -EACCES and no fds, whatever it sent.
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
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/fdserver_wire.h"

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
	if (!shoal__fdserver_peer_allowed(c, srv->access, srv->uid, srv->gid,
					  srv->dirfd))
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
