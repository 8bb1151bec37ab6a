/* SPDX-License-Identifier: MIT */
/*
 * The variable-length byte ring's MPSC claim/commit protocol
 * (src/ring/ring_var.c, docs/var-ring.md), checked exhaustively by spin: 2
 * producers each push NREC (3) records of 1 or 2 payload words through an
 * 8-word data area to one consumer, over every interleaving of their
 * memory accesses. No deaths: the var ring has no recovery (a producer
 * that dies holding a claim stalls the consumer for good, by design).
 *
 * One 8-byte word of the data area is one array element; a record is a
 * header word and 1 or 2 payload words, so records wrap, and a claim that
 * would cross the end takes a padding record up to the end in the same
 * tail CAS. Positions count words, start at 0 and do not wrap here; a
 * header's tag is its position. Each access (tail/head load, tail CAS,
 * header store, payload word store) is one atomic step; the consumer's
 * zeroing of a consumed record is one step too (nobody else may touch
 * those words until head moves, which is checked).
 *
 * Each of producer 2's records is, nondeterministically, committed in full,
 * committed short (the unused word becomes a padding record), or aborted
 * (the whole span becomes padding).
 *
 * Checked:
 * - zero invariant: every word a producer writes in its claimed span is
 *   still zero (the consumer zeroed it, or format did), so a zero header
 *   exactly means "not committed yet";
 * - the consumer accepts only headers tagged with their own position, never
 *   reads past the data area, and reads exactly the payload the producer
 *   of that record wrote;
 * - every committed record is delivered once, aborted ones never, in push
 *   order per producer;
 * - nobody waits forever (a waiter blocks until the word it waits on
 *   changes: a deadlock is an invalid end state).
 *
 * -DBROKEN_HEAD_FIRST: the consumer stores head before zeroing the record;
 * a producer can then claim and write into words still holding the old
 * record, and the zero invariant catches it.
 */

#define CAP 8 /* words in the data area: records of at most CAP/2 */
#define HDR(tag, pad, ln) (4096 + (tag) * 16 + (pad) * 8 + (ln))
#define IS_HDR(w) ((w) >= 4096)
#define TAG(w) (((w) - 4096) / 16)
#define PADF(w) ((((w) - 4096) / 8) % 2)
#define LEN(w) (((w) - 4096) % 8) /* padding: words; record: payload words */
#define PAYLOAD(id, i) (1 + (id) * 4 + (i))

short data[CAP];
byte tail, head;

#ifndef NREC
#define NREC 3 /* records per producer */
#endif

/* Ghost: what the consumer must see. */
byte expect; /* committed records, for the consumer to know when to stop */
bool pdone[3];
byte got[2 * NREC + 1]; /* per record id: times delivered */
bool aborted[2 * NREC + 1];

/* Record k of producer me: id and payload words. */
#define RID(me, k) (((me) - 1) * NREC + (k) + 1)
#define PROD_OF(id) (((id) - 1) / NREC + 1)
#define RLEN(me, k) (1 + ((me) + (k)) % 2)

