/* shoal-test: label=multiproc timeout=120 */
/* SPDX-License-Identifier: MIT */
/*
 * Extra fds: fds a service offers beyond its memfd and eventfds, which a
 * peer takes one at a time, by index, after opening it
 * (shoal_service_spec.extra_fds, shoal__service_take_extra_fd).
 *
 * An owner process publishes a service with three extra fds (an eventfd, a
 * memfd, another eventfd) and writes their fd numbers into its segment, as
 * pub/sub does; an unrelated process opens it both ways (pidfd_getfd, and
 * SHOAL_OPEN_NO_PIDFD_GETFD), takes each extra fd both by its number and
 * by SCM_RIGHTS, and proves each is the owner's very object: what it writes
 * the owner reads. With SHOAL_OPEN_NO_PIDFD_GETFD the fd number is never
 * used. An index past the count is -EINVAL; a spec over the limit, with
 * NULL, negative or closed fds is refused at publish; the limit itself
 * works; the descriptor records the count (minor 1), a minor 0 descriptor
 * reads as none, a count over the limit is corrupt, and one over what the
 * owner serves makes taking the missing ones -EBADMSG. Over the socket, a
 * hostile index, a nonzero reserved field or a version that does not match
 * the request's size are refused, and an index from a peer the access mode
 * refuses is refused before it is looked at. Dispatch mode serves extra
 * fds too. No fd leaks.
 *
 * The raw requests below speak the wire format described at the top of
 * src/registry/fdserver_wire.h from their own copy of it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry/registry_internal.h"
#include "segment/fdcheck.h"

#include "harness.h"
#include "registry_util.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#define SVC "extra/fds"
#define SVC_FILE "extra%fds"
#define NEXTRA 3
#define CHILD_TIMEOUT_S 30
#define FETCH_NS (5LL * 1000000000)

/* What the opener writes through the extra fds for the owner to find. */
#define VALUE0 1001
#define VALUE2 1003
#define MEMFD_TEXT "from the opener"

static char path[PATH_MAX];

