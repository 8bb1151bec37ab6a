/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: publishers, subscribers, queue producers and consumers, rpc
 * servers and clients, each a process of its own, run for a given time
 * while random ones are SIGKILLed and restarted; every delivery is checked
 * as it happens and the totals at the end. docs/soak.md says what is
 * checked and why each check holds.
 *
 * The coordinator (this command) owns three things that outlive every
 * kill: a private registry directory ($SHOAL_DIR), the queue (it is the
 * queue's creator, so killing producers and consumers never withdraws it)
 * and the board, a shared memfd every role process maps. Role processes
 * are this program again, run as the hidden "__soak-role" with the board's
 * fd, their role and their instance index. The board holds, per instance,
 * counters that survive its kills (messages, violations, the queue
 * producer's next sequence number, the consumer's phase), a heartbeat the
 * coordinator watches to detect hangs, and per queue producer two bytes per
 * item: the producer's state (attempted, confirmed) and how many times
 * consumers took it.
 *
 * Roles and what each checks as it goes:
 *   pub   reliable publisher "PREFIX/pub<i>": numbered messages; writes
 *         (epoch, messages confirmed) of each incarnation to the board
 *   lpub  lossy publisher "PREFIX/lpub<i>": the same, never waits
 *   sub   subscribes to every pub and lpub (SHOAL_SUB_REATTACH, polling
 *         their fds): within one epoch a reliable stream goes up by one;
 *         at -EPIPE it got every message its dead publisher confirmed; a
 *         lossy stream's gaps equal the -EOVERFLOW lost counts; no message
 *         is torn (copy: never; zero copy: unless release says -ESTALE)
 *   prod  queue producer: items (producer, seq), push or loan/send
 *   cons  queue consumer: take, record the item in the board (a second
 *         take of an item is a violation at once), check each producer's
 *         order, release
 *   srv   rpc server "PREFIX/srv<i>": answers each request with 1 to 3
 *         responses (SHOAL_RPC_MORE on all but the last)
 *   cli   rpc client of srv<i mod servers>: up to 4 requests in flight;
 *         every response must answer one of them, in order, with the
 *         right content; a dead server must end in -EPIPE, never a hang
 * Instance 0 of sub, cons and cli is never killed: those and the
 * coordinator sample their fd count and VmRSS after warm-up and at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MS (1000 * 1000LL)
#define SEC (1000 * MS)

enum soak_role {
	ROLE_PUB,
	ROLE_LPUB,
	ROLE_SUB,
	ROLE_PROD,
	ROLE_CONS,
	ROLE_SRV,
	ROLE_CLI,
	ROLE_N,
};

static const char *const role_names[ROLE_N] = {
	"pub", "lpub", "sub", "prod", "cons", "srv", "cli",
};

/* What "messages" counts for each role in the summary. */
static const char *const role_units[ROLE_N] = {
	"sent", "sent", "received", "pushed", "taken", "requests", "responses",
};

#define INST_MAX 8
/* Publisher incarnations remembered for the subscribers' tail check. */
#define HIST 64
/* Consumer kills whose taken item is known (phase TAKEN). */
#define TAKEN_MAX 1024

/* The queue's geometry; a producer's items fit in one 64-byte message. */
#define QUEUE_CAP 256
#define QUEUE_MSG 64
#define QUEUE_LINES 32
/* Producer index of the coordinator's flush items. */
#define FILLER 0xff

/* Pub/sub geometry: small, so that the rings wrap often. */
#define PS_CAP 64
#define PS_PAYLOAD 192
#define MSG_MAGIC 0x4b414f53u /* "SOAK" */
#define BOARD_NAME "shoal-soak-board"

/* RPC geometry; with at most INFLIGHT requests of at most 3 responses,
 * a client's response ring (32) can never be full. */
#define INFLIGHT 4
#define RPC_MAX 128

/* Consumer phase (board), high bits; the low 56 bits name the item. */
#define PHASE_TAKEN (1ull << 62)
#define PHASE_RECORDED (2ull << 62)
#define ITEM(prod, seq) ((uint64_t)(prod) << 48 | (seq))

/* Board phases. */
enum {
	RUN = 0,
	STOP_PRODUCERS = 1, /* queue producers exit */
	STOP = 2,	    /* everyone exits */
};

/* Per-instance counters beside messages, shown in --json and -v. */
enum {
	X_EPIPE,      /* sub, cli: the peer died; pub: - */
	X_REATTACH,   /* sub: new epochs seen */
	X_LOST,	      /* sub: lossy messages reported lost */
	X_STALE,      /* sub: zero-copy lossy messages overwritten in use */
	X_EAGAIN,     /* pub, prod, cli: would block / timed out, retried */
	X_TAILCHECKS, /* sub: -EPIPEs whose tail was checked */
	X_N,
};

static const char *const x_names[X_N] = {
	"epipe", "reattached", "lost", "stale", "retries", "tail_checks",
};

struct inst {
	/* Coordinator-written. */
	_Atomic uint64_t incarnation; /* 0 before the first start */
	_Atomic int32_t pid;
	_Atomic uint32_t steady; /* never killed; samples fds and RSS */
	/* Instance-written (every incarnation adds to them). */
	_Atomic uint64_t heartbeat; /* bumped on every loop turn */
	_Atomic uint64_t messages;
	_Atomic uint64_t violations;
	_Atomic uint64_t x[X_N];
	_Atomic uint32_t ready;	    /* setup done in this incarnation */
	_Atomic uint32_t connected; /* every handle attached (sub, cli) */
	/* Publisher: (epoch, messages confirmed) per incarnation. */
	struct {
		_Atomic uint64_t epoch;
		_Atomic uint64_t sent;
	} hist[HIST];
	/* Producer: the next sequence number to attempt. */
	_Atomic uint64_t q_next;
	/* Consumer: PHASE_* | item, 0 when holding nothing. */
	_Atomic uint64_t phase;
	/* Steady instances: samples[0] after warm-up, [1] at the end. */
	_Atomic uint32_t sampled; /* the last sample request served */
	int64_t fds[2], evfds[2], rss_kib[2];
};

struct board {
	_Atomic uint32_t phase;
	_Atomic uint32_t sample_req; /* 1: take sample 0; 2: sample 1 */
	_Atomic uint64_t fillers_taken;
	uint64_t seed;
	uint64_t q_items; /* items each producer may push */
	uint64_t rate;	  /* messages per second per sending role */
	uint32_t count[ROLE_N];
	char prefix[64];
	struct inst inst[ROLE_N][INST_MAX];
	/* Then per producer: uint8_t state[q_items], count[q_items]. */
};

/* Producer item state. */
enum {
	Q_ATTEMPTED = 1,
	Q_CONFIRMED = 2
};

static size_t board_size(uint64_t q_items)
{
	size_t head = (sizeof(struct board) + 4095) & ~(size_t)4095;

	return head + (size_t)INST_MAX * 2 * (size_t)q_items;
}

static uint8_t *q_state(struct board *b, uint32_t prod)
{
	size_t head = (sizeof(struct board) + 4095) & ~(size_t)4095;

	return (uint8_t *)b + head + (size_t)prod * 2 * b->q_items;
}

static _Atomic uint8_t *q_count(struct board *b, uint32_t prod)
{
	return (_Atomic uint8_t *)(q_state(b, prod) + b->q_items);
}

/* --- helpers shared by both sides */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / SEC, ns % SEC };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The byte at @i of a message whose identity is @key. */
static uint8_t fill_byte(uint64_t key, uint32_t i)
{
	uint64_t z = key * 0x9e3779b97f4a7c15ull + i * 0x2545f4914f6cdd1dull;

	return (uint8_t)(z >> 56);
}

static void fill(uint8_t *p, uint32_t from, uint32_t len, uint64_t key)
{
	for (uint32_t i = from; i < len; i++)
		p[i] = fill_byte(key, i);
}

static int filled(const uint8_t *p, uint32_t from, uint32_t len, uint64_t key)
{
	for (uint32_t i = from; i < len; i++)
		if (p[i] != fill_byte(key, i))
			return 0;
	return 1;
}

/*
 * The fd count and VmRSS of this process, less the pages of the board it
 * maps (the soak's own bookkeeping, which grows with the items recorded).
 */
static void sample_self(int64_t *fds, int64_t *evfds, int64_t *rss_kib)
{
	DIR *d = opendir("/proc/self/fd");
	int64_t board_kib = 0;
	struct dirent *e;
	char line[512];
	int in_board = 0;
	FILE *f;

	*fds = -1;
	*evfds = -1;
	*rss_kib = -1;
	if (d) {
		int64_t n = 0, ev = 0;

		while ((e = readdir(d))) {
			char path[300], target[64];
			ssize_t len;

			if (e->d_name[0] == '.')
				continue;
			n++;
			snprintf(path, sizeof(path), "/proc/self/fd/%s",
				 e->d_name);
			len = readlink(path, target, sizeof(target) - 1);
			if (len > 0) {
				target[len] = 0;
				ev += !strcmp(target, "anon_inode:[eventfd]");
			}
		}
		closedir(d);
		*fds = n - 1; /* the directory's own fd */
		*evfds = ev;
	}
	f = fopen("/proc/self/smaps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			/* A mapping's first line starts with its address in
			 * lower-case hex; its fields with a capital. */
			if ((line[0] >= '0' && line[0] <= '9') ||
			    (line[0] >= 'a' && line[0] <= 'f'))
				in_board = !!strstr(line, BOARD_NAME);
			else if (in_board && !strncmp(line, "Rss:", 4))
				board_kib += strtoll(line + 4, NULL, 10);
		}
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			*rss_kib = strtoll(line + 6, NULL, 10) - board_kib;
	fclose(f);
}

