/* shoal-test: label=multiproc timeout=120 */
/*
 * The blackboard's inline read (store.h) at every way it copies: the
 * constant-size copies of 8, 16, 32 and 64-byte values and the run-time
 * size of any other (1 to 200 bytes here). For each size: a key never
 * written reads as zeros, version 0; a value reads back as written and a
 * shorter one padded with zeros; the read writes no byte of the caller's
 * buffer past the value's size; a buffer one byte short is refused; and
 * while another process rewrites the key, every value read is whole and
 * the one its version says. Each answer of the inline read is compared
 * with the out-of-line read's.
 */
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

#define WRITES 50000
#define MAXV 200
/* Bytes of the caller's buffer past the value that must stay as they were. */
#define CANARY 64

static const uint32_t sizes[] = { 1,  5,  8,  12, 16, 24,  32,	40, 48,
				  56, 63, 64, 65, 72, 100, 128, 200 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Value @v of @size bytes: its first min(8, size) bytes are @v's, every
 * other byte is @v's low byte, so a torn copy holds bytes of two values. */
static void fill(unsigned char *buf, uint64_t v, uint32_t size)
{
	memset(buf, (int)(v & 0xff), size);
	memcpy(buf, &v, size < 8 ? size : 8);
}

/* Whether @buf is value @v of @size bytes. */
static int is_value(const unsigned char *buf, uint64_t v, uint32_t size)
{
	unsigned char want[MAXV];

	fill(want, v, size);
	return !memcmp(buf, want, size);
}

/* The bytes after the value still 0xee. */
static int canary_ok(const unsigned char *buf, uint32_t size)
{
	for (uint32_t i = size; i < size + CANARY; i++)
		if (buf[i] != 0xee)
			return 0;
	return 1;
}

static int make(const char *name, struct shoal_store **s)
{
	struct shoal_store_object obj[NSIZES];
	char names[NSIZES][16];
	struct shoal_store_options o;

	for (size_t i = 0; i < NSIZES; i++) {
		snprintf(names[i], sizeof(names[i]), "bb%u", sizes[i]);
		obj[i] = (struct shoal_store_object){
			.name = names[i],
			.kind = SHOAL_STORE_BLACKBOARD,
			.count = 2,
			.elem_size = sizes[i],
		};
	}
	shoal_store_options_init(&o);
	o.registry = reg;
	o.objects = obj;
	o.nobjects = NSIZES;
	return shoal_store_create(name, &o, s);
}

static int bb_of(struct shoal_store *s, uint32_t size,
		 struct shoal_blackboard *bb)
{
	char name[16];

	snprintf(name, sizeof(name), "bb%u", size);
	return shoal_store_blackboard(s, name, bb);
}

/* One read both ways: the same answer, version and bytes; returns the
 * inline read's answer, its bytes in @buf. */
static int read_both(const struct shoal_blackboard *bb, uint32_t key,
		     unsigned char *buf, uint32_t cap, uint64_t *version,
		     int *differ)
{
	unsigned char other[MAXV + CANARY];
	uint64_t v1 = 77, v2 = 77;
	int n1, n2;

	memset(buf, 0xee, MAXV + CANARY);
	memset(other, 0xee, sizeof(other));
	n1 = shoal_blackboard_read(bb, key, buf, cap, &v1);
	n2 = shoal_blackboard_read_slow(bb, key, other, cap, &v2);
	if (n1 != n2 || v1 != v2 || memcmp(buf, other, sizeof(other)))
		*differ = 1;
	*version = v1;
	return n1;
}

static int test_values(void)
{
	struct shoal_store *s;
	unsigned char buf[MAXV + CANARY], v[MAXV];
	uint64_t version;
	int differ = 0;

	CHECK_EQ(make("bb/sizes", &s), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		struct shoal_blackboard bb;
		uint32_t size = sizes[i];

		CHECK_EQ(bb_of(s, size, &bb), 0);
		CHECK_EQ(bb.priv_layout, SHOAL_BLACKBOARD_LAYOUT);
		/* Never written: zeros, version 0. */
		CHECK_EQ(read_both(&bb, 0, buf, size, &version, &differ),
			 (int)size);
		CHECK_EQ(version, 0);
		memset(v, 0, sizeof(v));
		CHECK(!memcmp(buf, v, size) && canary_ok(buf, size));
		/* Whole values, with a buffer exactly the value's size and
		 * one larger. */
		for (uint64_t k = 1; k <= 3; k++) {
			fill(v, k, size);
			CHECK_EQ(shoal_blackboard_write(&bb, 1, v, size), 0);
			CHECK_EQ(read_both(&bb, 1, buf, size, &version,
					   &differ),
				 (int)size);
			CHECK(is_value(buf, k, size) && canary_ok(buf, size));
			CHECK_EQ(version, k);
			CHECK_EQ(read_both(&bb, 1, buf, size + 1, &version,
					   &differ),
				 (int)size);
			CHECK(is_value(buf, k, size) && canary_ok(buf, size));
		}
		/* A shorter value: padded with zeros. */
		fill(v, 9, size);
		CHECK_EQ(shoal_blackboard_write(&bb, 1, v, size / 2), 0);
		CHECK_EQ(read_both(&bb, 1, buf, size, &version, &differ),
			 (int)size);
		CHECK(!memcmp(buf, v, size / 2) && canary_ok(buf, size));
		for (uint32_t b = size / 2; b < size; b++)
			CHECK_EQ(buf[b], 0);
		/* One byte short, and no such key. */
		CHECK_EQ(read_both(&bb, 1, buf, size - 1, &version, &differ),
			 -EMSGSIZE);
		CHECK_EQ(read_both(&bb, 2, buf, size, &version, &differ),
			 -ERANGE);
		CHECK(!differ);
	}
	shoal_store_destroy(s);
	return TEST_PASS;
}

/* A child rewrites key 1 of every size WRITES times while we read. */
static int test_concurrent(void)
{
	struct shoal_store *s;
	struct shoal_blackboard bbs[NSIZES];
	unsigned char buf[MAXV + CANARY];
	pid_t pid;
	int bad = 0;

	CHECK_EQ(make("bb/sizes-rw", &s), 0);
	for (size_t i = 0; i < NSIZES; i++)
		CHECK_EQ(bb_of(s, sizes[i], &bbs[i]), 0);
	pid = fork();
	if (pid == 0) {
		struct shoal_store_options o;
		struct shoal_store *cs = NULL;
		struct shoal_blackboard cb[NSIZES];
		unsigned char v[MAXV];

		if (test_registry_open(path, &reg))
			_exit(2);
		shoal_store_options_init(&o);
		o.registry = reg;
		o.timeout_ns = 5000000000LL;
		if (shoal_store_open("bb/sizes-rw", &o, &cs))
			_exit(3);
		for (size_t i = 0; i < NSIZES; i++)
			if (bb_of(cs, sizes[i], &cb[i]))
				_exit(4);
		for (uint64_t k = 1; k <= WRITES; k++)
			for (size_t i = 0; i < NSIZES; i++) {
				fill(v, k, sizes[i]);
				if (shoal_blackboard_write(&cb[i], 1, v,
							   sizes[i]))
					_exit(5);
			}
		shoal_store_close(cs);
		shoal_registry_destroy(reg);
		_exit(0);
	}
	/* Every value whole and the one its version says, the buffer past
	 * it untouched, versions never going back, until the child is
	 * done. */
	{
		uint64_t last[NSIZES] = { 0 };
		int done = 0;

		while (!bad && !done) {
			done = waitpid(pid, NULL, WNOHANG) == pid;
			for (size_t i = 0; i < NSIZES && !bad; i++) {
				uint32_t size = sizes[i];
				uint64_t version = 0;
				int n;

				memset(buf, 0xee, sizeof(buf));
				n = shoal_blackboard_read(&bbs[i], 1, buf, size,
							  &version);
				if (n == -EAGAIN)
					continue;
				if (n != (int)size || version < last[i] ||
				    !canary_ok(buf, size) ||
				    (version &&
				     !is_value(buf, version, size))) {
					fprintf(stderr,
						"size %u: read %d, version "
						"%llu after %llu\n",
						size, n,
						(unsigned long long)version,
						(unsigned long long)last[i]);
					bad = 1;
				}
				last[i] = version;
			}
		}
		if (!done)
			CHECK(test_wait_child(pid, 60));
		CHECK(!bad);
		for (size_t i = 0; i < NSIZES; i++)
			CHECK_EQ(shoal_blackboard_version(&bbs[i], 1), WRITES);
	}
	shoal_store_destroy(s);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	psu_watchdog(110);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_values);
	RUN(test_concurrent);
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
