#!/bin/sh
# `make install` puts the package where Debian's python3 looks for the
# prefix (/usr/local -> /usr/local/lib/pythonX.Y/dist-packages, /usr ->
# /usr/lib/python3/dist-packages, both on that interpreter's sys.path).
# Installed with DESTDIR into a scratch directory (the system is not
# touched), then imported from there and run.
#   install_check.sh PYTHON BUILD_DIR PREFIX SITE_DIR
# (SITE_DIR: the absolute directory the build installs the package into.)
set -eu
PY=$1
BUILD=$2
PREFIX=$3
SITE=$4
DEST=$(mktemp -d)
trap 'rm -rf "$DEST"' EXIT
DESTDIR="$DEST" cmake --install "$BUILD" >/dev/null
case $PREFIX in
/usr | /usr/local)
	"$PY" -c "import sys; sys.exit(0 if '$SITE' in sys.path else 1)" || {
		echo "$SITE is not on $PY's sys.path" >&2
		exit 1
	}
	;;
*) echo "prefix $PREFIX: $SITE needs PYTHONPATH (docs/python.md)" ;;
esac
test -f "$DEST$SITE/shoal/__init__.py"
mkdir -m 700 "$DEST/reg"
cd "$DEST"
SHOAL_DIR="$DEST/reg" PYTHONPATH="$DEST$SITE" "$PY" -c '
import shoal, sys
assert shoal.__file__.startswith(sys.argv[1]), shoal.__file__
with shoal.Publisher("inst/check") as p, shoal.Subscriber("inst/check") as s:
    p.send(b"installed")
    assert bytes(s.take(1)) == b"installed"
print("installed shoal", shoal.version(), "works from", sys.argv[1])
' "$DEST$SITE"
