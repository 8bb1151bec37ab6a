/* SPDX-License-Identifier: MIT */
/*
 * The store's stack (src/objects/stack.c): Treiber's stack on node indices
 * with tagged tops, one claim word (pending) per list that linearises every
 * change and that anyone finishes, node state words naming the holder of a
 * node that is off both lists, and recover(), which returns to free the
 * nodes dead holders left. models/README.md says what is checked.
 *
 * Two nodes, two workers that each push their value (1 or 2) and pop one,
 * a killer that may kill one worker before any of its steps, and a
 * recoverer that runs recover() once someone died, racing the survivor,
 * and again when everyone is done or dead, then checks the lists.
 *
 * Deliberate mistakes, chosen with -D (scripts/check-models.sh runs each):
 *   BROKEN_HOLDER_AFTER   a pop's helpers move top before they name the
 *                         holder: a popper that dies in between leaks the
 *                         node (nobody holds it, no list has it)
 *   BROKEN_NO_SETTLE      recover() takes a dead holder's node without
 *                         first finishing the claims on the lists: a push
 *                         the dead one claimed is finished afterwards, and
 *                         the node is on both lists
 */
#define N 2	 /* nodes */
#define NIL 2	 /* no node */
#define W 2	 /* workers: tokens 1..W */
#define REC 3	 /* the recoverer's token */
#define FREE 0
#define USED 1
#define OPPUSH 8 /* pending: OPPUSH + index, or a popper's token */

#define TOPW(t, i) ((t) * 4 + (i))
#define TTAG(w) ((w) / 4)
#define TIDX(w) ((w) % 4)
#define PW(t, op) ((t) * 16 + (op))
#define PTAG(w) ((w) / 16)
#define POPOF(w) ((w) % 16)
#define SW(v, h) ((v) * 4 + (h))
#define SVER(w) ((w) / 4)
#define SHOLD(w) ((w) % 4)

byte top[2], pend[2];
byte st[N];	   /* node state: version * 4 + holder */
byte nxt[N], elem[N];
bool dead[W + 1], done[W + 1];
byte ndead;
bool inlist[W + 1]; /* ghost: push claimed and no pop claimed since */
bool popped[W + 1]; /* ghost: a pop returned it */
bool pushed[W + 1]; /* ghost: its push returned */

/* Finish the operation claimed by p at top t of list l (advance()). */
inline advance(l, t, p)
{
	if
	:: POPOF(p) >= OPPUSH ->
		ai = POPOF(p) - OPPUSH;
		as = st[ai];
		if
		:: atomic { top[l] != t -> ai = 0; as = 0 } /* moved on */
		:: else ->
			if
			:: SHOLD(as) != 0 ->
				atomic { if :: st[ai] == as -> st[ai] = SW(SVER(as) + 1, 0)
					 :: else -> skip fi }
			:: else
			fi;
			atomic { if :: top[l] == t -> top[l] = TOPW(TTAG(t) + 1, ai)
				 :: else -> skip fi; ai = 0; as = 0 }
		fi
	:: else ->
		ai = TIDX(t);
		assert(ai < N);
		as = st[ai];
		an = nxt[ai];
		if
		:: atomic { top[l] != t -> ai = 0; as = 0; an = 0 }
		:: else ->
#ifdef BROKEN_HOLDER_AFTER
			atomic { if :: top[l] == t -> top[l] = TOPW(TTAG(t) + 1, an)
				 :: else -> skip fi };
#endif
			if
			:: SHOLD(as) == 0 ->
				atomic { if :: st[ai] == as -> st[ai] = SW(SVER(as), POPOF(p))
					 :: else -> skip fi }
			:: else -> assert(SHOLD(as) == POPOF(p))
			fi;
#ifndef BROKEN_HOLDER_AFTER
			atomic { if :: top[l] == t -> top[l] = TOPW(TTAG(t) + 1, an)
				 :: else -> skip fi; ai = 0; as = 0; an = 0 }
#else
			atomic { ai = 0; as = 0; an = 0 }
#endif
		fi
	fi
}

/* Load top and pending with no claim at top's tag (settle()). */
inline settle(l)
{
	do
	:: st_t = top[l];
		st_p = pend[l];
		if
		:: PTAG(st_p) == TTAG(st_t) -> advance(l, st_t, st_p)
		:: PTAG(st_p) + 1 == TTAG(st_t) -> break
		:: else -> assert(top[l] != st_t) /* the C code's corrupt check */
			; atomic { st_t = 0; st_p = 0 }
		fi
	od
}

/* After our claim cw: see it finished (finish()). */
inline finish(l, cw)
{
	do
	:: ft = top[l];
		if
		:: atomic { TTAG(ft) != PTAG(cw) -> ft = 0; cw = 0; st_t = 0; st_p = 0 }; break
		:: else -> advance(l, ft, cw)
		fi
	od
}