/* Shared between the test's processes. */
struct shared {
	_Atomic int published; /* the owner has published */
	_Atomic int written;   /* the opener has written and closed */
};
static struct shared *sh;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits up to CHILD_TIMEOUT_S for *@flag to become nonzero. */
static int wait_flag(_Atomic int *flag)
{
	int64_t deadline = now_ns() + CHILD_TIMEOUT_S * 1000000000LL;

	while (!atomic_load(flag)) {
		if (now_ns() > deadline)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* An owner: segment ("data" and "fds"), one eventfd, three extra fds. */
struct owner {
	struct shoal_segment *seg;
	int efd;
	int extra[NEXTRA];
	struct shoal_entry *entry;
};

static void owner_free(struct owner *o)
{
	shoal_entry_destroy(o->entry);
	for (int i = 0; i < NEXTRA; i++)
		close(o->extra[i]);
	close(o->efd);
	shoal_segment_destroy(o->seg);
}

/*
 * Publishes SVC with extra fds { eventfd, memfd, eventfd }; their fd
 * numbers go into the segment's "fds" object, where a peer reads them.
 */
static int owner_publish(struct shoal_registry *reg, uint32_t flags,
			 struct owner *o)
{
	struct shoal_object_spec objs[] = {
		{ "data", SHOAL_OBJECT_BYTES, 0, 4096 },
		{ "fds", SHOAL_OBJECT_BYTES, 0, 64 },
	};
	struct shoal_service_spec spec;
	int32_t *nums;
	int err;

	memset(o, 0, sizeof(*o));
	err = shoal_segment_create(objs, 2, NULL, &o->seg);
	if (err)
		return err;
	o->efd = shoal_eventfd_create();
	o->extra[0] = shoal_eventfd_create();
	o->extra[1] = memfd_create("extra", MFD_CLOEXEC);
	o->extra[2] = shoal_eventfd_create();
	if (o->efd < 0 || o->extra[0] < 0 || o->extra[1] < 0 ||
	    o->extra[2] < 0 || ftruncate(o->extra[1], 4096) < 0)
		return -EIO;
	shoal_segment_find(o->seg, "fds", 0, (void **)&nums, NULL);
	for (int i = 0; i < NEXTRA; i++)
		nums[i] = o->extra[i];
	shoal_segment_ready(o->seg);
	memset(&spec, 0, sizeof(spec));
	spec.name = SVC;
	spec.pattern = SHOAL_PATTERN_PUBSUB;
	spec.access = SHOAL_ACCESS_OWNER;
	spec.memfd = shoal_segment_fd(o->seg);
	spec.eventfd_count = 1;
	spec.eventfds = &o->efd;
	spec.flags = flags;
	spec.extra_fd_count = NEXTRA;
	spec.extra_fds = o->extra;
	return shoal_registry_publish(reg, &spec, &o->entry);
}

/* The owner process: publish, wait for the opener, find its marks. */
static int owner_main(void)
{
	struct shoal_registry *reg;
	struct owner o;
	char text[sizeof(MEMFD_TEXT)];
	uint64_t v;
	int r = 0;

	if (test_registry_open(path, &reg) ||
	    owner_publish(reg, SHOAL_PUBLISH_SERVER_THREAD, &o)) {
		fprintf(stderr, "owner: %s\n", shoal_last_error());
		return 1;
	}
	atomic_store(&sh->published, 1);
	if (wait_flag(&sh->written))
		return 2;
	/* What the opener wrote through its copies is in ours. */
	if (read(o.extra[0], &v, sizeof(v)) != sizeof(v) || v != VALUE0)
		r = 3;
	else if (read(o.extra[2], &v, sizeof(v)) != sizeof(v) || v != VALUE2)
		r = 4;
	else if (pread(o.extra[1], text, sizeof(text), 0) != sizeof(text) ||
		 memcmp(text, MEMFD_TEXT, sizeof(text)))
		r = 5;
	/* Nothing else was written to them. */
	else if (read(o.extra[0], &v, sizeof(v)) >= 0 ||
		 read(o.extra[2], &v, sizeof(v)) >= 0 ||
		 read(o.efd, &v, 8) >= 0)
		r = 6;
	owner_free(&o);
	shoal_registry_destroy(reg);
	return r;
}

/* Whether @a and @b are the same eventfd: what one writes the other reads. */
static int same_eventfd(int a, int b)
{
	uint64_t v = 7;

	if (write(a, &v, sizeof(v)) != sizeof(v))
		return 0;
	v = 0;
	return read(b, &v, sizeof(v)) == sizeof(v) && v == 7;
}

static int same_inode(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The opener process: open with @flags, take every extra fd, write. */
static int opener_main(uint32_t flags, int want_source)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct shoal_service_info info;
	const int32_t *nums;
	int32_t owner_fds[NEXTRA];
	int fd[NEXTRA], alt, before;
	uint64_t v;

	if (wait_flag(&sh->published) || test_registry_open(path, &reg))
		return 10;
	before = test_count_fds();
	if (shoal_registry_open(reg, SVC, flags, &svc)) {
		fprintf(stderr, "opener: %s\n", shoal_last_error());
		return 11;
	}
	if (shoal_service_fd_source(svc) != want_source)
		return 12;
	shoal_service_get_info(svc, &info);
	if (info.extra_fd_count != NEXTRA || info.eventfd_count != 1)
		return 13;
	/* The owner's fd numbers, from its segment (untrusted hints). */
	if (shoal_segment_find(shoal_service_segment(svc), "fds", 0,
			       (void **)&nums, NULL))
		return 14;
	memcpy(owner_fds, nums, sizeof(owner_fds));

	for (int i = 0; i < NEXTRA; i++) {
		if (shoal__service_take_extra_fd(svc, (uint32_t)i, owner_fds[i],
						 &fd[i])) {
			fprintf(stderr, "take %d: %s\n", i, shoal_last_error());
			return 20 + i;
		}
		if (!(fcntl(fd[i], F_GETFD) & FD_CLOEXEC))
			return 23;
		if (i == 1 ? shoal__fd_is_memfd(fd[i]) != 1 :
			     shoal__fd_is_eventfd(fd[i]) != 1)
			return 24;
		/* By SCM_RIGHTS (no fd number): the same object again. */
		if (shoal__service_take_extra_fd(svc, (uint32_t)i, -1, &alt)) {
			fprintf(stderr, "take %d by index: %s\n", i,
				shoal_last_error());
			return 25;
		}
		if (!(fcntl(alt, F_GETFD) & FD_CLOEXEC) ||
		    (i == 1 ? !same_inode(fd[i], alt) :
			      !same_eventfd(alt, fd[i])))
			return 26;
		close(alt);
	}

	/* Past the end; and an index whose wire value would overflow. */
	if (shoal__service_take_extra_fd(svc, NEXTRA, -1, &alt) != -EINVAL ||
	    shoal__service_take_extra_fd(svc, NEXTRA, owner_fds[0], &alt) !=
		    -EINVAL ||
	    shoal__service_take_extra_fd(svc, UINT32_MAX, -1, &alt) != -EINVAL)
		return 30;

	/* A misleading fd number (the memfd's, for extra fd 0) shows which
	 * way the fd came: pidfd_getfd takes what the number names (the
	 * caller checks kinds), SCM_RIGHTS what the index names. */
	if (shoal__service_take_extra_fd(svc, 0, owner_fds[1], &alt))
		return 31;
	if (want_source == SHOAL_FDS_BY_PIDFD_GETFD ? !same_inode(alt, fd[1]) :
						      !same_eventfd(alt, fd[0]))
		return 32;
	close(alt);
	/* A number the owner does not have: SCM_RIGHTS answers instead. */
	if (shoal__service_take_extra_fd(svc, 0, 1000000, &alt) ||
	    !same_eventfd(alt, fd[0]))
		return 33;
	close(alt);

	/* Marks for the owner to find in its own fds. */
	v = VALUE0;
	if (write(fd[0], &v, sizeof(v)) != sizeof(v))
		return 40;
	v = VALUE2;
	if (write(fd[2], &v, sizeof(v)) != sizeof(v))
		return 41;
	if (pwrite(fd[1], MEMFD_TEXT, sizeof(MEMFD_TEXT), 0) !=
	    sizeof(MEMFD_TEXT))
		return 42;
	for (int i = 0; i < NEXTRA; i++)
		close(fd[i]);
	shoal_service_close(svc);
	if (test_count_fds() != before)
		return 43;
	shoal_registry_destroy(reg);
	atomic_store(&sh->written, 1);
	return 0;
}

/* Runs a child's @r = main; a failure says where, and why if it knows. */
static void child_exit(const char *who, int r)
{
	if (r)
		fprintf(stderr, "%s: failed at step %d (last error: %s)\n", who,
			r, shoal_last_error());
	_exit(r);
}

static int siblings(uint32_t flags, int want_source)
{
	pid_t owner, opener;
	int opener_ok, owner_ok;

	atomic_store(&sh->published, 0);
	atomic_store(&sh->written, 0);
	fflush(NULL);
	owner = fork();
	CHECK(owner >= 0);
	if (owner == 0)
		child_exit("owner", owner_main());
	opener = fork();
	CHECK(opener >= 0);
	if (opener == 0)
		child_exit("opener", opener_main(flags, want_source));
	opener_ok = test_wait_child(opener, 60);
	/* An opener that failed never tells the owner to finish. */
	if (!opener_ok)
		kill(owner, SIGKILL);
	owner_ok = test_wait_child(owner, 60);
	CHECK(opener_ok);
	CHECK(owner_ok);
	return TEST_PASS;
}

static int test_by_pidfd_getfd(void)
{
	return siblings(0, SHOAL_FDS_BY_PIDFD_GETFD);
}

static int test_by_scm_rights(void)
{
	return siblings(SHOAL_OPEN_NO_PIDFD_GETFD, SHOAL_FDS_BY_SCM_RIGHTS);
}

/* Publish-time checks; the limit itself; list and info ----------------- */

static int list_cb(const struct shoal_service_info *info, void *user_data)
{
	uint32_t *count = user_data;

	if (strcmp(info->name, "extra/max") == 0)
		*count = info->extra_fd_count;
	return 0;
}

static int test_publish_limits(void)
{
	struct shoal_registry *reg;
	struct shoal_service_spec spec;
	struct shoal_service *svc;
	struct shoal_entry *e;
	struct test_service plain;
	int *many, efd, closed, fd, before = test_count_fds();
	uint32_t listed = 0;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	/* A segment to publish, from the shared helper's service. */
	CHECK_EQ(test_publish(reg, "extra/plain", SHOAL_ACCESS_OWNER,
			      SHOAL_PUBLISH_SERVER_THREAD, &plain),
		 0);
	many = calloc(SHOAL_SERVICE_EXTRA_FDS_MAX + 1, sizeof(*many));
	CHECK(many);
	efd = shoal_eventfd_create();
	CHECK(efd >= 0);
	for (int i = 0; i <= SHOAL_SERVICE_EXTRA_FDS_MAX; i++)
		many[i] = efd;
	closed = eventfd(0, EFD_CLOEXEC);
	CHECK(closed >= 0);
	close(closed);

	memset(&spec, 0, sizeof(spec));
	spec.name = "extra/max";
	spec.pattern = SHOAL_PATTERN_PUBSUB;
	spec.memfd = shoal_segment_fd(plain.seg);
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	spec.extra_fds = many;
	spec.extra_fd_count = SHOAL_SERVICE_EXTRA_FDS_MAX + 1;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	spec.extra_fd_count = UINT32_MAX;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	spec.extra_fd_count = 1;
	spec.extra_fds = NULL;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	spec.extra_fds = (const int[]){ efd, -1 };
	spec.extra_fd_count = 2;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	spec.extra_fds = (const int[]){ efd, closed };
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	/* Nothing of those was published. */
	CHECK_EQ(shoal_registry_open(reg, "extra/max", 0, &svc), -ENOENT);

	/* Exactly the limit (one fd offered 4096 times: borrowed as is). */
	spec.extra_fds = many;
	spec.extra_fd_count = SHOAL_SERVICE_EXTRA_FDS_MAX;
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), 0);
	CHECK_EQ(shoal_registry_list(reg, list_cb, &listed), 2);
	CHECK_EQ(listed, SHOAL_SERVICE_EXTRA_FDS_MAX);
	CHECK_EQ(shoal_registry_open(reg, "extra/max",
				     SHOAL_OPEN_NO_PIDFD_GETFD, &svc),
		 0);
	CHECK_EQ(shoal__service_take_extra_fd(
			 svc, SHOAL_SERVICE_EXTRA_FDS_MAX - 1, -1, &fd),
		 0);
	CHECK(same_eventfd(efd, fd));
	close(fd);
	CHECK_EQ(shoal__service_take_extra_fd(svc, SHOAL_SERVICE_EXTRA_FDS_MAX,
					      -1, &fd),
		 -EINVAL);
	CHECK_EQ(shoal__service_take_extra_fd(svc, 0, -1, NULL), -EINVAL);
	shoal_service_close(svc);
	shoal_entry_destroy(e);

	/* A service without extra fds has none to take. */
	CHECK_EQ(shoal_registry_open(reg, "extra/plain", 0, &svc), 0);
	CHECK_EQ(shoal__service_take_extra_fd(svc, 0, -1, &fd), -EINVAL);
	CHECK_EQ(shoal__service_take_extra_fd(svc, 0, plain.efd, &fd), -EINVAL);
	shoal_service_close(svc);

	test_unpublish(&plain);
	close(efd);
	free(many);
	shoal_registry_destroy(reg);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* The descriptor: minor 1 records the count; minor 0 has none ---------- */

static int parse_count(const struct shoal__descriptor *d, uint32_t *count)
{
	struct shoal__descriptor copy = *d, out;
	struct shoal_service_info info;
	int r;

	copy.checksum = shoal__descriptor_checksum(&copy);
	r = shoal__descriptor_parse(&copy, sizeof(copy), &out, &info);
	if (r == 0) {
		*count = info.extra_fd_count;
		if (shoal__descriptor_extra_fd_count(&out) != *count)
			return -1000;
	}
	return r;
}

static int test_descriptor_minor(void)
{
	struct shoal_registry *reg;
	struct shoal__descriptor d, mod;
	struct shoal_service_info info;
	struct shoal_service *svc;
	struct owner o;
	uint32_t count = 99;
	int fd, before = test_count_fds();

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(owner_publish(reg, SHOAL_PUBLISH_SERVER_THREAD, &o), 0);
	fd = openat(shoal__registry_dirfd(reg), SVC_FILE, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, &d, sizeof(d)), sizeof(d));
	close(fd);
	CHECK_EQ(shoal__descriptor_parse(&d, sizeof(d), &mod, &info), 0);
	CHECK_EQ(d.version_minor, SHOAL__DESC_VERSION_MINOR);
	CHECK(d.version_minor >= 1);
	CHECK_EQ(d.extra_fd_count, NEXTRA);
	CHECK_EQ(info.extra_fd_count, NEXTRA);
	/* The bytes after the later minors' fields are still reserved:
	 * zero. */
	CHECK_EQ(d.reserved0, 0);
	for (size_t i = 0; i < sizeof(d.reserved); i++)
		CHECK_EQ(d.reserved[i], 0);

	/* A minor 0 writer knew nothing of the field: whatever it holds
	 * there, a reader takes it as 0, even past the limit. */
	mod = d;
	mod.version_minor = 0;
	CHECK_EQ(parse_count(&mod, &count), 0);
	CHECK_EQ(count, 0);
	mod.extra_fd_count = UINT32_MAX;
	CHECK_EQ(parse_count(&mod, &count), 0);
	CHECK_EQ(count, 0);
	/* Minor 1 and newer: bounded by the limit. */
	mod = d;
	mod.extra_fd_count = SHOAL_SERVICE_EXTRA_FDS_MAX;
	CHECK_EQ(parse_count(&mod, &count), 0);
	CHECK_EQ(count, SHOAL_SERVICE_EXTRA_FDS_MAX);
	mod.extra_fd_count = SHOAL_SERVICE_EXTRA_FDS_MAX + 1;
	CHECK_EQ(parse_count(&mod, &count), -EBADMSG);
	mod.version_minor = 9;
	CHECK_EQ(parse_count(&mod, &count), -EBADMSG);
	mod.extra_fd_count = 5;
	CHECK_EQ(parse_count(&mod, &count), 0);
	CHECK_EQ(count, 5);

	/* A descriptor that announces more than the owner serves: the
	 * fds are not as announced. (Rewritten in place: the owner's lock
	 * is advisory, and we are its user.) */
	mod = d;
	mod.extra_fd_count = NEXTRA + 2;
	mod.checksum = shoal__descriptor_checksum(&mod);
	fd = openat(shoal__registry_dirfd(reg), SVC_FILE, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, &mod, sizeof(mod), 0), sizeof(mod));
	close(fd);
	CHECK_EQ(shoal_registry_open(reg, SVC, SHOAL_OPEN_NO_PIDFD_GETFD, &svc),
		 0);
	shoal_service_get_info(svc, &info);
	CHECK_EQ(info.extra_fd_count, NEXTRA + 2);
	CHECK_EQ(shoal__service_take_extra_fd(svc, NEXTRA + 1, -1, &fd),
		 -EBADMSG);
	CHECK_EQ(shoal__service_take_extra_fd(svc, NEXTRA - 1, -1, &fd), 0);
	CHECK(same_eventfd(fd, o.extra[NEXTRA - 1]));
	close(fd);
	shoal_service_close(svc);

	owner_free(&o);
	shoal_registry_destroy(reg);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* The wire: hostile indices and requests ------------------------------- */

