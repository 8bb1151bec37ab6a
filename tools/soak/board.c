/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the names of the board's roles and counters, and what a
 * process of the soak costs (fds, eventfds, VmRSS) less the board it maps,
 * which the coordinator and the steady role instances sample.
 */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "soak.h"

const char *const soak_role_names[ROLE_N] = {
	"pub", "lpub", "sub", "prod", "cons", "srv", "cli",
};

/* What "messages" counts for each role in the summary. */
const char *const soak_role_units[ROLE_N] = {
	"sent", "sent", "received", "pushed", "taken", "requests", "responses",
};

const char *const soak_x_names[X_N] = {
	"epipe", "reattached", "lost", "stale", "retries", "tail_checks",
};

void soak_sample_self(int64_t *fds, int64_t *evfds, int64_t *rss_kib)
{
	DIR *d = opendir("/proc/self/fd");
	int64_t board_kib = 0;
	struct dirent *e;
	char line[512];
	int in_board = 0;
	FILE *f;

	*fds = -1;
	*evfds = -1;
	*rss_kib = -1;
	if (d) {
		int64_t n = 0, ev = 0;

		while ((e = readdir(d))) {
			char path[300], target[64];
			ssize_t len;

			if (e->d_name[0] == '.')
				continue;
			n++;
			snprintf(path, sizeof(path), "/proc/self/fd/%s",
				 e->d_name);
			len = readlink(path, target, sizeof(target) - 1);
			if (len > 0) {
				target[len] = 0;
				ev += !strcmp(target, "anon_inode:[eventfd]");
			}
		}
		closedir(d);
		*fds = n - 1; /* the directory's own fd */
		*evfds = ev;
	}
	f = fopen("/proc/self/smaps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			/* A mapping's first line starts with its address in
			 * lower-case hex; its fields with a capital. */
			if ((line[0] >= '0' && line[0] <= '9') ||
			    (line[0] >= 'a' && line[0] <= 'f'))
				in_board = !!strstr(line, BOARD_NAME);
			else if (in_board && !strncmp(line, "Rss:", 4))
				board_kib += strtoll(line + 4, NULL, 10);
		}
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			*rss_kib = strtoll(line + 6, NULL, 10) - board_kib;
	fclose(f);
}
