/* SPDX-License-Identifier: MIT */
/*
 * ZeroMQ, for the side-by-side comparison (shoal-bench --compare): the same
 * figures as shoal's pub/sub ones, measured the same way, through libzmq's
 * C API over its ipc:// transport (a Unix domain stream socket).
 *
 * - Transport: one ZMQ_PAIR connection per figure. PAIR is bidirectional,
 *   so round trips use the one connection both ways. The parent binds
 *   ipc://<dir>/pair, where <dir> is a private mkdtemp() directory made
 *   for the figure and removed after it; the child connects after the
 *   parent has bound (a barrier), so it never waits out a reconnect
 *   interval. Before anything is timed the child sends a hello and the
 *   parent answers it: the connection is up both ways.
 * - Processes: libzmq starts an I/O thread per context and its state does
 *   not survive fork(). So every figure runs through bench_run_isolated()
 *   (the bench process never creates a context), and each side of the pair
 *   creates its own context after the fork and terminates it before it
 *   returns. Sockets have ZMQ_LINGER 0, so terminating never waits for a
 *   peer that is gone; since that also drops what is still queued, a side
 *   closes only after a barrier says the other has everything it sent.
 *   The I/O threads inherit their side's CPU: zmq's architecture puts two
 *   threads per side on the CPU we pin it to, and their CPU time counts
 *   (the shares and the idle figure use all threads).
 * - Copies, as in the shoal figures: zmq_send() copies the sender's
 *   private buffer into a new message (the copy in); the receiver copies
 *   the payload out of its zmq_msg_t (the pinger, the consumer) or straight
 *   into the answer with zmq_send() (the ponger), then closes the message.
 * - rtt-poll-*: both sides spin on zmq_msg_recv(ZMQ_DONTWAIT) until it
 *   stops failing with EAGAIN (see enum zwait); rtt-block-*: both sides
 *   block in zmq_msg_recv(). Sends are ordinary blocking zmq_send() calls.
 * - tput-*: the parent zmq_send()s one message per call; PAIR blocks at the
 *   high-water mark (default 1000 each side) rather than drop, so the
 *   stream is reliable. The consumer busy-polls, as shoal's subscriber
 *   does with SHOAL_WAIT_BUSY_SPIN.
 * - idle: the child blocks in zmq_msg_recv() until the parent's one
 *   message; zmq's I/O thread is part of what it costs.
 *
 * A blocking call waits at most ZWAIT_MS at a time (ZMQ_RCVTIMEO and
 * ZMQ_SNDTIMEO) and checks whether the other side gave up in between, so a
 * side that fails makes the figure fail instead of hanging until the
 * watchdog. The timeout is only the poll() timeout libzmq sleeps with: an
 * answer that arrives wakes the side as an infinite wait would.
 *
 * Every message carries its sequence number and is checked by the
 * receiver, with its length: a lost, repeated or torn message fails the
 * figure.
 */
#include "figures.h"

/*
 * How a receiver waits (f->param[0]). ZW_SPIN spins with bench_pause()
 * between polls, as every other polled figure. But libzmq's I/O thread,
 * which moves the bytes between the socket and the receiver's queue, runs
 * on the same CPU as the spinner (all we have on two CPUs), so it only gets
 * its turn when the scheduler preempts the spinner: the tail is the
 * scheduler's time slice. ZW_YIELD, sched_yield() between polls, hands it
 * the CPU at once and is still never asleep. ZW_POLLED is what the rtt-poll
 * figures and the throughput consumer use; ZW_POLLED_TEXT says it in their
 * titles. It is ZW_YIELD: with ZW_SPIN the p99 was the scheduler's 3-4 ms
 * slice, a figure of this machine's scheduler, not of ZeroMQ.
 */
enum zwait {
	ZW_BLOCK = 0, /* blocking zmq_msg_recv() */
	ZW_SPIN = 1,  /* ZMQ_DONTWAIT, bench_pause() */
	ZW_YIELD = 2, /* ZMQ_DONTWAIT, sched_yield() */
};

#define ZW_POLLED ZW_YIELD
#define ZW_POLLED_TEXT "zmq_msg_recv DONTWAIT + sched_yield"

#ifdef SHOAL_BENCH_ZMQ

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#define ZSTR_(x) #x
#define ZSTR(x) ZSTR_(x)
#define ZNAME                                       \
	"ZeroMQ " ZSTR(ZMQ_VERSION_MAJOR) "." ZSTR( \
		ZMQ_VERSION_MINOR) "." ZSTR(ZMQ_VERSION_PATCH)

