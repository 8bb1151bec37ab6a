/* SPDX-License-Identifier: MIT */
/*
 * The board of shoal soak: one shared memfd that the coordinator creates
 * and every role process maps, so that what each instance did outlives
 * the SIGKILLs. It holds, per instance, counters that survive its kills
 * (messages, violations, the queue producer's next sequence number, the
 * consumer's phase), a heartbeat the coordinator watches to detect hangs,
 * the publishers' (epoch, messages confirmed) per incarnation, and, after
 * the head, two bytes per item of each queue producer: the producer's
 * state (attempted, confirmed) and how many times consumers took it. Also
 * here: the roles, the geometry of each pattern, and the layout of the
 * messages the roles exchange (msg_head, q_item), which both sides check.
 * Who writes what is said field by field.
 */
#ifndef SHOAL_TOOLS_SOAK_BOARD_H
#define SHOAL_TOOLS_SOAK_BOARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

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

/* Names of the roles (option words, role argument) and what "messages"
 * counts for each in the summary. */
extern const char *const soak_role_names[ROLE_N];
extern const char *const soak_role_units[ROLE_N];

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

/* Consumer phase (board), high bits; the low 56 bits name the item.
 * TAKEN: taken, not counted. RECORDED: counted, or about to be (it is set
 * just before the item's count is incremented): a consumer killed in it
 * may not have counted the item. */
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

extern const char *const soak_x_names[X_N];

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

static inline size_t board_size(uint64_t q_items)
{
	size_t head = (sizeof(struct board) + 4095) & ~(size_t)4095;

	return head + (size_t)INST_MAX * 2 * (size_t)q_items;
}

static inline uint8_t *q_state(struct board *b, uint32_t prod)
{
	size_t head = (sizeof(struct board) + 4095) & ~(size_t)4095;

	return (uint8_t *)b + head + (size_t)prod * 2 * b->q_items;
}

static inline _Atomic uint8_t *q_count(struct board *b, uint32_t prod)
{
	return (_Atomic uint8_t *)(q_state(b, prod) + b->q_items);
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

/* A queue item: one QUEUE_MSG-byte message. */
struct q_item {
	uint32_t magic;
	uint32_t prod;
	uint64_t seq;
	uint64_t inc; /* the producer's incarnation; for the reports */
	uint8_t fill[QUEUE_MSG - 24];
};

#endif
