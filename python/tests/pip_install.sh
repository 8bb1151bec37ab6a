#!/bin/sh
# `pip install --no-build-isolation ./python` works offline with Debian's
# setuptools, and the installed package imports and runs: the build is done
# from a copy of the tree (so the checkout stays clean) into a scratch
# --target directory. Exit 77 when the interpreter has no pip.
#   pip_install.sh PYTHON SOURCE_DIR
set -eu
PY=$1
SRC=$2
if ! "$PY" -m pip --version >/dev/null 2>&1; then
	echo "pip install test skipped: $PY has no pip (Debian: python3-pip)" >&2
	exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tree"
cp -r "$SRC/python" "$SRC/src" "$SRC/include" "$WORK/tree/"
rm -rf "$WORK/tree/python/build"
"$PY" -m pip install --no-build-isolation --no-deps --no-index \
	--disable-pip-version-check --target "$WORK/site" "$WORK/tree/python"
mkdir -m 700 "$WORK/reg"
cd "$WORK"
SHOAL_DIR="$WORK/reg" PYTHONPATH="$WORK/site" "$PY" -c '
import shoal
assert shoal.__file__.startswith("'"$WORK"'/site"), shoal.__file__
with shoal.Publisher("pip/check") as p, shoal.Subscriber("pip/check") as s:
    p.send(b"installed")
    assert bytes(s.take(1)) == b"installed"
print("pip-installed shoal", shoal.version(), "works")
'
