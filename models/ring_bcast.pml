/* SPDX-License-Identifier: MIT */
/*
 * The broadcast ring (src/ring/ring_bcast.[ch], docs/bcast-ring.md): a
 * subscriber joining while a reliable publisher sends and batches
 * (shoal__bcast_join, rescan, premark_next, batch_extent), and with
 * -DLOSSY a lossy publisher lapping its subscribers (shoal__bcast_peek,
 * skip_lapped, the seqlock re-check), checked exhaustively by spin. Grown
 * from models/pubsub_join.pml when the ring left pub/sub.
 *
 * One publisher sends NMSG messages through a ring of C slots, by single
 * sends and (with -DBATCH) batches, nondeterministically; it may call
 * shoal_pub_subscribers() NCOUNT times at any point. One joiner J joins at
 * any moment and takes until message NMSG - 1; with -DSTEADY a second
 * subscriber S, ACTIVE from the start at cursor 0, takes as well. Every
 * interleaving of their memory accesses is explored.
 *
 * Each load, store or read-modify-write of the C code is one atomic step;
 * purely local work and ghost bookkeeping are folded into the neighbouring
 * access. spin's memory is sequentially consistent, so the full fences of
 * the C code are nothing here: this checks the protocol's logic, assuming
 * those fences give the store->load order they are there for (TSan and
 * the stress tests check the C11 orderings). Sequence numbers start at 0
 * and never wrap (bytes; the C code's u64 seqs and u32 generation compare
 * with signed differences). The OFD-lock liveness check always says alive:
 * nobody dies here.
 *
 * Stamps: 0 never written, EVEN(m) message m complete, ODD(m) being
 * written. Payload: the seq written (a torn or overwritten read shows as a
 * different seq).
 *
 * The join (the corrected protocol; see models/README.md for how it was
 * found):
 *   J: c = load head; line.cursor = c; line.state = JOINING;
 *      g = fetch_add(gen) + 1; FENCE;
 *      h2 = max(load head, load bound); sg = load seen_gen;
 *      sf = load seen_from;
 *      start = sg >= g ? max(c, sf - C) : max(c, h2 - (C - 1));
 *      line.cursor = start; line.state = ACTIVE.
 *   The publisher gates on JOINING and ACTIVE lines alike, but
 *   shoal_pub_subscribers() counts only ACTIVE ones: a joiner is counted
 *   once its start is decided, never while it might still move it.
 *   rescan(g, seq) stores seen_from = max(seq, premarked), then
 *   seen_gen = g, after reading the lines.
 *   A batch announces the head it will reach in a word of its own
 *   (bound), not in head, and writes at most C messages: head never runs
 *   ahead of the messages written, so a joiner's c is never a message
 *   that is not sent yet.
 *
 * Checked:
 * (a) a subscriber (J once joined, S) only ever finds, at its cursor, that
 *     message's odd stamp, an older stamp, or its even stamp with its
 *     payload, unchanged when the stamp is loaded again: never a newer
 *     stamp (a lap) nor a torn or overwritten payload; it receives every
 *     seq from its start to NMSG - 1 in order, and nobody waits forever
 *     (a blocked process at the end is an invalid end state);
 * (b) counted means owed: if a shoal_pub_subscribers() call counted J at
 *     head h, J's start <= h, so J receives every message sent after that
 *     call (the fan-out test's "count, then send");
 * (c) seen means nothing skipped: if a publisher rescan at J's generation
 *     or later published seen_gen while message c was still in the ring
 *     (before the publisher marked the slot of c + C), and before J
 *     re-reads head, J starts at c.
 *
 * Deliberately broken variants (scripts/check-models.sh requires spin to
 * reject each):
 *   BROKEN_COUNT_EARLY  the fix as first proposed: J sets ACTIVE at once
 *                       (no JOINING), and the publisher counts it then:
 *                       a count between J's ACTIVE store and its increment
 *                       is invisible to J (seen_gen < its generation), so
 *                       J may skip a message sent after it was counted (b)
 *   BROKEN_BATCH_HEAD   the batch announces its end in head itself (as
 *                       the C code before the fix): a batch cut to one
 *                       message leaves head ahead of the messages sent; a
 *                       joiner starting there is counted and then misses
 *                       the messages up to it (b)
 *   BROKEN_BATCH_UNCAPPED the batch writes more than C messages: a cut
 *                       batch's bound - (C - 1) is then past the one
 *                       message it wrote (b)
 *   BROKEN_OLD_JOIN     always the old rule, start = max(c, h2 - (C - 1)),
 *                       ignoring seen_gen: the original bug (c)
 *   BROKEN_NO_RECHECK   start = c always: an unseen joiner is overwritten
 *                       (a)
 *   BROKEN_SEEN_EARLY   seen_from = seq, ignoring a slot already premarked
 *                       (its old message is gone) (a)
 * The C code before the fix is BROKEN_OLD_JOIN with BROKEN_COUNT_EARLY
 * (and BROKEN_BATCH_HEAD, BROKEN_BATCH_UNCAPPED): it fails (b).
 * -DNO_CHECK_B and -DNO_CHECK_C leave out the assertion of (b) or (c), to
 * ask which properties a variant keeps: with JOINING, the old join rule
 * keeps (a) and (b), so seen_gen/seen_from are what buys (c).
 *
 * -DLOANS: the publisher may also hold two loans at once (shoal_pub_loan
 * twice, several loans per publisher): the first at head as a single loan,
 * the second announced (bound = its end, FENCE, the generation, a rescan
 * relative to it if changed; shoal__bcast_loan_announce()) before its
 * room is judged; then it sends both, or gives the first back and sends
 * the second (the first becomes a skip marker: an even stamp whose payload
 * says SKIPV, which subscribers pass without taking), or gives the second
 * back (unloaned: its slot stays marked, marked_end past it, and the next
 * send takes it without judging again). premarked is marked_end: every
 * slot from the next loan to it is marked and judged; it only grows.
 * Checked: (a), (b), (c) as above, skip markers only where the publisher
 * aborted (ghost skipped), never taken. Reliable only. Broken variant:
 *   BROKEN_LOAN_NO_ANNOUNCE  the second loan is judged without the
 *                       announce (no bound, no fence): a joiner that does
 *                       not see it starts at the old message of its slot
 *                       and is overwritten (a)
 *
 * -DTRUSTED: the reliable publisher stores no odd stamp (mark_odd() only
 * marks the slot judged), as with SHOAL_PUB_TRUSTED_SUBSCRIBERS; (a), (b)
 * and (c) must hold all the same, since (a) is asserted on the payload.
 *
 * -DLOSSY: the publisher never gates, never premarks and tells joiners
 * nothing (its rescan is the reliable one's business); a send marks the
 * slot odd, writes the payload, stores the even stamp, shows head; a batch
 * writes all it was asked. A subscriber that finds a newer stamp than its
 * cursor's (lapped) skips to max(head - (C - 1), cursor + 1) and counts the
 * skipped as lost; one whose stamp changed between its two loads counts
 * the message as lost (-ESTALE, or -EOVERFLOW from a copy). Checked (d):
 * a message taken with an unchanged stamp has its own payload (never torn),
 * seqs taken only grow, and at the end taken + lost is exactly the number
 * of messages from the subscriber's start to NMSG - 1: every message is
 * received or counted lost, once. (b) and (c) are reliable promises and
 * are not checked. Broken variant:
 *   BROKEN_NO_STAMP_RECHECK  the payload is trusted without the second
 *                       load of the stamp: a torn read (d)
 *   BROKEN_LAP_UNCOUNTED a lap moves the cursor but counts nothing (d)
 */
