/* SPDX-License-Identifier: MIT */
/*
 * shoal bench: quick pub/sub, queue and rpc figures between two processes.
 *
 * For each figure, bench starts two peers (itself, run as the hidden
 * "__bench-peer"), pinned to two different CPUs when there are two. They
 * know only a name prefix unique to this run and find each other through
 * the registry:
 *   peer a publishes PREFIX/a, then subscribes to PREFIX/b (retrying until
 *          it exists);
 *   peer b subscribes to PREFIX/a, then publishes PREFIX/b.
 * So once a holds its subscription, b is subscribed too and nothing sent
 * is missed. Queue figures do the same with a queue each way (a creates
 * PREFIX/a and produces into it, b consumes it; and back through
 * PREFIX/b); rpc figures have one service, b's server PREFIX/b, whose
 * client a is. Peer a measures and prints one line on its stdout, a pipe to
 * bench:
 *   "rtt P50 P99 N"                    round trips: a sends i (8 bytes), b
 *                                      echoes it, a checks it
 *   "tput RATE RECEIVED BAD EXPECTED"  a sends 64-byte messages to b, b
 *                                      checks each one and acknowledges
 *                                      the warm-up and the end with its
 *                                      counts
 * The full benchmark suite, with baselines, is bench/.
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* How long a peer waits for the other before it gives up. */
#define PEER_TIMEOUT_NS (10 * 1000000000LL)
#define TPUT_SIZE 64

/* --- the peer (hidden subcommand) */

/* What carries a figure's messages. */
enum bench_pattern {
	BENCH_PUBSUB,
	BENCH_QUEUE,
	BENCH_RPC,
};

struct peer {
	const struct cli_cmd *cmd;
	int pattern; /* enum bench_pattern */
	enum shoal_wait_strategy wait;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct shoal_queue *qout, *qin;
	struct shoal_rpc_server *srv;
	struct shoal_rpc_client *cli;
	/* The server's last request: what peer_send() answers. */
	struct shoal_request req;
	uint64_t iters, warmup;
};

struct tput_ack {
	uint64_t received;
	uint64_t bad;
};

/*
 * Creates this peer's service @name, for messages of @size bytes: a
 * publisher, a queue it produces into, or (peer b of an rpc figure) the
 * server.
 */
static int peer_offer(struct peer *p, const char *name, uint32_t size)
{
	int err;

	if (p->pattern == BENCH_QUEUE) {
		struct shoal_queue_options o;

		shoal_queue_options_init(&o);
		o.max_message = size;
		o.role = SHOAL_QUEUE_PRODUCER;
		o.strategy = p->wait;
		o.send_timeout_ns = PEER_TIMEOUT_NS;
		err = shoal_queue_create(name, &o, &p->qout);
	} else if (p->pattern == BENCH_RPC) {
		struct shoal_rpc_server_options o;

		shoal_rpc_server_options_init(&o);
		o.max_clients = 1;
		o.max_request = o.max_response = size;
		o.strategy = p->wait;
		o.send_timeout_ns = PEER_TIMEOUT_NS;
		err = shoal_rpc_server_create(name, &o, &p->srv);
	} else {
		struct shoal_pub_options o;

		shoal_pub_options_init(&o);
		o.capacity = 1024;
		o.max_payload = size;
		o.send_timeout_ns = PEER_TIMEOUT_NS;
		err = shoal_pub_create(name, &o, &p->pub);
	}
	if (err)
		return cli_fail(p->cmd, err, "cannot create '%s'", name);
	return 0;
}

static int join_once(struct peer *p, const char *name)
{
	if (p->pattern == BENCH_QUEUE) {
		struct shoal_queue_options o;

		shoal_queue_options_init(&o);
		o.role = SHOAL_QUEUE_CONSUMER;
		o.strategy = p->wait;
		return shoal_queue_open(name, &o, &p->qin);
	}
	if (p->pattern == BENCH_RPC) {
		struct shoal_rpc_client_options o;

		shoal_rpc_client_options_init(&o);
		o.strategy = p->wait;
		return shoal_rpc_client_open(name, &o, &p->cli);
	}
	{
		struct shoal_sub_options o;

		shoal_sub_options_init(&o);
		o.strategy = p->wait;
		return shoal_sub_open(name, &o, &p->sub);
	}
}

