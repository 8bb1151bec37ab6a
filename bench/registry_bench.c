/* SPDX-License-Identifier: MIT */
/*
 * shoal-bench-registry: what discovery costs, end to end, between real
 * processes.
 *
 *   shoal-bench-registry [--services N] [--opens N] [--list-services N]
 *                        [--runs N] [--only appear|open|list] [--dir DIR]
 *                        [--json FILE]
 *
 * Figures, each from a forked owner to this (watching or opening) process:
 *
 * appear   publish -> APPEARED: the owner reads CLOCK_MONOTONIC just before
 *          shoal_registry_publish() and leaves it in a shared page; the
 *          watcher, asleep in poll() on shoal_watch_fd(), reads the clock
 *          when shoal_watch_next() hands it the event. One service at a
 *          time (the owner waits for the watcher's acknowledgement), so
 *          each sample is one wake-up, not a place in a queue. The same
 *          sample is split into its parts: the publish call itself, its
 *          return to the event (the kernel's wake-up plus the watcher),
 *          and the watcher's own work from poll() waking to the event.
 *          Then withdraw -> GONE, and SIGKILL of an owner -> GONE (the
 *          pidfd path; a fresh owner process per sample) next to a bare
 *          pidfd of the same process, which is the kernel's share.
 * open     shoal_registry_open() alone, and open to first message: from the
 *          start of shoal_registry_open() until shoal_channel_read()
 *          returns a message of a channel the owner keeps full. Taking the
 *          fds by pidfd_getfd and by SCM_RIGHTS (SHOAL_OPEN_NO_PIDFD_GETFD)
 *          alternate, so both see the same machine.
 * list     shoal_registry_list() over one owner's many services (median of
 *          --runs); then, on the same directory, a watch's start (initial
 *          scan, one pidfd per service) drained to the last APPEARED, and
 *          the owner's SIGKILL drained to the last GONE.
 *
 * The clock is one for all processes (CLOCK_MONOTONIC), so a timestamp
 * taken in one and compared in another is meaningful. This process runs
 * on the first CPU it may use and every owner on the second, when there
 * are two. Nothing here asserts on time: a missed target is printed, the
 * exit status is 0 unless an API call failed or a service went missing.
 *
 * Fds: an owner's entry holds its descriptor plus the fd server's socket,
 * epoll fd, timerfd and a copy of each announced fd, and a watcher holds
 * one pidfd per service; the list figure raises RLIMIT_NOFILE (the hard
 * limit too, when allowed) and measures fewer services, saying so, if it
 * cannot get enough.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shoal.h>

/* Hang guard for any single wait; a benchmark that hangs is a bug. */
#define GUARD_MS 20000
/* fds an owner's entry holds with no eventfd and no helper thread:
 * descriptor, fd server socket, epoll, timerfd, copy of the memfd. */
#define FDS_PER_ENTRY 5
/* fds a process needs besides its services. */
#define FDS_SPARE 64
#define WARMUP_OPENS 20
#define KILL_SAMPLES 100

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct options {
	uint32_t services;	/* appear: services published one by one */
	uint32_t opens;		/* open: timed opens per fd path */
	uint32_t list_services; /* list: services of the one owner */
	uint32_t runs;		/* list: timed runs (median) */
	const char *only;
	const char *dir;
	const char *json;
};

/* Shared between this process and the owners it forks. */
struct ctl {
	_Atomic uint32_t ack;	   /* watcher: samples taken */
	_Atomic uint32_t ready;	   /* owner: set up, count is valid */
	_Atomic uint32_t stop;	   /* watcher: owner may withdraw and exit */
	_Atomic int32_t status;	   /* owner: 0 or the -errno that stopped it */
	_Atomic uint32_t count;	   /* owner: services published */
	_Atomic uint64_t stamps[]; /* owner: CLOCK_MONOTONIC per sample */
};

struct figure {
	const char *name;
	const char *unit; /* "us" or "ms" */
	const char *target_text;
	double target; /* in unit, compared with p50; 0: none */
	uint64_t n;
	double p50, p99, mean, min, max; /* in unit */
	char note[160];
	int measured;
};

