/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for the test/fault-*.c programs: make the Nth system call
 * (or allocation) the library makes fail with a chosen errno.
 *
 * Mechanism: link-time wrapping. The fault-* test programs are linked with
 * -Wl,--wrap=SYM for every libc function below (test/CMakeLists.txt), so
 * each call the static library makes to SYM goes to __wrap_SYM here, which
 * counts it and either fails it or calls the real one (__real_SYM).
 * syscall() is wrapped too: that is how the library reaches pidfd_open and
 * pidfd_getfd. Why this and not LD_PRELOAD or seccomp: the tests link the
 * static library, so --wrap needs no second library, no environment and no
 * symbol lookup at run time; it touches only the calls made from the
 * objects linked into the program (never libc's calls to itself, never a
 * sanitizer runtime's), and it works the same in the plain, ASan and TSan
 * builds, where the sanitizers' own interceptors sit behind __real_SYM.
 * seccomp could fail only raw system calls (not malloc), cannot be lifted
 * again once installed, and cannot count per call site.
 *
 * Counting is per thread: fault_arm() arms the calling thread only, so a
 * helper thread (the fd server's) neither shifts the count nor takes the
 * fault, and a run is the same every time. Teardown calls (close, munmap,
 * closedir, free) are never failed: they release, and the fd count and maps
 * checks watch them instead.
 *
 * The header defines the wrappers: include it in exactly one file of a
 * program linked with the --wrap options. It also holds what the programs
 * share: the case runner fault_run() and the main() frame fault_main().
 */
#ifndef SHOAL_TEST_FAULT_H
#define SHOAL_TEST_FAULT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <shoal.h>
#include <time.h>

#include "harness.h"
#include "registry/registry_internal.h"
#include "registry_util.h"
#include <unistd.h>

/* The errnos every site is made to fail with, in this order. */
static const int fault_errnos[] = { ENOMEM, EMFILE, ENFILE, EINTR,
				    EAGAIN, EPERM,  ENOSPC };
#define FAULT_NERRNOS (sizeof(fault_errnos) / sizeof(fault_errnos[0]))

/* This thread's plan: fail the @nth counted call (1-based) with @err. */
static _Thread_local struct {
	int armed;
	int err;
	uint64_t nth;
	uint64_t calls;	   /* counted calls since fault_arm() */
	const char *fired; /* the call that was failed, or NULL */
	const char *spare; /* " name name ": calls neither counted nor failed */
	uint64_t fired_arg; /* its first argument (syscall: the number) */
} fault_state;

/* Allocations minus frees made through the wrappers, every thread. */
static _Atomic long fault_live_allocs;

/* Arms this thread: its @nth counted call from now on fails with @err. */
static inline void fault_arm(uint64_t nth, int err)
{
	fault_state.calls = 0;
	fault_state.nth = nth;
	fault_state.err = err;
	fault_state.fired = NULL;
	fault_state.fired_arg = 0;
	fault_state.armed = 1;
}

/* Disarms; returns how many calls were counted. */
static inline uint64_t fault_disarm(void)
{
	fault_state.armed = 0;
	return fault_state.calls;
}

/* Test code of an armed op steps out of the count and back in. */
static inline int fault_pause(void)
{
	int was = fault_state.armed;

	fault_state.armed = 0;
	return was;
}

static inline void fault_resume(int was)
{
	fault_state.armed = was;
}

/* The name of the call that was failed since the last fault_arm(), or NULL. */
static inline const char *fault_fired(void)
{
	return fault_state.fired;
}

/* 1 if the last armed plan failed a call named @name (with @err, or with
 * any errno when @err is 0). */
static inline int fault_fired_is(const char *name, int err)
{
	return fault_state.fired && !strcmp(fault_state.fired, name) &&
	       (!err || fault_state.err == err);
}

static inline uint64_t fault_fired_arg(void)
{
	return fault_state.fired_arg;
}

static inline int fault_spared(const char *name)
{
	const char *p = fault_state.spare;
	size_t n = strlen(name);

	while ((p = strstr(p, name)))
		if (p[-1] == ' ' && p[n] == ' ')
			return 1;
		else
			p += n;
	return 0;
}

/* Count on this armed thread only: 1 if the call @name must fail now. */
static inline int fault_hit(const char *name, uint64_t arg)
{
	if (!fault_state.armed)
		return 0;
	if (fault_state.spare && fault_spared(name))
		return 0;
	if (++fault_state.calls != fault_state.nth)
		return 0;
	fault_state.fired = name;
	fault_state.fired_arg = arg;
	return 1;
}

static inline long fault_live(void)
{
	return atomic_load(&fault_live_allocs);
}

/*
 * The wrappers. FAULT_WRAP(ret, name, failret, params, args, arg0): declares
 * __real_name and __wrap_name; the wrapper returns @failret with errno set
 * when the call is chosen, else the real call's result.
 */
#define FAULT_WRAP(ret, name, failret, params, args, arg0) \
	ret __real_##name params;                          \
	ret __wrap_##name params;                          \
	ret __wrap_##name params                           \
	{                                                  \
		if (fault_hit(#name, (uint64_t)(arg0))) {  \
			errno = fault_state.err;           \
			return failret;                    \
		}                                          \
		return __real_##name args;                 \
	}

/* clang-format off */
FAULT_WRAP(int, memfd_create, -1, (const char *n, unsigned f), (n, f), 0)
FAULT_WRAP(int, ftruncate, -1, (int fd, off_t len), (fd, len), fd)
FAULT_WRAP(int, eventfd, -1, (unsigned v, int f), (v, f), 0)
FAULT_WRAP(int, socket, -1, (int d, int t, int p), (d, t, p), d)
FAULT_WRAP(int, bind, -1, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), fd)
FAULT_WRAP(int, listen, -1, (int fd, int b), (fd, b), fd)
FAULT_WRAP(int, connect, -1, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), fd)
FAULT_WRAP(int, accept4, -1, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f), fd)
FAULT_WRAP(ssize_t, sendmsg, -1, (int fd, const struct msghdr *m, int f), (fd, m, f), fd)
FAULT_WRAP(ssize_t, recvmsg, -1, (int fd, struct msghdr *m, int f), (fd, m, f), fd)
FAULT_WRAP(ssize_t, send, -1, (int fd, const void *b, size_t n, int f), (fd, b, n, f), fd)
FAULT_WRAP(int, getsockopt, -1, (int fd, int l, int o, void *v, socklen_t *n), (fd, l, o, v, n), fd)
FAULT_WRAP(int, epoll_create1, -1, (int f), (f), f)
FAULT_WRAP(int, epoll_ctl, -1, (int e, int op, int fd, struct epoll_event *ev), (e, op, fd, ev), op)
FAULT_WRAP(int, epoll_wait, -1, (int e, struct epoll_event *ev, int n, int t), (e, ev, n, t), e)
FAULT_WRAP(int, inotify_init1, -1, (int f), (f), f)
FAULT_WRAP(int, inotify_add_watch, -1, (int fd, const char *p, uint32_t m), (fd, p, m), fd)
FAULT_WRAP(int, timerfd_create, -1, (int c, int f), (c, f), c)
FAULT_WRAP(int, timerfd_settime, -1, (int fd, int f, const struct itimerspec *n, struct itimerspec *o), (fd, f, n, o), fd)
FAULT_WRAP(int, poll, -1, (struct pollfd *p, nfds_t n, int t), (p, n, t), n)
FAULT_WRAP(int, ppoll, -1, (struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *s), (p, n, t, s), n)
FAULT_WRAP(ssize_t, read, -1, (int fd, void *b, size_t n), (fd, b, n), fd)
FAULT_WRAP(ssize_t, write, -1, (int fd, const void *b, size_t n), (fd, b, n), fd)
FAULT_WRAP(ssize_t, pread, -1, (int fd, void *b, size_t n, off_t o), (fd, b, n, o), fd)
FAULT_WRAP(int, linkat, -1, (int a, const char *p, int b, const char *q, int f), (a, p, b, q, f), f)
FAULT_WRAP(int, unlinkat, -1, (int d, const char *p, int f), (d, p, f), f)
FAULT_WRAP(int, mkdir, -1, (const char *p, mode_t m), (p, m), m)
FAULT_WRAP(int, fchmod, -1, (int fd, mode_t m), (fd, m), fd)
FAULT_WRAP(int, fchown, -1, (int fd, uid_t u, gid_t g), (fd, u, g), fd)
FAULT_WRAP(int, flock, -1, (int fd, int op), (fd, op), op)
FAULT_WRAP(int, fstat, -1, (int fd, struct stat *st), (fd, st), fd)
FAULT_WRAP(int, fstatat, -1, (int d, const char *p, struct stat *st, int f), (d, p, st, f), f)
FAULT_WRAP(int, stat, -1, (const char *p, struct stat *st), (p, st), 0)
FAULT_WRAP(ssize_t, readlink, -1, (const char *p, char *b, size_t n), (p, b, n), n)
FAULT_WRAP(DIR *, fdopendir, NULL, (int fd), (fd), fd)
FAULT_WRAP(struct dirent *, readdir, NULL, (DIR *d), (d), 0)
FAULT_WRAP(int, kill, -1, (pid_t p, int s), (p, s), s)
FAULT_WRAP(ssize_t, getrandom, -1, (void *b, size_t n, unsigned f), (b, n, f), f)
FAULT_WRAP(int, nanosleep, -1, (const struct timespec *a, struct timespec *b), (a, b), 0)
/* clang-format on */

