/* SPDX-License-Identifier: MIT */
/*
 * Opening a service by name: probe its entry (probe.c), pin the owner by
 * pidfd, take the announced fds from it, check each is what the descriptor
 * says it is, and map the segment. Then the service handle's accessors, and
 * the owner's extra fds, taken one at a time.
 *
 * The fds are taken from the owner by number, as announced, with
 * pidfd_getfd(); where the kernel refuses that (another uid, Yama, a
 * seccomp filter, another PID namespace) the owner's fd server hands them
 * out by SCM_RIGHTS (fdserver.c). Each is checked for what it claims to be
 * before it is used. A service's death fd (shoal_service_pidfd) is the
 * owner's pidfd, else the owner's liveness pipe from its fd server, else an
 * eventfd nobody writes, with shoal_service_alive() asking the lock.
 *
 * Extra fds (shoal_service_spec.extra_fds) are offered, not announced: the
 * descriptor records only how many there are, and the owner's fd server
 * hands out one per request, by index. An opener takes one when it needs it
 * (shoal__service_take_extra_fd), by pidfd_getfd when it knows the fd's
 * number in the owner (from the service's own segment), else by SCM_RIGHTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "arch/pidfd.h"
#include "registry/registry_parts.h"
#include "segment/fdcheck.h"

/* How long an opener waits for the owner's fd server. */
#define FETCH_TIMEOUT_NS (2LL * 1000000000)

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
	return shoal__owner_lock_held(dfd) == 0;
}

/* Takes the announced fds by pidfd_getfd; -EPERM when that is refused. */
static int take_by_pidfd(int pidfd, const struct shoal__descriptor *d, int *fds)
{
	uint32_t n = 1 + d->eventfd_count;

	for (uint32_t i = 0; i < n; i++) {
		int num = i == 0 ? d->memfd : d->eventfds[i - 1];

		fds[i] = shoal__pidfd_getfd(pidfd, num);
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
	struct shoal__live_view v;
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
	shoal__live_view_init(&v);
	err = shoal__probe_open(reg, file, &d, &svc->info, &dfd, &v);
	if (err)
		goto fail_free;
	svc->owner_pid = d.owner_pid;
	svc->owner_start = d.owner_start;
	svc->owner_foreign = shoal__owner_foreign(&v, &d);
	svc->proc_ours = v.proc_ours;

	/* Pin the owner, then make sure the pid still is the owner. An
	 * owner in another PID namespace cannot be pinned by its pid (it
	 * names another process here, or none): the fd server hands out
	 * the fds and the owner's liveness fd instead. So does a refused
	 * pidfd_open (a seccomp filter). */
	if (!svc->owner_foreign) {
		svc->pidfd = shoal__pidfd_open(d.owner_pid);
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
	if (shoal__owner_lock_held(svc->dfd) == 0)
		return 0;
	return svc->owner_foreign ||
	       shoal__owner_process_alive(svc->owner_pid, svc->owner_start,
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
		fd = shoal__pidfd_getfd(svc->pidfd, owner_fd);
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
