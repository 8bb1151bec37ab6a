"""Runs the Python package's tests with pytest, for CTest.

Exit 77 (CTest: skipped) with the reason when the interpreter running this
lacks pytest or numpy, so a machine without them reports a skip, not a
failure. CI installs both (python3-pytest, python3-numpy)."""

import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"python tests skipped: {e} (on Debian: apt-get install "
          f"python3-pytest python3-numpy)", file=sys.stderr)
    sys.exit(77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
