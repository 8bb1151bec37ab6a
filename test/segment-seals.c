/* shoal-test: label=multiproc timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * Seals are what make a segment safe to share with a buggy or hostile peer:
 * nobody may shrink it (every other mapping would SIGBUS) or grow it, and with
 * SHOAL_SEGMENT_PEERS_READ_ONLY no mapping made after ready() may be
 * writable, while the creator's own mapping stays writable.
 * Peers here are forked children holding the inherited fd, as a real peer
 * holds one received with pidfd_getfd() or SCM_RIGHTS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shoal/segment.h>

#include "harness.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define OUT_SENTINEL ((struct shoal_segment *)(uintptr_t)0x5a5a5a5a)

static const struct shoal_object_spec objs[] = {
	{ .name = "data", .kind = SHOAL_OBJECT_BYTES, .align = 0, .size = 5000 },
	{ .name = "more",
	  .kind = SHOAL_OBJECT_BYTES,
	  .align = 4096,
	  .size = 64 },
};
#define NOBJS ((uint32_t)(sizeof(objs) / sizeof(objs[0])))

static struct shoal_segment *make(uint32_t flags, unsigned char **data)
{
	struct shoal_segment_options opts;
	struct shoal_segment *seg = NULL;

	shoal_segment_options_init(&opts);
	opts.flags = flags;
	if (shoal_segment_create(objs, NOBJS, &opts, &seg))
		return NULL;
	if (shoal_segment_find(seg, "data", SHOAL_OBJECT_BYTES, (void **)data,
			       NULL)) {
		shoal_segment_destroy(seg);
		return NULL;
	}
	for (int i = 0; i < 5000; i++)
		(*data)[i] = (unsigned char)(i ^ 0x5a);
	return seg;
}

/* Every way a peer holding the fd could change its size fails with EPERM. */
static int peer_resize(int fd, off_t size)
{
	struct stat st;

	errno = 0;
	CHECK(ftruncate(fd, size * 2) < 0 && errno == EPERM);
	errno = 0;
	CHECK(ftruncate(fd, size + 1) < 0 && errno == EPERM);
	errno = 0;
	CHECK(ftruncate(fd, size - 1) < 0 && errno == EPERM);
	errno = 0;
	CHECK(ftruncate(fd, 0) < 0 && errno == EPERM);
	/* Growing by writing or allocating past the end is growing too. */
	errno = 0;
	CHECK(pwrite(fd, "x", 1, size) < 0 && errno == EPERM);
	errno = 0;
	CHECK(fallocate(fd, 0, size, 4096) < 0 && errno == EPERM);
	/* And the seals cannot be taken off: F_SEAL_* only ever adds. */
	CHECK(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	CHECK(fcntl(fd, F_GET_SEALS) & F_SEAL_GROW);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, size);
	return TEST_PASS;
}

/* Resizing fails in a forked peer, before and after ready(). */
static int test_peer_cannot_resize(void)
{
	struct shoal_segment *seg;
	unsigned char *data = NULL;
	off_t size;
	pid_t pid;

	seg = make(0, &data);
	CHECK(seg != NULL);
	size = (off_t)shoal_segment_size(seg);
	/* Sealed from create() on, not only from ready(). */
	CHECK_EQ(peer_resize(shoal_segment_fd(seg), size), TEST_PASS);
	CHECK_EQ(shoal_segment_ready(seg), 0);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_segment *peer = NULL;

		if (shoal_segment_open(shoal_segment_fd(seg), 0, &peer))
			_exit(2);
		/* Both the inherited fd and the peer's own dup. */
		if (peer_resize(shoal_segment_fd(seg), size) ||
		    peer_resize(shoal_segment_fd(peer), size))
			_exit(1);
		/*
		 * ready() added F_SEAL_SEAL: a peer cannot add F_SEAL_WRITE
		 * and so make the creator's next store fault.
		 */
		errno = 0;
		if (fcntl(shoal_segment_fd(peer), F_ADD_SEALS, F_SEAL_WRITE) !=
			    -1 ||
		    errno != EPERM)
			_exit(3);
		shoal_segment_close(peer);
		_exit(0);
	}
	CHECK(test_wait_child(pid, 20));
	/* The creator's mapping is whole: touching its last byte is fine. */
	CHECK_EQ(((unsigned char *)shoal_segment_base(seg))[size - 1], 0);
	CHECK_EQ(data[4999], (unsigned char)(4999 ^ 0x5a));
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/* A fork child writing through @p must die of SIGSEGV: the mapping is read-only. */
static int write_faults(volatile unsigned char *p)
{
	int status = 0;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		p[0] = 1;
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGSEGV);
	return TEST_PASS;
}

