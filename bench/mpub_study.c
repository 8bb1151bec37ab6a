/* SPDX-License-Identifier: MIT */
/*
 * shoal-mpub-study: several publishers on one pub/sub service, two designs
 * measured side by side. A study for docs/pubsub.md ("Several publishers"),
 * not part of the library: it does not link shoal, it prototypes the two
 * rings on shared anonymous memory between forked processes.
 *
 *   taskset -c 0,1 shoal-mpub-study [--rounds N] [--msgs N] [--quick]
 *                                   [--faults-only]
 *
 * The designs:
 *
 * - SP: today's broadcast ring, one publisher (the baseline).
 * - A: one broadcast ring, a multi-producer sequencer in the LMAX
 *   Disruptor's way (4.x MultiProducerSequencer.next(): fetch-add on the
 *   claim cursor, then wait for room; the slot's stamp is the per-slot
 *   availability flag). Each publisher also keeps a line saying what it
 *   holds (CLAIMING before its fetch-add, WRITING s after it), which is what
 *   lets a subscriber prove that a slot that never fills belongs to a dead
 *   publisher and skip it (hole_check()).
 * - B: one broadcast ring per publisher (iceoryx2's way). A subscriber keeps
 *   a cursor per ring and takes round-robin over the rings, one message per
 *   turn; a publisher gates only on its own ring's cursors.
 *
 * The slots are shoal's: a 64-bit stamp ((seq + 1) << 1 once complete), the
 * length, a timestamp word and 64 bytes of payload, 128 bytes a slot, 1024
 * slots. Delivery is reliable (a publisher waits for the slowest
 * subscriber). Every send ends with the full fence and sleeper-bitmap load
 * of shoal's wake-up protocol, so the costs compare with shoal's own. Each
 * payload carries its publisher's index and that publisher's own sequence
 * number, and every subscriber checks that it sees each publisher's
 * messages in order with none missing ("order errors" must be 0).
 *
 * Figures, each over interleaved rounds, medians printed:
 *
 * 1. send: P publishers, no subscriber (so no gating): CPU ns per send of
 *    one publisher, publishers spread over the CPUs (publisher i on CPU
 *    i % 2): what the shared claim cursor costs A when publishers run on
 *    different cores.
 * 2. stream: P publishers on the first CPU, S subscribers on the second,
 *    each publisher sending --msgs messages as fast as it can: each
 *    subscriber's take rate (all publishers together) and each publisher's
 *    send rate.
 * 3. drain: the publishers fill 512 messages, then each subscriber takes
 *    them alone, timed: the subscriber's ns per take, with nobody writing
 *    meanwhile. With one publisher this is what B's roster and A's shared
 *    ring cost the subscriber against SP.
 * 4. stall and crash: publisher 0 of 2 stops itself between its claim and
 *    its publish (A) or between writing the payload and the stamp (B). For
 *    200 ms it stays stopped (asleep, not SIGSTOP); the subscriber's
 *    messages taken meanwhile are counted. Then it goes on (stall) or is
 *    killed with SIGKILL (crash),
 *    and we see whether and when the subscriber gets every message of the
 *    other publisher, with A's hole skipping off (the bare Disruptor) and
 *    on.
 *
 * Liveness is shoal's: each publisher holds an OFD write lock on byte i of
 * a memfd, which the kernel drops when its process dies (after the
 * process's memory is gone, so a dead publisher can never write again);
 * F_OFD_GETLK asks without taking it.
 *
 * It asserts nothing about time. It exits 1 only if a subscriber saw a
 * publisher's messages out of order or missing, or a run failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP 1024u
#define MASK (CAP - 1)
#define MAXP 4
#define MAXS 2
#define PAYLOAD 64
#define DRAIN_MSGS 512u
#define STALL_MS 200
#define CHECK_EVERY 4096 /* empty polls between liveness checks, as shoal */

/* A's publisher line states; WRITING carries the claimed sequence. */
#define ST_IDLE 0u
#define ST_CLAIMING 1u
#define ST_WRITING 2u

enum variant {
	V_SP,
	V_A,
	V_B,
	V_B16,
	NVARIANT
};
static const char *const vname[] = { "SP", "A", "B", "B16" };

/* B takes round-robin, one message per ring per turn; B16 stays on a ring
 * for up to 16 messages in a row before it moves on. */
#define IS_B(v) ((v) == V_B || (v) == V_B16)

enum scenario {
	SC_SEND,
	SC_STREAM,
	SC_DRAIN,
	SC_STALL,
	SC_CRASH
};

struct slot {
	_Atomic uint64_t stamp; /* (seq + 1) << 1 once complete */
	uint32_t len;
	uint32_t pad;
	int64_t ts;
	unsigned char payload[PAYLOAD];
	unsigned char tail[128 - 24 - PAYLOAD];
};
_Static_assert(sizeof(struct slot) == 128, "a slot is two lines");

struct ring {
	/* A: the claim cursor, fetch-added by every publisher. SP and B: the
	 * ring's head, stored by its one publisher (joiners would read it). */
	_Alignas(64) _Atomic uint64_t claim;
	_Alignas(64) struct slot slot[CAP];
};

struct pub_line {
	/* A only: ST_IDLE, ST_CLAIMING, or (s << 2) | ST_WRITING. Written by
	 * its publisher only, read by a subscriber stuck on a hole. */
	_Alignas(64) _Atomic uint64_t state;
	_Atomic uint32_t parked; /* the injected stop was reached */
	uint32_t pad;
	uint64_t parked_pseq;
};

