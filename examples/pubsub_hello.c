/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe in its simplest form: two processes that share nothing
 * but a service name.
 *
 * The parent forks a subscriber, then publishes "examples/hello-<pid>" and
 * writes a few text messages to it. The subscriber finds the publisher by
 * name through the registry (a directory: $SHOAL_DIR, $XDG_RUNTIME_DIR/shoal
 * or /dev/shm/shoal-<uid>), joins it, and prints what it receives. When the
 * publisher withdraws, the subscriber's next take says -EPIPE.
 *
 * The fork comes first on purpose: a child forked after shoal_pub_create()
 * would inherit the publisher's descriptors, and with them the lock that
 * tells everyone the publisher is alive.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int subscriber(const char *name)
{
	struct shoal_sub *sub;
	struct shoal_msg msg;
	int err;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err) {
		fprintf(stderr, "sub: open %s: %s\n", name, shoal_last_error());
		return 1;
	}
	printf("subscriber: joined '%s' (publisher epoch %llu)\n", name,
	       (unsigned long long)shoal_sub_epoch(sub));

	/* take() points msg.data at the message in shared memory: no copy.
	 * It stays valid until release(). */
	while ((err = shoal_sub_take(sub, &msg, 5 * SEC)) == 0) {
		printf("subscriber: #%llu \"%.*s\"\n",
		       (unsigned long long)msg.seq, (int)msg.len,
		       (const char *)msg.data);
		shoal_sub_release(sub, &msg);
	}
	/* -EPIPE: the publisher withdrew (or died) and everything it sent
	 * was taken. Anything else is a real error. */
	printf("subscriber: %s\n",
	       err == -EPIPE ? "publisher gone, bye" : shoal_last_error());
	shoal_sub_close(sub);
	return err == -EPIPE ? 0 : 1;
}

int main(void)
{
	struct shoal_pub *pub;
	char name[64];
	int status, err;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/hello-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(name));

	/* Defaults: reliable delivery, 1024 slots of up to 4096 bytes. */
	err = shoal_pub_create(name, NULL, &pub);
	if (err) {
		fprintf(stderr, "pub: %s\n", shoal_last_error());
		return 1;
	}
	printf("publisher: published '%s'\n", name);

	/* A subscriber sees only what is sent after it joined (unless it
	 * asks for history, see pubsub_history.c): wait for it, asleep (its
	 * join wakes us), up to 5 s. */
	err = shoal_pub_wait_subscribers(pub, 1, 5 * SEC);
	if (err) {
		fprintf(stderr, "pub: %s\n", shoal_last_error());
		shoal_pub_destroy(pub);
		return 1;
	}

	for (int i = 0; i < 3; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "hello #%d", i);

		/* Copies the bytes into the next slot and wakes the
		 * subscriber if it sleeps. */
		err = shoal_pub_write(pub, text, (uint32_t)len, NULL);
		if (err)
			fprintf(stderr, "pub: write: %s\n", shoal_last_error());
	}
	/* Withdraw: the subscriber still gets what was sent, then -EPIPE. */
	shoal_pub_destroy(pub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