/* Joins the other peer's service @name, waiting for it to appear. */
static int peer_join(struct peer *p, const char *name)
{
	int64_t deadline = cli_now_ns() + PEER_TIMEOUT_NS;
	int err;

	for (;;) {
		err = join_once(p, name);
		if (err != -ENOENT || cli_now_ns() > deadline)
			break;
		usleep(1000);
	}
	if (err)
		return cli_fail(p->cmd, err, "cannot join '%s'", name);
	return 0;
}

static void peer_close(struct peer *p)
{
	shoal_sub_close(p->sub);
	shoal_pub_destroy(p->pub);
	if (p->qin)
		shoal_queue_close(p->qin);
	if (p->qout)
		shoal_queue_destroy(p->qout);
	shoal_rpc_client_close(p->cli);
	shoal_rpc_server_destroy(p->srv);
}

static int peer_send(struct peer *p, const void *data, uint32_t len)
{
	int err;

	if (p->pattern == BENCH_QUEUE)
		err = shoal_queue_write(p->qout, data, len);
	else if (p->srv)
		err = shoal_rpc_server_write(p->srv, &p->req, data, len, 0);
	else if (p->cli)
		err = shoal_rpc_client_write(p->cli, data, len, NULL);
	else
		err = shoal_pub_write(p->pub, data, len, NULL);
	if (err)
		return cli_fail(p->cmd, err, "send failed");
	return 0;
}

/*
 * Takes the next message, copying up to @cap bytes into @dst. Returns its
 * length (which may exceed @cap), or -1 (reported).
 */
static int64_t peer_recv(struct peer *p, void *dst, uint32_t cap)
{
	int64_t len;
	int err;

	if (p->pattern == BENCH_QUEUE) {
		len = shoal_queue_read(p->qin, dst, cap, PEER_TIMEOUT_NS);
		err = len < 0 ? (int)len : 0;
	} else if (p->srv) {
		err = shoal_rpc_server_take(p->srv, &p->req, PEER_TIMEOUT_NS);
		if (!err) {
			len = p->req.len;
			memcpy(dst, p->req.data, len < cap ? len : cap);
			shoal_rpc_server_release(p->srv, &p->req);
		}
	} else if (p->cli) {
		struct shoal_response r;

		err = shoal_rpc_client_take(p->cli, &r, PEER_TIMEOUT_NS);
		if (!err) {
			len = r.len;
			memcpy(dst, r.data, len < cap ? len : cap);
			shoal_rpc_client_release(p->cli, &r);
		}
	} else {
		struct shoal_msg m;

		err = shoal_sub_take(p->sub, &m, PEER_TIMEOUT_NS);
		if (!err) {
			len = m.len;
			memcpy(dst, m.data, len < cap ? len : cap);
			shoal_sub_release(p->sub, &m);
		}
	}
	if (err) {
		cli_fail(p->cmd, err, "receive failed");
		return -1;
	}
	return len;
}

