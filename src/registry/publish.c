/* SPDX-License-Identifier: MIT */
/*
 * Publishing a service: the descriptor, the fd server, the entry.
 *
 * Publication is atomic: the owner writes the whole descriptor into an
 * O_TMPFILE (invisible, nameless), takes a read lock on it, and only then
 * gives it a name with linkat(). A reader therefore sees a complete,
 * already-locked descriptor or nothing; an owner killed at any point leaves
 * either nothing or a complete file whose lock died with it.
 *
 * If the name is taken, the entry there is removed when the liveness rule
 * (liveness.c) calls it stale, and the link is tried again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_parts.h"
#include "segment/fdcheck.h"

/* How many times publish retries after removing a dead owner's entry. */
#define PUBLISH_RETRIES 8

struct shoal_entry {
	struct shoal_registry *reg;
	int fd; /* the descriptor, holding its OFD read lock */
	struct stat st;
	char file[SHOAL_SERVICE_NAME_MAX + 1];
	uint64_t epoch;
	struct shoal__fdserver *server;
};

/* Reads the segment epoch from a memfd's header, for the descriptor. */
static int segment_epoch(int memfd, uint64_t *epoch, uint64_t *size)
{
	struct shoal__seg_header h;
	struct stat st;
	int seals;

	if (shoal__fd_is_memfd(memfd) != 1)
		return shoal__fail(-EINVAL, "publish: memfd %d is not a memfd",
				   memfd);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
				 (F_SEAL_SHRINK | F_SEAL_GROW))
		return shoal__fail(-EINVAL,
				   "publish: memfd %d is not sealed against "
				   "shrink and grow",
				   memfd);
	if (fstat(memfd, &st) < 0 || st.st_size < (off_t)sizeof(h) ||
	    pread(memfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.magic != SHOAL__SEG_MAGIC || h.epoch == 0)
		return shoal__fail(-EINVAL,
				   "publish: memfd %d holds no shoal segment",
				   memfd);
	*epoch = h.epoch;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Builds the descriptor of @spec; checks what the owner hands us. */
static int build_descriptor(const struct shoal_service_spec *spec,
			    struct shoal__descriptor *d)
{
	struct shoal__ns ns;
	struct timespec ts;
	int err;

	memset(d, 0, sizeof(*d));
	if (spec->pattern == 0 || spec->access > SHOAL_ACCESS_ANYONE ||
	    spec->eventfd_count > SHOAL_SERVICE_EVENTFDS_MAX ||
	    (spec->eventfd_count && !spec->eventfds) ||
	    (spec->flags & ~(uint32_t)SHOAL_PUBLISH_SERVER_THREAD) ||
	    (spec->type_align & (spec->type_align - 1)))
		return shoal__fail(-EINVAL,
				   "publish: bad pattern, access, eventfds, "
				   "flags or type alignment");
	if (spec->type_name && strnlen(spec->type_name, sizeof(d->type_name)) >=
				       sizeof(d->type_name))
		return shoal__fail(-EINVAL, "publish: type name over %d bytes",
				   SHOAL_TYPE_NAME_MAX);
	if (spec->extra_fd_count > SHOAL_SERVICE_EXTRA_FDS_MAX ||
	    (spec->extra_fd_count && !spec->extra_fds))
		return shoal__fail(-EINVAL,
				   "publish: %u extra fds (0..%d, not NULL)",
				   spec->extra_fd_count,
				   SHOAL_SERVICE_EXTRA_FDS_MAX);
	/* Any kind of fd may be offered (the peer that takes one checks
	 * it), but it must be open: the entry borrows it as it is. */
	for (uint32_t i = 0; i < spec->extra_fd_count; i++) {
		if (spec->extra_fds[i] < 0 ||
		    fcntl(spec->extra_fds[i], F_GETFD) < 0)
			return shoal__fail(-EINVAL,
					   "publish: extra fd %u (%d) is not "
					   "an open fd",
					   i, spec->extra_fds[i]);
	}
	err = shoal__origin_check("publish", spec->origin);
	if (err)
		return err;
	err = segment_epoch(spec->memfd, &d->epoch, &d->memfd_size);
	if (err)
		return err;
	for (uint32_t i = 0; i < spec->eventfd_count; i++) {
		if (shoal__fd_is_eventfd(spec->eventfds[i]) != 1)
			return shoal__fail(-EINVAL,
					   "publish: fd %d is not an eventfd",
					   spec->eventfds[i]);
		d->eventfds[i] = spec->eventfds[i];
	}
	if (spec->type_name) {
		for (const char *c = spec->type_name; *c; c++) {
			if (*c < 0x20 || *c > 0x7e)
				return shoal__fail(-EINVAL,
						   "publish: type name is not "
						   "printable");
		}
		memcpy(d->type_name, spec->type_name,
		       strlen(spec->type_name) + 1);
	}
	memcpy(d->name, spec->name, strlen(spec->name) + 1);
	if (spec->origin)
		memcpy(d->origin, spec->origin, strlen(spec->origin) + 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	d->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	d->owner_pid = getpid();
	d->owner_start = shoal__proc_start_time_self();
	if (!d->owner_start)
		return shoal__fail(-ENOSYS,
				   "publish: cannot read /proc/self/stat");
	shoal__ns_self(&ns, NULL);
	d->owner_pidns_dev = ns.pid_dev;
	d->owner_pidns_ino = ns.pid_ino;
	d->owner_userns_dev = ns.user_dev;
	d->owner_userns_ino = ns.user_ino;
	d->owner_uid = geteuid();
	d->owner_gid = getegid();
	d->pattern = spec->pattern;
	d->access = spec->access;
	d->memfd = spec->memfd;
	d->eventfd_count = spec->eventfd_count;
	d->type_size = spec->type_size;
	d->type_align = spec->type_align;
	d->extra_fd_count = spec->extra_fd_count;
	return 0;
}

/* Writes @len bytes fully. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int shoal_registry_publish(struct shoal_registry *reg,
			   const struct shoal_service_spec *spec,
			   struct shoal_entry **out)
{
	struct shoal__descriptor d;
	struct shoal_entry *e;
	char proc[64];
	int fds[1 + SHOAL__DESC_EVENTFDS];
	int err, tries;

	if (!reg || !spec || !out)
		return shoal__fail(-EINVAL, "publish: NULL argument");
	e = calloc(1, sizeof(*e));
	if (!e)
		return shoal__fail(-ENOMEM, "publish: out of memory");
	e->reg = reg;
	e->fd = -1;
	err = shoal__name_to_file(spec->name, e->file);
	if (!err)
		err = build_descriptor(spec, &d);
	if (err)
		goto fail_free;
	e->epoch = d.epoch;

	/* The fd server hands out the same fds as pidfd_getfd would, and
	 * the extra fds, borrowed, one at a time. */
	fds[0] = spec->memfd;
	for (uint32_t i = 0; i < spec->eventfd_count; i++)
		fds[1 + i] = spec->eventfds[i];
	err = shoal__fdserver_start_extra(
		spec->name, d.epoch, fds, 1 + spec->eventfd_count,
		spec->extra_fds, spec->extra_fd_count, spec->access,
		d.owner_uid, reg->group ? reg->gid : d.owner_gid, reg->dirfd,
		!!(spec->flags & SHOAL_PUBLISH_SERVER_THREAD), d.socket_name,
		&e->server);
	if (err)
		goto fail_free;
	d.flags |= SHOAL__DESC_FLAG_FD_SERVER;
	shoal__descriptor_seal(&d);

	e->fd = openat(reg->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		       spec->access == SHOAL_ACCESS_OWNER ? 0600 :
		       spec->access == SHOAL_ACCESS_GROUP ? 0640 :
							    0644);
	if (e->fd < 0) {
		err = shoal__fail(-errno, "publish: O_TMPFILE in %s: %s",
				  reg->path, strerror(errno));
		goto fail_server;
	}
	/* The mode must not depend on the owner's umask: group members
	 * read the descriptors of SHOAL_ACCESS_GROUP services. */
	if (fchmod(e->fd, spec->access == SHOAL_ACCESS_OWNER ? 0600 :
			  spec->access == SHOAL_ACCESS_GROUP ? 0640 :
							       0644) < 0) {
		err = shoal__fail(-errno, "publish: chmod: %s",
				  strerror(errno));
		goto fail_fd;
	}
	/* Whole content and the lock first; the name last. */
	err = write_all(e->fd, &d, sizeof(d));
	if (!err)
		err = shoal__owner_lock_take(e->fd);
	if (!err && fstat(e->fd, &e->st) < 0)
		err = -errno;
	if (err) {
		err = shoal__fail(err, "publish: writing the descriptor: %s",
				  strerror(-err));
		goto fail_fd;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", e->fd);
	for (tries = 0;; tries++) {
		int r;

		/* linkat of /proc/self/fd/N: an O_TMPFILE gets its name
		 * without the CAP_DAC_READ_SEARCH that AT_EMPTY_PATH needs. */
		if (linkat(AT_FDCWD, proc, reg->dirfd, e->file,
			   AT_SYMLINK_FOLLOW) == 0)
			break;
		if (errno != EEXIST || tries == PUBLISH_RETRIES) {
			err = shoal__fail(errno == EEXIST ? -EEXIST : -errno,
					  "publish '%s': %s", spec->name,
					  strerror(errno));
			goto fail_fd;
		}
		r = shoal__remove_if_stale(
			reg, e->file,
			shoal__deadline(SHOAL__REGISTRY_LOCK_TIMEOUT_NS));
		if (r < 0) {
			err = r;
			goto fail_fd;
		}
		if (r == 0) {
			err = shoal__fail(-EEXIST,
					  "publish: '%s' is held by a live "
					  "owner",
					  spec->name);
			goto fail_fd;
		}
	}
	*out = e;
	return 0;

fail_fd:
	close(e->fd);
fail_server:
	shoal__fdserver_stop(e->server);
fail_free:
	free(e);
	return err;
}

void shoal_entry_destroy(struct shoal_entry *e)
{
	struct stat now;

	if (!e)
		return;
	/* Remove our name only if it is still ours. No directory lock is
	 * needed: nobody else removes an entry whose owner is alive, so
	 * nothing can replace it between this check and the unlink; and
	 * taking the lock would let anyone holding .lock delay us. */
	if (fstatat(e->reg->dirfd, e->file, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    shoal__same_file(&now, &e->st))
		unlinkat(e->reg->dirfd, e->file, 0);
	close(e->fd);
	shoal__fdserver_stop(e->server);
	free(e);
}

int shoal_entry_fd(const struct shoal_entry *e)
{
	return shoal__fdserver_fd(e->server);
}

int shoal_entry_dispatch(struct shoal_entry *e)
{
	return shoal__fdserver_dispatch(e->server);
}

uint64_t shoal_entry_epoch(const struct shoal_entry *e)
{
	return e->epoch;
}
