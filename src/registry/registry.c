/* SPDX-License-Identifier: MIT */
/*
 * The registry: publish, open, list and clean services in a directory.
 *
 * Publication is atomic: the owner writes the whole descriptor into an
 * O_TMPFILE (invisible, nameless), takes a read lock on it, and only then
 * gives it a name with linkat(). A reader therefore sees a complete,
 * already-locked descriptor or nothing; an owner killed at any point leaves
 * either nothing or a complete file whose lock died with it.
 *
 * Liveness: the owner keeps that fd, and with it an open-file-description
 * read lock (F_OFD_SETLK, F_RDLCK over the whole file), for as long as the
 * service lives. The kernel drops an OFD lock when the last fd of its open
 * file closes, which is when the owner exits, however it exits. A checker
 * asks F_OFD_GETLK whether a write lock could be placed: "no conflict"
 * proves the owner gone. F_OFD_GETLK only queries; it never takes the lock,
 * so any number of checkers, listers and cleaners can look at once without
 * making a dead entry look alive to each other (as a probe that briefly
 * took an exclusive flock did: a concurrent lister made publishers see a
 * dead owner's entry as live). No heartbeat, no timeout, no pid race.
 * A child forked by the owner inherits the fd and so the lock; a locked
 * entry whose publishing process (pid and start time) is gone is therefore
 * stale too, or a crashed owner's child could hold its name indefinitely.
 * That is one rule in one function, entry_live(), which every path asks:
 * open, list, clean, removal, and the watcher through the probe.
 *
 * Removal is serialised: every removal of another process's entry (by a
 * cleaner, or a publisher replacing a dead owner's) happens under an
 * exclusive flock on the directory's ".lock" file, after checking that the
 * name still refers to the very inode that was found stale. Nothing renames
 * entries, linkat() never replaces one, and nobody removes a live entry but
 * its owner, so under that lock the name cannot change between the check
 * and the unlink, and a live entry is never removed. An owner withdrawing
 * its own entry needs no lock for the same reason. The lock is waited for
 * with a timeout: anyone who can read .lock could hold it.
 *
 * Opening treats the directory as hostile: O_NOFOLLOW|O_NONBLOCK (a symlink
 * or a FIFO can neither redirect nor block us), a regular file with one link
 * (no hard link to a file elsewhere), the exact size, owned by the expected
 * user, a valid descriptor naming the file it is in. Then the fds are taken
 * from the owner by number, as announced, and each is checked for what it
 * claims to be before it is used.
 *
 * Extra fds (shoal_service_spec.extra_fds) are offered, not announced: the
 * descriptor records only how many there are, and the owner's fd server
 * hands out one per request, by index. An opener takes one when it needs it
 * (shoal__service_take_extra_fd), by pidfd_getfd when it knows the fd's
 * number in the owner (from the service's own segment), else by SCM_RIGHTS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "segment/fdcheck.h"
#include "registry/registry_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* How long an opener waits for the owner's fd server. */
#define FETCH_TIMEOUT_NS (2LL * 1000000000)
/* How long a removal waits for the directory's .lock. */
#define LOCK_TIMEOUT_NS (5LL * 1000000000)
/* How many times publish retries after removing a dead owner's entry. */
#define PUBLISH_RETRIES 8

struct shoal_registry {
	int dirfd;
	uid_t uid;	/* our effective uid */
	uint32_t group; /* a group registry */
	uint32_t gid;
	char path[PATH_MAX];
};

struct shoal_entry {
	struct shoal_registry *reg;
	int fd; /* the descriptor, holding its OFD read lock */
	struct stat st;
	char file[SHOAL_SERVICE_NAME_MAX + 1];
	uint64_t epoch;
	struct shoal__fdserver *server;
};

/* What shoal_service_pidfd() is. */
enum {
	DEATH_PIDFD = 1, /* pidfd_open() of the owner: POLLIN at its death */
	DEATH_PIPE = 2,	 /* the owner's liveness fd: POLLHUP at its death */
	DEATH_NONE = 3,	 /* an eventfd nobody writes: see docs/registry.md */
};