/* What a peer of a PEERS_READ_ONLY segment can and cannot do. */
static int peer_read_only(int fd, uint64_t size)
{
	struct shoal_segment *peer = OUT_SENTINEL;
	unsigned char *data = NULL;
	void *m;

	/* No writable shared mapping of the memfd, by hand... */
	errno = 0;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m == MAP_FAILED && errno == EPERM);
	/* ...nor by write(2)... */
	errno = 0;
	CHECK(pwrite(fd, "x", 1, 0) < 0 && errno == EPERM);
	/* ...nor through shoal without asking for read-only. */
	CHECK_EQ(shoal_segment_open(fd, 0, &peer), -EPERM);
	CHECK(peer == OUT_SENTINEL);
	CHECK(shoal_last_error()[0] != '\0');

	CHECK_EQ(shoal_segment_open(fd, SHOAL_SEGMENT_OPEN_READ_ONLY, &peer),
		 0);
	CHECK(peer != OUT_SENTINEL && peer != NULL);
	CHECK_EQ(shoal_segment_size(peer), size);
	CHECK_EQ(shoal_segment_find(peer, "data", SHOAL_OBJECT_BYTES,
				    (void **)&data, NULL),
		 0);
	/* data[0] and data[4999] are the creator's to change meanwhile. */
	for (int i = 1; i < 4999; i++)
		CHECK_EQ(data[i], (unsigned char)(i ^ 0x5a));
	/* shoal's mapping is read-only, and the kernel will not upgrade it. */
	CHECK_EQ(write_faults(data), TEST_PASS);
	CHECK(mprotect(shoal_segment_base(peer), size, PROT_READ | PROT_WRITE));

	/* The creator (the parent) writes after ready; we see it live. */
	for (int spins = 0; data[0] != 0xee; spins++) {
		CHECK(spins < 20000);
		usleep(1000);
	}
	shoal_segment_close(peer);
	return TEST_PASS;
}

static int test_peers_read_only(void)
{
	struct shoal_segment *seg;
	unsigned char *data = NULL;
	int seals;
	pid_t pid;

	seg = make(SHOAL_SEGMENT_PEERS_READ_ONLY, &data);
	CHECK(seg != NULL);
	/* Until ready() the creator is still formatting: no write seal yet. */
	seals = fcntl(shoal_segment_fd(seg), F_GET_SEALS);
	CHECK(seals >= 0 && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)));
	CHECK_EQ(shoal_segment_ready(seg), 0);
	seals = fcntl(shoal_segment_fd(seg), F_GET_SEALS);
	CHECK(seals >= 0 && (seals & F_SEAL_FUTURE_WRITE));

	/* The same checks in this process and in a forked peer. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(peer_read_only(shoal_segment_fd(seg),
				     shoal_segment_size(seg)));
	/* The creator's mapping made before the seal stays writable. */
	data[0] = 0xee;
	data[4999] = 0xef;
	CHECK(test_wait_child(pid, 30));
	CHECK_EQ(peer_read_only(shoal_segment_fd(seg), shoal_segment_size(seg)),
		 TEST_PASS);
	CHECK_EQ(data[4999], 0xef);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

/*
 * Without PEERS_READ_ONLY no write seal is ever added, peers may open either
 * way, and OPEN_READ_ONLY still gives a read-only mapping.
 */
static int test_default_peers_write(void)
{
	struct shoal_segment *seg, *rw = NULL, *ro = NULL;
	unsigned char *data = NULL, *rwd = NULL, *rod = NULL;
	int seals;

	seg = make(0, &data);
	CHECK(seg != NULL);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	seals = fcntl(shoal_segment_fd(seg), F_GET_SEALS);
	CHECK(seals >= 0 && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)));

	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg), 0, &rw), 0);
	CHECK_EQ(shoal_segment_open(shoal_segment_fd(seg),
				    SHOAL_SEGMENT_OPEN_READ_ONLY, &ro),
		 0);
	CHECK_EQ(shoal_segment_find(rw, "data", 0, (void **)&rwd, NULL), 0);
	CHECK_EQ(shoal_segment_find(ro, "data", 0, (void **)&rod, NULL), 0);
	rwd[10] = 0x42;
	CHECK_EQ(data[10], 0x42);
	CHECK_EQ(rod[10], 0x42);
	CHECK_EQ(write_faults(rod), TEST_PASS);
	CHECK_EQ(rod[0], 0x5a);
	shoal_segment_close(ro);
	shoal_segment_close(rw);
	shoal_segment_destroy(seg);
	return TEST_PASS;
}

int main(void)
{
	RUN(test_peer_cannot_resize);
	RUN(test_peers_read_only);
	RUN(test_default_peers_write);
	return test_result();
}
