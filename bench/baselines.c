/* SPDX-License-Identifier: MIT */
/*
 * The baselines shoal is measured against: the smallest honest
 * implementation of each mechanism, with no features, no checks beyond the
 * sequence number every figure verifies, and no shoal code.
 *
 * - bare-line: two counters on one 64-byte line of MAP_SHARED memory; each
 *   side spins until the other's counter moves. One cache line crossing
 *   between two cores and back is the floor for any shared-memory round
 *   trip. The 1 KiB variant copies the message into a shared buffer before
 *   flipping the counter and out of it after seeing it flip.
 * - bare-ring: a Lamport single-producer single-consumer ring: head and tail
 *   on separate lines, fixed slots of exactly the message size and no length
 *   field, producer caching tail and consumer caching head. Round trips use
 *   one ring per direction; throughput publishes one message per store of
 *   head, or (batched) one store of head/tail per batch.
 * - bare-seq: shoal's own ring algorithm (a sequence number in every slot,
 *   which the consumer polls) in the same code as bare-ring, inlined and
 *   unchecked: the distance from it to shoal is the cost of the API.
 * - eventfd: each side blocks in read() of its own eventfd and write()s the
 *   other's; the 1 KiB variant carries the payload in a shared buffer.
 * - pipe, unix (SOCK_STREAM socketpair), mq (POSIX message queue): the
 *   message goes through the kernel, both ways.
 *
 * Every message carries its sequence number in its first 8 bytes and the
 * receiver checks it, so a figure that loses or reorders messages fails
 * instead of producing a number.
 */
#include "figures.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* bare-line */

struct line_shm {
	/*
	 * ping is written by the parent only, pong by the child only. They
	 * share a line on purpose: the figure is the cost of one line moving
	 * from core to core and back, the hardware limit.
	 */
	_Alignas(BENCH_LINE) _Atomic uint64_t ping;
	_Atomic uint64_t pong;
	uint8_t pad[BENCH_LINE - 2 * sizeof(uint64_t)];
	/*
	 * Then two buffers of the message size: [0] parent to child, [1]
	 * child to parent; written before the counter flips.
	 */
};

struct line_arg {
	struct line_shm *shm;
	size_t shm_size;
	unsigned char *buf[2];
	uint32_t size;
	uint64_t total; /* round trips, warm-up and bulk included */
	struct bench_samples lat;
	/* The parent's own: */
	struct bench_side *side;
	unsigned char *msg;
};

static inline int line_round_trip(void *ctx, uint64_t i)
{
	struct line_arg *a = ctx;
	struct line_shm *m = a->shm;
	uint64_t seq;

	if (a->size > sizeof(uint64_t)) {
		memcpy(a->msg, &i, sizeof(i));
		memcpy(a->buf[0], a->msg, a->size);
	}
	/*
	 * Release: the copy into buf[0]; pairs with the child's acquire of
	 * ping.
	 */
	atomic_store_explicit(&m->ping, i, memory_order_release);
	/*
	 * Acquire: pairs with the child's release of pong, so buf[1] is
	 * complete.
	 */
	while (atomic_load_explicit(&m->pong, memory_order_acquire) != i)
		bench_pause();
	if (a->size > sizeof(uint64_t)) {
		memcpy(a->msg, a->buf[1], a->size);
		memcpy(&seq, a->msg, sizeof(seq));
		if (seq != i) {
			bench_side_note(a->side,
					"round trip %llu came back as %llu",
					(unsigned long long)i,
					(unsigned long long)seq);
			return -EIO;
		}
	}
	return 0;
}

static int line_parent(struct bench_side *s)
{
	struct line_arg *a = s->arg;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	memset(a->msg, 0xa5, a->size);
	a->side = s;
	rc = bench_latency_run(s, &a->lat, line_round_trip, a);
	free(a->msg);
	return rc;
}

static int line_child(struct bench_side *s)
{
	struct line_arg *a = s->arg;
	struct line_shm *m = a->shm;
	unsigned char *msg = bench_buf_alloc(a->size);
	uint64_t i, seq;
	int rc = 0;

	if (!msg)
		return -ENOMEM;
	memset(msg, 0x5a, a->size);
	if (bench_side_sync(s)) {
		free(msg);
		return -ECANCELED;
	}
	for (i = 1; i <= a->total && !rc; i++) {
		/*
		 * Acquire: pairs with the parent's release of ping, so buf[0]
		 * is complete.
		 */
		while (atomic_load_explicit(&m->ping, memory_order_acquire) !=
		       i)
			bench_pause();
		if (a->size > sizeof(uint64_t)) {
			memcpy(msg, a->buf[0], a->size);
			memcpy(&seq, msg, sizeof(seq));
			if (seq != i) {
				bench_side_note(s,
						"message %llu arrived as %llu",
						(unsigned long long)i,
						(unsigned long long)seq);
				rc = -EIO;
				break;
			}
			memcpy(a->buf[1], msg, a->size);
		}
		/*
		 * Release: the copy into buf[1]; pairs with the parent's
		 * acquire of pong.
		 */
		atomic_store_explicit(&m->pong, i, memory_order_release);
	}
	free(msg);
	return rc;
}