#define FIGURES_MAX 16
static struct figure figs[FIGURES_MAX];
static int nfigs;
static char regpath[512];
static struct ctl *ctl;
static size_t ctl_size;
static int child_cpu = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v. */
static uint64_t pct(const uint64_t *v, uint64_t n, unsigned p)
{
	uint64_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

static struct figure *figure_add(const char *name, const char *unit,
				 const char *target_text, double target)
{
	struct figure *f = &figs[nfigs++];

	memset(f, 0, sizeof(*f));
	f->name = name;
	f->unit = unit;
	f->target_text = target_text;
	f->target = target;
	return f;
}

/* Fills @f from @n samples in ns (sorted in place). */
static void figure_stats(struct figure *f, uint64_t *v, uint64_t n)
{
	double scale = strcmp(f->unit, "ms") == 0 ? 1e6 : 1e3, sum = 0;

	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)v[i];
	f->n = n;
	f->p50 = (double)pct(v, n, 50) / scale;
	f->p99 = (double)pct(v, n, 99) / scale;
	f->mean = sum / (double)n / scale;
	f->min = (double)v[0] / scale;
	f->max = (double)v[n - 1] / scale;
	f->measured = 1;
}

/* Processes ------------------------------------------------------------- */

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The first two CPUs we may use: us on the first, owners on the second. */
static void cpus_setup(void)
{
	cpu_set_t set;
	int first = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (first < 0) {
			first = c;
		} else {
			child_cpu = c;
			pin(first);
			return;
		}
	}
}

static void ctl_reset(void)
{
	memset(ctl, 0, ctl_size);
}

/* Forks an owner running @fn; it dies with us. */
static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(child_cpu);
		_exit(fn(arg) ? 1 : 0);
	}
	return pid;
}

/* Waits until the owner is ready; 0, or -1 if it failed or hung. */
static int wait_ready(pid_t pid)
{
	for (int ms = 0; ms < GUARD_MS * 10; ms++) {
		if (atomic_load(&ctl->ready))
			return 0;
		if (atomic_load(&ctl->status) ||
		    waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "owner failed: %d\n",
				(int)atomic_load(&ctl->status));
			return -1;
		}
		usleep(1000);
	}
	fprintf(stderr, "owner not ready in time\n");
	return -1;
}

