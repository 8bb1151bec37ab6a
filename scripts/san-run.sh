#!/bin/sh
# san-run.sh address|thread COMMAND...: run COMMAND (ctest) so that programs
# built with that sanitizer can start on this kernel.
#
# Why: the sanitizer runtimes in gcc 12 (and clang < 18) assume at most 28
# bits of mmap randomisation. Kernels with vm.mmap_rnd_bits = 32 (the default
# since Ubuntu 23.10's 6.5 kernels, and some CI hosts) make every TSan program
# die at startup with "FATAL: ThreadSanitizer: unexpected memory mapping", and
# ASan ones crash or hang the same way. Running without address randomisation
# (setarch -R, personality ADDR_NO_RANDOMIZE, inherited by every child ctest
# starts) avoids it. On kernels where the sanitizer works as is (28 bits, as on
# the machine this was written on) nothing changes: a probe decides.
set -eu

san=$1
shift
CC=${CC:-gcc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/probe.c" <<'EOF'
#include <pthread.h>
static void *run(void *arg) { return arg; }
int main(void)
{
	pthread_t t;
	if (pthread_create(&t, 0, run, 0))
		return 1;
	return pthread_join(t, 0);
}
EOF
"$CC" -pthread -fsanitize="$san" "$tmp/probe.c" -o "$tmp/probe"

# exec below skips the EXIT trap, so clean up first.
if timeout 60 "$tmp/probe" >"$tmp/log" 2>&1; then
	rm -rf "$tmp"
	exec "$@"
fi
arch=$(uname -m)
if timeout 60 setarch "$arch" -R "$tmp/probe" >/dev/null 2>&1; then
	rm -rf "$tmp"
	echo "san-run: -fsanitize=$san programs need ASLR off on this kernel" \
		"(vm.mmap_rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?'));" \
		"running under setarch $arch -R"
	exec setarch "$arch" -R "$@"
fi
echo "san-run: a trivial -fsanitize=$san program does not run here:" >&2
cat "$tmp/log" >&2
exit 1