/* Takes a message of exactly @len bytes into @dst. 0 or 1 (reported). */
static int peer_take(struct peer *p, void *dst, uint32_t len)
{
	int64_t n = peer_recv(p, dst, len);

	if (n < 0)
		return 1;
	if (n != len) {
		cli_note(p->cmd, "message mismatch: %lld bytes, expected %u",
			 (long long)n, len);
		return 1;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rtt_initiator(struct peer *p)
{
	uint64_t *ns = malloc(p->iters * sizeof(*ns));
	uint64_t n = p->warmup + p->iters;

	if (!ns)
		return cli_fail_sys(p->cmd, -ENOMEM, "out of memory");
	for (uint64_t i = 0; i < n; i++) {
		int64_t t0 = cli_now_ns();
		/* Set by peer_take() on success; initialised for gcc -O2. */
		uint64_t back = ~i;

		if (peer_send(p, &i, sizeof(i)) ||
		    peer_take(p, &back, sizeof(back))) {
			free(ns);
			return 1;
		}
		if (back != i) {
			cli_note(p->cmd,
				 "message mismatch: got %llu, sent %llu",
				 (unsigned long long)back,
				 (unsigned long long)i);
			free(ns);
			return 1;
		}
		if (i >= p->warmup)
			ns[i - p->warmup] = (uint64_t)(cli_now_ns() - t0);
	}
	qsort(ns, p->iters, sizeof(*ns), cmp_u64);
	printf("rtt %llu %llu %llu\n", (unsigned long long)ns[p->iters / 2],
	       (unsigned long long)ns[p->iters * 99 / 100],
	       (unsigned long long)p->iters);
	free(ns);
	return 0;
}

static int rtt_responder(struct peer *p)
{
	for (uint64_t i = 0; i < p->warmup + p->iters; i++) {
		uint64_t v;

		if (peer_take(p, &v, sizeof(v)))
			return 1;
		if (v != i) {
			cli_note(p->cmd,
				 "message mismatch: got %llu, "
				 "expected %llu",
				 (unsigned long long)v, (unsigned long long)i);
			return 1;
		}
		if (peer_send(p, &v, sizeof(v)))
			return 1;
	}
	return 0;
}

static void tput_fill(unsigned char *m, uint64_t seq)
{
	memcpy(m, &seq, sizeof(seq));
	for (unsigned j = sizeof(seq); j < TPUT_SIZE; j++)
		m[j] = (unsigned char)(seq + j);
}

static int tput_check(const unsigned char *d, int64_t len, uint64_t seq)
{
	uint64_t got;

	if (len != TPUT_SIZE)
		return 0;
	memcpy(&got, d, sizeof(got));
	return got == seq && d[8] == (unsigned char)(seq + 8) &&
	       d[TPUT_SIZE - 1] == (unsigned char)(seq + TPUT_SIZE - 1);
}

static int tput_sender(struct peer *p)
{
	unsigned char m[TPUT_SIZE];
	struct tput_ack ack;
	uint64_t i = 0;
	int64_t t0;

	for (; i < p->warmup; i++) {
		tput_fill(m, i);
		if (peer_send(p, m, sizeof(m)))
			return 1;
	}
	if (peer_take(p, &ack, sizeof(ack)))
		return 1;
	t0 = cli_now_ns();
	for (; i < p->warmup + p->iters; i++) {
		tput_fill(m, i);
		if (peer_send(p, m, sizeof(m)))
			return 1;
	}
	if (peer_take(p, &ack, sizeof(ack)))
		return 1;
	printf("tput %.0f %llu %llu %llu\n",
	       (double)p->iters * 1e9 / (double)(cli_now_ns() - t0),
	       (unsigned long long)ack.received, (unsigned long long)ack.bad,
	       (unsigned long long)i);
	return 0;
}

static int tput_receiver(struct peer *p)
{
	struct tput_ack ack = { 0 };

	for (uint64_t i = 0; i < p->warmup + p->iters; i++) {
		unsigned char m[TPUT_SIZE];
		int64_t len = peer_recv(p, m, sizeof(m));

		if (len < 0)
			return 1;
		ack.received++;
		ack.bad += !tput_check(m, len, i);
		if (i + 1 == p->warmup && peer_send(p, &ack, sizeof(ack)))
			return 1;
	}
	return peer_send(p, &ack, sizeof(ack));
}

/* What a peer's messages are prefixed with: "shoal: bench: peer a: ...",
 * the command the user ran, not the hidden one. */
static struct cli_cmd peer_msgs = { .name = "bench: peer ?" };

static int cmd_bench_peer(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct peer p = { .cmd = &peer_msgs, .pattern = BENCH_PUBSUB };
	const char *pos[3];
	char mine[SHOAL_SERVICE_NAME_MAX + 1],
		other[SHOAL_SERVICE_NAME_MAX + 1];
	uint64_t wait = SHOAL_WAIT_ADAPTIVE;
	int a, rtt, rc;
	uint32_t size;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--iters", &p.iters, 0),
		CLI_OPT_U64("--warmup", &p.warmup, 0),
		CLI_OPT_U64("--wait", &wait, SHOAL_WAIT_BLOCK),
		CLI_OPT_CHOICE("--pubsub", &p.pattern, BENCH_PUBSUB),
		CLI_OPT_CHOICE("--queue", &p.pattern, BENCH_QUEUE),
		CLI_OPT_CHOICE("--rpc", &p.pattern, BENCH_RPC),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, pos, 3);
	if (rc != CLI_CONTINUE)
		return rc;
	a = !strcmp(pos[0], "a");
	peer_msgs.name = a ? "bench: peer a" : "bench: peer b";
	rtt = !strcmp(pos[1], "rtt");
	if ((!a && strcmp(pos[0], "b")) || (!rtt && strcmp(pos[1], "tput")) ||
	    !p.iters || !p.warmup || (p.pattern == BENCH_RPC && !rtt))
		return cli_usage_error(cmd, "bad arguments");
	p.wait = (enum shoal_wait_strategy)wait;
	snprintf(mine, sizeof(mine), "%s/%s", pos[2], a ? "a" : "b");
	snprintf(other, sizeof(other), "%s/%s", pos[2], a ? "b" : "a");
	size = rtt ? sizeof(uint64_t) :
		     (a ? TPUT_SIZE : (uint32_t)sizeof(struct tput_ack));

	/*
	 * Peer a's join returns only once b's service exists, and b creates
	 * it only after joining a's: so a starts with both sides joined. An
	 * rpc figure has one service, b's server; a is its client.
	 */
	if (p.pattern == BENCH_RPC)
		rc = a ? peer_join(&p, other) : peer_offer(&p, mine, size);
	else if (a)
		rc = peer_offer(&p, mine, size) || peer_join(&p, other);
	else
		rc = peer_join(&p, other) || peer_offer(&p, mine, size);
	if (!rc && rtt)
		rc = a ? rtt_initiator(&p) : rtt_responder(&p);
	else if (!rc)
		rc = a ? tput_sender(&p) : tput_receiver(&p);
	peer_close(&p);
	return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_bench_peer = {
	.name = "__bench-peer",
	.summary = "one side of a bench figure",
	.synopsis = "__bench-peer a|b rtt|tput PREFIX --iters N --warmup W "
		    "[--wait S] [--pubsub|--queue|--rpc]",
	.help = "One side of a 'shoal bench' figure; not for direct use.\n",
	.run = cmd_bench_peer,
	.hidden = 1,
};

/* --- bench */

struct bench_cpus {
	int available;
	int cpu[2]; /* peer a's and b's; -1: unpinned */
};

struct bench_fig {
	const char *name;
	int pattern; /* enum bench_pattern */
	const char *what;
	const char *mode; /* the peers' "rtt" or "tput" */
	enum shoal_wait_strategy wait;
	uint64_t iters, warmup;		    /* full run */
	uint64_t quick_iters, quick_warmup; /* --quick */
};

/* The first three keep their names from when bench measured only pub/sub. */
static const struct bench_fig figures[] = {
	{ "rtt-poll", BENCH_PUBSUB, "round trip, 8 B", "rtt",
	  SHOAL_WAIT_BUSY_SPIN, 200000, 20000, 5000, 1000 },
	{ "rtt-block", BENCH_PUBSUB, "round trip, 8 B", "rtt", SHOAL_WAIT_BLOCK,
	  50000, 5000, 3000, 500 },
	{ "throughput", BENCH_PUBSUB, "one way, 64 B", "tput",
	  SHOAL_WAIT_BUSY_SPIN, 10000000, 1000000, 500000, 50000 },
	{ "queue-rtt", BENCH_QUEUE, "round trip, 8 B", "rtt",
	  SHOAL_WAIT_BUSY_SPIN, 200000, 20000, 5000, 1000 },
	{ "queue-tput", BENCH_QUEUE, "one way, 64 B", "tput",
	  SHOAL_WAIT_BUSY_SPIN, 5000000, 500000, 200000, 20000 },
	{ "rpc-poll", BENCH_RPC, "round trip, 8 B", "rtt", SHOAL_WAIT_BUSY_SPIN,
	  200000, 20000, 5000, 1000 },
	{ "rpc-block", BENCH_RPC, "round trip, 8 B", "rtt", SHOAL_WAIT_BLOCK,
	  50000, 5000, 3000, 500 },
};

static const char *const pattern_names[] = {
	[BENCH_PUBSUB] = "pubsub",
	[BENCH_QUEUE] = "queue",
	[BENCH_RPC] = "rpc",
};

#define N_FIGURES (sizeof(figures) / sizeof(figures[0]))

struct bench_res {
	int ok;
	char error[160];
	enum shoal_wait_strategy wait;
	uint64_t p50, p99, n;
	double rate;
	unsigned long long received, bad, expected;
};

static void bench_pick_cpus(struct bench_cpus *c)
{
	cpu_set_t set;
	int found = 0;

	c->available = 1;
	c->cpu[0] = c->cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	c->available = CPU_COUNT(&set);
	for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			c->cpu[found++] = cpu;
	if (found < 2)
		c->cpu[0] = c->cpu[1] = -1;
}

/*
 * Busy-polling with both peers on one CPU measures the scheduler: there,
 * spinning figures spin and yield instead.
 */
static enum shoal_wait_strategy fig_wait(const struct bench_fig *f,
					 const struct bench_cpus *c)
{
	if (f->wait != SHOAL_WAIT_BUSY_SPIN || c->cpu[0] >= 0)
		return f->wait;
	return !strcmp(f->mode, "rtt") ? SHOAL_WAIT_SPIN_YIELD :
					 SHOAL_WAIT_ADAPTIVE;
}

static pid_t spawn_peer(const char *role, const struct bench_fig *f,
			const char *prefix, int quick,
			enum shoal_wait_strategy wait, int cpu, int out_fd)
{
	char iters[24], warmup[24], ws[8];
	char *argv[] = { (char *)"shoal",
			 (char *)"__bench-peer",
			 (char *)role,
			 (char *)f->mode,
			 (char *)prefix,
			 (char *)"--iters",
			 iters,
			 (char *)"--warmup",
			 warmup,
			 (char *)"--wait",
			 ws,
			 (char *)(f->pattern == BENCH_QUEUE ? "--queue" :
				  f->pattern == BENCH_RPC   ? "--rpc" :
							      "--pubsub"),
			 NULL };
	pid_t parent = getpid(), pid;

	snprintf(iters, sizeof(iters), "%llu",
		 (unsigned long long)(quick ? f->quick_iters : f->iters));
	snprintf(warmup, sizeof(warmup), "%llu",
		 (unsigned long long)(quick ? f->quick_warmup : f->warmup));
	snprintf(ws, sizeof(ws), "%d", (int)wait);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid != 0)
		return pid;
	/* A peer must not outlive bench (killed, or timed out). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		/* A failure costs only accuracy. */
		(void)sched_setaffinity(0, sizeof(set), &set);
	}
	if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	execv("/proc/self/exe", argv);
	_exit(127);
}

