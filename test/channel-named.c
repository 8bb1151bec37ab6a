/* shoal-test: label=multiproc timeout=180 */
/*
 * The named channel: created under a name, opened by name from another
 * process (which waits for the name), the roles, one opener at a time, a
 * stream in order both zero-copy (loan/send, take/release) and copying,
 * the opener's close seen as -EPIPE once drained, and a new opener taking
 * the role again.
 */
#include <shoal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include "registry_util.h"

#define N 20000
#define NAME "test/channel"

static char path[PATH_MAX];

static int open_reg(struct shoal_registry **reg)
{
	return test_registry_open(path, reg);
}

/* A message: its number, then bytes derived from it. */
static void fill(unsigned char *m, uint32_t len, uint64_t seq)
{
	memcpy(m, &seq, 8);
	for (uint32_t i = 8; i < len; i++)
		m[i] = (unsigned char)(seq * 7 + i);
}

static int intact(const unsigned char *m, uint32_t len, uint64_t seq)
{
	uint64_t got;

	if (len < 8)
		return 0;
	memcpy(&got, m, 8);
	if (got != seq)
		return 0;
	for (uint32_t i = 8; i < len; i++)
		if (m[i] != (unsigned char)(seq * 7 + i))
			return 0;
	return 1;
}

static uint32_t len_of(uint64_t seq)
{
	return 8 + (uint32_t)(seq % 57);
}

/* Child: opens by name (waiting for it) and sends N messages, alternating
 * zero copy and write, then closes. */
static int sender_child(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel_stats st;
	struct shoal_channel *tx;
	unsigned char buf[64];
	struct shoal_msg msg;

	if (open_reg(&reg))
		return 10;
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.timeout_ns = 30LL * 1000000000; /* the parent creates it later */
	o.send_timeout_ns = 30LL * 1000000000;
	if (shoal_channel_open(NAME, &o, &tx)) {
		fprintf(stderr, "open: %s\n", shoal_last_error());
		return 11;
	}
	shoal_channel_get_stats(tx, &st);
	if (st.role != SHOAL_CHANNEL_SEND || st.capacity != 16 ||
	    st.slot_size != 64)
		return 12;
	if (shoal_channel_take(tx, &msg, 0) != -EBADF)
		return 13;
	for (uint64_t i = 0; i < N; i++) {
		uint32_t len = len_of(i);
		void *slot;

		if (i % 2) {
			fill(buf, len, i);
			if (shoal_channel_write(tx, buf, len))
				return 14;
			continue;
		}
		if (shoal_channel_loan(tx, len, &slot))
			return 15;
		fill(slot, len, i);
		if (shoal_channel_send(tx, slot, len))
			return 16;
	}
	shoal_channel_get_stats(tx, &st);
	if (st.messages != N)
		return 17;
	shoal_channel_close(tx);
	shoal_registry_destroy(reg);
	return 0;
}

