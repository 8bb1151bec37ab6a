/* shoal-test: label=multiproc timeout=120 */
/* SPDX-License-Identifier: MIT */
/*
 * Where pidfd_getfd is refused, an open still succeeds, by SCM_RIGHTS from
 * the owner's fd server, and the memory it maps is the owner's. Refusals
 * come from many places, and each is reproduced here between two sibling
 * processes (an owner and an opener forked by the test):
 *   (a) a seccomp filter in the opener making pidfd_getfd fail with EPERM,
 *       as a container's profile does;
 *   (b) a non-dumpable owner: the kernel's ptrace rules refuse another
 *       process of the same uid without CAP_SYS_PTRACE (as root, both
 *       roles drop to uid 60001 for this);
 *   (c) SHOAL_OPEN_NO_PIDFD_GETFD, which skips pidfd_getfd on purpose;
 *   (d) an owner without a helper thread, serving from its own poll loop
 *       with shoal_entry_fd() and shoal_entry_dispatch().
 * Each opener checks that pidfd_getfd really was refused (or was skipped)
 * where the test says so, that shoal_service_fd_source() says
 * SHOAL_FDS_BY_SCM_RIGHTS, that it reads the owner's marker, and writes a
 * note that the owner then finds in its own mapping.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "registry_util.h"
#include "pidfd_util.h"
#include "registry/registry_internal.h"

#include <ftw.h>
#include <grp.h>
#include <libgen.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define TEST_AUDIT_ARCH AUDIT_ARCH_RISCV64
#endif

/* The uid both roles take in (b) when the test runs as root. */
#define UID_USER 60001
/* Hang guard for every role; far above what any of them needs. */
#define ROLE_TIMEOUT_S 60
#define FETCH_TIMEOUT_NS (5LL * 1000000000)
#define NOTE "opener was here"

static char path[256];
static char top[256];

/* A fresh registry path whose parent belongs to @uid. */
static int fresh_path(uid_t uid)
{
	CHECK_EQ(test_fresh_path(path, sizeof(path), top, sizeof(top), uid), 0);
	return TEST_PASS;
}

static void remove_tree(void)
{
	test_remove_tree(top);
}

/* Become @uid (group @uid, no other groups), dumpable again. */
static int become(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0 || prctl(PR_SET_DUMPABLE, 1) < 0) {
		perror("dropping root");
		return -1;
	}
	return 0;
}

/* /proc/sys/kernel/yama/ptrace_scope, or 0 without Yama. */
static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = 0;

	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	return scope;
}

/* ---- roles ------------------------------------------------------------ */

struct owner_plan {
	uid_t uid;	 /* (uid_t)-1: keep ours */
	int nondumpable; /* PR_SET_DUMPABLE 0 before publishing */
	int dispatch;	 /* serve from a poll loop, not a helper thread */
	int served;	 /* dispatch: requests it must have served in all */
};

struct opener_plan {
	uid_t uid;	    /* (uid_t)-1: keep ours */
	int seccomp;	    /* install the pidfd_getfd filter first */
	int getfd_errno;    /* what a direct pidfd_getfd must fail with, or 0 */
	uint32_t flags;	    /* for shoal_registry_open */
	int source;	    /* the fd source it must get */
	int reopen;	    /* open a second time, with NO_PIDFD_GETFD */
	int bad_request;    /* also send one request the server refuses */
	int control_source; /* nonzero: also open without flags, expect it */
};

static pid_t owner_pid;

/* Serves by shoal_entry_dispatch() until @go hangs up; how many served. */
static int dispatch_loop(struct shoal_entry *entry, int go)
{
	struct pollfd p[2] = {
		{ .fd = shoal_entry_fd(entry), .events = POLLIN },
		{ .fd = go, .events = POLLIN },
	};
	int served = 0;

	if (p[0].fd < 0)
		return -1;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[0].revents) {
			int r = shoal_entry_dispatch(entry);

			if (r < 0) {
				fprintf(stderr, "dispatch: %d (%s)\n", r,
					shoal_last_error());
				return -1;
			}
			served += r;
		}
		if (p[1].revents)
			return served; /* the parent closed it: done */
	}
}

