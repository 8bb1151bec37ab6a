/* SPDX-License-Identifier: MIT */
/*
 * The MPMC ring's claim/commit protocol with dead-claimant recovery
 * (src/ring/ring_mpmc.c, docs/ring-mpmc.md), checked exhaustively by spin: every
 * interleaving of 2 producers (pushing NMSG1 and NMSG2 messages) and 2
 * consumers on a 2-cell ring, where up to MAXDEAD_P producers and MAXDEAD_C
 * consumers die, each before any one of its steps. scripts/check-models.sh
 * runs the configurations that fit in a minute (models/README.md).
 *
 * Each shared-memory access of the C code (a load, a store, a CAS) is one
 * atomic step here; steps that touch only a process's own locals or the
 * ghost bookkeeping are folded into the neighbouring access. spin's memory
 * is sequentially consistent: this checks the protocol's logic, not the C11
 * orderings (TSan and the stress tests are for those).
 *
 * Positions start at 0 and never wrap here (at most 4 messages + 2 skipped
 * positions), so the claim word is owner << 4 | position bits; the C code's
 * 42-bit position field and signed differences make the same comparisons
 * hold across wrap.
 *
 * What is checked (models/README.md has the details):
 * - every message whose push returned is taken by exactly one consumer, at
 *   one position, with the payload its producer wrote there; a dead
 *   producer loses at most the message it was pushing; taken messages not
 *   delivered belong to dead consumers, at most one each;
 * - per producer, dequeue positions increase with the sequence number;
 * - skipped/abandoned only count cells of dead owners, at most one a death;
 * - no retry is fruitless (something it read has changed since, else it
 *   would retry forever), and no survivor waits forever: a waiter (ring
 *   full, or empty) calls recover() if someone has died, then blocks until
 *   a word that decides its next try changes or another process dies, so a
 *   survivor stuck for good is an invalid end state (a deadlock), which
 *   spin reports.
 *
 * The deliberately broken variants (models/mpmc_broken.pml) are switched on
 * with -D; each is a mistake this model caught or a tempting shortcut:
 *   BROKEN_STALE_CLAIM   claim CAS over any claim word, not only the one
 *                        the seq just read allows (the cell may have moved
 *                        on a lap between the two loads)
 *   BROKEN_LATE_CLAIM    CAS enq_pos first, write the claim word one step
 *                        later (a death in between names nobody)
 *   BROKEN_PLAIN_SKIP    recovery marks SKIP with a plain store, not a CAS
 *   BROKEN_SEQ_FIRST     recovery reads seq before finding the owner dead
 *                        (a publish just before the death is missed)
 *   BROKEN_NO_COMPLETE   only the recoverer that marked SKIP finishes the
 *                        skip (it may die half-way)
 *   BROKEN_OWN_SKIP_MARK a consumer passing a SKIP cell marks it with its
 *                        own token (its death then counts as abandoned)
 */

#define C 2 /* cells */
#define NP 2 /* producers: tokens 1..NP */
#define NC 2 /* consumers: tokens NP+1..NP+NC */
#define NMSG 2 /* at most, per producer */
#ifndef NMSG1
#define NMSG1 2 /* messages producer 1 pushes */
#endif
#ifndef NMSG2
#define NMSG2 2 /* messages producer 2 pushes */
#endif
#define NMSG_OF(t) ((t) == 1 -> NMSG1 : NMSG2)
#define NPOS 8 /* positions ever used: NP*NMSG + one skip per death */
#define SKIP 15 /* owner of a SKIP mark */

#ifndef MAXDEAD_P
#define MAXDEAD_P 2
#endif
#ifndef MAXDEAD_C
#define MAXDEAD_C 1 /* at least one consumer must live to drain */
#endif

#define MK(o, p) (((o) << 4) | (p))
#define OWN(c) ((c) >> 4)
#define POS(c) ((c)&15)
#define IS_PROD(o) ((o) >= 1 && (o) <= NP)
#define IS_CONS(o) ((o) > NP && (o) <= NP + NC)

/*
 * Which claim words a claimant may CAS over, given the seq it read. seq and
 * claim are two loads, and between them the cell can move on a whole lap,
 * so the claim word must belong to the state seq showed: for a producer of
 * p (seq == p), the previous lap's done mark (position bits p - C + 1) or a
 * never-claimed 0; for a consumer of p (seq == p + 1), the producer claim
 * or SKIP mark of p. Anything else is stale: reload and retry.
 */
#ifdef BROKEN_STALE_CLAIM
#define PROD_MAY_CLAIM(c, p) (OWN(c) == 0 || POS(c) != (p))
#define CONS_MAY_CLAIM(c, p) (OWN(c) == 0 || POS(c) != (p) + 1)
#else
#define PROD_MAY_CLAIM(c, p) ((c) == 0 || POS(c) == (p) + 1 - C)
#define CONS_MAY_CLAIM(c, p) (OWN(c) != 0 && POS(c) == (p))
#endif

