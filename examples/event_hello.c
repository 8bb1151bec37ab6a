/* SPDX-License-Identifier: MIT */
/*
 * Events in their simplest form: numbered doorbells between two processes
 * that share nothing but a service name.
 *
 * The parent creates "examples/event-<pid>" with three ids of its own
 * choosing: TICK and QUIT, which the child listens for, and READY, which
 * the parent listens for. The child opens the service by name, listens,
 * rings READY, then reports what it is woken for until QUIT comes. The
 * parent rings TICK three times in a row (notifications of one id that
 * the listener has not taken yet coalesce: the child may see one TICK or
 * up to three), waits for the child's DONE, rings TICK once more, then
 * QUIT.
 *
 * The fork comes first on purpose: a child forked after
 * shoal_event_create() would inherit the creator's descriptors, and with
 * them the lock that tells everyone the creator is alive.
 */
#include <shoal.h>
#include <shoal/event.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

enum {
	TICK = 0,
	QUIT = 1,
	READY = 2,
	DONE = 3
};

static int child(const char *name)
{
	struct shoal_event *ev;
	struct shoal_event_set want, fired;
	int err, ticks = 0;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_event_open(
		name, &(struct shoal_event_options){ .timeout_ns = 5 * SEC },
		&ev);
	if (err) {
		fprintf(stderr, "child: open %s: %s\n", name,
			shoal_last_error());
		return 1;
	}
	shoal_event_set_clear(&want);
	shoal_event_set_add(&want, TICK);
	shoal_event_set_add(&want, QUIT);
	shoal_event_listen(ev, &want);
	/* Until the parent listens for READY, ringing it reaches nobody. */
	while (shoal_event_notify(ev, READY) == 0)
		usleep(1000);

	for (;;) {
		err = shoal_event_wait(ev, NULL, 5 * SEC, &fired);
		if (err < 0) {
			fprintf(stderr, "child: %s\n", shoal_last_error());
			break;
		}
		if (shoal_event_set_has(&fired, TICK)) {
			printf("child: TICK (coalesced: one report for every "
			       "tick since the last wait)\n");
			ticks++;
			shoal_event_notify(ev, DONE);
		}
		if (shoal_event_set_has(&fired, QUIT)) {
			printf("child: QUIT after %d TICK reports, bye\n",
			       ticks);
			break;
		}
	}
	shoal_event_close(ev);
	return err < 0;
}

int main(void)
{
	struct shoal_event_options o;
	struct shoal_event *ev;
	struct shoal_event_set want, fired;
	struct shoal_event_stats st;
	char name[64];
	int status, err;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/event-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(child(name));

	/* Four ids are all this protocol needs; one listener line each for
	 * us and the child would do, the default allows 64. */
	shoal_event_options_init(&o);
	o.ids = 4;
	err = shoal_event_create(name, &o, &ev);
	if (err) {
		fprintf(stderr, "parent: %s\n", shoal_last_error());
		return 1;
	}
	shoal_event_set_clear(&want);
	shoal_event_set_add(&want, READY);
	shoal_event_set_add(&want, DONE);
	shoal_event_listen(ev, &want);

	shoal_event_set_clear(&want);
	shoal_event_set_add(&want, READY);
	if (shoal_event_wait(ev, &want, 5 * SEC, NULL) < 0)
		goto fail;
	printf("parent: the child listens; ringing TICK three times\n");
	for (int i = 0; i < 3; i++)
		shoal_event_notify(ev, TICK);
	shoal_event_set_clear(&want);
	shoal_event_set_add(&want, DONE);
	if (shoal_event_wait(ev, &want, 5 * SEC, &fired) < 0)
		goto fail;
	/* The child has taken at least one tick. This one is reported by
	 * one of its later waits: maybe merged with ticks it has not taken
	 * yet, never lost. */
	shoal_event_notify(ev, TICK);
	shoal_event_notify(ev, QUIT);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "parent: the child failed\n");
		shoal_event_destroy(ev);
		return 1;
	}
	shoal_event_get_stats(ev, &st);
	printf("parent: %llu notifies, %llu of them woke a sleeper\n",
	       (unsigned long long)st.notifies, (unsigned long long)st.wakeups);
	shoal_event_destroy(ev);
	return 0;
fail:
	fprintf(stderr, "parent: %s\n", shoal_last_error());
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	shoal_event_destroy(ev);
	return 1;
}