/* --- role processes */

struct role_ctx {
	const struct cli_cmd *cmd;
	struct board *b;
	struct inst *me;
	int role;
	uint32_t index;
	uint64_t inc;
	uint64_t rng;
	/* Rate limit: messages allowed so far. */
	int64_t t0;
	uint64_t sent_here;
};

static void beat(struct role_ctx *c)
{
	atomic_fetch_add_explicit(&c->me->heartbeat, 1, memory_order_relaxed);
}

static void count_msg(struct role_ctx *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->me->messages, n, memory_order_relaxed);
}

static void xcount(struct role_ctx *c, int which, uint64_t n)
{
	atomic_fetch_add_explicit(&c->me->x[which], n, memory_order_relaxed);
}

static void violation(struct role_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(struct role_ctx *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	atomic_fetch_add_explicit(&c->me->violations, 1, memory_order_relaxed);
	fprintf(stderr,
		"shoal soak: VIOLATION %s%u (pid %d, incarnation %" PRIu64
		"): %s\n",
		role_names[c->role], c->index, (int)getpid(), c->inc, buf);
}

static int stopping(struct role_ctx *c)
{
	uint32_t ph = atomic_load_explicit(&c->b->phase, memory_order_acquire);

	if (c->role == ROLE_PROD)
		return ph >= STOP_PRODUCERS;
	return ph >= STOP;
}

/* Steady instances answer sample requests when all their handles are up. */
static void maybe_sample(struct role_ctx *c)
{
	uint32_t req, done;

	if (!atomic_load_explicit(&c->me->steady, memory_order_relaxed))
		return;
	req = atomic_load_explicit(&c->b->sample_req, memory_order_acquire);
	done = atomic_load_explicit(&c->me->sampled, memory_order_relaxed);
	if (req == done || req < 1 || req > 2)
		return;
	if ((c->role == ROLE_SUB || c->role == ROLE_CLI) &&
	    !atomic_load_explicit(&c->me->connected, memory_order_relaxed))
		return;
	sample_self(&c->me->fds[req - 1], &c->me->evfds[req - 1],
		    &c->me->rss_kib[req - 1]);
	/* Release: publishes the sample above to the coordinator's acquire
	 * load of sampled. */
	atomic_store_explicit(&c->me->sampled, req, memory_order_release);
}

/*
 * Now and then (one call in HOLD_ODDS) sleeps HOLD_NS: called inside the
 * windows where a kill costs something (a producer's loan, a consumer's
 * taken item, a server's request), so that random kills land there often
 * enough to exercise the recovery, not only once in a long while.
 */
#define HOLD_ODDS 256
#define HOLD_NS MS

static void maybe_hold(struct role_ctx *c)
{
	if (rng_next(&c->rng) % HOLD_ODDS == 0)
		sleep_ns(HOLD_NS);
}

/* Waits until the rate limit allows another message; 0 to go on. */
static void throttle(struct role_ctx *c)
{
	int64_t allowed;

	if (!c->b->rate)
		return;
	for (;;) {
		allowed = (int64_t)((double)(cli_now_ns() - c->t0) / 1e9 *
				    (double)c->b->rate) +
			  16;
		if ((int64_t)c->sent_here < allowed || stopping(c))
			return;
		beat(c);
		maybe_sample(c);
		sleep_ns(MS);
	}
}

static void service_name(char *buf, size_t cap, const struct board *b,
			 const char *kind, uint32_t i)
{
	snprintf(buf, cap, "%s/%s%u", b->prefix, kind, i);
}

/* Message layout of pub/sub and rpc payloads. */
struct msg_head {
	uint32_t magic;
	uint32_t from; /* publisher / client index */
	uint64_t epoch;
	uint64_t seq;
	uint64_t aux;
	uint32_t len;
	uint32_t pad;
};

/* Publishers (reliable and lossy). */
static int run_pub(struct role_ctx *c)
{
	int lossy = c->role == ROLE_LPUB;
	struct shoal_pub_options o;
	struct shoal_pub *pub = NULL;
	char name[128];
	uint64_t seq = 0, epoch;
	int err;
	uint32_t h = (uint32_t)(c->inc % HIST);

	service_name(name, sizeof(name), c->b, lossy ? "lpub" : "pub",
		     c->index);
	shoal_pub_options_init(&o);
	o.delivery = lossy ? SHOAL_DELIVERY_LOSSY : SHOAL_DELIVERY_RELIABLE;
	o.capacity = PS_CAP;
	o.max_payload = PS_PAYLOAD;
	o.max_subscribers = 2 * INST_MAX;
	o.send_timeout_ns = 100 * MS;
	/* A killed predecessor's name is taken over; a live one (it cannot
	 * be: the coordinator reaped it) would be -EEXIST. */
	while ((err = shoal_pub_create(name, &o, &pub)) < 0) {
		if (stopping(c))
			return 0;
		violation(c, "shoal_pub_create(%s): %s: %s", name,
			  strerror(-err), shoal_last_error());
		sleep_ns(100 * MS);
		beat(c);
	}
	epoch = shoal_pub_epoch(pub);
	atomic_store_explicit(&c->me->hist[h].sent, 0, memory_order_relaxed);
	atomic_store_explicit(&c->me->hist[h].epoch, epoch,
			      memory_order_release);
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);

	while (!stopping(c)) {
		uint8_t buf[3][PS_PAYLOAD];
		struct shoal_pub_msg batch[3];
		uint32_t n = 1 + (uint32_t)(rng_next(&c->rng) % 3);
		uint32_t how = (uint32_t)(rng_next(&c->rng) % 3);
		int got;

		beat(c);
		maybe_sample(c);
		throttle(c);
		for (uint32_t k = 0; k < n; k++) {
			struct msg_head *m = (struct msg_head *)buf[k];
			uint32_t len =
				(uint32_t)sizeof(*m) +
				(uint32_t)(rng_next(&c->rng) %
					   (PS_PAYLOAD - sizeof(*m) + 1));

			memset(m, 0, sizeof(*m));
			m->magic = MSG_MAGIC;
			m->from = c->index;
			m->epoch = epoch;
			m->seq = seq + k;
			m->len = len;
			fill(buf[k], sizeof(*m), len, epoch ^ (seq + k));
			batch[k].data = buf[k];
			batch[k].len = len;
			batch[k].pad = 0;
			batch[k].user_header = NULL;
		}
		if (how == 0) {
			got = shoal_pub_write_batch(pub, batch, n);
		} else if (how == 1) {
			got = shoal_pub_write(pub, buf[0], batch[0].len, NULL);
			got = got < 0 ? got : 1;
		} else {
			void *p;

			got = shoal_pub_loan(pub, batch[0].len, &p);
			if (!got) {
				memcpy(p, buf[0], batch[0].len);
				got = shoal_pub_send(pub, p, batch[0].len);
				got = got < 0 ? got : 1;
			}
		}
		if (got == -EAGAIN && !lossy) {
			xcount(c, X_EAGAIN, 1);
			continue;
		}
		if (got < 0) {
			violation(c, "send: %s: %s", strerror(-got),
				  shoal_last_error());
			sleep_ns(10 * MS);
			continue;
		}
		seq += (uint64_t)got;
		c->sent_here += (uint64_t)got;
		/* Release: the subscriber's tail check reads it after our
		 * death (relaxed would do; the order is the kernel's). */
		atomic_store_explicit(&c->me->hist[h].sent, seq,
				      memory_order_release);
		count_msg(c, (uint64_t)got);
	}
	shoal_pub_destroy(pub);
	return 0;
}

/* One subscription of a subscriber. */
struct stream {
	struct shoal_sub *sub;
	int lossy;
	uint32_t pub; /* publisher index */
	uint64_t epoch;
	int have;	  /* a message of this epoch was seen */
	uint64_t next;	  /* seq after the last one seen */
	uint64_t pending; /* lossy: lost reported since */
	char name[128];
};

/* The subscriber's tail check at -EPIPE: everything the dead reliable
 * publisher confirmed was delivered. */
static void tail_check(struct role_ctx *c, struct stream *s)
{
	struct inst *p = &c->b->inst[ROLE_PUB][s->pub];

	if (s->lossy || !s->have)
		return;
	for (uint32_t h = 0; h < HIST; h++) {
		uint64_t e = atomic_load_explicit(&p->hist[h].epoch,
						  memory_order_acquire);
		uint64_t sent;

		if (e != s->epoch)
			continue;
		sent = atomic_load_explicit(&p->hist[h].sent,
					    memory_order_acquire);
		/* A publisher that already came back under the same
		 * epoch number cannot happen: epochs differ per segment. */
		if (s->next < sent)
			violation(c,
				  "%s epoch %" PRIu64
				  ": -EPIPE after seq %" PRIu64
				  " but the publisher confirmed %" PRIu64
				  " messages",
				  s->name, s->epoch, s->next, sent);
		xcount(c, X_TAILCHECKS, 1);
		return;
	}
}