/* The ring. */
byte enq_pos, deq_pos;
byte seq[C], claim[C], data[C];
byte skipped, abandoned;

/* Per process token: dead[] is what alive() reads. */
bool dead[NP + NC + 1], done[NP + NC + 1];
byte ndead_p, ndead_c;

/* Ghost bookkeeping for the checks. */
byte sent[NP]; /* messages whose push returned, per producer */
byte msg_at[NPOS]; /* message id + 1 claimed at a position, 0 none */
byte pst[NPOS]; /* per position: */
#define TAKEN 1 /* claimed by a consumer */
#define DELIVERED 2 /* payload read by that consumer */
#define SKIPPED 4 /* marked SKIP by head recovery */
#define ABANDONED 8 /* marked SKIP by tail recovery */
#define ID(me) ((me - 1) * NMSG + sent[me - 1] + 1)

#define PROD_OVER ((done[1] || dead[1]) && (done[2] || dead[2]))
#define RESET \
	p = 0; \
	s = 0; \
	c = 0; \
	ok = 0

/* Statement bodies, for use inside d_step. */
#define CAS_ENQ(from) \
	if \
	:: enq_pos == (from) -> enq_pos = (from) + 1 \
	:: else \
	fi
#define CAS_DEQ(from) \
	if \
	:: deq_pos == (from) -> deq_pos = (from) + 1 \
	:: else \
	fi
#define CAS_SEQ(pos, from, to) \
	if \
	:: seq[(pos) % C] == (from) -> seq[(pos) % C] = (to) \
	:: else \
	fi

/*
 * recover(): one pass over the head (a dead producer's claim where the
 * consumers wait) and the tail (a dead consumer's mark where the producers
 * wait), as a stuck waiter calls it. Uses the caller's rp, rs, rc, ok.
 *
 * The claim word is read and its owner found dead BEFORE seq is read: a
 * dead owner never writes again, so the seq read after that is final.
 * Marking the cell SKIP (claim CAS) decides and counts the loss; the rest
 * (seq, the position counters) is finished by CASes that anyone seeing the
 * SKIP mark does, so a recoverer that dies half-way wedges nothing.
 *
 * Before anyone has died it reads and changes nothing that matters (alive()
 * is definitive), so it is only entered once someone has: that prunes
 * states, not behaviours.
 */
inline recover()
{
	if
	:: d_step { ndead_p + ndead_c == 0; nd = 0 }
	:: d_step { ndead_p + ndead_c > 0; nd = ndead_p + ndead_c; rp = deq_pos } ->
		/* Head. */
#ifdef BROKEN_SEQ_FIRST
		rs = seq[rp % C];
#endif
		rc = claim[rp % C];
		if
		:: IS_PROD(OWN(rc)) && POS(rc) == rp && dead[OWN(rc)] ->
#ifndef BROKEN_SEQ_FIRST
			rs = seq[rp % C];
#endif
			if
			:: rs == rp ->
#ifdef BROKEN_PLAIN_SKIP
				d_step {
					claim[rp % C] = MK(SKIP, rp);; ok = 1;
					pst[rp] = pst[rp] | SKIPPED
				}
#else
				d_step {
					if
					:: claim[rp % C] == rc ->
						claim[rp % C] = MK(SKIP, rp);;
						ok = 1;
						pst[rp] = pst[rp] | SKIPPED
					:: else
					fi
				}
#endif
			:: else
			fi
		:: else
		fi;
#ifdef BROKEN_NO_COMPLETE
		if
		:: ok ->
			d_step { seq[rp % C] = rp + 1; };
			skipped++;
			d_step { CAS_ENQ(rp) }
		:: else
		fi;
#else
		if
		:: ok -> d_step { skipped++; rc = MK(SKIP, rp) }
		:: else
		fi;
		if
		:: rc == MK(SKIP, rp) ->
			/* Publish the skip, ours or a dead recoverer's. */
			d_step { CAS_SEQ(rp, rp, rp + 1) };
			d_step { CAS_ENQ(rp) }
		:: else
		fi;
#endif
		/* Tail: q = enq_pos - C, kept in rp. */
		d_step { ok = 0; rc = 0; rs = 0; rp = enq_pos };
		if
		:: rp >= C ->
#ifdef BROKEN_SEQ_FIRST
			rs = seq[rp % C];
#endif
			d_step { rc = claim[rp % C]; rp = rp - C };
			if
			:: IS_CONS(OWN(rc)) && POS(rc) == rp + 1 &&
			   dead[OWN(rc)] ->
#ifndef BROKEN_SEQ_FIRST
				rs = seq[rp % C];
#endif
				if
				:: rs == rp + 1 ->
					d_step {
						if
						:: claim[rp % C] == rc ->
							claim[rp % C] = MK(SKIP, rp + 1);
							ok = 1;
							/* A message was taken here. */
							assert(pst[rp] & TAKEN);
							pst[rp] = pst[rp] | ABANDONED
						:: else
						fi
					}
				:: else
				fi
			:: else
			fi;
#ifdef BROKEN_NO_COMPLETE
			if
			:: ok ->
				d_step { CAS_DEQ(rp) };
				d_step { seq[rp % C] = rp + C; };
				abandoned++
			:: else
			fi
#else
			if
			:: ok -> d_step { abandoned++; rc = MK(SKIP, rp + 1) }
			:: else
			fi;
			if
			:: rc == MK(SKIP, rp + 1) ->
				/* Free the cell: for us, a dead recoverer, or a
				 * dead consumer of a skipped cell. */
				d_step { CAS_DEQ(rp) };
				d_step { CAS_SEQ(rp, rp + 1, rp + C) }
			:: else
			fi
#endif
		:: else
		fi;
		d_step { rp = 0; rs = 0; rc = 0; ok = 0 }
	fi
}