static int run_line(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res)
{
	struct line_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.total = bench_round_trips(cfg);
	a.shm_size = sizeof(*a.shm) + 2 * (size_t)a.size;
	a.shm = bench_shm_alloc(a.shm_size);
	if (!a.shm)
		return -ENOMEM;
	a.buf[0] = (unsigned char *)(a.shm + 1);
	a.buf[1] = a.buf[0] + a.size;
	rc = bench_pair_run(cfg, line_parent, line_child, &a, res->note);
	if (!rc)
		bench_samples_stats(&a.lat, res);
	bench_samples_fini(&a.lat);
	bench_shm_free(a.shm, a.shm_size);
	return rc;
}

/*
 * bare-ring and bare-seq: two bare SPSC rings sharing one implementation.
 *
 * bare-ring (Lamport): slots of exactly the message size; the producer
 * publishes by storing head, the consumer polls head. A message costs the
 * consumer two lines (head, then the slot) unless head is cached.
 *
 * bare-seq: shoal's algorithm with nothing else: each slot starts with an
 * 8-byte sequence number, slots are packed at 8-byte alignment (the
 * geometry of a shoal ring, src/segment/layout.h), the producer release-stores
 * seq = pos + 1 after the payload and the consumer polls the slot itself;
 * head is never shared. It tells how much of shoal's cost is the algorithm
 * and how much the API around it.
 *
 * In both the producer reads tail only when its cached copy shows too few
 * free slots, and the consumer stores tail once per message or batch.
 */

struct lring {
	/* bare-ring: next position the producer writes. Producer only. */
	_Alignas(BENCH_LINE) _Atomic uint64_t head;
	uint8_t pad0[BENCH_LINE - sizeof(uint64_t)];
	/* Next position the consumer reads. Written by the consumer only. */
	_Alignas(BENCH_LINE) _Atomic uint64_t tail;
	uint8_t pad1[BENCH_LINE - sizeof(uint64_t)];
	/* The slots follow: capacity * stride bytes. */
};

_Static_assert(sizeof(struct lring) == 2 * BENCH_LINE, "slots start on a line");

/* bare-seq slot header: == pos + 1 once the message at pos is written. */
#define SEQ_HDR sizeof(uint64_t)
/* bare-seq slot alignment, as shoal's. */
#define SEQ_ALIGN 8u

struct lgeom {
	uint64_t mask;
	uint64_t stride; /* bytes from one slot to the next */
	uint32_t hdr;	 /* bytes before the payload: 0, or SEQ_HDR */
};

struct lprod {
	struct lring *r;
	unsigned char *slots;
	uint64_t head;	     /* next position to write */
	uint64_t tail_cache; /* tail as last read */
	struct lgeom g;
};

struct lcons {
	struct lring *r;
	unsigned char *slots;
	uint64_t tail;	     /* next position to read */
	uint64_t head_cache; /* bare-ring: head as last read */
	struct lgeom g;
};

static struct lgeom lgeom_of(int seq, uint32_t capacity, uint32_t size)
{
	struct lgeom g = { .mask = capacity - 1, .stride = size, .hdr = 0 };

	if (seq) {
		g.hdr = SEQ_HDR;
		g.stride = (SEQ_HDR + size + SEQ_ALIGN - 1) &
			   ~(uint64_t)(SEQ_ALIGN - 1);
	}
	return g;
}

static size_t lring_size(int seq, uint32_t capacity, uint32_t size)
{
	return sizeof(struct lring) +
	       (size_t)capacity * lgeom_of(seq, capacity, size).stride;
}

static void lprod_init(struct lprod *p, struct lring *r, int seq,
		       uint32_t capacity, uint32_t size)
{
	p->r = r;
	p->slots = (unsigned char *)(r + 1);
	p->head = 0;
	p->tail_cache = 0;
	p->g = lgeom_of(seq, capacity, size);
}

static void lcons_init(struct lcons *c, struct lring *r, int seq,
		       uint32_t capacity, uint32_t size)
{
	c->r = r;
	c->slots = (unsigned char *)(r + 1);
	c->tail = 0;
	c->head_cache = 0;
	c->g = lgeom_of(seq, capacity, size);
}

static inline unsigned char *lslot(unsigned char *slots, const struct lgeom *g,
				   uint64_t pos)
{
	return slots + (pos & g->mask) * g->stride;
}

static inline _Atomic uint64_t *lseq(unsigned char *slot)
{
	return (_Atomic uint64_t *)(void *)slot;
}

/* Free slots, up to @want; reads tail only when the cached copy shows fewer. */
static inline uint64_t lprod_reserve(struct lprod *p, uint64_t want)
{
	uint64_t free = p->g.mask + 1 - (p->head - p->tail_cache);

	if (free < want) {
		/*
		 * Acquire: pairs with the consumer's release of tail; its reads
		 * of the slots are done.
		 */
		p->tail_cache =
			atomic_load_explicit(&p->r->tail, memory_order_acquire);
		free = p->g.mask + 1 - (p->head - p->tail_cache);
	}
	return free < want ? free : want;
}

/* The payload of the @k-th reserved slot. */
static inline unsigned char *lprod_slot(struct lprod *p, uint64_t k)
{
	return lslot(p->slots, &p->g, p->head + k) + p->g.hdr;
}

