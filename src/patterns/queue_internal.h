/* SPDX-License-Identifier: MIT */
/*
 * The queue handle, shared by its lifecycle half (queue_open.c: create,
 * open, join, destroy/close, stats) and its data half (queue.c: loans,
 * takes, write, read, waiting, recovery); not API.
 */
#ifndef SHOAL_SRC_QUEUE_INTERNAL_H
#define SHOAL_SRC_QUEUE_INTERNAL_H

#include "shoal/queue.h"
#include "shoal/ring_mpmc.h"
#include "shoal/ring_spsc.h"
#include "notify/notify_internal.h"
#include "service/service.h"
#include "patterns/queue_layout.h"

/* An owner token: (line index + 1) | generation << TOKEN_INDEX_BITS. */
#define TOKEN_INDEX_BITS 10
#define TOKEN_GEN_MASK 0xfffu

struct shoal_queue {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	/* Creator: registry, segment, entry, line eventfds (service.h). */
	struct shoal__owner own;
	int creator;
	/* Opener: its registry and the opened service. */
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc;
	struct shoal_segment *seg; /* own.seg, or the service's */
	struct shoal__queue_header *hdr;
	int32_t *fd_table;
	struct shoal__queue_line *lines;
	struct shoal__queue_line *line; /* ours */

	struct shoal_mpmc mpmc;
	struct shoal_spsc_producer sp;
	struct shoal_spsc_consumer sc;
	void *ring;
	uint64_t ring_size;
	int spsc;

	uint32_t capacity, max_message, max_parts, bitmap_words;
	uint32_t role, index, token;
	int lock_fd;
	int eventfd; /* our line's */
	int epfd;    /* what a sleep polls: eventfd (+ the creator's pidfd) */
	int pidfd;   /* opener: the creator's; -1 for the creator */
	int *fds;    /* creator: every line's eventfd; opener: taken lazily */
	struct shoal_waiter pop_waiter, push_waiter;
	enum shoal_wait_strategy strategy; /* for both waiters */

	int gone;
	/* The loans out and the messages held, unordered (a handle holds at
	 * most max_loans / max_held; an SPSC queue one of each). pos: the
	 * MPMC position (unused with SPSC). */
	uint32_t max_loans, max_held, nloans, nheld;
	struct queue_loan {
		void *ptr;
		uint64_t pos;
		uint32_t size;
	} loans[SHOAL_QUEUE_LOANS_MAX];
	struct queue_held {
		const void *data;
		uint64_t pos;
	} helds[SHOAL_QUEUE_HELD_MAX];
	int64_t send_timeout_ns; /* waiting for room: options.send_timeout_ns */
	uint64_t stuck_pos;
	int64_t stuck_since;
	struct shoal__owner_watch ow; /* opener: the creator's end */
	uint64_t pushed, popped, wakeups, recovered;
};

/* The pattern as the service layer knows it (service.h). */
extern const struct shoal__pattern shoal__queue_pattern;

#endif