struct shoal_service {
	struct shoal_segment *seg;
	int pidfd; /* the death fd, DEATH_* */
	int death;
	/* DEATH_NONE only: the descriptor, whose lock shoal_service_alive()
	 * asks, and the owner as the liveness rule needs it; else -1. */
	int dfd;
	pid_t owner_pid;
	uint64_t owner_start;
	int owner_foreign;
	int proc_ours;
	int source;
	uint32_t eventfd_count;
	int eventfds[SHOAL__DESC_EVENTFDS];
	struct shoal_service_info info;
	/* The owner's fd server, for extra fds; "" if it serves none. */
	char socket_name[SHOAL__DESC_SOCKET_BYTES];
};

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

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
	mode = reg->group ? 02770 : 0700;
	if (mkdir(reg->path, mode) == 0)
		created = 1;
	else if (errno != EEXIST) {
		err = shoal__fail(-errno, "mkdir %s: %s", reg->path,
				  strerror(errno));
		goto fail_free;
	}
	reg->dirfd = open(reg->path,
			  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (reg->dirfd < 0) {
		err = errno == ELOOP ? -ENOTDIR : -errno;
		err = shoal__fail(err, "open registry %s: %s", reg->path,
				  errno == ELOOP ? "a symlink" :
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

/*
 * Takes the directory's removal lock: a fresh open of ".lock" each time, so
 * that threads of one process exclude each other too (flock locks belong to
 * the open file, not the process). Waits until @deadline (shoal__now_ns()
 * time) at most; a deadline already past means one try. Returns the fd to
 * pass to unlock(), or -ETIMEDOUT while someone else holds it.
 */
static int lock_dir(struct shoal_registry *reg, int64_t deadline)
{
	mode_t mode = reg->group ? 0660 : 0600;
	struct stat st;
	int fd, err;

	/* Read-only is enough for flock, so members of a group registry can
	 * all use the file whoever created it. */
	fd = openat(reg->dirfd, ".lock",
		    O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return shoal__fail(-errno, "registry lock: %s",
				   strerror(errno));
	/* Its creator fixes the mode the umask may have narrowed. */
	if (fstat(fd, &st) == 0 && st.st_uid == reg->uid &&
	    (st.st_mode & 0777) != mode)
		fchmod(fd, mode);
	/* Bounded: anyone who can read .lock could hold it forever, and no
	 * registry call may hang without a timeout. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			err = -errno;
			close(fd);
			return shoal__fail(err, "registry lock: %s",
					   strerror(-err));
		}
		if (shoal__now_ns() >= deadline) {
			close(fd);
			return shoal__fail(-ETIMEDOUT,
					   "registry lock: %s/.lock is held by "
					   "another process",
					   reg->path);
		}
		usleep(1000);
	}
	return fd;
}

static void unlock_dir(int fd)
{
	close(fd); /* releases the flock */
}

/* Takes the owner's read lock on a descriptor for the service's life. */
static int hold_owner_lock(int fd)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/*
 * 1 if a live owner holds the lock on descriptor @fd, 0 if nobody does (the
 * owner is dead), -errno if the kernel cannot tell. Only queries.
 */
static int owner_alive(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/*
 * Is the process that published a descriptor still running? 1 when pid
 * @pid runs with start time @start, or runs and /proc does not tell us its
 * start time (hidepid, or a /proc of another PID namespace: @proc_ours 0):
 * then the lock alone decides, since wrongly calling a live owner dead
 * would remove its entry. 0 when the pid is gone or belongs to another
 * process (its start time differs: the pid was reused).
 */
static int owner_process_alive(pid_t pid, uint64_t start, int proc_ours)
{
	uint64_t now = proc_ours ? shoal__proc_start_time(pid) : 0;

	if (now)
		return now == start;
	return !(kill(pid, 0) < 0 && errno == ESRCH);
}

/*
 * What the liveness rule needs to know about the caller, and what one pass
 * (a list, a clean) learnt about owner processes: services of one owner
 * share one answer, so listing 10,000 services of one process reads its
 * /proc entry once, not 10,000 times.
 */
struct live_view {
	struct shoal__ns self; /* our namespaces */
	int proc_ours;	       /* /proc/PID is the process we call PID */
	pid_t pid;	       /* the last owner looked at */
	uint64_t start;
	int alive; /* -1: nothing cached */
};

static void live_view_init(struct live_view *v)
{
	memset(v, 0, sizeof(*v));
	shoal__ns_self(&v->self, &v->proc_ours);
	v->alive = -1;
}

/* 1 when @d's owner runs in another PID namespace than ours. */
static int owner_foreign(const struct live_view *v,
			 const struct shoal__descriptor *d)
{
	struct shoal__ns owner;

	shoal__descriptor_owner_ns(d, &owner);
	return shoal__ns_pid_differs(&owner, &v->self);
}

/*
 * THE liveness rule: every path that asks whether an entry is live (open,
 * list, clean, watch and info through shoal__registry_probe, a publisher
 * replacing a name, a cleaner about to remove one) asks this function and
 * nothing else. 1 live, 0 stale.
 *
 * @fd is the descriptor file, @d its parsed content or NULL when it does not
 * parse. Live means: someone holds the owner's lock (an answer the kernel
 * cannot give counts as held), and, for a descriptor that parses and whose
 * owner runs in our PID namespace, the process that published it still
 * runs (same pid, same start time). The second half matters because a
 * child the owner forked inherits the fd and its lock: without it a crashed
 * owner's child, or a stranger given the owner's pid, would keep the name
 * forever. For an owner in another PID namespace its pid means nothing
 * here (pid 1 of a container is not our pid 1): the lock alone decides.
 * Locked junk that does not parse counts as live: someone holds it, and
 * removing it is not ours to decide.
 */
static int entry_live(int fd, const struct shoal__descriptor *d,
		      struct live_view *v)
{
	int alive;

	if (owner_alive(fd) == 0)
		return 0;
	if (!d || owner_foreign(v, d))
		return 1;
	if (v->alive >= 0 && v->pid == d->owner_pid &&
	    v->start == d->owner_start)
		return v->alive;
	alive = owner_process_alive(d->owner_pid, d->owner_start, v->proc_ours);
	v->pid = d->owner_pid;
	v->start = d->owner_start;
	v->alive = alive;
	return alive;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Is descriptor @fd stale by the liveness rule (entry_live)? */
static int entry_stale(int fd)
{
	unsigned char buf[SHOAL__DESC_SIZE + 1];
	struct shoal__descriptor d;
	struct live_view v;
	ssize_t n;

	live_view_init(&v);
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0 || shoal__descriptor_parse(buf, (size_t)n, &d, NULL))
		return !entry_live(fd, NULL, &v);
	return !entry_live(fd, &d, &v);
}

/*
 * Removes @file if it is stale (entry_live) or not a regular file at all,
 * waiting for the directory's lock until @deadline. 1 if it is gone
 * (removed, or already absent), 0 if it stays (live, a directory, locked
 * junk), -ETIMEDOUT if the lock could not be had, or -errno.
 */
static int remove_if_stale(struct shoal_registry *reg, const char *file,
			   int64_t deadline)
{
	struct stat st, now;
	int lock, fd, r = 0;

	lock = lock_dir(reg, deadline);
	if (lock < 0)
		return lock;
	if (fstatat(reg->dirfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 1 : -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode))
		goto out; /* not ours to remove */
	if (!S_ISREG(st.st_mode)) {
		/* A symlink, FIFO or socket squatting a name: junk. */
		r = unlinkat(reg->dirfd, file, 0) == 0 ? 1 : -errno;
		goto out;
	}
	fd = openat(reg->dirfd, file,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT ? 1 : -errno;
		goto out;
	}
	if (!entry_stale(fd))
		goto out_fd;
	/* Stale: remove it only if the name still is the inode we judged.
	 * A failure to tell is an error, not a live entry. */
	if (fstat(fd, &st) < 0 ||
	    fstatat(reg->dirfd, file, &now, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 1 : -errno;
		goto out_fd;
	}
	if (same_file(&st, &now))
		r = unlinkat(reg->dirfd, file, 0) == 0 ? 1 : -errno;
out_fd:
	close(fd);
out:
	unlock_dir(lock);
	return r;
}

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
		err = hold_owner_lock(e->fd);
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
		r = remove_if_stale(reg, e->file,
				    shoal__deadline(LOCK_TIMEOUT_NS));
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
	    same_file(&now, &e->st))
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

/* Opens and validates entry @file; *fd_out keeps it open for the caller. */
static int probe_open(struct shoal_registry *reg, const char *file,
		      struct shoal__descriptor *d,
		      struct shoal_service_info *info, int *fd_out,
		      struct live_view *v)
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
	/* Liveness: the one rule (entry_live). */
	if (!entry_live(fd, d, v)) {
		err = shoal__fail(-ENOENT, "'%s' is stale: its owner is dead",
				  name);
		goto fail;
	}
	/* A pid of another PID namespace means nothing here. */
	if (info && owner_foreign(v, d))
		info->pid = 0;
	*fd_out = fd;
	return 0;

fail:
	close(fd);
	return err;
}

int shoal__registry_owner_foreign(const struct shoal__descriptor *d)
{
	struct live_view v;

	live_view_init(&v);
	return owner_foreign(&v, d);
}

int shoal__registry_probe(struct shoal_registry *reg, const char *file,
			  struct shoal__descriptor *d,
			  struct shoal_service_info *info)
{
	struct live_view v;
	int fd, err;

	live_view_init(&v);
	err = probe_open(reg, file, d, info, &fd, &v);

	if (!err)
		close(fd);
	return err;
}

/*
 * 1 if the entry whose descriptor @dfd we hold went away: unlinked (the
 * owner withdrew it) or its owner died or is dying. An owner closes the
 * fds it announced only while withdrawing or exiting, so a failure to take
 * them then is not a corrupt descriptor but a service that is gone. A
 * process being killed drops its files (and with them the descriptor's
 * lock) before its pidfd polls readable, so the lock is asked too: in that
 * window pidfd_getfd() already fails and its fd server already hangs up
 * (found by shoal soak).
 */
static int entry_withdrawn(int dfd, int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	struct stat st;

	if (fstat(dfd, &st) == 0 && st.st_nlink == 0)
		return 1;
	if (pidfd >= 0 && poll(&p, 1, 0) == 1)
		return 1;
	return owner_alive(dfd) == 0;
}

/* Takes the announced fds by pidfd_getfd; -EPERM when that is refused. */
static int take_by_pidfd(int pidfd, const struct shoal__descriptor *d, int *fds)
{
	uint32_t n = 1 + d->eventfd_count;

	for (uint32_t i = 0; i < n; i++) {
		int num = i == 0 ? d->memfd : d->eventfds[i - 1];

		fds[i] = pidfd_getfd(pidfd, num);
		if (fds[i] < 0) {
			int err = -errno;

			while (i--)
				close(fds[i]);
			if (err == -EPERM || err == -ENOSYS || err == -EACCES)
				return -EPERM;
			/* The owner is exiting: its files are going, and its
			 * pidfd may not poll readable yet. */
			if (err == -ESRCH)
				return shoal__fail(-ENOENT,
						   "owner exited while we took "
						   "fd %d",
						   num);
			return shoal__fail(
				-EBADMSG, "owner has no fd %d as announced: %s",
				num, strerror(-err));
		}
	}
	return 0;
}

/*
 * For an owner we could not pin by pid: its liveness fd from its fd server
 * (a pipe's read end, POLLHUP at its death), else, from an owner older
 * than that, an eventfd nobody writes (DEATH_NONE: shoal_service_alive()
 * then asks the descriptor's lock). 0 or -errno.
 */
static int take_death_fd(struct shoal_service *svc,
			 const struct shoal__descriptor *d)
{
	struct stat st;
	int fd, err;

	err = shoal__fdclient_fetch_liveness(d->socket_name, d->name, d->epoch,
					     &fd, FETCH_TIMEOUT_NS);
	if (err == 0) {
		if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
		    (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY) {
			close(fd);
			return shoal__fail(-EBADMSG,
					   "'%s': the owner's liveness fd is "
					   "not a pipe's read end",
					   d->name);
		}
		svc->pidfd = fd;
		svc->death = DEATH_PIPE;
		return 0;
	}
	if (err != -EINVAL && err != -EPROTO)
		return err;
	svc->pidfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (svc->pidfd < 0)
		return shoal__fail(-errno, "'%s': eventfd: %s", d->name,
				   strerror(errno));
	svc->death = DEATH_NONE;
	return 0;
}

int shoal_registry_open(struct shoal_registry *reg, const char *name,
			uint32_t flags, struct shoal_service **out)
{
	char file[SHOAL_SERVICE_NAME_MAX + 1];
	struct live_view v;
	struct shoal__descriptor d;
	struct shoal_service *svc;
	int fds[1 + SHOAL__DESC_EVENTFDS];
	struct stat st;
	uint32_t nfds;
	int dfd, err;

	if (!reg || !out ||
	    (flags &
	     ~(uint32_t)(SHOAL_OPEN_READ_ONLY | SHOAL_OPEN_NO_PIDFD_GETFD)))
		return shoal__fail(-EINVAL, "registry_open: bad arguments");
	err = shoal__name_to_file(name, file);
	if (err)
		return err;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return shoal__fail(-ENOMEM, "registry_open: out of memory");
	svc->pidfd = svc->dfd = -1;
	live_view_init(&v);
	err = probe_open(reg, file, &d, &svc->info, &dfd, &v);
	if (err)
		goto fail_free;
	svc->owner_pid = d.owner_pid;
	svc->owner_start = d.owner_start;
	svc->owner_foreign = owner_foreign(&v, &d);
	svc->proc_ours = v.proc_ours;

	/* Pin the owner, then make sure the pid still is the owner. An
	 * owner in another PID namespace cannot be pinned by its pid (it
	 * names another process here, or none): the fd server hands out
	 * the fds and the owner's liveness fd instead. So does a refused
	 * pidfd_open (a seccomp filter). */
	if (!svc->owner_foreign) {
		svc->pidfd = pidfd_open(d.owner_pid);
		if (svc->pidfd >= 0) {
			svc->death = DEATH_PIDFD;
		} else if (errno == ESRCH) {
			err = shoal__fail(-ENOENT, "pidfd_open(%d): %s",
					  d.owner_pid, strerror(errno));
			goto fail_desc;
		} else if (errno != EPERM && errno != EACCES &&
			   errno != ENOSYS) {
			err = shoal__fail(-errno, "pidfd_open(%d): %s",
					  d.owner_pid, strerror(errno));
			goto fail_desc;
		}
		if (svc->pidfd >= 0 && v.proc_ours &&
		    shoal__proc_start_time(d.owner_pid) != d.owner_start) {
			err = shoal__fail(-ENOENT,
					  "'%s': owner pid %d was reused by "
					  "another process",
					  name, d.owner_pid);
			goto fail_pidfd;
		}
	}
	if (svc->pidfd < 0 && !(d.flags & SHOAL__DESC_FLAG_FD_SERVER)) {
		err = shoal__fail(-EPERM,
				  "'%s': %s and the owner serves no fds", name,
				  svc->owner_foreign ?
					  "the owner runs in another PID "
					  "namespace" :
					  "pidfd_open is refused");
		goto fail_pidfd;
	}

	nfds = 1 + d.eventfd_count;
	err = -EPERM;
	if (svc->pidfd >= 0 && !(flags & SHOAL_OPEN_NO_PIDFD_GETFD))
		err = take_by_pidfd(svc->pidfd, &d, fds);
	if (err == 0) {
		svc->source = SHOAL_FDS_BY_PIDFD_GETFD;
	} else if (err == -EPERM && !(d.flags & SHOAL__DESC_FLAG_FD_SERVER)) {
		err = shoal__fail(-EPERM,
				  "'%s': pidfd_getfd refused and the owner "
				  "serves no fds",
				  name);
		goto fail_pidfd;
	} else if (err == -EPERM) {
		err = shoal__fdclient_fetch(d.socket_name, d.name, d.epoch, fds,
					    nfds, FETCH_TIMEOUT_NS);
		if (err && err != -EACCES && entry_withdrawn(dfd, svc->pidfd))
			err = shoal__fail(-ENOENT,
					  "'%s' went away while its fd server "
					  "answered",
					  name);
		if (err)
			goto fail_pidfd;
		svc->source = SHOAL_FDS_BY_SCM_RIGHTS;
	} else {
		if (err != -ENOENT && entry_withdrawn(dfd, svc->pidfd))
			err = shoal__fail(-ENOENT,
					  "'%s' was withdrawn while we took "
					  "its fds",
					  name);
		goto fail_pidfd;
	}
	if (svc->pidfd < 0) {
		err = take_death_fd(svc, &d);
		if (err)
			goto fail_fds;
	}

	/* Each fd must be what the descriptor says it is. */
	for (uint32_t i = 1; i < nfds; i++) {
		if (shoal__fd_is_eventfd(fds[i]) != 1) {
			err = shoal__fail(-EBADMSG,
					  "'%s': announced eventfd %u is not "
					  "an eventfd",
					  name, i - 1);
			goto fail_fds;
		}
	}
	if (fstat(fds[0], &st) < 0 || (uint64_t)st.st_size != d.memfd_size) {
		err = shoal__fail(-EBADMSG,
				  "'%s': segment size differs from the "
				  "descriptor's %llu",
				  name, (unsigned long long)d.memfd_size);
		goto fail_fds;
	}
	err = shoal_segment_open(
		fds[0],
		flags & SHOAL_OPEN_READ_ONLY ? SHOAL_SEGMENT_OPEN_READ_ONLY : 0,
		&svc->seg);
	if (err)
		goto fail_fds;
	if (shoal_segment_epoch(svc->seg) != d.epoch) {
		err = shoal__fail(-EBADMSG,
				  "'%s': segment epoch differs from the "
				  "descriptor's",
				  name);
		goto fail_seg;
	}
	close(fds[0]); /* the segment keeps its own copy */
	svc->eventfd_count = d.eventfd_count;
	for (uint32_t i = 0; i < d.eventfd_count; i++)
		svc->eventfds[i] = fds[1 + i];
	/* Parsed: terminated, and empty exactly without an fd server. */
	memcpy(svc->socket_name, d.socket_name, sizeof(svc->socket_name));
	if (svc->death == DEATH_NONE)
		svc->dfd = dfd; /* shoal_service_alive() asks its lock */
	else
		close(dfd);
	*out = svc;
	return 0;

fail_seg:
	shoal_segment_close(svc->seg);
fail_fds:
	for (uint32_t i = 0; i < nfds; i++)
		close(fds[i]);
fail_pidfd:
	if (svc->pidfd >= 0)
		close(svc->pidfd);
fail_desc:
	close(dfd);
fail_free:
	free(svc);
	return err;
}

void shoal_service_close(struct shoal_service *svc)
{
	if (!svc)
		return;
	for (uint32_t i = 0; i < svc->eventfd_count; i++)
		close(svc->eventfds[i]);
	shoal_segment_close(svc->seg);
	close(svc->pidfd);
	if (svc->dfd >= 0)
		close(svc->dfd);
	free(svc);
}

struct shoal_segment *shoal_service_segment(struct shoal_service *svc)
{
	return svc->seg;
}

int shoal_service_eventfd(const struct shoal_service *svc, uint32_t index)
{
	if (index >= svc->eventfd_count)
		return shoal__fail(-ENOENT, "service has %u eventfds",
				   svc->eventfd_count);
	return svc->eventfds[index];
}

int shoal_service_pidfd(const struct shoal_service *svc)
{
	return svc->pidfd;
}

int shoal_service_alive(const struct shoal_service *svc)
{
	struct pollfd p = { .fd = svc->pidfd, .events = POLLIN };

	if (svc->death != DEATH_NONE) {
		/* POLLIN or POLLHUP: dead. A failed poll() (ENOMEM, EINTR)
		 * tells nothing, and calling a live owner dead would detach
		 * its peers for good: alive, asked again next time. */
		int r = poll(&p, 1, 0);

		return r != 1;
	}
	/* No death fd: the liveness rule, asked now. */
	if (owner_alive(svc->dfd) == 0)
		return 0;
	return svc->owner_foreign ||
	       owner_process_alive(svc->owner_pid, svc->owner_start,
				   svc->proc_ours);
}

void shoal_service_get_info(const struct shoal_service *svc,
			    struct shoal_service_info *info)
{
	*info = svc->info;
}

int shoal_service_fd_source(const struct shoal_service *svc)
{
	return svc->source;
}

int shoal__service_take_extra_fd(struct shoal_service *svc, uint32_t index,
				 int owner_fd, int *out)
{
	int fd, err;

	if (!svc || !out)
		return shoal__fail(-EINVAL, "take extra fd: NULL argument");
	if (index >= svc->info.extra_fd_count)
		return shoal__fail(-EINVAL, "'%s' offers %u extra fds, not %u",
				   svc->info.name, svc->info.extra_fd_count,
				   index + 1);
	/* Only an opener the kernel already let take the owner's fds tries
	 * pidfd_getfd (SHOAL_OPEN_NO_PIDFD_GETFD must keep it away from the
	 * syscall). The fd number comes from the owner's segment, so it is
	 * only a hint: if it fails, the fd server answers by index. */
	if (svc->source == SHOAL_FDS_BY_PIDFD_GETFD && owner_fd >= 0) {
		fd = pidfd_getfd(svc->pidfd, owner_fd);
		if (fd >= 0) {
			*out = fd;
			return 0;
		}
		err = -errno;
		if (!svc->socket_name[0])
			return shoal__fail(err == -ESRCH ? -ENOENT : -EPERM,
					   "'%s': pidfd_getfd of extra fd %u "
					   "(fd %d): %s, and the owner serves "
					   "no fds",
					   svc->info.name, index, owner_fd,
					   strerror(-err));
	}
	if (!svc->socket_name[0])
		return shoal__fail(-EPERM, "'%s': the owner serves no fds",
				   svc->info.name);
	err = shoal__fdclient_fetch_extra(svc->socket_name, svc->info.name,
					  svc->info.epoch, index, &fd,
					  FETCH_TIMEOUT_NS);
	if (err == -EINVAL)
		/* The descriptor announced it: the owner is not as said. */
		return shoal__fail(-EBADMSG,
				   "'%s': the owner has no extra fd %u of the "
				   "%u its descriptor announces",
				   svc->info.name, index,
				   svc->info.extra_fd_count);
	if (err)
		return err;
	*out = fd;
	return 0;
}

/* Calls @fn(file, user_data) for each directory entry; -errno or 0. */
static int each_file(struct shoal_registry *reg,
		     int (*fn)(struct shoal_registry *, const char *, void *),
		     void *user_data)
{
	struct dirent *de;
	DIR *dir;
	int fd = openat(reg->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		return shoal__fail(err, "read registry %s: %s", reg->path,
				   strerror(-err));
	}
	for (;;) {
		/* readdir() says "end" and "error" both with NULL: only
		 * errno tells them apart. */
		errno = 0;
		de = readdir(dir);
		if (!de) {
			int err = -errno;

			closedir(dir);
			if (err)
				return shoal__fail(err, "read registry %s: %s",
						   reg->path, strerror(-err));
			return 0;
		}
		if (de->d_name[0] == '.')
			continue;
		if (fn(reg, de->d_name, user_data))
			break;
	}
	closedir(dir);
	return 0;
}

struct list_state {
	shoal_list_fn fn;
	void *user_data;
	int count;
	int err;
	struct live_view view;
};

static int list_one(struct shoal_registry *reg, const char *file, void *arg)
{
	struct list_state *ls = arg;
	struct shoal__descriptor d;
	struct shoal_service_info info;
	int fd, err = probe_open(reg, file, &d, &info, &fd, &ls->view);

	/* A lack of resources says nothing about the entry: skipping it
	 * would list a live service as absent, so the list fails instead.
	 * Not -EAGAIN: that is a lease a hostile process holds on the file
	 * (O_NONBLOCK open), which must not stop the list. */
	if (err == -EMFILE || err == -ENFILE || err == -ENOMEM ||
	    err == -ENOBUFS || err == -EIO || err == -EINTR) {
		ls->err = err;
		return 1;
	}
	if (err)
		return 0; /* stale or not a descriptor: not listed */
	close(fd);
	ls->count++;
	return ls->fn(&info, ls->user_data);
}

int shoal_registry_list(struct shoal_registry *reg, shoal_list_fn fn,
			void *user_data)
{
	struct list_state ls;
	int err;

	if (!reg || !fn)
		return shoal__fail(-EINVAL, "registry_list: NULL argument");
	ls.fn = fn;
	ls.user_data = user_data;
	ls.count = 0;
	ls.err = 0;
	live_view_init(&ls.view);
	err = each_file(reg, list_one, &ls);
	if (!err)
		err = ls.err;
	return err ? err : ls.count;
}

struct clean_state {
	struct shoal_clean_report rep;
	/* One deadline for the whole pass's waits for .lock: once it has
	 * passed, each removal tries the lock once and moves on. */
	int64_t deadline;
	struct live_view view;
};

static int clean_one(struct shoal_registry *reg, const char *file, void *arg)
{
	struct clean_state *cs = arg;
	struct shoal__descriptor d;
	int fd, r;

	/* Quick look first, without the directory lock: a live, valid
	 * entry needs nothing. Anything else gets the careful path. */
	if (probe_open(reg, file, &d, NULL, &fd, &cs->view) == 0) {
		close(fd);
		cs->rep.live++;
		return 0;
	}
	r = remove_if_stale(reg, file, cs->deadline);
	if (r == 1) {
		cs->rep.removed++;
	} else if (r == 0) {
		cs->rep.kept++;
	} else {
		cs->rep.skipped++;
		if (r == -ETIMEDOUT)
			cs->rep.skipped_lock++;
		else if (!cs->rep.error)
			cs->rep.error = r;
	}
	return 0;
}

int shoal_registry_clean_report(struct shoal_registry *reg,
				struct shoal_clean_report *report)
{
	struct clean_state cs;
	int err;

	if (!reg)
		return shoal__fail(-EINVAL, "registry_clean: NULL");
	memset(&cs, 0, sizeof(cs));
	cs.deadline = shoal__deadline(LOCK_TIMEOUT_NS);
	live_view_init(&cs.view);
	err = each_file(reg, clean_one, &cs);
	if (err)
		return err;
	if (report)
		*report = cs.rep;
	if (cs.rep.skipped_lock)
		shoal__fail(-ETIMEDOUT,
			    "clean: %u stale entries left: %s/.lock is held "
			    "by another process",
			    cs.rep.skipped_lock, reg->path);
	return (int)(cs.rep.removed > INT_MAX ? INT_MAX : cs.rep.removed);
}

int shoal_registry_clean(struct shoal_registry *reg)
{
	return shoal_registry_clean_report(reg, NULL);
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
