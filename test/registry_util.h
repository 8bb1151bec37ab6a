/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the registry tests: a throw-away registry directory, and
 * a test service (a segment with a 4 KiB "data" object carrying a marker,
 * plus one eventfd) that a process can publish in one call.
 */
#ifndef SHOAL_TEST_REGISTRY_UTIL_H
#define SHOAL_TEST_REGISTRY_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <shoal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh empty directory under /tmp; the registry goes in its "reg". */
static inline int test_registry_path(char *path, size_t cap)
{
	char tmpl[] = "/tmp/shoal-test-XXXXXX";

	if (!mkdtemp(tmpl))
		return -1;
	/* Others may need to reach the registry inside (permission tests). */
	chmod(tmpl, 0755);
	return snprintf(path, cap, "%s/reg", tmpl) < (int)cap ? 0 : -1;
}

static inline int test_registry_open(const char *path,
				     struct shoal_registry **reg)
{
	struct shoal_registry_options o;

	shoal_registry_options_init(&o);
	o.dir = path;
	return shoal_registry_create(&o, reg);
}

/* What a test owner holds for one published service. */
struct test_service {
	struct shoal_segment *seg;
	int efd;
	struct shoal_entry *entry;
};

/*
 * Publishes @name: a segment whose "data" object starts with the string
 * "owner <pid>", and one eventfd. @flags and @access go into the spec.
 */
static inline int test_publish(struct shoal_registry *reg, const char *name,
			       uint32_t access, uint32_t flags,
			       struct test_service *ts)
{
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 4096 };
	struct shoal_service_spec spec;
	void *data;
	int err;

	memset(ts, 0, sizeof(*ts));
	err = shoal_segment_create(&obj, 1, NULL, &ts->seg);
	if (err)
		return err;
	shoal_segment_find(ts->seg, "data", 0, &data, NULL);
	snprintf(data, 64, "owner %d", (int)getpid());
	shoal_segment_ready(ts->seg);
	ts->efd = shoal_eventfd_create();
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.access = access;
	spec.memfd = shoal_segment_fd(ts->seg);
	spec.eventfd_count = 1;
	spec.eventfds = &ts->efd;
	spec.type_name = "test";
	spec.type_size = 8;
	spec.type_align = 8;
	spec.flags = flags;
	err = shoal_registry_publish(reg, &spec, &ts->entry);
	if (err) {
		close(ts->efd);
		shoal_segment_destroy(ts->seg);
	}
	return err;
}

static inline void test_unpublish(struct test_service *ts)
{
	shoal_entry_destroy(ts->entry);
	close(ts->efd);
	shoal_segment_destroy(ts->seg);
}

/* The marker an opened service's "data" object carries, or NULL. */
static inline const char *test_marker(struct shoal_service *svc)
{
	void *data;

	if (shoal_segment_find(shoal_service_segment(svc), "data", 0, &data,
			       NULL))
		return NULL;
	return data;
}

static inline int test_rm_one(const char *p, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/*
 * A fresh registry path in @path and its top directory in @top, the top
 * owned by @uid (for tests that act as another user). 0 or -1.
 */
static inline int test_fresh_path(char *path, size_t path_cap, char *top,
				  size_t top_cap, uid_t uid)
{
	char tmp[PATH_MAX];

	if (test_registry_path(path, path_cap))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(top, top_cap, "%s", dirname(tmp));
	if (uid != geteuid() && chown(top, uid, uid) < 0)
		return -1;
	return 0;
}

/* Removes @top and everything below it. */
static inline void test_remove_tree(const char *top)
{
	nftw(top, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
