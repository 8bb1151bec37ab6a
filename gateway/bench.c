/* SPDX-License-Identifier: MIT */
/*
 * shoal-gateway-bench: the gateway against plain libnats, through the same
 * nats-server in the same run (bench/README.md, "The NATS gateway").
 *
 *   shoal-gateway-bench SHOAL-GATEWAY [--latency N] [--rate R|match]
 *                       [--capacity SLOTS] [--lossy-only | --reliable-only]
 *                       [--no-latency | --latency-only] [--cpu]
 *                       [--size BYTES]
 *                       [-- GATEWAY-OPTION...]
 *
 * Starts nats-server (from PATH) on 127.0.0.1 and a free port, two
 * registries (A and B, in a temporary directory) and a gateway on each (A
 * exports, B imports), then measures:
 *
 *   throughput  a publisher writing 1 KiB, then 64 KiB messages as
 *               fast as it can for 3 s; the rate is what the far
 *               subscriber received per second, from its first receipt
 *               to its last (and how many of those sent it got). Lossy:
 *               plain natsConnection_Publish -> an async subscription on
 *               another connection, against a lossy shoal_pub_write on A
 *               -> gateway A -> core NATS -> gateway B -> the mirror ->
 *               shoal_sub_take on B. Reliable: plain js_Publish (one at a
 *               time, waiting for its ack, into a stream of its own) ->
 *               a subscription to the subject, against a reliable
 *               publisher through the gateways (JetStream both ways).
 *               --rate R: the lossy runs' publishers offer R msg/s (in
 *               bursts of a millisecond's worth, sleeping between), not
 *               as fast as they can: both sides at the same load.
 *               --rate match: plain libnats as fast as it can first,
 *               then the gateway twice: as fast as it can, and offered
 *               the rate plain libnats reached in that run (so an
 *               unpaced shoal publisher spinning on a core is not what
 *               is measured).
 *               --lossy-only: no reliable runs; --reliable-only: no
 *               lossy runs; --no-latency: no latency runs;
 *               --latency-only: no throughput runs. Options after
 *               "--" go to both gateways (e.g. --reliable-window 16).
 *               --size BYTES: throughput runs of that size only.
 *               --capacity SLOTS: the ring of the local publisher and
 *               so of the far mirror (default 1024).
 *   --cpu       after each run, the CPU time (user + system, from
 *               /proc/PID/task/TID/schedstat, nanoseconds) of every
 *               process on the path and what each handled: plain
 *               libnats' publisher (the bench's main thread and the
 *               threads its connection started), its subscriber (the
 *               threads of the other connection and its subscription)
 *               and nats-server; the shoal publisher (main thread),
 *               gateway A, nats-server, gateway B and the shoal
 *               subscriber (its thread); per message delivered.
 *   latency     one 64 B message per millisecond carrying its
 *               CLOCK_MONOTONIC send time; one-way latency at the
 *               receiver, median and 99th percentile. Same two paths.
 *
 * Everything runs on this host, so the clock is shared. Nothing here is
 * asserted; run it pinned (taskset) on a quiet machine.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <shoal.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Each throughput run publishes for this long, as fast as it can. */
#define DURATION_NS 3000000000LL

static char url[64], dir_a[256], dir_b[256];
static pid_t pids[3];
static struct shoal_registry *reg_a, *reg_b;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static pid_t spawn(char *const argv[], const char *shoal_dir)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* SHOAL_GW_BENCH_LOG=1 keeps the gateways' logs (stdout)
		 * and the server's (stderr): the gateways say what each
		 * export sent and each import received, which tells where
		 * lossy messages were lost. */
		if (!getenv("SHOAL_GW_BENCH_LOG")) {
			dup2(null, 1);
			dup2(null, 2);
		}
		if (shoal_dir)
			setenv("SHOAL_DIR", shoal_dir, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop_all(void)
{
	for (int i = 2; i >= 0; i--)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
		}
}

/* Waits until @name is live in @reg (10 s at most): 0 or -1. */
static int wait_service(struct shoal_registry *reg, const char *name)
{
	int64_t end = now_ns() + 10000000000LL;

	while (now_ns() < end) {
		struct shoal_service *svc;

		if (!shoal_registry_open(reg, name, SHOAL_OPEN_READ_ONLY,
					 &svc)) {
			shoal_service_close(svc);
			return 0;
		}
		usleep(10000);
	}
	fprintf(stderr, "%s never appeared\n", name);
	return -1;
}

