/* SPDX-License-Identifier: MIT */
/*
 * Reading one directory entry: is it a descriptor we may trust, and is its
 * owner alive? Open, list, clean, watch and info all look through here.
 *
 * Opening treats the directory as hostile: O_NOFOLLOW|O_NONBLOCK (a symlink
 * or a FIFO can neither redirect nor block us), a regular file with one link
 * (no hard link to a file elsewhere), the exact size, owned by the expected
 * user, a valid descriptor naming the file it is in, and an owner that is
 * alive by the liveness rule (liveness.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_parts.h"

/* Opens and validates entry @file; *fd_out keeps it open for the caller. */
int shoal__probe_open(struct shoal_registry *reg, const char *file,
		      struct shoal__descriptor *d,
		      struct shoal_service_info *info, int *fd_out,
		      struct shoal__live_view *v)
{
	unsigned char buf[SHOAL__DESC_SIZE + 1];
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal__ns owner;
	struct stat st;
	ssize_t n;
	int fd, err;

	if (shoal__file_to_name(file, name))
		return shoal__fail(-EINVAL, "'%s' is not a service file", file);
	/* O_NONBLOCK: a FIFO planted here must not block us. */
	fd = openat(reg->dirfd, file,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return shoal__fail(-ENOENT, "no service '%s'", name);
		if (errno == ELOOP)
			return shoal__fail(-EBADMSG, "'%s' is a symlink", name);
		if (errno == ENXIO || errno == ENODEV)
			return shoal__fail(-EBADMSG,
					   "'%s' is a socket or device", name);
		return shoal__fail(-errno, "open '%s': %s", name,
				   strerror(errno));
	}
	/* A failed fstat (ENOMEM, EINTR...) says nothing about the file:
	 * reporting it as -EBADMSG would make a watcher or lister skip a
	 * live service for good. */
	if (fstat(fd, &st) < 0) {
		err = shoal__fail(-errno, "fstat '%s': %s", name,
				  strerror(errno));
		goto fail;
	}
	err = -EBADMSG;
	if (!S_ISREG(st.st_mode)) {
		shoal__fail(err, "'%s' is not a regular file", name);
		goto fail;
	}
	if (st.st_nlink == 0) {
		/* Unlinked since we opened it: withdrawn or cleaned. */
		err = shoal__fail(-ENOENT, "'%s' was just withdrawn", name);
		goto fail;
	}
	if (st.st_nlink != 1) {
		shoal__fail(err,
			    "'%s' has %lu links: a hard link is not a "
			    "descriptor",
			    name, (unsigned long)st.st_nlink);
		goto fail;
	}
	if (st.st_size != SHOAL__DESC_SIZE) {
		shoal__fail(err, "'%s' has %lld bytes, not %d", name,
			    (long long)st.st_size, SHOAL__DESC_SIZE);
		goto fail;
	}
	if (!reg->group && st.st_uid != reg->uid) {
		err = shoal__fail(-EACCES, "'%s' belongs to uid %u, not us",
				  name, (unsigned)st.st_uid);
		goto fail;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = shoal__fail(-errno, "read '%s': %s", name,
				  strerror(errno));
		goto fail;
	}
	err = shoal__descriptor_parse(buf, (size_t)n, d, info);
	if (err)
		goto fail;
	err = -EBADMSG;
	if (strcmp(d->name, name)) {
		shoal__fail(err, "file '%s' holds the descriptor of '%s'", name,
			    d->name);
		goto fail;
	}
	/* The claimed uid is the owner's view of it: compare it with the
	 * file's only in the owner's user namespace. Elsewhere the file's
	 * owner, as we see it, is the truth. */
	shoal__descriptor_owner_ns(d, &owner);
	if (!shoal__ns_user_differs(&owner, &v->self)) {
		if (d->owner_uid != st.st_uid) {
			shoal__fail(err,
				    "'%s' claims owner uid %u, file has "
				    "%u",
				    name, d->owner_uid, (unsigned)st.st_uid);
			goto fail;
		}
	} else if (info) {
		info->uid = (uint32_t)st.st_uid;
	}
	/* Liveness: the one rule (shoal__entry_live). */
	if (!shoal__entry_live(fd, d, v)) {
		err = shoal__fail(-ENOENT, "'%s' is stale: its owner is dead",
				  name);
		goto fail;
	}
	/* A pid of another PID namespace means nothing here. */
	if (info && shoal__owner_foreign(v, d))
		info->pid = 0;
	*fd_out = fd;
	return 0;

fail:
	close(fd);
	return err;
}

int shoal__registry_probe(struct shoal_registry *reg, const char *file,
			  struct shoal__descriptor *d,
			  struct shoal_service_info *info)
{
	struct shoal__live_view v;
	int fd, err;

	shoal__live_view_init(&v);
	err = shoal__probe_open(reg, file, d, info, &fd, &v);

	if (!err)
		close(fd);
	return err;
}