#ifdef LOSSY
#define NO_CHECK_B
#define NO_CHECK_C
#endif

#ifndef C
#define C 2 /* slots */
#endif
#ifndef NMSG
#define NMSG 4 /* messages the publisher sends */
#endif
#ifndef NCOUNT
#define NCOUNT 1 /* shoal_pub_subscribers() calls, at any point */
#endif
#ifndef BMAX
#define BMAX NMSG /* largest batch asked for */
#endif

#define EVEN(m) (((m) + 1) * 2)
#define SKIPV 200 /* payload of a skip marker */
#define ODD(m) (EVEN(m) + 1)
#define SLOT(m) ((m) % C)
#define NONE 255

#define FREE 0
#define ACTIVE 1
#define JOINING 2
#ifdef BROKEN_COUNT_EARLY
#define JOIN_STATE ACTIVE
#else
#define JOIN_STATE JOINING
#endif

/* Shared memory. Line 0 is S's, line 1 J's. */
byte stamp[C];
byte payload[C];
byte hdr_head;	/* payload header: head (the most shown) */
byte hdr_bound; /* payload header: the head a batch will reach */
byte seen_from; /* payload header, new: rescan's max(seq, premarked) */
byte seen_gen;	/* payload header, new: the generation that rescan read */
byte gen;	/* subscriber segment: generation */
byte lcur[2];
byte lstate[2];