/* Owner side: waits for the watcher to have taken @n samples. */
static int wait_ack(uint32_t n)
{
	struct timespec ts = { 0, 20000 };

	for (uint64_t t0 = now_ns(); atomic_load(&ctl->ack) < n;) {
		if (atomic_load(&ctl->stop) ||
		    now_ns() - t0 > (uint64_t)GUARD_MS * 1000000)
			return -1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Stops an owner and reaps it; 0 if it exited cleanly. */
static int finish(pid_t pid)
{
	int st = 0;

	atomic_store(&ctl->stop, 1);
	for (int ms = 0; ms < GUARD_MS; ms++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int open_registry(struct shoal_registry **reg)
{
	struct shoal_registry_options o;

	shoal_registry_options_init(&o);
	o.dir = regpath;
	return shoal_registry_create(&o, reg);
}

/* Raises RLIMIT_NOFILE towards @want (the hard limit too, if allowed);
 * returns the soft limit obtained. */
static rlim_t raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur >= want)
		return rl.rlim_cur;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* A small ready segment that many entries may announce. */
static int small_segment(struct shoal_segment **seg)
{
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 64 };
	int err = shoal_segment_create(&obj, 1, NULL, seg);

	if (!err)
		err = shoal_segment_ready(*seg);
	return err;
}

static void spec_init(struct shoal_service_spec *spec, const char *name,
		      struct shoal_segment *seg, uint32_t flags)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = name;
	spec->pattern = SHOAL_PATTERN_CHANNEL;
	spec->access = SHOAL_ACCESS_OWNER;
	spec->memfd = shoal_segment_fd(seg);
	spec->flags = flags;
}

/* Watcher side: waits for the next event; 1 and *ev, or -1. */
static int next_event(struct shoal_watch *w, struct shoal_watch_event *ev)
{
	struct pollfd p = { .fd = shoal_watch_fd(w), .events = POLLIN };

	for (;;) {
		int r = shoal_watch_next(w, ev);

		if (r)
			return r < 0 ? (fprintf(stderr, "watch: %s\n",
						shoal_last_error()),
					-1) :
				       1;
		if (poll(&p, 1, GUARD_MS) != 1) {
			fprintf(stderr, "no watch event in %d ms\n", GUARD_MS);
			return -1;
		}
	}
}

/* appear ----------------------------------------------------------------- */

#define APPEAR_PREFIX "bench/appear/"

/* Publishes n services one at a time, then withdraws them one at a time,
 * stamping each call and waiting for the watcher in between. */
static int appear_owner(void *arg)
{
	uint32_t n = *(uint32_t *)arg;
	struct shoal_registry *reg;
	struct shoal_segment *seg;
	struct shoal_service_spec spec;
	struct shoal_entry **e = calloc(n, sizeof(*e));
	char name[64];
	int err;

	err = e ? open_registry(&reg) : -ENOMEM;
	if (!err)
		err = small_segment(&seg);
	if (err)
		goto out;
	atomic_store(&ctl->ready, 1);
	for (uint32_t i = 0; i < n; i++) {
		if (wait_ack(i))
			return 1;
		snprintf(name, sizeof(name), APPEAR_PREFIX "%u", i);
		spec_init(&spec, name, seg, 0);
		atomic_store(&ctl->stamps[i], now_ns());
		err = shoal_registry_publish(reg, &spec, &e[i]);
		atomic_store(&ctl->stamps[2 * n + i], now_ns());
		if (err)
			goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (wait_ack(n + i))
			return 1;
		atomic_store(&ctl->stamps[n + i], now_ns());
		shoal_entry_destroy(e[i]);
	}
	wait_ack(2 * n);
	shoal_segment_destroy(seg);
	shoal_registry_destroy(reg);
	free(e);
	return 0;
out:
	fprintf(stderr, "appear owner: %s\n", shoal_last_error());
	atomic_store(&ctl->status, err);
	return 1;
}

/* Publishes one service and sleeps until killed. */
static int kill_owner(void *arg)
{
	struct shoal_registry *reg;
	struct shoal_segment *seg;
	struct shoal_service_spec spec;
	struct shoal_entry *e;
	int err;

	(void)arg;
	err = open_registry(&reg);
	if (!err)
		err = small_segment(&seg);
	if (!err) {
		spec_init(&spec, "bench/kill", seg, 0);
		err = shoal_registry_publish(reg, &spec, &e);
	}
	if (err) {
		atomic_store(&ctl->status, err);
		return 1;
	}
	atomic_store(&ctl->ready, 1);
	for (int s = 0; s < GUARD_MS / 1000; s++)
		sleep(1);
	return 1;
}

static int run_appear(const struct options *o)
{
	struct figure *fp =
		figure_add("publish call (owner side)", "us", NULL, 0);
	struct figure *fa = figure_add("watch: publish -> APPEARED", "us",
				       "p50 < 100 us", 100);
	struct figure *fr = figure_add("watch: publish returned -> APPEARED",
				       "us", NULL, 0);
	struct figure *fw =
		figure_add("watch: poll() woke -> APPEARED", "us", NULL, 0);
	struct figure *fg =
		figure_add("watch: withdraw -> GONE", "us", NULL, 0);
	struct figure *fb = figure_add(
		"baseline: SIGKILL -> bare pidfd readable", "us", NULL, 0);
	struct figure *fk = figure_add("watch: SIGKILL owner -> GONE (pidfd)",
				       "us", NULL, 0);
	uint32_t n = o->services, early = 0, nwoke = 0;
	uint64_t *v = calloc(6 * (size_t)n + 2 * KILL_SAMPLES, sizeof(*v));
	uint64_t *kills = v + 6 * (size_t)n, *bare = kills + KILL_SAMPLES;
	struct shoal_registry *reg = NULL;
	struct shoal_watch *w = NULL;
	struct shoal_watch_event ev;
	int rc = -1, pidfd = -1;
	pid_t pid;

	if (!v || open_registry(&reg) || shoal_registry_watch(reg, &w))
		goto out;
	ctl_reset();
	pid = spawn(appear_owner, &n);
	if (pid < 0 || wait_ready(pid))
		goto out;
	for (uint32_t got = 0; got < 2 * n; got++) {
		struct pollfd p = { .fd = shoal_watch_fd(w), .events = POLLIN };
		uint64_t t, end, woke = 0;
		uint32_t idx;
		int r;

		/* Asleep in poll() when the change comes, like an event
		 * loop; the time from waking to the event is the watcher's
		 * own work. */
		while ((r = shoal_watch_next(w, &ev)) == 0) {
			if (poll(&p, 1, GUARD_MS) != 1)
				break;
			woke = now_ns();
		}
		if (r != 1)
			break;
		t = now_ns();
		if (woke && got < n)
			v[4 * n + nwoke++] = t - woke;
		idx = (uint32_t)strtoul(ev.info.name + strlen(APPEAR_PREFIX),
					NULL, 10);
		if (strncmp(ev.info.name, APPEAR_PREFIX,
			    strlen(APPEAR_PREFIX)) ||
		    idx >= n ||
		    ev.type != (got < n ? SHOAL_WATCH_APPEARED :
					  SHOAL_WATCH_GONE)) {
			fprintf(stderr, "unexpected event %u for %s\n", ev.type,
				ev.info.name);
			break;
		}
		v[got] = t - atomic_load(&ctl->stamps[got < n ? idx : n + idx]);
		if (got < n) {
			/* The owner may not have stamped the return yet: the
			 * event can beat it. Such samples count as 0. */
			end = atomic_load(&ctl->stamps[2 * n + idx]);
			if (!end || end > t)
				early++;
			v[3 * n + idx] = end && end < t ? t - end : 0;
		}
		atomic_store(&ctl->ack, got + 1);
	}
	if (atomic_load(&ctl->ack) != 2 * n) {
		finish(pid);
		goto out;
	}
	if (finish(pid))
		goto out;
	for (uint32_t i = 0; i < n; i++)
		v[2 * n + i] = atomic_load(&ctl->stamps[2 * n + i]) -
			       atomic_load(&ctl->stamps[i]);
	figure_stats(fa, v, n);
	figure_stats(fg, v + n, n);
	figure_stats(fp, v + 2 * n, n);
	figure_stats(fr, v + 3 * n, n);
	figure_stats(fw, v + 4 * n, nwoke);
	snprintf(fw->note, sizeof(fw->note),
		 "shoal_watch_next(): epoll, inotify read, probe (5 syscalls)");
	snprintf(fa->note, sizeof(fa->note),
		 "from the start of the publish call: the call itself is "
		 "most of it");
	snprintf(fr->note, sizeof(fr->note),
		 "%u of %u events came before the owner's call returned "
		 "(counted as 0)",
		 early, n);

	/* Deaths: the owner exits, its pidfd fires. A bare pidfd of the
	 * same process, polled directly, is the kernel's part. */
	for (uint32_t i = 0; i < KILL_SAMPLES; i++) {
		struct pollfd p;
		uint64_t t0;

		ctl_reset();
		pid = spawn(kill_owner, NULL);
		if (pid < 0 || wait_ready(pid))
			goto out;
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0 || next_event(w, &ev) < 0 ||
		    ev.type != SHOAL_WATCH_APPEARED)
			goto kill_fail;
		p.fd = pidfd;
		p.events = POLLIN;
		t0 = now_ns();
		kill(pid, SIGKILL);
		if (poll(&p, 1, GUARD_MS) != 1)
			goto kill_fail;
		bare[i] = now_ns() - t0;
		if (next_event(w, &ev) < 0 || ev.type != SHOAL_WATCH_GONE)
			goto kill_fail;
		kills[i] = now_ns() - t0;
		close(pidfd);
		pidfd = -1;
		waitpid(pid, NULL, 0);
		/* The stale file goes before the next owner publishes, so
		 * publish does not pay for the cleaning. */
		shoal_registry_clean(reg);
	}
	figure_stats(fk, kills, KILL_SAMPLES);
	figure_stats(fb, bare, KILL_SAMPLES);
	snprintf(fb->note, sizeof(fb->note),
		 "the kernel's exit of the owner, the floor for the next line");
	rc = 0;
	goto out;
kill_fail:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
out:
	if (pidfd >= 0)
		close(pidfd);
	shoal_watch_close(w);
	shoal_registry_destroy(reg);
	free(v);
	return rc;
}