void *__real_mmap(void *a, size_t n, int p, int f, int fd, off_t o);
void *__wrap_mmap(void *a, size_t n, int p, int f, int fd, off_t o);
void *__wrap_mmap(void *a, size_t n, int p, int f, int fd, off_t o)
{
	if (fault_hit("mmap", (uint64_t)fd)) {
		errno = fault_state.err;
		return MAP_FAILED;
	}
	return __real_mmap(a, n, p, f, fd, o);
}

/* Variadic ones: the optional argument passes through as a word. */
int __real_open(const char *p, int f, ...);
int __wrap_open(const char *p, int f, ...);
int __wrap_open(const char *p, int f, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, f);
	m = (mode_t)va_arg(ap, unsigned);
	va_end(ap);
	if (fault_hit("open", 0)) {
		errno = fault_state.err;
		return -1;
	}
	return __real_open(p, f, m);
}

int __real_openat(int d, const char *p, int f, ...);
int __wrap_openat(int d, const char *p, int f, ...);
int __wrap_openat(int d, const char *p, int f, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, f);
	m = (mode_t)va_arg(ap, unsigned);
	va_end(ap);
	if (fault_hit("openat", (uint64_t)f)) {
		errno = fault_state.err;
		return -1;
	}
	return __real_openat(d, p, f, m);
}