/* Longest a blocking call sleeps before it checks the other side. */
#define ZWAIT_MS 250
/* Failed polls between two checks of the other side (tens of ms). */
#define ZSPIN_CHECK 0xffffu
/* What the child sends, and the parent answers, before any timing. */
#define ZHELLO "hello"
#define ZHELLO_LEN 5

/* The figure's private directory and the endpoint in it. */
struct zdir {
	char dir[64];
	char path[96];
	char endpoint[112];
};

/* One side's context and socket. */
struct zpeer {
	void *ctx;
	void *sock;
};

/* A zmq call failed: say which and why. Returns -errno (-EIO if none). */
static int zfail(struct bench_side *s, const char *what)
{
	int err = zmq_errno();

	bench_side_note(s, "%s: %s", what, zmq_strerror(err));
	return err > 0 ? -err : -EIO;
}

static void zpeer_close(struct zpeer *z)
{
	if (z->sock)
		zmq_close(z->sock);
	if (z->ctx)
		while (zmq_ctx_term(z->ctx) && zmq_errno() == EINTR)
			;
	z->sock = NULL;
	z->ctx = NULL;
}

/* A fresh context and PAIR socket: the parent binds, the child connects. */
static int zpeer_open(struct bench_side *s, const char *endpoint,
		      struct zpeer *z)
{
	int linger = 0, wait_ms = ZWAIT_MS, rc;

	z->sock = NULL;
	z->ctx = zmq_ctx_new();
	if (!z->ctx)
		return zfail(s, "zmq_ctx_new");
	z->sock = zmq_socket(z->ctx, ZMQ_PAIR);
	if (!z->sock) {
		rc = zfail(s, "zmq_socket");
		goto fail;
	}
	if (zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(z->sock, ZMQ_RCVTIMEO, &wait_ms, sizeof(wait_ms)) ||
	    zmq_setsockopt(z->sock, ZMQ_SNDTIMEO, &wait_ms, sizeof(wait_ms))) {
		rc = zfail(s, "zmq_setsockopt");
		goto fail;
	}
	if (s->is_child ? zmq_connect(z->sock, endpoint) :
			  zmq_bind(z->sock, endpoint)) {
		rc = zfail(s, s->is_child ? "zmq_connect" : "zmq_bind");
		goto fail;
	}
	return 0;
fail:
	zpeer_close(z);
	return rc;
}

/* Send a copy of @len bytes of @buf; blocks while the peer's queue is full. */
static inline int zsend(struct bench_side *s, void *sock, const void *buf,
			size_t len)
{
	int err;

	for (;;) {
		if (zmq_send(sock, buf, len, 0) >= 0)
			return 0;
		err = zmq_errno();
		if (err != EAGAIN && err != EINTR)
			return zfail(s, "zmq_send");
		if (bench_side_cancelled(s))
			return -ECANCELED;
	}
}

/* The next message into @m, waiting as @how says. */
static inline int zrecv(struct bench_side *s, void *sock, zmq_msg_t *m,
			enum zwait how)
{
	uint32_t spins = 0;
	int err;

	for (;;) {
		if (zmq_msg_recv(m, sock, how ? ZMQ_DONTWAIT : 0) >= 0)
			return 0;
		err = zmq_errno();
		if (err != EAGAIN && err != EINTR)
			return zfail(s, "zmq_msg_recv");
		if (how) {
			if (how == ZW_YIELD)
				sched_yield();
			else
				bench_pause();
			if (++spins & ZSPIN_CHECK)
				continue;
		}
		if (bench_side_cancelled(s))
			return -ECANCELED;
	}
}

/* Let go of a received message; @m is ready for the next receive. */
static inline void zrelease(zmq_msg_t *m)
{
	zmq_msg_close(m);
	zmq_msg_init(m);
}

/*
 * Open the side's socket and make sure the connection carries messages
 * both ways: the child says hello, the parent answers. The parent binds
 * before the barrier, the child connects after it.
 */
static int zside_open(struct bench_side *s, const char *endpoint,
		      struct zpeer *z)
{
	zmq_msg_t m;
	int rc;