static void check_payload(struct role_ctx *c, struct stream *s,
			  const uint8_t *p, uint32_t len,
			  const struct shoal_msg *m, int *bad, char *why,
			  size_t cap)
{
	const struct msg_head *h = (const struct msg_head *)p;
	struct msg_head hd;

	(void)c;
	*bad = 1;
	if (len < sizeof(hd)) {
		snprintf(why, cap, "length %u", len);
		return;
	}
	memcpy(&hd, h, sizeof(hd));
	if (hd.magic != MSG_MAGIC || hd.from != s->pub || hd.len != len ||
	    hd.epoch != m->epoch || hd.seq != m->seq) {
		snprintf(why, cap,
			 "header (magic %08x from %u len %u/%u epoch %" PRIu64
			 "/%" PRIu64 " seq %" PRIu64 "/%" PRIu64 ")",
			 hd.magic, hd.from, hd.len, len, hd.epoch, m->epoch,
			 hd.seq, m->seq);
		return;
	}
	if (!filled(p, sizeof(hd), len, m->epoch ^ m->seq)) {
		snprintf(why, cap, "payload bytes of seq %" PRIu64, m->seq);
		return;
	}
	*bad = 0;
}

/* Sequence accounting of one message that arrived intact (or stale). */
static void stream_arrived(struct role_ctx *c, struct stream *s,
			   const struct shoal_msg *m)
{
	if (m->epoch != s->epoch) {
		if (s->epoch)
			xcount(c, X_REATTACH, 1);
		s->epoch = m->epoch;
		s->have = 0;
		s->pending = 0;
	}
	if (s->have && m->seq != s->next + s->pending)
		violation(c,
			  "%s epoch %" PRIu64 ": seq %" PRIu64 " after %" PRIu64
			  " with %" PRIu64 " reported lost in between",
			  s->name, s->epoch, m->seq, s->next ? s->next - 1 : 0,
			  s->pending);
	s->have = 1;
	s->next = m->seq + 1;
	s->pending = 0;
}

/* Takes what @s has now; returns how many events (messages, errors). */
static int stream_drain(struct role_ctx *c, struct stream *s)
{
	int events = 0;

	for (int k = 0; k < 64; k++) {
		struct shoal_msg m;
		uint8_t buf[PS_PAYLOAD];
		char why[200];
		int bad, err;
		int copy = !s->lossy || (rng_next(&c->rng) & 1);

		memset(&m, 0, sizeof(m));

		if (copy) {
			ssize_t n = shoal_sub_read(s->sub, buf, sizeof(buf),
						   NULL, &m, 0);

			err = n < 0 ? (int)n : 0;
			if (!err) {
				check_payload(c, s, buf, (uint32_t)n, &m, &bad,
					      why, sizeof(why));
				if (bad)
					violation(c,
						  "%s: copied message torn: "
						  "%s",
						  s->name, why);
			}
		} else {
			err = shoal_sub_take(s->sub, &m, 0);
			if (!err) {
				int rel;

				memcpy(buf, m.data,
				       m.len < sizeof(buf) ? m.len :
							     sizeof(buf));
				check_payload(c, s, buf, m.len, &m, &bad, why,
					      sizeof(why));
				rel = shoal_sub_release(s->sub, &m);
				if (rel == -ESTALE)
					xcount(c, X_STALE, 1);
				else if (rel < 0)
					violation(c, "%s: release: %s", s->name,
						  strerror(-rel));
				else if (bad)
					violation(c,
						  "%s: zero-copy message torn "
						  "but release said intact: %s",
						  s->name, why);
			}
		}
		if (err == -EAGAIN)
			break;
		events++;
		if (!err) {
			stream_arrived(c, s, &m);
			count_msg(c, 1);
		} else if (err == -EOVERFLOW && s->lossy) {
			/* msg.epoch is not set with -EOVERFLOW: the handle
			 * says which publisher lapped us. */
			uint64_t e = shoal_sub_epoch(s->sub);

			if (e != s->epoch) {
				if (s->epoch)
					xcount(c, X_REATTACH, 1);
				s->epoch = e;
				s->have = 0;
				s->pending = 0;
			}
			s->pending += m.lost;
			xcount(c, X_LOST, m.lost);
		} else if (err == -EPIPE) {
			xcount(c, X_EPIPE, 1);
			tail_check(c, s);
			s->have = 0;
			s->pending = 0;
			break;
		} else {
			violation(c, "%s: take: %s: %s", s->name,
				  strerror(-err), shoal_last_error());
			sleep_ns(MS); /* not a tight loop of the same error */
			break;
		}
	}
	return events;
}

static int run_sub(struct role_ctx *c)
{
	struct stream s[2 * INST_MAX];
	struct pollfd pfd[2 * INST_MAX];
	uint32_t n = 0;

	memset(s, 0, sizeof(s));
	for (int lossy = 0; lossy < 2; lossy++) {
		uint32_t np = c->b->count[lossy ? ROLE_LPUB : ROLE_PUB];

		for (uint32_t i = 0; i < np; i++, n++) {
			struct shoal_sub_options o;
			int err;

			s[n].lossy = lossy;
			s[n].pub = i;
			service_name(s[n].name, sizeof(s[n].name), c->b,
				     lossy ? "lpub" : "pub", i);
			shoal_sub_options_init(&o);
			o.flags = SHOAL_SUB_REATTACH;
			while ((err = shoal_sub_open(s[n].name, &o,
						     &s[n].sub)) < 0) {
				/* -EBUSY: lines of killed subscribers not yet
				 * evicted. */
				if (err != -EBUSY)
					violation(c,
						  "shoal_sub_open(%s): %s: %s",
						  s[n].name, strerror(-err),
						  shoal_last_error());
				if (stopping(c))
					goto out;
				beat(c);
				sleep_ns(10 * MS);
			}
		}
	}
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);

	while (!stopping(c)) {
		int events = 0, ready = 0, all = 1;

		beat(c);
		for (uint32_t i = 0; i < n; i++) {
			events += stream_drain(c, &s[i]);
			all &= shoal_sub_connected(s[i].sub);
		}
		atomic_store_explicit(&c->me->connected, (uint32_t)all,
				      memory_order_relaxed);
		maybe_sample(c);
		if (events)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			pfd[i].fd = shoal_sub_fd(s[i].sub);
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
			if (shoal_sub_arm(s[i].sub) == 1)
				ready = 1;
		}
		if (!ready)
			poll(pfd, n, 100);
		for (uint32_t i = 0; i < n; i++)
			shoal_sub_disarm(s[i].sub);
	}
out:
	for (uint32_t i = 0; i < n; i++)
		shoal_sub_close(s[i].sub);
	return 0;
}

static int open_queue(struct role_ctx *c, uint32_t role, struct shoal_queue **q)
{
	struct shoal_queue_options o;
	char name[128];
	int err;

	service_name(name, sizeof(name), c->b, "queue", 0);
	shoal_queue_options_init(&o);
	o.role = role;
	while ((err = shoal_queue_open(name, &o, q)) < 0) {
		if (err != -EBUSY)
			violation(c, "shoal_queue_open(%s): %s: %s", name,
				  strerror(-err), shoal_last_error());
		if (stopping(c))
			return err;
		beat(c);
		sleep_ns(10 * MS);
	}
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	return 0;
}

struct q_item {
	uint32_t magic;
	uint32_t prod;
	uint64_t seq;
	uint64_t inc; /* the producer's incarnation; for the reports */
	uint8_t fill[QUEUE_MSG - 24];
};

static int run_prod(struct role_ctx *c)
{
	uint8_t *state = q_state(c->b, c->index);
	struct shoal_queue *q;
	uint64_t seq;

	if (open_queue(c, SHOAL_QUEUE_PRODUCER, &q) < 0)
		return 0;
	/* A predecessor killed during the push of q_next may or may not
	 * have enqueued it: never push that number again; nor the next
	 * ones, which its own killed predecessors may have attempted
	 * before confirming any. */
	seq = atomic_load_explicit(&c->me->q_next, memory_order_relaxed);
	while (seq < c->b->q_items && state[seq])
		seq++;
	while (!stopping(c)) {
		struct q_item it;
		int err;

		beat(c);
		maybe_sample(c);
		if (seq >= c->b->q_items) {
			sleep_ns(10 * MS); /* out of board room: idle */
			continue;
		}
		throttle(c);
		it.magic = MSG_MAGIC;
		it.prod = c->index;
		it.seq = seq;
		it.inc = c->inc;
		fill(it.fill, 0, sizeof(it.fill), ITEM(c->index, seq));
		state[seq] = Q_ATTEMPTED;
		atomic_signal_fence(memory_order_seq_cst);
		if (rng_next(&c->rng) & 1) {
			err = shoal_queue_push(q, &it, sizeof(it), 100 * MS);
		} else {
			void *p;

			err = shoal_queue_loan(q, &p, 100 * MS);
			if (!err) {
				memcpy(p, &it, sizeof(it));
				maybe_hold(c);
				err = shoal_queue_send(q, sizeof(it));
			}
		}
		if (err < 0)
			state[seq] = 0; /* nothing was enqueued */
		if (err == -ETIMEDOUT) {
			xcount(c, X_EAGAIN, 1);
			continue;
		}
		if (err < 0) {
			violation(c, "push: %s: %s", strerror(-err),
				  shoal_last_error());
			sleep_ns(10 * MS);
			continue;
		}
		atomic_signal_fence(memory_order_seq_cst);
		state[seq] = Q_CONFIRMED;
		seq++;
		atomic_store_explicit(&c->me->q_next, seq,
				      memory_order_relaxed);
		c->sent_here++;
		count_msg(c, 1);
	}
	shoal_queue_close(q);
	return 0;
}

