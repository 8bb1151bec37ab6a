/* SPDX-License-Identifier: MIT */
/*
 * shoal-gateway-bench: the gateway against plain libnats, through the same
 * nats-server in the same run (bench/README.md, "The NATS gateway").
 *
 *   shoal-gateway-bench SHOAL-GATEWAY [--latency N] [--rate R|match]
 *                       [--capacity SLOTS] [--lossy-only | --reliable-only]
 *                       [--no-latency | --latency-only]
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
 *               --capacity SLOTS: the ring of the local publisher and
 *               so of the far mirror (default 1024).
 *   latency     one 64 B message per millisecond carrying its
 *               CLOCK_MONOTONIC send time; one-way latency at the
 *               receiver, median and 99th percentile. Same two paths.
 *
 * Everything runs on this host, so the clock is shared. Nothing here is
 * asserted; run it pinned (taskset) on a quiet machine.
 */
#include <arpa/inet.h>
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
};

static void *shoal_rx_main(void *arg)
{
	struct shoal_rx *s = arg;

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

	if (latency) {
		r.lat = calloc(count, sizeof(int64_t));
		r.lat_cap = count;
	}
	natsConnection_ConnectTo(&pub, url);
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
	atomic_store(&r.last_ns, now_ns());
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
	pthread_create(&t, NULL, shoal_rx_main, &srx);
	atomic_store(&r.last_ns, now_ns());
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
			"[--no-latency | --latency-only] "
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
