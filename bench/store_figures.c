/* SPDX-License-Identifier: MIT */
/*
 * shoal-bench-store: the store's objects against what a program would
 * otherwise put in shared memory, in one run, with the ratios.
 *
 *  blackboard: one writer process rewrites one key with a 64-byte value
 *    while 1 or 2 reader processes read it in a loop (all spinning).
 *    Against: a process-shared pthread_rwlock around the 64 bytes (readers
 *    take it shared, the writer exclusive), and a bare seqlock (one copy,
 *    an odd/even sequence word, no liveness, no checks: the fastest a
 *    single-writer value can be read untorn). Figures: reads/s (all readers
 *    together) and writes/s; then the same with the writer idle, for the
 *    readers' own cost.
 *  blackboard, paced writer: the same, but the writer writes at a fixed
 *    rate (--write-rate, default 100000 writes/s, in bursts of a
 *    millisecond's worth with a sleep between), so that every
 *    implementation carries the same write load and the readers have the
 *    CPUs between bursts. The unpaced figure cannot compare reads at equal
 *    writes: with 2 readers on 2 CPUs a reader-preferring rwlock starves
 *    its writer, and its readers then read an unchanging value. Here the
 *    rwlock runs twice: glibc's default (reader-preferring) and
 *    writer-preferring (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP, the
 *    kind a writer that must keep its rate needs). The writes/s column
 *    shows whether each writer kept the rate.
 *  map: one writer process puts values under 1024 keys (16-byte keys,
 *    64-byte values) in turn, while 1 reader process looks them up.
 *    Against: a process-shared pthread_mutex around an open-addressing hash
 *    table of the same geometry. Figures: lookups/s and puts/s. Skipped
 *    when the store of this build has no maps.
 *
 * Each figure runs --rounds times (default 5), the implementations
 * interleaved within a round, for --ms milliseconds each (default 300);
 * the table gives the median rate and the median of the per-round ratios.
 * --only spinning|paced|idle|map runs one group of figures. --cpu-time
 * gives reads per second of the readers' own CPU time (summed over the
 * readers) instead of the wall clock: on a shared machine a reader is
 * often descheduled, which the wall clock counts against it; a reader
 * that sleeps in the kernel (a rwlock's, behind its writer) is not
 * charged for the sleep, so it suits the spinning readers best.
 * Every read checks its value (all 64 bytes from one write): a torn value
 * fails the run. It never fails on time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shoal.h>
#include <shoal/store.h>

#define VSIZE 64
#define KEYS 1024
#define KSIZE 16
#define MAX_READERS 2
#define MAX_ROUNDS 64

enum impl {
	STORE,
	RWLOCK,
	RWLOCK_WP,
	SEQLOCK,
	MAP,
	MUTEX_MAP,
	NIMPL
};
static const char *const impl_names[] = { "store blackboard",
					  "pthread_rwlock",
					  "pthread_rwlock, writer-preferring",
					  "bare seqlock",
					  "store map",
					  "mutex + hash table" };

/* What every process of a figure shares (MAP_SHARED | MAP_ANONYMOUS). */
struct shared {
	_Atomic int ready, go, stop;
	_Atomic int failed;
	_Atomic uint64_t reads, writes;
	/* The readers' CPU time in their loops, summed (--cpu-time). */
	_Atomic uint64_t reader_cpu_ns;
	/* Baselines. */
	pthread_rwlock_t rw, rw_wp;
	unsigned char rw_value[VSIZE];
	_Alignas(64) _Atomic uint64_t seq;
	unsigned char seq_value[VSIZE];
	_Alignas(64) pthread_mutex_t mx;
	struct slot {
		uint32_t used, klen;
		unsigned char key[KSIZE];
		unsigned char value[VSIZE];
	} table[2 * KEYS];
};

static struct shared *sh;
static char store_name[64];
static int ms = 300, rounds = 5;
/* The writer only waits for the end: the readers' own cost. */
static int writer_idle;
/* Writes per second of the paced figure; 0 while a figure is unpaced. */
static long write_rate;
/* --cpu-time: reads per second of the readers' own CPU time, not of the
 * wall clock. */
static int cpu_time;
/* --only: the one group of figures to run (NULL: all of them). */
static const char *only;