int __real_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fault_hit("fcntl", (uint64_t)cmd)) {
		errno = fault_state.err;
		return -1;
	}
	return __real_fcntl(fd, cmd, arg);
}

/* syscall(): pidfd_open, pidfd_getfd. The number is the recorded argument. */
long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, ...);
long __wrap_syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (fault_hit("syscall", (uint64_t)nr)) {
		errno = fault_state.err;
		return -1;
	}
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* pthread_create reports its error as the return value, not in errno. */
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg)
{
	if (fault_hit("pthread_create", 0))
		return fault_state.err;
	return __real_pthread_create(t, a, fn, arg);
}

/* Allocations fail like the rest, and are counted for the leak check. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
	void *p;

	if (fault_hit("malloc", n)) {
		errno = fault_state.err;
		return NULL;
	}
	p = __real_malloc(n);
	if (p)
		atomic_fetch_add(&fault_live_allocs, 1);
	return p;
}

void *__real_calloc(size_t k, size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_calloc(size_t k, size_t n)
{
	void *p;

	if (fault_hit("calloc", n)) {
		errno = fault_state.err;
		return NULL;
	}
	p = __real_calloc(k, n);
	if (p)
		atomic_fetch_add(&fault_live_allocs, 1);
	return p;
}

/* Never failed: only counted. Free only what the wrappers allocated. */
void __real_free(void *p);
void __wrap_free(void *p);
void __wrap_free(void *p)
{
	if (p)
		atomic_fetch_sub(&fault_live_allocs, 1);
	__real_free(p);
}

