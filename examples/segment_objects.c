/* SPDX-License-Identifier: MIT */
/*
 * Named objects in a segment: the creator lays out two objects, fills one,
 * marks the segment ready; a child process opens the same memfd, which is
 * validated as untrusted input, and finds the objects by name.
 */
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	struct shoal_object_spec objs[] = {
		{ "greeting", SHOAL_OBJECT_BYTES, 0, 64 },
		{ "counters", 1024 /* a user kind */, 8,
		  16 * sizeof(uint64_t) },
	};
	struct shoal_segment *seg;
	void *greeting;
	int status;
	pid_t pid;

	if (shoal_segment_create(objs, 2, NULL, &seg) ||
	    shoal_segment_find(seg, "greeting", SHOAL_OBJECT_BYTES, &greeting,
			       NULL)) {
		fprintf(stderr, "create: %s\n", shoal_last_error());
		return 1;
	}
	strcpy(greeting, "hello from the creator");
	/* Peers cannot open it before this (they get -EAGAIN). */
	shoal_segment_ready(seg);

	pid = fork();
	if (pid == 0) {
		struct shoal_segment *peer;
		struct shoal_object_info info;
		void *p;

		if (shoal_segment_open(shoal_segment_fd(seg), 0, &peer)) {
			fprintf(stderr, "open: %s\n", shoal_last_error());
			_exit(1);
		}
		printf("child: segment of %llu bytes, epoch %llu, %u objects\n",
		       (unsigned long long)shoal_segment_size(peer),
		       (unsigned long long)shoal_segment_epoch(peer),
		       shoal_segment_object_count(peer));
		for (uint32_t i = 0; !shoal_segment_object(peer, i, &info); i++)
			printf("  %-10s kind %-4u offset %-6llu size %llu\n",
			       info.name, info.kind,
			       (unsigned long long)info.offset,
			       (unsigned long long)info.size);
		shoal_segment_find(peer, "greeting", SHOAL_OBJECT_BYTES, &p,
				   NULL);
		printf("child: greeting says \"%s\"\n", (const char *)p);
		/* Asking for the wrong kind is an error, not a surprise. */
		if (shoal_segment_find(peer, "counters", SHOAL_OBJECT_BYTES, &p,
				       NULL) == -EPROTO)
			printf("child: %s\n", shoal_last_error());
		shoal_segment_close(peer);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	shoal_segment_destroy(seg);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
