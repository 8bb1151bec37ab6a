/* SPDX-License-Identifier: MIT */
/*
 * Watching the registry: services appearing and disappearing, through one
 * pollable fd.
 *
 * Three kernel objects do the work, and none of them needs a daemon, a
 * timer or polling the directory:
 *
 * - An inotify watch on the registry directory. Publication is linkat() of
 *   a complete, already-locked O_TMPFILE, which inotify reports as
 *   IN_CREATE; withdrawal and cleaning are unlinkat(), IN_DELETE. Renames
 *   (IN_MOVED_TO/FROM) and attribute changes (IN_ATTRIB: a hard link going
 *   away makes a refused file acceptable) are watched too, although shoal
 *   itself never renames. The watch is added through /proc/self/fd/N of the
 *   registry's own directory fd, so it is on the very directory that
 *   shoal_registry_create() validated, even if its path has been replaced
 *   since.
 * - One pidfd per owner process of a known live service. A pidfd becomes
 *   readable the moment its process exits, so an owner killed by SIGKILL is
 *   reported GONE (all its services) at once, long before anyone removes
 *   its stale files. Services of one owner share its pidfd: an owner is
 *   pinned once, however many services it publishes, so watching N
 *   services of M processes costs M pidfds, not N.
 * - An epoll fd holding all of these plus one eventfd: that epoll fd is what
 *   shoal_watch_fd() returns, so a single fd in the caller's event loop
 *   covers the directory and every owner. The eventfd is kept readable
 *   while events wait in our queue (after the initial scan, or when the
 *   caller stops calling shoal_watch_next() early), so polling the fd never
 *   sleeps while something is pending.
 *
 * The watcher's state is two hash tables: known services by name (the info
 * last reported, the epoch, the owner) and their owners by (pid, start
 * time) with the pidfd and the list of the owner's services. Both scale to
 * tens of thousands of entries with one hash per lookup.
 *
 * Events are level-triggered, not an echo of inotify: any inotify event
 * about a name only says "look at this name again". Reconciling a name
 * probes the file as it is now (shoal__registry_probe: valid, trusted, its
 * lock held by a live owner), pins the owner, and compares with the
 * table:
 *
 *   file now           table            reported
 *   live, identity X   -                APPEARED X
 *   live, identity X   X                nothing
 *   live, identity Y   X                GONE X, APPEARED Y
 *   absent/dead/bad    X                GONE X
 *   absent/dead/bad    -                nothing
 *
 * (identity: epoch, owner pid and owner start time.) So a late or repeated
 * inotify event can never produce a wrong event or a duplicate, only a
 * redundant probe; and a service that came and went between two calls may
 * not be reported at all, which is what a watcher that was not looking at
 * that moment would see anyway. The same function serves the initial scan
 * and the full rescan that IN_Q_OVERFLOW demands: every name in the
 * directory is reconciled, then every known service that no name
 * confirmed is reported GONE.
 *
 * Owner identity: a service is live when its lock is held (the probe) and
 * its owner pid, with the start time recorded in the descriptor, still
 * runs. The pidfd is opened first and the start time compared after, so a
 * pid reused between the probe and pidfd_open() is caught; an owner that
 * died in that window is either refused here or fires its pidfd at once.
 * A child forked by the owner keeps the lock (see liveness.c) but not the
 * pid: the watcher reports such a service GONE when the owner exits, and
 * shoal_registry_list() agrees (one liveness rule, entry_live()).
 *
 * When fds run out (EMFILE, ENFILE) or the kernel has no pidfd_open (before
 * Linux 5.3), an owner's services are still reported, without a pidfd:
 * their death is then seen only when their files go (withdrawal, a
 * cleaner, a publisher replacing them) or at a rescan. So are the services
 * of an owner in another PID namespace (its pid is not a pid here): the
 * watcher does not ask its fd server for its liveness fd, which could
 * block shoal_watch_next() for as long as the owner takes to answer.
 *
 * Failures leave the watch consistent: queue space is reserved before the
 * tables change, so no transition is ever recorded without its event. A
 * probe that fails for want of resources (as opposed to a file that is
 * absent or untrustworthy) makes shoal_watch_next() return that error and
 * owe a full rescan, which the next call retries before anything else.
 *
 * Pitfall avoided: epoll keys its registrations on the open file, not on
 * the fd number, and a forked child shares the pidfd's open file. Closing
 * our pidfd alone would then leave it registered with our owner's pointer
 * as user data, to fire after the owner is freed; so every pidfd is
 * removed with EPOLL_CTL_DEL before it is closed. (At shoal_watch_close()
 * the epoll fd is closed first instead.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/error.h"
#include "arch/pidfd.h"
#include "registry/registry_internal.h"

/* What the directory watch reports. IN_EXCL_UNLINK: nothing about files
 * already unlinked that someone still holds open. */
