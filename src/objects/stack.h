/* SPDX-License-Identifier: MIT */
/*
 * The stack: a lock-free LIFO of fixed-size elements over a region of shared
 * memory (Treiber's stack on node indices), for the store. No system calls.
 *
 * The region holds capacity nodes and two lists of them, free and used;
 * push moves a node from free to used, pop from used to free. A list head
 * is two words:
 *  - top = tag << 32 | index (SHOAL__STACK_NIL: empty). The tag grows by
 *    one with every change of top, against ABA.
 *  - pending = tag << 32 | op: the one operation claimed at top's tag:
 *    SHOAL__STACK_OP_POP | owner (who takes the top node), or
 *    SHOAL__STACK_OP_PUSH | index (the node going on top).
 * Every change of top is claimed first, by CAS of pending from the previous
 * tag's claim to tag T (top's current tag); only one claim per tag can
 * exist, and it is what linearises the operation. Whoever sees a claim for
 * the current tag finishes it (helping): sets the node's state word, then
 * moves top by CAS from (T, ...) to (T + 1, ...). So an operation is never
 * half done in a way that stops the others, and a process SIGKILLed after
 * its claim still has its operation completed by the next one to come.
 *
 * Each node has a state word, version << 32 | holder: holder 0 while the
 * node is on a list, the owner token of the process holding it while it is
 * off both lists (between the pop from one and the push onto the other).
 * The holder is taken from the pop's claim, so it is in the region from the
 * instant the node is taken: there is no window in which a dead process
 * holds a node nobody can name. Push increments the version. A process
 * that dies holding a node (a pusher before its push claim, a popper before
 * it pushed the node back onto free) leaves it held by a dead owner:
 * shoal__stack_recover() finishes any claimed operation and moves every
 * such node back to the free list. Until someone calls it, those nodes are
 * missing from capacity. An element popped by a process that then died is
 * lost with it (it was popped: it is never seen twice); an element whose
 * pusher died before its claim was never pushed.
 *
 * Everything read from the region is untrusted: indices are checked against
 * the capacity, a claim naming a node out of range or a tag that cannot be
 * is -EBADMSG, and every loop is bounded (SHOAL__OBJ_RETRY_BUDGET attempts,
 * then -EBUSY; walks by the capacity). See docs/objects.md, models/
 * store_stack.pml.
 */
#ifndef SHOAL_SRC_OBJECTS_STACK_H
#define SHOAL_SRC_OBJECTS_STACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "objects/objects.h"

#define SHOAL__STACK_NIL 0xffffffffu
#define SHOAL__STACK_CAPACITY_MAX (1u << 24)
#define SHOAL__STACK_ELEM_MAX (1u << 20)
#define SHOAL__STACK_OP_PUSH 0x80000000u /* pending: index in the low bits */
#define SHOAL__STACK_OP_POP 0u		 /* pending: owner in the low bits */

/*
 * A stack region (docs/objects.md, "Stack"):
 *	[0, 64)		struct shoal__obj_header: p[0] elem_size, p[1] capacity
 *	[64, 128)	struct shoal__stack_head of the free list
 *	[128, 192)	struct shoal__stack_head of the used list
 *	[192, ...)	capacity nodes, each shoal__stack_stride() bytes: a
 *			struct shoal__stack_node, then the element
 */
struct shoal__stack_head {
	_Atomic uint64_t top;	  /* tag << 32 | index; any process, CAS */
	_Atomic uint64_t pending; /* tag << 32 | op | arg; any process, CAS */
	uint8_t pad[48];
};
_Static_assert(sizeof(struct shoal__stack_head) == 64, "stack head");

struct shoal__stack_node {
	/* Index of the node below on its list, SHOAL__STACK_NIL at the
	 * bottom. Written by the holder before its push claim (release). */
	_Atomic uint64_t next;
	/* version << 32 | holder (0: on a list). CAS by whoever finishes a
	 * claim, or by recover(). */
	_Atomic uint64_t state;
};
#define SHOAL__STACK_NODE_HEADER 16

/* A process-local view of a stack; fields are private. */
struct shoal__stack {
	struct shoal__stack_head *priv_heads; /* [0] free, [1] used */
	unsigned char *priv_nodes;
	uint64_t priv_stride;
	uint32_t priv_elem_size;
	uint32_t priv_capacity;
	struct shoal__obj_who priv_who;
	int priv_can_write;
};

/* Bytes per node for @elem_size (header + element, rounded up to 64). */
uint64_t shoal__stack_stride(uint32_t elem_size);

/* Bytes a stack region needs (a multiple of 64), or 0 if @elem_size is not
 * in 1..SHOAL__STACK_ELEM_MAX or @capacity not in 1..CAPACITY_MAX. */
size_t shoal__stack_bytes(uint32_t elem_size, uint32_t capacity);

/* shoal__stack_format - lay out an empty stack (every node free). Once, by
 * the creator, before anyone attaches. 0 or -EINVAL. */
int shoal__stack_format(void *region, size_t len, uint32_t elem_size,
			uint32_t capacity);

/*
 * shoal__stack_attach - check the stack in @region against the expected
 * geometry and fill @view; @who NULL makes a view that cannot push, pop or
 * recover (a stack has nothing to read without taking it). 0, -EINVAL,
 * -EBADMSG.
 */
int shoal__stack_attach(struct shoal__stack *view, void *region, size_t len,
			uint32_t elem_size, uint32_t capacity,
			const struct shoal__obj_who *who);

/*
 * shoal__stack_push - push @len bytes of @elem (the rest of the element
 * zero). 0, -ENOSPC (no free node: full, or nodes held by dead processes
 * wait for recover()), -EMSGSIZE, -EPERM, -EBUSY (retry budget spent: heavy
 * contention or a scribbled region; call again), -EBADMSG (the region is
 * corrupt; a node taken from free may then be held until recover()).
 * Lock-free; any number of views at once.
 */
int shoal__stack_push(struct shoal__stack *view, const void *elem, size_t len);

/*
 * shoal__stack_pop - pop the top element into @out (@cap >= element size).
 * Returns the element size, -EAGAIN (empty), -EMSGSIZE, -EPERM, -EBUSY,
 * -EBADMSG as push. Lock-free.
 */
int shoal__stack_pop(struct shoal__stack *view, void *out, size_t cap);

/*
 * shoal__stack_recover - finish any claimed operation, then return to the
 * free list every node held by an owner @view's alive() says is dead.
 * Returns the number of nodes reclaimed, or -EPERM, -EBUSY, -EBADMSG. Safe
 * while other views push and pop; O(capacity); calls alive() once per held
 * node. A view with no alive() reclaims nothing.
 */
int shoal__stack_recover(struct shoal__stack *view);

/*
 * shoal__stack_count - the number of elements on the used list, walked from
 * its top (at most capacity steps). A snapshot only while nobody pushes or
 * pops; under concurrent change a number in 0..capacity. -EBADMSG if the
 * list does not end within capacity nodes or names a node out of range.
 * Never writes the region.
 */
int shoal__stack_count(const struct shoal__stack *view);

uint32_t shoal__stack_elem_size(const struct shoal__stack *view);
uint32_t shoal__stack_capacity(const struct shoal__stack *view);

#endif
