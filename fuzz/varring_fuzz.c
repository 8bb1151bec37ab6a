/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the variable-length byte ring (src/ring/ring_var.c), driven by one
 * consumer and two producer handles in one thread, while the input may
 * overwrite any 8 bytes of the region (header lines, record headers,
 * payload) as a hostile peer could.
 *
 * The input picks the geometry (capacity 64..1024 bytes, SPSC or MPSC, a
 * start position near 0, near UINT64_MAX or anywhere), then runs operations:
 * push, claim, commit, abort (either producer; the second only in MPSC),
 * pop, peek, peek_batch, release, re-attaching every handle, and poke.
 *
 * Checked on every run, and any broken promise aborts:
 *   - every call returns one of its documented codes;
 *   - a claimed pointer, and every message seen, lies inside the data area
 *     with its whole length; no message is longer than max_message or the
 *     caller's buffer (the region is malloc'd to its exact size, so ASan
 *     sees any access past it).
 * As long as the input has poked nothing, the run is also checked against
 * a model of the protocol: records in claim order, each claimed, committed
 * or aborted. Every message read is the first unread committed one (aborted
 * ones skipped) with the bytes it was sent with; -EAGAIN from the consumer
 * exactly when the first record not aborted is uncommitted or there is
 * none; a batch holds exactly the committed run at the front; a producer
 * gets -EAGAIN exactly when the record (and any padding to the end) does
 * not fit between tail and head + capacity.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/ring_var.h>

#include "ring/ring_var_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                 \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr,                               \
				"varring_fuzz: broken: %s (line %d; " \
				"last error: %s)\n",                  \
				#cond, __LINE__, shoal_last_error()); \
			abort();                                      \
		}                                                     \
	} while (0)

#define QMAX 1024 /* records in the model: more than a ring can hold */

struct mrec {
	uint32_t id, len;
	int state; /* 0 claimed, 1 committed, 2 aborted */
};

struct vf {
	unsigned char *region, *data;
	uint64_t size, cap;
	uint32_t flags, max;
	struct shoal__varring *hdr;
	struct shoal_varring_producer p[2];
	struct shoal_varring_consumer c;
	int p_ok[2], c_ok;
	int poked;
	/* The model. */
	struct mrec q[QMAX];
	uint32_t q_head, q_tail; /* free-running indexes into q */
	int64_t held[2];	 /* each producer's claimed record, or -1 */
	uint32_t peeked;	 /* records the consumer has peeked */
	uint32_t next_id;
};

static unsigned char byte_of(uint32_t id, uint32_t i)
{
	return (unsigned char)(id * 31 + i * 7 + 1);
}

static void check_message(struct vf *f, const unsigned char *p, uint32_t len)
{
	PROMISE(len <= f->max);
	if (len) {
		PROMISE(p >= f->data + SHOAL__VARRING_HEADER);
		PROMISE(p + len <= f->data + f->cap);
	}
}

/* The model's first record not aborted at or after index @from. */
static struct mrec *front(struct vf *f, uint32_t *from)
{
	while (*from != f->q_tail && f->q[*from % QMAX].state == 2)
		++*from;
	return *from == f->q_tail ? NULL : &f->q[*from % QMAX];
}

/* Does a record of @len bytes fit now, by the shared positions? */
static int fits(struct vf *f, int which, uint32_t len)
{
	uint64_t head = atomic_load(&f->hdr->head);
	uint64_t tail = f->flags == SHOAL_VARRING_SPSC ?
				f->p[which].priv_tail :
				atomic_load(&f->hdr->tail);
	uint64_t span = (8 + (uint64_t)len + 7) & ~7ull;
	uint64_t off = tail & (f->cap - 1);
	uint64_t need = span + (off + span > f->cap ? f->cap - off : 0);

	return f->cap - (tail - head) >= need;
}

