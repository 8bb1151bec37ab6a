/* shoal-test: label=multiproc timeout=120 */
/* SPDX-License-Identifier: MIT */
/*
 * The SCM_RIGHTS fd server and client (src/registry/fdserver.c, fdclient.c), end to end.
 *
 * A forked child fetches a memfd and two eventfds from a server in dispatch
 * mode (the parent polls and dispatches) and in thread mode, and proves
 * they are the very objects the parent holds: same inode, and what one
 * process writes the other reads. A request naming another epoch or service
 * is refused with -EBADMSG (it can only come from a wrong descriptor). As
 * root, children that drop to other uids and groups check each access mode,
 * supplementary groups included. Clients that connect and say nothing,
 * send garbage, or attach fds of their own neither wedge the server nor
 * leave an fd in it. A hostile server (too many fds, none, garbage,
 * truncated control data, a refusal carrying fds, silence) makes the
 * client fail with the documented code and keep no fd at all.
 *
 * The hostile server and raw clients below speak the wire format described
 * at the top of src/registry/fdserver_wire.h from the tests' own copy of it
 * (fdserver_wire.h); the GOOD cases show that copy matches the library's,
 * so the hostile ones fail for the reason they mean to.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry/registry_internal.h"
#include "segment/fdcheck.h"

#include "harness.h"
#include "fdserver_wire.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#define SVC "test/fds"
#define EPOCH 0x1234abcd5678ef01ULL
#define FETCH_NS (5LL * 1000000000)
#define CHILD_TIMEOUT_S 30
/* Exit code of a child that cannot take the credentials it was given. */
#define CHILD_SKIP 77

/* The wire format: test/fdserver_wire.h. This file speaks version 1. */
#define WIRE_VERSION 1

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * test_count_fds() once it equals @want, or after 5 s whatever it is. A server
 * thread in this process closes a connection just after its reply, so
 * right after a fetch returns its fd may still be open for a moment; a
 * leaked fd never goes away.
 */
static int settle_fds(int want)
{
	int64_t deadline = now_ns() + 5 * 1000000000LL;
	int n;

	while ((n = test_count_fds()) != want && now_ns() < deadline)
		usleep(1000);
	return n;
}

/* What the owner serves: a memfd with a greeting and two eventfds. */
struct objs {
	int fd[3];
	struct stat st[3];
	unsigned char *map;
};

static int make_objs(struct objs *o)
{
	o->fd[0] = memfd_create("fdserver-test", MFD_CLOEXEC);
	o->fd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	o->fd[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(o->fd[0] >= 0 && o->fd[1] >= 0 && o->fd[2] >= 0);
	CHECK_EQ(ftruncate(o->fd[0], 4096), 0);
	o->map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd[0],
		      0);
	CHECK(o->map != MAP_FAILED);
	memcpy(o->map, "parent", 7);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(fstat(o->fd[i], &o->st[i]), 0);
	return TEST_PASS;
}

static void free_objs(struct objs *o)
{
	munmap(o->map, 4096);
	for (int i = 0; i < 3; i++)
		close(o->fd[i]);
}

static int same_file(int fd, const struct stat *want)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == want->st_dev &&
	       st.st_ino == want->st_ino;
}