/* open ------------------------------------------------------------------- */

/* Publishes a channel and keeps it full. */
static int channel_owner(void *arg)
{
	struct shoal_registry *reg;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	struct shoal_service_spec spec;
	struct shoal_entry *e;
	struct shoal_channel_options o;
	uint64_t seq = 0;
	int efds[2], err;

	(void)arg;
	shoal_channel_options_init(&o);
	o.send_timeout_ns = 50LL * 1000000;
	err = open_registry(&reg);
	if (!err)
		err = shoal_channel_create(NULL, &o, &tx);
	if (err)
		goto fail;
	shoal_channel_get_fds(tx, &fds);
	efds[0] = fds.data_eventfd;
	efds[1] = fds.space_eventfd;
	memset(&spec, 0, sizeof(spec));
	spec.name = "bench/channel";
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.access = SHOAL_ACCESS_OWNER;
	spec.memfd = fds.memfd;
	spec.eventfd_count = 2;
	spec.eventfds = efds;
	spec.type_name = "u64";
	spec.type_size = 8;
	spec.type_align = 8;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	err = shoal_registry_publish(reg, &spec, &e);
	if (err)
		goto fail;
	atomic_store(&ctl->ready, 1);
	while (!atomic_load(&ctl->stop)) {
		err = shoal_channel_write(tx, &seq, sizeof(seq));
		if (err == 0)
			seq++;
		else if (err == -EPIPE)
			usleep(1000); /* between two readers */
		else if (err != -ETIMEDOUT)
			goto fail;
	}
	shoal_entry_destroy(e);
	shoal_channel_destroy(tx);
	shoal_registry_destroy(reg);
	return 0;
fail:
	fprintf(stderr, "channel owner: %s\n", shoal_last_error());
	atomic_store(&ctl->status, err);
	return 1;
}

