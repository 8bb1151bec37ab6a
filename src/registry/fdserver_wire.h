/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between the SCM_RIGHTS fd server (fdserver.c) and its
 * client (fdclient.c): how a peer gets a service's memfd and eventfds when
 * pidfd_getfd() is refused (another uid, Yama ptrace_scope, a seccomp
 * profile), and any of its extra fds, one at a time. It runs once per open
 * (and once per extra fd taken), never on the data path. Who may ask is in
 * fdserver_access.c.
 *
 * Transport. The owner listens on an AF_UNIX SOCK_SEQPACKET socket in the
 * abstract namespace, named "shoal-fd/<pid>/<epoch, 16 hex>/<64 random
 * bits, 16 hex>" (at most 54 bytes; the descriptor stores it without the
 * leading NUL). SEQPACKET keeps message boundaries, so each side reads one
 * whole message or learns (MSG_TRUNC) that it was too long. Abstract names
 * have no file permissions and vanish with the socket: a crashed owner
 * leaves nothing to clean. The random part keeps anyone from binding the
 * name first; authority never rests on it being secret, only on the
 * credential check (fdserver_access.c). It is not secret: every user of the network
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
 */
#ifndef SHOAL_SRC_FDSERVER_WIRE_H
#define SHOAL_SRC_FDSERVER_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "registry/registry_internal.h"

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

/* The abstract address of @name; returns its length for bind/connect. */
static inline socklen_t abstract_addr(struct sockaddr_un *sa, const char *name,
				      size_t len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays NUL: the abstract namespace. The name is not
	 * NUL-terminated there; its length is part of the address. */
	memcpy(sa->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

#endif