/* Checks fds fetched from a server of @o, then closes them. */
static int check_fetched(const int *got, const struct objs *o)
{
	for (int i = 0; i < 3; i++) {
		CHECK(same_file(got[i], &o->st[i]));
		CHECK(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		CHECK(got[i] != o->fd[i]);
	}
	CHECK_EQ(shoal__fd_is_memfd(got[0]), 1);
	CHECK_EQ(shoal__fd_is_eventfd(got[1]), 1);
	for (int i = 0; i < 3; i++)
		close(got[i]);
	return TEST_PASS;
}

/* Children ------------------------------------------------------------- */

typedef int (*child_fn)(void *arg);

/*
 * Runs @fn(arg) in a child and returns its exit code, or -1 if it was
 * killed or had to be. With @srv, the parent serves it by dispatch while it
 * waits.
 */
static int run_child(child_fn fn, void *arg, struct shoal__fdserver *srv)
{
	int64_t deadline = now_ns() + CHILD_TIMEOUT_S * 1000000000LL;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	if (!srv)
		return test_wait_child(pid, CHILD_TIMEOUT_S) ? 0 : -1;
	while (now_ns() < deadline) {
		struct pollfd p = { .fd = shoal__fdserver_fd(srv),
				    .events = POLLIN };
		pid_t r;

		if (poll(&p, 1, 10) > 0 && shoal__fdserver_dispatch(srv) < 0) {
			fprintf(stderr, "dispatch: %s\n", shoal_last_error());
			break;
		}
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0)
			return -1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

struct touch_job {
	const char *sock;
	const struct objs *o;
};

/* Fetch, check identity, and leave marks for the parent to find. */
static int child_fetch_touch(void *arg)
{
	const struct touch_job *j = arg;
	unsigned char *map;
	int got[3];

	CHECK_EQ(shoal__fdclient_fetch(j->sock, SVC, EPOCH, got, 3, FETCH_NS),
		 0);
	for (int i = 0; i < 3; i++)
		CHECK(same_file(got[i], &j->o->st[i]));
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, got[0], 0);
	CHECK(map != MAP_FAILED);
	CHECK(memcmp(map, "parent", 7) == 0);
	memcpy(map + 64, "child", 6);
	munmap(map, 4096);
	CHECK_EQ(eventfd_write(got[1], 5), 0);
	CHECK_EQ(eventfd_write(got[2], 7), 0);
	for (int i = 0; i < 3; i++)
		close(got[i]);
	return TEST_PASS;
}

/* A forked child of the owner withdraws its copy of the server. */
static int child_stop(void *arg)
{
	shoal__fdserver_stop(arg);
	return TEST_PASS;
}

/* The marks child_fetch_touch() leaves, consumed. */
static int check_touched(struct objs *o)
{
	eventfd_t v = 0;

	CHECK(memcmp(o->map + 64, "child", 6) == 0);
	memset(o->map + 64, 0, 6);
	CHECK_EQ(eventfd_read(o->fd[1], &v), 0);
	CHECK_EQ(v, 5);
	CHECK_EQ(eventfd_read(o->fd[2], &v), 0);
	CHECK_EQ(v, 7);
	return TEST_PASS;
}

/* (1) Granting, served by dispatch ------------------------------------ */

static int test_dispatch_mode(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES];
	struct shoal__fdserver *srv;
	struct touch_job j = { sock, NULL };
	struct objs o;
	int before = test_count_fds();

	CHECK(make_objs(&o) == TEST_PASS);
	j.o = &o;
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_OWNER,
				       getuid(), getgid(), 0, sock, &srv),
		 0);
	CHECK(strncmp(sock, "shoal-fd/", 9) == 0);
	CHECK(strlen(sock) < SHOAL__DESC_SOCKET_BYTES);
	CHECK(shoal__fdserver_fd(srv) >= 0);
	/* Nothing pending: returns at once, having served nobody. */
	CHECK_EQ(shoal__fdserver_dispatch(srv), 0);

	/* Two clients in turn: the server keeps serving. */
	for (int round = 0; round < 2; round++) {
		CHECK_EQ(run_child(child_fetch_touch, &j, srv), 0);
		CHECK(check_touched(&o) == TEST_PASS);
	}
	/* The server holds its own copies: closing ours changes nothing. */
	shoal__fdserver_stop(srv);
	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* (1) Granting, served by the helper thread ---------------------------- */

static int test_thread_mode(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES];
	struct shoal__fdserver *srv;
	struct touch_job j = { sock, NULL };
	struct objs o;
	int got[3];
	int before = test_count_fds();

	CHECK(make_objs(&o) == TEST_PASS);
	j.o = &o;
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_OWNER,
				       getuid(), getgid(), 1, sock, &srv),
		 0);
	/* The helper thread owns the state: no dispatching beside it. */
	CHECK_EQ(shoal__fdserver_fd(srv), -EINVAL);
	CHECK_EQ(shoal__fdserver_dispatch(srv), -EINVAL);

	CHECK_EQ(run_child(child_fetch_touch, &j, NULL), 0);
	CHECK(check_touched(&o) == TEST_PASS);
	/* In-process too: the helper thread answers our own request. */
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);
	/* A forked child stopping its inherited copy stops nothing here. */
	CHECK_EQ(run_child(child_stop, srv, NULL), 0);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);

	shoal__fdserver_stop(srv);
	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* (2) Wrong epoch, name or count; bad arguments ------------------------ */