/* One open to first message; 0 or -errno. */
static int open_once(struct shoal_registry *reg, uint32_t flags, int source,
		     uint64_t *open_ns, uint64_t *first_ns)
{
	struct shoal_service *svc;
	struct shoal_channel *rx;
	struct shoal_channel_fds fds;
	uint64_t v, t0, t1;
	ssize_t len;
	int err;

	t0 = now_ns();
	err = shoal_registry_open(reg, "bench/channel", flags, &svc);
	t1 = now_ns();
	if (err)
		return err;
	fds.memfd = shoal_segment_fd(shoal_service_segment(svc));
	fds.data_eventfd = shoal_service_eventfd(svc, 0);
	fds.space_eventfd = shoal_service_eventfd(svc, 1);
	err = shoal_channel_open_fds(&fds, NULL, &rx);
	if (!err) {
		len = shoal_channel_read(rx, &v, sizeof(v), 1000000000LL);
		*first_ns = now_ns() - t0;
		err = len == (ssize_t)sizeof(v) ? 0 : len < 0 ? (int)len : -EIO;
		shoal_channel_close(rx);
	}
	if (!err && shoal_service_fd_source(svc) != source)
		err = -EPROTO;
	shoal_service_close(svc);
	*open_ns = t1 - t0;
	return err;
}

static int run_open(const struct options *o)
{
	struct figure *f[4];
	uint32_t n = o->opens;
	uint64_t *v = calloc(4 * (size_t)n, sizeof(*v));
	struct shoal_registry *reg = NULL;
	int rc = -1, err = 0;
	pid_t pid;

	f[0] = figure_add("open (pidfd_getfd)", "us", NULL, 0);
	f[1] = figure_add("open to first message (pidfd_getfd)", "us",
			  "p50 < 300 us", 300);
	f[2] = figure_add("open (SCM_RIGHTS)", "us", NULL, 0);
	f[3] = figure_add("open to first message (SCM_RIGHTS)", "us",
			  "p50 < 300 us", 300);
	if (!v || open_registry(&reg))
		goto out_free;
	ctl_reset();
	pid = spawn(channel_owner, NULL);
	if (pid < 0 || wait_ready(pid))
		goto out;
	/* Alternate the two paths, so both see the same noise. */
	for (uint32_t i = 0; !err && i < WARMUP_OPENS + n; i++) {
		for (int k = 0; !err && k < 2; k++) {
			uint64_t a, b;

			err = open_once(reg, k ? SHOAL_OPEN_NO_PIDFD_GETFD : 0,
					k ? SHOAL_FDS_BY_SCM_RIGHTS :
					    SHOAL_FDS_BY_PIDFD_GETFD,
					&a, &b);
			if (!err && i >= WARMUP_OPENS) {
				v[(2 * k) * n + i - WARMUP_OPENS] = a;
				v[(2 * k + 1) * n + i - WARMUP_OPENS] = b;
			}
		}
	}
	if (err) {
		fprintf(stderr, "open: %d %s\n", err, shoal_last_error());
		goto out;
	}
	for (int k = 0; k < 4; k++)
		figure_stats(f[k], v + (size_t)k * n, n);
	rc = 0;
out:
	if (pid > 0 && finish(pid))
		rc = -1;
out_free:
	shoal_registry_destroy(reg);
	free(v);
	return rc;
}

