/* SPDX-License-Identifier: MIT */
/*
 * The stack: Treiber's stack on node indices with a tag against ABA, and a
 * claim word per list so that every change of a list is named in the region
 * before it happens (stack.h has the algorithm; docs/objects.md the layout;
 * models/store_stack.pml the model).
 *
 * Invariants, for a list whose top holds tag T:
 *  - its pending word holds tag T - 1 (no operation claimed at T yet) or T
 *    (exactly one: whoever moves top next must finish it);
 *  - top leaves tag T only by a CAS to T + 1 by someone who read the claim
 *    for T; tags grow by one per change, so a top word never comes back
 *    (short of 2^32 changes while a process sleeps between two loads);
 *  - a node is on a list iff its holder is 0, except inside a claimed
 *    operation: a pop's helpers set the holder before they move top, a
 *    push's clear it before they move top;
 *  - a held node is written only by its holder (element, next).
 * Whoever finishes a claim loads the node's state and next and then checks
 * that top is unchanged: they were read while the claim was current, so the
 * CAS of the state from that value cannot succeed in a later epoch (the
 * version changes with every push), and the CAS of top fails if anyone
 * finished first.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/error.h"
#include "objects/stack.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "64-bit atomics in shared memory must be lock-free");

enum {
	FREE = 0,
	USED = 1
};

#define HEADS_OFF 64
#define NODES_OFF 192

static uint32_t tag_of(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

static uint32_t low_of(uint64_t w)
{
	return (uint32_t)w;
}

static uint64_t word(uint32_t hi, uint32_t lo)
{
	return (uint64_t)hi << 32 | lo;
}

uint64_t shoal__stack_stride(uint32_t elem_size)
{
	return shoal__obj_round((uint64_t)SHOAL__STACK_NODE_HEADER + elem_size,
				SHOAL__OBJ_ALIGN);
}

size_t shoal__stack_bytes(uint32_t elem_size, uint32_t capacity)
{
	if (!elem_size || elem_size > SHOAL__STACK_ELEM_MAX || !capacity ||
	    capacity > SHOAL__STACK_CAPACITY_MAX)
		return 0;
	return (size_t)(NODES_OFF +
			(uint64_t)capacity * shoal__stack_stride(elem_size));
}

static struct shoal__stack_node *node_at(const struct shoal__stack *v,
					 uint32_t i)
{
	return (struct shoal__stack_node *)(v->priv_nodes +
					    (uint64_t)i * v->priv_stride);
}

static unsigned char *elem_at(const struct shoal__stack *v, uint32_t i)
{
	return (unsigned char *)node_at(v, i) + SHOAL__STACK_NODE_HEADER;
}

int shoal__stack_format(void *region, size_t len, uint32_t elem_size,
			uint32_t capacity)
{
	size_t need = shoal__stack_bytes(elem_size, capacity);
	struct shoal__stack_head *heads;
	unsigned char *nodes;
	uint64_t stride = shoal__stack_stride(elem_size);

	if (!need)
		return shoal__fail(-EINVAL,
				   "stack_format: element size %u (1..%u) or "
				   "capacity %u (1..%u) invalid",
				   elem_size, SHOAL__STACK_ELEM_MAX, capacity,
				   SHOAL__STACK_CAPACITY_MAX);
	if (shoal__obj_format(region, len, need, SHOAL__OBJ_KIND_STACK,
			      (const uint32_t[4]){ elem_size, capacity },
			      "stack_format"))
		return -EINVAL;
	heads = (struct shoal__stack_head *)((unsigned char *)region +
					     HEADS_OFF);
	nodes = (unsigned char *)region + NODES_OFF;
	/* Every node on free, in index order; used empty. Pending at tag
	 * -1: nothing claimed at tag 0. */
	atomic_store_explicit(&heads[FREE].top, word(0, 0),
			      memory_order_relaxed);
	atomic_store_explicit(&heads[USED].top, word(0, SHOAL__STACK_NIL),
			      memory_order_relaxed);
	for (int l = 0; l < 2; l++)
		atomic_store_explicit(&heads[l].pending, word(UINT32_MAX, 0),
				      memory_order_relaxed);
	for (uint32_t i = 0; i < capacity; i++) {
		struct shoal__stack_node *n =
			(struct shoal__stack_node *)(nodes + i * stride);

		atomic_store_explicit(
			&n->next, i + 1 < capacity ? i + 1 : SHOAL__STACK_NIL,
			memory_order_relaxed);
		atomic_store_explicit(&n->state, 0, memory_order_relaxed);
	}
	return 0;
}