#define WATCH_MASK                                                         \
	(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB | \
	 IN_ONLYDIR | IN_EXCL_UNLINK)
/* Ready fds taken from epoll per call of epoll_wait. */
#define EPOLL_BATCH 64
/* inotify bytes read at once: about 1,000 events with short names. */
#define INOTIFY_BUF 65536
/* Rounds of draining one shoal_watch_next() makes while every ready event
 * turns out to change nothing (repeats, dead names): bounds the call when
 * publishers churn; the fd stays readable for the rest. */
#define DRAIN_ROUNDS 16
/* Initial hash size (a power of two); it doubles past one per bucket. */
#define BUCKETS_MIN 64

/* Intrusive chained hash tables -------------------------------------- */

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htable {
	struct hnode **b;
	size_t nb; /* power of two */
	size_t count;
};

static int htable_init(struct htable *t)
{
	t->b = calloc(BUCKETS_MIN, sizeof(*t->b));
	t->nb = BUCKETS_MIN;
	t->count = 0;
	return t->b ? 0 : -ENOMEM;
}

static struct hnode *htable_chain(const struct htable *t, uint64_t hash)
{
	return t->b[hash & (t->nb - 1)];
}

/* Doubles the buckets; on failure the chains just grow longer. */
static void htable_grow(struct htable *t)
{
	size_t n = t->nb * 2;
	struct hnode **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++) {
		struct hnode *h = t->b[i], *next;

		for (; h; h = next) {
			next = h->next;
			h->next = b[h->hash & (n - 1)];
			b[h->hash & (n - 1)] = h;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = n;
}

static void htable_insert(struct htable *t, struct hnode *h)
{
	struct hnode **slot;

	if (t->count >= t->nb)
		htable_grow(t);
	slot = &t->b[h->hash & (t->nb - 1)];
	h->next = *slot;
	*slot = h;
	t->count++;
}

static void htable_remove(struct htable *t, struct hnode *h)
{
	struct hnode **p = &t->b[h->hash & (t->nb - 1)];

	while (*p != h)
		p = &(*p)->next;
	*p = h->next;
	t->count--;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

/* The watcher's state ---------------------------------------------------- */

struct known;

/* A process that owns known services; pinned by its pidfd. */
struct owner {
	struct hnode node; /* first: key (pid, start) */
	int32_t pid;
	uint64_t start;	    /* its start time, as in its descriptors */
	int pidfd;	    /* -1: not pinned (see the essay) */
	uint32_t nservices; /* on the list below; never 0 for long */
	struct known *services;
};

/* A service the watcher believes live. */
struct known {
	struct hnode node; /* first: key info.name */
	struct owner *owner;
	struct known *onext, **oprev; /* on owner->services */
	uint32_t seen; /* generation of the last scan that confirmed it */
	struct shoal_service_info info;
};

struct shoal_watch {
	struct shoal_registry *reg;
	int epfd;   /* what shoal_watch_fd() returns */
	int infd;   /* inotify */
	int wakefd; /* eventfd: readable while the queue is not empty */
	int wake_armed;
	int rescan_owed; /* overflow, or a failed reconcile */
	int dir_gone;	 /* the directory watch ended (IN_IGNORED) */
	uint32_t generation;

	struct htable services; /* of struct known */
	struct htable owners;	/* of struct owner */

	/* Pending events: a ring of cap, count from head. */
	struct shoal_watch_event *queue;
	size_t qcap, qhead, qcount;

	/* Aligned for struct inotify_event (calloc aligns the struct). */
	char inbuf[INOTIFY_BUF]
		__attribute__((aligned(__alignof__(struct inotify_event))));
};

static uint64_t owner_hash(int32_t pid, uint64_t start)
{
	return fnv1a(fnv1a(FNV_OFFSET, &pid, sizeof(pid)), &start,
		     sizeof(start));
}

/* The event queue ------------------------------------------------------ */

/* Makes room for @n more events, so that the tables never change without
 * the event being recorded. */
static int queue_reserve(struct shoal_watch *w, size_t n)
{
	struct shoal_watch_event *q;
	size_t cap;

	if (w->qcap - w->qcount >= n)
		return 0;
	cap = w->qcap ? w->qcap : 16;
	while (cap - w->qcount < n)
		cap *= 2;
	q = malloc(cap * sizeof(*q));
	if (!q)
		return shoal__fail(-ENOMEM, "watch: out of memory for events");
	/* Unwrap the ring into the new array, oldest first. */
	for (size_t i = 0; i < w->qcount; i++)
		q[i] = w->queue[(w->qhead + i) % w->qcap];
	free(w->queue);
	w->queue = q;
	w->qcap = cap;
	w->qhead = 0;
	return 0;
}

/* Appends an event; room was reserved. */
static void queue_push(struct shoal_watch *w, uint32_t type,
		       const struct shoal_service_info *info)
{
	struct shoal_watch_event *ev =
		&w->queue[(w->qhead + w->qcount) % w->qcap];

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->info = *info;
	w->qcount++;
}

/* Keeps the eventfd readable exactly while events are queued. It changes
 * only on the queue's empty/non-empty transitions, seen at the end of a
 * call, so a call that finds and returns a single event costs nothing. */
static void wake_update(struct shoal_watch *w)
{
	uint64_t v = 1;

	if (w->qcount && !w->wake_armed) {
		if (write(w->wakefd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			w->wake_armed = 1;
	} else if (!w->qcount && w->wake_armed) {
		if (read(w->wakefd, &v, sizeof(v)) == (ssize_t)sizeof(v) ||
		    errno == EAGAIN)
			w->wake_armed = 0;
	}
}

/* Owners ---------------------------------------------------------------- */

static struct owner *owner_find(const struct shoal_watch *w, int32_t pid,
				uint64_t start)
{
	uint64_t hash = owner_hash(pid, start);
	struct hnode *h = htable_chain(&w->owners, hash);

	for (; h; h = h->next) {
		struct owner *o = (struct owner *)h;

		if (h->hash == hash && o->pid == pid && o->start == start)
			return o;
	}
	return NULL;
}

/*
 * Pins process @pid, which must have started at @start: 1 and *pidfd (-1
 * if it could not be pinned for want of fds or kernel support), or 0 if
 * it is not running any more (gone, or its pid now belongs to another
 * process).
 */
static int pin(int32_t pid, uint64_t start, int *pidfd)
{
	struct pollfd p;
	uint64_t now;
	int fd;

	fd = shoal__pidfd_open((pid_t)pid);
	if (fd < 0) {
		if (errno == ESRCH)
			return 0;
		/* EMFILE, ENFILE, ENOMEM, ENOSYS: the lock the probe saw
		 * held is proof enough of life; we only lose the early
		 * warning of death. */
		*pidfd = -1;
		return 1;
	}
	/* The pidfd is taken before the start time is read: if the pid is
	 * the owner's now, the pidfd is the owner's. */
	now = shoal__proc_start_time(pid);
	if (now == start) {
		*pidfd = fd;
		return 1;
	}
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	if (now == 0 && poll(&p, 1, 0) == 0) {
		/* Alive, but its /proc entry could not be read (out of
		 * fds?): we cannot tell the owner from a reused pid, so
		 * rely on the lock alone. */
		close(fd);
		*pidfd = -1;
		return 1;
	}
	close(fd);
	return 0;
}

/*
 * The owner of descriptor @d: already known (its services share it), or
 * pinned now. 1 and *out, 0 if the owner is not running, or -ENOMEM. A new
 * owner has no services yet: the caller attaches one at once.
 */
static int owner_get(struct shoal_watch *w, const struct shoal__descriptor *d,
		     struct owner **out)
{
	struct epoll_event ev;
	struct owner *o;
	int pidfd;

	o = owner_find(w, d->owner_pid, d->owner_start);
	if (o) {
		*out = o;
		return 1;
	}
	/* An owner in another PID namespace cannot be pinned by its pid:
	 * the pid names another process here, or none. The probe's lock is
	 * the proof of life; death is seen when the file goes (essay). */
	if (shoal__registry_owner_foreign(d))
		pidfd = -1;
	else if (!pin(d->owner_pid, d->owner_start, &pidfd))
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o) {
		if (pidfd >= 0)
			close(pidfd);
		return shoal__fail(-ENOMEM, "watch: out of memory");
	}
	o->node.hash = owner_hash(d->owner_pid, d->owner_start);
	o->pid = d->owner_pid;
	o->start = d->owner_start;
	o->pidfd = pidfd;
	if (pidfd >= 0) {
		ev.events = EPOLLIN;
		ev.data.ptr = o;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
			/* Out of epoll watches: do without. */
			close(pidfd);
			o->pidfd = -1;
		}
	}
	htable_insert(&w->owners, &o->node);
	*out = o;
	return 1;
}

static void owner_free(struct shoal_watch *w, struct owner *o)
{
	htable_remove(&w->owners, &o->node);
	if (o->pidfd >= 0) {
		/* DEL before close: a forked child may share the pidfd's
		 * open file, which would keep it registered (essay). */
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, o->pidfd, NULL);
		close(o->pidfd);
	}
	free(o);
}

/* Services -------------------------------------------------------------- */

static struct known *service_find(const struct shoal_watch *w, const char *name,
				  uint64_t hash)
{
	struct hnode *h = htable_chain(&w->services, hash);

	for (; h; h = h->next) {
		struct known *k = (struct known *)h;

		if (h->hash == hash && strcmp(k->info.name, name) == 0)
			return k;
	}
	return NULL;
}

static void service_attach(struct shoal_watch *w, struct known *k,
			   struct owner *o)
{
	htable_insert(&w->services, &k->node);
	k->owner = o;
	k->onext = o->services;
	if (o->services)
		o->services->oprev = &k->onext;
	k->oprev = &o->services;
	o->services = k;
	o->nservices++;
}

/* Forgets @k, and its owner with its last service. */
static void service_remove(struct shoal_watch *w, struct known *k)
{
	struct owner *o = k->owner;

	htable_remove(&w->services, &k->node);
	*k->oprev = k->onext;
	if (k->onext)
		k->onext->oprev = k->oprev;
	if (--o->nservices == 0)
		owner_free(w, o);
	free(k);
}

/* Reports @k gone and forgets it; room for one event was reserved. */
static void report_gone(struct shoal_watch *w, struct known *k)
{
	queue_push(w, SHOAL_WATCH_GONE, &k->info);
	service_remove(w, k);
}

/* Owner @o exited: all its services are gone, and so is @o. */
static int owner_died(struct shoal_watch *w, struct owner *o)
{
	uint32_t n = o->nservices;
	int err = queue_reserve(w, n);

	if (err)
		return err;
	/* The last removal frees @o: count, do not look at it after. */
	for (uint32_t i = 0; i < n; i++)
		report_gone(w, o->services);
	return 0;
}

/* Reconciling a name --------------------------------------------------- */

/*
 * Probe errors that mean "not a live service we may trust", as opposed to
 * a lack of resources that says nothing about the file.
 */
static int probe_error_is_transient(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM ||
	       err == -ENOBUFS || err == -EIO || err == -EINTR ||
	       err == -EAGAIN;
}

static int same_service(const struct known *k,
			const struct shoal__descriptor *d)
{
	return k->info.epoch == d->epoch && k->owner->pid == d->owner_pid &&
	       k->owner->start == d->owner_start;
}

/*
 * Brings the tables in line with what directory entry @file is now (the
 * table in the essay), queueing the events. Marks what it confirms with
 * @gen. 0 or -errno (a transient failure: nothing changed for this name,
 * and the caller owes a rescan).
 */
static int reconcile(struct shoal_watch *w, const char *file, uint32_t gen)
{
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal__descriptor d;
	struct shoal_service_info info;
	struct known *k, *fresh;
	struct owner *o = NULL;
	uint64_t hash;
	int err;

	if (file[0] == '.' || shoal__file_to_name(file, name))
		return 0; /* the registry's own files, or junk */
	hash = fnv1a(FNV_OFFSET, name, strlen(name));
	k = service_find(w, name, hash);
	err = queue_reserve(w, 2);
	if (err)
		return err;

	err = shoal__registry_probe(w->reg, file, &d, &info);
	if (err) {
		if (probe_error_is_transient(err))
			return err;
		if (k)
			report_gone(w, k);
		return 0;
	}
	if (k && same_service(k, &d)) {
		k->seen = gen;
		return 0;
	}
	/* Allocate before anything changes, so that a failure changes
	 * nothing. */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return shoal__fail(-ENOMEM, "watch: out of memory");
	/* A new incarnation of the name: the old one is gone whether or not
	 * the new one turns out live. (Before owner_get: if it was the old
	 * one's last service, its owner goes too, and a new owner with the
	 * same identity is pinned afresh.) */
	if (k)
		report_gone(w, k);
	err = owner_get(w, &d, &o);
	if (err <= 0) {
		free(fresh);
		return err;
	}
	fresh->node.hash = hash;
	fresh->seen = gen;
	fresh->info = info;
	service_attach(w, fresh, o);
	queue_push(w, SHOAL_WATCH_APPEARED, &info);
	return 0;
}

/*
 * Reconciles every name in the directory, then reports GONE whatever the
 * table holds that no name confirmed. The initial scan and the recovery
 * from IN_Q_OVERFLOW. On failure the rescan stays owed.
 */
static int rescan(struct shoal_watch *w)
{
	uint32_t gen = ++w->generation;
	struct dirent *de;
	DIR *dir;
	int fd, err = 0;

	w->rescan_owed = 1;
	/* A fresh open: the directory fd's own position is not ours. */
	fd = openat(shoal__registry_dirfd(w->reg), ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return shoal__fail(-errno, "watch: reading %s: %s",
				   shoal_registry_path(w->reg),
				   strerror(errno));
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return shoal__fail(err, "watch: reading %s: %s",
				   shoal_registry_path(w->reg), strerror(-err));
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno)
				err = shoal__fail(-errno,
						  "watch: reading %s: %s",
						  shoal_registry_path(w->reg),
						  strerror(errno));
			break;
		}
		err = reconcile(w, de->d_name, gen);
		if (err)
			break;
	}
	closedir(dir);
	if (err)
		return err;

	for (size_t i = 0; i < w->services.nb; i++) {
		struct hnode *h = w->services.b[i], *next;

		for (; h; h = next) {
			next = h->next;
			if (((struct known *)h)->seen == gen)
				continue;
			err = queue_reserve(w, 1);
			if (err)
				return err;
			report_gone(w, (struct known *)h);
		}
	}
	w->rescan_owed = 0;
	return 0;
}