/* Ghosts. */
byte j_gen;		  /* J's generation once incremented, else 0 */
byte j_c = NONE;	  /* J's first cursor */
byte j_start = NONE;	  /* J's start */
byte counted_head = NONE; /* head at the first count that counted J */
bool c_gone;		  /* message j_c's slot has been marked again */
bool pub_saw_j;		  /* a rescan at >= j_gen stored seen_gen before */
byte taken[2];		  /* LOSSY: messages taken whole, per subscriber */
byte lost[2];		  /* LOSSY: messages counted lost */
byte last[2] = NONE;	  /* LOSSY: the last seq taken */
byte skipped;		  /* LOANS: bit m: seq m was given back (a marker) */

/* ---- publisher ---- */

/* c = the cursor of line i, clamped into [seq - C, seq] (read_cursor()),
 * one load; cs[i] remembers the raw value for the wait. */
inline read_cursor(i, seq)
{
	d_step {
		c = lcur[i];
		cs[i] = c;
		if
		:: c > seq -> c = seq
		:: c <= seq && seq - c > C -> c = seq - C
		:: else
		fi;
		if
		:: c < min_cursor -> min_cursor = c
		:: else
		fi;
		c = 0
	}
}

inline recompute_min(seq)
{
	min_cursor = seq;
	if
	:: act[0] -> read_cursor(0, seq)
	:: else
	fi;
	if
	:: act[1] -> read_cursor(1, seq)
	:: else
	fi
}

/* g = load gen; changed = (g != known_gen) (g is kept only then). */
inline load_gen()
{
	atomic {
		g = gen;
		changed = (g != known_gen);
		if
		:: !changed -> g = 0
		:: else
		fi
	}
}

/* rescan(g, seq): the live lines, their minimum, then what it saw. */
inline rescan(g, seq)
{
	known_gen = g;
	act[0] = (lstate[0] != FREE);
	d_step {
		act[1] = (lstate[1] != FREE);
		counts_j = (lstate[1] == ACTIVE)
	}
	recompute_min(seq);
#ifdef BROKEN_SEEN_EARLY
	seen_from = seq;
#else
	seen_from = (seq > premarked -> seq : premarked);
#endif
	d_step {
		seen_gen = g;
		if
		:: j_gen != 0 && g >= j_gen && !c_gone -> pub_saw_j = 1
		:: else
		fi;
		g = 0;
		changed = 0
	}
}

inline room_known(seq)
{
	if
	:: seq - min_cursor < C -> room = 1
	:: else ->
		recompute_min(seq);
		room = (seq - min_cursor < C)
	fi
}

inline has_room(seq)
{
	load_gen();
	if
	:: changed -> rescan(g, seq)
	:: else
	fi;
	room_known(seq)
}

/* make_room(): the C code spins and sleeps; here the publisher blocks
 * until something has_room() read has changed. */