int shoal__stack_attach(struct shoal__stack *view, void *region, size_t len,
			uint32_t elem_size, uint32_t capacity,
			const struct shoal__obj_who *who)
{
	struct shoal__stack v = { 0 };
	size_t need = shoal__stack_bytes(elem_size, capacity);
	int err;

	if (!view || !need)
		return shoal__fail(-EINVAL,
				   "stack_attach: element size %u or capacity "
				   "%u invalid",
				   elem_size, capacity);
	err = shoal__obj_check(region, len, need, SHOAL__OBJ_KIND_STACK,
			       (const uint32_t[4]){ elem_size, capacity }, who,
			       "stack_attach");
	if (err)
		return err;
	v.priv_heads = (struct shoal__stack_head *)((unsigned char *)region +
						    HEADS_OFF);
	v.priv_nodes = (unsigned char *)region + NODES_OFF;
	v.priv_stride = shoal__stack_stride(elem_size);
	v.priv_elem_size = elem_size;
	v.priv_capacity = capacity;
	if (who) {
		v.priv_who = *who;
		v.priv_can_write = 1;
	}
	*view = v;
	return 0;
}

static int corrupt(const char *what, uint64_t top, uint64_t x)
{
	return shoal__fail(-EBADMSG,
			   "stack: %s (top %#llx, word %#llx): corrupt region",
			   what, (unsigned long long)top,
			   (unsigned long long)x);
}

/* Nonzero if @l's top still holds @top. Acquire: pairs with the release CAS
 * of top in advance(), as every top load here does. */
static int top_is(struct shoal__stack_head *l, uint64_t top)
{
	return atomic_load_explicit(&l->top, memory_order_acquire) == top;
}

/*
 * Finishes the operation @pend claims at @top's tag on list @l: sets the
 * node's state, then moves top. 0 when done or when top has moved on
 * already (the caller reloads), -EBADMSG for a claim that cannot be.
 */
static int advance(const struct shoal__stack *v, struct shoal__stack_head *l,
		   uint64_t top, uint64_t pend)
{
	uint32_t t = tag_of(top), op = low_of(pend), i;
	struct shoal__stack_node *n;
	uint64_t s, next = 0, to;

	if (op & SHOAL__STACK_OP_PUSH) {
		i = op & ~SHOAL__STACK_OP_PUSH;
		if (i >= v->priv_capacity)
			return top_is(l, top) ?
				       corrupt("push claim out of range", top,
					       pend) :
				       0;
		n = node_at(v, i);
		/* Acquire: pairs with the release CAS of the state by the
		 * pop that gave the node to its holder, or by recover(). */
		s = atomic_load_explicit(&n->state, memory_order_acquire);
		if (!top_is(l, top))
			return 0;
		/* Read while the claim was current: holder set (the pusher
		 * holds it) or already cleared by another helper. Version
		 * + 1: the state word of this epoch never comes back. */
		if (low_of(s))
			atomic_compare_exchange_strong_explicit(
				&n->state, &s, word(tag_of(s) + 1, 0),
				memory_order_release, memory_order_relaxed);
		to = word(t + 1, i);
	} else {
		i = low_of(top);
		if (i >= v->priv_capacity)
			return top_is(l, top) ? corrupt("pop claim on a list "
							"whose top is out of "
							"range",
							top, pend) :
						0;
		n = node_at(v, i);
		/* Acquire: as above; next was written by the node's pusher
		 * before its claim, whose release chain we acquired with
		 * top. */
		s = atomic_load_explicit(&n->state, memory_order_acquire);
		next = atomic_load_explicit(&n->next, memory_order_relaxed);
		if (!top_is(l, top))
			return 0;
		if ((uint32_t)next != SHOAL__STACK_NIL &&
		    (next >= v->priv_capacity))
			return corrupt("next out of range", top, next);
		if (!low_of(s))
			atomic_compare_exchange_strong_explicit(
				&n->state, &s, word(tag_of(s), op),
				memory_order_release, memory_order_relaxed);
		else if (low_of(s) != op)
			return corrupt("node on top held by another", top, s);
		to = word(t + 1, (uint32_t)next);
	}
	/* Release: the state CAS above (ours or a fellow helper's, which we
	 * read) and, through the claim we acquired, the claimer's writes
	 * before it, are visible to whoever acquires this top; pairs with
	 * the acquire loads of top. Fails if someone finished first. */
	atomic_compare_exchange_strong_explicit(
		&l->top, &top, to, memory_order_release, memory_order_relaxed);
	return 0;
}

/*
 * Loads @l's top and pending consistently with no claim at top's tag,
 * finishing one if there is: 0 with *@top and *@pend, -EBUSY, -EBADMSG.
 */