static int owner_main(const struct owner_plan *plan, int ready, int go)
{
	struct shoal_registry *reg;
	struct test_service ts;
	char c = 'k', note[64];
	void *data;

	if (plan->uid != (uid_t)-1)
		CHECK_EQ(become(plan->uid), 0);
	if (plan->nondumpable)
		CHECK_EQ(prctl(PR_SET_DUMPABLE, 0), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(test_publish(reg, "svc", SHOAL_ACCESS_OWNER,
			      plan->dispatch ? 0 : SHOAL_PUBLISH_SERVER_THREAD,
			      &ts),
		 0);
	CHECK_EQ(write(ready, &c, 1), 1);
	if (plan->dispatch) {
		CHECK_EQ(dispatch_loop(ts.entry, go), plan->served);
	} else {
		/* Until the parent closes its end. */
		while (read(go, &c, 1) > 0)
			;
	}
	/* The opener's note is in our memory. */
	CHECK_EQ(shoal_segment_find(ts.seg, "data", 0, &data, NULL), 0);
	memcpy(note, (char *)data + 64, sizeof(note));
	note[sizeof(note) - 1] = '\0';
	if (strcmp(note, NOTE)) {
		fprintf(stderr, "owner: note '%s', want '%s'\n", note, NOTE);
		return TEST_FAIL;
	}
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* pidfd_getfd -> EPERM; every other system call as it was. */
static int install_filter(void)
{
#ifdef TEST_AUDIT_ARCH
	struct sock_filter filter[] = {
		/* A system call of another ABI: kill, as a real profile would
		 * (the numbers below mean nothing there). */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_getfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & 0xffff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("seccomp");
		return -1;
	}
	return 0;
#else
	return -1;
#endif
}

static int open_check(struct shoal_registry *reg, uint32_t flags, int source,
		      int note)
{
	struct shoal_service *svc = NULL;
	const char *marker;
	char want[64];

	snprintf(want, sizeof(want), "owner %d", (int)owner_pid);
	CHECK_EQ(shoal_registry_open(reg, "svc", flags, &svc), 0);
	CHECK_EQ(shoal_service_fd_source(svc), source);
	marker = test_marker(svc);
	CHECK(marker && !strcmp(marker, want));
	CHECK_EQ(shoal_service_alive(svc), 1);
	/* The eventfds came along too, and are eventfds. */
	CHECK(shoal_service_eventfd(svc, 0) >= 0);
	CHECK_EQ(shoal_service_eventfd(svc, 1), -ENOENT);
	if (note)
		snprintf((char *)marker + 64, 64, "%s", NOTE);
	shoal_service_close(svc);
	return TEST_PASS;
}

static int opener_main(const struct opener_plan *plan)
{
	struct shoal__descriptor d;
	struct shoal_service_info info;
	struct shoal_registry *reg;
	int fds[2];

	if (plan->uid != (uid_t)-1)
		CHECK_EQ(become(plan->uid), 0);
	if (plan->seccomp)
		CHECK_EQ(install_filter(), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal__registry_probe(reg, "svc", &d, &info), 0);
	CHECK_EQ(d.owner_pid, owner_pid);

	if (plan->getfd_errno) {
		/* The refusal the open has to work around is real. */
		CHECK_EQ(test_getfd_refusal(owner_pid, d.memfd),
			 plan->getfd_errno);
	}
	if (plan->control_source)
		CHECK_EQ(open_check(reg, 0, plan->control_source, 0),
			 TEST_PASS);
	CHECK_EQ(open_check(reg, plan->flags, plan->source, 1), TEST_PASS);
	if (plan->reopen)
		CHECK_EQ(open_check(reg, SHOAL_OPEN_NO_PIDFD_GETFD,
				    SHOAL_FDS_BY_SCM_RIGHTS, 0),
			 TEST_PASS);
	if (plan->bad_request) {
		/* Served, and refused: another epoch than the server's. */
		CHECK_EQ(shoal__fdclient_fetch(
				 d.socket_name, "svc", d.epoch + 1, fds,
				 1 + d.eventfd_count, FETCH_TIMEOUT_NS),
			 -EBADMSG);
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The owner, then the opener, as siblings; both must pass. */
static int run(const struct owner_plan *op, const struct opener_plan *pp)
{
	int ready[2], go[2], ok;
	struct pollfd p;
	pid_t opener;
	char c = 0;

	CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
	CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
	owner_pid = fork();
	CHECK(owner_pid >= 0);
	if (owner_pid == 0) {
		close(ready[0]);
		close(go[1]);
		alarm(ROLE_TIMEOUT_S);
		_exit(owner_main(op, ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	p.fd = ready[0];
	p.events = POLLIN;
	/* Hang guard only: the owner publishes at once. */
	ok = poll(&p, 1, ROLE_TIMEOUT_S * 1000) == 1 &&
	     read(ready[0], &c, 1) == 1 && c == 'k';
	close(ready[0]);
	if (ok) {
		/* owner_pid is already set in the opener's copy. */
		opener = fork();
		if (opener == 0) {
			close(go[1]);
			alarm(ROLE_TIMEOUT_S);
			_exit(opener_main(pp));
		}
		ok = opener > 0 && test_wait_child(opener, ROLE_TIMEOUT_S);
	}
	close(go[1]);
	ok = test_wait_child(owner_pid, ROLE_TIMEOUT_S) && ok;
	return ok ? TEST_PASS : TEST_FAIL;
}

/* What an unrestricted open from a sibling of the same uid gets. */
static int unrestricted_source(int as_root)
{
	/* Root has CAP_SYS_PTRACE, which only Yama mode 3 overrides; others
	 * need Yama off (mode 1 allows only descendants, and the opener is
	 * a sibling). */
	int scope = yama_scope();

	if (as_root)
		return scope >= 3 ? SHOAL_FDS_BY_SCM_RIGHTS :
				    SHOAL_FDS_BY_PIDFD_GETFD;
	return scope >= 1 ? SHOAL_FDS_BY_SCM_RIGHTS : SHOAL_FDS_BY_PIDFD_GETFD;
}

/* (a) A seccomp filter makes pidfd_getfd fail with EPERM. */
static int test_seccomp_refuses_pidfd_getfd(void)
{
	struct owner_plan op = { .uid = (uid_t)-1 };
	struct opener_plan pp = {
		.uid = (uid_t)-1,
		.seccomp = 1,
		.getfd_errno = EPERM,
		.source = SHOAL_FDS_BY_SCM_RIGHTS,
	};

#ifndef TEST_AUDIT_ARCH
	return TEST_SKIP; /* no seccomp arch constant known here */
#endif
	CHECK_EQ(fresh_path(geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/*
 * (b) A non-dumpable owner: the same uid, but no CAP_SYS_PTRACE, so the
 * kernel refuses pidfd_getfd (EPERM). The same pair with a dumpable owner
 * is the control: pidfd_getfd works there (unless Yama forbids it).
 */
static int test_nondumpable_owner(void)
{
	int root = geteuid() == 0;
	uid_t uid = root ? UID_USER : (uid_t)-1;
	struct owner_plan op = { .uid = uid, .nondumpable = 1 };
	struct opener_plan pp = {
		.uid = uid,
		.getfd_errno = EPERM,
		.source = SHOAL_FDS_BY_SCM_RIGHTS,
	};

	CHECK_EQ(fresh_path(root ? UID_USER : geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();

	op.nondumpable = 0;
	pp.source = unrestricted_source(0);
	pp.getfd_errno = pp.source == SHOAL_FDS_BY_SCM_RIGHTS ? EPERM : 0;
	CHECK_EQ(fresh_path(root ? UID_USER : geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/* (c) SHOAL_OPEN_NO_PIDFD_GETFD takes the SCM_RIGHTS path even where
 * pidfd_getfd would work, as the control open without it shows. */
static int test_flag_forces_scm_rights(void)
{
	struct owner_plan op = { .uid = (uid_t)-1 };
	struct opener_plan pp = {
		.uid = (uid_t)-1,
		.flags = SHOAL_OPEN_NO_PIDFD_GETFD,
		.source = SHOAL_FDS_BY_SCM_RIGHTS,
		.control_source = unrestricted_source(geteuid() == 0),
	};

	CHECK_EQ(fresh_path(geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();
	return TEST_PASS;
}

/*
 * (d) An owner with no helper thread serves from its own poll loop. It must
 * have served exactly what came: two granted opens and one refused request
 * (shoal_entry_dispatch counts both).
 */
static int test_dispatch_mode_owner(void)
{
	struct owner_plan op = { .uid = (uid_t)-1, .dispatch = 1, .served = 3 };
	struct opener_plan pp = {
		.uid = (uid_t)-1,
		.flags = SHOAL_OPEN_NO_PIDFD_GETFD,
		.source = SHOAL_FDS_BY_SCM_RIGHTS,
		.reopen = 1,
		.bad_request = 1,
	};

	CHECK_EQ(fresh_path(geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();

	/* With a seccomp filter instead of the flag: the same. */
	pp.flags = 0;
	pp.seccomp = 1;
	pp.getfd_errno = EPERM;
	pp.reopen = 0;
	pp.bad_request = 0;
	op.served = 1;
#ifdef TEST_AUDIT_ARCH
	CHECK_EQ(fresh_path(geteuid()), TEST_PASS);
	CHECK_EQ(run(&op, &pp), TEST_PASS);
	remove_tree();
#endif
	return TEST_PASS;
}

int main(void)
{
	RUN(test_seccomp_refuses_pidfd_getfd);
	RUN(test_nondumpable_owner);
	RUN(test_flag_forces_scm_rights);
	RUN(test_dispatch_mode_owner);
	return test_result();
}
