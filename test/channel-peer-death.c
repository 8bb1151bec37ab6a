/* shoal-test: label=multiproc timeout=240 */
/*
 * A channel's peer dies (kill -9) and the survivor's call returns -EPIPE,
 * never hangs, in all four places it can happen:
 *  - the receiver (opener) dies while the creating sender blocks on a full
 *    ring: the creator sees the opener's line lock dropped;
 *  - the sender (creator) dies while the opening receiver blocks: it gets
 *    everything sent, then -EPIPE (the creator's pidfd wakes it);
 *  - the sender (opener) dies while the creating receiver blocks: the same,
 *    seen through the line lock;
 *  - the receiver (creator) dies while the opening sender blocks.
 * And after the first, a new receiver opens and the stream goes on; and
 * the anonymous form's opener sees its creator's death too.
 * Nothing here depends on timing: the kill may land before or after the
 * survivor blocks, and both must end in -EPIPE.
 */
#include <shoal.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include "registry_util.h"

#define CAP 8
#define SENT 5 /* what a dying sender sends first (fits in CAP) */

static char path[PATH_MAX];

struct ctl {
	_Atomic int ready;    /* the victim did its part */
	_Atomic int blocking; /* the survivor is about to block */
	_Atomic int result;   /* the anonymous case's grandchild: 1 ok, 2 bad */
};

static struct ctl *ctl;

static int opts(struct shoal_channel_options *o, struct shoal_registry **reg)
{
	if (test_registry_open(path, reg))
		return -1;
	shoal_channel_options_init(o);
	o->registry = *reg;
	o->capacity = CAP;
	o->slot_size = 16;
	o->timeout_ns = 60LL * 1000000000;
	return 0;
}

/* Waits (generously) for @flag, then kills @victim with SIGKILL. */
static pid_t killer(_Atomic int *flag, pid_t victim)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (int i = 0; i < 60000 && !atomic_load(flag); i++)
			usleep(1000);
		usleep(20000); /* likely asleep by now; either way is fine */
		kill(victim, SIGKILL);
		_exit(0);
	}
	return pid;
}

/* An opener that does @what and then waits to be killed. */
static int opener_child(const char *name, int send)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *ch;

	if (opts(&o, &reg) || shoal_channel_open(name, &o, &ch))
		return 1;
	for (uint64_t i = 0; send && i < SENT; i++)
		if (shoal_channel_write(ch, &i, sizeof(i)))
			return 2;
	atomic_store(&ctl->ready, 1);
	for (;;)
		pause();
}

/* A creator that does @what and then waits to be killed. */
static int creator_child(const char *name, enum shoal_channel_role role)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *ch;

	if (opts(&o, &reg))
		return 1;
	o.role = role;
	if (shoal_channel_create(name, &o, &ch))
		return 2;
	atomic_store(&ctl->ready, 1);
	for (uint64_t i = 0; role == SHOAL_CHANNEL_SEND && i < SENT; i++)
		if (shoal_channel_write(ch, &i, sizeof(i)))
			return 3;
	if (role == SHOAL_CHANNEL_SEND)
		atomic_store(&ctl->ready, 2);
	for (;;)
		pause();
}

static void reset(void)
{
	atomic_store(&ctl->ready, 0);
	atomic_store(&ctl->blocking, 0);
}

static int reap(pid_t victim, pid_t k)
{
	int status;

	CHECK(waitpid(victim, &status, 0) == victim);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(test_wait_child(k, 60));
	return TEST_PASS;
}

/* Receiver (opener) dies under a blocked creating sender; then a new
 * receiver takes over. */