static inline void lprod_publish(struct lprod *p, uint64_t n)
{
	uint64_t k;

	if (!p->g.hdr) {
		p->head += n;
		/*
		 * Release: the slots written above; pairs with the consumer's
		 * acquire of head.
		 */
		atomic_store_explicit(&p->r->head, p->head,
				      memory_order_release);
		return;
	}
	for (k = 0; k < n; k++, p->head++)
		/*
		 * Release: the payload written above; pairs with the consumer's
		 * acquire of seq.
		 */
		atomic_store_explicit(lseq(lslot(p->slots, &p->g, p->head)),
				      p->head + 1, memory_order_release);
}

/*
 * Messages ready, up to @want. bare-ring reads head only when the cached copy
 * shows fewer.
 */
static inline uint64_t lcons_ready(struct lcons *c, uint64_t want)
{
	uint64_t ready;

	if (c->g.hdr) {
		/*
		 * Acquire: pairs with the producer's release of seq; the
		 * payload is written.
		 */
		for (ready = 0;
		     ready < want &&
		     atomic_load_explicit(
			     lseq(lslot(c->slots, &c->g, c->tail + ready)),
			     memory_order_acquire) == c->tail + ready + 1;
		     ready++)
			;
		return ready;
	}
	ready = c->head_cache - c->tail;
	if (ready < want) {
		/*
		 * Acquire: pairs with the producer's release of head; the slots
		 * are written.
		 */
		c->head_cache =
			atomic_load_explicit(&c->r->head, memory_order_acquire);
		ready = c->head_cache - c->tail;
	}
	return ready < want ? ready : want;
}

static inline const unsigned char *lcons_slot(struct lcons *c, uint64_t k)
{
	return lslot(c->slots, &c->g, c->tail + k) + c->g.hdr;
}

static inline void lcons_release(struct lcons *c, uint64_t n)
{
	c->tail += n;
	/*
	 * Release: our reads of the slots are done; pairs with the producer's
	 * acquire of tail.
	 */
	atomic_store_explicit(&c->r->tail, c->tail, memory_order_release);
}

static inline void lring_push_spin(struct lprod *p, const void *msg,
				   uint32_t size)
{
	while (!lprod_reserve(p, 1))
		bench_pause();
	memcpy(lprod_slot(p, 0), msg, size);
	lprod_publish(p, 1);
}

static inline void lring_pop_spin(struct lcons *c, void *msg, uint32_t size)
{
	while (!lcons_ready(c, 1))
		bench_pause();
	memcpy(msg, lcons_slot(c, 0), size);
	lcons_release(c, 1);
}

/* bare-ring round trip: ring [0] parent to child, ring [1] child to parent. */

struct lrtt_arg {
	struct lring *ring[2];
	size_t ring_size;
	int seq; /* bare-seq rather than bare-ring */
	uint32_t size;
	uint64_t total;
	struct bench_samples lat;
	/* The parent's own: */
	struct bench_side *side;
	unsigned char *msg;
	struct lprod p;
	struct lcons c;
};

static inline int lrtt_round_trip(void *ctx, uint64_t i)
{
	struct lrtt_arg *a = ctx;
	uint64_t seq;

	memcpy(a->msg, &i, sizeof(i));
	lring_push_spin(&a->p, a->msg, a->size);
	lring_pop_spin(&a->c, a->msg, a->size);
	memcpy(&seq, a->msg, sizeof(seq));
	if (seq != i) {
		bench_side_note(a->side, "round trip %llu came back as %llu",
				(unsigned long long)i, (unsigned long long)seq);
		return -EIO;
	}
	return 0;
}

static int lrtt_parent(struct bench_side *s)
{
	struct lrtt_arg *a = s->arg;
	_Alignas(BENCH_LINE) unsigned char msg[BENCH_RTT_SLOT];

	memset(msg, 0xa5, sizeof(msg));
	a->side = s;
	a->msg = msg;
	lprod_init(&a->p, a->ring[0], a->seq, BENCH_RTT_CAPACITY,
		   BENCH_RTT_SLOT);
	lcons_init(&a->c, a->ring[1], a->seq, BENCH_RTT_CAPACITY,
		   BENCH_RTT_SLOT);
	return bench_latency_run(s, &a->lat, lrtt_round_trip, a);
}

static int lrtt_child(struct bench_side *s)
{
	struct lrtt_arg *a = s->arg;
	_Alignas(BENCH_LINE) unsigned char msg[BENCH_RTT_SLOT];
	struct lprod p;
	struct lcons c;
	uint64_t i, seq;

	memset(msg, 0x5a, sizeof(msg));
	lcons_init(&c, a->ring[0], a->seq, BENCH_RTT_CAPACITY, BENCH_RTT_SLOT);
	lprod_init(&p, a->ring[1], a->seq, BENCH_RTT_CAPACITY, BENCH_RTT_SLOT);
	if (bench_side_sync(s))
		return -ECANCELED;
	for (i = 1; i <= a->total; i++) {
		lring_pop_spin(&c, msg, a->size);
		memcpy(&seq, msg, sizeof(seq));
		if (seq != i) {
			bench_side_note(s, "message %llu arrived as %llu",
					(unsigned long long)i,
					(unsigned long long)seq);
			return -EIO;
		}
		lring_push_spin(&p, msg, a->size);
	}
	return 0;
}

static int run_rtt(const struct bench_figure *f, const struct bench_config *cfg,
		   struct bench_result *res, int seq)
{
	struct lrtt_arg a;
	int rc = -ENOMEM;

