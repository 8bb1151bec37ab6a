/* SPDX-License-Identifier: MIT */
/*
 * shoal-bench harness: CPU pinning, forked pairs over a shared control page,
 * the watchdog, percentile and trial statistics, the table and the JSON copy.
 * See harness.h for the overview.
 */
#include "harness.h"
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * A 64-bit counter alone on its cache line, so the two writers never share one.
 */
struct bench_line_u64 {
	_Alignas(BENCH_LINE) _Atomic uint64_t v;
	uint8_t pad[BENCH_LINE - sizeof(uint64_t)];
};

/*
 * The control page of a pair, in MAP_SHARED memory created before fork.
 * arrive[k] is written only by side k (0 parent, 1 child); values[] by
 * whichever side publishes them; abort[k] and note/status by side k.
 */
struct bench_ctl {
	struct bench_line_u64 arrive[2];
	struct bench_line_u64 abort[2];
	_Alignas(BENCH_LINE) _Atomic uint64_t values[BENCH_SIDE_VALUES];
	_Alignas(BENCH_LINE) int32_t child_status;
	double child_share; /* see bench_pair_times */
	char child_note[BENCH_NOTE_MAX];
};

static struct bench_pair_times last_times;

/* Watchdog state, read by the SIGALRM handler. */
static volatile sig_atomic_t watchdog_child;
static const char *volatile watchdog_figure = "?";
static struct bench_ctl *volatile watchdog_ctl;
static char *volatile watchdog_parent_note;

/* Clock reads timed by bench_clock_cost_ns(). */
#define CLOCK_PROBES 200000

double bench_clock_cost_ns(void)
{
	uint64_t t0, t1, sink = 0;
	int i;

	t0 = bench_now_ns();
	for (i = 0; i < CLOCK_PROBES; i++)
		sink += bench_now_ns();
	t1 = bench_now_ns();
	bench_escape(&sink);
	return (double)(t1 - t0) / CLOCK_PROBES;
}