static void describe_status(char *buf, size_t cap, const char *role, int st)
{
	if (WIFEXITED(st))
		snprintf(buf, cap, "peer %s failed (exit status %d)", role,
			 WEXITSTATUS(st));
	else
		snprintf(buf, cap, "peer %s killed by signal %d", role,
			 WTERMSIG(st));
}

/*
 * Collects peer a's output line from @fd and reaps both peers, killing
 * both if one fails or @deadline passes. 0 or -1 with r->error set.
 */
static int collect(int fd, pid_t pids[2], int64_t deadline, char *out,
		   size_t cap, struct bench_res *r)
{
	static const char *const roles[2] = { "a", "b" };
	int live = (pids[0] > 0) + (pids[1] > 0), open = 1, failed = 0;
	size_t len = 0;

	while (live || open) {
		if (cli_now_ns() > deadline && !failed) {
			snprintf(r->error, sizeof(r->error), "timed out");
			failed = 1;
		}
		if (failed) {
			for (int i = 0; i < 2; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			open = 0;
		}
		if (open && cli_wait_readable(fd, 20000000) > 0) {
			char junk[256];
			ssize_t n = len + 1 < cap ?
					    read(fd, out + len, cap - 1 - len) :
					    read(fd, junk, sizeof(junk));

			if (n <= 0 && !(n < 0 && errno == EINTR))
				open = 0;
			else if (n > 0 && len + 1 < cap)
				len += (size_t)n;
		} else if (!open) {
			usleep(2000);
		}
		for (int i = 0; i < 2; i++) {
			int st;

			if (pids[i] <= 0 ||
			    waitpid(pids[i], &st, failed ? 0 : WNOHANG) !=
				    pids[i])
				continue;
			pids[i] = 0;
			live--;
			if ((!WIFEXITED(st) || WEXITSTATUS(st)) && !failed) {
				describe_status(r->error, sizeof(r->error),
						roles[i], st);
				failed = 1;
			}
		}
	}
	out[len] = '\0';
	return failed ? -1 : 0;
}

static void parse_result(const struct bench_fig *f, const char *out,
			 struct bench_res *r)
{
	unsigned long long p50, p99, n;

	if (!strcmp(f->mode, "rtt")) {
		if (sscanf(out, "rtt %llu %llu %llu", &p50, &p99, &n) != 3) {
			snprintf(r->error, sizeof(r->error),
				 "peer a printed no result");
			return;
		}
		r->p50 = p50;
		r->p99 = p99;
		r->n = n;
		r->ok = 1;
		return;
	}
	if (sscanf(out, "tput %lf %llu %llu %llu", &r->rate, &r->received,
		   &r->bad, &r->expected) != 4) {
		snprintf(r->error, sizeof(r->error),
			 "peer a printed no result");
		return;
	}
	if (r->received != r->expected || r->bad)
		snprintf(r->error, sizeof(r->error),
			 "message mismatch: %llu of %llu received, %llu bad",
			 r->received, r->expected, r->bad);
	else
		r->ok = 1;
}

static void run_figure(const struct cli_cmd *cmd, const struct bench_fig *f,
		       const struct bench_cpus *c, int quick,
		       struct bench_res *r)
{
	char prefix[128], out[256];
	pid_t pids[2];
	int fds[2];

	memset(r, 0, sizeof(*r));
	r->wait = fig_wait(f, c);
	snprintf(prefix, sizeof(prefix), "shoal-bench/%d/%s", (int)getpid(),
		 f->name);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(r->error, sizeof(r->error), "pipe: %s",
			 strerror(errno));
		goto out;
	}
	pids[0] = spawn_peer("a", f, prefix, quick, r->wait, c->cpu[0], fds[1]);
	pids[1] = pids[0] < 0 ? -1 :
				spawn_peer("b", f, prefix, quick, r->wait,
					   c->cpu[1], -1);
	close(fds[1]);
	if (pids[0] < 0 || pids[1] < 0) {
		snprintf(r->error, sizeof(r->error), "fork: %s",
			 strerror(errno));
		if (pids[0] > 0)
			kill(pids[0], SIGKILL);
		pids[1] = 0;
	}
	if (!collect(fds[0], pids,
		     cli_now_ns() + cli_seconds_ns(quick ? 60 : 300), out,
		     sizeof(out), r) &&
	    !r->error[0])
		parse_result(f, out, r);
	close(fds[0]);
out:
	if (!r->ok)
		cli_note(cmd, "%s: %s", f->name, r->error);
}

