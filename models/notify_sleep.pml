/*
 * notify_sleep.pml: the sleep protocol of src/notify/notify.c on a machine
 * with store buffers (x86-TSO), where a load may be answered before the
 * same processor's earlier store reaches memory. That reordering is the
 * one the two full fences of the protocol exist for; spin's own memory is
 * sequentially consistent, so the model writes the store buffers out.
 *
 * One waiter (shoal_wait with SHOAL_WAIT_BLOCK and no timeout and no
 * slice: a lost wake-up is a waiter blocked for good, which spin reports
 * as an invalid end state) and NN notifiers, each publishing NMSG messages
 * on its own position word (a ring's tail, a bit of rpc's ready bitmap).
 *
 *   waiter                              notifier
 *   mark = 1           (buffered)       pos[i] = k      (buffered)
 *   fence              (drain)          fence           (drain)
 *   if ready: mark = 0, done            if mark:        (load)
 *   ppoll(eventfd)     (blocks)             exchange(mark, 0) (locked)
 *   read(eventfd), mark = 0                 write(eventfd)
 *   check ready again
 *
 * A store goes into its process's FIFO buffer; a flusher process moves the
 * oldest entry to memory at any moment. A fence waits for the buffer to
 * empty; a locked read-modify-write and a system call drain it first too.
 * Each process stores to one shared word only (the waiter to mark, a
 * notifier to its pos), so forwarding a process's own buffered store to
 * its own load never arises: the waiter never loads mark, a notifier never
 * loads its pos.
 *
 * -DNO_WAITER_FENCE or -DNO_NOTIFIER_FENCE drops one fence: spin must then
 * find the lost wake-up (scripts/check-models.sh checks that it does).
 */
#ifndef NN
#define NN 2
#endif
#ifndef NMSG
#define NMSG 2
#endif

byte mark;	/* the waiter's sleeping mark, in memory */
byte efd;	/* the eventfd counter */
byte pos[NN];	/* messages published by each notifier, in memory */
chan wbuf = [3] of { byte };	       /* the waiter's store buffer */
chan nbuf[NN] = [3] of { byte };     /* each notifier's store buffer */

#define FENCE(buf) empty(buf)

active proctype waiter_flush()
{
	byte v;
end:	do
	:: atomic { wbuf?v -> mark = v }
	od
}

proctype notifier_flush(byte i)
{
	byte v;
end:	do
	:: atomic { nbuf[i]?v -> pos[i] = v }
	od
}

/* Nonzero when a message the waiter has not taken is in memory. */
#define READY (pos[0] + pos[NN - 1] * (NN - 1) > got)

active proctype waiter()
{
	byte got = 0;

	do
	:: got == NN * NMSG -> break
	:: else ->
		if
		:: READY -> got = pos[0] + pos[NN - 1] * (NN - 1)
		:: else ->
			/* shoal_waiter_arm: mark, fence, re-check. */
			wbuf!1;
#ifndef NO_WAITER_FENCE
			FENCE(wbuf);
#endif
			if
			:: READY ->
				wbuf!0;
				got = pos[0] + pos[NN - 1] * (NN - 1)
			:: else ->
				/* ppoll (a system call: the buffer drains on
				 * the way in), blocking until the eventfd is
				 * readable; no slice in the model. */
				FENCE(wbuf);
				efd > 0;
				/* shoal_waiter_disarm: read (drain) the
				 * eventfd, clear the mark; then round again,
				 * re-checking. */
				efd = 0;
				wbuf!0
			fi
		fi
	od;
	assert(got == NN * NMSG)
}

proctype notifier(byte i)
{
	byte k = 0;
	bit took;

	do
	:: k == NMSG -> break
	:: else ->
		k++;
		/* Publish (release store of the position). */
		nbuf[i]!k;
#ifndef NO_NOTIFIER_FENCE
		/* shoal__notify_fence */
		FENCE(nbuf[i]);
#endif
		/* shoal__notify_take: a plain load, then the exchange (a
		 * locked instruction: drains the buffer first). */
		if
		:: mark != 0 ->
			FENCE(nbuf[i]);
			atomic {
				took = (mark != 0);
				mark = 0
			};
			if
			:: took ->
				/* shoal__eventfd_wake: a system call. */
				FENCE(nbuf[i]);
				efd++
			:: else
			fi
		:: else
		fi
	od;
	/* The last stores still reach memory (the flusher runs on). */
}

init
{
	byte i;

	atomic {
		for (i : 0 .. NN - 1) {
			run notifier_flush(i);
			run notifier(i)
		}
	}
}
