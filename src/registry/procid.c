/* SPDX-License-Identifier: MIT */
/*
 * Process identity. A pid alone can be reused after its process dies, so
 * the registry records the owner's pid together with its start time, which
 * the kernel exposes as field 22 of /proc/PID/stat (clock ticks after boot)
 * and which no later process with the same pid can share (within the
 * resolution of a clock tick).
 *
 * A pid means something only inside its PID namespace: the registry also
 * records the owner's namespaces (st_dev and st_ino of /proc/self/ns/pid,
 * and of /proc/self/ns/user), so that a reader elsewhere knows to ignore
 * the pid (docs/registry.md, "Namespaces").
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry_internal.h"

static uint64_t start_time_of(const char *path)
{
	char buf[1024], *p;
	ssize_t n;
	int fd, field;

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

uint64_t shoal__proc_start_time(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return start_time_of(path);
}

uint64_t shoal__proc_start_time_self(void)
{
	return start_time_of("/proc/self/stat");
}

void shoal__ns_self(struct shoal__ns *ns, int *proc_ours)
{
	struct stat st;
	char link[32];
	ssize_t n;

	memset(ns, 0, sizeof(*ns));
	if (stat("/proc/self/ns/pid", &st) == 0) {
		ns->pid_dev = (uint64_t)st.st_dev;
		ns->pid_ino = (uint64_t)st.st_ino;
	}
	if (stat("/proc/self/ns/user", &st) == 0) {
		ns->user_dev = (uint64_t)st.st_dev;
		ns->user_ino = (uint64_t)st.st_ino;
	}
	if (!proc_ours)
		return;
	/* A PID namespace whose /proc was not mounted afresh (unshare
	 * --pid without --mount-proc) sees the parent's numbering there. */
	n = readlink("/proc/self", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		*proc_ours = strtol(link, NULL, 10) == (long)getpid();
	} else {
		*proc_ours = 0;
	}
}

static int differs(uint64_t adev, uint64_t aino, uint64_t bdev, uint64_t bino)
{
	if ((!adev && !aino) || (!bdev && !bino))
		return 0;
	return adev != bdev || aino != bino;
}

int shoal__ns_pid_differs(const struct shoal__ns *a, const struct shoal__ns *b)
{
	return differs(a->pid_dev, a->pid_ino, b->pid_dev, b->pid_ino);
}

int shoal__ns_user_differs(const struct shoal__ns *a, const struct shoal__ns *b)
{
	return differs(a->user_dev, a->user_ino, b->user_dev, b->user_ino);
}