/* Idle and total jiffies of all CPUs, from /proc/stat. */
static int cpu_jiffies(unsigned long long *idle, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n, i;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 5)
		return -1;
	*idle = v[3] + v[4];
	for (*total = 0, i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

double bench_cpu_idle(unsigned int ms)
{
	unsigned long long i0, t0, i1, t1;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	if (cpu_jiffies(&i0, &t0))
		return -1;
	nanosleep(&ts, NULL);
	if (cpu_jiffies(&i1, &t1) || t1 == t0)
		return -1;
	return (double)(i1 - i0) / (double)(t1 - t0);
}

/* CPU time of this process, in ns (a system call: keep it off hot paths). */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU over wall time since the side's first barrier, or -1. */
static double side_share(const struct bench_side *s)
{
	uint64_t wall = bench_now_ns() - s->wall0;

	if (!s->wall0 || !wall)
		return -1;
	return (double)(cpu_now_ns() - s->cpu0) / (double)wall;
}

void bench_pair_last(struct bench_pair_times *t)
{
	*t = last_times;
}

int bench_cpus_setup(struct bench_cpus *cpus)
{
	cpu_set_t set;
	int cpu, found = 0;

	cpus->available = 0;
	cpus->pinned = 0;
	cpus->parent_cpu = -1;
	cpus->child_cpu = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	cpus->available = CPU_COUNT(&set);
	for (cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (found++ == 0)
			cpus->parent_cpu = cpu;
		else
			cpus->child_cpu = cpu;
	}
	if (found < 2) {
		/* One CPU: pinning both sides to it would change nothing. */
		cpus->parent_cpu = -1;
		cpus->child_cpu = -1;
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpus->parent_cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	cpus->pinned = 1;
	return 0;
}

void *bench_shm_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Fault every page in now, in the parent, so no sample pays for it. */
	memset(p, 0, size);
	return p;
}

void bench_shm_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

void *bench_buf_alloc(size_t size)
{
	void *p = aligned_alloc(4096, (size + 4095) & ~(size_t)4095);

	if (p)
		memset(p, 0, size);
	return p;
}

void bench_watchdog_name(const char *name)
{
	watchdog_figure = name;
}

static void watchdog_write(const char *s)
{
	ssize_t rc = write(2, s, strlen(s));

	(void)rc;
}

/* SIGALRM: a figure hung. Say which, with what each side noted, and stop. */
static void watchdog_fire(int sig)
{
	struct bench_ctl *ctl = watchdog_ctl;
	char *pnote = watchdog_parent_note;

	(void)sig;
	if (watchdog_child > 0)
		kill((pid_t)watchdog_child, SIGKILL);
	watchdog_write("\nshoal-bench: figure ");
	watchdog_write((const char *)watchdog_figure);
	watchdog_write(" did not finish before the watchdog; stopping\n");
	if (pnote && pnote[0]) {
		watchdog_write("  parent: ");
		watchdog_write(pnote);
		watchdog_write("\n");
	}
	if (ctl && ctl->child_note[0]) {
		watchdog_write("  child: ");
		watchdog_write(ctl->child_note);
		watchdog_write("\n");
	}
	_exit(2);
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/*
	 * A failure only costs accuracy; the header already says where we meant
	 * to run.
	 */
	(void)sched_setaffinity(0, sizeof(set), &set);
}

int bench_side_sync(struct bench_side *s)
{
	int me = s->is_child, other = !s->is_child;
	uint64_t mine, spins = 0;

	if (!s->wall0) {
		s->cpu0 = cpu_now_ns();
		s->wall0 = bench_now_ns();
	}
	/*
	 * Release: what this side did before the barrier; pairs with the
	 * acquire below, on the other side.
	 */
	mine = atomic_load_explicit(&s->ctl->arrive[me].v,
				    memory_order_relaxed) +
	       1;
	atomic_store_explicit(&s->ctl->arrive[me].v, mine,
			      memory_order_release);
	while (atomic_load_explicit(&s->ctl->arrive[other].v,
				    memory_order_acquire) < mine) {
		if (atomic_load_explicit(&s->ctl->abort[other].v,
					 memory_order_acquire))
			return -ECANCELED;
		/*
		 * Yield now and then: with one CPU the other side needs it to
		 * arrive.
		 */
		if (++spins % 1024 == 0)
			sched_yield();
		else
			bench_pause();
	}
	return 0;
}

int bench_side_report(struct bench_side *s, uint64_t wakeups, uint64_t sleeps)
{
	bench_side_put(s, BENCH_SIDE_WAKEUPS, wakeups);
	bench_side_put(s, BENCH_SIDE_SLEEPS, sleeps);
	return bench_side_sync(s);
}

int bench_side_cancelled(struct bench_side *s)
{
	return atomic_load_explicit(&s->ctl->abort[!s->is_child].v,
				    memory_order_acquire) != 0;
}

void bench_side_put(struct bench_side *s, unsigned int slot, uint64_t v)
{
	if (slot < BENCH_SIDE_VALUES)
		atomic_store_explicit(&s->ctl->values[slot], v,
				      memory_order_release);
}

uint64_t bench_side_get(struct bench_side *s, unsigned int slot)
{
	if (slot >= BENCH_SIDE_VALUES)
		return 0;
	return atomic_load_explicit(&s->ctl->values[slot],
				    memory_order_acquire);
}

void bench_side_note(struct bench_side *s, const char *fmt, ...)
{
	va_list ap;

	/*
	 * Keep the first explanation: later ones are usually its consequences.
	 */
	if (s->note[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->note, BENCH_NOTE_MAX, fmt, ap);
	va_end(ap);
}

static void give_up(struct bench_ctl *ctl, int side)
{
	/*
	 * Release: the note written above; pairs with the acquire in
	 * bench_side_sync.
	 */
	atomic_store_explicit(&ctl->abort[side].v, 1, memory_order_release);
}

int bench_pair_run(const struct bench_config *cfg, bench_side_fn parent_fn,
		   bench_side_fn child_fn, void *arg, char *note)
{
	struct bench_ctl *ctl;
	struct bench_side side;
	pid_t parent = getpid(), child;
	int rc, wstatus;

	note[0] = '\0';
	last_times.parent_share = -1;
	last_times.child_share = -1;
	ctl = bench_shm_alloc(sizeof(*ctl));
	if (!ctl) {
		snprintf(note, BENCH_NOTE_MAX, "mmap of the control page: %s",
			 strerror(errno));
		return -ENOMEM;
	}
	memset(&side, 0, sizeof(side));
	side.arg = arg;
	side.cfg = cfg;
	side.ctl = ctl;

	fflush(NULL);
	child = fork();
	if (child < 0) {
		rc = -errno;
		snprintf(note, BENCH_NOTE_MAX, "fork: %s", strerror(errno));
		bench_shm_free(ctl, sizeof(*ctl));
		return rc;
	}
	if (child == 0) {
		/*
		 * Do not outlive a parent killed by its watchdog or by the
		 * user.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		pin_self(cfg->cpus->child_cpu);
		side.is_child = 1;
		side.cpu = cfg->cpus->child_cpu;
		side.note = ctl->child_note;
		rc = child_fn(&side);
		ctl->child_share = side_share(&side);
		ctl->child_status = rc;
		if (rc)
			give_up(ctl, 1);
		_exit(0);
	}

	watchdog_child = child;
	watchdog_ctl = ctl;
	watchdog_parent_note = note;
	signal(SIGALRM, watchdog_fire);
	alarm(cfg->timeout_s);

	side.is_child = 0;
	side.cpu = cfg->cpus->parent_cpu;
	side.note = note;
	rc = parent_fn(&side);
	last_times.parent_share = side_share(&side);
	if (rc) {
		give_up(ctl, 0);
		/*
		 * The child may be spinning for a message that will never come.
		 */
		kill(child, SIGKILL);
	}
	while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wstatus))
		last_times.child_share = ctl->child_share;
	alarm(0);
	watchdog_child = 0;
	watchdog_ctl = NULL;
	watchdog_parent_note = NULL;

	if (!rc) {
		if (WIFSIGNALED(wstatus)) {
			rc = -ECHILD;
			snprintf(note, BENCH_NOTE_MAX,
				 "child killed by signal %d",
				 WTERMSIG(wstatus));
		} else if (ctl->child_status) {
			rc = ctl->child_status;
			snprintf(note, BENCH_NOTE_MAX, "child: %.*s",
				 BENCH_NOTE_MAX - 8,
				 ctl->child_note[0] ? ctl->child_note :
						      strerror(-rc));
		}
	} else if (rc == -ECANCELED && ctl->child_note[0]) {
		/* The parent only saw the child give up: the child knows why. */
		snprintf(note, BENCH_NOTE_MAX, "child: %.*s",
			 BENCH_NOTE_MAX - 8, ctl->child_note);
	} else if (!note[0]) {
		snprintf(note, BENCH_NOTE_MAX, "%s",
			 strerror(rc < 0 ? -rc : rc));
	}
	bench_shm_free(ctl, sizeof(*ctl));
	return rc;
}

/* CPU time of this process (every thread), by getrusage. */
static uint64_t rusage_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		       1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
		       1000u;
}

/* Where the child reports its idle CPU and wall time. */
enum {
	IDLE_CHILD_CPU = BENCH_SIDE_FIRST_FREE,
	IDLE_CHILD_WALL,
};

int bench_idle_parent(struct bench_side *s, bench_idle_fn send_one, void *ctx,
		      struct bench_result *res)
{
	uint64_t c0, w0, wall, child_wall;
	struct timespec ts;
	int rc;

	if (bench_side_sync(s))
		return -ECANCELED;
	c0 = rusage_ns();
	w0 = bench_now_ns();
	ts.tv_sec = (time_t)(s->cfg->idle_ns / 1000000000u);
	ts.tv_nsec = (long)(s->cfg->idle_ns % 1000000000u);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	wall = bench_now_ns() - w0;
	res->idle_parent = (double)(rusage_ns() - c0) / (double)wall;
	rc = send_one(ctx);
	if (rc)
		return rc;
	if (bench_side_sync(s))
		return -ECANCELED;
	child_wall = bench_side_get(s, IDLE_CHILD_WALL);
	res->idle_child = child_wall ?
				  (double)bench_side_get(s, IDLE_CHILD_CPU) /
					  (double)child_wall :
				  -1;
	return 0;
}