	memset(&a, 0, sizeof(a));
	a.seq = seq;
	a.size = f->size;
	a.total = bench_round_trips(cfg);
	a.ring_size = lring_size(seq, BENCH_RTT_CAPACITY, BENCH_RTT_SLOT);
	a.ring[0] = bench_shm_alloc(a.ring_size);
	a.ring[1] = bench_shm_alloc(a.ring_size);
	if (a.ring[0] && a.ring[1])
		rc = bench_pair_run(cfg, lrtt_parent, lrtt_child, &a,
				    res->note);
	if (!rc)
		bench_samples_stats(&a.lat, res);
	bench_samples_fini(&a.lat);
	bench_shm_free(a.ring[0], a.ring_size);
	bench_shm_free(a.ring[1], a.ring_size);
	return rc;
}

static int run_lring_rtt(const struct bench_figure *f,
			 const struct bench_config *cfg,
			 struct bench_result *res)
{
	return run_rtt(f, cfg, res, 0);
}

static int run_seq_rtt(const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	return run_rtt(f, cfg, res, 1);
}

/*
 * bare-ring throughput: the parent produces, the child consumes, in the
 * trials of the harness (bench_trial_start and friends).
 */

struct ltput_arg {
	struct lring *ring;
	size_t ring_size;
	int seq; /* bare-seq rather than bare-ring */
	uint32_t capacity;
	uint32_t size;
	uint32_t batch;
	struct bench_tput tput;
};

static void ltput_produce(struct ltput_arg *a, struct lprod *p,
			  unsigned char *src, uint64_t n, uint64_t *seq)
{
	uint64_t sent, k, j;

	if (a->batch <= 1) {
		for (sent = 0; sent < n; sent++) {
			bench_stamp(src, (*seq)++, a->size);
			lring_push_spin(p, src, a->size);
		}
		return;
	}
	for (sent = 0; sent < n; sent += k) {
		k = lprod_reserve(p, n - sent < a->batch ? n - sent : a->batch);
		if (!k) {
			bench_pause();
			continue;
		}
		for (j = 0; j < k; j++) {
			bench_stamp(src, (*seq)++, a->size);
			memcpy(lprod_slot(p, j), src, a->size);
		}
		lprod_publish(p, k);
	}
}

static int ltput_consume(struct bench_side *s, struct ltput_arg *a,
			 struct lcons *c, unsigned char *dst, uint64_t n,
			 uint64_t *seq)
{
	uint64_t got, k, j, batch = a->batch ? a->batch : 1;

	for (got = 0; got < n; got += k) {
		k = lcons_ready(c, n - got < batch ? n - got : batch);
		if (!k) {
			bench_pause();
			continue;
		}
		for (j = 0; j < k; j++) {
			memcpy(dst, lcons_slot(c, j), a->size);
			if (!bench_stamped(dst, *seq, a->size)) {
				bench_side_note(s,
						"message %llu out of sequence",
						(unsigned long long)*seq);
				return -EIO;
			}
			(*seq)++;
		}
		lcons_release(c, k);
	}
	return 0;
}

static int ltput_parent(struct bench_side *s)
{
	struct ltput_arg *a = s->arg;
	unsigned char *src;
	uint64_t seq = 0;
	struct lprod p;
	int64_t n;
	int rc = 0;

	src = bench_buf_alloc(a->size);
	if (!src)
		return -ENOMEM;
	memset(src, 0xa5, a->size);
	lprod_init(&p, a->ring, a->seq, a->capacity, a->size);
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		ltput_produce(a, &p, src, (uint64_t)n, &seq);
		rc = bench_trial_finish(s, &a->tput);
	}
	free(src);
	return rc ? rc : n < 0 ? (int)n : 0;
}

static int ltput_child(struct bench_side *s)
{
	struct ltput_arg *a = s->arg;
	unsigned char *dst;
	uint64_t seq = 0;
	struct lcons c;
	int64_t n;
	int rc = 0;

	dst = bench_buf_alloc(a->size);
	if (!dst)
		return -ENOMEM;
	lcons_init(&c, a->ring, a->seq, a->capacity, a->size);
	while (!rc && (n = bench_trial_next(s)) > 0) {
		rc = ltput_consume(s, a, &c, dst, (uint64_t)n, &seq);
		if (!rc)
			rc = bench_trial_end(s);
	}
	free(dst);
	return rc ? rc : n < 0 ? (int)n : 0;
}

static int run_tput(const struct bench_figure *f,
		    const struct bench_config *cfg, struct bench_result *res,
		    int seq)
{
	struct ltput_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.seq = seq;
	a.size = f->size;
	a.batch = f->batch;
	a.capacity = bench_tput_capacity(f->size);
	a.ring_size = lring_size(seq, a.capacity, a.size);
	a.ring = bench_shm_alloc(a.ring_size);
	if (!a.ring)
		return -ENOMEM;
	rc = bench_pair_run(cfg, ltput_parent, ltput_child, &a, res->note);
	if (!rc)
		bench_tput_stats(&a.tput, f->size, res);
	bench_shm_free(a.ring, a.ring_size);
	return rc;
}

static int run_lring_tput(const struct bench_figure *f,
			  const struct bench_config *cfg,
			  struct bench_result *res)
{
	return run_tput(f, cfg, res, 0);
}

static int run_seq_tput(const struct bench_figure *f,
			const struct bench_config *cfg,
			struct bench_result *res)
{
	return run_tput(f, cfg, res, 1);
}