inline make_room(seq)
{
	do
	:: has_room(seq);
		if
		:: room -> break
		:: else ->
			(gen != known_gen || (act[0] && lcur[0] != cs[0]) ||
			 (act[1] && lcur[1] != cs[1]))
		fi
	od;
	atomic {
		room = 0;
		cs[0] = 0;
		cs[1] = 0
	}
}

/* The slot of m is judged and may be written from now on (premarked),
 * and gets its odd stamp, except with -DTRUSTED: a reliable publisher
 * whose subscribers are trusted stores none (SHOAL_PUB_TRUSTED_SUBSCRIBERS,
 * shoal__bcast_mark()). Property (a) is asserted on the payload itself,
 * so -DTRUSTED checks that no subscriber keeping to the protocol ever
 * reads a slot being written, odd stamp or not. */
inline mark_odd(m)
{
	d_step {
#if defined(LOSSY) || !defined(TRUSTED)
		stamp[SLOT(m)] = ODD(m);
#endif
		if
		:: m + 1 > premarked -> premarked = m + 1
		:: else
		fi;
		if
		:: j_c != NONE && m >= j_c + C -> c_gone = 1
		:: else
		fi
	}
}

/* write_slot() / the send of a loan: odd stamp unless premarked, payload,
 * even stamp; head moves on. */
inline write_slot()
{
	if
	:: premarked <= head -> mark_odd(head)
	:: else
	fi;
	payload[SLOT(head)] = head;
	d_step {
		stamp[SLOT(head)] = EVEN(head);
		head++
	}
}

inline show_head(v)
{
	if
	:: v > head_shown ->
		d_step {
			head_shown = v;
			hdr_head = v
		}
	:: else
	fi
}

/* After the full fence that follows the store of head. */
inline premark_next()
{
#ifndef NO_PREMARK
	if
	:: premarked > head -> skip
	:: premarked <= head && head < C -> mark_odd(head)
	:: premarked <= head && head >= C ->
		d_step {
			room = (gen == known_gen && head - min_cursor < C)
		}
		if
		:: room ->
			room = 0;
			mark_odd(head)
		:: else
		fi
	fi
#else
	skip
#endif
}

inline send()
{
#ifdef LOSSY
	mark_odd(head);
	write_slot();
	show_head(head)
#else
	if
	:: premarked <= head ->
		if
		:: head >= C -> make_room(head)
		:: else
		fi;
		mark_odd(head)
	:: else
	fi;
	write_slot();
	show_head(head);
	/* FENCE */
	premark_next()
#endif
}

#ifdef LOANS
/* Two loans at once (head and head + 1), then: send both (how 0), give
 * the first back and send the second (1: a skip marker), or give the
 * second back and send the first (2: unloaned, its slot stays marked). */
inline two_loans()
{
	/* The first: a single loan. */
	if
	:: premarked <= head ->
		if
		:: head >= C -> make_room(head)
		:: else
		fi;
		mark_odd(head)
	:: else
	fi;
	/* The second, announced unless already marked. */
	if
	:: premarked <= head + 1 ->
#ifndef BROKEN_LOAN_NO_ANNOUNCE
		d_step {
			if
			:: head + 2 > hdr_bound -> hdr_bound = head + 2
			:: else
			fi
		}
		/* FENCE */
		load_gen();
		if
		:: changed -> rescan(g, head + 1)
		:: else
		fi;
#endif
		if
		:: head + 1 >= C -> make_room(head + 1)
		:: else
		fi;
		mark_odd(head + 1)
	:: else
	fi;
	if
	:: how = 0
	:: how = 1
	:: how = 2
	fi;
	if
	:: how == 1 ->
		/* the first completed as a skip marker */
		payload[SLOT(head)] = SKIPV;
		d_step {
			skipped = skipped | (1 << head);
			stamp[SLOT(head)] = EVEN(head);
			head++
		}
	:: else ->
		payload[SLOT(head)] = head;
		d_step {
			stamp[SLOT(head)] = EVEN(head);
			head++
		}
	fi;
	if
	:: how != 2 ->
		payload[SLOT(head)] = head;
		d_step {
			stamp[SLOT(head)] = EVEN(head);
			head++
		}
	:: else
	fi;
	how = 0;
	show_head(head);
	/* FENCE */
	premark_next()
}
#endif