proctype producer(byte me)
{
	byte p, s, c, rp, rs, rc, nd;
	bool ok;

	{
	do
	:: d_step { sent[me - 1] == NMSG_OF(me); done[me] = 1 }; break
	:: d_step { sent[me - 1] < NMSG_OF(me); p = enq_pos }
		s = seq[p % C];
		if
		:: s == p ->
#ifdef BROKEN_LATE_CLAIM
			/* Naive order: take the position, then say who took it. */
			d_step {
				if
				:: enq_pos == p -> enq_pos = p + 1;; ok = 1;
					msg_at[p] = ID(me)
				:: else
				fi
			}
			if
			:: ok ->
				d_step { claim[p % C] = MK(me, p); };
				d_step { data[p % C] = ID(me); seq[p % C] = p + 1;;
					 sent[me - 1]++; RESET }
			:: else -> d_step { RESET }
			fi
#else
			c = claim[p % C];
			if
			:: OWN(c) != 0 && POS(c) == p ->
				/* Claimed (or skipped) already: help it along. */
				d_step { CAS_ENQ(p); RESET }
			:: else ->
				/* The linearization point. */
				d_step {
					if
					:: claim[p % C] == c && PROD_MAY_CLAIM(c, p) ->
						claim[p % C] = MK(me, p);; ok = 1;
						msg_at[p] = ID(me)
					:: else
					fi
				}
				if
				:: ok ->
					d_step { CAS_ENQ(p) };
					/* Payload and publish (one step: only a
					 * consumer that already broke the protocol
					 * could tell them apart). */
					d_step { data[p % C] = ID(me); seq[p % C] = p + 1;
						 sent[me - 1]++; RESET }
				:: else ->
					/* No fruitless rounds: something we read
					 * has changed, or we would retry forever. */
					d_step {
						assert(enq_pos != p || seq[p % C] != s ||
						       claim[p % C] != c);
						RESET
					}
				fi
			fi
#endif
		:: s < p ->
			/* Full: recover, then wait for a change. */
			recover();
			d_step {
				enq_pos != p || seq[p % C] != s ||
				    ndead_p + ndead_c != nd;
				RESET; nd = 0
			}
		:: s > p ->
			d_step { CAS_ENQ(p); RESET }
		fi
	od
	} unless { dead[me] }
}