/* list ------------------------------------------------------------------- */

/* One owner's share of the list figure's services. */
struct bulk {
	uint32_t first, count;
};

/* Publishes services first..first+count-1, then waits to be killed. */
static int bulk_owner(void *arg)
{
	const struct bulk *b = arg;
	struct shoal_registry *reg;
	struct shoal_segment *seg;
	struct shoal_service_spec spec;
	struct shoal_entry *e;
	char name[64];
	int err;

	raise_nofile((rlim_t)b->count * FDS_PER_ENTRY + FDS_SPARE);
	err = open_registry(&reg);
	if (!err)
		err = small_segment(&seg);
	for (uint32_t i = 0; !err && i < b->count; i++) {
		snprintf(name, sizeof(name), "bench/list/%05u", b->first + i);
		spec_init(&spec, name, seg, 0);
		err = shoal_registry_publish(reg, &spec, &e);
	}
	if (err) {
		fprintf(stderr, "bulk owner: %s\n", shoal_last_error());
		atomic_store(&ctl->status, err);
		return 1;
	}
	/* The entries stay: this process is killed, its files go stale. */
	atomic_fetch_add(&ctl->count, b->count);
	atomic_fetch_add(&ctl->ready, 1);
	while (!atomic_load(&ctl->stop))
		pause();
	return 0;
}

static int count_cb(const struct shoal_service_info *info, void *user_data)
{
	(void)info;
	++*(uint32_t *)user_data;
	return 0;
}

#define OWNERS_MAX 64

/* Starts owners of n services in all, as few as the fd limit allows. */
static int start_bulk(uint32_t n, pid_t *pids, uint32_t *owners, uint32_t *per)
{
	static struct bulk b[OWNERS_MAX];
	rlim_t lim = raise_nofile((rlim_t)n * FDS_PER_ENTRY + FDS_SPARE);

	/* What this process got, its owners inherit. */
	*per = lim > FDS_SPARE + FDS_PER_ENTRY ?
		       (uint32_t)((lim - FDS_SPARE) / FDS_PER_ENTRY) :
		       1;
	if (*per > n)
		*per = n;
	*owners = (n + *per - 1) / *per;
	if (*owners > OWNERS_MAX) {
		fprintf(stderr, "%u owners needed for %u services\n", *owners,
			n);
		return -1;
	}
	ctl_reset();
	for (uint32_t j = 0; j < *owners; j++) {
		b[j].first = j * *per;
		b[j].count = n - b[j].first < *per ? n - b[j].first : *per;
		pids[j] = spawn(bulk_owner, &b[j]);
		if (pids[j] < 0)
			return -1;
	}
	for (int ms = 0; ms < GUARD_MS * 10; ms++) {
		if (atomic_load(&ctl->ready) == *owners)
			return 0;
		if (atomic_load(&ctl->status))
			break;
		usleep(1000);
	}
	fprintf(stderr, "bulk owners not ready: %d\n",
		(int)atomic_load(&ctl->status));
	return -1;
}

