/* SPDX-License-Identifier: MIT */
/*
 * The C side of the Python tests (python/tests/test_c_interop.py): a
 * process speaking plain C shoal, so that every message crossing between
 * C and Python is checked by the other language.
 *
 *   shoal-py-peer pub-text NAME N       N messages "msg <i>", after 1 sub
 *   shoal-py-peer sub-text NAME N       expects "msg <i>", i = 0..N-1
 *   shoal-py-peer pub-tensor NAME N     N float32 frames 3x4x5, element
 *                                       (i,j,k) = frame*1000 + i*100 +
 *                                       j*10 + k, frame_id = frame
 *   shoal-py-peer sub-tensor NAME N     expects the same from Python
 *   shoal-py-peer store-writer NAME N   creates store NAME: array "counts"
 *                                       (4 x u64) = 10, 20, 30, 40 and
 *                                       blackboard "bb" (2 keys, 16 bytes);
 *                                       writes key 0 "c <i>", i = 1..N,
 *                                       each once Python set counts[3] to
 *                                       i (its acknowledgement), then key
 *                                       1 "done"
 *
 * Exit 0 when all went as expected, 1 (with a line on stderr) otherwise.
 * Opens wait up to 30 s for the other side.
 */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000LL

static const uint64_t shape[3] = { 3, 4, 5 };

static int fail(const char *what)
{
	fprintf(stderr, "c_peer: %s: %s\n", what, shoal_last_error());
	return 1;
}

static int publisher(const char *name, int n, int tensor)
{
	struct shoal_tensor_spec spec = { .dtype = SHOAL_DTYPE_FLOAT32,
					  .ndim = 3,
					  .shape = shape };
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	int err = 0;

	shoal_pub_options_init(&o);
	o.capacity = 16;
	o.max_payload = (uint32_t)shoal_tensor_bytes(&spec);
	if (shoal_pub_create(name, &o, &pub))
		return fail("pub_create");
	if (shoal_pub_wait_subscribers(pub, 1, 30 * SEC))
		return fail("wait_subscribers");
	for (int f = 0; !err && f < n; f++) {
		if (tensor) {
			struct shoal_tensor t;
			float *x;

			spec.frame_id = (uint64_t)f;
			err = shoal_tensor_loan(pub, &spec, &t);
			if (err)
				break;
			x = t.data;
			for (int i = 0; i < 3; i++)
				for (int j = 0; j < 4; j++)
					for (int k = 0; k < 5; k++)
						x[(i * 4 + j) * 5 + k] =
							(float)(f * 1000 +
								i * 100 +
								j * 10 + k);
			err = shoal_tensor_send(pub, &t);
		} else {
			char text[32];
			int len = snprintf(text, sizeof(text), "msg %d", f);

			err = shoal_pub_write(pub, text, (uint32_t)len, NULL);
		}
	}
	if (err)
		return fail("send");
	/* Everything sent is delivered after we go (reliable). */
	shoal_pub_destroy(pub);
	return 0;
}

static int subscriber(const char *name, int n, int tensor)
{
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_msg m;

	shoal_sub_options_init(&so);
	so.timeout_ns = 30 * SEC;
	if (shoal_sub_open(name, &so, &sub))
		return fail("sub_open");
	for (int f = 0; f < n; f++) {
		if (tensor) {
			struct shoal_tensor t;
			const float *x;

			if (shoal_tensor_take(sub, &m, 30 * SEC, &t))
				return fail("tensor_take");
			if (t.frame_id != (uint64_t)f || t.ndim != 3 ||
			    t.dtype != SHOAL_DTYPE_FLOAT32 || t.shape[0] != 3 ||
			    t.shape[1] != 4 || t.shape[2] != 5) {
				fprintf(stderr, "c_peer: frame %d header\n", f);
				return 1;
			}
			for (int i = 0; i < 3; i++)
				for (int j = 0; j < 4; j++)
					for (int k = 0; k < 5; k++) {
						x = (const float
							     *)((const char *)
									t.data +
								i * t.strides[0] +
								j * t.strides[1] +
								k * t.strides[2]);
						if (*x !=
						    (float)(f * 1000 + i * 100 +
							    j * 10 + k)) {
							fprintf(stderr,
								"c_peer: frame "
								"%d (%d,%d,%d) = "
								"%g\n",
								f, i, j, k,
								(double)*x);
							return 1;
						}
					}
		} else {
			char want[32];
			int len = snprintf(want, sizeof(want), "msg %d", f);

			if (shoal_sub_take(sub, &m, 30 * SEC))
				return fail("take");
			if (m.len != (uint32_t)len ||
			    memcmp(m.data, want, (size_t)len)) {
				fprintf(stderr, "c_peer: message %d: %.*s\n", f,
					(int)m.len, (const char *)m.data);
				return 1;
			}
		}
		shoal_sub_release(sub, &m);
	}
	printf("c_peer: %d %s received\n", n, tensor ? "frames" : "messages");
	shoal_sub_close(sub);
	return 0;
}

