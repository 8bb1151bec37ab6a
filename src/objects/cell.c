/* SPDX-License-Identifier: MIT */
/*
 * The cell and the seqval protocol under it: the seqlock latch described in
 * cell.h. Values are copied word by word with relaxed atomic loads and
 * stores (Boehm, "Can seqlocks get along with programming language memory
 * models?", 2012): a reader's copy races with a writer's by design and is
 * thrown away when the stamp says so, and relaxed atomics make that race
 * defined behaviour (and visible to ThreadSanitizer as such) at the cost of
 * nothing on x86-64 and AArch64, where they are plain loads and stores.
 * Each copy is a multiple of 8 bytes, so the words never leave it.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "objects/cell.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "64-bit atomics in shared memory must be lock-free");

static uint64_t copy_stride(uint32_t value_size)
{
	return shoal__obj_round(value_size, SHOAL__OBJ_ALIGN);
}

/*
 * Copies @size bytes out of the 8-aligned shared words at @src, which a
 * writer may be changing meanwhile: the caller's stamp re-check after an
 * acquire fence throws away any copy a writer touched, so what a torn copy
 * holds never matters. The words are loaded as relaxed atomics under
 * ThreadSanitizer, so that it checks the protocol rather than reporting the
 * race the seqlock is built on. Everywhere else they are loaded with
 * memcpy: relaxed atomics are one 8-byte load each, never merged into wider
 * ones, and a blackboard read is little more than this copy (in one
 * process, a 64-byte read took 6.3 ns with the word loop and 5.0 ns with
 * memcpy, against 1.6 ns for a bare seqlock's inlined read).
 */
static void words_load(void *out, const unsigned char *src, uint32_t size)
{
#if SHOAL__TSAN
	const _Atomic uint64_t *w = (const _Atomic uint64_t *)(const void *)src;
	unsigned char *o = out;
	uint32_t i, n = size / 8;

	for (i = 0; i < n; i++) {
		uint64_t v = atomic_load_explicit(&w[i], memory_order_relaxed);

		memcpy(o + 8 * (size_t)i, &v, 8);
	}
	if (size % 8) {
		uint64_t v = atomic_load_explicit(&w[n], memory_order_relaxed);

		memcpy(o + 8 * (size_t)n, &v, size % 8);
	}
#else
	memcpy(out, src, size);
#endif
}

/* Stores @len bytes of @value and zeros up to @size (rounded up to 8) into
 * the shared words at @dst. */
static void words_store(unsigned char *dst, uint32_t size, const void *value,
			size_t len)
{
	_Atomic uint64_t *w = (_Atomic uint64_t *)(void *)dst;
	const unsigned char *v = value;
	uint32_t i, n = (size + 7) / 8;

	for (i = 0; i < n; i++) {
		uint64_t x = 0;
		size_t at = 8 * (size_t)i;

		if (at < len)
			memcpy(&x, v + at, len - at < 8 ? len - at : 8);
		atomic_store_explicit(&w[i], x, memory_order_relaxed);
	}
}

/* The read, inlined into shoal__cell_read(): a blackboard read is this and
 * little else, so a call less is a visible share of it. */