static int test_receiver_dies_sender_creator(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *tx, *rx;
	uint64_t v = 0;
	pid_t victim, k;
	int err;

	reset();
	CHECK_EQ(opts(&o, &reg), 0);
	CHECK_EQ(shoal_channel_create("death/1", &o, &tx), 0);
	victim = fork();
	CHECK(victim >= 0);
	if (victim == 0)
		_exit(opener_child("death/1", 0));
	CHECK(test_wait_flag(&ctl->ready, 1, 60));
	for (uint64_t i = 0; i < CAP; i++)
		CHECK_EQ(shoal_channel_write(tx, &i, sizeof(i)), 0);
	k = killer(&ctl->blocking, victim);
	atomic_store(&ctl->blocking, 1);
	/* Full, the receiver never reads: blocks until it is seen dead. */
	err = shoal_channel_write(tx, &v, sizeof(v));
	CHECK_EQ(err, -EPIPE);
	CHECK_EQ(shoal_channel_write(tx, &v, sizeof(v)), -EPIPE);
	CHECK(reap(victim, k) == TEST_PASS);

	/* A new receiver: the role is free again, the messages are there. */
	shoal_channel_options_init(&o);
	o.registry = reg;
	CHECK_EQ(shoal_channel_open("death/1", &o, &rx), 0);
	for (uint64_t i = 0; i < CAP; i++) {
		CHECK_EQ(shoal_channel_read(rx, &v, sizeof(v), 0), 8);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(shoal_channel_write(tx, &v, sizeof(v)), 0);
	CHECK_EQ(shoal_channel_read(rx, &v, sizeof(v), 0), 8);
	shoal_channel_close(rx);
	shoal_channel_destroy(tx);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Sender (creator) dies; the opening receiver drains, then -EPIPE. */
static int test_sender_creator_dies(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *rx;
	uint64_t v;
	pid_t victim, k;

	reset();
	victim = fork();
	CHECK(victim >= 0);
	if (victim == 0)
		_exit(creator_child("death/2", SHOAL_CHANNEL_SEND));
	CHECK_EQ(opts(&o, &reg), 0);
	CHECK_EQ(shoal_channel_open("death/2", &o, &rx), 0);
	k = killer(&ctl->blocking, victim);
	/* The kill comes after "all sent"; the reads may come after it. */
	for (int i = 0; i < 60000 && atomic_load(&ctl->ready) != 2; i++)
		usleep(1000);
	CHECK_EQ(atomic_load(&ctl->ready), 2);
	atomic_store(&ctl->blocking, 1);
	for (uint64_t i = 0; i < SENT; i++) {
		CHECK_EQ(shoal_channel_read(rx, &v, sizeof(v), -1), 8);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(shoal_channel_read(rx, &v, sizeof(v), -1), -EPIPE);
	CHECK_EQ(shoal_channel_read(rx, &v, sizeof(v), 0), -EPIPE);
	CHECK(reap(victim, k) == TEST_PASS);
	shoal_channel_close(rx);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Sender (opener) dies; the creating receiver drains, then -EPIPE. */
static int test_sender_opener_dies(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *rx;
	struct shoal_msg msg;
	pid_t victim, k;

	reset();
	CHECK_EQ(opts(&o, &reg), 0);
	o.role = SHOAL_CHANNEL_RECV;
	CHECK_EQ(shoal_channel_create("death/3", &o, &rx), 0);
	victim = fork();
	CHECK(victim >= 0);
	if (victim == 0)
		_exit(opener_child("death/3", 1));
	CHECK(test_wait_flag(&ctl->ready, 1, 60));
	k = killer(&ctl->blocking, victim);
	atomic_store(&ctl->blocking, 1);
	for (uint64_t i = 0; i < SENT; i++) {
		CHECK_EQ(shoal_channel_take(rx, &msg, -1), 0);
		CHECK(msg.len == 8 && memcmp(msg.data, &i, 8) == 0);
		CHECK_EQ(shoal_channel_release(rx, &msg), 0);
	}
	CHECK_EQ(shoal_channel_take(rx, &msg, -1), -EPIPE);
	CHECK(reap(victim, k) == TEST_PASS);
	shoal_channel_destroy(rx);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Receiver (creator) dies under a blocked opening sender. */
static int test_receiver_creator_dies(void)
{
	struct shoal_registry *reg;
	struct shoal_channel_options o;
	struct shoal_channel *tx;
	uint64_t v = 0;
	void *slot;
	pid_t victim, k;

	reset();
	victim = fork();
	CHECK(victim >= 0);
	if (victim == 0)
		_exit(creator_child("death/4", SHOAL_CHANNEL_RECV));
	CHECK_EQ(opts(&o, &reg), 0);
	CHECK_EQ(shoal_channel_open("death/4", &o, &tx), 0);
	for (uint64_t i = 0; i < CAP; i++)
		CHECK_EQ(shoal_channel_write(tx, &i, sizeof(i)), 0);
	k = killer(&ctl->blocking, victim);
	atomic_store(&ctl->blocking, 1);
	CHECK_EQ(shoal_channel_loan(tx, 8, &slot), -EPIPE);
	CHECK_EQ(shoal_channel_write(tx, &v, sizeof(v)), -EPIPE);
	CHECK(reap(victim, k) == TEST_PASS);
	shoal_channel_close(tx);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The grandchild: opens the anonymous channel from inherited fds,
 * drains, and must then get -EPIPE when its creator is killed. */
static int anon_receiver(const struct shoal_channel_fds *fds)
{
	struct shoal_channel *rx;
	uint64_t v;

	if (shoal_channel_open_fds(fds, NULL, &rx))
		return 2;
	atomic_store(&ctl->ready, 1);
	for (uint64_t i = 0; i < SENT; i++)
		if (shoal_channel_read(rx, &v, sizeof(v), -1) != 8 || v != i)
			return 2;
	if (shoal_channel_read(rx, &v, sizeof(v), -1) != -EPIPE)
		return 2;
	shoal_channel_close(rx);
	return 1;
}

/* The anonymous form: the creator (a child) is killed while the opener it
 * forked (a grandchild) blocks: -EPIPE through the creator's pidfd. */
static int test_anonymous_creator_dies(void)
{
	pid_t victim;
	int status;

	reset();
	atomic_store(&ctl->result, 0);
	victim = fork();
	CHECK(victim >= 0);
	if (victim == 0) {
		struct shoal_channel_options o;
		struct shoal_channel *tx;
		struct shoal_channel_fds fds;

		shoal_channel_options_init(&o);
		o.capacity = CAP;
		o.slot_size = 16;
		if (shoal_channel_create(NULL, &o, &tx))
			_exit(1);
		shoal_channel_get_fds(tx, &fds);
		if (fork() == 0) {
			atomic_store(&ctl->result, anon_receiver(&fds));
			_exit(0);
		}
		for (uint64_t i = 0; i < SENT; i++)
			if (shoal_channel_write(tx, &i, sizeof(i)))
				_exit(1);
		while (!atomic_load(&ctl->ready))
			usleep(1000);
		atomic_store(&ctl->blocking, 1);
		for (;;)
			pause();
	}
	CHECK(test_wait_flag(&ctl->blocking, 1, 60));
	usleep(20000); /* likely asleep by now; either way is fine */
	kill(victim, SIGKILL);
	CHECK(waitpid(victim, &status, 0) == victim);
	CHECK(test_wait_flag(&ctl->result, 1, 60));
	CHECK_EQ(atomic_load(&ctl->result), 1);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];
	int r;

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	snprintf(top, sizeof(top), "%s", path);
	RUN(test_receiver_dies_sender_creator);
	RUN(test_sender_creator_dies);
	RUN(test_sender_opener_dies);
	RUN(test_receiver_creator_dies);
	RUN(test_anonymous_creator_dies);
	r = test_result();
	*strrchr(top, '/') = '\0';
	test_remove_tree(top);
	return r;
}