static int run_cons(struct role_ctx *c)
{
	uint64_t last[INST_MAX];
	int seen[INST_MAX] = { 0 };
	struct shoal_queue *q;

	if (open_queue(c, SHOAL_QUEUE_CONSUMER, &q) < 0)
		return 0;
	memset(last, 0, sizeof(last));
	while (!stopping(c)) {
		const void *data;
		struct q_item it;
		uint32_t len;
		uint64_t item;
		uint8_t old;
		int err;

		beat(c);
		maybe_sample(c);
		err = shoal_queue_take(q, &data, &len, 100 * MS);
		if (err == -ETIMEDOUT)
			continue;
		if (err < 0) {
			violation(c, "take: %s: %s", strerror(-err),
				  shoal_last_error());
			sleep_ns(10 * MS);
			continue;
		}
		if (len != sizeof(it)) {
			violation(c, "item of %u bytes", len);
			shoal_queue_release(q);
			continue;
		}
		memcpy(&it, data, sizeof(it));
		if (it.magic != MSG_MAGIC ||
		    (it.prod != FILLER && (it.prod >= c->b->count[ROLE_PROD] ||
					   it.seq >= c->b->q_items)) ||
		    !filled(it.fill, 0, sizeof(it.fill),
			    ITEM(it.prod, it.seq))) {
			violation(
				c,
				"corrupt item (magic %08x prod %u seq %" PRIu64
				")",
				it.magic, it.prod, it.seq);
			shoal_queue_release(q);
			continue;
		}
		if (it.prod == FILLER) {
			shoal_queue_release(q);
			atomic_fetch_add_explicit(&c->b->fillers_taken, 1,
						  memory_order_relaxed);
			continue;
		}
		item = ITEM(it.prod, it.seq);
		/* The coordinator reads the phase of a killed consumer: what
		 * it held, and whether it was recorded. */
		atomic_store_explicit(&c->me->phase, PHASE_TAKEN | item,
				      memory_order_seq_cst);
		maybe_hold(c);
		old = atomic_fetch_add_explicit(&q_count(c->b, it.prod)[it.seq],
						1, memory_order_seq_cst);
		atomic_store_explicit(&c->me->phase, PHASE_RECORDED | item,
				      memory_order_seq_cst);
		maybe_hold(c);
		if (old)
			violation(c,
				  "producer %u item %" PRIu64
				  " (its incarnation %" PRIu64
				  ") taken again (%u time(s) before)",
				  it.prod, it.seq, it.inc, old);
		if (seen[it.prod] && it.seq <= last[it.prod])
			violation(c,
				  "producer %u: item %" PRIu64
				  " (its incarnation %" PRIu64
				  ") after %" PRIu64,
				  it.prod, it.seq, it.inc, last[it.prod]);
		seen[it.prod] = 1;
		last[it.prod] = it.seq;
		err = shoal_queue_release(q);
		atomic_store_explicit(&c->me->phase, 0, memory_order_seq_cst);
		if (err < 0)
			violation(c, "release: %s", strerror(-err));
		count_msg(c, 1);
	}
	shoal_queue_close(q);
	return 0;
}

static int run_srv(struct role_ctx *c)
{
	struct shoal_server_options o;
	struct shoal_server *srv;
	char name[128];
	int err;

	service_name(name, sizeof(name), c->b, "srv", c->index);
	shoal_server_options_init(&o);
	o.max_clients = 2 * INST_MAX;
	o.max_request = RPC_MAX;
	o.max_response = RPC_MAX;
	o.respond_timeout_ns = SEC;
	while ((err = shoal_server_create(name, &o, &srv)) < 0) {
		if (stopping(c))
			return 0;
		violation(c, "shoal_server_create(%s): %s: %s", name,
			  strerror(-err), shoal_last_error());
		sleep_ns(100 * MS);
		beat(c);
	}
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	while (!stopping(c)) {
		struct shoal_request req;
		uint8_t buf[RPC_MAX];
		struct msg_head h;
		uint32_t len;
		uint64_t id;

		beat(c);
		maybe_sample(c);
		err = shoal_server_take(srv, &req, 100 * MS);
		if (err == -ETIMEDOUT)
			continue;
		if (err < 0) {
			violation(c, "take: %s: %s", strerror(-err),
				  shoal_last_error());
			sleep_ns(10 * MS);
			continue;
		}
		len = req.len < sizeof(buf) ? req.len : sizeof(buf);
		memcpy(buf, req.data, len);
		maybe_hold(c);
		id = req.id;
		shoal_server_release(srv, &req);
		memcpy(&h, buf, len < sizeof(h) ? len : sizeof(h));
		if (len < sizeof(h) || h.magic != MSG_MAGIC || h.len != len ||
		    h.aux < 1 || h.aux > 3 ||
		    !filled(buf, sizeof(h), len, h.epoch ^ h.seq)) {
			violation(c, "corrupt request (%u bytes)", len);
			continue;
		}
		count_msg(c, 1);
		for (uint32_t k = 0; k < h.aux; k++) {
			uint8_t out[RPC_MAX];
			struct msg_head r = h;
			uint32_t rlen = (uint32_t)sizeof(r) + 8 * k + 3;

			r.len = rlen;
			r.pad = k;
			r.aux = id;
			memcpy(out, &r, sizeof(r));
			fill(out, sizeof(r), rlen, id ^ k);
			err = shoal_server_respond(
				srv, &req, out, rlen,
				k + 1 < h.aux ? SHOAL_RPC_MORE : 0);
			if (err == -EPIPE)
				break; /* the client died */
			if (err < 0) {
				violation(c, "respond: %s: %s", strerror(-err),
					  shoal_last_error());
				break;
			}
		}
	}
	shoal_server_destroy(srv);
	return 0;
}

struct call {
	uint64_t id, seq;
	uint32_t want, got;
};

static int client_connect(struct role_ctx *c, const char *name,
			  struct shoal_client **cli)
{
	int err;

	atomic_store_explicit(&c->me->connected, 0, memory_order_relaxed);
	while ((err = shoal_client_open(name, NULL, cli)) < 0) {
		if (err != -ENOENT && err != -EBUSY)
			violation(c, "shoal_client_open(%s): %s: %s", name,
				  strerror(-err), shoal_last_error());
		if (stopping(c))
			return err;
		beat(c);
		sleep_ns(10 * MS);
	}
	atomic_store_explicit(&c->me->connected, 1, memory_order_relaxed);
	return 0;
}

static int run_cli(struct role_ctx *c, int64_t hang_ns)
{
	struct call fl[INFLIGHT];
	uint32_t nfl = 0;
	struct shoal_client *cli;
	char name[128];
	uint64_t seq = 0;
	int64_t waiting_since = 0;

	service_name(name, sizeof(name), c->b, "srv",
		     c->index % c->b->count[ROLE_SRV]);
	if (client_connect(c, name, &cli) < 0)
		return 0;
	atomic_store_explicit(&c->me->ready, 1, memory_order_release);
	while (!stopping(c)) {
		struct shoal_response r;
		uint8_t buf[RPC_MAX];
		struct msg_head h;
		int err = 0;

		beat(c);
		maybe_sample(c);
		while (nfl < INFLIGHT) {
			uint32_t len = (uint32_t)sizeof(h) +
				       (uint32_t)(rng_next(&c->rng) %
						  (RPC_MAX - sizeof(h) + 1));
			uint64_t id;

			throttle(c);
			memset(&h, 0, sizeof(h));
			h.magic = MSG_MAGIC;
			h.from = c->index;
			h.epoch = c->inc;
			h.seq = seq;
			h.aux = 1 + rng_next(&c->rng) % 3;
			h.len = len;
			memcpy(buf, &h, sizeof(h));
			fill(buf, sizeof(h), len, h.epoch ^ h.seq);
			err = shoal_client_request(cli, buf, len, &id);
			if (err == -EAGAIN) {
				xcount(c, X_EAGAIN, 1);
				break;
			}
			if (err < 0)
				break;
			fl[nfl].id = id;
			fl[nfl].seq = seq++;
			fl[nfl].want = (uint32_t)h.aux;
			fl[nfl].got = 0;
			nfl++;
			c->sent_here++;
		}
		if (!err) {
			err = shoal_client_take(cli, &r, 100 * MS);
			if (!err) {
				uint32_t len = r.len < sizeof(buf) ?
						       r.len :
						       sizeof(buf);
				uint32_t i;

				memcpy(buf, r.data, len);
				memcpy(&h, buf,
				       len < sizeof(h) ? len : sizeof(h));
				for (i = 0; i < nfl && fl[i].id != r.id; i++)
					;
				if (i == nfl) {
					violation(c,
						  "response to id %" PRIu64
						  ", not in flight",
						  r.id);
				} else if (len < sizeof(h) ||
					   h.magic != MSG_MAGIC ||
					   h.len != len || h.aux != r.id ||
					   h.seq != fl[i].seq ||
					   h.epoch != c->inc ||
					   h.pad != fl[i].got ||
					   !!(r.flags & SHOAL_RPC_MORE) !=
						   (fl[i].got + 1 <
						    fl[i].want) ||
					   !filled(buf, sizeof(h), len,
						   r.id ^ fl[i].got)) {
					violation(c,
						  "response %u to id %" PRIu64
						  " (seq %" PRIu64
						  ") does not match it",
						  fl[i].got, r.id, fl[i].seq);
					fl[i] = fl[--nfl];
				} else if (++fl[i].got == fl[i].want) {
					/* Responses come in order of
					 * sending by the server: the oldest
					 * request is answered first. */
					for (uint32_t j = 0; j < nfl; j++)
						if (fl[j].seq < fl[i].seq)
							violation(
								c,
								"seq %" PRIu64
								" answered "
								"before %" PRIu64,
								fl[i].seq,
								fl[j].seq);
					fl[i] = fl[--nfl];
					count_msg(c, 1);
				}
				shoal_client_release(cli, &r);
				waiting_since = 0;
				continue;
			}
		}
		if (err == -ETIMEDOUT || err == -EAGAIN) {
			if (!nfl) {
				waiting_since = 0;
				continue;
			}
			if (!waiting_since)
				waiting_since = cli_now_ns();
			if (cli_now_ns() - waiting_since > hang_ns) {
				violation(c,
					  "%u request(s) unanswered for %.0f "
					  "s, no -EPIPE",
					  nfl, (double)hang_ns / 1e9);
				waiting_since = 0;
			}
			continue;
		}
		if (err == -EPIPE) {
			/* The server died: what it did not answer is gone. */
			xcount(c, X_EPIPE, 1);
		} else {
			violation(c, "client: %s: %s", strerror(-err),
				  shoal_last_error());
		}
		nfl = 0;
		waiting_since = 0;
		shoal_client_close(cli);
		if (client_connect(c, name, &cli) < 0)
			return 0;
	}
	shoal_client_close(cli);
	return 0;
}