proctype producer(byte me)
{
	byte k, t, h, pad, need, ln, span, pos, i, how;

	k = 0;
	do
	:: k == NREC -> break
	:: k < NREC ->
		ln = RLEN(me, k);
		span = 1 + ln;
		/* 0: commit in full, 1: commit short, 2: abort */
		how = 0;
		if
		:: me == 2 ->
			if
			:: how = 0
			:: ln == 2 -> how = 1
			:: how = 2
			fi
		:: else
		fi;
		d_step {
			if
			:: how != 2 -> expect++
			:: else -> aborted[RID(me, k)] = 1
			fi
		}
retry:
		t = tail;
		d_step {
			pad = (t % CAP + span > CAP -> CAP - t % CAP : 0);
			need = pad + span
		}
		h = head;
		if
		:: t < h -> goto retry /* stale tail: the consumer passed it */
		:: t >= h && CAP - (t - h) < need ->
			/* Full: wait for the consumer. */
			head != h;
			goto retry
		:: else
		fi;
		d_step {
			if
			:: tail == t -> tail = t + need; i = 1
			:: else -> i = 0
			fi
		}
		if
		:: i == 0 -> goto retry
		:: else
		fi;
		if
		:: pad > 0 ->
			d_step {
				assert(data[t % CAP] == 0);
				data[t % CAP] = HDR(t, 1, pad)
			}
		:: else
		fi;
		pos = t + pad;
		/* Payload words, then the header (release). */
		i = 0;
		do
		:: i < ln && how == 0 ->
			d_step {
				assert(data[(pos + 1 + i) % CAP] == 0);
				data[(pos + 1 + i) % CAP] = PAYLOAD(RID(me, k), i)
			}
			i++
		:: i < 1 && how == 1 ->
			d_step {
				assert(data[(pos + 1 + i) % CAP] == 0);
				data[(pos + 1 + i) % CAP] = PAYLOAD(RID(me, k), i)
			}
			i++
		:: else -> break
		od;
		if
		:: how == 0 ->
			d_step {
				assert(data[pos % CAP] == 0);
				data[pos % CAP] = HDR(pos, 0, ln)
			}
		:: how == 1 ->
			/* Short: a padding record over the unused word,
			 * published by the record's header. */
			d_step {
				assert(data[(pos + 2) % CAP] == 0);
				data[(pos + 2) % CAP] = HDR(pos + 2, 1, 1)
			}
			d_step {
				assert(data[pos % CAP] == 0);
				data[pos % CAP] = HDR(pos, 0, 1)
			}
		:: how == 2 ->
			d_step {
				assert(data[pos % CAP] == 0);
				data[pos % CAP] = HDR(pos, 1, span)
			}
		fi;
		d_step { k++; t = 0; h = 0; pad = 0; need = 0; ln = 0; span = 0;
			 pos = 0; i = 0; how = 0 }
	od;
	pdone[me] = 1
}

active proctype consumer()
{
	byte h, n, i, id, delivered;
	short w;
	byte last[3];

	last[1] = 255;
	last[2] = 255;
	h = 0;
	do
	:: pdone[1] && pdone[2] && h == tail -> break
	:: w = data[h % CAP];
		if
		:: w == 0 ->
			/* Not committed yet: wait for this word to change. */
			data[h % CAP] != 0 || (pdone[1] && pdone[2] && h == tail)
		:: w != 0 ->
			assert(IS_HDR(w) && TAG(w) == h);
			n = LEN(w);
			if
			:: PADF(w) ->
				/* Padding never crosses the end either. */
				assert(n >= 1 && h % CAP + n <= CAP);
				skip
			:: else ->
				assert(n >= 1 && h % CAP + 1 + n <= CAP);
				w = data[(h + 1) % CAP];
				id = (w - 1) / 4;
				assert(w == PAYLOAD(id, 0) && id >= 1 && id <= 2 * NREC);
				assert(!aborted[id]);
				i = 1;
				do
				:: i < n ->
					assert(data[(h + 1 + i) % CAP] ==
					       PAYLOAD(id, i));
					i++
				:: else -> break
				od;
				skip;
				d_step {
					got[id]++;
					assert(got[id] == 1);
					/* Push order per producer. */
					assert(last[PROD_OF(id)] == 255 ||
					       id > last[PROD_OF(id)]);
					last[PROD_OF(id)] = id;
					delivered++;
					n = n + 1
				}
			fi;
#ifdef BROKEN_HEAD_FIRST
			head = h + n;
#endif
			/* Zero what we consumed, then hand it back. */
			d_step {
				i = 0;
				do
				:: i < n -> data[(h + i) % CAP] = 0; i++
				:: else -> break
				od;
				i = 0
			}
#ifndef BROKEN_HEAD_FIRST
			head = h + n;
#endif
			d_step { h = h + n; n = 0; w = 0; id = 0 }
		fi
	od;
	/* Everything committed arrived; nothing more is there. */
	assert(delivered == expect && head == tail && data[h % CAP] == 0)
}

init
{
	atomic {
		run producer(1);
		run producer(2)
	}
}
