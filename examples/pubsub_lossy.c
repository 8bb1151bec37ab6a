/* SPDX-License-Identifier: MIT */
/*
 * Lossy delivery: the publisher never waits for anyone. A subscriber too
 * slow to keep up is lapped, and shoal tells it so instead of handing it
 * damaged data:
 *   - shoal_sub_release() returns -ESTALE when the message it held was
 *     overwritten while it read it in place: discard what was read;
 *   - shoal_sub_take() returns -EOVERFLOW once, with msg.lost saying how
 *     many messages it missed, then goes on from the oldest one left.
 * Two pipes only make the timing repeatable: the subscriber holds message
 * 0 while the publisher sends 20 more into an 8-slot ring.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int subscriber(const char *name, int tell, int hear)
{
	struct shoal_sub *sub;
	struct shoal_msg msg;
	int err, got = 0;
	char c;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err || shoal_sub_take(sub, &msg, 5 * SEC))
		return 1;
	/* Holding message 0 in place; now be slow. */
	printf("subscriber: holding #%llu, intact: %d\n",
	       (unsigned long long)msg.seq, shoal_sub_valid(sub, &msg));
	if (write(tell, "h", 1) != 1 || read(hear, &c, 1) != 1)
		return 1;
	printf("subscriber: after the publisher moved on, intact: %d\n",
	       shoal_sub_valid(sub, &msg));
	err = shoal_sub_release(sub, &msg);
	if (err != -ESTALE)
		return 1;
	printf("subscriber: release -> -ESTALE: discard what was read\n");

	/* Keep reading until the publisher is gone. */
	while ((err = shoal_sub_take(sub, &msg, 5 * SEC)) != -EPIPE) {
		if (err == -EOVERFLOW) {
			printf("subscriber: -EOVERFLOW, %llu messages lost\n",
			       (unsigned long long)msg.lost);
			continue;
		}
		if (err)
			return 1;
		printf("subscriber: #%llu \"%.*s\"\n",
		       (unsigned long long)msg.seq, (int)msg.len,
		       (const char *)msg.data);
		/* A lossy reader checks release even when it read in time. */
		if (shoal_sub_release(sub, &msg) == 0)
			got++;
	}
	printf("subscriber: %d intact messages, publisher gone\n", got);
	shoal_sub_close(sub);
	return got > 0 ? 0 : 1;
}

int main(void)
{
	struct shoal_pub_options opts;
	struct shoal_pub_stats st;
	struct shoal_pub *pub;
	int to_pub[2], to_sub[2], status;
	char name[64], c;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/lossy-%d", (int)getpid());
	if (pipe(to_pub) || pipe(to_sub))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(name, to_pub[1], to_sub[0]));

	shoal_pub_options_init(&opts);
	opts.delivery = SHOAL_DELIVERY_LOSSY;
	opts.capacity = 8;
	opts.max_payload = 32;
	if (shoal_pub_create(name, &opts, &pub))
		return 1;
	/* Asleep until a subscriber joins (its join wakes us), up to 5 s. */
	(void)shoal_pub_wait_subscribers(pub, 1, 5 * SEC);

	for (int i = 0; i <= 20; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "reading %d", i);

		/* Never waits, however far behind the subscriber is. */
		shoal_pub_write(pub, text, (uint32_t)len, NULL);
		if (i == 0 && read(to_pub[0], &c, 1) != 1) /* it holds #0 */
			return 1;
	}
	shoal_pub_get_stats(pub, &st);
	printf("publisher: sent %llu into 8 slots, blocked %llu times\n",
	       (unsigned long long)st.sent, (unsigned long long)st.blocked);
	if (write(to_sub[1], "g", 1) != 1)
		return 1;
	/* What was sent stays readable after the publisher withdraws. */
	shoal_pub_destroy(pub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
