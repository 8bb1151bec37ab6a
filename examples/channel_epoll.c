/* SPDX-License-Identifier: MIT */
/*
 * A channel receiver inside an epoll event loop. The receiver never blocks
 * in shoal: it tries with a zero timeout, and when nothing is there it arms
 * the channel and lets epoll sleep on the channel's fd, next to whatever
 * other fds the loop watches (here, a timer).
 */
#include <shoal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int receiver(const struct shoal_channel_fds *fds)
{
	struct shoal_channel *rx;
	struct epoll_event ev = { .events = EPOLLIN }, out[2];
	struct itimerspec tick = { { 0, 200000000 }, { 0, 200000000 } };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int got = 0, ticks = 0;

	if (shoal_channel_open(fds, NULL, SHOAL_CHANNEL_RECV, &rx))
		return 1;
	timerfd_settime(timer, 0, &tick, NULL);
	ev.data.fd = shoal_channel_fd(rx);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = timer;
	epoll_ctl(ep, EPOLL_CTL_ADD, timer, &ev);

	while (got < 5) {
		char msg[64];
		ssize_t n = shoal_channel_recv(rx, msg, sizeof(msg) - 1, 0);

		if (n >= 0) {
			msg[n] = '\0';
			printf("receiver: \"%s\" (after %d timer ticks)\n", msg,
			       ticks);
			got++;
			continue;
		}
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
	shoal_channel_close(rx);
	fflush(stdout);
	return 0;
}

int main(void)
{
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	int status;
	pid_t pid;

	if (shoal_channel_create(NULL, SHOAL_CHANNEL_SEND, &tx)) {
		fprintf(stderr, "create: %s\n", shoal_last_error());
		return 1;
	}
	shoal_channel_get_fds(tx, &fds);
	pid = fork();
	if (pid == 0)
		_exit(receiver(&fds));
	for (int i = 0; i < 5; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "message %d", i);

		usleep(300000);
		shoal_channel_send(tx, msg, (uint32_t)len, SHOAL_WAIT_FOREVER);
	}
	waitpid(pid, &status, 0);
	shoal_channel_close(tx);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