/* --- what a receiver records */

struct rx {
	atomic_uint_fast64_t got;
	atomic_int_fast64_t first_ns;
	atomic_int_fast64_t last_ns;
	int64_t *lat; /* latency mode: one per message */
	uint64_t lat_cap;
	atomic_int stop;
};

static void rx_note(struct rx *r, const void *data, int len)
{
	int64_t t = now_ns();
	uint64_t i = atomic_fetch_add(&r->got, 1);

	if (!i)
		atomic_store(&r->first_ns, t);

	atomic_store(&r->last_ns, t);
	if (r->lat && i < r->lat_cap && len >= 8) {
		int64_t sent;

		memcpy(&sent, data, 8);
		r->lat[i] = t - sent;
	}
}

static void on_nats(natsConnection *nc, natsSubscription *sub, natsMsg *m,
		    void *closure)
{
	(void)nc;
	(void)sub;
	rx_note(closure, natsMsg_GetData(m), natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
}

struct shoal_rx {
	struct rx *r;
	struct shoal_sub *sub;
	atomic_int tid; /* --cpu: the thread's id, once it runs */
};

static void *shoal_rx_main(void *arg)
{
	struct shoal_rx *s = arg;

	atomic_store(&s->tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&s->r->stop)) {
		struct shoal_msg m;

		if (shoal_sub_take(s->sub, &m, 50000000))
			continue;
		rx_note(s->r, m.data, (int)m.len);
		shoal_sub_release(s->sub, &m);
	}
	return NULL;
}

/* Waits until @r got @want or nothing came for 1 s. */
static void rx_wait(struct rx *r, uint64_t want)
{
	while (atomic_load(&r->got) < want &&
	       now_ns() - atomic_load(&r->last_ns) < 1000000000LL)
		usleep(1000);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_latency(const char *what, struct rx *r)
{
	uint64_t n = atomic_load(&r->got);

	if (n > r->lat_cap)
		n = r->lat_cap;
	if (!n) {
		printf("%-20s no message received\n", what);
		return;
	}
	qsort(r->lat, n, sizeof(int64_t), cmp64);
	printf("%-20s median %8.1f us  p99 %8.1f us  (%" PRIu64 " messages)\n",
	       what, (double)r->lat[n / 2] / 1e3,
	       (double)r->lat[n * 99 / 100] / 1e3, n);
}

/* --rate: messages per second the lossy throughput runs offer (0: as
 * fast as they can). */
static uint64_t offered_rate;
/* --rate match: plain unpaced, the gateway unpaced and at plain's rate. */
static int rate_match;
/* --capacity N: slots of the local publisher's ring (and so of the far
 * mirror's, which the importing gateway makes the same). */
static uint32_t ring_capacity = 1024;
/* --size N: throughput runs of N bytes only (default 1 KiB and 64 KiB). */
static size_t only_size;

/* --- --cpu: CPU time of every process on the path */

static int cpu_report;

#define TIDS_MAX 512

/* The threads of a process and, for each, its CPU time (ns) and the times
 * it went to sleep (voluntary context switches) when taken. */
struct snap {
	int n;
	pid_t tid[TIDS_MAX];
	int64_t ns[TIDS_MAX];
	int64_t sleeps[TIDS_MAX];
};

/* The threads of @pid (0: this process) into @s, without their times. */
static void snap_tids(pid_t pid, struct snap *s)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	s->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task",
		 pid ? (int)pid : getpid());
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && s->n < TIDS_MAX)
		if (de->d_name[0] != '.')
			s->tid[s->n++] = (pid_t)atoi(de->d_name);
	closedir(d);
}

static int snap_has(const struct snap *s, pid_t tid)
{
	for (int i = 0; i < s->n; i++)
		if (s->tid[i] == tid)
			return 1;
	return 0;
}

/* One thread's CPU time (schedstat's first field, ns) and voluntary
 * context switches; 0 and 0 once it is gone. */
static void thread_cpu(pid_t pid, pid_t tid, int64_t *ns, int64_t *sleeps)
{
	char path[96], line[256];
	FILE *f;

	*ns = 0;
	*sleeps = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid,
		 (int)tid);
	f = fopen(path, "r");
	if (f) {
		long long v = 0;

		if (fscanf(f, "%lld", &v) == 1)
			*ns = v;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "voluntary_ctxt_switches:", 24))
			*sleeps = atoll(line + 24);
	fclose(f);
}

