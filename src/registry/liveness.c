/* SPDX-License-Identifier: MIT */
/*
 * Whether a registry entry is live, and the removal of entries that are
 * not: the one rule every path asks (open, list, clean, watch, publish).
 *
 * Liveness: the owner keeps the fd of its descriptor (publish.c), and
 * with it an open-file-description read lock (F_OFD_SETLK, F_RDLCK over
 * the whole file), for as long as the service lives. The kernel drops an OFD lock when the last fd of its open
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
 * That is one rule in one function, shoal__entry_live(), which every path
 * asks: open, list, clean, removal, and the watcher through the probe.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_parts.h"

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
int shoal__owner_lock_take(int fd)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/*
 * 1 if a live owner holds the lock on descriptor @fd, 0 if nobody does (the
 * owner is dead), -errno if the kernel cannot tell. Only queries.
 */
int shoal__owner_lock_held(int fd)
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
int shoal__owner_process_alive(pid_t pid, uint64_t start, int proc_ours)
{
	uint64_t now = proc_ours ? shoal__proc_start_time(pid) : 0;

	if (now)
		return now == start;
	return !(kill(pid, 0) < 0 && errno == ESRCH);
}

void shoal__live_view_init(struct shoal__live_view *v)
{
	memset(v, 0, sizeof(*v));
	shoal__ns_self(&v->self, &v->proc_ours);
	v->alive = -1;
}

/* 1 when @d's owner runs in another PID namespace than ours. */
int shoal__owner_foreign(const struct shoal__live_view *v,
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
int shoal__entry_live(int fd, const struct shoal__descriptor *d,
		      struct shoal__live_view *v)
{
	int alive;

	if (shoal__owner_lock_held(fd) == 0)
		return 0;
	if (!d || shoal__owner_foreign(v, d))
		return 1;
	if (v->alive >= 0 && v->pid == d->owner_pid &&
	    v->start == d->owner_start)
		return v->alive;
	alive = shoal__owner_process_alive(d->owner_pid, d->owner_start,
					   v->proc_ours);
	v->pid = d->owner_pid;
	v->start = d->owner_start;
	v->alive = alive;
	return alive;
}

/* Is descriptor @fd stale by the liveness rule (shoal__entry_live)? */
static int entry_stale(int fd)
{
	unsigned char buf[SHOAL__DESC_SIZE + 1];
	struct shoal__descriptor d;
	struct shoal__live_view v;
	ssize_t n;

	shoal__live_view_init(&v);
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0 || shoal__descriptor_parse(buf, (size_t)n, &d, NULL))
		return !shoal__entry_live(fd, NULL, &v);
	return !shoal__entry_live(fd, &d, &v);
}

/*
 * Removes @file if it is stale (shoal__entry_live) or not a regular file at all,
 * waiting for the directory's lock until @deadline. 1 if it is gone
 * (removed, or already absent), 0 if it stays (live, a directory, locked
 * junk), -ETIMEDOUT if the lock could not be had, or -errno.
 */
int shoal__remove_if_stale(struct shoal_registry *reg, const char *file,
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
	if (shoal__same_file(&st, &now))
		r = unlinkat(reg->dirfd, file, 0) == 0 ? 1 : -errno;
out_fd:
	close(fd);
out:
	unlock_dir(lock);
	return r;
}

int shoal__registry_owner_foreign(const struct shoal__descriptor *d)
{
	struct shoal__live_view v;

	shoal__live_view_init(&v);
	return shoal__owner_foreign(&v, d);
}