static int run_list(const struct options *o)
{
	static char title[3][96];
	struct figure *fl, *fs, *fk;
	uint64_t *v = calloc(o->runs, sizeof(*v));
	struct shoal_registry *reg = NULL;
	struct shoal_watch *w = NULL;
	struct shoal_watch_event ev;
	uint32_t n = o->list_services, owners = 0, per, seen;
	pid_t pids[OWNERS_MAX];
	uint64_t t0, first = 0;
	struct rlimit rl;
	int rc = -1, r;

	snprintf(title[0], sizeof(title[0]), "list of %u services", n);
	snprintf(title[1], sizeof(title[1]), "watch start + drain, %u services",
		 n);
	snprintf(title[2], sizeof(title[2]),
		 "SIGKILL owners of %u -> last GONE", n);
	fl = figure_add(title[0], "ms", "< 50 ms for 10,000", 50);
	fs = figure_add(title[1], "ms", NULL, 0);
	fk = figure_add(title[2], "ms", NULL, 0);
	if (!v || open_registry(&reg))
		goto out;
	if (start_bulk(n, pids, &owners, &per))
		goto out;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (owners > 1)
		snprintf(fl->note, sizeof(fl->note),
			 "%u owner processes: one may hold only %u entries "
			 "(%d fds each, RLIMIT_NOFILE %llu, hard)",
			 owners, per, FDS_PER_ENTRY,
			 (unsigned long long)rl.rlim_max);
	else
		snprintf(fl->note, sizeof(fl->note),
			 "one owner process holding all %u entries", n);

	for (uint32_t i = 0; i < o->runs; i++) {
		seen = 0;
		t0 = now_ns();
		r = shoal_registry_list(reg, count_cb, &seen);
		v[i] = now_ns() - t0;
		if (r != (int)n || seen != n) {
			fprintf(stderr, "list saw %d of %u\n", r, n);
			goto out;
		}
	}
	figure_stats(fl, v, o->runs);

	for (uint32_t i = 0; i < o->runs; i++) {
		t0 = now_ns();
		if (shoal_registry_watch(reg, &w))
			goto fail_watch;
		for (seen = 0; seen < n; seen++) {
			if (next_event(w, &ev) < 0 ||
			    ev.type != SHOAL_WATCH_APPEARED)
				goto fail_watch;
		}
		v[i] = now_ns() - t0;
		if (i + 1 < o->runs) {
			shoal_watch_close(w);
			w = NULL;
		}
	}
	figure_stats(fs, v, o->runs);
	snprintf(fs->note, sizeof(fs->note),
		 "one pidfd per owner process (%u), not per service", owners);

	/* The owners' pidfds fire; each takes its services with it. */
	t0 = now_ns();
	for (uint32_t j = 0; j < owners; j++)
		kill(pids[j], SIGKILL);
	for (seen = 0; seen < n; seen++) {
		if (next_event(w, &ev) < 0 || ev.type != SHOAL_WATCH_GONE)
			goto fail_watch;
		if (!seen)
			first = now_ns() - t0;
	}
	v[0] = now_ns() - t0;
	figure_stats(fk, v, 1);
	snprintf(fk->note, sizeof(fk->note),
		 "one run; first GONE after %.2f ms (the kernel closes an "
		 "owner's fds before its pidfd fires)",
		 (double)first / 1e6);
	rc = 0;
	goto out;
fail_watch:
	fprintf(stderr, "watch of %u: %s\n", n, shoal_last_error());
out:
	shoal_watch_close(w);
	for (uint32_t j = 0; j < owners; j++) {
		kill(pids[j], SIGKILL);
		waitpid(pids[j], NULL, 0);
	}
	if (reg)
		shoal_registry_clean(reg);
	shoal_registry_destroy(reg);
	free(v);
	return rc;
}

/* Output ----------------------------------------------------------------- */

