/* shoal-test: label=unit timeout=120 */
/*
 * Every call the registry makes can fail: for create, publish, open (by
 * pidfd_getfd and by SCM_RIGHTS), list, clean and watch, fail each call in
 * turn with each errno of fault.h. Each time the operation reports an error
 * (or absorbs the fault and still works), leaks no fd, mapping or
 * allocation, leaves no half-published service in the directory, and the
 * next attempt succeeds. See docs/testing.md.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fault.h"

static char path[PATH_MAX];
static char top[PATH_MAX - 16];

struct ctx {
	struct shoal_registry *reg;
	struct test_service ts;
	int published;
	struct shoal_service *svc;
	struct shoal_entry *entry;
	struct shoal_registry *made;
	struct shoal_watch *w;
	uint32_t open_flags;
	int count;
	char subdir[PATH_MAX];
};

static struct ctx C;

/*
 * The service the open, list and watch cases find: published by a child,
 * so that the fd server's side of an SCM_RIGHTS exchange (its accepted
 * connections) is not counted as this process's fds. The child withdraws
 * is killed by unpublish_one(), or dies with us.
 */
static pid_t owner = -1;
static int owner_pipe = -1;

static int publish_one(void)
{
	int p[2];
	char c;

	if (pipe(p))
		return -1;
	owner = fork();
	if (owner < 0)
		return -1;
	if (owner == 0) {
		struct test_service ts;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		if (test_publish(C.reg, "svc", SHOAL_ACCESS_OWNER,
				 SHOAL_PUBLISH_SERVER_THREAD, &ts))
			_exit(1);
		if (write(p[1], "p", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		waitpid(owner, NULL, 0);
		owner = -1;
		return -1;
	}
	owner_pipe = p[0];
	return 0;
}

static void unpublish_one(void)
{
	if (owner > 0) {
		/* SIGKILL and clean: a withdrawal by a live owner is
		 * registry-publish-open's business. */
		kill(owner, SIGKILL);
		waitpid(owner, NULL, 0);
		close(owner_pipe);
		shoal_registry_clean(C.reg);
	}
	owner = -1;
}

/* registry create ------------------------------------------------------ */

static int create_op(void *x)
{
	struct shoal_registry_options o;

	(void)x;
	shoal_registry_options_init(&o);
	o.dir = C.subdir;
	return shoal_registry_create(&o, &C.made);
}

static int create_failed(void *x)
{
	(void)x;
	return C.made != NULL;
}

static void create_undo(void *x)
{
	(void)x;
	if (C.made)
		shoal_registry_destroy(C.made);
	C.made = NULL;
	rmdir(C.subdir);
}

/* publish -------------------------------------------------------------- */

static int publish_setup(void *x)
{
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 4096 };
	void *data;
	int err;

	(void)x;
	memset(&C.ts, 0, sizeof(C.ts));
	err = shoal_segment_create(&obj, 1, NULL, &C.ts.seg);
	if (err)
		return err;
	shoal_segment_find(C.ts.seg, "data", 0, &data, NULL);
	snprintf(data, 64, "owner %d", (int)getpid());
	shoal_segment_ready(C.ts.seg);
	C.ts.efd = shoal_eventfd_create();
	return C.ts.efd < 0 ? C.ts.efd : 0;
}

static int publish_op(void *x)
{
	struct shoal_service_spec spec;

	(void)x;
	memset(&spec, 0, sizeof(spec));
	spec.name = "svc";
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.memfd = shoal_segment_fd(C.ts.seg);
	spec.eventfd_count = 1;
	spec.eventfds = &C.ts.efd;
	spec.type_name = "test";
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	return shoal_registry_publish(C.reg, &spec, &C.ts.entry);
}

static int publish_failed(void *x)
{
	(void)x;
	if (C.ts.entry) {
		fprintf(stderr, "entry set on failure; ");
		return 1;
	}
	if (fault_dir_entries(path) != 0) {
		fprintf(stderr, "the registry holds %d entries; ",
			fault_dir_entries(path));
		return 1;
	}
	return 0;
}

/* Another handle opens it and finds the marker. */
static int publish_verify(void *x)
{
	struct shoal_service *svc;
	const char *m;
	int ok;

	(void)x;
	if (shoal_registry_open(C.reg, "svc", 0, &svc))
		return 1;
	m = test_marker(svc);
	ok = m && !strncmp(m, "owner ", 6);
	shoal_service_close(svc);
	return !ok;
}

static void publish_undo(void *x)
{
	(void)x;
	shoal_entry_destroy(C.ts.entry);
	C.ts.entry = NULL;
}

static void publish_teardown(void *x)
{
	(void)x;
	if (C.ts.entry)
		publish_undo(x);
	if (!C.ts.seg)
		return;
	close(C.ts.efd);
	shoal_segment_destroy(C.ts.seg);
	memset(&C.ts, 0, sizeof(C.ts));
}

/* open ----------------------------------------------------------------- */

static int open_setup(void *x)
{
	(void)x;
	return publish_one();
}

static void open_undo(void *x);
static void watch_undo(void *x);

static void open_teardown(void *x)
{
	if (C.svc)
		open_undo(x);
	if (C.w)
		watch_undo(x);
	unpublish_one();
}

static int open_op(void *x)
{
	(void)x;
	return shoal_registry_open(C.reg, "svc", C.open_flags, &C.svc);
}

static int open_failed(void *x)
{
	(void)x;
	return C.svc != NULL;
}

static int open_verify(void *x)
{
	const char *m = test_marker(C.svc);

	(void)x;
	return !(m && !strncmp(m, "owner ", 6) && shoal_service_alive(C.svc));
}

static void open_undo(void *x)
{
	(void)x;
	shoal_service_close(C.svc);
	C.svc = NULL;
}

/* list ----------------------------------------------------------------- */

static int list_fn(const struct shoal_service_info *info, void *user_data)
{
	(void)user_data;
	if (!strcmp(info->name, "svc"))
		C.count++;
	return 0;
}

static int list_op(void *x)
{
	(void)x;
	C.count = 0;
	return shoal_registry_list(C.reg, list_fn, NULL);
}

/*
 * The live service is listed, unless the fault was one that says something
 * about the file (EPERM, ENOSPC on its open: "cannot be validated", and
 * such files are skipped by contract).
 */
static int list_verify(void *x)
{
	int e = fault_errno();

	(void)x;
	/* EAGAIN too: from an O_NONBLOCK open it means a lease on the file,
	 * and list skips leased entries (registry-hostile-entries). */
	if (C.count != 1 && (!fault_transient(e) || e == EAGAIN))
		return 0;
	if (C.count != 1)
		fprintf(stderr, "list saw the live service %d times; ",
			C.count);
	return C.count != 1;
}

/* clean ---------------------------------------------------------------- */

/* A stale entry: a child publishes and dies without withdrawing. */
static int clean_setup(void *x)
{
	pid_t pid;
	int status;

	(void)x;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct test_service ts;

		_exit(test_publish(C.reg, "stale", SHOAL_ACCESS_OWNER, 0, &ts) ?
			      1 :
			      0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	if (fault_dir_entries(path) != 1) {
		fprintf(stderr, "clean setup: %d entries\n",
			fault_dir_entries(path));
		return -1;
	}
	return 0;
}

static struct shoal_clean_report clean_rep;

static int clean_op(void *x)
{
	(void)x;
	return shoal_registry_clean_report(C.reg, &clean_rep);
}

/* Whatever happened, nothing but the stale entry may be there. */
static int clean_failed(void *x)
{
	(void)x;
	return fault_dir_entries(path) > 1;
}

/*
 * A clean that succeeds either leaves no stale entry or says, in its
 * report, that it skipped one and why (the -errno of the step that
 * failed): it returns the count removed, not an error, since other
 * entries may have been cleaned.
 */
static int clean_verify(void *x)
{
	int left = fault_dir_entries(path);

	(void)x;
	if (left == 0)
		return 0;
	if (clean_rep.skipped == (uint32_t)left && clean_rep.error < 0)
		return 0;
	fprintf(stderr,
		"clean left %d entries (%s) and reported %u skipped, error "
		"%d\n",
		left, fault_fired() ? fault_fired() : "no fault",
		clean_rep.skipped, clean_rep.error);
	return 1;
}

static void clean_teardown(void *x)
{
	(void)x;
	/* A clean that absorbed a fault may leave the entry: remove it. */
	shoal_registry_clean(C.reg);
}

/* watch ---------------------------------------------------------------- */

/* Start watching and collect the APPEARED of the one live service. */
static int watch_op(void *x)
{
	struct shoal_watch_event ev;
	int r;

	(void)x;
	C.count = 0;
	r = shoal_registry_watch(C.reg, &C.w);
	if (r)
		return r;
	while ((r = shoal_watch_next(C.w, &ev)) == 1)
		if (ev.type == SHOAL_WATCH_APPEARED &&
		    !strcmp(ev.info.name, "svc"))
			C.count++;
	if (r < 0) {
		shoal_watch_close(C.w);
		C.w = NULL;
	}
	return r;
}

/* As list_verify: a live service is reported, once. */
static int watch_verify(void *x)
{
	(void)x;
	if (C.count != 1 && !fault_transient(fault_errno()))
		return 0;
	if (C.count != 1)
		fprintf(stderr, "watch: %d APPEARED; ", C.count);
	return C.count != 1;
}

static int watch_failed(void *x)
{
	(void)x;
	return C.w != NULL;
}

static void watch_undo(void *x)
{
	(void)x;
	shoal_watch_close(C.w);
	C.w = NULL;
}

/*
 * A watch that is running: a service appears, then its owner dies; each
 * watch_next() on the way may fail, and a later one must still tell.
 */
static pid_t child;
static int child_pipe[2];

static int gone_setup(void *x)
{
	struct shoal_watch_event ev;
	char c;
	int r;

	(void)x;
	r = shoal_registry_watch(C.reg, &C.w);
	if (r)
		return r;
	while ((r = shoal_watch_next(C.w, &ev)) == 1)
		;
	if (r < 0 || pipe(child_pipe))
		return -1;
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		struct test_service ts;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (test_publish(C.reg, "gone", SHOAL_ACCESS_OWNER, 0, &ts))
			_exit(1);
		if (write(child_pipe[1], "p", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(child_pipe[1]);
	if (read(child_pipe[0], &c, 1) != 1)
		return -1;
	close(child_pipe[0]);
	return 0;
}

/* What op has seen of "gone" so far, across the failed attempts too. */
static int gone_appeared, gone_gone, gone_killed;

static int gone_pump(void)
{
	struct shoal_watch_event ev;
	int r;

	while ((r = shoal_watch_next(C.w, &ev)) == 1) {
		if (strcmp(ev.info.name, "gone"))
			continue;
		if (ev.type == SHOAL_WATCH_APPEARED)
			gone_appeared++;
		else if (ev.type == SHOAL_WATCH_GONE)
			gone_gone++;
	}
	return r;
}

/* Wait (unarmed) until the watch fd says there is news. */
static void gone_wait_fd(void)
{
	struct pollfd p = { .fd = shoal_watch_fd(C.w), .events = POLLIN };

	poll(&p, 1, 100);
}

static int gone_op(void *x)
{
	int r;

	(void)x;
	/* Armed: the whole story through the faults. */
	r = gone_pump();
	if (r < 0)
		return r;
	/* A fault that says something about the file (EPERM, ENOSPC on its
	 * open) makes it "not a valid service": skipped by contract. */
	if (!gone_appeared && fault_fired() && !fault_transient(fault_errno()))
		return 0;
	if (!gone_appeared)
		return -ENODATA;
	if (!gone_killed) {
		int was = fault_pause();

		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		gone_killed = 1;
		fault_resume(was);
	}
	r = gone_pump();
	if (r < 0)
		return r;
	return gone_gone ? 0 : -ENODATA;
}

/*
 * Between the failed attempt and the next: the dead owner's file is
 * cleaned. A watch that could not pin the owner (pidfd_open failed: the
 * early warning is lost by design, src/registry/watch.c pin()) learns of the death
 * only then; one that did must not report it twice.
 */
static int gone_failed(void *x)
{
	(void)x;
	if (gone_killed)
		shoal_registry_clean(C.reg);
	gone_wait_fd();
	return 0;
}

static int gone_verify(void *x)
{
	(void)x;
	if (!gone_appeared && !gone_gone && fault_fired() &&
	    !fault_transient(fault_errno()))
		return 0;
	if (gone_appeared != 1 || gone_gone != 1)
		fprintf(stderr, "gone: APPEARED %d, GONE %d; ", gone_appeared,
			gone_gone);
	return gone_appeared != 1 || gone_gone != 1;
}

static void gone_teardown(void *x)
{
	(void)x;
	if (!gone_killed && child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	shoal_watch_close(C.w);
	C.w = NULL;
	shoal_registry_clean(C.reg);
	gone_appeared = gone_gone = gone_killed = 0;
	child = -1;
}

/* ---------------------------------------------------------------------- */

static int test_create(void)
{
	struct fault_case c = { .name = "registry create",
				.op = create_op,
				.failed = create_failed,
				.undo = create_undo };

	snprintf(C.subdir, sizeof(C.subdir), "%s/sub", top);
	return fault_test(&c);
}

static int test_publish_(void)
{
	struct fault_case c = { .name = "registry publish",
				.setup = publish_setup,
				.op = publish_op,
				.failed = publish_failed,
				.verify = publish_verify,
				.undo = publish_undo,
				.teardown = publish_teardown };

	return fault_test(&c);
}

/* Open the live service, by pidfd_getfd or (@flags) by SCM_RIGHTS. */
static int run_open(const char *name, uint32_t flags)
{
	struct fault_case c = { .name = name,
				.setup = open_setup,
				.op = open_op,
				.failed = open_failed,
				.verify = open_verify,
				.undo = open_undo,
				.teardown = open_teardown,
				.eintr_retried = 1 };

	C.open_flags = flags;
	return fault_test(&c);
}

static int test_open(void)
{
	return run_open("registry open", 0);
}

static int test_open_scm(void)
{
	return run_open("registry open by SCM_RIGHTS",
			SHOAL_OPEN_NO_PIDFD_GETFD);
}

static int test_list(void)
{
	struct fault_case c = { .name = "registry list",
				.setup = open_setup,
				.op = list_op,
				.verify = list_verify,
				.teardown = open_teardown };

	return fault_test(&c);
}

static int test_clean(void)
{
	struct fault_case c = { .name = "registry clean",
				.setup = clean_setup,
				.op = clean_op,
				.failed = clean_failed,
				.verify = clean_verify,
				.teardown = clean_teardown };

	return fault_test(&c);
}

static int test_watch(void)
{
	struct fault_case c = { .name = "registry watch",
				.setup = open_setup,
				.op = watch_op,
				.failed = watch_failed,
				.verify = watch_verify,
				.undo = watch_undo,
				.teardown = open_teardown };

	return fault_test(&c);
}

static int test_watch_gone(void)
{
	struct fault_case c = { .name = "registry watch_next",
				.setup = gone_setup,
				.op = gone_op,
				.failed = gone_failed,
				.verify = gone_verify,
				.teardown = gone_teardown,
				.on_handle = 1 };

	return fault_test(&c);
}

/* What every case uses: the registry, and the directory above it. */
static int prepare(void)
{
	char *slash = strrchr(path, '/');

	memcpy(top, path, (size_t)(slash - path));
	top[slash - path] = 0;
	if (test_registry_open(path, &C.reg)) {
		fprintf(stderr, "registry: %s\n", shoal_last_error());
		return 1;
	}
	return 0;
}

static void finish(void)
{
	shoal_registry_destroy(C.reg);
}

/* An argument runs only the cases whose name contains it. */
int main(int argc, char **argv)
{
	static const struct fault_test_fn tests[] = {
		FAULT_TEST(test_create), FAULT_TEST(test_publish_),
		FAULT_TEST(test_open),	 FAULT_TEST(test_open_scm),
		FAULT_TEST(test_list),	 FAULT_TEST(test_clean),
		FAULT_TEST(test_watch),	 FAULT_TEST(test_watch_gone),
	};

	return fault_main(argc, argv, path, prepare, finish, tests,
			  sizeof(tests) / sizeof(tests[0]));
}
