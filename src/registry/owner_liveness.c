/* SPDX-License-Identifier: MIT */
/*
 * The owner's liveness fd, handed by the fd server (fdserver.c) to a peer
 * that cannot pin the owner by pid.
 */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "registry/registry_internal.h"

/*
 * The owner's liveness fd, for a peer that cannot pin the owner by pid (it
 * runs in another PID namespace, or a seccomp filter refuses pidfd_open):
 * the read end of a pipe whose write end only this process (and children
 * it forked without exec) holds. When the last write end closes, which is
 * when the owner exits however it exits, the read end polls POLLHUP. Unlike
 * a pidfd it needs no pidfd system call on either side and means the same
 * in every namespace. One pipe per process, made when a peer first asks
 * for it (an owner nobody asks pays nothing); never closed. A forked child
 * closes its copies of the parent's ends and makes its own: unlike the
 * descriptor's lock, which a child inherits because it cannot help it, the
 * parent's death shows even while children it forked live on.
 */
static pthread_mutex_t liveness_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t liveness_once = PTHREAD_ONCE_INIT;
static pid_t liveness_pid;
static int liveness_pipe[2] = { -1, -1 };

/* A fork while another thread held the lock must not leave the child a
 * lock nobody will release; nor the parent's pipe open (see above). */
static void liveness_child(void)
{
	pthread_mutex_init(&liveness_lock, NULL);
	if (liveness_pid != 0 && liveness_pid != getpid()) {
		close(liveness_pipe[0]);
		close(liveness_pipe[1]);
		liveness_pipe[0] = liveness_pipe[1] = -1;
		liveness_pid = 0;
	}
}

static void liveness_init(void)
{
	pthread_atfork(NULL, NULL, liveness_child);
}

int shoal__liveness_fd(void)
{
	pid_t me = getpid();
	int fds[2], fd;

	pthread_once(&liveness_once, liveness_init);
	pthread_mutex_lock(&liveness_lock);
	if (liveness_pid != me && pipe2(fds, O_CLOEXEC) == 0) {
		liveness_pipe[0] = fds[0];
		liveness_pipe[1] = fds[1];
		liveness_pid = me;
	}
	fd = liveness_pid == me ? liveness_pipe[0] : -1;
	pthread_mutex_unlock(&liveness_lock);
	return fd;
}
