/* shoal-test: label=unit timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * shoal_segment_open() must refuse every fd that is not a memfd sealed against
 * shrink and grow, even when its bytes are a perfectly valid segment: a file
 * anyone can truncate would let one peer SIGBUS all the others. Each kind of
 * fd gets its documented code, and a refusal leaves *out alone, leaks no fd
 * and leaves the caller's fd open.
 *
 * Every file-backed candidate below holds the bytes of a real, READY segment,
 * and a control case shows that the same bytes in a properly sealed memfd do
 * open, so each refusal is about the fd, not the content.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shoal/segment.h>

#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define OUT_SENTINEL ((struct shoal_segment *)(uintptr_t)0x5a5a5a5a)

static unsigned char *image;
static size_t image_len;

/* The bytes of a valid READY segment, taken once from a real one. */
static int make_image(void)
{
	static const struct shoal_object_spec objs[] = {
		{ "payload", SHOAL_OBJECT_BYTES, 0, 300 },
		{ "ring", SHOAL_OBJECT_SPSC_RING, 64, 1024 },
	};
	struct shoal_segment *seg = NULL;
	unsigned char *p = NULL;

	CHECK_EQ(shoal_segment_create(objs, 2, NULL, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "payload", 0, (void **)&p, NULL), 0);
	memset(p, 0xab, 300);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	image_len = (size_t)shoal_segment_size(seg);
	image = malloc(image_len);
	CHECK(image != NULL);
	CHECK_EQ(pread(shoal_segment_fd(seg), image, image_len, 0),
		 (ssize_t)image_len);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

static int write_image(int fd)
{
	return pwrite(fd, image, image_len, 0) == (ssize_t)image_len ? 0 : -1;
}

/* A memfd holding the image, with @seals added (0: none). */
static int image_memfd(unsigned mfd_flags, int seals)
{
	int fd = memfd_create("reject-fds", mfd_flags);

	if (fd < 0)
		return -1;
	if (write_image(fd) || (seals && fcntl(fd, F_ADD_SEALS, seals))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * open(@fd, @flags) must return @want; on failure *out is untouched, the
 * caller's fd is still open and the fd count is unchanged. On success the
 * handle must show the image's payload.
 */
static int expect_open(int fd, uint32_t flags, int want, const char *what)
{
	struct shoal_segment *seg = OUT_SENTINEL;
	int before = test_count_fds();
	int was_open = fcntl(fd, F_GETFD) >= 0;
	int r = shoal_segment_open(fd, flags, &seg);

	if (r != want) {
		fprintf(stderr, "open(%s, flags %u) = %d, want %d (%s)\n", what,
			flags, r, want, shoal_last_error());
		if (r == 0)
			shoal_segment_close(seg);
		return TEST_FAIL;
	}
	if (r == 0) {
		unsigned char *p = NULL;

		CHECK(seg != OUT_SENTINEL && seg != NULL);
		CHECK_EQ(shoal_segment_find(seg, "payload", SHOAL_OBJECT_BYTES,
					    (void **)&p, NULL),
			 0);
		CHECK_EQ(p[0], 0xab);
		CHECK_EQ(p[299], 0xab);
		shoal_segment_close(seg);
	} else {
		if (seg != OUT_SENTINEL) {
			fprintf(stderr, "open(%s) failed but wrote *out\n",
				what);
			return TEST_FAIL;
		}
		if (shoal_last_error()[0] == '\0') {
			fprintf(stderr, "open(%s) failed with no detail\n",
				what);
			return TEST_FAIL;
		}
	}
	CHECK_EQ(test_count_fds(), before);
	if (was_open)
		CHECK(fcntl(fd, F_GETFD) >= 0);
	return TEST_PASS;
}

/* Both open modes get the same answer for a bad fd type. */
#define EXPECT_BOTH(fd, want, what)                                          \
	do {                                                                 \
		CHECK_EQ(expect_open(fd, 0, want, what), TEST_PASS);         \
		CHECK_EQ(expect_open(fd, SHOAL_SEGMENT_OPEN_READ_ONLY, want, \
				     what),                                  \
			 TEST_PASS);                                         \
	} while (0)

/* The seals shoal_segment_ready() leaves on every READY segment. */
#define READY_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The control: the image in a memfd sealed as ready() seals it opens. */
static int test_sealed_memfd_opens(void)
{
	int fd = image_memfd(MFD_CLOEXEC | MFD_ALLOW_SEALING, READY_SEALS);

	CHECK(fd >= 0);
	EXPECT_BOTH(fd, 0, "sealed memfd");
	close(fd);
	return TEST_PASS;
}

static int test_closed_fd(void)
{
	int fd = image_memfd(MFD_ALLOW_SEALING, READY_SEALS);

	CHECK(fd >= 0);
	close(fd);
	EXPECT_BOTH(fd, -EBADF, "closed fd");
	EXPECT_BOTH(-1, -EBADF, "fd -1");
	EXPECT_BOTH(-100, -EBADF, "fd -100");
	EXPECT_BOTH(INT32_MAX, -EBADF, "fd INT_MAX");
	return TEST_PASS;
}

static int test_pipe(void)
{
	int p[2];

	CHECK_EQ(pipe(p), 0);
	EXPECT_BOTH(p[0], -ENOTSUP, "pipe read end");
	EXPECT_BOTH(p[1], -ENOTSUP, "pipe write end");
	close(p[0]);
	close(p[1]);
	return TEST_PASS;
}

static int test_socket(void)
{
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	EXPECT_BOTH(sv[0], -ENOTSUP, "unix socket");
	close(sv[0]);
	close(sv[1]);
	return TEST_PASS;
}

static int test_eventfd(void)
{
	int fd = eventfd(0, 0);

	CHECK(fd >= 0);
	EXPECT_BOTH(fd, -ENOTSUP, "eventfd");
	close(fd);
	return TEST_PASS;
}

static int test_dev_null_and_dir(void)
{
	int fd = open("/dev/null", O_RDWR);

	CHECK(fd >= 0);
	EXPECT_BOTH(fd, -ENOTSUP, "/dev/null");
	close(fd);
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	EXPECT_BOTH(fd, -ENOTSUP, "directory");
	close(fd);
	return TEST_PASS;
}

/* A regular file holding a valid image: named in /tmp, and O_TMPFILE. */
static int test_regular_file(void)
{
	char path[] = "/tmp/shoal-reject-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	CHECK_EQ(write_image(fd), 0);
	EXPECT_BOTH(fd, -ENOTSUP, "regular file");
	close(fd);

	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (fd < 0)
		return TEST_PASS; /* a /tmp without O_TMPFILE: covered above */
	CHECK_EQ(write_image(fd), 0);
	EXPECT_BOTH(fd, -ENOTSUP, "O_TMPFILE");
	close(fd);
	return TEST_PASS;
}

/* A POSIX shared memory file: tmpfs like a memfd, but named and unsealable. */
static int test_dev_shm_file(void)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/shoal-reject-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return TEST_SKIP;
	unlink(path);
	CHECK_EQ(write_image(fd), 0);
	EXPECT_BOTH(fd, -ENOTSUP, "/dev/shm file");
	close(fd);
	return TEST_PASS;
}

/*
 * Sealable memfds without both size seals: -EPERM. A READY segment must also
 * carry F_SEAL_SEAL, or any holder could still add F_SEAL_WRITE and freeze
 * the creator's stores (ready() adds it before it stores READY).
 */
static int test_memfd_missing_seals(void)
{
	static const struct {
		int seals;
		const char *what;
	} cases[] = {
		{ 0, "unsealed memfd" },
		{ F_SEAL_SHRINK, "memfd sealed SHRINK only" },
		{ F_SEAL_GROW, "memfd sealed GROW only" },
		{ F_SEAL_SHRINK | F_SEAL_SEAL, "SHRINK|SEAL" },
		{ F_SEAL_GROW | F_SEAL_SEAL, "GROW|SEAL" },
		{ F_SEAL_SEAL, "memfd sealed SEAL only" },
		{ F_SEAL_SHRINK | F_SEAL_GROW, "SHRINK|GROW without SEAL" },
		{ F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE,
		  "SHRINK|GROW|WRITE without SEAL" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = image_memfd(MFD_ALLOW_SEALING, cases[i].seals);

		CHECK(fd >= 0);
		EXPECT_BOTH(fd, -EPERM, cases[i].what);
		close(fd);
	}
	return TEST_PASS;
}

/*
 * A memfd made without MFD_ALLOW_SEALING can never be sealed (the kernel
 * reports F_SEAL_SEAL alone): it is a memfd not sealed against shrink and
 * grow, -EPERM like the others, and can never become acceptable.
 */
static int test_memfd_not_sealable(void)
{
	int fd = image_memfd(0, 0);

	CHECK(fd >= 0);
	CHECK_EQ(fcntl(fd, F_GET_SEALS), F_SEAL_SEAL);
	EXPECT_BOTH(fd, -EPERM, "memfd without MFD_ALLOW_SEALING");
	close(fd);
	return TEST_PASS;
}

/*
 * A memfd sealed against all writes (F_SEAL_WRITE) can be mapped read-only
 * only: read-write opening is refused as "sealed for peers' writes".
 */
static int test_memfd_write_sealed(void)
{
	int fd = image_memfd(MFD_ALLOW_SEALING, READY_SEALS | F_SEAL_WRITE);

	CHECK(fd >= 0);
	CHECK_EQ(expect_open(fd, 0, -EPERM, "F_SEAL_WRITE, read-write"),
		 TEST_PASS);
	CHECK_EQ(expect_open(fd, SHOAL_SEGMENT_OPEN_READ_ONLY, 0,
			     "F_SEAL_WRITE, read-only"),
		 TEST_PASS);
	close(fd);
	return TEST_PASS;
}

/*
 * A peer may be handed a read-only fd (reopened through /proc): it can open
 * read-only; asking for read-write is "not allowed" (-EACCES or -EPERM).
 */
static int test_read_only_fd(void)
{
	int fd = image_memfd(MFD_ALLOW_SEALING, READY_SEALS);
	char path[64];
	int ro, r;
	struct shoal_segment *seg = OUT_SENTINEL;

	CHECK(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	CHECK_EQ(expect_open(ro, SHOAL_SEGMENT_OPEN_READ_ONLY, 0,
			     "O_RDONLY memfd, read-only"),
		 TEST_PASS);
	r = shoal_segment_open(ro, 0, &seg);
	if (r == 0)
		shoal_segment_close(seg);
	CHECK(r == -EACCES || r == -EPERM);
	CHECK(seg == OUT_SENTINEL);
	close(ro);

	/* An O_PATH fd cannot be mapped or queried for seals at all. */
	ro = open(path, O_PATH);
	CHECK(ro >= 0);
	r = shoal_segment_open(ro, SHOAL_SEGMENT_OPEN_READ_ONLY, &seg);
	if (r == 0)
		shoal_segment_close(seg);
	CHECK(r == -EBADF || r == -ENOTSUP);
	CHECK(seg == OUT_SENTINEL);
	close(ro);
	close(fd);
	return TEST_PASS;
}

/* A NULL out pointer is a bad argument, not a crash. */
static int test_null_out(void)
{
	int fd = image_memfd(MFD_ALLOW_SEALING, READY_SEALS);

	CHECK(fd >= 0);
	CHECK_EQ(shoal_segment_open(fd, 0, NULL), -EINVAL);
	close(fd);
	return TEST_PASS;
}

int main(void)
{
	if (make_image() != TEST_PASS)
		return TEST_FAIL;
	RUN(test_sealed_memfd_opens);
	RUN(test_closed_fd);
	RUN(test_pipe);
	RUN(test_socket);
	RUN(test_eventfd);
	RUN(test_dev_null_and_dir);
	RUN(test_regular_file);
	RUN(test_dev_shm_file);
	RUN(test_memfd_missing_seals);
	RUN(test_memfd_not_sealable);
	RUN(test_memfd_write_sealed);
	RUN(test_read_only_fd);
	RUN(test_null_out);
	free(image);
	return test_result();
}
