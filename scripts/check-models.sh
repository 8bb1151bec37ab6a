#!/bin/sh
# check-models.sh: model-check the protocols in models/ with spin.
#
# Each correct model must pass a complete exhaustive search (no assertion
# violation, no invalid end state, no truncated search); each deliberately
# broken variant must be rejected, which shows the checks can fail.
# models/README.md says what each configuration covers.
#
#   MODELS_FULL=1  also run the larger configurations (minutes, GBs of RAM)
#   CC             the compiler for spin's verifier (default gcc)
#
# Exit status: 0 all as expected, 1 otherwise, 77 (CTest's skip) when spin
# is not installed (Debian: apt-get install spin).
set -eu

CC=${CC:-gcc}
models=$(cd "$(dirname "$0")/../models" && pwd)

if ! command -v spin >/dev/null 2>&1; then
	echo "check-models: spin is not installed (Debian: apt-get install spin);" \
		"skipping the model checks"
	exit 77
fi

# The larger configurations need COLLAPSE (state compression, slower) to
# stay under MEMLIM.
pan_flags=
if [ "${MODELS_FULL:-0}" = 1 ]; then
	pan_flags=-DCOLLAPSE
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# check pass|fail|fail=TEXT MODEL "DESCRIPTION" [spin -D flags...]
# fail=TEXT: rejected, by the assertion whose text contains TEXT.
check() {
	want=$1 model=$2 what=$3
	shift 3
	rm -rf "$tmp/run"
	mkdir "$tmp/run"
	# spin writes pan.c into the current directory.
	if ! (cd "$tmp/run" && spin "$@" -a "$models/$model") \
		>"$tmp/spin.log" 2>&1; then
		echo "check-models: FAIL $model ($what): spin -a failed:"
		cat "$tmp/spin.log"
		failed=1
		return
	fi
	# SAFETY: assertions and invalid end states (the liveness claim is
	# made a deadlock in the models). MEMLIM keeps a state explosion from
	# eating the machine: hitting it truncates the search, which fails.
	# shellcheck disable=SC2086 # $pan_flags is a word list
	if ! "$CC" -O2 -DSAFETY -DMEMLIM=4096 $pan_flags -w -o "$tmp/run/pan" \
		"$tmp/run/pan.c" >"$tmp/cc.log" 2>&1; then
		echo "check-models: FAIL $model ($what): compiling pan failed:"
		cat "$tmp/cc.log"
		failed=1
		return
	fi
	(cd "$tmp/run" && ./pan -m1000000) >"$tmp/pan.log" 2>&1 || true
	log=$tmp/pan.log
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$log" | head -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$log" |
		head -n 1)
	secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) .*/\1/p' "$log" |
		head -n 1)
	truncated=0
	if grep -q -e 'Search not completed' -e 'max search depth too small' \
		-e 'reached -DMEMLIM bound' -e 'out of memory' "$log"; then
		truncated=1
	fi
	if [ -z "$errors" ]; then
		echo "check-models: FAIL $model ($what): pan did not finish:"
		cat "$log"
		failed=1
	elif [ "$want" = pass ]; then
		if [ "$errors" = 0 ] && [ "$truncated" = 0 ]; then
			echo "check-models: ok   $model ($what): $states states, ${secs}s"
		else
			echo "check-models: FAIL $model ($what): errors $errors," \
				"complete search: $((1 - truncated))"
			grep -e '^pan:' -e 'errors:' "$log"
			[ "$errors" = 0 ] ||
				echo "  replay: in a scratch dir, spin $* -a, build and" \
					"run pan as here, then spin $* -t -p -g $models/$model"
			failed=1
		fi
	else
		why=$(grep -m 1 '^pan:1:' "$log" || true)
		expect=${want#fail}
		expect=${expect#=}
		if [ "$errors" != 0 ] && [ -n "$expect" ] &&
			! printf '%s\n' "$why" | grep -q -F -e "$expect"; then
			echo "check-models: FAIL $model ($what): rejected, but" \
				"not by the check it must fail (${expect}): ${why#pan:1: }"
			failed=1
		elif [ "$errors" != 0 ]; then
			echo "check-models: ok   $model ($what): rejected as it must be: ${why#pan:1: }"
		else
			echo "check-models: FAIL $model ($what): a broken model passed" \
				"($states states): the checks have lost their teeth"
			failed=1
		fi
	fi
}

m=mpmc_recovery.pml
b=mpmc_broken.pml
check pass $m "3 messages, no deaths" \
	-DNMSG1=2 -DNMSG2=1 -DMAXDEAD_P=0 -DMAXDEAD_C=0
check pass $m "2 messages, a producer and a consumer die" \
	-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check pass $m "3 messages, a consumer dies" \
	-DNMSG1=2 -DNMSG2=1 -DMAXDEAD_P=0 -DMAXDEAD_C=1
check pass varring_mpsc.pml "2 producers, 3 records each"
j=ring_bcast.pml
check pass $j "C=2, 4 sends, a steady subscriber" -DSTEADY
check pass $j "C=2, 5 messages, sends and batches" -DBATCH -DNMSG=5
check pass $j "C=2, 5 messages, batches, no premark" -DBATCH -DNMSG=5 \
	-DNO_PREMARK
check pass $j "C=4, 6 messages, sends and batches" -DBATCH -DC=4 -DNMSG=6
check pass $j "C=2, 5 messages, sends and two loans" -DLOANS -DNMSG=5
check pass $j "trusted (no odd stamps), C=2, 4 sends, a steady subscriber" \
	-DTRUSTED -DSTEADY
check pass $j "trusted, C=2, 5 messages, sends and batches" -DTRUSTED \
	-DBATCH -DNMSG=5
check pass $j "trusted, C=2, 5 messages, sends and two loans" -DTRUSTED \
	-DLOANS -DNMSG=5
check pass $j "lossy, C=2, 4 sends, a steady subscriber" -DLOSSY -DSTEADY
check pass $j "lossy, C=2, 5 messages, sends and batches" -DLOSSY -DBATCH \
	-DNMSG=5
s=notify_sleep.pml
check pass $s "TSO, 2 notifiers x 2 messages"
check pass $s "TSO, 2 notifiers x 3 messages" -DNMSG=3
check fail='invalid end state' $s "no fence in the waiter" -DNO_WAITER_FENCE
check fail='invalid end state' $s "no fence in the notifier" \
	-DNO_NOTIFIER_FENCE
k=store_stack.pml
check pass $k "push+pop and push, a worker dies, recover after"
check pass $k "push+pop twice, no deaths" -DNO_DEATH -DW2_POPS
q=store_map.pml
check pass $q "A twice (one killed) and B, one hash"
check pass $q "A twice (one killed) and B, two hashes" -DDIFF_HASH
if [ "${MODELS_FULL:-0}" = 1 ]; then
	check pass $k "push+pop and push, a worker dies, recover any time" \
		-DEARLY_RECOVER
	check pass $k "push+pop twice, a worker dies" -DW2_POPS
	check pass $m "4 messages, no deaths" \
		-DNMSG1=2 -DNMSG2=2 -DMAXDEAD_P=0 -DMAXDEAD_C=0
	check pass $m "2 messages, both producers die" \
		-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=2 -DMAXDEAD_C=0
	check pass $m "3 messages, a producer dies" \
		-DNMSG1=2 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=0
	check pass $j "C=2, 4 messages, batches, a steady subscriber" \
		-DSTEADY -DBATCH
	check pass $j "C=2, 5 messages, batches, two counts" -DBATCH \
		-DNMSG=5 -DNCOUNT=2
	check pass $j "C=4, 5 sends, a steady subscriber" -DSTEADY -DC=4 \
		-DNMSG=5
	check pass $j "C=2, 4 messages, two loans, a steady subscriber" \
		-DLOANS -DSTEADY
	check pass $j "C=4, 6 messages, sends, batches and two loans" \
		-DLOANS -DBATCH -DC=4 -DNMSG=6
	check pass $j "trusted, C=4, 6 messages, sends, batches and two loans" \
		-DTRUSTED -DLOANS -DBATCH -DC=4 -DNMSG=6
	check pass $j "lossy, C=2, 5 messages, batches, a steady subscriber" \
		-DLOSSY -DSTEADY -DBATCH -DNMSG=5
fi

check fail $b "late claim word" -DBROKEN_LATE_CLAIM \
	-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check fail $b "claim CAS over a stale claim word" -DBROKEN_STALE_CLAIM \
	-DNMSG1=2 -DNMSG2=1 -DMAXDEAD_P=0 -DMAXDEAD_C=0
check fail $b "SKIP with a plain store" -DBROKEN_PLAIN_SKIP \
	-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check fail $b "recovery reads seq first" -DBROKEN_SEQ_FIRST \
	-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check fail $b "only the marker finishes a skip" -DBROKEN_NO_COMPLETE \
	-DNMSG1=1 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check fail $b "own mark on a SKIP cell" -DBROKEN_OWN_SKIP_MARK \
	-DNMSG1=2 -DNMSG2=1 -DMAXDEAD_P=1 -DMAXDEAD_C=1
check fail varring_mpsc.pml "head stored before zeroing" -DBROKEN_HEAD_FIRST
# (b) counted means owed, (c) seen means nothing skipped, (a) laps and
# torn reads: which assertion each must fail is named.
b='j_start<=counted_head'
c='(start==c)'
check fail=$b $j "the C code before the fix" -DBROKEN_OLD_JOIN \
	-DBROKEN_COUNT_EARLY -DNO_CHECK_C
check fail=$b $j "counted before its generation" -DBROKEN_COUNT_EARLY
check fail=$b $j "a batch shows its end in head" -DBROKEN_BATCH_HEAD -DBATCH
check fail=$b $j "a batch of more than C" -DBROKEN_BATCH_UNCAPPED -DBATCH
check fail=$c $j "the old join rule" -DBROKEN_OLD_JOIN
check fail='stamp[' $j "no re-check after joining" -DBROKEN_NO_RECHECK
check fail='stamp[' $j "trusted, no re-check after joining" -DTRUSTED \
	-DBROKEN_NO_RECHECK
check fail='violated 0' $j "seen_from ignores the premark" \
	-DBROKEN_SEEN_EARLY
check fail='stamp[' $j "a second loan judged without its announce" \
	-DLOANS -DBROKEN_LOAN_NO_ANNOUNCE -DNMSG=5
# (d) lossy: never torn, every message received or counted lost.
check fail='p==cursor' $j "lossy, payload trusted without the re-check" \
	-DLOSSY -DSTEADY -DBROKEN_NO_STAMP_RECHECK
check fail='lost[0]' $j "lossy, a lap counts nothing" -DLOSSY -DSTEADY \
	-DBROKEN_LAP_UNCOUNTED

check fail='((st[i]%4)==0)' $k "holder named after top moves" \
	-DBROKEN_HOLDER_AFTER
check fail='((as%4)==' $k "recover takes a node without settling" \
	-DBROKEN_NO_SETTLE -DEARLY_RECOVER
check fail='((h1==1)&&(h2==1))' $q "FULL stored before the key" \
	-DBROKEN_PUBLISH_FIRST
check fail='!(((' $q "a same-hash WRITING slot passed" -DBROKEN_PASS_WRITING

if [ "$failed" != 0 ]; then
	echo "check-models: FAILED"
	exit 1
fi
echo "check-models: all models as expected"
