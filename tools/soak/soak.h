/* SPDX-License-Identifier: MIT */
/*
 * What the files of shoal soak share (tools/soak/): the small helpers both
 * sides use (random numbers, sleeping, message fill patterns, service
 * names), a role process's context and the calls its loops make (role.c),
 * the role families' entry points (pubsub.c, queue.c, rpc.c), and the
 * coordinator's state and steps (supervisor.c, queue.c's end-of-run
 * accounting, report.c), which cmd.c puts together. The board's layout is
 * board.h.
 */
#ifndef SHOAL_TOOLS_SOAK_SOAK_H
#define SHOAL_TOOLS_SOAK_SOAK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli.h"
#include "board.h"

/* --- helpers shared by both sides */

static inline uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / SEC, ns % SEC };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The byte at @i of a message whose identity is @key. */
static inline uint8_t fill_byte(uint64_t key, uint32_t i)
{
	uint64_t z = key * 0x9e3779b97f4a7c15ull + i * 0x2545f4914f6cdd1dull;

	return (uint8_t)(z >> 56);
}

static inline void fill(uint8_t *p, uint32_t from, uint32_t len, uint64_t key)
{
	for (uint32_t i = from; i < len; i++)
		p[i] = fill_byte(key, i);
}

static inline int filled(const uint8_t *p, uint32_t from, uint32_t len,
			 uint64_t key)
{
	for (uint32_t i = from; i < len; i++)
		if (p[i] != fill_byte(key, i))
			return 0;
	return 1;
}

/* The name of service @kind<@i> of this run ("PREFIX/pub1"). */
static inline void service_name(char *buf, size_t cap, const struct board *b,
				const char *kind, uint32_t i)
{
	snprintf(buf, cap, "%s/%s%u", b->prefix, kind, i);
}

/*
 * The fd count, eventfd count and VmRSS of this process, less the pages of
 * the board it maps (board.c).
 */
void soak_sample_self(int64_t *fds, int64_t *evfds, int64_t *rss_kib);

/* --- role processes (role.c) */

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

static inline void beat(struct role_ctx *c)
{
	atomic_fetch_add_explicit(&c->me->heartbeat, 1, memory_order_relaxed);
}

static inline void count_msg(struct role_ctx *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->me->messages, n, memory_order_relaxed);
}

static inline void xcount(struct role_ctx *c, int which, uint64_t n)
{
	atomic_fetch_add_explicit(&c->me->x[which], n, memory_order_relaxed);
}

/* A check failed: counted on the board and said on stderr. */
void soak_violation(struct role_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The coordinator told this role to stop. */
int soak_stopping(struct role_ctx *c);
/* Steady instances answer sample requests when all their handles are up. */
void soak_maybe_sample(struct role_ctx *c);
/* Now and then sleeps inside a window where a kill costs something. */
void soak_maybe_hold(struct role_ctx *c);
/* Waits until the rate limit allows another message. */
void soak_throttle(struct role_ctx *c);

/* An unexpected error @err of the loop's call @what: a violation, then a
 * pause of 10 ms, so that an error that repeats is not a tight loop. */
void soak_failed(struct role_ctx *c, const char *what, int err);

/* How soak_retry() treats a failed create or open. */
enum {
	SOAK_CREATE = 1,	  /* an owner's create: no error is expected */
	SOAK_BUSY_EXPECTED = 2,	  /* -EBUSY: lines of killed peers */
	SOAK_ABSENT_EXPECTED = 4, /* -ENOENT: the owner is being restarted */
};

int soak_retry(struct role_ctx *c, int err, const char *what, const char *name,
	       unsigned how);

/* The role families: each runs until told to stop; exit status 0. */
int soak_run_pub(struct role_ctx *c);
int soak_run_sub(struct role_ctx *c);
int soak_run_prod(struct role_ctx *c);
int soak_run_cons(struct role_ctx *c);
int soak_run_srv(struct role_ctx *c);
int soak_run_cli(struct role_ctx *c, int64_t hang_ns);

/* The message layout's header and fill (msg_head), of length @len. */
static inline void msg_build(uint8_t *buf, uint32_t from, uint64_t epoch,
			     uint64_t seq, uint64_t aux, uint32_t len)
{
	struct msg_head h;

	memset(&h, 0, sizeof(h));
	h.magic = MSG_MAGIC;
	h.from = from;
	h.epoch = epoch;
	h.seq = seq;
	h.aux = aux;
	h.len = len;
	memcpy(buf, &h, sizeof(h));
	fill(buf, sizeof(h), len, epoch ^ seq);
}

/* A random message length: a header and up to @max bytes in all. */
static inline uint32_t msg_len(struct role_ctx *c, uint32_t max)
{
	return (uint32_t)sizeof(struct msg_head) +
	       (uint32_t)(rng_next(&c->rng) %
			  (max - sizeof(struct msg_head) + 1));
}

/* --- the coordinator (supervisor.c, queue.c, report.c) */

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
	/* The options the summary repeats. */
	uint64_t seed, duration, kill_every, rate;
};

/* Queue totals after the end. */
struct q_totals {
	uint64_t pushed, confirmed, uncertain, taken, missing_confirmed,
		missing_uncertain, dup, phantom;
	struct shoal_queue_stats st;
	uint64_t fillers;
};

void soak_coord_violation(struct soak *s, int role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int soak_spawn(struct soak *s, int role, uint32_t i);
void soak_reap(struct soak *s, int restart);
void soak_watch_progress(struct soak *s);
void soak_kill_one(struct soak *s);
int soak_take_samples(struct soak *s, int which, int64_t *fds, int64_t *rss);
void soak_wait_exit(struct soak *s, int role_only);
int soak_registry_left(const char *dir, FILE *out);
void soak_remove_dir(const char *dir);

void soak_consumer_died(struct soak *s, uint32_t i);
void soak_queue_flush(struct soak *s, struct q_totals *t);
void soak_queue_check(struct soak *s, struct q_totals *t);

void soak_check_steady(struct soak *s, const int64_t fds[2],
		       const int64_t rss[2]);
uint64_t soak_report(const struct soak *s, const struct q_totals *qt,
		     const int64_t fds[2], const int64_t rss[2], int left,
		     int json);

#endif