static int wanted(const char *group)
{
	return !only || !strcmp(only, group);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* This process's CPU time. */
static int64_t cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Value n: n in each of its eight words. */
static void fill(unsigned char *v, uint64_t n)
{
	for (int i = 0; i < VSIZE; i += 8)
		memcpy(v + i, &n, 8);
}

/* All 64 bytes from one write: every word equal to the first. Word by word
 * (a few ns), not byte by byte, so the check does not hide most of what a
 * read costs. */
static int whole(const unsigned char *v)
{
	uint64_t w[VSIZE / 8], diff = 0;

	memcpy(w, v, VSIZE);
	for (int i = 1; i < VSIZE / 8; i++)
		diff |= w[i] ^ w[0];
	return !diff;
}

static uint32_t hash(const unsigned char *k)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < KSIZE; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

static void key_of(unsigned char *k, uint32_t i)
{
	memset(k, 'k', KSIZE);
	memcpy(k, &i, 4);
}

/* The mutex table's lookup/put (the caller holds the mutex). */
static struct slot *table_find(const unsigned char *k, int insert)
{
	uint32_t mask = 2 * KEYS - 1, i = hash(k) & mask;

	for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		struct slot *s = &sh->table[i];

		if (!s->used) {
			if (!insert)
				return NULL;
			s->used = 1;
			s->klen = KSIZE;
			memcpy(s->key, k, KSIZE);
			return s;
		}
		if (!memcmp(s->key, k, KSIZE))
			return s;
	}
	return NULL;
}

static struct shoal_store *open_store(void)
{
	struct shoal_store_options o;
	struct shoal_store *s = NULL;

	shoal_store_options_init(&o);
	o.timeout_ns = 5000000000LL;
	if (shoal_store_open(store_name, &o, &s)) {
		fprintf(stderr, "open: %s\n", shoal_last_error());
		_exit(2);
	}
	return s;
}

static void pin(int cpu)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % n, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static pthread_rwlock_t *rwlock_of(enum impl impl)
{
	return impl == RWLOCK_WP ? &sh->rw_wp : &sh->rw;
}

/* One process of a figure: the writer (@reader < 0) or reader @reader. */
static void side(enum impl impl, int reader)
{
	struct shoal_store *s = NULL;
	struct shoal_blackboard bb;
	struct shoal_map m;
	unsigned char v[VSIZE], k[KSIZE];
	uint64_t n = 0;
	int64_t t0, c0;
	int bad = 0;

	pin(reader < 0 ? 0 : 1 + reader);
	if (impl == STORE || impl == MAP) {
		s = open_store();
		if ((impl == STORE && shoal_store_blackboard(s, "bb", &bb)) ||
		    (impl == MAP && shoal_store_map(s, "map", &m)))
			_exit(3);
	}
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->go))
		;
	t0 = now_ns();
	c0 = cpu_ns();
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		if (reader < 0 && writer_idle)
			continue;
		if (reader < 0 && write_rate &&
		    n >= (uint64_t)((now_ns() - t0) * write_rate /
				    1000000000)) {
			/* Ahead of the rate: give the CPU back for the rest
			 * of this millisecond. */
			struct timespec ts = { 0, 1000000 - (now_ns() - t0) %
								    1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (reader < 0) {
			fill(v, ++n);
			key_of(k, (uint32_t)(n % KEYS));
			switch (impl) {
			case STORE:
				shoal_blackboard_write(&bb, 0, v, VSIZE);
				break;
			case RWLOCK:
			case RWLOCK_WP:
				pthread_rwlock_wrlock(rwlock_of(impl));
				memcpy(sh->rw_value, v, VSIZE);
				pthread_rwlock_unlock(rwlock_of(impl));
				break;
			case SEQLOCK:
				atomic_store_explicit(&sh->seq, 2 * n - 1,
						      memory_order_relaxed);
				atomic_thread_fence(memory_order_release);
				memcpy(sh->seq_value, v, VSIZE);
				atomic_store_explicit(&sh->seq, 2 * n,
						      memory_order_release);
				break;
			case MAP:
				if (shoal_map_put(&m, k, KSIZE, v, VSIZE) < 0)
					bad = 1;
				break;
			default:
				pthread_mutex_lock(&sh->mx);
				memcpy(table_find(k, 1)->value, v, VSIZE);
				pthread_mutex_unlock(&sh->mx);
				break;
			}
			continue;
		}
		n++;
		switch (impl) {
		case STORE:
			if (shoal_blackboard_read(&bb, 0, v, VSIZE, NULL) ==
				    VSIZE &&
			    !whole(v))
				bad = 1;
			break;
		case RWLOCK:
		case RWLOCK_WP:
			pthread_rwlock_rdlock(rwlock_of(impl));
			memcpy(v, sh->rw_value, VSIZE);
			pthread_rwlock_unlock(rwlock_of(impl));
			bad |= !whole(v);
			break;
		case SEQLOCK: {
			uint64_t s1, s2;

			do {
				s1 = atomic_load_explicit(&sh->seq,
							  memory_order_acquire);
				memcpy(v, sh->seq_value, VSIZE);
				atomic_thread_fence(memory_order_acquire);
				s2 = atomic_load_explicit(&sh->seq,
							  memory_order_relaxed);
			} while ((s1 & 1) || s1 != s2);
			bad |= !whole(v);
			break;
		}
		case MAP: {
			int r;

			key_of(k, (uint32_t)(n % KEYS));
			r = shoal_map_get(&m, k, KSIZE, v, VSIZE);
			if (r == VSIZE && !whole(v))
				bad = 1;
			break;
		}
		default: {
			struct slot *sl;

			key_of(k, (uint32_t)(n % KEYS));
			pthread_mutex_lock(&sh->mx);
			sl = table_find(k, 0);
			if (sl)
				memcpy(v, sl->value, VSIZE);
			pthread_mutex_unlock(&sh->mx);
			if (sl && !whole(v))
				bad = 1;
			break;
		}
		}
	}
	atomic_fetch_add(reader < 0 ? &sh->writes : &sh->reads, n);
	if (reader >= 0)
		atomic_fetch_add(&sh->reader_cpu_ns, (uint64_t)(cpu_ns() - c0));
	if (bad)
		atomic_store(&sh->failed, 1);
	if (s)
		shoal_store_close(s);
	_exit(0);
}