static void print_table(FILE *out)
{
	fprintf(out, "%-44s %7s %10s %10s %10s %10s  %s\n", "figure", "n",
		"p50", "p99", "min", "max", "target");
	for (int i = 0; i < nfigs; i++) {
		const struct figure *f = &figs[i];

		if (!f->measured) {
			fprintf(out, "%-44s   (not measured)\n", f->name);
			continue;
		}
		fprintf(out, "%-44s %7llu %7.1f %s %7.1f %s %7.1f %s %7.1f %s",
			f->name, (unsigned long long)f->n, f->p50, f->unit,
			f->p99, f->unit, f->min, f->unit, f->max, f->unit);
		if (f->target > 0)
			fprintf(out, "  %s: %s", f->target_text,
				f->p50 < f->target ? "met" : "MISSED");
		fprintf(out, "\n");
		if (f->note[0])
			fprintf(out, "%-44s   %s\n", "", f->note);
	}
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int write_json(const char *file, const struct options *o)
{
	FILE *f = fopen(file, "w");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"shoal_version\": \"%s\",\n  \"registry\": ",
		shoal_version());
	json_string(f, regpath);
	fprintf(f,
		",\n  \"services\": %u,\n  \"opens\": %u,\n"
		"  \"list_services\": %u,\n  \"runs\": %u,\n"
		"  \"figures\": [\n",
		o->services, o->opens, o->list_services, o->runs);
	for (int i = 0; i < nfigs; i++) {
		const struct figure *g = &figs[i];

		fprintf(f, "    {\"name\": ");
		json_string(f, g->name);
		fprintf(f, ", \"unit\": \"%s\", \"measured\": %s", g->unit,
			g->measured ? "true" : "false");
		if (g->measured)
			fprintf(f,
				", \"n\": %llu, \"p50\": %.3f, \"p99\": %.3f, "
				"\"mean\": %.3f, \"min\": %.3f, \"max\": %.3f",
				(unsigned long long)g->n, g->p50, g->p99,
				g->mean, g->min, g->max);
		if (g->target > 0) {
			fprintf(f, ", \"target\": ");
			json_string(f, g->target_text);
			fprintf(f, ", \"met\": %s",
				g->measured && g->p50 < g->target ? "true" :
								    "false");
		}
		if (g->note[0]) {
			fprintf(f, ", \"note\": ");
			json_string(f, g->note);
		}
		fprintf(f, "}%s\n", i + 1 < nfigs ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) ? -errno : 0;
}

/* Main ------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shoal-bench-registry [--services N] [--opens N]\n"
		"         [--list-services N] [--runs N] [--only appear|open|list]\n"
		"         [--dir DIR] [--json FILE]\n"
		"  --services N       appear: services published one by one (1000)\n"
		"  --opens N          open: timed opens per fd path (1000)\n"
		"  --list-services N  list: services of one owner (10000)\n"
		"  --runs N           list and watch start: runs, median (5)\n"
		"  --only NAME        one group of figures\n"
		"  --dir DIR          make the temporary registry under DIR\n"
		"                     (default /dev/shm, else /tmp)\n"
		"  --json FILE        also write the results to FILE\n");
}

static int parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ "opens", required_argument, NULL, 'o' },
		{ "list-services", required_argument, NULL, 'l' },
		{ "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'O' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->services = 1000;
	o->opens = 1000;
	o->list_services = 10000;
	o->runs = 5;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->services = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			o->opens = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'l':
			o->list_services = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			o->runs = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'O':
			o->only = optarg;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !o->services || !o->opens || !o->list_services ||
	    !o->runs ||
	    (o->only && strcmp(o->only, "appear") && strcmp(o->only, "open") &&
	     strcmp(o->only, "list"))) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Removes the temporary registry and the directory around it. */
static void remove_registry(void)
{
	char file[1024], *slash;
	struct dirent *de;
	DIR *d = opendir(regpath);

	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(file, sizeof(file), "%s/%s", regpath,
				 de->d_name);
			unlink(file);
		}
	}
	if (d)
		closedir(d);
	rmdir(regpath);
	slash = strrchr(regpath, '/');
	if (slash) {
		*slash = '\0';
		rmdir(regpath);
		*slash = '/';
	}
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	char tmpl[400];
	struct stat st;
	int failed = 0;

	if (parse(argc, argv, &o))
		return 2;
	if (!o.dir)
		o.dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/shoal-bench-registry-XXXXXX", o.dir);
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(regpath, sizeof(regpath), "%s/reg", tmpl);
	ctl_size = sizeof(*ctl) +
		   (3 * (size_t)o.services + 1) * sizeof(ctl->stamps[0]);
	ctl = mmap(NULL, ctl_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	cpus_setup();
	printf("shoal-bench-registry: shoal %s, registry %s, cpus %s\n",
	       shoal_version(), regpath,
	       child_cpu >= 0 ? "pinned (watcher, owner)" : "unpinned");
	fflush(stdout);

	if (!o.only || !strcmp(o.only, "appear"))
		failed |= run_appear(&o) != 0;
	if (!o.only || !strcmp(o.only, "open"))
		failed |= run_open(&o) != 0;
	if (!o.only || !strcmp(o.only, "list"))
		failed |= run_list(&o) != 0;

	print_table(stdout);
	if (o.json) {
		int err = write_json(o.json, &o);

		if (err) {
			fprintf(stderr, "%s: %s\n", o.json, strerror(-err));
			failed = 1;
		}
	}
	remove_registry();
	return failed;
}
