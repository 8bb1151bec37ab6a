/* SPDX-License-Identifier: MIT */
/*
 * The fd server's wire format, as a client that does not use the library
 * sees it (the description at the top of src/registry/fdserver_wire.h),
 * for tests that send raw requests: their own copy of the format, so that a change to the
 * library's shows up as a failing test instead of moving both sides.
 */
#ifndef SHOAL_TEST_FDSERVER_WIRE_H
#define SHOAL_TEST_FDSERVER_WIRE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TEST_WIRE_REQ_MAGIC 0x51444653u /* "SFDQ" */
#define TEST_WIRE_REP_MAGIC 0x52444653u /* "SFDR" */
#define TEST_WIRE_V1_SIZE 272
#define TEST_WIRE_V2_SIZE 280
/* Most fds a test receives from one reply (more are closed, counted). */
#define TEST_WIRE_FDS_MAX 16
/* Version 2 index of the owner's liveness fd (a pipe's read end). */
#define TEST_WIRE_INDEX_LIVENESS 0xffffffffu

/* Version 1 is the first 272 bytes; version 2 adds index and reserved. */
struct test_wire_request {
	uint32_t magic;
	uint16_t version;
	uint16_t name_len;
	uint64_t epoch;
	char name[256];
	uint32_t index; /* version 2: 0 the announced set, i + 1 extra fd i */
	uint32_t reserved;
};
_Static_assert(offsetof(struct test_wire_request, index) == TEST_WIRE_V1_SIZE,
	       "version 1 request is 272 bytes");
_Static_assert(sizeof(struct test_wire_request) == TEST_WIRE_V2_SIZE,
	       "version 2 request is 280 bytes");

struct test_wire_reply {
	uint32_t magic;
	uint16_t version;
	uint16_t pad;
	int32_t status;
	uint32_t nfds;
};
_Static_assert(sizeof(struct test_wire_reply) == 16, "reply is 16 bytes");

/* A request of @version for @name at @epoch, wire index @index. */
static inline void test_wire_init(struct test_wire_request *req,
				  uint16_t version, const char *name,
				  uint64_t epoch, uint32_t index)
{
	size_t len = strnlen(name, sizeof(req->name));

	memset(req, 0, sizeof(*req));
	req->magic = TEST_WIRE_REQ_MAGIC;
	req->version = version;
	req->name_len = (uint16_t)len;
	req->epoch = epoch;
	memcpy(req->name, name, len);
	req->index = index;
}

/* A blocking SEQPACKET socket connected to abstract name @sock, or -1. */
static inline int test_wire_connect(const char *sock)
{
	struct sockaddr_un sa;
	size_t len = strlen(sock);
	int s;

	if (len + 1 > sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, sock, len);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				len)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/*
 * Sends @len bytes of @buf on a fresh connection to @sock and reads one
 * reply (waiting at most @timeout_ms) into *rep, zeroed first. The fds
 * that came with it go to @fds (at most TEST_WIRE_FDS_MAX; the caller
 * closes them) and their count to *nfds (any beyond that are closed, still
 * counted). Returns the reply's size in bytes (0: the server hung up
 * without one), or -1 if there was no exchange (no connection, no reply in
 * time).
 */
static inline ssize_t test_wire_exchange(const char *sock, const void *buf,
					 size_t len,
					 struct test_wire_reply *rep, int *fds,
					 int *nfds, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * (TEST_WIRE_FDS_MAX + 4))];
	} ctl;
	struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .events = POLLIN };
	struct cmsghdr *cm;
	ssize_t n;
	int s;

	memset(rep, 0, sizeof(*rep));
	*nfds = 0;
	s = test_wire_connect(sock);
	if (s < 0)
		return -1;
	if (send(s, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(s);
		return -1;
	}
	p.fd = s;
	if (poll(&p, 1, timeout_ms) != 1) {
		close(s);
		return -1;
	}
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	close(s);
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (*nfds < TEST_WIRE_FDS_MAX)
				fds[*nfds] = fd;
			else
				close(fd);
			(*nfds)++;
		}
	}
	return n;
}

#endif