/* One run of @impl with @readers: *reads_s, *writes_s. 0 or -1. */
static int run(enum impl impl, int readers, double *reads_s, double *writes_s)
{
	pid_t pids[1 + MAX_READERS];
	int64_t t0, t1;
	int ok = 1;

	atomic_store(&sh->ready, 0);
	atomic_store(&sh->go, 0);
	atomic_store(&sh->stop, 0);
	atomic_store(&sh->reads, 0);
	atomic_store(&sh->reader_cpu_ns, 0);
	atomic_store(&sh->writes, 0);
	for (int i = 0; i <= readers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (!pids[i])
			side(impl, i - 1);
	}
	while (atomic_load(&sh->ready) < readers + 1)
		usleep(100);
	t0 = now_ns();
	atomic_store(&sh->go, 1);
	usleep((useconds_t)ms * 1000);
	atomic_store(&sh->stop, 1);
	t1 = now_ns();
	for (int i = 0; i <= readers; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		ok &= WIFEXITED(st) && !WEXITSTATUS(st);
	}
	if (cpu_time)
		*reads_s = (double)atomic_load(&sh->reads) * 1e9 /
			   (double)(atomic_load(&sh->reader_cpu_ns) + 1);
	else
		*reads_s = (double)atomic_load(&sh->reads) * 1e9 /
			   (double)(t1 - t0);
	*writes_s = (double)atomic_load(&sh->writes) * 1e9 / (double)(t1 - t0);
	return ok && !atomic_load(&sh->failed) ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *ratio_text(double *v)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "%.2f", median(v, rounds));
	return buf;
}

/* A figure: @n implementations, the first is the store's; the rest are
 * its baselines. */