static int test_wrong_request(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES], copy[SHOAL__DESC_SOCKET_BYTES];
	char long_name[300];
	struct shoal__fdserver *srv, *none = NULL;
	struct objs o;
	int got[10] = { -1, -1, -1 };
	int bad_fds[3];
	int before = test_count_fds(), mid;

	CHECK(make_objs(&o) == TEST_PASS);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_ANYONE,
				       getuid(), getgid(), 1, sock, &srv),
		 0);
	mid = test_count_fds();

	/* A name or epoch that is not the server's means the descriptor
	 * that pointed here is wrong: -EBADMSG, and *fds stays untouched. */
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH + 1, got, 3, FETCH_NS),
		 -EBADMSG);
	CHECK_EQ(shoal__fdclient_fetch(sock, "test/other", EPOCH, got, 3,
				       FETCH_NS),
		 -EBADMSG);
	CHECK_EQ(shoal__fdclient_fetch(sock, "test/fd", EPOCH, got, 3,
				       FETCH_NS),
		 -EBADMSG);
	CHECK_EQ(shoal__fdclient_fetch(sock, "test/fdsX", EPOCH, got, 3,
				       FETCH_NS),
		 -EBADMSG);
	/* Granted, but not the number of fds the client expects: the
	 * client keeps none of them. */
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 2, FETCH_NS),
		 -EBADMSG);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 4, FETCH_NS),
		 -EBADMSG);
	CHECK(got[0] == -1 && got[1] == -1 && got[2] == -1);
	CHECK_EQ(settle_fds(mid), mid);

	/* No such socket: nobody serves, the owner is gone. */
	memcpy(copy, sock, sizeof(copy));
	copy[strlen(copy) - 1] = 'x'; /* never a hex digit */
	CHECK_EQ(shoal__fdclient_fetch(copy, SVC, EPOCH, got, 3, FETCH_NS),
		 -ENOENT);

	/* Bad client arguments. */
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_EQ(shoal__fdclient_fetch("", SVC, EPOCH, got, 3, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(long_name, SVC, EPOCH, got, 3, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(NULL, SVC, EPOCH, got, 3, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, "", EPOCH, got, 3, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, long_name, EPOCH, got, 3,
				       FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, NULL, 3, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 0, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 10, FETCH_NS),
		 -EINVAL);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, 0), -EINVAL);

	/* The right request still works after all of that. */
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);
	shoal__fdserver_stop(srv);
	shoal__fdserver_stop(NULL);

	/* Bad server arguments leave nothing behind and *out untouched. */
	bad_fds[0] = o.fd[0];
	bad_fds[1] = -1;
	bad_fds[2] = o.fd[2];
	mid = test_count_fds();
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, bad_fds, 3,
				       SHOAL_ACCESS_OWNER, 0, 0, 0, sock,
				       &none),
		 -EINVAL);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 0, SHOAL_ACCESS_OWNER,
				       0, 0, 0, sock, &none),
		 -EINVAL);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 10, SHOAL_ACCESS_OWNER,
				       0, 0, 0, sock, &none),
		 -EINVAL);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, 7, 0, 0, 0, sock,
				       &none),
		 -EINVAL);
	CHECK_EQ(shoal__fdserver_start("", EPOCH, o.fd, 3, SHOAL_ACCESS_OWNER,
				       0, 0, 0, sock, &none),
		 -EINVAL);
	CHECK_EQ(shoal__fdserver_start(long_name, EPOCH, o.fd, 3,
				       SHOAL_ACCESS_OWNER, 0, 0, 0, sock,
				       &none),
		 -EINVAL);
	CHECK(none == NULL);
	CHECK_EQ(test_count_fds(), mid);

	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* (3) Access modes, as other users (root only) ------------------------- */

#define OWNER_UID 60001
#define GROUP_GID 60100
#define OTHER_GID 60200

struct cred_job {
	const char *sock;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[100];
	int want;
};

