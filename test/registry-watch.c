/* shoal-test: label=multiproc timeout=120 */
/*
 * Watching the registry: forked owners publish, withdraw, die by SIGKILL
 * and re-publish, and the watcher's events must tell the story exactly:
 * every service that is there is APPEARED once, every one that goes is GONE
 * once, an owner's death (of one or several services, which share its
 * pidfd) is seen through its pidfd while its stale files are still in the
 * directory, a new owner of the same name, or the same owner with a new
 * segment, is a new epoch, and after an inotify queue overflow the
 * watcher's idea of what is live is again exactly what
 * shoal_registry_list() says.
 *
 * The watcher side keeps a model of what the events say is live and fails
 * on any event that does not fit it (APPEARED for a name it believes live,
 * GONE for one it does not). "Nothing more happened" is checked with a
 * barrier, never by waiting: the parent publishes a marker service after
 * the changes, and inotify reports in order, so once the marker has
 * appeared every earlier change has been seen (or, after an overflow,
 * rescanned). Poll timeouts are hang guards only.
 */
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>

#include "harness.h"
#include "registry_util.h"

/* Hang guard for one wait on the watch fd. */
#define GUARD_MS 30000
#define MODEL_MAX 512
#define LOG_MAX 1024
#define SLOTS 8

/* The owners' side ------------------------------------------------------ */

enum {
	CMD_STAY = 0,
	CMD_WITHDRAW_HALF = 1,
	CMD_EXIT = 2
};
enum {
	ST_STARTING = 0,
	ST_PUBLISHED = 1,
	ST_HALF_DONE = 2
};

/* One forked owner, in a shared page: what to publish and what to do. */
struct slot {
	_Atomic int state; /* ST_*, or a negative errno from publish */
	_Atomic int cmd;   /* CMD_*, written by the parent */
	uint64_t epoch;	   /* of the first service */
	uint32_t count;	   /* services: "base" if 1, else "base/0".. */
	uint32_t flags;	   /* SHOAL_PUBLISH_* */
	char base[64];
};

static struct slot *slots;
static char path[PATH_MAX];

static void service_name(const struct slot *s, uint32_t i, char *name,
			 size_t cap)
{
	if (s->count == 1)
		snprintf(name, cap, "%s", s->base);
	else
		snprintf(name, cap, "%s/%u", s->base, i);
}

static void owner(struct slot *s)
{
	struct shoal_registry *reg;
	struct test_service *ts = calloc(s->count, sizeof(*ts));
	char name[128];
	int err = test_registry_open(path, &reg);

	for (uint32_t i = 0; !err && i < s->count; i++) {
		service_name(s, i, name, sizeof(name));
		err = test_publish(reg, name, SHOAL_ACCESS_OWNER, s->flags,
				   &ts[i]);
	}
	if (err) {
		atomic_store(&s->state, err);
		_exit(1);
	}
	s->epoch = shoal_entry_epoch(ts[0].entry);
	atomic_store(&s->state, ST_PUBLISHED);
	/* Hang guard: a parent that failed never sends CMD_EXIT. */
	for (int ms = 0; ms < 100000; ms++) {
		int cmd = atomic_load(&s->cmd);

		if (cmd == CMD_WITHDRAW_HALF &&
		    atomic_load(&s->state) == ST_PUBLISHED) {
			for (uint32_t i = 0; i < s->count; i += 2) {
				test_unpublish(&ts[i]);
				ts[i].entry = NULL;
			}
			atomic_store(&s->state, ST_HALF_DONE);
		}
		if (cmd == CMD_EXIT)
			break;
		usleep(1000);
	}
	for (uint32_t i = 0; i < s->count; i++) {
		if (ts[i].entry)
			test_unpublish(&ts[i]);
	}
	shoal_registry_destroy(reg);
	_exit(0);
}

/* Forks an owner of @count services under @base and waits until they are
 * published. Returns its pid, or -1. */