static int test_stream_by_name(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel_stats st;
	struct shoal_channel *rx, *other;
	unsigned char buf[64];
	pid_t pid;

	CHECK_EQ(open_reg(&reg), 0);
	/* Nothing there yet: -ENOENT at once, -ETIMEDOUT after a wait. */
	shoal_channel_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_channel_open(NAME, &o, &other), -ENOENT);
	o.timeout_ns = 20000000;
	CHECK_EQ(shoal_channel_open(NAME, &o, &other), -ETIMEDOUT);

	/* The child starts first and waits for the name. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(sender_child());
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.slot_size = 64;
	o.role = SHOAL_CHANNEL_RECV;
	CHECK_EQ(shoal_channel_create(NAME, &o, &rx), 0);
	CHECK_EQ(shoal_channel_create(NAME, &o, &other), -EEXIST);
	CHECK_EQ(shoal_channel_write(rx, buf, 8), -EBADF);
	for (uint64_t i = 0; i < N; i++) {
		struct shoal_msg msg;

		if (i % 3 == 0) {
			ssize_t n = shoal_channel_read(rx, buf, sizeof(buf),
						       30LL * 1000000000);

			CHECK_EQ(n, (ssize_t)len_of(i));
			CHECK(intact(buf, (uint32_t)n, i));
			continue;
		}
		CHECK_EQ(shoal_channel_take(rx, &msg, 30LL * 1000000000), 0);
		CHECK_EQ(msg.len, len_of(i));
		CHECK(intact(msg.data, msg.len, i));
		/* One held at a time. */
		if (i % 1000 == 1) {
			struct shoal_msg again;

			CHECK_EQ(shoal_channel_take(rx, &again, 0), -EBUSY);
			CHECK_EQ(shoal_channel_read(rx, buf, sizeof(buf), 0),
				 -EBUSY);
		}
		CHECK_EQ(shoal_channel_release(rx, &msg), 0);
		CHECK_EQ(shoal_channel_release(rx, &msg), -EINVAL);
	}
	CHECK(test_wait_child(pid, 120));
	/* The sender closed after sending: everything was taken, so now
	 * -EPIPE, at once and whatever the timeout. */
	{
		struct shoal_msg msg;

		CHECK_EQ(shoal_channel_take(rx, &msg, 0), -EPIPE);
		CHECK_EQ(shoal_channel_take(rx, &msg, 30LL * 1000000000),
			 -EPIPE);
		CHECK_EQ(shoal_channel_read(rx, buf, sizeof(buf), -1), -EPIPE);
	}
	shoal_channel_get_stats(rx, &st);
	CHECK_EQ(st.messages, N);
	CHECK_EQ(st.peer, 0);

	/* A new opener takes the role again; the stream goes on. */
	shoal_channel_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_channel_open(NAME, &o, &other), 0);
	{
		struct shoal_channel *third;

		CHECK_EQ(shoal_channel_open(NAME, &o, &third), -EBUSY);
	}
	fill(buf, 20, 77);
	CHECK_EQ(shoal_channel_write(other, buf, 20), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(shoal_channel_read(rx, buf, sizeof(buf), 30LL * 1000000000),
		 20);
	CHECK(intact(buf, 20, 77));
	shoal_channel_get_stats(rx, &st);
	CHECK_EQ(st.peer, 1);

	/* The creator destroys: the opener's write fails with -EPIPE and
	 * the name is gone. */
	shoal_channel_destroy(rx);
	CHECK_EQ(shoal_channel_write(other, buf, 20), -EPIPE);
	shoal_channel_close(other);
	CHECK_EQ(shoal_channel_open(NAME, &o, &other), -ENOENT);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* A creating sender, an opener that receives: the roles the other way. */
static int test_sender_creates(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *tx, *rx;
	struct shoal_msg msg;
	void *slot;

	CHECK_EQ(open_reg(&reg), 0);
	shoal_channel_options_init(&o);
	o.registry = reg;
	o.capacity = 4;
	o.slot_size = 32;
	o.send_timeout_ns = 0;
	CHECK_EQ(shoal_channel_create(NAME "2", &o, &tx), 0);
	/* Before anyone opened: room is used, then -EAGAIN (not -EPIPE:
	 * the receiver may still come). */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(shoal_channel_write(tx, &i, sizeof(i)), 0);
	CHECK_EQ(shoal_channel_loan(tx, 4, &slot), -EAGAIN);
	shoal_channel_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_channel_open(NAME "2", &o, &rx), 0);
	CHECK_EQ(shoal_channel_write(rx, &o, 4), -EBADF);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(shoal_channel_take(rx, &msg, 0), 0);
		CHECK_EQ(msg.len, sizeof(i));
		CHECK(memcmp(msg.data, &i, sizeof(i)) == 0);
		CHECK_EQ(shoal_channel_release(rx, &msg), 0);
	}
	CHECK_EQ(shoal_channel_take(rx, &msg, 0), -EAGAIN);
	CHECK_EQ(shoal_channel_take(rx, &msg, 1000000), -ETIMEDOUT);
	/* The receiver leaves: the sender's next call says so. */
	shoal_channel_close(rx);
	CHECK_EQ(shoal_channel_loan(tx, 4, &slot), -EPIPE);
	CHECK_EQ(shoal_channel_write(tx, &o, 4), -EPIPE);
	shoal_channel_destroy(tx);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Another pattern's name is refused. */
static int test_wrong_pattern(void)
{
	struct shoal_registry *reg;
	struct shoal_event *ev;
	struct shoal_event_options eo;
	struct shoal_channel_options o;
	struct shoal_channel *ch;

	CHECK_EQ(open_reg(&reg), 0);
	shoal_event_options_init(&eo);
	eo.registry = reg;
	CHECK_EQ(shoal_event_create("test/ev", &eo, &ev), 0);
	shoal_channel_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_channel_open("test/ev", &o, &ch), -EPROTO);
	shoal_event_destroy(ev);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];
	int r;

	if (test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	snprintf(top, sizeof(top), "%s", path);
	RUN(test_stream_by_name);
	RUN(test_sender_creates);
	RUN(test_wrong_pattern);
	r = test_result();
	*strrchr(top, '/') = '\0';
	test_remove_tree(top);
	return r;
}
