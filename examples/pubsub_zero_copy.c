/* SPDX-License-Identifier: MIT */
/*
 * Zero copy both ways, with a user header: the publisher writes each frame
 * straight into shared memory (loan, fill, send) and the subscriber reads
 * it where it lies (take, read, release). No byte is copied by shoal.
 *
 * Each message is a small float tensor. Its descriptor (frame id and
 * shape) travels in the service's fixed-size user header, beside the
 * payload, so the subscriber knows the shape before touching the data.
 */
#include <shoal.h>
#include <shoal/pubsub.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define FRAMES 8
#define H 4
#define W 6
#define C 3

/* The user header: its size must be a multiple of 8. */
struct frame_desc {
	uint32_t frame_id, h, w, c;
};

static int subscriber(const char *name)
{
	struct shoal_sub *sub;
	struct shoal_msg msg;
	int err, bad = 0;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err)
		return 1;
	for (int n = 0; n < FRAMES; n++) {
		const struct frame_desc *d;
		const float *px;
		float sum = 0;

		if (shoal_sub_take(sub, &msg, 5 * SEC)) {
			fprintf(stderr, "sub: %s\n", shoal_last_error());
			return 1;
		}
		/* Both pointers are into the publisher's (read-only) shared
		 * memory, valid until release. */
		d = msg.user_header;
		px = msg.data;
		if (msg.len != (size_t)d->h * d->w * d->c * sizeof(float))
			bad++;
		for (uint32_t k = 0; k < d->h * d->w * d->c; k++)
			sum += px[k];
		printf("subscriber: frame %u, %ux%ux%u floats, sum %.0f "
		       "(expected %.0f)\n",
		       d->frame_id, d->h, d->w, d->c, sum,
		       (double)d->frame_id * H * W * C);
		if (sum != (float)d->frame_id * H * W * C)
			bad++;
		shoal_sub_release(sub, &msg); /* the slot may be reused now */
	}
	shoal_sub_close(sub);
	return bad ? 1 : 0;
}

int main(void)
{
	struct shoal_pub_options opts;
	struct shoal_pub *pub;
	char name[64];
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/zero-copy-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(name));

	shoal_pub_options_init(&opts);
	opts.capacity = 4; /* reliable: the publisher waits when it is full */
	opts.max_payload = H * W * C * sizeof(float);
	opts.user_header_size = sizeof(struct frame_desc);
	if (shoal_pub_create(name, &opts, &pub)) {
		fprintf(stderr, "pub: %s\n", shoal_last_error());
		return 1;
	}
	/* Asleep until a subscriber joins (its join wakes us), up to 5 s. */
	(void)shoal_pub_wait_subscribers(pub, 1, 5 * SEC);

	for (uint32_t f = 0; f < FRAMES; f++) {
		struct frame_desc *d;
		float *px;
		void *ptr;

		/* Borrow the next slot: ptr is the payload, in place. */
		if (shoal_pub_loan(pub, opts.max_payload, &ptr)) {
			fprintf(stderr, "pub: loan: %s\n", shoal_last_error());
			break;
		}
		px = ptr;
		d = shoal_pub_loan_header(pub);
		*d = (struct frame_desc){
			.frame_id = f, .h = H, .w = W, .c = C
		};
		for (int k = 0; k < H * W * C; k++)
			px[k] = (float)f; /* "render" the frame */
		/* Publish it: subscribers can see it from now on. */
		shoal_pub_send(pub, ptr, opts.max_payload);
	}
	shoal_pub_destroy(pub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