static int settle(const struct shoal__stack *v, struct shoal__stack_head *l,
		  uint64_t *top, uint64_t *pend, uint32_t *tries)
{
	for (; *tries < SHOAL__OBJ_RETRY_BUDGET; (*tries)++) {
		uint64_t t =
			atomic_load_explicit(&l->top, memory_order_acquire);
		/* Acquire: pairs with the release CAS of the claim, so a
		 * push's next and element are visible to us as helper. */
		uint64_t p =
			atomic_load_explicit(&l->pending, memory_order_acquire);
		int err;

		if (tag_of(p) == tag_of(t)) {
			err = advance(v, l, t, p);
			if (err)
				return err;
			continue;
		}
		if (tag_of(p) != tag_of(t) - 1) {
			/* top loaded before pending: a sane list may have
			 * moved on meanwhile, but not if top still holds. */
			if (top_is(l, t))
				return corrupt("claim tag impossible", t, p);
			continue;
		}
		*top = t;
		*pend = p;
		return 0;
	}
	return shoal__fail(-EBUSY, "stack: retry budget spent");
}

/* After our claim at tag @t: make sure it is finished (top moved past t),
 * by us if nobody did. */
static int finish(const struct shoal__stack *v, struct shoal__stack_head *l,
		  uint32_t t, uint64_t claim)
{
	for (int k = 0; k < 4; k++) {
		uint64_t top =
			atomic_load_explicit(&l->top, memory_order_acquire);
		int err;

		if (tag_of(top) != t)
			return 0;
		err = advance(v, l, top, claim);
		if (err)
			return err;
	}
	/* Top stayed at our tag though every CAS of it failed: only a
	 * scribble does that. */
	return shoal__fail(-EBADMSG, "stack: claimed operation cannot finish");
}

/* Takes the top node of list @which for this view: 0 and *@out (held by
 * us), -EAGAIN empty, -EBUSY, -EBADMSG. */
static int take(struct shoal__stack *v, int which, uint32_t *out)
{
	struct shoal__stack_head *l = &v->priv_heads[which];
	uint32_t tries = 0;

	for (; tries < SHOAL__OBJ_RETRY_BUDGET; tries++) {
		uint64_t top, pend, claim;
		uint32_t i;
		int err = settle(v, l, &top, &pend, &tries);

		if (err)
			return err;
		i = low_of(top);
		if (i == SHOAL__STACK_NIL)
			return -EAGAIN;
		if (i >= v->priv_capacity)
			return corrupt("top out of range", top, pend);
		claim = word(tag_of(top),
			     SHOAL__STACK_OP_POP | v->priv_who.owner);
		/* Relaxed: a pop's claim publishes nothing of ours; the
		 * node's contents were acquired with top in settle(). The
		 * CAS fails if anyone claimed tag T meanwhile. */
		if (!atomic_compare_exchange_strong_explicit(
			    &l->pending, &pend, claim, memory_order_relaxed,
			    memory_order_relaxed))
			continue;
		/* Claimed: i is ours from here on, whoever finishes. */
		err = finish(v, l, tag_of(top), claim);
		if (err)
			return err;
		*out = i;
		return 0;
	}
	return shoal__fail(-EBUSY, "stack: retry budget spent");
}

/* Pushes node @i, held by us, onto list @which: 0, -EBUSY, -EBADMSG (the
 * node then stays held by us). */
static int put(struct shoal__stack *v, int which, uint32_t i)
{
	struct shoal__stack_head *l = &v->priv_heads[which];
	uint32_t tries = 0;

	for (; tries < SHOAL__OBJ_RETRY_BUDGET; tries++) {
		uint64_t top, pend, claim;
		int err = settle(v, l, &top, &pend, &tries);

		if (err)
			return err;
		atomic_store_explicit(&node_at(v, i)->next, low_of(top),
				      memory_order_relaxed);
		claim = word(tag_of(top), SHOAL__STACK_OP_PUSH | i);
		/* Release: next and the element written before it are
		 * visible to whoever acquires the claim (advance()'s
		 * helpers, then the poppers through top). */
		if (!atomic_compare_exchange_strong_explicit(
			    &l->pending, &pend, claim, memory_order_release,
			    memory_order_relaxed))
			continue;
		return finish(v, l, tag_of(top), claim);
	}
	return shoal__fail(-EBUSY, "stack: retry budget spent");
}

