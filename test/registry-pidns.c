/* shoal-test: label=multiproc timeout=240 */
/*
 * The registry across PID (and user) namespaces, as a registry directory
 * bind-mounted into containers is used. Root only (skipped otherwise);
 * each namespace case is skipped where the kernel refuses it.
 *
 * - publisher_in_ns: a publisher runs as pid 1 of a fresh PID namespace
 *   (with its own /proc; also inside a user namespace). From here: list
 *   shows its services with pid 0 (its pid means nothing here), open works
 *   (by SCM_RIGHTS), a subscriber receives, clean keeps them; after the
 *   namespace is killed the service's death fd fires, the subscriber gets
 *   -EPIPE, list shows nothing and clean removes both; a publisher in a new
 *   namespace (pid 1 again) is found by the same subscriber (reattach).
 * - peer_in_ns: the mirror: a publisher here, the peer in a fresh PID
 *   namespace, and the death seen from there.
 * - seccomp: the peer refuses itself pidfd_open and pidfd_getfd (a seccomp
 *   filter answering EPERM, as container runtimes install): open,
 *   subscribe and death detection still work, in our namespace and in a
 *   fresh one.
 * Network namespaces are shared throughout: the fd server is an abstract
 * socket (docs/registry.md, "Namespaces").
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "pidfd_util.h"
#include "ns_util.h"

#define SVC "ns/svc"
#define PUB "ns/pub"
#define WAIT_NS (30 * PSU_SEC)

#if defined(__x86_64__)
#define ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#define ARCH_NATIVE 0
#endif

struct ctl {
	_Atomic int ready;	/* the publisher is up */
	_Atomic int peer_done;	/* the peer saw what it should before the
				  * death */
	_Atomic int killed;	/* the publisher was killed */
	_Atomic int init_pid;	/* the namespace's init, as we number it */
	_Atomic uint64_t epoch; /* the publisher's pub/sub epoch */
	_Atomic int owner_pid;	/* the publisher as it numbers itself */
};

static char path[PATH_MAX];
static struct ctl *ctl;