static void snap_take(pid_t pid, struct snap *s)
{
	pid_t p = pid ? pid : getpid();

	snap_tids(pid, s);
	for (int i = 0; i < s->n; i++)
		thread_cpu(p, s->tid[i], &s->ns[i], &s->sleeps[i]);
}

/* CPU (ns) and sleeps from @a to @b of the threads in @only (all when
 * NULL; none of @except). A thread gone by @b is left out: its time since
 * @a is lost (the gateways' threads live through a run). */
static void snap_delta(const struct snap *a, const struct snap *b,
		       const struct snap *only, const struct snap *except,
		       int64_t *ns, int64_t *sleeps)
{
	*ns = 0;
	*sleeps = 0;
	for (int i = 0; i < b->n; i++) {
		int64_t ns0 = 0, sl0 = 0;

		if ((only && !snap_has(only, b->tid[i])) ||
		    (except && snap_has(except, b->tid[i])))
			continue;
		for (int j = 0; j < a->n; j++)
			if (a->tid[j] == b->tid[i]) {
				ns0 = a->ns[j];
				sl0 = a->sleeps[j];
			}
		*ns += b->ns[i] - ns0;
		*sleeps += b->sleeps[i] - sl0;
	}
}

/* A run's snapshots: this process, nats-server, gateway A, gateway B. */
struct cpu_run {
	struct snap s[2][4];
	int64_t t0, wall_ns;
};

static void cpu_take(struct cpu_run *c, int end)
{
	if (!cpu_report)
		return;
	if (!end)
		c->t0 = now_ns();
	else
		c->wall_ns = now_ns() - c->t0;
	snap_take(0, &c->s[end][0]);
	for (int i = 0; i < 3; i++)
		snap_take(pids[i], &c->s[end][1 + i]);
}

static void cpu_line(const char *who, int64_t ns, int64_t sleeps,
		     const char *what, uint64_t handled, uint64_t delivered)
{
	printf("  cpu %-16s %8.1f ms %9" PRId64 " sleeps  %-9s %10" PRIu64
	       "  %6.2f us/delivered  %6.2f us/handled\n",
	       who, (double)ns / 1e6, sleeps, what, handled,
	       delivered ? (double)ns / 1e3 / (double)delivered : 0,
	       handled ? (double)ns / 1e3 / (double)handled : 0);
}

/*
 * Prints the run's CPU per process: @pub and @sub the bench's threads that
 * publish and subscribe (the rest of the bench, idle libnats threads, as
 * "bench, other"); @handled[0..4] what the publisher sent, gateway A
 * took, gateway B wrote into the mirror, and the subscriber got (plain:
 * only [0] and [3]).
 */
static void cpu_print(struct cpu_run *c, const struct snap *pub,
		      const struct snap *sub, int gw, const uint64_t *handled)
{
	uint64_t got = handled[3];
	int64_t ns, sl, total = 0;

	if (!cpu_report)
		return;
	snap_delta(&c->s[0][0], &c->s[1][0], pub, NULL, &ns, &sl);
	total += ns;
	cpu_line("publisher", ns, sl, "sent", handled[0], got);
	if (gw) {
		snap_delta(&c->s[0][2], &c->s[1][2], NULL, NULL, &ns, &sl);
		total += ns;
		cpu_line("gateway A", ns, sl, "took", handled[1], got);
	}
	snap_delta(&c->s[0][1], &c->s[1][1], NULL, NULL, &ns, &sl);
	total += ns;
	cpu_line("nats-server", ns, sl, "delivered", got, got);
	if (gw) {
		snap_delta(&c->s[0][3], &c->s[1][3], NULL, NULL, &ns, &sl);
		total += ns;
		cpu_line("gateway B", ns, sl, "wrote", handled[2], got);
	}
	snap_delta(&c->s[0][0], &c->s[1][0], sub, NULL, &ns, &sl);
	total += ns;
	cpu_line("subscriber", ns, sl, "got", got, got);
	{
		struct snap both = *pub;

		for (int i = 0; i < sub->n && both.n < TIDS_MAX; i++)
			both.tid[both.n++] = sub->tid[i];
		snap_delta(&c->s[0][0], &c->s[1][0], NULL, &both, &ns, &sl);
		cpu_line("bench, other", ns, sl, "-", 0, got);
	}
	printf("  cpu %-16s %8.1f ms (of %.1f ms wall x 2 cores)  %6.2f "
	       "us/delivered\n",
	       "path total", (double)total / 1e6, (double)(c->wall_ns) / 1e6,
	       got ? (double)total / 1e3 / (double)got : 0);
}