static const char *wait_name(enum shoal_wait_strategy w)
{
	switch (w) {
	case SHOAL_WAIT_BUSY_SPIN:
		return "busy-spin";
	case SHOAL_WAIT_SPIN_YIELD:
		return "spin-yield";
	case SHOAL_WAIT_BLOCK:
		return "block";
	default:
		return "adaptive";
	}
}

/* A duration in the unit that suits it: "850 ns", "12.3 µs", "4.56 ms",
 * "1.20 s" (the JSON keeps nanoseconds). */
static void human_ns(char *buf, size_t cap, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, cap, "%.1f \u00b5s", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.2f s", (double)ns / 1e9);
}

/* A message rate: "950 msg/s", "850.2 K msg/s", "12.34 M msg/s". */
static void human_msgs(char *buf, size_t cap, double rate)
{
	if (rate < 1e3)
		snprintf(buf, cap, "%.0f msg/s", rate);
	else if (rate < 1e6)
		snprintf(buf, cap, "%.1f K msg/s", rate / 1e3);
	else
		snprintf(buf, cap, "%.2f M msg/s", rate / 1e6);
}

static void print_table(const struct bench_cpus *c, int quick,
			const struct bench_res *res)
{
	if (c->cpu[0] >= 0)
		printf("shoal bench%s: two processes pinned to CPUs %d and "
		       "%d\n",
		       quick ? " --quick" : "", c->cpu[0], c->cpu[1]);
	else
		printf("shoal bench%s: two processes on %d CPU (unpinned)\n",
		       quick ? " --quick" : "", c->available);
	printf("%-11s %-7s %-16s %-10s %s\n", "FIGURE", "PATTERN", "WHAT",
	       "WAIT", "RESULT");
	for (size_t i = 0; i < N_FIGURES; i++) {
		const struct bench_res *r = &res[i];
		char bw[32];

		printf("%-11s %-7s %-16s %-10s ", figures[i].name,
		       pattern_names[figures[i].pattern], figures[i].what,
		       wait_name(r->wait));
		if (!r->ok) {
			printf("FAILED: %s\n", r->error);
		} else if (!strcmp(figures[i].mode, "rtt")) {
			char p50[32], p99[32];

			human_ns(p50, sizeof(p50), r->p50);
			human_ns(p99, sizeof(p99), r->p99);
			printf("p50 %s  p99 %s  (%llu round trips)\n", p50, p99,
			       (unsigned long long)r->n);
		} else {
			char rate[32];

			human_msgs(rate, sizeof(rate), r->rate);
			cli_human_rate(bw, sizeof(bw), r->rate * TPUT_SIZE);
			printf("%s  %s  (%llu of %llu received)\n", rate, bw,
			       r->received, r->expected);
		}
	}
}

