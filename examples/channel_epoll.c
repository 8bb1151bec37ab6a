/* SPDX-License-Identifier: MIT */
/*
 * A channel receiver inside an epoll event loop. The receiver never blocks
 * in shoal: it tries with a zero timeout, and when nothing is there it arms
 * the channel and lets epoll sleep on the channel's fd, next to whatever
 * other fds the loop watches (here, a timer). The parent creates the channel
 * under a name; the child opens it by name, and sees the parent's destroy
 * as -EPIPE once it has read everything.
 */
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int receiver(const char *name)
{
	struct shoal_channel_options o;
	struct shoal_channel *rx;
	struct epoll_event ev = { .events = EPOLLIN }, out[2];
	struct itimerspec tick = { { 0, 200000000 }, { 0, 200000000 } };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int got = 0, ticks = 0;

	shoal_channel_options_init(&o);
	o.timeout_ns = 5LL * 1000000000; /* wait for the parent's name */
	if (shoal_channel_open(name, &o, &rx)) {
		fprintf(stderr, "open: %s\n", shoal_last_error());
		return 1;
	}
	timerfd_settime(timer, 0, &tick, NULL);
	ev.data.fd = shoal_channel_fd(rx);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = timer;
	epoll_ctl(ep, EPOLL_CTL_ADD, timer, &ev);

	for (;;) {
		char msg[64];
		ssize_t n = shoal_channel_read(rx, msg, sizeof(msg) - 1, 0);

		if (n == -EPIPE)
			break; /* the sender is gone and all was read */
		if (n >= 0) {
			msg[n] = '\0';
			printf("receiver: \"%s\" (after %d timer ticks)\n", msg,
			       ticks);
			got++;
			continue;
		}
		if (n != -EAGAIN)
			return 1;
		/* Nothing to read: arm, sleep in epoll, disarm, retry. */
		if (shoal_channel_arm(rx) == 0) {
			int k = epoll_wait(ep, out, 2, -1);

			for (int i = 0; i < k; i++) {
				uint64_t v;
				if (out[i].data.fd == timer &&
				    read(timer, &v, sizeof(v)) == sizeof(v))
					ticks += (int)v;
			}
		}
		shoal_channel_disarm(rx);
	}
	printf("receiver: sender gone after %d messages\n", got);
	shoal_channel_close(rx);
	fflush(stdout);
	return got == 5 ? 0 : 1;
}

int main(void)
{
	struct shoal_channel *tx;
	char name[64];
	int status;
	pid_t pid;

	snprintf(name, sizeof(name), "examples/channel-epoll-%d",
		 (int)getpid());
	if (shoal_channel_create(name, NULL, &tx)) {
		fprintf(stderr, "create: %s\n", shoal_last_error());
		return 1;
	}
	pid = fork();
	if (pid == 0)
		_exit(receiver(name));
	for (int i = 0; i < 5; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "message %d", i);

		usleep(300000);
		shoal_channel_write(tx, msg, (uint32_t)len);
	}
	shoal_channel_destroy(tx); /* the receiver drains, then -EPIPE */
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