static int child_as(void *arg)
{
	const struct cred_job *j = arg;
	int got[3], r;

	if (setgroups((size_t)j->ngroups, j->groups) < 0 ||
	    setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		return errno == EPERM ? CHILD_SKIP : TEST_FAIL;
	r = shoal__fdclient_fetch(j->sock, SVC, EPOCH, got, 3, FETCH_NS);
	if (r != j->want) {
		fprintf(stderr,
			"uid %u gid %u, %d groups: fetch gave %d, want %d "
			"(%s)\n",
			(unsigned)j->uid, (unsigned)j->gid, j->ngroups, r,
			j->want, shoal_last_error());
		return TEST_FAIL;
	}
	if (r == 0) {
		for (int i = 0; i < 3; i++)
			close(got[i]);
	}
	return TEST_PASS;
}

/* Runs one child as @uid/@gid with @groups (@n of them); 0, 1, or 77. */
static int as_user(const char *sock, uid_t uid, gid_t gid, const gid_t *groups,
		   int n, int want)
{
	static struct cred_job j;
	int r;

	memset(&j, 0, sizeof(j));
	j.sock = sock;
	j.uid = uid;
	j.gid = gid;
	j.ngroups = n;
	if (n)
		memcpy(j.groups, groups, sizeof(gid_t) * (size_t)n);
	j.want = want;
	r = run_child(child_as, &j, NULL);
	if (r == CHILD_SKIP)
		return TEST_SKIP;
	return r == 0 ? TEST_PASS : TEST_FAIL;
}

#define AS(uid, gid, groups, n, want)                                       \
	do {                                                                \
		int r_ = as_user(sock, uid, gid, groups, n, want);          \
		if (r_ == TEST_SKIP) {                                      \
			fprintf(stderr, "cannot take other credentials\n"); \
			shoal__fdserver_stop(srv);                          \
			free_objs(&o);                                      \
			return TEST_SKIP;                                   \
		}                                                           \
		CHECK(r_ == TEST_PASS);                                     \
	} while (0)

static int test_access(void)
{
	static const gid_t in_group[] = { GROUP_GID };
	static const gid_t not_in[] = { 60300, 60301 };
	char sock[SHOAL__DESC_SOCKET_BYTES];
	struct shoal__fdserver *srv;
	gid_t many[100];
	struct objs o;
	int before = test_count_fds();

	if (geteuid() != 0) {
		fprintf(stderr, "access modes need root to switch uid\n");
		return TEST_SKIP;
	}
	/* More groups than the server's first SO_PEERGROUPS buffer holds,
	 * the one that matters last. */
	for (int i = 0; i < 100; i++)
		many[i] = (gid_t)(61000 + i);
	many[99] = GROUP_GID;
	CHECK(make_objs(&o) == TEST_PASS);

	/* OWNER: that uid, or root; no group helps. */
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_OWNER,
				       OWNER_UID, GROUP_GID, 1, sock, &srv),
		 0);
	AS(OWNER_UID, OTHER_GID, NULL, 0, 0);
	AS(0, 0, NULL, 0, 0);
	AS(60002, OTHER_GID, NULL, 0, -EACCES);
	AS(60002, GROUP_GID, NULL, 0, -EACCES);
	AS(60002, OTHER_GID, in_group, 1, -EACCES);
	shoal__fdserver_stop(srv);

	/* GROUP: also the primary or any supplementary group. */
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_GROUP,
				       OWNER_UID, GROUP_GID, 1, sock, &srv),
		 0);
	AS(OWNER_UID, OTHER_GID, NULL, 0, 0);
	AS(60002, OTHER_GID, in_group, 1, 0);
	AS(60003, GROUP_GID, NULL, 0, 0);
	AS(60004, OTHER_GID, many, 100, 0);
	AS(60005, OTHER_GID, not_in, 2, -EACCES);
	AS(60006, OTHER_GID, many, 99, -EACCES);
	shoal__fdserver_stop(srv);

	/* ANYONE: everybody. */
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_ANYONE,
				       OWNER_UID, GROUP_GID, 1, sock, &srv),
		 0);
	AS(60007, OTHER_GID, NULL, 0, 0);
	shoal__fdserver_stop(srv);

	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* Raw clients ---------------------------------------------------------- */

static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name)
{
	size_t len = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* Waits up to 5 s for @s to become readable (a message or a hang-up). */
static int readable(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };

	return poll(&p, 1, 5000) == 1;
}

/*
 * Reads one reply on @s: its status, or 1 if the server hung up without
 * one, or 2 if anything else came (wrong size, fds). Closes received fds.
 */