static int figure(const char *title, const enum impl *impls, int n, int readers,
		  const char *unit_r, const char *unit_w)
{
	double r[NIMPL][MAX_ROUNDS], w[NIMPL][MAX_ROUNDS];
	double rr[NIMPL][MAX_ROUNDS], rw[NIMPL][MAX_ROUNDS];

	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < n; i++)
			if (run(impls[i], readers, &r[i][k], &w[i][k])) {
				fprintf(stderr,
					"%s: %s failed (a torn value, "
					"or an error)\n",
					title, impl_names[impls[i]]);
				return -1;
			}
	for (int i = 1; i < n; i++)
		for (int k = 0; k < rounds; k++) {
			rr[i][k] = r[0][k] / r[i][k];
			rw[i][k] = w[0][k] / w[i][k];
		}
	printf("\n%s, %d reader%s\n\n", title, readers, readers > 1 ? "s" : "");
	printf("| implementation | %s | %s | store / this, %s | store / "
	       "this, %s |\n| --- | ---: | ---: | ---: | ---: |\n",
	       unit_r, unit_w, unit_r, unit_w);
	for (int i = 0; i < n; i++) {
		double mr, mw;

		mr = median(r[i], rounds);
		mw = median(w[i], rounds);
		if (!i)
			printf("| %s | %.2f M | %.2f M | | |\n",
			       impl_names[impls[i]], mr / 1e6, mw / 1e6);
		else
			printf("| %s | %.2f M | %.2f M | %.2f | %s |\n",
			       impl_names[impls[i]], mr / 1e6, mw / 1e6,
			       median(rr[i], rounds),
			       writer_idle ? "-" : ratio_text(rw[i]));
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct shoal_store_object objs[] = {
		{ .name = "bb",
		  .kind = SHOAL_STORE_BLACKBOARD,
		  .count = 1,
		  .elem_size = VSIZE },
		{ .name = "map",
		  .kind = SHOAL_STORE_MAP,
		  .count = 2 * KEYS,
		  .elem_size = VSIZE,
		  .key_size = KSIZE },
	};
	static const enum impl bb_impls[] = { STORE, RWLOCK, RWLOCK_WP,
					      SEQLOCK };
	static const enum impl idle_impls[] = { STORE, RWLOCK, SEQLOCK };
	static long rates[] = { 100000, 1000000 };
	int nrates = 2;
	char title[128];
	static const enum impl map_impls[] = { MAP, MUTEX_MAP };
	struct shoal_store_options o;
	struct shoal_store *s;
	pthread_rwlockattr_t ra;
	pthread_mutexattr_t ma;
	int err, have_map, rc = 0;
	const char *reads_unit;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cpu-time")) {
			cpu_time = 1;
		} else if (!strcmp(argv[i], "--quick")) {
			ms = 50;
			rounds = 1;
		} else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
			ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc &&
			   (!strcmp(argv[i + 1], "spinning") ||
			    !strcmp(argv[i + 1], "paced") ||
			    !strcmp(argv[i + 1], "idle") ||
			    !strcmp(argv[i + 1], "map"))) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--write-rate") && i + 1 < argc) {
			rates[0] = atol(argv[++i]);
			nrates = 1;
			if (rates[0] < 1000)
				return 2;
		} else {
			fprintf(stderr,
				"usage: %s [--quick] [--ms N] [--rounds N] "
				"[--write-rate WRITES_PER_S]\n"
				"  [--only spinning|paced|idle|map] [--cpu-time]\n",
				argv[0]);
			return 2;
		}
	}
	if (ms < 1 || rounds < 1 || rounds > MAX_ROUNDS)
		return 2;
	reads_unit = cpu_time ? "reads per reader CPU s" : "reads/s";
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
	pthread_rwlock_init(&sh->rw, &ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&sh->rw_wp, &ra);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&sh->mx, &ma);
	fill(sh->rw_value, 0);
	fill(sh->seq_value, 0);
	snprintf(store_name, sizeof(store_name), "bench/store-%d",
		 (int)getpid());
	shoal_store_options_init(&o);
	o.objects = objs;
	o.nobjects = 2;
	err = shoal_store_create(store_name, &o, &s);
	have_map = !err;
	if (err == -EINVAL) { /* no maps in this build */
		o.nobjects = 1;
		err = shoal_store_create(store_name, &o, &s);
	}
	if (err) {
		fprintf(stderr, "create: %s\n", shoal_last_error());
		return 1;
	}
	printf("shoal-bench-store: %d round%s of %d ms per implementation, "
	       "medians; %ld CPUs\n",
	       rounds, rounds > 1 ? "s" : "", ms,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int readers = 1;
	     readers <= MAX_READERS && !rc && wanted("spinning"); readers++)
		rc = figure("blackboard, 64 B value, readers spinning against "
			    "one writer",
			    bb_impls, 4, readers, reads_unit, "writes/s");
	for (int i = 0; i < nrates && !rc && wanted("paced"); i++) {
		write_rate = rates[i];
		snprintf(title, sizeof(title),
			 "blackboard, 64 B value, readers spinning, writer "
			 "paced at %ld writes/s",
			 write_rate);
		for (int readers = 1; readers <= MAX_READERS && !rc; readers++)
			rc = figure(title, bb_impls, 4, readers, reads_unit,
				    "writes/s");
	}
	write_rate = 0;
	writer_idle = 1;
	if (!rc && wanted("idle"))
		rc = figure("blackboard, 64 B value, readers alone (no writes)",
			    idle_impls, 3, 1, reads_unit, "writes/s");
	writer_idle = 0;
	if (!rc && have_map && wanted("map"))
		rc = figure("map, 1024 keys of 16 B, 64 B values", map_impls, 2,
			    1, "lookups/s", "puts/s");
	else if (!rc && wanted("map"))
		printf("\nmap: skipped (this build's store has no maps)\n");
	shoal_store_destroy(s);
	return rc ? 1 : 0;
}
