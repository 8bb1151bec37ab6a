/* SPDX-License-Identifier: MIT */
/*
 * Process identity. A pid alone can be reused after its process dies, so
 * the registry records the owner's pid together with its start time, which
 * the kernel exposes as field 22 of /proc/PID/stat (clock ticks after boot)
 * and which no later process with the same pid can share.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_internal.h"

uint64_t shoal__proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 2, the command name, is in parentheses and may hold spaces
	 * or ')': the fields after it start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* p + 2 is field 3; walk to field 22. */
	p += 2;
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}
