/* SPDX-License-Identifier: MIT */
/*
 * The fd server's client: one connection, one request, one reply, in the
 * protocol of fdserver_wire.h.
 *
 * Checks, in the client, who must not trust the server either: exactly one
 * 16-byte message (MSG_TRUNC, MSG_CTRUNC or any other size: -EBADMSG),
 * magic, version: the one of the request (-EPROTO); a grant must announce
 * exactly the number of fds asked for (the announced set's, or 1 for an
 * extra fd) and carry exactly that many in exactly one SCM_RIGHTS message;
 * a refusal must carry none; -EINVAL answers only a version 2 request.
 * Whatever does not fit is -EBADMSG, and every fd that arrived is closed
 * first: a client never keeps an fd it was not announced. fds are received with MSG_CMSG_CLOEXEC. A whole fetch,
 * connect included, is bounded by its timeout (-ETIMEDOUT); no socket means
 * no server (-ENOENT: the owner is gone or withdrew the entry); a server
 * that closes without replying gives -EPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/fdserver_wire.h"

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
