/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the pub/sub fuzz targets and checks that each
 * seed still does what it was written for.
 *
 * Usage: make_pubsub_seeds DIR   (fuzz/corpus/pubsub_geometry and
 *                                fuzz/corpus/pubsub_take were made this
 *                                way: DIR/pubsub_geometry, DIR/pubsub_take;
 *                                created if missing)
 *
 * Linked with both targets' code (built without their libFuzzer entry
 * points), it runs every seed through its target, so the target's own
 * checks apply, and compares the outcome with the one the seed was made
 * for: shoal__pubsub_read_geometry()'s answer for a geometry seed; for a
 * take seed, that the run reached what it is about (a lapped subscriber,
 * a stale release, a refused length, a reattachment...) and whether it
 * stayed clean, i.e. checked against the model of the protocol. A format
 * change that makes the seeds stale then fails here rather than silently
 * weakening the fuzzers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pubsub_fuzz.h"
#include "patterns/pubsub_internal.h"

static char outdir[4096];
static int failures;

struct seed {
	uint8_t b[PT_INPUT_MAX];
	size_t n;
};

static void put(struct seed *s, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes && s->n < sizeof(s->b); i++)
		s->b[s->n++] = (uint8_t)(v >> (8 * i));
}

static void save(const char *sub, const char *name, const struct seed *s)
{
	char path[8192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, sub);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ------------------------------------------------------------------------
 * pubsub_geometry
 */

/* The configuration a publisher of capacity 8, 64-byte payloads, an 8-byte
 * user header and 2 subscribers writes. */
static void small_config(struct shoal__pubsub_header *h)
{
	memset(h, 0, sizeof(*h));
	h->ident.magic = SHOAL__PUBSUB_MAGIC;
	h->ident.version = SHOAL__PUBSUB_VERSION;
	h->delivery = SHOAL_DELIVERY_RELIABLE;
	h->capacity = 8;
	h->max_payload = 64;
	h->user_header_size = 8;
	h->slot_stride = slot_stride(8, 64);
	h->max_subscribers = 2;
	h->subs_memfd = 7;
}

static void geometry(const char *name, uint64_t hdr_size, uint64_t slots_size,
		     uint32_t mode, const struct shoal__pubsub_header *h,
		     int want)
{
	struct seed s = { .n = 0 };
	int r;

	put(&s, hdr_size - PG_HDR_MIN, 2);
	put(&s, slots_size - PG_SLOTS_MIN, 3);
	put(&s, mode, 1);
	memcpy(s.b + s.n, h, sizeof(*h));
	s.n += sizeof(*h);
	save("pubsub_geometry", name, &s);
	r = pubsub_geometry_one(s.b, s.n);
	printf("pubsub_geometry/%-24s read_geometry = %d\n", name, r);
	if (r != want) {
		fprintf(stderr, "%s: read_geometry = %d, want %d\n", name, r,
			want);
		failures++;
	}
}

static void geometry_seeds(void)
{
	const uint64_t small_hdr = header_bytes(2);
	const uint64_t small_slots = 8 * (uint64_t)slot_stride(8, 64);
	struct shoal__pubsub_header h;

	small_config(&h);
	geometry("valid-small", small_hdr, small_slots, 0, &h, 0);
	geometry("valid-extra-object", small_hdr, small_slots + 100,
		 PG_EXTRA_OBJECT, &h, 0);
	/* Objects 8 bytes apart: readable, but not on cache lines. */
	geometry("bad-crafted-align8", small_hdr, small_slots,
		 PG_CRAFTED | 3u << PG_ALIGN_SHIFT, &h, -EBADMSG);
	geometry("valid-crafted-align128", small_hdr + 40, small_slots,
		 PG_CRAFTED | PG_EXTRA_OBJECT | 7u << PG_ALIGN_SHIFT, &h, 0);

	small_config(&h);
	h.delivery = SHOAL_DELIVERY_LOSSY;
	h.capacity = 16;
	h.max_payload = 100;
	h.user_header_size = 0;
	h.slot_stride = slot_stride(0, 100);
	h.history = 15;
	h.max_subscribers = 64;
	geometry("valid-lossy-history", header_bytes(64),
		 16 * (uint64_t)h.slot_stride + 100, 0, &h, 0);

	small_config(&h);
	h.capacity = 2;
	h.max_payload = 1;
	h.user_header_size = SHOAL_PUB_USER_HEADER_MAX;
	h.slot_stride = slot_stride(SHOAL_PUB_USER_HEADER_MAX, 1);
	h.max_subscribers = SHOAL_PUB_SUBSCRIBERS_MAX;
	geometry("valid-limits", header_bytes(SHOAL_PUB_SUBSCRIBERS_MAX),
		 2 * (uint64_t)h.slot_stride, 0, &h, 0);

	/* One thing wrong in each. */
	small_config(&h);
	h.ident.version = SHOAL__PUBSUB_VERSION_POOLS + 1;
	geometry("bad-version", small_hdr, small_slots, 0, &h, -EPROTO);
	/* Version 6 (payload pools) names a pool table object that these
	 * segments never have. */
	small_config(&h);
	h.ident.version = SHOAL__PUBSUB_VERSION_POOLS;
	geometry("bad-pools-no-table", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.ident.magic ^= 1;
	geometry("bad-magic", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.slot_stride -= 64;
	geometry("bad-stride", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.capacity = 6;
	geometry("bad-capacity", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.delivery = 3;
	geometry("bad-delivery", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.history = 8;
	geometry("bad-history", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.user_header_size = 12;
	geometry("bad-user-header", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.max_payload = 0;
	geometry("bad-payload", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	h.max_subscribers = 0;
	geometry("bad-subscribers", small_hdr, small_slots, 0, &h, -EBADMSG);
	small_config(&h);
	geometry("bad-slots-short", small_hdr, small_slots - 1, 0, &h,
		 -EBADMSG);
	geometry("bad-header-short", small_hdr - 1, small_slots, 0, &h,
		 -EBADMSG);
	geometry("bad-header-tiny", 200, small_slots, 0, &h, -EBADMSG);
	geometry("no-slots-object", small_hdr, small_slots, PG_OBJECTS_NO_SLOTS,
		 &h, -EBADMSG);
	geometry("no-header-object", small_hdr, small_slots,
		 PG_OBJECTS_NO_HEADER, &h, -EBADMSG);
	geometry("swapped-kinds", small_hdr, small_slots, PG_OBJECTS_SWAPPED,
		 &h, -EBADMSG);
}

/* ------------------------------------------------------------------------
 * pubsub_take
 */

/* What a take seed must reach: at least these counts (0: no demand);
 * clean 1 or 0 as the run must end, -1 either. */
struct want {
	uint32_t taken, overflow, badmsg, stale, pipe, msgsize, pub_again;
	uint32_t reattached;
	int clean;
};

static void op(struct seed *s, enum pt_op o)
{
	put(s, o, 1);
}

static void take(const char *name, const struct seed *s, struct want w)
{
	struct pt_summary sum;
	int ok;

	save("pubsub_take", name, s);
	pubsub_take_one(s->b, s->n, &sum);
	printf("pubsub_take/%-24s ops %u taken %u overflow %u badmsg %u "
	       "stale %u pipe %u msgsize %u pub_again %u reattached %u "
	       "clean %u\n",
	       name, sum.ops, sum.taken, sum.overflow, sum.badmsg, sum.stale,
	       sum.pipe, sum.msgsize, sum.pub_again, sum.reattached, sum.clean);
	ok = sum.taken >= w.taken && sum.overflow >= w.overflow &&
	     sum.badmsg >= w.badmsg && sum.stale >= w.stale &&
	     sum.pipe >= w.pipe && sum.msgsize >= w.msgsize &&
	     sum.pub_again >= w.pub_again && sum.reattached >= w.reattached &&
	     (w.clean < 0 || (int)sum.clean == w.clean);
	if (!ok) {
		fprintf(stderr, "%s: did not reach what it was made for\n",
			name);
		failures++;
	}
}

static void take_seeds(void)
{
	struct seed s;

	/* Reliable, the default geometry: publish, take, hold, check,
	 * release, read, arm. */
	s.n = 0;
	put(&s, 0, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_WRITE), put(&s, 10, 1);
	op(&s, PT_OP_WRITE), put(&s, 64, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_ARM);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_VALID);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_READ), put(&s, 64, 1), put(&s, 1, 1);
	op(&s, PT_OP_ARM);
	op(&s, PT_OP_WRITE), put(&s, 0, 1);
	op(&s, PT_OP_READ), put(&s, 64, 1), put(&s, 1, 1);
	take("reliable-basic", &s, (struct want){ .taken = 3, .clean = 1 });

	/* Reliable and full: the publisher is refused until the subscriber
	 * moves; then a late joiner with history. */
	s.n = 0;
	put(&s, 3u << PT_C0_PUB_HISTORY_SHIFT | PT_C0_TIMESTAMP, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_BURST), put(&s, 15, 1);
	op(&s, PT_OP_LOAN_ABORT), put(&s, 0, 1), put(&s, 0, 8), put(&s, 0, 4);
	op(&s, PT_OP_READ), put(&s, 70, 1), put(&s, 0, 1);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_BURST), put(&s, 3, 1);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_LOAN_ABORT), put(&s, 0, 1), put(&s, 0, 8), put(&s, 0, 4);
	op(&s, PT_OP_REOPEN), put(&s, 5, 1);
	for (int i = 0; i < 6; i++)
		op(&s, PT_OP_TAKE), put(&s, 1, 1);
	take("reliable-full-history", &s,
	     (struct want){ .taken = 6, .pub_again = 1, .clean = 1 });

	/* Lossy: lapped (-EOVERFLOW with the count), then a held message
	 * overwritten (-ESTALE), an aborted loan in the way, a read into a
	 * buffer too small. */
	s.n = 0;
	put(&s, PT_C0_LOSSY | 2u << PT_C0_SUB_HISTORY_SHIFT, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_BURST), put(&s, 15, 1);
	op(&s, PT_OP_ARM);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_BURST), put(&s, 9, 1);
	op(&s, PT_OP_VALID);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_LOAN_ABORT), put(&s, 0, 1), put(&s, 0, 8), put(&s, 0, 4);
	op(&s, PT_OP_READ), put(&s, 79, 1), put(&s, 1, 1);
	op(&s, PT_OP_READ), put(&s, 79, 1), put(&s, 1, 1);
	op(&s, PT_OP_READ), put(&s, 3, 1), put(&s, 1, 1);
	op(&s, PT_OP_BURST), put(&s, 6, 1);
	op(&s, PT_OP_LOAN_ABORT), put(&s, 0, 1), put(&s, 0, 8), put(&s, 0, 4);
	op(&s, PT_OP_READ), put(&s, 79, 1), put(&s, 1, 1);
	op(&s, PT_OP_READ), put(&s, 79, 1), put(&s, 1, 1);
	take("lossy-lapped-stale", &s,
	     (struct want){ .taken = 2,
			    .overflow = 1,
			    .stale = 1,
			    .msgsize = 1,
			    .clean = 1 });

	/* Other geometries: capacity 2, 1-byte payloads, no user header,
	 * timestamps; capacity 16, 100-byte payloads. */
	s.n = 0;
	put(&s, PT_C0_LOSSY | PT_C0_TIMESTAMP | 1u << PT_C0_PUB_HISTORY_SHIFT,
	    1);
	put(&s,
	    PT_C1_NO_USER_HEADER | 2u << PT_C1_PAYLOAD_SHIFT |
		    1u << PT_C1_CAPACITY_SHIFT,
	    1);
	for (int i = 0; i < 4; i++) {
		op(&s, PT_OP_WRITE), put(&s, 1, 1);
		op(&s, PT_OP_READ), put(&s, 1, 1), put(&s, 1, 1);
		op(&s, PT_OP_WRITE), put(&s, 0, 1);
		op(&s, PT_OP_BURST), put(&s, 2, 1);
		op(&s, PT_OP_TAKE), put(&s, 1, 1);
		op(&s, PT_OP_REOPEN), put(&s, 7, 1);
	}
	take("cap2-tiny", &s,
	     (struct want){ .taken = 4, .overflow = 1, .clean = 1 });
	s.n = 0;
	put(&s, 2u << PT_C0_PUB_HISTORY_SHIFT | 7u << PT_C0_SUB_HISTORY_SHIFT,
	    1);
	put(&s, 3u << PT_C1_PAYLOAD_SHIFT | 3u << PT_C1_CAPACITY_SHIFT, 1);
	op(&s, PT_OP_BURST), put(&s, 12, 1);
	op(&s, PT_OP_REOPEN), put(&s, 7, 1);
	op(&s, PT_OP_WRITE), put(&s, 100, 1);
	op(&s, PT_OP_WRITE), put(&s, 107, 1);
	for (int i = 0; i < 10; i++)
		op(&s, PT_OP_READ), put(&s, 115, 1), put(&s, 1, 1);
	take("cap16-history", &s, (struct want){ .taken = 8, .clean = 1 });

	/* Hostile: a length past max_payload (-EBADMSG), then stamps that
	 * claim a message from the future and one being written. */
	s.n = 0;
	put(&s, 0, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_WRITE), put(&s, 10, 1);
	op(&s, PT_OP_POKE_SLOT), put(&s, 1u << 4 | 7, 1), put(&s, 1000, 8);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_WRITE), put(&s, 10, 1);
	op(&s, PT_OP_POKE_SLOT), put(&s, 3u << 4, 1), put(&s, 0x120, 8);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_POKE_SLOT), put(&s, 3u << 4, 1), put(&s, 0xff, 8);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_VALID);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_READ), put(&s, 64, 1), put(&s, 1, 1);
	take("hostile-len-stamps", &s,
	     (struct want){ .badmsg = 1, .clean = 0 });

	/* Hostile: head far ahead and behind, at joining and when lapped;
	 * raw bytes over slot headers. */
	s.n = 0;
	put(&s,
	    PT_C0_LOSSY | 7u << PT_C0_SUB_HISTORY_SHIFT |
		    3u << PT_C0_PUB_HISTORY_SHIFT,
	    1);
	put(&s, 0, 1);
	op(&s, PT_OP_BURST), put(&s, 10, 1);
	op(&s, PT_OP_POKE_HEAD), put(&s, 1, 1), put(&s, ~0ULL - 3, 8);
	op(&s, PT_OP_REOPEN), put(&s, 7, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_POKE_HEAD), put(&s, 0, 1), put(&s, 0x80, 8);
	op(&s, PT_OP_REOPEN), put(&s, 7, 1);
	op(&s, PT_OP_BURST), put(&s, 15, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_POKE_RAW), put(&s, 0, 2), put(&s, 0x42, 8);
	op(&s, PT_OP_POKE_RAW), put(&s, 8, 2), put(&s, 0xffffffff, 8);
	op(&s, PT_OP_POKE_RAW), put(&s, 136, 2), put(&s, 65, 8);
	for (int i = 0; i < 4; i++)
		op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_READ), put(&s, 79, 1), put(&s, 1, 1);
	take("hostile-head-raw", &s,
	     (struct want){ .overflow = 1, .clean = 0 });

	/* Hostile: closed while messages are pending (they still come,
	 * then -EPIPE); with REATTACH, closed and reopened: the subscriber
	 * comes back to the same publisher. */
	s.n = 0;
	put(&s, PT_C0_REATTACH, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_WRITE), put(&s, 5, 1);
	op(&s, PT_OP_POKE_FLAG), put(&s, 1, 1), put(&s, 1, 4);
	op(&s, PT_OP_POKE_FLAG), put(&s, 0, 1), put(&s, 1, 4);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_ARM);
	op(&s, PT_OP_POKE_FLAG), put(&s, 1, 1), put(&s, 0, 4);
	op(&s, PT_OP_WRITE), put(&s, 6, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_WRITE), put(&s, 7, 1);
	op(&s, PT_OP_TAKE), put(&s, 0, 1);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_POKE_FLAG), put(&s, 1, 1), put(&s, 1, 4);
	op(&s, PT_OP_REOPEN), put(&s, 0, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	take("hostile-closed-reattach", &s,
	     (struct want){
		     .taken = 2, .pipe = 1, .reattached = 1, .clean = 0 });

	/* The same without REATTACH: -EPIPE stays. */
	s.n = 0;
	put(&s, PT_C0_LOSSY, 1);
	put(&s, 0, 1);
	op(&s, PT_OP_WRITE), put(&s, 5, 1);
	op(&s, PT_OP_POKE_FLAG), put(&s, 1, 1), put(&s, 7, 4);
	op(&s, PT_OP_READ), put(&s, 64, 1), put(&s, 0, 1);
	op(&s, PT_OP_READ), put(&s, 64, 1), put(&s, 0, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	op(&s, PT_OP_ARM);
	op(&s, PT_OP_RELEASE);
	op(&s, PT_OP_REOPEN), put(&s, 0, 1);
	op(&s, PT_OP_TAKE), put(&s, 1, 1);
	take("hostile-closed", &s,
	     (struct want){ .taken = 1, .pipe = 1, .clean = 0 });
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	snprintf(outdir, sizeof(outdir), "%s", argv[1]);
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	geometry_seeds();
	take_seeds();
	return failures ? 1 : 0;
}