static int run_role(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct role_ctx c;
	struct stat st;
	int fd, role = -1;
	int64_t hang_ns;
	void *p;

	if (argc != 5)
		return CLI_EXIT_USAGE;
	fd = atoi(argv[1]);
	for (int r = 0; r < ROLE_N; r++)
		if (!strcmp(argv[2], role_names[r]))
			role = r;
	if (role < 0 || fstat(fd, &st) < 0)
		return CLI_EXIT_USAGE;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (p == MAP_FAILED)
		return cli_fail_sys(cmd, -errno, "mmap");
	close(fd);
	memset(&c, 0, sizeof(c));
	c.cmd = cmd;
	c.b = p;
	c.role = role;
	c.index = (uint32_t)atoi(argv[3]);
	hang_ns = (int64_t)atoll(argv[4]) * SEC;
	if (c.index >= INST_MAX)
		return CLI_EXIT_USAGE;
	c.me = &c.b->inst[role][c.index];
	c.inc = atomic_load_explicit(&c.me->incarnation, memory_order_acquire);
	c.rng = c.b->seed ^ ((uint64_t)role << 56) ^ ((uint64_t)c.index << 48) ^
		c.inc * 0x9e3779b97f4a7c15ull;
	c.t0 = cli_now_ns();
	/* SIGTERM from the coordinator means stop now (it only sends it
	 * when a clean stop took too long). */
	switch (role) {
	case ROLE_PUB:
	case ROLE_LPUB:
		return run_pub(&c);
	case ROLE_SUB:
		return run_sub(&c);
	case ROLE_PROD:
		return run_prod(&c);
	case ROLE_CONS:
		return run_cons(&c);
	case ROLE_SRV:
		return run_srv(&c);
	default:
		return run_cli(&c, hang_ns);
	}
}

const struct cli_cmd cli_cmd_soak_role = {
	.name = "__soak-role",
	.synopsis = "__soak-role FD ROLE INDEX HANG_SECONDS",
	.summary = "one process of shoal soak (internal)",
	.help = "",
	.run = run_role,
	.hidden = 1,
};

/* --- the coordinator */

struct child {
	pid_t pid;	      /* 0: not running */
	int64_t restart_at;   /* when to start it again (pid 0) */
	int killed;	      /* the running one was SIGKILLed by us */
	uint64_t kills;	      /* SIGKILLs sent */
	uint64_t restarts;    /* starts after the first */
	uint64_t crashes;     /* exits we did not cause */
	uint64_t last_beat;   /* heartbeat at the last change */
	int64_t last_beat_ns; /* when it last changed */
};

struct soak {
	const struct cli_cmd *cmd;
	struct board *b;
	int board_fd;
	uint64_t rng;
	int64_t hang_ns;
	struct child ch[ROLE_N][INST_MAX];
	uint64_t kills_total;
	/* Coordinator-found violations, per role (and the coordinator's). */
	uint64_t cviol[ROLE_N];
	uint64_t own_viol;
	/* Consumer kills: items held unrecorded, and recorded ones. */
	uint64_t taken_items[TAKEN_MAX];
	uint32_t n_taken;
	uint64_t killed_recorded;
	uint64_t cons_kills_held;
	struct shoal_queue *queue;
	int verbose;
	/* Roles told to stop: an exit 0 is theirs to make, no restart. */
	uint32_t done_mask;
};

static void coord_violation(struct soak *s, int role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void coord_violation(struct soak *s, int role, const char *fmt, ...)
{
	va_list ap;

	if (role >= 0)
		s->cviol[role]++;
	else
		s->own_viol++;
	fprintf(stderr, "shoal soak: VIOLATION %s: ",
		role >= 0 ? role_names[role] : "soak");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int spawn(struct soak *s, int role, uint32_t i)
{
	struct child *ch = &s->ch[role][i];
	struct inst *in = &s->b->inst[role][i];
	char fdbuf[16], ibuf[16], hbuf[32];
	pid_t pid;

	atomic_store_explicit(&in->ready, 0, memory_order_relaxed);
	atomic_store_explicit(&in->connected, 0, memory_order_relaxed);
	atomic_store_explicit(&in->phase, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&in->incarnation, 1, memory_order_release);
	snprintf(fdbuf, sizeof(fdbuf), "%d", s->board_fd);
	snprintf(ibuf, sizeof(ibuf), "%u", i);
	snprintf(hbuf, sizeof(hbuf), "%lld", (long long)(s->hang_ns / SEC));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		char *argv[] = { "shoal", "__soak-role",
				 fdbuf,	  (char *)role_names[role],
				 ibuf,	  hbuf,
				 NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	ch->pid = pid;
	ch->killed = 0;
	ch->last_beat =
		atomic_load_explicit(&in->heartbeat, memory_order_relaxed);
	ch->last_beat_ns = cli_now_ns();
	atomic_store_explicit(&in->pid, pid, memory_order_relaxed);
	return 0;
}

/* What a killed consumer held, read once it is dead. */
static void consumer_died(struct soak *s, uint32_t i)
{
	struct inst *in = &s->b->inst[ROLE_CONS][i];
	uint64_t ph = atomic_load_explicit(&in->phase, memory_order_acquire);

	if ((ph >> 62) == (PHASE_TAKEN >> 62)) {
		if (s->n_taken < TAKEN_MAX)
			s->taken_items[s->n_taken++] = ph & ~(3ull << 62);
		s->cons_kills_held++;
	} else if ((ph >> 62) == (PHASE_RECORDED >> 62)) {
		s->killed_recorded++;
		s->cons_kills_held++;
	}
	atomic_store_explicit(&in->phase, 0, memory_order_relaxed);
}

/* Reaps children; schedules restarts while @restart. */
static void reap(struct soak *s, int restart)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int r = 0; r < ROLE_N; r++) {
			for (uint32_t i = 0; i < s->b->count[r]; i++) {
				struct child *ch = &s->ch[r][i];

				if (ch->pid != pid)
					continue;
				ch->pid = 0;
				if (r == ROLE_CONS)
					consumer_died(s, i);
				if (ch->killed && WIFSIGNALED(status) &&
				    WTERMSIG(status) == SIGKILL) {
					/* ours */
				} else if (!(WIFEXITED(status) &&
					     WEXITSTATUS(status) == 0 &&
					     (s->done_mask & (1u << r)))) {
					ch->crashes++;
					coord_violation(
						s, r, "%s%u (pid %d) %s %d",
						role_names[r], i, (int)pid,
						WIFSIGNALED(status) ?
							"died of signal" :
							"exited with status",
						WIFSIGNALED(status) ?
							WTERMSIG(status) :
							WEXITSTATUS(status));
				}
				ch->restart_at = cli_now_ns() +
						 (int64_t)(rng_next(&s->rng) %
							   (50 * MS));
			}
		}
	}
	if (!restart)
		return;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];

			if (s->done_mask & (1u << r))
				continue;
			if (!ch->pid && cli_now_ns() >= ch->restart_at) {
				if (spawn(s, r, i) == 0)
					ch->restarts++;
			}
		}
}

/* Hang detection: a running child whose heartbeat stood still. */
static void watch_progress(struct soak *s)
{
	int64_t now = cli_now_ns();

	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];
			uint64_t hb = atomic_load_explicit(
				&s->b->inst[r][i].heartbeat,
				memory_order_relaxed);

			if (hb != ch->last_beat || !ch->pid) {
				ch->last_beat = hb;
				ch->last_beat_ns = now;
				continue;
			}
			if (now - ch->last_beat_ns > s->hang_ns) {
				coord_violation(
					s, r,
					"%s%u (pid %d) made no progress "
					"for %.0f s: killed",
					role_names[r], i, (int)ch->pid,
					(double)s->hang_ns / 1e9);
				kill(ch->pid, SIGKILL);
				ch->killed = 1;
				ch->last_beat_ns = now;
			}
		}
}