/*
 * Paces the @i-th message of a run begun at @t0 to offered_rate, in bursts
 * of a millisecond's worth: the publisher sleeps between bursts instead of
 * spinning, so it leaves the CPU to the rest.
 */
static void pace(uint64_t i, int64_t t0)
{
	uint64_t burst = offered_rate / 1000 ? offered_rate / 1000 : 1;
	int64_t due, t;

	if (!offered_rate || i % burst)
		return;
	due = t0 + (int64_t)(i * 1000000000ULL / offered_rate);
	while ((t = now_ns()) < due)
		usleep((useconds_t)((due - t) / 1000 + 1));
}

/* --- plain libnats */

static void plain(size_t size, uint64_t count, int latency, int rel,
		  double *rate)
{
	natsConnection *pub = NULL, *subc = NULL;
	natsSubscription *sub = NULL;
	jsCtx *js = NULL;
	struct rx r = { 0 };
	char *buf = calloc(1, size);
	uint64_t sent = 0;
	int64_t t0;
	static struct cpu_run c;
	static struct snap pre, mid, subs;

	if (latency) {
		r.lat = calloc(count, sizeof(int64_t));
		r.lat_cap = count;
	}
	/* --cpu: the threads each connection starts are its own. */
	snap_tids(0, &pre);
	natsConnection_ConnectTo(&pub, url);
	snap_tids(0, &mid);
	natsConnection_ConnectTo(&subc, url);
	if (rel) {
		jsStreamConfig sc;
		const char *subjects[] = { "benchjs.>" };

		natsConnection_JetStream(&js, pub, NULL);
		jsStreamConfig_Init(&sc);
		sc.Name = "BENCH";
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		js_AddStream(NULL, js, &sc, NULL, NULL);
	}
	natsConnection_Subscribe(&sub, subc, rel ? "benchjs.x" : "bench.plain",
				 on_nats, &r);
	natsSubscription_SetPendingLimits(sub, -1, -1);
	natsConnection_Flush(subc);
	snap_tids(0, &subs);
	{
		/* Publisher: the main thread and the threads the first
		 * connection started; subscriber: the rest started since. */
		struct snap p = { 0 }, q = { 0 };

		p.tid[p.n++] = getpid();
		for (int i = 0; i < mid.n; i++)
			if (!snap_has(&pre, mid.tid[i]) &&
			    mid.tid[i] != getpid())
				p.tid[p.n++] = mid.tid[i];
		for (int i = 0; i < subs.n; i++)
			if (!snap_has(&mid, subs.tid[i]))
				q.tid[q.n++] = subs.tid[i];
		mid = p;
		subs = q;
	}
	atomic_store(&r.last_ns, now_ns());
	cpu_take(&c, 0);
	t0 = now_ns();
	for (uint64_t i = 0; latency ? i < count : now_ns() - t0 < DURATION_NS;
	     i++) {
		sent = i + 1;
		if (latency) {
			int64_t due = t0 + (int64_t)i * 1000000, t;

			while ((t = now_ns()) < due)
				usleep(50);
			memcpy(buf, &t, 8);
		}
		if (!latency && !rel)
			pace(i, t0);
		if (rel)
			js_Publish(NULL, js, "benchjs.x", buf, (int)size, NULL,
				   NULL);
		else
			natsConnection_Publish(pub, "bench.plain", buf,
					       (int)size);
		if (latency)
			natsConnection_Flush(pub);
	}
	natsConnection_Flush(pub);
	rx_wait(&r, latency ? count : sent);
	cpu_take(&c, 1);
	if (latency) {
		report_latency("plain   core,  64 B", &r);
	} else {
		uint64_t got = atomic_load(&r.got);
		double s = (double)(atomic_load(&r.last_ns) -
				    atomic_load(&r.first_ns)) /
			   1e9;

		*rate = s > 0 ? (double)got / s : 0;
		printf("plain   %-9s %6zu B %10.0f msg/s %8.1f MiB/s "
		       "(%" PRIu64 " of %" PRIu64 " received)\n",
		       rel ? "JetStream" : "core", size, *rate,
		       *rate * (double)size / 1048576.0, got, sent);
	}
	{
		uint64_t h[4] = { sent, 0, 0, atomic_load(&r.got) };

		cpu_print(&c, &mid, &subs, 0, h);
	}
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(subc);
	free(r.lat);
	free(buf);
}

