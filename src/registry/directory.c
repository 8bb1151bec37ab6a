/* SPDX-License-Identifier: MIT */
/*
 * The registry directory: where it is, and the checks every handle makes on
 * it before trusting it. One directory holds the descriptors of one user
 * (mode 0700, owned by that uid) or of one group (mode 2770, group-owned).
 * Whoever owns it is the one who can plant or remove files there, so a
 * directory that is writable by others, group-writable when private, or
 * owned by someone else is refused (-EACCES) rather than used: the
 * descriptors' checks (probe.c) assume the directory is not a stranger's.
 * A handle keeps an O_DIRECTORY|O_NOFOLLOW fd, so a directory renamed or
 * replaced later is noticed (shoal__registry_moved) and never followed by
 * path. A symlink given as the path is resolved once, at creation, if
 * root or we own it (resolve_link). Layout of the files: docs/registry-format.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_parts.h"

void shoal_registry_options_init(struct shoal_registry_options *opts)
{
	memset(opts, 0, sizeof(*opts));
}

/* $SHOAL_DIR, else $XDG_RUNTIME_DIR/shoal, else /dev/shm/shoal-<uid>. */
static int default_path(char *path, size_t cap)
{
	const char *env = getenv("SHOAL_DIR");
	int n;

	if (env && env[0])
		n = snprintf(path, cap, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && env[0])
		n = snprintf(path, cap, "%s/shoal", env);
	else
		n = snprintf(path, cap, "/dev/shm/shoal-%u",
			     (unsigned)geteuid());
	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/* Checks who owns the directory and who may write it. */
static int check_dir(const struct shoal_registry *reg, const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return shoal__fail(-ENOTDIR, "registry %s is not a directory",
				   reg->path);
	if (st->st_mode & S_IWOTH)
		return shoal__fail(-EACCES,
				   "registry %s is writable by others (mode "
				   "%o): refusing it",
				   reg->path, st->st_mode & 07777);
	if (reg->group) {
		if (st->st_gid != reg->gid)
			return shoal__fail(-EACCES,
					   "group registry %s belongs to group "
					   "%u, not %u",
					   reg->path, (unsigned)st->st_gid,
					   reg->gid);
		return 0;
	}
	if (st->st_uid != reg->uid)
		return shoal__fail(-EACCES,
				   "registry %s is owned by uid %u, not by us "
				   "(%u)",
				   reg->path, (unsigned)st->st_uid,
				   (unsigned)reg->uid);
	if (st->st_mode & S_IWGRP)
		return shoal__fail(
			-EACCES,
			"private registry %s is group-writable (mode "
			"%o): refusing it",
			reg->path, st->st_mode & 07777);
	return 0;
}

/*
 * A registry path whose last component is a symlink: followed once, here,
 * when root or our euid owns the link (whoever owns it decides where it
 * points, and a stranger's link could lead us to any directory we own,
 * such as ~/.ssh, to publish, list and clean in). reg->path becomes the
 * resolved path, so that nothing follows the link again: the handle's
 * O_NOFOLLOW open, the moved check and the reopen all name the directory
 * itself, and check_dir() checks it as any registry. A dangling link is
 * -ENOENT. Links higher in the path are followed as the kernel does.
 */
static int resolve_link(struct shoal_registry *reg)
{
	char real[PATH_MAX];
	struct stat st;

	if (lstat(reg->path, &st) < 0 || !S_ISLNK(st.st_mode))
		return 0; /* the open below says what is wrong, if anything */
	if (st.st_uid != 0 && st.st_uid != reg->uid)
		return shoal__fail(-EACCES,
				   "registry %s is a symlink owned by uid %u: "
				   "only one of root's or ours (%u) is "
				   "followed",
				   reg->path, (unsigned)st.st_uid,
				   (unsigned)reg->uid);
	if (!realpath(reg->path, real))
		return shoal__fail(
			-errno, "registry %s is a symlink: %s", reg->path,
			errno == ENOENT ? "it leads nowhere" : strerror(errno));
	memcpy(reg->path, real, sizeof(real));
	return 0;
}

int shoal_registry_create(const struct shoal_registry_options *opts,
			  struct shoal_registry **out)
{
	struct shoal_registry_options defaults;
	struct shoal_registry *reg;
	mode_t mode;
	struct stat st;
	int created = 0, err;

	if (!out)
		return shoal__fail(-EINVAL, "registry_create: NULL out");
	if (!opts) {
		shoal_registry_options_init(&defaults);
		opts = &defaults;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return shoal__fail(-ENOMEM, "registry_create: out of memory");
	reg->uid = geteuid();
	reg->group = !!opts->group;
	reg->gid = opts->gid;
	if (opts->dir) {
		if (snprintf(reg->path, sizeof(reg->path), "%s", opts->dir) >=
		    (int)sizeof(reg->path))
			err = -ENAMETOOLONG;
		else
			err = 0;
	} else {
		err = default_path(reg->path, sizeof(reg->path));
	}
	if (err) {
		err = shoal__fail(err, "registry path too long");
		goto fail_free;
	}
	if (opts->flags & ~(uint32_t)SHOAL_REGISTRY_NO_CREATE) {
		err = shoal__fail(-EINVAL,
				  "registry_create: unknown flags 0x%x",
				  opts->flags);
		goto fail_free;
	}
	mode = reg->group ? 02770 : 0700;
	if (opts->flags & SHOAL_REGISTRY_NO_CREATE)
		;
	else if (mkdir(reg->path, mode) == 0)
		created = 1;
	else if (errno != EEXIST) {
		err = shoal__fail(-errno, "mkdir %s: %s", reg->path,
				  strerror(errno));
		goto fail_free;
	}
	err = resolve_link(reg);
	if (err)
		goto fail_free;
	reg->dirfd = open(reg->path,
			  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (reg->dirfd < 0) {
		err = errno == ELOOP ? -ENOTDIR : -errno;
		err = shoal__fail(err, "open registry %s: %s", reg->path,
				  errno == ELOOP  ? "a symlink" :
				  errno == ENOENT ? "no such directory" :
						    strerror(errno));
		goto fail_free;
	}
	/* mkdir() honours the umask; the mode must not depend on it. */
	if (created && ((reg->group &&
			 fchown(reg->dirfd, (uid_t)-1, (gid_t)reg->gid) < 0) ||
			fchmod(reg->dirfd, mode) < 0)) {
		err = shoal__fail(-errno, "chmod registry %s: %s", reg->path,
				  strerror(errno));
		goto fail_close;
	}
	if (fstat(reg->dirfd, &st) < 0) {
		err = shoal__fail(-errno, "stat registry: %s", strerror(errno));
		goto fail_close;
	}
	err = check_dir(reg, &st);
	if (err)
		goto fail_close;
	*out = reg;
	return 0;

fail_close:
	close(reg->dirfd);
fail_free:
	free(reg);
	return err;
}

void shoal_registry_destroy(struct shoal_registry *reg)
{
	if (!reg)
		return;
	close(reg->dirfd);
	free(reg);
}

const char *shoal_registry_path(const struct shoal_registry *reg)
{
	return reg->path;
}

int shoal__registry_dirfd(const struct shoal_registry *reg)
{
	return reg->dirfd;
}

int shoal__registry_moved(const struct shoal_registry *reg)
{
	struct stat mine, now;

	if (fstat(reg->dirfd, &mine) < 0)
		return -errno;
	if (lstat(reg->path, &now) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : -errno;
	return !(S_ISDIR(now.st_mode) && mine.st_dev == now.st_dev &&
		 mine.st_ino == now.st_ino);
}

int shoal__registry_reopen(const struct shoal_registry *reg,
			   struct shoal_registry **out)
{
	struct shoal_registry *fresh;
	struct stat st;
	int err;

	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return shoal__fail(-ENOMEM, "registry_reopen: out of memory");
	fresh->uid = reg->uid;
	fresh->group = reg->group;
	fresh->gid = reg->gid;
	memcpy(fresh->path, reg->path, sizeof(fresh->path));
	/* No mkdir: whoever removed the directory decides whether it comes
	 * back, and with what owner. The same checks as at creation. */
	fresh->dirfd = open(fresh->path,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fresh->dirfd < 0) {
		err = shoal__fail(errno == ELOOP ? -ENOTDIR : -errno,
				  "reopen registry %s: %s", fresh->path,
				  errno == ELOOP ? "a symlink" :
						   strerror(errno));
		free(fresh);
		return err;
	}
	if (fstat(fresh->dirfd, &st) < 0)
		err = shoal__fail(-errno, "stat registry: %s", strerror(errno));
	else
		err = check_dir(fresh, &st);
	if (err) {
		close(fresh->dirfd);
		free(fresh);
		return err;
	}
	*out = fresh;
	return 0;
}

int shoal__registry_use(struct shoal_registry *given,
			struct shoal_registry **reg, int *owned)
{
	*owned = 0;
	if (given) {
		*reg = given;
		return 0;
	}
	*owned = 1;
	return shoal_registry_create(NULL, reg);
}