	z->ctx = NULL;
	z->sock = NULL;
	if (!s->is_child) {
		rc = zpeer_open(s, endpoint, z);
		if (rc)
			return rc;
	}
	if (bench_side_sync(s)) {
		zpeer_close(z);
		return -ECANCELED;
	}
	if (s->is_child) {
		rc = zpeer_open(s, endpoint, z);
		if (rc)
			return rc;
	}
	zmq_msg_init(&m);
	rc = s->is_child ? zsend(s, z->sock, ZHELLO, ZHELLO_LEN) : 0;
	if (!rc)
		rc = zrecv(s, z->sock, &m, ZW_BLOCK);
	if (!rc && (zmq_msg_size(&m) != ZHELLO_LEN ||
		    memcmp(zmq_msg_data(&m), ZHELLO, ZHELLO_LEN))) {
		bench_side_note(s, "the hello arrived as %zu other bytes",
				zmq_msg_size(&m));
		rc = -EIO;
	}
	if (!rc && !s->is_child)
		rc = zsend(s, z->sock, ZHELLO, ZHELLO_LEN);
	zmq_msg_close(&m);
	if (rc)
		zpeer_close(z);
	return rc;
}

/* A private directory for the figure's socket file. */
static int zdir_make(struct zdir *d, char *note)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/shoal-bench-zmq-XXXXXX");
	if (!mkdtemp(d->dir)) {
		snprintf(note, BENCH_NOTE_MAX, "mkdtemp in /tmp: %s",
			 strerror(errno));
		return 1;
	}
	snprintf(d->path, sizeof(d->path), "%s/pair", d->dir);
	snprintf(d->endpoint, sizeof(d->endpoint), "ipc://%s", d->path);
	return 0;
}

static void zdir_remove(struct zdir *d)
{
	/* libzmq unlinks the socket file it bound; this is for a failure. */
	unlink(d->path);
	rmdir(d->dir);
}

/*
 * What every figure does in its isolated process first: its directory, and
 * no SIGPIPE if the peer's socket closes under an I/O thread's write.
 */
static int zsetup(struct zdir *d, char *note)
{
	signal(SIGPIPE, SIG_IGN);
	return zdir_make(d, note);
}

/* Round trips. f->param[0]: enum zwait, for both sides. */

struct zrtt_arg {
	struct zdir dir;
	uint32_t size;
	enum zwait how;
	uint64_t total;
	struct bench_samples lat;
	/* The parent's own: */
	struct bench_side *side;
	void *sock;
	zmq_msg_t in;
	unsigned char *msg;
};

static inline int zrtt_round_trip(void *ctx, uint64_t i)
{
	struct zrtt_arg *a = ctx;
	size_t len;
	int rc;

	bench_stamp(a->msg, i, a->size);
	rc = zsend(a->side, a->sock, a->msg, a->size);
	if (!rc)
		rc = zrecv(a->side, a->sock, &a->in, a->how);
	if (rc)
		return rc;
	len = zmq_msg_size(&a->in);
	memcpy(a->msg, zmq_msg_data(&a->in), len <= a->size ? len : a->size);
	zrelease(&a->in);
	return bench_check_msg(a->side, a->msg, len, a->size, i);
}

static int zrtt_parent(struct bench_side *s)
{
	struct zrtt_arg *a = s->arg;
	struct zpeer z;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	memset(a->msg, 0xa5, a->size);
	a->side = s;
	rc = zside_open(s, a->dir.endpoint, &z);
	if (rc)
		goto out;
	a->sock = z.sock;
	zmq_msg_init(&a->in);
	/* Its barrier is the start: the child is connected and waiting. */
	rc = bench_latency_run(s, &a->lat, zrtt_round_trip, a);
	/* The last answer is in: the child may close (and drop nothing). */
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	zmq_msg_close(&a->in);
	zpeer_close(&z);
out:
	free(a->msg);
	a->msg = NULL;
	return rc;
}

static int zrtt_child(struct bench_side *s)
{
	struct zrtt_arg *a = s->arg;
	struct zpeer z;
	zmq_msg_t m;
	uint64_t i;
	int rc;

	rc = zside_open(s, a->dir.endpoint, &z);
	if (rc)
		return rc;
	zmq_msg_init(&m);
	if (bench_side_sync(s)) {
		rc = -ECANCELED;
		goto out;
	}
	for (i = 1; i <= a->total; i++) {
		rc = zrecv(s, z.sock, &m, a->how);
		if (!rc)
			rc = bench_check_msg(s, zmq_msg_data(&m),
					     zmq_msg_size(&m), a->size, i);
		/* Answer with a copy of what arrived, then let it go. */
		if (!rc)
			rc = zsend(s, z.sock, zmq_msg_data(&m), a->size);
		if (rc)
			goto out;
		zrelease(&m);
	}
	/*
	 * With ZMQ_LINGER 0, closing drops what the I/O thread has not
	 * written yet: wait until the parent has the last answer.
	 */
	if (bench_side_sync(s))
		rc = -ECANCELED;
out:
	zmq_msg_close(&m);
	zpeer_close(&z);
	return rc;
}