/* Our own copy of the request (src/registry/fdserver_wire.h). */
#define WIRE_REQ_MAGIC 0x51444653u
#define WIRE_REP_MAGIC 0x52444653u
#define WIRE_V1_SIZE 272

struct wire_request {
	uint32_t magic;
	uint16_t version;
	uint16_t name_len;
	uint64_t epoch;
	char name[256];
	uint32_t index; /* version 2 */
	uint32_t reserved;
};
_Static_assert(sizeof(struct wire_request) == 280, "request is 280 bytes");

struct wire_reply {
	uint32_t magic;
	uint16_t version;
	uint16_t pad;
	int32_t status;
	uint32_t nfds;
};
_Static_assert(sizeof(struct wire_reply) == 16, "reply is 16 bytes");

/*
 * Sends @len bytes of @req on a fresh connection to @sock and reads the
 * reply: its status, version and fd count (the fds are closed); 1000 if
 * no well-formed reply came.
 */
static int raw_exchange(const char *sock, const struct wire_request *req,
			size_t len, uint16_t *version, uint32_t *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct sockaddr_un sa;
	struct wire_reply rep;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	uint32_t got = 0;
	ssize_t n;
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, sock, strlen(sock));
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 1000;
	if (connect(s, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				strlen(sock))) < 0 ||
	    send(s, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(s);
		return 1000;
	}
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	close(s);
	for (cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / 4; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + 4 * i, sizeof(fd));
			close(fd);
			got++;
		}
	}
	if (n != (ssize_t)sizeof(rep) || rep.magic != WIRE_REP_MAGIC ||
	    got != rep.nfds)
		return 1000;
	*version = rep.version;
	*nfds = rep.nfds;
	return rep.status;
}

