#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs bench/python/pybench.py (see its docstring and bench/README.md,
# "Python") with the build tree's shoal package and shoal-bench.
#
#   bench/python/run.sh [pybench.py options: --quick --rounds N --fill
#                        --only rtt|frames --json FILE]
#
# SHOAL_PYTHON: the interpreter (default /usr/bin/python3, Debian's: it has
#   python3-numpy and python3-zmq);
# SHOAL_BUILD:  the build directory (default build, beside this script's
#   bench/); its python/ goes on PYTHONPATH, its bench/shoal-bench gives the
#   C figures (SHOAL_BENCH overrides).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${SHOAL_PYTHON:-/usr/bin/python3}
build=${SHOAL_BUILD:-$root/build}
bench=${SHOAL_BENCH:-$build/bench/shoal-bench}
# 77 (CTest: skipped): no package built, or an interpreter without numpy.
if [ ! -d "$build/python/shoal" ]; then
	echo "run.sh: no $build/python/shoal: build first (cmake --build $build)" >&2
	exit 77
fi
if ! PYTHONPATH="$build/python" "$py" -c 'import numpy, shoal' 2>/dev/null; then
	echo "run.sh: $py cannot import numpy and shoal (Debian: apt-get install python3-numpy)" >&2
	exit 77
fi
set -- --c-bench "$bench" "$@"
[ -x "$bench" ] || { echo "run.sh: no $bench: C figures skipped" >&2; shift 2; }
PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" exec "$py" "$here/pybench.py" "$@"