static int raw_reply(int s, uint32_t *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct test_wire_reply rep;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int nfd = 0;
	ssize_t n;

	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	if (!readable(s))
		return 2;
	n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / 4; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + 4 * i, sizeof(fd));
			close(fd);
			nfd++;
		}
	}
	if (n == 0)
		return 1;
	if (n != (ssize_t)sizeof(rep) || rep.magic != TEST_WIRE_REP_MAGIC ||
	    rep.version != WIRE_VERSION || (uint32_t)nfd != rep.nfds)
		return 2;
	*nfds = rep.nfds;
	return rep.status;
}

/* (4) Clients that say nothing do not wedge the server ----------------- */

#define SILENT 20 /* more than the server parks at once */

static int test_silent_clients_thread(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES];
	struct shoal__fdserver *srv;
	struct objs o;
	int silent[SILENT], got[3];
	int before = test_count_fds();
	char byte;

	CHECK(make_objs(&o) == TEST_PASS);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_ANYONE,
				       0, 0, 1, sock, &srv),
		 0);
	silent[0] = test_wire_connect(sock);
	CHECK(silent[0] >= 0);
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);

	/* A crowd of them: the oldest are evicted to make room. */
	for (int i = 1; i < SILENT; i++) {
		silent[i] = test_wire_connect(sock);
		CHECK(silent[i] >= 0);
	}
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);

	/* Each is hung up on, by eviction or by its deadline. */
	for (int i = 0; i < SILENT; i++) {
		CHECK(readable(silent[i]));
		CHECK_EQ(recv(silent[i], &byte, 1, MSG_DONTWAIT), 0);
		close(silent[i]);
	}
	shoal__fdserver_stop(srv);
	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

static int test_silent_client_dispatch(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES];
	struct shoal__fdserver *srv;
	struct touch_job j = { sock, NULL };
	struct objs o;
	struct pollfd p;
	int silent, before = test_count_fds();
	int64_t deadline;
	char byte;

	CHECK(make_objs(&o) == TEST_PASS);
	j.o = &o;
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_ANYONE,
				       0, 0, 0, sock, &srv),
		 0);
	silent = test_wire_connect(sock);
	CHECK(silent >= 0);
	/* The server parks it and returns instead of waiting for it. */
	CHECK_EQ(shoal__fdserver_dispatch(srv), 0);
	CHECK_EQ(run_child(child_fetch_touch, &j, srv), 0);
	CHECK(check_touched(&o) == TEST_PASS);

	/* Its deadline makes the server fd readable; dispatch hangs up. */
	p.fd = silent;
	p.events = POLLIN;
	deadline = now_ns() + 10 * 1000000000LL;
	while (poll(&p, 1, 0) == 0) {
		struct pollfd q = { .fd = shoal__fdserver_fd(srv),
				    .events = POLLIN };

		CHECK(now_ns() < deadline);
		if (poll(&q, 1, 100) == 1)
			CHECK(shoal__fdserver_dispatch(srv) >= 0);
	}
	CHECK_EQ(recv(silent, &byte, 1, MSG_DONTWAIT), 0);
	close(silent);
	/* Nothing left to report: the server fd is quiet again. */
	p.fd = shoal__fdserver_fd(srv);
	CHECK_EQ(poll(&p, 1, 0), 0);

	shoal__fdserver_stop(srv);
	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* Hostile clients: garbage, fds of their own, early hang-ups ----------- */