static int store_writer(const char *name, int n)
{
	struct shoal_store_object objs[] = {
		{ .name = "counts",
		  .kind = SHOAL_STORE_ARRAY,
		  .count = 4,
		  .elem_size = 8,
		  .type_name = "u64" },
		{ .name = "bb",
		  .kind = SHOAL_STORE_BLACKBOARD,
		  .count = 2,
		  .elem_size = 16 },
	};
	struct shoal_store_options o;
	struct shoal_store *s;
	struct shoal_array a;
	struct shoal_blackboard bb;
	char v[16];

	shoal_store_options_init(&o);
	o.objects = objs;
	o.nobjects = 2;
	if (shoal_store_create(name, &o, &s))
		return fail("store create");
	if (shoal_store_array(s, "counts", &a) ||
	    shoal_store_blackboard(s, "bb", &bb))
		return fail("store lookup");
	for (uint32_t i = 0; i < 3; i++)
		shoal_array_store64(&a, i, 10 * (i + 1));
	/* The last one goes last: Python waits for it to see the rest. */
	shoal_array_store64(&a, 3, 40);
	for (int i = 1; i <= n; i++) {
		uint64_t ack = 0;
		int64_t spins = 0;

		/* Python acknowledges value i - 1 by storing i - 1 (the
		 * first round: 40 is still there). */
		while (i > 1 && !shoal_array_load64(&a, 3, &ack) &&
		       ack != (uint64_t)(i - 1)) {
			if (++spins > 30000000000LL / 1000)
				return fail("no acknowledgement");
			usleep(1);
		}
		snprintf(v, sizeof(v), "c %d", i);
		if (shoal_blackboard_write(&bb, 0, v, (uint32_t)strlen(v)))
			return fail("blackboard write");
	}
	{
		uint64_t ack = 0;

		while (!shoal_array_load64(&a, 3, &ack) && ack != (uint64_t)n)
			usleep(100);
	}
	if (shoal_blackboard_write(&bb, 1, "done", 4))
		return fail("blackboard write");
	/* Stay until Python has read "done" (it sets counts[0] to 0). */
	for (uint64_t c = 1; !shoal_array_load64(&a, 0, &c) && c;)
		usleep(1000);
	printf("store ok\n");
	shoal_store_destroy(s);
	return 0;
}

int main(int argc, char **argv)
{
	int n;

	if (argc != 4) {
		fprintf(stderr,
			"usage: %s pub-text|sub-text|pub-tensor|"
			"sub-tensor NAME N\n",
			argv[0]);
		return 2;
	}
	n = atoi(argv[3]);
	if (!strcmp(argv[1], "pub-text"))
		return publisher(argv[2], n, 0);
	if (!strcmp(argv[1], "sub-text"))
		return subscriber(argv[2], n, 0);
	if (!strcmp(argv[1], "pub-tensor"))
		return publisher(argv[2], n, 1);
	if (!strcmp(argv[1], "sub-tensor"))
		return subscriber(argv[2], n, 1);
	if (!strcmp(argv[1], "store-writer"))
		return store_writer(argv[2], n);
	return 2;
}