/* Draining the kernel -------------------------------------------------- */

/* Reads what inotify has (one buffer) and reconciles each name. */
static int drain_inotify(struct shoal_watch *w)
{
	const struct inotify_event *ie;
	const char *last = NULL;
	ssize_t n;
	int err;

	n = read(w->infd, w->inbuf, sizeof(w->inbuf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return shoal__fail(-errno, "watch: reading inotify: %s",
				   strerror(errno));
	}
	for (char *p = w->inbuf; p < w->inbuf + n; p += sizeof(*ie) + ie->len) {
		ie = (const struct inotify_event *)p;
		if (ie->mask & IN_Q_OVERFLOW) {
			/* Events were lost: only a full look will do. The
			 * rescan covers the rest of this buffer too. */
			w->rescan_owed = 1;
			continue;
		}
		if (ie->mask & (IN_IGNORED | IN_UNMOUNT)) {
			w->dir_gone = 1;
			continue;
		}
		if (!ie->len || (ie->mask & IN_ISDIR) || w->rescan_owed)
			continue;
		/* Every event about a name means "look again"; repeats in a
		 * row (a name deleted and created again) need one look. */
		if (last && strcmp(last, ie->name) == 0)
			continue;
		last = ie->name;
		err = reconcile(w, ie->name, w->generation);
		if (err) {
			/* The names after this one are lost with the
			 * buffer: the rescan will see them. */
			w->rescan_owed = 1;
			return err;
		}
	}
	if (w->rescan_owed)
		return rescan(w);
	return 0;
}

/*
 * One round: everything epoll says is ready. Returns 1 if anything was
 * ready (more may follow), 0 if nothing was, or -errno.
 */
static int drain_once(struct shoal_watch *w)
{
	struct epoll_event evs[EPOLL_BATCH];
	int n, inotify_ready = 0, any = 0, err;

	if (w->rescan_owed) {
		err = rescan(w);
		if (err)
			return err;
		any = 1;
	}
	do {
		n = epoll_wait(w->epfd, evs, EPOLL_BATCH, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return shoal__fail(-errno, "watch: epoll_wait: %s",
				   strerror(errno));
	/* Owners first: each that died frees only itself and its own
	 * services, so the other pointers in this batch stay valid until
	 * the inotify part below, which may free any. */
	for (int i = 0; i < n; i++) {
		void *ptr = evs[i].data.ptr;

		if (ptr == &w->infd) {
			inotify_ready = 1;
		} else if (ptr != &w->wakefd) {
			err = owner_died(w, ptr);
			if (err)
				return err;
			any = 1;
		}
	}
	if (inotify_ready) {
		err = drain_inotify(w);
		if (err)
			return err;
		any = 1;
	}
	return any;
}

/* The API -------------------------------------------------------------- */

static void watch_free(struct shoal_watch *w)
{
	/* The epoll fd first: then closing each pidfd needs no DEL. */
	if (w->epfd >= 0)
		close(w->epfd);
	for (size_t i = 0; w->services.b && i < w->services.nb; i++) {
		struct hnode *h = w->services.b[i], *next;

		for (; h; h = next) {
			next = h->next;
			free(h);
		}
	}
	for (size_t i = 0; w->owners.b && i < w->owners.nb; i++) {
		struct hnode *h = w->owners.b[i], *next;

		for (; h; h = next) {
			next = h->next;
			if (((struct owner *)h)->pidfd >= 0)
				close(((struct owner *)h)->pidfd);
			free(h);
		}
	}
	free(w->services.b);
	free(w->owners.b);
	free(w->queue);
	if (w->infd >= 0)
		close(w->infd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	free(w);
}

/* Adds @fd to the epoll set, tagged with @tag. */
static int epoll_add(struct shoal_watch *w, int fd, void *tag)
{
	struct epoll_event ev;

	ev.events = EPOLLIN;
	ev.data.ptr = tag;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return shoal__fail(-errno, "watch: epoll_ctl: %s",
				   strerror(errno));
	return 0;
}

/* Watches the registry's directory itself, by its fd (essay). */
static int add_dir_watch(struct shoal_watch *w)
{
	int dirfd = shoal__registry_dirfd(w->reg);
	struct stat a, b;
	char proc[64];
	int err;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	if (inotify_add_watch(w->infd, proc, WATCH_MASK) >= 0)
		return 0;
	if (errno != ENOENT)
		goto fail;
	/* No /proc: by path, then make sure the path is still our
	 * directory. */
	if (inotify_add_watch(w->infd, shoal_registry_path(w->reg),
			      WATCH_MASK | IN_DONT_FOLLOW) < 0)
		goto fail;
	if (fstat(dirfd, &a) < 0 || stat(shoal_registry_path(w->reg), &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return shoal__fail(-ESTALE,
				   "watch: registry %s was replaced after it "
				   "was opened",
				   shoal_registry_path(w->reg));
	return 0;

fail:
	err = errno;
	return shoal__fail(-err, "watch: inotify on %s: %s%s",
			   shoal_registry_path(w->reg), strerror(err),
			   err == ENOSPC ? " (fs.inotify.max_user_watches)" :
					   "");
}

int shoal_registry_watch(struct shoal_registry *reg, struct shoal_watch **out)
{
	struct shoal_watch *w;
	int err;

	if (!reg || !out)
		return shoal__fail(-EINVAL, "registry_watch: NULL argument");
	w = calloc(1, sizeof(*w));
	if (!w)
		return shoal__fail(-ENOMEM, "registry_watch: out of memory");
	w->reg = reg;
	w->epfd = w->infd = w->wakefd = -1;
	if (htable_init(&w->services) || htable_init(&w->owners)) {
		err = shoal__fail(-ENOMEM, "registry_watch: out of memory");
		goto fail;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->infd < 0 || w->wakefd < 0) {
		err = errno;
		err = shoal__fail(-err, "registry_watch: %s%s", strerror(err),
				  err == EMFILE && w->infd < 0 ?
					  " (fs.inotify.max_user_instances?)" :
					  "");
		goto fail;
	}
	err = epoll_add(w, w->infd, &w->infd);
	if (!err)
		err = epoll_add(w, w->wakefd, &w->wakefd);
	/* The watch before the scan: whatever changes after the scan has
	 * looked at a name is reported by inotify, so nothing falls in
	 * between. */
	if (!err)
		err = add_dir_watch(w);
	if (!err)
		err = rescan(w);
	if (err)
		goto fail;
	wake_update(w);
	*out = w;
	return 0;

fail:
	watch_free(w);
	return err;
}

int shoal_watch_fd(const struct shoal_watch *w)
{
	return w->epfd;
}

int shoal_watch_next(struct shoal_watch *w, struct shoal_watch_event *ev)
{
	int err = 0;

	if (!w || !ev)
		return shoal__fail(-EINVAL, "watch_next: NULL argument");
	for (int round = 0; !w->qcount && round < DRAIN_ROUNDS; round++) {
		err = drain_once(w);
		if (err <= 0)
			break;
	}
	if (w->qcount) {
		/* An error met after events were queued waits: the state
		 * behind it (a rescan owed) makes the next call meet it. */
		*ev = w->queue[w->qhead];
		w->qhead = (w->qhead + 1) % w->qcap;
		w->qcount--;
		err = 1;
	} else if (err >= 0) {
		err = 0;
		if (w->dir_gone)
			err = shoal__fail(-ENOENT,
					  "watch: the registry directory %s "
					  "was removed or unmounted",
					  shoal_registry_path(w->reg));
	}
	/* Also on failure: what is still queued keeps the fd readable. */
	wake_update(w);
	return err;
}

void shoal_watch_close(struct shoal_watch *w)
{
	if (w)
		watch_free(w);
}
