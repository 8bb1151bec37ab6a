#!/bin/sh
# shoal-test (registered by test/CMakeLists.txt): the reference pages.
#
#   man-pages.sh sections INCLUDE_DIR MAN3_DIR
#     every SHOAL_API function of INCLUDE_DIR/shoal/*.h has MAN3_DIR/NAME.3
#     with NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE, BLOCKING AND SYSTEM
#     CALLS and THREAD SAFETY, each saying something (not "Not documented
#     in the header"), and MAN3_DIR holds no page for a function that is
#     gone.
#   man-pages.sh render MAN3_DIR BUILD_DIR [CMAKE]
#     every page renders without a warning (groff -ww, or mandoc -T lint),
#     and after "CMAKE --install BUILD_DIR --prefix TMP", MANPATH=TMP/share/man
#     "man shoal_pub_loan" finds and renders the installed page. Skips (77)
#     when no renderer is installed.
# Exit 0 pass, 1 fail, 77 skip.
set -u

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The public functions, found independently of scripts/gen-man.awk: the
# identifier before the first "(" of each ";"-terminated SHOAL_API
# declaration.
functions() {
	cat "$1"/shoal/*.h | grep -v '^ *#' | tr '\n' ' ' | tr ';' '\n' |
		grep 'SHOAL_API' | sed 's/.*SHOAL_API//; s/(.*//' |
		awk '{ print $NF }' | sed 's/^\**//' | sort -u
}

sections() {
	inc=$1 dir=$2
	[ -d "$dir" ] || fail "no $dir: the build did not generate the pages"
	n=0
	bad=0
	for f in $(functions "$inc"); do
		n=$((n + 1))
		page=$dir/$f.3
		if [ ! -f "$page" ]; then
			echo "$f: no page $page" >&2
			bad=1
			continue
		fi
		for s in NAME SYNOPSIS DESCRIPTION 'RETURN VALUE' \
			'BLOCKING AND SYSTEM CALLS' 'THREAD SAFETY'; do
			grep -qx "\.SH $s" "$page" ||
				{ echo "$f: no section $s" >&2; bad=1; }
		done
		grep -q "^$f \\\\- ." "$page" ||
			{ echo "$f: NAME does not name it" >&2; bad=1; }
		grep -q "\\\\fB$f\\\\fP(" "$page" ||
			{ echo "$f: SYNOPSIS lacks its prototype" >&2; bad=1; }
		if grep -q 'Not documented in the header' "$page"; then
			echo "$f: a section says \"Not documented in the header\":" \
				"$(grep -B1 'Not documented' "$page" | head -1)" >&2
			bad=1
		fi
	done
	[ $n -gt 100 ] || fail "found only $n SHOAL_API functions in $inc"
	# No page for a function that no longer exists (shoal.3 is the index).
	for page in "$dir"/*.3; do
		f=$(basename "$page" .3)
		[ "$f" = shoal ] && continue
		functions "$inc" | grep -qx "$f" ||
			{ echo "$f.3: no such SHOAL_API function" >&2; bad=1; }
	done
	[ $bad -eq 0 ] || fail "pages above are missing or incomplete" \
		"(document the function in its header: scripts/gen-man.awk says how)"
	echo "PASS: $n functions, each with a complete page in $dir"
}

render() {
	dir=$1 build=$2 cmake=${3:-cmake}
	if command -v groff >/dev/null 2>&1; then
		lint() { groff -man -Tutf8 -ww -z "$1" 2>&1; }
	elif command -v mandoc >/dev/null 2>&1; then
		lint() { mandoc -T lint -W warning "$1" 2>&1; }
	else
		echo "SKIP: neither groff nor mandoc is installed"
		exit 77
	fi
	bad=0
	for page in "$dir"/*.3; do
		out=$(lint "$page")
		if [ -n "$out" ]; then
			echo "$page:" >&2
			echo "$out" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ] || fail "pages render with warnings"
	echo "rendered $(ls "$dir" | wc -l) pages without a warning"

	command -v man >/dev/null 2>&1 || { echo "SKIP: no man"; exit 77; }
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
		{ cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
	[ -f "$tmp/prefix/share/man/man3/shoal_pub_loan.3" ] ||
		fail "cmake --install put no share/man/man3/shoal_pub_loan.3"
	where=$(MANPATH=$tmp/prefix/share/man man -w shoal_pub_loan 2>&1)
	[ "$where" = "$tmp/prefix/share/man/man3/shoal_pub_loan.3" ] ||
		fail "MANPATH=.../share/man man -w shoal_pub_loan: '$where'"
	MANPATH=$tmp/prefix/share/man MANWIDTH=80 man shoal_pub_loan \
		>"$tmp/page" 2>"$tmp/err" || fail "man shoal_pub_loan failed: $(cat "$tmp/err")"
	[ ! -s "$tmp/err" ] || fail "man shoal_pub_loan warned: $(cat "$tmp/err")"
	grep -q 'BLOCKING AND SYSTEM CALLS' "$tmp/page" ||
		fail "man shoal_pub_loan did not render the page"
	echo "PASS: pages render; MANPATH=PREFIX/share/man man shoal_pub_loan works after install"
}

case ${1:-} in
sections) [ $# -eq 3 ] && sections "$2" "$3" ;;
render) [ $# -eq 3 ] || [ $# -eq 4 ] && render "$2" "$3" "${4:-cmake}" ;;
*) false ;;
esac || {
	echo "usage: $0 sections INCLUDE_DIR MAN3_DIR | render MAN3_DIR BUILD_DIR [CMAKE]" >&2
	exit 1
}
exit 0
