#!/bin/sh
# Check that the tools a make target needs are here; on a root Debian box
# install what is missing, anywhere else say which Debian packages to install.
#
#   scripts/prereqs.sh build   cmake, make, a working C compiler
#   scripts/prereqs.sh format  clang-format
#   scripts/prereqs.sh test    all of the above, the sanitizer runtimes and spin
#
# CC (default gcc) and CLANG_FORMAT (default clang-format) are honoured.
set -eu

mode=${1:-test}
case $mode in
build | format | test) ;;
*)
	echo "usage: $0 build|format|test" >&2
	exit 2
	;;
esac
CC=${CC:-gcc}
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'int main(void) { return 0; }\n' >"$tmp/t.c"

# Debian package that provides the C compiler $CC.
cc_package() {
	case $(basename "$CC") in
	clang*) echo clang ;;
	*) echo gcc ;;
	esac
}

# Debian package(s) with the runtime of sanitizer $1 (address|undefined|thread)
# for $CC. gcc-N's runtimes are separate packages (all pulled in by
# libgcc-N-dev); clang-N's are all in libclang-rt-N-dev, which clang only
# recommends.
san_package() {
	ver=$("$CC" -dumpversion 2>/dev/null | cut -d. -f1)
	case $(basename "$CC") in
	clang*) echo "libclang-rt-$ver-dev"; return ;;
	esac
	case "$ver:$1" in
	12:address) echo libasan8 ;;
	12:undefined) echo libubsan1 ;;
	12:thread) echo libtsan2 ;;
	*) echo "libgcc-$ver-dev" ;;
	esac
}

# shellcheck disable=SC2086 # $missing is a word list throughout
# Sets $missing to the Debian packages still needed (space-separated).
check() {
	missing=""
	if [ "$mode" != format ]; then
		check_build
	fi
	if [ "$mode" != build ]; then
		command -v "$CLANG_FORMAT" >/dev/null 2>&1 ||
			missing="$missing clang-format"
	fi
	# One name per package, in a stable order.
	missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
	missing=${missing% }
}

check_build() {
	command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
	command -v make >/dev/null 2>&1 || missing="$missing make"
	if ! command -v "$CC" >/dev/null 2>&1; then
		missing="$missing $(cc_package)"
	elif ! "$CC" "$tmp/t.c" -o "$tmp/t" >"$tmp/log" 2>&1; then
		# The compiler is there but cannot build a program: no libc headers.
		missing="$missing libc6-dev"
	elif [ "$mode" = test ]; then
		# spin: the protocol model checks (scripts/check-models.sh).
		command -v spin >/dev/null 2>&1 || missing="$missing spin"
		# The clang stage: a second compiler, and libFuzzer.
		if ! command -v clang >/dev/null 2>&1; then
			missing="$missing clang"
		elif ! clang -fsanitize=fuzzer -x c - -o "$tmp/f" \
				>"$tmp/log" 2>&1 <<-EOF
			#include <stddef.h>
			#include <stdint.h>
			int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
			int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
			{ (void)d; (void)n; return 0; }
			EOF
		then
			missing="$missing libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
		fi
		for san in address undefined thread; do
			if ! "$CC" -fsanitize=$san "$tmp/t.c" -o "$tmp/t" \
					>"$tmp/log" 2>&1; then
				missing="$missing $(san_package $san)"
			fi
		done
	fi
}

check
[ -z "$missing" ] && exit 0

echo "prereqs: missing Debian packages: $missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "prereqs: installing them with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y --no-install-recommends $missing
	check
	[ -z "$missing" ] && exit 0
	echo "prereqs: still missing after apt-get install: $missing" >&2
	[ -s "$tmp/log" ] && cat "$tmp/log" >&2
	exit 1
fi
echo "prereqs: install them with:" >&2
echo "    sudo apt-get install -y $missing" >&2
exit 1