/*
 * Through the kernel: eventfd, pipes, Unix sockets and POSIX message queues.
 * wr[0]/rd[0] carry parent to child, wr[1]/rd[1] child to parent; for a
 * pipe or socket each direction has a write end and a read end.
 *
 * Round trips, blocking (rtt-block-*: each side sleeps in read(),
 * recv or mq_receive) or polled (rtt-poll-*: the read ends are
 * O_NONBLOCK and the reader spins on EAGAIN, the kernel's equivalent of a
 * busy-polling subscriber); one-way throughput (tput-*: one write per
 * message); and idle (the child blocks for one message).
 */

enum kpp_kind {
	KPP_EVENTFD,
	KPP_PIPE,
	KPP_UNIX,
	KPP_MQ
};

struct kpp_arg {
	enum kpp_kind kind;
	int poll; /* read ends O_NONBLOCK, readers spin */
	uint32_t size;
	uint64_t total;
	int wr[2]; /* [dir]: where the sender of direction dir writes */
	int rd[2]; /* [dir]: where the receiver of direction dir reads */
	unsigned char *shm; /* eventfd payload: 2 * size bytes, [dir] */
	struct bench_samples lat;
	struct bench_tput tput;
	struct bench_result *res; /* idle: the parent writes the shares */
	/* The parent's own: */
	struct bench_side *side;
	unsigned char *msg;
};

static int write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A polled reader (O_NONBLOCK) spins here on EAGAIN. */
static int read_all(int fd, unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0) {
			if (errno == EAGAIN) {
				bench_pause();
				continue;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int kpp_send(struct kpp_arg *a, int dir, const unsigned char *msg)
{
	uint64_t one = 1;

	switch (a->kind) {
	case KPP_EVENTFD:
		if (a->size > sizeof(uint64_t))
			memcpy(a->shm + (size_t)dir * a->size, msg, a->size);
		return write_all(a->wr[dir], (const unsigned char *)&one,
				 sizeof(one));
	case KPP_PIPE:
	case KPP_UNIX:
		return write_all(a->wr[dir], msg, a->size);
	case KPP_MQ:
		/* Polled: the descriptor is O_NONBLOCK, so a full queue spins. */
		while (mq_send(a->wr[dir], (const char *)msg, a->size, 0) < 0)
			if (errno != EINTR && errno != EAGAIN)
				return -errno;
		return 0;
	}
	return -EINVAL;
}

static int kpp_recv(struct kpp_arg *a, int dir, unsigned char *msg)
{
	uint64_t count;
	ssize_t n;
	int rc;

	switch (a->kind) {
	case KPP_EVENTFD:
		rc = read_all(a->rd[dir], (unsigned char *)&count,
			      sizeof(count));
		if (!rc && a->size > sizeof(uint64_t))
			memcpy(msg, a->shm + (size_t)dir * a->size, a->size);
		return rc;
	case KPP_PIPE:
	case KPP_UNIX:
		return read_all(a->rd[dir], msg, a->size);
	case KPP_MQ:
		while ((n = mq_receive(a->rd[dir], (char *)msg, a->size,
				       NULL)) < 0) {
			if (errno == EAGAIN)
				bench_pause();
			else if (errno != EINTR)
				return -errno;
		}
		return n == (ssize_t)a->size ? 0 : -EIO;
	}
	return -EINVAL;
}

/* Sequence check; the eventfd 8-byte variant carries no payload to check. */
static int kpp_check(struct kpp_arg *a, struct bench_side *s,
		     const unsigned char *msg, uint64_t i)
{
	if (a->kind == KPP_EVENTFD && a->size <= sizeof(uint64_t))
		return 0;
	if (bench_stamped(msg, i, a->size))
		return 0;
	bench_side_note(s, "message %llu arrived out of sequence",
			(unsigned long long)i);
	return -EIO;
}

static inline int kpp_round_trip(void *ctx, uint64_t i)
{
	struct kpp_arg *a = ctx;
	int rc;

	bench_stamp(a->msg, i, a->size);
	rc = kpp_send(a, 0, a->msg);
	if (!rc)
		rc = kpp_recv(a, 1, a->msg);
	if (rc) {
		bench_side_note(a->side, "round trip %llu: %s",
				(unsigned long long)i, strerror(-rc));
		return rc;
	}
	return kpp_check(a, a->side, a->msg, i);
}

static int kpp_parent(struct bench_side *s)
{
	struct kpp_arg *a = s->arg;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	memset(a->msg, 0xa5, a->size);
	a->side = s;
	rc = bench_latency_run(s, &a->lat, kpp_round_trip, a);
	free(a->msg);
	return rc;
}

static int kpp_child(struct bench_side *s)
{
	struct kpp_arg *a = s->arg;
	unsigned char *msg = bench_buf_alloc(a->size);
	uint64_t i;
	int rc = 0;

	if (!msg)
		return -ENOMEM;
	memset(msg, 0x5a, a->size);
	if (bench_side_sync(s))
		rc = -ECANCELED;
	for (i = 1; i <= a->total && !rc; i++) {
		rc = kpp_recv(a, 0, msg);
		if (!rc)
			rc = kpp_check(a, s, msg, i);
		if (!rc)
			rc = kpp_send(a, 1, msg);
		if (rc)
			bench_side_note(s, "message %llu: %s",
					(unsigned long long)i, strerror(-rc));
	}
	free(msg);
	return rc;
}

/* Throughput: the parent writes messages, one per call; the child reads. */
static int ktput_parent(struct bench_side *s)
{
	struct kpp_arg *a = s->arg;
	unsigned char *src = bench_buf_alloc(a->size);
	uint64_t seq = 0, k;
	int64_t n = 0;
	int rc = 0;

	if (!src)
		return -ENOMEM;
	memset(src, 0xa5, a->size);
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		for (k = 0; k < (uint64_t)n && !rc; k++) {
			bench_stamp(src, seq++, a->size);
			rc = kpp_send(a, 0, src);
		}
		if (rc)
			bench_side_note(s, "send: %s", strerror(-rc));
		else
			rc = bench_trial_finish(s, &a->tput);
	}
	free(src);
	return rc ? rc : n < 0 ? (int)n : 0;
}

static int ktput_child(struct bench_side *s)
{
	struct kpp_arg *a = s->arg;
	unsigned char *dst = bench_buf_alloc(a->size);
	uint64_t seq = 0, k;
	int64_t n = 0;
	int rc = 0;

	if (!dst)
		return -ENOMEM;
	while (!rc && (n = bench_trial_next(s)) > 0) {
		for (k = 0; k < (uint64_t)n && !rc; k++) {
			rc = kpp_recv(a, 0, dst);
			if (rc)
				bench_side_note(s, "receive: %s",
						strerror(-rc));
			else
				rc = kpp_check(a, s, dst, seq++);
		}
		if (!rc)
			rc = bench_trial_end(s);
	}
	free(dst);
	return rc ? rc : n < 0 ? (int)n : 0;
}

/* Idle: the child sleeps in the kernel until the parent's one message. */
static int kidle_send(void *ctx)
{
	struct kpp_arg *a = ctx;

	bench_stamp(a->msg, 1, a->size);
	return kpp_send(a, 0, a->msg);
}

static int kidle_wait(void *ctx)
{
	struct kpp_arg *a = ctx;
	int rc = kpp_recv(a, 0, a->msg);

	return rc ? rc : kpp_check(a, a->side, a->msg, 1);
}

static int kidle_side(struct bench_side *s)
{
	struct kpp_arg *a = s->arg;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	a->side = s;
	if (s->is_child)
		rc = bench_idle_child(s, kidle_wait, a);
	else
		rc = bench_idle_parent(s, kidle_send, a, a->res);
	free(a->msg);
	return rc;
}

static void kpp_close(struct kpp_arg *a)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (a->kind == KPP_MQ) {
			if (a->wr[i] >= 0)
				mq_close(a->wr[i]);
			continue;
		}
		if (a->wr[i] >= 0)
			close(a->wr[i]);
		if (a->rd[i] >= 0 && a->rd[i] != a->wr[i])
			close(a->rd[i]);
	}
}