static void kill_one(struct soak *s)
{
	uint32_t n = 0, pick;

	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++)
			if (s->ch[r][i].pid && !s->ch[r][i].killed &&
			    !atomic_load_explicit(&s->b->inst[r][i].steady,
						  memory_order_relaxed))
				n++;
	if (!n)
		return;
	pick = (uint32_t)(rng_next(&s->rng) % n);
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];

			/* killed: dead already, not yet reaped. */
			if (!ch->pid || ch->killed ||
			    atomic_load_explicit(&s->b->inst[r][i].steady,
						 memory_order_relaxed))
				continue;
			if (pick--)
				continue;
			if (kill(ch->pid, SIGKILL) == 0) {
				ch->killed = 1;
				ch->kills++;
				s->kills_total++;
			}
			return;
		}
}

/*
 * Takes sample @which (0: after warm-up, 1: at the end) of the steady
 * instances, with no kill in between and every role up. Returns 0, or -1
 * if they did not answer within the hang bound (a violation).
 */
static int take_samples(struct soak *s, int which, int64_t *fds, int64_t *rss)
{
	int64_t deadline = cli_now_ns() + s->hang_ns;
	int pending;

	/* Every role running and past its setup. */
	for (;;) {
		int up = 1;

		reap(s, 1);
		watch_progress(s);
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < s->b->count[r]; i++)
				up &= s->ch[r][i].pid &&
				      atomic_load_explicit(
					      &s->b->inst[r][i].ready,
					      memory_order_acquire);
		if (up)
			break;
		if (cli_now_ns() > deadline || cli_stop) {
			coord_violation(s, -1,
					"roles not all up within %.0f s for "
					"sample %d",
					(double)s->hang_ns / 1e9, which);
			return -1;
		}
		sleep_ns(10 * MS);
	}
	atomic_store_explicit(&s->b->sample_req, (uint32_t)which + 1,
			      memory_order_release);
	do {
		pending = 0;
		reap(s, 1);
		watch_progress(s);
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < s->b->count[r]; i++) {
				struct inst *in = &s->b->inst[r][i];

				if (atomic_load_explicit(&in->steady,
							 memory_order_relaxed) &&
				    atomic_load_explicit(&in->sampled,
							 memory_order_acquire) !=
					    (uint32_t)which + 1)
					pending = 1;
			}
		if (pending && (cli_now_ns() > deadline || cli_stop)) {
			coord_violation(s, -1,
					"steady roles did not sample within "
					"%.0f s",
					(double)s->hang_ns / 1e9);
			return -1;
		}
		if (pending)
			sleep_ns(10 * MS);
	} while (pending);
	int64_t ev;

	sample_self(fds, &ev, rss);
	return 0;
}

/* Waits for every child to exit by itself (or kills it after the bound). */
static void wait_exit(struct soak *s, int role_only)
{
	int64_t deadline = cli_now_ns() + s->hang_ns;

	for (;;) {
		int running = 0;

		reap(s, 0);
		for (int r = 0; r < ROLE_N; r++) {
			if (role_only >= 0 && r != role_only)
				continue;
			for (uint32_t i = 0; i < s->b->count[r]; i++)
				running |= s->ch[r][i].pid != 0;
		}
		if (!running)
			return;
		if (cli_now_ns() > deadline) {
			for (int r = 0; r < ROLE_N; r++)
				for (uint32_t i = 0; i < s->b->count[r]; i++)
					if (s->ch[r][i].pid &&
					    (role_only < 0 || r == role_only)) {
						coord_violation(
							s, r,
							"%s%u did not stop "
							"within %.0f s",
							role_names[r], i,
							(double)s->hang_ns /
								1e9);
						s->ch[r][i].killed = 1;
						kill(s->ch[r][i].pid, SIGKILL);
					}
			deadline = cli_now_ns() + s->hang_ns;
		}
		sleep_ns(10 * MS);
	}
}

/* Queue totals after the end. */
struct q_totals {
	uint64_t pushed, confirmed, uncertain, taken, missing_confirmed,
		missing_uncertain, dup, phantom;
	struct shoal_queue_stats st;
	uint64_t fillers;
};

/*
 * The flush lap: QUEUE_CAP items of the coordinator's, so that every cell
 * is passed once more and a cell held by a killed consumer is recovered
 * (counted abandoned) before the totals are read.
 */
static void queue_flush(struct soak *s, struct q_totals *t)
{
	struct q_item it;
	int64_t deadline = cli_now_ns() + s->hang_ns;

	memset(&it, 0, sizeof(it));
	it.magic = MSG_MAGIC;
	it.prod = FILLER;
	for (uint64_t k = 0; k < QUEUE_CAP; k++) {
		int err;

		it.seq = k;
		fill(it.fill, 0, sizeof(it.fill), ITEM(FILLER, k));
		do {
			reap(s, 1);
			err = shoal_queue_push(s->queue, &it, sizeof(it),
					       100 * MS);
		} while (err == -ETIMEDOUT && cli_now_ns() < deadline);
		if (err < 0) {
			coord_violation(s, ROLE_CONS,
					"flush push %" PRIu64 ": %s", k,
					strerror(-err));
			return;
		}
		t->fillers++;
	}
	while (atomic_load_explicit(&s->b->fillers_taken,
				    memory_order_relaxed) < t->fillers) {
		reap(s, 1);
		if (cli_now_ns() > deadline) {
			coord_violation(
				s, ROLE_CONS,
				"consumers took %" PRIu64 " of %" PRIu64
				" flush items within %.0f s",
				atomic_load_explicit(&s->b->fillers_taken,
						     memory_order_relaxed),
				t->fillers, (double)s->hang_ns / 1e9);
			return;
		}
		sleep_ns(10 * MS);
	}
}

static void queue_check(struct soak *s, struct q_totals *t)
{
	uint64_t prod_kills = 0, cons_kills = 0, lo, hi, missing;

	shoal_queue_get_stats(s->queue, &t->st);
	for (uint32_t p = 0; p < s->b->count[ROLE_PROD]; p++) {
		uint8_t *state = q_state(s->b, p);
		_Atomic uint8_t *cnt = q_count(s->b, p);

		prod_kills += s->ch[ROLE_PROD][p].kills;
		for (uint64_t k = 0; k < s->b->q_items; k++) {
			uint8_t n = atomic_load_explicit(&cnt[k],
							 memory_order_relaxed);

			t->taken += n;
			if (n > 1)
				t->dup += n - 1; /* also reported at once */
			if (state[k] == Q_CONFIRMED) {
				t->confirmed++;
				if (!n)
					t->missing_confirmed++;
			} else if (state[k] == Q_ATTEMPTED) {
				t->uncertain++;
				if (!n)
					t->missing_uncertain++;
			} else if (n) {
				t->phantom++;
			}
		}
	}
	for (uint32_t i = 0; i < s->b->count[ROLE_CONS]; i++)
		cons_kills += s->ch[ROLE_CONS][i].kills;
	t->pushed = t->confirmed + t->uncertain;
	missing = t->missing_confirmed + t->missing_uncertain;

	if (t->phantom)
		coord_violation(s, ROLE_CONS,
				"%" PRIu64 " item(s) taken that no producer "
				"pushed",
				t->phantom);
	/* An item is in doubt only when its producer was killed between
	 * marking it attempted and confirming it. */
	if (t->uncertain > prod_kills)
		coord_violation(s, ROLE_PROD,
				"%" PRIu64 " item(s) in doubt but only %" PRIu64
				" producer kills",
				t->uncertain, prod_kills);
	if (t->st.skipped > prod_kills)
		coord_violation(s, ROLE_PROD,
				"skipped %" PRIu64 " > producer kills %" PRIu64,
				t->st.skipped, prod_kills);
	if (t->st.abandoned > cons_kills)
		coord_violation(s, ROLE_CONS,
				"abandoned %" PRIu64
				" > consumer kills %" PRIu64,
				t->st.abandoned, cons_kills);
	/* A skip is the item of a producer killed mid-push: in doubt, and
	 * never taken. */
	if (t->st.skipped > t->missing_uncertain)
		coord_violation(s, ROLE_PROD,
				"skipped %" PRIu64 " but only %" PRIu64
				" item(s) in doubt are missing",
				t->st.skipped, t->missing_uncertain);
	/* A confirmed item may be missing only as an abandoned one (taken
	 * by a consumer killed before it recorded the item). */
	if (t->missing_confirmed > t->st.abandoned)
		coord_violation(s, ROLE_CONS,
				"%" PRIu64 " confirmed item(s) never taken, "
				"abandoned only %" PRIu64,
				t->missing_confirmed, t->st.abandoned);
	/* Every skip and every abandoned item a killed consumer had not
	 * recorded is missing. */
	hi = t->st.skipped + t->st.abandoned;
	lo = hi > s->killed_recorded ? hi - s->killed_recorded : 0;
	if (missing < lo)
		coord_violation(s, ROLE_CONS,
				"%" PRIu64
				" item(s) missing, but skipped %" PRIu64
				" + abandoned %" PRIu64
				" - killed after recording %" PRIu64
				" say at least %" PRIu64,
				missing, t->st.skipped, t->st.abandoned,
				s->killed_recorded, lo);
	for (uint32_t k = 0; k < s->n_taken; k++) {
		uint64_t item = s->taken_items[k];
		uint32_t p = (uint32_t)(item >> 48);
		uint64_t seq = item & ((1ull << 48) - 1);

		if (p < s->b->count[ROLE_PROD] && seq < s->b->q_items &&
		    atomic_load_explicit(&q_count(s->b, p)[seq],
					 memory_order_relaxed))
			coord_violation(s, ROLE_CONS,
					"item %u/%" PRIu64
					" held by a killed consumer was "
					"taken again",
					p, seq);
	}
}