static void print_json(const struct bench_cpus *c, int quick,
		       const struct bench_res *res)
{
	printf("{\"quick\": %s, \"cpus\": [%d, %d], \"figures\": [",
	       quick ? "true" : "false", c->cpu[0], c->cpu[1]);
	for (size_t i = 0; i < N_FIGURES; i++) {
		const struct bench_res *r = &res[i];

		printf("%s\n  {\"name\": \"%s\", \"pattern\": \"%s\", "
		       "\"what\": \"%s\", \"wait\": \"%s\", \"ok\": %s",
		       i ? "," : "", figures[i].name,
		       pattern_names[figures[i].pattern], figures[i].what,
		       wait_name(r->wait), r->ok ? "true" : "false");
		if (!r->ok) {
			printf(", \"error\": ");
			cli_json_string(stdout, r->error);
		} else if (!strcmp(figures[i].mode, "rtt")) {
			printf(", \"p50_ns\": %llu, \"p99_ns\": %llu, "
			       "\"round_trips\": %llu",
			       (unsigned long long)r->p50,
			       (unsigned long long)r->p99,
			       (unsigned long long)r->n);
		} else {
			printf(", \"msgs_per_s\": %.0f, \"bytes_per_s\": %.0f, "
			       "\"sent\": %llu, \"received\": %llu, "
			       "\"bad\": %llu",
			       r->rate, r->rate * TPUT_SIZE, r->expected,
			       r->received, r->bad);
		}
		printf("}");
	}
	printf("\n]}\n");
}