static pid_t spawn(int idx, const char *base, uint32_t count, uint32_t flags)
{
	struct slot *s = &slots[idx];
	pid_t pid;

	memset(s, 0, sizeof(*s));
	snprintf(s->base, sizeof(s->base), "%s", base);
	s->count = count;
	s->flags = flags;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		owner(s);
	for (int ms = 0; ms < GUARD_MS; ms++) {
		int st = atomic_load(&s->state);

		if (st == ST_PUBLISHED)
			return pid;
		if (st < 0 || waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "owner %s failed: %d\n", base, st);
			return -1;
		}
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Tells an owner to withdraw everything and exit; 1 if it did. */
static int finish(int idx, pid_t pid)
{
	atomic_store(&slots[idx].cmd, CMD_EXIT);
	return test_wait_child(pid, 30);
}

/* The watcher's side ---------------------------------------------------- */

struct live {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	uint64_t epoch;
	int32_t pid;
};

struct logged {
	uint32_t type;
	uint64_t epoch;
	char name[SHOAL_SERVICE_NAME_MAX + 1];
};

/* What the events say is live, and every event seen. */
struct model {
	int n;
	struct live s[MODEL_MAX];
	int nlog;
	struct logged log[LOG_MAX];
};

static int model_find(const struct model *m, const char *name)
{
	for (int i = 0; i < m->n; i++) {
		if (strcmp(m->s[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* Applies one event; 0, or -1 if it contradicts the model. */
static int model_apply(struct model *m, const struct shoal_watch_event *ev)
{
	int i = model_find(m, ev->info.name);

	if (m->nlog < LOG_MAX) {
		struct logged *l = &m->log[m->nlog++];

		l->type = ev->type;
		l->epoch = ev->info.epoch;
		snprintf(l->name, sizeof(l->name), "%s", ev->info.name);
	}
	if (ev->type == SHOAL_WATCH_APPEARED) {
		if (i >= 0 || m->n == MODEL_MAX) {
			fprintf(stderr,
				"APPEARED %s epoch %llx, but it is already "
				"live (epoch %llx)\n",
				ev->info.name,
				(unsigned long long)ev->info.epoch,
				i >= 0 ? (unsigned long long)m->s[i].epoch :
					 0ULL);
			return -1;
		}
		snprintf(m->s[m->n].name, sizeof(m->s[0].name), "%s",
			 ev->info.name);
		m->s[m->n].epoch = ev->info.epoch;
		m->s[m->n].pid = ev->info.pid;
		m->n++;
		return 0;
	}
	if (ev->type == SHOAL_WATCH_GONE) {
		if (i < 0 || m->s[i].epoch != ev->info.epoch) {
			fprintf(stderr, "GONE %s epoch %llx, not live\n",
				ev->info.name,
				(unsigned long long)ev->info.epoch);
			return -1;
		}
		m->s[i] = m->s[--m->n];
		return 0;
	}
	fprintf(stderr, "event of type %u\n", ev->type);
	return -1;
}

/* Applies every pending event; 0 or -1. */
static int drain(struct shoal_watch *w, struct model *m)
{
	struct shoal_watch_event ev;
	int r;

	while ((r = shoal_watch_next(w, &ev)) == 1) {
		if (model_apply(m, &ev))
			return -1;
	}
	if (r < 0)
		fprintf(stderr, "watch_next: %d %s\n", r, shoal_last_error());
	return r;
}

/* Drains until @name is live with @epoch (0: any), or, with @gone, not
 * live. Waits on the watch fd in between. 0, or -1 (hang guard). */
static int pump_until(struct shoal_watch *w, struct model *m, const char *name,
		      uint64_t epoch, int gone)
{
	struct pollfd p = { .fd = shoal_watch_fd(w), .events = POLLIN };

	for (;;) {
		int i;

		if (drain(w, m))
			return -1;
		i = model_find(m, name);
		if (gone ? i < 0 : i >= 0 && (!epoch || m->s[i].epoch == epoch))
			return 0;
		if (poll(&p, 1, GUARD_MS) != 1) {
			fprintf(stderr, "no event for %s within %d ms\n", name,
				GUARD_MS);
			return -1;
		}
	}
}

/* Drains until @n services are live. */
static int pump_count(struct shoal_watch *w, struct model *m, int n)
{
	struct pollfd p = { .fd = shoal_watch_fd(w), .events = POLLIN };

	for (;;) {
		if (drain(w, m))
			return -1;
		if (m->n == n)
			return 0;
		if (poll(&p, 1, GUARD_MS) != 1) {
			fprintf(stderr, "%d services live, want %d\n", m->n, n);
			return -1;
		}
	}
}

/*
 * The barrier: publish a marker from this process and drain until it has
 * appeared. Everything that changed in the directory before is reported by
 * then. Then withdraw it and drain until it is gone.
 */
static int barrier(struct shoal_registry *reg, struct shoal_watch *w,
		   struct model *m, int *log_mark)
{
	struct test_service ts;
	int err = test_publish(reg, "marker", SHOAL_ACCESS_OWNER, 0, &ts);

	if (err)
		return -1;
	err = pump_until(w, m, "marker", shoal_entry_epoch(ts.entry), 0);
	/* Where the marker's APPEARED is in the log: what came before it is
	 * what the changes produced. */
	*log_mark = m->nlog - 1;
	test_unpublish(&ts);
	if (!err)
		err = pump_until(w, m, "marker", 0, 1);
	return err;
}

/* How many events in log[0..end) are @type for @name. */
static int count_events(const struct model *m, int end, uint32_t type,
			const char *name)
{
	int n = 0;

	for (int i = 0; i < end; i++)
		n += m->log[i].type == type &&
		     strcmp(m->log[i].name, name) == 0;
	return n;
}

/* A fresh registry and a watch on it. */
static int setup(struct shoal_registry **reg, struct shoal_watch **w,
		 struct model *m)
{
	memset(m, 0, sizeof(*m));
	if (test_registry_path(path, sizeof(path)) ||
	    test_registry_open(path, reg))
		return -1;
	if (shoal_registry_watch(*reg, w)) {
		shoal_registry_destroy(*reg);
		return -1;
	}
	return 0;
}

/* Removes the registry directory and the temporary one around it. */
static void remove_registry(void)
{
	char file[PATH_MAX + 300], *slash;
	struct dirent *de;
	DIR *d = opendir(path);

	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			unlink(file);
		}
	}
	if (d)
		closedir(d);
	rmdir(path);
	slash = strrchr(path, '/');
	*slash = '\0';
	rmdir(path);
}

static void teardown(struct shoal_registry *reg, struct shoal_watch *w)
{
	shoal_watch_close(w);
	shoal_registry_destroy(reg);
	remove_registry();
}

static int is_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* The cases ------------------------------------------------------------- */

static struct model model;

static int test_present_before_watch(void)
{
	struct shoal_registry *reg;
	struct shoal_watch *w;
	struct shoal_watch_event ev;
	int fds_before = test_count_fds(), i;
	pid_t a, b, c;

	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	a = spawn(0, "pre/a", 1, SHOAL_PUBLISH_SERVER_THREAD);
	b = spawn(1, "pre/b", 1, SHOAL_PUBLISH_SERVER_THREAD);
	c = spawn(2, "pre/many", 5, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(a > 0 && b > 0 && c > 0);

	memset(&model, 0, sizeof(model));
	CHECK_EQ(shoal_registry_watch(reg, &w), 0);
	CHECK_EQ(shoal_watch_next(NULL, &ev), -EINVAL);
	CHECK_EQ(shoal_watch_next(w, NULL), -EINVAL);
	/* Events are pending from the start: the fd must say so, or a
	 * caller that polls before its first next() would sleep. */
	CHECK(is_readable(shoal_watch_fd(w)));
	CHECK_EQ(drain(w, &model), 0);
	CHECK_EQ(model.n, 7);
	CHECK_EQ(model.nlog, 7);
	i = model_find(&model, "pre/a");
	CHECK(i >= 0);
	CHECK_EQ(model.s[i].epoch, slots[0].epoch);
	CHECK_EQ(model.s[i].pid, a);
	i = model_find(&model, "pre/many/4");
	CHECK(i >= 0);
	CHECK_EQ(model.s[i].pid, c);
	/* Drained, with every owner alive and idle: nothing to report, and
	 * the fd is quiet. */
	CHECK_EQ(shoal_watch_next(w, &ev), 0);
	CHECK(!is_readable(shoal_watch_fd(w)));

	CHECK(finish(0, a) && finish(1, b) && finish(2, c));
	CHECK_EQ(pump_count(w, &model, 0), 0);
	CHECK_EQ(model.nlog, 14);
	teardown(reg, w);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

static int test_appear_and_withdraw(void)
{
	struct shoal_registry *reg;
	struct shoal_watch *w;
	struct shoal_watch_event ev;
	int fds_before = test_count_fds(), mark;
	pid_t a;

	CHECK_EQ(setup(&reg, &w, &model), 0);
	CHECK_EQ(shoal_watch_next(w, &ev), 0);
	a = spawn(0, "live/a", 1, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(a > 0);
	CHECK_EQ(pump_until(w, &model, "live/a", 0, 0), 0);
	/* The event carries the descriptor's information. */
	CHECK_EQ(model.nlog, 1);
	CHECK_EQ(model.log[0].type, SHOAL_WATCH_APPEARED);
	CHECK_EQ(model.s[0].epoch, slots[0].epoch);
	CHECK_EQ(model.s[0].pid, a);

	/* Graceful withdrawal, then the owner exits: the file goes and the
	 * pidfd fires, and still there is one GONE. */
	CHECK(finish(0, a));
	CHECK_EQ(pump_until(w, &model, "live/a", 0, 1), 0);
	CHECK_EQ(barrier(reg, w, &model, &mark), 0);
	CHECK_EQ(count_events(&model, mark, SHOAL_WATCH_APPEARED, "live/a"), 1);
	CHECK_EQ(count_events(&model, mark, SHOAL_WATCH_GONE, "live/a"), 1);
	CHECK_EQ(count_events(&model, model.nlog, SHOAL_WATCH_GONE, "live/a"),
		 1);
	CHECK_EQ(model.log[1].type, SHOAL_WATCH_GONE);
	CHECK_EQ(model.log[1].epoch, slots[0].epoch);
	teardown(reg, w);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

static int count_cb(const struct shoal_service_info *info, void *user_data)
{
	(void)info;
	++*(int *)user_data;
	return 0;
}

static int file_exists(const char *file)
{
	char p[PATH_MAX + 300];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", path, file);
	return lstat(p, &st) == 0;
}

static int test_sigkill_owner(void)
{
	struct shoal_registry *reg;
	struct shoal_watch *w;
	int fds_before = test_count_fds(), n = 0, mark;
	pid_t a, b;

	CHECK_EQ(setup(&reg, &w, &model), 0);
	a = spawn(0, "crash/a", 1, SHOAL_PUBLISH_SERVER_THREAD);
	/* Three services of one owner share its pidfd. */
	b = spawn(1, "crash/many", 3, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(a > 0 && b > 0);
	CHECK_EQ(pump_count(w, &model, 4), 0);

	/* Not reaped yet: only their pidfds can tell. */
	kill(a, SIGKILL);
	CHECK_EQ(pump_until(w, &model, "crash/a", 0, 1), 0);
	CHECK_EQ(model.n, 3);
	kill(b, SIGKILL);
	CHECK_EQ(pump_count(w, &model, 0), 0);
	CHECK(file_exists("crash%a") && file_exists("crash%many%2"));
	CHECK_EQ(waitpid(a, NULL, 0), a);
	CHECK_EQ(waitpid(b, NULL, 0), b);
	CHECK_EQ(shoal_registry_list(reg, count_cb, &n), 0);

	/* Cleaning removes the stale files; that is no second GONE. */
	CHECK_EQ(shoal_registry_clean(reg), 4);
	CHECK(!file_exists("crash%a"));
	CHECK_EQ(barrier(reg, w, &model, &mark), 0);
	CHECK_EQ(mark, 8);
	CHECK_EQ(count_events(&model, model.nlog, SHOAL_WATCH_GONE, "crash/a"),
		 1);
	CHECK_EQ(count_events(&model, model.nlog, SHOAL_WATCH_GONE,
			      "crash/many/1"),
		 1);
	CHECK_EQ(model.log[4].type, SHOAL_WATCH_GONE);
	CHECK_EQ(model.log[4].epoch, slots[0].epoch);
	teardown(reg, w);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

static int test_republish_new_owner(void)
{
	struct shoal_registry *reg;
	struct shoal_watch *w;
	int fds_before = test_count_fds(), mark, first;
	struct test_service ts;
	uint64_t e1, e2, e3;
	pid_t a, b, c;

	CHECK_EQ(setup(&reg, &w, &model), 0);
	a = spawn(0, "re/x", 1, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(a > 0);
	e1 = slots[0].epoch;
	CHECK_EQ(pump_until(w, &model, "re/x", e1, 0), 0);
	kill(a, SIGKILL);
	CHECK_EQ(pump_until(w, &model, "re/x", 0, 1), 0);
	CHECK_EQ(waitpid(a, NULL, 0), a);

	/* A new owner replaces the stale file: a new epoch appears. */
	b = spawn(1, "re/x", 1, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(b > 0);
	e2 = slots[1].epoch;
	CHECK(e2 != e1);
	CHECK_EQ(pump_until(w, &model, "re/x", e2, 0), 0);
	CHECK_EQ(model.s[model_find(&model, "re/x")].pid, b);

	/* Withdraw and re-publish by another owner while the watcher does
	 * not look: the old incarnation goes, then the new one appears. */
	first = model.nlog;
	CHECK(finish(1, b));
	c = spawn(2, "re/x", 1, SHOAL_PUBLISH_SERVER_THREAD);
	CHECK(c > 0);
	e3 = slots[2].epoch;
	CHECK(e3 != e2);
	CHECK_EQ(pump_until(w, &model, "re/x", e3, 0), 0);
	CHECK_EQ(barrier(reg, w, &model, &mark), 0);
	CHECK_EQ(mark, first + 2);
	CHECK_EQ(model.log[first].type, SHOAL_WATCH_GONE);
	CHECK_EQ(model.log[first].epoch, e2);
	CHECK_EQ(model.log[first + 1].type, SHOAL_WATCH_APPEARED);
	CHECK_EQ(model.log[first + 1].epoch, e3);

	/* The same process withdraws and publishes the name again with a
	 * new segment: same owner, new epoch, so GONE then APPEARED. */
	CHECK_EQ(test_publish(reg, "re/self", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	e1 = shoal_entry_epoch(ts.entry);
	CHECK_EQ(pump_until(w, &model, "re/self", e1, 0), 0);
	first = model.nlog;
	test_unpublish(&ts);
	CHECK_EQ(test_publish(reg, "re/self", SHOAL_ACCESS_OWNER, 0, &ts), 0);
	e2 = shoal_entry_epoch(ts.entry);
	CHECK(e2 != e1);
	CHECK_EQ(pump_until(w, &model, "re/self", e2, 0), 0);
	CHECK_EQ(model.nlog, first + 2);
	CHECK_EQ(model.log[first].type, SHOAL_WATCH_GONE);
	CHECK_EQ(model.log[first].epoch, e1);
	test_unpublish(&ts);

	CHECK(finish(2, c));
	CHECK_EQ(pump_count(w, &model, 0), 0);
	teardown(reg, w);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

/* What shoal_registry_list() says is live. */
struct listed {
	int n;
	struct live s[MODEL_MAX];
};

static int list_cb(const struct shoal_service_info *info, void *user_data)
{
	struct listed *l = user_data;

	if (l->n == MODEL_MAX)
		return 1;
	snprintf(l->s[l->n].name, sizeof(l->s[0].name), "%s", info->name);
	l->s[l->n].epoch = info->epoch;
	l->n++;
	return 0;
}

/* The watcher's set equals the lister's: names and epochs. */
static int same_as_list(struct shoal_registry *reg, const struct model *m)
{
	static struct listed l;

	memset(&l, 0, sizeof(l));
	if (shoal_registry_list(reg, list_cb, &l) != m->n || l.n != m->n) {
		fprintf(stderr, "list has %d services, the watcher %d\n", l.n,
			m->n);
		return 0;
	}
	for (int i = 0; i < l.n; i++) {
		int j = model_find(m, l.s[i].name);

		if (j < 0 || m->s[j].epoch != l.s[i].epoch) {
			fprintf(stderr,
				"listed %s is not live to the watcher\n",
				l.s[i].name);
			return 0;
		}
	}
	return 1;
}

#define QUEUED_EVENTS_SYSCTL "/proc/sys/fs/inotify/max_queued_events"
#define SYSCTL_LOCK "/tmp/shoal-test-inotify-sysctl.lock"
#define BULK 100

static long read_sysctl(void)
{
	FILE *f = fopen(QUEUED_EVENTS_SYSCTL, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_sysctl(long v)
{
	FILE *f = fopen(QUEUED_EVENTS_SYSCTL, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * Overflow. A watch whose inotify queue holds few events (the sysctl is
 * read when the inotify instance is created, so it is lowered only around
 * shoal_registry_watch() and restored at once) learns 13 services, then,
 * without reading, sees BULK publications that overflow the queue,
 * followed by 5 withdrawals whose events are dropped and 3 deaths. Without
 * root the queue keeps its size and one name is published and withdrawn
 * until it must have overflowed.
 */
static int test_overflow(void)
{
	struct shoal_registry *reg;
	struct shoal_watch *w;
	int fds_before = test_count_fds(), mark, err, small = 0, lock;
	long saved;
	pid_t keep, die, bulk;

	memset(&model, 0, sizeof(model));
	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	/* Two copies of this test running at once must not save each
	 * other's lowered value as the one to restore. Who cannot open the
	 * lock (another user made it) cannot write the sysctl either. */
	lock = open(SYSCTL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0 && flock(lock, LOCK_EX) < 0) {
		close(lock);
		lock = -1;
	}
	saved = read_sysctl();
	if (lock >= 0 && saved > 0 && write_sysctl(16) == 0) {
		small = 1;
		err = shoal_registry_watch(reg, &w);
		if (write_sysctl(saved))
			err = -EIO;
	} else {
		err = shoal_registry_watch(reg, &w);
	}
	if (lock >= 0)
		close(lock);
	CHECK_EQ(err, 0);
	CHECK(saved > 0);

	keep = spawn(0, "ov/half", 10, 0);
	die = spawn(1, "ov/dead", 3, 0);
	CHECK(keep > 0 && die > 0);
	CHECK_EQ(pump_count(w, &model, 13), 0);

	/* From here on the watcher does not read until the barrier. */
	bulk = spawn(2, "ov/bulk", BULK, 0);
	CHECK(bulk > 0);
	atomic_store(&slots[0].cmd, CMD_WITHDRAW_HALF);
	for (int ms = 0;
	     atomic_load(&slots[0].state) != ST_HALF_DONE && ms < GUARD_MS;
	     ms++)
		usleep(1000);
	CHECK_EQ(atomic_load(&slots[0].state), ST_HALF_DONE);
	kill(die, SIGKILL);
	CHECK_EQ(waitpid(die, NULL, 0), die);
	if (!small) {
		struct shoal_registry *r2;
		struct test_service ts;

		CHECK_EQ(test_registry_open(path, &r2), 0);
		for (long i = 0; i < saved / 2 + 16; i++) {
			CHECK_EQ(test_publish(r2, "ov/churn",
					      SHOAL_ACCESS_OWNER, 0, &ts),
				 0);
			test_unpublish(&ts);
		}
		shoal_registry_destroy(r2);
	}

	CHECK_EQ(barrier(reg, w, &model, &mark), 0);
	CHECK_EQ(drain(w, &model), 0);
	/* 5 of ov/half, all of ov/bulk. */
	CHECK_EQ(model.n, 5 + BULK);
	CHECK(same_as_list(reg, &model));
	for (int i = 0; i < 10; i++) {
		char name[32];

		snprintf(name, sizeof(name), "ov/half/%d", i);
		CHECK_EQ(model_find(&model, name) >= 0, i % 2);
	}

	/* And back down to nothing, overflowing again on the way. */
	CHECK(finish(0, keep) && finish(2, bulk));
	CHECK_EQ(pump_count(w, &model, 0), 0);
	CHECK(same_as_list(reg, &model));
	CHECK_EQ(shoal_registry_clean(reg), 3); /* ov/dead's stale files */
	teardown(reg, w);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

int main(void)
{
	slots = mmap(NULL, SLOTS * sizeof(*slots), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return TEST_FAIL;
	RUN(test_present_before_watch);
	RUN(test_appear_and_withdraw);
	RUN(test_sigkill_owner);
	RUN(test_republish_new_owner);
	RUN(test_overflow);
	return test_result();
}