static void produce(struct vf *f, int which, int op, uint32_t len)
{
	struct shoal_varring_producer *p = &f->p[which];
	int model = !f->poked;
	unsigned char buf[1024];
	int busy = f->held[which] >= 0, fit = 0;
	void *ptr = NULL;
	int r;

	if (op == 0 || op == 1) {
		if (model && !busy && len <= f->max)
			fit = fits(f, which, len);
		if (op == 0) {
			for (uint32_t i = 0; i < len; i++)
				buf[i] = byte_of(f->next_id, i);
			r = shoal_varring_push(p, buf, len);
		} else {
			r = shoal_varring_claim(p, len, &ptr);
		}
		PROMISE(r == 0 || r == -EAGAIN || r == -EMSGSIZE ||
			r == -EBUSY || r == -EBADMSG);
		if (model) {
			PROMISE(r == (busy	   ? -EBUSY :
				      len > f->max ? -EMSGSIZE :
				      fit	   ? 0 :
						     -EAGAIN));
		}
		if (r)
			return;
		if (op == 1) {
			PROMISE(ptr >= (void *)(f->data + 8));
			PROMISE((unsigned char *)ptr + len <= f->data + f->cap);
			PROMISE((uintptr_t)ptr % 8 == 0);
			for (uint32_t i = 0; i < len; i++)
				((unsigned char *)ptr)[i] =
					byte_of(f->next_id, i);
		}
		if (model) {
			PROMISE(f->q_tail - f->q_head < QMAX);
			f->q[f->q_tail % QMAX] =
				(struct mrec){ f->next_id, len,
					       op == 0 ? 1 : 0 };
			if (op == 1)
				f->held[which] = f->q_tail;
			f->q_tail++;
		}
		f->next_id++;
		return;
	}
	if (op == 2) {
		r = shoal_varring_commit(p, len);
		PROMISE(r == 0 || r == -EINVAL || r == -EMSGSIZE);
		if (model && f->held[which] < 0)
			PROMISE(r == -EINVAL);
		if (model && f->held[which] >= 0) {
			struct mrec *m = &f->q[f->held[which] % QMAX];

			PROMISE(r == (len > m->len ? -EMSGSIZE : 0));
			if (r == 0) {
				m->len = len;
				m->state = 1;
				f->held[which] = -1;
			}
		}
		if (r == 0 && !model)
			f->held[which] = -1;
		return;
	}
	r = shoal_varring_abort(p);
	PROMISE(r == 0 || r == -EINVAL);
	if (model) {
		PROMISE(r == (f->held[which] >= 0 ? 0 : -EINVAL));
		if (r == 0)
			f->q[f->held[which] % QMAX].state = 2;
	}
	if (r == 0)
		f->held[which] = -1;
}

/* Checks a message read against the model's next one, and takes it. */
static void model_read(struct vf *f, uint32_t *at, const unsigned char *p,
		       uint32_t len)
{
	struct mrec *m = front(f, at);

	PROMISE(m && m->state == 1);
	PROMISE(m->len == len);
	for (uint32_t i = 0; i < len; i++)
		PROMISE(p[i] == byte_of(m->id, i));
	++*at;
}

/* How many committed messages lead the model (aborted ones skipped). */
static uint32_t committed_run(struct vf *f)
{
	uint32_t at = f->q_head, n = 0;
	struct mrec *m;

	while ((m = front(f, &at)) && m->state == 1) {
		n++;
		at++;
	}
	return n;
}

static void consume(struct vf *f, int op, uint32_t arg)
{
	struct shoal_varring_consumer *c = &f->c;
	int model = !f->poked;
	uint32_t run = model ? committed_run(f) : 0;
	struct shoal_varring_msg msgs[8];
	unsigned char buf[1024];
	const void *d;
	uint32_t len;
	int r;

	if (op == 0) {
		uint32_t cap = arg % (f->max + 2);
		ssize_t n = shoal_varring_pop(c, buf, cap);

		PROMISE(n >= 0 || n == -EAGAIN || n == -EMSGSIZE ||
			n == -EBUSY || n == -EBADMSG);
		if (n >= 0) {
			PROMISE((uint64_t)n <= cap);
			PROMISE((uint64_t)n <= f->max);
		}
		if (!model)
			return;
		if (f->peeked) {
			PROMISE(n == -EBUSY);
			return;
		}
		if (!run) {
			PROMISE(n == -EAGAIN);
			return;
		}
		if (n == -EMSGSIZE) {
			uint32_t at = f->q_head;

			PROMISE(front(f, &at)->len > cap);
			return;
		}
		PROMISE(n >= 0);
		model_read(f, &f->q_head, buf, (uint32_t)n);
		return;
	}
	if (op == 1 || op == 2) {
		uint32_t max = op == 1 ? 1 : 1 + arg % 8;

		if (op == 1) {
			r = shoal_varring_peek(c, &d, &len);
			if (r == 0) {
				msgs[0].data = d;
				msgs[0].len = len;
				r = 1;
			}
		} else {
			r = shoal_varring_peek_batch(c, max, msgs);
		}
		PROMISE(r > 0 || r == -EAGAIN || r == -EBUSY || r == -EBADMSG);
		PROMISE(r <= (int)max);
		for (int k = 0; k < r; k++)
			check_message(f, msgs[k].data, msgs[k].len);
		if (!model)
			return;
		if (f->peeked) {
			PROMISE(r == -EBUSY);
			return;
		}
		PROMISE(r == (int)(run < max ? run : max) ||
			(run == 0 && r == -EAGAIN));
		if (r > 0) {
			uint32_t at = f->q_head;

			for (int k = 0; k < r; k++)
				model_read(f, &at, msgs[k].data, msgs[k].len);
			f->peeked = (uint32_t)r;
		}
		return;
	}
	r = shoal_varring_release(c);
	PROMISE(r == 0 || r == -EINVAL);
	if (!model)
		return;
	PROMISE(r == (f->peeked ? 0 : -EINVAL));
	if (r == 0) {
		uint32_t at = f->q_head;

		for (uint32_t k = 0; k < f->peeked; k++) {
			front(f, &at);
			at++;
		}
		f->q_head = at;
		f->peeked = 0;
	}
}