static int kpp_open_mq(struct kpp_arg *a, char *note)
{
	struct mq_attr attr;
	char name[64];
	int dir;

	memset(&attr, 0, sizeof(attr));
	attr.mq_maxmsg = 4;
	attr.mq_msgsize = a->size;
	for (dir = 0; dir < 2; dir++) {
		snprintf(name, sizeof(name), "/shoal-bench-%d-%d",
			 (int)getpid(), dir);
		a->wr[dir] = mq_open(name,
				     O_RDWR | O_CREAT | O_EXCL |
					     (a->poll ? O_NONBLOCK : 0),
				     0600, &attr);
		if (a->wr[dir] < 0) {
			/*
			 * Beyond /proc/sys/fs/mqueue/msgsize_max only with
			 * CAP_SYS_RESOURCE: an environment limit, not a failure.
			 */
			snprintf(
				note, BENCH_NOTE_MAX,
				"mq_open of %u-byte messages: %s (see /proc/sys/fs/mqueue/msgsize_max)",
				a->size, strerror(errno));
			return 1;
		}
		/*
		 * The open descriptor is all both processes need: no name left
		 * behind.
		 */
		mq_unlink(name);
		a->rd[dir] = a->wr[dir];
	}
	return 0;
}

static int kpp_open(struct kpp_arg *a, char *note)
{
	int fds[2], dir;

	for (dir = 0; dir < 2; dir++) {
		switch (a->kind) {
		case KPP_EVENTFD:
			a->wr[dir] = eventfd(0, EFD_CLOEXEC);
			a->rd[dir] = a->wr[dir];
			if (a->wr[dir] < 0)
				goto fail;
			break;
		case KPP_PIPE:
			if (pipe2(fds, O_CLOEXEC) < 0)
				goto fail;
			a->rd[dir] = fds[0];
			a->wr[dir] = fds[1];
			break;
		case KPP_UNIX:
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				       fds) < 0)
				goto fail;
			a->wr[dir] = fds[0];
			a->rd[dir] = fds[1];
			break;
		case KPP_MQ:
			return kpp_open_mq(a, note);
		}
		/* Polled: only the read end spins; writes still block. */
		if (a->poll && a->rd[dir] != a->wr[dir] &&
		    fcntl(a->rd[dir], F_SETFL,
			  fcntl(a->rd[dir], F_GETFL) | O_NONBLOCK) < 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(note, BENCH_NOTE_MAX, "creating the descriptors: %s",
		 strerror(errno));
	return -errno;
}

