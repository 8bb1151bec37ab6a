/* SPDX-License-Identifier: MIT */
/*
 * The publisher's handle, shared by its life (pubsub_pub.c: creation,
 * joining, stats, withdrawal) and its sends (pubsub_send.c: room, loans,
 * gating, wake-ups).
 */
#ifndef SHOAL_SRC_PUBSUB_PUB_INTERNAL_H
#define SHOAL_SRC_PUBSUB_PUB_INTERNAL_H

#include <stdint.h>

#include "shoal/pubsub.h"
#include "notify/notify_internal.h"
#include "service/service.h"
#include "patterns/pubsub_internal.h"
#include "patterns/pubsub_pool.h"
#include "ring/ring_bcast.h"

struct shoal_pub {
	/* The payload segment (own.seg), the subscribers' (own.lines_seg),
	 * the entry and the fd table: the service layer's. */
	struct shoal__owner own;
	struct shoal__pubsub_header *hdr;
	_Atomic uint64_t *wakeups;
	uint8_t *slots;
	struct shoal__pubsub_subs_header *sh;
	_Atomic uint32_t *bitmap;
	struct shoal__pubsub_sub_line *lines;
	int subs_fd;   /* for F_OFD_GETLK */
	int eventfd;   /* wakes this publisher when it waits for room */
	int *wake_fds; /* own.wake_fds: one eventfd per subscriber line */
	uint32_t bitmap_words;
	uint32_t delivery, capacity, mask, stride, max_payload, uh_size;
	uint32_t max_subs, flags;
	int64_t send_timeout_ns;
	uint64_t epoch;
	/* The memory protocol: head, gating, premark (ring/ring_bcast.h). */
	struct shoal__bcast_pub ring;
	/* A batch out (shoal_pub_loan_batch()): @batch slots from head on,
	 * each of @loan_size bytes. Else the single loans, seqs [ring.head,
	 * ring.loan_end), each in loans[seq % SHOAL_PUB_LOANS_MAX]. */
	uint32_t batch;
	uint32_t loan_size;
	uint32_t max_loans;
	/* pools.pp.n != 0, here for the send path: pools is on cold lines
	 * at the end of the handle (in what was padding before skipped). */
	uint32_t pooled;
	/* Neither pools nor SHOAL_PUB_TIMESTAMP: a send only completes the
	 * slot (shoal_pub_send()'s common case). */
	uint32_t plain;
	uint64_t skipped; /* skip markers published */
	struct pub_loan {
		uint32_t state; /* LOAN_* */
		uint32_t size;	/* bytes loaned */
		uint32_t len;	/* bytes sent (LOAN_SENT) */
		/* With pools: the chunk (class, index) it took, and what
		 * the chunk's bookkeeping said before (put back if the loan
		 * is given back unnumbered). */
		uint32_t pool, chunk;
		uint64_t prev_last;
	} loans[SHOAL_PUB_LOANS_MAX];
	/* Sleeps for room (reliable): marks header.waiting, polls eventfd.
	 * Last, so that the fields the send path uses keep their lines. */
	struct shoal_waiter room_waiter;
	/* The service's publisher limit and our slot (not on the send
	 * path: after it, so as not to move its fields). */
	uint32_t max_pubs, slot;
	/* Payload pools (pools.pp.n 0: none; every slot holds the payload):
	 * the chunk allocator, and the one chunk gate a wait for room also
	 * waits for (seq + 1 of the message the next chunk last held; 0:
	 * none). */
	struct pubsub_pool_pub pools;
	uint64_t chunk_gate;
};

/* A single loan's state (struct pub_loan). */
enum {
	LOAN_OUT = 1, /* loaned, the caller writes it */
	LOAN_SENT,    /* sent, waiting for an earlier loan */
	LOAN_ABORTED, /* given back, a later loan still out */
};

/* Puts the broadcast ring over the segments just made (pubsub_pub.c). */
int shoal__pub_ring_init(struct shoal_pub *p);

#endif