static int test_hostile_clients(void)
{
	char sock[SHOAL__DESC_SOCKET_BYTES];
	char junk[1000];
	struct shoal__fdserver *srv;
	struct test_wire_request req;
	struct objs o;
	uint32_t nfds = 99;
	int s, got[3], efd, before = test_count_fds(), mid;

	CHECK(make_objs(&o) == TEST_PASS);
	CHECK_EQ(shoal__fdserver_start(SVC, EPOCH, o.fd, 3, SHOAL_ACCESS_ANYONE,
				       0, 0, 1, sock, &srv),
		 0);
	mid = test_count_fds();

	/* Control: our copy of the wire format is the server's. */
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	test_wire_init(&req, WIRE_VERSION, SVC, EPOCH, 0);
	CHECK_EQ(send(s, &req, TEST_WIRE_V1_SIZE, MSG_NOSIGNAL),
		 TEST_WIRE_V1_SIZE);
	CHECK_EQ(raw_reply(s, &nfds), 0);
	CHECK_EQ(nfds, 3);
	close(s);

	/* Too short, too long, bad magic, another version. */
	memset(junk, 0x5a, sizeof(junk));
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	CHECK_EQ(send(s, junk, 10, MSG_NOSIGNAL), 10);
	CHECK_EQ(raw_reply(s, &nfds), -EBADMSG);
	close(s);
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	CHECK_EQ(send(s, junk, sizeof(junk), MSG_NOSIGNAL), sizeof(junk));
	CHECK_EQ(raw_reply(s, &nfds), -EBADMSG);
	close(s);
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	CHECK_EQ(send(s, junk, TEST_WIRE_V1_SIZE, MSG_NOSIGNAL),
		 TEST_WIRE_V1_SIZE);
	CHECK_EQ(raw_reply(s, &nfds), -EBADMSG);
	close(s);
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	test_wire_init(&req, WIRE_VERSION, SVC, EPOCH, 0);
	req.version = 2;
	CHECK_EQ(send(s, &req, TEST_WIRE_V1_SIZE, MSG_NOSIGNAL),
		 TEST_WIRE_V1_SIZE);
	CHECK_EQ(raw_reply(s, &nfds), -EPROTO);
	close(s);

	/* A valid request with an fd attached: refused, and the fd never
	 * lands in the server (this process). */
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(efd >= 0);
	{
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = &req,
				     .iov_len = TEST_WIRE_V1_SIZE };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &efd, sizeof(int));
		test_wire_init(&req, WIRE_VERSION, SVC, EPOCH, 0);
		s = test_wire_connect(sock);
		CHECK(s >= 0);
		CHECK_EQ(sendmsg(s, &msg, MSG_NOSIGNAL), TEST_WIRE_V1_SIZE);
	}
	close(efd);
	CHECK_EQ(raw_reply(s, &nfds), -EBADMSG);
	/* The reply came and the server closed its end: it holds nothing. */
	CHECK(readable(s));
	close(s);
	CHECK_EQ(test_count_fds(), mid);

	/* An empty message, and a client that hangs up at once: the
	 * server drops both without a word. */
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	CHECK_EQ(send(s, junk, 0, MSG_NOSIGNAL), 0);
	CHECK_EQ(raw_reply(s, &nfds), 1);
	close(s);
	s = test_wire_connect(sock);
	CHECK(s >= 0);
	close(s);

	/* Still serving. */
	CHECK_EQ(shoal__fdclient_fetch(sock, SVC, EPOCH, got, 3, FETCH_NS), 0);
	CHECK(check_fetched(got, &o) == TEST_PASS);
	CHECK_EQ(settle_fds(mid), mid);
	shoal__fdserver_stop(srv);
	free_objs(&o);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

/* (5)(6) Hostile servers ----------------------------------------------- */

enum serve_mode {
	MODE_GOOD,	       /* 2 eventfds, as asked */
	MODE_EXTRA_FD,	       /* 2 announced, 3 sent */
	MODE_NO_FDS,	       /* granted, 2 announced, none sent */
	MODE_GARBAGE,	       /* 16 bytes of noise */
	MODE_SHORT,	       /* 8 bytes */
	MODE_LONG,	       /* a reply with 100 bytes more */
	MODE_MANY_FDS,	       /* 12 fds: more than the client has room for */
	MODE_REFUSED_WITH_FDS, /* -EACCES, 2 fds attached anyway */
	MODE_WRONG_COUNT,      /* 3 announced and sent, 2 asked */
	MODE_BAD_STATUS,       /* a status that is not in the protocol */
	MODE_EMPTY_WITH_FDS,   /* a 0-byte message carrying 2 fds */
	MODE_VERSION,	       /* another protocol version */
	MODE_REFUSED,	       /* a plain -EACCES */
	MODE_HANG_UP,	       /* closes without a reply */
	MODE_SILENT,	       /* never replies */
};

