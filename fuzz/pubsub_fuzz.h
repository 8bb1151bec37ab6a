/* SPDX-License-Identifier: MIT */
/*
 * The input formats of the pub/sub fuzz targets, shared by the targets
 * (pubsub_geometry_fuzz.c, pubsub_take_fuzz.c) and the generator of their
 * seed corpora (make_pubsub_seeds.c), which links both targets' code to
 * check that every seed still reaches what it was written for.
 */
#ifndef SHOAL_FUZZ_PUBSUB_FUZZ_H
#define SHOAL_FUZZ_PUBSUB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * pubsub_geometry_fuzz: shoal__pubsub_read_geometry() on a payload segment.
 *
 *   bytes 0..1  u16 LE: header object size, 64 + v % (64 KiB - 63)
 *   bytes 2..4  u24 LE: slots object size, 64 + v % (1 MiB - 63)
 *   byte  5     mode (PG_*)
 *   bytes 6..   the header object's first bytes (the rest stays zero)
 * Missing bytes read as zero.
 */
#define PG_PREFIX 6
#define PG_HDR_MIN 64u
#define PG_HDR_MAX (64u << 10)
#define PG_SLOTS_MIN 64u
#define PG_SLOTS_MAX (1u << 20)

/* mode bits 0..2: which objects the segment holds */
#define PG_OBJECTS_MASK 7u
#define PG_OBJECTS_NO_HEADER 5u /* only the slots object */
#define PG_OBJECTS_NO_SLOTS 6u	/* only the header object */
#define PG_OBJECTS_SWAPPED 7u	/* both, each with the other's kind */
/* (0..4: both objects, as a publisher creates them) */
/* bit 3: an unrelated object first, which moves the two */
#define PG_EXTRA_OBJECT 0x08u
/* bit 4: not shoal_segment_create()'s layout but an image built here and
 * opened by shoal_segment_open(), the objects aligned to exactly
 * 1 << (bits 5..7) (shifted up to 8 unless PG_MISALIGNED) */
#define PG_CRAFTED 0x10u
#define PG_ALIGN_SHIFT 5

/*
 * Runs one input; returns what the first call returned (the target also
 * calls it again with the magic and version fixed up).
 */
int pubsub_geometry_one(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------------
 * pubsub_take_fuzz: a subscriber against a publisher whose slots and
 * header words the input overwrites.
 *
 *   byte 0  PT_C0_*: delivery, subscriber flags and history
 *   byte 1  PT_C1_*: geometry
 *   then    operations: an opcode byte (taken modulo PT_OP_COUNT) and its
 *           operands, until the input ends or PT_OPS_MAX ran
 */
#define PT_C0_LOSSY 0x01u
#define PT_C0_REATTACH 0x02u
#define PT_C0_SUB_HISTORY_SHIFT 2 /* 3 bits */
#define PT_C0_TIMESTAMP 0x20u
#define PT_C0_PUB_HISTORY_SHIFT 6 /* 2 bits: history 0, 1, capacity/2, -1 */

#define PT_C1_SCM_RIGHTS 0x01u /* SHOAL_SUB_NO_PIDFD_GETFD, if enabled */
#define PT_C1_NO_USER_HEADER 0x02u
#define PT_C1_PAYLOAD_SHIFT 2  /* 2 bits: max_payload 64, 40, 1, 100 */
#define PT_C1_CAPACITY_SHIFT 4 /* 2 bits: capacity 8, 2, 4, 16 */

#define PT_OPS_MAX 512
#define PT_INPUT_MAX 4096

enum pt_op {
	/* len: publish a message of len % (max_payload + 8) bytes */
	PT_OP_WRITE,
	/* n: publish 1 + n % 16 messages of min(16, max_payload) bytes */
	PT_OP_BURST,
	/* f, stamp u64, len u32: loan a slot; if f & 1 overwrite the slot's
	 * stamp and len with the operands; give the loan back */
	PT_OP_LOAN_ABORT,
	/* sel, v u64: overwrite a field of slot (head + sel % 16) & mask:
	 * sel >> 4 & 3 = 0 stamp := v, 1 len := v, 2 timestamp := v,
	 * 3 stamp := the stamp of message head - capacity + (int8_t)v, odd
	 * if v & 0x100 */
	PT_OP_POKE_SLOT,
	/* m, v u64: header.head := v if m & 1, else head + (int8_t)v */
	PT_OP_POKE_HEAD,
	/* sel, v u32: header.closed (sel & 1) or header.waiting := v */
	PT_OP_POKE_FLAG,
	/* off u16, v u64: the 8 bytes at (off % slots size) & ~7 := v */
	PT_OP_POKE_RAW,
	/* f: shoal_sub_take(0); on success release at once if f & 1 */
	PT_OP_TAKE,
	/* shoal_sub_release() of the held message (or of none: -EINVAL) */
	PT_OP_RELEASE,
	/* shoal_sub_valid() of the held message */
	PT_OP_VALID,
	/* cap, f: shoal_sub_read() into cap % (max_payload + 16) bytes, the
	 * user header too if f & 1 */
	PT_OP_READ,
	/* shoal_sub_arm() then shoal_sub_disarm() */
	PT_OP_ARM,
	/* h: close the subscriber, open a new one with history h % 8 */
	PT_OP_REOPEN,
	PT_OP_COUNT
};

/* What one run did, for the seed generator's checks. */
struct pt_summary {
	uint32_t ops;
	uint32_t taken;	     /* messages take() or read() returned */
	uint32_t overflow;   /* -EOVERFLOW */
	uint32_t badmsg;     /* -EBADMSG */
	uint32_t stale;	     /* release() -ESTALE */
	uint32_t pipe;	     /* -EPIPE */
	uint32_t msgsize;    /* read() -EMSGSIZE */
	uint32_t pub_again;  /* publisher -EAGAIN: reliable and full */
	uint32_t reattached; /* from the subscriber's statistics */
	uint32_t clean;	     /* 1 if nothing was overwritten: the run was
			      * checked against the model of the protocol */
};

/* Runs one input; *sum (may be NULL) says what it did. */
void pubsub_take_one(const uint8_t *data, size_t size, struct pt_summary *sum);

#endif
