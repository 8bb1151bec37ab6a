/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_registry.h"
#include "harness.h"

#define DIR_PREFIX "/tmp/shoal-bench-"

static char reg_dir[64];
static pid_t reg_owner;

static int rm_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void registry_remove(void)
{
	/* Only the process that made it (forked children _exit anyway). */
	if (reg_dir[0] && getpid() == reg_owner)
		nftw(reg_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	reg_dir[0] = '\0';
}

int bench_registry_setup(char *note)
{
	const char *dir = getenv("SHOAL_DIR");

	if (reg_dir[0] ||
	    (dir && !strncmp(dir, DIR_PREFIX, strlen(DIR_PREFIX))))
		return 0;
	snprintf(reg_dir, sizeof(reg_dir), DIR_PREFIX "XXXXXX");
	if (!mkdtemp(reg_dir)) {
		int rc = -errno;

		snprintf(note, BENCH_NOTE_MAX, "mkdtemp %s: %s", reg_dir,
			 strerror(-rc));
		reg_dir[0] = '\0';
		return rc;
	}
	reg_owner = getpid();
	if (setenv("SHOAL_DIR", reg_dir, 1)) {
		int rc = -errno;

		registry_remove();
		snprintf(note, BENCH_NOTE_MAX, "setenv SHOAL_DIR: %s",
			 strerror(-rc));
		return rc;
	}
	atexit(registry_remove);
	return 0;
}

void bench_service_name(char *buf, const char *what)
{
	static unsigned int counter;

	snprintf(buf, BENCH_NAME_MAX, "bench-%d-%u/%s", (int)getpid(),
		 ++counter, what);
}