/* f->param: { enum kpp_kind, 1: polled }. */
static int run_kpp(const struct bench_figure *f, const struct bench_config *cfg,
		   struct bench_result *res)
{
	struct kpp_arg a;
	bench_side_fn parent = kpp_parent, child = kpp_child;
	int rc;

	memset(&a, 0, sizeof(a));
	a.kind = (enum kpp_kind)f->param[0];
	a.poll = f->param[1];
	a.size = f->size;
	a.total = bench_round_trips(cfg);
	a.res = res;
	a.wr[0] = a.wr[1] = a.rd[0] = a.rd[1] = -1;
	if (f->kind == BENCH_THROUGHPUT) {
		parent = ktput_parent;
		child = ktput_child;
	} else if (f->kind == BENCH_IDLE) {
		parent = child = kidle_side;
	}
	a.shm = bench_shm_alloc(2 * (size_t)a.size);
	if (!a.shm)
		return -ENOMEM;
	rc = kpp_open(&a, res->note);
	if (!rc)
		rc = bench_pair_run(cfg, parent, child, &a, res->note);
	if (!rc && f->kind == BENCH_LATENCY)
		bench_samples_stats(&a.lat, res);
	if (!rc && f->kind == BENCH_THROUGHPUT)
		bench_tput_stats(&a.tput, f->size, res);
	bench_samples_fini(&a.lat);
	kpp_close(&a);
	bench_shm_free(a.shm, 2 * (size_t)a.size);
	return rc;
}

/*
 * CMP: also in the side-by-side comparison (--compare). K: a kernel
 * mechanism for run_kpp (kind, polled).
 */
#define CMP BENCH_COMPARE
/* CMPO: only in the comparison (BENCH_COMPARE_ONLY). */
#define CMPO (BENCH_COMPARE | BENCH_COMPARE_ONLY)
#define K(kind, polled) .param = { kind, polled }
#define NOPARAM .param = { 0 }
#define LAT_POLL(n, t, sz, fn, fl, pr)                                    \
	{                                                                 \
		.name = n, .title = t, .kind = BENCH_LATENCY, .size = sz, \
		.batch = 1, .flags = BENCH_SPINS | (fl), .run = fn, pr    \
	}
#define LAT_BLOCK(n, t, sz, fn, fl, pr)                                       \
	{                                                                     \
		.name = n, .title = t, .kind = BENCH_LATENCY, .size = sz,     \
		.batch = 1, .flags = BENCH_BLOCKS | CMP | (fl), .run = fn, pr \
	}
#define TPUT(n, t, sz, b, fn, fl, pr)                                        \
	{                                                                    \
		.name = n, .title = t, .kind = BENCH_THROUGHPUT, .size = sz, \
		.batch = b, .flags = (fl), .run = fn, pr                     \
	}
#define IDLE(n, t, mech)                                              \
	{                                                             \
		.name = n, .title = t, .kind = BENCH_IDLE, .size = 8, \
		.batch = 1, .flags = CMPO, .run = run_kpp, K(mech, 0) \
	}
/* A kernel mechanism's round trips, polled and blocking, at size @sz. */
#define KPP_RTT(g, sz, sztext, bfl)                                               \
	LAT_POLL("rtt-poll-" g "/pipe",                                           \
		 "pipe, O_NONBLOCK reads spin, " sztext, sz, run_kpp,             \
		 CMPO | BENCH_SLOW, K(KPP_PIPE, 1)),                              \
		LAT_POLL(                                                         \
			"rtt-poll-" g "/unix",                                    \
			"Unix stream socketpair, O_NONBLOCK reads spin, " sztext, \
			sz, run_kpp, CMPO | BENCH_SLOW, K(KPP_UNIX, 1)),          \
		LAT_POLL("rtt-poll-" g "/mq",                                     \
			 "POSIX message queue, O_NONBLOCK, spin, " sztext, sz,    \
			 run_kpp, CMPO | BENCH_SLOW, K(KPP_MQ, 1)),               \
		LAT_BLOCK("rtt-block-" g "/eventfd",                              \
			  "eventfd ping-pong + shm copy each way, " sztext,       \
			  sz, run_kpp, bfl, K(KPP_EVENTFD, 0)),                   \
		LAT_BLOCK("rtt-block-" g "/pipe", "pipe ping-pong, " sztext,      \
			  sz, run_kpp, bfl, K(KPP_PIPE, 0)),                      \
		LAT_BLOCK("rtt-block-" g "/unix",                                 \
			  "Unix stream socketpair ping-pong, " sztext, sz,        \
			  run_kpp, bfl, K(KPP_UNIX, 0)),                          \
		LAT_BLOCK("rtt-block-" g "/mq",                                   \
			  "POSIX message queue ping-pong, " sztext, sz,           \
			  run_kpp, bfl, K(KPP_MQ, 0))
/* A kernel mechanism's one-way throughput: one write per message. */
#define KPP_TPUT(g, sz, sztext)                                                \
	TPUT("tput-" g "/pipe", "pipe, one write per message, " sztext, sz, 1, \
	     run_kpp, CMPO, K(KPP_PIPE, 0)),                                   \
		TPUT("tput-" g "/unix",                                        \
		     "Unix stream socketpair, one write per message, " sztext, \
		     sz, 1, run_kpp, CMPO, K(KPP_UNIX, 0)),                    \
		TPUT("tput-" g "/mq",                                          \
		     "POSIX message queue, one mq_send per message, " sztext,  \
		     sz, 1, run_kpp, CMPO, K(KPP_MQ, 0))