/* --- through the gateways */

static void gateway(size_t size, uint64_t count, int latency, int rel,
		    double *rate)
{
	uint64_t offered = offered_rate;
	static int round;
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pub *pub = NULL;
	struct shoal_rx srx;
	struct rx r = { 0 };
	char name[64];
	char *buf = calloc(1, size);
	pthread_t t;
	uint64_t sent = 0;
	int64_t t0;
	static struct cpu_run c;
	struct snap ps = { 0 }, ss = { 0 };
	uint64_t h[4] = { 0 };

	snprintf(name, sizeof(name), "bench/gw%d", round++);
	shoal_pub_options_init(&po);
	po.registry = reg_a;
	po.delivery = rel ? SHOAL_DELIVERY_RELIABLE : SHOAL_DELIVERY_LOSSY;
	po.capacity = ring_capacity;
	po.max_payload = (uint32_t)size;
	if (shoal_pub_create(name, &po, &pub) || wait_service(reg_b, name)) {
		fprintf(stderr, "gateway: no mirror of %s\n", name);
		shoal_pub_destroy(pub);
		free(buf);
		return;
	}
	shoal_sub_options_init(&so);
	so.registry = reg_b;
	srx.r = &r;
	if (shoal_sub_open(name, &so, &srx.sub)) {
		fprintf(stderr, "gateway: cannot subscribe: %s\n",
			shoal_last_error());
		shoal_pub_destroy(pub);
		free(buf);
		return;
	}
	if (latency) {
		r.lat = calloc(count, sizeof(int64_t));
		r.lat_cap = count;
	}
	atomic_store(&srx.tid, 0);
	pthread_create(&t, NULL, shoal_rx_main, &srx);
	while (!atomic_load(&srx.tid))
		usleep(100);
	ps.tid[ps.n++] = getpid();
	ss.tid[ss.n++] = (pid_t)atomic_load(&srx.tid);
	atomic_store(&r.last_ns, now_ns());
	cpu_take(&c, 0);
	t0 = now_ns();
	for (uint64_t i = 0; latency ? i < count : now_ns() - t0 < DURATION_NS;
	     i++) {
		sent = i + 1;
		if (latency) {
			int64_t due = t0 + (int64_t)i * 1000000, tn;

			while ((tn = now_ns()) < due)
				usleep(50);
			memcpy(buf, &tn, 8);
		}
		if (!latency && !rel)
			pace(i, t0);
		shoal_pub_write(pub, buf, (uint32_t)size, NULL);
	}
	rx_wait(&r, latency ? count : sent);
	cpu_take(&c, 1);
	if (cpu_report) {
		/* What gateway A's subscriber took, and what gateway B
		 * wrote into the mirror (its ring's head: a new one). */
		struct shoal_pubsub_info pi;
		struct shoal_pubsub_sub_info si[4];

		if (shoal_pubsub_inspect(reg_a, name, &pi, si, 4) > 0)
			for (int i = 0; i < 4 && i < (int)pi.subscribers; i++)
				h[1] += si[i].received;
		if (shoal_pubsub_inspect(reg_b, name, &pi, NULL, 0) >= 0)
			h[2] = pi.head;
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	if (latency) {
		report_latency("gateway lossy, 64 B", &r);
	} else {
		uint64_t got = atomic_load(&r.got);
		double s = (double)(atomic_load(&r.last_ns) -
				    atomic_load(&r.first_ns)) /
			   1e9;

		*rate = s > 0 ? (double)got / s : 0;
		printf("gateway %-9s %6zu B %10.0f msg/s %8.1f MiB/s "
		       "(%" PRIu64 " of %" PRIu64 " received)",
		       rel ? "reliable" : "lossy", size, *rate,
		       *rate * (double)size / 1048576.0, got, sent);
		if (!rel && offered)
			printf(" offered %" PRIu64 " msg/s", offered);
		printf("\n");
	}
	h[0] = sent;
	h[3] = atomic_load(&r.got);
	cpu_print(&c, &ps, &ss, 1, h);
	shoal_sub_close(srx.sub);
	shoal_pub_destroy(pub);
	free(r.lat);
	free(buf);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/shoal-gw-bench-XXXXXX", store[300], port[16];
	uint64_t lat_count = 2000;
	int lossy_only = 0, reliable_only = 0, no_latency = 0, ngwopt = 0;
	int latency_only = 0;
	char *gwopt[16];
	struct shoal_registry_options ro;
	int p = free_port();

	if (argc < 2) {
		fprintf(stderr,
			"usage: %s SHOAL-GATEWAY "
			"[--latency N] [--rate MSGS-PER-S|match]\n"
			"  [--capacity SLOTS] [--lossy-only | --reliable-only] "
			"[--no-latency | --latency-only] [--cpu] [--size N] "
			"[-- GATEWAY-OPTION...]\n",
			argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (++i < argc && ngwopt < 15)
				gwopt[ngwopt++] = argv[i];
		} else if (!strcmp(argv[i], "--lossy-only")) {
			lossy_only = 1;
		} else if (!strcmp(argv[i], "--reliable-only")) {
			reliable_only = 1;
		} else if (!strcmp(argv[i], "--no-latency")) {
			no_latency = 1;
		} else if (!strcmp(argv[i], "--latency-only")) {
			latency_only = 1;
		} else if (!strcmp(argv[i], "--cpu")) {
			cpu_report = 1;
		} else if (i + 1 < argc && !strcmp(argv[i], "--size")) {
			only_size = strtoull(argv[++i], NULL, 10);
		} else if (i + 1 < argc && !strcmp(argv[i], "--capacity")) {
			ring_capacity = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (i + 1 < argc && !strcmp(argv[i], "--latency")) {
			lat_count = strtoull(argv[++i], NULL, 10);
		} else if (i + 1 < argc && !strcmp(argv[i], "--rate")) {
			if (!strcmp(argv[++i], "match"))
				rate_match = 1;
			else
				offered_rate = strtoull(argv[i], NULL, 10);
		}
	}
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(dir_a, sizeof(dir_a), "%s/a", tmpl);
	snprintf(dir_b, sizeof(dir_b), "%s/b", tmpl);
	snprintf(store, sizeof(store), "%s/js", tmpl);
	snprintf(port, sizeof(port), "%d", p);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", p);
	{
		char *ns[] = { "nats-server", "-a",  "127.0.0.1", "-p", port,
			       "-js",	      "-sd", store,	  NULL };
		char *ga[24] = { argv[1], "--server", url, "--export",
				 "bench/*" };
		char *gb[24] = { argv[1], "--server", url, "--import",
				 "bench/*" };

		for (int i = 0; i < ngwopt; i++)
			ga[5 + i] = gb[5 + i] = gwopt[i];

		pids[0] = spawn(ns, NULL);
		usleep(500000);
		pids[1] = spawn(ga, dir_a);
		pids[2] = spawn(gb, dir_b);
	}
	shoal_registry_options_init(&ro);
	ro.dir = dir_a;
	if (shoal_registry_create(&ro, &reg_a))
		return 1;
	ro.dir = dir_b;
	if (shoal_registry_create(&ro, &reg_b))
		return 1;
	printf("nats-server %s; each throughput run 3 s", url);
	if (offered_rate)
		printf("; lossy runs offered %" PRIu64 " msg/s", offered_rate);
	if (rate_match)
		printf("; lossy gateway runs also offered plain's rate");
	for (int i = 0; i < ngwopt; i++)
		printf("%s%s", i ? " " : "; gateways given: ", gwopt[i]);
	printf("\n");
	{
		size_t sizes[2] = { 1024, 65536 };

		for (int rel = reliable_only;
		     !latency_only && rel < (lossy_only ? 1 : 2); rel++)
			for (int i = 0; i < 2; i++) {
				double rp = 0, rg = 0, rm = 0;

				if (only_size) {
					if (i)
						break;
					sizes[0] = only_size;
				}
				plain(sizes[i], 0, 0, rel, &rp);
				gateway(sizes[i], 0, 0, rel, &rg);
				printf("  gateway / plain: %.2fx\n",
				       rp > 0 ? rg / rp : 0);
				if (rel || !rate_match || !(rp >= 1))
					continue;
				offered_rate = (uint64_t)rp;
				gateway(sizes[i], 0, 0, rel, &rm);
				offered_rate = 0;
				printf("  gateway at plain's rate / plain: "
				       "%.2fx\n",
				       rm / rp);
			}
		if (!no_latency) {
			plain(64, lat_count, 1, 0, NULL);
			gateway(64, lat_count, 1, 0, NULL);
		}
	}
	stop_all();
	shoal_registry_destroy(reg_a);
	shoal_registry_destroy(reg_b);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nats_Close();
	return 0;
}