int shoal__stack_push(struct shoal__stack *view, const void *elem, size_t len)
{
	unsigned char *e;
	uint32_t i;
	int err;

	if (!view->priv_can_write)
		return shoal__fail(-EPERM, "stack_push: read-only view");
	if (len > view->priv_elem_size)
		return shoal__fail(-EMSGSIZE,
				   "stack_push: %zu bytes, elements have %u",
				   len, view->priv_elem_size);
	err = take(view, FREE, &i);
	if (err == -EAGAIN)
		return shoal__fail(-ENOSPC,
				   "stack_push: no free node (full, or held by "
				   "dead processes until recover)");
	if (err)
		return err;
	/* Plain stores: the node is ours alone until our push claim
	 * (release) hands it over. */
	e = elem_at(view, i);
	memcpy(e, elem, len);
	memset(e + len, 0, view->priv_elem_size - len);
	return put(view, USED, i);
}

int shoal__stack_pop(struct shoal__stack *view, void *out, size_t cap)
{
	uint32_t i;
	int err;

	if (!view->priv_can_write)
		return shoal__fail(-EPERM, "stack_pop: read-only view");
	if (cap < view->priv_elem_size)
		return shoal__fail(-EMSGSIZE,
				   "stack_pop: %zu-byte buffer, %u-byte "
				   "elements",
				   cap, view->priv_elem_size);
	err = take(view, USED, &i);
	if (err)
		return err;
	/* Ours alone: its pusher's writes were acquired with top. */
	memcpy(out, elem_at(view, i), view->priv_elem_size);
	err = put(view, FREE, i);
	return err ? err : (int)view->priv_elem_size;
}

/* Finishes whatever is claimed on both lists now. */
static int settle_both(struct shoal__stack *v)
{
	for (int l = 0; l < 2; l++) {
		uint64_t top, pend;
		uint32_t tries = 0;
		int err = settle(v, &v->priv_heads[l], &top, &pend, &tries);

		if (err)
			return err;
	}
	return 0;
}

int shoal__stack_recover(struct shoal__stack *view)
{
	const struct shoal__obj_who *who = &view->priv_who;
	int freed = 0, err;

	if (!view->priv_can_write)
		return shoal__fail(-EPERM, "stack_recover: read-only view");
	if (!who->alive)
		return 0;
	/* A claim nobody finished (its claimer and every helper gone) is
	 * finished first: a pop claimed by a dead owner then holds its node
	 * in the state words scanned below. */
	err = settle_both(view);
	if (err)
		return err;
	for (uint32_t i = 0; i < view->priv_capacity; i++) {
		struct shoal__stack_node *n = node_at(view, i);
		/* Acquire: pairs with the release CASes of the state. */
		uint64_t s =
			atomic_load_explicit(&n->state, memory_order_acquire);
		uint32_t h = low_of(s);

		if (!h || h == who->owner || who->alive(h, who->user_data))
			continue;
		/* h is dead and makes no more claims. A claim it made may
		 * still be unfinished (a pop of i whose helpers set the
		 * holder but did not move top yet, or a push of i): finish
		 * every current claim, so that a node still held by h is
		 * off both lists for good. The CAS below then fails if
		 * finishing changed the state. */
		err = settle_both(view);
		if (err)
			return err;
		/* Acquire on success: h's element writes are not ours to
		 * read, but its next store is; the state is ours now. */
		if (!atomic_compare_exchange_strong_explicit(
			    &n->state, &s, word(tag_of(s), who->owner),
			    memory_order_acquire, memory_order_relaxed))
			continue;
		err = put(view, FREE, i);
		if (err)
			return err;
		freed++;
	}
	return freed;
}

int shoal__stack_count(const struct shoal__stack *view)
{
	struct shoal__stack_head *l = &view->priv_heads[USED];

	for (int round = 0; round < 4; round++) {
		uint64_t top =
			atomic_load_explicit(&l->top, memory_order_acquire);
		uint32_t i = low_of(top), n = 0;

		while (i != SHOAL__STACK_NIL && n <= view->priv_capacity) {
			if (i >= view->priv_capacity)
				break;
			n++;
			i = (uint32_t)atomic_load_explicit(
				&node_at(view, i)->next, memory_order_relaxed);
		}
		if (i == SHOAL__STACK_NIL && n <= view->priv_capacity)
			return (int)n;
		/* Walked off the list: it changed under us, or it is
		 * corrupt if top did not. */
		if (top_is(l, top))
			return corrupt("used list does not end", top, i);
	}
	return (int)view->priv_capacity;
}

uint32_t shoal__stack_elem_size(const struct shoal__stack *view)
{
	return view->priv_elem_size;
}

uint32_t shoal__stack_capacity(const struct shoal__stack *view)
{
	return view->priv_capacity;
}