struct cursor_line {
	/* Written by its subscriber (release, after reading the slot), read
	 * by the publishers that gate on it. */
	_Alignas(64) _Atomic uint64_t cursor;
};

struct sub_progress {
	_Alignas(64) _Atomic uint64_t taken;
	_Atomic int64_t hole_ns; /* when it skipped a dead publisher's hole */
};

struct pub_result {
	uint64_t sent;
	int64_t wall_ns, cpu_ns;
};

struct sub_result {
	uint64_t taken, errors, holes, dropped, per_pub[MAXP];
	uint64_t hole_seq;	   /* the last hole skipped */
	int64_t hole_at_ns;	   /* when, CLOCK_MONOTONIC */
	int64_t wall_ns, drain_ns; /* drain: median ns of DRAIN_MSGS takes */
};

struct shm {
	_Alignas(64) _Atomic uint32_t ready;
	_Atomic uint32_t go;
	_Atomic uint32_t abort_run;
	_Atomic uint32_t resume; /* stall: publisher 0 may go on */
	int64_t abort_ns;
	_Atomic uint64_t expected; /* a subscriber stops after this many */
	int64_t go_ns;
	_Alignas(64) _Atomic uint32_t phase; /* drain: odd fill, even take */
	_Atomic uint32_t filled, drained;
	_Alignas(64) _Atomic uint32_t sleepers;	  /* shoal's bitmap, always 0 */
	_Alignas(64) _Atomic uint32_t roster_gen; /* B: publishers joined */
	uint32_t roster_n;
	struct pub_line pub[MAXP];
	struct cursor_line cur[MAXP][MAXS]; /* [ring][subscriber] */
	struct sub_progress prog[MAXS];
	struct pub_result rp[MAXP];
	struct sub_result rs[MAXS];
	struct ring ring[MAXP];
};

struct cfg {
	enum variant v;
	enum scenario sc;
	int np, ns;
	uint64_t n;	  /* messages per publisher (stream, stall, crash) */
	int drain_iters;  /* drain */
	int hole_skip;	  /* A: skip a dead publisher's hole */
	uint64_t stop_at; /* stall/crash: publisher 0 stops at this pseq */
	int pubcpu[MAXP], subcpu[MAXS];
	int lock_fd; /* memfd whose byte i publisher i locks */
};

static struct shm *m;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Spin, and give the CPU away every 64 turns: the runs put several
 * processes on one CPU, and a spinner must let the one it waits for run. */
static inline void relax(unsigned *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		cpu_pause();
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* An open file description of our own on the lock memfd: OFD locks belong
 * to the description, and the one inherited from the parent is shared. */
static int own_lock_fd(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

static int lock_byte(int fd, int i, int cmd, short type)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = i, .l_len = 1
	};

	if (fcntl(fd, cmd, &fl) < 0)
		return -errno;
	return fl.l_type;
}

static int pub_alive(int fd, int i)
{
	return lock_byte(fd, i, F_OFD_GETLK, F_WRLCK) != F_UNLCK;
}

/* ------------------------------------------------------------ publish -- */

/* Reliable gating: message s reuses the slot of s - CAP, so it waits until
 * every subscriber's cursor on ring r is past that. The minimum is cached,
 * as the Disruptor and shoal do. Returns -1 when the run is aborted. */
static int gate(const struct cfg *c, int r, uint64_t s, uint64_t *cached_min)
{
	unsigned spins = 0;

	if (c->ns == 0 || s < *cached_min + CAP)
		return 0;
	for (;;) {
		uint64_t mn = UINT64_MAX;

		for (int j = 0; j < c->ns; j++) {
			/* Acquire: pairs with the subscriber's release store
			 * of its cursor, made after it read the slot. */
			uint64_t v = atomic_load_explicit(&m->cur[r][j].cursor,
							  memory_order_acquire);
			if (v < mn)
				mn = v;
		}
		*cached_min = mn;
		if (s < mn + CAP)
			return 0;
		if (atomic_load_explicit(&m->abort_run, memory_order_relaxed))
			return -1;
		relax(&spins);
	}
}

static void fill_slot(struct slot *sl, int p, uint64_t pseq)
{
	unsigned char msg[PAYLOAD];
	uint32_t p32 = (uint32_t)p;

	memset(msg, 0x5a, sizeof(msg));
	memcpy(msg, &p32, 4);
	memcpy(msg + 8, &pseq, 8);
	memcpy(sl->payload, msg, PAYLOAD); /* the copying send */
	sl->len = PAYLOAD;
}

/* shoal's wake-up half: a full fence, then the sleeper bitmap (Dekker with
 * a subscriber that sets its bit, fences and re-checks its slot). Nobody
 * sleeps in this study, so the word is always 0. */
static inline void wake_check(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&m->sleepers, memory_order_relaxed))
		abort();
}

/* Publisher 0 stops here, asleep, until the driver resumes or kills it.
 * (Not SIGSTOP: a stopped process in an orphaned process group is sent
 * SIGHUP by the kernel when another process exits, which killed it in
 * some runs of an earlier version.) */