static int zrtt_inner(const struct bench_figure *f,
		      const struct bench_config *cfg, struct bench_result *res)
{
	struct zrtt_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.how = (enum zwait)f->param[0];
	a.total = bench_round_trips(cfg);
	rc = zsetup(&a.dir, res->note);
	if (rc)
		return rc;
	rc = bench_pair_run(cfg, zrtt_parent, zrtt_child, &a, res->note);
	if (!rc)
		bench_samples_stats(&a.lat, res);
	bench_samples_fini(&a.lat);
	zdir_remove(&a.dir);
	return rc;
}

static int run_zrtt(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res)
{
	return bench_run_isolated(zrtt_inner, f, cfg, res);
}

/* One-way throughput: the parent produces, the child busy-polls. */

struct ztput_arg {
	struct zdir dir;
	uint32_t size;
	struct bench_tput tput;
};

static int ztput_parent(struct bench_side *s)
{
	struct ztput_arg *a = s->arg;
	unsigned char *src;
	uint64_t seq = 1, k;
	struct zpeer z;
	int64_t n = 0;
	int rc;

	src = bench_buf_alloc(a->size);
	if (!src)
		return -ENOMEM;
	memset(src, 0xa5, a->size);
	rc = zside_open(s, a->dir.endpoint, &z);
	if (rc)
		goto out;
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		for (k = 0; k < (uint64_t)n && !rc; k++) {
			bench_stamp(src, seq++, a->size);
			rc = zsend(s, z.sock, src, a->size);
		}
		if (!rc)
			rc = bench_trial_finish(s, &a->tput);
	}
	if (!rc && n < 0)
		rc = (int)n;
	zpeer_close(&z);
out:
	free(src);
	return rc;
}

static int ztput_child(struct bench_side *s)
{
	struct ztput_arg *a = s->arg;
	unsigned char *dst;
	uint64_t seq = 1, k;
	struct zpeer z;
	zmq_msg_t m;
	size_t len;
	int64_t n = 0;
	int rc;

	dst = bench_buf_alloc(a->size);
	if (!dst)
		return -ENOMEM;
	rc = zside_open(s, a->dir.endpoint, &z);
	if (rc)
		goto out;
	zmq_msg_init(&m);
	while (!rc && (n = bench_trial_next(s)) > 0) {
		for (k = 0; k < (uint64_t)n && !rc; k++, seq++) {
			rc = zrecv(s, z.sock, &m, ZW_POLLED);
			if (rc)
				break;
			len = zmq_msg_size(&m);
			memcpy(dst, zmq_msg_data(&m),
			       len <= a->size ? len : a->size);
			zrelease(&m);
			rc = bench_check_msg(s, dst, len, a->size, seq);
		}
		if (!rc)
			rc = bench_trial_end(s);
	}
	if (!rc && n < 0)
		rc = (int)n;
	zmq_msg_close(&m);
	zpeer_close(&z);
out:
	free(dst);
	return rc;
}

static int ztput_inner(const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	struct ztput_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size;
	rc = zsetup(&a.dir, res->note);
	if (rc)
		return rc;
	rc = bench_pair_run(cfg, ztput_parent, ztput_child, &a, res->note);
	if (!rc)
		bench_tput_stats(&a.tput, f->size, res);
	zdir_remove(&a.dir);
	return rc;
}

static int run_ztput(const struct bench_figure *f,
		     const struct bench_config *cfg, struct bench_result *res)
{
	return bench_run_isolated(ztput_inner, f, cfg, res);
}

/* Idle: the child blocks in zmq_msg_recv() until the parent's one message. */

struct zidle_arg {
	struct zdir dir;
	uint32_t size;
	struct bench_result *res; /* the parent's */
	/* Each side's own: */
	struct bench_side *side;
	struct zpeer z;
	unsigned char msg[sizeof(uint64_t)];
};

static int zidle_send(void *ctx)
{
	struct zidle_arg *a = ctx;

	bench_stamp(a->msg, 1, a->size);
	return zsend(a->side, a->z.sock, a->msg, a->size);
}

static int zidle_wait(void *ctx)
{
	struct zidle_arg *a = ctx;
	zmq_msg_t m;
	int rc;

	zmq_msg_init(&m);
	rc = zrecv(a->side, a->z.sock, &m, ZW_BLOCK);
	if (!rc)
		rc = bench_check_msg(a->side, zmq_msg_data(&m),
				     zmq_msg_size(&m), a->size, 1);
	zmq_msg_close(&m);
	return rc;
}

