/* SPDX-License-Identifier: MIT */
/*
 * Walking the registry directory: listing the live services, and cleaning
 * out the entries of dead owners. Both look at each entry through the probe
 * (probe.c); cleaning removes only what the liveness rule calls stale, under
 * the directory's removal lock (liveness.c), so a live entry is never
 * removed and a cleaner never waits without a bound.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "registry/registry_parts.h"

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
	struct shoal_list_report rep;
	struct shoal__live_view view;
};

static int list_one(struct shoal_registry *reg, const char *file, void *arg)
{
	struct list_state *ls = arg;
	struct shoal__descriptor d;
	struct shoal_service_info info;
	int fd, err = shoal__probe_open(reg, file, &d, &info, &fd, &ls->view);

	/* A lack of resources says nothing about the entry: skipping it
	 * would list a live service as absent, so the list fails instead.
	 * Not -EAGAIN: that is a lease a hostile process holds on the file
	 * (O_NONBLOCK open), which must not stop the list. */
	if (err == -EMFILE || err == -ENFILE || err == -ENOMEM ||
	    err == -ENOBUFS || err == -EIO || err == -EINTR) {
		ls->err = err;
		return 1;
	}
	if (err == -ENOENT) {
		ls->rep.stale++; /* (or withdrawn since readdir) */
		return 0;
	}
	if (err) {
		ls->rep.invalid++; /* not a descriptor we may trust */
		return 0;
	}
	close(fd);
	ls->count++;
	ls->rep.live++;
	return ls->fn(&info, ls->user_data);
}

int shoal_registry_list_report(struct shoal_registry *reg, shoal_list_fn fn,
			       void *user_data,
			       struct shoal_list_report *report)
{
	struct list_state ls;
	int err;

	if (!reg || !fn)
		return shoal__fail(-EINVAL, "registry_list: NULL argument");
	memset(&ls, 0, sizeof(ls));
	ls.fn = fn;
	ls.user_data = user_data;
	shoal__live_view_init(&ls.view);
	err = each_file(reg, list_one, &ls);
	if (!err)
		err = ls.err;
	if (report)
		*report = ls.rep;
	return err ? err : ls.count;
}

int shoal_registry_list(struct shoal_registry *reg, shoal_list_fn fn,
			void *user_data)
{
	return shoal_registry_list_report(reg, fn, user_data, NULL);
}

struct clean_state {
	struct shoal_clean_report rep;
	/* One deadline for the whole pass's waits for .lock: once it has
	 * passed, each removal tries the lock once and moves on. */
	int64_t deadline;
	struct shoal__live_view view;
};

static int clean_one(struct shoal_registry *reg, const char *file, void *arg)
{
	struct clean_state *cs = arg;
	struct shoal__descriptor d;
	int fd, r;

	/* Quick look first, without the directory lock: a live, valid
	 * entry needs nothing. Anything else gets the careful path. */
	if (shoal__probe_open(reg, file, &d, NULL, &fd, &cs->view) == 0) {
		close(fd);
		cs->rep.live++;
		return 0;
	}
	r = shoal__remove_if_stale(reg, file, cs->deadline);
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
	cs.deadline = shoal__deadline(SHOAL__REGISTRY_LOCK_TIMEOUT_NS);
	shoal__live_view_init(&cs.view);
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