static void stop_here(int p, uint64_t pseq)
{
	m->pub[p].parked_pseq = pseq;
	atomic_store_explicit(&m->pub[p].parked, 1, memory_order_release);
	while (!atomic_load_explicit(&m->resume, memory_order_acquire)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
}

/* A: claim by fetch-add, then wait for room, write, mark available. */
static int send_a(const struct cfg *c, int p, uint64_t pseq, uint64_t *cmin)
{
	struct ring *rg = &m->ring[0];
	struct pub_line *pl = &m->pub[p];
	uint64_t s;

	/* Published by the fetch-add's release half: a subscriber that
	 * acquires a claim value past s sees CLAIMING (or a later state). The
	 * fetch-add's release also orders our previous stamp before it. */
	atomic_store_explicit(&pl->state, ST_CLAIMING, memory_order_relaxed);
	s = atomic_fetch_add_explicit(&rg->claim, 1, memory_order_acq_rel);
	/* Release: a subscriber that acquires this sees our earlier stamps. */
	atomic_store_explicit(&pl->state, (s << 2) | ST_WRITING,
			      memory_order_release);
	if (c->stop_at && p == 0 && pseq == c->stop_at)
		stop_here(p, pseq); /* claimed, never published */
	if (gate(c, 0, s, cmin) < 0)
		return -1;
	fill_slot(&rg->slot[s & MASK], p, pseq);
	/* Release: pairs with the subscriber's acquire load of the stamp. */
	atomic_store_explicit(&rg->slot[s & MASK].stamp, (s + 1) << 1,
			      memory_order_release);
	wake_check();
	return 0;
}

/* SP and B: the ring's one publisher. */
static int send_b(const struct cfg *c, int p, uint64_t pseq, uint64_t *head,
		  uint64_t *cmin)
{
	int r = IS_B(c->v) ? p : 0;
	struct ring *rg = &m->ring[r];
	uint64_t s = *head;

	if (gate(c, r, s, cmin) < 0)
		return -1;
	fill_slot(&rg->slot[s & MASK], p, pseq);
	if (c->stop_at && p == 0 && pseq == c->stop_at)
		stop_here(p, pseq); /* written, never stamped */
	/* Release: pairs with the subscriber's acquire load of the stamp. */
	atomic_store_explicit(&rg->slot[s & MASK].stamp, (s + 1) << 1,
			      memory_order_release);
	atomic_store_explicit(&rg->claim, s + 1, memory_order_release);
	*head = s + 1;
	wake_check();
	return 0;
}

static void wait_flag(_Atomic uint32_t *f, uint32_t v)
{
	unsigned spins = 0;

	while (atomic_load_explicit(f, memory_order_acquire) < v)
		relax(&spins);
}

static void publisher(const struct cfg *c, int p)
{
	uint64_t head = 0, cmin = 0, pseq = 0;
	int fd = own_lock_fd(c->lock_fd);
	int64_t t0, c0;

	pin(c->pubcpu[p]);
	if (fd < 0 || lock_byte(fd, p, F_OFD_SETLK, F_WRLCK) < 0)
		_exit(2);
	atomic_fetch_add(&m->ready, 1);
	wait_flag(&m->go, 1);
	t0 = now_ns();
	c0 = cpu_ns();
	if (c->sc == SC_DRAIN) {
		uint64_t share = DRAIN_MSGS / (unsigned)c->np;

		for (int it = 0; it < c->drain_iters; it++) {
			wait_flag(&m->phase, 2 * (unsigned)it + 1);
			for (uint64_t k = 0; k < share; k++, pseq++)
				if ((c->v == V_A ? send_a(c, p, pseq, &cmin) :
						   send_b(c, p, pseq, &head,
							  &cmin)) < 0)
					_exit(3);
			atomic_fetch_add(&m->filled, 1);
		}
	} else {
		/* stall and crash: one message every 2 us from each, so the
		 * other publisher is still sending while publisher 0 stops */
		int64_t pace = c->sc == SC_STALL || c->sc == SC_CRASH ? 2000 :
									0;

		for (; pseq < c->n; pseq++) {
			unsigned spins = 0;

			while (pace && now_ns() < t0 + (int64_t)pseq * pace)
				relax(&spins);
			if ((c->v == V_A ?
				     send_a(c, p, pseq, &cmin) :
				     send_b(c, p, pseq, &head, &cmin)) < 0)
				break;
		}
	}
	m->rp[p].cpu_ns = cpu_ns() - c0;
	m->rp[p].wall_ns = now_ns() - t0;
	m->rp[p].sent = pseq;
	_exit(0);
}

/* ---------------------------------------------------------- subscribe -- */

struct sub_state {
	const struct cfg *c;
	int j, fd;
	uint64_t cur[MAXP]; /* SP and A use cur[0] */
	uint64_t expect[MAXP];
	int act[MAXP], nact, rr; /* B: rings taken from, round-robin */
	int run, burst;		 /* B: taken in a row from act[rr] */
	uint32_t gen;
	struct sub_result *res;
};

static void check_msg(struct sub_state *st, const struct slot *sl)
{
	unsigned char msg[PAYLOAD];
	uint32_t p;
	uint64_t pseq;

	memcpy(msg, sl->payload, PAYLOAD); /* the copying take */
	memcpy(&p, msg, 4);
	memcpy(&pseq, msg + 8, 8);
	if (p >= (uint32_t)st->c->np || pseq != st->expect[p] ||
	    sl->len != PAYLOAD) {
		st->res->errors++;
		if (p >= (uint32_t)st->c->np)
			return;
	}
	st->expect[p] = pseq + 1;
	st->res->per_pub[p]++;
	st->res->taken++;
}

/* Take one message from ring r if its next one is complete. */
static inline int take_ring(struct sub_state *st, int r)
{
	uint64_t s = st->cur[r];
	struct slot *sl = &m->ring[r].slot[s & MASK];

	/* Acquire: pairs with the publisher's release store of the stamp. */
	if (atomic_load_explicit(&sl->stamp, memory_order_acquire) !=
	    (s + 1) << 1)
		return 0;
	check_msg(st, sl);
	st->cur[r] = s + 1;
	/* Release: pairs with the gating publisher's acquire load; our read
	 * of the slot is done before the slot can be reused. */
	atomic_store_explicit(&m->cur[r][st->j].cursor, s + 1,
			      memory_order_release);
	return 1;
}

static void b_roster(struct sub_state *st)
{
	st->gen = atomic_load_explicit(&m->roster_gen, memory_order_acquire);
	st->nact = 0;
	for (uint32_t p = 0; p < m->roster_n; p++)
		st->act[st->nact++] = (int)p;
	st->rr = 0;
	st->run = 0;
}

static int take_one(struct sub_state *st)
{
	if (!IS_B(st->c->v))
		return take_ring(st, 0);
	/* B: a publisher joining bumps the roster generation; one load of a
	 * line nobody writes while the roster is still. */
	if (atomic_load_explicit(&m->roster_gen, memory_order_relaxed) !=
	    st->gen)
		b_roster(st);
	if (st->nact == 1)
		return take_ring(st, st->act[0]);
	for (int k = 0; k < st->nact; k++) {
		int i = st->rr + k;

		if (i >= st->nact)
			i -= st->nact;
		if (take_ring(st, st->act[i])) {
			/* Fairness: after `burst` in a row from one ring,
			 * or when it is empty, the next take starts at the
			 * next ring. */
			st->run = k == 0 ? st->run + 1 : 1;
			st->rr = i;
			if (st->run >= st->burst) {
				st->rr = i + 1 == st->nact ? 0 : i + 1;
				st->run = 0;
			}
			return 1;
		}
	}
	return 0;
}

/*
 * A: the slot at our cursor has stayed empty for CHECK_EVERY polls. Is it
 * a hole left by a publisher that died between its claim and its publish?
 *
 * Every claimed sequence number s is either stamped, or held by exactly
 * one publisher whose line says CLAIMING (between its store of CLAIMING and
 * its store of WRITING s) or WRITING s. We acquire the claim cursor: if it
 * is past s, s was claimed, and the fetch-add that claimed it released that
 * publisher's CLAIMING store to us. So if no live publisher says CLAIMING
 * or WRITING s, and the stamp (re-read after the lines) is still not there,
 * s is held by a dead one and will never be published: skip it. A live
 * publisher in CLAIMING may hold s: wait for it (it is a few instructions
 * from WRITING, unless descheduled). A publisher that joins later claims
 * past the cursor we read. A dead process cannot write again (its lock is
 * dropped after its memory is gone).
 *
 * Returns 1 if skipped. Every subscriber decides this for itself: the
 * payload is read-only to subscribers in shoal, so none can mark the hole
 * for the others.
 */
static int hole_check(struct sub_state *st)
{
	uint64_t s = st->cur[0];
	struct slot *sl = &m->ring[0].slot[s & MASK];
	int dead_holder = 0;

	if (atomic_load_explicit(&m->ring[0].claim, memory_order_acquire) <= s)
		return 0; /* not claimed yet: just empty */
	for (int p = 0; p < st->c->np; p++) {
		uint64_t v = atomic_load_explicit(&m->pub[p].state,
						  memory_order_acquire);
		int holds = v == ST_CLAIMING ||
			    ((v & 3) == ST_WRITING && (v >> 2) == s);

		if (!holds)
			continue;
		if (pub_alive(st->fd, p))
			return 0; /* a live publisher holds it (or may) */
		dead_holder = 1;
	}
	if (atomic_load_explicit(&sl->stamp, memory_order_acquire) ==
	    (s + 1) << 1)
		return 0; /* published meanwhile */
	if (!dead_holder)
		return 0; /* cannot happen by the argument above */
	st->cur[0] = s + 1;
	atomic_store_explicit(&m->cur[0][st->j].cursor, s + 1,
			      memory_order_release);
	st->res->holes++;
	st->res->hole_seq = s;
	st->res->hole_at_ns = now_ns();
	atomic_store_explicit(&m->prog[st->j].hole_ns, now_ns(),
			      memory_order_relaxed);
	return 1;
}

/* B: drop the rings of dead publishers once drained. Never needed for
 * progress: an empty ring only costs a poll. */
static void b_drop_dead(struct sub_state *st)
{
	for (int k = 0; k < st->nact; k++) {
		int r = st->act[k];
		struct slot *sl = &m->ring[r].slot[st->cur[r] & MASK];

		if (pub_alive(st->fd, r) ||
		    atomic_load_explicit(&sl->stamp, memory_order_acquire) ==
			    (st->cur[r] + 1) << 1)
			continue;
		st->act[k] = st->act[--st->nact];
		st->rr = 0;
		st->res->dropped++;
		k--;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void subscriber(const struct cfg *c, int j)
{
	struct sub_state st = { .c = c, .j = j, .res = &m->rs[j] };
	int progress = c->sc == SC_STALL || c->sc == SC_CRASH;

	pin(c->subcpu[j]);
	st.fd = own_lock_fd(c->lock_fd);
	if (st.fd < 0)
		_exit(2);
	b_roster(&st);
	st.burst = c->v == V_B16 ? 16 : 1;
	atomic_fetch_add(&m->ready, 1);
	wait_flag(&m->go, 1);
	if (c->sc == SC_DRAIN) {
		int64_t *t = calloc((size_t)c->drain_iters, sizeof(*t));

		for (int it = 0; it < c->drain_iters; it++) {
			unsigned spins = 0;
			int64_t t0;

			wait_flag(&m->phase, 2 * (unsigned)it + 2);
			t0 = now_ns();
			for (unsigned k = 0; k < DRAIN_MSGS;)
				if (take_one(&st))
					k++;
				else
					relax(&spins); /* not expected */
			t[it] = now_ns() - t0;
			atomic_fetch_add(&m->drained, 1);
		}
		qsort(t, (size_t)c->drain_iters, sizeof(*t), cmp_i64);
		st.res->drain_ns = t[c->drain_iters / 2];
		_exit(0);
	}
	for (;;) {
		unsigned spins = 0;
		uint64_t empty = 0;
		int got = 1;

		while (!take_one(&st)) {
			if (++empty % CHECK_EVERY == 0) {
				if (c->v == V_A && c->hole_skip &&
				    hole_check(&st)) {
					got = 0; /* skipped, took nothing */
					break;
				}
				if (IS_B(c->v))
					b_drop_dead(&st);
				if (st.res->taken >=
					    atomic_load(&m->expected) ||
				    atomic_load(&m->abort_run))
					goto out;
			}
			relax(&spins);
		}
		if (!got)
			continue;
		if (progress)
			atomic_store_explicit(&m->prog[j].taken, st.res->taken,
					      memory_order_relaxed);
		if (st.res->taken >=
		    atomic_load_explicit(&m->expected, memory_order_relaxed))
			break;
	}
out:
	st.res->wall_ns = now_ns() - m->go_ns;
	_exit(0);
}

/* -------------------------------------------------------------- driver -- */

struct outcome {
	int ok;		   /* every child exited as expected */
	int complete;	   /* every subscriber got every message expected */
	uint64_t errors;   /* order errors over all subscribers */
	uint64_t during;   /* stall/crash: taken by sub 0 while stopped */
	uint64_t remain;   /* stall/crash: pub 1's messages left at the stop */
	int64_t resume_ns; /* crash: kill -> sub 0 skips the hole (A) */
	uint64_t holes, dropped;
	int bad_status, bad_k; /* the first unexpected wait status */
};

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000,
			       .tv_nsec = ns % 1000000000 };

	nanosleep(&ts, NULL);
}

static int wait_count(_Atomic uint32_t *f, uint32_t v, int64_t deadline)
{
	while (atomic_load(f) < v) {
		if (now_ns() > deadline)
			return -1;
		sleep_ns(20000);
	}
	return 0;
}

static void run(const struct cfg *c, struct outcome *o)
{
	pid_t pid[MAXP + MAXS];
	int nproc = 0;
	int64_t deadline = now_ns() + 60 * 1000000000LL, kill_ns = 0;

	memset(o, 0, sizeof(*o));
	memset(m, 0, offsetof(struct shm, ring));
	for (int r = 0; r < (IS_B(c->v) ? c->np : 1); r++)
		memset(&m->ring[r], 0, sizeof(m->ring[r]));
	m->roster_n = IS_B(c->v) ? (uint32_t)c->np : 1;
	atomic_store(&m->roster_gen, 1);
	atomic_store(&m->expected, (uint64_t)c->np * c->n);
	for (int j = 0; j < c->ns; j++) {
		pid[nproc] = fork();
		if (pid[nproc] == 0)
			subscriber(c, j);
		nproc++;
	}
	for (int p = 0; p < c->np; p++) {
		pid[nproc] = fork();
		if (pid[nproc] == 0)
			publisher(c, p);
		nproc++;
	}
	o->ok = 1;
	if (wait_count(&m->ready, (uint32_t)nproc, deadline) < 0)
		goto fail;
	m->go_ns = now_ns();
	atomic_store_explicit(&m->go, 1, memory_order_release);
	if (c->sc == SC_DRAIN) {
		for (int it = 0; it < c->drain_iters; it++) {
			atomic_store(&m->phase, 2 * (unsigned)it + 1);
			if (wait_count(&m->filled, (uint32_t)(c->np * (it + 1)),
				       deadline) < 0)
				goto fail;
			atomic_store(&m->phase, 2 * (unsigned)it + 2);
			if (wait_count(&m->drained,
				       (uint32_t)(c->ns * (it + 1)),
				       deadline) < 0)
				goto fail;
		}
	} else if (c->sc == SC_STALL || c->sc == SC_CRASH) {
		pid_t p0 = pid[c->ns]; /* publisher 0 */
		uint64_t t0;

		if (wait_count(&m->pub[0].parked, 1, deadline) < 0)
			goto fail;
		sleep_ns(20 * 1000000LL); /* let sub 0 reach the hole */
		t0 = atomic_load(&m->prog[0].taken);
		o->remain = c->n - m->rs[0].per_pub[1];
		sleep_ns(STALL_MS * 1000000LL);
		o->during = atomic_load(&m->prog[0].taken) - t0;
		if (c->sc == SC_STALL) {
			atomic_store(&m->resume, 1);
		} else {
			atomic_store(&m->expected,
				     (uint64_t)(c->np - 1) * c->n + c->stop_at);
			kill_ns = now_ns();
			kill(p0, SIGKILL);
		}
	}
	for (int k = 0; k < nproc; k++) {
		uint64_t seen = atomic_load(&m->prog[0].taken);
		int64_t since = now_ns();
		int status;

		while (waitpid(pid[k], &status, WNOHANG) == 0) {
			uint64_t t = atomic_load(&m->prog[0].taken);
			int64_t now = now_ns();

			if (t != seen) {
				seen = t;
				since = now;
			}
			/* Wedged: after the stop, subscriber 0 took nothing for
			 * a second while messages are owed. (A slow machine is
			 * not a wedge: any progress restarts the second.) */
			if (now > deadline ||
			    (kill_ns >= 0 &&
			     (c->sc == SC_STALL || c->sc == SC_CRASH) &&
			     now - since > 1000000000LL)) {
				m->abort_ns = now_ns();
				atomic_store(&m->abort_run, 1);
				o->complete = -1; /* wedged */
				waitpid(pid[k], &status, 0);
				break;
			}
			sleep_ns(100000);
		}
		if (c->sc == SC_CRASH && pid[k] == pid[c->ns])
			continue; /* killed */
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (o->ok) {
				o->bad_status = status;
				o->bad_k = k;
			}
			o->ok = 0;
		}
	}
	o->complete = o->complete == 0 ? 1 : 0;
	for (int j = 0; j < c->ns; j++) {
		if (m->rs[j].taken < atomic_load(&m->expected))
			o->complete = 0;
		o->errors += m->rs[j].errors;
		o->holes += m->rs[j].holes;
		o->dropped += m->rs[j].dropped;
	}
	if (kill_ns && m->prog[0].hole_ns)
		o->resume_ns = m->prog[0].hole_ns - kill_ns;
	return;
fail:
	atomic_store(&m->abort_run, 1);
	for (int k = 0; k < nproc; k++) {
		kill(pid[k], SIGKILL);
		waitpid(pid[k], NULL, 0);
	}
	o->ok = 0;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts a copy: the callers' arrays keep their rounds paired. */
static double median(const double *in, int n)
{
	double v[64];

	memcpy(v, in, (size_t)n * sizeof(*v));
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median over rounds of the per-round ratio num/den: what a busy
 * machine disturbs least, since both sides of a round share its load. */
static double median_ratio(const double *num, const double *den, int n)
{
	double q[64];

	for (int i = 0; i < n; i++)
		q[i] = num[i] / den[i];
	return median(q, n);
}

#define MAXR 51
static const int pub_counts[] = { 1, 2, 4 };
#define NPC 3

/* [P index][S - 1][variant][round] */
static double send_ns[NPC][NVARIANT][MAXR];
static double take_rate[NPC][MAXS][NVARIANT][MAXR];
static double pub_rate[NPC][MAXS][NVARIANT][MAXR];
static double drain_ns[NPC][MAXS][NVARIANT][MAXR];

static int failures;

static void note(const struct cfg *c, const struct outcome *o, const char *what)
{
	if (o->ok && o->errors == 0 && o->complete == 1)
		return;
	failures++;
	fprintf(stderr,
		"FAILED %s %s P=%d S=%d: ok=%d complete=%d order errors=%llu\n",
		what, vname[c->v], c->np, c->ns, o->ok, o->complete,
		(unsigned long long)o->errors);
}

static void cell(double v)
{
	if (v != v)
		printf(" %8s", "-");
	else
		printf(" %8.1f", v);
}

int main(int argc, char **argv)
{
	int faults_only = 0;
	int rounds = 5, cpus[2] = { -1, -1 }, ncpu = 0, drain_iters = 300;
	uint64_t msgs = 200000;
	struct cfg c = { 0 };
	struct outcome o;
	cpu_set_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--msgs") && i + 1 < argc) {
			msgs = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--faults-only")) {
			faults_only = 1;
		} else if (!strcmp(argv[i], "--quick")) {
			rounds = 1;
			msgs = 20000;
			drain_iters = 20;
		} else {
			fprintf(stderr,
				"usage: %s [--rounds N] [--msgs N] "
				"[--quick] [--faults-only]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXR || msgs < 2000) {
		fprintf(stderr, "rounds 1..%d, msgs >= 2000\n", MAXR);
		return 2;
	}
	sched_getaffinity(0, sizeof(set), &set);
	for (int i = 0; i < CPU_SETSIZE && ncpu < 2; i++)
		if (CPU_ISSET(i, &set))
			cpus[ncpu++] = i;
	if (ncpu < 2)
		cpus[1] = cpus[0];
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	c.lock_fd = memfd_create("mpub-study-locks", MFD_CLOEXEC);
	if (m == MAP_FAILED || c.lock_fd < 0 || ftruncate(c.lock_fd, 64) < 0) {
		perror("setup");
		return 2;
	}
	printf("shoal-mpub-study: %d rounds, %llu messages per publisher, "
	       "64 B payload, %u slots of 128 B, CPUs %d and %d\n",
	       rounds, (unsigned long long)msgs, CAP, cpus[0], cpus[1]);

	for (int r = 0; r < rounds && !faults_only; r++) {
		for (int pi = 0; pi < NPC; pi++) {
			int np = pub_counts[pi];

			for (int v = 0; v < NVARIANT; v++) {
				if (v == V_SP && np > 1)
					continue;
				c.v = v;
				if (v == V_B16)
					goto subscribed; /* sends as B */
				/* send: no subscriber, publishers spread */
				c.np = np;
				c.ns = 0;
				c.n = msgs * 4;
				c.sc = SC_SEND;
				c.stop_at = 0;
				for (int p = 0; p < np; p++)
					c.pubcpu[p] = cpus[p % 2];
				run(&c, &o);
				o.complete = 1;
				note(&c, &o, "send");
				{
					double v2[MAXP];

					for (int p = 0; p < np; p++)
						v2[p] = (double)m->rp[p].cpu_ns /
							(double)m->rp[p].sent;
					send_ns[pi][v][r] = median(v2, np);
				}
subscribed:
				for (int ns = 1; ns <= MAXS; ns++) {
					double tr = 0, pr = 0;

					c.ns = ns;
					c.n = msgs;
					c.sc = SC_STREAM;
					for (int p = 0; p < np; p++)
						c.pubcpu[p] = cpus[0];
					for (int j = 0; j < ns; j++)
						c.subcpu[j] = cpus[1];
					run(&c, &o);
					note(&c, &o, "stream");
					for (int j = 0; j < ns; j++)
						tr += (double)m->rs[j].taken *
						      1e3 /
						      (double)m->rs[j].wall_ns;
					for (int p = 0; p < np; p++)
						pr += (double)m->rp[p].sent *
						      1e3 /
						      (double)m->rp[p].wall_ns;
					take_rate[pi][ns - 1][v][r] = tr / ns;
					pub_rate[pi][ns - 1][v][r] = pr / np;

					c.sc = SC_DRAIN;
					c.drain_iters = drain_iters;
					c.n = 0;
					run(&c, &o);
					o.complete = 1;
					note(&c, &o, "drain");
					tr = 0;
					for (int j = 0; j < ns; j++)
						tr += (double)m->rs[j].drain_ns /
						      DRAIN_MSGS;
					drain_ns[pi][ns - 1][v][r] = tr / ns;
				}
			}
		}
	}

	if (faults_only)
		goto faults;
	printf("\n1. send: CPU ns per send of one publisher, no subscriber, "
	       "publisher i on CPU i%%2\n   (median over publishers, then "
	       "over rounds)\n");
	printf("   %-4s %8s %8s %8s %8s\n", "P", "SP", "A", "B", "A/B");
	for (int pi = 0; pi < NPC; pi++) {
		double med[NVARIANT];

		for (int v = 0; v < V_B16; v++)
			med[v] = v == V_SP && pi ?
					 0.0 / 0.0 :
					 median(send_ns[pi][v], rounds);
		printf("   %-4d", pub_counts[pi]);
		for (int v = 0; v < V_B16; v++)
			cell(med[v]);
		printf(" %8.2f\n", median_ratio(send_ns[pi][V_A],
						send_ns[pi][V_B], rounds));
	}

	printf("\n2. stream: publishers on CPU %d, subscribers on CPU %d; "
	       "Mmsg/s, medians over rounds\n",
	       cpus[0], cpus[1]);
	printf("   %-4s %-3s | %-35s %6s | %-35s\n", "P", "S",
	       "take rate per subscriber", "B/A", "send rate per publisher");
	printf("   %-4s %-3s | %8s %8s %8s %8s %6s | %8s %8s %8s %8s\n", "", "",
	       "SP", "A", "B", "B16", "", "SP", "A", "B", "B16");
	for (int pi = 0; pi < NPC; pi++)
		for (int s = 0; s < MAXS; s++) {
			double t[NVARIANT], p[NVARIANT];

			for (int v = 0; v < NVARIANT; v++) {
				int none = v == V_SP && pi;

				t[v] = none ? 0.0 / 0.0 :
					      median(take_rate[pi][s][v],
						     rounds);
				p[v] = none ? 0.0 / 0.0 :
					      median(pub_rate[pi][s][v],
						     rounds);
			}
			printf("   %-4d %-3d |", pub_counts[pi], s + 1);
			for (int v = 0; v < NVARIANT; v++)
				cell(t[v]);
			printf(" %6.2f |",
			       median_ratio(take_rate[pi][s][V_B],
					    take_rate[pi][s][V_A], rounds));
			for (int v = 0; v < NVARIANT; v++)
				cell(p[v]);
			printf("\n");
		}

	printf("   P=1, take rate A/SP: S=1 %.3f, S=2 %.3f; B/SP: S=1 %.3f, "
	       "S=2 %.3f (median of round ratios)\n",
	       median_ratio(take_rate[0][0][V_A], take_rate[0][0][V_SP],
			    rounds),
	       median_ratio(take_rate[0][1][V_A], take_rate[0][1][V_SP],
			    rounds),
	       median_ratio(take_rate[0][0][V_B], take_rate[0][0][V_SP],
			    rounds),
	       median_ratio(take_rate[0][1][V_B], take_rate[0][1][V_SP],
			    rounds));

	printf("\n3. drain: subscriber ns per take of %u ready messages, "
	       "nobody writing (median of %d fills, then of rounds)\n",
	       DRAIN_MSGS, drain_iters);
	printf("   %-4s %-3s %8s %8s %8s %8s %8s %8s\n", "P", "S", "SP", "A",
	       "B", "B16", "A/SP", "B/SP");
	for (int pi = 0; pi < NPC; pi++)
		for (int s = 0; s < MAXS; s++) {
			double d[NVARIANT];

			for (int v = 0; v < NVARIANT; v++)
				d[v] = v == V_SP && pi ?
					       0.0 / 0.0 :
					       median(drain_ns[pi][s][v],
						      rounds);
			printf("   %-4d %-3d", pub_counts[pi], s + 1);
			for (int v = 0; v < NVARIANT; v++)
				cell(d[v]);
			if (pi == 0)
				printf(" %8.3f %8.3f",
				       median_ratio(drain_ns[pi][s][V_A],
						    drain_ns[pi][s][V_SP],
						    rounds),
				       median_ratio(drain_ns[pi][s][V_B],
						    drain_ns[pi][s][V_SP],
						    rounds));
			if (pi > 0)
				printf("   B/A %.2f, B16/A %.2f",
				       median_ratio(drain_ns[pi][s][V_B],
						    drain_ns[pi][s][V_A],
						    rounds),
				       median_ratio(drain_ns[pi][s][V_B16],
						    drain_ns[pi][s][V_A],
						    rounds));
			printf("\n");
		}

faults:
	printf("\n4. publisher 0 of 2 stops mid-send for %d ms, then "
	       "goes on (stall) or is SIGKILLed (crash);\n   1 subscriber, "
	       "%d runs each\n",
	       STALL_MS, rounds);
	printf("   %-7s %-6s %-9s | %-22s | %-8s %-8s %-6s %-6s %s\n", "design",
	       "case", "skip", "taken while stopped", "complete", "wedged",
	       "holes", "errors", "kill->skip us (median)");
	for (int sc = SC_STALL; sc <= SC_CRASH; sc++)
		for (int k = 0; k < 3; k++) {
			int v = k == 2 ? V_B : V_A, skip = k == 1;
			double during[MAXR], resume[MAXR];
			int complete = 0, wedged = 0, nres = 0;
			uint64_t holes = 0, errors = 0, remain = 0;

			c.v = v;
			c.np = 2;
			c.ns = 1;
			c.n = msgs;
			c.sc = sc;
			c.hole_skip = skip;
			c.stop_at = 1000;
			c.pubcpu[0] = c.pubcpu[1] = cpus[0];
			c.subcpu[0] = cpus[1];
			for (int r = 0; r < rounds; r++) {
				run(&c, &o);
				if (!o.ok || o.errors)
					note(&c, &o,
					     sc == SC_STALL ? "stall" :
							      "crash");
				/* Anything but the bare Disruptor's wedge after
				 * a crash is unexpected: say what was seen. */
				if (!o.ok || o.errors ||
				    (o.complete != 1 &&
				     !(sc == SC_CRASH && v == V_A && !skip)))
					fprintf(stderr,
						"  %s %s skip=%d: ok=%d "
						"complete=%d taken=%llu/%llu "
						"pub0 %llu pub1 %llu holes %llu "
						"cursor %llu claim %llu; "
						"last hole %llu at %+lld us "
						"from abort; pub states "
						"%llx %llx sent %llu %llu; "
						"child %d status %#x\n",
						vname[v],
						sc == SC_STALL ? "stall" :
								 "crash",
						skip, o.ok, o.complete,
						(unsigned long long)m->rs[0]
							.taken,
						(unsigned long long)m->expected,
						(unsigned long long)m->rs[0]
							.per_pub[0],
						(unsigned long long)m->rs[0]
							.per_pub[1],
						(unsigned long long)o.holes,
						(unsigned long long)m->cur[0][0]
							.cursor,
						(unsigned long long)m->ring[0]
							.claim,
						(unsigned long long)m->rs[0]
							.hole_seq,
						(long long)(m->rs[0].hole_at_ns -
							    m->abort_ns) /
							1000,
						(unsigned long long)m->pub[0]
							.state,
						(unsigned long long)m->pub[1]
							.state,
						(unsigned long long)m->rp[0]
							.sent,
						(unsigned long long)m->rp[1]
							.sent,
						o.bad_k, o.bad_status);
				during[r] = (double)o.during;
				remain += o.remain;
				complete += o.complete == 1;
				wedged += o.complete == -1 ||
					  (o.complete == 0 && o.ok);
				holes += o.holes;
				errors += o.errors;
				if (o.resume_ns)
					resume[nres++] = o.resume_ns / 1e3;
			}
			printf("   %-7s %-6s %-9s | %8.0f of %-9llu | %3d/%-4d "
			       "%3d/%-4d %-6llu %-6llu ",
			       vname[v], sc == SC_STALL ? "stall" : "crash",
			       v == V_B ? "-" :
			       skip	? "on" :
					  "off",
			       median(during, rounds),
			       (unsigned long long)(remain / (uint64_t)rounds),
			       complete, rounds, wedged, rounds,
			       (unsigned long long)holes,
			       (unsigned long long)errors);
			if (nres)
				printf("%.0f\n", median(resume, nres));
			else
				printf("-\n");
		}
	c.hole_skip = 0;
	if (failures)
		fprintf(stderr, "%d runs failed\n", failures);
	return failures ? 1 : 0;
}