int bench_idle_child(struct bench_side *s, bench_idle_fn wait_one, void *ctx)
{
	uint64_t c0, w0;
	int rc;

	if (bench_side_sync(s))
		return -ECANCELED;
	c0 = rusage_ns();
	w0 = bench_now_ns();
	rc = wait_one(ctx);
	if (rc)
		return rc;
	bench_side_put(s, IDLE_CHILD_CPU, rusage_ns() - c0);
	bench_side_put(s, IDLE_CHILD_WALL, bench_now_ns() - w0);
	return bench_side_sync(s) ? -ECANCELED : 0;
}

/* What an isolated run sends back to the bench process. */
struct isolated_page {
	struct bench_result res;
	struct bench_pair_times times;
	int32_t rc;
};

int bench_run_isolated(bench_run_fn inner, const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	struct isolated_page *pg = bench_shm_alloc(sizeof(*pg));
	pid_t parent = getpid(), child;
	int wstatus, rc;

	if (!pg)
		return -ENOMEM;
	pg->res = *res;
	pg->rc = -ECHILD;
	fflush(NULL);
	child = fork();
	if (child < 0) {
		rc = -errno;
		bench_shm_free(pg, sizeof(*pg));
		return rc;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		/* Setup outside bench_pair_run() may hang too. */
		signal(SIGALRM, watchdog_fire);
		alarm(cfg->timeout_s);
		pg->rc = inner(f, cfg, &pg->res);
		pg->times = last_times;
		fflush(NULL);
		_exit(0);
	}
	while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 2)
		exit(2); /* the watchdog fired and said why */
	*res = pg->res;
	last_times = pg->times;
	rc = pg->rc;
	if (WIFSIGNALED(wstatus)) {
		rc = -ECHILD;
		snprintf(res->note, BENCH_NOTE_MAX,
			 "isolated process killed by signal %d",
			 WTERMSIG(wstatus));
	}
	bench_shm_free(pg, sizeof(*pg));
	return rc;
}

int bench_samples_init(struct bench_samples *s, const struct bench_config *cfg)
{
	s->count = cfg->iters;
	s->warmup = cfg->warmup;
	s->chunks = cfg->bulk / BENCH_CHUNK;
	s->ns = bench_buf_alloc((s->count ? s->count : 1) * sizeof(uint64_t));
	s->chunk_ns =
		bench_buf_alloc((s->chunks ? s->chunks : 1) * sizeof(uint64_t));
	if (s->ns && s->chunk_ns)
		return 0;
	bench_samples_fini(s);
	return -ENOMEM;
}

void bench_samples_fini(struct bench_samples *s)
{
	free(s->ns);
	free(s->chunk_ns);
	s->ns = NULL;
	s->chunk_ns = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Nearest-rank percentile of sorted @v[0..n): the smallest value with at least
 * q of the samples at or below it.
 */
static double percentile(const uint64_t *v, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1];
}

void bench_samples_stats(struct bench_samples *s, struct bench_result *res)
{
	uint64_t i, n = s->count;
	double sum = 0;

	res->samples = n;
	if (!n)
		return;
	qsort(s->ns, n, sizeof(s->ns[0]), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)s->ns[i];
	res->min_ns = (double)s->ns[0];
	res->p50_ns = percentile(s->ns, n, 0.50);
	res->p99_ns = percentile(s->ns, n, 0.99);
	res->p999_ns = percentile(s->ns, n, 0.999);
	res->max_ns = (double)s->ns[n - 1];
	res->mean_ns = sum / (double)n;
	res->bulk_ns = -1;
	if (s->chunks) {
		qsort(s->chunk_ns, s->chunks, sizeof(s->chunk_ns[0]), cmp_u64);
		res->bulk_ns =
			percentile(s->chunk_ns, s->chunks, 0.5) / BENCH_CHUNK;
	}
}

void bench_cost_stats(uint64_t *burst_ns, uint64_t n, struct bench_result *res)
{
	struct bench_samples s = { .ns = burst_ns, .count = n };

	bench_samples_stats(&s, res);
	res->iters = n * BENCH_COST_BURST;
	res->min_ns /= BENCH_COST_BURST;
	res->p50_ns /= BENCH_COST_BURST;
	res->p99_ns /= BENCH_COST_BURST;
	res->p999_ns /= BENCH_COST_BURST;
	res->max_ns /= BENCH_COST_BURST;
	res->mean_ns /= BENCH_COST_BURST;
}

enum {
	VAL_TRIAL_N = 0,
	VAL_TRIAL_T1 = 1
};

int64_t bench_trial_start(struct bench_side *s, struct bench_tput *t)
{
	const struct bench_config *cfg = s->cfg;

	if (t->trial == 0)
		t->n = cfg->warmup ? cfg->warmup : 1;
	else if (t->trial > cfg->trials || t->trial > BENCH_TRIALS_MAX)
		t->n = 0;
	else if (t->trial == 1)
		t->n = t->msgs_per_trial;
	/*
	 * Release (inside the barrier): n reaches the consumer before it
	 * starts.
	 */
	bench_side_put(s, VAL_TRIAL_N, t->n);
	if (bench_side_sync(s))
		return -ECANCELED;
	t->t0 = bench_now_ns();
	return (int64_t)t->n;
}

int bench_trial_finish(struct bench_side *s, struct bench_tput *t)
{
	const struct bench_config *cfg = s->cfg;
	uint64_t ns, n;

	/* The consumer publishes its end time before it reaches the barrier. */
	if (bench_side_sync(s))
		return -ECANCELED;
	ns = bench_side_get(s, VAL_TRIAL_T1) - t->t0;
	if (!ns)
		ns = 1;
	if (t->trial++ == 0) {
		n = cfg->iters;
		if (cfg->trial_ns) {
			/* Size the timed trials by the warm-up's rate. */
			double want = (double)t->n * (double)cfg->trial_ns /
				      (double)ns;

			n = want < (double)n ? (uint64_t)want : n;
			if (n < BENCH_TRIAL_MIN)
				n = BENCH_TRIAL_MIN;
		}
		t->msgs_per_trial = n;
		return 0;
	}
	if (t->count < BENCH_TRIALS_MAX)
		t->msgs_per_s[t->count++] = (double)t->n * 1e9 / (double)ns;
	return 0;
}

