/* SPDX-License-Identifier: MIT */
/*
 * Who may take a service's fds from its fd server: the check the server
 * makes first, on the peer's credentials alone, before it reads anything
 * the request says.
 *
 * The peer's credentials are taken by SO_PEERCRED (and SO_PEERGROUPS) at
 * connect() time. A peer that is not allowed gets -EACCES, no fds,
 * whatever it sent (any name, epoch, index, size or version; the reply's
 * version follows the request's shape, so that a version 2 client reads
 * the refusal: fdserver_wire.h). So a refused peer learns nothing from the server: not
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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry_internal.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

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
static int peer_reaches_dir(int dirfd, const struct peer *p)
{
	struct stat st, up;
	int fd = dirfd, ok = 0;

	if (fstat(fd, &st) < 0 || !peer_may_search(p, &st))
		return 0;
	for (int depth = 0; depth < DIR_DEPTH_MAX; depth++) {
		/* O_PATH: needs search permission on @fd for us, which we
		 * have on our own registry's path; opens nothing else. */
		int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (fd != dirfd)
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
	if (fd >= 0 && fd != dirfd)
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
int shoal__fdserver_peer_allowed(int c, uint32_t access, uint32_t uid,
				 uint32_t gid, int dirfd)
{
	struct peer p;
	int ok;

	if (peer_read(c, &p) < 0)
		return 0;
	if (p.cred.uid == 0 || p.cred.uid == uid)
		ok = 1;
	else if (access == SHOAL_ACCESS_ANYONE)
		ok = dirfd < 0 || peer_reaches_dir(dirfd, &p);
	else if (access == SHOAL_ACCESS_GROUP)
		ok = peer_in_group(&p, gid) &&
		     (dirfd < 0 || peer_reaches_dir(dirfd, &p));
	else
		ok = 0;
	peer_free(&p);
	return ok;
}
