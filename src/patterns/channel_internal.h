/* SPDX-License-Identifier: MIT */
/*
 * The channel handle and header, shared by its lifecycle half
 * (channel_open.c) and its data half (channel.c); not API.
 */
#ifndef SHOAL_SRC_CHANNEL_INTERNAL_H
#define SHOAL_SRC_CHANNEL_INTERNAL_H

#include <stdint.h>

#include "shoal/channel.h"
#include "notify/notify_internal.h"
#include "service/service.h"

struct ch_header {
	/* Line 0: written by the creator before the segment is READY, never
	 * again; the opener reads it once and checks it. */
	uint64_t magic;	       /* CH_MAGIC */
	uint32_t version;      /* CH_VERSION */
	uint32_t creator_role; /* enum shoal_channel_role */
	int32_t data_fd;       /* the creator's fd numbers of the eventfds */
	int32_t space_fd;
	int32_t creator_pid; /* for the anonymous form's opener only */
	uint8_t pad0[36];
	/* Line 1: written by the creator once, when it withdraws (release,
	 * then a wake of both eventfds); acquire-loaded by the opener. */
	_Atomic uint32_t closed;
	uint8_t pad1[60];
	/* Line 2: written by the opener (a joining one stores 0 to
	 * peer_left, then bumps peer_gen; a leaving one stores 1 to
	 * peer_left); acquire-loaded by the creator. */
	_Atomic uint32_t peer_gen;
	_Atomic uint32_t peer_left;
	uint8_t pad2[56];
};
_Static_assert(sizeof(struct ch_header) == 3 * 64, "channel header");

struct shoal_channel {
	/* Hot: the ring end, the stop word, the wake-up halves. */
	struct shoal_spsc_producer prod; /* sender only */
	struct shoal_spsc_consumer cons; /* receiver only */
	const _Atomic uint32_t *stop;	 /* nonzero: the other side left */
	/* Sender: the loans, in claim order (the ring's claimed run from its
	 * head): LOAN_* state, size, and the length once sent. Receiver: the
	 * messages held, unordered, by ring position. */
	uint32_t max_loans, max_held, nloans, nheld;
	struct ch_loan {
		void *ptr;
		uint32_t state, size, len;
	} loans[SHOAL_CHANNEL_LOANS_MAX];
	struct ch_held {
		const void *data;
		uint64_t pos;
	} helds[SHOAL_CHANNEL_LOANS_MAX];
	uint64_t taken;	   /* receiver: messages taken, for msg.seq */
	uint64_t peek_end; /* receiver: past the last message taken */
	uint64_t messages;
	uint32_t idle;			/* empty-handed calls since a look */
	int gone;			/* sticky for this peer (generation) */
	struct shoal_waiter waiter;	/* data (receiver) or space (sender) */
	struct shoal_notifier notifier; /* the other side's word */
	enum shoal_channel_role role;
	int creator;
	int64_t send_timeout_ns;
	struct ch_header *hdr;
	struct shoal_segment *seg; /* the creator's or the opener's map */
	int data_fd, space_fd;
	int lock_fd; /* opener: holds line 0; creator: asks about it */
	/* Creator */
	struct shoal__owner own; /* named */
	int anonymous;
	uint32_t peer_seen; /* peer_gen when gone was last decided */
	uint64_t slept_seen;
	/* Opener */
	struct shoal_registry *reg;
	int own_reg;
	struct shoal_service *svc; /* named; NULL for open_fds */
	struct shoal__owner_watch ow;
	int epfd;
	int joined; /* holds line 0: its close says it left */
	int pidfd;  /* open_fds: the creator's, from the header; else -1 */
	uint64_t pid_seen;
};

/* The creator's look at the opener (channel.c). */
int shoal__channel_opener_gone(struct shoal_channel *ch, int force);

#endif
