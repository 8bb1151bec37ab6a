/* SPDX-License-Identifier: MIT */
/*
 * A subscriber that outlives its publisher. With SHOAL_SUB_REATTACH:
 *   - shoal_sub_open() succeeds before any publisher exists;
 *   - when the publisher dies, take() reports -EPIPE once, then waits for
 *     the next publisher of the same name and joins it by itself;
 *   - msg.epoch says which publisher incarnation a message came from.
 * The parent only starts processes: a subscriber, then a publisher that
 * crashes after three messages, then its replacement.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int subscriber(const char *name)
{
	struct shoal_sub_options opts;
	struct shoal_sub *sub;
	struct shoal_msg msg;
	uint64_t epoch = 0;
	int got = 0, gone = 0;

	shoal_sub_options_init(&opts);
	opts.flags = SHOAL_SUB_REATTACH;
	if (shoal_sub_open(name, &opts, &sub))
		return 1;
	printf("subscriber: waiting for '%s'\n", name);
	while (gone < 2) {
		int err = shoal_sub_take(sub, &msg, 10 * SEC);

		if (err == -EPIPE) {
			printf("subscriber: publisher of epoch %llu gone "
			       "(-EPIPE)\n",
			       (unsigned long long)epoch);
			gone++;
			continue;
		}
		if (err)
			return 1;
		if (msg.epoch != epoch) {
			epoch = msg.epoch;
			printf("subscriber: attached to epoch %llu\n",
			       (unsigned long long)epoch);
		}
		printf("subscriber: #%llu \"%.*s\"\n",
		       (unsigned long long)msg.seq, (int)msg.len,
		       (const char *)msg.data);
		shoal_sub_release(sub, &msg);
		got++;
	}
	shoal_sub_close(sub);
	return got == 6 ? 0 : 1;
}

/* One publisher incarnation: three messages, then a crash or a goodbye. */
static void publisher(const char *name, int crash)
{
	struct shoal_pub *pub;

	if (shoal_pub_create(name, NULL, &pub))
		_exit(1);
	printf("publisher %d: up, epoch %llu\n", (int)getpid(),
	       (unsigned long long)shoal_pub_epoch(pub));
	/* Asleep until a subscriber joins (its join wakes us), up to 5 s. */
	(void)shoal_pub_wait_subscribers(pub, 1, 5 * SEC);
	for (int i = 0; i < 3; i++) {
		char text[32];
		int len =
			snprintf(text, sizeof(text), "from %d", (int)getpid());

		shoal_pub_write(pub, text, (uint32_t)len, NULL);
	}
	if (crash) {
		printf("publisher %d: crashing\n", (int)getpid());
		_exit(0); /* no shoal_pub_destroy() */
	}
	shoal_pub_destroy(pub);
	_exit(0);
}

int main(void)
{
	char name[64];
	int status, ok = 1;
	pid_t sub, pub;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/reattach-%d", (int)getpid());
	sub = fork();
	if (sub == 0)
		_exit(subscriber(name));
	for (int crash = 1; crash >= 0; crash--) {
		pub = fork();
		if (pub == 0)
			publisher(name, crash);
		if (pub < 0 || waitpid(pub, &status, 0) < 0 || status)
			ok = 0;
	}
	if (sub < 0 || waitpid(sub, &status, 0) < 0 || status)
		ok = 0;
	return ok ? 0 : 1;
}