/* Waits for *@flag to become nonzero; 0, or -1 after WAIT_NS. */
static int wait_flag(_Atomic int *flag)
{
	int64_t end = psu_now_ns() + WAIT_NS;

	while (!atomic_load(flag)) {
		if (psu_now_ns() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* Installs a filter that answers pidfd_open and pidfd_getfd with EPERM. */
static int refuse_pidfd_syscalls(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NATIVE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_getfd, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	if (!ARCH_NATIVE || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	/* It must bite. */
	if (test_pidfd_open(getpid()) >= 0 || errno != EPERM)
		return -1;
	return 0;
}

/* Runs @fn as pid 1 of fresh namespaces (test_ns_spawn); ctl->init_pid
 * gets the pid running @fn, as we number it. */
static pid_t spawn(int nsflags, int (*fn)(void *), void *arg)
{
	return test_ns_spawn(nsflags, fn, arg, &ctl->init_pid);
}

/* The publisher: SVC (a channel) and PUB (lossy pub/sub), writing on. */
static int publisher(void *arg)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct test_service ts;
	struct shoal_pub *pub;
	uint64_t v = 1;

	(void)arg;
	if (test_registry_open(path, &reg) ||
	    test_publish(reg, SVC, SHOAL_ACCESS_OWNER,
			 SHOAL_PUBLISH_SERVER_THREAD, &ts))
		return TEST_FAIL;
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.max_payload = 64;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	if (shoal_pub_create(PUB, &o, &pub))
		return TEST_FAIL;
	atomic_store(&ctl->epoch, shoal_pub_epoch(pub));
	atomic_store(&ctl->owner_pid, getpid());
	atomic_store(&ctl->ready, 1);
	for (;;) {
		shoal_pub_write(pub, &v, sizeof(v), NULL);
		v++;
		usleep(1000);
	}
}

struct seen {
	int n, pids_ok;
	int32_t want_pid;
};

static int seen_cb(const struct shoal_service_info *info, void *user_data)
{
	struct seen *s = user_data;

	s->n++;
	if (info->pid != s->want_pid)
		s->pids_ok = 0;
	return 0;
}

/* How many services list shows, -1 unless each has pid @want_pid. */
static int listed(struct shoal_registry *reg, int32_t want_pid)
{
	struct seen s = { 0, 1, want_pid };

	if (shoal_registry_list(reg, seen_cb, &s) < 0)
		return -2;
	return s.pids_ok ? s.n : -1;
}

/* Takes until a message of epoch @epoch arrives. 0 or -1. */
static int receive(struct shoal_sub *sub, uint64_t epoch)
{
	int64_t end = psu_now_ns() + WAIT_NS;
	struct shoal_msg msg;

	while (psu_now_ns() < end) {
		int r = shoal_sub_take(sub, &msg, 50 * 1000 * 1000);

		if (r == 0) {
			int mine = msg.epoch == epoch;

			shoal_sub_release(sub, &msg);
			if (mine)
				return 0;
		} else if (r != -ETIMEDOUT && r != -EPIPE && r != -EOVERFLOW &&
			   r != -EAGAIN) {
			fprintf(stderr, "take: %d (%s)\n", r,
				shoal_last_error());
			return -1;
		}
	}
	return -1;
}

/* Takes until -EPIPE: the publisher is gone. 0 or -1. */
static int see_pipe(struct shoal_sub *sub)
{
	int64_t end = psu_now_ns() + WAIT_NS;
	struct shoal_msg msg;

	while (psu_now_ns() < end) {
		int r = shoal_sub_take(sub, &msg, 50 * 1000 * 1000);

		if (r == -EPIPE)
			return 0;
		if (r == 0)
			shoal_sub_release(sub, &msg);
	}
	return -1;
}

/* The death fd becomes readable: POLLIN (pidfd) or POLLHUP (pipe). */
static int death_seen(struct shoal_service *svc)
{
	struct pollfd p = { .fd = shoal_service_pidfd(svc), .events = POLLIN };

	return poll(&p, 1, (int)(WAIT_NS / 1000000)) == 1 &&
	       shoal_service_alive(svc) == 0;
}

static int open_sub(struct shoal_registry *reg, struct shoal_sub **sub)
{
	struct shoal_sub_options so;

	shoal_sub_options_init(&so);
	so.flags = SHOAL_SUB_REATTACH;
	so.registry = reg;
	return shoal_sub_open(PUB, &so, sub);
}

static void reset_ctl(void)
{
	memset((void *)ctl, 0, sizeof(*ctl));
}

/* The end of a spawned process: 0 for a normal end or SIGKILL. */
static int reap(pid_t pid, int *status)
{
	return waitpid(pid, status, 0) == pid ? 0 : -1;
}

/* Drains the watch: how many events of @type, each with pid @want_pid. */
static int watch_count(struct shoal_watch *w, uint32_t type, int32_t want_pid)
{
	struct shoal_watch_event ev;
	int n = 0;

	while (shoal_watch_next(w, &ev) == 1) {
		if (ev.type != type || ev.info.pid != want_pid)
			return -1;
		n++;
	}
	return n;
}

static int publisher_in_ns(int nsflags)
{
	struct shoal_clean_report rep;
	struct shoal_watch *w;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct shoal_sub *sub;
	struct shoal_sub_stats st;
	const char *marker;
	pid_t outer;
	int status;

	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal_registry_watch(reg, &w), 0);
	reset_ctl();
	outer = spawn(nsflags, publisher, NULL);
	CHECK(outer > 0);
	while (!atomic_load(&ctl->ready)) {
		if (waitpid(outer, &status, WNOHANG) == outer) {
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == TEST_SKIP)
				return TEST_SKIP;
			CHECK(!"the publisher's namespace failed");
		}
		usleep(1000);
	}
	CHECK_EQ(atomic_load(&ctl->owner_pid), 1);

	/* Its pid is not a pid here. */
	CHECK_EQ(listed(reg, 0), 2);
	CHECK_EQ(watch_count(w, SHOAL_WATCH_APPEARED, 0), 2);
	CHECK_EQ(shoal_registry_open(reg, SVC, 0, &svc), 0);
	CHECK_EQ(shoal_service_fd_source(svc), SHOAL_FDS_BY_SCM_RIGHTS);
	marker = test_marker(svc);
	CHECK(marker && !strcmp(marker, "owner 1"));
	CHECK_EQ(shoal_service_alive(svc), 1);
	CHECK_EQ(open_sub(reg, &sub), 0);
	CHECK_EQ(receive(sub, atomic_load(&ctl->epoch)), 0);
	CHECK_EQ(shoal_registry_clean_report(reg, &rep), 0);
	CHECK_EQ(rep.live, 2);

	/* The whole namespace dies. */
	CHECK_EQ(kill(atomic_load(&ctl->init_pid), SIGKILL), 0);
	CHECK_EQ(reap(outer, &status), 0);
	CHECK(death_seen(svc));
	CHECK_EQ(see_pipe(sub), 0);
	CHECK_EQ(listed(reg, 0), 0);
	CHECK_EQ(shoal_registry_clean(reg), 2);
	/* The watcher could not pin it: GONE once the files went. */
	CHECK_EQ(watch_count(w, SHOAL_WATCH_GONE, 0), 2);
	shoal_watch_close(w);
	shoal_service_close(svc);

	/* A new namespace, a new pid 1: the subscriber finds it. */
	reset_ctl();
	outer = spawn(nsflags, publisher, NULL);
	CHECK(outer > 0);
	CHECK_EQ(wait_flag(&ctl->ready), 0);
	CHECK_EQ(receive(sub, atomic_load(&ctl->epoch)), 0);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.reattached, 1);
	CHECK_EQ(kill(atomic_load(&ctl->init_pid), SIGKILL), 0);
	CHECK_EQ(reap(outer, &status), 0);
	shoal_sub_close(sub);
	CHECK_EQ(shoal_registry_clean(reg), 2);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

struct peer_args {
	int seccomp;
	int32_t want_pid; /* the owner's pid as the peer must list it */
};

/* The peer, in its own namespaces (or not): everything before and after
 * the publisher's death. Its exit status is the verdict. */
static int peer(void *arg)
{
	struct peer_args *a = arg;
	struct shoal_clean_report rep;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct shoal_sub *sub;
	struct stat st;

	if (a->seccomp && refuse_pidfd_syscalls())
		return TEST_SKIP;
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(listed(reg, a->want_pid), 2);
	CHECK_EQ(shoal_registry_open(reg, SVC, 0, &svc), 0);
	CHECK_EQ(shoal_service_fd_source(svc), SHOAL_FDS_BY_SCM_RIGHTS);
	CHECK(test_marker(svc) != NULL);
	CHECK_EQ(shoal_service_alive(svc), 1);
	/* Not a pidfd: the owner's liveness pipe. */
	CHECK_EQ(fstat(shoal_service_pidfd(svc), &st), 0);
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(open_sub(reg, &sub), 0);
	CHECK_EQ(receive(sub, atomic_load(&ctl->epoch)), 0);
	CHECK_EQ(shoal_registry_clean_report(reg, &rep), 0);
	CHECK_EQ(rep.live, 2);
	atomic_store(&ctl->peer_done, 1);

	CHECK_EQ(wait_flag(&ctl->killed), 0);
	CHECK(death_seen(svc));
	CHECK_EQ(see_pipe(sub), 0);
	CHECK_EQ(listed(reg, a->want_pid), 0);
	CHECK_EQ(shoal_registry_clean(reg), 2);
	shoal_sub_close(sub);
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int peer_in_ns(int nsflags, int seccomp)
{
	struct peer_args a = { seccomp, 0 };
	pid_t owner, outer;
	int status;

	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	reset_ctl();
	owner = fork();
	CHECK(owner >= 0);
	if (owner == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(publisher(NULL));
	}
	CHECK_EQ(wait_flag(&ctl->ready), 0);
	a.want_pid = nsflags ? 0 : owner;
	outer = spawn(nsflags, peer, &a);
	CHECK(outer > 0);
	while (!atomic_load(&ctl->peer_done)) {
		if (waitpid(outer, &status, WNOHANG) == outer) {
			kill(owner, SIGKILL);
			waitpid(owner, NULL, 0);
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == TEST_SKIP)
				return TEST_SKIP;
			CHECK(!"the peer failed before the death");
		}
		usleep(1000);
	}
	CHECK_EQ(kill(owner, SIGKILL), 0);
	CHECK_EQ(waitpid(owner, NULL, 0), owner);
	atomic_store(&ctl->killed, 1);
	CHECK_EQ(reap(outer, &status), 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), TEST_PASS);
	return TEST_PASS;
}

static int test_publisher_in_pidns(void)
{
	return publisher_in_ns(CLONE_NEWPID);
}

static int test_publisher_in_user_and_pidns(void)
{
	return publisher_in_ns(CLONE_NEWUSER | CLONE_NEWPID);
}

static int test_peer_in_pidns(void)
{
	return peer_in_ns(CLONE_NEWPID, 0);
}

static int test_peer_in_user_and_pidns(void)
{
	return peer_in_ns(CLONE_NEWUSER | CLONE_NEWPID, 0);
}

static int test_peer_seccomp(void)
{
	return peer_in_ns(0, 1);
}

static int test_peer_seccomp_in_pidns(void)
{
	return peer_in_ns(CLONE_NEWPID, 1);
}

int main(void)
{
	if (geteuid() != 0)
		return TEST_SKIP;
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl)
		return TEST_FAIL;
	RUN(test_publisher_in_pidns);
	RUN(test_publisher_in_user_and_pidns);
	RUN(test_peer_in_pidns);
	RUN(test_peer_in_user_and_pidns);
	RUN(test_peer_seccomp);
	RUN(test_peer_seccomp_in_pidns);
	return test_result();
}