/*
 * A sanitizer's runtime maps and unmaps memory of its own as it goes (its
 * allocator's regions, shadow memory), so under one the count of all
 * mappings moves by itself; there only the memfd mappings (the library's
 * segments) are compared, with fds and allocations as everywhere.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAULT_ALL_MAPS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FAULT_ALL_MAPS 0
#endif
#endif
#ifndef FAULT_ALL_MAPS
#define FAULT_ALL_MAPS 1
#endif

/*
 * What a process holds, for the leak checks: open fds, mappings of memfds
 * (the library's segments), all mappings (not under a sanitizer), and live
 * wrapped allocations.
 */
struct fault_snap {
	int fds;
	int memfd_maps;
	int maps;
	long allocs;
};

static inline void fault_snap(struct fault_snap *s)
{
	char line[512];
	FILE *f;
	DIR *d;
	struct dirent *e;

	memset(s, 0, sizeof(*s));
	d = opendir("/proc/self/fd");
	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				s->fds++;
		closedir(d);
		s->fds--; /* the DIR's own */
	}
	f = fopen("/proc/self/maps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (!strchr(line, '\n'))
				continue; /* rest of a long line */
			s->maps++;
			if (strstr(line, "/memfd:"))
				s->memfd_maps++;
		}
		fclose(f);
	}
	s->allocs = fault_live();
}

static inline int fault_snap_equal(const struct fault_snap *a,
				   const struct fault_snap *b)
{
	return a->fds == b->fds && a->memfd_maps == b->memfd_maps &&
	       (!FAULT_ALL_MAPS || a->maps == b->maps) &&
	       a->allocs == b->allocs;
}

/*
 * 1 (and a message naming @what) if the process holds more or less than
 * @then. *now is refreshed for up to 5 s first: the fd server's thread
 * lets go of a connection an aborted client left only when it sees the
 * hang-up, so what it holds settles later than the caller's own.
 */
static inline int fault_snap_differs(const struct fault_snap *then,
				     struct fault_snap *now, const char *what)
{
	for (int i = 0; i < 500 && !fault_snap_equal(then, now); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		__real_nanosleep(&ts, NULL);
		fault_snap(now);
	}
	if (fault_snap_equal(then, now))
		return 0;
	fprintf(stderr,
		"%s: fds %d -> %d, memfd mappings %d -> %d, mappings %d -> %d, "
		"allocations %ld -> %ld\n",
		what, then->fds, now->fds, then->memfd_maps, now->memfd_maps,
		then->maps, now->maps, then->allocs, now->allocs);
	return 1;
}

/* Entries of directory @path but dot files (the registry's own, as .lock),
 * -1 if it cannot be read. */
static inline int fault_dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A list callback that only lets list count. */
static inline int fault_count_fn(const struct shoal_service_info *info,
				 void *user_data)
{
	(void)info;
	(void)user_data;
	return 0;
}

/*
 * What a destroy left in the registry at @dir: *live, the services still
 * live (or list's -errno); when none is, clean runs and *stale is the
 * entries it left (a withdrawal whose own check failed, fstatat in
 * shoal_entry_destroy, may leave a stale file, which the registry's
 * design tolerates and clean removes), else 0. -1 if the registry cannot
 * be opened.
 */