inline write_batch(n)
{
#ifdef LOSSY
	k = n;
	do
	:: k > 0 ->
		mark_odd(head);
		write_slot();
		k--
	:: else -> break
	od;
	show_head(head)
#else
	head0 = head;
	load_gen();
	if
	:: changed -> rescan(g, head0)
	:: else
	fi;
	if
	:: head0 >= C && premarked != head0 + 1 -> make_room(head0)
	:: else
	fi;
	k = 1;
	do
	:: k < n && head0 + k < C -> k++
	:: k < n && head0 + k >= C ->
		room_known(head0 + k);
		if
		:: room -> k++
		:: else -> break
		fi
	:: else -> break
	od;
	room = 0;
	if
	:: k > 1 ->
#ifdef BROKEN_BATCH_HEAD
		show_head(head0 + k);
#else
		d_step {
			if
			:: head0 + k > hdr_bound -> hdr_bound = head0 + k
			:: else
			fi
		}
#endif
		/* FENCE */
		d_step {
			if
			:: gen != known_gen -> k = 1
			:: else
			fi
		}
	:: else
	fi;
	do
	:: k > 0 ->
		write_slot();
		k--
	:: else -> break
	od;
	show_head(head);
	head0 = 0;
	/* FENCE */
	premark_next()
#endif
}

/* shoal_pub_subscribers(): does it count J, and at which head? */
inline count()
{
	g = gen;
	rescan(g, head);
	if
	:: counts_j && counted_head == NONE -> counted_head = head
	:: else
	fi;
	counts_j = 0
}

proctype publisher()
{
	byte head, head_shown, known_gen, min_cursor, premarked;
	byte g, c, k, n, head0, ncount, how;
	byte cs[2];
	bool act[2], room, counts_j, changed;

	/* shoal_pub_create(): known_gen = generation - 1 forces a scan. */
	known_gen = gen - 1;
	do
	:: head == NMSG -> break
	:: head < NMSG -> send()
#ifdef BATCH
	:: NMSG - head >= 2 ->
		n = 2;
		do
		:: n < NMSG - head && n < BMAX -> n++
		:: break
		od;
#ifdef BROKEN_BATCH_UNCAPPED
		write_batch(n);
#else
		write_batch((n > C -> C : n));
#endif
		n = 0
#endif
#ifdef LOANS
	:: NMSG - head >= 2 -> two_loans()
#endif
	:: ncount < NCOUNT && head < NMSG ->
		count();
		ncount++
	od
}

/* ---- subscribers ---- */