/*
 * Entries left in the registry directory: every file but ".lock", the
 * registry's own (docs/registry-format.md).
 */
static int registry_left(const char *dir, FILE *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".lock"))
			continue;
		if (out)
			fprintf(out, "shoal soak: left in the registry: %s\n",
				e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

#define FD_SLACK 2
#define RSS_SLACK_KIB 4096

/* Under a sanitizer, freed memory sits in a quarantine that grows with
 * every attach and detach: RSS says nothing about leaks there (the
 * sanitizer's own leak check does), so it is reported, not checked. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_CHECK_RSS 0
#else
#define SOAK_CHECK_RSS 1
#endif

static const char soak_help[] =
	"Runs publishers, subscribers, queue producers and consumers, rpc\n"
	"servers and clients, each its own process, and SIGKILLs and restarts\n"
	"random ones while every delivery is checked (docs/soak.md). Exit\n"
	"status 0 only if no check failed.\n"
	"\n"
	"options:\n"
	"  --duration S        seconds to run (default 30)\n"
	"  --kill-every MS     mean time between kills (default 200; 0: none)\n"
	"  --seed N            random seed (default: from the clock)\n"
	"  --publishers N      reliable publishers (default 2)\n"
	"  --lossy N           lossy publishers (default 1)\n"
	"  --subscribers N     subscribers, each of every publisher (default 2)\n"
	"  --producers N       queue producers (default 2)\n"
	"  --consumers N       queue consumers (default 2)\n"
	"  --servers N         rpc servers (default 1)\n"
	"  --clients N         rpc clients (default 2)\n"
	"  --rate N            messages/s per sending process (default 20000;\n"
	"                      0: as fast as possible)\n"
	"  --hang S            no progress for S seconds is a hang (default 60)\n"
	"  --dir DIR           registry directory, must be empty (default: a\n"
	"                      new one under /dev/shm, removed at the end)\n"
	"  --json              the summary as JSON\n"
	"  --verbose, -v       progress lines on stderr\n"
	"Counts are 1..8 (publishers, lossy: 0..8); instance 0 of subscribers,\n"
	"consumers and clients is never killed and is checked for fd and RSS\n"
	"growth.\n";

static int run_soak(const struct cli_cmd *cmd, int argc, char **argv)
{
	uint64_t duration = 30, kill_every = 200, seed = 0, rate = 20000;
	uint64_t hang = 60;
	uint64_t cnt[ROLE_N] = { 2, 1, 2, 2, 2, 1, 2 };
	const char *dir = NULL;
	int json = 0, verbose = 0, rc;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--duration", &duration, 1000000),
		CLI_OPT_U64("--kill-every", &kill_every, 100000000),
		CLI_OPT_U64("--seed", &seed, 0),
		CLI_OPT_U64("--publishers", &cnt[ROLE_PUB], INST_MAX),
		CLI_OPT_U64("--lossy", &cnt[ROLE_LPUB], INST_MAX),
		CLI_OPT_U64("--subscribers", &cnt[ROLE_SUB], INST_MAX),
		CLI_OPT_U64("--producers", &cnt[ROLE_PROD], INST_MAX),
		CLI_OPT_U64("--consumers", &cnt[ROLE_CONS], INST_MAX),
		CLI_OPT_U64("--servers", &cnt[ROLE_SRV], INST_MAX),
		CLI_OPT_U64("--clients", &cnt[ROLE_CLI], INST_MAX),
		CLI_OPT_U64("--rate", &rate, 100000000),
		CLI_OPT_U64("--hang", &hang, 3600),
		CLI_OPT_STRING("--dir", &dir),
		CLI_OPT_FLAG("--json", NULL, &json),
		CLI_OPT_FLAG("--verbose", "-v", &verbose),
		CLI_OPT_END,
	};
	static struct soak s;
	char tmpdir[] = "/dev/shm/shoal-soak-XXXXXX";
	struct shoal_queue_options qo;
	struct q_totals qt;
	int64_t t_start, t_end, warm_at, next_kill, now, fds[2], rss[2];
	int64_t next_note;
	uint64_t q_items, total_viol = 0;
	int own_dir = 0, left, sampled0;
	char qname[128];
	size_t bsize;

	rc = cli_parse(cmd, opts, argc, argv, NULL, 0);
	if (rc != CLI_CONTINUE)
		return rc;
	for (int r = 0; r < ROLE_N; r++)
		if ((!cnt[r] && r != ROLE_PUB && r != ROLE_LPUB))
			return cli_usage_error(cmd, "%s must be 1..%d",
					       opts[3 + r].name, INST_MAX);
	if (!cli_given(opts, "--seed"))
		seed = (uint64_t)cli_realtime_ns();
	if (!hang)
		return cli_usage_error(cmd, "--hang must be at least 1");
	memset(&s, 0, sizeof(s));
	memset(&qt, 0, sizeof(qt));
	s.cmd = cmd;
	s.rng = seed;
	s.hang_ns = (int64_t)hang * SEC;
	s.verbose = verbose;

	if (!dir) {
		if (!mkdtemp(tmpdir))
			return cli_fail_sys(cmd, -errno, "mkdtemp %s", tmpdir);
		dir = tmpdir;
		own_dir = 1;
	} else if (registry_left(dir, NULL) != 0) {
		return cli_usage_error(cmd, "--dir %s: not an empty directory",
				       dir);
	}
	setenv("SHOAL_DIR", dir, 1);

	/* Producers' board room: the run at the rate limit and a quarter, or
	 * 2^24 items when unlimited (they idle when it is used up). */
	q_items = rate ? rate * duration / 4 * 5 + 100000 : (1ull << 24);
	if (q_items > (1ull << 26))
		q_items = 1ull << 26;
	bsize = board_size(q_items);
	s.board_fd = memfd_create(BOARD_NAME, 0);
	if (s.board_fd < 0 || ftruncate(s.board_fd, (off_t)bsize) < 0) {
		rc = cli_fail_sys(cmd, -errno, "board memfd");
		goto out_dir;
	}
	s.b = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_SHARED, s.board_fd,
		   0);
	if (s.b == MAP_FAILED) {
		rc = cli_fail_sys(cmd, -errno, "mmap board");
		goto out_dir;
	}
	s.b->seed = seed;
	s.b->q_items = q_items;
	s.b->rate = rate;
	snprintf(s.b->prefix, sizeof(s.b->prefix), "soak%d", (int)getpid());
	for (int r = 0; r < ROLE_N; r++)
		s.b->count[r] = (uint32_t)cnt[r];
	atomic_store(&s.b->inst[ROLE_SUB][0].steady, 1);
	atomic_store(&s.b->inst[ROLE_CONS][0].steady, 1);
	atomic_store(&s.b->inst[ROLE_CLI][0].steady, 1);

	service_name(qname, sizeof(qname), s.b, "queue", 0);
	shoal_queue_options_init(&qo);
	qo.capacity = QUEUE_CAP;
	qo.max_message = QUEUE_MSG;
	qo.max_participants = QUEUE_LINES;
	qo.role = SHOAL_QUEUE_PRODUCER;
	rc = shoal_queue_create(qname, &qo, &s.queue);
	if (rc < 0) {
		rc = cli_fail(cmd, rc, "shoal_queue_create %s", qname);
		goto out_dir;
	}

	cli_catch_signals();
	t_start = cli_now_ns();
	t_end = t_start + (int64_t)duration * SEC;
	warm_at = t_start + (int64_t)duration * SEC / 10;
	if (warm_at - t_start < 3 * SEC)
		warm_at = t_start + 3 * SEC;
	if (warm_at > t_end)
		warm_at = t_end;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			if (spawn(&s, r, i) < 0) {
				rc = cli_fail_sys(cmd, -errno, "fork");
				goto out_children;
			}
	if (verbose)
		fprintf(stderr, "shoal soak: seed %" PRIu64 ", registry %s\n",
			seed, dir);

	sampled0 = 0;
	next_kill = t_start;
	next_note = t_start + 10 * SEC;
	fds[0] = fds[1] = rss[0] = rss[1] = -1;
	while ((now = cli_now_ns()) < t_end && !cli_stop) {
		if (!sampled0 && now >= warm_at) {
			sampled0 = take_samples(&s, 0, &fds[0], &rss[0]) == 0;
			if (!sampled0)
				break;
			if (verbose)
				fprintf(stderr,
					"shoal soak: warm-up samples taken\n");
			continue;
		}
		reap(&s, 1);
		watch_progress(&s);
		if (kill_every && now >= next_kill) {
			kill_one(&s);
			/* Uniform in [0, 2 x mean]: no libm for log(). */
			next_kill = now + (int64_t)(2.0 * rng_unit(&s.rng) *
						    (double)kill_every * MS);
		}
		if (verbose && now >= next_note) {
			fprintf(stderr,
				"shoal soak: %.0f s, %" PRIu64 " kills\n",
				(double)(now - t_start) / 1e9, s.kills_total);
			next_note += 10 * SEC;
		}
		sleep_ns(5 * MS);
	}

	/* The end: no more kills; samples; producers stop; the flush lap;
	 * everyone stops. */
	if (sampled0 && take_samples(&s, 1, &fds[1], &rss[1]) < 0)
		sampled0 = 0;
	s.done_mask = 1u << ROLE_PROD;
	atomic_store_explicit(&s.b->phase, STOP_PRODUCERS,
			      memory_order_release);
	wait_exit(&s, ROLE_PROD);
	queue_flush(&s, &qt);
	s.done_mask = (1u << ROLE_N) - 1;
	atomic_store_explicit(&s.b->phase, STOP, memory_order_release);
	wait_exit(&s, -1);
	queue_check(&s, &qt);

	/* Steady processes: flat fd count and RSS. */
	if (sampled0) {
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < cnt[r]; i++) {
				struct inst *in = &s.b->inst[r][i];
				int64_t ev_slack;

				if (!in->steady)
					continue;
				/* A queue participant keeps the eventfd of
				 * each line it woke (taken on first use):
				 * up to QUEUE_LINES more, not a leak. */
				ev_slack = FD_SLACK +
					   (r == ROLE_CONS ? QUEUE_LINES : 0);
				if (in->fds[1] - in->evfds[1] >
					    in->fds[0] - in->evfds[0] +
						    FD_SLACK ||
				    in->evfds[1] > in->evfds[0] + ev_slack)
					coord_violation(
						&s, r,
						"%s%u: fds %" PRId64
						" (%" PRId64
						" eventfds) after warm-up, "
						"%" PRId64 " (%" PRId64
						") at the end",
						role_names[r], i, in->fds[0],
						in->evfds[0], in->fds[1],
						in->evfds[1]);
				if (SOAK_CHECK_RSS &&
				    in->rss_kib[1] >
					    in->rss_kib[0] + RSS_SLACK_KIB)
					coord_violation(
						&s, r,
						"%s%u: VmRSS %" PRId64
						" KiB after warm-up, %" PRId64
						" KiB at the end",
						role_names[r], i,
						in->rss_kib[0], in->rss_kib[1]);
			}
		if (fds[1] > fds[0] + FD_SLACK ||
		    (SOAK_CHECK_RSS && rss[1] > rss[0] + RSS_SLACK_KIB))
			coord_violation(&s, -1,
					"coordinator: fds %" PRId64
					" -> %" PRId64 ", VmRSS %" PRId64
					" -> %" PRId64 " KiB",
					fds[0], fds[1], rss[0], rss[1]);
	} else if (!cli_stop && duration >= 3) {
		coord_violation(&s, -1, "fd/RSS samples were not taken");
	}

	shoal_queue_close(s.queue);
	s.queue = NULL;
	left = registry_left(dir, stderr);
	if (left != 0)
		coord_violation(&s, -1,
				"%d entr%s left in the registry directory %s",
				left, left == 1 ? "y" : "ies", dir);

	/* Summary. */
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			total_viol += atomic_load(&s.b->inst[r][i].violations);
	for (int r = 0; r < ROLE_N; r++)
		total_viol += s.cviol[r];
	total_viol += s.own_viol;
	if (json) {
		printf("{\"seed\": %" PRIu64 ", \"duration_s\": %" PRIu64
		       ", \"kill_every_ms\": %" PRIu64 ", \"rate\": %" PRIu64
		       ", \"kills\": %" PRIu64 ",\n \"roles\": {",
		       seed, duration, kill_every, rate, s.kills_total);
	} else {
		printf("shoal soak: %" PRIu64 " s, kill every %" PRIu64
		       " ms (mean), seed %" PRIu64 ", rate %" PRIu64
		       "/s per sender\n",
		       duration, kill_every, seed, rate);
		printf("%-5s %4s %12s %-9s %6s %8s %10s  %s\n", "role", "n",
		       "messages", "", "kills", "restarts", "violations",
		       "other");
	}
	for (int r = 0; r < ROLE_N; r++) {
		uint64_t msgs = 0, kills = 0, restarts = 0, viol = s.cviol[r];
		uint64_t x[X_N] = { 0 };

		for (uint32_t i = 0; i < cnt[r]; i++) {
			struct inst *in = &s.b->inst[r][i];

			msgs += atomic_load(&in->messages);
			viol += atomic_load(&in->violations);
			kills += s.ch[r][i].kills;
			restarts += s.ch[r][i].restarts;
			for (int k = 0; k < X_N; k++)
				x[k] += atomic_load(&in->x[k]);
		}
		if (json) {
			printf("%s\n  \"%s\": {\"n\": %" PRIu64
			       ", \"messages\": %" PRIu64
			       ", \"kills\": %" PRIu64
			       ", \"restarts\": %" PRIu64
			       ", \"violations\": %" PRIu64,
			       r ? "," : "", role_names[r], cnt[r], msgs, kills,
			       restarts, viol);
			for (int k = 0; k < X_N; k++)
				if (x[k])
					printf(", \"%s\": %" PRIu64, x_names[k],
					       x[k]);
			printf("}");
		} else {
			printf("%-5s %4" PRIu64 " %12" PRIu64 " %-9s %6" PRIu64
			       " %8" PRIu64 " %10" PRIu64 " ",
			       role_names[r], cnt[r], msgs, role_units[r],
			       kills, restarts, viol);
			for (int k = 0; k < X_N; k++)
				if (x[k])
					printf(" %s %" PRIu64, x_names[k],
					       x[k]);
			printf("\n");
		}
	}
	if (json) {
		printf("},\n \"queue\": {\"pushed\": %" PRIu64
		       ", \"in_doubt\": %" PRIu64 ", \"taken\": %" PRIu64
		       ", \"lost\": %" PRIu64 ", \"skipped\": %" PRIu64
		       ", \"abandoned\": %" PRIu64
		       ", \"killed_after_recording\": %" PRIu64 "},\n",
		       qt.pushed, qt.uncertain, qt.taken,
		       qt.missing_confirmed + qt.missing_uncertain,
		       qt.st.skipped, qt.st.abandoned, s.killed_recorded);
		printf(" \"samples\": [");
		for (int r = 0, first = 1; r < ROLE_N; r++)
			for (uint32_t i = 0; i < cnt[r]; i++) {
				struct inst *in = &s.b->inst[r][i];

				if (!in->steady)
					continue;
				printf("%s{\"who\": \"%s%u\", \"fds\": [%" PRId64
				       ", %" PRId64 "], \"eventfds\": [%" PRId64
				       ", %" PRId64 "], \"rss_kib\": [%" PRId64
				       ", %" PRId64 "]}",
				       first ? "" : ", ", role_names[r], i,
				       in->fds[0], in->fds[1], in->evfds[0],
				       in->evfds[1], in->rss_kib[0],
				       in->rss_kib[1]);
				first = 0;
			}
		printf(", {\"who\": \"soak\", \"fds\": [%" PRId64 ", %" PRId64
		       "], \"rss_kib\": [%" PRId64 ", %" PRId64 "]}],\n",
		       fds[0], fds[1], rss[0], rss[1]);
		printf(" \"registry_left\": %d, \"violations\": %" PRIu64 "}\n",
		       left, total_viol);
	} else {
		printf("queue: %" PRIu64 " pushed (%" PRIu64
		       " in doubt: producer killed mid-push), %" PRIu64
		       " taken, %" PRIu64 " lost = skipped %" PRIu64
		       " + abandoned %" PRIu64 " - %" PRIu64
		       " recorded before the kill\n",
		       qt.pushed, qt.uncertain, qt.taken,
		       qt.missing_confirmed + qt.missing_uncertain,
		       qt.st.skipped, qt.st.abandoned, s.killed_recorded);
		printf("fd/VmRSS (after warm-up -> end):");
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < cnt[r]; i++) {
				struct inst *in = &s.b->inst[r][i];

				if (in->steady)
					printf(" %s%u %" PRId64 "->%" PRId64
					       " fds %" PRId64 "->%" PRId64
					       " KiB;",
					       role_names[r], i, in->fds[0],
					       in->fds[1], in->rss_kib[0],
					       in->rss_kib[1]);
			}
		printf(" soak %" PRId64 "->%" PRId64 " fds %" PRId64
		       "->%" PRId64 " KiB\n",
		       fds[0], fds[1], rss[0], rss[1]);
		printf("registry: %d entries left; %s: %" PRIu64
		       " violation(s)\n",
		       left, total_viol ? "FAIL" : "ok", total_viol);
	}
	fflush(stdout);
	rc = total_viol || cli_stop ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	goto out_dir;

out_children:
	s.done_mask = (1u << ROLE_N) - 1;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			if (s.ch[r][i].pid) {
				s.ch[r][i].killed = 1;
				kill(s.ch[r][i].pid, SIGKILL);
			}
	wait_exit(&s, -1);
	shoal_queue_close(s.queue);
out_dir:
	if (own_dir)
		remove_dir(dir);
	return rc;
}

const struct cli_cmd cli_cmd_soak = {
	.name = "soak",
	.synopsis = "soak [options]",
	.summary = "kill and restart every role while checking deliveries",
	.help = soak_help,
	.run = run_soak,
};
