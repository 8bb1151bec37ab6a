/* SPDX-License-Identifier: MIT */
/*
 * fd identity checks. The kernel names every open file in /proc/self/fd:
 * memfds as "/memfd:NAME (deleted)", eventfds as "anon_inode:[eventfd]".
 * fstat() alone cannot tell a memfd from a tmpfs file, nor an eventfd from
 * another anonymous inode, and a peer that hands us the wrong kind of fd must
 * be refused before we mmap or poll it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "segment/fdcheck.h"

/* 1 if fd's /proc name starts with @prefix, 0 if not, -1 if unknown. */
static int fd_name_starts(int fd, const char *prefix)
{
	char path[64], target[64];
	ssize_t n;

	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	return strncmp(target, prefix, strlen(prefix)) == 0;
}

int shoal__fd_is_memfd(int fd)
{
	return fd_name_starts(fd, "/memfd:");
}

int shoal__fd_is_eventfd(int fd)
{
	return fd_name_starts(fd, "anon_inode:[eventfd]");
}
