/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the store's shared objects (src/objects/): a cell, a stack
 * or a map over a region of its own, in one thread, while the input may
 * overwrite any 8 bytes of the region (header, control words, nodes, slots,
 * keys, values) as a hostile peer with write access could, and re-attach.
 *
 * The input's first bytes pick the object and its geometry; then it runs
 * operations: write/read (cell: the read by the cell's own call, or by
 * the blackboard's inline read of shoal/store.h on a handle made to point
 * at the cell, into a buffer of exactly the size asked for); push, pop,
 * recover, count (stack); insert, update, put, delete, lookup, next,
 * iterate, used (map); poke; attach
 * again; switch the owner token (the alive callback answers from the input:
 * some tokens are dead).
 *
 * Checked on every run, and any broken promise aborts:
 *   - every call returns one of its documented codes and returns (a hang is
 *     a finding: libFuzzer's -timeout);
 *   - nothing is read or written outside the region (it is allocated to its
 *     exact size, so ASan sees any access past it);
 *   - lengths returned are the object's value or element size, a key from
 *     next() is 1..key_max bytes.
 * As long as the input has poked nothing, the objects also behave: a cell
 * read gives the last value written and its change count, a stack pops in
 * LIFO order what was pushed, a map lookup agrees with a model of it.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/store.h>

#include "arch/error.h"
#include "objects/cell.h"
#include "objects/map.h"
#include "objects/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "objects_fuzz: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

#define OPS_MAX 2048
/*
 * A run ends after this many -EBUSY answers: each one is a latch or slot
 * that a poke made look held by a live owner, and costs the whole retry
 * budget (SHOAL__OBJ_RETRY_BUDGET spins, milliseconds) by design; that it
 * returns at all is what is checked, and a thousand of them would only
 * trip libFuzzer's -timeout.
 */
#define BUSY_MAX 4

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t rd(struct in *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

/* Tokens 1..8; bit t of dead_mask says token t is dead. */
static uint32_t dead_mask;

static int alive(uint32_t owner, void *user_data)
{
	(void)user_data;
	return !(owner < 32 && (dead_mask >> owner & 1));
}

static void poke(struct in *in, uint8_t *mem, size_t len)
{
	uint64_t off = rd(in, 3) % len, v = rd(in, 8);

	off &= ~(uint64_t)7;
	if (off + 8 <= len)
		memcpy(mem + off, &v, 8);
}

/* --- cell --- */

/*
 * The blackboard's read (shoal_blackboard_read(), inline in shoal/store.h)
 * of cell @c over @mem, as a store handle of one key would make it: the
 * inline attempt where the view is laid out as that read expects (as
 * inline_read_layout() in store_objects.c checks), else out of line. Into a
 * heap buffer of exactly @cap bytes, so that ASan sees a copy past it.
 */
static int inline_read(struct shoal__cell *c, uint8_t *mem, size_t len,
		       uint32_t vs, uint8_t *buf, uint32_t cap, uint64_t *n)
{
	struct shoal_blackboard bb = { .views = c,
				       .count = 1,
				       .value_size = vs,
				       .priv_cells = mem,
				       .priv_cell_bytes = len,
				       .priv_copy_stride = c->priv_stride };
	uint8_t *exact = malloc(cap ? cap : 1);
	int r;

	PROMISE(exact);
	if ((uint8_t *)c->priv_ctl == mem + 64 && c->priv_copies == mem + 128)
		bb.priv_layout = SHOAL_BLACKBOARD_LAYOUT;
	r = shoal_blackboard_read(&bb, 0, exact, cap, n);
	if (r == (int)vs)
		memcpy(buf, exact, vs);
	free(exact);
	return r;
}

static void fuzz_cell(struct in *in, uint8_t *mem, size_t len, uint32_t vs,
		      uint32_t mode)
{
	struct shoal__obj_who who = { 1, alive, NULL };
	struct shoal__cell c;
	uint8_t last[256] = { 0 }, buf[256], val[256];
	uint64_t count = 0, n, o;
	int poked = 0, r, busy = 0;

	PROMISE(shoal__cell_format(mem, len, vs, mode) == 0);
	PROMISE(shoal__cell_attach(&c, mem, len, vs, mode, &who) == 0);
	for (int op = 0; op < OPS_MAX && in->n && busy < BUSY_MAX; op++) {
		r = 0;
		switch (o = rd(in, 1) % 6) {
		case 0: { /* write */
			size_t l = rd(in, 1) % (vs + 2);

			for (size_t i = 0; i < sizeof(val); i++)
				val[i] = (uint8_t)rd(in, 1);
			r = shoal__cell_write(&c, val, l);
			PROMISE(r == 0 || r == -EMSGSIZE || r == -EBUSY);
			if (!r) {
				memset(last, 0, sizeof(last));
				memcpy(last, val, l);
				count++;
			}
			PROMISE(poked || r != -EBUSY);
			PROMISE(poked || l <= vs ? 1 : r == -EMSGSIZE);
			break;
		}
		case 1:
		case 2: { /* read: the cell's (1), the blackboard's inline one (2) */
			uint32_t cap = rd(in, 1) % 2 ? vs : vs - 1;

			if (o == 1)
				r = shoal__cell_read(&c, buf, cap, &n);
			else
				r = inline_read(&c, mem, len, vs, buf, cap, &n);
			PROMISE(r == (int)vs || r == -EMSGSIZE ||
				r == -EAGAIN || r == -EBADMSG);
			if (!poked && r == (int)vs)
				PROMISE(n == count && !memcmp(buf, last, vs));
			PROMISE(poked || r == (int)vs || r == -EMSGSIZE);
			(void)shoal__cell_change_count(&c);
			break;
		}
		case 3:
			poke(in, mem, len);
			poked = 1;
			break;
		case 4: /* attach again (the header may be poked) */
			r = shoal__cell_attach(&c, mem, len, vs, mode, &who);
			PROMISE(r == 0 || r == -EBADMSG);
			if (r)
				return;
			break;
		default: /* another owner; some are dead */
			who.owner = 1 + (uint32_t)rd(in, 1) % 8;
			dead_mask = (uint32_t)rd(in, 1) << 1;
			c.priv_who = who;
			break;
		}
		busy += r == -EBUSY;
	}
}

/* --- stack --- */

static void fuzz_stack(struct in *in, uint8_t *mem, size_t len, uint32_t es,
		       uint32_t cap)
{
	struct shoal__obj_who who = { 1, alive, NULL };
	struct shoal__stack s;
	uint8_t model[16][64], buf[64], val[64];
	uint32_t depth = 0;
	int poked = 0, r, busy = 0;

	PROMISE(shoal__stack_format(mem, len, es, cap) == 0);
	PROMISE(shoal__stack_attach(&s, mem, len, es, cap, &who) == 0);
	for (int op = 0; op < OPS_MAX && in->n && busy < BUSY_MAX; op++) {
		r = 0;
		switch (rd(in, 1) % 8) {
		case 0:
		case 1: /* push */
			for (uint32_t i = 0; i < es; i++)
				val[i] = (uint8_t)rd(in, 1);
			r = shoal__stack_push(&s, val, es);
			PROMISE(r == 0 || r == -ENOSPC || r == -EBUSY ||
				r == -EBADMSG);
			if (!poked) {
				PROMISE(r == 0 ||
					(r == -ENOSPC && depth == cap));
				if (!r)
					memcpy(model[depth++], val, es);
			}
			break;
		case 2:
		case 3: /* pop */
			r = shoal__stack_pop(&s, buf,
					     rd(in, 1) % 4 ? es : es - 1);
			PROMISE(r == (int)es || r == -EAGAIN ||
				r == -EMSGSIZE || r == -EBUSY || r == -EBADMSG);
			if (!poked && r != -EMSGSIZE) {
				PROMISE(r == (depth ? (int)es : -EAGAIN));
				if (r == (int)es)
					PROMISE(!memcmp(buf, model[--depth],
							es));
			}
			break;
		case 4:
			r = shoal__stack_recover(&s);
			PROMISE(r >= 0 || r == -EBUSY || r == -EBADMSG);
			PROMISE(poked || r == 0);
			break;
		case 5:
			r = shoal__stack_count(&s);
			PROMISE((r >= 0 && r <= (int)cap) || r == -EBADMSG);
			PROMISE(poked || r == (int)depth);
			break;
		case 6:
			poke(in, mem, len);
			poked = 1;
			break;
		default:
			r = shoal__stack_attach(&s, mem, len, es, cap, &who);
			PROMISE(r == 0 || r == -EBADMSG);
			if (r)
				return;
			who.owner = 1 + (uint32_t)rd(in, 1) % 8;
			dead_mask = (uint32_t)rd(in, 1) << 1 &
				    ~(1u << who.owner);
			s.priv_who = who;
			break;
		}
		busy += r == -EBUSY;
	}
}

/* --- map --- */

#define MKEYS 8

static int visit(const void *key, uint32_t klen, const void *value,
		 uint32_t vlen, uint64_t change_count, void *user_data)
{
	uint32_t *kmax = user_data;

	(void)key;
	(void)value;
	(void)vlen;
	(void)change_count;
	PROMISE(klen >= 1 && klen <= *kmax);
	return 0;
}

static void fuzz_map(struct in *in, uint8_t *mem, size_t len, uint32_t cap,
		     uint32_t km, uint32_t vs)
{
	struct shoal__obj_who who = { 1, alive, NULL };
	struct shoal__map m;
	/* The model: key i is "k" then i repeated; present or not, value. */
	int present[MKEYS] = { 0 }, ever[MKEYS] = { 0 }, nslots = 0;
	uint8_t mval[MKEYS][64] = { { 0 } }, key[64], val[64], buf[128];
	int poked = 0, r, busy = 0;

	PROMISE(shoal__map_format(mem, len, cap, km, vs) == 0);
	PROMISE(shoal__map_attach(&m, mem, len, cap, km, vs, &who) == 0);
	for (int op = 0; op < OPS_MAX && in->n && busy < BUSY_MAX; op++) {
		uint32_t k = (uint32_t)rd(in, 1) % MKEYS;
		uint32_t kl = 1 + k % km;
		uint32_t vl = (uint32_t)rd(in, 1) % (vs + 1);
		uint32_t cursor, klen;

		memset(key, 'k', kl);
		key[kl - 1] = (uint8_t)('0' + k);
		for (uint32_t i = 0; i < vl; i++)
			val[i] = (uint8_t)rd(in, 1);
		memset(val + vl, 0, sizeof(val) - vl);
		r = 0;
		switch (rd(in, 1) % 10) {
		case 0:
			r = shoal__map_insert(&m, key, kl, val, vl);
			PROMISE(r == 0 || r == -EEXIST || r == -ENOSPC ||
				r == -EBUSY);
			if (!poked) {
				if (present[k])
					PROMISE(r == -EEXIST);
				else if (ever[k] || nslots < (int)cap)
					PROMISE(r == 0);
				if (!r) {
					present[k] = 1;
					nslots += !ever[k];
					ever[k] = 1;
					memcpy(mval[k], val, vs);
				}
			}
			break;
		case 1:
			r = shoal__map_update(&m, key, kl, val, vl);
			PROMISE(r == 0 || r == -ENOENT || r == -EBUSY);
			if (!poked) {
				PROMISE(r == (present[k] ? 0 : -ENOENT));
				if (!r)
					memcpy(mval[k], val, vs);
			}
			break;
		case 2:
			r = shoal__map_put(&m, key, kl, val, vl);
			PROMISE(r == 0 || r == 1 || r == -ENOSPC ||
				r == -EBUSY);
			if (!poked) {
				if (present[k])
					PROMISE(r == 0);
				else if (ever[k] || nslots < (int)cap)
					PROMISE(r == 1);
				if (r >= 0) {
					present[k] = 1;
					nslots += !ever[k];
					ever[k] = 1;
					memcpy(mval[k], val, vs);
				}
			}
			break;
		case 3:
			r = shoal__map_delete(&m, key, kl);
			PROMISE(r == 0 || r == -ENOENT);
			if (!poked) {
				PROMISE(r == (present[k] ? 0 : -ENOENT));
				present[k] = 0;
			}
			break;
		case 4:
		case 5:
			r = shoal__map_lookup(&m, key, kl, buf, vs, NULL);
			PROMISE(r == (int)vs || r == -ENOENT || r == -EAGAIN ||
				r == -EBADMSG);
			if (!poked) {
				PROMISE(r == (present[k] ? (int)vs : -ENOENT));
				if (r > 0)
					PROMISE(!memcmp(buf, mval[k], vs));
			}
			break;
		case 6:
			cursor = 0;
			for (uint32_t g = 0; g <= cap; g++) {
				r = shoal__map_next(&m, &cursor, buf, km, &klen,
						    buf + km, vs, NULL);
				PROMISE(r == 0 || r == -ENOENT || r == -EAGAIN);
				if (r)
					break;
				PROMISE(klen >= 1 && klen <= km);
				PROMISE(g < cap);
			}
			r = shoal__map_iterate(&m, buf, sizeof(buf), visit,
					       &km);
			PROMISE(r >= 0 && r <= (int)cap);
			PROMISE(shoal__map_used(&m) <= cap);
			break;
		case 7:
		case 8:
			poke(in, mem, len);
			poked = 1;
			break;
		default:
			r = shoal__map_attach(&m, mem, len, cap, km, vs, &who);
			PROMISE(r == 0 || r == -EBADMSG);
			if (r)
				return;
			who.owner = 1 + (uint32_t)rd(in, 1) % 8;
			dead_mask = (uint32_t)rd(in, 1) << 1 &
				    ~(1u << who.owner);
			m.priv_who = who;
			break;
		}
		busy += r == -EBUSY;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint32_t kind = (uint32_t)rd(&in, 1) % 3;
	uint8_t *mem;
	size_t len;

	dead_mask = 0;
	if (kind == 0) {
		uint32_t vs = 1 + (uint32_t)rd(&in, 1) % 200;
		uint32_t mode = rd(&in, 1) % 2 ? SHOAL__CELL_MANY_WRITERS :
						 SHOAL__CELL_ONE_WRITER;

		len = shoal__cell_bytes(vs);
		mem = aligned_alloc(64, len);
		PROMISE(mem);
		fuzz_cell(&in, mem, len, vs, mode);
	} else if (kind == 1) {
		uint32_t es = 1 + (uint32_t)rd(&in, 1) % 64;
		uint32_t cap = 1 + (uint32_t)rd(&in, 1) % 16;

		len = shoal__stack_bytes(es, cap);
		mem = aligned_alloc(64, len);
		PROMISE(mem);
		fuzz_stack(&in, mem, len, es, cap);
	} else {
		uint32_t cap = 1u << rd(&in, 1) % 4;
		uint32_t km = 1 + (uint32_t)rd(&in, 1) % 64;
		uint32_t vs = 1 + (uint32_t)rd(&in, 1) % 64;

		len = shoal__map_bytes(cap, km, vs);
		mem = aligned_alloc(64, len);
		PROMISE(mem);
		fuzz_map(&in, mem, len, cap, km, vs);
	}
	free(mem);
	return 0;
}
