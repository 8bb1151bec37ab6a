/* SPDX-License-Identifier: MIT */
/*
 * The cell: one value of a fixed size that readers copy out whole while
 * writers replace it, over a region of shared memory. It is the blackboard
 * entry of the store, and its value protocol (the "seqval") is also what
 * each map slot uses for its value. No system calls.
 *
 * The algorithm is the seqlock latch (Linux's seqcount_latch, as the
 * kernel's timekeeping uses it): two copies of the value and a change
 * counter seq. Change n (n >= 1) is written into copy n & 1 while copy
 * (n - 1) & 1 keeps change n - 1 whole, so a reader always has a complete
 * copy to take: the newest complete one. Each copy has a stamp: 2n while it
 * holds change n whole, 2n + 1 while change n is being written into it.
 *  - Writer of change n = seq + 1: stamp[n & 1] = 2n + 1; release fence;
 *    copy the value in; release-store stamp[n & 1] = 2n; release-store
 *    seq = n.
 *  - Reader: acquire-load seq = s; acquire-load stamp[s & 1], which must be
 *    2s; copy out; acquire fence; reload the stamp: unchanged, the copy is
 *    whole and is change s. Otherwise a writer has since begun change s + 2
 *    in that copy (it is two changes ahead): start again, up to
 *    SHOAL__OBJ_RETRY_BUDGET times, then -EAGAIN.
 * A writer SIGKILLed at any point leaves seq at the last complete change,
 * whose copy it never touched: readers go on reading it, and the next
 * writer writes the same change number again over the dead one's partial
 * copy. Readers never write the region (a read-only mapping is enough) and
 * never wait for a writer.
 *
 * Writers: in SHOAL__CELL_ONE_WRITER mode the caller promises one writer at
 * a time (no latch word is taken). In SHOAL__CELL_MANY_WRITERS mode a writer
 * first takes the latch word (generation << 32 | owner) by CAS from 0; a
 * latch held by an owner the view's alive() says is dead is taken over by
 * CAS from the dead holder's exact word (the generation makes the takeover
 * exact). A live holder is waited for, up to the retry budget, then -EBUSY.
 * If alive() lies ("dead" while the holder still writes), two writers may
 * write one copy at once and a reader may see a torn value: the test must be
 * definitive.
 */
#ifndef SHOAL_SRC_OBJECTS_CELL_H
#define SHOAL_SRC_OBJECTS_CELL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "objects/objects.h"

#define SHOAL__CELL_ONE_WRITER 1u
#define SHOAL__CELL_MANY_WRITERS 2u
/* Largest value a cell holds, bytes. */
#define SHOAL__CELL_VALUE_MAX (1u << 24)

/*
 * The seqval control words, shared by the cell and each map slot. Written by
 * the writer of the moment only (the latch holder, or the one writer);
 * readers only load them.
 */
struct shoal__seqval {
	_Atomic uint64_t seq;	   /* completed changes; release, last */
	_Atomic uint64_t stamp[2]; /* 2n whole, 2n + 1 writing, per copy */
	_Atomic uint64_t latch;	   /* generation << 32 | owner, 0 free */
};
_Static_assert(sizeof(struct shoal__seqval) == 32, "seqval");

/*
 * A cell region (docs/objects.md, "Cell"):
 *	[0, 64)		struct shoal__obj_header, p[0] value_size, p[1] mode
 *	[64, 128)	struct shoal__cell_ctl
 *	[128, ...)	copy 0, then copy 1, each value_size rounded up to 64
 */
struct shoal__cell_ctl {
	struct shoal__seqval sv;
	uint8_t pad[32];
};
_Static_assert(sizeof(struct shoal__cell_ctl) == 64, "cell control line");

