/* SPDX-License-Identifier: MIT */
/*
 * Tensor frames: a camera-like publisher sends 480 x 640 x 3 uint8 images
 * written in place in shared memory, and a subscriber in another process
 * reads each one as an array whose shape, strides and frame id travel in a
 * 192-byte header before the pixels (docs/tensor-format.md). No byte of an
 * image is copied: the publisher writes into the slot it loaned, and the
 * subscriber reads the slot it took.
 *
 * The subscriber trusts nothing it receives: shoal_tensor_take() checks the
 * header (every element the shape and strides reach lies inside the
 * message) before the subscriber indexes the pixels.
 */
#include <shoal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define FRAMES 5

static const uint64_t shape[3] = { 480, 640, 3 }; /* rows, columns, RGB */

static int subscriber(const char *name)
{
	struct shoal_sub *sub;
	struct shoal_tensor t;
	struct shoal_msg msg;
	int err;

	err = shoal_sub_open(
		name, &(struct shoal_sub_options){ .timeout_ns = 5 * SEC },
		&sub);
	if (err) {
		fprintf(stderr, "sub: open %s: %s\n", name, shoal_last_error());
		return 1;
	}
	while ((err = shoal_tensor_take(sub, &msg, 5 * SEC, &t)) == 0) {
		const uint8_t *px = t.data;
		/* Pixel (r, c), channel k, by the strides the header gave. */
		uint64_t r = 240, c = 320;
		const uint8_t *p = px + r * t.strides[0] + c * t.strides[1];

		printf("subscriber: frame %llu, %s %llux%llux%llu, "
		       "pixel (240,320) = (%u,%u,%u)\n",
		       (unsigned long long)t.frame_id,
		       shoal_dtype_name(t.dtype),
		       (unsigned long long)t.shape[0],
		       (unsigned long long)t.shape[1],
		       (unsigned long long)t.shape[2], p[0], p[1], p[2]);
		shoal_sub_release(sub, &msg);
	}
	shoal_sub_close(sub);
	if (err != -EPIPE)
		fprintf(stderr, "sub: %s\n", shoal_last_error());
	return err == -EPIPE ? 0 : 1;
}

int main(void)
{
	struct shoal_tensor_spec spec = {
		.dtype = SHOAL_DTYPE_UINT8,
		.ndim = 3,
		.shape = shape,
	};
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	char name[64];
	int status, err;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(name, sizeof(name), "examples/camera-%d", (int)getpid());
	pid = fork(); /* before the publisher exists: see pubsub_hello.c */
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(name));

	/* Each slot must hold the largest frame: header, padding, pixels. */
	shoal_pub_options_init(&o);
	o.capacity = 4;
	o.max_payload = (uint32_t)shoal_tensor_bytes(&spec);
	err = shoal_pub_create(name, &o, &pub);
	if (!err)
		err = shoal_pub_wait_subscribers(pub, 1, 5 * SEC);
	for (uint64_t f = 0; !err && f < FRAMES; f++) {
		struct shoal_tensor t;
		uint8_t *px;

		spec.frame_id = f;
		err = shoal_tensor_loan(pub, &spec, &t);
		if (err)
			break;
		/* Draw straight into shared memory: a gradient that moves. */
		px = t.data;
		for (uint64_t r = 0; r < shape[0]; r++)
			for (uint64_t c = 0; c < shape[1]; c++) {
				uint8_t *p = px + r * t.strides[0] +
					     c * t.strides[1];

				p[0] = (uint8_t)(r + f);
				p[1] = (uint8_t)(c + f);
				p[2] = (uint8_t)(f * 40);
			}
		err = shoal_tensor_send(pub, &t);
		if (!err)
			printf("publisher: sent frame %llu (%llu bytes)\n",
			       (unsigned long long)f,
			       (unsigned long long)t.used);
	}
	if (err)
		fprintf(stderr, "pub: %s\n", shoal_last_error());
	shoal_pub_destroy(pub);
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	return !err && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