static inline int fault_registry_left(const char *dir, int *live, int *stale)
{
	struct shoal_registry *reg;

	*live = *stale = 0;
	if (test_registry_open(dir, &reg))
		return -1;
	*live = shoal_registry_list(reg, fault_count_fn, NULL);
	if (*live == 0 && shoal_registry_clean(reg) >= 0)
		*stale = fault_dir_entries(dir);
	shoal_registry_destroy(reg);
	return 0;
}

/*
 * One operation to fail at each of its calls in turn. fault_run() calls,
 * for every errno and n = 1, 2, ... until the operation makes fewer than n
 * calls: setup(); op() with the nth call failing; failed() if op returned
 * an error (the case's own invariants, e.g. "the registry is empty"); op()
 * again without a fault, which must succeed; undo() for each success;
 * teardown(). Every step is unarmed but op.
 */
struct fault_case {
	const char *name;
	void *ctx;
	int (*setup)(void *ctx);  /* 0 or fails the case */
	int (*op)(void *ctx);	  /* >= 0 success, else -errno */
	int (*failed)(void *ctx); /* after op failed: 0 if all holds */
	int (*verify)(void *ctx); /* after op succeeded: 0 if it works */
	void (*undo)(void *ctx);  /* release what a successful op made */
	void (*teardown)(void *ctx);
	/* Sites whose EINTR must not reach the caller: the waits. */
	int eintr_retried;
	/* op works on a handle setup made, which may keep what it grew (a
	 * bigger event queue, a new owner's pidfd) after a failure: leaks
	 * are checked after teardown only, not right after the failure. */
	int on_handle;
	/* " name ... ": calls this case never fails (see its comment). */
	const char *spare;
};

/* The errno of the current plan (for verify: was the fault transient?). */
static inline int fault_errno(void)
{
	return fault_state.err;
}

/* Errnos that say "try again" rather than anything about the object. */
static inline int fault_transient(int err)
{
	return err == ENOMEM || err == EMFILE || err == ENFILE ||
	       err == EINTR || err == EAGAIN;
}

/*
 * 1 (with a message) if the library's calls do not reach the wrappers: the
 * program was not linked with test/CMakeLists.txt's --wrap options, or the
 * library calls a fortified or renamed libc entry point. Callers skip.
 * Also makes the process's liveness pipe: an owner makes it (two fds, for
 * its life) when a peer first asks, which a peer in the same process whose
 * pidfd_open() fails does; that is not a leak of the call that asked.
 */
static inline int fault_check_wrapped(void)
{
	if (shoal__liveness_fd() < 0)
		return 1;
	uint64_t n;
	int fd;

	fault_arm(UINT64_MAX, 0);
	fd = shoal_eventfd_create();
	n = fault_disarm();
	if (fd >= 0)
		close(fd);
	if (n == 0)
		fprintf(stderr, "fault injection: the library's calls are not "
				"intercepted (no --wrap?): skipped\n");
	return n == 0;
}

/* Waiting calls: a signal there is retried, never an error (shoal_wait). */
static inline int fault_is_wait(const char *fired)
{
	return fired &&
	       (!strcmp(fired, "ppoll") || !strcmp(fired, "poll") ||
		!strcmp(fired, "epoll_wait") || !strcmp(fired, "nanosleep"));
}

/*
 * After a send to a sleeper reported success: 0 if the sleeper's fd @fd
 * becomes readable (within 10 s), else 1 with a message (@who: the
 * sleeper). A failed wake-up write is the exception. An injected EAGAIN of
 * an eventfd write is a state the kernel never produces (the counter is
 * saturated, i.e. the fd readable already, and the library takes it for a
 * wake-up made): the message is there, but no wake-up is to be seen: 0.
 * Any other failed write must have left the sleeper's mark in place, so
 * that the next send, which @resend(@x) makes, wakes it.
 */