static void wire_init(struct wire_request *req, uint16_t version,
		      uint64_t epoch, uint32_t index)
{
	memset(req, 0, sizeof(*req));
	req->magic = WIRE_REQ_MAGIC;
	req->version = version;
	req->name_len = (uint16_t)strlen(SVC);
	req->epoch = epoch;
	memcpy(req->name, SVC, strlen(SVC));
	req->index = index;
}

/* As another uid: any index, good or not, is refused for access alone. */
static int child_other_uid(const struct shoal__descriptor *d)
{
	int fd;

	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 77;
	if (shoal__fdclient_fetch_extra(d->socket_name, SVC, d->epoch, 0, &fd,
					FETCH_NS) != -EACCES)
		return 1;
	if (shoal__fdclient_fetch_extra(d->socket_name, SVC, d->epoch, 99, &fd,
					FETCH_NS) != -EACCES)
		return 2;
	return 0;
}

static int test_hostile_indices(void)
{
	struct shoal_registry *reg;
	struct shoal__descriptor d;
	struct shoal_service_info info;
	struct wire_request req;
	struct owner o;
	uint16_t version = 0;
	uint32_t nfds = 0;
	int fd, before;
	pid_t pid;

	/* The process's liveness pipe (asked for below, by wire index
	 * UINT32_MAX) is made once and kept for the process's life. */
	CHECK(shoal__liveness_fd() >= 0);
	before = test_count_fds();

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(owner_publish(reg, SHOAL_PUBLISH_SERVER_THREAD, &o), 0);
	CHECK_EQ(shoal__registry_probe(reg, SVC_FILE, &d, &info), 0);
	CHECK(d.socket_name[0]);

	/* Control: the client and our wire copy get extra fd 1. */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch, 1,
					     &fd, FETCH_NS),
		 0);
	CHECK(same_inode(fd, o.extra[1]));
	close(fd);
	wire_init(&req, 2, d.epoch, 2);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 0);
	CHECK_EQ(version, 2);
	CHECK_EQ(nfds, 1);
	/* Version 2, index 0: the announced set (memfd and one eventfd). */
	wire_init(&req, 2, d.epoch, 0);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 0);
	CHECK_EQ(version, 2);
	CHECK_EQ(nfds, 2);

	/* Indices the server does not have: refused by the server (the
	 * client does not know the count). */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch,
					     NEXTRA, &fd, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch,
					     SHOAL_SERVICE_EXTRA_FDS_MAX, &fd,
					     FETCH_NS),
		 -EINVAL);
	/* Its wire value is the owner's liveness fd's: the client refuses
	 * it itself. */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch,
					     UINT32_MAX - 1, &fd, FETCH_NS),
		 -EINVAL);
	/* Its wire value would overflow: the client refuses it itself. */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch,
					     UINT32_MAX, &fd, FETCH_NS),
		 -EINVAL);
	/* Right index, wrong epoch or service: the descriptor is wrong. */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch + 1, 0,
					     &fd, FETCH_NS),
		 -EBADMSG);
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, "extra/other",
					     d.epoch, 0, &fd, FETCH_NS),
		 -EBADMSG);

	/* Raw: the largest wire index is the owner's liveness fd, one fd
	 * (test/registry-pidns.c checks what it is); a nonzero reserved
	 * field; versions that do not match the request's size. */
	wire_init(&req, 2, d.epoch, UINT32_MAX);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 0);
	CHECK_EQ(version, 2);
	CHECK_EQ(nfds, 1);
	wire_init(&req, 2, d.epoch, NEXTRA + 1);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 -EINVAL);
	wire_init(&req, 2, d.epoch, 1);
	req.reserved = 1;
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 -EBADMSG);
	CHECK_EQ(version, 2);
	wire_init(&req, 1, d.epoch, 1);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 -EPROTO);
	CHECK_EQ(version, 1);
	wire_init(&req, 2, d.epoch, 0);
	CHECK_EQ(raw_exchange(d.socket_name, &req, WIRE_V1_SIZE, &version,
			      &nfds),
		 -EPROTO);
	CHECK_EQ(version, 1);
	wire_init(&req, 3, d.epoch, 1);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req), &version,
			      &nfds),
		 -EPROTO);
	/* Between the two sizes: malformed. */
	wire_init(&req, 2, d.epoch, 1);
	CHECK_EQ(raw_exchange(d.socket_name, &req, sizeof(req) - 4, &version,
			      &nfds),
		 -EBADMSG);
	/* Version 1 is still served as before. */
	wire_init(&req, 1, d.epoch, 0);
	CHECK_EQ(raw_exchange(d.socket_name, &req, WIRE_V1_SIZE, &version,
			      &nfds),
		 0);
	CHECK_EQ(version, 1);
	CHECK_EQ(nfds, 2);

	/* Another uid, access OWNER: refused before the index is judged. */
	if (geteuid() == 0) {
		fflush(NULL);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(child_other_uid(&d));
		CHECK(test_wait_child(pid, CHILD_TIMEOUT_S));
	}

	/* Still serving. */
	CHECK_EQ(shoal__fdclient_fetch_extra(d.socket_name, SVC, d.epoch, 2,
					     &fd, FETCH_NS),
		 0);
	CHECK(same_eventfd(fd, o.extra[2]));
	close(fd);
	owner_free(&o);
	shoal_registry_destroy(reg);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* Dispatch mode: the owner serves extra fds from its own loop ---------- */

