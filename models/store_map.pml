/* SPDX-License-Identifier: MIT */
/*
 * The store's hash map (src/objects/map.c): slot ctl words that move
 * EMPTY -> WRITING -> FULL <-> TOMB, keys written while WRITING and
 * published by the store of FULL, inserters that wait for (or take over
 * from a dead claimant) a WRITING slot of the same hash instead of passing
 * it, deletes by tombstone, revival of a key's own tomb. models/README.md
 * says what is checked.
 *
 * Two slots; keys A and B of the same hash (so they collide, and an
 * inserter of one meets the other's WRITING slot), unless DIFF_HASH. Each
 * key is written in two halves (ka, kb) so a torn key would show.
 *  - p1 inserts A; a killer may kill it before any of its steps;
 *  - p2 inserts A, deletes A, inserts A again (a revive);
 *  - p3 looks A up, then inserts B.
 * The value is one byte written before FULL (the seqval protocol of the
 * value is the cell's; it is not modelled here) and the latch a revive
 * takes is one atomic step.
 *
 * Deliberate mistakes, chosen with -D (scripts/check-models.sh runs each):
 *   BROKEN_PUBLISH_FIRST  FULL is stored before the key: a lookup finds a
 *                         half-written key
 *   BROKEN_PASS_WRITING   an inserter passes a WRITING slot of its own hash
 *                         as if it held another key: two slots get A
 */
#define CAP 2
#define KA 1
#define KB 2
#define EMPTY 0
#define WRITING 1
#define FULL 2
#define TOMB 3
#define CTL(o, h, s) ((o) * 8 + (h) * 4 + (s))
#define ST(c) ((c) % 4)
#define HASH(c) (((c) / 4) % 2)
#ifdef DIFF_HASH
#define H(k) ((k) == KA -> 0 : 1)
#else
#define H(k) 0
#endif

byte ctl[CAP], ka[CAP], kb[CAP], val[CAP];
bool dead[4], done[4];

/* Nonzero if slot i, FULL or TOMB, holds key k (both halves). */
#define HOLDS(i, k) (ka[i] == (k) && kb[i] == (k))

/* No key in two slots: checked at every publish and at the end. */
#define ONE_SLOT(k) \
	assert(!((ST(ctl[0]) == FULL || ST(ctl[0]) == TOMB) && HOLDS(0, k) && \
		 (ST(ctl[1]) == FULL || ST(ctl[1]) == TOMB) && HOLDS(1, k)))

/* We hold slot i in WRITING: key, value, then FULL (fill()). */
inline fill(i, k)
{
#ifdef BROKEN_PUBLISH_FIRST
	ctl[i] = CTL(0, H(k), FULL);
#endif
	ka[i] = k;
	kb[i] = k;
	val[i] = me;
#ifndef BROKEN_PUBLISH_FIRST
	atomic { ctl[i] = CTL(0, H(k), FULL); ONE_SLOT(k) }
#endif
}

