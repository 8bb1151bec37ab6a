/* SPDX-License-Identifier: MIT */
/*
 * A camera-like producer: publishes 1920 x 1080 x 3 uint8 frames (rows,
 * columns, RGB) as tensor frames (docs/tensor-format.md), each drawn in
 * place in shared memory, for any subscriber in any language. Its partner
 * is examples/frame_mean.py, a Python process that reads each frame as a
 * numpy array aliasing the same memory and prints its mean:
 *
 *   ./build/examples/camera_producer 30 camera/front &
 *   PYTHONPATH=build/python /usr/bin/python3 examples/frame_mean.py camera/front
 *
 * Arguments: [frames (default 30)] [service name (default camera/front)].
 * It waits up to 60 s for a subscriber, sends the frames with reliable
 * delivery (a slow reader slows the camera down, nothing is dropped) and
 * prints the mean of each frame it wrote, in the format frame_mean.py
 * prints what it read, so the two outputs can be compared line by line.
 */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>

#define SEC 1000000000LL
#define ROWS 1080
#define COLS 1920

static const uint64_t shape[3] = { ROWS, COLS, 3 };

/* Frame @f, drawn at @t: a gradient that moves, a channel of stripes.
 * Returns the sum of every byte written, for the mean. */
static uint64_t draw(const struct shoal_tensor *t, uint64_t f)
{
	uint8_t *px = t->data;
	uint64_t sum = 0;

	for (uint64_t r = 0; r < ROWS; r++) {
		uint8_t *row = px + r * t->strides[0];

		for (uint64_t c = 0; c < COLS; c++) {
			uint8_t *p = row + c * t->strides[1];

			p[0] = (uint8_t)(r + 3 * f);
			p[1] = (uint8_t)(c + 5 * f);
			p[2] = ((c / 64 + f) & 1) ? 200 : 20;
			sum += (uint64_t)p[0] + p[1] + p[2];
		}
	}
	return sum;
}

int main(int argc, char **argv)
{
	struct shoal_tensor_spec spec = {
		.dtype = SHOAL_DTYPE_UINT8,
		.ndim = 3,
		.shape = shape,
	};
	long frames = argc > 1 ? strtol(argv[1], NULL, 10) : 30;
	const char *name = argc > 2 ? argv[2] : "camera/front";
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (frames < 0) {
		fprintf(stderr, "usage: camera_producer [frames] [name]\n");
		return 2;
	}
	/* Each slot must hold a whole frame: header, padding, pixels. */
	shoal_pub_options_init(&o);
	o.capacity = 4;
	o.max_payload = (uint32_t)shoal_tensor_bytes(&spec);
	err = shoal_pub_create(name, &o, &pub);
	if (err) {
		fprintf(stderr, "camera: create %s: %s\n", name,
			shoal_last_error());
		return 1;
	}
	err = shoal_pub_wait_subscribers(pub, 1, 60 * SEC);
	if (err)
		fprintf(stderr, "camera: no subscriber: %s\n",
			shoal_last_error());
	for (long f = 0; !err && f < frames; f++) {
		struct shoal_tensor t;
		uint64_t sum;

		spec.frame_id = (uint64_t)f;
		err = shoal_tensor_loan(pub, &spec, &t);
		if (err)
			break;
		sum = draw(&t, (uint64_t)f);
		err = shoal_tensor_send(pub, &t);
		if (!err)
			printf("frame %ld: mean %.4f\n", f,
			       (double)sum / (double)(ROWS * COLS * 3));
	}
	if (err)
		fprintf(stderr, "camera: %s\n", shoal_last_error());
	/* Frames sent are still read after this: the subscriber sees the
	 * end of the stream (EPIPE) once it has taken them all. */
	shoal_pub_destroy(pub);
	return err ? 1 : 0;
}