static int child_dispatch_take(void)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	uint64_t v = VALUE2;
	int fd;

	if (test_registry_open(path, &reg) ||
	    shoal_registry_open(reg, SVC, SHOAL_OPEN_NO_PIDFD_GETFD, &svc))
		return 1;
	if (shoal__service_take_extra_fd(svc, 2, -1, &fd) ||
	    shoal__fd_is_eventfd(fd) != 1 ||
	    write(fd, &v, sizeof(v)) != sizeof(v))
		return 2;
	close(fd);
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	return 0;
}

static int test_dispatch_mode(void)
{
	struct shoal_registry *reg;
	struct owner o;
	int64_t deadline = now_ns() + CHILD_TIMEOUT_S * 1000000000LL;
	int status = -1;
	uint64_t v = 0;
	pid_t pid, r = 0;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(owner_publish(reg, 0, &o), 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_dispatch_take());
	while (now_ns() < deadline) {
		struct pollfd p = { .fd = shoal_entry_fd(o.entry),
				    .events = POLLIN };

		if (poll(&p, 1, 10) > 0)
			CHECK(shoal_entry_dispatch(o.entry) >= 0);
		r = waitpid(pid, &status, WNOHANG);
		if (r != 0)
			break;
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECK_EQ(r, pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(read(o.extra[2], &v, sizeof(v)), sizeof(v));
	CHECK_EQ(v, VALUE2);
	owner_free(&o);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];

	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_by_pidfd_getfd);
	RUN(test_by_scm_rights);
	RUN(test_publish_limits);
	RUN(test_descriptor_minor);
	RUN(test_hostile_indices);
	RUN(test_dispatch_mode);
	test_remove_tree(top);
	return test_result();
}
