/* SPDX-License-Identifier: MIT */
/*
 * The MPMC recovery model with one deliberate mistake: spin must reject it,
 * which shows the checks in mpmc_recovery.pml have teeth. The mistake is
 * chosen with -D (the list is at the top of mpmc_recovery.pml); by default
 * it is the naive order: the producer takes the position with a CAS on
 * enq_pos and writes its claim word one step later, and recovery guesses
 * the owner from the claim word. A producer that dies between the two
 * names nobody (the cell still shows the previous lap), so no one can
 * recover the position and the survivors wait forever: spin reports an
 * invalid end state.
 */
#if !defined(BROKEN_STALE_CLAIM) && !defined(BROKEN_PLAIN_SKIP) && \
	!defined(BROKEN_SEQ_FIRST) && !defined(BROKEN_NO_COMPLETE) && \
	!defined(BROKEN_OWN_SKIP_MARK)
#define BROKEN_LATE_CLAIM
#endif
#include "mpmc_recovery.pml"
