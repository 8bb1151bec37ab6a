/* SPDX-License-Identifier: MIT */
/*
 * Discovery with no broker: the parent creates a channel and publishes it
 * in the registry under a name; a child that knows only the name finds it,
 * takes the memfd and eventfds from the parent by pidfd_getfd (or
 * SCM_RIGHTS), and receives messages. Then the parent withdraws.
 */
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int consumer(const char *name)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct shoal_service_info info;
	struct shoal_channel_fds fds;
	struct shoal_channel *rx;
	char msg[64];
	int err;

	if (shoal_registry_create(NULL, &reg))
		return 1;
	/* The name may not be there yet: try for a while. */
	for (int i = 0;
	     (err = shoal_registry_open(reg, name, 0, &svc)) == -ENOENT &&
	     i < 1000;
	     i++)
		usleep(1000);
	if (err) {
		fprintf(stderr, "open %s: %s\n", name, shoal_last_error());
		return 1;
	}
	shoal_service_get_info(svc, &info);
	printf("child: found '%s' in %s: owner pid %d, epoch %llu, fds by %s\n",
	       info.name, shoal_registry_path(reg), info.pid,
	       (unsigned long long)info.epoch,
	       shoal_service_fd_source(svc) == SHOAL_FDS_BY_PIDFD_GETFD ?
		       "pidfd_getfd" :
		       "SCM_RIGHTS");
	fds.memfd = shoal_segment_fd(shoal_service_segment(svc));
	fds.data_eventfd = shoal_service_eventfd(svc, 0);
	fds.space_eventfd = shoal_service_eventfd(svc, 1);
	if (shoal_channel_open_fds(&fds, NULL, &rx))
		return 1;
	for (int i = 0; i < 3; i++) {
		ssize_t n = shoal_channel_read(rx, msg, sizeof(msg) - 1,
					       5LL * 1000000000);
		if (n < 0)
			return 1;
		msg[n] = '\0';
		printf("child: received \"%s\"\n", msg);
	}
	shoal_channel_close(rx);
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	fflush(stdout);
	return 0;
}

int main(void)
{
	struct shoal_registry *reg;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	struct shoal_service_spec spec;
	struct shoal_entry *entry;
	char name[64];
	int efds[2], status;
	pid_t pid;

	snprintf(name, sizeof(name), "examples/discovery-%d", (int)getpid());
	if (shoal_registry_create(NULL, &reg) ||
	    shoal_channel_create(NULL, NULL, &tx)) {
		fprintf(stderr, "setup: %s\n", shoal_last_error());
		return 1;
	}
	shoal_channel_get_fds(tx, &fds);
	efds[0] = fds.data_eventfd;
	efds[1] = fds.space_eventfd;
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.memfd = fds.memfd;
	spec.eventfd_count = 2;
	spec.eventfds = efds;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	if (shoal_registry_publish(reg, &spec, &entry)) {
		fprintf(stderr, "publish: %s\n", shoal_last_error());
		return 1;
	}
	printf("parent: published '%s'\n", name);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(consumer(name));
	for (int i = 0; i < 3; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "hello #%d", i);

		shoal_channel_write(tx, msg, (uint32_t)len);
	}
	waitpid(pid, &status, 0);
	shoal_entry_destroy(entry);
	shoal_channel_destroy(tx);
	shoal_registry_destroy(reg);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