/* A process-local view of a cell; fields are private. */
struct shoal__cell {
	struct shoal__cell_ctl *priv_ctl;
	unsigned char *priv_copies; /* copy 0; copy 1 at + priv_stride */
	uint64_t priv_stride;
	uint32_t priv_value_size;
	uint32_t priv_mode;
	struct shoal__obj_who priv_who;
	int priv_can_write;
};

/* Bytes a cell region of @value_size needs (a multiple of 64), or 0 if
 * @value_size is not in 1..SHOAL__CELL_VALUE_MAX. */
size_t shoal__cell_bytes(uint32_t value_size);

/*
 * shoal__cell_format - lay out a cell in @region (64-byte aligned, @len >=
 * shoal__cell_bytes()): value all zero bytes, change count 0. Once, by the
 * region's creator, before anyone attaches. 0 or -EINVAL.
 */
int shoal__cell_format(void *region, size_t len, uint32_t value_size,
		       uint32_t mode);

/*
 * shoal__cell_attach - check the cell in @region against the geometry the
 * caller expects and fill @view. @who NULL: the view only reads. Returns 0,
 * -EINVAL (bad arguments, or @who's owner out of range), -EBADMSG (the
 * header disagrees, with the detail in shoal_last_error()).
 */
int shoal__cell_attach(struct shoal__cell *view, void *region, size_t len,
		       uint32_t value_size, uint32_t mode,
		       const struct shoal__obj_who *who);

/*
 * shoal__cell_read - copy the newest complete value into @out (@cap >=
 * value size) and, if @change_count is not NULL, the number of the change
 * it is (0: never written). Returns the value size, -EMSGSIZE (@cap too
 * small), -EAGAIN (writers overtook this reader SHOAL__OBJ_RETRY_BUDGET
 * times: call again), -EBADMSG (a stamp that disagrees with an unchanged
 * seq: a scribbled region). @out is unspecified after an error. Never
 * writes the region; never waits for a writer; any number of readers at
 * once.
 */
int shoal__cell_read(const struct shoal__cell *view, void *out, size_t cap,
		     uint64_t *change_count);

/*
 * shoal__cell_write - make @len bytes of @value (the rest zero) the cell's
 * value, as change count + 1. Returns 0, -EMSGSIZE (@len > value size),
 * -EPERM (read-only view), -EBUSY (many-writer mode: a live writer held the
 * latch through the retry budget; call again). One writer at a time in
 * one-writer mode (the caller's promise); any number in many-writer mode.
 */
int shoal__cell_write(struct shoal__cell *view, const void *value, size_t len);

/* The number of complete changes (acquire: a read after it sees at least
 * that change). */
uint64_t shoal__cell_change_count(const struct shoal__cell *view);

uint32_t shoal__cell_value_size(const struct shoal__cell *view);

/*
 * The seqval protocol for map.c: @copies points at copy 0, copy 1 is at
 * copies + stride, each holds @size bytes, all inside the caller's region.
 * read: as shoal__cell_read() (returns 0, not the size). write: latch
 * (when @latch), then as shoal__cell_write(); -EBUSY as there.
 */
int shoal__seqval_read(const struct shoal__seqval *sv,
		       const unsigned char *copies, uint64_t stride,
		       uint32_t size, void *out, uint64_t *change_count);
int shoal__seqval_write(struct shoal__seqval *sv, unsigned char *copies,
			uint64_t stride, uint32_t size, const void *value,
			size_t len, const struct shoal__obj_who *who,
			int latch);
/* The latch alone (map.c takes it around a revive): 0 and *@word (what to
 * hand to unlatch), or -EBUSY. */
int shoal__seqval_latch(struct shoal__seqval *sv,
			const struct shoal__obj_who *who, uint64_t *word);
void shoal__seqval_unlatch(struct shoal__seqval *sv, uint64_t word);
/* The write steps without the latch (caller holds it or is the only one). */
void shoal__seqval_store(struct shoal__seqval *sv, unsigned char *copies,
			 uint64_t stride, uint32_t size, const void *value,
			 size_t len);

#endif