/* try_take() and release(), until message NMSG - 1. */
#ifdef LOSSY
/* shoal__bcast_peek(), skip_lapped(), shoal__bcast_intact(), release. */
inline take_all(me)
{
	do
	:: cursor == NMSG -> break
	:: cursor < NMSG ->
		s = stamp[SLOT(cursor)];
		if
		:: s == EVEN(cursor) ->
			p = payload[SLOT(cursor)];
#ifdef BROKEN_NO_STAMP_RECHECK
			s2 = s;
#else
			s2 = stamp[SLOT(cursor)];
#endif
			d_step {
				if
				:: s2 == s ->
					/* (d) never torn, seqs only grow */
					assert(p == cursor);
					assert(last[me] == NONE ||
					       cursor > last[me]);
					last[me] = cursor;
					taken[me]++
				:: else -> lost[me]++
				fi;
				cursor++;
				lcur[me] = cursor;
				p = 0;
				s2 = 0
			}
		:: s != 0 && s / 2 - 1 > cursor ->
			/* LAPPED: to the oldest message still in the ring,
			 * and at least one on */
			d_step {
				h = hdr_head;
				if
				:: h >= C - 1 -> o = h - (C - 1)
				:: else -> o = 0
				fi;
				if
				:: o <= cursor -> o = cursor + 1
				:: else
				fi;
#ifndef BROKEN_LAP_UNCOUNTED
				lost[me] = lost[me] + o - cursor;
#endif
				cursor = o;
				lcur[me] = cursor;
				h = 0;
				o = 0
			}
		:: else ->
			/* NOT_YET: wait for the slot to change */
			stamp[SLOT(cursor)] != s
		fi;
		s = 0
	od
}
#else
inline take_all(me)
{
	do
	:: cursor == NMSG -> break
	:: cursor < NMSG ->
		s = stamp[SLOT(cursor)];
		if
		:: s == EVEN(cursor) ->
			d_step {
				/* a skip marker only where one was made; it
				 * is passed over like a release */
				assert(payload[SLOT(cursor)] == cursor ||
				       (payload[SLOT(cursor)] == SKIPV &&
					(skipped >> cursor & 1)))
			}
			/* release(): the stamp again (shoal_sub_valid()) */
			d_step {
				assert(stamp[SLOT(cursor)] == s)
			}
			d_step {
				cursor++;
				lcur[me] = cursor
			}
		:: s != 0 && s / 2 - 1 > cursor ->
			/* LAPPED: never for a joined reliable subscriber */
			assert(false)
		:: else ->
			/* NOT_YET: wait for the slot to change */
			stamp[SLOT(cursor)] != s
		fi;
		s = 0
	od
}
#endif

proctype joiner()
{
	byte c, g, h2, sg, sf, start, cursor, s, p, s2, h, o;
	bool j_saw;

	d_step {
		c = hdr_head;
		j_c = c
	}
	lcur[1] = c;
	lstate[1] = JOIN_STATE;
	d_step {
		gen++;
		g = gen;
		j_gen = g
	}
	/* FENCE */
	d_step {
		h2 = hdr_head;
		/* (c): has the publisher seen us already? */
		j_saw = pub_saw_j
	}
#if !defined(BROKEN_BATCH_HEAD) && (defined(BATCH) || defined(LOANS))
	if
	:: hdr_bound > h2 -> h2 = hdr_bound
	:: else
	fi;
#endif
	sg = seen_gen;
	sf = seen_from;
	d_step {
		start = c;
#if defined(BROKEN_NO_RECHECK)
		skip;
#elif defined(BROKEN_OLD_JOIN)
		if
		:: h2 >= C - 1 && h2 - (C - 1) > c -> start = h2 - (C - 1)
		:: else
		fi;
#else
		if
		:: sg >= g ->
			if
			:: sf >= C && sf - C > c -> start = sf - C
			:: else
			fi
		:: else ->
			if
			:: h2 >= C - 1 && h2 - (C - 1) > c ->
				start = h2 - (C - 1)
			:: else
			fi
		fi;
#endif
		j_start = start;
		/* (c) seen means nothing skipped */
#ifndef NO_CHECK_C
		assert(!j_saw || start == c);
#endif
		cursor = start;
		h2 = 0;
		sg = 0;
		sf = 0
	}
	if
	:: start != c -> lcur[1] = start
	:: else
	fi;
#ifndef BROKEN_COUNT_EARLY
	lstate[1] = ACTIVE;
#endif
	take_all(1)
}

proctype steady()
{
	byte cursor, s, p, s2, h, o;

	take_all(0)
}

init
{
	atomic {
#ifdef STEADY
		/* S joined before the publisher was created: its line is
		 * ACTIVE at cursor 0, the generation counts its join. */
		lstate[0] = ACTIVE;
		gen = 1;
		run steady();
#endif
		run publisher();
		run joiner()
	}
	_nr_pr == 1;
#ifdef LOSSY
	/* (d) every message received or counted lost, once */
	assert(taken[1] + lost[1] == NMSG - j_start);
#ifdef STEADY
	assert(taken[0] + lost[0] == NMSG);
#endif
#endif
	/* (b) counted means owed */
#ifndef NO_CHECK_B
	assert(counted_head == NONE || j_start <= counted_head)
#endif
}