static const struct {
	const char *what;
	int want;
} modes[] = {
	[MODE_GOOD] = { "good", 0 },
	[MODE_EXTRA_FD] = { "extra fd", -EBADMSG },
	[MODE_NO_FDS] = { "no fds", -EBADMSG },
	[MODE_GARBAGE] = { "garbage", -EBADMSG },
	[MODE_SHORT] = { "short", -EBADMSG },
	[MODE_LONG] = { "long", -EBADMSG },
	[MODE_MANY_FDS] = { "many fds", -EBADMSG },
	[MODE_REFUSED_WITH_FDS] = { "refusal with fds", -EBADMSG },
	[MODE_WRONG_COUNT] = { "wrong count", -EBADMSG },
	[MODE_BAD_STATUS] = { "bad status", -EBADMSG },
	[MODE_EMPTY_WITH_FDS] = { "empty with fds", -EBADMSG },
	[MODE_VERSION] = { "version", -EPROTO },
	[MODE_REFUSED] = { "refused", -EACCES },
	[MODE_HANG_UP] = { "hang-up", -EPIPE },
	[MODE_SILENT] = { "silent", -ETIMEDOUT },
};

/* Sends @len bytes of @buf with @nfds fresh eventfds attached. */
static int send_with_fds(int c, const void *buf, size_t len, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[16];

	if (nfds) {
		struct cmsghdr *cm;

		for (int i = 0; i < nfds; i++) {
			fds[i] = eventfd(0, EFD_CLOEXEC);
			if (fds[i] < 0)
				return -1;
		}
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(c, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The child: serves one connection on @lfd the way @mode says. */
static int hostile_server(int lfd, enum serve_mode mode)
{
	struct test_wire_request req;
	struct test_wire_reply rep = { TEST_WIRE_REP_MAGIC, WIRE_VERSION, 0, 0,
				       2 };
	unsigned char big[sizeof(rep) + 100];
	int c, r = 0;
	char byte;

	c = accept(lfd, NULL, NULL);
	if (c < 0)
		return 2;
	/* The request must be the one the wire copy describes. */
	if (recv(c, &req, sizeof(req), 0) != TEST_WIRE_V1_SIZE ||
	    req.magic != TEST_WIRE_REQ_MAGIC || req.version != WIRE_VERSION ||
	    req.epoch != EPOCH || req.name_len != strlen(SVC) ||
	    memcmp(req.name, SVC, sizeof(SVC)) != 0) {
		fprintf(stderr, "hostile server: unexpected request\n");
		return 3;
	}
	switch (mode) {
	case MODE_GOOD:
		r = send_with_fds(c, &rep, sizeof(rep), 2);
		break;
	case MODE_EXTRA_FD:
		r = send_with_fds(c, &rep, sizeof(rep), 3);
		break;
	case MODE_NO_FDS:
		r = send_with_fds(c, &rep, sizeof(rep), 0);
		break;
	case MODE_GARBAGE:
		r = send_with_fds(c, "this is garbage!", 16, 0);
		break;
	case MODE_SHORT:
		r = send_with_fds(c, &rep, 8, 2);
		break;
	case MODE_LONG:
		memset(big, 0, sizeof(big));
		memcpy(big, &rep, sizeof(rep));
		r = send_with_fds(c, big, sizeof(big), 2);
		break;
	case MODE_MANY_FDS:
		r = send_with_fds(c, &rep, sizeof(rep), 12);
		break;
	case MODE_REFUSED_WITH_FDS:
		rep.status = -EACCES;
		rep.nfds = 0;
		r = send_with_fds(c, &rep, sizeof(rep), 2);
		break;
	case MODE_WRONG_COUNT:
		rep.nfds = 3;
		r = send_with_fds(c, &rep, sizeof(rep), 3);
		break;
	case MODE_BAD_STATUS:
		rep.status = 5;
		rep.nfds = 0;
		r = send_with_fds(c, &rep, sizeof(rep), 0);
		break;
	case MODE_EMPTY_WITH_FDS:
		r = send_with_fds(c, &rep, 0, 2);
		break;
	case MODE_VERSION:
		rep.version = 2;
		r = send_with_fds(c, &rep, sizeof(rep), 2);
		break;
	case MODE_REFUSED:
		rep.status = -EACCES;
		rep.nfds = 0;
		r = send_with_fds(c, &rep, sizeof(rep), 0);
		break;
	case MODE_HANG_UP:
		break;
	case MODE_SILENT:
		/* Wait for the client to give up and hang up. */
		if (recv(c, &byte, 1, 0) != 0)
			r = -1;
		break;
	}
	close(c);
	return r ? 4 : 0;
}

struct hostile_job {
	int lfd;
	enum serve_mode mode;
};

static int child_hostile(void *arg)
{
	const struct hostile_job *j = arg;

	return hostile_server(j->lfd, j->mode);
}

/* A listening socket on a fresh abstract name, written to @name. */
static int listen_on(char *name, int backlog)
{
	static int seq;
	struct sockaddr_un sa;
	socklen_t len;
	int s;

	snprintf(name, SHOAL__DESC_SOCKET_BYTES, "shoal-fd-test/%d/%d",
		 (int)getpid(), seq++);
	len = abstract_addr(&sa, name);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (bind(s, (struct sockaddr *)&sa, len) < 0 ||
	    listen(s, backlog) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int hostile_case(enum serve_mode mode)
{
	char name[SHOAL__DESC_SOCKET_BYTES];
	struct hostile_job j = { -1, mode };
	int64_t timeout = mode == MODE_SILENT ? 300 * 1000000LL : FETCH_NS;
	int64_t t0, took;
	int got[3] = { -1, -1, -1 };
	int before = test_count_fds(), r;
	pid_t pid;
	int status = 0;

	j.lfd = listen_on(name, 8);
	CHECK(j.lfd >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_hostile(&j));
	close(j.lfd);

	t0 = now_ns();
	r = shoal__fdclient_fetch(name, SVC, EPOCH, got, 2, timeout);
	took = now_ns() - t0;
	if (r != modes[mode].want) {
		fprintf(stderr,
			"hostile server '%s': fetch gave %d, want %d (%s)\n",
			modes[mode].what, r, modes[mode].want,
			shoal_last_error());
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return TEST_FAIL;
	}
	if (r == 0) {
		CHECK_EQ(shoal__fd_is_eventfd(got[0]), 1);
		CHECK_EQ(shoal__fd_is_eventfd(got[1]), 1);
		close(got[0]);
		close(got[1]);
	} else {
		/* A failure leaves the caller's array alone. */
		CHECK(got[0] == -1 && got[1] == -1 && got[2] == -1);
	}
	if (mode == MODE_SILENT)
		CHECK(took >= timeout);
	CHECK(test_wait_child(pid, CHILD_TIMEOUT_S));
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

static int test_hostile_servers(void)
{
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		CHECK(hostile_case((enum serve_mode)m) == TEST_PASS);
	return TEST_PASS;
}

/* (6) Servers that never get to answer: -ETIMEDOUT, in time ------------ */

static int test_timeouts(void)
{
	const int64_t timeout = 300 * 1000000LL;
	char name[SHOAL__DESC_SOCKET_BYTES];
	int got[3] = { -1, -1, -1 };
	int before = test_count_fds(), lfd, filler;
	int64_t t0, took;

	/* Listening, never accepting: the request sits in the backlog. */
	lfd = listen_on(name, 8);
	CHECK(lfd >= 0);
	t0 = now_ns();
	CHECK_EQ(shoal__fdclient_fetch(name, SVC, EPOCH, got, 2, timeout),
		 -ETIMEDOUT);
	took = now_ns() - t0;
	CHECK(took >= timeout);
	close(lfd);

	/* A full backlog: connect() itself cannot get through. */
	lfd = listen_on(name, 0);
	CHECK(lfd >= 0);
	filler = test_wire_connect(name);
	CHECK(filler >= 0);
	t0 = now_ns();
	CHECK_EQ(shoal__fdclient_fetch(name, SVC, EPOCH, got, 2, timeout),
		 -ETIMEDOUT);
	took = now_ns() - t0;
	CHECK(took >= timeout);
	close(filler);
	close(lfd);

	CHECK(got[0] == -1 && got[1] == -1 && got[2] == -1);
	CHECK_EQ(test_count_fds(), before);
	return TEST_PASS;
}

int main(void)
{
	/* A peer that hangs up must not kill us either way. */
	signal(SIGPIPE, SIG_DFL);
	RUN(test_dispatch_mode);
	RUN(test_thread_mode);
	RUN(test_wrong_request);
	RUN(test_access);
	RUN(test_silent_clients_thread);
	RUN(test_silent_client_dispatch);
	RUN(test_hostile_clients);
	RUN(test_hostile_servers);
	RUN(test_timeouts);
	return test_result();
}
