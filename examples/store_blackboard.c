/* SPDX-License-Identifier: MIT */
/*
 * A blackboard between two processes: the latest value of each key, read
 * whole whenever a reader likes, with a change counter per key and a wait
 * for changes.
 *
 * The parent creates store "examples/store-<pid>" with a blackboard
 * "state" of two keys: POSE (the latest pose, three doubles) and QUIT, and
 * a counter array "stats". The child opens the store by name, read-only,
 * and waits for either key to change: it prints each pose it sees (a
 * reader sees the newest value, so it may skip some when the writer is
 * faster: that is what a blackboard is for) until QUIT changes. The parent
 * writes five poses, counting them in "stats", then QUIT.
 *
 * The fork comes first, as in event_hello.c: a child forked after
 * shoal_store_create() would inherit the owner's descriptors.
 */
#include <shoal.h>
#include <shoal/store.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

enum {
	POSE = 0,
	QUIT = 1
};

struct pose {
	double x, y, theta;
};

static int child(const char *name)
{
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_blackboard bb;
	struct shoal_store_watch w[2];
	int err;

	shoal_store_options_init(&o);
	o.flags = SHOAL_STORE_READ_ONLY;
	o.timeout_ns = 10 * SEC; /* the parent may not have created it yet */
	err = shoal_store_open(name, &o, &s);
	if (!err)
		err = shoal_store_blackboard(s, "state", &bb);
	if (err) {
		fprintf(stderr, "child: %s\n", shoal_last_error());
		return 1;
	}
	w[0] = (struct shoal_store_watch){ &bb, POSE, 0, 0 };
	w[1] = (struct shoal_store_watch){ &bb, QUIT, 0, 0 };
	for (;;) {
		struct pose p;
		uint64_t version;

		err = shoal_store_wait(s, w, 2, 10 * SEC);
		if (err < 0) {
			fprintf(stderr, "child: wait: %s\n",
				shoal_last_error());
			break;
		}
		if (w[0].changed &&
		    shoal_blackboard_read(&bb, POSE, &p, sizeof(p), &version) >
			    0)
			printf("child: pose #%llu: x %.1f y %.1f theta %.2f\n",
			       (unsigned long long)version, p.x, p.y, p.theta);
		if (w[1].changed) {
			printf("child: quit\n");
			err = 0;
			break;
		}
	}
	fflush(stdout);
	shoal_store_close(s);
	return err ? 1 : 0;
}

int main(void)
{
	char name[64];
	struct shoal_store_object objs[] = {
		{ .name = "state",
		  .kind = SHOAL_STORE_BLACKBOARD,
		  .count = 2,
		  .elem_size = sizeof(struct pose),
		  .type_name = "pose" },
		{ .name = "stats",
		  .kind = SHOAL_STORE_ARRAY,
		  .count = 1,
		  .elem_size = 8,
		  .type_name = "u64" },
	};
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_blackboard bb;
	struct shoal_array stats;
	uint64_t written = 0;
	int status = 0, err;
	pid_t pid;

	snprintf(name, sizeof(name), "examples/store-%d", (int)getpid());
	pid = fork();
	if (pid == 0)
		return child(name);
	shoal_store_options_init(&o);
	o.objects = objs;
	o.nobjects = 2;
	err = shoal_store_create(name, &o, &s);
	if (!err)
		err = shoal_store_blackboard(s, "state", &bb);
	if (!err)
		err = shoal_store_array(s, "stats", &stats);
	if (err) {
		fprintf(stderr, "parent: %s\n", shoal_last_error());
		kill(pid, SIGTERM);
		return 1;
	}
	for (int i = 1; i <= 5; i++) {
		struct pose p = { i * 1.0, i * 2.0, i * 0.1 };

		shoal_blackboard_write(&bb, POSE, &p, sizeof(p));
		shoal_array_add64(&stats, 0, 1, NULL);
		usleep(20000);
	}
	shoal_blackboard_write(&bb, QUIT, "", 0);
	waitpid(pid, &status, 0);
	shoal_array_load64(&stats, 0, &written);
	printf("parent: wrote %llu poses\n", (unsigned long long)written);
	shoal_store_destroy(s);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
