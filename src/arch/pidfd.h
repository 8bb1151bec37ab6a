/* SPDX-License-Identifier: MIT */
/*
 * pidfd_open(2) and pidfd_getfd(2), through syscall(2) since older C
 * libraries have no wrappers (the fault tests wrap syscall() itself).
 */
#ifndef SHOAL_SRC_PIDFD_H
#define SHOAL_SRC_PIDFD_H

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* An fd that becomes readable when process @pid exits; -1 and errno. */
static inline int shoal__pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A duplicate of fd @fd of the process behind @pidfd; -1 and errno. */
static inline int shoal__pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

#endif
