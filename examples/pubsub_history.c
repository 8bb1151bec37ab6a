/* SPDX-License-Identifier: MIT */
/*
 * A late joiner catching up. By default a subscriber sees only what is
 * sent after it joins. A publisher with opts.history = H keeps its last H
 * messages for newcomers, and a subscriber that asks for history gets up
 * to that many of them (never more than the publisher keeps) before the
 * live ones.
 *
 * Here the publisher sends ten messages to nobody, then the subscriber
 * joins asking for 8 and receives the last 4 (the publisher's history),
 * then one live message.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int late_joiner(const char *name, int go)
{
	struct shoal_sub_options opts;
	struct shoal_sub *sub;
	struct shoal_msg msg;
	int err, got = 0;
	char c;

	if (read(go, &c, 1) != 1) /* wait until the ten were sent */
		return 1;
	shoal_sub_options_init(&opts);
	opts.history = 8; /* "up to 8 past messages, please" */
	if (shoal_sub_open(name, &opts, &sub)) {
		fprintf(stderr, "sub: %s\n", shoal_last_error());
		return 1;
	}
	while ((err = shoal_sub_take(sub, &msg, 5 * SEC)) == 0) {
		printf("late joiner: #%llu \"%.*s\"\n",
		       (unsigned long long)msg.seq, (int)msg.len,
		       (const char *)msg.data);
		shoal_sub_release(sub, &msg);
		got++;
	}
	shoal_sub_close(sub);
	/* 4 from the history, 1 live, then -EPIPE. */
	return err == -EPIPE && got == 5 ? 0 : 1;
}

int main(void)
{
	struct shoal_pub_options opts;
	struct shoal_pub *pub;
	int go[2], status;
	char name[64];
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/history-%d", (int)getpid());
	if (pipe(go))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(late_joiner(name, go[0]));

	shoal_pub_options_init(&opts);
	opts.capacity = 16;
	opts.history = 4; /* newcomers may get the last 4 messages */
	if (shoal_pub_create(name, &opts, &pub))
		return 1;
	for (int i = 0; i < 10; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "old news %d", i);

		shoal_pub_write(pub, text, (uint32_t)len, NULL);
	}
	printf("publisher: sent 10 messages with no subscriber\n");
	if (write(go[1], "g", 1) != 1)
		return 1;
	/* Asleep until a subscriber joins (its join wakes us), up to 5 s. */
	(void)shoal_pub_wait_subscribers(pub, 1, 5 * SEC);
	shoal_pub_write(pub, "live news", 9, NULL);
	shoal_pub_destroy(pub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
