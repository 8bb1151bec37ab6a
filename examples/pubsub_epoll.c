/* SPDX-License-Identifier: MIT */
/*
 * A subscriber inside an epoll event loop, beside a timer. The subscriber
 * never blocks in shoal: it takes with a zero timeout until nothing is
 * left, then arms its fd and lets epoll sleep on it and on the timer.
 *
 * The same fd also reports the publisher's death: here the publisher (a
 * child) sends four messages and then exits without withdrawing, as a
 * crash would, and the loop learns it from shoal_sub_fd() like any other
 * event: take() returns -EPIPE.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static void publisher(const char *name)
{
	struct shoal_pub *pub;

	if (shoal_pub_create(name, NULL, &pub))
		_exit(1);
	for (int i = 0; shoal_pub_subscribers(pub) == 0 && i < 5000; i++)
		usleep(1000);
	for (int i = 0; i < 4; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "event %d", i);

		usleep(120 * 1000);
		shoal_pub_write(pub, text, (uint32_t)len, NULL);
	}
	_exit(0); /* no shoal_pub_destroy(): the subscriber sees a death */
}

int main(void)
{
	struct itimerspec tick = { { 0, 50000000 }, { 0, 50000000 } };
	struct epoll_event ev = { .events = EPOLLIN }, out[2];
	int ep, timer, got = 0, ticks = 0, status, err;
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct shoal_msg msg;
	char name[64];
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/epoll-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		publisher(name);

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err)
		return 1;
	/* The loop watches two fds: the subscriber's and a 50 ms timer. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ev.data.fd = shoal_sub_fd(sub);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = timer;
	epoll_ctl(ep, EPOLL_CTL_ADD, timer, &ev);
	timerfd_settime(timer, 0, &tick, NULL);

	for (;;) {
		err = shoal_sub_take(sub, &msg, 0); /* never blocks */
		if (err == 0) {
			printf("loop: \"%.*s\" (after %d timer ticks)\n",
			       (int)msg.len, (const char *)msg.data, ticks);
			shoal_sub_release(sub, &msg);
			got++;
			continue;
		}
		if (err == -EPIPE) {
			printf("loop: the publisher died (-EPIPE), after %d "
			       "ticks\n",
			       ticks);
			break;
		}
		if (err != -EAGAIN)
			return 1;
		/* Nothing pending: arm, sleep in epoll, disarm, try again.
		 * arm() returning 1 means "something came meanwhile". */
		if (shoal_sub_arm(sub) == 0) {
			int k = epoll_wait(ep, out, 2, -1);

			for (int i = 0; i < k; i++) {
				uint64_t v;

				if (out[i].data.fd == timer &&
				    read(timer, &v, sizeof(v)) == sizeof(v))
					ticks += (int)v;
			}
		}
		shoal_sub_disarm(sub);
	}
	shoal_sub_close(sub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	/* A dead publisher leaves its registry entry behind (nobody can
	 * open it: its owner is gone). Cleaning removes such entries, as
	 * `shoal clean` does; the next publisher of the name would too. */
	if (shoal_registry_create(NULL, &reg) == 0) {
		err = shoal_registry_clean(reg);
		printf("loop: registry cleaned, %d dead entries removed\n",
		       err);
		shoal_registry_destroy(reg);
	}
	return got == 4 ? 0 : 1;
}