const struct bench_figure bench_baselines[] = {
	LAT_POLL("rtt-poll-8/bare-line",
		 "bare shm ping-pong, 2 counters on 1 cache line", 8, run_line,
		 BENCH_SPINS | CMP, NOPARAM),
	LAT_POLL("rtt-poll-8/bare-ring",
		 "bare Lamport rings, one per direction", 8, run_lring_rtt, 0,
		 NOPARAM),
	LAT_POLL("rtt-poll-8/bare-seq",
		 "bare per-slot-seq rings (shoal's algorithm)", 8, run_seq_rtt,
		 0, NOPARAM),
	LAT_POLL("rtt-poll-64/bare-line",
		 "bare shm ping-pong + 64 B copy each way", 64, run_line,
		 BENCH_SPINS, NOPARAM),
	LAT_POLL("rtt-poll-64/bare-ring", "bare Lamport rings, 64 B slots", 64,
		 run_lring_rtt, 0, NOPARAM),
	LAT_POLL("rtt-poll-64/bare-seq", "bare per-slot-seq rings, 64 B", 64,
		 run_seq_rtt, 0, NOPARAM),
	LAT_POLL("rtt-poll-1k/bare-line",
		 "bare shm ping-pong + 1 KiB copy each way", 1024, run_line,
		 BENCH_SPINS | CMP, NOPARAM),
	LAT_POLL("rtt-poll-1k/bare-ring", "bare Lamport rings, 1 KiB slots",
		 1024, run_lring_rtt, 0, NOPARAM),
	LAT_POLL("rtt-poll-1k/bare-seq", "bare per-slot-seq rings, 1 KiB", 1024,
		 run_seq_rtt, 0, NOPARAM),
	LAT_POLL("rtt-poll-64k/bare-line",
		 "bare shm ping-pong + 64 KiB copy each way", 65536, run_line,
		 BENCH_SPINS | CMPO, NOPARAM),
	LAT_POLL("rtt-poll-1m/bare-line",
		 "bare shm ping-pong + 1 MiB copy each way", 1048576, run_line,
		 BENCH_SPINS | CMPO, NOPARAM),
	KPP_RTT("8", 8, "8 B", 0),
	KPP_RTT("1k", 1024, "1 KiB", 0),
	KPP_RTT("64k", 65536, "64 KiB", BENCH_COMPARE_ONLY),
	KPP_RTT("1m", 1048576, "1 MiB", BENCH_COMPARE_ONLY),
	TPUT("tput-8/bare-ring", "bare Lamport ring, 8 B slots, 1 at a time", 8,
	     1, run_lring_tput, BENCH_SPINS | CMP, NOPARAM),
	TPUT("tput-8/bare-seq", "bare per-slot-seq ring, 1 at a time", 8, 1,
	     run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-8-b64/bare-ring",
	     "bare Lamport ring, 8 B slots, batches of 64", 8, 64,
	     run_lring_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-8-b64/bare-seq", "bare per-slot-seq ring, batches of 64", 8,
	     64, run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-64/bare-ring", "bare Lamport ring, 64 B slots, 1 at a time",
	     64, 1, run_lring_tput, BENCH_SPINS | CMP, NOPARAM),
	TPUT("tput-64/bare-seq", "bare per-slot-seq ring, 1 at a time", 64, 1,
	     run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-64-b64/bare-ring",
	     "bare Lamport ring, 64 B slots, batches of 64", 64, 64,
	     run_lring_tput, BENCH_SPINS | CMP, NOPARAM),
	TPUT("tput-64-b64/bare-seq", "bare per-slot-seq ring, batches of 64",
	     64, 64, run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-1k/bare-ring", "bare Lamport ring, 1 KiB slots, 1 at a time",
	     1024, 1, run_lring_tput, BENCH_SPINS | CMP, NOPARAM),
	TPUT("tput-1k/bare-seq", "bare per-slot-seq ring, 1 at a time", 1024, 1,
	     run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-1k-b64/bare-ring",
	     "bare Lamport ring, 1 KiB slots, batches of 64", 1024, 64,
	     run_lring_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-1k-b64/bare-seq", "bare per-slot-seq ring, batches of 64",
	     1024, 64, run_seq_tput, BENCH_SPINS, NOPARAM),
	TPUT("tput-64k/bare-ring",
	     "bare Lamport ring, 64 KiB slots, 1 at a time", 65536, 1,
	     run_lring_tput, BENCH_SPINS | CMP, NOPARAM),
	TPUT("tput-64k/bare-seq", "bare per-slot-seq ring, 1 at a time", 65536,
	     1, run_seq_tput, BENCH_SPINS, NOPARAM),
	KPP_TPUT("8", 8, "8 B"),
	KPP_TPUT("64", 64, "64 B"),
	KPP_TPUT("1k", 1024, "1 KiB"),
	KPP_TPUT("64k", 65536, "64 KiB"),
	IDLE("idle/eventfd", "blocking read() of an eventfd", KPP_EVENTFD),
	IDLE("idle/pipe", "blocking read() of a pipe", KPP_PIPE),
	IDLE("idle/unix", "blocking read() of a Unix socket", KPP_UNIX),
	IDLE("idle/mq", "blocking mq_receive()", KPP_MQ),
	{ .name = NULL },
};
