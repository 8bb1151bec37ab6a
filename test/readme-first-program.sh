#!/bin/sh
# shoal-test (registered by test/CMakeLists.txt): the README's "A first
# program" is real. Its two code blocks must be examples/first_pub.c and
# examples/first_sub.c byte for byte; compiled from the README's own text
# against the built library, the two programs must deliver the publisher's
# text to the subscriber whichever starts first. Exit 0 pass, 1 fail,
# 77 skip.
#
# Usage: readme-first-program.sh CC SOURCE_DIR INCLUDE_DIR LIBRARY
#   CC           the C compiler CMake found
#   SOURCE_DIR   the source tree (README.md, examples/)
#   INCLUDE_DIR  the public headers (SOURCE_DIR/include)
#   LIBRARY      the built libshoal.so
set -u

if [ $# -ne 4 ]; then
	echo "usage: $0 CC SOURCE_DIR INCLUDE_DIR LIBRARY" >&2
	exit 1
fi
cc=$1 src=$2 inc=$3 lib=$4
libdir=$(dirname "$lib")
tmp=$(mktemp -d) || exit 1
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The ```c block of README.md containing $1 (each file names itself
# first: " * examples/first_pub.c: ...").
readme_block() {
	awk -v want="$1" '
		/^```c[ \t]*$/ { inb = 1; buf = ""; has = 0; next }
		inb && /^```[ \t]*$/ { inb = 0; if (has) { printf "%s", buf; n++ } next }
		inb { buf = buf $0 "\n"; if (index($0, want)) has = 1 }
		END { exit n == 1 ? 0 : 1 }
	' "$src/README.md"
}

for side in pub sub; do
	file=examples/first_$side.c
	readme_block "$file:" >"$tmp/first_$side.c" ||
		fail "README.md has no single \`\`\`c block containing \"$file:\""
	if ! cmp -s "$tmp/first_$side.c" "$src/$file"; then
		diff -u "$src/$file" "$tmp/first_$side.c" >&2
		fail "README.md's block differs from $file (diff above: - file, + README)"
	fi
	# The README's text, as a user would build it from the README.
	"$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" "$tmp/first_$side.c" \
		-o "$tmp/first_$side" -L"$libdir" -lshoal -Wl,-rpath,"$libdir" ||
		fail "README.md's first_$side.c does not compile"
done

# Wait up to $2 seconds for the shell condition $1.
wait_for() {
	i=0
	while ! eval "$1"; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}

# Its open is waiting for a publisher: the registry directory is watched.
sub_waiting() {
	ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'anon_inode:inotify'
}

# run ORDER TEXT: start both programs, ORDER's first side first, in a
# private registry directory, and check what the subscriber printed.
run() {
	order=$1 text=$2
	SHOAL_DIR=$tmp/registry-$order
	export SHOAL_DIR
	mkdir "$SHOAL_DIR" || fail "mkdir $SHOAL_DIR"
	if [ "$order" = sub-first ]; then
		"$tmp/first_sub" >"$tmp/sub.$order" 2>&1 &
		sub=$!
		pids="$pids $sub"
		# The order is a preference, not a condition of correctness:
		# if the watch never shows (another implementation), go on.
		wait_for "sub_waiting $sub" 60 ||
			echo "note: subscriber never seen waiting; starting the publisher anyway"
		"$tmp/first_pub" "$text" >"$tmp/pub.$order" 2>&1 &
		pub=$!
		pids="$pids $pub"
	else
		"$tmp/first_pub" "$text" >"$tmp/pub.$order" 2>&1 &
		pub=$!
		pids="$pids $pub"
		# Published: its descriptor is in the registry directory.
		wait_for '[ -n "$(ls -A "$SHOAL_DIR")" ]' 60 ||
			fail "$order: the publisher never appeared in $SHOAL_DIR"
		"$tmp/first_sub" >"$tmp/sub.$order" 2>&1 &
		sub=$!
		pids="$pids $sub"
	fi
	wait "$sub"
	sub_rc=$?
	wait "$pub"
	pub_rc=$?
	pids=""
	echo "--- $order: first_pub (exit $pub_rc)"
	cat "$tmp/pub.$order"
	echo "--- $order: first_sub (exit $sub_rc)"
	cat "$tmp/sub.$order"
	[ $pub_rc -eq 0 ] || fail "$order: first_pub exited $pub_rc"
	[ $sub_rc -eq 0 ] || fail "$order: first_sub exited $sub_rc"
	grep -qxF "first_sub: received \"$text\"" "$tmp/sub.$order" ||
		fail "$order: first_sub did not print the text"
}

run sub-first "hello, subscriber-first $$"
run pub-first "hello, publisher-first $$"
echo "PASS: README.md's first program, both start orders"
exit 0