/* Take the top node of list l for token me: ti, NIL if empty (take()). */
inline take(l)
{
	do
	:: settle(l);
		ti = TIDX(st_t);
		if
		:: ti == NIL -> break
		:: else ->
			atomic {
				if
				:: pend[l] == st_p ->
					pend[l] = PW(TTAG(st_t), me);
					ok = 1;
					if
					:: l == USED ->
						claimed = elem[ti];
						assert(inlist[claimed]);
						inlist[claimed] = 0
					:: else
					fi
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> atomic { ok = 0; cw = PW(TTAG(st_t), me) }; finish(l, cw); break
			:: else
			fi
		fi
	od
}

/* Push node i, held by us, onto list l (put()). */
inline put(l, i)
{
	do
	:: settle(l);
		nxt[i] = TIDX(st_t);
		atomic {
			if
			:: pend[l] == st_p ->
				pend[l] = PW(TTAG(st_t), OPPUSH + i);
				ok = 1;
				if
				:: l == USED ->
					assert(!inlist[elem[i]]);
					inlist[elem[i]] = 1
				:: else
				fi
			:: else -> ok = 0
			fi
		}
		if
		:: ok -> atomic { ok = 0; cw = PW(TTAG(st_t), OPPUSH + i) }; finish(l, cw); break
		:: else
		fi
	od
}

proctype worker(byte me; bool do_pop)
{
	byte ti, ai, an, claimed, v;
	byte as, st_t, st_p, ft, cw;
	bool ok;

	{
		/* push(me) */
		take(FREE);
		if
		:: ti != NIL ->
			elem[ti] = me;
			put(USED, ti);
			pushed[me] = 1
		:: else
		fi;
		/* pop() */
		if
		:: do_pop -> take(USED)
		:: else -> ti = NIL
		fi;
		if
		:: ti != NIL ->
			atomic {
				v = elem[ti];
				assert(v == claimed); /* nobody wrote our node */
				assert(!popped[v]);
				popped[v] = 1;
				v = 0;
				claimed = 0
			}
			put(FREE, ti)
		:: else
		fi;
		done[me] = 1
	} unless { dead[me] }
}

/* recover(): finish the claims, then return dead holders' nodes. */
inline recover()
{
	settle(FREE);
	settle(USED);
	ri = 0;
	do
	:: ri < N ->
		rs = st[ri];
		if
		:: SHOLD(rs) != 0 && SHOLD(rs) != REC && dead[SHOLD(rs)] ->
#ifndef BROKEN_NO_SETTLE
			settle(FREE);
			settle(USED);
#endif
			atomic {
				if
				:: st[ri] == rs -> st[ri] = SW(SVER(rs), REC); ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> ok = 0; put(FREE, ri)
			:: else
			fi
		:: else
		fi;
		ri++
	:: else -> break
	od
}

proctype recoverer()
{
	byte me = REC, ti, ai, an, claimed, ri, i, n, seen[N], lost;
	bool found[W + 1];
	byte as, st_t, st_p, ft, cw, rs;
	bool ok;

	/* Once after the death (EARLY_RECOVER: at any moment, so a death
	 * may come after it began), racing the survivor; then once more
	 * when everyone is done or dead. */
#ifdef EARLY_RECOVER
	if
	:: recover()
	:: skip
	fi;
#else
	if
	:: ndead > 0 -> recover()
	:: (done[1] || dead[1]) && (done[2] || dead[2])
	fi;
#endif
	(done[1] || dead[1]) && (done[2] || dead[2]);
	recover();
	/* Quiet now: every node on exactly one list, nobody holds one. */
	settle(FREE);
	settle(USED);
	n = 0;
	i = TIDX(top[FREE]);
	do
	:: i != NIL -> assert(i < N && !seen[i]); seen[i] = 1; n++; i = nxt[i]
	:: else -> break
	od;
	i = TIDX(top[USED]);
	do
	:: i != NIL ->
		assert(i < N && !seen[i]);
		seen[i] = 1;
		n++;
		assert(!found[elem[i]]);
		found[elem[i]] = 1;
		i = nxt[i]
	:: else -> break
	od;
	assert(n == N);
	i = 0;
	do
	:: i < N -> assert(SHOLD(st[i]) == 0); i++
	:: else -> break
	od;
	/* On the list exactly the values whose push was claimed and no pop
	 * since; pushed, not popped and not there: taken by a pop whose
	 * popper died before it returned, at most one a death. */
	i = 1;
	lost = 0;
	do
	:: i <= W ->
		assert(inlist[i] == found[i]);
		if
		:: pushed[i] && !popped[i] && !found[i] -> lost++
		:: else
		fi;
		i++
	:: else -> break
	od;
	assert(lost <= ndead)
}

/* Kills worker 1 (the workers are symmetric) before any of its steps,
 * unless NO_DEATH. */
proctype killer()
{
#ifndef NO_DEATH
	if
	:: atomic { !done[1] -> dead[1] = 1; ndead++ }
	:: skip
	fi
#else
	skip
#endif
}

init
{
	top[FREE] = TOPW(1, 0);
	top[USED] = TOPW(1, NIL);
	pend[FREE] = PW(0, 0);
	pend[USED] = PW(0, 0);
	nxt[0] = 1;
	nxt[1] = NIL;
	atomic {
		run worker(1, 1);
#ifdef W2_POPS
		run worker(2, 1);
#else
		run worker(2, 0);
#endif
		run recoverer();
		run killer()
	}
}