/*
 * The comparison program: $SHOAL_BENCH, else shoal-bench beside this
 * program (installed) or in ../bench/ (a build tree), else on $PATH.
 * Returns the path in @buf, or NULL.
 */
static const char *find_compare_program(char *buf, size_t cap)
{
	static const char *const rel[] = { "shoal-bench",
					   "../bench/shoal-bench" };
	const char *env = getenv("SHOAL_BENCH");
	/* Room left in @buf for the longest of rel[]. */
	char self[PATH_MAX - 32], *slash;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			slash[1] = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]);
			     i++) {
				int w = snprintf(buf, cap, "%s%s", self,
						 rel[i]);

				if (w > 0 && (size_t)w < cap &&
				    access(buf, X_OK) == 0)
					return buf;
			}
		}
	}
	return "shoal-bench"; /* execvp searches $PATH */
}

/*
 * shoal bench --compare: the side-by-side comparison lives in shoal-bench
 * (bench/), which links the other systems' libraries when they were found
 * at build time; this tool links only libshoal. So run that program.
 */
static int run_compare(const struct cli_cmd *cmd, int quick, int json,
		       const char *json_file, const char *plot)
{
	char path[PATH_MAX];
	const char *prog = find_compare_program(path, sizeof(path));
	const char *argv[8];
	int n = 0;

	argv[n++] = prog;
	argv[n++] = "--compare";
	if (quick)
		argv[n++] = "--quick";
	if (json || json_file) {
		argv[n++] = "--json";
		argv[n++] = json_file ? json_file : "/dev/stdout";
	}
	if (plot) {
		argv[n++] = "--plot";
		argv[n++] = plot;
	}
	argv[n] = NULL;
	fflush(NULL);
	execvp(prog, (char *const *)argv);
	return cli_fail_sys(cmd, -errno,
			    "cannot run %s (build it: cmake --build BUILD "
			    "--target shoal-bench, or set SHOAL_BENCH)",
			    prog);
}