static int zidle_side(struct bench_side *s)
{
	struct zidle_arg *a = s->arg;
	uint64_t wait_ms;
	int ms, rc;

	a->side = s;
	rc = zside_open(s, a->dir.endpoint, &a->z);
	if (rc)
		return rc;
	if (s->is_child) {
		/*
		 * One wait for the whole idle period: a timeout inside it would
		 * be a wakeup that zmq's own blocking receive does not make.
		 */
		wait_ms = s->cfg->idle_ns / 1000000u + 10000;
		ms = wait_ms < INT_MAX ? (int)wait_ms : INT_MAX;
		if (zmq_setsockopt(a->z.sock, ZMQ_RCVTIMEO, &ms, sizeof(ms)))
			rc = zfail(s, "zmq_setsockopt");
		else
			rc = bench_idle_child(s, zidle_wait, a);
	} else {
		rc = bench_idle_parent(s, zidle_send, a, a->res);
	}
	zpeer_close(&a->z);
	return rc;
}

static int zidle_inner(const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	struct zidle_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size <= sizeof(a.msg) ? f->size : sizeof(a.msg);
	a.res = res;
	rc = zsetup(&a.dir, res->note);
	if (rc)
		return rc;
	rc = bench_pair_run(cfg, zidle_side, zidle_side, &a, res->note);
	zdir_remove(&a.dir);
	return rc;
}

static int run_zidle(const struct bench_figure *f,
		     const struct bench_config *cfg, struct bench_result *res)
{
	return bench_run_isolated(zidle_inner, f, cfg, res);
}

#else /* !SHOAL_BENCH_ZMQ */

#define ZNAME "ZeroMQ"

static int zskip(const struct bench_figure *f, const struct bench_config *cfg,
		 struct bench_result *res)
{
	(void)f;
	(void)cfg;
	snprintf(
		res->note, BENCH_NOTE_MAX,
		"ZeroMQ not built: apt-get install libzmq3-dev, then re-run cmake");
	return 1;
}

#define run_zrtt zskip
#define run_ztput zskip
#define run_zidle zskip

#endif

#define ZPAIR ZNAME " PAIR over ipc://, "
#define CMP (BENCH_COMPARE | BENCH_COMPARE_ONLY)
#define ZPOLL(g, sz)                                                      \
	{                                                                 \
		.name = "rtt-poll-" g "/zmq",                             \
		.title = ZPAIR "zmq_send, " ZW_POLLED_TEXT,               \
		.kind = BENCH_LATENCY, .size = sz, .batch = 1,            \
		.flags = BENCH_SPINS | BENCH_SLOW | CMP, .run = run_zrtt, \
		.param = { ZW_POLLED },                                   \
	}
#define ZBLOCK(g, sz)                                             \
	{                                                         \
		.name = "rtt-block-" g "/zmq",                    \
		.title = ZPAIR "zmq_send, blocking zmq_msg_recv", \
		.kind = BENCH_LATENCY, .size = sz, .batch = 1,    \
		.flags = BENCH_BLOCKS | CMP, .run = run_zrtt,     \
		.param = { ZW_BLOCK },                            \
	}
#define ZTPUT(g, sz)                                                  \
	{                                                             \
		.name = "tput-" g "/zmq",                             \
		.title = ZPAIR "zmq_send, " ZW_POLLED_TEXT " + copy", \
		.kind = BENCH_THROUGHPUT, .size = sz, .batch = 1,     \
		.flags = CMP, .run = run_ztput,                       \
	}

const struct bench_figure bench_zmq_figures[] = {
	ZPOLL("8", 8),
	ZPOLL("1k", 1024),
	ZPOLL("64k", 65536),
	ZPOLL("1m", 1048576),
	ZBLOCK("8", 8),
	ZBLOCK("1k", 1024),
	ZBLOCK("64k", 65536),
	ZBLOCK("1m", 1048576),
	ZTPUT("8", 8),
	ZTPUT("64", 64),
	ZTPUT("1k", 1024),
	ZTPUT("64k", 65536),
	{
		.name = "idle/zmq",
		.title = ZPAIR "child blocked in zmq_msg_recv",
		.kind = BENCH_IDLE,
		.size = 8,
		.batch = 1,
		.flags = CMP,
		.run = run_zidle,
	},
	{ .name = NULL },
};
