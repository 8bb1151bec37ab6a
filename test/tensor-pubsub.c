/* shoal-test: label=multiproc timeout=300 */
/*
 * Tensor frames over pub/sub between processes: a publisher process loans
 * 1080 x 1920 x 3 uint8 frames (6,220,800 bytes, a 6 MB camera frame)
 * with shoal_tensor_loan(),
 * fills each in place with a pattern of its frame id, and sends it with
 * shoal_tensor_send(); between frames it sends one message that is not a
 * tensor (garbage of the same size) and one whose header lies about its
 * shape. A subscriber process, started first and opening with a wait,
 * takes with shoal_tensor_take(): every real frame arrives in order with
 * its shape, strides, frame id, timestamp and every byte of its data
 * (checked at sampled rows and in full for frame 0), aligned to 64; each
 * bad message gives -EBADMSG and is consumed, and the next frame follows.
 * Reliable delivery with a 4-slot ring, so the publisher waits for the
 * subscriber and nothing is lost.
 */
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "shoal/tensor.h"

#define FRAMES 12u
#define H 1080u
#define W 1920u
#define C 3u
#define NAME "tensor/camera"

static char path[PATH_MAX];
static const uint64_t shape[3] = { H, W, C };

static uint8_t pixel(uint64_t frame, uint64_t i)
{
	return (uint8_t)(psu_mix(frame * 0x9e3779b97f4a7c15ull + i / 64) + i);
}

static void spec_of(struct shoal_tensor_spec *s, uint64_t frame)
{
	memset(s, 0, sizeof(*s));
	s->dtype = SHOAL_DTYPE_UINT8;
	s->ndim = 3;
	s->shape = shape;
	s->frame_id = frame;
	s->timestamp_ns = (int64_t)(1000 + frame);
}

static int publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_tensor_spec s;
	struct shoal_pub *pub;
	struct shoal_tensor t;
	void *ptr;

	spec_of(&s, 0);
	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.capacity = 4;
	o.max_payload = (uint32_t)shoal_tensor_bytes(&s);
	CHECK(o.max_payload >= H * W * C + SHOAL_TENSOR_HEADER_SIZE);
	CHECK_EQ(shoal_pub_create(NAME, &o, &pub), 0);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, 1, 120 * PSU_SEC), 0);
	for (uint64_t f = 0; f < FRAMES; f++) {
		spec_of(&s, f);
		CHECK_EQ(shoal_tensor_loan(pub, &s, &t), 0);
		CHECK_EQ(t.count, (uint64_t)H * W * C);
		CHECK(((uintptr_t)t.data & 63) == 0);
		for (uint64_t i = 0; i < t.data_bytes; i++)
			((uint8_t *)t.data)[i] = pixel(f, i);
		CHECK_EQ(shoal_tensor_send(pub, &t), 0);

		/* Not a tensor: the subscriber must refuse it. */
		CHECK_EQ(shoal_pub_loan(pub, 4096, &ptr), 0);
		memset(ptr, 0xab, 4096);
		CHECK_EQ(shoal_pub_send(pub, ptr, 4096), 0);

		/* A tensor whose shape says more rows than it carries. */
		CHECK_EQ(shoal_tensor_loan(pub, &s, &t), 0);
		((struct shoal_tensor_header *)t.priv_payload)->shape[0] =
			H + 1;
		CHECK_EQ(shoal_tensor_send(pub, &t), 0);
	}
	/* A spec the service cannot carry, and an invalid one: no loan. */
	{
		uint64_t more[3] = { H + 1, W, C };

		s.shape = more;
		CHECK_EQ(shoal_tensor_loan(pub, &s, &t), -EMSGSIZE);
		s.shape = shape;
		s.dtype = 77;
		CHECK_EQ(shoal_tensor_loan(pub, &s, &t), -EINVAL);
		/* Nothing is loaned after either: a plain loan works. */
		CHECK_EQ(shoal_pub_loan(pub, 8, &ptr), 0);
		CHECK_EQ(shoal_pub_abort(pub, ptr), 0);
	}
	/* Stay until the subscriber had everything: destroy with it. */
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 0, 120));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return 0;
}

static int subscriber(void)
{
	struct shoal_registry *reg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_tensor t;
	struct shoal_msg m;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	so.timeout_ns = 120 * PSU_SEC; /* the publisher may not exist yet */
	CHECK_EQ(shoal_sub_open(NAME, &so, &sub), 0);
	for (uint64_t f = 0; f < FRAMES; f++) {
		const uint8_t *d;

		CHECK_EQ(shoal_tensor_take(sub, &m, 120 * PSU_SEC, &t), 0);
		CHECK_EQ(t.frame_id, f);
		CHECK_EQ(t.timestamp_ns, (int64_t)(1000 + f));
		CHECK_EQ(t.dtype, SHOAL_DTYPE_UINT8);
		CHECK_EQ(t.ndim, 3);
		CHECK_EQ(t.shape[0], H);
		CHECK_EQ(t.shape[1], W);
		CHECK_EQ(t.shape[2], C);
		CHECK_EQ(t.strides[0], W * C);
		CHECK_EQ(t.strides[1], C);
		CHECK_EQ(t.strides[2], 1);
		CHECK_EQ(t.data_bytes, (uint64_t)H * W * C);
		CHECK(((uintptr_t)t.data & 63) == 0);
		CHECK((const uint8_t *)t.data >= (const uint8_t *)m.data + 192);
		d = t.data;
		/* Frame 0 in full, the others at 64 sampled rows. */
		for (uint64_t r = 0; r < H; r += f ? H / 64 : 1)
			for (uint64_t i = r * W * C; i < (r + 1) * W * C; i++)
				if (d[i] != pixel(f, i)) {
					fprintf(stderr,
						"frame %llu byte %llu\n",
						(unsigned long long)f,
						(unsigned long long)i);
					return 1;
				}
		CHECK_EQ(shoal_sub_release(sub, &m), 0);

		CHECK_EQ(shoal_tensor_take(sub, &m, 120 * PSU_SEC, &t),
			 -EBADMSG);
		CHECK(strstr(shoal_last_error(), "magic") != NULL);
		CHECK_EQ(shoal_tensor_take(sub, &m, 120 * PSU_SEC, &t),
			 -EBADMSG);
		CHECK(strstr(shoal_last_error(), "elements reach") != NULL);
	}
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return 0;
}

int main(void)
{
	pid_t pids[2];

	psu_watchdog(280);
	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	/* The subscriber first: its open waits for the publisher. */
	pids[0] = psu_fork();
	if (pids[0] == 0)
		_exit(subscriber());
	pids[1] = psu_fork();
	if (pids[1] == 0)
		_exit(publisher());
	CHECK(psu_wait_all(pids, 2, 270));
	return TEST_PASS;
}