int64_t bench_trial_next(struct bench_side *s)
{
	if (bench_side_sync(s))
		return -ECANCELED;
	return (int64_t)bench_side_get(s, VAL_TRIAL_N);
}

int bench_trial_end(struct bench_side *s)
{
	bench_side_put(s, VAL_TRIAL_T1, bench_now_ns());
	return bench_side_sync(s) ? -ECANCELED : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int bench_check_msg(struct bench_side *s, const void *data, size_t len,
		    uint32_t size, uint64_t seq)
{
	if (len != size) {
		bench_side_note(s, "message %llu: length %zu, sent %u",
				(unsigned long long)seq, len, size);
		return -EIO;
	}
	if (!bench_stamped(data, seq, size)) {
		bench_side_note(s, "message %llu: wrong content",
				(unsigned long long)seq);
		return -EIO;
	}
	return 0;
}

void bench_tput_stats(struct bench_tput *t, uint32_t size,
		      struct bench_result *res)
{
	uint32_t n = t->count;
	double med;

	if (!n)
		return;
	qsort(t->msgs_per_s, n, sizeof(double), cmp_double);
	med = n % 2 ? t->msgs_per_s[n / 2] :
		      (t->msgs_per_s[n / 2 - 1] + t->msgs_per_s[n / 2]) / 2;
	res->samples = n;
	res->iters = t->msgs_per_trial;
	res->msgs_per_s = med;
	res->gb_per_s = med * size / 1e9;
	res->msgs_per_s_lo = t->msgs_per_s[0];
	res->msgs_per_s_hi = t->msgs_per_s[n - 1];
}

static int disturbed(const struct bench_result *r)
{
	return r->cpu_share >= 0 && r->cpu_share < BENCH_CPU_SHARE_OK;
}

/* Median of the field at byte @off of the results picked in @use. */
static double median_of(const struct bench_result *r, const char *use,
			uint32_t n, size_t off)
{
	double v[BENCH_ROUNDS_MAX];
	uint32_t i, k = 0;

	for (i = 0; i < n && k < BENCH_ROUNDS_MAX; i++)
		if (use[i])
			memcpy(&v[k++], (const char *)&r[i] + off,
			       sizeof(double));
	if (!k)
		return NAN;
	qsort(v, k, sizeof(double), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

#define MEDIAN(field) \
	median_of(rounds, use, n, offsetof(struct bench_result, field))

void bench_result_merge(const struct bench_figure *f,
			const struct bench_result *rounds, uint32_t n,
			struct bench_result *out)
{
	char use[BENCH_ROUNDS_MAX] = { 0 };
	uint32_t i, quiet = 0;
	double seconds = 0;

	if (n > BENCH_ROUNDS_MAX)
		n = BENCH_ROUNDS_MAX;
	*out = rounds[0];
	for (i = 0; i < n; i++) {
		seconds += rounds[i].seconds;
		if (rounds[i].status < 0 ||
		    (rounds[i].status > 0 && out->status == 0))
			*out = rounds[i];
	}
	out->seconds = seconds;
	out->rounds = n;
	out->disturbed_rounds = 0;
	if (out->status)
		return;
	for (i = 0; i < n; i++) {
		out->disturbed_rounds += disturbed(&rounds[i]);
		quiet += !disturbed(&rounds[i]);
	}
	for (i = 0; i < n; i++)
		use[i] = !quiet || !disturbed(&rounds[i]);
	out->cpu_share = MEDIAN(cpu_share);
	out->wakeups_per_msg = MEDIAN(wakeups_per_msg);
	out->sleeps_per_msg = MEDIAN(sleeps_per_msg);
	out->blocked_per_msg = MEDIAN(blocked_per_msg);
	out->ref_p50_ns = MEDIAN(ref_p50_ns);
	out->ref_ratio = MEDIAN(ref_ratio);
	out->idle_parent = MEDIAN(idle_parent);
	out->idle_child = MEDIAN(idle_child);
	out->samples = 0;
	for (i = 0; i < n; i++)
		out->samples += use[i] ? rounds[i].samples : 0;
	if (f->kind != BENCH_THROUGHPUT) {
		out->p50_ns = MEDIAN(p50_ns);
		out->p99_ns = MEDIAN(p99_ns);
		out->p999_ns = MEDIAN(p999_ns);
		out->mean_ns = MEDIAN(mean_ns);
		out->bulk_ns = MEDIAN(bulk_ns);
		for (i = 0; i < n; i++) {
			if (!use[i])
				continue;
			if (rounds[i].max_ns > out->max_ns)
				out->max_ns = rounds[i].max_ns;
			if (rounds[i].min_ns < out->min_ns)
				out->min_ns = rounds[i].min_ns;
		}
		return;
	}
	out->msgs_per_s = MEDIAN(msgs_per_s);
	out->gb_per_s = out->msgs_per_s * f->size / 1e9;
	for (i = 0; i < n; i++) {
		if (!use[i])
			continue;
		if (rounds[i].msgs_per_s_lo < out->msgs_per_s_lo)
			out->msgs_per_s_lo = rounds[i].msgs_per_s_lo;
		if (rounds[i].msgs_per_s_hi > out->msgs_per_s_hi)
			out->msgs_per_s_hi = rounds[i].msgs_per_s_hi;
	}
}

long bench_find(const struct bench_figure *const *figs, size_t count,
		const char *name)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (!strcmp(figs[i]->name, name))
			return (long)i;
	return -1;
}

/* Output. */

static const struct bench_result *measured(const struct bench_report *r,
					   const char *name)
{
	long i = bench_find(r->figs, r->count, name);

	if (i < 0 || r->res[i].status != 0)
		return NULL;
	return &r->res[i];
}

/* The typical round trip without clock cost (bulk), else the sample mean. */
static double mean_of(const struct bench_result *res)
{
	return res->bulk_ns >= 0 ? res->bulk_ns : res->mean_ns;
}

static double metric_of(const struct bench_result *res, enum bench_metric m)
{
	switch (m) {
	case BENCH_P50:
		return res->p50_ns;
	case BENCH_P99:
		return res->p99_ns;
	case BENCH_MSGS:
		return res->msgs_per_s;
	case BENCH_GBS:
		return res->gb_per_s;
	case BENCH_WAKEUPS:
		return res->wakeups_per_msg;
	case BENCH_BULK:
		return mean_of(res);
	case BENCH_P999:
		return res->p999_ns;
	case BENCH_MAX:
		return res->max_ns;
	case BENCH_REF:
		return res->ref_ratio;
	case BENCH_IDLE_CPU:
		return res->idle_child;
	}
	return NAN;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/*
 * Figure @fi over baseline @base on metric @m, or NaN. With several rounds:
 * the median over rounds of the ratio within each round (both undisturbed,
 * when any such round exists), so that a figure and its baseline are
 * compared under the same conditions even if the machine changed between
 * rounds.
 */
double bench_cmp_ratio(const struct bench_report *r, size_t fi,
		       const char *base, enum bench_metric m)
{
	long bi = bench_find(r->figs, r->count, base);
	const struct bench_result *f, *b;
	double v[BENCH_ROUNDS_MAX];
	uint32_t k, n = 0, pass;

	if (bi < 0 || r->res[fi].status || r->res[bi].status)
		return NAN;
	if (!r->rounds || r->nrounds < 2)
		return ratio(metric_of(&r->res[fi], m),
			     metric_of(&r->res[bi], m));
	for (pass = 0; pass < 2 && !n; pass++) {
		for (k = 0; k < r->nrounds && k < BENCH_ROUNDS_MAX; k++) {
			f = &r->rounds[fi * r->nrounds + k];
			b = &r->rounds[(size_t)bi * r->nrounds + k];
			if (f->status || b->status ||
			    (!pass && (disturbed(f) || disturbed(b))))
				continue;
			v[n] = ratio(metric_of(f, m), metric_of(b, m));
			n += !isnan(v[n]);
		}
	}
	if (!n)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *metric_name(enum bench_metric m)
{
	switch (m) {
	case BENCH_P50:
		return "p50";
	case BENCH_P99:
		return "p99";
	case BENCH_MSGS:
		return "msgs/s";
	case BENCH_GBS:
		return "GB/s";
	case BENCH_WAKEUPS:
		return "wakeups/msg";
	case BENCH_BULK:
		return "bulk";
	case BENCH_P999:
		return "p99.9";
	case BENCH_MAX:
		return "max";
	case BENCH_REF:
		return "p50 vs reference";
	case BENCH_IDLE_CPU:
		return "idle CPU share";
	}
	return "?";
}

/*
 * 1 met, 0 missed, -1 not measured in this run; *value: the ratio or the
 * absolute value.
 */
static int target_eval(const struct bench_report *r,
		       const struct bench_target *t, double *value)
{
	long fi = bench_find(r->figs, r->count, t->figure);
	double v;

	if (fi < 0 || r->res[fi].status)
		return -1;
	if (t->baseline)
		v = bench_cmp_ratio(r, (size_t)fi, t->baseline, t->metric);
	else
		v = metric_of(&r->res[fi], t->metric);
	if (isnan(v) || v < 0)
		return -1;
	*value = v;
	return t->at_most ? v <= t->limit : v >= t->limit;
}

static void print_ns(FILE *out, double ns)
{
	if (ns >= 1e6)
		fprintf(out, " %8.2fms", ns / 1e6);
	else if (ns >= 1e4)
		fprintf(out, " %8.1fus", ns / 1e3);
	else
		fprintf(out, " %8.0fns", ns);
}

static void print_status(FILE *out, const struct bench_result *res)
{
	fprintf(out, "  %s: %s\n", res->status > 0 ? "skipped" : "FAILED",
		res->note);
}

static void print_latency_row(FILE *out, const struct bench_figure *f,
			      const struct bench_result *res)
{
	fprintf(out, "%-28s", f->name);
	if (res->status) {
		print_status(out, res);
		return;
	}
	print_ns(out, res->p50_ns);
	print_ns(out, res->p99_ns);
	print_ns(out, res->p999_ns);
	print_ns(out, res->max_ns);
	print_ns(out, mean_of(res));
	fprintf(out, "%s  %s\n", res->bulk_ns >= 0 ? "*" : " ", f->title);
}

static void print_tput_row(FILE *out, const struct bench_figure *f,
			   const struct bench_result *res)
{
	fprintf(out, "%-28s", f->name);
	if (res->status) {
		print_status(out, res);
		return;
	}
	fprintf(out, " %9.2f %9.2f %9.2f %9.2f  %s\n", res->msgs_per_s / 1e6,
		res->gb_per_s, res->msgs_per_s_lo / 1e6,
		res->msgs_per_s_hi / 1e6, f->title);
}

static void print_idle_row(FILE *out, const struct bench_figure *f,
			   const struct bench_result *res)
{
	fprintf(out, "%-28s", f->name);
	if (res->status) {
		print_status(out, res);
		return;
	}
	fprintf(out, " %8.3f%% %8.3f%%  %s\n", res->idle_child * 100,
		res->idle_parent * 100, f->title);
}

static void print_ratios(FILE *out, const struct bench_report *r, size_t i)
{
	const struct bench_figure *f = r->figs[i];
	const struct bench_result *res = &r->res[i], *b;
	const char *what = f->kind == BENCH_LATENCY ? "round trip" :
			   f->kind == BENCH_COST    ? "publish" :
						      "message";
	char label[64];
	int k;

	if (res->status)
		return;
	for (k = 0; k < 3 && f->vs[k]; k++) {
		b = measured(r, f->vs[k]);
		snprintf(label, sizeof(label), "  / %s", f->vs[k]);
		fprintf(out, "%-28s", label);
		if (!b) {
			fprintf(out, "  (baseline not measured)\n");
			continue;
		}
		if (f->kind != BENCH_THROUGHPUT)
			fprintf(out, " %9.2fx %9.2fx %9.2fx %9.2fx %9.2fx\n",
				bench_cmp_ratio(r, i, f->vs[k], BENCH_P50),
				bench_cmp_ratio(r, i, f->vs[k], BENCH_P99),
				bench_cmp_ratio(r, i, f->vs[k], BENCH_P999),
				bench_cmp_ratio(r, i, f->vs[k], BENCH_MAX),
				bench_cmp_ratio(r, i, f->vs[k], BENCH_BULK));
		else
			fprintf(out, " %8.2fx %8.2fx\n",
				bench_cmp_ratio(r, i, f->vs[k], BENCH_MSGS),
				bench_cmp_ratio(r, i, f->vs[k], BENCH_GBS));
	}
	if (res->wakeups_per_msg >= 0 && res->sleeps_per_msg >= 0)
		fprintf(out,
			"%-28s  eventfd writes %.3f, kernel sleeps %.3f per %s\n",
			"  / syscalls", res->wakeups_per_msg,
			res->sleeps_per_msg, what);
	else if (res->wakeups_per_msg >= 0)
		fprintf(out, "%-28s  eventfd writes %.3f per %s\n",
			"  / syscalls", res->wakeups_per_msg, what);
	if (res->ref_ratio >= 0)
		fprintf(out,
			"%-28s %9.2fx   (p50; the reference: 1 subscriber, %.0f ns)\n",
			"  / 1 sub, interleaved", res->ref_ratio,
			res->ref_p50_ns);
	if (res->blocked_per_msg >= 0)
		fprintf(out, "%-28s  %.4f per %s waited for room\n",
			"  / blocked", res->blocked_per_msg, what);
}

static void print_disturbed(FILE *out, const struct bench_result *res)
{
	if (res->status || !res->disturbed_rounds)
		return;
	if (res->disturbed_rounds < res->rounds)
		fprintf(out,
			"%-28s  %u of %u rounds had another process on their CPUs; left out\n",
			"  ! disturbed", res->disturbed_rounds, res->rounds);
	else
		fprintf(out,
			"%-28s  every round had another process on its CPUs (%.0f%% of the time ours): unreliable\n",
			"  ! disturbed", res->cpu_share * 100);
}

size_t bench_group_len(const char *name)
{
	return strcspn(name, "/");
}

int bench_same_group(const char *a, const char *b)
{
	size_t la = bench_group_len(a);

	return la == bench_group_len(b) && !strncmp(a, b, la);
}

static void print_section(FILE *out, const struct bench_report *r,
			  enum bench_kind kind)
{
	const char *prev = NULL;
	size_t i;

	for (i = 0; i < r->count; i++) {
		const struct bench_figure *f = r->figs[i];

		if (f->kind != kind)
			continue;
		if (prev && !bench_same_group(prev, f->name))
			fputc('\n', out);
		prev = f->name;
		if (kind == BENCH_THROUGHPUT)
			print_tput_row(out, f, &r->res[i]);
		else if (kind == BENCH_IDLE)
			print_idle_row(out, f, &r->res[i]);
		else
			print_latency_row(out, f, &r->res[i]);
		print_disturbed(out, &r->res[i]);
		if ((f->flags & BENCH_SHOAL) && kind != BENCH_IDLE)
			print_ratios(out, r, i);
	}
}

void bench_print_targets(FILE *out, const struct bench_report *r)
{
	const struct bench_target *t;
	double v = 0;
	int met;

	fprintf(out, "\nTargets (ratios are shoal / the other):\n");
	for (t = r->targets; t && t->text; t++) {
		met = target_eval(r, t, &v);
		if (met < 0) {
			fprintf(out,
				"  n/a     %s (not measured in this run)\n",
				t->text);
			continue;
		}
		fprintf(out, "  %-7s %s: ", met ? "MET" : "MISSED", t->text);
		if (t->baseline || t->metric == BENCH_REF)
			fprintf(out, "%s ratio %.2fx (limit %s %.2fx)",
				metric_name(t->metric), v,
				t->at_most ? "<=" : ">=", t->limit);
		else if (t->metric == BENCH_MSGS)
			fprintf(out, "%.1f M msgs/s (limit %s %.1f M)", v / 1e6,
				t->at_most ? "<=" : ">=", t->limit / 1e6);
		else
			fprintf(out, "%s %.3g (limit %s %.3g)",
				metric_name(t->metric), v,
				t->at_most ? "<=" : ">=", t->limit);
		if (!met && t->limit > 0)
			fprintf(out, ", off by %.0f%%",
				fabs(v - t->limit) / t->limit * 100);
		fputc('\n', out);
	}
}

/*
 * A section of the figures of @kind whose rows are percentiles: the header,
 * with @title and @last over the sixth column, the rows, then @fmt, the
 * legend.
 */
static void print_pct_section(FILE *out, const struct bench_report *r,
			      enum bench_kind kind, const char *title,
			      const char *last, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void print_pct_section(FILE *out, const struct bench_report *r,
			      enum bench_kind kind, const char *title,
			      const char *last, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "\n%-28s %10s %10s %10s %10s %10s   %s\n", title, "p50",
		"p99", "p99.9", "max", last, "what");
	print_section(out, r, kind);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

void bench_print_table(FILE *out, const struct bench_report *r)
{
	size_t i;
	int lat = 0, tput = 0, cost = 0, idle = 0;

	for (i = 0; i < r->count; i++) {
		lat |= r->figs[i]->kind == BENCH_LATENCY;
		tput |= r->figs[i]->kind == BENCH_THROUGHPUT;
		cost |= r->figs[i]->kind == BENCH_COST;
		idle |= r->figs[i]->kind == BENCH_IDLE;
	}
	if (lat)
		print_pct_section(
			out, r, BENCH_LATENCY, "ROUND TRIP LATENCY",
			"bulk*/mean",
			"(p50..max: each round trip timed alone, one clock read included;\n"
			" bulk*: median over chunks of %d round trips timed as a whole, no clock cost;\n"
			" without *: the mean of the samples;\n"
			" \"/ baseline\" rows: shoal / baseline, the median over rounds of each round's ratio)\n",
			BENCH_CHUNK);
	if (tput) {
		fprintf(out, "\n%-28s %9s %9s %9s %9s  %s\n",
			"ONE-WAY THROUGHPUT", "Mmsg/s", "GB/s", "min Mm/s",
			"max Mm/s", "what (median of trials)");
		print_section(out, r, BENCH_THROUGHPUT);
	}
	if (cost)
		print_pct_section(
			out, r, BENCH_COST, "COST PER PUBLISH", "mean",
			"(ns per call on the publisher's CPU, from bursts of %u calls each timed\n"
			" as a whole: p50..max over the bursts, no clock cost inside; subscribers\n"
			" run on the other CPU; \"/ fanout-1\" rows: the median over rounds of each\n"
			" round's ratio; \"/ 1 sub, interleaved\": p50 over that of a service with\n"
			" one subscriber, published to in the same run, burst for burst)\n",
			BENCH_COST_BURST);
	if (idle) {
		fprintf(out, "\n%-28s %9s %9s  %s\n", "CPU WHILE IDLE",
			"waiter", "sender", "what");
		print_section(out, r, BENCH_IDLE);
		fprintf(out,
			"(share of one core each side used while the waiter waited for a message\n"
			" that came after %.2f s: getrusage, every thread of the process)\n",
			r->cfg_idle ? (double)r->cfg_idle->idle_ns / 1e9 : 0.0);
	}
	bench_print_targets(out, r);
}

/* JSON. */

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* A number, or null when it is not one (JSON has no NaN). */
static void json_num(FILE *out, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", out);
	else
		fprintf(out, "%.6g", v);
}

static void json_config(FILE *out, const char *name,
			const struct bench_config *c, int last)
{
	fprintf(out,
		"    \"%s\": {\"iters\": %llu, \"warmup\": %llu, \"bulk\": %llu, \"trials\": %u, \"trial_ns\": %llu}%s\n",
		name, (unsigned long long)(c ? c->iters : 0),
		(unsigned long long)(c ? c->warmup : 0),
		(unsigned long long)(c ? c->bulk : 0), c ? c->trials : 0,
		(unsigned long long)(c ? c->trial_ns : 0), last ? "" : ",");
}

/* The main figures of each round, to see how much the rounds differ. */
static void json_rounds(FILE *out, const struct bench_figure *f,
			const struct bench_result *rounds, uint32_t n)
{
	uint32_t k;

	fprintf(out, ",\n     \"rounds\": [");
	for (k = 0; k < n; k++) {
		const struct bench_result *x = &rounds[k];

		fprintf(out, "%s{", k ? ", " : "");
		if (f->kind != BENCH_THROUGHPUT) {
			fprintf(out, "\"p50_ns\": ");
			json_num(out, x->p50_ns);
			fprintf(out, ", \"p99_ns\": ");
			json_num(out, x->p99_ns);
			fprintf(out, ", \"bulk_ns\": ");
			json_num(out, x->bulk_ns >= 0 ? x->bulk_ns : NAN);
			if (x->ref_ratio >= 0) {
				fprintf(out, ", \"ref_p50_ns\": ");
				json_num(out, x->ref_p50_ns);
				fprintf(out, ", \"ref_ratio\": ");
				json_num(out, x->ref_ratio);
			}
		} else {
			fprintf(out, "\"msgs_per_s\": ");
			json_num(out, x->msgs_per_s);
		}
		fprintf(out, ", \"cpu_share\": ");
		json_num(out, x->cpu_share >= 0 ? x->cpu_share : NAN);
		fputc('}', out);
	}
	fputc(']', out);
}

static void json_figure(FILE *out, const struct bench_report *r, size_t i)
{
	const struct bench_figure *f = r->figs[i];
	const struct bench_result *res = &r->res[i], *b;
	int k, first = 1;

	fprintf(out, "    {\"name\": ");
	json_str(out, f->name);
	fprintf(out, ", \"title\": ");
	json_str(out, f->title);
	fprintf(out,
		",\n     \"kind\": \"%s\", \"size\": %u, \"batch\": %u, \"shoal\": %s, ",
		f->kind == BENCH_LATENCY ? "latency" :
		f->kind == BENCH_COST	 ? "cost" :
		f->kind == BENCH_IDLE	 ? "idle" :
					   "throughput",
		f->size, f->batch, f->flags & BENCH_SHOAL ? "true" : "false");
	fprintf(out, "\"status\": \"%s\", \"note\": ",
		res->status == 0 ? "ok" :
		res->status > 0	 ? "skipped" :
				   "failed");
	json_str(out, res->note);
	fprintf(out, ", \"seconds\": ");
	json_num(out, res->seconds);
	fprintf(out, ", \"iters\": %llu", (unsigned long long)res->iters);
	if (res->status == 0 && f->kind != BENCH_THROUGHPUT) {
		fprintf(out, ",\n     \"samples\": %llu, \"min_ns\": ",
			(unsigned long long)res->samples);
		json_num(out, res->min_ns);
		fprintf(out, ", \"p50_ns\": ");
		json_num(out, res->p50_ns);
		fprintf(out, ", \"p99_ns\": ");
		json_num(out, res->p99_ns);
		fprintf(out, ", \"p999_ns\": ");
		json_num(out, res->p999_ns);
		fprintf(out, ", \"max_ns\": ");
		json_num(out, res->max_ns);
		fprintf(out, ", \"mean_ns\": ");
		json_num(out, res->mean_ns);
		fprintf(out, ", \"bulk_ns\": ");
		json_num(out, res->bulk_ns >= 0 ? res->bulk_ns : NAN);
	} else if (res->status == 0) {
		fprintf(out, ",\n     \"trials\": %llu, \"msgs_per_s\": ",
			(unsigned long long)res->samples);
		json_num(out, res->msgs_per_s);
		fprintf(out, ", \"gb_per_s\": ");
		json_num(out, res->gb_per_s);
		fprintf(out, ", \"msgs_per_s_lo\": ");
		json_num(out, res->msgs_per_s_lo);
		fprintf(out, ", \"msgs_per_s_hi\": ");
		json_num(out, res->msgs_per_s_hi);
	}
	if (res->status == 0 && f->kind == BENCH_IDLE) {
		fprintf(out, ",\n     \"idle_cpu_waiter\": ");
		json_num(out, res->idle_child);
		fprintf(out, ", \"idle_cpu_sender\": ");
		json_num(out, res->idle_parent);
	}
	if (res->status == 0 && (f->flags & BENCH_COMPARE) &&
	    f->kind != BENCH_IDLE) {
		fprintf(out, ",\n     \"shoal_speedup\": {\"p50\": ");
		json_num(out, bench_shoal_speedup(r, i, BENCH_P50));
		fprintf(out, ", \"p99\": ");
		json_num(out, bench_shoal_speedup(r, i, BENCH_P99));
		fprintf(out, ", \"msgs_per_s\": ");
		json_num(out, bench_shoal_speedup(r, i, BENCH_MSGS));
		fputc('}', out);
	}
	if (res->status == 0 && res->cpu_share >= 0) {
		fprintf(out, ", \"cpu_share\": ");
		json_num(out, res->cpu_share);
		fprintf(out, ", \"disturbed_rounds\": %u",
			res->disturbed_rounds);
	}
	if (res->status == 0 && res->wakeups_per_msg >= 0) {
		fprintf(out, ", \"wakeups_per_msg\": ");
		json_num(out, res->wakeups_per_msg);
		fprintf(out, ", \"sleeps_per_msg\": ");
		json_num(out,
			 res->sleeps_per_msg >= 0 ? res->sleeps_per_msg : NAN);
	}
	if (res->status == 0 && res->blocked_per_msg >= 0) {
		fprintf(out, ", \"blocked_per_msg\": ");
		json_num(out, res->blocked_per_msg);
	}
	if (res->status == 0 && res->ref_ratio >= 0) {
		fprintf(out, ", \"ref_p50_ns\": ");
		json_num(out, res->ref_p50_ns);
		fprintf(out, ", \"ref_ratio\": ");
		json_num(out, res->ref_ratio);
	}
	if (res->status == 0 && r->rounds && r->nrounds > 1)
		json_rounds(out, f, &r->rounds[i * r->nrounds], r->nrounds);
	if (f->flags & BENCH_SHOAL) {
		fprintf(out, ",\n     \"vs\": [");
		for (k = 0; k < 3 && f->vs[k]; k++) {
			b = measured(r, f->vs[k]);
			if (!b || res->status)
				continue;
			fprintf(out, "%s{\"baseline\": ", first ? "" : ", ");
			json_str(out, f->vs[k]);
			first = 0;
			if (f->kind != BENCH_THROUGHPUT) {
				fprintf(out, ", \"p50\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_P50));
				fprintf(out, ", \"p99\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_P99));
				fprintf(out, ", \"p999\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_P999));
				fprintf(out, ", \"max\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_MAX));
				fprintf(out, ", \"bulk\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_BULK));
			} else {
				fprintf(out, ", \"msgs_per_s\": ");
				json_num(out, bench_cmp_ratio(r, i, f->vs[k],
							      BENCH_MSGS));
			}
			fputc('}', out);
		}
		fputc(']', out);
	}
	fprintf(out, "}%s\n", i + 1 < r->count ? "," : "");
}

int bench_write_json(const char *path, const struct bench_report *r)
{
	const struct bench_target *t;
	FILE *out = fopen(path, "w");
	double v = 0;
	size_t i;
	int met, rc;

	if (!out)
		return -errno;
	fprintf(out, "{\n  \"tool\": \"shoal-bench\",\n  \"shoal_version\": ");
	json_str(out, r->shoal_version);
	fprintf(out, ",\n  \"date\": ");
	json_str(out, r->date);
	fprintf(out, ",\n  \"mode\": ");
	json_str(out, r->mode);
	fprintf(out, ",\n  \"machine\": {\"cpu_model\": ");
	json_str(out, r->cpu_model);
	fprintf(out,
		", \"cpus_available\": %d, \"pinned\": %s, \"parent_cpu\": %d, \"child_cpu\": %d},\n",
		r->cpus->available, r->cpus->pinned ? "true" : "false",
		r->cpus->parent_cpu, r->cpus->child_cpu);
	fprintf(out, "  \"idle_before\": ");
	json_num(out, r->idle_before >= 0 ? r->idle_before : NAN);
	fprintf(out, ",\n  \"clock_ns\": ");
	json_num(out, r->clock_ns);
	fprintf(out, ",\n  \"seconds\": ");
	json_num(out, r->seconds);
	fprintf(out, ",\n  \"rounds\": %u", r->nrounds);
	fprintf(out, ",\n  \"config\": {\n");
	json_config(out, "latency_polled", r->cfg_poll, 0);
	json_config(out, "latency_blocking", r->cfg_block, 0);
	json_config(out, "throughput", r->cfg_tput,
		    !r->cfg_cost && !r->cfg_idle);
	if (r->cfg_cost)
		json_config(out, "publish_cost", r->cfg_cost, !r->cfg_idle);
	if (r->cfg_idle)
		json_config(out, "idle", r->cfg_idle, 1);
	fprintf(out, "  },\n  \"figures\": [\n");
	for (i = 0; i < r->count; i++)
		json_figure(out, r, i);
	fprintf(out, "  ],\n  \"targets\": [\n");
	for (t = r->targets; t && t->text; t++) {
		met = target_eval(r, t, &v);
		fprintf(out, "    {\"text\": ");
		json_str(out, t->text);
		fprintf(out, ", \"figure\": ");
		json_str(out, t->figure);
		fprintf(out, ", \"baseline\": ");
		if (t->baseline)
			json_str(out, t->baseline);
		else
			fputs("null", out);
		fprintf(out,
			", \"metric\": \"%s\", \"at_most\": %s, \"limit\": ",
			metric_name(t->metric), t->at_most ? "true" : "false");
		json_num(out, t->limit);
		fprintf(out, ", \"value\": ");
		json_num(out, met < 0 ? NAN : v);
		fprintf(out, ", \"met\": %s}%s\n",
			met < 0 ? "null" :
			met	? "true" :
				  "false",
			t[1].text ? "," : "");
	}
	fprintf(out, "  ]\n}\n");
	rc = ferror(out) ? -EIO : 0;
	if (fclose(out) && !rc)
		rc = -errno;
	return rc;
}