static inline int fault_send_woke(int fd, int (*resend)(void *x), void *x,
				  const char *who)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fault_fired_is("write", EAGAIN))
		return 0;
	if (fault_fired_is("write", 0) && poll(&p, 1, 0) != 1) {
		if (resend(x)) {
			fprintf(stderr, "the send after a failed wake-up "
					"failed; ");
			return 1;
		}
	}
	if (poll(&p, 1, 10000) != 1) {
		fprintf(stderr,
			"send reported success, the sleeping %s was not "
			"woken; ",
			who);
		return 1;
	}
	return 0;
}

/* Limits a case to this many sites; a loop that never ends is a bug. */
#define FAULT_MAX_SITES 4000

static inline int fault_run_(const struct fault_case *c);

/* Runs @c; on failure tears down what the failing round left. */
static inline int fault_run(const struct fault_case *c)
{
	int r;

	/* One round first, unmeasured: the first fd server thread's stack
	 * and the allocator's arenas stay mapped after their first use. */
	if (c->setup && c->setup(c->ctx)) {
		fprintf(stderr, "%s: setup failed: %s\n", c->name,
			shoal_last_error());
		return 1;
	}
	r = c->op(c->ctx);
	if (r >= 0 && c->undo)
		c->undo(c->ctx);
	if (c->teardown)
		c->teardown(c->ctx);
	if (r < 0) {
		fprintf(stderr, "%s: failed with no fault: %d (%s)\n", c->name,
			r, shoal_last_error());
		return 1;
	}
	r = fault_run_(c);
	if (r && c->teardown)
		c->teardown(c->ctx);
	return r;
}