static int cmd_bench(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_res res[N_FIGURES];
	struct bench_cpus cpus;
	int quick = 0, json = 0, compare = 0, rc;
	const char *plot = NULL, *json_file = NULL;
	struct cli_opt opts[] = {
		CLI_OPT_FLAG("--quick", NULL, &quick),
		CLI_OPT_FLAG("--json", NULL, &json),
		CLI_OPT_FLAG("--compare", NULL, &compare),
		CLI_OPT_STRING("--plot", &plot),
		CLI_OPT_STRING("--json-file", &json_file),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, NULL, 0);
	if (rc != CLI_CONTINUE)
		return rc;
	if ((plot || json_file) && !compare)
		return cli_usage_error(
			cmd, "--plot and --json-file go with --compare");
	if (compare)
		return run_compare(cmd, quick, json, json_file, plot);
	/* The peers meet in the registry: one that cannot be opened is
	 * one message here, not one per peer and figure. */
	{
		struct shoal_registry *reg;

		if (cli_open_registry(cmd, &reg))
			return CLI_EXIT_FAIL;
		shoal_registry_destroy(reg);
	}
	bench_pick_cpus(&cpus);
	rc = CLI_EXIT_OK;
	for (size_t i = 0; i < N_FIGURES; i++) {
		run_figure(cmd, &figures[i], &cpus, quick, &res[i]);
		if (!res[i].ok)
			rc = CLI_EXIT_FAIL;
	}
	if (json)
		print_json(&cpus, quick, res);
	else
		print_table(&cpus, quick, res);
	return rc;
}

const struct cli_cmd cli_cmd_bench = {
	.name = "bench",
	.summary = "pub/sub, queue and rpc figures between two processes",
	.synopsis =
		"bench [--quick] [--json] [--compare [--json-file F] [--plot F.svg]]",
	.help = "Measures shoal between two processes that bench starts, "
		"pinned to two\n"
		"CPUs when there are two, and that find each other by name in "
		"the registry\n"
		"(names under shoal-bench/<pid>/):\n"
		"  rtt-poll    reliable pub/sub: round trip of an 8-byte "
		"message, both\n"
		"              sides busy-polling: p50 and p99 in ns "
		"(spin-yield on a single\n"
		"              CPU)\n"
		"  rtt-block   the same, both sides sleeping in the kernel "
		"(SHOAL_WAIT_BLOCK)\n"
		"  throughput  reliable pub/sub, 64-byte messages one way: "
		"messages/s, and\n"
		"              the receiver's count of messages received "
		"intact\n"
		"  queue-rtt   MPMC queue, one producer and one consumer each "
		"way: round\n"
		"              trip of an 8-byte message through two queues, "
		"busy-polling\n"
		"  queue-tput  MPMC queue, 64-byte messages one way, as "
		"throughput\n"
		"  rpc-poll    request/response: an 8-byte request answered "
		"with 8 bytes,\n"
		"              client and server busy-polling\n"
		"  rpc-block   the same, both sleeping in the kernel\n"
		"Each figure runs a warm-up first. The full suite, with "
		"baselines, is in\n"
		"bench/ ('make bench').\n"
		"\n"
		"  --quick  a few thousand round trips per figure (a few "
		"seconds in all)\n"
		"  --json   one JSON object: \"quick\", \"cpus\", and "
		"\"figures\", each with\n"
		"           name, pattern, what, wait, ok, and error, or "
		"p50_ns, p99_ns and\n"
		"           round_trips, or msgs_per_s, bytes_per_s, sent, "
		"received, bad\n"
		"\n"
		"  --compare      run shoal-bench --compare instead: shoal side "
		"by side with\n"
		"                 iceoryx, ZeroMQ, Unix sockets, pipes, POSIX "
		"queues, bare\n"
		"                 shared memory and eventfd, one table per "
		"figure with each\n"
		"                 system's ratio to shoal (a few minutes; "
		"--quick: seconds).\n"
		"                 Found as $SHOAL_BENCH, beside this program, "
		"in ../bench/,\n"
		"                 or on $PATH.\n"
		"  --json-file F  with --compare: also write the results as "
		"JSON to F\n"
		"                 (--json alone: to standard output, after the "
		"tables)\n"
		"  --plot F.svg   with --compare: draw round-trip latency "
		"against message size\n"
		"\n"
		"exit status: 0, 1 (a figure failed: a message lost or "
		"altered, a peer\n"
		"failed or hung), 2 usage (or the comparison's watchdog "
		"stopped a hung figure).\n",
	.run = cmd_bench,
};