/* insert(k): res 0 inserted, 1 EEXIST, 2 ENOSPC (write_key()). */
inline insert(k)
{
	kk = 0;
	do
	:: kk < CAP ->
		i = (H(k) + kk) % CAP;
		c = ctl[i];
		if
		:: c == 0 ->
			atomic {
				if
				:: ctl[i] == 0 -> ctl[i] = CTL(me, H(k), WRITING); ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> fill(i, k); res = 0; break
			:: else /* look at the slot again */
			fi
		:: ST(c) == WRITING && HASH(c) != H(k) -> kk++
		:: ST(c) == WRITING && HASH(c) == H(k) ->
#ifdef BROKEN_PASS_WRITING
			kk++
#else
			if
			:: c / 8 != me && !dead[c / 8] ->
				/* wait for it: changed, or its writer died */
				(ctl[i] != c || dead[c / 8])
			:: else ->
				atomic {
					if
					:: ctl[i] == c -> ctl[i] = CTL(me, H(k), WRITING); ok = 1
					:: else -> ok = 0
					fi
				}
				if
				:: ok -> fill(i, k); res = 0; break
				:: else
				fi
			fi
#endif
		:: (ST(c) == FULL || ST(c) == TOMB) && HASH(c) == H(k) ->
			if
			:: HOLDS(i, k) && ST(c) == FULL -> res = 1; break
			:: HOLDS(i, k) && ST(c) == TOMB ->
				/* revive, under the latch: value, then FULL */
				atomic {
					if
					:: ctl[i] == c -> val[i] = me; ctl[i] = CTL(0, H(k), FULL);
						ok = 1
					:: else -> ok = 0
					fi
				}
				if
				:: ok -> res = 0; break
				:: else
				fi
			:: else -> kk++
			fi
		:: (ST(c) == FULL || ST(c) == TOMB) && HASH(c) != H(k) -> kk++
		fi
	:: else -> res = 2; break
	od;
	kk = 0; c = 0; ok = 0
}

/* find(k): fi_i the slot (FULL or TOMB), or CAP. Never writes. */
inline find(k)
{
	kk = 0;
	fi_i = CAP;
	do
	:: kk < CAP ->
		i = (H(k) + kk) % CAP;
		c = ctl[i];
		if
		:: c == 0 -> break
		:: ST(c) == WRITING -> kk++
		:: (ST(c) == FULL || ST(c) == TOMB) && HASH(c) == H(k) ->
			/* the key, read after the ctl (acquire): two halves */
			h1 = ka[i];
			h2 = kb[i];
			if
			:: h1 == k || h2 == k ->
				assert(h1 == k && h2 == k); /* never torn */
				fi_i = i;
				break
			:: else -> kk++
			fi
		:: (ST(c) == FULL || ST(c) == TOMB) && HASH(c) != H(k) -> kk++
		fi
	:: else -> break
	od;
	kk = 0; h1 = 0; h2 = 0
}

inline lookup(k)
{
	find(k);
	if
	:: fi_i < CAP && ST(c) == FULL -> assert(val[fi_i] != 0) /* whole */
	:: else
	fi;
	c = 0
}

inline delete(k)
{
	find(k);
	if
	:: fi_i < CAP && ST(c) == FULL ->
		atomic { if :: ctl[fi_i] == c -> ctl[fi_i] = CTL(0, H(k), TOMB)
			 :: else fi }
	:: else
	fi;
	c = 0
}

proctype p1()
{
	byte me = 1, kk, i, c, res, fi_i, h1, h2;
	bool ok;

	{ insert(KA); done[me] = 1 } unless { dead[me] }
}

proctype p2()
{
	byte me = 2, kk, i, c, res, fi_i, h1, h2;
	bool ok;

	insert(KA);
	delete(KA);
	insert(KA);
	done[me] = 1
}

proctype p3()
{
	byte me = 3, kk, i, c, res, fi_i, h1, h2;
	bool ok;

	lookup(KA);
	insert(KB);
	done[me] = 1
}

proctype killer()
{
	if
	:: atomic { !done[1] -> dead[1] = 1 }
	:: skip
	fi
}

/* At the end: every FULL or TOMB slot holds a whole key, none twice, and A
 * is present (p2's second insert returned 0 or EEXIST after its delete). */
proctype monitor()
{
	byte i;

	(done[1] || dead[1]) && done[2] && done[3];
	ONE_SLOT(KA);
	ONE_SLOT(KB);
	i = 0;
	do
	:: i < CAP ->
		if
		:: ST(ctl[i]) == FULL || ST(ctl[i]) == TOMB ->
			assert(ka[i] == kb[i] && ka[i] != 0 && val[i] != 0)
		:: else
		fi;
		i++
	:: else -> break
	od;
	assert((ST(ctl[0]) == FULL && HOLDS(0, KA)) ||
	       (ST(ctl[1]) == FULL && HOLDS(1, KA)))
}

init
{
	atomic {
		run p1();
		run p2();
		run p3();
		run killer();
		run monitor()
	}
}