static inline int fault_run_(const struct fault_case *c)
{
	unsigned tolerated = 0, failed = 0;
	uint64_t max_sites = 0;

	for (unsigned ei = 0; ei < FAULT_NERRNOS; ei++) {
		int err = fault_errnos[ei];

		for (uint64_t n = 1;; n++) {
			struct fault_snap base, pre, now;
			const char *fired;
			uint64_t farg;
			int rc, rc2 = -1;

			if (n > FAULT_MAX_SITES) {
				fprintf(stderr, "%s: more than %d calls\n",
					c->name, FAULT_MAX_SITES);
				return 1;
			}
			fault_snap(&base);
			if (c->setup && c->setup(c->ctx)) {
				fprintf(stderr, "%s: setup failed: %s\n",
					c->name, shoal_last_error());
				return 1;
			}
			fault_snap(&pre);
			fault_arm(n, err);
			fault_state.spare = c->spare;
			rc = c->op(c->ctx);
			fault_disarm();
			fault_state.spare = NULL;
			fired = fault_fired();
			farg = fault_fired_arg();
			if (!fired) {
				/* Fewer than n calls: the clean run. */
				if (rc < 0) {
					fprintf(stderr,
						"%s: unfaulted run failed: %d "
						"(%s)\n",
						c->name, rc,
						shoal_last_error());
					return 1;
				}
				if (c->verify && c->verify(c->ctx)) {
					fprintf(stderr,
						"%s: clean run does "
						"not work\n",
						c->name);
					return 1;
				}
				if (c->undo)
					c->undo(c->ctx);
				if (c->teardown)
					c->teardown(c->ctx);
				fault_snap(&now);
				if (fault_snap_differs(&base, &now, c->name))
					return 1;
				if (n - 1 > max_sites)
					max_sites = n - 1;
				break;
			}
#define FAULT_WHERE                                                       \
	fprintf(stderr,                                                   \
		"%s: call %llu (%s, arg %llu) failed with %s: ", c->name, \
		(unsigned long long)n, fired, (unsigned long long)farg,   \
		strerror(err))
			if (rc >= 0) {
				/* The library absorbed it (a fallback, a
				 * retry, a best-effort call): then what it
				 * made must work. */
				tolerated++;
				if (c->verify && c->verify(c->ctx)) {
					FAULT_WHERE;
					fprintf(stderr, "op succeeded but its "
							"result does not "
							"work\n");
					return 1;
				}
				if (getenv("FAULT_VERBOSE")) {
					FAULT_WHERE;
					fprintf(stderr, "absorbed\n");
				}
			} else {
				failed++;
				if (err == EINTR && c->eintr_retried &&
				    fault_is_wait(fired) && rc == -EINTR) {
					FAULT_WHERE;
					fprintf(stderr, "EINTR of a wait "
							"reached the caller\n");
					return 1;
				}
				fault_snap(&now);
				if (!c->on_handle &&
				    fault_snap_differs(&pre, &now, c->name)) {
					FAULT_WHERE;
					fprintf(stderr,
						"leak after error %d "
						"(%s)\n",
						rc, shoal_last_error());
					return 1;
				}
				if (c->failed && c->failed(c->ctx)) {
					FAULT_WHERE;
					fprintf(stderr, "op returned %d\n", rc);
					return 1;
				}
				rc2 = c->op(c->ctx);
				if (rc2 < 0) {
					FAULT_WHERE;
					fprintf(stderr,
						"op returned %d, the next "
						"attempt %d (%s)\n",
						rc, rc2, shoal_last_error());
					return 1;
				}
				if (c->verify && c->verify(c->ctx)) {
					FAULT_WHERE;
					fprintf(stderr, "the next attempt "
							"does not work\n");
					return 1;
				}
			}
			if (c->undo && (rc >= 0 || rc2 >= 0))
				c->undo(c->ctx);
			if (c->teardown)
				c->teardown(c->ctx);
			fault_snap(&now);
			if (fault_snap_differs(&base, &now, c->name)) {
				FAULT_WHERE;
				fprintf(stderr,
					"leak after the round (op "
					"returned %d)\n",
					rc);
				return 1;
			}
#undef FAULT_WHERE
		}
	}
	fprintf(stderr,
		"%s: %llu calls, %u faults failed the op, %u absorbed\n",
		c->name, (unsigned long long)max_sites, failed, tolerated);
	return 0;
}

/* A case's result for RUN: TEST_FAIL if fault_run(@c) found a fault. */
static inline int fault_test(const struct fault_case *c)
{
	return fault_run(c) ? TEST_FAIL : TEST_PASS;
}

/* One test_<case>() of a program, for fault_main(). */
struct fault_test_fn {
	const char *name;
	int (*fn)(void);
};

#define FAULT_TEST(fn)  \
	{               \
#fn, fn \
	}

/*
 * The main() of a fault-* program. Makes a fresh registry directory (its
 * path in @path, PATH_MAX bytes; SHOAL_DIR names it for the patterns that
 * find the registry by name), calls @prepare (may be NULL; non-zero fails
 * the program), skips when the library's calls are not wrapped, runs the
 * @n @tests whose function name contains argv[1] (all of them without an
 * argument), calls @finish (may be NULL) and removes the directory.
 * Returns the exit status.
 */
static inline int fault_main(int argc, char **argv, char *path,
			     int (*prepare)(void), void (*finish)(void),
			     const struct fault_test_fn *tests, size_t n)
{
	const char *only = argc > 1 ? argv[1] : NULL;

	if (test_registry_path(path, PATH_MAX))
		return TEST_FAIL;
	setenv("SHOAL_DIR", path, 1);
	if (prepare && prepare())
		return TEST_FAIL;
	if (fault_check_wrapped())
		return TEST_SKIP;
	for (size_t i = 0; i < n; i++)
		if (!only || strstr(tests[i].name, only))
			test_count(tests[i].name, tests[i].fn());
	if (finish)
		finish();
	*strrchr(path, '/') = 0;
	test_remove_tree(path);
	return test_result();
}

#endif
