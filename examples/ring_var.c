/* SPDX-License-Identifier: MIT */
/*
 * The variable-length byte ring: one stream that mixes 16-byte and 60 KiB
 * messages between two processes, in a 256 KiB ring. A fixed-slot ring
 * would need every slot sized for 60 KiB; here each message takes its own
 * length plus an 8-byte header, rounded up to 8.
 *
 * The parent writes small messages by copy (push) and large ones in place
 * (claim, fill, commit); the forked child reads small ones by copy (pop)
 * and large ones in place (peek, check, release), and checks every byte.
 * The ring lives in a segment so the child attaches to it from the fd like
 * any other process would.
 */
#include <sched.h>
#include <shoal.h>
#include <shoal/ring_var.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RING_BYTES (256 * 1024)
#define COUNT 5000
#define SMALL 16
#define LARGE (60 * 1024)

/* Message i: every 10th is 60 KiB, the rest 16 B; bytes depend on i. */
static uint32_t len_of(uint32_t i)
{
	return i % 10 == 9 ? LARGE : SMALL;
}

static unsigned char byte_of(uint32_t i, uint32_t k)
{
	return (unsigned char)(i * 7 + k);
}

static int consume(void *ring, uint64_t size)
{
	static unsigned char buf[SMALL];
	struct shoal_varring_consumer cons;
	uint64_t bytes = 0;

	if (shoal_varring_consumer_init(&cons, ring, size))
		return 1;
	for (uint32_t i = 0; i < COUNT;) {
		const unsigned char *p = buf;
		const void *data;
		uint32_t len;
		ssize_t n;

		if (len_of(i) == SMALL) {
			n = shoal_varring_pop(&cons, buf, sizeof(buf));
			len = (uint32_t)n;
		} else {
			n = shoal_varring_peek(&cons, &data, &len);
			p = data;
		}
		if (n == -EAGAIN) {
			sched_yield(); /* or wait with notify.h */
			continue;
		}
		if (n < 0 || len != len_of(i)) {
			fprintf(stderr, "message %u: %zd, %u bytes\n", i, n,
				len);
			return 1;
		}
		for (uint32_t k = 0; k < len; k++)
			if (p[k] != byte_of(i, k))
				return 1;
		if (len == LARGE)
			shoal_varring_release(&cons);
		bytes += len;
		i++;
	}
	printf("ring_var: child received %u messages (16 B and 60 KiB), "
	       "%llu bytes, all intact\n",
	       COUNT, (unsigned long long)bytes);
	fflush(stdout); /* the child leaves by _exit() */
	return 0;
}

int main(void)
{
	uint64_t size = shoal_varring_region_size(RING_BYTES);
	struct shoal_object_spec spec = { "stream", SHOAL_OBJECT_VAR_RING, 0,
					  size };
	static unsigned char small[SMALL];
	struct shoal_varring_producer prod;
	struct shoal_segment *seg;
	int status;
	void *ring;
	pid_t pid;

	if (shoal_segment_create(&spec, 1, NULL, &seg) ||
	    shoal_segment_find(seg, "stream", SHOAL_OBJECT_VAR_RING, &ring,
			       NULL) ||
	    shoal_varring_format(ring, size, RING_BYTES, SHOAL_VARRING_SPSC,
				 0) ||
	    shoal_segment_ready(seg) ||
	    shoal_varring_producer_init(&prod, ring, size)) {
		fprintf(stderr, "setup: %s\n", shoal_last_error());
		return 1;
	}
	printf("ring_var: %u-byte ring, largest message %u bytes\n", RING_BYTES,
	       shoal_varring_max_message(&prod));
	fflush(stdout); /* or the child inherits the buffered line */
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		struct shoal_segment *peer;
		struct shoal_object_info info;
		void *r;

		if (shoal_segment_open(shoal_segment_fd(seg), 0, &peer) ||
		    shoal_segment_find(peer, "stream", SHOAL_OBJECT_VAR_RING,
				       &r, &info))
			_exit(1);
		_exit(consume(r, info.size));
	}
	for (uint32_t i = 0; i < COUNT;) {
		uint32_t len = len_of(i);
		unsigned char *p;
		int r;

		if (len == SMALL) {
			for (uint32_t k = 0; k < len; k++)
				small[k] = byte_of(i, k);
			r = shoal_varring_push(&prod, small, len);
		} else {
			r = shoal_varring_claim(&prod, len, (void **)&p);
			if (r == 0) {
				for (uint32_t k = 0; k < len; k++)
					p[k] = byte_of(i, k);
				r = shoal_varring_commit(&prod, len);
			}
		}
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r) {
			fprintf(stderr, "producer: %s\n", shoal_last_error());
			return 1;
		}
		i++;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		printf("ring_var: FAILED, the child found a bad message\n");
		return 1;
	}
	shoal_segment_destroy(seg);
	printf("ring_var: OK\n");
	return 0;
}