static void attach_all(struct vf *f)
{
	for (int i = 0; i < 2; i++) {
		int r = shoal_varring_producer_init(&f->p[i], f->region,
						    f->size);

		PROMISE(r == 0 || (f->poked && r == -EBADMSG));
		f->p_ok[i] = r == 0;
		f->held[i] = -1; /* a lost claim stays claimed for good */
	}
	f->c_ok = shoal_varring_consumer_init(&f->c, f->region, f->size) == 0;
	PROMISE(f->c_ok || f->poked);
	f->peeked = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	static const uint64_t starts[] = { 0, UINT64_MAX - 7, UINT64_MAX - 519,
					   0x7ffffffffffffff8ull, 1016 };
	struct vf *f;
	size_t i = 3;

	if (n < 3)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return 0;
	f->cap = 64ull << (in[0] % 5);
	f->flags = in[1] & 1 ? SHOAL_VARRING_MPSC : SHOAL_VARRING_SPSC;
	f->max = SHOAL_VARRING_MAX_MESSAGE(f->cap);
	f->size = shoal_varring_region_size(f->cap);
	if (posix_memalign((void **)&f->region, 64, f->size)) {
		free(f);
		return 0;
	}
	f->hdr = (struct shoal__varring *)f->region;
	f->data = f->region + sizeof(struct shoal__varring);
	PROMISE(shoal_varring_format(f->region, f->size, f->cap, f->flags,
				     starts[(in[1] >> 1) % 5] -
					     8 * (uint64_t)in[2]) == 0);
	attach_all(f);
	while (i + 2 <= n) {
		uint8_t op = in[i], arg = in[i + 1];
		int which = (op >> 4) & 1 && f->flags == SHOAL_VARRING_MPSC;

		i += 2;
		switch (op % 12) {
		case 0: /* push */
		case 1: /* claim */
		case 2: /* commit */
		case 3: /* abort */
			if (f->p_ok[which])
				produce(f, which, op % 12,
					(arg * 5u) % (f->max + 2));
			break;
		case 4: /* pop */
		case 5: /* peek */
		case 6: /* peek_batch */
		case 7: /* release */
			if (f->c_ok)
				consume(f, op % 12 - 4, arg * 5u);
			break;
		case 8: /* read state, as a waiter would */
			if (f->c_ok) {
				int r = shoal_varring_readable(&f->c);

				PROMISE(r == 0 || r == 1);
			}
			if (f->p_ok[which]) {
				int r = shoal_varring_writable(&f->p[which],
							       arg);

				PROMISE(r == 0 || r == 1);
			}
			break;
		case 9: /* re-attach every handle */
			attach_all(f);
			break;
		default: { /* poke 8 bytes anywhere in the region */
			uint64_t off, v = 0;

			if (i + 8 > n)
				break;
			off = ((uint64_t)arg << 3 | (op >> 5)) % (f->size - 7);
			memcpy(&v, in + i, 8);
			i += 8;
			/* Half the pokes put a well-formed header with the
			 * right tag somewhere, the rest raw bytes. */
			if (v & 1) {
				/* head may be poked too: align it. */
				uint64_t pos = (atomic_load(&f->hdr->head) +
						((v >> 8) & (f->cap - 8))) &
					       ~7ull;

				v = SHOAL__VARRING_HDR_COMMITTED |
				    (v & SHOAL__VARRING_HDR_PAD) |
				    ((v >> 32) & SHOAL__VARRING_LEN_MASK)
					    << 32 |
				    (uint32_t)(pos >> 3);
				off = sizeof(struct shoal__varring) +
				      (pos & (f->cap - 1));
			}
			memcpy(f->region + off, &v, 8);
			f->poked = 1;
			break;
		}
		}
	}
	free(f->region);
	free(f);
	return 0;
}