static inline int seqval_read(const struct shoal__seqval *sv,
			      const unsigned char *copies, uint64_t stride,
			      uint32_t size, void *out, uint64_t *change_count)
{
	/* The struct is read-only to us; the atomics API wants non-const. */
	struct shoal__seqval *w = (struct shoal__seqval *)sv;

	for (uint32_t tries = 0; tries < SHOAL__OBJ_RETRY_BUDGET; tries++) {
		/* Acquire: pairs with the writer's release store of seq = n
		 * (shoal__seqval_store()): copy n & 1's stamp 2n, stored
		 * before it, is visible. */
		uint64_t s =
			atomic_load_explicit(&w->seq, memory_order_acquire);
		unsigned c = (unsigned)(s & 1);
		/* Acquire: pairs with the release store of stamp 2s, which
		 * follows the copy's words: seeing 2s, we see them. */
		uint64_t st = atomic_load_explicit(&w->stamp[c],
						   memory_order_acquire);

		if (st != 2 * s) {
			/* A writer changes copy c only for change s + 2,
			 * after it stored seq = s + 1 (its odd stamp store
			 * is a release after that). seq still s here means
			 * nobody did: the region is corrupt. */
			if (atomic_load_explicit(&w->seq,
						 memory_order_relaxed) == s)
				return shoal__fail(-EBADMSG,
						   "seqval: change %llu's copy "
						   "has stamp %llu",
						   (unsigned long long)s,
						   (unsigned long long)st);
			continue;
		}
		words_load(out, copies + c * stride, size);
		/* Acquire fence: pairs with the writer's release fence after
		 * its odd stamp store. If any word we copied came from a
		 * later write into copy c, the reload below sees that odd
		 * stamp (or later), not st. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&w->stamp[c], memory_order_relaxed) ==
		    st) {
			if (change_count)
				*change_count = s;
			return 0;
		}
	}
	return shoal__fail(-EAGAIN,
			   "seqval: overtaken by writers %u times in a row",
			   SHOAL__OBJ_RETRY_BUDGET);
}

int shoal__seqval_read(const struct shoal__seqval *sv,
		       const unsigned char *copies, uint64_t stride,
		       uint32_t size, void *out, uint64_t *change_count)
{
	return seqval_read(sv, copies, stride, size, out, change_count);
}

void shoal__seqval_store(struct shoal__seqval *sv, unsigned char *copies,
			 uint64_t stride, uint32_t size, const void *value,
			 size_t len)
{
	/* We are the only writer (latch or promise): seq is ours to move.
	 * Any value is safe to use: it only picks copy n & 1. */
	uint64_t n = atomic_load_explicit(&sv->seq, memory_order_relaxed) + 1;
	unsigned c = (unsigned)(n & 1);

	/* Release: seq = n - 1 (our previous store, or the previous
	 * writer's, which we acquired through the latch) is visible before
	 * the odd stamp; a reader that sees the odd stamp and then seq still
	 * n - 2 knows the region is corrupt (shoal__seqval_read()). */
	atomic_store_explicit(&sv->stamp[c], 2 * n + 1, memory_order_release);
	/* Release fence: the odd stamp is ordered before every word below;
	 * pairs with the reader's acquire fence before its stamp reload. */
	atomic_thread_fence(memory_order_release);
	words_store(copies + c * stride, size, value, len);
	/* Release: the words above before stamp 2n; pairs with the reader's
	 * acquire load of the stamp. */
	atomic_store_explicit(&sv->stamp[c], 2 * n, memory_order_release);
	/* Release: stamp 2n before seq = n; pairs with the reader's acquire
	 * load of seq. */
	atomic_store_explicit(&sv->seq, n, memory_order_release);
}

static uint64_t latch_word(uint32_t gen, uint32_t owner)
{
	return (uint64_t)gen << 32 | owner;
}

int shoal__seqval_latch(struct shoal__seqval *sv,
			const struct shoal__obj_who *who, uint64_t *word)
{
	for (uint32_t tries = 0; tries < SHOAL__OBJ_RETRY_BUDGET; tries++) {
		uint64_t cur =
			atomic_load_explicit(&sv->latch, memory_order_relaxed);
		uint32_t holder = (uint32_t)cur;
		uint64_t mine =
			latch_word((uint32_t)(cur >> 32) + 1, who->owner);

		/* Free (holder 0), or held by a dead owner: taken over from
		 * its exact word (a holder that let go and took it again
		 * since is a different word, so the CAS fails). Our own
		 * owner token is a holder that is not us (a view takes the
		 * latch once and lets go before returning), so the process
		 * that had our token before us, now dead: objects.h asks
		 * for one token per concurrent writer. */
		if (holder == 0 || holder == who->owner ||
		    (who->alive && !who->alive(holder, who->user_data))) {
			/* Acquire: pairs with the release in
			 * shoal__seqval_unlatch() of the last holder, so
			 * its seq and stamps are visible to us. A dead
			 * holder's stores are all visible once it is known
			 * dead (the kernel reaped it). */
			if (atomic_compare_exchange_strong_explicit(
				    &sv->latch, &cur, mine,
				    memory_order_acquire,
				    memory_order_relaxed)) {
				*word = mine;
				return 0;
			}
			continue;
		}
		shoal__cpu_relax();
	}
	return shoal__fail(-EBUSY,
			   "seqval: the latch stayed held by a live writer");
}

void shoal__seqval_unlatch(struct shoal__seqval *sv, uint64_t word)
{
	/* Release: our seq and stamp stores before the latch is free; pairs
	 * with the acquire CAS of the next holder. By CAS: if someone took
	 * it over from us (alive() lied), leave theirs alone. */
	atomic_compare_exchange_strong_explicit(&sv->latch, &word,
						word & 0xffffffff00000000ull,
						memory_order_release,
						memory_order_relaxed);
}

int shoal__seqval_write(struct shoal__seqval *sv, unsigned char *copies,
			uint64_t stride, uint32_t size, const void *value,
			size_t len, const struct shoal__obj_who *who, int latch)
{
	uint64_t word = 0;
	int err;

	if (latch) {
		err = shoal__seqval_latch(sv, who, &word);
		if (err)
			return err;
	}
	shoal__seqval_store(sv, copies, stride, size, value, len);
	if (latch)
		shoal__seqval_unlatch(sv, word);
	return 0;
}

size_t shoal__cell_bytes(uint32_t value_size)
{
	if (!value_size || value_size > SHOAL__CELL_VALUE_MAX)
		return 0;
	return (size_t)(sizeof(struct shoal__obj_header) +
			sizeof(struct shoal__cell_ctl) +
			2 * copy_stride(value_size));
}

static int mode_ok(uint32_t mode)
{
	return mode == SHOAL__CELL_ONE_WRITER ||
	       mode == SHOAL__CELL_MANY_WRITERS;
}

int shoal__cell_format(void *region, size_t len, uint32_t value_size,
		       uint32_t mode)
{
	size_t need = shoal__cell_bytes(value_size);
	struct shoal__cell_ctl *ctl;

	if (!need || !mode_ok(mode))
		return shoal__fail(-EINVAL,
				   "cell_format: value size %u (1..%u) or "
				   "mode %u invalid",
				   value_size, SHOAL__CELL_VALUE_MAX, mode);
	if (shoal__obj_format(region, len, need, SHOAL__OBJ_KIND_CELL,
			      (const uint32_t[4]){ value_size, mode },
			      "cell_format"))
		return -EINVAL;
	ctl = (struct shoal__cell_ctl *)((struct shoal__obj_header *)region +
					 1);
	atomic_store_explicit(&ctl->sv.seq, 0, memory_order_relaxed);
	/* Change 0 (all zero) whole in copy 0; copy 1 never written (odd). */
	atomic_store_explicit(&ctl->sv.stamp[0], 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->sv.stamp[1], 1, memory_order_relaxed);
	atomic_store_explicit(&ctl->sv.latch, 0, memory_order_relaxed);
	return 0;
}

int shoal__cell_attach(struct shoal__cell *view, void *region, size_t len,
		       uint32_t value_size, uint32_t mode,
		       const struct shoal__obj_who *who)
{
	struct shoal__cell v = { 0 };
	size_t need = shoal__cell_bytes(value_size);
	int err;

	if (!view || !need || !mode_ok(mode))
		return shoal__fail(-EINVAL,
				   "cell_attach: value size %u or mode %u "
				   "invalid",
				   value_size, mode);
	err = shoal__obj_check(region, len, need, SHOAL__OBJ_KIND_CELL,
			       (const uint32_t[4]){ value_size, mode }, who,
			       "cell_attach");
	if (err)
		return err;
	v.priv_ctl = (struct shoal__cell_ctl *)((unsigned char *)region + 64);
	v.priv_copies = (unsigned char *)region + 128;
	v.priv_stride = copy_stride(value_size);
	v.priv_value_size = value_size;
	v.priv_mode = mode;
	if (who) {
		v.priv_who = *who;
		v.priv_can_write = 1;
	}
	*view = v;
	return 0;
}

int shoal__cell_read(const struct shoal__cell *view, void *out, size_t cap,
		     uint64_t *change_count)
{
	int err;

	if (cap < view->priv_value_size)
		return shoal__fail(-EMSGSIZE,
				   "cell_read: %zu-byte buffer, %u-byte value",
				   cap, view->priv_value_size);
	err = seqval_read(&view->priv_ctl->sv, view->priv_copies,
			  view->priv_stride, view->priv_value_size, out,
			  change_count);
	return err ? err : (int)view->priv_value_size;
}

int shoal__cell_write(struct shoal__cell *view, const void *value, size_t len)
{
	if (!view->priv_can_write)
		return shoal__fail(-EPERM, "cell_write: read-only view");
	if (len > view->priv_value_size)
		return shoal__fail(-EMSGSIZE,
				   "cell_write: %zu bytes, the value has %u",
				   len, view->priv_value_size);
	return shoal__seqval_write(&view->priv_ctl->sv, view->priv_copies,
				   view->priv_stride, view->priv_value_size,
				   value, len, &view->priv_who,
				   view->priv_mode == SHOAL__CELL_MANY_WRITERS);
}

uint64_t shoal__cell_change_count(const struct shoal__cell *view)
{
	/* Acquire: pairs with the writer's release store of seq. */
	return atomic_load_explicit(&view->priv_ctl->sv.seq,
				    memory_order_acquire);
}

uint32_t shoal__cell_value_size(const struct shoal__cell *view)
{
	return view->priv_value_size;
}