proctype consumer(byte me)
{
	byte p, s, c, d, e, rp, rs, rc, nd;
	bool ok;

	{
	do
	:: p = deq_pos;
		s = seq[p % C];
		if
		:: s == p + 1 ->
			c = claim[p % C];
			if
			:: OWN(c) != 0 && POS(c) == p + 1 ->
				/* Taken already: help it along. */
				d_step { CAS_DEQ(p); RESET }
			:: else ->
				/* The linearization point. */
				d_step {
					if
					:: claim[p % C] == c && CONS_MAY_CLAIM(c, p) ->
						ok = 1;
#ifdef BROKEN_OWN_SKIP_MARK
						claim[p % C] = MK(me, p + 1);
#else
						/* A skipped cell gets the SKIP done
						 * mark: dying here abandons nothing. */
						if
						:: OWN(c) == SKIP -> claim[p % C] = MK(SKIP, p + 1)
						:: else -> claim[p % C] = MK(me, p + 1)
						fi;
#endif
						
						if
						:: OWN(c) != SKIP ->
							assert(!(pst[p] & TAKEN));
							pst[p] = pst[p] | TAKEN
						:: else
						fi
					:: else
					fi
				}
				if
				:: ok && OWN(c) == SKIP ->
					assert(!(pst[p] & TAKEN));
					d_step { CAS_DEQ(p) };
#ifdef BROKEN_OWN_SKIP_MARK
					d_step { seq[p % C] = p + C;; RESET }
#else
					d_step { CAS_SEQ(p, p + 1, p + C); RESET }
#endif
				:: ok && OWN(c) != SKIP ->
					d_step { CAS_DEQ(p) };
					/* Copy out, then free the cell. */
					d_step {
						d = data[p % C];
						assert(d != 0 && d == msg_at[p]);
						pst[p] = pst[p] | DELIVERED; d = 0;
						seq[p % C] = p + C;; RESET
					}
				:: !ok ->
					d_step {
						assert(deq_pos != p || seq[p % C] != s ||
						       claim[p % C] != c);
						RESET
					}
				fi
			fi
		:: s < p + 1 ->
			/* Empty; stuck if a position is taken but unpublished. */
			d_step {
				ok = PROD_OVER && enq_pos <= deq_pos;
				rs = enq_pos > deq_pos;
				nd = ndead_p + ndead_c;
				e = enq_pos
			}
			if
			:: ok -> d_step { done[me] = 1; RESET }; break
			:: else ->
				if
				:: rs -> rs = 0; recover()
				:: else
				fi;
				if
				:: d_step {
					deq_pos != p || seq[p % C] != s ||
					    enq_pos != e || ndead_p + ndead_c != nd;
					RESET; nd = 0; e = 0
				   }
				:: d_step {
					PROD_OVER && enq_pos <= deq_pos;
					RESET; nd = 0; e = 0
				   }
				fi
			fi
		:: s > p + 1 ->
			d_step { CAS_DEQ(p); RESET }
		fi
	od
	} unless { dead[me] }
}

/*
 * Kills any unfinished process at any moment, within the death budget. A
 * death wakes the waiters: alive() now answers differently, and a real
 * waiter calls recover() again every so often.
 */
active proctype killer()
{
end:
	do
	:: d_step { ndead_p < MAXDEAD_P && !done[1] && !dead[1] -> dead[1] = 1; ndead_p++ }
	:: d_step { ndead_p < MAXDEAD_P && !done[2] && !dead[2] -> dead[2] = 1; ndead_p++ }
	:: d_step { ndead_c < MAXDEAD_C && !done[3] && !dead[3] -> dead[3] = 1; ndead_c++ }
	:: d_step { ndead_c < MAXDEAD_C && !done[4] && !dead[4] -> dead[4] = 1; ndead_c++ }
	od
}

/* Once every process has finished or died: the end-to-end properties. */
active proctype monitor()
{
	byte i, k, pp, n, at, last, cnt, nskip, naband;

	(done[1] || dead[1]) && (done[2] || dead[2]) && (done[3] || dead[3]) &&
	    (done[4] || dead[4]);
	d_step {
		i = 0;
		do
		:: i < NP ->
			/* A live producer pushed everything. */
			assert(dead[i + 1] || sent[i] == NMSG_OF(i + 1));
			k = 0;
			last = 255;
			do
			:: k < NMSG ->
				n = 0;
				pp = 0;
				do
				:: pp < NPOS ->
					if
					:: msg_at[pp] == i * NMSG + k + 1 -> n++; at = pp
					:: else
					fi;
					pp++
				:: else -> break
				od;
				if
				:: k < sent[i] ->
					/* Pushed: at one position, taken there. */
					assert(n == 1 && (pst[at] & TAKEN));
					/* Dequeue positions follow push order. */
					assert(last == 255 || at > last);
					last = at
				:: k == sent[i] && dead[i + 1] ->
					/* The one a dead producer was pushing. */
					assert(n <= 1)
				:: else -> assert(n == 0)
				fi;
				k++
			:: else -> break
			od;
			i++
		:: else -> break
		od;
		/* Taken but not delivered: by a dead consumer, one each.
		 * Counted losses: only cells of the dead, one a death. */
		cnt = 0;
		nskip = 0;
		naband = 0;
		pp = 0;
		do
		:: pp < NPOS ->
			if
			:: (pst[pp] & TAKEN) && !(pst[pp] & DELIVERED) -> cnt++
			:: else
			fi;
			if
			:: pst[pp] & SKIPPED -> nskip++; assert(!(pst[pp] & TAKEN))
			:: else
			fi;
			if
			:: pst[pp] & ABANDONED -> naband++
			:: else
			fi;
			pp++
		:: else -> break
		od;
		assert(cnt <= ndead_c);
		assert(skipped <= nskip && nskip <= ndead_p);
		assert(abandoned <= naband && naband <= ndead_c)
	}
}

init
{
	atomic {
		seq[0] = 0;
		seq[1] = 1;
		run producer(1);
		run producer(2);
		run consumer(3);
		run consumer(4)
	}
}
